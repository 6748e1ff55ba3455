// Protobuf messages from and to JSON text, with errors in the agent's style.
#ifndef VFGUARD_COMMON_JSON_MESSAGE_H_
#define VFGUARD_COMMON_JSON_MESSAGE_H_

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace vfguard::common {

// Fills `out` from JSON text (protobuf's canonical mapping; snake_case and
// lowerCamelCase names both accepted), strictly: a value of a JSON kind its
// field's type does not take is refused by path before protobuf's lenient
// parser sees it (common/json_shape.h: `fixed_ips: expected a list, got the
// string "10.0.0.21"`, `port_security_enabled: expected true or false, got
// the string "yes"`). Unknown fields are refused by path
// (`ports[0].bogus: unknown field`), wrong types name the field
// (`ports[0].vf_index: invalid value -1 for type TYPE_UINT32`), and malformed
// JSON is located by 1-based line and column when it can be
// (`3:17: malformed JSON: Expected , or } after key:value pair.`).
// InvalidArgument on every failure.
absl::Status ParseJsonMessage(std::string_view json, google::protobuf::Message* out);

// Indented JSON with the proto (snake_case) field names that errors use.
std::string PrintJsonMessage(const google::protobuf::Message& message);

}  // namespace vfguard::common

#endif  // VFGUARD_COMMON_JSON_MESSAGE_H_
