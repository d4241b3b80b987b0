#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "flowgate/obs/logger.hpp"

namespace boost::asio {
class io_context;
}

namespace flowgate::sim {

class SimApi;

struct HttpServerOptions {
    /// A keep-alive connection idle this long is closed.
    std::chrono::seconds idle_timeout{60};
    /// A request header + body larger than this is answered 413.
    std::size_t max_request_bytes = 1 << 20;
    /// A hung request ("hang" outage) holds its connection at most this long.
    std::chrono::seconds hang_limit{600};
};

/// The simulator's HTTP/1.1 server: keep-alive, one coroutine per connection, every request
/// answered by SimApi on the io_context's thread (so SimApi needs no locking).
class HttpServer {
public:
    HttpServer(boost::asio::io_context& ioc, SimApi& api, obs::Logger log, HttpServerOptions options = {});
    ~HttpServer();

    /// Binds and listens; port 0 picks a free one. Returns the bound port.
    std::uint16_t listen(const std::string& host, std::uint16_t port);
    /// Starts accepting; connections are served while the io_context runs.
    void start();
    /// Stops accepting; open connections end when the io_context stops.
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace flowgate::sim
