#include "agent/activation_hook.h"

#include <array>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/bpf_filter_attach.h"
#include "agent/bpf_hook_setup.h"
#include "netlink/bpf_filter_codec.h"

namespace vfguard::agent {
namespace {

constexpr uint32_t kHookChain = 0;
constexpr uint16_t kHookPrio = 1;  // policy::Chains::kHookPrio
constexpr uint32_t kHookHandle = 1;

bool Covered(const policy::Port& port, const policy::IpAddr& ip) {
  for (const policy::IpPrefix& p : policy::PortAddressPrefixes(port)) {
    if (p.Contains(ip)) return true;
  }
  return ip.family == policy::IpFamily::kV6 && ip == policy::IpAddr::LinkLocalFromMac(port.mac);
}

}  // namespace

absl::Status CheckActivation(const policy::Port& port, const offload::ActivationEvent& event) {
  if (event.mac != port.mac.bytes) {
    return absl::PermissionDeniedError(absl::StrCat("source MAC ",
                                                    policy::MacAddr{event.mac}.ToString(),
                                                    " is not the port's ", port.mac.ToString()));
  }
  if (event.ip_version == 0) return absl::OkStatus();  // RARP
  policy::IpAddr ip;
  ip.family = event.ip_version == 4 ? policy::IpFamily::kV4 : policy::IpFamily::kV6;
  const size_t n = event.ip_version == 4 ? 4 : 16;
  for (size_t i = 0; i < n; ++i) ip.bytes[i] = event.ip[i];
  if (!Covered(port, ip)) {
    return absl::PermissionDeniedError(
        absl::StrCat("address ", ip.ToString(), " is not one of the port's"));
  }
  return absl::OkStatus();
}

ActivationHook::ActivationHook(uint32_t block, common::Logger& log, Handler handler)
    : block_(block), log_(log), handler_(std::move(handler)) {}

ActivationHook::~ActivationHook() = default;

absl::StatusOr<std::unique_ptr<ActivationHook>> ActivationHook::Create(boost::asio::io_context& io,
                                                                       uint32_t block,
                                                                       common::Logger& log,
                                                                       Handler handler) {
  std::unique_ptr<ActivationHook> hook(new ActivationHook(block, log, std::move(handler)));
  ActivationHook* self = hook.get();
  auto load = [&io, self] {
    return offload::ActivationMonitor::Create(io, [self](const offload::ActivationEvent& e) {
      auto it = self->cookies_.find(e.cookie);
      if (it == self->cookies_.end()) return;  // unwatched meanwhile
      self->handler_(it->second, e);
    });
  };
  absl::Status s = SetUpBpfHook(load, hook->private_io_, hook->monitor_, hook->socket_);
  if (!s.ok()) return s;
  return hook;
}

absl::Status ActivationHook::Attach() {
  netlink::BpfFilter f;
  f.owner = netlink::TcBlock{block_};
  f.chain = kHookChain;
  f.prio = kHookPrio;
  f.handle = kHookHandle;
  f.prog_fd = monitor_->prog_fd();
  f.name = offload::ActivationMonitor::kProgramName;
  if (absl::Status s = AttachBpfFilter(*socket_, f, "the activation hook"); !s.ok()) return s;
  attached_ = true;
  log_.Info("activation_hook_attached", {{"block", block_}, {"prio", kHookPrio}});
  return absl::OkStatus();
}

absl::Status ActivationHook::Sync(const std::map<std::string, uint32_t>& pending) {
  if (!pending.empty() && !attached_) {
    if (absl::Status s = Attach(); !s.ok()) return s;
  }
  absl::Status first;
  for (auto it = watched_.begin(); it != watched_.end();) {
    auto want = pending.find(it->first);
    if (want != pending.end() && want->second == it->second) {
      ++it;
      continue;
    }
    if (absl::Status s = monitor_->Unwatch(it->second); !s.ok() && first.ok()) first = s;
    std::erase_if(cookies_, [&](const auto& kv) { return kv.second == it->first; });
    it = watched_.erase(it);
  }
  for (const auto& [port, ifindex] : pending) {
    if (watched_.contains(port)) continue;
    const uint32_t cookie = next_cookie_++;
    if (absl::Status s = monitor_->Watch(ifindex, cookie); !s.ok()) {
      if (first.ok()) first = s;
      continue;
    }
    watched_[port] = ifindex;
    cookies_[cookie] = port;
    log_.Info("activation_watch", {{"port", port}, {"ifindex", ifindex}});
  }
  return first;
}

}  // namespace vfguard::agent
