// Kernel tier for conntrack revocation: real conntrack entries (created
// through ctnetlink, and made by real traffic through act_ct) are revoked by
// Revoke over NetlinkCtBackend after a policy change; a dump afterwards holds
// exactly the entries the new state still allows, and entries of zones the
// change does not concern are untouched.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "agent/conntrack_revoker.h"
#include "agent/netlink_ct_backend.h"
#include "policy/validate.h"

namespace vfguard::agent {
namespace {

using netlink::CtEntry;
using netlink::CtTuple;
using policy::Direction;
using policy::IpAddr;
using policy::SecurityGroupRule;
using policy::Snapshot;

int Sh(const std::string& cmd) {
  int rc = system(cmd.c_str());
  if (rc != 0) fprintf(stderr, "failed (%d): %s\n", rc, cmd.c_str());
  return rc;
}

IpAddr Ip(const char* s) { return *IpAddr::Parse(s); }

CtEntry Established(uint16_t zone, uint8_t proto, const char* src, uint16_t sport, const char* dst,
                    uint16_t dport) {
  CtEntry e;
  e.zone = zone;
  e.orig.src = ToCtAddress(Ip(src));
  e.orig.dst = ToCtAddress(Ip(dst));
  e.orig.proto = proto;
  if (proto == IPPROTO_ICMP) {
    e.orig.icmp_type = 8;
    e.orig.icmp_id = sport;
  } else {
    e.orig.src_port = sport;
    e.orig.dst_port = dport;
  }
  e.reply = e.orig;
  std::swap(e.reply.src, e.reply.dst);
  std::swap(e.reply.src_port, e.reply.dst_port);
  if (proto == IPPROTO_ICMP) e.reply.icmp_type = 0;
  e.status = IPS_SEEN_REPLY | IPS_ASSURED;
  e.timeout = 600;
  if (proto == IPPROTO_TCP) e.tcp_state = 3;  // TCP_CONNTRACK_ESTABLISHED
  return e;
}

SecurityGroupRule Rule(Direction d, std::optional<uint8_t> proto,
                       std::optional<uint16_t> port = std::nullopt) {
  SecurityGroupRule r;
  r.direction = d;
  r.protocol = proto;
  if (port) r.ports = policy::PortRange{*port, *port};
  return r;
}

void AddPort(Snapshot& s, const char* id, const char* net, const char* mac, const char* ip,
             std::vector<std::string> groups) {
  policy::Port p;
  p.id = id;
  p.network_id = net;
  p.mac = *policy::MacAddr::Parse(mac);
  p.fixed_ips = {Ip(ip)};
  p.security_group_ids = std::move(groups);
  p.representor.ref = std::string("rep_") + id;
  s.ports[id] = p;
}

// a (192.0.7.2, group web) and b, c (members of admins) on a flat network;
// web: ingress tcp 80 and 8080 from anywhere, tcp 22 from admins, icmp;
// egress any. admins: ingress/egress any.
Snapshot BaseSnapshot() {
  Snapshot s;
  s.networks["flat"] = policy::Network{"flat", policy::Segmentation::kFlat, 0};
  AddPort(s, "a", "flat", "02:00:00:00:00:0a", "192.0.7.2", {"web"});
  AddPort(s, "b", "flat", "02:00:00:00:00:0b", "192.0.7.11", {"admins"});
  AddPort(s, "c", "flat", "02:00:00:00:00:0c", "192.0.7.12", {"admins"});
  policy::SecurityGroup web{"web", true, {}};
  web.rules.push_back(Rule(Direction::kIngress, policy::kProtoTcp, 80));
  web.rules.push_back(Rule(Direction::kIngress, policy::kProtoTcp, 8080));
  SecurityGroupRule ssh = Rule(Direction::kIngress, policy::kProtoTcp, 22);
  ssh.remote_group_id = "admins";
  web.rules.push_back(ssh);
  web.rules.push_back(Rule(Direction::kIngress, policy::kProtoIcmp));
  web.rules.push_back(Rule(Direction::kEgress, std::nullopt));
  s.security_groups["web"] = web;
  policy::SecurityGroup admins{"admins", true, {}};
  admins.rules.push_back(Rule(Direction::kEgress, std::nullopt));
  admins.rules.push_back(Rule(Direction::kIngress, std::nullopt));
  s.security_groups["admins"] = admins;
  return s;
}

std::set<CtTuple> Origs(CtBackend& ct, uint16_t zone) {
  std::set<CtTuple> out;
  auto entries = ct.DumpZone(zone);
  EXPECT_TRUE(entries.ok()) << entries.status();
  if (entries.ok()) {
    for (const CtEntry& e : *entries) out.insert(e.orig);
  }
  return out;
}

TEST(CtRevokeKernel, CreatedEntriesRevokedExactly) {
  auto backend = NetlinkCtBackend::Open();
  ASSERT_TRUE(backend.ok()) << backend.status();
  CtBackend& ct = **backend;
  Snapshot old_s = BaseSnapshot();
  ASSERT_TRUE(policy::Validate(old_s).ok()) << policy::Validate(old_s);
  auto old_slots = policy::AssignSlots(old_s, {}, 20, 29);
  ASSERT_TRUE(old_slots.ok());
  const uint16_t za = old_slots->port_zone.at("a");
  const uint16_t zb = old_slots->port_zone.at("b");
  const uint16_t zc = old_slots->port_zone.at("c");

  // Zone a: web 80 (to be revoked), 8080 (kept), ssh from b (kept), ssh from
  // c (revoked with c), icmp (kept), egress (kept). Zone b: b -> a:22 (kept).
  // Zone c: two entries (flushed). Zone 40 is nobody's: untouched.
  CtEntry a_http = Established(za, IPPROTO_TCP, "203.0.113.5", 40000, "192.0.7.2", 80);
  CtEntry a_alt = Established(za, IPPROTO_TCP, "203.0.113.5", 40001, "192.0.7.2", 8080);
  CtEntry a_ssh_b = Established(za, IPPROTO_TCP, "192.0.7.11", 50000, "192.0.7.2", 22);
  CtEntry a_ssh_c = Established(za, IPPROTO_TCP, "192.0.7.12", 50001, "192.0.7.2", 22);
  CtEntry a_ping = Established(za, IPPROTO_ICMP, "203.0.113.5", 99, "192.0.7.2", 0);
  CtEntry a_out = Established(za, IPPROTO_UDP, "192.0.7.2", 5000, "198.51.100.1", 53);
  CtEntry b_ssh = Established(zb, IPPROTO_TCP, "192.0.7.11", 50000, "192.0.7.2", 22);
  CtEntry c_ssh = Established(zc, IPPROTO_TCP, "192.0.7.12", 50001, "192.0.7.2", 22);
  CtEntry c_out = Established(zc, IPPROTO_UDP, "192.0.7.12", 5001, "198.51.100.1", 53);
  CtEntry other = Established(40, IPPROTO_TCP, "203.0.113.5", 40000, "192.0.7.2", 80);
  for (const CtEntry& e :
       {a_http, a_alt, a_ssh_b, a_ssh_c, a_ping, a_out, b_ssh, c_ssh, c_out, other}) {
    absl::Status st = ct.Create(e);
    ASSERT_TRUE(st.ok()) << st;
  }
  EXPECT_EQ(ct.Create(a_http).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*ct.CountZone(za), 6u);

  // Unchanged state: nothing dumped, nothing deleted.
  auto same = Revoke(old_s, old_s, *old_slots, *old_slots, ct);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->dump_calls, 0u);
  EXPECT_EQ(*ct.CountZone(za), 6u);

  // New state: web loses tcp 80, port c is removed.
  Snapshot new_s = old_s;
  new_s.security_groups["web"].rules.erase(new_s.security_groups["web"].rules.begin());
  new_s.ports.erase("c");
  auto new_slots = policy::AssignSlots(new_s, *old_slots, 20, 29);
  ASSERT_TRUE(new_slots.ok());
  auto report = Revoke(old_s, new_s, *old_slots, *new_slots, ct);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->FirstError();
  for (const ZoneRevocation& z : report->zones) {
    printf("zone %u port %s (%s): dumped %zu deleted %zu kept %zu\n", z.plan.zone,
           z.plan.port_id.c_str(), z.plan.why.c_str(), z.dumped, z.deleted, z.kept);
    for (const auto& [e, why] : z.deletions) printf("  deleted: %s\n", why.c_str());
  }

  EXPECT_EQ(Origs(ct, za), (std::set<CtTuple>{a_alt.orig, a_ssh_b.orig, a_ping.orig, a_out.orig}));
  EXPECT_EQ(Origs(ct, zb), (std::set<CtTuple>{b_ssh.orig}));
  EXPECT_TRUE(Origs(ct, zc).empty());
  EXPECT_EQ(Origs(ct, 40), (std::set<CtTuple>{other.orig}));
  EXPECT_EQ(report->TotalDeleted(), 4u);

  // Idempotent: the same revocation again deletes nothing more.
  auto again = Revoke(old_s, new_s, *old_slots, *new_slots, ct);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->TotalDeleted(), 0u);
  EXPECT_EQ(*ct.CountZone(za), 4u);
  // The backend's error mapping: a deleted entry is NotFound, singly and in a
  // batch next to one that exists.
  EXPECT_EQ(ct.Delete(a_http).code(), absl::StatusCode::kNotFound);
  std::vector<absl::Status> batch = ct.DeleteBatch({a_http, a_ping});
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(batch[1].ok()) << batch[1];
  EXPECT_EQ(*ct.CountZone(za), 3u);
}

// Real traffic from this namespace (192.0.7.1) to a peer namespace standing
// in for port a's VM (192.0.7.2), tracked with act_ct in a's zone.
TEST(CtRevokeKernel, TrafficEntriesRevokedByRuleRemoval) {
  Snapshot old_s = BaseSnapshot();
  auto old_slots = policy::AssignSlots(old_s, {}, 50, 59);
  ASSERT_TRUE(old_slots.ok());
  const std::string za = std::to_string(old_slots->port_zone.at("a"));
  ASSERT_EQ(Sh("ip netns add ctrpeer"), 0);
  ASSERT_EQ(Sh("ip link add ra type veth peer name rb netns ctrpeer && "
               "ip addr add 192.0.7.1/24 dev ra && ip link set ra up && "
               "ip -n ctrpeer addr add 192.0.7.2/24 dev rb && ip -n ctrpeer link set rb up && "
               "ip -n ctrpeer link set lo up"),
            0);
  ASSERT_EQ(Sh("tc qdisc add dev ra clsact"), 0);
  for (const char* hook : {"ingress", "egress"}) {
    ASSERT_EQ(Sh(std::string("tc filter add dev ra ") + hook +
                 " protocol ip flower action ct zone " + za + " commit"),
              0);
  }
  ASSERT_EQ(Sh("ping -c 2 -i 0.2 -W 2 192.0.7.2 >/dev/null"), 0);
  ASSERT_EQ(Sh("(ip netns exec ctrpeer timeout 5 nc -l 192.0.7.2 8080 >/dev/null &) && "
               "sleep 0.5 && echo hello | nc -N -w 2 192.0.7.2 8080"),
            0);
  auto backend = NetlinkCtBackend::Open();
  ASSERT_TRUE(backend.ok()) << backend.status();
  CtBackend& ct = **backend;
  const uint16_t zone = old_slots->port_zone.at("a");
  auto before = ct.DumpZone(zone);
  ASSERT_TRUE(before.ok()) << before.status();
  size_t tcp = 0, icmp = 0;
  for (const CtEntry& e : *before) {
    tcp += e.orig.proto == IPPROTO_TCP && e.orig.dst_port == 8080;
    icmp += e.orig.proto == IPPROTO_ICMP;
  }
  ASSERT_EQ(tcp, 1u) << "the TCP connection to 8080 is tracked in zone " << zone;
  ASSERT_GE(icmp, 1u);

  Snapshot new_s = old_s;
  auto& rules = new_s.security_groups["web"].rules;
  rules.erase(rules.begin() + 1);  // ingress tcp 8080
  auto report = Revoke(old_s, new_s, *old_slots, *old_slots, ct);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->FirstError();
  auto after = ct.DumpZone(zone);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), before->size() - 1) << "only the TCP entry goes";
  for (const CtEntry& e : *after) {
    EXPECT_FALSE(e.orig.proto == IPPROTO_TCP && e.orig.dst_port == 8080);
  }
  printf("traffic in zone %u: %zu entries before, %zu after removing tcp 8080\n", zone,
         before->size(), after->size());
  Sh("ip netns del ctrpeer");
}

}  // namespace
}  // namespace vfguard::agent

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (geteuid() != 0) {
    printf("SKIP: needs root\n");
    return 77;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    printf("SKIP: unshare(CLONE_NEWNET): %s\n", strerror(errno));
    return 77;
  }
  // act_ct loads nf_conntrack; ctnetlink is nf_conntrack_netlink.
  if (system(
          "ip link add ctrprobe type veth peer name ctrprobe1 2>/dev/null && "
          "tc qdisc add dev ctrprobe clsact 2>/dev/null && "
          "tc filter add dev ctrprobe ingress protocol ip flower action ct zone 1 2>/dev/null && "
          "ip link del ctrprobe") != 0) {
    printf("SKIP: kernel lacks veth/clsact/cls_flower/act_ct\n");
    return 77;
  }
  return RUN_ALL_TESTS();
}
