// A JSON string literal (RFC 8259 section 7) for text built by hand: error
// bodies on every failed request and agentctl's renderings. protobuf's JSON
// printer gives the same result, but building a Value per string cost about a
// sixth of an API error answer's CPU (docs/testing.md, the API fuzz target).
#ifndef VFGUARD_COMMON_JSON_QUOTE_H_
#define VFGUARD_COMMON_JSON_QUOTE_H_

#include <string>
#include <string_view>

namespace vfguard::common {

// `text` in double quotes: `"` and `\` backslash-escaped, \n \r \t \b \f as
// such, other bytes below 0x20 as \u00XX; ill-formed UTF-8 becomes U+FFFD
// (JSON text must be UTF-8). Everything else is copied as is.
std::string JsonQuoted(std::string_view text);

}  // namespace vfguard::common

#endif  // VFGUARD_COMMON_JSON_QUOTE_H_
