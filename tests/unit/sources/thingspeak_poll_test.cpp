#include "flowgate/sources/thingspeak_poll.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "flowgate/core/telemetry_message.hpp"

#include <algorithm>
#include <set>

using namespace flowgate;
using namespace flowgate::sources;
using thingspeak::FetchErrorKind;
using thingspeak::FetchResult;

namespace {

const Seconds now{std::chrono::sys_days{std::chrono::year{2026} / 3 / 1}};

ThingSpeakDevice tank() {
    ThingSpeakDevice d;
    d.device_id = 3;
    d.community_id = 1;
    d.channel_id = 2100101;
    d.read_api_key = "KEY123";
    FieldMapping level;
    level.field = 1;
    level.canonical_name = "water_level";
    level.scale_factor = 0.01;
    level.unit = "m";
    level.expected_label = "Water Level (cm)";
    FieldMapping pump;
    pump.field = 2;
    pump.canonical_name = "pump_on";
    pump.type = DataType::boolean;
    d.fields = {level, pump};
    return d;
}

std::string feed(std::int64_t last_entry_id, const std::vector<std::pair<int, std::string>>& entries,
                 const std::string& label1 = "Water Level (cm)") {
    nlohmann::json f = {{"channel", {{"id", 2100101}, {"name", "OHT"}, {"field1", label1}, {"field2", "Pump"},
                                     {"last_entry_id", last_entry_id}}},
                        {"feeds", nlohmann::json::array()}};
    for (const auto& [id, level] : entries) {
        f["feeds"].push_back({{"created_at", "2026-02-28T23:59:00+05:30"}, {"entry_id", id}, {"field1", level}, {"field2", "1"}});
    }
    return f.dump();
}

FetchResult ok(std::string body) {
    FetchResult r;
    r.status = 200;
    r.body = std::move(body);
    return r;
}

/// ThingSpeak's answer to a missing or wrong read key.
FetchResult refused_key() {
    FetchResult r;
    r.status = 400;
    r.body = "-1";
    return r;
}

Seconds entry_time(std::int64_t id) { return now - std::chrono::hours{48} + std::chrono::seconds{15 * id}; }

/// A channel with one entry every 15 s: its feed of entries `from`..`to` (ascending), whose
/// newest is `last`.
std::string rows(std::int64_t from, std::int64_t to, std::int64_t last) {
    nlohmann::json f = {{"channel", {{"id", 2100101}, {"field1", "Water Level (cm)"}, {"field2", "Pump"},
                                     {"last_entry_id", last}}},
                        {"feeds", nlohmann::json::array()}};
    for (auto id = from; id <= to; ++id) {
        f["feeds"].push_back({{"created_at", format_iso8601(entry_time(id))}, {"entry_id", id}, {"field1", "100"}, {"field2", "1"}});
    }
    return f.dump();
}

/// The answer to feeds/{id}.json.
std::string entry(std::int64_t id) {
    return nlohmann::json{{"created_at", format_iso8601(entry_time(id))}, {"entry_id", id}, {"field1", "100"}, {"field2", "1"}}.dump();
}

/// The part of a read's query after `end=`, or "" without one.
std::string end_of(const std::string& target) {
    const auto at = target.find("&end=");
    return at == std::string::npos ? "" : target.substr(at + 5, 21);
}

} // namespace

TEST(ThingSpeakPoll, TargetCarriesTheReadKeyOnlyForPrivateChannels) {
    EXPECT_EQ(ThingSpeakPoll{tank()}.target(), "/channels/2100101/feeds.json?results=100&api_key=KEY123");
    auto pub = tank();
    pub.read_api_key.reset();
    EXPECT_EQ(ThingSpeakPoll{pub}.target(), "/channels/2100101/feeds.json?results=100");
}

TEST(ThingSpeakPoll, AfterTheFirstEntriesItReadsEverythingSinceTheCursor) {
    ThingSpeakPoll poll{tank()};
    auto out = poll.on_response(ok(feed(2, {{1, "1"}, {2, "2"}})), now);
    poll.commit(out, out.entries.size());
    // The entries were created at 2026-02-28T23:59:00+05:30, i.e. 18:29:00 UTC; the read starts
    // ten minutes earlier for devices with slow clocks, and asks for up to 8000 rows.
    EXPECT_EQ(poll.target(), "/channels/2100101/feeds.json?results=8000&start=2026-02-28%2018:19:00&api_key=KEY123");
}

// Entries 3..7 are not in the read's window (posted with an older created_at, or gone), and
// the answer is not full, so paging back cannot help: each is read by its id, and the cursor
// moves past them once all were read. One the channel no longer has is an error.
TEST(ThingSpeakPoll, EntriesMissingFromTheWindowAreReadByIdBeforeTheCursorMoves) {
    ThingSpeakPoll poll{tank()};
    auto first = poll.on_response(ok(feed(2, {{1, "1"}, {2, "2"}})), now);
    poll.commit(first, first.entries.size());
    const auto window = poll.target();
    auto gap = poll.on_response(ok(feed(9, {{8, "8"}, {9, "9"}, {5, "5"}})), now);
    EXPECT_TRUE(gap.errors.empty());
    EXPECT_TRUE(gap.read_now);
    EXPECT_EQ(gap.entries.size(), 3u);
    poll.commit(gap, gap.entries.size());
    EXPECT_EQ(poll.cursor().entry_id, 2);
    std::vector<std::int64_t> read;
    for (const std::int64_t id : {3, 4, 6, 7}) {
        ASSERT_EQ(poll.target(), "/channels/2100101/feeds/" + std::to_string(id) + ".json?api_key=KEY123");
        // Gone: ThingSpeak's -1, or a 404.
        auto answer = ok(id == 4 ? "-1" : entry(id));
        if (id == 6) answer.status = 404;
        auto out = poll.on_response(answer, now);
        EXPECT_EQ(out.read_now, id != 7) << id;
        for (const auto& e : out.entries) read.push_back(e.entry_id);
        if (id == 4 || id == 6) {
            ASSERT_EQ(out.errors.size(), 1u);
            EXPECT_EQ(out.errors[0].message, "channel 2100101: entry " + std::to_string(id) + " no longer exists");
        } else {
            EXPECT_TRUE(out.errors.empty()) << out.errors[0].message;
        }
        poll.commit(out, out.entries.size());
        EXPECT_EQ(poll.cursor().entry_id, id == 7 ? 9 : 2);
    }
    EXPECT_EQ(read, (std::vector<std::int64_t>{3, 7}));
    EXPECT_EQ(poll.target(), window) << "the cursor's time is entry 9's";
    EXPECT_TRUE(poll.on_response(ok(feed(10, {{9, "9"}, {10, "10"}})), now).errors.empty());
}

// A first read (no cursor yet) with a hole: the entry in it is read by id too.
TEST(ThingSpeakPoll, AHoleInTheFirstReadIsReadById) {
    ThingSpeakPoll poll{tank()};
    auto out = poll.on_response(ok(feed(4, {{1, "1"}, {2, "2"}, {4, "4"}})), now);
    EXPECT_TRUE(out.read_now);
    poll.commit(out, out.entries.size());
    EXPECT_FALSE(poll.cursor().entry_id);
    ASSERT_EQ(poll.target(), "/channels/2100101/feeds/3.json?api_key=KEY123");
    out = poll.on_response(ok(entry(3)), now);
    ASSERT_EQ(out.entries.size(), 1u);
    poll.commit(out, 1);
    EXPECT_EQ(poll.cursor().entry_id, 4);
}

// 20,000 entries missed: the window read returns the newest 8000; two pages back with `end`
// fetch the rest, and only then does the cursor move — to the newest, past all of it.
TEST(ThingSpeakPoll, ALongGapIsBackfilledPageByPageAndTheCursorMovesWhenItIsClosed) {
    ThingSpeakPoll poll{tank()};
    auto out = poll.on_response(ok(rows(1, 2, 2)), now);
    poll.commit(out, out.entries.size());
    const auto window = poll.target();
    std::set<std::int64_t> stored;
    const auto take = [&](const PollOutcome& o) {
        for (const auto& e : o.entries) EXPECT_TRUE(stored.insert(e.entry_id).second) << "entry " << e.entry_id << " twice";
        poll.commit(o, o.entries.size());
    };

    out = poll.on_response(ok(rows(12'003, 20'002, 20'002)), now);
    EXPECT_TRUE(out.errors.empty());
    EXPECT_TRUE(out.read_now) << "the next page now, not an interval later";
    take(out);
    EXPECT_EQ(poll.cursor().entry_id, 2) << "the cursor waits for the gap";
    ASSERT_TRUE(poll.backfilling());
    EXPECT_EQ(poll.target().substr(0, window.size() - 15), window.substr(0, window.size() - 15)) << "same start";
    EXPECT_EQ(end_of(poll.target()), format_iso8601(entry_time(12'003)).substr(0, 19).replace(10, 1, "%20"));

    // `end` is inclusive: the page holds 12,003 again, which is not taken twice.
    out = poll.on_response(ok(rows(4'004, 12'003, 20'002)), now);
    EXPECT_TRUE(out.read_now);
    take(out);
    EXPECT_EQ(poll.cursor().entry_id, 2);
    EXPECT_EQ(end_of(poll.target()), format_iso8601(entry_time(4'004)).substr(0, 19).replace(10, 1, "%20"));

    out = poll.on_response(ok(rows(1, 4'004, 20'002)), now);
    EXPECT_FALSE(out.read_now);
    EXPECT_TRUE(out.errors.empty());
    take(out);
    EXPECT_FALSE(poll.backfilling());
    EXPECT_EQ(poll.cursor().entry_id, 20'002);
    EXPECT_EQ(poll.cursor().created_at, entry_time(20'002));
    EXPECT_EQ(stored.size(), 20'000u);
    EXPECT_EQ(*stored.begin(), 3);
    EXPECT_EQ(poll.target(), window.substr(0, window.find("start=") + 6) +
                                 format_iso8601(entry_time(20'002) - std::chrono::minutes{10}).substr(0, 19).replace(10, 1, "%20") +
                                 "&api_key=KEY123");
}

// A new device whose channel holds 20,000 entries since the history horizon (and more before
// it): the first read asks from the horizon on, pages back while the pages are full, and
// stops at the horizon — the entries before it are not wanted, not an error.
TEST(ThingSpeakPoll, AFirstReadGoesBackToTheHistoryHorizonPageByPage) {
    const auto horizon = entry_time(5'001);
    ThingSpeakPoll poll{tank(), horizon};
    const auto start = "&start=" + format_iso8601(horizon).substr(0, 19).replace(10, 1, "%20");
    EXPECT_EQ(poll.target(), "/channels/2100101/feeds.json?results=8000" + start + "&api_key=KEY123");
    std::set<std::int64_t> stored;
    const auto take = [&](const PollOutcome& o) {
        EXPECT_TRUE(o.errors.empty()) << o.errors.front().message;
        for (const auto& e : o.entries) EXPECT_TRUE(stored.insert(e.entry_id).second) << "entry " << e.entry_id << " twice";
        poll.commit(o, o.entries.size());
    };
    auto out = poll.on_response(ok(rows(17'001, 25'000, 25'000)), now);
    EXPECT_TRUE(out.read_now);
    take(out);
    EXPECT_FALSE(poll.cursor().entry_id.has_value()) << "no cursor until the history is read";
    EXPECT_NE(poll.target().find(start + "&end="), std::string::npos) << poll.target();
    out = poll.on_response(ok(rows(9'001, 17'001, 25'000)), now);
    take(out);
    // The last page is not full: it reached the horizon.
    out = poll.on_response(ok(rows(5'001, 9'001, 25'000)), now);
    EXPECT_FALSE(out.read_now);
    take(out);
    EXPECT_FALSE(poll.backfilling());
    EXPECT_EQ(poll.cursor().entry_id, 25'000);
    EXPECT_EQ(stored.size(), 20'000u);
    EXPECT_EQ(*stored.begin(), 5'001);
    EXPECT_NE(poll.target().find("&start=" + format_iso8601(entry_time(25'000) - std::chrono::minutes{10}).substr(0, 19).replace(10, 1, "%20")),
              std::string::npos)
        << "then from the cursor, as always";

    // Without a horizon, the newest 100.
    EXPECT_EQ(ThingSpeakPoll{tank()}.target(), "/channels/2100101/feeds.json?results=100&api_key=KEY123");
}

// Entry 15,000 was uploaded late, stamped when it was taken: a page by time returns it with
// entries of much lower ids. It is stored, once, and nothing is missing.
TEST(ThingSpeakPoll, ALateUploadInAnOlderPageOfABackfillIsKept) {
    ThingSpeakPoll poll{tank()};
    auto out = poll.on_response(ok(rows(1, 2, 2)), now);
    poll.commit(out, out.entries.size());
    const auto move_late = [](std::string page, bool into) {
        auto j = nlohmann::json::parse(page);
        auto& feeds = j["feeds"];
        if (into) {
            feeds.push_back({{"created_at", format_iso8601(entry_time(5'000))}, {"entry_id", 15'000}, {"field1", "100"}, {"field2", "1"}});
        } else {
            feeds.erase(std::remove_if(feeds.begin(), feeds.end(), [](const auto& e) { return e["entry_id"] == 15'000; }), feeds.end());
        }
        return j.dump();
    };
    std::multiset<std::int64_t> stored;
    const auto take = [&](const PollOutcome& o) {
        for (const auto& e : o.errors) ADD_FAILURE() << e.message;
        for (const auto& e : o.entries) stored.insert(e.entry_id);
        poll.commit(o, o.entries.size());
    };
    // The newest 8000 by time: 12,002..20,002 without 15,000 (its time is older).
    take(poll.on_response(ok(move_late(rows(12'002, 20'002, 20'002), false)), now));
    take(poll.on_response(ok(move_late(rows(4'003, 12'002, 20'002), true)), now));
    take(poll.on_response(ok(rows(1, 4'003, 20'002)), now));
    EXPECT_FALSE(poll.backfilling());
    EXPECT_EQ(stored.count(15'000), 1u);
    EXPECT_EQ(std::set<std::int64_t>(stored.begin(), stored.end()).size(), stored.size()) << "an entry twice";
    EXPECT_EQ(stored.size(), 20'000u);
    EXPECT_EQ(poll.cursor().entry_id, 20'002);
}

// The channel no longer holds entries 3..199 (ThingSpeak keeps what the plan allows): the
// backfill ends at what it can read, and the range it cannot, too long to read by id, is one
// error.
TEST(ThingSpeakPoll, AGapTheChannelNoLongerHoldsIsOneErrorNamingTheRange) {
    ThingSpeakPoll poll{tank()};
    auto out = poll.on_response(ok(rows(1, 2, 2)), now);
    poll.commit(out, out.entries.size());
    out = poll.on_response(ok(rows(1'001, 9'000, 9'000)), now);
    poll.commit(out, out.entries.size());
    out = poll.on_response(ok(rows(200, 1'001, 9'000)), now);
    ASSERT_EQ(out.errors.size(), 1u);
    EXPECT_EQ(out.errors[0].message,
              "channel 2100101: entries 3..199 (197 missing) could not be read (the channel no longer holds them, or they "
              "were created before the cursor's time)");
    EXPECT_EQ(out.entries.size(), 801u);
    poll.commit(out, out.entries.size());
    EXPECT_EQ(poll.cursor().entry_id, 9'000);

    // A page with nothing left of the gap ends it the same way.
    ThingSpeakPoll other{tank()};
    out = other.on_response(ok(rows(1, 2, 2)), now);
    other.commit(out, out.entries.size());
    out = other.on_response(ok(rows(1'001, 9'000, 9'000)), now);
    other.commit(out, out.entries.size());
    out = other.on_response(ok(rows(1, 2, 9'000)), now);
    ASSERT_EQ(out.errors.size(), 1u);
    EXPECT_NE(out.errors[0].message.find("entries 3..1000 (998 missing) could not be read"), std::string::npos);
    other.commit(out, 0);
    EXPECT_EQ(other.cursor().entry_id, 9'000);
}

// A page the storage queue could not take whole: the gap is read again from the cursor, and
// nothing is skipped; what was stored right after the cursor still counts.
TEST(ThingSpeakPoll, ABackfillPageNotStoredWholeReadsTheGapAgain) {
    ThingSpeakPoll poll{tank()};
    auto out = poll.on_response(ok(rows(1, 2, 2)), now);
    poll.commit(out, out.entries.size());
    const auto window = poll.target();
    out = poll.on_response(ok(rows(1'001, 9'000, 9'000)), now);
    poll.commit(out, out.entries.size());
    out = poll.on_response(ok(rows(1, 1'001, 9'000)), now);
    poll.commit(out, 10);
    EXPECT_FALSE(poll.backfilling());
    EXPECT_EQ(poll.cursor().entry_id, 12) << "over the 10 stored right after it";
    EXPECT_NE(poll.target(), window);

    // A first read with a hole, taken only in part (1, 2, 4 of 1, 2, 4, 5): the hole is read
    // by id, and then the cursor moves to the last entry stored, not past 5.
    ThingSpeakPoll first{tank()};
    out = first.on_response(ok(feed(5, {{1, "1"}, {2, "2"}, {4, "4"}, {5, "5"}})), now);
    ASSERT_EQ(out.entries.size(), 4u);
    first.commit(out, 3);
    ASSERT_EQ(first.target(), "/channels/2100101/feeds/3.json?api_key=KEY123");
    out = first.on_response(ok(entry(3)), now);
    first.commit(out, 0);
    EXPECT_EQ(first.target(), "/channels/2100101/feeds/3.json?api_key=KEY123") << "not stored: read again";
    out = first.on_response(ok(entry(3)), now);
    first.commit(out, 1);
    EXPECT_EQ(first.cursor().entry_id, 4);
    EXPECT_FALSE(first.backfilling());
}

TEST(ThingSpeakPoll, NewEntriesAreCalibratedAndTheCursorSkipsThemNextTime) {
    ThingSpeakPoll poll{tank()};
    auto first = poll.on_response(ok(feed(2, {{1, "245.5"}, {2, "250"}})), now);
    ASSERT_TRUE(first.fetched);
    ASSERT_EQ(first.entries.size(), 2u);
    EXPECT_DOUBLE_EQ(first.entries[0].readings[0].number, 2.455);
    EXPECT_EQ(first.entries[0].created_at.offset, std::chrono::minutes{330});
    poll.commit(first, first.entries.size());
    EXPECT_EQ(poll.cursor().entry_id, 2);

    auto second = poll.on_response(ok(feed(3, {{1, "245.5"}, {2, "250"}, {3, "260"}})), now);
    ASSERT_EQ(second.entries.size(), 1u);
    EXPECT_EQ(second.entries[0].entry_id, 3);
}

TEST(ThingSpeakPoll, EntriesThatCouldNotBeQueuedAreReadAgain) {
    ThingSpeakPoll poll{tank()};
    auto out = poll.on_response(ok(feed(3, {{1, "1"}, {2, "2"}, {3, "3"}})), now);
    poll.commit(out, 1); // the queue took only the first
    EXPECT_EQ(poll.cursor().entry_id, 1);
    EXPECT_EQ(poll.on_response(ok(feed(3, {{1, "1"}, {2, "2"}, {3, "3"}})), now).entries.size(), 2u);
}

TEST(ThingSpeakPoll, EntriesWithoutAnyReadingStillMoveTheCursor) {
    ThingSpeakPoll poll{tank()};
    // Entry 2's level is invalid and its pump value missing: it yields no reading at all.
    auto body = nlohmann::json::parse(feed(2, {{1, "1"}, {2, "bogus"}}));
    body["feeds"][1]["field2"] = nullptr;
    auto out = poll.on_response(ok(body.dump()), now);
    ASSERT_EQ(out.entries.size(), 1u);
    ASSERT_EQ(out.errors.size(), 1u);
    EXPECT_EQ(out.errors[0].stage, ErrorStage::conversion);
    poll.commit(out, out.entries.size());
    EXPECT_EQ(poll.cursor().entry_id, 2);
    // Entry 2 is not normalized again, so its error is not reported twice.
    auto again = poll.on_response(ok(body.dump()), now);
    EXPECT_TRUE(again.entries.empty());
    EXPECT_TRUE(again.errors.empty());
}

TEST(ThingSpeakPoll, ClearedChannelStartsANewEpoch) {
    ThingSpeakPoll poll{tank()};
    auto out = poll.on_response(ok(feed(500, {{499, "1"}, {500, "2"}})), now);
    poll.commit(out, out.entries.size());
    auto after_clear = poll.on_response(ok(feed(2, {{1, "3"}, {2, "4"}})), now);
    EXPECT_TRUE(after_clear.new_epoch);
    EXPECT_EQ(after_clear.entries.size(), 2u);
    poll.commit(after_clear, after_clear.entries.size());
    EXPECT_EQ(poll.cursor().channel_epoch, 1);
    EXPECT_EQ(poll.cursor().entry_id, 2);
}

// Polled faster than it posts, a channel costs a probe a poll: the feed is read only when
// the probe says it moved, and at once (read_now), not an interval later.
// Cleared, and 20,000 entries posted since: the new epoch is backfilled from its entry 1, like
// any gap, instead of starting at the oldest row the first read returned.
TEST(ThingSpeakPoll, AClearedChannelWithMoreThanOneReadOfNewEntriesIsBackfilledFromItsFirst) {
    ThingSpeakPoll poll{tank()};
    auto out = poll.on_response(ok(rows(30'000, 30'001, 30'001)), now);
    poll.commit(out, out.entries.size());
    std::set<std::int64_t> stored;
    const auto take = [&](const PollOutcome& o) {
        for (const auto& e : o.errors) ADD_FAILURE() << e.message;
        for (const auto& e : o.entries) {
            EXPECT_TRUE(stored.insert(e.entry_id).second) << "entry " << e.entry_id << " twice";
            EXPECT_EQ(e.channel_epoch, 1);
        }
        poll.commit(o, o.entries.size());
    };
    out = poll.on_response(ok(rows(12'001, 20'000, 20'000)), now);
    EXPECT_TRUE(out.new_epoch);
    EXPECT_TRUE(out.read_now) << "entries 1..12000 of the new epoch are still to be read";
    take(out);
    for (int i = 0; i < 3 && poll.backfilling(); ++i) {
        const auto end = end_of(poll.target());
        ASSERT_FALSE(end.empty()) << poll.target();
        const auto oldest = *stored.begin();
        take(poll.on_response(ok(rows(std::max<std::int64_t>(1, oldest - 7'999), oldest, 20'000)), now));
    }
    EXPECT_FALSE(poll.backfilling());
    EXPECT_EQ(stored.size(), 20'000u);
    EXPECT_EQ(*stored.begin(), 1);
    EXPECT_EQ(poll.cursor().entry_id, 20'000);
    EXPECT_EQ(poll.cursor().channel_epoch, 1);
}

TEST(ThingSpeakPoll, AfterAReadWithNothingNewItProbesFirst) {
    ThingSpeakPoll poll{tank()};
    auto out = poll.on_response(ok(feed(2, {{1, "1"}, {2, "2"}})), now);
    poll.commit(out, out.entries.size());
    const auto feed_target = poll.target();
    EXPECT_FALSE(poll.probing()) << "it found something: it may well find more";
    out = poll.on_response(ok(feed(2, {{1, "1"}, {2, "2"}})), now);
    poll.commit(out, out.entries.size());
    ASSERT_TRUE(poll.probing());
    EXPECT_EQ(poll.target(), "/channels/2100101/feeds/last_entry_id.json?api_key=KEY123");

    out = poll.on_response(ok("2"), now);
    poll.commit(out, 0);
    EXPECT_TRUE(out.fetched);
    EXPECT_FALSE(out.read_now);
    EXPECT_TRUE(out.entries.empty() && out.errors.empty());
    EXPECT_TRUE(poll.probing()) << "still nothing new";

    out = poll.on_response(ok("4\n"), now);
    poll.commit(out, 0);
    EXPECT_TRUE(out.read_now);
    EXPECT_EQ(poll.cursor().entry_id, 2) << "the probe moves nothing";
    EXPECT_EQ(poll.target(), "/channels/2100101/feeds.json?results=2&api_key=KEY123") << "the two new rows only";
    out = poll.on_response(ok(feed(4, {{3, "3"}, {4, "4"}})), now);
    poll.commit(out, out.entries.size());
    ASSERT_EQ(out.entries.size(), 2u);
    EXPECT_EQ(out.entries[0].entry_id, 3);
    EXPECT_FALSE(poll.probing());
    EXPECT_EQ(poll.target(), feed_target) << "after a find, the window from the cursor's time";

    auto pub = tank();
    pub.read_api_key.reset();
    ThingSpeakPoll public_poll{pub};
    out = public_poll.on_response(ok(feed(1, {{1, "1"}})), now);
    public_poll.commit(out, 1);
    public_poll.commit(public_poll.on_response(ok(feed(1, {{1, "1"}})), now), 0);
    EXPECT_EQ(public_poll.target(), "/channels/2100101/feeds/last_entry_id.json");
}

// The newest rows are not the new ones when one of them was posted with an older created_at:
// the read of the counted rows gives way to the window read, at once and without an error.
TEST(ThingSpeakPoll, ABackDatedEntryTurnsTheCountedReadIntoTheWindowRead) {
    ThingSpeakPoll poll{tank()};
    for (int i = 0; i < 2; ++i) {
        auto out = poll.on_response(ok(feed(2, {{1, "1"}, {2, "2"}})), now);
        poll.commit(out, out.entries.size());
    }
    const auto window = poll.on_response(ok("4"), now);
    ASSERT_TRUE(window.read_now);
    ASSERT_EQ(poll.target(), "/channels/2100101/feeds.json?results=2&api_key=KEY123");
    // Entry 3 is older than entry 2 by its created_at: the newest two rows are 2 and 4.
    auto out = poll.on_response(ok(feed(4, {{2, "2"}, {4, "4"}})), now);
    poll.commit(out, out.entries.size());
    EXPECT_TRUE(out.read_now);
    EXPECT_TRUE(out.fetched);
    EXPECT_TRUE(out.entries.empty() && out.errors.empty());
    EXPECT_EQ(poll.cursor().entry_id, 2) << "entry 4 waits for 3";
    EXPECT_EQ(poll.target().find("results=8000&start="), std::string{"/channels/2100101/feeds.json?"}.size());
    out = poll.on_response(ok(feed(4, {{1, "1"}, {3, "3"}, {2, "2"}, {4, "4"}})), now);
    poll.commit(out, out.entries.size());
    ASSERT_EQ(out.entries.size(), 2u);
    EXPECT_EQ(poll.cursor().entry_id, 4);

    // A hole further in: 5 and 7 of 5..7, and an old row, are the newest three.
    poll.commit(poll.on_response(ok(feed(4, {{3, "3"}, {4, "4"}})), now), 0);
    ASSERT_TRUE(poll.probing());
    ASSERT_TRUE(poll.on_response(ok("7"), now).read_now);
    out = poll.on_response(ok(feed(7, {{4, "4"}, {5, "5"}, {7, "7"}})), now);
    EXPECT_TRUE(out.read_now) << "entry 6 is missing: the window is read";
    EXPECT_TRUE(out.entries.empty());
}

TEST(ThingSpeakPoll, AProbeThatGoesBackwardsOrFailsIsHandledLikeARead) {
    const auto probing = [] {
        ThingSpeakPoll poll{tank()};
        for (int i = 0; i < 2; ++i) {
            auto out = poll.on_response(ok(feed(5, {{4, "4"}, {5, "5"}})), now);
            poll.commit(out, out.entries.size());
        }
        EXPECT_TRUE(poll.probing());
        return poll;
    };
    // Cleared (-1: no entries at all, or a lower id): the read that follows starts the new epoch.
    for (const auto* body : {"-1", "2"}) {
        auto poll = probing();
        EXPECT_TRUE(poll.on_response(ok(body), now).read_now) << body;
        const auto out = poll.on_response(ok(feed(2, {{1, "1"}, {2, "2"}})), now);
        EXPECT_TRUE(out.new_epoch) << body;
        EXPECT_EQ(out.entries.size(), 2u) << body;
    }
    auto poll = probing();
    auto out = poll.on_response(refused_key(), now);
    ASSERT_EQ(out.errors.size(), 1u);
    EXPECT_EQ(out.errors[0].stage, ErrorStage::auth);
    EXPECT_FALSE(out.fetched);
    EXPECT_TRUE(poll.probing());

    out = poll.on_response(ok("<html>oops</html>"), now);
    ASSERT_EQ(out.errors.size(), 1u);
    EXPECT_EQ(out.errors[0].stage, ErrorStage::parse);
    EXPECT_EQ(out.errors[0].message, "channel 2100101: last_entry_id.json is not a number: <html>oops</html>");
    EXPECT_FALSE(out.fetched) << "the device backs off, the cursor stays";
    EXPECT_FALSE(out.read_now);
    EXPECT_EQ(poll.cursor().entry_id, 5);
}

// An entry the time-keyed read cannot return (created_at before the read's window) is read
// by its id. Too many of them to read one by one are one error, and the probe is not fooled
// by them into a read after every probe.
TEST(ThingSpeakPoll, EntriesTheReadDoesNotReturnAreReadByIdOrReportedOnce) {
    ThingSpeakPoll poll{tank()};
    auto out = poll.on_response(ok(feed(2, {{1, "1"}, {2, "2"}})), now);
    poll.commit(out, out.entries.size());
    out = poll.on_response(ok(feed(3, {{1, "1"}, {2, "2"}})), now);
    EXPECT_TRUE(out.errors.empty());
    EXPECT_TRUE(out.read_now);
    poll.commit(out, 0);
    ASSERT_EQ(poll.target(), "/channels/2100101/feeds/3.json?api_key=KEY123");
    out = poll.on_response(ok(entry(3)), now);
    ASSERT_EQ(out.entries.size(), 1u);
    poll.commit(out, 1);
    EXPECT_EQ(poll.cursor().entry_id, 3);

    out = poll.on_response(ok(feed(203, {{1, "1"}, {2, "2"}})), now);
    ASSERT_EQ(out.errors.size(), 1u);
    EXPECT_EQ(out.errors[0].message,
              "channel 2100101: entries 4..203 (200 missing) could not be read (the channel no longer holds them, or they "
              "were created before the cursor's time)");
    poll.commit(out, 0);
    ASSERT_TRUE(poll.probing());
    EXPECT_FALSE(poll.on_response(ok("203"), now).read_now) << "entries 4..203 are known to be out of reach";
    out = poll.on_response(ok("204"), now);
    EXPECT_TRUE(out.read_now);
    EXPECT_TRUE(poll.on_response(ok(feed(204, {{2, "2"}, {204, "204"}})), now).read_now) << "the counted row is not 4";
    out = poll.on_response(ok(feed(204, {{1, "1"}, {2, "2"}, {204, "204"}})), now);
    ASSERT_EQ(out.errors.size(), 1u) << "the same 200 again, with 204 read";
    poll.commit(out, out.entries.size());
    ASSERT_EQ(out.entries.size(), 1u);
    EXPECT_EQ(poll.cursor().entry_id, 204);
}

TEST(ThingSpeakPoll, FailuresBecomeErrorRecordsOfTheRightStage) {
    ThingSpeakPoll poll{tank()};
    auto auth = poll.on_response(refused_key(), now);
    ASSERT_EQ(auth.errors.size(), 1u);
    EXPECT_EQ(auth.errors[0].stage, ErrorStage::auth);
    EXPECT_EQ(auth.errors[0].http_status, 400);
    EXPECT_EQ(auth.errors[0].message.find("KEY123"), std::string::npos);

    FetchResult missing;
    missing.status = 404;
    EXPECT_EQ(poll.on_response(missing, now).errors[0].stage, ErrorStage::fetch);

    FetchResult timeout;
    timeout.error = FetchErrorKind::timeout;
    timeout.error_message = "reading response: The socket was closed due to a timeout";
    auto t = poll.on_response(timeout, now);
    EXPECT_FALSE(t.fetched);
    EXPECT_NE(t.errors[0].message.find("timeout"), std::string::npos);

    auto garbage = poll.on_response(ok("{\"channel\":"), now);
    EXPECT_EQ(garbage.errors[0].stage, ErrorStage::parse);
    EXPECT_EQ(poll.cursor().entry_id, std::nullopt);
}

TEST(ThingSpeakPoll, RenamedFieldIsReportedOnceNotEveryPoll) {
    ThingSpeakPoll poll{tank()};
    auto first = poll.on_response(ok(feed(1, {{1, "100"}}, "Level (m)")), now);
    int schema = 0;
    for (const auto& e : first.errors) schema += e.stage == ErrorStage::schema ? 1 : 0;
    EXPECT_EQ(schema, 1);
    ASSERT_EQ(first.entries.size(), 1u);
    for (const auto& r : first.entries[0].readings) EXPECT_NE(r.metric, "water_level");
    poll.commit(first, 1);
    auto second = poll.on_response(ok(feed(2, {{1, "100"}, {2, "100"}}, "Level (m)")), now);
    for (const auto& e : second.errors) EXPECT_NE(e.stage, ErrorStage::schema);
}

TEST(TelemetryMessage, CarriesTypedValuesTheEntryTimeAndUnits) {
    TelemetryEntry e;
    e.device_id = 3;
    e.community_id = 1;
    e.entry_id = 42;
    e.created_at = *parse_iso8601("2026-02-28T23:59:00+05:30");
    e.readings = {{"water_level", DataType::float64, 2.455, "", "m"},
                  {"tds", DataType::integer, 310, "", "ppm"},
                  {"pump_on", DataType::boolean, 1, "", ""},
                  {"panel_mode", DataType::text, 0, "AUTO \"1\"", ""}};
    const auto j = nlohmann::json::parse(telemetry_update_json(e));
    EXPECT_EQ(j["type"], "TELEMETRY_UPDATE");
    EXPECT_EQ(j["node_id"], 3);
    EXPECT_EQ(j["community_id"], 1);
    EXPECT_EQ(j["entry_id"], 42);
    EXPECT_EQ(j["ts"], "2026-02-28T23:59:00+05:30");
    EXPECT_EQ(j["readings"]["water_level"]["value"], 2.455);
    EXPECT_EQ(j["readings"]["water_level"]["unit"], "m");
    EXPECT_TRUE(j["readings"]["tds"]["value"].is_number_integer());
    EXPECT_EQ(j["readings"]["pump_on"]["value"], true);
    EXPECT_FALSE(j["readings"]["pump_on"].contains("unit"));
    EXPECT_EQ(j["readings"]["panel_mode"]["value"], "AUTO \"1\"");
}
