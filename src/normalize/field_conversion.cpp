#include "flowgate/normalize/field_conversion.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "normalize_detail.hpp"

namespace flowgate::normalize {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

std::optional<double> parse_number(std::string_view s) {
    s = detail::trim(s);
    // from_chars refuses a leading '+', which some firmware prints.
    if (s.size() > 1 && s.front() == '+' && s[1] != '-') s.remove_prefix(1);
    double value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    // from_chars also reads "inf" and "nan": neither is a measurement.
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty() || !std::isfinite(value)) return std::nullopt;
    return value;
}

std::optional<bool> parse_boolean(std::string_view s) {
    s = detail::trim(s);
    for (const auto word : {"true", "on"}) {
        if (iequals(s, word)) return true;
    }
    for (const auto word : {"false", "off"}) {
        if (iequals(s, word)) return false;
    }
    if (const auto number = parse_number(s)) {
        if (*number == 1) return true;
        if (*number == 0) return false;
    }
    return std::nullopt;
}

std::string format_number(double v) {
    std::array<char, 32> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return ec == std::errc{} ? std::string{buf.data(), end} : std::string{"?"};
}

/// A number whose text is an integer that a double does not hold exactly (readings are
/// doubles, in PostgreSQL too), so it would be stored as a different number: the problem.
/// Fractions and exponents are approximate by nature and pass, except under an integer
/// mapping, which promises an exact integer.
std::optional<std::string> inexact(std::string_view raw, double value, DataType type) {
    constexpr double two_53 = 9007199254740992.0; // every integer below it is a double
    if (std::abs(value) < two_53) return std::nullopt;
    auto s = detail::trim(raw);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    const auto point = s.find('.');
    auto whole = s.substr(0, point);
    const bool integral_text = whole.find_first_not_of("-0123456789") == std::string_view::npos &&
                               (point == std::string_view::npos || s.substr(point + 1).find_first_not_of('0') == std::string_view::npos);
    if (!integral_text) {
        return type == DataType::integer
                   ? std::optional{detail::quote_excerpt(raw) + " is an integer beyond 2^53, which a reading cannot hold exactly"}
                   : std::nullopt;
    }
    std::int64_t exact = 0;
    const auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), exact);
    if (ec == std::errc::result_out_of_range) return detail::quote_excerpt(raw) + " is beyond the 64-bit integer range";
    // Within int64; the double is exact when it converts back to the same integer.
    if (ec == std::errc{} && end == whole.data() + whole.size() && std::abs(value) < 9.2e18 &&
        static_cast<std::int64_t>(value) == exact) {
        return std::nullopt;
    }
    return detail::quote_excerpt(raw) + " has more digits than a reading holds exactly (it would be stored as " +
           format_number(value) + ")";
}

FieldConversion invalid(std::string problem) {
    FieldConversion c;
    c.outcome = FieldConversion::Outcome::invalid;
    c.problem = std::move(problem);
    return c;
}

std::string_view with_article(DataType type) {
    switch (type) {
    case DataType::float64: return "a float";
    case DataType::integer: return "an integer";
    case DataType::boolean: return "a boolean";
    case DataType::text: return "a string";
    }
    return "a value";
}

} // namespace

bool is_missing_value(std::string_view raw) {
    const auto s = detail::trim(raw);
    return s.empty() || iequals(s, "nan");
}

FieldConversion convert_field(const FieldMapping& mapping, std::optional<std::string_view> raw) {
    if (!raw || is_missing_value(*raw)) return {};

    FieldConversion c;
    c.outcome = FieldConversion::Outcome::reading;
    c.reading.metric = mapping.canonical_name;
    c.reading.type = mapping.type;
    c.reading.unit = mapping.unit;

    if (mapping.type == DataType::text) {
        // The line ending of firmware that prints its value with println is not part of it.
        auto text = *raw;
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
        for (std::size_t i = 0; i < text.size(); ++i) {
            const auto byte = static_cast<unsigned char>(text[i]);
            if ((byte < 0x20 && byte != '\t') || byte == 0x7f) {
                std::array<char, 8> code{};
                std::snprintf(code.data(), code.size(), "0x%02x", byte);
                return invalid("a string with the control character " + std::string{code.data()} + " at byte " +
                               std::to_string(i) + " is not stored");
            }
        }
        c.reading.text = std::string{text};
        return c;
    }
    const auto not_a = [&] { return invalid(detail::quote_excerpt(*raw) + " is not " + std::string{with_article(mapping.type)}); };
    if (mapping.type == DataType::boolean) {
        const auto b = parse_boolean(*raw);
        if (!b) return not_a();
        c.reading.number = *b ? 1 : 0;
        return c;
    }

    const auto number = parse_number(*raw);
    if (!number || (mapping.type == DataType::integer && std::trunc(*number) != *number)) return not_a();
    if (auto problem = inexact(*raw, *number, mapping.type)) return invalid(std::move(*problem));
    const double value = *number * mapping.scale_factor + mapping.offset;
    if (!std::isfinite(value)) {
        return invalid(detail::quote_excerpt(*raw) + " is out of range once calibrated (* " +
                       format_number(mapping.scale_factor) + " + " + format_number(mapping.offset) + ")");
    }
    const auto unit = mapping.unit.empty() ? std::string{} : " " + mapping.unit;
    if (mapping.min_valid && value < *mapping.min_valid) {
        return invalid("value " + format_number(value) + unit + " is below min_valid " + format_number(*mapping.min_valid));
    }
    if (mapping.max_valid && value > *mapping.max_valid) {
        return invalid("value " + format_number(value) + unit + " is above max_valid " + format_number(*mapping.max_valid));
    }
    c.reading.number = value;
    return c;
}

} // namespace flowgate::normalize
