// Migrator against a real PostgreSQL: each test gets a database of its own.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "child_process.hpp"
#include "flowgate/storage/migrator.hpp"
#include "storage_test_support.hpp"

using namespace std::chrono_literals;
using flowgate::storage::MigrationError;
using flowgate::storage::Migrator;
using flowgate::storage::run_migrations;
using flowgate::test::TestDatabase;

namespace {

class MigratorTest : public ::testing::Test {
protected:
    void SetUp() override {
        const auto server = flowgate::test::base_database_url();
        if (!server) GTEST_SKIP() << "FLOWGATE_DATABASE_URL is not set; run scripts/test, or eval \"$(scripts/services env)\"";
        db_ = std::make_unique<TestDatabase>(*server);
    }

    void write(const std::string& name, const std::string& sql) { std::ofstream{dir_.path() / name} << sql; }

    std::shared_ptr<std::string> log_ = std::make_shared<std::string>();
    flowgate::obs::Logger logger_ = flowgate::test::capture_logger(log_, "migrate");
    flowgate::test::TempDir dir_;
    std::unique_ptr<TestDatabase> db_;
};

std::string message_of(const std::function<void()>& run) {
    try {
        run();
    } catch (const MigrationError& e) {
        return e.what();
    }
    ADD_FAILURE() << "expected a MigrationError";
    return {};
}

} // namespace

TEST_F(MigratorTest, AppliesEveryMigrationThenNothingTheSecondTime) {
    const auto files = Migrator::scan(flowgate::test::migrations_dir());
    ASSERT_FALSE(files.empty());

    const auto first = run_migrations(db_->url(), flowgate::test::migrations_dir(), logger_);
    ASSERT_EQ(first.applied.size(), files.size());
    EXPECT_EQ(first.applied.front().version, 1);
    EXPECT_EQ(first.applied.front().file_name, "0001_initial.sql");
    EXPECT_EQ(first.schema_version, files.back().version);
    EXPECT_EQ(db_->count("SELECT count(*) FROM schema_migrations"), static_cast<std::int64_t>(files.size()));
    for (const char* table : {"communities", "nodes", "device_thingspeak_mapping", "thingspeak_field_mappings",
                              "device_mqtt_mapping", "node_operational_state", "telemetry_readings",
                              "telemetry_errors", "alerts"}) {
        EXPECT_EQ(db_->count(std::string{"SELECT count(*) FROM information_schema.tables WHERE table_name = '"} + table + "'"), 1)
            << table;
    }
    EXPECT_NE(log_->find("applied migration"), std::string::npos) << *log_;

    const auto applied_at = db_->value("SELECT applied_at FROM schema_migrations WHERE version = 1");
    const auto second = run_migrations(db_->url(), flowgate::test::migrations_dir(), logger_);
    EXPECT_TRUE(second.applied.empty());
    EXPECT_EQ(second.schema_version, first.schema_version);
    EXPECT_EQ(db_->value("SELECT applied_at FROM schema_migrations WHERE version = 1"), applied_at);
}

TEST_F(MigratorTest, RefusesADatabaseWhoseSchemaIsNewerThanItsFiles) {
    write("0001_a.sql", "CREATE TABLE a (id int);");
    write("0002_b.sql", "CREATE TABLE b (id int);");
    write("0003_c.sql", "CREATE TABLE c (id int);");
    run_migrations(db_->url(), dir_.path(), logger_);
    db_->exec("INSERT INTO schema_migrations (version, name) VALUES (7, '0007_future.sql')");

    const auto message = message_of([&] { run_migrations(db_->url(), dir_.path(), logger_); });
    EXPECT_EQ(message, "database schema is at version 7 but this flowgate knows up to 3: upgrade flowgate");
}

TEST_F(MigratorTest, RollsBackAFailingMigrationAndNamesItsFile) {
    write("0001_good.sql", "CREATE TABLE good (id int);");
    write("0002_broken.sql", "CREATE TABLE half_done (id int);\nINSERT INTO half_done VALUES (1);\nSELEC 1;\n");

    const auto message = message_of([&] { run_migrations(db_->url(), dir_.path(), logger_); });
    EXPECT_NE(message.find("0002_broken.sql"), std::string::npos) << message;
    EXPECT_NE(message.find("syntax error at or near \"SELEC\""), std::string::npos) << message;
    EXPECT_NE(message.find("rolled back"), std::string::npos) << message;
    EXPECT_EQ(db_->count("SELECT count(*) FROM information_schema.tables WHERE table_name = 'half_done'"), 0);
    EXPECT_EQ(db_->count("SELECT count(*) FROM information_schema.tables WHERE table_name = 'good'"), 1);
    EXPECT_EQ(db_->value("SELECT string_agg(version::text, ',') FROM schema_migrations"), "1");

    write("0002_broken.sql", "CREATE TABLE half_done (id int);\n");
    const auto fixed = run_migrations(db_->url(), dir_.path(), logger_);
    ASSERT_EQ(fixed.applied.size(), 1u);
    EXPECT_EQ(fixed.applied[0].file_name, "0002_broken.sql");
    EXPECT_EQ(fixed.schema_version, 2);
}

TEST_F(MigratorTest, RejectsGapsDuplicatesAndMisnamedFilesNamingThem) {
    write("0001_a.sql", "SELECT 1;");
    write("0003_c.sql", "SELECT 1;");
    write("README.md", "ignored");
    auto message = message_of([&] { run_migrations(db_->url(), dir_.path(), logger_); });
    EXPECT_NE(message.find("0001_a.sql is followed by 0003_c.sql: version 2 is missing"), std::string::npos) << message;
    // Refused before touching the database.
    EXPECT_EQ(db_->count("SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"), 0);

    write("0003_d.sql", "SELECT 1;");
    write("0002_b.sql", "SELECT 1;");
    message = message_of([&] { Migrator::scan(dir_.path()); });
    EXPECT_NE(message.find("0003_c.sql and 0003_d.sql have the same version 3"), std::string::npos) << message;

    std::filesystem::remove(dir_.path() / "0003_d.sql");
    write("2_oops.sql", "SELECT 1;");
    message = message_of([&] { Migrator::scan(dir_.path()); });
    EXPECT_NE(message.find("2_oops.sql is not named NNNN_name.sql"), std::string::npos) << message;

    std::filesystem::remove(dir_.path() / "2_oops.sql");
    const auto files = Migrator::scan(dir_.path());
    ASSERT_EQ(files.size(), 3u);
    EXPECT_EQ(files[1].file_name, "0002_b.sql");
}

TEST_F(MigratorTest, InstancesStartingTogetherApplyEachMigrationOnce) {
    // Slow enough that the second instance arrives while the first holds the lock.
    write("0001_slow.sql", "SELECT pg_sleep(0.5); CREATE TABLE once (id int);");
    write("0002_next.sql", "INSERT INTO once VALUES (1);");
    std::vector<std::size_t> applied(4);
    std::vector<std::string> failures(4);
    std::vector<std::thread> instances;
    for (std::size_t i = 0; i < applied.size(); ++i) {
        instances.emplace_back([&, i] {
            try {
                applied[i] = run_migrations(db_->url(), dir_.path(), logger_).applied.size();
            } catch (const std::exception& e) {
                failures[i] = e.what();
            }
        });
    }
    for (auto& instance : instances) instance.join();
    for (const auto& failure : failures) EXPECT_EQ(failure, "");
    EXPECT_EQ(applied[0] + applied[1] + applied[2] + applied[3], 2u);
    EXPECT_EQ(db_->count("SELECT count(*) FROM once"), 1);
    EXPECT_NE(log_->find("another flowgate is migrating this database"), std::string::npos) << *log_;
}

TEST_F(MigratorTest, ConnectionErrorsShowTheUrlWithoutItsPassword) {
    write("0001_a.sql", "SELECT 1;");
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const std::string url = "postgresql://flowgate:hunter2secret@127.0.0.1:1/flowgate";
    const auto message = message_of([&] { run_migrations(url, dir_.path(), logger_); });
    EXPECT_NE(message.find("cannot connect to PostgreSQL at postgresql://flowgate:"), std::string::npos) << message;
    EXPECT_NE(message.find("127.0.0.1:1/flowgate"), std::string::npos) << message;
    EXPECT_EQ(message.find("hunter2secret"), std::string::npos) << message;
    EXPECT_EQ(log_->find("hunter2secret"), std::string::npos) << *log_;
}
