#pragma once

#include <chrono>
#include <optional>

namespace flowgate::resilience {

struct TokenBucketOptions {
    /// Requests per second when the source is healthy. Default 2.
    double rate = 2.0;
    /// Requests that may be sent at once after a quiet spell. Default 10.
    double burst = 10.0;
    /// The rate never falls below this, however often the source throttles. Default 1/60.
    double min_rate = 1.0 / 60.0;
};

/// A token bucket whose rate adapts to the source (no I/O, time passed in): halved on every
/// 429 or 5xx (multiplicative decrease), raised by a twentieth of the configured rate on every
/// success (additive recovery), and paused until a `Retry-After` the source asked for.
class TokenBucket {
public:
    using Time = std::chrono::steady_clock::time_point;

    TokenBucket(TokenBucketOptions options, Time now);

    /// Takes one token if there is one.
    bool try_take(Time now);
    /// When the next token will be there (now when there is one already).
    Time next_token_at(Time now) const;

    /// The source throttled us (429 or 5xx): halve the rate, drop the tokens, and send nothing
    /// before `retry_after` when the source gave one.
    void on_throttled(Time now, std::optional<std::chrono::seconds> retry_after);
    /// A request succeeded. True when this brought the rate back to the configured one.
    bool on_success();

    /// The part of the key's budget this bucket may spend on its own: 1 / the instances that
    /// share the key, when their shared bucket is out of reach. In (0, 1]; scales the refill
    /// and the burst (never below one token), not rate().
    void set_share(double share);

    /// New configured limits (a reload): the rate becomes the new one, or stays at its
    /// adapted value when that is lower (a source that throttles us still does), and the
    /// tokens held are kept up to the new burst.
    void set_limits(TokenBucketOptions options, Time now);

    /// The adapted rate of the whole key, before the share.
    double rate() const { return rate_; }
    /// The rate of the configuration, which rate() returns to after throttling.
    double configured_rate() const { return options_.rate; }
    double burst() const { return options_.burst; }
    double share() const { return share_; }
    bool tightened() const { return rate_ < options_.rate; }
    double tokens(Time now) const;
    /// Until when a Retry-After holds every request back (in the past when none does).
    Time paused_until() const { return paused_until_; }

private:
    void refill(Time now);
    double burst_share() const;

    TokenBucketOptions options_;
    double rate_;
    double tokens_;
    Time updated_;
    Time paused_until_{};
    double share_ = 1.0;
};

} // namespace flowgate::resilience
