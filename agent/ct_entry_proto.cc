#include "agent/ct_entry_proto.h"

#include <arpa/inet.h>

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "policy/addr.h"

namespace vfguard::agent {
namespace {

absl::Status Field(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

std::string AddressText(const netlink::CtAddress& a) {
  policy::IpAddr ip;
  ip.family = a.family == AF_INET6 ? policy::IpFamily::kV6 : policy::IpFamily::kV4;
  ip.bytes = a.bytes;
  if (ip.family == policy::IpFamily::kV4) std::fill(ip.bytes.begin() + 4, ip.bytes.end(), 0);
  return ip.ToString();
}

void ToProto(const netlink::CtTuple& in, api::v1::CtTuple* out) {
  out->set_src(AddressText(in.src));
  out->set_dst(AddressText(in.dst));
  out->set_proto(in.proto);
  out->set_src_port(in.src_port);
  out->set_dst_port(in.dst_port);
  out->set_icmp_type(in.icmp_type);
  out->set_icmp_code(in.icmp_code);
  out->set_icmp_id(in.icmp_id);
}

absl::StatusOr<netlink::CtAddress> AddressFrom(const std::string& path, const std::string& text) {
  auto ip = policy::IpAddr::Parse(text);
  if (!ip) return Field(path, absl::StrCat("\"", text, "\" is not an IP address"));
  netlink::CtAddress a;
  a.family = ip->family == policy::IpFamily::kV6 ? AF_INET6 : AF_INET;
  a.bytes = ip->bytes;
  return a;
}

absl::StatusOr<netlink::CtTuple> TupleFrom(const std::string& path, bool present,
                                           const api::v1::CtTuple& in) {
  if (!present) return Field(path, "missing");
  netlink::CtTuple t;
  auto src = AddressFrom(path + ".src", in.src());
  if (!src.ok()) return src.status();
  auto dst = AddressFrom(path + ".dst", in.dst());
  if (!dst.ok()) return dst.status();
  if (src->family != dst->family) return Field(path, "src and dst are of different families");
  t.src = *src;
  t.dst = *dst;
  struct Limit {
    const char* name;
    uint32_t value;
    uint32_t max;
  };
  for (const Limit& l :
       {Limit{"proto", in.proto(), 255}, Limit{"src_port", in.src_port(), 65535},
        Limit{"dst_port", in.dst_port(), 65535}, Limit{"icmp_type", in.icmp_type(), 255},
        Limit{"icmp_code", in.icmp_code(), 255}, Limit{"icmp_id", in.icmp_id(), 65535}}) {
    if (l.value > l.max) {
      return Field(absl::StrCat(path, ".", l.name), absl::StrCat(l.value, " is above ", l.max));
    }
  }
  t.proto = static_cast<uint8_t>(in.proto());
  t.src_port = static_cast<uint16_t>(in.src_port());
  t.dst_port = static_cast<uint16_t>(in.dst_port());
  t.icmp_type = static_cast<uint8_t>(in.icmp_type());
  t.icmp_code = static_cast<uint8_t>(in.icmp_code());
  t.icmp_id = static_cast<uint16_t>(in.icmp_id());
  return t;
}

absl::StatusOr<netlink::CtEntry> EntryFrom(const std::string& path, const api::v1::CtEntry& in) {
  netlink::CtEntry e;
  auto orig = TupleFrom(path + ".orig", in.has_orig(), in.orig());
  if (!orig.ok()) return orig.status();
  auto reply = TupleFrom(path + ".reply", in.has_reply(), in.reply());
  if (!reply.ok()) return reply.status();
  e.orig = *orig;
  e.reply = *reply;
  e.status = in.status();
  e.timeout = in.timeout();
  e.mark = in.mark();
  if (in.has_tcp_state()) {
    if (in.tcp_state() > 255) {
      return Field(path + ".tcp_state", absl::StrCat(in.tcp_state(), " is above 255"));
    }
    e.tcp_state = static_cast<uint8_t>(in.tcp_state());
  }
  return e;
}

}  // namespace

api::v1::CtEntry CtEntryToProto(const netlink::CtEntry& entry) {
  api::v1::CtEntry out;
  ToProto(entry.orig, out.mutable_orig());
  ToProto(entry.reply, out.mutable_reply());
  out.set_status(entry.status);
  out.set_timeout(entry.timeout);
  out.set_mark(entry.mark);
  if (entry.tcp_state) out.set_tcp_state(*entry.tcp_state);
  return out;
}

absl::StatusOr<std::vector<netlink::CtEntry>> CtEntriesFromProto(
    const api::v1::ConntrackImport& import) {
  std::vector<netlink::CtEntry> entries;
  for (int i = 0; i < import.entries_size(); ++i) {
    absl::StatusOr<netlink::CtEntry> e =
        EntryFrom(absl::StrCat("entries[", i, "]"), import.entries(i));
    if (!e.ok()) return e.status();
    entries.push_back(*e);
  }
  return entries;
}

}  // namespace vfguard::agent
