#include "http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>

namespace flowgate::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct HttpClient::Impl {
    asio::io_context ioc;
    beast::tcp_stream stream{ioc};
    beast::flat_buffer buffer;
    std::string host;
    std::chrono::milliseconds timeout;

    HttpResult read_response() {
        http::response_parser<http::string_body> parser;
        parser.body_limit(64 * 1024 * 1024);
        stream.expires_after(timeout);
        beast::error_code ec;
        // Run the io_context so the deadline of the tcp_stream applies to a blocking read.
        http::async_read(stream, buffer, parser, [&](beast::error_code e, std::size_t) { ec = e; });
        ioc.restart();
        ioc.run();
        if (ec) throw std::system_error{ec};
        const auto& res = parser.get();
        HttpResult result{res.result_int(), res.body(), {}, res.keep_alive()};
        for (const auto& field : res) {
            std::string name{field.name_string()};
            std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
            result.headers[name] = std::string{field.value()};
        }
        return result;
    }

    void write_bytes(const std::string& bytes) {
        stream.expires_after(timeout);
        beast::error_code ec;
        asio::async_write(stream, asio::buffer(bytes), [&](beast::error_code e, std::size_t) { ec = e; });
        ioc.restart();
        ioc.run();
        if (ec) throw std::system_error{ec};
    }
};

HttpClient::HttpClient(const std::string& host, unsigned short port, std::chrono::milliseconds timeout)
    : impl_{new Impl{}} {
    impl_->host = host + ":" + std::to_string(port);
    impl_->timeout = timeout;
    impl_->stream.expires_after(timeout);
    impl_->stream.connect(asio::ip::tcp::endpoint{asio::ip::make_address(host), port});
}

HttpClient::~HttpClient() = default;

HttpResult HttpClient::get(const std::string& target) { return request("GET", target); }

HttpResult HttpClient::request(const std::string& method, const std::string& target, const std::string& body,
                               const std::map<std::string, std::string>& headers) {
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, impl_->host);
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = body;
    req.prepare_payload();
    impl_->stream.expires_after(impl_->timeout);
    http::write(impl_->stream, req);
    return impl_->read_response();
}

HttpResult HttpClient::raw(const std::string& bytes) {
    impl_->write_bytes(bytes);
    return impl_->read_response();
}

unsigned short HttpClient::local_port() const { return impl_->stream.socket().local_endpoint().port(); }

} // namespace flowgate::test
