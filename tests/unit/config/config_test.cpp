#include "flowgate/config/config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace flowgate::config {
namespace {

using namespace std::chrono_literals;

const std::string example_path = FLOWGATE_SOURCE_DIR "/config/flowgate.example.toml";

Environment no_env() { return map_environment({}); }

Config parse(std::string_view toml, const Environment& env = no_env()) {
    return parse_config(toml, "flowgate.toml", env);
}

/// The problems parse_config reports; a test failure when it reports none.
std::vector<std::string> problems_of(std::string_view toml, const Environment& env = no_env()) {
    try {
        parse(toml, env);
    } catch (const ConfigError& e) {
        return e.problems();
    }
    ADD_FAILURE() << "no ConfigError for:\n" << toml;
    return {};
}

/// The one problem reported; a test failure when there are none or several.
std::string problem_of(std::string_view toml, const Environment& env = no_env()) {
    const auto all = problems_of(toml, env);
    EXPECT_EQ(all.size(), 1u) << ::testing::PrintToString(all);
    return all.empty() ? std::string{} : all.front();
}

std::string read_file(const std::string& path) {
    std::ifstream in{path};
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Every key set to something other than its default.
constexpr std::string_view every_key = R"(
[log]
level = "debug"
format = "text"

[database]
url = "postgres://writer@db.example:5432/water"
writer_queue = 2000
batch_size = 100
batch_interval = "1s"

[redis]
url = "redis://cache.example:6379"
connect_timeout = "500ms"
replay_max_messages = 500
replay_ttl = "10m"

[thingspeak]
base_url = "http://127.0.0.1:18080"
request_timeout = "3s"
max_body_bytes = 65536
key_budgets = { "key-00112233aabbccdd" = { per_minute = 30, burst = 3 }, "127.0.0.1:18080" = { per_minute = 600 } }

[http]
listen = "0.0.0.0:9090"
max_ws_message_bytes = 4096
ws_send_queue_bytes = 65536
ws_write_timeout = "2s"
origins = ["https://ops.example.org", "http://localhost:3000"]
allow_missing_origin = false
max_connections = 500
max_connections_per_ip = 20
ws_deflate = false
ws_deflate_threshold_bytes = 1024
ws_deflate_window_bits = 12

[auth]
mode = "none"
secret_file = "/etc/flowgate/secrets"
)";

TEST(ConfigDefaults, EmptyFileGivesTheDocumentedDefaults) {
    const auto config = parse("");
    EXPECT_EQ(config, Config{});
    EXPECT_EQ(config.log.level, obs::LogLevel::info);
    EXPECT_EQ(config.log.format, obs::LogFormat::json);
    EXPECT_EQ(config.database.url, "postgresql://flowgate@127.0.0.1:55432/flowgate");
    EXPECT_EQ(config.database.writer_queue, 10'000u);
    EXPECT_EQ(config.database.batch_size, 500u);
    EXPECT_EQ(config.database.batch_interval, 50ms);
    EXPECT_EQ(config.database.history_connections, 2u);
    EXPECT_EQ(config.database.history_timeout, 5s);
    EXPECT_EQ(config.redis.url, "redis://127.0.0.1:56379");
    EXPECT_EQ(config.redis.connect_timeout, 2s);
    EXPECT_EQ(config.thingspeak.base_url, "https://api.thingspeak.com");
    EXPECT_EQ(config.thingspeak.request_timeout, 10s);
    EXPECT_EQ(config.thingspeak.max_body_bytes, 8u * 1024 * 1024);
    EXPECT_EQ(config.http.listen, (HostPort{"127.0.0.1", 8080}));
    EXPECT_EQ(config.http.max_ws_message_bytes, 64u * 1024);
    EXPECT_EQ(config.http.ws_send_queue_bytes, 1024u * 1024);
    EXPECT_EQ(config.http.ws_write_timeout, 10s);
    EXPECT_EQ(config.redis.replay_max_messages, 10'000u);
    EXPECT_EQ(config.redis.replay_ttl, 1h);
}

TEST(ConfigDefaults, CommentsAndEmptySectionsAreFine) {
    EXPECT_EQ(parse("# nothing yet\n\n[log]\n[http]\n"), Config{});
}

TEST(ConfigParse, EveryKeyIsRead) {
    const auto config = parse(every_key);
    EXPECT_EQ(config.log.level, obs::LogLevel::debug);
    EXPECT_EQ(config.log.format, obs::LogFormat::text);
    EXPECT_EQ(config.database.url, "postgres://writer@db.example:5432/water");
    EXPECT_EQ(config.database.writer_queue, 2000u);
    EXPECT_EQ(config.database.batch_size, 100u);
    EXPECT_EQ(config.database.batch_interval, 1s);
    EXPECT_EQ(config.redis.url, "redis://cache.example:6379");
    EXPECT_EQ(config.redis.connect_timeout, 500ms);
    EXPECT_EQ(config.thingspeak.base_url, "http://127.0.0.1:18080");
    EXPECT_EQ(config.thingspeak.request_timeout, 3s);
    EXPECT_EQ(config.thingspeak.max_body_bytes, 65536u);
    EXPECT_EQ(config.thingspeak.key_budgets,
              (std::map<std::string, KeyBudget>{{"key-00112233aabbccdd", {30, 3}}, {"127.0.0.1:18080", {600, {}}}}));
    EXPECT_EQ(config.http.listen, (HostPort{"0.0.0.0", 9090}));
    EXPECT_EQ(config.http.max_ws_message_bytes, 4096u);
    EXPECT_EQ(config.http.ws_send_queue_bytes, 65536u);
    EXPECT_EQ(config.http.ws_write_timeout, 2s);
    EXPECT_EQ(config.http.origins, (std::vector<std::string>{"https://ops.example.org", "http://localhost:3000"}));
    EXPECT_FALSE(config.http.allow_missing_origin);
    EXPECT_EQ(config.http.max_connections, 500u);
    EXPECT_EQ(config.http.max_connections_per_ip, 20u);
    EXPECT_FALSE(config.http.ws_deflate);
    EXPECT_EQ(config.http.ws_deflate_threshold_bytes, 1024u);
    EXPECT_EQ(config.http.ws_deflate_window_bits, 12u);
    EXPECT_EQ(config.auth.mode, AuthMode::none);
    EXPECT_EQ(config.auth.secret_file, "/etc/flowgate/secrets");
    EXPECT_EQ(config.redis.replay_max_messages, 500u);
    EXPECT_EQ(config.redis.replay_ttl, 10min);
}

TEST(ConfigParse, DottedKeysAreTheSameAsSections) {
    EXPECT_EQ(parse("log.level = \"warn\"\nhttp.ws_send_queue_bytes = 8192\n").log.level, obs::LogLevel::warn);
}

TEST(ConfigParse, AllLogLevelsAndDurationUnits) {
    EXPECT_EQ(parse("log.level = \"trace\"").log.level, obs::LogLevel::trace);
    EXPECT_EQ(parse("log.level = \"error\"").log.level, obs::LogLevel::error);
    EXPECT_EQ(parse("redis.connect_timeout = \"2m\"").redis.connect_timeout, 2min);
    EXPECT_EQ(parse("redis.connect_timeout = \"1ms\"").redis.connect_timeout, 1ms);
}

TEST(ConfigParse, ListenAcceptsNamesAddressesIpv6AndPortZero) {
    const auto listen = [](std::string_view v) {
        return parse("http.listen = \"" + std::string{v} + "\"").http.listen;
    };
    EXPECT_EQ(listen("localhost:80"), (HostPort{"localhost", 80}));
    EXPECT_EQ(listen("[::1]:8080"), (HostPort{"::1", 8080}));
    EXPECT_EQ(listen("0.0.0.0:0"), (HostPort{"0.0.0.0", 0}));
    EXPECT_EQ(listen("h:65535").port, 65535);
}

TEST(ConfigParse, HostPortPrintsBracketsForIpv6) {
    EXPECT_EQ((HostPort{"127.0.0.1", 8080}).to_string(), "127.0.0.1:8080");
    EXPECT_EQ((HostPort{"::1", 0}).to_string(), "[::1]:0");
}

TEST(ConfigParse, TrailingSlashOfBaseUrlIsDropped) {
    EXPECT_EQ(parse("thingspeak.base_url = \"http://127.0.0.1:18080/\"").thingspeak.base_url,
              "http://127.0.0.1:18080");
}

TEST(ConfigExample, ExampleFileLoadsCleanlyAndHoldsTheDefaults) {
    EXPECT_EQ(load_config_file(example_path, no_env()), Config{});
}

TEST(ConfigExample, ExampleFileSetsEveryKeyInItsSection) {
    const auto text = read_file(example_path);
    ASSERT_FALSE(text.empty()) << example_path;
    for (const auto& key : config_keys()) {
        const auto dot = key.name.find('.');
        const auto header = "\n[" + key.name.substr(0, dot) + "]\n";
        const auto section = text.find(header);
        ASSERT_NE(section, std::string::npos) << header;
        const auto section_end = text.find("\n[", section + 1);
        const auto at = text.find("\n" + key.name.substr(dot + 1) + " = ", section);
        EXPECT_TRUE(at != std::string::npos && at < section_end) << key.name << " missing from the example";
    }
}

TEST(ConfigKeys, EnvironmentNamesAreDerivedFromTheKeys) {
    const auto keys = config_keys();
    EXPECT_EQ(keys.size(), 39u);
    for (const auto& key : keys) {
        std::string expected = "FLOWGATE_" + key.name;
        std::replace(expected.begin(), expected.end(), '.', '_');
        std::transform(expected.begin(), expected.end(), expected.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        EXPECT_EQ(key.env_var, expected);
    }
    const auto has = [&](std::string_view name, std::string_view env) {
        return std::any_of(keys.begin(), keys.end(),
                           [&](const auto& k) { return k.name == name && k.env_var == env; });
    };
    EXPECT_TRUE(has("database.url", "FLOWGATE_DATABASE_URL"));
    EXPECT_TRUE(has("http.listen", "FLOWGATE_HTTP_LISTEN"));
    EXPECT_TRUE(has("log.level", "FLOWGATE_LOG_LEVEL"));
    EXPECT_TRUE(has("thingspeak.max_body_bytes", "FLOWGATE_THINGSPEAK_MAX_BODY_BYTES"));
}

TEST(ConfigEnvironment, VariablesOverrideTheFile) {
    const auto env = map_environment({
        {"FLOWGATE_LOG_LEVEL", "error"},
        {"FLOWGATE_DATABASE_URL", "postgresql://writer:s3cret@db/water"},
        {"FLOWGATE_DATABASE_BATCH_SIZE", "42"},
        {"FLOWGATE_DATABASE_BATCH_INTERVAL", "1s"},
        {"FLOWGATE_HTTP_LISTEN", "[::1]:0"},
    });
    const auto config = parse(every_key, env);
    EXPECT_EQ(config.log.level, obs::LogLevel::error);
    EXPECT_EQ(config.database.url, "postgresql://writer:s3cret@db/water");
    EXPECT_EQ(config.database.batch_size, 42u);
    EXPECT_EQ(config.database.batch_interval, 1s);
    EXPECT_EQ(config.http.listen, (HostPort{"::1", 0}));
    EXPECT_EQ(config.log.format, obs::LogFormat::text) << "keys without a variable keep the file's value";
}

TEST(ConfigEnvironment, EveryKeyCanBeSetFromTheEnvironmentAlone) {
    const auto wanted = parse(every_key);
    std::map<std::string, std::string, std::less<>> vars;
    std::istringstream shown{format_config(wanted)};
    std::string section;
    for (std::string line; std::getline(shown, line);) {
        if (line.starts_with('[')) section = line.substr(1, line.size() - 2);
        const auto eq = line.find(" = ");
        if (eq == std::string::npos) continue;
        auto value = line.substr(eq + 3);
        if (value.starts_with('"')) value = value.substr(1, value.size() - 2);
        const auto name = section + "." + line.substr(0, eq);
        for (const auto& key : config_keys()) {
            if (key.name == name) vars[key.env_var] = value;
        }
    }
    ASSERT_EQ(vars.size(), config_keys().size());
    EXPECT_EQ(parse("", map_environment(vars)), wanted);
}

TEST(ConfigAuth, SecretsComeFromTheEnvironmentOrAFileAndAreNeverShown) {
    const std::string a(32, 'a');
    const std::string b(40, 'b');
    const auto config = parse("", map_environment({{"FLOWGATE_AUTH_SECRETS", a + ", " + b}}));
    EXPECT_EQ(config.auth.secrets, (std::vector<std::string>{a, b}));
    const auto shown = format_config(config);
    EXPECT_EQ(shown.find(a), std::string::npos) << shown;
    EXPECT_NE(shown.find("secrets = []  # 2 set, not shown"), std::string::npos) << shown;
    EXPECT_EQ(load_token_secrets(config.auth), (std::vector<std::string>{a, b}));

    const auto file = std::filesystem::temp_directory_path() / ("flowgate-secrets-" + std::to_string(::getpid()));
    std::ofstream{file} << "# newest first\n" << b << "\n\n  " << a << "  \n";
    AuthConfig from_file;
    from_file.secret_file = file.string();
    EXPECT_EQ(load_token_secrets(from_file), (std::vector<std::string>{b, a}));
    std::filesystem::remove(file);
}

TEST(ConfigAuth, TokenModeWithoutAGoodSecretSaysWhatToDo) {
    const auto problems = [](const AuthConfig& auth) {
        try {
            load_token_secrets(auth);
        } catch (const ConfigError& e) {
            return std::string{e.what()};
        }
        return std::string{"accepted"};
    };
    EXPECT_EQ(problems(AuthConfig{}),
              "auth.mode is \"token\" but no secret is set: set FLOWGATE_AUTH_SECRETS or auth.secret_file "
              "(or auth.mode = \"none\" on a closed network)");
    AuthConfig short_secret;
    short_secret.secrets = {"hunter2"};
    const auto why = problems(short_secret);
    EXPECT_EQ(why, "auth: secret 1 of 1 is 7 bytes; a token secret needs at least 32 (make one with: openssl rand -hex 32)");
    EXPECT_EQ(why.find("hunter2"), std::string::npos);
    AuthConfig missing_file;
    missing_file.secret_file = "/nonexistent/flowgate-secrets";
    EXPECT_EQ(problems(missing_file), "auth.secret_file: cannot read /nonexistent/flowgate-secrets: No such file or directory");
    AuthConfig none;
    none.mode = AuthMode::none;
    EXPECT_EQ(problems(none), "accepted");
}

TEST(ConfigEnvironment, ProcessEnvironmentReadsGetenv) {
    const auto env = process_environment();
    EXPECT_EQ(env("FLOWGATE_TEST_SURELY_NOT_SET_4711"), std::nullopt);
    ASSERT_EQ(::setenv("FLOWGATE_TEST_PROCESS_ENV", "yes", 1), 0);
    EXPECT_EQ(env("FLOWGATE_TEST_PROCESS_ENV"), "yes");
    ::unsetenv("FLOWGATE_TEST_PROCESS_ENV");
}

TEST(ConfigEnvironment, BadVariableIsNamedInTheError) {
    EXPECT_EQ(problem_of("", map_environment({{"FLOWGATE_HTTP_LISTEN", "localhost"}}))
                  .rfind("FLOWGATE_HTTP_LISTEN: 'localhost' is not host:port", 0),
              0u);
    EXPECT_EQ(problem_of("", map_environment({{"FLOWGATE_DATABASE_BATCH_SIZE", "12abc"}})),
              "FLOWGATE_DATABASE_BATCH_SIZE: must be an integer between 1 and 100000, got '12abc'");
    EXPECT_EQ(problem_of("", map_environment({{"FLOWGATE_LOG_FORMAT", ""}})),
              "FLOWGATE_LOG_FORMAT: must be one of json, text, got ''");
}

TEST(ConfigErrors, UnknownKeyIsNamedWithItsLine) {
    EXPECT_EQ(problem_of("[thingspeak]\nrequest_timeout = \"5s\"\nbse_url = \"http://x\"\n"),
              "flowgate.toml:3:1: unknown key 'thingspeak.bse_url'; [thingspeak] has base_url, "
              "request_timeout, max_body_bytes, max_concurrent_polls, budget_per_minute, budget_burst, "
              "key_budgets, breaker_failures, breaker_cool_down, breaker_max_cool_down, backoff_max, priority_step, history");
}

TEST(ConfigErrors, UnknownSectionIsNamedWithItsLine) {
    EXPECT_EQ(
        problem_of("\n[databse]\nurl = \"postgresql://h/db\"\n")
            .rfind("flowgate.toml:2:2: unknown section [databse]; the sections are log, database, redis, "
                   "thingspeak, http",
                   0),
        0u);
}

TEST(ConfigErrors, KeyOutsideAnySectionIsUnknown) {
    EXPECT_EQ(problem_of("level = \"info\"\n").rfind("flowgate.toml:1:1: unknown key 'level'", 0), 0u);
}

TEST(ConfigErrors, SectionThatIsNotATable) {
    EXPECT_EQ(problem_of("log = \"debug\"\n"),
              "flowgate.toml:1:7: log: must be a table, written [log], got \"debug\"");
}

TEST(ConfigErrors, WrongTypesAreErrors) {
    EXPECT_EQ(
        problem_of("[database]\nbatch_size = \"500\"\n"),
        "flowgate.toml:2:14: database.batch_size: must be an integer between 1 and 100000, got \"500\"");
    EXPECT_EQ(problem_of("[http]\nws_send_queue_bytes = 1.5\n"),
              "flowgate.toml:2:23: http.ws_send_queue_bytes: must be an integer between 4096 and 1073741824, got 1.5");
    EXPECT_EQ(problem_of("[log]\nlevel = 3\n"),
              "flowgate.toml:2:9: log.level: must be one of trace, debug, info, warn, error, got 3");
    EXPECT_NE(problem_of("[database]\nbatch_interval = 200\n")
                  .find("database.batch_interval: must be a duration between 1ms and 1m"),
              std::string::npos);
    EXPECT_NE(problem_of("[http]\nlisten = 8080\n").find("http.listen: 8080 is not host:port"),
              std::string::npos);
    EXPECT_NE(problem_of("[redis]\nurl = [\"redis://a\"]\n").find("redis.url: must be a URL string"),
              std::string::npos);
    EXPECT_NE(problem_of("[log]\nformat = { a = 1 }\n").find("got a table"), std::string::npos);
}

TEST(ConfigErrors, OutOfRangeValuesAreErrors) {
    EXPECT_EQ(problem_of("[database]\nbatch_size = -3\n"),
              "flowgate.toml:2:14: database.batch_size: must be an integer between 1 and 100000, got -3");
    for (const auto* toml : {
             "database.batch_size = 0",
             "database.batch_size = 100001",
             "database.writer_queue = 0",
             "database.writer_queue = 10000001",
             "thingspeak.max_body_bytes = 1023",
             "http.max_ws_message_bytes = 16777217",
             "http.ws_send_queue_bytes = 4095",
             "http.ws_write_timeout = \"99ms\"",
             "redis.replay_max_messages = 0",
             "redis.replay_ttl = \"8d\"",
             "database.batch_interval = \"0ms\"",
             "database.batch_interval = \"61s\"",
             "database.history_connections = 0",
             "database.history_connections = 33",
             "database.history_timeout = \"9ms\"",
             "redis.connect_timeout = \"6m\"",
             "thingspeak.request_timeout = \"10 s\"",
             "thingspeak.request_timeout = \"10\"",
             "thingspeak.request_timeout = \"-1s\"",
             "log.level = \"verbose\"",
             "log.level = \"INFO\"",
             "log.level = \"off\"",
             "log.format = \"yaml\"",
             "thingspeak.max_concurrent_polls = 0",
             "thingspeak.max_concurrent_polls = 257",
             "thingspeak.budget_per_minute = 0",
             "thingspeak.budget_burst = 0",
             "thingspeak.breaker_failures = 0",
             "thingspeak.breaker_cool_down = \"500ms\"",
             "thingspeak.backoff_max = \"25h\"",
             "thingspeak.priority_step = \"2h\"",
             "thingspeak.history = \"91d\"",
         }) {
        SCOPED_TRACE(toml);
        const auto key = std::string{toml}.substr(0, std::string{toml}.find(' '));
        EXPECT_NE(problem_of(toml).find(key + ": must be"), std::string::npos);
    }
}

TEST(ConfigParse, KeyBudgetsAreWrittenAsASectionOrFromAVariable) {
    const auto config = parse("[thingspeak.key_budgets]\n\"key-0123456789abcdef\" = { per_minute = 6 }\n"
                              "\"api.thingspeak.com\" = { per_minute = 600, burst = 20 }\n");
    EXPECT_EQ(config.thingspeak.key_budgets,
              (std::map<std::string, KeyBudget>{{"key-0123456789abcdef", {6, {}}}, {"api.thingspeak.com", {600, 20}}}));
    const auto env = map_environment({{"FLOWGATE_THINGSPEAK_KEY_BUDGETS", R"({ "key-1" = { per_minute = 1, burst = 1 } })"}});
    EXPECT_EQ(parse("", env).thingspeak.key_budgets, (std::map<std::string, KeyBudget>{{"key-1", {1, 1}}}));
}

TEST(ConfigErrors, BadKeyBudgetsSayWhatIsWrong) {
    const auto section = [](std::string_view body) { return "[thingspeak.key_budgets]\n" + std::string{body} + "\n"; };
    EXPECT_EQ(problem_of(section(R"("k" = { per_minute = 0 })")),
              "flowgate.toml:1:1: thingspeak.key_budgets: \"k\": per_minute must be an integer between 1 and 60000, got 0");
    EXPECT_NE(problem_of(section(R"("k" = { burst = 3 })")).find("\"k\": per_minute is missing"), std::string::npos);
    EXPECT_NE(problem_of(section(R"("k" = { per_minute = 5, rate = 3 })")).find("\"k\": rate unknown key 'rate'"),
              std::string::npos);
    EXPECT_NE(problem_of(section(R"("k" = 30)")).find("\"k\": must be a table such as { per_minute = 30, burst = 3 }, got 30"),
              std::string::npos);
    EXPECT_NE(problem_of("thingspeak.key_budgets = 5").find("thingspeak.key_budgets: must be a table of key ids"),
              std::string::npos);
    EXPECT_EQ(problem_of("", map_environment({{"FLOWGATE_THINGSPEAK_KEY_BUDGETS", "30/min"}})).rfind(
                  "FLOWGATE_THINGSPEAK_KEY_BUDGETS: must be a table of key ids", 0),
              0u);
}

TEST(ConfigErrors, IntegerBeyond64BitsIsAnError) {
    EXPECT_NE(problem_of("database.batch_size = 99999999999999999999").find("not representable in 64 bits"),
              std::string::npos);
}

TEST(ConfigErrors, TheLargestAndSmallestValuesAreAccepted) {
    EXPECT_NO_THROW(parse("database.batch_size = 100000\ndatabase.writer_queue = 10000000\n"
                          "thingspeak.max_body_bytes = 1024\nhttp.max_ws_message_bytes = 16777216\n"
                          "database.batch_interval = \"1m\"\nredis.connect_timeout = \"5m\"\n"
                          "database.history_connections = 32\ndatabase.history_timeout = \"1m\"\n"));
    EXPECT_NO_THROW(parse("database.batch_size = 1\ndatabase.writer_queue = 1\nhttp.ws_send_queue_bytes = 4096\n"
                          "redis.replay_max_messages = 1\nredis.replay_ttl = \"1s\"\n"));
}

TEST(ConfigErrors, BatchLargerThanTheQueueIsAnError) {
    EXPECT_EQ(problem_of("[database]\nwriter_queue = 100\nbatch_size = 500\n"),
              "flowgate.toml: database.batch_size (500) must not exceed database.writer_queue (100)");
}

TEST(ConfigErrors, MaxCoolDownShorterThanTheCoolDownIsAnError) {
    EXPECT_EQ(problem_of("[thingspeak]\nbreaker_cool_down = \"2m\"\nbreaker_max_cool_down = \"1m\"\n"),
              "flowgate.toml: thingspeak.breaker_max_cool_down (1m) must be at least thingspeak.breaker_cool_down (2m)");
}

TEST(ConfigErrors, BadUrlSchemesAreErrors) {
    EXPECT_EQ(problem_of("[thingspeak]\nbase_url = \"ftp://api.thingspeak.com\"\n"),
              "flowgate.toml:2:12: thingspeak.base_url: must start with http:// or https://, got "
              "\"ftp://api.thingspeak.com\"");
    EXPECT_NE(problem_of("thingspeak.base_url = \"api.thingspeak.com\"").find("must start with http://"),
              std::string::npos);
    EXPECT_NE(problem_of("thingspeak.base_url = \"https://\"").find("has no host"), std::string::npos);
    EXPECT_NE(problem_of("thingspeak.base_url = \"https://a b\"").find("must not contain spaces"),
              std::string::npos);
    EXPECT_NE(
        problem_of("database.url = \"mysql://h/db\"").find("must start with postgresql:// or postgres://"),
        std::string::npos);
    EXPECT_NE(problem_of("redis.url = \"http://h:6379\"").find("must start with redis://"),
              std::string::npos);
    EXPECT_NE(problem_of("redis.url = \"redis://\"").find("has no host"), std::string::npos);
}

TEST(ConfigErrors, BadListenAddressesAreErrors) {
    for (const auto* listen : {"localhost", ":8080", "localhost:", "h:65536", "h:-1", "h:80x", "::1:80",
                               "[::1]8080", "[::1", "a b:80", "h:8080 ", ""}) {
        SCOPED_TRACE(listen);
        EXPECT_NE(problem_of("http.listen = \"" + std::string{listen} + "\"")
                      .find("http.listen: \"" + std::string{listen} + "\" is not host:port"),
                  std::string::npos);
    }
}

TEST(ConfigErrors, SyntaxErrorsGiveLineAndColumn) {
    const auto problem = problem_of("[log]\nlevel = \n");
    EXPECT_EQ(problem.rfind("flowgate.toml:2:", 0), 0u) << problem;
    EXPECT_NE(problem.find("TOML syntax error"), std::string::npos) << problem;
    EXPECT_EQ(problem_of("[log]\nlevel = \"info\"\nlevel = \"debug\"\n").rfind("flowgate.toml:3:", 0), 0u);
}

TEST(ConfigErrors, SyntaxErrorDoesNotHideBadVariables) {
    const auto all = problems_of("[log\n", map_environment({{"FLOWGATE_HTTP_LISTEN", "nope"}}));
    ASSERT_EQ(all.size(), 2u);
    EXPECT_NE(all[0].find("TOML syntax error"), std::string::npos);
    EXPECT_EQ(all[1].rfind("FLOWGATE_HTTP_LISTEN:", 0), 0u);
}

TEST(ConfigErrors, AllProblemsAreReportedTogetherInFileOrder) {
    const auto toml = R"([http]
listen = "localhost"
ws_send_queue_bytes = 0

[log]
level = "loud"

[thingspeak]
bse_url = "https://api.thingspeak.com"
)";
    try {
        parse(toml, map_environment({{"FLOWGATE_DATABASE_BATCH_SIZE", "-1"}}));
        FAIL() << "no ConfigError";
    } catch (const ConfigError& e) {
        const auto& all = e.problems();
        ASSERT_EQ(all.size(), 5u) << e.what();
        EXPECT_EQ(all[0].rfind("flowgate.toml:2:10: http.listen:", 0), 0u) << all[0];
        EXPECT_EQ(all[1].rfind("flowgate.toml:3:23: http.ws_send_queue_bytes:", 0), 0u) << all[1];
        EXPECT_EQ(all[2].rfind("flowgate.toml:6:9: log.level:", 0), 0u) << all[2];
        EXPECT_EQ(all[3].rfind("flowgate.toml:9:1: unknown key 'thingspeak.bse_url'", 0), 0u) << all[3];
        EXPECT_EQ(all[4].rfind("FLOWGATE_DATABASE_BATCH_SIZE:", 0), 0u) << all[4];
        const std::string what = e.what();
        EXPECT_EQ(std::count(what.begin(), what.end(), '\n'), 4) << "one problem per line";
    }
}

TEST(ConfigErrors, AProblemIsOneLineEvenWithControlCharactersInTheValue) {
    const auto problem = problem_of("log.level = \"in\\nfo\"");
    EXPECT_EQ(problem.find('\n'), std::string::npos) << problem;
    EXPECT_NE(problem.find(R"(got "in\u000afo")"), std::string::npos) << problem;
}

TEST(ConfigErrors, MissingFileIsAConfigErrorNamingTheFile) {
    try {
        load_config_file("/nonexistent/flowgate.toml", no_env());
        FAIL() << "no ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string{e.what()}.rfind("/nonexistent/flowgate.toml: cannot read the file", 0), 0u)
            << e.what();
    }
}

TEST(ConfigErrors, FileErrorsAreNamedAfterThePath) {
    try {
        load_config_file(FLOWGATE_SOURCE_DIR "/tests/unit/config/config_test.cpp", no_env());
        FAIL() << "a C++ file is not TOML";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string{e.what()}.rfind(FLOWGATE_SOURCE_DIR "/tests/unit/config/config_test.cpp:", 0),
                  0u);
    }
}

TEST(ConfigSecrets, PasswordsInUrlsNeverAppearInErrors) {
    const std::vector<std::string> urls{
        "mysql://admin:hunter2@db/water",       // wrong scheme
        "admin:hunter2@db/water",               // no scheme at all
        "postgresql//admin:hunter2@db/water",   // typo in the scheme
        "ftp://admin:hunter2@h/",               // wrong scheme for thingspeak
        "ftp://h/feeds.json?api_key=hunter2",   // key in the query
        "https://admin:hunt/er2@h x",           // unescaped '/' in the password
        "postgresql://admin:hunter2@db/wa ter", // right scheme, other problem
    };
    for (const auto& url : urls) {
        SCOPED_TRACE(url);
        for (const auto* key : {"database.url", "redis.url", "thingspeak.base_url"}) {
            std::string what;
            try {
                parse(std::string{key} + " = \"" + url + "\"");
                continue;
            } catch (const ConfigError& e) {
                what = e.what();
            }
            EXPECT_EQ(what.find("hunter2"), std::string::npos) << what;
            EXPECT_EQ(what.find("er2"), std::string::npos) << what;
        }
        std::string env_error;
        try {
            parse("", map_environment({{"FLOWGATE_REDIS_URL", url}}));
        } catch (const ConfigError& e) {
            env_error = e.what();
        }
        EXPECT_FALSE(env_error.empty());
        EXPECT_EQ(env_error.find("hunter2"), std::string::npos) << env_error;
    }
}

TEST(ConfigSecrets, PasswordInAUrlIsShownRedacted) {
    EXPECT_EQ(problem_of("database.url = \"mysql://admin:hunter2@db/water\""),
              "flowgate.toml:1:16: database.url: must start with postgresql:// or postgres://, got "
              "\"mysql://admin:[redacted]@db/water\"");
}

TEST(ConfigFormat, EffectiveValuesAreValidTomlThatParsesBack) {
    const auto config = parse(every_key);
    const auto text = format_config(config);
    EXPECT_NE(text.find("[database]\nurl = \"postgres://writer@db.example:5432/water\"\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("batch_interval = \"1s\"\n"), std::string::npos) << text;
    EXPECT_NE(text.find("listen = \"0.0.0.0:9090\"\n"), std::string::npos) << text;
    EXPECT_EQ(parse(text), config);
    EXPECT_EQ(parse(format_config(Config{})), Config{});
}

TEST(ConfigFormat, PasswordsAreRedacted) {
    Config config;
    config.database.url = "postgresql://writer:hunter2@db/water";
    config.redis.url = "redis://:hunter3@cache:6379";
    const auto text = format_config(config);
    EXPECT_EQ(text.find("hunter"), std::string::npos) << text;
    EXPECT_NE(text.find("postgresql://writer:[redacted]@db/water"), std::string::npos) << text;
    EXPECT_NE(text.find("redis://:[redacted]@cache:6379"), std::string::npos) << text;
}

} // namespace
} // namespace flowgate::config
