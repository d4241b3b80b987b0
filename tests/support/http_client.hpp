#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace flowgate::test {

struct HttpResult {
    unsigned status = 0;
    std::string body;
    std::map<std::string, std::string> headers; ///< names in lower case
    bool keep_alive = false;
};

/// A blocking HTTP/1.1 client over one keep-alive TCP connection, for tests.
/// Every call throws std::system_error on a network error or when `timeout` passes.
class HttpClient {
public:
    HttpClient(const std::string& host, unsigned short port, std::chrono::milliseconds timeout = std::chrono::seconds{5});
    ~HttpClient();

    HttpResult get(const std::string& target);
    HttpResult request(const std::string& method, const std::string& target, const std::string& body = {},
                       const std::map<std::string, std::string>& headers = {});
    /// Sends bytes as they are and reads one response: for malformed requests.
    HttpResult raw(const std::string& bytes);
    /// The local port of the connection: the same across calls means it was reused.
    unsigned short local_port() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace flowgate::test
