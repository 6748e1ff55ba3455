// Devices re-created under their name between two passes (a representor
// deleted and added again before the pass that sees either: same name,
// another ifindex).
//
// flower resolves a filter's indev name to an ifindex when the filter is
// written (and a dump names the device that ifindex has now), so installed
// filters naming such a device keep matching its old ifindex although their
// requests, and so their content hashes, are unchanged. Filters that name a
// device by ifindex (mirred) change content and are rewritten anyway.
#ifndef VFGUARD_AGENT_MOVED_DEVICES_H_
#define VFGUARD_AGENT_MOVED_DEVICES_H_

#include <set>
#include <string>

#include "agent/filter_plan.h"
#include "agent/installed_set.h"
#include "agent/reconciler.h"

namespace vfguard::agent {

// Names (uplink and representors) with another ifindex in `next` than in `last`.
std::set<std::string> MovedDevices(const EswitchView& last, const EswitchView& next);

// Marks the installed entries of wanted filters whose indev is a moved
// device as changed (content differs from the wanted one), so that the plan
// replaces them and the kernel resolves the name again. Only filters
// translated in this pass are looked at: a moved device makes the pass
// translate everything.
void ReplaceMovedIndev(const std::set<std::string>& moved, const WantedFilters& want,
                       InstalledSet& installed);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_MOVED_DEVICES_H_
