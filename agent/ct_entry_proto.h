// Conntrack entries as the API carries them (api::v1::CtEntry: addresses as
// text, numbers as uint32) and as ctnetlink does (netlink::CtEntry). The
// agent converts at agent/service.h, so api/ never sees a netlink type.
#ifndef VFGUARD_AGENT_CT_ENTRY_PROTO_H_
#define VFGUARD_AGENT_CT_ENTRY_PROTO_H_

#include <vector>

#include "absl/status/statusor.h"
#include "api/api.pb.h"
#include "netlink/conntrack.h"

namespace vfguard::agent {

api::v1::CtEntry CtEntryToProto(const netlink::CtEntry& entry);

// Every entry of an import, checked whole: InvalidArgument naming the first
// bad field ("entries[0].orig.dst: \"nope\" is not an IP address",
// "entries[0].orig.src_port: 70000 is above 65535"). Zones are left 0 (the
// agent sets the port's).
absl::StatusOr<std::vector<netlink::CtEntry>> CtEntriesFromProto(
    const api::v1::ConntrackImport& import);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_CT_ENTRY_PROTO_H_
