#include "common/log.h"

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace vfguard::common {
namespace {

bool NeedsQuotes(std::string_view value) {
  if (value.empty()) return true;
  for (unsigned char c : value) {
    if (c <= ' ' || c == 0x7f || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

void AppendValue(std::string& out, std::string_view value) {
  if (!NeedsQuotes(value)) {
    out.append(value);
    return;
  }
  out.push_back('"');
  for (unsigned char c : value) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < ' ' || c == 0x7f) {
          char hex[5];
          std::snprintf(hex, sizeof hex, "\\x%02x", c);
          out.append(hex);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void AppendKey(std::string& out, std::string_view key) {
  if (key.empty()) {
    out.push_back('_');
    return;
  }
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    out.push_back(ok ? c : '_');
  }
}

void AppendField(std::string& out, std::string_view key, std::string_view value) {
  out.push_back(' ');
  AppendKey(out, key);
  out.push_back('=');
  AppendValue(out, value);
}

}  // namespace

const char* ToString(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view text) {
  for (LogLevel level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (text == ToString(level)) return level;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", std::string(text), "\" is not one of debug, info, warn, error"));
}

LogField::LogField(std::string_view key, double value) : key_(key), value_(absl::StrCat(value)) {}

LogField::LogField(std::string_view key, const absl::Status& status)
    : key_(key),
      value_(status.ok()
                 ? std::string("OK")
                 : absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message())) {}

std::string FormatLogLine(absl::Time time, LogLevel level, std::string_view event,
                          absl::Span<const LogField> fields) {
  std::string out = "ts=";
  out.append(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", time, absl::UTCTimeZone()));
  AppendField(out, "level", ToString(level));
  AppendField(out, "event", event);
  for (const LogField& f : fields) AppendField(out, f.key(), f.value());
  return out;
}

Logger::Logger(std::ostream& sink, LogLevel level, Clock clock)
    : sink_(sink), level_(level), clock_(std::move(clock)) {}

void Logger::Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  if (!Enabled(level)) return;
  std::string line =
      FormatLogLine(clock_(), level, event, absl::MakeConstSpan(fields.begin(), fields.size()));
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(mu_);
  sink_.write(line.data(), static_cast<std::streamsize>(line.size()));
  sink_.flush();
}

}  // namespace vfguard::common
