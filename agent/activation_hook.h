// Live-migration activation in the agent: the activation BPF program
// (offload/activation_monitor.h) attached as a cls_bpf hook at chain 0 prio
// 1 of the shared block, watching the representors of pending-activation
// ports, and the decision that an event really is the port's VM announcing
// itself.
//
// The hook is attached only while some port is pending, so an agent without
// migrations never writes it (and a restart with nothing pending stays
// hitless). It is replaced when attached again, because each agent process
// loads its own program and map: the program an earlier process attached
// would report into a map nobody reads.
#ifndef VFGUARD_AGENT_ACTIVATION_HOOK_H_
#define VFGUARD_AGENT_ACTIVATION_HOOK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "common/log.h"
#include "netlink/nl_socket.h"
#include "offload/activation_monitor.h"
#include "policy/model.h"

namespace vfguard::agent {

// Whether `event` is a frame the port's VM sends after a migration: its
// source MAC is the port's MAC, and for GARP / unsolicited NA the address is
// one of the port's own (fixed IPs, VIPs, allowed pairs; the MAC's IPv6
// link-local for NA). RARP carries no address. Returns the reason on refusal.
absl::Status CheckActivation(const policy::Port& port, const offload::ActivationEvent& event);

class ActivationHook {
 public:
  // Port id the event belongs to, and the event.
  using Handler = std::function<void(const std::string& port_id, const offload::ActivationEvent&)>;

  // Loads the program; errors (no CAP_BPF, no BPF) leave activation to the
  // API only, which the caller logs.
  static absl::StatusOr<std::unique_ptr<ActivationHook>> Create(boost::asio::io_context& io,
                                                                uint32_t block, common::Logger& log,
                                                                Handler handler);
  ~ActivationHook();

  // Makes the watched set equal `pending` (port id -> representor ifindex),
  // attaching the hook the first time the set is not empty.
  absl::Status Sync(const std::map<std::string, uint32_t>& pending);

 private:
  ActivationHook(uint32_t block, common::Logger& log, Handler handler);
  absl::Status Attach();

  uint32_t block_;
  common::Logger& log_;
  Handler handler_;
  std::unique_ptr<offload::ActivationMonitor> monitor_;
  boost::asio::io_context private_io_;  // for the attach request only
  std::unique_ptr<netlink::NetlinkSocket> socket_;
  bool attached_ = false;
  std::map<std::string, uint32_t> watched_;  // port id -> ifindex
  std::map<uint32_t, std::string> cookies_;  // cookie -> port id
  uint32_t next_cookie_ = 1;
};

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_ACTIVATION_HOOK_H_
