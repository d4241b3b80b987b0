#include "stream_cursor.hpp"

#include "flowgate/core/json_text.hpp"

namespace flowgate::realtime {
namespace {

OutboundPtr recovery_event(bool recovered, std::string_view reason, std::optional<std::uint64_t> since,
                           std::uint64_t replayed, const std::string& epoch, std::uint64_t head_seq) {
    std::string json = R"({"type":"RECOVERY","recovered":)";
    json += recovered ? "true" : "false";
    if (!reason.empty()) {
        json += R"(,"reason":)";
        append_json_string(json, reason);
    }
    if (since) {
        json += R"(,"since":)";
        json += std::to_string(*since);
    }
    json += R"(,"replayed":)";
    json += std::to_string(replayed);
    json += R"(,"epoch":)";
    append_json_string(json, epoch);
    json += R"(,"head_seq":)";
    json += std::to_string(head_seq);
    json += '}';
    return OutboundMessage::unsequenced(json, epoch);
}

} // namespace

StreamCursor::StreamCursor(std::optional<Resume> resume) {
    if (resume) {
        last_seq_ = resume->seq;
        epoch_ = std::move(resume->epoch);
    }
}

void StreamCursor::on_topic_state(bool subscribed) {
    subscribed_ = subscribed;
    // Lost: nothing to do until the next confirmation, from which on nothing is missed.
    if (subscribed) wants_catch_up_ = true;
}

std::optional<std::uint64_t> StreamCursor::begin_catch_up() {
    wants_catch_up_ = false;
    reading_ = true;
    reading_after_ = last_seq_;
    return last_seq_;
}

void StreamCursor::on_live(const OutboundPtr& message, std::vector<OutboundPtr>& out) {
    if (message->seq() == 0) {
        // Outside the sequence: nothing to order or recover.
        out.push_back(message);
        return;
    }
    if (!caught_up_ || reading_ || wants_catch_up_) {
        held_bytes_ += message->frame().size();
        held_.push_back(message);
        return;
    }
    if (!last_seq_ || epoch_.empty() || message->epoch() != epoch_) {
        // An empty epoch is a topic that had never been published to when this session looked.
        if (last_seq_ && !epoch_.empty()) {
            // Redis lost the topic and a new epoch began while this session was subscribed.
            ++not_recovered_;
            out.push_back(recovery_event(false, "epoch changed", last_seq_, 0, message->epoch(), message->seq()));
        }
        send_live(message, out);
        return;
    }
    if (message->seq() <= *last_seq_) return;  // already sent (replayed, or seen twice)
    if (message->seq() > *last_seq_ + 1) {
        // Something between was missed live: the stream has it.
        wants_catch_up_ = true;
        held_bytes_ += message->frame().size();
        held_.push_back(message);
        return;
    }
    send_live(message, out);
}

void StreamCursor::send_live(const OutboundPtr& message, std::vector<OutboundPtr>& out) {
    last_seq_ = message->seq();
    epoch_ = message->epoch();
    out.push_back(message);
}

void StreamCursor::fail(std::string_view reason, const ReplayResult& result, std::vector<OutboundPtr>& out) {
    ++not_recovered_;
    out.push_back(recovery_event(false, reason, reading_after_, 0, result.epoch, result.head_seq));
    // From here the session follows the topic from its head, live.
    epoch_ = result.epoch;
    last_seq_ = result.head_seq;
}

void StreamCursor::on_replay(ReplayResult result, std::vector<OutboundPtr>& out) {
    reading_ = false;
    caught_up_ = true;
    const auto after = reading_after_;
    if (!result.ok) {
        if (after) {
            ++not_recovered_;
            out.push_back(recovery_event(false, "replay unavailable: " + result.error, after, 0, epoch_, *after));
        }
        // Without a readable stream, the held messages are all there is: send them as live.
        last_seq_.reset();
    } else if (!after) {
        // A new session: it follows the topic from the head as it was when it joined.
        epoch_ = result.epoch;
        last_seq_ = result.head_seq;
    } else if (result.epoch != epoch_) {
        fail(result.epoch.empty() ? "stream lost" : "epoch changed", result, out);
    } else if (result.head_seq < *after) {
        fail("since is ahead of the stream", result, out);
    } else if (result.messages.empty() ? result.head_seq != *after
                                       : result.messages.front()->seq() != *after + 1 ||
                                             result.messages.back()->seq() != result.head_seq) {
        fail("messages after since are no longer held", result, out);
    } else {
        ++recovered_;
        out.push_back(recovery_event(true, {}, after, result.messages.size(), result.epoch, result.head_seq));
        for (auto& message : result.messages) out.push_back(std::move(message));
        last_seq_ = result.head_seq;
    }
    auto held = std::move(held_);
    held_.clear();
    held_bytes_ = 0;
    for (const auto& message : held) on_live(message, out);
}

} // namespace flowgate::realtime
