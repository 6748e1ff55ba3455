// The set-match BPF program (offload/bpf/set_match.bpf.c) under
// BPF_PROG_TEST_RUN, with its maps kept by offload::SetMatchProgram.
//
// BPF_PROG_TEST_RUN refuses a non-zero __sk_buff.tc_classid in ctx_in, so
// every run here is the filter with classid 0: rule key 0 (a real filter's
// classid reaches the program through cls_bpf, net/sched/cls_bpf.c).
#include <linux/pkt_cls.h>

#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "offload/set_match_program.h"
#include "tests/bpf/bpf_test_support.h"

namespace vfguard::offload {
namespace {

using bpf_test::Frame;
using bpf_test::Put16;
using bpf_test::PutBytes;
using policy::IpAddr;
using policy::IpPrefix;

constexpr int32_t kMatch = -1;
constexpr int32_t kNoMatch = 0;
constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1;
constexpr uint32_t kSet = 7, kOtherSet = 8;

IpAddr Ip(const char* s) { return *IpAddr::Parse(s); }
IpPrefix Prefix(const char* s) { return *IpPrefix::Parse(s); }

struct Pkt {
  IpAddr src = Ip("192.0.2.5");
  IpAddr dst = Ip("10.0.0.5");
  uint8_t proto = kTcp;
  uint16_t sport = 40000, dport = 22;
  uint8_t icmp_type = 8, icmp_code = 0;
  uint16_t frag = 0;                // IPv4 flags + offset word
  std::vector<uint8_t> v6_ext;      // IPv6: extension header types before L4
  std::optional<uint16_t> v6_frag;  // IPv6: a fragment header with this offset word
  std::optional<uint16_t> tag;      // an 802.1Q tag in the data
};

void PutL4(Frame& f, const Pkt& p) {
  if (p.proto == kIcmp || p.proto == 58) {
    f.insert(f.end(), {p.icmp_type, p.icmp_code, 0, 0, 0, 1, 0, 1});
    return;
  }
  Put16(f, p.sport);
  Put16(f, p.dport);
  f.insert(f.end(), {0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x72, 0x10, 0, 0, 0, 0});
}

Frame Build(const Pkt& p) {
  const bool v4 = p.src.family == policy::IpFamily::kV4;
  Frame f = bpf_test::Ethernet({0x02, 0, 0, 0, 0, 0x05}, {0x02, 0, 0, 0, 0, 0x07}, 0);
  f.resize(12);
  if (p.tag) {
    Put16(f, 0x8100);
    Put16(f, *p.tag);
  }
  Put16(f, v4 ? 0x0800 : 0x86dd);
  Frame l4;
  PutL4(l4, p);
  if (v4) {
    f.insert(f.end(), {0x45, 0});
    Put16(f, static_cast<uint16_t>(20 + l4.size()));
    f.insert(f.end(), {0, 1});
    Put16(f, p.frag);
    f.insert(f.end(), {64, p.proto, 0, 0});
    PutBytes(f, p.src.bytes.data(), 4);
    PutBytes(f, p.dst.bytes.data(), 4);
  } else {
    Frame ext;
    std::vector<uint8_t> chain = p.v6_ext;
    if (p.v6_frag) chain.push_back(44);
    for (size_t i = 0; i < chain.size(); ++i) {
      uint8_t next = i + 1 < chain.size() ? chain[i + 1] : p.proto;
      if (chain[i] == 44) {
        ext.insert(ext.end(), {next, 0});
        Put16(ext, *p.v6_frag);
        ext.insert(ext.end(), {0, 0, 0, 9});
      } else {
        ext.insert(ext.end(), {next, 1, 1, 4, 0, 0, 0, 0});  // 16 bytes: PadN options
        ext.insert(ext.end(), 8, 0);
      }
    }
    f.insert(f.end(), {0x60, 0, 0, 0});
    Put16(f, static_cast<uint16_t>(ext.size() + l4.size()));
    f.push_back(chain.empty() ? p.proto : chain[0]);
    f.push_back(64);
    PutBytes(f, p.src.bytes);
    PutBytes(f, p.dst.bytes);
    f.insert(f.end(), ext.begin(), ext.end());
  }
  f.insert(f.end(), l4.begin(), l4.end());
  return f;
}

SetRule Ssh() {
  SetRule r;
  r.set_id = kSet;
  r.ip_proto = kTcp;
  r.dport = policy::Masked<uint16_t>{22, 0xffff};
  return r;
}

class SetMatchProgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto program = SetMatchProgram::Create();
    ASSERT_TRUE(program.ok()) << program.status();
    program_ = std::move(*program);
    state_.sets[kSet] = {Prefix("192.0.2.0/24"), Prefix("198.51.100.7/32"),
                         Prefix("2001:db8:1::/64")};
    state_.sets[kOtherSet] = {Prefix("203.0.113.0/24"), Prefix("2001:db8:2::/64")};
    Use(Ssh());
  }

  void Use(const SetRule& rule) {
    state_.rules[0] = rule;
    ASSERT_TRUE(program_->Sync(state_).ok());
  }

  int32_t Run(const Pkt& p) {
    bpf_test::RunResult r = bpf_test::TestRun(program_->prog_fd(), Build(p), 0);
    EXPECT_EQ(r.err, 0) << std::strerror(r.err);
    return r.verdict;
  }

  std::unique_ptr<SetMatchProgram> program_;
  SetMatchState state_;
};

TEST_F(SetMatchProgTest, SourceInTheSetWithTheRulesPortMatches) {
  Pkt p;
  EXPECT_EQ(Run(p), kMatch);
  p.src = Ip("198.51.100.7");
  EXPECT_EQ(Run(p), kMatch) << "a host member";
  p.src = Ip("198.51.100.8");
  EXPECT_EQ(Run(p), kNoMatch) << "next to a host member";
  p.src = Ip("203.0.113.9");
  EXPECT_EQ(Run(p), kNoMatch) << "a member of another set only";
  p = Pkt{};
  p.dport = 23;
  EXPECT_EQ(Run(p), kNoMatch);
  p = Pkt{};
  p.proto = kUdp;
  EXPECT_EQ(Run(p), kNoMatch);
  p = Pkt{};
  p.src = Ip("10.0.0.9");
  p.dst = Ip("192.0.2.5");
  EXPECT_EQ(Run(p), kNoMatch) << "an ingress rule looks at the source";
  p.tag = 100;
  p.src = Ip("192.0.2.200");
  EXPECT_EQ(Run(p), kMatch) << "one tag left in the data";
}

TEST_F(SetMatchProgTest, EgressRulesLookAtTheDestination) {
  SetRule r = Ssh();
  r.remote_is_src = false;
  Use(r);
  Pkt p;
  p.src = Ip("10.0.0.5");
  p.dst = Ip("192.0.2.77");
  EXPECT_EQ(Run(p), kMatch);
  p.dst = Ip("10.0.0.6");
  p.src = Ip("192.0.2.77");
  EXPECT_EQ(Run(p), kNoMatch);
}

TEST_F(SetMatchProgTest, AMemberChangeIsOneMapWrite) {
  Pkt p;
  p.src = Ip("198.51.100.7");
  ASSERT_EQ(Run(p), kMatch);
  const uint64_t before = program_->map_writes();
  state_.sets[kSet].erase(Prefix("198.51.100.7/32"));
  ASSERT_TRUE(program_->Sync(state_).ok());
  EXPECT_EQ(program_->map_writes(), before + 1);
  EXPECT_EQ(Run(p), kNoMatch);
  state_.sets[kSet].insert(Prefix("198.51.100.0/30"));
  ASSERT_TRUE(program_->Sync(state_).ok());
  EXPECT_EQ(program_->map_writes(), before + 2);
  EXPECT_EQ(Run(p), kNoMatch) << ".7 is outside .0/30";
  p.src = Ip("198.51.100.3");
  EXPECT_EQ(Run(p), kMatch);
  ASSERT_TRUE(program_->Sync(state_).ok());
  EXPECT_EQ(program_->map_writes(), before + 2) << "an unchanged state writes nothing";
}

TEST_F(SetMatchProgTest, RuleKeysAndFamiliesStaySeparate) {
  Pkt p;
  p.src = Ip("2001:db8:1::5");
  p.dst = Ip("2001:db8:9::1");
  EXPECT_EQ(Run(p), kNoMatch) << "an IPv4 rule never matches IPv6";
  SetRule r = Ssh();
  r.family = policy::IpFamily::kV6;
  Use(r);
  EXPECT_EQ(Run(p), kMatch);
  p.src = Ip("2001:db8:2::5");
  EXPECT_EQ(Run(p), kNoMatch);
  // 192.0.2.0/24 in the IPv4 map does not cover an IPv6 address that starts
  // with the same bytes (c000:02..).
  p.src = Ip("c000:200::1");
  EXPECT_EQ(Run(p), kNoMatch);
  state_.rules.clear();
  ASSERT_TRUE(program_->Sync(state_).ok());
  p.src = Ip("2001:db8:1::5");
  EXPECT_EQ(Run(p), kNoMatch) << "no rule under the filter's classid";
}

TEST_F(SetMatchProgTest, Ipv6ExtensionHeadersAndFragmentsAsFlowerSeesThem) {
  SetRule r = Ssh();
  r.family = policy::IpFamily::kV6;
  Use(r);
  Pkt p;
  p.src = Ip("2001:db8:1::5");
  p.dst = Ip("2001:db8:9::1");
  p.v6_ext = {0, 60};  // hop-by-hop, destination options
  EXPECT_EQ(Run(p), kMatch);
  p.v6_frag = 0x0001;  // first fragment (offset 0, M)
  EXPECT_EQ(Run(p), kNoMatch) << "a fragment carries no ports for flower";
  r.dport.reset();
  Use(r);
  EXPECT_EQ(Run(p), kMatch) << "ip_proto is the fragment header's next header";
}

TEST_F(SetMatchProgTest, Ipv4FragmentsHaveNoPorts) {
  Pkt p;
  p.frag = 0x2000;  // MF
  EXPECT_EQ(Run(p), kNoMatch);
  SetRule r = Ssh();
  r.dport = policy::Masked<uint16_t>{0, 0xfc00};  // 0-1023 as one mask
  Use(r);
  EXPECT_EQ(Run(p), kMatch) << "its port reads 0, as flower's does";
  p.frag = 0;
  p.dport = 2000;
  EXPECT_EQ(Run(p), kNoMatch);
}

TEST_F(SetMatchProgTest, IcmpTypeAndCode) {
  SetRule r;
  r.set_id = kSet;
  r.ip_proto = kIcmp;
  r.icmp_type = 8;
  r.icmp_code = 0;
  Use(r);
  Pkt p;
  p.proto = kIcmp;
  EXPECT_EQ(Run(p), kMatch);
  p.icmp_type = 0;
  EXPECT_EQ(Run(p), kNoMatch);
  p.icmp_type = 8;
  p.icmp_code = 1;
  EXPECT_EQ(Run(p), kNoMatch);
  r.icmp_code.reset();
  Use(r);
  EXPECT_EQ(Run(p), kMatch);
}

TEST_F(SetMatchProgTest, BadPrefixIsRefusedBeforeAnyWrite) {
  const uint64_t before = program_->map_writes();
  SetMatchState bad = state_;
  bad.sets[9] = {Prefix("192.0.2.0/24"), IpPrefix{Ip("192.0.2.0"), 33}};
  absl::Status s = program_->Sync(bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(program_->map_writes(), before);
}

}  // namespace
}  // namespace vfguard::offload

VFGUARD_BPF_TEST_MAIN()
