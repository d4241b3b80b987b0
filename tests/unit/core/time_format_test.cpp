#include "flowgate/core/time_format.hpp"

#include <gtest/gtest.h>

using namespace std::chrono;
using namespace std::chrono_literals;
using flowgate::format_iso8601;
using flowgate::parse_iso8601;
using flowgate::parse_query_time;
using flowgate::Seconds;

namespace {
Seconds utc(int y, unsigned mo, unsigned d, int h, int mi, int s) {
    return sys_days{year{y} / mo / d} + hours{h} + minutes{mi} + seconds{s};
}
} // namespace

TEST(TimeFormat, FormatsLikeThingSpeak) {
    const auto t = utc(2014, 2, 26, 17, 42, 49);
    EXPECT_EQ(format_iso8601(t), "2014-02-26T17:42:49Z");
    EXPECT_EQ(format_iso8601(t, -5h), "2014-02-26T12:42:49-05:00");
    EXPECT_EQ(format_iso8601(t, 5h + 30min), "2014-02-26T23:12:49+05:30");
    EXPECT_EQ(format_iso8601(utc(2017, 2, 3, 23, 0, 0), 5h + 30min), "2017-02-04T04:30:00+05:30");
}

TEST(TimeFormat, ParsesRecordedCreatedAtValues) {
    // Values copied from tests/data/thingspeak-samples (files 01, 02, 17).
    auto a = parse_iso8601("2014-02-26T12:42:49-05:00");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->utc, utc(2014, 2, 26, 17, 42, 49));
    EXPECT_EQ(a->offset, -5h);
    auto b = parse_iso8601("2014-02-26T21:27:21Z");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->utc, utc(2014, 2, 26, 21, 27, 21));
    EXPECT_EQ(b->offset, 0min);
    auto c = parse_iso8601("2017-02-03T15:36:10+05:30");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->utc, utc(2017, 2, 3, 10, 6, 10));
    EXPECT_EQ(format_iso8601(c->utc, c->offset), "2017-02-03T15:36:10+05:30");
}

TEST(TimeFormat, RejectsMalformedTimestamps) {
    for (const char* bad : {"", "2014-02-26", "2014-02-26T12:42:49", "2014-02-30T12:42:49Z",
                            "2014-02-26T24:00:00Z", "2014-02-26 12:42:49Z", "2014-02-26T12:42:49+5:30",
                            "2014-02-26T12:42:49Zjunk", "14-02-26T12:42:49Z", "2014-02-26T12:42Z"}) {
        EXPECT_FALSE(parse_iso8601(bad).has_value()) << bad;
    }
}

TEST(TimeFormat, ParsesQueryStartAndEnd) {
    EXPECT_EQ(parse_query_time("2024-01-02 03:04:05", 0min), utc(2024, 1, 2, 3, 4, 5));
    EXPECT_EQ(parse_query_time("2024-01-02T03:04:05", 0min), utc(2024, 1, 2, 3, 4, 5));
    EXPECT_EQ(parse_query_time("2024-01-02 03:04", 0min), utc(2024, 1, 2, 3, 4, 0));
    EXPECT_EQ(parse_query_time("2024-01-02", 0min), utc(2024, 1, 2, 0, 0, 0));
    // Interpreted in the request's timezone unless the value carries its own offset.
    EXPECT_EQ(parse_query_time("2024-01-02 08:34:05", 5h + 30min), utc(2024, 1, 2, 3, 4, 5));
    EXPECT_EQ(parse_query_time("2024-01-02 03:04:05Z", 5h + 30min), utc(2024, 1, 2, 3, 4, 5));
    EXPECT_EQ(parse_query_time("2024-01-02 03:04:05-01:00", 0min), utc(2024, 1, 2, 4, 4, 5));
    EXPECT_FALSE(parse_query_time("yesterday", 0min));
    EXPECT_FALSE(parse_query_time("2024-13-02 03:04:05", 0min));
    EXPECT_FALSE(parse_query_time("2024-01-02 03", 0min));
}
