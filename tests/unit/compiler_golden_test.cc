// Exact filters for small snapshots: the chain numbers, prios, handles,
// matches and actions docs/pipeline.md promises, written out by hand.
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/chain_builder.h"
#include "policy/compiler.h"
#include "policy/port_range_masks.h"
#include "policy/slots.h"
#include "policy/validate.h"

namespace vfguard::policy {
namespace {

constexpr uint32_t kNetBase = 1u << 27;

// "prio/handle proto key=value ... -> action; action" for one filter.
std::string Line(const Filter& f) {
  const FlowerMatch& m = f.match;
  std::string s = absl::StrCat(f.prio, "/", f.handle, " 0x", absl::Hex(f.protocol));
  if (m.indev) absl::StrAppend(&s, " indev=", m.indev->ToString());
  if (m.src_mac) absl::StrAppend(&s, " smac=", m.src_mac->value.ToString());
  if (m.dst_mac) {
    absl::StrAppend(&s, " dmac=", m.dst_mac->value.ToString(), "/", m.dst_mac->mask.ToString());
  }
  if (m.vlan_id) absl::StrAppend(&s, " vid=", *m.vlan_id);
  if (m.src_ip) absl::StrAppend(&s, " sip=", m.src_ip->ToString());
  if (m.dst_ip) absl::StrAppend(&s, " dip=", m.dst_ip->ToString());
  if (m.ip_proto) absl::StrAppend(&s, " proto=", *m.ip_proto);
  if (m.src_port)
    absl::StrAppend(&s, " sport=", m.src_port->value, "/0x", absl::Hex(m.src_port->mask));
  if (m.dst_port)
    absl::StrAppend(&s, " dport=", m.dst_port->value, "/0x", absl::Hex(m.dst_port->mask));
  if (m.icmp_type) absl::StrAppend(&s, " type=", *m.icmp_type);
  if (m.arp_sip) absl::StrAppend(&s, " asip=", m.arp_sip->ToString());
  if (m.arp_sha) absl::StrAppend(&s, " asha=", m.arp_sha->value.ToString());
  if (m.ct_state) absl::StrAppend(&s, " ct_state=", m.ct_state->value, "/", m.ct_state->mask);
  std::vector<std::string> actions;
  for (const Action& a : f.actions) actions.push_back(a.ToString());
  return absl::StrCat(s, " -> ", absl::StrJoin(actions, "; "));
}

std::vector<std::string> Chain(const Pipeline& p, uint32_t chain) {
  std::vector<std::string> out;
  for (const Filter& f : p.filters) {
    if (f.chain == chain) out.push_back(Line(f));
  }
  return out;
}

Snapshot TwoPorts() {
  Snapshot s;
  s.networks["n1"] = Network{"n1", Segmentation::kVlan, 100};
  SecurityGroup web;
  web.id = "web";
  SecurityGroupRule ssh;
  ssh.direction = Direction::kIngress;
  ssh.protocol = kProtoTcp;
  ssh.ports = PortRange{22, 22};
  ssh.remote_prefix = *IpPrefix::Parse("10.0.0.0/8");
  ssh.priority = 10;
  SecurityGroupRule block;
  block.direction = Direction::kIngress;
  block.protocol = kProtoUdp;
  block.ports = PortRange{1000, 1999};
  block.priority = 5;
  block.action = RuleAction::kDeny;
  web.rules = {ssh, block};
  s.security_groups["web"] = web;
  for (const char* id : {"a", "b"}) {
    Port p;
    p.id = id;
    p.network_id = "n1";
    p.mac = *MacAddr::Parse(absl::StrCat("02:00:00:00:00:0", id));
    p.fixed_ips = {*IpAddr::Parse(absl::StrCat("10.0.0.", id[0] == 'a' ? 10 : 11))};
    p.representor.ref = static_cast<uint32_t>(id[0] - 'a');
    s.ports[id] = p;
  }
  s.ports["a"].security_group_ids = {"web"};
  return s;
}

TEST(CompilerGolden, DispatchByInputDeviceAndVlan) {
  Snapshot s = TwoPorts();
  ASSERT_TRUE(Validate(s).ok());
  auto slots = AssignSlots(s, {});
  auto p = Compile(s, *slots);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(Chain(*p, 0),
            (std::vector<std::string>{
                "2/1 0x3 indev=port:a -> goto chain 16",
                "2/2 0x3 indev=port:b -> goto chain 32",
                absl::StrCat("3/1 0x8100 indev=uplink vid=100 -> vlan pop; goto chain ",
                             kNetBase + 16 + 1),
                "4/1 0x8100 indev=uplink -> drop",
                "5/1 0x3 indev=uplink -> drop",
                "6/1 0x3 -> drop",
            }));
}

TEST(CompilerGolden, IngressRulesInDecisionOrderWithPortMasks) {
  Snapshot s = TwoPorts();
  auto slots = AssignSlots(s, {});
  auto p = Compile(s, *slots);
  ASSERT_TRUE(p.ok());
  // Port a: slot 1, zone 1; ingress rules chain 16 + 6. The deny (priority 5)
  // comes first, one prio per distinct port mask of 1000-1999 (1008-1023 and
  // 1984-1999 share mask 0xfff0, hence one prio); then the SSH allow.
  EXPECT_EQ(Chain(*p, 22), (std::vector<std::string>{
                               "1/1 0x3 ct_state=10/10 -> mirred egress redirect port:a",
                               "2/1 0x800 proto=17 dport=1000/0xfff8 -> drop",
                               "3/1 0x800 proto=17 dport=1008/0xfff0 -> drop",
                               "3/2 0x800 proto=17 dport=1984/0xfff0 -> drop",
                               "4/1 0x800 proto=17 dport=1024/0xfe00 -> drop",
                               "5/1 0x800 proto=17 dport=1536/0xff00 -> drop",
                               "6/1 0x800 proto=17 dport=1792/0xff80 -> drop",
                               "7/1 0x800 proto=17 dport=1920/0xffc0 -> drop",
                               "8/1 0x800 sip=10.0.0.0/8 proto=6 dport=22/0xffff -> ct zone 1 "
                               "commit; mirred egress redirect port:a",
                               "9/1 0x3 -> drop",
                           }));
  // To-chain of a: base traffic, then IP through ct zone 1 to the rules.
  std::vector<std::string> to = Chain(*p, 21);
  ASSERT_GE(to.size(), 3u);
  // (ARP; DHCP reply; DHCPv6 reply; RA/NS/NA share a shape: prios 1-4.)
  EXPECT_EQ(to[to.size() - 3], "5/1 0x800 -> ct zone 1; goto chain 22");
  EXPECT_EQ(to[to.size() - 2], "6/1 0x86dd -> ct zone 1; goto chain 22");
  EXPECT_EQ(to.back(), "7/1 0x3 -> drop");
  // Port b has no group: IP is delivered without conntrack.
  std::vector<std::string> to_b = Chain(*p, 37);
  ASSERT_GE(to_b.size(), 3u);
  EXPECT_EQ(to_b[to_b.size() - 3], "5/1 0x800 -> mirred egress redirect port:b");
}

TEST(CompilerGolden, ForwardingAndFloodOfAVlanNetwork) {
  Snapshot s = TwoPorts();
  auto slots = AssignSlots(s, {});
  auto p = Compile(s, *slots);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(Chain(*p, kNetBase + 16), (std::vector<std::string>{
                                          "1/1 0x3 dmac=02:00:00:00:00:0a/ff:ff:ff:ff:ff:ff -> "
                                          "goto chain 21",
                                          "1/2 0x3 dmac=02:00:00:00:00:0b/ff:ff:ff:ff:ff:ff -> "
                                          "goto chain 37",
                                          "2/1 0x3 -> vlan push id 100; mirred egress redirect "
                                          "uplink",
                                      }));
  // Post chain of a: hairpin, flood (the network's list), forward.
  const uint32_t flood_chain = kNetBase + 16 + 2;
  EXPECT_EQ(Chain(*p, 19),
            (std::vector<std::string>{
                "1/1 0x3 dmac=02:00:00:00:00:0a/ff:ff:ff:ff:ff:ff -> drop",
                absl::StrCat("2/1 0x3 dmac=01:00:00:00:00:00/01:00:00:00:00:00 -> goto chain ",
                             flood_chain),
                absl::StrCat("3/1 0x3 -> goto chain ", kNetBase + 16),
            }));
  // One flood list for the network: a copy to every active port (slots 1
  // and 2 share the first chunk), then back to the uplink unless it came
  // from there.
  EXPECT_EQ(Chain(*p, flood_chain),
            (std::vector<std::string>{
                "2/1 0x3 -> mirred egress mirror port:a; mirred egress mirror port:b; continue",
                "65534/1 0x3 indev=uplink -> drop",
                "65535/1 0x3 -> vlan push id 100; mirred egress redirect uplink",
            }));
}

TEST(CompilerGolden, EgressHooksKeepSplitHorizonAndAdmission) {
  Snapshot s = TwoPorts();
  auto slots = AssignSlots(s, {});
  auto p = Compile(s, *slots);
  ASSERT_TRUE(p.ok());
  // Port a has a group and no VIP: base classes pass, flooded IP does not.
  std::vector<std::string> hook_a = Chain(*p, Chains::EgressHook(1));
  EXPECT_EQ(hook_a, (std::vector<std::string>{
                        "1/1 0x3 dmac=00:00:00:00:00:00/01:00:00:00:00:00 -> ok",
                        "2/1 0x3 indev=port:a -> drop",
                        "3/1 0x806 -> ok",
                        "4/1 0x800 proto=17 sport=67/0xffff dport=68/0xffff -> ok",
                        "5/1 0x800 proto=112 -> drop",
                        "6/1 0x800 -> drop",
                        "7/1 0x86dd proto=17 sport=547/0xffff dport=546/0xffff -> ok",
                        "8/1 0x86dd proto=58 type=134 -> ok",
                        "9/1 0x86dd proto=58 type=135 -> ok",
                        "10/1 0x86dd proto=58 type=136 -> ok",
                        "11/1 0x86dd proto=112 -> drop",
                        "12/1 0x86dd -> drop",
                        "13/1 0x3 -> drop",
                    }));
  for (const Filter& f : p->filters) {
    if (f.chain == Chains::EgressHook(1)) {
      EXPECT_EQ(f.rare()->egress_of, DeviceRef::OfPort("a")) << f.origin();
    } else if (f.chain < Chains::kMaxGotoChain) {
      EXPECT_FALSE(f.rare()->egress_of.has_value()) << f.origin();
    }
  }
  // Port b has no group: every IP class passes, "other ethertype" does not.
  std::vector<std::string> hook_b = Chain(*p, Chains::EgressHook(2));
  ASSERT_EQ(hook_b.size(), 13u);
  EXPECT_EQ(hook_b[5], "6/1 0x800 -> ok");
  EXPECT_EQ(hook_b[11], "12/1 0x86dd -> ok");
  EXPECT_EQ(hook_b[12], "13/1 0x3 -> drop");
}

TEST(CompilerGolden, PortSecurityChecksSourcesPerAllowedMac) {
  Snapshot s = TwoPorts();
  AllowedAddressPair pair;
  pair.prefix = *IpPrefix::Parse("192.168.5.0/24");
  pair.mac = *MacAddr::Parse("02:aa:00:00:00:01");
  s.ports["b"].allowed_address_pairs = {pair};
  ASSERT_TRUE(Validate(s).ok());
  auto slots = AssignSlots(s, {});
  auto p = Compile(s, *slots);
  ASSERT_TRUE(p.ok());
  std::vector<std::string> from = Chain(*p, 32);
  auto has = [&](const std::string& line) {
    return std::find(from.begin(), from.end(), line) != from.end();
  };
  // The pair's MAC may send only from the pair's prefix, in IP and ARP.
  EXPECT_TRUE(std::any_of(from.begin(), from.end(), [](const std::string& l) {
    return l.find("0x800 smac=02:aa:00:00:00:01 sip=192.168.5.0/24 -> goto chain 33") !=
           std::string::npos;
  })) << absl::StrJoin(from, "\n");
  EXPECT_TRUE(std::any_of(from.begin(), from.end(), [](const std::string& l) {
    return l.find(
               "0x806 smac=02:aa:00:00:00:01 asip=192.168.5.0/24 asha=02:aa:00:00:00:01 -> "
               "goto chain 35") != std::string::npos;
  })) << absl::StrJoin(from, "\n");
  for (const std::string& l : from) {
    EXPECT_EQ(l.find("smac=02:aa:00:00:00:01 sip=10.0.0.11"), std::string::npos) << l;
  }
  // DHCP/DHCPv6 server and RA dropped first; everything unmatched last.
  EXPECT_TRUE(has("1/1 0x800 proto=17 sport=67/0xffff dport=68/0xffff -> drop"));
  EXPECT_TRUE(has("3/1 0x86dd proto=58 type=134 -> drop"));
  EXPECT_TRUE(
      has("6/3 0x86dd smac=02:aa:00:00:00:01 sip=::/128 proto=58 type=133 -> goto chain 35"));
  EXPECT_EQ(from.back(), "11/1 0x3 -> drop");
}

// The cover is minimal: its size equals the number of maximal aligned
// blocks found by splitting the 16-bit space recursively (an independent
// computation of the optimal prefix cover).
int MinimalCover(uint32_t lo, uint32_t hi, uint32_t block_lo, uint32_t block_size) {
  uint32_t block_hi = block_lo + block_size - 1;
  if (block_hi < lo || block_lo > hi) return 0;
  if (lo <= block_lo && block_hi <= hi) return 1;
  return MinimalCover(lo, hi, block_lo, block_size / 2) +
         MinimalCover(lo, hi, block_lo + block_size / 2, block_size / 2);
}

TEST(PortRangeMasks, CoverIsMinimal) {
  for (uint32_t lo = 1; lo <= 65535; lo += 97) {
    for (uint32_t hi : {lo, lo + 1, lo + 255, lo * 3, 65535u}) {
      if (hi > 65535 || hi < lo) continue;
      EXPECT_EQ(PortRangeToMasks(lo, hi).size(),
                static_cast<size_t>(MinimalCover(lo, hi, 0, 65536)))
          << lo << "-" << hi;
    }
  }
}

}  // namespace
}  // namespace vfguard::policy
