// The reconciler's hardware offers: the probe per device set, the offers of
// new filters and the offer book (agent/reconciler.h).
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/filter_hash.h"
#include "agent/reconciler.h"
#include "netlink/errno_status.h"
#include "netlink/tc_codec.h"

namespace vfguard::agent {
namespace {

using netlink::FlowerFilter;
using offload::Copy;

TcOp FilterOp(TcOp::Kind kind, FlowerFilter f) {
  TcOp op;
  op.kind = kind;
  op.filter = std::move(f);
  return op;
}

bool IsTrap(const policy::Filter& f) {
  return f.actions.size() == 1 && f.actions[0].kind == policy::Action::Kind::kTrap;
}

// The probe's prio in chain 0: far from the compiler's (which start at 2).
constexpr uint16_t kProbePrio = 0xfff0;
constexpr char kBlockWideMessage[] =
    "a device in the block cannot offload tc filters (refused before any driver was asked)";

// EOPNOTSUPP without an extack: no driver was asked (see the probe).
bool IsBlockWideRefusal(const absl::Status& s) {
  return !s.ok() && netlink::ErrnoFromStatus(s) == EOPNOTSUPP &&
         netlink::ExtackFromStatus(s).empty();
}

absl::Status BlockWideRefusal() { return netlink::ErrnoStatus(EOPNOTSUPP, ""); }

HardwareRejection AnswerOf(const std::string& key, const absl::Status& s) {
  HardwareRejection answer{key, netlink::ErrnoFromStatus(s), netlink::ExtackFromStatus(s)};
  if (!s.ok() && answer.error_number == 0) answer.error_number = EIO;
  if (IsBlockWideRefusal(s)) {
    answer.message = kBlockWideMessage;
  } else if (!s.ok() && answer.message.empty()) {
    answer.message = std::string(s.message());
  }
  return answer;
}

absl::Status StatusOfAnswer(const HardwareRejection& answer) {
  if (answer.error_number == 0) return absl::OkStatus();
  return netlink::ErrnoStatus(answer.error_number, answer.message);
}

}  // namespace

std::string OfferKey(const FlowerFilter& hardware_copy) {
  // A 64-bit content hash (deterministic across processes, see
  // agent/filter_hash.h) instead of the filter's text: the offer book is kept
  // in memory and in the checkpoint once per filter. Books checkpointed with
  // the older text keys match nothing, so an upgrade costs one round of
  // offers, after which Retain drops the old keys.
  return HashHex(ContentHash(netlink::WithoutStatus(hardware_copy)));
}

OfferBook::OfferBook(const std::vector<HardwareRejection>& entries) {
  for (const HardwareRejection& e : entries) entries_[e.filter_key] = e;
}

std::vector<HardwareRejection> OfferBook::Entries() const {
  std::vector<HardwareRejection> out;
  out.reserve(entries_.size());
  for (const auto& [key, e] : entries_) out.push_back(e);
  return out;
}

const HardwareRejection* OfferBook::Find(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

void OfferBook::Retain(const std::set<std::string>& live) {
  std::erase_if(entries_, [&](const auto& kv) { return !live.contains(kv.first); });
}

void Reconciler::Undo(const std::vector<TcOp>& deletes, ReconcileReport& report) {
  // Offers live only inside a pass: their create and delete echo back as tc
  // events after it, which ExplainsEvent recognises by these keys.
  for (const TcOp& op : deletes) transient_.insert({KeyOf(op.filter), ContentHash(op.filter)});
  std::vector<absl::Status> results = ApplyCounted(deletes, report);
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok() || netlink::ErrnoFromStatus(results[i]) == ENOENT) continue;
    // An offer may have stayed installed: only an audit (a dump) can tell.
    log_.Warn("offer_undo_failed", {{"chain", deletes[i].filter.chain},
                                    {"prio", deletes[i].filter.prio},
                                    {"handle", deletes[i].filter.handle},
                                    {"status", results[i]}});
    installed_.RequestAudit();
  }
}

bool Reconciler::ProbeBlockRefusesOffload(const EswitchView& view, OfferBook& offers,
                                          ReconcileReport& report) {
  // A block with a device that cannot offload at all (veth, a NIC with
  // hw-tc-offload off) refuses every skip_sw filter before any driver is
  // asked (tc_setup_cb_add: nooffloaddevcnt), as EOPNOTSUPP without an
  // extack. One probe per device set tells; its answer is kept in the offer
  // book like any other, so a restart does not probe again.
  std::string key = absl::StrCat("probe block ", block_, " devices");
  if (view.uplink) absl::StrAppend(&key, " ", view.uplink->ifindex);
  for (const auto& [port, dev] : view.port_representors) absl::StrAppend(&key, " ", dev.ifindex);
  used_offers_.insert(key);
  if (const HardwareRejection* known = offers.Find(key)) {
    return known->error_number == EOPNOTSUPP && known->message == kBlockWideMessage;
  }
  FlowerFilter probe;
  probe.owner = netlink::TcBlock{block_};
  probe.chain = 0;
  probe.prio = kProbePrio;
  probe.handle = offload::kTrapHandle;
  probe.skip_sw = true;
  probe.actions = {netlink::TcAction{netlink::GactAction{netlink::GactAction::Verdict::kDrop}}};
  ++report.offers;
  std::vector<absl::Status> r = ApplyCounted({FilterOp(TcOp::Kind::kCreateFilter, probe)}, report);
  if (r[0].ok()) Undo({FilterOp(TcOp::Kind::kDeleteFilter, probe)}, report);
  const bool refuses = IsBlockWideRefusal(r[0]);
  offers.Record(AnswerOf(key, r[0]));
  log_.Info("hw_probe", {{"block", block_}, {"offload", !refuses}, {"answer", r[0]}});
  return refuses;
}

void Reconciler::PreOffer(const policy::SharedPipeline& pipeline,
                          const offload::DeviceResolver& devices, OfferBook& offers,
                          ReconcileReport& report) {
  if (block_refuses_offload_) return;  // every answer is the probe's (MakeOffer)
  std::vector<TcOp> creates;
  std::vector<std::string> keys;
  std::set<std::string> batched;
  for (const policy::Filter* filter : pipeline.filters) {
    const policy::Filter& f = *filter;
    if (offload::NeverInHardware(f)) continue;  // placement never asks for these
    absl::StatusOr<FlowerFilter> hw = offload::ToKernelFilter(f, block_, Copy::kHardware, devices);
    if (!hw.ok()) continue;  // reported when the slow-path copy fails the same way
    std::string key = OfferKey(*hw);
    used_offers_.insert(key);
    if (offers.Find(key) != nullptr || !batched.insert(key).second) continue;
    keys.push_back(std::move(key));
    creates.push_back(FilterOp(TcOp::Kind::kCreateFilter, std::move(*hw)));
  }
  if (creates.empty()) return;
  std::vector<absl::Status> results;
  if (block_refuses_offload_) {
    results.assign(creates.size(), BlockWideRefusal());
  } else {
    results = ApplyCounted(creates, report);
    report.offers += static_cast<int>(creates.size());
  }
  std::vector<TcOp> undo;
  int refused = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    HardwareRejection answer = AnswerOf(keys[i], results[i]);
    if (results[i].ok()) {
      undo.push_back(FilterOp(TcOp::Kind::kDeleteFilter, creates[i].filter));
    } else {
      ++refused;
    }
    offers.Record(std::move(answer));
  }
  Undo(undo, report);
  if (refused > 0) {
    log_.Info("hw_offers", {{"new_filters", creates.size()},
                            {"refused", refused},
                            {"block_wide", block_refuses_offload_},
                            {"first_error", results[0]}});
  }
}

absl::Status Reconciler::BlockWideAnswer() {
  return StatusOfAnswer(AnswerOf("", BlockWideRefusal()));
}

offload::OfferFn Reconciler::MakeOffer(const offload::DeviceResolver& devices, OfferBook& offers,
                                       ReconcileReport& report) {
  // A block that refuses offload refuses every filter the same way: no need
  // to translate and key each one (the cold install's per-filter overhead),
  // nor to keep a book entry per filter beside the probe's.
  const absl::Status block_wide = BlockWideAnswer();
  return [this, &devices, &offers, &report, block_wide](const policy::Filter& f) -> absl::Status {
    if (block_refuses_offload_) return block_wide;
    absl::StatusOr<FlowerFilter> hw =
        offload::ToKernelFilter(f, block_, IsTrap(f) ? Copy::kTrap : Copy::kHardware, devices);
    if (!hw.ok()) return hw.status();
    std::string key = OfferKey(*hw);
    used_offers_.insert(key);
    if (const HardwareRejection* known = offers.Find(key)) return StatusOfAnswer(*known);
    if (block_refuses_offload_) {
      HardwareRejection answer = AnswerOf(key, BlockWideRefusal());
      offers.Record(answer);
      return StatusOfAnswer(answer);
    }
    ++report.offers;
    std::vector<absl::Status> r = ApplyCounted({FilterOp(TcOp::Kind::kCreateFilter, *hw)}, report);
    if (r[0].ok()) Undo({FilterOp(TcOp::Kind::kDeleteFilter, *hw)}, report);
    HardwareRejection answer = AnswerOf(key, r[0]);
    offers.Record(answer);
    return StatusOfAnswer(answer);
  };
}

}  // namespace vfguard::agent
