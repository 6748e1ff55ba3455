#include "bench/agent_bench_setup.h"

#include <net/if.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "agent/heap_release.h"

namespace vfguard::agent {

int Sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc != 0) std::fprintf(stderr, "command failed (%d): %s\n", rc, cmd.c_str());
  return rc;
}

std::string RepName(int i) { return absl::StrCat("r", i); }
std::string LateRepName(int k) { return absl::StrCat("lrep", k); }
std::string PortId(int i) { return absl::StrFormat("p%04d", i); }
std::string LatePortId(int k) { return absl::StrCat("late", k); }

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
  for (int i = 0; i < n; ++i) add_port(PortId(i), i + 1, {RepName(i)});
  for (int k = 0; k < late_ports; ++k) {
    add_port(LatePortId(k), 60000 + k, {static_cast<uint32_t>(100 + k)});
  }
  return s;
}

offload::Netdev Dev(const std::string& name) {
  return offload::Netdev{if_nametoindex(name.c_str()), name};
}

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

bool BindBlock(NetlinkTcBackend& tc, uint32_t block, const std::vector<std::string>& devices) {
  std::vector<TcOp> ops;
  for (const std::string& name : devices) {
    TcOp op;
    op.kind = TcOp::Kind::kCreateClsact;
    op.qdisc = netlink::ClsactQdisc{if_nametoindex(name.c_str()), block};
    ops.push_back(op);
  }
  bool ok = true;
  for (const absl::Status& s : tc.Apply(ops)) {
    if (!s.ok()) {
      std::fprintf(stderr, "create clsact: %s\n", s.ToString().c_str());
      ok = false;
    }
  }
  return ok;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<int> Sizes(int argc, char** argv, int first) {
  std::vector<std::string> words;
  for (int i = first; i < argc; ++i) words.push_back(argv[i]);
  const char* env = std::getenv("VFGUARD_BENCH_SIZES");
  if (words.empty() && env != nullptr) {
    words = absl::StrSplit(env, absl::ByAnyChar(" ,"), absl::SkipWhitespace());
  }
  if (words.empty()) words = {"100", "250"};
  std::vector<int> sizes;
  for (const std::string& w : words) {
    int n = std::atoi(w.c_str());
    if (n <= 0 || absl::StrCat(n) != w) {
      std::fprintf(stderr, "bad size '%s'\n", w.c_str());
      return {};
    }
    sizes.push_back(n);
  }
  return sizes;
}

int RunForEachSize(int argc, char** argv, int (*run)(int)) {
  // The daemon's malloc settings (daemon/main.cc), so the figures are its.
  if (absl::Status st = ConfigureHeapForPasses(); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
  }
  const std::vector<int> sizes = Sizes(argc, argv, 1);
  if (sizes.empty()) return 2;
  int rc = 0;
  for (int n : sizes) rc |= run(n);
  return rc;
}

}  // namespace vfguard::agent
