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
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
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

class InstalledSet {
 public:
  // A B-tree: about half the bytes per entry of a std::map node.
  using Filters = absl::btree_map<FilterKey, InstalledEntry>;

  const Filters& filters() const { return filters_; }
  const InstalledEntry* Find(const FilterKey& key) const;
  // A filter the kernel accepted (created or replaced).
  void Record(const netlink::FlowerFilter& f);
  // A filter the kernel deleted or did not have; nothing if absent.
  void Erase(const FilterKey& key);
  // Rebuilds the whole set from dumps of every owner it manages (filters of
  // owners that were not dumped are not known any more). One pass over the
  // dumps, not one per owner: an audit dumps the block and every
  // representor's egress hook.
  void ReplaceFilters(const std::vector<std::vector<netlink::FlowerFilter>>& dumps);
  // Takes the whole set from a persisted record (agent/installed_record.h).
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

#endif  // VFGUARD_AGENT_INSTALLED_SET_H_
