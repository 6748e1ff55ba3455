#!/usr/bin/python3
"""End-to-end test of the operator surface: the JSON API, agentctl, metrics.

One process builds the emulated eswitch (tests/e2e/lib/topology.py), starts
vfguard-agent with an empty policy and then drives it only through its unix
socket, with real `curl --unix-socket` and with build/tools/agentctl/agentctl:

  api_create    networks, groups and ports created with curl and `agentctl apply`
  traffic       ping vm1 -> fabric blocked, allowed after a PUT of a group rule
  status        port status: placement (sw/trap, hw_errno 95 on veth), counters
                that grow with traffic; `agentctl rules/ports/status`
  trace         POST /v1/trace and `agentctl trace` verdicts equal what the same
                crafted frame really got (captured or not at its destination)
  bad_requests  malformed JSON, unknown field, bad IP, missing group, stale
                generation, huge body: right status, state and tc rules unchanged
  other_uid     a caller of uid 65534 gets 403 (curl and agentctl)
  events        GET /v1/events (curl -N) and `agentctl events` show the write's reconcile
  prometheus    a real Prometheus scrapes the agent; counters moved by the test's
                traffic read back through /api/v1/query; `promtool check metrics`

Exit 0 if every case passed, 1 if any failed, 77 (skip) with the reason when
root, a tool, python3-scapy, a kernel feature or a binary is missing.

  operator_e2e_test.py [--list] [--case NAME]... [--keep] [--seed]

--seed (diagnosis only) seeds network flat, group peer and port vm2 from the
policy file instead of starting empty.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

import topology  # noqa: E402
from topology import VMS, FABRIC  # noqa: E402

SKIP = 77
BLOCK = 101
STATE = "/tmp/vfguard-op-e2e"
NOBODY = 65534
UNKNOWN_UNICAST = "02:00:00:00:00:fe"  # the trace's default destination MAC
UPLINK_SRC_MAC = "02:00:00:00:00:fd"   # the trace's default source MAC from the uplink


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP)


def build_dir():
    root = os.path.abspath(os.path.join(HERE, "..", ".."))
    return os.environ.get("VFGUARD_BUILD_DIR", os.path.join(root, "build"))


def agentctl_binary():
    return os.environ.get("VFGUARD_AGENTCTL",
                          os.path.join(build_dir(), "tools", "agentctl", "agentctl"))


def probe_kernel():
    """Skips unless clsact blocks, cls_flower, act_ct and act_mirred work."""
    ns = "vfg-op-probe"
    subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    cmds = [
        ("network namespaces", ["ip", "netns", "add", ns]),
        ("veth", ["ip", "-n", ns, "link", "add", "p0", "type", "veth", "peer", "name", "p1"]),
        ("clsact with ingress_block", ["tc", "-n", ns, "qdisc", "add", "dev", "p0",
                                       "ingress_block", "9", "clsact"]),
        ("cls_flower", ["tc", "-n", ns, "filter", "add", "block", "9", "protocol", "all",
                        "pref", "9", "flower", "action", "gact", "pass"]),
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


def preflight():
    if os.geteuid() != 0:
        skip("needs root (run it through tools/vmrun)")
    for tool in ["ip", "tc", "ping", "dnsmasq", "sysctl", "curl", "setpriv", "prometheus",
                 "promtool"]:
        if not shutil.which(tool):
            skip(f"'{tool}' is not installed")
    try:
        import scapy  # noqa: F401
    except ImportError:
        skip(f"python3-scapy is not installed for {sys.executable}")
    from agent import default_binary
    for b in (default_binary(), agentctl_binary()):
        if not os.access(b, os.X_OK):
            skip(f"not built: {b}")
    probe_kernel()


# ----------------------------------------------------------------- context

class Ctx:
    def __init__(self, agent):
        self.agent = agent
        self.sock = agent.api_socket
        self.failed_checks = []
        self.tmp = os.path.join(STATE, "op")
        os.makedirs(self.tmp, exist_ok=True)
        self.prom = None
        self.seeded = False

    def check(self, ok, what):
        print(f"    {'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if not ok:
            self.failed_checks.append(what)
        return ok

    # --- curl
    def curl(self, method, path, body=None, uid=None, raw=None, headers=()):
        """Runs real curl against the API socket; returns (status, json or text).
        body: a python object sent as JSON; raw: bytes sent as they are."""
        cmd = []
        if uid is not None:
            cmd += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        cmd += ["curl", "-sS", "--max-time", "20", "--unix-socket", self.sock, "-X", method,
                "-o", "-", "-w", "\n%{http_code}", f"http://localhost{path}"]
        for h in headers:
            cmd += ["-H", h]
        if body is not None or raw is not None:
            data = raw if raw is not None else json.dumps(body).encode()
            fd, fname = tempfile.mkstemp(dir=self.tmp, suffix=".body")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(fname, 0o644)
            cmd += ["-H", "Content-Type: application/json", "--data-binary", f"@{fname}"]
        else:
            fname = None
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        if fname:
            os.unlink(fname)
        out = r.stdout.decode(errors="replace")
        text, _, code = out.rpartition("\n")
        try:
            status = int(code)
        except ValueError:
            status = 0
        if status == 0 and r.stderr:
            text += " [curl: " + r.stderr.decode(errors="replace").strip() + "]"
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def write(self, method, path, body, want, what):
        """A write that must succeed with `want`; then waits for the reconcile."""
        n = len(self.agent.reconciles())
        code, resp = self.curl(method, path, body)
        ok = self.check(code == want, f"curl -X {method} {path} -> {code} (want {want})"
                        + ("" if code == want else f": {str(resp)[:300]}"))
        if ok:
            self.wait_applied(n)
        return resp if ok else None

    def wait_applied(self, n):
        rec = self.agent.wait_reconciled(n, timeout=60)
        self.agent.settle(quiet=1.0, timeout=10)
        self.check(rec is not None and rec.get("errors") == "0",
                   f"agent reconciled after the write ({fmt_rec(rec)})")

    def state(self):
        """The whole desired state as the API shows it."""
        out = {}
        for p in ("/v1/networks", "/v1/security-groups", "/v1/ports"):
            code, resp = self.curl("GET", p)
            out[p] = (code, resp)
        return out

    # --- agentctl
    def agentctl(self, *args, uid=None):
        cmd = []
        if uid is not None:
            cmd += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        cmd += [agentctl_binary(), "--socket", self.sock] + list(args)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        return r.returncode, r.stdout, r.stderr


def fmt_rec(rec):
    if rec is None:
        return "no event=reconciled line"
    return " ".join(f"{k}={rec[k]}" for k in ("writes", "errors") if k in rec)


CASES = []


def case(name):
    def reg(fn):
        CASES.append((name, fn))
        return fn
    return reg


def ping_expect(ctx, ns, dst, want, why):
    from nsio import ping
    got = ping(ns, dst, count=3 if want else 2, wait=2 if want else 1)
    return ctx.check(got == want, f"ping {ns} -> {dst} {'answered' if want else 'unanswered'} "
                     f"[{why}]: {'replies' if got else 'no reply'}")


def rule_packets(status):
    return sum(int(r.get("packets", 0)) for r in status.get("rules", []))


# ------------------------------------------------------------------- cases
#
# Desired state built by api_create (all through the API):
#   network flat; group ops (stateful) with no rules at first; group peer
#   (stateful, by agentctl apply): ingress icmp from 10.0.0.0/24, egress all.
#   port vm1 (curl): flat, 10.0.0.11, groups [ops]; port vm2 (agentctl apply):
#   flat, 10.0.0.12, groups [peer].
# traffic then PUTs ops with: egress icmp.

SEED_VM2 = {
    "security_groups": [{"id": "peer", "stateful": True, "rules": [
        {"direction": "ingress", "protocol": "icmp", "remote_ip_prefix": "10.0.0.0/24"},
        {"direction": "egress"}]}],
    "ports": [{"id": "vm2", "network_id": "flat", "mac_address": VMS["vm2"]["mac"],
               "fixed_ips": [VMS["vm2"]["ip"]], "vf_index": VMS["vm2"]["vf"],
               "security_group_ids": ["peer"], "port_security_enabled": True}]}


@case("api_create")
def c_api_create(ctx):
    code, resp = ctx.curl("GET", "/v1/ports")
    want_ids = ["vm2"] if ctx.seeded else []
    ids = [p.get("id") for p in resp.get("items", [])] if isinstance(resp, dict) else resp
    ctx.check(code == 200 and ids == want_ids,
              f"{'seeded' if ctx.seeded else 'empty'} policy: GET /v1/ports -> {code}, ids {ids}")
    code, resp = ctx.curl("GET", "/readyz")
    ctx.check(code == 200, f"GET /readyz -> {code} {resp}")
    g0 = 1 if ctx.seeded else 0
    net = ctx.write("PUT", "/v1/networks/flat", {"segmentation": "flat"},
                    200 if ctx.seeded else 201, "create network flat")
    if net is not None:
        ctx.check(str(net.get("generation")) == str(g0 + 1) and net.get("id") == "flat",
                  f"network answers id=flat generation={g0 + 1}: {net}")
    net2 = ctx.write("PUT", "/v1/networks/flat", {"segmentation": "flat"}, 200,
                     "replace network flat")
    if net2 is not None:
        ctx.check(str(net2.get("generation")) == str(g0 + 2),
                  f"replace bumps generation to {g0 + 2}: {net2.get('generation')}")
    ctx.write("PUT", "/v1/security-groups/ops", {"stateful": True, "rules": []}, 201,
              "group ops without rules")
    v = VMS["vm1"]
    port = ctx.write("PUT", "/v1/ports/vm1", {
        "network_id": "flat", "mac_address": v["mac"], "fixed_ips": [v["ip"]],
        "vf_index": v["vf"], "security_group_ids": ["ops"], "port_security_enabled": True}, 201,
        "port vm1")
    if port is not None:
        ctx.check(port.get("security_group_ids") == ["ops"] and port.get("fixed_ips") == [v["ip"]],
                  f"port vm1 as stored: groups {port.get('security_group_ids')}, "
                  f"ips {port.get('fixed_ips')}, state {port.get('state')!r}")
    # vm2 and its group through agentctl apply -f.
    pol = SEED_VM2
    path = os.path.join(ctx.tmp, "apply.json")
    with open(path, "w") as f:
        json.dump(pol, f)
    n = len(ctx.agent.reconciles())
    rc, out, err = ctx.agentctl("apply", "-f", path)
    if ctx.check(rc == 0, f"agentctl apply -f (group peer, port vm2) exit {rc}: "
                 f"{(out + err).strip()[:300]}"):
        ctx.wait_applied(n)
    code, resp = ctx.curl("GET", "/v1/ports/vm2")
    ctx.check(code == 200 and resp.get("security_group_ids") == ["peer"],
              f"GET /v1/ports/vm2 after apply -> {code}, groups "
              f"{resp.get('security_group_ids') if isinstance(resp, dict) else resp}")
    rc, out, err = ctx.agentctl("ports")
    ctx.check(rc == 0 and "vm1" in out and "vm2" in out and v["ip"] in out,
              f"agentctl ports lists vm1 and vm2 (exit {rc}):\n"
              + "\n".join("        " + l for l in out.strip().splitlines()))
    rc, out, err = ctx.agentctl("groups", "-o", "json")
    try:
        ids = sorted(g["id"] for g in json.loads(out).get("items", []))
    except (ValueError, KeyError, AttributeError):
        ids = out.strip()[:200]
    ctx.check(rc == 0 and ids == ["ops", "peer"], f"agentctl groups -o json: {ids}")


@case("traffic")
def c_traffic(ctx):
    fab = FABRIC["ip"]
    ping_expect(ctx, "vm1", fab, False, "group ops has no egress rule")
    ping_expect(ctx, "vm1", VMS["vm2"]["ip"], False, "vm1's egress allows nothing")
    ping_expect(ctx, "vm2", fab, True, "group peer allows all egress (stateful reply)")
    code, cur = ctx.curl("GET", "/v1/security-groups/ops")
    gen = cur.get("generation") if isinstance(cur, dict) else None
    resp = ctx.write("PUT", "/v1/security-groups/ops", {
        "generation": gen, "stateful": True,
        "rules": [{"direction": "egress", "protocol": "icmp"}]}, 200,
        f"ops gets an egress icmp rule (generation {gen})")
    if resp is not None:
        ctx.check(int(resp.get("generation", 0)) == int(gen) + 1,
                  f"generation {gen} -> {resp.get('generation')}")
    ping_expect(ctx, "vm1", fab, True, "after the PUT: egress icmp allowed")
    ping_expect(ctx, "vm1", VMS["vm2"]["ip"], True, "vm1 egress icmp + vm2 ingress icmp")
    ping_expect(ctx, "fabric", VMS["vm1"]["ip"], False, "vm1 has no ingress rule")


def spoof_frames(count, tag):
    """UDP frames from vm1's MAC with a source IP that is not vm1's."""
    from scapy.all import Ether, IP, UDP, Raw
    v = VMS["vm1"]
    return [bytes(Ether(src=v["mac"], dst=FABRIC["mac"]) / IP(src="10.0.0.99", dst=FABRIC["ip"])
                  / UDP(sport=30000 + i, dport=9) / Raw(b"spoof-" + tag.encode()))
            for i in range(count)]


def send_spoofed(count, tag):
    from nsio import L2Port
    p = L2Port("vm1", "eth0")
    for f in spoof_frames(count, tag):
        p.send(f)
        time.sleep(0.01)
    p.close()


@case("status")
def c_status(ctx):
    code, st = ctx.curl("GET", "/v1/ports/vm1/status")
    if not ctx.check(code == 200 and isinstance(st, dict), f"GET /v1/ports/vm1/status -> {code}"):
        print(f"      {str(st)[:400]}")
        return
    rules = st.get("rules", [])
    places = {}
    for r in rules:
        places[r.get("placement")] = places.get(r.get("placement"), 0) + 1
    ctx.check(len(rules) > 0, f"{len(rules)} rules for vm1 (placements {places}), "
              f"zone {st.get('zone')}, representor {st.get('representor')} present "
              f"{st.get('representor_present')}")
    ctx.check(set(places) <= {"sw", "trap"} and places.get("hw", 0) == 0,
              "no rule is placed in hardware on veth (only sw/trap)")
    # The port's egress hook is never offered (mlx5 offloads no egress hook):
    # sw with no errno. Everything else was refused by the block's probe.
    hook = [r for r in rules if "egress hook" in r.get("origin", "")]
    bad = [r for r in rules if r.get("placement") in ("sw", "trap") and r not in hook
           and r.get("hw_errno") != 95]
    ctx.check(not bad and any(r.get("hw_errno") == 95 for r in rules),
              "every sw/trap rule outside the egress hook carries hw_errno 95 (EOPNOTSUPP, "
              "veth refuses skip_sw)" + (f"; not so: {bad[:2]}" if bad else ""))
    ctx.check(len(hook) > 0 and all(r.get("placement") == "sw" and not r.get("hw_errno")
                                    for r in hook),
              f"{len(hook)} egress-hook rules, all sw and never offered")
    before = rule_packets(st)
    drop_before = int(st.get("dropped_packets", 0))
    ping_expect(ctx, "vm1", FABRIC["ip"], True, "traffic for the counters")
    send_spoofed(10, "status")
    # Counters come from a cache the agent refreshes in the background when a
    # query finds it older than a second (counters_as_of says when it was
    # read): ask until a reading taken after the frames shows them.
    sent_at = time.time()
    deadline = time.monotonic() + 10
    while True:
        time.sleep(0.5)
        code, st2 = ctx.curl("GET", "/v1/ports/vm1/status")
        after = rule_packets(st2) if isinstance(st2, dict) else before
        drop_after = int(st2.get("dropped_packets", 0)) if isinstance(st2, dict) else drop_before
        if drop_after >= drop_before + 10 or time.monotonic() > deadline:
            break
    ctx.check(isinstance(st2, dict) and st2.get("counters_as_of", "") != "",
              f"port status says when its counters were read: {st2.get('counters_as_of')!r} "
              f"(frames sent at {time.strftime('%H:%M:%S', time.gmtime(sent_at))}Z)")
    ctx.check(after > before, f"vm1 rules' packet counters grew with traffic: {before} -> {after}")
    ctx.check(drop_after >= drop_before + 10,
              f"dropped_packets grew by >= 10 after 10 spoofed frames: {drop_before} -> "
              f"{drop_after}")
    rc, out, err = ctx.agentctl("rules", "--port", "vm1")
    lines = out.strip().splitlines()
    hdr = lines[0].split() if lines else []
    ctx.check(rc == 0 and all(c in hdr for c in ("CHAIN", "PRIO", "MATCH", "ACTION", "PLACEMENT",
                                                 "PACKETS", "BYTES")),
              f"agentctl rules --port vm1: exit {rc}, header {hdr}")
    ctx.check(len(lines) - 1 == len(st2.get("rules", [])),
              f"agentctl rules --port vm1 shows {len(lines) - 1} rows, the API "
              f"{len(st2.get('rules', []))} rules")
    for l in lines[:6]:
        print("        " + l[:150])
    rc, out, err = ctx.agentctl("rules", "--port", "vm1", "-o", "json")
    try:
        doc = json.loads(out)
        items = doc.get("items", doc.get("rules", doc)) if isinstance(doc, dict) else doc
        js_packets = sum(int(r.get("packets", 0)) for r in items)
    except (ValueError, AttributeError, TypeError):
        js_packets = None
    ctx.check(rc == 0 and js_packets is not None and js_packets >= after,
              f"agentctl rules --port vm1 -o json: packets sum {js_packets} >= {after}")
    rc, out, err = ctx.agentctl("status")
    ctx.check(rc == 0 and "ready" in out.lower(),
              f"agentctl status (exit {rc}):\n" + "\n".join("        " + l for l in
                                                            out.strip().splitlines()[:12]))
    dur = [l.split(":", 1)[1].strip() for l in out.splitlines()
           if l.startswith("Last reconcile duration:")]
    code, s = ctx.curl("GET", "/v1/status")
    api_dur = s.get("last_reconcile_duration_seconds") if isinstance(s, dict) else None
    ctx.check(bool(dur) and dur[0] != "<none>" and bool(api_dur),
              f"agentctl status shows the last reconcile duration ({dur[0] if dur else None!r}) "
              f"that GET /v1/status reports (last_reconcile_duration_seconds={api_dur})")
    rc, out, err = ctx.agentctl("port", "show", "vm1", "-o", "json")
    try:
        doc = json.loads(out)
    except ValueError:
        doc = {}
    ctx.check(rc == 0 and doc.get("port", {}).get("id") == "vm1"
              and len(doc.get("status", {}).get("rules", [])) == len(st2.get("rules", [])),
              f"agentctl port show vm1 -o json: exit {rc}, port {doc.get('port', {}).get('id')}, "
              f"{len(doc.get('status', {}).get('rules', []))} rules")
    ctx.check(code == 200 and s.get("ready") is True and int(s.get("reconciles", 0)) > 0
              and s.get("ports_by_state", {}).get("active") == 2,
              f"GET /v1/status: ready {s.get('ready')}, reconciles {s.get('reconciles')}, "
              f"ports_by_state {s.get('ports_by_state')}, rules_by_placement "
              f"{s.get('rules_by_placement')}")


# Packets for the trace case: (name, in (port id or "uplink"), packet text,
# scapy layers builder, where the policy says it must go).
def _trace_packets():
    from scapy.all import IP, UDP, TCP, ICMP
    v1, v2, fab = VMS["vm1"], VMS["vm2"], FABRIC["ip"]
    return [
        ("vm1 icmp echo -> fabric", "vm1", f"icmp {v1['ip']} -> {fab} type 8",
         lambda: IP(src=v1["ip"], dst=fab) / ICMP(type=8, id=0x7101, seq=1), "uplink"),
        ("vm1 tcp -> fabric:9", "vm1", f"tcp {v1['ip']}:40001 -> {fab}:9",
         lambda: IP(src=v1["ip"], dst=fab) / TCP(sport=40001, dport=9, flags="S"), None),
        ("vm1 spoofed udp -> fabric:53", "vm1", f"udp 10.0.0.99:40003 -> {fab}:53",
         lambda: IP(src="10.0.0.99", dst=fab) / UDP(sport=40003, dport=53), None),
        ("uplink tcp -> vm1:22", "uplink", f"tcp {fab}:40002 -> {v1['ip']}:22",
         lambda: IP(src=fab, dst=v1["ip"]) / TCP(sport=40002, dport=22, flags="S"), None),
        ("uplink icmp echo -> vm2", "uplink", f"icmp {fab} -> {v2['ip']} type 8",
         lambda: IP(src=fab, dst=v2["ip"]) / ICMP(type=8, id=0x7102, seq=1), "port:vm2"),
        ("vm1 icmp echo -> vm2", "vm1", f"icmp {v1['ip']} -> {v2['ip']} type 8",
         lambda: IP(src=v1["ip"], dst=v2["ip"]) / ICMP(type=8, id=0x7103, seq=1), "port:vm2"),
    ]


def _same_l3(frame, ref):
    """True if a captured frame carries the IP packet `ref` (scapy) describes."""
    from scapy.all import Ether, IP, TCP, UDP, ICMP
    try:
        e = Ether(frame)
    except Exception:
        return False
    if IP not in e or e[IP].src != ref[IP].src or e[IP].dst != ref[IP].dst:
        return False
    for L in (TCP, UDP):
        if L in ref:
            return L in e and e[L].sport == ref[L].sport and e[L].dport == ref[L].dport
    if ICMP in ref:
        return ICMP in e and e[ICMP].type == ref[ICMP].type and e[ICMP].id == ref[ICMP].id
    return False


@case("trace")
def c_trace(ctx):
    from scapy.all import Ether
    from nsio import L2Port
    code, ports = ctx.curl("GET", "/v1/ports")
    macs = {p["id"]: p["mac_address"] for p in ports.get("items", [])}
    ip_owner = {ip: p["id"] for p in ports.get("items", []) for ip in p.get("fixed_ips", [])}
    watch = {"uplink": (FABRIC["ns"], FABRIC["ifname"]),
             "port:vm1": ("vm1", "eth0"), "port:vm2": ("vm2", "eth0")}
    for name, inp, text, build, policy_out in _trace_packets():
        l3 = build()
        dst_ip = l3.dst
        # The MACs the trace fills in when none are given (docs/api.md), so that
        # the API, agentctl and the real frame describe the same packet.
        src_mac = macs[inp] if inp != "uplink" else UPLINK_SRC_MAC
        dst_mac = macs[ip_owner[dst_ip]] if dst_ip in ip_owner else UNKNOWN_UNICAST
        req = {"packet": text, "src_mac": src_mac, "dst_mac": dst_mac}
        req.update({"in": "uplink"} if inp == "uplink" else {"in_port": inp})
        code, tr = ctx.curl("POST", "/v1/trace", req)
        if not ctx.check(code == 200 and isinstance(tr, dict),
                         f"[{name}] POST /v1/trace {json.dumps(req)} -> {code}"):
            print(f"      {str(tr)[:400]}")
            continue
        verdict = tr.get("verdict")
        outs = sorted(d.get("out") for d in tr.get("deliveries", []))
        inst = tr.get("installed", {})
        ctx.check(inst.get("verdict") == verdict and
                  sorted(d.get("out") for d in inst.get("deliveries", [])) == outs,
                  f"[{name}] evaluator {verdict} {outs} == installed rules "
                  f"{inst.get('verdict')} {sorted(d.get('out') for d in inst.get('deliveries', []))}")
        for step in tr.get("trace", [])[:8]:
            print(f"        trace: {json.dumps(step)[:160]}")
        args = ["-o", "json", "trace"] + (["--from-uplink"] if inp == "uplink" else
                                          ["--port", inp]) + [text]
        rc, out, err = ctx.agentctl(*args)
        try:
            ac = json.loads(out)
        except ValueError:
            ac = {}
        ctx.check(rc == 0 and ac.get("verdict") == verdict,
                  f"[{name}] agentctl trace {' '.join(args[3:])!r}: exit {rc}, verdict "
                  f"{ac.get('verdict')} (API {verdict}){' ' + err.strip()[:200] if rc else ''}")
        # Now the real frame.
        frame = bytes(Ether(src=src_mac, dst=dst_mac) / l3)
        caps = {k: L2Port(*w) for k, w in watch.items()}
        for c in caps.values():
            c.drain()
        sender = L2Port(*(watch["uplink"] if inp == "uplink" else watch[f"port:{inp}"]))
        sender.send(frame)
        time.sleep(0.05)
        sender.send(frame)
        arrived = []
        t_end = time.monotonic() + 1.5
        for k, c in caps.items():
            got = c.frames(max(0.1, t_end - time.monotonic()))
            if any(_same_l3(f, l3) for f in got):
                arrived.append(k)
            c.close()
        sender.close()
        arrived = sorted(a for a in arrived if a != (f"port:{inp}" if inp != "uplink"
                                                     else "uplink"))
        real = "delivered" if arrived else "dropped"
        ctx.check(real == verdict and arrived == outs,
                  f"[{name}] the real frame was {real} (seen at {arrived or 'nowhere'}); "
                  f"trace said {verdict} {outs}")
        want = "delivered" if policy_out else "dropped"
        ctx.check(verdict == want and (not policy_out or outs == [policy_out]),
                  f"[{name}] and that is what the policy asks: {want} {policy_out or ''}")


def _err(resp):
    return resp.get("error", {}) if isinstance(resp, dict) else {}


def _filters_snapshot():
    from agent import tc_filters, tc_filter_key
    return sorted(tc_filter_key(l) for l in tc_filters(BLOCK))


@case("bad_requests")
def c_bad_requests(ctx):
    before = ctx.state()
    tc_before = _filters_snapshot()
    n_rec = len(ctx.agent.reconciles())
    code, ops = ctx.curl("GET", "/v1/security-groups/ops")
    gen = int(ops.get("generation", 0))
    v1 = VMS["vm1"]
    good_port = {"network_id": "flat", "mac_address": v1["mac"], "fixed_ips": [v1["ip"]],
                 "vf_index": v1["vf"], "security_group_ids": ["ops"]}
    cases = [
        ("malformed JSON", "PUT", "/v1/security-groups/ops", None,
         b'{"stateful": true, "rules": [', 400, "invalid_argument", None),
        ("unknown field", "PUT", "/v1/security-groups/ops",
         {"stateful": True, "rules": [], "bogus": 1}, None, 400, "invalid_argument", "bogus"),
        ("bad IP", "PUT", "/v1/ports/vm1", dict(good_port, fixed_ips=["10.0.0.300"]), None,
         400, "invalid_argument", "=ports[vm1].fixed_ips[0]"),
        ("bad IP in a rule", "PUT", "/v1/security-groups/ops",
         {"rules": [{"direction": "egress", "remote_ip_prefix": "10.0.0.0/33"}]}, None,
         400, "invalid_argument", "=security_groups[ops].rules[0].remote_ip_prefix"),
        ("unknown nested field", "PUT", "/v1/security-groups/ops",
         {"rules": [{"direction": "egress", "colour": "red"}]}, None, 400, "invalid_argument",
         "colour"),
        ("missing group", "PUT", "/v1/ports/vm1",
         dict(good_port, security_group_ids=["ops", "nope"]), None, 400, "invalid_argument",
         "=ports[vm1].security_group_ids[1]"),
        ("missing group (PATCH)", "PATCH", "/v1/ports/vm1", {"security_group_ids": ["nope"]},
         None, 400, "invalid_argument", "=ports[vm1].security_group_ids[0]"),
        ("missing network", "PUT", "/v1/ports/vm9",
         dict(good_port, network_id="nonet", mac_address="02:00:00:00:01:09",
              fixed_ips=["10.0.0.19"], vf_index=9), None, 400, "invalid_argument",
         "=ports[vm9].network_id"),
        ("id in body differs", "PUT", "/v1/ports/vm1", dict(good_port, id="vm7"), None, 400,
         "invalid_argument", None),
        ("unknown port", "GET", "/v1/ports/vm7", None, None, 404, "not_found", None),
        ("wrong method", "POST", "/v1/networks/flat", {"segmentation": "flat"}, None, 405,
         "method_not_allowed", None),
        ("stale generation", "PUT", "/v1/security-groups/ops",
         {"generation": gen - 1, "stateful": True, "rules": []}, None, 409, "aborted", None),
        ("stale generation (PATCH)", "PATCH", "/v1/ports/vm1",
         {"generation": 99, "vips": ["10.0.0.100"]}, None, 409, "aborted", None),
        ("generation on create", "PUT", "/v1/security-groups/newgrp",
         {"generation": 3, "rules": []}, None, 409, "aborted", None),
        ("delete a group in use", "DELETE", "/v1/security-groups/ops", None, None, 409,
         "failed_precondition", None),
        ("delete a network in use", "DELETE", "/v1/networks/flat", None, None, 409,
         "failed_precondition", None),
        ("huge body (2 MiB)", "PUT", "/v1/security-groups/ops", None,
         b'{"rules": [' + b'{"direction": "egress"},' * 90000 + b'{"direction": "egress"}]}',
         413, "payload_too_large", None),
        ("huge header (9 KiB)", "GET", "/v1/status", None, None, 431, "headers_too_large",
         None),
    ]
    for what, method, path, body, raw, want, want_code, field in cases:
        hdrs = ["X-Padding: " + "x" * 9216] if "header" in what else []
        code, resp = ctx.curl(method, path, body, raw=raw, headers=hdrs)
        e = _err(resp)
        ok = code == want and e.get("code") == want_code
        if field is not None and field.startswith("="):
            ok = ok and e.get("field") == field[1:]
        elif field is not None:
            ok = ok and field in e.get("field", "")
        ctx.check(ok, f"{what}: {method} {path} -> {code} {e.get('code')} "
                  f"field={e.get('field')!r} (want {want} {want_code}"
                  f"{' field ' + field if field else ''}): {e.get('message', resp)!s:.160}")
    after = ctx.state()
    for p in before:
        ctx.check(before[p] == after[p], f"GET {p} unchanged by the refused requests"
                  + ("" if before[p] == after[p] else f": {before[p]} -> {after[p]}"))
    time.sleep(1.0)
    ctx.check(_filters_snapshot() == tc_before,
              f"tc filters in block {BLOCK} unchanged ({len(tc_before)} filters)")
    # Retries of writes that failed before (errors=N) may run meanwhile; a
    # refused request must not make any tc write succeed.
    recs = ctx.agent.reconciles()[n_rec:]
    writes = sum(int(r.get("writes", "0") or 0) for r in recs)
    errors = sum(int(r.get("errors", "0") or 0) for r in recs)
    ctx.check(writes - errors == 0, f"reconciles since the first refused request made no "
              f"successful tc write ({len(recs)} passes, {writes} writes, {errors} failed)")
    rc, out, err = ctx.agentctl("delete", "group", "ops")
    ctx.check(rc != 0 and "409" in err, f"agentctl delete group ops (in use): exit {rc}: "
              f"{err.strip()[:200]}")


@case("other_uid")
def c_other_uid(ctx):
    before = ctx.state()
    mode = os.stat(ctx.sock).st_mode & 0o777
    os.chmod(ctx.sock, 0o666)  # the agent has no flag for the mode; widen the file
    print(f"      socket mode was {mode:o}, now 666 so that uid {NOBODY} can connect")
    code, resp = ctx.curl("GET", "/v1/status", uid=NOBODY)
    ctx.check(code == 403 and _err(resp).get("code") == "permission_denied",
              f"uid {NOBODY}: GET /v1/status -> {code} {_err(resp).get('code')}: "
              f"{_err(resp).get('message', resp)!s:.120}")
    code, resp = ctx.curl("PUT", "/v1/security-groups/ops", {"rules": []}, uid=NOBODY)
    ctx.check(code == 403, f"uid {NOBODY}: PUT /v1/security-groups/ops -> {code}")
    code, resp = ctx.curl("DELETE", "/v1/ports/vm2", uid=NOBODY)
    ctx.check(code == 403, f"uid {NOBODY}: DELETE /v1/ports/vm2 -> {code}")
    rc, out, err = ctx.agentctl("ports", uid=NOBODY)
    ctx.check(rc != 0 and "403" in err, f"uid {NOBODY}: agentctl ports exit {rc}: "
              f"{err.strip()[:200]}")
    code, resp = ctx.curl("GET", "/v1/status")
    ctx.check(code == 200, f"root still gets GET /v1/status -> {code}")
    after = ctx.state()
    ctx.check(after == before, "desired state unchanged by the refused caller")
    os.chmod(ctx.sock, mode)


@case("events")
def c_events(ctx):
    """GET /v1/events (curl -N) and agentctl events see what a write made the agent do."""
    stream = subprocess.Popen(["curl", "-sS", "-N", "--max-time", "12", "--unix-socket",
                               ctx.sock, "http://localhost/v1/events"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    actl = subprocess.Popen([agentctl_binary(), "--socket", ctx.sock, "-o", "json", "events",
                             "--idle", "6"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(1.5)
    # A write that changes rules (vm1's port security gains a VIP), so the
    # agent publishes policy_changed and a reconciled event with writes > 0.
    ctx.write("PATCH", "/v1/ports/vm1", {"vips": ["10.0.0.111"]}, 200,
              "PATCH vm1 vips while the streams are open")
    out, err = stream.communicate(timeout=30)
    events = []
    for l in out.splitlines():
        try:
            events.append(json.loads(l))
        except ValueError:
            pass
    kinds = sorted({e.get("kind") for e in events if isinstance(e, dict)})
    ctx.check(len(events) > 0 and len(events) == len([l for l in out.splitlines() if l.strip()])
              and all("time" in e and "kind" in e for e in events),
              f"curl -N /v1/events: {len(events)} NDJSON events, kinds {kinds}"
              + (f" (curl: {err.strip()[:100]})" if not events else ""))
    rec = [e for e in events if e.get("kind") == "reconciled"]
    ctx.check("policy_changed" in kinds and any(int(e.get("fields", {}).get("writes", 0)) > 0
                                                for e in rec),
              f"the stream shows the API change and the reconcile it caused: "
              f"{[e.get('fields') for e in rec][:2]}")
    try:
        aout, aerr = actl.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        actl.kill()
        aout, aerr = actl.communicate()
    alines = [l for l in aout.splitlines() if l.strip()]
    try:
        akinds = sorted({json.loads(l).get("kind") for l in alines})
    except ValueError:
        akinds = None
    ctx.check(actl.returncode == 0 and akinds is not None and "reconciled" in akinds
              and "policy_changed" in akinds,
              f"agentctl events --idle 6 -o json: exit {actl.returncode}, {len(alines)} events, "
              f"kinds {akinds}{' ' + aerr.strip()[:150] if actl.returncode else ''}")
    code, port = ctx.curl("GET", "/v1/ports/vm1")
    ctx.check(code == 200 and port.get("vips") == ["10.0.0.111"],
              f"GET /v1/ports/vm1 shows the PATCHed vips {port.get('vips')}")
    ctx.write("PATCH", "/v1/ports/vm1", {"vips": []}, 200, "PATCH vm1 vips back to none")


def prom_query(port, q):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.load(r)
    res = doc.get("data", {}).get("result", [])
    return float(res[0]["value"][1]) if res else None


def prom_wait(port, q, pred, timeout):
    end = time.monotonic() + timeout
    v = None
    while time.monotonic() < end:
        try:
            v = prom_query(port, q)
        except OSError:
            v = None
        if v is not None and pred(v):
            return v, True
        time.sleep(0.5)
    return v, False


@case("prometheus")
def c_prometheus(ctx):
    from agent import free_port
    mport = ctx.agent.metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10) as r:
        expo = r.read()
        ctype = r.headers.get("Content-Type")
    r = subprocess.run(["promtool", "check", "metrics"], input=expo, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    ctx.check(r.returncode == 0, f"promtool check metrics on {len(expo)} bytes ({ctype}): "
              f"exit {r.returncode} {r.stdout.decode(errors='replace').strip()[:300]}")
    if r.returncode != 0:
        text = expo.decode(errors="replace").splitlines()
        for bad in sorted({w for l in r.stdout.decode(errors="replace").splitlines()
                           for w in l.split()[:1]}):
            for l in text:
                if l.startswith(("# TYPE " + bad + " ", "# HELP " + bad + " ")):
                    print(f"      exposition: {l}")
    names = sorted({l.split()[2] for l in expo.decode().splitlines() if l.startswith("# TYPE")})
    print(f"      metric families: {' '.join(names)}")
    d = tempfile.mkdtemp(prefix="prom-", dir=ctx.tmp)
    pport = free_port()
    cfg = os.path.join(d, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: vfguard\n    scrape_interval: 1s\n"
                "    scrape_timeout: 1s\n    static_configs:\n"
                f"      - targets: ['127.0.0.1:{mport}']\n")
    log = open(os.path.join(d, "prometheus.log"), "w")
    ctx.prom = subprocess.Popen(["prometheus", f"--config.file={cfg}",
                                 f"--storage.tsdb.path={d}/data",
                                 f"--web.listen-address=127.0.0.1:{pport}"],
                                stdout=log, stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    up, ok = prom_wait(pport, 'up{job="vfguard"}', lambda v: v == 1, 90)
    if not ctx.check(ok, f"prometheus on 127.0.0.1:{pport} scrapes the agent: up={up} after "
                     f"{time.monotonic() - t0:.1f} s"):
        log.flush()
        print(open(os.path.join(d, "prometheus.log")).read()[-1500:])
        return
    # Dataplane counter: spoofed frames from vm1 hit its default-drop rules.
    q = 'vfguard_port_dropped_packets_total{port="vm1"}'
    v0, ok = prom_wait(pport, q, lambda v: True, 10)
    ctx.check(ok, f"{q} is scraped: {v0}")
    if ok:
        send_spoofed(20, "prom")
        v1, ok = prom_wait(pport, q, lambda v: v >= v0 + 20, 20)
        ctx.check(ok, f"{q} read through /api/v1/query moved {v0} -> {v1} after 20 spoofed "
                  "frames (want +20)")
    # API counter: our own requests.
    q = 'vfguard_api_requests_total{route="/v1/status",code="200"}'
    a0, _ = prom_wait(pport, q, lambda v: True, 5)
    a0 = a0 or 0.0
    for _ in range(7):
        ctx.curl("GET", "/v1/status")
    a1, ok = prom_wait(pport, q, lambda v: v >= a0 + 7, 20)
    ctx.check(ok, f"{q} moved {a0} -> {a1} after 7 GET /v1/status (want +7)")
    q = 'vfguard_api_requests_total{route="/v1/security-groups/{id}",code="409"}'
    v, ok = prom_wait(pport, q, lambda v: v >= 1, 5)
    ctx.check(ok, f"{q} = {v} (the stale/in-use writes of bad_requests)")
    q = 'sum(vfguard_reconcile_total{result="ok"})'
    v, ok = prom_wait(pport, q, lambda v: v >= 1, 5)
    ctx.check(ok, f"{q} = {v}")


# -------------------------------------------------------------------- main

def main(argv):
    keep = "--keep" in argv
    wanted = [argv[i + 1] for i, a in enumerate(argv) if a == "--case" and i + 1 < len(argv)]
    if "--list" in argv:
        for n, _ in CASES:
            print(n)
        return 0
    unknown = [w for w in wanted if w not in [n for n, _ in CASES]]
    if unknown:
        print(f"unknown case(s): {' '.join(unknown)}", file=sys.stderr)
        return 2
    cases = [(n, f) for n, f in CASES if not wanted or n in wanted]
    preflight()
    from agent import Agent, default_binary, log_dir
    t_start = time.monotonic()
    print("== setting up the emulated eswitch", flush=True)
    topology.up(STATE)
    policy_path = os.path.join(STATE, "policy.json")
    with open(policy_path, "w") as f:
        if "--seed" in argv:
            # Diagnosis only: network flat, group peer and port vm2 from the
            # file, so that vm1 is added to a network that already has a port.
            json.dump(dict(SEED_VM2, networks=[{"id": "flat", "segmentation": "flat"}]), f)
            print("   --seed: the policy file seeds network flat, group peer, port vm2")
        else:
            f.write("{}\n")
    agent = Agent(default_binary(), os.path.join(STATE, "agent-state"), policy_path, BLOCK,
                  os.path.join(STATE, "agent.log"))
    # The socket in a directory other uids may traverse (the other_uid case).
    sockdir = os.path.join(STATE, "api")
    os.makedirs(sockdir, exist_ok=True)
    os.chmod(STATE, 0o755)
    os.chmod(sockdir, 0o755)
    agent.api_socket = os.path.join(sockdir, "agent.sock")
    ctx = Ctx(agent)
    ctx.seeded = "--seed" in argv
    results = []
    try:
        agent.start()
        rec = agent.wait_reconciled(0, timeout=90)
        t0 = time.monotonic()
        while rec is not None and not os.path.exists(agent.api_socket) \
                and time.monotonic() - t0 < 20:
            time.sleep(0.2)
        if rec is None or not os.path.exists(agent.api_socket):
            print(f"FAIL: agent not up (reconcile: {fmt_rec(rec)}, socket "
                  f"{os.path.exists(agent.api_socket)}, running {agent.running()}):")
            for l in agent.tail(30):
                print("  " + l)
            return 1
        print(f"   agent up ({'seeded' if ctx.seeded else 'empty policy'}): first reconcile {fmt_rec(rec)}", flush=True)
        agent.settle(quiet=1.0, timeout=10)
        for name, fn in cases:
            print(f"== {name}", flush=True)
            t0 = time.monotonic()
            before = len(ctx.failed_checks)
            try:
                fn(ctx)
            except Exception:
                traceback.print_exc()
                ctx.failed_checks.append(f"{name}: exception")
            ok = len(ctx.failed_checks) == before
            if not agent.running():
                ctx.check(False, f"agent is still running (exited {agent.proc.returncode})")
                ok = False
                for l in agent.tail(20):
                    print("      " + l)
            results.append((name, ok, time.monotonic() - t0))
            print(f"-- {name}: {'PASS' if ok else 'FAIL'} ({time.monotonic() - t0:.1f} s)",
                  flush=True)
            if not agent.running():
                break
    finally:
        if ctx.prom is not None:
            ctx.prom.terminate()
            try:
                ctx.prom.wait(timeout=15)
            except subprocess.TimeoutExpired:
                ctx.prom.kill()
                ctx.prom.wait()
        if not keep:
            code = agent.stop()
            print(f"   agent stopped (exit {code})")
            errs = [l for l in agent.lines() if "level=error" in l or "level=warn" in l]
            for l in errs[-10:]:
                print("   agent: " + l)
            log_copy = None
            if os.path.exists(agent.log_path):
                log_copy = os.path.join(log_dir(), "operator_e2e_test.agent.log")
                shutil.copy(agent.log_path, log_copy)
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
