#pragma once

#include <chrono>
#include <random>

namespace flowgate::resilience {

/// Capped exponential back-off with full jitter (no I/O): after the n-th consecutive failure
/// the delay is uniform in [0, min(cap, base * 2^n)], so retries of many devices spread out
/// instead of arriving together. reset() after a success.
class JitteredBackoff {
public:
    JitteredBackoff(std::chrono::milliseconds base, std::chrono::milliseconds cap);

    /// Counts one failure and returns the delay before the next attempt.
    std::chrono::milliseconds next(std::mt19937_64& random);
    /// The upper bound of the delay next() returned last (0 before any failure).
    std::chrono::milliseconds ceiling() const { return ceiling_; }
    void reset();
    unsigned failures() const { return failures_; }

private:
    std::chrono::milliseconds base_;
    std::chrono::milliseconds cap_;
    std::chrono::milliseconds ceiling_{0};
    unsigned failures_ = 0;
};

} // namespace flowgate::resilience
