#include "channel.hpp"

#include <algorithm>
#include <array>

#include "signal.hpp"

namespace flowgate::sim {
namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 4> junk_values{"ERR", "sensor fault", "x87654321x", "OVF"};

constexpr Seconds slot_origin{sys_days{year{2026} / 1 / 1}};

// Salts keep the random draws for different purposes independent of each other.
enum Salt : std::uint64_t { jitter_salt = 1, noise_salt, bad_salt, skew_salt, phase_salt };

} // namespace

std::string_view junk_value(std::uint8_t index) { return junk_values[index % junk_values.size()]; }

Channel::Channel(ChannelSpec spec, std::uint64_t seed, Seconds data_start)
    : spec_{std::move(spec)},
      seed_{mix(seed, spec_.id)},
      created_at_{std::min(slot_origin, data_start) - hours{1}},
      updated_at_{created_at_} {
    // Posting slots count from a fixed origin, so that a restarted simulator serves the same
    // entry ids and values for the same times: to a client the channel never changed.
    const auto since_origin = (data_start - std::min(slot_origin, data_start)).count();
    const auto first_slot = (since_origin + spec_.interval.count() - 1) / spec_.interval.count();
    seq_ = static_cast<std::uint64_t>(first_slot);
    next_slot_ = std::min(slot_origin, data_start) + first_slot * spec_.interval;
    first_entry_id_ = static_cast<std::uint32_t>(first_slot + 1);
    next_entry_id_ = first_entry_id_;
    time_ordered_ = !spec_.quirks.device_timestamps;
}

seconds Channel::jitter(std::uint64_t seq) const {
    // Devices post a little late, by up to a fifth of their interval, never a whole one.
    const auto max = std::max<std::int64_t>(1, spec_.interval.count() / 5);
    return seconds{static_cast<std::int64_t>(mix(seed_ ^ jitter_salt, seq) % static_cast<std::uint64_t>(max))};
}

void Channel::advance_to(Seconds now) {
    while (next_slot_ + jitter(seq_) <= now) {
        entries_.push_back(make_entry(next_slot_ + jitter(seq_)));
        next_slot_ += spec_.interval;
        ++seq_;
    }
}

Entry Channel::make_entry(Seconds posted_at) {
    Entry e;
    e.entry_id = next_entry_id_++;
    e.created_at = posted_at;
    if (spec_.quirks.device_timestamps) {
        // A device clock that runs behind; one post in ten comes from a badly skewed clock.
        const auto draw = mix(seed_ ^ skew_salt, seq_);
        const auto skew = draw % 10 == 0 ? static_cast<std::int64_t>(draw % (3 * static_cast<std::uint64_t>(spec_.interval.count()) + 1))
                                         : static_cast<std::int64_t>(draw % 3);
        e.created_at -= seconds{skew};
    }
    if (const auto every = spec_.quirks.late_upload_every; every > 0 && seq_ % static_cast<std::uint64_t>(every) == 0 && seq_ > 0) {
        e.created_at -= spec_.quirks.late_upload_age;
    }
    // Skewed device clocks, or a posting interval shortened mid-way, can put an entry before
    // the previous one: reads then sort instead of bisecting.
    if (!entries_.empty() && e.created_at < entries_.back().created_at) time_ordered_ = false;
    if (spec_.status_every > 0 && seq_ % static_cast<std::uint64_t>(spec_.status_every) == 0) {
        e.status = static_cast<std::int32_t>((seq_ / static_cast<std::uint64_t>(spec_.status_every)) % spec_.statuses.size());
    }

    const PumpCycle pump{spec_.pump_on, spec_.pump_off,
                         seconds{static_cast<std::int64_t>(mix(seed_ ^ phase_salt, 0) %
                                                           static_cast<std::uint64_t>((spec_.pump_on + spec_.pump_off).count()))}};
    std::array<int, 8> enabled{};
    int enabled_count = 0;
    for (int n = 0; n < 8; ++n) {
        if (spec_.fields[static_cast<std::size_t>(n)].enabled) enabled[static_cast<std::size_t>(enabled_count++)] = n;
    }
    const int only = spec_.quirks.one_field_per_post && enabled_count > 0
                         ? enabled[seq_ % static_cast<std::uint64_t>(enabled_count)]
                         : -1;
    for (int n = 0; n < 8; ++n) {
        const auto& field = spec_.fields[static_cast<std::size_t>(n)];
        auto& value = e.values[static_cast<std::size_t>(n)];
        if (!field.enabled || (only >= 0 && n != only)) continue;
        const auto key = seq_ * 8 + static_cast<std::uint64_t>(n);
        if (unit_interval(mix(seed_ ^ bad_salt, key)) < spec_.quirks.bad_value_rate) {
            const auto draw = mix(seed_ ^ bad_salt, key + 1);
            value.kind = std::array{Value::Kind::empty, Value::Kind::nan, Value::Kind::junk}[draw % 3];
            value.index = static_cast<std::uint8_t>(draw >> 8);
        } else if (field.kind == SignalKind::text) {
            value.kind = Value::Kind::text;
            value.index = static_cast<std::uint8_t>(seq_ % field.texts.size());
        } else {
            const double clean = signal_value(field, pump, posted_at);
            // A stopped pump and an idle pipe read exactly zero; a flow is never negative.
            const bool exact_zero = clean == 0 && (field.kind == SignalKind::flow_rate || field.kind == SignalKind::pump);
            const double noise = exact_zero || field.kind == SignalKind::pump || field.kind == SignalKind::flow_total
                                     ? 0
                                     : field.noise * (2 * unit_interval(mix(seed_ ^ noise_salt, key)) - 1);
            value.kind = Value::Kind::number;
            value.number = field.kind == SignalKind::flow_rate ? std::max(0.0, clean + noise) : clean + noise;
        }
    }
    return e;
}

void Channel::clear(Seconds now) {
    advance_to(now);
    entries_.clear();
    first_entry_id_ = 1;
    next_entry_id_ = 1;
    time_ordered_ = !spec_.quirks.device_timestamps;
    updated_at_ = now;
}

void Channel::set_field(int n, std::optional<std::string> label, std::optional<bool> enabled, Seconds now) {
    advance_to(now);
    auto& field = spec_.fields[static_cast<std::size_t>(n - 1)];
    if (label) field.label = std::move(*label);
    if (enabled) field.enabled = *enabled;
    updated_at_ = now;
}

void Channel::set_interval(seconds interval, Seconds now) {
    advance_to(now);
    // The device keeps its phase: the next post comes one new interval after the last one.
    next_slot_ = next_slot_ - spec_.interval + interval;
    spec_.interval = interval;
}

const Entry* Channel::find(std::uint64_t entry_id) const {
    // Ids have no gaps within an epoch.
    if (entry_id < first_entry_id_ || entry_id - first_entry_id_ >= entries_.size()) return nullptr;
    return &entries_[entry_id - first_entry_id_];
}

const Entry* Channel::last_with_field(int n) const {
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
        if (it->values[static_cast<std::size_t>(n - 1)].kind != Value::Kind::null) return &*it;
    }
    return nullptr;
}

std::vector<const Entry*> Channel::select(Seconds lo, Seconds hi, std::size_t limit) const {
    std::vector<const Entry*> out;
    if (time_ordered_) {
        const auto by_time = [](const Entry& e, Seconds t) { return e.created_at < t; };
        auto first = std::lower_bound(entries_.begin(), entries_.end(), lo, by_time);
        auto last = std::upper_bound(entries_.begin(), entries_.end(), hi,
                                     [](Seconds t, const Entry& e) { return t < e.created_at; });
        if (first >= last) return out;
        if (static_cast<std::size_t>(last - first) > limit) first = last - static_cast<std::ptrdiff_t>(limit);
        out.reserve(static_cast<std::size_t>(last - first));
        for (auto it = first; it != last; ++it) out.push_back(&*it);
        return out;
    }
    for (const auto& e : entries_) {
        if (e.created_at >= lo && e.created_at <= hi) out.push_back(&e);
    }
    std::stable_sort(out.begin(), out.end(), [](const Entry* a, const Entry* b) { return a->created_at < b->created_at; });
    if (out.size() > limit) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(limit));
    return out;
}

std::vector<const Entry*> Channel::select_statuses(Seconds lo, Seconds hi, std::size_t limit) const {
    auto all = select(lo, hi, entries_.size());
    std::erase_if(all, [](const Entry* e) { return e->status < 0; });
    if (all.size() > limit) all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(limit));
    return all;
}

} // namespace flowgate::sim
