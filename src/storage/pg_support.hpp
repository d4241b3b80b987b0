#pragma once

// Private helpers shared by the parts of flowgate_storage that talk to PostgreSQL.

#include <chrono>
#include <exception>
#include <string>
#include <string_view>

#include <pqxx/pqxx>

#include "flowgate/obs/logger.hpp"

namespace flowgate::storage::detail {

/// What a failed database call says about retrying it.
enum class PgFailure {
    connection,  ///< the connection is gone or its state unknown: reconnect, retry everything
    data,        ///< the rows themselves are bad (SQLSTATE class 22 or 23): retrying won't help
    other,       ///< anything else (missing table, timeout, deadlock, server busy): retry later
};

PgFailure classify(const std::exception& error);

/// The server's message without the trailing newline; `one_line` also folds the LINE/caret
/// context PostgreSQL appends into one line, for log fields.
std::string pg_message(const std::exception& error, bool one_line = true);

/// `url` with libpq's connect_timeout set, unless it already sets one: without it, connecting
/// to an unreachable host blocks for the kernel's TCP timeout (minutes).
std::string with_connect_timeout(std::string url, std::chrono::seconds timeout);

/// Routes the server's notices and warnings on one connection to a logger instead of
/// libpqxx's default, which writes them to stderr and would break JSON log lines.
class NoticeLogger final : public pqxx::errorhandler {
public:
    NoticeLogger(pqxx::connection_base& connection, obs::Logger logger);
    bool operator()(const char message[]) noexcept override;

private:
    obs::Logger logger_;
};

} // namespace flowgate::storage::detail
