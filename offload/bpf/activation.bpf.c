/* Live-migration activation detector: a tc classifier in the shared ingress
 * block that reports the frames a migrated VM sends to announce itself.
 *
 * Contract:
 * - `watched` maps an ifindex (a pending-activation port's representor) to
 *   the agent's cookie for that port. Only frames whose ingress_ifindex (or,
 *   when that is 0, ifindex) is a key are looked at.
 * - An activation frame is a RARP request (opcode 3), a gratuitous ARP
 *   (request or reply, Ethernet/IPv4, sender IP == target IP, not 0.0.0.0) or
 *   an unsolicited Neighbor Advertisement (IPv6 next header ICMPv6, type 136,
 *   code 0, solicited flag clear). For each one a struct
 *   vfguard_activation_event is submitted to the `events` ring buffer (dropped
 *   when the ring is full; the VM repeats its announcement).
 * - The verdict is always TC_ACT_UNSPEC: "continue with the next filter". The
 *   program only reports; the flower pipeline at later prios decides.
 * - Reads go through bpf_skb_load_bytes, which fails past skb->len, so a
 *   truncated frame (or one whose IPv6 payload length runs past the frame) is
 *   ignored, and non-linear skbs are read correctly.
 * - VLAN tags are not parsed: on tc ingress the kernel has already moved an
 *   outer tag into skb->vlan_tci, and a VM port sends untagged frames.
 *   IPv6 extension headers are not walked (an NA carries none in practice).
 *
 * The program is stateless apart from the maps: it reports every activation
 * frame while the port is watched; the agent unwatches after the first. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in6.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "activation_event.h"

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);   /* ifindex */
  __type(value, __u32); /* port cookie */
} watched SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* Wire layouts, spelled out so the program needs no libc headers. */
struct arp_ipv4 {
  __be16 htype;
  __be16 ptype;
  __u8 hlen;
  __u8 plen;
  __be16 op;
  __u8 sha[6];
  __u8 spa[4];
  __u8 tha[6];
  __u8 tpa[4];
} __attribute__((packed));

struct ipv6_na {
  /* IPv6 header */
  __be32 ver_class_flow;
  __be16 payload_len;
  __u8 next_header;
  __u8 hop_limit;
  __u8 saddr[16];
  __u8 daddr[16];
  /* ICMPv6 NA */
  __u8 type;
  __u8 code;
  __be16 checksum;
  __u8 flags; /* R 0x80, S 0x40, O 0x20 */
  __u8 reserved[3];
  __u8 target[16];
} __attribute__((packed));

#define ARPOP_REQUEST_ 1
#define ARPOP_REPLY_ 2
#define ARPOP_RREQUEST_ 3
#define ICMPV6_NA_TYPE 136
#define NA_FLAG_SOLICITED 0x40
#define AF_INET_ 2
#define AF_INET6_ 10

static __always_inline void report(__u32 ifindex, __u32 cookie, __u32 kind, const __u8 *mac,
                                   __u8 family, const __u8 *ip, int ip_len) {
  struct vfguard_activation_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) return;
  __builtin_memset(e, 0, sizeof(*e));
  e->ifindex = ifindex;
  e->cookie = cookie;
  e->kind = kind;
  __builtin_memcpy(e->mac, mac, 6);
  e->family = family;
  if (ip_len == 4) __builtin_memcpy(e->ip, ip, 4);
  if (ip_len == 16) __builtin_memcpy(e->ip, ip, 16);
  bpf_ringbuf_submit(e, 0);
}

/* ARP and RARP share the Ethernet/IPv4 ARP layout. */
static __always_inline void check_arp(struct __sk_buff *skb, __u32 ifindex, __u32 cookie,
                                      const struct ethhdr *eth) {
  struct arp_ipv4 arp;
  if (bpf_skb_load_bytes(skb, sizeof(*eth), &arp, sizeof(arp)) < 0) return;
  if (arp.htype != bpf_htons(1) || arp.ptype != bpf_htons(ETH_P_IP) || arp.hlen != 6 ||
      arp.plen != 4)
    return;
  __u16 op = bpf_ntohs(arp.op);
  if (eth->h_proto == bpf_htons(ETH_P_RARP)) {
    if (op == ARPOP_RREQUEST_)
      report(ifindex, cookie, VFGUARD_ACTIVATION_RARP, eth->h_source, 0, arp.spa, 0);
    return;
  }
  if (op != ARPOP_REQUEST_ && op != ARPOP_REPLY_) return;
  __u32 spa, tpa;
  __builtin_memcpy(&spa, arp.spa, 4);
  __builtin_memcpy(&tpa, arp.tpa, 4);
  if (spa == tpa && spa != 0)
    report(ifindex, cookie, VFGUARD_ACTIVATION_GARP, eth->h_source, AF_INET_, arp.spa, 4);
}

static __always_inline void check_na(struct __sk_buff *skb, __u32 ifindex, __u32 cookie,
                                     const struct ethhdr *eth) {
  struct ipv6_na na;
  if (bpf_skb_load_bytes(skb, sizeof(*eth), &na, sizeof(na)) < 0) return;
  if ((bpf_ntohl(na.ver_class_flow) >> 28) != 6 || na.next_header != IPPROTO_ICMPV6) return;
  __u32 payload_len = bpf_ntohs(na.payload_len);
  /* The NA body is 24 bytes; a payload length past the frame means the frame
   * was cut short. */
  if (payload_len < 24 || skb->len < sizeof(*eth) + 40 + payload_len) return;
  if (na.type != ICMPV6_NA_TYPE || na.code != 0 || (na.flags & NA_FLAG_SOLICITED)) return;
  report(ifindex, cookie, VFGUARD_ACTIVATION_UNSOLICITED_NA, eth->h_source, AF_INET6_, na.target,
         16);
}

SEC("tc")
int vfguard_activation(struct __sk_buff *skb) {
  __u32 ifindex = skb->ingress_ifindex ? skb->ingress_ifindex : skb->ifindex;
  __u32 *cookie = bpf_map_lookup_elem(&watched, &ifindex);
  if (!cookie) return TC_ACT_UNSPEC;
  __u32 c = *cookie;

  struct ethhdr eth;
  if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0) return TC_ACT_UNSPEC;
  if (eth.h_proto == bpf_htons(ETH_P_ARP) || eth.h_proto == bpf_htons(ETH_P_RARP))
    check_arp(skb, ifindex, c, &eth);
  else if (eth.h_proto == bpf_htons(ETH_P_IPV6))
    check_na(skb, ifindex, c, &eth);
  return TC_ACT_UNSPEC;
}

/* No GPL-only helpers are used, so the project's license applies. */
char LICENSE[] SEC("license") = "Apache-2.0";
