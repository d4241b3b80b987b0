#include "publish_queue.hpp"

#include <stdexcept>

namespace flowgate::bus {

PublishQueue::PublishQueue(std::size_t capacity, std::size_t max_in_flight, std::size_t max_in_flight_bytes)
    : capacity_{capacity}, max_in_flight_{max_in_flight}, max_in_flight_bytes_{max_in_flight_bytes} {
    if (capacity == 0) throw std::invalid_argument{"Redis publisher: queue_capacity must be at least 1"};
    if (max_in_flight == 0) throw std::invalid_argument{"Redis publisher: max_in_flight must be at least 1"};
}

std::size_t PublishQueue::push(Message message) {
    waiting_.push_back(std::move(message));
    return drop_overflow();
}

const PublishQueue::Message* PublishQueue::next() const {
    if (held_ || waiting_.empty() || in_flight_.size() >= max_in_flight_) return nullptr;
    // One message is always allowed, however large, or a big event would wait forever.
    const auto size = waiting_.front().event->size();
    if (!in_flight_.empty() && in_flight_bytes_ + size > max_in_flight_bytes_) return nullptr;
    return &waiting_.front();
}

void PublishQueue::mark_sent() {
    in_flight_bytes_ += waiting_.front().event->size();
    in_flight_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
}

std::chrono::steady_clock::time_point PublishQueue::on_reply(Outcome outcome) {
    if (in_flight_.empty()) return {};
    const auto queued_at = in_flight_.front().queued_at;
    in_flight_bytes_ -= in_flight_.front().event->size();
    in_flight_.pop_front();
    if (outcome == Outcome::failed) {
        ++failed_;
    } else {
        ++published_;
        if (outcome == Outcome::duplicate) ++duplicates_;
    }
    return queued_at;
}

std::size_t PublishQueue::requeue_unanswered() {
    while (!in_flight_.empty()) {
        waiting_.push_front(std::move(in_flight_.back()));
        in_flight_.pop_back();
    }
    in_flight_bytes_ = 0;
    return drop_overflow();
}

std::size_t PublishQueue::drop_overflow() {
    std::size_t dropped = 0;
    while (waiting_.size() > capacity_) {
        waiting_.pop_front();
        ++dropped;
    }
    dropped_ += dropped;
    return dropped;
}

} // namespace flowgate::bus
