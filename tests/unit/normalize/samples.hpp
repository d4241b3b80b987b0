#pragma once

// Names of the recorded ThingSpeak responses the normalizer tests read.

#include <chrono>
#include <string>

#include "flowgate/core/time_format.hpp"
#include "thingspeak_samples.hpp"

namespace flowgate::normalize::test {

inline std::string sample(const std::string& name) { return flowgate::test::read_sample(name); }

inline constexpr const char* s01 = "01-feeds-json_iobridge-docs_ch9_offset-0500.json";
inline constexpr const char* s02 = "02-feeds-last-json_iobridge-docs_ch9.json";
inline constexpr const char* s03 = "03-fields-1-json_iobridge-docs_ch9.json";
inline constexpr const char* s04 = "04-fields-1-last-json_iobridge-docs_ch9.json";
inline constexpr const char* s06 = "06-error-401-json_iobridge-docs.json";
inline constexpr const char* s07 = "07-feeds-json_vcr-cassette_ch86945_nulls.json";
inline constexpr const char* s08 = "08-error-feeds-json_private-no-key_http400_body-minus1.txt";
inline constexpr const char* s09 = "09-error-feeds-json_wrong-key_http400_body-minus1.txt";
inline constexpr const char* s11 = "11-feeds-json_mathworks-docs-copy_ch9_utc-Z.json";
inline constexpr const char* s12 = "12-feeds-json-results1_optra_ch2725686_8fields-nulls_pretty.json";
inline constexpr const char* s13 = "13-feeds-last-json_optra_ch2725686_nulls.json";
inline constexpr const char* s14 = "14-field-1-last-json_optra_ch2725686_string-value.json";
inline constexpr const char* s17 = "17-field-1-json_php-snippet_ch222498_offset+0530_null.json";
inline constexpr const char* s18 = "18-feed-json_php-snippet_ch222498_offset+0530_3entries.json";
inline constexpr const char* s20 = "20-fields-1-json_flutter-model-comment_ch2718757_trailing-zeros_REASSEMBLED.json";
inline constexpr const char* s23 = "23-feeds-json-results2_ictjcz-blog_ch2079877_default-field-label.json";

inline Seconds utc(int y, unsigned mo, unsigned d, int h, int mi, int s) {
    using namespace std::chrono;
    return sys_days{year{y} / mo / d} + hours{h} + minutes{mi} + seconds{s};
}

} // namespace flowgate::normalize::test
