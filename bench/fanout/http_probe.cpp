#include "http_probe.hpp"

#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>

namespace flowgate::bench {
namespace {

// The length of a complete HTTP response at the start of `r` (Content-Length framed), or 0.
std::size_t complete_response(std::string_view r) {
    const auto head_end = r.find("\r\n\r\n");
    if (head_end == std::string_view::npos) return 0;
    std::size_t body = 0;
    for (std::string_view name : {"\r\nContent-Length:", "\r\ncontent-length:"}) {
        const auto at = r.substr(0, head_end).find(name);
        if (at == std::string_view::npos) continue;
        auto p = r.data() + at + name.size();
        while (*p == ' ') ++p;
        std::from_chars(p, r.data() + head_end, body);
    }
    return head_end + 4 + body <= r.size() ? head_end + 4 + body : 0;
}

} // namespace

HttpProbe::HttpProbe(sockaddr_in server, std::string host_header, std::chrono::milliseconds interval)
    : request_{"GET /healthz HTTP/1.1\r\nHost: " + host_header + "\r\n\r\n"}, interval_{interval} {
    // A blocking connect on loopback, then only non-blocking calls.
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0) {
        fail(std::string{"connect: "} + std::strerror(errno));
        return;
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

HttpProbe::~HttpProbe() {
    if (fd_ >= 0) ::close(fd_);
}

void HttpProbe::fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void HttpProbe::poll(std::chrono::steady_clock::time_point now) {
    if (fd_ < 0) return;
    if (!in_flight_) {
        if (now < next_) return;
        if (::send(fd_, request_.data(), request_.size(), MSG_NOSIGNAL | MSG_DONTWAIT) !=
            static_cast<ssize_t>(request_.size())) {
            fail(std::string{"send: "} + std::strerror(errno));
            return;
        }
        sent_ = now;
        in_flight_ = true;
        return;
    }
    char chunk[4096];
    const auto n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n == 0) return fail("the server closed the probe connection");
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) fail(std::string{"recv: "} + std::strerror(errno));
        return;
    }
    response_.append(chunk, static_cast<std::size_t>(n));
    const auto size = complete_response(response_);
    if (size == 0) return;
    if (!response_.starts_with("HTTP/1.1 200")) return fail("unexpected answer: " + response_.substr(0, response_.find('\r')));
    response_.erase(0, size);
    latency_.record(std::chrono::duration_cast<std::chrono::nanoseconds>(now - sent_).count());
    in_flight_ = false;
    next_ = sent_ + interval_;
}

} // namespace flowgate::bench
