#include "flowgate/obs/logger.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace flowgate::obs {
namespace {

using nlohmann::json;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in{text};
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

/// "2026-11-28T21:03:27.123Z": UTC with milliseconds. (std::regex trips GCC 12's
/// -Wmaybe-uninitialized under the sanitizers, hence the hand-written check.)
bool is_timestamp(std::string_view s) {
    constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (s.size() != shape.size()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (shape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(s[i])) : s[i] != shape[i])
            return false;
    }
    return true;
}

struct Capture {
    explicit Capture(LogFormat format, LogLevel level = LogLevel::trace)
        : log{make_string_logger(sink, level, format, "poller")} {}

    std::vector<std::string> lines() const { return lines_of(*sink); }

    /// The single line written so far, parsed as JSON.
    json only_json() const {
        const auto all = lines();
        EXPECT_EQ(all.size(), 1u) << *sink;
        return all.empty() ? json{} : json::parse(all.front());
    }

    std::shared_ptr<std::string> sink = std::make_shared<std::string>();
    Logger log;
};

TEST(LoggerJson, EachCallIsOneJsonObjectWithTimeLevelComponentMessageAndFields) {
    Capture c{LogFormat::json};
    c.log.info("polled channel", {{"channel_id", 9},
                                  {"entries", std::uint64_t{3}},
                                  {"ratio", 0.5},
                                  {"stale", false},
                                  {"name", "OHT-1"}});

    ASSERT_EQ(c.sink->back(), '\n');
    const auto line = c.only_json();
    EXPECT_TRUE(is_timestamp(line.at("time").get<std::string>())) << line.at("time");
    EXPECT_EQ(line.at("level"), "info");
    EXPECT_EQ(line.at("component"), "poller");
    EXPECT_EQ(line.at("msg"), "polled channel");
    EXPECT_EQ(line.at("channel_id"), 9);
    EXPECT_EQ(line.at("entries"), 3u);
    EXPECT_EQ(line.at("ratio"), 0.5);
    EXPECT_EQ(line.at("stale"), false);
    EXPECT_EQ(line.at("name"), "OHT-1");
}

TEST(LoggerJson, LevelNamesAreLowerCase) {
    Capture c{LogFormat::json};
    c.log.log(LogLevel::trace, "t");
    c.log.debug("d");
    c.log.warn("w");
    c.log.error("e");
    std::vector<std::string> levels;
    for (const auto& line : c.lines()) levels.push_back(json::parse(line).at("level"));
    EXPECT_EQ(levels, (std::vector<std::string>{"trace", "debug", "warn", "error"}));
}

TEST(LoggerJson, NegativeAndExtremeNumbersStayExact) {
    Capture c{LogFormat::json};
    c.log.info("n", {{"min", std::numeric_limits<std::int64_t>::min()},
                     {"max", std::numeric_limits<std::uint64_t>::max()},
                     {"level_m", -1.25}});
    const auto line = c.only_json();
    EXPECT_EQ(line.at("min").get<std::int64_t>(), std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(line.at("max").get<std::uint64_t>(), std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(line.at("level_m").get<double>(), -1.25);
}

TEST(LoggerJson, NonFiniteNumbersStillGiveValidJson) {
    // A sensor value gone wrong must not make the log line unreadable for the log shipper.
    Capture c{LogFormat::json};
    c.log.info("reading", {{"nan", std::numeric_limits<double>::quiet_NaN()},
                           {"inf", std::numeric_limits<double>::infinity()},
                           {"ninf", -std::numeric_limits<double>::infinity()}});
    json line;
    ASSERT_NO_THROW(line = c.only_json()) << *c.sink;
    EXPECT_EQ(line.at("nan"), "nan");
    EXPECT_EQ(line.at("inf"), "inf");
    EXPECT_EQ(line.at("ninf"), "-inf");
}

TEST(LoggerJson, QuotesBackslashesNewlinesAndControlCharactersRoundTrip) {
    Capture c{LogFormat::json};
    const std::string nasty = "say \"hi\"\\ \n\r\t\x01\x1f end \xc3\xa9";
    c.log.info(nasty, {{"value", nasty}});
    ASSERT_EQ(c.lines().size(), 1u) << *c.sink;
    const auto line = c.only_json();
    EXPECT_EQ(line.at("msg"), nasty);
    EXPECT_EQ(line.at("value"), nasty);
}

TEST(LoggerText, LineHasTimeUpperCaseLevelComponentMessageAndFields) {
    Capture c{LogFormat::text};
    c.log.info("listening", {{"port", 8080}, {"tls", true}});
    c.log.error("gave up");
    const auto lines = c.lines();
    ASSERT_EQ(lines.size(), 2u) << *c.sink;
    const auto time_end = lines[0].find(' ');
    EXPECT_TRUE(is_timestamp(lines[0].substr(0, time_end))) << lines[0];
    EXPECT_EQ(lines[0].substr(time_end), " INFO  poller: listening port=8080 tls=true");
    EXPECT_EQ(lines[1].substr(lines[1].find(' ')), " ERROR poller: gave up");
}

TEST(LoggerText, ValuesThatWouldBeAmbiguousAreQuoted) {
    Capture c{LogFormat::text};
    c.log.info("m", {{"plain", "OHT-1"}, {"spaced", "pump house"}, {"eq", "a=b"}, {"empty", ""}});
    const auto line = c.lines().at(0);
    EXPECT_NE(line.find(" plain=OHT-1"), std::string::npos) << line;
    EXPECT_NE(line.find(R"( spaced="pump house")"), std::string::npos) << line;
    EXPECT_NE(line.find(R"( eq="a=b")"), std::string::npos) << line;
    EXPECT_NE(line.find(R"( empty="")"), std::string::npos) << line;
}

TEST(LoggerText, NewlinesAndControlCharactersCannotForgeALine) {
    // Messages and values carry text from devices; a newline in them must not start what
    // looks like another log line.
    Capture c{LogFormat::text};
    c.log.info("first\n2026-01-01T00:00:00.000Z ERROR fake: forged", {{"v", "a\rb"}, {"w", "x\x1b[2Jy"}});
    const auto& text = *c.sink;
    ASSERT_EQ(lines_of(text).size(), 1u) << text;
    EXPECT_EQ(text.find('\r'), std::string::npos) << text;
    EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
    EXPECT_NE(text.find("forged"), std::string::npos) << "the text is escaped, not dropped";
}

TEST(LoggerLevels, MessagesBelowTheLevelAreDropped) {
    Capture c{LogFormat::json, LogLevel::warn};
    EXPECT_FALSE(c.log.enabled(LogLevel::info));
    EXPECT_TRUE(c.log.enabled(LogLevel::warn));
    c.log.log(LogLevel::trace, "t");
    c.log.debug("d");
    c.log.info("i");
    c.log.warn("w");
    c.log.error("e");
    const auto lines = c.lines();
    ASSERT_EQ(lines.size(), 2u) << *c.sink;
    EXPECT_EQ(json::parse(lines[0]).at("msg"), "w");
    EXPECT_EQ(json::parse(lines[1]).at("msg"), "e");
}

TEST(LoggerLevels, OffWritesNothing) {
    Capture c{LogFormat::json, LogLevel::off};
    c.log.error("e");
    c.log.log(LogLevel::off, "o");
    EXPECT_TRUE(c.sink->empty()) << *c.sink;
}

TEST(LoggerComponent, WithComponentWritesToTheSameOutputUnderAnotherName) {
    Capture c{LogFormat::json};
    c.log.with_component("pg_writer").info("a");
    c.log.info("b");
    const auto lines = c.lines();
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(json::parse(lines[0]).at("component"), "pg_writer");
    EXPECT_EQ(json::parse(lines[1]).at("component"), "poller");
}

TEST(LoggerSecrets, FieldsNamedLikeSecretsAreRedactedInBothFormats) {
    for (const auto format : {LogFormat::json, LogFormat::text}) {
        Capture c{format};
        c.log.info("channel", {{"api_key", "SECRET1"},
                               {"read_api_key", "SECRET2"},
                               {"token", "SECRET3"},
                               {"db_password", "SECRET4"},
                               {"channel_id", 9}});
        EXPECT_EQ(c.sink->find("SECRET"), std::string::npos) << *c.sink;
        EXPECT_NE(c.sink->find("[redacted]"), std::string::npos) << *c.sink;
        EXPECT_NE(c.sink->find("9"), std::string::npos) << *c.sink;
    }
    Capture c{LogFormat::json};
    c.log.info("channel", {{"read_api_key", "SECRET"}, {"token", 12345}});
    const auto line = c.only_json();
    EXPECT_EQ(line.at("read_api_key"), "[redacted]");
    EXPECT_EQ(line.at("token"), "[redacted]");
}

TEST(LoggerSecrets, ApiKeyInAUrlIsRemovedButOtherParametersStay) {
    const std::string url = "https://api.thingspeak.com/channels/9/feeds.json?api_key=SECRET&results=2";
    for (const auto format : {LogFormat::json, LogFormat::text}) {
        Capture c{format};
        c.log.info("GET " + url + " failed", {{"url", url}});
        EXPECT_EQ(c.sink->find("SECRET"), std::string::npos) << *c.sink;
        EXPECT_NE(c.sink->find("results=2"), std::string::npos) << *c.sink;
    }
    Capture c{LogFormat::json};
    c.log.info(url, {{"url", url}});
    const auto line = c.only_json();
    const std::string expected =
        "https://api.thingspeak.com/channels/9/feeds.json?api_key=[redacted]&results=2";
    EXPECT_EQ(line.at("msg"), expected);
    EXPECT_EQ(line.at("url"), expected);
}

TEST(LoggerSecrets, PasswordInAConnectionUrlIsRemoved) {
    Capture c{LogFormat::json};
    c.log.warn("cannot connect to postgresql://u:pw@h/db", {{"dsn", "postgresql://u:pw@h/db"}});
    const auto line = c.only_json();
    EXPECT_EQ(line.at("msg"), "cannot connect to postgresql://u:[redacted]@h/db");
    EXPECT_EQ(line.at("dsn"), "postgresql://u:[redacted]@h/db");
}

TEST(RedactSecrets, LeavesTextWithoutSecretsAlone) {
    for (const std::string text : {"", "plain text", "https://h:8080/x?results=2", "postgresql://u@h:5432/db",
                                   "monkey=banana", "a://b"}) {
        EXPECT_EQ(redact_secrets(text), text);
    }
}

TEST(RedactSecrets, EveryOccurrenceIsRedacted) {
    EXPECT_EQ(redact_secrets("?api_key=A&x=1 and ?token=B&key=C password=D"),
              "?api_key=[redacted]&x=1 and ?token=[redacted]&key=[redacted] password=[redacted]");
    EXPECT_EQ(redact_secrets("redis://:pw@r:6379 then postgresql://u:pw2@p/db"),
              "redis://:[redacted]@r:6379 then postgresql://u:[redacted]@p/db");
    EXPECT_EQ(redact_secrets("https://u:p1@a/?api_key=K1"), "https://u:[redacted]@a/?api_key=[redacted]");
}

TEST(RedactSecrets, ASecretAfterALookAlikeParameterIsStillRedacted) {
    // "monkey=" and "read_api_key=" contain "key=" and "api_key=" but are not those
    // parameters; the real parameter after them must still be found.
    EXPECT_EQ(redact_secrets("?monkey=1&key=SECRET"), "?monkey=1&key=[redacted]");
    EXPECT_EQ(redact_secrets("read_api_key=X url=https://h/feeds.json?api_key=SECRET&results=2"),
              "read_api_key=X url=https://h/feeds.json?api_key=[redacted]&results=2");
}

TEST(RedactSecrets, EmptyValueStaysEmpty) {
    EXPECT_EQ(redact_secrets("?api_key=&results=2"), "?api_key=&results=2");
}

TEST(ParseNames, LevelsAndFormats) {
    LogLevel level = LogLevel::info;
    EXPECT_TRUE(parse_log_level("debug", level));
    EXPECT_EQ(level, LogLevel::debug);
    EXPECT_FALSE(parse_log_level("DEBUG", level));
    EXPECT_FALSE(parse_log_level("verbose", level));
    EXPECT_EQ(level, LogLevel::debug) << "untouched on failure";

    LogFormat format = LogFormat::json;
    EXPECT_TRUE(parse_log_format("text", format));
    EXPECT_EQ(format, LogFormat::text);
    EXPECT_FALSE(parse_log_format("yaml", format));
    EXPECT_EQ(format, LogFormat::text);
}

} // namespace
} // namespace flowgate::obs
