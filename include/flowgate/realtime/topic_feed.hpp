#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "flowgate/realtime/outbound_message.hpp"

namespace flowgate::realtime {

/// What a topic's replay stream held at one instant.
struct ReplayResult {
    /// False when the stream could not be read; `error` says why.
    bool ok = false;
    std::string error;
    /// The topic's epoch ("" when nothing was ever published to it) and its last seq.
    std::string epoch;
    std::uint64_t head_seq = 0;
    /// The messages after the asked seq that the stream still holds, oldest first.
    std::vector<OutboundPtr> messages;
};

/// Where the Hub's topics come from: the Redis subscriber and replay reader in production, a
/// recording fake in tests. The Hub calls subscribe() when a topic gets its first local session
/// and unsubscribe() when its last one leaves, so each topic is subscribed at most once per
/// process; the feed tells the Hub when a subscription is confirmed or lost
/// (Hub::set_topic_state). Every call is on the loop's thread.
class TopicFeed {
public:
    using ReplayHandler = std::function<void(ReplayResult result)>;

    virtual ~TopicFeed() = default;

    virtual void subscribe(const std::string& topic) = 0;
    virtual void unsubscribe(const std::string& topic) = 0;
    /// Reads the topic's epoch and head seq and, when `after_seq` is given, the messages after
    /// it. `done` runs exactly once, later (never inside replay()), on the loop.
    virtual void replay(const std::string& topic, std::optional<std::uint64_t> after_seq, ReplayHandler done) = 0;
};

} // namespace flowgate::realtime
