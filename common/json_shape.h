// A strict shape check of JSON text against a protobuf message type, run
// before protobuf's own parser.
//
// Protobuf's JSON parser is lenient where the API promises the canonical
// mapping: it takes a scalar for a repeated field (as a one-element list),
// and the strings "yes", "no", "0", "False" ... for a bool or a 32-bit
// number. This check walks the parsed JSON beside the message descriptor and
// refuses, by the field's proto path, any value whose JSON kind the field's
// type does not allow. The table (docs/validation.md, "JSON kinds"):
//
//   bool                     true or false
//   32-bit integers, floats  a number (floats also "NaN", "Infinity",
//                            "-Infinity", which is how they are printed)
//   64-bit integers          a number or a decimal string (printed as strings)
//   string, bytes            a string
//   enum                     a string or a number
//   message, map             an object
//   repeated                 a list of the element's kind
//   any field                null (the field's default), but not a null
//                            element inside a list
//
// Keys the message does not have are left to the parser, which refuses them
// by name; so are the values the kinds above allow but the type does not
// (a fraction for an integer, a map key that is not a number). Messages of
// google/protobuf/ (Struct, Value, ...) are not checked: any JSON is theirs.
#ifndef VFGUARD_COMMON_JSON_SHAPE_H_
#define VFGUARD_COMMON_JSON_SHAPE_H_

#include <google/protobuf/descriptor.h>

#include <string_view>

#include "absl/status/status.h"

namespace vfguard::common {

// OK when every value in `json` has a kind its field allows, or when `json`
// is not well-formed JSON at all (the parser then reports where). Otherwise
// InvalidArgument `<path>: expected <kinds>, got <kind>`, for example
// `ports[0].fixed_ips: expected a list, got the string "10.0.0.21"`.
absl::Status CheckJsonShape(std::string_view json, const google::protobuf::Descriptor* type);

}  // namespace vfguard::common

#endif  // VFGUARD_COMMON_JSON_SHAPE_H_
