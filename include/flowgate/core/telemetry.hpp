#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flowgate/core/time_format.hpp"

namespace flowgate {

using DeviceId = std::int64_t;
using CommunityId = std::int64_t;

/// What a raw field string is converted to (thingspeak_field_mappings.data_type).
enum class DataType { float64, integer, boolean, text };

/// "float", "integer", "boolean", "string" (the database spelling); nullopt otherwise.
std::optional<DataType> parse_data_type(std::string_view name);
std::string_view to_string(DataType type);

/// One typed, calibrated value of one metric of one entry.
struct Reading {
    std::string metric;  ///< canonical name, e.g. "water_level"
    DataType type = DataType::float64;
    double number = 0;   ///< float64, integer and boolean (0/1), after scale and offset
    std::string text;    ///< DataType::text only
    std::string unit;    ///< e.g. "cm"; empty when the mapping has none

    friend bool operator==(const Reading&, const Reading&) = default;
};

/// Every reading of one source entry (one ThingSpeak feed entry), at the entry's own time.
struct TelemetryEntry {
    DeviceId device_id = 0;
    CommunityId community_id = 0;
    std::string source = "thingspeak";
    std::int64_t entry_id = 0;
    /// How often the channel's entry ids restarted (it was cleared): with entry_id, names
    /// the entry for good.
    std::int32_t channel_epoch = 0;
    OffsetTime created_at;  ///< as the source wrote it; never invented
    std::vector<Reading> readings;

    friend bool operator==(const TelemetryEntry&, const TelemetryEntry&) = default;
};

/// Where in the path a failure happened (telemetry_errors.stage).
enum class ErrorStage { fetch, auth, parse, conversion, schema, storage };
std::string_view to_string(ErrorStage stage);

/// One row of telemetry_errors. Its text never contains an API key or token.
struct TelemetryErrorRecord {
    std::optional<DeviceId> device_id;
    std::optional<std::int64_t> channel_id;
    ErrorStage stage = ErrorStage::fetch;
    std::string message;
    std::optional<std::int64_t> entry_id;
    std::optional<std::string> field;      ///< "field3"
    std::optional<std::string> raw_value;  ///< the offending value, at most 255 bytes
    std::optional<int> http_status;
    Seconds occurred_at{};

    friend bool operator==(const TelemetryErrorRecord&, const TelemetryErrorRecord&) = default;
};

} // namespace flowgate
