#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "flowgate/core/health.hpp"
#include "flowgate/core/telemetry.hpp"
#include "flowgate/registry/device.hpp"

namespace flowgate::sources {

/// Where sources hand what they read and how their devices are doing: in production the
/// Ingest stage (storage, live updates, device health).
class TelemetrySink {
public:
    virtual ~TelemetrySink() = default;
    /// False when the entry could not be queued (queue full): the source reads it again later.
    virtual bool submit(TelemetryEntry entry) = 0;
    /// False when the error could not be queued; the source has logged it anyway.
    virtual bool submit_error(TelemetryErrorRecord error) = 0;
    /// Records where polling of a device stands, in order with the entries before it.
    virtual void submit_cursor(DeviceId device, DeviceCursor cursor) = 0;
    /// A fetch of `device` ended; `error` says why it failed. Not called for failures of the
    /// source itself: source_state() stands for those.
    virtual void fetch_completed(DeviceId /*device*/, FetchVerdict /*verdict*/, std::string_view /*error*/) {}
    /// A read carried the channel's field labels: the first that does not match the mappings,
    /// or none.
    virtual void schema_checked(DeviceId /*device*/, std::optional<std::string> /*problem*/) {}
    /// The source went down (its circuit breaker opened) or is back (closed).
    virtual void source_state(bool /*available*/, std::string_view /*why*/) {}
};

} // namespace flowgate::sources
