// Internal to the compiler: the pieces of the pipeline, each a function of
// the snapshot (see docs/pipeline.md for the chain layout).
#ifndef VFGUARD_POLICY_COMPILE_PARTS_H_
#define VFGUARD_POLICY_COMPILE_PARTS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "policy/compiler.h"
#include "policy/interner.h"
#include "policy/ir.h"
#include "policy/model.h"
#include "policy/slots.h"

namespace vfguard::policy {

// One flower match of a rule's expansion (port-range masks x remote
// addresses; compile_rules.cc).
struct RuleMatch {
  FlowerMatch match;
  std::string note;     // what tells the expansions of one rule apart
  uint32_t handle = 0;  // 0: numbered in order; else stable (set-valued remotes)
};

// What every port whose groups hold a rule compiles alike from it.
struct RuleExpansion {
  std::vector<RuleMatch> matches;
  std::string origin_tail;  // the origin after the port: "sg web rule 3 allow ..."
  // Per match, interned with the context's interner: the match, and the
  // origin after the owner ("ingress sg web rule 3 allow ... [note]"), made
  // once for every port with the rule.
  std::vector<Shared<FlowerMatch>> shared_matches;
  std::vector<SharedText> tails;
};

// Indexes derived once per snapshot.
struct CompileContext {
  CompileContext(const Snapshot& s, const SlotAssignment& sl, CompileOptions o = {},
                 Interner* in = nullptr);
  const Snapshot& snap;
  const SlotAssignment& slots;
  const CompileOptions options;
  // The interner every filter's match, actions and origin are made with
  // (ChainBuilder's, and Match/Actions/OriginOf for a filter built apart:
  // the compile does not intern them again); set by the context a compile
  // runs with, which uses it from one thread. Null in a context that builds
  // no filters (the set prefixes of an assembled pipeline).
  Interner* const interner;
  // The ports of a network (any state), sorted by id. Indexed on first use.
  const std::vector<const Port*>& PortsOf(const std::string& network_id) const;
  // Addresses of the members of a group, local and remote, aggregated
  // (policy/prefix_set.h); computed on first use so that an incremental
  // update pays only for what it compiles.
  const std::vector<IpPrefix>& GroupMemberPrefixes(const std::string& group_id) const;
  // The CIDRs of an address group, aggregated.
  const std::vector<IpPrefix>& AddressGroupPrefixes(const std::string& address_group_id) const;
  // The prefixes of a set named as in SetMatch::set, as given (members'
  // addresses, an address group's CIDRs; sorted, duplicates dropped), not
  // aggregated: in an LPM map a member change is then one entry.
  std::vector<IpPrefix> SetPrefixes(const std::string& set) const;
  // compile_rules.cc's memo, by rule (of this snapshot) and direction.
  mutable std::map<std::pair<const SecurityGroupRule*, Direction>, RuleExpansion> rule_expansions;

 private:
  mutable std::map<std::string, std::vector<IpPrefix>> group_member_prefixes_;
  mutable std::map<std::string, std::vector<IpPrefix>> address_group_prefixes_;
  mutable std::optional<std::map<std::string, std::vector<const Port*>>> ports_by_network_;
};

// Chains of one port: from, egress, egress rules, post, to, ingress rules.
absl::Status CompilePortChains(const CompileContext& ctx, const Port& port,
                               std::vector<Filter>& out);
// The rules chain of port `x` in direction `d` (docs/semantics.md §7):
// `pass` continues the frame (goto post / redirect), preceded by
// `ct commit zone` for stateful groups.
absl::Status CompileRuleChain(const CompileContext& ctx, const Port& x, Direction d, uint32_t chain,
                              bool stateful, uint16_t zone, const std::vector<Action>& pass,
                              std::vector<Filter>& out);
// The network's flood list: a mirror to every active port, then (frames from
// ports) the uplink. Split horizon and admission are in each port's egress hook.
absl::Status CompileNetworkFlood(const CompileContext& ctx, const Network& net,
                                 std::vector<Filter>& out);
// The port's egress hook: unicast passes; flooded copies of its own frames
// are dropped (split horizon) and the rest admitted per frame class (§5).
absl::Status CompilePortEgressHook(const CompileContext& ctx, const Port& port,
                                   std::vector<Filter>& out);
// A network's forwarding chains and its flood list.
absl::Status CompileNetwork(const CompileContext& ctx, const Network& net,
                            std::vector<Filter>& out);
// Chain 0, prio 2 (after the hook prio): the port's entry (`indev` -> its from-chain), handle =
// its slot. Part of the port's part, so adding a port leaves the rest of
// chain 0 alone.
absl::Status CompilePortDispatch(const CompileContext& ctx, const Port& port,
                                 std::vector<Filter>& out);
// Chain 0 from prio 3: frames from the uplink by VLAN, and the final drop.
absl::Status CompileDispatch(const CompileContext& ctx, std::vector<Filter>& out);

}  // namespace vfguard::policy

#endif  // VFGUARD_POLICY_COMPILE_PARTS_H_
