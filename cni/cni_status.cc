#include "cni/cni_status.h"

#include <optional>
#include <string>

#include "absl/strings/numbers.h"

namespace vfguard::cni {
namespace {

constexpr absl::string_view kCodeUrl = "vfguard.dev/cni-code";
constexpr absl::string_view kDetailsUrl = "vfguard.dev/cni-details";

absl::StatusCode AbslCodeFor(int code) {
  switch (code) {
    case kIncompatibleVersion:
    case kUnsupportedField:
      return absl::StatusCode::kUnimplemented;
    case kUnknownContainer:
      return absl::StatusCode::kNotFound;
    case kDecodeFailure:
    case kInvalidConfig:
    case kInvalidEnvironment:
    case kAgentRefused:
      return absl::StatusCode::kInvalidArgument;
    case kTryAgainLater:
    case kNotAvailable:
      return absl::StatusCode::kUnavailable;
    case kNotInstalled:
      return absl::StatusCode::kDeadlineExceeded;
    case kCheckMismatch:
      return absl::StatusCode::kFailedPrecondition;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status CniStatus(int code, absl::string_view msg, absl::string_view details) {
  absl::Status s(AbslCodeFor(code), msg);
  s.SetPayload(kCodeUrl, absl::Cord(std::to_string(code)));
  if (!details.empty()) s.SetPayload(kDetailsUrl, absl::Cord(details));
  return s;
}

CniError ToCniError(const absl::Status& status) {
  CniError e;
  e.msg = std::string(status.message());
  auto code = status.GetPayload(kCodeUrl);
  int value = 0;
  if (code.has_value() && absl::SimpleAtoi(std::string(*code), &value)) {
    e.code = value;
  } else {
    switch (status.code()) {
      case absl::StatusCode::kInvalidArgument:
        e.code = kInvalidConfig;
        break;
      case absl::StatusCode::kUnavailable:
        e.code = kTryAgainLater;
        break;
      case absl::StatusCode::kDeadlineExceeded:
        e.code = kNotInstalled;
        break;
      case absl::StatusCode::kDataLoss:
        e.code = kDecodeFailure;
        break;
      default:
        e.code = kIoFailure;
    }
  }
  if (auto d = status.GetPayload(kDetailsUrl); d.has_value()) {
    e.details = std::string(*d);
  }
  return e;
}

}  // namespace vfguard::cni
