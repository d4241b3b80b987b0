#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include "flowgate/obs/logger.hpp"
#include "flowgate/realtime/ws_server.hpp"
#include "permessage_deflate.hpp"
#include "request_router.hpp"

namespace flowgate::realtime {

class Hub;
class WsSession;

/// What the listener and its sessions share (chat-multi's shared_state). Owned by shared_ptr
/// so that sessions still unwinding after ~WsServer find it alive.
struct ServerState {
    ServerState(boost::asio::io_context& ioc, Hub& hub, TopicCommunity topic_community, obs::Logger log,
                WsServerOptions options)
        : ioc{ioc},
          hub{hub},
          router{std::move(topic_community), options.access, options.deflate},
          log{std::move(log)},
          options{std::move(options)},
          compressor{this->options.deflate.window_bits, this->options.deflate.threshold_bytes} {}

    boost::asio::io_context& ioc;
    Hub& hub;
    RequestRouter router;
    WsServer::ApiHandler api;  ///< answers /api/… (the router lets them through once set)
    obs::Logger log;
    WsServerOptions options;
    boost::asio::ip::tcp::acceptor acceptor{ioc};
    /// Every connection being served, HTTP or WebSocket, so that stop() can close them.
    std::unordered_set<WsSession*> sessions;
    /// WebSocket sessions open per remote address, for max_connections_per_ip.
    std::unordered_map<std::string, std::size_t> sessions_per_ip;
    std::size_t streams = 0;  ///< WebSocket sessions (joined to a topic), for max_connections
    /// Shared by every session that negotiated permessage-deflate (no context takeover).
    FrameCompressor compressor;
    FrameInflater inflater;
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
    std::atomic<std::uint64_t> refused_upgrades{0};
    std::atomic<std::uint64_t> token_expiry_closes{0};
    std::atomic<std::uint64_t> compressions{0};
    obs::Histogram delivery_latency;
};

} // namespace flowgate::realtime
