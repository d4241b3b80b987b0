#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <variant>
#include <vector>

#include "flowgate/obs/logger.hpp"
#include "flowgate/registry/device_registry.hpp"
#include "flowgate/sched/alert_rules.hpp"
#include "flowgate/sched/device_health.hpp"
#include "flowgate/sources/telemetry_sink.hpp"

namespace flowgate::bus {
class RedisPublisher;
}
namespace flowgate::storage {
class PgWriter;
}

namespace flowgate::app {

/// The Ingest stage of DESIGN.md: what the sources read goes to the PostgreSQL writer and to
/// the publisher side by side, and what they say about their devices to DeviceHealth, whose
/// status changes and alerts are stored (node_operational_state, alerts), published
/// (NODE_STATUS, ALERT) and logged. A live update never waits for a commit, so dashboards
/// stay live while PostgreSQL is down; an entry read again (the writer's queue was full, or
/// the daemon restarted) is published under the same dedupe id, which the publisher's
/// script turns into a no-op. Alert rules are evaluated on entries created within the last
/// hour when they arrive (not on a first read's history or an old backfill). Loop thread only.
class Ingest final : public sources::TelemetrySink {
public:
    struct Stats {
        std::uint64_t entries = 0;  ///< entries handed in
        std::uint64_t rejected = 0; ///< not queued for storage (queue full): read again later
        std::uint64_t alerts_opened = 0;
    };

    Ingest(storage::PgWriter& writer, bus::RedisPublisher& publisher, const Clock& clock, obs::Logger log);

    /// Tracks the health of `device` (again: with its new times and community).
    void track(const ThingSpeakDevice& device);
    /// Stops tracking a device no longer polled; its open alerts are resolved.
    void untrack(DeviceId device);
    /// The alert rules, replacing the previous ones (open alerts of a rule changed or gone
    /// are resolved).
    void set_rules(std::vector<sched::AlertRule> rules);
    /// Alerts open in the database at start-up (after set_rules()): resolved when their
    /// condition is gone.
    void restore(const std::vector<registry::OpenAlert>& alerts);
    /// Time passed (call it every second or so): devices with nothing new go Stale, then
    /// Offline; health changes the writer could not take are offered again.
    void tick();

    bool submit(TelemetryEntry entry) override;
    bool submit_error(TelemetryErrorRecord error) override;
    void submit_cursor(DeviceId device, DeviceCursor cursor) override;
    void fetch_completed(DeviceId device, FetchVerdict verdict, std::string_view error) override;
    void schema_checked(DeviceId device, std::optional<std::string> problem) override;
    void source_state(bool available, std::string_view why) override;

    Stats stats() const { return stats_; }
    const sched::DeviceHealth& health() const { return health_; }

private:
    void apply(sched::DeviceHealth::Changes changes);
    void store(std::variant<StatusChange, AlertChange> change);
    void publish_to(CommunityId community, std::optional<DeviceId> node, const std::string& dedupe_id,
                    std::string event);

    storage::PgWriter& writer_;
    bus::RedisPublisher& publisher_;
    obs::Logger log_;
    const Clock& clock_;
    sched::DeviceHealth health_;
    sched::AlertRules rules_;
    std::map<DeviceId, CommunityId> community_of_;
    /// Health changes the writer's queue refused, in order: offered again on tick().
    std::deque<std::variant<StatusChange, AlertChange>> unstored_;
    Stats stats_;
};

} // namespace flowgate::app
