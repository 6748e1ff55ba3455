// Text-to-model parsing with field paths, for the JSON/policy-file loader:
// every failure names the field and the text, e.g.
// `ports[3].fixed_ips[0]: 10.0.0.300 is not an IP`.
#ifndef VFGUARD_POLICY_PARSE_H_
#define VFGUARD_POLICY_PARSE_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "policy/model.h"

namespace vfguard::policy {

absl::StatusOr<IpAddr> ParseIpField(const std::string& path, std::string_view text);
// An address or CIDR; host bits must be zero ("10.0.0.1/24" is refused).
absl::StatusOr<IpPrefix> ParsePrefixField(const std::string& path, std::string_view text);
absl::StatusOr<MacAddr> ParseMacField(const std::string& path, std::string_view text);
// "", "any" -> nullopt; a name (tcp, udp, icmp, icmpv6, sctp, vrrp) or 0-255.
absl::StatusOr<std::optional<uint8_t>> ParseProtocolField(const std::string& path,
                                                          std::string_view text);
absl::StatusOr<Direction> ParseDirectionField(const std::string& path, std::string_view text);
// "" defaults to IPv4.
absl::StatusOr<EtherType> ParseEtherTypeField(const std::string& path, std::string_view text);
// "" defaults to allow.
absl::StatusOr<RuleAction> ParseActionField(const std::string& path, std::string_view text);
absl::StatusOr<Segmentation> ParseSegmentationField(const std::string& path, std::string_view text);
// "" defaults to active.
absl::StatusOr<PortState> ParsePortStateField(const std::string& path, std::string_view text);

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_PARSE_H_
