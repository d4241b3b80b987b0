#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "flowgate/obs/logger.hpp"
#include "flowgate/thingspeak/fetch_result.hpp"

namespace boost::asio {
class io_context;
}

namespace flowgate::thingspeak {

struct HttpClientOptions {
    /// "https://api.thingspeak.com" or "http://127.0.0.1:8090": scheme, host, optional port.
    std::string base_url = "https://api.thingspeak.com";
    /// Deadline for a whole request: connect, TLS handshake, write and read.
    std::chrono::milliseconds request_timeout{10'000};
    /// Largest response body accepted; a larger one fails with bad_response.
    std::size_t max_body_bytes = 8 * 1024 * 1024;
    /// Connections kept open to the server; more concurrent requests wait for one.
    std::size_t max_connections = 4;
    /// PEM file of extra trusted CA certificates (besides the system's), for tests and
    /// private deployments. Empty: the system's store only.
    std::string ca_file;
};

/// An HTTP/1.1 GET client for one origin, on the event loop: keep-alive connections reused
/// across requests, a deadline on every request, and for https SNI plus certificate and host
/// name verification. Requests are answered through callbacks on the loop's thread.
class HttpClient {
public:
    using Callback = std::function<void(FetchResult)>;

    /// Throws std::invalid_argument for a base URL that is not http(s)://host[:port].
    HttpClient(boost::asio::io_context& ioc, HttpClientOptions options, obs::Logger log);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    /// GETs `target` (path and query, e.g. "/channels/9/feeds.json?results=2"). The target
    /// may hold an API key: it is never logged nor put in an error message.
    void get(std::string target, Callback done);

    /// Closes every connection and drops pending and waiting requests: their callbacks are
    /// never called, so their owners may be destroyed right after.
    void stop();

    /// "host" or "host:port" of the server, as sent in the Host header.
    const std::string& host() const;

    /// Connections opened so far (reuse shows as fewer connections than requests).
    std::size_t connections_opened() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace flowgate::thingspeak
