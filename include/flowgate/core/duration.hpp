#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace flowgate {

/// Parses a duration written as a whole number and a unit: "250ms", "15s", "5m", "2h", "7d".
/// Returns nullopt for anything else (no unit, negative, fractional, overflow).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// The shortest exact spelling parse_duration accepts: 90000ms → "90s", 120s → "2m".
std::string format_duration(std::chrono::milliseconds d);

} // namespace flowgate
