// The commands against an in-memory agent (fake_agent.h) and a temporary
// state directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "cni/cni_status.h"
#include "cni/commands.h"
#include "cni/tests/fake_agent.h"

namespace vfguard::cni {
namespace {
namespace fs = std::filesystem;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPrev[] = R"({"cniVersion": "1.0.0",
  "interfaces": [{"name": "net1", "mac": "02:00:00:00:01:01"},
                 {"name": "net1", "mac": "02:AA:00:00:01:01", "sandbox": "/run/netns/p"},
                 {"name": "eth0", "mac": "02:bb:00:00:00:01", "sandbox": "/run/netns/p"}],
  "ips": [{"address": "10.0.0.11/24", "interface": 1, "gateway": "10.0.0.1"},
          {"address": "fd00::11/64", "interface": 1},
          {"address": "192.168.0.5/24", "interface": 2}]})";

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cni_commands_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = std::make_unique<AttachmentStore>(dir_ + "/net");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A context for `command` on container `cid` with config `extra` fields.
  CommandContext Ctx(const std::string& command, const std::string& extra = "",
                     const std::string& cid = "c1", bool prev = true) {
    std::string json = R"({"cniVersion": "1.1.0", "name": "net", "type": "vfguard",
                           "network": "flat", "securityGroups": ["web"], "vfIndex": 1,
                           "installTimeoutSeconds": 2)";
    if (!extra.empty()) json += ", " + extra;
    if (prev) json += std::string(R"(, "prevResult": )") + kPrev;
    json += "}";
    absl::StatusOr<PluginConfig> config = ParseConfig(json);
    EXPECT_TRUE(config.ok()) << config.status();
    CommandContext c;
    c.env = {.command = command,
             .container_id = cid,
             .netns = "/run/netns/p",
             .ifname = "net1",
             .args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0"};
    c.config = *config;
    c.agent = &client_;
    c.store = store_.get();
    c.poll_interval = absl::Milliseconds(5);
    return c;
  }

  static CniError Err(const absl::StatusOr<std::string>& r) {
    EXPECT_FALSE(r.ok());
    return ToCniError(r.status());
  }

  std::string dir_;
  FakeAgent agent_;
  AgentClient client_{agent_};
  std::unique_ptr<AttachmentStore> store_;
};

TEST_F(CommandsTest, AddPutsThePortWaitsAndPassesPrevResultOn) {
  agent_.polls_until_installed = 3;
  absl::StatusOr<std::string> out = RunAdd(Ctx("ADD"));
  ASSERT_TRUE(out.ok()) << out.status();
  const std::string id = "default.web-0.net1";
  ASSERT_TRUE(agent_.ports.contains(id));
  EXPECT_EQ(agentctl::ToJson(agent_.ports[id], true),
            R"({"allowed_address_pairs":[],"fixed_ips":["10.0.0.11","fd00::11"],)"
            R"("mac_address":"02:aa:00:00:01:01","network_id":"flat","port_security_enabled":true,)"
            R"("security_group_ids":["web"],"state":"active","vf_index":1,"vips":[]})");
  // One PUT, then status polls until installed (3 not yet, the 4th yes).
  EXPECT_THAT(agent_.requests, ElementsAre("PUT /v1/ports/default.web-0.net1",
                                           "GET /v1/ports/default.web-0.net1/status",
                                           "GET /v1/ports/default.web-0.net1/status",
                                           "GET /v1/ports/default.web-0.net1/status",
                                           "GET /v1/ports/default.web-0.net1/status"));
  absl::StatusOr<Json> result = agentctl::ParseJson(*out);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(agentctl::FieldText(*result, "cniVersion"), "1.1.0");  // the config's version
  EXPECT_EQ(agentctl::Items(agentctl::Field(*result, "ips")).size(), 3u);
  absl::StatusOr<std::optional<AttachmentRecord>> rec = store_->Load("c1", "net1");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ(**rec, (AttachmentRecord{"c1", "net1", id, "02:aa:00:00:01:01"}));
}

TEST_F(CommandsTest, AddWithArgsOverridesAndRepresentor) {
  CommandContext c =
      Ctx("ADD", R"("args": {"cni": {"securityGroups": ["ssh"], "vips": ["10.0.0.100"],
      "allowedAddressPairs": [{"ipAddress": "10.0.9.0/24", "macAddress": "02:00:00:00:00:09"}],
      "state": "pending-activation"}})");
  c.config.vf_index.reset();
  c.config.representor = "rep_vm1";
  ASSERT_TRUE(RunAdd(c).ok());
  const Json& p = agent_.ports["default.web-0.net1"];
  EXPECT_EQ(agentctl::FieldText(p, "security_group_ids"), "ssh");
  EXPECT_EQ(agentctl::FieldText(p, "vips"), "10.0.0.100");
  EXPECT_EQ(agentctl::FieldText(p, "state"), "pending-activation");
  EXPECT_EQ(agentctl::FieldText(p, "representor_name"), "rep_vm1");
  EXPECT_EQ(agentctl::Field(p, "vf_index"), nullptr);
  EXPECT_EQ(agentctl::ToJson(*agentctl::Field(p, "allowed_address_pairs"), true),
            R"([{"ip_address":"10.0.9.0/24","mac_address":"02:00:00:00:00:09"}])");
}

TEST_F(CommandsTest, AddErrors) {
  CniError e = Err(RunAdd(Ctx("ADD", "", "c1", /*prev=*/false)));
  EXPECT_EQ(e.code, 7);
  EXPECT_EQ(e.msg,
            "prevResult: required; vfguard is a chained plugin: put it after sriov or host-device "
            "in the conflist");

  CommandContext c = Ctx("ADD");
  c.env.ifname = "net9";
  e = Err(RunAdd(c));
  EXPECT_EQ(e.code, 7);
  EXPECT_THAT(e.msg, HasSubstr(R"(prevResult.interfaces: no interface "net9" with a sandbox)"));

  c = Ctx("ADD");
  c.config.vf_index.reset();
  e = Err(RunAdd(c));
  EXPECT_THAT(e.msg, ::testing::StartsWith("deviceID: required; give deviceID"));

  // The agent's own field path reaches the message.
  e = Err(RunAdd(Ctx("ADD", R"("args": {"cni": {"securityGroups": ["web", "nope"]}})")));
  EXPECT_EQ(e.code, 100);
  EXPECT_EQ(e.msg,
            "the vfguard agent refused PUT port default.web-0.net1: "
            "ports[default.web-0.net1].security_group_ids[1]: no security group \"nope\"");
  EXPECT_EQ(e.details,
            "HTTP 400 invalid_argument; field ports[default.web-0.net1].security_group_ids[1]");
  EXPECT_TRUE(agent_.ports.empty());

  agent_.down = true;
  e = Err(RunAdd(Ctx("ADD")));
  EXPECT_EQ(e.code, 11);
  EXPECT_THAT(e.msg, HasSubstr("cannot reach the vfguard agent at /fake/agent.sock"));
}

TEST_F(CommandsTest, AddTimesOutWhenNeverInstalled) {
  agent_.polls_until_installed = 1 << 30;
  CommandContext c = Ctx("ADD");
  c.config.install_timeout = absl::Milliseconds(200);
  absl::Time start = absl::Now();
  CniError e = Err(RunAdd(c));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  EXPECT_EQ(e.code, 102);
  EXPECT_EQ(e.msg, "port default.web-0.net1: the agent did not install it within 200ms");
  EXPECT_THAT(e.details, HasSubstr("representor rep_x present"));
  // Remembered anyway, so the runtime's DEL (or GC) removes it.
  EXPECT_TRUE(store_->Load("c1", "net1")->has_value());
}

TEST_F(CommandsTest, DelIsIdempotentAndFailsClearlyWhenTheAgentIsDown) {
  ASSERT_TRUE(RunAdd(Ctx("ADD")).ok());
  agent_.down = true;
  CniError e = Err(RunDel(Ctx("DEL", "", "c1", false)));
  EXPECT_EQ(e.code, 11);
  EXPECT_THAT(e.msg,
              HasSubstr("port default.web-0.net1 was NOT deleted (the runtime retries DEL)"));
  EXPECT_TRUE(store_->Load("c1", "net1")->has_value());  // kept for the retry
  agent_.down = false;
  ASSERT_TRUE(RunDel(Ctx("DEL", "", "c1", false)).ok());
  EXPECT_TRUE(agent_.ports.empty());
  EXPECT_FALSE(store_->Load("c1", "net1")->has_value());
  // Again: already gone is success (no record, DELETE answers 404).
  agent_.requests.clear();
  ASSERT_TRUE(RunDel(Ctx("DEL", "", "c1", false)).ok());
  EXPECT_THAT(agent_.requests, ElementsAre("DELETE /v1/ports/default.web-0.net1"));
}

TEST_F(CommandsTest, DelLeavesAPortANewerAttachmentRecreated) {
  ASSERT_TRUE(RunAdd(Ctx("ADD")).ok());
  // The pod was recreated under the same name on another VF (another MAC).
  agent_.ports["default.web-0.net1"].mutable_struct_value()->mutable_fields()->at("mac_address") =
      agentctl::JsonString("02:cc:00:00:00:01");
  ASSERT_TRUE(RunDel(Ctx("DEL", "", "c1", false)).ok());
  EXPECT_TRUE(agent_.ports.contains("default.web-0.net1"));
  EXPECT_FALSE(store_->Load("c1", "net1")->has_value());
}

TEST_F(CommandsTest, CheckPassesThenFailsWhenChangedBehindItsBack) {
  ASSERT_TRUE(RunAdd(Ctx("ADD")).ok());
  absl::StatusOr<std::string> ok = RunCheck(Ctx("CHECK"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, "");

  auto& fields = *agent_.ports["default.web-0.net1"].mutable_struct_value()->mutable_fields();
  Json groups;
  *groups.mutable_list_value()->add_values() = agentctl::JsonString("ssh");
  fields["security_group_ids"] = groups;
  CniError e = Err(RunCheck(Ctx("CHECK")));
  EXPECT_EQ(e.code, 101);
  EXPECT_EQ(e.msg,
            "port default.web-0.net1: security_group_ids is [ssh] at the agent, the attachment "
            "sets [web]");

  agent_.ports.clear();
  e = Err(RunCheck(Ctx("CHECK")));
  EXPECT_EQ(e.code, 101);
  EXPECT_EQ(e.msg, "port default.web-0.net1: the agent has no such port");
}

TEST_F(CommandsTest, CheckFailsWhileNotInstalled) {
  ASSERT_TRUE(RunAdd(Ctx("ADD")).ok());
  agent_.polls_until_installed = 1 << 30;
  ASSERT_TRUE(agent_.PutPortAgain("default.web-0.net1"));
  CniError e = Err(RunCheck(Ctx("CHECK")));
  EXPECT_EQ(e.code, 102);
  EXPECT_EQ(e.msg, "port default.web-0.net1: not installed by the agent now");
}

TEST_F(CommandsTest, StatusReflectsTheAgent) {
  EXPECT_TRUE(RunStatus(Ctx("STATUS")).ok());
  agent_.ready = false;
  CniError e = Err(RunStatus(Ctx("STATUS")));
  EXPECT_EQ(e.code, 50);
  EXPECT_EQ(e.msg, "the vfguard agent is not ready: its first reconcile has not finished");
  agent_.down = true;
  e = Err(RunStatus(Ctx("STATUS")));
  EXPECT_EQ(e.code, 50);
  EXPECT_THAT(e.msg, HasSubstr("cannot reach the vfguard agent"));
}

TEST_F(CommandsTest, GcDeletesOnlyStaleAttachments) {
  CommandContext a = Ctx("ADD", "", "c1");
  a.env.args = "";  // port ids from the container ids
  ASSERT_TRUE(RunAdd(a).ok());
  CommandContext b = Ctx("ADD", "", "c2");
  b.env.args = "";
  ASSERT_TRUE(RunAdd(b).ok());
  agent_.ports["unrelated"] = Json();  // not made by this plugin: never touched
  ASSERT_EQ(agent_.ports.size(), 3u);

  CniError e = Err(RunGc(Ctx("GC", "", "", false)));
  EXPECT_EQ(e.code, 7);
  EXPECT_THAT(e.msg, ::testing::StartsWith("cni.dev/valid-attachments: required for GC"));

  CommandContext gc = Ctx(
      "GC", R"("cni.dev/valid-attachments": [{"containerID": "c2", "ifname": "net1"}])", "", false);
  ASSERT_TRUE(RunGc(gc).ok());
  EXPECT_FALSE(agent_.ports.contains("cni.c1.net1"));
  EXPECT_TRUE(agent_.ports.contains("cni.c2.net1"));
  EXPECT_TRUE(agent_.ports.contains("unrelated"));
  EXPECT_FALSE(store_->Load("c1", "net1")->has_value());
  EXPECT_TRUE(store_->Load("c2", "net1")->has_value());
}

TEST(VersionTest, Json) {
  EXPECT_EQ(VersionJson("1.0.0"), R"({"cniVersion":"1.0.0","supportedVersions":["1.0.0","1.1.0"]})"
                                  "\n");
}

}  // namespace
}  // namespace vfguard::cni
