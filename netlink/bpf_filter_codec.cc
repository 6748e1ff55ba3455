#include "netlink/bpf_filter_codec.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include <climits>
#include <variant>

#include "absl/strings/str_cat.h"
#include "netlink/tc_actions.h"
#include "netlink/tc_wire.h"

namespace vfguard::netlink {
namespace {

using tc_wire::AttrWriter;

constexpr absl::string_view kBpfKind = "bpf";

absl::Status ValidateOwner(const FilterOwner& owner) {
  if (const auto* block = std::get_if<TcBlock>(&owner)) {
    if (block->index == 0) return absl::InvalidArgumentError("owner: block index must be >= 1");
  } else if (const auto& dev = std::get<TcDevice>(owner);
             dev.ifindex == 0 || dev.ifindex > INT32_MAX) {
    return absl::InvalidArgumentError("owner: device ifindex must be 1..2^31-1");
  }
  return absl::OkStatus();
}

// netlink header, tcmsg, TCA_CHAIN, TCA_KIND: the order iproute2 uses.
void PutHead(AttrWriter& w, uint16_t type, uint16_t flags, uint32_t seq, const BpfFilter& f) {
  w.PutHeader(type, flags, seq);
  auto* tcm = static_cast<tcmsg*>(w.PutFamilyHeader(sizeof(tcmsg)));
  if (tcm == nullptr) return;
  tcm->tcm_family = AF_UNSPEC;
  if (const auto* block = std::get_if<TcBlock>(&f.owner)) {
    tcm->tcm_ifindex = static_cast<int>(TCM_IFINDEX_MAGIC_BLOCK);
    tcm->tcm_parent = block->index;  // tcm_block_index
  } else {
    const auto& dev = std::get<TcDevice>(f.owner);
    tcm->tcm_ifindex = static_cast<int>(dev.ifindex);
    tcm->tcm_parent = dev.parent;
  }
  tcm->tcm_handle = f.handle;
  tcm->tcm_info = TC_H_MAKE(static_cast<uint32_t>(f.prio) << 16, htons(f.protocol));
  w.PutU32(TCA_CHAIN, f.chain);
  w.PutString(TCA_KIND, kBpfKind);
}

uint16_t CreateFlags(CreateMode mode) {
  switch (mode) {
    case CreateMode::kCreateExclusive:
      return NLM_F_CREATE | NLM_F_EXCL;
    case CreateMode::kCreateOrReplace:
      return NLM_F_CREATE;  // an existing filter at that handle is replaced
    case CreateMode::kReplaceOnly:
      return 0;
  }
  return 0;
}

}  // namespace

absl::StatusOr<size_t> EncodeNewBpfFilter(const BpfFilter& filter, CreateMode mode, uint32_t seq,
                                          absl::Span<uint8_t> out) {
  if (absl::Status s = ValidateOwner(filter.owner); !s.ok()) return s;
  if (filter.prog_fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat("prog_fd: ", filter.prog_fd, " is not an fd"));
  }
  if (filter.direct_action && (filter.classid || !filter.actions.empty())) {
    return absl::InvalidArgumentError(
        "classid, actions: only in classifier mode (direct_action false)");
  }
  if (absl::Status s = tc_actions::ValidateActions(filter.actions); !s.ok()) return s;
  AttrWriter w(out);
  PutHead(w, RTM_NEWTFILTER, NLM_F_REQUEST | NLM_F_ACK | CreateFlags(mode), seq, filter);
  nlattr* options = w.NestStart(TCA_OPTIONS, /*flag_nested=*/false);
  w.PutU32(TCA_BPF_FD, static_cast<uint32_t>(filter.prog_fd));
  if (!filter.name.empty()) w.PutString(TCA_BPF_NAME, filter.name);
  w.PutU32(TCA_BPF_FLAGS, filter.direct_action ? TCA_BPF_FLAG_ACT_DIRECT : 0);
  if (filter.skip_hw) w.PutU32(TCA_BPF_FLAGS_GEN, TCA_CLS_FLAGS_SKIP_HW);
  if (filter.classid) w.PutU32(TCA_BPF_CLASSID, *filter.classid);
  if (!filter.actions.empty()) tc_actions::EncodeActions(filter.actions, TCA_BPF_ACT, w);
  w.NestEnd(options);
  return w.Finish();
}

absl::StatusOr<size_t> EncodeDelBpfFilter(const BpfFilter& filter, uint32_t seq,
                                          absl::Span<uint8_t> out) {
  if (absl::Status s = ValidateOwner(filter.owner); !s.ok()) return s;
  AttrWriter w(out);
  PutHead(w, RTM_DELTFILTER, NLM_F_REQUEST | NLM_F_ACK, seq, filter);
  return w.Finish();
}

}  // namespace vfguard::netlink
