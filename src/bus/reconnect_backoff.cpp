#include "reconnect_backoff.hpp"

#include <algorithm>
#include <stdexcept>

namespace flowgate::bus {

ReconnectBackoff::ReconnectBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
    : initial_{initial}, max_{max}, current_{initial} {
    if (initial.count() <= 0 || max < initial) {
        throw std::invalid_argument{"reconnect backoff: need 0 < reconnect_initial <= reconnect_max"};
    }
}

std::chrono::milliseconds ReconnectBackoff::next() {
    const auto delay = current_;
    ++failures_;
    // Compare before doubling so a large cap cannot overflow.
    current_ = current_ > max_ / 2 ? max_ : std::min(current_ * 2, max_);
    return delay;
}

void ReconnectBackoff::reset() {
    current_ = initial_;
    failures_ = 0;
}

} // namespace flowgate::bus
