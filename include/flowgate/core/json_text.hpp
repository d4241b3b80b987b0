#pragma once

#include <string>
#include <string_view>

namespace flowgate {

/// Appends `s` as a quoted JSON string, escaping quotes, backslashes and control characters.
/// Bytes ≥ 0x80 are copied as they are (the input is expected to be UTF-8).
void append_json_string(std::string& out, std::string_view s);

} // namespace flowgate
