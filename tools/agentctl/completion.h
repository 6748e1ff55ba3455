// Shell completion generated from the CLI11 command tree, so it never drifts
// from the commands agentctl really has.
#ifndef VFGUARD_TOOLS_AGENTCTL_COMPLETION_H_
#define VFGUARD_TOOLS_AGENTCTL_COMPLETION_H_

#include <CLI/CLI.hpp>
#include <string>

namespace vfguard::agentctl {

// A bash script defining and registering `_agentctl`: subcommands and flags
// per command path, `-o/--output` values, file names after -f/--file.
std::string BashCompletion(CLI::App& app);

}  // namespace vfguard::agentctl

#endif  // VFGUARD_TOOLS_AGENTCTL_COMPLETION_H_
