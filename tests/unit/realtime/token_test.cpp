#include "flowgate/auth/token.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <variant>

using flowgate::auth::Claims;
using flowgate::auth::Refusal;
using flowgate::auth::Scope;
using flowgate::auth::TokenAuthority;
using namespace std::chrono_literals;

namespace {

const auto now = std::chrono::system_clock::time_point{std::chrono::seconds{1'764'700'000}};
const TokenAuthority authority{{std::string(40, 'k')}};

std::string reason(const std::variant<Claims, Refusal>& verdict) {
    const auto* refusal = std::get_if<Refusal>(&verdict);
    return refusal ? refusal->reason : "accepted";
}

std::string b64url(std::string_view text) {
    // Enough for the short ASCII headers below.
    static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t bits = 0;
    int count = 0;
    for (const char c : text) {
        bits = (bits << 8) | static_cast<unsigned char>(c);
        count += 8;
        while (count >= 6) out.push_back(alphabet[(bits >> (count -= 6)) & 0x3F]);
    }
    if (count > 0) out.push_back(alphabet[(bits << (6 - count)) & 0x3F]);
    return out;
}

} // namespace

TEST(TokenAuthority, IssuedClaimsVerifyUnchanged) {
    const Claims claims{{1, 3}, now - 5min, now + 24h, "abc123", Scope::operator_};
    const auto verdict = authority.verify(authority.issue(claims), now);
    ASSERT_TRUE(std::holds_alternative<Claims>(verdict)) << reason(verdict);
    const auto& got = std::get<Claims>(verdict);
    EXPECT_EQ(got.communities, claims.communities);
    EXPECT_EQ(got.issued_at, claims.issued_at);
    EXPECT_EQ(got.expires_at, claims.expires_at);
    EXPECT_EQ(got.id, "abc123");
    EXPECT_EQ(got.scope, Scope::operator_);
    EXPECT_TRUE(got.allows(3));
    EXPECT_FALSE(got.allows(2));
}

TEST(TokenAuthority, ATokenIsThreeBase64UrlPartsWithTheStandardHeader) {
    const auto token = authority.issue(Claims{{1}, now, now + 1h, "x", Scope::read});
    EXPECT_EQ(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."), std::string::npos);
    EXPECT_EQ(token.substr(0, token.find('.')), b64url(R"({"alg":"HS256","typ":"JWT"})"));
}

TEST(TokenAuthority, RefusesTamperingOtherAlgorithmsAndExpiry) {
    const auto token = authority.issue(Claims{{1}, now, now + 1h, "x", Scope::read});
    const auto first = token.find('.');
    const auto second = token.find('.', first + 1);
    // The payload swapped for one naming more communities, the signature kept.
    const auto forged = token.substr(0, first + 1) + b64url(R"({"communities":[1,2],"exp":1764703600})") + token.substr(second);
    EXPECT_EQ(reason(authority.verify(forged, now)), "bad token signature");
    // alg "none" with no signature: the classic downgrade.
    const auto unsigned_token = b64url(R"({"alg":"none"})") + token.substr(first, second - first) + ".";
    EXPECT_EQ(reason(authority.verify(unsigned_token, now)), "token algorithm must be HS256");
    EXPECT_EQ(reason(authority.verify(token, now + 1h)), "token expired");
    EXPECT_EQ(reason(authority.verify(token, now + 1h - 1s)), "accepted");
    auto bad_signature = token;
    bad_signature[second + 1] = bad_signature[second + 1] == 'A' ? 'B' : 'A';
    EXPECT_EQ(reason(authority.verify(bad_signature, now)), "bad token signature");
    EXPECT_EQ(reason(authority.verify("a.b.c.d", now)), "malformed token: expected a JWT (three base64url parts separated by dots)");
    EXPECT_EQ(reason(authority.verify("", now)), "malformed token: expected a JWT (three base64url parts separated by dots)");
    EXPECT_EQ(reason(authority.verify(authority.issue(Claims{{1}, now + 5min, now + 1h, "x", Scope::read}), now)),
              "token issued in the future (check the clocks)");
}

TEST(TokenAuthority, SecretsMustBeLongEnough) {
    EXPECT_THROW(TokenAuthority({}), std::invalid_argument);
    EXPECT_THROW(TokenAuthority({std::string(31, 's')}), std::invalid_argument);
    EXPECT_NO_THROW(TokenAuthority({std::string(32, 's')}));
}

TEST(TokenAuthority, RandomIdsDiffer) {
    EXPECT_EQ(flowgate::auth::random_token_id().size(), 32u);
    EXPECT_NE(flowgate::auth::random_token_id(), flowgate::auth::random_token_id());
}
