#include "flowgate/sched/device_health.hpp"

namespace flowgate::sched {
namespace {

using std::chrono::seconds;

unsigned bit(AlertKind kind) { return 1u << static_cast<unsigned>(kind); }

std::string for_seconds(seconds s) { return std::to_string(s.count()) + " s"; }

} // namespace

HealthOptions HealthOptions::for_interval(seconds interval, std::optional<seconds> stale_after,
                                          std::optional<seconds> offline_after) {
    HealthOptions o;
    o.stale_after = stale_after.value_or(3 * interval);
    o.offline_after = std::max(offline_after.value_or(10 * interval), o.stale_after);
    o.follow_posting = !stale_after && !offline_after;
    return o;
}

void DeviceHealth::add(DeviceId device, HealthOptions options) {
    const auto [it, added] = devices_.try_emplace(device);
    if (added) it->second.fresh_at = clock_.steady_now();
    it->second.options = options;
}

DeviceHealth::Changes DeviceHealth::remove(DeviceId device) {
    Changes out;
    const auto it = devices_.find(device);
    if (it == devices_.end()) return out;
    for (unsigned kind = 0; kind <= static_cast<unsigned>(AlertKind::source_outage); ++kind) {
        set_alert(device, it->second.open_alerts, static_cast<AlertKind>(kind), false, "the device is no longer polled", out);
    }
    devices_.erase(it);
    return out;
}

void DeviceHealth::restore_open(std::optional<DeviceId> device, AlertKind kind) {
    if (!device) {
        source_alerts_ |= bit(kind);
        return;
    }
    if (const auto it = devices_.find(*device); it != devices_.end()) it->second.open_alerts |= bit(kind);
}

DeviceHealth::Changes DeviceHealth::on_entry(DeviceId device, Seconds created_at) {
    Changes out;
    const auto it = devices_.find(device);
    if (it == devices_.end()) return out;
    auto& d = it->second;
    // How often news comes: until it has come twice, from the created_at of what was read (a
    // first read's history shows it at once; back-dated entries say nothing); then from when
    // it arrived, which no device clock (or simulated time) can skew, and which is never less
    // than the polling interval.
    if (!d.posting_from_arrivals && d.newest && created_at > *d.newest) {
        const auto gap = created_at - *d.newest;
        d.posting = d.posting.count() == 0 ? gap : (7 * d.posting + gap) / 8;
    }
    if (!d.newest || created_at > *d.newest) d.newest = created_at;
    if (wall_now() - created_at > offline_after(d)) return out;
    const auto now = clock_.steady_now();
    if (const auto gap = std::chrono::duration_cast<seconds>(now - d.fresh_at);
        d.state != HealthState::unknown && gap >= seconds{1}) {
        d.posting = d.posting_from_arrivals ? (7 * d.posting + gap) / 8 : gap;
        d.posting_from_arrivals = true;
    }
    d.fresh_at = now;
    d.failures = 0;
    set_state(device, d, HealthState::online, "new entry", out);
    return out;
}

DeviceHealth::Changes DeviceHealth::on_fetch(DeviceId device, FetchVerdict verdict, std::string_view error) {
    Changes out;
    const auto it = devices_.find(device);
    if (it == devices_.end()) return out;
    auto& d = it->second;
    if (verdict == FetchVerdict::ok) {
        d.failures = 0;
        set_alert(device, d.open_alerts, AlertKind::auth_failed, false, "the key is accepted again", out);
        // Open at start-up (restored) while the breaker was never seen open: the source works.
        if (!source_down_) set_alert(std::nullopt, source_alerts_, AlertKind::source_outage, false, "the source answers", out);
        return out;
    }
    ++d.failures;
    if (verdict == FetchVerdict::auth_failed) {
        set_alert(device, d.open_alerts, AlertKind::auth_failed, true, std::string{error}, out);
    }
    if (d.failures >= d.options.max_failures && d.state != HealthState::offline) {
        set_state(device, d, HealthState::offline,
                  std::to_string(d.failures) + " failed fetches in a row: " + std::string{error}, out);
    }
    return out;
}

DeviceHealth::Changes DeviceHealth::on_schema(DeviceId device, std::optional<std::string> problem) {
    Changes out;
    const auto it = devices_.find(device);
    if (it == devices_.end()) return out;
    const bool open = problem.has_value();
    set_alert(device, it->second.open_alerts, AlertKind::schema_mismatch, open,
              open ? std::move(*problem) : "the channel's labels match the mappings again", out);
    return out;
}

DeviceHealth::Changes DeviceHealth::on_source(bool available, std::string_view why) {
    Changes out;
    if (available == !source_down_) return out;
    source_down_ = !available;
    set_alert(std::nullopt, source_alerts_, AlertKind::source_outage, !available,
              available ? "the source answers again" : std::string{why}, out);
    if (available) {
        // What a device could not deliver meanwhile is not its fault: staleness starts over.
        const auto now = clock_.steady_now();
        for (auto& [id, d] : devices_) d.fresh_at = std::max(d.fresh_at, now);
    }
    return out;
}

DeviceHealth::Changes DeviceHealth::tick() {
    Changes out;
    if (source_down_) return out;
    const auto now = clock_.steady_now();
    for (auto& [id, d] : devices_) {
        const auto quiet = std::chrono::duration_cast<seconds>(now - d.fresh_at);
        if (const auto limit = offline_after(d); quiet >= limit && d.state != HealthState::offline) {
            set_state(id, d, HealthState::offline,
                      "no new entry for " + for_seconds(quiet) + " (offline after " + for_seconds(limit) + ")", out);
        } else if (const auto stale = stale_after(d);
                   quiet >= stale && (d.state == HealthState::online || d.state == HealthState::unknown)) {
            set_state(id, d, HealthState::stale,
                      "no new entry for " + for_seconds(quiet) + " (stale after " + for_seconds(stale) + ")", out);
        }
    }
    return out;
}

HealthState DeviceHealth::state(DeviceId device) const {
    const auto it = devices_.find(device);
    return it == devices_.end() ? HealthState::unknown : it->second.state;
}

bool DeviceHealth::is_open(std::optional<DeviceId> device, AlertKind kind) const {
    if (!device) return (source_alerts_ & bit(kind)) != 0;
    const auto it = devices_.find(*device);
    return it != devices_.end() && (it->second.open_alerts & bit(kind)) != 0;
}

seconds DeviceHealth::stale_after(const Device& d) {
    return d.options.follow_posting ? std::max(d.options.stale_after, 3 * d.posting) : d.options.stale_after;
}

seconds DeviceHealth::offline_after(const Device& d) {
    return d.options.follow_posting ? std::max(d.options.offline_after, 10 * d.posting) : d.options.offline_after;
}

void DeviceHealth::set_state(DeviceId id, Device& d, HealthState to, std::string reason, Changes& out) {
    // Stale and Offline each have their alert; Online resolves both.
    set_alert(id, d.open_alerts, AlertKind::device_stale, to == HealthState::stale, reason, out);
    set_alert(id, d.open_alerts, AlertKind::device_offline, to == HealthState::offline, reason, out);
    if (d.state == to) return;
    out.status.push_back({.device_id = id,
                          .from = d.state,
                          .to = to,
                          .consecutive_failures = d.failures,
                          .reason = std::move(reason),
                          .at = wall_now()});
    d.state = to;
}

void DeviceHealth::set_alert(std::optional<DeviceId> id, unsigned& open_alerts, AlertKind kind, bool open,
                             std::string message, Changes& out) {
    if (((open_alerts & bit(kind)) != 0) == open) return;
    open_alerts ^= bit(kind);
    AlertChange change;
    change.device_id = id;
    change.kind = kind;
    change.open = open;
    change.message = std::move(message);
    change.at = wall_now();
    out.alerts.push_back(std::move(change));
}

Seconds DeviceHealth::wall_now() const { return std::chrono::floor<seconds>(clock_.wall_now()); }

} // namespace flowgate::sched
