#pragma once

#include <cstdint>

#include "flowgate/sources/telemetry_sink.hpp"

namespace flowgate::bus {
class RedisPublisher;
}
namespace flowgate::storage {
class PgWriter;
}

namespace flowgate::app {

/// The Ingest stage of DESIGN.md: what the sources read goes to the PostgreSQL writer and to
/// the publisher side by side. A live update never waits for a commit, so dashboards stay
/// live while PostgreSQL is down; an entry read again (the writer's queue was full, or the
/// daemon restarted) is published under the same dedupe id, which the publisher's script
/// turns into a no-op. Loop thread only.
class Ingest final : public sources::TelemetrySink {
public:
    struct Stats {
        std::uint64_t entries = 0;  ///< entries handed in
        std::uint64_t rejected = 0; ///< not queued for storage (queue full): read again later
    };

    Ingest(storage::PgWriter& writer, bus::RedisPublisher& publisher) : writer_{writer}, publisher_{publisher} {}

    bool submit(TelemetryEntry entry) override;
    bool submit_error(TelemetryErrorRecord error) override;
    void submit_cursor(DeviceId device, DeviceCursor cursor) override;

    Stats stats() const { return stats_; }

private:
    storage::PgWriter& writer_;
    bus::RedisPublisher& publisher_;
    Stats stats_;
};

} // namespace flowgate::app
