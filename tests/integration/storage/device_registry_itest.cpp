// The registry loader against a real PostgreSQL holding config/demo-devices.sql, checked
// against the simulator's own description of the demo network (config/sim-demo.toml).
#include <gtest/gtest.h>

#include <toml++/toml.h>

#include <mutex>

#include "flowgate/core/duration.hpp"
#include "flowgate/registry/device_registry.hpp"
#include "flowgate/registry/registry_watcher.hpp"
#include "storage_test_support.hpp"

using flowgate::DataType;
using flowgate::ThingSpeakDevice;
using flowgate::registry::load_thingspeak_devices;
using flowgate::registry::load_topology;
using flowgate::registry::RegistryError;
using flowgate::test::TestDatabase;

namespace {

const std::filesystem::path source_dir{FLOWGATE_SOURCE_DIR};

class DeviceRegistryTest : public flowgate::test::DemoDatabaseTest {};

const ThingSpeakDevice& by_channel(const std::vector<ThingSpeakDevice>& devices, std::int64_t channel) {
    for (const auto& device : devices) {
        if (device.channel_id == channel) return device;
    }
    throw std::runtime_error{"no device for channel " + std::to_string(channel)};
}

} // namespace

TEST_F(DeviceRegistryTest, LoadsTheDemoNetworkAsTheSimulatorServesIt) {
    db_->load_demo_devices();  // loading it twice changes nothing
    const auto devices = load_thingspeak_devices(db_->url());
    ASSERT_EQ(devices.size(), 8u);
    for (std::size_t i = 0; i < devices.size(); ++i) {
        EXPECT_EQ(devices[i].device_id, static_cast<flowgate::DeviceId>(i + 1));
        EXPECT_EQ(devices[i].community_id, 1);
        EXPECT_EQ(devices[i].channel_id, 2100101 + static_cast<std::int64_t>(i));
        EXPECT_EQ(devices[i].cursor, flowgate::DeviceCursor{});
    }

    // Every channel of the simulator: same name, posting interval, read key and field labels.
    const toml::table sim = toml::parse_file((source_dir / "config/sim-demo.toml").string());
    const toml::array& channels = *sim["channels"].as_array();
    ASSERT_EQ(channels.size(), devices.size());
    for (const toml::node& node : channels) {
        const toml::table& channel = *node.as_table();
        const auto id = channel["id"].value<std::int64_t>().value();
        SCOPED_TRACE("channel " + std::to_string(id));
        const ThingSpeakDevice& device = by_channel(devices, id);
        EXPECT_EQ(device.name, channel["name"].value<std::string>().value());
        const auto interval = flowgate::parse_duration(channel["interval"].value<std::string>().value()).value();
        EXPECT_EQ(device.polling_interval, std::chrono::duration_cast<std::chrono::seconds>(interval));
        EXPECT_EQ(device.read_api_key, channel["read_key"].value<std::string>());
        const toml::array& fields = *channel["fields"].as_array();
        ASSERT_EQ(device.fields.size(), fields.size());
        for (std::size_t i = 0; i < fields.size(); ++i) {
            const toml::table& field = *fields[i].as_table();
            EXPECT_EQ(device.fields[i].field, field["n"].value<int>().value());
            EXPECT_EQ(device.fields[i].expected_label, field["label"].value<std::string>().value());
            EXPECT_FALSE(device.fields[i].canonical_name.empty());
        }
    }

    const auto& oht1 = devices[0];
    EXPECT_EQ(oht1.category, "OHT");
    EXPECT_EQ(oht1.fields[0].canonical_name, "water_level");
    EXPECT_EQ(oht1.fields[0].scale_factor, 0.01);
    EXPECT_EQ(oht1.fields[0].unit, "m");
    EXPECT_EQ(oht1.fields[0].min_valid, 0.0);
    EXPECT_EQ(oht1.fields[0].max_valid, 3.5);
    EXPECT_EQ(oht1.fields[2].type, DataType::integer);
    EXPECT_EQ(devices[1].fields[0].unit, "%");
    EXPECT_EQ(devices[2].fields[0].offset, 5.0);
    const auto& pump_house = devices[4];
    EXPECT_EQ(pump_house.category, "PumpHouse");
    EXPECT_EQ(pump_house.fields[0].canonical_name, "pump_on");
    EXPECT_EQ(pump_house.fields[0].type, DataType::boolean);
    EXPECT_EQ(pump_house.fields[0].unit, "");
    EXPECT_EQ(pump_house.fields[0].min_valid, std::nullopt);
    EXPECT_EQ(pump_house.fields[3].canonical_name, "panel_mode");
    EXPECT_EQ(pump_house.fields[3].type, DataType::text);
    EXPECT_EQ(devices[6].category, "GovtBorewell");
    EXPECT_EQ(devices[6].fields[1].field, 3);  // field 2 unused by GBW-1
}

TEST_F(DeviceRegistryTest, SkipsDisabledAndMqttNodesAndCarriesTheCursor) {
    db_->exec(
        "UPDATE nodes SET enabled = false WHERE id = 3;"
        "INSERT INTO nodes (id, community_id, name, category, telemetry_source) VALUES (9, 1, 'M', 'Sump', 'mqtt');"
        "INSERT INTO device_mqtt_mapping (device_id, topic) VALUES (9, 'ward7/sump9');"
        "INSERT INTO node_operational_state (device_id, cursor_entry_id, cursor_created_at, channel_epoch)"
        "  VALUES (1, 8123, '2025-03-14T06:00:00Z', 2), (2, NULL, NULL, 1);");
    const auto devices = load_thingspeak_devices(db_->url());
    std::vector<flowgate::DeviceId> ids;
    for (const auto& device : devices) ids.push_back(device.device_id);
    EXPECT_EQ(ids, (std::vector<flowgate::DeviceId>{1, 2, 4, 5, 6, 7, 8}));
    const flowgate::Seconds created = std::chrono::sys_days{std::chrono::year{2025} / 3 / 14} + std::chrono::hours{6};
    EXPECT_EQ(devices[0].cursor, (flowgate::DeviceCursor{8123, 2, created}));
    EXPECT_EQ(devices[1].cursor, (flowgate::DeviceCursor{std::nullopt, 1, std::nullopt}));
}

TEST_F(DeviceRegistryTest, TopologyKnowsEveryNodeAndItsCommunity) {
    db_->exec(
        "INSERT INTO communities (id, name) VALUES (2, 'Basavanagudi');"
        "INSERT INTO nodes (id, community_id, name, category, telemetry_source, enabled)"
        "  VALUES (9, 2, 'M', 'Sump', 'mqtt', false);");
    const auto topology = load_topology(db_->url());
    EXPECT_EQ(topology.communities, (std::set<flowgate::CommunityId>{1, 2}));
    EXPECT_TRUE(topology.has_community(1));
    EXPECT_FALSE(topology.has_community(3));
    EXPECT_EQ(topology.nodes.size(), 9u);
    EXPECT_EQ(topology.community_of(5), 1);
    EXPECT_EQ(topology.community_of(9), 2);
    EXPECT_EQ(topology.community_of(99), std::nullopt);
}

TEST(DeviceRegistryErrors, NameTheProblemWithoutThePassword) {
    const auto server = flowgate::test::base_database_url();
    if (!server) GTEST_SKIP() << "FLOWGATE_DATABASE_URL is not set; run scripts/test, or eval \"$(scripts/services env)\"";
    TestDatabase unmigrated{*server};
    const auto url = flowgate::test::url_with_password(unmigrated.url(), "hunter2secret");
    try {
        load_thingspeak_devices(url);
        FAIL() << "expected a RegistryError";
    } catch (const RegistryError& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("relation \"nodes\" does not exist"), std::string::npos) << message;
        EXPECT_NE(message.find(unmigrated.name()), std::string::npos) << message;
        EXPECT_EQ(message.find("hunter2secret"), std::string::npos) << message;
    }
    EXPECT_THROW(load_topology("postgresql://flowgate:hunter2secret@127.0.0.1:1/flowgate"), RegistryError);
}

// The registry watcher: what an operator changes in PostgreSQL arrives, as it is now, naming
// the nodes it is about.
class RegistryWatcherTest : public DeviceRegistryTest {
protected:
    using Update = flowgate::registry::RegistryUpdate;

    void start() {
        watcher_ = std::make_unique<flowgate::registry::RegistryWatcher>(
            db_->url(), flowgate::test::capture_logger(log_, "registry"),
            [this](Update u) {
                std::lock_guard lock{mutex_};
                updates_.push_back(std::move(u));
            },
            std::chrono::milliseconds{50});
        // The first thing after connecting: everything, for what changed before it listened.
        const auto first = next();
        ASSERT_TRUE(first.all);
        ASSERT_EQ(first.devices.size(), 8u);
    }

    /// The next update (fails the test after 10 s).
    Update next() {
        Update out;
        const bool got = flowgate::test::wait_until([&] {
            std::lock_guard lock{mutex_};
            if (updates_.empty()) return false;
            out = std::move(updates_.front());
            updates_.erase(updates_.begin());
            return true;
        }, std::chrono::seconds{10});
        EXPECT_TRUE(got) << "no registry update; log: " << *log_;
        return out;
    }

    std::shared_ptr<std::string> log_ = std::make_shared<std::string>();
    std::mutex mutex_;
    std::vector<Update> updates_;
    std::unique_ptr<flowgate::registry::RegistryWatcher> watcher_;
};

TEST_F(RegistryWatcherTest, ChangesArriveAsTheyAreNowNamingTheirNodes) {
    start();
    db_->exec("UPDATE thingspeak_field_mappings SET scale_factor = 0.5 WHERE device_id = 2 AND thingspeak_field = 1");
    auto u = next();
    EXPECT_FALSE(u.all);
    EXPECT_EQ(u.changed, std::set<flowgate::DeviceId>{2});
    ASSERT_EQ(u.devices.size(), 1u);
    EXPECT_EQ(u.devices[0].device_id, 2);
    EXPECT_EQ(u.devices[0].fields.at(0).scale_factor, 0.5);

    // One transaction touching three nodes' rows: one update naming the three.
    db_->exec("BEGIN; UPDATE nodes SET polling_interval_s = 5 WHERE id IN (1, 3); "
              "UPDATE device_thingspeak_mapping SET read_api_key = 'NEWKEY' WHERE device_id = 4; COMMIT");
    u = next();
    EXPECT_EQ(u.changed, (std::set<flowgate::DeviceId>{1, 3, 4}));
    ASSERT_EQ(u.devices.size(), 3u);
    EXPECT_EQ(u.devices[0].polling_interval, std::chrono::seconds{5});
    EXPECT_EQ(u.devices[2].read_api_key, "NEWKEY");

    // Disabled: named, and no longer among the devices to poll.
    db_->exec("UPDATE nodes SET enabled = false WHERE id = 6");
    u = next();
    EXPECT_EQ(u.changed, std::set<flowgate::DeviceId>{6});
    EXPECT_TRUE(u.devices.empty());
    EXPECT_EQ(u.topology.community_of(6), 1) << "still a node of its community";

    // A new community: the stream routes need it.
    db_->exec("INSERT INTO communities (id, name) VALUES (2, 'Basavanagudi')");
    u = next();
    EXPECT_TRUE(u.all);
    EXPECT_TRUE(u.topology.has_community(2));
    EXPECT_EQ(u.devices.size(), 7u);
    EXPECT_EQ(log_->find("NEWKEY"), std::string::npos) << "keys stay out of the log";
}

TEST_F(RegistryWatcherTest, AfterLosingItsConnectionItReloadsEverything) {
    start();
    db_->exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
              "AND pid <> pg_backend_pid()");
    const auto u = next();
    EXPECT_TRUE(u.all) << "notifications sent while it was away are lost";
    EXPECT_EQ(u.devices.size(), 8u);
    EXPECT_EQ(flowgate::test::occurrences(*log_, "registry watcher cannot reach PostgreSQL"), 1u) << *log_;
    watcher_->stop();
    EXPECT_NE(log_->find("reconnected"), std::string::npos) << *log_;
}
