#include "agent/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace vfguard::agent {
namespace {

constexpr char kDevlink[] = "--devlink_device=pci/0000:03:00.0";

std::string Error(const std::vector<std::string>& args) {
  absl::StatusOr<AgentConfig> c = LoadAgentConfig(args);
  if (c.ok()) return "OK";
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  return std::string(c.status().message());
}

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/config_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/agent.json";
  }
  void TearDown() override {
    std::remove(path_.c_str());
    rmdir(dir_.c_str());
  }
  void Write(const std::string& text) { std::ofstream(path_) << text; }
  std::string dir_;
  std::string path_;
};

TEST(Config, DefaultsWithOnlyTheDevlinkDevice) {
  absl::StatusOr<AgentConfig> c = LoadAgentConfig({kDevlink});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->state_dir, "/var/lib/vfguard");
  EXPECT_EQ(c->CheckpointPath(), "/var/lib/vfguard/state.pb");
  EXPECT_EQ(c->policy_file, "");
  EXPECT_EQ(c->eswitch.mode, EswitchMode::kDevlink);
  EXPECT_EQ(c->eswitch.devlink_device, "pci/0000:03:00.0");
  EXPECT_EQ(c->block_index, 0x766667u);
  EXPECT_EQ(c->ct_zone_min, 1);
  EXPECT_EQ(c->ct_zone_max, 65535);
  EXPECT_EQ(c->api_socket, "/run/vfguard/agent.sock");
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:9477");
  EXPECT_EQ(c->log_level, common::LogLevel::kInfo);
}

TEST(Config, EveryFlag) {
  absl::StatusOr<AgentConfig> c = LoadAgentConfig(
      {"--state_dir=/srv/vfg", "--policy_file", "policy.json", "--eswitch_mode=map", "--uplink=p0",
       "--representor=0=pf0vf0", "--representor", "3=pf0vf3", "--block_index=0x10",
       "--ct_zone_min=100", "--ct_zone_max=200", "--api_socket=/tmp/a.sock",
       "--metrics_listen=[::1]:9000", "--log_level=debug"});
  ASSERT_TRUE(c.ok()) << c.status();
  AgentConfig want;
  want.state_dir = "/srv/vfg";
  want.policy_file = "policy.json";
  want.eswitch.mode = EswitchMode::kMap;
  want.eswitch.uplink = "p0";
  want.eswitch.representors = {{0, "pf0vf0"}, {3, "pf0vf3"}};
  want.block_index = 16;
  want.ct_zone_min = 100;
  want.ct_zone_max = 200;
  want.api_socket = "/tmp/a.sock";
  want.metrics_listen = "[::1]:9000";
  want.log_level = common::LogLevel::kDebug;
  EXPECT_EQ(*c, want);
}

TEST(Config, CommandLineErrors) {
  EXPECT_EQ(Error({kDevlink, "--bogus=1"}), "--bogus: unknown flag (see --help)");
  EXPECT_EQ(Error({kDevlink, "stray"}), "unexpected argument \"stray\"");
  EXPECT_EQ(Error({kDevlink, "--state_dir"}), "--state_dir: needs a value");
  EXPECT_EQ(Error({kDevlink, "--block_index=12x"}),
            "--block_index: \"12x\" is not a number in range 0-4294967295");
  EXPECT_EQ(Error({kDevlink, "--block_index=4294967296"}),
            "--block_index: \"4294967296\" is not a number in range 0-4294967295");
  EXPECT_EQ(Error({kDevlink, "--ct_zone_max=65536"}),
            "--ct_zone_max: \"65536\" is not a number in range 0-65535");
  EXPECT_EQ(Error({kDevlink, "--ct_zone_min=-1"}),
            "--ct_zone_min: \"-1\" is not a number in range 0-65535");
  EXPECT_EQ(Error({"--eswitch_mode=sriov"}),
            "--eswitch_mode: \"sriov\" is not one of devlink, map");
  EXPECT_EQ(Error({kDevlink, "--log_level=trace"}),
            "--log_level: \"trace\" is not one of debug, info, warn, error");
  EXPECT_EQ(Error({"--eswitch_mode=map", "--uplink=p0", "--representor=pf0vf3"}),
            "--representor: \"pf0vf3\" is not VF=NETDEV (e.g. 3=pf0vf3)");
  EXPECT_EQ(Error({"--eswitch_mode=map", "--uplink=p0", "--representor=1=a", "--representor=1=b"}),
            "--representor: VF 1 is given twice");
  EXPECT_EQ(Error({"--config=/a", "--config=/b"}), "--config: is given twice");
  EXPECT_EQ(Error({kDevlink, "--api_socket_mode=0999"}),
            "--api_socket_mode: \"0999\" is not an octal file mode (e.g. 0660)");
  EXPECT_EQ(Error({kDevlink, "--api_socket_mode=17777"}),
            "--api_socket_mode: \"17777\" is not an octal file mode (e.g. 0660)");
}

TEST(Config, ApiAccessFlags) {
  absl::StatusOr<AgentConfig> c =
      LoadAgentConfig({kDevlink, "--api_write_group=vfguard", "--api_read_group=vfguard-ro",
                       "--api_socket_mode=0666"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->api_write_group, "vfguard");
  EXPECT_EQ(c->api_read_group, "vfguard-ro");
  EXPECT_EQ(c->api_socket_mode, 0666u);
  absl::StatusOr<AgentConfig> d = LoadAgentConfig({kDevlink});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->api_socket_mode, 0660u);
  EXPECT_TRUE(d->api_write_group.empty());
}

TEST(Config, ValidationNamesTheField) {
  EXPECT_EQ(Error({}), "eswitch.devlink_device (--devlink_device): is required in devlink mode");
  EXPECT_EQ(Error({"--devlink_device=pci/3:00.0"}),
            "eswitch.devlink_device (--devlink_device): \"pci/3:00.0\" is not a devlink PCI "
            "handle (pci/DDDD:BB:DD.F)");
  EXPECT_EQ(Error({"--devlink_device=pci/0000:03:00.8"}),
            "eswitch.devlink_device (--devlink_device): \"pci/0000:03:00.8\" is not a devlink PCI "
            "handle (pci/DDDD:BB:DD.F)");
  EXPECT_EQ(Error({"--devlink_device=pci/0000:af:00.1"}), "OK");
  EXPECT_EQ(Error({"--devlink_device=pci/10000:af:00.1"}), "OK");  // VMD domains
  EXPECT_EQ(Error({kDevlink, "--uplink=p0"}),
            "eswitch.uplink (--uplink): is only used in map mode");
  EXPECT_EQ(Error({kDevlink, "--representor=1=x"}),
            "eswitch.representors (--representor): are only used in map mode");
  EXPECT_EQ(Error({"--eswitch_mode=map"}), "eswitch.uplink (--uplink): is required in map mode");
  EXPECT_EQ(Error({"--eswitch_mode=map", kDevlink, "--uplink=p0"}),
            "eswitch.devlink_device (--devlink_device): is only used in devlink mode");
  EXPECT_EQ(Error({"--eswitch_mode=map", "--uplink=a-very-long-netdev"}),
            "eswitch.uplink (--uplink): \"a-very-long-netdev\" is not a valid netdev name");
  EXPECT_EQ(Error({"--eswitch_mode=map", "--uplink=p0", "--representor=2=p0"}),
            "eswitch.representors[2] (--representor): \"p0\" is the uplink");
  EXPECT_EQ(Error({"--eswitch_mode=map", "--uplink=p0", "--representor=2=v", "--representor=5=v"}),
            "eswitch.representors[5] (--representor): \"v\" is already VF 2");
  EXPECT_EQ(Error({"--eswitch_mode=map", "--uplink=p0", "--representor=2=a b"}),
            "eswitch.representors[2] (--representor): \"a b\" is not a valid netdev name");
  EXPECT_EQ(Error({kDevlink, "--state_dir=var/lib"}),
            "state_dir: \"var/lib\" is not an absolute path");
  EXPECT_EQ(Error({kDevlink, "--block_index=0"}),
            "block_index: 0 is not a shared block (1-4294967295)");
  EXPECT_EQ(Error({kDevlink, "--ct_zone_min=0"}),
            "ct_zone_min: 0 is the host's default zone (use 1-65535)");
  EXPECT_EQ(Error({kDevlink, "--ct_zone_min=10", "--ct_zone_max=9"}),
            "ct_zone_max: 9 is below ct_zone_min 10");
  EXPECT_EQ(Error({kDevlink, "--api_socket=run/a.sock"}),
            "api_socket: \"run/a.sock\" is not an absolute path");
  EXPECT_EQ(Error({kDevlink, "--api_socket=/" + std::string(107, 'a')}),
            "api_socket: path is 108 bytes, a unix socket path holds at most 107");
  EXPECT_EQ(Error({kDevlink, "--api_socket=/" + std::string(106, 'a')}), "OK");
  EXPECT_EQ(Error({kDevlink, "--metrics_listen=9477"}),
            "metrics_listen: \"9477\" is not host:port");
  EXPECT_EQ(Error({kDevlink, "--metrics_listen=:9477"}), "metrics_listen: \":9477\" has no host");
  EXPECT_EQ(Error({kDevlink, "--metrics_listen=::1:9477"}),
            "metrics_listen: \"::1:9477\" needs brackets around an IPv6 address ([::1]:port)");
  EXPECT_EQ(Error({kDevlink, "--metrics_listen=[::1]9477"}),
            "metrics_listen: \"[::1]9477\" is not [address]:port");
  EXPECT_EQ(Error({kDevlink, "--metrics_listen=0.0.0.0:0"}),
            "metrics_listen: \"0.0.0.0:0\" has no valid port (1-65535)");
  EXPECT_EQ(Error({kDevlink, "--metrics_listen=0.0.0.0:70000"}),
            "metrics_listen: \"0.0.0.0:70000\" has no valid port (1-65535)");
  EXPECT_EQ(Error({kDevlink, "--metrics_listen=localhost:9477"}), "OK");
}

TEST_F(ConfigFile, FileValuesAndFlagsOverride) {
  Write(R"json({
    "state_dir": "/srv/state",
    "policy_file": "/etc/vfguard/policy.json",
    "eswitch": {"mode": "map", "uplink": "p0", "representors": {"0": "pf0vf0", "1": "pf0vf1"}},
    "block_index": 77,
    "ct_zone_min": 4096,
    "log_level": "warn"
  })json");
  absl::StatusOr<AgentConfig> c = LoadAgentConfig({"--config=" + path_});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->state_dir, "/srv/state");
  EXPECT_EQ(c->policy_file, "/etc/vfguard/policy.json");
  EXPECT_EQ(c->eswitch.mode, EswitchMode::kMap);
  EXPECT_EQ(c->eswitch.representors,
            (std::map<uint32_t, std::string>{{0, "pf0vf0"}, {1, "pf0vf1"}}));
  EXPECT_EQ(c->block_index, 77u);
  EXPECT_EQ(c->ct_zone_min, 4096);
  EXPECT_EQ(c->ct_zone_max, 65535);  // default kept
  EXPECT_EQ(c->log_level, common::LogLevel::kWarn);

  // Flags win, wherever --config is; --representor replaces the whole map.
  c = LoadAgentConfig(
      {"--log_level=error", "--representor=7=pf0vf7", "--config", path_, "--block_index=78"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->log_level, common::LogLevel::kError);
  EXPECT_EQ(c->block_index, 78u);
  EXPECT_EQ(c->eswitch.representors, (std::map<uint32_t, std::string>{{7, "pf0vf7"}}));
  EXPECT_EQ(c->state_dir, "/srv/state");

  // A flag can repair what the file got wrong: validation runs after merging.
  Write(R"json({"eswitch": {"mode": "devlink"}})json");
  EXPECT_EQ(Error({"--config=" + path_}),
            "eswitch.devlink_device (--devlink_device): is required in devlink mode");
  EXPECT_EQ(Error({"--config=" + path_, kDevlink}), "OK");
}

TEST_F(ConfigFile, FileErrorsNameFileAndField) {
  Write(R"json({"eswitch": {"mode": "map", "bogus": 1}})json");
  EXPECT_EQ(Error({"--config=" + path_}), "config " + path_ + ": eswitch.bogus: unknown field");
  Write(R"json({"log_level": "loud"})json");
  EXPECT_EQ(Error({"--config=" + path_}),
            "config " + path_ + ": log_level: \"loud\" is not one of debug, info, warn, error");
  Write(R"json({"eswitch": {"mode": "sriov"}})json");
  EXPECT_EQ(Error({"--config=" + path_}),
            "config " + path_ + ": eswitch.mode: \"sriov\" is not one of devlink, map");
  Write(R"json({"ct_zone_max": 70000})json");
  EXPECT_EQ(Error({"--config=" + path_}),
            "config " + path_ + ": ct_zone_max: 70000 is out of range 1-65535");
  Write("{\n  \"state_dir\": \"/x\",\n  \"log_level\" \"info\"\n}\n");
  EXPECT_EQ(Error({"--config=" + path_}),
            "config " + path_ + ": 3:15: malformed JSON: Expected : between key:value pair.");
  Write(R"json({"eswitch": {"representors": {"x": "eth0"}}})json");
  EXPECT_EQ(Error({"--config=" + path_}).rfind("config " + path_ + ": eswitch.representors", 0), 0u)
      << Error({"--config=" + path_});
}

TEST_F(ConfigFile, MissingFileIsAnError) {
  absl::StatusOr<AgentConfig> c = LoadAgentConfig({"--config=" + dir_ + "/none.json"});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(),
            "config: cannot open " + dir_ + "/none.json: No such file or directory");
}

TEST(Config, UsageListsEveryFlag) {
  std::string usage = AgentConfigUsage();
  for (const char* flag :
       {"--config=FILE", "--state_dir", "--policy_file", "--eswitch_mode", "--devlink_device",
        "--uplink", "--representor", "--block_index", "--ct_zone_min", "--ct_zone_max",
        "--api_socket", "--metrics_listen", "--log_level"}) {
    EXPECT_NE(usage.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace vfguard::agent
