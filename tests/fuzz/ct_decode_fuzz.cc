// libFuzzer target: arbitrary bytes into the ctnetlink entry decoder. A
// decoded entry, once normalised by one encode/decode pass (the encoder only
// writes the fields that fit the protocol, e.g. no ports for ICMP), must be a
// fixed point of encode/decode.
#include <linux/netfilter/nf_conntrack_common.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "netlink/conntrack.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto entry = vfguard::netlink::DecodeCtEntry(absl::MakeConstSpan(data, size));
  if (!entry.ok()) return 0;
  if (entry->orig.src.family != 2 && entry->orig.src.family != 10) return 0;
  auto once = vfguard::netlink::DecodeCtEntry(vfguard::netlink::EncodeCtCreate(*entry));
  if (!once.ok()) abort();
  auto twice = vfguard::netlink::DecodeCtEntry(vfguard::netlink::EncodeCtCreate(*once));
  if (!twice.ok() || *twice != *once) abort();
  return 0;
}
