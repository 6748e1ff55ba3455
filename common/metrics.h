// The metrics registry: counters, gauges and histograms with label sets,
// rendered in the Prometheus text exposition format 0.0.4.
//
// There is no global registry: the daemon owns one Registry and hands it (or
// the families it registered) to whoever records. Families are registered
// once, by name; registering the same name again with the same kind, help and
// label names returns the same family, anything else is an error. Families
// live as long as the Registry, so the pointers stay valid.
//
// Samples are addressed by label values in the order of the family's label
// names. A call with the wrong number of values records nothing and returns
// false: a metric must never take the agent down, and the mistake is visible
// in vfguard_metrics_dropped_samples_total in the exposition.
//
// Thread-safe: every operation takes the registry's mutex (the reactor
// records, but a worker thread may too).
#ifndef VFGUARD_COMMON_METRICS_H_
#define VFGUARD_COMMON_METRICS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace vfguard::common::metrics {

using LabelValues = std::vector<std::string>;

class Registry;

enum class Kind { kCounter, kGauge, kHistogram };

// Common part of a family: its name, help, label names and series.
class Family {
 public:
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;
  virtual ~Family() = default;

  const std::string& name() const { return name_; }
  Kind kind() const { return kind_; }
  const std::vector<std::string>& label_names() const { return labels_; }

  // Forgets every series (for gauges refreshed whole by a collect callback,
  // e.g. vfguard_ports{state}: a state with no port left disappears).
  void Clear();

 protected:
  struct Series {
    double value = 0;               // counter/gauge
    std::vector<uint64_t> buckets;  // histogram: per-bucket (not cumulative) counts
    uint64_t count = 0;             // histogram
    double sum = 0;                 // histogram
  };
  Family(Registry& registry, Kind kind, std::string name, std::string help,
         std::vector<std::string> labels)
      : registry_(registry),
        kind_(kind),
        name_(std::move(name)),
        help_(std::move(help)),
        labels_(std::move(labels)) {}
  // The series for `values`, created on first use; nullptr (and the drop
  // counted) when the number of values is wrong. Caller holds the mutex.
  Series* Find(const LabelValues& values);
  const Series* Lookup(const LabelValues& values) const;
  // Counters and gauges, one implementation: the series' value (0 before
  // the first sample), and a change of it under the mutex. False (nothing
  // recorded) when the number of values is wrong, or for kSetNotBelow when
  // `value` is below the current one.
  enum class ScalarOp { kAdd, kSet, kSetNotBelow };
  double ScalarValue(const LabelValues& values) const;
  bool ChangeScalar(const LabelValues& values, double value, ScalarOp op);

  Registry& registry_;
  const Kind kind_;
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> labels_;
  std::map<LabelValues, Series> series_;  // ordered: stable exposition

  friend class Registry;
};

// Monotonic. Add() refuses negative and NaN increments (returns false).
class Counter final : public Family {
 public:
  bool Add(const LabelValues& values, double delta = 1);
  bool Inc(const LabelValues& values = {}) { return Add(values, 1); }
  // For counters kept elsewhere (e.g. the kernel's): sets the total, which
  // must not go down (a smaller value is refused; counters reset only with
  // the process).
  bool SetTotal(const LabelValues& values, double total);
  double Value(const LabelValues& values = {}) const { return ScalarValue(values); }

 private:
  using Family::Family;
  friend class Registry;
};

class Gauge final : public Family {
 public:
  bool Set(const LabelValues& values, double value);
  bool Add(const LabelValues& values, double delta);
  double Value(const LabelValues& values = {}) const { return ScalarValue(values); }

 private:
  using Family::Family;
  friend class Registry;
};

class Histogram final : public Family {
 public:
  bool Observe(const LabelValues& values, double value);
  uint64_t Count(const LabelValues& values = {}) const;
  double Sum(const LabelValues& values = {}) const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  Histogram(Registry& registry, std::string name, std::string help, std::vector<std::string> labels,
            std::vector<double> bounds)
      : Family(registry, Kind::kHistogram, std::move(name), std::move(help), std::move(labels)),
        bounds_(std::move(bounds)) {}
  const std::vector<double> bounds_;  // upper bounds, strictly increasing, no +Inf
  friend class Registry;
};

// Default latency buckets (seconds): 1 ms .. 10 s.
std::vector<double> DefaultLatencyBuckets();

class Registry {
 public:
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
  // [a-zA-Z_][a-zA-Z0-9_]* and must not start with "__" (reserved) nor be
  // "le" for a histogram. Histogram bounds must be finite and strictly
  // increasing (+Inf is implied). InvalidArgument names the offending part;
  // AlreadyExists when the name is taken by a different definition.
  absl::StatusOr<Counter*> AddCounter(std::string_view name, std::string_view help,
                                      std::vector<std::string> labels = {});
  absl::StatusOr<Gauge*> AddGauge(std::string_view name, std::string_view help,
                                  std::vector<std::string> labels = {});
  absl::StatusOr<Histogram*> AddHistogram(std::string_view name, std::string_view help,
                                          std::vector<std::string> labels,
                                          std::vector<double> bounds = DefaultLatencyBuckets());

  // The text exposition (format 0.0.4): per family in name order a HELP and
  // a TYPE line, then its samples in label order; histograms as cumulative
  // _bucket{le=...} lines ending with le="+Inf", then _sum and _count.
  std::string Render() const;

  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  template <typename T, typename... Extra>
  absl::StatusOr<T*> Add(Kind kind, std::string_view name, std::string_view help,
                         std::vector<std::string> labels, Extra&&... extra);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_samples_ = 0;  // guarded by mu_ (touched from Family under the lock)

  friend class Family;
  friend class Counter;
  friend class Gauge;
  friend class Histogram;
};

// Escaping of the exposition format (exposed for tests): HELP text escapes
// backslash and newline; label values also escape the double quote.
std::string EscapeHelp(std::string_view text);
std::string EscapeLabelValue(std::string_view text);
// A sample value: integers without a fraction, otherwise the shortest text
// that reads back to the same double; "+Inf", "-Inf", "NaN".
std::string FormatValue(double value);

}  // namespace vfguard::common::metrics

#endif  // VFGUARD_COMMON_METRICS_H_
