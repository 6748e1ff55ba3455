// The pipeline simulator on hand-built IR: match rules (filter protocol,
// masks, vlan and ct keys) and every action kind.
#include "policy/simulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_join.h"
#include "policy/compiler.h"
#include "policy/model.h"
#include "policy/nd_check.h"
#include "policy/slots.h"

namespace vfguard::policy {
namespace {

using ::testing::HasSubstr;
using Kind = Action::Kind;

IpAddr Ip(const char* s) { return *IpAddr::Parse(s); }
MacAddr Mac(const char* s) { return *MacAddr::Parse(s); }

const DeviceRef kP1 = DeviceRef::OfPort("p1");
const DeviceRef kP2 = DeviceRef::OfPort("p2");
const DeviceRef kUp = DeviceRef::Uplink();

Action A(Kind k) { return Action{k}; }
Action Goto(uint32_t chain) {
  Action a{Kind::kGoto};
  a.chain = chain;
  return a;
}
Action Ct(uint16_t zone, bool commit = false) {
  Action a{Kind::kCt};
  a.zone = zone;
  a.commit = commit;
  return a;
}
Action CtClear() {
  Action a{Kind::kCt};
  a.clear = true;
  return a;
}
Action Redirect(DeviceRef d) {
  Action a{Kind::kMirredRedirect};
  a.device = std::move(d);
  return a;
}
Action Mirror(DeviceRef d) {
  Action a{Kind::kMirredMirror};
  a.device = std::move(d);
  return a;
}
Action Push(uint16_t vid) {
  Action a{Kind::kVlanPush};
  a.vlan_id = vid;
  return a;
}

Filter F(uint32_t chain, uint16_t prio, uint32_t handle, uint16_t proto, FlowerMatch m,
         std::vector<Action> actions) {
  Filter f;
  f.chain = chain;
  f.prio = prio;
  f.handle = handle;
  f.protocol = proto;
  f.match = std::move(m);
  f.actions = std::move(actions);
  f.SetOrigin("test " + std::to_string(chain) + "/" + std::to_string(prio) + "/" +
              std::to_string(handle));
  return f;
}

Packet Tcp(DeviceRef in, uint16_t dport = 80) {
  Packet p;
  p.in = std::move(in);
  p.src_mac = Mac("02:00:00:00:00:01");
  p.dst_mac = Mac("02:00:00:00:00:02");
  p.eth_type = kEthIPv4;
  p.src_ip = Ip("10.0.0.1");
  p.dst_ip = Ip("10.0.0.2");
  p.ip_proto = kProtoTcp;
  p.src_port = 40000;
  p.dst_port = dport;
  return p;
}

std::set<Delivery> Deliveries(const Pipeline& pl, const Packet& p, ConntrackModel& ct) {
  return Simulate(pl, p, ct).deliveries;
}
std::set<Delivery> Deliveries(const Pipeline& pl, const Packet& p) {
  ConntrackModel ct;
  return Deliveries(pl, p, ct);
}
Delivery To(const DeviceRef& d, std::optional<uint16_t> vlan = std::nullopt) {
  return Delivery{d, vlan};
}

TEST(SimulatorTest, FiltersRunInPrioThenHandleOrderWhateverTheirListOrder) {
  Pipeline pl;
  pl.filters = {F(0, 2, 1, kEthAll, {}, {Redirect(kP1)}), F(0, 1, 2, kEthAll, {}, {Redirect(kP2)}),
                F(0, 1, 1, kEthAll, {}, {Redirect(kUp)})};
  ConntrackModel ct;
  SimulationResult r = SimulateWithTrap(pl, Tcp(kP1), ct);
  EXPECT_EQ(r.verdict.deliveries, std::set<Delivery>{To(kUp)});
  ASSERT_EQ(r.filters_run.size(), 1u);
  EXPECT_EQ(r.filters_run[0], std::make_tuple(0u, uint16_t{1}, 1u));
}

TEST(SimulatorTest, NoMatchingFilterMeansTheFrameGoesNowhere) {
  Pipeline pl;
  FlowerMatch m;
  m.indev = kP2;
  pl.filters = {F(0, 1, 1, kEthAll, m, {Redirect(kUp)})};
  Verdict v = Simulate(pl, Tcp(kP1), *std::make_unique<ConntrackModel>());
  EXPECT_TRUE(v.Dropped());
  EXPECT_THAT(v.trace.back(), HasSubstr("no filter matched"));
}

TEST(SimulatorTest, FilterProtocolSeesTheOutermostEthertype) {
  Pipeline pl;
  FlowerMatch vid10;
  vid10.vlan_id = 10;
  FlowerMatch inner_ip;
  inner_ip.vlan_eth_type = kEthIPv4;
  pl.filters = {
      F(0, 1, 1, kEthIPv4, {}, {Redirect(kP1)}), F(0, 2, 1, kEth8021Q, vid10, {Redirect(kP2)}),
      F(0, 3, 1, kEth8021Q, inner_ip, {Redirect(kUp)}), F(0, 4, 1, kEthAll, {}, {A(Kind::kDrop)})};
  Packet untagged = Tcp(kUp);
  EXPECT_EQ(Deliveries(pl, untagged), std::set<Delivery>{To(kP1)});
  Packet tagged = untagged;
  tagged.vlan = 10;  // an IPv4 filter does not see a tagged frame
  EXPECT_EQ(Deliveries(pl, tagged),
            std::set<Delivery>{To(kP2, 10)});  // tag kept: surfaces mismatches
  tagged.vlan = 20;
  EXPECT_EQ(Deliveries(pl, tagged), std::set<Delivery>{To(kUp, 20)});
  tagged.eth_type = kEthArp;
  EXPECT_TRUE(Deliveries(pl, tagged).empty());
  Packet arp = untagged;
  arp.eth_type = kEthArp;
  EXPECT_TRUE(Deliveries(pl, arp).empty());  // only the ETH_P_ALL drop matches
}

TEST(SimulatorTest, EthTypeKeyMatchesUntaggedFramesOnly) {
  Pipeline pl;
  FlowerMatch ipv6;
  ipv6.eth_type = kEthIPv6;
  pl.filters = {F(0, 1, 1, kEthAll, ipv6, {Redirect(kP1)})};
  Packet p = Tcp(kUp);
  p.eth_type = kEthIPv6;
  p.src_ip = Ip("fd00::1");
  p.dst_ip = Ip("fd00::2");
  EXPECT_EQ(Deliveries(pl, p), std::set<Delivery>{To(kP1)});
  p.vlan = 5;
  EXPECT_TRUE(Deliveries(pl, p).empty());
}

TEST(SimulatorTest, MaskedKeys) {
  Pipeline pl;
  FlowerMatch multicast;
  multicast.dst_mac = Masked<MacAddr>{Mac("01:00:00:00:00:00"), Mac("01:00:00:00:00:00")};
  FlowerMatch ports;  // 1024-2047 as one value/mask pair
  ports.ip_proto = kProtoTcp;
  ports.dst_port = Masked<uint16_t>{1024, 0xfc00};
  ports.src_ip = *IpPrefix::Parse("10.0.0.0/24");
  pl.filters = {F(0, 1, 1, kEthAll, multicast, {Redirect(kUp)}),
                F(0, 2, 1, kEthIPv4, ports, {Redirect(kP2)})};
  Packet p = Tcp(kP1, 1024);
  EXPECT_EQ(Deliveries(pl, p), std::set<Delivery>{To(kP2)});
  p.dst_port = 2047;
  EXPECT_EQ(Deliveries(pl, p), std::set<Delivery>{To(kP2)});
  p.dst_port = 2048;
  EXPECT_TRUE(Deliveries(pl, p).empty());
  p.dst_port = 1023;
  EXPECT_TRUE(Deliveries(pl, p).empty());
  p.dst_port = 1500;
  p.src_ip = Ip("10.0.1.1");
  EXPECT_TRUE(Deliveries(pl, p).empty());
  p.dst_mac = Mac("33:33:00:00:00:01");
  EXPECT_EQ(Deliveries(pl, p), std::set<Delivery>{To(kUp)});
  Packet icmp = Tcp(kP1);  // a port key never matches a protocol without ports
  icmp.ip_proto = kProtoIcmp;
  icmp.dst_port = 1024;
  EXPECT_TRUE(Deliveries(pl, icmp).empty());
}

TEST(SimulatorTest, IcmpAndArpKeys) {
  Pipeline pl;
  FlowerMatch echo;
  echo.ip_proto = kProtoIcmp;
  echo.icmp_type = 8;
  echo.icmp_code = 0;
  FlowerMatch arp;
  arp.arp_sip = *IpPrefix::Parse("10.0.0.1/32");
  arp.arp_sha = Masked<MacAddr>{Mac("02:00:00:00:00:01"), MacAddr::Broadcast()};
  pl.filters = {F(0, 1, 1, kEthIPv4, echo, {Redirect(kP1)}),
                F(0, 2, 1, kEthArp, arp, {Redirect(kP2)})};
  Packet ping = Tcp(kUp);
  ping.ip_proto = kProtoIcmp;
  ping.icmp_type = 8;
  EXPECT_EQ(Deliveries(pl, ping), std::set<Delivery>{To(kP1)});
  ping.icmp_code = 1;
  EXPECT_TRUE(Deliveries(pl, ping).empty());
  Packet a;
  a.in = kP1;
  a.eth_type = kEthArp;
  a.arp_sha = Mac("02:00:00:00:00:01");
  a.arp_sip = Ip("10.0.0.1");
  EXPECT_EQ(Deliveries(pl, a), std::set<Delivery>{To(kP2)});
  a.arp_sha = Mac("02:00:00:00:00:03");
  EXPECT_TRUE(Deliveries(pl, a).empty());
}

TEST(SimulatorTest, OkDropAndPipeEndClassificationWithoutForwarding) {
  for (Kind k : {Kind::kOk, Kind::kDrop, Kind::kPipe}) {
    Pipeline pl;
    pl.filters = {F(0, 1, 1, kEthAll, {}, {A(k)}), F(0, 2, 1, kEthAll, {}, {Redirect(kUp)})};
    EXPECT_TRUE(Deliveries(pl, Tcp(kP1)).empty()) << static_cast<int>(k);
  }
  Pipeline pl;  // pipe goes on to the next action of the same filter
  pl.filters = {F(0, 1, 1, kEthAll, {}, {A(Kind::kPipe), Redirect(kP2)})};
  EXPECT_EQ(Deliveries(pl, Tcp(kP1)), std::set<Delivery>{To(kP2)});
}

TEST(SimulatorTest, MirrorCopiesThenOkKeepsTheCopiesOnly) {
  Pipeline pl;
  pl.filters = {F(0, 1, 1, kEthAll, {}, {Mirror(kP1), Mirror(kP2), A(Kind::kOk)})};
  EXPECT_EQ(Deliveries(pl, Tcp(kUp)), (std::set<Delivery>{To(kP1), To(kP2)}));
}

TEST(SimulatorTest, ContinueGoesToTheNextFilterOfTheChain) {
  Pipeline pl;
  FlowerMatch other;
  other.indev = kP2;
  pl.filters = {F(0, 1, 1, kEthAll, {}, {Mirror(kP1), A(Kind::kContinue)}),
                F(0, 1, 2, kEthAll, other, {Redirect(kP2)}),
                F(0, 2, 1, kEthAll, {}, {Push(7), Redirect(kUp)})};
  EXPECT_EQ(Deliveries(pl, Tcp(kUp)), (std::set<Delivery>{To(kP1), To(kUp, 7)}));
}

TEST(SimulatorTest, GotoJumpsAndStartsTheChainFromItsFirstFilter) {
  Pipeline pl;
  pl.filters = {F(0, 1, 1, kEthAll, {}, {Goto(5)}), F(5, 1, 1, kEthIPv4, {}, {Redirect(kP1)}),
                F(5, 2, 1, kEthAll, {}, {Redirect(kP2)})};
  EXPECT_EQ(Deliveries(pl, Tcp(kUp)), std::set<Delivery>{To(kP1)});
  Packet arp = Tcp(kUp);
  arp.eth_type = kEthArp;
  EXPECT_EQ(Deliveries(pl, arp), std::set<Delivery>{To(kP2)});
}

TEST(SimulatorTest, GotoLoopEndsAsADrop) {
  Pipeline pl;
  pl.filters = {F(0, 1, 1, kEthAll, {}, {Mirror(kP1), Goto(1)}),
                F(1, 1, 1, kEthAll, {}, {Goto(0)})};
  ConntrackModel ct;
  Verdict v = Simulate(pl, Tcp(kUp), ct, 50);
  EXPECT_TRUE(v.Dropped());
  EXPECT_THAT(v.trace.back(), HasSubstr("goto loop"));
}

TEST(SimulatorTest, TrapIsReported) {
  Pipeline pl;
  pl.filters = {F(0, 1, 1, kEthAll, {}, {A(Kind::kTrap)}),
                F(0, 2, 1, kEthAll, {}, {Redirect(kUp)})};
  ConntrackModel ct;
  SimulationResult r = SimulateWithTrap(pl, Tcp(kP1), ct);
  EXPECT_TRUE(r.trapped);
  EXPECT_TRUE(r.verdict.Dropped());
  Pipeline none;
  none.filters = {F(0, 2, 1, kEthAll, {}, {Redirect(kUp)})};
  EXPECT_FALSE(SimulateWithTrap(none, Tcp(kP1), ct).trapped);
}

// ct: state for later matches, commit, clear; replies are established.
Pipeline StatefulPipeline() {
  Pipeline pl;
  FlowerMatch est;
  est.ct_state = Masked<uint16_t>{kCtTracked | kCtEstablished, kCtTracked | kCtEstablished};
  est.ct_zone = 3;
  FlowerMatch new_to_80;
  new_to_80.ct_state = Masked<uint16_t>{kCtTracked | kCtNew, kCtTracked | kCtNew};
  new_to_80.ip_proto = kProtoTcp;
  new_to_80.dst_port = Masked<uint16_t>{80, 0xffff};
  FlowerMatch untracked;
  untracked.ct_state = Masked<uint16_t>{0, kCtTracked};
  pl.filters = {F(0, 1, 1, kEthAll, untracked, {Goto(1)}),
                F(0, 2, 1, kEthAll, {}, {Redirect(kUp)}),  // never: ct state set in chain 1 only
                F(1, 1, 1, kEthIPv4, {}, {Ct(3), Goto(2)}),
                F(2, 1, 1, kEthIPv4, est, {Redirect(kP2)}),
                F(2, 2, 1, kEthIPv4, new_to_80, {Ct(3, true), Redirect(kP2)}),
                F(2, 3, 1, kEthAll, {}, {A(Kind::kDrop)})};
  return pl;
}

TEST(SimulatorTest, CtLooksUpCommitsAndMatchesState) {
  Pipeline pl = StatefulPipeline();
  ConntrackModel ct;
  Packet p = Tcp(kP1, 22);
  EXPECT_TRUE(Deliveries(pl, p, ct).empty());  // new, not port 80
  p.dst_port = 80;
  EXPECT_EQ(Deliveries(pl, p, ct), std::set<Delivery>{To(kP2)});
  EXPECT_EQ(ct.CountZone(3), 1u);
  Packet reply = p.Reply(kP2);
  EXPECT_EQ(Deliveries(pl, reply, ct), std::set<Delivery>{To(kP2)});  // est+rpl
  EXPECT_EQ(ct.CountZone(3), 1u);
  Packet again = Tcp(kP1, 22);  // still new: nothing committed it
  EXPECT_TRUE(Deliveries(pl, again, ct).empty());
}

TEST(SimulatorTest, CtOnNonIpDropsLikeActCtAndClearUntracks) {
  Pipeline pl;
  FlowerMatch tracked;
  tracked.ct_state = Masked<uint16_t>{kCtTracked, kCtTracked};
  pl.filters = {F(0, 1, 1, kEthAll, {}, {Ct(4), Goto(1)}),
                F(1, 1, 1, kEthAll, tracked, {Redirect(kP1)}),
                F(1, 2, 1, kEthAll, {}, {Redirect(kP2)}),
                F(2, 1, 1, kEthAll, {}, {Ct(4), CtClear(), Goto(1)})};
  Packet arp = Tcp(kUp);
  arp.eth_type = kEthArp;
  Verdict v = Simulate(pl, arp, *std::make_unique<ConntrackModel>());
  EXPECT_TRUE(v.Dropped());
  EXPECT_THAT(absl::StrJoin(v.trace, "\n"), HasSubstr("non-IP"));
  EXPECT_EQ(Deliveries(pl, Tcp(kUp)), std::set<Delivery>{To(kP1)});
  Packet tagged = Tcp(kUp);
  tagged.vlan = 9;  // act_ct skips the tag: still tracked
  EXPECT_EQ(Deliveries(pl, tagged), std::set<Delivery>{To(kP1, 9)});
  pl.filters[0].actions = {Goto(2)};
  EXPECT_EQ(Deliveries(pl, Tcp(kUp)), std::set<Delivery>{To(kP2)});  // cleared: untracked
}

TEST(SimulatorTest, VlanPushPopAndCopiesCarryTheCurrentTag) {
  Pipeline pl;
  FlowerMatch vid;
  vid.vlan_id = 30;
  pl.filters = {F(0, 1, 1, kEth8021Q, vid, {A(Kind::kVlanPop), Mirror(kP1), Goto(1)}),
                F(0, 2, 1, kEthAll, {}, {Push(40), Mirror(kP2), Goto(1)}),
                F(1, 1, 1, kEth8021Q, {}, {Redirect(kUp)}),
                F(1, 2, 1, kEthAll, {}, {Push(50), Redirect(kUp)})};
  Packet tagged = Tcp(kUp);
  tagged.vlan = 30;
  // Popped: the mirror copy is untagged, chain 1 sees an untagged frame.
  EXPECT_EQ(Deliveries(pl, tagged), (std::set<Delivery>{To(kP1), To(kUp, 50)}));
  // Untagged: pushed 40, the copy to p2 records the tag, chain 1 sees 802.1Q.
  EXPECT_EQ(Deliveries(pl, Tcp(kP1)), (std::set<Delivery>{To(kP2, 40), To(kUp, 40)}));
  // A second push stacks tags: delivered with a marker no semantic delivery has.
  pl.filters[2].actions = {Push(41), Redirect(kUp)};
  std::set<Delivery> stacked = Deliveries(pl, Tcp(kP1));
  EXPECT_EQ(stacked.count(To(kUp, 40)), 0u);
  EXPECT_EQ(stacked.count(To(kUp, 41)), 0u);
}

TEST(SimulatorTest, PopWithoutATagChangesNothing) {
  Pipeline pl;
  pl.filters = {F(0, 1, 1, kEthAll, {}, {A(Kind::kVlanPop), Redirect(kUp)})};
  EXPECT_EQ(Deliveries(pl, Tcp(kP1)), std::set<Delivery>{To(kUp)});
}

}  // namespace
}  // namespace vfguard::policy

namespace vfguard::policy {
namespace {

// Issue 11: what `agentctl trace` shows for the installed rules is this
// trace; the ND check's verdict and reason must be in it.
TEST(SimulatorNdCheck, TraceShowsTheNdVerdictAndReason) {
  Snapshot s;
  s.networks["flat"] = Network{"flat", Segmentation::kFlat, 0};
  for (const char* id : {"a", "b"}) {
    Port p;
    p.id = id;
    p.network_id = "flat";
    p.mac = *MacAddr::Parse(std::string("02:00:00:00:00:0") + id);
    p.fixed_ips = {*IpAddr::Parse(std::string("fd00::") + id)};
    p.representor.ref = static_cast<uint32_t>(s.ports.size() + 1);
    s.ports[id] = p;
  }
  SlotAssignment slots = *AssignSlots(s, {});
  Pipeline pipeline = *Compile(s, slots);
  Packet na;
  na.in = DeviceRef::OfPort("a");
  na.src_mac = s.ports["a"].mac;
  na.dst_mac = *MacAddr::Parse("33:33:00:00:00:01");
  na.eth_type = kEthIPv6;
  na.src_ip = *IpAddr::Parse("fd00::a");
  na.dst_ip = *IpAddr::Parse("ff02::1");
  na.ip_proto = kProtoIcmpv6;
  na.icmp_type = kIcmp6NeighborAdvertisement;
  na.nd_body = NdBody(*IpAddr::Parse("fd00::b"), {});
  ConntrackModel ct;
  Verdict spoofed = Simulate(pipeline, na, ct);
  EXPECT_TRUE(spoofed.Dropped());
  EXPECT_THAT(absl::StrJoin(spoofed.trace, "\n"),
              HasSubstr("nd-check: NA target fd00::b not allowed with MAC 02:00:00:00:00:0a: "
                        "dropped"));
  na.nd_body = NdBody(*IpAddr::Parse("fd00::a"), {{kNdOptTargetLla, 1, s.ports["a"].mac}});
  Verdict good = Simulate(pipeline, na, ct);
  EXPECT_FALSE(good.Dropped());
  EXPECT_THAT(absl::StrJoin(good.trace, "\n"),
              HasSubstr("nd-check: NA for fd00::a passes the ND check, continue"));
}

}  // namespace
}  // namespace vfguard::policy
