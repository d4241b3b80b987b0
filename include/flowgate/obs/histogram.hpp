#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>

namespace flowgate::obs {

/// A latency histogram in seconds with fixed buckets, 0.5 ms to 30 s, for the Prometheus
/// `histogram` type: counts per bucket, the sum and the count. A plain value: copy it to
/// read it from another thread.
class Histogram {
public:
    static constexpr std::array<double, 15> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                   0.25,   0.5,   1,      2.5,   5,     10,    30};

    void observe(double seconds) {
        // Prometheus buckets are inclusive: a value equal to a bound counts in its bucket.
        const auto bucket = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
        ++counts_[static_cast<std::size_t>(bucket)];
        sum_ += seconds;
        ++count_;
    }
    void observe(std::chrono::steady_clock::duration elapsed) {
        observe(std::chrono::duration<double>(elapsed).count());
    }

    /// Observations per bucket (not cumulative); the last one is above every bound.
    const std::array<std::uint64_t, bounds.size() + 1>& counts() const { return counts_; }
    double sum() const { return sum_; }
    std::uint64_t count() const { return count_; }

private:
    std::array<std::uint64_t, bounds.size() + 1> counts_{};
    double sum_ = 0;
    std::uint64_t count_ = 0;
};

} // namespace flowgate::obs
