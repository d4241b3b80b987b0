#include "signal.hpp"

#include <cmath>
#include <numbers>

namespace flowgate::sim {
namespace {

using namespace std::chrono;

constexpr sys_seconds totaliser_origin{sys_days{year{2020} / 1 / 1}};

/// 0 → 1 while the pump runs, 1 → 0 while it idles: the shape of a tank level.
double fill_fraction(const PumpCycle& pump, sys_seconds t) {
    const auto pos = static_cast<double>(pump.position(t));
    const auto on = static_cast<double>(pump.on.count());
    const auto off = static_cast<double>(pump.off.count());
    return pos < on ? pos / on : 1.0 - (pos - on) / off;
}

} // namespace

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
    std::uint64_t z = a * 0x9e3779b97f4a7c15ULL + b + 0x632be59bd9b4e019ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double unit_interval(std::uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

std::int64_t PumpCycle::position(sys_seconds t) const {
    const auto period = (on + off).count();
    const auto shifted = t.time_since_epoch().count() + phase.count();
    return ((shifted % period) + period) % period;
}

double PumpCycle::running_seconds(sys_seconds t) const {
    const auto period = (on + off).count();
    const auto elapsed = (t - totaliser_origin).count() + phase.count();
    const auto cycles = elapsed / period;
    const auto pos = elapsed % period;
    return static_cast<double>(cycles * on.count() + std::min<std::int64_t>(pos, on.count()));
}

double signal_value(const FieldSpec& field, const PumpCycle& pump, sys_seconds t) {
    const double span = field.max - field.min;
    const double day_seconds = 86400.0;
    switch (field.kind) {
    case SignalKind::tank_level: return field.min + span * fill_fraction(pump, t);
    case SignalKind::sump_level: return field.max - span * fill_fraction(pump, t);
    case SignalKind::water_depth: return field.min + span * fill_fraction(pump, t);
    case SignalKind::pump: return pump.running(t) ? 1.0 : 0.0;
    case SignalKind::flow_rate: return pump.running(t) ? field.mean : 0.0;
    case SignalKind::flow_total: return field.mean * pump.running_seconds(t) / 60.0;
    case SignalKind::temperature: {
        const double hour = std::fmod(static_cast<double>(t.time_since_epoch().count()), day_seconds) / 3600.0;
        return field.mean + field.amplitude * std::cos(2 * std::numbers::pi * (hour - field.peak_hour) / 24.0);
    }
    case SignalKind::tds: {
        const double days = static_cast<double>(t.time_since_epoch().count()) / day_seconds;
        return field.mean + field.amplitude * std::sin(2 * std::numbers::pi * days / 3.0);
    }
    case SignalKind::text: return 0;
    }
    return 0;
}

} // namespace flowgate::sim
