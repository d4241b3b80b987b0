#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace flowgate::bench {

/// What /proc says about the server under test.
class ServerProbe {
public:
    explicit ServerProbe(pid_t pid) : pid_{pid} {}

    /// utime + stime of all the process's threads, in clock ticks (/proc/PID/stat).
    std::optional<std::uint64_t> cpu_ticks() const;
    /// VmRSS in KiB (/proc/PID/status).
    std::optional<std::uint64_t> rss_kib() const;
    static long ticks_per_second();

private:
    pid_t pid_;
};

} // namespace flowgate::bench
