#include "ws_test_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>

#include <stdexcept>

namespace flowgate::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

std::string WsEvent::describe() const {
    switch (kind) {
    case Kind::message: return "message \"" + text.substr(0, 80) + (text.size() > 80 ? "…" : "") + "\"";
    case Kind::closed: return "closed " + std::to_string(close_code) + " \"" + close_reason + "\"";
    case Kind::timeout: return "timeout";
    case Kind::error: return "error: " + error;
    }
    return "?";
}

struct WsTestClient::Impl {
    asio::io_context ioc;
    websocket::stream<beast::tcp_stream> ws{ioc};
    beast::flat_buffer buffer;
    websocket::response_type response;
    Options options;
    bool upgraded = false;
    bool broken = false;

    /// Runs the io_context until `done` or `timeout`; on timeout the socket is closed so the
    /// pending operation ends, and false is returned.
    bool run_until_done(const bool& done, std::chrono::milliseconds timeout) {
        ioc.restart();
        ioc.run_for(timeout);
        if (done) return true;
        beast::error_code ignored;
        beast::get_lowest_layer(ws).socket().close(ignored);
        broken = true;
        ioc.restart();
        ioc.run();
        return false;
    }

    WsEvent read(std::chrono::milliseconds timeout) {
        if (broken) return {WsEvent::Kind::error, {}, 0, {}, "connection already broken"};
        bool done = false;
        beast::error_code ec;
        ws.async_read(buffer, [&](beast::error_code e, std::size_t) {
            ec = e;
            done = true;
        });
        if (!run_until_done(done, timeout)) return {WsEvent::Kind::timeout, {}, 0, {}, {}};
        WsEvent event;
        // A close frame that arrived counts even if the TCP teardown after it failed: Beast
        // 1.81's server teardown after a failed read (1009) may reset the connection before
        // our close answer arrives, as a browser would also see it.
        if (ec == websocket::error::closed || (ec && ws.reason().code != websocket::close_code::none)) {
            event.kind = WsEvent::Kind::closed;
            event.close_code = ws.reason().code;
            event.close_reason = std::string{ws.reason().reason.c_str()};
            broken = true;
        } else if (ec) {
            event.kind = WsEvent::Kind::error;
            event.error = ec.message();
            broken = true;
        } else {
            event.kind = WsEvent::Kind::message;
            event.binary = ws.got_binary();
            event.text = beast::buffers_to_string(buffer.cdata());
            buffer.consume(buffer.size());
        }
        return event;
    }
};

WsTestClient::WsTestClient(unsigned short port, const std::string& target) : WsTestClient{port, target, Options{}} {}

WsTestClient::WsTestClient(unsigned short port, const std::string& target, Options options) : impl_{new Impl{}} {
    auto& im = *impl_;
    im.options = options;
    auto& socket = beast::get_lowest_layer(im.ws).socket();
    socket.open(tcp::v4());
    if (options.receive_buffer_bytes > 0) {
        // Before connect, so that the window the client advertises is small from the start.
        socket.set_option(asio::socket_base::receive_buffer_size{options.receive_buffer_bytes});
    }
    // The tcp_stream's deadline covers connect and handshake.
    beast::get_lowest_layer(im.ws).expires_after(options.timeout);
    beast::error_code ec;
    beast::get_lowest_layer(im.ws).async_connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), port},
                                                 [&](beast::error_code e) { ec = e; });
    im.ioc.run();
    if (ec) throw std::runtime_error{"cannot connect to port " + std::to_string(port) + ": " + ec.message()};
    socket.set_option(tcp::no_delay{true}, ec);  // small test messages go out at once

    if (options.deflate) {
        websocket::permessage_deflate pmd;
        pmd.client_enable = true;
        im.ws.set_option(pmd);
    }
    im.ws.set_option(websocket::stream_base::decorator([headers = options.headers](websocket::request_type& req) {
        for (const auto& [name, value] : headers) req.set(name, value);
    }));
    im.ws.async_handshake(im.response, "127.0.0.1:" + std::to_string(port), target,
                          [&](beast::error_code e) { ec = e; });
    im.ioc.restart();
    im.ioc.run();
    beast::get_lowest_layer(im.ws).expires_never();
    if (ec == websocket::error::upgrade_declined) return;
    if (ec) throw std::runtime_error{"WebSocket handshake for " + target + " failed: " + ec.message()};
    im.upgraded = true;
    im.ws.read_message_max(0);
}

WsTestClient::~WsTestClient() = default;

bool WsTestClient::upgraded() const { return impl_->upgraded; }
unsigned WsTestClient::http_status() const { return impl_->response.result_int(); }
const std::string& WsTestClient::http_body() const { return impl_->response.body(); }
std::string WsTestClient::response_header(const std::string& name) const {
    return std::string{impl_->response[name]};
}

WsEvent WsTestClient::read() { return impl_->read(impl_->options.timeout); }
WsEvent WsTestClient::read(std::chrono::milliseconds timeout) { return impl_->read(timeout); }

void WsTestClient::send(const std::string& text) {
    auto& im = *impl_;
    bool done = false;
    beast::error_code ec;
    im.ws.async_write(asio::buffer(text), [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
    });
    if (!im.run_until_done(done, im.options.timeout)) throw std::runtime_error{"send timed out"};
    if (ec) throw std::runtime_error{"send failed: " + ec.message()};
}

WsEvent WsTestClient::close() {
    auto& im = *impl_;
    bool done = false;
    beast::error_code ec;
    im.ws.async_close(websocket::close_code::normal, [&](beast::error_code e) {
        ec = e;
        done = true;
    });
    if (!im.run_until_done(done, im.options.timeout)) return {WsEvent::Kind::timeout, {}, 0, {}, {}};
    im.broken = true;
    if (ec) return {WsEvent::Kind::error, {}, 0, {}, ec.message()};
    return {WsEvent::Kind::closed, {}, im.ws.reason().code, std::string{im.ws.reason().reason.c_str()}, {}};
}

void WsTestClient::drop() {
    beast::error_code ignored;
    beast::get_lowest_layer(impl_->ws).socket().close(ignored);
    impl_->broken = true;
}

} // namespace flowgate::test
