// CNI errors as the specification defines them: a JSON object on stdout
// ({"cniVersion", "code", "msg", "details"}) and a non-zero exit. Codes 1-99
// are the spec's; 100 and up are this plugin's own (documented in
// docs/kubernetes.md).
#ifndef VFGUARD_CNI_CNI_ERROR_H_
#define VFGUARD_CNI_CNI_ERROR_H_

#include <string>

#include "absl/strings/string_view.h"

namespace vfguard::cni {

enum ErrorCode : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,
  kIoFailure = 5,
  kDecodeFailure = 6,
  kInvalidConfig = 7,
  kTryAgainLater = 11,
  kNotAvailable = 50,  // STATUS: the plugin cannot serve ADDs now
  // This plugin's own codes.
  kAgentRefused = 100,   // the agent answered an error the config caused
  kCheckMismatch = 101,  // CHECK: the port differs from the attachment
  kNotInstalled = 102,   // the port was not installed in time / is not installed
};

struct CniError {
  int code = kIoFailure;
  std::string msg;
  std::string details;
};

// The spec's error object, one line, with `cni_version` (the config's, or the
// newest supported when the config could not be read).
std::string ErrorJson(const CniError& error, absl::string_view cni_version);

}  // namespace vfguard::cni

#endif  // VFGUARD_CNI_CNI_ERROR_H_
