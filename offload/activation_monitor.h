// Live-migration activation: loads the activation BPF program
// (offload/bpf/activation.bpf.c), keeps its `watched` map, and delivers its
// ring-buffer events on the caller's io_context.
//
// The compiled object is embedded in the binary (a header generated at build
// time from the .o) and opened with bpf_object__open_mem: the agent needs no
// file at run time, and the program always matches this loader's event
// layout. docs/activation.md has the whole sequence.
//
// Use (agent):
//   auto mon = ActivationMonitor::Create(io, [&](const ActivationEvent& e) {...});
//   attach mon->prog_fd() once as cls_bpf direct-action in the shared block
//   at chain 0 prio 1, protocol all (netlink/bpf_filter_codec.h);
//   mon->Watch(representor_ifindex, port_cookie) for each pending port;
//   on its first event make the port active and Unwatch(ifindex).
//
// Loading needs CAP_BPF + CAP_NET_ADMIN (or root); without them Create fails
// with PERMISSION_DENIED naming the errno. Not thread-safe: call from the
// io_context's thread. The handler runs on that thread and may call Watch /
// Unwatch, but must not destroy the monitor.
#ifndef VFGUARD_OFFLOAD_ACTIVATION_MONITOR_H_
#define VFGUARD_OFFLOAD_ACTIVATION_MONITOR_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "boost/asio/io_context.hpp"

struct bpf_object;
struct ring_buffer;

namespace vfguard::offload {

enum class ActivationKind : uint32_t {
  kRarp = 1,           // RARP request (QEMU's post-migration announcement)
  kGarp = 2,           // gratuitous ARP: sender IP == target IP, request or reply
  kUnsolicitedNa = 3,  // ICMPv6 Neighbor Advertisement, solicited flag clear
};
std::string ActivationKindName(ActivationKind kind);  // "rarp", "garp", "unsolicited-na"

struct ActivationEvent {
  uint32_t ifindex = 0;  // the watched ifindex the frame arrived on
  uint32_t cookie = 0;   // the cookie given to Watch for it
  ActivationKind kind = ActivationKind::kRarp;
  std::array<uint8_t, 6> mac{};  // Ethernet source address
  // 0 (RARP: no address), 4 (GARP: sender IPv4 in ip[0..3]) or 6 (NA target).
  int ip_version = 0;
  std::array<uint8_t, 16> ip{};  // network order; unused bytes zero
  bool operator==(const ActivationEvent&) const = default;
};
// "garp ifindex=7 cookie=9 mac=52:54:00:12:34:56 ip=10.0.0.5", for logs and tests.
std::string ToString(const ActivationEvent& event);
inline void PrintTo(const ActivationEvent& event, std::ostream* os) { *os << ToString(event); }

// Decodes one ring-buffer record; INVALID_ARGUMENT for a wrong size or an
// unknown kind (a newer program with an older loader).
absl::StatusOr<ActivationEvent> DecodeActivationEvent(absl::Span<const uint8_t> record);

class ActivationMonitor {
 public:
  using Handler = std::function<void(const ActivationEvent&)>;

  // Opens and loads the embedded program and starts reading its ring buffer
  // on `io` (nothing is read until `io` runs). `io` must outlive the monitor.
  static absl::StatusOr<std::unique_ptr<ActivationMonitor>> Create(boost::asio::io_context& io,
                                                                   Handler handler);
  ~ActivationMonitor();
  ActivationMonitor(const ActivationMonitor&) = delete;
  ActivationMonitor& operator=(const ActivationMonitor&) = delete;

  // Reports activation frames arriving on `ifindex` with `cookie` (replaces
  // the cookie if already watched). RESOURCE_EXHAUSTED past 4096 ports.
  absl::Status Watch(uint32_t ifindex, uint32_t cookie);
  // Stops reporting `ifindex`; OK if it was not watched.
  absl::Status Unwatch(uint32_t ifindex);

  // The loaded program, for the cls_bpf attach (TCA_BPF_FD) and
  // BPF_PROG_TEST_RUN. Owned by the monitor: the kernel keeps an attached
  // program alive on its own, so destroying the monitor does not detach it.
  int prog_fd() const;
  // The name to attach it under (TCA_BPF_NAME).
  static constexpr const char* kProgramName = "vfguard_activation";

  // Calls the handler for every event already in the ring, synchronously;
  // returns how many. The asio read does this on its own; tests and a
  // shutdown path use it to drain.
  absl::StatusOr<int> Drain();

  // Records the ring held that did not decode (wrong size or kind); never
  // expected while program and loader are built together.
  uint64_t bad_records() const { return bad_records_; }

 private:
  struct Reader;
  ActivationMonitor(boost::asio::io_context& io, Handler handler);
  void ArmRead();
  static int OnRecord(void* ctx, void* data, size_t size);

  boost::asio::io_context& io_;
  Handler handler_;
  bpf_object* object_ = nullptr;
  ring_buffer* ring_ = nullptr;
  int prog_fd_ = -1;
  int watched_fd_ = -1;
  uint64_t bad_records_ = 0;
  // Shared so a completion queued before destruction sees it is gone.
  std::shared_ptr<Reader> reader_;
};

}  // namespace vfguard::offload

#endif  // VFGUARD_OFFLOAD_ACTIVATION_MONITOR_H_
