#include <gtest/gtest.h>

#include <set>

#include "flowgate/core/time_format.hpp"
#include "sim_test_support.hpp"

using namespace flowgate::sim;
using namespace flowgate::sim::test;
using nlohmann::json;

namespace {

SimApi make_api(const std::string& extra = {}) {
    return SimApi{parse_sim_config(std::string{small_network} + extra, "test.toml"), t0};
}

flowgate::Seconds created(const json& entry) {
    return flowgate::parse_iso8601(entry.at("created_at").get<std::string>()).value().utc;
}

} // namespace

TEST(SimFeeds, DefaultReadIsTheNewest100OfTheLastDayInAscendingOrder) {
    auto api = make_api();
    auto got = request(api, "/channels/101/feeds.json");
    ASSERT_EQ(got.status, 200u);
    const auto& feeds = got.json["feeds"];
    ASSERT_EQ(feeds.size(), 100u);
    const int last = got.json["channel"]["last_entry_id"];
    EXPECT_EQ(feeds.back()["entry_id"], last);
    EXPECT_EQ(feeds.front()["entry_id"], last - 99);
    for (std::size_t i = 1; i < feeds.size(); ++i) EXPECT_LT(created(feeds[i - 1]), created(feeds[i]));
    EXPECT_LE(created(feeds.back()), std::chrono::floor<std::chrono::seconds>(t0));
}

TEST(SimFeeds, ResultsTakesTheNewestNAndCapsAt8000) {
    auto api = make_api();
    auto three = request(api, "/channels/101/feeds.json?results=3");
    const int last = three.json["channel"]["last_entry_id"];
    ASSERT_EQ(three.json["feeds"].size(), 3u);
    EXPECT_EQ(three.json["feeds"][0]["entry_id"], last - 2);
    EXPECT_EQ(three.json["feeds"][2]["entry_id"], last);
    // results reaches past the default one-day window.
    auto many = request(api, "/channels/101/feeds.json?results=20000");
    ASSERT_EQ(many.status, 200u);
    EXPECT_EQ(many.json["feeds"].size(), 8000u);
    EXPECT_EQ(many.json["feeds"][0]["entry_id"], last - 8000 + 1);
    EXPECT_EQ(request(api, "/channels/101/feeds.json?results=0").json["feeds"].size(), 0u);
}

TEST(SimFeeds, StartEndWindowReturnsNewestOfTheWindowSoBackfillPagesBackwards) {
    auto api = make_api();
    auto got = request(api, "/channels/101/feeds.json?start=2026-02-28%2000:00:00&end=2026-02-28%2001:00:00&results=5");
    ASSERT_EQ(got.status, 200u);
    const auto& feeds = got.json["feeds"];
    ASSERT_EQ(feeds.size(), 5u);
    const auto end = flowgate::parse_query_time("2026-02-28 01:00:00", std::chrono::minutes{0}).value();
    EXPECT_LE(created(feeds.back()), end);
    EXPECT_GE(created(feeds.back()), end - std::chrono::seconds{15});  // the newest of the window
    // The whole hour without results: one entry per 15 s, nothing outside it.
    auto hour = request(api, "/channels/101/feeds.json?start=2026-02-28%2000:00:00&end=2026-02-28%2001:00:00");
    EXPECT_NEAR(hour.json["feeds"].size(), 240, 1);
    for (const auto& e : hour.json["feeds"]) {
        EXPECT_GE(created(e), end - std::chrono::hours{1});
        EXPECT_LE(created(e), end);
    }
}

TEST(SimFeeds, DaysAndMinutesCountBackFromNow) {
    auto api = make_api();
    // One entry per 15 s, give or take the entry at each edge of the window.
    EXPECT_NEAR(request(api, "/channels/101/feeds.json?minutes=10").json["feeds"].size(), 40, 1);
    EXPECT_NEAR(request(api, "/channels/101/feeds.json?days=1").json["feeds"].size(), 5760, 1);
}

TEST(SimFeeds, TimezoneAndOffsetShiftCreatedAtAndInterpretStartEnd) {
    auto api = make_api();
    auto utc = request(api, "/channels/101/feeds/last.json");
    auto ist = request(api, "/channels/101/feeds/last.json?timezone=Asia/Kolkata");
    auto est = request(api, "/channels/101/feeds/last.json?offset=-5");
    const auto t = flowgate::parse_iso8601(utc.json["created_at"].get<std::string>()).value();
    EXPECT_EQ(ist.json["created_at"], flowgate::format_iso8601(t.utc, std::chrono::minutes{330}));
    EXPECT_EQ(est.json["created_at"], flowgate::format_iso8601(t.utc, std::chrono::hours{-5}));
    EXPECT_TRUE(ist.json["created_at"].get<std::string>().ends_with("+05:30"));
    // start/end are read in the request's zone: 05:30 IST is 00:00 UTC.
    auto a = request(api, "/channels/101/feeds.json?start=2026-02-28%2005:30:00&end=2026-02-28%2006:30:00&timezone=Asia/Kolkata");
    auto b = request(api, "/channels/101/feeds.json?start=2026-02-28%2000:00:00&end=2026-02-28%2001:00:00");
    ASSERT_EQ(a.json["feeds"].size(), b.json["feeds"].size());
    EXPECT_EQ(a.json["feeds"][0]["entry_id"], b.json["feeds"][0]["entry_id"]);
}

TEST(SimFeeds, BadParametersAre400WithAReason) {
    auto api = make_api();
    for (const char* q : {"results=-1", "results=ten", "days=-2", "minutes=x", "start=yesterday",
                          "end=2026-13-01", "timezone=Mars/Olympus", "offset=99"}) {
        auto got = request(api, std::string{"/channels/101/feeds.json?"} + q);
        EXPECT_EQ(got.status, 400u) << q;
        const auto param = std::string{q}.substr(0, std::string{q}.find('='));
        EXPECT_NE(got.json["error"]["details"].get<std::string>().find(param), std::string::npos) << got.body;
    }
}

TEST(SimFeeds, StatusLocationAndMetadataAddTheirKeys) {
    auto api = make_api();
    auto plain = request(api, "/channels/101/feeds.json?results=20");
    EXPECT_FALSE(plain.json["feeds"][0].contains("status"));
    EXPECT_FALSE(plain.json["channel"].contains("metadata"));
    auto rich = request(api, "/channels/101/feeds.json?results=20&status=true&location=true&metadata=true");
    EXPECT_EQ(rich.json["channel"]["metadata"], R"({"site":"ward 7"})");
    int with_status = 0;
    for (const auto& e : rich.json["feeds"]) {
        ASSERT_TRUE(e.contains("status"));
        ASSERT_TRUE(e.contains("latitude") && e.contains("longitude") && e.contains("elevation"));
        if (e["status"].is_string()) ++with_status;
    }
    EXPECT_EQ(with_status, 2); // one status every 10 entries
    auto statuses = request(api, "/channels/101/status.json");
    ASSERT_EQ(statuses.status, 200u);
    ASSERT_FALSE(statuses.json["feeds"].empty());
    for (const auto& e : statuses.json["feeds"]) EXPECT_EQ(e["status"], "ok");
}

TEST(SimEntries, LastEntryByIdAndProbes) {
    auto api = make_api();
    auto last = request(api, "/channels/101/feeds/last.json");
    const int id = last.json["entry_id"];
    EXPECT_EQ(request(api, "/channels/101/feeds.json?results=1").json["channel"]["last_entry_id"], id);
    EXPECT_EQ(request(api, "/channels/101/feeds/" + std::to_string(id) + ".json").json, last.json);
    EXPECT_EQ(request(api, "/channels/101/feeds/" + std::to_string(id - 5) + ".json").json["entry_id"], id - 5);
    EXPECT_EQ(request(api, "/channels/101/feeds/99999.json").body, "-1");
    EXPECT_EQ(request(api, "/channels/101/feeds/last_entry_id.json").body, std::to_string(id));
    auto age = request(api, "/channels/101/feeds/last_data_age.json");
    const auto expected_age = std::chrono::floor<std::chrono::seconds>(t0) - created(last.json);
    EXPECT_EQ(age.json["last_data_age"], std::to_string(expected_age.count()));
    EXPECT_EQ(age.json["last_data_age_units"], "s");
    // A disabled field is absent from the channel and from every entry, not null.
    EXPECT_FALSE(last.json.contains("field4"));
    EXPECT_FALSE(request(api, "/channels/101/feeds.json?results=1").json["channel"].contains("field4"));
}

TEST(SimEntries, NewEntriesAppearAsTimePasses) {
    auto api = make_api();
    const auto before = request(api, "/channels/101/feeds/last_entry_id.json").body;
    const auto after = request(api, "/channels/101/feeds/last_entry_id.json", t0 + std::chrono::minutes{5}).body;
    EXPECT_NEAR(std::stoi(after) - std::stoi(before), 20, 1); // one per 15 s
}

TEST(SimFields, FieldFeedCarriesOnlyThatField) {
    auto api = make_api();
    auto got = request(api, "/channels/101/fields/2.json?results=3");
    ASSERT_EQ(got.status, 200u);
    EXPECT_TRUE(got.json["channel"].contains("field1")); // the channel still names every field
    for (const auto& e : got.json["feeds"]) {
        EXPECT_TRUE(e.contains("field2"));
        EXPECT_FALSE(e.contains("field1"));
    }
    EXPECT_EQ(request(api, "/channels/101/field/2.json?results=3").json, got.json); // singular path
    EXPECT_EQ(request(api, "/channels/101/fields/9.json").status, 400u);
}

TEST(SimFields, LastOfAFieldSkipsEntriesWhereItIsNull) {
    auto api = make_api();
    // Channel 303 writes one field per post, cycling 1, 2, 3.
    auto last = request(api, "/channels/303/feeds/last.json");
    int non_null = 0;
    for (const char* f : {"field1", "field2", "field3"}) non_null += last.json[f].is_string() ? 1 : 0;
    EXPECT_EQ(non_null, 1);
    for (int n = 1; n <= 3; ++n) {
        auto got = request(api, "/channels/303/fields/" + std::to_string(n) + "/last.json");
        const auto key = "field" + std::to_string(n);
        ASSERT_TRUE(got.json[key].is_string()) << got.body;
        EXPECT_GE(got.json["entry_id"].get<int>(), last.json["entry_id"].get<int>() - 2);
    }
    EXPECT_EQ(request(api, "/channels/101/fields/4/last.json").body, "-1"); // disabled
}

TEST(SimAccess, PrivateChannelNeedsItsReadKey) {
    auto api = make_api();
    auto none = request(api, "/channels/202/feeds.json");
    EXPECT_EQ(none.status, 400u);
    EXPECT_EQ(none.body, "-1");
    EXPECT_EQ(none.reply.content_type.substr(0, 16), "application/json");
    auto wrong = request(api, "/channels/202/feeds/last.json?api_key=WRONG");
    EXPECT_EQ(wrong.status, 400u);
    EXPECT_EQ(wrong.body, "-1");
    EXPECT_EQ(request(api, "/channels/202/feeds/last.json?api_key=SECRETKEY202").status, 200u);
    SimRequest header_key;
    header_key.target = "/channels/202/feeds/last.json";
    header_key.api_key_header = "SECRETKEY202";
    EXPECT_EQ(api.handle(header_key, t0).status, 200u);
    // A public channel ignores any key.
    EXPECT_EQ(request(api, "/channels/101/feeds/last.json?api_key=ANYTHING").status, 200u);
}

TEST(SimAccess, UnknownChannelsPathsAndFormats) {
    auto api = make_api();
    EXPECT_EQ(request(api, "/channels/999/feeds.json").status, 404u);
    EXPECT_EQ(request(api, "/channels/abc/feeds.json").status, 404u);
    EXPECT_EQ(request(api, "/channels/101/nothing.json").status, 404u);
    EXPECT_EQ(request(api, "/channels/101/feeds.xml").status, 404u);
    EXPECT_EQ(request(api, "/").status, 404u);
    EXPECT_EQ(request(api, "/channels/101/feeds.json", t0, "DELETE").status, 405u);
}

TEST(SimData, ARestartedSimulatorServesTheSameEntries) {
    // Started an hour apart on the wall clock, two simulators agree on every entry.
    auto network = std::string{small_network};
    network.erase(network.find("start = "), network.find('\n', network.find("start = ")) - network.find("start = "));
    auto early = SimApi{parse_sim_config(network, "test.toml"), t0 - std::chrono::hours{1}};
    auto late = SimApi{parse_sim_config(network, "test.toml"), t0};
    const auto a = request(early, "/channels/101/feeds.json?results=20", t0);
    const auto b = request(late, "/channels/101/feeds.json?results=20", t0);
    EXPECT_EQ(a.json["feeds"], b.json["feeds"]);
    EXPECT_EQ(a.json["channel"]["created_at"], b.json["channel"]["created_at"]);
}

TEST(SimData, SameSeedSameDataOtherSeedOtherData) {
    auto a = make_api();
    auto b = make_api();
    auto c = SimApi{parse_sim_config(std::string{small_network}.replace(0, 10, "\nseed = 12\n"), "c.toml"), t0};
    const std::string q = "/channels/101/feeds.json?results=50";
    EXPECT_EQ(request(a, q).body, request(b, q).body);
    EXPECT_NE(request(a, q).json["feeds"], request(c, q).json["feeds"]);
}

TEST(SimData, SignalsLookLikeAWaterNetwork) {
    auto api = make_api();
    auto day = request(api, "/channels/101/fields/1.json?days=1");
    double lo = 1e9, hi = -1e9;
    for (const auto& e : day.json["feeds"]) {
        const double v = std::stod(e["field1"].get<std::string>());
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    // The tank fills and drains within its configured range over a day.
    EXPECT_GE(lo, 20.0);
    EXPECT_LE(hi, 300.0);
    EXPECT_GT(hi - lo, 200.0);
    // Values are strings with the configured decimals.
    EXPECT_EQ(day.json["feeds"][0]["field1"].get<std::string>().find('.'),
              day.json["feeds"][0]["field1"].get<std::string>().size() - 2);
}

TEST(SimQuirks, BadValuesAreEmptyNanOrText) {
    auto api = SimApi{parse_sim_config(R"(
start = "2026-03-01T00:00:00Z"
[[channels]]
id = 1
interval = "10s"
quirks = { bad_value_rate = 1.0 }
  [[channels.fields]]
  n = 1
  signal = "tds"
)", "q.toml"), t0};
    std::set<std::string> seen;
    const auto got = request(api, "/channels/1/feeds.json?results=200");
    for (const auto& e : got.json["feeds"]) {
        seen.insert(e["field1"].get<std::string>());
    }
    EXPECT_TRUE(seen.contains(""));
    EXPECT_TRUE(seen.contains("nan"));
    EXPECT_GE(seen.size(), 3u);
    for (const auto& v : seen) EXPECT_TRUE(v.empty() || v == "nan" || !std::isdigit(static_cast<unsigned char>(v[0]))) << v;
}

TEST(SimQuirks, DeviceTimestampsBreakEntryOrderButReadsStayTimeOrdered) {
    auto api = SimApi{parse_sim_config(R"(
start = "2026-03-01T00:00:00Z"
[[channels]]
id = 1
interval = "10s"
quirks = { device_timestamps = true }
  [[channels.fields]]
  n = 1
  signal = "tds"
)", "q.toml"), t0};
    auto got = request(api, "/channels/1/feeds.json?results=500");
    const auto& feeds = got.json["feeds"];
    bool ids_out_of_order = false;
    for (std::size_t i = 1; i < feeds.size(); ++i) {
        EXPECT_LE(created(feeds[i - 1]), created(feeds[i]));
        ids_out_of_order |= feeds[i - 1]["entry_id"].get<int>() > feeds[i]["entry_id"].get<int>();
    }
    EXPECT_TRUE(ids_out_of_order);
}

// A logger uploading what it buffered: every 4th entry carries a created_at an hour older,
// so a read from a recent time does not return it, and reading it by id does.
TEST(SimQuirks, LateUploadsCarryTheirOldCreatedAt) {
    SimApi api{parse_sim_config(R"(
[[channels]]
id = 1
interval = "10s"
quirks = { late_upload_every = 4, late_upload_age = "1h" }
  [[channels.fields]]
  n = 1
  signal = "tds"
)", "q.toml"), t0};
    const auto feeds = request(api, "/channels/1/feeds.json?results=40").json["feeds"];
    ASSERT_EQ(feeds.size(), 40u);
    const auto last = request(api, "/channels/1/feeds/last_entry_id.json").json.get<std::int64_t>();
    std::set<std::int64_t> ids;
    for (const auto& e : feeds) ids.insert(e["entry_id"].get<std::int64_t>());
    EXPECT_EQ(ids.size(), 40u);
    EXPECT_LT(*ids.begin(), last - 40) << "the newest 40 by time skip the late ones";
    std::int64_t late = 0;
    for (auto id = last; id > last - 40 && late == 0; --id) {
        if (!ids.contains(id)) late = id;
    }
    ASSERT_NE(late, 0);
    const auto one = request(api, "/channels/1/feeds/" + std::to_string(late) + ".json").json;
    const auto next = request(api, "/channels/1/feeds/" + std::to_string(late + 1) + ".json").json;
    EXPECT_NEAR((created(next) - created(one)).count(), 3600 + 10, 2) << "an hour older, and one interval (± the posting jitter)";
}
