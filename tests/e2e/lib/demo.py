#!/usr/bin/python3
"""The tools/demo scenario (runs as root in a kernel with cls_flower/act_ct).

Sets up the emulated eswitch (topology.py), starts vfguard-agent with
tests/e2e/policies/base.json, shows the installed pipeline, then sends traffic
that passes and traffic that is blocked, each with the rule that decided.
The deciding rule is computed here from the policy file by the rules of
docs/semantics.md section 7 (first match by priority, deny before allow; no
match drops); the observed outcome comes from real packets.

  demo.py [--agent PATH] [--keep]
"""

import ipaddress
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import topology  # noqa: E402
from topology import VMS, FABRIC, VLAN_ID  # noqa: E402

BLOCK = 100
STATE = "/tmp/vfguard-demo"
POLICY = os.path.join(HERE, "..", "policies", "base.json")
PROTO = {"icmp": 1, "tcp": 6, "udp": 17}


def heading(n, text):
    print(f"\n=== {n}. {text} " + "=" * max(3, 66 - len(text)), flush=True)


def rule_text(r):
    s = f"{r['direction']} {r.get('protocol') or 'any'}"
    if "port_range_min" in r:
        lo, hi = r["port_range_min"], r["port_range_max"]
        s += f" {lo}" if lo == hi else f" {lo}-{hi}"
    if "icmp_type" in r:
        s += f" type {r['icmp_type']}"
    if r.get("remote_ip_prefix"):
        s += f" {'from' if r['direction'] == 'ingress' else 'to'} {r['remote_ip_prefix']}"
    if r.get("remote_group_id"):
        s += f" {'from' if r['direction'] == 'ingress' else 'to'} group {r['remote_group_id']}"
    if r.get("action") == "deny":
        s += " (deny)"
    return s


class Explainer:
    """First matching rule of a port's groups for one direction (semantics §7)."""

    def __init__(self, policy):
        self.p = policy
        self.groups = {g["id"]: g for g in policy["security_groups"]}
        self.ports = {p["id"]: p for p in policy["ports"]}

    def members(self, gid):
        out = []
        for port in self.ports.values():
            if gid in port.get("security_group_ids", []):
                out += port.get("fixed_ips", []) + port.get("vips", [])
        return [ipaddress.ip_network(a) for a in out]

    def decide(self, port_id, direction, proto, dport, remote):
        port = self.ports[port_id]
        if not port.get("security_group_ids"):
            return True, f"port {port_id} has no security group"
        cands = []
        for gid in port["security_group_ids"]:
            for i, r in enumerate(self.groups[gid]["rules"]):
                if r["direction"] == direction and r.get("ethertype", "IPv4") == "IPv4":
                    cands.append((r.get("priority", 16384), r.get("action") == "allow"
                                  if "action" in r else True, gid, i, r))
        cands.sort(key=lambda c: (c[0], c[1]))  # deny (False) before allow at equal prio
        addr = ipaddress.ip_address(remote)
        for _, allow, gid, i, r in cands:
            pr = r.get("protocol", "")
            if pr not in ("", "any") and PROTO.get(pr, pr) != proto:
                continue
            if "port_range_min" in r and not (r["port_range_min"] <= (dport or 0)
                                              <= r["port_range_max"]):
                continue
            if r.get("remote_ip_prefix") and addr not in ipaddress.ip_network(
                    r["remote_ip_prefix"]):
                continue
            if r.get("remote_group_id") and not any(addr in n for n in
                                                    self.members(r["remote_group_id"])):
                continue
            return allow, f"{port_id} {direction}: group {gid} rule {i} ({rule_text(r)})"
        return False, f"{port_id} {direction}: no rule of " \
            f"{'+'.join(port['security_group_ids'])} matches, default drop"

    def flow(self, src_port, dst_port, src_ip, dst_ip, proto, dport):
        """(allowed, [reasons]) for a new connection between two endpoints,
        either of which may be a port id or None (the fabric)."""
        reasons = []
        if src_port:
            ok, why = self.decide(src_port, "egress", proto, dport, dst_ip)
            reasons.append(why)
            if not ok:
                return False, reasons
        if dst_port:
            ok, why = self.decide(dst_port, "ingress", proto, dport, src_ip)
            reasons.append(why)
            if not ok:
                return False, reasons
        return True, reasons


def show(cmd, limit=None, indent="  "):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = r.stdout.rstrip().splitlines()
    for l in lines[:limit] if limit else lines:
        print(indent + l)
    if limit and len(lines) > limit:
        print(f"{indent}... ({len(lines) - limit} more lines)")
    return lines


def pipeline_filters():
    """`tc -s filter show block N` as one dict per filter: chain, pref, handle,
    protocol, keys (match lines), actions (short), packets (first action's)."""
    r = subprocess.run(["tc", "-s", "filter", "show", "block", str(BLOCK)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, cur = [], None
    for raw in r.stdout.splitlines():
        l = raw.strip()
        if raw.startswith("filter "):
            if " handle " not in raw:
                continue
            w = raw.split()
            cur = dict(chain=w[w.index("chain") + 1] if "chain" in w else "0",
                       pref=w[w.index("pref") + 1], handle=w[w.index("handle") + 1],
                       protocol=w[w.index("protocol") + 1], keys=[], actions=[], packets=None)
            out.append(cur)
        elif cur is None or not l:
            continue
        elif l.startswith("action order"):
            cur["actions"].append(l.split(":", 1)[1].strip().replace("  ", " "))
        elif l.startswith("Sent ") and cur["packets"] is None:
            cur["packets"] = int(l.split()[3])
        elif (not cur["actions"] and not l.startswith(("skip_", "not_in_hw", "in_hw",
                                                       "used_hw_stats"))):
            cur["keys"].append(l)
    return out


def one_line(f):
    keys = " ".join(f["keys"]) or "(any)"
    acts = "; ".join(a.split(" random")[0].split(" index")[0] for a in f["actions"])
    return (f"chain {f['chain']:>3} pref {f['pref']:>3} {f['protocol']:<6} {keys} -> {acts}"
            f"  [{f['packets'] or 0} pkt]")


def abridged_pipeline(chains_to_show):
    fs = pipeline_filters()
    chains = {}
    for f in fs:
        chains[f["chain"]] = chains.get(f["chain"], 0) + 1
    print(f"  {len(fs)} filters in {len(chains)} chains "
          f"(filters per chain: {', '.join(f'{c}:{n}' for c, n in sorted(chains.items(), key=lambda x: int(x[0])))})")
    for c, title in chains_to_show:
        sel = [f for f in fs if f["chain"] == c]
        print(f"  chain {c}: {title} ({len(sel)} filters)")
        for f in sel[:14]:
            print("    " + one_line(f))
        if len(sel) > 14:
            print(f"    ... {len(sel) - 14} more")
    return fs


def main(argv):
    keep = "--keep" in argv
    agent_bin = None
    if "--agent" in argv:
        agent_bin = argv[argv.index("--agent") + 1]
    from agent import Agent, default_binary
    agent_bin = agent_bin or default_binary()
    policy = json.load(open(POLICY))
    ex = Explainer(policy)

    heading(1, "Emulated eswitch: veth representors, fabric with DHCP")
    topology.up(STATE)
    print("  vm1 10.0.0.11 and vm2 10.0.0.12 on the flat network (untagged on the uplink);")
    print("  vm3 10.0.100.13 on network vlan100 (VLAN 100 on the uplink); the uplink upl0 leads")
    print("  to namespace 'fabric': dnsmasq (DHCP for both), 10.0.0.1, 10.0.0.5, 10.0.100.1, 192.0.2.1")
    for l in topology.status():
        print("  " + l)

    heading(2, f"Policy ({os.path.relpath(POLICY)})")
    for port in policy["ports"]:
        rep = port.get("representor_name") or f"VF {port.get('vf_index')}"
        print(f"  port {port['id']}: {port['network_id']}, {port['mac_address']}, "
              f"{', '.join(port['fixed_ips'])}, {rep}, groups {', '.join(port['security_group_ids'])}")
    for g in policy["security_groups"]:
        rules = "; ".join(f"[{i}] {rule_text(r)}" for i, r in enumerate(g["rules"])) or "(no rules)"
        print(f"  group {g['id']}{'' if g.get('stateful', True) else ' (stateless)'}: {rules}")

    heading(3, "Starting vfguard-agent")
    if not os.access(agent_bin, os.X_OK):
        print(f"  {agent_bin} is not built; build it with: ninja -C build daemon/vfguard-agent")
        topology.down(STATE)
        return 1
    policy_path = os.path.join(STATE, "policy.json")
    with open(policy_path, "w") as f:
        json.dump(policy, f, indent=2)
    agent = Agent(agent_bin, os.path.join(STATE, "agent-state"), policy_path, BLOCK,
                  os.path.join(STATE, "agent.log"))
    print("  " + " \\\n      ".join(agent.argv()))
    t0 = time.monotonic()
    agent.start()
    rec = agent.wait_reconciled(0, timeout=90)
    if rec is None:
        print("  the agent did not reconcile within 90 s; its last log lines:")
        for l in agent.tail(20):
            print("    " + l)
        agent.stop()
        topology.down(STATE)
        return 1
    print(f"  reconciled in {time.monotonic() - t0:.2f} s: writes={rec.get('writes')} "
          f"errors={rec.get('errors')}")
    agent.settle(quiet=1.0, timeout=5)

    heading(4, f"Installed pipeline: tc -s filter show block {BLOCK} (abridged)")
    for dev in [topology.UPLINK] + [v["rep"] for v in VMS.values()]:
        r = subprocess.run(["tc", "qdisc", "show", "dev", dev], stdout=subprocess.PIPE, text=True)
        q = [l for l in r.stdout.splitlines() if "clsact" in l]
        print(f"  {dev}: {q[0].strip() if q else 'no clsact!'}")
    fs = pipeline_filters()
    first = {}
    for f in fs:  # the chain each representor's dispatch filter jumps to
        for k in f["keys"]:
            if f["chain"] == "0" and k.startswith("indev "):
                for a in f["actions"]:
                    if "goto chain" in a:
                        first[k.split()[1]] = a.split("goto chain")[1].split()[0]
    show_chains = [("0", "dispatch by ingress device")]
    if VMS["vm1"]["rep"] in first:
        show_chains.append((first[VMS["vm1"]["rep"]], "from vm1: port security first"))
    abridged_pipeline(show_chains)

    heading(5, "Traffic")
    import nsio
    servers = [nsio.EchoServer("vm1", p) for p in (80, 8005, 8011)] + \
        [nsio.EchoServer("vm2", 5432)] + [nsio.EchoServer("vm3", 22)]
    results = []

    def report(what, passed, expect, reasons):
        verdict = "PASSES " if passed else "BLOCKED"
        agree = "" if passed == expect else "   <-- differs from the policy!"
        print(f"  {verdict}  {what}{agree}")
        for r in reasons:
            print(f"           decided by: {r}")
        results.append(passed == expect)

    ip, sid, _ = nsio.dhcp("vm1", tries=3, wait=1)
    report(f"DHCP for vm1 through the pipeline: lease {ip} from {sid}", ip == VMS["vm1"]["ip"],
           True, ["port security: DHCP client broadcast allowed, server reply is base traffic"])
    ip, sid, _ = nsio.dhcp("vm3", tries=3, wait=1)
    report(f"DHCP for vm3 over VLAN 100: lease {ip} from {sid}", ip == VMS["vm3"]["ip"], True,
           ["port security, then the VLAN push/pop of network vlan100"])

    agentctl = os.path.join(os.path.dirname(os.path.dirname(agent_bin)), "tools", "agentctl",
                            "agentctl")

    def trace(text, src_port, vlan=None):
        """The agent's own trace of the packet (agentctl trace), abridged."""
        if not os.access(agentctl, os.X_OK):
            return
        cmd = [agentctl, "--socket", agent.api_socket, "trace", text]
        cmd += ["--port", src_port] if src_port else ["--from-uplink"]
        if vlan:
            cmd += ["--vlan", str(vlan)]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=20)
        lines = [l.rstrip() for l in r.stdout.splitlines() if l.strip()]
        if r.returncode != 0:
            print(f"           agentctl trace failed ({r.returncode}): "
                  + (lines[-1] if lines else ""))
            return
        # Abridged: the evaluator's verdict with its deciding step, and the
        # verdict of the installed rules (agentctl trace prints every step).
        ref = [i for i, l in enumerate(lines) if l.startswith("Reference:")]
        inst = [i for i, l in enumerate(lines) if l.startswith("Installed:")]
        if not ref or not inst:
            for l in lines[:4]:
                print(f"           agentctl trace: {l}")
            return
        steps = lines[ref[0] + 1:inst[0]]
        print(f"           agentctl trace: {lines[ref[0]]}"
              + (f" <- {steps[-1].strip()}" if steps else ""))
        print(f"           agentctl trace: {lines[inst[0]]} "
              f"({len(lines) - inst[0] - 1} tc filters on the path)")

    def ping_case(src_ns, dst, dst_port, src_port=None, src=None):
        src_ip = src or (VMS[src_ns]["ip"] if src_ns in VMS else FABRIC["ip"])
        expect, reasons = ex.flow(src_port, dst_port, src_ip, dst, 1, None)
        got = nsio.ping(src_ns, dst, src=src, count=2 if expect else 1, wait=2 if expect else 1)
        report(f"ping {src_ns} ({src_ip}) -> {dst}", got, expect, reasons)
        trace(f"icmp {src_ip} -> {dst}", src_port)

    def tcp_case(src_ns, dst, port, dst_port, src_port=None, src=None):
        src_ip = src or (VMS[src_ns]["ip"] if src_ns in VMS else FABRIC["ip"])
        expect, reasons = ex.flow(src_port, dst_port, src_ip, dst, 6, port)
        got = nsio.tcp_probe(src_ns, dst, port, timeout=2.0 if expect else 1.5, src=src)
        report(f"tcp {src_ns} ({src_ip}) -> {dst}:{port} [{got}]", got == "ok", expect, reasons)
        # A frame from the uplink to a VLAN network's port arrives tagged.
        tagged = (src_port is None and dst_port and dst_port in VMS
                  and VMS[dst_port]["network"] != "flat")
        trace(f"tcp {src_ip}:40000 -> {dst}:{port}", src_port, VLAN_ID if tagged else None)

    v1, v2, v3 = VMS["vm1"]["ip"], VMS["vm2"]["ip"], VMS["vm3"]["ip"]
    ping_case("fabric", v1, "vm1")
    ping_case("fabric", v1, "vm1", src=FABRIC["other_ip"])
    tcp_case("fabric", v1, 80, "vm1")
    tcp_case("fabric", v1, 8005, "vm1")
    tcp_case("fabric", v1, 8011, "vm1")
    tcp_case("fabric", v1, 8005, "vm1", src=FABRIC["external_ip"])
    tcp_case("vm1", v2, 5432, "vm2", src_port="vm1")
    tcp_case("vm2", v1, 8005, "vm1", src_port="vm2")
    ping_case("vm3", FABRIC["vlan_ip"], None, src_port="vm3")
    tcp_case("fabric", v3, 22, "vm3", src=FABRIC["vlan_ip"])

    # A spoofed source address, crafted with scapy.
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    cap = nsio.L2Port("fabric", FABRIC["ifname"])
    src = nsio.L2Port("vm1", "eth0")
    cap.drain()
    for sip, tag in ((v1, b"demo-real"), ("10.0.0.99", b"demo-spoof")):
        src.send(Ether(src=VMS["vm1"]["mac"], dst=FABRIC["mac"]) / IP(src=sip, dst=FABRIC["ip"])
                 / UDP(sport=40000, dport=9) / Raw(tag))
    seen = [Ether(b) for b in cap.frames(1.0)]
    loads = {bytes(p[Raw].load) for p in seen if Raw in p}
    report("udp from vm1 with its own source 10.0.0.11, seen at the uplink",
           b"demo-real" in loads, True, ["vm1 egress: group web rule 3 (egress any)"])
    report("udp from vm1 with a spoofed source 10.0.0.99, seen at the uplink",
           b"demo-spoof" in loads, False,
           ["port security: 10.0.0.99 is not an address of vm1 (fixed IPs, VIPs, pairs)"])
    cap.close()
    src.close()
    for s in servers:
        s.close()

    heading(6, "Filters the traffic hit (packet counters, tc -s)")
    hit = sorted((f for f in pipeline_filters() if f["packets"]), key=lambda f: -f["packets"])
    for f in hit[:16]:
        print("  " + one_line(f))
    if len(hit) > 16:
        print(f"  ... {len(hit) - 16} more filters with packets")

    heading(7, "Done")
    agree = sum(results)
    print(f"  {agree} of {len(results)} outcomes as the policy says.")
    if keep:
        print(f"  --keep: the topology and the agent (pid {agent.proc.pid}) are left running;"
              f" clean up with: tests/e2e/lib/topology.py down --state {STATE}")
        return 0 if agree == len(results) else 1
    code = agent.stop()
    from agent import log_dir
    kept = os.path.join(log_dir(), "demo.agent.log")
    try:
        import shutil
        shutil.copy(agent.log_path, kept)
    except OSError:
        kept = "(not kept)"
    print(f"  agent stopped (exit {code}); its log: {kept}")
    topology.down(STATE)
    print("  topology removed")
    return 0 if agree == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
