#include "cni/cni_error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cni/cni_status.h"
#include "tools/agentctl/json_value.h"

namespace vfguard::cni {
namespace {

TEST(CniErrorTest, SpecFormat) {
  EXPECT_EQ(ErrorJson({7, "network: required", "see docs"}, "1.0.0"),
            R"({"cniVersion":"1.0.0","code":7,"details":"see docs","msg":"network: required"})");
  // details is optional and left out when empty; text is JSON-escaped.
  EXPECT_EQ(ErrorJson({11, "a \"quoted\"\nline", ""}, "1.1.0"),
            R"({"cniVersion":"1.1.0","code":11,"msg":"a \"quoted\"\nline"})");
}

TEST(CniErrorTest, StatusCarriesCodeAndDetails) {
  absl::Status s = CniStatus(kAgentRefused, "refused", "HTTP 400");
  CniError e = ToCniError(s);
  EXPECT_EQ(e.code, 100);
  EXPECT_EQ(e.msg, "refused");
  EXPECT_EQ(e.details, "HTTP 400");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(CniErrorTest, PlainStatusesGetACode) {
  EXPECT_EQ(ToCniError(absl::InvalidArgumentError("x")).code, 7);
  EXPECT_EQ(ToCniError(absl::UnavailableError("x")).code, 11);
  EXPECT_EQ(ToCniError(absl::DeadlineExceededError("x")).code, 102);
  EXPECT_EQ(ToCniError(absl::DataLossError("x")).code, 6);
  EXPECT_EQ(ToCniError(absl::InternalError("x")).code, 5);
  EXPECT_EQ(ToCniError(absl::InternalError("x")).details, "");
}

}  // namespace
}  // namespace vfguard::cni
