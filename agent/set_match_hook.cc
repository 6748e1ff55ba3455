#include "agent/set_match_hook.h"

#include <linux/netlink.h>

#include <set>

#include "agent/bpf_filter_attach.h"
#include "agent/bpf_hook_setup.h"

namespace vfguard::agent {

absl::StatusOr<std::unique_ptr<KernelSetMatchHook>> KernelSetMatchHook::Create(
    common::Logger& log) {
  std::unique_ptr<KernelSetMatchHook> hook(new KernelSetMatchHook(log));
  absl::Status s = SetUpBpfHook(&offload::SetMatchProgram::Create, hook->private_io_,
                                hook->program_, hook->socket_);
  if (!s.ok()) return s;
  return hook;
}

absl::Status KernelSetMatchHook::Sync(const offload::SetMatchWant& want) {
  absl::StatusOr<offload::SetMatchPlan> plan = numbering_.Plan(want);
  if (!plan.ok()) return plan.status();
  // The maps first: a new filter's rule and set are there before it is.
  if (absl::Status s = program_->Sync(plan->maps); !s.ok()) return s;
  absl::Status first = absl::OkStatus();
  std::set<Key> wanted;
  for (netlink::BpfFilter& f : plan->filters) {
    f.prog_fd = program_->prog_fd();
    const Key key = KeyOf(f);
    wanted.insert(key);
    auto it = installed_.find(key);
    if (it != installed_.end() && it->second == f) continue;
    ++filter_writes_;
    if (absl::Status s = AttachBpfFilter(*socket_, f, "a set-match filter"); !s.ok()) {
      installed_.erase(key);  // unknown now: written again next time
      log_.Warn("set_match_write_failed", {{"chain", f.chain}, {"prio", f.prio}, {"status", s}});
      if (first.ok()) first = s;
      continue;
    }
    installed_[key] = f;
  }
  for (auto it = installed_.begin(); it != installed_.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    ++filter_writes_;
    if (absl::Status s = DeleteBpfFilter(*socket_, it->second, "a set-match filter"); !s.ok()) {
      log_.Warn("set_match_delete_failed",
                {{"chain", it->second.chain}, {"prio", it->second.prio}, {"status", s}});
      if (first.ok()) first = s;
      ++it;
      continue;
    }
    it = installed_.erase(it);
  }
  return first;
}

}  // namespace vfguard::agent
