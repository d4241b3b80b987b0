#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace flowgate {

using Seconds = std::chrono::sys_seconds;

/// A timestamp as ThingSpeak writes it: an instant plus the UTC offset it was shown in.
struct OffsetTime {
    Seconds utc;
    std::chrono::minutes offset{0};

    friend bool operator==(const OffsetTime&, const OffsetTime&) = default;
};

/// "2014-02-26T12:42:49-05:00", or "...Z" when the offset is zero: ThingSpeak's created_at.
std::string format_iso8601(Seconds utc, std::chrono::minutes offset = std::chrono::minutes{0});

/// Appends the same text as format_iso8601 to `out` without allocating a temporary.
void append_iso8601(std::string& out, Seconds utc, std::chrono::minutes offset);

/// Parses ThingSpeak's created_at: "YYYY-MM-DDTHH:MM:SS" followed by "Z" or "±hh:mm".
/// Returns nullopt for anything else, including an impossible date or a missing zone.
std::optional<OffsetTime> parse_iso8601(std::string_view text);

/// Parses a `start`/`end` query value: "YYYY-MM-DD HH:NN:SS" (space or 'T', seconds optional,
/// time optional), interpreted in `default_offset` unless it ends with "Z" or "±hh:mm".
std::optional<Seconds> parse_query_time(std::string_view text, std::chrono::minutes default_offset);

} // namespace flowgate
