#pragma once

// The recorded ThingSpeak responses in tests/data/thingspeak-samples (index in its INDEX.md),
// found through the compile definition FLOWGATE_SAMPLES_DIR.

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace flowgate::test {

inline std::string read_sample(const std::string& name) {
    const std::string path = std::string{FLOWGATE_SAMPLES_DIR} + "/" + name;
    std::ifstream in{path};
    if (!in) throw std::runtime_error{"missing sample " + path};
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

} // namespace flowgate::test
