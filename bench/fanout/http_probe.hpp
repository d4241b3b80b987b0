#pragma once

#include <netinet/in.h>

#include <chrono>
#include <string>

#include "latency_histogram.hpp"

namespace flowgate::bench {

/// How long the server under test takes to answer a plain HTTP request while it fans out:
/// one keep-alive connection, `GET /healthz` every `interval`, one request in flight. The
/// answer comes from the same event loop as the deliveries, so its round trip is that
/// loop's latency as an HTTP client (or any timer) of the daemon would see it.
class HttpProbe {
public:
    HttpProbe(sockaddr_in server, std::string host_header, std::chrono::milliseconds interval);
    ~HttpProbe();
    HttpProbe(const HttpProbe&) = delete;
    HttpProbe& operator=(const HttpProbe&) = delete;

    /// Sends the next request when one is due and reads what has arrived; never blocks.
    void poll(std::chrono::steady_clock::time_point now);

    void begin_step() { latency_.clear(); }
    /// Round trips completed since begin_step(); a request still in flight at the end of a
    /// step is recorded when its answer comes.
    const LatencyHistogram& latency() const { return latency_; }
    /// Why the probe stopped (connection refused or closed, an unexpected answer); empty
    /// while it works.
    const std::string& error() const { return error_; }

private:
    void fail(std::string why);

    int fd_ = -1;
    std::string request_;
    std::chrono::milliseconds interval_;
    std::chrono::steady_clock::time_point sent_{};
    std::chrono::steady_clock::time_point next_{};
    bool in_flight_ = false;
    std::string response_;
    LatencyHistogram latency_;
    std::string error_;
};

} // namespace flowgate::bench
