#include "agent/installed_set.h"

#include <algorithm>

#include "agent/filter_hash.h"
#include "agent/write_order.h"

namespace vfguard::agent {

FilterKey KeyOf(const netlink::FlowerFilter& f) { return {f.owner, f.chain, f.prio, f.handle}; }

InstalledEntry EntryOf(const netlink::FlowerFilter& f) {
  const std::optional<uint32_t> jump = JumpTarget(f);
  return {f.protocol, jump.value_or(InstalledEntry::kNoJump), static_cast<uint32_t>(ShapeHash(f)),
          ContentHash(f)};
}

const InstalledEntry* InstalledSet::Find(const FilterKey& key) const {
  auto it = filters_.find(key);
  return it == filters_.end() ? nullptr : &it->second;
}

void InstalledSet::Record(const netlink::FlowerFilter& f) { filters_[KeyOf(f)] = EntryOf(f); }

void InstalledSet::Erase(const FilterKey& key) { filters_.erase(key); }

void InstalledSet::ReplaceFilters(const std::vector<std::vector<netlink::FlowerFilter>>& dumps) {
  filters_.clear();
  for (const std::vector<netlink::FlowerFilter>& dumped : dumps) {
    for (const netlink::FlowerFilter& f : dumped) {
      // ContentHash ignores what the kernel only reports (status,
      // counters), so the dumped filter is hashed as it is, not copied.
      filters_[KeyOf(f)] = EntryOf(f);
    }
  }
}

void InstalledSet::EraseClsact(uint32_t ifindex) {
  clsact_.erase(ifindex);
  absl::erase_if(filters_, [&](const auto& kv) {
    const auto* dev = std::get_if<netlink::TcDevice>(&kv.first.owner);
    return dev != nullptr && dev->ifindex == ifindex;
  });
}

}  // namespace vfguard::agent
