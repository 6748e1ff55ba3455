// Pipeline IR: the tc objects vfguard wants in the kernel, as plain values.
//
// The IR is what the compiler produces from a Snapshot, what the simulator
// runs, what placement splits into hardware and slow path, and what offload/
// translates into netlink tc objects. It knows tc semantics (chains, prios,
// one mask per (chain, prio, protocol)), but nothing about netlink encoding.
//
// Filters live in one shared ingress block bound (clsact ingress_block) to
// the uplink and every representor, except a port's egress hook: the few
// filters on its representor's clsact egress (FilterRare::egress_of), which see
// every frame sent to the port with `indev` = the device the frame entered
// the eswitch on (act_mirred sets skb_iif), so one flood list per network
// can keep split horizon and per-recipient admission. Devices are named
// abstractly (uplink or a port's representor); offload/ resolves them.
#ifndef VFGUARD_POLICY_IR_H_
#define VFGUARD_POLICY_IR_H_

#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "policy/addr.h"
#include "policy/origin.h"
#include "policy/shared.h"

namespace vfguard::policy {

// Ethernet protocol numbers (host order) the IR uses.
inline constexpr uint16_t kEthAll = 0x0003;  // ETH_P_ALL: filter matches any protocol
inline constexpr uint16_t kEthIPv4 = 0x0800;
inline constexpr uint16_t kEthArp = 0x0806;
inline constexpr uint16_t kEthRarp = 0x8035;
inline constexpr uint16_t kEth8021Q = 0x8100;
inline constexpr uint16_t kEthIPv6 = 0x86dd;

// Conntrack state bits as flower's TCA_FLOWER_KEY_CT_FLAGS_*.
inline constexpr uint16_t kCtNew = 1 << 0;
inline constexpr uint16_t kCtEstablished = 1 << 1;
inline constexpr uint16_t kCtRelated = 1 << 2;
inline constexpr uint16_t kCtTracked = 1 << 3;
inline constexpr uint16_t kCtInvalid = 1 << 4;
inline constexpr uint16_t kCtReply = 1 << 5;

// tc allows at most this many actions on one filter (TCA_ACT_MAX_PRIO).
inline constexpr size_t kMaxActionsPerFilter = 32;

// A device, named abstractly. The port id is a shared string (policy/
// shared.h): the interner gives every reference to one port the same copy,
// so a DeviceRef is two words wherever it sits (a match's indev, a mirred
// action, an egress hook). It compares and hashes as the id's text.
struct DeviceRef {
  enum class Kind : uint8_t { kUplink, kPort };
  Kind kind = Kind::kUplink;
  Shared<std::string> port_id;  // set when kind == kPort

  static DeviceRef Uplink() { return DeviceRef{}; }
  static DeviceRef OfPort(std::string id) { return DeviceRef{Kind::kPort, std::move(id)}; }
  std::string ToString() const;  // "uplink" or "port:<id>"
  auto operator<=>(const DeviceRef&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const DeviceRef& d) {
    return H::combine(std::move(h), d.kind, *d.port_id);
  }
};

// absl::Hash of a std::optional (absl hashes only its own optional here).
template <typename T>
struct HashedOptional {
  const std::optional<T>& v;
  template <typename H>
  friend H AbslHashValue(H h, const HashedOptional& o) {
    if (!o.v) return H::combine(std::move(h), false);
    return H::combine(std::move(h), true, *o.v);
  }
};
template <typename T>
HashedOptional<T> HashOf(const std::optional<T>& v) {
  return HashedOptional<T>{v};
}

template <typename T>
struct Masked {
  T value{};
  T mask{};
  auto operator<=>(const Masked&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const Masked& m) {
    return H::combine(std::move(h), m.value, m.mask);
  }
};

// A flower match. Unset fields are wildcards. IP prefixes carry their mask as
// the prefix length; other masked fields carry an explicit mask.
struct FlowerMatch {
  std::optional<DeviceRef> indev;
  std::optional<Masked<MacAddr>> src_mac;
  std::optional<Masked<MacAddr>> dst_mac;
  std::optional<uint16_t> vlan_id;        // only with filter protocol kEth8021Q
  std::optional<uint16_t> vlan_eth_type;  // inner protocol of a tagged frame
  std::optional<uint16_t> eth_type;       // flower eth_type key (untagged frames)
  std::optional<IpPrefix> src_ip;
  std::optional<IpPrefix> dst_ip;
  std::optional<uint8_t> ip_proto;
  std::optional<Masked<uint16_t>> src_port;  // tcp/udp/sctp
  std::optional<Masked<uint16_t>> dst_port;
  std::optional<uint8_t> icmp_type;  // icmp or icmpv6 by eth_type
  std::optional<uint8_t> icmp_code;
  std::optional<uint16_t> arp_op;
  std::optional<IpPrefix> arp_sip;
  std::optional<IpPrefix> arp_tip;
  std::optional<Masked<MacAddr>> arp_sha;
  std::optional<Masked<MacAddr>> arp_tha;
  std::optional<Masked<uint16_t>> ct_state;
  std::optional<uint16_t> ct_zone;
  std::optional<Masked<uint32_t>> ct_mark;
  auto operator<=>(const FlowerMatch&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const FlowerMatch& m) {
    return H::combine(std::move(h), HashOf(m.indev), HashOf(m.src_mac), HashOf(m.dst_mac),
                      HashOf(m.vlan_id), HashOf(m.vlan_eth_type), HashOf(m.eth_type),
                      HashOf(m.src_ip), HashOf(m.dst_ip), HashOf(m.ip_proto), HashOf(m.src_port),
                      HashOf(m.dst_port), HashOf(m.icmp_type), HashOf(m.icmp_code),
                      HashOf(m.arp_op), HashOf(m.arp_sip), HashOf(m.arp_tip), HashOf(m.arp_sha),
                      HashOf(m.arp_tha), HashOf(m.ct_state), HashOf(m.ct_zone), HashOf(m.ct_mark));
  }
};

struct Action {
  enum class Kind : uint8_t {
    kOk,              // gact ok: accept, stop classification
    kDrop,            // gact drop
    kPipe,            // gact pipe: next action of this filter
    kContinue,        // gact continue: next filter
    kTrap,            // gact trap: hardware hands the packet to the slow path
    kGoto,            // gact goto chain `chain`
    kCt,              // ct zone `zone` [commit] / ct clear
    kMirredRedirect,  // mirred egress redirect to `device`
    kMirredMirror,    // mirred egress mirror to `device`
    kVlanPush,        // vlan push id `vlan_id` (802.1Q)
    kVlanPop,
  };
  // Laid out small (32 bytes); compared in the order kind, chain, zone,
  // commit, clear, device, vlan_id.
  Kind kind = Kind::kOk;
  bool commit = false;   // kCt
  bool clear = false;    // kCt: ct clear (zone/commit unused)
  uint16_t zone = 0;     // kCt
  uint16_t vlan_id = 0;  // kVlanPush
  uint32_t chain = 0;    // kGoto
  DeviceRef device;      // kMirred*

  std::string ToString() const;
  friend std::strong_ordering operator<=>(const Action& a, const Action& b) {
    return std::tie(a.kind, a.chain, a.zone, a.commit, a.clear, a.device, a.vlan_id) <=>
           std::tie(b.kind, b.chain, b.zone, b.commit, b.clear, b.device, b.vlan_id);
  }
  friend bool operator==(const Action& a, const Action& b) {
    return a.kind == b.kind && a.chain == b.chain && a.zone == b.zone && a.commit == b.commit &&
           a.clear == b.clear && a.vlan_id == b.vlan_id && a.device == b.device;
  }
  template <typename H>
  friend H AbslHashValue(H h, const Action& a) {
    return H::combine(std::move(h), a.kind, a.chain, a.zone, a.commit, a.clear, a.device,
                      a.vlan_id);
  }
};

// One (MAC, IPv6 prefix) pair of allowed(P, M): an element of the ND check's
// per-port map entry (docs/semantics.md §3.3).
struct NdAllowed {
  MacAddr mac;
  IpPrefix prefix;
  auto operator<=>(const NdAllowed&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const NdAllowed& a) {
    return H::combine(std::move(h), a.mac, a.prefix);
  }
};

// Which classifier runs a filter. kNdCheck is a cls_bpf direct-action filter
// running the ND check program (offload/bpf/nd_check.bpf.c): for an ICMPv6
// NS/NA it reads the map entry of the frame's input port (keyed by the
// representor's ifindex), drops a bad or malformed message (TC_ACT_SHOT) and
// otherwise continues with the next filter (TC_ACT_UNSPEC); a frame of a port
// without an entry is dropped (fail closed). Its `match` documents what
// reaches it (protocol ipv6, ip_proto icmpv6); `actions` is {continue}, the
// good case. The map's contents are the `nd_allowed` of the ND chain's
// per-port filters, not part of the filter: changing them writes the map,
// never the filter or the program.
//
// kSetMatch is a cls_bpf filter in classifier mode running the set-match
// program (offload/bpf/set_match.bpf.c; docs/performance.md, "Remote
// groups") for a rule whose remote is a set: it matches when the frame has
// the filter's `protocol` and the L4 keys of its `match` (ip_proto, dst_port
// under its mask, icmp type/code; nothing else is set there) and its remote
// address (`set_match`) is in the set's prefixes (Pipeline::sets); then its
// `actions` run, else the next filter is tried. Emitted only with
// CompileOptions::set_lookups (policy/compiler.h).
enum class Classifier : uint8_t { kFlower, kNdCheck, kSetMatch };

// The set of a kSetMatch filter: "group:<id>" (a remote group's member
// addresses) or "address-group:<id>", and which address is looked up.
struct SetMatch {
  std::string set;
  bool remote_is_src = true;  // ingress rules: the source; egress: the destination
  auto operator<=>(const SetMatch&) const = default;
};

// A filter's context: the head of its origin and the fields nearly every
// filter leaves empty, held by a Filter as one shared pointer (Filter::rare)
// so that they cost a filter 8 bytes. The head is the owner ("port p1: "),
// the same for all of a part's filters; the other fields, when set, are
// mostly per port too. So the interner shares one value among a port's
// filters (a few: its plain filters, its egress hook's, its ND entry's).
struct FilterRare {
  // What precedes the filter's own origin text (Filter::origin()), e.g.
  // "port p1: "; empty when the filter has no owner.
  SharedText origin_head;
  // Set: the filter sits on this port's representor's clsact egress hook
  // (kernel chain 0), and `chain` is that hook's pseudo-chain number
  // (Chains::EgressHook, above every chain a goto can name), which keeps
  // Key() unique across the block and all hooks. Unset: the shared block.
  std::optional<DeviceRef> egress_of;
  // Only on the ND chain's per-port filters (`indev` = the port): the port's
  // entry in the ND check's map, allowed(P, M) for IPv6 with every MAC M.
  // Not sent to the kernel as a filter; the agent writes it to the map.
  std::vector<NdAllowed> nd_allowed;
  // Only on kSetMatch filters.
  std::optional<SetMatch> set_match;

  // Whether the fields besides the origin head are equal.
  bool SameFields(const FilterRare& o) const {
    return egress_of == o.egress_of && nd_allowed == o.nd_allowed && set_match == o.set_match;
  }
  bool operator==(const FilterRare&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const FilterRare& r) {
    h = H::combine(std::move(h), *r.origin_head, HashOf(r.egress_of), r.nd_allowed);
    if (!r.set_match) return H::combine(std::move(h), false);
    return H::combine(std::move(h), true, r.set_match->set, r.set_match->remote_is_src);
  }
};

class Interner;

// One flower filter in the shared block. (chain, prio, handle) identifies it;
// all filters at one (chain, prio) share `protocol` and the set of present
// match fields and masks (tc's one-mask-per-prio rule). 48 bytes: one is
// kept per installed filter, the values it points to are shared.
struct Filter {
  uint32_t chain = 0;
  uint32_t handle = 0;          // 1.., unique within (chain, prio)
  uint16_t prio = 0;            // 1..65535, smaller first
  uint16_t protocol = kEthAll;  // filter protocol (tcm_info)
  Classifier classifier = Classifier::kFlower;
  // The match and actions are shared, immutable values (policy/shared.h):
  // read them as `f.match->src_ip`, `for (const Action& a : f.actions)`;
  // change them with `f.match.Mutable()` or by assigning a new value. The
  // compiler interns them (policy/interner.h), so the filters of a group's
  // rule on every port hold one copy.
  Shared<FlowerMatch> match;
  Shared<std::vector<Action>> actions;  // 1..kMaxActionsPerFilter

  // Why this filter exists, e.g. "port p1: egress sg web rule 3 (allow tcp
  // 80)". Shown by trace and rules listings; not sent to the kernel. Its
  // head is held in `rare()` (shared by the owner's filters), its tail here.
  Origin origin() const { return Origin(rare_->origin_head, origin_tail_); }
  // Sets the origin: the tail here, the head in this filter's own copy of
  // the context unless it holds that head already. The compiler sets
  // origins with Interner::SetOrigin instead, which shares the context.
  void SetOrigin(const Origin& origin);
  // The context: read as `f.rare()->egress_of`; change as
  // `f.MutableRare().nd_allowed = ...` (a copy of this filter's own).
  const Shared<FilterRare>& rare() const { return rare_; }
  FilterRare& MutableRare() { return rare_.Mutable(); }

  std::tuple<uint32_t, uint16_t, uint32_t> Key() const { return {chain, prio, handle}; }

  // Ordered by (egress_of, chain, prio, handle, protocol, match, actions,
  // origin, classifier, nd_allowed, set_match), as when each was a member;
  // the origin compares as its text, however it is split.
  friend std::strong_ordering operator<=>(const Filter& a, const Filter& b);
  friend bool operator==(const Filter& a, const Filter& b);

 private:
  friend class Interner;  // sets both parts of an origin, with its values

  SharedText origin_tail_;
  Shared<FilterRare> rare_;
};
static_assert(sizeof(Filter) <= 48, "one Filter is kept per installed filter");

inline std::strong_ordering operator<=>(const Filter& a, const Filter& b) {
  const FilterRare& x = *a.rare_;
  const FilterRare& y = *b.rare_;
  if (auto c = std::tie(x.egress_of, a.chain, a.prio, a.handle, a.protocol, a.match, a.actions) <=>
               std::tie(y.egress_of, b.chain, b.prio, b.handle, b.protocol, b.match, b.actions);
      c != 0) {
    return c;
  }
  if (int c = Origin::Compare(x.origin_head, a.origin_tail_, y.origin_head, b.origin_tail_);
      c != 0) {
    return c <=> 0;
  }
  return std::tie(a.classifier, x.nd_allowed, x.set_match) <=>
         std::tie(b.classifier, y.nd_allowed, y.set_match);
}

inline bool operator==(const Filter& a, const Filter& b) {
  if (!(a.chain == b.chain && a.prio == b.prio && a.handle == b.handle &&
        a.protocol == b.protocol && a.classifier == b.classifier && a.match == b.match &&
        a.actions == b.actions)) {
    return false;
  }
  // One context: one head, so the origins are equal when the tails are.
  if (a.rare_.SameStorage(b.rare_)) return a.origin_tail_ == b.origin_tail_;
  return a.rare_->SameFields(*b.rare_) &&
         Origin::Compare(a.rare_->origin_head, a.origin_tail_, b.rare_->origin_head,
                         b.origin_tail_) == 0;
}

// The whole pipeline: filters sorted by (chain, prio, handle).
struct Pipeline {
  std::vector<Filter> filters;
  // The prefixes of every set a kSetMatch filter names (aggregated, both
  // families). Not filters: the agent writes them to the program's maps.
  std::map<std::string, std::vector<IpPrefix>> sets;
  auto operator<=>(const Pipeline&) const = default;
};

// A pipeline held elsewhere: pointers to its filters, in Pipeline order, and
// the owners (shared, immutable) that keep them alive as long as this, or
// anything it is moved or copied into, lives. What IncrementalCompiler
// hands out, so that placement refers to the compiler's filters.
struct SharedPipeline {
  std::vector<const Filter*> filters;
  std::vector<std::shared_ptr<const void>> owners;
  std::map<std::string, std::vector<IpPrefix>> sets;
};

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_IR_H_
