#pragma once

#include <string>

#include "flowgate/core/telemetry.hpp"

namespace flowgate {

/// The TELEMETRY_UPDATE event published for every stored entry, as one JSON text:
/// `{"type":"TELEMETRY_UPDATE","node_id":3,"community_id":1,"source":"thingspeak",
///   "entry_id":5760,"ts":"2026-11-28T21:13:45+05:30",
///   "readings":{"water_level":{"value":2.455,"unit":"m"},"pump_on":{"value":true}}}`
/// `ts` is the entry's own created_at with its own offset. Values keep their type: float and
/// integer as JSON numbers, boolean as true/false, string as a string.
std::string telemetry_update_json(const TelemetryEntry& entry);

} // namespace flowgate
