#include "offload/set_match_translate.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace vfguard::offload {
namespace {

absl::Status Invalid(const policy::Filter& f, absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("set-match filter chain ", f.chain, " prio ",
                                                 f.prio, " handle ", f.handle, ": ", field, ": ",
                                                 why));
}

// The first key of `m` the program does not read, or empty.
absl::string_view UnreadKey(const policy::FlowerMatch& m) {
  if (m.indev) return "indev";
  if (m.src_mac || m.dst_mac) return "mac";
  if (m.vlan_id || m.vlan_eth_type) return "vlan";
  if (m.src_ip || m.dst_ip) return "ip address (the set stands for it)";
  if (m.src_port) return "src_port";
  if (m.arp_op || m.arp_sip || m.arp_tip || m.arp_sha || m.arp_tha) return "arp";
  if (m.ct_state || m.ct_zone || m.ct_mark) return "conntrack";
  return {};
}

}  // namespace

absl::StatusOr<SetMatchFilter> ToSetMatchFilter(const policy::Filter& filter, uint32_t block,
                                                const DeviceResolver& devices) {
  if (filter.classifier != policy::Classifier::kSetMatch) {
    return Invalid(filter, "classifier", "not a set match");
  }
  if (!filter.rare()->set_match) return Invalid(filter, "set_match", "missing");
  if (filter.protocol != policy::kEthIPv4 && filter.protocol != policy::kEthIPv6) {
    return Invalid(filter, "protocol", absl::StrCat(filter.protocol, " is neither IPv4 nor IPv6"));
  }
  const policy::FlowerMatch& m = filter.match;
  if (absl::string_view key = UnreadKey(m); !key.empty()) {
    return Invalid(filter, key, "the set-match program does not match on it");
  }
  // Its place and actions exactly as a flower filter there would have them.
  absl::StatusOr<netlink::FlowerFilter> k = ToKernelFilter(filter, block, Copy::kSlowPath, devices);
  if (!k.ok()) return k.status();
  SetMatchFilter out;
  out.filter.owner = k->owner;
  out.filter.chain = k->chain;
  out.filter.prio = k->prio;
  out.filter.handle = k->handle;
  out.filter.protocol = k->protocol;
  out.filter.actions = std::move(k->actions);
  out.rule.family =
      filter.protocol == policy::kEthIPv4 ? policy::IpFamily::kV4 : policy::IpFamily::kV6;
  out.rule.remote_is_src = filter.rare()->set_match->remote_is_src;
  out.rule.ip_proto = m.ip_proto.value_or(0);
  out.rule.dport = m.dst_port;
  out.rule.icmp_type = m.icmp_type;
  out.rule.icmp_code = m.icmp_code;
  out.set = filter.rare()->set_match->set;
  return out;
}

}  // namespace vfguard::offload
