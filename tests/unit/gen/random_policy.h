// Random valid snapshots and interesting packets for property tests.
//
// Deterministic from a seed (std::mt19937_64), so a failing case is
// reproduced by its seed. Values are drawn from small pools so that random
// packets often hit port addresses, group members, range edges and protocol
// special cases.
#ifndef VFGUARD_TESTS_UNIT_GEN_RANDOM_POLICY_H_
#define VFGUARD_TESTS_UNIT_GEN_RANDOM_POLICY_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "policy/model.h"
#include "policy/packet.h"
#include "policy/slots.h"

namespace vfguard::testing {

struct RandomPolicyOptions {
  int max_networks = 3;
  int max_ports = 6;
  int max_groups = 4;
  int max_rules_per_group = 6;
  int max_address_groups = 2;
  int max_remote_ports = 4;
};

class RandomPolicy {
 public:
  explicit RandomPolicy(uint64_t seed, RandomPolicyOptions options = {});

  // A snapshot valid by construction (ids, unique MACs and VLANs, at most one
  // flat network, no port mixing stateful and stateless groups), with remote
  // ports (members of its groups) and address groups.
  policy::Snapshot Snapshot();
  // A frame entering the eswitch, biased towards the snapshot's addresses.
  policy::Packet Packet(const policy::Snapshot& s);
  // A sequence of frames where some are replies to earlier ones.
  std::vector<policy::Packet> Exchange(const policy::Snapshot& s, int max_len = 8);

  std::mt19937_64& rng() { return rng_; }

 private:
  int Uniform(int lo, int hi);  // inclusive
  bool Chance(double p);
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Uniform(0, static_cast<int>(v.size()) - 1)];
  }
  policy::SecurityGroupRule Rule(const std::vector<std::string>& group_ids,
                                 const std::vector<std::string>& address_group_ids);
  policy::IpAddr PoolIp(bool v6);
  policy::MacAddr PickSrcMac(const policy::Snapshot& s, const policy::Port* sender);
  policy::MacAddr PickDstMac(const policy::Snapshot& s, const policy::Port* sender);
  policy::IpAddr PickSrcIp(const policy::Snapshot& s, const policy::Port* sender, bool v6);
  // Fills the ND fields of an NS/NA: random code and hop limit (mostly
  // valid), a target from the sender's, another port's or the pool's
  // addresses, random options (SLLA/TLLA/nonce, lengths 0-2, the source MAC
  // or another), sometimes cut short.
  void RandomNd(const policy::Snapshot& s, const policy::Port* sender, policy::Packet& p);

  std::mt19937_64 rng_;
  RandomPolicyOptions options_;
};

// Human-readable dump of a snapshot for failure messages.
std::string Describe(const policy::Snapshot& s);

}  // namespace vfguard::testing

#endif  // VFGUARD_TESTS_UNIT_GEN_RANDOM_POLICY_H_
