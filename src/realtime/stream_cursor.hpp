#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "flowgate/realtime/outbound_message.hpp"
#include "flowgate/realtime/topic_feed.hpp"

namespace flowgate::realtime {

/// Where one session stands in its topic's sequence, and so what it must send: the sans-io
/// heart of recovery. Live messages and replay reads go in; what to send comes out, in seq
/// order, each seq at most once.
///
/// The rule: a catch-up starts once the topic's subscription is confirmed (so every later
/// message arrives live); live messages are held meanwhile; the replay read then gives
/// every message after the session's last seq, and the held live messages after the read's
/// head follow it. If the read cannot give exactly the messages after that seq (the epoch
/// changed, the stream was trimmed past it, Redis could not be read), the session is sent
/// one `RECOVERY {"recovered":false,…}` and then live messages — never a partial replay
/// presented as whole. A gap seen in live messages starts a catch-up too. Messages outside
/// the sequence (seq 0) pass straight through.
class StreamCursor {
public:
    /// `?since=<seq>&epoch=<e>` of the stream URL.
    struct Resume {
        std::uint64_t seq = 0;
        std::string epoch;
    };

    explicit StreamCursor(std::optional<Resume> resume);

    /// A catch-up should start now: the topic's subscription was just confirmed (or a gap
    /// was seen) and no read is in flight. Call begin_catch_up() and read the stream.
    bool wants_catch_up() const { return wants_catch_up_ && !reading_; }
    /// Starts a catch-up; returns the seq to read after (nullopt: only the head, for a
    /// session that has no position yet).
    std::optional<std::uint64_t> begin_catch_up();

    /// The topic's subscription was confirmed (true) or lost (false).
    void on_topic_state(bool subscribed);
    /// A live message: appends what to send now to `out`.
    void on_live(const OutboundPtr& message, std::vector<OutboundPtr>& out);
    /// The replay read started by begin_catch_up() ended: appends what to send to `out`.
    void on_replay(ReplayResult result, std::vector<OutboundPtr>& out);

    /// Live messages held during a catch-up, and their frame bytes.
    std::size_t held() const { return held_.size(); }
    std::size_t held_bytes() const { return held_bytes_; }
    /// Counters for the session's stats.
    std::uint64_t recovered() const { return recovered_; }
    std::uint64_t not_recovered() const { return not_recovered_; }

private:
    void send_live(const OutboundPtr& message, std::vector<OutboundPtr>& out);
    void fail(std::string_view reason, const ReplayResult& result, std::vector<OutboundPtr>& out);

    // The last seq the session sent (or, for a new session, the head when it joined), and
    // its epoch; unset until the first read or live message.
    std::optional<std::uint64_t> last_seq_;
    std::string epoch_;
    std::optional<std::uint64_t> reading_after_;
    std::vector<OutboundPtr> held_;
    std::size_t held_bytes_ = 0;
    bool wants_catch_up_ = false;
    bool reading_ = false;
    // Until the first catch-up ends, live messages are held: one may come before the
    // subscription is confirmed (from a subscription of the topic that is being replaced),
    // and nothing may pass ahead of the session's RECOVERY event or its starting head.
    bool caught_up_ = false;
    bool subscribed_ = false;
    std::uint64_t recovered_ = 0;
    std::uint64_t not_recovered_ = 0;
};

} // namespace flowgate::realtime
