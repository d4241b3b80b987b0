#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "flowgate/core/telemetry.hpp"

namespace flowgate {

/// How one ThingSpeak field becomes one metric (a row of thingspeak_field_mappings).
struct FieldMapping {
    int field = 1;                 ///< 1..8
    std::string canonical_name;    ///< metric name
    DataType type = DataType::float64;
    double scale_factor = 1;       ///< value = raw * scale_factor + offset
    double offset = 0;
    std::string unit;
    std::optional<double> min_valid;  ///< calibrated values outside [min, max] are errors
    std::optional<double> max_valid;
    std::string expected_label;    ///< what the channel calls the field; empty: not checked

    friend bool operator==(const FieldMapping&, const FieldMapping&) = default;
};

/// Where the poller resumes a device (node_operational_state).
struct DeviceCursor {
    std::optional<std::int64_t> entry_id;
    std::int32_t channel_epoch = 0;
    /// created_at of the entry `entry_id` (node_operational_state.cursor_created_at), when known.
    std::optional<Seconds> created_at;

    friend bool operator==(const DeviceCursor&, const DeviceCursor&) = default;
};

/// An enabled node whose telemetry comes from a ThingSpeak channel.
struct ThingSpeakDevice {
    DeviceId device_id = 0;
    CommunityId community_id = 0;
    std::string name;
    std::string category;          ///< OHT, Sump, PumpHouse, Borewell, GovtBorewell, FlowMeter
    std::chrono::seconds polling_interval{60};
    int priority = 5;
    std::int64_t channel_id = 0;
    std::optional<std::string> read_api_key;  ///< secret: never logged
    std::vector<FieldMapping> fields;
    DeviceCursor cursor;
    /// nodes.stale_after_s and offline_after_s; none: from the polling interval.
    std::optional<std::chrono::seconds> stale_after;
    std::optional<std::chrono::seconds> offline_after;

    friend bool operator==(const ThingSpeakDevice&, const ThingSpeakDevice&) = default;
};

/// A telemetry_errors row about `device` and its channel.
inline TelemetryErrorRecord device_error(const ThingSpeakDevice& device, ErrorStage stage, std::string message,
                                         Seconds now) {
    TelemetryErrorRecord e;
    e.device_id = device.device_id;
    e.channel_id = device.channel_id;
    e.stage = stage;
    e.message = std::move(message);
    e.occurred_at = now;
    return e;
}

} // namespace flowgate
