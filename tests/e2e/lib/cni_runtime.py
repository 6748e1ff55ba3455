"""A minimal CNI runtime for the e2e tests: executes a conflist plugin by
plugin exactly as the CNI specification (and libcni) does.

- Each plugin is the executable named by its "type", found in CNI_PATH, run
  with CNI_COMMAND / CNI_CONTAINERID / CNI_NETNS / CNI_IFNAME / CNI_ARGS /
  CNI_PATH in the environment and its network configuration on stdin: the
  plugin's conflist entry plus the list's "cniVersion" and "name", "args"
  (what Multus fills from the pod's cni-args) and, from the second plugin on,
  "prevResult" (the previous plugin's result).
- ADD runs the plugins in order and caches the final result per attachment;
  CHECK runs them in order with the cached result as prevResult; DEL runs
  them in reverse order with the cached result as prevResult (libcni's
  behaviour) and then forgets it.
- STATUS and GC (CNI 1.1) run every plugin whose VERSION lists the list's
  cniVersion; GC passes "cni.dev/valid-attachments".

A failing plugin stops the chain; the error object it printed is returned.
"""

import json
import os
import subprocess


class PluginError(Exception):
    def __init__(self, plugin, command, rc, obj, stderr):
        self.plugin, self.command, self.rc, self.obj, self.stderr = plugin, command, rc, obj, stderr
        super().__init__(f"{plugin} {command} exited {rc}: {obj} {stderr.strip()}")

    @property
    def code(self):
        return self.obj.get("code") if isinstance(self.obj, dict) else None

    @property
    def msg(self):
        return self.obj.get("msg", "") if isinstance(self.obj, dict) else ""


class Runtime:
    def __init__(self, conflist, cni_path, timeout=60):
        self.conflist = conflist
        self.cni_path = cni_path
        self.timeout = timeout
        self.cache = {}  # (container id, ifname) -> result
        self.calls = []  # (plugin type, command, rc) of every execution

    def exec_plugin(self, plugin, command, config, container_id="", netns="", ifname="",
                    cni_args=""):
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "CNI_COMMAND": command, "CNI_PATH": self.cni_path}
        if container_id:
            env["CNI_CONTAINERID"] = container_id
        if netns:
            env["CNI_NETNS"] = netns
        if ifname:
            env["CNI_IFNAME"] = ifname
        if cni_args:
            env["CNI_ARGS"] = cni_args
        exe = None
        for d in self.cni_path.split(":"):
            if os.access(os.path.join(d, plugin["type"]), os.X_OK):
                exe = os.path.join(d, plugin["type"])
                break
        if exe is None:
            raise FileNotFoundError(f"plugin {plugin['type']} not in CNI_PATH {self.cni_path}")
        r = subprocess.run([exe], input=json.dumps(config), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=self.timeout)
        self.calls.append((plugin["type"], command, r.returncode))
        out = r.stdout.strip()
        try:
            obj = json.loads(out) if out else None
        except ValueError:
            obj = {"unparsed": out}
        if r.returncode != 0:
            raise PluginError(plugin["type"], command, r.returncode, obj, r.stderr)
        return obj

    def _config(self, plugin, args=None, prev=None, extra=None):
        c = dict(plugin)
        c["cniVersion"] = self.conflist["cniVersion"]
        c["name"] = self.conflist["name"]
        if args:
            c["args"] = {"cni": args}
        if prev is not None:
            c["prevResult"] = prev
        if extra:
            c.update(extra)
        return c

    def add(self, container_id, netns, ifname, cni_args="", args=None, plugins=None):
        """Runs ADD through the chain (or only `plugins`, a list of indexes,
        starting from the cached result); returns the final result."""
        prev = None
        idx = range(len(self.conflist["plugins"]))
        if plugins is not None:
            idx, prev = plugins, self.cache.get((container_id, ifname))
        for i in idx:
            p = self.conflist["plugins"][i]
            prev = self.exec_plugin(p, "ADD", self._config(p, args, prev), container_id, netns,
                                    ifname, cni_args)
        self.cache[(container_id, ifname)] = prev
        return prev

    def check(self, container_id, netns, ifname, cni_args="", args=None):
        prev = self.cache[(container_id, ifname)]
        for p in self.conflist["plugins"]:
            self.exec_plugin(p, "CHECK", self._config(p, args, prev), container_id, netns, ifname,
                             cni_args)

    def delete(self, container_id, netns, ifname, cni_args="", args=None):
        prev = self.cache.get((container_id, ifname))
        for p in reversed(self.conflist["plugins"]):
            self.exec_plugin(p, "DEL", self._config(p, args, prev), container_id, netns, ifname,
                             cni_args)
        self.cache.pop((container_id, ifname), None)

    def _speaks_list_version(self, p):
        v = self.exec_plugin(p, "VERSION", {"cniVersion": self.conflist["cniVersion"]})
        return self.conflist["cniVersion"] in v.get("supportedVersions", [])

    def status(self):
        """STATUS on every plugin that speaks the list's version; their types."""
        ran = []
        for p in self.conflist["plugins"]:
            if self._speaks_list_version(p):
                self.exec_plugin(p, "STATUS", self._config(p))
                ran.append(p["type"])
        return ran

    def gc(self, valid):
        """GC with cni.dev/valid-attachments = [(container id, ifname)...]."""
        attachments = [{"containerID": c, "ifname": i} for c, i in valid]
        ran = []
        for p in self.conflist["plugins"]:
            if self._speaks_list_version(p):
                self.exec_plugin(p, "GC", self._config(
                    p, extra={"cni.dev/valid-attachments": attachments}))
                ran.append(p["type"])
        return ran
