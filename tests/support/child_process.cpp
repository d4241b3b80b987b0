#include "child_process.hpp"

#include <csignal>
#include <string_view>
#include <cstring>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace flowgate::test {

ChildProcess::ChildProcess(const std::filesystem::path& program, const std::vector<std::string>& args,
                           const std::filesystem::path& output_file, const std::map<std::string, std::string>& env)
    : output_file_{output_file} {
    std::vector<std::string> env_storage;
    for (char** e = environ; *e; ++e) {
        const std::string_view entry{*e};
        if (!env.contains(std::string{entry.substr(0, entry.find('='))})) env_storage.emplace_back(entry);
    }
    for (const auto& [name, value] : env) env_storage.push_back(name + "=" + value);
    std::vector<char*> envp;
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);

    std::vector<std::string> argv_storage{program.string()};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    const int rc = posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error{"cannot start " + program.string() + ": " + std::strerror(rc)};
}

ChildProcess::~ChildProcess() {
    if (!status_) stop(SIGKILL, std::chrono::seconds{5});
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
    if (status_) return status_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
        int raw = 0;
        if (waitpid(pid_, &raw, WNOHANG) == pid_) {
            status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
            return status_;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    } while (std::chrono::steady_clock::now() < deadline);
    return std::nullopt;
}

std::optional<int> ChildProcess::stop(int signal, std::chrono::milliseconds timeout) {
    if (status_) return status_;
    ::kill(pid_, signal);
    return wait(timeout);
}

std::string ChildProcess::output() const {
    std::ifstream in{output_file_};
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

unsigned short wait_for_port_file(const std::filesystem::path& path, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        std::ifstream in{path};
        unsigned port = 0;
        if (in >> port && port > 0 && port < 65536) return static_cast<unsigned short>(port);
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    throw std::runtime_error{"no port written to " + path.string()};
}

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "flowgate-test-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error{"mkdtemp failed"};
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

} // namespace flowgate::test
