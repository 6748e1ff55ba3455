#!/usr/bin/env bash
# Makes a fresh Debian 12 root for the package tier (tests/package/README.md):
# debootstrap from the mirror this host's apt uses, plus what the packages
# need already downloaded (the VM has no network), as an ext4 image: the VM
# loop-mounts it and reads only the blocks it touches (unpacking a tarball of
# the root over 9p took more than 5 minutes under TCG).
#
# Usage: make_root.sh WORKDIR DEB...
#   WORKDIR/root.img   ext4 file system with the root, the .debs in /root/debs
#                      and their dependencies in /var/cache/apt/archives
#   WORKDIR/debootstrap-cache  downloaded .debs, reused by the next run
# Needs root and debootstrap. Nothing is installed into the root besides
# debootstrap's set: the test installs the packages under the booted systemd.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: make_root.sh WORKDIR DEB..." >&2; exit 2; }
work=$1; shift
debs=("$@")
log() { echo "make_root: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "needs root (debootstrap, chroot)"; exit 1; }
command -v debootstrap >/dev/null || { log "debootstrap not found (apt-get install debootstrap)"; exit 1; }

# The mirrors apt uses here, as apt itself reports them.
mirror_of() {  # suite
  apt-cache policy | awk -v s="$1/main" '$3 == s && $2 ~ /^https?:/ { print $2; exit }'
}
mirror=$(mirror_of bookworm)
[ -n "$mirror" ] || { log "apt on this host has no bookworm/main source (apt-cache policy)"; exit 1; }
security=$(mirror_of bookworm-security)
updates=$(mirror_of bookworm-updates)

mkdir -p "$work/debootstrap-cache"
work=$(cd "$work" && pwd)
root="$work/root"
cleanup() {
  for m in proc sys dev; do mountpoint -q "$root/$m" && umount -l "$root/$m"; done
  return 0
}
trap cleanup EXIT
cleanup
rm -f "$work/root.img"

started=$(date +%s)
if [ "${MAKE_ROOT_BOOTSTRAPPED:-0}" = 1 ] && [ -x "$root/sbin/init" ]; then
  # (for a manual run: WORKDIR/root was just made by the debootstrap command
  # below, run by hand while the packages were still building)
  log "using the debootstrapped $root as it is (MAKE_ROOT_BOOTSTRAPPED=1)"
else
  rm -rf "$root"
  log "debootstrap --variant=minbase bookworm from $mirror"
  # systemd-sysv: systemd as /sbin/init; dbus: systemctl and journalctl of a
  # booted system expect it; iproute2: tc for checks from inside.
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,iproute2 \
    --cache-dir="$work/debootstrap-cache" bookworm "$root" "$mirror" > "$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; log "debootstrap failed (log: $work/debootstrap.log)"; exit 1; }
  log "debootstrap took $(( $(date +%s) - started ))s"
fi

{
  echo "deb $mirror bookworm main"
  [ -z "$updates" ] || echo "deb $updates bookworm-updates main"
  [ -z "$security" ] || echo "deb $security bookworm-security main"
} > "$root/etc/apt/sources.list"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mkdir -p "$root/root/debs"
[ ${#debs[@]} = 0 ] || cp "${debs[@]}" "$root/root/debs/"
in_root=()
for d in "${debs[@]}"; do in_root+=("/root/debs/$(basename "$d")"); done
[ ${#debs[@]} -gt 0 ] || in_root=(--version)  # (no packages: only apt-get update)
log "downloading the packages' dependencies into the root's apt cache"
export DEBIAN_FRONTEND=noninteractive
chroot "$root" apt-get update -qq > "$work/apt.log" 2>&1 &&
  chroot "$root" apt-get install -y -q --download-only --no-install-recommends "${in_root[@]}" \
    >> "$work/apt.log" 2>&1 ||
  { tail -n 20 "$work/apt.log" >&2; log "apt-get in the root failed (log: $work/apt.log)"; exit 1; }
# The machine ID is made at first boot; an empty one makes systemd treat the
# boot as the first one without asking anything.
: > "$root/etc/machine-id"
echo vfguard-pkg-test > "$root/etc/hostname"
umount "$root/proc"
# Sparse, with room for the packages, the journal and the test's changes.
size_mb=$(( $(du -sm "$root" | cut -f1) + 512 ))
mkfs.ext4 -q -F -L vfguard-root -d "$root" "$work/root.img" "${size_mb}M" ||
  { log "mkfs.ext4 -d failed"; exit 1; }
rm -rf "$root"
log "root.img: ${size_mb} MiB ext4, made in $(( $(date +%s) - started ))s"
