#include "agent/nd_check_hook.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "agent/bpf_filter_attach.h"
#include "agent/bpf_hook_setup.h"
#include "netlink/bpf_filter_codec.h"
#include "policy/chain_builder.h"

namespace vfguard::agent {

absl::StatusOr<std::unique_ptr<KernelNdCheckHook>> KernelNdCheckHook::Create(uint32_t block,
                                                                             common::Logger& log) {
  std::unique_ptr<KernelNdCheckHook> hook(new KernelNdCheckHook(block, log));
  absl::Status s = SetUpBpfHook(&offload::NdCheckProgram::Create, hook->private_io_, hook->program_,
                                hook->socket_);
  if (!s.ok()) return s;
  return hook;
}

absl::Status KernelNdCheckHook::Attach() {
  netlink::BpfFilter f;
  f.owner = netlink::TcBlock{block_};
  f.chain = policy::Chains::kNd;
  f.prio = policy::Chains::kNdCheckPrio;
  f.handle = 1;
  f.protocol = policy::kEthIPv6;
  f.prog_fd = program_->prog_fd();
  f.name = offload::NdCheckProgram::kProgramName;
  if (absl::Status s = AttachBpfFilter(*socket_, f, "the ND check"); !s.ok()) return s;
  attached_ = true;
  log_.Info("nd_check_attached", {{"block", block_}, {"chain", f.chain}, {"prio", f.prio}});
  return absl::OkStatus();
}

absl::Status KernelNdCheckHook::Sync(const NdEntries& entries) {
  // The map first: an entry must be there before NS/NA can reach the check.
  absl::Status map = program_->Sync(entries);
  if (!attached_) {
    if (absl::Status s = Attach(); !s.ok()) return s;
  }
  return map;
}

}  // namespace vfguard::agent
