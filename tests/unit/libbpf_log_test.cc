// libbpf's messages become logfmt lines like the agent's own (so every line
// the journal carries for the unit parses): warn and info kept, debug
// dropped, libbpf's "libbpf: " prefix and trailing newline gone, the text
// quoted as a value.
#include "agent/libbpf_log.h"

#include <bpf/libbpf.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vfguard::agent {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(LibbpfLog, WarningsBecomeOneLogfmtLine) {
  std::string line =
      LibbpfLogLine(LIBBPF_WARN, "libbpf: Failed to bump RLIMIT_MEMLOCK (err = -1)\n");
  EXPECT_THAT(line, StartsWith("ts="));
  EXPECT_THAT(line, HasSubstr(" level=warn event=libbpf "));
  EXPECT_THAT(line, EndsWith("msg=\"Failed to bump RLIMIT_MEMLOCK (err = -1)\""));
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(LibbpfLog, InfoIsKeptAndDebugDropped) {
  EXPECT_THAT(LibbpfLogLine(LIBBPF_INFO, "loaded\n"),
              HasSubstr(" level=info event=libbpf msg=loaded"));
  EXPECT_EQ(LibbpfLogLine(LIBBPF_DEBUG, "libbpf: probing\n"), "");
}

TEST(LibbpfLog, ControlCharactersStayEscapedOnOneLine) {
  std::string line = LibbpfLogLine(LIBBPF_WARN, "a\nb \"c\"\n");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_THAT(line, HasSubstr(R"(msg="a\nb \"c\"")"));
}

}  // namespace
}  // namespace vfguard::agent
