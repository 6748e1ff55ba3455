// Structured logging: one line per event, logfmt style.
//
//   ts=2024-05-01T12:00:00.000123Z level=warn event=hw_rejected filter="chain 3 prio 2" errno=95
//
// Fields are key=value. A value is quoted ("...") when it is empty or holds a
// space, control character, '"', '=' or '\'; inside quotes '"' and '\' are
// backslash-escaped, \n \r \t are written as such and other control bytes as
// \xHH, so every event stays on one line and parses back unambiguously.
// Keys are identifiers; characters other than A-Z a-z 0-9 _ . - become '_'.
// The timestamp is RFC 3339 in UTC with microseconds.
//
// A Logger is passed explicitly to whatever logs (no global logger). It is
// safe to use from several threads: each event is written whole, in one call,
// and the level can be changed at run time.
#ifndef VFGUARD_COMMON_LOG_H_
#define VFGUARD_COMMON_LOG_H_

#include <atomic>
#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace vfguard::common {

enum class LogLevel : uint8_t { kDebug, kInfo, kWarn, kError };

// "debug", "info", "warn", "error".
const char* ToString(LogLevel level);
// The inverse; anything else is InvalidArgument naming the accepted words.
absl::StatusOr<LogLevel> ParseLogLevel(std::string_view text);

// One key=value pair. The value is rendered to text at construction.
class LogField {
 public:
  LogField(std::string_view key, std::string_view value) : key_(key), value_(value) {}
  LogField(std::string_view key, const char* value) : key_(key), value_(value) {}
  LogField(std::string_view key, const std::string& value) : key_(key), value_(value) {}
  LogField(std::string_view key, bool value) : key_(key), value_(value ? "true" : "false") {}
  template <std::integral T>
  LogField(std::string_view key, T value) : key_(key), value_(std::to_string(value)) {}
  LogField(std::string_view key, double value);
  // "OK" or "<code>: <message>", e.g. "NOT_FOUND: no such port".
  LogField(std::string_view key, const absl::Status& status);

  std::string_view key() const { return key_; }
  const std::string& value() const { return value_; }

 private:
  std::string_view key_;  // keys are literals at call sites
  std::string value_;
};

// The exact line (without newline) for an event.
std::string FormatLogLine(absl::Time time, LogLevel level, std::string_view event,
                          absl::Span<const LogField> fields);

class Logger {
 public:
  using Clock = std::function<absl::Time()>;

  // `sink` must outlive the logger.
  explicit Logger(std::ostream& sink = std::cerr, LogLevel level = LogLevel::kInfo,
                  Clock clock = &absl::Now);
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  void set_level(LogLevel level) { level_.store(level, std::memory_order_relaxed); }
  LogLevel level() const { return level_.load(std::memory_order_relaxed); }
  bool Enabled(LogLevel level) const { return level >= this->level(); }

  // Writes the event if `level` is at or above the logger's level.
  void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});
  void Debug(std::string_view event, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kDebug, event, fields);
  }
  void Info(std::string_view event, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kInfo, event, fields);
  }
  void Warn(std::string_view event, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kWarn, event, fields);
  }
  void Error(std::string_view event, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kError, event, fields);
  }

 private:
  std::ostream& sink_;
  std::atomic<LogLevel> level_;
  Clock clock_;
  std::mutex mu_;  // one writer at a time, so lines never interleave
};

}  // namespace vfguard::common

#endif  // VFGUARD_COMMON_LOG_H_
