// Conntrack revocation: when the desired state changes, delete exactly the
// conntrack entries the new state no longer allows (as OpenStack's firewall
// driver does), so a revoked connection stops; flush the zone of a removed
// port; leave every still-allowed entry alone so its connection keeps
// flowing. docs/conntrack.md explains the rules and their reasons.
//
// Two layers:
// - EntryJudge / PlanRevocation: pure (no I/O). The judge asks the reference
//   evaluator (policy::Evaluate, empty conntrack) whether a NEW connection
//   with the entry's original tuple would be allowed by the new state; the
//   plan picks the zones whose owner's relevant inputs changed.
// - Revoke: runs a plan against a CtBackend (kernel or fake).
#ifndef VFGUARD_AGENT_CONNTRACK_REVOKER_H_
#define VFGUARD_AGENT_CONNTRACK_REVOKER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/ct_backend.h"
#include "netlink/conntrack.h"
#include "policy/model.h"
#include "policy/packet.h"
#include "policy/slots.h"

namespace vfguard::agent {

struct EntryDecision {
  bool keep = false;
  // Why: for a deletion, the check or rule that refused it (logged); for a
  // kept entry, the step that allowed it.
  std::string reason;
  // The original-direction frame that was evaluated, if one was built.
  std::optional<policy::Packet> packet;
};

// Judges the entries of one port's zone against a snapshot. Construction
// does the per-port work once (a copy of the snapshot with the port made
// active when it is not, so entries handed over to a migration destination
// are judged by the rules they will run under, not dropped for the port's
// state); Decide is then per entry. `snapshot` must be valid and `slots`
// must cover it; both must outlive the judge.
//
// The frame of the original direction is built as follows. If the original
// source is one of the port's own addresses (fixed IPs, VIPs, allowed pairs,
// and the IPv6 link-local of its MAC), the port initiated it: in = the port,
// source MAC = the port's MAC (or the MAC of the allowed pair that covers the
// source, when only such a pair does), destination MAC = the MAC of the
// active local port of the same network that owns the destination address,
// else a unicast MAC no port owns (so it goes to the uplink). The entry is
// kept iff the frame is delivered anywhere. Otherwise, if the destination is
// one of the port's addresses, the connection came to the port: in = the
// active local port of the same network that owns the source (with that
// port's source MAC), else the uplink (tagged with the network's VLAN on a
// VLAN network, source MAC owned by no port); destination MAC = the port's.
// The entry is kept iff a copy is delivered to the port. An entry where
// neither address is the port's, or whose family is unknown, is deleted.
class EntryJudge {
 public:
  EntryJudge(const policy::Snapshot& snapshot, const policy::SlotAssignment& slots,
             std::string port_id);

  // `entry.zone` is the zone it was dumped from. The port gone from the
  // snapshot, or a zone other than the port's: delete.
  EntryDecision Decide(const netlink::CtEntry& entry) const;

 private:
  const policy::Snapshot& snapshot_;
  const policy::SlotAssignment& slots_;
  std::string port_id_;
  const policy::Port* port_ = nullptr;         // in snapshot_, null when gone
  std::optional<policy::Snapshot> as_active_;  // snapshot_ with the port active
  policy::MacAddr unowned_mac_;                // a unicast MAC no port or pair uses
};

// Convenience: one entry, one judge.
EntryDecision DecideEntry(const policy::Snapshot& snapshot, const policy::SlotAssignment& slots,
                          std::string_view port_id, const netlink::CtEntry& entry);

// One zone to examine.
struct ZonePlan {
  uint16_t zone = 0;
  std::string port_id;  // the new owner (revalidate) or the old one (flush)
  bool flush = false;   // delete every entry (no owner in the new state)
  std::string why;      // "port a removed", "rules of group web changed", ...
  auto operator<=>(const ZonePlan&) const = default;
};

// The zones whose entries may have become disallowed, in zone order:
// - a zone no port holds any more: flush (its port was removed, or moved to
//   another zone);
// - a zone whose holder is new (a new port, or a zone reassigned): revalidate
//   every entry against the new holder;
// - a zone held by the same port before and after: revalidate when the port
//   itself changed (addresses, MAC, network, port security, its group list;
//   not its state or representor), its network changed, one of its groups
//   (before or after) changed, or a remote group referenced by one of those
//   groups' rules gained, lost or re-addressed a member.
// Empty when nothing relevant changed.
std::vector<ZonePlan> PlanRevocation(const policy::Snapshot& old_snapshot,
                                     const policy::Snapshot& new_snapshot,
                                     const policy::SlotAssignment& slots_old,
                                     const policy::SlotAssignment& slots_new);

struct ZoneRevocation {
  ZonePlan plan;
  size_t dumped = 0;    // entries found in the zone
  size_t deleted = 0;   // entries deleted now
  size_t vanished = 0;  // to delete, but already gone (NotFound)
  size_t kept = 0;      // still allowed
  // Each entry deleted (or vanished, or failed), with its reason.
  std::vector<std::pair<netlink::CtEntry, std::string>> deletions;
  absl::Status status;  // first backend error for this zone, if any
};

struct RevokeReport {
  std::vector<ZoneRevocation> zones;  // one per planned zone, in zone order
  size_t dump_calls = 0;              // DumpZones calls made (0 when nothing changed)

  bool ok() const;
  absl::Status FirstError() const;  // OK, or the first zone's error, naming the zone
  size_t TotalDeleted() const;
};

// Plans (PlanRevocation), dumps every planned zone in one DumpZones call
// (per zone if that fails, so one bad zone does not block the others),
// judges each entry against `new_snapshot`/`slots_new` and deletes the
// disallowed ones in one DeleteBatch. Backend failures do not stop other
// zones; they are in the report. Deleting is idempotent, so a caller that
// sees !ok() may run Revoke again later with the same arguments.
//
// Returns InvalidArgument (and touches nothing) when `slots_new` does not
// cover `new_snapshot` or `slots_old` does not cover `old_snapshot`.
//
// The agent calls it after the new pipeline is installed (so a connection
// revoked here cannot be re-committed by the old rules), with the snapshot
// and slots it replaced.
absl::StatusOr<RevokeReport> Revoke(const policy::Snapshot& old_snapshot,
                                    const policy::Snapshot& new_snapshot,
                                    const policy::SlotAssignment& slots_old,
                                    const policy::SlotAssignment& slots_new, CtBackend& backend);

// Conversions between ctnetlink addresses and policy addresses.
std::optional<policy::IpAddr> ToIpAddr(const netlink::CtAddress& a);
netlink::CtAddress ToCtAddress(const policy::IpAddr& a);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_CONNTRACK_REVOKER_H_
