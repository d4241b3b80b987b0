// flowgate as an operator runs it: the daemon process polling flowgate-sim, storing in a real
// PostgreSQL, publishing through a real Redis, and a WebSocket client (flowgate-ws-cat).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "child_process.hpp"
#include "flowgate/core/time_format.hpp"
#include "http_client.hpp"
#include "storage_test_support.hpp"

using namespace std::chrono_literals;
using flowgate::test::ChildProcess;
using flowgate::test::HttpClient;
using flowgate::test::TempDir;
using nlohmann::json;

namespace {

constexpr int poll_interval_s = 2;
// The stream token secret of every daemon here; the tests look for it in the logs.
const std::string secret = "e2e-secret-5f0c9a7e3b2d41c6a8e9f7b3c1d2e4a6";

std::string env_or_fail(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) throw std::runtime_error{std::string{name} + " is not set: run through ./scripts/test, which starts the services"};
    return v;
}

std::vector<json> json_lines(const std::string& text) {
    std::vector<json> out;
    std::istringstream in{text};
    for (std::string line; std::getline(in, line);) {
        auto j = json::parse(line, nullptr, false);
        if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(100ms);
    }
    return pred();
}

/// One whole installation: its own database, its own simulator, the daemon.
class Flowgate : public ::testing::Test {
protected:
    void SetUp() override {
        db_ = std::make_unique<flowgate::test::TestDatabase>(env_or_fail("FLOWGATE_DATABASE_URL"));
        // The e2e tests run one at a time (RESOURCE_LOCK) and publish the same demo entries:
        // each starts from an empty Redis database of its own, so that no earlier test's seqs
        // or dedupe records are seen. (Pub/sub channels are shared across databases; the
        // other tests' topics have names of their own.)
        redis_url_ = env_or_fail("FLOWGATE_REDIS_URL") + "/9";
        ChildProcess flush{"/usr/bin/redis-cli", {"-u", redis_url_, "FLUSHDB"}, dir_.path() / "flush.log"};
        ASSERT_EQ(flush.wait(10s), 0) << flush.output();

        sim_ = std::make_unique<ChildProcess>(
            FLOWGATE_SIM_BINARY,
            std::vector<std::string>{"--config", std::string{FLOWGATE_SOURCE_DIR} + "/config/sim-demo.toml", "--listen",
                                     "127.0.0.1:0", "--port-file", path("sim.port"), "--speed", "30", "--log-level", "debug",
                                     "--log-format", "json"},
            dir_.path() / "sim.log");
        sim_port_ = flowgate::test::wait_for_port_file(dir_.path() / "sim.port", 10s);

        std::ofstream{dir_.path() / "flowgate.toml"} << "[log]\nlevel = \"debug\"\nformat = \"json\"\n"
                                                     << "[thingspeak]\nbase_url = \"http://127.0.0.1:" << sim_port_
                                                     << "\"\nrequest_timeout = \"3s\"\n"
                                                     // The recent past, not the simulator's whole day.
                                                     << "history = \"2h\"\n"
                                                     // 8 devices every 2 s; the outage test shortens the breaker.
                                                     << "budget_per_minute = 6000\nbreaker_failures = 3\n"
                                                     << "breaker_cool_down = \"2s\"\nbreaker_max_cool_down = \"4s\"\n"
                                                     << "[database]\nbatch_interval = \"50ms\"\n"
                                                     << "[http]\nlisten = \"127.0.0.1:0\"\n"
                                                     // The Chromium test's page comes from the simulator.
                                                     << "origins = [\"http://127.0.0.1:" << sim_port_ << "\"]\n";
        ChildProcess migrate{FLOWGATE_BINARY, {"migrate", "--config", path("flowgate.toml")}, dir_.path() / "migrate.log", env()};
        ASSERT_EQ(migrate.wait(30s), 0) << migrate.output();
        ChildProcess load{"/usr/bin/psql",
                          {db_->url(), "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f", std::string{FLOWGATE_SOURCE_DIR} + "/config/demo-devices.sql"},
                          dir_.path() / "load.log"};
        ASSERT_EQ(load.wait(30s), 0) << load.output();
        db_->exec("UPDATE nodes SET polling_interval_s = " + std::to_string(poll_interval_s));
        token_ = issue_token("1");
    }

    /// A stream token from `flowgate token issue` for these communities ("1,3").
    std::string issue_token(const std::string& communities, const std::string& ttl = "1h") {
        ChildProcess issue{FLOWGATE_BINARY, {"token", "issue", "--communities", communities, "--ttl", ttl},
                           dir_.path() / "token.out", env()};
        EXPECT_EQ(issue.wait(10s), 0) << issue.output();
        std::istringstream lines{issue.output()};
        for (std::string line; std::getline(lines, line);) {
            if (line.starts_with("eyJ")) return tokens_.emplace_back(line);
        }
        ADD_FAILURE() << "no token in: " << issue.output();
        return {};
    }

    void TearDown() override {
        for (auto* p : {daemon_.get(), sim_.get()}) {
            if (p) p->stop(SIGKILL, 5s);
        }
        if (HasFailure() && daemon_) std::cerr << "--- daemon log (tail) ---\n" << tail(daemon_->output()) << '\n';
        // Whatever the test did, no secret and no token reached a log line.
        for (const auto& file : std::filesystem::directory_iterator{dir_.path()}) {
            if (!file.path().filename().string().starts_with("daemon")) continue;
            const std::string log{std::istreambuf_iterator<char>{std::ifstream{file.path()}.rdbuf()}, {}};
            EXPECT_EQ(log.find(secret), std::string::npos) << "the token secret is in " << file.path();
            for (const auto& token : tokens_) EXPECT_EQ(log.find(token), std::string::npos) << "a token is in " << file.path();
        }
    }

    static std::string tail(const std::string& s) { return s.size() > 6000 ? s.substr(s.size() - 6000) : s; }

    std::string path(const std::string& name) const { return (dir_.path() / name).string(); }

    std::map<std::string, std::string> env() const {
        return {{"FLOWGATE_DATABASE_URL", db_->url()}, {"FLOWGATE_REDIS_URL", redis_url_}, {"FLOWGATE_AUTH_SECRETS", secret}};
    }

    void sql(const std::string& statement) { db_->exec(statement); }
    pqxx::result query(const std::string& q) { return db_->query(q); }

    void start_daemon() { daemon_ = start_instance(port_); }

    /// Another daemon process of this installation; `port` gets its HTTP port.
    std::unique_ptr<ChildProcess> start_instance(unsigned short& port, const std::map<std::string, std::string>& more_env = {}) {
        const auto run = std::to_string(++daemon_runs_);
        const auto port_file = dir_.path() / ("daemon" + run + ".port");
        auto environment = env();
        environment.insert(more_env.begin(), more_env.end());
        auto daemon = std::make_unique<ChildProcess>(
            FLOWGATE_BINARY, std::vector<std::string>{"run", "--config", path("flowgate.toml"), "--port-file", port_file.string()},
            dir_.path() / ("daemon" + run + ".log"), environment);
        port = flowgate::test::wait_for_port_file(port_file, 20s);
        return daemon;
    }

    /// A WebSocket client printing every message of `stream` ("community/1/updates"), with
    /// a token for community 1 unless `token` says otherwise.
    std::unique_ptr<ChildProcess> watch(const std::string& stream, const std::string& name, unsigned short port = 0,
                                        int timeout_s = 60, std::vector<std::string> options = {},
                                        std::optional<std::string> token = std::nullopt) {
        std::vector<std::string> args{"ws://127.0.0.1:" + std::to_string(port == 0 ? port_ : port) + "/ws/" + stream,
                                      "--timeout", std::to_string(timeout_s)};
        args.insert(args.end(), options.begin(), options.end());
        return std::make_unique<ChildProcess>(FLOWGATE_WS_CAT_BINARY, args, dir_.path() / name,
                                              std::map<std::string, std::string>{{"FLOWGATE_TOKEN", token.value_or(token_)}});
    }

    /// Makes this installation's database unreachable (or reachable again) for everyone but
    /// the test: an outage of PostgreSQL as the daemon sees it, without stopping the server
    /// that the other tests share.
    void set_database_reachable(bool reachable) {
        if (db_name_.empty()) db_name_ = query("SELECT current_database()")[0][0].as<std::string>();
        const auto& name = db_name_;
        // From the server's main database: this one refuses connections meanwhile.
        pqxx::connection admin{env_or_fail("FLOWGATE_DATABASE_URL")};
        pqxx::nontransaction txn{admin};
        txn.exec("ALTER DATABASE " + txn.quote_name(name) + " ALLOW_CONNECTIONS " + (reachable ? "true" : "false"));
        if (!reachable) {
            txn.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = " + txn.quote(name));
        }
    }

    /// Requests the simulator answered since the last call (it resets the counts).
    json sim_requests() {
        auto res = HttpClient{"127.0.0.1", sim_port_}.get("/_sim/stats");
        EXPECT_EQ(res.status, 200u) << res.body;
        EXPECT_EQ(HttpClient("127.0.0.1", sim_port_).request("POST", "/_sim/stats", "{}").status, 200u);
        return json::parse(res.body);
    }

    void sim_control(const std::string& target, const std::string& body) {
        auto res = HttpClient{"127.0.0.1", sim_port_}.request("POST", target, body);
        ASSERT_EQ(res.status, 200u) << res.body;
    }

    json sim_entry(std::int64_t channel, std::int64_t entry_id, const std::string& key) {
        auto target = "/channels/" + std::to_string(channel) + "/feeds/" + std::to_string(entry_id) + ".json";
        if (!key.empty()) target += "?api_key=" + key;
        return json::parse(HttpClient{"127.0.0.1", sim_port_}.get(target).body);
    }

    /// "" when every clean node (no bad values, no skewed clocks: 1, 3, 5, 6, 8) has at least
    /// `at_least` entries stored, none missing between its first and last, each with one
    /// reading per mapped field and none twice; else what is wrong with the first that is not.
    std::string clean_nodes_problem(long at_least = 0) {
        for (int node : {1, 3, 5, 6, 8}) {
            const auto r = query("SELECT count(DISTINCT entry_id), max(entry_id) - min(entry_id) + 1, count(*), "
                                 "(SELECT count(*) FROM thingspeak_field_mappings WHERE device_id = " + std::to_string(node) +
                                 ") FROM telemetry_readings WHERE device_id = " + std::to_string(node))[0];
            const auto entries = r[0].as<long>(), range = r[1].is_null() ? 0 : r[1].as<long>();
            const auto at = "node " + std::to_string(node) + ": ";
            if (entries < at_least) return at + std::to_string(entries) + " entries stored, fewer than " + std::to_string(at_least);
            if (entries != range) return at + std::to_string(entries) + " entries stored of a range of " + std::to_string(range);
            if (r[2].as<long>() != entries * r[3].as<long>()) return at + r[2].c_str() + " readings for " + r[0].c_str() + " entries";
        }
        return "";
    }

    /// Devices with an alert of `kind` (any, open or resolved; 0 for a whole source's).
    std::set<int> alerts_of_kind(const std::string& kind) {
        std::set<int> out;
        for (const auto& row : query("SELECT coalesce(device_id, 0) FROM alerts WHERE kind = '" + kind + "'")) {
            out.insert(row[0].as<int>());
        }
        return out;
    }

    /// Events of `type` ("NODE_STATUS", "ALERT") in a watch()'s output.
    static std::vector<json> events(const ChildProcess& client, const std::string& type) {
        std::vector<json> out;
        for (auto& u : json_lines(client.output())) {
            if (u["type"] == type) out.push_back(std::move(u));
        }
        return out;
    }

    /// "node 1: 431 entries 1939001..1939431, …" for the clean nodes, for the test's output.
    std::string clean_nodes_counts() {
        std::string out;
        for (int node : {1, 3, 5, 6, 8}) {
            const auto r = query("SELECT count(DISTINCT entry_id), min(entry_id), max(entry_id) FROM telemetry_readings "
                                 "WHERE device_id = " + std::to_string(node))[0];
            out += (out.empty() ? "" : ", ") + std::string{"node "} + std::to_string(node) + ": " + r[0].c_str() +
                   " entries " + r[1].c_str() + ".." + r[2].c_str();
        }
        return out;
    }

    TempDir dir_;
    std::unique_ptr<flowgate::test::TestDatabase> db_;
    std::string redis_url_;
    std::string token_;  // for community 1, the demo's
    std::vector<std::string> tokens_;  // every token issued, to look for in the logs
    std::unique_ptr<ChildProcess> sim_, daemon_;
    unsigned short sim_port_ = 0, port_ = 0;
    int daemon_runs_ = 0;
    std::string db_name_;
};

struct Mapping {
    int field;
    std::string metric, type;
    double scale, offset;
};

} // namespace

TEST_F(Flowgate, EveryDemoDeviceStreamsItsCalibratedEntriesWithinThreePolls) {
    start_daemon();
    auto client = watch("community/1/updates", "community.out");
    std::set<int> nodes;
    std::vector<json> updates;
    ASSERT_TRUE(eventually(
        [&] {
            updates = json_lines(client->output());
            nodes.clear();
            for (const auto& u : updates) {
                if (u["type"] == "TELEMETRY_UPDATE") nodes.insert(u["node_id"].get<int>());
            }
            return nodes.size() == 8;
        },
        std::chrono::seconds{3 * poll_interval_s + 10}))
        << "nodes seen: " << nodes.size() << "\n" << client->output();

    // Each value equals the simulator's entry after the mapping's calibration.
    std::map<int, std::pair<std::int64_t, std::string>> channels;
    for (const auto& row : query("SELECT device_id, channel_id, coalesce(read_api_key, '') FROM device_thingspeak_mapping")) {
        channels[row[0].as<int>()] = {row[1].as<std::int64_t>(), row[2].as<std::string>()};
    }
    std::map<int, std::vector<Mapping>> mappings;
    for (const auto& row : query("SELECT device_id, thingspeak_field, canonical_name, data_type, scale_factor, \"offset\" "
                                 "FROM thingspeak_field_mappings")) {
        mappings[row[0].as<int>()].push_back(
            {row[1].as<int>(), row[2].as<std::string>(), row[3].as<std::string>(), row[4].as<double>(), row[5].as<double>()});
    }
    int values_checked = 0;
    std::set<int> checked_nodes;
    for (const auto& u : updates) {
        if (u["type"] != "TELEMETRY_UPDATE") continue; // NODE_STATUS: online
        const int node = u["node_id"];
        if (checked_nodes.contains(node)) continue; // one entry per node keeps the test quick
        checked_nodes.insert(node);
        EXPECT_EQ(u["community_id"], 1);
        const auto [channel, key] = channels.at(node);
        const auto entry = sim_entry(channel, u["entry_id"], key);
        EXPECT_EQ(flowgate::parse_iso8601(u["ts"].get<std::string>())->utc,
                  flowgate::parse_iso8601(entry["created_at"].get<std::string>())->utc)
            << "the reading time is the entry's own created_at";
        for (const auto& m : mappings.at(node)) {
            const auto field = "field" + std::to_string(m.field);
            const auto& raw = entry[field];
            const bool has = u["readings"].contains(m.metric);
            if (!raw.is_string() || raw == "" || raw == "nan") {
                EXPECT_FALSE(has) << m.metric << " of node " << node << " was missing at the source";
                continue;
            }
            if (!has) continue; // rejected by the mapping (bad value): counted in telemetry_errors
            const auto& got = u["readings"][m.metric]["value"];
            const auto raw_text = raw.get<std::string>();
            if (m.type == "string") {
                EXPECT_EQ(got, raw_text);
            } else if (m.type == "boolean") {
                EXPECT_EQ(got.get<bool>(), std::stod(raw_text) != 0);
            } else {
                const double expected = std::stod(raw_text) * m.scale + m.offset;
                EXPECT_NEAR(got.get<double>(), expected, 1e-9 * std::max(1.0, std::abs(expected))) << m.metric;
            }
            ++values_checked;
        }
    }
    EXPECT_GE(values_checked, 8);
}

TEST_F(Flowgate, NodeStreamCarriesOnlyThatNode) {
    start_daemon();
    auto node3 = watch("node/3/telemetry", "node3.out");
    auto community = watch("community/1/updates", "community.out");
    ASSERT_TRUE(eventually([&] { return json_lines(community->output()).size() > 20 && !json_lines(node3->output()).empty(); },
                           std::chrono::seconds{3 * poll_interval_s + 10}));
    for (const auto& u : json_lines(node3->output())) EXPECT_EQ(u["node_id"], 3);
}

TEST_F(Flowgate, EveryEntryIsStoredExactlyOnceAcrossARestart) {
    start_daemon();
    ASSERT_TRUE(eventually([&] { return query("SELECT 1 FROM telemetry_readings LIMIT 1").size() == 1; }, 15s));
    std::this_thread::sleep_for(std::chrono::seconds{2 * poll_interval_s});
    ASSERT_EQ(daemon_->stop(SIGTERM, 15s), 0) << daemon_->output();
    const auto before = query("SELECT count(*) FROM telemetry_readings")[0][0].as<long>();
    start_daemon();
    ASSERT_TRUE(eventually([&] { return query("SELECT count(*) FROM telemetry_readings")[0][0].as<long>() > before; }, 20s));
    std::this_thread::sleep_for(std::chrono::seconds{2 * poll_interval_s});
    ASSERT_EQ(daemon_->stop(SIGTERM, 15s), 0) << daemon_->output();

    // Clean channels: every entry between the first and the last stored one is there, with
    // one reading per mapped field, none twice.
    EXPECT_EQ(clean_nodes_problem(), "");
    // Node 5's logger uploads every 20th reading two hours late, stamped when it was taken:
    // no read from a recent time returns those, yet they are stored (read by id).
    const auto late = query("SELECT count(*) FROM (SELECT ts, lag(ts) OVER (ORDER BY entry_id) AS prev FROM "
                            "(SELECT DISTINCT entry_id, ts FROM telemetry_readings WHERE device_id = 5) e) x "
                            "WHERE prev - ts > interval '1 hour'")[0][0].as<long>();
    EXPECT_GE(late, 2) << "late uploads of node 5 stored";
    // What the daemon stored is what the channel holds: spot-check the newest entry of node 1.
    const auto newest = query("SELECT max(entry_id) FROM telemetry_readings WHERE device_id = 1")[0][0].as<std::int64_t>();
    const auto level = query("SELECT value FROM telemetry_readings WHERE device_id = 1 AND metric = 'water_level' AND entry_id = " +
                             std::to_string(newest))[0][0].as<double>();
    EXPECT_NEAR(level, std::stod(sim_entry(2100101, newest, "")["field1"].get<std::string>()) * 0.01, 1e-9);
}

// kill -9 while entries are being read and written (first polls with holes read by id, late
// uploads): the cursor is stored only after the entries it covers, so after each restart
// nothing is missing, and nothing is stored twice.
TEST_F(Flowgate, KillNineAtAnyMomentLosesNothing) {
    for (const auto after : {1500ms, 3000ms, 700ms}) {
        start_daemon();
        std::this_thread::sleep_for(after);
        daemon_->stop(SIGKILL, 5s);
    }
    start_daemon();
    ASSERT_TRUE(eventually([&] { return query("SELECT 1 FROM telemetry_readings LIMIT 1").size() == 1; }, 15s));
    std::this_thread::sleep_for(std::chrono::seconds{2 * poll_interval_s});
    ASSERT_EQ(daemon_->stop(SIGTERM, 15s), 0) << daemon_->output();
    EXPECT_EQ(clean_nodes_problem(100), "");
    std::cout << "after three kill -9: " << clean_nodes_counts() << " (each id once, none missing)\n";
}

// 40 simulated hours pass at once (9,600 entries of a 15 s channel, more than a read returns),
// and the daemon is killed while it pages back through them: after a restart every clean
// node's entries, from before the jump to after it, are stored, each once.
TEST_F(Flowgate, KillNineDuringABackfillLosesNothing) {
    start_daemon();
    ASSERT_TRUE(eventually([&] { return clean_nodes_problem(100).empty(); }, 20s));
    sim_control("/_sim/time", R"({"advance_seconds":144000})");
    ASSERT_TRUE(eventually([&] { return daemon_->output().find("\"backfilling: ") != std::string::npos; }, 10s))
        << "no backfill started";
    daemon_->stop(SIGKILL, 5s);
    // Where each clean node's channel stood when the daemon came back: caught up once all of
    // it is stored.
    std::map<int, std::int64_t> target;
    for (const auto& row : query("SELECT device_id, channel_id, coalesce(read_api_key, '') FROM device_thingspeak_mapping "
                                 "WHERE device_id IN (1, 3, 5, 6, 8)")) {
        auto path = "/channels/" + row[1].as<std::string>() + "/feeds/last_entry_id.json";
        if (!row[2].as<std::string>().empty()) path += "?api_key=" + row[2].as<std::string>();
        target[row[0].as<int>()] = std::stoll(HttpClient{"127.0.0.1", sim_port_}.get(path).body);
    }
    start_daemon();
    const auto behind = [&] {
        std::string out;
        for (const auto& [node, last] : target) {
            const auto newest = query("SELECT coalesce(max(entry_id), 0) FROM telemetry_readings WHERE device_id = " +
                                      std::to_string(node))[0][0].as<std::int64_t>();
            if (newest < last) out += "node " + std::to_string(node) + " at " + std::to_string(newest) + " of " + std::to_string(last) + "; ";
        }
        return out;
    };
    ASSERT_TRUE(eventually([&] { return behind().empty() && clean_nodes_problem().empty(); }, 90s))
        << behind() << clean_nodes_problem();
    ASSERT_EQ(daemon_->stop(SIGTERM, 15s), 0);
    EXPECT_EQ(clean_nodes_problem(), "");
    EXPECT_GE(query("SELECT count(DISTINCT entry_id) FROM telemetry_readings WHERE device_id = 1")[0][0].as<long>(), 9'600);
    std::cout << "kill -9 during a backfill of 40 h: " << clean_nodes_counts() << " (each id once, none missing)\n";
}

// A storage queue far smaller than what the first polls read (8 devices × 100 rows): entries
// it cannot take are read again later, none lost, and the log says so without a line a poll.
TEST_F(Flowgate, AFullStorageQueueDefersEntriesWithoutLosingThemOrFloodingTheLog) {
    std::stringstream config;
    config << std::ifstream{path("flowgate.toml")}.rdbuf();
    auto text = config.str();
    text.replace(text.find("[database]\n"), 11, "[database]\nwriter_queue = 20\nbatch_size = 10\n");
    std::ofstream{path("flowgate.toml")} << text;
    const auto started = std::chrono::steady_clock::now();
    start_daemon();
    std::string problem;
    ASSERT_TRUE(eventually([&] { return (problem = clean_nodes_problem(100)).empty(); }, 40s))
        << "the first polls' 100 rows of every clean node, without a gap; " << problem;
    ASSERT_EQ(daemon_->stop(SIGTERM, 15s), 0);
    const auto ran = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started);

    std::uint64_t deferred = 0;
    long warnings = 0;
    for (const auto& line : json_lines(daemon_->output())) {
        if (!line["msg"].get<std::string>().starts_with("storage queue full")) continue;
        ++warnings;
        deferred += line["entries_deferred"].get<std::uint64_t>();
    }
    EXPECT_GT(deferred, 0u) << "the queue of 20 never refused an entry: the test measures nothing";
    // The first at once, then at most one per 10 s.
    EXPECT_LE(warnings, 1 + ran / 10s) << warnings << " warnings in " << ran.count() << " s";
    std::cout << "writer_queue 20: " << deferred << " entries deferred, " << warnings << " warnings in " << ran.count()
              << " s\n";
}

TEST_F(Flowgate, HostileSourcesBecomeErrorRowsNotCrashesAndKeysStayOutOfLogs) {
    sql("UPDATE device_thingspeak_mapping SET read_api_key = 'WRONGKEY987' WHERE device_id = 7");
    sql("UPDATE device_thingspeak_mapping SET channel_id = 999 WHERE device_id = 6");
    sim_control("/_sim/faults", R"({"channel":2100103,"respond":{"status":200,"body":"{\"channel\":{\"id\":"}})");
    sim_control("/_sim/faults", R"({"channel":2100108,"respond":{"status":200,"body":"<html>502 Bad Gateway</html>","content_type":"text/html"}})");
    start_daemon();
    auto client = watch("community/1/updates", "community.out");

    const auto stages = [&] {
        std::map<std::pair<int, std::string>, int> out;
        for (const auto& row : query("SELECT device_id, stage, coalesce(http_status, 0) FROM telemetry_errors")) {
            out[{row[0].as<int>(), row[1].as<std::string>()}] = row[2].as<int>();
        }
        return out;
    };
    ASSERT_TRUE(eventually(
        [&] {
            const auto s = stages();
            return s.contains({7, "auth"}) && s.contains({6, "fetch"}) && s.contains({3, "parse"}) && s.contains({8, "parse"});
        },
        20s))
        << daemon_->output();
    const auto s = stages();
    EXPECT_EQ(s.at({7, "auth"}), 400);
    EXPECT_EQ(s.at({6, "fetch"}), 404);
    // The wrong key is an alert of that device only, open while the key is refused.
    ASSERT_TRUE(eventually([&] { return alerts_of_kind("auth_failed") == std::set<int>{7}; }, 10s))
        << daemon_->output();
    EXPECT_EQ(query("SELECT count(*) FROM alerts WHERE kind = 'auth_failed'")[0][0].as<int>(), 1) << "opened once";
    EXPECT_TRUE(query("SELECT 1 FROM alerts WHERE kind = 'auth_failed' AND resolved_at IS NULL AND severity = 'critical'"
                      " AND message LIKE '%key%'").size() == 1);

    // The daemon keeps serving and the healthy devices keep streaming.
    EXPECT_EQ(HttpClient("127.0.0.1", port_).get("/healthz").status, 200u);
    ASSERT_TRUE(eventually([&] {
        for (const auto& u : json_lines(client->output())) {
            if (u["node_id"] == 1) return true;
        }
        return false;
    }, 15s));
    ASSERT_EQ(daemon_->stop(SIGTERM, 15s), 0);

    const auto log = daemon_->output();
    EXPECT_EQ(log.find("WRONGKEY987"), std::string::npos);
    EXPECT_EQ(log.find("DEMOREADKEY"), std::string::npos);
    std::istringstream lines{log};
    int n = 0;
    for (std::string line; std::getline(lines, line); ++n) EXPECT_TRUE(json::accept(line)) << line;
    EXPECT_GT(n, 5);
    EXPECT_NE(log.find("\"stage\":\"auth\""), std::string::npos);
    // A wrong key, an unknown channel and a body that does not parse are failures of the
    // devices, not of the server: those devices back off, the healthy ones keep their interval.
    std::set<int> backing_off;
    for (const auto& line : json_lines(log)) {
        if (line["msg"] == "device backing off") backing_off.insert(line["device_id"].get<int>());
    }
    EXPECT_EQ(backing_off, (std::set<int>{3, 6, 7, 8}));
}

// A device that stops posting: Stale after 3 intervals (6 s), Offline after 10 (20 s), each a
// NODE_STATUS and an ALERT on the community stream, and Online again once it posts.
TEST_F(Flowgate, ADeviceThatStopsPostingGoesStaleThenOfflineAndDashboardsSeeIt) {
    start_daemon();
    const auto online = [&] { return query("SELECT count(*) FROM node_operational_state WHERE status = 'online'")[0][0].as<int>(); };
    ASSERT_TRUE(eventually([&] { return online() == 8; }, 20s)) << daemon_->output();
    auto client = watch("community/1/updates", "community.out", 0, 90);
    ASSERT_TRUE(eventually([&] { return !json_lines(client->output()).empty(); }, 10s));
    // OHT-1 stops posting (its next post a simulated week away).
    sim_control("/_sim/channels/2100101/interval", R"({"seconds":604800})");
    const auto stopped = std::chrono::steady_clock::now();
    const auto status_of_node_1 = [&] {
        std::vector<std::string> out;
        for (const auto& e : events(*client, "NODE_STATUS")) {
            if (e["node_id"] == 1) out.push_back(e["status"]);
        }
        return out;
    };
    using Strings = std::vector<std::string>;
    ASSERT_TRUE(eventually([&] { return status_of_node_1() == Strings{"stale", "offline"}; }, 40s))
        << client->output();
    const auto took = std::chrono::steady_clock::now() - stopped;
    EXPECT_GE(took, 18s) << "offline after 10 intervals of 2 s without an entry";
    std::string stale_reason;
    for (const auto& e : events(*client, "NODE_STATUS")) {
        if (e["node_id"] == 1 && e["status"] == "stale") stale_reason = e["reason"];
    }
    EXPECT_TRUE(stale_reason.starts_with("no new entry for ")) << stale_reason;
    std::vector<std::string> alerts;
    for (const auto& e : events(*client, "ALERT")) {
        EXPECT_EQ(e["node_id"], 1) << "only the device that stopped: " << e.dump();
        alerts.push_back(e["alert"].get<std::string>() + " " + e["state"].get<std::string>());
    }
    EXPECT_EQ(alerts, (Strings{"device_stale open", "device_stale resolved", "device_offline open"}));
    // Stored a moment after it was published.
    EXPECT_TRUE(eventually([&] {
        return query("SELECT status FROM node_operational_state WHERE device_id = 1")[0][0].as<std::string>() == "offline";
    }, 5s));
    EXPECT_EQ(online(), 7);

    // It posts again: Online, and the offline alert is resolved.
    sim_control("/_sim/channels/2100101/interval", R"({"seconds":15})");
    ASSERT_TRUE(eventually([&] { return status_of_node_1().size() == 3; }, 30s)) << client->output();
    EXPECT_EQ(status_of_node_1().back(), "online");
    ASSERT_TRUE(eventually([&] {
        return query("SELECT count(*) FROM alerts WHERE device_id = 1 AND resolved_at IS NULL")[0][0].as<int>() == 0;
    }, 5s));
    EXPECT_EQ(query("SELECT string_agg(kind, ',' ORDER BY id) FROM alerts")[0][0].as<std::string>(),
              "device_stale,device_offline");
}

// A channel's field renamed: one schema_mismatch alert while its label differs from the
// mapping's expected_label, and the field is not stored; once the operator updates the
// mapping in the database (no restart) the alert resolves and the field is stored again.
TEST_F(Flowgate, ARenamedFieldIsOneSchemaAlertUntilTheMappingIsUpdatedLive) {
    start_daemon();
    ASSERT_TRUE(eventually([&] { return query("SELECT 1 FROM telemetry_readings WHERE device_id = 1 LIMIT 1").size() == 1; }, 15s));
    sim_control("/_sim/channels/2100101/fields/3", R"x({"label":"Turbidity (NTU)"})x");
    const auto open_schema_alerts = [&] {
        return query("SELECT device_id, message FROM alerts WHERE kind = 'schema_mismatch' AND resolved_at IS NULL");
    };
    ASSERT_TRUE(eventually([&] { return open_schema_alerts().size() == 1; }, 15s)) << daemon_->output();
    EXPECT_EQ(open_schema_alerts()[0][0].as<int>(), 1);
    EXPECT_NE(open_schema_alerts()[0][1].as<std::string>().find("Turbidity"), std::string::npos);
    std::this_thread::sleep_for(std::chrono::seconds{2 * poll_interval_s});
    EXPECT_EQ(alerts_of_kind("schema_mismatch"), std::set<int>{1}) << "one alert for as long as it lasts";
    EXPECT_EQ(query("SELECT count(*) FROM alerts")[0][0].as<int>(), 1);

    const auto newest_with_tds = [&] {
        return query("SELECT coalesce(max(entry_id), 0) FROM telemetry_readings WHERE device_id = 1 AND metric = 'tds'")[0][0]
            .as<long>();
    };
    const auto newest = [&] {
        return query("SELECT max(entry_id) FROM telemetry_readings WHERE device_id = 1")[0][0].as<long>();
    };
    const auto tds_until = newest_with_tds();
    EXPECT_GT(newest(), tds_until + 2) << "entries stored meanwhile, without the renamed field";

    sql("UPDATE thingspeak_field_mappings SET expected_label = 'Turbidity (NTU)' WHERE device_id = 1 AND thingspeak_field = 3");
    const auto updated = std::chrono::steady_clock::now();
    ASSERT_TRUE(eventually([&] { return open_schema_alerts().size() == 0; }, 15s)) << daemon_->output();
    const auto took = std::chrono::steady_clock::now() - updated;
    ASSERT_TRUE(eventually([&] { return newest_with_tds() > tds_until; }, 10s)) << "the field is stored again";
    EXPECT_LT(took, 5s);
    EXPECT_EQ(query("SELECT count(*) FROM alerts")[0][0].as<int>(), 1) << "resolved, not opened again";
    std::cout << "schema alert resolved " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
              << " ms after the mapping was updated\n";
}

// Operators edit the registry while the daemon runs: a node added, one disabled, a
// calibration changed, and a change that would break a mapping (refused; the previous one
// keeps running) — each within 5 s, without a restart.
TEST_F(Flowgate, RegistryChangesTakeEffectWithoutARestart) {
    start_daemon();
    ASSERT_TRUE(eventually([&] { return query("SELECT count(DISTINCT device_id) FROM telemetry_readings")[0][0].as<int>() == 8; },
                           20s));
    const auto within = [&](const std::string& what, const std::function<bool()>& done) {
        const auto started = std::chrono::steady_clock::now();
        const bool ok = eventually(done, 10s);
        const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        EXPECT_TRUE(ok) << what;
        EXPECT_LT(took, 5s) << what;
        std::cout << what << ": " << took.count() << " ms\n";
    };

    // A second node on OHT-1's channel.
    sql("BEGIN; INSERT INTO nodes (id, community_id, name, category, polling_interval_s, telemetry_source) "
        "VALUES (9, 1, 'OHT-1 mirror', 'OHT', 2, 'thingspeak'); "
        "INSERT INTO device_thingspeak_mapping (device_id, channel_id) VALUES (9, 2100101); "
        "INSERT INTO thingspeak_field_mappings (device_id, thingspeak_field, canonical_name, scale_factor, expected_label) "
        "VALUES (9, 1, 'water_level_cm', 1, 'Water Level (cm)'); COMMIT");
    within("node added", [&] { return query("SELECT 1 FROM telemetry_readings WHERE device_id = 9 LIMIT 1").size() == 1; });

    const auto key_of = [&](int node) {
        return query("SELECT coalesce(read_api_key, '') FROM device_thingspeak_mapping WHERE device_id = " +
                     std::to_string(node))[0][0].as<std::string>();
    };
    // Sump-2 recalibrated: its level halved from now on.
    sql("UPDATE thingspeak_field_mappings SET scale_factor = 0.5 WHERE device_id = 4 AND thingspeak_field = 1");
    const auto recalibrated_after = query("SELECT max(entry_id) FROM telemetry_readings WHERE device_id = 4")[0][0].as<long>();
    within("calibration changed", [&] {
        const auto r = query("SELECT entry_id, value FROM telemetry_readings WHERE device_id = 4 AND metric = 'water_level' "
                             "AND entry_id > " + std::to_string(recalibrated_after) + " ORDER BY entry_id DESC LIMIT 1");
        if (r.empty()) return false;
        const auto raw = std::stod(sim_entry(2100104, r[0][0].as<long>(), key_of(4))["field1"].get<std::string>());
        return std::abs(r[0][1].as<double>() - 0.5 * raw) < 1e-9;
    });

    // OHT-2 given a scale that is not a number: refused, the old one (1) keeps running.
    sql("UPDATE thingspeak_field_mappings SET scale_factor = 'NaN' WHERE device_id = 2 AND thingspeak_field = 1");
    within("invalid change refused", [&] {
        return query("SELECT 1 FROM telemetry_errors WHERE device_id = 2 AND stage = 'schema' "
                     "AND message LIKE 'mapping refused: field1%previous configuration keeps running'").size() == 1;
    });
    const auto refused_after = query("SELECT max(entry_id) FROM telemetry_readings WHERE device_id = 2")[0][0].as<long>();
    ASSERT_TRUE(eventually([&] {
        return query("SELECT 1 FROM telemetry_readings WHERE device_id = 2 AND entry_id > " + std::to_string(refused_after)).size() > 0;
    }, 10s)) << "still polled";
    const auto r = query("SELECT entry_id, value FROM telemetry_readings WHERE device_id = 2 AND metric = 'water_level' "
                         "ORDER BY entry_id DESC LIMIT 1")[0];
    EXPECT_DOUBLE_EQ(r[1].as<double>(), std::stod(sim_entry(2100102, r[0].as<long>(), key_of(2))["field1"].get<std::string>()))
        << "with the previous scale";

    // Sump-1 disabled: no more requests for its channel.
    sql("UPDATE nodes SET enabled = false WHERE id = 3");
    std::this_thread::sleep_for(3s);
    sim_requests();
    std::this_thread::sleep_for(6s);
    const auto channels = sim_requests()["channels"];
    EXPECT_FALSE(channels.contains("2100103")) << channels.dump();
    EXPECT_TRUE(channels.contains("2100101")) << channels.dump();

    ASSERT_EQ(daemon_->stop(SIGTERM, 15s), 0);
    const auto log = daemon_->output();
    for (const auto* line : {"\"device added\"", "\"device reconfigured\"", "\"device mappings refused\"",
                             "\"device no longer polled: deleted, disabled or without a channel\""}) {
        EXPECT_NE(log.find(line), std::string::npos) << line;
    }
}

// An alert rule added to the database while the daemon runs: evaluated on the readings as
// they arrive, its alert stored, streamed and logged, and resolved when the rule changes.
TEST_F(Flowgate, AlertRulesInTheDatabaseAreEvaluatedOnIngest) {
    start_daemon();
    ASSERT_TRUE(eventually([&] { return query("SELECT 1 FROM telemetry_readings WHERE device_id = 1 LIMIT 1").size() == 1; }, 15s));
    auto client = watch("community/1/updates", "community.out", 0, 60);
    ASSERT_TRUE(eventually([&] { return !json_lines(client->output()).empty(); }, 10s));
    // OHT-1's level (at most 3.5 m) is always under 100 m.
    sql("INSERT INTO alert_rules (name, node_id, metric, comparison, threshold, hysteresis, severity) "
        "VALUES ('oht_low_level', 1, 'water_level', '<', 100, 0.1, 'critical')");
    const auto open_rule_alerts = [&] {
        return query("SELECT device_id, severity, message FROM alerts WHERE kind = 'oht_low_level' AND resolved_at IS NULL");
    };
    ASSERT_TRUE(eventually([&] { return open_rule_alerts().size() == 1; }, 5s)) << daemon_->output();
    const auto row = open_rule_alerts()[0];
    EXPECT_EQ(row[0].as<int>(), 1);
    EXPECT_EQ(row[1].as<std::string>(), "critical");
    EXPECT_TRUE(row[2].as<std::string>().starts_with("water_level ")) << row[2].as<std::string>();
    EXPECT_NE(row[2].as<std::string>().find(" m < 100"), std::string::npos) << row[2].as<std::string>();
    ASSERT_TRUE(eventually([&] { return !events(*client, "ALERT").empty(); }, 5s)) << client->output();
    const auto event = events(*client, "ALERT")[0];
    EXPECT_EQ(event["alert"], "oht_low_level");
    EXPECT_EQ(event["state"], "open");
    EXPECT_EQ(event["severity"], "critical");
    EXPECT_EQ(event["node_id"], 1);
    std::this_thread::sleep_for(std::chrono::seconds{2 * poll_interval_s});
    EXPECT_EQ(query("SELECT count(*) FROM alerts WHERE kind = 'oht_low_level'")[0][0].as<int>(), 1)
        << "one alert while the condition lasts, not one per reading";

    sql("UPDATE alert_rules SET threshold = -1 WHERE name = 'oht_low_level'");
    ASSERT_TRUE(eventually([&] { return open_rule_alerts().empty(); }, 5s)) << daemon_->output();
    std::this_thread::sleep_for(std::chrono::seconds{poll_interval_s});
    EXPECT_EQ(query("SELECT count(*) FROM alerts WHERE kind = 'oht_low_level'")[0][0].as<int>(), 1) << "not opened again";
    ASSERT_EQ(daemon_->stop(SIGTERM, 15s), 0);
    EXPECT_NE(daemon_->output().find(R"("msg":"alert opened","alert":"oht_low_level")"), std::string::npos);
}

// Six of the eight channels hang (the request is read, never answered; the timeout is 3 s):
// they may hold at most half of the 4 polls in flight, so the healthy two keep their 2 s
// interval instead of queueing behind them.
TEST_F(Flowgate, HungChannelsDoNotSlowTheHealthyOnes) {
    for (int channel = 2100101; channel <= 2100106; ++channel) {
        sim_control("/_sim/faults", R"({"channel":)" + std::to_string(channel) + R"(,"outage":"hang"})");
    }
    start_daemon();
    std::this_thread::sleep_for(4s); // every hung channel has timed out once
    sim_requests();
    std::this_thread::sleep_for(12s);
    const auto channels = sim_requests()["channels"];
    for (int channel = 2100107; channel <= 2100108; ++channel) {
        const auto answered = channels.value(std::to_string(channel), json::object())["by_status"].value("200", 0);
        EXPECT_GE(answered, 5) << "channel " << channel << " polled every 2 s for 12 s: " << channels.dump();
    }
    EXPECT_NE(daemon_->output().find(R"("stage":"fetch")"), std::string::npos) << "the timeouts are errors";
}

// The issue's failure: with the simulator answering 503 the daemon kept sending as many
// requests as when healthy. Now three failures open the breaker, one probe goes per cool-down
// (2 s, then 4 s), and polling resumes when the source answers again.
TEST_F(Flowgate, ASourceOutageOpensTheBreakerInsteadOfHammeringTheSource) {
    start_daemon();
    const auto stored = [&] { return query("SELECT count(*) FROM telemetry_readings")[0][0].as<int>(); };
    ASSERT_TRUE(eventually([&] { return stored() > 0; }, 20s)) << daemon_->output();
    sim_requests();
    std::this_thread::sleep_for(10s);
    const int healthy = sim_requests()["total"]["requests"].get<int>();

    const auto cpu_seconds = [pid = daemon_->pid()] {
        std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
        std::string text{std::istreambuf_iterator<char>{stat}, {}};
        std::istringstream fields{text.substr(text.rfind(')') + 2)};
        std::vector<std::string> f{std::istream_iterator<std::string>{fields}, {}};
        return static_cast<double>(std::stoll(f.at(11)) + std::stoll(f.at(12))) / static_cast<double>(sysconf(_SC_CLK_TCK));
    };
    sim_control("/_sim/faults", R"({"outage":"503"})");
    const auto cpu_before = cpu_seconds();
    std::this_thread::sleep_for(20s);
    const auto cpu_during = cpu_seconds() - cpu_before;
    const auto during = sim_requests()["total"];
    const int outage = during["requests"].get<int>();
    sim_control("/_sim/faults", R"({"clear":true})");
    const int before = stored();
    ASSERT_TRUE(eventually([&] { return stored() > before; }, 15s)) << "polling did not resume";

    std::cout << "requests in 10 s healthy: " << healthy << "; in 20 s of 503: " << outage
              << "; daemon CPU during the outage: " << cpu_during << " s\n";
    EXPECT_LT(cpu_during, 2.0) << "waiting for the breaker must not spin the loop";
    EXPECT_GT(healthy, 20) << "8 devices every 2 s";
    // Before it opened: 3 failures plus the other polls in flight (4 at most); then at most one
    // probe per cool-down of at least 2 s.
    EXPECT_LE(outage, 3 + 4 + 10) << during.dump();
    EXPECT_GE(outage, 3 + 3) << "probes must keep going: " << during.dump();

    ASSERT_EQ(daemon_->stop(SIGTERM, 15s), 0);
    const auto log = daemon_->output();
    const auto host = "127.0.0.1:" + std::to_string(sim_port_);
    bool opened = false, closed = false;
    for (const auto& line : json_lines(log)) {
        if (line.value("host", "") != host) continue;
        opened |= line["msg"] == "circuit breaker opened: no requests to the host until the cool-down passed" &&
                  line["failures"] == 3;
        closed |= line["msg"] == "circuit breaker closed: the host answers again";
    }
    EXPECT_TRUE(opened) << tail(log);
    EXPECT_TRUE(closed) << tail(log);
    EXPECT_NE(log.find("\"budget tightened\""), std::string::npos) << "503s tighten the budget";

    // 20 s of outage is ten polling intervals, past every device's stale-after (6 s): still one
    // alert for the source, opened and resolved, and not a device flipped.
    const auto alerts = query("SELECT kind, coalesce(device_id, 0), resolved_at IS NOT NULL, "
                              "extract(epoch FROM resolved_at - opened_at) FROM alerts");
    ASSERT_EQ(alerts.size(), 1u) << "alerts: " << alerts.size();
    EXPECT_EQ(alerts[0][0].as<std::string>(), "source_outage");
    EXPECT_EQ(alerts[0][1].as<int>(), 0);
    EXPECT_TRUE(alerts[0][2].as<bool>()) << "resolved";
    EXPECT_GE(alerts[0][3].as<double>(), 15);
    EXPECT_EQ(query("SELECT count(*) FROM node_operational_state WHERE status = 'online'")[0][0].as<int>(), 8);
    // And what the channels got meanwhile (10 simulated minutes: 40 entries of a 15 s channel)
    // is stored without a gap.
    EXPECT_EQ(clean_nodes_problem(), "");
    std::cout << "across the outage: " << clean_nodes_counts() << " (each id once, none missing)\n";
}

// A burst of ten 429s: the request rate drops (the breaker opens after three, the budget
// halves on each), then recovers to the healthy rate once the source answers again, without
// a storm of catch-up requests.
TEST_F(Flowgate, ABurstOf429sSlowsPollingDownThenItRecovers) {
    start_daemon();
    const auto stored = [&] { return query("SELECT count(*) FROM telemetry_readings")[0][0].as<int>(); };
    ASSERT_TRUE(eventually([&] { return stored() > 0; }, 20s)) << daemon_->output();
    std::this_thread::sleep_for(5s); // the first reads' catch-up (history, late uploads read by id) is over
    sim_requests();
    std::this_thread::sleep_for(8s);
    const int healthy = sim_requests()["total"]["requests"].get<int>();

    sim_control("/_sim/faults", R"({"burst_429":10})");
    std::this_thread::sleep_for(8s);
    const auto burst = sim_requests()["total"];
    const int during = burst["requests"].get<int>();
    const int too_many = burst["by_status"].value("429", 0);

    // Until the ten are used up, and the breaker closed again.
    json after;
    int waited = 0;
    for (int remaining = 10 - too_many; remaining > 0 && waited < 30; ++waited) {
        std::this_thread::sleep_for(1s);
        after = sim_requests()["total"];
        remaining -= after["by_status"].value("429", 0);
    }
    std::this_thread::sleep_for(4s); // breaker closed and the waiting devices polled
    sim_requests();
    std::this_thread::sleep_for(8s);
    const int recovered = sim_requests()["total"]["requests"].get<int>();

    std::cout << "requests in 8 s: healthy " << healthy << ", during the 429s " << during << " (" << too_many
              << " of them 429), after recovery " << recovered << "\n";
    EXPECT_GT(healthy, 24) << "8 devices every 2 s";
    EXPECT_LE(during, healthy / 2) << burst.dump();
    EXPECT_GE(recovered, healthy * 3 / 4) << "the budget and the breaker recovered";
    EXPECT_LE(recovered, healthy * 5 / 4) << "no storm after the 429s";
    ASSERT_EQ(daemon_->stop(SIGTERM, 15s), 0);
    const auto log = daemon_->output();
    EXPECT_NE(log.find("\"budget tightened\""), std::string::npos) << tail(log);
    EXPECT_NE(log.find("\"budget recovered\""), std::string::npos) << tail(log);
}

// Five public channels every 2 s make 2.5 requests/s per instance; their key (the server) is
// allowed 1/s. Two instances on one Redis share it: together they send 1/s, not 2/s, while
// the private channels, with keys of their own, keep their interval.
TEST_F(Flowgate, TwoInstancesOnOneRedisTogetherKeepAKeysBudget) {
    const auto host = "127.0.0.1:" + std::to_string(sim_port_);
    std::ofstream{dir_.path() / "flowgate.toml", std::ios::app}
        << "[thingspeak.key_budgets]\n\"" << host << "\" = { per_minute = 60, burst = 2 }\n";
    start_daemon();
    unsigned short second_port = 0;
    auto second = start_instance(second_port);
    std::this_thread::sleep_for(6s); // both polling, the key's burst spent
    sim_requests();
    std::this_thread::sleep_for(20s);
    const auto counts = sim_requests()["channels"];
    const auto requests = [&](int channel) { return counts.value(std::to_string(channel), json::object()).value("requests", 0); };
    int public_requests = 0;
    for (const int channel : {2100101, 2100103, 2100105, 2100106, 2100108}) public_requests += requests(channel);
    std::cout << "requests in 20 s: public channels (1/s allowed) " << public_requests << ", private channel 2100102 "
              << requests(2100102) << "\n";
    EXPECT_LE(public_requests, 20 + 2 + 1) << counts.dump();
    EXPECT_GE(public_requests, 16) << "the budget is used, not lost between the instances";
    EXPECT_GE(requests(2100102), 14) << "a key of its own: both instances every 2 s";

    ASSERT_EQ(daemon_->stop(SIGTERM, 15s), 0);
    ASSERT_EQ(second->stop(SIGTERM, 15s), 0);
    for (const auto* instance : {daemon_.get(), second.get()}) {
        bool listed = false;
        for (const auto& line : json_lines(instance->output())) {
            listed |= line["msg"] == "API key budget" && line["key_id"] == host && line["requests_per_minute"] == 60 &&
                      line["device_ids"] == "1,3,5,6,8";
            EXPECT_NE(line["msg"], "Redis out of reach: each API key's budget is this instance's share of it until Redis is back");
        }
        EXPECT_TRUE(listed) << tail(instance->output());
    }
}

// Streams are for token holders of their community: the refusals a dashboard developer (or an
// attacker) meets, each with its status and reason, on the daemon itself.
TEST_F(Flowgate, StreamsAreOnlyForTokenHoldersOfTheirCommunity) {
    start_daemon();
    const auto ask = [&](const std::string& target, std::map<std::string, std::string> headers = {}) {
        headers.insert({{"Connection", "Upgrade"}, {"Upgrade", "websocket"}, {"Sec-WebSocket-Version", "13"},
                        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
        const auto res = HttpClient{"127.0.0.1", port_}.request("GET", target, {}, headers);
        const auto body = json::parse(res.body, nullptr, false);
        return std::to_string(res.status) + " " + (body.is_object() ? body.value("error", "") : res.body);
    };
    const auto other_community = issue_token("2");
    const auto short_lived = issue_token("1", "1s");
    ChildProcess foreign{FLOWGATE_BINARY, {"token", "issue", "--communities", "1"}, dir_.path() / "foreign.out",
                         {{"FLOWGATE_AUTH_SECRETS", "some-other-installations-secret-0123456789"}}};
    ASSERT_EQ(foreign.wait(10s), 0) << foreign.output();
    const auto foreign_token = foreign.output().substr(0, foreign.output().find('\n'));
    tokens_.push_back(foreign_token);
    std::this_thread::sleep_for(1500ms);  // short_lived expires

    EXPECT_EQ(ask("/ws/community/1/updates"), "401 missing token: send Authorization: Bearer <token>, or ?token=<token>");
    EXPECT_EQ(ask("/ws/community/1/updates?token=garbage"),
              "401 malformed token: expected a JWT (three base64url parts separated by dots)");
    EXPECT_EQ(ask("/ws/community/1/updates?token=" + foreign_token), "401 bad token signature");
    EXPECT_EQ(ask("/ws/community/1/updates", {{"Authorization", "Bearer " + short_lived}}), "401 token expired");
    EXPECT_EQ(ask("/ws/community/1/updates?token=" + other_community), "403 this token does not allow community 1");
    EXPECT_EQ(ask("/ws/node/2/telemetry?token=" + other_community), "403 this token does not allow community 1");
    EXPECT_EQ(ask("/ws/node/99/telemetry?token=" + token_), "404 node 99 does not exist");
    EXPECT_EQ(ask("/ws/node/99/telemetry"), "401 missing token: send Authorization: Bearer <token>, or ?token=<token>");
    EXPECT_EQ(ask("/ws/community/1/updates?token=" + token_, {{"Origin", "http://evil.example.com"}}),
              "403 origin not allowed: add it to http.origins");

    // Node 2 reads a private channel (read key): an anonymous client gets none of it, a
    // token holder does.
    auto anonymous = watch("node/2/telemetry", "anonymous.out", 0, 10, {}, std::string{});
    auto holder = watch("node/2/telemetry", "holder.out", 0, 60, {"--count", "1"});
    EXPECT_EQ(anonymous->wait(15s), 1);
    EXPECT_NE(anonymous->output().find("HTTP 401"), std::string::npos) << anonymous->output();
    EXPECT_EQ(anonymous->output().find("TELEMETRY_UPDATE"), std::string::npos) << anonymous->output();
    ASSERT_EQ(holder->wait(60s), 0) << holder->output();
    const auto got = json_lines(holder->output());
    ASSERT_EQ(got.size(), 1u) << holder->output();
    EXPECT_EQ(got[0]["node_id"], 2);
}

// A dashboard reads what is stored: communities, nodes with their last readings, a range of
// one metric, with the stream token and its tenancy.
TEST_F(Flowgate, TheHistoryApiServesStoredReadingsToTokenHoldersOfTheirCommunity) {
    start_daemon();
    ASSERT_TRUE(eventually([&] { return db_->count("SELECT count(*) FROM telemetry_readings WHERE device_id = 1") >= 3; }, 60s));
    const auto get = [&](const std::string& target) {
        const auto res = HttpClient{"127.0.0.1", port_}.get(target);
        return std::pair{res.status, json::parse(res.body, nullptr, false)};
    };
    const auto with_token = [&](const std::string& target) { return get(target + (target.find('?') == std::string::npos ? "?" : "&") + "token=" + token_); };

    EXPECT_EQ(get("/api/communities").first, 401u);
    const auto other = issue_token("2");
    EXPECT_EQ(get("/api/communities/1/nodes?token=" + other).second["error"], "this token does not allow community 1");
    EXPECT_EQ(get("/api/nodes/1/readings?metric=water_level&token=" + other).first, 403u);
    EXPECT_EQ(with_token("/api/nodes/1/readings?metric=water_level&from=noon").first, 400u);
    EXPECT_EQ(with_token("/api/nodes/1/readings?metric=level").first, 404u);

    const auto [status, communities] = with_token("/api/communities");
    ASSERT_EQ(status, 200u);
    EXPECT_EQ(communities, json::parse(R"({"communities":[{"id":1,"name":"Jayanagar Ward 7","nodes":8}]})"));

    // Each node's last reading is the newest stored row of that metric (newer ones keep coming).
    const auto newest_before = query("SELECT max(ts) FROM telemetry_readings WHERE device_id = 1 AND metric = 'water_level'");
    const auto nodes = with_token("/api/communities/1/nodes").second;
    ASSERT_EQ(nodes["nodes"].size(), 8u) << nodes.dump();
    const auto& oht = nodes["nodes"][0];
    EXPECT_EQ(oht["id"], 1);
    const auto& level = oht["metrics"][0];
    EXPECT_EQ(level["metric"], "water_level");
    EXPECT_EQ(level["unit"], "m");
    ASSERT_TRUE(level["value"].is_number()) << level.dump();
    const auto at = level["ts"].get<std::string>();
    const auto stored = query("SELECT value, '" + at + "'::timestamptz >= '" + newest_before[0][0].as<std::string>() +
                              "'::timestamptz FROM telemetry_readings WHERE device_id = 1 AND metric = 'water_level' "
                              "AND ts = '" + at + "'");
    ASSERT_EQ(stored.size(), 1u) << at;
    EXPECT_DOUBLE_EQ(level["value"].get<double>(), stored[0][0].as<double>());
    EXPECT_TRUE(stored[0][1].as<bool>()) << "not older than the newest row before the request";

    // The readings of the stored range, in time order, equal to the rows, paged 2 at a time.
    const auto rows = query("SELECT value FROM telemetry_readings WHERE device_id = 1 AND metric = 'water_level' "
                            "AND ts >= now() - interval '24 hours' ORDER BY ts, entry_id");
    std::vector<double> values;
    for (auto page = with_token("/api/nodes/1/readings?metric=water_level&limit=2").second;;) {
        ASSERT_TRUE(page.contains("readings")) << page.dump();
        for (const auto& r : page["readings"]) values.push_back(r["value"].get<double>());
        if (page["next"].is_null() || values.size() >= rows.size()) break;
        page = with_token(page["next"].get<std::string>()).second;
    }
    ASSERT_GE(values.size(), 3u);
    for (std::size_t i = 0; i < values.size() && i < rows.size(); ++i) EXPECT_DOUBLE_EQ(values[i], rows[i][0].as<double>()) << i;
}

TEST_F(Flowgate, AnOpenStreamIsClosedWith4001WhenItsTokenExpires) {
    start_daemon();
    auto client = watch("community/1/updates", "expiring.out", 0, 30, {}, issue_token("1", "4s"));
    ASSERT_EQ(client->wait(20s), 0) << client->output();
    EXPECT_NE(client->output().find("closed by the server: 4001 token expired"), std::string::npos) << client->output();
    EXPECT_FALSE(json_lines(client->output()).empty()) << "it streamed until then";
}

// MessagePack and permessage-deflate clients (Beast's, in ws-cat) get the very events a
// plain JSON client gets.
TEST_F(Flowgate, MsgpackAndDeflateClientsGetTheSameEvents) {
    start_daemon();
    // Every client resumes from the same seq, so that all get the same events whenever they connect.
    auto first = watch("community/1/updates", "first.out", 0, 60, {"--count", "1"});
    ASSERT_EQ(first->wait(60s), 0) << first->output();
    const auto from = json_lines(first->output()).at(0);
    const auto stream = "community/1/updates?since=" + std::to_string(from["seq"].get<std::uint64_t>()) +
                        "&epoch=" + from["epoch"].get<std::string>();
    const std::vector<std::vector<std::string>> encodings{{}, {"--deflate"}, {"--msgpack"}, {"--msgpack", "--deflate"}};
    std::vector<std::unique_ptr<ChildProcess>> clients;
    for (std::size_t i = 0; i < encodings.size(); ++i) {
        auto options = encodings[i];
        options.insert(options.end(), {"--count", "13"});  // RECOVERY and 12 events
        clients.push_back(watch(stream, "encoding" + std::to_string(i) + ".out", 0, 90, options));
    }
    std::vector<std::vector<json>> got;
    for (auto& client : clients) {
        ASSERT_EQ(client->wait(100s), 0) << client->output();
        got.push_back(json_lines(client->output()));
        ASSERT_EQ(got.back().size(), 13u) << client->output();
        EXPECT_EQ(got.back()[0]["type"], "RECOVERY");
        EXPECT_TRUE(got.back()[0]["recovered"].get<bool>()) << got.back()[0].dump();
    }
    for (std::size_t i = 1; i < clients.size(); ++i) {
        for (std::size_t k = 1; k < 13; ++k) EXPECT_EQ(got[i][k], got[0][k]) << "client " << i << ", event " << k;
    }
}

TEST_F(Flowgate, UnknownStreamsAreRefusedBeforeTheUpgrade) {
    start_daemon();
    for (const char* stream : {"community/99/updates", "node/99/telemetry"}) {
        ChildProcess client{FLOWGATE_WS_CAT_BINARY, {"ws://127.0.0.1:" + std::to_string(port_) + "/ws/" + stream, "--timeout", "5"},
                            dir_.path() / "refused.out", {{"FLOWGATE_TOKEN", token_}}};
        EXPECT_EQ(client.wait(10s), 1);
        EXPECT_NE(client.output().find("404"), std::string::npos) << client.output();
    }
}

namespace {

/// (node, entry) of every TELEMETRY_UPDATE in `lines`, and whether one came twice.
std::set<std::pair<int, std::int64_t>> entries_of(const std::vector<json>& lines, bool* duplicate = nullptr) {
    std::set<std::pair<int, std::int64_t>> out;
    for (const auto& u : lines) {
        if (u["type"] != "TELEMETRY_UPDATE") continue;
        if (!out.insert({u["node_id"].get<int>(), u["entry_id"].get<std::int64_t>()}).second && duplicate) *duplicate = true;
    }
    return out;
}

} // namespace

// Live updates never wait for PostgreSQL: with the database unreachable for 30 s, dashboards
// keep receiving every new entry, and once it is back the store catches up with exactly what
// was streamed.
TEST_F(Flowgate, DashboardsStayLiveWhilePostgresqlIsDownAndTheStoreCatchesUp) {
    start_daemon();
    auto client = watch("community/1/updates", "community.out", 0, 120);
    ASSERT_TRUE(eventually([&] { return entries_of(json_lines(client->output())).size() >= 8; }, 20s));

    const auto ready = [&] {
        const auto res = HttpClient("127.0.0.1", port_).get("/readyz");
        return std::to_string(res.status) + " " + json::parse(res.body)["down"].dump();
    };
    EXPECT_EQ(ready(), "200 []");
    const auto outage_start = std::chrono::steady_clock::now();
    set_database_reachable(false);
    const auto before = entries_of(json_lines(client->output()));
    // Not ready while PostgreSQL is out of reach (which part, said), alive all the same.
    EXPECT_TRUE(eventually([&] { return ready() == R"(503 ["database","registry"])"; }, 20s)) << ready();
    const auto not_ready_after = std::chrono::steady_clock::now() - outage_start;
    EXPECT_EQ(HttpClient("127.0.0.1", port_).get("/healthz").status, 200u);
    std::this_thread::sleep_until(outage_start + 30s);
    const auto during_lines = json_lines(client->output());
    const auto during = entries_of(during_lines);
    std::set<int> live_nodes;
    for (const auto& e : during) {
        if (!before.contains(e)) live_nodes.insert(e.first);
    }
    EXPECT_EQ(live_nodes.size(), 8u) << "nodes with new entries streamed while PostgreSQL was down";
    EXPECT_NE(daemon_->output().find("pg-writer"), std::string::npos);
    set_database_reachable(true);
    const auto restored = std::chrono::steady_clock::now();
    EXPECT_TRUE(eventually([&] { return ready() == "200 []"; }, 20s)) << ready();
    std::cout << "/readyz: 503 " << std::chrono::duration_cast<std::chrono::milliseconds>(not_ready_after).count()
              << " ms after PostgreSQL went away, 200 again "
              << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - restored).count()
              << " ms after it came back\n";

    // Everything streamed gets stored, once; nothing is stored that was not streamed.
    std::set<std::pair<int, std::int64_t>> streamed;
    std::map<int, std::int64_t> first_streamed;
    const auto stored_since_first = [&] {
        std::set<std::pair<int, std::int64_t>> stored;
        for (const auto& row : query("SELECT DISTINCT device_id, entry_id FROM telemetry_readings")) {
            const std::pair<int, std::int64_t> e{row[0].as<int>(), row[1].as<std::int64_t>()};
            if (first_streamed.contains(e.first) && e.second >= first_streamed[e.first] && streamed.contains(e)) stored.insert(e);
        }
        return stored;
    };
    bool duplicate = false;
    ASSERT_EQ(daemon_->stop(SIGTERM, 30s), 0) << "the writer could not flush after the outage";
    streamed = entries_of(json_lines(client->output()), &duplicate);
    EXPECT_FALSE(duplicate) << "a dashboard saw an entry twice";
    for (const auto& [node, entry] : streamed) {
        if (!first_streamed.contains(node)) first_streamed[node] = entry;
    }
    EXPECT_EQ(stored_since_first(), streamed) << "streamed entries missing from PostgreSQL";
    // And no entry is stored twice (the readings' primary key), none lost between streamed ones.
    for (const auto& [node, first] : first_streamed) {
        const auto r = query("SELECT count(DISTINCT entry_id) FROM telemetry_readings WHERE device_id = " +
                             std::to_string(node) + " AND entry_id >= " + std::to_string(first))[0];
        std::size_t n = 0;
        for (const auto& e : streamed) n += e.first == node ? 1 : 0;
        EXPECT_EQ(r[0].as<std::size_t>(), n) << "node " << node << ": stored and streamed differ";
    }
    std::cout << "PostgreSQL outage 30 s: " << (during.size() - before.size()) << " entries streamed during it, "
              << streamed.size() << " streamed in all, all stored once\n";
}

// Under systemd (Type=notify), with a real NOTIFY_SOCKET listener as systemd has: READY=1
// only once the daemon can serve, WATCHDOG=1 from its loop, STOPPING=1 on SIGTERM.
TEST_F(Flowgate, TellsSystemdWhenItIsReadyPetsTheWatchdogAndSaysWhenItStops) {
    const auto socket_path = (dir_.path() / "notify.sock").string();
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    const timeval second{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &second, sizeof second);
    struct Datagram {
        std::string text;
        std::chrono::steady_clock::time_point at;
    };
    // The next datagram containing `what`, within `timeout`; the others are kept in `seen`.
    std::vector<Datagram> seen;
    const auto next = [&](std::string_view what, std::chrono::seconds timeout) -> std::optional<std::string> {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            char buffer[4096];
            const auto n = ::recv(fd, buffer, sizeof buffer, 0);
            if (n <= 0) continue;
            seen.push_back({std::string(buffer, static_cast<std::size_t>(n)), std::chrono::steady_clock::now()});
            if (seen.back().text.find(what) != std::string::npos) return seen.back().text;
        }
        return std::nullopt;
    };

    daemon_ = start_instance(port_, {{"NOTIFY_SOCKET", socket_path}, {"WATCHDOG_USEC", "1000000"}});
    const auto ready = next("READY=1", 30s);
    ASSERT_TRUE(ready) << "no READY=1";
    EXPECT_NE(ready->find("STATUS=ready, polling 8 devices"), std::string::npos) << *ready;
    // Ready means ready: the listener, PostgreSQL, Redis and the registry are up.
    EXPECT_EQ(HttpClient("127.0.0.1", port_).get("/readyz").status, 200u);
    for (const auto& d : seen) EXPECT_EQ(d.text.find("STOPPING"), std::string::npos);

    // WATCHDOG=1 every half WatchdogSec (500 ms here).
    const auto watch_start = std::chrono::steady_clock::now();
    std::size_t pets = 0;
    while (std::chrono::steady_clock::now() - watch_start < 3s) {
        if (next("WATCHDOG=1", 2s)) ++pets;
    }
    EXPECT_GE(pets, 4u);
    EXPECT_LE(pets, 8u);

    daemon_->stop(SIGTERM, 0ms);  // does not wait: the exit is awaited below
    EXPECT_TRUE(next("STOPPING=1", 10s)) << "no STOPPING=1";
    EXPECT_EQ(daemon_->wait(30s), 0);
    ::close(fd);
}

// /metrics in the Prometheus text format, and its figures move as the daemon works.
TEST_F(Flowgate, MetricsAreScrapedInThePrometheusFormatAndMove) {
    start_daemon();
    const auto scrape = [&] {
        const auto res = HttpClient("127.0.0.1", port_).get("/metrics");
        EXPECT_EQ(res.status, 200u);
        EXPECT_EQ(res.headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
        std::map<std::string, double> values;
        std::istringstream lines{res.body};
        for (std::string line; std::getline(lines, line);) {
            if (line.empty() || line.starts_with('#')) continue;
            const auto space = line.rfind(' ');
            values[line.substr(0, space)] = std::stod(line.substr(space + 1));
        }
        return values;
    };
    auto client = watch("community/1/updates", "metrics.out", 0, 60, {"--count", "20"});
    ASSERT_EQ(client->wait(60s), 0) << client->output();
    const auto first = scrape();
    std::this_thread::sleep_for(std::chrono::seconds{2 * poll_interval_s + 1});
    const auto second = scrape();
    for (const auto* name : {R"(flowgate_polls_total{outcome="ok"})", "flowgate_readings_stored_total",
                             "flowgate_published_messages_total", "flowgate_entries_read_total"}) {
        ASSERT_TRUE(first.contains(name) && second.contains(name)) << name;
        EXPECT_GT(second.at(name), first.at(name)) << name << " did not move";
    }
    EXPECT_GE(first.at("flowgate_ws_deliveries_total"), 20) << "ws-cat's 20 messages";
    EXPECT_EQ(first.at("flowgate_devices"), 8);
    EXPECT_EQ(second.at("flowgate_database_up"), 1);
    EXPECT_EQ(second.at("flowgate_breaker_state{host=\"127.0.0.1:" + std::to_string(sim_port_) + "\"}"), 0);
    EXPECT_EQ(second.at("flowgate_ws_sessions"), 0) << "ws-cat has gone";

    // Latency histograms: every poll, publish and delivery observed, the +Inf bucket equal
    // to the count, and (on loopback) nearly all within a second.
    const auto host = "host=\"127.0.0.1:" + std::to_string(sim_port_) + "\"";
    const auto polls = second.at("flowgate_poll_duration_seconds_count{" + host + "}");
    EXPECT_GT(polls, first.at("flowgate_poll_duration_seconds_count{" + host + "}"));
    EXPECT_EQ(second.at("flowgate_poll_duration_seconds_bucket{" + host + ",le=\"+Inf\"}"), polls);
    EXPECT_GE(second.at("flowgate_poll_duration_seconds_bucket{" + host + ",le=\"1\"}"), polls * 0.9);
    EXPECT_GT(second.at("flowgate_poll_duration_seconds_sum{" + host + "}"), 0);
    EXPECT_GT(second.at("flowgate_poll_to_publish_seconds_count"), first.at("flowgate_poll_to_publish_seconds_count"));
    EXPECT_EQ(second.at("flowgate_poll_to_publish_seconds_count"), second.at("flowgate_published_messages_total"));
    EXPECT_GE(first.at("flowgate_publish_to_delivery_seconds_count"), 20) << "ws-cat's 20 messages";
    EXPECT_GE(first.at("flowgate_publish_to_delivery_seconds_bucket{le=\"0.1\"}"),
              first.at("flowgate_publish_to_delivery_seconds_count") * 0.9);
    const auto budgets = std::count_if(second.begin(), second.end(),
                                       [](const auto& v) { return v.first.starts_with("flowgate_budget_tokens{key_id="); });
    EXPECT_GE(budgets, 2) << "the public channels' host and at least one private key";
}

// SIGHUP while a dashboard is connected: a file that does not load changes nothing; a good
// one applies its log level and budgets at once, says which other changes wait for a
// restart, and reloads the registry (here a change made without its triggers) — and the
// dashboard's stream goes on.
TEST_F(Flowgate, SighupReloadsLogLevelBudgetsAndRegistryWithoutDroppingClients) {
    start_daemon();
    auto client = watch("community/1/updates", "hup.out", 0, 120);
    ASSERT_TRUE(eventually([&] { return query("SELECT count(DISTINCT device_id) FROM telemetry_readings")[0][0].as<int>() == 8; },
                           20s));
    const auto requests_in = [&](std::chrono::seconds window) {
        sim_requests();
        std::this_thread::sleep_for(window);
        return sim_requests()["total"]["requests"].get<long>();
    };
    const auto before = requests_in(6s);
    const auto log_has = [&](const std::string& text) { return daemon_->output().find(text) != std::string::npos; };
    const auto toml = path("flowgate.toml");
    const std::string original{std::istreambuf_iterator<char>{std::ifstream{toml}.rdbuf()}, {}};
    const auto replace = [](std::string text, const std::string& from, const std::string& to) {
        const auto at = text.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        return at == std::string::npos ? text : text.replace(at, from.size(), to);
    };

    std::ofstream{toml} << replace(original, "budget_per_minute = 6000", "budget_per_minute = \"many\"");
    ::kill(daemon_->pid(), SIGHUP);
    ASSERT_TRUE(eventually([&] { return log_has("configuration not reloaded; the running one stays"); }, 5s));
    EXPECT_TRUE(log_has("budget_per_minute")) << "the error names the key";

    // Info instead of debug; 6 requests a minute per key, one at once; a longer timeout (a
    // restart applies it). Sump-1 disabled behind the triggers' back.
    auto next = replace(original, "level = \"debug\"", "level = \"info\"");
    next = replace(next, "budget_per_minute = 6000", "budget_per_minute = 6\nbudget_burst = 1");
    std::ofstream{toml} << replace(next, "request_timeout = \"3s\"", "request_timeout = \"4s\"");
    sql("ALTER TABLE nodes DISABLE TRIGGER nodes_notify; UPDATE nodes SET enabled = false WHERE id = 3; "
        "ALTER TABLE nodes ENABLE TRIGGER nodes_notify");
    const auto lines_before = json_lines(client->output()).size();
    ::kill(daemon_->pid(), SIGHUP);
    ASSERT_TRUE(eventually([&] { return log_has("\"registry reloaded\""); }, 5s));
    const auto log = daemon_->output();
    const auto reloaded_at = log.find("\"configuration reloaded\"");
    ASSERT_NE(reloaded_at, std::string::npos);
    EXPECT_NE(log.find(R"("msg":"changed settings apply only after a restart","sections":"thingspeak")"), std::string::npos);
    EXPECT_NE(log.find(R"("msg":"budget changed")"), std::string::npos);
    EXPECT_NE(log.find(R"("devices_removed":1,"devices":7)"), std::string::npos) << "Sump-1 is no longer polled";

    const auto after = requests_in(10s);
    std::cout << "requests to the simulator: " << before << " in 6 s before the reload, " << after << " in 10 s after\n";
    EXPECT_LT(after * 6, before * 10 / 3) << "the new budget holds polling back";
    const auto tail_after = daemon_->output().substr(reloaded_at);
    EXPECT_EQ(tail_after.find("\"level\":\"debug\""), std::string::npos) << "debug lines after the reload";
    EXPECT_GE(before, 6 * 8 / poll_interval_s) << "debug logging was on and polling at its interval before";

    // The dashboard was not dropped: the same stream goes on.
    EXPECT_TRUE(eventually([&] { return json_lines(client->output()).size() > lines_before + 2; }, 20s));
    EXPECT_FALSE(client->wait(0s).has_value()) << client->output();
    ASSERT_EQ(daemon_->stop(SIGTERM, 15s), 0);
}

// Two instances on one Redis poll the same devices: the publisher's dedupe makes each entry one
// message with one seq, and a client of either instance sees the same sequence.
TEST_F(Flowgate, TwoInstancesOnOneRedisGiveEveryClientEachMessageOnce) {
    start_daemon();
    unsigned short second_port = 0;
    auto second = start_instance(second_port);
    auto a = watch("community/1/updates", "a.out", port_, 120);
    auto b = watch("community/1/updates", "b.out", second_port, 120);
    ASSERT_TRUE(eventually([&] { return entries_of(json_lines(a->output())).size() >= 40; }, 40s));
    std::this_thread::sleep_for(3s);
    ASSERT_EQ(daemon_->stop(SIGTERM, 15s), 0);
    ASSERT_EQ(second->stop(SIGTERM, 15s), 0);

    std::map<std::uint64_t, std::pair<int, std::int64_t>> by_seq_a, by_seq_b;
    for (auto [lines, by_seq] : {std::pair{json_lines(a->output()), &by_seq_a}, std::pair{json_lines(b->output()), &by_seq_b}}) {
        bool duplicate = false;
        entries_of(lines, &duplicate);
        EXPECT_FALSE(duplicate) << "an entry arrived twice";
        std::uint64_t last = 0;
        for (const auto& u : lines) {
            const auto seq = u["seq"].get<std::uint64_t>();
            if (last != 0) {
                EXPECT_EQ(seq, last + 1) << "seqs must follow each other";
            }
            last = seq;
            // NODE_STATUS and ALERT events have no entry id.
            (*by_seq)[seq] = {u["node_id"].is_number() ? u["node_id"].get<int>() : 0, u.value("entry_id", std::int64_t{-1})};
        }
    }
    std::size_t common = 0;
    for (const auto& [seq, entry] : by_seq_a) {
        if (!by_seq_b.contains(seq)) continue;
        ++common;
        EXPECT_EQ(by_seq_b[seq], entry) << "seq " << seq << " is a different entry on the other instance";
    }
    EXPECT_GE(common, 30u);
}

// A real browser's WebSocket (masked frames, permessage-deflate offered and declined, its own
// close handshake) against the daemon's hand-written framing, and ?since= recovery from it.
TEST_F(Flowgate, ChromiumStreamsPingsClosesAndRecoversWithSince) {
    start_daemon();
    ChildProcess browser{"/usr/bin/node",
                         {std::string{FLOWGATE_SOURCE_DIR} + "/tests/e2e/browser/ws_chromium.mjs",
                          "ws://127.0.0.1:" + std::to_string(port_) + "/ws/community/1/updates?token=" + token_,
                          "http://127.0.0.1:" + std::to_string(sim_port_) + "/_sim/stats", "3"},
                         dir_.path() / "chromium.out"};
    ASSERT_EQ(browser.wait(90s), 0) << browser.output();
    const auto lines = json_lines(browser.output());
    ASSERT_FALSE(lines.empty()) << browser.output();
    const auto& r = lines.back();
    EXPECT_EQ(r["extensions"], "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        << "Chromium offers permessage-deflate and inflates what the server compressed";
    ASSERT_EQ(r["messages"].size(), 3u);
    EXPECT_EQ(r["messages"][0]["type"], "TELEMETRY_UPDATE");
    EXPECT_TRUE(r["pong"].get<bool>());
    EXPECT_EQ(r["close"]["code"], 1000);
    EXPECT_TRUE(r["close"]["clean"].get<bool>()) << "the close handshake completed";
    EXPECT_EQ(r["recovery"]["type"], "RECOVERY");
    EXPECT_TRUE(r["recovery"]["recovered"].get<bool>()) << r["recovery"].dump();
    const auto from = r["messages"][1]["seq"].get<std::uint64_t>();
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(r["resumed"][i], from + 1 + i) << "the messages right after since";
}

// The operator's commands against the demo installation while the daemon runs.
TEST_F(Flowgate, OperatorCommandsListImportAndCheckDevices) {
    start_daemon();
    const auto flowgate = [&](std::vector<std::string> args, const std::string& name) {
        args.insert(args.end(), {"--config", path("flowgate.toml")});
        ChildProcess command{FLOWGATE_BINARY, args, dir_.path() / name, env()};
        const auto status = command.wait(30s);
        return std::pair{status.value_or(-1), command.output()};
    };
    const auto [listed, list] = flowgate({"devices", "list"}, "list.out");
    EXPECT_EQ(listed, 0) << list;
    EXPECT_NE(list.find("OHT-1 Jayanagar Ward 7"), std::string::npos) << list;
    EXPECT_NE(list.find("8 nodes"), std::string::npos) << list;
    EXPECT_EQ(list.find("DEMOREADKEY"), std::string::npos) << "no read key in: " << list;

    auto [checked, check] = flowgate({"channel", "check", "2"}, "check.out");
    EXPECT_EQ(checked, 0) << check;
    EXPECT_NE(check.find("ok: every mapped field would be stored"), std::string::npos) << check;
    EXPECT_EQ(check.find("DEMOREADKEY"), std::string::npos) << check;
    sim_control("/_sim/channels/2100101/fields/2", R"({"label":"Temp"})");
    std::tie(checked, check) = flowgate({"channel", "check", "1"}, "check2.out");
    EXPECT_EQ(checked, 1) << check;
    EXPECT_NE(check.find(R"(field2 "Temp" -> water_temperature (float °C, valid 0..60): REFUSED (schema: )"), std::string::npos) << check;

    std::ofstream{dir_.path() / "bad.csv"} << "community,node,category,channel_id,field,metric,label\n"
                                           << "Jayanagar Ward 7,Sump-3 Ward 7,Sump,2100103,1,water_level,Sump Level (cm)\n"
                                           << "Jayanagar Ward 7,Sump-4 Ward 7,Sump,2100103,1,Water Level,Sump Level (cm)\n";
    const auto [refused, bad] = flowgate({"devices", "import", path("bad.csv")}, "bad.out");
    EXPECT_EQ(refused, 1) << bad;
    EXPECT_NE(bad.find("bad.csv: line 3: metric 'Water Level' must be lower case"), std::string::npos) << bad;
    EXPECT_NE(bad.find("1 problem, nothing imported"), std::string::npos) << bad;
    EXPECT_EQ(db_->count("SELECT count(*) FROM nodes"), 8);

    // A new node on an existing channel: the running daemon polls it without a restart.
    std::ofstream{dir_.path() / "good.csv"} << "community,node,category,channel_id,polling_interval_s,field,metric,label\n"
                                            << "Jayanagar Ward 7,Sump-3 Ward 7,Sump,2100103,2,1,water_level,Sump Level (cm)\n";
    const auto [imported, good] = flowgate({"devices", "import", path("good.csv")}, "good.out");
    EXPECT_EQ(imported, 0) << good;
    EXPECT_NE(good.find("1 nodes (1 new, 0 updated), 1 field mappings"), std::string::npos) << good;
    const auto id = db_->value("SELECT id FROM nodes WHERE name = 'Sump-3 Ward 7'");
    ASSERT_TRUE(id);
    EXPECT_TRUE(eventually([&] { return db_->count("SELECT count(*) FROM telemetry_readings WHERE device_id = " + *id) > 0; }, 30s))
        << tail(daemon_->output());

    const auto [helped, help] = flowgate({"devices", "--help"}, "help.out");
    EXPECT_EQ(helped, 0);
    EXPECT_NE(help.find("one row per field mapping"), std::string::npos) << help;
}

// The wall dashboard in a real browser: cards, a live change within 2 s, a device going
// Offline, and a daemon restart under the open page. The screenshot stays in
// build/test-artifacts/dashboard.png.
TEST_F(Flowgate, TheDashboardShowsLiveCardsAnOfflineDeviceAndRecoversFromARestart) {
    db_->exec("UPDATE nodes SET polling_interval_s = 1 WHERE id = 1");
    db_->exec("UPDATE nodes SET stale_after_s = 2, offline_after_s = 4 WHERE id = 3");
    start_daemon();
    // The page itself is served without a token; everything it asks for needs one.
    const auto index = HttpClient{"127.0.0.1", port_}.get("/");
    ASSERT_EQ(index.status, 200u);
    EXPECT_EQ(index.headers.at("content-type"), "text/html; charset=utf-8");
    EXPECT_NE(index.body.find("/dashboard.js"), std::string::npos);

    std::filesystem::create_directories(FLOWGATE_ARTIFACTS_DIR);
    const auto screenshot = std::string{FLOWGATE_ARTIFACTS_DIR} + "/dashboard.png";
    std::filesystem::remove(screenshot);
    ChildProcess browser{"/usr/bin/node",
                         {std::string{FLOWGATE_SOURCE_DIR} + "/tests/e2e/browser/dashboard_chromium.mjs",
                          "http://127.0.0.1:" + std::to_string(port_) + "/?community=1&token=" + token_,
                          "http://127.0.0.1:" + std::to_string(sim_port_), dir_.path().string(), screenshot},
                         dir_.path() / "dashboard.out"};
    const auto running = [&] { return !browser.wait(0ms).has_value(); };
    ASSERT_TRUE(eventually([&] { return browser.output().find(R"({"step":"restart"})") != std::string::npos || !running(); }, 120s));
    ASSERT_TRUE(running()) << browser.output();
    // Down for a few seconds, back on the same port; the page was never reloaded.
    ASSERT_EQ(daemon_->stop(SIGTERM, 15s), 0) << tail(daemon_->output());
    std::this_thread::sleep_for(3s);
    unsigned short port = 0;
    daemon_ = start_instance(port, {{"FLOWGATE_HTTP_LISTEN", "127.0.0.1:" + std::to_string(port_)}});
    ASSERT_EQ(port, port_);
    std::ofstream{dir_.path() / "restarted"} << "yes\n";
    ASSERT_EQ(browser.wait(120s), 0) << browser.output();

    const auto lines = json_lines(browser.output());
    ASSERT_FALSE(lines.empty()) << browser.output();
    const auto& r = lines.back();
    std::cout << "dashboard: " << r.dump() << '\n';
    EXPECT_EQ(r["cards"].size(), 8u) << r.dump();
    EXPECT_EQ(r["cards"][0], "OHT-1 Jayanagar Ward 7");
    EXPECT_FALSE(r["token_left_in_address_bar"].get<bool>());
    EXPECT_LT(r["change_ms"].get<int>(), 2000) << "a new simulator entry reaches its card within 2 s";
    EXPECT_NEAR(r["oht"]["value"].get<double>(), r["oht"]["expected"].get<double>(), 1e-9) << r["oht"].dump();
    EXPECT_EQ(r["oht"]["unit"], "m");
    EXPECT_TRUE(r["oht"]["fill"].get<std::string>().ends_with("% full")) << r["oht"].dump();
    EXPECT_GT(r["oht"]["spark"].get<int>(), 2) << "a sparkline from the history API";
    EXPECT_EQ(r["offline_text"], "Offline");
    EXPECT_TRUE(r["reconnecting_text"].get<std::string>().starts_with("reconnecting")) << r.dump();
    EXPECT_TRUE(r["note"].get<std::string>().starts_with("reconnected: recovered ")) << r.dump();
    EXPECT_TRUE(r["live_after_restart"].get<bool>());
    EXPECT_EQ(r["errors"], json::array()) << "no script errors on the page";
    EXPECT_TRUE(std::filesystem::file_size(screenshot) > 10'000) << screenshot;
}
