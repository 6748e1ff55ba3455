#include "tools/agentctl/cli.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <string>

#include "tools/agentctl/commands.h"
#include "tools/agentctl/completion.h"

#ifndef VFGUARD_VERSION
#define VFGUARD_VERSION "unknown"
#endif

namespace vfguard::agentctl {

int Run(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"agentctl: inspect and drive the vfguard dataplane agent over its unix socket",
               "agentctl"};
  // Global flags may follow the command (`agentctl ports -o json`).
  app.fallthrough();
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("agentctl ") + VFGUARD_VERSION);

  std::string socket = "/run/vfguard/agent.sock";
  std::string output = "table";
  app.add_option("--socket", socket, "the agent's API socket")
      ->envname("VFGUARD_SOCKET")
      ->capture_default_str();
  app.add_option("-o,--output", output, "output format")
      ->check(CLI::IsMember({"table", "json", "yaml"}))
      ->capture_default_str();

  auto* status = app.add_subcommand("status", "the agent's readiness and last reconcile");
  auto* ports = app.add_subcommand("ports", "list ports with state, addresses and groups");
  auto* port = app.add_subcommand("port", "one port");
  port->require_subcommand(1);
  std::string port_id;
  auto* port_show = port->add_subcommand("show", "a port's spec, status and installed rules");
  port_show->add_option("ID", port_id, "port id")->required();
  auto* groups = app.add_subcommand("groups", "list security groups");
  auto* networks = app.add_subcommand("networks", "list networks");
  auto* remote_ports =
      app.add_subcommand("remote-ports", "list remote ports (group members on other hosts)");
  auto* address_groups = app.add_subcommand("address-groups", "list address groups");
  std::string show_id;
  auto* remote_port = app.add_subcommand("remote-port", "one remote port");
  remote_port->require_subcommand(1);
  auto* remote_port_show = remote_port->add_subcommand("show", "a remote port's spec");
  remote_port_show->add_option("ID", show_id, "remote port id")->required();
  auto* address_group = app.add_subcommand("address-group", "one address group");
  address_group->require_subcommand(1);
  auto* address_group_show = address_group->add_subcommand("show", "an address group's CIDRs");
  address_group_show->add_option("ID", show_id, "address group id")->required();

  auto* rules = app.add_subcommand(
      "rules", "installed tc rules with placement and counters (shared ones without --port)");
  rules->add_option("--port", port_id, "the port whose rules to show");

  auto* trace = app.add_subcommand(
      "trace", "trace a packet through the reference evaluator and the installed rules");
  std::string packet;
  bool from_uplink = false;
  bool established = false;
  auto* trace_port = trace->add_option("--port", port_id, "the port the packet comes from");
  auto* trace_uplink =
      trace->add_flag("--from-uplink", from_uplink, "the packet arrives from the uplink");
  trace_port->excludes(trace_uplink);
  trace->add_flag("--established", established, "as a packet of an established connection");
  uint32_t trace_vlan = 0;
  trace->add_option("--vlan", trace_vlan, "802.1Q tag of a frame from the uplink (VLAN networks)")
      ->check(CLI::Range(1, 4094))
      ->needs(trace_uplink);
  trace->add_option("PACKET", packet, "e.g. 'tcp 10.0.0.5:1234 -> 10.0.0.7:80'")->required();

  auto* conntrack = app.add_subcommand("conntrack", "conntrack entries of a port's zone");
  conntrack->add_option("--port", port_id, "port id")->required();

  auto* events = app.add_subcommand("events", "what the agent did and why");
  bool follow = false;
  double idle_seconds = 1.0;
  events->add_flag("-f,--follow", follow, "keep streaming until interrupted");
  events
      ->add_option("--idle", idle_seconds,
                   "without --follow: stop after this many seconds without an event")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  auto* apply = app.add_subcommand("apply",
                                   "apply a policy file (networks, address groups, groups, ports: "
                                   "each a PUT; remote ports: one batch)");
  std::string file;
  apply->add_option("-f,--file", file, "policy JSON (api/vfguard.proto Policy); - for stdin")
      ->required();
  bool prune_remote_ports = false;
  apply->add_flag("--prune-remote-ports", prune_remote_ports,
                  "also delete the agent's remote ports the file does not list");

  auto* del = app.add_subcommand(
      "delete", "delete a port, security group, network, remote port or address group");
  std::string kind;
  std::string id;
  del->add_option("KIND", kind, "port, group, network, remote-port or address-group")
      ->required()
      ->check(CLI::IsMember({"port", "group", "network", "remote-port", "address-group"}));
  del->add_option("ID", id, "the object's id")->required();

  auto* migrate = app.add_subcommand("migrate", "live migration of a port between hosts");
  migrate->require_subcommand(1);
  auto* m_export = migrate->add_subcommand(
      "export", "the port and its conntrack entries as JSON (on the source host)");
  m_export->add_option("--port", port_id, "port id")->required();
  std::string export_file;
  m_export->add_option("-o,--output", export_file, "write to this file instead of stdout");
  auto* m_import = migrate->add_subcommand(
      "import", "create exported conntrack entries in the port's zone (on the destination)");
  m_import->add_option("--port", port_id, "port id")->required();
  m_import->add_option("-f,--file", file, "a `migrate export` document; - for stdin")->required();
  auto* m_activate = migrate->add_subcommand(
      "activate", "make a pending-activation port active now (instead of on its first RARP)");
  m_activate->add_option("--port", port_id, "port id")->required();

  auto* completion = app.add_subcommand("completion", "print a shell completion script");
  std::string shell;
  completion->add_option("SHELL", shell, "bash")->required()->check(CLI::IsMember({"bash"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err);
  }

  UnixHttpClient client(socket);
  Context ctx{&client,
              output == "json"   ? Format::kJson
              : output == "yaml" ? Format::kYaml
                                 : Format::kTable,
              &out, &err};
  if (status->parsed()) return CmdStatus(ctx);
  if (ports->parsed()) return CmdPorts(ctx);
  if (port_show->parsed()) return CmdPortShow(ctx, port_id);
  if (groups->parsed()) return CmdGroups(ctx);
  if (networks->parsed()) return CmdNetworks(ctx);
  if (remote_ports->parsed()) return CmdRemotePorts(ctx);
  if (address_groups->parsed()) return CmdAddressGroups(ctx);
  if (remote_port_show->parsed()) return CmdRemoteShow(ctx, "remote-port", show_id);
  if (address_group_show->parsed()) return CmdRemoteShow(ctx, "address-group", show_id);
  if (rules->parsed()) return CmdRules(ctx, port_id);
  if (trace->parsed()) {
    if (!from_uplink && port_id.empty()) {
      err << "agentctl: trace: give --port ID or --from-uplink\n";
      return 2;
    }
    return CmdTrace(ctx, from_uplink ? "" : port_id, packet, established, trace_vlan);
  }
  if (conntrack->parsed()) return CmdConntrack(ctx, port_id);
  if (events->parsed()) return CmdEvents(ctx, follow, absl::Seconds(idle_seconds));
  if (apply->parsed()) return CmdApply(ctx, file, prune_remote_ports);
  if (del->parsed()) return CmdDelete(ctx, kind, id);
  if (m_export->parsed()) return CmdMigrateExport(ctx, port_id, export_file);
  if (m_import->parsed()) return CmdMigrateImport(ctx, port_id, file);
  if (m_activate->parsed()) return CmdMigrateActivate(ctx, port_id);
  if (completion->parsed()) {
    out << BashCompletion(app);
    return 0;
  }
  err << "agentctl: no command\n";
  return 2;
}

}  // namespace vfguard::agentctl
