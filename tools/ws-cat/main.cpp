// flowgate-ws-cat: connects to a WebSocket stream and prints each message on its own line.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

constexpr std::string_view usage = R"(usage: flowgate-ws-cat ws://HOST:PORT/PATH [--token T] [--msgpack] [--deflate]
                       [--count N] [--timeout SECONDS]

Prints each message of a WebSocket stream on its own line. Exits 0 after N messages or when
the server closes the stream, 1 when it cannot connect, the server rejects the upgrade (its
HTTP status and body are printed), the connection breaks or the timeout passes.

  --token T          send the stream token as Authorization: Bearer T (default: the
                     FLOWGATE_TOKEN environment variable, which ps does not show)
  --msgpack          ask for MessagePack frames (subprotocol msgpack); each is printed as JSON
  --deflate          offer permessage-deflate
  --count N          stop after N messages (default: until the server closes)
  --timeout SECONDS  give up after this long in all (default: no limit; connecting alone
                     is limited to 10 seconds)
)";

struct Options {
    std::string host;
    std::string port = "80";
    std::string target = "/";
    std::uint64_t count = 0;  // 0: no limit
    double timeout_s = 0;     // 0: no limit
    std::string token;
    bool msgpack = false;
    bool deflate = false;
};

[[noreturn]] void usage_error(std::string_view message) {
    std::cerr << "flowgate-ws-cat: " << message << "\n\n" << usage;
    std::exit(exit_usage);
}

template <typename T>
T number_arg(std::string_view flag, std::string_view value) {
    T v{};
    const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc{} || p != value.data() + value.size()) {
        usage_error(std::string{flag} + ": '" + std::string{value} + "' is not a valid number");
    }
    return v;
}

/// ws://host[:port][/path]; host may be a bracketed IPv6 literal.
void parse_url(std::string_view url, Options& o) {
    constexpr std::string_view scheme = "ws://";
    if (url.starts_with("wss://")) usage_error("wss:// is not supported; use ws://");
    if (!url.starts_with(scheme)) usage_error("the URL must start with ws://");
    url.remove_prefix(scheme.size());
    const auto slash = url.find('/');
    const auto authority = url.substr(0, slash);
    if (slash != std::string_view::npos) o.target = url.substr(slash);
    std::string_view host = authority;
    std::string_view port;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) usage_error("unbalanced [ in the URL's host");
        host = authority.substr(1, close - 1);
        const auto rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') usage_error("bad URL host: " + std::string{authority});
            port = rest.substr(1);
        }
    } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty()) usage_error("the URL has no host");
    o.host = host;
    if (!port.empty()) o.port = std::to_string(number_arg<std::uint16_t>("port", port));
}

Options parse_args(int argc, char** argv) {
    Options o;
    bool have_url = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            std::exit(exit_ok);
        }
        if (arg == "--msgpack" || arg == "--deflate") {
            (arg == "--msgpack" ? o.msgpack : o.deflate) = true;
        } else if (arg.starts_with("--")) {
            if (i + 1 >= argc) usage_error(std::string{arg} + " needs a value");
            const std::string_view value = argv[++i];
            if (arg == "--count") {
                o.count = number_arg<std::uint64_t>(arg, value);
            } else if (arg == "--token") {
                o.token = value;
            } else if (arg == "--timeout") {
                o.timeout_s = number_arg<double>(arg, value);
                if (!(o.timeout_s > 0)) usage_error("--timeout must be above 0");
            } else {
                usage_error("unknown option " + std::string{arg});
            }
        } else if (!have_url) {
            parse_url(arg, o);
            have_url = true;
        } else {
            usage_error("more than one URL");
        }
    }
    if (!have_url) usage_error("missing URL");
    if (const char* token = std::getenv("FLOWGATE_TOKEN"); token && o.token.empty()) o.token = token;
    return o;
}

class WsCat {
public:
    WsCat(asio::io_context& ioc, Options options) : options_{std::move(options)}, ws_{ioc}, deadline_{ioc} {}

    asio::awaitable<int> run() {
        if (options_.timeout_s > 0) {
            deadline_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                std::chrono::duration<double>{options_.timeout_s}));
            deadline_.async_wait([this](const beast::error_code& ec) {
                if (ec) return;
                // Closing the socket ends whatever is pending, whichever step we are at.
                timed_out_ = true;
                beast::error_code ignored;
                beast::get_lowest_layer(ws_).socket().close(ignored);
            });
        }
        const int rc = co_await stream();
        deadline_.cancel();
        co_return rc;
    }

private:
    asio::awaitable<int> stream() {
        const std::string where = options_.host + ":" + options_.port;
        tcp::resolver resolver{ws_.get_executor()};
        auto [resolve_ec, endpoints] = co_await resolver.async_resolve(options_.host, options_.port, use_tuple);
        if (resolve_ec) co_return fail("cannot resolve " + options_.host + ": " + resolve_ec.message());

        auto& tcp_layer = beast::get_lowest_layer(ws_);
        tcp_layer.expires_after(std::chrono::seconds{10});
        auto [connect_ec, endpoint] = co_await tcp_layer.async_connect(endpoints, use_tuple);
        if (connect_ec) co_return fail("cannot connect to " + where + ": " + connect_ec.message());

        ws_.set_option(websocket::stream_base::decorator([this](websocket::request_type& req) {
            if (!options_.token.empty()) req.set(beast::http::field::authorization, "Bearer " + options_.token);
            if (options_.msgpack) req.set(beast::http::field::sec_websocket_protocol, "msgpack");
        }));
        if (options_.deflate) {
            websocket::permessage_deflate pmd;
            pmd.client_enable = true;
            ws_.set_option(pmd);
        }
        websocket::response_type response;
        const std::string host_header = options_.host.find(':') != std::string::npos
                                            ? "[" + options_.host + "]:" + options_.port
                                            : where;
        auto [handshake_ec] = co_await ws_.async_handshake(response, host_header, options_.target, use_tuple);
        if (handshake_ec == websocket::error::upgrade_declined) {
            std::string message = "server refused the WebSocket upgrade: HTTP " + std::to_string(response.result_int());
            if (!response.reason().empty()) message += " " + std::string{response.reason()};
            if (!response.body().empty()) message += ": " + response.body();
            co_return fail(message);
        }
        if (handshake_ec) co_return fail("WebSocket handshake with " + where + " failed: " + handshake_ec.message());

        // The websocket stream's own timeouts from here on (and the overall --timeout).
        tcp_layer.expires_never();
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
        ws_.read_message_max(0);  // print whatever the server sends

        beast::flat_buffer buffer;
        for (std::uint64_t received = 0; options_.count == 0 || received < options_.count; ++received) {
            auto [read_ec, n] = co_await ws_.async_read(buffer, use_tuple);
            // A close frame counts even when the TCP teardown after it fails.
            if (read_ec == websocket::error::closed ||
                (read_ec && ws_.reason().code != websocket::close_code::none)) {
                const auto& reason = ws_.reason();
                std::cerr << "flowgate-ws-cat: closed by the server: " << reason.code
                          << (reason.reason.empty() ? "" : " ") << reason.reason << '\n';
                co_return exit_ok;
            }
            if (read_ec) co_return fail("connection to " + where + " lost: " + read_ec.message());
            const auto data = buffer.cdata();
            if (!ws_.got_text() && options_.msgpack) {
                const auto* bytes = static_cast<const std::uint8_t*>(data.data());
                const auto event = nlohmann::json::from_msgpack(bytes, bytes + data.size(), true, false);
                if (event.is_discarded()) co_return fail("a binary message is not MessagePack");
                std::fputs(event.dump().c_str(), stdout);
            } else {
                std::fwrite(data.data(), 1, data.size(), stdout);
            }
            std::fputc('\n', stdout);
            std::fflush(stdout);
            buffer.consume(n);
        }
        auto [close_ec] = co_await ws_.async_close(websocket::close_code::normal, use_tuple);
        (void)close_ec;  // we have what we came for
        co_return exit_ok;
    }

    int fail(const std::string& message) const {
        if (timed_out_) {
            std::cerr << "flowgate-ws-cat: timed out after " << options_.timeout_s << " s\n";
        } else {
            std::cerr << "flowgate-ws-cat: " << message << '\n';
        }
        return exit_failure;
    }

    Options options_;
    websocket::stream<beast::tcp_stream> ws_;
    asio::steady_timer deadline_;
    bool timed_out_ = false;
};

} // namespace

int main(int argc, char** argv) {
    auto options = parse_args(argc, argv);
    asio::io_context ioc{1};
    WsCat cat{ioc, std::move(options)};
    int rc = exit_failure;
    asio::co_spawn(ioc, cat.run(), [&](std::exception_ptr e, int result) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                std::cerr << "flowgate-ws-cat: " << ex.what() << '\n';
            }
            return;
        }
        rc = result;
    });
    ioc.run();
    return rc;
}
