// agent/filter_hash: ShapeHash is equal exactly when the key layouts
// (netlink::KeyLayout), protocols and skip flags are equal; ContentHash
// covers values and ignores what the kernel only reports.
#include "agent/filter_hash.h"

#include <gtest/gtest.h>

#include <vector>

#include "netlink/tc_types.h"

namespace vfguard::agent {
namespace {

using netlink::FlowerFilter;
using netlink::Masked;

FlowerFilter Tcp(uint16_t dport, uint16_t mask) {
  FlowerFilter f;
  f.protocol = 0x0800;
  f.keys.eth_type = 0x0800;
  f.keys.ip_proto = 6;
  f.keys.tcp_dst = Masked<uint16_t>{dport, mask};
  f.actions = {netlink::TcAction{netlink::GactAction{netlink::GactAction::Verdict::kOk}}};
  return f;
}

TEST(FilterHashTest, ShapeIgnoresValuesButNotMasksKeysProtocolOrFlags) {
  const FlowerFilter a = Tcp(80, 0xffff);
  EXPECT_EQ(ShapeHash(a), ShapeHash(Tcp(443, 0xffff)));
  EXPECT_NE(ContentHash(a), ContentHash(Tcp(443, 0xffff)));

  std::vector<FlowerFilter> other(6, a);
  other[0] = Tcp(80, 0xff00);  // another mask
  other[1].keys.ipv4_src = Masked<netlink::Ipv4Addr>{{10, 0, 0, 1}, {255, 255, 255, 255}};
  other[2].keys.indev = "r0";  // another key
  other[3].protocol = 0x86dd;
  other[4].skip_hw = true;
  other[5].skip_sw = true;
  for (size_t i = 0; i < other.size(); ++i) {
    EXPECT_NE(ShapeHash(a), ShapeHash(other[i])) << i;
    // The same layout as netlink::KeyLayout says: text of the layouts differs.
    if (i < 3) {
      EXPECT_NE(netlink::DebugString(netlink::KeyLayout(a.keys)),
                netlink::DebugString(netlink::KeyLayout(other[i].keys)));
    }
  }
  // An indev's value (the device name) is not part of the layout.
  FlowerFilter r0 = a, r1 = a;
  r0.keys.indev = "r0";
  r1.keys.indev = "r1";
  EXPECT_EQ(ShapeHash(r0), ShapeHash(r1));
}

TEST(FilterHashTest, ContentIgnoresWhatTheKernelOnlyReports) {
  FlowerFilter a = Tcp(80, 0xffff);
  FlowerFilter dumped = a;
  dumped.actions[0].stats.packets = 7;
  dumped.status.in_hw_count = 1;
  dumped.status.packets = 7;
  EXPECT_EQ(ContentHash(a), ContentHash(netlink::WithoutStatus(dumped)));
  // The installed set hashes dumped filters without copying them first.
  EXPECT_EQ(ContentHash(a), ContentHash(dumped));
  EXPECT_EQ(ShapeHash(a), ShapeHash(dumped));
}

}  // namespace
}  // namespace vfguard::agent
