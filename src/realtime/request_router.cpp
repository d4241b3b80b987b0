#include "request_router.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <variant>

#include "flowgate/core/json_text.hpp"
#include "permessage_deflate.hpp"

namespace flowgate::realtime {
namespace {

constexpr std::string_view stream_prefix = "/ws/";
constexpr std::string_view expected_paths = "/ws/community/{id}/updates or /ws/node/{id}/telemetry";
constexpr std::string_view api_prefix = "/api/";
constexpr std::string_view expected_api_paths =
    "/api/communities, /api/communities/{id}/nodes or /api/nodes/{id}/readings";


Route method_not_allowed(std::string_view allow) {
    auto route = error_route(405, "method not allowed");
    route.headers.emplace_back("Allow", std::string{allow});
    return route;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    for (;;) {
        const auto at = text.find(separator);
        parts.push_back(text.substr(0, at));
        if (at == std::string_view::npos) return parts;
        text.remove_prefix(at + 1);
    }
}

std::string_view trim(std::string_view s) {
    const auto start = s.find_first_not_of(" \t");
    if (start == std::string_view::npos) return {};
    return s.substr(start, s.find_last_not_of(" \t") - start + 1);
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

/// The token of `Authorization: Bearer <t>`, else of `?token=<t>`; empty when neither.
std::string_view token_of(const Request& request, std::string_view query) {
    constexpr std::string_view bearer = "bearer ";
    if (request.authorization.size() > bearer.size() && iequals(request.authorization.substr(0, bearer.size()), bearer)) {
        return trim(request.authorization.substr(bearer.size()));
    }
    for (const auto& parameter : split(query, '&')) {
        if (parameter.starts_with("token=")) return parameter.substr(6);
    }
    return {};
}

/// A positive decimal id; anything else (sign, spaces, overflow, 0) is not an id.
bool parse_id(std::string_view text, std::int64_t& id) {
    if (text.empty() || text.front() < '0' || text.front() > '9') return false;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    return ec == std::errc{} && end == text.data() + text.size() && id > 0;
}

} // namespace

Route error_route(unsigned status, std::string_view error) {
    Route route;
    route.status = status;
    route.body = "{\"error\":";
    append_json_string(route.body, error);
    route.body += '}';
    return route;
}

RequestRouter::RequestRouter(TopicCommunity topic_community, WsServerOptions::Access access,
                             WsServerOptions::Deflate deflate)
    : topic_community_{std::move(topic_community)}, access_{std::move(access)}, deflate_{deflate} {
    pages_["/healthz"] = [] { return WsServer::Page{200, "application/json", R"({"status":"ok"})"}; };
}

bool RequestRouter::origin_allowed(const Request& request) const {
    if (!request.origin) return access_.allow_missing_origin;
    const auto origin = *request.origin;
    for (const auto scheme : {std::string_view{"http://"}, std::string_view{"https://"}}) {
        if (!request.host.empty() && origin.size() == scheme.size() + request.host.size() && iequals(origin.substr(0, scheme.size()), scheme) &&
            iequals(origin.substr(scheme.size()), request.host)) {
            return true;  // a page this server (or a proxy in front of it under the same name) served
        }
    }
    return std::any_of(access_.origins.begin(), access_.origins.end(),
                       [&](const std::string& allowed) { return allowed == "*" || iequals(allowed, origin); });
}

Route RequestRouter::route(const Request& request, std::chrono::system_clock::time_point now) const {
    const auto method = request.method;
    const auto target = request.target;
    const auto path_end = target.find_first_of("?#");
    const auto path = target.substr(0, path_end);
    auto query = path_end == std::string_view::npos || target[path_end] != '?' ? std::string_view{}
                                                                               : target.substr(path_end + 1);
    query = query.substr(0, query.find('#'));
    if (const auto page = pages_.find(path); page != pages_.end()) {
        if (method != "GET" && method != "HEAD") return method_not_allowed("GET, HEAD");
        auto answer = page->second();
        Route route;
        route.status = answer.status;
        route.content_type = std::move(answer.content_type);
        route.body = std::move(answer.body);
        return route;
    }
    if (path.starts_with(stream_prefix)) return route_stream(request, path, query, now);
    if (api_enabled_ && path.starts_with(api_prefix)) return route_api(request, path, query, now);
    std::string error = "no such path: ";
    error += path;
    return error_route(404, error);
}

std::variant<std::optional<auth::Claims>, Route> RequestRouter::verify_token(
    const Request& request, std::string_view query, std::chrono::system_clock::time_point now) const {
    if (!access_.tokens) return std::optional<auth::Claims>{};
    const auto token = token_of(request, query);
    if (token.empty()) return error_route(401, "missing token: send Authorization: Bearer <token>, or ?token=<token>");
    auto verified = access_.tokens->verify(token, now);
    if (const auto* refusal = std::get_if<auth::Refusal>(&verified)) return error_route(401, refusal->reason);
    return std::optional{std::get<auth::Claims>(std::move(verified))};
}

std::optional<Route> RequestRouter::refuse_access(TopicKind kind, std::int64_t id,
                                                  const std::optional<auth::Claims>& claims) const {
    const auto community = topic_community_ ? topic_community_(kind, id) : std::nullopt;
    if (!community) {
        std::string error{to_string(kind)};
        error += ' ';
        error += std::to_string(id);
        error += " does not exist";
        return error_route(404, error);
    }
    if (claims && !claims->allows(*community)) {
        std::string error = "this token does not allow community ";
        error += std::to_string(*community);
        return error_route(403, error);
    }
    return std::nullopt;
}

Route RequestRouter::route_api(const Request& request, std::string_view path, std::string_view query,
                               std::chrono::system_clock::time_point now) const {
    using Kind = WsServer::ApiCall::Kind;
    const auto segments = split(path.substr(api_prefix.size()), '/');
    std::optional<Kind> kind;
    if (segments.size() == 1 && segments[0] == "communities") kind = Kind::communities;
    if (segments.size() == 3 && segments[0] == "communities" && segments[2] == "nodes") kind = Kind::nodes;
    if (segments.size() == 3 && segments[0] == "nodes" && segments[2] == "readings") kind = Kind::readings;
    std::int64_t id = 0;
    if (!kind || (*kind != Kind::communities && !parse_id(segments[1], id))) {
        std::string error = "no such path: ";
        error += path;
        error += "; the history API has ";
        error += expected_api_paths;
        error += " ({id} a positive integer)";
        return error_route(404, error);
    }
    if (request.method != "GET" && request.method != "HEAD") return method_not_allowed("GET, HEAD");
    auto verified = verify_token(request, query, now);
    if (auto* refused = std::get_if<Route>(&verified)) return std::move(*refused);
    const auto claims = std::get<std::optional<auth::Claims>>(std::move(verified));
    if (*kind != Kind::communities) {
        if (auto refused = refuse_access(*kind == Kind::nodes ? TopicKind::community : TopicKind::node, id, claims)) {
            return std::move(*refused);
        }
    }
    Route route;
    route.action = Route::Action::api;
    route.api.kind = *kind;
    route.api.id = id;
    route.api.query = std::string{query};
    if (claims) route.api.communities = claims->communities;
    return route;
}

Route RequestRouter::route_stream(const Request& request, std::string_view path, std::string_view query,
                                  std::chrono::system_clock::time_point now) const {
    const auto method = request.method;
    const auto segments = split(path.substr(stream_prefix.size()), '/');
    const bool shape_ok = segments.size() == 3 &&
                          ((segments[0] == "community" && segments[2] == "updates") ||
                           (segments[0] == "node" && segments[2] == "telemetry"));
    if (!shape_ok) {
        std::string error = "no such stream: ";
        error += path;
        error += "; expected ";
        error += expected_paths;
        return error_route(404, error);
    }
    const auto kind = segments[0] == "community" ? TopicKind::community : TopicKind::node;
    std::int64_t id = 0;
    if (!parse_id(segments[1], id)) {
        std::string error = "bad ";
        error += to_string(kind);
        error += " id '";
        error += segments[1];
        error += "': expected a positive integer";
        return error_route(404, error);
    }
    if (method != "GET" && method != "HEAD") return method_not_allowed("GET");
    if (!origin_allowed(request)) {
        return error_route(403, request.origin ? "origin not allowed: add it to http.origins"
                                               : "a request without Origin is not allowed here (http.allow_missing_origin)");
    }
    auto verified = verify_token(request, query, now);
    if (auto* refused = std::get_if<Route>(&verified)) return std::move(*refused);
    const auto claims = std::get<std::optional<auth::Claims>>(std::move(verified));
    if (auto refused = refuse_access(kind, id, claims)) return std::move(*refused);
    std::optional<std::string_view> since;
    std::optional<std::string_view> epoch;
    for (const auto& parameter : split(query, '&')) {
        const auto equals = parameter.find('=');
        const auto name = parameter.substr(0, equals);
        const auto value = equals == std::string_view::npos ? std::string_view{} : parameter.substr(equals + 1);
        if (name == "since") since = value;
        if (name == "epoch") epoch = value;
    }
    std::optional<StreamCursor::Resume> resume;
    if (since || epoch) {
        StreamCursor::Resume r;
        const auto [end, ec] = since ? std::from_chars(since->data(), since->data() + since->size(), r.seq)
                                     : std::from_chars_result{nullptr, std::errc::invalid_argument};
        if (!since || since->empty() || ec != std::errc{} || end != since->data() + since->size()) {
            return error_route(400, "since must be the seq of the last message received (a non-negative integer), "
                                "given together with its epoch");
        }
        if (!epoch || epoch->empty() || epoch->find_first_not_of("0123456789") != std::string_view::npos) {
            return error_route(400, "epoch must be the epoch of the last message received (digits), given with since");
        }
        r.epoch = std::string{*epoch};
        resume = std::move(r);
    }
    if (!request.websocket_upgrade) {
        auto route = error_route(426, "this is a WebSocket stream: connect with a WebSocket client");
        route.headers.emplace_back("Upgrade", "websocket");
        return route;
    }
    Route route;
    if (!request.protocols.empty()) {
        const auto offered = split(request.protocols, ',');
        const auto has = [&](std::string_view p) {
            return std::any_of(offered.begin(), offered.end(), [&](std::string_view o) { return trim(o) == p; });
        };
        if (has("msgpack")) {
            route.encoding.msgpack = true;
            route.headers.emplace_back("Sec-WebSocket-Protocol", "msgpack");
        } else if (has("json")) {
            route.headers.emplace_back("Sec-WebSocket-Protocol", "json");
        } else {
            std::string error = "unsupported subprotocol ";
            error += request.protocols;
            error += ": this server speaks json (the default) and msgpack";
            return error_route(400, error);
        }
    }
    if (deflate_.enabled && !request.extensions.empty()) {
        if (auto answer = negotiate_deflate(request.extensions, deflate_.window_bits)) {
            route.encoding.deflate = true;
            route.headers.emplace_back("Sec-WebSocket-Extensions", std::move(*answer));
        }
    }
    route.action = Route::Action::upgrade;
    route.status = 101;
    route.topic = topic_name(kind, id);
    route.resume = std::move(resume);
    if (claims) {
        route.expires_at = claims->expires_at;
        route.token_id = claims->id;
    }
    return route;
}

} // namespace flowgate::realtime
