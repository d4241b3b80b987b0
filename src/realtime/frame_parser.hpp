#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace flowgate::realtime {

class FrameInflater;

/// Reads the frames a WebSocket client sends (RFC 6455), without I/O: bytes go in with
/// append(), whole messages and control frames come out of next(). It enforces what a server
/// must: every client frame masked, no reserved bits or opcodes, control frames short and
/// unfragmented, continuations only inside a message, text valid UTF-8, close payloads well
/// formed, and a message size limit. A violation is an `error` event carrying the close code
/// to answer with (1002 protocol error, 1007 bad UTF-8, 1009 too big); after it the parser
/// yields nothing more.
class FrameParser {
public:
    struct Event {
        enum class Kind { none, text, binary, ping, pong, close, error };
        Kind kind = Kind::none;
        /// The message, the control payload, or the close reason. Valid until the next call.
        std::string_view payload;
        /// close: the client's code (1005 when it sent none); error: the code to close with.
        std::uint16_t code = 0;
        /// error: what was wrong, for the close reason and the log.
        std::string_view error;
    };

    explicit FrameParser(std::size_t max_message_bytes) : max_message_bytes_{max_message_bytes} {}

    /// permessage-deflate was negotiated: a message whose first frame has RSV1 set is
    /// inflated with `inflater` (to at most max_message_bytes) before it comes out.
    void accept_compressed(FrameInflater* inflater) { inflater_ = inflater; }

    void append(std::string_view bytes) { buffer_.append(bytes); }
    /// The next event, or Kind::none when more bytes are needed.
    Event next();
    /// Bytes received but not yet consumed (a partial frame).
    std::size_t buffered() const { return buffer_.size() - consumed_; }

private:
    Event fail(std::uint16_t code, std::string_view why);

    std::size_t max_message_bytes_;
    std::string buffer_;
    std::size_t consumed_ = 0;
    FrameInflater* inflater_ = nullptr;
    std::string message_;  // a fragmented message being assembled
    std::string inflated_;
    std::string control_;  // the last control payload, unmasked
    bool in_message_ = false;
    bool message_text_ = false;
    bool message_compressed_ = false;
    bool failed_ = false;
};

/// Whether `text` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view text);

} // namespace flowgate::realtime
