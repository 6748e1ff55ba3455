/* Remote-set match (docs/performance.md, "Remote groups"): a cls_bpf filter
 * in classifier mode (not direct action) that stands for one rule whose
 * remote is a set (a remote group's member addresses, an address group's
 * CIDRs), with the rule's actions attached to the filter. One filter per
 * (port, rule) whatever the set's size; a member joining or leaving is an
 * update of the LPM maps, not a filter write.
 *
 * Contract:
 * - The rule is set_rules[__sk_buff.tc_classid]: cls_bpf stores the
 *   filter's classid there before it runs the program, so one loaded program
 *   serves every such filter. No rule: 0 (no match).
 * - The frame: Ethernet, at most one 802.1Q/802.1ad tag still in the data,
 *   then IPv4 (family 4) or IPv6 (family 6); another network protocol, or a
 *   header that cannot be read or is not IPv4/IPv6 (version, IHL < 5): 0.
 * - ip_proto: IPv4's protocol; for IPv6 the header after up to 4 extension
 *   headers (hop-by-hop, routing, destination options, fragment). As in
 *   flower's flow dissector, a fragment (IPv4 MF or offset, any IPv6
 *   fragment header) has no L4 fields: its ports and ICMP type/code read 0,
 *   as do those of a truncated L4 header.
 * - Match when ip_proto (if non-zero), dport under its mask (if
 *   VFGUARD_SET_DPORT; tcp, udp and sctp carry ports, other protocols read
 *   0), icmp type and code (if flagged) agree, and the source (remote_is_src)
 *   or destination address is in set set_id of its family's LPM map: -1
 *   (cls_bpf then runs the filter's actions). Otherwise 0: the next filter.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "set_match_map.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, VFGUARD_SET_MAX_RULES);
  __type(key, __u32);
  __type(value, struct vfguard_set_rule);
} set_rules SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, VFGUARD_SET_MAX_PREFIXES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct vfguard_set_key4);
  __type(value, __u8);
} set_v4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, VFGUARD_SET_MAX_PREFIXES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct vfguard_set_key6);
  __type(value, __u8);
} set_v6 SEC(".maps");

#define NO_MATCH 0
#define MATCH -1
#define MAX_EXT_HEADERS 4
#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_ICMPV6_ 58
#define IPPROTO_DSTOPTS_ 60

struct l3 {
  __u32 l4;   /* offset of the L4 header */
  __u8 proto; /* ip_proto as flower sees it */
  __u8 frag;  /* a fragment: no L4 fields */
  __u8 addr[16];
};

static __always_inline int parse_v4(struct __sk_buff *skb, __u32 off, int src, struct l3 *out) {
  __u8 h[20];
  if (bpf_skb_load_bytes(skb, off, h, sizeof(h)) < 0) return -1;
  __u32 ihl = h[0] & 0x0f;
  if ((h[0] >> 4) != 4 || ihl < 5) return -1;
  __u16 frag = ((__u16)h[6] << 8) | h[7];
  out->frag = (frag & 0x3fff) != 0; /* MF or an offset */
  out->proto = h[9];
  out->l4 = off + ihl * 4;
  __builtin_memcpy(out->addr, src ? &h[12] : &h[16], 4);
  return 0;
}

static __always_inline int parse_v6(struct __sk_buff *skb, __u32 off, int src, struct l3 *out) {
  __u8 h[40];
  if (bpf_skb_load_bytes(skb, off, h, sizeof(h)) < 0) return -1;
  if ((h[0] >> 4) != 6) return -1;
  __builtin_memcpy(out->addr, src ? &h[8] : &h[24], 16);
  __u8 next = h[6];
  __u32 at = off + 40;
  out->frag = 0;
#pragma unroll
  for (int i = 0; i < MAX_EXT_HEADERS; i++) {
    __u8 ext[4];
    if (next == IPPROTO_FRAGMENT_) {
      if (bpf_skb_load_bytes(skb, at, ext, sizeof(ext)) < 0) return -1;
      next = ext[0];
      at += 8;
      out->frag = 1;
      break;
    }
    if (next != IPPROTO_HOPOPTS_ && next != IPPROTO_ROUTING_ && next != IPPROTO_DSTOPTS_) break;
    if (bpf_skb_load_bytes(skb, at, ext, 2) < 0) return -1;
    next = ext[0];
    at += ((__u32)ext[1] + 1) * 8;
  }
  out->proto = next;
  out->l4 = at;
  return 0;
}

static __always_inline int has_ports(__u8 proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

static __always_inline int is_icmp(__u8 proto, __u8 family) {
  return family == 4 ? proto == IPPROTO_ICMP : proto == IPPROTO_ICMPV6_;
}

SEC("tc")
int vfguard_set_match(struct __sk_buff *skb) {
  __u32 key = skb->tc_classid;
  const struct vfguard_set_rule *r = bpf_map_lookup_elem(&set_rules, &key);
  if (!r) return NO_MATCH;

  __be16 proto;
  if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)) < 0) return NO_MATCH;
  __u32 off = ETH_HLEN;
  if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
    if (bpf_skb_load_bytes(skb, 16, &proto, sizeof(proto)) < 0) return NO_MATCH;
    off += 4;
  }
  struct l3 l3 = {};
  const int src = r->remote_is_src;
  if (r->family == 4) {
    if (proto != bpf_htons(ETH_P_IP) || parse_v4(skb, off, src, &l3) < 0) return NO_MATCH;
  } else if (r->family == 6) {
    if (proto != bpf_htons(ETH_P_IPV6) || parse_v6(skb, off, src, &l3) < 0) return NO_MATCH;
  } else {
    return NO_MATCH;
  }
  if (r->ip_proto && r->ip_proto != l3.proto) return NO_MATCH;

  __u8 l4[4] = {0, 0, 0, 0}; /* what flower reads as ports or type/code: 0 when absent */
  if (!l3.frag && (has_ports(l3.proto) || is_icmp(l3.proto, r->family))) {
    if (bpf_skb_load_bytes(skb, l3.l4, l4, sizeof(l4)) < 0) {
      l4[0] = l4[1] = l4[2] = l4[3] = 0;
    }
  }
  if (r->flags & VFGUARD_SET_DPORT) {
    __u16 dport = has_ports(l3.proto) ? (((__u16)l4[2] << 8) | l4[3]) : 0;
    if ((dport & r->dport_mask) != r->dport) return NO_MATCH;
  }
  const int icmp = is_icmp(l3.proto, r->family);
  if ((r->flags & VFGUARD_SET_ICMP_TYPE) && (icmp ? l4[0] : 0) != r->icmp_type) return NO_MATCH;
  if ((r->flags & VFGUARD_SET_ICMP_CODE) && (icmp ? l4[1] : 0) != r->icmp_code) return NO_MATCH;

  if (r->family == 4) {
    struct vfguard_set_key4 k = {.prefixlen = 64, .set_id = r->set_id};
    __builtin_memcpy(k.addr, l3.addr, 4);
    return bpf_map_lookup_elem(&set_v4, &k) ? MATCH : NO_MATCH;
  }
  struct vfguard_set_key6 k = {.prefixlen = 160, .set_id = r->set_id};
  __builtin_memcpy(k.addr, l3.addr, 16);
  return bpf_map_lookup_elem(&set_v6, &k) ? MATCH : NO_MATCH;
}

/* No GPL-only helpers are used, so the project's license applies. */
char LICENSE[] SEC("license") = "Apache-2.0";
