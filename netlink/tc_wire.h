// Bounds-checked netlink attribute writing and reading, on top of libmnl:
// written for the tc codec, and the one attribute parser of all of netlink/
// (ForEachAttr, AttrIndex: conntrack, devlink, acks' extack TLVs, qdiscs).
// The writer never writes past the caller's buffer; the reader never reads
// past the bytes it was given, whatever they contain.
#ifndef VFGUARD_NETLINK_TC_WIRE_H_
#define VFGUARD_NETLINK_TC_WIRE_H_

#include <libmnl/libmnl.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace vfguard::netlink::tc_wire {

// Builds one netlink message in a caller-provided buffer. A write that does
// not fit marks the writer failed and is dropped, as are all later writes;
// Finish() then reports RESOURCE_EXHAUSTED so the caller can flush and retry.
class AttrWriter {
 public:
  explicit AttrWriter(absl::Span<uint8_t> buffer) : buffer_(buffer) {}

  // Must be called first: the netlink header, then the family header.
  void PutHeader(uint16_t type, uint16_t flags, uint32_t seq);
  void* PutFamilyHeader(size_t len);

  void Put(uint16_t type, const void* data, size_t len);
  void PutU8(uint16_t type, uint8_t v) { Put(type, &v, sizeof(v)); }
  void PutU16(uint16_t type, uint16_t v) { Put(type, &v, sizeof(v)); }
  void PutU32(uint16_t type, uint32_t v) { Put(type, &v, sizeof(v)); }
  void PutString(uint16_t type, absl::string_view s);

  // Opens a nested attribute. iproute2 (and the kernel's own dumps) only set
  // NLA_F_NESTED on some nests; `flag_nested` keeps requests byte-identical.
  nlattr* NestStart(uint16_t type, bool flag_nested);
  void NestEnd(nlattr* nest);

  bool ok() const { return ok_; }
  // The message length (4-byte aligned, as netlink packs messages).
  absl::StatusOr<size_t> Finish() const;

 private:
  absl::Span<uint8_t> buffer_;
  nlmsghdr* nlh_ = nullptr;
  bool ok_ = true;
};

// Calls `f(type, attr)` for every attribute of the `len` bytes at `payload`,
// in wire order, with the type's flag bits (NLA_F_NESTED...) masked off;
// stops at f's first error and returns it. An attribute that does not fit
// (or bytes left over that are not alignment padding) is an InvalidArgument
// error naming `where`. For payloads walked in order or with repeated types
// (a list of nests); AttrIndex below indexes one by type.
absl::Status ForEachAttr(const void* payload, size_t len, absl::string_view where,
                         const std::function<absl::Status(uint16_t, const nlattr*)>& f);
// The same over the payload of the nest `nest`.
absl::Status ForEachNested(const nlattr* nest, absl::string_view where,
                           const std::function<absl::Status(uint16_t, const nlattr*)>& f);

// The attributes of one payload, indexed by type (flags masked off). For a
// repeated type the last one wins, as in the kernel's nla_parse. Types above
// `max_type` are ignored (newer kernels add attributes).
class AttrIndex {
 public:
  // `where` names the payload in error messages, e.g. "TCA_OPTIONS".
  static absl::StatusOr<AttrIndex> Parse(const void* payload, size_t len, uint16_t max_type,
                                         absl::string_view where);
  static absl::StatusOr<AttrIndex> ParseNested(const nlattr* nest, uint16_t max_type,
                                               absl::string_view where);

  const nlattr* Get(uint16_t type) const {
    return type < by_type_.size() ? by_type_[type] : nullptr;
  }
  bool Has(uint16_t type) const { return Get(type) != nullptr; }
  // All attributes with a type within range, in wire order.
  const std::vector<const nlattr*>& InOrder() const { return in_order_; }

 private:
  std::vector<const nlattr*> by_type_;
  std::vector<const nlattr*> in_order_;
};

// Copies exactly `len` payload bytes; any other payload length is an error
// naming `field`.
absl::Status ReadExact(const nlattr* attr, void* out, size_t len, absl::string_view field);
// Copies the first `len` payload bytes; a shorter payload is an error. For
// kernel structs that may grow at the end.
absl::Status ReadPrefix(const nlattr* attr, void* out, size_t len, absl::string_view field);
// A NUL-terminated string attribute.
absl::StatusOr<std::string> ReadString(const nlattr* attr, absl::string_view field);

template <typename T>
absl::StatusOr<T> Read(const nlattr* attr, absl::string_view field) {
  T v{};
  if (absl::Status s = ReadExact(attr, &v, sizeof(v), field); !s.ok()) return s;
  return v;
}

}  // namespace vfguard::netlink::tc_wire

#endif  // VFGUARD_NETLINK_TC_WIRE_H_
