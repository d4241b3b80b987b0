#pragma once

// PgWriter's database half: one connection that writes batches of queued items, one
// transaction per batch. No threads, no queue, no retries; PgWriter adds those.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <pqxx/pqxx>

#include "flowgate/core/health.hpp"
#include "flowgate/core/telemetry.hpp"
#include "flowgate/obs/logger.hpp"
#include "flowgate/registry/device.hpp"
#include "pg_support.hpp"

namespace flowgate::storage::detail {

struct CursorUpdate {
    DeviceId device_id = 0;
    DeviceCursor cursor;
};

/// One queued thing to write.
using WriterItem = std::variant<TelemetryEntry, TelemetryErrorRecord, CursorUpdate, StatusChange, AlertChange>;

/// An item the database refused because of its data; it was dropped.
struct RejectedItem {
    std::size_t index = 0;  ///< in the batch
    std::string reason;     ///< PostgreSQL's message, one line
};

struct BatchOutcome {
    std::vector<TelemetryEntry> stored;  ///< entries with at least one new reading, in batch order
    std::uint64_t duplicates = 0;        ///< entries with readings, none of them new
    std::uint64_t errors_stored = 0;
    std::uint64_t cursors_stored = 0;
    std::uint64_t health_stored = 0;  ///< status and alert changes
    std::vector<RejectedItem> rejected;
};

class BatchWriter {
public:
    /// Connects and prepares the session (settings, staging table). Throws what libpqxx throws.
    BatchWriter(const std::string& url, const obs::Logger& logger);

    /// Writes `items` in one transaction and commits. When the database refuses the data of
    /// some items, writes the others and records the refused ones in telemetry_errors instead
    /// (see BatchOutcome::rejected). Any other failure throws, and nothing was committed unless
    /// it is a pqxx::in_doubt_error. With `all_entries_new`, every entry with readings counts
    /// as stored: for the retry of a batch whose commit may have succeeded.
    BatchOutcome write(const std::vector<WriterItem>& items, bool all_entries_new);

private:
    // Writes `items` inside `txn`, adding to `outcome`; throws on any failure.
    void write_items(pqxx::transaction_base& txn, std::span<const WriterItem> items, bool all_entries_new,
                     BatchOutcome& outcome);
    BatchOutcome write_one_by_one(const std::vector<WriterItem>& items, bool all_entries_new);
    void record_rejection(pqxx::transaction_base& txn, const WriterItem& item, const std::string& reason,
                          BatchOutcome& outcome);

    std::unique_ptr<pqxx::connection> connection_;
    std::unique_ptr<NoticeLogger> notices_;
};

} // namespace flowgate::storage::detail
