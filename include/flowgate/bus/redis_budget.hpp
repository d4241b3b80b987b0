#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "flowgate/bus/redis_connection_config.hpp"
#include "flowgate/obs/logger.hpp"
#include "flowgate/resilience/token_bucket.hpp"

namespace boost::asio {
class io_context;
}

namespace flowgate::bus {

struct RedisBudgetOptions {
    RedisConnectionConfig connection;
    /// Names this instance among those sharing a key; different for every instance.
    std::string instance_id;
    /// An instance that took nothing from a key for this long no longer counts in its share.
    /// Default 1 min.
    std::chrono::milliseconds member_ttl{60'000};
    /// A take Redis has not answered within this is decided by the local share, and its late
    /// answer ignored: a Redis that stalls must not stall polling. Default 500 ms.
    std::chrono::milliseconds take_timeout{500};
};

/// The request budgets of API keys, shared by every instance on one Redis over a connection
/// of its own. Each take is one atomic Lua script: it refills the key's bucket in Redis (by
/// Redis's clock, so the instances' clocks do not matter), takes a token if there is one, and
/// notes this instance among the key's users. Several instances together therefore never
/// exceed a key's rate (plus its burst).
///
/// While Redis is out of reach, each instance spends from its own TokenBucket at its share
/// (one over the instances last seen using the key) — said once in the log when it starts
/// and once when the shared budget is back.
///
/// Redis keys, per key id K: `fg:budget:{K}` (a hash: tokens, at, paused) and
/// `fg:budget:{K}:users` (a sorted set of instance ids by their last take); both expire
/// once idle. Loop thread only.
class RedisBudget {
public:
    using Time = std::chrono::steady_clock::time_point;

    struct Decision {
        bool granted = false;
        /// When a token may be there again, when not granted.
        Time retry_at{};
    };
    using Handler = std::function<void(Decision)>;

    /// Throws std::invalid_argument for a bad URL or an empty instance id.
    RedisBudget(boost::asio::io_context& ioc, RedisBudgetOptions options, obs::Logger logger);
    ~RedisBudget();
    RedisBudget(const RedisBudget&) = delete;
    RedisBudget& operator=(const RedisBudget&) = delete;

    void start();
    /// Unanswered takes are decided by their local buckets.
    void stop();

    /// Takes a token of `key_id` (an id, never the key itself: it names the Redis keys).
    /// `bucket` holds the key's adapted rate and any Retry-After pause, and is the budget
    /// itself while Redis is out of reach. Returns the decision when it is made at once
    /// (paused, or Redis out of reach); otherwise returns nullopt and calls `done` with it
    /// later, on the loop. `bucket` must outlive the call to `done`.
    std::optional<Decision> take(const std::string& key_id, resilience::TokenBucket& bucket, Handler done);

    /// Passes a Retry-After on to the other instances: none takes from `key_id` before it.
    void pause(const std::string& key_id, const resilience::TokenBucket& bucket, std::chrono::milliseconds how_long);

    /// The budget is shared right now (Redis answers).
    bool shared() const;

private:
    class Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace flowgate::bus
