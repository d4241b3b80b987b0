// Publisher, subscriber and connection against the real Redis of FLOWGATE_REDIS_URL.
// Every test uses its own topics and client names: other tests share this Redis.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bus_test_support.hpp"
#include "redis_client_list.hpp"
#include "flowgate/bus/redis_connection.hpp"
#include "flowgate/bus/redis_publisher.hpp"
#include "flowgate/bus/redis_subscriber.hpp"
#include "flowgate/bus/redis_url.hpp"

namespace flowgate::bus {
namespace {

using namespace std::chrono_literals;
using test::count_lines;
using test::fast_config;
using test::run_until;

struct Received {
    std::string topic;
    std::shared_ptr<const std::string> payload;
};

class RedisBusTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto url = test::redis_url_from_env();
        if (!url) GTEST_SKIP() << test::skip_message;
        url_ = *url;
    }

    // A topic's state never expires: leave none behind.
    void TearDown() override {
        if (url_.empty()) return;
        RedisConnection admin{ioc_, fast_config(url_, "cleanup"), log_.logger};
        admin.start();
        if (run_until(ioc_, [&] { return admin.connected(); }, 5s)) test::delete_test_keys(ioc_, admin);
    }

    RedisPublisherConfig publisher_config(std::string_view name) {
        RedisPublisherConfig config;
        config.connection = fast_config(url_, name);
        return config;
    }

    std::unique_ptr<RedisSubscriber> make_subscriber(std::vector<Received>& into, std::string_view name = "sub") {
        auto sub = std::make_unique<RedisSubscriber>(ioc_, fast_config(url_, name), log_.logger);
        sub->set_handler([&into](const std::string& topic, std::shared_ptr<const std::string> payload) {
            into.push_back({topic, std::move(payload)});
        });
        return sub;
    }

    // Starts `sub` and waits until Redis has confirmed `topics` subscriptions.
    void start_and_wait(RedisSubscriber& sub, std::size_t topics) {
        sub.start();
        ASSERT_TRUE(run_until(ioc_, [&] { return sub.stats().active_subscriptions == topics; }, 5s)) << *log_.text;
    }

    // Drops the connections named client_name(who) on the Redis side (CLIENT KILL).
    void kill_clients(RedisConnection& admin, std::initializer_list<const char*> whos) {
        const auto clients = test::call(ioc_, admin, {"CLIENT", "LIST"});
        ASSERT_TRUE(clients);
        std::vector<std::string> ids;
        for (const auto* who : whos) {
            const auto name = test::client_name(who);
            const auto id = flowgate::test::client_id(clients->str, name);
            ASSERT_TRUE(id) << name << " not in\n" << clients->str;
            ids.push_back(*id);
        }
        for (const auto& id : ids) {
            const auto killed = test::call(ioc_, admin, {"CLIENT", "KILL", "ID", id});
            ASSERT_TRUE(killed && killed->integer == 1) << "CLIENT KILL ID " << id;
        }
    }

    std::unique_ptr<RedisConnection> make_admin() {
        auto admin = std::make_unique<RedisConnection>(ioc_, fast_config(url_, "admin"), log_.logger);
        admin->start();
        EXPECT_TRUE(run_until(ioc_, [&] { return admin->connected(); }, 5s)) << *log_.text;
        return admin;
    }

    static std::shared_ptr<const std::string> text(std::string s) {
        return std::make_shared<const std::string>(std::move(s));
    }

    // An event with one member, "m": the tests' unit of payload.
    static std::shared_ptr<const std::string> event(const std::string& m) { return text(R"({"m":")" + m + R"("})"); }

    // The "m" of a message published by event().
    static std::string m_of(const Received& r) {
        const auto e = test::event_of(*r.payload);
        if (!e.starts_with(R"({"m":")") || !e.ends_with(R"("})")) return "(no m: " + *r.payload + ")";
        return e.substr(6, e.size() - 8);
    }

    std::string url_;
    boost::asio::io_context ioc_;
    test::CapturedLog log_;
};

TEST_F(RedisBusTest, PublishedPayloadsArriveIntact) {
    const auto topic = test::unique_name("t");
    std::vector<Received> got;
    auto sub = make_subscriber(got);
    sub->subscribe(topic);
    start_and_wait(*sub, 1);

    std::string all_bytes;
    for (int c = 0; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
    all_bytes += std::string{"\0\r\n$3\r\n*1\r\n", 12};
    std::string mebibyte(1 << 20, '\0');
    std::mt19937 random{20260101};
    for (auto& c : mebibyte) c = static_cast<char>(random());
    // The script treats the event as bytes: nothing of it needs to be valid JSON but its braces.
    const std::vector<std::string> events{
        R"({"m":"hello"})",
        "{\"m\":\"\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87 \xf0\x9f\x92\xa7 \xc2\xbd\"}",
        "{\"b\":\"" + all_bytes + "\"}",
        "{}",
        "{\"r\":\"" + mebibyte + "\"}",
        R"({"m":"after the big one"})",
    };

    RedisPublisher pub{ioc_, publisher_config("pub"), log_.logger};
    pub.start();
    for (const auto& e : events) pub.publish(topic, "", text(e));

    ASSERT_TRUE(run_until(ioc_, [&] { return got.size() == events.size(); }, 10s))
        << "received " << got.size() << " of " << events.size() << "\n" << *log_.text;
    ASSERT_TRUE(got[0].payload);
    const auto epoch = test::epoch_of(*got[0].payload);
    for (std::size_t i = 0; i < events.size(); ++i) {
        EXPECT_EQ(got[i].topic, topic);
        ASSERT_TRUE(got[i].payload);
        const auto expected = test::sequenced(i + 1, epoch, events[i]);
        EXPECT_EQ(got[i].payload->size(), expected.size()) << "message " << i;
        EXPECT_TRUE(*got[i].payload == expected) << "message " << i << " differs";
    }
    ASSERT_TRUE(run_until(ioc_, [&] { return pub.stats().published == events.size(); }, 5s));
    EXPECT_EQ(pub.stats().queued, 0u);
    EXPECT_EQ(pub.stats().in_flight, 0u);
    EXPECT_EQ(pub.stats().dropped, 0u);
    EXPECT_EQ(pub.stats().failed, 0u);
    EXPECT_EQ(sub->stats().messages_received, events.size());
    EXPECT_EQ(sub->stats().topics, 1u);
}

TEST_F(RedisBusTest, SubscriptionsAreReferenceCounted) {
    const auto topic = test::unique_name("shared");
    const auto marker = test::unique_name("marker");
    std::vector<Received> got;
    // "localhost" also exercises resolving (and ::1 falling back to 127.0.0.1).
    auto localhost = RedisUrl::parse(url_);
    localhost.host = "localhost";
    auto config = fast_config(localhost.display(), "sub");
    RedisSubscriber sub{ioc_, config, log_.logger};
    sub.set_handler([&](const std::string& t, std::shared_ptr<const std::string> p) { got.push_back({t, std::move(p)}); });
    sub.subscribe(topic);
    sub.subscribe(topic);
    sub.subscribe(marker);
    EXPECT_EQ(sub.count(topic), 2u);
    start_and_wait(sub, 2);

    auto admin = make_admin();
    RedisPublisher pub{ioc_, publisher_config("pub"), log_.logger};
    pub.start();
    EXPECT_EQ(test::numsub(ioc_, *admin, topic), 1) << "two local subscribers share one Redis subscription";

    sub.unsubscribe(topic);
    EXPECT_EQ(sub.count(topic), 1u);
    pub.publish(topic, "", event("still subscribed"));
    ASSERT_TRUE(run_until(ioc_, [&] { return got.size() == 1; }, 5s)) << *log_.text;
    EXPECT_EQ(m_of(got[0]), "still subscribed");
    EXPECT_EQ(test::numsub(ioc_, *admin, topic), 1);

    sub.unsubscribe(topic);
    EXPECT_EQ(sub.count(topic), 0u);
    EXPECT_EQ(sub.stats().topics, 1u);
    ASSERT_TRUE(run_until(ioc_, [&] { return sub.stats().active_subscriptions == 1; }, 5s));
    EXPECT_EQ(test::numsub(ioc_, *admin, topic), 0) << "the last unsubscribe leaves Redis";

    // One publisher connection keeps order: had "gone" been delivered, it would arrive first.
    pub.publish(topic, "", event("gone"));
    pub.publish(marker, "", event("marker"));
    ASSERT_TRUE(run_until(ioc_, [&] { return got.size() == 2; }, 5s)) << *log_.text;
    EXPECT_EQ(got[1].topic, marker);
    EXPECT_EQ(m_of(got[1]), "marker");
    EXPECT_EQ(sub.stats().messages_received, 2u);

    // An unbalanced unsubscribe is a caller bug: logged, and it changes nothing.
    sub.unsubscribe(topic);
    EXPECT_EQ(count_lines(*log_.text, {"unsubscribe of a topic without subscriptions", topic}), 1u);
    EXPECT_EQ(sub.stats().topics, 1u);
}

TEST_F(RedisBusTest, MessagesOnOtherTopicsDoNotLeak) {
    const auto topic = test::unique_name("mine");
    std::vector<Received> got;
    auto sub = make_subscriber(got);
    sub->subscribe(topic);
    start_and_wait(*sub, 1);

    RedisPublisher pub{ioc_, publisher_config("pub"), log_.logger};
    pub.start();
    pub.publish(test::unique_name("other"), "", event("not for you"));
    pub.publish(topic + ":suffix", "", event("look-alike"));
    pub.publish(topic.substr(0, topic.size() - 1), "", event("prefix"));
    pub.publish(topic, "", event("yours"));

    ASSERT_TRUE(run_until(ioc_, [&] { return !got.empty(); }, 5s)) << *log_.text;
    ASSERT_TRUE(run_until(ioc_, [&] { return pub.stats().published == 4; }, 5s));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].topic, topic);
    EXPECT_EQ(m_of(got[0]), "yours");
}

TEST_F(RedisBusTest, FullQueueDropsTheOldestAndCountsIt) {
    const auto topic = test::unique_name("q");
    auto config = publisher_config("pub");
    config.queue_capacity = 3;
    RedisPublisher pub{ioc_, config, log_.logger};
    // Not started: everything waits in the queue.
    for (const auto* p : {"1", "2", "3", "4", "5"}) pub.publish(topic, "", event(p));
    EXPECT_EQ(pub.stats().queued, 3u);
    EXPECT_EQ(pub.stats().dropped, 2u);
    EXPECT_EQ(pub.stats().published, 0u);
    // One warning at once; the second drop, within the interval, is not a line of its own.
    EXPECT_EQ(count_lines(*log_.text, {"\"level\":\"warn\"", "dropped the oldest", "\"dropped\":1"}), 1u);
    EXPECT_EQ(count_lines(*log_.text, {"dropped the oldest"}), 1u);

    std::vector<Received> got;
    auto sub = make_subscriber(got);
    sub->subscribe(topic);
    start_and_wait(*sub, 1);
    pub.start();
    ASSERT_TRUE(run_until(ioc_, [&] { return got.size() == 3; }, 5s)) << *log_.text;
    EXPECT_EQ(m_of(got[0]), "3");
    EXPECT_EQ(m_of(got[1]), "4");
    EXPECT_EQ(m_of(got[2]), "5");
    ASSERT_TRUE(run_until(ioc_, [&] { return pub.stats().published == 3; }, 5s));
    EXPECT_EQ(pub.stats().queued, 0u);
    EXPECT_EQ(pub.stats().dropped, 2u);
}

TEST_F(RedisBusTest, BadConfigurationIsAClearError) {
    const auto error_of = [&](auto make) -> std::string {
        try {
            make();
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return "(no error)";
    };
    RedisPublisherConfig pub_config;
    pub_config.connection.url = "http://127.0.0.1:6379";
    EXPECT_NE(error_of([&] { RedisPublisher{ioc_, pub_config, log_.logger}; }).find("unsupported scheme 'http://'"),
              std::string::npos);

    RedisConnectionConfig sub_config;
    sub_config.url = "redis://:T0p-S3cret@127.0.0.1:99999";
    const auto message = error_of([&] { RedisSubscriber{ioc_, sub_config, log_.logger}; });
    EXPECT_NE(message.find("port '99999' is not a number from 1 to 65535"), std::string::npos) << message;
    EXPECT_EQ(message.find("T0p-S3cret"), std::string::npos) << message;

    sub_config.url = url_;
    sub_config.client_name = "has space";
    EXPECT_NE(error_of([&] { RedisConnection{ioc_, sub_config, log_.logger}; }).find("client_name"), std::string::npos);

    pub_config.connection.url = url_;
    pub_config.queue_capacity = 0;
    EXPECT_NE(error_of([&] { RedisPublisher{ioc_, pub_config, log_.logger}; }).find("queue_capacity"), std::string::npos);
    EXPECT_EQ(log_.text->find("T0p-S3cret"), std::string::npos);
}

TEST_F(RedisBusTest, PasswordNeverAppearsInLogs) {
    const std::string password = "Sup3r-S3cret-" + std::to_string(::getpid());
    auto url = RedisUrl::parse(url_);
    // This Redis has no password for the default user and no such ACL user: AUTH fails.
    auto config = publisher_config("pub");
    config.connection.url = "redis://:" + password + "@" + url.display().substr(8);
    RedisPublisher pub{ioc_, config, log_.logger};
    auto user_config = publisher_config("pub-user");
    user_config.connection.url = "redis://nobody-" + std::to_string(::getpid()) + ":" + password + "@" +
                                 url.display().substr(8);
    RedisPublisher user_pub{ioc_, user_config, log_.logger};
    pub.start();
    user_pub.start();
    pub.publish(test::unique_name("t"), "", event("queued"));

    // Three attempts each: the first failure warns, the retries log at debug.
    ASSERT_TRUE(run_until(ioc_, [&] { return count_lines(*log_.text, {"cannot connect", "\"attempt\":3"}) >= 2; }, 10s))
        << *log_.text;
    EXPECT_FALSE(pub.connected());
    EXPECT_FALSE(user_pub.connected());
    EXPECT_EQ(pub.stats().queued, 1u);
    EXPECT_GE(count_lines(*log_.text, {"AUTH:", test::client_name("pub\"")}), 1u) << *log_.text;
    EXPECT_GE(count_lines(*log_.text, {"AUTH:", test::client_name("pub-user")}), 1u) << *log_.text;
    EXPECT_EQ(count_lines(*log_.text, {"\"level\":\"warn\"", "cannot connect", test::client_name("pub\"")}), 1u);
    EXPECT_EQ(log_.text->find(password), std::string::npos) << *log_.text;
}

TEST_F(RedisBusTest, AclUserAuthenticatesAndSelectsTheDatabase) {
    auto admin = make_admin();
    const auto user = test::client_name("acl");
    const std::string password = "p@ss/" + std::to_string(::getpid());
    const std::string encoded = "p%40ss%2F" + std::to_string(::getpid());
    const auto created = test::call(ioc_, *admin, {"ACL", "SETUSER", user, "reset", "on", ">" + password, "~*", "&*", "+@all"});
    if (!created || created->type == RedisReply::Type::error) GTEST_SKIP() << "this Redis has no ACL users";

    auto url = RedisUrl::parse(url_);
    const auto base = "redis://" + user + ":" + encoded + "@" + url.display().substr(8);
    const auto topic = test::unique_name("acl");
    std::vector<Received> got;
    RedisSubscriber sub{ioc_, fast_config(base + "/2", "sub"), log_.logger};
    sub.set_handler([&](const std::string& t, std::shared_ptr<const std::string> p) { got.push_back({t, std::move(p)}); });
    sub.subscribe(topic);
    start_and_wait(sub, 1);
    RedisPublisher::Stats stats;
    {
        RedisPublisherConfig config;
        config.connection = fast_config(base + "/3", "pub");
        RedisPublisher pub{ioc_, config, log_.logger};
        pub.start();
        pub.publish(topic, "", event("authenticated"));
        EXPECT_TRUE(run_until(ioc_, [&] { return got.size() == 1; }, 5s)) << *log_.text;
        stats = pub.stats();
    }
    EXPECT_EQ(stats.published + stats.in_flight, 1u);
    test::call(ioc_, *admin, {"ACL", "DELUSER", user});
    EXPECT_EQ(log_.text->find(password), std::string::npos) << *log_.text;
    EXPECT_EQ(log_.text->find(encoded), std::string::npos) << *log_.text;
    EXPECT_NE(log_.text->find("/3\""), std::string::npos) << "the database is part of the logged URL";
}

TEST_F(RedisBusTest, ReconnectsAndResubscribesAfterTheConnectionIsKilled) {
    const auto topic = test::unique_name("t");
    std::vector<Received> got;
    auto sub = make_subscriber(got, "sub");
    sub->subscribe(topic);
    start_and_wait(*sub, 1);
    RedisPublisher pub{ioc_, publisher_config("pub"), log_.logger};
    pub.start();
    pub.publish(topic, "", event("before"));
    ASSERT_TRUE(run_until(ioc_, [&] { return got.size() == 1; }, 5s)) << *log_.text;

    auto admin = make_admin();
    kill_clients(*admin, {"sub", "pub"});

    const auto lost = [&](const char* who) {
        return count_lines(*log_.text, {"lost connection", test::client_name(who) + "\""});
    };
    const auto connects = [&](const char* who) {
        return count_lines(*log_.text, {"\"level\":\"info\"", "connected to Redis", test::client_name(who) + "\""});
    };
    ASSERT_TRUE(run_until(ioc_, [&] { return lost("sub") == 1 && lost("pub") == 1; }, 5s)) << *log_.text;
    ASSERT_TRUE(run_until(
        ioc_, [&] { return connects("sub") == 2 && connects("pub") == 2 && sub->stats().active_subscriptions == 1; },
        5s))
        << *log_.text;
    pub.publish(topic, "", event("after"));
    ASSERT_TRUE(run_until(ioc_, [&] { return got.size() == 2; }, 5s)) << *log_.text;
    EXPECT_EQ(m_of(got[1]), "after");
    // One warning per outage, not one per event.
    EXPECT_EQ(count_lines(*log_.text, {"\"level\":\"warn\"", test::client_name("sub") + "\""}), 1u) << *log_.text;
}

TEST_F(RedisBusTest, TopicStateFollowsConfirmationsAndTheConnection) {
    const auto a = test::unique_name("a");
    const auto b = test::unique_name("b");
    const auto late = test::unique_name("late");
    std::vector<Received> got;
    auto sub = make_subscriber(got, "sub");
    std::vector<std::pair<std::string, bool>> events;
    sub->set_topic_state_handler([&](const std::string& topic, bool subscribed) {
        events.emplace_back(topic, subscribed);
        // The handler may change the subscriptions it is being told about.
        if (topic == a && subscribed && sub->count(late) == 0) sub->subscribe(late);
        if (topic == b && !subscribed) sub->unsubscribe(b);
    });
    sub->subscribe(a);
    sub->subscribe(b);
    EXPECT_FALSE(sub->subscribed(a)) << "not before Redis confirms it";
    start_and_wait(*sub, 3);
    using Events = std::vector<std::pair<std::string, bool>>;
    EXPECT_EQ(events, (Events{{a, true}, {b, true}, {late, true}}));
    EXPECT_TRUE(sub->subscribed(a));
    EXPECT_TRUE(sub->subscribed(late));

    events.clear();
    auto admin = make_admin();
    kill_clients(*admin, {"sub"});
    ASSERT_TRUE(run_until(ioc_, [&] { return events.size() >= 3; }, 5s)) << *log_.text;
    EXPECT_EQ(events, (Events{{a, false}, {b, false}, {late, false}}));
    EXPECT_FALSE(sub->subscribed(a));
    EXPECT_FALSE(sub->subscribed(late));
    EXPECT_EQ(sub->count(b), 0u);

    events.clear();
    ASSERT_TRUE(run_until(ioc_, [&] { return events.size() >= 2 && sub->stats().active_subscriptions == 2; }, 5s))
        << *log_.text;
    EXPECT_EQ(events, (Events{{a, true}, {late, true}})) << "b was unsubscribed while the connection was down";
    EXPECT_TRUE(sub->subscribed(a));
    EXPECT_FALSE(sub->subscribed(b));

    // An UNSUBSCRIBE confirmation clears the state, without a call.
    sub->unsubscribe(late);
    ASSERT_TRUE(run_until(ioc_, [&] { return sub->stats().active_subscriptions == 1; }, 5s)) << *log_.text;
    EXPECT_FALSE(sub->subscribed(late));
    EXPECT_TRUE(sub->subscribed(a));
    EXPECT_EQ(events.size(), 2u);

    // Stopping loses the connection too; destroying the subscriber calls nothing.
    sub->stop();
    EXPECT_EQ(events.back(), (std::pair<std::string, bool>{a, false}));
    events.clear();
    sub->start();
    ASSERT_TRUE(run_until(ioc_, [&] { return !events.empty(); }, 5s)) << *log_.text;
    sub.reset();
    ioc_.poll();
    EXPECT_EQ(events, (Events{{a, true}}));
}

TEST_F(RedisBusTest, ServerThatNeverAnswersTimesOutAndRetries) {
    // Accepted by the kernel's backlog, never read: TCP connects, PING gets no answer.
    boost::asio::ip::tcp::acceptor silent{ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}};
    RedisPublisherConfig config;
    config.connection = fast_config("redis://127.0.0.1:" + std::to_string(silent.local_endpoint().port()), "pub");
    config.connection.connect_timeout = 200ms;
    RedisPublisher pub{ioc_, config, log_.logger};
    pub.start();
    ASSERT_TRUE(run_until(ioc_, [&] { return count_lines(*log_.text, {"no answer within 200 ms", "\"attempt\":3"}) == 1; },
                          10s))
        << *log_.text;
    EXPECT_FALSE(pub.connected());
    EXPECT_EQ(count_lines(*log_.text, {"\"level\":\"warn\""}), 1u) << *log_.text;
    EXPECT_EQ(count_lines(*log_.text, {"\"level\":\"info\""}), 0u) << *log_.text;
}

TEST_F(RedisBusTest, RefusedConnectionsLogOneWarningThenDebug) {
    // Bound but not listening: every connect is refused, and the port stays ours.
    boost::asio::ip::tcp::socket closed{ioc_};
    closed.open(boost::asio::ip::tcp::v4());
    closed.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
    RedisConnection connection{ioc_, fast_config("redis://127.0.0.1:" + std::to_string(closed.local_endpoint().port()), "c"),
                               log_.logger};
    connection.start();
    ASSERT_TRUE(run_until(ioc_, [&] { return count_lines(*log_.text, {"cannot connect", "\"attempt\":5"}) == 1; }, 10s))
        << *log_.text;
    EXPECT_EQ(count_lines(*log_.text, {"\"level\":\"warn\"", "cannot connect", "\"attempt\":1"}), 1u) << *log_.text;
    EXPECT_EQ(count_lines(*log_.text, {"\"level\":\"debug\"", "cannot connect"}), 4u) << *log_.text;
    EXPECT_FALSE(connection.command({"PING"}));
}

TEST_F(RedisBusTest, HandlerMayDestroyTheSubscriber) {
    const auto topic = test::unique_name("t");
    std::vector<Received> got;
    auto sub = make_subscriber(got);
    sub->subscribe(topic);
    start_and_wait(*sub, 1);
    sub->set_handler([&](const std::string& t, std::shared_ptr<const std::string> p) {
        got.push_back({t, std::move(p)});
        sub.reset();
    });
    RedisPublisher pub{ioc_, publisher_config("pub"), log_.logger};
    pub.start();
    for (const auto* p : {"1", "2", "3"}) pub.publish(topic, "", event(p));
    ASSERT_TRUE(run_until(ioc_, [&] { return pub.stats().published == 3; }, 5s)) << *log_.text;
    ioc_.poll(); // what the destroyed subscriber left queued runs without it (ASan watches)
    EXPECT_EQ(got.size(), 1u);
    EXPECT_FALSE(sub);
}

TEST_F(RedisBusTest, ObjectsMayBeDestroyedFromHandlersAndMidTraffic) {
    auto connection = std::make_unique<RedisConnection>(ioc_, fast_config(url_, "c"), log_.logger);
    bool ready = false;
    connection->set_ready_handler([&] {
        ready = true;
        connection.reset(); // from inside hiredis's reply callback
    });
    connection->start();
    ASSERT_TRUE(run_until(ioc_, [&] { return ready; }, 5s)) << *log_.text;
    EXPECT_FALSE(connection);

    const auto topic = test::unique_name("t");
    std::vector<Received> got;
    auto sub = make_subscriber(got);
    sub->subscribe(topic);
    start_and_wait(*sub, 1);
    auto pub = std::make_unique<RedisPublisher>(ioc_, publisher_config("pub"), log_.logger);
    pub->start();
    const auto payload = event(std::string(64 * 1024, 'x'));
    for (int i = 0; i < 200; ++i) pub->publish(topic, "", payload);
    ASSERT_TRUE(run_until(ioc_, [&] { return !got.empty(); }, 5s)) << *log_.text;
    // The first 200 may all be answered by now; these cannot be, since the loop has not run.
    for (int i = 0; i < 20; ++i) pub->publish(topic, "", payload);
    ASSERT_GE(pub->stats().in_flight + pub->stats().queued, 20u);
    pub.reset(); // with commands in flight
    sub.reset(); // with messages on the wire
    ioc_.poll(); // what they left queued runs without them (ASan watches)
    EXPECT_EQ(count_lines(*log_.text, {"destroyed with unsent messages"}), 1u);
}

TEST_F(RedisBusTest, StopKeepsTopicsAndQueueForTheNextStart) {
    const auto topic = test::unique_name("t");
    std::vector<Received> got;
    auto sub = make_subscriber(got);
    sub->subscribe(topic);
    start_and_wait(*sub, 1);
    RedisPublisher pub{ioc_, publisher_config("pub"), log_.logger};
    pub.start();
    ASSERT_TRUE(run_until(ioc_, [&] { return pub.connected(); }, 5s));

    sub->stop();
    pub.stop();
    EXPECT_FALSE(sub->connected());
    EXPECT_EQ(sub->stats().active_subscriptions, 0u);
    pub.publish(topic, "", event("while stopped"));
    EXPECT_EQ(pub.stats().queued, 1u);

    start_and_wait(*sub, 1);
    pub.start();
    ASSERT_TRUE(run_until(ioc_, [&] { return got.size() == 1; }, 5s)) << *log_.text;
    EXPECT_EQ(m_of(got[0]), "while stopped");
}

// A "Redis" that completes the handshake and then never answers, to exercise the reply
// deadline, which a real Redis cannot be made to miss without stalling every other test.
class MuteRedis {
public:
    explicit MuteRedis(boost::asio::io_context& ioc) : acceptor_{ioc, {boost::asio::ip::make_address("127.0.0.1"), 0}} {
        do_accept();
    }

    unsigned short port() const { return acceptor_.local_endpoint().port(); }
    std::size_t connections() const { return sessions_.size(); }
    std::size_t count(std::string_view needle) const {
        std::size_t n = 0;
        for (auto at = received_.find(needle); at != std::string::npos; at = received_.find(needle, at + 1)) ++n;
        return n;
    }

private:
    struct Session {
        explicit Session(boost::asio::ip::tcp::socket s) : socket{std::move(s)} {}
        boost::asio::ip::tcp::socket socket;
        std::array<char, 4096> buffer{};
        std::string data;
        bool greeted = false;
    };

    void do_accept() {
        acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket socket) {
            if (ec) return;
            sessions_.push_back(std::make_shared<Session>(std::move(socket)));
            do_read(sessions_.back());
            do_accept();
        });
    }

    void do_read(const std::shared_ptr<Session>& session) {
        session->socket.async_read_some(boost::asio::buffer(session->buffer),
                                        [this, session](boost::system::error_code ec, std::size_t n) {
                                            if (ec) return;
                                            received_.append(session->buffer.data(), n);
                                            session->data.append(session->buffer.data(), n);
                                            // CLIENT SETNAME and PING: answer both, then nothing more.
                                            if (!session->greeted && session->data.find("PING\r\n") != std::string::npos) {
                                                session->greeted = true;
                                                boost::asio::async_write(session->socket, boost::asio::buffer(greeting_),
                                                                         [session](auto, auto) {});
                                            }
                                            do_read(session);
                                        });
    }

    static constexpr std::string_view greeting_ = "+OK\r\n+PONG\r\n";
    boost::asio::ip::tcp::acceptor acceptor_;
    std::vector<std::shared_ptr<Session>> sessions_;
    std::string received_;
};

TEST(RedisReplyDeadline, UnansweredPublishIsSentAgainAfterReconnecting) {
    boost::asio::io_context ioc;
    test::CapturedLog log;
    MuteRedis mute{ioc};
    RedisPublisherConfig config;
    config.connection = fast_config("redis://127.0.0.1:" + std::to_string(mute.port()), "pub");
    config.connection.reply_timeout = 200ms;
    RedisPublisher pub{ioc, config, log.logger};
    pub.start();
    pub.publish("deadline", "", std::make_shared<const std::string>(R"({"m":"unanswered"})"));

    ASSERT_TRUE(run_until(ioc, [&] { return pub.stats().in_flight == 1; }, 5s)) << *log.text;
    ASSERT_TRUE(run_until(ioc, [&] { return count_lines(*log.text, {"lost connection", "no reply to 2 command(s) within 200 ms"}) == 1; },
                          5s))
        << *log.text;
    // Put back in the queue, not lost and not counted as published.
    EXPECT_EQ(pub.stats().queued + pub.stats().in_flight, 1u);
    EXPECT_EQ(pub.stats().published, 0u);
    EXPECT_EQ(pub.stats().dropped, 0u);
    ASSERT_TRUE(run_until(ioc, [&] { return mute.count("unanswered") == 2; }, 5s)) << *log.text;
    EXPECT_EQ(mute.connections(), 2u);
}

} // namespace
} // namespace flowgate::bus
