// Recovery and fan-out on real Redis, the daemon's path in one process (pipeline_fixture.hpp).
#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <random>
#include <regex>
#include <thread>

#include "pipeline_fixture.hpp"

using namespace std::chrono_literals;
using flowgate::test::PipelineTest;
using flowgate::test::Received;
using flowgate::test::WsEvent;
using flowgate::test::WsTestClient;

namespace {

/// The seqs of the data messages, and "R+"/"R-" for RECOVERY events, in the order received.
std::vector<std::string> sequence_of(const std::vector<Received>& got) {
    std::vector<std::string> out;
    for (const auto& r : got) {
        if (r.type == "RECOVERY") {
            out.push_back(r.event.at("recovered").get<bool>() ? "R+" : "R-");
        } else {
            out.push_back(std::to_string(r.seq));
        }
    }
    return out;
}

std::vector<std::string> recovered_then(std::uint64_t from, std::uint64_t to) {
    std::vector<std::string> out{"R+"};
    for (auto s = from; s <= to; ++s) out.push_back(std::to_string(s));
    return out;
}

} // namespace

TEST_F(PipelineTest, MessagesCarryTheirSeqAndEpochToEveryClient) {
    WsTestClient a{port_, path_};
    WsTestClient b{port_, path_};
    ASSERT_TRUE(a.upgraded() && b.upgraded());
    ASSERT_TRUE(flowgate::test::eventually([&] { return on_loop([&] { return hub_->subscribed(topic_); }); }));
    on_loop([&] {
        for (int i = 1; i <= 3; ++i) publish_now(i);
    });
    for (auto* client : {&a, &b}) {
        const auto got = read_until_seq(*client, 3);
        ASSERT_EQ(sequence_of(got), (std::vector<std::string>{"1", "2", "3"}));
        EXPECT_EQ(got[2].event.at("i"), 3);
        EXPECT_FALSE(got[0].epoch.empty());
    }
}

// The seam: a client that comes back with ?since= while messages keep flowing gets every seq
// after it exactly once, in order — whatever the timing (randomized over many runs).
TEST_F(PipelineTest, SinceRecoversEverySeqExactlyOnceWhileMessagesFlow) {
    std::mt19937 random{static_cast<unsigned>(::getpid())};
    constexpr int runs = 20;
    constexpr int per_run = 60;
    std::uint64_t published = 0;
    std::string epoch;
    int checked = 0;
    for (int run = 0; run < runs; ++run) {
        WsTestClient first{port_, path_};
        ASSERT_TRUE(first.upgraded());
        ASSERT_TRUE(flowgate::test::eventually([&] { return on_loop([&] { return hub_->subscribed(topic_); }); }));
        auto flowing = publish_paced(0, per_run, std::chrono::microseconds{random() % 2000}, random());
        // Read a few, then vanish in the middle of the flow.
        const auto seen = read_until_seq(first, published + 1 + random() % 20);
        ASSERT_FALSE(seen.empty());
        const auto last = seen.back();
        if (epoch.empty()) epoch = last.epoch;
        first.drop();
        std::this_thread::sleep_for(std::chrono::milliseconds{random() % 30});

        WsTestClient again{port_, path_ + "?since=" + std::to_string(last.seq) + "&epoch=" + last.epoch};
        ASSERT_TRUE(again.upgraded()) << again.http_status() << " " << again.http_body();
        ASSERT_EQ(flowing.wait_for(10s), std::future_status::ready);
        published += per_run;
        const auto got = read_until_seq(again, published);
        ASSERT_EQ(sequence_of(got), recovered_then(last.seq + 1, published)) << "run " << run;
        checked += static_cast<int>(got.size()) - 1;
    }
    EXPECT_EQ(on_loop([&] { return server_->stats().recovered; }), static_cast<std::uint64_t>(runs));
    std::cout << "seam: " << runs << " recoveries, " << checked << " seqs checked exactly once\n";
}

TEST_F(PipelineTest, ASinceOlderThanTheBufferOrAnotherEpochIsToldNotReplayed) {
    WsTestClient live{port_, path_};
    ASSERT_TRUE(flowgate::test::eventually([&] { return on_loop([&] { return hub_->subscribed(topic_); }); }));
    on_loop([&] { publish_now(1); });
    const auto first = read_until_seq(live, 1);
    ASSERT_EQ(first.size(), 1u);
    const auto epoch = first[0].epoch;

    WsTestClient other_epoch{port_, path_ + "?since=1&epoch=1"};
    auto got = flowgate::test::parse_received(other_epoch.read());
    EXPECT_EQ(got.type, "RECOVERY");
    EXPECT_EQ(got.event.at("recovered"), false);
    EXPECT_EQ(got.event.at("reason"), "epoch changed");
    EXPECT_EQ(got.event.at("epoch"), epoch) << "so that the client can resume from this epoch later";

    WsTestClient ahead{port_, path_ + "?since=99&epoch=" + epoch};
    got = flowgate::test::parse_received(ahead.read());
    EXPECT_EQ(got.event.at("recovered"), false);

    // Then live, from the head.
    on_loop([&] { publish_now(2); });
    EXPECT_EQ(flowgate::test::parse_received(other_epoch.read()).seq, 2u);
    EXPECT_EQ(flowgate::test::parse_received(ahead.read()).seq, 2u);
}

namespace {

class ShortBufferTest : public PipelineTest {
protected:
    std::size_t replay_max_messages() const override { return 5; }
};

} // namespace

TEST_F(ShortBufferTest, MissingMoreThanTheBufferHoldsIsNotRecovered) {
    WsTestClient live{port_, path_};
    ASSERT_TRUE(flowgate::test::eventually([&] { return on_loop([&] { return hub_->subscribed(topic_); }); }));
    on_loop([&] {
        for (int i = 1; i <= 400; ++i) publish_now(i);
    });
    const auto all = read_until_seq(live, 400);
    const auto epoch = all.back().epoch;
    WsTestClient behind{port_, path_ + "?since=2&epoch=" + epoch};
    const auto got = flowgate::test::parse_received(behind.read());
    EXPECT_EQ(got.type, "RECOVERY");
    EXPECT_EQ(got.event.at("recovered"), false) << got.event.dump();
    EXPECT_EQ(got.event.at("reason"), "messages after since are no longer held");
}

// The subscription drops (Redis kills the subscriber's connection) while publishing goes on:
// connected clients are caught up from the stream once it is back, with nothing lost or doubled.
TEST_F(PipelineTest, ALostSubscriptionIsCaughtUpFromTheStream) {
    WsTestClient a{port_, path_};
    WsTestClient b{port_, path_};
    ASSERT_TRUE(flowgate::test::eventually([&] { return on_loop([&] { return hub_->subscribed(topic_); }); }));
    auto flowing = publish_paced(0, 300, 1ms, 7);
    std::this_thread::sleep_for(60ms);
    kill_connection("sub");
    ASSERT_EQ(flowing.wait_for(20s), std::future_status::ready);
    for (auto* client : {&a, &b}) {
        const auto got = read_until_seq(*client, 300);
        std::vector<std::uint64_t> seqs;
        int recoveries = 0;
        for (const auto& r : got) {
            if (r.type == "RECOVERY") {
                EXPECT_EQ(r.event.at("recovered"), true) << r.event.dump();
                ++recoveries;
            } else {
                seqs.push_back(r.seq);
            }
        }
        std::vector<std::uint64_t> expected(300);
        std::iota(expected.begin(), expected.end(), 1);
        EXPECT_EQ(seqs, expected) << "every message once, in order";
        EXPECT_GE(recoveries, 1) << "the subscription was never lost?";
    }
    EXPECT_NE(log_text_->find("lost connection to Redis"), std::string::npos);
}

// After an outage the daemon publishes its backlog at once: readers keep up and are never
// closed as slow consumers.
TEST_F(PipelineTest, ACatchUpBurstDisconnectsNoClientThatReads) {
    constexpr int clients = 10;
    constexpr int burst = 25'000;
    std::vector<std::unique_ptr<WsTestClient>> readers;
    for (int i = 0; i < clients; ++i) readers.push_back(std::make_unique<WsTestClient>(port_, path_));
    ASSERT_TRUE(flowgate::test::eventually([&] { return on_loop([&] { return hub_->subscribed(topic_); }); }));
    std::atomic<int> complete{0};
    std::vector<std::thread> threads;
    for (auto& reader : readers) {
        threads.emplace_back([&, client = reader.get()] {
            std::uint64_t expected = 1;
            for (;;) {
                const auto event = client->read(10s);
                if (event.kind != WsEvent::Kind::message) {
                    ADD_FAILURE() << "a reading client lost its stream at seq " << expected << ": " << event.describe();
                    return;
                }
                const auto r = flowgate::test::parse_received(event);
                if (r.seq != expected) {
                    ADD_FAILURE() << "expected seq " << expected << ", got " << r.seq;
                    return;
                }
                if (++expected > burst) break;
            }
            ++complete;
        });
    }
    on_loop([&] {
        for (int i = 1; i <= burst; ++i) publish_now(i);
    });
    for (auto& t : threads) t.join();
    EXPECT_EQ(complete.load(), clients);
    EXPECT_EQ(on_loop([&] { return server_->stats().slow_consumer_closes; }), 0u);
}

namespace {

/// Latencies (publish → received) of `count` messages read by each of `clients`, in ms.
std::vector<double> read_latencies(std::vector<std::unique_ptr<WsTestClient>>& clients, int count, std::atomic<int>& failures) {
    std::vector<std::vector<double>> per_client(clients.size());
    std::vector<std::thread> threads;
    for (std::size_t c = 0; c < clients.size(); ++c) {
        threads.emplace_back([&, c] {
            for (int n = 0; n < count; ++n) {
                const auto event = clients[c]->read(10s);
                if (event.kind != WsEvent::Kind::message) {
                    ++failures;
                    return;
                }
                const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
                const auto r = flowgate::test::parse_received(event);
                if (!r.event.contains("t")) {
                    ADD_FAILURE() << "client " << c << " got an event that is not a reading: " << r.event.dump();
                    ++failures;
                    return;
                }
                per_client[c].push_back(static_cast<double>(now - r.event.at("t").get<std::int64_t>()) / 1e6);
            }
        });
    }
    for (auto& t : threads) t.join();
    std::vector<double> all;
    for (const auto& l : per_client) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    return all;
}

double percentile(const std::vector<double>& sorted, double p) {
    return sorted.empty() ? 0 : sorted[static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1))];
}

class SlowConsumerTest : public PipelineTest {
protected:
    // The stalled client starts reading only once the readers are done; under a sanitizer that
    // is later than the default 5 s in which a closed session must finish its close handshake,
    // and than the 10 s a write may make no progress before the connection is dropped.
    flowgate::realtime::WsServerOptions server_options() const override {
        flowgate::realtime::WsServerOptions options;
        options.close_timeout = 60s;
        options.write_timeout = 60s;
        options.max_connections_per_ip = 200;  // 101 clients, all from 127.0.0.1
        return options;
    }
};

} // namespace

// One client that never reads, next to 100 that do: it is closed as a slow consumer once its
// queue passes the byte limit, and the readers' latency does not suffer for it.
TEST_F(SlowConsumerTest, AClientThatNeverReadsIsClosedAndSlowsNoOther) {
    constexpr int readers = 100;
    constexpr int messages = 1000;
    // 1000 × 8 KB = 8 MB: past the 1 MiB queue and what the kernel buffers (up to 4 MB here).
    pad_bytes_ = 8000;
    std::vector<std::unique_ptr<WsTestClient>> clients;
    for (int i = 0; i < readers; ++i) clients.push_back(std::make_unique<WsTestClient>(port_, path_));
    ASSERT_TRUE(flowgate::test::eventually([&] { return on_loop([&] { return hub_->sink_count(topic_) == readers && hub_->subscribed(topic_); }); }));

    std::atomic<int> failures{0};
    auto flowing = publish_paced(0, messages, 2ms, 3);
    const auto alone = read_latencies(clients, messages, failures);
    ASSERT_EQ(flowing.wait_for(10s), std::future_status::ready);

    WsTestClient stalled{port_, path_, {.timeout = 10s, .receive_buffer_bytes = 4096}};
    ASSERT_TRUE(stalled.upgraded());
    // The loop may still be writing the first 800 MB to the readers (slow when the machine is busy).
    ASSERT_TRUE(flowgate::test::eventually([&] { return on_loop([&] { return hub_->sink_count(topic_) == readers + 1; }); }, 30s));
    flowing = publish_paced(messages, messages, 2ms, 3);
    const auto beside = read_latencies(clients, messages, failures);
    ASSERT_EQ(flowing.wait_for(10s), std::future_status::ready);

    EXPECT_EQ(failures.load(), 0) << "a reading client lost its stream";
    EXPECT_EQ(on_loop([&] { return server_->stats().slow_consumer_closes; }), 1u);
    WsEvent got;
    while ((got = stalled.read(10s)).kind == WsEvent::Kind::message) {}
    EXPECT_EQ(got.close_code, 4008u) << got.describe();
    EXPECT_EQ(got.close_reason, "slow consumer");
    // What the daemon held for it: never more than the limit and the one message that passed it.
    std::smatch held;
    ASSERT_TRUE(std::regex_search(*log_text_, held, std::regex{R"(queued_bytes=(\d+) limit_bytes=(\d+))"})) << *log_text_;
    EXPECT_LE(std::stoul(held[1]), std::stoul(held[2]) + pad_bytes_ + 200);
    const double p99_alone = percentile(alone, 0.99), p99_beside = percentile(beside, 0.99);
    std::cout << "p50/p99 of " << alone.size() << " deliveries: alone " << percentile(alone, 0.5) << "/" << p99_alone
              << " ms, beside a client that never reads " << percentile(beside, 0.5) << "/" << p99_beside << " ms\n";
    // A client that held up the others would cost them its write timeout (seconds); the median
    // is bounded at twice its value alone (+2 ms), since two phases of one run on 2 shared cores
    // beside other tests differ by 20% and more (measured in bench/fanout, not here). The p99
    // of 100 blocking client threads swings 3x between identical runs: it is only reported.
    EXPECT_LE(percentile(beside, 0.5), 2.0 * percentile(alone, 0.5) + 2.0);
}
