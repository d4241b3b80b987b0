#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <map>
#include <vector>

#include "flowgate/core/clock.hpp"
#include "flowgate/core/health.hpp"

namespace flowgate::sched {

/// When a device counts as stale or offline.
struct HealthOptions {
    /// Nothing new for this long: Stale. Default: 3 polling intervals, or 3 of the intervals
    /// the device is seen to post at, when that is longer.
    std::chrono::seconds stale_after{180};
    /// Nothing new for this long: Offline. Default: 10 polling (or posting) intervals.
    std::chrono::seconds offline_after{600};
    /// The times above stretch to the interval at which the device's news arrives (at first,
    /// from the created_at of the entries of its first read; then from when new entries came):
    /// a device polled every minute that posts every 15 minutes is not stale between its
    /// posts. False for a node's own times (nodes.stale_after_s, offline_after_s).
    bool follow_posting = true;
    /// This many failed fetches of the device in a row: Offline.
    int max_failures = 3;

    /// The defaults for a device polled every `interval`, or the node's own times.
    static HealthOptions for_interval(std::chrono::seconds interval, std::optional<std::chrono::seconds> stale_after,
                                      std::optional<std::chrono::seconds> offline_after);
};

/// The health of every device and the alerts that follow from it, without I/O (time from the
/// clock given). Each device is **Online** after a new entry, **Stale** once nothing new
/// came for stale_after (stretched to 3 posting intervals for a device seen to post less
/// often than it is polled), **Offline** once nothing new came for offline_after or after
/// max_failures failed fetches in a row, and Online again with its next new entry. Entries
/// older than offline_after when they arrive (the history of a first read, or a backfill)
/// are not news of the device.
///
/// Alerts open once per condition and resolve themselves: device_stale (resolved when the
/// device is Online or Offline), device_offline, auth_failed (until a fetch works),
/// schema_mismatch (until the labels match again). While the source is down (its breaker
/// open) no device changes state: there is one source_outage alert instead, and when the
/// source is back every device gets a fresh stale_after, so an outage does not flip devices
/// one by one either during or after it.
class DeviceHealth {
public:
    struct Changes {
        std::vector<StatusChange> status;
        std::vector<AlertChange> alerts;

        bool empty() const { return status.empty() && alerts.empty(); }
    };

    explicit DeviceHealth(const Clock& clock) : clock_{clock} {}

    /// Starts tracking a device, Unknown, as if it had been fresh now; for a device tracked
    /// already, only its options change.
    void add(DeviceId device, HealthOptions options);
    /// Stops tracking a device (no longer polled): its open alerts are resolved.
    Changes remove(DeviceId device);
    /// An alert open in the database at start-up: not opened again, resolved when its
    /// condition is gone. Unknown devices are ignored.
    void restore_open(std::optional<DeviceId> device, AlertKind kind);

    /// The device delivered a new entry, created at `created_at`.
    Changes on_entry(DeviceId device, Seconds created_at);
    /// A fetch of the device ended; `error` says why it failed. Failures of the source are
    /// not reported here but with on_source(), once its circuit breaker opens.
    Changes on_fetch(DeviceId device, FetchVerdict verdict, std::string_view error = {});
    /// A read carrying the channel's field labels: `problem` is the first mismatch with the
    /// mappings, or none when they all match.
    Changes on_schema(DeviceId device, std::optional<std::string> problem);
    /// The source went down (its breaker opened) or is back (closed).
    Changes on_source(bool available, std::string_view why = {});
    /// Time passed: devices with nothing new become Stale, then Offline.
    Changes tick();

    HealthState state(DeviceId device) const;
    bool is_open(std::optional<DeviceId> device, AlertKind kind) const;

private:
    struct Device {
        HealthOptions options;
        HealthState state = HealthState::unknown;
        std::optional<Seconds> newest;    ///< the newest created_at seen
        std::chrono::seconds posting{0};  ///< the interval news arrives at (smoothed), 0: not known
        bool posting_from_arrivals = false;
        Clock::SteadyTime fresh_at{}; ///< the last new entry, or when staleness was last reset
        int failures = 0;
        unsigned open_alerts = 0;     ///< bit per AlertKind
    };

    static std::chrono::seconds stale_after(const Device& d);
    static std::chrono::seconds offline_after(const Device& d);
    void set_state(DeviceId id, Device& d, HealthState to, std::string reason, Changes& out);
    void set_alert(std::optional<DeviceId> id, unsigned& open_alerts, AlertKind kind, bool open, std::string message,
                   Changes& out);
    Seconds wall_now() const;

    const Clock& clock_;
    std::map<DeviceId, Device> devices_;
    bool source_down_ = false;
    unsigned source_alerts_ = 0;
};

} // namespace flowgate::sched
