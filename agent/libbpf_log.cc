#include "agent/libbpf_log.h"

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>

#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace vfguard::agent {
namespace {

int PrintAsLogfmt(enum libbpf_print_level level, const char* format, va_list args) {
  char text[1024];
  vsnprintf(text, sizeof(text), format, args);
  std::string line = LibbpfLogLine(static_cast<int>(level), text);
  if (line.empty()) return 0;
  line += '\n';
  return static_cast<int>(::write(STDERR_FILENO, line.data(), line.size()));
}

}  // namespace

std::string LibbpfLogLine(int level, const std::string& message) {
  common::LogLevel ours;
  switch (level) {
    case LIBBPF_WARN:
      ours = common::LogLevel::kWarn;
      break;
    case LIBBPF_INFO:
      ours = common::LogLevel::kInfo;
      break;
    default:
      return "";
  }
  absl::string_view text = absl::StripTrailingAsciiWhitespace(message);
  text = absl::StripPrefix(text, "libbpf: ");
  return common::FormatLogLine(
      absl::Now(), ours, "libbpf",
      {common::LogField("msg", std::string_view(text.data(), text.size()))});
}

void RouteLibbpfOutputAsLogfmt() { libbpf_set_print(&PrintAsLogfmt); }

}  // namespace vfguard::agent
