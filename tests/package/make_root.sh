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
#   WORKDIR/debootstrap-cache  downloaded .debs and the debootstrapped root
#                      (root-KEY.tar.zst), reused by the next runs
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
# systemd-sysv: systemd as /sbin/init; dbus: systemctl and journalctl of a
# booted system expect it; iproute2: tc for checks from inside.
include=systemd,systemd-sysv,dbus,iproute2
# debootstrap takes ~6 min here; its result is kept as a tarball keyed on
# what decides its content (suite, variant, package list, mirror) and reused
# for up to a week (then made again, so security updates come in).
# MAKE_ROOT_FRESH=1 ignores the tarball.
key=$(printf '%s\n' bookworm minbase "$include" "$mirror" | sha256sum | cut -c1-16)
tarball="$work/debootstrap-cache/root-$key.tar.zst"
rm -rf "$root"
if [ "${MAKE_ROOT_FRESH:-0}" != 1 ] && [ -n "$(find "$tarball" -mtime -7 2>/dev/null)" ]; then
  log "unpacking the debootstrapped root from $tarball (made $(date -r "$tarball" -u +%FT%TZ))"
  mkdir -p "$root"
  tar -C "$root" --zstd --numeric-owner --xattrs --xattrs-include='*' -xpf "$tarball" ||
    { log "unpacking $tarball failed"; exit 1; }
else
  log "debootstrap --variant=minbase bookworm from $mirror"
  debootstrap --variant=minbase --include="$include" \
    --cache-dir="$work/debootstrap-cache" bookworm "$root" "$mirror" > "$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; log "debootstrap failed (log: $work/debootstrap.log)"; exit 1; }
  log "debootstrap took $(( $(date +%s) - started ))s; keeping it as $tarball"
  rm -f "$work"/debootstrap-cache/root-*.tar.zst
  tar -C "$root" --zstd --numeric-owner --xattrs --xattrs-include='*' -cf "$tarball.tmp" . &&
    mv "$tarball.tmp" "$tarball" || { rm -f "$tarball.tmp"; log "could not keep the root (going on)"; }
fi
log "root ready after $(( $(date +%s) - started ))s"

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
