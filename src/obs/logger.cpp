#include "flowgate/obs/logger.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <mutex>

#include "flowgate/core/json_text.hpp"
#include "flowgate/core/time_format.hpp"

namespace flowgate::obs {
namespace {

constexpr std::string_view redacted = "[redacted]";

spdlog::level::level_enum to_spdlog(LogLevel level) {
    switch (level) {
    case LogLevel::trace: return spdlog::level::trace;
    case LogLevel::debug: return spdlog::level::debug;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warn: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
    case LogLevel::off: break;
    }
    return spdlog::level::off;
}

bool ends_with_secret_word(std::string_view key) {
    for (std::string_view word : {"key", "token", "secret", "password"}) {
        if (key.size() >= word.size() && key.substr(key.size() - word.size()) == word) return true;
    }
    return false;
}

bool has_control_char(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20; });
}

/// Text mode quotes a value only when it would otherwise be ambiguous. A control character
/// forces quoting (and so escaping): a raw '\r' or ESC could forge or hide terminal output.
void append_text_value(std::string& out, std::string_view s) {
    if (!s.empty() && s.find_first_of(" \"=") == std::string_view::npos && !has_control_char(s)) {
        out += s;
    } else {
        append_json_string(out, s);
    }
}

void append_value(std::string& out, const LogField& field, LogFormat format) {
    if (ends_with_secret_word(field.key)) {
        format == LogFormat::json ? append_json_string(out, redacted) : append_text_value(out, redacted);
        return;
    }
    std::visit(
        [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string_view>) {
                const auto clean = redact_secrets(v);
                format == LogFormat::json ? append_json_string(out, clean) : append_text_value(out, clean);
            } else if constexpr (std::is_same_v<T, bool>) {
                out += v ? "true" : "false";
            } else if constexpr (std::is_same_v<T, double>) {
                std::array<char, 32> buf{};
                const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
                // JSON has no literal for nan or inf; a bare one would make the line unparsable.
                const std::string_view number{buf.data(), static_cast<std::size_t>(end - buf.data())};
                if (std::isfinite(v) || format == LogFormat::text) {
                    out += number;
                } else {
                    append_json_string(out, number);
                }
            } else {
                out += std::to_string(v);
            }
        },
        field.value);
}

void append_time(std::string& out) {
    using namespace std::chrono;
    const auto now = system_clock::now();
    const auto secs = floor<seconds>(now);
    append_iso8601(out, secs, minutes{0});
    out.pop_back(); // the 'Z', re-added after the milliseconds
    const auto ms = duration_cast<milliseconds>(now - secs).count();
    out.push_back('.');
    out.push_back(static_cast<char>('0' + ms / 100));
    out.push_back(static_cast<char>('0' + ms / 10 % 10));
    out.push_back(static_cast<char>('0' + ms % 10));
    out.push_back('Z');
}

template <typename Mutex>
class StringSink final : public spdlog::sinks::base_sink<Mutex> {
public:
    explicit StringSink(std::shared_ptr<std::string> out) : out_{std::move(out)} {}

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        out_->append(msg.payload.data(), msg.payload.size());
        out_->push_back('\n');
    }
    void flush_() override {}

private:
    std::shared_ptr<std::string> out_;
};

std::shared_ptr<spdlog::logger> make_backend(spdlog::sink_ptr sink, LogLevel level) {
    sink->set_pattern("%v");
    auto backend = std::make_shared<spdlog::logger>("flowgate", std::move(sink));
    backend->set_level(to_spdlog(level));
    backend->flush_on(spdlog::level::warn);
    return backend;
}

/// Finds the end of a secret value that starts at `pos`: a query value ends at '&', a URL
/// password at '@', and both end at whitespace or a quote.
std::size_t secret_end(std::string_view text, std::size_t pos, std::string_view stops) {
    const auto end = text.find_first_of(stops, pos);
    return end == std::string_view::npos ? text.size() : end;
}

} // namespace

std::string_view level_name(LogLevel level) {
    constexpr std::array<std::string_view, 6> names{"trace", "debug", "info", "warn", "error", "off"};
    return names[static_cast<std::size_t>(level)];
}

Logger::Logger(std::shared_ptr<spdlog::logger> backend, LogFormat format, std::string component)
    : backend_{std::move(backend)}, format_{format}, component_{std::move(component)} {}

Logger Logger::with_component(std::string component) const {
    return Logger{backend_, format_, std::move(component)};
}

bool Logger::enabled(LogLevel level) const {
    return level != LogLevel::off && backend_->should_log(to_spdlog(level));
}

void Logger::set_level(LogLevel level) const { backend_->set_level(to_spdlog(level)); }

void Logger::log(LogLevel level, std::string_view msg, LogFields fields) const {
    if (!enabled(level)) return;
    std::string line;
    line.reserve(128);
    const auto clean_msg = redact_secrets(msg);
    if (format_ == LogFormat::json) {
        line += "{\"time\":\"";
        append_time(line);
        line += "\",\"level\":\"";
        line += level_name(level);
        line += "\",\"component\":";
        append_json_string(line, component_);
        line += ",\"msg\":";
        append_json_string(line, clean_msg);
        for (const auto& field : fields) {
            line.push_back(',');
            append_json_string(line, field.key);
            line.push_back(':');
            append_value(line, field, format_);
        }
        line.push_back('}');
    } else {
        append_time(line);
        line.push_back(' ');
        auto name = level_name(level);
        for (const char c : name) line.push_back(static_cast<char>(c - 'a' + 'A'));
        line.append(6 - name.size(), ' ');
        line += component_;
        line += ": ";
        // One call, one line: a newline in the message must not start a forged line.
        if (has_control_char(clean_msg)) {
            std::string quoted;
            append_json_string(quoted, clean_msg);
            line.append(quoted, 1, quoted.size() - 2);
        } else {
            line += clean_msg;
        }
        for (const auto& field : fields) {
            line.push_back(' ');
            line += field.key;
            line.push_back('=');
            append_value(line, field, format_);
        }
    }
    backend_->log(to_spdlog(level), std::string_view{line});
}

Logger make_stderr_logger(LogLevel level, LogFormat format, std::string component) {
    return Logger{make_backend(std::make_shared<spdlog::sinks::stderr_sink_mt>(), level), format,
                  std::move(component)};
}

Logger make_string_logger(std::shared_ptr<std::string> sink, LogLevel level, LogFormat format,
                          std::string component) {
    return Logger{make_backend(std::make_shared<StringSink<std::mutex>>(std::move(sink)), level),
                  format, std::move(component)};
}

std::string redact_secrets(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t value_start = std::string_view::npos;
        std::size_t value_end = 0;
        // Query parameters whose value is a secret.
        for (std::string_view name : {"api_key=", "key=", "token=", "password="}) {
            // Skip look-alikes ("read_api_key=", "monkey=") but keep searching past them.
            auto at = text.find(name, pos);
            while (at != std::string_view::npos && at != 0 &&
                   std::string_view{"?&; \"'"}.find(text[at - 1]) == std::string_view::npos) {
                at = text.find(name, at + 1);
            }
            if (at == std::string_view::npos) continue;
            if (at + name.size() < value_start || value_start == std::string_view::npos) {
                value_start = at + name.size();
                value_end = secret_end(text, value_start, "& \t\"'");
            }
        }
        // The password of "scheme://user:password@host".
        for (auto scheme = text.find("://", pos); scheme != std::string_view::npos;
             scheme = text.find("://", scheme + 3)) {
            if (value_start != std::string_view::npos && scheme > value_start) break;
            const auto authority_end = secret_end(text, scheme + 3, "/ \t\"'?");
            const auto at = text.rfind('@', authority_end);
            const auto colon = text.find(':', scheme + 3);
            if (at == std::string_view::npos || at < scheme || colon >= at) continue;
            value_start = colon + 1;
            value_end = at;
            break;
        }
        if (value_start == std::string_view::npos) break;
        out.append(text.substr(pos, value_start - pos));
        if (value_end > value_start) out += redacted;
        pos = value_end;
    }
    out.append(text.substr(pos));
    return out;
}

bool parse_log_level(std::string_view name, LogLevel& out) {
    for (const auto level : {LogLevel::trace, LogLevel::debug, LogLevel::info, LogLevel::warn,
                             LogLevel::error, LogLevel::off}) {
        if (name == level_name(level)) {
            out = level;
            return true;
        }
    }
    return false;
}

bool parse_log_format(std::string_view name, LogFormat& out) {
    if (name == "json") {
        out = LogFormat::json;
    } else if (name == "text") {
        out = LogFormat::text;
    } else {
        return false;
    }
    return true;
}

} // namespace flowgate::obs
