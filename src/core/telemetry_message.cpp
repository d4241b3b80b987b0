#include "flowgate/core/telemetry_message.hpp"

#include <array>
#include <charconv>
#include <cmath>

#include "flowgate/core/json_text.hpp"

namespace flowgate {
namespace {

void append_number(std::string& out, double v) {
    if (!std::isfinite(v)) {
        out += "null";
        return;
    }
    std::array<char, 32> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), end);
}

void append_value(std::string& out, const Reading& r) {
    switch (r.type) {
    case DataType::float64: append_number(out, r.number); return;
    case DataType::integer:
        // Beyond ±2^63 llround is undefined: such a value is published as null.
        if (std::isfinite(r.number) && std::abs(r.number) < 9.2e18) {
            out += std::to_string(std::llround(r.number));
        } else {
            out += "null";
        }
        return;
    case DataType::boolean: out += r.number != 0 ? "true" : "false"; return;
    case DataType::text: append_json_string(out, r.text); return;
    }
}

} // namespace

std::string telemetry_update_json(const TelemetryEntry& entry) {
    std::string out;
    out.reserve(160 + entry.readings.size() * 48);
    out += R"({"type":"TELEMETRY_UPDATE","node_id":)";
    out += std::to_string(entry.device_id);
    out += R"(,"community_id":)";
    out += std::to_string(entry.community_id);
    out += R"(,"source":)";
    append_json_string(out, entry.source);
    out += R"(,"entry_id":)";
    out += std::to_string(entry.entry_id);
    out += R"(,"ts":")";
    append_iso8601(out, entry.created_at.utc, entry.created_at.offset);
    out += R"(","readings":{)";
    bool first = true;
    for (const auto& r : entry.readings) {
        if (!first) out.push_back(',');
        first = false;
        append_json_string(out, r.metric);
        out += R"(:{"value":)";
        append_value(out, r);
        if (!r.unit.empty()) {
            out += R"(,"unit":)";
            append_json_string(out, r.unit);
        }
        out.push_back('}');
    }
    out += "}}";
    return out;
}

std::string node_status_json(const StatusChange& change, CommunityId community) {
    std::string out = R"({"type":"NODE_STATUS","node_id":)";
    out += std::to_string(change.device_id);
    out += R"(,"community_id":)";
    out += std::to_string(community);
    out += R"(,"status":")";
    out += to_string(change.to);
    out += R"(","previous":")";
    out += to_string(change.from);
    out += R"(","consecutive_failures":)";
    out += std::to_string(change.consecutive_failures);
    out += R"(,"reason":)";
    append_json_string(out, change.reason);
    out += R"(,"at":")";
    append_iso8601(out, change.at, std::chrono::minutes{0});
    out += "\"}";
    return out;
}

std::string alert_json(const AlertChange& change, CommunityId community) {
    std::string out = R"({"type":"ALERT","alert":)";
    append_json_string(out, kind_of(change));
    out += R"(,"state":")";
    out += change.open ? "open" : "resolved";
    out += R"(","severity":")";
    out += severity_of(change);
    out += R"(","node_id":)";
    out += change.device_id ? std::to_string(*change.device_id) : "null";
    out += R"(,"community_id":)";
    out += std::to_string(community);
    out += R"(,"message":)";
    append_json_string(out, change.message);
    out += R"(,"at":")";
    append_iso8601(out, change.at, std::chrono::minutes{0});
    out += "\"}";
    return out;
}

} // namespace flowgate
