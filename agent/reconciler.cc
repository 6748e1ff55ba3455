#include "agent/reconciler.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/tc_errno_status.h"
#include "netlink/nl_socket.h"
#include "netlink/tc_codec.h"

namespace vfguard::agent {
namespace {

using netlink::FlowerFilter;
using offload::Copy;

FilterKey KeyOf(const FlowerFilter& f) { return {f.chain, f.prio, f.handle}; }

const char* OpName(TcOp::Kind k) {
  switch (k) {
    case TcOp::Kind::kCreateClsact:
      return "create_clsact";
    case TcOp::Kind::kDeleteClsact:
      return "delete_clsact";
    case TcOp::Kind::kCreateFilter:
      return "create_filter";
    case TcOp::Kind::kReplaceFilter:
      return "replace_filter";
    case TcOp::Kind::kDeleteFilter:
      return "delete_filter";
  }
  return "?";
}

TcOp FilterOp(TcOp::Kind kind, FlowerFilter f) {
  TcOp op;
  op.kind = kind;
  op.filter = std::move(f);
  return op;
}

TcOp QdiscOp(TcOp::Kind kind, uint32_t ifindex, uint32_t block) {
  TcOp op;
  op.kind = kind;
  op.qdisc = netlink::ClsactQdisc{ifindex, block};
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

absl::Status BlockWideRefusal() { return TcErrnoStatus(EOPNOTSUPP, ""); }

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
  return TcErrnoStatus(answer.error_number, answer.message);
}

// What flower cannot change in place: protocol, skip flags and the key
// layout (which keys, under which masks), values left out.
struct Shape {
  uint16_t protocol = 0;
  bool skip_hw = false;
  bool skip_sw = false;
  netlink::FlowerKeys masks;
  auto operator<=>(const Shape&) const = default;
};

Shape ShapeOf(const FlowerFilter& f) {
  return Shape{f.protocol, f.skip_hw, f.skip_sw, netlink::KeyLayout(f.keys)};
}

}  // namespace

std::string OfferKey(const FlowerFilter& hardware_copy) {
  return netlink::DebugString(netlink::WithoutStatus(hardware_copy));
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

Reconciler::Reconciler(TcBackend& tc, Logger& log, uint32_t block_index)
    : tc_(tc), log_(log), block_(block_index) {}

std::vector<absl::Status> Reconciler::ApplyCounted(const std::vector<TcOp>& ops,
                                                   ReconcileReport& report) {
  if (ops.empty()) return {};
  std::vector<absl::Status> results = tc_.Apply(ops);
  report.writes += static_cast<int>(ops.size());
  return results;
}

absl::Status Reconciler::SyncQdiscs(const EswitchView& view, ReconcileReport& report,
                                    std::vector<TcOp>& late_deletes) {
  absl::StatusOr<std::map<uint32_t, uint32_t>> current = tc_.DumpClsact();
  if (!current.ok()) return current.status();
  std::map<uint32_t, std::string> wanted;  // ifindex -> name
  if (view.uplink) wanted[view.uplink->ifindex] = view.uplink->name;
  for (const auto& [port, dev] : view.port_representors) wanted[dev.ifindex] = dev.name;

  std::vector<TcOp> ops;
  for (const auto& [ifindex, name] : wanted) {
    auto it = current->find(ifindex);
    if (it != current->end() && it->second == block_) continue;
    if (it != current->end()) {
      log_.Warn("clsact_rebound", {{"dev", name}, {"old_block", it->second}, {"block", block_}});
      ops.push_back(QdiscOp(TcOp::Kind::kDeleteClsact, ifindex, 0));
    }
    ops.push_back(QdiscOp(TcOp::Kind::kCreateClsact, ifindex, block_));
  }
  for (const auto& [ifindex, block] : *current) {
    if (block == block_ && !wanted.contains(ifindex)) {
      late_deletes.push_back(QdiscOp(TcOp::Kind::kDeleteClsact, ifindex, block_));
    }
  }
  std::vector<absl::Status> results = ApplyCounted(ops, report);
  absl::Status first;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok()) continue;
    ++report.errors;
    log_.Warn(
        "tc_write_failed",
        {{"op", OpName(ops[i].kind)}, {"ifindex", ops[i].qdisc.ifindex}, {"status", results[i]}});
    if (first.ok()) first = results[i];
  }
  return first;
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
  if (r[0].ok()) ApplyCounted({FilterOp(TcOp::Kind::kDeleteFilter, probe)}, report);
  const bool refuses = IsBlockWideRefusal(r[0]);
  offers.Record(AnswerOf(key, r[0]));
  log_.Info("hw_probe", {{"block", block_}, {"offload", !refuses}, {"answer", r[0]}});
  return refuses;
}

void Reconciler::PreOffer(const offload::DeviceResolver& devices, OfferBook& offers,
                          ReconcileReport& report) {
  std::vector<TcOp> creates;
  std::vector<std::string> keys;
  std::set<std::string> batched;
  for (const policy::Filter& f : pipeline_.filters) {
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
  ApplyCounted(undo, report);
  if (refused > 0) {
    log_.Info("hw_offers", {{"new_filters", creates.size()},
                            {"refused", refused},
                            {"block_wide", block_refuses_offload_},
                            {"first_error", results[0]}});
  }
}

offload::OfferFn Reconciler::MakeOffer(const offload::DeviceResolver& devices, OfferBook& offers,
                                       ReconcileReport& report) {
  return [this, &devices, &offers, &report](const policy::Filter& f) -> absl::Status {
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
    if (r[0].ok()) ApplyCounted({FilterOp(TcOp::Kind::kDeleteFilter, *hw)}, report);
    HardwareRejection answer = AnswerOf(key, r[0]);
    offers.Record(answer);
    return StatusOfAnswer(answer);
  };
}

ReconcileReport Reconciler::Run(const policy::Snapshot& desired,
                                const policy::SlotAssignment& slots, const EswitchView& view,
                                OfferBook& offers) {
  const absl::Time start = absl::Now();
  ReconcileReport report;
  auto finish = [&]() {
    report.took = absl::Now() - start;
    return report;
  };

  // Only ports whose representor exists can be wired; the others wait.
  policy::Snapshot effective = desired;
  for (auto it = effective.ports.begin(); it != effective.ports.end();) {
    if (view.port_representors.contains(it->first)) {
      ++it;
    } else {
      report.absent_ports.push_back(it->first);
      it = effective.ports.erase(it);
    }
  }
  if (!view.uplink) {
    report.status = absl::FailedPreconditionError("the uplink is not present; nothing installed");
    return finish();
  }
  absl::StatusOr<std::set<std::string>> changed =
      compiler_.Update(std::make_shared<const policy::Snapshot>(effective), slots);
  if (!changed.ok()) {
    report.status = changed.status();
    return finish();
  }
  effective_ = std::move(effective);
  pipeline_ = compiler_.Assemble();

  view_ = view;
  devices_ = [this](const policy::DeviceRef& ref) -> std::optional<offload::Netdev> {
    if (ref.kind == policy::DeviceRef::Kind::kUplink) return view_.uplink;
    auto it = view_.port_representors.find(ref.port_id);
    if (it == view_.port_representors.end()) return std::nullopt;
    return it->second;
  };
  const offload::DeviceResolver& devices = devices_;

  used_offers_.clear();
  std::vector<TcOp> late_deletes;
  absl::Status qdiscs = SyncQdiscs(view, report, late_deletes);
  if (!qdiscs.ok()) report.status = qdiscs;

  block_refuses_offload_ = ProbeBlockRefusesOffload(view, offers, report);
  PreOffer(devices, offers, report);
  placement_ = offload::Place(pipeline_, MakeOffer(devices, offers, report));

  // What the block should hold.
  std::map<FilterKey, FlowerFilter> want;
  auto add = [&](const policy::Filter& f, Copy copy) {
    absl::StatusOr<FlowerFilter> k = offload::ToKernelFilter(f, block_, copy, devices);
    if (!k.ok()) {
      ++report.errors;
      if (report.status.ok()) report.status = k.status();
      log_.Warn("translate_failed", {{"filter", f.origin}, {"status", k.status()}});
      return;
    }
    want[KeyOf(*k)] = std::move(*k);
  };
  for (const offload::PlacedFilter& p : placement_.filters) {
    add(p.filter, Copy::kSlowPath);
    // A filter the hardware takes is installed once, without skip flags: in
    // software (so the slow path stays complete) and in hardware. flower
    // keeps one copy of a key per mask, so a skip_sw twin beside the skip_hw
    // filter would be refused with EEXIST.
    if (p.placement == offload::Placement::kHardware) {
      absl::StatusOr<FlowerFilter> k =
          offload::ToKernelFilter(p.filter, block_, Copy::kSlowPath, devices);
      if (k.ok()) want[KeyOf(*k)].skip_hw = false;
    }
  }
  for (const policy::Filter& t : placement_.traps) add(t, Copy::kTrap);
  // Keep every answer this pass asked for (refused trap candidates too, or
  // the next pass would offer them again), and forget the rest.
  offers.Retain(used_offers_);
  report.filters = static_cast<int>(want.size());

  absl::StatusOr<std::map<FilterKey, FlowerFilter>> have = DumpInstalled();
  if (!have.ok()) {
    if (report.status.ok()) report.status = have.status();
    return finish();
  }

  // A filter whose shape (protocol, skip flags, which keys under which masks)
  // changes cannot be replaced: flower refuses a new mask for an existing
  // filter (EINVAL), and keeps one protocol per (chain, prio). Such filters,
  // and filters of a prio whose shapes all change, are deleted first and
  // created again; everything else is added before anything is removed.
  std::map<std::pair<uint32_t, uint16_t>, std::set<Shape>> want_shapes;
  for (const auto& [key, f] : want) want_shapes[{f.chain, f.prio}].insert(ShapeOf(f));
  std::vector<TcOp> early, upserts, deletes;
  std::set<FilterKey> emptied;
  for (const auto& [key, f] : *have) {
    auto ws = want_shapes.find({f.chain, f.prio});
    auto w = want.find(key);
    const bool reshaped = w != want.end() && ShapeOf(w->second) != ShapeOf(f);
    const bool foreign_shape = ws != want_shapes.end() && !ws->second.contains(ShapeOf(f));
    if (reshaped || foreign_shape) {
      early.push_back(FilterOp(TcOp::Kind::kDeleteFilter, f));
      emptied.insert(key);
    } else if (w == want.end()) {
      deletes.push_back(FilterOp(TcOp::Kind::kDeleteFilter, f));
    }
  }
  for (const auto& [key, f] : want) {
    auto h = have->find(key);
    if (h == have->end() || emptied.contains(key)) {
      upserts.push_back(FilterOp(TcOp::Kind::kCreateFilter, f));
    } else if (netlink::WithoutStatus(h->second) != f) {
      if (log_.Enabled(LogLevel::kDebug)) {
        log_.Debug("filter_differs",
                   {{"kernel", netlink::DebugString(netlink::WithoutStatus(h->second))},
                    {"want", netlink::DebugString(f)}});
      }
      upserts.push_back(FilterOp(TcOp::Kind::kReplaceFilter, f));
    }
  }
  // Deepest chains first for additions, chain 0 first for removals.
  std::stable_sort(upserts.begin(), upserts.end(),
                   [](const TcOp& a, const TcOp& b) { return a.filter.chain > b.filter.chain; });
  std::stable_sort(deletes.begin(), deletes.end(),
                   [](const TcOp& a, const TcOp& b) { return a.filter.chain < b.filter.chain; });
  std::vector<TcOp> ops = std::move(early);
  ops.insert(ops.end(), upserts.begin(), upserts.end());
  ops.insert(ops.end(), deletes.begin(), deletes.end());
  ops.insert(ops.end(), late_deletes.begin(), late_deletes.end());

  std::vector<absl::Status> results = ApplyCounted(ops, report);
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok()) continue;
    // A filter that vanished before we deleted it is what we wanted.
    if (ops[i].kind == TcOp::Kind::kDeleteFilter && netlink::ErrnoFromStatus(results[i]) == ENOENT)
      continue;
    ++report.errors;
    if (report.status.ok()) report.status = results[i];
    const FlowerFilter& f = ops[i].filter;
    log_.Warn("tc_write_failed", {{"op", OpName(ops[i].kind)},
                                  {"chain", f.chain},
                                  {"prio", f.prio},
                                  {"handle", f.handle},
                                  {"status", results[i]}});
  }
  return finish();
}

absl::StatusOr<policy::Pipeline> Reconciler::InstalledPipeline() const {
  absl::StatusOr<std::map<FilterKey, FlowerFilter>> have = DumpInstalled();
  if (!have.ok()) return have.status();
  policy::Pipeline out;
  for (const offload::PlacedFilter& p : placement_.filters) {
    absl::StatusOr<FlowerFilter> want =
        offload::ToKernelFilter(p.filter, block_, Copy::kSlowPath, devices_);
    if (!want.ok()) continue;
    auto h = have->find(KeyOf(*want));
    if (h == have->end()) continue;
    FlowerFilter got = netlink::WithoutStatus(h->second);
    got.skip_hw = want->skip_hw;  // in hardware too, or not: the software path is the same
    if (got == *want) out.filters.push_back(p.filter);
  }
  return out;
}

absl::StatusOr<std::map<FilterKey, FlowerFilter>> Reconciler::DumpInstalled() const {
  absl::StatusOr<std::vector<FlowerFilter>> dumped = tc_.DumpBlock(block_);
  if (!dumped.ok()) return dumped.status();
  std::map<FilterKey, FlowerFilter> out;
  for (FlowerFilter& f : *dumped) {
    FilterKey key = KeyOf(f);
    out.emplace(key, std::move(f));
  }
  return out;
}

}  // namespace vfguard::agent
