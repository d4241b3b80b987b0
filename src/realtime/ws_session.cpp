#include "ws_session.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket.hpp>

#include "flowgate/core/json_text.hpp"
#include "flowgate/realtime/hub.hpp"
#include "server_state.hpp"

namespace flowgate::realtime {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view server_name = "flowgate";

const std::shared_ptr<const std::string>& pong_message() {
    static const auto pong = std::make_shared<const std::string>("pong");
    return pong;
}

std::string describe(const tcp::socket& socket) {
    beast::error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    if (ec) return "unknown";
    return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

bool is_disconnect(const beast::error_code& ec) {
    return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == beast::error::timeout || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor;
}

} // namespace

struct WsSession::Stream {
    explicit Stream(tcp::socket socket) : http{std::move(socket)} {}

    /// The live TCP layer: `http` until the upgrade moves it into `ws`.
    beast::tcp_stream& transport() { return ws ? ws->next_layer() : http; }

    beast::tcp_stream http;
    std::optional<websocket::stream<beast::tcp_stream>> ws;
    beast::flat_buffer buffer;
    std::optional<http::request<http::empty_body>> upgrade_request;
};

namespace {

asio::awaitable<beast::error_code> write_response(beast::tcp_stream& stream, const Route& route, unsigned version,
                                                  bool keep_alive, bool head) {
    http::response<http::string_body> res{static_cast<http::status>(route.status), version};
    res.set(http::field::server, server_name);
    res.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : route.headers) res.set(name, value);
    res.keep_alive(keep_alive);
    if (head) {
        res.content_length(route.body.size());
    } else {
        res.body() = route.body;
        res.prepare_payload();
    }
    auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
    co_return ec;
}

/// Answers a request we could not parse, then closes our side and reads what the client is
/// still sending for a moment, so that it reads the answer instead of a connection reset.
asio::awaitable<void> reject_and_close(beast::tcp_stream& stream, beast::flat_buffer& buffer, unsigned status,
                                       std::string_view error) {
    Route route;
    route.status = status;
    route.body = "{\"error\":";
    append_json_string(route.body, error);
    route.body += '}';
    stream.expires_after(std::chrono::seconds{5});
    if (co_await write_response(stream, route, 11, false, false)) co_return;
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.expires_after(std::chrono::seconds{2});
    while (!ec) {
        std::size_t n = 0;
        std::tie(ec, n) = co_await stream.async_read_some(buffer.prepare(64 * 1024), use_tuple);
        buffer.consume(buffer.size());
    }
}

} // namespace

WsSession::WsSession(tcp::socket socket, std::shared_ptr<ServerState> state)
    : stream_{std::make_unique<Stream>(std::move(socket))},
      state_{std::move(state)},
      remote_{describe(stream_->http.socket())},
      close_deadline_{stream_->http.get_executor()} {}

WsSession::~WsSession() = default;

void WsSession::start(const std::shared_ptr<WsSession>& session) {
    session->state_->sessions.insert(session.get());
    asio::co_spawn(session->stream_->http.get_executor(), serve(session), asio::detached);
}

asio::awaitable<void> WsSession::serve(std::shared_ptr<WsSession> self) {
    try {
        if (co_await self->serve_http()) co_await self->run_websocket();
    } catch (const std::exception& e) {
        // Only a bug or memory exhaustion gets here; the session must still leave the Hub.
        self->state_->log.error("WebSocket session failed", {{"remote", self->remote_}, {"error", e.what()}});
    }
    self->finish();
}

asio::awaitable<bool> WsSession::serve_http() {
    auto& stream = stream_->http;
    auto& buffer = stream_->buffer;
    const auto& options = state_->options;
    while (!state_->stopping) {
        http::request_parser<http::empty_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(options.max_request_header_bytes, UINT32_MAX)));
        stream.expires_after(options.handshake_timeout);
        auto [read_ec, read_n] = co_await http::async_read(stream, buffer, parser, use_tuple);
        if (read_ec == http::error::header_limit) {
            co_await reject_and_close(stream, buffer, 431, "request header too large");
            co_return false;
        }
        if (read_ec == http::error::unexpected_body) {
            co_await reject_and_close(stream, buffer, 400, "request body not accepted");
            co_return false;
        }
        if (read_ec) {
            if (!is_disconnect(read_ec)) co_await reject_and_close(stream, buffer, 400, "malformed request");
            co_return false;
        }

        auto request = parser.release();
        const bool upgrade = websocket::is_upgrade(request);
        auto route = state_->router.route(request.method_string(), request.target(), upgrade);
        if (route.action == Route::Action::upgrade) {
            try {
                // Join before the 101 goes out: once the client sees it, nothing published to
                // the topic passes it by. Messages wait in the queue until the handshake is done.
                state_->hub.join(route.topic, *this);
                topic_ = std::move(route.topic);
                joined_ = true;
                stream_->upgrade_request = std::move(request);
                co_return true;
            } catch (const std::exception& e) {
                state_->log.error("cannot subscribe a WebSocket topic", {{"topic", route.topic}, {"error", e.what()}});
                route = Route{};
                route.status = 503;
                route.body = R"({"error":"stream temporarily unavailable"})";
            }
        }
        const bool keep_alive = request.keep_alive() && !upgrade && route.status < 500 && !state_->stopping;
        stream.expires_after(options.handshake_timeout);
        const auto write_ec = co_await write_response(stream, route, request.version(), keep_alive,
                                                      request.method() == http::verb::head);
        if (write_ec) co_return false;
        if (!keep_alive) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    co_return false;
}

asio::awaitable<void> WsSession::run_websocket() {
    const auto& options = state_->options;
    auto& ws = stream_->ws.emplace(std::move(stream_->http));
    // From here the websocket stream's own timeouts apply, not the tcp_stream's deadline.
    ws.next_layer().expires_never();
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.handshake_timeout = options.handshake_timeout;
    timeouts.idle_timeout = options.idle_timeout;
    timeouts.keep_alive_pings = true;
    ws.set_option(timeouts);
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, server_name); }));
    ws.read_message_max(options.max_message_bytes);
    // Whole messages in one frame: nothing to gain from splitting already-built payloads.
    ws.auto_fragment(false);
    ws.text(true);

    auto [accept_ec] = co_await ws.async_accept(*stream_->upgrade_request, use_tuple);
    stream_->upgrade_request.reset();
    if (accept_ec) {
        state_->log.debug("WebSocket handshake failed", {{"remote", remote_}, {"error", accept_ec.message()}});
        co_return;
    }
    upgraded_ = true;
    state_->sessions_open.fetch_add(1, std::memory_order_relaxed);
    state_->sessions_total.fetch_add(1, std::memory_order_relaxed);
    state_->log.debug("WebSocket session opened", {{"remote", remote_}, {"topic", topic_}});

    if (closing_) {
        // Overflowed or asked to stop during the handshake.
        asio::co_spawn(ws.get_executor(), close_websocket(shared_from_this()), asio::detached);
    } else {
        start_writer();
    }
    co_await read_messages();
}

asio::awaitable<void> WsSession::read_messages() {
    auto& ws = *stream_->ws;
    auto& buffer = stream_->buffer;
    buffer.consume(buffer.size());
    for (;;) {
        auto [ec, n] = co_await ws.async_read(buffer, use_tuple);
        if (ec) {
            // Beast has already answered a close frame, or closed with 1009 a message over the limit.
            const auto& reason = ws.reason();
            state_->log.debug("WebSocket session ended",
                              {{"remote", remote_}, {"topic", topic_}, {"error", ec.message()},
                               {"close_code", static_cast<unsigned>(reason.code)}});
            co_return;
        }
        const auto data = buffer.cdata();
        const std::string_view text{static_cast<const char*>(data.data()), data.size()};
        if (ws.got_text() && text == "ping") push(pong_message());
        buffer.consume(buffer.size());
    }
}

void WsSession::push(const std::shared_ptr<const std::string>& message) {
    if (closing_ || finished_) return;
    const auto waiting = queue_.size() - (writing_ ? 1 : 0);
    if (waiting >= state_->options.send_queue) {
        state_->overflow_closes.fetch_add(1, std::memory_order_relaxed);
        state_->log.warn("closing a slow WebSocket client: send queue overflow",
                         {{"remote", remote_}, {"topic", topic_}, {"send_queue", state_->options.send_queue}});
        begin_close(static_cast<std::uint16_t>(websocket::close_code::try_again_later), "send queue overflow");
        return;
    }
    queue_.push_back(message);
    if (upgraded_) start_writer();
}

void WsSession::start_writer() {
    if (writing_ || queue_.empty()) return;
    writing_ = true;
    asio::co_spawn(stream_->ws->get_executor(), write_queue(shared_from_this()), asio::detached);
}

asio::awaitable<void> WsSession::write_queue(std::shared_ptr<WsSession> self) {
    auto& ws = *self->stream_->ws;
    auto& queue = self->queue_;
    while (!queue.empty()) {
        // queue.front() stays in the queue, and so alive, until its write completes.
        auto [ec, n] = co_await ws.async_write(asio::buffer(*queue.front()), use_tuple);
        if (ec) {
            // The reader sees the same broken connection and finishes the session.
            queue.clear();
            break;
        }
        queue.pop_front();
        self->state_->messages_sent.fetch_add(1, std::memory_order_relaxed);
    }
    self->writing_ = false;
}

void WsSession::begin_close(std::uint16_t code, std::string reason) {
    if (closing_ || finished_) return;
    closing_ = true;
    close_code_ = code;
    close_reason_ = std::move(reason);
    // Drop what has not started; a message being written cannot be taken back.
    const std::size_t keep = std::min<std::size_t>(writing_ ? 1 : 0, queue_.size());
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(keep), queue_.end());

    // A client that never reads also never takes the close frame, which waits behind the
    // message being written: give it close_timeout, then drop the connection.
    close_deadline_.expires_after(state_->options.close_timeout);
    close_deadline_.async_wait([weak = weak_from_this()](const beast::error_code& ec) {
        if (ec) return;
        if (auto self = weak.lock()) self->drop_connection();
    });
    if (upgraded_) asio::co_spawn(stream_->ws->get_executor(), close_websocket(shared_from_this()), asio::detached);
}

asio::awaitable<void> WsSession::close_websocket(std::shared_ptr<WsSession> self) {
    if (self->finished_) co_return;
    const websocket::close_reason reason{static_cast<websocket::close_code>(self->close_code_), self->close_reason_};
    // The reader gets the client's answer (or the error) and finishes the session.
    co_await self->stream_->ws->async_close(reason, use_tuple);
}

void WsSession::shutdown() {
    if (finished_) return;
    if (!joined_) {
        // Still speaking plain HTTP: nobody to say goodbye to.
        drop_connection();
        return;
    }
    begin_close(static_cast<std::uint16_t>(websocket::close_code::going_away), "server shutting down");
}

void WsSession::drop_connection() {
    beast::error_code ignored;
    stream_->transport().socket().close(ignored);
}

void WsSession::finish() {
    finished_ = true;
    if (joined_) {
        state_->hub.leave(topic_, *this);
        joined_ = false;
    }
    if (upgraded_) state_->sessions_open.fetch_sub(1, std::memory_order_relaxed);
    state_->remove(this);
    close_deadline_.cancel();
    // Ends a write still waiting on a client that stopped reading. The queue is left alone:
    // that write reads its front until it completes.
    drop_connection();
}

} // namespace flowgate::realtime
