#include "ws_handshake.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>

namespace flowgate::realtime {

std::optional<std::string> websocket_accept_key(std::string_view client_key) {
    // 16 bytes in base64 are 24 characters ending in "==".
    if (client_key.size() != 24 || !client_key.ends_with("==")) return std::nullopt;
    std::array<unsigned char, 18> decoded{};
    if (EVP_DecodeBlock(decoded.data(), reinterpret_cast<const unsigned char*>(client_key.data()), 24) != 18) {
        return std::nullopt;
    }
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string input{client_key};
    input.append(guid);
    std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
    SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
    std::array<unsigned char, 29> encoded{};  // 4 * ceil(20 / 3) + NUL
    const int n = EVP_EncodeBlock(encoded.data(), digest.data(), static_cast<int>(digest.size()));
    return std::string{reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(n)};
}

} // namespace flowgate::realtime
