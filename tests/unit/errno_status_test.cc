// ErrnoStatus and KernelAnswerStatus (netlink/errno_status.h): errno to
// status code with the extack kept as a payload, and the kernel's
// NLMSG_ERROR / NLMSG_DONE answers (with the request echoed and an extack
// TLV) decoded to that one form.
#include "netlink/errno_status.h"

#include <gtest/gtest.h>
#include <linux/netlink.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace vfguard::netlink {
namespace {

TEST(ErrnoStatus, MapsErrnoAndKeepsExtack) {
  absl::Status st = ErrnoStatus(EEXIST, "Filter already exists");
  EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(st.message().find("EEXIST (errno 17)"), std::string::npos) << st;
  EXPECT_NE(st.message().find("kernel says: Filter already exists"), std::string::npos) << st;
  EXPECT_EQ(ErrnoFromStatus(st), EEXIST);
  EXPECT_EQ(ExtackFromStatus(st), "Filter already exists");
  EXPECT_TRUE(ErrnoStatus(0, "ignored").ok());
  absl::Status local = ErrnoStatus(EPERM, {}, "bind");
  EXPECT_EQ(local.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(local.message().find(": bind"), std::string::npos) << local;
  EXPECT_EQ(ErrnoFromStatus(local), EPERM);
  EXPECT_EQ(ExtackFromStatus(local), "");
  EXPECT_EQ(ErrnoFromStatus(absl::InternalError("no errno here")), 0);
}

// An NLMSG_ERROR echoing a whole 40-byte request (not capped), then an
// extack TLV; or, with `done`, a dump's NLMSG_DONE carrying -err and the TLV.
std::vector<uint32_t> KernelAnswer(int err, const std::string& extack, bool done) {
  std::vector<uint32_t> words(64, 0);
  auto* h = reinterpret_cast<nlmsghdr*>(words.data());
  size_t at = NLMSG_HDRLEN;
  auto* bytes = reinterpret_cast<uint8_t*>(words.data());
  int32_t error = -err;
  memcpy(bytes + at, &error, sizeof(error));
  at += sizeof(error);
  if (!done) {
    nlmsghdr echoed{};
    echoed.nlmsg_len = 40;
    memcpy(bytes + at, &echoed, sizeof(echoed));
    at += 40;
  }
  auto* a = reinterpret_cast<nlattr*>(bytes + at);
  a->nla_type = NLMSGERR_ATTR_MSG;
  a->nla_len = NLA_HDRLEN + extack.size() + 1;
  memcpy(bytes + at + NLA_HDRLEN, extack.c_str(), extack.size() + 1);
  at += NLA_ALIGN(a->nla_len);
  h->nlmsg_len = at;
  h->nlmsg_type = done ? NLMSG_DONE : NLMSG_ERROR;
  h->nlmsg_flags = NLM_F_ACK_TLVS | (done ? NLM_F_MULTI : 0);
  return words;
}

TEST(ErrnoStatus, KernelAnswersDecodeToTheOneForm) {
  for (bool done : {false, true}) {
    std::vector<uint32_t> words = KernelAnswer(EINVAL, "Block of given index was not found", done);
    absl::Status st = KernelAnswerStatus(*reinterpret_cast<const nlmsghdr*>(words.data()));
    EXPECT_EQ(st, ErrnoStatus(EINVAL, "Block of given index was not found")) << done;
    EXPECT_EQ(ExtackFromStatus(st), "Block of given index was not found") << done;
  }
  std::vector<uint32_t> ack = KernelAnswer(0, "", false);
  EXPECT_TRUE(KernelAnswerStatus(*reinterpret_cast<const nlmsghdr*>(ack.data())).ok());
  std::vector<uint32_t> bad = KernelAnswer(-5, "", false);  // a positive error field
  EXPECT_EQ(KernelAnswerStatus(*reinterpret_cast<const nlmsghdr*>(bad.data())).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vfguard::netlink
