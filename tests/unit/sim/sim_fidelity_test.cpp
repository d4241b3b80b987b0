// The simulator's responses have the keys, types and formats of real ThingSpeak responses
// recorded in tests/data/thingspeak-samples.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>

#include "sim_test_support.hpp"
#include "thingspeak_samples.hpp"

using namespace flowgate::sim;
using namespace flowgate::sim::test;
using nlohmann::json;

namespace {

using flowgate::test::read_sample;

std::string type_name(const json& v) {
    if (v.is_null()) return "null";
    if (v.is_string()) return "string";
    if (v.is_number_integer()) return "integer";
    if (v.is_number()) return "number";
    if (v.is_boolean()) return "boolean";
    return v.is_array() ? "array" : "object";
}

/// For each key seen in the given objects, the set of JSON types it took.
using Shape = std::map<std::string, std::set<std::string>>;

void add_shape(Shape& shape, const json& object) {
    for (const auto& [key, value] : object.items()) shape[key].insert(type_name(value));
}

/// Every key of `got` occurs in the samples with the same type; field1..8 count as one key.
void expect_within(const Shape& samples, const json& got, const std::string& what) {
    ASSERT_TRUE(got.is_object()) << what;
    for (const auto& [key, value] : got.items()) {
        const auto sample_key = std::regex_match(key, std::regex{"field[1-8]"}) ? std::string{"field1"} : key;
        const auto it = samples.find(sample_key);
        ASSERT_NE(it, samples.end()) << what << ": key '" << key << "' never occurs in the recorded samples";
        EXPECT_TRUE(it->second.contains(type_name(value)))
            << what << ": '" << key << "' is " << type_name(value) << " but recorded samples have it as "
            << *it->second.begin();
    }
}

const std::regex created_at_format{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d))"};

struct Samples {
    Shape channel, entry, error, error_detail;
    Samples() {
        for (const char* f : {"01-feeds-json_iobridge-docs_ch9_offset-0500.json", "03-fields-1-json_iobridge-docs_ch9.json",
                              "07-feeds-json_vcr-cassette_ch86945_nulls.json", "11-feeds-json_mathworks-docs-copy_ch9_utc-Z.json",
                              "12-feeds-json-results1_optra_ch2725686_8fields-nulls_pretty.json",
                              "17-field-1-json_php-snippet_ch222498_offset+0530_null.json",
                              "20-fields-1-json_flutter-model-comment_ch2718757_trailing-zeros_REASSEMBLED.json",
                              "23-feeds-json-results2_ictjcz-blog_ch2079877_default-field-label.json"}) {
            const auto doc = json::parse(read_sample(f));
            add_shape(channel, doc["channel"]);
            for (const auto& e : doc["feeds"]) add_shape(entry, e);
        }
        for (const char* f : {"02-feeds-last-json_iobridge-docs_ch9.json", "04-fields-1-last-json_iobridge-docs_ch9.json",
                              "13-feeds-last-json_optra_ch2725686_nulls.json",
                              "14-field-1-last-json_optra_ch2725686_string-value.json"}) {
            add_shape(entry, json::parse(read_sample(f)));
        }
        for (const char* f : {"06-error-401-json_iobridge-docs.json", "24-error-401-json_matlab-answers_bulk_update_real-capture.json"}) {
            const auto doc = json::parse(read_sample(f));
            add_shape(error, doc);
            add_shape(error_detail, doc["error"]);
        }
    }
};

const Samples& samples() {
    static const Samples s;
    return s;
}

SimApi make_api() {
    // The demo network exercises every signal and quirk the simulator has.
    return SimApi{parse_sim_config(std::string{small_network} + R"(
[[channels]]
id = 404
name = "Quirky"
interval = "30s"
quirks = { bad_value_rate = 0.3, device_timestamps = true }
  [[channels.fields]]
  n = 8
  label = "Panel"
  signal = "text"
  texts = ["AUTO", "MANUAL"]
)", "fidelity.toml"), t0};
}

} // namespace

TEST(SimFidelity, FeedsHaveTheRecordedChannelAndEntryShapes) {
    auto api = make_api();
    for (const char* target : {"/channels/101/feeds.json?results=50", "/channels/202/feeds.json?api_key=SECRETKEY202",
                               "/channels/303/fields/2.json", "/channels/404/feeds.json?timezone=Asia/Kolkata",
                               "/channels/101/feeds.json?offset=-5&results=3"}) {
        auto got = request(api, target);
        ASSERT_EQ(got.status, 200u) << target;
        ASSERT_EQ(got.json.size(), 2u) << target;
        expect_within(samples().channel, got.json["channel"], target);
        ASSERT_FALSE(got.json["feeds"].empty()) << target;
        for (const auto& e : got.json["feeds"]) {
            expect_within(samples().entry, e, target);
            EXPECT_TRUE(std::regex_match(e["created_at"].get<std::string>(), created_at_format)) << e;
        }
        EXPECT_TRUE(std::regex_match(got.json["channel"]["created_at"].get<std::string>(), created_at_format));
    }
}

TEST(SimFidelity, OffsetsAreWrittenLikeTheRecordedOnes) {
    auto api = make_api();
    // Recorded: "Z" (02, 11), "-05:00" (01), "+05:30" (17).
    EXPECT_TRUE(request(api, "/channels/101/feeds/last.json").json["created_at"].get<std::string>().ends_with("Z"));
    EXPECT_TRUE(request(api, "/channels/101/feeds/last.json?offset=-5").json["created_at"].get<std::string>().ends_with("-05:00"));
    EXPECT_TRUE(request(api, "/channels/101/feeds/last.json?timezone=Asia/Kolkata").json["created_at"].get<std::string>().ends_with("+05:30"));
}

TEST(SimFidelity, LastEntriesHaveTheRecordedShape) {
    auto api = make_api();
    for (const char* target : {"/channels/101/feeds/last.json", "/channels/101/fields/1/last.json", "/channels/303/feeds/last.json",
                               "/channels/404/fields/8/last.json"}) {
        auto got = request(api, target);
        ASSERT_EQ(got.status, 200u) << target;
        expect_within(samples().entry, got.json, target);
    }
}

TEST(SimFidelity, FieldValuesAreStringsOrNullNeverNumbers) {
    auto api = make_api();
    std::set<std::string> kinds;
    const auto got = request(api, "/channels/404/feeds.json?results=300");
    for (const auto& e : got.json["feeds"]) {
        ASSERT_TRUE(e["field8"].is_string()) << e;
        kinds.insert(e["field8"].get<std::string>());
    }
    EXPECT_TRUE(kinds.contains("AUTO"));
    EXPECT_TRUE(kinds.contains("nan"));
    EXPECT_TRUE(kinds.contains(""));
}

TEST(SimFidelity, PrivateChannelErrorIsTheRecordedMinusOne) {
    auto api = make_api();
    const auto recorded_no_key = read_sample("08-error-feeds-json_private-no-key_http400_body-minus1.txt");
    const auto recorded_wrong_key = read_sample("09-error-feeds-json_wrong-key_http400_body-minus1.txt");
    auto no_key = request(api, "/channels/202/feeds.json");
    auto wrong_key = request(api, "/channels/202/feeds.json?api_key=NOPE");
    EXPECT_EQ(no_key.status, 400u);
    EXPECT_EQ(no_key.body, recorded_no_key.substr(0, recorded_no_key.find_last_not_of("\r\n") + 1));
    EXPECT_EQ(wrong_key.body, recorded_wrong_key.substr(0, recorded_wrong_key.find_last_not_of("\r\n") + 1));
    EXPECT_TRUE(no_key.reply.content_type.starts_with("application/json"));
}

TEST(SimFidelity, ErrorObjectsHaveTheRecordedShape) {
    auto api = make_api();
    control(api, "/_sim/faults", R"({"burst_429":1})");
    for (auto got : {request(api, "/channels/101/feeds.json"), request(api, "/channels/999/feeds.json"),
                     request(api, "/channels/101/feeds.json?results=x")}) {
        expect_within(samples().error, got.json, got.body);
        expect_within(samples().error_detail, got.json["error"], got.body);
        EXPECT_EQ(got.json["status"], std::to_string(got.status)); // a string, as recorded
    }
}
