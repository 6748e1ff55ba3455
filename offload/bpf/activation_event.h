/* Layout of one activation event, shared by the BPF program
 * (activation.bpf.c) and its loader (offload/activation_monitor.cc).
 *
 * Plain C on <linux/types.h> so that both clang -target bpf and the C++
 * compiler see the same struct; the loader checks sizeof at compile time.
 * All multi-byte fields are host order; addresses are in network order as on
 * the wire. */
#ifndef VFGUARD_OFFLOAD_BPF_ACTIVATION_EVENT_H_
#define VFGUARD_OFFLOAD_BPF_ACTIVATION_EVENT_H_

#include <linux/types.h>

/* What the VM sent. Values are part of the loader ABI: append only. */
enum vfguard_activation_kind {
  VFGUARD_ACTIVATION_RARP = 1,          /* RARP request (opcode 3), as QEMU announces */
  VFGUARD_ACTIVATION_GARP = 2,          /* ARP request or reply with sender IP == target IP */
  VFGUARD_ACTIVATION_UNSOLICITED_NA = 3 /* ICMPv6 NA with the solicited flag clear */
};

struct vfguard_activation_event {
  __u32 ifindex; /* the watched ifindex the frame came in on */
  __u32 cookie;  /* the value the agent stored for that ifindex */
  __u32 kind;    /* enum vfguard_activation_kind */
  __u8 mac[6];   /* Ethernet source address of the frame */
  __u8 family;   /* 0 (RARP: no address), 2 (AF_INET) or 10 (AF_INET6) */
  __u8 pad;
  /* GARP: the sender IPv4 address in ip[0..3]; NA: the target address; RARP:
   * zero. Unused bytes are zero. */
  __u8 ip[16];
};

#endif /* VFGUARD_OFFLOAD_BPF_ACTIVATION_EVENT_H_ */
