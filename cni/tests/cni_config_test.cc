#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cni/cni_status.h"
#include "cni/config.h"

namespace vfguard::cni {
namespace {

using ::testing::ElementsAre;

TEST(CniConfigTest, ReadsEveryField) {
  absl::StatusOr<PluginConfig> c = ParseConfig(R"({
    "cniVersion": "1.1.0", "name": "sriov-flat", "type": "vfguard",
    "socket": "/run/x/agent.sock", "network": "flat", "securityGroups": ["web", "ssh"],
    "portSecurity": false, "vips": ["10.0.0.100"],
    "allowedAddressPairs": [{"ipAddress": "10.0.0.0/24", "macAddress": "02:00:00:00:00:09"},
                            {"ipAddress": "10.0.1.1"}],
    "deviceID": "0000:03:00.2", "installTimeoutSeconds": 2.5, "stateDir": "/tmp/s",
    "capabilities": {"deviceID": true}, "ipam": {},
    "runtimeConfig": {"deviceID": "0000:03:00.4", "portMappings": []},
    "cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "net1"}],
    "prevResult": {"cniVersion": "1.1.0", "interfaces": []}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cni_version, "1.1.0");
  EXPECT_EQ(c->name, "sriov-flat");
  EXPECT_EQ(c->type, "vfguard");
  EXPECT_EQ(c->socket, "/run/x/agent.sock");
  EXPECT_EQ(c->network, "flat");
  EXPECT_THAT(c->security_groups, ElementsAre("web", "ssh"));
  EXPECT_FALSE(c->port_security);
  EXPECT_THAT(c->vips, ElementsAre("10.0.0.100"));
  EXPECT_THAT(c->allowed_address_pairs, ElementsAre(AddressPair{"10.0.0.0/24", "02:00:00:00:00:09"},
                                                    AddressPair{"10.0.1.1", ""}));
  EXPECT_EQ(c->device_id, "0000:03:00.4");  // runtimeConfig wins
  EXPECT_FALSE(c->vf_index.has_value());
  EXPECT_EQ(c->install_timeout, absl::Milliseconds(2500));
  EXPECT_EQ(c->state_dir, "/tmp/s");
  EXPECT_EQ(c->state, "active");
  ASSERT_TRUE(c->valid_attachments.has_value());
  EXPECT_THAT(*c->valid_attachments, ElementsAre(AttachmentKey{"c1", "net1"}));
  ASSERT_TRUE(c->prev_result.has_value());
}

TEST(CniConfigTest, Defaults) {
  absl::StatusOr<PluginConfig> c =
      ParseConfig(R"({"cniVersion": "1.0.0", "name": "n", "type": "vfguard", "network": "flat"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->socket, "/run/vfguard/agent.sock");
  EXPECT_TRUE(c->port_security);
  EXPECT_TRUE(c->security_groups.empty());
  EXPECT_EQ(c->install_timeout, absl::Seconds(30));
  EXPECT_EQ(c->state_dir, "/var/lib/cni/vfguard");
  EXPECT_FALSE(c->prev_result.has_value());
  EXPECT_FALSE(c->valid_attachments.has_value());
}

TEST(CniConfigTest, ArgsCniOverridesPerPod) {
  absl::StatusOr<PluginConfig> c = ParseConfig(R"({
    "cniVersion": "1.1.0", "name": "n", "network": "flat", "vfIndex": 3,
    "securityGroups": ["web"], "vips": ["10.0.0.1"],
    "args": {"cni": {"securityGroups": ["ssh"], "vips": [],
                     "allowedAddressPairs": [{"ipAddress": "10.9.0.0/16"}],
                     "state": "pending-activation", "somethingForSriov": 1}}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->security_groups, ElementsAre("ssh"));
  EXPECT_TRUE(c->vips.empty());
  EXPECT_THAT(c->allowed_address_pairs, ElementsAre(AddressPair{"10.9.0.0/16", ""}));
  EXPECT_EQ(c->state, "pending-activation");
  EXPECT_EQ(c->vf_index, 3u);
}

TEST(CniConfigTest, ArgsWithoutOverridesKeepTheConfig) {
  absl::StatusOr<PluginConfig> c = ParseConfig(R"({
    "cniVersion": "1.1.0", "name": "n", "network": "flat", "representor": "pf0vf2",
    "securityGroups": ["web"], "args": {"cni": {"other": "x"}}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->security_groups, ElementsAre("web"));
  EXPECT_EQ(c->representor, "pf0vf2");
}

struct BadCase {
  const char* json;
  int code;
  const char* msg;
};

class CniConfigBadTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(CniConfigBadTest, ExactError) {
  absl::StatusOr<PluginConfig> c = ParseConfig(GetParam().json);
  ASSERT_FALSE(c.ok()) << GetParam().json;
  CniError e = ToCniError(c.status());
  EXPECT_EQ(e.code, GetParam().code) << e.msg;
  EXPECT_EQ(e.msg, GetParam().msg);
}

#define BASE R"("cniVersion": "1.1.0", "name": "n", "network": "flat")"

INSTANTIATE_TEST_SUITE_P(
    Cases, CniConfigBadTest,
    ::testing::Values(
        BadCase{"[1]", 6, "the network configuration on stdin is not a JSON object"},
        BadCase{R"({"name": "n", "network": "flat"})", 7, "cniVersion: required"},
        BadCase{R"({"cniVersion": "0.4.0", "name": "n", "network": "flat"})", 1,
                R"(cniVersion: "0.4.0" is not supported (1.0.0, 1.1.0))"},
        BadCase{R"({"cniVersion": "1.1.0", "network": "flat"})", 7, "name: required"},
        BadCase{R"({"cniVersion": "1.1.0", "name": "n"})", 7, "network: required"},
        BadCase{R"({"cniVersion": "1.1.0", "name": "n", "network": ""})", 7,
                "network: must not be empty"},
        BadCase{R"({"cniVersion": "1.1.0", "name": "n", "network": 3})", 7,
                "network: must be a string"},
        BadCase{"{" BASE R"(, "securityGroup": ["web"]})", 7, "securityGroup: unknown field"},
        BadCase{"{" BASE R"(, "securityGroups": "web"})", 7,
                "securityGroups: must be a list of strings"},
        BadCase{"{" BASE R"(, "securityGroups": ["web", 1]})", 7,
                "securityGroups[1]: must be a non-empty string"},
        BadCase{"{" BASE R"(, "vips": [""]})", 7, "vips[0]: must be a non-empty string"},
        BadCase{"{" BASE R"(, "portSecurity": "yes"})", 7, "portSecurity: must be true or false"},
        BadCase{"{" BASE R"(, "socket": ""})", 7, "socket: must not be empty"},
        BadCase{"{" BASE R"(, "stateDir": "rel"})", 7, "stateDir: must be an absolute path"},
        BadCase{"{" BASE R"(, "installTimeoutSeconds": 0})", 7,
                "installTimeoutSeconds: must be a number of seconds, more than 0, at most 600"},
        BadCase{"{" BASE R"(, "allowedAddressPairs": [{"ip": "10.0.0.1"}]})", 7,
                "allowedAddressPairs[0].ip: unknown field (ipAddress, macAddress)"},
        BadCase{"{" BASE R"(, "allowedAddressPairs": [{"macAddress": "02:00:00:00:00:01"}]})", 7,
                "allowedAddressPairs[0].ipAddress: required"},
        BadCase{
            "{" BASE R"(, "allowedAddressPairs": ["10.0.0.1"]})", 7,
            R"(allowedAddressPairs[0]: must be an object {"ipAddress": ..., "macAddress": ...})"},
        BadCase{"{" BASE R"(, "deviceID": "03:00.2"})", 7,
                R"(deviceID: "03:00.2" is not a PCI address (like 0000:03:00.2))"},
        BadCase{"{" BASE R"(, "runtimeConfig": {"deviceID": "x"}})", 7,
                R"(runtimeConfig.deviceID: "x" is not a PCI address (like 0000:03:00.2))"},
        BadCase{"{" BASE R"(, "vfIndex": -1})", 7, "vfIndex: must be an integer 0-65535"},
        BadCase{"{" BASE R"(, "vfIndex": 1.5})", 7, "vfIndex: must be an integer 0-65535"},
        BadCase{"{" BASE R"(, "vfIndex": "1"})", 7, "vfIndex: must be an integer 0-65535"},
        BadCase{"{" BASE R"(, "vfIndex": 1, "representor": "pf0vf1"})", 7,
                "vfIndex: give one of deviceID, vfIndex and representor"},
        BadCase{"{" BASE R"(, "vfIndex": 1, "runtimeConfig": {"deviceID": "0000:03:00.2"}})", 7,
                "vfIndex: give one of runtimeConfig.deviceID, vfIndex and representor"},
        BadCase{"{" BASE R"(, "args": {"cni": {"securityGroups": [7]}}})", 7,
                "args.cni.securityGroups[0]: must be a non-empty string"},
        BadCase{"{" BASE R"(, "args": {"cni": {"state": "paused"}}})", 7,
                R"(args.cni.state: "paused" is not one of active, pending-activation, inactive)"},
        BadCase{"{" BASE R"(, "args": {"cni": {"allowedAddressPairs": [{}]}}})", 7,
                "args.cni.allowedAddressPairs[0].ipAddress: required"},
        BadCase{"{" BASE R"(, "args": []})", 7, "args: must be an object"},
        BadCase{"{" BASE R"(, "prevResult": "x"})", 7, "prevResult: must be an object"},
        BadCase{"{" BASE R"(, "cni.dev/valid-attachments": [{"containerID": "c"}]})", 7,
                "cni.dev/valid-attachments[0].ifname: required"}));

TEST(CniConfigTest, NotJsonIsADecodeError) {
  absl::StatusOr<PluginConfig> c = ParseConfig("{\"cniVersion\": ");
  ASSERT_FALSE(c.ok());
  CniError e = ToCniError(c.status());
  EXPECT_EQ(e.code, 6);
  EXPECT_THAT(e.msg, ::testing::StartsWith("the network configuration on stdin is not JSON: "));
}

TEST(CniConfigTest, VersionOfABadConfig) {
  EXPECT_EQ(CniVersionOf(R"({"cniVersion": "1.0.0", "x": 1})"), "1.0.0");
  EXPECT_EQ(CniVersionOf("garbage"), "1.1.0");
}

}  // namespace
}  // namespace vfguard::cni
