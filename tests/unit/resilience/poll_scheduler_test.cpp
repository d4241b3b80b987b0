#include <gtest/gtest.h>

#include <map>

#include "flowgate/core/fake_clock.hpp"
#include "flowgate/resilience/token_bucket.hpp"
#include "flowgate/sched/poll_scheduler.hpp"

namespace flowgate::sched {
namespace {

using namespace std::chrono_literals;

TEST(PollPriorityTest, CategoryThenOverrideThenAlert) {
    EXPECT_EQ(poll_priority("PumpHouse", 5, false), 3);
    EXPECT_EQ(poll_priority("FlowMeter", 5, false), 3);
    EXPECT_EQ(poll_priority("OHT", 5, false), 5);
    EXPECT_EQ(poll_priority("Sump", 5, false), 5);
    EXPECT_EQ(poll_priority("Borewell", 5, false), 7);
    EXPECT_EQ(poll_priority("GovtBorewell", 5, false), 7);
    EXPECT_EQ(poll_priority("Borewell", 2, false), 2) << "nodes.priority overrides the category";
    EXPECT_EQ(poll_priority("Borewell", 5, true), 5) << "an alert raises a node";
    EXPECT_EQ(poll_priority("PumpHouse", 1, true), 1);
}

TEST(PollSchedulerTest, DueOrderThenPriorityAmongTheDue) {
    FakeClock clock;
    const auto t0 = clock.steady_now();
    PollScheduler s{10s};
    s.add(0, 7, t0 + 2s);
    s.add(1, 3, t0 + 5s);
    s.add(2, 5, t0 + 1s);
    EXPECT_EQ(s.next_due(), t0 + 1s);
    EXPECT_FALSE(s.pop_ready(t0));
    clock.advance(1s);
    EXPECT_EQ(s.pop_ready(clock.steady_now())->device, 2u);
    EXPECT_FALSE(s.pop_ready(clock.steady_now())) << "device 0 is not due yet";
    clock.advance(10s);
    // Both due now: the higher priority first although it became due later.
    EXPECT_EQ(s.pop_ready(clock.steady_now())->device, 1u);
    EXPECT_EQ(s.pop_ready(clock.steady_now())->device, 0u);
    EXPECT_FALSE(s.next_due());
}

TEST(PollSchedulerTest, PromotedDevicesLeaveTheWaitingHeap) {
    FakeClock clock;
    const auto t0 = clock.steady_now();
    PollScheduler s{1s};
    s.add(0, 5, t0);
    s.add(1, 5, t0 + 5s);
    s.promote(t0);
    EXPECT_EQ(s.ready(), 1u);
    EXPECT_EQ(s.next_due(), t0 + 5s) << "a shell sleeping until next_due() must not wake for a due device";
}

TEST(PollSchedulerTest, ADeviceIsNeverScheduledTwice) {
    FakeClock clock;
    PollScheduler s{1s};
    s.add(4, 5, clock.steady_now());
    EXPECT_THROW(s.add(4, 5, clock.steady_now() + 1s), std::logic_error);
    auto e = s.pop_ready(clock.steady_now());
    ASSERT_TRUE(e);
    EXPECT_FALSE(s.scheduled(4)) << "taken out while it is polled";
    s.restore(*e);
    EXPECT_THROW(s.restore(*e), std::logic_error);
}

TEST(PollSchedulerTest, StartIsSpreadOverTheFirstInterval) {
    FakeClock clock;
    const auto t0 = clock.steady_now();
    PollScheduler s{1s};
    for (std::size_t i = 0; i < 60; ++i) s.add(i, 5, PollScheduler::spread(t0, 60s, i, 60));
    std::map<std::int64_t, int> per_second;
    for (int sec = 0; sec < 60; ++sec) {
        while (auto e = s.pop_ready(t0 + std::chrono::seconds{sec})) ++per_second[sec];
    }
    EXPECT_EQ(per_second.size(), 60u);
    for (const auto& [sec, n] : per_second) EXPECT_EQ(n, 1) << "second " << sec;
}

// 30 devices every 10 s (3 polls/s demanded) against a budget of 1 poll/s: pump houses get
// their share first, and borewells are delayed but still polled.
TEST(PollSchedulerTest, ScarceBudgetServesHigherPriorityFirstAndStarvesNobody) {
    FakeClock clock;
    const auto t0 = clock.steady_now();
    PollScheduler s{20s};
    resilience::TokenBucket budget{{.rate = 1, .burst = 1}, t0};
    const int priorities[] = {3, 5, 7};
    std::map<int, int> polls;
    std::map<int, std::chrono::milliseconds> worst_wait;
    for (std::size_t i = 0; i < 30; ++i) s.add(i, priorities[i % 3], PollScheduler::spread(t0, 10s, i, 30));
    for (int step = 0; step < 6000; ++step) { // 10 minutes in 100 ms steps
        clock.advance(100ms);
        const auto now = clock.steady_now();
        while (budget.next_token_at(now) <= now) {
            auto e = s.pop_ready(now);
            if (!e) break;
            ASSERT_TRUE(budget.try_take(now));
            ++polls[e->priority];
            worst_wait[e->priority] =
                std::max(worst_wait[e->priority], std::chrono::duration_cast<std::chrono::milliseconds>(now - e->due));
            s.add(e->device, e->priority, now + 10s);
        }
    }
    const int total = polls[3] + polls[5] + polls[7];
    EXPECT_NEAR(total, 600, 2) << "the budget is used fully";
    EXPECT_GT(polls[3], polls[5]);
    EXPECT_GT(polls[5], polls[7]);
    EXPECT_GT(polls[7], 50) << "the lowest priority is delayed, never starved";
    // A borewell goes before any pump house that became due more than 4 steps after it.
    EXPECT_LT(worst_wait[7], worst_wait[3] + 4 * 20s + 2s) << "its delay is bounded by the priority steps";
    std::cout << "polls by priority 3/5/7: " << polls[3] << "/" << polls[5] << "/" << polls[7]
              << ", worst wait ms: " << worst_wait[3].count() << "/" << worst_wait[5].count() << "/"
              << worst_wait[7].count() << "\n";
}

TEST(PollSchedulerTest, WithEnoughBudgetEveryoneIsPolledOnTime) {
    FakeClock clock;
    const auto t0 = clock.steady_now();
    PollScheduler s{20s};
    for (std::size_t i = 0; i < 10; ++i) s.add(i, i % 2 ? 3 : 7, t0 + 1s);
    clock.advance(1s);
    int popped = 0;
    while (auto e = s.pop_ready(clock.steady_now())) {
        EXPECT_EQ(e->due, clock.steady_now());
        ++popped;
    }
    EXPECT_EQ(popped, 10);
}

} // namespace
} // namespace flowgate::sched
