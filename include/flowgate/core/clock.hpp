#pragma once

#include <chrono>

namespace flowgate {

/// Source of time for every decision in flowgate. Production code uses SystemClock;
/// tests use FakeClock (fake_clock.hpp) and advance it by hand, so they never sleep.
class Clock {
public:
    using WallTime = std::chrono::system_clock::time_point;
    using SteadyTime = std::chrono::steady_clock::time_point;

    virtual ~Clock() = default;

    /// Calendar time: timestamps stored, published and compared with ThingSpeak's.
    virtual WallTime wall_now() const = 0;
    /// Monotonic time: deadlines, intervals and rates.
    virtual SteadyTime steady_now() const = 0;
};

/// The real clocks of the machine.
class SystemClock final : public Clock {
public:
    WallTime wall_now() const override;
    SteadyTime steady_now() const override;
};

} // namespace flowgate
