#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "flowgate/core/telemetry.hpp"

namespace flowgate {

/// How a device is doing (node_operational_state.status). Unknown until its first poll says.
enum class HealthState { unknown, online, stale, offline };
std::string_view to_string(HealthState state);

/// What an alert is about (alerts.kind).
/// `rule`: an alert rule of the database (alerts.kind is then the rule's name).
enum class AlertKind { device_offline, device_stale, schema_mismatch, auth_failed, source_outage, rule };
std::string_view to_string(AlertKind kind);
std::optional<AlertKind> parse_alert_kind(std::string_view name);
/// "critical" or "warning" (alerts.severity).
std::string_view severity_of(AlertKind kind);

/// How one fetch of a device ended, as far as the device is concerned. A failure of the
/// source (network, timeout, 5xx, 429) is not the device's: the source's circuit breaker
/// stands for those.
enum class FetchVerdict { ok, failed, auth_failed };

/// A device's health changed: node_operational_state and a NODE_STATUS event.
struct StatusChange {
    DeviceId device_id = 0;
    HealthState from = HealthState::unknown;
    HealthState to = HealthState::unknown;
    int consecutive_failures = 0;
    std::string reason;
    Seconds at{};

    friend bool operator==(const StatusChange&, const StatusChange&) = default;
};

/// An alert opened or resolved: a row of alerts and an ALERT event.
struct AlertChange {
    std::optional<DeviceId> device_id;  ///< none: about a whole source (source_outage)
    AlertKind kind = AlertKind::device_offline;
    bool open = true;                   ///< false: resolved
    std::string message;
    Seconds at{};
    std::string rule;                   ///< AlertKind::rule: the rule's name
    std::string rule_severity;          ///< AlertKind::rule: its severity

    friend bool operator==(const AlertChange&, const AlertChange&) = default;
};

/// alerts.kind of the change: its kind, or the rule's name.
std::string_view kind_of(const AlertChange& change);
/// alerts.severity of the change.
std::string_view severity_of(const AlertChange& change);

} // namespace flowgate
