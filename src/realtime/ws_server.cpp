#include "flowgate/realtime/ws_server.hpp"

#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "flowgate/config/config.hpp"
#include "server_state.hpp"
#include "ws_session.hpp"

namespace flowgate::realtime {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> accept_connections(std::shared_ptr<ServerState> state) {
    for (;;) {
        auto [ec, socket] = co_await state->acceptor.async_accept(use_tuple);
        if (ec == asio::error::operation_aborted || !state->acceptor.is_open()) co_return;
        if (ec) {
            // Out of file descriptors and the like: say so, and pause instead of spinning.
            state->log.warn("accept failed", {{"error", ec.message()}});
            asio::steady_timer pause{state->ioc, std::chrono::milliseconds{100}};
            co_await pause.async_wait(use_tuple);
            continue;
        }
        socket.set_option(tcp::no_delay{true}, ec);
        WsSession::start(std::make_shared<WsSession>(std::move(socket), state));
    }
}

} // namespace

WsServerOptions WsServerOptions::from(const config::HttpConfig& http) {
    WsServerOptions options;
    options.max_message_bytes = http.max_ws_message_bytes;
    options.send_queue_bytes = http.ws_send_queue_bytes;
    options.write_timeout = http.ws_write_timeout;
    options.access.origins = http.origins;
    options.access.allow_missing_origin = http.allow_missing_origin;
    options.max_connections = http.max_connections;
    options.max_connections_per_ip = http.max_connections_per_ip;
    options.deflate.enabled = http.ws_deflate;
    options.deflate.threshold_bytes = http.ws_deflate_threshold_bytes;
    options.deflate.window_bits = static_cast<int>(http.ws_deflate_window_bits);
    return options;
}

WsServer::WsServer(asio::io_context& ioc, Hub& hub, TopicCommunity topic_community, obs::Logger log, WsServerOptions options)
    : state_{std::make_shared<ServerState>(ioc, hub, std::move(topic_community), std::move(log), std::move(options))} {}

WsServer::~WsServer() { stop(); }

std::uint16_t WsServer::listen(const std::string& host, std::uint16_t port) {
    tcp::resolver resolver{state_->ioc};
    const auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service);
    const tcp::endpoint endpoint = *results.begin();
    auto& acceptor = state_->acceptor;
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address{true});
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    const auto bound = acceptor.local_endpoint();
    state_->log.info("listening", {{"address", bound.address().to_string()}, {"port", bound.port()}});
    return bound.port();
}

void WsServer::start() { asio::co_spawn(state_->ioc, accept_connections(state_), asio::detached); }

void WsServer::stop(std::function<void()> on_closed) {
    if (state_->stopping) return;
    state_->stopping = true;
    state_->on_closed = std::move(on_closed);
    if (state_->sessions.empty() && state_->on_closed) {
        asio::post(state_->ioc, std::exchange(state_->on_closed, nullptr));
    }
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
    // Each session leaves the set when it finishes, later; iterate over a copy all the same.
    std::vector<std::shared_ptr<WsSession>> sessions;
    for (WsSession* session : state_->sessions) sessions.push_back(session->shared_from_this());
    for (const auto& session : sessions) session->shutdown();
}

void WsServer::set_page(std::string path, PageHandler handler) { state_->router.set_page(std::move(path), std::move(handler)); }

void WsServer::set_api(ApiHandler handler) {
    state_->api = std::move(handler);
    state_->router.enable_api();
}

const obs::Histogram& WsServer::delivery_latency() const { return state_->delivery_latency; }

WsServerStats WsServer::stats() const {
    WsServerStats stats;
    stats.sessions_open = state_->sessions_open.load(std::memory_order_relaxed);
    stats.sessions_total = state_->sessions_total.load(std::memory_order_relaxed);
    stats.messages_sent = state_->messages_sent.load(std::memory_order_relaxed);
    stats.slow_consumer_closes = state_->slow_consumer_closes.load(std::memory_order_relaxed);
    stats.write_timeouts = state_->write_timeouts.load(std::memory_order_relaxed);
    stats.recovered = state_->recovered.load(std::memory_order_relaxed);
    stats.not_recovered = state_->not_recovered.load(std::memory_order_relaxed);
    stats.refused_upgrades = state_->refused_upgrades.load(std::memory_order_relaxed);
    stats.token_expiry_closes = state_->token_expiry_closes.load(std::memory_order_relaxed);
    stats.compressions = state_->compressions.load(std::memory_order_relaxed);
    return stats;
}

} // namespace flowgate::realtime
