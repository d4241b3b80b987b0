#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace flowgate::sim {

/// How a field's values evolve over simulated time.
enum class SignalKind {
    tank_level,   ///< overhead tank: fills while its pump runs, drains with demand
    sump_level,   ///< sump: the mirror image, drawn down while the pump runs
    pump,         ///< 1 while the pump of the cycle runs, else 0
    flow_rate,    ///< litres/min: `mean` while the pump runs, else 0
    flow_total,   ///< totaliser in litres: grows only while the pump runs
    temperature,  ///< daily sine with its peak at `peak_hour` (UTC)
    tds,          ///< slow drift around `mean`
    water_depth,  ///< borewell depth to water in metres: deeper while pumping
    text,         ///< cycles through `texts`
};

/// One field of a channel and its signal. Parameters unused by a kind are ignored.
struct FieldSpec {
    bool enabled = false;
    std::string label;
    SignalKind kind = SignalKind::tank_level;
    double min = 0;            ///< tank/sump/depth: lowest value
    double max = 100;          ///< tank/sump/depth: highest value
    double mean = 0;           ///< temperature/tds/flow_rate: centre value
    double amplitude = 0;      ///< temperature: half the daily swing; tds: drift
    double peak_hour = 15;     ///< temperature: hour of day (UTC) of the maximum
    double noise = 0;          ///< uniform noise added to every value, ±noise
    int decimals = 2;          ///< digits after the point in the posted string
    std::vector<std::string> texts; ///< text: the values cycled through
};

/// Misbehaviour of real devices that a client must survive.
struct Quirks {
    bool one_field_per_post = false; ///< each entry writes one field, the others are null
    double bad_value_rate = 0;       ///< share of values posted as "", "nan" or text
    bool device_timestamps = false;  ///< devices set created_at: skewed, sometimes out of order
    /// Every Nth entry (0: none) is a reading the device buffered while offline and uploads
    /// late, with the created_at of when it was taken: `late_upload_age` before the others.
    int late_upload_every = 0;
    std::chrono::seconds late_upload_age{std::chrono::hours{2}};
};

struct ChannelSpec {
    std::uint64_t id = 0;
    std::string name;
    std::optional<std::string> description;
    std::string latitude = "0.0";
    std::string longitude = "0.0";
    std::optional<std::string> elevation;
    std::optional<std::string> metadata;
    std::optional<std::string> read_key; ///< set: the channel is private
    std::chrono::seconds interval{60};   ///< posting interval of the device
    std::chrono::seconds pump_on{std::chrono::minutes{20}};   ///< pump cycle: running time
    std::chrono::seconds pump_off{std::chrono::minutes{100}}; ///< pump cycle: idle time
    std::vector<std::string> statuses;   ///< status messages, one every `status_every` entries
    int status_every = 0;
    Quirks quirks;
    std::array<FieldSpec, 8> fields;
};

struct SimConfig {
    std::uint64_t seed = 1;
    /// Simulated seconds per wall second.
    double speed = 1.0;
    /// Simulated time at start-up; unset means the wall clock's time.
    std::optional<std::chrono::sys_seconds> start;
    /// How far before `start` every channel's data begins.
    std::chrono::seconds history{std::chrono::hours{24}};
    std::vector<ChannelSpec> channels;
};

struct SimConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Parses and validates a simulator configuration; throws SimConfigError naming the key.
SimConfig parse_sim_config(std::string_view toml_text, std::string_view source_name);
SimConfig load_sim_config(const std::filesystem::path& path);

} // namespace flowgate::sim
