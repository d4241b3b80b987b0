#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "flowgate/realtime/topic_sink.hpp"
#include "flowgate/realtime/ws_server.hpp"
#include "frame_parser.hpp"
#include "request_router.hpp"
#include "stream_cursor.hpp"

namespace flowgate::realtime {

struct ServerState;

/// One client connection. It reads HTTP requests and answers them (keep-alive) until one
/// upgrades to a WebSocket following one topic. From then on the session speaks WebSocket
/// itself: one reader parses the client's frames (FrameParser), and one writer sends
/// everything queued in one gather write per turn, each message's frame shared with every
/// other session. The send queue is bounded in bytes; a client that falls behind is closed
/// with 4008 "slow consumer", and a write that makes no progress for write_timeout ends the
/// session. Beast (HTTP only) lives behind `Http`, so that only ws_session.cpp compiles it.
class WsSession : public TopicSink, public std::enable_shared_from_this<WsSession> {
public:
    WsSession(boost::asio::ip::tcp::socket socket, std::shared_ptr<ServerState> state);
    ~WsSession() override;

    /// Registers the session with the server and serves it until the connection ends.
    static void start(const std::shared_ptr<WsSession>& session);

    void push(const OutboundPtr& message) override;
    void on_topic_state(bool subscribed) override;

    /// Server shutdown: a WebSocket is closed with 1001, a plain HTTP connection dropped.
    void shutdown();

private:
    struct Http;
    struct Queued {
        OutboundPtr message;
        std::string_view frame;  // message's frame in this session's encoding
        bool counted;            // against the live byte limit (replayed messages are not)
    };

    static boost::asio::awaitable<void> serve(std::shared_ptr<WsSession> self);
    /// Answers requests until one upgrade is accepted (true) or the connection ends (false).
    boost::asio::awaitable<bool> serve_http();
    /// The API handler's answer to `call` as a route (504 after handshake_timeout).
    boost::asio::awaitable<Route> answer_api(WsServer::ApiCall call);
    boost::asio::awaitable<void> read_frames();
    void on_frame(const FrameParser::Event& event);

    void send(std::vector<OutboundPtr>& messages, bool counted);
    void enqueue(const OutboundPtr& message, bool counted);
    void enqueue_control(const OutboundPtr& frame);
    void do_catch_up();
    void on_catch_up(ReplayResult result);

    void schedule_write();
    void do_write();
    void on_write(const boost::system::error_code& ec, std::size_t written);
    void do_watch_write();
    void do_keepalive();
    void watch_token_expiry(std::chrono::system_clock::time_point expires_at);
    /// Why this upgrade must wait (503), or empty: the connection limits.
    std::string over_limit() const;

    void begin_close(std::uint16_t code, std::string_view reason);
    void close_slow(std::size_t bytes);
    void drop_connection();
    void finish();

    std::unique_ptr<Http> http_;  // the HTTP phase; released at the upgrade
    boost::asio::ip::tcp::socket socket_;
    std::shared_ptr<ServerState> state_;
    std::string remote_;
    std::string ip_;
    std::string topic_;
    std::string token_id_;
    Encoding encoding_;
    StreamCursor cursor_{std::nullopt};
    FrameParser parser_;

    std::deque<Queued> queue_;
    std::vector<boost::asio::const_buffer> buffers_;
    std::vector<OutboundPtr> out_;      // scratch for the cursor's output
    std::size_t in_flight_ = 0;         // items at the front of queue_ in the current write
    std::size_t front_offset_ = 0;      // bytes of queue_.front() already written
    std::size_t queued_bytes_ = 0;      // counted bytes not yet written

    boost::asio::steady_timer close_deadline_;
    boost::asio::steady_timer keepalive_timer_;
    boost::asio::steady_timer write_timer_;
    boost::asio::steady_timer expiry_timer_;
    boost::asio::steady_timer api_timer_;  // wakes answer_api: its answer or its deadline
    std::chrono::steady_clock::time_point last_read_{};
    std::chrono::steady_clock::time_point last_write_progress_{};

    bool joined_ = false;          // in the Hub (from just before the 101)
    bool upgraded_ = false;        // the 101 is written: frames may flow
    bool writing_ = false;
    bool write_posted_ = false;
    bool write_watched_ = false;
    bool ping_outstanding_ = false;
    bool closing_ = false;         // our close frame is queued: nothing else is
    bool close_sent_ = false;
    bool close_received_ = false;
    bool finished_ = false;
};

} // namespace flowgate::realtime
