#include "policy/parse.h"

#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace vfguard::policy {
namespace {

// The text is C-escaped: it comes from outside, and a control character in
// it must not break the log line the error ends up in.
std::string Escaped(std::string_view text) {
  return absl::CEscape(absl::string_view(text.data(), text.size()));
}

// Empty text reads as "" so that the message does not look truncated.
absl::Status Bad(const std::string& path, std::string_view text, const char* what) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": ", text.empty() ? "\"\"" : Escaped(text), " ", what));
}

// Parses one of a fixed set of words; `empty` is the value for "" if any.
template <typename T>
absl::StatusOr<T> ParseWord(const std::string& path, std::string_view text,
                            const std::vector<std::pair<const char*, T>>& words,
                            std::optional<T> empty, const char* expected) {
  if (text.empty() && empty) return *empty;
  for (const auto& [word, value] : words) {
    if (text == word) return value;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": \"", Escaped(text), "\" is not one of ", expected));
}

}  // namespace

absl::StatusOr<IpAddr> ParseIpField(const std::string& path, std::string_view text) {
  std::optional<IpAddr> a = IpAddr::Parse(text);
  if (!a) return Bad(path, text, "is not an IP");
  return *a;
}

absl::StatusOr<IpPrefix> ParsePrefixField(const std::string& path, std::string_view text) {
  std::optional<IpPrefix> loose = IpPrefix::Parse(text);
  if (!loose) return Bad(path, text, "is not an IP or CIDR");
  if (!IpPrefix::Parse(text, /*strict=*/true)) {
    return Bad(path, text,
               absl::StrCat("has host bits set (did you mean ", loose->ToString(), "?)").c_str());
  }
  return *loose;
}

absl::StatusOr<MacAddr> ParseMacField(const std::string& path, std::string_view text) {
  std::optional<MacAddr> m = MacAddr::Parse(text);
  if (!m) return Bad(path, text, "is not a MAC address (aa:bb:cc:dd:ee:ff)");
  return *m;
}

absl::StatusOr<std::optional<uint8_t>> ParseProtocolField(const std::string& path,
                                                          std::string_view text) {
  if (text.empty() || text == "any") return std::optional<uint8_t>();
  std::optional<uint8_t> p = ProtocolFromName(text);
  if (!p) {
    return Bad(path, text, "is not a protocol (any, tcp, udp, icmp, icmpv6, sctp, vrrp or 0-255)");
  }
  return p;
}

absl::StatusOr<Direction> ParseDirectionField(const std::string& path, std::string_view text) {
  return ParseWord<Direction>(path, text,
                              {{"ingress", Direction::kIngress}, {"egress", Direction::kEgress}},
                              std::nullopt, "ingress, egress");
}

absl::StatusOr<EtherType> ParseEtherTypeField(const std::string& path, std::string_view text) {
  return ParseWord<EtherType>(path, text, {{"IPv4", EtherType::kIPv4}, {"IPv6", EtherType::kIPv6}},
                              EtherType::kIPv4, "IPv4, IPv6");
}

absl::StatusOr<RuleAction> ParseActionField(const std::string& path, std::string_view text) {
  return ParseWord<RuleAction>(path, text,
                               {{"allow", RuleAction::kAllow}, {"deny", RuleAction::kDeny}},
                               RuleAction::kAllow, "allow, deny");
}

absl::StatusOr<Segmentation> ParseSegmentationField(const std::string& path,
                                                    std::string_view text) {
  return ParseWord<Segmentation>(path, text,
                                 {{"flat", Segmentation::kFlat}, {"vlan", Segmentation::kVlan}},
                                 std::nullopt, "flat, vlan");
}

absl::StatusOr<PortState> ParsePortStateField(const std::string& path, std::string_view text) {
  return ParseWord<PortState>(path, text,
                              {{"active", PortState::kActive},
                               {"pending-activation", PortState::kPendingActivation},
                               {"inactive", PortState::kInactive}},
                              PortState::kActive, "active, pending-activation, inactive");
}

}  // namespace vfguard::policy
