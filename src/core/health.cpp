#include "flowgate/core/health.hpp"

#include <array>

namespace flowgate {

std::string_view to_string(HealthState state) {
    static constexpr std::array<std::string_view, 4> names{"unknown", "online", "stale", "offline"};
    return names[static_cast<std::size_t>(state)];
}

namespace {
constexpr std::array<std::string_view, 5> alert_names{"device_offline", "device_stale", "schema_mismatch", "auth_failed",
                                                      "source_outage"};
}

std::string_view to_string(AlertKind kind) { return alert_names[static_cast<std::size_t>(kind)]; }

std::optional<AlertKind> parse_alert_kind(std::string_view name) {
    for (std::size_t i = 0; i < alert_names.size(); ++i) {
        if (alert_names[i] == name) return static_cast<AlertKind>(i);
    }
    return std::nullopt;
}

std::string_view severity_of(AlertKind kind) {
    return kind == AlertKind::device_stale || kind == AlertKind::schema_mismatch ? "warning" : "critical";
}

} // namespace flowgate
