#include "netlink/tc_actions.h"

#include <arpa/inet.h>
#include <linux/gen_stats.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/tc_act/tc_ct.h>
#include <linux/tc_act/tc_gact.h>
#include <linux/tc_act/tc_mirred.h>
#include <linux/tc_act/tc_vlan.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace vfguard::netlink::tc_actions {
namespace {

using tc_wire::AttrIndex;
using tc_wire::AttrWriter;

// tc_gen.action with the bookkeeping fields (index, refcnt, ...) left zero:
// index 0 asks the kernel for a fresh action private to this filter.
template <typename Parms>
Parms ParmsWithControl(int32_t control) {
  Parms p{};
  p.action = control;
  return p;
}

// ---- gact ----

absl::StatusOr<int32_t> GactControl(const GactAction& g) {
  switch (g.verdict) {
    case GactAction::Verdict::kOk:
      return kTcActOk;
    case GactAction::Verdict::kDrop:
      return kTcActShot;
    case GactAction::Verdict::kPipe:
      return kTcActPipe;
    case GactAction::Verdict::kContinue:
      return kTcActUnspec;
    case GactAction::Verdict::kTrap:
      return kTcActTrap;
    case GactAction::Verdict::kGotoChain:
      if (g.chain > TC_ACT_EXT_VAL_MASK) {
        return absl::InvalidArgumentError(
            absl::StrCat("goto chain ", g.chain, " exceeds ", TC_ACT_EXT_VAL_MASK));
      }
      return kTcActGotoChain | static_cast<int32_t>(g.chain);
  }
  return absl::InvalidArgumentError("unknown gact verdict");
}

absl::StatusOr<GactAction> GactFromControl(int32_t control) {
  if (TC_ACT_EXT_CMP(control, TC_ACT_GOTO_CHAIN)) {
    return GactAction{GactAction::Verdict::kGotoChain,
                      static_cast<uint32_t>(control & TC_ACT_EXT_VAL_MASK)};
  }
  switch (control) {
    case kTcActOk:
      return GactAction{GactAction::Verdict::kOk};
    case kTcActShot:
      return GactAction{GactAction::Verdict::kDrop};
    case kTcActPipe:
      return GactAction{GactAction::Verdict::kPipe};
    case kTcActUnspec:
      return GactAction{GactAction::Verdict::kContinue};
    case kTcActTrap:
      return GactAction{GactAction::Verdict::kTrap};
  }
  return absl::InvalidArgumentError(absl::StrCat("gact: unsupported control action ", control));
}

absl::Status EncodeGact(const TcAction& a, AttrWriter& w) {
  absl::StatusOr<int32_t> control = GactControl(std::get<GactAction>(a.op));
  if (!control.ok()) return control.status();
  tc_gact parms = ParmsWithControl<tc_gact>(*control);
  w.Put(TCA_GACT_PARMS, &parms, sizeof(parms));
  return absl::OkStatus();
}

absl::Status DecodeGact(const AttrIndex& opts, TcAction& a) {
  if (opts.Has(TCA_GACT_PROB)) {
    return absl::InvalidArgumentError("gact: random/deterministic probability is not supported");
  }
  const nlattr* parms_attr = opts.Get(TCA_GACT_PARMS);
  if (parms_attr == nullptr) return absl::InvalidArgumentError("gact: missing TCA_GACT_PARMS");
  tc_gact parms;
  if (absl::Status s = tc_wire::ReadPrefix(parms_attr, &parms, sizeof(parms), "gact parms");
      !s.ok()) {
    return s;
  }
  absl::StatusOr<GactAction> g = GactFromControl(parms.action);
  if (!g.ok()) return g.status();
  a.op = *g;
  return absl::OkStatus();
}

// ---- ct ----

absl::Status EncodeCt(const TcAction& a, AttrWriter& w) {
  const auto& ct = std::get<CtAction>(a.op);
  // The zone attribute is only sent for a non-default zone, like tc does.
  if (!ct.clear && ct.zone != 0) w.PutU16(TCA_CT_ZONE, ct.zone);
  uint16_t flags = ct.clear ? TCA_CT_ACT_CLEAR : (ct.commit ? TCA_CT_ACT_COMMIT : 0);
  w.PutU16(TCA_CT_ACTION, flags);
  tc_ct parms = ParmsWithControl<tc_ct>(ct.control);
  w.Put(TCA_CT_PARMS, &parms, sizeof(parms));
  return absl::OkStatus();
}

absl::Status DecodeCt(const AttrIndex& opts, TcAction& a) {
  CtAction ct;
  const nlattr* parms_attr = opts.Get(TCA_CT_PARMS);
  if (parms_attr == nullptr) return absl::InvalidArgumentError("ct: missing TCA_CT_PARMS");
  tc_ct parms;
  if (absl::Status s = tc_wire::ReadPrefix(parms_attr, &parms, sizeof(parms), "ct parms");
      !s.ok()) {
    return s;
  }
  ct.control = parms.action;
  if (const nlattr* attr = opts.Get(TCA_CT_ACTION); attr != nullptr) {
    absl::StatusOr<uint16_t> flags = tc_wire::Read<uint16_t>(attr, "ct action flags");
    if (!flags.ok()) return flags.status();
    if (*flags & ~(TCA_CT_ACT_COMMIT | TCA_CT_ACT_CLEAR)) {
      return absl::InvalidArgumentError(
          absl::StrCat("ct: unsupported action flags 0x", absl::Hex(*flags), " (nat/force)"));
    }
    ct.commit = *flags & TCA_CT_ACT_COMMIT;
    ct.clear = *flags & TCA_CT_ACT_CLEAR;
  }
  if (const nlattr* attr = opts.Get(TCA_CT_ZONE); attr != nullptr) {
    absl::StatusOr<uint16_t> zone = tc_wire::Read<uint16_t>(attr, "ct zone");
    if (!zone.ok()) return zone.status();
    ct.zone = *zone;
  }
  // Mark/label setting is only dumped when its mask is non-zero.
  if (opts.Has(TCA_CT_MARK) || opts.Has(TCA_CT_LABELS)) {
    return absl::InvalidArgumentError("ct: setting mark or labels is not supported");
  }
  a.op = ct;
  return absl::OkStatus();
}

// ---- mirred ----

int32_t MirredDefaultControl(MirredAction::Mode mode) {
  return mode == MirredAction::Mode::kRedirect ? kTcActStolen : kTcActPipe;
}

absl::Status EncodeMirred(const TcAction& a, AttrWriter& w) {
  const auto& m = std::get<MirredAction>(a.op);
  tc_mirred parms = ParmsWithControl<tc_mirred>(m.control.value_or(MirredDefaultControl(m.mode)));
  parms.eaction = m.mode == MirredAction::Mode::kRedirect ? TCA_EGRESS_REDIR : TCA_EGRESS_MIRROR;
  parms.ifindex = m.ifindex;
  w.Put(TCA_MIRRED_PARMS, &parms, sizeof(parms));
  return absl::OkStatus();
}

absl::Status DecodeMirred(const AttrIndex& opts, TcAction& a) {
  const nlattr* parms_attr = opts.Get(TCA_MIRRED_PARMS);
  if (parms_attr == nullptr) return absl::InvalidArgumentError("mirred: missing TCA_MIRRED_PARMS");
  tc_mirred parms;
  if (absl::Status s = tc_wire::ReadPrefix(parms_attr, &parms, sizeof(parms), "mirred parms");
      !s.ok()) {
    return s;
  }
  MirredAction m;
  if (parms.eaction == TCA_EGRESS_REDIR) {
    m.mode = MirredAction::Mode::kRedirect;
  } else if (parms.eaction == TCA_EGRESS_MIRROR) {
    m.mode = MirredAction::Mode::kMirror;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("mirred: unsupported eaction ", parms.eaction, " (ingress)"));
  }
  m.ifindex = parms.ifindex;
  if (parms.action != MirredDefaultControl(m.mode)) m.control = parms.action;
  a.op = m;
  return absl::OkStatus();
}

// ---- vlan ----

absl::Status EncodeVlan(const TcAction& a, AttrWriter& w) {
  const auto& v = std::get<VlanAction>(a.op);
  tc_vlan parms = ParmsWithControl<tc_vlan>(v.control);
  parms.v_action = v.op == VlanAction::Op::kPush ? TCA_VLAN_ACT_PUSH : TCA_VLAN_ACT_POP;
  w.Put(TCA_VLAN_PARMS, &parms, sizeof(parms));
  if (v.op == VlanAction::Op::kPush) {
    w.PutU16(TCA_VLAN_PUSH_VLAN_ID, v.vlan_id);
    uint16_t proto = htons(v.protocol);
    w.Put(TCA_VLAN_PUSH_VLAN_PROTOCOL, &proto, sizeof(proto));
  }
  return absl::OkStatus();
}

absl::Status DecodeVlan(const AttrIndex& opts, TcAction& a) {
  const nlattr* parms_attr = opts.Get(TCA_VLAN_PARMS);
  if (parms_attr == nullptr) return absl::InvalidArgumentError("vlan: missing TCA_VLAN_PARMS");
  tc_vlan parms;
  if (absl::Status s = tc_wire::ReadPrefix(parms_attr, &parms, sizeof(parms), "vlan parms");
      !s.ok()) {
    return s;
  }
  VlanAction v;
  v.control = parms.action;
  if (parms.v_action == TCA_VLAN_ACT_POP) {
    v.op = VlanAction::Op::kPop;
    v.protocol = VlanAction{}.protocol;
  } else if (parms.v_action == TCA_VLAN_ACT_PUSH) {
    v.op = VlanAction::Op::kPush;
    const nlattr* id = opts.Get(TCA_VLAN_PUSH_VLAN_ID);
    if (id == nullptr) return absl::InvalidArgumentError("vlan push: missing vlan id");
    absl::StatusOr<uint16_t> vid = tc_wire::Read<uint16_t>(id, "vlan push id");
    if (!vid.ok()) return vid.status();
    v.vlan_id = *vid;
    if (const nlattr* p = opts.Get(TCA_VLAN_PUSH_VLAN_PROTOCOL); p != nullptr) {
      absl::StatusOr<uint16_t> proto = tc_wire::Read<uint16_t>(p, "vlan push protocol");
      if (!proto.ok()) return proto.status();
      v.protocol = ntohs(*proto);
    }
    if (const nlattr* p = opts.Get(TCA_VLAN_PUSH_VLAN_PRIORITY); p != nullptr) {
      absl::StatusOr<uint8_t> prio = tc_wire::Read<uint8_t>(p, "vlan push priority");
      if (!prio.ok()) return prio.status();
      if (*prio != 0) return absl::InvalidArgumentError("vlan push: priority is not supported");
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat("vlan: unsupported v_action ", parms.v_action));
  }
  a.op = v;
  return absl::OkStatus();
}

// One row per action kind: its TCA_ACT_KIND string, the variant alternative it
// decodes to, its option attributes and codec.
struct KindRow {
  absl::string_view kind;
  size_t variant_index;
  uint16_t options_max;  // TCA_<KIND>_MAX
  uint16_t tm_attr;      // TCA_<KIND>_TM: struct tcf_t timing
  absl::Status (*encode)(const TcAction&, AttrWriter&);
  absl::Status (*decode)(const AttrIndex&, TcAction&);
};

using Op = decltype(TcAction::op);
template <typename T>
constexpr size_t IndexOf() {
  return Op(T{}).index();
}

const KindRow kKinds[] = {
    {"gact", IndexOf<GactAction>(), TCA_GACT_MAX, TCA_GACT_TM, &EncodeGact, &DecodeGact},
    {"ct", IndexOf<CtAction>(), TCA_CT_MAX, TCA_CT_TM, &EncodeCt, &DecodeCt},
    {"mirred", IndexOf<MirredAction>(), TCA_MIRRED_MAX, TCA_MIRRED_TM, &EncodeMirred,
     &DecodeMirred},
    {"vlan", IndexOf<VlanAction>(), TCA_VLAN_MAX, TCA_VLAN_TM, &EncodeVlan, &DecodeVlan},
};

const KindRow* RowForVariant(size_t index) {
  for (const KindRow& row : kKinds) {
    if (row.variant_index == index) return &row;
  }
  return nullptr;
}

const KindRow* RowForKind(absl::string_view kind) {
  for (const KindRow& row : kKinds) {
    if (row.kind == kind) return &row;
  }
  return nullptr;
}

// USER_HZ: the kernel reports tcf_t times in clock_t ticks of 1/100 s.
constexpr uint64_t kMsPerClockTick = 10;

absl::Status DecodeStats(const nlattr* nest, ActionStats& stats) {
  absl::StatusOr<AttrIndex> attrs = AttrIndex::ParseNested(nest, TCA_STATS_MAX, "TCA_ACT_STATS");
  if (!attrs.ok()) return attrs.status();
  // gnet_stats_basic is {u64 bytes; u32 packets}; the kernel sends it padded.
  constexpr size_t kBasicLen = sizeof(uint64_t) + sizeof(uint32_t);
  auto read_basic = [&](uint16_t type, uint64_t& bytes, uint64_t& packets) -> absl::Status {
    const nlattr* attr = attrs->Get(type);
    if (attr == nullptr) return absl::OkStatus();
    uint8_t raw[kBasicLen];
    if (absl::Status s = tc_wire::ReadPrefix(attr, raw, kBasicLen, "stats basic"); !s.ok()) {
      return s;
    }
    uint32_t packets32;
    std::memcpy(&bytes, raw, sizeof(uint64_t));
    std::memcpy(&packets32, raw + sizeof(uint64_t), sizeof(packets32));
    packets = packets32;
    return absl::OkStatus();
  };
  if (absl::Status s = read_basic(TCA_STATS_BASIC, stats.bytes, stats.packets); !s.ok()) return s;
  if (absl::Status s = read_basic(TCA_STATS_BASIC_HW, stats.hw_bytes, stats.hw_packets); !s.ok()) {
    return s;
  }
  // Packet counts beyond 32 bits come separately.
  if (const nlattr* attr = attrs->Get(TCA_STATS_PKT64); attr != nullptr) {
    absl::StatusOr<uint64_t> packets = tc_wire::Read<uint64_t>(attr, "stats pkt64");
    if (!packets.ok()) return packets.status();
    stats.packets = *packets;
  }
  return absl::OkStatus();
}

absl::StatusOr<TcAction> DecodeOne(const nlattr* entry, size_t slot) {
  std::string where = absl::StrCat("action ", slot);
  absl::StatusOr<AttrIndex> attrs = AttrIndex::ParseNested(entry, TCA_ACT_MAX, where);
  if (!attrs.ok()) return attrs.status();
  const nlattr* kind_attr = attrs->Get(TCA_ACT_KIND);
  if (kind_attr == nullptr) return absl::InvalidArgumentError(where + ": missing TCA_ACT_KIND");
  absl::StatusOr<std::string> kind = tc_wire::ReadString(kind_attr, where + " kind");
  if (!kind.ok()) return kind.status();
  const KindRow* row = RowForKind(*kind);
  if (row == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": unsupported action kind '", *kind, "'"));
  }
  const nlattr* options = attrs->Get(TCA_ACT_OPTIONS);
  if (options == nullptr) return absl::InvalidArgumentError(where + ": missing TCA_ACT_OPTIONS");
  absl::StatusOr<AttrIndex> opts =
      AttrIndex::ParseNested(options, row->options_max, absl::StrCat(where, " ", *kind));
  if (!opts.ok()) return opts.status();
  TcAction action;
  if (absl::Status s = row->decode(*opts, action); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(where, ": ", s.message()));
  }
  if (const nlattr* stats = attrs->Get(TCA_ACT_STATS); stats != nullptr) {
    if (absl::Status s = DecodeStats(stats, action.stats); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(where, ": ", s.message()));
    }
  }
  if (const nlattr* tm = opts->Get(row->tm_attr); tm != nullptr) {
    tcf_t t;
    if (absl::Status s = tc_wire::ReadPrefix(tm, &t, sizeof(t), where + " tm"); !s.ok()) return s;
    action.stats.idle_ms = t.lastuse * kMsPerClockTick;
  }
  return action;
}

}  // namespace

absl::Status ValidateActions(const std::vector<TcAction>& actions) {
  if (actions.size() > kMaxActions) {
    return absl::InvalidArgumentError(
        absl::StrCat("actions: ", actions.size(), " exceeds the kernel limit of ", kMaxActions));
  }
  for (size_t i = 0; i < actions.size(); ++i) {
    const TcAction& a = actions[i];
    std::string where = absl::StrCat("actions[", i, "]");
    if (const auto* g = std::get_if<GactAction>(&a.op)) {
      if (absl::StatusOr<int32_t> c = GactControl(*g); !c.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", c.status().message()));
      }
    } else if (const auto* ct = std::get_if<CtAction>(&a.op)) {
      if (ct->clear && (ct->commit || ct->zone != 0)) {
        return absl::InvalidArgumentError(where + ": ct clear takes no zone or commit");
      }
    } else if (const auto* m = std::get_if<MirredAction>(&a.op)) {
      if (m->ifindex == 0) return absl::InvalidArgumentError(where + ": mirred needs an ifindex");
    } else if (const auto* v = std::get_if<VlanAction>(&a.op)) {
      if (v->op == VlanAction::Op::kPush) {
        if (v->vlan_id == 0 || v->vlan_id > 4094) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": vlan push id ", v->vlan_id, " outside 1..4094"));
        }
        if (v->protocol != ETH_P_8021Q && v->protocol != ETH_P_8021AD) {
          return absl::InvalidArgumentError(absl::StrCat(where, ": vlan push protocol 0x",
                                                         absl::Hex(v->protocol),
                                                         " is neither 802.1Q nor 802.1ad"));
        }
      }
    }
  }
  return absl::OkStatus();
}

void EncodeActions(const std::vector<TcAction>& actions, uint16_t nest_type, AttrWriter& w) {
  if (actions.empty()) return;
  nlattr* list = w.NestStart(nest_type, /*flag_nested=*/false);
  for (size_t i = 0; i < actions.size(); ++i) {
    const KindRow* row = RowForVariant(actions[i].op.index());
    nlattr* entry = w.NestStart(static_cast<uint16_t>(i + 1), /*flag_nested=*/false);
    w.PutString(TCA_ACT_KIND, row->kind);
    // iproute2 flags this one nest; the kernel's act_api accepts both.
    nlattr* options = w.NestStart(TCA_ACT_OPTIONS, /*flag_nested=*/true);
    // Validated beforehand, so the per-kind encoders cannot fail here.
    (void)row->encode(actions[i], w);
    w.NestEnd(options);
    w.NestEnd(entry);
  }
  w.NestEnd(list);
}

absl::StatusOr<std::vector<TcAction>> DecodeActions(const nlattr* nest) {
  absl::StatusOr<AttrIndex> slots = AttrIndex::ParseNested(nest, kMaxActions, "TCA_FLOWER_ACT");
  if (!slots.ok()) return slots.status();
  std::vector<std::pair<uint16_t, const nlattr*>> ordered;
  for (const nlattr* entry : slots->InOrder()) {
    uint16_t slot = mnl_attr_get_type(entry);
    if (slot == 0) return absl::InvalidArgumentError("TCA_FLOWER_ACT: action in slot 0");
    ordered.emplace_back(slot, entry);
  }
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<TcAction> actions;
  for (const auto& [slot, entry] : ordered) {
    if (!actions.empty() && ordered[actions.size() - 1].first == slot) {
      return absl::InvalidArgumentError(absl::StrCat("TCA_FLOWER_ACT: slot ", slot, " repeated"));
    }
    absl::StatusOr<TcAction> action = DecodeOne(entry, slot);
    if (!action.ok()) return action.status();
    actions.push_back(*std::move(action));
  }
  return actions;
}

}  // namespace vfguard::netlink::tc_actions
