#include "storage_test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "flowgate/storage/migrator.hpp"

namespace flowgate::test {
namespace {

std::string random_suffix() {
    std::random_device device;
    std::mt19937_64 bits{(static_cast<std::uint64_t>(device()) << 32) ^ device()};
    std::ostringstream out;
    out << std::hex << bits();
    return out.str();
}

unsigned short free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error{"socket() failed"};
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        ::close(fd);
        throw std::runtime_error{"cannot find a free port"};
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in{path};
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

} // namespace

std::optional<std::string> base_database_url() {
    const char* url = std::getenv("FLOWGATE_DATABASE_URL");
    if (url == nullptr || *url == '\0') return std::nullopt;
    return std::string{url};
}

std::string url_with_database(const std::string& url, const std::string& name) {
    const auto scheme = url.find("://");
    if (scheme == std::string::npos) throw std::invalid_argument{"not a postgresql:// URL"};
    const auto query = url.find('?', scheme + 3);
    const auto slash = url.find('/', scheme + 3);
    const auto path_start = slash != std::string::npos && slash < query ? slash : std::min(query, url.size());
    const std::string rest = query == std::string::npos ? "" : url.substr(query);
    return url.substr(0, path_start) + "/" + name + rest;
}

std::string url_with_password(const std::string& url, const std::string& password) {
    const auto scheme = url.find("://");
    const auto at = url.find('@', scheme + 3);
    if (scheme == std::string::npos || at == std::string::npos) throw std::invalid_argument{"URL has no user"};
    const std::string user_info = url.substr(scheme + 3, at - scheme - 3);
    const std::string user = user_info.substr(0, user_info.find(':'));
    return url.substr(0, scheme + 3) + user + ":" + password + url.substr(at);
}

TestDatabase::TestDatabase(const std::string& server_url)
    : server_url_{server_url}, name_{"flowgate_t_" + random_suffix()}, url_{url_with_database(server_url, name_)} {
    pqxx::connection connection{server_url_};
    pqxx::nontransaction session{connection};
    session.exec("CREATE DATABASE " + session.quote_name(name_));
}

TestDatabase::~TestDatabase() {
    try {
        pqxx::connection connection{server_url_};
        pqxx::nontransaction session{connection};
        session.exec("DROP DATABASE IF EXISTS " + session.quote_name(name_) + " WITH (FORCE)");
    } catch (const std::exception&) {
        // The server may be gone already; nothing useful to do in a destructor.
    }
}

void TestDatabase::migrate() const {
    auto sink = std::make_shared<std::string>();
    storage::run_migrations(url_, migrations_dir(), capture_logger(sink, "migrate"));
}

void TestDatabase::run_sql_file(const std::filesystem::path& path) const { exec(read_text(path)); }

void TestDatabase::exec(const std::string& sql) const {
    pqxx::connection connection{url_};
    pqxx::work txn{connection};
    txn.exec(sql);
    txn.commit();
}

pqxx::result TestDatabase::query(const std::string& sql) const {
    pqxx::connection connection{url_};
    pqxx::nontransaction txn{connection};
    return txn.exec(sql);
}

std::optional<std::string> TestDatabase::value(const std::string& sql) const {
    const auto result = query(sql);
    if (result.size() != 1 || result.columns() != 1) throw std::runtime_error{"expected one value from: " + sql};
    if (result[0][0].is_null()) return std::nullopt;
    return result[0][0].as<std::string>();
}

std::int64_t TestDatabase::count(const std::string& sql) const { return std::stoll(value(sql).value_or("0")); }

PrivateServices::PrivateServices() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fg-storage-itest-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error{"mkdtemp failed"};
    dir_ = pattern;
    // PostgreSQL runs as "postgres" when the tests run as root: it must be able to enter.
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                           std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                           std::filesystem::perms::others_exec);
    pg_port_ = free_port();
    do redis_port_ = free_port();
    while (redis_port_ == pg_port_);
    do mqtt_port_ = free_port();
    while (mqtt_port_ == pg_port_ || mqtt_port_ == redis_port_);
    start();
}

PrivateServices::~PrivateServices() {
    try {
        if (running_) stop();
    } catch (const std::exception&) {
        // Reported by the test that failed; the directory is removed regardless.
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

void PrivateServices::services(const std::string& command) {
    const std::string log = (dir_ / "services.log").string();
    const std::string line = "FLOWGATE_RUN_DIR='" + (dir_ / "run").string() + "' FLOWGATE_PG_PORT=" +
                             std::to_string(pg_port_) + " FLOWGATE_REDIS_PORT=" + std::to_string(redis_port_) +
                             " FLOWGATE_MQTT_PORT=" + std::to_string(mqtt_port_) + " '" FLOWGATE_SOURCE_DIR
                             "/scripts/services' " +
                             command + " >>'" + log + "' 2>&1";
    if (std::system(line.c_str()) != 0) {
        throw std::runtime_error{"scripts/services " + command + " failed:\n" + read_text(log)};
    }
}

void PrivateServices::start() {
    services("start");
    running_ = true;
}

void PrivateServices::stop() {
    services("stop");
    running_ = false;
}

std::string PrivateServices::database_url() const {
    return "postgresql://flowgate@127.0.0.1:" + std::to_string(pg_port_) + "/flowgate";
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return done();
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    return true;
}

obs::Logger capture_logger(const std::shared_ptr<std::string>& sink, const std::string& component) {
    return obs::make_string_logger(sink, obs::LogLevel::debug, obs::LogFormat::json, component);
}

std::size_t occurrences(const std::string& haystack, const std::string& needle) {
    std::size_t count = 0;
    for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + needle.size())) {
        ++count;
    }
    return count;
}

void TestDatabase::load_demo_devices() const {
    run_sql_file(std::filesystem::path{FLOWGATE_SOURCE_DIR} / "config/demo-devices.sql");
}

std::filesystem::path migrations_dir() { return std::filesystem::path{FLOWGATE_SOURCE_DIR} / "migrations"; }

} // namespace flowgate::test
