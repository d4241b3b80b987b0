#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace flowgate::auth {

/// What a token lets its holder do: `read` follows streams; `operator` (for the operator
/// API to come) also reads.
enum class Scope { read, operator_ };

std::string_view to_string(Scope scope);

/// The claims of a stream token (a JWT signed with HS256).
struct Claims {
    std::vector<std::int64_t> communities;         ///< "communities": those it may see
    std::chrono::system_clock::time_point issued_at;   ///< "iat"
    std::chrono::system_clock::time_point expires_at;  ///< "exp"
    std::string id;                                ///< "jti", for revocation lists and logs
    Scope scope = Scope::read;                     ///< "scope"

    bool allows(std::int64_t community) const;
};

/// Why a token was refused (always HTTP 401), said so that its holder knows what to fix.
struct Refusal {
    std::string reason;
};

/// Issues and verifies stream tokens: JWTs (RFC 7519) with HS256 only — a token naming any
/// other algorithm, "none" included, is refused. `secrets` are newest first: the first signs,
/// and a token signed by any of them verifies, so a secret is rotated by putting the new one
/// first and dropping the old one once its tokens have expired. Signatures are compared in
/// constant time. Thread-safe (const).
class TokenAuthority {
public:
    /// At least one secret, each at least min_secret_bytes; std::invalid_argument otherwise.
    explicit TokenAuthority(std::vector<std::string> secrets);

    static constexpr std::size_t min_secret_bytes = 32;
    /// How far in the future "iat" may be (clocks of issuing machines drift).
    static constexpr std::chrono::seconds max_clock_skew{60};

    std::string issue(const Claims& claims) const;
    std::variant<Claims, Refusal> verify(std::string_view token, std::chrono::system_clock::time_point now) const;

private:
    std::vector<std::string> secrets_;
};

/// A random jti: 16 bytes as 32 hex digits.
std::string random_token_id();

} // namespace flowgate::auth
