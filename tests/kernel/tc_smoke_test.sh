#!/bin/sh
# Kernel-tier smoke test of the tc features vfguard relies on, through the
# stock `tc` and `ip` tools: a veth pair whose ends sit in two network
# namespaces, a clsact qdisc bound to a shared ingress block, flower filters
# with ARP keys and a `ct zone` action that real packets (ping) go through,
# per-filter counters, and skip_sw being refused on veth (no hardware).
#
# Exits 77 (meson: skipped) with the reason when not root, when tools are
# missing, or when the kernel lacks veth, clsact, cls_flower, act_gact or
# act_ct. Once those are known present, any difference is a failure (exit 1).
set -u

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
pass() { echo "ok: $*"; }

[ "$(id -u)" = 0 ] || skip "needs root (run it through tools/vmrun)"
for tool in ip tc ping; do
  command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed"
done

A="vfg-smoke-a-$$"
B="vfg-smoke-b-$$"
BLOCK=7
cleanup() {
  ip netns del "$A" 2>/dev/null
  ip netns del "$B" 2>/dev/null
}
trap cleanup EXIT
ip netns add "$A" || skip "cannot create a network namespace"
ip netns add "$B" || skip "cannot create a network namespace"
inA() { ip netns exec "$A" "$@"; }
inB() { ip netns exec "$B" "$@"; }

# Runs a probe for a kernel feature; on failure skips with the kernel's words.
probe() {  # what, command...
  what=$1; shift
  if ! out=$("$@" 2>&1); then
    skip "kernel $(uname -r) lacks $what: $(echo "$out" | head -n 2 | tr '\n' ' ')"
  fi
}
probe "veth" inA ip link add v0 type veth peer name v1 netns "$B"
probe "clsact/ingress blocks (sch_ingress)" inA tc qdisc add dev v0 ingress_block "$BLOCK" clsact
probe "cls_flower or act_gact" \
  inA tc filter add block "$BLOCK" protocol all pref 999 handle 0x999 flower action gact pass
probe "act_ct" \
  inA tc filter add block "$BLOCK" protocol ip pref 998 handle 0x998 flower ip_proto udp \
    dst_port 9 action ct zone 1 pipe action gact pass
inA tc filter del block "$BLOCK" protocol all pref 999 || fail "cannot delete probe filter 999"
inA tc filter del block "$BLOCK" protocol ip pref 998 || fail "cannot delete probe filter 998"

# --- topology: A/v0 10.0.0.1 <-> B/v1 10.0.0.2, v0 ingress on block 7 ------
MAC_B=02:00:00:00:00:02
inB ip link set v1 address "$MAC_B" || fail "cannot set v1's MAC"
inA ip addr add 10.0.0.1/24 dev v0 || fail "cannot address v0"
inB ip addr add 10.0.0.2/24 dev v1 || fail "cannot address v1"
inA ip link set v0 up && inA ip link set lo up || fail "cannot bring v0 up"
inB ip link set v1 up && inB ip link set lo up || fail "cannot bring v1 up"

# A second port on the same block shares its filters.
inA ip link add d0 type dummy 2>/dev/null || inA ip link add d0 type veth peer name d1 ||
  fail "cannot create a second port"
inA tc qdisc add dev d0 ingress_block "$BLOCK" clsact || fail "cannot bind d0 to block $BLOCK"
inA tc qdisc show dev d0 | grep -q "ingress_block $BLOCK" ||
  fail "d0's clsact does not report ingress_block $BLOCK: $(inA tc qdisc show dev d0)"
pass "two ports share ingress block $BLOCK"

# --- filters -----------------------------------------------------------------
# B's ARP request for A (who-has 10.0.0.1 tell 10.0.0.2) passes, counted.
inA tc filter add block "$BLOCK" protocol arp pref 10 handle 0x10 flower \
  arp_op request arp_sip 10.0.0.2 arp_tip 10.0.0.1 arp_sha "$MAC_B" action gact pass ||
  fail "cannot add the ARP filter"
# Untracked IPv4 goes through conntrack in zone 5, then to chain 1.
inA tc filter add block "$BLOCK" protocol ip pref 20 handle 0x20 flower ct_state -trk \
  action ct zone 5 pipe action goto chain 1 || fail "cannot add the ct zone filter"
# In chain 1: new ICMP tracked in zone 5 is committed and passes.
inA tc filter add block "$BLOCK" protocol ip chain 1 pref 30 handle 0x30 flower ip_proto icmp \
  ct_state +trk+new ct_zone 5 action ct commit zone 5 pipe action gact pass ||
  fail "cannot add the ct_state/ct_zone filter"
inA tc filter add block "$BLOCK" protocol ip chain 1 pref 31 handle 0x31 flower ip_proto icmp \
  ct_state +trk+est ct_zone 5 action gact pass || fail "cannot add the +est filter"
inA tc filter add block "$BLOCK" protocol ip chain 1 pref 99 handle 0x99 flower action gact drop ||
  fail "cannot add chain 1's drop"
# A's replies leave through zone 5 too, so the connection becomes established.
inA tc filter add dev v0 egress protocol ip pref 40 handle 0x40 flower ct_state -trk \
  action ct zone 5 pipe action gact pass || fail "cannot add the egress ct zone filter"

listing=$(inA tc filter show block "$BLOCK"; inA tc filter show block "$BLOCK" chain 1)
for want in "arp_sip 10.0.0.2" "arp_tip 10.0.0.1" "arp_sha $MAC_B" "arp_op request" \
            "ct_state -trk" "ct zone 5" "goto chain 1" "ct_state +trk+new" "ct_zone 5" \
            "ct commit zone 5"; do
  echo "$listing" | grep -q -- "$want" || fail "filter listing lacks '$want':
$listing"
done
pass "filters listed with their ARP and ct keys"

# Packets that reached one filter's first action, from `tc -s filter show`.
hits() {  # chain pref
  inA tc -s filter show block "$BLOCK" chain "$1" pref "$2" |
    awk '/Sent [0-9]+ bytes [0-9]+ pkt/ && !done {
           for (i = 1; i < NF; i++) if ($(i+1) == "pkt") { print $i; done = 1 } }
         END { if (!done) print 0 }'
}

# --- traffic -----------------------------------------------------------------
inB ping -c 2 -i 0.5 -W 2 10.0.0.1 >/dev/null || fail "ping B -> A failed through the filters"
arp=$(hits 0 10); new=$(hits 1 30); est=$(hits 1 31); drop=$(hits 1 99)
echo "hits: arp=$arp new=$new est=$est drop=$drop"
[ "$arp" -ge 1 ] || fail "the ARP filter counted no packet"
[ "$new" = 1 ] || fail "$new echo requests were +trk+new in zone 5, want exactly the first"
[ "$est" = 1 ] || fail "$est echo requests were +trk+est in zone 5, want the second"
[ "$drop" = 0 ] || fail "chain 1's drop caught $drop packets"
pass "ping passes: ARP keys matched, echo requests tracked in zone 5 (new, then established)"

# The same ARP request dropped instead: A never learns B, ping fails.
inA tc filter replace block "$BLOCK" protocol arp pref 10 handle 0x10 flower \
  arp_op request arp_sip 10.0.0.2 arp_tip 10.0.0.1 arp_sha "$MAC_B" action gact drop ||
  fail "cannot replace the ARP filter"
inA ip neigh flush dev v0
inB ip neigh flush dev v1
if inB ping -c 1 -W 1 10.0.0.1 >/dev/null; then
  fail "ping succeeded although B's ARP requests are dropped"
fi
[ "$(hits 0 10)" -ge 1 ] || fail "the ARP drop filter counted no packet"
pass "dropping B's ARP request by its keys stops the ping"

# --- skip_sw on veth: no hardware to take it ----------------------------------
# On a port of its own (filters on a shared block cannot be added via a dev).
inA ip link add s0 type veth peer name s1 || fail "cannot create veth s0"
inA tc qdisc add dev s0 clsact || fail "cannot add clsact to s0"
inA tc filter add dev s0 ingress protocol ip pref 50 flower ip_proto tcp action gact drop ||
  fail "the filter without skip_sw was refused on s0"
out=$(inA tc filter add dev s0 ingress protocol ip pref 51 flower skip_sw ip_proto tcp \
  action gact drop 2>&1) && fail "skip_sw filter on veth was accepted"
echo "$out" | grep -q "Operation not supported" ||
  fail "skip_sw on veth failed, but not with EOPNOTSUPP: $out"
inA tc filter show dev s0 ingress | grep -q "pref 51" && fail "the refused skip_sw filter is listed"
pass "skip_sw on veth is refused with EOPNOTSUPP (the same filter without it is accepted)"

echo "tc_smoke_test: all checks passed on $(uname -r)"
