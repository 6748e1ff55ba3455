#include "daemon/sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <utility>

#include "absl/strings/str_cat.h"

namespace vfguard::daemon {
namespace {

absl::StatusOr<uint64_t> ParsePositive(std::string_view name, std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(name),
                                                   ": expected a positive decimal number, got \"",
                                                   std::string(text), "\""));
  }
  return value;
}

std::optional<std::string_view> Env(const char* name) {
  const char* value = getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string_view(value);
}

}  // namespace

absl::StatusOr<std::optional<absl::Duration>> ParseWatchdog(
    std::optional<std::string_view> watchdog_usec, std::optional<std::string_view> watchdog_pid,
    pid_t self) {
  if (!watchdog_usec.has_value() || watchdog_usec->empty()) return std::nullopt;
  absl::StatusOr<uint64_t> usec = ParsePositive("WATCHDOG_USEC", *watchdog_usec);
  if (!usec.ok()) return usec.status();
  // systemd sets WATCHDOG_PID so that a forked child does not take the
  // parent's watchdog for its own.
  if (watchdog_pid.has_value() && !watchdog_pid->empty()) {
    absl::StatusOr<uint64_t> pid = ParsePositive("WATCHDOG_PID", *watchdog_pid);
    if (!pid.ok()) return pid.status();
    if (*pid != static_cast<uint64_t>(self)) return std::nullopt;
  }
  return absl::Microseconds(static_cast<int64_t>(*usec));
}

SdNotifier::SdNotifier(std::string socket_path, std::optional<absl::Duration> watchdog_timeout)
    : socket_path_(std::move(socket_path)), watchdog_timeout_(watchdog_timeout) {}

absl::StatusOr<SdNotifier> SdNotifier::FromEnvironment() {
  absl::StatusOr<std::optional<absl::Duration>> watchdog =
      ParseWatchdog(Env("WATCHDOG_USEC"), Env("WATCHDOG_PID"), getpid());
  if (!watchdog.ok()) return watchdog.status();
  return SdNotifier(std::string(Env("NOTIFY_SOCKET").value_or("")), *watchdog);
}

SdNotifier::SdNotifier(SdNotifier&& other) noexcept
    : socket_path_(std::move(other.socket_path_)),
      watchdog_timeout_(other.watchdog_timeout_),
      fd_(std::exchange(other.fd_, -1)) {
  other.socket_path_.clear();
}

SdNotifier& SdNotifier::operator=(SdNotifier&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    socket_path_ = std::move(other.socket_path_);
    other.socket_path_.clear();
    watchdog_timeout_ = other.watchdog_timeout_;
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

SdNotifier::~SdNotifier() {
  if (fd_ >= 0) close(fd_);
}

std::optional<absl::Duration> SdNotifier::WatchdogPingInterval() const {
  if (!watchdog_timeout_.has_value()) return std::nullopt;
  return *watchdog_timeout_ / 3;
}

absl::Status SdNotifier::Ready(std::string_view status) {
  if (status.empty()) return Notify("READY=1");
  return Notify(absl::StrCat("READY=1\nSTATUS=", std::string(status)));
}

absl::Status SdNotifier::SetStatus(std::string_view status) {
  return Notify(absl::StrCat("STATUS=", std::string(status)));
}

absl::Status SdNotifier::Watchdog() { return Notify("WATCHDOG=1"); }

absl::Status SdNotifier::Stopping() { return Notify("STOPPING=1"); }

absl::Status SdNotifier::Reloading() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  uint64_t usec = static_cast<uint64_t>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
  return Notify(absl::StrCat("RELOADING=1\nMONOTONIC_USEC=", usec));
}

absl::Status SdNotifier::Notify(std::string_view state) {
  if (!enabled()) return absl::OkStatus();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path_[0] != '/' && socket_path_[0] != '@') {
    // systemd also knows "vsock:" addresses (for VMs); the agent runs on the
    // host, so they are refused rather than silently ignored.
    return absl::InvalidArgumentError(
        absl::StrCat("NOTIFY_SOCKET: expected an absolute path or '@abstract' name, got \"",
                     socket_path_, "\""));
  }
  if (socket_path_.size() > sizeof(addr.sun_path) - (socket_path_[0] == '/' ? 1 : 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("NOTIFY_SOCKET: address longer than ", sizeof(addr.sun_path), " bytes"));
  }
  memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
  socklen_t len = offsetof(sockaddr_un, sun_path) + socket_path_.size();
  if (socket_path_[0] == '@') {
    addr.sun_path[0] = '\0';  // abstract namespace: no terminator counted
  } else {
    len += 1;  // include the NUL terminator of a filesystem path
  }
  if (fd_ < 0) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      return absl::ErrnoToStatus(errno, "sd_notify: socket(AF_UNIX, SOCK_DGRAM)");
    }
  }
  ssize_t n = sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL,
                     reinterpret_cast<const sockaddr*>(&addr), len);
  if (n < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("sd_notify: sendto ", socket_path_));
  }
  if (static_cast<size_t>(n) != state.size()) {
    return absl::InternalError(absl::StrCat("sd_notify: short send to ", socket_path_));
  }
  return absl::OkStatus();
}

}  // namespace vfguard::daemon
