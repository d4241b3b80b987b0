#include "flowgate/resilience/circuit_breaker.hpp"

#include <algorithm>

namespace flowgate::resilience {

std::string_view to_string(BreakerState state) {
    switch (state) {
    case BreakerState::closed: return "closed";
    case BreakerState::open: return "open";
    case BreakerState::half_open: return "half_open";
    }
    return "closed";
}

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options)
    : options_{options}, cool_down_{options.cool_down} {
    options_.failure_threshold = std::max(1u, options_.failure_threshold);
}

bool CircuitBreaker::would_allow(Time now) const {
    switch (state_) {
    case BreakerState::closed: return true;
    case BreakerState::open: return now >= reopens_at_;
    case BreakerState::half_open: return !probe_in_flight_;
    }
    return false;
}

bool CircuitBreaker::allow(Time now) {
    if (!would_allow(now)) return false;
    if (state_ == BreakerState::open) state_ = BreakerState::half_open;
    if (state_ == BreakerState::half_open) probe_in_flight_ = true;
    return true;
}

void CircuitBreaker::on_success() {
    failures_ = 0;
    probe_in_flight_ = false;
    state_ = BreakerState::closed;
    cool_down_ = options_.cool_down;
}

void CircuitBreaker::on_failure(Time now) {
    ++failures_;
    if (state_ == BreakerState::half_open) {
        cool_down_ = std::min(options_.max_cool_down, cool_down_ * 2);
    } else if (state_ == BreakerState::open || failures_ < options_.failure_threshold) {
        // Failures of requests sent before the breaker opened change nothing more.
        return;
    }
    probe_in_flight_ = false;
    state_ = BreakerState::open;
    reopens_at_ = now + cool_down_;
}

void CircuitBreaker::on_abandoned() { probe_in_flight_ = false; }

} // namespace flowgate::resilience
