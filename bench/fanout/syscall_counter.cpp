#include "syscall_counter.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

namespace flowgate::bench {

SyscallCounter::~SyscallCounter() {
    if (perf_ > 0) stop();
}

bool SyscallCounter::start() {
    char path[] = "/tmp/flowgate-bench-perf-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) {
        error_ = std::string{"mkstemp: "} + std::strerror(errno);
        return false;
    }
    ::close(fd);
    output_ = path;
    const auto pid = std::to_string(pid_);
    perf_ = ::fork();
    if (perf_ < 0) {
        error_ = std::string{"fork: "} + std::strerror(errno);
        return false;
    }
    if (perf_ == 0) {
        const int null = ::open("/dev/null", O_WRONLY);
        if (null >= 0) ::dup2(null, STDERR_FILENO);
        ::execlp("perf", "perf", "stat", "-x", ",", "-o", output_.c_str(), "-e", "raw_syscalls:sys_enter", "-p",
                 pid.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    return true;
}

std::optional<std::uint64_t> SyscallCounter::stop() {
    if (perf_ <= 0) return std::nullopt;
    ::kill(perf_, SIGINT);
    int status = 0;
    ::waitpid(perf_, &status, 0);
    perf_ = -1;
    std::ifstream in{output_};
    const std::string text{std::istreambuf_iterator<char>{in}, {}};
    ::unlink(output_.c_str());
    // CSV: "<count>,,raw_syscalls:sys_enter,…", or "<not supported>,…".
    const auto at = text.find(",raw_syscalls:sys_enter");
    if (at == std::string::npos) {
        error_ = WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "perf not found" : "perf printed no count";
        return std::nullopt;
    }
    const auto line = text.rfind('\n', at);
    const std::string_view count{text.data() + (line == std::string::npos ? 0 : line + 1),
                                 at - (line == std::string::npos ? 0 : line + 1)};
    std::uint64_t n = 0;
    if (std::from_chars(count.data(), count.data() + count.size(), n).ec != std::errc{}) {
        error_ = "perf: " + std::string{count};
        return std::nullopt;
    }
    return n;
}

} // namespace flowgate::bench
