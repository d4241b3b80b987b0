#include "pg_support.hpp"

#include <algorithm>

namespace flowgate::storage::detail {
namespace {

std::string_view trim_right(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

} // namespace

PgFailure classify(const std::exception& error) {
    if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr ||
        dynamic_cast<const pqxx::in_doubt_error*>(&error) != nullptr) {
        return PgFailure::connection;
    }
    if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error)) {
        const std::string& state = sql->sqlstate();
        if (state.starts_with("22") || state.starts_with("23")) return PgFailure::data;
        // Class 08 is "connection exception"; 57P01..57P03 mean the server is shutting down
        // or starting: the connection will not recover either way.
        if (state.starts_with("08") || state.starts_with("57P")) return PgFailure::connection;
    }
    return PgFailure::other;
}

std::string pg_message(const std::exception& error, bool one_line) {
    std::string text{trim_right(error.what())};
    if (!one_line) return text;
    std::string out;
    out.reserve(text.size());
    bool in_space = false;
    for (char c : text) {
        const bool space = c == '\n' || c == '\t' || c == ' ' || c == '\r';
        if (space) {
            in_space = true;
            continue;
        }
        if (in_space && !out.empty()) out += ' ';
        in_space = false;
        out += c;
    }
    return out;
}

std::string with_connect_timeout(std::string url, std::chrono::seconds timeout) {
    if (url.find("connect_timeout") != std::string::npos) return url;
    const std::string setting = "connect_timeout=" + std::to_string(std::max<long long>(timeout.count(), 1));
    const bool is_uri = url.starts_with("postgresql://") || url.starts_with("postgres://");
    if (!is_uri) return url.empty() ? setting : url + " " + setting;
    url += url.find('?') == std::string::npos ? '?' : '&';
    return url + setting;
}

NoticeLogger::NoticeLogger(pqxx::connection_base& connection, obs::Logger logger)
    : pqxx::errorhandler{connection}, logger_{std::move(logger)} {}

bool NoticeLogger::operator()(const char message[]) noexcept {
    try {
        logger_.warn("PostgreSQL notice", {{"notice", std::string_view{trim_right(message)}}});
    } catch (...) {
        // A notice that cannot be logged is not worth failing a database call for.
    }
    return false;  // handled: do not also print it to stderr
}

} // namespace flowgate::storage::detail
