// `promtool check metrics` on an exposition with every metric the agent
// sets (docs/api.md). Exits 77 (skipped) when promtool is not installed.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/metrics.h"

using namespace vfguard::common::metrics;

int main() {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    std::printf("SKIP: promtool not found (Debian package prometheus; tools/check installs it)\n");
    return 77;
  }
  Registry r;
  (*r.AddGauge("vfguard_ports", "Ports by state.", {"state"}))->Set({"active"}, 2);
  (*r.AddGauge("vfguard_rules", "Installed rules by placement.", {"placement"}))->Set({"hw"}, 10);
  (*r.AddCounter("vfguard_hw_rejections_total", "Rules the NIC refused, by reason.", {"reason"}))
      ->Inc({"EOPNOTSUPP: mlx5_core: \"ct\" unsupported\n"});
  (*r.AddCounter("vfguard_reconcile_total", "Reconcile runs by result.", {"result"}))->Inc({"ok"});
  (*r.AddHistogram("vfguard_reconcile_duration_seconds", "Reconcile run time.", {}))
      ->Observe({}, 0.02);
  (*r.AddCounter("vfguard_netlink_errors_total", "Netlink errors."))->Inc();
  (*r.AddCounter("vfguard_resyncs_total", "Full resyncs."))->Inc();
  (*r.AddGauge("vfguard_port_dropped_packets", "Packets of the port's default-drop rules.",
               {"port"}))
      ->Set({"web-1"}, 4);
  (*r.AddGauge("vfguard_conntrack_entries", "Conntrack entries per zone.", {"zone", "port"}))
      ->Set({"3", "web-1"}, 7);
  (*r.AddCounter("vfguard_api_requests_total", "API requests.", {"route", "code"}))
      ->Inc({"/v1/ports/{id}", "200"});
  (*r.AddHistogram("vfguard_api_request_duration_seconds", "API request time.", {"route"}))
      ->Observe({"/v1/ports/{id}"}, 0.001);
  (*r.AddGauge("vfguard_build_info", "Build information.", {"version"}))->Set({"0.1.0"}, 1);
  std::string text = r.Render();
  FILE* p = popen("promtool check metrics", "w");
  if (p == nullptr) {
    std::printf("FAIL: cannot run promtool\n");
    return 1;
  }
  std::fwrite(text.data(), 1, text.size(), p);
  int status = pclose(p);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::printf("FAIL: promtool check metrics refused:\n%s\n", text.c_str());
    return 1;
  }
  std::printf("PASS: promtool check metrics accepted %zu bytes\n", text.size());
  return 0;
}
