#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flowgate/bus/redis_connection.hpp"
#include "flowgate/bus/redis_connection_config.hpp"
#include "flowgate/obs/logger.hpp"

namespace flowgate::bus::test {

using namespace std::chrono_literals;

/// FLOWGATE_REDIS_URL, or nullopt when it is unset (the caller skips).
inline std::optional<std::string> redis_url_from_env() {
    const char* url = std::getenv("FLOWGATE_REDIS_URL");
    if (url == nullptr || *url == '\0') return std::nullopt;
    return std::string{url};
}

inline constexpr const char* skip_message =
    "FLOWGATE_REDIS_URL is not set: start Redis with scripts/services start and "
    "eval \"$(scripts/services env)\" (scripts/test does both)";

/// Runs the loops, round-robin, until `done()` or the deadline; never sleeps blindly: each
/// slice returns as soon as a handler ran. Returns done().
inline bool run_until(const std::vector<boost::asio::io_context*>& loops, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout) {
    using boost::asio::io_context;
    std::vector<boost::asio::executor_work_guard<io_context::executor_type>> guards;
    for (auto* loop : loops) {
        if (loop->stopped()) loop->restart();
        guards.push_back(boost::asio::make_work_guard(*loop));
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const auto slice = loops.size() == 1 ? timeout : std::chrono::milliseconds{10};
    while (!done()) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return false;
        for (auto* loop : loops) {
            loop->run_one_for(std::min<std::chrono::steady_clock::duration>(slice, deadline - now));
            if (done()) return true;
            // Drain what is ready before giving the other loop its turn, checking after each
            // handler so the condition is seen the moment it holds.
            while (loop->poll_one() > 0) {
                if (done()) return true;
            }
        }
    }
    return true;
}

inline bool run_until(boost::asio::io_context& loop, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout) {
    return run_until(std::vector<boost::asio::io_context*>{&loop}, done, timeout);
}

/// A name no other test, process or earlier run uses: Redis is shared by tests running in
/// parallel.
inline std::string unique_name(std::string_view what) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return "flowgate-test:" + std::to_string(::getpid()) + ":" + std::string{info->name()} + ":" + std::string{what};
}

/// Unique per process and test (a closed connection of an earlier test may linger in
/// CLIENT LIST for a moment); client names allow no spaces.
inline std::string client_name(std::string_view what) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const auto test_tag = std::hash<std::string_view>{}(info->name()) % 100000;
    return "fg-test-" + std::to_string(::getpid()) + "-" + std::to_string(test_tag) + "-" + std::string{what};
}

inline RedisConnectionConfig fast_config(const std::string& url, std::string_view name) {
    RedisConnectionConfig config;
    config.url = url;
    config.client_name = client_name(name);
    config.connect_timeout = 1s;
    config.reconnect_initial = 20ms;
    config.reconnect_max = 250ms;
    return config;
}

/// A reply copied out of hiredis's memory.
struct CopiedReply {
    RedisReply::Type type = RedisReply::Type::nil;
    std::string str;
    long long integer = 0;
    std::vector<CopiedReply> elements;
};

inline CopiedReply copy_reply(const RedisReply& reply) {
    CopiedReply out{reply.type(), std::string{reply.str()}, reply.integer(), {}};
    for (std::size_t i = 0; i < reply.size(); ++i) out.elements.push_back(copy_reply(reply.at(i)));
    return out;
}

/// Sends one command over `connection` and runs `loop` until its reply. nullopt when the
/// command could not be sent or no reply came within 5 s.
inline std::optional<CopiedReply> call(boost::asio::io_context& loop, RedisConnection& connection,
                                       std::initializer_list<std::string_view> args) {
    auto result = std::make_shared<std::optional<CopiedReply>>();
    auto answered = std::make_shared<bool>(false);
    if (!connection.command(args, [result, answered](const RedisReply* reply) {
            *answered = true;
            if (reply != nullptr) *result = copy_reply(*reply);
        })) {
        return std::nullopt;
    }
    run_until(loop, [&] { return *answered; }, 5s);
    return *result;
}

/// Number of Redis-side subscribers of `channel` (PUBSUB NUMSUB), -1 on failure.
inline long long numsub(boost::asio::io_context& loop, RedisConnection& admin, const std::string& channel) {
    const auto reply = call(loop, admin, {"PUBSUB", "NUMSUB", channel});
    if (!reply || reply->elements.size() != 2) return -1;
    return reply->elements[1].integer;
}

/// Deletes every key this test left in Redis (the keys of its topics all name
/// unique_name()'s prefix): a topic's state never expires.
inline void delete_test_keys(boost::asio::io_context& loop, RedisConnection& admin) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const auto pattern = "fg:*flowgate-test:" + std::to_string(::getpid()) + ":" + std::string{info->name()} + ":*";
    std::string cursor = "0";
    do {
        const auto page = call(loop, admin, {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
        if (!page || page->elements.size() != 2) return;
        cursor = page->elements[0].str;
        for (const auto& key : page->elements[1].elements) call(loop, admin, {"DEL", key.str});
    } while (cursor != "0");
}

/// What RedisPublisher makes of `event` as message `seq` of `epoch`.
inline std::string sequenced(std::uint64_t seq, const std::string& epoch, const std::string& event) {
    const auto head = R"({"seq":)" + std::to_string(seq) + R"(,"epoch":")" + epoch + '"';
    return event == "{}" ? head + "}" : head + "," + event.substr(1);
}

/// The seq of a published message, 0 when it has none.
inline std::uint64_t seq_of(std::string_view message) {
    constexpr std::string_view prefix = R"({"seq":)";
    std::uint64_t seq = 0;
    if (message.starts_with(prefix)) std::from_chars(message.data() + prefix.size(), message.data() + message.size(), seq);
    return seq;
}

/// The epoch of a published message, "" when it has none.
inline std::string epoch_of(std::string_view message) {
    constexpr std::string_view key = R"(,"epoch":")";
    const auto at = message.find(key);
    if (at == std::string_view::npos) return "";
    const auto end = message.find('"', at + key.size());
    return end == std::string_view::npos ? "" : std::string{message.substr(at + key.size(), end - at - key.size())};
}

/// The event a published message was made of, without its seq and epoch.
inline std::string event_of(std::string_view message) {
    constexpr std::string_view key = R"(,"epoch":")";
    const auto at = message.find(key);
    const auto end = at == std::string_view::npos ? at : message.find('"', at + key.size());
    if (end == std::string_view::npos) return "(not a published message: " + std::string{message} + ")";
    const auto rest = message.substr(end + 1); // "}" or ",members}"
    return rest == "}" ? "{}" : "{" + std::string{rest.substr(1)};
}

/// Log lines that contain every one of `parts`.
inline std::size_t count_lines(const std::string& log, std::initializer_list<std::string_view> parts) {
    std::size_t count = 0;
    std::size_t start = 0;
    while (start < log.size()) {
        auto end = log.find('\n', start);
        if (end == std::string::npos) end = log.size();
        const std::string_view line{log.data() + start, end - start};
        if (std::all_of(parts.begin(), parts.end(), [&](std::string_view p) { return line.find(p) != line.npos; })) {
            ++count;
        }
        start = end + 1;
    }
    return count;
}

/// A logger (at debug, JSON lines) whose output the test reads.
struct CapturedLog {
    std::shared_ptr<std::string> text = std::make_shared<std::string>();
    obs::Logger logger = obs::make_string_logger(text, obs::LogLevel::debug, obs::LogFormat::json, "bus");
};

} // namespace flowgate::bus::test
