// flowgate-ws-cat as a process against a WsServer.
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>

#include "child_process.hpp"
#include "ws_server_fixture.hpp"

using namespace std::chrono_literals;
using flowgate::test::ChildProcess;
using flowgate::test::community1;
using flowgate::test::eventually;
using flowgate::test::TempDir;
using flowgate::test::WsServerTest;

namespace {

class WsCatTest : public WsServerTest {
protected:
    std::string url(const std::string& path) const { return "ws://127.0.0.1:" + std::to_string(port_) + path; }

    std::unique_ptr<ChildProcess> ws_cat(std::vector<std::string> args) {
        return std::make_unique<ChildProcess>(FLOWGATE_WS_CAT_BINARY, args, dir_.path() / "ws-cat.out");
    }

    /// The session joins the Hub before its handshake answer, so messages delivered from
    /// now on reach it.
    bool subscribed(const std::string& topic) {
        return eventually([&] { return sinks(topic) == 1; }, 10s);
    }

    TempDir dir_;
};

} // namespace

TEST_F(WsCatTest, PrintsEachMessageOnALineAndExitsAfterCount) {
    auto cat = ws_cat({url("/ws/community/1/updates"), "--count", "3", "--timeout", "20"});
    ASSERT_TRUE(subscribed(community1)) << cat->output();
    deliver(community1, R"({"seq":1})");
    deliver(community1, R"({"seq":2})");
    deliver(community1, R"({"seq":3})");
    EXPECT_EQ(cat->wait(10s), 0) << cat->output();
    EXPECT_EQ(cat->output(), "{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n");
    EXPECT_TRUE(eventually([&] { return sinks(community1) == 0; })) << "ws-cat's session did not end";
}

TEST_F(WsCatTest, ExitsZeroWhenTheServerCloses) {
    auto cat = ws_cat({url("/ws/node/1/telemetry")});
    ASSERT_TRUE(subscribed("node:1:telemetry")) << cat->output();
    deliver("node:1:telemetry", "one");
    stop_server();
    EXPECT_EQ(cat->wait(10s), 0) << cat->output();
    EXPECT_EQ(cat->output().substr(0, 4), "one\n");
    EXPECT_NE(cat->output().find("1001"), std::string::npos) << cat->output();
}

TEST_F(WsCatTest, ARefusedUpgradeExitsOneWithTheHttpStatusAndBody) {
    auto cat = ws_cat({url("/ws/community/9/updates"), "--timeout", "20"});
    EXPECT_EQ(cat->wait(10s), 1) << cat->output();
    EXPECT_NE(cat->output().find("404"), std::string::npos) << cat->output();
    EXPECT_NE(cat->output().find("community 9 does not exist"), std::string::npos) << cat->output();
}

TEST_F(WsCatTest, ExitsOneWhenNothingComesBeforeTheTimeout) {
    auto cat = ws_cat({url("/ws/community/1/updates"), "--timeout", "0.5"});
    EXPECT_EQ(cat->wait(10s), 1) << cat->output();
    EXPECT_NE(cat->output().find("timed out"), std::string::npos) << cat->output();
}

TEST_F(WsCatTest, ExitsOneWhenItCannotConnect) {
    // A port that was free a moment ago and has no listener now.
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor probe{ioc, {boost::asio::ip::make_address("127.0.0.1"), 0}};
    const auto closed_port = probe.local_endpoint().port();
    probe.close();
    auto cat = ws_cat({"ws://127.0.0.1:" + std::to_string(closed_port) + "/ws/community/1/updates"});
    EXPECT_EQ(cat->wait(10s), 1) << cat->output();
    EXPECT_NE(cat->output().find("cannot connect"), std::string::npos) << cat->output();
}
