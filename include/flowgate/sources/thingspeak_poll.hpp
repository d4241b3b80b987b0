#pragma once

#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flowgate/core/telemetry.hpp"
#include "flowgate/registry/device.hpp"
#include "flowgate/thingspeak/fetch_result.hpp"

namespace flowgate::sources {

/// What one poll of a channel produced.
struct PollOutcome {
    /// Entries newer than the cursor, in entry_id order, normalized.
    std::vector<TelemetryEntry> entries;
    /// Failures to store in telemetry_errors (and log).
    std::vector<TelemetryErrorRecord> errors;
    /// True when the channel answered with a usable feed (even an empty one).
    bool fetched = false;
    /// Set when the channel's entry ids went backwards: it was cleared, a new epoch began.
    bool new_epoch = false;
    /// The newest entry id in the answer beyond the cursor, including entries that produced
    /// no reading (every field empty or invalid).
    std::optional<std::int64_t> newest_entry_id;
    /// The probe found entries beyond the cursor, or a backfill has pages left: read now,
    /// not an interval later.
    bool read_now = false;
    /// A page of a backfill: its entries are older than ones already read, and the cursor
    /// moves (to `newest_entry_id`) only with the page that closes the gap.
    bool backfill = false;
    /// created_at of the entry the cursor moves to, when it is not the newest of `entries`.
    std::optional<Seconds> cursor_time;
    /// The answer to `feeds/{id}.json` for this entry id, of a backfill.
    std::optional<std::int64_t> read_by_id;
    /// The answer carried the channel's field labels; `schema_problem` is the first that does
    /// not match the mappings (reported in `errors` only the first time).
    bool schema_checked = false;
    std::optional<std::string> schema_problem;
};

/// The decisions of polling one ThingSpeak device, without I/O: which URL to read, which
/// entries of the answer are new, what is an error, and where the cursor stands. The cursor
/// moves only when the caller reports an entry as accepted for storage, so an entry that
/// could not be queued is fetched again next time instead of being lost.
///
/// After a read that found nothing new, the next poll is the cheap probe
/// (`feeds/last_entry_id.json`, a number): the feed is read again only when the probe says
/// the channel moved, and then only the newest rows the probe counted. A device that posts
/// as often as it is polled thus costs one request a poll, and one polled faster than it
/// posts mostly costs a probe.
///
/// A read returns the newest 8000 rows of its window. When that is not everything since the
/// cursor, the poll backfills: it pages backwards (`end` = the oldest row it has, the same
/// `start`), one page per poll, each a poll like any other (scheduled, budgeted), until the
/// page reaches the entry after the cursor. Pages are stored as they come; the cursor stays
/// until the gap is closed, then moves past all of it, so a restart mid-way reads the gap
/// again rather than skipping it. What no page returns (entries posted with a created_at
/// before the window, or holes in it) is read by id, one request each up to max_by_id; more,
/// or an id the channel no longer has, is an error naming them.
class ThingSpeakPoll {
public:
    /// Rows asked for by a poll without a cursor time (the first one ever), without a
    /// history to read: the recent past.
    static constexpr int first_poll_results = 100;
    /// Rows asked for from the cursor on: ThingSpeak's maximum, so that a poll after an outage
    /// reads everything missed since (the newest 8000 of it).
    static constexpr int max_results = 8000;
    /// How far before the cursor's time a read starts, for devices whose clocks run behind
    /// (their entries' created_at can be older than an entry posted before them).
    static constexpr std::chrono::minutes clock_skew_margin{10};
    /// Most entries a gap's remains are read one by one (`feeds/{id}.json`): entries posted
    /// with a created_at before the read's window, or missing from its middle.
    static constexpr std::int64_t max_by_id = 100;

    /// With `history_from`, a read without a cursor (the first one ever, or after the
    /// channel was cleared) asks for everything created since then, paging back like a
    /// backfill when it is more than one read; without, for the newest first_poll_results.
    explicit ThingSpeakPoll(ThingSpeakDevice device, std::optional<Seconds> history_from = std::nullopt);

    const ThingSpeakDevice& device() const { return device_; }
    const DeviceCursor& cursor() const { return device_.cursor; }
    /// New mappings, interval or name of the same channel read with the same key: where the
    /// poll stands (cursor, backfill) stays; schema problems are news again.
    void reconfigure(ThingSpeakDevice device);

    /// Path and query of the next read, with the read key when the channel is private: the
    /// newest rows at first, then everything from the cursor's time on, or the probe, or the
    /// rows the probe counted.
    std::string target() const;
    /// The next read is the probe.
    bool probing() const { return probe_; }
    /// The next read is a page of a backfill, or an entry read by id.
    bool backfilling() const { return backfill_.has_value(); }

    /// Interprets the answer to target().
    PollOutcome on_response(const thingspeak::FetchResult& result, Seconds now);

    /// The caller queued the first `accepted` entries of `outcome` for storage. When that is
    /// all of them, the cursor moves past everything the answer held; otherwise past the last
    /// accepted one, and the rest is read again next time. During a backfill the cursor stays
    /// until the gap is closed: with reads by id to come, it will then move only as far as
    /// the last entry stored; otherwise the backfill starts over from the cursor, moved over
    /// what was stored without a hole after it. A read by id not stored is read again.
    void commit(const PollOutcome& outcome, std::size_t accepted);

private:
    /// Entry ids as sorted, disjoint, non-adjacent ranges: what the reads of a backfill
    /// returned (a few ranges, however many ids).
    class IdRanges {
    public:
        void add(std::int64_t id);
        bool contains(std::int64_t id) const;

    private:
        std::vector<std::pair<std::int64_t, std::int64_t>> ranges_;
    };

    /// Entries (cursor, missing_to] are still to be read, by pages that end at `end`, then
    /// the entries in `ids` one by one; once the gap is closed the cursor moves to `resume`.
    /// `got` is what its reads returned: a late upload (a high id with an old created_at)
    /// comes with an older page than its id suggests.
    struct Backfill {
        std::int64_t missing_to = 0;
        Seconds end{};
        std::int64_t resume = 0;
        std::optional<Seconds> resume_at;
        std::deque<std::int64_t> ids;
        IdRanges got;
    };

    PollOutcome on_probe(std::string_view body, Seconds now);
    /// The answer to `feeds/{id}.json` for the first of the backfill's ids.
    PollOutcome on_entry(std::string_view body, Seconds now);
    /// Entries (after, upper] not in `got`: read one by one when there are at most max_by_id
    /// of them, else one error naming them. Needs backfill_.
    void read_missing(std::int64_t after, std::int64_t upper, const IdRanges& got, PollOutcome& out, Seconds now);
    /// The gap is closed, or what is left of it cannot be read: the cursor moves past it.
    void close_backfill(PollOutcome& out);

    ThingSpeakDevice device_;
    std::optional<Seconds> history_from_;
    bool probe_ = false;
    /// The probe found this many new entries: the next read asks for the newest that many.
    std::optional<std::int64_t> exact_;
    std::optional<Backfill> backfill_;
    /// The newest entry id of a channel whose entries beyond the cursor a read did not return.
    std::optional<std::int64_t> unreturned_last_;
    /// Schema problems already reported, so a renamed field is reported once, not every poll.
    std::set<std::string> reported_schema_problems_;
};

} // namespace flowgate::sources
