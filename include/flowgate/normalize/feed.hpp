#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowgate::normalize {

/// The `channel` object of a ThingSpeak feed response.
struct ChannelInfo {
    std::int64_t id = 0;
    std::string name;
    /// field1..field8 labels; nullopt when the channel has that field disabled (key absent).
    std::array<std::optional<std::string>, 8> labels;
    std::optional<std::int64_t> last_entry_id;  ///< null on a channel that never had an entry

    friend bool operator==(const ChannelInfo&, const ChannelInfo&) = default;
};

/// One entry (row) of a ThingSpeak channel, as the service sent it: nothing is converted yet.
///
/// Defects of a single entry (no entry_id, a created_at that is not a string, a field that is an
/// object) do not fail the whole body: they are kept here and reported by the Normalizer, so one
/// bad row never costs the other 7999 of a page.
struct FeedEntry {
    /// nullopt when absent or not a non-negative integer (aggregated reads carry none).
    std::optional<std::int64_t> entry_id;
    /// The JSON text of an entry_id that is present but not a non-negative integer.
    std::optional<std::string> bad_entry_id;
    /// created_at as sent; empty when absent; the JSON text when it is not a string.
    std::string created_at_raw;
    /// field1..field8 values; nullopt for null, absent, or an unusable JSON value.
    /// A JSON number (never sent by ThingSpeak, accepted anyway) becomes its text.
    std::array<std::optional<std::string>, 8> fields;
    /// Whether the key fieldN was present (with a string, null or anything else).
    std::array<bool, 8> present{};
    /// For a fieldN whose value is an object, array or boolean: a short description of it
    /// ("true", "an object", "an array"), so the Normalizer can report it. nullopt otherwise.
    std::array<std::optional<std::string>, 8> bad_values;

    friend bool operator==(const FeedEntry&, const FeedEntry&) = default;
};

/// A parsed read response. `channel` is nullopt for the bare-entry endpoints (last.json).
struct Feed {
    std::optional<ChannelInfo> channel;
    std::vector<FeedEntry> entries;

    friend bool operator==(const Feed&, const Feed&) = default;
};

/// The result of parse_feed: either a feed, or a message saying why the body is unusable.
struct ParseOutcome {
    std::optional<Feed> feed;
    std::string error;  ///< empty when `feed` is set; never contains the body beyond a few bytes

    bool ok() const { return feed.has_value(); }
};

/// Parses the body of a ThingSpeak JSON read:
///  - feeds.json, fields/N.json (also spelled feed/, field/): `{"channel":{…},"feeds":[…]}`;
///    keys other than created_at, entry_id and field1..8 (status, latitude, …) are ignored;
///  - feeds/last.json, fields/N/last.json, feeds/{id}.json: one bare entry object;
///  - the body `-1`: an empty result (last.json on an empty channel) — a Feed with no entries.
///    A private channel with a wrong key also answers `-1`, with HTTP 400: the status code is
///    the caller's to check, this function only sees bodies.
/// Malformed bodies come back as ParseOutcome::error, e.g. "body is not JSON at byte 17" or
/// "feeds is not an array"; no input makes it throw (short of std::bad_alloc). Parses the
/// body once into a DOM: about 17 ms for an 8000-entry, 1.7 MB page.
ParseOutcome parse_feed(std::string_view body);

} // namespace flowgate::normalize
