#include "bench/join_filters.h"

#include <cstdio>
#include <fstream>
#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/agent_bench_setup.h"
#include "bench/tc_batch_text.h"
#include "offload/tc_translate.h"
#include "policy/compiler.h"

namespace vfguard::agent {

std::optional<std::vector<policy::Filter>> OwnFilters(const policy::Snapshot& snapshot,
                                                      const policy::SlotAssignment& slots,
                                                      const std::string& port_id) {
  absl::StatusOr<policy::Pipeline> pipeline = policy::Compile(snapshot, slots);
  if (!pipeline.ok()) {
    std::fprintf(stderr, "compile: %s\n", pipeline.status().ToString().c_str());
    return std::nullopt;
  }
  const std::string prefix = absl::StrCat("port ", port_id, ":");
  std::vector<policy::Filter> own;
  for (policy::Filter& f : pipeline->filters) {
    if (f.origin().StartsWith(prefix)) own.push_back(std::move(f));
  }
  return own;
}

std::optional<double> TimeTcBatchOwn(NetlinkTcBackend& tc, uint32_t block,
                                     const std::vector<policy::Filter>& own,
                                     const std::map<std::string, std::string>& devices,
                                     const std::vector<std::string>& bound,
                                     const std::string& joining) {
  offload::DeviceResolver resolve =
      [&](const policy::DeviceRef& ref) -> std::optional<offload::Netdev> {
    if (ref.kind == policy::DeviceRef::Kind::kUplink) return Dev("up0");
    auto it = devices.find(ref.port_id);
    if (it == devices.end()) return std::nullopt;
    return Dev(it->second);
  };
  const char* path = "/tmp/vfguard-agent-bench-join.tc";
  size_t in_block = 0;
  {
    std::ofstream file(path);
    file << "qdisc add dev " << joining << " ingress_block " << block << " clsact\n";
    TcText text;
    for (const policy::Filter& f : own) {
      auto k = offload::ToKernelFilter(f, block, offload::Copy::kSlowPath, resolve);
      if (!k.ok()) {
        std::fprintf(stderr, "translate %s: %s\n", f.origin().str().c_str(),
                     k.status().ToString().c_str());
        return std::nullopt;
      }
      in_block += std::holds_alternative<netlink::TcBlock>(k->owner);
      file << text.Line(*k) << "\n";
    }
    if (!text.ok()) {
      std::fprintf(stderr, "cannot write a filter as tc text: %s\n", text.error().c_str());
      return std::nullopt;
    }
  }
  if (!EmptyBlock(tc, block) || !BindBlock(tc, block, bound)) return std::nullopt;
  auto start = Clock::now();
  int rc = Sh(absl::StrCat("tc -force -batch ", path));
  double took = Seconds(Clock::now() - start);
  // The batch must have installed what it says (the block part; device
  // hooks are not in the block's dump).
  auto dumped = tc.DumpBlock(block);
  const bool ok = rc == 0 && dumped.ok() && dumped->size() == in_block;
  if (!ok) {
    std::fprintf(stderr, "tc batch of the own filters: rc=%d, %zu of %zu in the block\n", rc,
                 dumped.ok() ? dumped->size() : 0, in_block);
  }
  if (!EmptyBlock(tc, block) || !ok) return std::nullopt;
  return took;
}

}  // namespace vfguard::agent
