// What the reconciler believes the kernel holds: every flower filter it
// manages (in the shared block and on devices' clsact hooks) as a compact
// entry, and the clsact qdiscs it manages.
//
// The set is kept from the reconciler's own acknowledged writes, not from
// dumps: a create or replace the kernel accepted records the filter; a
// delete it accepted, or that found nothing (ENOENT), erases it. A write
// whose outcome is unknown (failed for any other reason than "the kernel
// refused to create it") erases the entry and marks the set as needing an
// audit, so the next pass dumps and repairs. An audit rebuilds the whole
// set from a dump (Replace*).
//
// Changes made behind the agent's back are invisible here until an audit;
// that is the contract that lets a pass with nothing to do cost no dump
// (DESIGN.md, "Cost rules").
#ifndef VFGUARD_AGENT_INSTALLED_SET_H_
#define VFGUARD_AGENT_INSTALLED_SET_H_

#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "netlink/tc_types.h"

namespace vfguard::agent {

// What identifies a filter in the kernel: where it lives and its (chain,
// prio, handle). The owner is part of it: the same (chain, prio, handle) on
// the block and on a representor's egress hook are different filters.
struct FilterKey {
  netlink::FilterOwner owner;
  uint32_t chain = 0;
  uint16_t prio = 0;
  uint32_t handle = 0;
  auto operator<=>(const FilterKey&) const = default;
};

FilterKey KeyOf(const netlink::FlowerFilter& f);

// Per filter only what a pass needs: the protocol (a delete must name it),
// its jump target (deletes go in jump-graph order), the shape (whether a replace is possible) and
// the content (whether one is needed), both as hashes (agent/filter_hash.h).
// The shape hash is cut to 32 bits: two layouts of the same key that
// collide only make a replace that the kernel refuses, which leaves the set
// unsure and the next pass audits; the content hash (whether to write at all)
// keeps 64.
struct InstalledEntry {
  static constexpr uint32_t kNoJump = UINT32_MAX;  // chains are < 2^28
  uint16_t protocol = 0;
  uint32_t jump = kNoJump;  // the chain its actions jump to (deletes are ordered by it)
  uint32_t shape = 0;
  uint64_t content = 0;
  bool operator==(const InstalledEntry&) const = default;
};

InstalledEntry EntryOf(const netlink::FlowerFilter& f);

// One filter of the set, key and entry packed in 32 bytes (48 as a
// FilterKey and an InstalledEntry side by side): the set holds one per
// filter the agent manages. The owner kind (block, clsact ingress, clsact
// egress) lives in the top bits of the chain, which the kernel keeps below
// 2^28. Read it as a pair: `const auto& [key, entry] = filter;`.
class InstalledFilter {
 public:
  // nullopt for what the set cannot hold: a device owner at another parent
  // than clsact's ingress or egress, a chain above 2^28 - 1 (neither is
  // anything the agent writes or dumps).
  static std::optional<InstalledFilter> Of(const FilterKey& key, const InstalledEntry& entry);
  FilterKey key() const;
  InstalledEntry entry() const;
  bool operator==(const InstalledFilter&) const = default;

  // Orders as FilterKey does, and compares with FilterKeys (transparent), so
  // the set is searched by FilterKey.
  struct Less {
    using is_transparent = void;
    bool operator()(const InstalledFilter& a, const InstalledFilter& b) const;
    bool operator()(const InstalledFilter& a, const FilterKey& b) const;
    bool operator()(const FilterKey& a, const InstalledFilter& b) const;
  };

  // FilterKey's order as a tuple: the owner's alternative, its fields, then
  // chain, prio, handle.
  using Rank = std::tuple<size_t, uint32_t, uint32_t, uint32_t, uint16_t, uint32_t>;

  // The pair protocol (structured bindings).
  template <size_t I>
  auto get() const {
    if constexpr (I == 0) {
      return key();
    } else {
      return entry();
    }
  }

 private:
  enum Kind : uint32_t { kBlock = 0, kIngress = 1, kEgress = 2 };
  static constexpr int kKindShift = 28;
  static constexpr uint32_t kChainMask = (1u << kKindShift) - 1;
  Rank RankOf() const;
  uint32_t id_ = 0;          // block index or ifindex
  uint32_t kind_chain_ = 0;  // Kind << kKindShift | chain
  uint32_t handle_ = 0;
  uint16_t prio_ = 0;
  uint16_t protocol_ = 0;
  uint32_t jump_ = InstalledEntry::kNoJump;
  uint32_t shape_ = 0;
  uint64_t content_ = 0;
};

// The filters of the set as one sorted vector of packed entries: 32 bytes
// per filter in one block. A B-tree took ~38-48 bytes in ~250-byte nodes,
// and the nodes a pass allocated between its transient ones kept a page
// each resident once those were freed (docs/performance.md, "A pass holds
// one chunk of kernel filters"). A single insert or erase moves the tail;
// a pass's writes are applied in one merge (InstalledSet::Apply).
class FlatFilterSet {
 public:
  using value_type = InstalledFilter;
  using const_iterator = std::vector<InstalledFilter>::const_iterator;
  using iterator = const_iterator;

  const_iterator begin() const { return filters_.begin(); }
  const_iterator end() const { return filters_.end(); }
  size_t size() const { return filters_.size(); }
  bool empty() const { return filters_.empty(); }
  void clear() { filters_.clear(); }
  void reserve(size_t n) { filters_.reserve(n); }
  const_iterator lower_bound(const FilterKey& key) const;
  const_iterator find(const FilterKey& key) const;
  // Inserts `f` unless its key is present (then returns that one, false).
  std::pair<const_iterator, bool> insert(const InstalledFilter& f);
  // `hint`: where `f` belongs if the caller fills in key order (end()); a
  // wrong hint is corrected at the cost of a search.
  const_iterator insert(const_iterator hint, const InstalledFilter& f);
  // Puts `f` in place of the filter of its key, or inserts it.
  void insert_or_assign(const InstalledFilter& f);
  size_t erase(const FilterKey& key);
  template <typename Pred>
  size_t erase_if(Pred pred) {
    return std::erase_if(filters_, pred);
  }
  bool operator==(const FlatFilterSet&) const = default;

 private:
  std::vector<InstalledFilter> filters_;  // in InstalledFilter::Less order, one per key
};

// One change of the set: `filter` recorded (its key created or replaced),
// or, `erased`, its key erased (the entry is not looked at).
struct InstalledChange {
  InstalledFilter filter;
  bool erased = false;
};

class InstalledSet {
 public:
  using Filters = FlatFilterSet;

  const Filters& filters() const { return filters_; }
  std::optional<InstalledEntry> Find(const FilterKey& key) const;
  // A filter the kernel accepted (created or replaced). One the set cannot
  // hold (InstalledFilter::Of) makes the set unsure: the next pass audits.
  void Record(const netlink::FlowerFilter& f);
  // Record's change, added to `changes` for Apply instead of made now; one
  // the set cannot hold makes it unsure now.
  void Collect(const netlink::FlowerFilter& f, std::vector<InstalledChange>& changes);
  // A filter the kernel deleted or did not have; nothing if absent.
  void Erase(const FilterKey& key);
  // Changes in the order they happened (of one key, the last wins), merged
  // into the set at once: O(set + changes log changes).
  void Apply(std::vector<InstalledChange> changes);
  // Gives the filter at `key` another content hash than it has, so that the
  // next plan replaces it although what is wanted there hashes the same
  // (agent/moved_devices.h); nothing if absent.
  void MarkStale(const FilterKey& key);
  // Rebuilds the whole set from dumps of every owner it manages (filters of
  // owners that were not dumped are not known any more). One pass over the
  // dumps, not one per owner: an audit dumps the block and every
  // representor's egress hook.
  void ReplaceFilters(const std::vector<std::vector<netlink::FlowerFilter>>& dumps);
  // Takes the whole set from a persisted record (agent/installed_record.h),
  // filled in key order as DecodeInstalledRecord does.
  void Restore(Filters filters) { filters_ = std::move(filters); }

  // clsact qdiscs: ifindex -> ingress block (0: private).
  const std::map<uint32_t, uint32_t>& clsact() const { return clsact_; }
  void RecordClsact(uint32_t ifindex, uint32_t block) { clsact_[ifindex] = block; }
  // The clsact of `ifindex` is gone, and with it the filters on its hooks.
  void EraseClsact(uint32_t ifindex);
  void ReplaceClsact(std::map<uint32_t, uint32_t> dumped) { clsact_ = std::move(dumped); }

  // Set when the set may differ from the kernel; cleared by the audit.
  bool audit_needed() const { return audit_needed_; }
  void RequestAudit() { audit_needed_ = true; }
  void AuditDone() { audit_needed_ = false; }

 private:
  Filters filters_;
  std::map<uint32_t, uint32_t> clsact_;
  bool audit_needed_ = true;  // nothing is known before the first dump
};

}  // namespace vfguard::agent

template <>
struct std::tuple_size<vfguard::agent::InstalledFilter> : std::integral_constant<size_t, 2> {};
template <>
struct std::tuple_element<0, vfguard::agent::InstalledFilter> {
  using type = vfguard::agent::FilterKey;
};
template <>
struct std::tuple_element<1, vfguard::agent::InstalledFilter> {
  using type = vfguard::agent::InstalledEntry;
};

#endif  // VFGUARD_AGENT_INSTALLED_SET_H_
