#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace flowgate::realtime {

/// The Sec-WebSocket-Extensions answer to a client's offers (RFC 7692), or nullopt to go
/// without compression. flowgate always compresses without context takeover — each message
/// on its own, so one compressed frame serves every session — and asks the same of its
/// clients, so that one inflater serves them all too: no compression state per connection.
/// An offer is taken when its parameters are well formed and its server_max_window_bits (if
/// any) allows `window_bits`; the first such offer wins.
std::optional<std::string> negotiate_deflate(std::string_view offers, int window_bits);

/// Compresses message payloads for permessage-deflate, one at a time, with one zlib stream
/// reset between messages. One per server, used on its loop.
class FrameCompressor {
public:
    FrameCompressor(int window_bits, std::size_t threshold_bytes);
    ~FrameCompressor();
    FrameCompressor(const FrameCompressor&) = delete;
    FrameCompressor& operator=(const FrameCompressor&) = delete;

    /// Whether a payload this long is worth compressing.
    bool worth_it(std::size_t payload_bytes) const { return payload_bytes >= threshold_bytes_; }
    /// The compressed payload (the trailing 00 00 FF FF removed, RFC 7692 7.2.1).
    std::string compress(std::string_view payload);
    /// Messages compressed so far.
    std::uint64_t compressions() const { return compressions_; }

private:
    struct Stream;
    std::unique_ptr<Stream> stream_;
    std::size_t threshold_bytes_;
    std::uint64_t compressions_ = 0;
};

/// Inflates client messages compressed without context takeover. One per server.
class FrameInflater {
public:
    FrameInflater();
    ~FrameInflater();
    FrameInflater(const FrameInflater&) = delete;
    FrameInflater& operator=(const FrameInflater&) = delete;

    struct Result {
        bool ok = false;
        bool too_big = false;  ///< !ok: the message would pass max_bytes (else: bad data)
    };
    /// Inflates `compressed` (one whole message's payload) into `out`.
    Result inflate(std::string_view compressed, std::size_t max_bytes, std::string& out);

private:
    struct Stream;
    std::unique_ptr<Stream> stream_;
};

} // namespace flowgate::realtime
