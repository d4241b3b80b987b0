#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace flowgate::bus {

/// Where and how to reach Redis: `redis://[[user]:password@]host[:port][/db]`.
/// Reserved characters in the user or password are percent-encoded (`%40` for `@`).
struct RedisUrl {
    /// Host name, IPv4 or IPv6 address (without the brackets of the URL form).
    std::string host;
    /// Default 6379.
    std::uint16_t port = 6379;
    /// Database SELECTed after connecting; default 0 (no SELECT). Pub/sub ignores it.
    int db = 0;
    /// ACL user for `AUTH user password`; empty (the default user) sends `AUTH password`.
    std::string user;
    /// Empty: no AUTH. Never logged and never part of an error message.
    std::string password;

    /// Parses `url`. Throws std::invalid_argument naming what is wrong and the expected
    /// form; the message never quotes the password.
    static RedisUrl parse(std::string_view url);

    /// `redis://host:port/db` without credentials, for log lines and messages.
    std::string display() const;
};

} // namespace flowgate::bus
