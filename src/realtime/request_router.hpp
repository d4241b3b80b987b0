#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flowgate/realtime/topic.hpp"
#include "flowgate/realtime/ws_server.hpp"
#include "stream_cursor.hpp"

namespace flowgate::realtime {

/// What to do with one HTTP request on the WebSocket port.
struct Route {
    enum class Action {
        respond,  ///< answer with status, headers and body
        upgrade,  ///< accept the WebSocket upgrade and follow `topic`
    };
    Action action = Action::respond;
    unsigned status = 200;
    std::vector<std::pair<std::string, std::string>> headers;  ///< besides Content-Type
    std::string body;                                          ///< JSON
    std::string topic;
    /// `?since=<seq>&epoch=<e>`: where the client's last session stopped.
    std::optional<StreamCursor::Resume> resume;
};

/// A JSON error answer: `{"error": …}` with `status`.
Route error_route(unsigned status, std::string_view error);

/// Decides, without I/O, how a request is answered: /healthz, the two stream paths (checked
/// for shape and for existence before any upgrade, with their `since` and `epoch`), 404 for
/// the rest. Other query parameters are ignored.
class RequestRouter {
public:
    explicit RequestRouter(TopicExists topic_exists);

    void set_health_body(WsServer::HealthBody health_body) { health_body_ = std::move(health_body); }

    /// `websocket_upgrade`: the request asks for a WebSocket (GET with Upgrade: websocket).
    Route route(std::string_view method, std::string_view target, bool websocket_upgrade) const;

private:
    Route route_stream(std::string_view method, std::string_view path, std::string_view query,
                       bool websocket_upgrade) const;

    TopicExists topic_exists_;
    WsServer::HealthBody health_body_;
};

} // namespace flowgate::realtime
