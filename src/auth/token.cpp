#include "flowgate/auth/token.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <optional>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace flowgate::auth {
namespace {

using Json = nlohmann::json;
using Digest = std::array<unsigned char, 32>;
using std::chrono::system_clock;

constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    std::uint32_t bits = 0;
    int count = 0;
    for (const char c : bytes) {
        bits = (bits << 8) | static_cast<unsigned char>(c);
        count += 8;
        while (count >= 6) {
            count -= 6;
            out.push_back(alphabet[(bits >> count) & 0x3F]);
        }
    }
    if (count > 0) out.push_back(alphabet[(bits << (6 - count)) & 0x3F]);
    return out;
}

/// Unpadded base64url only (RFC 7515 2); nullopt on any other character or a length that
/// no encoding has.
std::optional<std::string> from_base64url(std::string_view text) {
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t bits = 0;
    int count = 0;
    for (const char c : text) {
        const auto at = alphabet.find(c);
        if (at == std::string_view::npos) return std::nullopt;
        bits = (bits << 6) | static_cast<std::uint32_t>(at);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out.push_back(static_cast<char>((bits >> count) & 0xFF));
        }
    }
    return out;
}

Digest sign(std::string_view secret, std::string_view input) {
    Digest digest{};
    unsigned int size = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
         input.size(), digest.data(), &size);
    return digest;
}

std::int64_t to_seconds(system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

system_clock::time_point from_seconds(std::int64_t s) { return system_clock::time_point{std::chrono::seconds{s}}; }

Refusal refuse(std::string reason) { return Refusal{std::move(reason)}; }

} // namespace

std::string_view to_string(Scope scope) { return scope == Scope::read ? "read" : "operator"; }

bool Claims::allows(std::int64_t community) const {
    return std::find(communities.begin(), communities.end(), community) != communities.end();
}

TokenAuthority::TokenAuthority(std::vector<std::string> secrets) : secrets_{std::move(secrets)} {
    if (secrets_.empty()) throw std::invalid_argument{"no token secret"};
    for (const auto& secret : secrets_) {
        if (secret.size() < min_secret_bytes) {
            throw std::invalid_argument{"a token secret is " + std::to_string(secret.size()) + " bytes; at least " +
                                        std::to_string(min_secret_bytes) + " are needed (e.g. openssl rand -hex 32)"};
        }
    }
}

std::string TokenAuthority::issue(const Claims& claims) const {
    Json payload = {{"communities", claims.communities},
                    {"iat", to_seconds(claims.issued_at)},
                    {"exp", to_seconds(claims.expires_at)},
                    {"jti", claims.id},
                    {"scope", to_string(claims.scope)}};
    std::string token = base64url(R"({"alg":"HS256","typ":"JWT"})");
    token += '.';
    token += base64url(payload.dump());
    const auto digest = sign(secrets_.front(), token);
    token += '.';
    token += base64url({reinterpret_cast<const char*>(digest.data()), digest.size()});
    return token;
}

std::variant<Claims, Refusal> TokenAuthority::verify(std::string_view token, system_clock::time_point now) const {
    const auto first = token.find('.');
    const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
        return refuse("malformed token: expected a JWT (three base64url parts separated by dots)");
    }
    const auto header_text = from_base64url(token.substr(0, first));
    const auto payload_text = from_base64url(token.substr(first + 1, second - first - 1));
    const auto signature = from_base64url(token.substr(second + 1));
    if (!header_text || !payload_text || !signature) return refuse("malformed token: a part is not base64url");

    const auto header = Json::parse(*header_text, nullptr, false);
    if (!header.is_object() || !header.contains("alg")) return refuse("malformed token: its header has no alg");
    if (header["alg"] != "HS256") return refuse("token algorithm must be HS256");

    // Every secret is tried, whichever matches, so the time taken does not say which.
    bool valid = false;
    for (const auto& secret : secrets_) {
        const auto digest = sign(secret, token.substr(0, second));
        valid |= signature->size() == digest.size() && CRYPTO_memcmp(signature->data(), digest.data(), digest.size()) == 0;
    }
    if (!valid) return refuse("bad token signature");

    // Signed by us: from here a problem is ours (an old issuer), not an attack.
    const auto payload = Json::parse(*payload_text, nullptr, false);
    if (!payload.is_object()) return refuse("malformed token: its payload is not a JSON object");
    Claims claims;
    const auto exp = payload.find("exp");
    if (exp == payload.end() || !exp->is_number_integer()) return refuse("token has no exp (expiry time)");
    claims.expires_at = from_seconds(exp->get<std::int64_t>());
    if (claims.expires_at <= now) return refuse("token expired");
    if (const auto iat = payload.find("iat"); iat != payload.end()) {
        if (!iat->is_number_integer()) return refuse("token iat is not a number");
        claims.issued_at = from_seconds(iat->get<std::int64_t>());
        if (claims.issued_at > now + max_clock_skew) return refuse("token issued in the future (check the clocks)");
    }
    const auto communities = payload.find("communities");
    if (communities == payload.end() || !communities->is_array()) return refuse("token has no communities claim");
    for (const auto& community : *communities) {
        if (!community.is_number_integer()) return refuse("token communities must be integer ids");
        claims.communities.push_back(community.get<std::int64_t>());
    }
    if (const auto jti = payload.find("jti"); jti != payload.end() && jti->is_string()) claims.id = jti->get<std::string>();
    if (const auto scope = payload.find("scope"); scope != payload.end()) {
        if (*scope == "read") {
            claims.scope = Scope::read;
        } else if (*scope == "operator") {
            claims.scope = Scope::operator_;
        } else {
            return refuse("token scope must be read or operator");
        }
    }
    return claims;
}

std::string random_token_id() {
    std::array<unsigned char, 16> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) throw std::runtime_error{"RAND_bytes failed"};
    static constexpr std::string_view hex = "0123456789abcdef";
    std::string id;
    for (const auto b : bytes) {
        id.push_back(hex[b >> 4]);
        id.push_back(hex[b & 0xF]);
    }
    return id;
}

} // namespace flowgate::auth
