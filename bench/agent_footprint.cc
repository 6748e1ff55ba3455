// agent_footprint: the reconciler's own heap and CPU per filter, without a
// kernel (issue 9). The bench deployment of agent_bench (N ports, 20 rules
// each, one flat network) is reconciled over a backend that encodes every op
// as NetlinkTcBackend does and acknowledges it without sending, refusing
// skip_sw like a block with a veth in it. So the figures are what the agent
// adds to the kernel's work, and they need no VM.
//
// Per N (arguments, else $VFGUARD_BENCH_SIZES, else 100 and 250) one line:
//   agent_footprint: ports= filters= compiler_bytes_per_filter=
//   agent_bytes_per_filter= cold_cpu_s= cold_us_per_filter= noop_cpu_s=
//   one_port_cpu_s= one_port_writes= one_port_translated= noop_translated=
//   resync_cpu_s= (a fresh Reconciler over a kernel that holds it all)
//   noop_placed= noop_planned= one_port_placed= one_port_planned= (filters
//   placed afresh, and wanted filters the plan compared: ReconcileReport)
//   noop_split_ms= one_port_split_ms= (compile/place/translate/write, the
//   pass's ReconcileReport::Times)
// compiler_* = heap in use held by an IncrementalCompiler alone after it
// compiled the snapshot (scaleir's part, policy/); agent_* = heap in use held
// by a Reconciler after its cold pass, minus the compiler's share (what
// agent/ and offload/ keep). Heap figures are glibc's in-use bytes
// (mallinfo2), not RSS.
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <sstream>
#include <string>
#include <vector>

#include "agent/pass_worker.h"
#include "agent/reconciler.h"
#include "agent/tc_op_encode.h"
#include "bench/agent_bench_setup.h"
#include "common/log.h"
#include "netlink/errno_status.h"
#include "policy/compiler.h"
#include "policy/slots.h"

namespace vfguard::agent {
namespace {

// Encodes like NetlinkTcBackend::Apply, sends nothing.
class EncodeOnlyBackend : public TcBackend {
 public:
  absl::StatusOr<std::map<uint32_t, uint32_t>> DumpClsact() override { return clsact_; }
  absl::StatusOr<std::vector<netlink::FlowerFilter>> DumpFilters(
      const netlink::FilterOwner& owner) override {
    std::vector<netlink::FlowerFilter> out;
    auto it = stored_.lower_bound(FilterKey{owner, 0, 0, 0});
    for (; it != stored_.end() && it->first.owner == owner; ++it) out.push_back(it->second);
    return out;
  }
  // Keep what is written, for a restart's audit to dump (not while heap is
  // being measured).
  bool store = false;
  std::vector<absl::Status> Apply(const std::vector<TcOp>& ops) override {
    std::vector<absl::Status> out(ops.size());
    std::vector<std::vector<uint8_t>> requests;
    requests.reserve(ops.size());
    std::vector<uint8_t> scratch(64 * 1024);
    for (size_t i = 0; i < ops.size(); ++i) {
      absl::StatusOr<size_t> n = EncodeTcOp(ops[i], 0, absl::MakeSpan(scratch));
      if (!n.ok()) {
        out[i] = n.status();
        continue;
      }
      requests.emplace_back(scratch.begin(), scratch.begin() + *n);
      ++writes;
      if (ops[i].kind == TcOp::Kind::kCreateClsact) {
        clsact_[ops[i].qdisc.ifindex] = ops[i].qdisc.ingress_block;
      }
      if (ops[i].filter.skip_sw && ops[i].kind != TcOp::Kind::kDeleteFilter) {
        out[i] = netlink::ErrnoStatus(EOPNOTSUPP);
      } else if (store && ops[i].kind == TcOp::Kind::kDeleteFilter) {
        stored_.erase(KeyOf(ops[i].filter));
      } else if (store && ops[i].kind != TcOp::Kind::kCreateClsact &&
                 ops[i].kind != TcOp::Kind::kDeleteClsact) {
        stored_[KeyOf(ops[i].filter)] = ops[i].filter;
      }
    }
    return out;
  }
  int writes = 0;

 private:
  std::map<uint32_t, uint32_t> clsact_;
  std::map<FilterKey, netlink::FlowerFilter> stored_;
};

// Small chunks plus mmapped ones (large vectors).
size_t HeapInUse() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

// /proc/self/status's VmRSS in bytes.
long RssBytes() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) kb = std::atol(line + 6);
  }
  std::fclose(f);
  return kb * 1024;
}

EswitchView ViewOf(int n);

// The daemon's shape (see the top): one pass of `s` over `view` on the
// worker, then its memory as the daemon would report it.
struct Memory {
  long rss = 0;
  size_t heap = 0;
  int filters = 0;
};
Memory PassOnWorker(PassWorker& worker, Reconciler& r, const policy::Snapshot& s,
                    const EswitchView& view, OfferBook& offers) {
  std::promise<int> done;
  worker.Post([&] {
    absl::StatusOr<policy::SlotAssignment> slots = policy::AssignSlots(s, {});
    const int f = slots.ok() ? r.Run(s, *slots, view, offers).filters : -1;
    worker.TrimWhenIdle();  // as the daemon's pass does (agent/agent.cc)
    done.set_value(f);
  });
  Memory m;
  m.filters = done.get_future().get();
  // Jobs run in order: this one runs after the pass; the trim follows it,
  // once the queue is empty.
  std::promise<void> idle;
  worker.Post([&] { idle.set_value(); });
  idle.get_future().wait();
  while (worker.backlog() != 0) usleep(1000);
  m.rss = RssBytes();
  m.heap = HeapInUse();
  return m;
}

// In a child process: prints "rss_bytes_per_filter=R heap_bytes_per_filter=H".
std::string DaemonLikeMemory(int n) {
  int fds[2];
  if (pipe(fds) != 0) return "rss_bytes_per_filter=na heap_bytes_per_filter=na";
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::ostringstream sink;
    common::Logger log(sink, common::LogLevel::kWarn);
    EncodeOnlyBackend tc;
    OfferBook offers;
    std::string out = "rss_bytes_per_filter=na heap_bytes_per_filter=na";
    {
      PassWorker worker;
      Reconciler r(tc, log, kBlock);
      const Memory idle = PassOnWorker(worker, r, MakeSnapshot(0, 0), ViewOf(0), offers);
      const Memory full = PassOnWorker(worker, r, MakeSnapshot(n, 0), ViewOf(n), offers);
      const double d = full.filters - idle.filters;
      if (idle.filters >= 0 && full.filters > idle.filters) {
        std::ostringstream o;
        o << "rss_bytes_per_filter=" << static_cast<long>((full.rss - idle.rss) / d)
          << " heap_bytes_per_filter="
          << static_cast<long>((static_cast<double>(full.heap) - idle.heap) / d);
        out = o.str();
      }
    }
    (void)!write(fds[1], out.data(), out.size());
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[256];
  for (ssize_t k; (k = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, k);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return out.empty() ? "rss_bytes_per_filter=na heap_bytes_per_filter=na" : out;
}

EswitchView ViewOf(int n) {
  EswitchView v;
  // Made-up ifindexes: nothing is sent.
  v.uplink = offload::Netdev{1, "up0"};
  for (int i = 0; i < n; ++i) {
    v.port_representors[PortId(i)] = offload::Netdev{static_cast<uint32_t>(10 + i), RepName(i)};
  }
  return v;
}

int Footprint(int n) {
  const std::string daemon_like = DaemonLikeMemory(n);
  const policy::Snapshot s = MakeSnapshot(n, 0);
  absl::StatusOr<policy::SlotAssignment> slots = policy::AssignSlots(s, {});
  if (!slots.ok()) return 1;
  const EswitchView view = ViewOf(n);

  size_t compiler_bytes = 0;
  {
    const size_t before = HeapInUse();
    policy::IncrementalCompiler c;
    auto shared = std::make_shared<const policy::Snapshot>(s);
    if (!c.Update(shared, *slots).ok()) return 1;
    shared.reset();
    compiler_bytes = HeapInUse() - before;
  }

  std::ostringstream sink;
  common::Logger log(sink, common::LogLevel::kWarn);
  EncodeOnlyBackend tc;
  OfferBook offers;
  const size_t before = HeapInUse();
  auto r = std::make_unique<Reconciler>(tc, log, kBlock);
  auto t0 = Clock::now();
  ReconcileReport cold = r->Run(s, *slots, view, offers);
  const double cold_s = Seconds(Clock::now() - t0);
  const size_t agent_bytes = HeapInUse() - before;
  if (!cold.status.ok() || cold.errors != 0) {
    std::fprintf(stderr, "cold pass: %s\n", cold.status.ToString().c_str());
    return 1;
  }
  t0 = Clock::now();
  ReconcileReport noop = r->Run(s, *slots, view, offers);
  const double noop_s = Seconds(Clock::now() - t0);
  // One port's rules change: p0000 (in g1) moves to g2.
  policy::Snapshot changed = s;
  changed.ports[PortId(0)].security_group_ids = {"g2"};
  t0 = Clock::now();
  ReconcileReport one = r->Run(changed, *slots, view, offers);
  const double one_s = Seconds(Clock::now() - t0);
  if (!one.status.ok()) std::fprintf(stderr, "one-port pass: %s\n", one.status.ToString().c_str());
  if (noop.writes != 0) std::fprintf(stderr, "FAIL: a pass with no change wrote %d\n", noop.writes);

  // A restart: a fresh Reconciler audits (dumps) a kernel that holds it all.
  EncodeOnlyBackend kernel;
  kernel.store = true;
  {
    Reconciler first(kernel, log, kBlock);
    OfferBook book;
    first.Run(s, *slots, view, book);
  }
  Reconciler restarted(kernel, log, kBlock);
  t0 = Clock::now();
  ReconcileReport resync = restarted.Run(s, *slots, view, offers);
  const double resync_s = Seconds(Clock::now() - t0);
  if (resync.writes != 0) std::fprintf(stderr, "FAIL: the resync wrote %d\n", resync.writes);

  auto split = [](const ReconcileReport& rr) {
    auto ms = [](absl::Duration d) { return absl::ToDoubleMilliseconds(d); };
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.2f/%.2f/%.2f/%.2f", ms(rr.times.compile), ms(rr.times.place),
                  ms(rr.times.translate), ms(rr.times.write));
    return std::string(buf);
  };
  const double filters = cold.filters;
  std::printf(
      "agent_footprint: ports=%d filters=%d compiler_bytes_per_filter=%.0f "
      "agent_bytes_per_filter=%.0f cold_cpu_s=%.3f cold_us_per_filter=%.1f noop_cpu_s=%.3f "
      "one_port_cpu_s=%.3f one_port_writes=%d one_port_translated=%d noop_translated=%d "
      "resync_cpu_s=%.3f %s noop_placed=%d noop_planned=%d one_port_placed=%d "
      "one_port_planned=%d noop_split_ms=%s one_port_split_ms=%s\n",
      n, cold.filters, compiler_bytes / filters,
      (static_cast<double>(agent_bytes) - compiler_bytes) / filters, cold_s, 1e6 * cold_s / filters,
      noop_s, one_s, one.writes, one.translated, noop.translated, resync_s, daemon_like.c_str(),
      noop.placed, noop.planned, one.placed, one.planned, split(noop).c_str(), split(one).c_str());
  std::fflush(stdout);
  return noop.writes == 0 && resync.writes == 0 ? 0 : 1;
}

}  // namespace
}  // namespace vfguard::agent

int main(int argc, char** argv) {
  return vfguard::agent::RunForEachSize(argc, argv, vfguard::agent::Footprint);
}
