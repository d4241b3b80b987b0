#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "flowgate/obs/logger.hpp"
#include "flowgate/registry/device.hpp"
#include "flowgate/registry/topology.hpp"
#include "flowgate/sched/alert_rules.hpp"

namespace flowgate::registry {

/// What changed in the registry, as it is now.
struct RegistryUpdate {
    /// Every node may have changed: the watcher (re)connected and may have missed some.
    bool all = false;
    /// The nodes named by the notifications, when not `all`.
    std::set<DeviceId> changed;
    /// Of those (or of all), the ones that are ThingSpeak devices to poll now; a changed node
    /// not among them was deleted, disabled or lost its channel mapping.
    std::vector<ThingSpeakDevice> devices;
    Topology topology;
    /// Every enabled alert rule.
    std::vector<sched::AlertRule> rules;
};

/// Keeps the daemon's copy of the registry current: LISTENs on `flowgate_registry` (the
/// triggers of migrations 0003 and 0004 notify it with the node id of every change to nodes,
/// channel and field mappings, and with an empty payload for communities and alert rules), waits `settle` for the rest of a burst of changes,
/// loads the nodes named, and hands them to `on_update` — on its own thread, with its own
/// connection. After every (re)connection it reloads everything once, since notifications
/// sent meanwhile are lost. PostgreSQL down is one warning, then retries.
class RegistryWatcher {
public:
    using Handler = std::function<void(RegistryUpdate)>;

    RegistryWatcher(std::string url, obs::Logger log, Handler on_update,
                    std::chrono::milliseconds settle = std::chrono::milliseconds{200});
    /// stop().
    ~RegistryWatcher();
    RegistryWatcher(const RegistryWatcher&) = delete;
    RegistryWatcher& operator=(const RegistryWatcher&) = delete;

    /// Ends the thread (within about 100 ms); no call of the handler starts after it returns.
    void stop();

    /// Reloads every node soon (within about the settle time), as after a reconnection: for
    /// changes made without the triggers (a bulk load with session_replication_role =
    /// replica) or an operator's SIGHUP. From any thread.
    void reload_all();

    /// Whether it is listening for changes now (false while PostgreSQL is out of reach).
    /// From any thread.
    bool listening() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace flowgate::registry
