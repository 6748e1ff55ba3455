#include "netlink/errno_status.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "netlink/tc_wire.h"

namespace vfguard::netlink {
namespace {

constexpr char kErrnoPayload[] = "type.vfguard/netlink.errno";
constexpr char kExtackPayload[] = "type.vfguard/netlink.extack";

// The NLMSGERR_ATTR_MSG text among the TLVs at `offset` of `h`, or "" (no
// TLVs, none with a message, or malformed ones: the errno still stands).
std::string ExtackAt(const nlmsghdr& h, size_t offset) {
  if (!(h.nlmsg_flags & NLM_F_ACK_TLVS) || offset > h.nlmsg_len) return "";
  absl::StatusOr<tc_wire::AttrIndex> tlvs =
      tc_wire::AttrIndex::Parse(reinterpret_cast<const uint8_t*>(&h) + offset, h.nlmsg_len - offset,
                                NLMSGERR_ATTR_MAX, "extack");
  if (!tlvs.ok()) return "";
  const nlattr* msg = tlvs->Get(NLMSGERR_ATTR_MSG);
  if (msg == nullptr) return "";
  absl::StatusOr<std::string> text = tc_wire::ReadString(msg, "extack message");
  return text.ok() ? *text : "";
}

absl::Status ErrnoOfAnswer(int32_t error, const nlmsghdr& h, size_t tlv_offset) {
  if (error == 0) return absl::OkStatus();
  if (error > 0 || error < -4095) {
    return absl::InvalidArgumentError(absl::StrCat("netlink answer with bad error ", error));
  }
  return ErrnoStatus(-error, ExtackAt(h, tlv_offset));
}

}  // namespace

absl::Status KernelAnswerStatus(const nlmsghdr& h) {
  if (h.nlmsg_type == NLMSG_DONE) {
    // A clean end may carry no payload at all.
    if (h.nlmsg_len < NLMSG_LENGTH(sizeof(int32_t))) return absl::OkStatus();
    int32_t error;
    std::memcpy(&error, NLMSG_DATA(&h), sizeof(error));
    return ErrnoOfAnswer(error, h, NLMSG_LENGTH(sizeof(int32_t)));
  }
  if (h.nlmsg_type != NLMSG_ERROR) {
    return absl::InvalidArgumentError(
        absl::StrCat("netlink message type ", h.nlmsg_type, " is not NLMSG_ERROR"));
  }
  if (h.nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
    return absl::InvalidArgumentError("NLMSG_ERROR shorter than struct nlmsgerr");
  }
  nlmsgerr err;
  std::memcpy(&err, NLMSG_DATA(&h), sizeof(err));
  // The TLVs follow the echoed request: all of it unless NLM_F_CAPPED.
  size_t echoed = (h.nlmsg_flags & NLM_F_CAPPED) ? sizeof(nlmsghdr) : err.msg.nlmsg_len;
  if (echoed < sizeof(nlmsghdr)) echoed = sizeof(nlmsghdr);
  size_t offset = NLMSG_LENGTH(sizeof(int32_t)) + NLMSG_ALIGN(echoed);
  return ErrnoOfAnswer(err.error, h, offset);
}

absl::Status ErrnoStatus(int err, absl::string_view extack, absl::string_view context) {
  if (err == 0) return absl::OkStatus();
  const char* name = strerrorname_np(err);
  std::string message =
      absl::StrCat(name != nullptr ? name : "errno", " (errno ", err, "): ", std::strerror(err));
  if (!context.empty()) absl::StrAppend(&message, ": ", context);
  if (!extack.empty()) absl::StrAppend(&message, "; kernel says: ", extack);
  absl::Status status(absl::ErrnoToStatusCode(err), message);
  status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(err)));
  if (!extack.empty()) status.SetPayload(kExtackPayload, absl::Cord(extack));
  return status;
}

int ErrnoFromStatus(const absl::Status& status) {
  auto payload = status.GetPayload(kErrnoPayload);
  int err = 0;
  if (payload && absl::SimpleAtoi(std::string(*payload), &err)) return err;
  return 0;
}

std::string ExtackFromStatus(const absl::Status& status) {
  auto payload = status.GetPayload(kExtackPayload);
  return payload ? std::string(*payload) : std::string();
}

}  // namespace vfguard::netlink
