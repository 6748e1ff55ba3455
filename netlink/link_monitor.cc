#include "netlink/link_monitor.h"

#include <net/if.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <sys/socket.h>

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"

namespace vfguard::netlink {
namespace {

Link FromObject(nl_object* obj) {
  auto* l = reinterpret_cast<rtnl_link*>(obj);
  Link link;
  link.ifindex = rtnl_link_get_ifindex(l);
  if (const char* name = rtnl_link_get_name(l)) link.name = name;
  link.up = (rtnl_link_get_flags(l) & IFF_UP) != 0;
  if (const char* ppn = rtnl_link_get_phys_port_name(l)) link.phys_port_name = ppn;
  if (nl_data* id = rtnl_link_get_phys_switch_id(l)) {
    const auto* bytes = static_cast<const uint8_t*>(nl_data_get(id));
    for (size_t i = 0; i < nl_data_get_size(id); ++i) {
      absl::StrAppend(&link.phys_switch_id, absl::Hex(bytes[i], absl::kZeroPad2));
    }
  }
  return link;
}

}  // namespace

absl::StatusOr<Link> DecodeLink(absl::Span<const uint8_t> message) {
  if (message.size() < NLMSG_HDRLEN) return absl::DataLossError("link: message too short");
  const auto* h = reinterpret_cast<const nlmsghdr*>(message.data());
  if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > message.size()) {
    return absl::DataLossError("link: bad nlmsg_len");
  }
  if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) {
    return absl::InvalidArgumentError(
        absl::StrCat("link: message type ", h->nlmsg_type, " is not RTM_NEWLINK/RTM_DELLINK"));
  }
  // nlmsg_convert copies the header's nlmsg_len bytes into a libnl message.
  std::vector<uint8_t> copy(message.begin(), message.begin() + h->nlmsg_len);
  nl_msg* msg = nlmsg_convert(reinterpret_cast<nlmsghdr*>(copy.data()));
  if (msg == nullptr) return absl::ResourceExhaustedError("link: nlmsg_convert failed");
  nlmsg_set_proto(msg, NETLINK_ROUTE);
  std::optional<Link> link;
  int err = nl_msg_parse(
      msg,
      [](nl_object* obj, void* out) { *static_cast<std::optional<Link>*>(out) = FromObject(obj); },
      &link);
  nlmsg_free(msg);
  if (err < 0) return absl::DataLossError(absl::StrCat("link: libnl: ", nl_geterror(err)));
  if (!link) return absl::DataLossError("link: libnl produced no link object");
  return *link;
}

const char* ToString(LinkChange c) {
  switch (c) {
    case LinkChange::kAdded:
      return "added";
    case LinkChange::kRemoved:
      return "removed";
    case LinkChange::kUp:
      return "up";
    case LinkChange::kDown:
      return "down";
    case LinkChange::kRenamed:
      return "renamed";
    case LinkChange::kUpdated:
      return "updated";
  }
  return "?";
}

absl::StatusOr<std::unique_ptr<LinkMonitor>> LinkMonitor::Start(boost::asio::io_context& io,
                                                                Handler handler,
                                                                int receive_buffer) {
  std::unique_ptr<LinkMonitor> m(new LinkMonitor(io, std::move(handler), receive_buffer));
  absl::Status st = m->Open();
  if (!st.ok()) return st;
  return m;
}

LinkMonitor::LinkMonitor(boost::asio::io_context& io, Handler handler, int receive_buffer)
    : io_(io), handler_(std::move(handler)), receive_buffer_(receive_buffer) {}

LinkMonitor::~LinkMonitor() { Close(); }

absl::Status LinkMonitor::Open() {
  opening_ = true;
  int err = nl_cache_mngr_alloc(nullptr, NETLINK_ROUTE, NL_AUTO_PROVIDE, &mngr_);
  if (err < 0) return absl::InternalError(absl::StrCat("nl_cache_mngr_alloc: ", nl_geterror(err)));
  err = nl_cache_mngr_add(mngr_, "route/link", &LinkMonitor::OnCacheChange, this, &cache_);
  if (err < 0) {
    opening_ = false;
    Close();
    return absl::InternalError(absl::StrCat("nl_cache_mngr_add(route/link): ", nl_geterror(err)));
  }
  // The initial dump fills the cache without change callbacks: record it.
  nl_cache_foreach(
      cache_,
      [](nl_object* obj, void* self) {
        static_cast<LinkMonitor*>(self)->Apply(FromObject(obj), false);
      },
      this);
  opening_ = false;
  int fd = nl_cache_mngr_get_fd(mngr_);
  if (receive_buffer_ > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer_, sizeof(receive_buffer_));
  }
  // Watch a duplicate so asio never closes libnl's socket.
  stream_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, dup(fd));
  Arm();
  return absl::OkStatus();
}

void LinkMonitor::Close() {
  if (stream_) {
    boost::system::error_code ignored;
    stream_->cancel(ignored);
    stream_->close(ignored);
    stream_.reset();
  }
  if (mngr_ != nullptr) nl_cache_mngr_free(mngr_);  // frees the caches it owns
  mngr_ = nullptr;
  cache_ = nullptr;
}

void LinkMonitor::Arm() {
  stream_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this](const boost::system::error_code& ec) {
                        if (ec) return;
                        OnReadable();
                      });
}

void LinkMonitor::OnReadable() {
  int err = nl_cache_mngr_data_ready(mngr_);
  if (err < 0) {
    // libnl maps the kernel's ENOBUFS to NLE_NOMEM: events were lost. Any
    // other receive error leaves the socket just as unreliable, so both
    // re-dump. On success Resync has armed a fresh watch; on failure the
    // monitor stays closed and says so.
    absl::Status st = Resync();
    if (on_resync_) on_resync_(st);
    return;
  }
  Arm();
}

absl::Status LinkMonitor::Resync() {
  ++resyncs_;
  std::map<int, Link> before = std::move(links_);
  links_.clear();
  Close();
  absl::Status st = Open();  // the initial dump refills links_ silently
  if (!st.ok()) return st;
  for (const auto& [ifindex, link] : before) {
    if (!links_.count(ifindex)) handler_(LinkChange::kRemoved, link);
  }
  std::map<int, Link> now = links_;
  links_ = std::move(before);
  for (const auto& [ifindex, link] : now) Apply(link, false);
  for (auto it = links_.begin(); it != links_.end();) {
    it = now.count(it->first) ? std::next(it) : links_.erase(it);
  }
  return absl::OkStatus();
}

void LinkMonitor::Apply(const Link& link, bool removed) {
  auto it = links_.find(link.ifindex);
  if (removed) {
    if (it == links_.end()) return;
    Link old = it->second;
    links_.erase(it);
    if (!opening_) handler_(LinkChange::kRemoved, old);
    return;
  }
  if (it == links_.end()) {
    links_[link.ifindex] = link;
    if (!opening_) handler_(LinkChange::kAdded, link);
    return;
  }
  Link old = it->second;
  it->second = link;
  if (opening_ || old == link) return;
  if (old.name != link.name) handler_(LinkChange::kRenamed, link);
  if (!old.up && link.up) handler_(LinkChange::kUp, link);
  if (old.up && !link.up) handler_(LinkChange::kDown, link);
  if (old.phys_port_name != link.phys_port_name || old.phys_switch_id != link.phys_switch_id) {
    handler_(LinkChange::kUpdated, link);
  }
}

void LinkMonitor::OnCacheChange(nl_cache* /*cache*/, nl_object* obj, int action, void* self) {
  auto* m = static_cast<LinkMonitor*>(self);
  m->Apply(FromObject(obj), action == NL_ACT_DEL);
}

}  // namespace vfguard::netlink
