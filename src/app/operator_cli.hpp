#pragma once

#include <cstdint>
#include <string>

#include "flowgate/config/config.hpp"

namespace flowgate::app {

// The operator's commands on the device registry; each returns the process exit code and
// prints to stdout (results) and stderr (problems). None prints a read key.

/// `flowgate devices import FILE.csv|FILE.json`: all of the file or nothing, every problem
/// with its line (CSV) or path (JSON).
int devices_import(const config::Config& config, const std::string& file);

/// `flowgate devices list`: every node with its channel, status and last contact.
int devices_list(const config::Config& config);

/// `flowgate channel check DEVICE`: reads the device's channel once and compares each field
/// with its mapping — what would be stored, and what would be refused and why. Exit code 0
/// when nothing would be refused, 1 otherwise.
int channel_check(const config::Config& config, std::int64_t device_id);

} // namespace flowgate::app
