#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "sim_config.hpp"

namespace flowgate::sim {

using Seconds = std::chrono::sys_seconds;

/// One posted value, kept compact; rendered to ThingSpeak's string form on request.
struct Value {
    enum class Kind : std::uint8_t { null, number, empty, nan, text, junk };
    Kind kind = Kind::null;
    std::uint8_t index = 0; ///< text: index into FieldSpec::texts; junk: into junk_values()
    double number = 0;
};

struct Entry {
    Seconds created_at;
    std::uint32_t entry_id = 0;
    std::int32_t status = -1; ///< index into ChannelSpec::statuses, or -1 for none
    std::array<Value, 8> values;
};

/// Text that broken devices post instead of a number.
std::string_view junk_value(std::uint8_t index);

/// A simulated ThingSpeak channel: its settings and every entry its device has posted up to
/// the simulated "now". Entries are generated deterministically from the seed, so two
/// simulators with the same configuration serve the same data.
class Channel {
public:
    /// `data_start`: when the device posted its first entry.
    Channel(ChannelSpec spec, std::uint64_t seed, Seconds data_start);

    /// Posts every entry due up to `now`. Time never goes backwards here.
    void advance_to(Seconds now);

    /// Deletes every entry; the next entry has id 1 again (a new epoch of the channel).
    void clear(Seconds now);
    /// Renames and/or enables/disables field `n` (1..8), as a channel owner would.
    void set_field(int n, std::optional<std::string> label, std::optional<bool> enabled, Seconds now);
    /// Changes the posting interval from now on.
    void set_interval(std::chrono::seconds interval, Seconds now);

    const ChannelSpec& spec() const { return spec_; }
    Seconds created_at() const { return created_at_; }
    Seconds updated_at() const { return updated_at_; }
    bool empty() const { return entries_.empty(); }
    /// The newest entry by entry_id (what feeds/last.json returns).
    const Entry* last() const { return entries_.empty() ? nullptr : &entries_.back(); }
    const Entry* find(std::uint64_t entry_id) const;
    /// The newest entry whose field `n` is not null.
    const Entry* last_with_field(int n) const;
    /// The newest `limit` entries with created_at in [lo, hi], in ascending time order.
    std::vector<const Entry*> select(Seconds lo, Seconds hi, std::size_t limit) const;
    /// Entries that carry a status message, newest `limit` with created_at in [lo, hi].
    std::vector<const Entry*> select_statuses(Seconds lo, Seconds hi, std::size_t limit) const;

private:
    Entry make_entry(Seconds posted_at);
    std::chrono::seconds jitter(std::uint64_t seq) const;

    ChannelSpec spec_;
    std::uint64_t seed_;
    Seconds created_at_;
    Seconds updated_at_;
    std::vector<Entry> entries_;
    Seconds next_slot_;          ///< nominal time of the next post, before jitter
    std::uint64_t seq_ = 0;      ///< posting slot since the origin: drives every random draw
    std::uint32_t first_entry_id_ = 1; ///< id of entries_.front()
    std::uint32_t next_entry_id_ = 1;
    bool time_ordered_ = true;   ///< false once a device-set created_at went backwards
};

} // namespace flowgate::sim
