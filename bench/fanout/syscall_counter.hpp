#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace flowgate::bench {

/// Counts the syscalls a process makes with `perf stat -e raw_syscalls:sys_enter -p PID`
/// (a tracepoint; it works where hardware counters are not supported, as in this VM). Only
/// threads that exist at start() are followed.
class SyscallCounter {
public:
    explicit SyscallCounter(pid_t pid) : pid_{pid} {}
    ~SyscallCounter();
    SyscallCounter(const SyscallCounter&) = delete;
    SyscallCounter& operator=(const SyscallCounter&) = delete;

    /// Starts perf; false (with error()) when it cannot be started.
    bool start();
    /// Stops perf (SIGINT) and returns the count, or nullopt (with error()).
    std::optional<std::uint64_t> stop();
    const std::string& error() const { return error_; }

private:
    pid_t pid_;
    pid_t perf_ = -1;
    std::string output_;
    std::string error_;
};

} // namespace flowgate::bench
