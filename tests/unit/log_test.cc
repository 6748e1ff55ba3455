#include "common/log.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace vfguard::common {
namespace {

// 2024-05-01T12:00:00.000123Z
absl::Time FixedTime() {
  return absl::FromCivil(absl::CivilSecond(2024, 5, 1, 12, 0, 0), absl::UTCTimeZone()) +
         absl::Microseconds(123);
}

std::string Line(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  return FormatLogLine(FixedTime(), level, event,
                       absl::MakeConstSpan(fields.begin(), fields.size()));
}

TEST(LogFormat, PlainFields) {
  EXPECT_EQ(
      Line(LogLevel::kInfo, "port_added", {{"port", "web-1"}, {"vf", 3}, {"active", true}}),
      "ts=2024-05-01T12:00:00.000123Z level=info event=port_added port=web-1 vf=3 active=true");
}

TEST(LogFormat, TimestampIsUtcRfc3339WithMicroseconds) {
  absl::Time t = absl::FromCivil(absl::CivilSecond(1999, 12, 31, 23, 59, 59), absl::UTCTimeZone()) +
                 absl::Microseconds(999999);
  EXPECT_EQ(FormatLogLine(t, LogLevel::kError, "x", {}),
            "ts=1999-12-31T23:59:59.999999Z level=error event=x");
}

TEST(LogFormat, QuotesValuesThatNeedIt) {
  EXPECT_EQ(Line(LogLevel::kWarn, "e", {{"msg", "two words"}}),
            "ts=2024-05-01T12:00:00.000123Z level=warn event=e msg=\"two words\"");
  EXPECT_EQ(Line(LogLevel::kWarn, "e", {{"empty", ""}}),
            "ts=2024-05-01T12:00:00.000123Z level=warn event=e empty=\"\"");
  EXPECT_EQ(Line(LogLevel::kWarn, "e", {{"q", "say \"hi\""}}),
            "ts=2024-05-01T12:00:00.000123Z level=warn event=e q=\"say \\\"hi\\\"\"");
  EXPECT_EQ(Line(LogLevel::kWarn, "e", {{"eq", "a=b"}}),
            "ts=2024-05-01T12:00:00.000123Z level=warn event=e eq=\"a=b\"");
  EXPECT_EQ(Line(LogLevel::kWarn, "e", {{"bs", "C:\\x"}}),
            "ts=2024-05-01T12:00:00.000123Z level=warn event=e bs=\"C:\\\\x\"");
  EXPECT_EQ(Line(LogLevel::kWarn, "e", {{"nl", "a\nb\tc\rd"}}),
            "ts=2024-05-01T12:00:00.000123Z level=warn event=e nl=\"a\\nb\\tc\\rd\"");
  EXPECT_EQ(Line(LogLevel::kWarn, "e", {{"ctl", std::string_view("a\0b\x7f", 4)}}),
            "ts=2024-05-01T12:00:00.000123Z level=warn event=e ctl=\"a\\x00b\\x7f\"");
  // A lone quote inside an otherwise plain token still forces quoting.
  EXPECT_EQ(Line(LogLevel::kWarn, "e", {{"q", "a\"b"}}),
            "ts=2024-05-01T12:00:00.000123Z level=warn event=e q=\"a\\\"b\"");
  // UTF-8 and punctuation other than the special ones stay bare.
  EXPECT_EQ(Line(LogLevel::kWarn, "e", {{"name", "caf\xc3\xa9/10.0.0.0:24,x"}}),
            "ts=2024-05-01T12:00:00.000123Z level=warn event=e name=caf\xc3\xa9/10.0.0.0:24,x");
}

TEST(LogFormat, EventAndKeysAreSanitised) {
  EXPECT_EQ(Line(LogLevel::kDebug, "hw rejected", {{"bad key=", 1}, {"", 2}}),
            "ts=2024-05-01T12:00:00.000123Z level=debug event=\"hw rejected\" bad_key_=1 _=2");
}

TEST(LogFormat, NumbersAndStatuses) {
  EXPECT_EQ(Line(LogLevel::kInfo, "e",
                 {{"neg", -5}, {"big", uint64_t{18446744073709551615u}}, {"ratio", 0.25}}),
            "ts=2024-05-01T12:00:00.000123Z level=info event=e neg=-5 big=18446744073709551615 "
            "ratio=0.25");
  EXPECT_EQ(Line(LogLevel::kInfo, "e", {{"status", absl::OkStatus()}}),
            "ts=2024-05-01T12:00:00.000123Z level=info event=e status=OK");
  EXPECT_EQ(Line(LogLevel::kInfo, "e", {{"status", absl::NotFoundError("no port")}}),
            "ts=2024-05-01T12:00:00.000123Z level=info event=e status=\"NOT_FOUND: no port\"");
}

TEST(LogLevels, ParseAndPrint) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    EXPECT_EQ(*ParseLogLevel(ToString(l)), l);
  }
  EXPECT_EQ(ParseLogLevel("verbose").status().message(),
            "\"verbose\" is not one of debug, info, warn, error");
  EXPECT_FALSE(ParseLogLevel("INFO").ok());
}

TEST(Logger, FiltersByRuntimeLevelAndWritesWholeLines) {
  std::ostringstream sink;
  Logger log(sink, LogLevel::kWarn, FixedTime);
  log.Debug("d");
  log.Info("i");
  log.Warn("w", {{"k", "v"}});
  log.Error("e");
  EXPECT_EQ(sink.str(),
            "ts=2024-05-01T12:00:00.000123Z level=warn event=w k=v\n"
            "ts=2024-05-01T12:00:00.000123Z level=error event=e\n");
  sink.str("");
  log.set_level(LogLevel::kDebug);
  EXPECT_TRUE(log.Enabled(LogLevel::kDebug));
  log.Debug("d");
  EXPECT_EQ(sink.str(), "ts=2024-05-01T12:00:00.000123Z level=debug event=d\n");
  sink.str("");
  log.set_level(LogLevel::kError);
  log.Warn("w");
  EXPECT_EQ(sink.str(), "");
}

TEST(Logger, ConcurrentEventsNeverInterleave) {
  std::ostringstream sink;
  Logger log(sink, LogLevel::kInfo, FixedTime);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < 500; ++i)
        log.Info("tick", {{"thread", t}, {"i", i}, {"pad", std::string(64, 'x')}});
    });
  }
  for (std::thread& th : threads) th.join();
  std::istringstream lines(sink.str());
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    ASSERT_EQ(line.rfind("ts=2024-05-01T12:00:00.000123Z level=info event=tick thread=", 0), 0u)
        << line;
    ASSERT_EQ(line.substr(line.size() - 69), " pad=" + std::string(64, 'x')) << line;
  }
  EXPECT_EQ(count, 2000);
}

}  // namespace
}  // namespace vfguard::common
