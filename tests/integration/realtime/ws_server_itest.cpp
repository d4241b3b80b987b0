// WsServer over real sockets: a server on port 0 in a loop thread, clients in the test thread.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "http_client.hpp"
#include "ws_server_fixture.hpp"
#include "ws_test_client.hpp"

using namespace std::chrono_literals;
using flowgate::realtime::WsServerOptions;
using flowgate::test::community1;
using flowgate::test::eventually;
using flowgate::test::HttpClient;
using flowgate::test::WsEvent;
using flowgate::test::WsServerTest;
using flowgate::test::WsTestClient;
using nlohmann::json;

TEST_F(WsServerTest, TwoClientsOfOneCommunityShareOneSubscription) {
    WsTestClient a{port_, "/ws/community/1/updates"};
    WsTestClient b{port_, "/ws/community/1/updates"};
    ASSERT_TRUE(a.upgraded()) << a.http_status() << " " << a.http_body();
    ASSERT_TRUE(b.upgraded());
    EXPECT_EQ(feed_calls(), std::vector<std::string>{"subscribe community:1:updates"});

    EXPECT_EQ(deliver(community1, R"({"seq":1})"), 2u);
    auto got_a = a.read();
    auto got_b = b.read();
    EXPECT_TRUE(got_a.is_message(R"({"seq":1})")) << got_a.describe();
    EXPECT_TRUE(got_b.is_message(R"({"seq":1})")) << got_b.describe();

    EXPECT_TRUE(eventually([&] { return server_->stats().messages_sent == 2; }));
    EXPECT_EQ(server_->stats().sessions_open, 2u);
    EXPECT_EQ(server_->stats().sessions_total, 2u);
}

TEST_F(WsServerTest, ANodeClientGetsOnlyItsOwnNode) {
    WsTestClient c{port_, "/ws/node/1/telemetry"};
    ASSERT_TRUE(c.upgraded());
    deliver(community1, "community");
    deliver("node:2:telemetry", "node 2");
    deliver("node:1:telemetry", "node 1");
    // Had either of the others reached this session, it would have been queued, and read, first.
    auto got = c.read();
    EXPECT_TRUE(got.is_message("node 1")) << got.describe();
}

TEST_F(WsServerTest, UnknownCommunityOrNodeIsRefusedWith404BeforeTheUpgrade) {
    WsTestClient community{port_, "/ws/community/9/updates"};
    EXPECT_FALSE(community.upgraded());
    EXPECT_EQ(community.http_status(), 404u);
    EXPECT_EQ(json::parse(community.http_body())["error"], "community 9 does not exist");

    WsTestClient node{port_, "/ws/node/42/telemetry"};
    EXPECT_EQ(node.http_status(), 404u);
    EXPECT_EQ(json::parse(node.http_body())["error"], "node 42 does not exist");

    EXPECT_TRUE(feed_calls().empty()) << "a refused client must not subscribe anything";
    EXPECT_EQ(server_->stats().sessions_total, 0u);
}

TEST_F(WsServerTest, MalformedPathsAre404SayingWhatIsWrong) {
    WsTestClient bad_id{port_, "/ws/community/abc/updates"};
    EXPECT_EQ(bad_id.http_status(), 404u);
    EXPECT_EQ(json::parse(bad_id.http_body())["error"], "bad community id 'abc': expected a positive integer");

    WsTestClient bad_kind{port_, "/ws/tank/1/updates"};
    EXPECT_EQ(bad_kind.http_status(), 404u);
    EXPECT_NE(bad_kind.http_body().find("/ws/community/{id}/updates"), std::string::npos) << bad_kind.http_body();

    auto other = HttpClient{"127.0.0.1", port_}.get("/index.html");
    EXPECT_EQ(other.status, 404u);
    EXPECT_EQ(json::parse(other.body)["error"], "no such path: /index.html");
}

TEST_F(WsServerTest, HealthzAnswersJsonAndTakesTheDaemonsBody) {
    HttpClient http{"127.0.0.1", port_};
    auto res = http.get("/healthz");
    EXPECT_EQ(res.status, 200u);
    EXPECT_EQ(res.headers["content-type"], "application/json");
    EXPECT_EQ(json::parse(res.body), json::parse(R"({"status":"ok"})"));

    on_loop([this] {
        server_->set_page("/healthz", [] { return flowgate::realtime::WsServer::Page{200, "application/json", R"({"status":"ok","sessions":0})"}; });
    });
    auto again = http.get("/healthz");  // same keep-alive connection
    EXPECT_EQ(json::parse(again.body)["sessions"], 0);
}

TEST_F(WsServerTest, PlainGetOfAStreamIs426) {
    auto res = HttpClient{"127.0.0.1", port_}.get("/ws/community/1/updates");
    EXPECT_EQ(res.status, 426u);
    EXPECT_EQ(res.headers["upgrade"], "websocket");
    EXPECT_FALSE(json::parse(res.body)["error"].get<std::string>().empty());
}

TEST_F(WsServerTest, AQueryStringDoesNotGetInTheWay) {
    WsTestClient c{port_, "/ws/community/2/updates?token=x&since=42&epoch=17"};
    ASSERT_TRUE(c.upgraded()) << c.http_status() << " " << c.http_body();
    deliver("community:2:updates", "after 42");
    auto got = c.read();
    EXPECT_TRUE(got.is_message("after 42")) << got.describe();
}

TEST_F(WsServerTest, TextPingIsAnsweredWithPongAndOtherMessagesAreIgnored) {
    WsTestClient c{port_, "/ws/community/1/updates"};
    c.send("hello");
    c.send("ping");
    auto got = c.read();
    EXPECT_TRUE(got.is_message("pong")) << got.describe();
}

TEST_F(WsServerTest, AnOversizedClientMessageClosesWith1009) {
    WsTestClient c{port_, "/ws/community/1/updates"};
    c.send(std::string(2000, 'x'));  // the limit is 1024
    auto got = c.read();
    EXPECT_EQ(got.kind, WsEvent::Kind::closed) << got.describe();
    EXPECT_EQ(got.close_code, 1009u);
    EXPECT_TRUE(eventually([&] { return feed_calls().back() == "unsubscribe community:1:updates"; }));
}

TEST_F(WsServerTest, TheLastClientLeavingUnsubscribes) {
    WsTestClient a{port_, "/ws/community/1/updates"};
    WsTestClient b{port_, "/ws/community/1/updates"};
    auto closed = a.close();
    EXPECT_EQ(closed.kind, WsEvent::Kind::closed) << closed.describe();
    EXPECT_TRUE(eventually([&] { return sinks(community1) == 1; }));
    EXPECT_EQ(feed_calls(), std::vector<std::string>{"subscribe community:1:updates"});

    b.drop();  // gone without a close frame
    EXPECT_TRUE(eventually([&] { return sinks(community1) == 0; }));
    EXPECT_EQ(feed_calls(),
              (std::vector<std::string>{"subscribe community:1:updates", "unsubscribe community:1:updates"}));
    EXPECT_TRUE(eventually([&] { return server_->stats().sessions_open == 0; }));
}

TEST_F(WsServerTest, StopClosesEveryClientWithGoingAwayAndLeavesNothingRunning) {
    WsTestClient a{port_, "/ws/community/1/updates"};
    WsTestClient b{port_, "/ws/node/1/telemetry"};
    HttpClient idle{"127.0.0.1", port_};  // connected, no request yet

    auto all_closed = stop_server();
    for (auto* client : {&a, &b}) {
        auto got = client->read();
        EXPECT_EQ(got.kind, WsEvent::Kind::closed) << got.describe();
        EXPECT_EQ(got.close_code, 1001u);
        EXPECT_EQ(got.close_reason, "server shutting down");
    }
    EXPECT_EQ(all_closed.wait_for(5s), std::future_status::ready) << "stop()'s on_closed never ran";
    EXPECT_TRUE(finish_loop(5s)) << "the io_context still has work after stop()";
    std::sort(feed_.calls.begin(), feed_.calls.end());  // the loop has ended: no race
    EXPECT_EQ(feed_.calls, (std::vector<std::string>{"subscribe community:1:updates", "subscribe node:1:telemetry",
                                                     "unsubscribe community:1:updates", "unsubscribe node:1:telemetry"}));
    EXPECT_THROW((WsTestClient{port_, "/ws/community/1/updates"}), std::runtime_error);
}

namespace {

class SlowClientTest : public WsServerTest {
protected:
    WsServerOptions server_options() const override {
        auto options = WsServerTest::server_options();
        options.send_queue_bytes = 2 * 1024 * 1024;
        options.close_timeout = 20s;
        return options;
    }
};

} // namespace

TEST_F(SlowClientTest, AClientThatNeverReadsIsClosedWithoutDelayingTheOthers) {
    WsTestClient slow{port_, "/ws/community/1/updates", {.timeout = 10s, .receive_buffer_bytes = 4096}};
    WsTestClient fast{port_, "/ws/community/1/updates"};
    ASSERT_TRUE(slow.upgraded());
    ASSERT_TRUE(fast.upgraded());

    // 24 MiB in all: far more than the kernel buffers for `slow` plus its 2 MiB queue.
    constexpr int total = 48;
    const std::string filler(512 * 1024, 'x');
    for (int i = 0; i < total; ++i) {
        const std::string message = std::to_string(i) + ":" + filler;
        deliver(community1, message);
        auto got = fast.read(3s);
        ASSERT_EQ(got.kind, WsEvent::Kind::message) << "message " << i << ": " << got.describe();
        ASSERT_TRUE(got.text == message) << "message " << i << " arrived as " << got.describe();
    }
    EXPECT_EQ(server_->stats().slow_consumer_closes, 1u);
    EXPECT_NE(server_log().find("closing a slow WebSocket client"), std::string::npos);

    // Reading at last, the slow client finds what was already on its way, then the close.
    int received = 0;
    WsEvent got;
    while ((got = slow.read(10s)).kind == WsEvent::Kind::message) ++received;
    EXPECT_EQ(got.kind, WsEvent::Kind::closed) << got.describe();
    EXPECT_EQ(got.close_code, 4008u);
    EXPECT_EQ(got.close_reason, "slow consumer");
    EXPECT_LT(received, total);
    EXPECT_TRUE(eventually([&] { return sinks(community1) == 1; }));

    // The fast client is unaffected.
    deliver(community1, "still here");
    auto last = fast.read();
    EXPECT_TRUE(last.is_message("still here")) << last.describe();
}

namespace {

class StuckClientTest : public WsServerTest {
protected:
    WsServerOptions server_options() const override {
        auto options = WsServerTest::server_options();
        options.send_queue_bytes = 64 * 1024 * 1024;  // no overflow: the stuck write alone must not hold up stop()
        options.close_timeout = 300ms;
        return options;
    }
};

} // namespace

TEST_F(StuckClientTest, StopDoesNotWaitLongForAClientThatNeverReads) {
    WsTestClient stuck{port_, "/ws/community/1/updates", {.timeout = 5s, .receive_buffer_bytes = 4096}};
    ASSERT_TRUE(stuck.upgraded());
    const std::string filler(512 * 1024, 'x');
    for (int i = 0; i < 48; ++i) deliver(community1, filler);
    ASSERT_TRUE(eventually([&] { return server_->stats().messages_sent > 0; }));
    ASSERT_LT(server_->stats().messages_sent, 48u) << "the client's buffers took everything; nothing is stuck";

    const auto stop_started = std::chrono::steady_clock::now();
    auto all_closed = stop_server();
    EXPECT_EQ(all_closed.wait_for(5s), std::future_status::ready) << "stop() waited for a client that never reads";
    EXPECT_LT(std::chrono::steady_clock::now() - stop_started, 3s);
    EXPECT_TRUE(finish_loop(5s));
    EXPECT_EQ(server_->stats().sessions_open, 0u);
    EXPECT_EQ(feed_.calls.back(), "unsubscribe community:1:updates");
}

namespace {

class HttpLimitsTest : public WsServerTest {
protected:
    WsServerOptions server_options() const override {
        auto options = WsServerTest::server_options();
        options.handshake_timeout = 300ms;
        return options;
    }
};

} // namespace

TEST_F(HttpLimitsTest, ARequestThatNeverEndsIsDroppedAfterTheHandshakeTimeout) {
    HttpClient http{"127.0.0.1", port_, 10s};
    const auto started = std::chrono::steady_clock::now();
    EXPECT_THROW(http.raw("GET /ws/community/1/updates HTTP/1.1\r\nHost: x\r\n"), std::system_error);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "the server waited for the client's own timeout";
}

TEST_F(HttpLimitsTest, AnOversizedRequestHeaderIs431) {
    auto res = HttpClient{"127.0.0.1", port_}.request("GET", "/healthz", {}, {{"X-Filler", std::string(16 * 1024, 'a')}});
    EXPECT_EQ(res.status, 431u);
    EXPECT_EQ(json::parse(res.body)["error"], "request header too large");
}

TEST_F(WsServerTest, StopWithoutSessionsReportsClosedAtOnce) {
    EXPECT_EQ(stop_server().wait_for(5s), std::future_status::ready);
}
