#include "request_router.hpp"

#include <charconv>
#include <cstdint>

#include "flowgate/core/json_text.hpp"

namespace flowgate::realtime {
namespace {

constexpr std::string_view stream_prefix = "/ws/";
constexpr std::string_view expected_paths = "/ws/community/{id}/updates or /ws/node/{id}/telemetry";


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

RequestRouter::RequestRouter(TopicExists topic_exists) : topic_exists_{std::move(topic_exists)} {}

Route RequestRouter::route(std::string_view method, std::string_view target, bool websocket_upgrade) const {
    const auto path_end = target.find_first_of("?#");
    const auto path = target.substr(0, path_end);
    auto query = path_end == std::string_view::npos || target[path_end] != '?' ? std::string_view{}
                                                                               : target.substr(path_end + 1);
    query = query.substr(0, query.find('#'));
    if (path == "/healthz") {
        if (method != "GET" && method != "HEAD") return method_not_allowed("GET, HEAD");
        Route route;
        route.body = health_body_ ? health_body_() : std::string{R"({"status":"ok"})"};
        return route;
    }
    if (path.starts_with(stream_prefix)) return route_stream(method, path, query, websocket_upgrade);
    std::string error = "no such path: ";
    error += path;
    return error_route(404, error);
}

Route RequestRouter::route_stream(std::string_view method, std::string_view path, std::string_view query,
                                  bool websocket_upgrade) const {
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
    if (!topic_exists_ || !topic_exists_(kind, id)) {
        std::string error{to_string(kind)};
        error += ' ';
        error += std::to_string(id);
        error += " does not exist";
        return error_route(404, error);
    }
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
    if (!websocket_upgrade) {
        auto route = error_route(426, "this is a WebSocket stream: connect with a WebSocket client");
        route.headers.emplace_back("Upgrade", "websocket");
        return route;
    }
    Route route;
    route.action = Route::Action::upgrade;
    route.status = 101;
    route.topic = topic_name(kind, id);
    route.resume = std::move(resume);
    return route;
}

} // namespace flowgate::realtime
