#include "agent/snapshot_digest.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/checkpoint.h"
#include "agent/policy_codec.h"

namespace vfguard::agent {
namespace {

constexpr char kBase[] = R"json({
  "networks": [{"id": "n", "segmentation": "vlan", "vlan_id": 10}],
  "security_groups": [{"id": "g", "rules": [{"direction": "ingress", "protocol": "tcp",
                                             "port_range_min": 22, "port_range_max": 22}]}]
})json";

// A valid snapshot with `n` ports on one network.
policy::Snapshot WithPorts(int n) {
  api::v1::Policy p = PolicyFromJson(kBase).value();
  for (int i = 0; i < n; ++i) {
    api::v1::Port* port = p.add_ports();
    port->set_id(absl::StrCat("port-", i));
    port->set_network_id("n");
    port->set_mac_address(absl::StrFormat("02:00:00:00:%02x:%02x", i / 256, i % 256));
    port->add_fixed_ips(absl::StrCat("10.0.", i / 200, ".", i % 200 + 1));
    port->add_security_group_ids("g");
    port->set_vf_index(i + 1);
  }
  return SnapshotFromPolicy(p).value();
}

// The digest as it was first defined: the bytes in one string, then hashed.
uint64_t HashOfBytes(const policy::Snapshot& s, uint64_t seed, size_t* size) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    PolicyFromSnapshot(s).SerializeToCodedStream(&coded);
  }
  *size = bytes.size();
  return Fnv1a64(bytes, seed);
}

TEST(SnapshotDigestTest, IsTheHashOfTheDeterministicBytesAcrossBuffers) {
  for (int n : {0, 1, 40, 400}) {
    const policy::Snapshot s = WithPorts(n);
    size_t size = 0;
    const uint64_t want = HashOfBytes(s, 12345, &size);
    if (n == 400) EXPECT_GT(size, 4 * 4096u) << "the bytes must span several stream buffers";
    EXPECT_EQ(SnapshotDigest(s, 12345), want) << n << " ports, " << size << " bytes";
  }
}

TEST(SnapshotDigestTest, ChangesWithTheSnapshotAndTheSeed) {
  const policy::Snapshot s = WithPorts(40);
  policy::Snapshot other = s;
  other.ports.begin()->second.port_security = false;
  EXPECT_NE(SnapshotDigest(s, 1), SnapshotDigest(other, 1));
  EXPECT_NE(SnapshotDigest(s, 1), SnapshotDigest(s, 2));
  EXPECT_EQ(SnapshotDigest(s, 1), SnapshotDigest(WithPorts(40), 1));
}

}  // namespace
}  // namespace vfguard::agent
