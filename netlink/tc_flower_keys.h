// Flower match keys <-> TCA_FLOWER_KEY_* attributes, driven by one table
// (tc_flower_keys.cc) that names each key's attributes and wire format.
#ifndef VFGUARD_NETLINK_TC_FLOWER_KEYS_H_
#define VFGUARD_NETLINK_TC_FLOWER_KEYS_H_

#include "absl/status/status.h"
#include "netlink/tc_types.h"
#include "netlink/tc_wire.h"

namespace vfguard::netlink::tc_flower {

// Rejects key combinations the kernel would silently ignore (a key without
// its prerequisite, e.g. tcp ports without ip_proto tcp). Names the field.
absl::Status ValidateKeys(const FlowerKeys& keys);

// Writes every set key except eth_type, in table order, into the open
// TCA_OPTIONS nest.
void EncodeKeys(const FlowerKeys& keys, tc_wire::AttrWriter& writer);
// Writes TCA_FLOWER_KEY_ETH_TYPE if set. iproute2 sends it after the actions
// and flags; the encoder does the same so requests match tc's byte for byte.
void EncodeTrailingKeys(const FlowerKeys& keys, tc_wire::AttrWriter& writer);

// Reads all keys from a parsed TCA_OPTIONS. A missing mask attribute means an
// exact match (all-ones), as in the kernel.
absl::Status DecodeKeys(const tc_wire::AttrIndex& options, FlowerKeys& keys);

}  // namespace vfguard::netlink::tc_flower

#endif  // VFGUARD_NETLINK_TC_FLOWER_KEYS_H_
