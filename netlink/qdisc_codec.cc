#include "netlink/qdisc_codec.h"

#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "netlink/tc_codec.h"
#include "netlink/tc_wire.h"

namespace vfguard::netlink {
namespace {

using tc_wire::AttrIndex;
using tc_wire::AttrWriter;

// One row per decoded attribute of a qdisc message.
struct QdiscAttrRow {
  uint16_t type;
  absl::string_view field;  // used in errors
  absl::Status (*decode)(const nlattr*, absl::string_view field, QdiscInfo&);
};

absl::Status DecodeKind(const nlattr* attr, absl::string_view field, QdiscInfo& q) {
  absl::StatusOr<std::string> kind = tc_wire::ReadString(attr, field);
  if (!kind.ok()) return kind.status();
  q.kind = *std::move(kind);
  return absl::OkStatus();
}

absl::Status DecodeIngressBlock(const nlattr* attr, absl::string_view field, QdiscInfo& q) {
  absl::StatusOr<uint32_t> block = tc_wire::Read<uint32_t>(attr, field);
  if (!block.ok()) return block.status();
  q.ingress_block = *block;
  return absl::OkStatus();
}

const QdiscAttrRow kQdiscAttrRows[] = {
    {TCA_KIND, "TCA_KIND", &DecodeKind},
    {TCA_INGRESS_BLOCK, "TCA_INGRESS_BLOCK", &DecodeIngressBlock},
};

std::vector<uint32_t> AlignedCopy(absl::Span<const uint8_t> bytes) {
  std::vector<uint32_t> copy((bytes.size() + 3) / 4, 0);
  if (!bytes.empty()) std::memcpy(copy.data(), bytes.data(), bytes.size());
  return copy;
}

bool MessageFits(const nlmsghdr* nlh, int remaining) {
  return remaining >= static_cast<int>(sizeof(nlmsghdr)) && nlh->nlmsg_len >= sizeof(nlmsghdr) &&
         nlh->nlmsg_len <= static_cast<uint32_t>(remaining);
}

absl::StatusOr<QdiscInfo> DecodeAligned(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWQDISC && nlh->nlmsg_type != RTM_DELQDISC) {
    return absl::InvalidArgumentError(
        absl::StrCat("netlink message type ", nlh->nlmsg_type, " is not a qdisc"));
  }
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(tcmsg)) {
    return absl::InvalidArgumentError("qdisc message shorter than struct tcmsg");
  }
  const auto* tcm = static_cast<const tcmsg*>(mnl_nlmsg_get_payload(nlh));
  absl::StatusOr<AttrIndex> attrs = AttrIndex::Parse(
      mnl_nlmsg_get_payload_offset(nlh, sizeof(tcmsg)),
      mnl_nlmsg_get_payload_len(nlh) - MNL_ALIGN(sizeof(tcmsg)), TCA_MAX, "qdisc message");
  if (!attrs.ok()) return attrs.status();
  QdiscInfo q;
  q.ifindex = static_cast<uint32_t>(tcm->tcm_ifindex);
  q.handle = tcm->tcm_handle;
  q.parent = tcm->tcm_parent;
  for (const QdiscAttrRow& row : kQdiscAttrRows) {
    if (const nlattr* attr = attrs->Get(row.type); attr != nullptr) {
      if (absl::Status s = row.decode(attr, row.field, q); !s.ok()) return s;
    }
  }
  if (q.kind.empty()) return absl::InvalidArgumentError("qdisc message without TCA_KIND");
  return q;
}

}  // namespace

absl::StatusOr<size_t> EncodeDumpQdiscs(uint32_t seq, absl::Span<uint8_t> out) {
  AttrWriter w(out);
  w.PutHeader(RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP, seq);
  auto* tcm = static_cast<tcmsg*>(w.PutFamilyHeader(sizeof(tcmsg)));
  if (tcm != nullptr) tcm->tcm_family = AF_UNSPEC;
  return w.Finish();
}

absl::StatusOr<size_t> EncodeDelClsact(uint32_t ifindex, uint32_t seq, absl::Span<uint8_t> out) {
  if (ifindex == 0 || ifindex > INT32_MAX) {
    return absl::InvalidArgumentError("ifindex: must be 1..2^31-1");
  }
  AttrWriter w(out);
  w.PutHeader(RTM_DELQDISC, NLM_F_REQUEST | NLM_F_ACK, seq);
  auto* tcm = static_cast<tcmsg*>(w.PutFamilyHeader(sizeof(tcmsg)));
  if (tcm != nullptr) {
    tcm->tcm_family = AF_UNSPEC;
    tcm->tcm_ifindex = static_cast<int32_t>(ifindex);
    // Neither a handle nor TCA_KIND, unlike tc: the kernel compares both with
    // the noop qdisc a device without clsact has and answers EINVAL; without
    // them it answers ENOENT, which is what "absent" should be. (The hook's
    // qdisc is deleted whatever it is: clsact and ingress share it.)
    tcm->tcm_handle = 0;
    tcm->tcm_parent = TC_H_CLSACT;
  }
  return w.Finish();
}

absl::StatusOr<QdiscInfo> DecodeQdiscMessage(absl::Span<const uint8_t> msg) {
  std::vector<uint32_t> aligned = AlignedCopy(msg);
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(aligned.data());
  if (msg.size() > INT32_MAX || !MessageFits(nlh, static_cast<int>(msg.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncated netlink message (", msg.size(), " bytes)"));
  }
  return DecodeAligned(nlh);
}

absl::StatusOr<std::vector<QdiscInfo>> DecodeQdiscDump(absl::Span<const uint8_t> buffer) {
  if (buffer.size() > INT32_MAX) return absl::InvalidArgumentError("dump buffer too large");
  std::vector<uint32_t> aligned = AlignedCopy(buffer);
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(aligned.data());
  int remaining = static_cast<int>(buffer.size());
  std::vector<QdiscInfo> qdiscs;
  while (MessageFits(nlh, remaining)) {
    if (nlh->nlmsg_type == NLMSG_DONE) return qdiscs;
    if (nlh->nlmsg_type == NLMSG_ERROR) {
      absl::Status s =
          DecodeAck(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(nlh), nlh->nlmsg_len));
      if (!s.ok()) return s;
    } else if (nlh->nlmsg_type != NLMSG_NOOP) {
      absl::StatusOr<QdiscInfo> q = DecodeAligned(nlh);
      if (!q.ok()) return q.status();
      qdiscs.push_back(*std::move(q));
    }
    nlh = mnl_nlmsg_next(nlh, &remaining);
  }
  if (remaining > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncated netlink message at the end of the dump (", remaining, " bytes)"));
  }
  return qdiscs;
}

}  // namespace vfguard::netlink
