// The desired-state model: networks, ports and security groups.
//
// Plain values with no behaviour beyond accessors. A Snapshot is immutable once
// validated (see validate.h) and is shared as std::shared_ptr<const Snapshot>.
// Semantics of every field are given in docs/semantics.md; the compiler and
// the reference evaluator both implement that document.
#ifndef VFGUARD_POLICY_MODEL_H_
#define VFGUARD_POLICY_MODEL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "policy/addr.h"

namespace vfguard::policy {

enum class Segmentation : uint8_t { kFlat, kVlan };

struct Network {
  std::string id;
  Segmentation segmentation = Segmentation::kFlat;
  uint16_t vlan_id = 0;  // 1-4094 when segmentation is kVlan, else 0
  auto operator<=>(const Network&) const = default;
};

struct AllowedAddressPair {
  IpPrefix prefix;             // a host address or a CIDR
  std::optional<MacAddr> mac;  // if set, sources using this pair may use this MAC
  auto operator<=>(const AllowedAddressPair&) const = default;
};

enum class PortState : uint8_t { kActive, kPendingActivation, kInactive };

// Where the port's VF is on the eswitch: a VF index (resolved through devlink
// or the configured map) or an explicit representor netdev name.
struct Representor {
  std::variant<uint32_t, std::string> ref;
  auto operator<=>(const Representor&) const = default;
};

struct Port {
  std::string id;
  std::string network_id;
  MacAddr mac;
  std::vector<IpAddr> fixed_ips;
  std::vector<IpAddr> vips;
  std::vector<AllowedAddressPair> allowed_address_pairs;
  std::vector<std::string> security_group_ids;
  bool port_security = true;
  Representor representor;
  PortState state = PortState::kActive;
  auto operator<=>(const Port&) const = default;
};

enum class Direction : uint8_t { kIngress, kEgress };
enum class EtherType : uint8_t { kIPv4, kIPv6 };
enum class RuleAction : uint8_t { kAllow, kDeny };

// IP protocol numbers used by name.
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmpv6 = 58;
inline constexpr uint8_t kProtoVrrp = 112;
inline constexpr uint8_t kProtoSctp = 132;

inline constexpr uint16_t kMinRulePriority = 1;
inline constexpr uint16_t kMaxRulePriority = 16384;  // also the default: lowest

struct PortRange {
  uint16_t min = 1;
  uint16_t max = 65535;
  auto operator<=>(const PortRange&) const = default;
};

struct IcmpMatch {
  uint8_t type = 0;
  std::optional<uint8_t> code;
  auto operator<=>(const IcmpMatch&) const = default;
};

struct SecurityGroupRule {
  Direction direction = Direction::kIngress;
  EtherType ethertype = EtherType::kIPv4;
  std::optional<uint8_t> protocol;  // nullopt = any protocol
  std::optional<PortRange> ports;   // tcp/udp/sctp only; destination port
  std::optional<IcmpMatch> icmp;    // icmp/icmpv6 only
  // Remote: at most one of the three. None = any address.
  std::optional<IpPrefix> remote_prefix;
  std::optional<std::string> remote_group_id;
  std::optional<std::string> remote_address_group_id;
  uint16_t priority = kMaxRulePriority;
  RuleAction action = RuleAction::kAllow;
  auto operator<=>(const SecurityGroupRule&) const = default;
};

struct SecurityGroup {
  std::string id;
  bool stateful = true;
  std::vector<SecurityGroupRule> rules;
  auto operator<=>(const SecurityGroup&) const = default;
};

// A port on another host that counts as a member of security groups
// (docs/semantics.md §7): its addresses match remote-group rules exactly like
// a local member's; it has no representor, no rules and no forwarding here.
struct RemotePort {
  std::string id;
  std::vector<IpPrefix> addresses;  // host addresses or CIDRs (allowed pairs)
  std::vector<std::string> security_group_ids;
  auto operator<=>(const RemotePort&) const = default;
};

// A named set of CIDRs, the remote of rules with remote_address_group_id.
struct AddressGroup {
  std::string id;
  std::vector<IpPrefix> cidrs;
  auto operator<=>(const AddressGroup&) const = default;
};

// A whole desired state. Maps are keyed by id so that iteration order, and
// hence compiled output, never depends on arrival order.
struct Snapshot {
  std::map<std::string, Network> networks;
  std::map<std::string, Port> ports;
  std::map<std::string, SecurityGroup> security_groups;
  std::map<std::string, RemotePort> remote_ports;
  std::map<std::string, AddressGroup> address_groups;
  auto operator<=>(const Snapshot&) const = default;
};

// Every address a port may legitimately source or be reached at: fixed IPs,
// VIPs, and allowed-pair prefixes. Used for port security and for expanding
// remote groups.
std::vector<IpPrefix> PortAddressPrefixes(const Port& port);

// addresses(G) of docs/semantics.md §7: the address prefixes of every member
// of group `group_id`, local ports and remote ports alike, deduplicated and
// sorted. Prefixes may overlap (see AggregatePrefixes).
std::vector<IpPrefix> GroupMemberPrefixes(const Snapshot& s, const std::string& group_id);

const char* ToString(Direction d);
const char* ToString(EtherType e);
const char* ToString(RuleAction a);
const char* ToString(PortState s);
// "tcp", "udp", ... for known numbers, else the decimal number.
std::string ProtocolName(uint8_t proto);
std::optional<uint8_t> ProtocolFromName(std::string_view name);

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_MODEL_H_
