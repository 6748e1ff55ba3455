#include "agent/tc_event.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstring>

#include "agent/filter_hash.h"
#include "netlink/tc_codec.h"

namespace vfguard::agent {

std::string FilterKind(absl::Span<const uint8_t> m) {
  nlmsghdr h{};
  if (m.size() < NLMSG_HDRLEN + sizeof(tcmsg)) return "";
  std::memcpy(&h, m.data(), sizeof(h));
  if (h.nlmsg_type != RTM_NEWTFILTER && h.nlmsg_type != RTM_DELTFILTER) return "";
  if (h.nlmsg_len > m.size()) return "";
  // Walks the attributes after the tcmsg by hand, copying each header out
  // (the bytes need not be aligned).
  size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(tcmsg));
  while (off + sizeof(nlattr) <= h.nlmsg_len) {
    nlattr a{};
    std::memcpy(&a, m.data() + off, sizeof(a));
    if (a.nla_len < sizeof(nlattr) || off + a.nla_len > h.nlmsg_len) break;
    if ((a.nla_type & NLA_TYPE_MASK) == TCA_KIND) {
      const char* p = reinterpret_cast<const char*>(m.data() + off + NLA_HDRLEN);
      return std::string(p, strnlen(p, a.nla_len - NLA_HDRLEN));
    }
    off += NLA_ALIGN(a.nla_len);
  }
  return "";
}

absl::StatusOr<TcEvent> DecodeTcEvent(absl::Span<const uint8_t> msg) {
  TcEvent e;
  nlmsghdr h{};
  if (msg.size() < sizeof(h)) return absl::InvalidArgumentError("tc event shorter than nlmsghdr");
  std::memcpy(&h, msg.data(), sizeof(h));
  switch (h.nlmsg_type) {
    case RTM_NEWTFILTER:
    case RTM_DELTFILTER: {
      e.deleted = h.nlmsg_type == RTM_DELTFILTER;
      if (const std::string kind = FilterKind(msg); !kind.empty() && kind != "flower") {
        e.kind = TcEvent::Kind::kOtherClassifier;
        return e;
      }
      absl::StatusOr<std::optional<netlink::FlowerFilter>> f = netlink::DecodeFilterMessage(msg);
      if (!f.ok()) return f.status();
      e.kind = TcEvent::Kind::kFilter;
      e.filter = *std::move(f);
      return e;
    }
    case RTM_NEWQDISC:
    case RTM_DELQDISC: {
      absl::StatusOr<netlink::QdiscInfo> q = netlink::DecodeQdiscMessage(msg);
      if (!q.ok()) return q.status();
      e.kind = TcEvent::Kind::kQdisc;
      e.deleted = h.nlmsg_type == RTM_DELQDISC;
      e.qdisc = *std::move(q);
      return e;
    }
    default:
      return e;
  }
}

TcNote NoteOf(const TcEvent& event) {
  TcNote n;
  n.deleted = event.deleted;
  switch (event.kind) {
    case TcEvent::Kind::kOther:
    case TcEvent::Kind::kOtherClassifier:
      n.kind = TcNote::Kind::kIgnored;
      return n;
    case TcEvent::Kind::kQdisc:
      if (event.qdisc.kind != "clsact") {
        n.kind = TcNote::Kind::kIgnored;
        return n;
      }
      n.kind = TcNote::Kind::kClsact;
      n.ifindex = event.qdisc.ifindex;
      n.ingress_block = event.qdisc.ingress_block;
      return n;
    case TcEvent::Kind::kFilter:
      break;
  }
  if (!event.filter) {
    n.kind = TcNote::Kind::kPrioGone;
    return n;
  }
  n.kind = TcNote::Kind::kFilter;
  n.key = KeyOf(*event.filter);
  // What the kernel only reports (status, counters) is not hashed.
  n.content = ContentHash(*event.filter);
  return n;
}

}  // namespace vfguard::agent
