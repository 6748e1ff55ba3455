#include "tests/unit/reconciler_cost_support.h"

#include "absl/strings/str_cat.h"
#include "agent/filter_hash.h"
#include "agent/write_order.h"

namespace vfguard::agent {
namespace {

int Missing(const std::set<Key>& want, const std::set<Key>& have) {
  int n = 0;
  for (const Key& k : want) n += have.contains(k) ? 0 : 1;
  return n;
}

}  // namespace

void ObserveMoments(FakeTcBackend& fake, std::vector<Moment>& moments, std::set<Key>& written) {
  fake.SetObserver([&fake, &moments, &written](const TcOp& op, const absl::Status& s) {
    if (s.ok() && (op.kind == TcOp::Kind::kCreateFilter || op.kind == TcOp::Kind::kReplaceFilter)) {
      written.insert(FakeTcBackend::KeyOf(op.filter));
    }
    Moment m{op, {}, {}, {}};
    for (const auto& [key, f] : fake.filters()) {
      m.keys.insert(key);
      std::optional<uint32_t> target = JumpTarget(f);
      if (!target) continue;
      m.jumps.insert({f.owner, *target});
      if (written.contains(key)) m.written_jumps.insert({f.owner, *target});
    }
    moments.push_back(std::move(m));
  });
}

Completeness Required(const std::map<Key, netlink::FlowerFilter>& before,
                      const std::map<Key, netlink::FlowerFilter>& after) {
  Completeness c;
  for (const auto& [key, f] : after) c.final_keys[{f.owner, f.chain}].insert(key);
  for (const auto& [key, f] : before) {
    const Chain chain{f.owner, f.chain};
    if (!c.final_keys.contains(chain)) c.initial_keys[chain].insert(key);
  }
  return c;
}

std::vector<std::string> JumpViolations(const std::vector<Moment>& moments,
                                        const Completeness& required) {
  std::vector<std::string> out;
  for (size_t i = 0; i < moments.size(); ++i) {
    const Moment& m = moments[i];
    auto report = [&](const Chain& c, int missing, const char* what) {
      const netlink::FlowerFilter& f = m.op.filter;
      out.push_back(absl::StrCat("after op ", i, " (kind ", static_cast<int>(m.op.kind), " ",
                                 f.chain, "/", f.prio, "/", f.handle, "): a goto names chain ",
                                 c.second, ", which ", what, " ", missing, " filters"));
    };
    for (const Chain& c : m.written_jumps) {
      auto r = required.final_keys.find(c);
      if (r == required.final_keys.end()) continue;
      if (int n = Missing(r->second, m.keys); n > 0) report(c, n, "still lacks");
    }
    for (const Chain& c : m.jumps) {
      auto r = required.initial_keys.find(c);
      if (r == required.initial_keys.end()) continue;
      if (int n = Missing(r->second, m.keys); n > 0) report(c, n, "was emptied of");
    }
  }
  return out;
}

// What the kernel holds, without counters.
std::map<Key, netlink::FlowerFilter> Content(const FakeTcBackend& fake) {
  std::map<Key, netlink::FlowerFilter> out;
  for (const auto& [key, f] : fake.filters()) out[key] = netlink::WithoutStatus(f);
  return out;
}

// What a cold install of `s` over `view` leaves in a kernel with `fake`'s devices.
std::map<Key, netlink::FlowerFilter> ColdInstall(const policy::Snapshot& s,
                                                 const policy::SlotAssignment& slots,
                                                 const EswitchView& view, common::Logger& log) {
  FakeTcBackend fake;
  fake.AddDevice(view.uplink->ifindex, view.uplink->name);
  for (const auto& [port, dev] : view.port_representors) fake.AddDevice(dev.ifindex, dev.name);
  OfferBook offers;
  Reconciler r(fake, log, kBlock);
  EXPECT_TRUE(r.Run(s, slots, view, offers).status.ok());
  return Content(fake);
}

policy::Snapshot FlatNetwork(int ports, FakeTcBackend& fake, EswitchView& view) {
  fake.AddDevice(1, "uplink0");
  view.uplink = offload::Netdev{1, "uplink0"};
  policy::Snapshot s = Load(kPolicy);
  const policy::Port model = s.ports.at("a");
  s.ports.clear();
  for (int i = 0; i < ports; ++i) {
    policy::Port p = model;
    p.id = absl::StrCat("p", i);
    p.mac.bytes[4] = static_cast<uint8_t>(i / 256);
    p.mac.bytes[5] = static_cast<uint8_t>(i % 256);
    p.fixed_ips = {*policy::IpAddr::Parse(absl::StrCat("10.0.", i / 256, ".", i % 256 + 1))};
    p.representor.ref = static_cast<uint32_t>(100 + i);
    s.ports[p.id] = p;
    fake.AddDevice(100 + i, absl::StrCat("rep", 100 + i));
    view.port_representors[p.id] = {100u + i, absl::StrCat("rep", 100 + i)};
  }
  return s;
}

}  // namespace vfguard::agent
