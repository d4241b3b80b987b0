#include "flowgate/bus/redis_url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace flowgate::bus {
namespace {

constexpr std::string_view expected_form = "redis://[[user]:password@]host[:port][/db]";

[[noreturn]] void fail(const std::string& problem) {
    throw std::invalid_argument{"invalid Redis URL: " + problem + " (expected " + std::string{expected_form} + ")"};
}

std::string lower(std::string_view s) {
    std::string out{s};
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// `what` names the part in the error message; the value itself is never quoted, since it
// may be the password.
std::string percent_decode(std::string_view s, std::string_view what) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        const int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
        const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) fail("the " + std::string{what} + " has a '%' not followed by two hex digits");
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

bool valid_host_name(std::string_view host) {
    return std::all_of(host.begin(), host.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '-' || c == '_';
    });
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

} // namespace

RedisUrl RedisUrl::parse(std::string_view url) {
    RedisUrl out;
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) fail("no scheme; it must start with redis://");
    const auto scheme = lower(url.substr(0, scheme_end));
    if (scheme == "rediss") fail("TLS (rediss://) is not supported");
    if (scheme != "redis") fail("unsupported scheme '" + scheme + "://'");
    auto rest = url.substr(scheme_end + 3);

    // The last '@' ends the credentials, so an unencoded '@', '/' or '?' inside the
    // password is still taken as part of it.
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
        const auto userinfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
        const auto colon = userinfo.find(':');
        if (colon == std::string_view::npos) {
            fail("credentials must be written ':password@' or 'user:password@'");
        }
        out.user = percent_decode(userinfo.substr(0, colon), "user");
        out.password = percent_decode(userinfo.substr(colon + 1), "password");
        if (out.password.empty()) fail("the password is empty");
    }
    if (rest.find_first_of("?#") != std::string_view::npos) fail("query parameters and fragments are not supported");

    const auto slash = rest.find('/');
    const auto authority = rest.substr(0, slash);
    const auto path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);

    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) fail("the IPv6 address has no closing ']'");
        out.host = std::string{authority.substr(1, close - 1)};
        const auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') fail("unexpected text after the IPv6 address");
            port_text = after.substr(1);
            if (port_text.empty()) fail("the port is empty");
        }
        if (out.host.empty() || out.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) {
            fail("'" + out.host + "' is not an IPv6 address");
        }
    } else {
        const auto colon = authority.find(':');
        out.host = std::string{authority.substr(0, colon)};
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
            if (port_text.find(':') != std::string_view::npos) fail("an IPv6 address must be written in brackets: [::1]");
            if (port_text.empty()) fail("the port is empty");
        }
        if (out.host.empty()) fail("the host is missing");
        if (!valid_host_name(out.host)) fail("'" + out.host + "' is not a valid host name");
    }

    if (!port_text.empty()) {
        unsigned port = 0;
        const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (!all_digits(port_text) || ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
            port > 65535) {
            fail("the port '" + std::string{port_text} + "' is not a number from 1 to 65535");
        }
        out.port = static_cast<std::uint16_t>(port);
    }

    if (!path.empty()) {
        int db = 0;
        const auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), db);
        if (!all_digits(path) || ec != std::errc{} || end != path.data() + path.size()) {
            fail("the database '/" + std::string{path} + "' is not a number");
        }
        out.db = db;
    }
    return out;
}

std::string RedisUrl::display() const {
    std::string out = "redis://";
    if (host.find(':') != std::string::npos) {
        out += '[' + host + ']';
    } else {
        out += host;
    }
    out += ':' + std::to_string(port);
    if (db != 0) out += '/' + std::to_string(db);
    return out;
}

} // namespace flowgate::bus
