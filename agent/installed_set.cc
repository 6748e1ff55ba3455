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

std::optional<InstalledFilter> InstalledFilter::Of(const FilterKey& key,
                                                   const InstalledEntry& entry) {
  if (key.chain > kChainMask) return std::nullopt;
  InstalledFilter f;
  if (const auto* b = std::get_if<netlink::TcBlock>(&key.owner)) {
    f.id_ = b->index;
    f.kind_chain_ = kBlock << kKindShift;
  } else {
    const auto& d = std::get<netlink::TcDevice>(key.owner);
    f.id_ = d.ifindex;
    if (d.parent == netlink::kClsactIngressParent) {
      f.kind_chain_ = kIngress << kKindShift;
    } else if (d.parent == netlink::kClsactEgressParent) {
      f.kind_chain_ = kEgress << kKindShift;
    } else {
      return std::nullopt;
    }
  }
  f.kind_chain_ |= key.chain;
  f.handle_ = key.handle;
  f.prio_ = key.prio;
  f.protocol_ = entry.protocol;
  f.jump_ = entry.jump;
  f.shape_ = entry.shape;
  f.content_ = entry.content;
  return f;
}

FilterKey InstalledFilter::key() const {
  FilterKey k;
  switch (kind_chain_ >> kKindShift) {
    case kBlock:
      k.owner = netlink::TcBlock{id_};
      break;
    case kIngress:
      k.owner = netlink::TcDevice{id_, netlink::kClsactIngressParent};
      break;
    default:
      k.owner = netlink::TcDevice{id_, netlink::kClsactEgressParent};
      break;
  }
  k.chain = kind_chain_ & kChainMask;
  k.prio = prio_;
  k.handle = handle_;
  return k;
}

InstalledEntry InstalledFilter::entry() const { return {protocol_, jump_, shape_, content_}; }

namespace {

InstalledFilter::Rank RankOfKey(const FilterKey& k) {
  if (const auto* b = std::get_if<netlink::TcBlock>(&k.owner)) {
    return {0, b->index, 0, k.chain, k.prio, k.handle};
  }
  const auto& d = std::get<netlink::TcDevice>(k.owner);
  return {1, d.ifindex, d.parent, k.chain, k.prio, k.handle};
}

}  // namespace

InstalledFilter::Rank InstalledFilter::RankOf() const {
  const uint32_t kind = kind_chain_ >> kKindShift;
  const uint32_t parent = kind == kBlock     ? 0
                          : kind == kIngress ? netlink::kClsactIngressParent
                                             : netlink::kClsactEgressParent;
  return {kind == kBlock ? 0 : 1, id_, parent, kind_chain_ & kChainMask, prio_, handle_};
}

bool InstalledFilter::Less::operator()(const InstalledFilter& a, const InstalledFilter& b) const {
  // RankOf's order without building it (inserts compare the most): a
  // device after every block, then the id; the kind then orders ingress
  // before egress as their parents do, and the chain; then prio, handle.
  const auto owner = [](const InstalledFilter& f) {
    return (uint64_t{f.kind_chain_ >> kKindShift != kBlock} << 32) | f.id_;
  };
  if (owner(a) != owner(b)) return owner(a) < owner(b);
  if (a.kind_chain_ != b.kind_chain_) return a.kind_chain_ < b.kind_chain_;
  if (a.prio_ != b.prio_) return a.prio_ < b.prio_;
  return a.handle_ < b.handle_;
}
bool InstalledFilter::Less::operator()(const InstalledFilter& a, const FilterKey& b) const {
  return a.RankOf() < RankOfKey(b);
}
bool InstalledFilter::Less::operator()(const FilterKey& a, const InstalledFilter& b) const {
  return RankOfKey(a) < b.RankOf();
}

FlatFilterSet::const_iterator FlatFilterSet::lower_bound(const FilterKey& key) const {
  return std::lower_bound(filters_.begin(), filters_.end(), key, InstalledFilter::Less{});
}

FlatFilterSet::const_iterator FlatFilterSet::find(const FilterKey& key) const {
  auto it = lower_bound(key);
  if (it == filters_.end() || InstalledFilter::Less{}(key, *it)) return filters_.end();
  return it;
}

std::pair<FlatFilterSet::const_iterator, bool> FlatFilterSet::insert(const InstalledFilter& f) {
  auto it = std::lower_bound(filters_.begin(), filters_.end(), f, InstalledFilter::Less{});
  if (it != filters_.end() && !InstalledFilter::Less{}(f, *it)) return {it, false};
  return {filters_.insert(it, f), true};
}

FlatFilterSet::const_iterator FlatFilterSet::insert(const_iterator hint, const InstalledFilter& f) {
  const InstalledFilter::Less less;
  const bool fits = (hint == filters_.begin() || less(*(hint - 1), f)) &&
                    (hint == filters_.end() || less(f, *hint));
  if (fits) return filters_.insert(hint, f);
  return insert(f).first;
}

void FlatFilterSet::insert_or_assign(const InstalledFilter& f) {
  auto it = std::lower_bound(filters_.begin(), filters_.end(), f, InstalledFilter::Less{});
  if (it != filters_.end() && !InstalledFilter::Less{}(f, *it)) {
    *it = f;
  } else {
    filters_.insert(it, f);
  }
}

size_t FlatFilterSet::erase(const FilterKey& key) {
  auto it = find(key);
  if (it == filters_.end()) return 0;
  filters_.erase(it);
  return 1;
}

std::optional<InstalledEntry> InstalledSet::Find(const FilterKey& key) const {
  auto it = filters_.find(key);
  if (it == filters_.end()) return std::nullopt;
  return it->entry();
}

void InstalledSet::Record(const netlink::FlowerFilter& f) {
  const std::optional<InstalledFilter> packed = InstalledFilter::Of(KeyOf(f), EntryOf(f));
  if (!packed) {
    RequestAudit();
    return;
  }
  filters_.insert_or_assign(*packed);
}

void InstalledSet::Collect(const netlink::FlowerFilter& f, std::vector<InstalledChange>& changes) {
  if (std::optional<InstalledFilter> packed = InstalledFilter::Of(KeyOf(f), EntryOf(f))) {
    changes.push_back({*packed});
  } else {
    RequestAudit();
  }
}

void InstalledSet::Erase(const FilterKey& key) { filters_.erase(key); }

void InstalledSet::Apply(std::vector<InstalledChange> changes) {
  if (changes.empty()) return;
  const InstalledFilter::Less less;
  std::stable_sort(
      changes.begin(), changes.end(),
      [&](const InstalledChange& a, const InstalledChange& b) { return less(a.filter, b.filter); });
  Filters merged;
  merged.reserve(filters_.size() + changes.size());
  auto have = filters_.begin();
  for (size_t i = 0; i < changes.size(); ++i) {
    const InstalledFilter& f = changes[i].filter;
    // Of one key only the last change counts.
    if (i + 1 < changes.size() && !less(f, changes[i + 1].filter)) continue;
    for (; have != filters_.end() && less(*have, f); ++have) merged.insert(merged.end(), *have);
    if (have != filters_.end() && !less(f, *have)) ++have;  // replaced or erased
    if (!changes[i].erased) merged.insert(merged.end(), f);
  }
  for (; have != filters_.end(); ++have) merged.insert(merged.end(), *have);
  changes = {};
  filters_ = std::move(merged);
}

void InstalledSet::MarkStale(const FilterKey& key) {
  auto it = filters_.find(key);
  if (it == filters_.end()) return;
  InstalledEntry entry = it->entry();
  entry.content = ~entry.content;
  filters_.insert_or_assign(*InstalledFilter::Of(key, entry));  // it held this key before
}

void InstalledSet::ReplaceFilters(const std::vector<std::vector<netlink::FlowerFilter>>& dumps) {
  filters_.clear();
  std::vector<InstalledChange> found;
  for (const std::vector<netlink::FlowerFilter>& dumped : dumps) {
    for (const netlink::FlowerFilter& f : dumped) {
      // ContentHash ignores what the kernel only reports (status,
      // counters), so the dumped filter is hashed as it is, not copied.
      Collect(f, found);
    }
  }
  Apply(std::move(found));
}

void InstalledSet::EraseClsact(uint32_t ifindex) {
  clsact_.erase(ifindex);
  filters_.erase_if([&](const InstalledFilter& f) {
    const FilterKey key = f.key();
    const auto* dev = std::get_if<netlink::TcDevice>(&key.owner);
    return dev != nullptr && dev->ifindex == ifindex;
  });
}

}  // namespace vfguard::agent
