// Netdev monitor on libnl-route's link cache, driven by the asio reactor:
// add/delete/up/down/rename, with phys_port_name and phys_switch_id (how
// representors identify themselves). When the kernel drops events (ENOBUFS)
// the monitor re-dumps the links and reports the difference as events, so a
// consumer never misses a representor that came or went.
#ifndef VFGUARD_NETLINK_LINK_MONITOR_H_
#define VFGUARD_NETLINK_LINK_MONITOR_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

struct nl_cache;
struct nl_cache_mngr;
struct nl_object;

namespace vfguard::netlink {

struct Link {
  int ifindex = 0;
  std::string name;
  bool up = false;             // IFF_UP
  std::string phys_port_name;  // "p0", "pf0vf3" on mlx5 representors
  std::string phys_switch_id;  // hex; equal for all ports of one eswitch
  bool operator==(const Link&) const = default;
};

enum class LinkChange { kAdded, kRemoved, kUp, kDown, kRenamed, kUpdated };
const char* ToString(LinkChange c);

// One RTM_NEWLINK/RTM_DELLINK message as libnl-route parses it for the
// monitor (so tests can feed captured kernel messages through the same path).
absl::StatusOr<Link> DecodeLink(absl::Span<const uint8_t> message);

// What a consumer of link state needs: the links as of now, and word of a
// resync. LinkMonitor is the kernel's; tests inject their own.
class LinkSource {
 public:
  // Runs after every resync: OK once the re-dump's differences have been
  // reported through the change handler; an error means the source could
  // not reopen and has stopped (no further events).
  using ResyncHandler = std::function<void(const absl::Status&)>;
  virtual ~LinkSource() = default;
  virtual const std::map<int, Link>& links() const = 0;
  virtual void SetResyncHandler(ResyncHandler handler) = 0;
};

class LinkMonitor final : public LinkSource {
 public:
  using Handler = std::function<void(LinkChange, const Link&)>;

  // Dumps the current links (no events for them) and starts watching.
  // `receive_buffer` > 0 sets SO_RCVBUF of the event socket (tests use a
  // tiny one to provoke ENOBUFS).
  static absl::StatusOr<std::unique_ptr<LinkMonitor>> Start(boost::asio::io_context& io,
                                                            Handler handler,
                                                            int receive_buffer = 0);
  ~LinkMonitor() override;
  LinkMonitor(const LinkMonitor&) = delete;
  LinkMonitor& operator=(const LinkMonitor&) = delete;

  void SetResyncHandler(ResyncHandler handler) override { on_resync_ = std::move(handler); }

  const std::map<int, Link>& links() const override { return links_; }
  uint64_t resyncs() const { return resyncs_; }

 private:
  LinkMonitor(boost::asio::io_context& io, Handler handler, int receive_buffer);
  absl::Status Open();  // (re)creates the cache manager and the fd watch
  void Close();
  void Arm();
  void OnReadable();
  absl::Status Resync();  // re-dump and report differences
  void Apply(const Link& link, bool removed);
  static void OnCacheChange(nl_cache* cache, nl_object* obj, int action, void* self);

  boost::asio::io_context& io_;
  Handler handler_;
  ResyncHandler on_resync_;
  int receive_buffer_;
  nl_cache_mngr* mngr_ = nullptr;
  nl_cache* cache_ = nullptr;
  std::unique_ptr<boost::asio::posix::stream_descriptor> stream_;
  std::map<int, Link> links_;
  uint64_t resyncs_ = 0;
  bool opening_ = false;  // suppress events while the initial dump fills the cache
};

}  // namespace vfguard::netlink

#endif  // VFGUARD_NETLINK_LINK_MONITOR_H_
