#include "agent/packet_text.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/model.h"
#include "policy/nd_check.h"

namespace vfguard::agent {
namespace {

using ::testing::HasSubstr;

std::string Error(std::string_view text) {
  auto p = ParsePacketText(text);
  EXPECT_FALSE(p.ok()) << text;
  return p.ok() ? "" : std::string(p.status().message());
}

TEST(PacketText, TcpV4WithPorts) {
  auto p = ParsePacketText("tcp 10.0.0.5:1234 -> 10.0.0.7:80");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->eth_type, policy::kEthIPv4);
  EXPECT_EQ(p->ip_proto, policy::kProtoTcp);
  EXPECT_EQ(p->src_ip.ToString(), "10.0.0.5");
  EXPECT_EQ(p->dst_ip.ToString(), "10.0.0.7");
  EXPECT_EQ(p->src_port, 1234);
  EXPECT_EQ(p->dst_port, 80);
  EXPECT_EQ(PacketToText(*p), "tcp 10.0.0.5:1234 -> 10.0.0.7:80");
}

TEST(PacketText, PortsAreOptionalAndCaseAndSpacingAreFree) {
  auto p = ParsePacketText("  UDP   10.0.0.5 ->\t10.0.0.7:53 ");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->ip_proto, policy::kProtoUdp);
  EXPECT_EQ(p->src_port, 0);
  EXPECT_EQ(p->dst_port, 53);
}

TEST(PacketText, Ipv6BracketsAndBare) {
  auto p = ParsePacketText("udp [fe80::1]:546 -> [ff02::1:2]:547");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->eth_type, policy::kEthIPv6);
  EXPECT_EQ(p->dst_ip.ToString(), "ff02::1:2");
  EXPECT_EQ(p->dst_port, 547);
  EXPECT_EQ(PacketToText(*p), "udp [fe80::1]:546 -> [ff02::1:2]:547");
  auto bare = ParsePacketText("icmpv6 2001:db8::1 -> [2001:db8::2]");
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ(bare->icmp_type, 128);  // echo request by default
}

TEST(PacketText, IcmpTypeAndCode) {
  auto p = ParsePacketText("icmp 10.0.0.5 -> 10.0.0.7 type 3 code 4");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->ip_proto, policy::kProtoIcmp);
  EXPECT_EQ(p->icmp_type, 3);
  EXPECT_EQ(p->icmp_code, 4);
  EXPECT_EQ(PacketToText(*p), "icmp 10.0.0.5 -> 10.0.0.7 type 3 code 4");
  auto echo = ParsePacketText("icmp 10.0.0.5 -> 10.0.0.7");
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(echo->icmp_type, 8);
  EXPECT_EQ(echo->icmp_code, 0);
}

TEST(PacketText, NeighbourDiscoveryFields) {
  auto na = ParsePacketText(
      "icmpv6 fd00::11 -> ff02::1 type 136 target fd00::12 tlla 52:54:00:00:00:11 hlim 254");
  ASSERT_TRUE(na.ok()) << na.status();
  EXPECT_TRUE(na->IsNd());
  EXPECT_EQ(na->hop_limit, 254);
  EXPECT_EQ(
      na->nd_body,
      policy::NdBody(*policy::IpAddr::Parse("fd00::12"),
                     {{policy::kNdOptTargetLla, 1, *policy::MacAddr::Parse("52:54:00:00:00:11")}},
                     0x20));
  EXPECT_EQ(PacketToText(*na),
            "icmpv6 fd00::11 -> ff02::1 type 136 code 0 target fd00::12 tlla 52:54:00:00:00:11 "
            "hlim 254");
  // Defaults: an NA announces its source, an NS asks about its destination.
  auto own = ParsePacketText("icmpv6 fd00::11 -> ff02::1 type 136");
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(own->nd_body, policy::NdBody(*policy::IpAddr::Parse("fd00::11"), {}, 0x20));
  EXPECT_EQ(own->hop_limit, 255);
  auto ns = ParsePacketText("icmpv6 :: -> fd00::12 type 135 slla 52:54:00:00:00:11");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(PacketToText(*ns),
            "icmpv6 :: -> fd00::12 type 135 code 0 target fd00::12 slla "
            "52:54:00:00:00:11");
  EXPECT_THAT(Error("icmpv6 fd00::1 -> fd00::2 type 128 target fd00::3"),
              HasSubstr("need icmpv6 type 135 (NS) or 136 (NA)"));
  EXPECT_THAT(Error("icmpv6 fd00::1 -> fd00::2 type 136 target 10.0.0.1"),
              HasSubstr("target \"10.0.0.1\" is not an IPv6 address"));
  EXPECT_THAT(Error("icmpv6 fd00::1 -> fd00::2 type 136 tlla nope"),
              HasSubstr("tlla \"nope\" is not a MAC address"));
}

TEST(PacketText, ProtocolNumbers) {
  auto p = ParsePacketText("112 10.0.0.5 -> 224.0.0.18");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->ip_proto, 112);
  auto tcp = ParsePacketText("6 10.0.0.5:1 -> 10.0.0.7:2");
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_EQ(tcp->dst_port, 2);
}

TEST(PacketText, ErrorsStartWithPacketAndQuoteTheToken) {
  EXPECT_THAT(Error(""), HasSubstr("packet: expected"));
  EXPECT_EQ(Error("gre 10.0.0.1 -> 10.0.0.2"),
            "packet: protocol \"gre\" is not tcp, udp, sctp, icmp, icmpv6 or a number 0-255");
  EXPECT_EQ(Error("256 10.0.0.1 -> 10.0.0.2"),
            "packet: protocol \"256\" is not tcp, udp, sctp, icmp, icmpv6 or a number 0-255");
  EXPECT_EQ(Error("tcp 10.0.0.1 => 10.0.0.2"),
            "packet: expected \"->\" after the source, got \"=>\"");
  EXPECT_EQ(Error("tcp 10.0.0.300:1 -> 10.0.0.2"),
            "packet: source \"10.0.0.300\" is not an IP address");
  EXPECT_EQ(Error("tcp 10.0.0.1:65536 -> 10.0.0.2"),
            "packet: source port \"65536\" is not a number 0-65535");
  EXPECT_EQ(Error("tcp 10.0.0.1: -> 10.0.0.2"), "packet: source port \"\" is not a number 0-65535");
  EXPECT_EQ(Error("tcp 10.0.0.1 -> fe80::1"),
            "packet: source and destination are of different address families");
  EXPECT_EQ(Error("tcp [fe80::1:80 -> [fe80::2]"),
            "packet: source \"[fe80::1:80\" has no closing ]");
  EXPECT_EQ(Error("tcp [10.0.0.1]:80 -> 10.0.0.2"),
            "packet: source \"10.0.0.1\" is not an IPv6 address");
  EXPECT_EQ(Error("icmp 10.0.0.1:5 -> 10.0.0.2"),
            "packet: ports need tcp, udp or sctp, not \"icmp\"");
  EXPECT_EQ(Error("icmp fe80::1 -> fe80::2"), "packet: icmp needs IPv4 (use icmpv6)");
  EXPECT_EQ(Error("icmpv6 10.0.0.1 -> 10.0.0.2"), "packet: icmpv6 needs IPv6 (use icmp)");
  EXPECT_EQ(Error("tcp 10.0.0.1 -> 10.0.0.2 type 3"), "packet: type needs icmp or icmpv6");
  EXPECT_EQ(Error("icmp 10.0.0.1 -> 10.0.0.2 type"), "packet: type needs a number");
  EXPECT_EQ(Error("icmp 10.0.0.1 -> 10.0.0.2 type 300"),
            "packet: type \"300\" is not a number 0-255");
  EXPECT_EQ(Error("icmp 10.0.0.1 -> 10.0.0.2 code 1"), "packet: code needs a type");
  EXPECT_EQ(Error("icmp 10.0.0.1 -> 10.0.0.2 type 1 type 2"), "packet: type given twice");
  EXPECT_EQ(Error("icmp 10.0.0.1 -> 10.0.0.2 ttl 3"),
            "packet: unexpected \"ttl\" (only \"type N\", \"code N\" and, for NS/NA, "
            "\"target ADDR\", \"tlla MAC\", \"slla MAC\", \"hlim N\" may follow)");
  EXPECT_EQ(Error("tcp 10.0.0.1\x01 -> 10.0.0.2"),
            "packet: source \"10.0.0.1\\001\" is not an IP address");
}

}  // namespace
}  // namespace vfguard::agent
