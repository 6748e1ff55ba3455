// Security-group rule chains (docs/semantics.md §7): the rules of all of a
// port's groups in one direction, merged and ordered by (priority, deny
// first), each rule one stage of the chain so that its expansion (port-range
// masks x remote addresses) keeps the rule's place in the order.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "policy/chain_builder.h"
#include "policy/compile_parts.h"
#include "policy/interner.h"
#include "policy/port_range_masks.h"

namespace vfguard::policy {
namespace {

// "allow IPv4 tcp dport 80-80 remote 10.0.0.0/8 priority 100": what a rule
// says, for origins (trace output and rule listings).
std::string RuleSummary(const SecurityGroupRule& r) {
  std::string s = absl::StrCat(ToString(r.action), " ", ToString(r.ethertype), " ",
                               r.protocol ? ProtocolName(*r.protocol) : std::string("any"));
  if (r.ports) absl::StrAppend(&s, " dport ", r.ports->min, "-", r.ports->max);
  if (r.icmp) {
    absl::StrAppend(&s, " type ", r.icmp->type);
    if (r.icmp->code) absl::StrAppend(&s, " code ", *r.icmp->code);
  }
  if (r.remote_prefix) absl::StrAppend(&s, " remote ", r.remote_prefix->ToString());
  if (r.remote_group_id) absl::StrAppend(&s, " remote group ", *r.remote_group_id);
  if (r.remote_address_group_id) {
    absl::StrAppend(&s, " remote address group ", *r.remote_address_group_id);
  }
  absl::StrAppend(&s, " priority ", r.priority);
  return s;
}

struct RuleRef {
  const SecurityGroupRule* rule;
  const std::string* group;
  size_t index;
};

// The rules of X's groups in direction `d`, in decision order: priority
// ascending, deny before allow; ties keep group order (sorted ids) and rule
// order, which cannot change a decision (equal rank means equal action).
std::vector<RuleRef> MergedRules(const CompileContext& ctx, const Port& x, Direction d) {
  std::vector<RuleRef> rules;
  for (const std::string& gid : x.security_group_ids) {
    const SecurityGroup& g = ctx.snap.security_groups.at(gid);
    for (size_t i = 0; i < g.rules.size(); ++i) {
      if (g.rules[i].direction == d) rules.push_back(RuleRef{&g.rules[i], &gid, i});
    }
  }
  std::stable_sort(rules.begin(), rules.end(), [](const RuleRef& a, const RuleRef& b) {
    auto rank = [](const RuleRef& r) {
      return std::make_pair(r.rule->priority, r.rule->action == RuleAction::kDeny ? 0 : 1);
    };
    return rank(a) < rank(b);
  });
  return rules;
}

// FNV-1a: a handle that depends only on what a filter matches, stable across
// runs and builds (absl::Hash is seeded per process).
uint32_t StableHash(const IpPrefix& remote, const std::optional<Masked<uint16_t>>& dport) {
  uint32_t h = 2166136261u;
  auto mix = [&h](uint8_t byte) { h = (h ^ byte) * 16777619u; };
  mix(static_cast<uint8_t>(remote.addr.family));
  for (uint8_t b : remote.addr.bytes) mix(b);
  mix(remote.length);
  if (dport) {
    for (uint16_t v : {dport->value, dport->mask}) {
      mix(static_cast<uint8_t>(v >> 8));
      mix(static_cast<uint8_t>(v));
    }
  }
  return h;
}

constexpr uint32_t kMaxHandle = (1u << 24) - 1;  // offload's kMaxIrHandle

// The remote prefixes of a rule: its prefix, or the aggregated members of its
// remote group or CIDRs of its address group, of the rule's family, longest
// first (so that a stage's mask shapes, and hence its prios, keep their order
// when members come and go).
std::vector<IpPrefix> RemotePrefixes(const CompileContext& ctx, const SecurityGroupRule& r) {
  if (r.remote_prefix) return {*r.remote_prefix};
  const std::vector<IpPrefix>& all = r.remote_group_id
                                         ? ctx.GroupMemberPrefixes(*r.remote_group_id)
                                         : ctx.AddressGroupPrefixes(*r.remote_address_group_id);
  IpFamily family = r.ethertype == EtherType::kIPv4 ? IpFamily::kV4 : IpFamily::kV6;
  std::vector<IpPrefix> out;
  for (const IpPrefix& prefix : all) {
    if (prefix.addr.family == family) out.push_back(prefix);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const IpPrefix& a, const IpPrefix& b) { return a.length > b.length; });
  return out;
}

// One flower match per destination-port mask of a rule (its L4 keys only).
std::vector<RuleMatch> PortMatches(const SecurityGroupRule& r) {
  FlowerMatch base;
  if (r.protocol) base.ip_proto = *r.protocol;
  if (r.icmp) {
    base.icmp_type = r.icmp->type;
    if (r.icmp->code) base.icmp_code = *r.icmp->code;
  }
  std::vector<RuleMatch> with_ports;
  if (r.ports) {
    std::vector<Masked<uint16_t>> masks = PortRangeToMasks(r.ports->min, r.ports->max);
    for (const Masked<uint16_t>& pm : masks) {
      RuleMatch m{base, ""};
      m.match.dst_port = pm;
      if (masks.size() > 1)
        m.note = absl::StrCat(" [dport ", pm.value, "/0x", absl::Hex(pm.mask), "]");
      with_ports.push_back(std::move(m));
    }
  } else {
    with_ports.push_back(RuleMatch{base, ""});
  }
  return with_ports;
}

// One flower match per (destination-port mask, remote prefix) of a rule.
// Set-valued remotes (groups, address groups) get handles from what each
// filter matches, so one member more or less is one filter added or removed
// in each referencing chain, not a renumbering (docs/performance.md).
std::vector<RuleMatch> RuleMatches(const CompileContext& ctx, const SecurityGroupRule& r,
                                   Direction d) {
  std::vector<RuleMatch> with_ports = PortMatches(r);
  if (!r.remote_prefix && !r.remote_group_id && !r.remote_address_group_id) return with_ports;
  const bool set_valued = !r.remote_prefix;
  std::vector<IpPrefix> remotes = RemotePrefixes(ctx, r);
  std::vector<RuleMatch> out;
  out.reserve(with_ports.size() * remotes.size());
  std::set<uint32_t> handles;
  for (const RuleMatch& m : with_ports) {
    for (const IpPrefix& remote : remotes) {
      RuleMatch rm = m;
      // A /0 remote matches every address of the family, which the filter
      // protocol already restricts to.
      if (remote.length > 0)
        (d == Direction::kIngress ? rm.match.src_ip : rm.match.dst_ip) = remote;
      if (set_valued) {
        absl::StrAppend(&rm.note, r.remote_group_id ? " [member " : " [cidr ", remote.ToString(),
                        "]");
        // IR handles are 24 bits (offload/tc_translate.h, kMaxIrHandle: the
        // bits above mark hardware and trap copies). Collisions (about 3% of rules with 1,000
        // members) probe to the next free value; handle 0 is not a handle.
        uint32_t h = StableHash(remote, m.match.dst_port) & kMaxHandle;
        while (h == 0 || !handles.insert(h).second) h = (h + 1) & kMaxHandle;
        rm.handle = h;
      }
      out.push_back(std::move(rm));
    }
  }
  return out;
}

// Whether rule `r` compiles to set-match filters: with set lookups, a
// set-valued remote is one set-match filter per port mask.
bool UsesSetMatch(const CompileContext& ctx, const SecurityGroupRule& r) {
  return ctx.options.set_lookups && (r.remote_group_id || r.remote_address_group_id);
}

// The set a set-match filter of rule `r` looks its remote up in.
SetMatch SetOf(const SecurityGroupRule& r, Direction d) {
  return SetMatch{r.remote_group_id ? "group:" + *r.remote_group_id
                                    : "address-group:" + *r.remote_address_group_id,
                  d == Direction::kIngress};
}

// The expansion of the rule `ref` in direction `d`, computed once per
// context: every port with the rule's group compiles the same matches.
const RuleExpansion& Expansion(const CompileContext& ctx, const RuleRef& ref, Direction d) {
  auto [it, inserted] = ctx.rule_expansions.try_emplace({ref.rule, d});
  if (!inserted) return it->second;
  const SecurityGroupRule& r = *ref.rule;
  RuleExpansion& e = it->second;
  e.origin_tail = absl::StrCat("sg ", *ref.group, " rule ", ref.index, " ", RuleSummary(r));
  // With set lookups a set-valued remote is one set-match filter per port mask.
  const bool set_match = UsesSetMatch(ctx, r);
  e.matches = set_match ? PortMatches(r) : RuleMatches(ctx, r, d);
  const std::string set_note = set_match ? absl::StrCat(" [set ", SetOf(r, d).set, "]") : "";
  e.shared_matches.reserve(e.matches.size());
  e.tails.reserve(e.matches.size());
  for (const RuleMatch& m : e.matches) {
    e.shared_matches.push_back(ctx.interner->Match(m.match));
    e.tails.push_back(
        ctx.interner->Text(absl::StrCat(ToString(d), " ", e.origin_tail, m.note, set_note)));
  }
  return e;
}

}  // namespace

absl::Status CompileRuleChain(const CompileContext& ctx, const Port& x, Direction d, uint32_t chain,
                              bool stateful, uint16_t zone, const std::vector<Action>& pass,
                              std::vector<Filter>& out) {
  Interner& in = *ctx.interner;
  const SharedText head = in.Text(absl::StrCat("port ", x.id, ": "));
  const std::string who = absl::StrCat(ToString(d), " ");  // after the head
  ChainBuilder b(in, chain);
  b.SetOriginHead(head);
  if (stateful) {
    // Established in either direction (reply bit masked out).
    FlowerMatch est;
    est.ct_state = Masked<uint16_t>{kCtTracked | kCtEstablished, kCtTracked | kCtEstablished};
    b.Add(kEthAll, est, pass, absl::StrCat(who, "established connection in zone ", zone));
    b.NextStage();
  }
  std::vector<Action> allow_list = pass;
  if (stateful) allow_list.insert(allow_list.begin(), Ct(zone, /*commit=*/true));
  // Made once per chain; each rule's filters then share them, its matches
  // and its origin tails (Expansion), and the port's origin head.
  const Shared<std::vector<Action>> allow = in.Actions(allow_list);
  const Shared<std::vector<Action>> deny = in.Actions({Drop()});
  for (const RuleRef& ref : MergedRules(ctx, x, d)) {
    const SecurityGroupRule& r = *ref.rule;
    const RuleExpansion& expansion = Expansion(ctx, ref, d);
    const uint16_t protocol = r.ethertype == EtherType::kIPv4 ? kEthIPv4 : kEthIPv6;
    const Shared<std::vector<Action>>& act = r.action == RuleAction::kAllow ? allow : deny;
    for (size_t i = 0; i < expansion.matches.size(); ++i) {
      const Origin origin(head, expansion.tails[i]);
      if (UsesSetMatch(ctx, r)) {
        // One set-match filter per destination-port mask; members live in
        // the program's maps (Pipeline::sets), not in filters.
        b.AddSetMatch(protocol, expansion.shared_matches[i], SetOf(r, d), act, origin);
      } else {
        b.AddShared(protocol, expansion.shared_matches[i], act, origin,
                    expansion.matches[i].handle);
      }
    }
    b.NextStage();
  }
  b.Add(kEthAll, {}, {Drop()}, who + "no rule matched: drop");
  absl::Status st = b.Finish(out);
  if (!st.ok()) {
    // The chain number alone means nothing to an operator: name the port.
    return absl::Status(
        st.code(), absl::StrCat(std::string(*head), who, "security group rules: ", st.message()));
  }
  return st;
}

}  // namespace vfguard::policy
