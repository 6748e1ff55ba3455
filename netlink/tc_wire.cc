#include "netlink/tc_wire.h"

#include "absl/strings/str_cat.h"

namespace vfguard::netlink::tc_wire {

void AttrWriter::PutHeader(uint16_t type, uint16_t flags, uint32_t seq) {
  if (buffer_.size() < MNL_NLMSG_HDRLEN ||
      reinterpret_cast<uintptr_t>(buffer_.data()) % alignof(nlmsghdr) != 0) {
    ok_ = false;
    return;
  }
  nlh_ = mnl_nlmsg_put_header(buffer_.data());
  nlh_->nlmsg_type = type;
  nlh_->nlmsg_flags = flags;
  nlh_->nlmsg_seq = seq;
}

void* AttrWriter::PutFamilyHeader(size_t len) {
  if (!ok_ || nlh_ == nullptr || nlh_->nlmsg_len + MNL_ALIGN(len) > buffer_.size()) {
    ok_ = false;
    return nullptr;
  }
  return mnl_nlmsg_put_extra_header(nlh_, len);
}

void AttrWriter::Put(uint16_t type, const void* data, size_t len) {
  if (!ok_ || nlh_ == nullptr || !mnl_attr_put_check(nlh_, buffer_.size(), type, len, data)) {
    ok_ = false;
  }
}

void AttrWriter::PutString(uint16_t type, absl::string_view s) {
  // The kernel wants the terminating NUL inside the attribute.
  std::string with_nul(s);
  Put(type, with_nul.c_str(), with_nul.size() + 1);
}

nlattr* AttrWriter::NestStart(uint16_t type, bool flag_nested) {
  if (!ok_ || nlh_ == nullptr) return nullptr;
  nlattr* nest = mnl_attr_nest_start_check(nlh_, buffer_.size(), type);
  if (nest == nullptr) {
    ok_ = false;
    return nullptr;
  }
  if (!flag_nested) nest->nla_type &= ~NLA_F_NESTED;
  return nest;
}

void AttrWriter::NestEnd(nlattr* nest) {
  if (ok_ && nest != nullptr) mnl_attr_nest_end(nlh_, nest);
}

absl::StatusOr<size_t> AttrWriter::Finish() const {
  if (!ok_ || nlh_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("netlink message does not fit in the ", buffer_.size(),
                     "-byte buffer (or the buffer is not 4-byte aligned)"));
  }
  return MNL_ALIGN(nlh_->nlmsg_len);
}

absl::Status ForEachAttr(const void* payload, size_t len, absl::string_view where,
                         const std::function<absl::Status(uint16_t, const nlattr*)>& f) {
  if (len > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": payload too large"));
  }
  const auto* attr = static_cast<const nlattr*>(payload);
  int remaining = static_cast<int>(len);
  while (mnl_attr_ok(attr, remaining)) {
    if (absl::Status s = f(mnl_attr_get_type(attr), attr); !s.ok()) return s;
    // mnl_attr_next advances by the aligned length; account for it the same way.
    remaining -= MNL_ALIGN(attr->nla_len);
    attr = mnl_attr_next(attr);
  }
  // Anything left that is not alignment padding is a truncated attribute.
  if (remaining >= static_cast<int>(sizeof(nlattr))) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": malformed attribute with ", remaining, " bytes left"));
  }
  return absl::OkStatus();
}

absl::Status ForEachNested(const nlattr* nest, absl::string_view where,
                           const std::function<absl::Status(uint16_t, const nlattr*)>& f) {
  return ForEachAttr(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), where, f);
}

absl::StatusOr<AttrIndex> AttrIndex::Parse(const void* payload, size_t len, uint16_t max_type,
                                           absl::string_view where) {
  AttrIndex index;
  index.by_type_.assign(static_cast<size_t>(max_type) + 1, nullptr);
  absl::Status s = ForEachAttr(payload, len, where, [&](uint16_t type, const nlattr* attr) {
    if (type <= max_type) {
      index.by_type_[type] = attr;
      index.in_order_.push_back(attr);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return index;
}

absl::StatusOr<AttrIndex> AttrIndex::ParseNested(const nlattr* nest, uint16_t max_type,
                                                 absl::string_view where) {
  return Parse(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), max_type, where);
}

absl::Status ReadExact(const nlattr* attr, void* out, size_t len, absl::string_view field) {
  if (mnl_attr_get_payload_len(attr) != len) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": expected ", len, " bytes, got ", mnl_attr_get_payload_len(attr)));
  }
  std::memcpy(out, mnl_attr_get_payload(attr), len);
  return absl::OkStatus();
}

absl::Status ReadPrefix(const nlattr* attr, void* out, size_t len, absl::string_view field) {
  if (mnl_attr_get_payload_len(attr) < len) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": expected at least ", len,
                                                   " bytes, got ", mnl_attr_get_payload_len(attr)));
  }
  std::memcpy(out, mnl_attr_get_payload(attr), len);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadString(const nlattr* attr, absl::string_view field) {
  const char* data = static_cast<const char*>(mnl_attr_get_payload(attr));
  size_t len = mnl_attr_get_payload_len(attr);
  const void* nul = std::memchr(data, '\0', len);
  if (nul == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": string is not NUL-terminated"));
  }
  return std::string(data, static_cast<const char*>(nul) - data);
}

}  // namespace vfguard::netlink::tc_wire
