// libFuzzer target for the WebSocket frame parser, which reads whatever a client sends.
// Build and run by hand (clang's libFuzzer, ASan and UBSan):
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I src/realtime \
//     tests/fuzz/frame_parser_fuzz.cpp src/realtime/frame_parser.cpp -o /tmp/frame_parser_fuzz
//   /tmp/frame_parser_fuzz -max_total_time=60
// The first byte splits the input into two appends, so frames cut anywhere are exercised.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "frame_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view input{reinterpret_cast<const char*>(data) + 1, size - 1};
    const std::size_t cut = data[0] % (input.size() + 1);
    flowgate::realtime::FrameParser parser{4096};
    using Kind = flowgate::realtime::FrameParser::Event::Kind;
    for (const auto part : {input.substr(0, cut), input.substr(cut)}) {
        parser.append(part);
        for (auto e = parser.next(); e.kind != Kind::none; e = parser.next()) {
            if (e.kind == Kind::text && !flowgate::realtime::valid_utf8(e.payload)) __builtin_trap();
            if (e.payload.size() > 4096) __builtin_trap();
        }
    }
    return 0;
}
