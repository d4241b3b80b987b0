#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

namespace flowgate::bus {

/// The publisher's bookkeeping, without I/O: messages waiting to be sent (bounded, the
/// oldest dropped when full) and messages sent but not yet answered (bounded by count and
/// bytes). Redis answers in order, so replies match the in-flight list front to back.
/// While held, nothing is offered for sending; messages still queue (and still drop).
class PublishQueue {
public:
    struct Message {
        std::string topic;
        /// Empty: no deduplication.
        std::string dedupe_id;
        std::shared_ptr<const std::string> event;
        /// When publish() was called.
        std::chrono::steady_clock::time_point queued_at{};
    };

    /// How Redis answered one message.
    enum class Outcome { published, duplicate, failed };

    /// Throws std::invalid_argument when `capacity` or `max_in_flight` is 0.
    PublishQueue(std::size_t capacity, std::size_t max_in_flight, std::size_t max_in_flight_bytes);

    /// Appends a message; when the queue is full the oldest waiting one is dropped first.
    /// Returns how many were dropped (0 or 1).
    std::size_t push(Message message);

    /// The next message to send, or nullptr when none waits, the queue is held or the
    /// in-flight window is full.
    const Message* next() const;
    /// The message returned by next() was written: it is now in flight.
    void mark_sent();
    /// The oldest in-flight message was answered. Returns when it was queued (a
    /// default time point when nothing was in flight).
    std::chrono::steady_clock::time_point on_reply(Outcome outcome);
    /// The unanswered messages will get no (usable) answer: the connection went away, or
    /// Redis did not run them. They go back to the front, in their order, to be sent again.
    /// Returns how many old messages were dropped to stay within capacity.
    std::size_t requeue_unanswered();

    void hold(bool held) { held_ = held; }
    bool held() const { return held_; }

    std::size_t waiting() const { return waiting_.size(); }
    std::size_t in_flight() const { return in_flight_.size(); }
    /// Answered without an error, duplicates included.
    std::uint64_t published() const { return published_; }
    std::uint64_t duplicates() const { return duplicates_; }
    std::uint64_t dropped() const { return dropped_; }
    std::uint64_t failed() const { return failed_; }

private:
    std::size_t drop_overflow();

    std::size_t capacity_;
    std::size_t max_in_flight_;
    std::size_t max_in_flight_bytes_;
    std::deque<Message> waiting_;
    std::deque<Message> in_flight_;
    std::size_t in_flight_bytes_ = 0;
    bool held_ = false;
    std::uint64_t published_ = 0;
    std::uint64_t duplicates_ = 0;
    std::uint64_t dropped_ = 0;
    std::uint64_t failed_ = 0;
};

} // namespace flowgate::bus
