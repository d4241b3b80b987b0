#include "flowgate/core/duration.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <limits>

namespace flowgate {
namespace {

struct Unit {
    std::string_view suffix;
    std::int64_t ms;
};

// Longest suffix first so that "ms" is not read as "m" followed by garbage.
constexpr std::array<Unit, 5> units{{
    {"ms", 1},
    {"s", 1'000},
    {"m", 60'000},
    {"h", 3'600'000},
    {"d", 86'400'000},
}};

} // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    const auto digits_end = text.find_first_not_of("0123456789");
    if (digits_end == 0 || digits_end == std::string_view::npos) return std::nullopt;
    std::int64_t count = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits_end, count);
    if (ec != std::errc{}) return std::nullopt;
    const auto suffix = text.substr(digits_end);
    for (const auto& unit : units) {
        if (suffix != unit.suffix) continue;
        if (count > std::numeric_limits<std::int64_t>::max() / unit.ms) return std::nullopt;
        return std::chrono::milliseconds{count * unit.ms};
    }
    return std::nullopt;
}

std::string format_duration(std::chrono::milliseconds d) {
    const auto ms = d.count();
    for (auto it = units.rbegin(); it != units.rend(); ++it) {
        if (ms % it->ms == 0 && (ms != 0 || it->ms == 1'000)) {
            return std::to_string(ms / it->ms) + std::string{it->suffix};
        }
    }
    return std::to_string(ms) + "ms";
}

} // namespace flowgate
