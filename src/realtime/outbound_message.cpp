#include "flowgate/realtime/outbound_message.hpp"

#include <charconv>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "permessage_deflate.hpp"

namespace flowgate::realtime {
namespace {

constexpr std::string_view seq_prefix = R"({"seq":)";
constexpr std::string_view epoch_prefix = R"(,"epoch":")";

bool is_digits(std::string_view s) {
    if (s.empty()) return false;
    for (const char c : s) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

// FIN set, no mask, RSV1 for a compressed message: 2, 4 or 10 bytes of header.
void append_header(std::string& out, Opcode opcode, std::size_t length, bool compressed = false) {
    out.push_back(static_cast<char>(0x80 | (compressed ? 0x40 : 0) | static_cast<std::uint8_t>(opcode)));
    if (length < 126) {
        out.push_back(static_cast<char>(length));
    } else if (length <= 0xFFFF) {
        out.push_back(static_cast<char>(126));
        out.push_back(static_cast<char>(length >> 8));
        out.push_back(static_cast<char>(length & 0xFF));
    } else {
        out.push_back(static_cast<char>(127));
        for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((length >> shift) & 0xFF));
    }
}

} // namespace

std::optional<SequenceStamp> parse_sequence_stamp(std::string_view json) {
    if (!json.starts_with(seq_prefix)) return std::nullopt;
    json.remove_prefix(seq_prefix.size());
    SequenceStamp stamp;
    const auto [end, ec] = std::from_chars(json.data(), json.data() + json.size(), stamp.seq);
    if (ec != std::errc{} || stamp.seq == 0) return std::nullopt;
    json.remove_prefix(static_cast<std::size_t>(end - json.data()));
    if (!json.starts_with(epoch_prefix)) return std::nullopt;
    json.remove_prefix(epoch_prefix.size());
    const auto quote = json.find('"');
    if (quote == std::string_view::npos || !is_digits(json.substr(0, quote))) return std::nullopt;
    stamp.epoch = json.substr(0, quote);
    return stamp;
}

OutboundMessage::OutboundMessage(Opcode opcode, std::string_view payload, std::uint64_t seq, std::string epoch)
    : seq_{seq}, epoch_{std::move(epoch)}, opcode_{opcode} {
    if (is_control() && payload.size() > 125) throw std::invalid_argument{"WebSocket control frame payload over 125 bytes"};
    frame_.reserve(payload.size() + 10);
    append_header(frame_, opcode, payload.size());
    header_size_ = frame_.size();
    frame_.append(payload);
}

const std::string& OutboundMessage::frame(Encoding encoding, FrameCompressor* compressor) const {
    const auto text = payload();
    const bool event = opcode_ == Opcode::text && text.starts_with('{');
    if (!event) return frame_;
    const bool deflate = encoding.deflate && compressor;
    if (!encoding.msgpack && !(deflate && compressor->worth_it(text.size()))) return frame_;
    auto& built = encoded_[encoding.msgpack ? (deflate ? 2 : 1) : 0];
    if (!built.empty()) return built;
    if (encoding.msgpack) {
        const auto json = nlohmann::json::parse(text, nullptr, false);
        if (json.is_discarded()) return frame_;
        std::string packed;
        nlohmann::json::to_msgpack(json, packed);
        if (deflate && compressor->worth_it(packed.size())) {
            const auto compressed = compressor->compress(packed);
            append_header(built, Opcode::binary, compressed.size(), true);
            built += compressed;
        } else {
            append_header(built, Opcode::binary, packed.size());
            built += packed;
        }
    } else {
        const auto compressed = compressor->compress(text);
        append_header(built, Opcode::text, compressed.size(), true);
        built += compressed;
    }
    return built;
}

OutboundPtr OutboundMessage::from_sequenced(std::string_view json) {
    const auto stamp = parse_sequence_stamp(json);
    if (!stamp) return nullptr;
    return std::make_shared<const OutboundMessage>(Opcode::text, json, stamp->seq, std::string{stamp->epoch});
}

OutboundPtr OutboundMessage::unsequenced(std::string_view json, std::string_view epoch) {
    return std::make_shared<const OutboundMessage>(Opcode::text, json, 0, std::string{epoch});
}

OutboundPtr OutboundMessage::control(Opcode opcode, std::string_view payload) {
    return std::make_shared<const OutboundMessage>(opcode, payload, 0, std::string{});
}

OutboundPtr OutboundMessage::close(std::uint16_t code, std::string_view reason) {
    if (code == 1005) return control(Opcode::close, {});
    std::size_t keep = std::min<std::size_t>(reason.size(), 123);
    // Never cut a UTF-8 sequence in two: back up over continuation bytes.
    while (keep > 0 && keep < reason.size() && (static_cast<unsigned char>(reason[keep]) & 0xC0) == 0x80) --keep;
    std::string payload;
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    payload.append(reason.substr(0, keep));
    return control(Opcode::close, payload);
}

} // namespace flowgate::realtime
