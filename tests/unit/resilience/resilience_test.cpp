#include <gtest/gtest.h>

#include <set>

#include "flowgate/core/fake_clock.hpp"
#include "flowgate/resilience/circuit_breaker.hpp"
#include "flowgate/resilience/jittered_backoff.hpp"
#include "flowgate/resilience/token_bucket.hpp"

namespace flowgate::resilience {
namespace {

using namespace std::chrono_literals;

TEST(TokenBucketTest, BurstThenRefillAtTheRate) {
    FakeClock clock;
    TokenBucket bucket{{.rate = 2, .burst = 3}, clock.steady_now()};
    int sent = 0;
    while (bucket.try_take(clock.steady_now())) ++sent;
    EXPECT_EQ(sent, 3);
    EXPECT_EQ(bucket.next_token_at(clock.steady_now()), clock.steady_now() + 500ms);
    clock.advance(499ms);
    EXPECT_FALSE(bucket.try_take(clock.steady_now()));
    clock.advance(1ms);
    EXPECT_TRUE(bucket.try_take(clock.steady_now()));
    // Over 10 s at 2/s, exactly 20 more requests go, never more than the burst after a pause.
    sent = 0;
    for (int ms = 0; ms < 10'000; ms += 10) {
        clock.advance(10ms);
        while (bucket.try_take(clock.steady_now())) ++sent;
    }
    EXPECT_EQ(sent, 20);
    clock.advance(1h);
    EXPECT_DOUBLE_EQ(bucket.tokens(clock.steady_now()), 3);
}

TEST(TokenBucketTest, ThrottlingHalvesTheRateAndSuccessRecoversItStepByStep) {
    FakeClock clock;
    TokenBucket bucket{{.rate = 4, .burst = 4, .min_rate = 0.5}, clock.steady_now()};
    bucket.on_throttled(clock.steady_now(), std::nullopt);
    EXPECT_DOUBLE_EQ(bucket.rate(), 2);
    EXPECT_FALSE(bucket.try_take(clock.steady_now())) << "throttling drops the tokens";
    for (int i = 0; i < 10; ++i) bucket.on_throttled(clock.steady_now(), std::nullopt);
    EXPECT_DOUBLE_EQ(bucket.rate(), 0.5) << "never below min_rate";
    int successes = 0;
    bool recovered = false;
    while (!recovered) {
        recovered = bucket.on_success();
        ++successes;
    }
    EXPECT_EQ(successes, 18) << "additive: +rate/20 per success from 0.5 to 4";
    EXPECT_DOUBLE_EQ(bucket.rate(), 4);
    EXPECT_FALSE(bucket.tightened());
    EXPECT_FALSE(bucket.on_success()) << "recovered once, not on every success";
}

TEST(TokenBucketTest, NewLimitsApplyAtOnceAndAThrottledRateStaysThrottled) {
    FakeClock clock;
    TokenBucket bucket{{.rate = 10, .burst = 10}, clock.steady_now()};
    bucket.set_limits({.rate = 1, .burst = 2}, clock.steady_now());
    int sent = 0;
    while (bucket.try_take(clock.steady_now())) ++sent;
    EXPECT_EQ(sent, 2) << "the tokens held are cut to the new burst";
    EXPECT_DOUBLE_EQ(bucket.rate(), 1);
    EXPECT_EQ(bucket.next_token_at(clock.steady_now()), clock.steady_now() + 1s);

    bucket.on_throttled(clock.steady_now(), std::nullopt);
    EXPECT_DOUBLE_EQ(bucket.rate(), 0.5);
    bucket.set_limits({.rate = 4, .burst = 4}, clock.steady_now());
    EXPECT_DOUBLE_EQ(bucket.rate(), 0.5) << "raising the limit does not undo the source's throttling";
    EXPECT_TRUE(bucket.tightened());
    bucket.set_limits({.rate = 0.25, .burst = 1}, clock.steady_now());
    EXPECT_DOUBLE_EQ(bucket.rate(), 0.25) << "a lower limit than the adapted rate applies";
    EXPECT_THROW(bucket.set_limits({.rate = 0, .burst = 1}, clock.steady_now()), std::invalid_argument);
}

TEST(TokenBucketTest, RetryAfterSendsNothingUntilItPassed) {
    FakeClock clock;
    TokenBucket bucket{{.rate = 10, .burst = 10}, clock.steady_now()};
    bucket.on_throttled(clock.steady_now(), 30s);
    EXPECT_EQ(bucket.next_token_at(clock.steady_now()), clock.steady_now() + 30s + 200ms);
    clock.advance(30s);
    EXPECT_FALSE(bucket.try_take(clock.steady_now()));
    clock.advance(200ms);
    EXPECT_TRUE(bucket.try_take(clock.steady_now()));
    EXPECT_FALSE(bucket.try_take(clock.steady_now()));
}

// The fallback of an instance that cannot reach the shared bucket: a third of the rate and of
// the burst when three instances share the key, the whole of it again once alone.
TEST(TokenBucketTest, AShareScalesTheRefillAndTheBurstButNotTheRate) {
    FakeClock clock;
    TokenBucket bucket{{.rate = 3, .burst = 6}, clock.steady_now()};
    bucket.set_share(1.0 / 3);
    EXPECT_DOUBLE_EQ(bucket.tokens(clock.steady_now()), 2) << "the burst is shared too";
    EXPECT_DOUBLE_EQ(bucket.rate(), 3) << "rate() is the key's, which the shared bucket uses";
    int sent = 0;
    while (bucket.try_take(clock.steady_now())) ++sent;
    EXPECT_EQ(sent, 2) << "a burst of 2";
    EXPECT_EQ(bucket.next_token_at(clock.steady_now()), clock.steady_now() + 1s) << "then 1/s";
    for (int s = 0; s < 10; ++s) {
        clock.advance(500ms);
        while (bucket.try_take(clock.steady_now())) ++sent;
    }
    EXPECT_EQ(sent, 2 + 5);
    bucket.set_share(1);
    clock.advance(1h);
    EXPECT_DOUBLE_EQ(bucket.tokens(clock.steady_now()), 6);
    // Never less than one token, however many instances.
    bucket.set_share(1.0 / 100);
    EXPECT_DOUBLE_EQ(bucket.tokens(clock.steady_now()), 1);
    EXPECT_THROW(bucket.set_share(0), std::invalid_argument);
    EXPECT_THROW(bucket.set_share(1.5), std::invalid_argument);
}

TEST(CircuitBreakerTest, OpensAfterConsecutiveFailuresAndLetsOneProbeThrough) {
    FakeClock clock;
    CircuitBreaker breaker{{.failure_threshold = 3, .cool_down = 10s, .max_cool_down = 25s}};
    const auto now = [&] { return clock.steady_now(); };
    breaker.on_failure(now());
    breaker.on_failure(now());
    breaker.on_success();
    breaker.on_failure(now());
    breaker.on_failure(now());
    EXPECT_EQ(breaker.state(), BreakerState::closed) << "failures must be consecutive";
    breaker.on_failure(now());
    EXPECT_EQ(breaker.state(), BreakerState::open);
    EXPECT_EQ(breaker.consecutive_failures(), 3u);
    EXPECT_FALSE(breaker.allow(now()));
    clock.advance(9999ms);
    EXPECT_FALSE(breaker.allow(now()));
    clock.advance(1ms);
    EXPECT_TRUE(breaker.would_allow(now()));
    EXPECT_TRUE(breaker.allow(now()));
    EXPECT_EQ(breaker.state(), BreakerState::half_open);
    EXPECT_FALSE(breaker.allow(now())) << "exactly one probe in flight";

    breaker.on_failure(now());
    EXPECT_EQ(breaker.state(), BreakerState::open);
    EXPECT_EQ(breaker.cool_down(), 20s) << "a failed probe doubles the cool-down";
    clock.advance(20s);
    ASSERT_TRUE(breaker.allow(now()));
    breaker.on_failure(now());
    EXPECT_EQ(breaker.cool_down(), 25s) << "capped";
    clock.advance(25s);
    ASSERT_TRUE(breaker.allow(now()));
    breaker.on_success();
    EXPECT_EQ(breaker.state(), BreakerState::closed);
    EXPECT_EQ(breaker.cool_down(), 10s);
    EXPECT_TRUE(breaker.allow(now()));
    EXPECT_TRUE(breaker.allow(now()));
}

TEST(CircuitBreakerTest, LateFailuresOfRequestsSentBeforeItOpenedDoNotExtendIt) {
    FakeClock clock;
    CircuitBreaker breaker{{.failure_threshold = 2, .cool_down = 10s}};
    breaker.on_failure(clock.steady_now());
    breaker.on_failure(clock.steady_now());
    const auto reopens = breaker.reopens_at();
    clock.advance(5s);
    breaker.on_failure(clock.steady_now());
    EXPECT_EQ(breaker.reopens_at(), reopens);
}

TEST(CircuitBreakerTest, AnAbandonedProbeMayBeSentAgain) {
    FakeClock clock;
    CircuitBreaker breaker{{.failure_threshold = 1, .cool_down = 1s}};
    breaker.on_failure(clock.steady_now());
    clock.advance(1s);
    ASSERT_TRUE(breaker.allow(clock.steady_now()));
    breaker.on_abandoned();
    EXPECT_TRUE(breaker.allow(clock.steady_now()));
}

TEST(JitteredBackoffTest, DelaysGrowToTheCapWithFullJitter) {
    std::mt19937_64 random{42};
    JitteredBackoff backoff{1s, 60s};
    const std::chrono::milliseconds ceilings[] = {2s, 4s, 8s, 16s, 32s, 60s, 60s};
    for (const auto ceiling : ceilings) {
        const auto delay = backoff.next(random);
        EXPECT_EQ(backoff.ceiling(), ceiling);
        EXPECT_GE(delay, 0ms);
        EXPECT_LE(delay, ceiling);
    }
    backoff.reset();
    EXPECT_EQ(backoff.failures(), 0u);
    backoff.next(random);
    EXPECT_EQ(backoff.ceiling(), 2s);
}

TEST(JitteredBackoffTest, JitterCoversTheWholeRange) {
    std::mt19937_64 random{7};
    std::set<std::int64_t> seconds;
    for (int i = 0; i < 2000; ++i) {
        JitteredBackoff backoff{5s, 10min};
        seconds.insert(backoff.next(random).count() / 1000); // ceiling 10 s
    }
    for (std::int64_t s = 0; s < 10; ++s) EXPECT_TRUE(seconds.contains(s)) << "no retry in second " << s;
}

} // namespace
} // namespace flowgate::resilience
