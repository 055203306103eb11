#!/usr/bin/env bash
# veth_ping.sh VIGILD - vigild answers ARP, ping and ping -6 from a real kernel.
#
# The unit tests check the replies byte by byte against the RFCs; this test
# checks that a real Linux neighbour accepts them. It puts one end of a veth
# pair in a network namespace (192.0.2.2, 2001:db8::2) and gives the other
# end to vigild through net_af_packet with the appliance addresses
# 192.0.2.1 and 2001:db8::1. The root-side interface has no address and IPv6
# off, so only vigild can answer. From the namespace, ping, arping and
# ping -6 must get replies; after SIGTERM, vigild must exit 0 and its summary
# must count the replies it sent.
#
# Needs root, ip, ping and arping (Thomas Habets' arping, Debian's `arping`);
# without them it exits 77, which meson reports as skipped.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 VIGILD" >&2
	exit 2
fi
vigild=$1

if [ "$EUID" -ne 0 ]; then
	echo "SKIP: needs root (network namespaces, veth, AF_PACKET)"
	exit 77
fi
for tool in ip ping arping timeout python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: '$tool' is not installed"
		exit 77
	fi
done

ns=vgt-$$
host_if=vgh$$
ns_if=vgn$$
tmp=$(mktemp -d)
vigild_pid=

cleanup() {
	if [ -n "$vigild_pid" ] && kill -0 "$vigild_pid" 2>/dev/null; then
		kill -KILL "$vigild_pid" 2>/dev/null || true
		wait "$vigild_pid" 2>/dev/null || true
	fi
	timeout 10 ip link del "$host_if" 2>/dev/null || true
	timeout 10 ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

in_ns() {
	timeout 20 ip netns exec "$ns" "$@"
}

# --- The network: vigild's end in the root namespace, the peer in $ns ----
timeout 10 ip netns add "$ns"
timeout 10 ip link add "$host_if" type veth peer name "$ns_if"
timeout 10 ip link set "$ns_if" netns "$ns"
in_ns ip link set lo up
in_ns ip addr add 192.0.2.2/24 dev "$ns_if"
in_ns ip -6 addr add 2001:db8::2/64 dev "$ns_if" nodad
in_ns ip link set "$ns_if" up
# The root side carries no address and no IPv6, so the kernel answers
# nothing there: every reply the namespace gets comes from vigild. The kernel
# still sees the IPv4 frames (AF_PACKET taps, it does not steal): it must
# neither forward them (192.0.2.0/24 is not ours to route anywhere) nor
# answer ARP for them.
timeout 10 sysctl -q -w "net.ipv6.conf.$host_if.disable_ipv6=1"
timeout 10 sysctl -q -w "net.ipv4.conf.$host_if.forwarding=0"
timeout 10 sysctl -q -w "net.ipv4.conf.$host_if.rp_filter=1"
timeout 10 sysctl -q -w "net.ipv4.conf.$host_if.arp_ignore=8"
timeout 10 ip link set "$host_if" up

# --- vigild on the root side ---------------------------------------------
cat >"$tmp/vigil.yaml" <<EOF
ports: [{device: "net_af_packet0,iface=$host_if", addresses: [192.0.2.1, "2001:db8::1"]}]
storage: {dir: "$tmp/db"}
EOF
"$vigild" --config "$tmp/vigil.yaml" --json --stats-interval 1 >"$tmp/vigild.out" \
	2>"$tmp/vigild.err" &
vigild_pid=$!

show_vigild() {
	echo "vigild stdout (last lines):"
	tail -n 5 "$tmp/vigild.out" | sed 's/^/  /'
	echo "vigild stderr:"
	sed 's/^/  /' "$tmp/vigild.err"
}

# Up once the first periodic report is out (at most 30 s).
waited=0
while ! grep -q '^{' "$tmp/vigild.out"; do
	if ! kill -0 "$vigild_pid" 2>/dev/null; then
		rc=0
		wait "$vigild_pid" || rc=$?
		vigild_pid=
		echo "FAIL: vigild exited $rc during start-up"
		show_vigild
		exit 1
	fi
	if [ "$waited" -ge 300 ]; then
		echo "FAIL: vigild printed no report within 30 s"
		show_vigild
		exit 1
	fi
	sleep 0.1
	waited=$((waited + 1))
done
echo "vigild is up (pid $vigild_pid)"

# --- The neighbour asks ----------------------------------------------------
failed=0
check() {
	local name=$1 rc=0
	shift
	"$@" >"$tmp/$name.log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "FAIL: $name: '$*' exited $rc"
		sed 's/^/  /' "$tmp/$name.log"
		failed=1
		return 1
	fi
	echo "ok: $name"
	sed 's/^/  /' "$tmp/$name.log"
}

check ping4 in_ns ping -c 3 -W 2 192.0.2.1 || true
# Habets' arping: -i names the interface; it exits 0 only if a reply came.
if check arping in_ns arping -c 2 -w 3 -i "$ns_if" 192.0.2.1; then
	if ! grep -q 'bytes from' "$tmp/arping.log"; then
		echo "FAIL: arping exited 0 but printed no reply"
		failed=1
	fi
fi
check ping6 in_ns ping -6 -c 3 -W 2 2001:db8::1 || true
# The namespace's kernel must have learnt vigild's MAC for both addresses.
in_ns ip neigh show dev "$ns_if" | sed 's/^/  neighbour: /' || true

# --- SIGTERM: exit 0 and a summary that counts the replies ----------------
kill -TERM "$vigild_pid"
waited=0
while kill -0 "$vigild_pid" 2>/dev/null && [ "$waited" -lt 300 ]; do
	sleep 0.1
	waited=$((waited + 1))
done
if kill -0 "$vigild_pid" 2>/dev/null; then
	echo "FAIL: vigild still running 30 s after SIGTERM"
	show_vigild
	exit 1
fi
rc=0
wait "$vigild_pid" || rc=$?
vigild_pid=
if [ "$rc" -ne 0 ]; then
	echo "FAIL: vigild exited $rc after SIGTERM"
	show_vigild
	exit 1
fi

if ! python3 - "$tmp/vigild.out" <<'PY'; then
import json
import sys

summary = None
for line in open(sys.argv[1]):
    if line.startswith("{"):
        summary = json.loads(line)
if summary is None:
    print("FAIL: no JSON summary from vigild")
    sys.exit(1)
out = summary.get("outcomes", {})
drops = summary.get("drops", {})
need = {"arp_replies": 1, "icmp_echo_replies": 3, "icmp6_echo_replies": 3, "nd_adverts": 1}
errors = ["%s = %d, expected >= %d" % (k, out.get(k, 0), v)
          for k, v in need.items() if out.get(k, 0) < v]
rx = summary.get("rx_packets", -1)
tx = summary.get("tx_packets", -1)
accounted = sum(out.values()) + sum(v for k, v in drops.items() if not k.startswith("port_"))
if rx != accounted:
    errors.append("rx_packets %d != sum(outcomes) + sum(drops) %d" % (rx, accounted))
replies = sum(out.get(k, 0) for k in need)
if tx != replies:
    errors.append("tx_packets %d != replies counted %d" % (tx, replies))
print("summary: rx_packets %d, tx_packets %d, %s" % (
    rx, tx, ", ".join("%s %d" % (k, out.get(k, 0)) for k in sorted(need))))
print("non-zero drops: %s" % ({k: v for k, v in drops.items() if v} or "none"))
for e in errors:
    print("FAIL: " + e)
sys.exit(1 if errors else 0)
PY
	failed=1
fi

if [ "$failed" -ne 0 ]; then
	show_vigild
	echo "veth_ping: FAILED"
	exit 1
fi
echo "veth_ping: vigild answered ARP, ICMP echo, ND and ICMPv6 echo"
