#include "redis_feed.hpp"

namespace flowgate::app {

RedisFeed::RedisFeed(boost::asio::io_context& ioc, bus::RedisSubscriber& subscriber, bus::RedisReplayReader& reader,
                     bus::RedisPublisher& publisher, obs::Logger log, std::chrono::milliseconds hold_limit)
    : subscriber_{subscriber},
      reader_{reader},
      publisher_{publisher},
      log_{std::move(log)},
      hold_limit_{hold_limit},
      hold_timer_{ioc} {}

void RedisFeed::attach(realtime::Hub& hub) {
    subscriber_.set_handler([this, &hub](const std::string& topic, std::shared_ptr<const std::string> payload) {
        auto message = realtime::OutboundMessage::from_sequenced(*payload);
        if (!message) {
            if (++unsequenced_ == 1) {
                log_.warn("ignoring a Redis message without seq and epoch; only flowgate should publish to its topics",
                          {{"topic", topic}});
            }
            return;
        }
        hub.deliver(topic, message);
    });
    subscriber_.set_topic_state_handler(
        [this, &hub](const std::string& topic, bool subscribed) { on_topic_state(hub, topic, subscribed); });
}

void RedisFeed::replay(const std::string& topic, std::optional<std::uint64_t> after_seq, ReplayHandler done) {
    reader_.read(topic, after_seq, [done = std::move(done)](bus::ReplayRead read) {
        realtime::ReplayResult result;
        result.ok = read.ok;
        result.error = std::move(read.error);
        result.epoch = std::move(read.epoch);
        result.head_seq = read.head_seq;
        result.messages.reserve(read.payloads.size());
        for (const auto& payload : read.payloads) {
            if (auto message = realtime::OutboundMessage::from_sequenced(payload)) result.messages.push_back(std::move(message));
        }
        done(std::move(result));
    });
}

void RedisFeed::on_topic_state(realtime::Hub& hub, const std::string& topic, bool subscribed) {
    hub.set_topic_state(topic, subscribed);
    update_hold();
}

void RedisFeed::update_hold() {
    const auto stats = subscriber_.stats();
    const bool resubscribing = stats.active_subscriptions < stats.topics;
    if (resubscribing == holding_) return;
    holding_ = resubscribing;
    publisher_.hold(holding_);
    if (!holding_) {
        hold_timer_.cancel();
        return;
    }
    // The subscriber may stay away longer than the publisher: then publish all the same, and
    // sessions catch up from the stream once it is back.
    hold_timer_.expires_after(hold_limit_);
    hold_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || !holding_) return;
        log_.info("Redis subscriber still re-subscribing; publishing anyway (clients catch up from the stream)",
                  {{"held_ms", static_cast<std::int64_t>(hold_limit_.count())}});
        publisher_.hold(false);
    });
}

} // namespace flowgate::app
