#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "flowgate/bus/redis_connection_config.hpp"
#include "flowgate/obs/logger.hpp"

namespace boost::asio {
class io_context;
}

namespace flowgate::bus {

struct RedisPublisherConfig {
    RedisConnectionConfig connection;
    /// Messages kept while Redis is unreachable (or the in-flight window is full). When full,
    /// the oldest is dropped and counted. Default 10000.
    std::size_t queue_capacity = 10000;
    /// PUBLISH commands sent but not yet answered, at most. Default 1000.
    std::size_t max_in_flight = 1000;
    /// Payload bytes of those commands, at most (one message is always allowed). Default 16 MiB.
    std::size_t max_in_flight_bytes = std::size_t{16} << 20;
    /// At most one "dropped" (or "failed") warning per this interval. Default 10 s.
    std::chrono::milliseconds warning_interval{10000};
};

/// PUBLISHes messages to Redis over its own RedisConnection, in the order publish() was
/// called. While disconnected, messages wait in a bounded queue and are sent after the
/// reconnect. A PUBLISH that was written but not answered when the connection dropped is
/// sent again, so across a reconnect delivery is at-least-once (a duplicate is possible,
/// a silent loss is not, short of the queue overflowing).
///
/// Loop thread only, like RedisConnection.
class RedisPublisher {
public:
    struct Stats {
        std::uint64_t published = 0; ///< acknowledged by Redis
        std::uint64_t dropped = 0;   ///< oldest messages pushed out of a full queue
        std::uint64_t failed = 0;    ///< answered with an error (not retried)
        std::size_t queued = 0;      ///< waiting to be sent
        std::size_t in_flight = 0;   ///< sent, not yet answered
    };

    /// Throws std::invalid_argument for a bad URL or a zero capacity. Does not connect
    /// before start().
    RedisPublisher(boost::asio::io_context& ioc, RedisPublisherConfig config, obs::Logger logger);
    ~RedisPublisher();
    RedisPublisher(const RedisPublisher&) = delete;
    RedisPublisher& operator=(const RedisPublisher&) = delete;

    void start();
    /// Disconnects; queued (and unanswered) messages are kept for a later start().
    void stop();

    /// Sends `payload` to `channel` now, or queues it. The payload is shared, not copied,
    /// until it is written; it must not be null.
    void publish(std::string_view channel, std::shared_ptr<const std::string> payload);

    bool connected() const;
    Stats stats() const;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace flowgate::bus
