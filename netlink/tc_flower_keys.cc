#include "netlink/tc_flower_keys.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>

#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace vfguard::netlink::tc_flower {
namespace {

using tc_wire::AttrIndex;
using tc_wire::AttrWriter;

// Wire formats. Each maps a host value to its attribute payload and back.
template <typename T>
struct HostOrder {  // u8/u16/u32 in host order (nla_put_u*)
  using Value = T;
  static constexpr size_t kSize = sizeof(T);
  static void Store(T v, uint8_t* out) { std::memcpy(out, &v, sizeof(v)); }
  static T Load(const uint8_t* in) {
    T v;
    std::memcpy(&v, in, sizeof(v));
    return v;
  }
};
struct Be16 {  // __be16 (nla_put_be16): ethertypes and L4 ports
  using Value = uint16_t;
  static constexpr size_t kSize = 2;
  static void Store(uint16_t v, uint8_t* out) {
    uint16_t n = htons(v);
    std::memcpy(out, &n, 2);
  }
  static uint16_t Load(const uint8_t* in) {
    uint16_t n;
    std::memcpy(&n, in, 2);
    return ntohs(n);
  }
};
template <size_t N>
struct Bytes {  // addresses, already in network order
  using Value = std::array<uint8_t, N>;
  static constexpr size_t kSize = N;
  static void Store(const Value& v, uint8_t* out) { std::memcpy(out, v.data(), N); }
  static Value Load(const uint8_t* in) {
    Value v;
    std::memcpy(v.data(), in, N);
    return v;
  }
};

template <typename T>
struct IsMasked : std::false_type {};
template <typename T>
struct IsMasked<Masked<T>> : std::true_type {};

using Prerequisite = absl::Status (*)(const FlowerKeys&, absl::string_view field);

// One row per key: its attributes, how to move it, and what it depends on.
struct KeyRow {
  absl::string_view field;  // FlowerKeys member name, used in errors
  uint16_t value_attr;
  uint16_t mask_attr;  // TCA_FLOWER_UNSPEC: the key has no mask attribute
  Prerequisite prerequisite;
  bool (*is_set)(const FlowerKeys&);
  bool (*has_zero_mask)(const FlowerKeys&);
  void (*encode)(const KeyRow&, const FlowerKeys&, AttrWriter&);
  absl::Status (*decode)(const KeyRow&, const AttrIndex&, FlowerKeys&);
};

template <auto kMember, typename Wire>
struct FieldCodec {
  using Stored =
      typename std::remove_reference_t<decltype(std::declval<FlowerKeys&>().*kMember)>::value_type;
  static constexpr bool kMasked = IsMasked<Stored>::value;

  static bool IsSet(const FlowerKeys& keys) { return (keys.*kMember).has_value(); }
  static bool HasZeroMask(const FlowerKeys& keys) {
    if constexpr (kMasked) {
      return IsSet(keys) && (keys.*kMember)->mask == decltype((keys.*kMember)->mask){};
    } else {
      return false;
    }
  }

  static void Encode(const KeyRow& row, const FlowerKeys& keys, AttrWriter& w) {
    const Stored& stored = *(keys.*kMember);
    uint8_t buf[Wire::kSize];
    if constexpr (kMasked) {
      Wire::Store(stored.value, buf);
      w.Put(row.value_attr, buf, Wire::kSize);
      Wire::Store(stored.mask, buf);
      w.Put(row.mask_attr, buf, Wire::kSize);
    } else {
      Wire::Store(stored, buf);
      w.Put(row.value_attr, buf, Wire::kSize);
    }
  }

  static absl::Status Decode(const KeyRow& row, const AttrIndex& options, FlowerKeys& keys) {
    const nlattr* value_attr = options.Get(row.value_attr);
    if (value_attr == nullptr) return absl::OkStatus();
    uint8_t buf[Wire::kSize];
    if (absl::Status s = tc_wire::ReadExact(value_attr, buf, Wire::kSize, row.field); !s.ok()) {
      return s;
    }
    if constexpr (kMasked) {
      Stored masked = Exact(Wire::Load(buf));
      if (const nlattr* mask_attr = options.Get(row.mask_attr); mask_attr != nullptr) {
        std::string name = absl::StrCat(row.field, " mask");
        if (absl::Status s = tc_wire::ReadExact(mask_attr, buf, Wire::kSize, name); !s.ok()) {
          return s;
        }
        masked.mask = Wire::Load(buf);
      }
      keys.*kMember = masked;
    } else {
      keys.*kMember = Wire::Load(buf);
    }
    return absl::OkStatus();
  }
};

template <auto kMember, typename Wire>
constexpr KeyRow Row(absl::string_view field, uint16_t value_attr, uint16_t mask_attr,
                     Prerequisite prerequisite = nullptr) {
  using Codec = FieldCodec<kMember, Wire>;
  static_assert(std::is_same_v<typename Codec::Stored, typename Wire::Value> ||
                std::is_same_v<typename Codec::Stored, Masked<typename Wire::Value>>);
  return KeyRow{field,         value_attr,          mask_attr,      prerequisite,
                &Codec::IsSet, &Codec::HasZeroMask, &Codec::Encode, &Codec::Decode};
}

bool IndevIsSet(const FlowerKeys& keys) { return keys.indev.has_value(); }
bool NeverZeroMask(const FlowerKeys&) { return false; }
void EncodeIndev(const KeyRow& row, const FlowerKeys& keys, AttrWriter& w) {
  w.PutString(row.value_attr, *keys.indev);
}
absl::Status DecodeIndev(const KeyRow& row, const AttrIndex& options, FlowerKeys& keys) {
  const nlattr* attr = options.Get(row.value_attr);
  if (attr == nullptr) return absl::OkStatus();
  absl::StatusOr<std::string> name = tc_wire::ReadString(attr, row.field);
  if (!name.ok()) return name.status();
  keys.indev = *std::move(name);
  return absl::OkStatus();
}

absl::Status Missing(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, " requires ", what, " (the kernel ignores it otherwise)"));
}

bool IsVlanTpid(uint16_t eth_type) { return eth_type == ETH_P_8021Q || eth_type == ETH_P_8021AD; }

absl::Status NeedsVlanEthType(const FlowerKeys& k, absl::string_view field) {
  if (k.eth_type && IsVlanTpid(*k.eth_type)) return absl::OkStatus();
  return Missing(field, "eth_type 802.1Q or 802.1ad");
}
// The L3 protocol the kernel sees: the inner type for VLAN matches.
std::optional<uint16_t> L3Type(const FlowerKeys& k) {
  if (k.eth_type && IsVlanTpid(*k.eth_type)) return k.vlan_eth_type;
  return k.eth_type;
}
absl::Status NeedsIp(const FlowerKeys& k, absl::string_view field) {
  std::optional<uint16_t> l3 = L3Type(k);
  if (l3 == ETH_P_IP || l3 == ETH_P_IPV6) return absl::OkStatus();
  return Missing(field, "eth_type (or vlan_eth_type) IPv4 or IPv6");
}
template <uint16_t kL3, uint8_t kProto>
absl::Status NeedsL3AndProto(const FlowerKeys& k, absl::string_view field) {
  if (L3Type(k) == kL3 && k.ip_proto == kProto) return absl::OkStatus();
  return Missing(field, absl::StrCat("eth_type 0x", absl::Hex(kL3), " and ip_proto ", kProto));
}
template <uint8_t kProto>
absl::Status NeedsProto(const FlowerKeys& k, absl::string_view field) {
  if (k.ip_proto == kProto) return NeedsIp(k, field);
  return Missing(field, absl::StrCat("ip_proto ", kProto));
}
absl::Status NeedsArp(const FlowerKeys& k, absl::string_view field) {
  std::optional<uint16_t> l3 = L3Type(k);
  if (l3 == ETH_P_ARP || l3 == ETH_P_RARP) return absl::OkStatus();
  return Missing(field, "eth_type ARP or RARP");
}

using K = FlowerKeys;
using Mac = Bytes<6>;
using V4 = Bytes<4>;
using V6 = Bytes<16>;
using U8 = HostOrder<uint8_t>;
using U16 = HostOrder<uint16_t>;
using U32 = HostOrder<uint32_t>;
constexpr uint16_t kNoMask = TCA_FLOWER_UNSPEC;

// Encoding order is table order (the kernel accepts any order); it follows the
// kernel's own dump order so captured iproute2 requests can be replayed.
const KeyRow kKeyRows[] = {
    {"indev", TCA_FLOWER_INDEV, kNoMask, nullptr, &IndevIsSet, &NeverZeroMask, &EncodeIndev,
     &DecodeIndev},
    Row<&K::eth_dst, Mac>("eth_dst", TCA_FLOWER_KEY_ETH_DST, TCA_FLOWER_KEY_ETH_DST_MASK),
    Row<&K::eth_src, Mac>("eth_src", TCA_FLOWER_KEY_ETH_SRC, TCA_FLOWER_KEY_ETH_SRC_MASK),
    Row<&K::vlan_id, U16>("vlan_id", TCA_FLOWER_KEY_VLAN_ID, kNoMask, &NeedsVlanEthType),
    Row<&K::vlan_eth_type, Be16>("vlan_eth_type", TCA_FLOWER_KEY_VLAN_ETH_TYPE, kNoMask,
                                 &NeedsVlanEthType),
    Row<&K::ip_proto, U8>("ip_proto", TCA_FLOWER_KEY_IP_PROTO, kNoMask, &NeedsIp),
    Row<&K::ipv4_src, V4>("ipv4_src", TCA_FLOWER_KEY_IPV4_SRC, TCA_FLOWER_KEY_IPV4_SRC_MASK),
    Row<&K::ipv4_dst, V4>("ipv4_dst", TCA_FLOWER_KEY_IPV4_DST, TCA_FLOWER_KEY_IPV4_DST_MASK),
    Row<&K::ipv6_src, V6>("ipv6_src", TCA_FLOWER_KEY_IPV6_SRC, TCA_FLOWER_KEY_IPV6_SRC_MASK),
    Row<&K::ipv6_dst, V6>("ipv6_dst", TCA_FLOWER_KEY_IPV6_DST, TCA_FLOWER_KEY_IPV6_DST_MASK),
    Row<&K::tcp_src, Be16>("tcp_src", TCA_FLOWER_KEY_TCP_SRC, TCA_FLOWER_KEY_TCP_SRC_MASK,
                           &NeedsProto<IPPROTO_TCP>),
    Row<&K::tcp_dst, Be16>("tcp_dst", TCA_FLOWER_KEY_TCP_DST, TCA_FLOWER_KEY_TCP_DST_MASK,
                           &NeedsProto<IPPROTO_TCP>),
    Row<&K::udp_src, Be16>("udp_src", TCA_FLOWER_KEY_UDP_SRC, TCA_FLOWER_KEY_UDP_SRC_MASK,
                           &NeedsProto<IPPROTO_UDP>),
    Row<&K::udp_dst, Be16>("udp_dst", TCA_FLOWER_KEY_UDP_DST, TCA_FLOWER_KEY_UDP_DST_MASK,
                           &NeedsProto<IPPROTO_UDP>),
    Row<&K::sctp_src, Be16>("sctp_src", TCA_FLOWER_KEY_SCTP_SRC, TCA_FLOWER_KEY_SCTP_SRC_MASK,
                            &NeedsProto<IPPROTO_SCTP>),
    Row<&K::sctp_dst, Be16>("sctp_dst", TCA_FLOWER_KEY_SCTP_DST, TCA_FLOWER_KEY_SCTP_DST_MASK,
                            &NeedsProto<IPPROTO_SCTP>),
    Row<&K::icmpv4_type, U8>("icmpv4_type", TCA_FLOWER_KEY_ICMPV4_TYPE,
                             TCA_FLOWER_KEY_ICMPV4_TYPE_MASK,
                             &NeedsL3AndProto<ETH_P_IP, IPPROTO_ICMP>),
    Row<&K::icmpv4_code, U8>("icmpv4_code", TCA_FLOWER_KEY_ICMPV4_CODE,
                             TCA_FLOWER_KEY_ICMPV4_CODE_MASK,
                             &NeedsL3AndProto<ETH_P_IP, IPPROTO_ICMP>),
    Row<&K::icmpv6_type, U8>("icmpv6_type", TCA_FLOWER_KEY_ICMPV6_TYPE,
                             TCA_FLOWER_KEY_ICMPV6_TYPE_MASK,
                             &NeedsL3AndProto<ETH_P_IPV6, IPPROTO_ICMPV6>),
    Row<&K::icmpv6_code, U8>("icmpv6_code", TCA_FLOWER_KEY_ICMPV6_CODE,
                             TCA_FLOWER_KEY_ICMPV6_CODE_MASK,
                             &NeedsL3AndProto<ETH_P_IPV6, IPPROTO_ICMPV6>),
    Row<&K::arp_sip, V4>("arp_sip", TCA_FLOWER_KEY_ARP_SIP, TCA_FLOWER_KEY_ARP_SIP_MASK, &NeedsArp),
    Row<&K::arp_tip, V4>("arp_tip", TCA_FLOWER_KEY_ARP_TIP, TCA_FLOWER_KEY_ARP_TIP_MASK, &NeedsArp),
    Row<&K::arp_op, U8>("arp_op", TCA_FLOWER_KEY_ARP_OP, TCA_FLOWER_KEY_ARP_OP_MASK, &NeedsArp),
    Row<&K::arp_sha, Mac>("arp_sha", TCA_FLOWER_KEY_ARP_SHA, TCA_FLOWER_KEY_ARP_SHA_MASK,
                          &NeedsArp),
    Row<&K::arp_tha, Mac>("arp_tha", TCA_FLOWER_KEY_ARP_THA, TCA_FLOWER_KEY_ARP_THA_MASK,
                          &NeedsArp),
    Row<&K::ct_state, U16>("ct_state", TCA_FLOWER_KEY_CT_STATE, TCA_FLOWER_KEY_CT_STATE_MASK),
    Row<&K::ct_zone, U16>("ct_zone", TCA_FLOWER_KEY_CT_ZONE, TCA_FLOWER_KEY_CT_ZONE_MASK),
    Row<&K::ct_mark, U32>("ct_mark", TCA_FLOWER_KEY_CT_MARK, TCA_FLOWER_KEY_CT_MARK_MASK),
};

const KeyRow kTrailingKeyRows[] = {
    Row<&K::eth_type, Be16>("eth_type", TCA_FLOWER_KEY_ETH_TYPE, kNoMask),
};

}  // namespace

absl::Status ValidateKeys(const FlowerKeys& keys) {
  for (const KeyRow& row : kKeyRows) {
    if (row.prerequisite != nullptr && row.is_set(keys)) {
      if (absl::Status s = row.prerequisite(keys, row.field); !s.ok()) return s;
    }
    // The kernel drops such keys from its dumps, so they could never be
    // recognised as installed.
    if (row.has_zero_mask(keys)) {
      return absl::InvalidArgumentError(absl::StrCat(
          row.field, ": an all-zero mask matches everything; leave the key unset instead"));
    }
  }
  if (keys.indev && (keys.indev->empty() || keys.indev->size() >= 16)) {
    return absl::InvalidArgumentError("indev: device name must be 1..15 characters");
  }
  if (keys.vlan_id && *keys.vlan_id > 4095) {
    return absl::InvalidArgumentError(absl::StrCat("vlan_id: ", *keys.vlan_id, " exceeds 4095"));
  }
  if ((keys.ipv4_src || keys.ipv4_dst) && (keys.ipv6_src || keys.ipv6_dst)) {
    return absl::InvalidArgumentError("ipv6_src/ipv6_dst: cannot be combined with IPv4 keys");
  }
  return absl::OkStatus();
}

void EncodeKeys(const FlowerKeys& keys, AttrWriter& writer) {
  for (const KeyRow& row : kKeyRows) {
    if (row.is_set(keys)) row.encode(row, keys, writer);
  }
}

void EncodeTrailingKeys(const FlowerKeys& keys, AttrWriter& writer) {
  for (const KeyRow& row : kTrailingKeyRows) {
    if (row.is_set(keys)) row.encode(row, keys, writer);
  }
}

absl::Status DecodeKeys(const AttrIndex& options, FlowerKeys& keys) {
  for (absl::Span<const KeyRow> table :
       {absl::MakeConstSpan(kKeyRows), absl::MakeConstSpan(kTrailingKeyRows)}) {
    for (const KeyRow& row : table) {
      if (absl::Status s = row.decode(row, options, keys); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace vfguard::netlink::tc_flower
