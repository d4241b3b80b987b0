#include "bench_publisher.hpp"

#include <algorithm>

namespace flowgate::bench {
namespace {

bus::RedisPublisherConfig publisher_config(std::string url) {
    bus::RedisPublisherConfig config;
    config.connection.url = std::move(url);
    config.connection.client_name = "flowgate-bench-fanout";
    config.queue_capacity = 200000;
    // A benchmark's topics need no long replay history.
    config.replay_max_messages = 1000;
    config.replay_ttl = std::chrono::seconds{600};
    return config;
}

std::int64_t monotonic_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Never more than this in one pump(): a stalled loop catches up over several turns.
constexpr std::uint64_t max_burst = 2000;

} // namespace

BenchPublisher::BenchPublisher(boost::asio::io_context& ioc, std::string redis_url, std::size_t topics,
                               std::size_t message_bytes, obs::Logger logger)
    : publisher_{ioc, publisher_config(std::move(redis_url)), std::move(logger)}, sent_per_topic_(topics, 0) {
    for (std::size_t i = 1; i <= topics; ++i) topics_.push_back("community:" + std::to_string(i) + ":updates");
    // What the subscriber gets: `{"seq":N,"epoch":"E",` + the event without its '{'; sized
    // for a 7-digit seq and the script's 16-digit epoch.
    const auto delivered = std::string{R"({"seq":1234567,"epoch":"1234567890123456",)"}.size() +
                           std::string{R"("type":"BENCH","t":)"}.size() + std::to_string(monotonic_ns()).size() +
                           std::string{R"(,"pad":""})"}.size();
    pad_.assign(message_bytes > delivered ? message_bytes - delivered : 0, 'x');
}

void BenchPublisher::begin(double per_second, std::chrono::steady_clock::time_point now) {
    per_second_ = per_second;
    begun_ = now;
    sent_ = 0;
    std::fill(sent_per_topic_.begin(), sent_per_topic_.end(), 0);
}

void BenchPublisher::pump(std::chrono::steady_clock::time_point now) {
    if (per_second_ <= 0) return;
    const auto due = static_cast<std::uint64_t>(std::chrono::duration<double>(now - begun_).count() * per_second_);
    for (std::uint64_t n = 0; sent_ < due && n < max_burst; ++n) {
        do_publish(next_topic_);
        next_topic_ = (next_topic_ + 1) % topics_.size();
        ++sent_;
    }
}

void BenchPublisher::publish_round() {
    for (std::size_t i = 0; i < topics_.size(); ++i) do_publish(i);
}

bool BenchPublisher::idle() const {
    const auto s = publisher_.stats();
    return s.queued == 0 && s.in_flight == 0;
}

void BenchPublisher::do_publish(std::size_t topic) {
    auto event = std::make_shared<std::string>();
    event->reserve(64 + pad_.size());
    *event += R"({"type":"BENCH","t":)";
    *event += std::to_string(monotonic_ns());
    *event += R"(,"pad":")";
    *event += pad_;
    *event += R"("})";
    publisher_.publish(topics_[topic], "", std::move(event));
    ++sent_per_topic_[topic];
}

} // namespace flowgate::bench
