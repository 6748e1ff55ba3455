#include "agent/write_order.h"

#include <map>
#include <set>
#include <utility>

namespace vfguard::agent {
namespace {

using Group = std::pair<netlink::FilterOwner, uint32_t>;  // owner, chain

std::optional<uint32_t> GotoOfControl(int32_t control) {
  const uint32_t c = static_cast<uint32_t>(control);
  constexpr uint32_t kOpcodeMask = 0xF0000000;
  if ((c & kOpcodeMask) != static_cast<uint32_t>(netlink::kTcActGotoChain)) return std::nullopt;
  return c & ~kOpcodeMask;
}

// Ready groups in the order they may go: deepest chain first for creates,
// chain 0 first for deletes; the owner breaks ties.
struct ReadyOrder {
  WriteKind kind;
  bool operator()(const Group& a, const Group& b) const {
    if (a.second != b.second) {
      return kind == WriteKind::kUpserts ? a.second > b.second : a.second < b.second;
    }
    return a.first < b.first;
  }
};

}  // namespace

std::optional<uint32_t> JumpTarget(const netlink::FlowerFilter& f) {
  std::optional<uint32_t> target;
  for (const netlink::TcAction& a : f.actions) {
    std::optional<uint32_t> t;
    if (const auto* g = std::get_if<netlink::GactAction>(&a.op)) {
      if (g->verdict == netlink::GactAction::Verdict::kGotoChain) t = g->chain;
    } else if (const auto* ct = std::get_if<netlink::CtAction>(&a.op)) {
      t = GotoOfControl(ct->control);
    } else if (const auto* v = std::get_if<netlink::VlanAction>(&a.op)) {
      t = GotoOfControl(v->control);
    } else if (const auto* m = std::get_if<netlink::MirredAction>(&a.op)) {
      if (m->control) t = GotoOfControl(*m->control);
    }
    if (t) target = t;
  }
  return target;
}

WriteOrder OrderWrites(const std::vector<JumpNode>& nodes, WriteKind kind) {
  std::map<Group, std::vector<size_t>> members;
  for (size_t i = 0; i < nodes.size(); ++i) {
    members[{nodes[i].key.owner, nodes[i].key.chain}].push_back(i);
  }
  // Edge a -> b: group a's writes go before group b's.
  std::map<Group, std::set<Group>> after;
  std::map<Group, int> blockers;
  for (const auto& [g, idx] : members) blockers[g] = 0;
  for (const JumpNode& n : nodes) {
    if (!n.target || *n.target == n.key.chain) continue;
    const Group from{n.key.owner, n.key.chain};
    const Group to{n.key.owner, *n.target};
    if (!members.contains(to)) continue;  // the target has nothing pending
    const auto [first, second] =
        kind == WriteKind::kUpserts ? std::pair{to, from} : std::pair{from, to};
    if (after[first].insert(second).second) ++blockers[second];
  }
  ReadyOrder cmp{kind};
  std::set<Group, ReadyOrder> ready(cmp);
  for (const auto& [g, n] : blockers) {
    if (n == 0) ready.insert(g);
  }
  std::vector<Group> sequence;
  while (!ready.empty()) {
    const Group g = *ready.begin();
    ready.erase(ready.begin());
    sequence.push_back(g);
    for (const Group& next : after[g]) {
      if (--blockers[next] == 0) ready.insert(next);
    }
  }
  WriteOrder out;
  if (sequence.size() != members.size()) {
    out.cyclic = true;
    std::set<Group, ReadyOrder> all(cmp);
    for (const auto& [g, idx] : members) all.insert(g);
    sequence.assign(all.begin(), all.end());
  }
  out.order.reserve(nodes.size());
  for (const Group& g : sequence) {
    const std::vector<size_t>& idx = members.at(g);
    out.order.insert(out.order.end(), idx.begin(), idx.end());
  }
  return out;
}

}  // namespace vfguard::agent
