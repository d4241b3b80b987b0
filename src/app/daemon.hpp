#pragma once

#include <string>

#include "flowgate/config/config.hpp"
#include "flowgate/obs/logger.hpp"

namespace flowgate::app {

/// Runs the daemon until SIGINT or SIGTERM: loads the devices from PostgreSQL, polls them,
/// stores and publishes what they send, and serves the WebSocket streams. Writes the bound
/// HTTP port to `port_file` when it is not empty. On SIGHUP it reads `config_file` again and
/// applies the log level and the budgets, and reloads the device registry. Returns the
/// process exit code.
int run_daemon(const config::Config& config, const std::string& config_file, const std::string& port_file,
               const obs::Logger& log);

} // namespace flowgate::app
