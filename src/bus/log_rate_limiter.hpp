#pragma once

#include <chrono>
#include <cstdint>

namespace flowgate::bus {

/// Turns a stream of events (dropped or failed messages) into at most one log line per
/// interval that reports how many happened since the previous line. No I/O; time is passed in.
class LogRateLimiter {
public:
    using TimePoint = std::chrono::steady_clock::time_point;

    explicit LogRateLimiter(std::chrono::steady_clock::duration interval);

    /// Counts `n` events at `now`. Returns the number to report (these included) when a line
    /// is due, 0 when it is not: the first event logs at once, later ones once per interval.
    std::uint64_t on_events(std::uint64_t n, TimePoint now);
    /// Events counted but not yet reported.
    std::uint64_t unreported() const { return unreported_; }

private:
    std::chrono::steady_clock::duration interval_;
    TimePoint next_line_{};
    bool logged_once_ = false;
    std::uint64_t unreported_ = 0;
};

} // namespace flowgate::bus
