"""Runs build/daemon/vfguard-agent on the emulated eswitch and reads its logs.

The agent logs logfmt lines to stderr; after every reconcile pass one line
with `event=reconciled writes=<n> errors=<n>`. Agent.reconciles() parses those
lines; wait_reconciled() waits for the next one after a given count.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time

import topology

_KV = re.compile(r'([A-Za-z_][A-Za-z0-9_.]*)=("(?:[^"\\]|\\.)*"|\S*)')


def logfmt(line):
    out = {}
    for k, v in _KV.findall(line):
        if v.startswith('"') and v.endswith('"') and len(v) >= 2:
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[k] = v
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def log_dir():
    """Where logs that must outlive the VM go: BUILD/e2e-logs (the build
    directory is in the writable work tree), else /tmp."""
    d = os.path.join(os.path.dirname(os.path.dirname(default_binary())), "e2e-logs")
    try:
        os.makedirs(d, exist_ok=True)
        return d
    except OSError:
        return "/tmp"


def default_binary():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(os.path.join(here, "..", "..", ".."))
    build = os.environ.get("VFGUARD_BUILD_DIR", os.path.join(root, "build"))
    return os.environ.get("VFGUARD_AGENT", os.path.join(build, "daemon", "vfguard-agent"))


class Agent:
    def __init__(self, binary, state_dir, policy_file, block, log_path):
        self.binary, self.state_dir, self.policy_file = binary, state_dir, policy_file
        self.block, self.log_path = block, log_path
        self.proc = None
        self.metrics_port = free_port()
        self.api_socket = os.path.join(state_dir, "agent.sock")
        os.makedirs(state_dir, exist_ok=True)

    def argv(self):
        a = [self.binary, f"--state_dir={self.state_dir}", f"--policy_file={self.policy_file}",
             "--eswitch_mode=map", f"--uplink={topology.UPLINK}"]
        a += [f"--representor={v['vf']}={v['rep']}" for v in topology.VMS.values()]
        a += [f"--block_index={self.block}", f"--api_socket={self.api_socket}",
              f"--metrics_listen=127.0.0.1:{self.metrics_port}", "--log_level=debug"]
        return a

    def start(self):
        self.start_line = len(self.lines())
        log = open(self.log_path, "a")
        log.write(f"# --- start {' '.join(self.argv())}\n")
        log.flush()
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log)
        log.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def lines(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []

    def reconciles(self):
        return [logfmt(l) for l in self.lines() if "event=reconciled" in l]

    def wait_reconciled(self, after, timeout=60.0):
        """The first reconcile record after `after` earlier ones, or None on
        timeout or exit (check running())."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r = self.reconciles()
            if len(r) > after:
                return r[after]
            if not self.running():
                r = self.reconciles()
                return r[after] if len(r) > after else None
            time.sleep(0.2)
        return None

    def wait_ready(self, timeout=20.0):
        """True once this run of the agent has logged event=ready (it handles
        signals from then on at the latest)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any("event=ready" in l for l in self.lines()[self.start_line:]):
                return True
            if not self.running():
                return False
            time.sleep(0.1)
        return False

    def wait_reload_applied(self, after_lines, timeout=60.0):
        """After a policy change: the first reconcile record logged after the
        first `event=policy_reloaded ... changed=true` line past line index
        `after_lines` (passes triggered by other events are skipped)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            lines = self.lines()[after_lines:]
            seen_reload = False
            for l in lines:
                if "event=policy_reloaded" in l and "changed=true" in l:
                    seen_reload = True
                elif seen_reload and "event=reconciled" in l:
                    return logfmt(l)
            if not self.running():
                return None
            time.sleep(0.2)
        return None

    def settle(self, quiet=1.5, timeout=30.0):
        """Waits until the agent has nothing left to do: its latest reconcile
        pass wrote nothing, or no pass has been logged for `quiet` seconds."""
        end = time.monotonic() + timeout
        n = len(self.reconciles())
        last = time.monotonic()
        while time.monotonic() < end:
            recs = self.reconciles()
            if recs and recs[-1].get("writes") == "0":
                return len(recs)
            if len(recs) != n:
                n, last = len(recs), time.monotonic()
            elif time.monotonic() - last >= quiet:
                return n
            time.sleep(0.25)
        return n

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout=15):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def tail(self, n=15):
        return self.lines()[-n:]


def write_policy(path, policy):
    """Replaces the policy file atomically (temp file + rename), as tools do."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(policy, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def tc_filters(block):
    """`tc filter show block N` as a list of filter lines that carry a handle."""
    r = subprocess.run(["tc", "filter", "show", "block", str(block)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    return [l for l in r.stdout.splitlines() if l.startswith("filter ") and " handle " in l]


def tc_filter_key(line):
    """(protocol, pref, chain, handle) of a `filter ...` header line."""
    w = line.split()
    def after(tok, default=None):
        return w[w.index(tok) + 1] if tok in w and w.index(tok) + 1 < len(w) else default
    return (after("protocol"), after("pref"), after("chain", "0"), after("handle"))
