// Runs build/cni/vfguard-cni as a runtime does (environment + stdin) and as a
// person does (--help), checking stdout and the exit status.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <string>

namespace {

using ::testing::HasSubstr;

struct Outcome {
  int status = -1;
  std::string out;
};

// `env` is a list of VAR=value words; `input` goes to stdin.
Outcome Plugin(const std::string& env, const std::string& input, const std::string& args = "") {
  const char* bin = getenv("VFGUARD_CNI");
  std::string file = "/tmp/cni_binary_test_input." + std::to_string(getpid());
  FILE* f = fopen(file.c_str(), "w");
  fputs(input.c_str(), f);
  fclose(f);
  std::string cmd = "env -i " + env + " " + bin + " " + args + " < " + file + " 2>/dev/null";
  Outcome r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  remove(file.c_str());
  return r;
}

TEST(CniBinaryTest, Help) {
  ASSERT_NE(getenv("VFGUARD_CNI"), nullptr) << "VFGUARD_CNI must name the built binary";
  Outcome r = Plugin("", "", "--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("usage: vfguard-cni"));
  EXPECT_THAT(r.out, HasSubstr("CNI_COMMAND      ADD, DEL, CHECK, STATUS, GC or VERSION"));
  EXPECT_EQ(Plugin("", "", "--bogus").status, 2);
}

TEST(CniBinaryTest, Version) {
  Outcome r = Plugin("CNI_COMMAND=VERSION", R"({"cniVersion": "1.0.0"})");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, R"({"cniVersion":"1.0.0","supportedVersions":["1.0.0","1.1.0"]})"
                   "\n");
}

TEST(CniBinaryTest, ErrorsAreSpecJsonOnStdout) {
  Outcome r = Plugin("", "{}");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, R"({"cniVersion":"1.1.0","code":4,"msg":"CNI_COMMAND is not set"})"
                   "\n");
  r = Plugin("CNI_COMMAND=ADD CNI_CONTAINERID=c CNI_IFNAME=net1", R"({"cniVersion": "1.0.0"})");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out,
            R"x({"cniVersion":"1.0.0","code":4,"msg":"CNI_NETNS is not set (ADD needs it)"})x"
            "\n");
  r = Plugin("CNI_COMMAND=DEL CNI_CONTAINERID=c CNI_IFNAME=net1",
             R"({"cniVersion": "1.0.0", "name": "n"})");
  EXPECT_EQ(r.out, R"({"cniVersion":"1.0.0","code":7,"msg":"network: required"})"
                   "\n");
}

TEST(CniBinaryTest, AgentDown) {
  const std::string config = R"({"cniVersion": "1.1.0", "name": "n", "type": "vfguard",
      "network": "flat", "socket": "/nonexistent/agent.sock", "stateDir": "/tmp/cni_binary_test"})";
  Outcome r = Plugin("CNI_COMMAND=STATUS", config);
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, HasSubstr(R"("code":50)"));
  EXPECT_THAT(r.out, HasSubstr("cannot reach the vfguard agent at /nonexistent/agent.sock"));
  r = Plugin("CNI_COMMAND=DEL CNI_CONTAINERID=c CNI_IFNAME=net1", config);
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, HasSubstr(R"("code":11)"));
  EXPECT_THAT(r.out, HasSubstr(R"x(port cni.c.net1 was NOT deleted (the runtime retries DEL))x"));
}

}  // namespace
