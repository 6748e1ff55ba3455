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

TEST(Parse, IpRefusesWhatTheStrictParserRefuses) {
  EXPECT_EQ(ParseIpField("f", "").status().message(), "f: \"\" is not an IP");
  for (const char* bad : {"1.2.3", "010.0.0.1", " 10.0.0.1", "10.0.0.1/32", "fe80::1%eth0"}) {
    auto r = ParseIpField("f", bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message(), std::string("f: ") + bad + " is not an IP");
  }
}

TEST(Parse, TextInMessagesIsEscaped) {
  EXPECT_EQ(ParseIpField("f", "10.0.0.1\n").status().message(), "f: 10.0.0.1\\n is not an IP");
  EXPECT_EQ(ParseIpField("f", std::string_view("::1\0x", 5)).status().message(),
            "f: ::1\\000x is not an IP");
  EXPECT_EQ(ParseDirectionField("d", "in\"gress").status().message(),
            "d: \"in\\\"gress\" is not one of ingress, egress");
}

TEST(Parse, PrefixV6AndHostAddress) {
  EXPECT_EQ(ParsePrefixField("r", "fd00::1")->ToString(), "fd00::1/128");
  EXPECT_EQ(ParsePrefixField("r", "10.0.0.1")->ToString(), "10.0.0.1/32");
  EXPECT_EQ(ParsePrefixField("r", "fd00::1/64").status().message(),
            "r: fd00::1/64 has host bits set (did you mean fd00::/64?)");
  EXPECT_EQ(ParsePrefixField("r", "").status().message(), "r: \"\" is not an IP or CIDR");
  EXPECT_EQ(ParsePrefixField("r", "fd00::/129").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Parse, MacCaseAndErrors) {
  EXPECT_EQ(ParseMacField("m", "02:AB:00:00:00:01")->ToString(), "02:ab:00:00:00:01");
  EXPECT_EQ(ParseMacField("m", "").status().message(),
            "m: \"\" is not a MAC address (aa:bb:cc:dd:ee:ff)");
  EXPECT_EQ(ParseMacField("m", "02-00-00-00-00-01").status().message(),
            "m: 02-00-00-00-00-01 is not a MAC address (aa:bb:cc:dd:ee:ff)");
}

// Every protocol number has a name that parses back to it; names are
// lower case only, numbers have no sign, space or leading zero.
TEST(Parse, ProtocolNamesRoundTrip) {
  for (int n = 0; n <= 255; ++n) {
    std::string name = ProtocolName(static_cast<uint8_t>(n));
    auto back = ParseProtocolField("p", name);
    ASSERT_TRUE(back.ok()) << name;
    ASSERT_TRUE(back->has_value()) << name;
    EXPECT_EQ(**back, n) << name;
  }
  EXPECT_EQ(ProtocolName(kProtoTcp), "tcp");
  EXPECT_EQ(ProtocolName(kProtoUdp), "udp");
  EXPECT_EQ(ProtocolName(kProtoIcmp), "icmp");
  EXPECT_EQ(ProtocolName(kProtoIcmpv6), "icmpv6");
  EXPECT_EQ(ProtocolName(kProtoSctp), "sctp");
  EXPECT_EQ(ProtocolName(kProtoVrrp), "vrrp");
  EXPECT_EQ(ProtocolName(47), "47");
  EXPECT_EQ(**ParseProtocolField("p", "6"), kProtoTcp);  // a number with a name is fine
  EXPECT_EQ(**ParseProtocolField("p", "0"), 0);
  for (const char* bad :
       {"06", "-1", "+6", " 6", "6 ", "1000", "Tcp", "ANY", "icmp6", "ipv6-icmp"}) {
    EXPECT_EQ(ParseProtocolField("p", bad).status().message(),
              std::string("p: ") + bad +
                  " is not a protocol (any, tcp, udp, icmp, icmpv6, sctp, vrrp or 0-255)")
        << bad;
  }
}

TEST(Parse, WordsAreExactAndCaseSensitive) {
  EXPECT_EQ(*ParseDirectionField("d", "ingress"), Direction::kIngress);
  EXPECT_EQ(ParseDirectionField("d", "Ingress").status().message(),
            "d: \"Ingress\" is not one of ingress, egress");
  EXPECT_EQ(*ParseEtherTypeField("e", "IPv6"), EtherType::kIPv6);
  EXPECT_EQ(*ParseEtherTypeField("e", "IPv4"), EtherType::kIPv4);
  EXPECT_EQ(*ParseActionField("a", "deny"), RuleAction::kDeny);
  EXPECT_EQ(*ParseSegmentationField("s", "flat"), Segmentation::kFlat);
  EXPECT_EQ(ParseSegmentationField("s", "").status().message(), "s: \"\" is not one of flat, vlan");
  EXPECT_EQ(ParseSegmentationField("s", "vxlan").status().message(),
            "s: \"vxlan\" is not one of flat, vlan");
  EXPECT_EQ(*ParsePortStateField("st", ""), PortState::kActive);
  EXPECT_EQ(*ParsePortStateField("st", "inactive"), PortState::kInactive);
  EXPECT_EQ(ParsePortStateField("st", " active").status().message(),
            "st: \" active\" is not one of active, pending-activation, inactive");
}

// Every enum value's name (model.h ToString) parses back to it.
TEST(Parse, EnumNamesRoundTrip) {
  for (Direction d : {Direction::kIngress, Direction::kEgress}) {
    EXPECT_EQ(*ParseDirectionField("d", ToString(d)), d);
  }
  for (EtherType e : {EtherType::kIPv4, EtherType::kIPv6}) {
    EXPECT_EQ(*ParseEtherTypeField("e", ToString(e)), e);
  }
  for (RuleAction a : {RuleAction::kAllow, RuleAction::kDeny}) {
    EXPECT_EQ(*ParseActionField("a", ToString(a)), a);
  }
  for (PortState s : {PortState::kActive, PortState::kPendingActivation, PortState::kInactive}) {
    EXPECT_EQ(*ParsePortStateField("s", ToString(s)), s);
  }
}

}  // namespace
}  // namespace vfguard::policy
