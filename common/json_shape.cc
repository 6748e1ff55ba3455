#include "common/json_shape.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <map>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace vfguard::common {
namespace {

namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

// What a field may hold, as JSON kinds (a bit set), and how to say it.
enum Kind : unsigned {
  kNull = 1,
  kBool = 2,
  kNumber = 4,
  kString = 8,
  kList = 16,
  kObject = 32,
  kSpecialFloat = 64,  // only "NaN", "Infinity", "-Infinity" among strings
};

struct Rule {
  unsigned kinds;
  const char* want;
};

// One row per protobuf type: the whole policy of this check.
Rule RuleFor(FD::CppType type) {
  switch (type) {
    case FD::CPPTYPE_BOOL:
      return {kBool, "true or false"};
    case FD::CPPTYPE_INT32:
    case FD::CPPTYPE_UINT32:
      return {kNumber, "a number"};
    case FD::CPPTYPE_INT64:
    case FD::CPPTYPE_UINT64:
      return {kNumber | kString, "a number or a decimal string"};
    case FD::CPPTYPE_FLOAT:
    case FD::CPPTYPE_DOUBLE:
      return {kNumber | kSpecialFloat, "a number"};
    case FD::CPPTYPE_STRING:
      return {kString, "a string"};
    case FD::CPPTYPE_ENUM:
      return {kString | kNumber, "a string or a number"};
    case FD::CPPTYPE_MESSAGE:
      return {kObject, "an object"};
  }
  return {0, "nothing"};
}

unsigned KindOf(const pb::Value& v) {
  switch (v.kind_case()) {
    case pb::Value::kNullValue:
      return kNull;
    case pb::Value::kBoolValue:
      return kBool;
    case pb::Value::kNumberValue:
      return kNumber;
    case pb::Value::kStringValue: {
      const std::string& s = v.string_value();
      return s == "NaN" || s == "Infinity" || s == "-Infinity" ? kString | kSpecialFloat : kString;
    }
    case pb::Value::kListValue:
      return kList;
    case pb::Value::kStructValue:
      return kObject;
    default:
      return 0;
  }
}

// "the string \"yes\"", "a list", ...: enough of the value to recognise it.
std::string Describe(const pb::Value& v) {
  switch (v.kind_case()) {
    case pb::Value::kNullValue:
      return "null";
    case pb::Value::kBoolValue:
      return v.bool_value() ? "true" : "false";
    case pb::Value::kNumberValue:
      return absl::StrCat("the number ", v.number_value());
    case pb::Value::kStringValue: {
      constexpr size_t kMax = 40;
      const std::string& s = v.string_value();
      std::string shown = absl::CEscape(s.substr(0, kMax));
      return absl::StrCat("the string \"", shown, s.size() > kMax ? "...\"" : "\"");
    }
    case pb::Value::kListValue:
      return "a list";
    case pb::Value::kStructValue:
      return "an object";
    default:
      return "nothing";
  }
}

absl::Status Mismatch(const std::string& path, const char* want, const pb::Value& got) {
  std::string where = path.empty() ? "" : absl::StrCat(path, ": ");
  return absl::InvalidArgumentError(
      absl::StrCat(where, "expected ", want, ", got ", Describe(got)));
}

bool IsWellKnown(const pb::Descriptor* type) {
  return type->file()->name().rfind("google/protobuf/", 0) == 0;
}

absl::Status CheckMessage(const pb::Struct& object, const pb::Descriptor* type,
                          const std::string& path);

// One value of a field's (element) type; null only where `null_ok` (a whole
// singular field, not a list element or a map value).
absl::Status CheckScalar(const pb::Value& v, const FD* field, const std::string& path,
                         bool null_ok) {
  if (null_ok && v.kind_case() == pb::Value::kNullValue) return absl::OkStatus();
  Rule rule = RuleFor(field->cpp_type());
  if ((KindOf(v) & rule.kinds) == 0) return Mismatch(path, rule.want, v);
  if (field->cpp_type() == FD::CPPTYPE_MESSAGE && !IsWellKnown(field->message_type())) {
    return CheckMessage(v.struct_value(), field->message_type(), path);
  }
  return absl::OkStatus();
}

absl::Status CheckField(const pb::Value& v, const FD* field, const std::string& path) {
  if (v.kind_case() == pb::Value::kNullValue) return absl::OkStatus();  // the default
  if (field->is_map()) {
    if (v.kind_case() != pb::Value::kStructValue) return Mismatch(path, "an object", v);
    const FD* value_field = field->message_type()->map_value();
    std::map<std::string, const pb::Value*> sorted;  // a fixed order of errors
    for (const auto& [key, item] : v.struct_value().fields()) sorted.emplace(key, &item);
    for (const auto& [key, item] : sorted) {
      absl::Status s =
          CheckScalar(*item, value_field, absl::StrCat(path, "[", absl::CEscape(key), "]"), false);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (field->is_repeated()) {
    if (v.kind_case() != pb::Value::kListValue) return Mismatch(path, "a list", v);
    const auto& items = v.list_value().values();
    for (int i = 0; i < items.size(); ++i) {
      absl::Status s = CheckScalar(items.Get(i), field, absl::StrCat(path, "[", i, "]"), false);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  return CheckScalar(v, field, path, true);
}

absl::Status CheckMessage(const pb::Struct& object, const pb::Descriptor* type,
                          const std::string& path) {
  // In the descriptor's field order, so that the first error reported does
  // not depend on the hash map's order. Keys that are no field are left to
  // the parser, which names them.
  for (int i = 0; i < type->field_count(); ++i) {
    const FD* field = type->field(i);
    std::string field_path = path.empty() ? field->name() : absl::StrCat(path, ".", field->name());
    for (const std::string& key : {field->name(), field->json_name()}) {
      auto it = object.fields().find(key);
      if (it == object.fields().end()) continue;
      absl::Status s = CheckField(it->second, field, field_path);
      if (!s.ok()) return s;
      if (field->json_name() == field->name()) break;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckJsonShape(std::string_view json, const pb::Descriptor* type) {
  if (IsWellKnown(type)) return absl::OkStatus();
  pb::Value root;
  if (!pb::util::JsonStringToMessage(std::string(json), &root).ok()) {
    return absl::OkStatus();  // malformed: the parser says where
  }
  if (root.kind_case() != pb::Value::kStructValue) return Mismatch("", "a JSON object", root);
  return CheckMessage(root.struct_value(), type, "");
}

}  // namespace vfguard::common
