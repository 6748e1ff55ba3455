// vfguard-agent: the per-host dataplane agent (see ARCHITECTURE.md).
//
// The composition root: daemon/ is the one directory that includes both
// agent/ and api/ (ARCHITECTURE.md, dependencies point down).
//
// Exit status: 0 after SIGTERM/SIGINT, 1 when it cannot start (bad flags,
// damaged checkpoint, invalid policy file, no netlink), 2 for usage errors.
// Stopping leaves the kernel's rules in place, so traffic keeps flowing and a
// restart with the same desired state writes nothing.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/agent.h"
#include "agent/config.h"
#include "agent/desired_state.h"
#include "agent/heap_release.h"
#include "agent/libbpf_log.h"
#include "agent/netlink_ct_backend.h"
#include "agent/netlink_tc_backend.h"
#include "api/operator_surface.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/signal_set.hpp"
#include "boost/asio/steady_timer.hpp"
#include "common/log.h"
#include "common/metrics.h"
#include "daemon/process_memory.h"
#include "daemon/sd_notify.h"

namespace vfguard::daemon {
namespace {

using agent::Agent;
using agent::AgentConfig;
using agent::DesiredState;
using agent::NetlinkCtBackend;
using agent::NetlinkTcBackend;

int Fail(common::Logger& log, std::string_view event, const absl::Status& status) {
  log.Error(event, {{"status", status}});
  std::cerr << "vfguard-agent: " << status.message() << "\n";
  return 1;
}

// One agent per state directory: the checkpoint has a single writer.
absl::StatusOr<int> LockStateDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return absl::InternalError(
        absl::StrCat("cannot create state directory ", dir, ": ", std::strerror(errno)));
  }
  const std::string path = dir + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("another vfguard-agent uses state directory ", dir));
  }
  return fd;
}

void PingWatchdog(boost::asio::steady_timer& timer, SdNotifier& notifier, absl::Duration every) {
  timer.expires_after(absl::ToChronoNanoseconds(every));
  timer.async_wait([&timer, &notifier, every](const boost::system::error_code& ec) {
    if (ec) return;
    // Runs on the reactor: a stuck reactor stops pinging and systemd
    // restarts the agent.
    (void)notifier.Watchdog();
    PingWatchdog(timer, notifier, every);
  });
}

int Run(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << "usage: vfguard-agent [flags]\n\n"
                   "Keeps the eswitch's tc pipeline equal to the desired state (policy file\n"
                   "and API), repairs drift, and serves the API and metrics.\n\nflags:\n"
                << agent::AgentConfigUsage();
      return 0;
    }
    if (a == "--version") {
      std::cout << "vfguard-agent " << agent::kAgentVersion << "\n";
      return 0;
    }
  }
  common::Logger log(std::cerr);
  absl::StatusOr<AgentConfig> config = agent::LoadAgentConfig(args);
  if (!config.ok()) {
    std::cerr << "vfguard-agent: " << config.status().message() << "\n(see vfguard-agent --help)\n";
    return 2;
  }
  log.set_level(config->log_level);
  // Before any thread (the worker, the compiler's, the write lanes) exists.
  if (absl::Status s = KeepAnonymousMemoryInSmallPages(); !s.ok()) {
    log.Warn("huge_pages_left_on", {{"status", s}});
  }
  if (absl::Status s = agent::ConfigureHeapForPasses(); !s.ok()) {
    log.Warn("malloc_left_as_it_was", {{"status", s}});
  }
  agent::RouteLibbpfOutputAsLogfmt();  // libbpf's own messages as logfmt lines too

  absl::StatusOr<int> lock = LockStateDir(config->state_dir);
  if (!lock.ok()) return Fail(log, "start_failed", lock.status());

  // A damaged checkpoint or an invalid policy file stops us here, before
  // anything has touched the kernel.
  absl::StatusOr<std::unique_ptr<DesiredState>> desired = DesiredState::Open(
      {config->CheckpointPath(), config->policy_file, config->ct_zone_min, config->ct_zone_max});
  if (!desired.ok()) return Fail(log, "start_failed", desired.status());

  absl::StatusOr<std::unique_ptr<NetlinkTcBackend>> tc = NetlinkTcBackend::Open();
  if (!tc.ok()) return Fail(log, "start_failed", tc.status());
  std::unique_ptr<NetlinkCtBackend> ct;
  if (absl::StatusOr<std::unique_ptr<NetlinkCtBackend>> c = NetlinkCtBackend::Open(); c.ok()) {
    ct = std::move(*c);
  } else {
    log.Warn("conntrack_unavailable", {{"status", c.status()}});
  }

  boost::asio::io_context io;
  common::metrics::Registry registry;
  Agent agent(io, *config, log, std::move(*desired), **tc, ct.get(), registry);

  absl::StatusOr<SdNotifier> notifier = SdNotifier::FromEnvironment();
  if (!notifier.ok()) {
    log.Warn("sd_notify_unavailable", {{"status", notifier.status()}});
    notifier = SdNotifier();
  }
  agent.OnReady([&] {
    log.Info("ready", {{"block", config->block_index}});
    (void)notifier->Ready("first reconcile done");
  });

  // Signals are caught from here on, before the first pass: a SIGTERM stops
  // the reactor at once; the agent's destructor then lets a pass in progress
  // on the worker finish its writes (it is never cut short mid-write) and
  // drops the passes not begun.
  boost::asio::signal_set stop(io, SIGTERM, SIGINT);
  stop.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log.Info("stopping", {{"signal", sig}});
    (void)notifier->Stopping();
    io.stop();
  });
  boost::asio::signal_set hup(io, SIGHUP);
  std::function<void()> arm_hup = [&] {
    hup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      (void)notifier->Reloading();
      agent.ReloadPolicyFile("SIGHUP");
      (void)notifier->Ready("reloaded");
      arm_hup();
    });
  };
  arm_hup();

  const api::OperatorSurfaceOptions listeners{config->api_socket, config->api_socket_mode,
                                              config->api_write_group, config->api_read_group,
                                              config->metrics_listen};
  absl::StatusOr<std::unique_ptr<api::OperatorSurface>> surface = api::OperatorSurface::Start(
      io, listeners, agent, registry, log, [&agent] { agent.CollectMetrics(); });
  if (!surface.ok()) return Fail(log, "start_failed", surface.status());

  if (absl::Status s = agent.Start(); !s.ok()) return Fail(log, "start_failed", s);

  boost::asio::steady_timer watchdog(io);
  if (std::optional<absl::Duration> every = notifier->WatchdogPingInterval()) {
    PingWatchdog(watchdog, *notifier, *every);
  }

  io.run();
  return 0;
}

}  // namespace
}  // namespace vfguard::daemon

int main(int argc, char** argv) {
  // Boost and protobuf report some failures by exception; none may cross
  // out of main unreported.
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    return vfguard::daemon::Run(args);
  } catch (const std::exception& e) {
    std::cerr << "vfguard-agent: fatal: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "vfguard-agent: fatal: unknown exception\n";
  }
  return 1;
}
