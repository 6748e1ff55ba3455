// Shared by the BPF tier's attach tests (a program in a real shared block in
// a private network namespace): the namespace and its veths, shell
// commands, one-shot RTM requests (cls_bpf filters created and deleted) and
// frames sent from a veth peer.
#ifndef VFGUARD_TESTS_BPF_ATTACH_SUPPORT_H_
#define VFGUARD_TESTS_BPF_ATTACH_SUPPORT_H_

#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "netlink/bpf_filter_codec.h"
#include "netlink/tc_codec.h"
#include "tests/bpf/bpf_test_support.h"

namespace vfguard::bpf_test {

// Runs `cmd` with sh; its stdout and stderr.
inline std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  pclose(p);
  return out;
}

// Sends one RTM request and returns the kernel's ack as a status.
inline absl::Status Request(absl::Span<const uint8_t> msg) {
  mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
  if (nl == nullptr) return absl::InternalError("mnl_socket_open failed");
  int one = 1;
  mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
  absl::Status status = absl::InternalError("no ack");
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) == 0 &&
      mnl_socket_sendto(nl, msg.data(), msg.size()) == static_cast<ssize_t>(msg.size())) {
    alignas(4) uint8_t buf[8192];
    ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
    if (n > 0) status = netlink::DecodeAck(absl::MakeConstSpan(buf, static_cast<size_t>(n)));
  }
  mnl_socket_close(nl);
  return status;
}

// Creates `filter` (exclusively: an existing one is an error) with one
// request; the kernel's ack, or the encoder's error.
inline absl::Status CreateBpfFilter(const netlink::BpfFilter& filter, uint32_t seq) {
  alignas(4) uint8_t buf[512];
  absl::StatusOr<size_t> n = netlink::EncodeNewBpfFilter(
      filter, netlink::CreateMode::kCreateExclusive, seq, absl::MakeSpan(buf));
  if (!n.ok()) return n.status();
  return Request(absl::MakeConstSpan(buf, *n));
}

// Deletes `filter` with one request; the kernel's ack, or the encoder's error.
inline absl::Status DeleteBpfFilter(const netlink::BpfFilter& filter, uint32_t seq) {
  alignas(4) uint8_t buf[512];
  absl::StatusOr<size_t> n = netlink::EncodeDelBpfFilter(filter, seq, absl::MakeSpan(buf));
  if (!n.ok()) return n.status();
  return Request(absl::MakeConstSpan(buf, *n));
}

// A mirred egress mirror to `ifname` (the tests' per-rule counting veths).
inline netlink::TcAction MirrorTo(const char* ifname) {
  netlink::MirredAction mirror;
  mirror.mode = netlink::MirredAction::Mode::kMirror;
  mirror.ifindex = if_nametoindex(ifname);
  return netlink::TcAction{mirror, {}};
}

// Sends `frame` out of `ifname` (its veth peer receives it).
inline void SendFrom(const char* ifname, const Frame& frame) {
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  ASSERT_GE(fd, 0);
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
  addr.sll_halen = 6;
  EXPECT_EQ(
      sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
      static_cast<ssize_t>(frame.size()));
  close(fd);
}

// Packets `ifname` received, from `ip -j -s link` (this process's netns;
// /sys/class/net would show the netns sysfs was mounted in).
inline uint64_t RxPackets(const std::string& ifname) {
  std::string json = Shell("ip -j -s link show dev " + ifname);
  size_t rx = json.find("\"rx\":");
  size_t at = rx == std::string::npos ? rx : json.find("\"packets\":", rx);
  return at == std::string::npos ? 0 : std::stoull(json.substr(at + 10));
}

// Waits (up to 2 s) until `ifname` has received `want` packets; the count.
inline uint64_t WaitRx(const std::string& ifname, uint64_t want) {
  for (int i = 0; i < 200 && RxPackets(ifname) < want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return RxPackets(ifname);
}

// For main(): a private network namespace without IPv6 chatter (counters
// and events see only the test's frames; tc ingress runs before IPv6, so
// NAs still pass), with veth pairs va/vb, ra/rb, sa/sb up and block 7 bound
// to va's clsact ingress. The tests send from vb into the block; the
// set-match tests mirror to ra/sa and count at rb/sb. Exits 77 naming what
// is missing.
inline void SetUpMirrorNetnsOrSkip() {
  if (unshare(CLONE_NEWNET) != 0) {
    std::printf("SKIP: cannot create a network namespace: %s\n", std::strerror(errno));
    std::exit(77);
  }
  const char* setup =
      "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 && "
      "for p in 'va vb' 'ra rb' 'sa sb'; do set -- $p; ip link add $1 type veth peer name $2 && "
      "ip link set $1 up && ip link set $2 up || exit 1; done && "
      "tc qdisc add dev va ingress_block 7 clsact";
  std::string out = Shell(setup);
  if (if_nametoindex("va") == 0 || if_nametoindex("sa") == 0 || !out.empty()) {
    std::printf("SKIP: cannot set up veths + clsact shared block here: %s\n", out.c_str());
    std::exit(77);
  }
}

}  // namespace vfguard::bpf_test

#endif  // VFGUARD_TESTS_BPF_ATTACH_SUPPORT_H_
