#include "latency_histogram.hpp"

#include <bit>
#include <cmath>

namespace flowgate::bench {

// Values below 2^sub_bits have a bucket each; above, a value with its top bit at position
// `msb` lands in bucket (msb - sub_bits) * 32 + (its top 6 bits), which keeps the buckets of
// consecutive powers of two contiguous.
int LatencyHistogram::index_of(std::uint64_t v) {
    if (v < sub_count) return static_cast<int>(v);
    const int msb = 63 - std::countl_zero(v);
    const int shift = msb - sub_bits;
    return shift * sub_count + static_cast<int>(v >> shift);
}

std::uint64_t LatencyHistogram::upper_bound_of(int index) {
    if (index < 2 * sub_count) return static_cast<std::uint64_t>(index);
    const int shift = index / sub_count - 1;
    const auto top = static_cast<std::uint64_t>(index - shift * sub_count);
    return ((top + 1) << shift) - 1;
}

void LatencyHistogram::record(std::int64_t ns) {
    if (ns < 0) ns = 0; // a clock read on another core a hair earlier
    ++buckets_[static_cast<std::size_t>(index_of(static_cast<std::uint64_t>(ns)))];
    ++count_;
    if (ns > max_) max_ = ns;
}

void LatencyHistogram::clear() {
    buckets_.fill(0);
    count_ = 0;
    max_ = 0;
}

std::int64_t LatencyHistogram::percentile(double q) const {
    if (count_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    std::uint64_t seen = 0;
    for (int i = 0; i < bucket_count; ++i) {
        seen += buckets_[static_cast<std::size_t>(i)];
        if (seen >= rank && seen > 0) {
            const auto bound = static_cast<std::int64_t>(upper_bound_of(i));
            return bound < max_ ? bound : max_;
        }
    }
    return max_;
}

} // namespace flowgate::bench
