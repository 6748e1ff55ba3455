// Helpers shared by the API's handler files: responses, errors from
// absl::Status, JSON bodies through protobuf's mapping.
#ifndef VFGUARD_API_HANDLERS_UTIL_H_
#define VFGUARD_API_HANDLERS_UTIL_H_

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "api/http_server.h"

namespace vfguard::api {

// The HTTP status for an error's code: InvalidArgument 400, NotFound 404,
// Aborted (stale generation) and FailedPrecondition/AlreadyExists (conflict)
// 409, PermissionDenied 403, ResourceExhausted 413, everything else 500.
unsigned HttpStatusFor(const absl::Status& status);
// "invalid_argument", "not_found", ... (the absl code in snake_case).
std::string ErrorCodeName(absl::StatusCode code);
// The field path a validation message starts with ("ports[a].fixed_ips[0]"
// of "ports[a].fixed_ips[0]: 10.0.0.300 is not an IP"), or "" when the text
// does not start with one (e.g. "3:17: malformed JSON").
std::string FieldOf(std::string_view message);

HttpResponse ErrorResponse(const absl::Status& status, std::string route);
HttpResponse ErrorResponse(unsigned http_status, std::string_view code, std::string_view message,
                           std::string route, std::string_view field = {});
HttpResponse MethodNotAllowed(std::string_view allow, std::string route);
// 200 (or `status`) with the message as JSON, every field printed (defaults
// too), snake_case names.
HttpResponse JsonResponse(const google::protobuf::Message& message, std::string route,
                          unsigned status = 200);
// One line of compact JSON (for the event stream).
std::string JsonLine(const google::protobuf::Message& message);
// Fills `out` from the request body (common/json_message.h); an empty body is
// an empty object. InvalidArgument naming the field.
absl::Status ParseBody(std::string_view body, google::protobuf::Message* out);
// Percent-decoding of a path segment; false on a malformed escape.
bool DecodeSegment(std::string_view in, std::string* out);

}  // namespace vfguard::api

#endif  // VFGUARD_API_HANDLERS_UTIL_H_
