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

#include <functional>
#include <optional>
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
// replaces them and the kernel resolves the name again. `indev_of` gives a
// wanted filter's kernel indev. A moved device makes the pass translate
// everything, so every wanted filter holds this pass's translation.
using IndevOf = std::function<std::optional<std::string>(const WantedFilter&)>;
void ReplaceMovedIndev(const std::set<std::string>& moved, const WantedFilters& want,
                       InstalledSet& installed, const IndevOf& indev_of);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_MOVED_DEVICES_H_
