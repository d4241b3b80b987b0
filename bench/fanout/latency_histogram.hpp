#pragma once

#include <array>
#include <cstdint>

namespace flowgate::bench {

/// Log-linear histogram of non-negative durations in nanoseconds: 32 buckets per power of
/// two, so a reported percentile is at most 1/32 (3.1 %) above the true value. Fixed size,
/// no allocation when recording.
class LatencyHistogram {
public:
    void record(std::int64_t ns);
    void clear();

    std::uint64_t count() const { return count_; }
    /// The upper bound of the bucket holding the q-quantile (0 < q <= 1); 0 when empty.
    std::int64_t percentile(double q) const;
    std::int64_t max() const { return max_; }

private:
    static constexpr int sub_bits = 5;
    static constexpr int sub_count = 1 << sub_bits;
    static constexpr int bucket_count = (63 - sub_bits) * sub_count + 2 * sub_count;

    static int index_of(std::uint64_t v);
    static std::uint64_t upper_bound_of(int index);

    std::array<std::uint64_t, bucket_count> buckets_{};
    std::uint64_t count_ = 0;
    std::int64_t max_ = 0;
};

} // namespace flowgate::bench
