#include "flowgate/core/duration.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using flowgate::format_duration;
using flowgate::parse_duration;

TEST(Duration, ParsesEveryUnit) {
    EXPECT_EQ(parse_duration("250ms"), 250ms);
    EXPECT_EQ(parse_duration("15s"), 15s);
    EXPECT_EQ(parse_duration("5m"), 5min);
    EXPECT_EQ(parse_duration("2h"), 2h);
    EXPECT_EQ(parse_duration("7d"), 7 * 24h);
    EXPECT_EQ(parse_duration("0s"), 0s);
}

TEST(Duration, RejectsWhatAnOperatorMightMistype) {
    for (const char* bad : {"", "15", "s", "-5s", "1.5s", "15 s", "15sec", "5M", "99999999999999999999d",
                            "9999999999999999d"}) {
        EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
    }
}

TEST(Duration, FormatsTheShortestExactSpelling) {
    EXPECT_EQ(format_duration(90s), "90s");
    EXPECT_EQ(format_duration(120s), "2m");
    EXPECT_EQ(format_duration(1500ms), "1500ms");
    EXPECT_EQ(format_duration(48h), "2d");
    EXPECT_EQ(format_duration(0ms), "0s");
    EXPECT_EQ(parse_duration(format_duration(3723s)), 3723s);
}
