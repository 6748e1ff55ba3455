// libFuzzer target: arbitrary bytes into the tc decoders. Besides "never
// crash, never read out of bounds" (ASan/UBSan), it checks that whatever
// decodes to a valid filter survives encode -> decode unchanged.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "netlink/tc_codec.h"

namespace {

using vfguard::netlink::CreateMode;
using vfguard::netlink::DecodeFilterMessage;
using vfguard::netlink::FlowerFilter;
using vfguard::netlink::WithoutStatus;

void CheckReencodes(const FlowerFilter& decoded) {
  std::vector<uint32_t> words(16384 / 4);
  absl::Span<uint8_t> out(reinterpret_cast<uint8_t*>(words.data()), words.size() * 4);
  absl::StatusOr<size_t> len =
      vfguard::netlink::EncodeNewFilter(decoded, CreateMode::kCreateOrReplace, 1, out);
  if (!len.ok()) return;  // decoded but not something we would ever send
  auto again = DecodeFilterMessage(absl::MakeConstSpan(out.data(), *len));
  if (!again.ok() || !again->has_value() || WithoutStatus(**again) != WithoutStatus(decoded)) {
    std::fprintf(stderr, "re-encode mismatch:\n  first  %s\n  second %s\n",
                 vfguard::netlink::DebugString(decoded).c_str(),
                 again.ok() && again->has_value() ? vfguard::netlink::DebugString(**again).c_str()
                                                  : std::string(again.status().ToString()).c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::Span<const uint8_t> bytes(data, size);
  auto one = DecodeFilterMessage(bytes);
  if (one.ok() && one->has_value()) CheckReencodes(**one);
  auto dump = vfguard::netlink::DecodeFilterDump(bytes);
  if (dump.ok()) {
    for (const FlowerFilter& f : *dump) CheckReencodes(f);
  }
  absl::Status ack = vfguard::netlink::DecodeAck(bytes);
  (void)vfguard::netlink::ErrnoFromStatus(ack);
  (void)vfguard::netlink::ExtackFromStatus(ack);
  return 0;
}
