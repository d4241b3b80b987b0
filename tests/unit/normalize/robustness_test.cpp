// Whatever the network hands over, parsing and normalizing end in a value, never an exception
// or a crash. Not a fuzzer (that is a libFuzzer target built with clang); a deterministic
// sweep of mutations of real samples that runs with every unit test pass.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "flowgate/normalize/feed.hpp"
#include "flowgate/normalize/normalizer.hpp"
#include "samples.hpp"

using namespace flowgate;
using namespace flowgate::normalize;
using namespace flowgate::normalize::test;

namespace {

const Seconds now = utc(2030, 1, 1, 0, 0, 0);

/// Every type, a range, a calibration and labels from samples 01/07/12, so mutations reach
/// every branch of the normalizer.
ThingSpeakDevice all_fields_device() {
    ThingSpeakDevice d;
    d.device_id = 1;
    d.community_id = 2;
    d.channel_id = 86945;
    const DataType types[] = {DataType::float64, DataType::integer, DataType::boolean, DataType::text};
    const char* labels[] = {"cpu_pc", "mem_avail_mb", "f3", "", "f5", "", "f7", ""};
    for (int n = 1; n <= 8; ++n) {
        FieldMapping m;
        m.field = n;
        m.canonical_name = "m" + std::to_string(n);
        m.type = types[(n - 1) % 4];
        m.scale_factor = n == 1 ? 0.01 : 1;
        m.offset = n == 2 ? -1 : 0;
        if (n <= 2) {
            m.min_valid = 0;
            m.max_valid = 100;
        }
        m.expected_label = labels[n - 1];
        d.fields.push_back(m);
    }
    return d;
}

/// Bytes and fragments that break JSON, for the parser.
const std::vector<std::string> fragments{
    "{", "}", "[", "]", "\"", ",", ":", "\\", R"({"a":[[[)", "\xc3", "\xff", R"("\ud800")", "1e999", "-"};

/// Well-formed JSON values that are wrong, odd or hostile in a feed, for the normalizer.
const std::vector<std::string> values{
    "null", "true", "-1", "0", "1.5", "-0.0", "1e308", "9223372036854775808", "-9223372036854775809", "{}", "[]",
    R"({"a":[1]})", R"("")", R"("nan")", R"(" NaN ")", R"("x87654321x")", R"("12abc")", R"("1e3")", R"("on")",
    R"("2014-99-99T99:99:99Z")", R"("2024-01-01T00:00:00+05:30")", R"("2024-01-01 00:00:00")", R"("\u0000")",
    R"("field1")", R"("-1")", R"("99999")", R"("1000")", R"("0.5")"};

template <typename Rng>
std::size_t pick(Rng& rng, std::size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>{0, n - 1}(rng);
}

/// Breaks the text anywhere: truncation, random bytes, fragments, deletions, duplications.
std::string mutate_bytes(std::string s, std::mt19937& rng) {
    for (std::size_t round = 0, rounds = 1 + pick(rng, 3); round < rounds; ++round) {
        const auto pos = pick(rng, s.size() + 1);
        switch (pick(rng, 5)) {
        case 0: s.resize(pos); break;
        case 1:
            if (!s.empty()) s[pick(rng, s.size())] = static_cast<char>(pick(rng, 256));
            break;
        case 2: s.insert(pos, fragments[pick(rng, fragments.size())]); break;
        case 3: s.erase(pos, pick(rng, 40)); break;
        case 4: s.insert(pos, s.substr(pick(rng, s.size() + 1), pick(rng, 200))); break;
        }
    }
    return s;
}

/// Replaces a few values (the text after a ':' up to the next ',' or '}') with other JSON
/// values: the body mostly stays JSON, so the mutation reaches the normalizer.
std::string mutate_values(std::string s, std::mt19937& rng) {
    for (std::size_t round = 0, rounds = 1 + pick(rng, 3); round < rounds; ++round) {
        const auto colon = s.find(':', pick(rng, s.size()));
        if (colon == std::string::npos) continue;
        auto end = colon + 1;
        bool in_string = false;
        while (end < s.size() && (in_string || (s[end] != ',' && s[end] != '}'))) {
            if (s[end] == '"' && s[end - 1] != '\\') in_string = !in_string;
            ++end;
        }
        if (end == s.size() || s.find_first_of("{[", colon) < end) continue;  // keep nesting intact
        s.replace(colon + 1, end - colon - 1, values[pick(rng, values.size())]);
    }
    return s;
}

void check_invariants(const ParseOutcome& outcome, const NormalizeResult& result) {
    EXPECT_EQ(outcome.ok(), outcome.error.empty());
    EXPECT_LT(outcome.error.size(), 256u) << outcome.error;
    for (const auto& e : result.errors) {
        EXPECT_EQ(e.occurred_at, now);
        EXPECT_EQ(e.device_id, 1);
        EXPECT_LT(e.message.size(), 512u) << e.message;
        if (e.raw_value) {
            EXPECT_LE(e.raw_value->size(), 255u);
        }
    }
    for (const auto& entry : result.entries) {
        EXPECT_FALSE(entry.readings.empty());
        for (const auto& r : entry.readings) EXPECT_TRUE(std::isfinite(r.number)) << r.metric;
    }
}

} // namespace

TEST(Robustness, MutatedSamplesNeverThrow) {
    const std::vector<std::string> bases{sample(s07), sample(s12), sample(s17), sample(s01), sample(s13)};
    const auto device = all_fields_device();
    const Normalizer normalizer;
    std::mt19937 rng{20240501};
    int parsed = 0, rejected = 0, normalized_entries = 0, normalize_errors = 0;
    for (int i = 0; i < 1000; ++i) {
        const auto& base = bases[static_cast<std::size_t>(i) % bases.size()];
        const auto body = i % 2 == 0 ? mutate_values(base, rng) : mutate_bytes(base, rng);
        SCOPED_TRACE("mutation " + std::to_string(i) + ": " + body.substr(0, 300));
        ParseOutcome outcome;
        NormalizeResult result;
        ASSERT_NO_THROW({
            outcome = parse_feed(body);
            if (outcome.feed) result = normalizer.normalize(device, *outcome.feed, now);
        });
        check_invariants(outcome, result);
        outcome.ok() ? ++parsed : ++rejected;
        normalized_entries += static_cast<int>(result.entries.size());
        normalize_errors += static_cast<int>(result.errors.size());
    }
    // The sweep is only worth running if it reaches both sides of the parser and the normalizer.
    EXPECT_GT(parsed, 100);
    EXPECT_GT(rejected, 100);
    EXPECT_GT(normalized_entries, 500);
    EXPECT_GT(normalize_errors, 100);
}

TEST(Robustness, DeeplyNestedValuesDoNotExhaustTheStack) {
    const std::string deep_array = std::string(200'000, '[') + std::string(200'000, ']');
    const auto field = parse_feed(R"({"created_at":"2024-01-01T00:00:00Z","entry_id":1,"field1":)" + deep_array + "}");
    ASSERT_TRUE(field.ok()) << field.error;
    EXPECT_EQ(field.feed->entries[0].bad_values[0], "an array");
    const auto result = Normalizer{}.normalize(all_fields_device(), *field.feed, now);
    ASSERT_EQ(result.errors.size(), 1u);
    EXPECT_EQ(result.errors[0].message, "field1 is an array, not a string (m1)");

    const auto channel = parse_feed(R"({"channel":{"id":1,"field1":)" + deep_array + R"(},"feeds":[]})");
    EXPECT_EQ(channel.error, "channel.field1 is not a string: an array");

    const auto unclosed = parse_feed(std::string(200'000, '{'));
    EXPECT_FALSE(unclosed.ok());
    const auto top = parse_feed(deep_array);
    EXPECT_EQ(top.error, "body is an array, not a feed or an entry");
}
