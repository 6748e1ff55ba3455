// A tc notification (RTNLGRP_TC) decoded for the question the agent asks of
// it: did the reconciler's own writes cause it? (Reconciler::ExplainsEvent.)
// The reactor decodes it and keeps only the compact TcNote, which waits in
// a TcNoteQueue (agent/tc_note_queue.h) until the worker judges it.
#ifndef VFGUARD_AGENT_TC_EVENT_H_
#define VFGUARD_AGENT_TC_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "agent/installed_set.h"
#include "netlink/qdisc_codec.h"
#include "netlink/tc_types.h"

namespace vfguard::agent {

struct TcEvent {
  enum class Kind : uint8_t {
    kFilter,           // a flower filter created/replaced or deleted
    kOtherClassifier,  // a filter of another classifier (the activation BPF hook)
    kQdisc,            // a qdisc created or deleted
    kOther,            // anything else (chains, actions): not the reconciler's
  };
  Kind kind = Kind::kOther;
  bool deleted = false;  // RTM_DEL*
  // kFilter: the filter; nullopt for a record without a handle (a whole prio
  // or chain went away).
  std::optional<netlink::FlowerFilter> filter;
  netlink::QdiscInfo qdisc;  // kQdisc
};

// What the judgement needs of an event, and no more (48 bytes instead of a
// decoded filter of ~500): every filter the agent writes comes back as one,
// so a pass of N writes queues N of them while the worker is busy.
struct TcNote {
  enum class Kind : uint8_t {
    kIgnored,      // nothing the reconciler manages: another classifier, qdisc or object
    kFilter,       // a flower filter created/replaced or deleted
    kPrioGone,     // a record without a handle: a whole prio or chain went away
    kClsact,       // a clsact qdisc created or deleted
    kUndecodable,  // did not decode: judged as drift
  };
  Kind kind = Kind::kUndecodable;
  bool deleted = false;
  uint32_t ifindex = 0;        // kClsact
  uint32_t ingress_block = 0;  // kClsact
  FilterKey key;               // kFilter, kPrioGone (its owner)
  uint64_t content = 0;        // kFilter: ContentHash (agent/filter_hash.h)
};

// Hashes the filter of a kFilter event (an encode: microseconds).
TcNote NoteOf(const TcEvent& event);

// Errors: a filter or qdisc message that does not decode.
absl::StatusOr<TcEvent> DecodeTcEvent(absl::Span<const uint8_t> msg);

// The classifier kind (TCA_KIND) of an RTM_{NEW,DEL}TFILTER message; empty
// when it has none (the per-prio records a dump interleaves) or the message
// is not a filter.
std::string FilterKind(absl::Span<const uint8_t> msg);

}  // namespace vfguard::agent

#endif  // VFGUARD_AGENT_TC_EVENT_H_
