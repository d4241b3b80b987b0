#include "flowgate/resilience/token_bucket.hpp"

#include <algorithm>
#include <stdexcept>

namespace flowgate::resilience {

namespace {

TokenBucketOptions checked(TokenBucketOptions options) {
    if (!(options.rate > 0) || !(options.burst >= 1) || !(options.min_rate > 0)) {
        throw std::invalid_argument{"token bucket needs rate > 0, burst >= 1 and min_rate > 0"};
    }
    options.min_rate = std::min(options.min_rate, options.rate);
    return options;
}

} // namespace

TokenBucket::TokenBucket(TokenBucketOptions options, Time now)
    : options_{checked(options)}, rate_{options_.rate}, tokens_{options_.burst}, updated_{now} {}

void TokenBucket::set_limits(TokenBucketOptions options, Time now) {
    options = checked(options);
    refill(now);
    const bool was_tightened = tightened();
    options_ = options;
    rate_ = was_tightened ? std::clamp(rate_, options_.min_rate, options_.rate) : options_.rate;
    tokens_ = std::min(burst_share(), tokens_);
}

double TokenBucket::burst_share() const { return std::max(1.0, options_.burst * share_); }

void TokenBucket::refill(Time now) {
    const auto from = std::max(updated_, paused_until_);
    if (now > from) {
        const std::chrono::duration<double> elapsed = now - from;
        tokens_ = tokens_ + elapsed.count() * rate_ * share_;
    }
    tokens_ = std::min(burst_share(), tokens_);
    updated_ = std::max(updated_, now);
}

void TokenBucket::set_share(double share) {
    if (!(share > 0) || share > 1) throw std::invalid_argument{"token bucket share must be in (0, 1]"};
    share_ = share;
    tokens_ = std::min(burst_share(), tokens_);
}

double TokenBucket::tokens(Time now) const {
    auto copy = *this;
    copy.refill(now);
    return copy.tokens_;
}

bool TokenBucket::try_take(Time now) {
    refill(now);
    if (now < paused_until_ || tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
}

TokenBucket::Time TokenBucket::next_token_at(Time now) const {
    const auto have = tokens(now);
    const auto from = std::max(now, paused_until_);
    if (have >= 1) return from;
    const std::chrono::duration<double> wait{(1 - have) / (rate_ * share_)};
    return from + std::chrono::ceil<Time::duration>(wait);
}

void TokenBucket::on_throttled(Time now, std::optional<std::chrono::seconds> retry_after) {
    refill(now);
    rate_ = std::max(options_.min_rate, rate_ / 2);
    tokens_ = 0;
    if (retry_after && *retry_after > std::chrono::seconds::zero()) {
        paused_until_ = std::max(paused_until_, now + *retry_after);
    }
}

bool TokenBucket::on_success() {
    if (!tightened()) return false;
    rate_ = std::min(options_.rate, rate_ + options_.rate / 20);
    return !tightened();
}

} // namespace flowgate::resilience
