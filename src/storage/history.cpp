#include "flowgate/storage/history.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "flowgate/core/time_format.hpp"
#include "pg_support.hpp"

namespace flowgate::storage {
namespace {

using nlohmann::json;

// Times travel as microseconds since the epoch, so that nothing is lost to a float or a
// textual time zone on the way in or out.
std::string micros_of(std::string_view column) {
    return "(extract(epoch FROM " + std::string{column} + ") * 1000000)::bigint";
}

std::string at_micros(int parameter) {
    return "('epoch'::timestamptz + $" + std::to_string(parameter) + " * interval '1 microsecond')";
}

std::string error_body(std::string_view error) { return json{{"error", error}}.dump(); }

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// %XX decoded; nullopt for a broken escape. '+' stays '+' (RFC 3986 query, not a form).
std::optional<std::string> percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size() || hex_digit(text[i + 1]) < 0 || hex_digit(text[i + 2]) < 0) return std::nullopt;
        out += static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2]));
        i += 2;
    }
    return out;
}

/// An ISO-8601 time, as parse_query_time reads it (UTC unless it has an offset), with an
/// optional fraction of a second after the seconds ("…T10:15:00.250Z", as JavaScript writes).
std::optional<Micros> parse_time(std::string text) {
    std::chrono::microseconds fraction{0};
    if (const auto dot = text.find('.'); dot != std::string::npos) {
        auto end = dot + 1;
        std::int64_t scale = 100'000;
        while (end < text.size() && text[end] >= '0' && text[end] <= '9') {
            fraction += std::chrono::microseconds{(text[end] - '0') * scale};
            scale /= 10;
            ++end;
        }
        if (end == dot + 1) return std::nullopt;
        text.erase(dot, end - dot);
    }
    const auto seconds = parse_query_time(text, std::chrono::minutes{0});
    if (!seconds) return std::nullopt;
    return Micros{*seconds} + fraction;
}

bool parse_int(std::string_view text, std::int64_t& value) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return !text.empty() && ec == std::errc{} && end == text.data() + text.size();
}

json time_or_null(const pqxx::field& micros) {
    if (micros.is_null()) return nullptr;
    return format_micros(Micros{std::chrono::microseconds{micros.as<std::int64_t>()}});
}

json value_of(const pqxx::field& value, const pqxx::field& text) {
    if (!value.is_null()) return value.as<double>();
    if (!text.is_null()) return text.as<std::string>();
    return nullptr;
}

json number_or_null(const pqxx::field& number) { return number.is_null() ? json(nullptr) : json(number.as<double>()); }

json unit_of(const pqxx::field& unit) { return unit.is_null() ? json(nullptr) : json(unit.as<std::string>()); }

/// `text` with everything but RFC 3986's unreserved characters percent-escaped.
std::string percent_encode(std::string_view text) {
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            constexpr char hex[] = "0123456789ABCDEF";
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out;
}

} // namespace

std::string format_micros(Micros t) {
    const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
    auto text = format_iso8601(seconds);
    if (const auto fraction = (t - seconds).count(); fraction != 0) {
        char digits[8];
        std::snprintf(digits, sizeof digits, ".%06lld", static_cast<long long>(fraction));
        text.insert(text.size() - 1, digits);  // before the 'Z'
    }
    return text;
}

std::variant<ReadingsQuery, std::string> ReadingsQuery::parse(std::int64_t node_id, std::string_view query,
                                                              std::chrono::system_clock::time_point now) {
    ReadingsQuery q;
    q.node_id = node_id;
    std::optional<std::string> metric, from, to, limit, after;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto parameter = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        const auto equals = parameter.find('=');
        const auto name = parameter.substr(0, equals);
        auto value = percent_decode(equals == std::string_view::npos ? std::string_view{} : parameter.substr(equals + 1));
        std::optional<std::string>* slot = name == "metric" ? &metric
                                           : name == "from" ? &from
                                           : name == "to"   ? &to
                                           : name == "limit" ? &limit
                                           : name == "after" ? &after
                                                             : nullptr;
        if (slot == nullptr) continue;
        if (!value) return "bad percent-escape in " + std::string{name};
        *slot = std::move(value);
    }
    if (!metric || metric->empty()) return std::string{"metric is required: ?metric=<canonical name>"};
    q.metric = std::move(*metric);
    q.to = std::chrono::time_point_cast<std::chrono::microseconds>(now);
    if (to) {
        const auto t = parse_time(*to);
        if (!t) return "to must be an ISO-8601 time such as 2026-12-04T10:00:00Z, not '" + *to + "'";
        q.to = *t;
    }
    q.from = q.to - default_range;
    if (from) {
        const auto t = parse_time(*from);
        if (!t) return "from must be an ISO-8601 time such as 2026-12-03T10:00:00Z, not '" + *from + "'";
        q.from = *t;
    }
    if (q.from > q.to) return std::string{"from must not be after to"};
    if (limit) {
        std::int64_t n = 0;
        if (!parse_int(*limit, n) || n < 1 || n > static_cast<std::int64_t>(max_limit)) {
            return "limit must be 1.." + std::to_string(max_limit) + ", not '" + *limit + "'";
        }
        q.limit = static_cast<std::size_t>(n);
    }
    if (after) {
        const auto comma = after->find(',');
        After a;
        if (comma == std::string::npos || !parse_int(std::string_view{*after}.substr(0, comma), a.ts_us) ||
            !parse_int(std::string_view{*after}.substr(comma + 1), a.entry_id)) {
            return std::string{"after must be the cursor from the previous answer's next"};
        }
        q.after = a;
    }
    return q;
}

struct HistoryReader::Impl {
    using Query = std::function<HistoryAnswer(pqxx::transaction_base&)>;
    struct Job {
        Query query;
        Done done;
    };

    Impl(HistoryOptions o, obs::Logger l)
        : options{std::move(o)}, url{detail::with_connect_timeout(options.url, options.connect_timeout)}, log{std::move(l)} {}

    void submit(Query query, Done done) {
        {
            std::lock_guard lock{mutex};
            if (!stopping && jobs.size() < options.queue_capacity) {
                jobs.push_back({std::move(query), std::move(done)});
                wake.notify_one();
                return;
            }
        }
        done({503, error_body("too many history queries at once: try again shortly")});
    }

    /// One pool thread's connection, opened when a query needs it.
    struct Session {
        std::unique_ptr<pqxx::connection> connection;
        std::unique_ptr<detail::NoticeLogger> notices;  // refers to connection: dropped first

        void drop() {
            notices.reset();
            connection.reset();
        }
    };

    /// The answer to a query that threw; drops the session's connection when it is gone.
    HistoryAnswer failed(const std::exception& e, Session& session) {
        if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e); sql && sql->sqlstate() == "57014") {
            // query_canceled: it ran into the statement_timeout.
            return {503, error_body("the query took longer than " + std::to_string(options.statement_timeout.count()) +
                                    " ms: ask for a shorter range or a smaller limit")};
        }
        const bool lost = detail::classify(e) == detail::PgFailure::connection || !session.connection ||
                          !session.connection->is_open();
        // A lost connection is logged once per outage; any other failure every time.
        if (!failing.exchange(true) || !lost) {
            log.error("history query failed", {{"error", detail::pg_message(e)}, {"reconnect", lost}});
        }
        if (!lost) return {500, error_body("the history query failed")};
        session.drop();
        return {503, error_body("the database is unavailable: try again shortly")};
    }

    void run() {
        Session session;
        for (;;) {
            Job job;
            {
                std::unique_lock lock{mutex};
                wake.wait(lock, [&] { return stopping || !jobs.empty(); });
                if (stopping) return;
                job = std::move(jobs.front());
                jobs.pop_front();
            }
            HistoryAnswer answer;
            try {
                if (!session.connection) {
                    session.connection = std::make_unique<pqxx::connection>(url);
                    session.notices = std::make_unique<detail::NoticeLogger>(*session.connection, log);
                    pqxx::nontransaction setup{*session.connection};
                    setup.exec("SET statement_timeout = " + std::to_string(options.statement_timeout.count()));
                }
                pqxx::read_transaction txn{*session.connection};
                answer = job.query(txn);
                if (failing.exchange(false)) log.info("history queries work again");
            } catch (const std::exception& e) {
                answer = failed(e, session);
            }
            job.done(std::move(answer));
        }
    }

    HistoryOptions options;
    std::string url;
    obs::Logger log;
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Job> jobs;
    bool stopping = false;
    std::atomic<bool> failing{false};  // by any thread: logged once per outage, not per query
    std::vector<std::thread> threads;
};

HistoryReader::HistoryReader(HistoryOptions options, obs::Logger log)
    : impl_{std::make_unique<Impl>(std::move(options), std::move(log))} {
    for (std::size_t i = 0; i < std::max<std::size_t>(impl_->options.connections, 1); ++i) {
        impl_->threads.emplace_back([impl = impl_.get()] { impl->run(); });
    }
}

HistoryReader::~HistoryReader() {
    std::deque<Impl::Job> left;
    {
        std::lock_guard lock{impl_->mutex};
        impl_->stopping = true;
        left.swap(impl_->jobs);
    }
    impl_->wake.notify_all();
    for (auto& thread : impl_->threads) thread.join();
    for (auto& job : left) job.done({503, error_body("shutting down")});
}

void HistoryReader::communities(std::optional<std::vector<std::int64_t>> allowed, Done done) {
    impl_->submit(
        [allowed = std::move(allowed)](pqxx::transaction_base& txn) {
            // NULL: every community; otherwise an array literal of the allowed ids.
            std::optional<std::string> ids;
            if (allowed) {
                ids = "{";
                for (const auto id : *allowed) ids->append(ids->size() > 1 ? "," : "").append(std::to_string(id));
                *ids += '}';
            }
            const auto rows = txn.exec_params(
                "SELECT c.id, c.name, count(n.id) FROM communities c LEFT JOIN nodes n ON n.community_id = c.id "
                "WHERE $1::bigint[] IS NULL OR c.id = ANY ($1::bigint[]) GROUP BY c.id ORDER BY c.id",
                ids);
            json list = json::array();
            for (const auto& row : rows) {
                list.push_back({{"id", row[0].as<std::int64_t>()}, {"name", row[1].as<std::string>()},
                                {"nodes", row[2].as<std::int64_t>()}});
            }
            return HistoryAnswer{200, json{{"communities", std::move(list)}}.dump()};
        },
        std::move(done));
}

void HistoryReader::nodes(std::int64_t community_id, Done done) {
    impl_->submit(
        [community_id](pqxx::transaction_base& txn) {
            const auto nodes = txn.exec_params(
                "SELECT n.id, n.name, n.category, n.enabled, coalesce(s.status, 'unknown'), " + micros_of("s.last_seen") +
                    " FROM nodes n LEFT JOIN node_operational_state s ON s.device_id = n.id"
                    " WHERE n.community_id = $1 ORDER BY n.id",
                community_id);
            // The last reading of each mapped metric: one backward step on the primary key each.
            const auto metrics = txn.exec_params(
                "SELECT f.device_id, f.canonical_name, f.unit, " + micros_of("r.ts") +
                    ", r.value, r.value_text, f.min_valid, f.max_valid FROM nodes n JOIN thingspeak_field_mappings f ON f.device_id = n.id"
                    " LEFT JOIN LATERAL (SELECT ts, value, value_text FROM telemetry_readings t"
                    "   WHERE t.device_id = f.device_id AND t.metric = f.canonical_name"
                    "   ORDER BY ts DESC, entry_id DESC LIMIT 1) r ON true"
                    " WHERE n.community_id = $1 ORDER BY f.device_id, f.thingspeak_field",
                community_id);
            json list = json::array();
            auto metric = metrics.begin();
            for (const auto& node : nodes) {
                const auto id = node[0].as<std::int64_t>();
                json of_node = json::array();
                for (; metric != metrics.end() && metric[0].as<std::int64_t>() == id; ++metric) {
                    of_node.push_back({{"metric", metric[1].as<std::string>()},
                                       {"unit", unit_of(metric[2])},
                                       {"ts", time_or_null(metric[3])},
                                       {"value", value_of(metric[4], metric[5])},
                                       {"min", number_or_null(metric[6])},
                                       {"max", number_or_null(metric[7])}});
                }
                list.push_back({{"id", id},
                                {"name", node[1].as<std::string>()},
                                {"category", node[2].as<std::string>()},
                                {"enabled", node[3].as<bool>()},
                                {"status", node[4].as<std::string>()},
                                {"last_seen", time_or_null(node[5])},
                                {"metrics", std::move(of_node)}});
            }
            return HistoryAnswer{200, json{{"community_id", community_id}, {"nodes", std::move(list)}}.dump()};
        },
        std::move(done));
}

void HistoryReader::readings(ReadingsQuery query, Done done) {
    impl_->submit(
        [q = std::move(query)](pqxx::transaction_base& txn) {
            json unit = nullptr;
            std::vector<std::string> known;
            bool mapped = false;
            for (const auto& row : txn.exec_params("SELECT canonical_name, unit FROM thingspeak_field_mappings"
                                                   " WHERE device_id = $1 ORDER BY thingspeak_field",
                                                   q.node_id)) {
                known.push_back(row[0].as<std::string>());
                if (known.back() == q.metric) {
                    mapped = true;
                    unit = unit_of(row[1]);
                }
            }
            // A node without mappings (MQTT) may have any metric.
            if (!known.empty() && !mapped) {
                std::string error = "node " + std::to_string(q.node_id) + " has no metric '" + q.metric + "'; it has";
                for (const auto& name : known) error += (&name == &known.front() ? " " : ", ") + name;
                return HistoryAnswer{404, error_body(error)};
            }
            const auto from_us = q.from.time_since_epoch().count();
            const auto to_us = q.to.time_since_epoch().count();
            // Ordered like the primary key (device_id, metric, ts, entry_id): one range scan
            // of the index, stopped after limit + 1 rows (the extra one says a page follows).
            std::string sql = "SELECT " + micros_of("ts") +
                              ", entry_id, value, value_text FROM telemetry_readings"
                              " WHERE device_id = $1 AND metric = $2 AND ts >= " + at_micros(3) + " AND ts < " + at_micros(4);
            const auto limit = static_cast<std::int64_t>(q.limit) + 1;
            const auto rows = q.after ? txn.exec_params(sql + " AND (ts, entry_id) > (" + at_micros(6) + ", $7)"
                                                              " ORDER BY ts, entry_id LIMIT $5",
                                                        q.node_id, q.metric, from_us, to_us, limit, q.after->ts_us,
                                                        q.after->entry_id)
                                      : txn.exec_params(sql + " ORDER BY ts, entry_id LIMIT $5", q.node_id, q.metric,
                                                        from_us, to_us, limit);
            json readings = json::array();
            const auto shown = std::min<std::size_t>(rows.size(), q.limit);
            for (std::size_t i = 0; i < shown; ++i) {
                readings.push_back({{"ts", time_or_null(rows[i][0])}, {"value", value_of(rows[i][2], rows[i][3])}});
            }
            json next = nullptr;
            if (rows.size() > q.limit) {
                const auto& last = rows[q.limit - 1];
                next = "/api/nodes/" + std::to_string(q.node_id) + "/readings?metric=" + percent_encode(q.metric) +
                       "&from=" + percent_encode(format_micros(q.from)) + "&to=" + percent_encode(format_micros(q.to)) +
                       "&limit=" + std::to_string(q.limit) + "&after=" + last[0].as<std::string>() + "," +
                       last[1].as<std::string>();
            }
            return HistoryAnswer{200, json{{"node_id", q.node_id},
                                           {"metric", q.metric},
                                           {"unit", std::move(unit)},
                                           {"from", format_micros(q.from)},
                                           {"to", format_micros(q.to)},
                                           {"limit", q.limit},
                                           {"readings", std::move(readings)},
                                           {"next", std::move(next)}}
                                          .dump()};
        },
        std::move(done));
}

} // namespace flowgate::storage
