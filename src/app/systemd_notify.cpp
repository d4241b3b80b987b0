#include "systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

namespace flowgate::app {
namespace {

std::optional<long long> number_of(const char* text) {
    if (text == nullptr) return std::nullopt;
    long long v = 0;
    const auto* end = text + std::strlen(text);
    const auto [ptr, ec] = std::from_chars(text, end, v);
    if (ec != std::errc{} || ptr != end) return std::nullopt;
    return v;
}

} // namespace

SystemdNotifier::SystemdNotifier() {
    const char* socket_path = std::getenv("NOTIFY_SOCKET");
    if (socket_path == nullptr || (socket_path[0] != '/' && socket_path[0] != '@')) return;
    address_ = socket_path;
    if (address_.size() >= sizeof(sockaddr_un::sun_path)) return;
    if (address_[0] == '@') address_[0] = '\0';
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const auto pid = number_of(std::getenv("WATCHDOG_PID"));
    const auto usec = number_of(std::getenv("WATCHDOG_USEC"));
    if (usec && *usec > 0 && (!pid || *pid == ::getpid())) watchdog_ = std::chrono::microseconds{*usec / 2};
}

SystemdNotifier::~SystemdNotifier() {
    if (fd_ >= 0) ::close(fd_);
}

bool SystemdNotifier::notify(std::string_view state) const {
    if (fd_ < 0) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, address_.data(), address_.size());
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
    return ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), length) ==
           static_cast<ssize_t>(state.size());
}

} // namespace flowgate::app
