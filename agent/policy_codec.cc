#include "agent/policy_codec.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/file_io.h"
#include "common/json_message.h"
#include "common/status_macros.h"
#include "policy/parse.h"
#include "policy/validate.h"

namespace vfguard::agent {
namespace {

namespace pb = ::vfguard::api::v1;
using policy::Snapshot;

absl::Status Invalid(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

std::string Quote(const std::string& s) { return absl::StrCat("\"", s, "\""); }

// `ports[web-1]` when the object has an id, else `ports[3]`.
std::string ObjectPath(const char* list, int index, const std::string& id) {
  return id.empty() ? absl::StrCat(list, "[", index, "]") : absl::StrCat(list, "[", id, "]");
}

absl::Status CheckIdPresent(const std::string& path, const std::string& id) {
  if (id.empty()) return Invalid(path + ".id", "is missing");
  return absl::OkStatus();
}

template <typename Map>
absl::Status CheckIdUnique(const std::string& path, const Map& map, const std::string& id) {
  if (map.count(id)) return Invalid(path + ".id", absl::StrCat(Quote(id), " is listed twice"));
  return absl::OkStatus();
}

absl::StatusOr<policy::Network> NetworkFromProto(const std::string& path, const pb::Network& in) {
  policy::Network out;
  out.id = in.id();
  VFG_ASSIGN_OR_RETURN(out.segmentation,
                       policy::ParseSegmentationField(path + ".segmentation", in.segmentation()));
  if (in.vlan_id() > UINT16_MAX) {
    // Same wording as policy::Validate gives for the values it can see.
    return Invalid(path + ".vlan_id",
                   out.segmentation == policy::Segmentation::kVlan
                       ? absl::StrCat(in.vlan_id(), " is out of range 1-4094")
                       : absl::StrCat(in.vlan_id(), " is set on a flat network"));
  }
  out.vlan_id = static_cast<uint16_t>(in.vlan_id());
  return out;
}

absl::StatusOr<uint16_t> PortNumber(const std::string& path, uint32_t value) {
  if (value > UINT16_MAX) return Invalid(path, absl::StrCat(value, " is out of range 1-65535"));
  return static_cast<uint16_t>(value);
}

absl::StatusOr<uint8_t> IcmpNumber(const std::string& path, uint32_t value) {
  if (value > UINT8_MAX) return Invalid(path, absl::StrCat(value, " is out of range 0-255"));
  return static_cast<uint8_t>(value);
}

absl::StatusOr<policy::SecurityGroupRule> RuleFromProto(const std::string& path,
                                                        const pb::SecurityGroupRule& in) {
  policy::SecurityGroupRule out;
  VFG_ASSIGN_OR_RETURN(out.direction,
                       policy::ParseDirectionField(path + ".direction", in.direction()));
  VFG_ASSIGN_OR_RETURN(out.ethertype,
                       policy::ParseEtherTypeField(path + ".ethertype", in.ethertype()));
  VFG_ASSIGN_OR_RETURN(out.protocol, policy::ParseProtocolField(path + ".protocol", in.protocol()));
  // A half-open range is ambiguous (one port, or up to 65535?), so both bounds
  // are required together.
  if (in.has_port_range_min() != in.has_port_range_max()) {
    return in.has_port_range_min()
               ? Invalid(path + ".port_range_max", "is missing (port_range_min is set)")
               : Invalid(path + ".port_range_min", "is missing (port_range_max is set)");
  }
  if (in.has_port_range_min()) {
    policy::PortRange range;
    VFG_ASSIGN_OR_RETURN(range.min, PortNumber(path + ".port_range_min", in.port_range_min()));
    VFG_ASSIGN_OR_RETURN(range.max, PortNumber(path + ".port_range_max", in.port_range_max()));
    out.ports = range;
  }
  if (in.has_icmp_code() && !in.has_icmp_type()) {
    return Invalid(path + ".icmp_code", "is set without icmp_type");
  }
  if (in.has_icmp_type()) {
    policy::IcmpMatch icmp;
    VFG_ASSIGN_OR_RETURN(icmp.type, IcmpNumber(path + ".icmp_type", in.icmp_type()));
    if (in.has_icmp_code()) {
      VFG_ASSIGN_OR_RETURN(icmp.code, IcmpNumber(path + ".icmp_code", in.icmp_code()));
    }
    out.icmp = icmp;
  }
  if (!in.remote_ip_prefix().empty()) {
    VFG_ASSIGN_OR_RETURN(out.remote_prefix, policy::ParsePrefixField(path + ".remote_ip_prefix",
                                                                     in.remote_ip_prefix()));
  }
  if (!in.remote_group_id().empty()) out.remote_group_id = in.remote_group_id();
  if (!in.remote_address_group_id().empty()) {
    out.remote_address_group_id = in.remote_address_group_id();
  }
  if (in.has_priority()) {
    if (in.priority() > policy::kMaxRulePriority) {
      return Invalid(path + ".priority", absl::StrCat(in.priority(), " is out of range 1-16384"));
    }
    out.priority = static_cast<uint16_t>(in.priority());
  }
  VFG_ASSIGN_OR_RETURN(out.action, policy::ParseActionField(path + ".action", in.action()));
  return out;
}

absl::StatusOr<policy::SecurityGroup> GroupFromProto(const std::string& path,
                                                     const pb::SecurityGroup& in) {
  policy::SecurityGroup out;
  out.id = in.id();
  out.stateful = in.has_stateful() ? in.stateful() : true;
  for (int i = 0; i < in.rules_size(); ++i) {
    VFG_ASSIGN_OR_RETURN(policy::SecurityGroupRule rule,
                         RuleFromProto(absl::StrCat(path, ".rules[", i, "]"), in.rules(i)));
    out.rules.push_back(std::move(rule));
  }
  return out;
}

absl::StatusOr<policy::Port> PortFromProto(const std::string& path, const pb::Port& in) {
  policy::Port out;
  out.id = in.id();
  out.network_id = in.network_id();
  if (in.mac_address().empty()) return Invalid(path + ".mac_address", "is missing");
  VFG_ASSIGN_OR_RETURN(out.mac, policy::ParseMacField(path + ".mac_address", in.mac_address()));
  for (int i = 0; i < in.fixed_ips_size(); ++i) {
    VFG_ASSIGN_OR_RETURN(
        policy::IpAddr ip,
        policy::ParseIpField(absl::StrCat(path, ".fixed_ips[", i, "]"), in.fixed_ips(i)));
    out.fixed_ips.push_back(ip);
  }
  for (int i = 0; i < in.vips_size(); ++i) {
    VFG_ASSIGN_OR_RETURN(policy::IpAddr ip,
                         policy::ParseIpField(absl::StrCat(path, ".vips[", i, "]"), in.vips(i)));
    out.vips.push_back(ip);
  }
  for (int i = 0; i < in.allowed_address_pairs_size(); ++i) {
    const pb::AllowedAddressPair& pair_in = in.allowed_address_pairs(i);
    std::string pair_path = absl::StrCat(path, ".allowed_address_pairs[", i, "]");
    policy::AllowedAddressPair pair;
    VFG_ASSIGN_OR_RETURN(pair.prefix,
                         policy::ParsePrefixField(pair_path + ".ip_address", pair_in.ip_address()));
    if (!pair_in.mac_address().empty()) {
      VFG_ASSIGN_OR_RETURN(
          pair.mac, policy::ParseMacField(pair_path + ".mac_address", pair_in.mac_address()));
    }
    out.allowed_address_pairs.push_back(pair);
  }
  out.security_group_ids.assign(in.security_group_ids().begin(), in.security_group_ids().end());
  out.port_security = in.has_port_security_enabled() ? in.port_security_enabled() : true;
  switch (in.representor_case()) {
    case pb::Port::kVfIndex:
      out.representor.ref = in.vf_index();
      break;
    case pb::Port::kRepresentorName:
      out.representor.ref = in.representor_name();
      break;
    case pb::Port::REPRESENTOR_NOT_SET:
      return Invalid(path + ".vf_index", "is missing (a port needs vf_index or representor_name)");
  }
  VFG_ASSIGN_OR_RETURN(out.state, policy::ParsePortStateField(path + ".state", in.state()));
  return out;
}

absl::StatusOr<std::vector<policy::IpPrefix>> PrefixList(
    const std::string& path, const google::protobuf::RepeatedPtrField<std::string>& in) {
  std::vector<policy::IpPrefix> out;
  for (int i = 0; i < in.size(); ++i) {
    VFG_ASSIGN_OR_RETURN(policy::IpPrefix prefix,
                         policy::ParsePrefixField(absl::StrCat(path, "[", i, "]"), in[i]));
    out.push_back(prefix);
  }
  return out;
}

// Remote ports and address groups (remote members of this host's rules).
absl::Status ConvertRemotes(const pb::Policy& in, Snapshot& out) {
  for (int i = 0; i < in.remote_ports_size(); ++i) {
    const pb::RemotePort& r = in.remote_ports(i);
    std::string path = ObjectPath("remote_ports", i, r.id());
    VFG_RETURN_IF_ERROR(CheckIdPresent(path, r.id()));
    VFG_RETURN_IF_ERROR(CheckIdUnique(path, out.remote_ports, r.id()));
    policy::RemotePort remote{
        r.id(), {}, {r.security_group_ids().begin(), r.security_group_ids().end()}};
    VFG_ASSIGN_OR_RETURN(remote.addresses, PrefixList(path + ".addresses", r.addresses()));
    out.remote_ports.emplace(r.id(), std::move(remote));
  }
  for (int i = 0; i < in.address_groups_size(); ++i) {
    const pb::AddressGroup& g = in.address_groups(i);
    std::string path = ObjectPath("address_groups", i, g.id());
    VFG_RETURN_IF_ERROR(CheckIdPresent(path, g.id()));
    VFG_RETURN_IF_ERROR(CheckIdUnique(path, out.address_groups, g.id()));
    policy::AddressGroup group{g.id(), {}};
    VFG_ASSIGN_OR_RETURN(group.cidrs, PrefixList(path + ".cidrs", g.cidrs()));
    out.address_groups.emplace(g.id(), std::move(group));
  }
  return absl::OkStatus();
}

absl::StatusOr<Snapshot> Convert(const pb::Policy& in) {
  Snapshot out;
  for (int i = 0; i < in.networks_size(); ++i) {
    const pb::Network& n = in.networks(i);
    std::string path = ObjectPath("networks", i, n.id());
    VFG_RETURN_IF_ERROR(CheckIdPresent(path, n.id()));
    VFG_RETURN_IF_ERROR(CheckIdUnique(path, out.networks, n.id()));
    VFG_ASSIGN_OR_RETURN(policy::Network network, NetworkFromProto(path, n));
    out.networks.emplace(n.id(), std::move(network));
  }
  for (int i = 0; i < in.security_groups_size(); ++i) {
    const pb::SecurityGroup& g = in.security_groups(i);
    std::string path = ObjectPath("security_groups", i, g.id());
    VFG_RETURN_IF_ERROR(CheckIdPresent(path, g.id()));
    VFG_RETURN_IF_ERROR(CheckIdUnique(path, out.security_groups, g.id()));
    VFG_ASSIGN_OR_RETURN(policy::SecurityGroup group, GroupFromProto(path, g));
    out.security_groups.emplace(g.id(), std::move(group));
  }
  for (int i = 0; i < in.ports_size(); ++i) {
    const pb::Port& p = in.ports(i);
    std::string path = ObjectPath("ports", i, p.id());
    VFG_RETURN_IF_ERROR(CheckIdPresent(path, p.id()));
    VFG_RETURN_IF_ERROR(CheckIdUnique(path, out.ports, p.id()));
    VFG_ASSIGN_OR_RETURN(policy::Port port, PortFromProto(path, p));
    out.ports.emplace(p.id(), std::move(port));
  }
  VFG_RETURN_IF_ERROR(ConvertRemotes(in, out));
  return out;
}

const char* SegmentationName(policy::Segmentation s) {
  return s == policy::Segmentation::kFlat ? "flat" : "vlan";
}

void RuleToProto(const policy::SecurityGroupRule& in, pb::SecurityGroupRule* out) {
  out->set_direction(policy::ToString(in.direction));
  out->set_ethertype(policy::ToString(in.ethertype));
  if (in.protocol) out->set_protocol(policy::ProtocolName(*in.protocol));
  if (in.ports) {
    out->set_port_range_min(in.ports->min);
    out->set_port_range_max(in.ports->max);
  }
  if (in.icmp) {
    out->set_icmp_type(in.icmp->type);
    if (in.icmp->code) out->set_icmp_code(*in.icmp->code);
  }
  if (in.remote_prefix) out->set_remote_ip_prefix(in.remote_prefix->ToString());
  if (in.remote_group_id) out->set_remote_group_id(*in.remote_group_id);
  if (in.remote_address_group_id) out->set_remote_address_group_id(*in.remote_address_group_id);
  if (in.priority != policy::kMaxRulePriority) out->set_priority(in.priority);
  out->set_action(policy::ToString(in.action));
}

// A host prefix as its bare address, as the orchestrator most likely wrote it.
std::string PrefixText(const policy::IpPrefix& p) {
  return p.length == p.addr.BitLength() ? p.addr.ToString() : p.ToString();
}

void PortToProto(const policy::Port& in, pb::Port* out) {
  out->set_id(in.id);
  out->set_network_id(in.network_id);
  out->set_mac_address(in.mac.ToString());
  for (const policy::IpAddr& ip : in.fixed_ips) out->add_fixed_ips(ip.ToString());
  for (const policy::IpAddr& ip : in.vips) out->add_vips(ip.ToString());
  for (const policy::AllowedAddressPair& pair : in.allowed_address_pairs) {
    pb::AllowedAddressPair* p = out->add_allowed_address_pairs();
    p->set_ip_address(pair.prefix.ToString());
    if (pair.mac) p->set_mac_address(pair.mac->ToString());
  }
  for (const std::string& g : in.security_group_ids) out->add_security_group_ids(g);
  if (!in.port_security) out->set_port_security_enabled(false);
  if (const uint32_t* vf = std::get_if<uint32_t>(&in.representor.ref)) {
    out->set_vf_index(*vf);
  } else {
    out->set_representor_name(std::get<std::string>(in.representor.ref));
  }
  out->set_state(policy::ToString(in.state));
}

}  // namespace

absl::StatusOr<Snapshot> SnapshotFromPolicy(const pb::Policy& policy) {
  VFG_ASSIGN_OR_RETURN(Snapshot snapshot, Convert(policy));
  VFG_RETURN_IF_ERROR(policy::Validate(snapshot));
  return snapshot;
}

pb::Policy PolicyFromSnapshot(const Snapshot& snapshot) {
  pb::Policy out;
  FillPolicyFromSnapshot(snapshot, out);
  return out;
}

void FillPolicyFromSnapshot(const Snapshot& snapshot, pb::Policy& out) {
  for (const auto& [id, n] : snapshot.networks) {
    pb::Network* net = out.add_networks();
    net->set_id(n.id);
    net->set_segmentation(SegmentationName(n.segmentation));
    net->set_vlan_id(n.vlan_id);
  }
  for (const auto& [id, g] : snapshot.security_groups) {
    pb::SecurityGroup* group = out.add_security_groups();
    group->set_id(g.id);
    if (!g.stateful) group->set_stateful(false);
    for (const policy::SecurityGroupRule& r : g.rules) RuleToProto(r, group->add_rules());
  }
  for (const auto& [id, p] : snapshot.ports) PortToProto(p, out.add_ports());
  for (const auto& [id, r] : snapshot.remote_ports) {
    pb::RemotePort* remote = out.add_remote_ports();
    remote->set_id(r.id);
    for (const policy::IpPrefix& a : r.addresses) remote->add_addresses(PrefixText(a));
    for (const std::string& g : r.security_group_ids) remote->add_security_group_ids(g);
  }
  for (const auto& [id, g] : snapshot.address_groups) {
    pb::AddressGroup* group = out.add_address_groups();
    group->set_id(g.id);
    for (const policy::IpPrefix& c : g.cidrs) group->add_cidrs(PrefixText(c));
  }
}

absl::StatusOr<pb::Policy> PolicyFromJson(std::string_view json) {
  pb::Policy out;
  VFG_RETURN_IF_ERROR(common::ParseJsonMessage(json, &out));
  return out;
}

std::string PolicyToJson(const pb::Policy& policy) { return common::PrintJsonMessage(policy); }

absl::StatusOr<Snapshot> LoadPolicyFile(const std::string& path) {
  absl::StatusOr<std::string> text = common::ReadFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat("policy: ", text.status().message()));
  }
  absl::StatusOr<Snapshot> snapshot = [&]() -> absl::StatusOr<Snapshot> {
    VFG_ASSIGN_OR_RETURN(pb::Policy policy, PolicyFromJson(*text));
    return SnapshotFromPolicy(policy);
  }();
  if (!snapshot.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy ", path, ": ", snapshot.status().message()));
  }
  return snapshot;
}

}  // namespace vfguard::agent
