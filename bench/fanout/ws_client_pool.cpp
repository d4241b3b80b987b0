#include "ws_client_pool.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string_view>
#include <system_error>

namespace flowgate::bench {
namespace {

constexpr std::size_t read_size = 256 * 1024;
// Our messages are ~200 bytes; this only bounds what a confused server can make us buffer.
constexpr std::size_t max_message = 1024 * 1024;
constexpr int max_events = 1024;

constexpr std::string_view seq_key = R"({"seq":)";
constexpr std::string_view epoch_key = R"(,"epoch":")";
constexpr std::string_view bench_head = R"(",)" R"("type":"BENCH","t":)";

std::int64_t to_ns(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string base64(const unsigned char* data, std::size_t size) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < size; i += 3) {
        const std::uint32_t n = (std::uint32_t{data[i]} << 16) | (i + 1 < size ? std::uint32_t{data[i + 1]} << 8 : 0) |
                                (i + 2 < size ? std::uint32_t{data[i + 2]} : 0);
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += i + 1 < size ? alphabet[(n >> 6) & 63] : '=';
        out += i + 2 < size ? alphabet[n & 63] : '=';
    }
    return out;
}

// Parses the decimal digits at `p`; nullptr when there are none.
const char* parse_u64(const char* p, const char* end, std::uint64_t& out) {
    const auto [next, ec] = std::from_chars(p, end, out);
    return ec == std::errc{} ? next : nullptr;
}

} // namespace

WsClientPool::WsClientPool(sockaddr_in server, std::string host_header, bool deflate)
    : server_{server}, host_header_{std::move(host_header)}, deflate_{deflate}, buffer_(max_message + 16 + read_size) {
    if (deflate_ && inflateInit2(&inflater_, -15) != Z_OK) throw std::runtime_error{"inflateInit2 failed"};
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw std::system_error{errno, std::generic_category(), "epoll_create1"};
    conns_.reserve(16384);
}

WsClientPool::~WsClientPool() {
    if (deflate_) inflateEnd(&inflater_);
    // A reset instead of a FIN: no TIME_WAIT left behind, so runs back to back do not run
    // out of ephemeral ports.
    const linger abort_on_close{1, 0};
    for (auto& c : conns_) {
        if (c.fd < 0) continue;
        ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
        ::close(c.fd);
    }
    ::close(epoll_fd_);
}

void WsClientPool::connect(const std::string& path, std::size_t topic, bool stalled) {
    Conn c;
    c.topic = topic;
    c.stall = stalled;
    c.path = path;
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) throw std::system_error{errno, std::generic_category(), "socket (is RLIMIT_NOFILE high enough?)"};
    const int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (stalled) {
        const int small = 4096;
        ::setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    const auto index = conns_.size();
    conns_.push_back(std::move(c));
    auto& conn = conns_.back();
    ++pending_;
    if (::connect(conn.fd, reinterpret_cast<const sockaddr*>(&server_), sizeof server_) < 0 && errno != EINPROGRESS) {
        fail(conn, std::string{"connect: "} + std::strerror(errno));
        return;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u64 = index;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, conn.fd, &ev) < 0) {
        throw std::system_error{errno, std::generic_category(), "epoll_ctl"};
    }
}

void WsClientPool::poll(int timeout_ms) {
    std::array<epoll_event, max_events> events;
    const int n = ::epoll_wait(epoll_fd_, events.data(), max_events, timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return;
        throw std::system_error{errno, std::generic_category(), "epoll_wait"};
    }
    for (int i = 0; i < n; ++i) {
        auto& c = conns_[events[static_cast<std::size_t>(i)].data.u64];
        if (c.state != State::closed) on_event(c, events[static_cast<std::size_t>(i)].events);
    }
}

std::vector<std::size_t> WsClientPool::open_per_topic(std::size_t topics) const {
    std::vector<std::size_t> out(topics, 0);
    for (const auto& c : conns_) {
        if (c.state == State::open && c.topic < topics) ++out[c.topic];
    }
    return out;
}

void WsClientPool::begin_step(std::chrono::steady_clock::time_point start) {
    step_.delivered = step_.duplicates = step_.gaps = step_.late = step_.foreign = 0;
    step_.epoch_changes = step_.closed = 0;
    step_.last_delivery = start;
    step_.latency.clear();
    step_start_ns_ = to_ns(start);
}

void WsClientPool::on_event(Conn& c, std::uint32_t events) {
    if (c.state == State::connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            fail(c, std::string{"connect: "} + std::strerror(err));
            return;
        }
        if ((events & EPOLLOUT) != 0) on_connected(c);
        return;
    }
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) on_readable(c);
}

void WsClientPool::on_connected(Conn& c) {
    std::array<unsigned char, 16> nonce;
    static std::mt19937_64 random{std::random_device{}()};
    for (auto& b : nonce) b = static_cast<unsigned char>(random());
    const auto request = "GET " + c.path + " HTTP/1.1\r\nHost: " + host_header_ +
                         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
                         base64(nonce.data(), nonce.size()) + "\r\nSec-WebSocket-Version: 13\r\n" +
                         (deflate_ ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "") + "\r\n";
    // A fresh socket's send buffer always takes a request this small in one write.
    if (::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
        fail(c, std::string{"sending the handshake: "} + std::strerror(errno));
        return;
    }
    c.state = State::handshaking;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<std::uint64_t>(&c - conns_.data());
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void WsClientPool::on_readable(Conn& c) {
    char* const buf = buffer_.data();
    // A few reads at most, so one busy connection cannot starve the others.
    for (int round = 0; round < 4; ++round) {
        const auto have = c.carry.size();
        if (have > 0) std::memcpy(buf, c.carry.data(), have);
        const auto n = ::read(c.fd, buf + have, read_size);
        if (n == 0) {
            close_conn(c, 1006);
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            if (c.state == State::open) {
                close_conn(c, 1006);
            } else {
                fail(c, std::string{"read: "} + std::strerror(errno));
            }
            return;
        }
        // One clock read per read(): everything in it arrived together.
        now_ = std::chrono::steady_clock::now();
        const auto total = have + static_cast<std::size_t>(n);
        const auto used = c.state == State::handshaking ? on_handshake_bytes(c, buf, total) : on_frame_bytes(c, buf, total);
        if (c.state == State::closed) return;
        c.carry.assign(buf + used, total - used);
        if (c.carry.size() > max_message + 16) {
            fail(c, "a frame larger than 1 MiB");
            return;
        }
        if (static_cast<std::size_t>(n) < read_size) return;
    }
}

std::size_t WsClientPool::on_handshake_bytes(Conn& c, const char* data, std::size_t size) {
    const std::string_view text{data, size};
    const auto end = text.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (size > 16384) fail(c, "handshake response larger than 16 KiB");
        return 0;
    }
    if (!text.starts_with("HTTP/1.1 101")) {
        fail(c, "handshake refused: " + std::string{text.substr(0, text.find("\r\n"))});
        return size;
    }
    --pending_;
    if (c.stall) {
        c.state = State::stalled;
        ++stalled_;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
        return size;
    }
    c.state = State::open;
    ++open_;
    const auto head = end + 4;
    return head + on_frame_bytes(c, data + head, size - head);
}

std::size_t WsClientPool::on_frame_bytes(Conn& c, const char* data, std::size_t size) {
    const auto* p = reinterpret_cast<const unsigned char*>(data);
    std::size_t at = 0;
    while (size - at >= 2) {
        const bool fin = (p[at] & 0x80) != 0;
        const bool rsv1 = (p[at] & 0x40) != 0;
        const auto opcode = static_cast<std::uint8_t>(p[at] & 0x0f);
        if ((p[at + 1] & 0x80) != 0) {
            fail(c, "a masked frame from the server");
            return size;
        }
        std::uint64_t length = p[at + 1] & 0x7f;
        std::size_t header = 2;
        if (length == 126) {
            if (size - at < 4) break;
            length = (std::uint64_t{p[at + 2]} << 8) | p[at + 3];
            header = 4;
        } else if (length == 127) {
            if (size - at < 10) break;
            length = 0;
            for (int i = 0; i < 8; ++i) length = (length << 8) | p[at + 2 + static_cast<std::size_t>(i)];
            header = 10;
        }
        if (length > max_message) {
            fail(c, "a frame larger than 1 MiB");
            return size;
        }
        if (size - at < header + length) break;
        const char* payload = data + at + header;
        const auto n = static_cast<std::size_t>(length);
        at += header + n;
        switch (opcode) {
        case 0x1:
        case 0x2:
            c.compressed = rsv1;
            if (fin) {
                on_message(c, payload, n);
            } else {
                c.fragments.assign(payload, n);
                c.fragmented = true;
            }
            break;
        case 0x0:
            if (!c.fragmented) {
                fail(c, "a continuation frame without a first fragment");
                return size;
            }
            c.fragments.append(payload, n);
            if (fin) {
                c.fragmented = false;
                on_message(c, c.fragments.data(), c.fragments.size());
            }
            break;
        case 0x8: {
            const std::uint16_t code = n >= 2 ? static_cast<std::uint16_t>((std::uint16_t{p[at - n]} << 8) | p[at - n + 1]) : 1005;
            const std::array<char, 2> echo{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
            do_send_frame(c, 0x8, echo.data(), n >= 2 ? 2 : 0);
            close_conn(c, code);
            return size;
        }
        case 0x9:
            do_send_frame(c, 0xA, payload, n);
            break;
        case 0xA:
            break;
        default:
            fail(c, "a frame with an unknown opcode");
            return size;
        }
        if (c.state == State::closed) return size;
    }
    return at;
}

void WsClientPool::on_message(Conn& c, const char* data, std::size_t size) {
    if (c.compressed) {
        // RFC 7692 7.2.2: append 00 00 FF FF and inflate; no context is kept between messages.
        std::string input{data, size};
        input.append("\x00\x00\xff\xff", 4);
        inflateReset(&inflater_);
        inflated_.resize(max_message);
        inflater_.next_in = reinterpret_cast<Bytef*>(input.data());
        inflater_.avail_in = static_cast<uInt>(input.size());
        inflater_.next_out = reinterpret_cast<Bytef*>(inflated_.data());
        inflater_.avail_out = static_cast<uInt>(inflated_.size());
        inflate(&inflater_, Z_SYNC_FLUSH);
        inflated_.resize(inflated_.size() - inflater_.avail_out);
        data = inflated_.data();
        size = inflated_.size();
    }
    const char* end = data + size;
    const char* p = data;
    std::uint64_t seq = 0;
    std::uint64_t epoch = 0;
    std::uint64_t t = 0;
    if (size < seq_key.size() || std::memcmp(p, seq_key.data(), seq_key.size()) != 0 ||
        (p = parse_u64(p + seq_key.size(), end, seq)) == nullptr ||
        static_cast<std::size_t>(end - p) < epoch_key.size() || std::memcmp(p, epoch_key.data(), epoch_key.size()) != 0 ||
        (p = parse_u64(p + epoch_key.size(), end, epoch)) == nullptr ||
        static_cast<std::size_t>(end - p) < bench_head.size() || std::memcmp(p, bench_head.data(), bench_head.size()) != 0 ||
        parse_u64(p + bench_head.size(), end, t) == nullptr) {
        ++step_.foreign;
        return;
    }
    if (epoch != c.epoch) {
        if (c.epoch != 0) ++step_.epoch_changes;
        c.epoch = epoch;
    } else if (seq <= c.last_seq) {
        ++step_.duplicates;
        return;
    } else if (c.last_seq != 0) {
        step_.gaps += seq - c.last_seq - 1;
    }
    c.last_seq = seq;
    const auto t_ns = static_cast<std::int64_t>(t);
    if (t_ns < step_start_ns_) {
        ++step_.late;
        return;
    }
    ++step_.delivered;
    step_.last_delivery = now_;
    step_.latency.record(to_ns(now_) - t_ns);
}

void WsClientPool::do_send_frame(Conn& c, std::uint8_t opcode, const char* payload, std::size_t size) {
    // Control frames only (pong, close): at most 125 bytes, masked as RFC 6455 requires of
    // a client. Best effort: a full send buffer drops it, which no server here waits for.
    std::array<char, 2 + 4 + 125> frame;
    size = size > 125 ? 125 : size;
    const std::array<unsigned char, 4> mask{0x37, 0xfa, 0x21, 0x3d};
    frame[0] = static_cast<char>(0x80 | opcode);
    frame[1] = static_cast<char>(0x80 | size);
    std::memcpy(frame.data() + 2, mask.data(), 4);
    for (std::size_t i = 0; i < size; ++i) frame[6 + i] = static_cast<char>(payload[i] ^ static_cast<char>(mask[i % 4]));
    [[maybe_unused]] const auto sent = ::send(c.fd, frame.data(), 6 + size, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void WsClientPool::fail(Conn& c, const std::string& why) {
    if (first_failure_.empty()) first_failure_ = why;
    if (c.state == State::open) {
        --open_;
        ++step_.closed;
        ++close_codes_[1002];
    } else {
        --pending_;
        ++failed_;
    }
    c.state = State::closed;
    ::close(c.fd);
    c.fd = -1;
}

void WsClientPool::close_conn(Conn& c, std::uint16_t code) {
    if (c.state != State::open) {
        fail(c, code == 1006 ? "connection closed during the handshake" : "closed during the handshake");
        return;
    }
    --open_;
    ++step_.closed;
    ++close_codes_[code];
    c.state = State::closed;
    ::close(c.fd);
    c.fd = -1;
}

} // namespace flowgate::bench
