#pragma once

#include <string>

namespace flowgate::realtime {

/// Something that can start and stop delivering a topic's messages to the Hub: the Redis
/// subscriber in production, a recording fake in tests. The Hub calls subscribe() when a
/// topic gets its first local session and unsubscribe() when its last one leaves, so each
/// topic is subscribed at most once per process. Both are called on the loop's thread.
class TopicFeed {
public:
    virtual ~TopicFeed() = default;

    virtual void subscribe(const std::string& topic) = 0;
    virtual void unsubscribe(const std::string& topic) = 0;
};

} // namespace flowgate::realtime
