#include "publish_queue.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace flowgate::bus {
namespace {

PublishQueue::Message msg(const std::string& event, const std::string& dedupe_id = "") {
    return {"t", dedupe_id, std::make_shared<const std::string>(event)};
}

using Outcome = PublishQueue::Outcome;

// Sends everything the window allows; returns the events sent.
std::vector<std::string> send_all(PublishQueue& q) {
    std::vector<std::string> sent;
    while (const auto* m = q.next()) {
        sent.push_back(*m->event);
        q.mark_sent();
    }
    return sent;
}

TEST(PublishQueue, FullQueueDropsTheOldestAndCountsIt) {
    PublishQueue q{3, 100, 1 << 20};
    for (const auto* p : {"1", "2", "3"}) EXPECT_EQ(q.push(msg(p)), 0u);
    EXPECT_EQ(q.push(msg("4")), 1u);
    EXPECT_EQ(q.push(msg("5")), 1u);
    EXPECT_EQ(q.dropped(), 2u);
    EXPECT_EQ(q.waiting(), 3u);
    EXPECT_EQ(send_all(q), (std::vector<std::string>{"3", "4", "5"}));
}

TEST(PublishQueue, InFlightWindowLimitsCountAndBytes) {
    PublishQueue q{100, 2, 10};
    for (const auto* p : {"a", "b", "c"}) q.push(msg(p));
    EXPECT_EQ(send_all(q), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(q.in_flight(), 2u);
    q.on_reply(Outcome::published);
    EXPECT_EQ(send_all(q), (std::vector<std::string>{"c"}));

    PublishQueue bytes{100, 100, 10};
    bytes.push(msg(std::string(8, 'x')));
    bytes.push(msg(std::string(8, 'y')));
    EXPECT_EQ(send_all(bytes).size(), 1u); // 16 bytes would exceed the window
    bytes.on_reply(Outcome::published);
    EXPECT_EQ(send_all(bytes).size(), 1u);
}

TEST(PublishQueue, OneMessageLargerThanTheByteWindowStillGoes) {
    PublishQueue q{10, 10, 4};
    q.push(msg(std::string(100, 'x')));
    ASSERT_NE(q.next(), nullptr);
}

TEST(PublishQueue, RepliesCountPublishedAndFailed) {
    PublishQueue q{10, 10, 1 << 20};
    q.push(msg("a"));
    q.push(msg("b"));
    send_all(q);
    q.on_reply(Outcome::published);
    q.on_reply(Outcome::failed);
    q.on_reply(Outcome::published); // a stray reply with nothing in flight changes nothing
    EXPECT_EQ(q.published(), 1u);
    EXPECT_EQ(q.failed(), 1u);
    EXPECT_EQ(q.in_flight(), 0u);
}

TEST(PublishQueue, UnansweredMessagesGoBackToTheFrontInOrder) {
    PublishQueue q{10, 2, 1 << 20};
    for (const auto* p : {"1", "2", "3", "4"}) q.push(msg(p));
    send_all(q); // 1 and 2 in flight
    q.on_reply(Outcome::published); // 1 answered
    send_all(q);      // 3 in flight too
    EXPECT_EQ(q.requeue_unanswered(), 0u);
    EXPECT_EQ(q.in_flight(), 0u);
    EXPECT_EQ(q.waiting(), 3u);
    std::vector<std::string> order;
    while (const auto* m = q.next()) {
        order.push_back(*m->event);
        q.mark_sent();
        q.on_reply(Outcome::published);
    }
    EXPECT_EQ(order, (std::vector<std::string>{"2", "3", "4"}));
}

TEST(PublishQueue, RequeueBeyondCapacityDropsTheOldest) {
    PublishQueue q{2, 2, 1 << 20};
    q.push(msg("1"));
    q.push(msg("2"));
    send_all(q);
    q.push(msg("3"));
    q.push(msg("4"));
    EXPECT_EQ(q.requeue_unanswered(), 2u);
    EXPECT_EQ(q.dropped(), 2u);
    EXPECT_EQ(send_all(q), (std::vector<std::string>{"3", "4"}));
}

TEST(PublishQueue, DuplicatesCountAsPublishedAndAsDuplicates) {
    PublishQueue q{10, 10, 1 << 20};
    for (const auto* p : {"a", "b", "c"}) q.push(msg(p));
    send_all(q);
    q.on_reply(Outcome::published);
    q.on_reply(Outcome::duplicate);
    q.on_reply(Outcome::failed);
    EXPECT_EQ(q.published(), 2u);
    EXPECT_EQ(q.duplicates(), 1u);
    EXPECT_EQ(q.failed(), 1u);
}

TEST(PublishQueue, HeldQueueOffersNothingUntilReleased) {
    PublishQueue q{3, 10, 1 << 20};
    q.push(msg("1"));
    send_all(q); // 1 in flight
    q.hold(true);
    for (const auto* p : {"2", "3", "4", "5"}) q.push(msg(p));
    EXPECT_EQ(q.next(), nullptr);
    q.on_reply(Outcome::published); // what was already sent is still answered
    EXPECT_EQ(q.next(), nullptr);
    EXPECT_EQ(q.dropped(), 1u) << "a held queue stays bounded";
    q.hold(false);
    EXPECT_EQ(send_all(q), (std::vector<std::string>{"3", "4", "5"}));
}

TEST(PublishQueue, RequeuedMessagesKeepTheirTopicAndDedupeId) {
    PublishQueue q{10, 10, 1 << 20};
    q.push({"node:12", "12:0:5761", std::make_shared<const std::string>("{}")});
    send_all(q);
    q.requeue_unanswered();
    const auto* m = q.next();
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->topic, "node:12");
    EXPECT_EQ(m->dedupe_id, "12:0:5761");
    EXPECT_EQ(*m->event, "{}");
}

TEST(PublishQueue, RejectsZeroLimits) {
    EXPECT_THROW((PublishQueue{0, 1, 1}), std::invalid_argument);
    EXPECT_THROW((PublishQueue{1, 0, 1}), std::invalid_argument);
}

} // namespace
} // namespace flowgate::bus
