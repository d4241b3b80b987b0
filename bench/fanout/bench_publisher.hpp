#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flowgate/bus/redis_publisher.hpp"
#include "flowgate/obs/logger.hpp"

namespace boost::asio {
class io_context;
}

namespace flowgate::bench {

/// Publishes `{"type":"BENCH","t":<ns>,"pad":"x…"}` through the project's RedisPublisher
/// (so the Lua script puts seq and epoch first), round-robin over `community:{1..topics}:updates`,
/// at a steady rate. `t` is CLOCK_MONOTONIC (steady_clock) when the message is made. The
/// padding makes the delivered message (seq and epoch included) about `message_bytes` long.
/// Loop thread only; the caller runs the io_context.
class BenchPublisher {
public:
    BenchPublisher(boost::asio::io_context& ioc, std::string redis_url, std::size_t topics, std::size_t message_bytes,
                   obs::Logger logger);

    void start() { publisher_.start(); }
    bool connected() const { return publisher_.connected(); }

    /// From `now` on, publishes `per_second` messages a second (spread over the topics).
    void begin(double per_second, std::chrono::steady_clock::time_point now);
    void end() { per_second_ = 0; }
    /// Publishes what is due by `now`; call it often.
    void pump(std::chrono::steady_clock::time_point now);
    /// Publishes one message to each topic now.
    void publish_round();

    /// Messages handed to RedisPublisher per topic since begin().
    const std::vector<std::uint64_t>& sent_per_topic() const { return sent_per_topic_; }
    bool idle() const;
    bus::RedisPublisher::Stats stats() const { return publisher_.stats(); }

private:
    void do_publish(std::size_t topic);

    bus::RedisPublisher publisher_;
    std::vector<std::string> topics_;
    std::string pad_;
    double per_second_ = 0;
    std::chrono::steady_clock::time_point begun_{};
    std::uint64_t sent_ = 0;
    std::size_t next_topic_ = 0;
    std::vector<std::uint64_t> sent_per_topic_;
};

} // namespace flowgate::bench
