#pragma once

#include <chrono>
#include <string_view>

namespace flowgate::resilience {

struct CircuitBreakerOptions {
    /// Consecutive source failures (network, timeout, 5xx, 429) that open the breaker. Default 5.
    unsigned failure_threshold = 5;
    /// How long the breaker stays open the first time. Default 30s.
    std::chrono::milliseconds cool_down{30'000};
    /// Each failed probe doubles the cool-down, up to this. Default 5m.
    std::chrono::milliseconds max_cool_down{300'000};
};

enum class BreakerState { closed, open, half_open };

std::string_view to_string(BreakerState state);

/// The circuit breaker of one host (no I/O, time passed in). Closed: every request may go.
/// Open: none may, until the cool-down has passed. Half-open: exactly one probe request may
/// go; its success closes the breaker, its failure opens it again with a doubled cool-down.
class CircuitBreaker {
public:
    using Time = std::chrono::steady_clock::time_point;

    explicit CircuitBreaker(CircuitBreakerOptions options);

    /// Whether allow() would let a request go now, without taking the probe.
    bool would_allow(Time now) const;
    /// Asks to send one request: true when it may go. After the cool-down this turns the
    /// breaker half-open and the request is its probe; until the probe ends, no other may go.
    bool allow(Time now);

    /// The host answered (anything but a source failure).
    void on_success();
    /// A source failure: counts towards opening, or re-opens after a failed probe.
    void on_failure(Time now);
    /// A request allowed by allow() ended without an answer either way (cancelled): the
    /// probe, if it was one, may be sent again.
    void on_abandoned();

    BreakerState state() const { return state_; }
    unsigned consecutive_failures() const { return failures_; }
    /// When an open breaker lets its probe go.
    Time reopens_at() const { return reopens_at_; }
    std::chrono::milliseconds cool_down() const { return cool_down_; }

private:
    CircuitBreakerOptions options_;
    BreakerState state_ = BreakerState::closed;
    unsigned failures_ = 0;
    bool probe_in_flight_ = false;
    std::chrono::milliseconds cool_down_;
    Time reopens_at_{};
};

} // namespace flowgate::resilience
