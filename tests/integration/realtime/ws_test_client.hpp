#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace flowgate::test {

/// What a WsTestClient read saw.
struct WsEvent {
    enum class Kind { message, closed, timeout, error };
    Kind kind = Kind::error;
    std::string text;          ///< message
    unsigned close_code = 0;   ///< closed: the server's close code
    std::string close_reason;  ///< closed
    std::string error;         ///< error: what broke
    bool binary = false;       ///< message: a binary frame

    bool is_message(const std::string& expected) const { return kind == Kind::message && text == expected; }
    /// For assertion messages: `message "…"`, `closed 1001 "…"`, `timeout`, `error: …`.
    std::string describe() const;
};

/// A blocking WebSocket client for tests: one connection, every step with a deadline.
class WsTestClient {
public:
    struct Options {
        /// Deadline of connect + handshake, and of a read() without its own.
        std::chrono::milliseconds timeout{5000};
        /// SO_RCVBUF set before connecting (0: the system's default). A small one makes a
        /// client that does not read push back on the server quickly.
        int receive_buffer_bytes = 0;
        /// Offer permessage-deflate.
        bool deflate = false;
        /// Extra request headers (Authorization, Origin, Sec-WebSocket-Protocol, …).
        std::map<std::string, std::string> headers{};
    };

    /// Connects to 127.0.0.1:`port` and asks to upgrade `target`. Throws std::runtime_error
    /// when the TCP connection or the handshake fails for any reason other than an HTTP
    /// answer; an HTTP refusal leaves upgraded() false with its status and body.
    WsTestClient(unsigned short port, const std::string& target, Options options);
    WsTestClient(unsigned short port, const std::string& target);
    ~WsTestClient();
    WsTestClient(const WsTestClient&) = delete;
    WsTestClient& operator=(const WsTestClient&) = delete;

    bool upgraded() const;
    /// The handshake's HTTP status (101 when upgraded) and response body.
    unsigned http_status() const;
    const std::string& http_body() const;
    /// A header of the handshake's response ("" when absent).
    std::string response_header(const std::string& name) const;

    /// The next message, or how the connection ended. A timeout breaks the connection.
    WsEvent read();
    WsEvent read(std::chrono::milliseconds timeout);
    /// Sends a text message.
    void send(const std::string& text);
    /// Sends close 1000 and reads until the server's answer.
    WsEvent close();
    /// Drops the TCP connection without a close frame, like a vanished client.
    void drop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace flowgate::test
