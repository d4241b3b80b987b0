#include "topic_ref_counts.hpp"

#include <gtest/gtest.h>

namespace flowgate::bus {
namespace {

TEST(TopicRefCounts, FirstAddAndLastRemoveAreTheOnlyTransitions) {
    TopicRefCounts counts;
    EXPECT_TRUE(counts.add("node:1:telemetry"));
    EXPECT_FALSE(counts.add("node:1:telemetry"));
    EXPECT_TRUE(counts.add("community:7:updates"));
    EXPECT_EQ(counts.count("node:1:telemetry"), 2u);
    EXPECT_EQ(counts.size(), 2u);

    EXPECT_EQ(counts.remove("node:1:telemetry"), TopicRefCounts::Removed::still_used);
    EXPECT_TRUE(counts.contains("node:1:telemetry"));
    EXPECT_EQ(counts.remove("node:1:telemetry"), TopicRefCounts::Removed::last);
    EXPECT_FALSE(counts.contains("node:1:telemetry"));
    EXPECT_EQ(counts.size(), 1u);
    EXPECT_EQ(counts.topics(), std::vector<std::string>{"community:7:updates"});
}

TEST(TopicRefCounts, RemovingAnUnknownTopicChangesNothing) {
    TopicRefCounts counts;
    counts.add("a");
    EXPECT_EQ(counts.remove("b"), TopicRefCounts::Removed::unknown);
    EXPECT_EQ(counts.remove("a"), TopicRefCounts::Removed::last);
    EXPECT_EQ(counts.remove("a"), TopicRefCounts::Removed::unknown);
    EXPECT_TRUE(counts.add("a")); // a fresh first reference again
}

} // namespace
} // namespace flowgate::bus
