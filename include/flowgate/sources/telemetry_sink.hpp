#pragma once

#include "flowgate/core/telemetry.hpp"
#include "flowgate/registry/device.hpp"

namespace flowgate::sources {

/// Where sources hand what they read: in production the PostgreSQL writer's bounded queue.
class TelemetrySink {
public:
    virtual ~TelemetrySink() = default;
    /// False when the entry could not be queued (queue full): the source reads it again later.
    virtual bool submit(TelemetryEntry entry) = 0;
    /// False when the error could not be queued; the source has logged it anyway.
    virtual bool submit_error(TelemetryErrorRecord error) = 0;
    /// Records where polling of a device stands, in order with the entries before it.
    virtual void submit_cursor(DeviceId device, DeviceCursor cursor) = 0;
};

} // namespace flowgate::sources
