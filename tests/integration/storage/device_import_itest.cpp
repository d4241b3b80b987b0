// `flowgate devices import` against a real PostgreSQL: created, updated, all or nothing.
#include <gtest/gtest.h>

#include "flowgate/registry/device_import.hpp"
#include "flowgate/registry/device_registry.hpp"
#include "storage_test_support.hpp"

using flowgate::registry::apply_device_import;
using flowgate::registry::parse_device_csv;
using flowgate::registry::RegistryError;
using flowgate::test::TestDatabase;

namespace {


const std::string header = "community,node,category,polling_interval_s,channel_id,read_api_key,field,metric,scale,unit,label\n";

// The demo rows carry explicit ids, which leave the id sequences behind.
class DeviceImportTest : public flowgate::test::DemoDatabaseTest {
protected:
    flowgate::registry::ImportSummary import(const std::string& rows) {
        const auto parsed = parse_device_csv(header + rows);
        EXPECT_TRUE(parsed.problems.empty()) << parsed.problems.front();
        return apply_device_import(db_->url(), parsed.nodes);
    }

};

} // namespace

TEST_F(DeviceImportTest, AddsNewNodesBesideExistingOnesAndTheRegistryLoadsThem) {
    const auto s = import("Ward 9,OHT-9,OHT,15,2100109,KEY9,1,water_level,0.01,m,Water Level (cm)\n"
                          "Ward 9,OHT-9,OHT,15,2100109,KEY9,2,water_temperature,1,°C,Water Temperature (C)\n"
                          "Jayanagar Ward 7,Sump-3 Ward 7,Sump,30,2100110,,1,water_level,1,cm,Sump Level (cm)\n");
    EXPECT_EQ(s.communities_created, 1u);
    EXPECT_EQ(s.nodes_created, 2u);
    EXPECT_EQ(s.nodes_updated, 0u);
    EXPECT_EQ(s.fields, 3u);
    EXPECT_EQ(db_->count("SELECT count(*) FROM nodes"), 10);
    EXPECT_EQ(db_->value("SELECT id FROM communities WHERE name = 'Ward 9'"), "2");

    const auto devices = flowgate::registry::load_thingspeak_devices(db_->url());
    ASSERT_EQ(devices.size(), 10u);
    const auto& oht = devices[8];
    EXPECT_EQ(oht.device_id, 9);
    EXPECT_EQ(oht.community_id, 2);
    EXPECT_EQ(oht.channel_id, 2100109);
    EXPECT_EQ(oht.read_api_key, "KEY9");
    ASSERT_EQ(oht.fields.size(), 2u);
    EXPECT_EQ(oht.fields[0].scale_factor, 0.01);
    EXPECT_EQ(oht.fields[1].expected_label, "Water Temperature (C)");
    EXPECT_EQ(devices[9].community_id, 1);
}

TEST_F(DeviceImportTest, AnExistingNodeIsUpdatedAndItsMappingsReplaced) {
    const auto s = import("Jayanagar Ward 7,OHT-1 Jayanagar Ward 7,OHT,45,2100101,,1,water_level,0.01,m,Water Level (cm)\n");
    EXPECT_EQ(s.nodes_created, 0u);
    EXPECT_EQ(s.nodes_updated, 1u);
    EXPECT_EQ(db_->value("SELECT polling_interval_s FROM nodes WHERE id = 1"), "45");
    EXPECT_EQ(db_->count("SELECT count(*) FROM thingspeak_field_mappings WHERE device_id = 1"), 1)
        << "the file's one mapping replaces the three";
    // The same file again changes nothing more.
    EXPECT_EQ(import("Jayanagar Ward 7,OHT-1 Jayanagar Ward 7,OHT,45,2100101,,1,water_level,0.01,m,Water Level (cm)\n").nodes_updated, 1u);
    EXPECT_EQ(db_->count("SELECT count(*) FROM nodes"), 8);
}

TEST_F(DeviceImportTest, AFailureWritesNothingAndDoesNotShowTheReadKey) {
    // A rule of this installation that the file breaks on its last node only.
    db_->exec("ALTER TABLE nodes ADD CONSTRAINT no_test_nodes CHECK (name NOT LIKE 'test%')");
    const auto parsed = parse_device_csv(header +
                                         "Ward 9,OHT-9,OHT,15,2100109,SECRETKEY9,1,water_level,0.01,m,\n"
                                         "Ward 9,test-1,OHT,15,2100110,SECRETKEY9,1,water_level,0.01,m,\n");
    ASSERT_TRUE(parsed.problems.empty());
    try {
        apply_device_import(db_->url(), parsed.nodes);
        FAIL() << "the import should fail";
    } catch (const RegistryError& e) {
        const std::string message = e.what();
        EXPECT_TRUE(message.starts_with("import failed, nothing was written: ")) << message;
        EXPECT_NE(message.find("no_test_nodes"), std::string::npos) << message;
        EXPECT_EQ(message.find("SECRETKEY9"), std::string::npos) << message;
    }
    EXPECT_EQ(db_->count("SELECT count(*) FROM communities"), 1);
    EXPECT_EQ(db_->count("SELECT count(*) FROM nodes"), 8);
    EXPECT_EQ(db_->count("SELECT count(*) FROM device_thingspeak_mapping WHERE channel_id = 2100109"), 0);
}
