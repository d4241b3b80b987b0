#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "flowgate/obs/histogram.hpp"
#include "flowgate/obs/logger.hpp"
#include "flowgate/registry/device.hpp"
#include "flowgate/resilience/circuit_breaker.hpp"
#include "flowgate/resilience/token_bucket.hpp"
#include "flowgate/sources/telemetry_sink.hpp"

namespace boost::asio {
class io_context;
}

namespace flowgate::bus {
class RedisBudget;
}

namespace flowgate::config {
struct ThingSpeakConfig;
}

namespace flowgate::thingspeak {
class HttpClient;
}

namespace flowgate::registry {
struct RegistryUpdate;
}

namespace flowgate::sources {

struct ThingSpeakSourceOptions {
    /// Host of the server, for log lines and as the budget key of public channels.
    std::string host = "api.thingspeak.com";
    /// Polls in flight at once; the HTTP client should keep as many connections.
    std::size_t max_concurrent_polls = 4;
    /// The budget of each API key, but those in key_budgets.
    resilience::TokenBucketOptions budget;
    /// Budgets of their own, by key id (as log lines name keys).
    std::map<std::string, resilience::TokenBucketOptions> key_budgets;
    resilience::CircuitBreakerOptions breaker;
    std::chrono::milliseconds backoff_max{600'000};
    std::chrono::milliseconds priority_step{30'000};
    /// How far back a first read goes; 0: the newest 100 rows.
    std::chrono::milliseconds history{0};
    /// The next poll is due one interval after the last one completed, plus up to this
    /// fraction of the interval, so devices started together drift apart.
    double jitter = 0.05;

    static ThingSpeakSourceOptions from(const config::ThingSpeakConfig& thingspeak, std::string host);
};

/// Polls ThingSpeak devices through the shared HTTP client and hands new entries and errors
/// to the sink, all on the event loop with one timer. What to poll when is decided by
/// sans-io parts: the PollScheduler (due time and priority), a TokenBucket per API key (its
/// tokens from the RedisBudget when instances share it), the host's CircuitBreaker and a
/// JitteredBackoff per device; this class only runs them and logs their state changes.
class ThingSpeakSource {
public:
    struct Stats {
        std::uint64_t polls = 0;
        std::uint64_t failed_polls = 0;
        std::uint64_t entries = 0;
        std::uint64_t errors = 0;
        /// Times a due device had to wait for its key's budget.
        std::uint64_t delayed_by_budget = 0;
        /// Devices due and waiting (budget, breaker or a free slot) right now.
        std::size_t polls_due = 0;
        std::size_t polls_in_flight = 0;
        /// Devices retried with back-off right now.
        std::size_t backing_off = 0;
        resilience::BreakerState breaker = resilience::BreakerState::closed;
        /// The keys' budgets are shared with the other instances through Redis right now.
        bool budget_shared = false;
        /// Devices polled.
        std::size_t devices = 0;
        /// This instance's bucket per key (while budgets are shared, Redis holds the shared
        /// bucket and this one is the fallback); the rate is lower while throttled.
        struct KeyBudget {
            std::string key_id;
            double tokens = 0;
            double rate_per_second = 0;
        };
        std::vector<KeyBudget> budgets;
        /// From sending a poll (a slot and a token taken) to its response, connection wait included.
        obs::Histogram poll_duration;
    };

    /// What apply() changed.
    struct Applied {
        /// Devices added or whose configuration changed, as they are polled now.
        std::vector<ThingSpeakDevice> tracked;
        /// Devices no longer polled.
        std::vector<DeviceId> removed;
    };

    /// Each key's tokens come from `shared_budget`, shared with the other instances (or from
    /// this instance's share while Redis is out of reach). Devices whose mappings are invalid
    /// are not polled (a warning and an error row each).
    ThingSpeakSource(boost::asio::io_context& ioc, thingspeak::HttpClient& client, bus::RedisBudget& shared_budget,
                     TelemetrySink& sink, obs::Logger log, std::vector<ThingSpeakDevice> devices,
                     ThingSpeakSourceOptions options);
    ~ThingSpeakSource();

    /// Starts polling; first polls are spread over each device's interval.
    void start();
    /// Stops the timer. Requests in flight complete into nothing once the client stops.
    void stop();

    /// Takes a change of the registry: new devices are polled at once, deleted or disabled
    /// ones no more, changed ones keep their cursor (a device moved to another channel starts
    /// from scratch). A device whose new mappings are invalid keeps the previous ones (a new
    /// device is not polled): a telemetry_errors row and a warning say why.
    Applied apply(const registry::RegistryUpdate& update);
    /// New budgets (a reload of the configuration): `budget` for every key but those in
    /// `key_budgets`. Each key's bucket takes its new limits at once (see
    /// TokenBucket::set_limits); one log line per key whose limits changed.
    void set_budgets(resilience::TokenBucketOptions budget,
                     std::map<std::string, resilience::TokenBucketOptions> key_budgets);
    /// The devices polled, as they are configured now.
    std::vector<ThingSpeakDevice> devices() const;

    Stats stats() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace flowgate::sources
