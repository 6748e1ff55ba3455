// cls_bpf filter requests: attaches a loaded BPF program (by fd) as a tc
// classifier, e.g. the live-migration activation program in the shared
// ingress block at chain 0 prio 1 (offload/activation_monitor.h).
//
// Kernel format only: the caller passes the program fd and its name. Same
// conventions as netlink/tc_codec.h: one message into a caller-provided,
// 4-byte aligned buffer, aligned length returned, RESOURCE_EXHAUSTED when it
// does not fit, NLM_F_REQUEST | NLM_F_ACK on every request.
#ifndef VFGUARD_NETLINK_BPF_FILTER_CODEC_H_
#define VFGUARD_NETLINK_BPF_FILTER_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "netlink/tc_codec.h"
#include "netlink/tc_types.h"

namespace vfguard::netlink {

struct BpfFilter {
  FilterOwner owner = TcBlock{};
  uint32_t chain = 0;
  uint16_t prio = 0;           // 1..65535; 0 lets the kernel pick (adds only)
  uint32_t handle = 0;         // 0 lets the kernel pick (adds only)
  uint16_t protocol = 0x0003;  // ETH_P_ALL; host order
  int prog_fd = -1;            // TCA_BPF_FD; must be >= 0 for adds
  std::string name;            // TCA_BPF_NAME (shown by `tc filter show`); may be empty
  // TCA_BPF_FLAG_ACT_DIRECT: the program's return value is the tc verdict
  // (TC_ACT_UNSPEC continues with the next filter). Without it the return
  // value is a classid.
  bool direct_action = true;
  // TCA_BPF_FLAGS_GEN skip_hw: no NIC runs this program (mlx5 cannot; a veth
  // has nothing to offer it to), and saying so keeps the kernel from trying.
  bool skip_hw = true;
  // Classifier mode only (direct_action false). TCA_BPF_CLASSID: cls_bpf
  // copies it into the frame's qdisc cb before running the program, which
  // reads its low 16 bits as __sk_buff.tc_classid (a per-filter parameter
  // for one program shared by many filters).
  std::optional<uint32_t> classid;
  // Classifier mode only: TCA_BPF_ACT, run when the program returns -1
  // (a match); 0 means no match and the next filter is tried.
  std::vector<TcAction> actions;
  auto operator<=>(const BpfFilter&) const = default;
};

// RTM_NEWTFILTER, kind "bpf": tcmsg (owner, handle, prio << 16 | protocol),
// TCA_CHAIN, TCA_KIND, TCA_OPTIONS { TCA_BPF_FD, TCA_BPF_NAME (if set),
// TCA_BPF_FLAGS, TCA_BPF_FLAGS_GEN (if skip_hw), TCA_BPF_CLASSID (if set),
// TCA_BPF_ACT (if any) }. INVALID_ARGUMENT for a bad owner, a negative fd,
// invalid actions, or a classid or actions with direct_action (cls_bpf
// would keep them but never run the actions).
absl::StatusOr<size_t> EncodeNewBpfFilter(const BpfFilter& filter, CreateMode mode, uint32_t seq,
                                          absl::Span<uint8_t> out);

// RTM_DELTFILTER for (owner, chain, prio, protocol, handle), kind "bpf"
// (the kernel refuses a delete whose kind differs from the filter's).
absl::StatusOr<size_t> EncodeDelBpfFilter(const BpfFilter& filter, uint32_t seq,
                                          absl::Span<uint8_t> out);

}  // namespace vfguard::netlink

#endif  // VFGUARD_NETLINK_BPF_FILTER_CODEC_H_
