#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace spdlog {
class logger;
}

namespace flowgate::obs {

enum class LogLevel { trace, debug, info, warn, error, off };
enum class LogFormat { json, text };

/// One structured field of a log line: `{"channel_id", 9}`. Values that are secrets are
/// never printed: a key ending in "key", "token", "secret" or "password" is shown as
/// "[redacted]", and string values pass through redact_secrets().
struct LogField {
    using Value = std::variant<std::int64_t, std::uint64_t, double, bool, std::string_view>;

    template <typename T>
    LogField(std::string_view k, const T& v) : key{k}, value{to_value(v)} {}

    std::string_view key;
    Value value;

private:
    template <typename T>
    static Value to_value(const T& v) {
        if constexpr (std::is_same_v<T, bool>) {
            return v;
        } else if constexpr (std::is_floating_point_v<T>) {
            return static_cast<double>(v);
        } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
            return static_cast<std::int64_t>(v);
        } else if constexpr (std::is_integral_v<T>) {
            return static_cast<std::uint64_t>(v);
        } else {
            return std::string_view{v};
        }
    }
};

using LogFields = std::initializer_list<LogField>;

/// A component's logger. JSON mode writes one object per line
/// (`{"time":…,"level":…,"component":…,"msg":…, fields…}`); text mode writes
/// `2026-11-28T21:03:27.123Z INFO  sim: listening port=8080` for a terminal.
/// Cheap to copy; copies share the same output.
class Logger {
public:
    Logger(std::shared_ptr<spdlog::logger> backend, LogFormat format, std::string component);

    /// The same output under another component name.
    Logger with_component(std::string component) const;

    bool enabled(LogLevel level) const;
    /// Changes the level of this logger and of every copy sharing its output (a reload).
    void set_level(LogLevel level) const;
    void log(LogLevel level, std::string_view msg, LogFields fields = {}) const;

    void debug(std::string_view msg, LogFields fields = {}) const { log(LogLevel::debug, msg, fields); }
    void info(std::string_view msg, LogFields fields = {}) const { log(LogLevel::info, msg, fields); }
    void warn(std::string_view msg, LogFields fields = {}) const { log(LogLevel::warn, msg, fields); }
    void error(std::string_view msg, LogFields fields = {}) const { log(LogLevel::error, msg, fields); }

private:
    std::shared_ptr<spdlog::logger> backend_;
    LogFormat format_;
    std::string component_;
};

/// A logger writing to stderr (one line per call, flushed at warn and above).
Logger make_stderr_logger(LogLevel level, LogFormat format, std::string component);

/// A logger appending complete lines to `sink`; for tests that assert on log output.
Logger make_string_logger(std::shared_ptr<std::string> sink, LogLevel level, LogFormat format,
                          std::string component);

/// Replaces secrets inside free text: the value of `api_key=`, `key=`, `token=` and
/// `password=` query parameters, and the password in `scheme://user:password@host` URLs.
std::string redact_secrets(std::string_view text);

/// "trace" … "error", "off".
std::string_view level_name(LogLevel level);
/// "trace" … "error", "off"; false (and `out` untouched) for anything else.
bool parse_log_level(std::string_view name, LogLevel& out);
bool parse_log_format(std::string_view name, LogFormat& out);

} // namespace flowgate::obs
