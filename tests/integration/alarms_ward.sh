#!/usr/bin/env bash
# alarms_ward.sh VIGILD VIGIL_GEN VIGIL_DECODE VIGIL_STORE SOURCE_ROOT - alarm detection
# on a simulated ward.
#
# vigil-gen writes one hour of a 16-bed mixed HL7/VTP ward with scripted
# clinical and technical events (desaturations, tachycardia, bradycardia,
# fever, hypotension, apnoea, asystole, VF, sensor and lead off, a silent
# monitor, a VTP sequence gap), each with a step onset so its time is known;
# vigild replays it on the capture's clock with the shipped rulesets,
# storage and the alarm log on. alarms_score.py then holds vigild to:
#   - recall 1: every alarm each event must raise (the rules its values
#     cross, replayed by an oracle of its own over the decoded capture; the
#     device alarm rules at their ORU^R40; device silent and sequence gap)
#     is raised, not before the rule's delay has run and within a second
#     of it, and ends as it must (cleared, or latched for asystole and VF);
#   - every metric alarm the oracle finds anywhere in the capture is
#     raised, at the same time (no missed alarm outside the events either);
#   - no false alarm: every alarm but NEWS2's is on a bed with an event,
#     while it lasts or recovers; NEWS2 alarms are counted, and those on
#     beds without an event must be explained by that bed's vital signs;
#   - the alarm log and the store agree: every line stored:true, each id in
#     `vigil-store query alarms` with the state of its last line and the
#     same changes, every history well formed, no condition raised twice;
# and a clean ward (no event) raises nothing but NEWS2 alarms. Both replays
# must be lossless (events.telemetry_lost and alarm_lost 0).
# The figures (recall, false alarms, NEWS2 counts) are printed.
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
here=$(cd "$(dirname "$0")" && pwd)
score=$here/alarms_score.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failed=0
fail() {
	echo "FAIL: $*"
	failed=1
}

beds=16
duration=3600
silent_s=10
rules=(--rules "$root/rules/clinical.rules" --rules "$root/rules/network.rules")

# field JSON EXPR: a value of the last JSON line of a vigild output, by a Python expression over r.
field() {
	python3 -c '
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
r = json.loads(lines[-1])
print(eval(sys.argv[2]))' "$1" "$2"
}

# Step onsets (onset=0): the value is past the limit from the bed's first send
# at or after T. Odd beds speak HL7, even beds VTP; device alarms (ORU^R40)
# go on HL7 beds. Beds 14 and 16 have no event.
cat >"$tmp/ward.events" <<'EV'
300 bed=1 desat duration=120 target=80 onset=0
400 bed=6 fever duration=300 target=39.5 onset=0
600 bed=3 tachycardia duration=120 target=150 onset=0
700 bed=15 sensor_off duration=120
800 bed=13 silent duration=60
900 bed=5 bradycardia duration=120 target=33 onset=0
1000 bed=8 hypotension duration=300 target=75 onset=0
1200 bed=9 apnoea duration=120 alarm=yes
1500 bed=2 desat duration=120 target=80 onset=0
1600 bed=10 seqgap count=5
1800 bed=11 asystole duration=60
2000 bed=4 tachycardia duration=120 target=150 onset=0
2200 bed=15 lead_off duration=120
2400 bed=7 fever duration=300 target=39.5 onset=0
2600 bed=13 vf duration=60
2800 bed=1 hypotension duration=300 target=75 onset=0
3000 bed=12 silent duration=120
EV

# run NAME: replay NAME.pcap into NAME.db with the alarm log NAME.log, then
# dump the stored alarms (NAME.store) and decode the capture (NAME.dec).
run() {
	local name=$1
	cat >"$tmp/$name.yaml" <<YAML
storage:
  dir: $name.db
  retention: {obs: 0, alarms: 0}
alarms:
  log: $tmp/$name.log
  device_silent: ${silent_s}s
YAML
	if ! timeout 120 "$vigild" -c "$tmp/$name.yaml" --pcap "$tmp/$name.pcap" --json "${rules[@]}" \
		>"$tmp/$name.json" 2>"$tmp/$name.err"; then
		fail "$name: vigild exited non-zero:"
		sed 's/^/  /' "$tmp/$name.err"
		return 1
	fi
	"$vstore" --dir "$tmp/$name.db" query alarms >"$tmp/$name.store"
	"$decode" --json "$tmp/$name.pcap" >"$tmp/$name.dec" 2>/dev/null || true
	[ -s "$tmp/$name.log" ] || touch "$tmp/$name.log"
	local j=$tmp/$name.json
	echo "$name: vigild: $(field "$j" '"raised %d, cleared %d, latched %d, filtered by their delay %d; announced %d (unstored %d); log lines %d (failed %d); open now %s" % (r["alarms"]["raised"], r["alarms"]["cleared"], r["alarms"]["latched"], r["alarms"]["filtered_delay"], r["clinical"]["announced"], r["clinical"]["announced_unstored"], r["clinical"]["log_lines"], r["clinical"]["log_failed"], r["alarms"]["open"])')"
	local raised stored lines
	raised=$(field "$j" 'r["alarms"]["raised"]')
	stored=$(wc -l <"$tmp/$name.store")
	lines=$(grep -c '"event_type":"alarm"' "$tmp/$name.log" || true)
	[ "$stored" -eq "$raised" ] || fail "$name: $stored alarms stored, alarms.raised says $raised"
	[ "$lines" -eq "$(field "$j" 'r["clinical"]["announced"]')" ] ||
		fail "$name: $lines alarm lines in the log, clinical.announced differs"
	[ "$(wc -l <"$tmp/$name.log")" -eq "$(field "$j" 'r["clinical"]["log_lines"]')" ] ||
		fail "$name: $(wc -l <"$tmp/$name.log") lines in the log, clinical.log_lines differs"
	[ "$(field "$j" 'r["clinical"]["announced_unstored"] + r["clinical"]["log_failed"]')" -eq 0 ] ||
		fail "$name: announced unstored or log writes failed"
	[ "$(field "$j" 'r["clinical"]["replayed"]')" -eq 0 ] ||
		fail "$name: a first run on an empty store skipped events as replayed"
	# A replay that drops observations scores something else than the capture.
	echo "$name: events: $(field "$j" 'r["events"]'); consumer: $(field "$j" 'r["consumer"]')"
	[ "$(field "$j" 'r["events"]["telemetry_lost"] + r["events"]["alarm_lost"]')" -eq 0 ] ||
		fail "$name: the replay lost events: $(field "$j" 'r["events"]')"
}

# 1. The ward with events.
"$gen" -q -b $beds -d $duration --proto mixed -e "$tmp/ward.events" -t "$tmp/ward.truth" \
	-w "$tmp/ward.pcap"
if run ward; then
	if ! python3 "$score" ward --pcap "$tmp/ward.pcap" --decode "$tmp/ward.dec" \
		--truth "$tmp/ward.truth" --rules "$root/rules/clinical.rules" \
		--store "$tmp/ward.store" --eve "$tmp/ward.log" --device-silent $silent_s \
		--strict-oracle; then
		fail "ward: the score failed (above)"
	fi
fi

# 2. The same ward without events: nothing but NEWS2.
"$gen" -q -b $beds -d $duration --proto mixed --scenario none -w "$tmp/clean.pcap"
if run clean; then
	if ! python3 "$score" ward --clean --pcap "$tmp/clean.pcap" --decode "$tmp/clean.dec" \
		--rules "$root/rules/clinical.rules" --store "$tmp/clean.store" \
		--eve "$tmp/clean.log" --device-silent $silent_s --strict-oracle; then
		fail "clean: the score failed (above)"
	fi
fi

if [ $failed -ne 0 ]; then
	exit 1
fi
echo "alarms-ward: ok"
