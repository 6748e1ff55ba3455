// Plain kernel-level tc objects: what the tc codec encodes and decodes.
//
// These mirror what the kernel's cls_flower and the gact/ct/mirred/vlan
// actions understand, in host byte order; the codec does all byte swapping.
// They know nothing about vfguard policy: offload/ translates the pipeline IR
// into these values.
#ifndef VFGUARD_NETLINK_TC_TYPES_H_
#define VFGUARD_NETLINK_TC_TYPES_H_

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace vfguard::netlink {

using MacAddr = std::array<uint8_t, 6>;
using Ipv4Addr = std::array<uint8_t, 4>;   // network order, as on the wire
using Ipv6Addr = std::array<uint8_t, 16>;  // network order, as on the wire

// A key value with its mask. Bits set in `mask` must match; an all-ones mask
// is an exact match (the kernel's default when no mask attribute is sent).
template <typename T>
struct Masked {
  T value{};
  T mask{};
  auto operator<=>(const Masked&) const = default;
};

template <typename T>
Masked<T> Exact(T value) {
  Masked<T> m{value, {}};
  if constexpr (std::is_integral_v<T>) {
    m.mask = static_cast<T>(~T{0});
  } else {
    m.mask.fill(0xff);
  }
  return m;
}

// Parent of the clsact ingress hook on a device: TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS).
inline constexpr uint32_t kClsactIngressParent = 0xFFFFFFF2;
inline constexpr uint32_t kClsactEgressParent = 0xFFFFFFF3;

// clsact on a device whose ingress hook is bound to a shared block.
struct ClsactQdisc {
  uint32_t ifindex = 0;
  uint32_t ingress_block = 0;  // 0: the device keeps a private ingress block
  auto operator<=>(const ClsactQdisc&) const = default;
};

// Where a filter lives: a shared block, or a device's clsact hook.
struct TcBlock {
  uint32_t index = 0;  // 1..
  auto operator<=>(const TcBlock&) const = default;
};
struct TcDevice {
  uint32_t ifindex = 0;
  uint32_t parent = kClsactIngressParent;
  auto operator<=>(const TcDevice&) const = default;
};
using FilterOwner = std::variant<TcBlock, TcDevice>;

// Flower match keys; an unset field is a wildcard. The kernel only accepts
// some keys under others (ports need ip_proto tcp/udp/sctp, ICMP needs eth_type
// IPv4/IPv6 and ip_proto icmp/icmpv6, ARP keys need eth_type ARP/RARP, VLAN
// keys need eth_type 802.1Q/802.1ad); a key sent without its prerequisite is
// silently ignored by the kernel, so the encoder rejects it instead. A masked
// key with an all-zero mask is rejected too: it is a wildcard the kernel
// leaves out of dumps.
struct FlowerKeys {
  std::optional<std::string> indev;  // ingress device name
  std::optional<Masked<MacAddr>> eth_dst;
  std::optional<Masked<MacAddr>> eth_src;
  std::optional<uint16_t> eth_type;       // outer ethertype; 0x8100 for VLAN matches
  std::optional<uint16_t> vlan_id;        // 0..4095
  std::optional<uint16_t> vlan_eth_type;  // ethertype inside the tag
  std::optional<uint8_t> ip_proto;
  std::optional<Masked<Ipv4Addr>> ipv4_src;
  std::optional<Masked<Ipv4Addr>> ipv4_dst;
  std::optional<Masked<Ipv6Addr>> ipv6_src;
  std::optional<Masked<Ipv6Addr>> ipv6_dst;
  std::optional<Masked<uint16_t>> tcp_src;
  std::optional<Masked<uint16_t>> tcp_dst;
  std::optional<Masked<uint16_t>> udp_src;
  std::optional<Masked<uint16_t>> udp_dst;
  std::optional<Masked<uint16_t>> sctp_src;
  std::optional<Masked<uint16_t>> sctp_dst;
  std::optional<Masked<uint8_t>> icmpv4_type;
  std::optional<Masked<uint8_t>> icmpv4_code;
  std::optional<Masked<uint8_t>> icmpv6_type;
  std::optional<Masked<uint8_t>> icmpv6_code;
  std::optional<Masked<uint8_t>> arp_op;  // flower's ARP opcode is 8 bits
  std::optional<Masked<Ipv4Addr>> arp_sip;
  std::optional<Masked<Ipv4Addr>> arp_tip;
  std::optional<Masked<MacAddr>> arp_sha;
  std::optional<Masked<MacAddr>> arp_tha;
  std::optional<Masked<uint16_t>> ct_state;  // TCA_FLOWER_KEY_CT_FLAGS_* bits
  std::optional<Masked<uint16_t>> ct_zone;
  std::optional<Masked<uint32_t>> ct_mark;
  auto operator<=>(const FlowerKeys&) const = default;
};

// Control verdicts (TC_ACT_*) as the kernel encodes them in tc_gen.action.
inline constexpr int32_t kTcActOk = 0;
inline constexpr int32_t kTcActShot = 2;
inline constexpr int32_t kTcActPipe = 3;
inline constexpr int32_t kTcActStolen = 4;
inline constexpr int32_t kTcActTrap = 8;
inline constexpr int32_t kTcActUnspec = -1;             // "continue"
inline constexpr int32_t kTcActGotoChain = 0x20000000;  // | chain (28 bits)

// Per-action counters and timing, reported by dumps only.
struct ActionStats {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t hw_packets = 0;  // share of the above counted by hardware
  uint64_t hw_bytes = 0;
  std::optional<uint64_t> idle_ms;  // time since last use (tcf_t.lastuse)
  auto operator<=>(const ActionStats&) const = default;
};

struct GactAction {
  enum class Verdict : uint8_t { kOk, kDrop, kPipe, kContinue, kTrap, kGotoChain };
  Verdict verdict = Verdict::kOk;
  uint32_t chain = 0;  // kGotoChain only
  auto operator<=>(const GactAction&) const = default;
};

struct CtAction {
  uint16_t zone = 0;
  bool commit = false;
  bool clear = false;            // ct clear: zone and commit must be unset
  int32_t control = kTcActPipe;  // verdict after the ct step
  auto operator<=>(const CtAction&) const = default;
};

struct MirredAction {
  enum class Mode : uint8_t { kRedirect, kMirror };  // egress only
  Mode mode = Mode::kRedirect;
  uint32_t ifindex = 0;
  // Verdict after mirred; the kernel convention is stolen for redirect, pipe
  // for mirror. Unset means that convention.
  std::optional<int32_t> control;
  auto operator<=>(const MirredAction&) const = default;
};

struct VlanAction {
  enum class Op : uint8_t { kPush, kPop };
  Op op = Op::kPush;
  uint16_t vlan_id = 0;        // kPush
  uint16_t protocol = 0x8100;  // kPush: TPID (802.1Q or 802.1ad)
  int32_t control = kTcActPipe;
  auto operator<=>(const VlanAction&) const = default;
};

struct TcAction {
  std::variant<GactAction, CtAction, MirredAction, VlanAction> op;
  ActionStats stats;  // decoded only; ignored by the encoder
  auto operator<=>(const TcAction&) const = default;
};

// Filter state the kernel reports; decoded only, ignored by the encoder.
struct FilterStatus {
  bool in_hw = false;
  bool not_in_hw = false;
  uint32_t in_hw_count = 0;
  // From the first action, which every matching packet passes through.
  uint64_t packets = 0;
  uint64_t bytes = 0;
  std::optional<uint64_t> idle_ms;
  auto operator<=>(const FilterStatus&) const = default;
};

struct FlowerFilter {
  FilterOwner owner = TcBlock{};
  uint32_t chain = 0;
  uint16_t prio = 0;           // 1..65535; 0 lets the kernel pick (adds only)
  uint32_t handle = 0;         // 0 lets the kernel pick (adds only)
  uint16_t protocol = 0x0003;  // ETH_P_ALL by default; host order
  FlowerKeys keys;
  bool skip_hw = false;
  bool skip_sw = false;
  std::vector<TcAction> actions;  // 0..32, in execution order
  FilterStatus status;
  auto operator<=>(const FlowerFilter&) const = default;
};

// The layout of `keys`: which keys are present and under which masks, with
// every value cleared (a present unmasked key keeps a default value). flower
// cannot change an existing filter's layout: a replace with another one is
// EINVAL, so a caller must delete and create instead.
FlowerKeys KeyLayout(FlowerKeys keys);

// Copies of `f` without decoded-only state (status and action stats), for
// comparing what the kernel holds with what was asked for.
FlowerFilter WithoutStatus(FlowerFilter f);

std::string DebugString(const FlowerKeys& keys);
std::string DebugString(const TcAction& action);
std::string DebugString(const FlowerFilter& filter);

}  // namespace vfguard::netlink

#endif  // VFGUARD_NETLINK_TC_TYPES_H_
