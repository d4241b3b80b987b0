#include "flowgate/core/clock.hpp"

namespace flowgate {

Clock::WallTime SystemClock::wall_now() const { return std::chrono::system_clock::now(); }

Clock::SteadyTime SystemClock::steady_now() const { return std::chrono::steady_clock::now(); }

} // namespace flowgate
