#include "tests/support/remote_group_snapshot.h"

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"

namespace vfguard::test_support {

using policy::IpAddr;
using policy::IpPrefix;

policy::Snapshot SshFrom(int ports, SshRemote remote,
                         const std::vector<policy::PortRange>& dports) {
  policy::Snapshot s;
  s.networks["net"] = policy::Network{"net", policy::Segmentation::kFlat, 0};
  policy::SecurityGroupRule rule;
  rule.protocol = policy::kProtoTcp;
  switch (remote) {
    case SshRemote::kBastion:
      rule.remote_group_id = "bastion";
      s.remote_ports["b1"] =
          policy::RemotePort{"b1", {*IpPrefix::Parse("192.0.2.10")}, {"bastion"}};
      break;
    case SshRemote::kAdmins:
      rule.remote_address_group_id = "admins";
      s.address_groups["admins"] = policy::AddressGroup{"admins", {*IpPrefix::Parse("192.0.2.10")}};
      break;
    case SshRemote::kPool:
      rule.remote_prefix = *IpPrefix::Parse("192.168.0.0/16");
      break;
  }
  std::vector<policy::SecurityGroupRule> rules;
  for (const policy::PortRange& range : dports) {
    rule.ports = range;
    rules.push_back(rule);
  }
  s.security_groups["ssh"] = policy::SecurityGroup{"ssh", true, std::move(rules)};
  s.security_groups["bastion"] = policy::SecurityGroup{"bastion", true, {}};
  for (int i = 0; i < ports; ++i) {
    policy::Port p;
    p.id = absl::StrCat("p", i);
    p.network_id = "net";
    p.mac =
        policy::MacAddr{{0x02, 0, 0, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i + 1)}};
    p.fixed_ips = {IpAddr::V4(0x0a000001 + i)};
    p.security_group_ids = {"ssh"};
    p.representor.ref = static_cast<uint32_t>(i);
    s.ports[p.id] = p;
  }
  return s;
}

IpAddr PoolMember(uint32_t i, uint32_t step) { return IpAddr::V4(0xc0a80001 + i * step); }

void SetBastionMembers(policy::Snapshot& s, uint32_t step) {
  s.remote_ports.clear();
  for (uint32_t i = 0; i < 1000; ++i) {
    std::string id = absl::StrCat("member-", i);
    s.remote_ports[id] = policy::RemotePort{id, {IpPrefix::Host(PoolMember(i, step))}, {"bastion"}};
  }
}

policy::Packet TcpFromUplinkToP0(const policy::Snapshot& s, const char* src, uint16_t dport) {
  policy::Packet p;
  p.in = policy::DeviceRef::Uplink();
  p.src_mac = *policy::MacAddr::Parse("02:99:00:00:00:01");
  p.dst_mac = s.ports.at("p0").mac;
  p.src_ip = *IpAddr::Parse(src);
  p.dst_ip = s.ports.at("p0").fixed_ips[0];
  p.ip_proto = policy::kProtoTcp;
  p.src_port = 40000;
  p.dst_port = dport;
  return p;
}

size_t FilterWrites(const policy::Pipeline& a, const policy::Pipeline& b) {
  std::map<std::tuple<uint32_t, uint16_t, uint32_t>, const policy::Filter*> before;
  for (const policy::Filter& f : a.filters) before[f.Key()] = &f;
  size_t writes = 0;
  for (const policy::Filter& f : b.filters) {
    auto it = before.find(f.Key());
    if (it == before.end() || !(*it->second == f)) ++writes;
    if (it != before.end()) before.erase(it);
  }
  return writes + before.size();
}

size_t SetWrites(const policy::Pipeline& a, const policy::Pipeline& b) {
  std::set<std::pair<std::string, IpPrefix>> x, y;
  for (const auto& [name, prefixes] : a.sets) {
    for (const IpPrefix& p : prefixes) x.emplace(name, p);
  }
  for (const auto& [name, prefixes] : b.sets) {
    for (const IpPrefix& p : prefixes) y.emplace(name, p);
  }
  size_t n = 0;
  for (const auto& e : x) n += !y.contains(e);
  for (const auto& e : y) n += !x.contains(e);
  return n;
}

}  // namespace vfguard::test_support
