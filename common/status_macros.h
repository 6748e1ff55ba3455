// Early-return helpers for absl::Status / absl::StatusOr.
#ifndef VFGUARD_COMMON_STATUS_MACROS_H_
#define VFGUARD_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define VFG_CONCAT_INNER(a, b) a##b
#define VFG_CONCAT(a, b) VFG_CONCAT_INNER(a, b)

// Returns the status if not OK.
#define VFG_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::absl::Status vfg_status_ = (expr);       \
    if (!vfg_status_.ok()) return vfg_status_; \
  } while (0)

// `lhs` may be a declaration (`Foo x`) or any assignable expression.
#define VFG_ASSIGN_OR_RETURN(lhs, expr) \
  VFG_ASSIGN_OR_RETURN_IMPL(VFG_CONCAT(vfg_status_or_, __LINE__), lhs, expr)
#define VFG_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(*tmp)

#endif  // VFGUARD_COMMON_STATUS_MACROS_H_
