#pragma once

// The recorded ThingSpeak responses in ../shared/thingspeak-samples: FLOWGATE_SHARED_DIR
// (a compile definition), or the environment variable of the same name when it is set.

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace flowgate::test {

inline std::string read_sample(const std::string& name) {
    const char* env = std::getenv("FLOWGATE_SHARED_DIR");
    const std::string dir = std::string{env ? env : FLOWGATE_SHARED_DIR} + "/thingspeak-samples/";
    std::ifstream in{dir + name};
    if (!in) throw std::runtime_error{"missing sample " + dir + name + " (set FLOWGATE_SHARED_DIR)"};
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

} // namespace flowgate::test
