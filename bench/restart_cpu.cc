// restart_cpu: the CPU of a restart that trusts the installed record
// (issue 9's resync_pct), natively, without a kernel. A Reconciler installs
// the agent_bench deployment (N ports) over an in-memory backend that keeps
// what is written and writes the record; then fresh Reconcilers restart over
// it 5 times (the record put back before each: a trusted restart
// removes it, the audit being due). Prints per N the median restart and its
// phases (ReconcileReport::times; "other" = loading the record, the two
// small dumps and what no phase covers), and the cold pass for scale:
//   restart_cpu: ports= filters= cold_cpu_s= restart_cpu_s= restart_pct=
//   compile_s= place_s= wanted_s= plan_s= other_s=
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "agent/reconciler.h"
#include "bench/agent_bench_setup.h"
#include "common/log.h"
#include "netlink/errno_status.h"
#include "policy/slots.h"

namespace vfguard::agent {
namespace {

// Restarts per size ($VFGUARD_RESTART_REPEATS, for profiling), median printed.
int Repeats() {
  const char* env = std::getenv("VFGUARD_RESTART_REPEATS");
  return env != nullptr && std::atoi(env) > 0 ? std::atoi(env) : 5;
}

// Keeps what is written (clsacts, filters) and acknowledges every op; a
// skip_sw filter is refused, as by a block with a veth in it.
class StoringBackend : public TcBackend {
 public:
  absl::StatusOr<std::map<uint32_t, uint32_t>> DumpClsact() override { return clsact_; }
  absl::StatusOr<std::vector<netlink::FlowerFilter>> DumpFilters(
      const netlink::FilterOwner& owner) override {
    std::vector<netlink::FlowerFilter> out;
    for (auto it = stored_.lower_bound(FilterKey{owner, 0, 0, 0});
         it != stored_.end() && it->first.owner == owner; ++it) {
      out.push_back(it->second);
    }
    return out;
  }
  // One chain only, as the kernel backend asks the kernel (TCA_CHAIN): the
  // default would copy the whole block to keep chain 0, which a restart's
  // check of the dispatch never pays in the VM.
  absl::StatusOr<std::vector<netlink::FlowerFilter>> DumpChain(const netlink::FilterOwner& owner,
                                                               uint32_t chain) override {
    std::vector<netlink::FlowerFilter> out;
    for (auto it = stored_.lower_bound(FilterKey{owner, chain, 0, 0});
         it != stored_.end() && it->first.owner == owner && it->first.chain == chain; ++it) {
      out.push_back(it->second);
    }
    return out;
  }
  std::vector<absl::Status> Apply(const std::vector<TcOp>& ops) override {
    std::vector<absl::Status> out(ops.size());
    for (size_t i = 0; i < ops.size(); ++i) {
      const TcOp& op = ops[i];
      ++writes;
      switch (op.kind) {
        case TcOp::Kind::kCreateClsact:
          clsact_[op.qdisc.ifindex] = op.qdisc.ingress_block;
          break;
        case TcOp::Kind::kDeleteClsact:
          clsact_.erase(op.qdisc.ifindex);
          break;
        case TcOp::Kind::kDeleteFilter:
          stored_.erase(KeyOf(op.filter));
          break;
        default:
          if (op.filter.skip_sw) {
            out[i] = netlink::ErrnoStatus(EOPNOTSUPP);  // no extack: block-wide
          } else {
            stored_[KeyOf(op.filter)] = op.filter;
          }
      }
    }
    return out;
  }
  int writes = 0;

 private:
  std::map<uint32_t, uint32_t> clsact_;
  std::map<FilterKey, netlink::FlowerFilter> stored_;
};

EswitchView ViewOf(int n) {
  EswitchView v;
  v.uplink = offload::Netdev{1, "up0"};  // made-up ifindexes: nothing is sent
  for (int i = 0; i < n; ++i) {
    v.port_representors[PortId(i)] = offload::Netdev{static_cast<uint32_t>(10 + i), RepName(i)};
  }
  return v;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

double S(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// One restart: a fresh Reconciler's first pass with the record at `path`.
// Not inlined, so that a profiler can tell it from the install
// (valgrind --tool=callgrind --toggle-collect='*RestartOnce*').
[[gnu::noinline]] ReconcileReport RestartOnce(TcBackend& kernel, common::Logger& log,
                                              const std::string& path, const policy::Snapshot& s,
                                              const policy::SlotAssignment& slots,
                                              const EswitchView& view, OfferBook& offers) {
  Reconciler r(kernel, log, kBlock);
  r.SetRecord(path, "restart_cpu");
  return r.Run(s, slots, view, offers);
}

int Restart(int n) {
  const policy::Snapshot s = MakeSnapshot(n, 0);
  absl::StatusOr<policy::SlotAssignment> slots = policy::AssignSlots(s, {});
  if (!slots.ok()) return 1;
  const EswitchView view = ViewOf(n);
  const std::string path = "/tmp/vfguard-restart-cpu-" + std::to_string(getpid()) + ".rec";
  std::ostringstream sink;
  common::Logger log(sink, common::LogLevel::kWarn);
  StoringBackend kernel;
  OfferBook offers;
  ReconcileReport cold;
  {
    Reconciler first(kernel, log, kBlock);
    first.SetRecord(path, "restart_cpu");
    cold = first.Run(s, *slots, view, offers);
  }
  const std::string record = ReadFile(path);
  if (!cold.status.ok() || record.empty()) {
    std::fprintf(stderr, "cold pass: %s, record %zu bytes\n", cold.status.ToString().c_str(),
                 record.size());
    return 1;
  }
  std::vector<ReconcileReport> runs;
  for (int i = 0, k = Repeats(); i < k; ++i) {
    std::ofstream(path, std::ios::binary) << record;
    runs.push_back(RestartOnce(kernel, log, path, s, *slots, view, offers));
    if (!runs.back().trusted_record || runs.back().writes != 0) {
      std::fprintf(stderr, "FAIL: restart trusted=%d writes=%d\n", runs.back().trusted_record,
                   runs.back().writes);
      return 1;
    }
  }
  std::remove(path.c_str());
  std::sort(runs.begin(), runs.end(),
            [](const ReconcileReport& a, const ReconcileReport& b) { return a.took < b.took; });
  const ReconcileReport& m = runs[runs.size() / 2];
  const ReconcileReport::Times& t = m.times;
  const absl::Duration other = m.took - t.compile - t.place - t.translate - t.write;
  std::printf(
      "restart_cpu: ports=%d filters=%d cold_cpu_s=%.3f restart_cpu_s=%.3f restart_pct=%.1f "
      "compile_s=%.3f place_s=%.3f wanted_s=%.3f plan_s=%.3f other_s=%.3f\n",
      n, cold.filters, S(cold.took), S(m.took), 100 * S(m.took) / S(cold.took), S(t.compile),
      S(t.place), S(t.translate), S(t.write), S(other));
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace vfguard::agent

int main(int argc, char** argv) {
  return vfguard::agent::RunForEachSize(argc, argv, vfguard::agent::Restart);
}
