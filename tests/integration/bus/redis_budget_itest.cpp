// The request budget of an API key shared by instances through a real Redis: together they
// stay within the key's rate, a Retry-After one of them got holds the others back, and an
// instance that cannot reach Redis spends from its own bucket.

#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "bus_test_support.hpp"
#include "flowgate/bus/redis_budget.hpp"

namespace flowgate::bus {
namespace {

using namespace std::chrono_literals;
using resilience::TokenBucket;
using test::count_lines;
using test::run_until;
using SteadyClock = std::chrono::steady_clock;

RedisBudgetOptions options_for(const std::string& url, const std::string& instance) {
    return {test::fast_config(url, instance), instance, 60s};
}

/// One instance taking from a key as fast as it may: a take in flight at a time, the next as
/// soon as the last one is answered (or at its retry time, when it said one).
/// Keeps `loop` waking every few milliseconds, so run_until() sees retry times pass.
struct Ticker {
    explicit Ticker(boost::asio::io_context& loop) : timer{loop} { tick(); }
    void tick() {
        timer.expires_after(5ms);
        timer.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) tick();
        });
    }
    boost::asio::steady_timer timer;
};

struct Taker {
    Taker(boost::asio::io_context& loop, const std::string& url, const std::string& instance, std::string key,
          TokenBucket::Time now, obs::Logger log)
        : budget{loop, options_for(url, instance), std::move(log)}, key{std::move(key)},
          bucket{{.rate = 20, .burst = 5}, now} {}

    void step() {
        if (in_flight || SteadyClock::now() < retry_at) return;
        const auto decided = budget.take(key, bucket, [this](RedisBudget::Decision d) {
            in_flight = false;
            on(d);
        });
        in_flight = !decided;
        if (decided) on(*decided);
    }
    void on(const RedisBudget::Decision& d) {
        granted += d.granted;
        retry_at = d.granted ? SteadyClock::time_point{} : d.retry_at;
    }

    RedisBudget budget;
    std::string key;
    TokenBucket bucket;
    bool in_flight = false;
    int granted = 0;
    SteadyClock::time_point retry_at{};
};

TEST(RedisBudget, TwoInstancesTogetherStayWithinTheKeysRate) {
    const auto url = test::redis_url_from_env();
    if (!url) GTEST_SKIP() << test::skip_message;
    test::CapturedLog log;
    boost::asio::io_context loop;
    const auto key = test::unique_name("key");
    const auto now = SteadyClock::now();
    Taker a{loop, *url, test::client_name("a"), key, now, log.logger};
    Taker b{loop, *url, test::client_name("b"), key, now, log.logger};
    a.budget.start();
    b.budget.start();
    ASSERT_TRUE(run_until(loop, [&] { return a.budget.shared() && b.budget.shared(); }, 5s)) << *log.text;
    Ticker ticker{loop};

    // 20/s and a burst of 5 for the key: each alone would get 5 + 40 in 2 s.
    const auto start = SteadyClock::now();
    run_until(loop, [&] {
        a.step();
        b.step();
        return SteadyClock::now() >= start + 2s;
    }, 5s);
    const auto total = a.granted + b.granted;
    std::cout << "granted in 2 s: " << a.granted << " + " << b.granted << " = " << total << "\n";
    EXPECT_LE(total, 5 + 40 + 1) << "together within the key's rate plus its burst";
    EXPECT_GE(total, 40) << "and the budget is spent, not lost in round trips";
    // Who gets a token is a race (here the one asked first each tick): only the sum is bounded.
    EXPECT_GE(a.granted, 1);
    EXPECT_GE(b.granted, 1);
    EXPECT_DOUBLE_EQ(a.bucket.share(), 0.5) << "Redis told each that two instances use the key";
    EXPECT_EQ(count_lines(*log.text, {"\"level\":\"warn\""}), 0u) << *log.text;

    boost::asio::io_context admin_loop;
    RedisConnection admin{admin_loop, test::fast_config(*url, "admin"), log.logger};
    admin.start();
    ASSERT_TRUE(run_until(admin_loop, [&] { return admin.connected(); }, 5s));
    const auto ttl = test::call(admin_loop, admin, {"PTTL", "fg:budget:{" + key + "}"});
    ASSERT_TRUE(ttl);
    EXPECT_GT(ttl->integer, 0) << "an idle key's bucket expires";
    EXPECT_LE(ttl->integer, 60'000 + 250);
    test::call(admin_loop, admin, {"DEL", "fg:budget:{" + key + "}", "fg:budget:{" + key + "}:users"});
}

TEST(RedisBudget, ARetryAfterOneInstanceGotHoldsTheOthersBack) {
    const auto url = test::redis_url_from_env();
    if (!url) GTEST_SKIP() << test::skip_message;
    test::CapturedLog log;
    boost::asio::io_context loop;
    const auto key = test::unique_name("key");
    Taker a{loop, *url, test::client_name("a"), key, SteadyClock::now(), log.logger};
    Taker b{loop, *url, test::client_name("b"), key, SteadyClock::now(), log.logger};
    a.budget.start();
    b.budget.start();
    ASSERT_TRUE(run_until(loop, [&] { return a.budget.shared() && b.budget.shared(); }, 5s)) << *log.text;
    Ticker ticker{loop};
    b.step();
    ASSERT_TRUE(run_until(loop, [&] { return b.granted == 1; }, 5s)) << "a fresh key has its burst";

    RedisConnection admin{loop, test::fast_config(*url, "admin"), log.logger};
    admin.start();
    ASSERT_TRUE(run_until(loop, [&] { return admin.connected(); }, 5s));
    const auto bucket_key = "fg:budget:{" + key + "}";
    const auto paused = [&] {
        const auto reply = test::call(loop, admin, {"HGET", bucket_key, "paused"});
        return reply ? reply->str : std::string{};
    };
    ASSERT_EQ(paused(), "0");

    a.budget.pause(key, a.bucket, 1500ms);
    const auto paused_at = SteadyClock::now();
    // a's pause and b's take go on two connections: b asks once Redis holds the pause.
    ASSERT_TRUE(run_until(loop, [&] { return paused() != "0"; }, 5s));
    b.step();
    ASSERT_TRUE(run_until(loop, [&] { return !b.in_flight; }, 5s));
    EXPECT_EQ(b.granted, 1) << "the pause reached the other instance";
    EXPECT_GE(b.retry_at, paused_at + 1400ms) << "and says when it ends";
    EXPECT_LE(b.retry_at, paused_at + 1500ms + 50ms + 200ms) << "the pause, then one token at 20/s";
    run_until(loop, [&] {
        b.step();
        return b.granted == 2;
    }, 5s);
    EXPECT_EQ(b.granted, 2);
    EXPECT_GE(SteadyClock::now(), paused_at + 1400ms);
    test::call(loop, admin, {"DEL", bucket_key, bucket_key + ":users"});
}

TEST(RedisBudget, WithoutRedisTheLocalBucketDecidesAndThatIsSaidOnce) {
    test::CapturedLog log;
    boost::asio::io_context loop;
    // Nothing listens on port 1.
    auto options = options_for("redis://127.0.0.1:1", test::client_name("lonely"));
    options.connection.connect_timeout = 100ms;
    RedisBudget budget{loop, options, log.logger};
    budget.start();
    TokenBucket bucket{{.rate = 1, .burst = 2}, SteadyClock::now()};
    const auto take = [&] {
        const auto d = budget.take("k", bucket, [](RedisBudget::Decision) { ADD_FAILURE() << "decided at once"; });
        EXPECT_TRUE(d.has_value());
        return d.value_or(RedisBudget::Decision{});
    };
    EXPECT_TRUE(take().granted);
    EXPECT_TRUE(take().granted);
    const auto denied = take();
    EXPECT_FALSE(denied.granted) << "the local burst is spent";
    EXPECT_GT(denied.retry_at, SteadyClock::now() + 900ms);
    EXPECT_EQ(count_lines(*log.text, {"budget"}), 0u) << "not news while the first connection is being tried";

    run_until(loop, [] { return false; }, 300ms);
    for (int i = 0; i < 5; ++i) take();
    EXPECT_EQ(count_lines(*log.text, {"\"level\":\"warn\"", "budget is this instance's share"}), 1u) << *log.text;
}

} // namespace
} // namespace flowgate::bus
