#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "flowgate/core/health.hpp"
#include "flowgate/core/telemetry.hpp"
#include "flowgate/obs/logger.hpp"
#include "flowgate/registry/device.hpp"

namespace flowgate::storage {

/// How a PgWriter batches and retries. Every field has a working default except `url`.
struct PgWriterOptions {
    /// libpq URL or connection string. May hold a password; it is only ever logged redacted.
    /// A connect_timeout (below) is added unless the URL sets one.
    std::string url;
    /// Items (entries, errors, cursors) held at once, waiting or being written; submit*()
    /// returns false beyond it. Bounds memory while PostgreSQL is slow or down. Default 10000.
    std::size_t queue_capacity = 10'000;
    /// Most items written in one transaction. Default 500.
    std::size_t batch_size = 500;
    /// Longest the first item of a batch waits for the batch to fill. Default 50ms.
    std::chrono::milliseconds batch_interval{50};
    /// Pause after the first failed attempt; doubles on each failure up to retry_backoff_max.
    /// Default 100ms.
    std::chrono::milliseconds retry_backoff_min{100};
    /// Longest pause between attempts while PostgreSQL is unreachable. Default 5s.
    std::chrono::milliseconds retry_backoff_max{5'000};
    /// How long stop() keeps trying to write what is still queued before dropping it (and
    /// logging how much was dropped). Default 10s.
    std::chrono::milliseconds shutdown_timeout{10'000};
    /// libpq connect_timeout, so an unreachable host fails in seconds, not minutes. Default 5s.
    std::chrono::seconds connect_timeout{5};
};

/// Receives, on the writer thread, right after each committed transaction, the entries of
/// that transaction of which at least one reading was new (re-submitted entries are not
/// passed again). The daemon posts them to its event loop to publish; it must not block.
using StoredHandler = std::function<void(std::vector<TelemetryEntry>)>;

/// Writes telemetry to PostgreSQL on one background thread with its own connection.
///
/// Items are written in submission order, in batches of up to batch_size items per
/// transaction: readings are COPYed into a session-local staging table and moved into
/// telemetry_readings with INSERT … ON CONFLICT DO NOTHING, so an entry stored twice is
/// stored once. The same transaction updates node_operational_state (last_seen = newest
/// entry time, last_telemetry_sync = now()) for every device with entries, writes cursors
/// and error records.
///
/// When PostgreSQL is unreachable or a batch fails for any reason other than its data, the
/// batch is kept and retried (one warning, then exponential backoff up to retry_backoff_max)
/// while new items queue up to queue_capacity: nothing accepted is lost unless the process
/// stops before PostgreSQL comes back. When a batch fails because of one row's data (say, an
/// entry of a device deleted meanwhile), the batch is written again item by item; the items
/// that fail are dropped, logged and recorded in telemetry_errors with stage "storage", and
/// the rest is stored.
///
/// submit*() may be called from any thread and never block on the database.
class PgWriter {
public:
    /// What the writer has done so far.
    struct Stats {
        std::uint64_t entries_stored = 0;      ///< entries with at least one new reading
        std::uint64_t entries_duplicate = 0;   ///< entries whose readings were all stored before
        std::uint64_t errors_stored = 0;       ///< rows added to telemetry_errors, storage errors included
        std::uint64_t cursors_stored = 0;
        std::uint64_t health_stored = 0;       ///< status and alert changes
        std::uint64_t items_rejected = 0;      ///< items dropped because the database refused their data
        std::uint64_t items_dropped = 0;       ///< items still queued when stop() gave up
        std::uint64_t batches = 0;             ///< committed transactions
        std::uint64_t queue_full_rejections = 0;
        std::uint64_t retries = 0;             ///< failed attempts that were retried
        std::size_t queue_depth = 0;           ///< items held now, waiting or being written
        bool connected = false;                ///< the last attempt to use the database worked
    };

    /// Starts the writer thread; it connects on its own, so PostgreSQL may still be down.
    /// `on_stored` may be empty.
    PgWriter(PgWriterOptions options, obs::Logger logger, StoredHandler on_stored);
    /// stop().
    ~PgWriter();
    PgWriter(const PgWriter&) = delete;
    PgWriter& operator=(const PgWriter&) = delete;

    /// Queues one entry. false, with nothing queued, when the writer holds queue_capacity
    /// items already or has been stopped.
    bool submit(TelemetryEntry entry);

    /// Queues one row of telemetry_errors; same limit as submit(). A device_id that does not
    /// (or no longer) exist is stored as NULL.
    bool submit_error(TelemetryErrorRecord error);

    /// Queues the resume point of a device, written after every item submitted before it and
    /// as given (last write wins, so it can go down when channel_epoch changes). Submit it
    /// only after every entry it covers was accepted: a restart then reads again at most what
    /// was queued after it, and stored entries are not stored twice.
    bool submit_cursor(DeviceId device, DeviceCursor cursor);

    /// Queues a device's status (node_operational_state.status and consecutive_failures) or
    /// an alert opened (a row of alerts, unless one of that kind is open for the device) or
    /// resolved. Beyond queue_capacity there is headroom for these (a tenth of it, at least
    /// 100), so a full queue of entries does not refuse them; false beyond that.
    bool submit_health(std::variant<StatusChange, AlertChange> change);

    /// Writes what is queued (giving up after shutdown_timeout), then ends the thread. Later
    /// submissions are refused. Idempotent; called by the destructor.
    void stop();

    Stats stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace flowgate::storage
