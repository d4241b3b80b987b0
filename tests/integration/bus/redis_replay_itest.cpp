// Sequenced publishing (seq, epoch, dedupe, replay stream) and RedisReplayReader against the
// real Redis of FLOWGATE_REDIS_URL. Every test uses its own topics and client names.

#include <boost/asio/ip/tcp.hpp>

#include <gtest/gtest.h>

#include <charconv>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bus_test_support.hpp"
#include "flowgate/bus/redis_connection.hpp"
#include "flowgate/bus/redis_publisher.hpp"
#include "flowgate/bus/redis_replay_reader.hpp"
#include "flowgate/bus/redis_subscriber.hpp"

namespace flowgate::bus {
namespace {

using namespace std::chrono_literals;
using test::count_lines;
using test::epoch_of;
using test::fast_config;
using test::run_until;
using test::seq_of;
using test::sequenced;

class RedisReplayTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto url = test::redis_url_from_env();
        if (!url) GTEST_SKIP() << test::skip_message;
        url_ = *url;
        admin_ = std::make_unique<RedisConnection>(ioc_, fast_config(url_, "admin"), log_.logger);
        admin_->start();
        ASSERT_TRUE(run_until(ioc_, [&] { return admin_->connected(); }, 5s)) << *log_.text;
    }

    // A topic's state never expires: leave none behind.
    void TearDown() override {
        if (admin_ && admin_->connected()) test::delete_test_keys(ioc_, *admin_);
    }

    RedisPublisherConfig publisher_config(std::string_view name = "pub") {
        RedisPublisherConfig config;
        config.connection = fast_config(url_, name);
        config.replay_ttl = 300s;
        return config;
    }

    // Subscribes to `topics`, collecting what arrives in `into` (one vector per topic).
    std::unique_ptr<RedisSubscriber> subscribe(const std::vector<std::string>& topics,
                                               std::vector<std::vector<std::string>>& into) {
        into.resize(topics.size());
        auto sub = std::make_unique<RedisSubscriber>(ioc_, fast_config(url_, "sub"), log_.logger);
        sub->set_handler([topics, &into](const std::string& topic, std::shared_ptr<const std::string> payload) {
            for (std::size_t i = 0; i < topics.size(); ++i) {
                if (topics[i] == topic) into[i].push_back(*payload);
            }
        });
        for (const auto& topic : topics) sub->subscribe(topic);
        sub->start();
        EXPECT_TRUE(run_until(ioc_, [&] { return sub->stats().active_subscriptions == topics.size(); }, 5s))
            << *log_.text;
        return sub;
    }

    std::unique_ptr<RedisReplayReader> make_reader(std::size_t max_messages = 10000,
                                                   std::chrono::milliseconds wait_timeout = 5s) {
        return std::make_unique<RedisReplayReader>(ioc_, fast_config(url_, "replay"), log_.logger, max_messages,
                                                   wait_timeout);
    }

    // One read, run to its completion.
    ReplayRead read(RedisReplayReader& reader, const std::string& topic, std::optional<std::uint64_t> after_seq) {
        // Shared: after a timeout the read may still complete, later.
        auto result = std::make_shared<std::optional<ReplayRead>>();
        reader.read(topic, after_seq, [result](ReplayRead r) { *result = std::move(r); });
        EXPECT_TRUE(run_until(ioc_, [&] { return result->has_value(); }, 5s)) << *log_.text;
        return result->value_or(ReplayRead{});
    }

    test::CopiedReply redis(std::initializer_list<std::string_view> args) {
        auto reply = test::call(ioc_, *admin_, args);
        EXPECT_TRUE(reply) << "no reply from Redis";
        return reply.value_or(test::CopiedReply{});
    }

    // The `m` fields of the stream's entries, and checks that entry ids are `<seq>-0`.
    std::vector<std::string> stream_messages(const std::string& topic) {
        std::vector<std::string> messages;
        for (const auto& entry : redis({"XRANGE", "fg:stream:{" + topic + "}", "-", "+"}).elements) {
            EXPECT_EQ(entry.elements.size(), 2u);
            if (entry.elements.size() != 2 || entry.elements[1].elements.size() != 2) continue;
            EXPECT_EQ(entry.elements[1].elements[0].str, "m");
            messages.push_back(entry.elements[1].elements[1].str);
            EXPECT_EQ(entry.elements[0].str, std::to_string(seq_of(messages.back())) + "-0");
        }
        return messages;
    }

    static std::shared_ptr<const std::string> text(std::string s) {
        return std::make_shared<const std::string>(std::move(s));
    }

    std::string url_;
    boost::asio::io_context ioc_;
    test::CapturedLog log_;
    std::unique_ptr<RedisConnection> admin_;
};

// An epoch is Redis's clock at the topic's first message: seconds, then six digits of µs.
void expect_fresh_epoch(const std::string& epoch) {
    ASSERT_EQ(epoch.size(), 16u) << epoch;
    std::int64_t seconds = 0;
    ASSERT_EQ(std::from_chars(epoch.data(), epoch.data() + 10, seconds).ec, std::errc{}) << epoch;
    EXPECT_EQ(epoch.find_first_not_of("0123456789"), std::string::npos) << epoch;
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    EXPECT_LT(std::abs(now - seconds), 60) << "epoch " << epoch << " is not Redis's time now";
}

TEST_F(RedisReplayTest, SeqCountsFromOnePerTopicAndMessagesCarrySeqAndEpochFirst) {
    const auto a = test::unique_name("a");
    const auto b = test::unique_name("b");
    std::vector<std::vector<std::string>> got;
    auto sub = subscribe({a, b}, got);
    RedisPublisher pub{ioc_, publisher_config(), log_.logger};
    pub.start();
    pub.publish(a, "", text(R"({"v":1})"));
    pub.publish(b, "", text(R"({"v":2,"unit":"m"})"));
    pub.publish(a, "", text("{}"));
    pub.publish(a, "", text(R"({"v":3,"w":[1,{"x":null}]})"));

    ASSERT_TRUE(run_until(ioc_, [&] { return got[0].size() == 3 && got[1].size() == 1; }, 5s)) << *log_.text;
    const auto epoch_a = epoch_of(got[0][0]);
    const auto epoch_b = epoch_of(got[1][0]);
    expect_fresh_epoch(epoch_a);
    expect_fresh_epoch(epoch_b);
    const std::vector<std::string> expected_a{
        sequenced(1, epoch_a, R"({"v":1})"),
        R"({"seq":2,"epoch":")" + epoch_a + R"("})",
        R"({"seq":3,"epoch":")" + epoch_a + R"(","v":3,"w":[1,{"x":null}]})",
    };
    EXPECT_EQ(got[0], expected_a);
    EXPECT_EQ(got[1], (std::vector<std::string>{R"({"seq":1,"epoch":")" + epoch_b + R"(","v":2,"unit":"m"})"}));

    // The replay stream holds exactly what subscribers got, under ids <seq>-0.
    EXPECT_EQ(stream_messages(a), expected_a);
    EXPECT_EQ(stream_messages(b), got[1]);
    EXPECT_EQ(redis({"HGET", "fg:topic:{" + a + "}", "seq"}).str, "3");
    EXPECT_EQ(redis({"HGET", "fg:topic:{" + a + "}", "epoch"}).str, epoch_a);
    ASSERT_TRUE(run_until(ioc_, [&] { return pub.stats().published == 4; }, 5s));
    EXPECT_EQ(pub.stats().duplicates, 0u);
    EXPECT_EQ(pub.stats().failed, 0u);
}

TEST_F(RedisReplayTest, SecondPublishWithTheSameDedupeIdIsANoOp) {
    const auto topic = test::unique_name("t");
    std::vector<std::vector<std::string>> got;
    auto sub = subscribe({topic}, got);
    RedisPublisher pub{ioc_, publisher_config(), log_.logger};
    pub.start();
    pub.publish(topic, "12:0:1", text(R"({"v":1})"));
    pub.publish(topic, "12:0:1", text(R"({"v":"again"})"));
    pub.publish(topic, "12:0:2", text(R"({"v":2})"));
    pub.publish(topic, "", text(R"({"v":3})"));
    pub.publish(topic, "", text(R"({"v":3})")); // no dedupe id: published every time
    ASSERT_TRUE(run_until(ioc_, [&] { return pub.stats().published == 5; }, 5s)) << *log_.text;
    EXPECT_EQ(pub.stats().duplicates, 1u);
    // A marker after them: had the duplicate been PUBLISHed, it would arrive before it.
    pub.publish(topic, "12:0:3", text(R"({"v":"marker"})"));
    ASSERT_TRUE(run_until(ioc_, [&] { return got[0].size() == 5; }, 5s)) << *log_.text;
    ASSERT_TRUE(run_until(ioc_, [&] { return pub.stats().published == 6; }, 5s));

    const auto epoch = epoch_of(got[0][0]);
    const std::vector<std::string> expected{
        sequenced(1, epoch, R"({"v":1})"), sequenced(2, epoch, R"({"v":2})"),
        sequenced(3, epoch, R"({"v":3})"), sequenced(4, epoch, R"({"v":3})"),
        sequenced(5, epoch, R"({"v":"marker"})"),
    };
    EXPECT_EQ(got[0], expected);
    EXPECT_EQ(stream_messages(topic), expected);
    EXPECT_EQ(redis({"GET", "fg:dedupe:{" + topic + "}:12:0:1"}).str, "1");
    EXPECT_EQ(redis({"GET", "fg:dedupe:{" + topic + "}:12:0:2"}).str, "2");
    EXPECT_EQ(pub.stats().duplicates, 1u);
    EXPECT_EQ(pub.stats().failed, 0u);
}

TEST_F(RedisReplayTest, StreamIsTrimmedToAboutReplayMaxMessages) {
    const auto topic = test::unique_name("t");
    auto config = publisher_config();
    config.replay_max_messages = 10;
    RedisPublisher pub{ioc_, config, log_.logger};
    pub.start();
    // MAXLEN ~ trims whole stream nodes only (100 entries each by default): publish well past one.
    constexpr std::uint64_t count = 300;
    for (std::uint64_t i = 1; i <= count; ++i) pub.publish(topic, "", text(R"({"i":)" + std::to_string(i) + "}"));
    ASSERT_TRUE(run_until(ioc_, [&] { return pub.stats().published == count; }, 10s)) << *log_.text;

    auto reader = make_reader();
    reader->start();
    const auto replay = read(*reader, topic, 0);
    ASSERT_TRUE(replay.ok) << replay.error;
    EXPECT_EQ(replay.head_seq, count);
    ASSERT_FALSE(replay.payloads.empty());
    EXPECT_LT(replay.payloads.size(), count);
    EXPECT_GE(replay.payloads.size(), 10u);
    const auto first = seq_of(replay.payloads.front());
    EXPECT_GT(first, 1u) << "nothing was trimmed";
    for (std::size_t i = 0; i < replay.payloads.size(); ++i) {
        const auto seq = first + i;
        EXPECT_EQ(replay.payloads[i], sequenced(seq, replay.epoch, R"({"i":)" + std::to_string(seq) + "}"));
    }
    EXPECT_EQ(seq_of(replay.payloads.back()), count);
}

TEST_F(RedisReplayTest, StreamAndDedupeRecordsExpireButTheTopicStateDoesNot) {
    const auto topic = test::unique_name("t");
    auto config = publisher_config();
    config.replay_ttl = 60s;
    RedisPublisher pub{ioc_, config, log_.logger};
    pub.start();
    pub.publish(topic, "n:1", text(R"({"v":1})"));
    ASSERT_TRUE(run_until(ioc_, [&] { return pub.stats().published == 1; }, 5s)) << *log_.text;

    for (const auto& key : {"fg:stream:{" + topic + "}", "fg:dedupe:{" + topic + "}:n:1"}) {
        const auto ttl = redis({"PTTL", key}).integer;
        EXPECT_GT(ttl, 0) << key;
        EXPECT_LE(ttl, 60000) << key;
    }
    EXPECT_EQ(redis({"PTTL", "fg:topic:{" + topic + "}"}).integer, -1) << "the topic's seq must outlive its stream";
}

TEST_F(RedisReplayTest, LostTopicStateStartsANewEpochFromSeqOne) {
    const auto topic = test::unique_name("t");
    std::vector<std::vector<std::string>> got;
    auto sub = subscribe({topic}, got);
    RedisPublisher pub{ioc_, publisher_config(), log_.logger};
    pub.start();
    pub.publish(topic, "", text(R"({"v":1})"));
    pub.publish(topic, "", text(R"({"v":2})"));
    ASSERT_TRUE(run_until(ioc_, [&] { return got[0].size() == 2; }, 5s)) << *log_.text;
    const auto old_epoch = epoch_of(got[0][0]);

    // What a Redis that lost its data (no persistence, a failover) looks like to the publisher.
    EXPECT_EQ(redis({"DEL", "fg:topic:{" + topic + "}", "fg:stream:{" + topic + "}"}).integer, 2);
    pub.publish(topic, "", text(R"({"v":3})"));
    ASSERT_TRUE(run_until(ioc_, [&] { return got[0].size() == 3; }, 5s)) << *log_.text;
    const auto new_epoch = epoch_of(got[0][2]);
    EXPECT_NE(new_epoch, old_epoch);
    expect_fresh_epoch(new_epoch);
    EXPECT_EQ(got[0][2], sequenced(1, new_epoch, R"({"v":3})"));
    EXPECT_EQ(stream_messages(topic), (std::vector<std::string>{got[0][2]}));
}

TEST_F(RedisReplayTest, LosingOnlyTheTopicStateDiscardsTheOldEpochsStream) {
    const auto topic = test::unique_name("t");
    std::vector<std::vector<std::string>> got;
    auto sub = subscribe({topic}, got);
    RedisPublisher pub{ioc_, publisher_config(), log_.logger};
    pub.start();
    for (const auto* v : {"1", "2", "3"}) pub.publish(topic, "", text(R"({"v":)" + std::string{v} + "}"));
    ASSERT_TRUE(run_until(ioc_, [&] { return got[0].size() == 3; }, 5s)) << *log_.text;

    // An evicted hash, its stream still there: seq 1 must not be refused for being below 3-0.
    EXPECT_EQ(redis({"DEL", "fg:topic:{" + topic + "}"}).integer, 1);
    pub.publish(topic, "", text(R"({"v":4})"));
    ASSERT_TRUE(run_until(ioc_, [&] { return got[0].size() == 4; }, 5s)) << *log_.text;
    const auto epoch = epoch_of(got[0][3]);
    EXPECT_NE(epoch, epoch_of(got[0][0]));
    EXPECT_EQ(got[0][3], sequenced(1, epoch, R"({"v":4})"));
    EXPECT_EQ(stream_messages(topic), (std::vector<std::string>{got[0][3]}));
    EXPECT_EQ(pub.stats().failed, 0u);
}

TEST_F(RedisReplayTest, HeldPublisherSendsNothingUntilReleasedThenEverythingInOrder) {
    const auto topic = test::unique_name("t");
    std::vector<std::vector<std::string>> got;
    auto sub = subscribe({topic}, got);
    RedisPublisher pub{ioc_, publisher_config(), log_.logger};
    pub.hold(true);
    pub.start();
    pub.publish(topic, "", text(R"({"v":1})"));
    ASSERT_TRUE(run_until(ioc_, [&] { return pub.connected(); }, 5s)) << *log_.text;
    pub.publish(topic, "", text(R"({"v":2})"));
    pub.publish(topic, "", text(R"({"v":3})"));
    // Sending is synchronous with publish() and with the connection becoming ready, so
    // nothing in flight means nothing was sent.
    EXPECT_EQ(pub.stats().in_flight, 0u);
    EXPECT_EQ(pub.stats().queued, 3u);
    EXPECT_EQ(redis({"EXISTS", "fg:topic:{" + topic + "}"}).integer, 0);
    EXPECT_TRUE(got[0].empty());

    pub.hold(false);
    ASSERT_TRUE(run_until(ioc_, [&] { return got[0].size() == 3; }, 5s)) << *log_.text;
    const auto epoch = epoch_of(got[0][0]);
    EXPECT_EQ(got[0], (std::vector<std::string>{sequenced(1, epoch, R"({"v":1})"), sequenced(2, epoch, R"({"v":2})"),
                                                sequenced(3, epoch, R"({"v":3})")}));

    // Held again while connected: the next message waits too.
    pub.hold(true);
    pub.publish(topic, "", text(R"({"v":4})"));
    EXPECT_EQ(pub.stats().in_flight, 0u);
    EXPECT_EQ(pub.stats().queued, 1u);
    pub.hold(false);
    ASSERT_TRUE(run_until(ioc_, [&] { return got[0].size() == 4; }, 5s)) << *log_.text;
    EXPECT_EQ(got[0][3], sequenced(4, epoch, R"({"v":4})"));
}

TEST_F(RedisReplayTest, PublishingSurvivesRedisForgettingTheScript) {
    const auto topic = test::unique_name("t");
    std::vector<std::vector<std::string>> got;
    auto sub = subscribe({topic}, got);
    RedisPublisher pub{ioc_, publisher_config(), log_.logger};
    pub.start();
    pub.publish(topic, "", text(R"({"v":1})"));
    ASSERT_TRUE(run_until(ioc_, [&] { return pub.stats().published == 1; }, 5s)) << *log_.text;

    // Other clients' scripts go too; flowgate's own publishers recover as this one does.
    EXPECT_EQ(redis({"SCRIPT", "FLUSH"}).str, "OK");
    for (const auto* v : {"2", "3", "4"}) pub.publish(topic, "", text(R"({"v":)" + std::string{v} + "}"));
    ASSERT_TRUE(run_until(ioc_, [&] { return got[0].size() == 4 && pub.stats().published == 4; }, 5s)) << *log_.text;
    const auto epoch = epoch_of(got[0][0]);
    for (std::uint64_t i = 0; i < 4; ++i) {
        EXPECT_EQ(got[0][i], sequenced(i + 1, epoch, R"({"v":)" + std::to_string(i + 1) + "}"));
    }
    EXPECT_EQ(pub.stats().failed, 0u);
    EXPECT_EQ(pub.stats().in_flight, 0u);
    // Once, unless a publisher of a test running beside this one (same Redis) loaded the
    // script again between the flush and these EVALSHAs: then none of them missed it.
    EXPECT_LE(count_lines(*log_.text, {"lost the publish script"}), 1u) << *log_.text;

    // And it uses the reloaded script from then on.
    pub.publish(topic, "", text(R"({"v":5})"));
    ASSERT_TRUE(run_until(ioc_, [&] { return got[0].size() == 5; }, 5s)) << *log_.text;
    EXPECT_EQ(got[0][4], sequenced(5, epoch, R"({"v":5})"));
}

TEST_F(RedisReplayTest, ReaderGivesEpochAndHeadAndTheMessagesAfterASeq) {
    const auto topic = test::unique_name("t");
    std::vector<std::vector<std::string>> got;
    auto sub = subscribe({topic}, got);
    RedisPublisher pub{ioc_, publisher_config(), log_.logger};
    pub.start();
    for (int i = 1; i <= 5; ++i) pub.publish(topic, "", text(R"({"i":)" + std::to_string(i) + "}"));
    ASSERT_TRUE(run_until(ioc_, [&] { return got[0].size() == 5; }, 5s)) << *log_.text;
    const auto epoch = epoch_of(got[0][0]);

    auto reader = make_reader();
    reader->start();
    const auto head = read(*reader, topic, std::nullopt);
    ASSERT_TRUE(head.ok) << head.error;
    EXPECT_EQ(head.epoch, epoch);
    EXPECT_EQ(head.head_seq, 5u);
    EXPECT_TRUE(head.payloads.empty()) << "no after_seq: epoch and head only";

    const auto after_two = read(*reader, topic, 2);
    ASSERT_TRUE(after_two.ok) << after_two.error;
    EXPECT_EQ(after_two.epoch, epoch);
    EXPECT_EQ(after_two.head_seq, 5u);
    EXPECT_EQ(after_two.payloads, (std::vector<std::string>{got[0].begin() + 2, got[0].end()}));

    EXPECT_EQ(read(*reader, topic, 0).payloads, got[0]);
    const auto caught_up = read(*reader, topic, 5);
    EXPECT_TRUE(caught_up.ok);
    EXPECT_TRUE(caught_up.payloads.empty());
    const auto past_everything = read(*reader, topic, std::numeric_limits<std::uint64_t>::max());
    EXPECT_TRUE(past_everything.ok);
    EXPECT_TRUE(past_everything.payloads.empty());

    // max_messages caps one read, oldest first.
    auto capped = make_reader(2);
    capped->start();
    EXPECT_EQ(read(*capped, topic, 1).payloads, (std::vector<std::string>{got[0][1], got[0][2]}));
}

TEST_F(RedisReplayTest, ReaderOnANeverPublishedTopicGivesNoEpochAndHeadZero) {
    auto reader = make_reader();
    reader->start();
    for (const auto after : {std::optional<std::uint64_t>{}, std::optional<std::uint64_t>{0}}) {
        const auto replay = read(*reader, test::unique_name("never"), after);
        ASSERT_TRUE(replay.ok) << replay.error;
        EXPECT_EQ(replay.epoch, "");
        EXPECT_EQ(replay.head_seq, 0u);
        EXPECT_TRUE(replay.payloads.empty());
    }
}

TEST_F(RedisReplayTest, ReadsAskedBeforeStartCompleteInOrderOnceConnected) {
    const auto topic = test::unique_name("t");
    RedisPublisher pub{ioc_, publisher_config(), log_.logger};
    pub.start();
    pub.publish(topic, "", text(R"({"v":1})"));
    ASSERT_TRUE(run_until(ioc_, [&] { return pub.stats().published == 1; }, 5s)) << *log_.text;

    auto reader = make_reader();
    std::vector<std::pair<int, ReplayRead>> done;
    for (int i = 0; i < 3; ++i) {
        reader->read(topic, i == 1 ? std::optional<std::uint64_t>{0} : std::nullopt,
                     [&done, i](ReplayRead r) { done.emplace_back(i, std::move(r)); });
    }
    EXPECT_TRUE(done.empty());
    reader->start();
    ASSERT_TRUE(run_until(ioc_, [&] { return done.size() == 3; }, 5s)) << *log_.text;
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(done[static_cast<std::size_t>(i)].first, i) << "out of order";
        EXPECT_TRUE(done[static_cast<std::size_t>(i)].second.ok) << done[static_cast<std::size_t>(i)].second.error;
        EXPECT_EQ(done[static_cast<std::size_t>(i)].second.head_seq, 1u);
    }
    EXPECT_EQ(done[1].second.payloads.size(), 1u);

    // Connected or not, read() itself never completes the read.
    bool called = false;
    reader->read(topic, std::nullopt, [&](ReplayRead) { called = true; });
    EXPECT_FALSE(called);
    ASSERT_TRUE(run_until(ioc_, [&] { return called; }, 5s));
}

TEST_F(RedisReplayTest, ReadWhileRedisIsUnreachableFailsWithinTheTimeout) {
    // Bound but not listening: every connect is refused, and the port stays ours.
    boost::asio::ip::tcp::socket closed{ioc_};
    closed.open(boost::asio::ip::tcp::v4());
    closed.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
    RedisReplayReader reader{ioc_, fast_config("redis://127.0.0.1:" + std::to_string(closed.local_endpoint().port()), "r"),
                             log_.logger, 10000, 200ms};
    reader.start();
    std::optional<ReplayRead> result;
    const auto asked = std::chrono::steady_clock::now();
    reader.read(test::unique_name("t"), 0, [&](ReplayRead r) { result = std::move(r); });
    ASSERT_TRUE(run_until(ioc_, [&] { return result.has_value(); }, 5s)) << *log_.text;
    const auto waited = std::chrono::steady_clock::now() - asked;
    EXPECT_GE(waited, 200ms);
    EXPECT_LT(waited, 2s);
    EXPECT_FALSE(result->ok);
    EXPECT_NE(result->error.find("within 200 ms"), std::string::npos) << result->error;
    EXPECT_EQ(result->head_seq, 0u);
    EXPECT_TRUE(result->payloads.empty());
}

TEST_F(RedisReplayTest, StopFailsPendingReadsAndDestructionCallsNothing) {
    const auto topic = test::unique_name("t");
    auto reader = make_reader();
    std::optional<ReplayRead> stopped;
    reader->read(topic, std::nullopt, [&](ReplayRead r) { stopped = std::move(r); });
    reader->stop();
    EXPECT_FALSE(stopped) << "not from inside stop()";
    ASSERT_TRUE(run_until(ioc_, [&] { return stopped.has_value(); }, 5s));
    EXPECT_FALSE(stopped->ok);
    EXPECT_NE(stopped->error.find("stopped"), std::string::npos) << stopped->error;

    // Destroyed from the handler of a read, with the next one answered or on its way.
    reader->start();
    ASSERT_TRUE(run_until(ioc_, [&] { return reader->connected(); }, 5s)) << *log_.text;
    int first = 0;
    int second = 0;
    reader->read(topic, 0, [&](ReplayRead) {
        ++first;
        reader.reset();
    });
    reader->read(topic, 0, [&](ReplayRead) { ++second; });
    ASSERT_TRUE(run_until(ioc_, [&] { return first == 1; }, 5s)) << *log_.text;
    redis({"PING"}); // time for the second reply to arrive, were it still going to be delivered
    ioc_.poll();
    EXPECT_EQ(second, 0);

    // Destroyed with a read in flight.
    auto other = make_reader();
    other->start();
    ASSERT_TRUE(run_until(ioc_, [&] { return other->connected(); }, 5s)) << *log_.text;
    other->read(topic, 0, [&](ReplayRead) { ++second; });
    other.reset();
    redis({"PING"});
    ioc_.poll();
    EXPECT_EQ(second, 0);
}

} // namespace
} // namespace flowgate::bus
