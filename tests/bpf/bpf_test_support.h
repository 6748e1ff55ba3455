// Shared by the BPF tier's tests: a gtest main that first checks this
// process may use BPF here (bpf syscall, permission, ring buffers) and exits
// 77 naming the reason when not, plus packet fixture builders and a
// BPF_PROG_TEST_RUN wrapper.
#ifndef VFGUARD_TESTS_BPF_BPF_TEST_SUPPORT_H_
#define VFGUARD_TESTS_BPF_BPF_TEST_SUPPORT_H_

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace vfguard::bpf_test {

// Exits 77 when BPF cannot be used. A ring buffer map is what the activation
// program needs first; creating one proves the syscall, the privilege and
// the map type (Linux >= 5.8).
inline void SkipUnlessBpfUsable() {
  if (geteuid() != 0) {
    std::printf("SKIP: the bpf tier needs root (CAP_BPF + CAP_NET_ADMIN); euid is %d\n", geteuid());
    std::exit(77);
  }
  int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "vfg_probe", 0, 0, 4096, nullptr);
  if (fd < 0) {
    int err = -fd;
    std::printf("SKIP: cannot create a BPF ring buffer here: %s (%d)%s\n", std::strerror(err), err,
                err == ENOSYS ? " (no bpf syscall)" : "");
    std::exit(77);
  }
  close(fd);
}

using Mac = std::array<uint8_t, 6>;
using Frame = std::vector<uint8_t>;

inline void Put16(Frame& f, uint16_t v) {
  f.push_back(static_cast<uint8_t>(v >> 8));
  f.push_back(static_cast<uint8_t>(v));
}
inline void PutBytes(Frame& f, const uint8_t* p, size_t n) { f.insert(f.end(), p, p + n); }
template <size_t N>
inline void PutBytes(Frame& f, const std::array<uint8_t, N>& a) {
  PutBytes(f, a.data(), N);
}

inline Frame Ethernet(const Mac& dst, const Mac& src, uint16_t ethertype) {
  Frame f;
  PutBytes(f, dst);
  PutBytes(f, src);
  Put16(f, ethertype);
  return f;
}

// Ethernet/IPv4 ARP (ethertype 0x0806) or RARP (0x8035) with the given opcode.
inline Frame Arp(uint16_t ethertype, uint16_t op, const Mac& sha, std::array<uint8_t, 4> spa,
                 const Mac& tha, std::array<uint8_t, 4> tpa, uint16_t htype = 1) {
  Frame f = Ethernet(Mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, sha, ethertype);
  Put16(f, htype);
  Put16(f, 0x0800);
  f.push_back(6);
  f.push_back(4);
  Put16(f, op);
  PutBytes(f, sha);
  PutBytes(f, spa);
  PutBytes(f, tha);
  PutBytes(f, tpa);
  return f;
}

// IPv6 + ICMPv6 of `type` with a 4-byte flags word and a 16-byte address
// (NA/NS layout), optionally followed by a target/source link-layer option.
// The checksum is left zero: nothing on this path verifies it.
inline Frame Icmp6Nd(const Mac& src_mac, const std::array<uint8_t, 16>& src_ip, uint8_t type,
                     uint8_t code, uint8_t flags, const std::array<uint8_t, 16>& target,
                     bool with_lla_option, uint8_t next_header = 58) {
  Frame f = Ethernet(Mac{0x33, 0x33, 0, 0, 0, 1}, src_mac, 0x86dd);
  uint16_t payload = 24 + (with_lla_option ? 8 : 0);
  f.insert(f.end(), {0x60, 0, 0, 0});
  Put16(f, payload);
  f.push_back(next_header);
  f.push_back(255);
  PutBytes(f, src_ip);
  const std::array<uint8_t, 16> all_nodes{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  PutBytes(f, all_nodes);
  f.push_back(type);
  f.push_back(code);
  Put16(f, 0);
  f.insert(f.end(), {flags, 0, 0, 0});
  PutBytes(f, target);
  if (with_lla_option) {
    f.push_back(2);  // target link-layer address
    f.push_back(1);  // length in units of 8 bytes
    PutBytes(f, src_mac);
  }
  return f;
}

inline Frame Ipv4Tcp(const Mac& src_mac, std::array<uint8_t, 4> src, std::array<uint8_t, 4> dst) {
  Frame f = Ethernet(Mac{0x02, 0, 0, 0, 0, 0x99}, src_mac, 0x0800);
  f.insert(f.end(), {0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0});
  PutBytes(f, src);
  PutBytes(f, dst);
  f.insert(f.end(),
           {0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x72, 0x10, 0, 0, 0, 0});
  return f;
}

struct RunResult {
  int err = 0;          // errno of the test run syscall, 0 if it ran
  int32_t verdict = 0;  // the program's return value (signed: TC_ACT_UNSPEC is -1)
};

// Runs the program once over `frame` with __sk_buff.ingress_ifindex and
// .ifindex from ctx_in. The kernel copies ingress_ifindex into skb_iif as is;
// a non-zero ifindex other than 1 must name a device in this netns.
inline RunResult TestRun(int prog_fd, const Frame& frame, uint32_t ingress_ifindex,
                         uint32_t ifindex = 0) {
  __sk_buff ctx{};
  ctx.ingress_ifindex = ingress_ifindex;
  ctx.ifindex = ifindex;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()), .ctx_in = &ctx,
              .ctx_size_in = sizeof(ctx), .repeat = 1);
  RunResult r;
  int ret = bpf_prog_test_run_opts(prog_fd, &opts);
  if (ret != 0) {
    r.err = ret < 0 ? -ret : errno;
    return r;
  }
  r.verdict = static_cast<int32_t>(opts.retval);
  return r;
}

}  // namespace vfguard::bpf_test

#define VFGUARD_BPF_TEST_MAIN()                 \
  int main(int argc, char** argv) {             \
    ::testing::InitGoogleTest(&argc, argv);     \
    ::vfguard::bpf_test::SkipUnlessBpfUsable(); \
    return RUN_ALL_TESTS();                     \
  }

#endif  // VFGUARD_TESTS_BPF_BPF_TEST_SUPPORT_H_
