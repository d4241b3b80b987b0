#include "flowgate/registry/device_import.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "flowgate/registry/device_registry.hpp"

namespace flowgate::registry {
namespace {

using nlohmann::json;

const std::set<std::string, std::less<>> categories{"OHT", "Sump", "PumpHouse", "Borewell", "GovtBorewell", "FlowMeter"};

bool valid_metric(std::string_view name) {
    return !name.empty() && name[0] >= 'a' && name[0] <= 'z' &&
           std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::optional<std::int64_t> parse_integer(std::string_view text) {
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::optional<double> parse_number(std::string_view text) {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(value)) return std::nullopt;
    return value;
}

/// The checks both formats share, once a node and its fields are read.
void check_node(const ImportedNode& node, std::vector<std::string>& problems) {
    const auto problem = [&](const std::string& text) { problems.push_back(node.where + ": " + text); };
    if (node.community.empty()) problem("community is empty");
    if (node.name.empty()) problem("node name is empty");
    if (!categories.contains(node.category)) {
        problem("category '" + node.category + "' is not one of OHT, Sump, PumpHouse, Borewell, GovtBorewell, FlowMeter");
    }
    if (node.polling_interval_s <= 0) problem("polling_interval_s must be a positive number of seconds");
    if (node.priority < -32768 || node.priority > 32767) problem("priority must fit a smallint (-32768..32767)");
    if (node.channel_id <= 0) problem("channel_id must be a positive integer");
    if (node.fields.empty()) problem("node '" + node.name + "' has no field mapping");
    std::set<int> numbers;
    std::set<std::string> metrics;
    for (const auto& f : node.fields) {
        const auto label = "field" + std::to_string(f.field);
        if (f.field < 1 || f.field > 8) problem("field must be 1..8, not " + std::to_string(f.field));
        if (!numbers.insert(f.field).second) problem(label + " is mapped twice in node '" + node.name + "'");
        if (!valid_metric(f.canonical_name)) {
            problem("metric '" + f.canonical_name + "' must be lower case letters, digits and _, starting with a letter");
        }
        if (!metrics.insert(f.canonical_name).second) problem("metric '" + f.canonical_name + "' is mapped twice in node '" + node.name + "'");
        if (f.min_valid && f.max_valid && *f.min_valid > *f.max_valid) problem(label + ": min is above max");
    }
}

// --- CSV ---------------------------------------------------------------------------------

/// One CSV record's fields; quoted fields may hold commas and "" for a quote.
std::optional<std::vector<std::string>> split_csv(std::string_view line, std::string& error) {
    std::vector<std::string> out{{}};
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                out.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                out.back() += c;
            }
        } else if (c == '"' && out.back().empty()) {
            quoted = true;
        } else if (c == ',') {
            out.emplace_back();
        } else {
            out.back() += c;
        }
    }
    if (quoted) {
        error = "a quoted field is not closed (fields cannot span lines)";
        return std::nullopt;
    }
    for (auto& field : out) {
        const auto start = field.find_first_not_of(" \t");
        field = start == std::string::npos ? "" : field.substr(start, field.find_last_not_of(" \t") - start + 1);
    }
    return out;
}

constexpr std::string_view node_columns[] = {"community", "node", "category", "polling_interval_s", "priority", "enabled",
                                             "channel_id", "read_api_key"};
constexpr std::string_view field_columns[] = {"field", "metric", "type", "scale", "offset", "unit", "min", "max", "label"};
constexpr std::string_view required_columns[] = {"community", "node", "category", "channel_id", "field", "metric"};

} // namespace

DeviceImport parse_device_csv(std::string_view text) {
    DeviceImport result;
    auto& problems = result.problems;
    std::map<std::string, std::size_t> columns;  // name → index
    std::map<std::pair<std::string, std::string>, std::pair<std::size_t, std::vector<std::string>>> seen;  // node → (index, node columns)
    std::size_t line_number = 0;
    while (!text.empty()) {
        const auto end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        ++line_number;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find_first_not_of(" \t") == std::string_view::npos || line.starts_with('#')) continue;
        const auto where = "line " + std::to_string(line_number);
        std::string error;
        const auto cells = split_csv(line, error);
        if (!cells) {
            problems.push_back(where + ": " + error);
            continue;
        }
        if (columns.empty()) {
            for (std::size_t i = 0; i < cells->size(); ++i) {
                const auto& name = (*cells)[i];
                const bool known = std::find(std::begin(node_columns), std::end(node_columns), name) != std::end(node_columns) ||
                                   std::find(std::begin(field_columns), std::end(field_columns), name) != std::end(field_columns);
                if (!known) problems.push_back(where + ": unknown column '" + name + "'");
                if (!columns.emplace(name, i).second) problems.push_back(where + ": column '" + name + "' appears twice");
            }
            for (const auto required : required_columns) {
                if (!columns.contains(std::string{required})) problems.push_back(where + ": the header has no column '" + std::string{required} + "'");
            }
            if (!problems.empty()) return result;
            continue;
        }
        if (cells->size() != columns.size()) {
            problems.push_back(where + ": " + std::to_string(cells->size()) + " fields, the header has " + std::to_string(columns.size()));
            continue;
        }
        const auto cell = [&](std::string_view name) -> std::string {
            const auto it = columns.find(std::string{name});
            return it == columns.end() ? std::string{} : (*cells)[it->second];
        };
        const auto problem = [&](const std::string& text) { problems.push_back(where + ": " + text); };
        const auto integer = [&](std::string_view name, std::int64_t fallback) -> std::int64_t {
            const auto value = cell(name);
            if (value.empty()) return fallback;
            const auto parsed = parse_integer(value);
            if (!parsed) problem(std::string{name} + " must be an integer, not '" + value + "'");
            return parsed.value_or(fallback);
        };
        const auto number = [&](std::string_view name) -> std::optional<double> {
            const auto value = cell(name);
            if (value.empty()) return std::nullopt;
            const auto parsed = parse_number(value);
            if (!parsed) problem(std::string{name} + " must be a number, not '" + value + "'");
            return parsed;
        };

        std::vector<std::string> node_values;
        for (const auto column : node_columns) node_values.push_back(cell(column));
        const auto key = std::pair{cell("community"), cell("node")};
        auto [it, fresh] = seen.try_emplace(key, result.nodes.size(), node_values);
        if (fresh) {
            ImportedNode node;
            node.where = where;
            node.community = key.first;
            node.name = key.second;
            node.category = cell("category");
            node.polling_interval_s = static_cast<int>(integer("polling_interval_s", 60));
            node.priority = static_cast<int>(integer("priority", 5));
            const auto enabled = cell("enabled");
            if (!enabled.empty() && enabled != "true" && enabled != "false") problem("enabled must be true or false, not '" + enabled + "'");
            node.enabled = enabled != "false";
            node.channel_id = integer("channel_id", 0);
            if (const auto key_value = cell("read_api_key"); !key_value.empty()) node.read_api_key = key_value;
            result.nodes.push_back(std::move(node));
        } else if (it->second.second != node_values) {
            for (std::size_t i = 0; i < node_values.size(); ++i) {
                if (node_values[i] != it->second.second[i]) {
                    problem(std::string{node_columns[i]} + " of node '" + key.second + "' differs from its first row (" +
                            result.nodes[it->second.first].where + ")");
                }
            }
        }
        FieldMapping field;
        field.field = static_cast<int>(integer("field", 0));
        field.canonical_name = cell("metric");
        const auto type = cell("type");
        if (const auto parsed = parse_data_type(type.empty() ? "float" : type)) {
            field.type = *parsed;
        } else {
            problem("type '" + type + "' is not one of float, integer, boolean, string");
        }
        field.scale_factor = number("scale").value_or(1);
        field.offset = number("offset").value_or(0);
        field.unit = cell("unit");
        field.min_valid = number("min");
        field.max_valid = number("max");
        field.expected_label = cell("label");
        result.nodes[it->second.first].fields.push_back(std::move(field));
    }
    if (columns.empty()) problems.push_back("the file is empty: it needs a header row and one row per field mapping");
    for (const auto& node : result.nodes) check_node(node, problems);
    // In the file's order: "line N: …".
    const auto line_of = [](const std::string& problem) { return std::atoi(problem.c_str() + problem.find(' ') + 1); };
    std::stable_sort(problems.begin(), problems.end(), [&](const auto& a, const auto& b) { return line_of(a) < line_of(b); });
    return result;
}

DeviceImport parse_device_json(std::string_view text) {
    DeviceImport result;
    auto& problems = result.problems;
    json document;
    try {
        document = json::parse(text);
    } catch (const json::parse_error& e) {
        // Where, as a line and column, rather than nlohmann's byte offset.
        const auto offset = std::min<std::size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
        const auto before = text.substr(0, offset);
        const auto line = std::count(before.begin(), before.end(), '\n') + 1;
        const auto column = offset - (before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1) + 1;
        problems.push_back("line " + std::to_string(line) + ", column " + std::to_string(column) + ": not valid JSON");
        return result;
    }
    if (!document.is_object() || !document.contains("nodes") || !document["nodes"].is_array()) {
        problems.push_back("the file must be an object with a \"nodes\" array");
        return result;
    }
    const auto& nodes = document["nodes"];
    for (std::size_t n = 0; n < nodes.size(); ++n) {
        const auto where = "nodes[" + std::to_string(n) + "]";
        const auto& in = nodes[n];
        if (!in.is_object()) {
            problems.push_back(where + ": must be an object");
            continue;
        }
        // A member of the expected JSON type, else the default (and a problem when present).
        const auto member = [&](const json& object, const std::string& path, const char* name, json::value_t type,
                                const json& fallback) -> json {
            if (!object.contains(name) || object[name].is_null()) return fallback;
            const auto& value = object[name];
            const bool ok = value.type() == type || (type == json::value_t::number_float && value.is_number()) ||
                            (type == json::value_t::number_integer && value.is_number_integer());
            if (!ok) {
                problems.push_back(path + "." + name + ": must be " +
                                   (type == json::value_t::string ? "a string" : type == json::value_t::boolean ? "true or false"
                                                                               : type == json::value_t::number_integer ? "an integer"
                                                                               : type == json::value_t::array ? "an array"
                                                                                                                   : "a number"));
                return fallback;
            }
            return value;
        };
        using T = json::value_t;
        ImportedNode node;
        node.where = where;
        node.community = member(in, where, "community", T::string, "").get<std::string>();
        node.name = member(in, where, "name", T::string, "").get<std::string>();
        node.category = member(in, where, "category", T::string, "").get<std::string>();
        node.polling_interval_s = member(in, where, "polling_interval_s", T::number_integer, 60).get<int>();
        node.priority = member(in, where, "priority", T::number_integer, 5).get<int>();
        node.enabled = member(in, where, "enabled", T::boolean, true).get<bool>();
        node.channel_id = member(in, where, "channel_id", T::number_integer, 0).get<std::int64_t>();
        if (const auto key = member(in, where, "read_api_key", T::string, nullptr); key.is_string()) node.read_api_key = key.get<std::string>();
        const auto fields = member(in, where, "fields", T::array, json::array());
        for (std::size_t i = 0; i < fields.size(); ++i) {
            const auto path = where + ".fields[" + std::to_string(i) + "]";
            const auto& f = fields[i];
            if (!f.is_object()) {
                problems.push_back(path + ": must be an object");
                continue;
            }
            FieldMapping field;
            field.field = member(f, path, "field", T::number_integer, 0).get<int>();
            field.canonical_name = member(f, path, "metric", T::string, "").get<std::string>();
            const auto type = member(f, path, "type", T::string, "float").get<std::string>();
            if (const auto parsed = parse_data_type(type)) {
                field.type = *parsed;
            } else {
                problems.push_back(path + ".type: '" + type + "' is not one of float, integer, boolean, string");
            }
            field.scale_factor = member(f, path, "scale", T::number_float, 1.0).get<double>();
            field.offset = member(f, path, "offset", T::number_float, 0.0).get<double>();
            field.unit = member(f, path, "unit", T::string, "").get<std::string>();
            if (const auto v = member(f, path, "min", T::number_float, nullptr); v.is_number()) field.min_valid = v.get<double>();
            if (const auto v = member(f, path, "max", T::number_float, nullptr); v.is_number()) field.max_valid = v.get<double>();
            field.expected_label = member(f, path, "label", T::string, "").get<std::string>();
            node.fields.push_back(std::move(field));
        }
        result.nodes.push_back(std::move(node));
    }
    std::set<std::pair<std::string, std::string>> names;
    for (const auto& node : result.nodes) {
        check_node(node, problems);
        if (!names.emplace(node.community, node.name).second) {
            problems.push_back(node.where + ": node '" + node.name + "' of '" + node.community + "' appears twice");
        }
    }
    return result;
}

ImportSummary apply_device_import(const std::string& url, const std::vector<ImportedNode>& nodes) {
    ImportSummary summary;
    try {
        pqxx::connection connection{url};
        pqxx::work txn{connection};
        // Ids are given as max + 1 rather than by the sequences, which rows inserted with
        // explicit ids (config/demo-devices.sql) leave behind; the lock keeps that safe.
        txn.exec("LOCK TABLE communities, nodes IN SHARE ROW EXCLUSIVE MODE");
        std::map<std::string, std::int64_t> community_ids;
        for (const auto& node : nodes) {
            if (community_ids.contains(node.community)) continue;
            const auto found = txn.exec_params("SELECT id FROM communities WHERE name = $1", node.community);
            if (!found.empty()) {
                community_ids[node.community] = found[0][0].as<std::int64_t>();
                continue;
            }
            community_ids[node.community] =
                txn.exec_params1("INSERT INTO communities (id, name) SELECT coalesce(max(id), 0) + 1, $1 FROM communities RETURNING id",
                                 node.community)[0]
                    .as<std::int64_t>();
            ++summary.communities_created;
        }
        for (const auto& node : nodes) {
            const auto row = txn.exec_params1(
                "INSERT INTO nodes (id, community_id, name, category, polling_interval_s, priority, telemetry_source, enabled) "
                "SELECT coalesce(max(id), 0) + 1, $1, $2, $3, $4, $5, 'thingspeak', $6 FROM nodes "
                "ON CONFLICT (community_id, name) DO UPDATE SET category = excluded.category, "
                "polling_interval_s = excluded.polling_interval_s, priority = excluded.priority, "
                "telemetry_source = excluded.telemetry_source, enabled = excluded.enabled "
                "RETURNING id, xmax = 0",
                community_ids.at(node.community), node.name, node.category, node.polling_interval_s, node.priority, node.enabled);
            const auto id = row[0].as<std::int64_t>();
            ++(row[1].as<bool>() ? summary.nodes_created : summary.nodes_updated);
            txn.exec_params("INSERT INTO device_thingspeak_mapping (device_id, channel_id, read_api_key) VALUES ($1, $2, $3) "
                            "ON CONFLICT (device_id) DO UPDATE SET channel_id = excluded.channel_id, read_api_key = excluded.read_api_key",
                            id, node.channel_id, node.read_api_key);
            txn.exec_params("DELETE FROM thingspeak_field_mappings WHERE device_id = $1", id);
            for (const auto& f : node.fields) {
                const auto text_or_null = [](const std::string& s) { return s.empty() ? std::optional<std::string>{} : std::optional{s}; };
                txn.exec_params("INSERT INTO thingspeak_field_mappings (device_id, thingspeak_field, canonical_name, data_type, "
                                "scale_factor, \"offset\", unit, min_valid, max_valid, expected_label) "
                                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                                id, f.field, f.canonical_name, std::string{to_string(f.type)}, f.scale_factor, f.offset,
                                text_or_null(f.unit), f.min_valid, f.max_valid, text_or_null(f.expected_label));
                ++summary.fields;
            }
        }
        txn.commit();
    } catch (const std::exception& e) {
        // Only the first line: PostgreSQL's DETAIL would show the failing row, read key included.
        const std::string message = e.what();
        throw RegistryError{"import failed, nothing was written: " + message.substr(0, message.find('\n'))};
    }
    return summary;
}

} // namespace flowgate::registry
