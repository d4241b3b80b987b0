#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "flowgate/auth/token.hpp"
#include "flowgate/realtime/outbound_message.hpp"
#include "flowgate/realtime/topic.hpp"
#include "flowgate/realtime/ws_server.hpp"
#include "stream_cursor.hpp"

namespace flowgate::realtime {

/// The parts of an HTTP request that decide its answer.
struct Request {
    std::string_view method;
    std::string_view target;
    bool websocket_upgrade = false;  ///< GET with Connection: upgrade and Upgrade: websocket
    std::string_view authorization;  ///< Authorization
    std::optional<std::string_view> origin;
    std::string_view host;
    std::string_view protocols;   ///< Sec-WebSocket-Protocol
    std::string_view extensions;  ///< Sec-WebSocket-Extensions
};

/// What to do with one HTTP request on the WebSocket port.
struct Route {
    enum class Action {
        respond,  ///< answer with status, headers and body
        upgrade,  ///< accept the WebSocket upgrade and follow `topic`
        api,      ///< ask the API handler for the answer to `api`
    };
    Action action = Action::respond;
    unsigned status = 200;
    /// Besides Content-Type; for an upgrade, those of the 101 (subprotocol, extensions).
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;  ///< JSON, unless content_type says otherwise
    std::string content_type = "application/json";
    std::string topic;
    /// `?since=<seq>&epoch=<e>`: where the client's last session stopped.
    std::optional<StreamCursor::Resume> resume;
    Encoding encoding;
    /// When the client's token expires (the stream is closed with 4001 then); none without auth.
    std::optional<std::chrono::system_clock::time_point> expires_at;
    std::string token_id;  ///< the token's jti, for the log
    WsServer::ApiCall api;
};

/// A JSON error answer: `{"error": …}` with `status`.
Route error_route(unsigned status, std::string_view error);

/// Decides, without I/O, how a request is answered: the server's pages (/healthz, and those
/// set with set_page), the history API (when enabled: shape 404, method 405, token 401,
/// existence 404, tenancy 403 — no Origin check, since a token is never sent by a browser on
/// its own), and the two stream paths,
/// checked before any upgrade in this order — path shape (404), method (405), Origin (403),
/// token (401), existence (404: only after the token, so that ids of other tenants cannot be
/// probed), tenancy (403), `since`/`epoch` (400), upgrade headers (426), subprotocol (400);
/// then permessage-deflate is negotiated. Other query parameters are ignored.
class RequestRouter {
public:
    RequestRouter(TopicCommunity topic_community, WsServerOptions::Access access, WsServerOptions::Deflate deflate);

    void set_page(std::string path, WsServer::PageHandler handler) { pages_[std::move(path)] = std::move(handler); }
    /// Routes `/api/…` (404 until enabled).
    void enable_api() { api_enabled_ = true; }

    Route route(const Request& request, std::chrono::system_clock::time_point now) const;

private:
    Route route_stream(const Request& request, std::string_view path, std::string_view query,
                       std::chrono::system_clock::time_point now) const;
    Route route_api(const Request& request, std::string_view path, std::string_view query,
                    std::chrono::system_clock::time_point now) const;
    /// The token's claims; nullopt without auth; a 401 route when it is missing or refused.
    std::variant<std::optional<auth::Claims>, Route> verify_token(const Request& request, std::string_view query,
                                                                  std::chrono::system_clock::time_point now) const;
    /// 404 when the community or node does not exist, 403 when the token does not allow its
    /// community; nullopt when it may be seen.
    std::optional<Route> refuse_access(TopicKind kind, std::int64_t id, const std::optional<auth::Claims>& claims) const;
    bool origin_allowed(const Request& request) const;

    TopicCommunity topic_community_;
    WsServerOptions::Access access_;
    WsServerOptions::Deflate deflate_;
    std::map<std::string, WsServer::PageHandler, std::less<>> pages_;
    bool api_enabled_ = false;
};

} // namespace flowgate::realtime
