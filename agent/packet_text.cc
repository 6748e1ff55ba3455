#include "agent/packet_text.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "policy/model.h"
#include "policy/nd_check.h"

namespace vfguard::agent {
namespace {

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status Bad(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("packet: ", Sv(what)));
}

std::string Quote(std::string_view token) {
  return absl::StrCat("\"", absl::CEscape(Sv(token)), "\"");
}

std::vector<std::string_view> Tokens(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

std::optional<uint32_t> Number(std::string_view text, uint32_t max) {
  uint32_t value = 0;
  if (text.empty() || text.size() > 10) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

struct Endpoint {
  policy::IpAddr ip;
  std::optional<uint16_t> port;
};

absl::StatusOr<Endpoint> ParseEndpoint(std::string_view token, std::string_view role) {
  Endpoint ep;
  std::string_view addr = token;
  std::optional<std::string_view> port_text;
  if (!token.empty() && token.front() == '[') {
    size_t close = token.find(']');
    if (close == std::string_view::npos) {
      return Bad(absl::StrCat(Sv(role), " ", Quote(token), " has no closing ]"));
    }
    addr = token.substr(1, close - 1);
    std::string_view rest = token.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return Bad(absl::StrCat(Sv(role), " ", Quote(token), ": expected :PORT after ]"));
      }
      port_text = rest.substr(1);
    }
    auto ip = policy::IpAddr::Parse(addr);
    if (!ip || ip->family != policy::IpFamily::kV6) {
      return Bad(absl::StrCat(Sv(role), " ", Quote(addr), " is not an IPv6 address"));
    }
    ep.ip = *ip;
  } else {
    size_t colons = std::count(token.begin(), token.end(), ':');
    if (colons == 1) {
      size_t colon = token.find(':');
      addr = token.substr(0, colon);
      port_text = token.substr(colon + 1);
    }
    auto ip = policy::IpAddr::Parse(addr);
    if (!ip) return Bad(absl::StrCat(Sv(role), " ", Quote(addr), " is not an IP address"));
    ep.ip = *ip;
  }
  if (port_text) {
    auto port = Number(*port_text, 65535);
    if (!port) {
      return Bad(absl::StrCat(Sv(role), " port ", Quote(*port_text), " is not a number 0-65535"));
    }
    ep.port = static_cast<uint16_t>(*port);
  }
  return ep;
}

}  // namespace

absl::StatusOr<policy::Packet> ParsePacketText(std::string_view text) {
  std::vector<std::string_view> tokens = Tokens(text);
  if (tokens.size() < 4) {
    return Bad(absl::StrCat("expected \"PROTO SRC[:PORT] -> DST[:PORT]\", got ", Quote(text)));
  }
  policy::Packet packet;
  std::string proto = absl::AsciiStrToLower(Sv(tokens[0]));
  if (proto == "tcp") {
    packet.ip_proto = policy::kProtoTcp;
  } else if (proto == "udp") {
    packet.ip_proto = policy::kProtoUdp;
  } else if (proto == "sctp") {
    packet.ip_proto = policy::kProtoSctp;
  } else if (proto == "icmp") {
    packet.ip_proto = policy::kProtoIcmp;
  } else if (proto == "icmpv6") {
    packet.ip_proto = policy::kProtoIcmpv6;
  } else if (auto n = Number(proto, 255)) {
    packet.ip_proto = static_cast<uint8_t>(*n);
  } else {
    return Bad(absl::StrCat("protocol ", Quote(tokens[0]),
                            " is not tcp, udp, sctp, icmp, icmpv6 or a number 0-255"));
  }
  if (tokens[2] != "->") {
    return Bad(absl::StrCat("expected \"->\" after the source, got ", Quote(tokens[2])));
  }
  auto src = ParseEndpoint(tokens[1], "source");
  if (!src.ok()) return src.status();
  auto dst = ParseEndpoint(tokens[3], "destination");
  if (!dst.ok()) return dst.status();
  if (src->ip.family != dst->ip.family) {
    return Bad("source and destination are of different address families");
  }
  bool v6 = src->ip.family == policy::IpFamily::kV6;
  packet.eth_type = v6 ? policy::kEthIPv6 : policy::kEthIPv4;
  packet.src_ip = src->ip;
  packet.dst_ip = dst->ip;
  bool has_ports = packet.ip_proto == policy::kProtoTcp || packet.ip_proto == policy::kProtoUdp ||
                   packet.ip_proto == policy::kProtoSctp;
  bool icmp = packet.ip_proto == policy::kProtoIcmp || packet.ip_proto == policy::kProtoIcmpv6;
  if (packet.ip_proto == policy::kProtoIcmp && v6) return Bad("icmp needs IPv4 (use icmpv6)");
  if (packet.ip_proto == policy::kProtoIcmpv6 && !v6) return Bad("icmpv6 needs IPv6 (use icmp)");
  if ((src->port || dst->port) && !has_ports) {
    return Bad(absl::StrCat("ports need tcp, udp or sctp, not ", Quote(tokens[0])));
  }
  packet.src_port = src->port.value_or(0);
  packet.dst_port = dst->port.value_or(0);
  if (icmp) packet.icmp_type = v6 ? 128 : 8;

  std::optional<uint32_t> type, code, hlim;
  std::optional<policy::IpAddr> target;
  std::vector<policy::NdOption> options;
  for (size_t i = 4; i < tokens.size(); i += 2) {
    std::string_view key = tokens[i];
    const bool nd_key = key == "target" || key == "tlla" || key == "slla" || key == "hlim";
    if (key != "type" && key != "code" && !nd_key) {
      return Bad(absl::StrCat("unexpected ", Quote(key),
                              " (only \"type N\", \"code N\" and, for NS/NA, \"target ADDR\", "
                              "\"tlla MAC\", \"slla MAC\", \"hlim N\" may follow)"));
    }
    if (!icmp) return Bad(absl::StrCat(Sv(key), " needs icmp or icmpv6"));
    if (i + 1 >= tokens.size()) {
      return Bad(absl::StrCat(Sv(key), key == "target"                  ? " needs an address"
                                       : key == "tlla" || key == "slla" ? " needs a MAC address"
                                                                        : " needs a number"));
    }
    std::string_view value = tokens[i + 1];
    if (key == "target") {
      std::optional<policy::IpAddr> ip = policy::IpAddr::Parse(value);
      if (!ip || ip->family != policy::IpFamily::kV6) {
        return Bad(absl::StrCat("target ", Quote(value), " is not an IPv6 address"));
      }
      if (target) return Bad("target given twice");
      target = *ip;
      continue;
    }
    if (key == "tlla" || key == "slla") {
      std::optional<policy::MacAddr> mac = policy::MacAddr::Parse(value);
      if (!mac) return Bad(absl::StrCat(Sv(key), " ", Quote(value), " is not a MAC address"));
      options.push_back(policy::NdOption{
          key == "tlla" ? policy::kNdOptTargetLla : policy::kNdOptSourceLla, 1, *mac});
      continue;
    }
    auto n = Number(value, 255);
    if (!n) return Bad(absl::StrCat(Sv(key), " ", Quote(value), " is not a number 0-255"));
    auto& slot = key == "type" ? type : key == "code" ? code : hlim;
    if (slot) return Bad(absl::StrCat(Sv(key), " given twice"));
    slot = *n;
  }
  if (code && !type) return Bad("code needs a type");
  if (type) packet.icmp_type = static_cast<uint8_t>(*type);
  if (code) packet.icmp_code = static_cast<uint8_t>(*code);
  const bool nd_given = target || hlim || !options.empty();
  if (nd_given && !packet.IsNd()) {
    return Bad("target, tlla, slla and hlim need icmpv6 type 135 (NS) or 136 (NA)");
  }
  if (packet.IsNd()) {
    // An NA announces its sender's own address unless told otherwise; an NS
    // asks about its destination.
    const policy::IpAddr t = target.value_or(
        packet.icmp_type == policy::kIcmp6NeighborAdvertisement ? packet.src_ip : packet.dst_ip);
    packet.nd_body = policy::NdBody(t, options, packet.icmp_type == 136 ? 0x20 : 0);
    if (hlim) packet.hop_limit = static_cast<uint8_t>(*hlim);
  }
  return packet;
}

std::string PacketToText(const policy::Packet& packet) {
  std::string proto;
  switch (packet.ip_proto) {
    case policy::kProtoTcp:
      proto = "tcp";
      break;
    case policy::kProtoUdp:
      proto = "udp";
      break;
    case policy::kProtoSctp:
      proto = "sctp";
      break;
    case policy::kProtoIcmp:
      proto = "icmp";
      break;
    case policy::kProtoIcmpv6:
      proto = "icmpv6";
      break;
    default:
      proto = absl::StrCat(packet.ip_proto);
  }
  bool ports = packet.HasPorts();
  auto endpoint = [&](const policy::IpAddr& ip, uint16_t port) {
    bool v6 = ip.family == policy::IpFamily::kV6;
    if (!ports) return ip.ToString();
    return v6 ? absl::StrCat("[", ip.ToString(), "]:", port)
              : absl::StrCat(ip.ToString(), ":", port);
  };
  std::string out = absl::StrCat(proto, " ", endpoint(packet.src_ip, packet.src_port), " -> ",
                                 endpoint(packet.dst_ip, packet.dst_port));
  if (packet.IsIcmp())
    absl::StrAppend(&out, " type ", packet.icmp_type, " code ", packet.icmp_code);
  if (packet.IsNd() && packet.nd_body.size() >= policy::kNdFixedBytes) {
    policy::IpAddr target;
    target.family = policy::IpFamily::kV6;
    std::copy(packet.nd_body.begin() + 4, packet.nd_body.begin() + 20, target.bytes.begin());
    absl::StrAppend(&out, " target ", target.ToString());
    for (size_t at = policy::kNdFixedBytes; at + 8 <= packet.nd_body.size();) {
      const uint8_t opt = packet.nd_body[at], len = packet.nd_body[at + 1];
      if (len == 0) break;
      if (opt == policy::kNdOptSourceLla || opt == policy::kNdOptTargetLla) {
        policy::MacAddr mac;
        std::copy(packet.nd_body.begin() + at + 2, packet.nd_body.begin() + at + 8,
                  mac.bytes.begin());
        absl::StrAppend(&out, opt == policy::kNdOptSourceLla ? " slla " : " tlla ", mac.ToString());
      }
      at += size_t{len} * 8;
    }
    if (packet.hop_limit != 255) absl::StrAppend(&out, " hlim ", packet.hop_limit);
  }
  return out;
}

}  // namespace vfguard::agent
