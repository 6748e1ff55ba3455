// devlink over generic netlink: resolve the family, read a device's eswitch
// mode, dump ports (flavour, PF/VF numbers, netdev), and decode port events
// from the "config" multicast group. Plain devlink types; no policy type.
#ifndef VFGUARD_NETLINK_DEVLINK_H_
#define VFGUARD_NETLINK_DEVLINK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "netlink/nl_socket.h"

namespace vfguard::netlink {

struct GenlFamily {
  uint16_t id = 0;
  std::map<std::string, uint32_t> multicast_groups;  // name -> group id
};

enum class PortFlavour : uint16_t {  // DEVLINK_PORT_FLAVOUR_*
  kPhysical = 0,
  kCpu = 1,
  kDsa = 2,
  kPciPf = 3,
  kPciVf = 4,
  kVirtual = 5,
  kUnused = 6,
  kPciSf = 7,
};

struct DevlinkPort {
  std::string bus;     // "pci"
  std::string device;  // "0000:03:00.0"
  uint32_t index = 0;
  std::optional<PortFlavour> flavour;
  std::optional<uint16_t> pf;
  std::optional<uint16_t> vf;
  std::optional<uint32_t> netdev_ifindex;
  std::string netdev_name;
  bool operator==(const DevlinkPort&) const = default;
};

enum class EswitchMode : uint16_t { kLegacy = 0, kSwitchdev = 1 };

struct DevlinkPortEvent {
  bool removed = false;  // DEVLINK_CMD_PORT_DEL (else PORT_NEW or PORT_SET)
  DevlinkPort port;
};

// CTRL_CMD_GETFAMILY for `name`, and its reply.
Message EncodeGetFamily(const std::string& name);
absl::StatusOr<GenlFamily> DecodeFamily(absl::Span<const uint8_t> message);
// DEVLINK_CMD_PORT_GET (dump) and DEVLINK_CMD_ESWITCH_GET.
Message EncodePortDump(uint16_t family);
Message EncodeEswitchGet(uint16_t family, const std::string& bus, const std::string& device);
// One port message (a dump part or a DEVLINK_CMD_PORT_NEW/DEL event).
absl::StatusOr<DevlinkPort> DecodePort(absl::Span<const uint8_t> message);
absl::StatusOr<EswitchMode> DecodeEswitchMode(absl::Span<const uint8_t> message);
// A message from the "config" group: the port event it carries, nullopt for
// devlink events that are not about ports (or another family's messages),
// an error for a malformed port event.
absl::StatusOr<std::optional<DevlinkPortEvent>> DecodePortEvent(uint16_t family,
                                                                absl::Span<const uint8_t> message);

// Blocking conveniences over a NETLINK_GENERIC NetlinkSocket.
class Devlink {
 public:
  static absl::StatusOr<Devlink> Resolve(NetlinkSocket& socket);
  absl::StatusOr<std::vector<DevlinkPort>> Ports();
  absl::StatusOr<EswitchMode> Mode(const std::string& bus, const std::string& device);
  // Joins the "config" group and routes port events to `handler` (malformed
  // ones to `on_error`). Takes over the socket's event handler, so use a
  // socket of its own for events.
  absl::Status WatchPorts(std::function<void(const DevlinkPortEvent&)> handler,
                          std::function<void(const absl::Status&)> on_error = nullptr);
  const GenlFamily& family() const { return family_; }

 private:
  Devlink(NetlinkSocket& socket, GenlFamily family)
      : socket_(&socket), family_(std::move(family)) {}
  NetlinkSocket* socket_;
  GenlFamily family_;
};

}  // namespace vfguard::netlink

#endif  // VFGUARD_NETLINK_DEVLINK_H_
