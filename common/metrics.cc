#include "common/metrics.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace vfguard::common::metrics {
namespace {

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// [a-zA-Z_:][a-zA-Z0-9_:]* for metric names, the same without ':' for
// label names.
bool ValidName(std::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool ValidMetricName(std::string_view name) { return ValidName(name, true); }

bool ValidLabelName(std::string_view name) {
  return !name.starts_with("__") && ValidName(name, false);
}

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kCounter:
      return "counter";
    case Kind::kGauge:
      return "gauge";
    case Kind::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// Backslash and newline, and with `quote` the double quote.
std::string Escape(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// `{a="x",b="y"}` with an optional extra label last (le for buckets); empty
// when there are no labels at all.
std::string LabelText(const std::vector<std::string>& names, const LabelValues& values,
                      std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    absl::StrAppend(&out, names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    absl::StrAppend(&out, Sv(extra_name), "=\"", Sv(extra_value), "\"");
  }
  out += '}';
  return out;
}

}  // namespace

std::string EscapeHelp(std::string_view text) { return Escape(text, false); }

std::string EscapeLabelValue(std::string_view text) { return Escape(text, true); }

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Integers up to 2^53 print exactly and without an exponent.
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);  // shortest round-trip
  if (ec != std::errc()) return absl::StrCat(value);
  return std::string(buf, end);
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

void Family::Clear() {
  absl::MutexLock lock(&registry_.mu_);
  series_.clear();
}

Family::Series* Family::Find(const LabelValues& values) {
  if (values.size() != labels_.size()) {
    ++registry_.dropped_samples_;
    return nullptr;
  }
  auto [it, inserted] = series_.try_emplace(values);
  if (inserted && kind_ == Kind::kHistogram) {
    it->second.buckets.assign(static_cast<const Histogram*>(this)->bounds().size(), 0);
  }
  return &it->second;
}

const Family::Series* Family::Lookup(const LabelValues& values) const {
  auto it = series_.find(values);
  return it == series_.end() ? nullptr : &it->second;
}

double Family::ScalarValue(const LabelValues& values) const {
  absl::MutexLock lock(&registry_.mu_);
  const Series* s = Lookup(values);
  return s == nullptr ? 0 : s->value;
}

bool Family::ChangeScalar(const LabelValues& values, double value, ScalarOp op) {
  absl::MutexLock lock(&registry_.mu_);
  Series* s = Find(values);
  if (s == nullptr) return false;
  switch (op) {
    case ScalarOp::kAdd:
      s->value += value;
      return true;
    case ScalarOp::kSetNotBelow:
      if (!(value >= s->value)) return false;  // also refuses NaN
      break;
    case ScalarOp::kSet:
      break;
  }
  s->value = value;
  return true;
}

bool Counter::Add(const LabelValues& values, double delta) {
  if (!(delta >= 0)) return false;  // also refuses NaN
  return ChangeScalar(values, delta, ScalarOp::kAdd);
}

bool Counter::SetTotal(const LabelValues& values, double total) {
  return ChangeScalar(values, total, ScalarOp::kSetNotBelow);
}

bool Gauge::Set(const LabelValues& values, double value) {
  return ChangeScalar(values, value, ScalarOp::kSet);
}

bool Gauge::Add(const LabelValues& values, double delta) {
  return ChangeScalar(values, delta, ScalarOp::kAdd);
}

bool Histogram::Observe(const LabelValues& values, double value) {
  if (std::isnan(value)) return false;
  absl::MutexLock lock(&registry_.mu_);
  Series* s = Find(values);
  if (s == nullptr) return false;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (value <= bounds_[i]) {
      ++s->buckets[i];
      break;
    }
  }
  ++s->count;
  s->sum += value;
  return true;
}

uint64_t Histogram::Count(const LabelValues& values) const {
  absl::MutexLock lock(&registry_.mu_);
  const Series* s = Lookup(values);
  return s == nullptr ? 0 : s->count;
}

double Histogram::Sum(const LabelValues& values) const {
  absl::MutexLock lock(&registry_.mu_);
  const Series* s = Lookup(values);
  return s == nullptr ? 0 : s->sum;
}

Registry::Registry() = default;

template <typename T, typename... Extra>
absl::StatusOr<T*> Registry::Add(Kind kind, std::string_view name, std::string_view help,
                                 std::vector<std::string> labels, Extra&&... extra) {
  if (!ValidMetricName(name)) {
    return absl::InvalidArgumentError(absl::StrCat("metric name \"", Sv(name), "\" is not valid"));
  }
  if (name == "vfguard_metrics_dropped_samples_total") {
    return absl::InvalidArgumentError(absl::StrCat("metric name ", Sv(name), " is reserved"));
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    if (!ValidLabelName(labels[i]) || (kind == Kind::kHistogram && labels[i] == "le")) {
      return absl::InvalidArgumentError(
          absl::StrCat(Sv(name), ": label name \"", labels[i], "\" is not valid"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (labels[i] == labels[j]) {
        return absl::InvalidArgumentError(
            absl::StrCat(Sv(name), ": label name ", labels[i], " repeats"));
      }
    }
  }
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    Family* existing = it->second.get();
    if (existing->kind() != kind || existing->help_ != help || existing->labels_ != labels) {
      return absl::AlreadyExistsError(
          absl::StrCat("metric ", Sv(name), " is already registered differently"));
    }
    if constexpr (sizeof...(Extra) == 1) {
      if (static_cast<Histogram*>(existing)->bounds() != (extra, ...)) {
        return absl::AlreadyExistsError(
            absl::StrCat("metric ", Sv(name), " is already registered with other buckets"));
      }
    }
    return static_cast<T*>(existing);
  }
  std::unique_ptr<T> family;
  if constexpr (sizeof...(Extra) == 1) {
    family.reset(new T(*this, std::string(name), std::string(help), std::move(labels),
                       std::forward<Extra>(extra)...));
  } else {
    family.reset(new T(*this, kind, std::string(name), std::string(help), std::move(labels)));
  }
  T* raw = family.get();
  families_.emplace(std::string(name), std::move(family));
  return raw;
}

absl::StatusOr<Counter*> Registry::AddCounter(std::string_view name, std::string_view help,
                                              std::vector<std::string> labels) {
  return Add<Counter>(Kind::kCounter, name, help, std::move(labels));
}

absl::StatusOr<Gauge*> Registry::AddGauge(std::string_view name, std::string_view help,
                                          std::vector<std::string> labels) {
  return Add<Gauge>(Kind::kGauge, name, help, std::move(labels));
}

absl::StatusOr<Histogram*> Registry::AddHistogram(std::string_view name, std::string_view help,
                                                  std::vector<std::string> labels,
                                                  std::vector<double> bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
      return absl::InvalidArgumentError(absl::StrCat(
          Sv(name), ": bucket bounds must be finite and strictly increasing (bound ", i, ")"));
    }
  }
  return Add<Histogram>(Kind::kHistogram, name, help, std::move(labels), std::move(bounds));
}

std::string Registry::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(family->help_), "\n");
    absl::StrAppend(&out, "# TYPE ", name, " ", KindName(family->kind()), "\n");
    for (const auto& [values, s] : family->series_) {
      if (family->kind() != Kind::kHistogram) {
        absl::StrAppend(&out, name, LabelText(family->labels_, values), " ", FormatValue(s.value),
                        "\n");
        continue;
      }
      const auto& bounds = static_cast<const Histogram*>(family.get())->bounds();
      uint64_t cumulative = 0;
      for (size_t i = 0; i < bounds.size(); ++i) {
        cumulative += s.buckets[i];
        absl::StrAppend(&out, name, "_bucket",
                        LabelText(family->labels_, values, "le", FormatValue(bounds[i])), " ",
                        cumulative, "\n");
      }
      absl::StrAppend(&out, name, "_bucket", LabelText(family->labels_, values, "le", "+Inf"), " ",
                      s.count, "\n");
      absl::StrAppend(&out, name, "_sum", LabelText(family->labels_, values), " ",
                      FormatValue(s.sum), "\n");
      absl::StrAppend(&out, name, "_count", LabelText(family->labels_, values), " ", s.count, "\n");
    }
  }
  // Always present, so a mislabelled call is visible rather than silent.
  absl::StrAppend(&out,
                  "# HELP vfguard_metrics_dropped_samples_total Samples recorded with the wrong "
                  "number of label values (a bug in the agent).\n"
                  "# TYPE vfguard_metrics_dropped_samples_total counter\n"
                  "vfguard_metrics_dropped_samples_total ",
                  dropped_samples_, "\n");
  return out;
}

}  // namespace vfguard::common::metrics
