#include "ws_session.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "flowgate/realtime/hub.hpp"
#include "server_state.hpp"
#include "ws_handshake.hpp"

namespace flowgate::realtime {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view server_name = "flowgate";

// One gather write takes at most this much, so that a close frame queued behind it waits for
// little; Linux takes up to 1024 buffers per writev.
constexpr std::size_t max_write_buffers = 1024;
constexpr std::size_t max_write_bytes = 256 * 1024;

constexpr std::uint16_t close_going_away = 1001;
constexpr std::uint16_t close_token_expired = 4001;
constexpr std::uint16_t close_slow_consumer = 4008;

const OutboundPtr& pong_message() {
    static const auto pong = OutboundMessage::unsequenced("pong");
    return pong;
}

std::string address_of(const tcp::socket& socket) {
    beast::error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    return ec ? "unknown" : endpoint.address().to_string();
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

asio::awaitable<beast::error_code> write_response(beast::tcp_stream& stream, const Route& route, unsigned version,
                                                  bool keep_alive, bool head) {
    http::response<http::string_body> res{static_cast<http::status>(route.status), version};
    res.set(http::field::server, server_name);
    res.set(http::field::content_type, route.content_type);
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
    stream.expires_after(std::chrono::seconds{5});
    if (co_await write_response(stream, error_route(status, error), 11, false, false)) co_return;
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

struct WsSession::Http {
    explicit Http(tcp::socket socket) : stream{std::move(socket)} {}

    beast::tcp_stream stream;
    beast::flat_buffer buffer;
};

WsSession::WsSession(tcp::socket socket, std::shared_ptr<ServerState> state)
    : socket_{socket.get_executor()},
      state_{std::move(state)},
      remote_{describe(socket)},
      ip_{address_of(socket)},
      parser_{state_->options.max_message_bytes},
      close_deadline_{socket.get_executor()},
      keepalive_timer_{socket.get_executor()},
      write_timer_{socket.get_executor()},
      expiry_timer_{socket.get_executor()},
      api_timer_{socket.get_executor()} {
    http_ = std::make_unique<Http>(std::move(socket));
}

WsSession::~WsSession() = default;

void WsSession::start(const std::shared_ptr<WsSession>& session) {
    session->state_->sessions.insert(session.get());
    asio::co_spawn(session->socket_.get_executor(), serve(session), asio::detached);
}

asio::awaitable<void> WsSession::serve(std::shared_ptr<WsSession> self) {
    try {
        if (co_await self->serve_http()) co_await self->read_frames();
    } catch (const std::exception& e) {
        // Only a bug or memory exhaustion gets here; the session must still leave the Hub.
        self->state_->log.error("WebSocket session failed", {{"remote", self->remote_}, {"error", e.what()}});
    }
    self->finish();
}

asio::awaitable<bool> WsSession::serve_http() {
    auto& stream = http_->stream;
    auto& buffer = http_->buffer;
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

        const auto& request = parser.get();
        const bool upgrade = request.method() == http::verb::get &&
                             http::token_list{request[http::field::connection]}.exists("upgrade") &&
                             beast::iequals(request[http::field::upgrade], "websocket");
        Request in;
        in.method = request.method_string();
        in.target = request.target();
        in.websocket_upgrade = upgrade;
        in.authorization = request[http::field::authorization];
        if (const auto origin = request.find(http::field::origin); origin != request.end()) in.origin = origin->value();
        in.host = request[http::field::host];
        in.protocols = request[http::field::sec_websocket_protocol];
        in.extensions = request[http::field::sec_websocket_extensions];
        auto route = state_->router.route(in, std::chrono::system_clock::now());
        std::optional<std::string> accept;
        if (route.action == Route::Action::upgrade) {
            accept = websocket_accept_key(request[http::field::sec_websocket_key]);
            if (request[http::field::sec_websocket_version] != "13") {
                route = error_route(426, "unsupported WebSocket version: this server speaks version 13");
                route.headers.emplace_back("Sec-WebSocket-Version", "13");
            } else if (!accept) {
                route = error_route(400, "missing or malformed Sec-WebSocket-Key");
            } else if (auto full = over_limit(); !full.empty()) {
                state_->log.warn("refusing a WebSocket upgrade: connection limit", {{"remote", remote_}, {"reason", full}});
                route = error_route(503, full);
                route.headers.emplace_back("Retry-After", "5");
            }
        }
        if (route.action == Route::Action::api) {
            route = co_await answer_api(std::move(route.api));
            if (state_->stopping) break;
        }
        if (route.action != Route::Action::upgrade && upgrade && route.status >= 400) {
            state_->refused_upgrades.fetch_add(1, std::memory_order_relaxed);
            // The target may hold a token: only the path goes to the log.
            const auto target = in.target.substr(0, in.target.find('?'));
            state_->log.debug("refused a WebSocket upgrade",
                              {{"remote", remote_}, {"path", std::string{target}}, {"status", static_cast<std::int64_t>(route.status)},
                               {"error", route.body}});
        }
        if (route.action == Route::Action::upgrade) {
            try {
                // Join before the 101 goes out: once the client sees it, nothing published to
                // the topic passes it by. Messages wait in the queue until the 101 is written.
                state_->hub.join(route.topic, *this);
                topic_ = std::move(route.topic);
                joined_ = true;
                ++state_->sessions_per_ip[ip_];
                ++state_->streams;
            } catch (const std::exception& e) {
                state_->log.error("cannot subscribe a WebSocket topic", {{"topic", route.topic}, {"error", e.what()}});
                route = error_route(503, "stream temporarily unavailable");
            }
        }
        if (joined_) {
            cursor_ = StreamCursor{std::move(route.resume)};
            if (state_->hub.subscribed(topic_)) cursor_.on_topic_state(true);
            http::response<http::empty_body> res{http::status::switching_protocols, request.version()};
            res.set(http::field::server, server_name);
            res.set(http::field::upgrade, "websocket");
            res.set(http::field::connection, "Upgrade");
            res.set(http::field::sec_websocket_accept, *accept);
            for (const auto& [name, value] : route.headers) res.set(name, value);
            encoding_ = route.encoding;
            if (encoding_.deflate) parser_.accept_compressed(&state_->inflater);
            token_id_ = std::move(route.token_id);
            if (route.expires_at) watch_token_expiry(*route.expires_at);
            stream.expires_after(options.handshake_timeout);
            auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
            if (ec) co_return false;
            // Bytes the client sent right after its request are its first frames.
            const auto rest = buffer.cdata();
            parser_.append({static_cast<const char*>(rest.data()), rest.size()});
            stream.expires_never();
            socket_ = stream.release_socket();
            http_.reset();
            co_return true;
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

asio::awaitable<Route> WsSession::answer_api(WsServer::ApiCall call) {
    // The handler answers from wherever it runs; the answer comes back to the loop, where it
    // wakes this coroutine by cancelling the timer it waits on, unless the deadline came first.
    auto answer = std::make_shared<std::optional<WsServer::Page>>();
    api_timer_.expires_after(state_->options.handshake_timeout);
    state_->api(std::move(call), [answer, weak = weak_from_this(), &ioc = state_->ioc](WsServer::Page page) {
        asio::post(ioc, [answer, weak, page = std::move(page)]() mutable {
            if (const auto self = weak.lock(); self && !*answer) {
                *answer = std::move(page);
                self->api_timer_.cancel();
            }
        });
    });
    co_await api_timer_.async_wait(use_tuple);
    if (!*answer) {
        *answer = WsServer::Page{};  // so that a late answer cannot wake the next request's wait
        co_return error_route(504, "the query did not finish in time: ask for a shorter range or a smaller limit");
    }
    Route route;
    route.status = (*answer)->status;
    route.content_type = std::move((*answer)->content_type);
    route.body = std::move((*answer)->body);
    co_return route;
}

asio::awaitable<void> WsSession::read_frames() {
    upgraded_ = true;
    last_read_ = Clock::now();
    state_->sessions_open.fetch_add(1, std::memory_order_relaxed);
    state_->sessions_total.fetch_add(1, std::memory_order_relaxed);
    state_->log.debug("WebSocket session opened",
                      {{"remote", remote_},
                       {"topic", topic_},
                       {"token_id", token_id_},
                       {"msgpack", encoding_.msgpack},
                       {"deflate", encoding_.deflate}});
    do_keepalive();
    if (cursor_.wants_catch_up()) do_catch_up();
    schedule_write();

    std::array<char, 512> chunk{};
    for (;;) {
        for (auto event = parser_.next(); event.kind != FrameParser::Event::Kind::none; event = parser_.next()) {
            on_frame(event);
        }
        auto [ec, n] = co_await socket_.async_read_some(asio::buffer(chunk), use_tuple);
        if (ec) {
            state_->log.debug("WebSocket session ended", {{"remote", remote_}, {"topic", topic_}, {"error", ec.message()}});
            co_return;
        }
        last_read_ = Clock::now();
        ping_outstanding_ = false;
        parser_.append({chunk.data(), n});
    }
}

void WsSession::on_frame(const FrameParser::Event& event) {
    using Kind = FrameParser::Event::Kind;
    switch (event.kind) {
    case Kind::text:
        if (event.payload == "ping") enqueue(pong_message(), false);
        break;
    case Kind::binary:
    case Kind::pong:
    case Kind::none: break;
    case Kind::ping: enqueue_control(OutboundMessage::control(Opcode::pong, event.payload)); break;
    case Kind::close:
        close_received_ = true;
        if (close_sent_) {
            drop_connection();
        } else {
            // Answered with the client's own code (begin_close does nothing if ours is queued).
            begin_close(event.code, {});
        }
        break;
    case Kind::error:
        state_->log.debug("WebSocket protocol error from client",
                          {{"remote", remote_}, {"topic", topic_}, {"error", event.error}});
        // Nothing more can be read from this client, its close answer included: the
        // connection ends as soon as our close frame is out (RFC 6455 7.1.7).
        close_received_ = true;
        begin_close(event.code, event.error);
        break;
    }
}

void WsSession::push(const OutboundPtr& message) {
    if (closing_ || finished_) return;
    out_.clear();
    const auto before = cursor_.not_recovered();
    cursor_.on_live(message, out_);
    state_->not_recovered.fetch_add(cursor_.not_recovered() - before, std::memory_order_relaxed);
    send(out_, true);
    if (upgraded_ && cursor_.wants_catch_up()) do_catch_up();
}

void WsSession::on_topic_state(bool subscribed) {
    if (closing_ || finished_) return;
    cursor_.on_topic_state(subscribed);
    if (upgraded_ && cursor_.wants_catch_up()) do_catch_up();
}

void WsSession::do_catch_up() {
    const auto after = cursor_.begin_catch_up();
    state_->hub.feed().replay(topic_, after, [weak = weak_from_this()](ReplayResult result) {
        if (const auto self = weak.lock(); self && !self->finished_) self->on_catch_up(std::move(result));
    });
}

void WsSession::on_catch_up(ReplayResult result) {
    if (closing_) return;
    out_.clear();
    const auto recovered = cursor_.recovered();
    const auto not_recovered = cursor_.not_recovered();
    cursor_.on_replay(std::move(result), out_);
    state_->recovered.fetch_add(cursor_.recovered() - recovered, std::memory_order_relaxed);
    state_->not_recovered.fetch_add(cursor_.not_recovered() - not_recovered, std::memory_order_relaxed);
    // What a catch-up sends is bounded by the replay read, not by the live limit: a client
    // that reconnects far behind gets its messages at its own pace.
    send(out_, false);
    if (cursor_.wants_catch_up()) do_catch_up();
}

void WsSession::send(std::vector<OutboundPtr>& messages, bool counted) {
    for (const auto& message : messages) {
        if (closing_) return;
        enqueue(message, counted);
    }
    // Live messages held during a catch-up count against the same limit.
    if (cursor_.held_bytes() > state_->options.send_queue_bytes) close_slow(cursor_.held_bytes());
}

void WsSession::close_slow(std::size_t bytes) {
    state_->slow_consumer_closes.fetch_add(1, std::memory_order_relaxed);
    state_->log.warn("closing a slow WebSocket client: send queue full",
                     {{"remote", remote_},
                      {"topic", topic_},
                      {"queued_bytes", static_cast<std::uint64_t>(bytes)},
                      {"limit_bytes", static_cast<std::uint64_t>(state_->options.send_queue_bytes)}});
    begin_close(close_slow_consumer, "slow consumer");
}

void WsSession::enqueue(const OutboundPtr& message, bool counted) {
    if (closing_) return;  // nothing may follow our close frame
    const std::string_view frame = message->frame(encoding_, &state_->compressor);
    state_->compressions.store(state_->compressor.compressions(), std::memory_order_relaxed);
    const auto size = frame.size();
    // One message always fits, however big, or it could never be sent.
    if (counted && queued_bytes_ > 0 && queued_bytes_ + size > state_->options.send_queue_bytes) {
        close_slow(queued_bytes_ + size);
        return;
    }
    if (counted) queued_bytes_ += size;
    queue_.push_back({message, frame, counted});
    schedule_write();
}

void WsSession::enqueue_control(const OutboundPtr& frame) {
    if (close_sent_) return;
    // Ahead of every data frame not yet started, never inside one.
    const auto first_free = writing_ ? in_flight_ : (front_offset_ > 0 ? 1 : 0);
    queue_.insert(queue_.begin() + static_cast<std::ptrdiff_t>(std::min(first_free, queue_.size())),
                  {frame, frame->frame(), false});
    schedule_write();
}

void WsSession::schedule_write() {
    // Posted, so that everything pushed by the current handler (a whole Redis read's worth of
    // messages) goes out in one write.
    if (!upgraded_ || writing_ || write_posted_ || queue_.empty() || finished_) return;
    write_posted_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
        self->write_posted_ = false;
        self->do_write();
    });
}

void WsSession::do_write() {
    if (writing_ || queue_.empty() || finished_) return;
    buffers_.clear();
    std::size_t bytes = 0;
    in_flight_ = 0;
    for (const auto& item : queue_) {
        if (buffers_.size() == max_write_buffers || (bytes >= max_write_bytes && !buffers_.empty())) break;
        std::string_view frame = item.frame;
        if (in_flight_ == 0) frame.remove_prefix(front_offset_);
        buffers_.emplace_back(frame.data(), frame.size());
        bytes += frame.size();
        ++in_flight_;
    }
    writing_ = true;
    last_write_progress_ = Clock::now();
    do_watch_write();
    socket_.async_write_some(buffers_, [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        self->on_write(ec, n);
    });
}

void WsSession::on_write(const boost::system::error_code& ec, std::size_t written) {
    writing_ = false;
    if (ec) {
        // The reader sees the same broken connection and finishes the session.
        drop_connection();
        return;
    }
    const auto now = Clock::now();
    last_write_progress_ = now;
    std::uint64_t delivered = 0;
    while (written > 0) {
        const auto& item = queue_.front();
        const auto left = item.frame.size() - front_offset_;
        if (written < left) {
            front_offset_ += written;
            break;
        }
        written -= left;
        front_offset_ = 0;
        if (item.counted) queued_bytes_ -= item.frame.size();
        if (item.message->opcode() == Opcode::close) {
            close_sent_ = true;
        } else if (!item.message->is_control()) {
            ++delivered;
            state_->delivery_latency.observe(now - item.message->created());
        }
        queue_.pop_front();
    }
    in_flight_ = 0;
    state_->messages_sent.fetch_add(delivered, std::memory_order_relaxed);
    if (close_sent_) {
        // Our close is out: once the client has answered (or had said it first), we are done.
        if (close_received_) {
            boost::system::error_code ignored;
            socket_.shutdown(tcp::socket::shutdown_send, ignored);
            drop_connection();
        }
        return;
    }
    do_write();
}

void WsSession::do_watch_write() {
    if (write_watched_) return;
    write_watched_ = true;
    write_timer_.expires_at(last_write_progress_ + state_->options.write_timeout);
    write_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        const auto self = weak.lock();
        if (!self) return;
        self->write_watched_ = false;
        if (ec || self->finished_ || !self->writing_) return;
        if (Clock::now() - self->last_write_progress_ < self->state_->options.write_timeout) {
            self->do_watch_write();
            return;
        }
        self->state_->write_timeouts.fetch_add(1, std::memory_order_relaxed);
        self->state_->log.warn("dropping a WebSocket client: a write made no progress",
                               {{"remote", self->remote_},
                                {"topic", self->topic_},
                                {"write_timeout_ms", static_cast<std::int64_t>(self->state_->options.write_timeout.count())}});
        self->drop_connection();
    });
}

void WsSession::do_keepalive() {
    const auto half = state_->options.idle_timeout / 2;
    keepalive_timer_.expires_after(half);
    keepalive_timer_.async_wait([weak = weak_from_this(), half](const boost::system::error_code& ec) {
        const auto self = weak.lock();
        if (ec || !self || self->finished_) return;
        if (Clock::now() - self->last_read_ >= half) {
            if (self->ping_outstanding_) {
                self->state_->log.debug("WebSocket client idle: no answer to a ping",
                                        {{"remote", self->remote_}, {"topic", self->topic_}});
                self->drop_connection();
                return;
            }
            self->ping_outstanding_ = true;
            self->enqueue_control(OutboundMessage::control(Opcode::ping, {}));
        }
        self->do_keepalive();
    });
}

void WsSession::watch_token_expiry(std::chrono::system_clock::time_point expires_at) {
    expiry_timer_.expires_after(expires_at - std::chrono::system_clock::now());
    expiry_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        const auto self = weak.lock();
        if (ec || !self || self->finished_ || self->closing_) return;
        self->state_->token_expiry_closes.fetch_add(1, std::memory_order_relaxed);
        self->state_->log.info("closing a WebSocket session: its token expired",
                               {{"remote", self->remote_}, {"topic", self->topic_}, {"token_id", self->token_id_}});
        self->begin_close(close_token_expired, "token expired");
    });
}

std::string WsSession::over_limit() const {
    const auto& options = state_->options;
    const auto from_ip = state_->sessions_per_ip.find(ip_);
    if (from_ip != state_->sessions_per_ip.end() && from_ip->second >= options.max_connections_per_ip) {
        return "too many connections from " + ip_ + " (http.max_connections_per_ip = " +
               std::to_string(options.max_connections_per_ip) + "); try again later";
    }
    if (state_->streams >= options.max_connections) {
        return "server full (http.max_connections = " + std::to_string(options.max_connections) + "); try again later";
    }
    return {};
}

void WsSession::begin_close(std::uint16_t code, std::string_view reason) {
    if (closing_ || finished_) return;
    closing_ = true;
    // Drop what has not started; frames being written cannot be taken back.
    const auto keep = std::min(writing_ ? in_flight_ : (front_offset_ > 0 ? 1 : 0), queue_.size());
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(keep), queue_.end());
    queued_bytes_ = 0;
    for (const auto& item : queue_) {
        if (item.counted) queued_bytes_ += item.frame.size();
    }
    auto close = OutboundMessage::close(code, reason);
    const std::string_view frame = close->frame();
    queue_.push_back({std::move(close), frame, false});

    // A client that never reads never takes the close frame either: give it close_timeout,
    // then drop the connection.
    close_deadline_.expires_after(state_->options.close_timeout);
    close_deadline_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        if (ec) return;
        if (const auto self = weak.lock()) self->drop_connection();
    });
    schedule_write();
}

void WsSession::shutdown() {
    if (finished_) return;
    if (!joined_) {
        // Still speaking plain HTTP: nobody to say goodbye to.
        api_timer_.cancel();
        drop_connection();
        return;
    }
    begin_close(close_going_away, "server shutting down");
}

void WsSession::drop_connection() {
    boost::system::error_code ignored;
    if (http_) {
        http_->stream.socket().close(ignored);
    } else {
        socket_.close(ignored);
    }
}

void WsSession::finish() {
    finished_ = true;
    if (joined_) {
        state_->hub.leave(topic_, *this);
        joined_ = false;
        --state_->streams;
        if (const auto from_ip = state_->sessions_per_ip.find(ip_); from_ip != state_->sessions_per_ip.end() && --from_ip->second == 0) {
            state_->sessions_per_ip.erase(from_ip);
        }
    }
    if (upgraded_) state_->sessions_open.fetch_sub(1, std::memory_order_relaxed);
    state_->remove(this);
    close_deadline_.cancel();
    keepalive_timer_.cancel();
    write_timer_.cancel();
    expiry_timer_.cancel();
    api_timer_.cancel();
    // Ends a write still waiting on a client that stopped reading. The queue is left alone:
    // that write reads its front until it completes.
    drop_connection();
}

} // namespace flowgate::realtime
