// The history API's queries against a real PostgreSQL holding the demo network.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <future>

#include "flowgate/storage/history.hpp"
#include "storage_test_support.hpp"

using flowgate::storage::HistoryAnswer;
using flowgate::storage::HistoryOptions;
using flowgate::storage::HistoryReader;
using flowgate::storage::ReadingsQuery;
using flowgate::test::TestDatabase;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// 2026-12-04T00:00:00Z
constexpr std::int64_t day_start = 1'796'342'400;

class HistoryReaderTest : public flowgate::test::DemoDatabaseTest {
protected:
    void SetUp() override {
        DemoDatabaseTest::SetUp();
        if (IsSkipped()) return;
        db_->exec("INSERT INTO communities (id, name) VALUES (2, 'Basavanagudi')");
        db_->exec("INSERT INTO nodes (id, community_id, name, category, telemetry_source) VALUES (20, 2, 'OHT-B', 'OHT', 'mqtt')");
        // OHT-1 (node 1): a water level every minute of the day, entry ids 1..1440.
        db_->exec("INSERT INTO telemetry_readings (device_id, metric, ts, value, entry_id, source) "
                  "SELECT 1, 'water_level', to_timestamp(" + std::to_string(day_start) + " + 60 * i), i / 1000.0, i + 1, 'thingspeak' "
                  "FROM generate_series(0, 1439) i");
        db_->exec("INSERT INTO telemetry_readings (device_id, metric, ts, value_text, entry_id, source) VALUES "
                  "(5, 'panel_mode', to_timestamp(" + std::to_string(day_start + 100) + "), 'auto', 7, 'thingspeak')");
        db_->exec("INSERT INTO node_operational_state (device_id, status, last_seen) VALUES "
                  "(1, 'online', to_timestamp(" + std::to_string(day_start + 86'340) + "))");
        reader_ = std::make_unique<HistoryReader>(HistoryOptions{.url = db_->url()}, flowgate::test::capture_logger(log_));
    }

    template <typename Call>
    static HistoryAnswer ask(Call&& call) {
        std::promise<HistoryAnswer> answer;
        call([&](HistoryAnswer a) { answer.set_value(std::move(a)); });
        auto future = answer.get_future();
        if (future.wait_for(10s) != std::future_status::ready) throw std::runtime_error{"no answer within 10 s"};
        return future.get();
    }

    HistoryAnswer readings(const std::string& query, std::int64_t node = 1) {
        auto parsed = ReadingsQuery::parse(node, query, std::chrono::system_clock::time_point{std::chrono::seconds{day_start + 86'400}});
        return ask([&](auto done) { reader_->readings(std::get<ReadingsQuery>(std::move(parsed)), std::move(done)); });
    }

    std::shared_ptr<std::string> log_ = std::make_shared<std::string>();
    std::unique_ptr<HistoryReader> reader_;
};

} // namespace

TEST_F(HistoryReaderTest, ListsTheCommunitiesATokenAllows) {
    const auto all = ask([&](auto done) { reader_->communities(std::nullopt, std::move(done)); });
    ASSERT_EQ(all.status, 200) << all.body;
    EXPECT_EQ(json::parse(all.body), json::parse(R"({"communities":[{"id":1,"name":"Jayanagar Ward 7","nodes":8},
                                                                    {"id":2,"name":"Basavanagudi","nodes":1}]})"));
    const auto second = ask([&](auto done) { reader_->communities(std::vector<std::int64_t>{2, 99}, std::move(done)); });
    EXPECT_EQ(json::parse(second.body)["communities"].size(), 1u);
    EXPECT_EQ(json::parse(second.body)["communities"][0]["id"], 2);
    const auto none = ask([&](auto done) { reader_->communities(std::vector<std::int64_t>{}, std::move(done)); });
    EXPECT_EQ(json::parse(none.body)["communities"], json::array());
}

TEST_F(HistoryReaderTest, ListsNodesWithTheirStatusAndLastReadingOfEachMetric) {
    const auto answer = ask([&](auto done) { reader_->nodes(1, std::move(done)); });
    ASSERT_EQ(answer.status, 200) << answer.body;
    const auto body = json::parse(answer.body);
    EXPECT_EQ(body["community_id"], 1);
    ASSERT_EQ(body["nodes"].size(), 8u);
    const auto& oht = body["nodes"][0];
    EXPECT_EQ(oht["name"], "OHT-1 Jayanagar Ward 7");
    EXPECT_EQ(oht["category"], "OHT");
    EXPECT_EQ(oht["status"], "online");
    EXPECT_EQ(oht["last_seen"], "2026-12-04T23:59:00Z");
    ASSERT_EQ(oht["metrics"].size(), 3u);
    EXPECT_EQ(oht["metrics"][0], json::parse(R"({"metric":"water_level","unit":"m","ts":"2026-12-04T23:59:00Z","value":1.439,"min":0.0,"max":3.5})"));
    EXPECT_EQ(oht["metrics"][1], json::parse(R"({"metric":"water_temperature","unit":"°C","ts":null,"value":null,"min":0.0,"max":60.0})"));
    const auto& pump = body["nodes"][4];
    EXPECT_EQ(pump["status"], "unknown");
    EXPECT_EQ(pump["last_seen"], nullptr);
    EXPECT_EQ(pump["metrics"][3], json::parse(R"({"metric":"panel_mode","unit":null,"ts":"2026-12-04T00:01:40Z","value":"auto","min":null,"max":null})"));
}

TEST_F(HistoryReaderTest, ReadsARangeInTimeOrderAndPagesThroughIt) {
    const auto first = readings("metric=water_level&from=2026-12-04T10:00:00Z&to=2026-12-04T11:00:00Z&limit=25");
    ASSERT_EQ(first.status, 200) << first.body;
    const auto page = json::parse(first.body);
    EXPECT_EQ(page["unit"], "m");
    EXPECT_EQ(page["from"], "2026-12-04T10:00:00Z");
    ASSERT_EQ(page["readings"].size(), 25u);
    EXPECT_EQ(page["readings"][0], json::parse(R"({"ts":"2026-12-04T10:00:00Z","value":0.6})"));
    EXPECT_EQ(page["readings"][24]["ts"], "2026-12-04T10:24:00Z");

    // Following "next" reads the hour exactly once: 60 readings (the end is exclusive).
    std::vector<std::string> times;
    for (auto next = page; ;) {
        for (const auto& r : next["readings"]) times.push_back(r["ts"]);
        if (next["next"].is_null()) break;
        const std::string path = next["next"];
        next = json::parse(readings(path.substr(path.find('?') + 1)).body);
    }
    ASSERT_EQ(times.size(), 60u);
    EXPECT_EQ(times.back(), "2026-12-04T10:59:00Z");
    EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
    EXPECT_EQ(std::unique(times.begin(), times.end()), times.end());
}

TEST_F(HistoryReaderTest, TheDefaultRangeIsTheLast24Hours) {
    const auto body = json::parse(readings("metric=water_level&limit=10000").body);
    EXPECT_EQ(body["readings"].size(), 1440u);
    EXPECT_EQ(body["next"], nullptr);
    EXPECT_EQ(body["to"], "2026-12-05T00:00:00Z");
}

TEST_F(HistoryReaderTest, AnUnknownMetricIsNotFoundAndNamesTheNodesMetrics) {
    const auto answer = readings("metric=level");
    EXPECT_EQ(answer.status, 404);
    EXPECT_EQ(json::parse(answer.body)["error"], "node 1 has no metric 'level'; it has water_level, water_temperature, tds");
    // A node without field mappings (MQTT) may have any metric: an empty answer.
    const auto mqtt = readings("metric=level", 20);
    EXPECT_EQ(mqtt.status, 200);
    EXPECT_EQ(json::parse(mqtt.body)["readings"], json::array());
}

TEST_F(HistoryReaderTest, AnUnreachableDatabaseIsA503AndIsLoggedWithoutItsPassword) {
    auto url = flowgate::test::url_with_password(db_->url(), "s3cret-pw");
    url.replace(url.find(":5"), 6, ":1");  // nothing listens on port 1
    HistoryReader down{HistoryOptions{.url = url, .connect_timeout = 2s}, flowgate::test::capture_logger(log_)};
    for (int i = 0; i < 2; ++i) {
        const auto answer = ask([&](auto done) { down.communities(std::nullopt, std::move(done)); });
        EXPECT_EQ(answer.status, 503);
        EXPECT_EQ(json::parse(answer.body)["error"], "the database is unavailable: try again shortly");
    }
    EXPECT_EQ(flowgate::test::occurrences(*log_, "history query failed"), 1u) << "once per outage: " << *log_;
    EXPECT_EQ(log_->find("s3cret-pw"), std::string::npos) << *log_;
}

TEST_F(HistoryReaderTest, AQueryPastTheStatementTimeoutIsA503) {
    // A lock held by another transaction makes the read wait past a 200 ms timeout.
    pqxx::connection blocker{db_->url()};
    pqxx::work lock{blocker};
    lock.exec("LOCK TABLE communities IN ACCESS EXCLUSIVE MODE");
    HistoryReader slow{HistoryOptions{.url = db_->url(), .statement_timeout = 200ms}, flowgate::test::capture_logger(log_)};
    const auto answer = ask([&](auto done) { slow.communities(std::nullopt, std::move(done)); });
    EXPECT_EQ(answer.status, 503);
    EXPECT_EQ(json::parse(answer.body)["error"], "the query took longer than 200 ms: ask for a shorter range or a smaller limit");
}
