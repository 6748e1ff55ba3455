// Builds the filters of one chain: assigns tc prios so that evaluation order
// follows the order of stages, and filters of one stage that share a mask
// shape share a prio (flower allows one mask per chain, prio and protocol).
#ifndef VFGUARD_POLICY_CHAIN_BUILDER_H_
#define VFGUARD_POLICY_CHAIN_BUILDER_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "policy/interner.h"
#include "policy/ir.h"

namespace vfguard::policy {

// Chain numbers derive from stable slots only (docs/pipeline.md).
struct Chains {
  static constexpr uint32_t kDispatch = 0;
  // Chain 0, prio 1 is left to the agent's hooks (the live-migration
  // activation BPF classifier, which only reports and continues).
  static constexpr uint16_t kHookPrio = 1;
  // Chain 0, prio 2: one `indev` filter per port, handle = port slot (in the
  // port's part); the uplink's filters follow from this prio on.
  static constexpr uint16_t kDispatchPortPrio = 2;
  static constexpr uint16_t kDispatchUplinkFirstPrio = 3;
  static uint32_t PortBase(uint32_t slot) { return slot << 4; }
  static uint32_t From(uint32_t slot) { return PortBase(slot) + 0; }
  static uint32_t Egress(uint32_t slot) { return PortBase(slot) + 1; }
  static uint32_t EgressRules(uint32_t slot) { return PortBase(slot) + 2; }
  static uint32_t Post(uint32_t slot) { return PortBase(slot) + 3; }
  static uint32_t To(uint32_t slot) { return PortBase(slot) + 5; }
  static uint32_t IngressRules(uint32_t slot) { return PortBase(slot) + 6; }
  // gact goto carries the chain in 28 bits (TC_ACT_EXT_VAL_MASK), so every
  // chain stays below 2^28: ports up to 2^24 + 15, networks from 2^27.
  static constexpr uint32_t kMaxGotoChain = (1u << 28) - 1;
  static uint32_t NetworkBase(uint32_t slot) { return (1u << 27) + (slot << 4); }
  static uint32_t ForwardFromPorts(uint32_t slot) { return NetworkBase(slot) + 0; }
  static uint32_t ForwardFromUplink(uint32_t slot) { return NetworkBase(slot) + 1; }
  // One flood list per network, for frames from its ports and the uplink.
  static uint32_t Flood(uint32_t slot) { return NetworkBase(slot) + 2; }
  // The flood list holds one filter per 31 port slots (at most 31 mirrors
  // and a `continue` per filter), at prio 2 + (slot - 1) / 31, so a port
  // joining changes one filter; the tail follows at these prios. Prio 1
  // stays free for the hardware's trap of the whole list (placement: a trap
  // cannot share a chunk's key, and the hardware never holds the copies).
  static constexpr uint32_t kFloodSlotsPerFilter = 31;
  static uint16_t FloodChunkPrio(uint32_t port_slot) {
    return static_cast<uint16_t>(2 + (port_slot - 1) / kFloodSlotsPerFilter);
  }
  static constexpr uint16_t kFloodFromUplinkPrio = 0xfffe;  // indev uplink: stop
  static constexpr uint16_t kFloodToUplinkPrio = 0xffff;    // from ports: to the uplink
  // The ND chain (docs/pipeline.md): NS/NA from ports with port security,
  // after their source checks. Prio 1: the ND check (cls_bpf), prio 2: one
  // `indev` filter per port (handle = slot) -> post(P), carrying the port's
  // ND map entry. Between the port chains (< 2^25) and the networks' (2^27..).
  static constexpr uint32_t kNd = 1u << 26;
  static constexpr uint16_t kNdCheckPrio = 1;
  static constexpr uint16_t kNdPortPrio = 2;
  // Pseudo-chain of a port's egress hook (kernel: chain 0 of the
  // representor's clsact egress): above kMaxGotoChain, so no goto can name
  // it and it cannot collide with a block chain.
  static uint32_t EgressHook(uint32_t slot) { return kMaxGotoChain + 1 + slot; }
  static bool IsEgressHook(uint32_t chain) { return chain > kMaxGotoChain; }
};

// Which keys a flower filter matches and with which masks (tc's mask of a
// (chain, prio, protocol)); set-match filters have none. Filters of one
// stage with equal shapes share a prio.
struct MaskShape {
  bool set_match = false;
  uint16_t protocol = 0;
  uint32_t present = 0;  // one bit per FlowerMatch key, in declaration order
  MacAddr macs[4] = {};  // masks: src, dst, arp sha, arp tha
  uint16_t ports[2] = {};
  uint16_t ct_state = 0;
  uint32_t ct_mark = 0;
  uint8_t prefix_family[4] = {};  // src ip, dst ip, arp sip, arp tip
  uint8_t prefix_length[4] = {};
  auto operator<=>(const MaskShape&) const = default;
};

class ChainBuilder {
 public:
  // Prios start at `first_prio`, so that parts compiled separately can share
  // a chain (chain 0: per-port dispatch entries at prio 1, the rest after).
  // Every filter's match, actions and origin are made by `interner` (the
  // compile interns nothing again, and equal matches are one pointer).
  ChainBuilder(Interner& interner, uint32_t chain, uint16_t first_prio = 1)
      : interner_(interner), chain_(chain), first_prio_(first_prio) {
    entries_.reserve(16);  // most chains hold fewer: one allocation
  }
  ChainBuilder(const ChainBuilder&) = delete;
  ChainBuilder& operator=(const ChainBuilder&) = delete;

  // Filters added after this call are evaluated after every earlier filter.
  void NextStage();
  // Adds a filter to the current stage. A filter whose protocol and match
  // equal an earlier one of the same stage is dropped (the first decides,
  // and the kernel refuses duplicate keys in one mask).
  //
  // `handle` 0 numbers the filters of a prio 1, 2, ... in the order added.
  // A nonzero handle (a slot) keeps a filter's identity when its neighbours
  // come and go, so one port more in a chain of many is one kernel add, not
  // a renumbering of the rest; all filters sharing a prio must then carry
  // distinct explicit handles (Finish fails otherwise).
  //
  // `origin` is the filter's whole origin text, or, after SetOriginHead,
  // what follows the head.
  void Add(uint16_t protocol, const FlowerMatch& match, absl::Span<const Action> actions,
           std::string_view origin, uint32_t handle = 0);
  // Origins of later Adds are `head` (the owner, "port p1: ", made by this
  // builder's interner) and then the text given, so that the owner is not
  // formatted into every filter's text only to be split off again.
  void SetOriginHead(SharedText head) { head_ = std::move(head); }
  // Later filters carry these rare fields (FilterRare; e.g. `egress_of`
  // for a hook's filters); their origin_head is not read.
  void SetRare(FilterRare rare) { rare_ = std::move(rare); }
  // The same with values made by this builder's interner (once, and shared
  // by the filters of many ports: nothing is copied or hashed here). They
  // must be that interner's: the duplicate check compares match addresses.
  void AddShared(uint16_t protocol, Shared<FlowerMatch> match, Shared<std::vector<Action>> actions,
                 Origin origin, uint32_t handle = 0);
  // Adds a kSetMatch filter (ir.h) to the current stage; the stage's
  // set-match filters of one protocol share a prio (cls_bpf has no masks),
  // and the prio before it is left free (for placement's hardware trap: tc
  // keeps one classifier kind per prio). Values as for AddShared.
  void AddSetMatch(uint16_t protocol, Shared<FlowerMatch> match, SetMatch set,
                   Shared<std::vector<Action>> actions, Origin origin);
  // Appends the chain's filters, with prios and handles, to `out`.
  absl::Status Finish(std::vector<Filter>& out);

 private:
  struct Entry {
    int stage = 0;
    MaskShape shape;
    uint32_t handle = 0;
    Filter filter;
  };
  // Adds a filter of interned values (`match` one of interner_'s: the
  // stage's duplicate check compares addresses); `set` for a set-match.
  void Push(uint16_t protocol, Shared<FlowerMatch> match, Shared<std::vector<Action>> actions,
            Origin origin, uint32_t handle, SetMatch* set);
  // Appends the filters of the stage entries_[begin, end) to `out`.
  absl::Status FinishStage(size_t begin, size_t end, uint32_t& prio, std::vector<Filter>& out);
  absl::Status FinishManyShapes(size_t begin, size_t end, uint32_t& prio, std::vector<Filter>& out);
  // Appends the entries `members` (of one stage and shape) at the next prio.
  absl::Status FinishPrio(const size_t* members, size_t count, uint32_t& prio,
                          std::vector<Filter>& out);
  // A stage's duplicate check, in O(1) per filter (dispatch and forwarding
  // stages hold one filter per port): matches are interned, so equal
  // matches are one address; a set-match filter's set is compared by value.
  struct StageKey {
    uint16_t protocol;
    const FlowerMatch* match;
    const SetMatch* set;  // null for flower filters
    friend bool operator==(const StageKey& a, const StageKey& b) {
      return a.protocol == b.protocol && a.match == b.match &&
             (a.set == b.set || (a.set != nullptr && b.set != nullptr && *a.set == *b.set));
    }
    template <typename H>
    friend H AbslHashValue(H h, const StageKey& k) {
      h = H::combine(std::move(h), k.protocol, k.match, k.set != nullptr);
      if (k.set != nullptr) h = H::combine(std::move(h), k.set->set, k.set->remote_is_src);
      return h;
    }
  };
  Interner& interner_;
  SharedText head_;  // SetOriginHead's; empty: Add splits its text
  FilterRare rare_;  // SetRare's
  uint32_t chain_;
  uint16_t first_prio_;
  int stage_ = 0;
  std::vector<Entry> entries_;
  absl::flat_hash_set<StageKey> stage_keys_;
  // FinishStage's scratch, kept across stages.
  std::vector<const MaskShape*> shapes_;
  std::vector<size_t> members_;
};

// Action shorthands.
Action Ok();
Action Drop();
Action Continue();
Action GotoChain(uint32_t chain);
Action Ct(uint16_t zone, bool commit);
Action Redirect(const DeviceRef& dev);
Action Mirror(const DeviceRef& dev);
Action VlanPush(uint16_t vid);
Action VlanPop();

Masked<MacAddr> ExactMac(const MacAddr& mac);
Masked<MacAddr> MulticastBit();
Masked<uint16_t> ExactPort(uint16_t port);

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_CHAIN_BUILDER_H_
