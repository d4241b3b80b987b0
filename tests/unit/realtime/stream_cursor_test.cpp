#include "stream_cursor.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

using flowgate::realtime::OutboundMessage;
using flowgate::realtime::OutboundPtr;
using flowgate::realtime::ReplayResult;
using flowgate::realtime::StreamCursor;
using nlohmann::json;

namespace {

const std::string epoch = "1764700000123456";

OutboundPtr message(std::uint64_t seq, const std::string& e = epoch) {
    return OutboundMessage::from_sequenced(R"({"seq":)" + std::to_string(seq) + R"(,"epoch":")" + e +
                                           R"(","type":"TELEMETRY_UPDATE"})");
}

ReplayResult replay(std::uint64_t head, std::vector<std::uint64_t> seqs, const std::string& e = epoch) {
    ReplayResult r;
    r.ok = true;
    r.epoch = e;
    r.head_seq = head;
    for (const auto s : seqs) r.messages.push_back(message(s, e));
    return r;
}

/// What a client sees: seqs of data messages, and "R+"/"R-" for RECOVERY events.
std::vector<std::string> seen(const std::vector<OutboundPtr>& out) {
    std::vector<std::string> result;
    for (const auto& m : out) {
        if (m->seq() != 0) {
            result.push_back(std::to_string(m->seq()));
            continue;
        }
        const auto event = json::parse(m->payload());
        EXPECT_EQ(event.at("type"), "RECOVERY");
        result.push_back(event.at("recovered").get<bool>() ? "R+" : "R-");
    }
    return result;
}

using Seen = std::vector<std::string>;

} // namespace

TEST(StreamCursor, NewSessionFollowsFromTheHeadWithoutARecoveryEvent) {
    StreamCursor cursor{std::nullopt};
    std::vector<OutboundPtr> out;
    cursor.on_topic_state(true);
    ASSERT_TRUE(cursor.wants_catch_up());
    EXPECT_EQ(cursor.begin_catch_up(), std::nullopt) << "a new session asks only for the head";
    cursor.on_live(message(11), out);  // published between the confirmation and the read
    cursor.on_live(message(12), out);
    EXPECT_TRUE(out.empty()) << "live messages wait for the read";
    cursor.on_replay(replay(11, {}), out);
    EXPECT_EQ(seen(out), (Seen{"12"}));
    out.clear();
    cursor.on_live(message(13), out);
    EXPECT_EQ(seen(out), (Seen{"13"}));
}

// A message can reach a session before its topic's subscription is confirmed: the hub was
// still subscribed from before (its last session had just left). It must wait for the
// catch-up like any other, or it would pass ahead of the RECOVERY event.
TEST(StreamCursor, LiveMessagesBeforeTheConfirmationWaitForTheFirstCatchUp) {
    StreamCursor resumed{StreamCursor::Resume{612, epoch}};
    std::vector<OutboundPtr> out;
    resumed.on_live(message(613), out);
    EXPECT_TRUE(out.empty());
    resumed.on_topic_state(true);
    EXPECT_EQ(resumed.begin_catch_up(), 612u);
    resumed.on_live(message(615), out);
    resumed.on_replay(replay(614, {613, 614}), out);
    EXPECT_EQ(seen(out), (Seen{"R+", "613", "614", "615"}));
    EXPECT_EQ(json::parse(out[0]->payload()).at("since"), 612);

    StreamCursor fresh{std::nullopt};
    out.clear();
    fresh.on_live(message(20), out);
    EXPECT_TRUE(out.empty());
    fresh.on_topic_state(true);
    EXPECT_EQ(fresh.begin_catch_up(), std::nullopt);
    fresh.on_replay(replay(20, {}), out);
    fresh.on_live(message(21), out);
    EXPECT_EQ(seen(out), (Seen{"21"})) << "a new session starts after the head, with no RECOVERY event";
}

TEST(StreamCursor, SinceReplaysExactlyTheMissedMessagesThenTheHeldLiveOnes) {
    StreamCursor cursor{StreamCursor::Resume{5, epoch}};
    std::vector<OutboundPtr> out;
    cursor.on_topic_state(true);
    EXPECT_EQ(cursor.begin_catch_up(), 5u);
    cursor.on_live(message(9), out);
    cursor.on_live(message(10), out);
    cursor.on_replay(replay(9, {6, 7, 8, 9}), out);
    EXPECT_EQ(seen(out), (Seen{"R+", "6", "7", "8", "9", "10"})) << "9 came twice, once from each side of the seam";
    const auto recovery = json::parse(out[0]->payload());
    EXPECT_EQ(recovery.at("replayed"), 4);
    EXPECT_EQ(recovery.at("since"), 5);
    EXPECT_EQ(recovery.at("head_seq"), 9);
    EXPECT_EQ(recovery.at("epoch"), epoch);
    EXPECT_EQ(cursor.recovered(), 1u);
}

TEST(StreamCursor, NothingMissedIsStillARecovery) {
    StreamCursor cursor{StreamCursor::Resume{5, epoch}};
    std::vector<OutboundPtr> out;
    cursor.on_topic_state(true);
    cursor.begin_catch_up();
    cursor.on_replay(replay(5, {}), out);
    EXPECT_EQ(seen(out), (Seen{"R+"}));
}

TEST(StreamCursor, ARangeNoLongerHeldIsSaidOnceAndLiveFollows) {
    StreamCursor cursor{StreamCursor::Resume{5, epoch}};
    std::vector<OutboundPtr> out;
    cursor.on_topic_state(true);
    cursor.begin_catch_up();
    cursor.on_live(message(31), out);
    cursor.on_replay(replay(30, {20, 21, 30}), out);  // trimmed: 6..19 are gone
    EXPECT_EQ(seen(out), (Seen{"R-", "31"})) << "never a partial replay presented as whole";
    EXPECT_EQ(json::parse(out[0]->payload()).at("reason"), "messages after since are no longer held");
    EXPECT_EQ(cursor.not_recovered(), 1u);
}

TEST(StreamCursor, AnotherEpochOrALostStreamIsNotRecovered) {
    for (const auto& [other, reason] : {std::pair{std::string{"1764700999000000"}, "epoch changed"},
                                        std::pair{std::string{}, "stream lost"}}) {
        StreamCursor cursor{StreamCursor::Resume{5, epoch}};
        std::vector<OutboundPtr> out;
        cursor.on_topic_state(true);
        cursor.begin_catch_up();
        cursor.on_replay(replay(other.empty() ? 0 : 3, {1, 2, 3}, other), out);
        ASSERT_EQ(seen(out), (Seen{"R-"})) << reason;
        EXPECT_EQ(json::parse(out[0]->payload()).at("reason"), reason);
    }
}

TEST(StreamCursor, ASinceAheadOfTheStreamIsNotRecovered) {
    StreamCursor cursor{StreamCursor::Resume{50, epoch}};
    std::vector<OutboundPtr> out;
    cursor.on_topic_state(true);
    cursor.begin_catch_up();
    cursor.on_replay(replay(10, {}), out);
    EXPECT_EQ(seen(out), (Seen{"R-"}));
}

TEST(StreamCursor, AFailedReadSaysSoAndSendsWhatCameLive) {
    StreamCursor cursor{StreamCursor::Resume{5, epoch}};
    std::vector<OutboundPtr> out;
    cursor.on_topic_state(true);
    cursor.begin_catch_up();
    cursor.on_live(message(8), out);
    ReplayResult failed;
    failed.error = "Redis is not connected";
    cursor.on_replay(failed, out);
    EXPECT_EQ(seen(out), (Seen{"R-", "8"}));
    EXPECT_NE(json::parse(out[0]->payload()).at("reason").get<std::string>().find("Redis is not connected"),
              std::string::npos);
}

TEST(StreamCursor, ALostSubscriptionIsCaughtUpFromTheLastSeqSent) {
    StreamCursor cursor{std::nullopt};
    std::vector<OutboundPtr> out;
    cursor.on_topic_state(true);
    cursor.begin_catch_up();
    cursor.on_replay(replay(3, {}), out);
    cursor.on_live(message(4), out);
    cursor.on_topic_state(false);  // Redis went away; 5 and 6 were published meanwhile
    EXPECT_FALSE(cursor.wants_catch_up());
    cursor.on_topic_state(true);
    ASSERT_TRUE(cursor.wants_catch_up());
    EXPECT_EQ(cursor.begin_catch_up(), 4u);
    cursor.on_live(message(7), out);
    cursor.on_replay(replay(6, {5, 6}), out);
    EXPECT_EQ(seen(out), (Seen{"4", "R+", "5", "6", "7"}));
}

TEST(StreamCursor, AGapInLiveMessagesStartsACatchUp) {
    StreamCursor cursor{std::nullopt};
    std::vector<OutboundPtr> out;
    cursor.on_topic_state(true);
    cursor.begin_catch_up();
    cursor.on_replay(replay(1, {}), out);
    cursor.on_live(message(2), out);
    cursor.on_live(message(4), out);
    ASSERT_TRUE(cursor.wants_catch_up());
    EXPECT_EQ(cursor.begin_catch_up(), 2u);
    cursor.on_replay(replay(4, {3, 4}), out);
    EXPECT_EQ(seen(out), (Seen{"2", "R+", "3", "4"}));
}

TEST(StreamCursor, AConfirmationDuringAReadStartsAnotherOneAfterIt) {
    StreamCursor cursor{StreamCursor::Resume{1, epoch}};
    std::vector<OutboundPtr> out;
    cursor.on_topic_state(true);
    cursor.begin_catch_up();
    cursor.on_topic_state(false);
    cursor.on_topic_state(true);
    EXPECT_FALSE(cursor.wants_catch_up()) << "one read at a time";
    cursor.on_replay(replay(2, {2}), out);
    EXPECT_TRUE(cursor.wants_catch_up());
    EXPECT_EQ(cursor.begin_catch_up(), 2u);
}

TEST(StreamCursor, ANewEpochSeenLiveIsAnnounced) {
    StreamCursor cursor{std::nullopt};
    std::vector<OutboundPtr> out;
    cursor.on_topic_state(true);
    cursor.begin_catch_up();
    cursor.on_replay(replay(7, {}), out);
    cursor.on_live(message(8), out);
    cursor.on_live(message(1, "1764709999000000"), out);
    EXPECT_EQ(seen(out), (Seen{"8", "R-", "1"}));
}

// The seam under every interleaving: whatever the order in which the replay read and the live
// messages arrive, the client sees every seq after `since` exactly once, in order.
TEST(StreamCursor, EverySeqOnceInOrderWhateverTheInterleaving) {
    std::mt19937 random{20261202};
    for (int run = 0; run < 2000; ++run) {
        const std::uint64_t since = random() % 20;
        const std::uint64_t head_at_read = since + random() % 30;
        const std::uint64_t last = head_at_read + random() % 30;
        // Live delivery starts at or before the message after the read's head (subscribed first).
        const std::uint64_t first_live = 1 + random() % (head_at_read + 1);
        StreamCursor cursor{StreamCursor::Resume{since, epoch}};
        std::vector<OutboundPtr> out;
        cursor.on_topic_state(true);
        cursor.begin_catch_up();
        std::vector<std::uint64_t> stream;
        for (auto s = since + 1; s <= head_at_read; ++s) stream.push_back(s);
        const std::uint64_t live_before_reply = first_live + random() % (last - first_live + 2);
        for (auto s = first_live; s < live_before_reply && s <= last; ++s) cursor.on_live(message(s), out);
        cursor.on_replay(replay(head_at_read, stream), out);
        for (auto s = live_before_reply; s <= last; ++s) cursor.on_live(message(s), out);

        Seen expected{"R+"};
        for (auto s = since + 1; s <= last; ++s) expected.push_back(std::to_string(s));
        ASSERT_EQ(seen(out), expected) << "run " << run << " since " << since << " head " << head_at_read;
    }
}

TEST(StreamCursor, ATopicNeverPublishedToTakesItsFirstEpochSilently) {
    StreamCursor cursor{std::nullopt};
    std::vector<OutboundPtr> out;
    cursor.on_topic_state(true);
    cursor.begin_catch_up();
    cursor.on_replay(replay(0, {}, ""), out);
    cursor.on_live(message(1), out);
    cursor.on_live(message(2), out);
    EXPECT_EQ(seen(out), (Seen{"1", "2"}));
}
