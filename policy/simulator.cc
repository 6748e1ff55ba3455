// tc semantics of the IR, as the kernel's flower classifier and actions
// behave on the shared ingress block (see simulator.h for the contract).
#include "policy/simulator.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/nd_check.h"

namespace vfguard::policy {
namespace {

// A frame with more than one tag is delivered with this id, which no
// semantic delivery carries, so that a double push never looks correct.
constexpr uint16_t kStackedTags = 0xffff;

// The frame as tc sees it while it moves through the block.
struct FrameState {
  Packet packet;
  std::vector<uint16_t> tags;  // 802.1Q tags, back() is the outermost
  uint16_t ct_state = 0;       // 0 = untracked
  uint16_t ct_zone = 0;        // flower reports zone 0 for untracked frames
};

bool MacMatches(const std::optional<Masked<MacAddr>>& key, const MacAddr& value) {
  if (!key) return true;
  for (int i = 0; i < 6; ++i) {
    if ((value.bytes[i] & key->mask.bytes[i]) != (key->value.bytes[i] & key->mask.bytes[i])) {
      return false;
    }
  }
  return true;
}

bool PrefixMatches(const std::optional<IpPrefix>& key, const IpAddr& value) {
  return !key || key->Contains(value);
}

template <typename T>
bool MaskedMatches(const std::optional<Masked<T>>& key, T value) {
  return !key || (value & key->mask) == (key->value & key->mask);
}

template <typename T>
bool ExactMatches(const std::optional<T>& key, T value) {
  return !key || *key == value;
}

bool IsArpLike(uint16_t eth_type) { return eth_type == kEthArp || eth_type == kEthRarp; }

bool Matches(const Filter& f, const FrameState& s) {
  const Packet& p = s.packet;
  const FlowerMatch& m = f.match;
  const bool tagged = !s.tags.empty();
  // tc compares the filter protocol with the outermost protocol: 802.1Q for
  // a tagged frame (so only ETH_P_ALL and 802.1Q filters see it).
  const uint16_t outer = tagged ? kEth8021Q : p.eth_type;
  if (f.protocol != kEthAll && f.protocol != outer) return false;
  if (m.indev && *m.indev != p.in) return false;
  if (!MacMatches(m.src_mac, p.src_mac) || !MacMatches(m.dst_mac, p.dst_mac)) return false;
  if (m.vlan_id && (!tagged || s.tags.back() != *m.vlan_id)) return false;
  if (m.vlan_eth_type) {
    uint16_t inner = s.tags.size() > 1 ? kEth8021Q : p.eth_type;
    if (!tagged || inner != *m.vlan_eth_type) return false;
  }
  if (m.eth_type && (tagged || p.eth_type != *m.eth_type)) return false;
  // L3/L4 keys see through the tag (the flow dissector skips it).
  if ((m.src_ip || m.dst_ip || m.ip_proto) && !p.IsIp()) return false;
  if (!PrefixMatches(m.src_ip, p.src_ip) || !PrefixMatches(m.dst_ip, p.dst_ip)) return false;
  if (!ExactMatches(m.ip_proto, p.ip_proto)) return false;
  if (m.src_port || m.dst_port) {
    if (!p.HasPorts()) return false;
    if (!MaskedMatches(m.src_port, p.src_port) || !MaskedMatches(m.dst_port, p.dst_port)) {
      return false;
    }
  }
  if (m.icmp_type || m.icmp_code) {
    if (!p.IsIcmp()) return false;
    if (!ExactMatches(m.icmp_type, p.icmp_type) || !ExactMatches(m.icmp_code, p.icmp_code)) {
      return false;
    }
  }
  if (m.arp_op || m.arp_sip || m.arp_tip || m.arp_sha || m.arp_tha) {
    if (!IsArpLike(p.eth_type)) return false;
    if (!ExactMatches(m.arp_op, p.arp_op)) return false;
    if (!PrefixMatches(m.arp_sip, p.arp_sip) || !PrefixMatches(m.arp_tip, p.arp_tip)) {
      return false;
    }
    if (!MacMatches(m.arp_sha, p.arp_sha) || !MacMatches(m.arp_tha, p.arp_tha)) return false;
  }
  if (!MaskedMatches(m.ct_state, s.ct_state)) return false;
  if (!ExactMatches(m.ct_zone, s.ct_zone)) return false;
  if (!MaskedMatches(m.ct_mark, uint32_t{0})) return false;  // nothing sets a mark
  return true;
}

void SortByPrio(std::vector<const Filter*>& filters) {
  std::stable_sort(filters.begin(), filters.end(), [](const Filter* a, const Filter* b) {
    return std::tie(a->prio, a->handle) < std::tie(b->prio, b->handle);
  });
}

// Filters of each block chain in evaluation order (egress hooks left out).
std::map<uint32_t, std::vector<const Filter*>> IndexByChain(const Pipeline& pipeline) {
  std::map<uint32_t, std::vector<const Filter*>> chains;
  for (const Filter& f : pipeline.filters) {
    if (!f.rare()->egress_of) chains[f.chain].push_back(&f);
  }
  for (auto& [chain, filters] : chains) SortByPrio(filters);
  return chains;
}

// Filters of each device's egress hook in evaluation order.
std::map<DeviceRef, std::vector<const Filter*>> IndexEgressHooks(const Pipeline& pipeline) {
  std::map<DeviceRef, std::vector<const Filter*>> hooks;
  for (const Filter& f : pipeline.filters) {
    if (f.rare()->egress_of) hooks[*f.rare()->egress_of].push_back(&f);
  }
  for (auto& [dev, filters] : hooks) SortByPrio(filters);
  return hooks;
}

// The ND check program's map as the agent keeps it: the `nd_allowed` entry
// of each port's filter in the ND chain, keyed by its `indev`.
std::map<DeviceRef, const std::vector<NdAllowed>*> IndexNdMap(const Pipeline& pipeline) {
  std::map<DeviceRef, const std::vector<NdAllowed>*> entries;
  for (const Filter& f : pipeline.filters) {
    if (!f.rare()->nd_allowed.empty() && f.match->indev)
      entries[*f.match->indev] = &f.rare()->nd_allowed;
  }
  return entries;
}

std::string CtStateName(uint16_t st) {
  if (st == 0) return "untracked";
  std::vector<std::string> bits;
  if (st & kCtTracked) bits.push_back("+trk");
  if (st & kCtNew) bits.push_back("+new");
  if (st & kCtEstablished) bits.push_back("+est");
  if (st & kCtReply) bits.push_back("+rpl");
  return absl::StrJoin(bits, "");
}

class Run {
 public:
  Run(const Pipeline& pipeline, const Packet& packet, ConntrackModel& ct, int max_steps)
      : chains_(IndexByChain(pipeline)),
        hooks_(IndexEgressHooks(pipeline)),
        nd_map_(IndexNdMap(pipeline)),
        sets_(&pipeline.sets),
        ct_(ct),
        max_steps_(max_steps) {
    s_.packet = packet;
    if (packet.vlan) s_.tags.push_back(*packet.vlan);
  }

  SimulationResult Go() {
    uint32_t chain = 0;
    size_t next_index = 0;
    int steps = 0;
    while (true) {
      const Filter* hit = nullptr;
      auto it = chains_.find(chain);
      if (it != chains_.end()) {
        for (size_t i = next_index; i < it->second.size(); ++i) {
          if (Matches(*it->second[i], s_) && InSet(*it->second[i])) {
            hit = it->second[i];
            next_index = i + 1;
            break;
          }
        }
      }
      if (hit == nullptr) {
        Note(absl::StrCat("chain ", chain, ": no filter matched; the frame goes nowhere"));
        return Done();
      }
      if (++steps > max_steps_) {
        r_.verdict.deliveries.clear();
        Note(absl::StrCat("more than ", max_steps_, " filters matched (goto loop?): dropped"));
        return Done();
      }
      r_.filters_run.push_back(hit->Key());
      if (hit->classifier == Classifier::kNdCheck) {
        if (!NdCheckPasses(*hit)) return Done();
        continue;  // TC_ACT_UNSPEC: the next filter of this chain
      }
      std::vector<std::string> actions;
      for (const Action& a : hit->actions) actions.push_back(a.ToString());
      Note(absl::StrCat("chain ", hit->chain, " prio ", hit->prio, " handle ", hit->handle, " [",
                        hit->origin().str(), "]: ", absl::StrJoin(actions, ", ")));
      switch (RunActions(*hit)) {
        case Next::kStop:
          return Done();
        case Next::kContinue:
          break;  // next filter of this chain, after `hit`
        case Next::kGoto:
          chain = goto_chain_;
          next_index = 0;
          break;
      }
    }
  }

 private:
  enum class Next { kStop, kContinue, kGoto };

  void Note(std::string s) { r_.verdict.trace.push_back(std::move(s)); }

  // A set-match filter (cls_bpf, classifier mode) matches only when its
  // remote address is in its set; other filters are not concerned.
  bool InSet(const Filter& f) const {
    if (f.classifier != Classifier::kSetMatch || !f.rare()->set_match) return true;
    auto it = sets_->find(f.rare()->set_match->set);
    if (it == sets_->end()) return false;
    const IpAddr& a = f.rare()->set_match->remote_is_src ? s_.packet.src_ip : s_.packet.dst_ip;
    for (const IpPrefix& prefix : it->second) {
      if (prefix.Contains(a)) return true;
    }
    return false;
  }

  // The ND check program (cls_bpf, direct action): drops a bad NS/NA,
  // continues with anything else; a port without a map entry is dropped.
  bool NdCheckPasses(const Filter& f) {
    std::string where =
        absl::StrCat("chain ", f.chain, " prio ", f.prio, " [", f.origin().str(), "]: ");
    if (!s_.packet.IsNd() || !s_.tags.empty()) {
      Note(where + "not an untagged NS/NA, continue");
      return true;
    }
    auto it = nd_map_.find(s_.packet.in);
    if (it == nd_map_.end()) {
      Note(absl::StrCat(where, "no ND map entry for ", s_.packet.in.ToString(), ": dropped"));
      return false;
    }
    NdCheckResult r = CheckNdMessage(s_.packet, *it->second);
    Note(absl::StrCat(where, "nd-check: ", r.reason, r.ok ? ", continue" : ": dropped"));
    return r.ok;
  }

  // The device's clsact egress hook, which every frame sent out of it passes
  // (mirror copies and redirects alike). flower's indev there is skb_iif,
  // which act_mirred set to the device the frame entered on: the frame's
  // input device. Only ok, drop, pipe and continue occur there; no match
  // lets the frame out.
  bool EgressHookPasses(const DeviceRef& out) {
    auto it = hooks_.find(out);
    if (it == hooks_.end()) return true;
    for (const Filter* f : it->second) {
      if (!Matches(*f, s_)) continue;
      r_.filters_run.push_back(f->Key());
      Note(absl::StrCat("  egress hook of ", out.ToString(), " prio ", f->prio, " [",
                        f->origin().str(), "]"));
      for (const Action& a : f->actions) {
        switch (a.kind) {
          case Action::Kind::kPipe:
            continue;
          case Action::Kind::kContinue:
            break;
          case Action::Kind::kOk:
            return true;
          case Action::Kind::kDrop:
            Note(absl::StrCat("  not delivered to ", out.ToString(), ": its egress hook drops it"));
            return false;
          default:
            Note(absl::StrCat("  ", a.ToString(), " in an egress hook is not modelled: dropped"));
            return false;
        }
        break;  // continue: the next filter of the hook
      }
    }
    return true;
  }

  void Deliver(const DeviceRef& out) {
    if (!EgressHookPasses(out)) return;
    std::optional<uint16_t> tag;
    if (!s_.tags.empty()) tag = s_.tags.size() == 1 ? s_.tags.back() : kStackedTags;
    r_.verdict.deliveries.insert(Delivery{out, tag});
    Note(absl::StrCat("  delivered to ", out.ToString(),
                      tag ? absl::StrCat(" tagged vlan ", *tag) : std::string(),
                      s_.tags.size() > 1 ? " (several tags stacked)" : ""));
  }

  Next RunActions(const Filter& f) {
    for (const Action& a : f.actions) {
      switch (a.kind) {
        case Action::Kind::kOk:    // accepted by tc; nothing forwards it further
        case Action::Kind::kDrop:  // dropped
          return Next::kStop;
        case Action::Kind::kPipe:
          break;
        case Action::Kind::kContinue:
          return Next::kContinue;
        case Action::Kind::kTrap:
          r_.trapped = true;
          Note("  trapped to the slow path");
          return Next::kStop;
        case Action::Kind::kGoto:
          goto_chain_ = a.chain;
          return Next::kGoto;
        case Action::Kind::kCt:
          if (!Ct(a)) return Next::kStop;
          break;
        case Action::Kind::kMirredMirror:
          Deliver(a.device);
          break;
        case Action::Kind::kMirredRedirect:
          Deliver(a.device);
          return Next::kStop;
        case Action::Kind::kVlanPush:
          s_.tags.push_back(a.vlan_id);
          break;
        case Action::Kind::kVlanPop:
          if (!s_.tags.empty()) s_.tags.pop_back();  // no tag: act_vlan leaves it
          break;
      }
    }
    // Only pipe-like actions ran: tc ends classification with that verdict,
    // which leaves the frame where it was.
    return Next::kStop;
  }

  // act_ct. Returns false when it drops the frame.
  bool Ct(const Action& a) {
    if (a.clear) {
      s_.ct_state = 0;
      s_.ct_zone = 0;
      return true;
    }
    if (!s_.packet.IsIp()) {
      // act_ct drops what is neither IPv4 nor IPv6 (it skips vlan tags to
      // find out, so tagged IP frames are tracked).
      Note("  ct on a non-IP frame: dropped by act_ct");
      return false;
    }
    s_.ct_state = ct_.Lookup(a.zone, s_.packet);
    s_.ct_zone = a.zone;
    if (a.commit) ct_.Commit(a.zone, s_.packet);
    Note(absl::StrCat("  ct zone ", a.zone, ": ", CtStateName(s_.ct_state),
                      a.commit ? ", committed" : ""));
    return true;
  }

  SimulationResult Done() { return std::move(r_); }

  std::map<uint32_t, std::vector<const Filter*>> chains_;
  std::map<DeviceRef, std::vector<const Filter*>> hooks_;
  std::map<DeviceRef, const std::vector<NdAllowed>*> nd_map_;
  const std::map<std::string, std::vector<IpPrefix>>* sets_;
  ConntrackModel& ct_;
  const int max_steps_;
  FrameState s_;
  uint32_t goto_chain_ = 0;
  SimulationResult r_;
};

}  // namespace

SimulationResult SimulateWithTrap(const Pipeline& pipeline, const Packet& packet,
                                  ConntrackModel& conntrack, int max_steps) {
  return Run(pipeline, packet, conntrack, max_steps).Go();
}

Verdict Simulate(const Pipeline& pipeline, const Packet& packet, ConntrackModel& conntrack,
                 int max_steps) {
  return SimulateWithTrap(pipeline, packet, conntrack, max_steps).verdict;
}

}  // namespace vfguard::policy
