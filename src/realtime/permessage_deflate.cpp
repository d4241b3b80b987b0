#include "permessage_deflate.hpp"

#include <zlib.h>

#include <charconv>
#include <algorithm>
#include <array>
#include <set>
#include <stdexcept>
#include <vector>

namespace flowgate::realtime {
namespace {

constexpr std::string_view flush_tail{"\x00\x00\xff\xff", 4};

std::string_view trim(std::string_view s) {
    const auto start = s.find_first_not_of(" \t");
    if (start == std::string_view::npos) return {};
    const auto end = s.find_last_not_of(" \t");
    return s.substr(start, end - start + 1);
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    for (;;) {
        const auto at = text.find(separator);
        parts.push_back(trim(text.substr(0, at)));
        if (at == std::string_view::npos) return parts;
        text.remove_prefix(at + 1);
    }
}

/// 8..15, or nullopt. A value may be quoted (RFC 7692 7.1: token or quoted-string).
std::optional<int> window_bits_of(std::string_view value) {
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    int bits = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), bits);
    if (ec != std::errc{} || end != value.data() + value.size() || bits < 8 || bits > 15) return std::nullopt;
    return bits;
}

/// Whether one offer's parameters can be accepted compressing with `window_bits`.
bool acceptable(const std::vector<std::string_view>& params, int window_bits) {
    std::set<std::string_view> seen;
    for (std::size_t i = 1; i < params.size(); ++i) {
        const auto equals = params[i].find('=');
        const auto name = trim(params[i].substr(0, equals));
        const auto value = equals == std::string_view::npos ? std::string_view{} : trim(params[i].substr(equals + 1));
        if (!seen.insert(name).second) return false;  // a parameter twice makes the offer invalid
        if (name == "server_no_context_takeover" || name == "client_no_context_takeover") {
            if (equals != std::string_view::npos) return false;
        } else if (name == "server_max_window_bits") {
            const auto bits = window_bits_of(value);
            if (!bits || *bits < window_bits) return false;
        } else if (name == "client_max_window_bits") {
            if (equals != std::string_view::npos && !window_bits_of(value)) return false;
        } else {
            return false;
        }
    }
    return true;
}

} // namespace

std::optional<std::string> negotiate_deflate(std::string_view offers, int window_bits) {
    for (const auto offer : split(offers, ',')) {
        const auto params = split(offer, ';');
        if (params.front() != "permessage-deflate" || !acceptable(params, window_bits)) continue;
        std::string answer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        if (window_bits < 15) answer += "; server_max_window_bits=" + std::to_string(window_bits);
        return answer;
    }
    return std::nullopt;
}

struct FrameCompressor::Stream {
    z_stream z{};
};

FrameCompressor::FrameCompressor(int window_bits, std::size_t threshold_bytes)
    : stream_{std::make_unique<Stream>()}, threshold_bytes_{std::max<std::size_t>(threshold_bytes, 1)} {
    // Negative window bits: raw deflate, no zlib header (RFC 7692 7.2.1).
    if (deflateInit2(&stream_->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw std::runtime_error{"deflateInit2 failed"};
    }
}

FrameCompressor::~FrameCompressor() { deflateEnd(&stream_->z); }

std::string FrameCompressor::compress(std::string_view payload) {
    auto& z = stream_->z;
    deflateReset(&z);
    std::string out(deflateBound(&z, payload.size()) + 16, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(payload.data()));
    z.avail_in = static_cast<uInt>(payload.size());
    std::size_t produced = 0;
    for (;;) {
        z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
        z.avail_out = static_cast<uInt>(out.size() - produced);
        deflate(&z, Z_SYNC_FLUSH);
        produced = out.size() - z.avail_out;
        if (z.avail_out != 0) break;
        out.resize(out.size() * 2);
    }
    out.resize(produced);
    if (std::string_view{out}.ends_with(flush_tail)) out.resize(out.size() - flush_tail.size());
    ++compressions_;
    return out;
}

struct FrameInflater::Stream {
    z_stream z{};
};

FrameInflater::FrameInflater() : stream_{std::make_unique<Stream>()} {
    // 15 bits inflates whatever window the client compressed with.
    if (inflateInit2(&stream_->z, -15) != Z_OK) throw std::runtime_error{"inflateInit2 failed"};
}

FrameInflater::~FrameInflater() { inflateEnd(&stream_->z); }

FrameInflater::Result FrameInflater::inflate(std::string_view compressed, std::size_t max_bytes, std::string& out) {
    auto& z = stream_->z;
    inflateReset(&z);
    out.clear();
    std::string input{compressed};
    input.append(flush_tail);
    z.next_in = reinterpret_cast<Bytef*>(input.data());
    z.avail_in = static_cast<uInt>(input.size());
    std::array<char, 16 * 1024> chunk{};
    for (;;) {
        z.next_out = reinterpret_cast<Bytef*>(chunk.data());
        z.avail_out = static_cast<uInt>(chunk.size());
        const int rc = ::inflate(&z, Z_SYNC_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return {};
        const auto produced = chunk.size() - z.avail_out;
        if (out.size() + produced > max_bytes) return {false, true};
        out.append(chunk.data(), produced);
        if (rc == Z_STREAM_END || (z.avail_in == 0 && z.avail_out != 0)) return {true, false};
        if (rc == Z_BUF_ERROR) return {};  // no progress possible: truncated data
    }
}

} // namespace flowgate::realtime
