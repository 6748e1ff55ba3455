#include "tools/agentctl/json_value.h"

#include <google/protobuf/util/json_util.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>

#include "common/json_quote.h"

namespace vfguard::agentctl {
namespace {

std::string Number(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.007199254740992e15) {
    return std::to_string(static_cast<int64_t>(d));
  }
  char buf[32];
  snprintf(buf, sizeof(buf), "%.17g", d);
  return buf;
}

std::string Quote(std::string_view s) { return common::JsonQuoted(s); }

void WriteJson(const Json& v, bool compact, int depth, std::string& out) {
  std::string pad = compact ? "" : "\n" + std::string(2 * (depth + 1), ' ');
  std::string close_pad = compact ? "" : "\n" + std::string(2 * depth, ' ');
  switch (v.kind_case()) {
    case Json::kStructValue: {
      if (v.struct_value().fields().empty()) {
        out += "{}";
        return;
      }
      std::map<std::string, const Json*> sorted;
      for (const auto& [k, field] : v.struct_value().fields()) sorted[k] = &field;
      out += "{";
      bool first = true;
      for (const auto& [k, field] : sorted) {
        if (!first) out += ",";
        first = false;
        out += pad + Quote(k) + (compact ? ":" : ": ");
        WriteJson(*field, compact, depth + 1, out);
      }
      out += close_pad + "}";
      return;
    }
    case Json::kListValue: {
      if (v.list_value().values().empty()) {
        out += "[]";
        return;
      }
      out += "[";
      bool first = true;
      for (const Json& item : v.list_value().values()) {
        if (!first) out += ",";
        first = false;
        out += pad;
        WriteJson(item, compact, depth + 1, out);
      }
      out += close_pad + "]";
      return;
    }
    case Json::kStringValue:
      out += Quote(v.string_value());
      return;
    case Json::kNumberValue:
      out += Number(v.number_value());
      return;
    case Json::kBoolValue:
      out += v.bool_value() ? "true" : "false";
      return;
    default:
      out += "null";
  }
}

bool NeedsQuotes(std::string_view s) {
  if (s.empty()) return true;
  static const char* const kReserved[] = {"true", "false", "null", "yes",   "no",   "on",
                                          "off",  "~",     "True", "False", "Null", "NULL",
                                          "TRUE", "FALSE", "Yes",  "No"};
  for (const char* r : kReserved) {
    if (s == r) return true;
  }
  if (std::string_view("-?:,[]{}#&*!|>'\"%@`").find(s[0]) != std::string_view::npos) return true;
  if (s.front() == ' ' || s.back() == ' ') return true;
  if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos ||
      s.back() == ':') {
    return true;
  }
  for (unsigned char c : s) {
    if (c < 0x20) return true;
  }
  // Anything a YAML parser might take for a number.
  bool numeric = true;
  for (char c : s) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
          c == '+' || c == '-' || c == 'x' || c == 'o' || c == '_')) {
      numeric = false;
    }
  }
  return numeric;
}

std::string YamlScalar(const Json& v) {
  switch (v.kind_case()) {
    case Json::kStringValue:
      return NeedsQuotes(v.string_value()) ? Quote(v.string_value()) : v.string_value();
    case Json::kNumberValue:
      return Number(v.number_value());
    case Json::kBoolValue:
      return v.bool_value() ? "true" : "false";
    case Json::kStructValue:
      return "{}";
    case Json::kListValue:
      return "[]";
    default:
      return "null";
  }
}

bool IsContainer(const Json& v) {
  return (v.kind_case() == Json::kStructValue && !v.struct_value().fields().empty()) ||
         (v.kind_case() == Json::kListValue && !v.list_value().values().empty());
}

// Writes `v` as the value of a mapping key or list item at `indent`.
void WriteYaml(const Json& v, int indent, std::string& out);

void WriteYamlBody(const Json& v, int indent, std::string& out) {
  std::string pad(indent, ' ');
  if (v.kind_case() == Json::kStructValue) {
    std::map<std::string, const Json*> sorted;
    for (const auto& [k, field] : v.struct_value().fields()) sorted[k] = &field;
    for (const auto& [k, field] : sorted) {
      out += pad + (NeedsQuotes(k) ? Quote(k) : k) + ":";
      WriteYaml(*field, indent + 2, out);
    }
  } else {
    for (const Json& item : v.list_value().values()) {
      out += pad + "-";
      WriteYaml(item, indent + 2, out);
    }
  }
}

void WriteYaml(const Json& v, int indent, std::string& out) {
  if (!IsContainer(v)) {
    out += " " + YamlScalar(v) + "\n";
    return;
  }
  out += "\n";
  WriteYamlBody(v, indent, out);
}

}  // namespace

absl::StatusOr<Json> ParseJson(std::string_view text) {
  Json value;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(text.data(), text.size()), &value);
  if (!status.ok()) {
    return absl::InvalidArgumentError("malformed JSON: " + std::string(status.message()));
  }
  return value;
}

const Json* Field(const Json& value, std::string_view key) {
  if (value.kind_case() != Json::kStructValue) return nullptr;
  auto it = value.struct_value().fields().find(std::string(key));
  if (it == value.struct_value().fields().end()) return nullptr;
  return &it->second;
}

std::vector<const Json*> Items(const Json* value) {
  std::vector<const Json*> out;
  if (value == nullptr || value->kind_case() != Json::kListValue) return out;
  for (const Json& item : value->list_value().values()) out.push_back(&item);
  return out;
}

std::string Text(const Json* value, std::string_view none) {
  if (value == nullptr) return std::string(none);
  switch (value->kind_case()) {
    case Json::kStringValue:
      return value->string_value().empty() ? std::string(none) : value->string_value();
    case Json::kNumberValue:
      return Number(value->number_value());
    case Json::kBoolValue:
      return value->bool_value() ? "true" : "false";
    case Json::kListValue: {
      if (value->list_value().values().empty()) return std::string(none);
      std::string out;
      for (const Json& item : value->list_value().values()) {
        if (!out.empty()) out += ",";
        out += Text(&item, "");
      }
      return out;
    }
    case Json::kStructValue:
      return ToJson(*value, /*compact=*/true);
    default:
      return std::string(none);
  }
}

std::string FieldText(const Json& value, std::string_view key, std::string_view none) {
  return Text(Field(value, key), none);
}

std::optional<uint64_t> Unsigned(const Json* value) {
  if (value == nullptr) return std::nullopt;
  if (value->kind_case() == Json::kNumberValue && value->number_value() >= 0) {
    return static_cast<uint64_t>(value->number_value());
  }
  if (value->kind_case() == Json::kStringValue) {
    const std::string& s = value->string_value();
    if (s.empty()) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
  }
  return std::nullopt;
}

bool Truthy(const Json* value) {
  if (value == nullptr) return false;
  if (value->kind_case() == Json::kBoolValue) return value->bool_value();
  return value->kind_case() == Json::kStringValue && value->string_value() == "true";
}

std::string ToJson(const Json& value, bool compact) {
  std::string out;
  WriteJson(value, compact, 0, out);
  return out;
}

std::string ToYaml(const Json& value) {
  if (!IsContainer(value)) return YamlScalar(value) + "\n";
  std::string out;
  WriteYamlBody(value, 0, out);
  return out;
}

Json JsonString(std::string_view s) {
  Json v;
  v.set_string_value(std::string(s));
  return v;
}

Json JsonBool(bool b) {
  Json v;
  v.set_bool_value(b);
  return v;
}

}  // namespace vfguard::agentctl
