// A device's polls against flowgate-sim (real time, 15 s between a channel's entries): after a
// read with nothing new comes the last_entry_id probe, and when the probe says the channel
// moved, a read of just the rows it counted.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "child_process.hpp"
#include "flowgate/sources/thingspeak_poll.hpp"
#include "flowgate/thingspeak/http_client.hpp"

using namespace std::chrono_literals;
using namespace flowgate;
using flowgate::test::ChildProcess;
using flowgate::test::TempDir;

namespace {

struct Step {
    std::string target;
    sources::PollOutcome outcome;
};

class PollSim : public ::testing::Test {
protected:
    void SetUp() override {
        sim_ = std::make_unique<ChildProcess>(
            FLOWGATE_SIM_BINARY,
            std::vector<std::string>{"--config", std::string{FLOWGATE_SOURCE_DIR} + "/config/sim-demo.toml", "--listen",
                                     "127.0.0.1:0", "--port-file", (dir_.path() / "port").string()},
            dir_.path() / "sim.log");
        port_ = test::wait_for_port_file(dir_.path() / "port", 10s);
        thingspeak::HttpClientOptions o;
        o.base_url = "http://127.0.0.1:" + std::to_string(port_);
        auto log = obs::make_string_logger(std::make_shared<std::string>(), obs::LogLevel::debug, obs::LogFormat::json, "test");
        client_ = std::make_unique<thingspeak::HttpClient>(ioc_, o, log);
    }

    /// One poll: what it asked for, and what came of it (committed).
    Step step(sources::ThingSpeakPoll& poll) {
        Step s{poll.target(), {}};
        std::optional<thingspeak::FetchResult> result;
        client_->get(s.target, [&](thingspeak::FetchResult r) { result = std::move(r); });
        for (int i = 0; i < 500 && !result; ++i) {
            ioc_.restart();
            ioc_.run_for(10ms);
        }
        if (!result) throw std::runtime_error{"no answer to " + s.target};
        s.outcome = poll.on_response(*result, std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
        poll.commit(s.outcome, s.outcome.entries.size());
        return s;
    }

    void advance_sim(int seconds) {
        boost::asio::ip::tcp::iostream s{"127.0.0.1", std::to_string(port_)};
        const auto body = R"({"advance_seconds":)" + std::to_string(seconds) + "}";
        s << "POST /_sim/time HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " << body.size()
          << "\r\nConnection: close\r\n\r\n" << body << std::flush;
        std::string status;
        std::getline(s, status);
        ASSERT_NE(status.find(" 200 "), std::string::npos) << status;
    }

    TempDir dir_;
    std::unique_ptr<ChildProcess> sim_;
    unsigned short port_ = 0;
    boost::asio::io_context ioc_;
    std::unique_ptr<thingspeak::HttpClient> client_;
};

} // namespace

TEST_F(PollSim, AChannelWithNothingNewIsProbedAndThenReadForTheNewRowsOnly) {
    ThingSpeakDevice device;
    device.device_id = 1;
    device.channel_id = 2100101;
    FieldMapping level;
    level.field = 1;
    level.canonical_name = "water_level";
    level.expected_label = "Water Level (cm)";
    device.fields = {level};
    sources::ThingSpeakPoll poll{device};

    const auto history = step(poll);
    ASSERT_FALSE(history.outcome.entries.empty()) << history.target;
    // A 15 s channel in real time: within a few reads one finds nothing new.
    for (int i = 0; i < 5 && !poll.probing(); ++i) step(poll);
    ASSERT_TRUE(poll.probing());
    const auto cursor = *poll.cursor().entry_id;
    const auto quiet = step(poll);
    EXPECT_EQ(quiet.target, "/channels/2100101/feeds/last_entry_id.json");
    ASSERT_TRUE(quiet.outcome.fetched);
    EXPECT_FALSE(quiet.outcome.read_now) << "nothing new yet";

    advance_sim(45);
    const auto moved = step(poll);
    ASSERT_TRUE(moved.outcome.read_now) << moved.target;
    const auto read = step(poll);
    const auto n = read.outcome.entries.size();
    ASSERT_GE(n, 2u) << "45 s of a 15 s channel";
    EXPECT_EQ(read.target, "/channels/2100101/feeds.json?results=" + std::to_string(n));
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(read.outcome.entries[i].entry_id, cursor + 1 + static_cast<std::int64_t>(i));
    EXPECT_TRUE(read.outcome.errors.empty());
    EXPECT_EQ(poll.cursor().entry_id, cursor + static_cast<std::int64_t>(n));
}
