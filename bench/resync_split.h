// Where a restart resync's time goes (issue 9): agent_bench prints the
// reconciler's own phase times of the resync pass, and times the audit's
// kernel side apart: the raw dumps (netlink receive only, full and terse),
// decoding them, and hashing the decoded filters as the installed set does.
#ifndef VFGUARD_BENCH_RESYNC_SPLIT_H_
#define VFGUARD_BENCH_RESYNC_SPLIT_H_

#include "agent/reconciler.h"

namespace vfguard::agent {

// The phases of `report` (ReconcileReport::times) as one line, with their
// share of `total_s`.
void PrintPassTimes(const char* what, const ReconcileReport& report, double total_s);

// Dumps the clsacts, block kBlock and the egress hooks of `n` representors
// as an audit does, timing receive, decode and hash apart, and a terse dump
// (TCA_DUMP_FLAGS_TERSE) of the block; prints one line. False on an error.
bool PrintDumpSplit(int n, double cold_s);

}  // namespace vfguard::agent

#endif  // VFGUARD_BENCH_RESYNC_SPLIT_H_
