#include "policy/parse.h"

#include <gtest/gtest.h>

namespace vfguard::policy {
namespace {

TEST(Parse, IpErrorNamesFieldAndText) {
  auto r = ParseIpField("ports[3].fixed_ips[0]", "10.0.0.300");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "ports[3].fixed_ips[0]: 10.0.0.300 is not an IP");
  EXPECT_EQ(ParseIpField("x", "fd00::1")->ToString(), "fd00::1");
}

TEST(Parse, Prefix) {
  EXPECT_EQ(ParsePrefixField("r", "10.0.0.0/24")->length, 24);
  EXPECT_EQ(ParsePrefixField("r", "10.0.0.0/33").status().message(),
            "r: 10.0.0.0/33 is not an IP or CIDR");
  EXPECT_EQ(ParsePrefixField("r", "10.0.0.1/24").status().message(),
            "r: 10.0.0.1/24 has host bits set (did you mean 10.0.0.0/24?)");
}

TEST(Parse, Mac) {
  EXPECT_EQ(ParseMacField("ports[a].mac_address", "02:00:00:00:00:zz").status().message(),
            "ports[a].mac_address: 02:00:00:00:00:zz is not a MAC address (aa:bb:cc:dd:ee:ff)");
}

TEST(Parse, Protocol) {
  EXPECT_FALSE(ParseProtocolField("p", "any")->has_value());
  EXPECT_FALSE(ParseProtocolField("p", "")->has_value());
  EXPECT_EQ(**ParseProtocolField("p", "vrrp"), 112);
  EXPECT_EQ(**ParseProtocolField("p", "47"), 47);
  EXPECT_EQ(ParseProtocolField("p", "256").status().message(),
            "p: 256 is not a protocol (any, tcp, udp, icmp, icmpv6, sctp, vrrp or 0-255)");
  EXPECT_FALSE(ParseProtocolField("p", "TCP").ok());
}

TEST(Parse, Words) {
  EXPECT_EQ(*ParseDirectionField("d", "egress"), Direction::kEgress);
  EXPECT_EQ(ParseDirectionField("d", "").status().message(),
            "d: \"\" is not one of ingress, egress");
  EXPECT_EQ(*ParseEtherTypeField("e", ""), EtherType::kIPv4);
  EXPECT_EQ(ParseEtherTypeField("e", "ipv6").status().message(),
            "e: \"ipv6\" is not one of IPv4, IPv6");
  EXPECT_EQ(*ParseActionField("a", ""), RuleAction::kAllow);
  EXPECT_EQ(ParseActionField("a", "reject").status().message(),
            "a: \"reject\" is not one of allow, deny");
  EXPECT_EQ(*ParseSegmentationField("s", "vlan"), Segmentation::kVlan);
  EXPECT_FALSE(ParseSegmentationField("s", "").ok());
  EXPECT_EQ(*ParsePortStateField("st", "pending-activation"), PortState::kPendingActivation);
  EXPECT_EQ(ParsePortStateField("st", "paused").status().message(),
            "st: \"paused\" is not one of active, pending-activation, inactive");
}

}  // namespace
}  // namespace vfguard::policy
