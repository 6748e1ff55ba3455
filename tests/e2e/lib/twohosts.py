"""Helpers for the VIP-failover and live-migration e2e tests.

- Api: the agent's JSON API over its unix socket (HTTP/1.1, docs/api.md).
- MapAgent: vfguard-agent in map mode with an explicit uplink/representor
  map, optionally inside a network namespace (a second "host").
- Two emulated hosts joined by one fabric (migration test):

    root namespace = host A               namespace hostb = host B
    repa_vm <--veth--> eth0  (mig_vm)     repb_vm <--veth--> eth0b (mig_vm, down
                                                             until the VM "moves")
    upla <--veth--> faba --+              uplb <--veth--> fabb --+
                           +--- bridge fbr (mig_fab), 10.0.0.1/24 +

  The VM namespace mig_vm has its eth0 behind host A's representor; at
  switch-over the test deletes that veth (the source VF goes away) and turns
  the pre-created eth0b behind host B's representor into eth0 (same MAC and
  IP). Sockets in mig_vm survive: they belong to the namespace, not the link.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import time

import agent as agentlib
from topology import sh


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10.0):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class Api:
    """Minimal client: request() returns (status, decoded JSON or text)."""

    def __init__(self, path):
        self.path = path

    def request(self, method, url, body=None, timeout=20.0):
        c = _UnixHTTPConnection(self.path, timeout)
        try:
            data = json.dumps(body) if body is not None else None
            c.request(method, url, body=data,
                      headers={"Content-Type": "application/json"} if data else {})
            r = c.getresponse()
            raw = r.read().decode(errors="replace")
        finally:
            c.close()
        try:
            return r.status, json.loads(raw) if raw else None
        except ValueError:
            return r.status, raw

    def wait_ready(self, timeout=90.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                st, _ = self.request("GET", "/readyz", timeout=5)
                if st == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.3)
        return False


class MapAgent(agentlib.Agent):
    """The agent with its own uplink/representor map, block, socket and
    state dir; `netns` runs it inside that namespace (`ip netns exec`, which
    execs, so the pid is the agent's)."""

    def __init__(self, binary, state_dir, policy_file, block, log_path, uplink, reps,
                 netns=None):
        super().__init__(binary, state_dir, policy_file, block, log_path)
        self.uplink, self.reps, self.netns = uplink, reps, netns
        self.api = Api(self.api_socket)

    def argv(self):
        a = [self.binary, f"--state_dir={self.state_dir}", f"--policy_file={self.policy_file}",
             "--eswitch_mode=map", f"--uplink={self.uplink}"]
        a += [f"--representor={vf}={rep}" for vf, rep in self.reps]
        a += [f"--block_index={self.block}", f"--api_socket={self.api_socket}",
              f"--metrics_listen=127.0.0.1:{self.metrics_port}", "--log_level=debug"]
        return (["ip", "netns", "exec", self.netns] if self.netns else []) + a

    def events(self, name, after=0):
        """logfmt records of `event=NAME` lines past line index `after`."""
        return [agentlib.logfmt(l) for l in self.lines()[after:] if f"event={name} " in l + " "]

    def wait_event(self, name, after=0, timeout=30.0, pred=lambda r: True):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for r in self.events(name, after):
                if pred(r):
                    return r
            if not self.running():
                return None
            time.sleep(0.1)
        return None

    def wait_port_state(self, port, state, timeout=30.0):
        end = time.monotonic() + timeout
        got = None
        while time.monotonic() < end:
            st, body = self.api.request("GET", f"/v1/ports/{port}/status")
            got = body.get("state") if st == 200 and isinstance(body, dict) else (st, body)
            if got == state:
                return True, got
            time.sleep(0.2)
        return False, got


# ------------------------------------------------------- two-host topology

VM_NS, HOSTB_NS, FAB_NS = "mig_vm", "hostb", "mig_fab"
REP_A, REP_B, UPL_A, UPL_B = "repa_vm", "repb_vm", "upla", "uplb"
FAB_A, FAB_B, FAB_BR = "faba", "fabb", "fbr"
VM = dict(mac="02:00:00:00:02:01", ip="10.0.0.21", plen=24, gw="10.0.0.1", vf=1)
FAB_IP = "10.0.0.1"
NAMESPACES = [VM_NS, HOSTB_NS, FAB_NS]


def _v6off(ifname, ns=None):
    sh("sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1", ns=ns, check=False)


def _kill_ns_pids(ns):
    r = sh("ip", "netns", "pids", ns, check=False)
    for pid in (r.stdout or "").split():
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


def down():
    for ns in NAMESPACES:
        _kill_ns_pids(ns)
        sh("ip", "netns", "del", ns, check=False)
    for link in (REP_A, UPL_A):
        sh("ip", "link", "del", "dev", link, check=False)


def leftovers():
    r = sh("ip", "netns", "list", check=False)
    present = {l.split()[0] for l in r.stdout.splitlines() if l.strip()}
    left = [f"netns {n}" for n in NAMESPACES if n in present]
    left += [f"link {l}" for l in (REP_A, UPL_A)
             if sh("ip", "link", "show", "dev", l, check=False).returncode == 0]
    return left


def up():
    down()
    for ns in NAMESPACES:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        for k in ("all", "default"):
            sh("sysctl", "-qw", f"net.ipv6.conf.{k}.disable_ipv6=1", ns=ns, check=False)
    # Fabric: one bridge joining both hosts' uplinks; the "server" address on it.
    sh("ip", "link", "add", FAB_BR, "type", "bridge", ns=FAB_NS)
    sh("ip", "link", "set", FAB_BR, "type", "bridge", "stp_state", "0", "forward_delay", "0",
       ns=FAB_NS)
    sh("ip", "addr", "add", f"{FAB_IP}/24", "dev", FAB_BR, ns=FAB_NS)
    sh("ip", "link", "set", FAB_BR, "up", ns=FAB_NS)
    # Host A: uplink and representor in the root namespace.
    sh("ip", "link", "add", UPL_A, "type", "veth", "peer", "name", FAB_A, "netns", FAB_NS)
    _v6off(UPL_A)
    sh("ip", "link", "set", FAB_A, "master", FAB_BR, ns=FAB_NS)
    sh("ip", "link", "set", FAB_A, "up", ns=FAB_NS)
    sh("ip", "link", "set", UPL_A, "up")
    sh("ip", "link", "add", REP_A, "type", "veth", "peer", "name", "eth0", "netns", VM_NS)
    _v6off(REP_A)
    sh("ip", "link", "set", REP_A, "up")
    # Host B: everything inside namespace hostb.
    sh("ip", "link", "add", UPL_B, "netns", HOSTB_NS, "type", "veth", "peer", "name", FAB_B,
       "netns", FAB_NS)
    sh("ip", "link", "set", FAB_B, "master", FAB_BR, ns=FAB_NS)
    sh("ip", "link", "set", FAB_B, "up", ns=FAB_NS)
    sh("ip", "link", "set", UPL_B, "up", ns=HOSTB_NS)
    # The destination VF exists before switch-over (pre-migration binding);
    # its VM end waits, down, in the VM namespace.
    sh("ip", "link", "add", REP_B, "netns", HOSTB_NS, "type", "veth", "peer", "name", "eth0b",
       "netns", VM_NS)
    sh("ip", "link", "set", REP_B, "up", ns=HOSTB_NS)
    sh("ip", "link", "set", "eth0b", "address", VM["mac"], ns=VM_NS)
    # The VM, running on host A.
    sh("ip", "link", "set", "eth0", "address", VM["mac"], ns=VM_NS)
    sh("ip", "addr", "add", f"{VM['ip']}/{VM['plen']}", "dev", "eth0", ns=VM_NS)
    sh("ip", "link", "set", "eth0", "up", ns=VM_NS)
    sh("ip", "route", "add", "default", "via", VM["gw"], ns=VM_NS)


def switch_over(workdir):
    """The VM now runs behind host B: the source VF is gone, the destination
    VF becomes eth0 with the same MAC and IP (one `ip -batch`, fast under
    TCG). Returns (monotonic time the old link was gone, time all was done)."""
    batch = os.path.join(workdir, "switch-over.ip")
    with open(batch, "w") as f:
        f.write("link set eth0b name eth0\n"
                f"addr add {VM['ip']}/{VM['plen']} dev eth0\n"
                "link set eth0 up\n"
                f"route replace default via {VM['gw']}\n")
    sh("ip", "-n", VM_NS, "link", "del", "eth0")          # also removes repa_vm
    t_del = time.monotonic()
    sh("ip", "-n", VM_NS, "-batch", batch)
    return t_del, time.monotonic()
