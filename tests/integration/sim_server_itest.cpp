// flowgate-sim as a process, over real sockets.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>

#include "child_process.hpp"
#include "http_client.hpp"

using namespace std::chrono_literals;
using flowgate::test::ChildProcess;
using flowgate::test::HttpClient;
using nlohmann::json;

namespace {

class SimServer : public ::testing::Test {
protected:
    void SetUp() override {
        sim_ = std::make_unique<ChildProcess>(
            FLOWGATE_SIM_BINARY,
            std::vector<std::string>{"--config", std::string{FLOWGATE_SOURCE_DIR} + "/config/sim-demo.toml", "--listen",
                                     "127.0.0.1:0", "--port-file", (dir_.path() / "port").string(), "--log-format", "json",
                                     "--log-level", "debug"},
            dir_.path() / "sim.log");
        port_ = flowgate::test::wait_for_port_file(dir_.path() / "port", 10s);
    }

    HttpClient client(std::chrono::milliseconds timeout = 5s) { return HttpClient{"127.0.0.1", port_, timeout}; }

    void post(const std::string& target, const std::string& body) {
        auto res = client().request("POST", target, body, {{"Content-Type", "application/json"}});
        ASSERT_EQ(res.status, 200u) << target << " " << res.body;
    }

    flowgate::test::TempDir dir_;
    std::unique_ptr<ChildProcess> sim_;
    unsigned short port_ = 0;
};

} // namespace

TEST_F(SimServer, ServesManyRequestsOverOneKeepAliveConnection) {
    auto c = client();
    const auto local_port = c.local_port();
    for (int i = 0; i < 200; ++i) {
        auto res = c.get("/channels/2100101/feeds/last.json");
        ASSERT_EQ(res.status, 200u);
        ASSERT_TRUE(res.keep_alive);
        EXPECT_TRUE(json::parse(res.body).contains("entry_id"));
    }
    EXPECT_EQ(c.local_port(), local_port);
    auto stats = json::parse(c.get("/_sim/stats").body);
    EXPECT_EQ(stats["channels"]["2100101"]["by_status"]["200"], 200);
}

TEST_F(SimServer, AnswersLikeThingSpeakOnTheWire) {
    auto c = client();
    auto res = c.get("/channels/2100101/feeds.json?results=2");
    EXPECT_EQ(res.status, 200u);
    EXPECT_EQ(res.headers["content-type"], "application/json; charset=utf-8");
    ASSERT_FALSE(res.headers["etag"].empty());
    auto again = c.request("GET", "/channels/2100101/feeds.json?results=2", {}, {{"If-None-Match", res.headers["etag"]}});
    EXPECT_TRUE(again.status == 304u || again.status == 200u); // 200 only if a new entry arrived in between
    auto denied = c.get("/channels/2100102/feeds.json");
    EXPECT_EQ(denied.status, 400u);
    EXPECT_EQ(denied.body, "-1");
    EXPECT_EQ(c.get("/channels/2100102/feeds.json?api_key=DEMOREADKEYOHT02").status, 200u);
    EXPECT_EQ(c.get("/channels/1/feeds.json").status, 404u);
}

TEST_F(SimServer, OutageAs503ResetAndHang) {
    post("/_sim/faults", R"({"channel":2100101,"outage":"503"})");
    EXPECT_EQ(client().get("/channels/2100101/feeds/last.json").status, 503u);
    EXPECT_EQ(client().get("/channels/2100103/feeds/last.json").status, 200u);

    post("/_sim/faults", R"({"channel":2100101,"outage":"reset"})");
    EXPECT_THROW(client().get("/channels/2100101/feeds/last.json"), std::system_error);

    post("/_sim/faults", R"({"channel":2100101,"outage":"hang"})");
    auto impatient = client(300ms);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(impatient.get("/channels/2100101/feeds/last.json"), std::system_error);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);

    post("/_sim/faults", R"({"clear":true})");
    EXPECT_EQ(client().get("/channels/2100101/feeds/last.json").status, 200u);
    auto stats = json::parse(client().get("/_sim/stats").body);
    EXPECT_EQ(stats["channels"]["2100101"]["by_status"]["reset"], 1);
    EXPECT_EQ(stats["channels"]["2100101"]["by_status"]["hang"], 1);
}

TEST_F(SimServer, AddedLatencyDelaysTheAnswer) {
    post("/_sim/faults", R"({"latency_ms":400})");
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(client().get("/channels/2100101/feeds/last.json").status, 200u);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 400ms);
}

TEST_F(SimServer, MalformedAndOversizedRequestsGetClearStatuses) {
    EXPECT_EQ(client().raw("NONSENSE\r\n\r\n").status, 400u);
    const std::string huge(2 * 1024 * 1024, 'x');
    EXPECT_EQ(client().request("POST", "/_sim/faults", huge).status, 413u);
    // The server is still fine afterwards.
    EXPECT_EQ(client().get("/channels/2100101/feeds/last.json").status, 200u);
}

TEST_F(SimServer, NoApiKeyInItsLogsAndAQuietExitOnSigterm) {
    auto c = client();
    c.get("/channels/2100102/feeds/last.json?api_key=DEMOREADKEYOHT02");
    c.get("/channels/2100102/feeds/last.json?api_key=WRONGKEY123");
    EXPECT_EQ(sim_->stop(SIGTERM, 5s), 0);
    const auto log = sim_->output();
    EXPECT_NE(log.find("\"msg\":\"request\""), std::string::npos) << log;
    EXPECT_NE(log.find("\"msg\":\"stopping\""), std::string::npos) << log;
    EXPECT_EQ(log.find("DEMOREADKEYOHT02"), std::string::npos) << log;
    EXPECT_EQ(log.find("WRONGKEY123"), std::string::npos) << log;
    for (std::size_t pos = 0, end; (end = log.find('\n', pos)) != std::string::npos; pos = end + 1) {
        EXPECT_TRUE(json::accept(log.substr(pos, end - pos))) << log.substr(pos, end - pos);
    }
}

TEST(SimStartup, BadConfigurationStopsStartupNamingTheKey) {
    flowgate::test::TempDir dir;
    std::ofstream{dir.path() / "bad.toml"} << "seed = 1\nsped = 2\n";
    ChildProcess sim{FLOWGATE_SIM_BINARY, {"--config", (dir.path() / "bad.toml").string()}, dir.path() / "out.log"};
    EXPECT_EQ(sim.wait(5s), 2);
    EXPECT_NE(sim.output().find("sped: unknown key"), std::string::npos) << sim.output();
}
