// agent_bench's daemon part: the real vfguard-agent (map mode) on its own
// block, driven through its policy file and representors appearing, watched
// through its log, RTNLGRP_TC and /proc.
#ifndef VFGUARD_BENCH_DAEMON_PROBE_H_
#define VFGUARD_BENCH_DAEMON_PROBE_H_

#include <optional>
#include <string>
#include <vector>

namespace vfguard::agent {

struct DaemonResult {
  // Per join trial (late port k's representor created): seconds until its
  // dispatch filter was seen on RTNLGRP_TC, and the kernel writes of the
  // pass that wired it (its event=reconciled line's writes=).
  std::vector<double> join_s;
  std::vector<int> join_writes;
  // VmRSS of the daemon after its first pass with no port present (idle),
  // and after the pass that installed the N ports, in kB; the filters=
  // of those passes (idle: the uplink's), so the difference is what the N
  // ports added.
  long rss_idle_kb = 0;
  long rss_installed_kb = 0;
  int filters_idle = 0;
  int filters = 0;
};

// Runs `binary` with N ports p0000.. (representors r0.. must exist) plus
// kLatePorts late ports mapped to lrep0.. (which must not), on kDaemonBlock.
// It starts with the same policy minus the N ports (the idle daemon), then
// gets the full policy (file replaced + SIGHUP), then one trial per late
// port. The daemon is stopped before returning; its clsacts stay (the agent
// leaves the kernel as it is on exit). nullopt on failure, with the log's
// tail printed.
std::optional<DaemonResult> RunDaemon(const std::string& binary, int n);

}  // namespace vfguard::agent

#endif  // VFGUARD_BENCH_DAEMON_PROBE_H_
