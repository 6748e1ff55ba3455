// An in-memory vfguard agent behind the plugin's Transport: ports by id
// with generations, a port status whose `installed` turns true after a set
// number of status polls, /readyz, and a switch that makes it unreachable.
// Test-only.
#ifndef VFGUARD_CNI_TESTS_FAKE_AGENT_H_
#define VFGUARD_CNI_TESTS_FAKE_AGENT_H_

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cni/agent_client.h"

namespace vfguard::cni {

class FakeAgent : public Transport {
 public:
  absl::StatusOr<HttpResponse> Do(std::string_view method, std::string_view target,
                                  std::string_view body) override;
  std::string Where() const override { return "/fake/agent.sock"; }
  // As if the port had just been written again (not installed yet); false
  // when there is no such port.
  bool PutPortAgain(const std::string& id) {
    polls_[id] = 0;
    return ports.contains(id);
  }

  bool down = false;                              // every request fails to connect
  bool ready = true;                              // /readyz
  int polls_until_installed = 0;                  // status polls answered installed=false first
  std::set<std::string> groups = {"web", "ssh"};  // PUT refuses other group ids
  std::map<std::string, Json> ports;              // stored bodies, snake_case
  std::vector<std::string> requests;              // "METHOD TARGET"

 private:
  std::map<std::string, int> polls_;
};

}  // namespace vfguard::cni

#endif  // VFGUARD_CNI_TESTS_FAKE_AGENT_H_
