#include <gtest/gtest.h>

#include "sim_test_support.hpp"

using namespace flowgate::sim;
using namespace flowgate::sim::test;
using nlohmann::json;

namespace {

SimApi make_api() { return SimApi{parse_sim_config(small_network, "test.toml"), t0}; }

} // namespace

TEST(SimControl, ClearingAChannelStartsANewEpochAtEntryOne) {
    auto api = make_api();
    ASSERT_EQ(control(api, "/_sim/channels/101/clear").status, 200u);
    EXPECT_EQ(request(api, "/channels/101/feeds/last.json").body, "-1");
    EXPECT_EQ(request(api, "/channels/101/feeds/last_entry_id.json").body, "-1");
    EXPECT_EQ(request(api, "/channels/101/feeds/last_data_age.json").body, "-1");
    auto empty = request(api, "/channels/101/feeds.json");
    EXPECT_TRUE(empty.json["feeds"].empty());
    EXPECT_TRUE(empty.json["channel"]["last_entry_id"].is_null());
    auto later = request(api, "/channels/101/feeds.json", t0 + std::chrono::seconds{40});
    ASSERT_FALSE(later.json["feeds"].empty());
    EXPECT_EQ(later.json["feeds"][0]["entry_id"], 1);
}

TEST(SimControl, RenamingAndDisablingFieldsChangesTheChannelLabels) {
    auto api = make_api();
    ASSERT_EQ(control(api, "/_sim/channels/101/fields/1", R"j({"label":"Level (m)"})j").status, 200u);
    ASSERT_EQ(control(api, "/_sim/channels/101/fields/2", R"({"enabled":false})").status, 200u);
    auto got = request(api, "/channels/101/feeds.json?results=2");
    EXPECT_EQ(got.json["channel"]["field1"], "Level (m)");
    EXPECT_FALSE(got.json["channel"].contains("field2"));
    EXPECT_FALSE(got.json["feeds"][0].contains("field2"));
    EXPECT_EQ(got.json["channel"]["updated_at"], "2026-03-01T00:00:00Z");
    EXPECT_EQ(control(api, "/_sim/channels/101/fields/9", R"({"enabled":false})").status, 400u);
    EXPECT_EQ(control(api, "/_sim/channels/101/fields/1", R"({"label":5})").status, 400u);
}

TEST(SimControl, ChangingThePostingIntervalSpacesNewEntries) {
    auto api = make_api();
    ASSERT_EQ(control(api, "/_sim/channels/101/interval", R"({"seconds":120})").status, 200u);
    const auto before = std::stoi(request(api, "/channels/101/feeds/last_entry_id.json").body);
    const auto after = std::stoi(request(api, "/channels/101/feeds/last_entry_id.json", t0 + std::chrono::minutes{20}).body);
    EXPECT_NEAR(after - before, 10, 1);
    EXPECT_EQ(control(api, "/_sim/channels/101/interval", R"({"seconds":0})").status, 400u);
}

TEST(SimControl, AdvancingTimeProducesTheEntriesOfThatTime) {
    auto api = make_api();
    const auto before = std::stoi(request(api, "/channels/101/feeds/last_entry_id.json").body);
    auto t = control(api, "/_sim/time", R"({"advance_seconds":3600})");
    ASSERT_EQ(t.status, 200u);
    EXPECT_EQ(t.json["now"], "2026-03-01T01:00:00Z");
    const auto after = std::stoi(request(api, "/channels/101/feeds/last_entry_id.json").body);
    EXPECT_NEAR(after - before, 240, 1);
    EXPECT_EQ(control(api, "/_sim/time", R"({"advance_seconds":-5})").status, 400u);
}

TEST(SimControl, SpeedMakesSimulatedTimeRunFaster) {
    auto api = SimApi{parse_sim_config("speed = 60\n" + std::string{small_network}, "fast.toml"), t0};
    auto t = request(api, "/_sim/time", t0 + std::chrono::seconds{10});
    EXPECT_EQ(t.json["now"], "2026-03-01T00:10:00Z");
}

TEST(SimFaults, GlobalOutageAs503ThenCleared) {
    auto api = make_api();
    ASSERT_EQ(control(api, "/_sim/faults", R"({"outage":"503"})").status, 200u);
    auto down = request(api, "/channels/101/feeds/last.json");
    EXPECT_EQ(down.status, 503u);
    EXPECT_EQ(down.json["status"], "503");
    EXPECT_EQ(request(api, "/channels/202/feeds/last.json").status, 503u);
    ASSERT_EQ(control(api, "/_sim/faults", R"({"clear":true})").status, 200u);
    EXPECT_EQ(request(api, "/channels/101/feeds/last.json").status, 200u);
}

TEST(SimFaults, ChannelOutageLeavesOtherChannelsAlone) {
    auto api = make_api();
    ASSERT_EQ(control(api, "/_sim/faults", R"({"channel":101,"outage":"reset"})").status, 200u);
    EXPECT_EQ(request(api, "/channels/101/feeds/last.json").reply.action, SimReply::Action::reset);
    EXPECT_EQ(request(api, "/channels/303/feeds/last.json").status, 200u);
    ASSERT_EQ(control(api, "/_sim/faults", R"({"channel":101,"outage":"hang"})").status, 200u);
    EXPECT_EQ(request(api, "/channels/101/feeds/last.json").reply.action, SimReply::Action::hang);
    EXPECT_EQ(control(api, "/_sim/faults", R"({"channel":999,"outage":"hang"})").status, 404u);
    EXPECT_EQ(control(api, "/_sim/faults", R"({"outage":"meltdown"})").status, 400u);
}

TEST(SimFaults, BurstOf429ThenNormalService) {
    auto api = make_api();
    ASSERT_EQ(control(api, "/_sim/faults", R"({"burst_429":3})").status, 200u);
    for (int i = 0; i < 3; ++i) {
        auto got = request(api, "/channels/101/feeds/last.json");
        EXPECT_EQ(got.status, 429u);
        EXPECT_EQ(got.json["error"]["error_code"], "error_too_many_requests");
    }
    EXPECT_EQ(request(api, "/channels/101/feeds/last.json").status, 200u);
}

TEST(SimFaults, ErrorRateIsDeterministicAndNearItsShare) {
    auto a = make_api();
    auto b = make_api();
    ASSERT_EQ(control(a, "/_sim/faults", R"({"error_rate":0.25})").status, 200u);
    ASSERT_EQ(control(b, "/_sim/faults", R"({"error_rate":0.25})").status, 200u);
    int errors = 0;
    for (int i = 0; i < 400; ++i) {
        const auto sa = request(a, "/channels/101/feeds/last_entry_id.json").status;
        EXPECT_EQ(sa, request(b, "/channels/101/feeds/last_entry_id.json").status);
        errors += sa == 500 ? 1 : 0;
    }
    EXPECT_GT(errors, 60);
    EXPECT_LT(errors, 140);
}

TEST(SimFaults, LatencyAndCannedResponses) {
    auto api = make_api();
    ASSERT_EQ(control(api, "/_sim/faults",
                      R"({"channel":101,"latency_ms":250,"respond":{"status":200,"body":"{\"created_at\":","count":2}})")
                  .status,
              200u);
    for (int i = 0; i < 2; ++i) {
        auto got = request(api, "/channels/101/feeds/last.json");
        EXPECT_EQ(got.body, R"({"created_at":)");
        EXPECT_EQ(got.reply.delay, std::chrono::milliseconds{250});
    }
    auto real = request(api, "/channels/101/feeds/last.json");
    EXPECT_TRUE(real.json.is_object()); // the canned body was used up
    EXPECT_EQ(real.reply.delay, std::chrono::milliseconds{250});
    EXPECT_EQ(control(api, "/_sim/faults", R"({"respond":{"body":7}})").status, 400u);
    EXPECT_EQ(control(api, "/_sim/faults", "not json").status, 400u);
}

TEST(SimStats, CountsRequestsPerChannelAndStatus) {
    auto api = make_api();
    request(api, "/channels/101/feeds/last.json");
    request(api, "/channels/101/feeds/last.json");
    request(api, "/channels/202/feeds/last.json"); // no key: 400
    request(api, "/channels/101/feeds.json?results=bad");
    auto stats = request(api, "/_sim/stats").json;
    EXPECT_EQ(stats["total"]["requests"], 4);
    EXPECT_EQ(stats["channels"]["101"]["requests"], 3);
    EXPECT_EQ(stats["channels"]["101"]["by_status"]["200"], 2);
    EXPECT_EQ(stats["channels"]["101"]["by_status"]["400"], 1);
    EXPECT_EQ(stats["channels"]["202"]["by_status"]["400"], 1);
    EXPECT_EQ(stats["channels"]["101"]["by_resource"]["feeds/last"], 2);
    EXPECT_EQ(stats["channels"]["101"]["by_resource"]["feeds"], 1);
    request(api, "/channels/101/feeds/last_entry_id.json");
    request(api, "/channels/101/fields/1/last.json");
    stats = request(api, "/_sim/stats").json;
    EXPECT_EQ(stats["total"]["by_resource"]["feeds/last_entry_id"], 1);
    EXPECT_EQ(stats["total"]["by_resource"]["fields/N/last"], 1);
    control(api, "/_sim/stats");
    EXPECT_EQ(request(api, "/_sim/stats").json["total"]["requests"], 0);
}

TEST(SimCaching, EtagAndIfNoneMatch) {
    auto api = make_api();
    auto first = request(api, "/channels/101/feeds/last.json");
    ASSERT_FALSE(first.reply.etag.empty());
    SimRequest again;
    again.target = "/channels/101/feeds/last.json";
    again.if_none_match = first.reply.etag;
    auto reply = api.handle(again, t0);
    EXPECT_EQ(reply.status, 304u);
    EXPECT_TRUE(reply.body.empty());
    // Once a new entry arrives, the tag no longer matches.
    EXPECT_EQ(api.handle(again, t0 + std::chrono::minutes{1}).status, 200u);
}

TEST(SimControl, UnknownControlEndpointIs404) {
    auto api = make_api();
    EXPECT_EQ(control(api, "/_sim/explode").status, 404u);
    EXPECT_EQ(request(api, "/_sim/health").status, 200u);
}
