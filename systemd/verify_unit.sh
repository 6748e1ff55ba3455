#!/bin/bash
# Checks vfguard-agent.service with systemd-analyze: `verify` must print no
# warning about the unit (ExecStart is pointed at an existing binary, since
# verify refuses a missing one), then prints the `security` exposure report.
# Usage: verify_unit.sh UNIT_FILE EXISTING_BINARY
set -u
unit="$1"
binary="$2"
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze not found (Debian package: systemd)"
  exit 77
fi
if [[ ! -x "$binary" ]]; then
  echo "FAIL: substitute binary $binary is not executable"
  exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
name=vfguard-agent.service
sed "s|^ExecStart=/usr/sbin/vfguard-agent |ExecStart=$binary |" "$unit" > "$dir/$name"
if ! grep -q "^ExecStart=$binary " "$dir/$name"; then
  echo "FAIL: no 'ExecStart=/usr/sbin/vfguard-agent ' line to substitute in $unit"
  exit 1
fi

echo "== systemd-analyze verify $name"
out=$(cd "$dir" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no --generators=no "$dir/$name" 2>&1)
rc=$?
echo "$out"
# Warnings about other units on this machine are not ours; any line that
# names our unit (or an unknown setting in it) is.
ours=$(echo "$out" | grep -E "$name|Unknown|unknown|not valid|Invalid|invalid|Failed" || true)
if [[ $rc -ne 0 || -n "$ours" ]]; then
  echo "FAIL: systemd-analyze verify (rc=$rc) reported problems with the unit:"
  echo "$ours"
  exit 1
fi
echo "verify: ok (no warnings)"

echo "== systemd-analyze security --offline=yes $name"
if ! sec=$(cd "$dir" && systemd-analyze security --offline=yes --no-pager "$dir/$name" 2>&1); then
  echo "$sec"
  echo "FAIL: systemd-analyze security could not analyse the unit"
  exit 1
fi
echo "$sec"
score=$(echo "$sec" | grep -Eo 'Overall exposure level for .*: [0-9.]+' | grep -Eo '[0-9.]+$')
if [[ -z "$score" ]]; then
  echo "FAIL: no overall exposure level in the security report"
  exit 1
fi
echo "exposure score: $score"
