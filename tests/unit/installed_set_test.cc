// The installed set's packed entries (agent/installed_set.h): 32 bytes, the
// key and entry come back as they went in, the order is FilterKey's (so
// lookups and walks by FilterKey find what they did before the packing),
// and what cannot be packed is refused and makes the set unsure; the tc
// notification queue hands out each note once, one batch per job.
#include "agent/installed_set.h"

#include <algorithm>
#include <vector>

#include "agent/tc_note_queue.h"
#include "gtest/gtest.h"

namespace vfguard::agent {
namespace {

using netlink::kClsactEgressParent;
using netlink::kClsactIngressParent;
using netlink::TcBlock;
using netlink::TcDevice;

std::vector<FilterKey> Keys() {
  std::vector<FilterKey> keys;
  for (netlink::FilterOwner owner :
       {netlink::FilterOwner{TcBlock{1}}, netlink::FilterOwner{TcBlock{7}},
        netlink::FilterOwner{TcDevice{3, kClsactIngressParent}},
        netlink::FilterOwner{TcDevice{3, kClsactEgressParent}},
        netlink::FilterOwner{TcDevice{2, kClsactEgressParent}}}) {
    for (uint32_t chain : {0u, 5u, (1u << 27) + 3, (1u << 28) - 1}) {
      for (uint16_t prio : {1, 2, 65535}) {
        for (uint32_t handle : {1u, 9u, 0xFFFFFFFFu}) keys.push_back({owner, chain, prio, handle});
      }
    }
  }
  return keys;
}

TEST(InstalledFilter, PacksIn32BytesAndRoundTrips) {
  EXPECT_EQ(sizeof(InstalledFilter), 32u);
  const InstalledEntry e{0x86dd, 12345, 0xDEADBEEF, 0x0123456789ABCDEFULL};
  for (const FilterKey& k : Keys()) {
    std::optional<InstalledFilter> f = InstalledFilter::Of(k, e);
    ASSERT_TRUE(f.has_value());
    const auto& [key, entry] = *f;
    EXPECT_EQ(key, k);
    EXPECT_EQ(entry, e);
  }
}

TEST(InstalledFilter, OrdersAsFilterKeyDoesAndIsSearchedByIt) {
  std::vector<FilterKey> keys = Keys();
  InstalledSet::Filters set;
  uint64_t content = 1;
  for (const FilterKey& k : keys) set.insert(*InstalledFilter::Of(k, {0x0800, 0, 0, content++}));
  std::sort(keys.begin(), keys.end());
  ASSERT_EQ(set.size(), keys.size());
  size_t i = 0;
  for (const auto& [key, entry] : set) EXPECT_EQ(key, keys[i++]);
  const FilterKey probe{TcDevice{3, kClsactEgressParent}, 5, 2, 0};
  auto it = set.lower_bound(probe);
  ASSERT_NE(it, set.end());
  EXPECT_EQ(it->key(), (FilterKey{TcDevice{3, kClsactEgressParent}, 5, 2, 1}));
  EXPECT_EQ(set.find(FilterKey{TcBlock{7}, 0, 3, 1}), set.end());
}

TEST(InstalledFilter, WhatCannotBePackedIsRefusedAndMakesTheSetUnsure) {
  EXPECT_FALSE(InstalledFilter::Of({TcBlock{1}, 1u << 28, 1, 1}, {}).has_value());
  EXPECT_FALSE(InstalledFilter::Of({TcDevice{3, 0x10000}, 0, 1, 1}, {}).has_value());
  InstalledSet s;
  s.AuditDone();
  netlink::FlowerFilter f;
  f.owner = TcDevice{3, 0x10000};
  f.prio = 1;
  f.handle = 1;
  s.Record(f);
  EXPECT_TRUE(s.filters().empty());
  EXPECT_TRUE(s.audit_needed());
}

TEST(InstalledSet, RecordReplacesFindsAndErases) {
  InstalledSet s;
  netlink::FlowerFilter f;
  f.owner = TcBlock{1};
  f.chain = 4;
  f.prio = 2;
  f.handle = 3;
  s.Record(f);
  const std::optional<InstalledEntry> first = s.Find(KeyOf(f));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->content, EntryOf(f).content);
  f.actions = {netlink::TcAction{netlink::GactAction{netlink::GactAction::Verdict::kDrop}, {}}};
  s.Record(f);
  ASSERT_EQ(s.filters().size(), 1u);
  EXPECT_EQ(s.Find(KeyOf(f))->content, EntryOf(f).content);
  EXPECT_NE(s.Find(KeyOf(f))->content, first->content);
  f.owner = TcDevice{9, kClsactEgressParent};
  s.Record(f);
  s.EraseClsact(9);
  EXPECT_FALSE(s.Find(KeyOf(f)).has_value());
  EXPECT_EQ(s.filters().size(), 1u);
  f.owner = TcBlock{1};
  s.Erase(KeyOf(f));
  EXPECT_TRUE(s.filters().empty());
}

TEST(InstalledSet, StaysWholeAndOrderedThroughSingleChanges) {
  InstalledSet s;
  std::vector<netlink::FlowerFilter> all;
  for (uint32_t i = 0; i < 2000; ++i) {
    netlink::FlowerFilter f;
    f.owner = i % 3 == 0 ? netlink::FilterOwner{TcDevice{10 + i % 7, kClsactEgressParent}}
                         : netlink::FilterOwner{TcBlock{1}};
    f.chain = (i * 7919) % 613;
    f.prio = static_cast<uint16_t>(1 + i % 5);
    f.handle = 1 + i;
    all.push_back(f);
    s.Record(f);
  }
  for (size_t i = 0; i < all.size(); i += 2) s.Erase(KeyOf(all[i]));
  ASSERT_EQ(s.filters().size(), all.size() / 2);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(s.Find(KeyOf(all[i])).has_value(), i % 2 == 1) << i;
  }
  std::vector<FilterKey> keys;
  for (const auto& [key, entry] : s.filters()) keys.push_back(key);
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
}

// A pass's changes merged at once: of one key the last change counts, in
// the order they were made, whatever the key order.
TEST(InstalledSet, ApplyMergesChangesLastOfEachKeyWins) {
  auto filter = [](uint32_t chain, uint32_t handle, uint64_t content) {
    return *InstalledFilter::Of({TcBlock{1}, chain, 1, handle}, {0x0800, 0, 0, content});
  };
  InstalledSet s;
  s.Apply({{filter(5, 1, 10)}, {filter(1, 1, 11)}, {filter(9, 1, 12)}, {filter(3, 1, 13)}});
  ASSERT_EQ(s.filters().size(), 4u);
  s.Apply({
      {filter(5, 1, 20)},       // replaced
      {filter(9, 1, 0), true},  // erased
      {filter(7, 1, 21)},       // created, then erased, then created again
      {filter(7, 1, 0), true},
      {filter(7, 1, 22)},
      {filter(2, 1, 23)},  // created, then erased
      {filter(2, 1, 0), true},
      {filter(4, 4, 0), true},  // erased while absent: nothing
      {filter(1, 1, 0), true},  // erased, then created again
      {filter(1, 1, 24)},
  });
  std::vector<std::pair<uint32_t, uint64_t>> got;
  for (const auto& [key, entry] : s.filters()) got.push_back({key.chain, entry.content});
  const std::vector<std::pair<uint32_t, uint64_t>> want = {{1, 24}, {3, 13}, {5, 20}, {7, 22}};
  EXPECT_EQ(got, want);
  s.Apply({});
  EXPECT_EQ(s.filters().size(), 4u);
}

TEST(TcNoteQueue, OneBatchPerJobAndEveryNoteTakenOnce) {
  TcNoteQueue q;
  TcNote n;
  n.kind = TcNote::Kind::kFilter;
  EXPECT_TRUE(q.Push(n)) << "the first note of a batch asks for a job";
  for (int i = 0; i < 99; ++i) EXPECT_FALSE(q.Push(n));
  EXPECT_EQ(q.Take().size(), 100u);
  EXPECT_TRUE(q.Take().empty());
  EXPECT_TRUE(q.Push(n)) << "after a Take, the next note starts a new batch";
  EXPECT_EQ(q.Take().size(), 1u);
  const TcNoteQueue::Stats s = q.stats();
  EXPECT_EQ(s.notes, 101u);
  EXPECT_EQ(s.batches, 2u);
  EXPECT_EQ(s.taken, 101u);
  EXPECT_EQ(s.peak_pending, 100u);
}

}  // namespace
}  // namespace vfguard::agent
