// AlertRules on hand-made entries: thresholds with hysteresis and a minimum duration, a
// condition gated by another metric, and the dry-run rule that relates two metrics over time.
#include <gtest/gtest.h>

#include "flowgate/sched/alert_rules.hpp"

namespace flowgate::sched {
namespace {

using namespace std::chrono_literals;
using Comparison = AlertRule::Comparison;

const Seconds t0{std::chrono::sys_days{std::chrono::year{2026} / 12 / 3}};

/// Entry of node `device` at t0 + `at` with the given metrics.
TelemetryEntry entry(DeviceId device, std::chrono::seconds at, std::vector<std::pair<std::string, double>> values) {
    TelemetryEntry e;
    e.device_id = device;
    e.created_at = {t0 + at, std::chrono::minutes{330}};
    for (auto& [metric, v] : values) e.readings.push_back({metric, DataType::float64, v, "", "m"});
    return e;
}

AlertRule low_level() {
    AlertRule r;
    r.name = "oht_low_level";
    r.category = "OHT";
    r.metric = "water_level";
    r.comparison = Comparison::below;
    r.threshold = 0.5;
    r.hysteresis = 0.1;
    r.severity = "critical";
    return r;
}

/// "open oht_low_level 1" per change.
std::vector<std::string> describe(const std::vector<AlertChange>& changes) {
    std::vector<std::string> out;
    for (const auto& c : changes) {
        out.push_back(std::string{c.open ? "open " : "resolve "} + std::string{kind_of(c)} + " " + std::to_string(*c.device_id));
    }
    return out;
}

using Strings = std::vector<std::string>;

TEST(AlertRules, ValuesOscillatingAroundTheThresholdRaiseOneAlert) {
    AlertRules rules;
    rules.set_rules({low_level()}, t0);
    rules.set_category(1, "OHT");
    rules.set_category(2, "Sump");
    std::vector<AlertChange> all;
    int i = 0;
    // Around 0.5, within the hysteresis band: 0.45, 0.55, 0.45, 0.55, …
    for (const double v : {0.8, 0.45, 0.55, 0.45, 0.59, 0.41, 0.55, 0.49}) {
        for (auto& c : rules.on_entry(entry(1, std::chrono::seconds{15 * i++}, {{"water_level", v}}))) all.push_back(c);
    }
    ASSERT_EQ(describe(all), (Strings{"open oht_low_level 1"}));
    EXPECT_EQ(all[0].message, "water_level 0.45 m < 0.5");
    EXPECT_EQ(severity_of(all[0]), "critical");
    EXPECT_EQ(all[0].at, t0 + 15s) << "the reading's own time";
    // Back above threshold + hysteresis: resolved, once.
    EXPECT_EQ(describe(rules.on_entry(entry(1, 200s, {{"water_level", 0.6}}))), (Strings{"resolve oht_low_level 1"}));
    EXPECT_TRUE(rules.on_entry(entry(1, 215s, {{"water_level", 0.65}})).empty());
    EXPECT_TRUE(rules.on_entry(entry(2, 215s, {{"water_level", 0.1}})).empty()) << "a sump is not an OHT";
    EXPECT_TRUE(rules.on_entry(entry(1, 230s, {{"tds", 0.1}})).empty()) << "another metric";
}

TEST(AlertRules, AConditionMustLastItsDurationBeforeTheAlertOpens) {
    auto rule = low_level();
    rule.category.clear();
    rule.node_id = 7;
    rule.for_time = 60s;
    AlertRules rules;
    rules.set_rules({rule}, t0);
    EXPECT_TRUE(rules.on_entry(entry(7, 0s, {{"water_level", 0.4}})).empty());
    EXPECT_TRUE(rules.on_entry(entry(7, 45s, {{"water_level", 0.3}})).empty());
    EXPECT_TRUE(rules.on_entry(entry(7, 50s, {{"water_level", 0.52}})).empty()) << "not past it: the duration starts over";
    EXPECT_TRUE(rules.on_entry(entry(7, 60s, {{"water_level", 0.4}})).empty());
    const auto opened = rules.on_entry(entry(7, 120s, {{"water_level", 0.4}}));
    ASSERT_EQ(describe(opened), (Strings{"open oht_low_level 7"}));
    EXPECT_EQ(opened[0].message, "water_level 0.4 m < 0.5 for 60 s");
    EXPECT_TRUE(rules.on_entry(entry(8, 120s, {{"water_level", 0.1}})).empty()) << "that node only";
}

// A pump house's pump runs but the tank level it fills does not rise: a dry run.
TEST(AlertRules, APumpOnWhileTheLevelDoesNotRiseIsADryRun) {
    AlertRule r;
    r.name = "dry_run";
    r.metric = "water_level";
    r.comparison = Comparison::not_rising;
    r.threshold = 0.05;
    r.while_metric = "pump_on";
    r.for_time = 600s;
    AlertRules rules;
    rules.set_rules({r}, t0);
    std::vector<AlertChange> all;
    const auto feed = [&](std::chrono::seconds at, double level, double pump) {
        auto changes = rules.on_entry(entry(5, at, {{"pump_on", pump}, {"water_level", level}}));
        all.insert(all.end(), changes.begin(), changes.end());
        return changes;
    };
    // The pump is off and the level falls: not a dry run.
    feed(0s, 1.0, 0);
    feed(900s, 0.9, 0);
    // On, and the level rises 0.06 every 5 minutes: fine.
    for (int i = 0; i < 6; ++i) feed(std::chrono::seconds{1000 + 300 * i}, 0.9 + 0.06 * i, 1);
    EXPECT_TRUE(all.empty());
    // On, and the level (1.2) stays put for 10 minutes: open, once.
    const auto base = std::chrono::seconds{1000 + 300 * 5};
    feed(base + 300s, 1.2, 1);
    EXPECT_TRUE(feed(base + 599s, 1.2, 1).empty());
    const auto opened = feed(base + 600s, 1.21, 1);
    ASSERT_EQ(describe(opened), (Strings{"open dry_run 5"}));
    EXPECT_EQ(opened[0].message, "water_level rose 0.010000000000000009 in 600 s while pump_on was on (expected at least 0.05)");
    EXPECT_TRUE(feed(base + 900s, 1.21, 1).empty());
    // The pump stops: resolved. Started again, rising: nothing.
    EXPECT_EQ(describe(feed(base + 1200s, 1.21, 0)), (Strings{"resolve dry_run 5"}));
    EXPECT_TRUE(feed(base + 1500s, 1.21, 1).empty());
    EXPECT_TRUE(feed(base + 1800s, 1.3, 1).empty());
    // Rising again resolves it too.
    EXPECT_EQ(describe(feed(base + 2400s, 1.3, 1)), (Strings{"open dry_run 5"})) << "10 minutes at 1.3";
    EXPECT_EQ(describe(feed(base + 2500s, 1.4, 1)), (Strings{"resolve dry_run 5"}));
}

TEST(AlertRules, ARuleChangedOrRemovedResolvesItsOpenAlerts) {
    AlertRules rules;
    rules.set_rules({low_level()}, t0);
    rules.set_category(1, "OHT");
    rules.on_entry(entry(1, 0s, {{"water_level", 0.1}}));
    EXPECT_TRUE(rules.set_rules({low_level()}, t0).empty()) << "unchanged";
    auto higher = low_level();
    higher.threshold = 0.05;
    const auto changed = rules.set_rules({higher}, t0 + 60s);
    EXPECT_EQ(describe(changed), (Strings{"resolve oht_low_level 1"}));
    EXPECT_EQ(changed[0].message, "the rule was changed or removed");
    EXPECT_TRUE(rules.on_entry(entry(1, 75s, {{"water_level", 0.1}})).empty()) << "0.1 is not below 0.05";

    // Restored open at start-up: resolved by the next reading that is fine.
    AlertRules restarted;
    restarted.set_rules({low_level()}, t0);
    restarted.set_category(1, "OHT");
    restarted.restore_open(1, "oht_low_level");
    restarted.restore_open(1, "no_such_rule");
    EXPECT_TRUE(restarted.on_entry(entry(1, 0s, {{"water_level", 0.2}})).empty()) << "open already";
    EXPECT_EQ(describe(restarted.on_entry(entry(1, 15s, {{"water_level", 0.7}}))), (Strings{"resolve oht_low_level 1"}));
    EXPECT_EQ(describe(restarted.remove(1, t0)), Strings{});
}

TEST(AlertRules, ComparisonsAreSpelledAsInTheDatabase) {
    EXPECT_EQ(parse_comparison(">="), Comparison::at_least);
    EXPECT_EQ(parse_comparison("not_rising"), Comparison::not_rising);
    EXPECT_FALSE(parse_comparison("=>").has_value());
}

} // namespace
} // namespace flowgate::sched
