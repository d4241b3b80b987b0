#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace flowgate::thingspeak {

/// Why a fetch failed, so that retries, backoff and the breaker count only what they should.
enum class FetchErrorKind {
    none,         ///< an HTTP response arrived (any status)
    network,      ///< resolve, connect, reset, EOF mid-response
    timeout,      ///< the request's deadline passed
    tls,          ///< handshake or certificate verification failed
    bad_response, ///< not HTTP, or a body over the size limit
    cancelled,    ///< the client was stopped
};

std::string_view to_string(FetchErrorKind kind);

struct FetchResult {
    FetchErrorKind error = FetchErrorKind::none;
    std::string error_message;  ///< set with error; never contains the request's query
    unsigned status = 0;        ///< HTTP status when error is none
    std::string body;
    /// The server's Retry-After in seconds, when it sent one (the HTTP-date form is ignored).
    std::optional<std::chrono::seconds> retry_after;
    std::chrono::milliseconds elapsed{0};

    bool ok() const { return error == FetchErrorKind::none && status == 200; }
    /// A failure of the source rather than of the request: no answer (network, timeout, TLS),
    /// 5xx or 429. These open the host's circuit breaker; a wrong key's 400, a 404 or a body
    /// that does not parse do not.
    bool source_failure() const;
    /// The source asks us to slow down: 429 or 5xx.
    bool throttled() const { return error == FetchErrorKind::none && (status == 429 || status >= 500); }
};

} // namespace flowgate::thingspeak
