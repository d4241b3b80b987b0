#pragma once

#include <string>

#include "flowgate/core/health.hpp"
#include "flowgate/core/telemetry.hpp"

namespace flowgate {

/// The TELEMETRY_UPDATE event published for every stored entry, as one JSON text:
/// `{"type":"TELEMETRY_UPDATE","node_id":3,"community_id":1,"source":"thingspeak",
///   "entry_id":5760,"ts":"2026-11-28T21:13:45+05:30",
///   "readings":{"water_level":{"value":2.455,"unit":"m"},"pump_on":{"value":true}}}`
/// `ts` is the entry's own created_at with its own offset. Values keep their type: float and
/// integer as JSON numbers, boolean as true/false, string as a string.
std::string telemetry_update_json(const TelemetryEntry& entry);

/// The NODE_STATUS event of a device's health change:
/// `{"type":"NODE_STATUS","node_id":3,"community_id":1,"status":"stale","previous":"online",
///   "consecutive_failures":0,"reason":"no new entry for 46 s (stale after 45 s)",
///   "at":"2026-12-03T18:02:11Z"}`
std::string node_status_json(const StatusChange& change, CommunityId community);

/// The ALERT event of an alert opened or resolved:
/// `{"type":"ALERT","alert":"device_offline","state":"open","severity":"critical","node_id":3,
///   "community_id":1,"message":"…","at":"2026-12-03T18:02:11Z"}`; node_id is null for an
/// alert about a whole source (source_outage), which goes to every community it serves.
std::string alert_json(const AlertChange& change, CommunityId community);

} // namespace flowgate
