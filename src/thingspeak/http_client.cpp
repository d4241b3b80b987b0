#include "flowgate/thingspeak/http_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <charconv>
#include <deque>
#include <set>
#include <stdexcept>

namespace flowgate::thingspeak {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Origin {
    bool tls = false;
    std::string host;
    std::string port;
    std::string host_header;
};

Origin parse_origin(const std::string& url) {
    Origin o;
    std::string_view rest = url;
    if (rest.starts_with("https://")) {
        o.tls = true;
        rest.remove_prefix(8);
    } else if (rest.starts_with("http://")) {
        rest.remove_prefix(7);
    } else {
        throw std::invalid_argument{"base URL must start with http:// or https://"};
    }
    while (rest.ends_with('/')) rest.remove_suffix(1);
    if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) {
        throw std::invalid_argument{"base URL must be scheme://host[:port] without a path"};
    }
    o.host_header = std::string{rest};
    const auto colon = rest.rfind(':');
    if (colon != std::string_view::npos && rest.find(']') == std::string_view::npos) {
        o.host = rest.substr(0, colon);
        o.port = rest.substr(colon + 1);
    } else {
        o.host = rest;
        o.port = o.tls ? "443" : "80";
    }
    if (o.host.empty() || o.port.empty() || o.port.find_first_not_of("0123456789") != std::string::npos) {
        throw std::invalid_argument{"base URL has a bad host or port"};
    }
    return o;
}

FetchErrorKind classify(const beast::error_code& ec) {
    if (ec == beast::error::timeout) return FetchErrorKind::timeout;
    if (ec == asio::error::operation_aborted) return FetchErrorKind::cancelled;
    // A server closing an idle TLS connection without close_notify: a closed connection.
    if (ec == ssl::error::stream_truncated) return FetchErrorKind::network;
    if (ec.category() == asio::error::get_ssl_category() || ec.category() == ssl::error::get_stream_category()) {
        return FetchErrorKind::tls;
    }
    if (ec.category() == beast::error_code{http::error::end_of_stream}.category() && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
        return FetchErrorKind::bad_response;
    }
    return FetchErrorKind::network;
}

/// One connection to the origin, plain or TLS.
struct Connection {
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

} // namespace

std::string_view to_string(FetchErrorKind kind) {
    switch (kind) {
    case FetchErrorKind::none: return "none";
    case FetchErrorKind::network: return "network";
    case FetchErrorKind::timeout: return "timeout";
    case FetchErrorKind::tls: return "tls";
    case FetchErrorKind::bad_response: return "bad_response";
    case FetchErrorKind::cancelled: return "cancelled";
    }
    return "network";
}

bool FetchResult::source_failure() const {
    switch (error) {
    case FetchErrorKind::none: return throttled();
    case FetchErrorKind::network:
    case FetchErrorKind::timeout:
    case FetchErrorKind::tls: return true;
    case FetchErrorKind::bad_response:
    case FetchErrorKind::cancelled: return false;
    }
    return false;
}

struct HttpClient::Impl : std::enable_shared_from_this<Impl> {
    struct Pending {
        std::string target;
        Callback done;
    };

    asio::io_context& ioc;
    HttpClientOptions options;
    obs::Logger log;
    Origin origin;
    ssl::context tls_context{ssl::context::tls_client};
    std::deque<Pending> waiting;
    std::vector<std::shared_ptr<Connection>> idle;
    std::set<std::shared_ptr<Connection>> busy;
    std::size_t active = 0;
    std::size_t opened = 0;
    bool stopped = false;

    Impl(asio::io_context& io, HttpClientOptions opts, obs::Logger logger)
        : ioc{io}, options{std::move(opts)}, log{std::move(logger)}, origin{parse_origin(options.base_url)} {
        tls_context.set_default_verify_paths();
        tls_context.set_verify_mode(ssl::verify_peer);
        if (!options.ca_file.empty()) tls_context.load_verify_file(options.ca_file);
    }

    void pump() {
        while (!stopped && !waiting.empty() && active < options.max_connections) {
            auto pending = std::move(waiting.front());
            waiting.pop_front();
            ++active;
            asio::co_spawn(ioc, run(shared_from_this(), std::move(pending)), asio::detached);
        }
    }

    static asio::awaitable<void> run(std::shared_ptr<Impl> self, Pending pending) {
        const auto start = Clock::now();
        const auto deadline = start + self->options.request_timeout;
        FetchResult result;
        // A kept-alive connection may have been closed by the server meanwhile: a request on a
        // reused connection that fails before any response byte is retried once on a new one.
        for (int attempt = 0; attempt < 2; ++attempt) {
            std::shared_ptr<Connection> conn;
            // Only the first attempt takes an idle connection: after a quiet spell they may all
            // be stale, and the retry is there to get a fresh one.
            const bool reused = attempt == 0 && !self->idle.empty();
            if (reused) {
                conn = std::move(self->idle.back());
                self->idle.pop_back();
            } else {
                conn = std::make_shared<Connection>();
            }
            self->busy.insert(conn); // so that stop() can close it at any step
            if (!reused) {
                if (auto error = co_await self->connect(*conn, deadline)) {
                    self->busy.erase(conn);
                    result = std::move(*error);
                    break;
                }
            }
            bool keep_alive = false;
            // Not a conditional expression: GCC 12 miscompiles co_await inside ?:.
            if (conn->tls) {
                result = co_await self->exchange(*conn->tls, *conn, pending.target, deadline, keep_alive);
            } else {
                result = co_await self->exchange(*conn->plain, *conn, pending.target, deadline, keep_alive);
            }
            self->busy.erase(conn);
            if (result.error == FetchErrorKind::none && keep_alive && !self->stopped) {
                self->idle.push_back(std::move(conn));
            }
            if (!(reused && result.error == FetchErrorKind::network)) break;
        }
        result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
        --self->active;
        if (self->stopped) co_return;
        pending.done(std::move(result));
        self->pump();
    }

    /// getaddrinfo runs on Asio's resolver thread and cannot be interrupted: the request waits
    /// for it only until its deadline, and an answer that comes later is dropped.
    asio::awaitable<std::optional<FetchResult>> resolve(Clock::time_point deadline, tcp::resolver::results_type& out) {
        struct Lookup {
            explicit Lookup(asio::io_context& io) : resolver{io}, answered{io} {}
            tcp::resolver resolver;
            asio::steady_timer answered;
            std::optional<beast::error_code> ec;
            tcp::resolver::results_type results;
        };
        auto lookup = std::make_shared<Lookup>(ioc);
        lookup->answered.expires_at(deadline);
        lookup->resolver.async_resolve(origin.host, origin.port,
                                       [lookup](const beast::error_code& ec, tcp::resolver::results_type results) {
                                           if (lookup->ec) return;
                                           lookup->ec = ec;
                                           lookup->results = std::move(results);
                                           lookup->answered.cancel();
                                       });
        co_await lookup->answered.async_wait(use_tuple);
        FetchResult r;
        if (!lookup->ec) {
            lookup->ec = asio::error::timed_out; // what a late answer finds: nobody waits for it
            lookup->resolver.cancel();
            r.error = FetchErrorKind::timeout;
            r.error_message = "resolving " + origin.host + ": no answer within the request timeout";
            co_return r;
        }
        if (*lookup->ec) {
            r.error = classify(*lookup->ec);
            r.error_message = "resolving " + origin.host + ": " + lookup->ec->message();
            co_return r;
        }
        out = std::move(lookup->results);
        co_return std::nullopt;
    }

    asio::awaitable<std::optional<FetchResult>> connect(Connection& conn, Clock::time_point deadline) {
        const auto fail = [](const beast::error_code& ec, std::string_view what) {
            FetchResult r;
            r.error = classify(ec);
            r.error_message = std::string{what} + ": " + ec.message();
            return std::optional<FetchResult>{std::move(r)};
        };
        tcp::resolver::results_type endpoints;
        if (auto error = co_await resolve(deadline, endpoints)) co_return error;
        if (stopped) co_return fail(asio::error::operation_aborted, "connecting");
        if (origin.tls) {
            conn.tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc, tls_context);
        } else {
            conn.plain = std::make_unique<beast::tcp_stream>(ioc);
        }
        auto& lowest = conn.lowest();
        lowest.expires_at(deadline);
        auto [connect_ec, endpoint] = co_await lowest.async_connect(endpoints, use_tuple);
        if (connect_ec) co_return fail(connect_ec, "connecting to " + origin.host_header);
        ++opened;
        if (origin.tls) {
            // SNI, so that the server presents the certificate of this host, and verification
            // of that certificate against the host name.
            if (!SSL_set_tlsext_host_name(conn.tls->native_handle(), origin.host.c_str())) {
                co_return fail(beast::error_code{static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()},
                               "setting SNI");
            }
            conn.tls->set_verify_callback(ssl::host_name_verification{origin.host});
            auto [hs_ec] = co_await conn.tls->async_handshake(ssl::stream_base::client, use_tuple);
            if (hs_ec) co_return fail(hs_ec, "TLS handshake with " + origin.host_header);
        }
        co_return std::nullopt;
    }

    template <typename Stream>
    asio::awaitable<FetchResult> exchange(Stream& stream, Connection& conn, const std::string& target,
                                          Clock::time_point deadline, bool& keep_alive) {
        FetchResult result;
        http::request<http::empty_body> req{http::verb::get, target, 11};
        req.set(http::field::host, origin.host_header);
        req.set(http::field::user_agent, "flowgate");
        req.set(http::field::accept, "application/json");
        conn.lowest().expires_at(deadline);
        auto [write_ec, written] = co_await http::async_write(stream, req, use_tuple);
        if (write_ec) {
            result.error = classify(write_ec);
            result.error_message = "sending request: " + write_ec.message();
            co_return result;
        }
        http::response_parser<http::string_body> parser;
        parser.body_limit(options.max_body_bytes);
        auto [read_ec, read] = co_await http::async_read(stream, conn.buffer, parser, use_tuple);
        if (read_ec == http::error::body_limit) {
            result.error = FetchErrorKind::bad_response;
            result.error_message = "response body larger than " + std::to_string(options.max_body_bytes) + " bytes";
            co_return result;
        }
        if (read_ec) {
            result.error = classify(read_ec);
            result.error_message = "reading response: " + read_ec.message();
            co_return result;
        }
        auto res = parser.release();
        keep_alive = res.keep_alive();
        result.status = res.result_int();
        result.body = std::move(res.body());
        if (const auto retry = res.find(http::field::retry_after); retry != res.end()) {
            const auto text = retry->value();
            unsigned seconds = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
            if (ec == std::errc{} && end == text.data() + text.size()) result.retry_after = std::chrono::seconds{seconds};
        }
        co_return result;
    }

    void stop() {
        stopped = true;
        waiting.clear();
        beast::error_code ignored;
        for (auto& conn : idle) conn->lowest().socket().close(ignored);
        for (const auto& conn : busy) {
            if (conn->plain || conn->tls) conn->lowest().socket().close(ignored);
        }
        idle.clear();
    }
};

HttpClient::HttpClient(asio::io_context& ioc, HttpClientOptions options, obs::Logger log)
    : impl_{std::make_shared<Impl>(ioc, std::move(options), std::move(log))} {}

HttpClient::~HttpClient() { impl_->stop(); }

void HttpClient::get(std::string target, Callback done) {
    if (impl_->stopped) return;
    impl_->waiting.push_back({std::move(target), std::move(done)});
    impl_->pump();
}

void HttpClient::stop() { impl_->stop(); }

const std::string& HttpClient::host() const { return impl_->origin.host_header; }

std::size_t HttpClient::connections_opened() const { return impl_->opened; }

} // namespace flowgate::thingspeak
