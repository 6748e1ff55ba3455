#include "common/json_message.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "common/json_shape.h"
#include "common/utf8.h"

namespace vfguard::common {
namespace {

// Protobuf's JSON errors put the location first in parentheses:
// "(ports[0]) bogus: Cannot find field." or "(ports[0].vf_index): invalid
// value -1 for type TYPE_UINT32". Rewrites them to this file's style.
std::string FieldError(std::string message) {
  std::string path;
  if (!message.empty() && message[0] == '(') {
    size_t close = message.find(')');
    if (close != std::string::npos) {
      path = message.substr(1, close - 1);
      message = message.substr(close + 1);
      if (!message.empty() && message[0] == ' ') message = "." + message.substr(1);
      message = path + message;
    }
  }
  const std::string kUnknown = ": Cannot find field.";
  if (message.size() >= kUnknown.size() &&
      message.compare(message.size() - kUnknown.size(), kUnknown.size(), kUnknown) == 0) {
    message = message.substr(0, message.size() - kUnknown.size()) + ": unknown field";
  }
  if (message.rfind(": ", 0) == 0) message = message.substr(2);
  return message;
}

// "3:17" for a byte offset, 1-based.
std::string LineColumn(std::string_view json, size_t offset) {
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset && i < json.size(); ++i) {
    if (json[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return absl::StrCat(line, ":", offset - line_start + 1);
}

// Syntax errors come as "<what>\n<up to 20 chars either side>\n<spaces>^".
// Finds that excerpt in the input to turn the caret into line:column.
std::string SyntaxError(const std::string& message, std::string_view json) {
  size_t first_nl = message.find('\n');
  size_t last_nl = message.rfind('\n');
  std::string what = message.substr(0, first_nl);
  if (first_nl == std::string::npos || last_nl == first_nl) {
    return absl::StrCat("malformed JSON: ", what);
  }
  std::string excerpt = message.substr(first_nl + 1, last_nl - first_nl - 1);
  size_t caret = message.find('^', last_nl);
  size_t at = json.find(excerpt);
  if (caret == std::string::npos || at == std::string_view::npos) {
    return absl::StrCat("malformed JSON: ", what);
  }
  size_t offset = at + (caret - last_nl - 1);
  return absl::StrCat(LineColumn(json, offset), ": malformed JSON: ", what);
}

}  // namespace

absl::Status ParseJsonMessage(std::string_view json, google::protobuf::Message* out) {
  // JSON is UTF-8 (RFC 8259 8.1); protobuf would log an error per bad string.
  if (size_t good = Utf8ValidPrefix(json); good != json.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(LineColumn(json, good), ": malformed JSON: not UTF-8"));
  }
  // Protobuf's parser takes "yes" for a bool and a scalar for a list; the
  // shape check refuses those first, by field.
  if (absl::Status s = CheckJsonShape(json, out->GetDescriptor()); !s.ok()) return s;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(std::string(json), out, options);
  if (status.ok()) return absl::OkStatus();
  std::string message(status.message());
  if (message.find('\n') != std::string::npos) {
    return absl::InvalidArgumentError(SyntaxError(message, json));
  }
  return absl::InvalidArgumentError(FieldError(message));
}

std::string PrintJsonMessage(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string out;
  // Printing a well-formed message cannot fail.
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

}  // namespace vfguard::common
