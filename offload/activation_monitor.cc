#include "offload/activation_monitor.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "boost/asio/posix/stream_descriptor.hpp"
#include "offload/activation_bpf_object.h"  // generated from offload/bpf/activation.bpf.c
#include "offload/bpf/activation_event.h"
#include "offload/bpf_status.h"

namespace vfguard::offload {
namespace {

static_assert(sizeof(vfguard_activation_event) == 36, "event layout changed on one side only");

}  // namespace

std::string ActivationKindName(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::kRarp:
      return "rarp";
    case ActivationKind::kGarp:
      return "garp";
    case ActivationKind::kUnsolicitedNa:
      return "unsolicited-na";
  }
  return absl::StrCat("kind-", static_cast<uint32_t>(kind));
}

std::string ToString(const ActivationEvent& e) {
  std::string out = absl::StrFormat("%s ifindex=%u cookie=%u mac=%02x:%02x:%02x:%02x:%02x:%02x",
                                    ActivationKindName(e.kind), e.ifindex, e.cookie, e.mac[0],
                                    e.mac[1], e.mac[2], e.mac[3], e.mac[4], e.mac[5]);
  char text[INET6_ADDRSTRLEN] = "";
  const int family = e.ip_version == 4 ? AF_INET : e.ip_version == 6 ? AF_INET6 : AF_UNSPEC;
  if (family != AF_UNSPEC && inet_ntop(family, e.ip.data(), text, sizeof(text)) != nullptr) {
    absl::StrAppend(&out, " ip=", text);
  }
  return out;
}

absl::StatusOr<ActivationEvent> DecodeActivationEvent(absl::Span<const uint8_t> record) {
  if (record.size() != sizeof(vfguard_activation_event)) {
    return absl::InvalidArgumentError(absl::StrCat("activation event of ", record.size(),
                                                   " bytes, expected ",
                                                   sizeof(vfguard_activation_event)));
  }
  vfguard_activation_event raw;
  std::memcpy(&raw, record.data(), sizeof(raw));
  ActivationEvent e;
  e.ifindex = raw.ifindex;
  e.cookie = raw.cookie;
  switch (raw.kind) {
    case VFGUARD_ACTIVATION_RARP:
    case VFGUARD_ACTIVATION_GARP:
    case VFGUARD_ACTIVATION_UNSOLICITED_NA:
      e.kind = static_cast<ActivationKind>(raw.kind);
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("activation event of unknown kind ", raw.kind));
  }
  std::memcpy(e.mac.data(), raw.mac, e.mac.size());
  switch (raw.family) {
    case 0:
      e.ip_version = 0;
      break;
    case 2:
      e.ip_version = 4;
      break;
    case 10:
      e.ip_version = 6;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("activation event of unknown address family ", raw.family));
  }
  std::memcpy(e.ip.data(), raw.ip, e.ip.size());
  return e;
}

// The asio side: a stream_descriptor on a dup of the ring's epoll fd (asio
// closes what it owns; libbpf closes its own).
struct ActivationMonitor::Reader {
  Reader(boost::asio::io_context& io, int fd, ActivationMonitor* owner)
      : descriptor(io, fd), monitor(owner) {}
  boost::asio::posix::stream_descriptor descriptor;
  ActivationMonitor* monitor;
};

ActivationMonitor::ActivationMonitor(boost::asio::io_context& io, Handler handler)
    : io_(io), handler_(std::move(handler)) {}

ActivationMonitor::~ActivationMonitor() {
  reader_.reset();  // cancels the wait before the ring it watches goes away
  if (ring_ != nullptr) ring_buffer__free(ring_);
  if (object_ != nullptr) bpf_object__close(object_);
}

absl::StatusOr<std::unique_ptr<ActivationMonitor>> ActivationMonitor::Create(
    boost::asio::io_context& io, Handler handler) {
  std::unique_ptr<ActivationMonitor> m(new ActivationMonitor(io, std::move(handler)));

  LIBBPF_OPTS(bpf_object_open_opts, open_opts, .object_name = "vfguard_activation");
  errno = 0;
  m->object_ = bpf_object__open_mem(generated::kActivationBpfObject,
                                    generated::kActivationBpfObjectSize, &open_opts);
  if (m->object_ == nullptr) {
    return BpfError("opening the embedded activation BPF object", BpfErrno(-errno));
  }
  bpf_program* prog = bpf_object__find_program_by_name(m->object_, kProgramName);
  if (prog == nullptr) {
    return absl::InternalError(absl::StrCat("embedded BPF object has no program ", kProgramName));
  }
  // Keep the verifier's reasoning so a rejection explains itself.
  std::vector<char> log(64 * 1024, '\0');
  bpf_program__set_log_buf(prog, log.data(), log.size());
  bpf_program__set_log_level(prog, 1);
  if (int ret = bpf_object__load(m->object_); ret != 0) {
    return BpfError("loading the activation BPF program", BpfErrno(ret), VerifierLogTail(log));
  }
  bpf_program__set_log_buf(prog, nullptr, 0);  // `log` dies here
  m->prog_fd_ = bpf_program__fd(prog);

  bpf_map* watched = bpf_object__find_map_by_name(m->object_, "watched");
  bpf_map* events = bpf_object__find_map_by_name(m->object_, "events");
  if (watched == nullptr || events == nullptr) {
    return absl::InternalError("embedded BPF object lacks its watched/events maps");
  }
  m->watched_fd_ = bpf_map__fd(watched);

  errno = 0;
  m->ring_ = ring_buffer__new(bpf_map__fd(events), &ActivationMonitor::OnRecord, m.get(), nullptr);
  if (m->ring_ == nullptr) return BpfError("creating the activation ring buffer", BpfErrno(-errno));
  int epoll_fd = ::dup(ring_buffer__epoll_fd(m->ring_));
  if (epoll_fd < 0) return BpfError("duplicating the ring buffer's epoll fd", errno);
  m->reader_ = std::make_shared<Reader>(io, epoll_fd, m.get());
  m->ArmRead();
  return m;
}

void ActivationMonitor::ArmRead() {
  std::weak_ptr<Reader> weak = reader_;
  reader_->descriptor.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                                 [weak](const boost::system::error_code& ec) {
                                   std::shared_ptr<Reader> reader = weak.lock();
                                   if (!reader || ec) return;  // destroyed or cancelled
                                   ActivationMonitor* self = reader->monitor;
                                   // Errors of consume are transient (EINTR); the
                                   // next wakeup retries.
                                   (void)self->Drain();
                                   if (weak.lock()) self->ArmRead();
                                 });
}

int ActivationMonitor::OnRecord(void* ctx, void* data, size_t size) {
  auto* self = static_cast<ActivationMonitor*>(ctx);
  absl::StatusOr<ActivationEvent> event =
      DecodeActivationEvent(absl::MakeConstSpan(static_cast<const uint8_t*>(data), size));
  if (!event.ok()) {
    ++self->bad_records_;
    return 0;
  }
  if (self->handler_) self->handler_(*event);
  return 0;
}

absl::StatusOr<int> ActivationMonitor::Drain() {
  int n = ring_buffer__consume(ring_);
  if (n < 0) return BpfError("reading the activation ring buffer", -n);
  return n;
}

absl::Status ActivationMonitor::Watch(uint32_t ifindex, uint32_t cookie) {
  if (ifindex == 0) return absl::InvalidArgumentError("Watch: ifindex must be non-zero");
  if (int ret = bpf_map_update_elem(watched_fd_, &ifindex, &cookie, BPF_ANY); ret != 0) {
    int err = BpfErrno(ret);
    if (err == E2BIG) {
      return absl::ResourceExhaustedError(
          absl::StrCat("Watch(", ifindex, "): the watched map is full (4096 pending ports)"));
    }
    return BpfError(absl::StrCat("Watch(", ifindex, ")"), err);
  }
  return absl::OkStatus();
}

absl::Status ActivationMonitor::Unwatch(uint32_t ifindex) {
  if (int ret = bpf_map_delete_elem(watched_fd_, &ifindex); ret != 0) {
    int err = BpfErrno(ret);
    if (err == ENOENT) return absl::OkStatus();
    return BpfError(absl::StrCat("Unwatch(", ifindex, ")"), err);
  }
  return absl::OkStatus();
}

int ActivationMonitor::prog_fd() const { return prog_fd_; }

}  // namespace vfguard::offload
