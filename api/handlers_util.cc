#include "api/handlers_util.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "common/json_message.h"

namespace vfguard::api {

unsigned HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return 403;
    case absl::StatusCode::kResourceExhausted:
      return 413;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

std::string ErrorCodeName(absl::StatusCode code) {
  std::string name = absl::StatusCodeToString(code);  // "INVALID_ARGUMENT"
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string FieldOf(std::string_view message) {
  size_t colon = message.find(": ");
  if (colon == std::string_view::npos || colon == 0) return "";
  std::string_view prefix = message.substr(0, colon);
  char first = prefix.front();
  if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '_')) {
    return "";
  }
  // A path has no spaces outside brackets (ids in brackets are free text).
  int depth = 0;
  for (char c : prefix) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ' ' && depth == 0) return "";
  }
  return std::string(prefix);
}

HttpResponse ErrorResponse(unsigned http_status, std::string_view code, std::string_view message,
                           std::string route, std::string_view field) {
  HttpResponse response;
  response.status = http_status;
  response.body = ErrorBody(code, message, field);
  response.route = std::move(route);
  return response;
}

HttpResponse ErrorResponse(const absl::Status& status, std::string route) {
  std::string_view message(status.message().data(), status.message().size());
  std::string field = status.code() == absl::StatusCode::kInvalidArgument ? FieldOf(message) : "";
  return ErrorResponse(HttpStatusFor(status), ErrorCodeName(status.code()), message,
                       std::move(route), field);
}

HttpResponse MethodNotAllowed(std::string_view allow, std::string route) {
  HttpResponse response = ErrorResponse(
      405, "method_not_allowed",
      absl::StrCat("allowed: ", absl::string_view(allow.data(), allow.size())), std::move(route));
  response.headers.emplace_back("Allow", std::string(allow));
  return response;
}

HttpResponse JsonResponse(const google::protobuf::Message& message, std::string route,
                          unsigned status) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  HttpResponse response;
  response.status = status;
  response.route = std::move(route);
  (void)google::protobuf::util::MessageToJsonString(message, &response.body, options);
  return response;
}

std::string JsonLine(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  out += '\n';
  return out;
}

absl::Status ParseBody(std::string_view body, google::protobuf::Message* out) {
  bool blank = body.find_first_not_of(" \t\r\n") == std::string_view::npos;
  if (blank) return absl::OkStatus();
  return common::ParseJsonMessage(body, out);
}

bool DecodeSegment(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

}  // namespace vfguard::api
