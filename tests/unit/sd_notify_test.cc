// SdNotifier against a real datagram socket: the exact bytes systemd would
// receive, filesystem and abstract addresses, and WATCHDOG_* parsing.
#include "daemon/sd_notify.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vfguard::daemon {
namespace {

using ::testing::HasSubstr;

// A bound AF_UNIX datagram socket standing in for systemd's notify socket.
class Receiver {
 public:
  // `name` starting with '@' binds in the abstract namespace.
  explicit Receiver(const std::string& name) : name_(name) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, name.data(), name.size());
    socklen_t len = offsetof(sockaddr_un, sun_path) + name.size();
    if (name[0] == '@') {
      addr.sun_path[0] = '\0';
    } else {
      unlink(name.c_str());
      len += 1;
    }
    bound_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0;
    timeval tv{.tv_sec = 2, .tv_usec = 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~Receiver() {
    if (fd_ >= 0) close(fd_);
    if (name_[0] == '/') unlink(name_.c_str());
  }
  bool bound() const { return bound_; }
  // One datagram, or "<timeout>" when none arrives within 2 s.
  std::string Next() {
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) return "<timeout>";
    return std::string(buf, n);
  }
  // True when no datagram is queued.
  bool Empty() {
    char buf[16];
    return recv(fd_, buf, sizeof(buf), MSG_DONTWAIT) < 0;
  }

 private:
  std::string name_;
  int fd_ = -1;
  bool bound_ = false;
};

std::string TempSocketPath() {
  const char* dir = getenv("TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/sd_notify_test.", getpid(), ".sock");
}

TEST(SdNotifierTest, SendsExactDatagramsToFilesystemSocket) {
  Receiver receiver(TempSocketPath());
  ASSERT_TRUE(receiver.bound());
  SdNotifier notifier(TempSocketPath());
  ASSERT_TRUE(notifier.enabled());
  ASSERT_TRUE(notifier.Ready().ok());
  EXPECT_EQ(receiver.Next(), "READY=1");
  ASSERT_TRUE(notifier.Watchdog().ok());
  EXPECT_EQ(receiver.Next(), "WATCHDOG=1");
  ASSERT_TRUE(notifier.SetStatus("reconciling 3 ports").ok());
  EXPECT_EQ(receiver.Next(), "STATUS=reconciling 3 ports");
  ASSERT_TRUE(notifier.Ready("serving").ok());
  EXPECT_EQ(receiver.Next(), "READY=1\nSTATUS=serving");
  ASSERT_TRUE(notifier.Stopping().ok());
  EXPECT_EQ(receiver.Next(), "STOPPING=1");
  ASSERT_TRUE(notifier.Reloading().ok());
  std::string reloading = receiver.Next();
  EXPECT_THAT(reloading, ::testing::MatchesRegex("RELOADING=1\nMONOTONIC_USEC=[0-9]+"));
  EXPECT_TRUE(receiver.Empty());
}

TEST(SdNotifierTest, AbstractNamespaceSocket) {
  std::string name = absl::StrCat("@vfguard-sd-notify-test-", getpid());
  Receiver receiver(name);
  ASSERT_TRUE(receiver.bound());
  SdNotifier notifier(name);
  ASSERT_TRUE(notifier.Ready().ok());
  EXPECT_EQ(receiver.Next(), "READY=1");
  ASSERT_TRUE(notifier.Watchdog().ok());
  EXPECT_EQ(receiver.Next(), "WATCHDOG=1");
}

TEST(SdNotifierTest, FromEnvironmentUsesNotifySocketAndWatchdog) {
  Receiver receiver(TempSocketPath());
  ASSERT_TRUE(receiver.bound());
  setenv("NOTIFY_SOCKET", TempSocketPath().c_str(), 1);
  setenv("WATCHDOG_USEC", "30000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  absl::StatusOr<SdNotifier> notifier = SdNotifier::FromEnvironment();
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  ASSERT_TRUE(notifier.ok()) << notifier.status();
  EXPECT_EQ(notifier->socket_path(), TempSocketPath());
  EXPECT_EQ(notifier->watchdog_timeout(), absl::Seconds(30));
  EXPECT_EQ(notifier->WatchdogPingInterval(), absl::Seconds(10));
  ASSERT_TRUE(notifier->Ready().ok());
  EXPECT_EQ(receiver.Next(), "READY=1");
  // Moving keeps the destination and disables the source.
  SdNotifier moved = std::move(*notifier);
  EXPECT_FALSE(notifier->enabled());
  ASSERT_TRUE(moved.Watchdog().ok());
  EXPECT_EQ(receiver.Next(), "WATCHDOG=1");
}

TEST(SdNotifierTest, AbsentNotifySocketIsANoOp) {
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  absl::StatusOr<SdNotifier> notifier = SdNotifier::FromEnvironment();
  ASSERT_TRUE(notifier.ok());
  EXPECT_FALSE(notifier->enabled());
  EXPECT_EQ(notifier->watchdog_timeout(), std::nullopt);
  EXPECT_EQ(notifier->WatchdogPingInterval(), std::nullopt);
  EXPECT_TRUE(notifier->Ready().ok());
  EXPECT_TRUE(notifier->Watchdog().ok());
  EXPECT_TRUE(notifier->Stopping().ok());
  EXPECT_TRUE(SdNotifier().Notify("READY=1").ok());
}

TEST(SdNotifierTest, SendErrorsAreReported) {
  SdNotifier missing("/nonexistent-dir/notify.sock");
  absl::Status status = missing.Ready();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("/nonexistent-dir/notify.sock"));
  SdNotifier relative("relative/notify.sock");
  status = relative.Ready();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("NOTIFY_SOCKET"));
  SdNotifier too_long("/" + std::string(200, 'x'));
  EXPECT_EQ(too_long.Ready().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseWatchdogTest, Values) {
  EXPECT_EQ(*ParseWatchdog("30000000", std::nullopt, 42), absl::Seconds(30));
  EXPECT_EQ(*ParseWatchdog("1", std::nullopt, 42), absl::Microseconds(1));
  EXPECT_EQ(*ParseWatchdog("5000000", "42", 42), absl::Seconds(5));
  // Another process's watchdog (we are a forked child): off for us.
  EXPECT_EQ(*ParseWatchdog("5000000", "41", 42), std::nullopt);
  EXPECT_EQ(*ParseWatchdog(std::nullopt, std::nullopt, 42), std::nullopt);
  EXPECT_EQ(*ParseWatchdog("", "42", 42), std::nullopt);
  EXPECT_EQ(*ParseWatchdog("18446744073709551", std::nullopt, 42),
            absl::Microseconds(18446744073709551));
}

TEST(ParseWatchdogTest, MalformedValuesNameTheVariable) {
  for (const char* bad : {"0", "-5", "30s", " 30", "1e6", "99999999999999999999999"}) {
    auto result = ParseWatchdog(bad, std::nullopt, 42);
    ASSERT_FALSE(result.ok()) << bad;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(result.status().message(), HasSubstr("WATCHDOG_USEC")) << bad;
  }
  auto result = ParseWatchdog("100", "pid", 42);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("WATCHDOG_PID"));
}

}  // namespace
}  // namespace vfguard::daemon
