// Rule-programming benchmark (kernel, root): installs N flower filters
// (skip_hw, distinct keys, drop) into a shared block through netlink/ (one
// batched, windowed socket), dumps them back, then removes them and installs
// the same filters with `tc -batch` on the same kernel, and prints both rates
// and their ratio; then one socket against two written from two threads
// (the agent's write lanes, agent/write_waves.h). Run in the VM: tools/check --suite bench, or
//   tools/vmrun -- build/bench/tc_install_bench [N]
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/types/span.h"
#include "netlink/nl_socket.h"
#include "netlink/tc_codec.h"

namespace vfguard::netlink {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kBlock = 77;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

Ipv4Addr AddrOf(int i) {
  return Ipv4Addr{10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8),
                  static_cast<uint8_t>(i)};
}

FlowerFilter FilterOf(int i) {
  FlowerFilter f;
  f.owner = TcBlock{kBlock};
  f.chain = 0;
  f.prio = 1;
  f.handle = static_cast<uint32_t>(i + 1);
  f.protocol = 0x0800;
  f.keys.eth_type = 0x0800;
  f.keys.ipv4_dst = Exact(AddrOf(i));
  f.skip_hw = true;
  f.actions.push_back(TcAction{GactAction{GactAction::Verdict::kDrop}, {}});
  return f;
}

int Sh(const std::string& cmd) {
  int rc = system(cmd.c_str());
  if (rc != 0) fprintf(stderr, "command failed (%d): %s\n", rc, cmd.c_str());
  return rc;
}

// Installs filters 0..n-1 into chain 0, filter i at prio 1 + i % 2, on a
// fresh block, over `lanes` sockets (1 or 2): with 2, prio 1 goes on one
// socket from this thread and prio 2 on another from a second thread, as
// NetlinkTcBackend's write lanes do. Encoding is inside the time. Returns
// the seconds, or a negative value on a failure.
double InstallInLanes(int n, int lanes) {
  if (Sh("tc qdisc del dev bench0 clsact && tc qdisc add dev bench0 ingress_block 77 clsact") !=
      0) {
    return -1;
  }
  auto lane = [n, lanes](int k, int& failed) {
    boost::asio::io_context io;
    auto sock = NetlinkSocket::Open(io, NETLINK_ROUTE);
    if (!sock.ok()) {
      failed = n;
      return;
    }
    std::vector<Message> msgs;
    std::vector<uint8_t> buf(4096);
    for (int i = k; i < n; i += (lanes == 2 ? 2 : 1)) {
      FlowerFilter f = FilterOf(i);
      f.prio = static_cast<uint16_t>(1 + i % 2);
      auto len = EncodeNewFilter(f, CreateMode::kCreateExclusive, 0, absl::MakeSpan(buf));
      if (!len.ok()) return;
      msgs.emplace_back(buf.begin(), buf.begin() + *len);
    }
    for (const RequestResult& r : (*sock)->SendBatchSync(std::move(msgs))) failed += !r.status.ok();
  };
  int failed[2] = {0, 0};
  auto start = Clock::now();
  if (lanes == 2) {
    std::thread second(lane, 1, std::ref(failed[1]));
    lane(0, failed[0]);
    second.join();
  } else {
    lane(0, failed[0]);
  }
  const double took = Seconds(Clock::now() - start);
  if (failed[0] + failed[1] != 0) {
    fprintf(stderr, "%d of %d adds failed in %d lanes\n", failed[0] + failed[1], n, lanes);
    return -1;
  }
  return took;
}

// One socket against two (the agent's write lanes), alternating three times.
int CompareLanes(int n) {
  std::vector<double> one, two;
  for (int round = 0; round < 3; ++round) {
    const double a = InstallInLanes(n, 1);
    const double b = InstallInLanes(n, 2);
    if (a < 0 || b < 0) return 1;
    one.push_back(a);
    two.push_back(b);
    printf("lanes round %d: one socket %.3f s, two sockets on two threads %.3f s\n", round + 1, a,
           b);
  }
  std::sort(one.begin(), one.end());
  std::sort(two.begin(), two.end());
  printf("write lanes: %d filters, one socket %.3f s, two %.3f s (medians of 3): %.2fx\n", n,
         one[1], two[1], one[1] / two[1]);
  return 0;
}

int Run(int n) {
  if (Sh("ip link add bench0 type dummy && ip link set bench0 up") != 0) return 1;
  if (Sh("tc qdisc add dev bench0 ingress_block 77 clsact") != 0) return 1;
  boost::asio::io_context io;
  auto sock = NetlinkSocket::Open(io, NETLINK_ROUTE);
  if (!sock.ok()) {
    fprintf(stderr, "%s\n", sock.status().ToString().c_str());
    return 1;
  }
  // Encoding is part of the measured work, as it is for tc.
  auto start = Clock::now();
  std::vector<Message> msgs;
  msgs.reserve(n);
  std::vector<uint8_t> buf(4096);
  for (int i = 0; i < n; ++i) {
    auto len = EncodeNewFilter(FilterOf(i), CreateMode::kCreateExclusive, 0, absl::MakeSpan(buf));
    if (!len.ok()) {
      fprintf(stderr, "encode: %s\n", len.status().ToString().c_str());
      return 1;
    }
    msgs.emplace_back(buf.begin(), buf.begin() + *len);
  }
  std::vector<RequestResult> results = (*sock)->SendBatchSync(std::move(msgs));
  double ours = Seconds(Clock::now() - start);
  int failed = 0;
  for (const RequestResult& r : results) failed += !r.status.ok();
  if (failed != 0) {
    fprintf(stderr, "%d of %d adds failed, first: %s\n", failed, n,
            results[0].status.ToString().c_str());
    return 1;
  }
  // Dump rate.
  auto dump_start = Clock::now();
  auto dump_len = EncodeDumpFilters(TcBlock{kBlock}, 0u, 0, absl::MakeSpan(buf));
  if (!dump_len.ok()) return 1;
  auto parts = (*sock)->DumpWithRetry(Message(buf.begin(), buf.begin() + *dump_len));
  if (!parts.ok()) {
    fprintf(stderr, "dump: %s\n", parts.status().ToString().c_str());
    return 1;
  }
  size_t decoded = 0;
  for (const Message& m : *parts) {
    auto f = DecodeFilterMessage(absl::MakeConstSpan(m));
    if (f.ok() && f->has_value()) ++decoded;
  }
  double dump = Seconds(Clock::now() - dump_start);
  if (decoded != static_cast<size_t>(n)) {
    fprintf(stderr, "dump decoded %zu filters, expected %d\n", decoded, n);
    return 1;
  }
  // Same filters through tc -batch, on a fresh block.
  if (Sh("tc qdisc del dev bench0 clsact && tc qdisc add dev bench0 ingress_block 77 clsact") !=
      0) {
    return 1;
  }
  const char* path = "/tmp/vfguard-tc-batch.txt";
  {
    std::ofstream out(path);
    for (int i = 0; i < n; ++i) {
      Ipv4Addr a = AddrOf(i);
      out << "filter add block 77 protocol ip prio 1 handle " << i + 1 << " flower skip_hw dst_ip "
          << int(a[0]) << "." << int(a[1]) << "." << int(a[2]) << "." << int(a[3])
          << " action drop\n";
    }
  }
  auto tc_start = Clock::now();
  if (Sh(std::string("tc -batch ") + path) != 0) return 1;
  double tc = Seconds(Clock::now() - tc_start);
  printf("filters: %d (skip_hw, distinct dst_ip, drop) in one shared block\n", n);
  printf("netlink/ install: %.3f s  (%.0f filters/s, encode included)\n", ours, n / ours);
  printf("tc -batch install: %.3f s  (%.0f filters/s, file written beforehand)\n", tc, n / tc);
  printf("ratio netlink/ : tc -batch = %.2f (target >= 1.0)\n", tc / ours);
  printf("dump + decode: %.3f s  (%.0f filters/s)\n", dump, n / dump);
  return CompareLanes(n);
}

}  // namespace
}  // namespace vfguard::netlink

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 100000;
  if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
    printf("SKIP: needs root and network namespaces (run through tools/vmrun)\n");
    return 77;
  }
  return vfguard::netlink::Run(n);
}
