#include "flowgate/registry/device_registry.hpp"

#include <map>
#include <memory>

#include <pqxx/pqxx>

#include "flowgate/obs/logger.hpp"
#include "storage/pg_support.hpp"

namespace flowgate::registry {
namespace {

// Both loads read several tables; one snapshot keeps them consistent with each other while
// an operator edits the registry.
using Snapshot = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

constexpr std::chrono::seconds connect_timeout{10};

const std::string devices_sql =
    "SELECT n.id, n.community_id, n.name, n.category, n.polling_interval_s, n.priority,"
    "       m.channel_id, m.read_api_key,"
    "       s.cursor_entry_id, extract(epoch FROM s.cursor_created_at)::bigint, coalesce(s.channel_epoch, 0),"
    "       n.stale_after_s, n.offline_after_s"
    "  FROM nodes n"
    "  JOIN device_thingspeak_mapping m ON m.device_id = n.id"
    "  LEFT JOIN node_operational_state s ON s.device_id = n.id"
    " WHERE n.enabled AND n.telemetry_source = 'thingspeak'";

const std::string fields_sql =
    "SELECT f.device_id, f.thingspeak_field, f.canonical_name, f.data_type, f.scale_factor, f.\"offset\","
    "       f.unit, f.min_valid, f.max_valid, f.expected_label"
    "  FROM thingspeak_field_mappings f"
    "  JOIN nodes n ON n.id = f.device_id"
    " WHERE n.enabled AND n.telemetry_source = 'thingspeak'";

template <typename T>
std::optional<T> optional_field(const pqxx::field& field) {
    if (field.is_null()) return std::nullopt;
    return field.as<T>();
}

// Runs `load` on a fresh connection, turning every failure into a RegistryError.
template <typename Load>
auto with_connection(const std::string& url, const char* what, Load load) {
    try {
        pqxx::connection connection{storage::detail::with_connect_timeout(url, connect_timeout)};
        return load(connection);
    } catch (const RegistryError&) {
        throw;
    } catch (const std::exception& e) {
        throw RegistryError{std::string{"cannot load "} + what + " from PostgreSQL at " + obs::redact_secrets(url) +
                            ": " + obs::redact_secrets(storage::detail::pg_message(e))};
    }
}

} // namespace

std::vector<ThingSpeakDevice> load_thingspeak_devices(const std::string& url, const std::set<DeviceId>* only) {
    // Ids are numbers: written into the statement, they need no quoting.
    std::string among;
    if (only != nullptr) {
        if (only->empty()) return {};
        among = " AND n.id IN (";
        for (const auto id : *only) among += std::to_string(id) + ",";
        among.back() = ')';
    }
    return with_connection(url, "ThingSpeak devices", [&among](pqxx::connection& connection) {
        Snapshot txn{connection, "registry"};
        std::vector<ThingSpeakDevice> devices;
        std::map<DeviceId, std::size_t> index;
        for (const auto& row : txn.exec(devices_sql + among + " ORDER BY n.id")) {
            ThingSpeakDevice device;
            device.device_id = row[0].as<DeviceId>();
            device.community_id = row[1].as<CommunityId>();
            device.name = row[2].as<std::string>();
            device.category = row[3].as<std::string>();
            device.polling_interval = std::chrono::seconds{row[4].as<int>()};
            device.priority = row[5].as<int>();
            device.channel_id = row[6].as<std::int64_t>();
            device.read_api_key = optional_field<std::string>(row[7]);
            device.cursor.entry_id = optional_field<std::int64_t>(row[8]);
            if (const auto created = optional_field<std::int64_t>(row[9])) {
                device.cursor.created_at = Seconds{std::chrono::seconds{*created}};
            }
            device.cursor.channel_epoch = row[10].as<std::int32_t>();
            if (const auto s = optional_field<int>(row[11])) device.stale_after = std::chrono::seconds{*s};
            if (const auto s = optional_field<int>(row[12])) device.offline_after = std::chrono::seconds{*s};
            index.emplace(device.device_id, devices.size());
            devices.push_back(std::move(device));
        }
        for (const auto& row : txn.exec(fields_sql + among + " ORDER BY f.device_id, f.thingspeak_field")) {
            const auto device = index.find(row[0].as<DeviceId>());
            // A node with field mappings but no channel mapping is not polled: nothing to attach to.
            if (device == index.end()) continue;
            FieldMapping field;
            field.field = row[1].as<int>();
            field.canonical_name = row[2].as<std::string>();
            const auto type_name = row[3].as<std::string>();
            const auto type = parse_data_type(type_name);
            if (!type) {
                throw RegistryError{"thingspeak_field_mappings: device " + std::to_string(device->first) + " field " +
                                    std::to_string(field.field) + " has unknown data_type '" + type_name + "'"};
            }
            field.type = *type;
            field.scale_factor = row[4].as<double>();
            field.offset = row[5].as<double>();
            field.unit = optional_field<std::string>(row[6]).value_or("");
            field.min_valid = optional_field<double>(row[7]);
            field.max_valid = optional_field<double>(row[8]);
            field.expected_label = optional_field<std::string>(row[9]).value_or("");
            devices[device->second].fields.push_back(std::move(field));
        }
        txn.commit();
        return devices;
    });
}

Topology load_topology(const std::string& url) {
    return with_connection(url, "the node topology", [](pqxx::connection& connection) {
        Snapshot txn{connection, "topology"};
        Topology topology;
        for (const auto& row : txn.exec("SELECT id FROM communities")) {
            topology.communities.insert(row[0].as<CommunityId>());
        }
        for (const auto& row : txn.exec("SELECT id, community_id FROM nodes")) {
            topology.nodes.emplace(row[0].as<DeviceId>(), row[1].as<CommunityId>());
        }
        txn.commit();
        return topology;
    });
}

std::vector<OpenAlert> load_open_alerts(const std::string& url) {
    return with_connection(url, "the open alerts", [](pqxx::connection& connection) {
        pqxx::read_transaction txn{connection, "alerts"};
        std::vector<OpenAlert> alerts;
        for (const auto& row : txn.exec("SELECT device_id, kind FROM alerts WHERE resolved_at IS NULL")) {
            alerts.push_back({optional_field<DeviceId>(row[0]), row[1].as<std::string>()});
        }
        txn.commit();
        return alerts;
    });
}

std::vector<sched::AlertRule> load_alert_rules(const std::string& url) {
    return with_connection(url, "the alert rules", [](pqxx::connection& connection) {
        pqxx::read_transaction txn{connection, "alert rules"};
        std::vector<sched::AlertRule> rules;
        for (const auto& row : txn.exec("SELECT name, node_id, coalesce(category, ''), metric, comparison, threshold, hysteresis,"
                                        " coalesce(while_metric, ''), for_s, severity"
                                        " FROM alert_rules WHERE enabled ORDER BY id")) {
            sched::AlertRule r;
            r.name = row[0].as<std::string>();
            r.node_id = optional_field<DeviceId>(row[1]);
            r.category = row[2].as<std::string>();
            r.metric = row[3].as<std::string>();
            const auto comparison = sched::parse_comparison(row[4].as<std::string>());
            if (!comparison) throw RegistryError{"alert_rules: rule '" + r.name + "' has an unknown comparison"};
            r.comparison = *comparison;
            r.threshold = row[5].as<double>();
            r.hysteresis = row[6].as<double>();
            r.while_metric = row[7].as<std::string>();
            r.for_time = std::chrono::seconds{row[8].as<int>()};
            r.severity = row[9].as<std::string>();
            rules.push_back(std::move(r));
        }
        txn.commit();
        return rules;
    });
}

} // namespace flowgate::registry
