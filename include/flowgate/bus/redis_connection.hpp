#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string_view>

#include "flowgate/bus/redis_connection_config.hpp"
#include "flowgate/bus/redis_reply.hpp"
#include "flowgate/bus/redis_url.hpp"
#include "flowgate/obs/logger.hpp"

namespace boost::asio {
class io_context;
}

namespace flowgate::bus {

/// One hiredis connection to Redis, driven by the loop's io_context. It connects when
/// started, and whenever the connection fails or drops it reconnects with exponential
/// backoff (reconnect_initial doubling up to reconnect_max) until stopped. An outage is
/// logged once: a warning when it starts, debug lines while retrying, info on recovery.
///
/// Every member function, and every handler it calls, runs on the loop thread. Handlers
/// may destroy the connection (or its owner). After stop() or destruction no handler is
/// called again, except reply handlers, which stop() calls with nullptr.
///
/// hiredis writes with write(2): the first connection attempt sets SIGPIPE to ignored if
/// it still has its default, fatal action, or a write to a dropped connection would kill
/// the process.
class RedisConnection {
public:
    /// A command's reply, or nullptr when the connection went away before it arrived
    /// (the command may or may not have run).
    using ReplyHandler = std::function<void(const RedisReply* reply)>;

    /// Parses config.url: throws std::invalid_argument when it is not a valid Redis URL.
    /// Does not connect before start().
    RedisConnection(boost::asio::io_context& ioc, RedisConnectionConfig config, obs::Logger logger);
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    /// Starts connecting; no effect when already started.
    void start();
    /// Disconnects and stops reconnecting. Pending reply handlers get nullptr and, if the
    /// connection was up, the lost handler runs. start() may be called again.
    void stop();

    /// Connected, authenticated and answering: commands can be sent.
    bool connected() const;
    const RedisUrl& url() const;

    /// Called each time the connection becomes usable (after start() and every reconnect).
    void set_ready_handler(std::function<void()> handler);
    /// Called each time a usable connection goes away (dropped, timed out or stopped), after
    /// the reply handlers of its pending commands got nullptr.
    void set_lost_handler(std::function<void()> handler);
    /// Receives pub/sub traffic: `message` arrays and subscribe/unsubscribe confirmations.
    void set_push_handler(std::function<void(const RedisReply& reply)> handler);

    /// Queues a command (binary-safe arguments, copied at once) for the next write.
    /// Returns false, without calling the handler, when not connected() or when the
    /// connection is in subscribe mode (only subscribe() and unsubscribe() are allowed there).
    bool command(std::span<const std::string_view> args, ReplyHandler handler = {});
    bool command(std::initializer_list<std::string_view> args, ReplyHandler handler = {});

    /// SUBSCRIBE / UNSUBSCRIBE one channel; confirmations and messages go to the push
    /// handler. Returns false when not connected(). From the first subscribe() until every
    /// channel is unsubscribed the connection is in subscribe mode. Subscriptions do not
    /// survive a reconnect: re-subscribe from the ready handler.
    bool subscribe(std::string_view channel);
    bool unsubscribe(std::string_view channel);

private:
    class Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace flowgate::bus
