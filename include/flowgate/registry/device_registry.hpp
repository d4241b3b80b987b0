#pragma once

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "flowgate/core/health.hpp"
#include "flowgate/sched/alert_rules.hpp"
#include "flowgate/registry/device.hpp"
#include "flowgate/registry/topology.hpp"

namespace flowgate::registry {

/// Loading the registry failed: PostgreSQL unreachable, schema not migrated, or a row that
/// breaks an invariant. what() names the problem; it never contains a password or API key.
class RegistryError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Every enabled node whose telemetry_source is 'thingspeak' and that has a
/// device_thingspeak_mapping, ordered by id, with its field mappings (ordered by field) and
/// its cursor from node_operational_state (empty cursor, epoch 0, when it has none yet).
/// Opens one connection to `url` (a libpq URL) for the call; throws RegistryError. With
/// `only`, just those of the nodes it names.
std::vector<ThingSpeakDevice> load_thingspeak_devices(const std::string& url, const std::set<DeviceId>* only = nullptr);

/// Every community and every node with its community; throws RegistryError.
Topology load_topology(const std::string& url);

struct OpenAlert {
    std::optional<DeviceId> device_id;
    std::string kind;  ///< alerts.kind: an AlertKind, or a rule's name
};

/// The alerts not resolved yet; throws RegistryError.
std::vector<OpenAlert> load_open_alerts(const std::string& url);

/// The enabled rows of alert_rules; throws RegistryError.
std::vector<sched::AlertRule> load_alert_rules(const std::string& url);

} // namespace flowgate::registry
