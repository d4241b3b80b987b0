#include "http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "sim_api.hpp"

namespace flowgate::sim {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

} // namespace

struct HttpServer::Impl {
    asio::io_context& ioc;
    SimApi& api;
    obs::Logger log;
    HttpServerOptions options;
    tcp::acceptor acceptor{ioc};

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
            if (ec == asio::error::operation_aborted) co_return;
            if (ec) {
                // Out of file descriptors and the like: say so, pause, and keep serving.
                log.warn("accept failed", {{"error", ec.message()}});
                asio::steady_timer pause{ioc, std::chrono::milliseconds{100}};
                co_await pause.async_wait(use_tuple);
                continue;
            }
            socket.set_option(tcp::no_delay{true}, ec);
            asio::co_spawn(ioc, serve(std::move(socket)), asio::detached);
        }
    }

    asio::awaitable<void> serve(tcp::socket socket) {
        beast::tcp_stream stream{std::move(socket)};
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(options.max_request_bytes);
            parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(options.max_request_bytes, 64 * 1024)));
            stream.expires_after(options.idle_timeout);
            auto [read_ec, read_n] = co_await http::async_read(stream, buffer, parser, use_tuple);
            if (read_ec == http::error::body_limit || read_ec == http::error::header_limit) {
                co_await write_plain(stream, http::status::payload_too_large, "request too large\n");
                co_await drain(stream, buffer);
                co_return;
            }
            if (read_ec == http::error::end_of_stream || read_ec == asio::error::eof) break;
            if (read_ec) {
                if (read_ec != beast::error::timeout && read_ec != asio::error::connection_reset) {
                    co_await write_plain(stream, http::status::bad_request, "malformed request\n");
                    co_await drain(stream, buffer);
                }
                co_return;
            }
            const auto& req = parser.get();
            SimRequest request{req.method_string(), req.target(), req.body(), req["X-THINGSPEAKAPIKEY"],
                               req[http::field::if_none_match]};
            auto reply = api.handle(request, std::chrono::system_clock::now());
            if (log.enabled(obs::LogLevel::debug)) {
                log.debug("request", {{"method", req.method_string()}, {"target", req.target()}, {"status", reply.status}});
            }
            if (reply.delay.count() > 0) {
                asio::steady_timer timer{co_await asio::this_coro::executor, reply.delay};
                co_await timer.async_wait(use_tuple);
            }
            if (reply.action == SimReply::Action::reset) {
                beast::error_code ignored;
                stream.socket().set_option(asio::socket_base::linger{true, 0}, ignored);
                stream.socket().close(ignored);
                co_return;
            }
            if (reply.action == SimReply::Action::hang) {
                // Keep the connection open and silent until the client gives up.
                stream.expires_after(options.hang_limit);
                for (;;) {
                    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), use_tuple);
                    if (ec) co_return;
                    buffer.consume(n);
                }
            }
            http::response<http::string_body> res{static_cast<http::status>(reply.status), req.version()};
            res.set(http::field::server, "flowgate-sim");
            res.set(http::field::content_type, reply.content_type);
            res.set(http::field::access_control_allow_origin, "*");
            if (!reply.etag.empty()) res.set(http::field::etag, reply.etag);
            res.keep_alive(req.keep_alive());
            res.body() = std::move(reply.body);
            res.prepare_payload();
            stream.expires_after(options.idle_timeout); // a delayed answer gets a full deadline
            auto [write_ec, write_n] = co_await http::async_write(stream, res, use_tuple);
            if (write_ec || !res.keep_alive()) break;
        }
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    /// Closes our side and reads what the client is still sending, for a while, so that it
    /// gets to read our answer instead of a connection reset.
    static asio::awaitable<void> drain(beast::tcp_stream& stream, beast::flat_buffer& buffer) {
        beast::error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream.expires_after(std::chrono::seconds{2});
        while (!ec) {
            std::size_t n = 0;
            std::tie(ec, n) = co_await stream.async_read_some(buffer.prepare(64 * 1024), use_tuple);
            buffer.consume(n);
        }
    }

    static asio::awaitable<void> write_plain(beast::tcp_stream& stream, http::status status, std::string body) {
        http::response<http::string_body> res{status, 11};
        res.set(http::field::server, "flowgate-sim");
        res.set(http::field::content_type, "text/plain");
        res.keep_alive(false);
        res.body() = std::move(body);
        res.prepare_payload();
        co_await http::async_write(stream, res, use_tuple);
    }
};

HttpServer::HttpServer(asio::io_context& ioc, SimApi& api, obs::Logger log, HttpServerOptions options)
    : impl_{new Impl{ioc, api, std::move(log), options}} {}

HttpServer::~HttpServer() = default;

std::uint16_t HttpServer::listen(const std::string& host, std::uint16_t port) {
    const tcp::endpoint endpoint{asio::ip::make_address(host), port};
    auto& acceptor = impl_->acceptor;
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address{true});
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    return acceptor.local_endpoint().port();
}

void HttpServer::start() { asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached); }

void HttpServer::stop() {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
}

} // namespace flowgate::sim
