// What every command shares: one API call with the API's error object turned
// into a message, failure printing, and output in the chosen format.
#include <string>

#include "tools/agentctl/commands.h"

namespace vfguard::agentctl {

absl::Status HttpError(const HttpResponse& response) {
  std::string text = std::to_string(response.status);
  absl::StatusOr<Json> body = ParseJson(response.body);
  const Json* error = body.ok() ? Field(*body, "error") : nullptr;
  if (error == nullptr) {
    // Not the API's error shape (a proxy, or a crash mid-answer): show it raw.
    text += " " + response.reason;
    if (!response.body.empty()) text += ": " + response.body;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return absl::FailedPreconditionError(text);
  }
  text += " " + FieldText(*error, "code", response.reason) + ": " +
          FieldText(*error, "message", "(no message)");
  std::string field = FieldText(*error, "field", "");
  if (!field.empty()) text += " (field " + field + ")";
  return absl::FailedPreconditionError(text);
}

absl::StatusOr<Json> Call(Context& ctx, std::string_view method, const std::string& path,
                          const std::string& body) {
  absl::StatusOr<HttpResponse> response = ctx.client->Do(method, path, body);
  if (!response.ok()) return response.status();
  if (response->status >= 400) return HttpError(*response);
  if (response->body.find_first_not_of(" \t\r\n") == std::string::npos) return Json();
  absl::StatusOr<Json> parsed = ParseJson(response->body);
  if (!parsed.ok()) {
    return absl::DataLossError(std::string(method) + " " + path + ": the agent answered " +
                               std::string(parsed.status().message()));
  }
  return parsed;
}

int Fail(Context& ctx, const absl::Status& status) {
  *ctx.err << "agentctl: " << status.message() << "\n";
  return 1;
}

void Print(Context& ctx, const Json& value, const std::function<std::string()>& table) {
  switch (ctx.format) {
    case Format::kJson:
      *ctx.out << ToJson(value) << "\n";
      break;
    case Format::kYaml:
      *ctx.out << ToYaml(value);
      break;
    case Format::kTable:
      *ctx.out << table();
      break;
  }
}

}  // namespace vfguard::agentctl
