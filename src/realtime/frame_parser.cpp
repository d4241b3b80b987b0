#include "frame_parser.hpp"

#include <array>

#include "permessage_deflate.hpp"

namespace flowgate::realtime {
namespace {

bool valid_close_code(std::uint16_t code) {
    // RFC 6455 7.4: 1004-1006 and 1015 are never sent; 3000-4999 belong to libraries and apps.
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

void unmask(char* data, std::size_t size, const std::array<unsigned char, 4>& key) {
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>(data[i] ^ key[i & 3]);
}

} // namespace

bool valid_utf8(std::string_view text) {
    std::size_t i = 0;
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    while (i < text.size()) {
        const unsigned char c = byte(i);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t length = 0;
        std::uint32_t code = 0;
        if ((c & 0xE0) == 0xC0) {
            length = 2;
            code = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            length = 3;
            code = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            length = 4;
            code = c & 0x07;
        } else {
            return false;
        }
        if (i + length > text.size()) return false;
        for (std::size_t k = 1; k < length; ++k) {
            if ((byte(i + k) & 0xC0) != 0x80) return false;
            code = (code << 6) | (byte(i + k) & 0x3F);
        }
        static constexpr std::array<std::uint32_t, 5> smallest{0, 0, 0x80, 0x800, 0x10000};
        if (code < smallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
        i += length;
    }
    return true;
}

FrameParser::Event FrameParser::fail(std::uint16_t code, std::string_view why) {
    failed_ = true;
    buffer_.clear();
    consumed_ = 0;
    message_.clear();
    Event event;
    event.kind = Event::Kind::error;
    event.code = code;
    event.error = why;
    return event;
}

FrameParser::Event FrameParser::next() {
    using Kind = Event::Kind;
    for (;;) {
        if (failed_) return {};
        // Drop what was consumed once it is most of the buffer, so appends stay cheap.
        if (consumed_ > 0 && consumed_ * 2 >= buffer_.size()) {
            buffer_.erase(0, consumed_);
            consumed_ = 0;
        }
        const std::string_view data = std::string_view{buffer_}.substr(consumed_);
        if (data.size() < 2) return {};
        const auto b0 = static_cast<unsigned char>(data[0]);
        const auto b1 = static_cast<unsigned char>(data[1]);
        const bool fin = (b0 & 0x80) != 0;
        const unsigned opcode = b0 & 0x0F;
        const bool rsv1 = (b0 & 0x40) != 0;
        if ((b0 & 0x30) != 0 || (rsv1 && !inflater_)) return fail(1002, "reserved bits set (no extension was negotiated)");
        if ((b1 & 0x80) == 0) return fail(1002, "client frames must be masked");
        const bool control = opcode >= 0x8;
        if (control && opcode > 0xA) return fail(1002, "unknown control opcode");
        if (!control && opcode > 0x2) return fail(1002, "unknown data opcode");

        std::uint64_t length = b1 & 0x7F;
        std::size_t header = 2;
        if (length == 126) {
            if (data.size() < 4) return {};
            length = (static_cast<std::uint64_t>(static_cast<unsigned char>(data[2])) << 8) |
                     static_cast<unsigned char>(data[3]);
            header = 4;
        } else if (length == 127) {
            if (data.size() < 10) return {};
            length = 0;
            for (std::size_t k = 2; k < 10; ++k) length = (length << 8) | static_cast<unsigned char>(data[k]);
            if (length >> 63) return fail(1002, "frame length has its top bit set");
            header = 10;
        }
        if (control && (!fin || length > 125)) return fail(1002, "control frames must be whole and at most 125 bytes");
        if (rsv1 && (control || opcode == 0)) return fail(1002, "RSV1 is only for the first frame of a data message");
        if (!control) {
            if (opcode == 0 && !in_message_) return fail(1002, "continuation frame outside a message");
            if (opcode != 0 && in_message_) return fail(1002, "new message before the last one ended");
            const std::size_t so_far = opcode == 0 ? message_.size() : 0;
            if (so_far + length > max_message_bytes_) return fail(1009, "message too big");
        }
        if (data.size() < header + 4 + length) return {};

        std::array<unsigned char, 4> key{};
        for (std::size_t k = 0; k < 4; ++k) key[k] = static_cast<unsigned char>(data[header + k]);
        const std::size_t start = consumed_ + header + 4;
        const auto size = static_cast<std::size_t>(length);
        unmask(buffer_.data() + start, size, key);
        const std::string_view payload{buffer_.data() + start, size};
        consumed_ = start + size;

        if (control) {
            control_.assign(payload);
            Event event;
            event.payload = control_;
            if (opcode == 0x9) {
                event.kind = Kind::ping;
            } else if (opcode == 0xA) {
                event.kind = Kind::pong;
            } else {
                event.kind = Kind::close;
                event.code = 1005;
                if (size == 1) return fail(1002, "close payload of one byte");
                if (size >= 2) {
                    event.code = static_cast<std::uint16_t>((static_cast<unsigned char>(control_[0]) << 8) |
                                                            static_cast<unsigned char>(control_[1]));
                    if (!valid_close_code(event.code)) return fail(1002, "invalid close code");
                    event.payload = std::string_view{control_}.substr(2);
                    if (!valid_utf8(event.payload)) return fail(1007, "close reason is not UTF-8");
                }
            }
            return event;
        }

        if (opcode != 0) {
            in_message_ = true;
            message_text_ = opcode == 0x1;
            message_compressed_ = rsv1;
            message_.clear();
        }
        message_.append(payload);
        if (!fin) continue;
        in_message_ = false;
        std::string_view whole = message_;
        if (message_compressed_) {
            const auto result = inflater_->inflate(message_, max_message_bytes_, inflated_);
            if (result.too_big) return fail(1009, "message too big");
            if (!result.ok) return fail(1007, "compressed message does not inflate");
            whole = inflated_;
        }
        if (message_text_ && !valid_utf8(whole)) return fail(1007, "text message is not UTF-8");
        Event event;
        event.kind = message_text_ ? Kind::text : Kind::binary;
        event.payload = whole;
        return event;
    }
}

} // namespace flowgate::realtime
