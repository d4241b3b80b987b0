#include "flowgate/normalize/normalizer.hpp"

#include <cmath>
#include <string>
#include <utility>

#include "flowgate/normalize/field_conversion.hpp"
#include "normalize_detail.hpp"

namespace flowgate::normalize {
namespace {

constexpr std::string_view not_stored = ": not stored until the mapping is updated";

std::string field_key(int field) { return "field" + std::to_string(field); }

/// Builds error records that share the device, channel and time of one normalize() call.
class ErrorSink {
public:
    ErrorSink(const ThingSpeakDevice& device, Seconds now, std::vector<TelemetryErrorRecord>& out)
        : device_{device}, now_{now}, out_{out} {}

    TelemetryErrorRecord& add(ErrorStage stage, std::string message) {
        return out_.emplace_back(device_error(device_, stage, std::move(message), now_));
    }

private:
    const ThingSpeakDevice& device_;
    Seconds now_;
    std::vector<TelemetryErrorRecord>& out_;
};

std::optional<std::string> raw(std::string_view value) {
    return std::string{detail::utf8_prefix(value, detail::max_raw_value_bytes)};
}

/// Whether a mapping may be stored for this response; reports why not, once.
bool check_schema(const FieldMapping& m, const std::optional<ChannelInfo>& channel, ErrorSink& errors) {
    if (m.field < 1 || m.field > 8) {
        // Config validation should have refused this; never index past field8 because of it.
        errors.add(ErrorStage::schema, "mapping '" + m.canonical_name + "' names field " + std::to_string(m.field) +
                                           ", but channels have field1..field8" + std::string{not_stored});
        return false;
    }
    if (!channel || m.expected_label.empty()) return true;
    const auto& label = channel->labels[static_cast<std::size_t>(m.field - 1)];
    if (label && *label == m.expected_label) return true;
    const auto key = field_key(m.field);
    if (!label) {
        auto& e = errors.add(ErrorStage::schema, key + " is disabled on channel " + std::to_string(channel->id) +
                                                     ", expected " + detail::quote_excerpt(m.expected_label) +
                                                     std::string{not_stored});
        e.field = key;
        return false;
    }
    auto& e = errors.add(ErrorStage::schema, key + " is now labelled " + detail::quote_excerpt(*label) + ", expected " +
                                                 detail::quote_excerpt(m.expected_label) + std::string{not_stored});
    e.field = key;
    e.raw_value = raw(*label);
    return false;
}

/// The entry's id and time, or one parse error saying what is wrong with them.
std::optional<std::pair<std::int64_t, OffsetTime>> check_entry(const FeedEntry& entry, std::size_t index,
                                                               ErrorSink& errors) {
    const auto created_at = entry.created_at_raw.empty() ? std::nullopt : parse_iso8601(entry.created_at_raw);
    if (entry.entry_id && created_at) return std::pair{*entry.entry_id, *created_at};

    std::vector<std::string> problems;
    std::optional<std::string> raw_value;
    if (!entry.entry_id) {
        if (entry.bad_entry_id) {
            problems.push_back("entry_id " + *entry.bad_entry_id + " is not a non-negative integer");
            raw_value = raw(*entry.bad_entry_id);
        } else {
            problems.emplace_back("no entry_id");
        }
    }
    if (entry.created_at_raw.empty()) {
        problems.emplace_back("no created_at");
    } else if (!created_at) {
        problems.push_back("created_at " + detail::quote_excerpt(entry.created_at_raw) +
                           " is not an ISO-8601 time with a zone");
        raw_value = raw(entry.created_at_raw);
    }
    std::string message = entry.entry_id ? "entry " + std::to_string(*entry.entry_id) : "feeds[" + std::to_string(index) + "]";
    for (std::size_t i = 0; i < problems.size(); ++i) {
        message += i == 0 ? ": " : " and ";
        message += problems[i];
    }
    message += "; skipped";
    auto& e = errors.add(ErrorStage::parse, std::move(message));
    e.entry_id = entry.entry_id;
    e.raw_value = std::move(raw_value);
    return std::nullopt;
}

} // namespace

NormalizeResult Normalizer::normalize(const ThingSpeakDevice& device, const Feed& feed, Seconds now) const {
    NormalizeResult result;
    ErrorSink errors{device, now, result.errors};

    // Decided once per response: a renamed field is refused for every entry, reported once.
    std::vector<const FieldMapping*> mappings;
    mappings.reserve(device.fields.size());
    for (const auto& m : device.fields) {
        if (check_schema(m, feed.channel, errors)) mappings.push_back(&m);
    }

    result.entries.reserve(feed.entries.size());
    for (std::size_t index = 0; index < feed.entries.size(); ++index) {
        const auto& entry = feed.entries[index];
        const auto identity = check_entry(entry, index, errors);
        if (!identity) continue;

        TelemetryEntry out;
        out.device_id = device.device_id;
        out.community_id = device.community_id;
        out.source = "thingspeak";
        out.entry_id = identity->first;
        out.created_at = identity->second;
        out.readings.reserve(mappings.size());

        for (const auto* m : mappings) {
            const auto i = static_cast<std::size_t>(m->field - 1);
            const auto key = field_key(m->field);
            if (entry.bad_values[i]) {
                auto& e = errors.add(ErrorStage::parse, key + " is " + *entry.bad_values[i] +
                                                            ", not a string (" + m->canonical_name + ")");
                e.entry_id = out.entry_id;
                e.field = key;
                e.raw_value = raw(*entry.bad_values[i]);
                continue;
            }
            const auto& value = entry.fields[i];
            auto conversion = convert_field(*m, value ? std::optional<std::string_view>{*value} : std::nullopt);
            switch (conversion.outcome) {
            case FieldConversion::Outcome::missing: break;
            case FieldConversion::Outcome::reading: out.readings.push_back(std::move(conversion.reading)); break;
            case FieldConversion::Outcome::invalid: {
                auto& e = errors.add(ErrorStage::conversion, key + " " + conversion.problem + " (" + m->canonical_name + ")");
                e.entry_id = out.entry_id;
                e.field = key;
                e.raw_value = raw(*value);
                break;
            }
            }
        }
        if (!out.readings.empty()) result.entries.push_back(std::move(out));
    }
    return result;
}

std::string mapping_problem(const ThingSpeakDevice& device) {
    for (const auto& f : device.fields) {
        const auto field = "field" + std::to_string(f.field) + " ('" + f.canonical_name + "')";
        if (!std::isfinite(f.scale_factor) || f.scale_factor == 0) {
            return field + ": scale_factor must be a finite number other than 0";
        }
        if (!std::isfinite(f.offset)) return field + ": offset must be a finite number";
        for (const auto bound : {f.min_valid, f.max_valid}) {
            if (bound && std::isnan(*bound)) return field + ": min_valid and max_valid must be numbers";
        }
    }
    return "";
}

} // namespace flowgate::normalize
