#pragma once

// The daemon's fan-out path in one process, on real Redis: RedisPublisher → Redis (seq, replay
// stream, PUBLISH) → RedisSubscriber → RedisFeed → Hub → WsServer, on one loop thread, with
// blocking WebSocket clients in the test thread.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <iostream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>

#include "flowgate/bus/redis_connection.hpp"
#include "flowgate/bus/redis_publisher.hpp"
#include "flowgate/bus/redis_reply.hpp"
#include "flowgate/bus/redis_replay_reader.hpp"
#include "flowgate/bus/redis_subscriber.hpp"
#include "flowgate/obs/logger.hpp"
#include "flowgate/realtime/hub.hpp"
#include "flowgate/realtime/ws_server.hpp"
#include "redis_client_list.hpp"
#include "redis_feed.hpp"
#include "ws_server_fixture.hpp"
#include "ws_test_client.hpp"

namespace flowgate::test {

using namespace std::chrono_literals;

/// One received message, parsed.
struct Received {
    std::string type;
    std::uint64_t seq = 0;
    std::string epoch;
    nlohmann::json event;
};

inline Received parse_received(const WsEvent& got) {
    Received r;
    r.event = nlohmann::json::parse(got.text);
    r.type = r.event.value("type", "");
    if (r.event.contains("seq")) r.seq = r.event.at("seq").get<std::uint64_t>();
    r.epoch = r.event.value("epoch", "");
    return r;
}

class PipelineTest : public ::testing::Test {
protected:
    void SetUp() override {
        const char* url = std::getenv("FLOWGATE_REDIS_URL");
        if (url == nullptr || *url == '\0') {
            GTEST_SKIP() << "FLOWGATE_REDIS_URL is not set: run scripts/test, or scripts/services start and "
                            "eval \"$(scripts/services env)\"";
        }
        url_ = url;
        // Unique per process and test, so that parallel tests never share a topic.
        community_ = 100'000'000 + (static_cast<std::int64_t>(::getpid()) % 100'000) * 100 + next_community_++;
        topic_ = "community:" + std::to_string(community_) + ":updates";
        path_ = "/ws/community/" + std::to_string(community_) + "/updates";

        log_text_ = std::make_shared<std::string>();
        log_ = obs::make_string_logger(log_text_, obs::LogLevel::debug, obs::LogFormat::text, "pipeline");
        bus::RedisPublisherConfig publisher_config;
        publisher_config.connection = connection("pub");
        publisher_config.replay_max_messages = replay_max_messages();
        publisher_ = std::make_unique<bus::RedisPublisher>(ioc_, publisher_config, log_);
        subscriber_ = std::make_unique<bus::RedisSubscriber>(ioc_, connection("sub"), log_);
        reader_ = std::make_unique<bus::RedisReplayReader>(ioc_, connection("replay"), log_);
        admin_ = std::make_unique<bus::RedisConnection>(ioc_, connection("admin"), log_);
        feed_ = std::make_unique<app::RedisFeed>(ioc_, *subscriber_, *reader_, *publisher_, log_, 2s);
        hub_ = std::make_unique<realtime::Hub>(*feed_);
        feed_->attach(*hub_);
        server_ = std::make_unique<realtime::WsServer>(ioc_, *hub_, [](realtime::TopicKind, std::int64_t) { return true; },
                                                       log_, server_options());
        port_ = server_->listen("127.0.0.1", 0);
        publisher_->start();
        subscriber_->start();
        reader_->start();
        admin_->start();
        server_->start();
        loop_ = std::thread{[this] { ioc_.run(); }};
    }

    void TearDown() override {
        if (!loop_.joinable()) return;
        on_loop([this] {
            admin_->command({"DEL", "fg:topic:{" + topic_ + "}", "fg:stream:{" + topic_ + "}"});
            server_->stop();
        });
        std::this_thread::sleep_for(100ms);  // lets the DEL and the close frames go out
        on_loop([this] {
            publisher_->stop();
            subscriber_->stop();
            reader_->stop();
            admin_->stop();
        });
        work_.reset();
        ioc_.stop();
        loop_.join();
        if (HasFailure()) std::cerr << "log:\n" << *log_text_;
    }

    virtual realtime::WsServerOptions server_options() const { return {}; }
    virtual std::size_t replay_max_messages() const { return 10'000; }

    bus::RedisConnectionConfig connection(std::string_view role) const {
        bus::RedisConnectionConfig config;
        config.url = url_;
        config.client_name = "fg-pipeline-" + std::to_string(::getpid()) + "-" + std::to_string(community_) + "-" +
                             std::string{role};
        config.connect_timeout = 1s;
        config.reconnect_initial = 20ms;
        config.reconnect_max = 250ms;
        return config;
    }

    /// Drops this test's connection(role) on the Redis side (CLIENT KILL ID): Redis is shared
    /// by tests running in parallel, so never by type. Returns when Redis has answered.
    void kill_connection(std::string_view role) {
        auto killed = std::make_shared<std::promise<std::string>>();
        auto done = killed->get_future();
        on_loop([this, killed, name = connection(role).client_name] {
            admin_->command({"CLIENT", "LIST"}, [this, killed, name](const bus::RedisReply* list) {
                const auto id = test::client_id(list == nullptr ? std::string_view{} : list->str(), name);
                if (!id) return killed->set_value(name + " not in CLIENT LIST");
                admin_->command({"CLIENT", "KILL", "ID", *id}, [killed, id = *id](const bus::RedisReply* reply) {
                    killed->set_value(reply != nullptr && reply->integer() == 1 ? "" : "CLIENT KILL ID " + id + " failed");
                });
            });
        });
        ASSERT_EQ(done.wait_for(5s), std::future_status::ready);
        ASSERT_EQ(done.get(), "");
    }

    template <typename F>
    auto on_loop(F f) -> decltype(f()) {
        return run_on(ioc_, std::move(f));
    }

    /// Publishes `count` events `{"type":"TEST","i":N}` to the test's topic from the loop, one
    /// every 0..max_gap (random), starting at `first`; the future is ready after the last.
    std::future<void> publish_paced(int first, int count, std::chrono::microseconds max_gap, unsigned seed) {
        auto done = std::make_shared<std::promise<void>>();
        auto future = done->get_future();
        struct Pacer : std::enable_shared_from_this<Pacer> {
            PipelineTest* test;
            boost::asio::steady_timer timer;
            std::mt19937 random;
            std::chrono::microseconds max_gap;
            int next, end;
            std::shared_ptr<std::promise<void>> done;
            Pacer(PipelineTest* t, std::mt19937 r, std::chrono::microseconds g, int n, int e, std::shared_ptr<std::promise<void>> d)
                : test{t}, timer{t->ioc_}, random{r}, max_gap{g}, next{n}, end{e}, done{std::move(d)} {}
            void step() {
                if (next == end) {
                    done->set_value();
                    return;
                }
                test->publish_now(next++);
                timer.expires_after(std::chrono::microseconds{random() % (max_gap.count() + 1)});
                timer.async_wait([self = shared_from_this()](const boost::system::error_code&) { self->step(); });
            }
        };
        boost::asio::post(ioc_, [this, first, count, max_gap, seed, done] {
            std::make_shared<Pacer>(this, std::mt19937{seed}, max_gap, first, first + count, done)->step();
        });
        return future;
    }

    /// Publishes event N now (loop thread only): `{"type":"TEST","i":N,"t":<steady ns>,"pad":"…"}`.
    void publish_now(int i) {
        const auto t = std::chrono::steady_clock::now().time_since_epoch().count();
        publisher_->publish(topic_, "", std::make_shared<const std::string>(R"({"type":"TEST","i":)" + std::to_string(i) +
                                                                             R"(,"t":)" + std::to_string(t) + R"(,"pad":")" +
                                                                             std::string(pad_bytes_, 'x') + R"("})"));
    }
    std::size_t pad_bytes_ = 0;

    /// Reads until a data message with seq >= `last_seq`, recording every message.
    static std::vector<Received> read_until_seq(WsTestClient& client, std::uint64_t last_seq,
                                                std::chrono::milliseconds timeout = 10s) {
        std::vector<Received> got;
        for (;;) {
            const auto event = client.read(timeout);
            if (event.kind != WsEvent::Kind::message) {
                ADD_FAILURE() << "stream ended before seq " << last_seq << ": " << event.describe();
                return got;
            }
            got.push_back(parse_received(event));
            if (got.back().seq >= last_seq) return got;
        }
    }

    std::string url_;
    std::int64_t community_ = 0;
    std::string topic_;
    std::string path_;
    inline static int next_community_ = 0;
    std::shared_ptr<std::string> log_text_;
    obs::Logger log_ = obs::make_string_logger(std::make_shared<std::string>(), obs::LogLevel::info,
                                               obs::LogFormat::text, "pipeline");
    boost::asio::io_context ioc_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{ioc_.get_executor()};
    std::unique_ptr<bus::RedisPublisher> publisher_;
    std::unique_ptr<bus::RedisSubscriber> subscriber_;
    std::unique_ptr<bus::RedisReplayReader> reader_;
    std::unique_ptr<bus::RedisConnection> admin_;
    std::unique_ptr<app::RedisFeed> feed_;
    std::unique_ptr<realtime::Hub> hub_;
    std::unique_ptr<realtime::WsServer> server_;
    unsigned short port_ = 0;
    std::thread loop_;
};

} // namespace flowgate::test
