// absl::Status carrying a CNI error code and details as payloads, so that the
// plugin's modules return ordinary absl::Status and main() prints the spec's
// error object (cni_error.h).
#ifndef VFGUARD_CNI_CNI_STATUS_H_
#define VFGUARD_CNI_CNI_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "cni/cni_error.h"

namespace vfguard::cni {

// A status whose CNI code is `code`. The absl code follows from it (7 ->
// InvalidArgument, 11 -> Unavailable, ...); only the payload matters to
// ToCniError.
absl::Status CniStatus(int code, absl::string_view msg, absl::string_view details = {});

// The CNI error for a failed status: the code and details payloads when set,
// else a code derived from the absl code (InvalidArgument -> 7, Unavailable ->
// 11, DeadlineExceeded -> 102, DataLoss -> 6, anything else -> 5).
CniError ToCniError(const absl::Status& status);

}  // namespace vfguard::cni

#endif  // VFGUARD_CNI_CNI_STATUS_H_
