/* IPv6 neighbour discovery check (docs/semantics.md §3.3): a cls_bpf
 * direct-action program at prio 1 of the ND chain, which only NS/NA from
 * ports with port security reach, after their MAC and source checks.
 *
 * Contract (policy/nd_check.cc is the same check in C++, for the simulator):
 * - Anything that is not IPv6 (untagged, or with one 802.1Q tag still in the
 *   data) carrying ICMPv6 type 135 or 136 right after the IPv6 header:
 *   TC_ACT_UNSPEC (the chain's next filter decides).
 * - The port is the frame's ingress_ifindex (or ifindex when that is 0); no
 *   entry in `nd_ports` for it: TC_ACT_SHOT (fail closed).
 * - Malformed: hop limit != 255, code != 0, an IPv6 payload length past the
 *   end of the frame, a message shorter than 24 bytes, an option that is
 *   shorter than 8 bytes, of length 0 or runs past the message, more than 8
 *   options: TC_ACT_SHOT.
 * - NS: every source link-layer address option equals the Ethernet source;
 *   from :: (DAD) there is none. NA: every target link-layer address option
 *   equals the Ethernet source, and the target is in the entry under that
 *   MAC. Else TC_ACT_SHOT.
 * - Otherwise TC_ACT_UNSPEC: continue with the next filter.
 * Bytes past the IPv6 payload length (Ethernet padding) are ignored. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in6.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "nd_check_map.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, VFGUARD_ND_MAX_PORTS);
  __type(key, __u32); /* representor ifindex */
  __type(value, struct vfguard_nd_entry);
} nd_ports SEC(".maps");

struct ipv6_icmp6 {
  __be32 ver_class_flow;
  __be16 payload_len;
  __u8 next_header;
  __u8 hop_limit;
  __u8 saddr[16];
  __u8 daddr[16];
  __u8 type;
  __u8 code;
} __attribute__((packed));

#define ND_NS 135
#define ND_NA 136
#define OPT_SLLA 1
#define OPT_TLLA 2
#define MAX_OPTIONS 8
#define IPV6_HDR 40
#define ND_MIN 24 /* ICMPv6 header, flags word, target */

static __always_inline int mac_eq(const __u8 *a, const __u8 *b) {
  return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
         a[5] == b[5];
}

static __always_inline int is_unspecified(const __u8 *a) {
  __u32 w[4];
  __builtin_memcpy(w, a, 16);
  return (w[0] | w[1] | w[2] | w[3]) == 0;
}

static __always_inline int target_allowed(const struct vfguard_nd_entry *e, const __u8 *mac,
                                          const __u8 *target) {
  __u32 t[4];
  __builtin_memcpy(t, target, 16);
  __u32 count = e->count;
  for (__u32 i = 0; i < VFGUARD_ND_MAX_ALLOWED; i++) {
    if (i >= count) break;
    const struct vfguard_nd_allowed *a = &e->allowed[i];
    if (!mac_eq(a->mac, mac)) continue;
    __u32 addr[4], mask[4];
    __builtin_memcpy(addr, a->addr, 16);
    __builtin_memcpy(mask, a->mask, 16);
    if ((t[0] & mask[0]) == addr[0] && (t[1] & mask[1]) == addr[1] &&
        (t[2] & mask[2]) == addr[2] && (t[3] & mask[3]) == addr[3])
      return 1;
  }
  return 0;
}

SEC("tc")
int vfguard_nd_check(struct __sk_buff *skb) {
  struct ethhdr eth;
  if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0) return TC_ACT_UNSPEC;
  __u32 off = sizeof(eth);
  __be16 proto = eth.h_proto;
  if (proto == bpf_htons(ETH_P_8021Q)) {
    __be16 tag[2];
    if (bpf_skb_load_bytes(skb, off, tag, sizeof(tag)) < 0) return TC_ACT_UNSPEC;
    proto = tag[1];
    off += 4;
  }
  if (proto != bpf_htons(ETH_P_IPV6)) return TC_ACT_UNSPEC;
  struct ipv6_icmp6 ip;
  /* Type and code: the IPv6 header and 2 bytes. Code is read with it; a frame
   * cut between type and code is malformed, not "not ND". */
  if (bpf_skb_load_bytes(skb, off, &ip, IPV6_HDR + 1) < 0) return TC_ACT_UNSPEC;
  if ((bpf_ntohl(ip.ver_class_flow) >> 28) != 6 || ip.next_header != IPPROTO_ICMPV6)
    return TC_ACT_UNSPEC;
  if (ip.type != ND_NS && ip.type != ND_NA) return TC_ACT_UNSPEC;

  __u32 ifindex = skb->ingress_ifindex ? skb->ingress_ifindex : skb->ifindex;
  const struct vfguard_nd_entry *entry = bpf_map_lookup_elem(&nd_ports, &ifindex);
  if (!entry) return TC_ACT_SHOT;

  if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) < 0) return TC_ACT_SHOT;
  if (ip.hop_limit != 255 || ip.code != 0) return TC_ACT_SHOT;
  __u32 payload = bpf_ntohs(ip.payload_len);
  __u32 start = off + IPV6_HDR;
  if (skb->len < start || payload > skb->len - start) return TC_ACT_SHOT;
  if (payload < ND_MIN) return TC_ACT_SHOT;
  __u8 target[16];
  if (bpf_skb_load_bytes(skb, start + 8, target, 16) < 0) return TC_ACT_SHOT;

  const int na = ip.type == ND_NA;
  const int dad = !na && is_unspecified(ip.saddr);
  __u32 at = ND_MIN; /* offset within the ICMPv6 message */
  for (int i = 0; i < MAX_OPTIONS; i++) {
    if (at >= payload) break;
    if (payload - at < 8) return TC_ACT_SHOT;
    __u8 opt[8];
    if (bpf_skb_load_bytes(skb, start + at, opt, sizeof(opt)) < 0) return TC_ACT_SHOT;
    __u32 bytes = (__u32)opt[1] * 8;
    if (bytes == 0 || bytes > payload - at) return TC_ACT_SHOT;
    if (!na && opt[0] == OPT_SLLA && (dad || !mac_eq(opt + 2, eth.h_source))) return TC_ACT_SHOT;
    if (na && opt[0] == OPT_TLLA && !mac_eq(opt + 2, eth.h_source)) return TC_ACT_SHOT;
    at += bytes;
  }
  if (at < payload) return TC_ACT_SHOT; /* more than MAX_OPTIONS options */
  if (na && !target_allowed(entry, eth.h_source, target)) return TC_ACT_SHOT;
  return TC_ACT_UNSPEC;
}

/* No GPL-only helpers are used, so the project's license applies. */
char LICENSE[] SEC("license") = "Apache-2.0";
