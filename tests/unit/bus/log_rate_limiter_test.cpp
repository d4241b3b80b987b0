#include "log_rate_limiter.hpp"

#include <gtest/gtest.h>

namespace flowgate::bus {
namespace {

using namespace std::chrono_literals;

TEST(LogRateLimiter, FirstEventLogsAtOnceThenOncePerIntervalWithTheCount) {
    LogRateLimiter limiter{10s};
    const LogRateLimiter::TimePoint t0{};
    EXPECT_EQ(limiter.on_events(1, t0 + 1s), 1u);
    EXPECT_EQ(limiter.on_events(1, t0 + 2s), 0u);
    EXPECT_EQ(limiter.on_events(5, t0 + 5s), 0u);
    EXPECT_EQ(limiter.unreported(), 6u);
    EXPECT_EQ(limiter.on_events(1, t0 + 11s), 7u);
    EXPECT_EQ(limiter.unreported(), 0u);
    EXPECT_EQ(limiter.on_events(2, t0 + 12s), 0u);
    EXPECT_EQ(limiter.on_events(0, t0 + 21s), 2u);
}

TEST(LogRateLimiter, NothingToReportIsNotALine) {
    LogRateLimiter limiter{10s};
    EXPECT_EQ(limiter.on_events(0, LogRateLimiter::TimePoint{}), 0u);
    EXPECT_EQ(limiter.on_events(3, LogRateLimiter::TimePoint{}), 3u);
}

} // namespace
} // namespace flowgate::bus
