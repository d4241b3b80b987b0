#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <utility>
#include <unordered_set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include "flowgate/obs/logger.hpp"
#include "flowgate/realtime/ws_server.hpp"
#include "request_router.hpp"

namespace flowgate::realtime {

class Hub;
class WsSession;

/// What the listener and its sessions share (chat-multi's shared_state). Owned by shared_ptr
/// so that sessions still unwinding after ~WsServer find it alive.
struct ServerState {
    ServerState(boost::asio::io_context& ioc, Hub& hub, TopicExists topic_exists, obs::Logger log,
                WsServerOptions options)
        : ioc{ioc}, hub{hub}, router{std::move(topic_exists)}, log{std::move(log)}, options{options} {}

    boost::asio::io_context& ioc;
    Hub& hub;
    RequestRouter router;
    obs::Logger log;
    WsServerOptions options;
    boost::asio::ip::tcp::acceptor acceptor{ioc};
    /// Every connection being served, HTTP or WebSocket, so that stop() can close them.
    std::unordered_set<WsSession*> sessions;
    bool stopping = false;
    /// stop()'s callback, run (posted) when `sessions` becomes empty while stopping.
    std::function<void()> on_closed;

    /// Removes a finished session; the last one to go after stop() runs on_closed.
    void remove(WsSession* session) {
        sessions.erase(session);
        if (stopping && sessions.empty() && on_closed) boost::asio::post(ioc, std::exchange(on_closed, nullptr));
    }

    // Atomic only so that stats() may be read from another thread (a metrics scrape, a test).
    std::atomic<std::uint64_t> sessions_open{0};
    std::atomic<std::uint64_t> sessions_total{0};
    std::atomic<std::uint64_t> messages_sent{0};
    std::atomic<std::uint64_t> slow_consumer_closes{0};
    std::atomic<std::uint64_t> write_timeouts{0};
    std::atomic<std::uint64_t> recovered{0};
    std::atomic<std::uint64_t> not_recovered{0};
};

} // namespace flowgate::realtime
