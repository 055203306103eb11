#!/usr/bin/env bash
# store_vigild.sh VIGILD VIGIL_GEN VIGIL_DECODE VIGIL_STORE SOURCE_ROOT - vigild's storage.
#
# vigil-gen writes a mixed HL7/VTP ward with scripted events; vigild
# replays it with the shipped rulesets and storage.dir in a temporary
# directory; vigil-store then reads the directory. The test holds it to:
#   - every observation the consumer took is stored (the sum over the
#     capture's devices of `vigil-store query obs` equals the report's
#     consumer.telemetry_events and storage.obs_written), although a VTP
#     frame's observations share a device, a time and a sequence number;
#   - every alarm raised is one alarm record (`vigil-store query alarms`
#     equals alarms.raised), ids 1..N, each record's history starting with
#     its raise; every change stored was announced (storage.alarms_stored
#     equals clinical.announced);
#   - a second start on the same directory replaying the same capture
#     restores the alarms left open, skips what it had seen
#     (clinical.replayed) and raises nothing twice: still N records;
#   - while one vigild runs (a looped capture), a second one on the same
#     directory is refused at start with exit 2 and the lock message;
#     the first, stopped with SIGTERM, has stored everything it took;
#   - --pcap without storage.dir in the configuration keeps nothing, and
#     says so.
set -euo pipefail

if [ $# -ne 5 ]; then
	echo "usage: $0 VIGILD VIGIL_GEN VIGIL_DECODE VIGIL_STORE SOURCE_ROOT" >&2
	exit 2
fi
vigild=$1
gen=$2
decode=$3
vstore=$4
root=$5
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

failed=0
fail() {
	echo "FAIL: $*"
	failed=1
}

rules=(--rules "$root/rules/clinical.rules" --rules "$root/rules/network.rules")

"$gen" -q -b 8 -d 60 --proto mixed --scenario demo -w "$tmp/ward.pcap"
# The devices of the capture: vigil-store queries observations one device at a time.
"$decode" --json "$tmp/ward.pcap" 2>/dev/null | python3 -c '
import json, sys
devices = {json.loads(l)["device"] for l in sys.stdin if l.startswith("{\"type\":\"obs\"")}
print("\n".join("0x" + d for d in sorted(devices)))' >"$tmp/devices"
[ -s "$tmp/devices" ] || fail "vigil-decode found no device in the capture"

# field JSON EXPR: a value of the last JSON line of a vigild output, by a Python expression over r.
field() {
	python3 -c '
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
r = json.loads(lines[-1])
print(eval(sys.argv[2]))' "$1" "$2"
}

# stored_obs DIR: observations in DIR, summed over the capture's devices.
stored_obs() {
	local n=0 d c
	while read -r d; do
		c=$("$vstore" --dir "$1" query obs --device "$d" | wc -l)
		n=$((n + c))
	done <"$tmp/devices"
	echo "$n"
}

# check_alarms DIR FIRST LAST: the alarm records of DIR have the ids FIRST..LAST in order.
check_alarms() {
	"$vstore" --dir "$1" query alarms | python3 -c '
import json, sys
first, last = int(sys.argv[1]), int(sys.argv[2])
ids = []
for line in sys.stdin:
    r = json.loads(line)
    if r["record"]["id"] != r["id"]:
        print("record id %s under key %s" % (r["record"]["id"], r["id"]))
        sys.exit(1)
    ids.append(r["id"])
if ids != list(range(first, last + 1)):
    print("ids %s..%s (%d), expected %d..%d" % (ids[:1], ids[-1:], len(ids), first, last))
    sys.exit(1)' "$2" "$3"
}

# The alarm records a run makes: one per alarm raised (its changes rewrite it).
alarm_records='r["alarms"]["raised"]'

# The failure counters of storage{}: all zero on a healthy run.
storage_failures='sum(r["storage"][k] for k in ("obs_failed", "alarms_failed", "write_errors",
	"no_space", "obs_store_failed", "alarm_store_failed", "alarm_retry_lost", "alarm_refused",
	"alarm_encode_failed", "disk_full_alarms", "events_ignored"))'

# 1. A replay with storage on. The capture's times are of 2024: retention off.
cat >"$tmp/run.yaml" <<YAML
storage:
  dir: db
  retention: {obs: 0, alarms: 0}
YAML
if timeout 120 "$vigild" -c "$tmp/run.yaml" --pcap "$tmp/ward.pcap" --json "${rules[@]}" \
	>"$tmp/run.json" 2>"$tmp/run.err"; then
	j=$tmp/run.json
	grep -q "^vigild: storage: $tmp/db (lz4), observations kept forever" "$tmp/run.err" ||
		fail "start-up line: $(grep storage "$tmp/run.err")"
	tel=$(field "$j" 'r["consumer"]["telemetry_events"]')
	alarms=$(field "$j" "$alarm_records")
	[ "$tel" -gt 0 ] || fail "no telemetry events"
	[ "$alarms" -gt 0 ] || fail "the shipped rules raised nothing"
	[ "$(field "$j" 'r["storage"]["obs_written"]')" -eq "$tel" ] ||
		fail "storage.obs_written $(field "$j" 'r["storage"]["obs_written"]') != $tel telemetry events"
	[ "$(field "$j" 'r["storage"]["obs_stored"]')" -eq "$tel" ] || fail "storage.obs_stored"
	changes=$(field "$j" 'r["clinical"]["announced"]')
	[ "$(field "$j" 'r["clinical"]["announced_unstored"]')" -eq 0 ] ||
		fail "alarm changes announced before being stored"
	[ "$(field "$j" 'r["storage"]["alarms_stored"]')" -eq "$changes" ] ||
		fail "storage.alarms_stored $(field "$j" 'r["storage"]["alarms_stored"]') != $changes changes announced"
	[ "$(field "$j" "$storage_failures")" -eq 0 ] ||
		fail "storage failure counters: $(field "$j" 'r["storage"]')"
	[ "$(field "$j" 'r["storage_info"]["dir"]')" = "$tmp/db" ] || fail "storage_info.dir"
	[ "$(field "$j" 'r["storage_info"]["failing"]')" = False ] || fail "storage_info.failing"

	n=$(stored_obs "$tmp/db")
	[ "$n" -eq "$tel" ] || fail "vigil-store finds $n observations, the consumer took $tel"
	n=$("$vstore" --dir "$tmp/db" query alarms | wc -l)
	[ "$n" -eq "$alarms" ] || fail "vigil-store finds $n alarm records, the consumer took $alarms"
	check_alarms "$tmp/db" 1 "$alarms" || fail "alarm ids after the first run"
	# Each record: its history starts with the raise; the open ones are
	# as many as the report says are open.
	"$vstore" --dir "$tmp/db" query alarms | python3 -c '
import json, sys
bad = open_ = 0
for l in sys.stdin:
    r = json.loads(l)["record"]
    if not r["history"] or r["history"][0]["change"] != "raised":
        bad += 1
    if r["state"] in ("active", "acknowledged", "latched"):
        open_ += 1
print(bad, open_)' >"$tmp/records"
	read -r bad open_ <"$tmp/records"
	[ "$bad" -eq 0 ] || fail "$bad alarm records whose history does not start with the raise"
	[ "$open_" -eq "$(field "$j" 'sum(r["alarms"]["open"].values())')" ] ||
		fail "$open_ open alarm records, the report says $(field "$j" 'r["alarms"]["open"]')"

	# 2. Again on the same directory: the open alarms are restored and the
	#    events seen before are skipped, so nothing is raised twice.
	if timeout 120 "$vigild" -c "$tmp/run.yaml" --pcap "$tmp/ward.pcap" --json "${rules[@]}" \
		>"$tmp/run2.json" 2>"$tmp/run2.err"; then
		alarms2=$(field "$tmp/run2.json" "$alarm_records")
		[ "$alarms2" -eq 0 ] || fail "the same capture again raised $alarms2 alarms twice"
		[ "$(field "$tmp/run2.json" 'r["alarms"]["restored"]')" -eq "$open_" ] ||
			fail "restored $(field "$tmp/run2.json" 'r["alarms"]["restored"]') alarms, $open_ were open"
		[ "$(field "$tmp/run2.json" 'r["clinical"]["replayed"]')" -gt 0 ] ||
			fail "the replay after a restart skipped nothing (clinical.replayed)"
		check_alarms "$tmp/db" 1 "$alarms" || fail "alarm ids after a restart"
		# What the restart skipped is not stored twice; what came after the
		# newest alarm change of the first run is stored again (under new keys:
		# a replay is a test, not the ward's record).
		again=$(field "$tmp/run2.json" 'r["storage"]["obs_stored"]')
		[ "$(field "$tmp/run2.json" 'r["storage"]["obs_stored"] + r["clinical"]["replayed"]')" -ge \
			"$tel" ] || fail "the replay again took fewer observations than the first"
		n=$(stored_obs "$tmp/db")
		[ "$n" -eq $((tel + again)) ] ||
			fail "after the replay again: $n observations, expected $tel + $again"
	else
		fail "second run: vigild exited non-zero:"
		sed 's/^/  /' "$tmp/run2.err"
	fi
else
	fail "vigild exited non-zero:"
	sed 's/^/  /' "$tmp/run.err"
fi

# 3. One vigild at a time per directory. The first replays the capture
#    endlessly on a configured net_pcap port (--pcap would stop at its end).
cat >"$tmp/loop.yaml" <<YAML
ports:
  - device: "net_pcap_loop0,rx_pcap=$tmp/ward.pcap,infinite_rx=1"
    addresses: [192.0.2.1]
storage:
  dir: $tmp/db2
  retention: {obs: 0, alarms: 0}
YAML
"$vigild" -c "$tmp/loop.yaml" --json --stats-interval 1 "${rules[@]}" >"$tmp/loop.json" \
	2>"$tmp/loop.err" &
bg_pid=$!
for _ in $(seq 1 600); do
	if grep -q '^{' "$tmp/loop.json" 2>/dev/null || ! kill -0 "$bg_pid" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
if ! kill -0 "$bg_pid" 2>/dev/null; then
	fail "the looping vigild ended by itself:"
	sed 's/^/  /' "$tmp/loop.err"
elif ! grep -q '^{' "$tmp/loop.json"; then
	fail "the looping vigild printed no report within 60 s"
else
	printf 'storage:\n  dir: %s\n' "$tmp/db2" >"$tmp/second.yaml"
	set +e
	timeout 60 "$vigild" -c "$tmp/second.yaml" --pcap "$tmp/ward.pcap" --json \
		>"$tmp/second.out" 2>"$tmp/second.err"
	rc=$?
	set -e
	[ $rc -eq 2 ] || fail "a second vigild on a locked directory: exit $rc, expected 2"
	grep -q "^vigild: storage: $tmp/db2: another process has it open: is vigild running?" \
		"$tmp/second.err" || fail "no lock message: $(cat "$tmp/second.err")"
	[ ! -s "$tmp/second.out" ] || fail "the refused vigild printed a report"
	grep -q "EAL" "$tmp/second.err" && fail "the refused vigild started the EAL"
fi
if kill -0 "$bg_pid" 2>/dev/null; then
	kill -TERM "$bg_pid"
	rc=0
	for _ in $(seq 1 1200); do
		kill -0 "$bg_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$bg_pid" 2>/dev/null; then
		fail "the looping vigild still runs 120 s after SIGTERM"
	else
		wait "$bg_pid" || rc=$?
		bg_pid=
		[ $rc -eq 0 ] || fail "the looping vigild exited $rc after SIGTERM"
		j=$tmp/loop.json
		tel=$(field "$j" 'r["consumer"]["telemetry_events"]')
		alarms=$(field "$j" "$alarm_records")
		[ "$(field "$j" 'r["storage"]["obs_written"]')" -eq "$tel" ] ||
			fail "looped: storage.obs_written != $tel telemetry events"
		[ "$(field "$j" 'r["storage"]["alarms_stored"]')" -eq \
			"$(field "$j" 'r["clinical"]["announced"]')" ] ||
			fail "looped: storage.alarms_stored != the alarm changes announced"
		[ "$(field "$j" "$storage_failures")" -eq 0 ] ||
			fail "looped: storage failure counters: $(field "$j" 'r["storage"]')"
		n=$("$vstore" --dir "$tmp/db2" query alarms | wc -l)
		[ "$n" -eq "$alarms" ] || fail "looped: $n alarm records stored, $alarms taken"
		n=$(stored_obs "$tmp/db2")
		[ "$n" -eq "$tel" ] || fail "looped: $n observations stored, $tel taken"
		echo "looped: $tel observations and $alarms alarm records, all stored"
	fi
fi

# 4. --pcap without storage.dir in a configuration keeps nothing, and says so.
if timeout 120 "$vigild" --pcap "$tmp/ward.pcap" --json >"$tmp/off.json" 2>"$tmp/off.err"; then
	grep -q "^vigild: storage off: nothing is kept (--pcap without storage.dir in the configuration)" \
		"$tmp/off.err" || fail "storage off: nothing said"
	[ "$(field "$tmp/off.json" 'r["storage_info"]["dir"]')" = None ] || fail "storage_info.dir"
	[ "$(field "$tmp/off.json" 'r["storage"]["obs_written"]')" -eq 0 ] || fail "storage off wrote"
else
	fail "storage off: vigild exited non-zero:"
	sed 's/^/  /' "$tmp/off.err"
fi

if [ $failed -ne 0 ]; then
	exit 1
fi
echo "store-vigild: ok"
