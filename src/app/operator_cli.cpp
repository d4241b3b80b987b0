#include "operator_cli.hpp"

#include <boost/asio/io_context.hpp>

#include <fstream>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>

#include <pqxx/pqxx>

#include "flowgate/normalize/feed.hpp"
#include "flowgate/normalize/normalizer.hpp"
#include "flowgate/registry/device_import.hpp"
#include "flowgate/registry/device_registry.hpp"
#include "flowgate/thingspeak/http_client.hpp"

namespace flowgate::app {
namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

std::string format_number(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

std::string describe(const FieldMapping& f) {
    std::string text = f.canonical_name + " (" + std::string{to_string(f.type)};
    if (f.scale_factor != 1) text += " ×" + format_number(f.scale_factor);
    if (f.offset != 0) text += (f.offset > 0 ? " +" : " ") + format_number(f.offset);
    if (!f.unit.empty()) text += " " + f.unit;
    if (f.min_valid || f.max_valid) {
        text += ", valid " + (f.min_valid ? format_number(*f.min_valid) : std::string{"-∞"}) + ".." +
                (f.max_valid ? format_number(*f.max_valid) : std::string{"∞"});
    }
    return text + ")";
}

std::string quoted(const std::optional<std::string>& text) { return text ? "\"" + *text + "\"" : std::string{"(disabled)"}; }

} // namespace

int devices_import(const config::Config& config, const std::string& file) {
    std::ifstream in{file, std::ios::binary};
    if (!in) {
        std::cerr << "flowgate: cannot read " << file << '\n';
        return exit_usage;
    }
    const std::string text{std::istreambuf_iterator<char>{in}, {}};
    const bool json = file.ends_with(".json");
    if (!json && !file.ends_with(".csv")) {
        std::cerr << "flowgate: " << file << ": the name must end with .csv or .json (that says which format it is)\n";
        return exit_usage;
    }
    const auto parsed = json ? registry::parse_device_json(text) : registry::parse_device_csv(text);
    if (!parsed.problems.empty()) {
        for (const auto& problem : parsed.problems) std::cerr << file << ": " << problem << '\n';
        std::cerr << file << ": " << parsed.problems.size() << " problem" << (parsed.problems.size() == 1 ? "" : "s")
                  << ", nothing imported\n";
        return exit_failure;
    }
    try {
        const auto s = registry::apply_device_import(config.database.url, parsed.nodes);
        std::cout << "imported " << file << ": " << parsed.nodes.size() << " nodes (" << s.nodes_created << " new, "
                  << s.nodes_updated << " updated), " << s.fields << " field mappings, " << s.communities_created
                  << " new communities\n";
        return exit_ok;
    } catch (const registry::RegistryError& e) {
        std::cerr << file << ": " << e.what() << '\n';
        return exit_failure;
    }
}

int devices_list(const config::Config& config) {
    try {
        pqxx::connection connection{config.database.url};
        pqxx::read_transaction txn{connection};
        const auto rows = txn.exec(
            "SELECT n.id, c.name, n.name, n.category, n.telemetry_source, coalesce(m.channel_id::text, '-'), "
            "CASE WHEN m.device_id IS NULL THEN '-' WHEN m.read_api_key IS NULL THEN 'public' ELSE 'key' END, "
            "n.polling_interval_s || 's', CASE WHEN n.enabled THEN 'yes' ELSE 'no' END, coalesce(s.status, 'unknown'), "
            "coalesce(to_char(s.last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'never'), "
            "(SELECT count(*) FROM thingspeak_field_mappings f WHERE f.device_id = n.id)::text "
            "FROM nodes n JOIN communities c ON c.id = n.community_id "
            "LEFT JOIN device_thingspeak_mapping m ON m.device_id = n.id "
            "LEFT JOIN node_operational_state s ON s.device_id = n.id ORDER BY n.id");
        std::vector<std::vector<std::string>> table{
            {"ID", "COMMUNITY", "NODE", "CATEGORY", "SOURCE", "CHANNEL", "ACCESS", "INTERVAL", "ENABLED", "STATUS", "LAST SEEN", "FIELDS"}};
        for (const auto& row : rows) {
            auto& line = table.emplace_back();
            for (const auto& field : row) line.push_back(field.as<std::string>());
        }
        std::vector<std::size_t> widths(table[0].size(), 0);
        for (const auto& line : table) {
            for (std::size_t i = 0; i < line.size(); ++i) widths[i] = std::max(widths[i], line[i].size());
        }
        for (const auto& line : table) {
            for (std::size_t i = 0; i < line.size(); ++i) {
                std::cout << line[i] << (i + 1 == line.size() ? "\n" : std::string(widths[i] - line[i].size() + 2, ' '));
            }
        }
        std::cout << rows.size() << " nodes\n";
        return exit_ok;
    } catch (const std::exception& e) {
        std::cerr << "flowgate: cannot list the devices: " << e.what() << '\n';
        return exit_failure;
    }
}

int channel_check(const config::Config& config, std::int64_t device_id) {
    std::vector<ThingSpeakDevice> devices;
    try {
        const std::set<DeviceId> only{device_id};
        devices = registry::load_thingspeak_devices(config.database.url, &only);
    } catch (const registry::RegistryError& e) {
        std::cerr << "flowgate: " << e.what() << '\n';
        return exit_failure;
    }
    if (devices.empty()) {
        std::cerr << "flowgate: device " << device_id << " is not an enabled ThingSpeak node (see flowgate devices list)\n";
        return exit_failure;
    }
    const auto& device = devices.front();
    std::cout << "device " << device.device_id << " \"" << device.name << "\": channel " << device.channel_id << " on "
              << config.thingspeak.base_url << (device.read_api_key ? " (with its read key)" : " (public)") << '\n';

    boost::asio::io_context ioc;
    thingspeak::HttpClientOptions options;
    options.base_url = config.thingspeak.base_url;
    options.request_timeout = config.thingspeak.request_timeout;
    options.max_body_bytes = config.thingspeak.max_body_bytes;
    thingspeak::HttpClient client{ioc, options, obs::make_stderr_logger(obs::LogLevel::error, obs::LogFormat::text, "check")};
    std::string target = "/channels/" + std::to_string(device.channel_id) + "/feeds.json?results=1";
    if (device.read_api_key) target += "&api_key=" + *device.read_api_key;
    thingspeak::FetchResult fetched;
    client.get(target, [&](thingspeak::FetchResult result) { fetched = std::move(result); });
    ioc.run();

    if (fetched.error != thingspeak::FetchErrorKind::none) {
        std::cout << "cannot read the channel: " << to_string(fetched.error) << ": " << fetched.error_message << '\n';
        return exit_failure;
    }
    if (fetched.status == 400 && fetched.body == "-1") {
        std::cout << "the channel refuses the read: it is private and the mapping's read_api_key is "
                  << (device.read_api_key ? "wrong" : "missing") << " (every read would fail with an auth error)\n";
        return exit_failure;
    }
    if (fetched.status == 404) {
        std::cout << "there is no channel " << device.channel_id << " on " << config.thingspeak.base_url << '\n';
        return exit_failure;
    }
    if (fetched.status != 200) {
        std::cout << "the channel answered HTTP " << fetched.status << '\n';
        return exit_failure;
    }
    const auto parsed = normalize::parse_feed(fetched.body);
    if (!parsed.ok() || !parsed.feed->channel) {
        std::cout << "the channel's answer cannot be read: " << (parsed.ok() ? "no channel object" : parsed.error) << '\n';
        return exit_failure;
    }
    const auto& feed = *parsed.feed;
    const auto& channel = *feed.channel;
    const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    const auto result = normalize::Normalizer{}.normalize(device, feed, now);
    std::cout << "channel \"" << channel.name << "\", last entry "
              << (channel.last_entry_id ? std::to_string(*channel.last_entry_id) : std::string{"none"}) << '\n';

    std::size_t refused = 0;
    std::set<int> mapped;
    for (const auto& f : device.fields) {
        mapped.insert(f.field);
        const auto field_name = "field" + std::to_string(f.field);
        std::cout << "  " << field_name << ' ' << quoted(channel.labels[f.field - 1]) << " -> " << describe(f) << ": ";
        std::string problem;
        for (const auto& e : result.errors) {
            if (e.field == field_name) problem = std::string{to_string(e.stage)} + ": " + e.message;
        }
        if (problem.empty() && !channel.labels[f.field - 1]) problem = "the channel has this field disabled";
        if (!problem.empty()) {
            ++refused;
            std::cout << "REFUSED (" << problem << ")\n";
            continue;
        }
        std::cout << "ok";
        if (!result.entries.empty()) {
            for (const auto& r : result.entries.back().readings) {
                if (r.metric != f.canonical_name) continue;
                std::cout << ", newest value " << (r.type == DataType::text ? "\"" + r.text + "\"" : format_number(r.number));
                if (!r.unit.empty()) std::cout << ' ' << r.unit;
            }
        } else if (feed.entries.empty()) {
            std::cout << " (no entry to try the conversion on)";
        }
        std::cout << '\n';
    }
    for (int n = 1; n <= 8; ++n) {
        if (!mapped.contains(n) && channel.labels[n - 1]) {
            std::cout << "  field" << n << ' ' << quoted(channel.labels[n - 1]) << ": not mapped (not stored)\n";
        }
    }
    for (const auto& e : result.errors) {
        if (!e.field) {
            ++refused;
            std::cout << "  " << to_string(e.stage) << ": " << e.message << '\n';
        }
    }
    std::cout << (refused == 0 ? "ok: every mapped field would be stored\n"
                               : std::to_string(refused) + " problem" + (refused == 1 ? "" : "s") + ": see REFUSED above\n");
    return refused == 0 ? exit_ok : exit_failure;
}

} // namespace flowgate::app
