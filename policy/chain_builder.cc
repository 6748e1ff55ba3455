#include "policy/chain_builder.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"

namespace vfguard::policy {
namespace {

template <typename T>
void PutMask(MaskShape& s, int bit, const std::optional<Masked<T>>& f, T& mask) {
  if (!f) return;
  s.present |= 1u << bit;
  mask = f->mask;
}

template <typename T>
void PutPresent(MaskShape& s, int bit, const std::optional<T>& f) {
  if (f) s.present |= 1u << bit;
}

void PutPrefix(MaskShape& s, int bit, const std::optional<IpPrefix>& f, int slot) {
  if (!f) return;
  s.present |= 1u << bit;
  s.prefix_family[slot] = static_cast<uint8_t>(f->addr.family);
  s.prefix_length[slot] = f->length;
}

// The mask shape of a flower filter: which keys are present and with which
// masks (prefixes: family and length). A value, not text: it is computed for
// every filter the compiler builds.
MaskShape ShapeOf(uint16_t protocol, const FlowerMatch& m) {
  MaskShape s;
  s.protocol = protocol;
  PutPresent(s, 0, m.indev);
  PutMask(s, 1, m.src_mac, s.macs[0]);
  PutMask(s, 2, m.dst_mac, s.macs[1]);
  PutPresent(s, 3, m.vlan_id);
  PutPresent(s, 4, m.vlan_eth_type);
  PutPresent(s, 5, m.eth_type);
  PutPrefix(s, 6, m.src_ip, 0);
  PutPrefix(s, 7, m.dst_ip, 1);
  PutPresent(s, 8, m.ip_proto);
  PutMask(s, 9, m.src_port, s.ports[0]);
  PutMask(s, 10, m.dst_port, s.ports[1]);
  PutPresent(s, 11, m.icmp_type);
  PutPresent(s, 12, m.icmp_code);
  PutPresent(s, 13, m.arp_op);
  PutPrefix(s, 14, m.arp_sip, 2);
  PutPrefix(s, 15, m.arp_tip, 3);
  PutMask(s, 16, m.arp_sha, s.macs[2]);
  PutMask(s, 17, m.arp_tha, s.macs[3]);
  PutMask(s, 18, m.ct_state, s.ct_state);
  PutPresent(s, 19, m.ct_zone);
  PutMask(s, 20, m.ct_mark, s.ct_mark);
  return s;
}

}  // namespace

void ChainBuilder::NextStage() {
  ++stage_;
  stage_keys_.clear();
}

void ChainBuilder::AddSetMatch(uint16_t protocol, Shared<FlowerMatch> match, SetMatch set,
                               Shared<std::vector<Action>> actions, Origin origin) {
  Push(protocol, std::move(match), std::move(actions), std::move(origin), 0, &set);
}

void ChainBuilder::Add(uint16_t protocol, const FlowerMatch& match,
                       absl::Span<const Action> actions, std::string_view origin, uint32_t handle) {
  Push(protocol, interner_.Match(match), interner_.Actions(actions),
       !head_.empty() ? interner_.OriginOf(head_, origin) : interner_.OriginOf(origin), handle,
       nullptr);
}

void ChainBuilder::AddShared(uint16_t protocol, Shared<FlowerMatch> match,
                             Shared<std::vector<Action>> actions, Origin origin, uint32_t handle) {
  Push(protocol, std::move(match), std::move(actions), std::move(origin), handle, nullptr);
}

void ChainBuilder::Push(uint16_t protocol, Shared<FlowerMatch> match,
                        Shared<std::vector<Action>> actions, Origin origin, uint32_t handle,
                        SetMatch* set) {
  Entry& e = entries_.emplace_back();  // built in place; dropped again if a duplicate
  e.stage = stage_;
  e.handle = handle;
  if (set != nullptr) {
    e.shape.set_match = true;  // cls_bpf: no masks, one prio per protocol
    e.shape.protocol = protocol;
    e.filter.classifier = Classifier::kSetMatch;
    FilterRare rare = rare_;
    rare.set_match = std::move(*set);
    interner_.SetOrigin(e.filter, origin, rare);
  } else {
    e.shape = ShapeOf(protocol, *match);
    interner_.SetOrigin(e.filter, origin, rare_);
  }
  e.filter.chain = chain_;
  e.filter.protocol = protocol;
  e.filter.match = std::move(match);
  e.filter.actions = std::move(actions);
  const std::optional<SetMatch>& set_match = e.filter.rare()->set_match;
  const StageKey key{protocol, &*e.filter.match, set_match ? &*set_match : nullptr};
  if (!stage_keys_.insert(key).second) entries_.pop_back();  // the first of a stage decides
}

absl::Status ChainBuilder::FinishStage(size_t begin, size_t end, uint32_t& prio,
                                       std::vector<Filter>& out) {
  if (end - begin == 1) return FinishPrio(&begin, 1, prio, out);  // most stages: one filter
  // Shapes in order of first appearance, one prio each. Most stages have a
  // few shapes: each is looked for among those seen, then its members
  // taken, without allocating. Many (a rule's remote prefixes of many
  // lengths): ordered in a map instead.
  constexpr size_t kFewShapes = 8;
  shapes_.clear();
  for (size_t k = begin; k < end; ++k) {
    const MaskShape& shape = entries_[k].shape;
    if (std::none_of(shapes_.begin(), shapes_.end(),
                     [&](const MaskShape* s) { return *s == shape; })) {
      if (shapes_.size() == kFewShapes) return FinishManyShapes(begin, end, prio, out);
      shapes_.push_back(&shape);
    }
  }
  for (const MaskShape* shape : shapes_) {
    members_.clear();
    for (size_t k = begin; k < end; ++k) {
      if (entries_[k].shape == *shape) members_.push_back(k);
    }
    absl::Status st = FinishPrio(members_.data(), members_.size(), prio, out);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status ChainBuilder::FinishManyShapes(size_t begin, size_t end, uint32_t& prio,
                                            std::vector<Filter>& out) {
  std::map<MaskShape, size_t> index;  // shape -> position in `groups`
  std::vector<std::vector<size_t>> groups;
  for (size_t k = begin; k < end; ++k) {
    auto [it, inserted] = index.try_emplace(entries_[k].shape, groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(k);
  }
  for (const std::vector<size_t>& g : groups) {
    absl::Status st = FinishPrio(g.data(), g.size(), prio, out);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status ChainBuilder::FinishPrio(const size_t* members, size_t count, uint32_t& prio,
                                      std::vector<Filter>& out) {
  // tc keeps one classifier kind per (chain, prio): a set-match group
  // (cls_bpf) gets a free prio before it, where placement puts the
  // group's hardware trap (a flower filter; offload/placement.h).
  if (entries_[members[0]].shape.set_match) ++prio;
  if (++prio > 65535) {
    return absl::ResourceExhaustedError(
        absl::StrCat("chain ", chain_, " needs more than 65535 tc prios"));
  }
  const bool explicit_handles = entries_[members[0]].handle != 0;
  absl::flat_hash_set<uint32_t> used;
  uint32_t next = 0;
  for (size_t m = 0; m < count; ++m) {
    Entry& e = entries_[members[m]];
    Filter& f = out.emplace_back(std::move(e.filter));
    f.prio = static_cast<uint16_t>(prio);
    f.handle = explicit_handles ? e.handle : ++next;
    // Numbered handles are distinct by construction; explicit ones are checked.
    if ((e.handle != 0) != explicit_handles ||
        (explicit_handles && count > 1 && !used.insert(f.handle).second)) {
      return absl::InternalError(absl::StrCat("chain ", chain_, " prio ", prio, ": handle ",
                                              f.handle, " of \"", f.origin().str(),
                                              "\" is not a distinct explicit handle"));
    }
  }
  return absl::OkStatus();
}

absl::Status ChainBuilder::Finish(std::vector<Filter>& out) {
  out.reserve(out.size() + entries_.size());
  uint32_t prio = first_prio_ - 1u;
  for (size_t i = 0; i < entries_.size();) {
    size_t end = i;
    while (end < entries_.size() && entries_[end].stage == entries_[i].stage) ++end;
    absl::Status st = FinishStage(i, end, prio, out);
    if (!st.ok()) return st;
    i = end;
  }
  entries_.clear();
  stage_keys_.clear();
  return absl::OkStatus();
}

Action Ok() { return Action{Action::Kind::kOk}; }
Action Drop() { return Action{Action::Kind::kDrop}; }
Action Continue() { return Action{Action::Kind::kContinue}; }
Action GotoChain(uint32_t chain) {
  Action a{Action::Kind::kGoto};
  a.chain = chain;
  return a;
}
Action Ct(uint16_t zone, bool commit) {
  Action a{Action::Kind::kCt};
  a.zone = zone;
  a.commit = commit;
  return a;
}
Action Redirect(const DeviceRef& dev) {
  Action a{Action::Kind::kMirredRedirect};
  a.device = dev;
  return a;
}
Action Mirror(const DeviceRef& dev) {
  Action a{Action::Kind::kMirredMirror};
  a.device = dev;
  return a;
}
Action VlanPush(uint16_t vid) {
  Action a{Action::Kind::kVlanPush};
  a.vlan_id = vid;
  return a;
}
Action VlanPop() { return Action{Action::Kind::kVlanPop}; }

Masked<MacAddr> ExactMac(const MacAddr& mac) { return Masked<MacAddr>{mac, MacAddr::Broadcast()}; }
Masked<MacAddr> MulticastBit() {
  MacAddr bit{{0x01, 0, 0, 0, 0, 0}};
  return Masked<MacAddr>{bit, bit};
}
Masked<uint16_t> ExactPort(uint16_t port) { return Masked<uint16_t>{port, 0xffff}; }

}  // namespace vfguard::policy
