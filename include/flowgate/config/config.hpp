#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "flowgate/obs/logger.hpp"

namespace flowgate::config {

/// `[log]`: what the daemon writes to stderr.
struct LogConfig {
    /// Least severe level written: trace, debug, info, warn or error. Default info.
    obs::LogLevel level = obs::LogLevel::info;
    /// json (one object per line, for journald/Loki) or text (for a terminal). Default json.
    obs::LogFormat format = obs::LogFormat::json;

    friend bool operator==(const LogConfig&, const LogConfig&) = default;
};

/// `[database]`: the PostgreSQL that stores readings.
struct DatabaseConfig {
    /// libpq URI (postgresql:// or postgres://). Default
    /// "postgresql://flowgate@127.0.0.1:55432/flowgate". Put a password in
    /// FLOWGATE_DATABASE_URL rather than in the file.
    std::string url = "postgresql://flowgate@127.0.0.1:55432/flowgate";
    /// Readings waiting for the writer thread, which bounds memory while PostgreSQL is slow
    /// or down. 1..10000000, default 10000.
    std::size_t writer_queue = 10'000;
    /// Most rows written in one transaction. 1..100000 and at most writer_queue, default 500.
    std::size_t batch_size = 500;
    /// Longest a reading waits for its batch to fill before it is written anyway.
    /// 1ms..1m, default 50ms (it bounds the poll-to-WebSocket latency: bench/RESULTS.md).
    std::chrono::milliseconds batch_interval{50};
    /// Connections (each on a thread of its own) that answer the history API. 1..32, default 2.
    std::size_t history_connections = 2;
    /// statement_timeout of a history query; a slower one is answered 503. 10ms..1m, default 5s.
    std::chrono::milliseconds history_timeout{5'000};

    friend bool operator==(const DatabaseConfig&, const DatabaseConfig&) = default;
};

/// `[redis]`: shared state and fan-out between instances.
struct RedisConfig {
    /// redis:// URL; a password goes in FLOWGATE_REDIS_URL. Default "redis://127.0.0.1:56379".
    std::string url = "redis://127.0.0.1:56379";
    /// Deadline for connecting (and reconnecting) to Redis. 1ms..5m, default 2s.
    std::chrono::milliseconds connect_timeout{2'000};
    /// Messages kept in each topic's replay stream, for clients that reconnect with
    /// `?since=`. 1..1000000, default 10000.
    std::size_t replay_max_messages = 10'000;
    /// How long a topic's replay stream outlives its last message (and how long re-publishing
    /// an entry stays a no-op). 1s..7d, default 1h.
    std::chrono::milliseconds replay_ttl{3'600'000};

    friend bool operator==(const RedisConfig&, const RedisConfig&) = default;
};

/// The budget of one API key, instead of thingspeak.budget_per_minute and budget_burst.
struct KeyBudget {
    /// 1..60000.
    std::size_t per_minute = 120;
    /// 1..10000; thingspeak.budget_burst when unset.
    std::optional<std::size_t> burst;

    friend bool operator==(const KeyBudget&, const KeyBudget&) = default;
};

/// `[thingspeak]`: the ThingSpeak (or compatible) server that channels are polled from.
struct ThingSpeakConfig {
    /// http:// or https:// origin, without a trailing '/'. Default "https://api.thingspeak.com".
    std::string base_url = "https://api.thingspeak.com";
    /// Deadline for one whole request (connect, TLS, response). 1ms..5m, default 10s.
    std::chrono::milliseconds request_timeout{10'000};
    /// Largest response body accepted; a bigger one is an error, not a truncation.
    /// 1024..1073741824, default 8388608 (8 MiB).
    std::size_t max_body_bytes = 8 * 1024 * 1024;
    /// Polls in flight at once, which is also the number of connections kept to the server.
    /// A poll waiting for its turn is not yet timed. 1..256, default 4.
    std::size_t max_concurrent_polls = 4;
    /// Requests per minute per API key (a public channel's key is the server itself): our
    /// politeness budget. Halved on every 429 or 5xx, recovering step by step. 1..60000,
    /// default 120.
    std::size_t budget_per_minute = 120;
    /// Requests per key that may go at once after a quiet spell. 1..10000, default 10.
    std::size_t budget_burst = 10;
    /// Keys with budgets of their own, by key id as log lines name a key: "key-" and 16 hex
    /// digits for a read key (never the key itself), the server's host for public channels.
    /// Written `[thingspeak.key_budgets]` then `"key-…" = { per_minute = 30, burst = 3 }`.
    std::map<std::string, KeyBudget> key_budgets;
    /// Consecutive failures of the server (no answer, 5xx, 429) that open its circuit
    /// breaker: no request leaves until the cool-down passed and one probe succeeded.
    /// 1..1000, default 5.
    std::size_t breaker_failures = 5;
    /// How long the breaker stays open before its probe; doubled by every failed probe.
    /// 1s..1h, default 30s.
    std::chrono::milliseconds breaker_cool_down{30'000};
    /// Longest cool-down. 1s..24h and at least breaker_cool_down, default 5m.
    std::chrono::milliseconds breaker_max_cool_down{300'000};
    /// A device whose own reads fail (wrong key, unknown channel) is retried after a random
    /// delay up to interval * 2^failures, capped by this. 1s..24h, default 10m.
    std::chrono::milliseconds backoff_max{600'000};
    /// When the budget cannot poll every device that is due, each priority level below 1
    /// waits this much longer than the level above it. 1s..1h, default 30s.
    std::chrono::milliseconds priority_step{30'000};
    /// How far back a device's first read goes (a device without a cursor yet: new, or its
    /// channel cleared): all it holds from then on, paging back as needed. 0 reads only the
    /// newest 100 rows. 0..90d, default 7d.
    std::chrono::milliseconds history{7 * 24 * 3'600'000LL};

    friend bool operator==(const ThingSpeakConfig&, const ThingSpeakConfig&) = default;
};

/// A TCP endpoint written "host:port" or "[ipv6]:port".
struct HostPort {
    /// Name or address, without the brackets of an IPv6 literal.
    std::string host;
    /// 0 asks the system for a free port.
    std::uint16_t port = 0;

    /// "host:port", or "[host]:port" when the host contains ':'.
    std::string to_string() const;

    friend bool operator==(const HostPort&, const HostPort&) = default;
};

/// `[http]`: the HTTP/WebSocket server dashboards connect to.
struct HttpConfig {
    /// Address to listen on, host:port. Default "127.0.0.1:8080".
    HostPort listen{"127.0.0.1", 8080};
    /// Largest WebSocket message accepted from a client. 128..16777216, default 65536 (64 KiB).
    std::size_t max_ws_message_bytes = 64 * 1024;
    /// Bytes of live messages queued for one WebSocket client; a client that falls further
    /// behind is closed with 4008 "slow consumer". 4096..1073741824, default 1048576 (1 MiB).
    std::size_t ws_send_queue_bytes = std::size_t{1} << 20;
    /// A write to a WebSocket client that makes no progress for this long ends the session.
    /// 100ms..5m, default 10s.
    std::chrono::milliseconds ws_write_timeout{10'000};
    /// Origins a browser may open streams from, as sent in `Origin` ("https://ops.example.org");
    /// "*" allows any. A page served by flowgate itself (Origin matching Host) is always
    /// allowed. Default none.
    std::vector<std::string> origins;
    /// Whether a request without `Origin` (not a browser: ws-cat, a backend) is allowed.
    /// Default true.
    bool allow_missing_origin = true;
    /// WebSocket sessions open at once, and from one IP address; an upgrade past either is
    /// answered 503. Defaults 10000 and 100.
    std::size_t max_connections = 10'000;
    std::size_t max_connections_per_ip = 100;
    /// permessage-deflate for clients that offer it. Default true.
    bool ws_deflate = true;
    /// Messages shorter than this go uncompressed. 0..1048576, default 256.
    std::size_t ws_deflate_threshold_bytes = 256;
    /// LZ77 window of the compressor (its clients' inflate memory): 9..15, default 15.
    std::size_t ws_deflate_window_bits = 15;

    friend bool operator==(const HttpConfig&, const HttpConfig&) = default;
};

enum class AuthMode {
    token,  ///< every stream needs a signed token
    none,   ///< anyone who reaches the port sees every stream (a warning at start)
};

/// `[auth]`: who may open which stream.
struct AuthConfig {
    /// Default token.
    AuthMode mode = AuthMode::token;
    /// Token secrets, newest first (the first signs), each at least 32 bytes. Meant for
    /// FLOWGATE_AUTH_SECRETS (separated by commas or spaces); never shown.
    std::vector<std::string> secrets;
    /// A file of secrets, one per line, newest first ('#' starts a comment), read at start
    /// after `secrets`. Default none.
    std::string secret_file;

    friend bool operator==(const AuthConfig&, const AuthConfig&) = default;
};

/// The daemon's whole configuration; a default-constructed Config holds every default.
struct Config {
    LogConfig log;
    DatabaseConfig database;
    RedisConfig redis;
    ThingSpeakConfig thingspeak;
    HttpConfig http;
    AuthConfig auth;

    friend bool operator==(const Config&, const Config&) = default;
};

/// Every problem found in a configuration, one per line of what(), each naming its place
/// ("flowgate.toml:12:1: …" or "FLOWGATE_HTTP_LISTEN: …") and what is wrong. Never contains
/// a password or token.
class ConfigError : public std::runtime_error {
public:
    explicit ConfigError(std::vector<std::string> problems);

    const std::vector<std::string>& problems() const { return problems_; }

private:
    std::vector<std::string> problems_;
};

/// Looks up an environment variable; nullopt when it is not set.
using Environment = std::function<std::optional<std::string>(std::string_view name)>;

/// The process environment (getenv).
Environment process_environment();

/// A fixed set of variables, for tests and tools.
Environment map_environment(std::map<std::string, std::string, std::less<>> variables);

/// One key of the file and the environment variable that overrides it
/// ("database.url", "FLOWGATE_DATABASE_URL").
struct ConfigKey {
    std::string name;
    std::string env_var;
};

/// Every key the file may contain, in the order of the example file.
std::vector<ConfigKey> config_keys();

/// Parses TOML text; `source_name` (usually the file name) prefixes every problem. Variables
/// FLOWGATE_<SECTION>_<KEY> in `env` override the text. An empty text gives the defaults.
/// Throws ConfigError listing every problem found.
Config parse_config(std::string_view toml_text, std::string_view source_name, const Environment& env);

/// Reads and parses a file as parse_config does; an unreadable file is a ConfigError too.
Config load_config_file(const std::filesystem::path& path, const Environment& env);

/// The token secrets of `auth`: `secrets`, then those of `secret_file`. Throws ConfigError
/// when the file cannot be read, a secret is shorter than 32 bytes, or the mode is token and
/// there is none.
std::vector<std::string> load_token_secrets(const AuthConfig& auth);

/// The effective values as TOML, one section per table, with secrets in URLs redacted.
/// The result parses back to the same values except for the redacted parts.
std::string format_config(const Config& config);

} // namespace flowgate::config
