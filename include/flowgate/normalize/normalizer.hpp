#pragma once

#include <vector>

#include "flowgate/core/telemetry.hpp"
#include "flowgate/core/time_format.hpp"
#include "flowgate/normalize/feed.hpp"
#include "flowgate/registry/device.hpp"

namespace flowgate::normalize {

/// What one response of one device turned into.
struct NormalizeResult {
    /// One per feed entry that yielded at least one reading, in feed order.
    std::vector<TelemetryEntry> entries;
    /// Stages schema, parse and conversion; occurred_at is the `now` given to normalize().
    std::vector<TelemetryErrorRecord> errors;
};

/// Turns a parsed ThingSpeak response into typed, calibrated readings by a device's field
/// mappings. Sans-io and stateless: it reads no clock (time comes in as `now`) and keeps
/// nothing between calls.
class Normalizer {
public:
    /// - Schema: when `feed.channel` is present, a mapping whose expected_label is set and
    ///   differs from the channel's label for that field (or whose field is disabled) gets one
    ///   schema error, and that field is stored for no entry of this response. Without a
    ///   channel (last.json) labels cannot be checked and are not.
    /// - Each entry needs an entry_id and an ISO-8601 created_at with a zone; otherwise one parse
    ///   error and the entry is skipped. Readings carry the entry's own created_at and offset.
    /// - Each mapped field is converted by convert_field(): a missing value is no reading and no
    ///   error; an invalid one is a conversion error (raw_value at most 255 bytes) and only that
    ///   metric of the entry is lost. A field that is a JSON object, array or boolean is a parse
    ///   error for that field.
    /// - Readings follow the order of `device.fields`; an entry without any reading is left out.
    NormalizeResult normalize(const ThingSpeakDevice& device, const Feed& feed, Seconds now) const;
};

/// Why `device`'s field mappings cannot be used (a scale that is zero or not finite, an offset
/// that is not finite, a valid bound that is NaN), or empty when they can.
std::string mapping_problem(const ThingSpeakDevice& device);

} // namespace flowgate::normalize
