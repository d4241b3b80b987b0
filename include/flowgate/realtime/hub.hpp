#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "flowgate/realtime/outbound_message.hpp"

namespace flowgate::realtime {

class TopicFeed;
class TopicSink;

/// Fans a topic's messages out to the local sessions that follow it, and keeps exactly one
/// feed subscription per topic while at least one session follows it. No sockets, no
/// timers: WsSession joins and leaves, the feed calls deliver() and set_topic_state().
/// Single-threaded: every call on the loop's thread.
class Hub {
public:
    explicit Hub(TopicFeed& feed);
    Hub(const Hub&) = delete;
    Hub& operator=(const Hub&) = delete;

    /// Adds `sink` to `topic`. The topic's first sink subscribes the feed (if subscribe()
    /// throws, nothing is joined). Joining a topic twice with one sink is harmless.
    /// `sink` must leave before it is destroyed.
    void join(const std::string& topic, TopicSink& sink);

    /// Removes `sink` from `topic`; the topic's last sink unsubscribes the feed. Leaving a
    /// topic the sink has not joined does nothing.
    void leave(const std::string& topic, TopicSink& sink);

    /// Hands `message` to every sink of `topic` — the same object to each, never a copy —
    /// and returns how many sinks got it. A topic without sinks drops the message.
    std::size_t deliver(const std::string& topic, const OutboundPtr& message);

    /// The feed confirmed (true) or lost (false) `topic`'s subscription: every sink of the
    /// topic is told. A topic without sinks is ignored.
    void set_topic_state(const std::string& topic, bool subscribed);
    /// Whether `topic`'s subscription is confirmed now.
    bool subscribed(const std::string& topic) const;

    /// The feed, for sessions that read a topic's replay stream.
    TopicFeed& feed() { return feed_; }

    /// Sinks following `topic` (0 for an unknown topic).
    std::size_t sink_count(const std::string& topic) const;
    /// Topics with at least one sink, which is also the number of feed subscriptions.
    std::size_t topic_count() const { return topics_.size(); }

private:
    struct Topic {
        std::unordered_set<TopicSink*> sinks;
        bool subscribed = false;
    };

    template <typename Call>
    void for_each_sink(Topic& topic, Call call);

    TopicFeed& feed_;
    std::unordered_map<std::string, Topic> topics_;
    bool delivering_ = false;
};

} // namespace flowgate::realtime
