// The set-match program in a real shared tc block, attached in classifier
// mode with the cls_bpf request from netlink/bpf_filter_codec.h: two filters
// share the one loaded program and tell their rules apart only by classid
// (cls_bpf hands it to the program as __sk_buff.tc_classid, which
// BPF_PROG_TEST_RUN cannot set), and each runs its own action when its
// program matches. Real frames from an AF_PACKET socket on a veth peer; the
// action is a mirred mirror to a per-rule veth whose peer counts what
// arrived (the host kernel here has cls_bpf and act_mirred, not act_gact).
// A member added to a set is then one map write: the next frame from it
// matches with no filter written.
//
// Runs in a private network namespace (unshare); needs root, veth, clsact,
// cls_bpf and act_mirred, and exits 77 naming what is missing.
#include <net/if.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "netlink/bpf_filter_codec.h"
#include "netlink/tc_codec.h"
#include "offload/set_match_program.h"
#include "tests/bpf/attach_support.h"
#include "tests/bpf/bpf_test_support.h"

namespace vfguard::offload {
namespace {

using bpf_test::RxPackets;
using bpf_test::SendFrom;
using bpf_test::Shell;
using bpf_test::WaitRx;
using ::testing::HasSubstr;

constexpr uint32_t kBlock = 7;
const bpf_test::Mac kMac{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};

SetRule Http(uint32_t set) {
  SetRule r;
  r.set_id = set;
  r.ip_proto = 6;
  r.dport = policy::Masked<uint16_t>{80, 0xffff};
  return r;
}

TEST(SetMatchAttachTest, ClassidSelectsTheRuleAndAMemberChangeIsAMapWrite) {
  auto program = SetMatchProgram::Create();
  ASSERT_TRUE(program.ok()) << program.status();
  SetMatchState state;
  state.rules = {{1, Http(7)}, {2, Http(8)}};
  state.sets[7] = {*policy::IpPrefix::Parse("192.0.2.0/24")};
  state.sets[8] = {*policy::IpPrefix::Parse("198.51.100.0/24")};
  ASSERT_TRUE((*program)->Sync(state).ok());

  // prio 1: rule 1, mirror to ra; prio 2: rule 2, mirror to sa.
  int seq = 1;
  for (auto [prio, out] : {std::pair<uint16_t, const char*>{1, "ra"}, {2, "sa"}}) {
    netlink::BpfFilter f;
    f.owner = netlink::TcBlock{kBlock};
    f.prio = prio;
    f.handle = 1;
    f.protocol = 0x0800;
    f.prog_fd = (*program)->prog_fd();
    f.name = SetMatchProgram::kProgramName;
    f.direct_action = false;
    f.classid = prio;  // the rule key
    f.actions = {bpf_test::MirrorTo(out)};
    absl::Status attached = bpf_test::CreateBpfFilter(f, seq++);
    ASSERT_TRUE(attached.ok()) << attached;
  }
  std::string shown = Shell(absl::StrCat("tc filter show block ", kBlock));
  EXPECT_THAT(shown, HasSubstr("vfguard_set_match"));
  EXPECT_THAT(shown, HasSubstr("flowid :1"));
  EXPECT_THAT(shown, HasSubstr("mirred"));
  EXPECT_THAT(shown, ::testing::Not(HasSubstr("direct-action")));

  const uint64_t d0 = RxPackets("rb"), f0 = RxPackets("sb");
  SendFrom("vb", bpf_test::Ipv4Tcp(kMac, {192, 0, 2, 5}, {10, 0, 0, 5}));  // set 7: rule 1
  EXPECT_EQ(WaitRx("rb", d0 + 1), d0 + 1);
  SendFrom("vb", bpf_test::Ipv4Tcp(kMac, {198, 51, 100, 5}, {10, 0, 0, 5}));  // set 8: rule 2
  EXPECT_EQ(WaitRx("sb", f0 + 1), f0 + 1);
  SendFrom("vb", bpf_test::Ipv4Tcp(kMac, {203, 0, 113, 5}, {10, 0, 0, 5}));  // neither
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(RxPackets("rb"), d0 + 1);
  EXPECT_EQ(RxPackets("sb"), f0 + 1);

  // 203.0.113.0/24 joins set 7: one map write, no filter written.
  const uint64_t writes = (*program)->map_writes();
  state.sets[7].insert(*policy::IpPrefix::Parse("203.0.113.0/24"));
  ASSERT_TRUE((*program)->Sync(state).ok());
  EXPECT_EQ((*program)->map_writes(), writes + 1);
  SendFrom("vb", bpf_test::Ipv4Tcp(kMac, {203, 0, 113, 5}, {10, 0, 0, 5}));
  EXPECT_EQ(WaitRx("rb", d0 + 2), d0 + 2);
  EXPECT_EQ(RxPackets("sb"), f0 + 1);
}

}  // namespace
}  // namespace vfguard::offload

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::vfguard::bpf_test::SkipUnlessBpfUsable();
  ::vfguard::bpf_test::SetUpMirrorNetnsOrSkip();
  return RUN_ALL_TESTS();
}
