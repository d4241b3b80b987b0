#include <exception>
#include <iostream>
#include <span>
#include <string>
#include <string_view>

#include "flowgate/config/config.hpp"

// The build may pass the project version; this keeps a stand-alone compile working.
#ifndef FLOWGATE_VERSION
#define FLOWGATE_VERSION "0.1.0"
#endif

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

constexpr std::string_view usage = R"(usage: flowgate <command> [arguments]

commands:
  check-config FILE   validate FILE (and FLOWGATE_* variables) and print the effective values
  help                show this text
  --version           show the version
)";

int usage_error(std::string_view problem) {
    std::cerr << "flowgate: " << problem << "\n\n" << usage;
    return exit_usage;
}

int check_config(std::string_view file) {
    try {
        const auto config = flowgate::config::load_config_file(file, flowgate::config::process_environment());
        std::cout << file << ": ok\n\n" << flowgate::config::format_config(config);
        return exit_ok;
    } catch (const flowgate::config::ConfigError& e) {
        std::cerr << e.what() << '\n';
        return exit_usage;
    }
}

int run(std::span<char*> args) {
    if (args.empty()) return usage_error("missing command");
    const std::string_view command = args[0];
    const auto operands = args.subspan(1);
    if (command == "help" || command == "--help" || command == "-h") {
        std::cout << usage;
        return exit_ok;
    }
    if (command == "--version") {
        std::cout << "flowgate " FLOWGATE_VERSION "\n";
        return exit_ok;
    }
    if (command == "check-config") {
        if (operands.size() != 1) return usage_error("check-config takes exactly one FILE");
        return check_config(operands[0]);
    }
    return usage_error("unknown command '" + std::string{command} + "'");
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(std::span<char*>{argv, static_cast<std::size_t>(argc)}.subspan(argc > 0 ? 1 : 0));
    } catch (const std::exception& e) {
        std::cerr << "flowgate: " << e.what() << '\n';
        return exit_failure;
    }
}
