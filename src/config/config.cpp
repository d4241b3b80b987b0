#include "flowgate/config/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <tuple>
#include <utility>

#include "flowgate/core/duration.hpp"

namespace flowgate::config {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

/// A value as the operator wrote it: a TOML node from the file, or the text of a variable.
struct Raw {
    const toml::node* node = nullptr;
    std::string_view env_text;
};

/// How one type of value is read and shown. `parse` stores the value or returns what is
/// wrong with it (without its place); `show` writes it back as a TOML value.
template <typename T>
struct Kind {
    std::function<std::optional<std::string>(const Raw&, T&)> parse;
    std::function<std::string(const T&)> show;
};

struct Key {
    std::string_view section;
    std::string_view name;
    std::function<std::optional<std::string>(const Raw&, Config&)> parse;
    std::function<std::string(const Config&)> show;
};

/// Makes the keys of one section: `database("batch_size", &DatabaseConfig::batch_size, kind)`.
template <typename S>
auto keys_of(std::string_view section_name, S Config::*part) {
    return [=]<typename T>(std::string_view name, T S::*member, Kind<T> kind) {
        return Key{section_name, name,
                   [=](const Raw& raw, Config& c) { return kind.parse(raw, c.*part.*member); },
                   [=](const Config& c) { return kind.show(c.*part.*member); }};
    };
}

/// Escaped as in a TOML basic string, which also keeps one problem on one line.
std::string escaped(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (c == '\\' || c == '"') {
            out.push_back('\\');
            out.push_back(c);
        } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            constexpr char hex[] = "0123456789abcdef";
            out += "\\u00";
            out.push_back(hex[(c >> 4) & 0xf]);
            out.push_back(hex[c & 0xf]);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::string in_quotes(std::string_view text) { return '"' + escaped(text) + '"'; }

/// redact_secrets() misses a password when the URL has no scheme or an unescaped '/' in
/// the password, so user info with a ':' is cut out here first.
std::string redact_url(std::string_view url) {
    const auto scheme = url.find("://");
    const auto start = scheme == std::string_view::npos ? 0 : scheme + 3;
    const auto at = url.rfind('@');
    const auto colon = url.find(':', start);
    if (at != std::string_view::npos && at > start && colon < at) {
        return obs::redact_secrets(std::string{url.substr(0, colon + 1)} + "[redacted]" +
                                   std::string{url.substr(at)});
    }
    return obs::redact_secrets(url);
}

/// What the operator wrote, for "got …": strings quoted as in TOML, numbers as they are.
std::string shown(const Raw& raw, bool is_url = false) {
    const auto text = [&](std::string_view s) { return is_url ? redact_url(s) : std::string{s}; };
    if (!raw.node) return '\'' + escaped(text(raw.env_text)) + '\'';
    if (const auto* s = raw.node->as_string()) return in_quotes(text(s->get()));
    if (raw.node->is_table()) return "a table";
    if (raw.node->is_array()) return "an array";
    std::ostringstream os;
    raw.node->visit([&](const auto& v) { os << v; });
    return os.str();
}

std::optional<std::string_view> text_of(const Raw& raw) {
    if (!raw.node) return raw.env_text;
    if (const auto* s = raw.node->as_string()) return std::string_view{s->get()};
    return std::nullopt;
}

std::optional<std::int64_t> integer_of(const Raw& raw) {
    if (raw.node) return raw.node->value_exact<std::int64_t>();
    std::int64_t v = 0;
    const auto* end = raw.env_text.data() + raw.env_text.size();
    const auto [ptr, ec] = std::from_chars(raw.env_text.data(), end, v);
    if (ec != std::errc{} || ptr != end) return std::nullopt;
    return v;
}

Kind<std::size_t> integer(std::int64_t lo, std::int64_t hi) {
    return {[=](const Raw& raw, std::size_t& out) -> std::optional<std::string> {
                const auto v = integer_of(raw);
                if (!v || *v < lo || *v > hi) {
                    return "must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi) +
                           ", got " + shown(raw);
                }
                out = static_cast<std::size_t>(*v);
                return std::nullopt;
            },
            [](const std::size_t& v) { return std::to_string(v); }};
}

Kind<milliseconds> duration(milliseconds lo, milliseconds hi) {
    return {[=](const Raw& raw, milliseconds& out) -> std::optional<std::string> {
                const auto text = text_of(raw);
                const auto v = text ? parse_duration(*text) : std::nullopt;
                if (!v || *v < lo || *v > hi) {
                    return "must be a duration between " + format_duration(lo) + " and " +
                           format_duration(hi) + R"( such as "200ms", "15s" or "2m", got )" + shown(raw);
                }
                out = *v;
                return std::nullopt;
            },
            [](const milliseconds& v) { return in_quotes(format_duration(v)); }};
}

template <typename E>
Kind<E> one_of(std::vector<std::pair<std::string_view, E>> names) {
    return {[=](const Raw& raw, E& out) -> std::optional<std::string> {
                const auto text = text_of(raw);
                for (const auto& [name, value] : names) {
                    if (text == name) {
                        out = value;
                        return std::nullopt;
                    }
                }
                std::string all;
                for (const auto& [name, value] : names) all += (all.empty() ? "" : ", ") + std::string{name};
                return "must be one of " + all + ", got " + shown(raw);
            },
            [=](const E& v) {
                for (const auto& [name, value] : names) {
                    if (value == v) return in_quotes(name);
                }
                return std::string{"\"?\""};
            }};
}

/// A URL whose scheme is one of `schemes`; `need_host` rejects "scheme://" with nothing after.
/// A trailing '/' is dropped so that callers can append "/path".
Kind<std::string> url(std::vector<std::string_view> schemes, bool need_host) {
    return {[=](const Raw& raw, std::string& out) -> std::optional<std::string> {
                const auto text = text_of(raw);
                std::string all;
                for (const auto s : schemes) all += (all.empty() ? "" : " or ") + std::string{s};
                const auto bad = [&](std::string_view why) {
                    return std::string{why} + ", got " + shown(raw, true);
                };
                if (!text) return bad("must be a URL string starting with " + all);
                const auto scheme = std::find_if(schemes.begin(), schemes.end(),
                                                 [&](auto s) { return text->starts_with(s); });
                if (scheme == schemes.end()) return bad("must start with " + all);
                if (need_host && text->size() == scheme->size())
                    return bad("has no host after " + std::string{*scheme});
                if (std::any_of(text->begin(), text->end(),
                                [](unsigned char c) { return c <= ' ' || c == 0x7f; })) {
                    return bad("must not contain spaces or control characters");
                }
                out = *text;
                if (out.size() > scheme->size() + 1 && out.back() == '/') out.pop_back();
                return std::nullopt;
            },
            [](const std::string& v) { return in_quotes(redact_url(v)); }};
}

std::optional<HostPort> parse_host_port(std::string_view s) {
    std::string_view host;
    std::string_view port;
    if (s.starts_with('[')) {
        const auto close = s.find(']');
        if (close == std::string_view::npos || s.substr(close + 1, 1) != ":") return std::nullopt;
        host = s.substr(1, close - 1);
        port = s.substr(close + 2);
    } else {
        const auto colon = s.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return std::nullopt; // IPv6 needs brackets
    }
    const bool host_ok = !host.empty() && std::all_of(host.begin(), host.end(), [&](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '-' || c == '_' || (c == ':' && s[0] == '[');
    });
    std::uint16_t number = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (!host_ok || port.empty() || ec != std::errc{} || ptr != port.data() + port.size())
        return std::nullopt;
    return HostPort{std::string{host}, number};
}

Kind<HostPort> host_port() {
    return {[](const Raw& raw, HostPort& out) -> std::optional<std::string> {
                const auto text = text_of(raw);
                const auto v = text ? parse_host_port(*text) : std::nullopt;
                if (!v) return shown(raw) + R"( is not host:port (such as "127.0.0.1:8080" or "[::1]:8080"))";
                out = *v;
                return std::nullopt;
            },
            [](const HostPort& v) { return in_quotes(v.to_string()); }};
}

Kind<bool> boolean() {
    return {[](const Raw& raw, bool& out) -> std::optional<std::string> {
                if (raw.node) {
                    if (const auto v = raw.node->value_exact<bool>()) {
                        out = *v;
                        return std::nullopt;
                    }
                } else if (raw.env_text == "true" || raw.env_text == "false") {
                    out = raw.env_text == "true";
                    return std::nullopt;
                }
                return "must be true or false, got " + shown(raw);
            },
            [](const bool& v) { return std::string{v ? "true" : "false"}; }};
}

/// An array of strings; from a variable, the strings separated by commas or spaces.
/// `secret`: the values are never shown (format_config prints an empty array and a count).
Kind<std::vector<std::string>> string_list(bool secret) {
    return {[=](const Raw& raw, std::vector<std::string>& out) -> std::optional<std::string> {
                std::vector<std::string> values;
                toml::table from_env;
                const toml::node* node = raw.node;
                if (!node && raw.env_text.starts_with('[')) {
                    try {
                        from_env = toml::parse("v = " + std::string{raw.env_text});
                        node = from_env.get("v");
                    } catch (const toml::parse_error&) {
                        return std::string{"must be a TOML array of strings or strings separated by commas"};
                    }
                }
                if (!node) {
                    std::string_view rest = raw.env_text;
                    while (!rest.empty()) {
                        const auto start = rest.find_first_not_of(", \t");
                        if (start == std::string_view::npos) break;
                        rest.remove_prefix(start);
                        const auto end = rest.find_first_of(", \t");
                        values.emplace_back(rest.substr(0, end));
                        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
                    }
                } else if (const auto* array = node->as_array()) {
                    for (const auto& item : *array) {
                        const auto* text = item.as_string();
                        if (!text) return "must be an array of strings, got an item " + (secret ? "that is not a string" : shown(Raw{&item, {}}));
                        values.push_back(text->get());
                    }
                } else {
                    return "must be an array of strings" + (secret ? std::string{} : ", got " + shown(raw));
                }
                out = std::move(values);
                return std::nullopt;
            },
            [=](const std::vector<std::string>& values) {
                if (secret) return "[]" + (values.empty() ? std::string{} : "  # " + std::to_string(values.size()) + " set, not shown");
                std::string text = "[";
                for (const auto& v : values) text += (text.size() > 1 ? ", " : "") + in_quotes(v);
                return text + "]";
            }};
}

Kind<std::string> plain_string() {
    return {[](const Raw& raw, std::string& out) -> std::optional<std::string> {
                const auto text = text_of(raw);
                if (!text) return "must be a string, got " + shown(raw);
                out = *text;
                return std::nullopt;
            },
            [](const std::string& v) { return in_quotes(v); }};
}

/// `{ "key id" = { per_minute = N, burst = M }, … }`; from a variable, the same inline table.
Kind<std::map<std::string, KeyBudget>> key_budgets() {
    using Budgets = std::map<std::string, KeyBudget>;
    return {[](const Raw& raw, Budgets& out) -> std::optional<std::string> {
                const auto usage = R"(must be a table of key ids, such as { "key-0123456789abcdef" = { per_minute = 30, burst = 3 } })";
                toml::table from_env;
                const toml::table* table = raw.node ? raw.node->as_table() : nullptr;
                if (!raw.node) {
                    try {
                        from_env = toml::parse("v = " + std::string{raw.env_text});
                        table = from_env["v"].as_table();
                    } catch (const toml::parse_error&) {
                    }
                }
                if (!table) return std::string{usage} + ", got " + shown(raw);
                Budgets budgets;
                for (const auto& [id, value] : *table) {
                    const auto where = in_quotes(id.str()) + ": ";
                    const auto* limits = value.as_table();
                    if (!limits) return where + "must be a table such as { per_minute = 30, burst = 3 }, got " + shown(Raw{&value, {}});
                    KeyBudget budget;
                    for (const auto& [name, v] : *limits) {
                        std::optional<std::string> problem;
                        if (name == "per_minute") {
                            problem = integer(1, 60'000).parse(Raw{&v, {}}, budget.per_minute);
                        } else if (name == "burst") {
                            std::size_t burst = 0;
                            problem = integer(1, 10'000).parse(Raw{&v, {}}, burst);
                            budget.burst = burst;
                        } else {
                            problem = "unknown key '" + escaped(name.str()) + "'; a key budget has per_minute, burst";
                        }
                        if (problem) return where + std::string{name.str()} + " " + *problem;
                    }
                    if (!limits->contains("per_minute")) return where + "per_minute is missing";
                    budgets[std::string{id.str()}] = budget;
                }
                out = std::move(budgets);
                return std::nullopt;
            },
            [](const Budgets& budgets) {
                std::string out = "{";
                for (const auto& [id, b] : budgets) {
                    out += (out.size() > 1 ? ", " : " ") + in_quotes(id) + " = { per_minute = " + std::to_string(b.per_minute) +
                           (b.burst ? ", burst = " + std::to_string(*b.burst) : "") + " }";
                }
                return out + (budgets.empty() ? "}" : " }");
            }};
}

const std::vector<Key>& keys() {
    using obs::LogFormat;
    using obs::LogLevel;
    constexpr std::int64_t kib = 1024;
    const auto log = keys_of("log", &Config::log);
    const auto database = keys_of("database", &Config::database);
    const auto redis = keys_of("redis", &Config::redis);
    const auto thingspeak = keys_of("thingspeak", &Config::thingspeak);
    const auto http = keys_of("http", &Config::http);
    const auto auth = keys_of("auth", &Config::auth);
    static const std::vector<Key> table{
        log("level", &LogConfig::level,
            one_of<LogLevel>({{"trace", LogLevel::trace},
                              {"debug", LogLevel::debug},
                              {"info", LogLevel::info},
                              {"warn", LogLevel::warn},
                              {"error", LogLevel::error}})),
        log("format", &LogConfig::format,
            one_of<LogFormat>({{"json", LogFormat::json}, {"text", LogFormat::text}})),
        database("url", &DatabaseConfig::url, url({"postgresql://", "postgres://"}, false)),
        database("writer_queue", &DatabaseConfig::writer_queue, integer(1, 10'000'000)),
        database("batch_size", &DatabaseConfig::batch_size, integer(1, 100'000)),
        database("batch_interval", &DatabaseConfig::batch_interval, duration(1ms, 1min)),
        database("history_connections", &DatabaseConfig::history_connections, integer(1, 32)),
        database("history_timeout", &DatabaseConfig::history_timeout, duration(10ms, 1min)),
        redis("url", &RedisConfig::url, url({"redis://"}, true)),
        redis("connect_timeout", &RedisConfig::connect_timeout, duration(1ms, 5min)),
        redis("replay_max_messages", &RedisConfig::replay_max_messages, integer(1, 1'000'000)),
        redis("replay_ttl", &RedisConfig::replay_ttl, duration(1s, 7 * 24h)),
        thingspeak("base_url", &ThingSpeakConfig::base_url, url({"http://", "https://"}, true)),
        thingspeak("request_timeout", &ThingSpeakConfig::request_timeout, duration(1ms, 5min)),
        thingspeak("max_body_bytes", &ThingSpeakConfig::max_body_bytes, integer(kib, kib * kib * kib)),
        thingspeak("max_concurrent_polls", &ThingSpeakConfig::max_concurrent_polls, integer(1, 256)),
        thingspeak("budget_per_minute", &ThingSpeakConfig::budget_per_minute, integer(1, 60'000)),
        thingspeak("budget_burst", &ThingSpeakConfig::budget_burst, integer(1, 10'000)),
        thingspeak("key_budgets", &ThingSpeakConfig::key_budgets, key_budgets()),
        thingspeak("breaker_failures", &ThingSpeakConfig::breaker_failures, integer(1, 1'000)),
        thingspeak("breaker_cool_down", &ThingSpeakConfig::breaker_cool_down, duration(1s, 1h)),
        thingspeak("breaker_max_cool_down", &ThingSpeakConfig::breaker_max_cool_down, duration(1s, 24h)),
        thingspeak("backoff_max", &ThingSpeakConfig::backoff_max, duration(1s, 24h)),
        thingspeak("priority_step", &ThingSpeakConfig::priority_step, duration(1s, 1h)),
        thingspeak("history", &ThingSpeakConfig::history, duration(0ms, 90 * 24h)),
        http("listen", &HttpConfig::listen, host_port()),
        http("max_ws_message_bytes", &HttpConfig::max_ws_message_bytes, integer(128, 16 * kib * kib)),
        http("ws_send_queue_bytes", &HttpConfig::ws_send_queue_bytes, integer(4 * kib, kib * kib * kib)),
        http("ws_write_timeout", &HttpConfig::ws_write_timeout, duration(100ms, 5min)),
        http("origins", &HttpConfig::origins, string_list(false)),
        http("allow_missing_origin", &HttpConfig::allow_missing_origin, boolean()),
        http("max_connections", &HttpConfig::max_connections, integer(1, 1'000'000)),
        http("max_connections_per_ip", &HttpConfig::max_connections_per_ip, integer(1, 1'000'000)),
        http("ws_deflate", &HttpConfig::ws_deflate, boolean()),
        http("ws_deflate_threshold_bytes", &HttpConfig::ws_deflate_threshold_bytes, integer(0, kib * kib)),
        http("ws_deflate_window_bits", &HttpConfig::ws_deflate_window_bits, integer(9, 15)),
        auth("mode", &AuthConfig::mode, one_of<AuthMode>({{"token", AuthMode::token}, {"none", AuthMode::none}})),
        auth("secrets", &AuthConfig::secrets, string_list(true)),
        auth("secret_file", &AuthConfig::secret_file, plain_string()),
    };
    return table;
}

std::string env_var(const Key& key) {
    std::string name = "FLOWGATE_" + std::string{key.section} + "_" + std::string{key.name};
    for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return name;
}

/// "a, b, c": the keys of one section, or the sections when `section` is empty.
std::string known_names(std::string_view section) {
    std::string out;
    std::string_view last;
    for (const auto& key : keys()) {
        const auto name = section.empty() ? key.section : key.name;
        if ((!section.empty() && key.section != section) || name == last) continue;
        out += (out.empty() ? "" : ", ") + std::string{name};
        last = name;
    }
    return out;
}

/// Problems in the order an operator reads them: the file top to bottom, then the variables.
class Problems {
public:
    explicit Problems(std::string_view source) : source_{source} {}

    void at(const toml::source_region& where, const std::string& what) {
        const auto [line, column] = std::pair{where.begin.line, where.begin.column};
        add({0, line, column},
            source_ + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + what);
    }
    void in_file(const std::string& what) { add({1, 0, 0}, source_ + ": " + what); }
    void in_env(const std::string& var, const std::string& what) { add({2, 0, 0}, var + ": " + what); }

    bool empty() const { return list_.empty(); }

    void throw_if_any() {
        if (list_.empty()) return;
        std::stable_sort(list_.begin(), list_.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        std::vector<std::string> out;
        for (auto& [order, text] : list_) out.push_back(std::move(text));
        throw ConfigError{std::move(out)};
    }

private:
    using Order = std::tuple<int, toml::source_index, toml::source_index>;
    void add(Order order, std::string text) { list_.emplace_back(order, std::move(text)); }

    std::string source_;
    std::vector<std::pair<Order, std::string>> list_;
};

const Key* find_key(std::string_view section, std::string_view name) {
    for (const auto& key : keys()) {
        if (key.section == section && (name.empty() || key.name == name)) return &key;
    }
    return nullptr;
}

void check_unknown(const toml::table& root, Problems& problems) {
    for (const auto& [section, node] : root) {
        const auto where = escaped(section.str());
        if (!find_key(section.str(), "")) {
            const auto what =
                node.is_table() ? "unknown section [" + where + "]" : "unknown key '" + where + "'";
            problems.at(section.source(), what + "; the sections are " + known_names(""));
            continue;
        }
        const auto* table = node.as_table();
        if (!table) {
            problems.at(node.source(),
                        where + ": must be a table, written [" + where + "], got " + shown(Raw{&node, {}}));
            continue;
        }
        for (const auto& [name, value] : *table) {
            if (find_key(section.str(), name.str())) continue;
            problems.at(name.source(), "unknown key '" + where + "." + escaped(name.str()) + "'; [" + where +
                                           "] has " + known_names(section.str()));
        }
    }
}

} // namespace

std::string HostPort::to_string() const {
    const auto port_text = ":" + std::to_string(port);
    return host.find(':') == std::string::npos ? host + port_text : "[" + host + "]" + port_text;
}

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error{[&] {
          std::string text;
          for (const auto& p : problems) text += (text.empty() ? "" : "\n") + p;
          return text;
      }()},
      problems_{std::move(problems)} {}

Environment process_environment() {
    return [](std::string_view name) -> std::optional<std::string> {
        const char* value = std::getenv(std::string{name}.c_str());
        if (!value) return std::nullopt;
        return std::string{value};
    };
}

Environment map_environment(std::map<std::string, std::string, std::less<>> variables) {
    return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
        const auto it = variables.find(name);
        if (it == variables.end()) return std::nullopt;
        return it->second;
    };
}

std::vector<ConfigKey> config_keys() {
    std::vector<ConfigKey> out;
    for (const auto& key : keys()) {
        out.push_back({std::string{key.section} + "." + std::string{key.name}, env_var(key)});
    }
    return out;
}

Config parse_config(std::string_view toml_text, std::string_view source_name, const Environment& env) {
    Problems problems{source_name};
    toml::table root;
    try {
        root = toml::parse(toml_text, source_name);
    } catch (const toml::parse_error& e) {
        // The description may quote the text around the error, which may hold a password.
        problems.at(e.source(), "TOML syntax error: " + obs::redact_secrets(e.description()));
    }
    check_unknown(root, problems);

    Config config;
    for (const auto& key : keys()) {
        if (const auto* node = root[key.section][key.name].node()) {
            if (auto problem = key.parse(Raw{node, {}}, config)) {
                problems.at(node->source(),
                            std::string{key.section} + "." + std::string{key.name} + ": " + *problem);
            }
        }
        const auto var = env_var(key);
        if (const auto value = env(var)) {
            if (auto problem = key.parse(Raw{nullptr, *value}, config)) problems.in_env(var, *problem);
        }
    }
    // Compared only when both values are valid, or a rejected one would be compared by its default.
    if (problems.empty() && config.database.batch_size > config.database.writer_queue) {
        problems.in_file("database.batch_size (" + std::to_string(config.database.batch_size) +
                         ") must not exceed database.writer_queue (" +
                         std::to_string(config.database.writer_queue) + ")");
    }
    if (problems.empty() && config.thingspeak.breaker_max_cool_down < config.thingspeak.breaker_cool_down) {
        problems.in_file("thingspeak.breaker_max_cool_down (" + format_duration(config.thingspeak.breaker_max_cool_down) +
                         ") must be at least thingspeak.breaker_cool_down (" +
                         format_duration(config.thingspeak.breaker_cool_down) + ")");
    }
    problems.throw_if_any();
    return config;
}

std::vector<std::string> load_token_secrets(const AuthConfig& auth) {
    std::vector<std::string> problems;
    auto secrets = auth.secrets;
    if (!auth.secret_file.empty()) {
        std::ifstream in{auth.secret_file, std::ios::binary};
        if (!in || std::filesystem::is_directory(auth.secret_file)) {
            const std::string why = in ? "it is a directory" : std::strerror(errno);
            throw ConfigError{{"auth.secret_file: cannot read " + auth.secret_file + ": " + why}};
        }
        for (std::string line; std::getline(in, line);) {
            const auto start = line.find_first_not_of(" \t\r");
            if (start == std::string::npos || line[start] == '#') continue;
            const auto end = line.find_last_not_of(" \t\r");
            secrets.push_back(line.substr(start, end - start + 1));
        }
    }
    for (std::size_t i = 0; i < secrets.size(); ++i) {
        if (secrets[i].size() < 32) {
            problems.push_back("auth: secret " + std::to_string(i + 1) + " of " + std::to_string(secrets.size()) + " is " +
                               std::to_string(secrets[i].size()) +
                               " bytes; a token secret needs at least 32 (make one with: openssl rand -hex 32)");
        }
    }
    if (auth.mode == AuthMode::token && secrets.empty()) {
        problems.push_back("auth.mode is \"token\" but no secret is set: set FLOWGATE_AUTH_SECRETS or auth.secret_file "
                           "(or auth.mode = \"none\" on a closed network)");
    }
    if (!problems.empty()) throw ConfigError{std::move(problems)};
    return secrets;
}

Config load_config_file(const std::filesystem::path& path, const Environment& env) {
    std::ifstream in{path, std::ios::binary};
    // Opening a directory succeeds and reads as empty, which would pass as "all defaults".
    if (!in || std::filesystem::is_directory(path)) {
        const std::string why = in ? "it is a directory" : std::strerror(errno);
        throw ConfigError{{path.string() + ": cannot read the file: " + why}};
    }
    const std::string text{std::istreambuf_iterator<char>{in}, {}};
    return parse_config(text, path.string(), env);
}

std::string format_config(const Config& config) {
    std::string out;
    std::string_view section;
    for (const auto& key : keys()) {
        if (key.section != section) {
            out += (section.empty() ? "[" : "\n[") + std::string{key.section} + "]\n";
            section = key.section;
        }
        out += std::string{key.name} + " = " + key.show(config) + "\n";
    }
    return out;
}

} // namespace flowgate::config
