#include "reconnect_backoff.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace flowgate::bus {
namespace {

using std::chrono::milliseconds;

TEST(ReconnectBackoff, DoublesFromInitialUpToTheCap) {
    ReconnectBackoff backoff{milliseconds{100}, milliseconds{5000}};
    for (const int expected : {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000}) {
        EXPECT_EQ(backoff.next(), milliseconds{expected});
    }
    EXPECT_EQ(backoff.failures(), 9u);
}

TEST(ReconnectBackoff, ResetStartsOver) {
    ReconnectBackoff backoff{milliseconds{100}, milliseconds{5000}};
    backoff.next();
    backoff.next();
    backoff.reset();
    EXPECT_EQ(backoff.failures(), 0u);
    EXPECT_EQ(backoff.next(), milliseconds{100});
}

TEST(ReconnectBackoff, HugeCapDoesNotOverflow) {
    ReconnectBackoff backoff{milliseconds{1}, milliseconds::max()};
    milliseconds last{0};
    for (int i = 0; i < 200; ++i) {
        const auto d = backoff.next();
        ASSERT_GE(d, last);
        last = d;
    }
    EXPECT_EQ(last, milliseconds::max());
}

TEST(ReconnectBackoff, RejectsNonsense) {
    EXPECT_THROW((ReconnectBackoff{milliseconds{0}, milliseconds{10}}), std::invalid_argument);
    EXPECT_THROW((ReconnectBackoff{milliseconds{100}, milliseconds{10}}), std::invalid_argument);
}

} // namespace
} // namespace flowgate::bus
