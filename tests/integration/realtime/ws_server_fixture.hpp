#pragma once

// A WsServer on port 0 running in a loop thread, for tests whose clients run in the test thread.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "flowgate/obs/logger.hpp"
#include "flowgate/realtime/hub.hpp"
#include "flowgate/realtime/topic_feed.hpp"
#include "flowgate/realtime/ws_server.hpp"

namespace flowgate::test {

using namespace std::chrono_literals;
using realtime::Hub;
using realtime::TopicFeed;
using realtime::TopicKind;
using realtime::WsServer;
using realtime::WsServerOptions;

inline const std::string community1 = "community:1:updates";

class RecordingFeed : public TopicFeed {
public:
    void subscribe(const std::string& topic) override { calls.push_back("subscribe " + topic); }
    void unsubscribe(const std::string& topic) override { calls.push_back("unsubscribe " + topic); }
    // Never called: this feed never confirms a subscription, so sessions never catch up.
    void replay(const std::string&, std::optional<std::uint64_t>, ReplayHandler) override {
        calls.push_back("replay");
    }

    std::vector<std::string> calls;  // touched on the loop thread only
};

/// Waits for `condition` with a deadline (polling), for effects that happen on the loop thread
/// after what the test can observe directly.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

/// Runs `f` on the thread running `ioc` and returns its result.
template <typename F>
auto run_on(boost::asio::io_context& ioc, F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task{std::move(f)};
    auto result = task.get_future();
    boost::asio::post(ioc, std::move(task));
    if (result.wait_for(10s) != std::future_status::ready) throw std::runtime_error{"the loop is stuck"};
    return result.get();
}

class WsServerTest : public ::testing::Test {
protected:
    virtual WsServerOptions server_options() const {
        WsServerOptions options;
        options.max_message_bytes = 1024;
        options.close_timeout = 10s;
        return options;
    }

    void SetUp() override {
        // Communities 1..3; nodes 1..3 are in community 1, nodes 4 and 5 in community 2.
        auto exists = [](TopicKind kind, std::int64_t id) -> std::optional<std::int64_t> {
            if (kind == TopicKind::community) return id >= 1 && id <= 3 ? std::optional{id} : std::nullopt;
            if (id >= 1 && id <= 3) return 1;
            if (id == 4 || id == 5) return 2;
            return std::nullopt;
        };
        auto log = flowgate::obs::make_string_logger(log_, flowgate::obs::LogLevel::debug,
                                                     flowgate::obs::LogFormat::text, "realtime");
        server_ = std::make_unique<WsServer>(ioc_, hub_, exists, log, server_options());
        port_ = server_->listen("127.0.0.1", 0);
        server_->start();
        loop_ = std::thread{[this] {
            ioc_.run();
            loop_done_.set_value();
        }};
    }

    void TearDown() override {
        if (!stopped_) on_loop([this] { server_->stop(); });
        EXPECT_TRUE(finish_loop(15s)) << "sessions still running 15 s after stop()";
        if (HasFailure()) std::cerr << "server log:\n" << *log_;
        server_.reset();
    }

    template <typename F>
    auto on_loop(F f) -> decltype(f()) {
        return run_on(ioc_, std::move(f));
    }

    std::size_t deliver(const std::string& topic, std::string text) {
        auto message = realtime::OutboundMessage::unsequenced(text);
        return on_loop([&] { return hub_.deliver(topic, message); });
    }

    std::vector<std::string> feed_calls() { return on_loop([this] { return feed_.calls; }); }
    std::size_t sinks(const std::string& topic) { return on_loop([&] { return hub_.sink_count(topic); }); }
    std::string server_log() { return on_loop([this] { return *log_; }); }

    /// Stops the server; the returned future is ready when stop()'s on_closed has run.
    std::future<void> stop_server() {
        auto closed = std::make_shared<std::promise<void>>();
        on_loop([&] { server_->stop([closed] { closed->set_value(); }); });
        stopped_ = true;
        return closed->get_future();
    }

    /// Lets the loop run out of work; true when it did within `timeout`.
    bool finish_loop(std::chrono::milliseconds timeout) {
        if (!loop_.joinable()) return true;
        work_.reset();
        const bool finished = loop_done_.get_future().wait_for(timeout) == std::future_status::ready;
        if (!finished) ioc_.stop();
        loop_.join();
        return finished;
    }

    boost::asio::io_context ioc_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{ioc_.get_executor()};
    RecordingFeed feed_;
    Hub hub_{feed_};
    std::shared_ptr<std::string> log_ = std::make_shared<std::string>();
    std::unique_ptr<WsServer> server_;
    unsigned short port_ = 0;
    std::thread loop_;
    std::promise<void> loop_done_;
    bool stopped_ = false;
};

} // namespace flowgate::test
