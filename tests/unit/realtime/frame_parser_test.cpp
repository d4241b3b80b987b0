#include "frame_parser.hpp"

#include <gtest/gtest.h>

#include <optional>

#include <cstdint>
#include <string>
#include <vector>

using flowgate::realtime::FrameParser;
using flowgate::realtime::valid_utf8;
using Kind = FrameParser::Event::Kind;

namespace {

/// A frame as a browser sends it: masked with `key`.
std::string client_frame(std::uint8_t opcode, std::string_view payload, bool fin = true,
                         std::uint32_t key = 0x37FA213D, std::uint8_t extra_bits = 0) {
    std::string out;
    out.push_back(static_cast<char>((fin ? 0x80 : 0) | extra_bits | opcode));
    const auto n = payload.size();
    if (n < 126) {
        out.push_back(static_cast<char>(0x80 | n));
    } else if (n <= 0xFFFF) {
        out.push_back(static_cast<char>(0x80 | 126));
        out.push_back(static_cast<char>(n >> 8));
        out.push_back(static_cast<char>(n & 0xFF));
    } else {
        out.push_back(static_cast<char>(0x80 | 127));
        for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xFF));
    }
    const char mask[4] = {static_cast<char>(key >> 24), static_cast<char>(key >> 16), static_cast<char>(key >> 8),
                          static_cast<char>(key)};
    out.append(mask, 4);
    for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    return out;
}

std::vector<FrameParser::Event> drain(FrameParser& parser, std::vector<std::string>& payloads) {
    std::vector<FrameParser::Event> events;
    for (auto e = parser.next(); e.kind != Kind::none; e = parser.next()) {
        payloads.emplace_back(e.payload);
        events.push_back(e);
    }
    return events;
}

FrameParser::Event only_event(std::string_view bytes, std::size_t max = 1024) {
    static std::optional<FrameParser> parser;  // outlives the event, whose payload points into it
    parser.emplace(max);
    parser->append(bytes);
    return parser->next();
}

} // namespace

TEST(FrameParser, MaskedTextMessageIsUnmasked) {
    const auto e = only_event(client_frame(0x1, "ping"));
    EXPECT_EQ(e.kind, Kind::text);
    EXPECT_EQ(e.payload, "ping");
}

TEST(FrameParser, BytesArrivingOneByOneGiveTheSameMessages) {
    const std::string big(70'000, 'x');
    const auto bytes = client_frame(0x1, "hello") + client_frame(0x2, big) + client_frame(0x1, std::string(300, 'y'));
    FrameParser parser{100'000};
    std::vector<std::string> payloads;
    for (const char c : bytes) {
        parser.append(std::string_view{&c, 1});
        drain(parser, payloads);
    }
    ASSERT_EQ(payloads.size(), 3u);
    EXPECT_EQ(payloads[0], "hello");
    EXPECT_EQ(payloads[1], big) << "64-bit length";
    EXPECT_EQ(payloads[2], std::string(300, 'y')) << "16-bit length";
    EXPECT_EQ(parser.buffered(), 0u);
}

TEST(FrameParser, FragmentsAreAssembledAndControlFramesMayComeBetween) {
    FrameParser parser{1024};
    parser.append(client_frame(0x1, "hel", false) + client_frame(0x9, "are you there") + client_frame(0x0, "lo", false) +
                  client_frame(0x0, " world", true));
    std::vector<std::string> payloads;
    const auto events = drain(parser, payloads);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].kind, Kind::ping);
    EXPECT_EQ(payloads[0], "are you there");
    EXPECT_EQ(events[1].kind, Kind::text);
    EXPECT_EQ(payloads[1], "hello world");
}

TEST(FrameParser, CloseCarriesItsCodeAndReason) {
    auto e = only_event(client_frame(0x8, std::string{"\x03\xE8", 2} + "bye"));
    EXPECT_EQ(e.kind, Kind::close);
    EXPECT_EQ(e.code, 1000);
    EXPECT_EQ(e.payload, "bye");
    e = only_event(client_frame(0x8, ""));
    EXPECT_EQ(e.kind, Kind::close);
    EXPECT_EQ(e.code, 1005) << "no code given";
}

TEST(FrameParser, ProtocolViolationsAreErrorsWithTheCodeToCloseWith) {
    struct Case {
        std::string bytes;
        std::uint16_t code;
        const char* what;
    };
    std::string unmasked = client_frame(0x1, "hi");
    unmasked[1] = static_cast<char>(unmasked[1] & 0x7F);
    const std::vector<Case> cases{
        {unmasked.substr(0, 2) + "hi", 1002, "unmasked"},
        {client_frame(0x1, "hi", true, 1, 0x40), 1002, "RSV1 without an extension"},
        {client_frame(0x3, "hi"), 1002, "reserved data opcode"},
        {client_frame(0xB, "hi"), 1002, "reserved control opcode"},
        {client_frame(0x9, "hi", false), 1002, "fragmented ping"},
        {client_frame(0x9, std::string(126, 'p')), 1002, "ping over 125 bytes"},
        {client_frame(0x0, "hi"), 1002, "continuation with no message"},
        {client_frame(0x1, "a", false) + client_frame(0x1, "b"), 1002, "new message inside a message"},
        {client_frame(0x8, "\x03"), 1002, "one-byte close"},
        {client_frame(0x8, std::string{"\x03\xED", 2}), 1002, "close code 1005 sent on the wire"},
        {client_frame(0x1, "\xC0\xAF"), 1007, "overlong UTF-8"},
        {client_frame(0x1, std::string(2000, 'x')), 1009, "over the size limit"},
        {client_frame(0x1, std::string(600, 'x'), false) + client_frame(0x0, std::string(600, 'x')), 1009,
         "fragments adding up over the limit"},
    };
    for (const auto& c : cases) {
        FrameParser parser{1024};
        parser.append(c.bytes);
        auto e = parser.next();
        while (e.kind == Kind::text) e = parser.next();
        EXPECT_EQ(e.kind, Kind::error) << c.what;
        EXPECT_EQ(e.code, c.code) << c.what;
        EXPECT_FALSE(e.error.empty()) << c.what;
        parser.append(client_frame(0x1, "after"));
        EXPECT_EQ(parser.next().kind, Kind::none) << c.what << ": nothing is read after an error";
    }
}

TEST(FrameParser, OversizedFrameIsRefusedBeforeItsPayloadArrives) {
    FrameParser parser{1024};
    const auto frame = client_frame(0x2, std::string(1 << 20, 'z'));
    parser.append(std::string_view{frame}.substr(0, 14));  // header and mask only
    EXPECT_EQ(parser.next().code, 1009);
}

TEST(Utf8, AcceptsWellFormedAndRefusesTheRest) {
    EXPECT_TRUE(valid_utf8("plain ascii"));
    EXPECT_TRUE(valid_utf8("\xE0\xA4\x9C\xE0\xA4\xB2 \xF0\x9F\x92\xA7"));  // "जल 💧"
    EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));      // a surrogate
    EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
    EXPECT_FALSE(valid_utf8("\xE2\x82"));          // cut short
    EXPECT_FALSE(valid_utf8("\xFF"));
}
