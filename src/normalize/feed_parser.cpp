#include "flowgate/normalize/feed.hpp"

#include <nlohmann/json.hpp>

#include <limits>
#include <utility>

#include "normalize_detail.hpp"

namespace flowgate::normalize {
namespace {

using nlohmann::json;

ParseOutcome failure(std::string message) { return ParseOutcome{std::nullopt, std::move(message)}; }

/// 1..8 for "field1".."field8", 0 for any other key.
int field_number(std::string_view key) {
    if (key.size() != 6 || !key.starts_with("field") || key[5] < '1' || key[5] > '8') return 0;
    return key[5] - '0';
}

std::optional<std::int64_t> as_int64(const json& v) {
    if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
        return static_cast<std::int64_t>(u);
    }
    if (v.is_number_integer()) return v.get<std::int64_t>();
    return std::nullopt;
}

/// A short text for a value that is not what was expected. Containers are named, not dumped:
/// dump() recurses, and a hostile body could nest a field value a million levels deep.
std::string describe(const json& v) {
    switch (v.type()) {
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: {
        // A string can be megabytes long: only its head is quoted (and escaped).
        const auto& s = v.get_ref<const std::string&>();
        const auto head = detail::utf8_prefix(s, detail::max_excerpt_bytes);
        return json(head).dump() + (head.size() < s.size() ? "..." : "");
    }
    default: return v.dump();
    }
}

std::string not_json_message(std::string_view body, const json::parse_error& e) {
    std::string message = "body is not JSON at byte " + std::to_string(e.byte);
    // nlohmann's wording between "- " and the first ';' is a fixed phrase ("invalid literal",
    // "unexpected end of input"); what follows it may quote the body, so it is left out.
    const std::string_view what = e.what();
    const auto dash = what.find(" - ");
    if (dash != std::string_view::npos) {
        auto reason = what.substr(dash + 3);
        reason = reason.substr(0, reason.find(';'));
        message += ": ";
        message += detail::utf8_prefix(reason, 80);
    }
    if (e.byte > body.size()) message += " (the body ends early: truncated?)";
    return message;
}

FeedEntry parse_entry(json& object) {
    FeedEntry entry;
    for (auto it = object.begin(); it != object.end(); ++it) {
        const std::string& key = it.key();
        json& value = it.value();
        if (const int n = field_number(key); n != 0) {
            const auto i = static_cast<std::size_t>(n - 1);
            entry.present[i] = true;
            if (value.is_string()) {
                entry.fields[i] = std::move(value.get_ref<std::string&>());
            } else if (value.is_number()) {
                entry.fields[i] = value.dump();
            } else if (!value.is_null()) {
                entry.bad_values[i] = describe(value);
            }
        } else if (key == "entry_id") {
            if (value.is_null()) continue;
            entry.entry_id = as_int64(value);
            if (!entry.entry_id || *entry.entry_id < 0) {
                entry.entry_id.reset();
                entry.bad_entry_id = describe(value);
            }
        } else if (key == "created_at") {
            entry.created_at_raw = value.is_string() ? std::move(value.get_ref<std::string&>()) : describe(value);
        }
        // Other keys (status, latitude, longitude, elevation) are not telemetry.
    }
    return entry;
}

/// Fills `channel` from the channel object; returns an error message, or empty on success.
std::string parse_channel(const json& object, ChannelInfo& channel) {
    const auto id = object.find("id");
    if (id == object.end()) return "channel has no id";
    const auto id_value = as_int64(*id);
    if (!id_value) return "channel.id is not an integer: " + describe(*id);
    channel.id = *id_value;
    for (auto it = object.begin(); it != object.end(); ++it) {
        const std::string& key = it.key();
        const json& value = it.value();
        if (const int n = field_number(key); n != 0) {
            if (value.is_string()) {
                channel.labels[static_cast<std::size_t>(n - 1)] = value.get<std::string>();
            } else if (!value.is_null()) {
                // A label the schema check cannot read must not pass for "unchanged".
                return "channel." + key + " is not a string: " + describe(value);
            }
        } else if (key == "name" && value.is_string()) {
            channel.name = value.get<std::string>();
        } else if (key == "last_entry_id" && !value.is_null()) {
            channel.last_entry_id = as_int64(value);
            if (!channel.last_entry_id) return "channel.last_entry_id is not an integer: " + describe(value);
        }
    }
    return {};
}

ParseOutcome parse_feed_object(json& doc) {
    Feed feed;
    if (const auto channel = doc.find("channel"); channel != doc.end() && !channel->is_null()) {
        if (!channel->is_object()) return failure("channel is not an object but " + describe(*channel));
        ChannelInfo info;
        if (auto error = parse_channel(*channel, info); !error.empty()) return failure(std::move(error));
        feed.channel = std::move(info);
    }
    auto& feeds = doc["feeds"];
    if (!feeds.is_array()) return failure("feeds is not an array but " + describe(feeds));
    feed.entries.reserve(feeds.size());
    for (std::size_t i = 0; i < feeds.size(); ++i) {
        auto& entry = feeds[i];
        if (!entry.is_object()) {
            return failure("feeds[" + std::to_string(i) + "] is not an object but " + describe(entry));
        }
        feed.entries.push_back(parse_entry(entry));
    }
    return ParseOutcome{std::move(feed), {}};
}

} // namespace

ParseOutcome parse_feed(std::string_view body) {
    if (detail::trim(body).empty()) return failure("body is empty");
    json doc;
    try {
        doc = json::parse(body.begin(), body.end());
    } catch (const json::parse_error& e) {
        return failure(not_json_message(body, e));
    } catch (const json::exception& e) {
        // 406 is a number beyond double's range, e.g. 1e400; the rest cannot come from parse.
        return failure(e.id == 406 ? "body is not usable JSON: a number is too large for a double"
                                   : "body is not usable JSON (nlohmann error " + std::to_string(e.id) + ")");
    }

    if (doc.is_number_integer() && doc.get<std::int64_t>() == -1) return ParseOutcome{Feed{}, {}};
    if (!doc.is_object()) return failure("body is " + describe(doc) + ", not a feed or an entry");

    if (doc.contains("feeds")) return parse_feed_object(doc);
    if (const auto error = doc.find("error"); error != doc.end()) {
        // A ThingSpeak error object ({"status":"401","error":{"error_code":…}}) with a status
        // the HTTP client let through: say which error rather than "not a feed".
        std::string code = "unknown";
        if (error->is_object()) {
            const auto c = error->find("error_code");
            if (c != error->end()) code = describe(*c);
        }
        return failure("body is a ThingSpeak error object, error_code " + code);
    }
    if (doc.contains("channel")) return failure("body has a channel but no feeds");
    if (!doc.contains("created_at") && !doc.contains("entry_id")) {
        return failure("body is an object with neither feeds nor an entry's created_at and entry_id");
    }
    Feed feed;
    feed.entries.push_back(parse_entry(doc));
    return ParseOutcome{std::move(feed), {}};
}

} // namespace flowgate::normalize
