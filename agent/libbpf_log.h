// libbpf reports through one process-wide print callback, by default raw
// text on stderr ("libbpf: Failed to bump RLIMIT_MEMLOCK ..."), which breaks
// the one-logfmt-line-per-event contract of the agent's output (journald
// carries both). RouteLibbpfOutputAsLogfmt installs a callback that writes
// each libbpf message as `event=libbpf level=<warn|info> msg="..."` through
// FormatLogLine; debug messages are dropped. The callback keeps no state (it
// writes straight to stderr, one write per line), so installing it once at
// start-up adds no global mutable state of ours.
#ifndef VFGUARD_AGENT_LIBBPF_LOG_H_
#define VFGUARD_AGENT_LIBBPF_LOG_H_

#include <string>

namespace vfguard::agent {

void RouteLibbpfOutputAsLogfmt();

// The line the callback writes for a libbpf message at libbpf print level
// `level` (0 warn, 1 info, 2 debug), or "" for a dropped one (tests).
std::string LibbpfLogLine(int level, const std::string& message);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_LIBBPF_LOG_H_
