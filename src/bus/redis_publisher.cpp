#include "flowgate/bus/redis_publisher.hpp"

#include <array>
#include <stdexcept>

#include "flowgate/bus/redis_connection.hpp"
#include "log_rate_limiter.hpp"
#include "publish_queue.hpp"

namespace flowgate::bus {

class RedisPublisher::Impl {
public:
    Impl(boost::asio::io_context& ioc, RedisPublisherConfig config, obs::Logger logger)
        : queue_{config.queue_capacity, config.max_in_flight, config.max_in_flight_bytes},
          drop_log_{config.warning_interval},
          fail_log_{config.warning_interval},
          capacity_{config.queue_capacity},
          logger_{logger},
          connection_{ioc, std::move(config.connection), std::move(logger)} {
        // The connection never calls back after its destruction, which comes first (it is
        // the last member), so `this` is safe in these handlers.
        connection_.set_ready_handler([this] { do_flush(); });
        connection_.set_lost_handler([this] { on_lost(); });
    }

    ~Impl() {
        const auto unsent = queue_.waiting() + queue_.in_flight();
        if (unsent > 0) {
            logger_.warn("Redis publisher destroyed with unsent messages",
                         {{"unsent", static_cast<std::uint64_t>(unsent)}});
        }
    }

    void publish(std::string_view channel, std::shared_ptr<const std::string> payload) {
        if (!payload) throw std::invalid_argument{"RedisPublisher::publish: payload is null"};
        if (const auto dropped = queue_.push({std::string{channel}, std::move(payload)}); dropped > 0) {
            note_dropped(dropped);
        }
        do_flush();
    }

    Stats stats() const {
        return Stats{queue_.published(), queue_.dropped(), queue_.failed(), queue_.waiting(), queue_.in_flight()};
    }

    RedisConnection& connection() { return connection_; }

private:
    // Sends what the in-flight window allows; the rest waits for replies (or the reconnect).
    void do_flush() {
        while (connection_.connected()) {
            const auto* message = queue_.next();
            if (message == nullptr) return;
            const std::array<std::string_view, 3> args{"PUBLISH", message->channel, *message->payload};
            if (!connection_.command(args, [this](const RedisReply* reply) { on_reply(reply); })) return;
            queue_.mark_sent();
        }
    }

    void on_reply(const RedisReply* reply) {
        // nullptr: the connection went away; on_lost() puts the message back in the queue.
        if (reply == nullptr) return;
        const bool ok = !reply->is_error();
        if (!ok) note_failed(reply->str());
        queue_.on_reply(ok);
        do_flush();
    }

    void on_lost() {
        if (const auto dropped = queue_.on_connection_lost(); dropped > 0) note_dropped(dropped);
    }

    void note_dropped(std::size_t n) {
        if (const auto count = drop_log_.on_events(n, std::chrono::steady_clock::now()); count > 0) {
            logger_.warn("Redis publish queue full; dropped the oldest messages",
                         {{"dropped", count},
                          {"dropped_total", queue_.dropped()},
                          {"capacity", static_cast<std::uint64_t>(capacity_)}});
        }
    }

    void note_failed(std::string_view error) {
        if (const auto count = fail_log_.on_events(1, std::chrono::steady_clock::now()); count > 0) {
            logger_.warn("Redis rejected PUBLISH", {{"failed", count}, {"error", error}});
        }
    }

    PublishQueue queue_;
    LogRateLimiter drop_log_;
    LogRateLimiter fail_log_;
    std::size_t capacity_;
    obs::Logger logger_;
    RedisConnection connection_;
};

RedisPublisher::RedisPublisher(boost::asio::io_context& ioc, RedisPublisherConfig config, obs::Logger logger)
    : impl_{std::make_unique<Impl>(ioc, std::move(config), std::move(logger))} {}

RedisPublisher::~RedisPublisher() = default;

void RedisPublisher::start() { impl_->connection().start(); }
void RedisPublisher::stop() { impl_->connection().stop(); }

void RedisPublisher::publish(std::string_view channel, std::shared_ptr<const std::string> payload) {
    impl_->publish(channel, std::move(payload));
}

bool RedisPublisher::connected() const { return impl_->connection().connected(); }
RedisPublisher::Stats RedisPublisher::stats() const { return impl_->stats(); }

} // namespace flowgate::bus
