#include "agent/write_waves.h"

#include <algorithm>
#include <map>
#include <optional>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>

#include "agent/write_order.h"

namespace vfguard::agent {
namespace {

using Chain = std::pair<netlink::FilterOwner, uint32_t>;             // owner, chain
using Group = std::tuple<netlink::FilterOwner, uint32_t, uint16_t>;  // owner, chain, prio

bool IsBarrier(const TcOp& op) {
  return op.kind != TcOp::Kind::kCreateFilter && op.kind != TcOp::Kind::kReplaceFilter;
}

// The wave of each op, and which waves are barrier waves.
struct Assignment {
  std::vector<size_t> wave_of;
  std::vector<bool> barrier;  // per wave
};

// The last wave (so far) in which a key was written; nullopt if never.
template <typename Key>
std::optional<size_t> Last(const std::map<Key, size_t>& m, const Key& k) {
  auto it = m.find(k);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

template <typename Key>
void Raise(std::map<Key, size_t>& m, const Key& k, size_t wave) {
  auto [it, inserted] = m.emplace(k, wave);
  if (!inserted) it->second = std::max(it->second, wave);
}

Assignment Assign(const std::vector<TcOp>& ops) {
  Assignment a;
  a.wave_of.resize(ops.size());
  std::map<Chain, size_t> chain_last;   // a write of the chain
  std::map<Chain, size_t> jumper_last;  // a write that jumps to the chain
  std::map<Group, size_t> group_last;
  size_t floor = 0;  // the first wave an op after the last barrier may use
  for (size_t i = 0; i < ops.size(); ++i) {
    const TcOp& op = ops[i];
    if (IsBarrier(op)) {
      // Joins the barrier wave right before it, else opens one after all.
      if (a.barrier.empty() || !a.barrier.back()) a.barrier.push_back(true);
      a.wave_of[i] = a.barrier.size() - 1;
      floor = a.barrier.size();
      continue;
    }
    const netlink::FlowerFilter& f = op.filter;
    const Chain chain{f.owner, f.chain};
    size_t w = floor;
    if (auto g = Last(group_last, Group{f.owner, f.chain, f.prio})) w = std::max(w, *g);
    if (auto j = Last(jumper_last, chain)) w = std::max(w, *j + 1);
    const std::optional<uint32_t> target = JumpTarget(f);
    const bool jumps = target && *target != f.chain;
    if (jumps) {
      if (auto t = Last(chain_last, Chain{f.owner, *target})) w = std::max(w, *t + 1);
    }
    while (a.barrier.size() <= w) a.barrier.push_back(false);
    a.wave_of[i] = w;
    Raise(group_last, Group{f.owner, f.chain, f.prio}, w);
    Raise(chain_last, chain, w);
    if (jumps) Raise(jumper_last, Chain{f.owner, *target}, w);
  }
  return a;
}

// Whole groups to the least loaded lane, largest group first.
std::vector<std::vector<size_t>> Balance(const std::vector<TcOp>& ops,
                                         const std::vector<size_t>& members, size_t lanes) {
  std::map<Group, std::vector<size_t>> groups;
  for (size_t i : members) {
    const netlink::FlowerFilter& f = ops[i].filter;
    groups[Group{f.owner, f.chain, f.prio}].push_back(i);
  }
  std::vector<const std::vector<size_t>*> by_size;
  by_size.reserve(groups.size());
  for (const auto& [g, idx] : groups) by_size.push_back(&idx);
  std::stable_sort(by_size.begin(), by_size.end(),
                   [](const auto* a, const auto* b) { return a->size() > b->size(); });
  std::vector<std::vector<size_t>> out(lanes);
  for (const std::vector<size_t>* idx : by_size) {
    auto lane = std::min_element(out.begin(), out.end(),
                                 [](const auto& a, const auto& b) { return a.size() < b.size(); });
    lane->insert(lane->end(), idx->begin(), idx->end());
  }
  std::erase_if(out, [](const std::vector<size_t>& l) { return l.empty(); });
  for (std::vector<size_t>& l : out) std::sort(l.begin(), l.end());
  return out;
}

}  // namespace

size_t WriteWave::size() const {
  size_t n = 0;
  for (const std::vector<size_t>& l : lanes) n += l.size();
  return n;
}

std::vector<WriteWave> SplitIntoWaves(const std::vector<TcOp>& ops, size_t lanes) {
  lanes = std::max<size_t>(lanes, 1);
  const Assignment a = Assign(ops);
  std::vector<std::vector<size_t>> members(a.barrier.size());
  for (size_t i = 0; i < ops.size(); ++i) members[a.wave_of[i]].push_back(i);
  std::vector<WriteWave> out;
  out.reserve(members.size());
  for (size_t w = 0; w < members.size(); ++w) {
    if (members[w].empty()) continue;
    WriteWave wave;
    if (a.barrier[w]) {
      wave.lanes.push_back(std::move(members[w]));
    } else {
      wave.lanes = Balance(ops, members[w], lanes);
    }
    out.push_back(std::move(wave));
  }
  return out;
}

std::vector<absl::Status> ApplyInWaves(size_t op_count, const std::vector<WriteWave>& waves,
                                       size_t min_parallel, const LaneWriter& write) {
  std::vector<absl::Status> out(op_count);
  auto store = [&out](const std::vector<size_t>& idx, const std::vector<absl::Status>& r) {
    for (size_t k = 0; k < idx.size(); ++k) {
      out[idx[k]] =
          k < r.size() ? r[k] : absl::InternalError("write lane returned fewer results than ops");
    }
  };
  for (const WriteWave& wave : waves) {
    if (wave.lanes.empty()) continue;
    if (wave.lanes.size() == 1 || wave.size() < min_parallel) {
      std::vector<size_t> all;
      all.reserve(wave.size());
      for (const std::vector<size_t>& l : wave.lanes) all.insert(all.end(), l.begin(), l.end());
      std::sort(all.begin(), all.end());
      store(all, write(0, all));
      continue;
    }
    std::vector<std::vector<absl::Status>> results(wave.lanes.size());
    {
      std::vector<std::jthread> threads;
      threads.reserve(wave.lanes.size() - 1);
      for (size_t k = 1; k < wave.lanes.size(); ++k) {
        try {
          threads.emplace_back([&, k] { results[k] = write(k, wave.lanes[k]); });
        } catch (const std::system_error&) {
          results[k] = write(k, wave.lanes[k]);  // no thread to be had: in turn, on this one
        }
      }
      results[0] = write(0, wave.lanes[0]);
    }  // joins
    for (size_t k = 0; k < wave.lanes.size(); ++k) store(wave.lanes[k], results[k]);
  }
  return out;
}

}  // namespace vfguard::agent
