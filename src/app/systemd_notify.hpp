#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace flowgate::app {

/// Tells systemd how the service is doing (sd_notify(3)'s protocol: one datagram of
/// `KEY=value` lines to the unix socket named by $NOTIFY_SOCKET, '@' for the abstract
/// namespace). Without NOTIFY_SOCKET (not started by systemd with Type=notify) every call
/// does nothing. Written here rather than linking libsystemd: the protocol is one sendto().
class SystemdNotifier {
public:
    /// Reads NOTIFY_SOCKET, and WATCHDOG_USEC when WATCHDOG_PID is unset or this process.
    SystemdNotifier();
    ~SystemdNotifier();
    SystemdNotifier(const SystemdNotifier&) = delete;
    SystemdNotifier& operator=(const SystemdNotifier&) = delete;

    bool enabled() const { return fd_ >= 0; }
    /// Sends `state` ("READY=1\nSTATUS=…"); false when it could not be sent.
    bool notify(std::string_view state) const;
    /// How often to send WATCHDOG=1 (half of WatchdogSec=), when systemd asks for it.
    std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

private:
    int fd_ = -1;
    std::string address_;  // sockaddr_un's sun_path, a leading NUL for the abstract namespace
    std::optional<std::chrono::microseconds> watchdog_;
};

} // namespace flowgate::app
