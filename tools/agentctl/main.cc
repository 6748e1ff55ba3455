// agentctl: the operator's CLI for vfguard-agent (docs/agentctl.md).
#include <iostream>

#include "tools/agentctl/cli.h"

int main(int argc, char** argv) { return vfguard::agentctl::Run(argc, argv, std::cout, std::cerr); }
