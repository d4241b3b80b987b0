#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace flowgate::realtime {

/// WebSocket frame types the server sends (RFC 6455 opcodes).
enum class Opcode : std::uint8_t { text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA };

/// How a session receives events: JSON text frames, or (subprotocol `msgpack`) the same
/// events as MessagePack binary frames; either compressed with permessage-deflate.
struct Encoding {
    bool msgpack = false;
    bool deflate = false;
};

class FrameCompressor;

/// One event as it goes out to dashboards: built once per event (per instance), its wire
/// frame built once, and shared by every session queue and every replay that sends it.
/// Server frames are never masked, so the same bytes serve every client.
class OutboundMessage {
public:
    /// A sequenced event, exactly as the publisher wrote it to Redis: a JSON object that
    /// starts `{"seq":<n>,"epoch":"<digits>",`. nullptr when `json` does not start so.
    static std::shared_ptr<const OutboundMessage> from_sequenced(std::string_view json);
    /// A message outside the topic's sequence (seq 0): a session's own RECOVERY event, "pong".
    static std::shared_ptr<const OutboundMessage> unsequenced(std::string_view json, std::string_view epoch = {});
    /// A control frame (ping, pong, close) with its payload (at most 125 bytes).
    static std::shared_ptr<const OutboundMessage> control(Opcode opcode, std::string_view payload);
    /// A close frame: `code` and `reason` (cut to fit 123 bytes, at a UTF-8 boundary); code
    /// 1005 ("none given") gives an empty close payload, as it may never be sent.
    static std::shared_ptr<const OutboundMessage> close(std::uint16_t code, std::string_view reason);

    /// Position in the topic's sequence; 0 for messages outside it.
    std::uint64_t seq() const { return seq_; }
    /// The topic's epoch: seqs compare only within one epoch.
    const std::string& epoch() const { return epoch_; }
    /// The payload (the event's JSON text for data messages).
    std::string_view payload() const { return std::string_view{frame_}.substr(header_size_); }
    /// The whole frame: header and payload, ready for the socket.
    const std::string& frame() const { return frame_; }
    /// The frame in `encoding`, built on first use and then shared by every session that
    /// asks for it (only event messages, JSON objects, are transcoded; others, and payloads
    /// the compressor finds too short, are sent as frame()). `compressor` is needed for
    /// deflate. Not thread-safe: call from the server's loop only.
    const std::string& frame(Encoding encoding, FrameCompressor* compressor) const;
    Opcode opcode() const { return opcode_; }
    /// When the message was built: for events, when they arrived from Redis.
    std::chrono::steady_clock::time_point created() const { return created_; }
    bool is_control() const { return static_cast<std::uint8_t>(opcode_) >= 0x8; }

    /// Use the factories; public for make_shared.
    OutboundMessage(Opcode opcode, std::string_view payload, std::uint64_t seq, std::string epoch);

private:
    std::uint64_t seq_;
    std::string epoch_;
    std::string frame_;
    // frame(encoding): JSON deflated, MessagePack, MessagePack deflated; empty until built.
    mutable std::array<std::string, 3> encoded_;
    std::size_t header_size_;
    std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
    Opcode opcode_;
};

using OutboundPtr = std::shared_ptr<const OutboundMessage>;

/// The seq and epoch at the head of a sequenced event's JSON, or nullopt.
struct SequenceStamp {
    std::uint64_t seq = 0;
    std::string_view epoch;
};
std::optional<SequenceStamp> parse_sequence_stamp(std::string_view json);

} // namespace flowgate::realtime
