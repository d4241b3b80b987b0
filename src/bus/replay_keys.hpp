#pragma once

#include <string>
#include <string_view>

namespace flowgate::bus {

// The Redis keys of one topic's sequencing and replay state, shared by the publisher and the
// replay reader. The braces are a Redis Cluster hash tag: one script's keys share a slot.

/// Hash with `epoch` and `seq`; never expires.
inline std::string topic_state_key(std::string_view topic) {
    return "fg:topic:{" + std::string{topic} + "}";
}

/// Stream of published messages, entry id `<seq>-0`, field `m`.
inline std::string replay_stream_key(std::string_view topic) {
    return "fg:stream:{" + std::string{topic} + "}";
}

/// The seq given to the message with this dedupe id.
inline std::string dedupe_key(std::string_view topic, std::string_view dedupe_id) {
    return "fg:dedupe:{" + std::string{topic} + "}:" + std::string{dedupe_id};
}

} // namespace flowgate::bus
