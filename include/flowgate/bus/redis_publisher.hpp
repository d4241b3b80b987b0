#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "flowgate/bus/redis_connection_config.hpp"
#include "flowgate/obs/histogram.hpp"
#include "flowgate/obs/logger.hpp"

namespace boost::asio {
class io_context;
}

namespace flowgate::bus {

struct RedisPublisherConfig {
    RedisConnectionConfig connection;
    /// Messages kept while Redis is unreachable (or the in-flight window is full). When full,
    /// the oldest is dropped and counted. Default 100000: one poll may hand in a whole
    /// 8000-entry page, two messages an entry, at once.
    std::size_t queue_capacity = 100'000;
    /// Messages sent but not yet answered, at most. Default 1000.
    std::size_t max_in_flight = 1000;
    /// Event bytes of those messages, at most (one message is always allowed). Default 16 MiB.
    std::size_t max_in_flight_bytes = std::size_t{16} << 20;
    /// At most one "dropped" (or "failed") warning per this interval. Default 10 s.
    std::chrono::milliseconds warning_interval{10000};
    /// Messages kept in each topic's replay stream (XADD MAXLEN ~, so Redis may keep up to
    /// one stream node, 100 entries by default, more). At least 1. Default 10000.
    std::size_t replay_max_messages = 10000;
    /// A topic's replay stream expires this long after its last message, and so does the
    /// record that makes re-publishing an entry a no-op. At least 1 s. Default 1 h.
    std::chrono::seconds replay_ttl{3600};
};

/// Publishes sequenced messages to Redis over its own RedisConnection, in the order
/// publish() was called. Each message is one atomic Lua script: it assigns the topic's next
/// `seq` (keeping the topic's `epoch`, or starting a new epoch when Redis has lost the
/// topic's state), appends the message to the topic's replay stream (bounded by
/// replay_max_messages and replay_ttl) and PUBLISHes it. What reaches subscribers and the
/// stream is the event with `seq` and `epoch` put first:
/// `{"seq":42,"epoch":"1764700000123456",` followed by the event's own members.
///
/// A message with a dedupe id that was already published to its topic (within replay_ttl)
/// is not published again: re-reading an entry after a restart never gives it a second seq.
/// While disconnected, or while held (hold()), messages wait in a bounded queue and are sent
/// later. A script that was sent but not answered when the connection dropped is sent again;
/// with a dedupe id that is harmless.
///
/// Redis keys, per topic T: `fg:topic:{T}`, a hash of `epoch` and `seq` that never expires;
/// `fg:stream:{T}`, the replay stream (entry id `<seq>-0`, one field `m`: the message);
/// `fg:dedupe:{T}:<dedupe_id>`, the seq given to that dedupe id. The braces are a Redis
/// Cluster hash tag. The script is loaded once per connection (SCRIPT LOAD) and run with
/// EVALSHA; should Redis forget it (SCRIPT FLUSH), the unanswered messages are sent again.
///
/// Loop thread only, like RedisConnection.
class RedisPublisher {
public:
    struct Stats {
        std::uint64_t published = 0; ///< acknowledged by Redis (duplicates included)
        std::uint64_t duplicates = 0; ///< not published again: the dedupe id was already seen
        std::uint64_t dropped = 0;   ///< oldest messages pushed out of a full queue
        std::uint64_t failed = 0;    ///< answered with an error (not retried)
        std::size_t queued = 0;      ///< waiting to be sent
        std::size_t in_flight = 0;   ///< sent, not yet answered
        /// From publish() to Redis's answer, for messages published (or found duplicate).
        obs::Histogram latency;
    };

    /// Throws std::invalid_argument for a bad URL, a zero capacity or replay_max_messages, or
    /// a replay_ttl under 1 s. Does not connect before start().
    RedisPublisher(boost::asio::io_context& ioc, RedisPublisherConfig config, obs::Logger logger);
    ~RedisPublisher();
    RedisPublisher(const RedisPublisher&) = delete;
    RedisPublisher& operator=(const RedisPublisher&) = delete;

    void start();
    /// Disconnects; queued (and unanswered) messages are kept for a later start().
    void stop();

    /// Publishes `event` (a JSON object, starting with '{') to `topic` now, or queues it.
    /// `dedupe_id` (e.g. "12:0:5761" for node 12, channel epoch 0, entry 5761) makes a second
    /// publish of the same event to the same topic a no-op; empty means "always publish".
    /// The event is shared, not copied, until it is written. Throws std::invalid_argument when
    /// it is null or does not start with '{'.
    void publish(std::string_view topic, std::string_view dedupe_id, std::shared_ptr<const std::string> event);

    /// While held, nothing is sent; messages queue (bounded). The daemon holds the publisher
    /// while the subscriber is re-subscribing, so that nothing is published past a local
    /// session that has not yet caught up. Not held at construction.
    void hold(bool held);

    bool connected() const;
    Stats stats() const;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace flowgate::bus
