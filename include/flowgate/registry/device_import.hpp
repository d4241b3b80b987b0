#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flowgate/registry/device.hpp"

namespace flowgate::registry {

/// One node of an import file with its ThingSpeak channel and field mappings.
struct ImportedNode {
    std::string community;  ///< the community's name (created when new)
    std::string name;       ///< unique within the community: the node is updated when it exists
    std::string category;
    int polling_interval_s = 60;
    int priority = 5;
    bool enabled = true;
    std::int64_t channel_id = 0;
    std::optional<std::string> read_api_key;  ///< secret: never printed
    std::vector<FieldMapping> fields;
    std::string where;  ///< "line 4" (CSV) or "nodes[3]" (JSON), for messages
};

/// What an import file holds, or every problem found in it.
struct DeviceImport {
    std::vector<ImportedNode> nodes;
    std::vector<std::string> problems;  ///< each names its line (CSV) or path (JSON)
};

/// CSV, one row per field mapping, after a header row naming the columns (any order):
/// community, node, category, channel_id, field, metric (required); polling_interval_s,
/// priority, enabled, read_api_key, type, scale, offset, unit, min, max, label (optional).
/// The rows of one node repeat its node columns, which must agree. Fields may be quoted
/// ("…", with "" for a quote) to hold commas.
DeviceImport parse_device_csv(std::string_view text);

/// JSON: `{"nodes":[{"community","name","category","polling_interval_s","priority","enabled",
/// "channel_id","read_api_key","fields":[{"field","metric","type","scale","offset","unit",
/// "min","max","label"}]}]}`, with the same defaults as the CSV columns.
DeviceImport parse_device_json(std::string_view text);

struct ImportSummary {
    std::size_t communities_created = 0;
    std::size_t nodes_created = 0;
    std::size_t nodes_updated = 0;
    std::size_t fields = 0;
};

/// Writes the nodes in one transaction: communities by name, nodes by (community, name)
/// created or updated, their channel, and their field mappings replaced by the file's. Either
/// all of it is written or nothing (throws RegistryError). Running daemons pick the changes
/// up through the registry's NOTIFY, as with any edit of those tables.
ImportSummary apply_device_import(const std::string& url, const std::vector<ImportedNode>& nodes);

} // namespace flowgate::registry
