// The history API's readings parameters, as a dashboard sends them.
#include <gtest/gtest.h>

#include <variant>

#include "flowgate/storage/history.hpp"

using flowgate::storage::format_micros;
using flowgate::storage::Micros;
using flowgate::storage::ReadingsQuery;
using namespace std::chrono_literals;

namespace {

const auto now = std::chrono::system_clock::time_point{std::chrono::seconds{1'764'842'400}};  // 2025-12-04T10:00:00Z

ReadingsQuery parsed(std::string_view query) {
    auto result = ReadingsQuery::parse(7, query, now);
    if (const auto* error = std::get_if<std::string>(&result)) ADD_FAILURE() << query << ": " << *error;
    return std::get_if<ReadingsQuery>(&result) ? std::get<ReadingsQuery>(result) : ReadingsQuery{};
}

std::string error_of(std::string_view query) {
    const auto result = ReadingsQuery::parse(7, query, now);
    return std::holds_alternative<std::string>(result) ? std::get<std::string>(result) : "(accepted)";
}

} // namespace

TEST(ReadingsQuery, DefaultsToTheLast24HoursAndAThousandRows) {
    const auto q = parsed("metric=water_level_cm");
    EXPECT_EQ(q.node_id, 7);
    EXPECT_EQ(q.metric, "water_level_cm");
    EXPECT_EQ(format_micros(q.to), "2025-12-04T10:00:00Z");
    EXPECT_EQ(format_micros(q.from), "2025-12-03T10:00:00Z");
    EXPECT_EQ(q.limit, 1000u);
    EXPECT_FALSE(q.after);
}

TEST(ReadingsQuery, ReadsIso8601TimesWithOffsetsFractionsAndEscapes) {
    // As JavaScript's toISOString() writes them, and with an escaped offset.
    const auto q = parsed("token=x&metric=flow_lpm&from=2025-12-04T04:30:00.250Z&to=2025-12-04T10:00:00%2B05:00&limit=10000");
    EXPECT_EQ(format_micros(q.from), "2025-12-04T04:30:00.250000Z");
    EXPECT_EQ(format_micros(q.to), "2025-12-04T05:00:00Z");
    EXPECT_EQ(q.limit, 10000u);
    EXPECT_EQ(format_micros(parsed("metric=m&from=2025-12-01").from), "2025-12-01T00:00:00Z");
}

TEST(ReadingsQuery, ReadsTheCursorOfTheNextPage) {
    const auto q = parsed("metric=m&after=1764842400123456,42");
    ASSERT_TRUE(q.after);
    EXPECT_EQ(q.after->ts_us, 1764842400123456);
    EXPECT_EQ(q.after->entry_id, 42);
}

TEST(ReadingsQuery, SaysWhatIsWrong) {
    EXPECT_EQ(error_of(""), "metric is required: ?metric=<canonical name>");
    EXPECT_EQ(error_of("metric="), "metric is required: ?metric=<canonical name>");
    EXPECT_NE(error_of("metric=m&from=yesterday").find("from must be an ISO-8601 time"), std::string::npos);
    EXPECT_NE(error_of("metric=m&to=2025-13-01T00:00:00Z").find("to must be an ISO-8601 time"), std::string::npos);
    EXPECT_NE(error_of("metric=m&from=2025-12-04T00:00:00.Z").find("from must be"), std::string::npos);
    EXPECT_EQ(error_of("metric=m&from=2025-12-05T00:00:00Z&to=2025-12-04T00:00:00Z"), "from must not be after to");
    EXPECT_EQ(error_of("metric=m&limit=0"), "limit must be 1..10000, not '0'");
    EXPECT_EQ(error_of("metric=m&limit=10001"), "limit must be 1..10000, not '10001'");
    EXPECT_EQ(error_of("metric=m&limit=ten"), "limit must be 1..10000, not 'ten'");
    EXPECT_EQ(error_of("metric=m&after=17"), "after must be the cursor from the previous answer's next");
    EXPECT_EQ(error_of("metric=m%2"), "bad percent-escape in metric");
}

TEST(ReadingsQuery, FormatsWholeSecondsWithoutAFraction) {
    EXPECT_EQ(format_micros(Micros{1'764'842'400'000'000us}), "2025-12-04T10:00:00Z");
    EXPECT_EQ(format_micros(Micros{1'764'842'400'000'001us}), "2025-12-04T10:00:00.000001Z");
}
