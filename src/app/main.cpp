#include <csignal>
#include <exception>
#include <optional>
#include <iostream>
#include <span>
#include <vector>
#include <string>
#include <string_view>

#include <charconv>
#include <chrono>

#include "daemon.hpp"
#include "operator_cli.hpp"
#include "flowgate/auth/token.hpp"
#include "flowgate/config/config.hpp"
#include "flowgate/core/duration.hpp"
#include "flowgate/storage/migrator.hpp"

// The build may pass the project version; this keeps a stand-alone compile working.
#ifndef FLOWGATE_VERSION
#define FLOWGATE_VERSION "0.1.0"
#endif
#ifndef FLOWGATE_MIGRATIONS_DIR
#define FLOWGATE_MIGRATIONS_DIR "/usr/share/flowgate/migrations"
#endif

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

constexpr std::string_view usage = R"(usage: flowgate <command> [arguments]

commands:
  run --config FILE [--port-file FILE]
                      run the daemon until SIGINT/SIGTERM; --port-file receives the HTTP port
  migrate --config FILE [--migrations DIR]
                      apply pending database migrations (default DIR: )" FLOWGATE_MIGRATIONS_DIR R"()
  check-config FILE   validate FILE (and FLOWGATE_* variables) and print the effective values
  devices import FILE.csv|FILE.json [--config FILE]
                      add or update nodes, channels and field mappings: all of the file
                      or nothing; every problem with its line (CSV) or path (JSON)
  devices list [--config FILE]
                      every node with its channel, status and last contact
  channel check DEVICE [--config FILE]
                      read the device's channel once and compare it with its mappings:
                      what would be stored, and what refused and why (exit 1 if anything)
  token issue --communities 1,3 [--ttl 24h] [--scope read|operator] [--config FILE]
                      print a stream token for those communities, signed with the newest
                      secret of FLOWGATE_AUTH_SECRETS / auth.secret_file
  help                show this text
  --version           show the version
)";

int usage_error(std::string_view problem) {
    std::cerr << "flowgate: " << problem << "\n\n" << usage;
    return exit_usage;
}

int check_config(std::string_view file) {
    try {
        const auto config = flowgate::config::load_config_file(file, flowgate::config::process_environment());
        flowgate::config::load_token_secrets(config.auth);
        std::cout << file << ": ok\n\n" << flowgate::config::format_config(config);
        return exit_ok;
    } catch (const flowgate::config::ConfigError& e) {
        std::cerr << e.what() << '\n';
        return exit_usage;
    }
}

/// Reads `--name value` pairs; returns false (after printing usage) on anything else.
bool parse_options(std::span<char*> operands, std::initializer_list<std::pair<std::string_view, std::string*>> known) {
    for (std::size_t i = 0; i < operands.size(); ++i) {
        const std::string_view flag = operands[i];
        bool matched = false;
        for (const auto& [name, target] : known) {
            if (flag != name) continue;
            if (i + 1 >= operands.size()) {
                usage_error(std::string{flag} + " needs a value");
                return false;
            }
            *target = operands[++i];
            matched = true;
        }
        if (!matched) {
            usage_error("unknown option '" + std::string{flag} + "'");
            return false;
        }
    }
    return true;
}

/// Loads the configuration for run/migrate, printing every problem when it is invalid.
std::optional<flowgate::config::Config> load(const std::string& file) {
    try {
        return flowgate::config::load_config_file(file, flowgate::config::process_environment());
    } catch (const flowgate::config::ConfigError& e) {
        std::cerr << e.what() << '\n';
        return std::nullopt;
    }
}

flowgate::obs::Logger make_logger(const flowgate::config::Config& config, std::string component) {
    return flowgate::obs::make_stderr_logger(config.log.level, config.log.format, std::move(component));
}

int run_command(std::span<char*> operands) {
    std::string file, port_file;
    if (!parse_options(operands, {{"--config", &file}, {"--port-file", &port_file}})) return exit_usage;
    if (file.empty()) return usage_error("run needs --config FILE");
    const auto config = load(file);
    if (!config) return exit_usage;
    return flowgate::app::run_daemon(*config, file, port_file, make_logger(*config, "daemon"));
}

int migrate_command(std::span<char*> operands) {
    std::string file, dir = FLOWGATE_MIGRATIONS_DIR;
    if (!parse_options(operands, {{"--config", &file}, {"--migrations", &dir}})) return exit_usage;
    if (file.empty()) return usage_error("migrate needs --config FILE");
    const auto config = load(file);
    if (!config) return exit_usage;
    const auto log = make_logger(*config, "migrate");
    try {
        const auto result = flowgate::storage::run_migrations(config->database.url, dir, log);
        log.info(result.applied.empty() ? "database schema is up to date" : "migrations applied",
                 {{"applied", result.applied.size()}, {"schema_version", result.schema_version}});
        return exit_ok;
    } catch (const std::exception& e) {
        log.error("migration failed", {{"error", e.what()}});
        return exit_failure;
    }
}

/// "1,3" → {1, 3}; nullopt unless every item is a positive integer.
std::optional<std::vector<std::int64_t>> parse_ids(std::string_view text) {
    std::vector<std::int64_t> ids;
    while (!text.empty()) {
        const auto comma = text.find(',');
        const auto item = text.substr(0, comma);
        std::int64_t id = 0;
        const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
        if (ec != std::errc{} || end != item.data() + item.size() || id <= 0) return std::nullopt;
        ids.push_back(id);
        text.remove_prefix(comma == std::string_view::npos ? text.size() : comma + 1);
    }
    if (ids.empty()) return std::nullopt;
    return ids;
}

/// The configuration of a command whose --config is optional: FILE and the environment, or
/// the environment (FLOWGATE_DATABASE_URL, …) alone.
std::optional<flowgate::config::Config> load_optional(const std::string& file) {
    if (!file.empty()) return load(file);
    try {
        return flowgate::config::parse_config("", "environment", flowgate::config::process_environment());
    } catch (const flowgate::config::ConfigError& e) {
        std::cerr << e.what() << '\n';
        return std::nullopt;
    }
}

constexpr std::string_view devices_usage = R"usage(usage: flowgate devices import FILE.csv|FILE.json [--config FILE]
       flowgate devices list [--config FILE]

Without --config, the database is FLOWGATE_DATABASE_URL (or the default).

CSV: a header row, then one row per field mapping. Columns (any order):
  community, node, category, channel_id, field, metric          required
  polling_interval_s (60), priority (5), enabled (true), read_api_key,
  type (float|integer|boolean|string), scale (1), offset (0), unit, min, max, label
The rows of one node repeat its node columns. Lines starting with # are skipped.

JSON: {"nodes":[{"community":"Ward 7","name":"OHT-1","category":"OHT",
  "polling_interval_s":15,"channel_id":2100101,"read_api_key":null,
  "fields":[{"field":1,"metric":"water_level","scale":0.01,"unit":"m",
             "min":0,"max":3.5,"label":"Water Level (cm)"}]}]}

Nodes are matched by community and name: a new one is added, an existing one updated and
its field mappings replaced by the file's. Running daemons apply the change within a second.
)usage";

int devices_command(std::span<char*> operands) {
    const std::string_view sub = operands.empty() ? "" : operands[0];
    if (sub == "--help" || sub == "help") {
        std::cout << devices_usage;
        return exit_ok;
    }
    if (sub != "import" && sub != "list") {
        std::cerr << "flowgate: devices takes: import FILE, list\n\n" << devices_usage;
        return exit_usage;
    }
    auto rest = operands.subspan(1);
    std::string path;
    if (sub == "import") {
        if (rest.empty() || std::string_view{rest[0]}.starts_with("--")) return usage_error("devices import needs a FILE.csv or FILE.json");
        path = rest[0];
        rest = rest.subspan(1);
    }
    std::string file;
    if (!parse_options(rest, {{"--config", &file}})) return exit_usage;
    const auto config = load_optional(file);
    if (!config) return exit_usage;
    return sub == "import" ? flowgate::app::devices_import(*config, path) : flowgate::app::devices_list(*config);
}

int channel_command(std::span<char*> operands) {
    constexpr std::string_view channel_usage = "usage: flowgate channel check DEVICE [--config FILE]\n\n"
                                               "Reads the device's ThingSpeak channel once (thingspeak.base_url) and compares each\n"
                                               "field with its mapping: label, data type, calibration and valid range. Prints what\n"
                                               "would be stored and what would be refused and why; exit code 1 if anything would be.\n";
    if (!operands.empty() && (std::string_view{operands[0]} == "--help" || std::string_view{operands[0]} == "help")) {
        std::cout << channel_usage;
        return exit_ok;
    }
    if (operands.size() < 2 || std::string_view{operands[0]} != "check") {
        std::cerr << "flowgate: channel takes: check DEVICE\n\n" << channel_usage;
        return exit_usage;
    }
    const auto id = parse_ids(operands[1]);
    if (!id || id->size() != 1) return usage_error("channel check needs a DEVICE id (flowgate devices list shows them)");
    std::string file;
    if (!parse_options(operands.subspan(2), {{"--config", &file}})) return exit_usage;
    const auto config = load_optional(file);
    if (!config) return exit_usage;
    return flowgate::app::channel_check(*config, id->front());
}

int token_command(std::span<char*> operands) {
    if (operands.empty() || std::string_view{operands[0]} != "issue") return usage_error("token takes: issue");
    std::string communities, ttl = "24h", scope = "read", file;
    if (!parse_options(operands.subspan(1),
                       {{"--communities", &communities}, {"--ttl", &ttl}, {"--scope", &scope}, {"--config", &file}})) {
        return exit_usage;
    }
    const auto ids = parse_ids(communities);
    if (!ids) return usage_error("token issue needs --communities with community ids, such as 1,3");
    const auto lifetime = flowgate::parse_duration(ttl);
    if (!lifetime || *lifetime < std::chrono::seconds{1}) return usage_error("--ttl must be a duration such as 15m, 24h or 30d");
    if (scope != "read" && scope != "operator") return usage_error("--scope must be read or operator");
    try {
        const auto env = flowgate::config::process_environment();
        const auto config = file.empty() ? flowgate::config::parse_config("", "environment", env)
                                         : flowgate::config::load_config_file(file, env);
        auto secrets = flowgate::config::load_token_secrets(config.auth);
        if (secrets.empty()) {
            std::cerr << "flowgate: no token secret: set FLOWGATE_AUTH_SECRETS or auth.secret_file\n";
            return exit_usage;
        }
        const flowgate::auth::TokenAuthority authority{std::move(secrets)};
        flowgate::auth::Claims claims;
        claims.communities = *ids;
        claims.issued_at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
        claims.expires_at = claims.issued_at + std::chrono::duration_cast<std::chrono::seconds>(*lifetime);
        claims.id = flowgate::auth::random_token_id();
        claims.scope = scope == "read" ? flowgate::auth::Scope::read : flowgate::auth::Scope::operator_;
        std::cout << authority.issue(claims) << '\n';
        std::cerr << "token " << claims.id << " for communities " << communities << ", valid for "
                  << flowgate::format_duration(*lifetime) << '\n';
        return exit_ok;
    } catch (const flowgate::config::ConfigError& e) {
        std::cerr << e.what() << '\n';
        return exit_usage;
    }
}

int run(std::span<char*> args) {
    if (args.empty()) return usage_error("missing command");
    const std::string_view command = args[0];
    const auto operands = args.subspan(1);
    if (command == "help" || command == "--help" || command == "-h") {
        std::cout << usage;
        return exit_ok;
    }
    if (command == "--version") {
        std::cout << "flowgate " FLOWGATE_VERSION "\n";
        return exit_ok;
    }
    if (command == "run") return run_command(operands);
    if (command == "migrate") return migrate_command(operands);
    if (command == "token") return token_command(operands);
    if (command == "devices") return devices_command(operands);
    if (command == "channel") return channel_command(operands);
    if (command == "check-config") {
        if (operands.size() != 1) return usage_error("check-config takes exactly one FILE");
        return check_config(operands[0]);
    }
    return usage_error("unknown command '" + std::string{command} + "'");
}

} // namespace

int main(int argc, char** argv) {
    // A peer that goes away mid-write must be an error code, not a dead process.
    std::signal(SIGPIPE, SIG_IGN);
    try {
        return run(std::span<char*>{argv, static_cast<std::size_t>(argc)}.subspan(argc > 0 ? 1 : 0));
    } catch (const std::exception& e) {
        std::cerr << "flowgate: " << e.what() << '\n';
        return exit_failure;
    }
}
