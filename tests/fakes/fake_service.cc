#include "tests/fakes/fake_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "agent/ct_entry_proto.h"
#include "agent/policy_codec.h"

namespace vfguard::api {

FakeAgentService::FakeAgentService() {
  status_.ready = true;
  status_.version = "test";
  status_.started = absl::FromUnixSeconds(1700000000);
}

absl::StatusOr<api::v1::Policy> FakeAgentService::Mutate(
    const std::function<absl::Status(api::v1::Policy&)>& edit) {
  api::v1::Policy next = desired_;
  if (absl::Status s = edit(next); !s.ok()) return s;
  auto snapshot = agent::SnapshotFromPolicy(next);
  if (!snapshot.ok()) return snapshot.status();
  if (fail_checkpoint_) return absl::InternalError("checkpoint: write failed (test)");
  desired_ = std::move(next);
  ++mutations_;
  return desired_;
}

void FakeAgentService::Reset(const api::v1::Policy& desired) {
  desired_ = desired;
  status_ = FakeAgentService().status_;
  shared_rules_.clear();
  trace_result_ = agent::TraceResult();
  last_trace_.reset();
  last_established_ = false;
  fail_checkpoint_ = false;
  conntrack_.clear();
  mutations_ = 0;
}

std::optional<uint16_t> FakeAgentService::ZoneOf(const std::string& port_id) const {
  std::vector<std::string> ids;
  for (const auto& p : desired_.ports()) ids.push_back(p.id());
  std::sort(ids.begin(), ids.end());
  auto it = std::find(ids.begin(), ids.end(), port_id);
  if (it == ids.end()) return std::nullopt;
  return static_cast<uint16_t>(1 + (it - ids.begin()));
}

absl::StatusOr<agent::PortStatus> FakeAgentService::Port(const std::string& port_id) const {
  auto zone = ZoneOf(port_id);
  if (!zone) return absl::NotFoundError(absl::StrCat("port ", port_id, " does not exist"));
  agent::PortStatus status;
  status.id = port_id;
  for (const auto& p : desired_.ports()) {
    if (p.id() != port_id) continue;
    status.state = p.state().empty() ? "active" : p.state();
    status.representor =
        p.has_vf_index() ? absl::StrCat("pf0vf", p.vf_index()) : p.representor_name();
  }
  status.representor_present = true;
  status.installed = true;
  status.zone = *zone;
  status.slot = *zone;
  agent::RuleStatus drop;
  drop.chain = 1000 + *zone;
  drop.prio = 65535;
  drop.handle = 1;
  drop.match = "";
  drop.actions = "drop";
  drop.origin = "default drop";
  drop.placement = "hw";
  status.rules.push_back(drop);
  return status;
}

absl::StatusOr<api::v1::TraceResponse> FakeAgentService::Trace(
    const api::v1::TraceRequest& request) {
  absl::StatusOr<policy::Packet> packet = agent::PacketFromTraceRequest(desired_, request);
  if (!packet.ok()) return packet.status();
  last_trace_ = *packet;
  last_established_ = request.established();
  return agent::TraceResponseFrom(trace_result_, *packet);
}

absl::StatusOr<std::vector<api::v1::CtEntry>> FakeAgentService::Conntrack(
    const std::string& port_id) {
  if (!ZoneOf(port_id))
    return absl::NotFoundError(absl::StrCat("port ", port_id, " does not exist"));
  std::vector<api::v1::CtEntry> out;
  for (const netlink::CtEntry& e : conntrack_[port_id]) out.push_back(agent::CtEntryToProto(e));
  return out;
}

absl::StatusOr<size_t> FakeAgentService::ImportConntrack(const std::string& port_id,
                                                         const api::v1::ConntrackImport& import) {
  absl::StatusOr<std::vector<netlink::CtEntry>> entries = agent::CtEntriesFromProto(import);
  if (!entries.ok()) return entries.status();
  auto zone = ZoneOf(port_id);
  if (!zone) return absl::NotFoundError(absl::StrCat("port ", port_id, " does not exist"));
  for (netlink::CtEntry entry : *entries) {
    entry.zone = *zone;
    conntrack_[port_id].push_back(entry);
  }
  return entries->size();
}

uint64_t FakeAgentService::Subscribe(std::function<void(const agent::Event&)> handler) {
  uint64_t id = next_subscriber_++;
  subscribers_[id] = std::move(handler);
  return id;
}

void FakeAgentService::Unsubscribe(uint64_t id) { subscribers_.erase(id); }

void FakeAgentService::Emit(const agent::Event& event) {
  auto copy = subscribers_;  // a handler may unsubscribe
  for (auto& [id, handler] : copy) handler(event);
}

}  // namespace vfguard::api
