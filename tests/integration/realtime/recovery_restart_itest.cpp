// Redis restarts (scripts/services stop/start: every project service) while clients are
// connected and the publisher keeps publishing: each client ends with every message, in order,
// or is told with RECOVERY {"recovered":false} — nothing is lost silently. RUN_SERIAL.
#include <gtest/gtest.h>

#include "child_process.hpp"
#include "pipeline_fixture.hpp"

using namespace std::chrono_literals;
using flowgate::test::ChildProcess;
using flowgate::test::PipelineTest;
using flowgate::test::WsEvent;
using flowgate::test::WsTestClient;

namespace {

int services(const std::string& command, std::string& output) {
    flowgate::test::TempDir dir;
    ChildProcess child{FLOWGATE_SOURCE_DIR "/scripts/services", {command}, dir.path() / "out"};
    const auto status = child.wait(120s);
    output = child.output();
    return status.value_or(-1);
}

} // namespace

TEST_F(PipelineTest, ARedisRestartLosesNoMessageForConnectedClients) {
    constexpr int total = 400;
    WsTestClient a{port_, path_, {.timeout = 60s}};
    WsTestClient b{port_, path_, {.timeout = 60s}};
    ASSERT_TRUE(flowgate::test::eventually([&] { return on_loop([&] { return hub_->subscribed(topic_); }); }));
    auto flowing = publish_paced(0, total, 20ms, 11);  // about 4 s of messages
    std::this_thread::sleep_for(1s);
    std::string output;
    ASSERT_EQ(services("stop", output), 0) << output;
    std::this_thread::sleep_for(1s);  // publishing goes on into the publisher's queue
    ASSERT_EQ(services("start", output), 0) << output;
    ASSERT_EQ(flowing.wait_for(60s), std::future_status::ready);

    for (auto* client : {&a, &b}) {
        std::vector<int> events;  // the publisher's own numbering, in arrival order
        int not_recovered = 0, recovered = 0;
        while (events.empty() || events.back() != total - 1) {
            const auto got = client->read(30s);
            ASSERT_EQ(got.kind, WsEvent::Kind::message) << got.describe() << " after " << events.size() << " messages";
            const auto r = flowgate::test::parse_received(got);
            if (r.type == "RECOVERY") {
                r.event.at("recovered").get<bool>() ? ++recovered : ++not_recovered;
                continue;
            }
            events.push_back(r.event.at("i").get<int>());
        }
        std::cout << "Redis restart: a client received " << events.size() << " of " << total << " messages, "
                  << recovered << " recovery(ies), " << not_recovered << " not recovered\n";
        if (not_recovered == 0) {
            std::vector<int> expected(total);
            std::iota(expected.begin(), expected.end(), 0);
            EXPECT_EQ(events, expected) << "every message once, in order";
            EXPECT_GE(recovered, 1) << "the subscription survived a Redis restart?";
        } else {
            // Redis lost the stream: the client was told, and nothing arrived twice or out of order.
            EXPECT_TRUE(std::is_sorted(events.begin(), events.end()));
            EXPECT_EQ(std::adjacent_find(events.begin(), events.end()), events.end());
        }
    }
    EXPECT_EQ(on_loop([&] { return publisher_->stats().dropped; }), 0u);
}
