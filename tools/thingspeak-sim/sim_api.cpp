#include "sim_api.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <vector>

#include "flowgate/core/json_text.hpp"
#include "flowgate/core/time_format.hpp"

namespace flowgate::sim {
namespace {

using namespace std::chrono;
using namespace std::string_view_literals;

constexpr std::size_t max_results = 8000;
constexpr std::size_t default_results = 100;
constexpr std::string_view json_type = "application/json; charset=utf-8";

// Zones without daylight saving time, by IANA name and by the Rails names ThingSpeak accepts.
// The simulator serves fixed offsets only; a zone with DST is refused rather than misrendered.
constexpr std::array<std::pair<std::string_view, int>, 22> timezones{{
    {"UTC", 0}, {"Etc/UTC", 0}, {"GMT", 0}, {"Etc/GMT", 0},
    {"Asia/Kolkata", 330}, {"Asia/Calcutta", 330}, {"Chennai", 330}, {"Kolkata", 330},
    {"Mumbai", 330}, {"New Delhi", 330}, {"Asia/Colombo", 330}, {"Asia/Kathmandu", 345},
    {"Asia/Dhaka", 360}, {"Asia/Karachi", 300}, {"Asia/Dubai", 240}, {"Asia/Singapore", 480},
    {"Asia/Shanghai", 480}, {"Asia/Tokyo", 540}, {"Africa/Nairobi", 180}, {"Africa/Lagos", 60},
    {"America/Bogota", -300}, {"America/Sao_Paulo", -180},
}};

struct QueryParam {
    std::string name;
    std::string value;
};

std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out.push_back(' ');
        } else if (s[i] == '%' && i + 2 < s.size()) {
            int v = 0;
            const auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
            if (ec == std::errc{} && p == s.data() + i + 3) {
                out.push_back(static_cast<char>(v));
                i += 2;
            } else {
                out.push_back('%');
            }
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

std::vector<QueryParam> parse_query(std::string_view query) {
    std::vector<QueryParam> params;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (part.empty()) continue;
        const auto eq = part.find('=');
        params.push_back({percent_decode(part.substr(0, eq)),
                          eq == std::string_view::npos ? std::string{} : percent_decode(part.substr(eq + 1))});
    }
    return params;
}

const std::string* find_param(const std::vector<QueryParam>& params, std::string_view name) {
    for (const auto& p : params) {
        if (p.name == name) return &p.value;
    }
    return nullptr;
}

/// Splits "a/b/c" into its segments.
std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> parts;
    while (!path.empty()) {
        const auto slash = path.find('/');
        if (slash != 0) parts.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return parts;
}

template <typename T>
std::optional<T> to_number(std::string_view s) {
    T v{};
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

SimReply json_reply(unsigned status, std::string body) {
    SimReply r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

/// ThingSpeak's error object: `{"status":"429","error":{"error_code":…,"message":…,"details":…}}`.
SimReply error_reply(unsigned status, std::string_view code, std::string_view message, std::string_view details) {
    std::string body = R"({"status":")" + std::to_string(status) + R"(","error":{"error_code":)";
    append_json_string(body, code);
    body += R"(,"message":)";
    append_json_string(body, message);
    body += R"(,"details":)";
    append_json_string(body, details);
    body += "}}";
    return json_reply(status, std::move(body));
}

SimReply bad_request(std::string_view details) {
    return error_reply(400, "error_bad_request", "Bad Request", details);
}

SimReply not_found(std::string_view details) {
    return error_reply(404, "error_resource_not_found", "Resource Not Found", details);
}

/// What a read asks for, parsed and validated from its query.
struct ReadOptions {
    minutes offset{0};
    bool status = false;
    bool location = false;
    bool metadata = false;
    Seconds lo = Seconds::min();
    Seconds hi = Seconds::max();
    std::size_t limit = default_results;
};

bool truthy(const std::string* v) { return v && (*v == "true" || *v == "1"); }

/// Parses the options of a read; returns an error message for a bad parameter.
std::optional<std::string> parse_read_options(const std::vector<QueryParam>& params, Seconds now, ReadOptions& o) {
    if (const auto* tz = find_param(params, "timezone")) {
        bool found = false;
        for (const auto& [name, off] : timezones) {
            if (name == *tz) {
                o.offset = minutes{off};
                found = true;
            }
        }
        if (!found) return "timezone: '" + *tz + "' is not a zone this simulator knows (it serves fixed-offset zones such as UTC and Asia/Kolkata)";
    } else if (const auto* off = find_param(params, "offset")) {
        const auto hours = to_number<double>(*off);
        if (!hours || *hours < -12 || *hours > 14) return "offset: must be a number of hours from -12 to 14";
        o.offset = minutes{static_cast<int>(std::lround(*hours * 4)) * 15};
    }
    o.status = truthy(find_param(params, "status"));
    o.location = truthy(find_param(params, "location"));
    o.metadata = truthy(find_param(params, "metadata"));

    bool windowed = false;
    if (const auto* days = find_param(params, "days")) {
        const auto d = to_number<double>(*days);
        if (!d || *d < 0 || *d > 36500) return "days: must be a non-negative number";
        o.lo = std::max(o.lo, now - seconds{static_cast<std::int64_t>(*d * 86400)});
        windowed = true;
    }
    if (const auto* mins = find_param(params, "minutes")) {
        const auto m = to_number<double>(*mins);
        if (!m || *m < 0 || *m > 52'560'000) return "minutes: must be a non-negative number";
        o.lo = std::max(o.lo, now - seconds{static_cast<std::int64_t>(*m * 60)});
        windowed = true;
    }
    if (const auto* start = find_param(params, "start")) {
        const auto t = parse_query_time(*start, o.offset);
        if (!t) return "start: must be YYYY-MM-DD HH:NN:SS";
        o.lo = std::max(o.lo, *t);
        windowed = true;
    }
    if (const auto* end = find_param(params, "end")) {
        const auto t = parse_query_time(*end, o.offset);
        if (!t) return "end: must be YYYY-MM-DD HH:NN:SS";
        o.hi = *t;
        windowed = true;
    }
    if (const auto* results = find_param(params, "results")) {
        const auto n = to_number<std::int64_t>(*results);
        if (!n || *n < 0) return "results: must be a non-negative integer (at most 8000 are returned)";
        o.limit = std::min<std::size_t>(static_cast<std::size_t>(*n), max_results);
    } else if (windowed) {
        o.limit = max_results;
    } else {
        o.lo = now - days{1}; // the default window: the newest 100 of the last day
    }
    return std::nullopt;
}

void append_number(std::string& out, double v, int decimals) {
    std::array<char, 64> buf{};
    const double half_unit = 0.5 * std::pow(10.0, -decimals);
    if (v < 0 && v > -half_unit) v = 0; // never "-0.00"
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::fixed, decimals);
    out.append(buf.data(), ec == std::errc{} ? end : buf.data());
}

void append_value(std::string& out, const FieldSpec& field, const Value& value) {
    switch (value.kind) {
    case Value::Kind::null: out += "null"; return;
    case Value::Kind::number:
        out.push_back('"');
        append_number(out, value.number, field.decimals);
        out.push_back('"');
        return;
    case Value::Kind::empty: out += R"("")"; return;
    case Value::Kind::nan: out += R"("nan")"; return;
    case Value::Kind::text: append_json_string(out, field.texts[value.index % field.texts.size()]); return;
    case Value::Kind::junk: append_json_string(out, junk_value(value.index)); return;
    }
}

void append_key(std::string& out, std::string_view key) {
    out.push_back('"');
    out += key;
    out += "\":";
}

void append_field_key(std::string& out, int n) {
    out += "\"field";
    out.push_back(static_cast<char>('0' + n));
    out += "\":";
}

/// One entry; `only_field` 0 renders every enabled field, 1..8 just that one.
void append_entry(std::string& out, const Channel& ch, const Entry& e, const ReadOptions& o, int only_field) {
    out += R"({"created_at":")";
    append_iso8601(out, e.created_at, o.offset);
    out += R"(","entry_id":)";
    out += std::to_string(e.entry_id);
    for (int n = 1; n <= 8; ++n) {
        const auto& field = ch.spec().fields[static_cast<std::size_t>(n - 1)];
        if (!field.enabled || (only_field != 0 && n != only_field)) continue;
        out.push_back(',');
        append_field_key(out, n);
        append_value(out, field, e.values[static_cast<std::size_t>(n - 1)]);
    }
    if (o.location) out += R"(,"latitude":null,"longitude":null,"elevation":null)";
    if (o.status) {
        out += R"(,"status":)";
        if (e.status < 0) {
            out += "null";
        } else {
            append_json_string(out, ch.spec().statuses[static_cast<std::size_t>(e.status)]);
        }
    }
    out.push_back('}');
}

void append_string_member(std::string& out, std::string_view key, std::string_view value) {
    append_key(out, key);
    append_json_string(out, value);
    out.push_back(',');
}

void append_channel(std::string& out, const Channel& ch, const ReadOptions& o) {
    const auto& spec = ch.spec();
    out += R"({"id":)";
    out += std::to_string(spec.id);
    out.push_back(',');
    append_string_member(out, "name", spec.name);
    if (spec.description) append_string_member(out, "description", *spec.description);
    append_string_member(out, "latitude", spec.latitude);
    append_string_member(out, "longitude", spec.longitude);
    for (int n = 1; n <= 8; ++n) {
        const auto& field = spec.fields[static_cast<std::size_t>(n - 1)];
        if (!field.enabled) continue;
        append_field_key(out, n);
        append_json_string(out, field.label);
        out.push_back(',');
    }
    append_string_member(out, "created_at", format_iso8601(ch.created_at(), o.offset));
    append_string_member(out, "updated_at", format_iso8601(ch.updated_at(), o.offset));
    if (spec.elevation) append_string_member(out, "elevation", *spec.elevation);
    if (o.metadata) append_string_member(out, "metadata", spec.metadata.value_or(""));
    out += R"("last_entry_id":)";
    out += ch.empty() ? "null" : std::to_string(ch.last()->entry_id);
    out.push_back('}');
}

std::string feed_body(const Channel& ch, const std::vector<const Entry*>& entries, const ReadOptions& o, int only_field) {
    std::string out;
    out.reserve(256 + entries.size() * 160);
    out += R"({"channel":)";
    append_channel(out, ch, o);
    out += R"(,"feeds":[)";
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) out.push_back(',');
        append_entry(out, ch, *entries[i], o, only_field);
    }
    out += "]}";
    return out;
}

std::string entry_body(const Channel& ch, const Entry* e, const ReadOptions& o, int only_field) {
    if (!e) return "-1";
    std::string out;
    append_entry(out, ch, *e, o, only_field);
    return out;
}

std::string status_body(const Channel& ch, const std::vector<const Entry*>& entries, const ReadOptions& o) {
    std::string out = R"({"channel":{)";
    append_string_member(out, "name", ch.spec().name);
    append_string_member(out, "latitude", ch.spec().latitude);
    append_key(out, "longitude");
    append_json_string(out, ch.spec().longitude);
    out += R"(},"feeds":[)";
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) out.push_back(',');
        out += R"({"created_at":")";
        append_iso8601(out, entries[i]->created_at, o.offset);
        out += R"(","entry_id":)";
        out += std::to_string(entries[i]->entry_id);
        out += R"(,"status":)";
        append_json_string(out, ch.spec().statuses[static_cast<std::size_t>(entries[i]->status)]);
        out.push_back('}');
    }
    out += "]}";
    return out;
}

/// Weak ETag from an FNV-1a hash of the body: equal bodies, equal tags.
std::string etag_of(std::string_view body) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : body) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    std::array<char, 16> hex{};
    const auto [end, ec] = std::to_chars(hex.data(), hex.data() + hex.size(), h, 16);
    return "W/\"" + std::string{hex.data(), end} + "\"";
}

/// Field number from "3.json" / "3" style segments; 0 when not a field number.
int field_number(std::string_view s) {
    return s.size() == 1 && s[0] >= '1' && s[0] <= '8' ? s[0] - '0' : 0;
}

bool strip_suffix(std::string_view& s, std::string_view suffix) {
    if (s.size() < suffix.size() || s.substr(s.size() - suffix.size()) != suffix) return false;
    s.remove_suffix(suffix.size());
    return true;
}

} // namespace

Seconds SimClock::now(WallTime wall) const {
    const auto elapsed = duration<double>(wall - wall_origin_).count() * speed_;
    return sim_origin_ + seconds{static_cast<std::int64_t>(std::floor(elapsed))} + advanced_;
}

SimApi::SimApi(SimConfig config, WallTime wall_start)
    : config_{std::move(config)},
      clock_{wall_start, config_.start.value_or(floor<seconds>(wall_start)), config_.speed},
      faults_{config_.seed} {
    const auto data_start = clock_.now(wall_start) - config_.history;
    for (const auto& spec : config_.channels) {
        channels_.emplace(spec.id, std::make_unique<Channel>(spec, config_.seed, data_start));
    }
}

void SimApi::count(std::optional<std::uint64_t> channel_id, std::string_view path, std::string_view status) {
    std::string resource;
    auto parts = split_path(path);
    for (std::size_t i = 2; i < parts.size(); ++i) {
        auto part = parts[i];
        strip_suffix(part, ".json");
        const bool number = !part.empty() && std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isdigit(c); });
        resource += (i == 2 ? "" : "/") + (number ? std::string{"N"} : std::string{part});
    }
    for (auto* c : {&total_counts_, channel_id ? &channel_counts_[*channel_id] : nullptr}) {
        if (!c) continue;
        ++c->total;
        ++c->by_status[std::string{status}];
        ++c->by_resource[resource];
    }
}

SimReply SimApi::handle(const SimRequest& request, WallTime wall_now) {
    const auto qmark = request.target.find('?');
    const auto path = request.target.substr(0, qmark);
    const auto query = qmark == std::string_view::npos ? std::string_view{} : request.target.substr(qmark + 1);

    if (path.starts_with("/_sim/")) return handle_control(request, path.substr(6), wall_now);

    // Faults come before anything else: a dead server does not validate parameters.
    std::optional<std::uint64_t> channel_id;
    if (path.starts_with("/channels/")) {
        auto rest = path.substr(10);
        channel_id = to_number<std::uint64_t>(rest.substr(0, rest.find('/')));
    }
    const auto fault = faults_.decide(channel_id);
    SimReply reply;
    switch (fault.kind) {
    case FaultDecision::Kind::outage:
        if (fault.outage == OutageMode::http_503) {
            reply = error_reply(503, "error_service_unavailable", "Service Unavailable",
                                "The server is temporarily unable to service your request.");
        } else {
            reply.action = fault.outage == OutageMode::reset ? SimReply::Action::reset : SimReply::Action::hang;
        }
        break;
    case FaultDecision::Kind::too_many_requests:
        reply = error_reply(429, "error_too_many_requests", "Too Many Requests",
                            "You have exceeded the rate limit. Please try again later.");
        break;
    case FaultDecision::Kind::server_error:
        reply = error_reply(500, "error_internal_server_error", "Internal Server Error",
                            "The server encountered an unexpected condition.");
        break;
    case FaultDecision::Kind::canned:
        reply.status = fault.canned.status;
        reply.content_type = fault.canned.content_type;
        reply.body = fault.canned.body;
        break;
    case FaultDecision::Kind::none:
        reply = handle_channel_api(request, path, query, clock_.now(wall_now), channel_id);
        break;
    }
    reply.delay = fault.latency;
    count(channel_id, path, reply.action == SimReply::Action::reset  ? "reset"sv
                      : reply.action == SimReply::Action::hang ? "hang"sv
                                                               : std::string_view{std::to_string(reply.status)});
    if (reply.status == 200 && !reply.etag.empty() && reply.etag == request.if_none_match) {
        reply.status = 304;
        reply.body.clear();
    }
    return reply;
}

SimReply SimApi::handle_channel_api(const SimRequest& request, std::string_view path, std::string_view query,
                                    Seconds now, std::optional<std::uint64_t>& channel_id) {
    auto parts = split_path(path);
    if (parts.size() < 2 || parts[0] != "channels") return not_found("Unknown path: " + std::string{path});
    if (!channel_id) return not_found("Channel ids are numbers.");
    auto it = channels_.find(*channel_id);
    if (it == channels_.end()) return not_found("Channel " + std::to_string(*channel_id) + " does not exist.");
    if (request.method != "GET") {
        return error_reply(405, "error_method_not_allowed", "Method Not Allowed", "This simulator serves reads (GET) only.");
    }
    Channel& ch = *it->second;
    const auto params = parse_query(query);

    // A private channel answers a missing or wrong key with 400 and the body -1.
    if (ch.spec().read_key) {
        const auto* key = find_param(params, "api_key");
        const std::string_view given = key ? std::string_view{*key} : request.api_key_header;
        if (given != *ch.spec().read_key) return json_reply(400, "-1");
    }

    // The resource: everything after /channels/{id}/, with its format suffix.
    auto resource = parts.size() == 2 ? std::string_view{} : parts.back();
    const std::vector<std::string_view> middle(parts.begin() + 2, parts.end() - (parts.size() > 2 ? 1 : 0));
    if (!strip_suffix(resource, ".json")) {
        return not_found("flowgate-sim serves the .json formats only.");
    }

    ReadOptions options;
    if (auto error = parse_read_options(params, now, options)) return bad_request(*error);
    ch.advance_to(now);

    SimReply reply;
    // ThingSpeak accepts feed/ and field/ as well as feeds/ and fields/.
    const auto is = [](std::string_view s, std::string_view plural) {
        return s == plural || s == plural.substr(0, plural.size() - 1);
    };
    if (middle.empty() && is(resource, "feeds")) {
        reply.body = feed_body(ch, ch.select(options.lo, options.hi, options.limit), options, 0);
    } else if (middle.empty() && resource == "status") {
        reply.body = status_body(ch, ch.select_statuses(options.lo, options.hi, options.limit), options);
    } else if (middle.size() == 1 && is(middle[0], "feeds")) {
        if (resource == "last") {
            reply.body = entry_body(ch, ch.last(), options, 0);
        } else if (resource == "last_entry_id") {
            reply.body = ch.empty() ? "-1" : std::to_string(ch.last()->entry_id);
        } else if (resource == "last_data_age") {
            if (ch.empty()) {
                reply.body = "-1";
            } else {
                const auto age = std::max<std::int64_t>(0, (now - ch.last()->created_at).count());
                reply.body = R"({"last_data_age":")" + std::to_string(age) + R"(","last_data_age_units":"s"})";
            }
        } else if (auto id = to_number<std::uint64_t>(resource)) {
            reply.body = entry_body(ch, ch.find(*id), options, 0);
        } else {
            return not_found("Unknown feed resource: " + std::string{resource});
        }
    } else if (middle.size() == 1 && is(middle[0], "fields")) {
        const int n = field_number(resource);
        if (n == 0) return bad_request("field number must be 1..8");
        reply.body = feed_body(ch, ch.select(options.lo, options.hi, options.limit), options, n);
    } else if (middle.size() == 2 && is(middle[0], "fields") && resource == "last") {
        const int n = field_number(middle[1]);
        if (n == 0) return bad_request("field number must be 1..8");
        const bool enabled = ch.spec().fields[static_cast<std::size_t>(n - 1)].enabled;
        reply.body = entry_body(ch, enabled ? ch.last_with_field(n) : nullptr, options, n);
    } else {
        return not_found("Unknown path: " + std::string{path});
    }
    reply.etag = etag_of(reply.body);
    return reply;
}

SimReply SimApi::handle_control(const SimRequest& request, std::string_view path, WallTime wall_now) {
    using nlohmann::json;
    const auto fail = [](unsigned status, std::string_view message) {
        return json_reply(status, json{{"error", message}}.dump());
    };
    const auto now = clock_.now(wall_now);
    const auto parts = split_path(path);
    const bool post = request.method == "POST";

    json body = json::object();
    if (post && !request.body.empty()) {
        body = json::parse(request.body, nullptr, false);
        if (body.is_discarded() || !body.is_object()) return fail(400, "the body must be a JSON object");
    }
    // Reads a member of the body, or answers 400 naming it.
    std::string bad_member;
    const auto member = [&]<typename T>(std::string_view key, T fallback) -> T {
        const auto it = body.find(key);
        if (it == body.end() || it->is_null()) return fallback;
        try {
            return it->get<T>();
        } catch (const json::exception&) {
            bad_member = key;
            return fallback;
        }
    };

    try {
        if (parts.size() == 1 && parts[0] == "health") return json_reply(200, R"({"ok":true})");

        if (parts.size() == 1 && parts[0] == "time") {
            if (post) {
                const auto by = member("advance_seconds", std::int64_t{0});
                if (!bad_member.empty() || by < 0) return fail(400, "advance_seconds: a non-negative integer");
                clock_.advance(seconds{by});
            }
            return json_reply(200, json{{"now", format_iso8601(clock_.now(wall_now))}, {"speed", clock_.speed()}}.dump());
        }

        if (parts.size() == 1 && parts[0] == "stats") {
            if (post) {
                total_counts_ = {};
                channel_counts_.clear();
            }
            const auto to_json = [](const RequestCounts& c) {
                return json{{"requests", c.total}, {"by_status", c.by_status}, {"by_resource", c.by_resource}};
            };
            json channels = json::object();
            for (const auto& [id, counts] : channel_counts_) channels[std::to_string(id)] = to_json(counts);
            return json_reply(200, json{{"total", to_json(total_counts_)}, {"channels", channels}}.dump());
        }

        if (parts.size() == 1 && parts[0] == "faults" && post) {
            if (member("clear", false)) {
                faults_.clear();
                return json_reply(200, R"({"ok":true})");
            }
            FaultSpec spec;
            const auto outage = member("outage", std::string{});
            if (outage == "503") {
                spec.outage = OutageMode::http_503;
            } else if (outage == "reset") {
                spec.outage = OutageMode::reset;
            } else if (outage == "hang") {
                spec.outage = OutageMode::hang;
            } else if (!outage.empty()) {
                return fail(400, "outage: one of \"503\", \"reset\", \"hang\"");
            }
            spec.latency = milliseconds{member("latency_ms", std::int64_t{0})};
            spec.error_rate = member("error_rate", 0.0);
            spec.burst_429 = member("burst_429", std::uint64_t{0});
            if (body.contains("respond")) {
                const auto& r = body["respond"];
                if (!r.is_object() || !r.contains("body") || !r["body"].is_string()) {
                    return fail(400, "respond: an object with a string \"body\"");
                }
                CannedResponse canned;
                canned.body = r["body"].get<std::string>();
                canned.status = r.value("status", 200u);
                canned.content_type = r.value("content_type", std::string{json_type});
                canned.remaining = r.value("count", std::uint64_t{0});
                if (canned.status < 100 || canned.status > 599) return fail(400, "respond.status: 100..599");
                spec.canned = std::move(canned);
            }
            if (!bad_member.empty()) return fail(400, bad_member + ": wrong type");
            if (spec.latency < milliseconds{0} || spec.error_rate < 0 || spec.error_rate > 1) {
                return fail(400, "latency_ms must be ≥ 0 and error_rate within 0..1");
            }
            std::optional<std::uint64_t> scope;
            if (body.contains("channel")) {
                scope = member("channel", std::uint64_t{0});
                if (!bad_member.empty() || !channels_.contains(*scope)) return fail(404, "channel: no such channel");
            }
            faults_.set(scope, std::move(spec));
            return json_reply(200, R"({"ok":true})");
        }

        if (parts.size() >= 3 && parts[0] == "channels" && post) {
            const auto id = to_number<std::uint64_t>(parts[1]);
            const auto it = id ? channels_.find(*id) : channels_.end();
            if (it == channels_.end()) return fail(404, "no such channel");
            Channel& ch = *it->second;
            if (parts.size() == 3 && parts[2] == "clear") {
                ch.clear(now);
                return json_reply(200, R"({"ok":true})");
            }
            if (parts.size() == 3 && parts[2] == "interval") {
                const auto s = member("seconds", std::int64_t{0});
                if (!bad_member.empty() || s < 1) return fail(400, "seconds: a positive integer");
                ch.set_interval(seconds{s}, now);
                return json_reply(200, R"({"ok":true})");
            }
            if (parts.size() == 4 && parts[2] == "fields") {
                const int n = field_number(parts[3]);
                if (n == 0) return fail(400, "field number must be 1..8");
                std::optional<std::string> label;
                std::optional<bool> enabled;
                if (body.contains("label")) label = member("label", std::string{});
                if (body.contains("enabled")) enabled = member("enabled", true);
                if (!bad_member.empty()) return fail(400, bad_member + ": wrong type");
                ch.set_field(n, std::move(label), enabled, now);
                return json_reply(200, R"({"ok":true})");
            }
        }
    } catch (const json::exception& e) {
        return fail(400, e.what());
    }
    return fail(404, "unknown control endpoint: " + std::string{request.method} + " /_sim/" + std::string{path});
}

} // namespace flowgate::sim
