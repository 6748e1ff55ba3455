// Whole-file reads and crash-safe whole-file replacement.
#ifndef VFGUARD_COMMON_FILE_IO_H_
#define VFGUARD_COMMON_FILE_IO_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace vfguard::common {

// The file's bytes. A missing file is NotFound; other failures are Internal
// (or PermissionDenied); messages carry the path and strerror.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// The temporary file WriteFileAtomically uses for `path`: same directory, so
// that the final rename() is atomic.
std::string TempPathFor(const std::string& path);

// Replaces `path` with `bytes` so that after a crash at any point `path`
// holds either the old or the new content, never a mix: writes
// TempPathFor(path), fsyncs it, renames it over `path`, fsyncs the directory.
// On failure `path` is untouched and the temporary file is removed.
absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes);

}  // namespace vfguard::common

#endif  // VFGUARD_COMMON_FILE_IO_H_
