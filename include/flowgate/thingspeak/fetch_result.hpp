#pragma once

#include <chrono>
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
    std::chrono::milliseconds elapsed{0};

    bool ok() const { return error == FetchErrorKind::none && status == 200; }
};

} // namespace flowgate::thingspeak
