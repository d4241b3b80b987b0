#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "flowgate/obs/logger.hpp"

namespace flowgate::storage {

using Micros = std::chrono::sys_time<std::chrono::microseconds>;

/// The parameters of `GET /api/nodes/{id}/readings`.
struct ReadingsQuery {
    static constexpr std::size_t default_limit = 1000;
    static constexpr std::size_t max_limit = 10'000;  ///< the hard cap on rows per answer
    static constexpr std::chrono::hours default_range{24};

    std::int64_t node_id = 0;
    std::string metric;
    Micros from;  ///< inclusive
    Micros to;    ///< exclusive
    std::size_t limit = default_limit;
    /// The last reading of the previous page (`after=<µs since the epoch>,<entry id>`,
    /// written by the answer's "next"); the page starts right after it.
    struct After {
        std::int64_t ts_us = 0;
        std::int64_t entry_id = 0;
    };
    std::optional<After> after;

    /// Reads a query string: `metric` (required), `from` and `to` (ISO-8601, UTC unless
    /// they carry an offset; `to` defaults to `now`, `from` to 24 h before `to`), `limit`
    /// (1..10000, default 1000), `after`. Percent-escapes are decoded; other parameters
    /// (`token`) are ignored. Returns what is wrong, for a 400, otherwise.
    static std::variant<ReadingsQuery, std::string> parse(std::int64_t node_id, std::string_view query,
                                                          std::chrono::system_clock::time_point now);
};

/// "2026-12-04T10:15:00Z", with ".ffffff" only when the time has a fraction.
std::string format_micros(Micros t);

struct HistoryOptions {
    /// libpq URL; may hold a password, which is never logged.
    std::string url;
    /// Connections, each with a thread of its own. Default 2.
    std::size_t connections = 2;
    /// PostgreSQL's statement_timeout for each query: a slower one is answered 503. Default 5s.
    std::chrono::milliseconds statement_timeout{5'000};
    /// Queries waiting for a connection; one more is answered 503 at once. Default 64.
    std::size_t queue_capacity = 64;
    std::chrono::seconds connect_timeout{5};
};

/// An HTTP answer: status and a JSON body (`{"error": …}` unless 200).
struct HistoryAnswer {
    unsigned status = 200;
    std::string body;
};

/// Answers the history API from PostgreSQL on a small pool of connections, off the event
/// loop. Each query runs in a read-only transaction; a connection that breaks is opened
/// again for the next query. Every method returns at once and calls `done` exactly once,
/// on a pool thread (or on the caller's, when the queue is full or the reader stopping).
/// Tenancy is the caller's: it asks only for communities and nodes the client may see.
class HistoryReader {
public:
    using Done = std::function<void(HistoryAnswer)>;

    HistoryReader(HistoryOptions options, obs::Logger log);
    /// Answers what is still queued with 503 and joins the threads (a query running is
    /// waited for, up to its statement_timeout).
    ~HistoryReader();
    HistoryReader(const HistoryReader&) = delete;
    HistoryReader& operator=(const HistoryReader&) = delete;

    /// `{"communities":[{"id","name","nodes"}]}`, of those in `allowed` (all when nullopt).
    void communities(std::optional<std::vector<std::int64_t>> allowed, Done done);
    /// `{"community_id","nodes":[{"id","name","category","enabled","status","last_seen",
    /// "metrics":[{"metric","unit","ts","value","min","max"}]}]}`: each node with its health
    /// and the last reading of each mapped metric (ts and value null before the first; min
    /// and max the mapping's valid range, null when open).
    void nodes(std::int64_t community_id, Done done);
    /// `{"node_id","metric","unit","from","to","limit","readings":[{"ts","value"}],"next"}`
    /// in time order; "next" is the path of the following page, or null on the last.
    void readings(ReadingsQuery query, Done done);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace flowgate::storage
