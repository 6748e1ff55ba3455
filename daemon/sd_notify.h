// A client of systemd's notification socket (sd_notify(3) protocol) without
// libsystemd: one datagram of newline-separated KEY=VALUE assignments per call
// to the AF_UNIX socket named by $NOTIFY_SOCKET ('/path' or '@abstract').
//
// The daemon owns one SdNotifier (no globals). When $NOTIFY_SOCKET is absent
// (not started by systemd, or Type= is not notify) every call is a successful
// no-op, so callers never branch on how they were started.
//
// Use from the daemon:
//   SdNotifier notifier = SdNotifier::FromEnvironment();
//   ... after the first full reconcile: notifier.Ready("reconciled 40 ports");
//   ... if notifier.watchdog_timeout(): a reactor timer every
//       notifier.WatchdogPingInterval() calls notifier.Watchdog(), so a stuck
//       reactor stops pinging and systemd restarts the service;
//   ... on SIGTERM: notifier.Stopping(); on SIGHUP: Reloading() then Ready().
#ifndef VFGUARD_DAEMON_SD_NOTIFY_H_
#define VFGUARD_DAEMON_SD_NOTIFY_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace vfguard::daemon {

// Parses $WATCHDOG_USEC / $WATCHDOG_PID as systemd sets them. Returns the
// watchdog timeout, or nullopt when the watchdog is off for this process
// (usec unset/empty, or WATCHDOG_PID names another process). InvalidArgument
// naming the variable when a value is not a positive decimal number.
absl::StatusOr<std::optional<absl::Duration>> ParseWatchdog(
    std::optional<std::string_view> watchdog_usec, std::optional<std::string_view> watchdog_pid,
    pid_t self);

class SdNotifier {
 public:
  // Disabled: every call is an OK no-op.
  SdNotifier() = default;
  // `socket_path` as in $NOTIFY_SOCKET ("/run/systemd/notify", "@name");
  // empty disables. The socket is opened lazily on the first send.
  explicit SdNotifier(std::string socket_path,
                      std::optional<absl::Duration> watchdog_timeout = std::nullopt);
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. A malformed
  // watchdog variable is returned as an error (the unit is misconfigured;
  // running without pings would get the service killed later).
  static absl::StatusOr<SdNotifier> FromEnvironment();

  SdNotifier(SdNotifier&& other) noexcept;
  SdNotifier& operator=(SdNotifier&& other) noexcept;
  SdNotifier(const SdNotifier&) = delete;
  SdNotifier& operator=(const SdNotifier&) = delete;
  ~SdNotifier();

  bool enabled() const { return !socket_path_.empty(); }
  const std::string& socket_path() const { return socket_path_; }
  // The unit's WatchdogSec= as passed to this process; nullopt when off.
  std::optional<absl::Duration> watchdog_timeout() const { return watchdog_timeout_; }
  // A third of the timeout (sd_watchdog_enabled(3) asks for less than half):
  // a ping that lands late by timer slack or a busy moment still leaves a
  // third of the timeout in hand; nullopt when off.
  std::optional<absl::Duration> WatchdogPingInterval() const;

  // "READY=1" (plus "\nSTATUS=<status>" when given).
  absl::Status Ready(std::string_view status = {});
  absl::Status SetStatus(std::string_view status);  // "STATUS=<status>"
  absl::Status Watchdog();                          // "WATCHDOG=1"
  absl::Status Stopping();                          // "STOPPING=1"
  // "RELOADING=1" plus MONOTONIC_USEC (required by Type=notify-reload).
  absl::Status Reloading();
  // Sends `state` verbatim as one datagram. Errors: InvalidArgument for a
  // malformed socket address, the errno of socket()/sendto() otherwise.
  absl::Status Notify(std::string_view state);

 private:
  std::string socket_path_;
  std::optional<absl::Duration> watchdog_timeout_;
  int fd_ = -1;
};

}  // namespace vfguard::daemon

#endif  // VFGUARD_DAEMON_SD_NOTIFY_H_
