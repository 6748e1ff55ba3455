// Shared helpers for tc codec tests: hex fixtures and aligned buffers.
#ifndef VFGUARD_TESTS_UNIT_TC_TEST_SUPPORT_H_
#define VFGUARD_TESTS_UNIT_TC_TEST_SUPPORT_H_

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/types/span.h"

namespace vfguard::netlink::testing {

// Reads a fixture of whitespace-separated hex bytes; '#' starts a comment line.
inline std::vector<uint8_t> ReadHexFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::vector<uint8_t> bytes;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string word;
    while (words >> word) bytes.push_back(static_cast<uint8_t>(std::stoul(word, nullptr, 16)));
  }
  return bytes;
}

// 16 bytes per line, so a mismatch shows up at its offset in test output.
inline std::string HexDump(absl::Span<const uint8_t> bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i % 16 == 0) absl::StrAppendFormat(&out, "\n%04x:", i);
    absl::StrAppendFormat(&out, " %02x", bytes[i]);
  }
  return out;
}

// A 4-byte aligned byte buffer, as the encoders require.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t size) : words_((size + 3) / 4, 0), size_(size) {}
  absl::Span<uint8_t> span() { return {reinterpret_cast<uint8_t*>(words_.data()), size_}; }
  std::vector<uint8_t> Prefix(size_t len) {
    auto s = span();
    return {s.begin(), s.begin() + len};
  }

 private:
  std::vector<uint32_t> words_;
  size_t size_;
};

}  // namespace vfguard::netlink::testing

#endif  // VFGUARD_TESTS_UNIT_TC_TEST_SUPPORT_H_
