#include "offload/set_match_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "offload/bpf/set_match_map.h"
#include "offload/bpf_status.h"
#include "offload/set_match_bpf_object.h"  // generated from offload/bpf/set_match.bpf.c

namespace vfguard::offload {
namespace {

static_assert(sizeof(vfguard_set_rule) == 16, "map layout changed on one side only");
static_assert(sizeof(vfguard_set_key4) == 12 && sizeof(vfguard_set_key6) == 24,
              "map layout changed on one side only");

vfguard_set_rule Encode(const SetRule& r) {
  vfguard_set_rule out;
  std::memset(&out, 0, sizeof(out));
  out.set_id = r.set_id;
  out.family = static_cast<unsigned char>(r.family);
  out.remote_is_src = r.remote_is_src ? 1 : 0;
  out.ip_proto = r.ip_proto;
  if (r.dport) {
    out.flags |= VFGUARD_SET_DPORT;
    out.dport = r.dport->value & r.dport->mask;
    out.dport_mask = r.dport->mask;
  }
  if (r.icmp_type) {
    out.flags |= VFGUARD_SET_ICMP_TYPE;
    out.icmp_type = *r.icmp_type;
  }
  if (r.icmp_code) {
    out.flags |= VFGUARD_SET_ICMP_CODE;
    out.icmp_code = *r.icmp_code;
  }
  return out;
}

absl::Status CheckPrefixes(const SetMatchState& want) {
  for (const auto& [id, prefixes] : want.sets) {
    for (const policy::IpPrefix& p : prefixes) {
      if (p.length > p.addr.BitLength()) {
        return absl::InvalidArgumentError(
            absl::StrCat("set ", id, ": prefix length ", p.length, " of ", p.ToString()));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

SetMatchProgram::~SetMatchProgram() {
  if (object_ != nullptr) bpf_object__close(object_);
}

absl::StatusOr<std::unique_ptr<SetMatchProgram>> SetMatchProgram::Create() {
  std::unique_ptr<SetMatchProgram> p(new SetMatchProgram());
  absl::StatusOr<bpf_object*> object =
      LoadEmbeddedObject(generated::kSetMatchBpfObject, generated::kSetMatchBpfObjectSize,
                         kProgramName, "set-match", &p->prog_fd_);
  if (!object.ok()) return object.status();
  p->object_ = *object;
  for (auto [name, fd] : {std::pair<const char*, int*>{"set_rules", &p->rules_fd_},
                          {"set_v4", &p->v4_fd_},
                          {"set_v6", &p->v6_fd_}}) {
    bpf_map* map = bpf_object__find_map_by_name(p->object_, name);
    if (map == nullptr) {
      return absl::InternalError(absl::StrCat("embedded BPF object lacks its ", name, " map"));
    }
    *fd = bpf_map__fd(map);
  }
  return p;
}

absl::Status SetMatchProgram::WritePrefix(uint32_t set_id, const policy::IpPrefix& prefix,
                                          bool add) {
  const bool v4 = prefix.addr.family == policy::IpFamily::kV4;
  vfguard_set_key6 k6;
  vfguard_set_key4 k4;
  std::memset(&k6, 0, sizeof(k6));
  std::memset(&k4, 0, sizeof(k4));
  void* key = v4 ? static_cast<void*>(&k4) : static_cast<void*>(&k6);
  if (v4) {
    k4.prefixlen = 32 + prefix.length;
    k4.set_id = set_id;
    std::memcpy(k4.addr, prefix.addr.bytes.data(), 4);
  } else {
    k6.prefixlen = 32 + prefix.length;
    k6.set_id = set_id;
    std::memcpy(k6.addr, prefix.addr.bytes.data(), 16);
  }
  const int fd = v4 ? v4_fd_ : v6_fd_;
  const uint8_t one = 1;
  int ret = add ? bpf_map_update_elem(fd, key, &one, BPF_ANY) : bpf_map_delete_elem(fd, key);
  if (ret != 0 && !(!add && BpfErrno(ret) == ENOENT)) {
    return BpfError(
        absl::StrCat(add ? "adding " : "deleting ", prefix.ToString(), " of set ", set_id),
        BpfErrno(ret));
  }
  ++map_writes_;
  return absl::OkStatus();
}

absl::Status SetMatchProgram::WriteRule(uint16_t key16, const SetRule* rule) {
  uint32_t key = key16;
  int ret;
  if (rule != nullptr) {
    vfguard_set_rule value = Encode(*rule);
    ret = bpf_map_update_elem(rules_fd_, &key, &value, BPF_ANY);
  } else {
    ret = bpf_map_delete_elem(rules_fd_, &key);
    if (ret != 0 && BpfErrno(ret) == ENOENT) ret = 0;
  }
  if (ret != 0) {
    return BpfError(absl::StrCat(rule ? "writing" : "deleting", " set rule ", key), BpfErrno(ret));
  }
  ++map_writes_;
  return absl::OkStatus();
}

absl::Status SetMatchProgram::Sync(const SetMatchState& want) {
  if (absl::Status s = CheckPrefixes(want); !s.ok()) return s;
  for (const auto& [id, prefixes] : want.sets) {
    std::set<policy::IpPrefix>& have = written_.sets[id];
    for (const policy::IpPrefix& p : prefixes) {
      if (have.contains(p)) continue;
      if (absl::Status s = WritePrefix(id, p, true); !s.ok()) return s;
      have.insert(p);
    }
  }
  for (const auto& [key, rule] : want.rules) {
    auto it = written_.rules.find(key);
    if (it != written_.rules.end() && it->second == rule) continue;
    if (absl::Status s = WriteRule(key, &rule); !s.ok()) return s;
    written_.rules[key] = rule;
  }
  for (auto it = written_.rules.begin(); it != written_.rules.end();) {
    if (want.rules.contains(it->first)) {
      ++it;
      continue;
    }
    if (absl::Status s = WriteRule(it->first, nullptr); !s.ok()) return s;
    it = written_.rules.erase(it);
  }
  for (auto set = written_.sets.begin(); set != written_.sets.end();) {
    auto w = want.sets.find(set->first);
    for (auto p = set->second.begin(); p != set->second.end();) {
      if (w != want.sets.end() && w->second.contains(*p)) {
        ++p;
        continue;
      }
      if (absl::Status s = WritePrefix(set->first, *p, false); !s.ok()) return s;
      p = set->second.erase(p);
    }
    set = set->second.empty() ? written_.sets.erase(set) : std::next(set);
  }
  return absl::OkStatus();
}

}  // namespace vfguard::offload
