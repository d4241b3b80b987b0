#include "flowgate/realtime/outbound_message.hpp"

#include <gtest/gtest.h>

#include <string>

using flowgate::realtime::OutboundMessage;
using flowgate::realtime::Opcode;
using flowgate::realtime::parse_sequence_stamp;

TEST(OutboundMessage, SequencedEventKeepsSeqEpochAndItsBytes) {
    const std::string json = R"({"seq":42,"epoch":"1764700000123456","type":"TELEMETRY_UPDATE","node_id":1})";
    const auto m = OutboundMessage::from_sequenced(json);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->seq(), 42u);
    EXPECT_EQ(m->epoch(), "1764700000123456");
    EXPECT_EQ(m->payload(), json);
    EXPECT_FALSE(m->is_control());
}

TEST(OutboundMessage, FramesAreUnmaskedWithTheShortestLength) {
    for (const std::size_t size : {0u, 125u, 126u, 65535u, 65536u, 200000u}) {
        const auto m = OutboundMessage::unsequenced(std::string(size, 'a'));
        const auto& frame = m->frame();
        EXPECT_EQ(static_cast<unsigned char>(frame[0]), 0x81) << "FIN + text";
        const auto b1 = static_cast<unsigned char>(frame[1]);
        EXPECT_EQ(b1 & 0x80, 0) << "server frames are never masked";
        const std::size_t header = size < 126 ? 2 : size <= 0xFFFF ? 4 : 10;
        EXPECT_EQ(frame.size(), header + size) << size;
        EXPECT_EQ(b1, size < 126 ? size : size <= 0xFFFF ? 126u : 127u);
        if (header == 4) {
            EXPECT_EQ((static_cast<unsigned char>(frame[2]) << 8) | static_cast<unsigned char>(frame[3]), size);
        }
        EXPECT_EQ(m->payload().size(), size);
    }
}

TEST(OutboundMessage, CloseFrameCarriesCodeAndAReasonCutAtACharacter) {
    const auto close = OutboundMessage::close(4008, "slow consumer");
    EXPECT_EQ(close->opcode(), Opcode::close);
    EXPECT_EQ(close->frame(), std::string("\x88\x0F\x0F\xA8slow consumer", 17));

    std::string long_reason(122, 'x');
    long_reason += "\xE2\x82\xAC";  // a 3-byte character across the 123-byte limit
    const auto cut = OutboundMessage::close(1001, long_reason);
    EXPECT_EQ(cut->payload().size(), 2u + 122u);
    EXPECT_EQ(OutboundMessage::close(1005, "ignored")->payload(), "") << "1005 is never sent";
    EXPECT_THROW(OutboundMessage::control(Opcode::ping, std::string(126, 'p')), std::invalid_argument);
}

TEST(SequenceStamp, OnlyTheExactPublisherPrefixIsSequenced) {
    EXPECT_EQ(parse_sequence_stamp(R"({"seq":7,"epoch":"123","x":1})")->seq, 7u);
    EXPECT_EQ(parse_sequence_stamp(R"({"seq":7,"epoch":"123"})")->epoch, "123");
    for (const auto* bad : {R"({"type":"X"})", R"({"seq":0,"epoch":"1"})", R"({"seq":-1,"epoch":"1"})",
                            R"({"seq":7,"epoch":"12a"})", R"({"seq":7,"epoch":""})", R"({"seq":7})",
                            R"({"seq":7,"epoch":"123)", ""}) {
        EXPECT_FALSE(parse_sequence_stamp(bad)) << bad;
        EXPECT_FALSE(OutboundMessage::from_sequenced(bad)) << bad;
    }
}
