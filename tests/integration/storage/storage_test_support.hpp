#pragma once

// Shared by the storage integration tests: a fresh database per test, a private PostgreSQL
// for tests that stop it, and small waiting/logging helpers.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "flowgate/obs/logger.hpp"

namespace flowgate::test {

/// FLOWGATE_DATABASE_URL, or nullopt when it is not set (the test then skips).
std::optional<std::string> base_database_url();

/// `url` (postgresql://…/db?…) pointing at database `name` instead.
std::string url_with_database(const std::string& url, const std::string& name);

/// `url` with `password` set for its user (PostgreSQL's trust auth ignores it, which lets a
/// test check that it never shows up in errors and logs).
std::string url_with_password(const std::string& url, const std::string& password);

/// A database of its own for one test, created on the server of `server_url` and dropped
/// (even while connections remain) by the destructor.
class TestDatabase {
public:
    explicit TestDatabase(const std::string& server_url);
    ~TestDatabase();
    TestDatabase(const TestDatabase&) = delete;
    TestDatabase& operator=(const TestDatabase&) = delete;

    const std::string& url() const { return url_; }
    const std::string& name() const { return name_; }

    /// Applies migrations/ of the source tree (throws on failure).
    void migrate() const;
    /// Loads config/demo-devices.sql: community 1 and its 8 nodes.
    void load_demo_devices() const;
    /// Runs a SQL file in one transaction, like `psql -1 -f`.
    void run_sql_file(const std::filesystem::path& path) const;
    /// Runs statements in one transaction.
    void exec(const std::string& sql) const;
    /// The single value of a one-row, one-column query; nullopt for NULL.
    std::optional<std::string> value(const std::string& sql) const;
    std::int64_t count(const std::string& sql) const;
    pqxx::result query(const std::string& sql) const;

private:
    std::string server_url_;
    std::string name_;
    std::string url_;
};

/// A fixture whose every test gets a fresh migrated database holding the demo network in
/// `db_`; the test is skipped when FLOWGATE_DATABASE_URL is not set.
class DemoDatabaseTest : public ::testing::Test {
protected:
    void SetUp() override {
        const auto server = base_database_url();
        if (!server) GTEST_SKIP() << "FLOWGATE_DATABASE_URL is not set; run scripts/test, or eval \"$(scripts/services env)\"";
        db_ = std::make_unique<TestDatabase>(*server);
        db_->migrate();
        db_->load_demo_devices();
    }

    std::unique_ptr<TestDatabase> db_;
};

/// PostgreSQL (with Redis and Mosquitto, which scripts/services starts along) in a run dir and
/// on ports of its own, for a test that stops and starts it without disturbing the shared
/// services other tests use. Stopped and removed by the destructor.
class PrivateServices {
public:
    PrivateServices();
    ~PrivateServices();
    PrivateServices(const PrivateServices&) = delete;
    PrivateServices& operator=(const PrivateServices&) = delete;

    void start();
    void stop();
    /// The URL of its "flowgate" database.
    std::string database_url() const;

private:
    void services(const std::string& command);

    std::filesystem::path dir_;
    unsigned short pg_port_ = 0;
    unsigned short redis_port_ = 0;
    unsigned short mqtt_port_ = 0;
    bool running_ = false;
};

/// Polls `done` every 20ms until it is true or `timeout` passes; returns its last value.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds{15});

/// A JSON logger writing into `sink`, at debug level.
obs::Logger capture_logger(const std::shared_ptr<std::string>& sink, const std::string& component = "storage");

/// How many times `needle` occurs in `haystack`.
std::size_t occurrences(const std::string& haystack, const std::string& needle);

/// The migrations directory of the source tree.
std::filesystem::path migrations_dir();

} // namespace flowgate::test
