#include "tests/fakes/fake_tc_backend.h"

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/tc_op_encode.h"
#include "netlink/errno_status.h"
#include "netlink/tc_codec.h"

namespace vfguard::agent {
namespace {

// Runs the real backend's encoder, so the fake refuses exactly what the real
// backend would refuse before sending.
absl::Status Encodes(const TcOp& op) {
  std::vector<uint32_t> words(4096);
  absl::Span<uint8_t> buf(reinterpret_cast<uint8_t*>(words.data()), words.size() * 4);
  absl::StatusOr<size_t> n = EncodeTcOp(op, 0, buf);
  return n.ok() ? absl::OkStatus() : n.status();
}

// What the kernel keeps of a filter: no decoded-only state, and a VLAN
// eth_type only as the key that opens the VLAN keys (without them nothing of
// it is stored or dumped).
netlink::FlowerFilter Normalised(const netlink::FlowerFilter& f) {
  netlink::FlowerFilter stored = netlink::WithoutStatus(f);
  if (stored.keys.eth_type &&
      (*stored.keys.eth_type == 0x8100 || *stored.keys.eth_type == 0x88a8) &&
      !stored.keys.vlan_id && !stored.keys.vlan_eth_type) {
    stored.keys.eth_type.reset();
  }
  return stored;
}

}  // namespace

FakeTcBackend::FilterKey FakeTcBackend::KeyOf(const netlink::FlowerFilter& f) {
  return {f.owner, f.chain, f.prio, f.handle};
}

void FakeTcBackend::AddDevice(uint32_t ifindex, std::string name) {
  devices_[ifindex] = std::move(name);
}

void FakeTcBackend::RemoveDevice(uint32_t ifindex) {
  if (clsact_.contains(ifindex)) (void)RemoveClsact(ifindex);
  devices_.erase(ifindex);
}

bool FakeTcBackend::BlockBound(uint32_t block) const {
  for (const auto& [ifindex, b] : clsact_) {
    if (b == block) return true;
  }
  return false;
}

void FakeTcBackend::DropOwner(const netlink::FilterOwner& owner) {
  for (auto it = filters_.begin(); it != filters_.end();) {
    if (std::get<0>(it->first) == owner) {
      installed_.erase(it->first);
      it = filters_.erase(it);
    } else {
      ++it;
    }
  }
}

absl::Status FakeTcBackend::RemoveClsact(uint32_t ifindex) {
  auto it = clsact_.find(ifindex);
  if (it == clsact_.end()) return netlink::ErrnoStatus(ENOENT, "");
  const uint32_t block = it->second;
  clsact_.erase(it);
  DropOwner(netlink::TcDevice{ifindex, netlink::kClsactIngressParent});
  DropOwner(netlink::TcDevice{ifindex, netlink::kClsactEgressParent});
  // A shared block lives while some device is bound to it.
  if (block != 0 && !BlockBound(block)) DropOwner(netlink::TcBlock{block});
  return absl::OkStatus();
}

absl::Status FakeTcBackend::CheckOwner(const netlink::FilterOwner& owner) const {
  if (const auto* block = std::get_if<netlink::TcBlock>(&owner)) {
    if (!BlockBound(block->index)) {
      return netlink::ErrnoStatus(EINVAL, "Block of given index was not found");
    }
    return absl::OkStatus();
  }
  const auto& dev = std::get<netlink::TcDevice>(owner);
  if (!devices_.contains(dev.ifindex)) return netlink::ErrnoStatus(ENODEV, "");
  if (!clsact_.contains(dev.ifindex))
    return netlink::ErrnoStatus(EINVAL, "Parent Qdisc doesn't exists");
  return absl::OkStatus();
}

absl::Status FakeTcBackend::CheckDevices(const netlink::FlowerFilter& f) const {
  if (f.keys.indev) {
    bool found = false;
    for (const auto& [ifindex, name] : devices_) found = found || name == *f.keys.indev;
    if (!found) return netlink::ErrnoStatus(EINVAL, "Network device not found");
  }
  for (const netlink::TcAction& a : f.actions) {
    if (const auto* m = std::get_if<netlink::MirredAction>(&a.op)) {
      if (!devices_.contains(m->ifindex)) {
        return netlink::ErrnoStatus(ENODEV, "Specified device does not exist");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status FakeTcBackend::CreateOrReplace(const netlink::FlowerFilter& f, bool create) {
  if (absl::Status s = CheckOwner(f.owner); !s.ok()) return s;
  if (f.prio == 0 || f.handle == 0) {
    return absl::InvalidArgumentError("FakeTcBackend: prio and handle must be explicit");
  }
  // One protocol per (owner, chain, prio).
  for (const auto& [key, existing] : filters_) {
    if (std::get<0>(key) == f.owner && existing.chain == f.chain && existing.prio == f.prio &&
        existing.protocol != f.protocol) {
      return netlink::ErrnoStatus(EINVAL, "");
    }
  }
  const FilterKey key = KeyOf(f);
  const bool present = filters_.contains(key);
  if (create && present) return netlink::ErrnoStatus(EEXIST, "");
  if (!create && !present) {
    return netlink::ErrnoStatus(ENOENT, "");
  }
  // flower cannot give an existing filter another key layout (mask).
  if (!create &&
      netlink::KeyLayout(filters_.at(key).keys) != netlink::KeyLayout(Normalised(f).keys)) {
    return netlink::ErrnoStatus(EINVAL, "");
  }
  netlink::FlowerFilter stored = Normalised(f);
  // flower keeps each match (keys and masks) once per prio: another handle
  // with the same match is EEXIST.
  for (const auto& [other_key, existing] : filters_) {
    if (other_key != key && std::get<0>(other_key) == f.owner && existing.chain == f.chain &&
        existing.prio == f.prio && existing.keys == stored.keys) {
      return netlink::ErrnoStatus(EEXIST, "");
    }
  }
  if (absl::Status s = CheckDevices(f); !s.ok()) return s;
  bool in_hw = false;
  if (!f.skip_hw && hardware_) {
    absl::Status hw = hardware_(f);
    if (!hw.ok() && f.skip_sw) return hw;
    in_hw = hw.ok();
  } else if (f.skip_sw) {
    return netlink::ErrnoStatus(EOPNOTSUPP, "");  // veth: no offload
  }
  uint32_t indev_ifindex = 0;
  for (const auto& [ifindex, name] : devices_) {
    if (f.keys.indev && name == *f.keys.indev) indev_ifindex = ifindex;
  }
  filters_[key] = std::move(stored);
  installed_[key] = Installed{in_hw, {}, indev_ifindex};  // a replace starts new counters
  return absl::OkStatus();
}

absl::Status FakeTcBackend::ApplyOne(const TcOp& op) {
  switch (op.kind) {
    case TcOp::Kind::kCreateClsact: {
      const uint32_t ifindex = op.qdisc.ifindex;
      if (!devices_.contains(ifindex)) return netlink::ErrnoStatus(ENODEV, "");
      if (clsact_.contains(ifindex)) return netlink::ErrnoStatus(EEXIST, "");
      clsact_[ifindex] = op.qdisc.ingress_block;
      return absl::OkStatus();
    }
    case TcOp::Kind::kDeleteClsact:
      if (!devices_.contains(op.qdisc.ifindex)) return netlink::ErrnoStatus(ENODEV, "");
      return RemoveClsact(op.qdisc.ifindex);
    case TcOp::Kind::kCreateFilter:
      return CreateOrReplace(op.filter, /*create=*/true);
    case TcOp::Kind::kReplaceFilter:
      return CreateOrReplace(op.filter, /*create=*/false);
    case TcOp::Kind::kDeleteFilter: {
      if (absl::Status s = CheckOwner(op.filter.owner); !s.ok()) return s;
      auto it = filters_.find(KeyOf(op.filter));
      if (it == filters_.end()) return netlink::ErrnoStatus(ENOENT, "");
      if (it->second.protocol != op.filter.protocol && op.filter.protocol != 0) {
        return netlink::ErrnoStatus(EINVAL, "");
      }
      installed_.erase(it->first);
      filters_.erase(it);
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError("unknown tc op kind");
}

std::vector<absl::Status> FakeTcBackend::Apply(const std::vector<TcOp>& ops) {
  ++apply_calls_;
  largest_apply_ = std::max(largest_apply_, ops.size());
  std::vector<absl::Status> out;
  out.reserve(ops.size());
  for (const TcOp& op : ops) {
    // What does not encode is refused before sending, and is no write.
    if (absl::Status s = Encodes(op); !s.ok()) {
      out.push_back(s);
      continue;
    }
    writes_.Count(op.kind);
    absl::Status fault = fault_ ? fault_(op) : absl::OkStatus();
    out.push_back(fault.ok() ? ApplyOne(op) : fault);
    if (observer_) observer_(op, out.back());
  }
  return out;
}

absl::StatusOr<std::map<uint32_t, uint32_t>> FakeTcBackend::DumpClsact() {
  ++dump_calls_;
  return clsact_;
}

absl::StatusOr<std::vector<netlink::FlowerFilter>> FakeTcBackend::DumpFilters(
    const netlink::FilterOwner& owner) {
  ++dump_calls_;
  std::vector<netlink::FlowerFilter> out;
  for (const auto& [key, f] : filters_) {
    if (std::get<0>(key) != owner) continue;
    netlink::FlowerFilter dumped = f;
    const Installed& inst = installed_.at(key);
    if (dumped.keys.indev) {
      auto dev = devices_.find(inst.indev_ifindex);
      if (dev != devices_.end()) {
        dumped.keys.indev = dev->second;
      } else {
        dumped.keys.indev.reset();
      }
    }
    dumped.status.in_hw = inst.in_hw;
    dumped.status.not_in_hw = !inst.in_hw;
    dumped.status.in_hw_count = inst.in_hw ? 1 : 0;
    dumped.status.packets = inst.counters.packets;
    dumped.status.bytes = inst.counters.bytes;
    if (!dumped.actions.empty()) {
      dumped.actions.front().stats.packets = inst.counters.packets;
      dumped.actions.front().stats.bytes = inst.counters.bytes;
      if (inst.in_hw) {
        dumped.actions.front().stats.hw_packets = inst.counters.packets;
        dumped.actions.front().stats.hw_bytes = inst.counters.bytes;
      }
    }
    out.push_back(std::move(dumped));
  }
  return out;
}

absl::Status FakeTcBackend::SetCounters(const FilterKey& key, uint64_t packets, uint64_t bytes) {
  auto it = installed_.find(key);
  if (it == installed_.end()) return absl::NotFoundError("SetCounters: no such filter");
  it->second.counters = Counters{packets, bytes};
  return absl::OkStatus();
}

absl::Status FakeTcBackend::DeleteFilterBehind(const FilterKey& key) {
  if (filters_.erase(key) == 0) return absl::NotFoundError("DeleteFilterBehind: no such filter");
  installed_.erase(key);
  return absl::OkStatus();
}

absl::Status FakeTcBackend::ModifyFilterBehind(const netlink::FlowerFilter& f) {
  auto it = filters_.find(KeyOf(f));
  if (it == filters_.end()) return absl::NotFoundError("ModifyFilterBehind: no such filter");
  it->second = Normalised(f);
  return absl::OkStatus();
}

absl::Status FakeTcBackend::DeleteClsactBehind(uint32_t ifindex) {
  if (!clsact_.contains(ifindex)) return absl::NotFoundError("DeleteClsactBehind: no clsact");
  return RemoveClsact(ifindex);
}

}  // namespace vfguard::agent
