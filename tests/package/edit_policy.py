#!/usr/bin/python3
"""Adds an ingress tcp/443 rule to security group "web" of a policy file,
rewriting the file in place with the same size and putting its mtime back,
so that the agent's poll of the file (size, mtime, inode) cannot see the
change and only a reload (SIGHUP) applies it. The file must carry enough
trailing blank space (package_test.sh writes 512 bytes of it).

Usage: edit_policy.py POLICY_FILE
"""

import json
import os
import sys


def main(path):
    st = os.stat(path)
    with open(path) as f:
        doc = json.load(f)
    web = next(g for g in doc["security_groups"] if g["id"] == "web")
    web["rules"].append({"direction": "ingress", "protocol": "tcp",
                         "port_range_min": 443, "port_range_max": 443})
    text = json.dumps(doc, indent=1) + "\n"
    room = st.st_size - len(text.encode())
    if room < 1:
        print(f"edit_policy: {path} has no room for the edit ({-room} bytes short)",
              file=sys.stderr)
        return 1
    with open(path, "r+") as f:
        f.write(text + " " * (room - 1) + "\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(path)
    if (after.st_size, after.st_mtime_ns, after.st_ino) != (st.st_size, st.st_mtime_ns, st.st_ino):
        print("edit_policy: size, mtime or inode changed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
