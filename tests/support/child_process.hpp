#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace flowgate::test {

/// A program started by a test, its stdout and stderr captured in a file. Killed (SIGKILL)
/// on destruction if still running, so a failing test leaves nothing behind.
class ChildProcess {
public:
    /// `env` is added to (and overrides) this process's environment for the child.
    ChildProcess(const std::filesystem::path& program, const std::vector<std::string>& args,
                 const std::filesystem::path& output_file, const std::map<std::string, std::string>& env = {});
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    /// Sends `signal` and waits up to `timeout` for the exit; returns the exit status as
    /// `$?` would show it (128+signal when killed), or nullopt if it did not exit in time.
    std::optional<int> stop(int signal, std::chrono::milliseconds timeout);
    /// Waits for the program to exit on its own.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    /// Everything it has printed so far.
    std::string output() const;

private:
    pid_t pid_ = -1;
    std::filesystem::path output_file_;
    std::optional<int> status_;
};

/// Polls until `path` exists and holds a port number, or throws after `timeout`.
unsigned short wait_for_port_file(const std::filesystem::path& path, std::chrono::milliseconds timeout);

/// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

} // namespace flowgate::test
