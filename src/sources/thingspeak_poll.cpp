#include "flowgate/sources/thingspeak_poll.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <deque>

#include "flowgate/normalize/feed.hpp"
#include "flowgate/normalize/normalizer.hpp"

namespace flowgate::sources {

namespace {

/// "2026-11-28%2021:03:27": a UTC time as a read's start or end.
std::string query_time(Seconds utc) {
    auto t = format_iso8601(utc); // "2026-11-28T21:03:27Z"
    t.pop_back();
    return t.replace(10, 1, "%20");
}

} // namespace

ThingSpeakPoll::ThingSpeakPoll(ThingSpeakDevice device, std::optional<Seconds> history_from)
    : device_{std::move(device)}, history_from_{history_from} {}

void ThingSpeakPoll::reconfigure(ThingSpeakDevice device) {
    device.cursor = device_.cursor;
    device_ = std::move(device);
    reported_schema_problems_.clear();
}

std::string ThingSpeakPoll::target() const {
    const auto key = device_.read_api_key && !device_.read_api_key->empty() ? *device_.read_api_key : std::string{};
    if (probe_) {
        auto t = "/channels/" + std::to_string(device_.channel_id) + "/feeds/last_entry_id.json";
        return key.empty() ? t : t + "?api_key=" + key;
    }
    if (backfill_ && !backfill_->ids.empty()) {
        auto t = "/channels/" + std::to_string(device_.channel_id) + "/feeds/" + std::to_string(backfill_->ids.front()) + ".json";
        return key.empty() ? t : t + "?api_key=" + key;
    }
    std::string t = "/channels/" + std::to_string(device_.channel_id) + "/feeds.json?results=";
    const auto& since = device_.cursor.created_at;
    // Without a cursor: the history, when there is one to read.
    const auto history = device_.cursor.entry_id || since ? std::nullopt : history_from_;
    if (exact_) {
        t += std::to_string(*exact_);
    } else if (since || history || backfill_) {
        t += std::to_string(max_results);
        if (since) t += "&start=" + query_time(*since - clock_skew_margin);
        if (history) t += "&start=" + query_time(*history);
        if (backfill_) t += "&end=" + query_time(backfill_->end);
    } else {
        t += std::to_string(first_poll_results);
    }
    if (!key.empty()) t += "&api_key=" + key;
    return t;
}

PollOutcome ThingSpeakPoll::on_response(const thingspeak::FetchResult& result, Seconds now) {
    PollOutcome out;
    const auto channel = "channel " + std::to_string(device_.channel_id);
    if (result.error != thingspeak::FetchErrorKind::none) {
        out.errors.push_back(device_error(device_, ErrorStage::fetch,
                                   std::string{thingspeak::to_string(result.error)} + ": " + result.error_message, now));
        return out;
    }
    const bool by_id = backfill_ && !backfill_->ids.empty();
    if (by_id && result.status == 404) return on_entry("-1", now); // no such entry, however it is said
    if (result.status != 200) {
        // ThingSpeak answers a missing or wrong read key with 400 and the body -1.
        const bool refused_key = (result.status == 400 && result.body == "-1") || result.status == 401 || result.status == 403;
        auto e = refused_key
                     ? device_error(device_, ErrorStage::auth,
                             channel + " refused the read key (HTTP " + std::to_string(result.status) +
                                 "): check device_thingspeak_mapping.read_api_key of device " + std::to_string(device_.device_id),
                             now)
                     : device_error(device_, ErrorStage::fetch,
                             channel + " answered HTTP " + std::to_string(result.status) +
                                 (result.status == 404 ? ": no such channel" : ""),
                             now);
        e.http_status = static_cast<int>(result.status);
        out.errors.push_back(std::move(e));
        return out;
    }
    if (probe_) return on_probe(result.body, now);
    if (by_id) return on_entry(result.body, now);
    const bool exact = exact_.has_value();
    exact_.reset();
    auto parsed = normalize::parse_feed(result.body);
    if (!parsed.ok()) {
        auto e = device_error(device_, ErrorStage::parse, channel + ": " + parsed.error, now);
        e.http_status = 200;
        out.errors.push_back(std::move(e));
        return out;
    }
    out.fetched = true;
    auto& feed = *parsed.feed;

    // Entry ids that went backwards mean the channel was cleared: its ids restarted at 1.
    auto& cursor = device_.cursor;
    if (cursor.entry_id && feed.channel) {
        const auto last = feed.channel->last_entry_id.value_or(0);
        if (last < *cursor.entry_id) {
            // Everything of the new epoch is wanted: from before its entry 1 on, backfilled
            // like any gap when it is more than one read.
            ++cursor.channel_epoch;
            cursor.entry_id = 0;
            backfill_.reset();
            out.new_epoch = true;
        }
    }
    // The window's rows are the newest ones: a full answer may not reach back to the cursor,
    // and the oldest row's time is where the next page ends.
    const bool full = feed.entries.size() >= static_cast<std::size_t>(max_results);
    std::optional<Seconds> window_from;
    for (const auto& e : feed.entries) {
        const auto t = parse_iso8601(e.created_at_raw);
        if (t && (!window_from || t->utc < *window_from)) window_from = t->utc;
    }
    std::erase_if(feed.entries, [&](const normalize::FeedEntry& e) {
        return e.entry_id && ((cursor.entry_id && *e.entry_id <= *cursor.entry_id) ||
                              (backfill_ && backfill_->got.contains(*e.entry_id))); // read by an earlier page
    });
    std::optional<std::int64_t> oldest;
    std::int64_t new_ids = 0;
    std::string_view newest_at;
    for (const auto& e : feed.entries) {
        if (!e.entry_id) continue;
        ++new_ids;
        if (!out.newest_entry_id || *e.entry_id > *out.newest_entry_id) {
            out.newest_entry_id = e.entry_id;
            newest_at = e.created_at_raw;
        }
        if (!oldest || *e.entry_id < *oldest) oldest = e.entry_id;
    }
    // The newest rows were not just the new ones, each once (one of them is back-dated, or
    // more came than were asked for): read the window from the cursor's time instead, now.
    if (exact && cursor.entry_id &&
        (!oldest || *oldest > *cursor.entry_id + 1 || new_ids != *out.newest_entry_id - *cursor.entry_id)) {
        out.newest_entry_id.reset();
        out.read_now = true;
        return out;
    }
    // Entries between the cursor and the oldest new row were not returned: page back for
    // them while the answers are full; then read what is still missing one by one.
    const auto missing_to = oldest ? *oldest - 1 : backfill_ ? std::optional{backfill_->missing_to} : std::nullopt;
    const auto start_backfill = [&] {
        if (backfill_) return;
        const auto at = parse_iso8601(newest_at);
        backfill_.emplace();
        backfill_->resume = *out.newest_entry_id;
        if (at) backfill_->resume_at = at->utc;
    };
    // Without a cursor, a full read of the history has older rows of it to page back for.
    const bool history = !cursor.entry_id && !cursor.created_at && history_from_;
    if ((cursor.entry_id || history) && missing_to && *missing_to > cursor.entry_id.value_or(0) && oldest && full &&
        window_from) {
        start_backfill();
        backfill_->missing_to = *missing_to;
        backfill_->end = *window_from;
        out.newest_entry_id.reset(); // the cursor stays until the gap is closed
        out.read_now = true;
    } else if ((backfill_ || out.newest_entry_id) && (cursor.entry_id || oldest)) {
        // The holes between the cursor (without one, a first read: the oldest row) and the
        // newest row, or what the backfill resumes at, in all that its reads returned.
        const auto after = cursor.entry_id ? *cursor.entry_id : *oldest - 1;
        const auto upper = backfill_ ? backfill_->resume : *out.newest_entry_id;
        IdRanges got = backfill_ ? backfill_->got : IdRanges{};
        std::int64_t within = 0;
        for (const auto& e : feed.entries) {
            if (e.entry_id) got.add(*e.entry_id);
        }
        for (auto id = after + 1; id <= upper; ++id) within += got.contains(id);
        if (within < upper - after) {
            start_backfill();
            read_missing(after, upper, got, out, now);
        }
    }
    if (backfill_) {
        for (const auto& e : feed.entries) {
            if (e.entry_id) backfill_->got.add(*e.entry_id);
        }
    }
    if (backfill_ && !out.read_now) close_backfill(out);
    out.backfill = out.backfill || backfill_.has_value();

    auto normalized = normalize::Normalizer{}.normalize(device_, feed, now);
    out.schema_checked = feed.channel.has_value();
    for (auto& e : normalized.errors) {
        if (e.stage == ErrorStage::schema) {
            if (!out.schema_problem) out.schema_problem = e.message;
            if (!reported_schema_problems_.insert(e.message).second) continue;
        }
        out.errors.push_back(std::move(e));
    }
    // Fixed: should it break again, that is news again.
    if (out.schema_checked && !out.schema_problem) reported_schema_problems_.clear();
    for (auto& e : normalized.entries) e.channel_epoch = cursor.channel_epoch;
    std::sort(normalized.entries.begin(), normalized.entries.end(),
              [](const TelemetryEntry& a, const TelemetryEntry& b) { return a.entry_id < b.entry_id; });
    out.entries = std::move(normalized.entries);
    // Nothing new: the next poll asks the cheap question first.
    probe_ = cursor.entry_id && !out.newest_entry_id && !out.backfill;
    // The channel has entries beyond the cursor that the read did not return (written with an
    // older created_at than the read's window): read by id, or when there are too many, said
    // once.
    const auto last = feed.channel ? feed.channel->last_entry_id : std::nullopt;
    if (probe_ && last && *last > *cursor.entry_id && unreturned_last_ != last) {
        backfill_.emplace();
        backfill_->resume = *last;
        read_missing(*cursor.entry_id, *last, {}, out, now);
        if (out.read_now) {
            probe_ = false;
            out.backfill = true;
        } else {
            backfill_.reset();
            unreturned_last_ = last; // the probe is not fooled by them into reading again and again
        }
    }
    return out;
}

void ThingSpeakPoll::IdRanges::add(std::int64_t id) {
    // The first range starting after id; the one before it may hold or touch id.
    auto next = std::upper_bound(ranges_.begin(), ranges_.end(), id, [](std::int64_t v, const auto& r) { return v < r.first; });
    if (next != ranges_.begin()) {
        auto prev = std::prev(next);
        if (id <= prev->second) return;
        if (id == prev->second + 1) {
            prev->second = id;
            if (next != ranges_.end() && next->first == id + 1) {
                prev->second = next->second;
                ranges_.erase(next);
            }
            return;
        }
    }
    if (next != ranges_.end() && next->first == id + 1) {
        next->first = id;
        return;
    }
    ranges_.insert(next, {id, id});
}

bool ThingSpeakPoll::IdRanges::contains(std::int64_t id) const {
    const auto next = std::upper_bound(ranges_.begin(), ranges_.end(), id, [](std::int64_t v, const auto& r) { return v < r.first; });
    return next != ranges_.begin() && id <= std::prev(next)->second;
}

void ThingSpeakPoll::read_missing(std::int64_t after, std::int64_t upper, const IdRanges& got, PollOutcome& out,
                                  Seconds now) {
    std::deque<std::int64_t> missing;
    std::int64_t count = 0, first = 0, last = 0;
    for (auto id = after + 1; id <= upper; ++id) {
        if (got.contains(id)) continue;
        if (++count <= max_by_id) missing.push_back(id);
        if (count == 1) first = id;
        last = id;
    }
    if (count == 0) return;
    if (count <= max_by_id) {
        backfill_->ids = std::move(missing);
        out.newest_entry_id.reset();
        out.read_now = true;
        return;
    }
    out.errors.push_back(device_error(device_, ErrorStage::fetch,
                                      "channel " + std::to_string(device_.channel_id) + ": entries " + std::to_string(first) +
                                          ".." + std::to_string(last) + " (" + std::to_string(count) +
                                          " missing) could not be read (the channel no longer holds them, or they were "
                                          "created before the cursor's time)",
                                      now));
}

PollOutcome ThingSpeakPoll::on_entry(std::string_view body, Seconds now) {
    PollOutcome out;
    out.fetched = true;
    out.backfill = true;
    const auto id = backfill_->ids.front();
    out.read_by_id = id;
    const auto channel = "channel " + std::to_string(device_.channel_id);
    while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) body.remove_suffix(1);
    if (body == "-1") {
        out.errors.push_back(device_error(device_, ErrorStage::fetch,
                                          channel + ": entry " + std::to_string(id) + " no longer exists", now));
    } else if (auto parsed = normalize::parse_feed(R"({"feeds":[)" + std::string{body} + "]}"); !parsed.ok()) {
        auto e = device_error(device_, ErrorStage::parse, channel + ", entry " + std::to_string(id) + ": " + parsed.error, now);
        e.http_status = 200;
        out.errors.push_back(std::move(e));
    } else {
        std::erase_if(parsed.feed->entries, [&](const normalize::FeedEntry& e) { return e.entry_id != id; });
        auto normalized = normalize::Normalizer{}.normalize(device_, *parsed.feed, now);
        for (auto& e : normalized.entries) e.channel_epoch = device_.cursor.channel_epoch;
        out.entries = std::move(normalized.entries);
        for (auto& e : normalized.errors) out.errors.push_back(std::move(e));
    }
    // The id leaves the list, and after the last one the cursor moves, when commit() says the
    // entry was stored.
    if (backfill_->ids.size() == 1) {
        out.newest_entry_id = backfill_->resume;
        out.cursor_time = backfill_->resume_at;
    } else {
        out.read_now = true;
    }
    return out;
}

void ThingSpeakPoll::close_backfill(PollOutcome& out) {
    out.newest_entry_id = backfill_->resume;
    out.cursor_time = backfill_->resume_at;
    out.backfill = true;
    backfill_.reset();
}

PollOutcome ThingSpeakPoll::on_probe(std::string_view body, Seconds now) {
    PollOutcome out;
    while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) body.remove_suffix(1);
    std::int64_t last = 0;
    const auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), last);
    if (ec != std::errc{} || end != body.data() + body.size() || body.empty()) {
        auto e = device_error(device_, ErrorStage::parse,
                              "channel " + std::to_string(device_.channel_id) +
                                  ": last_entry_id.json is not a number: " + std::string{body.substr(0, 64)},
                              now);
        e.http_status = 200;
        out.errors.push_back(std::move(e));
        return out;
    }
    out.fetched = true;
    // -1: the channel has no entries (it was cleared); the read that follows starts the new epoch.
    const auto cursor = device_.cursor.entry_id.value_or(0);
    if (last != cursor && last != unreturned_last_) {
        out.read_now = true;
        probe_ = false;
        // Moved on: the newest rows are the new ones, unless one was back-dated (then the
        // read says so, and the window is read). Gone back: read the channel anew.
        if (last > cursor) exact_ = std::min<std::int64_t>(last - cursor, max_results);
    }
    return out;
}

void ThingSpeakPoll::commit(const PollOutcome& outcome, std::size_t accepted) {
    auto& cursor = device_.cursor;
    const auto move_to = [&](std::int64_t id, std::optional<Seconds> at) {
        cursor.entry_id = id;
        if (at) cursor.created_at = at;
    };
    if (outcome.read_by_id) { // not stored: read it again
        if (accepted < outcome.entries.size()) return;
        backfill_->ids.pop_front();
        if (backfill_->ids.empty()) {
            move_to(backfill_->resume, backfill_->resume_at);
            backfill_.reset();
        }
        return;
    }
    if (outcome.backfill) {
        if (accepted == outcome.entries.size()) {
            if (outcome.newest_entry_id) move_to(*outcome.newest_entry_id, outcome.cursor_time);
            return;
        }
        // Not stored whole. With reads by id to come, the cursor will move only as far as the
        // last entry stored, and the rest is read again from there.
        if (backfill_ && !backfill_->ids.empty() && accepted > 0) {
            const auto& last = outcome.entries[accepted - 1];
            backfill_->resume = last.entry_id;
            backfill_->resume_at = last.created_at.utc;
            std::erase_if(backfill_->ids, [&](std::int64_t id) { return id > last.entry_id; });
            if (backfill_->ids.empty()) {
                move_to(backfill_->resume, backfill_->resume_at);
                backfill_.reset();
            }
            return;
        }
        // Otherwise the gap is read again from the cursor, which moves over what was stored
        // without a hole after it.
        backfill_.reset();
        auto to = cursor.entry_id.value_or(outcome.entries.front().entry_id - 1);
        std::size_t i = 0;
        for (; i < accepted && outcome.entries[i].entry_id == to + 1; ++i) ++to;
        if (i > 0) move_to(to, outcome.entries[i - 1].created_at.utc);
        return;
    }
    std::optional<std::int64_t> to = outcome.newest_entry_id;
    if (accepted < outcome.entries.size()) {
        to = accepted == 0 ? std::nullopt : std::optional{outcome.entries[accepted - 1].entry_id};
    }
    if (to && (!cursor.entry_id || *to > *cursor.entry_id)) cursor.entry_id = to;
    if (accepted > 0) cursor.created_at = outcome.entries[accepted - 1].created_at.utc;
}

} // namespace flowgate::sources
