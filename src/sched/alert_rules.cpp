#include "flowgate/sched/alert_rules.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

namespace flowgate::sched {
namespace {

using Comparison = AlertRule::Comparison;

constexpr std::array<std::pair<Comparison, std::string_view>, 5> comparison_names{{
    {Comparison::above, ">"},
    {Comparison::at_least, ">="},
    {Comparison::below, "<"},
    {Comparison::at_most, "<="},
    {Comparison::not_rising, "not_rising"},
}};

std::string_view spelling(Comparison c) {
    for (const auto& [comparison, text] : comparison_names) {
        if (comparison == c) return text;
    }
    return "?";
}

std::string number(double v) {
    std::array<char, 32> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return std::string(buf.data(), end);
}

bool past(Comparison c, double value, double threshold) {
    switch (c) {
    case Comparison::above: return value > threshold;
    case Comparison::at_least: return value >= threshold;
    case Comparison::below: return value < threshold;
    case Comparison::at_most: return value <= threshold;
    case Comparison::not_rising: return false;
    }
    return false;
}

/// Back on the right side of the threshold, by the hysteresis.
bool back(Comparison c, double value, double threshold, double hysteresis) {
    return c == Comparison::above || c == Comparison::at_least ? value <= threshold - hysteresis
                                                                : value >= threshold + hysteresis;
}

const Reading* find(const TelemetryEntry& entry, const std::string& metric) {
    for (const auto& r : entry.readings) {
        if (r.metric == metric && r.type != DataType::text) return &r;
    }
    return nullptr;
}

} // namespace

std::optional<Comparison> parse_comparison(std::string_view text) {
    for (const auto& [comparison, name] : comparison_names) {
        if (name == text) return comparison;
    }
    return std::nullopt;
}

std::vector<AlertChange> AlertRules::set_rules(std::vector<AlertRule> rules, Seconds now) {
    std::vector<AlertChange> out;
    std::map<std::string, const AlertRule*> kept;
    for (const auto& rule : rules) kept[rule.name] = &rule;
    for (auto it = states_.begin(); it != states_.end();) {
        const auto& [name, device] = it->first;
        const auto old = std::find_if(rules_.begin(), rules_.end(), [&](const AlertRule& r) { return r.name == name; });
        const auto now_is = kept.find(name);
        const bool same = now_is != kept.end() && old != rules_.end() && *now_is->second == *old;
        if (same) {
            ++it;
            continue;
        }
        // A rule gone or changed starts over: what it said no longer stands.
        if (it->second.open) {
            const auto& rule = old != rules_.end() ? *old : *now_is->second;
            out.push_back(change(rule, device, false, "the rule was changed or removed", now));
        }
        it = states_.erase(it);
    }
    rules_ = std::move(rules);
    return out;
}

void AlertRules::restore_open(DeviceId device, const std::string& rule) {
    if (is_rule(rule)) states_[{rule, device}].open = true;
}

bool AlertRules::is_rule(const std::string& kind) const {
    return std::any_of(rules_.begin(), rules_.end(), [&](const AlertRule& r) { return r.name == kind; });
}

std::vector<AlertChange> AlertRules::on_entry(const TelemetryEntry& entry) {
    std::vector<AlertChange> out;
    const auto device = entry.device_id;
    const auto at = entry.created_at.utc;
    for (const auto& r : entry.readings) {
        if (r.type != DataType::text) last_[{device, r.metric}] = r.number;
    }
    for (const auto& rule : rules_) {
        if (!applies(rule, device)) continue;
        const auto* reading = find(entry, rule.metric);
        if (!reading) continue;
        const double value = reading->number;
        bool gate = true;
        if (!rule.while_metric.empty()) {
            const auto it = last_.find({device, rule.while_metric});
            gate = it != last_.end() && it->second != 0;
        }
        auto& s = states_[{rule.name, device}];
        const auto describe = rule.metric + " " + number(value) + (reading->unit.empty() ? "" : " " + reading->unit);
        if (rule.comparison == Comparison::not_rising) {
            if (!gate) {
                if (s.open) out.push_back(change(rule, device, false, rule.while_metric + " is off", at));
                s = {};
                continue;
            }
            if (!s.since) { // the first reading while on (an alert restored open stays open)
                s.since = at;
                s.baseline = value;
                continue;
            }
            if (value >= s.baseline + rule.threshold) {
                if (s.open) out.push_back(change(rule, device, false, describe + ": rising again", at));
                s = {.open = false, .since = at, .baseline = value};
                continue;
            }
            if (!s.open && at - *s.since >= rule.for_time) {
                s.open = true;
                out.push_back(change(rule, device, true,
                                     rule.metric + " rose " + number(value - s.baseline) + " in " +
                                         std::to_string((at - *s.since).count()) + " s while " + rule.while_metric +
                                         " was on (expected at least " + number(rule.threshold) + ")",
                                     at));
            }
            continue;
        }
        if (s.open) {
            if (!gate || back(rule.comparison, value, rule.threshold, rule.hysteresis)) {
                out.push_back(change(rule, device, false, describe + (gate ? ": back within the threshold" : ""), at));
                s = {};
            }
            continue;
        }
        if (!gate || !past(rule.comparison, value, rule.threshold)) {
            s.since.reset();
            continue;
        }
        if (!s.since) s.since = at;
        if (at - *s.since >= rule.for_time) {
            s.open = true;
            out.push_back(change(rule, device, true,
                                 describe + " " + std::string{spelling(rule.comparison)} + " " + number(rule.threshold) +
                                     (rule.for_time.count() > 0 ? " for " + std::to_string((at - *s.since).count()) + " s" : ""),
                                 at));
        }
    }
    return out;
}

std::vector<AlertChange> AlertRules::remove(DeviceId device, Seconds now) {
    std::vector<AlertChange> out;
    for (auto it = states_.begin(); it != states_.end();) {
        if (it->first.second != device) {
            ++it;
            continue;
        }
        const auto rule = std::find_if(rules_.begin(), rules_.end(), [&](const AlertRule& r) { return r.name == it->first.first; });
        if (it->second.open && rule != rules_.end()) {
            out.push_back(change(*rule, device, false, "the device is no longer polled", now));
        }
        it = states_.erase(it);
    }
    std::erase_if(last_, [device](const auto& v) { return v.first.first == device; });
    categories_.erase(device);
    return out;
}

bool AlertRules::applies(const AlertRule& rule, DeviceId device) const {
    if (rule.node_id) return *rule.node_id == device;
    if (rule.category.empty()) return true;
    const auto it = categories_.find(device);
    return it != categories_.end() && it->second == rule.category;
}

AlertChange AlertRules::change(const AlertRule& rule, DeviceId device, bool open, std::string message, Seconds at) {
    return {.device_id = device,
            .kind = AlertKind::rule,
            .open = open,
            .message = std::move(message),
            .at = at,
            .rule = rule.name,
            .rule_severity = rule.severity};
}

} // namespace flowgate::sched
