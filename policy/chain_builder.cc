#include "policy/chain_builder.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace vfguard::policy {
namespace {

constexpr char kSetMatchShape[] = "set-match:";

template <typename T>
void AppendMask(std::string& s, const char* name, const std::optional<Masked<T>>& f) {
  if (!f) return;
  absl::StrAppend(&s, name, "/");
  if constexpr (std::is_same_v<T, MacAddr>) {
    absl::StrAppend(&s, f->mask.ToString());
  } else {
    absl::StrAppend(&s, f->mask);
  }
  s += ';';
}

template <typename T>
void AppendPresent(std::string& s, const char* name, const std::optional<T>& f) {
  if (f) absl::StrAppend(&s, name, ";");
}

void AppendPrefix(std::string& s, const char* name, const std::optional<IpPrefix>& f) {
  if (f) absl::StrAppend(&s, name, "/", static_cast<int>(f->addr.family), "/", f->length, ";");
}

// The mask shape of a filter: which keys are present and with which masks.
std::string ShapeOf(uint16_t protocol, const FlowerMatch& m) {
  std::string s = absl::StrCat(protocol, ":");
  AppendPresent(s, "indev", m.indev);
  AppendMask(s, "smac", m.src_mac);
  AppendMask(s, "dmac", m.dst_mac);
  AppendPresent(s, "vid", m.vlan_id);
  AppendPresent(s, "vet", m.vlan_eth_type);
  AppendPresent(s, "et", m.eth_type);
  AppendPrefix(s, "sip", m.src_ip);
  AppendPrefix(s, "dip", m.dst_ip);
  AppendPresent(s, "proto", m.ip_proto);
  AppendMask(s, "sport", m.src_port);
  AppendMask(s, "dport", m.dst_port);
  AppendPresent(s, "itype", m.icmp_type);
  AppendPresent(s, "icode", m.icmp_code);
  AppendPresent(s, "aop", m.arp_op);
  AppendPrefix(s, "asip", m.arp_sip);
  AppendPrefix(s, "atip", m.arp_tip);
  AppendMask(s, "asha", m.arp_sha);
  AppendMask(s, "atha", m.arp_tha);
  AppendMask(s, "cts", m.ct_state);
  AppendPresent(s, "ctz", m.ct_zone);
  AppendMask(s, "ctm", m.ct_mark);
  return s;
}

}  // namespace

bool ChainBuilder::SameKey::operator()(size_t a, size_t b) const {
  const Filter& x = (*entries)[a].filter;
  const Filter& y = (*entries)[b].filter;
  if (x.protocol != y.protocol) return x.protocol < y.protocol;
  if (x.match != y.match) return x.match < y.match;
  return x.set_match < y.set_match;
}

void ChainBuilder::NextStage() {
  ++stage_;
  stage_keys_.clear();
}

void ChainBuilder::AddSetMatch(uint16_t protocol, FlowerMatch match, SetMatch set,
                               std::vector<Action> actions, std::string origin) {
  Entry e;
  e.shape = absl::StrCat(kSetMatchShape, protocol);
  e.filter.classifier = Classifier::kSetMatch;
  e.filter.set_match = std::move(set);
  Push(std::move(e), protocol, std::move(match), std::move(actions), std::move(origin));
}

void ChainBuilder::Add(uint16_t protocol, FlowerMatch match, std::vector<Action> actions,
                       std::string origin, uint32_t handle) {
  Entry e;
  e.shape = ShapeOf(protocol, match);
  e.handle = handle;
  Push(std::move(e), protocol, std::move(match), std::move(actions), std::move(origin));
}

void ChainBuilder::Push(Entry e, uint16_t protocol, FlowerMatch match, std::vector<Action> actions,
                        std::string origin) {
  e.stage = stage_;
  e.filter.chain = chain_;
  e.filter.protocol = protocol;
  e.filter.match = std::move(match);
  e.filter.actions = std::move(actions);
  e.filter.origin = std::move(origin);
  entries_.push_back(std::move(e));
  if (!stage_keys_.insert(entries_.size() - 1).second) entries_.pop_back();
}

absl::Status ChainBuilder::Finish(std::vector<Filter>& out) {
  uint32_t prio = first_prio_ - 1u;
  size_t i = 0;
  while (i < entries_.size()) {
    // One stage: shapes in order of first appearance, one prio each.
    size_t end = i;
    while (end < entries_.size() && entries_[end].stage == entries_[i].stage) ++end;
    std::vector<std::string> shapes;
    std::map<std::string, std::vector<size_t>> by_shape;
    for (size_t k = i; k < end; ++k) {
      auto [it, inserted] = by_shape.try_emplace(entries_[k].shape);
      if (inserted) shapes.push_back(entries_[k].shape);
      it->second.push_back(k);
    }
    for (const std::string& shape : shapes) {
      // tc keeps one classifier kind per (chain, prio): a set-match group
      // (cls_bpf) gets a free prio before it, where placement puts the
      // group's hardware trap (a flower filter; offload/placement.h).
      if (absl::StartsWith(shape, kSetMatchShape)) ++prio;
      if (++prio > 65535) {
        return absl::ResourceExhaustedError(
            absl::StrCat("chain ", chain_, " needs more than 65535 tc prios"));
      }
      const std::vector<size_t>& members = by_shape[shape];
      const bool explicit_handles = entries_[members.front()].handle != 0;
      std::set<uint32_t> used;
      uint32_t next = 0;
      for (size_t k : members) {
        Filter f = std::move(entries_[k].filter);
        f.prio = static_cast<uint16_t>(prio);
        f.handle = explicit_handles ? entries_[k].handle : ++next;
        if ((entries_[k].handle != 0) != explicit_handles || !used.insert(f.handle).second) {
          return absl::InternalError(absl::StrCat("chain ", chain_, " prio ", prio, ": handle ",
                                                  f.handle, " of \"", f.origin.str(),
                                                  "\" is not a distinct explicit handle"));
        }
        out.push_back(std::move(f));
      }
    }
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
