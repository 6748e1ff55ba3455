/* The set-match program's maps, shared by offload/bpf/set_match.bpf.c and its
 * loader (offload/set_match_program.cc). Plain C types only.
 *
 * set_rules: key __u32, the filter's classid as the program sees it
 * (__sk_buff.tc_classid: the low 16 bits of TCA_BPF_CLASSID); value: what a
 * frame must carry besides a remote address in the set.
 * set_v4 / set_v6: LPM tries whose data is (set id, address): prefixlen is
 * 32 + the prefix length, so a lookup only meets prefixes of its own set. */
#ifndef VFGUARD_OFFLOAD_BPF_SET_MATCH_MAP_H_
#define VFGUARD_OFFLOAD_BPF_SET_MATCH_MAP_H_

#define VFGUARD_SET_MAX_RULES 65536
#define VFGUARD_SET_MAX_PREFIXES 1048576

/* vfguard_set_rule.flags */
#define VFGUARD_SET_DPORT 1     /* dport/dport_mask apply (tcp, udp, sctp) */
#define VFGUARD_SET_ICMP_TYPE 2 /* icmp_type applies (icmp, icmpv6) */
#define VFGUARD_SET_ICMP_CODE 4 /* icmp_code applies */

struct vfguard_set_rule {
  unsigned int set_id;
  unsigned char family;        /* 4 or 6: the frame's network protocol */
  unsigned char remote_is_src; /* 1: the source address (ingress rules); 0: the destination */
  unsigned char ip_proto;      /* 0: any */
  unsigned char flags;
  unsigned short dport;      /* host order; compared under dport_mask */
  unsigned short dport_mask; /* host order */
  unsigned char icmp_type;
  unsigned char icmp_code;
  unsigned char pad[2];
};

struct vfguard_set_key4 {
  unsigned int prefixlen; /* 32 + prefix length */
  unsigned int set_id;
  unsigned char addr[4]; /* network order */
};

struct vfguard_set_key6 {
  unsigned int prefixlen; /* 32 + prefix length */
  unsigned int set_id;
  unsigned char addr[16]; /* network order */
};

#endif /* VFGUARD_OFFLOAD_BPF_SET_MATCH_MAP_H_ */
