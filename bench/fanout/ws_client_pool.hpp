#pragma once

#include <netinet/in.h>
#include <zlib.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "latency_histogram.hpp"

namespace flowgate::bench {

/// Many WebSocket clients on one thread: non-blocking sockets on one epoll set, the RFC 6455
/// client handshake and frame parser written out (no Beast), read with one large buffer and
/// no allocation per message.
///
/// Every text or binary message is expected to be `{"seq":<n>,"epoch":"<digits>",` followed
/// by `"type":"BENCH","t":<CLOCK_MONOTONIC ns at publish>`; anything else is counted as
/// foreign and ignored. Per connection the last (epoch, seq) is kept: a seq that does not
/// move forward is a duplicate, one that jumps is a gap. A message published before
/// begin_step()'s start is "late" and left out of the step.
class WsClientPool {
public:
    /// What the pool saw since the last begin_step().
    struct StepCounters {
        std::uint64_t delivered = 0;    ///< BENCH messages of this step, duplicates excluded
        std::uint64_t duplicates = 0;   ///< seq not past the connection's last one
        std::uint64_t gaps = 0;         ///< seqs skipped within one epoch
        std::uint64_t late = 0;         ///< published before the step started
        std::uint64_t foreign = 0;      ///< not a BENCH message
        std::uint64_t epoch_changes = 0;
        std::uint64_t closed = 0;       ///< open connections that ended (see close_codes)
        std::chrono::steady_clock::time_point last_delivery{};
        LatencyHistogram latency;       ///< receive time minus "t"
    };

    /// `deflate`: offer permessage-deflate and inflate what comes compressed (the server
    /// must answer without context takeover, as flowgate does).
    WsClientPool(sockaddr_in server, std::string host_header, bool deflate = false);
    ~WsClientPool();
    WsClientPool(const WsClientPool&) = delete;
    WsClientPool& operator=(const WsClientPool&) = delete;

    /// Starts connecting one more client to `path` (e.g. "/ws/community/3/updates"),
    /// recorded under `topic`. A `stalled` client completes its handshake and then never
    /// reads again (with a 4 KiB receive buffer): the slow consumer that must not slow the
    /// others. It is neither open() nor counted in a step.
    void connect(const std::string& path, std::size_t topic, bool stalled = false);

    /// Waits up to `timeout_ms` for socket events and handles all that are ready.
    void poll(int timeout_ms);

    /// Clients still connecting or handshaking.
    std::size_t pending() const { return pending_; }
    std::size_t open() const { return open_; }
    std::size_t stalled() const { return stalled_; }
    std::size_t failed() const { return failed_; }
    /// Open clients per topic index.
    std::vector<std::size_t> open_per_topic(std::size_t topics) const;
    /// The first handshake or connect failure, for the error message.
    const std::string& first_failure() const { return first_failure_; }
    /// Close codes sent by the server, and how many times each (1006: no close frame).
    const std::map<std::uint16_t, std::uint64_t>& close_codes() const { return close_codes_; }

    void begin_step(std::chrono::steady_clock::time_point start);
    const StepCounters& step() const { return step_; }

private:
    enum class State { connecting, handshaking, open, stalled, closed };

    struct Conn {
        int fd = -1;
        State state = State::connecting;
        std::size_t topic = 0;
        bool stall = false;
        std::string path;
        std::string carry;       // bytes of an incomplete frame (or HTTP response)
        std::string fragments;   // a fragmented message being assembled
        bool fragmented = false;
        bool compressed = false;  // the message being assembled has RSV1 set
        std::uint64_t epoch = 0;
        std::uint64_t last_seq = 0;
    };

    void on_event(Conn& c, std::uint32_t events);
    void on_connected(Conn& c);
    void on_readable(Conn& c);
    std::size_t on_handshake_bytes(Conn& c, const char* data, std::size_t size);
    std::size_t on_frame_bytes(Conn& c, const char* data, std::size_t size);
    void on_message(Conn& c, const char* data, std::size_t size);
    void do_send_frame(Conn& c, std::uint8_t opcode, const char* payload, std::size_t size);
    void fail(Conn& c, const std::string& why);
    void close_conn(Conn& c, std::uint16_t code);

    sockaddr_in server_;
    std::string host_header_;
    bool deflate_;
    z_stream inflater_{};
    std::string inflated_;
    int epoll_fd_ = -1;
    std::vector<Conn> conns_;
    std::vector<char> buffer_;
    std::chrono::steady_clock::time_point now_{};
    std::int64_t step_start_ns_ = 0;
    std::size_t pending_ = 0;
    std::size_t open_ = 0;
    std::size_t stalled_ = 0;
    std::size_t failed_ = 0;
    std::string first_failure_;
    std::map<std::uint16_t, std::uint64_t> close_codes_;
    StepCounters step_;
};

} // namespace flowgate::bench
