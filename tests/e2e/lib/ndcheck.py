"""The IPv6 neighbour-discovery case of e2e_test.py (issue 11).

Real frames, IPv6 enabled on vm1/vm2 (no static neighbours): DAD of their
addresses, a duplicate detected through the pipeline, a v6 ping that resolves
its neighbour through NS/NA, and crafted NS/NA from vm1 (spoofed target,
wrong TLLA, wrong SLLA, DAD with an SLLA, a VIP's NA before and after the VIP
is added and removed), each looked for at the uplink and at vm2. Crafted
frames carry a nonce option with a tag, so the captures never mistake the
VMs' own ND for them.
"""

import copy
import subprocess
import time

V6 = {"vm1": "fd00::11", "vm2": "fd00::12"}
VIP = "fd00::100"
STRANGER = "02:00:00:00:01:99"
ND_CHAIN = 1 << 26  # policy::Chains::kNd


def _patch_vip(ctx, add):
    """Adds or removes VIP on vm1 with PATCH /v1/ports/vm1 (as an orchestrator
    does at run time) and waits for the pass that applies it: the ND check's
    map must follow in that same pass."""
    from twohosts import Api
    api = Api(ctx.agent.api_socket)
    st, port = api.request("GET", "/v1/ports/vm1")
    if not ctx.check(st == 200 and isinstance(port, dict), f"GET /v1/ports/vm1 -> {st}"):
        return
    vips = [v for v in port.get("vips", []) if v != VIP] + ([VIP] if add else [])
    n = len(ctx.agent.reconciles())
    body = {"generation": port.get("generation"), "vips": vips}
    st, answer = api.request("PATCH", "/v1/ports/vm1", body)
    ctx.check(st == 200, f"PATCH /v1/ports/vm1 {body} ({'adds' if add else 'removes'} "
              f"{VIP}) -> {st} {answer if st != 200 else ''}")
    rec = ctx.agent.wait_reconciled(n, timeout=60)
    ctx.check(rec is not None and rec.get("errors") == "0",
              f"the agent reconciled after the PATCH (errors={rec and rec.get('errors')})")
    ctx.agent.settle(quiet=1.0, timeout=5)


def v6_policy(base, vip=False):
    """base.json plus fd00::11/12 on vm1/vm2 (and a VIP on vm1), IPv6 egress
    for web and icmpv6 both ways for db."""
    p = copy.deepcopy(base)
    for port in p["ports"]:
        if port["id"] in V6:
            port["fixed_ips"] = port["fixed_ips"] + [V6[port["id"]]]
        if vip and port["id"] == "vm1":
            port["vips"] = port.get("vips", []) + [VIP]
    for g in p["security_groups"]:
        if g["id"] == "web":
            g["rules"].append({"direction": "egress", "ethertype": "IPv6"})
        if g["id"] == "db":
            g["rules"].append({"direction": "ingress", "ethertype": "IPv6", "protocol": "icmpv6"})
            g["rules"].append({"direction": "egress", "ethertype": "IPv6", "protocol": "icmpv6"})
    return p


def _ip(ns, *args):
    return subprocess.run(["ip", "-n", ns] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=20).stdout


def _sysctl(ns, key, value):
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"{key}={value}"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)


def _enable_v6(ns, on):
    for k in ("all", "default", "eth0"):
        _sysctl(ns, f"net.ipv6.conf.{k}.disable_ipv6", 0 if on else 1)


def _addr_state(ns, addr, timeout):
    """'ok' once `addr` is no longer tentative, 'dadfailed', or 'tentative'."""
    end = time.monotonic() + timeout
    while True:
        out = _ip(ns, "-6", "addr", "show", "dev", "eth0")
        line = next((l for l in out.splitlines() if f" {addr}/" in l), "")
        if "dadfailed" in line:
            return "dadfailed"
        if line and "tentative" not in line:
            return "ok"
        if time.monotonic() > end:
            return "tentative" if line else "absent"
        time.sleep(0.2)


def _frames(mac):
    from scapy.layers.inet6 import (IPv6, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr,
                                    ICMPv6NDOptSrcLLAddr, ICMPv6NDOptUnknown)
    from scapy.layers.l2 import Ether

    def tag(i):
        return ICMPv6NDOptUnknown(type=14, len=1, data=b"vfg" + bytes([i]) + b"nd")

    def na(i, target, tlla):
        return Ether(src=mac, dst="33:33:00:00:00:01") / \
            IPv6(src=V6["vm1"], dst="ff02::1", hlim=255) / \
            ICMPv6ND_NA(tgt=target, R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=tlla) / tag(i)

    def ns(i, src, target, slla):
        f = Ether(src=mac, dst="33:33:ff:00:00:12") / \
            IPv6(src=src, dst="ff02::1:ff00:12", hlim=255) / ICMPv6ND_NS(tgt=target)
        if slla:
            f = f / ICMPv6NDOptSrcLLAddr(lladdr=slla)
        return f / tag(i)

    return {
        "control-na": (1, na(1, V6["vm1"], mac)),
        "na-spoofed-target": (2, na(2, V6["vm2"], mac)),
        "na-wrong-tlla": (3, na(3, V6["vm1"], STRANGER)),
        "control-ns": (4, ns(4, V6["vm1"], V6["vm2"], mac)),
        "ns-wrong-slla": (5, ns(5, V6["vm1"], V6["vm2"], STRANGER)),
        "dad-ns-with-slla": (6, ns(6, "::", "fd00::77", mac)),
        "control-dad-ns": (7, ns(7, "::", "fd00::77", None)),
        "na-vip": (8, na(8, VIP, mac)),
    }


def _seen(ctx, send_and_capture, points, frames, labels):
    """{label: set of capture points that saw it}."""
    sent = [(l, frames[l][1]) for l in labels]
    seen = send_and_capture(sent, points)
    out = {l: set() for l in labels}
    for point, pkts in seen.items():
        for p in pkts:
            raw = bytes(p)
            for l in labels:
                if b"vfg" + bytes([frames[l][0]]) + b"nd" in raw:
                    out[l].add(point)
    return out


def _expect(ctx, seen, points, label, passes, why):
    for point in points:
        got = point in seen[label]
        ctx.check(got == passes, f"{label} {'reaches' if passes else 'does not reach'} {point} "
                  f"[{why}]: {'seen' if got else 'not seen'}")


def run(ctx, ping_expect, capture_points, send_and_capture):
    base = ctx.policy
    mac1 = "02:00:00:00:01:01"
    mac2 = "02:00:00:00:01:02"
    ctx.apply_policy(v6_policy(base), "adding fd00::11/fd00::12 and IPv6 rules")
    shown = subprocess.run(["tc", "filter", "show", "block", "100", "chain", str(ND_CHAIN)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    ctx.check("bpf" in shown and "vfguard_nd_check" in shown,
              f"the ND check (cls_bpf vfguard_nd_check) is attached in chain {ND_CHAIN}")
    try:
        for vm in V6:
            _enable_v6(vm, True)
            _ip(vm, "-6", "neigh", "flush", "dev", "eth0")
            _ip(vm, "addr", "add", f"{V6[vm]}/64", "dev", "eth0")
        for vm in V6:
            st = _addr_state(vm, V6[vm], timeout=8)
            ctx.check(st == "ok", f"DAD of {V6[vm]} on {vm} completes: {st}")
        # A duplicate: vm2 tries vm1's address. Its DAD NS (from ::, no SLLA)
        # must reach vm1 and vm1's NA for its own address must come back.
        _ip("vm2", "addr", "add", f"{V6['vm1']}/64", "dev", "eth0")
        st = _addr_state("vm2", V6["vm1"], timeout=8)
        ctx.check(st == "dadfailed", f"DAD on vm2 for vm1's {V6['vm1']} detects the duplicate "
                  f"through the pipeline: {st}")
        _ip("vm2", "addr", "del", f"{V6['vm1']}/64", "dev", "eth0")

        ping_expect(ctx, "vm1", V6["vm2"], True, "v6 ping, neighbour resolved by NS/NA")
        neigh = _ip("vm1", "-6", "neigh", "show", V6["vm2"], "dev", "eth0")
        ctx.check(mac2 in neigh and "PERMANENT" not in neigh,
                  f"vm1 learned vm2's MAC through NS/NA: {neigh.strip() or 'nothing'}")

        frames = _frames(mac1)
        points = capture_points()
        labels = ["control-na", "na-spoofed-target", "na-wrong-tlla", "control-ns",
                  "ns-wrong-slla", "dad-ns-with-slla", "control-dad-ns", "na-vip"]
        seen = _seen(ctx, send_and_capture, points, frames, labels)
        _expect(ctx, seen, points, "control-na", True, "vm1's own address, its own TLLA")
        _expect(ctx, seen, points, "na-spoofed-target", False, "target is vm2's address")
        _expect(ctx, seen, points, "na-wrong-tlla", False, "TLLA is not the source MAC")
        _expect(ctx, seen, points, "control-ns", True, "SLLA is the source MAC")
        _expect(ctx, seen, points, "ns-wrong-slla", False, "SLLA is not the source MAC")
        _expect(ctx, seen, points, "dad-ns-with-slla", False, "DAD NS must carry no SLLA")
        _expect(ctx, seen, points, "control-dad-ns", True, "DAD NS without SLLA")
        _expect(ctx, seen, points, "na-vip", False, "fd00::100 is not vm1's yet")

        _patch_vip(ctx, add=True)
        seen = _seen(ctx, send_and_capture, points, frames, ["na-vip"])
        _expect(ctx, seen, points, "na-vip", True, "the VIP is vm1's now")
        _patch_vip(ctx, add=False)
        seen = _seen(ctx, send_and_capture, points, frames, ["na-vip"])
        _expect(ctx, seen, points, "na-vip", False, "the VIP was removed")
        for p in points.values():
            p.close()
    finally:
        for vm in V6:
            _ip(vm, "-6", "addr", "flush", "dev", "eth0")
            _enable_v6(vm, False)
        ctx.apply_policy(base, "back to base.json")
