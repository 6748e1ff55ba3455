#include "bench/resync_split.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/filter_hash.h"
#include "agent/installed_set.h"
#include "agent/tc_event.h"
#include "bench/agent_bench_setup.h"
#include "netlink/nl_socket.h"
#include "netlink/tc_codec.h"

namespace vfguard::agent {
namespace {

double S(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// The dump request for `owner`, with TCA_DUMP_FLAGS = TERSE appended when
// `terse` (the codec does not write that attribute).
netlink::Message DumpRequest(const netlink::FilterOwner& owner, bool terse) {
  std::vector<uint32_t> words(256, 0);
  absl::Span<uint8_t> span(reinterpret_cast<uint8_t*>(words.data()), words.size() * 4);
  absl::StatusOr<size_t> n = netlink::EncodeDumpFilters(owner, std::nullopt, 0, span);
  if (!n.ok()) return {};
  netlink::Message m(span.begin(), span.begin() + *n);
  if (terse) {
    // struct nla_bitfield32 {value, selector} in an NLA of type TCA_DUMP_FLAGS.
    const uint32_t attr[3] = {(12u) | (static_cast<uint32_t>(TCA_DUMP_FLAGS) << 16),
                              TCA_DUMP_FLAGS_TERSE, TCA_DUMP_FLAGS_TERSE};
    const auto* b = reinterpret_cast<const uint8_t*>(attr);
    m.insert(m.end(), b, b + sizeof(attr));
    auto* nlh = reinterpret_cast<nlmsghdr*>(m.data());
    nlh->nlmsg_len = static_cast<uint32_t>(m.size());
  }
  return m;
}

}  // namespace

void PrintPassTimes(const char* what, const ReconcileReport& r, double total_s) {
  const ReconcileReport::Times& t = r.times;
  auto pct = [&](absl::Duration d) { return 100.0 * S(d) / total_s; };
  std::printf(
      "%s split [%% of the cold install]: compile %.3f s (%.1f %%), audit dump+decode %.3f s (%.1f "
      "%%), audit hash "
      "%.3f s (%.1f %%), qdiscs+place %.3f s (%.1f %%), translate+hash %.3f s (%.1f %%), "
      "plan+write %.3f s (%.1f %%); translated=%d dumps=%d writes=%d\n",
      what, S(t.compile), pct(t.compile), S(t.audit_dump), pct(t.audit_dump), S(t.audit_hash),
      pct(t.audit_hash), S(t.place), pct(t.place), S(t.translate), pct(t.translate), S(t.write),
      pct(t.write), r.translated, r.dumps, r.writes);
}

bool PrintDumpSplit(int n, double cold_s) {
  boost::asio::io_context io;
  auto socket = netlink::NetlinkSocket::Open(io, NETLINK_ROUTE);
  if (!socket.ok()) return false;
  std::vector<netlink::FilterOwner> owners = {netlink::TcBlock{kBlock}};
  for (int i = 0; i < n; ++i) {
    owners.push_back(netlink::TcDevice{Dev(RepName(i)).ifindex, netlink::kClsactEgressParent});
  }
  // 1. Receive only.
  std::vector<netlink::Message> messages;
  auto t0 = Clock::now();
  for (const netlink::FilterOwner& owner : owners) {
    auto parts = (*socket)->DumpWithRetry(DumpRequest(owner, false));
    if (!parts.ok()) return false;
    for (netlink::Message& m : *parts) messages.push_back(std::move(m));
  }
  const double recv_s = Seconds(Clock::now() - t0);
  size_t bytes = 0;
  for (const netlink::Message& m : messages) bytes += m.size();
  // 2. Decode.
  t0 = Clock::now();
  std::vector<netlink::FlowerFilter> filters;
  for (const netlink::Message& m : messages) {
    if (const std::string kind = FilterKind(m); !kind.empty() && kind != "flower") continue;
    auto f = netlink::DecodeFilterMessage(m);
    if (!f.ok()) return false;
    if (f->has_value()) filters.push_back(**std::move(f));
  }
  const double decode_s = Seconds(Clock::now() - t0);
  // 3. Hash as the installed set does (key, shape, content).
  t0 = Clock::now();
  uint64_t sink = 0;
  for (const netlink::FlowerFilter& f : filters) sink ^= EntryOf(f).content;
  const double hash_s = Seconds(Clock::now() - t0);
  // 4. A terse dump of the same owners (receive only).
  t0 = Clock::now();
  size_t terse_messages = 0, terse_bytes = 0;
  for (const netlink::FilterOwner& owner : owners) {
    auto parts = (*socket)->DumpWithRetry(DumpRequest(owner, true));
    if (!parts.ok()) return false;
    terse_messages += parts->size();
    for (const netlink::Message& m : *parts) terse_bytes += m.size();
  }
  const double terse_s = Seconds(Clock::now() - t0);
  std::printf(
      "audit dump split: %zu owners, %zu messages, %zu filters, %.1f MB: receive %.3f s "
      "(%.1f %% of cold), decode %.3f s (%.1f %%), hash %.3f s (%.1f %%); terse dump: %zu "
      "messages, %.1f MB, receive %.3f s (%.1f %%) [%llx]\n",
      owners.size(), messages.size(), filters.size(), bytes / 1e6, recv_s, 100 * recv_s / cold_s,
      decode_s, 100 * decode_s / cold_s, hash_s, 100 * hash_s / cold_s, terse_messages,
      terse_bytes / 1e6, terse_s, 100 * terse_s / cold_s,
      static_cast<unsigned long long>(sink & 0xf));
  return true;
}

}  // namespace vfguard::agent
