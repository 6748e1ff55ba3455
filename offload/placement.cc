#include "offload/placement.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "policy/chain_builder.h"

namespace vfguard::offload {
namespace {

using policy::Action;
using policy::Filter;
using policy::FlowerMatch;
using Kind = policy::Action::Kind;

// Keeps field `f` of `into` only if every match of the group has the same value.
template <typename T>
void KeepIfShared(std::optional<T> FlowerMatch::*f, const std::vector<const Filter*>& group,
                  FlowerMatch& into) {
  const std::optional<T>& first = group.front()->match.get().*f;
  for (const Filter* g : group) {
    if (!(g->match.get().*f == first)) {
      into.*f = std::nullopt;
      return;
    }
  }
  into.*f = first;
}

Filter TrapAt(uint32_t chain, uint16_t prio, uint16_t protocol, std::string origin) {
  Filter trap;
  trap.chain = chain;
  trap.prio = prio;
  trap.handle = 1;
  trap.protocol = protocol;
  trap.actions = {Action{Kind::kTrap}};
  trap.SetOrigin(std::move(origin));
  return trap;
}

using GroupKey = std::pair<uint32_t, uint16_t>;  // (chain, prio)

// Sends a copy, edits the frame or changes conntrack: done twice (or seen
// edited) if the frame is later trapped and re-run by the slow path.
bool HasEffect(const Action& a) {
  return a.kind == Kind::kMirredMirror || a.kind == Kind::kVlanPush || a.kind == Kind::kVlanPop ||
         (a.kind == Kind::kCt && a.commit && !a.clear);
}

enum class ChainState : uint8_t { kGroups, kChainTrap, kNoHardware };

// Each distinct status of one placement once (PlacementResult::statuses):
// a status with a message is a heap object, and thousands of filters share
// a handful (every egress hook's filters one reason, every member of a
// trapped group its group's reason, a block that cannot offload one answer).
class StatusTable {
 public:
  explicit StatusTable(std::vector<absl::Status>& statuses) : statuses_(statuses) {
    for (size_t i = 0; i < statuses_.size(); ++i) by_text_[Text(statuses_[i])].push_back(i);
  }

  // The index of `s` (0 for OK), added if new.
  uint32_t Intern(const absl::Status& s) {
    if (s.ok()) return 0;
    std::vector<uint32_t>& same_text = by_text_[Text(s)];
    for (uint32_t i : same_text) {
      if (statuses_[i] == s) return i;  // payloads (errno, extack) too
    }
    return Add(same_text, s);
  }

  // The index of FailedPrecondition(reason): why an accepted filter stays
  // out of the hardware.
  uint32_t Reason(const std::string& reason) {
    auto it = by_reason_.find(reason);
    if (it != by_reason_.end()) return it->second;
    const uint32_t index = Intern(absl::FailedPreconditionError(reason));
    by_reason_.emplace(reason, index);
    return index;
  }

 private:
  // Code and message (not Status::ToString, which formats the payloads).
  static std::string Text(const absl::Status& s) {
    return absl::StrCat(static_cast<int>(s.code()), " ", s.message());
  }

  uint32_t Add(std::vector<uint32_t>& same_text, const absl::Status& s) {
    constexpr uint32_t kLast = PlacedFilter::kMaxStatuses - 1;
    if (statuses_.size() > kLast) return kLast;
    if (statuses_.size() == kLast) {  // unreachable below 2^24 filters; never silent
      statuses_.push_back(absl::ResourceExhaustedError(
          absl::StrCat("more than ", kLast, " distinct hardware statuses in one placement")));
      return kLast;
    }
    statuses_.push_back(s);
    const auto index = static_cast<uint32_t>(statuses_.size() - 1);
    same_text.push_back(index);
    return index;
  }

  std::vector<absl::Status>& statuses_;
  absl::flat_hash_map<std::string, std::vector<uint32_t>> by_text_;
  absl::flat_hash_map<std::string, uint32_t> by_reason_;
};

// The placement state while groups are being trapped, and the questions
// asked of it.
class Planner {
 public:
  Planner(const std::vector<const Filter*>& filters, const OfferFn& offer)
      : filters_(filters), offer_(offer) {
    for (size_t i = 0; i < filters.size(); ++i) {
      const Filter& f = *filters[i];
      if (!f.rare()->egress_of) groups_[{f.chain, f.prio}].push_back(i);
    }
    for (const auto& [key, members] : groups_) {
      chain_groups_[key.first].push_back(key);
      chains_[key.first] = ChainState::kGroups;
    }
    for (auto& [chain, keys] : chain_groups_) std::sort(keys.begin(), keys.end());
    // A chain with a cls_bpf program (the ND check) is the slow path's: no
    // hardware filter or trap goes there, and every group that jumps to it
    // is trapped (Unsafe), so the hardware hands those frames over first.
    for (const Filter* f : filters) {
      if (f->classifier == policy::Classifier::kNdCheck && !f->rare()->egress_of) {
        chains_[f->chain] = ChainState::kNoHardware;
      }
    }
  }

  PlacementResult Run() {
    PlacementResult result;
    // The caller (Place) sees that what the pointers name outlives the result.
    result.filters.reserve(filters_.size());
    StatusTable statuses(result.statuses);
    for (const Filter* f : filters_) {
      std::optional<std::string> never = NeverInHardware(*f);
      PlacedFilter placed{f};
      placed.status = never ? statuses.Reason(*never) : statuses.Intern(offer_(*f));
      result.filters.push_back(placed);
    }
    for (size_t i = 0; i < result.filters.size(); ++i) {
      const Filter& f = *filters_[i];
      if (f.rare()->egress_of) continue;
      const absl::Status& answer = result.HwStatus(result.filters[i]);
      if (!answer.ok()) {
        Trap({f.chain, f.prio},
             absl::StrCat("shares chain ", f.chain, " prio ", f.prio,
                          " with a filter the hardware refused (", answer.message(), ")"));
      }
    }
    while (Step()) {
    }
    Fill(result, statuses);
    return result;
  }

 private:
  // Marks a group trapped (first reason wins).
  void Trap(const GroupKey& key, std::string reason) {
    if (trapped_.emplace(key, std::move(reason)).second) changed_ = true;
  }

  // One round: build traps for newly trapped groups, then trap groups that
  // would have an effect before a trap or enter a chain the hardware lacks.
  bool Step() {
    changed_ = false;
    for (const auto& [key, reason] : trapped_) {
      if (chains_[key.first] != ChainState::kGroups || group_traps_.count(key)) continue;
      std::vector<const Filter*> members;
      for (size_t i : groups_[key]) members.push_back(filters_[i]);
      std::optional<Filter> trap;
      if (TrapPrioFree(key, members)) trap = TrapForGroup(members, trap_offer_);
      if (trap) {
        group_traps_.emplace(key, *std::move(trap));
        continue;
      }
      uint32_t chain = key.first;
      std::optional<Filter> chain_trap = TrapForChain(chain, ChainTrapPrio(chain), trap_offer_);
      chains_[chain] = chain_trap ? ChainState::kChainTrap : ChainState::kNoHardware;
      if (chain_trap) chain_traps_.emplace(chain, *std::move(chain_trap));
      changed_ = true;
      // No restart from the first group: the groups already passed are not
      // affected (they have a trap, or their chain is no longer kGroups), and
      // restarting made this loop quadratic when every chain is trapped whole.
    }
    if (changed_) return true;
    ComputeMayTrap();
    for (const auto& [key, members] : groups_) {
      if (!InHardware(key)) continue;
      for (size_t i : members) {
        std::optional<std::string> why = Unsafe(*filters_[i]);
        if (why) {
          Trap(key, *why);
          break;
        }
      }
    }
    return changed_;
  }

  // Whether the group's trap has its prio to itself: a set-match group's
  // trap goes at the prio before it (TrapForGroup), which must be free.
  bool TrapPrioFree(const GroupKey& key, const std::vector<const Filter*>& members) const {
    if (members.front()->classifier != policy::Classifier::kSetMatch) return true;
    return key.second > 1 && !groups_.contains({key.first, key.second - 1});
  }

  // Where a whole-chain trap goes first: the chain's first prio, or the
  // free one before it when that group is cls_bpf (a set match).
  uint16_t ChainTrapPrio(uint32_t chain) const {
    const GroupKey& first = chain_groups_.at(chain).front();
    const Filter& f = *filters_[groups_.at(first).front()];
    return f.classifier == policy::Classifier::kSetMatch ? first.second - 1 : first.second;
  }

  bool InHardware(const GroupKey& key) const {
    return chains_.at(key.first) == ChainState::kGroups && !trapped_.count(key);
  }

  // may_trap_[chain][j]: a frame that reaches group j of `chain` (and did not
  // match earlier groups) may still be trapped by the hardware. Least
  // fixpoint, so goto loops are fine.
  void ComputeMayTrap() {
    may_trap_.clear();
    for (const auto& [chain, keys] : chain_groups_) {
      may_trap_[chain].assign(keys.size() + 1, chains_[chain] == ChainState::kChainTrap);
      may_trap_[chain].back() = false;
    }
    bool grew = true;
    while (grew) {
      grew = false;
      for (const auto& [chain, keys] : chain_groups_) {
        if (chains_[chain] != ChainState::kGroups) continue;
        std::vector<bool>& t = may_trap_[chain];
        for (size_t j = keys.size(); j-- > 0;) {
          bool v = t[j + 1] || trapped_.count(keys[j]) > 0;
          for (size_t i : groups_[keys[j]]) {
            if (v) break;
            v = ContinuationMayTrap(*filters_[i], j, /*after=*/0);
          }
          if (v && !t[j]) {
            t[j] = true;
            grew = true;
          }
        }
      }
    }
  }

  bool ChainMayTrap(uint32_t chain, size_t from_group) const {
    auto it = may_trap_.find(chain);
    if (it == may_trap_.end()) return false;  // no such chain: the frame misses
    if (chains_.at(chain) == ChainState::kNoHardware) return false;  // never entered
    return it->second[std::min(from_group, it->second.size() - 1)];
  }

  // Where `f` (in group `group_index` of its chain) sends the frame after
  // its actions from `after` on: the first goto or continue decides.
  bool ContinuationMayTrap(const Filter& f, size_t group_index, size_t after) const {
    for (size_t k = after; k < f.actions.size(); ++k) {
      const Action& a = f.actions[k];
      switch (a.kind) {
        case Kind::kGoto:
          return ChainMayTrap(a.chain, 0);
        case Kind::kContinue:
          return ChainMayTrap(f.chain, group_index + 1);
        case Kind::kOk:
        case Kind::kDrop:
        case Kind::kTrap:
        case Kind::kMirredRedirect:
          return false;
        default:
          break;
      }
    }
    return false;  // all pipe-like: classification ends
  }

  size_t GroupIndex(const Filter& f) const {
    const std::vector<GroupKey>& keys = chain_groups_.at(f.chain);
    return std::lower_bound(keys.begin(), keys.end(), GroupKey{f.chain, f.prio}) - keys.begin();
  }

  std::optional<std::string> Unsafe(const Filter& f) const {
    for (const Action& a : f.actions) {
      if (a.kind == Kind::kGoto && chains_.count(a.chain) &&
          chains_.at(a.chain) == ChainState::kNoHardware) {
        return absl::StrCat("jumps to chain ", a.chain, ", which the hardware cannot hold");
      }
    }
    for (size_t k = 0; k < f.actions.size(); ++k) {
      if (!HasEffect(f.actions[k])) continue;
      if (ContinuationMayTrap(f, GroupIndex(f), k + 1)) {
        return absl::StrCat("its ", f.actions[k].ToString(),
                            " would run in hardware before a possible trap");
      }
      break;  // later effects share the same continuation
    }
    return std::nullopt;
  }

  // The traps the hardware holds, by (chain, prio), and each filter's
  // placement, status and trap.
  void Fill(PlacementResult& result, StatusTable& statuses) const {
    result.hardware_bypassed = chains_.count(0) && chains_.at(0) == ChainState::kNoHardware;
    std::map<GroupKey, uint32_t> trap_at;  // a trap's (chain, prio) -> its index in `traps`
    if (!result.hardware_bypassed) {
      for (const auto& [chain, trap] : chain_traps_) result.traps.push_back(trap);
      for (const auto& [key, trap] : group_traps_) {
        if (chains_.at(key.first) == ChainState::kGroups) result.traps.push_back(trap);
      }
      std::sort(result.traps.begin(), result.traps.end(),
                [](const Filter& a, const Filter& b) { return a.Key() < b.Key(); });
      for (size_t i = 0; i < result.traps.size(); ++i) {
        trap_at.emplace(GroupKey{result.traps[i].chain, result.traps[i].prio}, i);
      }
    }
    auto trap_index = [&](const Filter& trap) { return trap_at.at({trap.chain, trap.prio}); };
    for (size_t i = 0; i < result.filters.size(); ++i) {
      PlacedFilter& placed = result.filters[i];
      const Filter& f = *filters_[i];
      if (f.rare()->egress_of) {  // the hardware has no egress hook: no trap either
        placed.placement = Placement::kSlowPathOnly;
        continue;
      }
      GroupKey key{f.chain, f.prio};
      ChainState state = chains_.at(f.chain);
      if (!result.hardware_bypassed && state == ChainState::kGroups && !trapped_.count(key)) {
        continue;  // hardware
      }
      if (!result.hardware_bypassed && state == ChainState::kGroups) {
        placed.trap = trap_index(group_traps_.at(key));
      } else if (!result.hardware_bypassed && state == ChainState::kChainTrap) {
        placed.trap = trap_index(chain_traps_.at(f.chain));
      }
      if (!result.HwStatus(placed).ok()) {
        placed.placement = Placement::kTrap;  // refused: its status is the answer
        continue;
      }
      placed.placement = Placement::kSlowPathOnly;
      placed.status = statuses.Reason(WhyOutOfHardware(result.hardware_bypassed, state, key));
    }
  }

  // Why an accepted filter of group `key` stays out of the hardware.
  std::string WhyOutOfHardware(bool hardware_bypassed, ChainState state,
                               const GroupKey& key) const {
    if (hardware_bypassed) return "chain 0 cannot hold a trap, so the hardware holds nothing";
    if (state == ChainState::kGroups) return trapped_.at(key);
    if (state == ChainState::kChainTrap) {
      return absl::StrCat("chain ", key.first,
                          " is trapped whole: no trap for a group was accepted");
    }
    return absl::StrCat("chain ", key.first, " cannot hold a trap; the hardware never enters it");
  }

  // A trap with the same protocol and masked key as a slow-path filter of its
  // (chain, prio) cannot be installed (flower: EEXIST, whatever the skip
  // flags), so such a candidate counts as refused and a coarser trap, or the
  // chain trap at a free prio, is tried instead.
  absl::Status OfferTrap(const Filter& trap) const {
    auto it = groups_.find({trap.chain, trap.prio});
    if (it != groups_.end()) {
      for (size_t i : it->second) {
        const Filter& member = *filters_[i];
        if (member.protocol == trap.protocol && member.match == trap.match) {
          return absl::AlreadyExistsError(
              absl::StrCat("the trap would have the key of \"", member.origin().str(), "\""));
        }
      }
    }
    return offer_(trap);
  }

  const std::vector<const Filter*>& filters_;
  const OfferFn& offer_;
  const OfferFn trap_offer_ = [this](const Filter& trap) { return OfferTrap(trap); };
  std::map<GroupKey, std::vector<size_t>> groups_;
  std::map<uint32_t, std::vector<GroupKey>> chain_groups_;  // sorted by prio
  std::map<uint32_t, ChainState> chains_;
  std::map<GroupKey, std::string> trapped_;  // group -> why its accepted members stay out
  std::map<GroupKey, Filter> group_traps_;
  std::map<uint32_t, Filter> chain_traps_;
  std::map<uint32_t, std::vector<bool>> may_trap_;
  bool changed_ = false;
};

}  // namespace

const char* PlacementName(Placement p) {
  switch (p) {
    case Placement::kHardware:
      return "hw";
    case Placement::kTrap:
      return "trap";
    case Placement::kSlowPathOnly:
      return "sw";
  }
  return "?";
}

std::optional<Filter> TrapForGroup(const std::vector<const Filter*>& group, const OfferFn& offer) {
  uint16_t protocol = group.front()->protocol;
  for (const Filter* g : group) {
    if (g->protocol != protocol) protocol = policy::kEthAll;  // IR says this cannot happen
  }
  // A set-match group is cls_bpf, and tc keeps one classifier kind per
  // (chain, prio): its (flower) trap goes at the free prio the compiler
  // leaves before it (the caller checks it is free).
  const uint16_t prio = group.front()->classifier == policy::Classifier::kSetMatch
                            ? static_cast<uint16_t>(group.front()->prio - 1)
                            : group.front()->prio;
  Filter trap = TrapAt(group.front()->chain, prio, protocol,
                       absl::StrCat("hardware trap for chain ", group.front()->chain, " prio ",
                                    group.front()->prio, " (", group.size(), " filter(s))"));
  FlowerMatch m;
  // Keys the mlx5 model always takes; everything else is left to the slow path.
  KeepIfShared(&FlowerMatch::indev, group, m);
  KeepIfShared(&FlowerMatch::src_mac, group, m);
  KeepIfShared(&FlowerMatch::dst_mac, group, m);
  KeepIfShared(&FlowerMatch::vlan_id, group, m);
  KeepIfShared(&FlowerMatch::vlan_eth_type, group, m);
  KeepIfShared(&FlowerMatch::eth_type, group, m);
  KeepIfShared(&FlowerMatch::ip_proto, group, m);
  KeepIfShared(&FlowerMatch::ct_zone, group, m);
  trap.match = m;
  if (offer(trap).ok()) return trap;
  FlowerMatch coarse;
  coarse.indev = m.indev;
  if (coarse.indev && coarse != m) {
    trap.match = coarse;
    if (offer(trap).ok()) return trap;
  }
  trap.match = FlowerMatch{};
  if (offer(trap).ok()) return trap;
  return std::nullopt;
}

std::optional<Filter> TrapForChain(uint32_t chain, uint16_t first_prio, const OfferFn& offer) {
  for (uint16_t prio : {first_prio, uint16_t{1}}) {
    // Chain 0 prio 1 belongs to the agent's hooks (the activation program):
    // a trap there would be replaced by, or replace, the hook.
    if (chain == 0 && prio == policy::Chains::kHookPrio) break;
    Filter trap = TrapAt(chain, prio, policy::kEthAll,
                         absl::StrCat("hardware trap for all of chain ", chain));
    if (offer(trap).ok()) return trap;
    if (prio == 1) break;
  }
  return std::nullopt;
}

std::optional<std::string> NeverInHardware(const policy::Filter& f) {
  if (f.classifier == policy::Classifier::kNdCheck) {
    return "the ND check is a BPF program (cls_bpf): the slow path runs it";
  }
  if (f.classifier == policy::Classifier::kSetMatch) {
    return "a set match is a BPF program (cls_bpf): the slow path runs it";
  }
  if (f.rare()->egress_of) {
    return "an egress hook: mlx5 offloads the ingress of representors, not their egress";
  }
  for (const Action& a : f.actions) {
    if (a.kind == Kind::kMirredMirror && a.device.kind == policy::DeviceRef::Kind::kPort) {
      return absl::StrCat("mirrors to ", a.device.ToString(),
                          ": in hardware the copy would skip that port's egress hook");
    }
  }
  return std::nullopt;
}

PlacementResult Place(const policy::Pipeline& pipeline, const OfferFn& offer) {
  return Place(policy::Pipeline(pipeline), offer);
}

PlacementResult Place(policy::Pipeline&& pipeline, const OfferFn& offer) {
  auto owned = std::make_shared<const std::vector<Filter>>(std::move(pipeline.filters));
  pipeline.filters.clear();
  policy::SharedPipeline shared;
  shared.filters.reserve(owned->size());
  for (const Filter& f : *owned) shared.filters.push_back(&f);
  shared.owners.push_back(std::move(owned));
  shared.sets = std::move(pipeline.sets);
  return Place(std::move(shared), offer);
}

PlacementResult Place(policy::SharedPipeline pipeline, const OfferFn& offer) {
  PlacementResult result = Planner(pipeline.filters, offer).Run();
  result.owners = std::move(pipeline.owners);
  result.sets = std::move(pipeline.sets);
  return result;
}

PlacementResult PlaceWithoutHardware(policy::SharedPipeline pipeline, const absl::Status& refusal,
                                     const PlacementResult* previous, size_t* placed_afresh) {
  // What Planner::Run arrives at when every offer, trap candidates included,
  // is refused: every group is trapped, no trap is accepted, so every chain
  // with a group becomes kNoHardware (chain 0 too, if it has one: then the
  // hardware is bypassed). A filter's placement is then kTrap with its own
  // refusal (or the reason it is never offered), an egress hook's
  // kSlowPathOnly; no filter's status is OK, so neither the bypass nor a
  // chain's state adds a message, and there are no traps.
  PlacementResult result;
  result.filters.reserve(pipeline.filters.size());
  size_t j = 0;
  const std::vector<PlacedFilter>* before = previous != nullptr ? &previous->filters : nullptr;
  StatusTable statuses(result.statuses);
  const uint32_t refused = statuses.Intern(refusal);
  // previous->statuses index -> this result's (kUnmapped until first used).
  constexpr uint32_t kUnmapped = UINT32_MAX;
  std::vector<uint32_t> remap(previous != nullptr ? previous->statuses.size() : 0, kUnmapped);
  for (const Filter* f : pipeline.filters) {
    if (!f->rare()->egress_of) result.hardware_bypassed = result.hardware_bypassed || f->chain == 0;
    if (before != nullptr) {
      // Both lists are in IR key order (the compiler's pipeline order).
      const auto key = f->Key();
      while (j < before->size() && (*before)[j].filter->Key() < key) ++j;
      // The same object, or an equal filter of a recompiled part: placed alike.
      if (j < before->size() && ((*before)[j].filter == f || *(*before)[j].filter == *f)) {
        PlacedFilter placed = (*before)[j];
        uint32_t& mapped = remap[placed.status];
        if (mapped == kUnmapped) mapped = statuses.Intern(previous->HwStatus(placed));
        placed.filter = f;
        placed.status = mapped;
        result.filters.push_back(placed);
        continue;
      }
    }
    if (placed_afresh != nullptr) ++*placed_afresh;
    std::optional<std::string> never = NeverInHardware(*f);
    PlacedFilter placed{f, Placement::kTrap};
    placed.status = never ? statuses.Reason(*never) : refused;
    if (f->rare()->egress_of) placed.placement = Placement::kSlowPathOnly;
    result.filters.push_back(placed);
  }
  result.owners = std::move(pipeline.owners);
  result.sets = std::move(pipeline.sets);
  return result;
}

policy::Pipeline PlacementResult::HardwarePipeline() const {
  policy::Pipeline p;
  p.sets = sets;
  if (hardware_bypassed) return p;
  for (const PlacedFilter& placed : filters) {
    if (placed.placement == Placement::kHardware) p.filters.push_back(*placed.filter);
  }
  p.filters.insert(p.filters.end(), traps.begin(), traps.end());
  std::stable_sort(p.filters.begin(), p.filters.end(),
                   [](const Filter& a, const Filter& b) { return a.Key() < b.Key(); });
  return p;
}

policy::Pipeline PlacementResult::SlowPathPipeline() const {
  policy::Pipeline p;
  p.sets = sets;
  p.filters.reserve(filters.size());
  for (const PlacedFilter& placed : filters) p.filters.push_back(*placed.filter);
  return p;
}

}  // namespace vfguard::offload
