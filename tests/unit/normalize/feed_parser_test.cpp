// parse_feed against the recorded ThingSpeak responses in tests/data/thingspeak-samples, and
// against bodies ThingSpeak should never send.
#include "flowgate/normalize/feed.hpp"

#include <gtest/gtest.h>

#include "samples.hpp"

using namespace flowgate::normalize;
using namespace flowgate::normalize::test;

namespace {

Feed parsed(const std::string& body) {
    auto outcome = parse_feed(body);
    EXPECT_TRUE(outcome.ok()) << outcome.error;
    EXPECT_TRUE(outcome.error.empty());
    return outcome.feed.value_or(Feed{});
}

std::string parse_error(const std::string& body) {
    auto outcome = parse_feed(body);
    EXPECT_FALSE(outcome.ok()) << body.substr(0, 80);
    EXPECT_FALSE(outcome.error.empty());
    return outcome.error;
}

} // namespace

TEST(FeedParser, FeedsJsonKeepsChannelLabelsAndRawValues) {
    const auto feed = parsed(sample(s01));
    ASSERT_TRUE(feed.channel);
    EXPECT_EQ(feed.channel->id, 9);
    EXPECT_EQ(feed.channel->name, "my_house");
    EXPECT_EQ(feed.channel->labels[0], "Light");
    EXPECT_EQ(feed.channel->labels[1], "Outside Temperature");
    for (std::size_t i = 2; i < 8; ++i) EXPECT_FALSE(feed.channel->labels[i]) << "field" << i + 1 << " is disabled";
    EXPECT_EQ(feed.channel->last_entry_id, 6060625);

    ASSERT_EQ(feed.entries.size(), 2u);
    const auto& e = feed.entries[0];
    EXPECT_EQ(e.entry_id, 6060624);
    EXPECT_EQ(e.created_at_raw, "2014-02-26T12:42:49-05:00");
    EXPECT_EQ(e.fields[0], "188");
    EXPECT_EQ(e.fields[1], "25.902335456475583");  // as sent: no float round trip
    EXPECT_TRUE(e.present[0] && e.present[1]);
    EXPECT_FALSE(e.present[2]);
    EXPECT_FALSE(e.fields[2]);
    EXPECT_EQ(feed.entries[1].created_at_raw, "2014-02-26T12:43:04-05:00");
}

TEST(FeedParser, UtcAndIndianOffsetsArePassedThroughUntouched) {
    const auto z = parsed(sample(s11));
    ASSERT_EQ(z.entries.size(), 2u);
    EXPECT_EQ(z.entries[1].created_at_raw, "2018-01-26T13:08:04Z");
    EXPECT_EQ(z.entries[1].fields[1], "23.86411889596603");

    const auto ist = parsed(sample(s18));
    ASSERT_EQ(ist.entries.size(), 3u);
    EXPECT_EQ(ist.entries[2].created_at_raw, "2017-02-03T15:43:21+05:30");
    EXPECT_EQ(ist.entries[2].entry_id, 3);
}

TEST(FeedParser, LastJsonIsOneBareEntryWithoutChannel) {
    const auto last = parsed(sample(s02));
    EXPECT_FALSE(last.channel);
    ASSERT_EQ(last.entries.size(), 1u);
    EXPECT_EQ(last.entries[0].entry_id, 6061519);
    EXPECT_EQ(last.entries[0].created_at_raw, "2014-02-26T21:27:21Z");
    EXPECT_EQ(last.entries[0].fields[1], "28.195329087048833");

    const auto field_last = parsed(sample(s04));
    ASSERT_EQ(field_last.entries.size(), 1u);
    EXPECT_EQ(field_last.entries[0].fields[0], "176");
    EXPECT_FALSE(field_last.entries[0].present[1]);
}

TEST(FeedParser, MinusOneBodyIsAnEmptyResultNotAnError) {
    for (const char* name : {s08, s09}) {
        const auto feed = parsed(sample(name));
        EXPECT_FALSE(feed.channel) << name;
        EXPECT_TRUE(feed.entries.empty()) << name;
    }
    EXPECT_TRUE(parsed("-1\n").entries.empty());
    EXPECT_TRUE(parsed("  -1  ").entries.empty());
}

TEST(FeedParser, FieldFeedCarriesOnlyItsFieldWhileTheChannelNamesMore) {
    const auto feed = parsed(sample(s03));
    ASSERT_TRUE(feed.channel);
    EXPECT_EQ(feed.channel->labels[1], "Outside Temperature");
    ASSERT_EQ(feed.entries.size(), 2u);
    EXPECT_EQ(feed.entries[1].fields[0], "164");
    EXPECT_FALSE(feed.entries[1].present[1]);
}

TEST(FeedParser, NullIsPresentButHasNoValue) {
    const auto feed = parsed(sample(s07));
    ASSERT_EQ(feed.entries.size(), 16u);
    EXPECT_EQ(feed.entries[0].fields[1], "1000");
    EXPECT_EQ(feed.entries[1].fields[0], "25.0");
    EXPECT_EQ(feed.entries[2].fields[0], "1");
    EXPECT_TRUE(feed.entries[2].present[1]);
    EXPECT_FALSE(feed.entries[2].fields[1]);
    EXPECT_EQ(feed.entries[15].entry_id, 16);
    EXPECT_EQ(feed.channel->last_entry_id, 16);

    const auto pretty = parsed(sample(s12));
    ASSERT_EQ(pretty.entries.size(), 1u);
    for (std::size_t i = 0; i < 8; ++i) {
        EXPECT_EQ(pretty.channel->labels[i], "f" + std::to_string(i + 1));
        EXPECT_TRUE(pretty.entries[0].present[i]);
        EXPECT_EQ(pretty.entries[0].fields[i].has_value(), i < 2) << "field" << i + 1;
    }

    const auto ist = parsed(sample(s17));
    ASSERT_EQ(ist.entries.size(), 57u);
    EXPECT_EQ(ist.entries[3].entry_id, 4);
    EXPECT_TRUE(ist.entries[3].present[0]);
    EXPECT_FALSE(ist.entries[3].fields[0]);
}

TEST(FeedParser, TextValuesAreKeptAsStrings) {
    EXPECT_EQ(parsed(sample(s13)).entries.at(0).fields[1], "10110010");
    EXPECT_EQ(parsed(sample(s14)).entries.at(0).fields[0], "x87654321x");
    EXPECT_EQ(parsed(sample(s20)).entries.at(0).fields[0], "44.50");  // trailing zero kept
    EXPECT_EQ(parsed(sample(s23)).channel->labels[0], "Field Label 1");
}

TEST(FeedParser, NumbersWhereStringsAreExpectedBecomeTheirText) {
    const auto feed = parsed(R"({"created_at":"2024-01-01T00:00:00Z","entry_id":1,"field1":25.5,"field2":1000,"field3":-3})");
    EXPECT_EQ(feed.entries[0].fields[0], "25.5");
    EXPECT_EQ(feed.entries[0].fields[1], "1000");
    EXPECT_EQ(feed.entries[0].fields[2], "-3");
}

TEST(FeedParser, OtherJsonValuesInAFieldAreKeptAsAProblemOfThatField) {
    const auto feed = parsed(
        R"({"created_at":"2024-01-01T00:00:00Z","entry_id":1,"field1":true,"field2":{"v":1},"field3":[1],"field4":"7"})");
    const auto& e = feed.entries[0];
    EXPECT_EQ(e.bad_values[0], "true");
    EXPECT_EQ(e.bad_values[1], "an object");
    EXPECT_EQ(e.bad_values[2], "an array");
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_TRUE(e.present[i]);
        EXPECT_FALSE(e.fields[i]);
    }
    EXPECT_EQ(e.fields[3], "7");
    EXPECT_FALSE(e.bad_values[3]);
}

TEST(FeedParser, EntryDefectsAreKeptForTheNormalizerNotFatal) {
    const auto feed = parsed(R"({"channel":{"id":1,"field1":"a"},"feeds":[
        {"created_at":"2024-01-01T00:00:00Z","field1":"1"},
        {"created_at":"2024-01-01T00:00:00Z","entry_id":"5","field1":"1"},
        {"created_at":"2024-01-01T00:00:00Z","entry_id":-3},
        {"created_at":"2024-01-01T00:00:00Z","entry_id":1.5},
        {"created_at":12345,"entry_id":6},
        {"entry_id":7,"status":"pump on","latitude":null},
        {"created_at":null,"entry_id":null}]})");
    ASSERT_EQ(feed.entries.size(), 7u);
    EXPECT_FALSE(feed.entries[0].entry_id);
    EXPECT_FALSE(feed.entries[0].bad_entry_id);
    EXPECT_EQ(feed.entries[1].bad_entry_id, R"("5")");
    EXPECT_EQ(feed.entries[2].bad_entry_id, "-3");
    EXPECT_EQ(feed.entries[3].bad_entry_id, "1.5");
    EXPECT_EQ(feed.entries[4].created_at_raw, "12345");
    EXPECT_EQ(feed.entries[4].entry_id, 6);
    EXPECT_EQ(feed.entries[5].created_at_raw, "");
    EXPECT_EQ(feed.entries[6].created_at_raw, "null");
    EXPECT_FALSE(feed.entries[6].bad_entry_id);
}

TEST(FeedParser, ChannelWithNullLastEntryIdIsAnEmptyChannel) {
    const auto feed = parsed(R"({"channel":{"id":5,"name":"new","field1":"Level","last_entry_id":null},"feeds":[]})");
    ASSERT_TRUE(feed.channel);
    EXPECT_FALSE(feed.channel->last_entry_id);
    EXPECT_TRUE(feed.entries.empty());
}

TEST(FeedParser, MalformedBodiesAreErrorsThatSayWhatIsWrong) {
    struct Case {
        std::string body;
        std::string expected;
    };
    const std::string s01_text = sample(s01);
    const std::vector<Case> cases{
        {"", "body is empty"},
        {"  \n", "body is empty"},
        {"<html>502 Bad Gateway</html>", "body is not JSON at byte 1: invalid literal"},
        {s01_text.substr(0, s01_text.size() / 2), "truncated?"},
        {R"({"channel":{"id":9},"feeds":{}})", "feeds is not an array but an object"},
        {R"({"feeds":null})", "feeds is not an array but null"},
        {R"({"feeds":"[]"})", R"(feeds is not an array but "[]")"},
        {R"({"feeds":[{"entry_id":1},2]})", "feeds[1] is not an object but 2"},
        {R"({"channel":[],"feeds":[]})", "channel is not an object"},
        {R"({"channel":{"name":"x"},"feeds":[]})", "channel has no id"},
        {R"({"channel":{"id":"9"},"feeds":[]})", R"(channel.id is not an integer: "9")"},
        {R"({"channel":{"id":9,"field1":5},"feeds":[]})", "channel.field1 is not a string: 5"},
        {R"({"channel":{"id":9,"last_entry_id":"16"},"feeds":[]})", "channel.last_entry_id is not an integer"},
        {R"({"channel":{"id":9,"name":"x"}})", "body has a channel but no feeds"},
        {R"({})", "neither feeds nor an entry"},
        {R"({"foo":1})", "neither feeds nor an entry"},
        {R"([1,2])", "body is an array, not a feed or an entry"},
        {"0", "body is 0, not a feed or an entry"},
        {"-2", "body is -2, not a feed or an entry"},
        {R"("-1")", R"(body is "-1", not a feed or an entry)"},
        {R"({"feeds":[1e400]})", "too large for a double"},
        {R"({"feeds":[]} x)", "body is not JSON at byte"},
        {"{\"feeds\":[{\"field1\":\"\xff\"}]}", "body is not JSON at byte"},
        {sample(s06), "ThingSpeak error object, error_code \"error_auth_required\""},
    };
    for (const auto& c : cases) {
        const auto error = parse_error(c.body);
        EXPECT_NE(error.find(c.expected), std::string::npos) << "body: " << c.body.substr(0, 60) << "\nerror: " << error;
    }
}

TEST(FeedParser, ErrorMessagesDoNotEchoTheBody) {
    // A secret-looking token inside a broken body must not reach the message (it goes to logs).
    const std::string body = R"({"feeds":[{"created_at":"SECRETSECRET)" + std::string(100'000, 'A');
    const auto error = parse_error(body);
    EXPECT_EQ(error.find("SECRET"), std::string::npos) << error;
    EXPECT_LT(error.size(), 160u) << error;

    const auto quoted = parse_error(R"({"channel":{"id":")" + std::string(10'000, 'k') + R"("},"feeds":[]})");
    EXPECT_LT(quoted.size(), 160u) << quoted;
}

TEST(FeedParser, HugeValuesAndManyEntriesParse) {
    std::string body = R"({"channel":{"id":1,"field1":"a"},"feeds":[)";
    for (int i = 1; i <= 8000; ++i) {
        if (i > 1) body += ',';
        body += R"({"created_at":"2024-01-01T00:00:00Z","entry_id":)" + std::to_string(i) + R"(,"field1":"12.5"})";
    }
    body += "]}";
    const auto feed = parsed(body);
    ASSERT_EQ(feed.entries.size(), 8000u);
    EXPECT_EQ(feed.entries.back().entry_id, 8000);

    const std::string big(1 << 20, 'z');
    const auto one = parsed(R"({"created_at":"2024-01-01T00:00:00Z","entry_id":1,"field1":")" + big + R"("})");
    EXPECT_EQ(one.entries[0].fields[0], big);
}
