// Security-group rule chains (docs/semantics.md §7): the rules of all of a
// port's groups in one direction, merged and ordered by (priority, deny
// first), each rule one stage of the chain so that its expansion (port-range
// masks x remote addresses) keeps the rule's place in the order.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "policy/chain_builder.h"
#include "policy/compile_parts.h"
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

// One flower match per (destination-port mask, remote address) of a rule,
// each with the part of the origin that tells the expansions apart.
std::vector<std::pair<FlowerMatch, std::string>> RuleMatches(const CompileContext& ctx,
                                                             const SecurityGroupRule& r,
                                                             Direction d) {
  FlowerMatch base;
  if (r.protocol) base.ip_proto = *r.protocol;
  if (r.icmp) {
    base.icmp_type = r.icmp->type;
    if (r.icmp->code) base.icmp_code = *r.icmp->code;
  }
  std::vector<std::pair<FlowerMatch, std::string>> with_ports;
  if (r.ports) {
    std::vector<Masked<uint16_t>> masks = PortRangeToMasks(r.ports->min, r.ports->max);
    for (const Masked<uint16_t>& pm : masks) {
      FlowerMatch m = base;
      m.dst_port = pm;
      std::string note;
      if (masks.size() > 1)
        note = absl::StrCat(" [dport ", pm.value, "/0x", absl::Hex(pm.mask), "]");
      with_ports.emplace_back(m, note);
    }
  } else {
    with_ports.emplace_back(base, "");
  }
  if (!r.remote_prefix && !r.remote_group_id) return with_ports;
  std::vector<IpPrefix> remotes;
  if (r.remote_prefix) {
    remotes.push_back(*r.remote_prefix);
  } else {
    IpFamily family = r.ethertype == EtherType::kIPv4 ? IpFamily::kV4 : IpFamily::kV6;
    for (const IpPrefix& prefix : ctx.GroupMemberPrefixes(*r.remote_group_id)) {
      if (prefix.addr.family == family) remotes.push_back(prefix);
    }
  }
  std::vector<std::pair<FlowerMatch, std::string>> out;
  out.reserve(with_ports.size() * remotes.size());
  for (const auto& [m, note] : with_ports) {
    for (const IpPrefix& remote : remotes) {
      FlowerMatch rm = m;
      // A /0 remote matches every address of the family, which the filter
      // protocol already restricts to.
      if (remote.length > 0) (d == Direction::kIngress ? rm.src_ip : rm.dst_ip) = remote;
      std::string what = note;
      if (r.remote_group_id) absl::StrAppend(&what, " [member ", remote.ToString(), "]");
      out.emplace_back(rm, what);
    }
  }
  return out;
}

}  // namespace

absl::Status CompileRuleChain(const CompileContext& ctx, const Port& x, Direction d, uint32_t chain,
                              bool stateful, uint16_t zone, const std::vector<Action>& pass,
                              std::vector<Filter>& out) {
  const std::string who = absl::StrCat("port ", x.id, ": ", ToString(d), " ");
  ChainBuilder b(chain);
  if (stateful) {
    // Established in either direction (reply bit masked out).
    FlowerMatch est;
    est.ct_state = Masked<uint16_t>{kCtTracked | kCtEstablished, kCtTracked | kCtEstablished};
    b.Add(kEthAll, est, pass, absl::StrCat(who, "established connection in zone ", zone));
    b.NextStage();
  }
  std::vector<Action> allow = pass;
  if (stateful) allow.insert(allow.begin(), Ct(zone, /*commit=*/true));
  const std::vector<Action> deny = {Drop()};
  for (const RuleRef& ref : MergedRules(ctx, x, d)) {
    const SecurityGroupRule& r = *ref.rule;
    std::string origin =
        absl::StrCat(who, "sg ", *ref.group, " rule ", ref.index, " ", RuleSummary(r));
    const uint16_t protocol = r.ethertype == EtherType::kIPv4 ? kEthIPv4 : kEthIPv6;
    for (auto& [match, note] : RuleMatches(ctx, r, d)) {
      b.Add(protocol, std::move(match), r.action == RuleAction::kAllow ? allow : deny,
            origin + note);
    }
    b.NextStage();
  }
  b.Add(kEthAll, {}, {Drop()}, who + "no rule matched: drop");
  absl::Status st = b.Finish(out);
  if (!st.ok()) {
    // The chain number alone means nothing to an operator: name the port.
    return absl::Status(st.code(), absl::StrCat(who, "security group rules: ", st.message()));
  }
  return st;
}

}  // namespace vfguard::policy
