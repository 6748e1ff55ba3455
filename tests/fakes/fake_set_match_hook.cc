#include "tests/fakes/fake_set_match_hook.h"

#include <set>

namespace vfguard::agent {
namespace {

// Entries of `want` absent from or different in `have`, plus entries of
// `have` absent from `want`.
template <typename K, typename V>
uint64_t Changes(const std::map<K, V>& have, const std::map<K, V>& want) {
  uint64_t n = 0;
  for (const auto& [k, v] : want) {
    auto it = have.find(k);
    n += it == have.end() || !(it->second == v);
  }
  for (const auto& [k, v] : have) n += !want.contains(k);
  return n;
}

// Prefixes added or removed, over all sets.
uint64_t PrefixChanges(const std::map<uint32_t, std::set<policy::IpPrefix>>& have,
                       const std::map<uint32_t, std::set<policy::IpPrefix>>& want) {
  static const std::set<policy::IpPrefix> kNone;
  uint64_t n = 0;
  std::set<uint32_t> ids;
  for (const auto& [id, p] : have) ids.insert(id);
  for (const auto& [id, p] : want) ids.insert(id);
  for (uint32_t id : ids) {
    auto h = have.find(id);
    auto w = want.find(id);
    const std::set<policy::IpPrefix>& a = h == have.end() ? kNone : h->second;
    const std::set<policy::IpPrefix>& b = w == want.end() ? kNone : w->second;
    for (const policy::IpPrefix& p : b) n += !a.contains(p);
    for (const policy::IpPrefix& p : a) n += !b.contains(p);
  }
  return n;
}

}  // namespace

absl::Status FakeSetMatchHook::Sync(const offload::SetMatchWant& want) {
  ++syncs;
  if (!fail.ok()) return fail;
  absl::StatusOr<offload::SetMatchPlan> plan = numbering_.Plan(want);
  if (!plan.ok()) return plan.status();
  map_writes_ += Changes(maps_.rules, plan->maps.rules);
  map_writes_ += PrefixChanges(maps_.sets, plan->maps.sets);
  maps_ = plan->maps;
  std::map<Key, netlink::BpfFilter> next;
  for (netlink::BpfFilter& f : plan->filters) {
    f.prog_fd = 3;  // any valid descriptor: the fake loads no program
    next[{f.owner, f.chain, f.prio, f.handle}] = std::move(f);
  }
  filter_writes_ += Changes(filters_, next);
  filters_ = std::move(next);
  return absl::OkStatus();
}

}  // namespace vfguard::agent
