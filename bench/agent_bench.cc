// Agent benchmark (kernel, root; run in the VM): what the daemon's code path
// costs against plain `tc -batch` for the same kernel filters, measured in one
// run on one kernel.
//
//   1. Program N ports (N = 100, 1000; 20 tcp rules per port's group, 10
//      groups shared round-robin, one flat network) from an empty block with
//      Reconciler over NetlinkTcBackend, on N veth representors + an uplink.
//      Then the same kernel filters (the block's dump) as `tc -force -batch`
//      lines (qdiscs included) on an empty block; both times and the ratio.
//      A second agent run on an empty block with the offer book of the first
//      shows what the hardware offers (skip_sw attempts veth refuses) cost.
//   2. Restart resync with nothing to change: a fresh Reconciler with the
//      offer book over the installed block; writes must be 0.
//   3. Representor latency with the real daemon (build/agent/vfguard-agent,
//      map mode) holding 1000 ports: create the veth of a port whose
//      representor was absent and wait for its dispatch filter (chain 0
//      prio 2, indev = the netdev) on RTNLGRP_TC, and for event=reconciled.
//   4. The daemon's VmRSS / VmHWM at the end.
//
//   tools/vmrun --cache build/vm-cache --timeout 1200 --
//       build/bench/agent_bench build/agent/vfguard-agent
//
// Timings under qemu TCG are only meaningful as ratios within one run.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "agent/log.h"
#include "agent/netlink_tc_backend.h"
#include "agent/policy_codec.h"
#include "agent/reconciler.h"
#include "bench/tc_batch_text.h"
#include "netlink/tc_codec.h"
#include "policy/compiler.h"
#include "policy/slots.h"
#include "policy/validate.h"

namespace vfguard::agent {
namespace {

using Clock = std::chrono::steady_clock;
using netlink::FlowerFilter;

constexpr uint32_t kBlock = 40;        // the in-process runs
constexpr uint32_t kDaemonBlock = 41;  // the daemon's
constexpr int kRulesPerGroup = 20;
constexpr int kGroups = 10;
constexpr int kLatePorts = 5;  // latency trials

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

int Sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc != 0) std::fprintf(stderr, "command failed (%d): %s\n", rc, cmd.c_str());
  return rc;
}

std::string RepName(int i) { return absl::StrCat("r", i); }
std::string LateRepName(int k) { return absl::StrCat("lrep", k); }

// One flat network, `n` ports r0..r{n-1}; port i in group i % kGroups, each
// group 20 distinct tcp ports (stateful, so conntrack and replies are
// compiled as in production), plus one egress rule.
policy::Snapshot MakeSnapshot(int n, int late_ports) {
  using namespace policy;
  Snapshot s;
  s.networks["flat"] = Network{"flat", Segmentation::kFlat, 0};
  for (int g = 0; g < kGroups; ++g) {
    SecurityGroup sg;
    sg.id = absl::StrCat("g", g);
    for (int r = 0; r < kRulesPerGroup - 1; ++r) {
      SecurityGroupRule rule;
      rule.protocol = kProtoTcp;
      uint16_t port = static_cast<uint16_t>(1000 + g * 100 + r);
      rule.ports = PortRange{port, port};
      sg.rules.push_back(rule);
    }
    SecurityGroupRule out;
    out.direction = Direction::kEgress;
    sg.rules.push_back(out);
    s.security_groups[sg.id] = sg;
  }
  auto add_port = [&](const std::string& id, int i, Representor rep) {
    Port p;
    p.id = id;
    p.network_id = "flat";
    p.mac = *MacAddr::Parse(
        absl::StrFormat("02:00:00:%02x:%02x:%02x", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff));
    p.fixed_ips = {*IpAddr::Parse(
        absl::StrFormat("10.%d.%d.%d", (i >> 16) & 0xff, (i >> 8) & 0xff, (i & 0xff)))};
    p.security_group_ids = {absl::StrCat("g", i % kGroups)};
    p.representor = rep;
    s.ports[id] = p;
  };
  for (int i = 0; i < n; ++i) add_port(absl::StrFormat("p%04d", i), i + 1, {RepName(i)});
  for (int k = 0; k < late_ports; ++k) {
    add_port(absl::StrFormat("late%d", k), 60000 + k, {static_cast<uint32_t>(100 + k)});
  }
  return s;
}

offload::Netdev Dev(const std::string& name) {
  return offload::Netdev{if_nametoindex(name.c_str()), name};
}

EswitchView ViewOf(int n) {
  EswitchView v;
  v.uplink = Dev("up0");
  for (int i = 0; i < n; ++i) v.port_representors[absl::StrFormat("p%04d", i)] = Dev(RepName(i));
  return v;
}

// Removes every clsact bound to `block` (the block and its filters go with
// the last one).
bool EmptyBlock(NetlinkTcBackend& tc, uint32_t block) {
  auto qdiscs = tc.DumpClsact();
  if (!qdiscs.ok()) return false;
  std::vector<TcOp> ops;
  for (auto [ifindex, b] : *qdiscs) {
    if (b != block) continue;
    TcOp op;
    op.kind = TcOp::Kind::kDeleteClsact;
    op.qdisc = netlink::ClsactQdisc{ifindex, block};
    ops.push_back(op);
  }
  for (const absl::Status& s : tc.Apply(ops)) {
    if (!s.ok()) std::fprintf(stderr, "delete clsact: %s\n", s.ToString().c_str());
  }
  auto left = tc.DumpBlock(block);
  return left.ok() && left->empty();
}

std::vector<FlowerFilter> Sorted(std::vector<FlowerFilter> v) {
  for (FlowerFilter& f : v) f = netlink::WithoutStatus(f);
  std::sort(v.begin(), v.end(), [](const FlowerFilter& x, const FlowerFilter& y) {
    return std::tie(x.chain, x.prio, x.handle) < std::tie(y.chain, y.prio, y.handle);
  });
  return v;
}

struct AgentRun {
  double seconds = 0;
  ReconcileReport report;
  uint64_t backend_writes = 0;
};

AgentRun RunAgent(const policy::Snapshot& s, const policy::SlotAssignment& slots, int n,
                  OfferBook& offers) {
  std::ostringstream sink;
  Logger log(sink, LogLevel::kWarn);
  auto tc = NetlinkTcBackend::Open();
  if (!tc.ok()) {
    std::fprintf(stderr, "%s\n", tc.status().ToString().c_str());
    std::exit(1);
  }
  Reconciler r(**tc, log, kBlock);
  EswitchView view = ViewOf(n);
  AgentRun out;
  auto start = Clock::now();
  out.report = r.Run(s, slots, view, offers);
  out.seconds = Seconds(Clock::now() - start);
  out.backend_writes = (*tc)->writes().Total();
  if (!out.report.status.ok() || out.report.errors != 0) {
    std::fprintf(stderr, "reconcile: %s (%d errors)\n%s", out.report.status.ToString().c_str(),
                 out.report.errors, sink.str().substr(0, 2000).c_str());
    std::exit(1);
  }
  return out;
}

struct Part1 {
  double cold = 0, warm_offers = 0, tc = 0, resync = 0;
  int filters = 0;
};

bool RunPorts(int n, Part1& out) {
  policy::Snapshot s = MakeSnapshot(n, 0);
  if (absl::Status v = policy::Validate(s); !v.ok()) {
    std::fprintf(stderr, "snapshot: %s\n", v.ToString().c_str());
    return false;
  }
  auto slots = policy::AssignSlots(s, {});
  if (!slots.ok()) return false;
  auto compile_start = Clock::now();
  auto pipeline = policy::Compile(s, *slots);
  double compile = Seconds(Clock::now() - compile_start);
  if (!pipeline.ok()) return false;

  auto tc = NetlinkTcBackend::Open();
  if (!tc.ok() || !EmptyBlock(**tc, kBlock)) return false;

  std::printf("\n== N = %d ports (%d rules each, %d groups, one flat network) ==\n", n,
              kRulesPerGroup, kGroups);
  std::printf("compile alone (policy::Compile, no kernel): %.3f s, %zu IR filters\n", compile,
              pipeline->filters.size());

  // 1a. Cold, with offers.
  OfferBook offers;
  AgentRun cold = RunAgent(s, *slots, n, offers);
  out.cold = cold.seconds;
  out.filters = cold.report.filters;
  std::printf("agent cold install (empty offer book): %.3f s  writes=%d offers=%d filters=%d\n",
              cold.seconds, cold.report.writes, cold.report.offers, cold.report.filters);

  // 2. Restart resync: fresh Reconciler, same offers, nothing to change.
  AgentRun resync = RunAgent(s, *slots, n, offers);
  out.resync = resync.seconds;
  std::printf(
      "agent restart resync (fresh Reconciler + offer book): %.3f s  writes=%d (%s)  "
      "= %.1f %% of the cold install\n",
      resync.seconds, resync.report.writes,
      resync.report.writes == 0 && resync.backend_writes == 0 ? "writes == 0: OK"
                                                              : "FAIL: expected 0",
      100.0 * resync.seconds / cold.seconds);
  if (resync.report.writes != 0 || resync.backend_writes != 0) return false;

  // The kernel's filters, as the agent left them.
  auto dumped = (*tc)->DumpBlock(kBlock);
  if (!dumped.ok()) return false;
  std::vector<FlowerFilter> installed = Sorted(*dumped);
  auto qdiscs = (*tc)->DumpClsact();
  if (!qdiscs.ok()) return false;

  // 1b. The same through tc -batch, on an empty block.
  const char* path = "/tmp/vfguard-agent-bench.tc";
  size_t qdisc_lines = 0;
  {
    std::ofstream file(path);
    TcText text;
    for (auto [ifindex, b] : *qdiscs) {
      if (b != kBlock) continue;
      ++qdisc_lines;
      char name[IF_NAMESIZE] = {};
      if_indextoname(ifindex, name);
      file << "qdisc add dev " << name << " ingress_block " << kBlock << " clsact\n";
    }
    for (const FlowerFilter& f : installed) file << text.Line(f) << "\n";
    if (!text.ok()) {
      std::fprintf(stderr, "cannot write a filter as tc text: %s\n", text.error().c_str());
      return false;
    }
  }
  if (!EmptyBlock(**tc, kBlock)) return false;
  auto tc_start = Clock::now();
  int rc = Sh(absl::StrCat("tc -force -batch ", path));
  out.tc = Seconds(Clock::now() - tc_start);
  auto again = (*tc)->DumpBlock(kBlock);
  if (!again.ok()) return false;
  std::vector<FlowerFilter> from_tc = Sorted(*again);
  size_t differ = 0;
  for (size_t i = 0; i < std::min(from_tc.size(), installed.size()); ++i) {
    if (from_tc[i] != installed[i] && differ++ == 0) {
      std::fprintf(stderr, "first difference:\n  agent: %s\n  tc:    %s\n",
                   netlink::DebugString(installed[i]).c_str(),
                   netlink::DebugString(from_tc[i]).c_str());
    }
  }
  const bool same = rc == 0 && differ == 0 && from_tc.size() == installed.size();
  std::printf("tc -force -batch of the same %zu filters + %zu qdiscs: %.3f s  (dump %s)\n",
              installed.size(), qdisc_lines, out.tc, same ? "identical to the agent's" : "DIFFERS");
  if (!same) return false;

  // 1c. Agent again on an empty block, offers answered from the book.
  if (!EmptyBlock(**tc, kBlock)) return false;
  AgentRun warm = RunAgent(s, *slots, n, offers);
  out.warm_offers = warm.seconds;
  std::printf("agent install, offer book pre-filled: %.3f s  writes=%d offers=%d\n", warm.seconds,
              warm.report.writes, warm.report.offers);
  std::printf(
      "ratio agent : tc -batch = %.2f (cold, with offers), %.2f (offers known)  "
      "[tc time / agent time; > 1 means the agent is faster]\n",
      out.tc / out.cold, out.tc / out.warm_offers);
  std::printf("offer share of the cold install: %.1f %% (%.3f s)\n",
              100.0 * (out.cold - out.warm_offers) / out.cold, out.cold - out.warm_offers);
  std::printf("compile share of the cold install: %.1f %%\n", 100.0 * compile / out.cold);
  return EmptyBlock(**tc, kBlock);
}

// ---- part 3 and 4: the daemon ---------------------------------------------

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

int CountReconciled(const std::string& log) {
  int n = 0;
  for (const std::string& l : ReadLines(log)) n += l.find("event=reconciled") != std::string::npos;
  return n;
}

std::string Field(const std::string& line, const std::string& key) {
  size_t at = line.find(" " + key + "=");
  if (at == std::string::npos) return "";
  at += key.size() + 2;
  return line.substr(at, line.find(' ', at) - at);
}

std::string ProcStatus(pid_t pid, const char* key) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string l; std::getline(in, l);) {
    if (l.rfind(key, 0) == 0) {
      size_t v = l.find_first_not_of(" \t", std::strlen(key) + 1);
      return v == std::string::npos ? l : l.substr(v);
    }
  }
  return "?";
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
// (chain 0, prio 2, indev = netdev) is created in `block`.
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
  // Drains what is queued; true if the dispatch filter was among it.
  bool Saw(const std::string& netdev, uint32_t block, int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    bool found = false;
    std::vector<uint8_t> buf(1 << 20);
    for (;;) {
      ssize_t got = recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
      if (got < 0) {
        if (errno == ENOBUFS) {
          ++overruns_;
          continue;
        }
        break;
      }
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, got);
           h = NLMSG_NEXT(h, got)) {
        if (h->nlmsg_type != RTM_NEWTFILTER) continue;
        auto f = netlink::DecodeFilterMessage(
            absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(h), h->nlmsg_len));
        if (!f.ok() || !f->has_value()) continue;
        const FlowerFilter& ff = **f;
        const auto* owner = std::get_if<netlink::TcBlock>(&ff.owner);
        if (owner && owner->index == block && ff.chain == 0 && ff.prio == 2 &&
            ff.keys.indev == netdev) {
          found = true;
        }
      }
    }
    return found;
  }
  int overruns() const { return overruns_; }

 private:
  int fd_ = -1;
  int overruns_ = 0;
};

int RunDaemon(const std::string& binary, int n) {
  std::printf("\n== daemon: %s, map mode, %d ports + %d whose representor appears later ==\n",
              binary.c_str(), n, kLatePorts);
  const std::string dir = "/tmp/vfguard-agent-bench";
  Sh("rm -rf " + dir);
  mkdir(dir.c_str(), 0700);
  mkdir((dir + "/state").c_str(), 0700);
  const std::string policy_path = dir + "/policy.json";
  const std::string log_path = dir + "/agent.log";
  {
    std::ofstream out(policy_path);
    out << PolicyToJson(PolicyFromSnapshot(MakeSnapshot(n, kLatePorts)));
  }
  std::vector<std::string> args = {binary,
                                   "--state_dir=" + dir + "/state",
                                   "--policy_file=" + policy_path,
                                   "--eswitch_mode=map",
                                   "--uplink=up0",
                                   absl::StrCat("--block_index=", kDaemonBlock),
                                   "--api_socket=" + dir + "/agent.sock",
                                   absl::StrCat("--metrics_listen=127.0.0.1:", FreePort()),
                                   "--log_level=info"};
  for (int k = 0; k < kLatePorts; ++k) {
    args.push_back(absl::StrCat("--representor=", 100 + k, "=", LateRepName(k)));
  }
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  auto stop = [&]() {
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
  };
  auto fail = [&](const std::string& why) {
    std::printf("FAIL: %s; last log lines:\n", why.c_str());
    std::vector<std::string> lines = ReadLines(log_path);
    for (size_t i = lines.size() > 15 ? lines.size() - 15 : 0; i < lines.size(); ++i)
      std::printf("  %s\n", lines[i].substr(0, 400).c_str());
    stop();
    return 1;
  };
  // Cold start: the first pass with writes.
  std::string first;
  while (first.empty()) {
    if (Seconds(Clock::now() - start) > 900) return fail("no reconcile pass in 900 s");
    if (waitpid(pid, nullptr, WNOHANG) == pid) return fail("the agent exited");
    for (const std::string& l : ReadLines(log_path)) {
      if (l.find("event=reconciled") != std::string::npos && Field(l, "writes") != "0") {
        first = l;
        break;
      }
    }
    usleep(200 * 1000);
  }
  double cold_wall = Seconds(Clock::now() - start);
  std::printf(
      "daemon cold start: first pass took_ms=%s writes=%s offers=%s filters=%s "
      "absent_ports=%s (wall from exec %.1f s)\n",
      Field(first, "took_ms").c_str(), Field(first, "writes").c_str(),
      Field(first, "offers").c_str(), Field(first, "filters").c_str(),
      Field(first, "absent_ports").c_str(), cold_wall);
  // Settle: no new pass for 3 s.
  for (int seen = -1, quiet = 0; quiet < 15;) {
    int now = CountReconciled(log_path);
    quiet = now == seen ? quiet + 1 : 0;
    seen = now;
    usleep(200 * 1000);
  }

  TcWatch watch;
  std::vector<double> to_filter, to_reconciled;
  for (int k = 0; k < kLatePorts; ++k) {
    watch.Saw("", 0, 0);  // drain
    const int before = CountReconciled(log_path);
    const std::string rep = LateRepName(k);
    auto t0 = Clock::now();
    if (Sh(absl::StrCat("ip link add ", rep, " type veth peer name lvm", k, " && ip link set ", rep,
                        " up && ip link set lvm", k, " up")) != 0) {
      return fail("ip link add");
    }
    std::optional<double> filter_at, reconciled_at;
    std::string pass;
    while (!filter_at || !reconciled_at) {
      if (Seconds(Clock::now() - t0) > 300) return fail("representor " + rep + " not wired");
      if (!filter_at && watch.Saw(rep, kDaemonBlock, 20)) filter_at = Seconds(Clock::now() - t0);
      if (!reconciled_at) {
        std::vector<std::string> lines = ReadLines(log_path);
        int count = 0;
        for (const std::string& l : lines) {
          if (l.find("event=reconciled") == std::string::npos) continue;
          if (++count > before && Field(l, "writes") != "0") {
            reconciled_at = Seconds(Clock::now() - t0);
            pass = l;
            break;
          }
        }
        if (filter_at && !reconciled_at) usleep(20 * 1000);
      }
    }
    to_filter.push_back(*filter_at);
    to_reconciled.push_back(*reconciled_at);
    std::printf(
        "trial %d (%s): dispatch filter after %.3f s, event=reconciled after %.3f s "
        "(pass took_ms=%s writes=%s)\n",
        k, rep.c_str(), *filter_at, *reconciled_at, Field(pass, "took_ms").c_str(),
        Field(pass, "writes").c_str());
    for (int seen = -1, quiet = 0; quiet < 10;) {  // let the agent settle between trials
      int now = CountReconciled(log_path);
      quiet = now == seen ? quiet + 1 : 0;
      seen = now;
      usleep(200 * 1000);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf(
      "representor appears -> dispatch filter installed: median %.3f s of %d "
      "(min %.3f, max %.3f)\n",
      median(to_filter), kLatePorts, *std::min_element(to_filter.begin(), to_filter.end()),
      *std::max_element(to_filter.begin(), to_filter.end()));
  std::printf("representor appears -> event=reconciled: median %.3f s\n", median(to_reconciled));
  if (watch.overruns() != 0) std::printf("(RTNLGRP_TC overruns: %d)\n", watch.overruns());
  std::printf("daemon memory after %d ports installed: VmRSS %s, VmHWM %s\n", n + kLatePorts,
              ProcStatus(pid, "VmRSS").c_str(), ProcStatus(pid, "VmHWM").c_str());
  stop();
  return 0;
}

int Run(const std::string& daemon, std::vector<int> sizes) {
  if (sizes.empty()) sizes = {100, 1000};
  const int kMaxPorts = *std::max_element(sizes.begin(), sizes.end());
  Sh("ip link set lo up");
  {
    std::ofstream batch("/tmp/vfguard-agent-bench.links");
    batch << "link add up0 type veth peer name up0p\nlink set up0 up\nlink set up0p up\n";
    for (int i = 0; i < kMaxPorts; ++i) {
      batch << "link add " << RepName(i) << " type veth peer name v" << i << "\n"
            << "link set " << RepName(i) << " up\nlink set v" << i << " up\n";
    }
  }
  auto links_start = Clock::now();
  if (Sh("ip -batch /tmp/vfguard-agent-bench.links") != 0) return 1;
  std::printf("created %d veth representor pairs + uplink in %.1f s\n", kMaxPorts,
              Seconds(Clock::now() - links_start));

  std::map<int, Part1> results;
  for (int n : sizes) {
    if (!RunPorts(n, results[n])) {
      std::printf("FAIL at N = %d\n", n);
      return 1;
    }
  }
  std::printf("\n== summary (one VM run; ratios are the result, absolute times are TCG) ==\n");
  std::printf("%6s %9s %10s %12s %12s %12s %12s %12s\n", "ports", "filters", "agent s",
              "agent-ofr s", "tc-batch s", "ratio", "ratio-ofr", "resync/cold");
  for (const auto& [n, r] : results) {
    std::printf("%6d %9d %10.3f %12.3f %12.3f %12.2f %12.2f %11.1f%%\n", n, r.filters, r.cold,
                r.warm_offers, r.tc, r.tc / r.cold, r.tc / r.warm_offers,
                100.0 * r.resync / r.cold);
  }
  if (daemon.empty() || access(daemon.c_str(), X_OK) != 0) {
    std::printf("\nno daemon binary given (argv[1]); representor latency and RSS not measured\n");
    return 0;
  }
  return RunDaemon(daemon, kMaxPorts);
}

}  // namespace
}  // namespace vfguard::agent

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
    std::printf("SKIP: needs root and network namespaces (run through tools/vmrun)\n");
    return 77;
  }
  if (std::system(
          "( ip link add agentbench0 type veth peer name agentbench1 && "
          "tc qdisc add dev agentbench0 ingress_block 99 clsact && "
          "tc filter add block 99 protocol ip prio 1 flower ip_proto tcp "
          "ct_state +trk action ct zone 1 pipe action ok && "
          "tc qdisc del dev agentbench0 clsact && ip link del agentbench0 ) >/dev/null 2>&1") !=
      0) {
    std::printf("SKIP: kernel lacks veth, clsact shared blocks, cls_flower or act_ct\n");
    return 77;
  }
  // agent_bench [DAEMON [N...]]: N defaults to 100 and 1000; the daemon gets
  // the largest N.
  std::vector<int> sizes;
  for (int i = 2; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  return vfguard::agent::Run(argc > 1 ? argv[1] : "", sizes);
}
