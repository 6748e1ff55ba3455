// JSON documents as google::protobuf::Value (protobuf's JSON parser does the
// parsing), with the lookups and renderings agentctl needs: field access that
// tolerates absent fields, scalars as display text (64-bit numbers may arrive
// as strings, protobuf's convention, or as numbers), and JSON/YAML output.
#ifndef VFGUARD_TOOLS_AGENTCTL_JSON_VALUE_H_
#define VFGUARD_TOOLS_AGENTCTL_JSON_VALUE_H_

#include <google/protobuf/struct.pb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace vfguard::agentctl {

using Json = google::protobuf::Value;

// InvalidArgument with protobuf's description of the first syntax error.
absl::StatusOr<Json> ParseJson(std::string_view text);

// The member `key` of an object, or nullptr (absent, or `value` not an object).
const Json* Field(const Json& value, std::string_view key);
// The elements of a list; empty when absent or not a list.
std::vector<const Json*> Items(const Json* value);

// Display text of a scalar: strings as-is, integral numbers without a decimal
// point, booleans as true/false, null/absent as `none`. Lists of scalars are
// joined with ","; objects become compact JSON.
std::string Text(const Json* value, std::string_view none = "<none>");
// Text(Field(value, key)).
std::string FieldText(const Json& value, std::string_view key, std::string_view none = "<none>");
// A number given as a number or as a decimal string; nullopt otherwise.
std::optional<uint64_t> Unsigned(const Json* value);
bool Truthy(const Json* value);  // true, or the string "true"

// Indented JSON (two spaces), numbers integral when they are, keys in the
// order protobuf's Struct keeps them (sorted).
std::string ToJson(const Json& value, bool compact = false);
// Block-style YAML 1.2; strings are double-quoted when plain style could be
// misread (numbers, booleans, null, leading indicators, ": ", " #").
std::string ToYaml(const Json& value);

// Builders for request bodies.
Json JsonString(std::string_view s);
Json JsonBool(bool b);

}  // namespace vfguard::agentctl

#endif  // VFGUARD_TOOLS_AGENTCTL_JSON_VALUE_H_
