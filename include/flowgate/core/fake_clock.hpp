#pragma once

#include "flowgate/core/clock.hpp"

namespace flowgate {

/// A clock that moves only when told to. Both time lines advance together.
class FakeClock final : public Clock {
public:
    explicit FakeClock(WallTime start = WallTime{std::chrono::seconds{1'700'000'000}})
        : wall_{start} {}

    WallTime wall_now() const override { return wall_; }
    SteadyTime steady_now() const override { return steady_; }

    void advance(std::chrono::nanoseconds by) {
        wall_ += std::chrono::duration_cast<WallTime::duration>(by);
        steady_ += std::chrono::duration_cast<SteadyTime::duration>(by);
    }

private:
    WallTime wall_;
    SteadyTime steady_{};
};

} // namespace flowgate
