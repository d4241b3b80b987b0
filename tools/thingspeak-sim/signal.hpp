#pragma once

#include <chrono>
#include <cstdint>

#include "sim_config.hpp"

namespace flowgate::sim {

/// A well-mixed 64-bit hash of two values (splitmix64 finaliser); the simulator's only
/// source of randomness, so everything it serves follows from the seed.
std::uint64_t mix(std::uint64_t a, std::uint64_t b);

/// Maps a hash to [0, 1).
double unit_interval(std::uint64_t h);

/// The pump cycle of a channel: `on` running, then `off` idle, shifted by `phase`.
struct PumpCycle {
    std::chrono::seconds on;
    std::chrono::seconds off;
    std::chrono::seconds phase;

    /// Seconds into the current cycle at `t`.
    std::int64_t position(std::chrono::sys_seconds t) const;
    bool running(std::chrono::sys_seconds t) const { return position(t) < on.count(); }
    /// Total running seconds since 2020-01-01 (for totalisers).
    double running_seconds(std::chrono::sys_seconds t) const;
};

/// The noiseless value of a numeric `field` at `t`.
double signal_value(const FieldSpec& field, const PumpCycle& pump, std::chrono::sys_seconds t);

} // namespace flowgate::sim
