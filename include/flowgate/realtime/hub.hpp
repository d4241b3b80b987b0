#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace flowgate::realtime {

class TopicFeed;
class TopicSink;

/// Fans a topic's messages out to the local sessions that follow it, and keeps exactly one
/// feed subscription per topic while at least one session follows it. No sockets, no
/// timers: WsSession joins and leaves, the Redis subscriber's handler calls deliver().
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
    std::size_t deliver(const std::string& topic, const std::shared_ptr<const std::string>& message);

    /// Sinks following `topic` (0 for an unknown topic).
    std::size_t sink_count(const std::string& topic) const;
    /// Topics with at least one sink, which is also the number of feed subscriptions.
    std::size_t topic_count() const { return topics_.size(); }

private:
    TopicFeed& feed_;
    std::unordered_map<std::string, std::unordered_set<TopicSink*>> topics_;
    bool delivering_ = false;
};

} // namespace flowgate::realtime
