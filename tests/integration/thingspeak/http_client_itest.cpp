// The ThingSpeak HTTP(S) client (and a device's polls through it) against flowgate-sim and a real
// TLS server (openssl s_server).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>

#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "child_process.hpp"
#include "flowgate/sources/thingspeak_poll.hpp"
#include "flowgate/thingspeak/http_client.hpp"

using namespace std::chrono_literals;
using namespace flowgate::thingspeak;
using flowgate::test::ChildProcess;
using flowgate::test::TempDir;

namespace {

std::shared_ptr<std::string> log_sink = std::make_shared<std::string>();

flowgate::obs::Logger test_logger() {
    return flowgate::obs::make_string_logger(log_sink, flowgate::obs::LogLevel::debug, flowgate::obs::LogFormat::json, "test");
}

/// Runs the loop until `n` results arrived or `limit` passed.
std::vector<FetchResult> collect(boost::asio::io_context& ioc, std::vector<FetchResult>& results, std::size_t n,
                                 std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (results.size() < n && std::chrono::steady_clock::now() < deadline) {
        ioc.restart();
        ioc.run_for(20ms);
    }
    return results;
}

FetchResult fetch(boost::asio::io_context& ioc, HttpClient& client, const std::string& target) {
    std::vector<FetchResult> results;
    client.get(target, [&](FetchResult r) { results.push_back(std::move(r)); });
    collect(ioc, results, 1);
    if (results.empty()) throw std::runtime_error{"no result for " + target};
    return results.front();
}

unsigned short free_port() {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a{ioc, {boost::asio::ip::make_address("127.0.0.1"), 0}};
    return a.local_endpoint().port();
}

class HttpClientSim : public ::testing::Test {
protected:
    void SetUp() override {
        sim_ = std::make_unique<ChildProcess>(
            FLOWGATE_SIM_BINARY,
            std::vector<std::string>{"--config", std::string{FLOWGATE_SOURCE_DIR} + "/config/sim-demo.toml", "--listen",
                                     "127.0.0.1:0", "--port-file", (dir_.path() / "port").string()},
            dir_.path() / "sim.log");
        port_ = flowgate::test::wait_for_port_file(dir_.path() / "port", 10s);
    }

    HttpClientOptions options() {
        HttpClientOptions o;
        o.base_url = "http://127.0.0.1:" + std::to_string(port_);
        o.request_timeout = 2s;
        return o;
    }

    void sim_control(const std::string& target, const std::string& body) {
        // The client sends GETs only; the control API takes its POST through a raw socket.
        boost::asio::ip::tcp::iostream s{"127.0.0.1", std::to_string(port_)};
        s << "POST " << target << " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
          << body.size() << "\r\nConnection: close\r\n\r\n" << body << std::flush;
        std::string status;
        std::getline(s, status);
        ASSERT_NE(status.find(" 200 "), std::string::npos) << status;
    }

    boost::asio::io_context ioc_;
    TempDir dir_;
    std::unique_ptr<ChildProcess> sim_;
    unsigned short port_ = 0;
};

/// The demo's OHT-1 (channel 2100101, public) with its level field.
flowgate::ThingSpeakDevice oht1() {
    flowgate::ThingSpeakDevice device;
    device.device_id = 1;
    device.channel_id = 2100101;
    flowgate::FieldMapping level;
    level.field = 1;
    level.canonical_name = "water_level";
    level.expected_label = "Water Level (cm)";
    device.fields = {level};
    return device;
}

} // namespace

TEST_F(HttpClientSim, ReusesOneKeepAliveConnectionForSequentialRequests) {
    HttpClient client{ioc_, options(), test_logger()};
    for (int i = 0; i < 20; ++i) {
        auto r = fetch(ioc_, client, "/channels/2100101/feeds/last.json");
        ASSERT_TRUE(r.ok()) << r.error_message;
        EXPECT_NE(r.body.find("entry_id"), std::string::npos);
    }
    EXPECT_EQ(client.connections_opened(), 1u);
}

TEST_F(HttpClientSim, CapsConcurrentConnections) {
    auto o = options();
    o.max_connections = 3;
    HttpClient client{ioc_, o, test_logger()};
    std::vector<FetchResult> results;
    for (int i = 0; i < 12; ++i) client.get("/channels/2100103/feeds.json?results=50", [&](FetchResult r) { results.push_back(std::move(r)); });
    collect(ioc_, results, 12);
    ASSERT_EQ(results.size(), 12u);
    for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.error_message;
    EXPECT_LE(client.connections_opened(), 3u);
}

TEST_F(HttpClientSim, StatusesArriveAsResponsesNotErrors) {
    HttpClient client{ioc_, options(), test_logger()};
    auto denied = fetch(ioc_, client, "/channels/2100102/feeds.json");
    EXPECT_EQ(denied.error, FetchErrorKind::none);
    EXPECT_EQ(denied.status, 400u);
    EXPECT_EQ(denied.body, "-1");
    sim_control("/_sim/faults", R"({"outage":"503"})");
    EXPECT_EQ(fetch(ioc_, client, "/channels/2100101/feeds/last.json").status, 503u);
}

TEST_F(HttpClientSim, HangIsATimeoutAndResetIsANetworkError) {
    HttpClient client{ioc_, options(), test_logger()};
    sim_control("/_sim/faults", R"({"channel":2100101,"outage":"hang"})");
    const auto start = std::chrono::steady_clock::now();
    auto hung = fetch(ioc_, client, "/channels/2100101/feeds/last.json?api_key=SECRETKEY42");
    EXPECT_EQ(hung.error, FetchErrorKind::timeout) << hung.error_message;
    EXPECT_GE(std::chrono::steady_clock::now() - start, 2s);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
    EXPECT_EQ(hung.error_message.find("SECRETKEY42"), std::string::npos);
    sim_control("/_sim/faults", R"({"channel":2100101,"outage":"reset"})");
    auto reset = fetch(ioc_, client, "/channels/2100101/feeds/last.json");
    EXPECT_EQ(reset.error, FetchErrorKind::network) << reset.error_message;
    // Other channels are still served, over the same client.
    EXPECT_TRUE(fetch(ioc_, client, "/channels/2100103/feeds/last.json").ok());
    EXPECT_EQ(log_sink->find("SECRETKEY42"), std::string::npos);
}

TEST_F(HttpClientSim, BodyOverTheLimitIsRefused) {
    auto o = options();
    o.max_body_bytes = 4096;
    HttpClient client{ioc_, o, test_logger()};
    auto big = fetch(ioc_, client, "/channels/2100101/feeds.json?results=8000");
    EXPECT_EQ(big.error, FetchErrorKind::bad_response);
    EXPECT_NE(big.error_message.find("4096"), std::string::npos);
}

TEST_F(HttpClientSim, HttpsToAPlainHttpServerIsATlsError) {
    auto o = options();
    o.base_url = "https://127.0.0.1:" + std::to_string(port_);
    HttpClient client{ioc_, o, test_logger()};
    EXPECT_EQ(fetch(ioc_, client, "/channels/2100101/feeds/last.json").error, FetchErrorKind::tls);
}

TEST_F(HttpClientSim, StopDropsCallbacks) {
    HttpClient client{ioc_, options(), test_logger()};
    sim_control("/_sim/faults", R"({"latency_ms":300})");
    bool called = false;
    client.get("/channels/2100101/feeds/last.json", [&](FetchResult) { called = true; });
    ioc_.run_for(50ms);
    client.stop();
    ioc_.restart();
    ioc_.run_for(500ms);
    EXPECT_FALSE(called);
}

// A device's polls against the simulator in real time (15 s between a channel's entries):
// after a read with nothing new comes the last_entry_id probe, and when the probe says the
// channel moved, a read of just the rows it counted.
TEST_F(HttpClientSim, AChannelWithNothingNewIsProbedAndThenReadForTheNewRowsOnly) {
    HttpClient client{ioc_, options(), test_logger()};
    flowgate::sources::ThingSpeakPoll poll{oht1()};
    struct Step {
        std::string target;
        flowgate::sources::PollOutcome outcome;
    };
    const auto step = [&] {
        Step s{poll.target(), {}};
        s.outcome = poll.on_response(fetch(ioc_, client, s.target),
                                     std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
        poll.commit(s.outcome, s.outcome.entries.size());
        return s;
    };

    const auto history = step();
    ASSERT_FALSE(history.outcome.entries.empty()) << history.target;
    // A 15 s channel in real time: within a few reads one finds nothing new.
    for (int i = 0; i < 5 && !poll.probing(); ++i) step();
    ASSERT_TRUE(poll.probing());
    const auto cursor = *poll.cursor().entry_id;
    const auto quiet = step();
    EXPECT_EQ(quiet.target, "/channels/2100101/feeds/last_entry_id.json");
    ASSERT_TRUE(quiet.outcome.fetched);
    EXPECT_FALSE(quiet.outcome.read_now) << "nothing new yet";

    sim_control("/_sim/time", R"({"advance_seconds":45})");
    const auto moved = step();
    ASSERT_TRUE(moved.outcome.read_now) << moved.target;
    const auto read = step();
    const auto n = read.outcome.entries.size();
    ASSERT_GE(n, 2u) << "45 s of a 15 s channel";
    EXPECT_EQ(read.target, "/channels/2100101/feeds.json?results=" + std::to_string(n));
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(read.outcome.entries[i].entry_id, cursor + 1 + static_cast<std::int64_t>(i));
    EXPECT_TRUE(read.outcome.errors.empty());
    EXPECT_EQ(poll.cursor().entry_id, cursor + static_cast<std::int64_t>(n));
}

// 40 hours missed on a 15 s channel (9,600 entries, more than the 8000 a read returns): the
// window read and the pages back with `end` bring every one of them, once, and then the
// cursor stands on the newest.
TEST_F(HttpClientSim, ALongOutageIsBackfilledFromTheSimulatorWithoutAGap) {
    HttpClient client{ioc_, options(), test_logger()};
    flowgate::sources::ThingSpeakPoll poll{oht1()};
    std::set<std::int64_t> read;
    std::vector<std::string> targets;
    const auto step = [&] {
        targets.push_back(poll.target());
        auto out = poll.on_response(fetch(ioc_, client, targets.back()),
                                    std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
        EXPECT_TRUE(out.fetched) << targets.back();
        for (const auto& e : out.errors) ADD_FAILURE() << e.message;
        for (const auto& e : out.entries) EXPECT_TRUE(read.insert(e.entry_id).second) << "entry " << e.entry_id << " twice";
        poll.commit(out, out.entries.size());
        return out;
    };
    step();
    const auto cursor = *poll.cursor().entry_id;
    read.clear();
    targets.clear();

    sim_control("/_sim/time", R"({"advance_seconds":144000})");
    for (int i = 0; i < 6 && step().read_now; ++i) {
    }
    EXPECT_FALSE(poll.backfilling());
    ASSERT_FALSE(read.empty());
    const auto newest = *read.rbegin();
    EXPECT_GE(newest - cursor, 9'600);
    EXPECT_EQ(*read.begin(), cursor + 1);
    EXPECT_EQ(static_cast<std::int64_t>(read.size()), newest - cursor) << "a gap in what was read";
    EXPECT_EQ(poll.cursor().entry_id, newest);
    ASSERT_EQ(targets.size(), 2u) << "the window read and one page back";
    EXPECT_NE(targets[1].find("&end="), std::string::npos) << targets[1];
}

// The channel is cleared (its entry ids restart at 1) and 40 h pass before the next poll:
// the new epoch is read from its entry 1, paging back, every entry once.
TEST_F(HttpClientSim, AClearedChannelIsReadFromItsFirstNewEntryWhateverItHolds) {
    HttpClient client{ioc_, options(), test_logger()};
    flowgate::sources::ThingSpeakPoll poll{oht1()};
    const auto step = [&](std::set<std::int64_t>& read) {
        auto out = poll.on_response(fetch(ioc_, client, poll.target()),
                                    std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
        for (const auto& e : out.errors) ADD_FAILURE() << e.message;
        for (const auto& e : out.entries) EXPECT_TRUE(read.insert(e.entry_id).second) << "entry " << e.entry_id << " twice";
        poll.commit(out, out.entries.size());
        return out;
    };
    std::set<std::int64_t> before, after;
    step(before);
    ASSERT_GT(*poll.cursor().entry_id, 20'000);
    sim_control("/_sim/channels/2100101/clear", "{}");
    sim_control("/_sim/time", R"({"advance_seconds":144000})");
    EXPECT_TRUE(step(after).new_epoch);
    for (int i = 0; i < 6 && poll.backfilling(); ++i) step(after);
    EXPECT_FALSE(poll.backfilling());
    ASSERT_FALSE(after.empty());
    EXPECT_EQ(*after.begin(), 1) << "from the new epoch's first entry";
    EXPECT_GE(after.size(), 9'600u);
    EXPECT_EQ(static_cast<std::int64_t>(after.size()), *after.rbegin()) << "a gap in what was read";
    EXPECT_EQ(poll.cursor().channel_epoch, 1);
    EXPECT_EQ(poll.cursor().entry_id, *after.rbegin());
}

// A new device on a channel holding more than a read since its history horizon (36 h of a
// 15 s channel: 8,640 entries): the first read and one page back bring every entry from the
// horizon on, once, and none before it.
TEST_F(HttpClientSim, AFirstReadGoesBackToTheHistoryHorizon) {
    HttpClient client{ioc_, options(), test_logger()};
    sim_control("/_sim/time", R"({"advance_seconds":259200})"); // the channel holds 3 days and more
    const auto newest = nlohmann::json::parse(fetch(ioc_, client, "/channels/2100101/feeds.json?results=1").body)["feeds"][0];
    const auto horizon = flowgate::parse_iso8601(newest["created_at"].get<std::string>())->utc - std::chrono::hours{36};
    flowgate::sources::ThingSpeakPoll poll{oht1(), horizon};
    std::set<std::int64_t> read;
    int reads = 0;
    for (bool more = true; more && reads < 6; ++reads) {
        auto out = poll.on_response(fetch(ioc_, client, poll.target()),
                                    std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
        for (const auto& e : out.errors) ADD_FAILURE() << e.message;
        for (const auto& e : out.entries) {
            EXPECT_TRUE(read.insert(e.entry_id).second) << "entry " << e.entry_id << " twice";
            EXPECT_GE(e.created_at.utc, horizon) << "entry " << e.entry_id << " is older than the horizon";
        }
        poll.commit(out, out.entries.size());
        more = out.read_now;
    }
    EXPECT_EQ(reads, 2) << "the first read and one page back";
    ASSERT_FALSE(read.empty());
    EXPECT_EQ(*read.rbegin(), newest["entry_id"].get<std::int64_t>());
    EXPECT_EQ(static_cast<std::int64_t>(read.size()), *read.rbegin() - *read.begin() + 1) << "a gap in what was read";
    EXPECT_GE(read.size(), 8'600u);
    const auto before = nlohmann::json::parse(
        fetch(ioc_, client, "/channels/2100101/feeds/" + std::to_string(*read.begin() - 1) + ".json").body);
    EXPECT_LT(flowgate::parse_iso8601(before["created_at"].get<std::string>())->utc, horizon) << "the entry before is not wanted";
    EXPECT_EQ(poll.cursor().entry_id, *read.rbegin());
}

TEST(HttpClient, RefusedConnectionAndBadBaseUrl) {
    boost::asio::io_context ioc;
    HttpClientOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(free_port());
    HttpClient client{ioc, o, test_logger()};
    auto r = fetch(ioc, client, "/channels/1/feeds.json");
    EXPECT_EQ(r.error, FetchErrorKind::network);
    EXPECT_NE(r.error_message.find("connecting"), std::string::npos);
    for (const char* bad : {"ftp://x", "http://", "http://host/path", "api.thingspeak.com", "http://h:port"}) {
        o.base_url = bad;
        EXPECT_THROW((HttpClient{ioc, o, test_logger()}), std::invalid_argument) << bad;
    }
}

// A name server that never answers: the request still ends at its deadline. The test gives
// itself a private /etc/resolv.conf in a mount namespace of its own (root only: skipped
// elsewhere). ctest runs each test in its own process, before any resolver thread exists.
TEST(HttpClient, AResolverThatNeverAnswersEndsAtTheRequestDeadline) {
    if (::unshare(CLONE_NEWNS) != 0) GTEST_SKIP() << "no mount namespace (needs root): " << std::strerror(errno);
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);
    TempDir dir;
    const auto conf = dir.path() / "resolv.conf";
    std::ofstream{conf} << "nameserver 127.0.0.77\noptions timeout:3 attempts:1\n";
    ASSERT_EQ(::mount(conf.c_str(), "/etc/resolv.conf", nullptr, MS_BIND, nullptr), 0) << std::strerror(errno);
    boost::asio::io_context ioc;
    // Queries arrive here and stay unanswered.
    boost::asio::ip::udp::socket silent{ioc, {boost::asio::ip::make_address("127.0.0.77"), 53}};

    HttpClientOptions o;
    o.base_url = "http://sim.flowgate.test:8080";
    o.request_timeout = 1s;
    HttpClient client{ioc, o, test_logger()};
    const auto start = std::chrono::steady_clock::now();
    const auto r = fetch(ioc, client, "/channels/1/feeds.json");
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(r.error, FetchErrorKind::timeout) << r.error_message;
    EXPECT_EQ(r.error_message, "resolving sim.flowgate.test: no answer within the request timeout");
    EXPECT_GE(took, 1s);
    EXPECT_LT(took, 1500ms) << "the resolver's own 3 s timeout must not be waited for";
}

class HttpClientTls : public ::testing::Test {
protected:
    void SetUp() override {
        const auto cert = (dir_.path() / "cert.pem").string();
        const auto key = (dir_.path() / "key.pem").string();
        ChildProcess req{"/usr/bin/openssl",
                         {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                          "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert},
                         dir_.path() / "req.log"};
        ASSERT_EQ(req.wait(30s), 0) << req.output();
        std::ofstream{dir_.path() / "last.json"} << R"({"entry_id":1})";
        port_ = free_port();
        // -WWW serves files of its working directory; run it there through a shell.
        server_ = std::make_unique<ChildProcess>(
            "/bin/sh",
            std::vector<std::string>{"-c", "cd '" + dir_.path().string() + "' && exec openssl s_server -quiet -WWW -accept " +
                                               std::to_string(port_) + " -cert cert.pem -key key.pem"},
            dir_.path() / "server.log");
        // Ready when it accepts TCP connections.
        for (int i = 0; i < 200; ++i) {
            boost::system::error_code ec;
            boost::asio::io_context ioc;
            boost::asio::ip::tcp::socket s{ioc};
            s.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
            if (!ec) return;
            std::this_thread::sleep_for(25ms);
        }
        FAIL() << "openssl s_server did not start: " << server_->output();
    }

    HttpClientOptions options(const std::string& host, bool trust) {
        HttpClientOptions o;
        o.base_url = "https://" + host + ":" + std::to_string(port_);
        o.request_timeout = 5s;
        if (trust) o.ca_file = (dir_.path() / "cert.pem").string();
        return o;
    }

    boost::asio::io_context ioc_;
    TempDir dir_;
    std::unique_ptr<ChildProcess> server_;
    unsigned short port_ = 0;
};

TEST_F(HttpClientTls, TrustedCertificateForTheRightHostWorks) {
    HttpClient client{ioc_, options("localhost", true), test_logger()};
    auto r = fetch(ioc_, client, "/last.json");
    ASSERT_TRUE(r.ok()) << to_string(r.error) << ": " << r.error_message;
    EXPECT_EQ(r.body, R"({"entry_id":1})");
}

TEST_F(HttpClientTls, UntrustedCertificateIsRefused) {
    HttpClient client{ioc_, options("localhost", false), test_logger()};
    auto r = fetch(ioc_, client, "/last.json");
    EXPECT_EQ(r.error, FetchErrorKind::tls);
    EXPECT_NE(r.error_message.find("certificate verify failed"), std::string::npos) << r.error_message;
}

TEST_F(HttpClientTls, CertificateForAnotherHostIsRefused) {
    // The certificate names localhost only; 127.0.0.1 is not in it.
    HttpClient client{ioc_, options("127.0.0.1", true), test_logger()};
    auto r = fetch(ioc_, client, "/last.json");
    EXPECT_EQ(r.error, FetchErrorKind::tls) << r.error_message;
}
