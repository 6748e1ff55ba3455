// Process-wide memory settings the daemon makes once at startup, before any
// thread exists (docs/performance.md, "Daemon RSS per filter: transparent
// huge pages").
#ifndef VFGUARD_DAEMON_PROCESS_MEMORY_H_
#define VFGUARD_DAEMON_PROCESS_MEMORY_H_

#include "absl/status/status.h"

namespace vfguard::daemon {

// Keeps the process's anonymous memory in 4 KiB pages: transparent huge
// pages off for this process (prctl PR_SET_THP_DISABLE; inherited by
// children, kept across execve).
//
// Why: Debian's kernel has THP "always", and khugepaged by default collapses
// any 2 MiB range with a single resident page (max_ptes_none 511) into a
// whole resident huge page. The daemon's heap is small long-lived objects
// beside a pass's freed temporaries: after a 100-port install (VM,
// agent_bench), the worker thread's malloc arena held 1.8 MB resident with
// 4 KiB pages and 8.2 MB with huge pages (AnonHugePages 8,192 kB, after
// malloc_trim), and thread stacks got huge pages too: 1,300 instead of 385
// B of RSS per filter, and a figure that depended on when khugepaged had
// last run. The daemon gains nothing measurable from huge pages (its
// working set is a few MB).
//
// An error if the kernel refuses (older than 3.15, or a seccomp filter):
// the daemon runs on, logging it.
absl::Status KeepAnonymousMemoryInSmallPages();

// Whether transparent huge pages are off for this process (PR_GET_THP_DISABLE).
bool HugePagesDisabled();

}  // namespace vfguard::daemon

#endif  // VFGUARD_DAEMON_PROCESS_MEMORY_H_
