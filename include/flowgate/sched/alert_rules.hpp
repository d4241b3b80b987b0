#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "flowgate/core/health.hpp"
#include "flowgate/core/telemetry.hpp"

namespace flowgate::sched {

/// One row of alert_rules: a condition on a canonical metric of the nodes it applies to.
struct AlertRule {
    enum class Comparison { above, at_least, below, at_most, not_rising };

    std::string name;                 ///< the alert's kind, e.g. "oht_low_level"
    std::optional<DeviceId> node_id;  ///< one node, or
    std::string category;             ///< every node of a category; neither: every node
    std::string metric;
    Comparison comparison = Comparison::above;
    /// The value compared with; for not_rising, the least rise expected within `for_time`.
    double threshold = 0;
    /// How far back past the threshold the value must go to resolve the alert.
    double hysteresis = 0;
    /// The rule holds only while this metric of the node is true (non-zero), e.g. pump_on.
    std::string while_metric;
    /// How long (by the readings' own times) the condition must last before the alert opens.
    std::chrono::seconds for_time{0};
    std::string severity = "warning";

    friend bool operator==(const AlertRule&, const AlertRule&) = default;
};

/// ">", ">=", "<", "<=", "not_rising" (the database spelling); nullopt otherwise.
std::optional<AlertRule::Comparison> parse_comparison(std::string_view text);

/// Evaluates alert rules on each entry as it is ingested, without I/O. A threshold rule opens
/// its alert once the value has been past the threshold for `for_time` (while `while_metric`
/// is on, when it names one), and resolves it only when the value is back past the
/// threshold by `hysteresis` — so values oscillating around the threshold raise one alert,
/// not one per crossing. A not_rising rule ("pump on, but the level does not rise": a dry
/// run) opens when the metric has risen by less than `threshold` within `for_time` while
/// `while_metric` is on, and resolves when it rises again or `while_metric` goes off.
/// Times are the entries' created_at.
class AlertRules {
public:
    /// The rules, replacing the previous ones: open alerts of a rule gone (or changed) are
    /// resolved.
    std::vector<AlertChange> set_rules(std::vector<AlertRule> rules, Seconds now);
    /// The category of a node, for rules by category.
    void set_category(DeviceId device, std::string category) { categories_[device] = std::move(category); }
    /// An alert open in the database at start-up: not opened again, resolved when its
    /// condition is gone (unknown rule names are ignored).
    void restore_open(DeviceId device, const std::string& rule);
    /// Whether `kind` (alerts.kind) names a rule.
    bool is_rule(const std::string& kind) const;

    std::vector<AlertChange> on_entry(const TelemetryEntry& entry);
    /// Forgets a device no longer polled; its open alerts are resolved.
    std::vector<AlertChange> remove(DeviceId device, Seconds now);

    const std::vector<AlertRule>& rules() const { return rules_; }

private:
    struct State {
        bool open = false;
        std::optional<Seconds> since;  ///< threshold: past it since; not_rising: baseline time
        double baseline = 0;           ///< not_rising: the value at `since`
    };

    bool applies(const AlertRule& rule, DeviceId device) const;
    static AlertChange change(const AlertRule& rule, DeviceId device, bool open, std::string message, Seconds at);

    std::vector<AlertRule> rules_;
    std::map<DeviceId, std::string> categories_;
    std::map<std::pair<std::string, DeviceId>, State> states_;  ///< by rule name and device
    std::map<std::pair<DeviceId, std::string>, double> last_;   ///< last value of each metric
};

} // namespace flowgate::sched
