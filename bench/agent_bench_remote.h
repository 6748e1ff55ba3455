// agent_bench's issue 14 case (docs/performance.md, "Remote groups"): the
// agent in set mode, as it runs when BPF loads.
#ifndef VFGUARD_BENCH_AGENT_BENCH_REMOTE_H_
#define VFGUARD_BENCH_AGENT_BENCH_REMOTE_H_

namespace vfguard::agent {

// `n` ports (representors r0.., the uplink up0, existing) whose one ingress
// rule allows tcp/22 from group bastion, whose 1,000 members are remote
// ports from one pool. One Reconciler with a KernelSetMatchHook (the
// steady-state agent) installs it, then one member is added and another
// removed; a fresh Reconciler without the hook then installs the same rule
// with one prefix as its remote (the baseline). Prints the "remote_group:"
// line; false (after a message) on any failure, the block left empty.
bool RemoteGroupCase(int n);

}  // namespace vfguard::agent

#endif  // VFGUARD_BENCH_AGENT_BENCH_REMOTE_H_
