#include "request_router.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <utility>
#include <vector>

using flowgate::realtime::RequestRouter;
using flowgate::realtime::Route;
using flowgate::realtime::TopicKind;
using nlohmann::json;

namespace {

class RequestRouterTest : public ::testing::Test {
protected:
    RequestRouter router_{[this](TopicKind kind, std::int64_t id) {
        asked_.emplace_back(kind, id);
        return kind == TopicKind::community ? id == 1 : (id == 1 || id == 2);
    }};
    std::vector<std::pair<TopicKind, std::int64_t>> asked_;

    Route get(std::string_view target, bool upgrade) { return router_.route("GET", target, upgrade); }

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
    auto route = router_.route("POST", "/ws/community/1/updates", false);
    EXPECT_EQ(route.status, 405u);
    EXPECT_EQ(header(route, "Allow"), "GET");
    auto health = router_.route("DELETE", "/healthz", false);
    EXPECT_EQ(health.status, 405u);
    EXPECT_EQ(header(health, "Allow"), "GET, HEAD");
}

TEST_F(RequestRouterTest, HealthzIsJsonAndCanBeExtended) {
    auto route = get("/healthz", false);
    EXPECT_EQ(route.status, 200u);
    EXPECT_EQ(json::parse(route.body), json::parse(R"({"status":"ok"})"));

    router_.set_health_body([] { return std::string{R"({"status":"ok","redis":"up"})"}; });
    EXPECT_EQ(json::parse(get("/healthz", false).body)["redis"], "up");
}

TEST_F(RequestRouterTest, OtherPathsAre404WithValidJsonEvenForOddPaths) {
    auto route = get("/nothing/\"here\"\\", false);
    EXPECT_EQ(route.status, 404u);
    EXPECT_EQ(error_of(route), "no such path: /nothing/\"here\"\\");
    EXPECT_EQ(get("/", false).status, 404u);
    EXPECT_EQ(get("/wsx/community/1/updates", true).status, 404u);
}
