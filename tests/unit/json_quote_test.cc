// common::JsonQuoted against protobuf's JSON parser: whatever bytes go in,
// the literal parses, and parses back to the input (ill-formed UTF-8 read as
// U+FFFD).
#include "common/json_quote.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "common/utf8.h"

namespace vfguard::common {
namespace {

std::string ParsedBack(const std::string& literal) {
  google::protobuf::Value value;
  auto status = google::protobuf::util::JsonStringToMessage(literal, &value);
  EXPECT_TRUE(status.ok()) << status << " for " << literal;
  EXPECT_EQ(value.kind_case(), google::protobuf::Value::kStringValue) << literal;
  return value.string_value();
}

TEST(JsonQuotedTest, EscapesWhatJsonRequires) {
  EXPECT_EQ(JsonQuoted(""), "\"\"");
  EXPECT_EQ(JsonQuoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuoted("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  EXPECT_EQ(JsonQuoted(std::string("\x00\x01\x1f", 3)), "\"\\u0000\\u0001\\u001f\"");
  EXPECT_EQ(JsonQuoted("/ports/é"), "\"/ports/é\"");  // '/' and UTF-8 as is
}

TEST(JsonQuotedTest, IllFormedUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(JsonQuoted("a\xff"), "\"a\xef\xbf\xbd\"");
  EXPECT_EQ(ParsedBack(JsonQuoted("x\xc0\x80y")), Utf8Scrubbed("x\xc0\x80y"));
}

TEST(JsonQuotedTest, RandomBytesRoundTripThroughProtobufsParser) {
  std::mt19937 rng(7);
  for (int i = 0; i < 5000; ++i) {
    std::string text(rng() % 24, '\0');
    // Mostly the bytes that need care: controls, quote, backslash, high bytes.
    for (char& c : text) {
      uint32_t r = rng();
      c = static_cast<char>((r & 3) == 0   ? (r >> 8) % 0x20
                            : (r & 3) == 1 ? "\"\\/"[(r >> 8) % 3]
                                           : (r >> 8) & 0xff);
    }
    ASSERT_EQ(ParsedBack(JsonQuoted(text)), Utf8Scrubbed(text)) << i;
  }
}

}  // namespace
}  // namespace vfguard::common
