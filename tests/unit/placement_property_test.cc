// Property (b) of the foundation issue: for random pipelines, random frame
// sequences and random sets of filters the hardware refuses (a random share
// on top of what the mlx5 model refuses, traps included), running the
// hardware pipeline and handing trapped frames to the slow path (re-run from
// chain 0 as they arrived) delivers exactly what the slow path alone
// delivers, and no filter with an effect (mirror, vlan edit, ct commit) runs
// in hardware before a trap. Two sources of pipelines:
//  - compiled pipelines of random snapshots (the real compiler), and
//  - random IR pipelines from the generator below, which uses actions the
//    compiler rarely or never emits (continue, pipe, mirror then goto, vlan
//    edits and ct commit before later chains, many masks) so that every
//    placement path is taken.
// 10,000 cases each per run (RC_PARAMS in tests/unit/meson.build).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "offload/hw_model.h"
#include "offload/placement.h"
#include "policy/compiler.h"
#include "policy/model.h"
#include "policy/simulator.h"
#include "policy/slots.h"
#include "tests/unit/gen/random_policy.h"

namespace vfguard::offload {
namespace {

using policy::Action;
using policy::ConntrackModel;
using policy::DeviceRef;
using policy::Filter;
using policy::Packet;
using policy::Pipeline;
using policy::Verdict;
using Kind = policy::Action::Kind;

bool IsTrap(const Filter& f) { return f.actions.size() == 1 && f.actions[0].kind == Kind::kTrap; }

// The model under random capabilities, plus a random share of refusals it
// does not know about (table full, firmware), traps included so that the
// trap fallbacks run. Deterministic per (seed, filter).
struct RandomOffer {
  uint64_t seed;
  HardwareModel model;
  uint64_t reject_per_mille;
  uint64_t trap_reject_per_mille;

  absl::Status operator()(const Filter& f) const {
    absl::Status st = model.Accepts(f);
    if (!st.ok()) return st;
    std::string indev = f.match->indev ? f.match->indev->ToString() : "";
    uint64_t h = absl::HashOf(seed, f.chain, f.prio, f.handle, f.protocol, indev, f.match->ip_proto,
                              f.match == policy::FlowerMatch{});
    uint64_t limit = IsTrap(f) ? trap_reject_per_mille : reject_per_mille;
    if (h % 1000 < limit) return absl::ResourceExhaustedError("random refusal");
    return st;
  }
};

RandomOffer MakeOffer(uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  HwCapabilities caps;
  caps.icmp_flex_parser = rng() % 2;
  caps.ignore_flow_level = rng() % 4 != 0;
  caps.skip_sw_indev_refused_by_peers = rng() % 8 == 0;
  uint64_t trap_share = rng() % 3 == 0 ? rng() % 700 : 0;
  return RandomOffer{seed, HardwareModel(caps), rng() % 500, trap_share};
}

// Structural checks: every hardware filter was accepted, and each (chain,
// prio) of the hardware holds either exactly the IR group or one trap (tc's
// one mask per prio).
void CheckStructure(const Pipeline& ir, const PlacementResult& placed, const RandomOffer& offer) {
  RC_ASSERT(placed.SlowPathPipeline() == ir);
  RC_ASSERT(placed.filters.size() == ir.filters.size());
  Pipeline hw = placed.HardwarePipeline();
  std::map<std::pair<uint32_t, uint16_t>, std::vector<const Filter*>> hw_groups, ir_groups;
  for (const Filter& f : hw.filters) {
    RC_ASSERT(offer(f).ok());
    hw_groups[{f.chain, f.prio}].push_back(&f);
  }
  for (const Filter& f : ir.filters) ir_groups[{f.chain, f.prio}].push_back(&f);
  for (const auto& [key, members] : hw_groups) {
    bool one_trap = members.size() == 1 && IsTrap(*members[0]);
    bool whole_group = ir_groups.count(key) && ir_groups[key].size() == members.size();
    if (whole_group) {
      for (size_t i = 0; i < members.size(); ++i) whole_group &= *members[i] == *ir_groups[key][i];
    }
    RC_ASSERT(one_trap || whole_group);
  }
  for (const PlacedFilter& p : placed.filters) {
    RC_ASSERT(p.status < placed.statuses.size());
    RC_ASSERT((p.placement == Placement::kHardware) == placed.HwStatus(p).ok());
    RC_ASSERT(p.trap == PlacedFilter::kNoTrap || p.trap < placed.traps.size());
  }
  // Each distinct status once, OK first.
  RC_ASSERT(placed.statuses.front().ok());
  for (size_t i = 1; i < placed.statuses.size(); ++i) {
    RC_ASSERT(!placed.statuses[i].ok());
    for (size_t j = 0; j < i; ++j) RC_ASSERT(placed.statuses[i] != placed.statuses[j]);
  }
}

// The filters a hardware run went through, from its trace ("chain C prio P
// handle H: ..."), so the test can see which effects ran before a trap.
std::vector<const Filter*> FiltersRun(const Pipeline& hw, const Verdict& v) {
  std::map<std::tuple<uint32_t, uint16_t, uint32_t>, const Filter*> by_key;
  for (const Filter& f : hw.filters) by_key[f.Key()] = &f;
  std::vector<const Filter*> out;
  for (const std::string& line : v.trace) {
    unsigned chain = 0, prio = 0, handle = 0;
    if (std::sscanf(line.c_str(), "chain %u prio %u handle %u:", &chain, &prio, &handle) == 3) {
      auto it = by_key.find({chain, static_cast<uint16_t>(prio), handle});
      if (it != by_key.end()) out.push_back(it->second);
    }
  }
  return out;
}

bool HasEffect(const Filter& f) {
  for (const Action& a : f.actions) {
    if (a.kind == Kind::kMirredMirror || a.kind == Kind::kVlanPush || a.kind == Kind::kVlanPop ||
        (a.kind == Kind::kCt && a.commit)) {
      return true;
    }
  }
  return false;
}

struct Stats {
  int trapped_frames = 0;
  int hw_frames = 0;
  int nd_checked = 0;  // frames the slow path ran through the ND check
};

// The slow path ran the ND check (cls_bpf) on this frame.
bool RanNdCheck(const Verdict& v) {
  for (const std::string& line : v.trace) {
    if (line.find("nd-check:") != std::string::npos) return true;
  }
  return false;
}

// Runs the frames through hardware + slow path and through the slow path
// alone; fails with a readable report on the first difference.
void CheckFrames(const PlacementResult& placed, const std::vector<Packet>& frames,
                 const std::string& what, Stats& stats) {
  Pipeline hw = placed.HardwarePipeline();
  Pipeline sw = placed.SlowPathPipeline();
  ConntrackModel ct_ref;
  ConntrackModel ct_split;
  for (const Packet& p : frames) {
    Verdict expected = policy::Simulate(sw, p, ct_ref);
    const bool nd_checked = RanNdCheck(expected);
    stats.nd_checked += nd_checked;
    Verdict actual;
    policy::SimulationResult first;
    if (placed.hardware_bypassed) {
      actual = policy::Simulate(sw, p, ct_split);  // every frame misses in hardware
      ++stats.trapped_frames;
    } else {
      first = policy::SimulateWithTrap(hw, p, ct_split);
      actual = first.verdict;
      if (first.trapped) {
        ++stats.trapped_frames;
        if (!actual.deliveries.empty()) {
          RC_FAIL(absl::StrCat("hardware delivered before trapping: ", p.ToString(), "\n",
                               absl::StrJoin(actual.trace, "\n")));
        }
        for (const Filter* f : FiltersRun(hw, first.verdict)) {
          if (HasEffect(*f)) {
            RC_FAIL(absl::StrCat("effect before a trap in hardware: ", f->origin().str(), "\n",
                                 absl::StrJoin(first.verdict.trace, "\n")));
          }
        }
        actual = policy::Simulate(sw, p, ct_split);
      } else {
        ++stats.hw_frames;
        // NS/NA that the slow path checks must never be decided by the
        // hardware alone: it has no ND check (issue 11).
        if (nd_checked) {
          RC_FAIL(absl::StrCat("NS/NA decided in hardware without the ND check: ", p.ToString(),
                               "\nhw trace:\n  ", absl::StrJoin(first.verdict.trace, "\n  ")));
        }
      }
    }
    if (expected.deliveries != actual.deliveries) {
      RC_FAIL(absl::StrCat(what, "frame: ", p.ToString(), "\nslow path: ", expected.ToString(),
                           "\nhw+slow: ", actual.ToString(), "\nhw trace:\n  ",
                           absl::StrJoin(first.verdict.trace, "\n  ")));
    }
  }
}

void Tag(const PlacementResult& placed, const Stats& stats) {
  int hw = 0, trapped = 0, sw = 0;
  for (const PlacedFilter& p : placed.filters) {
    hw += p.placement == Placement::kHardware;
    trapped += p.placement == Placement::kTrap;
    sw += p.placement == Placement::kSlowPathOnly;
  }
  RC_TAG(hw > 0 ? "some filters in hw" : "no filter in hw",
         trapped > 0 ? "some refused" : "none refused", sw > 0 ? "some kept out" : "none kept out",
         stats.trapped_frames > 0 ? "frames trapped" : "no frame trapped",
         stats.hw_frames > 0 ? "frames decided in hw" : "no frame decided in hw",
         stats.nd_checked > 0 ? "ND checked" : "no ND check");
}

RC_GTEST_PROP(PlacementProperty, CompiledPipelineHardwarePlusSlowPathEqualsSlowPath,
              (uint64_t seed)) {
  testing::RandomPolicy gen(seed);
  policy::Snapshot s = gen.Snapshot();
  auto slots = policy::AssignSlots(s, {});
  RC_ASSERT(slots.ok());
  auto pipeline = policy::Compile(s, *slots);
  RC_ASSERT(pipeline.ok());
  RandomOffer offer = MakeOffer(seed);
  PlacementResult placed = Place(*pipeline, std::cref(offer));
  CheckStructure(*pipeline, placed, offer);
  Stats stats;
  CheckFrames(placed, gen.Exchange(s), absl::StrCat("seed ", seed, "\n", testing::Describe(s)),
              stats);
  Tag(placed, stats);
}

// The same with set lookups: set-match filters (cls_bpf) are never offered,
// and their groups are trapped.
RC_GTEST_PROP(PlacementProperty, SetLookupPipelineHardwarePlusSlowPathEqualsSlowPath,
              (uint64_t seed)) {
  testing::RandomPolicy gen(seed);
  policy::Snapshot s = gen.Snapshot();
  auto slots = policy::AssignSlots(s, {});
  RC_ASSERT(slots.ok());
  auto pipeline = policy::Compile(s, *slots, policy::CompileOptions{.set_lookups = true});
  RC_ASSERT(pipeline.ok());
  RandomOffer offer = MakeOffer(seed);
  PlacementResult placed = Place(*pipeline, std::cref(offer));
  CheckStructure(*pipeline, placed, offer);
  std::set<std::pair<uint32_t, uint16_t>> bpf_prios;
  for (const PlacedFilter& p : placed.filters) {
    if (p.filter->classifier == policy::Classifier::kSetMatch) {
      RC_ASSERT(p.placement != Placement::kHardware);
      bpf_prios.insert({p.filter->chain, p.filter->prio});
    }
  }
  // tc keeps one classifier kind per (chain, prio): no flower trap there.
  for (const policy::Filter& t : placed.traps) RC_ASSERT(!bpf_prios.contains({t.chain, t.prio}));
  Stats stats;
  CheckFrames(placed, gen.Exchange(s), absl::StrCat("seed ", seed, "\n", testing::Describe(s)),
              stats);
  Tag(placed, stats);
}

// --- random IR pipelines ---

// Random valid tc structure: chains reached by goto (forward only, so no
// loops), one protocol and one key/mask set per (chain, prio), members
// differing in values only.
class RandomIr {
 public:
  explicit RandomIr(uint64_t seed) : rng_(seed) {}

  Pipeline Make() {
    std::vector<uint32_t> chains = {0};
    int n_chains = Uniform(1, 5);
    for (int i = 1; i < n_chains; ++i) chains.push_back(chains.back() + Uniform(1, 3));
    Pipeline p;
    for (size_t c = 0; c < chains.size(); ++c) {
      std::vector<uint32_t> later(chains.begin() + c + 1, chains.end());
      uint16_t prio = 0;
      int n_groups = Uniform(1, 4);
      for (int g = 0; g < n_groups; ++g) {
        prio += Uniform(1, 8);
        Group(chains[c], prio, later, p);
      }
    }
    return p;
  }

  std::vector<Packet> Frames() {
    std::vector<Packet> out;
    int n = Uniform(1, 6);
    for (int i = 0; i < n; ++i) {
      if (!out.empty() && Chance(0.4)) {
        out.push_back(out.back().Reply(Dev()));
      } else {
        out.push_back(Frame());
      }
    }
    return out;
  }

 private:
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  T Pick(std::initializer_list<T> v) {
    return *(v.begin() + Uniform(0, static_cast<int>(v.size()) - 1));
  }

  DeviceRef Dev() {
    int i = Uniform(0, 3);
    return i == 0 ? DeviceRef::Uplink() : DeviceRef::OfPort(std::string(1, 'a' + i - 1));
  }
  policy::MacAddr Mac() {
    policy::MacAddr m{{0x02, 0, 0, 0, 0, static_cast<uint8_t>(Uniform(1, 3))}};
    return Chance(0.1) ? policy::MacAddr::Broadcast() : m;
  }
  policy::IpAddr Ip(bool v6) {
    int host = Uniform(1, 3);
    return *policy::IpAddr::Parse(v6 ? absl::StrCat("fd00::", host)
                                     : absl::StrCat("10.0.0.", host));
  }

  Packet Frame() {
    Packet p;
    p.in = Dev();
    p.src_mac = Mac();
    p.dst_mac = Mac();
    if (Chance(0.2)) p.vlan = Pick<uint16_t>({10, 20});
    p.eth_type = Pick<uint16_t>({policy::kEthIPv4, policy::kEthIPv6, policy::kEthArp});
    bool v6 = p.eth_type == policy::kEthIPv6;
    if (p.eth_type == policy::kEthArp) {
      p.arp_op = Pick<uint16_t>({1, 2});
      p.arp_sip = Ip(false);
      p.arp_tip = Ip(false);
      p.arp_sha = p.src_mac;
      return p;
    }
    p.src_ip = Ip(v6);
    p.dst_ip = Ip(v6);
    p.ip_proto = Pick<uint8_t>({policy::kProtoTcp, policy::kProtoUdp, policy::kProtoSctp,
                                v6 ? policy::kProtoIcmpv6 : policy::kProtoIcmp});
    if (p.HasPorts()) {
      p.src_port = Pick<uint16_t>({1000, 2000});
      p.dst_port = Pick<uint16_t>({22, 80, 443});
    } else {
      p.icmp_type = Pick<uint8_t>({8, 0, 128, 129, 135});
    }
    return p;
  }

  // Which keys a group matches on, and with which masks; members then draw
  // values only.
  struct Shape {
    uint16_t protocol = policy::kEthAll;
    bool indev = false, src_mac = false, dst_mac = false, vlan_id = false, vlan_eth_type = false;
    bool eth_type = false, src_ip = false, dst_ip = false, ip_proto = false, dst_port = false;
    bool icmp_type = false, arp_op = false, arp_sip = false, ct_state = false, ct_zone = false;
    uint8_t ip_len = 32;
    uint16_t port_mask = 0xffff;
    uint8_t proto = policy::kProtoTcp;
    policy::Masked<uint16_t> ct{};
  };

  Shape RandomShape() {
    Shape s;
    s.protocol = Pick<uint16_t>(
        {policy::kEthAll, policy::kEthIPv4, policy::kEthIPv6, policy::kEthArp, policy::kEth8021Q});
    s.indev = Chance(0.5);
    s.src_mac = Chance(0.2);
    s.dst_mac = Chance(0.3);
    bool ip = s.protocol == policy::kEthIPv4 || s.protocol == policy::kEthIPv6;
    bool v6 = s.protocol == policy::kEthIPv6;
    if (s.protocol == policy::kEthAll) s.eth_type = Chance(0.3);
    if (s.protocol == policy::kEth8021Q) {
      s.vlan_id = Chance(0.7);
      s.vlan_eth_type = Chance(0.4);
    }
    if (s.protocol == policy::kEthArp) {
      s.arp_op = Chance(0.4);
      s.arp_sip = Chance(0.4);
    }
    if (ip) {
      s.src_ip = Chance(0.4);
      s.dst_ip = Chance(0.3);
      s.ip_len = v6 ? Pick<uint8_t>({128, 126}) : Pick<uint8_t>({32, 30});
      s.ip_proto = Chance(0.6);
      s.proto = Pick<uint8_t>({policy::kProtoTcp, policy::kProtoUdp, policy::kProtoSctp,
                               v6 ? policy::kProtoIcmpv6 : policy::kProtoIcmp});
      bool ports = s.proto == policy::kProtoTcp || s.proto == policy::kProtoUdp ||
                   s.proto == policy::kProtoSctp;
      s.dst_port = s.ip_proto && ports && Chance(0.5);
      s.port_mask = Pick<uint16_t>({0xffff, 0xfff0});
      s.icmp_type = s.ip_proto && !ports && Chance(0.5);
      s.ct_state = Chance(0.4);
      s.ct_zone = Chance(0.2);
      const uint16_t trk = policy::kCtTracked, est = policy::kCtEstablished;
      const uint16_t nw = policy::kCtNew, rpl = policy::kCtReply, rel = policy::kCtRelated;
      s.ct = Pick<policy::Masked<uint16_t>>({{trk | nw, trk | nw},
                                             {trk | est, trk | est},
                                             {trk | est | rpl, trk | est | rpl},
                                             {0, trk},
                                             {trk, trk | nw},
                                             {trk | rel, trk | rel}});
    }
    return s;
  }

  std::vector<Action> Actions(const std::vector<uint32_t>& later) {
    std::vector<Action> out;
    int n = Uniform(0, 2);
    for (int i = 0; i < n; ++i) {
      Action a{Pick<Kind>(
          {Kind::kMirredMirror, Kind::kVlanPush, Kind::kVlanPop, Kind::kCt, Kind::kPipe})};
      a.device = Dev();
      a.vlan_id = Pick<uint16_t>({10, 20});
      a.zone = Pick<uint16_t>({1, 2});
      a.commit = a.kind == Kind::kCt && Chance(0.5);
      out.push_back(a);
    }
    std::vector<Kind> ends = {Kind::kOk, Kind::kDrop, Kind::kMirredRedirect, Kind::kContinue};
    if (!later.empty()) ends.insert(ends.end(), {Kind::kGoto, Kind::kGoto, Kind::kGoto});
    Action end{ends[Uniform(0, static_cast<int>(ends.size()) - 1)]};
    end.device = Dev();
    if (end.kind == Kind::kGoto) end.chain = later[Uniform(0, static_cast<int>(later.size()) - 1)];
    if (end.kind != Kind::kContinue || Chance(0.8)) out.push_back(end);
    if (out.empty()) out.push_back(Action{Kind::kOk});
    return out;
  }

  void Group(uint32_t chain, uint16_t prio, const std::vector<uint32_t>& later, Pipeline& p) {
    Shape s = RandomShape();
    int members = Uniform(1, 3);
    for (int h = 1; h <= members; ++h) {
      Filter f;
      f.chain = chain;
      f.prio = prio;
      f.handle = h;
      f.protocol = s.protocol;
      policy::FlowerMatch& m = f.match.Mutable();
      bool v6 = s.protocol == policy::kEthIPv6;
      if (s.indev) m.indev = Dev();
      if (s.src_mac)
        m.src_mac = policy::Masked<policy::MacAddr>{Mac(), policy::MacAddr::Broadcast()};
      if (s.dst_mac)
        m.dst_mac = policy::Masked<policy::MacAddr>{Mac(), policy::MacAddr::Broadcast()};
      if (s.vlan_id) m.vlan_id = Pick<uint16_t>({10, 20});
      if (s.vlan_eth_type) m.vlan_eth_type = Pick<uint16_t>({policy::kEthIPv4, policy::kEthArp});
      if (s.eth_type) m.eth_type = Pick<uint16_t>({policy::kEthIPv4, policy::kEthArp});
      if (s.arp_op) m.arp_op = Pick<uint16_t>({1, 2});
      if (s.arp_sip) m.arp_sip = policy::IpPrefix{Ip(false), 32};
      if (s.src_ip) m.src_ip = policy::IpPrefix{Ip(v6), s.ip_len};
      if (s.dst_ip) m.dst_ip = policy::IpPrefix{Ip(v6), s.ip_len};
      if (s.ip_proto) m.ip_proto = s.proto;
      if (s.dst_port)
        m.dst_port = policy::Masked<uint16_t>{Pick<uint16_t>({22, 80, 443}), s.port_mask};
      if (s.icmp_type) m.icmp_type = Pick<uint8_t>({8, 0, 128, 135});
      if (s.ct_state) m.ct_state = s.ct;
      if (s.ct_zone) m.ct_zone = Pick<uint16_t>({1, 2});
      f.actions = Actions(later);
      f.SetOrigin(absl::StrCat("ir chain ", chain, " prio ", prio, " handle ", h));
      p.filters.push_back(std::move(f));
    }
  }

  std::mt19937_64 rng_;
};

RC_GTEST_PROP(PlacementProperty, RandomIrHardwarePlusSlowPathEqualsSlowPath, (uint64_t seed)) {
  RandomIr gen(seed);
  Pipeline pipeline = gen.Make();
  RandomOffer offer = MakeOffer(seed);
  PlacementResult placed = Place(pipeline, std::cref(offer));
  CheckStructure(pipeline, placed, offer);
  Stats stats;
  for (int run = 0; run < 3; ++run) {
    CheckFrames(placed, gen.Frames(), absl::StrCat("seed ", seed, "\n"), stats);
  }
  Tag(placed, stats);
}

// --- placement without hardware (a block that refuses every offer) ---

// `pipeline`'s filters as a shared pipeline of their own.
policy::SharedPipeline Shared(const Pipeline& pipeline) {
  auto owned = std::make_shared<const std::vector<Filter>>(pipeline.filters);
  policy::SharedPipeline shared;
  for (const Filter& f : *owned) shared.filters.push_back(&f);
  shared.owners.push_back(owned);
  shared.sets = pipeline.sets;
  return shared;
}

void ExpectSamePlacement(const PlacementResult& want, const PlacementResult& got) {
  RC_ASSERT(want.hardware_bypassed == got.hardware_bypassed);
  RC_ASSERT(want.traps.empty());
  RC_ASSERT(got.traps.empty());
  RC_ASSERT(want.sets == got.sets);
  RC_ASSERT(want.filters.size() == got.filters.size());
  for (size_t i = 0; i < want.filters.size(); ++i) {
    const PlacedFilter& w = want.filters[i];
    const PlacedFilter& g = got.filters[i];
    RC_ASSERT(w.filter == g.filter);
    RC_ASSERT(w.placement == g.placement);
    RC_ASSERT(want.HwStatus(w) == got.HwStatus(g));
    RC_ASSERT(w.trap == PlacedFilter::kNoTrap);
    RC_ASSERT(g.trap == PlacedFilter::kNoTrap);
  }
}

// PlaceWithoutHardware is Place under an offer that refuses everything, from
// scratch and from a previous placement of which only some filters are kept
// (the same objects or equal copies), the others replaced by other filters
// at the same key or dropped; only the other filters are placed afresh.
void CheckWithoutHardware(const Pipeline& pipeline, uint64_t seed) {
  const absl::Status refusal = absl::UnavailableError("refused, whatever it is");
  const OfferFn refuse_all = [&](const Filter&) { return refusal; };
  const policy::SharedPipeline first = Shared(pipeline);
  const PlacementResult scratch = PlaceWithoutHardware(first, refusal);
  ExpectSamePlacement(Place(first, refuse_all), scratch);

  std::mt19937_64 rng(seed);
  policy::SharedPipeline next;
  next.owners = first.owners;
  next.sets = first.sets;
  auto copies = std::make_shared<std::vector<Filter>>();
  copies->reserve(first.filters.size());
  size_t fresh = 0;
  for (const Filter* f : first.filters) {
    switch (rng() % 5) {
      case 0:  // dropped
        break;
      case 1:  // the same IR filter again, but another object (a recompiled part)
        copies->push_back(*f);
        next.filters.push_back(&copies->back());
        break;
      case 2:  // another filter at the same key
        copies->push_back(*f);
        copies->back().SetOrigin(absl::StrCat(f->origin().str(), " (changed)"));
        next.filters.push_back(&copies->back());
        ++fresh;
        break;
      default:
        next.filters.push_back(f);
    }
  }
  next.owners.push_back(copies);
  size_t afresh = 0;
  const PlacementResult incremental = PlaceWithoutHardware(next, refusal, &scratch, &afresh);
  ExpectSamePlacement(Place(next, refuse_all), incremental);
  RC_ASSERT(afresh == fresh);
}

RC_GTEST_PROP(PlacementProperty, WithoutHardwareEqualsPlaceRefusingEveryOffer, (uint64_t seed)) {
  testing::RandomPolicy gen(seed);
  policy::Snapshot s = gen.Snapshot();
  auto slots = policy::AssignSlots(s, {});
  RC_ASSERT(slots.ok());
  for (bool set_lookups : {false, true}) {
    auto pipeline = policy::Compile(s, *slots, policy::CompileOptions{.set_lookups = set_lookups});
    RC_ASSERT(pipeline.ok());
    CheckWithoutHardware(*pipeline, seed);
  }
  CheckWithoutHardware(RandomIr(seed).Make(), seed);
}

}  // namespace
}  // namespace vfguard::offload
