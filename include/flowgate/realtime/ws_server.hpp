#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flowgate/obs/histogram.hpp"
#include "flowgate/obs/logger.hpp"
#include "flowgate/realtime/topic.hpp"

namespace boost::asio {
class io_context;
}

namespace flowgate::config {
struct HttpConfig;
}

namespace flowgate::auth {
class TokenAuthority;
}

namespace flowgate::realtime {

class Hub;
struct ServerState;

/// Limits and deadlines of the WebSocket server; every default is production-ready.
struct WsServerOptions {
    /// Largest message a client may send; a bigger one closes the session with 1009.
    /// Default 65536 (config `http.max_ws_message_bytes`).
    std::size_t max_message_bytes = 64 * 1024;
    /// Frame bytes of live messages waiting for one client; a message that would pass it
    /// closes the session with 4008 "slow consumer" (one message always fits). Replayed
    /// messages do not count: they are sent at the client's pace. Default 1 MiB (config
    /// `http.ws_send_queue_bytes`).
    std::size_t send_queue_bytes = std::size_t{1} << 20;
    /// A write to a client that makes no progress for this long ends the session. Default
    /// 10 s (config `http.ws_write_timeout`).
    std::chrono::milliseconds write_timeout{10'000};
    /// Deadline for reading one HTTP request (headers) and for the WebSocket handshake.
    /// Default 30 s.
    std::chrono::milliseconds handshake_timeout{30'000};
    /// Largest HTTP request header accepted; a bigger one is answered 431. Default 8192.
    std::size_t max_request_header_bytes = 8 * 1024;
    /// A session that has received nothing for half this time is pinged, and closed when
    /// the other half passes without an answer. Default 300 s (Beast's suggested value).
    std::chrono::milliseconds idle_timeout{300'000};
    /// How long a closing session (overflow, shutdown) may take to send its close frame
    /// and get the answer before its socket is dropped. Default 5 s.
    std::chrono::milliseconds close_timeout{5'000};

    /// Who may open which stream.
    struct Access {
        /// Verifies stream tokens; null lets anyone follow any stream (auth.mode = "none").
        std::shared_ptr<const auth::TokenAuthority> tokens;
        /// Allowed Origin values ("*": any); one matching the request's Host always is.
        std::vector<std::string> origins;
        bool allow_missing_origin = true;
    };
    Access access;
    /// WebSocket sessions open at once, in total and from one IP address; an upgrade past
    /// either is answered 503. Defaults 10000 and 100.
    std::size_t max_connections = 10'000;
    std::size_t max_connections_per_ip = 100;
    /// permessage-deflate, for clients that offer it.
    struct Deflate {
        bool enabled = true;
        std::size_t threshold_bytes = 256;
        int window_bits = 15;
    };
    Deflate deflate;

    /// The options of `[http]`: max_ws_message_bytes, ws_send_queue_bytes, ws_write_timeout,
    /// origins, allow_missing_origin, max_connections(_per_ip), ws_deflate*; the rest
    /// default (access.tokens is the caller's).
    static WsServerOptions from(const config::HttpConfig& http);
};

/// Counters for metrics. Read from any thread.
struct WsServerStats {
    std::uint64_t sessions_open = 0;    ///< WebSocket sessions open now
    std::uint64_t sessions_total = 0;   ///< upgrades accepted since start
    std::uint64_t messages_sent = 0;         ///< messages written to clients (deliveries)
    std::uint64_t slow_consumer_closes = 0;  ///< sessions closed with 4008: send queue full
    std::uint64_t write_timeouts = 0;        ///< sessions dropped: a write made no progress
    std::uint64_t recovered = 0;             ///< catch-ups that replayed exactly what was missed
    std::uint64_t not_recovered = 0;         ///< RECOVERY {"recovered":false} events sent
    std::uint64_t refused_upgrades = 0;      ///< stream requests answered 4xx/5xx before the upgrade
    std::uint64_t token_expiry_closes = 0;   ///< sessions closed with 4001: token expired
    std::uint64_t compressions = 0;          ///< messages compressed (once each, for every session)
};

/// flowgate's HTTP/WebSocket port: `GET /healthz`, the history API under `/api/`, and the streams
/// `/ws/community/{id}/updates` (topic `community:{id}:updates`) and
/// `/ws/node/{id}/telemetry` (topic `node:{id}:telemetry`), with `?since=<seq>&epoch=<e>`
/// to recover what a client missed, `?token=` or `Authorization: Bearer` for the token, the
/// `msgpack` subprotocol and permessage-deflate. A request that may not have its stream is
/// answered before any upgrade with a JSON `{"error": …}` (see RequestRouter for which
/// status when). Each session has one writer and a queue bounded in bytes of
/// shared frames, so a slow client never delays another. Runs on one io_context thread:
/// every member is called on that thread (or before it runs), except stats().
class WsServer {
public:
    /// The answer to a GET of one of the server's own pages.
    struct Page {
        unsigned status = 200;
        std::string content_type = "application/json";
        std::string body;
    };
    using PageHandler = std::function<Page()>;

    /// A request of the history API that the router has let through: its shape is known,
    /// its token verified, and the community or node it names exists and is allowed.
    struct ApiCall {
        enum class Kind {
            communities,  ///< GET /api/communities
            nodes,        ///< GET /api/communities/{id}/nodes
            readings,     ///< GET /api/nodes/{id}/readings?…
        };
        Kind kind = Kind::communities;
        std::int64_t id = 0;     ///< the community's or node's id
        std::string query;       ///< the query string, undecoded
        /// The communities the token allows; nullopt when the server needs no token.
        std::optional<std::vector<std::int64_t>> communities;
    };
    /// Answers one API call, now or later, by calling `respond` once from any thread.
    using ApiHandler = std::function<void(ApiCall call, std::function<void(Page)> respond)>;

    WsServer(boost::asio::io_context& ioc, Hub& hub, TopicCommunity topic_community, obs::Logger log,
             WsServerOptions options = {});
    /// Stops (see stop()).
    ~WsServer();
    WsServer(const WsServer&) = delete;
    WsServer& operator=(const WsServer&) = delete;

    /// Binds and listens; port 0 picks a free one. Returns the bound port. Throws
    /// std::system_error when the address cannot be resolved or bound.
    std::uint16_t listen(const std::string& host, std::uint16_t port);
    /// Starts accepting; connections are served while the io_context runs.
    void start();
    /// Stops accepting and closes every session (WebSocket close 1001 "server shutting
    /// down"; a session that cannot finish its close within close_timeout is dropped). Each
    /// session leaves the Hub, which unsubscribes topics left without sessions. `on_closed`
    /// runs on the loop once the last session has ended — keep the loop running until then,
    /// or clients see a dropped connection instead of the close frame. Calling stop() again
    /// does nothing (and does not call its `on_closed`).
    void stop(std::function<void()> on_closed = {});

    /// Serves GET (and HEAD) of `path` — "/readyz", "/metrics" — from `handler`, called on
    /// the loop; replaces an earlier handler of that path. "/healthz" answers
    /// `{"status":"ok"}` until replaced.
    void set_page(std::string path, PageHandler handler);

    /// Serves the history API (`/api/…`) from `handler`, called on the loop. Without one,
    /// those paths are 404. An answer that takes longer than handshake_timeout is a 504.
    void set_api(ApiHandler handler);

    WsServerStats stats() const;
    /// From an event's arrival from Redis to its last byte written to a client, per
    /// delivery. Loop thread only.
    const obs::Histogram& delivery_latency() const;

private:
    std::shared_ptr<ServerState> state_;
};

} // namespace flowgate::realtime
