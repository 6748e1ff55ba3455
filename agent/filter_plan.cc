#include "agent/filter_plan.h"

#include <set>
#include <tuple>
#include <utility>

#include "agent/filter_hash.h"
#include "agent/write_order.h"

namespace vfguard::agent {
namespace {

using Prio = PrioKey;

PlannedWrite DeleteWrite(const FilterKey& key, uint16_t protocol) {
  return PlannedWrite{TcOp::Kind::kDeleteFilter, key, protocol, nullptr};
}

std::vector<PlannedWrite> Ordered(std::vector<PlannedWrite> ops, const std::vector<JumpNode>& nodes,
                                  WriteKind kind, bool& cyclic) {
  WriteOrder order = OrderWrites(nodes, kind);
  cyclic = cyclic || order.cyclic;
  std::vector<PlannedWrite> out;
  out.reserve(ops.size());
  for (size_t i : order.order) out.push_back(ops[i]);
  return out;
}

// Calls `visit` for each installed filter, in key order: all of them, or
// those of `scope`.
template <typename Visit>
void ForInstalled(const InstalledSet& have, const PlanScope* scope, const Visit& visit) {
  if (scope == nullptr) {
    for (const auto& f : have.filters()) visit(f.key(), f.entry());
    return;
  }
  for (const FilterKey& key : scope->keys) {
    if (const std::optional<InstalledEntry> entry = have.Find(key)) visit(key, *entry);
  }
}

}  // namespace

PrioKey PrioOf(const FilterKey& k) { return {k.owner, k.chain, k.prio}; }

TcOp DeleteOp(const FilterKey& key, uint16_t protocol) {
  TcOp op;
  op.kind = TcOp::Kind::kDeleteFilter;
  op.filter.owner = key.owner;
  op.filter.chain = key.chain;
  op.filter.prio = key.prio;
  op.filter.handle = key.handle;
  op.filter.protocol = protocol;
  return op;
}

FilterPlan PlanFilterWrites(WantedFilters& want, const InstalledSet& have, const PlanScope* scope) {
  std::map<Prio, std::set<uint64_t>> prio_shapes;
  if (scope != nullptr) prio_shapes = scope->kept_shapes;
  for (const auto& [key, w] : want) prio_shapes[PrioOf(key)].insert(w.entry.shape);
  std::map<Prio, std::vector<PlannedWrite>> early;  // reshape deletes, by the prio they empty
  std::set<FilterKey> emptied;
  std::vector<PlannedWrite> deletes;
  std::vector<JumpNode> delete_nodes;
  ForInstalled(have, scope, [&](const FilterKey& key, const InstalledEntry& entry) {
    auto ws = prio_shapes.find(PrioOf(key));
    auto w = want.find(key);
    const bool reshaped = w != want.end() && w->second.entry.shape != entry.shape;
    const bool foreign_shape = ws != prio_shapes.end() && !ws->second.contains(entry.shape);
    if (reshaped || foreign_shape) {
      early[PrioOf(key)].push_back(DeleteWrite(key, entry.protocol));
      emptied.insert(key);
    } else if (w == want.end()) {
      deletes.push_back(DeleteWrite(key, entry.protocol));
      std::optional<uint32_t> jump;
      if (entry.jump != InstalledEntry::kNoJump) jump = entry.jump;
      delete_nodes.push_back({key, jump});
    }
  });
  std::vector<PlannedWrite> upserts;
  std::vector<JumpNode> upsert_nodes;
  for (auto& [key, w] : want) {
    const std::optional<InstalledEntry> h = have.Find(key);
    TcOp::Kind kind = TcOp::Kind::kCreateFilter;
    if (h && !emptied.contains(key)) {
      if (h->content == w.entry.content) continue;
      kind = TcOp::Kind::kReplaceFilter;
    }
    upserts.push_back(PlannedWrite{kind, key, 0, &w});
    std::optional<uint32_t> jump;
    if (w.entry.jump != InstalledEntry::kNoJump) jump = w.entry.jump;
    upsert_nodes.push_back({key, jump});
  }
  FilterPlan plan;
  upserts = Ordered(std::move(upserts), upsert_nodes, WriteKind::kUpserts, plan.cyclic);
  deletes = Ordered(std::move(deletes), delete_nodes, WriteKind::kDeletes, plan.cyclic);
  plan.ops.reserve(emptied.size() + upserts.size() + deletes.size());
  // Reshape deletes whose prio gets no write go first, as they always did.
  std::set<Prio> written;
  for (const PlannedWrite& op : upserts) written.insert(PrioOf(op.key));
  for (auto& [prio, ops] : early) {
    if (!written.contains(prio)) plan.ops.insert(plan.ops.end(), ops.begin(), ops.end());
  }
  for (const PlannedWrite& op : upserts) {
    auto e = early.find(PrioOf(op.key));
    if (e != early.end() && written.contains(e->first)) {
      plan.ops.insert(plan.ops.end(), e->second.begin(), e->second.end());
      early.erase(e);
    }
    plan.ops.push_back(op);
  }
  plan.ops.insert(plan.ops.end(), std::make_move_iterator(deletes.begin()),
                  std::make_move_iterator(deletes.end()));
  return plan;
}

}  // namespace vfguard::agent
