#!/usr/bin/python3
"""End-to-end tests: real packets through vfguard-agent's pipeline.

One process sets the emulated eswitch up once (tests/e2e/lib/topology.py),
starts the agent with tests/e2e/policies/base.json and runs named cases,
printing each check it makes and a verdict per case. Exit 0 if every case
passed, 1 if any failed, 77 (skipped) with the reason when root, a tool, a
kernel feature or the agent binary is missing.

  e2e_test.py [--list] [--case NAME]... [--self-test] [--keep]

--self-test proves the harness without the agent: a VLAN-aware linux bridge
forwards instead of the pipeline, so leases, pings, TCP and VLAN tagging must
work, and every spoofed, rogue or RA frame must get through (the captures see
what an unfiltered eswitch lets pass; with the agent the same captures must
see nothing). --keep leaves the topology and agent running for inspection.

What each rule in base.json allows, and so what each case expects:
  vm1 (flat, groups web+clients): in tcp 80 from any; in tcp 8000-8010 from
      10.0.0.0/24; in icmp from 10.0.0.0/30; out everything.
  vm2 (flat, group db): in tcp 5432 and icmp from members of group clients
      (vm1); out tcp 80 and icmp only.
  vm3 (vlan 100, group vlan-sg): in icmp, in tcp 22; out everything.
  All groups are stateful; port security is on for every port.
"""

import copy
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

import topology  # noqa: E402
from topology import VMS, FABRIC  # noqa: E402

SKIP = 77
BLOCK = 100
STATE = "/tmp/vfguard-e2e"


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP)


def probe_kernel():
    """Skips unless clsact blocks, cls_flower, act_ct, act_mirred work here."""
    ns = "vfg-e2e-probe"
    subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    cmds = [
        ("network namespaces", ["ip", "netns", "add", ns]),
        ("veth", ["ip", "-n", ns, "link", "add", "p0", "type", "veth", "peer", "name", "p1"]),
        ("clsact with ingress_block", ["tc", "-n", ns, "qdisc", "add", "dev", "p0",
                                       "ingress_block", "9", "clsact"]),
        ("cls_flower/act_gact", ["tc", "-n", ns, "filter", "add", "block", "9", "protocol",
                                 "all", "pref", "9", "flower", "action", "gact", "pass"]),
        ("act_ct", ["tc", "-n", ns, "filter", "add", "block", "9", "protocol", "ip", "pref",
                    "8", "flower", "ip_proto", "tcp", "action", "ct", "zone", "3", "pipe",
                    "action", "gact", "pass"]),
        ("act_mirred", ["tc", "-n", ns, "filter", "add", "block", "9", "protocol", "ip", "pref",
                        "7", "flower", "ip_proto", "udp", "action", "mirred", "egress",
                        "redirect", "dev", "p1"]),
    ]
    try:
        for what, cmd in cmds:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0:
                skip(f"kernel {os.uname().release} lacks {what}: {r.stdout.strip()[:200]}")
    finally:
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def preflight(self_test):
    if os.geteuid() != 0:
        skip("needs root (run it through tools/vmrun)")
    for tool in ["ip", "tc", "ping", "dnsmasq", "busybox", "sysctl"] + (
            ["bridge"] if self_test else []):
        if not shutil.which(tool):
            skip(f"'{tool}' is not installed")
    try:
        import scapy  # noqa: F401
    except ImportError:
        skip(f"python3-scapy is not installed for {sys.executable}")
    if not self_test:
        probe_kernel()


# ----------------------------------------------------------------- context

class Ctx:
    def __init__(self, filtering, agent=None):
        self.filtering = filtering  # True: the agent's pipeline; False: plain bridge
        self.agent = agent
        self.policy = None
        self.policy_path = os.path.join(STATE, "policy.json")
        self.servers = []
        self.failed_checks = []

    def check(self, ok, what):
        print(f"    {'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if not ok:
            self.failed_checks.append(what)
        return ok

    def diagnose_failed_writes(self, after_lines):
        """Prints the agent's failed tc writes since a log line and what the
        kernel holds in those chains now (for the agent's developers)."""
        from agent import logfmt
        chains = []
        for l in self.agent.lines()[after_lines:]:
            if "event=tc_write_failed" in l:
                print("      agent: " + l)
                c = logfmt(l).get("chain")
                if c and c not in chains:
                    chains.append(c)
        for c in chains[:3]:
            r = subprocess.run(["tc", "filter", "show", "block", str(BLOCK), "chain", c],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            lines = [l for l in r.stdout.splitlines() if l.strip()]
            print(f"      tc filter show block {BLOCK} chain {c} (now, {len(lines)} lines):")
            for l in lines[:40]:
                print("        " + l)

    def blocked_or_open(self, allowed):
        """What a probe must give: allowed traffic passes in both modes; traffic
        the policy forbids is blocked by the agent but passes the bridge."""
        return allowed or not self.filtering

    def apply_policy(self, policy, why):
        """Writes the policy file, SIGHUPs the agent, waits for it to settle."""
        n = len(self.agent.lines())
        from agent import write_policy
        write_policy(self.policy_path, policy)
        self.agent.hup()
        t0 = time.monotonic()
        rec = self.agent.wait_reload_applied(n, timeout=60)
        self.check(rec is not None, f"agent reloaded the policy and reconciled after {why} "
                   f"({'%.2f s' % (time.monotonic() - t0)}; {fmt_rec(rec)})")
        self.agent.settle(quiet=1.0, timeout=5)
        if rec is not None:
            if not self.check(rec.get("errors") == "0",
                              f"that reconcile reported errors=0 (status={rec.get('status')})"):
                self.diagnose_failed_writes(n)
        self.policy = policy


def fmt_rec(rec):
    if rec is None:
        return "no event=reconciled line"
    return " ".join(f"{k}={rec[k]}" for k in ("writes", "set_filter_writes", "set_map_writes",
                                               "errors") if k in rec)


CASES = []


def case(name, modes=("agent", "bridge")):
    def reg(fn):
        CASES.append((name, modes, fn))
        return fn
    return reg


def tcp_expect(ctx, src_ns, dst, port, allowed, why, src=None, sport=0):
    from nsio import tcp_probe
    want_ok = ctx.blocked_or_open(allowed)
    got = tcp_probe(src_ns, dst, port, timeout=2.0 if want_ok else 1.5, src=src, sport=sport)
    want = "ok" if want_ok else "timeout"
    desc = f"tcp {src_ns}{'(' + src + ')' if src else ''}{':%d' % sport if sport else ''}" \
           f" -> {dst}:{port} {'passes' if want_ok else 'is dropped'} [{why}]: got {got}"
    return ctx.check(got == want, desc)


def ping_expect(ctx, src_ns, dst, allowed, why, src=None):
    from nsio import ping
    want = ctx.blocked_or_open(allowed)
    got = ping(src_ns, dst, src=src, count=3 if want else 2, wait=2 if want else 1)
    return ctx.check(got == want, f"ping {src_ns}{'(' + src + ')' if src else ''} -> {dst} "
                     f"{'answered' if want else 'unanswered'} [{why}]: "
                     f"{'replies' if got else 'no reply'}")


# ------------------------------------------------------------------- cases

@case("pipeline", modes=("agent",))
def c_pipeline(ctx):
    from agent import tc_filters
    recs = ctx.agent.reconciles()
    ctx.check(bool(recs), f"agent logged event=reconciled ({len(recs)} so far; first: "
              f"{fmt_rec(recs[0] if recs else None)})")
    if recs:
        ctx.check(int(recs[0].get("writes", "0") or 0) > 0, "first reconcile wrote filters")
        ctx.check(all(r.get("errors") == "0" for r in recs), "every reconcile had errors=0")
    for dev in [topology.UPLINK] + [v["rep"] for v in VMS.values()]:
        r = subprocess.run(["tc", "qdisc", "show", "dev", dev], stdout=subprocess.PIPE,
                           text=True)
        ctx.check(f"ingress_block {BLOCK}" in r.stdout,
                  f"{dev}: clsact with ingress_block {BLOCK}")
    f = tc_filters(BLOCK)
    ctx.check(len(f) > 0, f"tc filter show block {BLOCK}: {len(f)} filters")
    # With nothing changing, the agent must leave the kernel alone.
    n = len(ctx.agent.reconciles())
    time.sleep(3.0)
    idle = ctx.agent.reconciles()[n:]
    writes = sum(int(r.get("writes", "0") or 0) for r in idle)
    reasons = sorted({r.get("reason", "?") for r in idle})
    ctx.check(writes == 0, f"idle for 3 s: {len(idle)} reconcile passes, {writes} kernel writes"
              + (f" (reasons: {', '.join(reasons)})" if idle else ""))


@case("dhcp")
def c_dhcp(ctx):
    from nsio import dhcp
    for name, v in VMS.items():
        server = FABRIC["vlan_ip"] if v["network"] == "vlan100" else FABRIC["ip"]
        t0 = time.monotonic()
        ip, sid, out = dhcp(name, tries=4, wait=1)
        ok = ctx.check(ip == v["ip"] and sid == server,
                       f"{name} ({v['network']}) leased {ip} from {sid} "
                       f"(want {v['ip']} from {server}) in {time.monotonic() - t0:.1f} s")
        if not ok:
            print("      udhcpc: " + " | ".join(out.strip().splitlines()[-4:]))


@case("icmp")
def c_icmp(ctx):
    ping_expect(ctx, "fabric", VMS["vm1"]["ip"], True, "web: icmp from 10.0.0.0/30")
    ping_expect(ctx, "fabric", VMS["vm1"]["ip"], False,
                "web: 10.0.0.5 is outside 10.0.0.0/30, no other icmp rule",
                src=FABRIC["other_ip"])
    ping_expect(ctx, "vm1", VMS["vm2"]["ip"], True,
                "vm1 egress any; db: icmp from group clients (vm1)")
    ping_expect(ctx, "vm2", VMS["vm1"]["ip"], False,
                "db egress icmp, but web: icmp only from 10.0.0.0/30")


@case("tcp")
def c_tcp(ctx):
    ip = VMS["vm1"]["ip"]
    tcp_expect(ctx, "fabric", ip, 80, True, "web: tcp 80 from any")
    tcp_expect(ctx, "fabric", ip, 81, False, "no rule for 81")
    tcp_expect(ctx, "fabric", ip, 8000, True, "web: tcp 8000-8010 from 10.0.0.0/24, low edge")
    tcp_expect(ctx, "fabric", ip, 8010, True, "web: tcp 8000-8010, high edge")
    tcp_expect(ctx, "fabric", ip, 7999, False, "one below the range")
    tcp_expect(ctx, "fabric", ip, 8011, False, "one above the range")
    tcp_expect(ctx, "fabric", ip, 80, True, "tcp 80 from any, also 192.0.2.1",
               src=FABRIC["external_ip"])
    tcp_expect(ctx, "fabric", ip, 8005, False, "192.0.2.1 is outside 10.0.0.0/24",
               src=FABRIC["external_ip"])


@case("stateful")
def c_stateful(ctx):
    tcp_expect(ctx, "vm2", FABRIC["external_ip"], 80, True,
               "db egress tcp 80; the replies pass db's ingress only as established")
    tcp_expect(ctx, "fabric", VMS["vm2"]["ip"], 7000, False,
               "the same kind of packet (from port 80) not part of a connection vm2 opened",
               src=FABRIC["ip"], sport=80)


@case("vm_to_vm")
def c_vm_to_vm(ctx):
    v1, v2 = VMS["vm1"]["ip"], VMS["vm2"]["ip"]
    tcp_expect(ctx, "vm1", v2, 5432, True, "vm1 egress any; db: tcp 5432 from group clients")
    tcp_expect(ctx, "vm1", v2, 5433, False, "vm1 egress allows; db ingress has no 5433")
    tcp_expect(ctx, "vm2", v1, 80, True, "db egress tcp 80; web ingress tcp 80")
    tcp_expect(ctx, "vm2", v1, 8005, False,
               "web ingress allows 8005 from 10.0.0.0/24, but db egress allows only tcp 80")


def _eui64_ll(mac):
    b = bytes(int(x, 16) for x in mac.split(":"))
    iid = bytes([b[0] ^ 2]) + b[1:3] + b"\xff\xfe" + b[3:6]
    groups = [iid[i] << 8 | iid[i + 1] for i in range(0, 8, 2)]
    return "fe80::" + ":".join(f"{g:x}" for g in groups)


def _capture_points():
    from nsio import L2Port
    return {"uplink (fab0)": L2Port("fabric", FABRIC["ifname"]),
            "vm2 eth0": L2Port("vm2", "eth0")}


def _send_and_capture(frames, points, duration=1.5):
    """Sends (label, frame) from vm1; returns {point: [parsed frames]}."""
    from nsio import L2Port
    from scapy.layers.l2 import Ether
    src = L2Port("vm1", "eth0")
    for p in points.values():
        p.drain()
    for _, f in frames:
        src.send(f)
    seen = {name: [Ether(b) for b in p.frames(duration)] for name, p in points.items()}
    src.close()
    return seen


@case("spoofing")
def c_spoofing(ctx):
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import ARP, Ether
    from scapy.packet import Raw
    v1, v2, fab = VMS["vm1"], VMS["vm2"], FABRIC
    stranger = "02:00:00:00:01:99"

    def udp(tag, smac, sip):
        return Ether(src=smac, dst=fab["mac"]) / IP(src=sip, dst=fab["ip"]) / \
            UDP(sport=40000, dport=9) / Raw(b"vfg-" + tag.encode())

    def arp(op, smac, hwsrc, psrc, pdst):
        return Ether(src=smac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=op, hwsrc=hwsrc, psrc=psrc,
                                                             pdst=pdst)
    frames = [
        ("control-udp", udp("control-udp", v1["mac"], v1["ip"])),
        ("ip-spoof-other", udp("ip-spoof-other", v1["mac"], "10.0.0.99")),
        ("ip-spoof-vm2", udp("ip-spoof-vm2", v1["mac"], v2["ip"])),
        ("mac-spoof-stranger", udp("mac-spoof-stranger", stranger, v1["ip"])),
        ("mac-spoof-vm2", udp("mac-spoof-vm2", v2["mac"], v2["ip"])),
        ("control-arp", arp(1, v1["mac"], v1["mac"], v1["ip"], "10.0.0.201")),
        ("arp-spoof-gateway", arp(2, v1["mac"], v1["mac"], fab["ip"], "10.0.0.202")),
        ("arp-spoof-sender-mac", arp(1, v1["mac"], stranger, v1["ip"], "10.0.0.203")),
        ("arp-spoof-both", arp(1, stranger, stranger, v2["ip"], "10.0.0.204")),
    ]
    pdst = {f[ARP].pdst: label for label, f in frames if ARP in f}
    points = _capture_points()
    seen = _send_and_capture(frames, points)
    found = {name: set() for name in points}
    for name, pkts in seen.items():
        for p in pkts:
            if Raw in p and p[Raw].load.startswith(b"vfg-"):
                found[name].add(p[Raw].load[4:].decode(errors="replace"))
            elif ARP in p and p[ARP].pdst in pdst:
                found[name].add(pdst[p[ARP].pdst])
    for label, _ in frames:
        allowed = label.startswith("control")
        want = ctx.blocked_or_open(allowed)
        at = "uplink (fab0)"
        ctx.check((label in found[at]) == want,
                  f"{label}: {'reaches' if want else 'does not reach'} the uplink: "
                  f"{'seen' if label in found[at] else 'not seen'}")
    # Broadcast ARP is flooded to vm2 as well.
    for label in ("control-arp", "arp-spoof-gateway", "arp-spoof-both"):
        want = ctx.blocked_or_open(label.startswith("control"))
        ctx.check((label in found["vm2 eth0"]) == want,
                  f"{label}: {'reaches' if want else 'does not reach'} vm2: "
                  f"{'seen' if label in found['vm2 eth0'] else 'not seen'}")
    for p in points.values():
        p.close()


@case("rogue_dhcp")
def c_rogue_dhcp(ctx):
    from nsio import dhcp, L2Port
    from scapy.layers.inet import UDP
    from scapy.layers.l2 import Ether
    topology.stop_fabric_dhcp(STATE)
    rogue = None
    try:
        rogue = topology.start_dnsmasq(STATE, "vm1", ["eth0"],
                                       ["10.0.0.200,10.0.0.210,255.255.255.0,1h"], [],
                                       "rogue-dnsmasq")
        cap = L2Port("vm2", "eth0")
        cap.drain()
        ip, sid, out = dhcp("vm2", tries=3, wait=1)
        offers = [f for f in (Ether(b) for b in cap.frames(0.3))
                  if UDP in f and f[UDP].sport == 67 and f.src == VMS["vm1"]["mac"]]
        cap.close()
        want_lease = not ctx.filtering
        ctx.check((ip is not None) == want_lease,
                  f"vm2 with only vm1's rogue dnsmasq: "
                  f"{'leases from it' if want_lease else 'no lease'}: "
                  f"{'leased ' + ip + ' from ' + str(sid) if ip else 'none'}")
        log = open(f"{STATE}/rogue-dnsmasq.log", errors="replace").read()
        heard = "DHCPDISCOVER" in log
        if ctx.filtering:
            # Semantics 5: vm1 has security groups, so vm2's flooded client
            # broadcast is not delivered to it; the crafted offers below test
            # the server side regardless.
            print(f"    note the rogue dnsmasq {'did' if heard else 'did not'} hear vm2's "
                  "DHCPDISCOVER (a flooded client broadcast is not delivered to a port "
                  "with security groups)")
        else:
            ctx.check(heard, "the rogue dnsmasq heard vm2's DHCPDISCOVER")
        want_offers = not ctx.filtering
        ctx.check(bool(offers) == want_offers,
                  f"DHCP server frames from vm1 seen at vm2: {len(offers)}")
        # Offers crafted as a rogue server would send them, unicast to vm2's MAC
        # and broadcast.
        from scapy.layers.dhcp import BOOTP, DHCP
        from scapy.layers.inet import IP
        v1, v2 = VMS["vm1"], VMS["vm2"]
        chaddr = bytes(int(x, 16) for x in v2["mac"].split(":"))
        frames = []
        for label, dmac, dip in (("offer-unicast", v2["mac"], "10.0.0.205"),
                                 ("offer-broadcast", "ff:ff:ff:ff:ff:ff", "255.255.255.255")):
            f = Ether(src=v1["mac"], dst=dmac) / IP(src=v1["ip"], dst=dip) / \
                UDP(sport=67, dport=68) / BOOTP(op=2, xid=0x7666, yiaddr="10.0.0.205",
                                               siaddr=v1["ip"], chaddr=chaddr) / \
                DHCP(options=[("message-type", "offer"), ("server_id", v1["ip"]),
                              ("lease_time", 3600), ("subnet_mask", "255.255.255.0"), "end"])
            frames.append((label, f))
        points = _capture_points()
        seen = _send_and_capture(frames, points)
        for name, pkts in seen.items():
            got = sum(1 for p in pkts if BOOTP in p and p[BOOTP].xid == 0x7666)
            if name == "uplink (fab0)":
                want_any = not ctx.filtering
            else:
                want_any = not ctx.filtering
            ctx.check((got > 0) == want_any,
                      f"crafted DHCP offers from vm1 {'reach' if want_any else 'do not reach'} "
                      f"{name}: {got} seen")
        for p in points.values():
            p.close()
    finally:
        if rogue:
            topology._kill_pidfile(f"{STATE}/rogue-dnsmasq.pid")
            rogue.wait(timeout=5)
        topology.start_fabric_dhcp(STATE)
    ip, sid, _ = dhcp("vm2", tries=4, wait=1)
    ctx.check(ip == VMS["vm2"]["ip"] and sid == FABRIC["ip"],
              f"control: with the fabric's dnsmasq back, vm2 leases {ip} from {sid}")


@case("flood")
def c_flood(ctx):
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    v1 = VMS["vm1"]
    frames = [(tag, Ether(src=v1["mac"], dst=dmac) / IP(src=v1["ip"], dst=dip) /
               UDP(sport=40001, dport=9999) / Raw(b"vfg-" + tag.encode()))
              for tag, dmac, dip in (("bcast", "ff:ff:ff:ff:ff:ff", "10.0.0.255"),
                                     ("mcast", "01:00:5e:00:00:fb", "224.0.0.251"))]
    points = _capture_points()
    seen = _send_and_capture(frames, points)
    for tag, _ in frames:
        for name, pkts in seen.items():
            got = any(Raw in p and p[Raw].load == b"vfg-" + tag.encode() for p in pkts)
            if name.startswith("uplink"):
                want, why = True, "flooded to the uplink"
            else:
                want = not ctx.filtering
                why = "not delivered to vm2: it has security groups (semantics 5)"
            ctx.check(got == want, f"udp {tag} from vm1 {why}: "
                      f"{'seen' if got else 'not seen'} at {name}")
    for p in points.values():
        p.close()


@case("ra_guard")
def c_ra_guard(ctx):
    from scapy.layers.inet6 import (IPv6, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6NDOptPrefixInfo,
                                    ICMPv6NDOptSrcLLAddr)
    from scapy.layers.l2 import Ether
    mac = VMS["vm1"]["mac"]
    ll = _eui64_ll(mac)
    ns = Ether(src=mac, dst="33:33:ff:00:00:01") / IPv6(src=ll, dst="ff02::1:ff00:1", hlim=255) \
        / ICMPv6ND_NS(tgt="fe80::1") / ICMPv6NDOptSrcLLAddr(lladdr=mac)
    ra = Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=ll, dst="ff02::1", hlim=255) / \
        ICMPv6ND_RA(routerlifetime=1800) / ICMPv6NDOptSrcLLAddr(lladdr=mac) / \
        ICMPv6NDOptPrefixInfo(prefix="2001:db8:bad::", prefixlen=64)
    points = _capture_points()
    seen = _send_and_capture([("ns", ns), ("ra", ra)], points)
    for name, pkts in seen.items():
        got_ns = any(ICMPv6ND_NS in p and p.src == mac for p in pkts)
        got_ra = any(ICMPv6ND_RA in p and p.src == mac for p in pkts)
        ctx.check(got_ns, f"control: vm1's neighbour solicitation (base traffic) reaches "
                  f"{name}: {'seen' if got_ns else 'not seen'}")
        want = not ctx.filtering
        ctx.check(got_ra == want, f"vm1's router advertisement "
                  f"{'reaches' if want else 'does not reach'} {name}: "
                  f"{'seen' if got_ra else 'not seen'}")
    for p in points.values():
        p.close()


@case("nd_check", modes=("agent",))
def c_nd_check(ctx):
    """Issue 11: NS/NA payloads checked (tests/e2e/lib/ndcheck.py)."""
    import ndcheck
    ndcheck.run(ctx, ping_expect, _capture_points, _send_and_capture)


@case("vlan")
def c_vlan(ctx):
    from nsio import L2Port, ping
    from scapy.layers.l2 import Dot1Q, Ether
    from scapy.layers.inet import ICMP
    cap = L2Port("fabric", FABRIC["ifname"])
    at_vm = L2Port("vm3", "eth0")
    cap.drain()
    at_vm.drain()
    ok = ping("vm3", FABRIC["vlan_ip"], count=3, wait=2)
    frames = [Ether(b) for b in cap.frames(0.3)]
    back = [Ether(b) for b in at_vm.frames(0.1)]
    cap.close()
    at_vm.close()
    ctx.check(ok, f"ping vm3 -> {FABRIC['vlan_ip']} (fab0.100) answered: "
              f"{'replies' if ok else 'no reply'}")
    mac = VMS["vm3"]["mac"]
    tagged = [f for f in frames if f.src == mac and Dot1Q in f and ICMP in f]
    untagged = [f for f in frames if f.src == mac and Dot1Q not in f]
    vids = sorted({f[Dot1Q].vlan for f in tagged})
    ctx.check(bool(tagged) and vids == [topology.VLAN_ID],
              f"vm3's echo requests leave the uplink tagged: {len(tagged)} frames, vids {vids}")
    ctx.check(not untagged, f"none of vm3's frames leave untagged: {len(untagged)}")
    replies = [f for f in back if ICMP in f and f[ICMP].type == 0]
    ctx.check(bool(replies) and not any(Dot1Q in f for f in back),
              f"the fabric's echo replies reach vm3 untagged: {len(replies)} replies, "
              f"{sum(Dot1Q in f for f in back)} tagged frames")
    tcp_expect(ctx, "fabric", VMS["vm3"]["ip"], 22, True, "vlan-sg: tcp 22, over VLAN 100")
    tcp_expect(ctx, "fabric", VMS["vm3"]["ip"], 23, False, "vlan-sg has no tcp 23")


def _without_rule(policy, group, pred):
    p = copy.deepcopy(policy)
    for g in p["security_groups"]:
        if g["id"] == group:
            g["rules"] = [r for r in g["rules"] if not pred(r)]
    return p


@case("remote_group", modes=("agent",))
def c_remote_group(ctx):
    base = ctx.policy
    v2 = VMS["vm2"]["ip"]
    tcp_expect(ctx, "vm1", v2, 5432, True, "before: vm1 is a member of clients")
    p = copy.deepcopy(base)
    for port in p["ports"]:
        if port["id"] == "vm1":
            port["security_group_ids"] = ["web"]
    ctx.apply_policy(p, "removing vm1 from group clients")
    tcp_expect(ctx, "vm1", v2, 5432, False, "vm1 no longer a member of clients")
    ping_expect(ctx, "vm1", v2, False, "db: icmp only from clients")
    ctx.apply_policy(base, "putting vm1 back into clients")
    tcp_expect(ctx, "vm1", v2, 5432, True, "vm1 a member of clients again")


def _with_ssh_from(policy, remote):
    """`policy` plus web (vm1) allowing tcp/22 from `remote` (a rule's remote
    field and value) and a group "bastion" without rules."""
    p = copy.deepcopy(policy)
    p["security_groups"].append({"id": "bastion"})
    for g in p["security_groups"]:
        if g["id"] == "web":
            g["rules"].append(dict({"direction": "ingress", "protocol": "tcp",
                                    "port_range_min": 22, "port_range_max": 22}, **remote))
    return p


def _api_remove_remote_port(ctx, remote_id):
    """Removes a remote port through the bulk route, POST
    /v1/remote-ports:batch, with real curl on the agent's socket, and waits
    for the reconcile pass that follows."""
    n = len(ctx.agent.reconciles())
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "--unix-socket", ctx.agent.api_socket,
                        "-X", "POST", "-w", "\n%{http_code}",
                        "http://localhost/v1/remote-ports:batch",
                        "-d", json.dumps({"deletes": [{"id": remote_id}]})],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    text, _, code = r.stdout.rpartition("\n")
    try:
        deleted = json.loads(text).get("deleted")
    except ValueError:
        deleted = None
    ctx.check(code == "200" and deleted == [remote_id],
              f"POST /v1/remote-ports:batch deleting {remote_id}: {code} {text.strip()[:200]}")
    rec = ctx.agent.wait_reconciled(n, timeout=60)
    ctx.check(rec is not None and rec.get("errors") == "0",
              f"the agent reconciled after the batch ({fmt_rec(rec)})")
    ctx.agent.settle(quiet=1.0, timeout=5)


def _remote_case(ctx, what, present, absent, remove=None):
    """Issue 14: tcp/22 to vm1 from the uplink passes only from the remote
    address; removing it (`absent` applied, or `remove(ctx)`) stops an
    established connection. The agent runs with set lookups (its default
    when BPF loads): the rule is a cls_bpf set-match filter, and the removal
    writes a map entry and no tc filter."""
    from nsio import tcp_connect, echo_roundtrip
    from agent import tc_filters
    base = ctx.policy
    ip, ext = VMS["vm1"]["ip"], FABRIC["external_ip"]
    try:
        ctx.apply_policy(present, f"adding {what} {ext}")
        sets = [l for l in tc_filters(BLOCK) if "vfguard_set_match" in l]
        ctx.check(len(sets) >= 1, f"the rule is a set-match filter (cls_bpf) in block {BLOCK}: "
                  f"{len(sets)} such filter(s)")
        tcp_expect(ctx, "fabric", ip, 22, True, f"{what}: {ext} may use tcp 22", src=ext)
        tcp_expect(ctx, "fabric", ip, 22, False, f"{what}: {FABRIC['ip']} is not in it")
        s = tcp_connect("fabric", ip, 22, timeout=2.0, src=ext)
        if not ctx.check(not isinstance(s, str), f"connection {ext} -> vm1:22 established: "
                         f"{s if isinstance(s, str) else 'yes'}"):
            return
        ctx.check(echo_roundtrip(s, b"before\n"), "data flows on it before the removal")
        n = len(ctx.agent.reconciles())
        if remove is not None:
            remove(ctx)
        else:
            ctx.apply_policy(absent, f"removing {ext} from the {what}")
        recs = ctx.agent.reconciles()[n:]
        total = lambda k: sum(int(r.get(k, "0") or 0) for r in recs)
        ctx.check(recs and total("writes") == 0 and total("set_filter_writes") == 0
                  and total("set_map_writes") >= 1,
                  f"the removal wrote map entries and no tc filter: {len(recs)} pass(es), "
                  f"writes={total('writes')} set_filter_writes={total('set_filter_writes')} "
                  f"set_map_writes={total('set_map_writes')}")
        alive = echo_roundtrip(s, b"after\n", timeout=2.0)
        ctx.check(not alive, "the established connection stops (its conntrack entries are "
                  "revoked): " + ("data still echoed" if alive else "no echo"))
        s.close()
        tcp_expect(ctx, "fabric", ip, 22, False, f"{ext} no longer in the {what}", src=ext)
    finally:
        ctx.apply_policy(base, "restoring the base policy")


@case("remote_member", modes=("agent",))
def c_remote_member(ctx):
    p = _with_ssh_from(ctx.policy, {"remote_group_id": "bastion"})
    absent = copy.deepcopy(p)
    p["remote_ports"] = [{"id": "bastion-1", "addresses": [FABRIC["external_ip"]],
                          "security_group_ids": ["bastion"]}]
    # The removal goes through the API's bulk route (what an orchestrator uses).
    _remote_case(ctx, "remote member of bastion", p, absent,
                 remove=lambda c: _api_remove_remote_port(c, "bastion-1"))


@case("address_group", modes=("agent",))
def c_address_group(ctx):
    p = _with_ssh_from(ctx.policy, {"remote_address_group_id": "admins"})
    absent = copy.deepcopy(p)
    p["address_groups"] = [{"id": "admins", "cidrs": [FABRIC["external_ip"] + "/32"]}]
    absent["address_groups"] = [{"id": "admins", "cidrs": []}]
    # Without "admins" the rule naming it would be refused: absent keeps it empty.
    _remote_case(ctx, "address group admins", p, absent)


@case("revoke", modes=("agent",))
def c_revoke(ctx):
    from nsio import tcp_connect, echo_roundtrip
    base = ctx.policy
    ip = VMS["vm1"]["ip"]
    s = tcp_connect("fabric", ip, 8005, timeout=2.0)
    if not ctx.check(not isinstance(s, str), f"connection fabric -> vm1:8005 established: "
                     f"{s if isinstance(s, str) else 'yes'}"):
        return
    ctx.check(echo_roundtrip(s, b"before\n"), "data flows on it before the change")
    if os.environ.get("VFGUARD_E2E_DUMP"):
        r = subprocess.run(["tc", "filter", "show", "block", str(BLOCK), "chain",
                            os.environ["VFGUARD_E2E_DUMP"]], stdout=subprocess.PIPE, text=True)
        print(f"      before: tc filter show block {BLOCK} chain {os.environ['VFGUARD_E2E_DUMP']}")
        for l in r.stdout.splitlines()[:40]:
            print("        " + l)
    p = _without_rule(base, "web", lambda r: r.get("port_range_min") == 8000)
    ctx.apply_policy(p, "removing web's tcp 8000-8010 rule")
    alive = echo_roundtrip(s, b"after\n", timeout=2.0)
    ctx.check(not alive, "the established connection stops (its conntrack entries are gone): "
              + ("data still echoed" if alive else "no echo"))
    s.close()
    tcp_expect(ctx, "fabric", ip, 8005, False, "new connections to 8005 are dropped too")
    tcp_expect(ctx, "fabric", ip, 80, True, "tcp 80 unaffected")
    ctx.apply_policy(base, "restoring the rule")
    tcp_expect(ctx, "fabric", ip, 8005, True, "rule back: 8005 passes again")


def _wait_filters(want, timeout):
    from agent import tc_filters
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if want(tc_filters(BLOCK)):
            return time.monotonic() - t0
        time.sleep(0.1)
    return None


@case("drift", modes=("agent",))
def c_drift(ctx):
    from agent import tc_filters, tc_filter_key
    ctx.agent.settle(quiet=1.0, timeout=5)
    before = tc_filters(BLOCK)
    # flower filters only: `tc filter del ... flower` below (the cls_bpf ones,
    # the ND check and set matches, are their hooks' own).
    keys = [tc_filter_key(l) for l in before if " flower " in l]
    if not ctx.check(len(keys) > 2, f"{len(keys)} filters in block {BLOCK}"):
        return
    proto, pref, chain, handle = keys[len(keys) // 2]
    cmd = ["tc", "filter", "del", "block", str(BLOCK), "chain", chain, "protocol", proto,
           "pref", pref, "handle", handle, "flower"]
    n = len(ctx.agent.reconciles())
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ctx.check(r.returncode == 0, f"deleted by hand: {' '.join(cmd[3:])} {r.stdout.strip()}")
    t = _wait_filters(lambda f: (proto, pref, chain, handle) in [tc_filter_key(l) for l in f]
                      and len(f) == len(before), 20)
    ctx.check(t is not None, "restored by the agent " +
              (f"in {t:.2f} s" if t is not None else "(not within 20 s)"))
    for _ in range(25):
        recs = ctx.agent.reconciles()[n:]
        wrote = [r for r in recs if r.get("writes", "0") not in ("0", "")]
        if wrote:
            break
        time.sleep(0.2)
    ctx.check(bool(wrote), "the agent logged a reconcile that wrote it back: "
              + (fmt_rec(wrote[0]) if wrote else f"none of {len(recs)} passes wrote anything"))
    # The whole qdisc of a representor.
    rep = VMS["vm2"]["rep"]
    subprocess.run(["tc", "qdisc", "del", "dev", rep, "clsact"])
    t0 = time.monotonic()
    back = None
    while time.monotonic() - t0 < 20:
        r = subprocess.run(["tc", "qdisc", "show", "dev", rep], stdout=subprocess.PIPE,
                           text=True)
        if f"ingress_block {BLOCK}" in r.stdout:
            back = time.monotonic() - t0
            break
        time.sleep(0.1)
    ctx.check(back is not None, f"{rep}'s clsact deleted by hand is restored " +
              (f"in {back:.2f} s" if back is not None else "(not within 20 s)"))
    tcp_expect(ctx, "vm1", VMS["vm2"]["ip"], 5432, True, "vm1 -> vm2 works after the repair")


class _Stream:
    """A TCP connection fabric -> vm1:80 echoing a message every 50 ms."""

    def __init__(self):
        from nsio import tcp_connect
        self.sock = tcp_connect("fabric", VMS["vm1"]["ip"], 80, timeout=2.0)
        self.sent = self.echoed = 0
        self.max_gap = 0.0
        self.error = None
        self.stop_flag = False
        if isinstance(self.sock, str):
            self.error = "connect: " + self.sock
            return
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        from nsio import echo_roundtrip
        last = time.monotonic()
        while not self.stop_flag:
            msg = b"%08d" % self.sent
            self.sent += 1
            if not echo_roundtrip(self.sock, msg, timeout=10):
                self.error = f"message {self.sent} not echoed within 10 s"
                return
            self.echoed += 1
            now = time.monotonic()
            self.max_gap = max(self.max_gap, now - last)
            last = now
            time.sleep(0.05)

    def stop(self):
        self.stop_flag = True
        if not isinstance(self.sock, str):
            self.thread.join(timeout=15)
            self.sock.close()


@case("restart", modes=("agent",))
def c_restart(ctx):
    from agent import tc_filters
    before = sorted(tc_filters(BLOCK))
    st = _Stream()
    if not ctx.check(st.error is None, f"TCP stream fabric -> vm1:80 started ({st.error})"):
        return
    time.sleep(1.0)
    ctx.agent.kill9()
    ctx.check(True, f"agent killed with SIGKILL ({st.echoed} messages echoed so far)")
    n = len(ctx.agent.reconciles())
    time.sleep(0.5)
    ctx.agent.start()
    t0 = time.monotonic()
    rec = ctx.agent.wait_reconciled(n, timeout=60)
    ctx.agent.wait_ready()
    ctx.check(rec is not None and rec.get("writes") == "0" and rec.get("errors") == "0",
              f"restart with the same policy: first reconcile {fmt_rec(rec)} "
              f"after {time.monotonic() - t0:.2f} s (want writes=0 errors=0)")
    time.sleep(1.0)
    st.stop()
    ctx.check(st.error is None and st.echoed == st.sent and st.echoed > 10,
              f"the stream ran through the restart: {st.echoed}/{st.sent} echoed, "
              f"longest gap {st.max_gap:.2f} s{', ' + st.error if st.error else ''}")
    after = sorted(tc_filters(BLOCK))
    # Known gap (issue 11): each agent process loads its own ND check program
    # and map and replaces the cls_bpf filter with it (atomically, map filled
    # first), so the program's kernel id changes; its tag (the same code) and
    # everything else must not. Hitless for it too needs the map and program
    # pinned in bpffs and reused.
    import re
    ids = re.compile(r" id \d+\b")
    ctx.check([ids.sub(" id N", l) for l in after] == [ids.sub(" id N", l) for l in before],
              f"filters unchanged by the restart, BPF program ids aside ({len(after)} vs "
              f"{len(before)})")
    replaced = [l for l in after if l not in before]
    print(f"    note: {len(replaced)} filter line(s) differ only in the BPF program id "
          f"(the ND check reloaded by the new process)", flush=True)
    # A clean SIGTERM restart too.
    code = ctx.agent.stop()
    ctx.check(code == 0, f"SIGTERM: agent exited {code}")
    n = len(ctx.agent.reconciles())
    ctx.agent.start()
    rec = ctx.agent.wait_reconciled(n, timeout=60)
    ctx.agent.wait_ready()
    ctx.check(rec is not None and rec.get("writes") == "0",
              f"restart after SIGTERM: first reconcile {fmt_rec(rec)}")


@case("representor", modes=("agent",))
def c_representor(ctx):
    from nsio import ping
    rep = VMS["vm2"]["rep"]
    topology.make_representor("vm2")
    t0 = time.monotonic()
    back = None
    while time.monotonic() - t0 < 30:
        r = subprocess.run(["tc", "qdisc", "show", "dev", rep], stdout=subprocess.PIPE,
                           text=True)
        if f"ingress_block {BLOCK}" in r.stdout:
            back = time.monotonic() - t0
            break
        time.sleep(0.1)
    ctx.check(back is not None, f"{rep} deleted and re-created: clsact back on block {BLOCK} "
              + (f"in {back:.2f} s" if back is not None else "(not within 30 s)"))
    ok = ping("vm1", VMS["vm2"]["ip"], count=3, wait=2)
    ctx.check(ok, f"ping vm1 -> vm2 after the re-creation {'answered' if ok else 'unanswered'}")
    tcp_expect(ctx, "vm1", VMS["vm2"]["ip"], 5433, False, "vm2's rules are back (5433 dropped)")


@case("stateless", modes=("agent",))
def c_stateless(ctx):
    base = ctx.policy
    v1, v2 = VMS["vm1"]["ip"], VMS["vm2"]["ip"]
    # policies/stateless-db.json is base.json with group db stateless.
    p = json.load(open(os.path.join(HERE, "policies", "stateless-db.json")))
    ctx.apply_policy(p, "making group db stateless (policies/stateless-db.json)")
    tcp_expect(ctx, "vm2", FABRIC["external_ip"], 80, False,
               "db stateless: the replies from port 80 match no ingress rule of db")
    tcp_expect(ctx, "vm1", v2, 5432, False,
               "db stateless: vm2's replies (to vm1's ephemeral port) match no egress rule")
    ping_expect(ctx, "vm1", v2, True, "db stateless: icmp in from clients and icmp out both "
                "have rules")
    ctx.apply_policy(base, "making db stateful again")
    tcp_expect(ctx, "vm2", FABRIC["external_ip"], 80, True, "db stateful again")


@case("corrupt_checkpoint", modes=("agent",))
def c_corrupt_checkpoint(ctx):
    from agent import tc_filters
    ckpt = os.path.join(ctx.agent.state_dir, "state.pb")
    ctx.agent.settle(quiet=1.0, timeout=5)
    code = ctx.agent.stop()
    ctx.check(code == 0, f"SIGTERM: agent exited {code}")
    if not ctx.check(os.path.exists(ckpt), f"checkpoint {ckpt} exists"):
        ctx.agent.start()
        ctx.agent.wait_reconciled(len(ctx.agent.reconciles()), timeout=60)
        return
    before = sorted(tc_filters(BLOCK))
    good = open(ckpt, "rb").read()
    bad = bytearray(good)
    mid = len(bad) // 2
    bad[mid:mid + 4] = bytes(b ^ 0x5A for b in bad[mid:mid + 4])
    open(ckpt, "wb").write(bytes(bad))
    n_lines = len(ctx.agent.lines())
    ctx.agent.start()
    try:
        code = ctx.agent.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        code = None
    msgs = [l for l in ctx.agent.lines()[n_lines:] if "checkpoint" in l.lower()]
    ctx.check(code not in (None, 0), f"with 4 bytes of {ckpt} flipped the agent refuses to "
              f"start: {'still running after 20 s' if code is None else 'exit ' + str(code)}")
    ctx.check(bool(msgs), "it says why: " + (msgs[-1][:300] if msgs else "no line names the "
                                              "checkpoint"))
    after = sorted(tc_filters(BLOCK))
    ctx.check(after == before, f"kernel filters untouched ({len(after)} vs {len(before)})")
    if code is None:
        ctx.agent.stop()
    open(ckpt, "wb").write(good)
    n = len(ctx.agent.reconciles())
    ctx.agent.start()
    rec = ctx.agent.wait_reconciled(n, timeout=60)
    ctx.agent.wait_ready()
    ctx.check(rec is not None and rec.get("writes") == "0",
              f"with the checkpoint restored, the restart writes nothing: {fmt_rec(rec)}")


@case("policy_while_down", modes=("agent",))
def c_policy_while_down(ctx):
    from agent import write_policy
    base = ctx.policy
    ip = VMS["vm1"]["ip"]
    code = ctx.agent.stop()
    ctx.check(code == 0, f"SIGTERM: agent exited {code}")
    p = copy.deepcopy(base)
    for g in p["security_groups"]:
        if g["id"] == "web":
            g["rules"].append({"direction": "ingress", "protocol": "tcp",
                               "port_range_min": 81, "port_range_max": 81})
    write_policy(ctx.policy_path, p)
    n = len(ctx.agent.reconciles())
    ctx.agent.start()
    rec = ctx.agent.wait_reconciled(n, timeout=60)
    ctx.agent.wait_ready()
    ctx.check(rec is not None and rec.get("writes") not in (None, "0")
              and rec.get("errors") == "0",
              f"a rule added while the agent was down is installed at start: {fmt_rec(rec)}")
    ctx.agent.settle(quiet=1.0, timeout=5)
    ctx.policy = p
    tcp_expect(ctx, "fabric", ip, 81, True, "web: the new tcp 81 rule")
    ctx.apply_policy(base, "removing the tcp 81 rule again")
    tcp_expect(ctx, "fabric", ip, 81, False, "tcp 81 rule gone")


# -------------------------------------------------------------------- main

def start_servers(ctx):
    from nsio import EchoServer
    for ns, ports in (("vm1", [22, 80, 81, 7999, 8000, 8005, 8010, 8011]),
                      ("vm2", [5432, 5433, 7000]), ("vm3", [22, 23])):
        for p in ports:
            ctx.servers.append(EchoServer(ns, p))
    # On the external address only, so that a client in the fabric can use
    # 10.0.0.1:80 as its source (the stateful case).
    ctx.servers.append(EchoServer("fabric", 80, addr=FABRIC["external_ip"]))


def main(argv):
    self_test = "--self-test" in argv
    keep = "--keep" in argv
    wanted = [argv[i + 1] for i, a in enumerate(argv) if a == "--case" and i + 1 < len(argv)]
    mode = "bridge" if self_test else "agent"
    cases = [(n, f) for n, m, f in CASES if mode in m]
    if "--list" in argv:
        for n, _ in cases:
            print(n)
        return 0
    unknown = [w for w in wanted if w not in [n for n, _ in cases]]
    if unknown:
        print(f"unknown case(s) for mode {mode}: {' '.join(unknown)}", file=sys.stderr)
        return 2
    if wanted:
        cases = [(n, f) for n, f in cases if n in wanted]
    preflight(self_test)
    from agent import Agent, default_binary
    binary = default_binary()
    if not self_test and not os.access(binary, os.X_OK):
        skip(f"the agent is not built: {binary} does not exist")

    t_start = time.monotonic()
    print(f"== setting up the emulated eswitch ({mode})", flush=True)
    topology.up(STATE)
    ctx = Ctx(filtering=not self_test)
    results = []
    try:
        start_servers(ctx)
        if self_test:
            topology.bridge(STATE)
        else:
            shutil.copy(os.path.join(HERE, "policies", "base.json"), ctx.policy_path)
            ctx.policy = json.load(open(ctx.policy_path))
            ctx.agent = Agent(binary, os.path.join(STATE, "agent-state"), ctx.policy_path,
                              BLOCK, os.path.join(STATE, "agent.log"))
            ctx.agent.start()
            rec = ctx.agent.wait_reconciled(0, timeout=90)
            if rec is None:
                print("FAIL: the agent logged no event=reconciled within 90 s"
                      f" (running: {ctx.agent.running()}); last log lines:")
                for l in ctx.agent.tail(30):
                    print("  " + l)
                return 1
            print(f"   agent up: first reconcile {fmt_rec(rec)}; event=ready: "
                  f"{ctx.agent.wait_ready()}", flush=True)
            ctx.agent.settle(quiet=1.0, timeout=10)
        for name, fn in cases:
            print(f"== {name}", flush=True)
            t0 = time.monotonic()
            before = len(ctx.failed_checks)
            try:
                fn(ctx)
            except Exception:  # a crash in a case is its failure, not the suite's
                traceback.print_exc()
                ctx.failed_checks.append(f"{name}: exception")
            ok = len(ctx.failed_checks) == before
            if ctx.agent and not ctx.agent.running():
                ctx.check(False, f"agent is still running (exited {ctx.agent.proc.returncode})")
                ok = False
                for l in ctx.agent.tail(20):
                    print("      " + l)
                ctx.agent.start()
                ctx.agent.wait_reconciled(len(ctx.agent.reconciles()), timeout=60)
            results.append((name, ok, time.monotonic() - t0))
            print(f"-- {name}: {'PASS' if ok else 'FAIL'} ({time.monotonic() - t0:.1f} s)",
                  flush=True)
    finally:
        if ctx.agent and not keep:
            code = ctx.agent.stop()
            print(f"   agent stopped (exit {code}); log: {ctx.agent.log_path}")
            if os.environ.get("VFGUARD_E2E_LOG_TAIL", "1") != "0":
                errs = [l for l in ctx.agent.lines() if "level=error" in l or "level=warn" in l]
                for l in errs[-15:]:
                    print("   agent: " + l)
        if not keep:
            for s in ctx.servers:
                s.close()
            topology.unbridge(STATE)
            log_copy = None
            if ctx.agent and os.path.exists(ctx.agent.log_path):
                from agent import log_dir
                log_copy = os.path.join(log_dir(), "agent_e2e_test.agent.log")
                shutil.copy(ctx.agent.log_path, log_copy)
            topology.down(STATE)
            left = topology.leftovers()
            results.append(("teardown", not left, 0.0))
            print(f"== teardown: {'clean' if not left else 'left over: ' + ', '.join(left)}"
                  + (f" (agent log kept in {log_copy})" if log_copy else ""))
    failed = [n for n, ok, _ in results if not ok]
    print(f"\n{len(results) - len(failed)} of {len(results)} cases passed in "
          f"{time.monotonic() - t_start:.0f} s" + (f"; FAILED: {' '.join(failed)}" if failed
                                                     else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
