// Who may open which stream, and in which encoding: tokens, Origin, connection limits,
// MessagePack and permessage-deflate, over real sockets against a WsServer.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flowgate/auth/token.hpp"
#include "ws_server_fixture.hpp"
#include "ws_test_client.hpp"

using namespace std::chrono_literals;
using flowgate::auth::Claims;
using flowgate::auth::TokenAuthority;
using flowgate::realtime::WsServerOptions;
using flowgate::test::community1;
using flowgate::test::eventually;
using flowgate::test::WsServerTest;
using flowgate::test::WsTestClient;
using nlohmann::json;

namespace {

const std::string secret = "itest-secret-0123456789abcdef0123456789";

std::string token_for(std::vector<std::int64_t> communities, std::chrono::seconds ttl = 1h) {
    const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    return TokenAuthority{{secret}}.issue(Claims{std::move(communities), now, now + ttl, "itest-token", {}});
}

WsTestClient::Options with_headers(std::map<std::string, std::string> headers) {
    WsTestClient::Options options;
    options.headers = std::move(headers);
    return options;
}

std::string error_of(const WsTestClient& client) { return json::parse(client.http_body()).at("error").get<std::string>(); }

class TokenTest : public WsServerTest {
protected:
    WsServerOptions server_options() const override {
        auto options = WsServerTest::server_options();
        options.access.tokens = std::make_shared<TokenAuthority>(std::vector<std::string>{secret});
        return options;
    }
};

} // namespace

TEST_F(TokenTest, AnonymousClientsAreRefusedAndSubscribeNothing) {
    WsTestClient anonymous{port_, "/ws/community/1/updates"};
    EXPECT_FALSE(anonymous.upgraded());
    EXPECT_EQ(anonymous.http_status(), 401u);
    EXPECT_EQ(error_of(anonymous), "missing token: send Authorization: Bearer <token>, or ?token=<token>");
    WsTestClient probing{port_, "/ws/node/42/telemetry"};
    EXPECT_EQ(probing.http_status(), 401u) << "an unknown node looks like any other without a token";
    EXPECT_TRUE(feed_calls().empty());
    EXPECT_EQ(server_->stats().refused_upgrades, 2u);
}

TEST_F(TokenTest, ATokenOpensItsCommunitysStreamsOnly) {
    const auto token = token_for({1});
    WsTestClient by_header{port_, "/ws/community/1/updates", with_headers({{"Authorization", "Bearer " + token}})};
    ASSERT_TRUE(by_header.upgraded()) << by_header.http_body();
    WsTestClient by_query{port_, "/ws/node/2/telemetry?token=" + token};
    ASSERT_TRUE(by_query.upgraded()) << by_query.http_body();
    deliver(community1, R"({"seq":1,"v":"community"})");
    deliver("node:2:telemetry", R"({"seq":1,"v":"node 2"})");
    EXPECT_TRUE(by_header.read().is_message(R"({"seq":1,"v":"community"})"));
    EXPECT_TRUE(by_query.read().is_message(R"({"seq":1,"v":"node 2"})"));

    WsTestClient other_community{port_, "/ws/community/2/updates?token=" + token};
    EXPECT_EQ(other_community.http_status(), 403u);
    EXPECT_EQ(error_of(other_community), "this token does not allow community 2");
    WsTestClient other_node{port_, "/ws/node/4/telemetry?token=" + token};
    EXPECT_EQ(other_node.http_status(), 403u);
    WsTestClient unknown{port_, "/ws/node/42/telemetry?token=" + token};
    EXPECT_EQ(unknown.http_status(), 404u);
    WsTestClient forged{port_, "/ws/community/2/updates?token=" +
                                   TokenAuthority{{std::string(32, 'x')}}.issue(Claims{{2}, {}, std::chrono::system_clock::now() + 1h, "", {}})};
    EXPECT_EQ(forged.http_status(), 401u);
    EXPECT_EQ(error_of(forged), "bad token signature");

    const auto log = server_log();
    EXPECT_EQ(log.find(token), std::string::npos) << "a token reached the log:\n" << log;
    EXPECT_EQ(log.find(secret), std::string::npos);
}

TEST_F(TokenTest, AStreamIsClosedWith4001WhenItsTokenExpires) {
    WsTestClient client{port_, "/ws/community/1/updates?token=" + token_for({1}, 2s)};
    ASSERT_TRUE(client.upgraded()) << client.http_body();
    deliver(community1, R"({"seq":1})");
    EXPECT_TRUE(client.read().is_message(R"({"seq":1})"));
    const auto closed = client.read(5s);
    EXPECT_EQ(closed.kind, flowgate::test::WsEvent::Kind::closed) << closed.describe();
    EXPECT_EQ(closed.close_code, 4001u);
    EXPECT_EQ(closed.close_reason, "token expired");
    EXPECT_TRUE(eventually([&] { return server_->stats().token_expiry_closes == 1; }));
    EXPECT_NE(server_log().find("its token expired"), std::string::npos);
}

TEST_F(WsServerTest, ABrowserFromAnotherOriginIsRefused) {
    WsTestClient evil{port_, "/ws/community/1/updates", with_headers({{"Origin", "http://evil.example.com"}})};
    EXPECT_EQ(evil.http_status(), 403u);
    EXPECT_EQ(error_of(evil), "origin not allowed: add it to http.origins");
    // The page the server itself would serve (Origin matching Host) is fine.
    WsTestClient own{port_, "/ws/community/1/updates", with_headers({{"Origin", "http://127.0.0.1:" + std::to_string(port_)}})};
    EXPECT_TRUE(own.upgraded()) << own.http_body();
}

namespace {

class LimitsTest : public WsServerTest {
protected:
    WsServerOptions server_options() const override {
        auto options = WsServerTest::server_options();
        options.max_connections_per_ip = 2;
        return options;
    }
};

} // namespace

TEST_F(LimitsTest, UpgradesPastTheLimitAre503UntilASessionEnds) {
    auto a = std::make_unique<WsTestClient>(port_, "/ws/community/1/updates");
    WsTestClient b{port_, "/ws/community/1/updates"};
    ASSERT_TRUE(a->upgraded() && b.upgraded());
    WsTestClient c{port_, "/ws/node/1/telemetry"};
    EXPECT_EQ(c.http_status(), 503u);
    EXPECT_EQ(c.response_header("Retry-After"), "5");
    EXPECT_EQ(error_of(c), "too many connections from 127.0.0.1 (http.max_connections_per_ip = 2); try again later");
    a->close();
    a.reset();
    EXPECT_TRUE(eventually([&] { return server_->stats().sessions_open == 1; }));
    WsTestClient d{port_, "/ws/node/1/telemetry"};
    EXPECT_TRUE(d.upgraded()) << d.http_body();
}

namespace {

// An event as the daemon publishes it, long enough to be compressed.
std::string event(int seq) {
    return R"({"seq":)" + std::to_string(seq) +
           R"(,"epoch":"1764700000123456","type":"TELEMETRY_UPDATE","node_id":1,"community_id":1,"source":"thingspeak",)"
           R"("entry_id":)" + std::to_string(5000 + seq) +
           R"(,"ts":"2026-11-28T22:11:57Z","readings":{"water_level":{"value":2.04,"unit":"m"},"pump_on":{"value":false},)"
           R"("flow_rate":{"value":12.5,"unit":"L/min"},"tds":{"value":310,"unit":"ppm"},"battery":{"value":3.71,"unit":"V"}}})";
}

} // namespace

TEST_F(WsServerTest, EveryEncodingGetsTheSameEventsAndEachMessageIsCompressedOnce) {
    WsTestClient::Options deflate;
    deflate.deflate = true;
    auto msgpack = with_headers({{"Sec-WebSocket-Protocol", "msgpack"}});
    auto msgpack_deflate = msgpack;
    msgpack_deflate.deflate = true;
    WsTestClient plain{port_, "/ws/community/1/updates"};
    std::vector<std::unique_ptr<WsTestClient>> deflated;
    for (int i = 0; i < 3; ++i) deflated.push_back(std::make_unique<WsTestClient>(port_, "/ws/community/1/updates", deflate));
    WsTestClient packed{port_, "/ws/community/1/updates", msgpack};
    WsTestClient packed_deflated{port_, "/ws/community/1/updates", msgpack_deflate};
    EXPECT_EQ(plain.response_header("Sec-WebSocket-Extensions"), "");
    EXPECT_EQ(deflated[0]->response_header("Sec-WebSocket-Extensions"),
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    EXPECT_EQ(packed.response_header("Sec-WebSocket-Protocol"), "msgpack");

    constexpr int messages = 5;
    for (int seq = 1; seq <= messages; ++seq) deliver(community1, event(seq));
    deliver(community1, R"({"seq":6,"short":true})");  // under the threshold: sent as it is
    for (int seq = 1; seq <= messages + 1; ++seq) {
        const auto expected = seq <= messages ? event(seq) : std::string{R"({"seq":6,"short":true})"};
        EXPECT_TRUE(plain.read().is_message(expected)) << seq;
        for (auto& client : deflated) {
            const auto got = client->read();
            EXPECT_TRUE(got.is_message(expected)) << seq << ": " << got.describe();
            EXPECT_FALSE(got.binary);
        }
        for (auto* client : {&packed, &packed_deflated}) {
            const auto got = client->read();
            ASSERT_EQ(got.kind, flowgate::test::WsEvent::Kind::message) << got.describe();
            EXPECT_TRUE(got.binary);
            EXPECT_EQ(json::from_msgpack(got.text), json::parse(expected)) << seq;
        }
    }
    // Three JSON deflate sessions and one MessagePack one: each long message compressed once per encoding.
    EXPECT_EQ(server_->stats().compressions, 2u * messages);

    // What a client compresses is inflated: Beast compresses its "ping".
    deflated[0]->send("ping");
    EXPECT_TRUE(deflated[0]->read().is_message("pong"));
}
