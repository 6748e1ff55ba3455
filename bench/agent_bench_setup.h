// What agent_bench's parts share: the synthetic deployment (snapshot, veth
// names, blocks), small shell and timing helpers.
#ifndef VFGUARD_BENCH_AGENT_BENCH_SETUP_H_
#define VFGUARD_BENCH_AGENT_BENCH_SETUP_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/netlink_tc_backend.h"
#include "agent/reconciler.h"
#include "offload/tc_translate.h"
#include "policy/model.h"

namespace vfguard::agent {

using Clock = std::chrono::steady_clock;

inline constexpr uint32_t kBlock = 40;        // the in-process runs
inline constexpr uint32_t kDaemonBlock = 41;  // the daemon's
inline constexpr int kRulesPerGroup = 20;
inline constexpr int kGroups = 10;
inline constexpr int kLatePorts = 5;  // join trials

inline double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// std::system, reporting a failure on stderr.
int Sh(const std::string& cmd);

std::string RepName(int i);      // representor of port i: r<i>
std::string LateRepName(int k);  // of late port k: lrep<k>
std::string PortId(int i);       // p0000..
std::string LatePortId(int k);   // late0..

// One flat network, `n` ports p0000.. on representors r0..; port i in group
// i % kGroups, each group 19 distinct tcp ports (stateful, so conntrack and
// replies are compiled as in production) plus one egress rule. The first
// `late_ports` late ports are appended, mapped to representor refs 100+k
// (the daemon's --representor map), i.e. absent until their veth exists.
policy::Snapshot MakeSnapshot(int n, int late_ports);

offload::Netdev Dev(const std::string& name);

// Removes every clsact bound to `block` (the block and its filters go with
// the last one); true if the block is empty afterwards.
bool EmptyBlock(NetlinkTcBackend& tc, uint32_t block);

// Binds each of `devices` to `block` with a clsact (one batched write).
bool BindBlock(NetlinkTcBackend& tc, uint32_t block, const std::vector<std::string>& devices);

double Median(std::vector<double> v);

// The sizes to run: argv[first..], else $VFGUARD_BENCH_SIZES (blank- or
// comma-separated), else 100 250; empty (after a message) on a bad value.
std::vector<int> Sizes(int argc, char** argv, int first);

// A native bench's main: `run(n)` for each of Sizes(argc, argv, 1); 2 on a
// bad size, else nonzero if any run was.
int RunForEachSize(int argc, char** argv, int (*run)(int));

}  // namespace vfguard::agent

#endif  // VFGUARD_BENCH_AGENT_BENCH_SETUP_H_
