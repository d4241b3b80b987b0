// Redis goes away and comes back (scripts/services stop/start with this test's environment):
// messages published meanwhile are queued and arrive, in order, once the subscriber has
// re-subscribed on its own. Registered RUN_SERIAL: the script restarts every project service.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bus_test_support.hpp"
#include "child_process.hpp"
#include "flowgate/bus/redis_budget.hpp"
#include "flowgate/bus/redis_connection.hpp"
#include "flowgate/bus/redis_publisher.hpp"
#include "flowgate/bus/redis_subscriber.hpp"
#include "flowgate/bus/redis_url.hpp"

namespace flowgate::bus {
namespace {

using namespace std::chrono_literals;
using test::count_lines;
using test::run_until;

struct ServicesResult {
    std::optional<int> status;
    std::string output;
};

ServicesResult services(const std::string& command) {
    flowgate::test::TempDir dir;
    flowgate::test::ChildProcess child{FLOWGATE_SOURCE_DIR "/scripts/services", {command}, dir.path() / "out"};
    ServicesResult result;
    result.status = child.wait(120s);
    result.output = child.output();
    return result;
}

TEST(RedisRestart, QueuedMessagesArriveInOrderAfterRedisRestarts) {
    const auto url = test::redis_url_from_env();
    if (!url) GTEST_SKIP() << test::skip_message;
    const auto port = std::to_string(RedisUrl::parse(*url).port);
    // Stopping someone else's Redis (another run dir or port) would prove nothing.
    const auto status = services("status");
    ASSERT_NE(status.output.find("running  port=" + port), std::string::npos)
        << "scripts/services (FLOWGATE_RUN_DIR, FLOWGATE_REDIS_PORT from this environment) does not run the Redis of "
           "FLOWGATE_REDIS_URL="
        << *url << ":\n"
        << status.output;

    test::CapturedLog log;
    // Two loops, so the test decides who reconnects first: the subscriber must be back before
    // the publisher flushes, or Redis would have nobody to deliver to.
    boost::asio::io_context sub_loop;
    boost::asio::io_context pub_loop;
    const auto topic = test::unique_name("t");
    std::vector<std::string> got;
    RedisSubscriber sub{sub_loop, test::fast_config(*url, "sub"), log.logger};
    sub.set_handler([&](const std::string&, std::shared_ptr<const std::string> p) { got.push_back(test::event_of(*p)); });
    sub.subscribe(topic);
    RedisPublisherConfig config;
    config.connection = test::fast_config(*url, "pub");
    RedisPublisher pub{pub_loop, config, log.logger};
    sub.start();
    pub.start();
    const std::vector<boost::asio::io_context*> both{&sub_loop, &pub_loop};
    ASSERT_TRUE(run_until(both, [&] { return sub.stats().active_subscriptions == 1 && pub.connected(); }, 5s))
        << *log.text;
    pub.publish(topic, "", std::make_shared<const std::string>(R"({"m":"before"})"));
    ASSERT_TRUE(run_until(both, [&] { return got.size() == 1; }, 5s)) << *log.text;

    const auto stopped = services("stop");
    ASSERT_EQ(stopped.status, 0) << stopped.output;
    ASSERT_TRUE(run_until(both, [&] { return !sub.connected() && !pub.connected(); }, 10s)) << *log.text;

    constexpr int outage_messages = 200;
    for (int i = 0; i < outage_messages; ++i) {
        pub.publish(topic, "", std::make_shared<const std::string>(R"({"m":"during-)" + std::to_string(i) + R"("})"));
    }
    EXPECT_EQ(pub.stats().queued, static_cast<std::size_t>(outage_messages));

    const auto started = services("start");
    ASSERT_EQ(started.status, 0) << started.output;
    ASSERT_TRUE(run_until(sub_loop, [&] { return sub.stats().active_subscriptions == 1; }, 30s))
        << "the subscriber did not re-subscribe\n"
        << *log.text;
    ASSERT_TRUE(run_until(both, [&] { return got.size() == 1 + outage_messages; }, 30s))
        << "received " << got.size() - 1 << " of " << outage_messages << "\n"
        << *log.text;

    for (int i = 0; i < outage_messages; ++i) {
        ASSERT_EQ(got[1 + static_cast<std::size_t>(i)], R"({"m":"during-)" + std::to_string(i) + R"("})") << "out of order or lost";
    }
    ASSERT_TRUE(run_until(pub_loop, [&] { return pub.stats().queued == 0 && pub.stats().in_flight == 0; }, 5s));
    EXPECT_EQ(pub.stats().dropped, 0u);
    EXPECT_EQ(pub.stats().failed, 0u);
    EXPECT_EQ(pub.stats().published, 1u + outage_messages);
    // One warning and one recovery per connection, however many retries the outage took.
    for (const auto* who : {"sub", "pub"}) {
        const auto name = test::client_name(who) + "\"";
        EXPECT_EQ(count_lines(*log.text, {"\"level\":\"warn\"", name}), 1u) << who << "\n" << *log.text;
        EXPECT_EQ(count_lines(*log.text, {"\"level\":\"info\"", "connected to Redis", name}), 2u) << who;
    }
}

// Two instances share a key; Redis goes away: each spends from its own bucket at half the
// key's rate and burst, says so once, and shares again when Redis is back.
TEST(RedisRestart, WithoutRedisEachInstanceSpendsItsShareOfTheBudget) {
    const auto url = test::redis_url_from_env();
    if (!url) GTEST_SKIP() << test::skip_message;
    test::CapturedLog log;
    boost::asio::io_context loop;
    const auto key = test::unique_name("key");
    using resilience::TokenBucket;
    const auto now = std::chrono::steady_clock::now();
    RedisBudget a{loop, {test::fast_config(*url, "a"), "instance-a", 60s}, log.logger};
    RedisBudget b{loop, {test::fast_config(*url, "b"), "instance-b", 60s}, log.logger};
    TokenBucket bucket_a{{.rate = 10, .burst = 8}, now};
    TokenBucket bucket_b{{.rate = 10, .burst = 8}, now};
    a.start();
    b.start();
    ASSERT_TRUE(run_until(loop, [&] { return a.shared() && b.shared(); }, 5s)) << *log.text;
    int answers = 0;
    for (auto [budget, bucket] : {std::pair{&a, &bucket_a}, std::pair{&b, &bucket_b}}) {
        ASSERT_FALSE(budget->take(key, *bucket, [&](RedisBudget::Decision d) { answers += d.granted; }));
    }
    ASSERT_TRUE(run_until(loop, [&] { return answers == 2; }, 5s));
    // The first take of a may have run before b's: its second one finds both.
    ASSERT_FALSE(a.take(key, bucket_a, [&](RedisBudget::Decision d) { answers += d.granted; }));
    ASSERT_TRUE(run_until(loop, [&] { return answers == 3; }, 5s));
    EXPECT_DOUBLE_EQ(bucket_a.share(), 0.5);

    const auto stopped = services("stop");
    ASSERT_EQ(stopped.status, 0) << stopped.output;
    ASSERT_TRUE(run_until(loop, [&] { return !a.shared(); }, 10s)) << *log.text;
    int granted = 0;
    for (int i = 0; i < 20; ++i) {
        const auto d = a.take(key, bucket_a, [](RedisBudget::Decision) { ADD_FAILURE() << "decided at once"; });
        ASSERT_TRUE(d);
        granted += d->granted;
    }
    EXPECT_EQ(granted, 4) << "half of the burst of 8";
    EXPECT_EQ(count_lines(*log.text, {"\"level\":\"warn\"", "budget is this instance's share"}), 1u) << *log.text;

    const auto started = services("start");
    ASSERT_EQ(started.status, 0) << started.output;
    ASSERT_TRUE(run_until(loop, [&] { return a.shared(); }, 30s)) << *log.text;
    answers = 0;
    ASSERT_FALSE(a.take(key, bucket_a, [&](RedisBudget::Decision) { ++answers; }));
    ASSERT_TRUE(run_until(loop, [&] { return answers == 1; }, 5s));
    EXPECT_EQ(count_lines(*log.text, {"budgets are shared through Redis again"}), 1u) << *log.text;
}

// Redis stops answering (CLIENT PAUSE): a take is decided by the local share after the take
// timeout, not after Redis's reply timeout, and the late answer is ignored.
TEST(RedisRestart, AStalledRedisDoesNotStallTheBudget) {
    const auto url = test::redis_url_from_env();
    if (!url) GTEST_SKIP() << test::skip_message;
    test::CapturedLog log;
    boost::asio::io_context loop;
    RedisBudget budget{loop, {test::fast_config(*url, "stalled"), "instance-s", 60s, 300ms}, log.logger};
    RedisConnection admin{loop, test::fast_config(*url, "admin"), log.logger};
    budget.start();
    admin.start();
    ASSERT_TRUE(run_until(loop, [&] { return budget.shared() && admin.connected(); }, 5s)) << *log.text;
    using resilience::TokenBucket;
    TokenBucket bucket{{.rate = 10, .burst = 8}, std::chrono::steady_clock::now()};
    ASSERT_TRUE(test::call(loop, admin, {"CLIENT", "PAUSE", "1500", "ALL"}));

    int answers = 0;
    bool granted = false;
    const auto asked = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration took{};
    ASSERT_FALSE(budget.take(test::unique_name("key"), bucket, [&](RedisBudget::Decision d) {
        ++answers;
        granted = d.granted;
        took = std::chrono::steady_clock::now() - asked;
    }));
    ASSERT_TRUE(run_until(loop, [&] { return answers == 1; }, 5s));
    EXPECT_TRUE(granted) << "the local share has tokens";
    EXPECT_GE(took, 300ms);
    EXPECT_LT(took, 1000ms) << "decided at the take timeout, not when Redis answers";
    run_until(loop, [] { return false; }, 2s); // the pause ends, the late answer arrives
    EXPECT_EQ(answers, 1) << "the late answer is ignored";
    EXPECT_TRUE(budget.shared());
}

} // namespace
} // namespace flowgate::bus
