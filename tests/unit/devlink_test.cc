// devlink codec: requests match hand-derived golden bytes; the family reply
// captured from the Debian 6.1 kernel decodes; port/eswitch replies and port
// events (built here the way the kernel lays them out: no kernel here has a
// devlink device) decode; malformed input is an error.
#include "netlink/devlink.h"

#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/devlink.h>
#include <linux/genetlink.h>

#include "tests/unit/tc_test_support.h"

namespace vfguard::netlink {
namespace {

Message Reply(uint16_t family, uint8_t cmd, const std::function<void(nlmsghdr*)>& fill) {
  Message buf(1024, 0);
  nlmsghdr* h = mnl_nlmsg_put_header(buf.data());
  h->nlmsg_type = family;
  auto* g = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(h, sizeof(genlmsghdr)));
  g->cmd = cmd;
  fill(h);
  buf.resize(h->nlmsg_len);
  return buf;
}

std::vector<uint8_t> Fixture(const std::string& name) {
  return testing::ReadHexFile(std::string(TC_FIXTURE_DIR) + "/" + name);
}

TEST(DevlinkGolden, RequestsMatchHandDerivedBytes) {
  struct Case {
    const char* fixture;
    Message encoded;
  };
  for (const Case& c :
       {Case{"devlink_req_getfamily.hex", EncodeGetFamily("devlink")},
        Case{"devlink_req_eswitch_get.hex", EncodeEswitchGet(27, "pci", "0000:03:00.0")},
        Case{"devlink_req_port_dump.hex", EncodePortDump(27)}}) {
    std::vector<uint8_t> golden = Fixture(c.fixture);
    ASSERT_FALSE(golden.empty()) << c.fixture;
    EXPECT_EQ(c.encoded, golden) << c.fixture << "\nencoded:" << testing::HexDump(c.encoded)
                                 << "\ngolden:" << testing::HexDump(golden);
  }
}

TEST(DevlinkKernelReplies, FamilyReplyFromTheKernel) {
  std::vector<uint8_t> bytes = Fixture("devlink_family_reply.hex");
  ASSERT_GE(bytes.size(), NLMSG_HDRLEN);
  const auto* h = reinterpret_cast<const nlmsghdr*>(bytes.data());
  ASSERT_EQ(h->nlmsg_len, bytes.size()) << "one message";
  EXPECT_EQ(h->nlmsg_type, GENL_ID_CTRL);
  auto family = DecodeFamily(bytes);
  ASSERT_TRUE(family.ok()) << family.status();
  EXPECT_EQ(family->id, 21) << "the id the 6.1 VM assigned when captured";
  ASSERT_TRUE(family->multicast_groups.count(DEVLINK_GENL_MCGRP_CONFIG_NAME));
  EXPECT_GT(family->multicast_groups.at(DEVLINK_GENL_MCGRP_CONFIG_NAME), 0u);
  // Cut anywhere, the reply is an error or decodes; never read past the end.
  for (size_t len = 0; len < bytes.size(); ++len) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + len);
    if (len >= NLMSG_HDRLEN) reinterpret_cast<nlmsghdr*>(cut.data())->nlmsg_len = len;
    (void)DecodeFamily(cut);
  }
}

Message PortMessage(uint16_t family, uint8_t cmd, uint32_t index) {
  return Reply(family, cmd, [index](nlmsghdr* h) {
    mnl_attr_put_strz(h, DEVLINK_ATTR_BUS_NAME, "pci");
    mnl_attr_put_strz(h, DEVLINK_ATTR_DEV_NAME, "0000:03:00.0");
    mnl_attr_put_u32(h, DEVLINK_ATTR_PORT_INDEX, index);
    mnl_attr_put_u16(h, DEVLINK_ATTR_PORT_FLAVOUR, DEVLINK_PORT_FLAVOUR_PHYSICAL);
  });
}

TEST(Devlink, PortEvents) {
  auto added = DecodePortEvent(27, PortMessage(27, DEVLINK_CMD_PORT_NEW, 1));
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_TRUE(added->has_value());
  EXPECT_FALSE((*added)->removed);
  EXPECT_EQ((*added)->port.index, 1u);
  EXPECT_EQ((*added)->port.flavour, PortFlavour::kPhysical);
  auto removed = DecodePortEvent(27, PortMessage(27, DEVLINK_CMD_PORT_DEL, 2));
  ASSERT_TRUE(removed.ok() && removed->has_value());
  EXPECT_TRUE((*removed)->removed);
  EXPECT_EQ((*removed)->port.index, 2u);
  // Another family's message, and a devlink event that is not about a port.
  auto other = DecodePortEvent(27, PortMessage(28, DEVLINK_CMD_PORT_NEW, 1));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->has_value());
  auto device = DecodePortEvent(27, Reply(27, DEVLINK_CMD_NEW, [](nlmsghdr* h) {
                                  mnl_attr_put_strz(h, DEVLINK_ATTR_BUS_NAME, "pci");
                                }));
  ASSERT_TRUE(device.ok());
  EXPECT_FALSE(device->has_value());
  // A port event without an index is malformed.
  auto broken = DecodePortEvent(27, Reply(27, DEVLINK_CMD_PORT_NEW, [](nlmsghdr* h) {
                                  mnl_attr_put_strz(h, DEVLINK_ATTR_BUS_NAME, "pci");
                                }));
  EXPECT_FALSE(broken.ok());
  EXPECT_FALSE(DecodePortEvent(27, Message(10, 0)).ok());
}

TEST(Devlink, GetFamilyRequest) {
  Message m = EncodeGetFamily("devlink");
  const auto* h = reinterpret_cast<const nlmsghdr*>(m.data());
  EXPECT_EQ(h->nlmsg_type, GENL_ID_CTRL);
  const auto* g = reinterpret_cast<const genlmsghdr*>(m.data() + NLMSG_HDRLEN);
  EXPECT_EQ(g->cmd, CTRL_CMD_GETFAMILY);
  const auto* a = reinterpret_cast<const nlattr*>(m.data() + NLMSG_HDRLEN + GENL_HDRLEN);
  EXPECT_EQ(a->nla_type, CTRL_ATTR_FAMILY_NAME);
  EXPECT_STREQ(static_cast<const char*>(mnl_attr_get_payload(a)), "devlink");
}

TEST(Devlink, DecodesFamilyWithMulticastGroups) {
  Message m = Reply(GENL_ID_CTRL, CTRL_CMD_NEWFAMILY, [](nlmsghdr* h) {
    mnl_attr_put_strz(h, CTRL_ATTR_FAMILY_NAME, "devlink");
    mnl_attr_put_u16(h, CTRL_ATTR_FAMILY_ID, 27);
    nlattr* groups = mnl_attr_nest_start(h, CTRL_ATTR_MCAST_GROUPS);
    nlattr* g1 = mnl_attr_nest_start(h, 1);
    mnl_attr_put_u32(h, CTRL_ATTR_MCAST_GRP_ID, 9);
    mnl_attr_put_strz(h, CTRL_ATTR_MCAST_GRP_NAME, "config");
    mnl_attr_nest_end(h, g1);
    mnl_attr_nest_end(h, groups);
  });
  auto f = DecodeFamily(m);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->id, 27);
  EXPECT_EQ(f->multicast_groups.at("config"), 9u);
}

TEST(Devlink, DecodesVfRepresentorPort) {
  Message m = Reply(27, DEVLINK_CMD_PORT_NEW, [](nlmsghdr* h) {
    mnl_attr_put_strz(h, DEVLINK_ATTR_BUS_NAME, "pci");
    mnl_attr_put_strz(h, DEVLINK_ATTR_DEV_NAME, "0000:03:00.0");
    mnl_attr_put_u32(h, DEVLINK_ATTR_PORT_INDEX, 65537);
    mnl_attr_put_u16(h, DEVLINK_ATTR_PORT_FLAVOUR, DEVLINK_PORT_FLAVOUR_PCI_VF);
    mnl_attr_put_u16(h, DEVLINK_ATTR_PORT_PCI_PF_NUMBER, 0);
    mnl_attr_put_u16(h, DEVLINK_ATTR_PORT_PCI_VF_NUMBER, 3);
    mnl_attr_put_u32(h, DEVLINK_ATTR_PORT_NETDEV_IFINDEX, 12);
    mnl_attr_put_strz(h, DEVLINK_ATTR_PORT_NETDEV_NAME, "eth3");
  });
  auto p = DecodePort(m);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->bus, "pci");
  EXPECT_EQ(p->device, "0000:03:00.0");
  EXPECT_EQ(p->index, 65537u);
  EXPECT_EQ(p->flavour, PortFlavour::kPciVf);
  EXPECT_EQ(p->pf, 0);
  EXPECT_EQ(p->vf, 3);
  EXPECT_EQ(p->netdev_ifindex, 12u);
  EXPECT_EQ(p->netdev_name, "eth3");
}

TEST(Devlink, EswitchModeAndErrors) {
  Message m = Reply(27, DEVLINK_CMD_ESWITCH_GET, [](nlmsghdr* h) {
    mnl_attr_put_strz(h, DEVLINK_ATTR_BUS_NAME, "pci");
    mnl_attr_put_u16(h, DEVLINK_ATTR_ESWITCH_MODE, DEVLINK_ESWITCH_MODE_SWITCHDEV);
  });
  EXPECT_EQ(*DecodeEswitchMode(m), EswitchMode::kSwitchdev);
  Message none = Reply(27, DEVLINK_CMD_ESWITCH_GET, [](nlmsghdr*) {});
  EXPECT_FALSE(DecodeEswitchMode(none).ok());
  EXPECT_FALSE(DecodePort(none).ok()) << "a port needs bus and index";
  Message cut = m;
  cut.resize(cut.size() - 3);
  reinterpret_cast<nlmsghdr*>(cut.data())->nlmsg_len = cut.size();
  EXPECT_FALSE(DecodeEswitchMode(cut).ok());
}

TEST(Devlink, EswitchGetRequestNamesTheDevice) {
  Message m = EncodeEswitchGet(27, "pci", "0000:03:00.0");
  std::vector<std::string> strings;
  size_t off = NLMSG_HDRLEN + GENL_HDRLEN;
  while (off < m.size()) {
    const auto* a = reinterpret_cast<const nlattr*>(m.data() + off);
    strings.push_back(static_cast<const char*>(mnl_attr_get_payload(a)));
    off += NLA_ALIGN(a->nla_len);
  }
  EXPECT_EQ(strings, (std::vector<std::string>{"pci", "0000:03:00.0"}));
  EXPECT_EQ(reinterpret_cast<const nlmsghdr*>(m.data())->nlmsg_type, 27);
}

}  // namespace
}  // namespace vfguard::netlink
