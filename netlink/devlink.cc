#include "netlink/devlink.h"

#include <libmnl/libmnl.h>
#include <linux/devlink.h>
#include <linux/genetlink.h>

#include <cstring>
#include <functional>

#include "absl/strings/str_cat.h"
#include "netlink/tc_wire.h"

namespace vfguard::netlink {
namespace {

nlmsghdr* PutGenl(Message& buf, uint16_t family, uint8_t cmd, uint16_t flags, uint8_t version) {
  buf.assign(512, 0);
  nlmsghdr* h = mnl_nlmsg_put_header(buf.data());
  h->nlmsg_type = family;
  h->nlmsg_flags = flags;
  auto* g = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(h, sizeof(genlmsghdr)));
  g->cmd = cmd;
  g->version = version;
  return h;
}

Message Finish(Message& buf, const nlmsghdr* h) {
  buf.resize(h->nlmsg_len);
  return buf;
}

absl::Status WalkMessage(absl::Span<const uint8_t> m,
                         const std::function<absl::Status(uint16_t, const nlattr*)>& f) {
  if (m.size() < NLMSG_HDRLEN + GENL_HDRLEN) return absl::DataLossError("genetlink: too short");
  const auto* h = reinterpret_cast<const nlmsghdr*>(m.data());
  if (h->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN || h->nlmsg_len > m.size()) {
    return absl::DataLossError("genetlink: bad nlmsg_len");
  }
  size_t start = NLMSG_HDRLEN + GENL_HDRLEN;
  return tc_wire::ForEachAttr(m.data() + start, h->nlmsg_len - start, "genetlink message", f);
}

template <typename T>
absl::StatusOr<T> Fixed(const nlattr* a) {
  if (mnl_attr_get_payload_len(a) < sizeof(T)) return absl::DataLossError("short attribute");
  T v;
  memcpy(&v, mnl_attr_get_payload(a), sizeof(T));
  return v;
}

std::string Str(const nlattr* a) {
  const char* s = static_cast<const char*>(mnl_attr_get_payload(a));
  return std::string(s, strnlen(s, mnl_attr_get_payload_len(a)));
}

// How each devlink port attribute lands in DevlinkPort.
struct PortField {
  uint16_t type;
  std::function<absl::Status(const nlattr*, DevlinkPort&)> set;
};

template <typename T, typename Field>
std::function<absl::Status(const nlattr*, DevlinkPort&)> SetFixed(Field field) {
  return [field](const nlattr* a, DevlinkPort& p) -> absl::Status {
    auto v = Fixed<T>(a);
    if (!v.ok()) return v.status();
    field(p, *v);
    return absl::OkStatus();
  };
}

const std::vector<PortField>& PortFields() {
  static const std::vector<PortField> kFields = {
      {DEVLINK_ATTR_BUS_NAME,
       [](const nlattr* a, DevlinkPort& p) {
         p.bus = Str(a);
         return absl::OkStatus();
       }},
      {DEVLINK_ATTR_DEV_NAME,
       [](const nlattr* a, DevlinkPort& p) {
         p.device = Str(a);
         return absl::OkStatus();
       }},
      {DEVLINK_ATTR_PORT_INDEX,
       SetFixed<uint32_t>([](DevlinkPort& p, uint32_t v) { p.index = v; })},
      {DEVLINK_ATTR_PORT_FLAVOUR, SetFixed<uint16_t>([](DevlinkPort& p, uint16_t v) {
         p.flavour = static_cast<PortFlavour>(v);
       })},
      {DEVLINK_ATTR_PORT_PCI_PF_NUMBER,
       SetFixed<uint16_t>([](DevlinkPort& p, uint16_t v) { p.pf = v; })},
      {DEVLINK_ATTR_PORT_PCI_VF_NUMBER,
       SetFixed<uint16_t>([](DevlinkPort& p, uint16_t v) { p.vf = v; })},
      {DEVLINK_ATTR_PORT_NETDEV_IFINDEX,
       SetFixed<uint32_t>([](DevlinkPort& p, uint32_t v) { p.netdev_ifindex = v; })},
      {DEVLINK_ATTR_PORT_NETDEV_NAME,
       [](const nlattr* a, DevlinkPort& p) {
         p.netdev_name = Str(a);
         return absl::OkStatus();
       }},
  };
  return kFields;
}

}  // namespace

Message EncodeGetFamily(const std::string& name) {
  Message buf;
  nlmsghdr* h = PutGenl(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0, 1);
  mnl_attr_put_strz(h, CTRL_ATTR_FAMILY_NAME, name.c_str());
  return Finish(buf, h);
}

absl::StatusOr<GenlFamily> DecodeFamily(absl::Span<const uint8_t> message) {
  GenlFamily family;
  absl::Status st = WalkMessage(message, [&](uint16_t type, const nlattr* a) -> absl::Status {
    if (type == CTRL_ATTR_FAMILY_ID) {
      auto v = Fixed<uint16_t>(a);
      if (!v.ok()) return v.status();
      family.id = *v;
    } else if (type == CTRL_ATTR_MCAST_GROUPS) {
      return tc_wire::ForEachNested(
          a, "CTRL_ATTR_MCAST_GROUPS", [&](uint16_t, const nlattr* group) {
            std::string name;
            std::optional<uint32_t> id;
            absl::Status inner =
                tc_wire::ForEachNested(group, "CTRL_ATTR_MCAST_GROUPS entry",
                                       [&](uint16_t t, const nlattr* g) -> absl::Status {
                                         if (t == CTRL_ATTR_MCAST_GRP_NAME) name = Str(g);
                                         if (t == CTRL_ATTR_MCAST_GRP_ID) {
                                           auto v = Fixed<uint32_t>(g);
                                           if (!v.ok()) return v.status();
                                           id = *v;
                                         }
                                         return absl::OkStatus();
                                       });
            if (!inner.ok()) return inner;
            if (id && !name.empty()) family.multicast_groups[name] = *id;
            return absl::OkStatus();
          });
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  if (family.id == 0) return absl::NotFoundError("genetlink: reply without a family id");
  return family;
}

Message EncodePortDump(uint16_t family) {
  Message buf;
  nlmsghdr* h = PutGenl(buf, family, DEVLINK_CMD_PORT_GET, NLM_F_DUMP, DEVLINK_GENL_VERSION);
  return Finish(buf, h);
}

Message EncodeEswitchGet(uint16_t family, const std::string& bus, const std::string& device) {
  Message buf;
  nlmsghdr* h = PutGenl(buf, family, DEVLINK_CMD_ESWITCH_GET, 0, DEVLINK_GENL_VERSION);
  mnl_attr_put_strz(h, DEVLINK_ATTR_BUS_NAME, bus.c_str());
  mnl_attr_put_strz(h, DEVLINK_ATTR_DEV_NAME, device.c_str());
  return Finish(buf, h);
}

absl::StatusOr<DevlinkPort> DecodePort(absl::Span<const uint8_t> message) {
  DevlinkPort port;
  bool has_index = false;
  absl::Status st = WalkMessage(message, [&](uint16_t type, const nlattr* a) -> absl::Status {
    for (const PortField& f : PortFields()) {
      if (f.type != type) continue;
      if (type == DEVLINK_ATTR_PORT_INDEX) has_index = true;
      return f.set(a, port);
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  if (!has_index || port.bus.empty()) {
    return absl::DataLossError("devlink: port message without bus or index");
  }
  return port;
}

absl::StatusOr<EswitchMode> DecodeEswitchMode(absl::Span<const uint8_t> message) {
  std::optional<uint16_t> mode;
  absl::Status st = WalkMessage(message, [&](uint16_t type, const nlattr* a) -> absl::Status {
    if (type != DEVLINK_ATTR_ESWITCH_MODE) return absl::OkStatus();
    auto v = Fixed<uint16_t>(a);
    if (!v.ok()) return v.status();
    mode = *v;
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  if (!mode) return absl::DataLossError("devlink: reply without eswitch mode");
  return static_cast<EswitchMode>(*mode);
}

absl::StatusOr<std::optional<DevlinkPortEvent>> DecodePortEvent(uint16_t family,
                                                                absl::Span<const uint8_t> message) {
  if (message.size() < NLMSG_HDRLEN + GENL_HDRLEN)
    return absl::DataLossError("genetlink: too short");
  const auto* h = reinterpret_cast<const nlmsghdr*>(message.data());
  if (h->nlmsg_type != family) return std::optional<DevlinkPortEvent>();
  const auto* g = reinterpret_cast<const genlmsghdr*>(message.data() + NLMSG_HDRLEN);
  if (g->cmd != DEVLINK_CMD_PORT_NEW && g->cmd != DEVLINK_CMD_PORT_DEL &&
      g->cmd != DEVLINK_CMD_PORT_SET) {
    return std::optional<DevlinkPortEvent>();
  }
  auto port = DecodePort(message);
  if (!port.ok()) return port.status();
  return std::optional<DevlinkPortEvent>(
      DevlinkPortEvent{g->cmd == DEVLINK_CMD_PORT_DEL, std::move(*port)});
}

absl::StatusOr<Devlink> Devlink::Resolve(NetlinkSocket& socket) {
  auto parts = socket.RequestSync(EncodeGetFamily(DEVLINK_GENL_NAME));
  if (!parts.ok()) return parts.status();
  for (const Message& m : *parts) {
    auto family = DecodeFamily(m);
    if (family.ok()) return Devlink(socket, *family);
  }
  return absl::NotFoundError("genetlink: no devlink family in the reply");
}

absl::StatusOr<std::vector<DevlinkPort>> Devlink::Ports() {
  auto parts = socket_->DumpWithRetry(EncodePortDump(family_.id));
  if (!parts.ok()) return parts.status();
  std::vector<DevlinkPort> out;
  for (const Message& m : *parts) {
    auto p = DecodePort(m);
    if (!p.ok()) return p.status();
    out.push_back(*p);
  }
  return out;
}

absl::StatusOr<EswitchMode> Devlink::Mode(const std::string& bus, const std::string& device) {
  auto parts = socket_->RequestSync(EncodeEswitchGet(family_.id, bus, device));
  if (!parts.ok()) return parts.status();
  for (const Message& m : *parts) return DecodeEswitchMode(m);
  return absl::NotFoundError(absl::StrCat("devlink: no eswitch reply for ", bus, "/", device));
}

absl::Status Devlink::WatchPorts(std::function<void(const DevlinkPortEvent&)> handler,
                                 std::function<void(const absl::Status&)> on_error) {
  auto group = family_.multicast_groups.find(DEVLINK_GENL_MCGRP_CONFIG_NAME);
  if (group == family_.multicast_groups.end()) {
    return absl::NotFoundError("devlink: family has no \"config\" multicast group");
  }
  uint16_t family = family_.id;
  socket_->SetEventHandler(
      [family, handler = std::move(handler), on_error = std::move(on_error)](const nlmsghdr& h) {
        absl::Span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(&h), h.nlmsg_len);
        auto event = DecodePortEvent(family, bytes);
        if (!event.ok()) {
          if (on_error) on_error(event.status());
        } else if (event->has_value()) {
          handler(**event);
        }
      });
  return socket_->Subscribe(group->second);
}

}  // namespace vfguard::netlink
