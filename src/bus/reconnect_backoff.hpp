#pragma once

#include <chrono>

namespace flowgate::bus {

/// Delays between reconnect attempts: `initial`, doubled after every failure, capped at
/// `max`; reset() after a success starts over. No I/O, no clock.
class ReconnectBackoff {
public:
    ReconnectBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max);

    /// The delay before the next attempt; each call counts one failure.
    std::chrono::milliseconds next();
    void reset();
    /// Failures since the last reset().
    unsigned failures() const { return failures_; }

private:
    std::chrono::milliseconds initial_;
    std::chrono::milliseconds max_;
    std::chrono::milliseconds current_;
    unsigned failures_ = 0;
};

} // namespace flowgate::bus
