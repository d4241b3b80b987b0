#include "flowgate/resilience/jittered_backoff.hpp"

#include <algorithm>

namespace flowgate::resilience {

JitteredBackoff::JitteredBackoff(std::chrono::milliseconds base, std::chrono::milliseconds cap)
    : base_{std::max(base, std::chrono::milliseconds{1})}, cap_{std::max(cap, base_)} {}

std::chrono::milliseconds JitteredBackoff::next(std::mt19937_64& random) {
    ++failures_;
    // Doubling stops at the cap, so many failures never overflow the duration.
    ceiling_ = base_;
    for (unsigned i = 0; i < failures_ && ceiling_ < cap_; ++i) ceiling_ *= 2;
    ceiling_ = std::min(ceiling_, cap_);
    std::uniform_int_distribution<std::int64_t> pick{0, ceiling_.count()};
    return std::chrono::milliseconds{pick(random)};
}

void JitteredBackoff::reset() {
    failures_ = 0;
    ceiling_ = std::chrono::milliseconds{0};
}

} // namespace flowgate::resilience
