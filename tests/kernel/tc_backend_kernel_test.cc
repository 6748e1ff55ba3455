// Kernel tier: one scenario of clsact and flower operations, run against the
// real kernel (NetlinkTcBackend, veth pairs in a private network namespace)
// and against FakeTcBackend; both must give the same errnos and the same
// dumps (after WithoutStatus), and both must give the errnos written here.
//
// A second test installs every filter the compiler produces for a small
// snapshot, translated by offload/tc_translate, and checks that the kernel's
// dump gives back exactly what was translated: the reconciler's diff (and so
// a hitless restart) depends on that.
//
// Exits 77 (skipped) with the reason when not root, without network
// namespaces, veth, clsact or cls_flower.
#include <errno.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/netlink_tc_backend.h"
#include "agent/write_waves.h"
#include "netlink/tc_codec.h"
#include "offload/tc_translate.h"
#include "policy/compiler.h"
#include "policy/slots.h"
#include "policy/validate.h"
#include "tests/fakes/fake_tc_backend.h"

namespace vfguard::agent {
namespace {

using netlink::FlowerFilter;
using netlink::GactAction;
using netlink::TcAction;
using ::testing::ElementsAre;

constexpr uint32_t kBlock = 21;

struct Devices {
  uint32_t a = 0, b = 0;  // the two "representors" sharing the block
  std::string a_name = "rep0", b_name = "rep1";
};
Devices* devices = nullptr;

// What a backend answered over the scenario.
struct Record {
  std::vector<std::vector<int>> errnos;  // per Apply call
  std::vector<std::map<uint32_t, uint32_t>> clsact;
  std::vector<std::vector<FlowerFilter>> dumps;  // stripped, by (chain, prio, handle)
  auto operator<=>(const Record&) const = default;
};

std::string ToString(const Record& r) {
  std::string out;
  for (size_t i = 0; i < r.errnos.size(); ++i) {
    absl::StrAppend(&out, "apply ", i, ":");
    for (int e : r.errnos[i]) absl::StrAppend(&out, " ", e);
    out += "\n";
  }
  for (size_t i = 0; i < r.clsact.size(); ++i) {
    absl::StrAppend(&out, "clsact ", i, ":");
    for (auto [dev, block] : r.clsact[i]) absl::StrAppend(&out, " ", dev, "->", block);
    out += "\n";
  }
  for (size_t i = 0; i < r.dumps.size(); ++i) {
    absl::StrAppend(&out, "dump ", i, ":\n");
    for (const FlowerFilter& f : r.dumps[i]) absl::StrAppend(&out, "  ", DebugString(f), "\n");
  }
  return out;
}

FlowerFilter Base(uint32_t chain, uint16_t prio, uint32_t handle) {
  FlowerFilter f;
  f.owner = netlink::TcBlock{kBlock};
  f.chain = chain;
  f.prio = prio;
  f.handle = handle;
  f.protocol = 0x0800;
  f.keys.eth_type = 0x0800;
  f.keys.ip_proto = 6;
  f.skip_hw = true;
  f.actions = {TcAction{GactAction{GactAction::Verdict::kDrop}, {}}};
  return f;
}

TcOp Qdisc(TcOp::Kind kind, uint32_t ifindex) {
  TcOp op;
  op.kind = kind;
  op.qdisc = netlink::ClsactQdisc{ifindex, kBlock};
  return op;
}
TcOp Op(TcOp::Kind kind, FlowerFilter f) {
  TcOp op;
  op.kind = kind;
  op.filter = std::move(f);
  return op;
}

void Step(TcBackend& backend, const std::vector<TcOp>& ops, Record& r) {
  std::vector<absl::Status> statuses = backend.Apply(ops);
  std::vector<int> errnos;
  for (const absl::Status& s : statuses) {
    // Every failure must carry an errno (nothing fails before the kernel here).
    EXPECT_TRUE(s.ok() || netlink::ErrnoFromStatus(s) != 0) << s;
    errnos.push_back(netlink::ErrnoFromStatus(s));
  }
  r.errnos.push_back(errnos);
  absl::StatusOr<std::map<uint32_t, uint32_t>> clsact = backend.DumpClsact();
  EXPECT_TRUE(clsact.ok()) << clsact.status();
  std::map<uint32_t, uint32_t> ours;
  if (clsact.ok()) {
    for (auto [dev, block] : *clsact) {
      if (dev == devices->a || dev == devices->b) ours[dev] = block;
    }
  }
  r.clsact.push_back(ours);
  absl::StatusOr<std::vector<FlowerFilter>> dump = backend.DumpBlock(kBlock);
  EXPECT_TRUE(dump.ok()) << dump.status();
  std::vector<FlowerFilter> stripped;
  if (dump.ok()) {
    for (const FlowerFilter& f : *dump) stripped.push_back(netlink::WithoutStatus(f));
  }
  // The kernel lists chains in creation order; the scenario does not care.
  std::sort(stripped.begin(), stripped.end(), [](const FlowerFilter& x, const FlowerFilter& y) {
    return std::tie(x.chain, x.prio, x.handle) < std::tie(y.chain, y.prio, y.handle);
  });
  r.dumps.push_back(stripped);
}

Record Scenario(TcBackend& backend) {
  Record r;
  using K = TcOp::Kind;
  // 0: the block on two devices; a second clsact is EEXIST.
  Step(backend,
       {Qdisc(K::kCreateClsact, devices->a), Qdisc(K::kCreateClsact, devices->b),
        Qdisc(K::kCreateClsact, devices->a)},
       r);

  FlowerFilter dispatch = Base(0, 1, 1);
  dispatch.protocol = 0x0003;
  dispatch.keys = {};
  dispatch.keys.indev = devices->a_name;
  dispatch.actions = {TcAction{GactAction{GactAction::Verdict::kGotoChain, 5}, {}}};
  FlowerFilter allow = Base(5, 2, 1);
  allow.keys.tcp_dst = netlink::Exact<uint16_t>(80);
  allow.actions = {TcAction{netlink::CtAction{7, true, false}, {}},
                   TcAction{netlink::MirredAction{netlink::MirredAction::Mode::kRedirect,
                                                  devices->b, std::nullopt},
                            {}}};
  FlowerFilter other = Base(5, 2, 2);
  other.keys.tcp_dst = netlink::Exact<uint16_t>(22);
  FlowerFilter unbound = Base(1, 1, 1);
  unbound.owner = netlink::TcBlock{kBlock + 1};
  FlowerFilter hw = Base(5, 2, 1 | (1u << 30));
  hw.skip_hw = false;
  hw.skip_sw = true;
  FlowerFilter allow2 = allow;
  allow2.keys.tcp_dst = netlink::Exact<uint16_t>(443);
  FlowerFilter missing = Base(5, 2, 3);
  FlowerFilter v6 = Base(5, 2, 9);
  v6.protocol = 0x86dd;
  v6.keys.eth_type = 0x86dd;
  FlowerFilter same_match = allow2;
  same_match.handle = 4;
  // 1: creates, EEXIST, unbound block, skip_sw on veth, replace, ENOENT,
  // delete twice, another protocol at a taken prio, a second handle with the
  // same match.
  Step(backend,
       {Op(K::kCreateFilter, dispatch), Op(K::kCreateFilter, allow), Op(K::kCreateFilter, other),
        Op(K::kCreateFilter, dispatch), Op(K::kCreateFilter, unbound), Op(K::kCreateFilter, hw),
        Op(K::kReplaceFilter, allow2), Op(K::kReplaceFilter, missing), Op(K::kDeleteFilter, other),
        Op(K::kDeleteFilter, other), Op(K::kCreateFilter, v6), Op(K::kCreateFilter, same_match)},
       r);
  // 2: one device leaves the block; its filters stay.
  Step(backend, {Qdisc(K::kDeleteClsact, devices->a)}, r);
  // 3: the last one leaves; the block and its filters go; ENOENT after.
  Step(backend, {Qdisc(K::kDeleteClsact, devices->b), Qdisc(K::kDeleteClsact, devices->b)}, r);
  return r;
}

TEST(TcBackendKernel, KernelAndFakeAgree) {
  absl::StatusOr<std::unique_ptr<NetlinkTcBackend>> kernel = NetlinkTcBackend::Open();
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  FakeTcBackend fake;
  fake.AddDevice(devices->a, devices->a_name);
  fake.AddDevice(devices->b, devices->b_name);

  Record from_kernel = Scenario(**kernel);
  Record from_fake = Scenario(fake);
  EXPECT_EQ(from_kernel, from_fake) << "kernel:\n"
                                    << ToString(from_kernel) << "fake:\n"
                                    << ToString(from_fake);

  // And both are what the scenario's comments say.
  const uint32_t a = devices->a, b = devices->b;
  ASSERT_EQ(from_kernel.errnos.size(), 4u);
  EXPECT_THAT(from_kernel.errnos[0], ElementsAre(0, 0, EEXIST));
  EXPECT_THAT(from_kernel.errnos[1], ElementsAre(0, 0, 0, EEXIST, EINVAL, EOPNOTSUPP, 0, ENOENT, 0,
                                                 ENOENT, EINVAL, EEXIST));
  EXPECT_THAT(from_kernel.errnos[2], ElementsAre(0));
  EXPECT_THAT(from_kernel.errnos[3], ElementsAre(0, ENOENT));
  EXPECT_EQ(from_kernel.clsact[0], (std::map<uint32_t, uint32_t>{{a, kBlock}, {b, kBlock}}));
  EXPECT_EQ(from_kernel.clsact[2], (std::map<uint32_t, uint32_t>{{b, kBlock}}));
  EXPECT_TRUE(from_kernel.clsact[3].empty());
  ASSERT_EQ(from_kernel.dumps[1].size(), 2u);
  EXPECT_EQ(from_kernel.dumps[1][0].handle, 1u);
  EXPECT_EQ(from_kernel.dumps[1][0].chain, 0u);
  EXPECT_EQ(from_kernel.dumps[1][1].keys.tcp_dst, netlink::Exact<uint16_t>(443));
  EXPECT_EQ(from_kernel.dumps[2], from_kernel.dumps[1]);
  EXPECT_TRUE(from_kernel.dumps[3].empty());

  // Every op of the scenario encodes, so each is one write, on both.
  EXPECT_EQ((*kernel)->writes().Total(), 18u);
  EXPECT_EQ((*kernel)->writes(), fake.writes());
  EXPECT_EQ((*kernel)->writes().Of(TcOp::Kind::kDeleteClsact), 3u);
}

// Two networks (VLAN 100 and flat), a port with a group that has TCP, a port
// range, ICMP, a remote group and a deny rule, a VIP and an address pair, an
// IPv6 port, a port-security-off port and a pending one.
policy::Snapshot Sample() {
  using namespace policy;
  Snapshot s;
  s.networks["v"] = Network{"v", Segmentation::kVlan, 100};
  s.networks["f"] = Network{"f", Segmentation::kFlat, 0};
  SecurityGroup web;
  web.id = "web";
  SecurityGroupRule http;
  http.protocol = kProtoTcp;
  http.ports = PortRange{80, 80};
  SecurityGroupRule range = http;
  range.ports = PortRange{8000, 8100};
  range.remote_prefix = *IpPrefix::Parse("10.1.0.0/16");
  SecurityGroupRule ping;
  ping.protocol = kProtoIcmp;
  ping.icmp = IcmpMatch{8, 0};
  SecurityGroupRule ping6 = ping;
  ping6.ethertype = EtherType::kIPv6;
  ping6.protocol = kProtoIcmpv6;
  ping6.icmp = IcmpMatch{128, std::nullopt};
  SecurityGroupRule out;
  out.direction = Direction::kEgress;
  SecurityGroupRule out6 = out;
  out6.ethertype = EtherType::kIPv6;
  SecurityGroupRule peers;
  peers.protocol = kProtoUdp;
  peers.remote_group_id = "web";
  SecurityGroupRule deny;
  deny.protocol = kProtoSctp;
  deny.ports = PortRange{9, 9};
  deny.action = RuleAction::kDeny;
  deny.priority = 10;
  web.rules = {http, range, ping, ping6, out, out6, peers, deny};
  s.security_groups["web"] = web;
  auto port = [](const char* id, const char* net, const char* mac, const char* ip) {
    Port p;
    p.id = id;
    p.network_id = net;
    p.mac = *MacAddr::Parse(mac);
    p.fixed_ips = {*IpAddr::Parse(ip)};
    p.representor.ref = id;
    return p;
  };
  Port a = port("a", "v", "02:00:00:00:00:0a", "10.0.0.10");
  a.security_group_ids = {"web"};
  a.vips = {*IpAddr::Parse("10.0.0.100")};
  a.allowed_address_pairs = {
      AllowedAddressPair{*IpPrefix::Parse("10.9.0.0/16"), *MacAddr::Parse("02:00:00:00:00:aa")}};
  Port b = port("b", "v", "02:00:00:00:00:0b", "fd00::b");
  b.security_group_ids = {"web"};
  Port c = port("c", "f", "02:00:00:00:00:0c", "192.168.0.5");
  c.port_security = false;
  Port d = port("d", "v", "02:00:00:00:00:0d", "10.0.0.13");
  d.state = PortState::kPendingActivation;
  for (Port* p : {&a, &b, &c, &d}) s.ports[p->id] = *p;
  return s;
}

// uplink -> "up0", port:<id> -> "p<id>" (created in main).
std::optional<offload::Netdev> Resolve(const policy::DeviceRef& ref) {
  std::string name = ref.kind == policy::DeviceRef::Kind::kUplink ? "up0" : "p" + *ref.port_id;
  uint32_t ifindex = if_nametoindex(name.c_str());
  if (ifindex == 0) return std::nullopt;
  return offload::Netdev{ifindex, name};
}

std::vector<FlowerFilter> Sorted(std::vector<FlowerFilter> v) {
  for (FlowerFilter& f : v) f = netlink::WithoutStatus(f);
  std::sort(v.begin(), v.end(), [](const FlowerFilter& x, const FlowerFilter& y) {
    return std::tie(x.owner, x.chain, x.prio, x.handle) <
           std::tie(y.owner, y.chain, y.prio, y.handle);
  });
  return v;
}

TEST(TcBackendKernel, CompiledPipelineRoundTrips) {
  constexpr uint32_t kPipelineBlock = 22;
  policy::Snapshot s = Sample();
  ASSERT_TRUE(policy::Validate(s).ok()) << policy::Validate(s);
  absl::StatusOr<policy::SlotAssignment> slots = policy::AssignSlots(s, {});
  ASSERT_TRUE(slots.ok()) << slots.status();
  absl::StatusOr<policy::Pipeline> pipeline = policy::Compile(s, *slots);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();

  std::vector<TcOp> ops;
  // Every device binds the block; the ports' clsact also holds their egress hooks.
  std::vector<uint32_t> devices;
  for (const char* name : {"up0", "pa", "pb", "pc", "pd"}) devices.push_back(if_nametoindex(name));
  for (uint32_t dev : devices)
    ops.push_back(TcOp{TcOp::Kind::kCreateClsact, {dev, kPipelineBlock}, {}});
  const size_t qdisc_ops = ops.size();
  std::vector<FlowerFilter> translated;
  for (const policy::Filter& f : pipeline->filters) {
    absl::StatusOr<FlowerFilter> k =
        offload::ToKernelFilter(f, kPipelineBlock, offload::Copy::kSlowPath, Resolve);
    ASSERT_TRUE(k.ok()) << k.status() << " (" << f.origin() << ")";
    translated.push_back(*k);
    ops.push_back(Op(TcOp::Kind::kCreateFilter, *k));
  }
  ASSERT_GT(translated.size(), 30u);

  absl::StatusOr<std::unique_ptr<NetlinkTcBackend>> kernel = NetlinkTcBackend::Open();
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  FakeTcBackend fake;
  for (const char* name : {"up0", "pa", "pb", "pc", "pd"})
    fake.AddDevice(if_nametoindex(name), name);
  for (TcBackend* backend : std::vector<TcBackend*>{kernel->get(), &fake}) {
    const char* which = backend == &fake ? "fake" : "kernel";
    std::vector<absl::Status> statuses = backend->Apply(ops);
    int failed = 0;
    for (size_t i = 0; i < statuses.size(); ++i) {
      if (!statuses[i].ok() && ++failed <= 5) {
        ADD_FAILURE() << which << ": op " << i << ": " << statuses[i] << "\n"
                      << DebugString(ops[i].filter);
      }
    }
    EXPECT_EQ(failed, 0) << which;
    // The block and every egress hook, as the reconciler's audit reads them.
    auto dump_all = [&]() {
      std::vector<FlowerFilter> all;
      std::vector<netlink::FilterOwner> owners{netlink::TcBlock{kPipelineBlock}};
      for (uint32_t dev : devices) {
        owners.push_back(netlink::TcDevice{dev, netlink::kClsactEgressParent});
      }
      for (const netlink::FilterOwner& owner : owners) {
        absl::StatusOr<std::vector<FlowerFilter>> dump = backend->DumpFilters(owner);
        EXPECT_TRUE(dump.ok()) << dump.status();
        if (dump.ok()) all.insert(all.end(), dump->begin(), dump->end());
      }
      return Sorted(all);
    };
    std::vector<FlowerFilter> got = dump_all();
    std::vector<FlowerFilter> want = Sorted(translated);
    EXPECT_EQ(got.size(), want.size()) << which;
    int shown = 0;
    for (size_t i = 0; i < std::min(got.size(), want.size()) && shown < 5; ++i) {
      if (got[i] != want[i]) {
        ++shown;
        ADD_FAILURE() << which << ": dumped\n  " << DebugString(got[i]) << "\nbut installed\n  "
                      << DebugString(want[i]);
      }
    }
    EXPECT_TRUE(got == want) << which << ": the dump differs from what was installed";
    // One chain (the restart's check of chain 0 against the installed
    // record): exactly that chain's filters, for a chain with some and one
    // with none.
    uint32_t last_block_chain = 0;
    for (const FlowerFilter& f : want) {
      if (std::holds_alternative<netlink::TcBlock>(f.owner)) last_block_chain = f.chain;
    }
    for (uint32_t chain : {0u, last_block_chain, 0x0ffffffeu}) {
      std::vector<FlowerFilter> of_chain;
      for (const FlowerFilter& f : want) {
        if (f.chain == chain && std::holds_alternative<netlink::TcBlock>(f.owner)) {
          of_chain.push_back(f);
        }
      }
      absl::StatusOr<std::vector<FlowerFilter>> dumped =
          backend->DumpChain(netlink::TcBlock{kPipelineBlock}, chain);
      ASSERT_TRUE(dumped.ok()) << which << ": " << dumped.status();
      EXPECT_TRUE(Sorted(*dumped) == of_chain)
          << which << ": chain " << chain << ": " << dumped->size() << " dumped, "
          << of_chain.size() << " installed";
      if (chain == 0) EXPECT_FALSE(of_chain.empty()) << "the dispatch lives in chain 0";
    }
    // Installing the same again changes nothing and every filter is EEXIST.
    std::vector<TcOp> again(ops.begin() + qdisc_ops, ops.end());
    for (const absl::Status& st : backend->Apply(again)) {
      EXPECT_EQ(netlink::ErrnoFromStatus(st), EEXIST) << which << ": " << st;
    }
    EXPECT_TRUE(dump_all() == want) << which;
    std::vector<TcOp> cleanup;
    for (uint32_t dev : devices) cleanup.push_back(Qdisc(TcOp::Kind::kDeleteClsact, dev));
    for (const absl::Status& st : backend->Apply(cleanup)) EXPECT_TRUE(st.ok()) << st;
    EXPECT_TRUE(dump_all().empty()) << which;
  }
}

// Two write lanes (agent/write_waves.h): a jump graph of 600 writes in
// waves of 200+ ops, lanes on two sockets and two threads. Every status
// lands on its own op (a duplicate gets EEXIST, an invalid filter the
// encoder's error, everything else OK), and the kernel ends with exactly
// the filters written, on the block and on a device's egress hook.
TEST(TcBackendKernel, TwoLanesWriteAJumpGraphAndMapEveryResultBack) {
  constexpr uint32_t kLanesBlock = 23;
  constexpr uint32_t kChains = 100;
  const uint32_t dev = if_nametoindex("probe0");
  ASSERT_NE(dev, 0u);
  auto block_filter = [&](uint32_t chain, uint16_t prio, uint32_t handle,
                          std::optional<uint32_t> jump) {
    FlowerFilter f = Base(chain, prio, handle);
    f.owner = netlink::TcBlock{kLanesBlock};
    if (jump) f.actions = {TcAction{GactAction{GactAction::Verdict::kGotoChain, *jump}, {}}};
    return f;
  };
  std::vector<TcOp> ops = {TcOp{TcOp::Kind::kCreateClsact, {dev, kLanesBlock}, {}}};
  std::vector<FlowerFilter> want;
  auto add = [&](FlowerFilter f) {
    ops.push_back(Op(TcOp::Kind::kCreateFilter, f));
    want.push_back(std::move(f));
  };
  for (uint32_t c = 0; c < kChains; ++c) {  // wave 1: leaves, two prios each
    add(block_filter(100 + c, 1, 1, std::nullopt));
    add(block_filter(100 + c, 2, 1, std::nullopt));
  }
  const size_t duplicate = ops.size();
  ops.push_back(ops[1]);  // same key as the first leaf: EEXIST, same lane after it
  FlowerFilter bad = block_filter(99, 1, 1, std::nullopt);
  bad.keys.eth_type.reset();  // ip_proto without its prerequisite
  const size_t invalid = ops.size();
  ops.push_back(Op(TcOp::Kind::kCreateFilter, bad));
  for (uint32_t c = 0; c < kChains; ++c) {  // wave 2: jumps to the leaves
    add(block_filter(1000 + c, 1, 1, 100 + c));
    FlowerFilter egress = Base(0, static_cast<uint16_t>(10 + c), 1);
    egress.owner = netlink::TcDevice{dev, netlink::kClsactEgressParent};
    add(egress);
  }
  for (uint32_t c = 0; c < kChains; ++c) {  // wave 3: the dispatch
    add(block_filter(0, static_cast<uint16_t>(1 + c), 1, 1000 + c));
  }
  const std::vector<WriteWave> waves = SplitIntoWaves(ops, 2);
  ASSERT_EQ(waves.size(), 4u);
  for (size_t w = 1; w < waves.size(); ++w) {
    ASSERT_EQ(waves[w].lanes.size(), 2u) << "wave " << w;
    ASSERT_GE(waves[w].size(), NetlinkTcBackend::kMinParallelOps) << "wave " << w;
  }

  absl::StatusOr<std::unique_ptr<NetlinkTcBackend>> kernel = NetlinkTcBackend::Open(2);
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  std::vector<absl::Status> statuses = (*kernel)->Apply(ops);
  ASSERT_EQ(statuses.size(), ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    if (i == duplicate) {
      EXPECT_EQ(netlink::ErrnoFromStatus(statuses[i]), EEXIST) << statuses[i];
    } else if (i == invalid) {
      EXPECT_EQ(statuses[i].code(), absl::StatusCode::kInvalidArgument) << statuses[i];
    } else {
      EXPECT_TRUE(statuses[i].ok()) << "op " << i << ": " << statuses[i];
    }
  }
  EXPECT_EQ((*kernel)->writes().Total(), ops.size() - 1) << "the invalid op is not a write";
  std::vector<FlowerFilter> got;
  for (const netlink::FilterOwner& owner :
       {netlink::FilterOwner{netlink::TcBlock{kLanesBlock}},
        netlink::FilterOwner{netlink::TcDevice{dev, netlink::kClsactEgressParent}}}) {
    absl::StatusOr<std::vector<FlowerFilter>> dump = (*kernel)->DumpFilters(owner);
    ASSERT_TRUE(dump.ok()) << dump.status();
    for (const FlowerFilter& f : *dump) got.push_back(netlink::WithoutStatus(f));
  }
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(Sorted(got) == Sorted(want)) << "the kernel holds exactly what was written";
  for (const absl::Status& st : (*kernel)->Apply({Qdisc(TcOp::Kind::kDeleteClsact, dev)})) {
    EXPECT_TRUE(st.ok()) << st;
  }
}

int Skip(const std::string& reason) {
  std::printf("SKIP: %s\n", reason.c_str());
  return 77;
}

int Shell(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str());
}

}  // namespace
}  // namespace vfguard::agent

int main(int argc, char** argv) {
  using namespace vfguard::agent;
  ::testing::InitGoogleTest(&argc, argv);
  if (geteuid() != 0) return Skip("needs root (network namespaces, tc)");
  if (unshare(CLONE_NEWNET) != 0) {
    return Skip(absl::StrCat("unshare(CLONE_NEWNET): ", strerror(errno)));
  }
  static Devices d;
  devices = &d;
  for (auto [dev, peer] : {std::pair{"rep0", "vm0"},
                           {"rep1", "vm1"},
                           {"probe0", "probe1"},
                           {"up0", "up0_vm"},
                           {"pa", "pa_vm"},
                           {"pb", "pb_vm"},
                           {"pc", "pc_vm"},
                           {"pd", "pd_vm"}}) {
    if (Shell(absl::StrCat("ip link add ", dev, " type veth peer name ", peer)) != 0 ||
        Shell(absl::StrCat("ip link set ", dev, " up")) != 0 ||
        Shell(absl::StrCat("ip link set ", peer, " up")) != 0) {
      return Skip("cannot create veth pairs with ip(8)");
    }
  }
  d.a = if_nametoindex("rep0");
  d.b = if_nametoindex("rep1");
  // Probe clsact, shared blocks and cls_flower on a device the scenario does not use.
  if (Shell("tc qdisc add dev probe0 ingress_block 99 clsact") != 0 ||
      Shell("tc filter add block 99 protocol all prio 1 flower action ok") != 0) {
    return Skip("kernel lacks clsact, shared blocks or cls_flower");
  }
  Shell("tc qdisc del dev probe0 clsact");
  return RUN_ALL_TESTS();
}
