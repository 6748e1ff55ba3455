#!/usr/bin/python3
"""Emulated SR-IOV eswitch for the e2e tests and tools/demo.

    root namespace                       namespace
    rep_vm1  <--veth-->  eth0            vm1      flat network, 10.0.0.11
    rep_vm2  <--veth-->  eth0            vm2      flat network, 10.0.0.12
    rep_vm3  <--veth-->  eth0            vm3      vlan network (VLAN 100), 10.0.100.13
    upl0     <--veth-->  fab0            fabric   10.0.0.1/24 (+10.0.0.5), 192.0.2.1
                         fab0.100                 10.0.100.1/24 (VLAN 100 subinterface)

The rep_* ends and upl0 stay in the root namespace: they are the "VF
representors" and the "uplink representor" the agent attaches its shared tc
block to. The fabric namespace is the outside world: a real dnsmasq serves
DHCP for the flat network untagged on fab0 and for the vlan network on fab0.100,
with a fixed lease per VM MAC (the VM's fixed IP in the policy files), and
192.0.2.1 on its loopback is an "external" address the VMs reach through their
default route.

All names, MACs and addresses are fixed (see VMS / FABRIC below) so that the
policy files in tests/e2e/policies/ can name them. IPv6 is disabled on every
interface so that the kernel's own RS/DAD traffic does not mix with the frames
the tests craft. Setup is idempotent (it tears down whatever exists first);
teardown removes every namespace, veth, bridge and process it made.

Command line: topology.py up|down|status|bridge|unbridge [--state DIR]
"""

import os
import shutil
import signal
import subprocess
import sys
import time

VMS = {
    # name: representor, VF index, MAC, address/prefix, gateway, network id
    "vm1": dict(rep="rep_vm1", vf=1, mac="02:00:00:00:01:01", ip="10.0.0.11", plen=24,
                gw="10.0.0.1", network="flat"),
    "vm2": dict(rep="rep_vm2", vf=2, mac="02:00:00:00:01:02", ip="10.0.0.12", plen=24,
                gw="10.0.0.1", network="flat"),
    "vm3": dict(rep="rep_vm3", vf=3, mac="02:00:00:00:01:03", ip="10.0.100.13", plen=24,
                gw="10.0.100.1", network="vlan100"),
}
VLAN_ID = 100
UPLINK = "upl0"
FABRIC = dict(ns="fabric", ifname="fab0", mac="02:00:00:00:0f:01", ip="10.0.0.1",
              other_ip="10.0.0.5", vlan_if="fab0.100", vlan_ip="10.0.100.1",
              external_ip="192.0.2.1")
NAMESPACES = list(VMS) + [FABRIC["ns"]]
BRIDGE = "vfgbr0"  # only for the harness self-test (no agent)
DEFAULT_STATE = "/tmp/vfguard-e2e"


def sh(*args, check=True, ns=None, capture=True, timeout=30):
    """Runs a command (in namespace ns); returns CompletedProcess."""
    cmd = list(args)
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    r = subprocess.run(cmd, stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.STDOUT if capture else None, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout or ''}")
    return r


def _exists_link(name, ns=None):
    return sh("ip", "link", "show", "dev", name, check=False, ns=ns).returncode == 0


def _sysctl(key, value, ns=None):
    sh("sysctl", "-qw", f"{key}={value}", ns=ns, check=False)


def _kill_pidfile(path):
    try:
        pid = int(open(path).read().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.unlink(path)
    except OSError:
        pass


def down(state=DEFAULT_STATE):
    """Removes everything up() made; safe to call when nothing exists."""
    if os.path.isdir(state):
        for f in os.listdir(state):
            if f.endswith(".pid"):
                _kill_pidfile(os.path.join(state, f))
    for ns in NAMESPACES:
        # Processes left in a namespace (dnsmasq, udhcpc) keep it alive.
        r = sh("ip", "netns", "pids", ns, check=False)
        for pid in (r.stdout or "").split():
            if pid.isdigit():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        sh("ip", "netns", "del", ns, check=False)
    for link in [BRIDGE, UPLINK] + [v["rep"] for v in VMS.values()]:
        if _exists_link(link):
            sh("ip", "link", "del", "dev", link, check=False)
    shutil.rmtree(state, ignore_errors=True)


def _make_vm(name, v):
    ns = name
    sh("ip", "netns", "add", ns)
    sh("ip", "link", "set", "lo", "up", ns=ns)
    sh("ip", "link", "add", v["rep"], "type", "veth", "peer", "name", "eth0", "netns", ns)
    _sysctl(f"net.ipv6.conf.{v['rep']}.disable_ipv6", 1)
    _sysctl("net.ipv6.conf.all.disable_ipv6", 1, ns=ns)
    _sysctl("net.ipv6.conf.default.disable_ipv6", 1, ns=ns)
    _sysctl("net.ipv6.conf.eth0.disable_ipv6", 1, ns=ns)
    sh("ip", "link", "set", "dev", "eth0", "address", v["mac"], ns=ns)
    sh("ip", "addr", "add", f"{v['ip']}/{v['plen']}", "dev", "eth0", ns=ns)
    sh("ip", "link", "set", "dev", "eth0", "up", ns=ns)
    sh("ip", "route", "add", "default", "via", v["gw"], ns=ns)
    sh("ip", "link", "set", "dev", v["rep"], "up")


def make_representor(name):
    """(Re)creates one VM's veth pair (as after a VF reset); the namespace stays."""
    v = VMS[name]
    if _exists_link(v["rep"]):
        sh("ip", "link", "del", "dev", v["rep"])
    ns = name
    sh("ip", "link", "add", v["rep"], "type", "veth", "peer", "name", "eth0", "netns", ns)
    _sysctl(f"net.ipv6.conf.{v['rep']}.disable_ipv6", 1)
    _sysctl("net.ipv6.conf.eth0.disable_ipv6", 1, ns=ns)
    sh("ip", "link", "set", "dev", "eth0", "address", v["mac"], ns=ns)
    sh("ip", "addr", "add", f"{v['ip']}/{v['plen']}", "dev", "eth0", ns=ns)
    sh("ip", "link", "set", "dev", "eth0", "up", ns=ns)
    sh("ip", "route", "replace", "default", "via", v["gw"], ns=ns)
    sh("ip", "link", "set", "dev", v["rep"], "up")


def dnsmasq_args(state, ns, interfaces, ranges, hosts, tag):
    """A foreground dnsmasq doing DHCP only (port=0), logging to a file."""
    args = ["dnsmasq", "--keep-in-foreground", "--port=0", "--no-resolv", "--no-hosts",
            "--dhcp-authoritative", "--no-ping", "--user=root", "--group=root", "--log-dhcp",
            f"--log-facility={state}/{tag}.log", f"--pid-file={state}/{tag}.pid",
            f"--dhcp-leasefile={state}/{tag}.leases", "--bind-interfaces"]
    args += [f"--interface={i}" for i in interfaces]
    args += [f"--dhcp-range={r}" for r in ranges]
    args += [f"--dhcp-host={h}" for h in hosts]
    return ["ip", "netns", "exec", ns] + args


def start_dnsmasq(state, ns, interfaces, ranges, hosts, tag):
    """Starts dnsmasq; returns the Popen once it has written its pid file."""
    pidfile = f"{state}/{tag}.pid"
    try:
        os.unlink(pidfile)
    except OSError:
        pass
    out = open(f"{state}/{tag}.out", "w")
    p = subprocess.Popen(dnsmasq_args(state, ns, interfaces, ranges, hosts, tag),
                         stdout=out, stderr=subprocess.STDOUT)
    for _ in range(200):
        if os.path.exists(pidfile) and os.path.getsize(pidfile) > 0:
            return p
        if p.poll() is not None:
            raise RuntimeError(f"dnsmasq ({tag}) exited {p.returncode}: "
                               + open(f"{state}/{tag}.out").read())
        time.sleep(0.05)
    raise RuntimeError(f"dnsmasq ({tag}) wrote no pid file in 10 s")


def start_fabric_dhcp(state=DEFAULT_STATE):
    f = FABRIC
    hosts = [f"{v['mac']},{v['ip']}" for v in VMS.values()]
    return start_dnsmasq(state, f["ns"], [f["ifname"], f["vlan_if"]],
                         ["10.0.0.100,10.0.0.150,255.255.255.0,1h",
                          "10.0.100.100,10.0.100.150,255.255.255.0,1h"],
                         hosts, "fabric-dnsmasq")


def stop_fabric_dhcp(state=DEFAULT_STATE):
    _kill_pidfile(f"{state}/fabric-dnsmasq.pid")


def up(state=DEFAULT_STATE, dhcp=True):
    """Builds the topology from scratch (tearing down any previous one)."""
    down(state)
    os.makedirs(state, exist_ok=True)
    for name, v in VMS.items():
        _make_vm(name, v)
    f = FABRIC
    ns = f["ns"]
    sh("ip", "netns", "add", ns)
    sh("ip", "link", "set", "lo", "up", ns=ns)
    _sysctl("net.ipv6.conf.all.disable_ipv6", 1, ns=ns)
    _sysctl("net.ipv6.conf.default.disable_ipv6", 1, ns=ns)
    sh("ip", "link", "add", UPLINK, "type", "veth", "peer", "name", f["ifname"], "netns", ns)
    _sysctl(f"net.ipv6.conf.{UPLINK}.disable_ipv6", 1)
    sh("ip", "link", "set", "dev", f["ifname"], "address", f["mac"], ns=ns)
    _sysctl(f"net.ipv6.conf.{f['ifname']}.disable_ipv6", 1, ns=ns)
    sh("ip", "addr", "add", f"{f['ip']}/24", "dev", f["ifname"], ns=ns)
    sh("ip", "addr", "add", f"{f['other_ip']}/24", "dev", f["ifname"], ns=ns)
    sh("ip", "link", "set", "dev", f["ifname"], "up", ns=ns)
    sh("ip", "link", "add", "link", f["ifname"], "name", f["vlan_if"], "type", "vlan",
       "id", str(VLAN_ID), ns=ns)
    _sysctl(f"net.ipv6.conf.{f['vlan_if'].replace('.', '/')}.disable_ipv6", 1, ns=ns)
    sh("ip", "addr", "add", f"{f['vlan_ip']}/24", "dev", f["vlan_if"], ns=ns)
    sh("ip", "link", "set", "dev", f["vlan_if"], "up", ns=ns)
    sh("ip", "addr", "add", f"{f['external_ip']}/32", "dev", "lo", ns=ns)
    sh("ip", "link", "set", "dev", UPLINK, "up")
    if dhcp:
        start_fabric_dhcp(state)


def bridge(state=DEFAULT_STATE):
    """Harness self-test only: a VLAN-aware linux bridge in place of the agent.

    rep_vm1/rep_vm2 untagged in VLAN 1 (flat), rep_vm3 untagged in VLAN 100,
    upl0 carrying VLAN 1 untagged and VLAN 100 tagged: the forwarding the agent
    provides, with no filtering at all."""
    sh("ip", "link", "add", BRIDGE, "type", "bridge", "vlan_filtering", "1")
    _sysctl(f"net.ipv6.conf.{BRIDGE}.disable_ipv6", 1)
    for v in VMS.values():
        sh("ip", "link", "set", "dev", v["rep"], "master", BRIDGE)
    sh("ip", "link", "set", "dev", UPLINK, "master", BRIDGE)
    sh("bridge", "vlan", "del", "dev", VMS["vm3"]["rep"], "vid", "1")
    sh("bridge", "vlan", "add", "dev", VMS["vm3"]["rep"], "vid", str(VLAN_ID), "pvid", "untagged")
    sh("bridge", "vlan", "add", "dev", UPLINK, "vid", str(VLAN_ID))
    sh("ip", "link", "set", "dev", BRIDGE, "up")


def unbridge(state=DEFAULT_STATE):
    if _exists_link(BRIDGE):
        sh("ip", "link", "del", "dev", BRIDGE)


def status():
    """Lines describing what exists (for the demo and for debugging)."""
    out = []
    r = sh("ip", "netns", "list", check=False)
    out.append("namespaces: " + " ".join(l.split()[0] for l in r.stdout.splitlines() if l))
    r = sh("ip", "-br", "link", "show", check=False)
    names = [UPLINK, BRIDGE] + [v["rep"] for v in VMS.values()]
    out += [l for l in r.stdout.splitlines() if l.split("@")[0].split()[0] in names]
    return out


def leftovers():
    """Names of anything of ours that still exists (teardown check)."""
    left = []
    r = sh("ip", "netns", "list", check=False)
    present = {l.split()[0] for l in r.stdout.splitlines() if l.strip()}
    left += [f"netns {n}" for n in NAMESPACES if n in present]
    left += [f"link {l}" for l in [BRIDGE, UPLINK] + [v["rep"] for v in VMS.values()]
             if _exists_link(l)]
    return left


def main(argv):
    state = DEFAULT_STATE
    if "--state" in argv:
        i = argv.index("--state")
        state = argv[i + 1]
        del argv[i:i + 2]
    if len(argv) != 1 or argv[0] not in ("up", "down", "status", "bridge", "unbridge"):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    cmd = argv[0]
    if cmd == "up":
        up(state)
    elif cmd == "down":
        down(state)
        left = leftovers()
        if left:
            print("left over: " + ", ".join(left), file=sys.stderr)
            return 1
    elif cmd == "bridge":
        bridge(state)
    elif cmd == "unbridge":
        unbridge(state)
    for line in status():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
