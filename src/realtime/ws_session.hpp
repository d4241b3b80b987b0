#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "flowgate/realtime/topic_sink.hpp"

namespace flowgate::realtime {

struct ServerState;

/// One client connection. It reads HTTP requests and answers them (keep-alive) until one
/// upgrades to a WebSocket following one topic; from then on a single writer drains the
/// session's bounded queue of shared messages while the reader answers "ping" and notices the
/// end. The Beast stream lives behind `Stream` so that only ws_session.cpp compiles Beast.
class WsSession : public TopicSink, public std::enable_shared_from_this<WsSession> {
public:
    WsSession(boost::asio::ip::tcp::socket socket, std::shared_ptr<ServerState> state);
    ~WsSession() override;

    /// Registers the session with the server and serves it until the connection ends.
    static void start(const std::shared_ptr<WsSession>& session);

    void push(const std::shared_ptr<const std::string>& message) override;

    /// Server shutdown: a WebSocket is closed with 1001, a plain HTTP connection dropped.
    void shutdown();

private:
    struct Stream;

    static boost::asio::awaitable<void> serve(std::shared_ptr<WsSession> self);
    static boost::asio::awaitable<void> write_queue(std::shared_ptr<WsSession> self);
    static boost::asio::awaitable<void> close_websocket(std::shared_ptr<WsSession> self);

    /// Answers requests until one asks for an upgrade that is accepted (true) or the
    /// connection ends (false).
    boost::asio::awaitable<bool> serve_http();
    boost::asio::awaitable<void> run_websocket();
    boost::asio::awaitable<void> read_messages();

    void start_writer();
    void begin_close(std::uint16_t code, std::string reason);
    void drop_connection();
    void finish();

    std::unique_ptr<Stream> stream_;
    std::shared_ptr<ServerState> state_;
    std::string remote_;
    std::string topic_;
    /// Front is the message being written while writing_.
    std::deque<std::shared_ptr<const std::string>> queue_;
    boost::asio::steady_timer close_deadline_;
    std::uint16_t close_code_ = 0;
    std::string close_reason_;
    bool joined_ = false;    // in the Hub (from just before the handshake)
    bool upgraded_ = false;  // WebSocket handshake done
    bool writing_ = false;
    bool closing_ = false;
    bool finished_ = false;
};

} // namespace flowgate::realtime
