#pragma once

// Text helpers shared by the feed parser, the field conversion and the normalizer.

#include <cstddef>
#include <string>
#include <string_view>

namespace flowgate::normalize::detail {

/// telemetry_errors.raw_value holds at most this many bytes.
inline constexpr std::size_t max_raw_value_bytes = 255;

/// Quoted values in messages are cut shorter still: a message is read by people.
inline constexpr std::size_t max_excerpt_bytes = 64;

/// The longest prefix of `s` of at most `max` bytes that does not split a UTF-8 sequence:
/// the database rejects text that is not valid UTF-8, and the input is.
inline std::string_view utf8_prefix(std::string_view s, std::size_t max) {
    if (s.size() <= max) return s;
    std::size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    return s.substr(0, cut);
}

/// `s` as it appears in a message: quoted, at most max_excerpt_bytes, control characters
/// replaced so that a value cannot break a log line.
inline std::string quote_excerpt(std::string_view s) {
    const auto head = utf8_prefix(s, max_excerpt_bytes);
    std::string out;
    out.reserve(head.size() + 5);
    out.push_back('\'');
    for (const char c : head) {
        const auto u = static_cast<unsigned char>(c);
        out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
    }
    if (head.size() < s.size()) out += "...";
    out.push_back('\'');
    return out;
}

inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

inline std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

} // namespace flowgate::normalize::detail
