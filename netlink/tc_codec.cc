#include "netlink/tc_codec.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/rtnetlink.h>

#include <cstring>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "netlink/tc_actions.h"
#include "netlink/tc_flower_keys.h"
#include "netlink/tc_wire.h"

namespace vfguard::netlink {
namespace {

using tc_wire::AttrIndex;
using tc_wire::AttrWriter;

constexpr absl::string_view kFlowerKind = "flower";
constexpr absl::string_view kClsactKind = "clsact";

// Qdiscs need NLM_F_REPLACE to replace an existing one; the filter path
// ignores it (an existing filter is replaced unless NLM_F_EXCL). Both follow
// what tc sends for "add", "replace" and "change".
uint16_t CreateFlags(CreateMode mode, bool is_qdisc) {
  switch (mode) {
    case CreateMode::kCreateExclusive:
      return NLM_F_CREATE | NLM_F_EXCL;
    case CreateMode::kCreateOrReplace:
      return NLM_F_CREATE | (is_qdisc ? NLM_F_REPLACE : 0);
    case CreateMode::kReplaceOnly:
      return 0;
  }
  return 0;
}

struct OwnerFields {
  int32_t ifindex;
  uint32_t parent;
};
OwnerFields FieldsOf(const FilterOwner& owner) {
  if (const auto* block = std::get_if<TcBlock>(&owner)) {
    return {static_cast<int32_t>(TCM_IFINDEX_MAGIC_BLOCK), block->index};
  }
  const auto& dev = std::get<TcDevice>(owner);
  return {static_cast<int32_t>(dev.ifindex), dev.parent};
}

absl::Status ValidateOwner(const FilterOwner& owner) {
  if (const auto* block = std::get_if<TcBlock>(&owner)) {
    if (block->index == 0) return absl::InvalidArgumentError("owner: block index must be >= 1");
  } else if (std::get<TcDevice>(owner).ifindex == 0 ||
             std::get<TcDevice>(owner).ifindex > INT32_MAX) {
    return absl::InvalidArgumentError("owner: device ifindex must be 1..2^31-1");
  }
  return absl::OkStatus();
}

// Starts a tc request: netlink header, tcmsg, TCA_CHAIN then TCA_KIND, in the
// order iproute2 uses.
void PutFilterHead(AttrWriter& w, uint16_t type, uint16_t flags, uint32_t seq,
                   const FlowerFilter& f) {
  w.PutHeader(type, flags, seq);
  auto* tcm = static_cast<tcmsg*>(w.PutFamilyHeader(sizeof(tcmsg)));
  if (tcm == nullptr) return;
  OwnerFields owner = FieldsOf(f.owner);
  tcm->tcm_family = AF_UNSPEC;
  tcm->tcm_ifindex = owner.ifindex;
  tcm->tcm_parent = owner.parent;  // tcm_block_index for blocks
  tcm->tcm_handle = f.handle;
  tcm->tcm_info = TC_H_MAKE(static_cast<uint32_t>(f.prio) << 16, htons(f.protocol));
  w.PutU32(TCA_CHAIN, f.chain);
  w.PutString(TCA_KIND, kFlowerKind);
}

absl::Status ValidateFilter(const FlowerFilter& f) {
  if (absl::Status s = ValidateOwner(f.owner); !s.ok()) return s;
  if (f.skip_hw && f.skip_sw) {
    return absl::InvalidArgumentError("flags: skip_hw and skip_sw together match nothing");
  }
  if (absl::Status s = tc_flower::ValidateKeys(f.keys); !s.ok()) return s;
  return tc_actions::ValidateActions(f.actions);
}

// Netlink structures need 4-byte alignment; arbitrary input may not have it.
std::vector<uint32_t> AlignedCopy(absl::Span<const uint8_t> bytes) {
  std::vector<uint32_t> copy((bytes.size() + 3) / 4, 0);
  if (!bytes.empty()) std::memcpy(copy.data(), bytes.data(), bytes.size());
  return copy;
}

absl::StatusOr<std::optional<FlowerFilter>> DecodeFilterAligned(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWTFILTER && nlh->nlmsg_type != RTM_DELTFILTER) {
    return absl::InvalidArgumentError(
        absl::StrCat("netlink message type ", nlh->nlmsg_type, " is not a tc filter"));
  }
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(tcmsg)) {
    return absl::InvalidArgumentError("tc filter message shorter than struct tcmsg");
  }
  const auto* tcm = static_cast<const tcmsg*>(mnl_nlmsg_get_payload(nlh));
  absl::StatusOr<AttrIndex> attrs = AttrIndex::Parse(
      mnl_nlmsg_get_payload_offset(nlh, sizeof(tcmsg)),
      mnl_nlmsg_get_payload_len(nlh) - MNL_ALIGN(sizeof(tcmsg)), TCA_MAX, "tc filter message");
  if (!attrs.ok()) return attrs.status();

  FlowerFilter f;
  if (static_cast<uint32_t>(tcm->tcm_ifindex) == TCM_IFINDEX_MAGIC_BLOCK) {
    f.owner = TcBlock{tcm->tcm_parent};
  } else {
    f.owner = TcDevice{static_cast<uint32_t>(tcm->tcm_ifindex), tcm->tcm_parent};
  }
  f.handle = tcm->tcm_handle;
  f.prio = static_cast<uint16_t>(TC_H_MAJ(tcm->tcm_info) >> 16);
  f.protocol = ntohs(static_cast<uint16_t>(TC_H_MIN(tcm->tcm_info)));
  if (const nlattr* chain = attrs->Get(TCA_CHAIN); chain != nullptr) {
    absl::StatusOr<uint32_t> v = tc_wire::Read<uint32_t>(chain, "TCA_CHAIN");
    if (!v.ok()) return v.status();
    f.chain = *v;
  }
  const nlattr* kind_attr = attrs->Get(TCA_KIND);
  if (kind_attr == nullptr) return absl::InvalidArgumentError("tc filter without TCA_KIND");
  absl::StatusOr<std::string> kind = tc_wire::ReadString(kind_attr, "TCA_KIND");
  if (!kind.ok()) return kind.status();
  if (*kind != kFlowerKind) {
    return absl::InvalidArgumentError(absl::StrCat("filter kind '", *kind,
                                                   "' is not flower (chain ", f.chain, " prio ",
                                                   f.prio, " handle ", f.handle, ")"));
  }
  const nlattr* options_attr = attrs->Get(TCA_OPTIONS);
  if (options_attr == nullptr) {
    if (f.handle == 0) return std::nullopt;  // the (chain, prio, protocol) record
    return absl::InvalidArgumentError("flower filter without TCA_OPTIONS");
  }
  absl::StatusOr<AttrIndex> options =
      AttrIndex::ParseNested(options_attr, TCA_FLOWER_MAX, "TCA_OPTIONS");
  if (!options.ok()) return options.status();
  if (absl::Status s = tc_flower::DecodeKeys(*options, f.keys); !s.ok()) return s;
  // For VLAN matches the kernel reports the inner type as ETH_TYPE and does not
  // report the outer TPID; the filter protocol carries it.
  if (f.keys.vlan_id || f.keys.vlan_eth_type) {
    bool proto_is_tpid = f.protocol == 0x8100 || f.protocol == 0x88a8;
    f.keys.eth_type = proto_is_tpid ? f.protocol : 0x8100;
  }
  if (const nlattr* flags_attr = options->Get(TCA_FLOWER_FLAGS); flags_attr != nullptr) {
    absl::StatusOr<uint32_t> flags = tc_wire::Read<uint32_t>(flags_attr, "TCA_FLOWER_FLAGS");
    if (!flags.ok()) return flags.status();
    f.skip_hw = *flags & TCA_CLS_FLAGS_SKIP_HW;
    f.skip_sw = *flags & TCA_CLS_FLAGS_SKIP_SW;
    f.status.in_hw = *flags & TCA_CLS_FLAGS_IN_HW;
    f.status.not_in_hw = *flags & TCA_CLS_FLAGS_NOT_IN_HW;
  }
  if (const nlattr* count = options->Get(TCA_FLOWER_IN_HW_COUNT); count != nullptr) {
    absl::StatusOr<uint32_t> v = tc_wire::Read<uint32_t>(count, "TCA_FLOWER_IN_HW_COUNT");
    if (!v.ok()) return v.status();
    f.status.in_hw_count = *v;
  }
  if (const nlattr* acts = options->Get(TCA_FLOWER_ACT); acts != nullptr) {
    absl::StatusOr<std::vector<TcAction>> actions = tc_actions::DecodeActions(acts);
    if (!actions.ok()) return actions.status();
    f.actions = *std::move(actions);
  }
  if (!f.actions.empty()) {
    f.status.packets = f.actions.front().stats.packets;
    f.status.bytes = f.actions.front().stats.bytes;
    f.status.idle_ms = f.actions.front().stats.idle_ms;
  }
  return f;
}

absl::Status DecodeAckAligned(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != NLMSG_ERROR) {
    return absl::InvalidArgumentError(
        absl::StrCat("netlink message type ", nlh->nlmsg_type, " is not NLMSG_ERROR"));
  }
  return KernelAnswerStatus(*nlh);
}

// mnl_nlmsg_ok compares nlmsg_len as a signed int, so a length >= 2^31 passes
// it; this check does not have that hole.
bool MessageFits(const nlmsghdr* nlh, int remaining) {
  return remaining >= static_cast<int>(sizeof(nlmsghdr)) && nlh->nlmsg_len >= sizeof(nlmsghdr) &&
         nlh->nlmsg_len <= static_cast<uint32_t>(remaining);
}

// Runs `fn` on the single netlink message in `msg`, aligned.
template <typename Fn>
auto OnSingleMessage(absl::Span<const uint8_t> msg, Fn fn) -> decltype(fn(nullptr)) {
  std::vector<uint32_t> aligned = AlignedCopy(msg);
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(aligned.data());
  if (msg.size() > INT32_MAX || !MessageFits(nlh, static_cast<int>(msg.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncated netlink message (", msg.size(), " bytes)"));
  }
  return fn(nlh);
}

}  // namespace

absl::StatusOr<size_t> EncodeNewClsact(const ClsactQdisc& qdisc, CreateMode mode, uint32_t seq,
                                       absl::Span<uint8_t> out) {
  if (qdisc.ifindex == 0 || qdisc.ifindex > INT32_MAX) {
    return absl::InvalidArgumentError("ifindex: must be 1..2^31-1");
  }
  AttrWriter w(out);
  w.PutHeader(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | CreateFlags(mode, /*is_qdisc=*/true), seq);
  auto* tcm = static_cast<tcmsg*>(w.PutFamilyHeader(sizeof(tcmsg)));
  if (tcm != nullptr) {
    tcm->tcm_family = AF_UNSPEC;
    tcm->tcm_ifindex = static_cast<int32_t>(qdisc.ifindex);
    tcm->tcm_handle = TC_H_MAKE(TC_H_CLSACT, 0);
    tcm->tcm_parent = TC_H_CLSACT;
  }
  w.PutString(TCA_KIND, kClsactKind);
  if (qdisc.ingress_block != 0) w.PutU32(TCA_INGRESS_BLOCK, qdisc.ingress_block);
  return w.Finish();
}

absl::StatusOr<size_t> EncodeNewFilter(const FlowerFilter& filter, CreateMode mode, uint32_t seq,
                                       absl::Span<uint8_t> out) {
  if (absl::Status s = ValidateFilter(filter); !s.ok()) return s;
  AttrWriter w(out);
  PutFilterHead(w, RTM_NEWTFILTER, NLM_F_REQUEST | NLM_F_ACK | CreateFlags(mode, false), seq,
                filter);
  nlattr* options = w.NestStart(TCA_OPTIONS, /*flag_nested=*/false);
  tc_flower::EncodeKeys(filter.keys, w);
  tc_actions::EncodeActions(filter.actions, TCA_FLOWER_ACT, w);
  uint32_t flags =
      (filter.skip_hw ? TCA_CLS_FLAGS_SKIP_HW : 0) | (filter.skip_sw ? TCA_CLS_FLAGS_SKIP_SW : 0);
  w.PutU32(TCA_FLOWER_FLAGS, flags);
  tc_flower::EncodeTrailingKeys(filter.keys, w);
  w.NestEnd(options);
  return w.Finish();
}

absl::StatusOr<size_t> EncodeDelFilter(const FlowerFilter& filter, uint32_t seq,
                                       absl::Span<uint8_t> out) {
  if (absl::Status s = ValidateOwner(filter.owner); !s.ok()) return s;
  AttrWriter w(out);
  PutFilterHead(w, RTM_DELTFILTER, NLM_F_REQUEST | NLM_F_ACK, seq, filter);
  return w.Finish();
}

absl::StatusOr<size_t> EncodeDumpFilters(const FilterOwner& owner, std::optional<uint32_t> chain,
                                         uint32_t seq, absl::Span<uint8_t> out) {
  if (absl::Status s = ValidateOwner(owner); !s.ok()) return s;
  AttrWriter w(out);
  w.PutHeader(RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, seq);
  auto* tcm = static_cast<tcmsg*>(w.PutFamilyHeader(sizeof(tcmsg)));
  if (tcm != nullptr) {
    OwnerFields fields = FieldsOf(owner);
    tcm->tcm_family = AF_UNSPEC;
    tcm->tcm_ifindex = fields.ifindex;
    tcm->tcm_parent = fields.parent;
  }
  if (chain) w.PutU32(TCA_CHAIN, *chain);
  return w.Finish();
}

absl::StatusOr<std::optional<FlowerFilter>> DecodeFilterMessage(absl::Span<const uint8_t> msg) {
  return OnSingleMessage(msg, [](const nlmsghdr* nlh) { return DecodeFilterAligned(nlh); });
}

absl::Status DecodeAck(absl::Span<const uint8_t> msg) {
  return OnSingleMessage(msg, [](const nlmsghdr* nlh) { return DecodeAckAligned(nlh); });
}

absl::StatusOr<std::vector<FlowerFilter>> DecodeFilterDump(absl::Span<const uint8_t> buffer) {
  if (buffer.size() > INT32_MAX) return absl::InvalidArgumentError("dump buffer too large");
  std::vector<uint32_t> aligned = AlignedCopy(buffer);
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(aligned.data());
  int remaining = static_cast<int>(buffer.size());
  std::vector<FlowerFilter> filters;
  while (MessageFits(nlh, remaining)) {
    if (nlh->nlmsg_type == NLMSG_DONE) return filters;
    if (nlh->nlmsg_type == NLMSG_ERROR) {
      absl::Status s = DecodeAckAligned(nlh);
      if (!s.ok()) return s;
    } else if (nlh->nlmsg_type != NLMSG_NOOP) {
      absl::StatusOr<std::optional<FlowerFilter>> f = DecodeFilterAligned(nlh);
      if (!f.ok()) return f.status();
      if (f->has_value()) filters.push_back(**std::move(f));
    }
    nlh = mnl_nlmsg_next(nlh, &remaining);
  }
  // A last message may end unaligned (remaining goes slightly negative).
  if (remaining > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncated netlink message at the end of the dump (", remaining, " bytes)"));
  }
  return filters;
}

}  // namespace vfguard::netlink
