// agent::KernelSetMatchHook in a real shared block: the filters a pass wants
// are created in classifier mode with their rule's classid and actions, an
// unchanged pass writes nothing, a member change is one map write and no
// filter write, a filter no longer wanted is deleted, and a frame from a
// member runs its filter's action (a mirred mirror to a veth whose peer
// counts it; the host kernel here has no act_gact).
//
// Runs in a private network namespace (unshare); needs root, veth, clsact,
// cls_bpf and act_mirred, and exits 77 naming what is missing.
#include "agent/set_match_hook.h"

#include <net/if.h>

#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/bpf/attach_support.h"
#include "tests/bpf/bpf_test_support.h"

namespace vfguard::agent {
namespace {

using bpf_test::RxPackets;
using bpf_test::SendFrom;
using bpf_test::Shell;
using bpf_test::WaitRx;
using ::testing::HasSubstr;

constexpr uint32_t kBlock = 7;
const bpf_test::Mac kMac{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};

policy::IpPrefix P(const char* s) { return *policy::IpPrefix::Parse(s); }

// tcp/80 from set `set` at prio `prio` of chain 0, mirrored to `out`.
offload::SetMatchFilter Rule(uint16_t prio, const std::string& set, const char* out) {
  offload::SetMatchFilter f;
  f.filter.owner = netlink::TcBlock{kBlock};
  f.filter.prio = prio;
  f.filter.handle = 1;
  f.filter.protocol = 0x0800;
  f.filter.actions = {bpf_test::MirrorTo(out)};
  f.rule.ip_proto = 6;
  f.rule.dport = policy::Masked<uint16_t>{80, 0xffff};
  f.set = set;
  return f;
}

TEST(SetMatchHookTest, FiltersFollowTheWantAndMembersAreMapWrites) {
  std::ostringstream log_text;
  common::Logger log(log_text);
  auto hook = KernelSetMatchHook::Create(log);
  ASSERT_TRUE(hook.ok()) << hook.status();
  offload::SetMatchWant want;
  want.sets["group:bastion"] = {P("192.0.2.0/24")};
  want.sets["address-group:office"] = {P("198.51.100.0/24")};
  want.filters = {Rule(1, "group:bastion", "ra"), Rule(2, "address-group:office", "sa")};
  absl::Status s = (*hook)->Sync(want);
  ASSERT_TRUE(s.ok()) << s << "\n" << log_text.str();
  EXPECT_EQ((*hook)->filter_writes(), 2u);
  std::string shown = Shell(absl::StrCat("tc filter show block ", kBlock));
  EXPECT_THAT(shown, HasSubstr("pref 1 bpf chain 0 handle 0x1 flowid :1 vfguard_set_match"));
  EXPECT_THAT(shown, HasSubstr("pref 2 bpf chain 0 handle 0x1 flowid :2 vfguard_set_match"));

  const uint64_t maps = (*hook)->map_writes();
  ASSERT_TRUE((*hook)->Sync(want).ok());
  EXPECT_EQ((*hook)->filter_writes(), 2u) << "an unchanged pass writes nothing";
  EXPECT_EQ((*hook)->map_writes(), maps);

  const uint64_t rb = RxPackets("rb");
  SendFrom("vb", bpf_test::Ipv4Tcp(kMac, {203, 0, 113, 5}, {10, 0, 0, 5}));
  want.sets["group:bastion"].insert(P("203.0.113.5/32"));  // a member joins
  ASSERT_TRUE((*hook)->Sync(want).ok());
  EXPECT_EQ((*hook)->filter_writes(), 2u);
  EXPECT_EQ((*hook)->map_writes(), maps + 1);
  SendFrom("vb", bpf_test::Ipv4Tcp(kMac, {203, 0, 113, 5}, {10, 0, 0, 5}));
  EXPECT_EQ(WaitRx("rb", rb + 1), rb + 1) << "only the frame after the join is mirrored";

  want.filters.pop_back();  // the office rule goes
  want.sets.erase("address-group:office");
  ASSERT_TRUE((*hook)->Sync(want).ok());
  EXPECT_EQ((*hook)->filter_writes(), 3u);
  shown = Shell(absl::StrCat("tc filter show block ", kBlock));
  EXPECT_THAT(shown, HasSubstr("flowid :1"));
  EXPECT_THAT(shown, ::testing::Not(HasSubstr("pref 2")));
}

}  // namespace
}  // namespace vfguard::agent

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::vfguard::bpf_test::SkipUnlessBpfUsable();
  ::vfguard::bpf_test::SetUpMirrorNetnsOrSkip();
  return RUN_ALL_TESTS();
}
