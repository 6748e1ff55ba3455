#!/usr/bin/python3
"""e2e: a virtual IP moving between two VMs with real keepalived (VRRP).

vm1 and vm2 (flat network, policies/vip.json) both have 10.0.0.100 in their
port's `vips` and run keepalived (unicast VRRP, virtual_router_id 51,
advert_int 1; vm1 priority 150, vm2 100). Each VM runs a UDP responder on
VIP:5000 that answers with its own name. A client in the fabric namespace
sends one numbered datagram to the VIP every 50 ms and records who answered.

1. vm1 becomes master and answers.
2. keepalived on vm1 is stopped (SIGTERM): vm2 takes the VIP and announces
   it with gratuitous ARPs, which must reach the fabric; the client's traffic
   must resume, answered by vm2. Printed: datagrams lost and the gap.
3. Positive control: vm1 (still allowed: the VIP is in its port) sends a UDP
   frame with the VIP as source; the fabric sees it.
4. PATCH /v1/ports/vm1 {"vips": []}: the same frame from vm1 is no longer
   seen in the fabric, nor is vm1's GARP for the VIP; vm2 still answers.

Exit 0 pass, 1 fail, 77 skip (no root / kernel features / keepalived / agent).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

import topology  # noqa: E402
from topology import VMS, FABRIC  # noqa: E402

SKIP = 77
BLOCK = 110
STATE = "/tmp/vfguard-e2e-vip"
VIP = "10.0.0.100"
UDP_PORT = 5000
INTERVAL = 0.05
KEEPALIVED = "/usr/sbin/keepalived"
IP_FREEBIND = 15

failed = []


def check(ok, what):
    print(f"    {'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        failed.append(what)
    return ok


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP)


def keepalived_conf(me, peer, prio):
    return f"""global_defs {{
  router_id {me}
  vrrp_garp_master_repeat 3
  vrrp_garp_master_refresh 0
}}
vrrp_instance VIP_E2E {{
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority {prio}
  advert_int 1
  unicast_src_ip {VMS[me]['ip']}
  unicast_peer {{
    {VMS[peer]['ip']}
  }}
  virtual_ipaddress {{
    {VIP}/24 dev eth0
  }}
}}
"""


class Keepalived:
    def __init__(self, vm, peer, prio):
        self.vm = vm
        d = os.path.join(STATE, f"keepalived-{vm}")
        os.makedirs(d, exist_ok=True)
        self.conf = os.path.join(d, "keepalived.conf")
        with open(self.conf, "w") as f:
            f.write(keepalived_conf(vm, peer, prio))
        self.log = os.path.join(d, "keepalived.log")
        self.argv = ["ip", "netns", "exec", vm, KEEPALIVED, "-n", "-l", "-D", "-P",
                     "-f", self.conf, "-p", os.path.join(d, "k.pid"),
                     "-r", os.path.join(d, "vrrp.pid")]
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=open(self.log, "a"),
                                     stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, n=8):
        try:
            return open(self.log, errors="replace").read().splitlines()[-n:]
        except OSError:
            return []


def has_vip(vm):
    r = topology.sh("ip", "-4", "-o", "addr", "show", "dev", "eth0", ns=vm, check=False)
    return f" {VIP}/" in r.stdout


def wait_for(pred, timeout, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


class Responder:
    """UDP on VIP:5000 (IP_FREEBIND: bound before the address exists here);
    answers '<vm> <payload>' from the VIP."""

    def __init__(self, vm):
        from nsio import netns
        with netns(vm):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        s.bind((VIP, UDP_PORT))
        s.settimeout(0.5)
        self.sock, self.vm, self.stopped = s, vm, False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stopped:
            try:
                d, a = self.sock.recvfrom(2048)
                self.sock.sendto(self.vm.encode() + b" " + d, a)
            except socket.timeout:
                continue
            except OSError:
                if self.stopped:
                    return
                time.sleep(0.05)

    def close(self):
        self.stopped = True
        self.sock.close()


class Client:
    """Sends seq numbers to VIP:5000 every INTERVAL from the fabric; records
    replies: seq -> (responder, receive time)."""

    def __init__(self):
        from nsio import netns
        with netns(FABRIC["ns"]):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((FABRIC["ip"], 0))
        s.settimeout(0.02)
        self.sock = s
        self.sent = {}      # seq -> send time
        self.replies = {}   # seq -> (vm, time)
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        seq = 0
        next_send = time.monotonic()
        while not self.stopped:
            now = time.monotonic()
            if now >= next_send:
                self.sent[seq] = now
                try:
                    self.sock.sendto(b"%d" % seq, (VIP, UDP_PORT))
                except OSError:
                    pass
                seq += 1
                next_send += INTERVAL
            try:
                d, _ = self.sock.recvfrom(2048)
                vm, n = d.decode().split()
                self.replies.setdefault(int(n), (vm, time.monotonic()))
            except (socket.timeout, ValueError):
                pass
            except OSError:
                time.sleep(0.01)

    def stop(self):
        time.sleep(0.3)  # last replies
        self.stopped = True
        self.thread.join(timeout=2)
        self.sock.close()

    def last_from(self, vm):
        return max([s for s, (v, _) in self.replies.items() if v == vm], default=None)

    def count_from(self, vm, after_seq=-1):
        return sum(1 for s, (v, _) in self.replies.items() if v == vm and s > after_seq)


def vip_udp_frame(vm, payload):
    from scapy.all import Ether, IP, UDP, Raw
    return (Ether(src=VMS[vm]["mac"], dst=FABRIC["mac"]) /
            IP(src=VIP, dst=FABRIC["ip"]) / UDP(sport=4444, dport=9) / Raw(payload))


def vip_garp(vm):
    from scapy.all import Ether, ARP
    return (Ether(src=VMS[vm]["mac"], dst="ff:ff:ff:ff:ff:ff") /
            ARP(op=1, hwsrc=VMS[vm]["mac"], psrc=VIP, hwdst="00:00:00:00:00:00", pdst=VIP))


def seen(frames, marker):
    return [f for f in frames if marker in f]


def garps_for_vip(frames, mac):
    from scapy.all import Ether, ARP
    out = []
    for f in frames:
        p = Ether(f)
        if ARP in p and p[ARP].psrc == VIP and p[ARP].pdst == VIP and p[ARP].hwsrc == mac:
            out.append(p)
    return out


def send_and_capture(vm, frame, duration=1.5):
    from nsio import L2Port
    src = L2Port(vm, "eth0")
    cap = L2Port(FABRIC["ns"], FABRIC["ifname"])
    try:
        cap.drain()
        src.send(frame)
        time.sleep(0.1)
        src.send(frame)
        return cap.frames(duration)
    finally:
        src.close()
        cap.close()


def main():
    sys.path.insert(0, HERE)
    from e2e_test import preflight
    preflight(False)
    if not os.access(KEEPALIVED, os.X_OK):
        skip(f"{KEEPALIVED} is not installed")
    from agent import Agent, default_binary, log_dir
    from twohosts import Api
    binary = default_binary()
    if not os.access(binary, os.X_OK):
        skip(f"the agent is not built: {binary} does not exist")

    t_start = time.monotonic()
    print("== setting up the emulated eswitch", flush=True)
    topology.up(STATE, dhcp=False)
    policy = os.path.join(STATE, "policy.json")
    shutil.copy(os.path.join(HERE, "policies", "vip.json"), policy)
    agent = Agent(binary, os.path.join(STATE, "agent-state"), policy, BLOCK,
                  os.path.join(STATE, "agent.log"))
    kas, responders, client = [], [], None
    try:
        agent.start()
        api = Api(agent.api_socket)
        if not check(api.wait_ready(90), "agent ready (/readyz 200)"):
            for l in agent.tail(20):
                print("      " + l)
            return 1
        agent.settle(quiet=1.0, timeout=10)

        print("== keepalived master election", flush=True)
        responders = [Responder("vm1"), Responder("vm2")]
        kas = [Keepalived("vm1", "vm2", 150), Keepalived("vm2", "vm1", 100)]
        for k in kas:
            k.start()
        t0 = time.monotonic()
        ok = wait_for(lambda: has_vip("vm1"), 20)
        check(ok and not has_vip("vm2"),
              f"vm1 (priority 150) owns {VIP} after {time.monotonic() - t0:.1f} s, vm2 does not")
        if not ok:
            for k in kas:
                for l in k.tail():
                    print(f"      {k.vm}: {l}")
            return 1
        # vm2 must stay backup: it hears vm1's adverts through the pipeline
        # (VRRP is base traffic between ports that have a VIP).
        time.sleep(4)
        check(not has_vip("vm2"), "vm2 stays backup for 4 s (vm1's VRRP adverts reach it)")

        client = Client()
        ok = wait_for(lambda: client.count_from("vm1") >= 20, 15)
        check(ok, f"client in the fabric gets answers from vm1 via the VIP "
                  f"({client.count_from('vm1')} so far)")
        if not ok:
            return 1

        print("== failover: keepalived on vm1 stopped", flush=True)
        from nsio import L2Port
        cap = L2Port(FABRIC["ns"], FABRIC["ifname"])
        cap.drain()
        captured = []
        cap_thread = threading.Thread(target=lambda: captured.extend(cap.frames(8.0)),
                                      daemon=True)
        cap_thread.start()
        t_stop = time.monotonic()
        kas[0].stop()
        moved = wait_for(lambda: has_vip("vm2"), 15)
        t_moved = time.monotonic()
        check(moved and not has_vip("vm1"),
              f"the VIP moved to vm2 {t_moved - t_stop:.2f} s after stopping vm1's keepalived")
        resumed = wait_for(lambda: client.count_from("vm2") >= 20, 15)
        time.sleep(1.0)
        client.stop()
        cap_thread.join(timeout=10)
        cap.close()

        last1 = client.last_from("vm1")
        first2 = min([s for s, (v, _) in client.replies.items() if v == "vm2"], default=None)
        sent_total = len(client.sent)
        check(resumed and first2 is not None,
              f"traffic to the VIP resumed, answered by vm2 ({client.count_from('vm2')} replies)")
        if last1 is not None and first2 is not None:
            window = range(last1 + 1, first2)
            lost = [s for s in window if s not in client.replies]
            gap = client.replies[first2][1] - client.replies[last1][1]
            print(f"    failover: last vm1 reply seq {last1}, first vm2 reply seq {first2}; "
                  f"{len(lost)} datagrams lost ({len(lost) * INTERVAL * 1000:.0f} ms at "
                  f"{INTERVAL * 1000:.0f} ms intervals), reply gap {gap * 1000:.0f} ms", flush=True)
            # After the move every datagram is answered (the last 300 ms may be in flight).
            tail = [s for s in client.sent if s > first2 and
                    client.sent[s] < client.sent[max(client.sent)] - 0.3]
            unanswered = [s for s in tail if s not in client.replies]
            check(len(unanswered) <= 1,
                  f"after the move, {len(tail) - len(unanswered)} of {len(tail)} datagrams "
                  f"answered")
            late1 = [s for s, (v, _) in client.replies.items() if v == "vm1" and s > first2]
            check(not late1, f"no answers from vm1 after vm2 took over ({len(late1)})")
        print(f"    client: {sent_total} sent, {len(client.replies)} answered in total",
              flush=True)
        g = garps_for_vip(captured, VMS["vm2"]["mac"])
        check(len(g) >= 1, f"vm2's gratuitous ARP for {VIP} reached the fabric ({len(g)} seen)")
        r = topology.sh("ip", "neigh", "show", VIP, ns=FABRIC["ns"], check=False)
        check(VMS["vm2"]["mac"] in r.stdout,
              f"fabric's neighbour entry for {VIP} is vm2's MAC ({r.stdout.strip()})")

        print("== removing the VIP from vm1's port through the API", flush=True)
        frame = vip_udp_frame("vm1", b"vfguard-vip-probe-before")
        got = seen(send_and_capture("vm1", frame), b"vfguard-vip-probe-before")
        check(len(got) >= 1, f"control: with the VIP still in vm1's port, a UDP frame from "
                             f"vm1 with source {VIP} reaches the fabric ({len(got)} seen)")
        got = garps_for_vip(send_and_capture("vm1", vip_garp("vm1")), VMS["vm1"]["mac"])
        check(len(got) >= 1, f"control: vm1's GARP for {VIP} reaches the fabric ({len(got)})")
        n_lines = len(agent.lines())
        n_rec = len(agent.reconciles())
        st, body = api.request("PATCH", "/v1/ports/vm1", {"vips": []})
        check(st == 200 and isinstance(body, dict) and not body.get("vips"),
              f"PATCH /v1/ports/vm1 {{\"vips\": []}} -> {st} "
              f"(vips now {body.get('vips') if isinstance(body, dict) else body})")
        rec = agent.wait_reconciled(n_rec, timeout=30)
        check(rec is not None and rec.get("errors") == "0",
              f"agent reconciled the change ({rec and rec.get('writes')} writes, "
              f"errors={rec and rec.get('errors')})")
        agent.settle(quiet=1.0, timeout=10)
        frame = vip_udp_frame("vm1", b"vfguard-vip-probe-after")
        got = seen(send_and_capture("vm1", frame), b"vfguard-vip-probe-after")
        check(not got, f"after the PATCH a UDP frame from vm1 with source {VIP} is not seen in "
                       f"the fabric ({len(got)} seen)")
        got = garps_for_vip(send_and_capture("vm1", vip_garp("vm1")), VMS["vm1"]["mac"])
        check(not got, f"after the PATCH vm1's GARP for {VIP} is not seen in the fabric "
                       f"({len(got)} seen)")
        # vm1's own address still works, and the VIP still answers from vm2.
        frame = vip_udp_frame("vm1", b"vfguard-fixed-probe")
        frame["IP"].src = VMS["vm1"]["ip"]
        got = seen(send_and_capture("vm1", frame), b"vfguard-fixed-probe")
        check(len(got) >= 1, f"vm1 can still send from its fixed IP {VMS['vm1']['ip']} "
                             f"({len(got)} seen)")
        client = Client()
        ok = wait_for(lambda: client.count_from("vm2") >= 10, 10)
        client.stop()
        check(ok, f"the VIP still answers from vm2 after the PATCH "
                  f"({client.count_from('vm2')} replies)")
        for l in agent.lines()[n_lines:]:
            if "level=error" in l or "level=warn" in l:
                print("      agent: " + l)
    finally:
        if client and not client.stopped:
            client.stop()
        for k in kas:
            k.stop()
        for r in responders:
            r.close()
        code = agent.stop()
        print(f"   agent stopped (exit {code})")
        if os.path.exists(agent.log_path):
            dst = os.path.join(log_dir(), "vip_failover_e2e_test.agent.log")
            shutil.copy(agent.log_path, dst)
            print(f"   agent log kept in {dst}")
        for k in kas:
            if os.path.exists(k.log):
                shutil.copy(k.log, os.path.join(log_dir(), f"vip_failover_e2e_test.{k.vm}."
                                                           "keepalived.log"))
        topology.down(STATE)
        left = topology.leftovers()
        check(not left, f"teardown clean ({', '.join(left) or 'nothing left'})")
    print(f"\n{'PASS' if not failed else 'FAIL'} in {time.monotonic() - t_start:.0f} s"
          + (f"; failed checks: {len(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
