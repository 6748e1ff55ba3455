// vfguard-cni: the CNI plugin (type "vfguard") that registers SR-IOV VF
// ports with the vfguard agent. See commands.h and docs/kubernetes.md.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>

#include "cni/agent_client.h"
#include "cni/attachments.h"
#include "cni/cni_error.h"
#include "cni/cni_status.h"
#include "cni/commands.h"
#include "cni/config.h"
#include "cni/runtime_env.h"

namespace vfguard::cni {
namespace {

constexpr absl::string_view kUsage = R"(usage: vfguard-cni [--help | --version]

A chained CNI plugin (type "vfguard"): after sriov or host-device has moved a
VF into the pod, it registers the port with the vfguard agent over its API
socket, waits until the agent has installed its rules, and passes prevResult
on. A container runtime runs it, not a person: the command and attachment
come from the environment, the network configuration on stdin.

  CNI_COMMAND      ADD, DEL, CHECK, STATUS, GC or VERSION
  CNI_CONTAINERID  the container (ADD, DEL, CHECK)
  CNI_NETNS        the container's network namespace (ADD, CHECK)
  CNI_IFNAME       the interface in the container (ADD, DEL, CHECK)
  CNI_ARGS         K8S_POD_NAMESPACE=..;K8S_POD_NAME=.. name the port
  CNI_PATH         plugin search path (unused: vfguard delegates nothing)

Configuration (conflist entry; CNI spec 1.0.0 and 1.1.0):
  {"type": "vfguard", "network": "flat", "securityGroups": ["web"],
   "portSecurity": true, "vips": [], "allowedAddressPairs": [],
   "deviceID": "0000:03:00.2" | "vfIndex": 2 | "representor": "pf0vf2",
   "socket": "/run/vfguard/agent.sock", "installTimeoutSeconds": 30,
   "stateDir": "/var/lib/cni/vfguard"}
runtimeConfig.deviceID (SR-IOV device plugin) wins over deviceID; args.cni
securityGroups, vips, allowedAddressPairs and state ("pending-activation" for
a live-migration target) override per pod.

Example by hand:
  echo '{"cniVersion":"1.1.0"}' | CNI_COMMAND=VERSION vfguard-cni
  echo '{"cniVersion":"1.1.0","name":"n","type":"vfguard","network":"flat"}' |
      CNI_COMMAND=STATUS vfguard-cni

Errors are the spec's JSON object on stdout ({"code","msg","details"}) and
exit status 1. More: docs/kubernetes.md.
)";

std::optional<std::string> GetEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

int Fail(const absl::Status& status, const std::string& cni_version) {
  std::cout << ErrorJson(ToCniError(status), cni_version) << std::endl;
  return 1;
}

absl::StatusOr<std::string> Dispatch(const RuntimeEnv& env, const std::string& input) {
  if (env.command == "VERSION") return VersionJson(CniVersionOf(input));
  if (absl::Status s = RequireEnv(env); !s.ok()) return s;
  absl::StatusOr<PluginConfig> config = ParseConfig(input);
  if (!config.ok()) return config.status();
  std::unique_ptr<Transport> transport = UnixSocketTransport(config->socket, absl::Seconds(10));
  AgentClient agent(*transport);
  AttachmentStore store(config->state_dir + "/" + config->name);
  CommandContext c{env, *config, &agent, &store};
  if (env.command == "ADD") return RunAdd(c);
  if (env.command == "DEL") return RunDel(c);
  if (env.command == "CHECK") return RunCheck(c);
  if (env.command == "STATUS") return RunStatus(c);
  if (env.command == "GC") return RunGc(c);
  return CniStatus(
      kInvalidEnvironment,
      "CNI_COMMAND: \"" + env.command + "\" is not one of ADD, DEL, CHECK, STATUS, GC, VERSION");
}

int Main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (a == "--help" || a == "-h" || a == "help") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--version") {
      std::cout << "vfguard-cni " << VFGUARD_VERSION << ", CNI spec 1.0.0 1.1.0\n";
      return 0;
    }
    std::cerr << "vfguard-cni: unknown argument \"" << a << "\"\n" << kUsage;
    return 2;
  }
  RuntimeEnv env = ReadEnv(GetEnv);
  if (env.command.empty()) {
    std::cerr << "vfguard-cni: CNI_COMMAND is not set; this is a CNI plugin, run by a container "
                 "runtime (--help for usage)\n";
    return Fail(CniStatus(kInvalidEnvironment, "CNI_COMMAND is not set"),
                std::string(kNewestVersion));
  }
  std::string input;
  if (env.command != "VERSION" || !isatty(STDIN_FILENO)) {
    input.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  absl::StatusOr<std::string> out = Dispatch(env, input);
  if (!out.ok()) return Fail(out.status(), CniVersionOf(input));
  std::cout << *out;
  std::cout.flush();
  return 0;
}

}  // namespace
}  // namespace vfguard::cni

int main(int argc, char** argv) { return vfguard::cni::Main(argc, argv); }
