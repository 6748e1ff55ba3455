#include "bench/daemon_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "agent/policy_codec.h"
#include "bench/agent_bench_setup.h"
#include "netlink/tc_codec.h"

namespace vfguard::agent {
namespace {

const char kDir[] = "/tmp/vfguard-agent-bench";

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

// The assignments of the `Environment=` lines of the systemd unit the
// daemon ships with (one KEY=VALUE per line, quotes optional), so that the
// probe runs the daemon as the unit does (docs/systemd.md, "Memory");
// nullopt if the unit cannot be read or a line is not an assignment.
std::optional<std::vector<std::string>> UnitEnvironment(const std::string& unit) {
  std::ifstream in(unit);
  if (!in) return std::nullopt;
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("Environment=", 0) != 0) continue;
    std::string value = l.substr(std::strlen("Environment="));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (value.find('=') == std::string::npos || value.find(' ') != std::string::npos) {
      return std::nullopt;
    }
    out.push_back(value);
  }
  return out;
}

std::vector<std::string> Reconciled(const std::string& log) {
  std::vector<std::string> out;
  for (std::string& l : ReadLines(log)) {
    if (l.find("event=reconciled") != std::string::npos) out.push_back(std::move(l));
  }
  return out;
}

std::string Field(const std::string& line, const std::string& key) {
  size_t at = line.find(" " + key + "=");
  if (at == std::string::npos) return "";
  at += key.size() + 2;
  return line.substr(at, line.find(' ', at) - at);
}

// A /proc/PID/status value in kB (VmRSS, VmHWM), -1 if absent.
long ProcStatusKb(pid_t pid, const char* key) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string l; std::getline(in, l);) {
    if (l.rfind(key, 0) == 0 && l.size() > std::strlen(key)) {
      return std::strtol(l.c_str() + std::strlen(key) + 1, nullptr, 10);
    }
  }
  return -1;
}

// Resident kB of each mapping of `pid`: anonymous ones keyed by their start
// (the heap, glibc's per-thread arenas, 64 MB-aligned, and thread stacks
// all show here), file-backed ones summed per file.
std::map<std::string, long> RssByMapping(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/smaps"));
  std::map<std::string, long> out;
  std::string key;
  for (std::string l; std::getline(in, l);) {
    if (l.empty()) continue;
    if (std::isxdigit(static_cast<unsigned char>(l[0])) && l.find('-') != std::string::npos &&
        l.find(':') != std::string::npos && l.find(' ') > l.find('-')) {
      std::istringstream fields(l);
      std::string range, perms, offset, dev, inode, path;
      fields >> range >> perms >> offset >> dev >> inode >> path;
      const bool anon = inode == "0" && (path.empty() || path == "[heap]" || path == "[stack]");
      key = anon
                ? "anonymous " + range.substr(0, range.find('-')) + (path.empty() ? "" : " " + path)
                : "file " + path;
      continue;
    }
    if (l.rfind("Rss:", 0) == 0) out[key] += std::strtol(l.c_str() + 4, nullptr, 10);
  }
  return out;
}

// Prints the mappings whose resident size changed by 16 kB or more
// (adjacent anonymous mappings merge, so one may vanish into another).
void PrintRssGrowth(const std::map<std::string, long>& before,
                    const std::map<std::string, long>& after) {
  std::map<std::string, std::pair<long, long>> both;
  for (const auto& [key, kb] : before) both[key].first = kb;
  for (const auto& [key, kb] : after) both[key].second = kb;
  for (const auto& [key, kb] : both) {
    if (std::labs(kb.second - kb.first) >= 16) {
      std::printf("  %s: %ld -> %ld kB resident\n", key.c_str(), kb.first, kb.second);
    }
  }
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

// A socket on RTNLGRP_TC that reports when the dispatch filter of `netdev`
// (chain 0, prio 2, indev = netdev) is created in `block`: the moment the
// port's traffic is classified, which is what a join waits for.
class TcWatch {
 public:
  TcWatch() {
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    int size = 32 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    sockaddr_nl a{};
    a.nl_family = AF_NETLINK;
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    int group = RTNLGRP_TC;
    setsockopt(fd_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group);
  }
  ~TcWatch() { close(fd_); }
  TcWatch(const TcWatch&) = delete;
  TcWatch& operator=(const TcWatch&) = delete;

  // Drains what is queued; true if the dispatch filter was among it.
  bool Saw(const std::string& netdev, uint32_t block, int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    bool found = false;
    std::vector<uint8_t> buf(1 << 20);
    for (;;) {
      ssize_t got = recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
      if (got < 0) {
        if (errno != ENOBUFS) break;
        ++overruns_;
        continue;
      }
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, got);
           h = NLMSG_NEXT(h, got)) {
        if (h->nlmsg_type == RTM_NEWTFILTER) found |= IsDispatch(*h, netdev, block);
      }
    }
    return found;
  }
  int overruns() const { return overruns_; }

 private:
  static bool IsDispatch(const nlmsghdr& h, const std::string& netdev, uint32_t block) {
    auto f = netlink::DecodeFilterMessage(
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&h), h.nlmsg_len));
    if (!f.ok() || !f->has_value()) return false;
    const netlink::FlowerFilter& ff = **f;
    const auto* owner = std::get_if<netlink::TcBlock>(&ff.owner);
    return owner && owner->index == block && ff.chain == 0 && ff.prio == 2 &&
           ff.keys.indev == netdev;
  }

  int fd_ = -1;
  int overruns_ = 0;
};

// Writes the policy file the way an operator's tooling should: a new file
// renamed over the old, so the daemon never reads half of it.
bool WritePolicy(const std::string& path, const policy::Snapshot& s) {
  const std::string tmp = path + ".new";
  {
    std::ofstream out(tmp);
    out << PolicyToJson(PolicyFromSnapshot(s));
    if (!out) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

class DaemonProbe {
 public:
  DaemonProbe(std::string binary, int n) : binary_(std::move(binary)), n_(n) {}
  ~DaemonProbe() { Stop(); }

  std::optional<DaemonResult> Run();

 private:
  bool Start();
  void Stop();
  bool Fail(const std::string& why);
  // Waits for an event=reconciled line after the first `after` ones that
  // `accept` takes; prints a progress line every minute of waiting.
  std::optional<std::string> WaitPass(size_t after, const std::string& what, double limit_s,
                                      const std::function<bool(const std::string&)>& accept);
  // Waits until no pass has started for `quiet_s` (the agent settled: its
  // own writes' tc events cause one more pass that writes nothing).
  void Settle(double quiet_s);
  bool Trial(int k, TcWatch& watch, DaemonResult& out);

  std::string binary_;
  int n_;
  std::string log_ = absl::StrCat(kDir, "/agent.log");
  std::string policy_ = absl::StrCat(kDir, "/policy.json");
  pid_t pid_ = -1;
};

bool DaemonProbe::Start() {
  Sh(absl::StrCat("rm -rf ", kDir));
  mkdir(kDir, 0700);
  mkdir(absl::StrCat(kDir, "/state").c_str(), 0700);
  if (!WritePolicy(policy_, MakeSnapshot(0, kLatePorts))) return false;
  std::vector<std::string> args = {binary_,
                                   absl::StrCat("--state_dir=", kDir, "/state"),
                                   "--policy_file=" + policy_,
                                   "--eswitch_mode=map",
                                   "--uplink=up0",
                                   absl::StrCat("--block_index=", kDaemonBlock),
                                   absl::StrCat("--api_socket=", kDir, "/agent.sock"),
                                   absl::StrCat("--metrics_listen=127.0.0.1:", FreePort()),
                                   "--log_level=info"};
  for (int k = 0; k < kLatePorts; ++k) {
    args.push_back(absl::StrCat("--representor=", 100 + k, "=", LateRepName(k)));
  }
  std::optional<std::vector<std::string>> env = UnitEnvironment(VFGUARD_SERVICE_UNIT);
  if (!env) {
    std::fprintf(stderr, "daemon: cannot read the Environment= lines of %s\n",
                 VFGUARD_SERVICE_UNIT);
    return false;
  }
  std::printf("daemon: environment from %s:%s\n", VFGUARD_SERVICE_UNIT,
              env->empty() ? " (none)" : absl::StrCat(" ", absl::StrJoin(*env, " ")).c_str());
  pid_ = fork();
  if (pid_ == 0) {
    for (std::string& assignment : *env) putenv(assignment.data());
    int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid_ > 0;
}

void DaemonProbe::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool DaemonProbe::Fail(const std::string& why) {
  std::printf("FAIL: %s; last log lines:\n", why.c_str());
  std::vector<std::string> lines = ReadLines(log_);
  for (size_t i = lines.size() > 15 ? lines.size() - 15 : 0; i < lines.size(); ++i) {
    std::printf("  %s\n", lines[i].substr(0, 400).c_str());
  }
  Stop();
  return false;
}

std::optional<std::string> DaemonProbe::WaitPass(
    size_t after, const std::string& what, double limit_s,
    const std::function<bool(const std::string&)>& accept) {
  auto start = Clock::now();
  for (int reported = 0;; usleep(200 * 1000)) {
    std::vector<std::string> passes = Reconciled(log_);
    for (size_t i = after; i < passes.size(); ++i) {
      if (accept(passes[i])) return passes[i];
    }
    const double waited = Seconds(Clock::now() - start);
    if (waited > limit_s) {
      Fail(absl::StrCat("no ", what, " in ", limit_s, " s"));
      return std::nullopt;
    }
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      Fail("the agent exited");
      return std::nullopt;
    }
    if (waited > 60 * (reported + 1)) {
      std::printf("  ... still waiting for the %s (%.0f s)\n", what.c_str(), waited);
      ++reported;
    }
  }
}

void DaemonProbe::Settle(double quiet_s) {
  auto quiet_since = Clock::now();
  for (size_t seen = Reconciled(log_).size(); Seconds(Clock::now() - quiet_since) < quiet_s;) {
    usleep(200 * 1000);
    size_t now = Reconciled(log_).size();
    if (now != seen) quiet_since = Clock::now();
    seen = now;
  }
}

bool DaemonProbe::Trial(int k, TcWatch& watch, DaemonResult& out) {
  watch.Saw("", 0, 0);  // drain
  const size_t before = Reconciled(log_).size();
  const std::string rep = LateRepName(k);
  auto t0 = Clock::now();
  if (Sh(absl::StrCat("ip link add ", rep, " type veth peer name lvm", k, " && ip link set ", rep,
                      " up && ip link set lvm", k, " up")) != 0) {
    return Fail("ip link add");
  }
  std::optional<double> filter_at;
  while (!filter_at) {
    if (Seconds(Clock::now() - t0) > 900) return Fail("representor " + rep + " not wired");
    if (watch.Saw(rep, kDaemonBlock, 100)) filter_at = Seconds(Clock::now() - t0);
  }
  std::optional<std::string> pass = WaitPass(
      before, "join pass", 900, [](const std::string& l) { return Field(l, "writes") != "0"; });
  if (!pass) return false;
  const double reconciled_at = Seconds(Clock::now() - t0);
  out.join_s.push_back(*filter_at);
  out.join_writes.push_back(std::atoi(Field(*pass, "writes").c_str()));
  std::printf(
      "trial %d (%s): dispatch filter after %.3f s, event=reconciled seen after %.3f s "
      "(pass took_ms=%s writes=%s)\n",
      k, rep.c_str(), *filter_at, reconciled_at, Field(*pass, "took_ms").c_str(),
      Field(*pass, "writes").c_str());
  Settle(2.0);
  return true;
}

std::optional<DaemonResult> DaemonProbe::Run() {
  std::printf("\n== daemon: %s, map mode, %d ports + %d whose representor appears later ==\n",
              binary_.c_str(), n_, kLatePorts);
  DaemonResult out;
  auto start = Clock::now();
  if (!Start()) return std::nullopt;
  auto any = [](const std::string&) { return true; };
  std::optional<std::string> idle = WaitPass(0, "first pass", 900, any);
  if (!idle) return std::nullopt;
  Settle(3.0);
  out.rss_idle_kb = ProcStatusKb(pid_, "VmRSS:");
  const std::map<std::string, long> rss_idle = RssByMapping(pid_);
  out.filters_idle = std::atoi(Field(Reconciled(log_).back(), "filters").c_str());
  std::printf(
      "daemon idle (no port present): first pass after %.1f s, filters=%d, VmRSS %ld kB "
      "(RssAnon %ld, RssFile %ld)\n",
      Seconds(Clock::now() - start), out.filters_idle, out.rss_idle_kb,
      ProcStatusKb(pid_, "RssAnon:"), ProcStatusKb(pid_, "RssFile:"));

  const size_t before = Reconciled(log_).size();
  if (!WritePolicy(policy_, MakeSnapshot(n_, kLatePorts))) return std::nullopt;
  auto t0 = Clock::now();
  kill(pid_, SIGHUP);
  std::printf("daemon: policy with %d ports written, SIGHUP sent; waiting for the install pass\n",
              n_);
  std::optional<std::string> install = WaitPass(
      before, "install pass", 1800, [](const std::string& l) { return Field(l, "writes") != "0"; });
  if (!install) return std::nullopt;
  const double install_wall = Seconds(Clock::now() - t0);
  Settle(3.0);
  out.rss_installed_kb = ProcStatusKb(pid_, "VmRSS:");
  out.filters = std::atoi(Field(Reconciled(log_).back(), "filters").c_str());
  std::printf(
      "daemon install of %d ports: pass took_ms=%s writes=%s filters=%d absent_ports=%s "
      "(%.1f s from SIGHUP); VmRSS %ld kB (RssAnon %ld, RssFile %ld)\n",
      n_, Field(*install, "took_ms").c_str(), Field(*install, "writes").c_str(), out.filters,
      Field(*install, "absent_ports").c_str(), install_wall, out.rss_installed_kb,
      ProcStatusKb(pid_, "RssAnon:"), ProcStatusKb(pid_, "RssFile:"));
  PrintRssGrowth(rss_idle, RssByMapping(pid_));

  TcWatch watch;
  for (int k = 0; k < kLatePorts; ++k) {
    if (!Trial(k, watch, out)) return std::nullopt;
  }
  std::printf("representor appears -> dispatch filter installed: median %.3f s of %d\n",
              Median(out.join_s), kLatePorts);
  if (watch.overruns() != 0) std::printf("(RTNLGRP_TC overruns: %d)\n", watch.overruns());
  std::printf(
      "daemon memory after %d ports installed: VmRSS %ld kB (RssAnon %ld, RssFile %ld), "
      "VmHWM %ld kB\n",
      n_ + kLatePorts, ProcStatusKb(pid_, "VmRSS:"), ProcStatusKb(pid_, "RssAnon:"),
      ProcStatusKb(pid_, "RssFile:"), ProcStatusKb(pid_, "VmHWM:"));
  Stop();
  return out;
}

}  // namespace

std::optional<DaemonResult> RunDaemon(const std::string& binary, int n) {
  return DaemonProbe(binary, n).Run();
}

}  // namespace vfguard::agent
