#include "bench/agent_bench_remote.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "agent/netlink_tc_backend.h"
#include "agent/reconciler.h"
#include "agent/set_match_hook.h"
#include "bench/agent_bench_setup.h"
#include "common/log.h"
#include "policy/slots.h"

namespace vfguard::agent {
namespace {

struct Pass {
  double seconds = 0;
  ReconcileReport report;
  int tc_filter_writes = 0;  // flower and cls_bpf
};

bool RunPass(Reconciler& r, const policy::Snapshot& s, const policy::SlotAssignment& slots, int n,
             OfferBook& offers, const std::ostringstream& log, Pass& out) {
  EswitchView view;
  view.uplink = Dev("up0");
  for (int i = 0; i < n; ++i) view.port_representors[PortId(i)] = Dev(RepName(i));
  const auto start = Clock::now();
  out.report = r.Run(s, slots, view, offers);
  out.seconds = Seconds(Clock::now() - start);
  out.tc_filter_writes = out.report.writes + out.report.set_filter_writes;
  if (!out.report.status.ok() || out.report.errors != 0) {
    std::printf("remote_group: reconcile: %s (%d errors)\n%s\n",
                out.report.status.ToString().c_str(), out.report.errors,
                log.str().substr(0, 2000).c_str());
    return false;
  }
  return true;
}

// What the pass installed: flower filters (traps included) and set-match
// filters.
int Installed(const Reconciler& r, const ReconcileReport& report) {
  int n = report.filters;
  for (const offload::PlacedFilter& p : r.placement().filters) {
    n += p.filter->classifier == policy::Classifier::kSetMatch;
  }
  return n;
}

policy::Snapshot SshFrom(int n, const policy::SecurityGroupRule& ssh) {
  policy::Snapshot s = MakeSnapshot(n, 0);
  s.security_groups = {{"ssh", policy::SecurityGroup{"ssh", true, {ssh}}},
                       {"bastion", policy::SecurityGroup{"bastion", true, {}}}};
  for (auto& [id, p] : s.ports) p.security_group_ids = {"ssh"};
  return s;
}

policy::RemotePort Member(uint32_t m) {
  return policy::RemotePort{absl::StrCat("member-", m),
                            {policy::IpPrefix::Host(policy::IpAddr::V4(0xc0a80001 + m))},
                            {"bastion"}};
}

}  // namespace

bool RemoteGroupCase(int n) {
  using namespace policy;
  SecurityGroupRule ssh;
  ssh.protocol = kProtoTcp;
  ssh.ports = PortRange{22, 22};
  ssh.remote_group_id = "bastion";
  Snapshot s = SshFrom(n, ssh);
  for (uint32_t m = 0; m < 1000; ++m) s.remote_ports[Member(m).id] = Member(m);
  auto slots = AssignSlots(s, {});
  auto tc = NetlinkTcBackend::Open();
  if (!slots.ok() || !tc.ok() || !EmptyBlock(**tc, kBlock)) return false;
  std::ostringstream sink;
  common::Logger log(sink, common::LogLevel::kWarn);
  absl::StatusOr<std::unique_ptr<KernelSetMatchHook>> hook = KernelSetMatchHook::Create(log);
  if (!hook.ok()) {
    std::printf("remote_group: the set-match hook cannot load: %s\n",
                hook.status().ToString().c_str());
    return false;
  }
  OfferBook offers;
  Reconciler r(**tc, log, kBlock);
  r.SetSetMatch(hook->get());
  Pass cold, add, remove, base;
  Snapshot added = s;
  added.remote_ports[Member(1000).id] = Member(1000);  // next to the pool
  Snapshot removed = added;
  removed.remote_ports.erase("member-500");  // from the middle
  if (!RunPass(r, s, *slots, n, offers, sink, cold)) return false;
  const int filters = Installed(r, cold.report);
  if (!RunPass(r, added, *slots, n, offers, sink, add) ||
      !RunPass(r, removed, *slots, n, offers, sink, remove) || !EmptyBlock(**tc, kBlock)) {
    return false;
  }
  // The same rule with one prefix as its remote, in plain flower.
  ssh.remote_group_id.reset();
  ssh.remote_prefix = IpPrefix::Host(IpAddr::V4(0xc0a80001));
  Snapshot one = SshFrom(n, ssh);
  Reconciler flower(**tc, log, kBlock);
  OfferBook base_offers;
  if (!RunPass(flower, one, *AssignSlots(one, {}), n, base_offers, sink, base)) return false;
  const int baseline = Installed(flower, base.report);
  std::printf(
      "remote_group: mode=set members=1000 ports=%d filters=%d baseline_filters=%d ratio=%.2f "
      "cold_s=%.3f member_change_writes=%d set_entry_writes=%llu member_change_s=%.3f "
      "removal_writes=%d removal_set_entry_writes=%llu removal_s=%.3f writes_per_port=%.2f "
      "(member_change_writes: tc filter writes, flower and cls_bpf; one Reconciler and hook "
      "throughout)\n",
      n, filters, baseline, static_cast<double>(filters) / baseline, cold.seconds,
      add.tc_filter_writes, static_cast<unsigned long long>(add.report.set_map_writes), add.seconds,
      remove.tc_filter_writes, static_cast<unsigned long long>(remove.report.set_map_writes),
      remove.seconds,
      static_cast<double>(std::max(add.tc_filter_writes, remove.tc_filter_writes)) / n);
  return EmptyBlock(**tc, kBlock);
}

}  // namespace vfguard::agent
