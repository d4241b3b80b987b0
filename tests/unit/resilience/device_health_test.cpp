// DeviceHealth with a fake clock: Online, Stale, Offline and back, and the alerts that open
// once per condition and resolve themselves.
#include <gtest/gtest.h>

#include "flowgate/core/fake_clock.hpp"
#include "flowgate/sched/device_health.hpp"

namespace flowgate::sched {
namespace {

using namespace std::chrono_literals;

class DeviceHealthTest : public ::testing::Test {
protected:
    DeviceHealthTest() {
        // Polled every 15 s: stale after 45 s, offline after 150 s.
        health.add(1, HealthOptions::for_interval(15s, std::nullopt, std::nullopt));
        health.add(2, HealthOptions::for_interval(15s, std::nullopt, std::nullopt));
    }

    Seconds now() const { return std::chrono::floor<std::chrono::seconds>(clock.wall_now()); }

    /// "open device_stale 1" for each alert change, "1 online->stale" for each status change.
    static std::vector<std::string> describe(const DeviceHealth::Changes& c) {
        std::vector<std::string> out;
        for (const auto& s : c.status) {
            out.push_back(std::to_string(s.device_id) + " " + std::string{to_string(s.from)} + "->" +
                          std::string{to_string(s.to)});
        }
        for (const auto& a : c.alerts) {
            out.push_back(std::string{a.open ? "open " : "resolve "} + std::string{to_string(a.kind)} + " " +
                          (a.device_id ? std::to_string(*a.device_id) : "source"));
        }
        return out;
    }

    FakeClock clock;
    DeviceHealth health{clock};
};

using Strings = std::vector<std::string>;

TEST_F(DeviceHealthTest, ADeviceThatStopsPostingGoesStaleThenOfflineThenComesBack) {
    EXPECT_EQ(describe(health.on_entry(1, now())), (Strings{"1 unknown->online"}));
    EXPECT_EQ(health.state(1), HealthState::online);
    EXPECT_TRUE(health.on_entry(1, now()).empty()) << "online stays online, nothing to say";

    clock.advance(44s);
    health.on_entry(2, now());
    EXPECT_TRUE(health.tick().empty()) << "44 s of a 45 s stale-after";
    clock.advance(1s);
    const auto stale = health.tick();
    EXPECT_EQ(describe(stale), (Strings{"1 online->stale", "open device_stale 1"}));
    EXPECT_EQ(stale.status[0].reason, "no new entry for 45 s (stale after 45 s)");
    EXPECT_EQ(stale.alerts[0].message, stale.status[0].reason);
    EXPECT_EQ(stale.status[0].at, now());
    EXPECT_TRUE(health.tick().empty()) << "the alert opens once";

    clock.advance(105s);
    EXPECT_EQ(describe(health.tick()),
              (Strings{"1 stale->offline", "2 online->stale", "resolve device_stale 1", "open device_offline 1",
                       "open device_stale 2"}));
    clock.advance(1h);
    EXPECT_EQ(describe(health.tick()), (Strings{"2 stale->offline", "resolve device_stale 2", "open device_offline 2"}));
    EXPECT_TRUE(health.tick().empty());

    EXPECT_EQ(describe(health.on_entry(1, now())), (Strings{"1 offline->online", "resolve device_offline 1"}));
    EXPECT_FALSE(health.is_open(1, AlertKind::device_offline));
    EXPECT_TRUE(health.is_open(2, AlertKind::device_offline));
}

TEST_F(DeviceHealthTest, ADeviceNeverHeardOfGoesStaleFromTheStart) {
    clock.advance(45s);
    health.on_entry(2, now());
    EXPECT_EQ(describe(health.tick()), (Strings{"1 unknown->stale", "open device_stale 1"}));
}

TEST_F(DeviceHealthTest, OldEntriesAreHistoryNotNewsOfTheDevice) {
    // A first read of a channel that last posted a day ago.
    EXPECT_TRUE(health.on_entry(1, now() - std::chrono::hours{24}).empty());
    EXPECT_EQ(health.state(1), HealthState::unknown);
    // Within offline_after (a slow clock, a late upload): news.
    EXPECT_EQ(describe(health.on_entry(1, now() - 100s)), (Strings{"1 unknown->online"}));
}

TEST_F(DeviceHealthTest, ThreeFailedFetchesInARowAreOffline) {
    health.on_entry(1, now());
    EXPECT_TRUE(health.on_fetch(1, FetchVerdict::failed, "HTTP 404").empty());
    EXPECT_TRUE(health.on_fetch(1, FetchVerdict::ok).empty()) << "a success in between starts the count over";
    health.on_fetch(1, FetchVerdict::failed, "HTTP 404");
    EXPECT_TRUE(health.on_fetch(1, FetchVerdict::failed, "HTTP 404").empty());
    const auto offline = health.on_fetch(1, FetchVerdict::failed, "HTTP 404: the channel does not exist");
    EXPECT_EQ(describe(offline), (Strings{"1 online->offline", "open device_offline 1"}));
    EXPECT_EQ(offline.status[0].consecutive_failures, 3);
    EXPECT_EQ(offline.status[0].reason, "3 failed fetches in a row: HTTP 404: the channel does not exist");
    EXPECT_TRUE(health.on_fetch(1, FetchVerdict::failed, "HTTP 404").empty());
    EXPECT_TRUE(health.on_fetch(1, FetchVerdict::ok).empty()) << "answering is not enough: a new entry is";
    EXPECT_EQ(describe(health.on_entry(1, now())), (Strings{"1 offline->online", "resolve device_offline 1"}));
}

TEST_F(DeviceHealthTest, AWrongKeyIsOneAuthAlertUntilAFetchWorks) {
    EXPECT_EQ(describe(health.on_fetch(2, FetchVerdict::auth_failed, "the read key is refused")),
              (Strings{"open auth_failed 2"}));
    EXPECT_TRUE(health.on_fetch(2, FetchVerdict::auth_failed, "the read key is refused").empty());
    EXPECT_EQ(describe(health.on_fetch(2, FetchVerdict::auth_failed, "the read key is refused")),
              (Strings{"2 unknown->offline", "open device_offline 2"}));
    EXPECT_FALSE(health.is_open(1, AlertKind::auth_failed)) << "that device only";
    EXPECT_EQ(describe(health.on_fetch(2, FetchVerdict::ok)), (Strings{"resolve auth_failed 2"}));
}

TEST_F(DeviceHealthTest, ASchemaMismatchOpensOnceAndResolvesWhenTheLabelsMatch) {
    const auto opened = health.on_schema(1, "field2 is now labelled 'Temp', expected 'Level'");
    EXPECT_EQ(describe(opened), (Strings{"open schema_mismatch 1"}));
    EXPECT_EQ(opened.alerts[0].message, "field2 is now labelled 'Temp', expected 'Level'");
    EXPECT_TRUE(health.on_schema(1, "field2 is now labelled 'Temp', expected 'Level'").empty());
    EXPECT_EQ(describe(health.on_schema(1, std::nullopt)), (Strings{"resolve schema_mismatch 1"}));
    EXPECT_TRUE(health.on_schema(1, std::nullopt).empty());
}

TEST_F(DeviceHealthTest, ASourceOutageIsOneAlertAndFlipsNoDevice) {
    health.on_entry(1, now());
    health.on_entry(2, now());
    clock.advance(10s);
    const auto down = health.on_source(false, "HTTP 503");
    EXPECT_EQ(describe(down), (Strings{"open source_outage source"}));
    EXPECT_FALSE(down.alerts[0].device_id.has_value());
    EXPECT_EQ(down.alerts[0].message, "HTTP 503");
    EXPECT_TRUE(health.on_source(false, "HTTP 503").empty());
    clock.advance(10min);
    EXPECT_TRUE(health.tick().empty()) << "ten minutes without entries, but the source is down";
    EXPECT_EQ(describe(health.on_source(true)), (Strings{"resolve source_outage source"}));
    clock.advance(44s);
    EXPECT_TRUE(health.tick().empty()) << "a fresh stale-after once the source is back";
    health.on_entry(1, now());
    clock.advance(1s);
    EXPECT_EQ(describe(health.tick()), (Strings{"2 online->stale", "open device_stale 2"}));
}

TEST_F(DeviceHealthTest, AlertsOpenAtStartUpAreResolvedNotOpenedAgain) {
    health.restore_open(1, AlertKind::device_offline);
    health.restore_open(2, AlertKind::auth_failed);
    health.restore_open(std::nullopt, AlertKind::source_outage);
    health.restore_open(99, AlertKind::device_offline); // a node deleted since: ignored
    EXPECT_EQ(describe(health.on_entry(1, now())), (Strings{"1 unknown->online", "resolve device_offline 1"}));
    EXPECT_TRUE(health.on_fetch(2, FetchVerdict::auth_failed, "refused").empty()) << "open already";
    EXPECT_EQ(describe(health.on_fetch(1, FetchVerdict::ok)), (Strings{"resolve source_outage source"}))
        << "a fetch that works ends an outage the breaker never saw";
}

TEST_F(DeviceHealthTest, ADeviceNoLongerPolledHasItsAlertsResolvedAndIsForgotten) {
    health.on_fetch(1, FetchVerdict::auth_failed, "refused");
    clock.advance(45s);
    health.on_entry(2, now());
    health.tick();
    EXPECT_EQ(describe(health.remove(1)), (Strings{"resolve device_stale 1", "resolve auth_failed 1"}));
    EXPECT_EQ(health.state(1), HealthState::unknown);
    clock.advance(1h);
    EXPECT_EQ(describe(health.tick()), (Strings{"2 online->offline", "open device_offline 2"})) << "device 1 is gone";
    // Tracked again (re-enabled), or its times changed: the state stays.
    health.add(2, HealthOptions::for_interval(60s, std::nullopt, std::nullopt));
    EXPECT_EQ(health.state(2), HealthState::offline);
}

// Polled every 15 s, but it posts every 5 minutes: stale after 3 of its own intervals, not 3
// polls — or every device polled faster than it posts would flap between its posts.
TEST_F(DeviceHealthTest, ADeviceThatPostsLessOftenThanItIsPolledIsStaleByItsOwnInterval) {
    // A first read's history: entries 5 minutes apart, the newest 4 minutes old. Polled every
    // 15 s, offline after 150 s, that would be history; posting every 5 minutes, it is news.
    clock.advance(1h);
    health.on_entry(2, now());
    for (int i = 3; i >= 1; --i) health.on_entry(1, now() - std::chrono::minutes{5 * i - 1});
    health.on_entry(1, now() - 4min);
    EXPECT_EQ(health.state(1), HealthState::online);
    clock.advance(14min);
    health.on_entry(2, now());
    EXPECT_TRUE(health.tick().empty()) << "14 minutes without a new entry: not 3 of its intervals yet";
    clock.advance(1min);
    health.on_entry(2, now());
    const auto stale = health.tick();
    EXPECT_EQ(describe(stale), (Strings{"1 online->stale", "open device_stale 1"}));
    EXPECT_EQ(stale.status[0].reason, "no new entry for 900 s (stale after 900 s)");

    // Entries stamped 15 s apart (a device clock, or simulated time), arriving 5 minutes
    // apart: what counts is when news arrives.
    health.add(4, HealthOptions::for_interval(15s, std::nullopt, std::nullopt));
    for (const auto ago : {30s, 15s, 0s}) health.on_entry(4, now() - ago);
    clock.advance(5min);
    health.on_entry(4, now());
    health.on_entry(4, now()); // the same poll's next entry
    clock.advance(14min);
    health.on_entry(2, now());
    EXPECT_TRUE(health.tick().empty());
    clock.advance(1min);
    health.on_entry(2, now());
    EXPECT_EQ(health.tick().status.at(0).reason, "no new entry for 900 s (stale after 900 s)");

    // A node's own stale_after is taken as it is.
    health.add(3, HealthOptions::for_interval(15s, 45s, std::nullopt));
    health.on_entry(3, now() - 10min);
    health.on_entry(3, now() - 5min);
    health.on_entry(3, now());
    clock.advance(45s);
    health.on_entry(2, now());
    EXPECT_EQ(describe(health.tick()), (Strings{"3 online->stale", "open device_stale 3"}));
}

TEST_F(DeviceHealthTest, NodeOverridesAndBounds) {
    const auto own = HealthOptions::for_interval(60s, 10min, std::nullopt);
    EXPECT_EQ(own.stale_after, 10min);
    EXPECT_EQ(own.offline_after, 10min) << "never offline before stale";
    const auto defaults = HealthOptions::for_interval(60s, std::nullopt, std::nullopt);
    EXPECT_EQ(defaults.stale_after, 3min);
    EXPECT_EQ(defaults.offline_after, 10min);
}

} // namespace
} // namespace flowgate::sched
