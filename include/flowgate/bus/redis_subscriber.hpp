#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "flowgate/bus/redis_connection_config.hpp"
#include "flowgate/obs/logger.hpp"

namespace boost::asio {
class io_context;
}

namespace flowgate::bus {

/// Receives Redis pub/sub messages over its own RedisConnection (in subscribe mode).
/// Topics are reference-counted: the first subscribe() of a topic sends SUBSCRIBE, the last
/// unsubscribe() sends UNSUBSCRIBE, so many local sessions share one Redis subscription.
/// After a reconnect every topic with a nonzero count is subscribed again. Messages
/// published while the connection was down are not recovered here: the topic state handler
/// tells its owner when to catch up from the replay stream (RedisReplayReader).
///
/// Loop thread only, like RedisConnection. The handler may call subscribe(), unsubscribe()
/// or destroy the subscriber.
class RedisSubscriber {
public:
    /// One message. The payload is allocated once per message, to be shared by every
    /// consumer; `topic` is valid for the duration of the call.
    using Handler = std::function<void(const std::string& topic, std::shared_ptr<const std::string> payload)>;

    struct Stats {
        std::uint64_t messages_received = 0; ///< delivered to the handler
        std::size_t topics = 0;              ///< topics with a nonzero count
        std::size_t active_subscriptions = 0; ///< confirmed by Redis on the current connection
    };

    /// Throws std::invalid_argument for a bad URL. Does not connect before start().
    RedisSubscriber(boost::asio::io_context& ioc, RedisConnectionConfig config, obs::Logger logger);
    ~RedisSubscriber();
    RedisSubscriber(const RedisSubscriber&) = delete;
    RedisSubscriber& operator=(const RedisSubscriber&) = delete;

    void start();
    /// Disconnects; the topic counts are kept and re-subscribed by a later start().
    void stop();

    void set_handler(Handler handler);
    /// Called with (topic, true) when Redis confirms a topic's SUBSCRIBE (first subscribe()
    /// and again after every reconnect), and with (topic, false) for every subscribed topic
    /// when the connection is lost. From the `true` call on, every message published to the
    /// topic reaches the handler, so a reader of the replay stream started then misses
    /// nothing. An UNSUBSCRIBE confirmation makes subscribed() false without a call. The
    /// handler may call subscribe() and unsubscribe(), or destroy the subscriber; it is not
    /// called from the destructor.
    using TopicStateHandler = std::function<void(const std::string& topic, bool subscribed)>;
    void set_topic_state_handler(TopicStateHandler handler);
    /// Whether Redis has confirmed `topic`'s subscription on the current connection.
    bool subscribed(const std::string& topic) const;
    void subscribe(const std::string& topic);
    /// Unsubscribing a topic more often than it was subscribed is a bug in the caller: it
    /// is logged and ignored.
    void unsubscribe(const std::string& topic);
    /// How many subscribe() calls of `topic` are not yet matched by an unsubscribe().
    std::size_t count(const std::string& topic) const;

    bool connected() const;
    Stats stats() const;

private:
    class Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace flowgate::bus
