#include "flowgate/core/time_format.hpp"

#include <charconv>

namespace flowgate {
namespace {

using namespace std::chrono;

void append_2(std::string& out, unsigned v) {
    out.push_back(static_cast<char>('0' + v / 10));
    out.push_back(static_cast<char>('0' + v % 10));
}

/// Reads exactly `width` digits at `pos`, advancing it.
bool read_digits(std::string_view s, std::size_t& pos, std::size_t width, int& value) {
    if (pos + width > s.size()) return false;
    for (std::size_t i = pos; i < pos + width; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
    }
    std::from_chars(s.data() + pos, s.data() + pos + width, value);
    pos += width;
    return true;
}

bool expect(std::string_view s, std::size_t& pos, char c) {
    if (pos >= s.size() || s[pos] != c) return false;
    ++pos;
    return true;
}

struct Civil {
    sys_days day;
    seconds time_of_day{0};
};

std::optional<Civil> read_date(std::string_view s, std::size_t& pos) {
    int y = 0, mo = 0, d = 0;
    if (!read_digits(s, pos, 4, y) || !expect(s, pos, '-') || !read_digits(s, pos, 2, mo) ||
        !expect(s, pos, '-') || !read_digits(s, pos, 2, d)) {
        return std::nullopt;
    }
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) return std::nullopt;
    return Civil{sys_days{ymd}};
}

bool read_clock(std::string_view s, std::size_t& pos, bool seconds_optional, seconds& out) {
    int h = 0, mi = 0, sec = 0;
    if (!read_digits(s, pos, 2, h) || !expect(s, pos, ':') || !read_digits(s, pos, 2, mi)) return false;
    if (pos < s.size() && s[pos] == ':') {
        ++pos;
        if (!read_digits(s, pos, 2, sec)) return false;
    } else if (!seconds_optional) {
        return false;
    }
    if (h > 23 || mi > 59 || sec > 60) return false;
    out = hours{h} + minutes{mi} + seconds{sec};
    return true;
}

/// "Z", "+hh:mm" or "-hh:mm" (also "+hhmm", as some devices write it).
bool read_zone(std::string_view s, std::size_t& pos, minutes& offset) {
    if (pos >= s.size()) return false;
    if (s[pos] == 'Z') {
        ++pos;
        offset = minutes{0};
        return true;
    }
    if (s[pos] != '+' && s[pos] != '-') return false;
    const int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int h = 0, mi = 0;
    if (!read_digits(s, pos, 2, h)) return false;
    if (pos < s.size() && s[pos] == ':') ++pos;
    if (!read_digits(s, pos, 2, mi) || h > 23 || mi > 59) return false;
    offset = sign * (hours{h} + minutes{mi});
    return true;
}

} // namespace

void append_iso8601(std::string& out, Seconds utc, minutes offset) {
    const auto local = utc + offset;
    const auto day_start = floor<days>(local);
    const year_month_day ymd{day_start};
    const hh_mm_ss hms{local - day_start};
    const int y = static_cast<int>(ymd.year());
    out.push_back(static_cast<char>('0' + y / 1000 % 10));
    out.push_back(static_cast<char>('0' + y / 100 % 10));
    append_2(out, static_cast<unsigned>(y % 100));
    out.push_back('-');
    append_2(out, static_cast<unsigned>(ymd.month()));
    out.push_back('-');
    append_2(out, static_cast<unsigned>(ymd.day()));
    out.push_back('T');
    append_2(out, static_cast<unsigned>(hms.hours().count()));
    out.push_back(':');
    append_2(out, static_cast<unsigned>(hms.minutes().count()));
    out.push_back(':');
    append_2(out, static_cast<unsigned>(hms.seconds().count()));
    if (offset == minutes{0}) {
        out.push_back('Z');
        return;
    }
    const auto abs_offset = offset < minutes{0} ? -offset : offset;
    out.push_back(offset < minutes{0} ? '-' : '+');
    append_2(out, static_cast<unsigned>(abs_offset.count() / 60));
    out.push_back(':');
    append_2(out, static_cast<unsigned>(abs_offset.count() % 60));
}

std::string format_iso8601(Seconds utc, minutes offset) {
    std::string out;
    out.reserve(25);
    append_iso8601(out, utc, offset);
    return out;
}

std::optional<OffsetTime> parse_iso8601(std::string_view text) {
    std::size_t pos = 0;
    auto civil = read_date(text, pos);
    seconds tod{0};
    minutes offset{0};
    if (!civil || !expect(text, pos, 'T') || !read_clock(text, pos, false, tod) ||
        !read_zone(text, pos, offset) || pos != text.size()) {
        return std::nullopt;
    }
    return OffsetTime{civil->day + tod - offset, offset};
}

std::optional<Seconds> parse_query_time(std::string_view text, minutes default_offset) {
    std::size_t pos = 0;
    auto civil = read_date(text, pos);
    if (!civil) return std::nullopt;
    seconds tod{0};
    minutes offset = default_offset;
    if (pos < text.size() && (text[pos] == ' ' || text[pos] == 'T')) {
        ++pos;
        if (!read_clock(text, pos, true, tod)) return std::nullopt;
        if (pos < text.size() && !read_zone(text, pos, offset)) return std::nullopt;
    }
    if (pos != text.size()) return std::nullopt;
    return civil->day + tod - offset;
}

} // namespace flowgate
