#include "sim_config.hpp"

#include <toml++/toml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "flowgate/core/duration.hpp"
#include "flowgate/core/time_format.hpp"

namespace flowgate::sim {
namespace {

constexpr std::array<std::pair<std::string_view, SignalKind>, 9> signal_names{{
    {"tank_level", SignalKind::tank_level},
    {"sump_level", SignalKind::sump_level},
    {"pump", SignalKind::pump},
    {"flow_rate", SignalKind::flow_rate},
    {"flow_total", SignalKind::flow_total},
    {"temperature", SignalKind::temperature},
    {"tds", SignalKind::tds},
    {"water_depth", SignalKind::water_depth},
    {"text", SignalKind::text},
}};

/// Reads the keys of one TOML table, remembering which were read so that any other key
/// can be reported as unknown.
class TableReader {
public:
    TableReader(const toml::table& table, std::string path, std::string_view source)
        : table_{table}, path_{std::move(path)}, source_{source} {}

    template <typename T>
    std::optional<T> get(std::string_view key) {
        seen_.insert(std::string{key});
        const auto* node = table_.get(key);
        if (!node) return std::nullopt;
        if constexpr (std::is_same_v<T, double>) {
            if (auto v = node->value<double>()) return *v; // integers are accepted too
        } else if (auto v = node->value_exact<T>()) {
            return *v;
        }
        fail(*node, key, std::is_same_v<T, std::string> ? "must be a string"
                         : std::is_same_v<T, bool>      ? "must be true or false"
                         : std::is_same_v<T, double>    ? "must be a number"
                                                        : "must be an integer");
    }

    std::optional<std::chrono::seconds> duration(std::string_view key) {
        auto text = get<std::string>(key);
        if (!text) return std::nullopt;
        auto d = parse_duration(*text);
        if (!d || *d < std::chrono::seconds{1} || *d % std::chrono::seconds{1} != std::chrono::milliseconds{0}) {
            fail(*table_.get(key), key, "must be a whole number of seconds or more, like \"15s\", \"5m\" or \"1d\"");
        }
        return std::chrono::duration_cast<std::chrono::seconds>(*d);
    }

    const toml::node* node(std::string_view key) {
        seen_.insert(std::string{key});
        return table_.get(key);
    }

    /// Throws for the first key that nobody asked for.
    void reject_unknown() const {
        for (const auto& [key, node] : table_) {
            if (!seen_.contains(std::string{key.str()})) fail_at(key.source(), key.str(), "unknown key");
        }
    }

    [[noreturn]] void fail(const toml::node& node, std::string_view key, std::string_view what) const {
        fail_at(node.source(), key, what);
    }

    [[noreturn]] void fail_at(const toml::source_region& where, std::string_view key, std::string_view what) const {
        std::ostringstream msg;
        msg << source_ << ':' << where.begin.line << ':' << where.begin.column << ": "
            << (path_.empty() ? "" : path_ + ".") << key << ": " << what;
        throw SimConfigError{msg.str()};
    }

    const std::string& path() const { return path_; }

private:
    const toml::table& table_;
    std::string path_;
    std::string_view source_;
    std::set<std::string> seen_;
};

FieldSpec parse_field(TableReader& r, int& n) {
    FieldSpec f;
    auto number = r.get<std::int64_t>("n");
    if (!number || *number < 1 || *number > 8) {
        throw SimConfigError{r.path() + ".n: every field needs n = 1..8"};
    }
    n = static_cast<int>(*number);
    f.enabled = r.get<bool>("enabled").value_or(true);
    f.label = r.get<std::string>("label").value_or("Field Label " + std::to_string(n));
    const auto signal = r.get<std::string>("signal");
    if (!signal) throw SimConfigError{r.path() + ".signal: missing (one of tank_level, sump_level, pump, "
                                                 "flow_rate, flow_total, temperature, tds, water_depth, text)"};
    bool known = false;
    for (const auto& [name, kind] : signal_names) {
        if (name == *signal) {
            f.kind = kind;
            known = true;
        }
    }
    if (!known) throw SimConfigError{r.path() + ".signal: unknown signal '" + *signal + "'"};
    f.min = r.get<double>("min").value_or(f.min);
    f.max = r.get<double>("max").value_or(f.max);
    f.mean = r.get<double>("mean").value_or(f.mean);
    f.amplitude = r.get<double>("amplitude").value_or(f.amplitude);
    f.peak_hour = r.get<double>("peak_hour").value_or(f.peak_hour);
    f.noise = r.get<double>("noise").value_or(f.noise);
    f.decimals = static_cast<int>(r.get<std::int64_t>("decimals").value_or(f.decimals));
    if (f.decimals < 0 || f.decimals > 15) throw SimConfigError{r.path() + ".decimals: must be 0..15"};
    if (f.min > f.max) throw SimConfigError{r.path() + ".min: must not be above max"};
    if (const auto* texts = r.node("texts")) {
        const auto* arr = texts->as_array();
        if (!arr) r.fail(*texts, "texts", "must be an array of strings");
        for (const auto& t : *arr) {
            auto s = t.value<std::string>();
            if (!s || s->size() > 255) r.fail(t, "texts", "must be strings of at most 255 bytes");
            f.texts.push_back(*s);
        }
    }
    if (f.kind == SignalKind::text && f.texts.empty()) {
        throw SimConfigError{r.path() + ".texts: a text signal needs at least one text"};
    }
    r.reject_unknown();
    return f;
}

ChannelSpec parse_channel(TableReader& r, std::string_view source) {
    ChannelSpec c;
    const auto id = r.get<std::int64_t>("id");
    if (!id || *id <= 0) throw SimConfigError{r.path() + ".id: every channel needs a positive id"};
    c.id = static_cast<std::uint64_t>(*id);
    c.name = r.get<std::string>("name").value_or("Channel " + std::to_string(c.id));
    c.description = r.get<std::string>("description");
    c.latitude = r.get<std::string>("latitude").value_or(c.latitude);
    c.longitude = r.get<std::string>("longitude").value_or(c.longitude);
    c.elevation = r.get<std::string>("elevation");
    c.metadata = r.get<std::string>("metadata");
    c.read_key = r.get<std::string>("read_key");
    c.interval = r.duration("interval").value_or(c.interval);
    c.pump_on = r.duration("pump_on").value_or(c.pump_on);
    c.pump_off = r.duration("pump_off").value_or(c.pump_off);
    c.status_every = static_cast<int>(r.get<std::int64_t>("status_every").value_or(0));
    if (const auto* statuses = r.node("statuses")) {
        const auto* arr = statuses->as_array();
        if (!arr) r.fail(*statuses, "statuses", "must be an array of strings");
        for (const auto& s : *arr) c.statuses.push_back(s.value<std::string>().value_or(""));
    }
    if (c.status_every < 0 || (c.status_every > 0 && c.statuses.empty())) {
        throw SimConfigError{r.path() + ".status_every: needs statuses and must be ≥ 0"};
    }
    if (const auto* quirks = r.node("quirks")) {
        const auto* table = quirks->as_table();
        if (!table) r.fail(*quirks, "quirks", "must be a table");
        TableReader q{*table, r.path() + ".quirks", source};
        c.quirks.one_field_per_post = q.get<bool>("one_field_per_post").value_or(false);
        c.quirks.bad_value_rate = q.get<double>("bad_value_rate").value_or(0);
        c.quirks.device_timestamps = q.get<bool>("device_timestamps").value_or(false);
        c.quirks.late_upload_every = static_cast<int>(q.get<std::int64_t>("late_upload_every").value_or(0));
        c.quirks.late_upload_age = q.duration("late_upload_age").value_or(c.quirks.late_upload_age);
        if (c.quirks.late_upload_every < 0) throw SimConfigError{q.path() + ".late_upload_every: must be 0 (off) or more"};
        if (c.quirks.bad_value_rate < 0 || c.quirks.bad_value_rate > 1) {
            throw SimConfigError{q.path() + ".bad_value_rate: must be between 0 and 1"};
        }
        q.reject_unknown();
    }
    const auto* fields = r.node("fields");
    const auto* arr = fields ? fields->as_array() : nullptr;
    if (!arr || arr->empty()) throw SimConfigError{r.path() + ".fields: a channel needs at least one [[channels.fields]]"};
    for (std::size_t i = 0; i < arr->size(); ++i) {
        const auto* table = (*arr)[i].as_table();
        if (!table) throw SimConfigError{r.path() + ".fields: must be tables"};
        TableReader fr{*table, r.path() + ".fields[" + std::to_string(i) + "]", source};
        int n = 0;
        auto field = parse_field(fr, n);
        if (c.fields[static_cast<std::size_t>(n - 1)].enabled || !c.fields[static_cast<std::size_t>(n - 1)].label.empty()) {
            throw SimConfigError{fr.path() + ".n: field " + std::to_string(n) + " appears twice"};
        }
        c.fields[static_cast<std::size_t>(n - 1)] = std::move(field);
    }
    r.reject_unknown();
    return c;
}

} // namespace

SimConfig parse_sim_config(std::string_view toml_text, std::string_view source_name) {
    toml::table root;
    try {
        root = toml::parse(toml_text, source_name);
    } catch (const toml::parse_error& e) {
        std::ostringstream msg;
        msg << source_name << ':' << e.source().begin.line << ':' << e.source().begin.column << ": "
            << e.description();
        throw SimConfigError{msg.str()};
    }
    SimConfig config;
    TableReader r{root, "", source_name};
    const auto seed = r.get<std::int64_t>("seed").value_or(1);
    if (seed < 0) throw SimConfigError{"seed: must be ≥ 0"};
    config.seed = static_cast<std::uint64_t>(seed);
    config.speed = r.get<double>("speed").value_or(1.0);
    if (!(config.speed > 0 && config.speed <= 100000)) throw SimConfigError{"speed: must be above 0 and at most 100000"};
    if (auto start = r.get<std::string>("start")) {
        auto t = parse_iso8601(*start);
        if (!t) throw SimConfigError{"start: must look like 2026-01-01T00:00:00Z"};
        config.start = t->utc;
    }
    config.history = r.duration("history").value_or(config.history);
    const auto* channels = r.node("channels");
    r.reject_unknown();
    const auto* arr = channels ? channels->as_array() : nullptr;
    if (!arr || arr->empty()) throw SimConfigError{std::string{source_name} + ": no [[channels]] defined"};
    std::set<std::uint64_t> ids;
    for (std::size_t i = 0; i < arr->size(); ++i) {
        const auto* table = (*arr)[i].as_table();
        if (!table) throw SimConfigError{"channels: must be tables"};
        TableReader cr{*table, "channels[" + std::to_string(i) + "]", source_name};
        auto channel = parse_channel(cr, source_name);
        if (!ids.insert(channel.id).second) {
            throw SimConfigError{cr.path() + ".id: channel " + std::to_string(channel.id) + " is defined twice"};
        }
        // Entries are kept in memory: refuse a history that would not fit comfortably.
        if (config.history / channel.interval > 2'000'000) {
            throw SimConfigError{cr.path() + ".interval: history/interval exceeds 2,000,000 entries"};
        }
        config.channels.push_back(std::move(channel));
    }
    return config;
}

SimConfig load_sim_config(const std::filesystem::path& path) {
    std::ifstream in{path};
    if (!in) throw SimConfigError{path.string() + ": cannot open"};
    std::ostringstream text;
    text << in.rdbuf();
    return parse_sim_config(text.str(), path.string());
}

} // namespace flowgate::sim
