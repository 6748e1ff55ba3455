"""Traffic helpers for the e2e tests: sockets in network namespaces.

Sockets keep the network namespace they were created in, so the test process
creates each socket inside `netns(name)` (setns(2) on the calling thread) and
then uses it from anywhere: one process drives every namespace without a
python start-up per probe (slow under qemu TCG). Only the main thread switches
namespaces, and no thread is started while switched.

- L2Port: an AF_PACKET socket on one interface for crafted frames (scapy
  builds and parses them) and captures; VLAN tags the kernel moved to packet
  metadata are put back into the captured bytes.
- EchoServer / tcp_probe: real TCP connections with a payload echoed back.
- ping(): the real ping binary; dhcp(): busybox udhcpc.
"""

import contextlib
import ctypes
import os
import select
import socket
import struct
import subprocess
import tempfile
import threading
import time

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40

_libc = ctypes.CDLL(None, use_errno=True)
_root_ns = os.open("/proc/self/ns/net", os.O_RDONLY)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


@contextlib.contextmanager
def netns(name):
    """Runs the block in network namespace `name` (None: the root namespace)."""
    if name is None:
        yield
        return
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(fd)
        yield
    finally:
        _setns(_root_ns)
        os.close(fd)


class L2Port:
    """Raw frames in and out of one interface."""

    def __init__(self, ns, ifname):
        self.ns, self.ifname = ns, ifname
        with netns(ns):
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.bind((ifname, ETH_P_ALL))
        s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        s.setblocking(False)
        self.sock = s

    def close(self):
        self.sock.close()

    def send(self, frame):
        self.sock.send(bytes(frame))

    def drain(self):
        while self._recv_one() is not None:
            pass

    def _recv_one(self):
        try:
            data, anc, _, addr = self.sock.recvmsg(65535, socket.CMSG_SPACE(20))
        except BlockingIOError:
            return None
        if addr[2] == PACKET_OUTGOING:
            return b""  # our own or the namespace's own transmissions
        for level, typ, cdata in anc:
            if level == SOL_PACKET and typ == PACKET_AUXDATA and len(cdata) >= 20:
                status, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", cdata[:20])
                if status & TP_STATUS_VLAN_VALID:
                    if not status & TP_STATUS_VLAN_TPID_VALID:
                        tpid = 0x8100
                    data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
        return data

    def frames(self, duration):
        """Every frame received in the next `duration` seconds (bytes)."""
        out = []
        end = time.monotonic() + duration
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            while True:
                f = self._recv_one()
                if f is None:
                    break
                if f:
                    out.append(f)
        return out


class EchoServer:
    """TCP listener in a namespace; echoes whatever each connection sends."""

    def __init__(self, ns, port, addr="0.0.0.0"):
        with netns(ns):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            s.listen(16)
        self.sock, self.ns, self.port = s, ns, port
        self.accepted = 0
        self.conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    @staticmethod
    def _echo(c):
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def tcp_connect(ns, dst, port, timeout=2.0, src=None, sport=0):
    """A connected socket, or a string saying why not ('timeout', 'refused', ...)."""
    with netns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if src or sport:
        s.bind((src or "0.0.0.0", sport))
    s.settimeout(timeout)
    try:
        s.connect((dst, port))
    except socket.timeout:
        s.close()
        return "timeout"
    except ConnectionRefusedError:
        s.close()
        return "refused"
    except OSError as e:
        s.close()
        return f"error {e.strerror}"
    return s


def echo_roundtrip(s, payload, timeout=2.0):
    """Sends payload on a connected socket; True if it all comes back in time."""
    s.settimeout(timeout)
    try:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            d = s.recv(65536)
            if not d:
                return False
            got += d
        return got == payload
    except (socket.timeout, OSError):
        return False


def tcp_probe(ns, dst, port, timeout=2.0, src=None, sport=0):
    """'ok' (connected and echoed), 'timeout', 'refused', 'noecho' or an error."""
    s = tcp_connect(ns, dst, port, timeout, src, sport)
    if isinstance(s, str):
        return s
    ok = echo_roundtrip(s, b"vfguard-e2e %d\n" % port, timeout)
    s.close()
    return "ok" if ok else "noecho"


def ping(ns, dst, src=None, count=2, wait=2):
    """True if the real ping got at least one reply."""
    cmd = ["ip", "netns", "exec", ns, "ping", "-n", "-q", "-c", str(count), "-i", "0.3",
           "-W", str(wait)]
    if src:
        cmd += ["-I", src]
    r = subprocess.run(cmd + [dst], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=count * (wait + 1) + 10)
    return r.returncode == 0


_UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in bound|renew) echo "LEASE ip=$ip siaddr=$siaddr serverid=$serverid router=$router" ;; esac
exit 0
"""


def dhcp(ns, ifname="eth0", tries=3, wait=1):
    """Runs busybox udhcpc once; returns (lease ip or None, server id or None, output)."""
    d = tempfile.mkdtemp(prefix="vfg-udhcpc-")
    script = os.path.join(d, "script")
    with open(script, "w") as f:
        f.write(_UDHCPC_SCRIPT)
    os.chmod(script, 0o755)
    cmd = ["ip", "netns", "exec", ns, "busybox", "udhcpc", "-f", "-q", "-n", "-i", ifname,
           "-t", str(tries), "-T", str(wait), "-A", "1", "-s", script]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=tries * (wait + 2) + 15)
    ip = server = None
    for line in r.stdout.splitlines():
        if line.startswith("LEASE "):
            kv = dict(x.split("=", 1) for x in line.split()[1:] if "=" in x)
            ip, server = kv.get("ip") or None, kv.get("serverid") or None
    os.unlink(script)
    os.rmdir(d)
    return ip, server, r.stdout
