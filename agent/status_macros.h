// Early-return helpers for absl::Status / absl::StatusOr.
#ifndef VFGUARD_AGENT_STATUS_MACROS_H_
#define VFGUARD_AGENT_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define VFG_AGENT_CONCAT_INNER(a, b) a##b
#define VFG_AGENT_CONCAT(a, b) VFG_AGENT_CONCAT_INNER(a, b)

// Returns the status if not OK.
#define VFG_AGENT_RETURN_IF_ERROR(expr)        \
  do {                                         \
    ::absl::Status vfg_status_ = (expr);       \
    if (!vfg_status_.ok()) return vfg_status_; \
  } while (0)

// `lhs` may be a declaration (`Foo x`) or any assignable expression.
#define VFG_AGENT_ASSIGN_OR_RETURN(lhs, expr) \
  VFG_AGENT_ASSIGN_OR_RETURN_IMPL(VFG_AGENT_CONCAT(vfg_status_or_, __LINE__), lhs, expr)
#define VFG_AGENT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(*tmp)

#endif  // VFGUARD_AGENT_STATUS_MACROS_H_
