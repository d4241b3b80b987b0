#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace flowgate::realtime {

/// The two kinds of stream a dashboard can follow.
enum class TopicKind {
    community,  ///< `/ws/community/{id}/updates`, topic `community:{id}:updates`
    node,       ///< `/ws/node/{id}/telemetry`, topic `node:{id}:telemetry`
};

/// "community" or "node".
std::string_view to_string(TopicKind kind);

/// The bus topic of a stream: "community:7:updates", "node:12:telemetry". The same names
/// are published to Redis, so publisher and subscriber should both build them here.
std::string topic_name(TopicKind kind, std::int64_t id);

/// Whether a community or node exists, asked before a WebSocket upgrade so that a client of
/// an unknown one gets HTTP 404 instead of a silent empty stream. Called on the loop's
/// thread; must answer without blocking (the daemon answers from its in-memory registry).
using TopicExists = std::function<bool(TopicKind kind, std::int64_t id)>;

} // namespace flowgate::realtime
