#!/usr/bin/env bash
# pcap_counts.sh VIGILD MKPCAP - vigild counts every frame of a capture exactly.
#
# vigil-mkpcap writes a capture of known composition and prints the counters
# vigild must report for it. This replays such captures through
# `vigild --pcap FILE --json` and compares every expected counter with the
# one vigild printed (exact equality), plus the accounting invariant
#   rx_packets == sum(outcomes) + sum(drops other than port_*)
# and zero port-level drops (a pcap port has no ring to overflow). It does so
# for several seeds, sizes and configurations, and then checks that SIGTERM
# in the middle of an endless replay still ends in exit 0 and a final summary
# that balances.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 VIGILD MKPCAP" >&2
	exit 2
fi
vigild=$1
mkpcap=$2
tmp=$(mktemp -d)
bg_pid=
cleanup() {
	if [ -n "$bg_pid" ] && kill -0 "$bg_pid" 2>/dev/null; then
		kill -KILL "$bg_pid" 2>/dev/null || true
		wait "$bg_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# compare.py EXPECTED ACTUAL LABEL: exact comparison of the counters.
# ACTUAL is vigild's stdout; its last line that is a JSON object is the final
# summary (EAL messages or periodic reports may come before it). With
# EXPECTED "-", only the invariant and the shape are checked.
cat >"$tmp/compare.py" <<'PY'
import json
import sys

expected_path, actual_path, label = sys.argv[1:4]
errors = []


def final_summary(path):
    summary = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    summary = json.loads(line)
                except ValueError as e:
                    errors.append("unparsable JSON line in vigild's output: %s" % e)
    return summary


actual = final_summary(actual_path)
if actual is None:
    print("%s: FAIL: no JSON summary on vigild's stdout" % label)
    sys.exit(1)
for key in ("rx_packets", "tx_packets", "outcomes", "drops", "workers", "ports"):
    if key not in actual:
        errors.append("summary has no '%s'" % key)
outcomes = actual.get("outcomes", {})
drops = actual.get("drops", {})

port_drops = ("port_imissed", "port_ierrors", "port_rx_nombuf")
for name in port_drops:
    if name not in drops:
        errors.append("drops has no '%s'" % name)
    elif drops[name] != 0:
        errors.append("drops.%s = %d, expected 0" % (name, drops[name]))

rx = actual.get("rx_packets", -1)
accounted = sum(outcomes.values()) + sum(
    v for k, v in drops.items() if not k.startswith("port_"))
if rx != accounted:
    errors.append("invariant broken: rx_packets %d != sum(outcomes) + sum(drops) %d"
                  % (rx, accounted))

if expected_path == "-":
    if rx <= 0:
        errors.append("rx_packets = %d, expected > 0" % rx)
else:
    with open(expected_path) as f:
        expected = json.load(f)
    # Every top-level counter mkpcap states (rx_packets, rx_bytes, ...).
    for key, want in sorted(expected.items()):
        if isinstance(want, dict):
            continue
        if key not in actual:
            errors.append("%s: missing from vigild's summary" % key)
        elif actual[key] != want:
            errors.append("%s: expected %d, got %d" % (key, want, actual[key]))
    for section in ("outcomes", "drops"):
        want_section = expected.get(section, {})
        got_section = actual.get(section, {})
        for name, want in sorted(want_section.items()):
            if name not in got_section:
                errors.append("%s.%s: missing from vigild's summary (expected %d)"
                              % (section, name, want))
            elif got_section[name] != want:
                errors.append("%s.%s: expected %d, got %d"
                              % (section, name, want, got_section[name]))
        # A counter vigild has and mkpcap does not know means the lists drifted.
        for name in sorted(set(got_section) - set(want_section)):
            if section == "drops" and name in port_drops:
                continue
            errors.append("%s.%s: reported by vigild (%d) but not by vigil-mkpcap"
                          % (section, name, got_section[name]))
    if not expected.get("outcomes") or not expected.get("drops"):
        errors.append("vigil-mkpcap's expectation has no outcomes or drops")

if errors:
    print("%s: FAIL (%d mismatches)" % (label, len(errors)))
    for e in errors:
        print("  " + e)
    sys.exit(1)
print("%s: ok (rx_packets %d, %d outcome and %d drop counters compared)"
      % (label, rx, len(outcomes), len(drops)))
PY

# run_pcap LABEL SEED COUNT MIX CONFIG_BODY: generate, replay, compare.
# MIX is the mix's name and any further vigil-mkpcap options ("known --jumbo").
run_pcap() {
	local label=$1 seed=$2 count=$3 mix=$4 config=$5 rc=0
	local cap="$tmp/$label.pcap" cfg="$tmp/$label.yaml"
	local -a mixargs
	read -ra mixargs <<<"$mix"

	# Called as `run_pcap ... || failed=1`, where set -e does not apply:
	# every step checks its own status.
	if ! "$mkpcap" --seed "$seed" --count "$count" --mix "${mixargs[@]}" "$cap" \
		>"$tmp/$label.expected"; then
		echo "$label: FAIL: vigil-mkpcap failed"
		return 1
	fi
	printf '%s\n' "$config" >"$cfg"
	timeout 120 "$vigild" --config "$cfg" --pcap "$cap" --json \
		>"$tmp/$label.out" 2>"$tmp/$label.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "$label: FAIL: vigild exited $rc (124: timed out); stderr:"
		sed 's/^/  /' "$tmp/$label.err"
		return 1
	fi
	if ! python3 "$tmp/compare.py" "$tmp/$label.expected" "$tmp/$label.out" "$label"; then
		echo "  config:"
		sed 's/^/    /' "$cfg"
		echo "  vigil-mkpcap expected: $(cat "$tmp/$label.expected")"
		echo "  vigild printed: $(grep '^{' "$tmp/$label.out" | tail -n 1)"
		return 1
	fi
}

port_config='ports: [{device: "net_null0", addresses: [192.0.2.1, "2001:db8::1"]}]'
failed=0

# --jumbo adds frames over one mbuf, which net_pcap chains (rx_chained).
run_pcap known-1000 1 1000 "known --jumbo" "$port_config" || failed=1
run_pcap known-5000 2 5000 "known --jumbo" "$port_config" || failed=1
# The same with workers and eal: spelled out (lcores given by the config).
run_pcap explicit-eal 3 2000 "known --jumbo" "eal: [\"--no-pci\", \"--no-huge\", \"--no-shconf\", \"-m\", \"512\", \"-l\", \"0-1\"]
workers: 1
$port_config" || failed=1

# SIGTERM during an endless replay: exit 0 and a final summary that balances.
# --pcap stops by itself, so the capture goes on a configured net_pcap port.
sigterm_test() {
	local label=sigterm cap="$tmp/sigterm.pcap" cfg="$tmp/sigterm.yaml" rc=0 waited=0

	if ! "$mkpcap" --seed 4 --count 1000 --mix known "$cap" >/dev/null; then
		echo "$label: FAIL: vigil-mkpcap failed"
		return 1
	fi
	printf 'ports: [{device: "net_pcap0,rx_pcap=%s,infinite_rx=1", addresses: [192.0.2.1, "2001:db8::1"]}]\nstorage: {dir: "%s/db"}\n' \
		"$cap" "$tmp" >"$cfg"
	"$vigild" --config "$cfg" --json --stats-interval 1 >"$tmp/$label.out" \
		2>"$tmp/$label.err" &
	bg_pid=$!
	# Running once the first periodic report is out (at most 30 s).
	while ! grep -q '^{' "$tmp/$label.out" 2>/dev/null; do
		if ! kill -0 "$bg_pid" 2>/dev/null || [ "$waited" -ge 300 ]; then
			break
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	sleep 1
	if ! kill -TERM "$bg_pid" 2>/dev/null; then
		wait "$bg_pid" || rc=$?
		bg_pid=
		echo "$label: FAIL: vigild ended before SIGTERM (exit $rc); stderr:"
		sed 's/^/  /' "$tmp/$label.err"
		return 1
	fi
	# It has 30 s to finish the burst, stop the ports and print.
	waited=0
	while kill -0 "$bg_pid" 2>/dev/null && [ "$waited" -lt 300 ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	if kill -0 "$bg_pid" 2>/dev/null; then
		echo "$label: FAIL: vigild still running 30 s after SIGTERM"
		return 1
	fi
	wait "$bg_pid" || rc=$?
	bg_pid=
	if [ "$rc" -ne 0 ]; then
		echo "$label: FAIL: vigild exited $rc after SIGTERM; stderr:"
		sed 's/^/  /' "$tmp/$label.err"
		return 1
	fi
	python3 "$tmp/compare.py" - "$tmp/$label.out" "$label"
}
sigterm_test || failed=1

if [ "$failed" -ne 0 ]; then
	echo "pcap_counts: FAILED"
	exit 1
fi
echo "pcap_counts: all runs matched"
