// Reading `flowgate devices import` files: what an operator writes, and what they are told
// when it is wrong.
#include <gtest/gtest.h>

#include "flowgate/registry/device_import.hpp"

using flowgate::DataType;
using flowgate::registry::parse_device_csv;
using flowgate::registry::parse_device_json;

namespace {

std::string problems_of(const flowgate::registry::DeviceImport& parsed) {
    std::string all;
    for (const auto& p : parsed.problems) all += p + "\n";
    return all;
}

} // namespace

TEST(DeviceImportCsv, ReadsOneRowPerFieldGroupedByNode) {
    const auto parsed = parse_device_csv(
        "# Ward 9's tanks\n"
        "community,node,category,polling_interval_s,channel_id,read_api_key,field,metric,type,scale,offset,unit,min,max,label\r\n"
        "Ward 9,OHT-9,OHT,15,2100101,,1,water_level,float,0.01,,m,0,3.5,Water Level (cm)\r\n"
        "Ward 9,OHT-9,OHT,15,2100101,,2,water_temperature,,1,,°C,,60,\"Temperature, water (\"\"C\"\")\"\n"
        "\n"
        "Ward 9,Sump-9,Sump,,2100104,KEY9,1,pump_on,boolean,,,,,,\n");
    ASSERT_EQ(parsed.problems, std::vector<std::string>{});
    ASSERT_EQ(parsed.nodes.size(), 2u);
    const auto& oht = parsed.nodes[0];
    EXPECT_EQ(oht.community, "Ward 9");
    EXPECT_EQ(oht.name, "OHT-9");
    EXPECT_EQ(oht.polling_interval_s, 15);
    EXPECT_EQ(oht.read_api_key, std::nullopt);
    ASSERT_EQ(oht.fields.size(), 2u);
    EXPECT_EQ(oht.fields[0].scale_factor, 0.01);
    EXPECT_EQ(oht.fields[0].max_valid, 3.5);
    EXPECT_EQ(oht.fields[1].expected_label, "Temperature, water (\"C\")");
    EXPECT_EQ(oht.fields[1].min_valid, std::nullopt);
    const auto& sump = parsed.nodes[1];
    EXPECT_EQ(sump.polling_interval_s, 60) << "the default";
    EXPECT_EQ(sump.read_api_key, "KEY9");
    EXPECT_EQ(sump.fields[0].type, DataType::boolean);
    EXPECT_EQ(sump.where, "line 6");
}

TEST(DeviceImportCsv, NamesTheLineOfEveryProblem) {
    const auto parsed = parse_device_csv(
        "community,node,category,channel_id,field,metric,type,min,max\n"
        "W,A,Tank,1,1,level,,,\n"              // line 2: category
        "W,A,Tank,1,1,Level,,,\n"              // line 3: field 1 twice, bad metric
        "W,B,OHT,1,9,level,double,5,1\n"       // line 4: field range, type, min > max
        "W,B,OHT,2,2,depth,,,\n"               // line 5: channel differs from line 4
        "W,C,OHT,x,1,level,,,\n"               // line 6: channel id
        "W,D,OHT,1,1\n"                         // line 7: too few fields
        "W,E,OHT,1,1,level,,\"open\n");        // line 8: unclosed quote
    EXPECT_EQ(problems_of(parsed),
              "line 2: category 'Tank' is not one of OHT, Sump, PumpHouse, Borewell, GovtBorewell, FlowMeter\n"
              "line 2: field1 is mapped twice in node 'A'\n"
              "line 2: metric 'Level' must be lower case letters, digits and _, starting with a letter\n"
              "line 4: type 'double' is not one of float, integer, boolean, string\n"
              "line 4: field must be 1..8, not 9\n"
              "line 4: field9: min is above max\n"
              "line 5: channel_id of node 'B' differs from its first row (line 4)\n"
              "line 6: channel_id must be an integer, not 'x'\n"
              "line 6: channel_id must be a positive integer\n"
              "line 7: 5 fields, the header has 9\n"
              "line 8: a quoted field is not closed (fields cannot span lines)\n");
}

TEST(DeviceImportCsv, NeedsAHeaderWithTheRequiredColumns) {
    EXPECT_EQ(problems_of(parse_device_csv("")), "the file is empty: it needs a header row and one row per field mapping\n");
    EXPECT_EQ(problems_of(parse_device_csv("community,node,category,channel,field,metric\n")),
              "line 1: unknown column 'channel'\nline 1: the header has no column 'channel_id'\n");
}

TEST(DeviceImportJson, ReadsNodesWithTheirFields) {
    const auto parsed = parse_device_json(R"json({"nodes":[
        {"community":"Ward 9","name":"OHT-9","category":"OHT","polling_interval_s":15,"channel_id":2100101,
         "read_api_key":null,"enabled":false,
         "fields":[{"field":1,"metric":"water_level","scale":0.01,"unit":"m","min":0,"max":3.5,"label":"Water Level (cm)"}]}]})json");
    ASSERT_EQ(parsed.problems, std::vector<std::string>{});
    ASSERT_EQ(parsed.nodes.size(), 1u);
    EXPECT_FALSE(parsed.nodes[0].enabled);
    EXPECT_EQ(parsed.nodes[0].fields[0].scale_factor, 0.01);
    EXPECT_EQ(parsed.nodes[0].fields[0].type, DataType::float64);
}

TEST(DeviceImportJson, NamesThePathOfEveryProblemAndTheLineOfASyntaxError) {
    EXPECT_EQ(problems_of(parse_device_json("{\"nodes\": [\n  {\"name\": \"a\",\n   \"category\" \"OHT\"}]}")),
              "line 3, column 19: not valid JSON\n");  // the end of the unexpected "OHT"
    EXPECT_EQ(problems_of(parse_device_json(R"([])")), "the file must be an object with a \"nodes\" array\n");
    const auto parsed = parse_device_json(R"json({"nodes":[
        {"community":"W","name":"A","category":"OHT","channel_id":"12","fields":[{"field":1,"metric":"level","scale":"x"}]},
        {"community":"W","name":"A","category":"OHT","channel_id":3,"fields":[{"field":1,"metric":"level"}]}]})json");
    EXPECT_EQ(problems_of(parsed),
              "nodes[0].channel_id: must be an integer\n"
              "nodes[0].fields[0].scale: must be a number\n"
              "nodes[0]: channel_id must be a positive integer\n"
              "nodes[1]: node 'A' of 'W' appears twice\n");
}
