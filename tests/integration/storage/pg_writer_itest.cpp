// PgWriter against a real PostgreSQL: each test gets a database of its own with the demo
// devices (nodes 1..8) loaded; the restart test runs a PostgreSQL of its own.
#include <gtest/gtest.h>

#include <mutex>
#include <set>

#include "flowgate/storage/migrator.hpp"
#include "flowgate/storage/pg_writer.hpp"
#include "storage_test_support.hpp"

using namespace std::chrono_literals;
using flowgate::DataType;
using flowgate::DeviceCursor;
using flowgate::ErrorStage;
using flowgate::OffsetTime;
using flowgate::Reading;
using flowgate::Seconds;
using flowgate::TelemetryEntry;
using flowgate::TelemetryErrorRecord;
using flowgate::storage::PgWriter;
using flowgate::storage::PgWriterOptions;
using flowgate::test::TestDatabase;
using flowgate::test::wait_until;

namespace {

const Seconds base_time = std::chrono::sys_days{std::chrono::year{2025} / 3 / 14} + std::chrono::hours{6};

TelemetryEntry level_entry(flowgate::DeviceId device, std::int64_t entry_id, Seconds at = {}) {
    if (at == Seconds{}) at = base_time + std::chrono::seconds{15 * entry_id};
    TelemetryEntry entry;
    entry.device_id = device;
    entry.community_id = 1;
    entry.entry_id = entry_id;
    entry.created_at = OffsetTime{at, std::chrono::minutes{330}};
    entry.readings = {
        Reading{"water_level", DataType::float64, 1.5 + static_cast<double>(entry_id) / 100, "", "m"},
        Reading{"water_temperature", DataType::float64, 26.25, "", "°C"},
        Reading{"tds", DataType::integer, 310, "", "ppm"},
    };
    return entry;
}

// Collects what the StoredHandler is given, from the writer thread.
struct StoredLog {
    std::mutex mutex;
    std::vector<TelemetryEntry> entries;
    std::size_t calls = 0;

    flowgate::storage::StoredHandler handler() {
        return [this](std::vector<TelemetryEntry> stored) {
            std::lock_guard lock{mutex};
            ++calls;
            for (auto& entry : stored) entries.push_back(std::move(entry));
        };
    }
    std::vector<TelemetryEntry> snapshot() {
        std::lock_guard lock{mutex};
        return entries;
    }
};

class PgWriterTest : public flowgate::test::DemoDatabaseTest {
protected:
    PgWriterOptions options(const std::string& url) const {
        PgWriterOptions o;
        o.url = url;
        o.batch_interval = 20ms;
        o.retry_backoff_min = 20ms;
        o.retry_backoff_max = 200ms;
        o.shutdown_timeout = 5s;
        return o;
    }

    std::unique_ptr<PgWriter> make_writer(PgWriterOptions o) {
        return std::make_unique<PgWriter>(std::move(o), flowgate::test::capture_logger(log_, "pg-writer"), stored_.handler());
    }

    std::shared_ptr<std::string> log_ = std::make_shared<std::string>();
    StoredLog stored_;
};

} // namespace

TEST_F(PgWriterTest, StoresEachEntryOnceWhenItIsSubmittedTwice) {
    auto writer = make_writer(options(db_->url()));
    std::vector<TelemetryEntry> sent;
    for (std::int64_t id = 1; id <= 40; ++id) sent.push_back(level_entry(1, id));

    for (const auto& entry : sent) ASSERT_TRUE(writer->submit(entry));
    ASSERT_TRUE(wait_until([&] { return writer->stats().entries_stored == 40; }));
    for (const auto& entry : sent) ASSERT_TRUE(writer->submit(entry));
    ASSERT_TRUE(wait_until([&] { return writer->stats().entries_duplicate == 40; }));
    writer->stop();

    EXPECT_EQ(writer->stats().entries_stored, 40u);
    EXPECT_EQ(db_->count("SELECT count(*) FROM telemetry_readings"), 40 * 3);
    EXPECT_EQ(stored_.snapshot(), sent);  // each once, in submission order, as submitted
}

TEST_F(PgWriterTest, PutsEachTypeInItsColumn) {
    auto writer = make_writer(options(db_->url()));
    TelemetryEntry entry;
    entry.device_id = 5;
    entry.community_id = 1;
    entry.entry_id = 77;
    entry.created_at = OffsetTime{base_time, std::chrono::minutes{0}};
    entry.readings = {
        Reading{"pump_on", DataType::boolean, 1, "", ""},
        Reading{"flow_rate", DataType::float64, 381.25, "", "L/min"},
        Reading{"tds", DataType::integer, 415, "", "ppm"},
        Reading{"panel_mode", DataType::text, 0, "MANUAL\tà l'œil \\ \"quoted\"", ""},
    };
    ASSERT_TRUE(writer->submit(entry));
    writer->stop();

    const auto rows = db_->query(
        "SELECT metric, value, value_text, entry_id, source, ts = '2025-03-14T06:00:00Z' "
        "FROM telemetry_readings ORDER BY metric");
    ASSERT_EQ(rows.size(), 4u);
    EXPECT_EQ(rows[0][0].as<std::string>(), "flow_rate");
    EXPECT_DOUBLE_EQ(rows[0][1].as<double>(), 381.25);
    EXPECT_TRUE(rows[0][2].is_null());
    EXPECT_EQ(rows[1][0].as<std::string>(), "panel_mode");
    EXPECT_TRUE(rows[1][1].is_null());
    EXPECT_EQ(rows[1][2].as<std::string>(), "MANUAL\tà l'œil \\ \"quoted\"");
    EXPECT_EQ(rows[2][0].as<std::string>(), "pump_on");
    EXPECT_EQ(rows[2][1].as<double>(), 1.0);
    EXPECT_EQ(rows[3][0].as<std::string>(), "tds");
    EXPECT_EQ(rows[3][1].as<double>(), 415.0);
    for (const auto& row : rows) {
        EXPECT_EQ(row[3].as<std::int64_t>(), 77);
        EXPECT_EQ(row[4].as<std::string>(), "thingspeak");
        EXPECT_TRUE(row[5].as<bool>());
    }
    EXPECT_EQ(db_->value("SELECT last_seen = '2025-03-14T06:00:00Z' AND last_telemetry_sync IS NOT NULL "
                         "FROM node_operational_state WHERE device_id = 5"),
              "t");
}

TEST_F(PgWriterTest, StoresErrorRecords) {
    auto writer = make_writer(options(db_->url()));
    TelemetryErrorRecord conversion;
    conversion.device_id = 4;
    conversion.channel_id = 2100104;
    conversion.stage = ErrorStage::conversion;
    conversion.message = "field1 is not a number";
    conversion.entry_id = 912;
    conversion.field = "field1";
    conversion.raw_value = "nan";
    conversion.occurred_at = base_time;
    TelemetryErrorRecord auth;
    auth.device_id = 999;  // no such device: kept, without the device
    auth.channel_id = 2100199;
    auth.stage = ErrorStage::auth;
    auth.message = "HTTP 400 -1: read key refused";
    auth.http_status = 400;
    ASSERT_TRUE(writer->submit_error(conversion));
    ASSERT_TRUE(writer->submit_error(auth));
    writer->stop();

    EXPECT_EQ(writer->stats().errors_stored, 2u);
    const auto rows = db_->query(
        "SELECT device_id, channel_id, stage, message, entry_id, field, raw_value, http_status,"
        " occurred_at = '2025-03-14T06:00:00Z', occurred_at > now() - interval '1 minute' "
        "FROM telemetry_errors ORDER BY id");
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0][0].as<std::int64_t>(), 4);
    EXPECT_EQ(rows[0][1].as<std::int64_t>(), 2100104);
    EXPECT_EQ(rows[0][2].as<std::string>(), "conversion");
    EXPECT_EQ(rows[0][3].as<std::string>(), "field1 is not a number");
    EXPECT_EQ(rows[0][4].as<std::int64_t>(), 912);
    EXPECT_EQ(rows[0][5].as<std::string>(), "field1");
    EXPECT_EQ(rows[0][6].as<std::string>(), "nan");
    EXPECT_TRUE(rows[0][7].is_null());
    EXPECT_TRUE(rows[0][8].as<bool>());
    EXPECT_TRUE(rows[1][0].is_null());
    EXPECT_EQ(rows[1][2].as<std::string>(), "auth");
    EXPECT_EQ(rows[1][7].as<int>(), 400);
    EXPECT_TRUE(rows[1][9].as<bool>());  // not set by the caller: stamped by the database
}

TEST_F(PgWriterTest, RefusesSubmissionsBeyondItsCapacityWhileTheDatabaseIsDown) {
    auto o = options("postgresql://flowgate:hunter2secret@127.0.0.1:1/flowgate");  // nothing listens on port 1
    o.queue_capacity = 5;
    o.batch_size = 2;
    o.shutdown_timeout = 300ms;
    auto writer = make_writer(o);
    for (std::int64_t id = 1; id <= 5; ++id) EXPECT_TRUE(writer->submit(level_entry(1, id))) << id;
    EXPECT_FALSE(writer->submit(level_entry(1, 6)));
    EXPECT_FALSE(writer->submit_error(TelemetryErrorRecord{}));
    ASSERT_TRUE(wait_until([&] { return writer->stats().retries >= 2; }));
    auto stats = writer->stats();
    EXPECT_EQ(stats.queue_depth, 5u);
    EXPECT_EQ(stats.queue_full_rejections, 2u);
    EXPECT_FALSE(stats.connected);

    const auto started = std::chrono::steady_clock::now();
    writer->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
    stats = writer->stats();
    EXPECT_EQ(stats.items_dropped, 5u);
    EXPECT_EQ(stats.queue_depth, 0u);
    EXPECT_FALSE(writer->submit(level_entry(1, 8)));  // stopped

    EXPECT_EQ(flowgate::test::occurrences(*log_, "cannot write to PostgreSQL"), 1u) << *log_;
    EXPECT_NE(log_->find("127.0.0.1:1/flowgate"), std::string::npos) << *log_;
    EXPECT_EQ(log_->find("hunter2secret"), std::string::npos) << *log_;
    EXPECT_NE(log_->find("stopping with items not written to PostgreSQL"), std::string::npos) << *log_;
}

TEST_F(PgWriterTest, AlertsOpenOncePerConditionAndResolveAndStatusIsStored) {
    using flowgate::AlertChange;
    using flowgate::AlertKind;
    using flowgate::HealthState;
    auto writer = make_writer(options(db_->url()));
    const auto alert = [](std::optional<flowgate::DeviceId> device, AlertKind kind, bool open, Seconds at) {
        AlertChange a;
        a.device_id = device;
        a.kind = kind;
        a.open = open;
        a.message = open ? "no new entry for 45 s" : "";
        a.at = at;
        return a;
    };
    const auto t = base_time;
    // Opened twice (a restart, a second instance): one row.
    EXPECT_TRUE(writer->submit_health(alert(3, AlertKind::device_stale, true, t)));
    EXPECT_TRUE(writer->submit_health(alert(3, AlertKind::device_stale, true, t + 5s)));
    EXPECT_TRUE(writer->submit_health(alert(std::nullopt, AlertKind::source_outage, true, t)));
    EXPECT_TRUE(writer->submit_health(alert(std::nullopt, AlertKind::source_outage, true, t + 1s)));
    EXPECT_TRUE(writer->submit_health(flowgate::StatusChange{3, HealthState::online, HealthState::stale, 2, "quiet", t}));
    ASSERT_TRUE(wait_until([&] { return writer->stats().health_stored == 5; })) << *log_;
    EXPECT_EQ(db_->query("SELECT device_id, kind, severity, message, opened_at = '2025-03-14T06:00:00Z' FROM alerts "
                         "WHERE resolved_at IS NULL ORDER BY id")
                  .size(),
              2u);
    const auto row = db_->query("SELECT severity, message, opened_at = '2025-03-14T06:00:00Z' FROM alerts WHERE device_id = 3")[0];
    EXPECT_EQ(row[0].as<std::string>(), "warning");
    EXPECT_EQ(row[1].as<std::string>(), "no new entry for 45 s");
    EXPECT_TRUE(row[2].as<bool>()) << "opened when it was first opened";
    const auto state = db_->query("SELECT status, consecutive_failures FROM node_operational_state WHERE device_id = 3")[0];
    EXPECT_EQ(state[0].as<std::string>(), "stale");
    EXPECT_EQ(state[1].as<int>(), 2);

    // Resolved, then the same condition again: a second row, the first one closed.
    writer->submit_health(alert(3, AlertKind::device_stale, false, t + 60s));
    writer->submit_health(alert(std::nullopt, AlertKind::source_outage, false, t + 60s));
    writer->submit_health(alert(3, AlertKind::device_stale, true, t + 120s));
    ASSERT_TRUE(wait_until([&] { return writer->stats().health_stored == 8; })) << *log_;
    const auto rows = db_->query("SELECT coalesce(device_id, 0), kind, extract(epoch FROM resolved_at - opened_at)::int "
                                 "FROM alerts ORDER BY id");
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0][2].as<int>(), 60);
    EXPECT_EQ(rows[1][1].as<std::string>(), "source_outage");
    EXPECT_EQ(rows[1][0].as<int>(), 0);
    EXPECT_EQ(rows[1][2].as<int>(), 60);
    EXPECT_TRUE(rows[2][2].is_null()) << "open again";

    // A rule's alert is stored under the rule's name and severity.
    auto rule = alert(5, AlertKind::rule, true, t);
    rule.rule = "dry_run";
    rule.rule_severity = "critical";
    writer->submit_health(rule);
    ASSERT_TRUE(wait_until([&] { return writer->stats().health_stored == 9; })) << *log_;
    EXPECT_EQ(db_->query("SELECT 1 FROM alerts WHERE device_id = 5 AND kind = 'dry_run' AND severity = 'critical'").size(), 1u);

    // A full queue of entries does not refuse a health change.
    auto o = options("postgresql://127.0.0.1:1/flowgate");
    o.queue_capacity = 2;
    o.shutdown_timeout = 100ms;
    auto down = make_writer(o);
    EXPECT_TRUE(down->submit(level_entry(1, 1)));
    EXPECT_TRUE(down->submit(level_entry(1, 2)));
    EXPECT_FALSE(down->submit(level_entry(1, 3)));
    EXPECT_TRUE(down->submit_health(alert(1, AlertKind::device_offline, true, t)));
}

TEST_F(PgWriterTest, ARowTheDatabaseRefusesDoesNotBlockTheOthers) {
    auto o = options(db_->url());
    o.batch_size = 6;
    o.batch_interval = 2s;  // the six items below go in one batch
    auto writer = make_writer(o);
    ASSERT_TRUE(writer->submit(level_entry(1, 1)));
    ASSERT_TRUE(writer->submit(level_entry(999, 2)));  // no node 999: foreign key violation
    ASSERT_TRUE(writer->submit(level_entry(2, 3)));
    ASSERT_TRUE(writer->submit_cursor(999, DeviceCursor{2, 0, {}}));
    ASSERT_TRUE(writer->submit_cursor(2, DeviceCursor{3, 0, {}}));
    TelemetryErrorRecord bad_text;  // not UTF-8: the database refuses the text
    bad_text.device_id = 3;
    bad_text.stage = ErrorStage::parse;
    bad_text.message = "bad \xff byte";
    ASSERT_TRUE(writer->submit_error(bad_text));
    if (!wait_until([&] { return writer->stats().batches >= 1; })) {
        writer->stop();
        FAIL() << "the batch was never written:\n" << *log_;
    }

    // Later batches flow normally.
    ASSERT_TRUE(writer->submit(level_entry(3, 4)));
    writer->stop();

    const auto stats = writer->stats();
    EXPECT_EQ(stats.entries_stored, 3u);
    EXPECT_EQ(stats.items_rejected, 3u);
    EXPECT_EQ(stats.cursors_stored, 1u);
    EXPECT_EQ(db_->value("SELECT string_agg(DISTINCT device_id::text, ',' ORDER BY device_id::text) FROM telemetry_readings"),
              "1,2,3");
    EXPECT_EQ(db_->value("SELECT cursor_entry_id FROM node_operational_state WHERE device_id = 2"), "3");
    const auto errors = db_->query("SELECT device_id, entry_id, message FROM telemetry_errors WHERE stage = 'storage' ORDER BY id");
    ASSERT_EQ(errors.size(), 3u);
    EXPECT_TRUE(errors[0][0].is_null());
    EXPECT_EQ(errors[0][1].as<std::int64_t>(), 2);
    EXPECT_NE(errors[0][2].as<std::string>().find("could not store entry 2 of device 999"), std::string::npos);
    EXPECT_NE(errors[0][2].as<std::string>().find("foreign key"), std::string::npos);
    EXPECT_NE(errors[1][2].as<std::string>().find("could not store the cursor of device 999"), std::string::npos);
    EXPECT_EQ(errors[2][0].as<std::int64_t>(), 3);
    EXPECT_NE(errors[2][2].as<std::string>().find("could not store a parse error record"), std::string::npos);
    std::set<std::int64_t> published;
    for (const auto& entry : stored_.snapshot()) published.insert(entry.entry_id);
    EXPECT_EQ(published, (std::set<std::int64_t>{1, 3, 4}));
    EXPECT_NE(log_->find("PostgreSQL refused an item"), std::string::npos) << *log_;
}

TEST_F(PgWriterTest, CursorFollowsItsEntriesAndGoesDownOnANewChannelEpoch) {
    auto writer = make_writer(options(db_->url()));
    std::vector<TelemetryEntry> page;
    for (std::int64_t id = 498; id <= 500; ++id) page.push_back(level_entry(2, id));
    for (const auto& entry : page) ASSERT_TRUE(writer->submit(entry));
    ASSERT_TRUE(writer->submit_cursor(2, DeviceCursor{500, 0, page.back().created_at.utc}));
    ASSERT_TRUE(wait_until([&] { return writer->stats().cursors_stored == 1; }));
    EXPECT_EQ(db_->value("SELECT format('%s/%s/%s', cursor_entry_id, channel_epoch, "
                         "cursor_created_at = '2025-03-14T08:05:00Z') FROM node_operational_state WHERE device_id = 2"),
              "500/0/t");

    // The channel was cleared: entry ids start again at 1, later in time.
    const auto after_clear = base_time + std::chrono::hours{5};
    ASSERT_TRUE(writer->submit(level_entry(2, 1, after_clear)));
    ASSERT_TRUE(writer->submit_cursor(2, DeviceCursor{1, 1, after_clear}));
    writer->stop();

    EXPECT_EQ(db_->value("SELECT format('%s/%s', cursor_entry_id, channel_epoch) FROM node_operational_state WHERE device_id = 2"),
              "1/1");
    EXPECT_EQ(db_->value("SELECT last_seen = '2025-03-14T11:00:00Z' FROM node_operational_state WHERE device_id = 2"), "t");
    EXPECT_EQ(writer->stats().entries_stored, 4u);
    EXPECT_EQ(db_->count("SELECT count(*) FROM telemetry_readings WHERE device_id = 2"), 4 * 3);
}

TEST_F(PgWriterTest, StopWritesEverythingStillQueued) {
    auto o = options(db_->url());
    o.batch_interval = 10s;  // stop() must not wait for batches to fill
    o.batch_size = 100;
    auto writer = make_writer(o);
    for (std::int64_t id = 1; id <= 1'000; ++id) ASSERT_TRUE(writer->submit(level_entry(1 + id % 8, id)));
    const auto started = std::chrono::steady_clock::now();
    writer.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    EXPECT_EQ(db_->count("SELECT count(DISTINCT entry_id) FROM telemetry_readings"), 1'000);
    EXPECT_EQ(stored_.snapshot().size(), 1'000u);
}

TEST_F(PgWriterTest, ReconnectsWhenItsConnectionIsKilled) {
    auto writer = make_writer(options(db_->url()));
    ASSERT_TRUE(writer->submit(level_entry(1, 1)));
    ASSERT_TRUE(wait_until([&] { return writer->stats().entries_stored == 1; }));
    EXPECT_EQ(db_->count("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                         "WHERE application_name = 'flowgate-writer' AND datname = '" + db_->name() + "'"),
              1);
    for (std::int64_t id = 2; id <= 20; ++id) ASSERT_TRUE(writer->submit(level_entry(1, id)));
    ASSERT_TRUE(wait_until([&] { return writer->stats().entries_stored == 20; }));
    writer->stop();
    EXPECT_GE(writer->stats().retries, 1u);
    EXPECT_EQ(db_->count("SELECT count(DISTINCT entry_id) FROM telemetry_readings"), 20);
    EXPECT_NE(log_->find("PostgreSQL writes resumed"), std::string::npos) << *log_;
}

TEST(PgWriterRestart, LosesNothingWhilePostgresRestarts) {
    if (!flowgate::test::base_database_url()) {
        GTEST_SKIP() << "FLOWGATE_DATABASE_URL is not set; run scripts/test, or eval \"$(scripts/services env)\"";
    }
    flowgate::test::PrivateServices services;
    const std::string url = services.database_url();
    flowgate::storage::run_migrations(url, flowgate::test::migrations_dir(),
                                      flowgate::test::capture_logger(std::make_shared<std::string>()));
    {
        pqxx::connection connection{url};
        pqxx::work txn{connection};
        txn.exec(std::string{"INSERT INTO communities VALUES (1, 'c'); "
                             "INSERT INTO nodes (id, community_id, name, category, telemetry_source) "
                             "VALUES (1, 1, 'n', 'OHT', 'thingspeak')"});
        txn.commit();
    }

    auto log = std::make_shared<std::string>();
    StoredLog stored;
    PgWriterOptions o;
    o.url = flowgate::test::url_with_password(url, "hunter2secret");  // trust auth: ignored, but must not leak
    o.batch_interval = 20ms;
    o.batch_size = 50;
    o.retry_backoff_min = 50ms;
    o.retry_backoff_max = 300ms;
    PgWriter writer{o, flowgate::test::capture_logger(log, "pg-writer"), stored.handler()};

    for (std::int64_t id = 1; id <= 100; ++id) ASSERT_TRUE(writer.submit(level_entry(1, id)));
    ASSERT_TRUE(wait_until([&] { return writer.stats().entries_stored == 100; }));

    services.stop();
    for (std::int64_t id = 101; id <= 300; ++id) ASSERT_TRUE(writer.submit(level_entry(1, id)));
    ASSERT_TRUE(wait_until([&] { return writer.stats().retries >= 2; }));
    EXPECT_GE(writer.stats().queue_depth, 200u);
    services.start();

    ASSERT_TRUE(wait_until([&] { return writer.stats().entries_stored == 300; }, 30s))
        << writer.stats().entries_stored;
    writer.stop();

    pqxx::connection connection{url};
    pqxx::nontransaction txn{connection};
    EXPECT_EQ(txn.exec1("SELECT count(*) FROM telemetry_readings")[0].as<std::int64_t>(), 300 * 3);
    EXPECT_EQ(txn.exec1("SELECT count(DISTINCT entry_id) FROM telemetry_readings")[0].as<std::int64_t>(), 300);
    std::set<std::int64_t> published;
    for (const auto& entry : stored.snapshot()) published.insert(entry.entry_id);
    EXPECT_EQ(published.size(), 300u);
    EXPECT_EQ(stored.snapshot().size(), 300u);
    EXPECT_EQ(flowgate::test::occurrences(*log, "cannot write to PostgreSQL"), 1u) << *log;
    EXPECT_EQ(flowgate::test::occurrences(*log, "PostgreSQL writes resumed"), 1u) << *log;
    EXPECT_EQ(log->find("hunter2secret"), std::string::npos) << *log;
}
