#pragma once

#include <boost/asio/steady_timer.hpp>

#include "flowgate/bus/redis_publisher.hpp"
#include "flowgate/bus/redis_replay_reader.hpp"
#include "flowgate/bus/redis_subscriber.hpp"
#include "flowgate/obs/logger.hpp"
#include "flowgate/realtime/hub.hpp"
#include "flowgate/realtime/topic_feed.hpp"

namespace flowgate::app {

/// The Hub's topics from Redis: the subscriber's messages become shared OutboundMessages
/// (framed once per instance), its confirmations and losses go to the Hub, and replay reads go
/// to the replay reader. While the subscriber is re-subscribing after a lost connection, the
/// publisher is held (at most `hold_limit`), so that what was queued meanwhile is published
/// after local sessions can see it live; anything published earlier is caught up from the
/// stream all the same. Loop thread only.
class RedisFeed final : public realtime::TopicFeed {
public:
    RedisFeed(boost::asio::io_context& ioc, bus::RedisSubscriber& subscriber, bus::RedisReplayReader& reader,
              bus::RedisPublisher& publisher, obs::Logger log, std::chrono::milliseconds hold_limit);

    /// Connects the subscriber's handlers to `hub`; call once, before the subscriber starts.
    void attach(realtime::Hub& hub);

    void subscribe(const std::string& topic) override { subscriber_.subscribe(topic); }
    void unsubscribe(const std::string& topic) override { subscriber_.unsubscribe(topic); }
    void replay(const std::string& topic, std::optional<std::uint64_t> after_seq, ReplayHandler done) override;

    /// Messages from Redis without a seq and epoch (not written by a flowgate publisher).
    std::uint64_t unsequenced() const { return unsequenced_; }

private:
    void on_topic_state(realtime::Hub& hub, const std::string& topic, bool subscribed);
    void update_hold();

    bus::RedisSubscriber& subscriber_;
    bus::RedisReplayReader& reader_;
    bus::RedisPublisher& publisher_;
    obs::Logger log_;
    std::chrono::milliseconds hold_limit_;
    boost::asio::steady_timer hold_timer_;
    bool holding_ = false;
    std::uint64_t unsequenced_ = 0;
};

} // namespace flowgate::app
