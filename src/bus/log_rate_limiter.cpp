#include "log_rate_limiter.hpp"

namespace flowgate::bus {

LogRateLimiter::LogRateLimiter(std::chrono::steady_clock::duration interval) : interval_{interval} {}

std::uint64_t LogRateLimiter::on_events(std::uint64_t n, TimePoint now) {
    unreported_ += n;
    if (unreported_ == 0 || (logged_once_ && now < next_line_)) return 0;
    logged_once_ = true;
    next_line_ = now + interval_;
    const auto count = unreported_;
    unreported_ = 0;
    return count;
}

} // namespace flowgate::bus
