#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "flowgate/obs/logger.hpp"
#include "flowgate/registry/device.hpp"
#include "flowgate/sources/telemetry_sink.hpp"

namespace boost::asio {
class io_context;
}

namespace flowgate::thingspeak {
class HttpClient;
}

namespace flowgate::sources {

/// Polls every ThingSpeak device on its own interval (a timer per device) through the shared
/// HTTP client, and hands new entries and errors to the sink. All on the event loop.
class ThingSpeakSource {
public:
    struct Stats {
        std::uint64_t polls = 0;
        std::uint64_t failed_polls = 0;
        std::uint64_t entries = 0;
        std::uint64_t errors = 0;
    };

    ThingSpeakSource(boost::asio::io_context& ioc, thingspeak::HttpClient& client, TelemetrySink& sink, obs::Logger log,
                     std::vector<ThingSpeakDevice> devices);
    ~ThingSpeakSource();

    /// Starts polling; devices are staggered over the first second so they don't fire at once.
    void start();
    /// Cancels every timer. Requests in flight complete into nothing once the client stops.
    void stop();

    Stats stats() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace flowgate::sources
