#include "server_probe.hpp"

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace flowgate::bench {

std::optional<std::uint64_t> ServerProbe::cpu_ticks() const {
    std::ifstream in{"/proc/" + std::to_string(pid_) + "/stat"};
    const std::string line{std::istreambuf_iterator<char>{in}, {}};
    // The command name (field 2) may hold spaces: count fields after its closing ')'.
    const auto paren = line.rfind(')');
    if (paren == std::string::npos) return std::nullopt;
    std::istringstream fields{line.substr(paren + 2)};
    std::string skip;
    for (int field = 3; field < 14; ++field) fields >> skip;
    std::uint64_t utime = 0;
    std::uint64_t stime = 0;
    if (!(fields >> utime >> stime)) return std::nullopt;
    return utime + stime;
}

std::optional<std::uint64_t> ServerProbe::rss_kib() const {
    std::ifstream in{"/proc/" + std::to_string(pid_) + "/status"};
    std::string key;
    while (in >> key) {
        if (key == "VmRSS:") {
            std::uint64_t kib = 0;
            if (in >> kib) return kib;
            return std::nullopt;
        }
        in.ignore(1 << 20, '\n');
    }
    return std::nullopt;
}

long ServerProbe::ticks_per_second() { return ::sysconf(_SC_CLK_TCK); }

} // namespace flowgate::bench
