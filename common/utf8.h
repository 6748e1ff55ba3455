// UTF-8 well-formedness (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF). JSON text must be UTF-8 (RFC 8259 8.1), and protobuf logs
// an error for every string field that is not, so text is checked, or made
// valid, before it reaches protobuf.
#ifndef VFGUARD_AGENT_UTF8_H_
#define VFGUARD_AGENT_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace vfguard::common {

// The offset of the first byte that does not start a well-formed sequence,
// or text.size() when all of it is well-formed.
size_t Utf8ValidPrefix(std::string_view text);

// `text` with every ill-formed byte replaced by U+FFFD.
std::string Utf8Scrubbed(std::string_view text);

}  // namespace vfguard::common

#endif  // VFGUARD_AGENT_UTF8_H_
