/* The ND check program's map value, shared by offload/bpf/nd_check.bpf.c and
 * its loader (offload/nd_check_program.cc). Plain C types only.
 *
 * Key: the port representor's ifindex (__u32). Value: allowed(P, M) for IPv6
 * as (MAC, address, mask) triples; an NA's target must match one whose MAC
 * is the frame's source MAC. */
#ifndef VFGUARD_OFFLOAD_BPF_ND_CHECK_MAP_H_
#define VFGUARD_OFFLOAD_BPF_ND_CHECK_MAP_H_

#define VFGUARD_ND_MAX_ALLOWED 64
#define VFGUARD_ND_MAX_PORTS 4096

struct vfguard_nd_allowed {
  unsigned char addr[16]; /* network order, host bits zero */
  unsigned char mask[16]; /* the prefix length as a mask */
  unsigned char mac[6];
  unsigned char pad[2];
};

struct vfguard_nd_entry {
  unsigned int count; /* valid elements of allowed[] */
  struct vfguard_nd_allowed allowed[VFGUARD_ND_MAX_ALLOWED];
};

#endif /* VFGUARD_OFFLOAD_BPF_ND_CHECK_MAP_H_ */
