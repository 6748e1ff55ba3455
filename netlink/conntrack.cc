#include "netlink/conntrack.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "netlink/tc_wire.h"

namespace vfguard::netlink {
namespace {

constexpr size_t kBufferBytes = 1024;

nlmsghdr* PutHeader(Message& buf, uint16_t msg_type, uint16_t flags, uint8_t family) {
  buf.assign(kBufferBytes, 0);
  nlmsghdr* h = mnl_nlmsg_put_header(buf.data());
  h->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg_type;
  h->nlmsg_flags = flags;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(h, sizeof(nfgenmsg)));
  nfg->nfgen_family = family;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;
  return h;
}

void PutTuple(nlmsghdr* h, uint16_t type, const CtTuple& t) {
  nlattr* tuple = mnl_attr_nest_start(h, type);
  nlattr* ip = mnl_attr_nest_start(h, CTA_TUPLE_IP);
  if (t.src.family == AF_INET) {
    mnl_attr_put(h, CTA_IP_V4_SRC, 4, t.src.bytes.data());
    mnl_attr_put(h, CTA_IP_V4_DST, 4, t.dst.bytes.data());
  } else {
    mnl_attr_put(h, CTA_IP_V6_SRC, 16, t.src.bytes.data());
    mnl_attr_put(h, CTA_IP_V6_DST, 16, t.dst.bytes.data());
  }
  mnl_attr_nest_end(h, ip);
  nlattr* proto = mnl_attr_nest_start(h, CTA_TUPLE_PROTO);
  mnl_attr_put_u8(h, CTA_PROTO_NUM, t.proto);
  if (t.proto == IPPROTO_ICMP || t.proto == IPPROTO_ICMPV6) {
    bool v6 = t.proto == IPPROTO_ICMPV6;
    mnl_attr_put_u16(h, v6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID, htons(t.icmp_id));
    mnl_attr_put_u8(h, v6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE, t.icmp_type);
    mnl_attr_put_u8(h, v6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE, t.icmp_code);
  } else {
    mnl_attr_put_u16(h, CTA_PROTO_SRC_PORT, htons(t.src_port));
    mnl_attr_put_u16(h, CTA_PROTO_DST_PORT, htons(t.dst_port));
  }
  mnl_attr_nest_end(h, proto);
  mnl_attr_nest_end(h, tuple);
}

Message Finish(Message& buf, const nlmsghdr* h) {
  buf.resize(h->nlmsg_len);
  return buf;
}

// The highest ctnetlink attribute type read here, in any nest (CTA_MAX is
// below it on the kernels we know; newer types are ignored).
constexpr uint16_t kMaxCtAttr = 31;

// Attributes of one nest, by type, with the one attribute parser of
// netlink/ (tc_wire::AttrIndex); malformed input is DataLoss, as for the
// rest of a ctnetlink message.
absl::StatusOr<tc_wire::AttrIndex> ParseNest(const nlattr* nest) {
  absl::StatusOr<tc_wire::AttrIndex> index =
      tc_wire::AttrIndex::ParseNested(nest, kMaxCtAttr, "conntrack nest");
  if (!index.ok())
    return absl::DataLossError(absl::StrCat("conntrack: ", index.status().message()));
  return index;
}

template <typename T>
absl::StatusOr<T> Fixed(const nlattr* a, const char* what) {
  if (mnl_attr_get_payload_len(a) < sizeof(T)) {
    return absl::DataLossError(absl::StrCat("conntrack: short ", what));
  }
  T v;
  memcpy(&v, mnl_attr_get_payload(a), sizeof(T));
  return v;
}

absl::StatusOr<CtTuple> DecodeTuple(const nlattr* nest) {
  auto attrs = ParseNest(nest);
  if (!attrs.ok()) return attrs.status();
  CtTuple t;
  if (const nlattr* ip = attrs->Get(CTA_TUPLE_IP)) {
    auto ipa = ParseNest(ip);
    if (!ipa.ok()) return ipa.status();
    if (ipa->Get(CTA_IP_V4_SRC) && ipa->Get(CTA_IP_V4_DST)) {
      auto s = Fixed<std::array<uint8_t, 4>>(ipa->Get(CTA_IP_V4_SRC), "ipv4 src");
      auto d = Fixed<std::array<uint8_t, 4>>(ipa->Get(CTA_IP_V4_DST), "ipv4 dst");
      if (!s.ok() || !d.ok()) return absl::DataLossError("conntrack: short IPv4 address");
      t.src.family = t.dst.family = AF_INET;
      memcpy(t.src.bytes.data(), s->data(), 4);
      memcpy(t.dst.bytes.data(), d->data(), 4);
    } else if (ipa->Get(CTA_IP_V6_SRC) && ipa->Get(CTA_IP_V6_DST)) {
      auto s = Fixed<std::array<uint8_t, 16>>(ipa->Get(CTA_IP_V6_SRC), "ipv6 src");
      auto d = Fixed<std::array<uint8_t, 16>>(ipa->Get(CTA_IP_V6_DST), "ipv6 dst");
      if (!s.ok() || !d.ok()) return absl::DataLossError("conntrack: short IPv6 address");
      t.src.family = t.dst.family = AF_INET6;
      t.src.bytes = *s;
      t.dst.bytes = *d;
    } else {
      return absl::DataLossError("conntrack: tuple without addresses");
    }
  }
  if (const nlattr* proto = attrs->Get(CTA_TUPLE_PROTO)) {
    auto pa = ParseNest(proto);
    if (!pa.ok()) return pa.status();
    if (pa->Get(CTA_PROTO_NUM)) {
      auto n = Fixed<uint8_t>(pa->Get(CTA_PROTO_NUM), "protocol");
      if (!n.ok()) return n.status();
      t.proto = *n;
    }
    auto u16 = [&](int type, uint16_t& out) -> absl::Status {
      if (!pa->Get(type)) return absl::OkStatus();
      auto v = Fixed<uint16_t>(pa->Get(type), "port");
      if (!v.ok()) return v.status();
      out = ntohs(*v);
      return absl::OkStatus();
    };
    auto u8 = [&](int type, uint8_t& out) -> absl::Status {
      if (!pa->Get(type)) return absl::OkStatus();
      auto v = Fixed<uint8_t>(pa->Get(type), "icmp");
      if (!v.ok()) return v.status();
      out = *v;
      return absl::OkStatus();
    };
    for (absl::Status st :
         {u16(CTA_PROTO_SRC_PORT, t.src_port), u16(CTA_PROTO_DST_PORT, t.dst_port),
          u16(CTA_PROTO_ICMP_ID, t.icmp_id), u8(CTA_PROTO_ICMP_TYPE, t.icmp_type),
          u8(CTA_PROTO_ICMP_CODE, t.icmp_code), u16(CTA_PROTO_ICMPV6_ID, t.icmp_id),
          u8(CTA_PROTO_ICMPV6_TYPE, t.icmp_type), u8(CTA_PROTO_ICMPV6_CODE, t.icmp_code)}) {
      if (!st.ok()) return st;
    }
  }
  return t;
}

bool Involves(const CtTuple& t, const CtAddress& a) { return t.src == a || t.dst == a; }

}  // namespace

Message EncodeCtDump(uint8_t family, std::optional<uint16_t> zone) {
  Message buf;
  nlmsghdr* h = PutHeader(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, family);
  if (zone) mnl_attr_put_u16(h, CTA_ZONE, htons(*zone));
  return Finish(buf, h);
}

Message EncodeCtDelete(const CtEntry& e) {
  Message buf;
  nlmsghdr* h = PutHeader(buf, IPCTNL_MSG_CT_DELETE, 0, e.orig.src.family);
  PutTuple(h, CTA_TUPLE_ORIG, e.orig);
  mnl_attr_put_u16(h, CTA_ZONE, htons(e.zone));
  return Finish(buf, h);
}

Message EncodeCtCreate(const CtEntry& e) {
  Message buf;
  nlmsghdr* h = PutHeader(buf, IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL, e.orig.src.family);
  PutTuple(h, CTA_TUPLE_ORIG, e.orig);
  PutTuple(h, CTA_TUPLE_REPLY, e.reply);
  mnl_attr_put_u16(h, CTA_ZONE, htons(e.zone));
  // The kernel marks a ctnetlink-created entry CONFIRMED before applying
  // CTA_STATUS and refuses (EBUSY) a status that would clear it.
  mnl_attr_put_u32(h, CTA_STATUS, htonl(e.status | IPS_CONFIRMED));
  mnl_attr_put_u32(h, CTA_TIMEOUT, htonl(e.timeout));
  if (e.mark != 0) mnl_attr_put_u32(h, CTA_MARK, htonl(e.mark));
  if (e.tcp_state) {
    nlattr* info = mnl_attr_nest_start(h, CTA_PROTOINFO);
    nlattr* tcp = mnl_attr_nest_start(h, CTA_PROTOINFO_TCP);
    mnl_attr_put_u8(h, CTA_PROTOINFO_TCP_STATE, *e.tcp_state);
    mnl_attr_nest_end(h, tcp);
    mnl_attr_nest_end(h, info);
  }
  return Finish(buf, h);
}

absl::StatusOr<CtEntry> DecodeCtEntry(absl::Span<const uint8_t> message) {
  if (message.size() < NLMSG_HDRLEN + sizeof(nfgenmsg)) {
    return absl::DataLossError("conntrack: message too short");
  }
  const auto* h = reinterpret_cast<const nlmsghdr*>(message.data());
  if (h->nlmsg_len < NLMSG_HDRLEN + sizeof(nfgenmsg) || h->nlmsg_len > message.size()) {
    return absl::DataLossError("conntrack: bad nlmsg_len");
  }
  if ((h->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK) {
    return absl::InvalidArgumentError("conntrack: not a ctnetlink message");
  }
  // Top-level attributes follow the nfgenmsg.
  CtEntry e;
  size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
  if (off > h->nlmsg_len) return absl::DataLossError("conntrack: bad nlmsg_len");
  absl::StatusOr<tc_wire::AttrIndex> attrs = tc_wire::AttrIndex::Parse(
      message.data() + off, h->nlmsg_len - off, kMaxCtAttr, "conntrack message");
  if (!attrs.ok())
    return absl::DataLossError(absl::StrCat("conntrack: ", attrs.status().message()));
  bool have_orig = false;
  for (const nlattr* a : attrs->InOrder()) {
    switch (mnl_attr_get_type(a)) {
      case CTA_TUPLE_ORIG: {
        auto t = DecodeTuple(a);
        if (!t.ok()) return t.status();
        e.orig = *t;
        have_orig = true;
        break;
      }
      case CTA_TUPLE_REPLY: {
        auto t = DecodeTuple(a);
        if (!t.ok()) return t.status();
        e.reply = *t;
        break;
      }
      case CTA_ZONE: {
        auto v = Fixed<uint16_t>(a, "zone");
        if (!v.ok()) return v.status();
        e.zone = ntohs(*v);
        break;
      }
      case CTA_STATUS: {
        auto v = Fixed<uint32_t>(a, "status");
        if (!v.ok()) return v.status();
        e.status = ntohl(*v);
        break;
      }
      case CTA_TIMEOUT: {
        auto v = Fixed<uint32_t>(a, "timeout");
        if (!v.ok()) return v.status();
        e.timeout = ntohl(*v);
        break;
      }
      case CTA_MARK: {
        auto v = Fixed<uint32_t>(a, "mark");
        if (!v.ok()) return v.status();
        e.mark = ntohl(*v);
        break;
      }
      case CTA_PROTOINFO: {
        auto info = ParseNest(a);
        if (!info.ok()) return info.status();
        if (const nlattr* tcp = info->Get(CTA_PROTOINFO_TCP)) {
          auto ta = ParseNest(tcp);
          if (!ta.ok()) return ta.status();
          if (ta->Get(CTA_PROTOINFO_TCP_STATE)) {
            auto v = Fixed<uint8_t>(ta->Get(CTA_PROTOINFO_TCP_STATE), "tcp state");
            if (!v.ok()) return v.status();
            e.tcp_state = *v;
          }
        }
        break;
      }
      default:
        break;
    }
  }
  if (!have_orig) return absl::DataLossError("conntrack: entry without original tuple");
  return e;
}

absl::StatusOr<std::vector<CtEntry>> Conntrack::DumpZone(uint16_t zone) {
  auto parts = socket_.DumpWithRetry(EncodeCtDump(AF_UNSPEC, zone));
  if (!parts.ok()) return parts.status();
  std::vector<CtEntry> out;
  for (const Message& m : *parts) {
    auto e = DecodeCtEntry(m);
    if (!e.ok()) return e.status();
    if (e->zone == zone) out.push_back(*e);
  }
  return out;
}

absl::StatusOr<size_t> Conntrack::CountZone(uint16_t zone) {
  auto entries = DumpZone(zone);
  if (!entries.ok()) return entries.status();
  return entries->size();
}

absl::StatusOr<size_t> Conntrack::DeleteZone(uint16_t zone, std::optional<CtAddress> address) {
  auto entries = DumpZone(zone);
  if (!entries.ok()) return entries.status();
  std::vector<Message> deletes;
  for (const CtEntry& e : *entries) {
    if (address && !Involves(e.orig, *address) && !Involves(e.reply, *address)) continue;
    deletes.push_back(EncodeCtDelete(e));
  }
  size_t deleted = 0;
  for (const RequestResult& r : socket_.SendBatchSync(std::move(deletes))) {
    if (r.status.ok()) {
      ++deleted;
    } else if (r.errno_value != ENOENT) {
      return r.status;
    }
  }
  return deleted;
}

absl::Status Conntrack::Create(const CtEntry& entry) {
  std::vector<RequestResult> r = socket_.SendBatchSync({EncodeCtCreate(entry)});
  return r.front().status;
}

}  // namespace vfguard::netlink
