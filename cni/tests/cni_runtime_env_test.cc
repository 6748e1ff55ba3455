#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cni/cni_status.h"
#include "cni/runtime_env.h"

namespace vfguard::cni {
namespace {

TEST(PortIdTest, PodNamespaceNameAndIfname) {
  std::map<std::string, std::string> args = {
      {"K8S_POD_NAMESPACE", "default"}, {"K8S_POD_NAME", "web-0"}, {"IgnoreUnknown", "1"}};
  EXPECT_EQ(PortId(args, "abc123", "net1"), "default.web-0.net1");
}

TEST(PortIdTest, ContainerIdWithoutPod) {
  EXPECT_EQ(PortId({}, "abc123", "net1"), "cni.abc123.net1");
  // Only one of the two pod keys (or an empty one) is not a pod.
  EXPECT_EQ(PortId({{"K8S_POD_NAME", "web-0"}}, "abc123", "net1"), "cni.abc123.net1");
  EXPECT_EQ(PortId({{"K8S_POD_NAMESPACE", ""}, {"K8S_POD_NAME", "w"}}, "c", "eth0"), "cni.c.eth0");
}

TEST(PortIdTest, LongIdsKeepAPrefixAndAHash) {
  const std::string cid(64, 'f');
  std::string id = PortId({}, cid, "net1");
  EXPECT_EQ(id.size(), 63u);
  EXPECT_EQ(id.substr(0, 55), "cni." + std::string(50, 'f') + "-");
  EXPECT_EQ(id, PortId({}, cid, "net1"));  // stable
  EXPECT_NE(id, PortId({}, cid, "net2"));  // the hash covers what was cut
}

TEST(PortIdTest, CharactersTheAgentRefusesAreReplacedAndHashed) {
  std::string a = PortId({}, "c1", "net/1");
  std::string b = PortId({}, "c1", "net@1");
  EXPECT_EQ(a.substr(0, 11), "cni.c1.net_");
  EXPECT_EQ(b.substr(0, 11), "cni.c1.net_");
  EXPECT_NE(a, b);
  for (char c : a) EXPECT_TRUE(isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-') << a;
}

TEST(CniArgsTest, Parses) {
  absl::StatusOr<std::map<std::string, std::string>> args =
      ParseCniArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;;X=a=b");
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(args->at("K8S_POD_NAMESPACE"), "ns");
  EXPECT_EQ(args->at("X"), "a=b");
  EXPECT_EQ(args->size(), 4u);
  absl::StatusOr<std::map<std::string, std::string>> bad = ParseCniArgs("A=1;oops");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(ToCniError(bad.status()).code, 4);
  EXPECT_EQ(bad.status().message(), R"(CNI_ARGS: "oops" is not KEY=VALUE)");
}

TEST(RequireEnvTest, NamesTheMissingVariable) {
  RuntimeEnv env{.command = "ADD", .container_id = "c", .netns = "", .ifname = "net1"};
  absl::Status s = RequireEnv(env);
  EXPECT_EQ(ToCniError(s).code, 4);
  EXPECT_EQ(s.message(), "CNI_NETNS is not set (ADD needs it)");
  env.command = "DEL";  // DEL works without a netns
  EXPECT_TRUE(RequireEnv(env).ok());
  env.ifname = "";
  EXPECT_EQ(RequireEnv(env).message(), "CNI_IFNAME is not set (DEL needs it)");
  env.command = "GC";
  EXPECT_TRUE(RequireEnv(env).ok());
}

TEST(ReadEnvTest, ReadsEveryVariable) {
  std::map<std::string, std::string> vars = {
      {"CNI_COMMAND", "ADD"}, {"CNI_CONTAINERID", "c"}, {"CNI_NETNS", "/run/netns/p"},
      {"CNI_IFNAME", "net1"}, {"CNI_ARGS", "A=1"},      {"CNI_PATH", "/opt/cni/bin"}};
  RuntimeEnv env = ReadEnv([&](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
  EXPECT_EQ(env.command, "ADD");
  EXPECT_EQ(env.container_id, "c");
  EXPECT_EQ(env.netns, "/run/netns/p");
  EXPECT_EQ(env.ifname, "net1");
  EXPECT_EQ(env.args, "A=1");
  EXPECT_EQ(env.path, "/opt/cni/bin");
}

}  // namespace
}  // namespace vfguard::cni
