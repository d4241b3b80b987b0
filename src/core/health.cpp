#include "flowgate/core/health.hpp"

#include <array>

namespace flowgate {

std::string_view to_string(HealthState state) {
    static constexpr std::array<std::string_view, 4> names{"unknown", "online", "stale", "offline"};
    return names[static_cast<std::size_t>(state)];
}

namespace {
constexpr std::array<std::string_view, 6> alert_names{"device_offline", "device_stale", "schema_mismatch", "auth_failed",
                                                      "source_outage", "rule"};
}

std::string_view to_string(AlertKind kind) { return alert_names[static_cast<std::size_t>(kind)]; }

std::optional<AlertKind> parse_alert_kind(std::string_view name) {
    for (std::size_t i = 0; i < static_cast<std::size_t>(AlertKind::rule); ++i) {
        if (alert_names[i] == name) return static_cast<AlertKind>(i);
    }
    return std::nullopt;
}

std::string_view severity_of(AlertKind kind) {
    return kind == AlertKind::device_stale || kind == AlertKind::schema_mismatch ? "warning" : "critical";
}

std::string_view kind_of(const AlertChange& change) {
    return change.kind == AlertKind::rule ? std::string_view{change.rule} : to_string(change.kind);
}

std::string_view severity_of(const AlertChange& change) {
    return change.kind == AlertKind::rule ? std::string_view{change.rule_severity} : severity_of(change.kind);
}

} // namespace flowgate
