// agentctl's command line: the CLI11 tree of commands and flags, parsed and
// dispatched to the commands (commands.h). main() is a thin wrapper so the
// whole tool is one function with explicit streams.
#ifndef VFGUARD_TOOLS_AGENTCTL_CLI_H_
#define VFGUARD_TOOLS_AGENTCTL_CLI_H_

#include <ostream>

namespace vfguard::agentctl {

// Exit status: 0 success, 1 failure (message on `err`), 2 trace disagreement
// or usage error (CLI11's codes for the latter; 0 for --help/--version).
int Run(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace vfguard::agentctl

#endif  // VFGUARD_TOOLS_AGENTCTL_CLI_H_
