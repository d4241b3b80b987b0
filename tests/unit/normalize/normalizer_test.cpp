// Normalizer tables driven by the recorded ThingSpeak responses in tests/data/thingspeak-samples.
#include "flowgate/normalize/normalizer.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <optional>

#include "samples.hpp"

using namespace std::chrono_literals;
using namespace flowgate;
using namespace flowgate::normalize;
using namespace flowgate::normalize::test;

namespace {

const Seconds now = utc(2030, 1, 1, 0, 0, 0);  // far from every sample's created_at

FieldMapping field(int n, std::string name, DataType type, std::string unit = {}, std::string label = {}) {
    FieldMapping m;
    m.field = n;
    m.canonical_name = std::move(name);
    m.type = type;
    m.unit = std::move(unit);
    m.expected_label = std::move(label);
    return m;
}

ThingSpeakDevice device(std::int64_t channel, std::vector<FieldMapping> fields) {
    ThingSpeakDevice d;
    d.device_id = 42;
    d.community_id = 7;
    d.name = "OHT-North";
    d.category = "OHT";
    d.channel_id = channel;
    d.fields = std::move(fields);
    return d;
}

Feed feed_of(const std::string& body) {
    auto outcome = parse_feed(body);
    EXPECT_TRUE(outcome.ok()) << outcome.error;
    return outcome.feed.value_or(Feed{});
}

NormalizeResult run(const ThingSpeakDevice& d, const std::string& body) {
    return Normalizer{}.normalize(d, feed_of(body), now);
}

const Reading* find_reading(const TelemetryEntry& e, std::string_view metric) {
    for (const auto& r : e.readings) {
        if (r.metric == metric) return &r;
    }
    return nullptr;
}

std::string messages(const NormalizeResult& r) {
    std::string out;
    for (const auto& e : r.errors) out += std::string{to_string(e.stage)} + ": " + e.message + "\n";
    return out;
}

/// Channel 9 ("my_house") as a device: field1 light (integer), field2 temperature (float, °C).
ThingSpeakDevice my_house(std::string light_label = "Light", std::string temperature_label = "Outside Temperature") {
    return device(9, {field(1, "light", DataType::integer, "lux", std::move(light_label)),
                      field(2, "outside_temperature", DataType::float64, "C", std::move(temperature_label))});
}

} // namespace

TEST(Normalizer, FeedBecomesTypedReadingsAtEachEntrysOwnTimeAndOffset) {
    const auto r = run(my_house(), sample(s01));
    EXPECT_TRUE(r.errors.empty()) << messages(r);
    ASSERT_EQ(r.entries.size(), 2u);
    const auto& e = r.entries[0];
    EXPECT_EQ(e.device_id, 42);
    EXPECT_EQ(e.community_id, 7);
    EXPECT_EQ(e.source, "thingspeak");
    EXPECT_EQ(e.entry_id, 6060624);
    EXPECT_EQ(e.created_at.utc, utc(2014, 2, 26, 17, 42, 49));  // 12:42:49-05:00, never `now`
    EXPECT_EQ(e.created_at.offset, -5h);
    ASSERT_EQ(e.readings.size(), 2u);
    EXPECT_EQ(e.readings[0], (Reading{"light", DataType::integer, 188, "", "lux"}));
    EXPECT_EQ(e.readings[1], (Reading{"outside_temperature", DataType::float64, 25.902335456475583, "", "C"}));
    EXPECT_EQ(r.entries[1].entry_id, 6060625);
    EXPECT_EQ(r.entries[1].readings[0].number, 164);
}

TEST(Normalizer, OffsetsZuluAndIndiaArePreserved) {
    const auto z = run(my_house(), sample(s11));
    ASSERT_EQ(z.entries.size(), 2u);
    EXPECT_EQ(z.entries[0].created_at, (OffsetTime{utc(2018, 1, 26, 13, 7, 48), 0min}));

    const auto ist = run(device(222498, {field(1, "flow", DataType::integer, "L", "col1")}), sample(s18));
    ASSERT_EQ(ist.entries.size(), 3u);
    EXPECT_EQ(ist.entries[0].created_at, (OffsetTime{utc(2017, 2, 3, 10, 6, 10), 5h + 30min}));  // 15:36:10+05:30
}

TEST(Normalizer, ReadingsFollowMappingOrder) {
    auto d = my_house();
    std::swap(d.fields[0], d.fields[1]);
    const auto r = run(d, sample(s11));
    ASSERT_EQ(r.entries.at(0).readings.size(), 2u);
    EXPECT_EQ(r.entries[0].readings[0].metric, "outside_temperature");
    EXPECT_EQ(r.entries[0].readings[1].metric, "light");
}

TEST(Normalizer, NullsAreMissingAndOnlyTheBadMetricIsLost) {
    // Sample 07: field2 is "1000", then "58.9" (not an integer), then null for 14 entries.
    const auto d = device(86945, {field(1, "cpu", DataType::float64, "%", "cpu_pc"),
                                  field(2, "mem_avail", DataType::integer, "MB", "mem_avail_mb")});
    const auto r = run(d, sample(s07));
    ASSERT_EQ(r.entries.size(), 16u);
    EXPECT_EQ(r.entries[0].readings.size(), 2u);
    EXPECT_EQ(find_reading(r.entries[0], "mem_avail")->number, 1000);
    EXPECT_EQ(find_reading(r.entries[1], "cpu")->number, 25);
    EXPECT_EQ(find_reading(r.entries[1], "mem_avail"), nullptr);
    for (std::size_t i = 2; i < 16; ++i) {
        ASSERT_EQ(r.entries[i].readings.size(), 1u) << "entry " << r.entries[i].entry_id;
        EXPECT_EQ(r.entries[i].readings[0].number, 1);
    }
    ASSERT_EQ(r.errors.size(), 1u) << messages(r);
    const auto& e = r.errors[0];
    EXPECT_EQ(e.stage, ErrorStage::conversion);
    EXPECT_EQ(e.message, "field2 '58.9' is not an integer (mem_avail)");
    EXPECT_EQ(e.entry_id, 2);
    EXPECT_EQ(e.field, "field2");
    EXPECT_EQ(e.raw_value, "58.9");
}

TEST(Normalizer, EntryWithNothingToStoreIsDroppedWithoutError) {
    // Sample 17, entry 4: field1 null, the only mapped field.
    const auto r = run(device(222498, {field(1, "pump_runs", DataType::integer, "", "col1")}), sample(s17));
    EXPECT_TRUE(r.errors.empty()) << messages(r);
    ASSERT_EQ(r.entries.size(), 56u);
    EXPECT_EQ(r.entries[2].entry_id, 3);
    EXPECT_EQ(r.entries[3].entry_id, 5);
    EXPECT_EQ(r.entries[3].created_at, (OffsetTime{utc(2017, 2, 3, 10, 22, 10), 5h + 30min}));
    EXPECT_EQ(r.entries[7].readings[0].number, 144);  // entry 9
}

TEST(Normalizer, TrailingZerosAndAbsentFieldOfAFieldFeed) {
    // Sample 20 is fields/1.json: the channel names field2, the entries do not carry it.
    const auto d = device(2718757, {field(1, "humidity", DataType::float64, "%", "humidity"),
                                    field(2, "temperature", DataType::float64, "C", "temperature")});
    const auto r = run(d, sample(s20));
    EXPECT_TRUE(r.errors.empty()) << messages(r);
    ASSERT_EQ(r.entries.size(), 9u);
    ASSERT_EQ(r.entries[0].readings.size(), 1u);
    EXPECT_EQ(r.entries[0].readings[0].number, 44.5);
    EXPECT_EQ(r.entries[8].readings[0].number, 46.6);
}

TEST(Normalizer, BitmaskLikeValueAsStringAndNullsOfAllEightFields) {
    std::vector<FieldMapping> fields{field(1, "switch_a", DataType::integer), field(2, "relays", DataType::text)};
    for (int n = 3; n <= 8; ++n) fields.push_back(field(n, "f" + std::to_string(n), DataType::float64));
    const auto d = device(2725686, fields);

    const auto last = run(d, sample(s13));
    EXPECT_TRUE(last.errors.empty()) << messages(last);
    ASSERT_EQ(last.entries.size(), 1u);
    ASSERT_EQ(last.entries[0].readings.size(), 2u);
    EXPECT_EQ(last.entries[0].readings[0].number, 11);
    EXPECT_EQ(last.entries[0].readings[1], (Reading{"relays", DataType::text, 0, "10110010", ""}));

    const auto pretty = run(d, sample(s12));
    EXPECT_TRUE(pretty.errors.empty()) << messages(pretty);
    ASSERT_EQ(pretty.entries.size(), 1u);
    EXPECT_EQ(pretty.entries[0].readings[1].text, "22");
}

TEST(Normalizer, NonNumericValueOfAFloatFieldIsAConversionError) {
    const auto d = device(2725686, {field(1, "tds", DataType::float64, "ppm")});
    const auto r = run(d, sample(s14));
    EXPECT_TRUE(r.entries.empty());
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0], (TelemetryErrorRecord{.device_id = 42,
                                                 .channel_id = 2725686,
                                                 .stage = ErrorStage::conversion,
                                                 .message = "field1 'x87654321x' is not a float (tds)",
                                                 .entry_id = 24,
                                                 .field = "field1",
                                                 .raw_value = "x87654321x",
                                                 .http_status = std::nullopt,
                                                 .occurred_at = now}));
}

TEST(Normalizer, BooleanValveOnADefaultLabelledField) {
    const auto d = device(2079877, {field(1, "sprinkler_open", DataType::boolean, "", "Field Label 1")});
    const auto r = run(d, sample(s23));
    EXPECT_TRUE(r.errors.empty()) << messages(r);
    ASSERT_EQ(r.entries.size(), 2u);
    EXPECT_EQ(r.entries[0].readings[0], (Reading{"sprinkler_open", DataType::boolean, 0, "", ""}));
    EXPECT_EQ(r.entries[1].readings[0].number, 1);
}

TEST(Normalizer, ScaleAndOffsetThenRange) {
    // A tank sensor reports centimetres; the metric is metres, valid 0..5 m.
    auto level = field(1, "water_level", DataType::float64, "m", "Water Level (cm)");
    level.scale_factor = 0.01;
    level.min_valid = 0;
    level.max_valid = 5;
    auto temperature = field(2, "water_temperature", DataType::float64, "C", "Temp");
    temperature.offset = -0.5;
    const auto d = device(100, {level, temperature});
    const auto r = run(d, R"json({"channel":{"id":100,"field1":"Water Level (cm)","field2":"Temp","last_entry_id":3},"feeds":[
        {"created_at":"2024-05-01T06:00:00+05:30","entry_id":1,"field1":"250","field2":"28.5"},
        {"created_at":"2024-05-01T06:01:00+05:30","entry_id":2,"field1":"612","field2":"28.7"},
        {"created_at":"2024-05-01T06:02:00+05:30","entry_id":3,"field1":"-3","field2":"nan"}]})json");
    ASSERT_EQ(r.entries.size(), 2u) << messages(r);
    EXPECT_DOUBLE_EQ(r.entries[0].readings[0].number, 2.5);
    EXPECT_DOUBLE_EQ(r.entries[0].readings[1].number, 28);
    ASSERT_EQ(r.entries[1].readings.size(), 1u);  // level out of range, temperature kept
    EXPECT_EQ(r.entries[1].readings[0].metric, "water_temperature");
    ASSERT_EQ(r.errors.size(), 2u);
    EXPECT_EQ(r.errors[0].message, "field1 value 6.12 m is above max_valid 5 (water_level)");
    EXPECT_EQ(r.errors[0].raw_value, "612");
    EXPECT_EQ(r.errors[0].entry_id, 2);
    EXPECT_EQ(r.errors[1].message, "field1 value -0.03 m is below min_valid 0 (water_level)");
    for (const auto& e : r.errors) EXPECT_EQ(e.stage, ErrorStage::conversion);
}

TEST(Normalizer, RenamedFieldIsRefusedForTheWholeResponseWithOneError) {
    const auto r = run(my_house("Lux"), sample(s01));
    ASSERT_EQ(r.errors.size(), 1u) << messages(r);
    const auto& e = r.errors[0];
    EXPECT_EQ(e.stage, ErrorStage::schema);
    EXPECT_EQ(e.message, "field1 is now labelled 'Light', expected 'Lux': not stored until the mapping is updated");
    EXPECT_EQ(e.field, "field1");
    EXPECT_EQ(e.raw_value, "Light");
    EXPECT_FALSE(e.entry_id);
    EXPECT_EQ(e.channel_id, 9);
    EXPECT_EQ(e.occurred_at, now);
    ASSERT_EQ(r.entries.size(), 2u);
    for (const auto& entry : r.entries) {
        ASSERT_EQ(entry.readings.size(), 1u);
        EXPECT_EQ(entry.readings[0].metric, "outside_temperature");
    }
}

TEST(Normalizer, DisabledFieldIsRefused) {
    auto d = my_house();
    d.fields.push_back(field(3, "humidity", DataType::float64, "%", "Humidity"));
    const auto r = run(d, sample(s11));
    ASSERT_EQ(r.errors.size(), 1u) << messages(r);
    EXPECT_EQ(r.errors[0].stage, ErrorStage::schema);
    EXPECT_EQ(r.errors[0].message,
              "field3 is disabled on channel 9, expected 'Humidity': not stored until the mapping is updated");
    EXPECT_FALSE(r.errors[0].raw_value);
    EXPECT_EQ(r.entries.size(), 2u);
}

TEST(Normalizer, EveryFieldRenamedStoresNothing) {
    const auto r = run(my_house("Lux", "Temperature"), sample(s01));
    EXPECT_TRUE(r.entries.empty());
    EXPECT_EQ(r.errors.size(), 2u) << messages(r);
}

TEST(Normalizer, LabelsAreNotCheckedWithoutAChannelOrAnExpectedLabel) {
    // last.json has no channel object: nothing to compare with.
    const auto last = run(my_house("Lux"), sample(s02));
    EXPECT_TRUE(last.errors.empty()) << messages(last);
    ASSERT_EQ(last.entries.size(), 1u);
    EXPECT_EQ(last.entries[0].readings.size(), 2u);
    EXPECT_EQ(last.entries[0].readings[0].number, 176);

    const auto unchecked = run(my_house("", ""), sample(s01));
    EXPECT_TRUE(unchecked.errors.empty()) << messages(unchecked);
    EXPECT_EQ(unchecked.entries.size(), 2u);

    const auto field_last = run(my_house(), sample(s04));
    ASSERT_EQ(field_last.entries.size(), 1u);
    EXPECT_EQ(field_last.entries[0].readings.size(), 1u);
}

TEST(Normalizer, EmptyResultIsNothingAtAll) {
    const auto r = run(my_house(), sample(s08));
    EXPECT_TRUE(r.entries.empty());
    EXPECT_TRUE(r.errors.empty());
}

TEST(Normalizer, EntriesWithoutUsableIdOrTimeAreSkippedWithOneParseErrorEach) {
    const auto d = device(1, {field(1, "level", DataType::float64, "cm", "a")});
    const auto r = run(d, R"({"channel":{"id":1,"field1":"a"},"feeds":[
        {"created_at":"2024-01-01T00:00:00Z","field1":"1"},
        {"created_at":"2024-01-01 00:00:00 UTC","entry_id":2,"field1":"2"},
        {"entry_id":3,"field1":"3"},
        {"created_at":"2024-01-01T00:00:00Z","entry_id":"4","field1":"4"},
        {"created_at":"yesterday","entry_id":-5,"field1":"5"},
        {"created_at":"2024-01-01T00:00:06+05:30","entry_id":6,"field1":"6"}]})");
    ASSERT_EQ(r.entries.size(), 1u);
    EXPECT_EQ(r.entries[0].entry_id, 6);
    ASSERT_EQ(r.errors.size(), 5u) << messages(r);
    for (const auto& e : r.errors) EXPECT_EQ(e.stage, ErrorStage::parse);

    EXPECT_EQ(r.errors[0].message, "feeds[0]: no entry_id; skipped");
    EXPECT_FALSE(r.errors[0].entry_id);
    EXPECT_FALSE(r.errors[0].raw_value);

    EXPECT_EQ(r.errors[1].message,
              "entry 2: created_at '2024-01-01 00:00:00 UTC' is not an ISO-8601 time with a zone; skipped");
    EXPECT_EQ(r.errors[1].entry_id, 2);
    EXPECT_EQ(r.errors[1].raw_value, "2024-01-01 00:00:00 UTC");

    EXPECT_EQ(r.errors[2].message, "entry 3: no created_at; skipped");
    EXPECT_EQ(r.errors[2].entry_id, 3);

    EXPECT_EQ(r.errors[3].message, R"(feeds[3]: entry_id "4" is not a non-negative integer; skipped)");
    EXPECT_EQ(r.errors[3].raw_value, R"("4")");

    EXPECT_EQ(r.errors[4].message,
              "feeds[4]: entry_id -5 is not a non-negative integer and created_at 'yesterday' is not an ISO-8601 "
              "time with a zone; skipped");
    EXPECT_EQ(r.errors[4].raw_value, "yesterday");
}

TEST(Normalizer, JsonObjectInAFieldIsAParseErrorOfThatFieldOnly) {
    const auto r = run(my_house(), R"({"created_at":"2024-01-01T00:00:00Z","entry_id":9,"field1":{"lux":3},"field2":"20.5"})");
    ASSERT_EQ(r.entries.size(), 1u);
    ASSERT_EQ(r.entries[0].readings.size(), 1u);
    EXPECT_EQ(r.entries[0].readings[0].metric, "outside_temperature");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].stage, ErrorStage::parse);
    EXPECT_EQ(r.errors[0].message, "field1 is an object, not a string (light)");
    EXPECT_EQ(r.errors[0].field, "field1");
    EXPECT_EQ(r.errors[0].entry_id, 9);
}

TEST(Normalizer, HugeValuesAreTruncatedOnAUtf8Boundary) {
    std::string huge;
    for (int i = 0; i < 50'000; ++i) huge += "\xc3\xa9";  // 'é', two bytes each
    const auto r = run(my_house(), R"({"created_at":"2024-01-01T00:00:00Z","entry_id":1,"field1":"1","field2":")" + huge + R"("})");
    ASSERT_EQ(r.errors.size(), 1u);
    const auto& e = r.errors[0];
    ASSERT_TRUE(e.raw_value);
    EXPECT_EQ(e.raw_value->size(), 254u);  // 255 would split the 128th 'é'
    EXPECT_EQ(*e.raw_value, huge.substr(0, 254));
    EXPECT_LT(e.message.size(), 140u) << e.message;
    ASSERT_EQ(r.entries.size(), 1u);  // field1 still stored
}

TEST(Normalizer, MappingOutsideField1To8IsReportedNotIndexed) {
    auto d = my_house();
    d.fields.push_back(field(9, "ghost", DataType::float64));
    d.fields.push_back(field(0, "zero", DataType::float64));
    const auto r = run(d, sample(s01));
    ASSERT_EQ(r.errors.size(), 2u) << messages(r);
    EXPECT_EQ(r.errors[0].stage, ErrorStage::schema);
    EXPECT_NE(r.errors[0].message.find("'ghost' names field 9"), std::string::npos) << r.errors[0].message;
    EXPECT_EQ(r.entries.size(), 2u);
    EXPECT_EQ(r.entries[0].readings.size(), 2u);
}

TEST(Normalizer, EightThousandEntryPage) {
    std::string body = R"({"channel":{"id":9,"field1":"Light","field2":"Outside Temperature","last_entry_id":8000},"feeds":[)";
    for (int i = 1; i <= 8000; ++i) {
        if (i > 1) body += ',';
        body += R"({"created_at":"2024-01-01T00:00:00Z","entry_id":)" + std::to_string(i) + R"(,"field1":")" +
                std::to_string(i % 500) + R"(","field2":")" + (i % 1000 == 0 ? std::string{"ERR"} : "21.5") + "\"}";
    }
    body += "]}";
    const auto r = run(my_house(), body);
    EXPECT_EQ(r.entries.size(), 8000u);
    EXPECT_EQ(r.errors.size(), 8u);
    EXPECT_EQ(r.entries.back().readings[0].number, 0);
}

TEST(MappingProblem, ScalesOffsetsAndBoundsThatCannotBeComputedWithAreNamed) {
    const auto level = [](double scale, double offset, std::optional<double> min = {}) {
        auto m = field(2, "water_level", DataType::float64, "m");
        m.scale_factor = scale;
        m.offset = offset;
        m.min_valid = min;
        return device(9, {field(1, "tds", DataType::integer), m});
    };
    EXPECT_EQ(mapping_problem(level(0.01, 5)), "");
    EXPECT_EQ(mapping_problem(level(-1, 0, -10)), "") << "a negative scale is a valid calibration";
    const auto nan = std::numeric_limits<double>::quiet_NaN();
    const auto inf = std::numeric_limits<double>::infinity();
    EXPECT_EQ(mapping_problem(level(nan, 0)), "field2 ('water_level'): scale_factor must be a finite number other than 0");
    EXPECT_EQ(mapping_problem(level(0, 0)), "field2 ('water_level'): scale_factor must be a finite number other than 0");
    EXPECT_EQ(mapping_problem(level(inf, 0)), "field2 ('water_level'): scale_factor must be a finite number other than 0");
    EXPECT_EQ(mapping_problem(level(1, -inf)), "field2 ('water_level'): offset must be a finite number");
    EXPECT_EQ(mapping_problem(level(1, 0, nan)), "field2 ('water_level'): min_valid and max_valid must be numbers");
}
