#pragma once

#include <cstdint>
#include <functional>
#include <optional>
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

/// The community a stream belongs to (a community's own id, a node's community), or nullopt
/// when there is no such community or node: asked before a WebSocket upgrade, so that a
/// client of an unknown one gets HTTP 404 instead of a silent empty stream, and a token is
/// checked against the community. Called on the loop's thread; must answer without
/// blocking (the daemon answers from its in-memory registry).
using TopicCommunity = std::function<std::optional<std::int64_t>(TopicKind kind, std::int64_t id)>;

} // namespace flowgate::realtime
