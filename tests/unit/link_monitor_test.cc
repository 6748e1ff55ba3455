// DecodeLink (the libnl-route path the monitor uses) against RTM_NEWLINK and
// RTM_DELLINK messages captured from the Debian 6.1 kernel, plus the
// representor attributes (phys_port_name, phys_switch_id) appended by hand to
// a captured message, since no kernel here has a switchdev NIC.
#include "netlink/link_monitor.h"

#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/tc_test_support.h"

namespace vfguard::netlink {
namespace {

using Bytes = std::vector<uint8_t>;

std::vector<Bytes> Fixture(const std::string& name) {
  std::vector<uint8_t> bytes = testing::ReadHexFile(std::string(TC_FIXTURE_DIR) + "/" + name);
  std::vector<Bytes> out;
  size_t off = 0;
  while (off + NLMSG_HDRLEN <= bytes.size()) {
    const auto* h = reinterpret_cast<const nlmsghdr*>(bytes.data() + off);
    if (h->nlmsg_len < NLMSG_HDRLEN || off + h->nlmsg_len > bytes.size()) break;
    out.emplace_back(bytes.begin() + off, bytes.begin() + off + h->nlmsg_len);
    off += NLMSG_ALIGN(h->nlmsg_len);
  }
  return out;
}

void AppendAttr(Bytes& m, uint16_t type, const void* data, size_t len) {
  size_t at = m.size();
  m.resize(at + NLA_ALIGN(NLA_HDRLEN + len), 0);
  auto* a = reinterpret_cast<nlattr*>(m.data() + at);
  a->nla_type = type;
  a->nla_len = NLA_HDRLEN + len;
  memcpy(m.data() + at + NLA_HDRLEN, data, len);
  reinterpret_cast<nlmsghdr*>(m.data())->nlmsg_len = m.size();
}

TEST(LinkDecode, KernelDummyLinkThatIsUp) {
  std::vector<Bytes> msgs = Fixture("link_monitor_newlink_dummy.hex");
  ASSERT_EQ(msgs.size(), 1u);
  auto link = DecodeLink(msgs[0]);
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_EQ(link->name, "fx0");
  EXPECT_GT(link->ifindex, 1);
  EXPECT_TRUE(link->up);
  EXPECT_EQ(link->phys_port_name, "");
  EXPECT_EQ(link->phys_switch_id, "");
}

TEST(LinkDecode, KernelVethThatIsDown) {
  std::vector<Bytes> msgs = Fixture("link_monitor_newlink_veth.hex");
  ASSERT_EQ(msgs.size(), 1u);
  auto link = DecodeLink(msgs[0]);
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_EQ(link->name, "fxa");
  EXPECT_FALSE(link->up);
}

TEST(LinkDecode, KernelEventsDownRenameDelete) {
  std::vector<Bytes> msgs = Fixture("link_monitor_events_rename_delete.hex");
  ASSERT_EQ(msgs.size(), 3u);
  std::vector<std::string> names;
  int ifindex = 0;
  for (const Bytes& m : msgs) {
    auto link = DecodeLink(m);
    ASSERT_TRUE(link.ok()) << link.status();
    names.push_back(link->name);
    EXPECT_FALSE(link->up);
    if (ifindex == 0) ifindex = link->ifindex;
    EXPECT_EQ(link->ifindex, ifindex) << "one device throughout";
  }
  EXPECT_EQ(names, (std::vector<std::string>{"fx0", "fx1", "fx1"}));
  const auto* del = reinterpret_cast<const nlmsghdr*>(msgs[2].data());
  EXPECT_EQ(del->nlmsg_type, RTM_DELLINK);
  // The kernel copied the deleting request's sequence number and port id
  // into the notification: events cannot be recognised by seq == 0.
  EXPECT_NE(del->nlmsg_seq, 0u);
  EXPECT_NE(del->nlmsg_pid, 0u);
}

TEST(LinkDecode, RepresentorAttributes) {
  std::vector<Bytes> msgs = Fixture("link_monitor_newlink_dummy.hex");
  ASSERT_EQ(msgs.size(), 1u);
  Bytes m = msgs[0];
  const char port_name[] = "pf0vf3";
  AppendAttr(m, IFLA_PHYS_PORT_NAME, port_name, sizeof(port_name));
  const uint8_t switch_id[] = {0x0c, 0x42, 0xa1, 0xff, 0xfe, 0x10, 0x20, 0x30};
  AppendAttr(m, IFLA_PHYS_SWITCH_ID, switch_id, sizeof(switch_id));
  auto link = DecodeLink(m);
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_EQ(link->name, "fx0");
  EXPECT_EQ(link->phys_port_name, "pf0vf3");
  EXPECT_EQ(link->phys_switch_id, "0c42a1fffe102030");
}

TEST(LinkDecode, RejectsWhatIsNotALinkMessage) {
  std::vector<Bytes> msgs = Fixture("link_monitor_newlink_dummy.hex");
  ASSERT_EQ(msgs.size(), 1u);
  Bytes m = msgs[0];
  reinterpret_cast<nlmsghdr*>(m.data())->nlmsg_type = RTM_NEWADDR;
  EXPECT_EQ(DecodeLink(m).status().code(), absl::StatusCode::kInvalidArgument);
  Bytes short_len = msgs[0];
  reinterpret_cast<nlmsghdr*>(short_len.data())->nlmsg_len = short_len.size() + 4;
  EXPECT_EQ(DecodeLink(short_len).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(DecodeLink(Bytes(8, 0)).ok());
  // Every truncation either decodes or is an error; none reads past the end
  // (checked under ASan).
  for (size_t len = NLMSG_HDRLEN; len < msgs[0].size(); ++len) {
    Bytes cut(msgs[0].begin(), msgs[0].begin() + len);
    reinterpret_cast<nlmsghdr*>(cut.data())->nlmsg_len = len;
    (void)DecodeLink(cut);
  }
}

}  // namespace
}  // namespace vfguard::netlink
