#!/usr/bin/python3
"""Reactor probe (issue 10): does anything hold the agent's reactor?

vfguard-agent is one asio reactor: the API, the metrics scrape and the
systemd watchdog ping all wait while something runs on it. This probe runs
the real daemon (argv[1], default build/daemon/vfguard-agent) cold on an
emulated eswitch and watches it from outside, the way systemd, Prometheus
and an orchestrator see it:

  - N ports ($VFGUARD_REACTOR_PORTS, default 250) on N veth representors
    r0.. plus an uplink up0, in a network namespace of its own (the devices
    go with it on exit); one flat network; every port in one stateful group
    "shared" of 20 rules (19 tcp ports + egress), so each port carries 20
    rules as in agent_bench and one edit of the group touches every port;
  - the agent starts with that policy file and nothing installed, with
    NOTIFY_SOCKET on the probe's own AF_UNIX datagram socket and
    WATCHDOG_USEC=30000000 (so it pings WATCHDOG=1 every 10 s, a third, from the
    reactor), its API on a unix socket and metrics on a free TCP port;
  - from the start: GET /healthz every 100 ms (one at a time, each timed;
    a request that waits makes the next one wait, so the max is the longest
    stall and the p99 is over the requests made), every sd_notify datagram
    timed, GET /metrics every 2 s ($VFGUARD_REACTOR_SCRAPE_S; 0: none;
    also one at a time, timed);
  - phase "reactor" (cold): until READY=1 and the first pass, then until
    the agent has settled, then until its next watchdog ping;
  - phase "reactor_change": one PUT /v1/security-groups/shared that moves
    one rule to another tcp port (every port's rules change), until the
    first pass after it that writes, then settled, then the next ping.

Per phase one line (pass_s: the took_ms of the phase's first pass;
watchdog_max_gap_s: the longest time without a WATCHDOG=1, counting from
the agent's start, or from the last ping before the phase, to the first
ping in the phase and from the last ping to the phase's end):

  reactor: ports=N pass_s= api_max_ms= api_p99_ms= watchdog_max_gap_s= scrape_ms=
  reactor_change: ports=N pass_s= api_max_ms= ...

then whether the issue's targets (under TCG: api_max_ms <= 250,
watchdog_max_gap_s <= 15) are met; missing them does not fail the run (a
benchmark). Exit 1 if the agent dies, READY=1 never comes or a pass does
not come within its time; 77 (skip) without root or a capable kernel.
Run it in the VM (docs/performance.md).
"""

import ctypes
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "e2e", "lib"))
import agent as agentlib  # noqa: E402
from twohosts import Api  # noqa: E402

BLOCK = 43  # agent_bench uses 40 and 41
GROUP = "shared"
RULES = 20
WATCHDOG_USEC = 30000000
PING_S = WATCHDOG_USEC / 3e6  # the agent pings every third of the timeout (daemon/sd_notify.cc)
HEALTHZ_EVERY_S = 0.1
# $VFGUARD_REACTOR_SCRAPE_S overrides; 0 turns scraping off (to tell a pass's
# stalls from a scrape's: while a scrape holds the reactor longer than this
# interval, scrapes run back to back and the API waits on them too).
SCRAPE_EVERY_S = 2.0
REQUEST_TIMEOUT_S = 600.0
READY_TIMEOUT_S = 1800.0  # cold start: READY=1 and the first pass
PASS_TIMEOUT_S = 1200.0   # the change's pass
SETTLE_TIMEOUT_S = 600.0
TAIL_TIMEOUT_S = 8 * PING_S
TARGET_API_MAX_MS = 250.0
TARGET_WATCHDOG_GAP_S = 15.0
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1


class ProbeError(Exception):
    pass


def sh(cmd):
    return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def enter_netns():
    """A network namespace of our own: no clash with other benchmarks' devices,
    and every device goes away with the namespace when we exit."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        skip(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
    sh("ip link set lo up")


def check_kernel():
    r = sh("ip link add rpcheck0 type veth peer name rpcheck1 && "
           "tc qdisc add dev rpcheck0 ingress_block 99 clsact && "
           "tc filter add block 99 protocol ip prio 1 flower ip_proto tcp "
           "ct_state +trk action ct zone 1 pipe action ok && "
           "tc qdisc del dev rpcheck0 clsact && ip link del rpcheck0")
    if r.returncode != 0:
        skip("kernel lacks veth, clsact shared blocks, cls_flower or act_ct: " + r.stdout.strip())


def create_devices(n, workdir):
    path = os.path.join(workdir, "links.batch")
    with open(path, "w") as f:
        f.write("link add up0 type veth peer name up0p\nlink set up0 up\nlink set up0p up\n")
        for i in range(n):
            f.write(f"link add r{i} type veth peer name v{i}\nlink set r{i} up\nlink set v{i} up\n")
    t0 = time.monotonic()
    r = sh(f"ip -batch {path}")
    if r.returncode != 0:
        raise ProbeError("ip -batch: " + r.stdout.strip()[-500:])
    print(f"created {n} veth representor pairs + uplink in {time.monotonic() - t0:.1f} s")


def group_rules(moved=False):
    """19 tcp ports 1000.. and egress; `moved` puts the last tcp rule on 2018."""
    rules = [{"direction": "ingress", "protocol": "tcp", "port_range_min": 1000 + r,
              "port_range_max": 1000 + r} for r in range(RULES - 1)]
    if moved:
        rules[-1]["port_range_min"] = rules[-1]["port_range_max"] = 2000 + RULES - 2
    rules.append({"direction": "egress"})
    return rules


def make_policy(n):
    ports = []
    for i in range(n):
        k = i + 1
        ports.append({
            "id": f"p{i:04d}", "network_id": "flat",
            "mac_address": f"02:00:00:{(k >> 16) & 255:02x}:{(k >> 8) & 255:02x}:{k & 255:02x}",
            "fixed_ips": [f"10.{(k >> 16) & 255}.{(k >> 8) & 255}.{k & 255}"],
            "security_group_ids": [GROUP], "port_security_enabled": True,
            "representor_name": f"r{i}"})
    return {"networks": [{"id": "flat", "segmentation": "flat"}],
            "security_groups": [{"id": GROUP, "stateful": True, "rules": group_rules()}],
            "ports": ports}


class Recorder:
    """The three watchers, each on its own thread; samples are
    (start, end, ok) in time.monotonic(), pings are arrival times."""

    def __init__(self, api_socket, metrics_port, notify_path, scrape_every):
        self.api = Api(api_socket)
        self.metrics_port = metrics_port
        self.healthz, self.scrapes, self.pings, self.ready_at = [], [], [], None
        self.errors = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(notify_path)
        self.notify.settimeout(0.2)
        self.scrape_every = scrape_every
        watchers = [self._listen, self._poll_healthz]
        if scrape_every > 0:
            watchers.append(self._poll_metrics)
        self.threads = [threading.Thread(target=f, daemon=True) for f in watchers]

    def start(self):
        for t in self.threads:
            t.start()

    def close(self, timeout):
        self.stop.set()
        for t in self.threads:
            t.join(timeout)
        self.notify.close()

    def _listen(self):
        while not self.stop.is_set():
            try:
                data = self.notify.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            lines = data.decode(errors="replace").split("\n")
            with self.lock:
                if "WATCHDOG=1" in lines:
                    self.pings.append(now)
                if "READY=1" in lines and self.ready_at is None:
                    self.ready_at = now

    def _poll(self, every, request, samples):
        """`request` every `every` s, one at a time; before the first answer a
        failure only means the server is not listening yet."""
        answered = False
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                ok = request()
                answered = True
            except (OSError, http.client.HTTPException) as e:
                ok = False
                if answered:
                    with self.lock:
                        self.errors.append(f"{type(e).__name__}: {e}")
            t1 = time.monotonic()
            if answered:
                with self.lock:
                    samples.append((t0, t1, ok))
            self.stop.wait(max(0.0, t0 + every - time.monotonic()))

    def _poll_healthz(self):
        def get():
            st, _ = self.api.request("GET", "/healthz", timeout=REQUEST_TIMEOUT_S)
            return st == 200
        self._poll(HEALTHZ_EVERY_S, get, self.healthz)

    def _poll_metrics(self):
        def get():
            c = http.client.HTTPConnection("127.0.0.1", self.metrics_port,
                                           timeout=REQUEST_TIMEOUT_S)
            try:
                c.request("GET", "/metrics")
                r = c.getresponse()
                body = r.read()
                return r.status == 200 and b"vfguard_" in body
            finally:
                c.close()
        self._poll(self.scrape_every, get, self.scrapes)

    def snapshot(self):
        with self.lock:
            return list(self.healthz), list(self.scrapes), list(self.pings), self.ready_at


def p99(values):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[max(0, math.ceil(0.99 * len(v)) - 1)]


def max_gap(pings, started, begin, end):
    """Longest time without a ping over [begin, end]: from the last ping at or
    before `begin` (or `started`), through the pings in between, to `end`."""
    before = [t for t in pings if t <= begin]
    points = [before[-1] if before else started]
    points += [t for t in pings if begin < t <= end] + [end]
    return max(b - a for a, b in zip(points, points[1:]))


class ProbedAgent(agentlib.Agent):
    """The daemon on the probe's devices, block and notify socket, at log
    level info (as deployed; debug would log every write)."""

    def argv(self):
        return [self.binary, f"--state_dir={self.state_dir}", f"--policy_file={self.policy_file}",
                "--eswitch_mode=map", "--uplink=up0", f"--block_index={self.block}",
                f"--api_socket={self.api_socket}",
                f"--metrics_listen=127.0.0.1:{self.metrics_port}", "--log_level=info"]

    def start(self, notify_path):
        env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC=str(WATCHDOG_USEC))
        env.pop("WATCHDOG_PID", None)
        libc = ctypes.CDLL(None)

        def die_with_us():  # the agent must not outlive a killed probe
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log, env=env,
                                         preexec_fn=die_with_us)


class Probe:
    def __init__(self, binary, n, scrape_every):
        self.binary, self.n, self.scrape_every = binary, n, scrape_every
        self.workdir = tempfile.mkdtemp(prefix="vfguard-reactor-")
        self.policy_path = os.path.join(self.workdir, "policy.json")
        self.agent = ProbedAgent(binary, os.path.join(self.workdir, "state"), self.policy_path,
                                 BLOCK, os.path.join(self.workdir, "agent.log"))
        self.rec, self.started = None, None
        self.seen = []  # when each event=reconciled line was first seen

    def passes(self):
        p = self.agent.reconciles()
        while len(self.seen) < len(p):
            self.seen.append(time.monotonic())
        return p

    def check_alive(self):
        if not self.agent.running():
            raise ProbeError(f"the agent exited with status {self.agent.proc.returncode}")

    # ---- waiting ----------------------------------------------------------

    def wait_for(self, what, timeout, cond):
        """Polls cond() until true; raises on timeout or if the agent died."""
        t0 = time.monotonic()
        next_note = 60
        while True:
            got = cond()
            self.passes()  # note when each pass ends, whatever we wait for
            if got:
                return got
            self.check_alive()
            waited = time.monotonic() - t0
            if waited > timeout:
                raise ProbeError(f"no {what} within {timeout:.0f} s")
            if waited > next_note:
                print(f"  ... still waiting for {what} ({waited:.0f} s)")
                next_note += 60
            time.sleep(0.2)

    def settle(self):
        """Until the agent is idle: its latest pass wrote nothing and 2 s have
        passed without one, or 5 s without a pass at all."""
        seen, since = len(self.passes()), time.monotonic()

        def idle():
            nonlocal seen, since
            p = self.passes()
            if len(p) != seen:
                seen, since = len(p), time.monotonic()
            quiet = time.monotonic() - since
            return quiet >= 5 or (bool(p) and p[-1].get("writes") == "0" and quiet >= 2)
        try:
            self.wait_for("idle agent", SETTLE_TIMEOUT_S, idle)
        except ProbeError as e:
            if not self.agent.running():
                raise
            print(f"  (not settled: {e}; measuring on)")

    def tail(self):
        """Until the next watchdog ping (at most TAIL_TIMEOUT_S): a phase ends
        on a ping, so a gap that a phase's work opened is closed in it and the
        next phase's gaps start from a ping, not from the agent's start."""
        mark = time.monotonic()

        def pinged():
            return any(t > mark for t in self.rec.snapshot()[2])
        try:
            self.wait_for("watchdog ping", TAIL_TIMEOUT_S, pinged)
        except ProbeError as e:
            if not self.agent.running():
                raise
            print(f"  ({e}; the gap stays open to the phase's end)")

    # ---- phases -----------------------------------------------------------

    def cold(self):
        self.wait_for("READY=1", READY_TIMEOUT_S, lambda: self.rec.snapshot()[3] is not None)
        first = self.wait_for("first pass", 60, lambda: self.passes()[:1])[0]
        ready_s = self.rec.snapshot()[3] - self.started
        print(f"cold: READY=1 after {ready_s:.1f} s; first pass: {first.get('took_ms')} ms "
              f"writes={first.get('writes')} filters={first.get('filters')} "
              f"absent_ports={first.get('absent_ports')} status={first.get('status')}")
        self.settle()
        print(f"cold: settled after {len(self.passes())} passes, "
              f"{time.monotonic() - self.started:.1f} s from the start")
        self.tail()
        return float(first.get("took_ms", "nan")) / 1000

    def change(self):
        before = len(self.passes())
        t0 = time.monotonic()
        status, body = self.rec.api.request("PUT", f"/v1/security-groups/{GROUP}",
                                            {"stateful": True, "rules": group_rules(moved=True)},
                                            timeout=REQUEST_TIMEOUT_S)
        put_s = time.monotonic() - t0
        if status not in (200, 201):
            raise ProbeError(f"PUT /v1/security-groups/{GROUP}: {status} {body}")
        print(f"change: PUT /v1/security-groups/{GROUP} answered {status} after "
              f"{put_s * 1000:.1f} ms")

        def written():
            return [p for p in self.passes()[before:] if p.get("writes") not in (None, "0")]
        p = self.wait_for("pass of the change", PASS_TIMEOUT_S, written)[0]
        print(f"change: pass reason={p.get('reason')} took_ms={p.get('took_ms')} "
              f"writes={p.get('writes')} status={p.get('status')}, seen "
              f"{time.monotonic() - t0:.1f} s after the PUT")
        self.settle()
        self.tail()
        return t0, float(p.get("took_ms", "nan")) / 1000

    def report(self, name, pass_s, begin, end):
        healthz, scrapes, pings, _ = self.rec.snapshot()
        api = [(b - a) * 1000 for a, b, _ in healthz if begin <= a < end]
        scr = [(b - a) * 1000 for a, b, _ in scrapes if begin <= a < end]
        failed = sum(1 for a, _, ok in healthz + scrapes if begin <= a < end and not ok)
        gap = max_gap(pings, self.started, begin, end)
        print(f"{name}: {len(api)} healthz, {len(scr)} scrapes ({failed} failed), "
              f"{sum(1 for t in pings if begin < t <= end)} watchdog pings")
        self.print_stalls(name, healthz, scrapes, pings, begin, end)
        api_max = max(api) if api else float("nan")
        print(f"{name}: ports={self.n} pass_s={pass_s:.3f} api_max_ms={api_max:.1f} "
              f"api_p99_ms={p99(api):.1f} watchdog_max_gap_s={gap:.2f} "
              f"scrape_ms={f'{max(scr):.1f}' if scr else 'na'}")
        return api_max, gap

    def print_stalls(self, name, healthz, scrapes, pings, begin, end):
        """When the longest waits were, in seconds from the agent's start, so
        they can be put next to the passes and scrapes that caused them."""
        def at(t):
            return f"{t - self.started:.1f}"
        for what, samples in (("healthz", healthz), ("scrape", scrapes)):
            slow = sorted((s for s in samples if begin <= s[0] < end),
                          key=lambda s: s[0] - s[1])[:8]
            if slow:
                print(f"{name}: longest {what} (start s +wait s): " + ", ".join(
                    f"{at(a)} +{b - a:.1f}" for a, b, _ in sorted(slow)))
        print(f"{name}: watchdog pings at (s): " +
              (", ".join(at(t) for t in pings if begin < t <= end) or "none"))

    def run(self):
        create_devices(self.n, self.workdir)
        agentlib.write_policy(self.policy_path, make_policy(self.n))
        notify_path = os.path.join(self.workdir, "notify.sock")
        self.rec = Recorder(self.agent.api_socket, self.agent.metrics_port, notify_path,
                            self.scrape_every)
        self.agent.start(notify_path)
        self.started = time.monotonic()
        self.rec.start()
        print(f"agent started cold: {self.n} ports x {RULES} rules, block {BLOCK}, "
              f"WATCHDOG_USEC={WATCHDOG_USEC} (pings every {PING_S:.0f} s), /metrics every "
              f"{self.scrape_every:g} s" + (" (off)" if self.scrape_every == 0 else ""))
        pass_s = self.cold()
        t_change, change_s = self.change()
        t_end = time.monotonic()
        self.rec.close(timeout=REQUEST_TIMEOUT_S)
        healthz, scrapes, _, _ = self.rec.snapshot()
        for what, samples in (("/healthz", healthz), ("/metrics", scrapes)):
            if samples:  # earlier attempts found no listener and are not counted
                print(f"first {what} counted: sent {samples[0][0] - self.started:.1f} s after "
                      f"the start, answered after {samples[0][1] - samples[0][0]:.1f} s")
        verdicts = [self.report("reactor", pass_s, self.started, t_change),
                    self.report("reactor_change", change_s, t_change, t_end)]
        for name, (api_max, gap) in zip(("reactor", "reactor_change"), verdicts):
            print(f"{name} targets (TCG): api_max_ms<={TARGET_API_MAX_MS:.0f} "
                  f"{'met' if api_max <= TARGET_API_MAX_MS else 'NOT met'}, "
                  f"watchdog_max_gap_s<={TARGET_WATCHDOG_GAP_S:.0f} "
                  f"{'met' if gap <= TARGET_WATCHDOG_GAP_S else 'NOT met'} "
                  f"(the agent pings every {PING_S:.0f} s)")
        for i, p in enumerate(self.passes()):
            print(f"pass {i + 1}: logged by {self.seen[i] - self.started:.1f} s, "
                  f"reason={p.get('reason')} audited={p.get('audited')} took_ms={p.get('took_ms')} "
                  f"writes={p.get('writes')} status={p.get('status')}")
        errors = self.rec.errors
        if errors:
            print(f"{len(errors)} request errors, first: {errors[0]}")

    def close(self, ok):
        if self.rec is not None:
            self.rec.stop.set()
        if self.agent.running():
            # SIGTERM is handled on the reactor: it may wait for a pass.
            if self.agent.stop(timeout=120) is None:
                print("the agent did not stop within 120 s of SIGTERM: killed")
        if not ok:
            print("agent log, last lines:")
            for l in self.agent.tail(20):
                print("  " + l[:400])
        # Beside the e2e tests' logs (BUILD/e2e-logs): the VM's /tmp is gone
        # after the run, the build directory is not.
        logs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(self.binary))),
                            "e2e-logs")
        kept = os.path.join(logs, "reactor-agent.log")
        try:
            os.makedirs(logs, exist_ok=True)
            shutil.copyfile(self.agent.log_path, kept)
            print(f"agent log kept in {kept}")
        except OSError as e:
            print(f"agent log not kept: {e}")
        shutil.rmtree(self.workdir, ignore_errors=True)


def main():
    sys.stdout.reconfigure(line_buffering=True)
    binary = sys.argv[1] if len(sys.argv) > 1 else agentlib.default_binary()
    try:
        n = int(os.environ.get("VFGUARD_REACTOR_PORTS", "250"))
        scrape_every = float(os.environ.get("VFGUARD_REACTOR_SCRAPE_S", SCRAPE_EVERY_S))
    except ValueError as e:
        print(f"VFGUARD_REACTOR_PORTS or VFGUARD_REACTOR_SCRAPE_S: {e}")
        return 2
    if n <= 0 or scrape_every < 0:
        print(f"VFGUARD_REACTOR_PORTS (> 0) or VFGUARD_REACTOR_SCRAPE_S (>= 0) out of range: "
              f"{n}, {scrape_every}")
        return 2
    if os.geteuid() != 0:
        skip("needs root and a kernel with cls_flower and act_ct (run it through tools/vmrun)")
    if not os.access(binary, os.X_OK):
        print(f"FAIL: no agent binary at {binary} (build it: ninja -C build daemon/vfguard-agent)")
        return 1
    enter_netns()
    check_kernel()
    # meson's timeout and tools/vmrun send SIGTERM: stop the agent on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    probe = Probe(binary, n, scrape_every)
    ok = False
    try:
        probe.run()
        ok = True
    except ProbeError as e:
        print(f"FAIL: {e}")
    finally:
        probe.close(ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
