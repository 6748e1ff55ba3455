// Agent benchmark (kernel, root; run in the VM): what the daemon's code path
// costs against plain `tc -batch` for the same kernel filters, measured in one
// run on one kernel. For each N (argv after the daemon, default
// $VFGUARD_BENCH_SIZES or "100 250"; 20 tcp rules per port's group, 10
// groups shared round-robin, one flat network):
//
//   1. Program N ports from an empty block with Reconciler over
//      NetlinkTcBackend, on N veth representors + an uplink (cold_s). Then
//      the same kernel filters (the block's dump) as `tc -force -batch`
//      lines (qdiscs included) on an empty block (tc_batch_s). A second
//      agent run on an empty block with the offer book of the first (on
//      veth the book saves only the one probe).
//   2. Restart resync with nothing to change: a fresh Reconciler with the
//      offer book and the installed record over the installed block; writes
//      must be 0. resync_pct is the median of 3 such restarts (the record
//      put back before each: a trusted restart removes it) against the
//      median cold install, as cold_s is a median of 3 rounds.
//   3. The real daemon (build/daemon/vfguard-agent, map mode; daemon_probe.h):
//      VmRSS idle and with the N ports installed (rss_bytes_per_filter), then
//      kLatePorts joins: a port's representor appears, time to its dispatch
//      filter and the writes of that pass (join_s_median,
//      join_writes_median), against `tc -batch` of the port's own filters
//      alone (join_own_filters, join_tc_batch_s; join_filters.h).
//   4. One line per N, printed as soon as that N is done (before all sizes,
//      issue 14's "remote_group:" line, the agent in set mode,
//      agent_bench_remote.h;
//      VFGUARD_BENCH_REMOTE_ONLY=1 stops after it):
//      agent_bench: ports= filters= cold_s= tc_batch_s= ratio_vs_tc= ...
//
//   tools/vmrun --cache build/vm-cache --timeout 7200 --
//       build/bench/agent_bench build/daemon/vfguard-agent 100 250
//
// Timings under qemu TCG are only meaningful as ratios within one run.
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "agent/filter_hash.h"
#include "agent/heap_release.h"
#include "agent/netlink_tc_backend.h"
#include "agent/reconciler.h"
#include "agent/tc_op_encode.h"
#include "bench/agent_bench_remote.h"
#include "bench/agent_bench_setup.h"
#include "bench/daemon_probe.h"
#include "bench/join_filters.h"
#include "bench/resync_split.h"
#include "bench/tc_batch_text.h"
#include "common/file_io.h"
#include "common/log.h"
#include "netlink/tc_codec.h"
#include "policy/compiler.h"
#include "policy/slots.h"
#include "policy/validate.h"

namespace vfguard::agent {
namespace {

using netlink::FlowerFilter;

EswitchView ViewOf(int n) {
  EswitchView v;
  v.uplink = Dev("up0");
  for (int i = 0; i < n; ++i) v.port_representors[PortId(i)] = Dev(RepName(i));
  return v;
}

std::vector<FlowerFilter> Sorted(std::vector<FlowerFilter> v) {
  for (FlowerFilter& f : v) f = netlink::WithoutStatus(f);
  std::sort(v.begin(), v.end(), [](const FlowerFilter& x, const FlowerFilter& y) {
    return std::tie(x.owner, x.chain, x.prio, x.handle) <
           std::tie(y.owner, y.chain, y.prio, y.handle);
  });
  return v;
}

struct AgentRun {
  double seconds = 0;
  ReconcileReport report;
  uint64_t backend_writes = 0;
};

// A fresh Reconciler over `n` representors; `record` is the installed
// record's path (SetRecord; empty: none, a restart audits in full).
AgentRun RunAgent(const policy::Snapshot& s, const policy::SlotAssignment& slots, int n,
                  OfferBook& offers, const std::string& record = "", size_t lanes = 0) {
  std::ostringstream sink;
  common::Logger log(sink, common::LogLevel::kWarn);
  auto tc = NetlinkTcBackend::Open(lanes);
  if (!tc.ok()) {
    std::fprintf(stderr, "%s\n", tc.status().ToString().c_str());
    std::exit(1);
  }
  Reconciler r(**tc, log, kBlock);
  r.SetRecord(record, "agent_bench");
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
  double cold = 0, tc = 0, resync = 0;  // medians of kRounds
  int filters = 0;
};

// Agent cold installs and tc -batch runs alternate this many times on the
// same freshly emptied block; the summary takes the medians, so both sides
// see the same host load (a shared host drifts over minutes).
constexpr int kRounds = 3;
constexpr char kRecordPath[] = "/tmp/vfguard-agent-bench.rec";

// Writes the block's clsacts and `installed` as `tc -force -batch` lines.
bool WriteTcBatch(const char* path, const std::map<uint32_t, uint32_t>& qdiscs,
                  const std::vector<FlowerFilter>& installed, size_t& qdisc_lines) {
  std::ofstream file(path);
  TcText text;
  qdisc_lines = 0;
  for (auto [ifindex, b] : qdiscs) {
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
  return true;
}

// Every filter the agent manages for `n` ports: the block and each
// representor's egress hook, sorted by owner, chain, prio, handle.
std::optional<std::vector<FlowerFilter>> DumpManaged(NetlinkTcBackend& tc, int n) {
  auto dumped = tc.DumpBlock(kBlock);
  if (!dumped.ok()) return std::nullopt;
  std::vector<FlowerFilter> all = *std::move(dumped);
  for (int i = 0; i < n; ++i) {
    auto egress =
        tc.DumpFilters(netlink::TcDevice{Dev(RepName(i)).ifindex, netlink::kClsactEgressParent});
    if (!egress.ok()) return std::nullopt;
    all.insert(all.end(), egress->begin(), egress->end());
  }
  return Sorted(std::move(all));
}

// 1b: the agent's filters (the dumps of the block and of the representors'
// egress hooks) through tc -batch on an empty block, checked identical to
// what the agent left. Leaves tc's filters.
bool ReplayThroughTc(NetlinkTcBackend& tc, int n, Part1& out) {
  auto dumped = DumpManaged(tc, n);
  auto qdiscs = tc.DumpClsact();
  if (!dumped || !qdiscs.ok()) return false;
  const std::vector<FlowerFilter>& installed = *dumped;
  const char* path = "/tmp/vfguard-agent-bench.tc";
  size_t qdisc_lines = 0;
  if (!WriteTcBatch(path, *qdiscs, installed, qdisc_lines)) return false;
  if (!EmptyBlock(tc, kBlock)) return false;
  auto tc_start = Clock::now();
  int rc = Sh(absl::StrCat("tc -force -batch ", path));
  out.tc = Seconds(Clock::now() - tc_start);
  auto again = DumpManaged(tc, n);
  if (!again) return false;
  const std::vector<FlowerFilter>& from_tc = *again;
  size_t differ = 0;
  for (size_t i = 0; i < std::min(from_tc.size(), installed.size()); ++i) {
    if (from_tc[i] != installed[i] && differ++ == 0) {
      std::fprintf(stderr, "first difference:\n  agent: %s\n  tc:    %s\n",
                   netlink::DebugString(installed[i]).c_str(),
                   netlink::DebugString(from_tc[i]).c_str());
    }
  }
  const bool same = rc == 0 && differ == 0 && from_tc.size() == installed.size();
  std::printf(
      "tc -force -batch of the same %zu filters (block and egress hooks) + %zu qdiscs: %.3f s  "
      "(dumps %s)\n",
      installed.size(), qdisc_lines, out.tc, same ? "identical to the agent's" : "DIFFER");
  return same;
}

// Another timed `tc -force -batch` of the file ReplayThroughTc wrote, on an
// emptied block; checks the filter count only.
std::optional<double> TimeTcAgain(NetlinkTcBackend& tc, int n, size_t filters) {
  if (!EmptyBlock(tc, kBlock)) return std::nullopt;
  auto start = Clock::now();
  const int rc = Sh("tc -force -batch /tmp/vfguard-agent-bench.tc");
  const double took = Seconds(Clock::now() - start);
  auto again = DumpManaged(tc, n);
  if (rc != 0 || !again || again->size() != filters) return std::nullopt;
  return took;
}

// What the agent's per-filter codec work costs on this machine: hashing
// every installed filter (ContentHash encodes it) and encoding each as its
// create request into a scratch buffer and copying it into a request of its
// own (what the write path does), as a share of the cold install.
void PrintCodecShare(const std::vector<FlowerFilter>& filters, double cold_s) {
  uint64_t sink = 0;
  auto start = Clock::now();
  for (const FlowerFilter& f : filters) sink ^= ContentHash(f);
  const double hash_s = Seconds(Clock::now() - start);
  std::vector<uint32_t> scratch(4096);
  absl::Span<uint8_t> span(reinterpret_cast<uint8_t*>(scratch.data()), scratch.size() * 4);
  size_t bytes = 0;
  start = Clock::now();
  for (const FlowerFilter& f : filters) {
    TcOp op{TcOp::Kind::kCreateFilter, {}, f};
    absl::StatusOr<size_t> len = EncodeTcOp(op, 0, span);
    if (!len.ok()) continue;
    if (*len == 0) continue;
    std::vector<uint8_t> request(*len);
    std::memcpy(request.data(), span.data(), *len);
    bytes += request.size();
    sink += request[request.size() / 2];
  }
  const double encode_s = Seconds(Clock::now() - start);
  std::printf(
      "codec share: ContentHash of %zu filters %.3f s (%.1f %% of cold), encode + copy %.3f s "
      "(%.1f %%), %.0f B per request (%llu)\n",
      filters.size(), hash_s, 100.0 * hash_s / cold_s, encode_s, 100.0 * encode_s / cold_s,
      filters.empty() ? 0.0 : static_cast<double>(bytes) / filters.size(),
      static_cast<unsigned long long>(sink & 1));
}

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
  std::remove(kRecordPath);
  OfferBook offers;
  AgentRun cold = RunAgent(s, *slots, n, offers, kRecordPath);
  std::vector<double> colds = {cold.seconds}, tcs;
  out.filters = cold.report.filters;
  std::printf("agent cold install 1 (empty offer book): %.3f s  writes=%d offers=%d filters=%d\n",
              cold.seconds, cold.report.writes, cold.report.offers, cold.report.filters);
  // 2. Restart resync: fresh Reconciler, same offers, the installed record,
  // nothing to change; kRounds restarts, the record put back before each.
  absl::StatusOr<std::string> record = common::ReadFile(kRecordPath);
  if (!record.ok()) {
    std::fprintf(stderr, "installed record: %s\n", record.status().ToString().c_str());
    return false;
  }
  std::vector<AgentRun> resyncs;
  bool no_writes = true;
  bool trusted = true;
  for (int round = 1; round <= kRounds; ++round) {
    if (absl::Status st = common::WriteFileAtomically(kRecordPath, *record); !st.ok()) {
      std::fprintf(stderr, "installed record: %s\n", st.ToString().c_str());
      return false;
    }
    AgentRun r = RunAgent(s, *slots, n, offers, kRecordPath);
    no_writes = no_writes && r.report.writes == 0 && r.backend_writes == 0;
    trusted = trusted && r.report.trusted_record;
    std::printf(
        "agent restart resync %d (fresh Reconciler + offer book + installed record, "
        "trusted=%d): %.3f s  writes=%d (%s)  = %.1f %% of cold install 1\n",
        round, r.report.trusted_record, r.seconds, r.report.writes,
        r.report.writes == 0 && r.backend_writes == 0 ? "writes == 0: OK" : "FAIL: expected 0",
        100.0 * r.seconds / cold.seconds);
    resyncs.push_back(std::move(r));
  }
  std::sort(resyncs.begin(), resyncs.end(),
            [](const AgentRun& a, const AgentRun& b) { return a.seconds < b.seconds; });
  const AgentRun& resync = resyncs[resyncs.size() / 2];  // the median
  out.resync = resync.seconds;
  // 2b. The same with a full audit (no record): what the deferred audit costs.
  AgentRun audit = RunAgent(s, *slots, n, offers);
  std::printf(
      "agent restart with a full audit (no record): %.3f s  writes=%d  = %.1f %% of cold "
      "install 1\n",
      audit.seconds, audit.report.writes, 100.0 * audit.seconds / cold.seconds);
  PrintPassTimes("cold", cold.report, cold.seconds);
  PrintPassTimes("resync", resync.report, cold.seconds);
  PrintPassTimes("full audit", audit.report, cold.seconds);
  if (!PrintDumpSplit(n, cold.seconds)) return false;
  if (!no_writes || audit.report.writes != 0 || !trusted || !ReplayThroughTc(**tc, n, out)) {
    return false;
  }
  tcs.push_back(out.tc);
  // 1b. Alternate: agent, tc, agent, tc on the emptied block.
  for (int round = 2; round <= kRounds; ++round) {
    if (!EmptyBlock(**tc, kBlock)) return false;
    OfferBook fresh;
    AgentRun again = RunAgent(s, *slots, n, fresh);
    colds.push_back(again.seconds);
    std::optional<double> t = TimeTcAgain(**tc, n, static_cast<size_t>(again.report.filters));
    if (!t) return false;
    tcs.push_back(*t);
    std::printf("round %d: agent cold install %.3f s, tc -force -batch %.3f s\n", round,
                again.seconds, *t);
  }
  out.cold = Median(colds);
  out.tc = Median(tcs);
  std::printf(
      "medians of %d alternating rounds: agent %.3f s, tc %.3f s, ratio %.2f  [tc time / agent "
      "time; > 1 means the agent is faster]\n",
      kRounds, out.cold, out.tc, out.tc / out.cold);
  std::printf("compile share of the cold install: %.1f %%\n", 100.0 * compile / out.cold);
  if (auto all = DumpManaged(**tc, n)) PrintCodecShare(*all, out.cold);
  // The same cold install with one write lane (one socket, one batch), so
  // the two lanes' gain is measured in this run (not in the summary line).
  if (!EmptyBlock(**tc, kBlock)) return false;
  OfferBook single_book;
  AgentRun single = RunAgent(s, *slots, n, single_book, "", 1);
  std::printf(
      "agent cold install with one write lane: %.3f s (%d writes); with %zu lanes (median): "
      "%.3f s; one lane / default lanes = %.2f\n",
      single.seconds, single.report.writes, NetlinkTcBackend::DefaultWriteLanes(), out.cold,
      single.seconds / out.cold);
  PrintPassTimes("cold, one lane", single.report, single.seconds);
  std::remove(kRecordPath);
  return EmptyBlock(**tc, kBlock);
}

// ---- join baseline and the summary line -----------------------------------

struct JoinBaseline {
  std::vector<int> own;      // per trial: join_own_filters
  std::vector<double> tc_s;  // per trial: tc -batch of those
};

// For trial k the daemon's effective snapshot holds the N ports and late
// ports 0..k, compiled with the slots of its whole desired state; the same
// here. Needs the late representors (created by the trials) and kBlock empty.
bool MeasureJoinBaseline(int n, JoinBaseline& out) {
  auto slots = policy::AssignSlots(MakeSnapshot(n, kLatePorts), {});
  auto tc = NetlinkTcBackend::Open();
  if (!slots.ok() || !tc.ok()) return false;
  std::map<std::string, std::string> devices;
  std::vector<std::string> bound = {"up0"};
  for (int i = 0; i < n; ++i) {
    devices[PortId(i)] = RepName(i);
    bound.push_back(RepName(i));
  }
  for (int k = 0; k < kLatePorts; ++k) devices[LatePortId(k)] = LateRepName(k);
  for (int k = 0; k < kLatePorts; ++k) {
    auto own = OwnFilters(MakeSnapshot(n, k + 1), *slots, LatePortId(k));
    if (!own) return false;
    std::optional<double> took = TimeTcBatchOwn(**tc, kBlock, *own, devices, bound, LateRepName(k));
    if (!took) return false;
    out.own.push_back(static_cast<int>(own->size()));
    out.tc_s.push_back(*took);
    std::printf("join baseline %d (%s): %zu own filters (origin \"port %s:\"), tc -batch %.3f s\n",
                k, LatePortId(k).c_str(), own->size(), LatePortId(k).c_str(), *took);
    bound.push_back(LateRepName(k));
  }
  return true;
}

int MedianInt(const std::vector<int>& v) {
  return static_cast<int>(Median(std::vector<double>(v.begin(), v.end())));
}

// The one greppable line per N (keys fixed by the issue; "na" when the
// daemon part did not run). join_tc_batch_s is the median of the kLatePorts
// baseline runs, one per trial's port.
void PrintSummary(int n, const Part1& p, const DaemonResult* d, const JoinBaseline* j) {
  std::string daemon =
      "join_writes_median=na join_own_filters=na join_s_median=na "
      "join_tc_batch_s=na rss_bytes_per_filter=na";
  if (d != nullptr && j != nullptr && d->filters > d->filters_idle) {
    const double rss_per_filter = 1024.0 *
                                  static_cast<double>(d->rss_installed_kb - d->rss_idle_kb) /
                                  (d->filters - d->filters_idle);
    daemon = absl::StrFormat(
        "join_writes_median=%d join_own_filters=%d join_s_median=%.3f join_tc_batch_s=%.3f "
        "rss_bytes_per_filter=%.0f",
        MedianInt(d->join_writes), MedianInt(j->own), Median(d->join_s), Median(j->tc_s),
        rss_per_filter);
  }
  std::printf(
      "agent_bench: ports=%d filters=%d cold_s=%.3f tc_batch_s=%.3f ratio_vs_tc=%.2f "
      "resync_pct=%.1f %s\n",
      n, p.filters, p.cold, p.tc, p.tc / p.cold, 100.0 * p.resync / p.cold, daemon.c_str());
}

// Everything for one N, ending with its summary line.
bool RunSize(const std::string& daemon, int n) {
  Part1 part1;
  if (!RunPorts(n, part1)) return false;
  if (daemon.empty() || access(daemon.c_str(), X_OK) != 0) {
    std::printf("no daemon binary given (argv[1]); joins and RSS not measured\n");
    PrintSummary(n, part1, nullptr, nullptr);
    return true;
  }
  std::optional<DaemonResult> d = RunDaemon(daemon, n);
  auto tc = NetlinkTcBackend::Open();
  // The daemon leaves its clsacts behind; the devices are needed unbound.
  if (!tc.ok() || !EmptyBlock(**tc, kDaemonBlock) || !d) return false;
  JoinBaseline join;
  const bool baseline = MeasureJoinBaseline(n, join);
  for (int k = 0; k < kLatePorts; ++k)
    Sh(absl::StrCat("ip link del ", LateRepName(k), " 2>/dev/null"));
  if (!baseline) return false;
  PrintSummary(n, part1, &*d, &join);
  return true;
}

int Run(const std::string& daemon, const std::vector<int>& sizes) {
  const int max_ports = *std::max_element(sizes.begin(), sizes.end());
  Sh("ip link set lo up");
  {
    std::ofstream batch("/tmp/vfguard-agent-bench.links");
    batch << "link add up0 type veth peer name up0p\nlink set up0 up\nlink set up0p up\n";
    for (int i = 0; i < max_ports; ++i) {
      batch << "link add " << RepName(i) << " type veth peer name v" << i << "\n"
            << "link set " << RepName(i) << " up\nlink set v" << i << " up\n";
    }
  }
  auto links_start = Clock::now();
  if (Sh("ip -batch /tmp/vfguard-agent-bench.links") != 0) return 1;
  std::printf("created %d veth representor pairs + uplink in %.1f s\n", max_ports,
              Seconds(Clock::now() - links_start));
  if (max_ports >= 100 && !RemoteGroupCase(100)) {
    std::printf("FAIL in the remote-group case\n");
    return 1;
  }
  if (std::getenv("VFGUARD_BENCH_REMOTE_ONLY") != nullptr) return 0;
  for (int n : sizes) {
    if (!RunSize(daemon, n)) {
      std::printf("FAIL at N = %d\n", n);
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace vfguard::agent

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  // The daemon's malloc settings (daemon/main.cc): the agent phases measure
  // the daemon's code as it runs there.
  if (absl::Status st = vfguard::agent::ConfigureHeapForPasses(); !st.ok()) {
    std::printf("%s\n", st.ToString().c_str());
  }
  std::vector<int> sizes = vfguard::agent::Sizes(argc, argv, 2);
  if (sizes.empty()) return 2;
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
  return vfguard::agent::Run(argc > 1 ? argv[1] : "", sizes);
}
