#include "flowgate/realtime/hub.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "flowgate/realtime/topic_feed.hpp"
#include "flowgate/realtime/topic_sink.hpp"

using flowgate::realtime::Hub;
using flowgate::realtime::OutboundMessage;
using flowgate::realtime::TopicFeed;
using flowgate::realtime::TopicSink;

namespace {

using Message = flowgate::realtime::OutboundPtr;

class RecordingFeed : public TopicFeed {
public:
    void subscribe(const std::string& topic) override { calls.push_back("subscribe " + topic); }
    void unsubscribe(const std::string& topic) override { calls.push_back("unsubscribe " + topic); }
    void replay(const std::string&, std::optional<std::uint64_t>, ReplayHandler) override {}

    std::vector<std::string> calls;
};

class RecordingSink : public TopicSink {
public:
    void push(const Message& message) override { received.push_back(message); }
    void on_topic_state(bool subscribed) override { states.push_back(subscribed); }

    std::vector<Message> received;
    std::vector<bool> states;
};

Message make_message(std::string_view text) { return OutboundMessage::unsequenced(text); }

const std::string community1 = "community:1:updates";
const std::string node1 = "node:1:telemetry";

} // namespace

TEST(Hub, FirstJoinSubscribesOnceAndLastLeaveUnsubscribes) {
    RecordingFeed feed;
    Hub hub{feed};
    RecordingSink a, b, c;
    hub.join(community1, a);
    hub.join(community1, b);
    hub.join(community1, c);
    EXPECT_EQ(feed.calls, std::vector<std::string>{"subscribe community:1:updates"});
    EXPECT_EQ(hub.sink_count(community1), 3u);

    hub.leave(community1, a);
    hub.leave(community1, b);
    EXPECT_EQ(feed.calls.size(), 1u) << "unsubscribed while a session still follows the topic";
    hub.leave(community1, c);
    EXPECT_EQ(feed.calls, (std::vector<std::string>{"subscribe community:1:updates", "unsubscribe community:1:updates"}));
    EXPECT_EQ(hub.topic_count(), 0u);

    hub.join(community1, a);
    EXPECT_EQ(feed.calls.back(), "subscribe community:1:updates");
}

TEST(Hub, EachTopicHasItsOwnSubscription) {
    RecordingFeed feed;
    Hub hub{feed};
    RecordingSink a, b;
    hub.join(community1, a);
    hub.join(node1, b);
    hub.leave(community1, a);
    EXPECT_EQ(feed.calls, (std::vector<std::string>{"subscribe community:1:updates", "subscribe node:1:telemetry",
                                                    "unsubscribe community:1:updates"}));
    EXPECT_EQ(hub.topic_count(), 1u);
}

TEST(Hub, DeliverHandsTheSamePayloadObjectToEverySink) {
    RecordingFeed feed;
    Hub hub{feed};
    RecordingSink a, b, c;
    hub.join(community1, a);
    hub.join(community1, b);
    hub.join(community1, c);
    const auto message = make_message(R"({"type":"TELEMETRY_UPDATE"})");

    EXPECT_EQ(hub.deliver(community1, message), 3u);

    for (const auto* sink : {&a, &b, &c}) {
        ASSERT_EQ(sink->received.size(), 1u);
        EXPECT_EQ(sink->received[0].get(), message.get()) << "a sink got a copy";
    }
    EXPECT_EQ(message.use_count(), 4) << "one payload, referenced by the caller and three queues";
}

TEST(Hub, DeliverReachesOnlyTheTopicsSinks) {
    RecordingFeed feed;
    Hub hub{feed};
    RecordingSink community_sink, node_sink;
    hub.join(community1, community_sink);
    hub.join(node1, node_sink);

    hub.deliver(node1, make_message("n"));
    EXPECT_EQ(hub.deliver("node:2:telemetry", make_message("other")), 0u);

    EXPECT_TRUE(community_sink.received.empty());
    ASSERT_EQ(node_sink.received.size(), 1u);
    EXPECT_EQ(node_sink.received[0]->payload(), "n");
}

TEST(Hub, LeavingWithoutHavingJoinedIsHarmless) {
    RecordingFeed feed;
    Hub hub{feed};
    RecordingSink member, stranger;
    hub.leave(community1, stranger);  // unknown topic
    hub.join(community1, member);
    hub.leave(community1, stranger);  // known topic, unknown sink
    hub.leave(node1, member);         // a topic the sink is not in

    EXPECT_EQ(feed.calls, std::vector<std::string>{"subscribe community:1:updates"});
    EXPECT_EQ(hub.deliver(community1, make_message("still here")), 1u);
    EXPECT_EQ(member.received.size(), 1u);
}

TEST(Hub, JoiningTwiceCountsOnce) {
    RecordingFeed feed;
    Hub hub{feed};
    RecordingSink a;
    hub.join(community1, a);
    hub.join(community1, a);
    EXPECT_EQ(hub.deliver(community1, make_message("once")), 1u);
    hub.leave(community1, a);
    EXPECT_EQ(feed.calls.back(), "unsubscribe community:1:updates");
}

TEST(Hub, AFeedThatRefusesLeavesNothingJoined) {
    class RefusingFeed : public TopicFeed {
    public:
        void subscribe(const std::string&) override { throw std::runtime_error{"redis down"}; }
        void unsubscribe(const std::string&) override { ++unsubscribes; }
        void replay(const std::string&, std::optional<std::uint64_t>, ReplayHandler) override {}
        int unsubscribes = 0;
    } feed;
    Hub hub{feed};
    RecordingSink a;
    EXPECT_THROW(hub.join(community1, a), std::runtime_error);
    EXPECT_EQ(hub.sink_count(community1), 0u);
    EXPECT_EQ(hub.deliver(community1, make_message("x")), 0u);
    hub.leave(community1, a);
    EXPECT_EQ(feed.unsubscribes, 0);
}

TEST(Hub, ASinkMustNotLeaveFromPush) {
    RecordingFeed feed;
    Hub hub{feed};
    struct LeavingSink : TopicSink {
        Hub* hub = nullptr;
        void push(const Message&) override { hub->leave(community1, *this); }
        void on_topic_state(bool) override {}
    } sink;
    sink.hub = &hub;
    hub.join(community1, sink);
    EXPECT_THROW(hub.deliver(community1, make_message("x")), std::logic_error);
    // The hub is usable afterwards.
    hub.leave(community1, sink);
    EXPECT_EQ(feed.calls.back(), "unsubscribe community:1:updates");
}

TEST(Hub, SubscriptionStateReachesTheTopicsSinksOncePerChange) {
    RecordingFeed feed;
    Hub hub{feed};
    RecordingSink a, b, other;
    hub.join(community1, a);
    hub.join(community1, b);
    hub.join(node1, other);
    EXPECT_FALSE(hub.subscribed(community1));

    hub.set_topic_state(community1, true);
    hub.set_topic_state(community1, true);  // a repeated confirmation is not news
    EXPECT_TRUE(hub.subscribed(community1));
    hub.set_topic_state(community1, false);
    hub.set_topic_state("node:9:telemetry", true);  // no sinks: ignored

    EXPECT_EQ(a.states, (std::vector<bool>{true, false}));
    EXPECT_EQ(b.states, (std::vector<bool>{true, false}));
    EXPECT_TRUE(other.states.empty());
    EXPECT_FALSE(hub.subscribed(community1));
    EXPECT_FALSE(hub.subscribed("node:9:telemetry"));
}

TEST(Hub, ATopicJoinedAgainStartsUnconfirmed) {
    RecordingFeed feed;
    Hub hub{feed};
    RecordingSink a;
    hub.join(community1, a);
    hub.set_topic_state(community1, true);
    hub.leave(community1, a);
    hub.join(community1, a);
    EXPECT_FALSE(hub.subscribed(community1)) << "the new SUBSCRIBE has not been confirmed yet";
}
