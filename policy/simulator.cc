#include "policy/simulator.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"

namespace vfguard::policy {
namespace {

// The frame as tc sees it while it moves through the block.
struct FrameState {
  Packet packet;
  std::optional<uint16_t> vlan;  // current outer tag
  uint16_t ct_state = 0;         // 0 = untracked
  std::optional<uint16_t> ct_zone;
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
  // Filter protocol: 802.1Q filters see tagged frames only; others see the
  // outermost protocol, which for a tagged frame is 802.1Q.
  uint16_t outer = s.vlan ? kEth8021Q : p.eth_type;
  if (f.protocol != kEthAll && f.protocol != outer) return false;
  if (m.indev && *m.indev != p.in) return false;
  if (!MacMatches(m.src_mac, p.src_mac) || !MacMatches(m.dst_mac, p.dst_mac)) return false;
  if (m.vlan_id && (!s.vlan || *s.vlan != *m.vlan_id)) return false;
  if (m.vlan_eth_type && (!s.vlan || p.eth_type != *m.vlan_eth_type)) return false;
  if (m.eth_type && (s.vlan || p.eth_type != *m.eth_type)) return false;
  bool ip = p.IsIp();
  if ((m.src_ip || m.dst_ip || m.ip_proto) && !ip) return false;
  if (m.src_ip && !PrefixMatches(m.src_ip, p.src_ip)) return false;
  if (m.dst_ip && !PrefixMatches(m.dst_ip, p.dst_ip)) return false;
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
  if (m.ct_zone && (!s.ct_zone || *s.ct_zone != *m.ct_zone)) return false;
  if (m.ct_mark && !MaskedMatches(m.ct_mark, uint32_t{0})) return false;
  return true;
}

// Filters of each chain in evaluation order.
std::map<uint32_t, std::vector<const Filter*>> IndexByChain(const Pipeline& pipeline) {
  std::map<uint32_t, std::vector<const Filter*>> chains;
  for (const Filter& f : pipeline.filters) chains[f.chain].push_back(&f);
  for (auto& [chain, filters] : chains) {
    std::stable_sort(filters.begin(), filters.end(), [](const Filter* a, const Filter* b) {
      return std::tie(a->prio, a->handle) < std::tie(b->prio, b->handle);
    });
  }
  return chains;
}

void Deliver(Verdict& v, const DeviceRef& out, const FrameState& s) {
  v.deliveries.insert(Delivery{out, s.vlan});
}

}  // namespace

SimulationResult SimulateWithTrap(const Pipeline& pipeline, const Packet& packet,
                                  ConntrackModel& conntrack, int max_steps) {
  SimulationResult result;
  Verdict& verdict = result.verdict;
  std::map<uint32_t, std::vector<const Filter*>> chains = IndexByChain(pipeline);
  FrameState s{packet, packet.vlan};
  uint32_t chain = 0;
  size_t next_index = 0;
  int steps = 0;
  while (true) {
    auto it = chains.find(chain);
    const Filter* hit = nullptr;
    if (it != chains.end()) {
      for (size_t i = next_index; i < it->second.size(); ++i) {
        if (Matches(*it->second[i], s)) {
          hit = it->second[i];
          next_index = i + 1;
          break;
        }
      }
    }
    if (hit == nullptr) {
      verdict.trace.push_back(
          absl::StrCat("chain ", chain, ": no filter matched; frame goes nowhere"));
      return result;
    }
    if (++steps > max_steps) {
      verdict.deliveries.clear();
      verdict.trace.push_back("step limit reached (goto loop?): dropped");
      return result;
    }
    verdict.trace.push_back(absl::StrCat("chain ", hit->chain, " prio ", hit->prio, " handle ",
                                         hit->handle, ": ", hit->origin));
    bool next_filter = false;
    bool jumped = false;
    for (const Action& a : hit->actions) {
      switch (a.kind) {
        case Action::Kind::kOk:  // accepted by tc; nothing forwards it further
        case Action::Kind::kDrop:
          return result;
        case Action::Kind::kPipe:
          continue;
        case Action::Kind::kContinue:
          next_filter = true;
          break;
        case Action::Kind::kTrap:
          result.trapped = true;
          verdict.trace.push_back("trap to slow path");
          return result;
        case Action::Kind::kGoto:
          chain = a.chain;
          next_index = 0;
          jumped = true;
          break;
        case Action::Kind::kCt:
          if (a.clear) {
            s.ct_state = 0;
            s.ct_zone.reset();
            continue;
          }
          if (!s.packet.IsIp() || s.vlan) {
            // act_ct passes non-IP frames untouched (untracked).
            s.ct_state = 0;
            s.ct_zone.reset();
            continue;
          }
          s.ct_state = conntrack.Lookup(a.zone, s.packet);
          s.ct_zone = a.zone;
          if (a.commit) conntrack.Commit(a.zone, s.packet);
          continue;
        case Action::Kind::kMirredMirror:
          Deliver(verdict, a.device, s);
          continue;
        case Action::Kind::kMirredRedirect:
          Deliver(verdict, a.device, s);
          return result;
        case Action::Kind::kVlanPush:
          s.vlan = a.vlan_id;
          continue;
        case Action::Kind::kVlanPop:
          s.vlan.reset();
          continue;
      }
      if (next_filter || jumped) break;
    }
    if (jumped) continue;
    if (next_filter) continue;  // keep scanning this chain after `hit`
    // All actions were pipe-like: tc ends classification with that verdict,
    // which leaves the frame where it was.
    return result;
  }
}

Verdict Simulate(const Pipeline& pipeline, const Packet& packet, ConntrackModel& conntrack,
                 int max_steps) {
  return SimulateWithTrap(pipeline, packet, conntrack, max_steps).verdict;
}

}  // namespace vfguard::policy
