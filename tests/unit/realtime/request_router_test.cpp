#include "request_router.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "flowgate/auth/token.hpp"

using flowgate::auth::Claims;
using flowgate::auth::TokenAuthority;
using flowgate::realtime::Request;
using flowgate::realtime::RequestRouter;
using flowgate::realtime::Route;
using flowgate::realtime::TopicKind;
using flowgate::realtime::WsServerOptions;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const auto now = std::chrono::system_clock::time_point{std::chrono::seconds{1'764'700'000}};
const std::string secret_a(32, 'a');
const std::string secret_b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

std::string token(const std::string& secret, std::vector<std::int64_t> communities,
                  std::chrono::system_clock::time_point expires_at = now + 1h) {
    return TokenAuthority{{secret}}.issue(Claims{std::move(communities), now - 1min, expires_at, "t1", {}});
}

class RequestRouterTest : public ::testing::Test {
protected:
    // Community 1 holds nodes 1 and 2, community 2 node 5.
    flowgate::realtime::TopicCommunity lookup_ = [this](TopicKind kind, std::int64_t id) -> std::optional<std::int64_t> {
        asked_.emplace_back(kind, id);
        if (kind == TopicKind::community) return id == 1 || id == 2 ? std::optional{id} : std::nullopt;
        if (id == 1 || id == 2) return 1;
        if (id == 5) return 2;
        return std::nullopt;
    };
    RequestRouter router_{lookup_, {}, {}};
    std::vector<std::pair<TopicKind, std::int64_t>> asked_;

    Route get(std::string_view target, bool upgrade) { return route(request("GET", target, upgrade)); }
    Route route(const Request& request) { return router_.route(request, now); }

    static Request request(std::string_view method, std::string_view target, bool upgrade) {
        Request r;
        r.method = method;
        r.target = target;
        r.websocket_upgrade = upgrade;
        r.host = "flowgate.local:8080";
        return r;
    }

    /// A router that needs tokens signed with `secrets`.
    void require_tokens(std::vector<std::string> secrets, WsServerOptions::Access access = {}) {
        access.tokens = std::make_shared<TokenAuthority>(std::move(secrets));
        router_ = RequestRouter{lookup_, std::move(access), {}};
    }

    static std::string error_of(const Route& route) { return json::parse(route.body).at("error").get<std::string>(); }

    static std::string header(const Route& route, std::string_view name) {
        for (const auto& [n, v] : route.headers) {
            if (n == name) return v;
        }
        return {};
    }
};

} // namespace

TEST_F(RequestRouterTest, StreamsUpgradeToTheirTopics) {
    auto community = get("/ws/community/1/updates", true);
    EXPECT_EQ(community.action, Route::Action::upgrade);
    EXPECT_EQ(community.topic, "community:1:updates");

    auto node = get("/ws/node/2/telemetry", true);
    EXPECT_EQ(node.action, Route::Action::upgrade);
    EXPECT_EQ(node.topic, "node:2:telemetry");
    EXPECT_EQ(asked_, (std::vector<std::pair<TopicKind, std::int64_t>>{{TopicKind::community, 1}, {TopicKind::node, 2}}));
}

TEST_F(RequestRouterTest, UnknownQueryParametersAreIgnored) {
    auto route = get("/ws/community/1/updates?token=abc&x", true);
    EXPECT_EQ(route.action, Route::Action::upgrade);
    EXPECT_EQ(route.topic, "community:1:updates");
    EXPECT_FALSE(route.resume);
    EXPECT_EQ(get("/healthz?verbose=1", false).status, 200u);
}

TEST_F(RequestRouterTest, SinceAndEpochAskForRecovery) {
    auto route = get("/ws/node/1/telemetry?epoch=1764700000123456&since=42", true);
    ASSERT_EQ(route.action, Route::Action::upgrade);
    ASSERT_TRUE(route.resume);
    EXPECT_EQ(route.resume->seq, 42u);
    EXPECT_EQ(route.resume->epoch, "1764700000123456");
    EXPECT_EQ(get("/ws/node/1/telemetry?since=0&epoch=1", true).resume->seq, 0u);
}

TEST_F(RequestRouterTest, BadSinceOrEpochIs400SayingWhatIsExpected) {
    for (const auto* target : {"/ws/community/1/updates?since=42", "/ws/community/1/updates?since=-1&epoch=1",
                               "/ws/community/1/updates?since=4x&epoch=1", "/ws/community/1/updates?since=&epoch=1",
                               "/ws/community/1/updates?since=99999999999999999999999&epoch=1",
                               "/ws/community/1/updates?since=1&epoch=abc", "/ws/community/1/updates?epoch=17"}) {
        const auto route = get(target, true);
        EXPECT_EQ(route.action, Route::Action::respond) << target;
        EXPECT_EQ(route.status, 400u) << target;
        const auto error = error_of(route);
        EXPECT_TRUE(error.find("since") != std::string::npos || error.find("epoch") != std::string::npos) << error;
    }
}

TEST_F(RequestRouterTest, UnknownCommunityOrNodeIs404NamingIt) {
    auto community = get("/ws/community/9/updates", true);
    EXPECT_EQ(community.action, Route::Action::respond);
    EXPECT_EQ(community.status, 404u);
    EXPECT_EQ(error_of(community), "community 9 does not exist");

    auto node = get("/ws/node/3/telemetry", true);
    EXPECT_EQ(node.status, 404u);
    EXPECT_EQ(error_of(node), "node 3 does not exist");
}

TEST_F(RequestRouterTest, MalformedIdsAre404SayingWhy) {
    for (const auto* id : {"abc", "0", "-1", "+1", "1.5", "", "99999999999999999999", "1%20"}) {
        const std::string target = std::string{"/ws/community/"} + id + "/updates";
        auto route = get(target, true);
        EXPECT_EQ(route.status, 404u) << target;
        EXPECT_EQ(error_of(route), std::string{"bad community id '"} + id + "': expected a positive integer") << target;
    }
    EXPECT_TRUE(asked_.empty()) << "a malformed id must not reach the registry";
}

TEST_F(RequestRouterTest, MalformedStreamPathsAre404SayingWhatIsExpected) {
    for (const auto* target : {"/ws/", "/ws/community", "/ws/community/1", "/ws/community/1/telemetry",
                               "/ws/node/1/updates", "/ws/tank/1/updates", "/ws/community/1/updates/",
                               "/ws/community/1/updates/more", "/ws//1/updates"}) {
        auto route = get(target, true);
        EXPECT_EQ(route.status, 404u) << target;
        const auto error = error_of(route);
        EXPECT_NE(error.find("no such stream"), std::string::npos) << error;
        EXPECT_NE(error.find("/ws/community/{id}/updates"), std::string::npos) << error;
    }
}

TEST_F(RequestRouterTest, PlainGetOfAStreamIs426) {
    auto route = get("/ws/community/1/updates", false);
    EXPECT_EQ(route.status, 426u);
    EXPECT_EQ(header(route, "Upgrade"), "websocket");
    EXPECT_FALSE(error_of(route).empty());
    // An unknown one is still 404: that is the more useful answer.
    EXPECT_EQ(get("/ws/community/9/updates", false).status, 404u);
}

TEST_F(RequestRouterTest, OtherMethodsAre405) {
    auto route = this->route(request("POST", "/ws/community/1/updates", false));
    EXPECT_EQ(route.status, 405u);
    EXPECT_EQ(header(route, "Allow"), "GET");
    auto health = this->route(request("DELETE", "/healthz", false));
    EXPECT_EQ(health.status, 405u);
    EXPECT_EQ(header(health, "Allow"), "GET, HEAD");
}

TEST_F(RequestRouterTest, HealthzIsJsonAndCanBeExtended) {
    auto route = get("/healthz", false);
    EXPECT_EQ(route.status, 200u);
    EXPECT_EQ(json::parse(route.body), json::parse(R"({"status":"ok"})"));

    router_.set_page("/healthz", [] { return flowgate::realtime::WsServer::Page{200, "application/json", R"({"status":"ok","redis":"up"})"}; });
    EXPECT_EQ(json::parse(get("/healthz", false).body)["redis"], "up");
    router_.set_page("/metrics", [] { return flowgate::realtime::WsServer::Page{503, "text/plain; version=0.0.4", "x 1\n"}; });
    const auto metrics = get("/metrics", false);
    EXPECT_EQ(metrics.status, 503u);
    EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4");
    EXPECT_EQ(metrics.body, "x 1\n");
    EXPECT_EQ(this->route(request("POST", "/metrics", false)).status, 405u);
}

TEST_F(RequestRouterTest, OtherPathsAre404WithValidJsonEvenForOddPaths) {
    auto route = get("/nothing/\"here\"\\", false);
    EXPECT_EQ(route.status, 404u);
    EXPECT_EQ(error_of(route), "no such path: /nothing/\"here\"\\");
    EXPECT_EQ(get("/", false).status, 404u);
    EXPECT_EQ(get("/wsx/community/1/updates", true).status, 404u);
}

TEST_F(RequestRouterTest, WithTokensEveryRefusalSaysWhyBeforeTheUpgrade) {
    require_tokens({secret_a});
    struct Case {
        std::string target;
        std::string authorization;
        unsigned status;
        std::string error;
    };
    const std::vector<Case> cases{
        {"/ws/community/1/updates", "", 401, "missing token: send Authorization: Bearer <token>, or ?token=<token>"},
        {"/ws/community/1/updates?token=", "", 401, "missing token: send Authorization: Bearer <token>, or ?token=<token>"},
        {"/ws/community/1/updates?token=garbage", "", 401, "malformed token: expected a JWT (three base64url parts separated by dots)"},
        {"/ws/community/1/updates", "Bearer a.b!.c", 401, "malformed token: a part is not base64url"},
        {"/ws/community/1/updates?token=" + token(secret_b, {1}), "", 401, "bad token signature"},
        {"/ws/community/1/updates", "Bearer " + token(secret_a, {1}, now - 1s), 401, "token expired"},
        {"/ws/community/2/updates?token=" + token(secret_a, {1}), "", 403, "this token does not allow community 2"},
        {"/ws/node/5/telemetry?token=" + token(secret_a, {1}), "", 403, "this token does not allow community 2"},
        {"/ws/node/9/telemetry?token=" + token(secret_a, {1}), "", 404, "node 9 does not exist"},
        // Without a valid token an unknown topic is 401 like any other: ids cannot be probed.
        {"/ws/node/9/telemetry", "", 401, "missing token: send Authorization: Bearer <token>, or ?token=<token>"},
        {"/ws/community/7/updates?token=" + token(secret_b, {7}), "", 401, "bad token signature"},
    };
    for (const auto& c : cases) {
        auto r = request("GET", c.target, true);
        r.authorization = c.authorization;
        const auto answer = route(r);
        EXPECT_EQ(answer.action, Route::Action::respond) << c.target;
        EXPECT_EQ(answer.status, c.status) << c.target;
        EXPECT_EQ(error_of(answer), c.error) << c.target;
    }
    EXPECT_EQ(asked_.size(), 3u) << "only requests with a valid token look the topic up";
}

TEST_F(RequestRouterTest, AValidTokenUpgradesAndCarriesItsExpiry) {
    require_tokens({secret_a});
    auto by_header = request("GET", "/ws/node/5/telemetry", true);
    const auto bearer = "Bearer " + token(secret_a, {2, 3}, now + 10min);
    by_header.authorization = bearer;
    const auto route = this->route(by_header);
    ASSERT_EQ(route.action, Route::Action::upgrade) << route.body;
    EXPECT_EQ(route.topic, "node:5:telemetry");
    EXPECT_EQ(route.expires_at, now + 10min);
    EXPECT_EQ(route.token_id, "t1");
    EXPECT_EQ(get("/ws/community/1/updates?since=3&epoch=9&token=" + token(secret_a, {1}), true).action,
              Route::Action::upgrade);
}

TEST_F(RequestRouterTest, RotationAcceptsEveryListedSecretAndTheNewestSigns) {
    const auto old_token = token(secret_a, {1});
    require_tokens({secret_b, secret_a});
    EXPECT_EQ(get("/ws/community/1/updates?token=" + old_token, true).action, Route::Action::upgrade);
    EXPECT_EQ(get("/ws/community/1/updates?token=" + token(secret_b, {1}), true).action, Route::Action::upgrade);
    require_tokens({secret_b});
    const auto refused = get("/ws/community/1/updates?token=" + old_token, true);
    EXPECT_EQ(refused.status, 401u);
    EXPECT_EQ(error_of(refused), "bad token signature");
}

TEST_F(RequestRouterTest, OriginMustBeListedOrTheServerItself) {
    WsServerOptions::Access access;
    access.origins = {"https://ops.example.org"};
    access.allow_missing_origin = false;
    router_ = RequestRouter{lookup_, access, {}};
    const auto with_origin = [&](std::optional<std::string_view> origin) {
        auto r = request("GET", "/ws/community/1/updates", true);
        r.origin = origin;
        return route(r);
    };
    EXPECT_EQ(with_origin("https://ops.example.org").action, Route::Action::upgrade);
    EXPECT_EQ(with_origin("HTTPS://OPS.example.org").action, Route::Action::upgrade);
    EXPECT_EQ(with_origin("http://flowgate.local:8080").action, Route::Action::upgrade) << "same origin as Host";
    const auto evil = with_origin("http://evil.example.com");
    EXPECT_EQ(evil.status, 403u);
    EXPECT_EQ(error_of(evil), "origin not allowed: add it to http.origins");
    EXPECT_EQ(with_origin("null").status, 403u);
    EXPECT_EQ(with_origin("https://ops.example.org.evil.com").status, 403u);
    const auto missing = with_origin(std::nullopt);
    EXPECT_EQ(missing.status, 403u);
    EXPECT_NE(error_of(missing).find("allow_missing_origin"), std::string::npos);

    // The default: no browser origin but the server's own; clients without Origin are fine.
    router_ = RequestRouter{lookup_, {}, {}};
    EXPECT_EQ(with_origin(std::nullopt).action, Route::Action::upgrade);
    EXPECT_EQ(with_origin("http://evil.example.com").status, 403u);
}

TEST_F(RequestRouterTest, SubprotocolMsgpackOrJsonElse400) {
    auto r = request("GET", "/ws/community/1/updates", true);
    r.protocols = "json, msgpack";
    auto route = this->route(r);
    ASSERT_EQ(route.action, Route::Action::upgrade);
    EXPECT_TRUE(route.encoding.msgpack);
    EXPECT_EQ(header(route, "Sec-WebSocket-Protocol"), "msgpack");
    r.protocols = "json";
    route = this->route(r);
    EXPECT_FALSE(route.encoding.msgpack);
    EXPECT_EQ(header(route, "Sec-WebSocket-Protocol"), "json");
    r.protocols = "cbor, xml";
    route = this->route(r);
    EXPECT_EQ(route.status, 400u);
    EXPECT_EQ(error_of(route), "unsupported subprotocol cbor, xml: this server speaks json (the default) and msgpack");
}

TEST_F(RequestRouterTest, DeflateIsNegotiatedWithoutContextTakeover) {
    auto r = request("GET", "/ws/community/1/updates", true);
    r.extensions = "permessage-deflate; client_max_window_bits";
    auto route = this->route(r);
    EXPECT_TRUE(route.encoding.deflate);
    EXPECT_EQ(header(route, "Sec-WebSocket-Extensions"),
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover");

    // An offer whose window is below ours is passed over for the next.
    r.extensions = "permessage-deflate; server_max_window_bits=10, permessage-deflate";
    EXPECT_TRUE(this->route(r).encoding.deflate);
    r.extensions = "permessage-deflate; server_max_window_bits=10";
    route = this->route(r);
    EXPECT_EQ(route.action, Route::Action::upgrade);
    EXPECT_FALSE(route.encoding.deflate);
    EXPECT_EQ(header(route, "Sec-WebSocket-Extensions"), "");
    for (const auto* bad : {"permessage-deflate; server_no_context_takeover=1", "permessage-deflate; client_max_window_bits=16",
                            "permessage-deflate; foo", "permessage-deflate; client_max_window_bits; client_max_window_bits",
                            "x-webkit-deflate-frame"}) {
        r.extensions = bad;
        EXPECT_FALSE(this->route(r).encoding.deflate) << bad;
    }

    WsServerOptions::Deflate small;
    small.window_bits = 10;
    router_ = RequestRouter{lookup_, {}, small};
    r.extensions = "permessage-deflate; server_max_window_bits=10";
    EXPECT_EQ(header(this->route(r), "Sec-WebSocket-Extensions"),
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10");
    WsServerOptions::Deflate off;
    off.enabled = false;
    router_ = RequestRouter{lookup_, {}, off};
    r.extensions = "permessage-deflate";
    EXPECT_FALSE(this->route(r).encoding.deflate);
}

TEST_F(RequestRouterTest, HistoryApiPathsAreNotFoundUntilEnabled) {
    EXPECT_EQ(get("/api/communities", false).status, 404);
    router_.enable_api();
    const auto route = get("/api/communities", false);
    EXPECT_EQ(route.action, Route::Action::api);
    EXPECT_EQ(route.api.kind, flowgate::realtime::WsServer::ApiCall::Kind::communities);
    EXPECT_FALSE(route.api.communities) << "without auth, every community";
}

TEST_F(RequestRouterTest, HistoryApiCallsCarryTheirIdAndQuery) {
    using Kind = flowgate::realtime::WsServer::ApiCall::Kind;
    router_.enable_api();
    const auto nodes = get("/api/communities/2/nodes", false);
    EXPECT_EQ(nodes.action, Route::Action::api);
    EXPECT_EQ(nodes.api.kind, Kind::nodes);
    EXPECT_EQ(nodes.api.id, 2);
    const auto readings = get("/api/nodes/5/readings?metric=level&limit=10", false);
    EXPECT_EQ(readings.action, Route::Action::api);
    EXPECT_EQ(readings.api.kind, Kind::readings);
    EXPECT_EQ(readings.api.id, 5);
    EXPECT_EQ(readings.api.query, "metric=level&limit=10");
    EXPECT_EQ(route(request("HEAD", "/api/communities", false)).action, Route::Action::api);
}

TEST_F(RequestRouterTest, HistoryApiAnswersWrongPathsMethodsAndUnknownIds) {
    router_.enable_api();
    for (const auto* path : {"/api/", "/api/nodes", "/api/communities/x/nodes", "/api/communities/0/nodes",
                             "/api/nodes/1/readings/more", "/api/nodes/1/telemetry"}) {
        const auto route = get(path, false);
        EXPECT_EQ(route.status, 404) << path;
        EXPECT_NE(error_of(route).find("/api/communities, /api/communities/{id}/nodes or /api/nodes/{id}/readings"),
                  std::string::npos)
            << path;
    }
    const auto post = route(request("POST", "/api/communities", false));
    EXPECT_EQ(post.status, 405);
    EXPECT_EQ(header(post, "Allow"), "GET, HEAD");
    EXPECT_EQ(error_of(get("/api/communities/9/nodes", false)), "community 9 does not exist");
    EXPECT_EQ(error_of(get("/api/nodes/9/readings?metric=m", false)), "node 9 does not exist");
}

TEST_F(RequestRouterTest, HistoryApiFollowsTheTokenTenancyRules) {
    require_tokens({secret_a});
    router_.enable_api();
    EXPECT_EQ(get("/api/communities", false).status, 401);
    EXPECT_EQ(get("/api/communities?token=" + token(secret_b, {1}), false).status, 401) << "another server's secret";

    const auto mine = token(secret_a, {1});
    const auto listed = get("/api/communities?token=" + mine, false);
    EXPECT_EQ(listed.action, Route::Action::api);
    EXPECT_EQ(listed.api.communities, (std::vector<std::int64_t>{1}));

    auto bearer = request("GET", "/api/nodes/2/readings?metric=m", false);
    const auto header_value = "Bearer " + mine;
    bearer.authorization = header_value;
    EXPECT_EQ(route(bearer).action, Route::Action::api);

    // Another community's node and community: 403; an unknown one: 404 only after the token.
    const auto other_node = get("/api/nodes/5/readings?metric=m&token=" + mine, false);
    EXPECT_EQ(other_node.status, 403);
    EXPECT_EQ(error_of(other_node), "this token does not allow community 2");
    EXPECT_EQ(get("/api/communities/2/nodes?token=" + mine, false).status, 403);
    EXPECT_EQ(get("/api/nodes/9/readings", false).status, 401);
    EXPECT_EQ(get("/api/nodes/9/readings?token=" + mine, false).status, 404);
}
