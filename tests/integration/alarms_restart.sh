#!/usr/bin/env bash
# alarms_restart.sh VIGILD VIGIL_GEN VIGIL_STORE SOURCE_ROOT - vigild killed in the middle
# of a replay and started again: no alarm lost, none raised twice.
#
# vigil-gen writes 40 minutes of a 64-bed ward whose long events (fevers
# and desaturations of 20 minutes, an asystole that latches and is never
# reset) span the middle, with short events before, around and after it.
# vigild replays it once into store A: the reference. Then it replays it
# into store B and is killed with SIGKILL once it has reached the middle of
# the capture's time (its alarm log says so: about half the reference's
# alarms are stored by then, and some conditions are within their delay),
# and started again on store B with the same capture: it restores the open
# alarms and skips the events not newer than the newest stored change.
# alarms_score.py holds the result to:
#   (a) every alarm stored before the kill is still there, same id,
#       condition and raised time;
#   (b) no two alarms of one condition (subject, sid, device event) are
#       open at once: that would be one raised twice;
#   (c) every alarm open at the kill goes on under its id and ends as in
#       the reference (state and time), with the same changes (a desat
#       raised before the kill escalates after it);
#   (d) the alarms match the reference's by condition and raised time, but
#       for those pending (started, within their delay) at the kill, which
#       may be raised later by up to the time they had been pending;
#       NEWS2 is scored afresh after a restart (the patient state is not
#       stored), so its differences are printed and counted, not failed;
#   (e) the restart says "N open alarms restored" with N the alarms open
#       at the kill;
# and the alarm log of both runs has no id raised twice.
# The comparison is printed.
set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: $0 VIGILD VIGIL_GEN VIGIL_STORE SOURCE_ROOT" >&2
	exit 2
fi
vigild=$1
gen=$2
vstore=$3
root=$4
here=$(cd "$(dirname "$0")" && pwd)
score=$here/alarms_score.py
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

duration=2400
middle=2024-03-01T08:20:00 # vigil-gen's default start + duration / 2
rules=(--rules "$root/rules/clinical.rules" --rules "$root/rules/network.rules")

# field JSON EXPR: a value of the last JSON line of a vigild output, by a Python expression over r.
field() {
	python3 -c '
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
r = json.loads(lines[-1])
print(eval(sys.argv[2]))' "$1" "$2"
}

# Odd beds speak HL7, even beds VTP; device alarms go on HL7 beds.
cat >"$tmp/ward.events" <<'EV'
# Before the middle.
200 bed=13 tachycardia duration=60 target=150 onset=0
300 bed=15 bradycardia duration=60 target=33 onset=0
400 bed=17 hypotension duration=120 target=75 onset=0
500 bed=11 asystole duration=60
# Spanning the middle: 20 minutes.
600 bed=2 fever duration=1200 target=39.5 onset=0
620 bed=4 fever duration=1200 target=39.6 onset=0
640 bed=7 fever duration=1200 target=39.5 onset=0
700 bed=1 desat duration=1200 target=80 onset=0
720 bed=6 desat duration=1200 target=82 onset=0
740 bed=9 desat duration=1200 target=80 onset=0
# Around the middle: some of them pending when vigild is killed.
1000 bed=29 tachycardia duration=60 target=150 onset=0
1050 bed=31 tachycardia duration=60 target=150 onset=0
1100 bed=33 desat duration=60 target=80 onset=0
1150 bed=35 tachycardia duration=60 target=150 onset=0
1200 bed=37 desat duration=60 target=80 onset=0
1250 bed=39 tachycardia duration=60 target=150 onset=0
1300 bed=41 fever duration=200 target=39.5 onset=0
1350 bed=43 desat duration=60 target=80 onset=0
1400 bed=45 tachycardia duration=60 target=150 onset=0
# Within their delay (60 s for a fever, 15 s for SpO2) when vigild is killed.
1170 bed=47 fever duration=300 target=39.5 onset=0
1180 bed=51 fever duration=300 target=39.5 onset=0
1190 bed=53 fever duration=300 target=39.5 onset=0
1198 bed=55 desat duration=120 target=80 onset=0
# Raised before the kill, escalated (2 minutes unacknowledged) after it.
1150 bed=57 desat duration=300 target=80 onset=0
# After the middle.
1900 bed=19 tachycardia duration=60 target=150 onset=0
1950 bed=27 apnoea duration=60 alarm=yes
2000 bed=21 desat duration=60 target=80 onset=0
2100 bed=23 vf duration=30
2200 bed=25 silent duration=60
EV

config() { # config NAME: NAME.yaml with the store NAME.db and the log NAME.log
	cat >"$tmp/$1.yaml" <<YAML
storage:
  dir: $1.db
  retention: {obs: 0, alarms: 0}
alarms:
  log: $tmp/$1.log
  device_silent: 10s
YAML
}

# attempt BEDS: the whole trial on a ward of BEDS beds. Returns 3 when vigild
# finished the capture before it could be killed (the ward is too small).
attempt() {
	local beds=$1 ref_n k n rc
	rm -rf "$tmp"/ref.* "$tmp"/trial.* "$tmp/ward.pcap"
	"$gen" -q -b "$beds" -d $duration --proto mixed -e "$tmp/ward.events" -w "$tmp/ward.pcap"

	# The reference: the whole capture in one run.
	config ref
	if ! timeout 120 "$vigild" -c "$tmp/ref.yaml" --pcap "$tmp/ward.pcap" --json "${rules[@]}" \
		>"$tmp/ref.json" 2>"$tmp/ref.err"; then
		fail "reference: vigild exited non-zero:"
		sed 's/^/  /' "$tmp/ref.err"
		return 1
	fi
	"$vstore" --dir "$tmp/ref.db" query alarms >"$tmp/ref.store"
	ref_n=$(wc -l <"$tmp/ref.store")
	echo "reference ($beds beds): $ref_n alarms, replayed in $(field "$tmp/ref.json" 'r["elapsed_s"]') s;" \
		"events $(field "$tmp/ref.json" 'r["events"]')"
	[ "$(field "$tmp/ref.json" 'r["events"]["telemetry_lost"] + r["events"]["alarm_lost"]')" -eq 0 ] ||
		fail "the reference replay lost events: the comparison is of two lossy replays"
	[ "$ref_n" -ge 20 ] || {
		fail "the reference raised only $ref_n alarms"
		return 1
	}
	k=$(python3 -c '
import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["record"]["raised"] < sys.argv[2]))
' "$tmp/ref.store" "$middle")

	# The trial: killed once its alarm log (alarm changes, after their sync,
	# and NEWS2 scores) has reached the middle of the capture's time.
	config trial
	: >"$tmp/trial.log"
	"$vigild" -c "$tmp/trial.yaml" --pcap "$tmp/ward.pcap" --json "${rules[@]}" \
		>"$tmp/trial1.json" 2>"$tmp/trial1.err" &
	bg_pid=$!
	last=
	for _ in $(seq 1 6000); do
		last=$(tail -n 1 "$tmp/trial.log" | cut -c15-33)
		if [[ "$last" > "$middle" ]] || ! kill -0 "$bg_pid" 2>/dev/null; then
			break
		fi
		sleep 0.01
	done
	n=$(grep -c '"change":"raised"' "$tmp/trial.log" || true)
	kill -KILL "$bg_pid" 2>/dev/null || true
	rc=0
	wait "$bg_pid" || rc=$?
	bg_pid=
	if [ $rc -ne 137 ]; then
		if grep -q '^{' "$tmp/trial1.json"; then
			echo "vigild finished the $beds-bed capture before it could be killed (log at $last)"
			return 3
		fi
		fail "the killed vigild exited $rc, expected 137 (SIGKILL):"
		sed 's/^/  /' "$tmp/trial1.err"
		return 1
	fi
	"$vstore" --dir "$tmp/trial.db" query alarms >"$tmp/killed.store"
	echo "killed with the log at $last: $n raised lines, $(wc -l <"$tmp/killed.store") alarms" \
		"stored (the reference raised $k of its $ref_n before $middle)"
	# How far each lane got: the newest alarm change stored (the restart skips
	# every event up to it) and the newest observation stored (beds 1-4).
	for b in 1 2 3 4; do
		"$vstore" --dir "$tmp/trial.db" query obs --device "$(printf '0x025647FFFE%06X' $b)"
	done >"$tmp/killed.obs"
	python3 -c '
import json, sys
ch = max((json.loads(l)["record"]["changed"] for l in open(sys.argv[1])), default="none")
ob = max((json.loads(l)["time"] for l in open(sys.argv[2])), default="none")
print("at the kill: alarm changes stored up to %s, observations stored up to %s" % (ch, ob))
' "$tmp/killed.store" "$tmp/killed.obs"

	# The restart on the same store, capture and log.
	if ! timeout 120 "$vigild" -c "$tmp/trial.yaml" --pcap "$tmp/ward.pcap" --json "${rules[@]}" \
		>"$tmp/trial2.json" 2>"$tmp/trial2.err"; then
		fail "restart: vigild exited non-zero:"
		sed 's/^/  /' "$tmp/trial2.err"
		return 1
	fi
	grep -E "alarms?:|restored" "$tmp/trial2.err" | sed 's/^/restart said: /' || true
	echo "restart: clinical.replayed $(field "$tmp/trial2.json" 'r["clinical"]["replayed"]'), alarms.restored $(field "$tmp/trial2.json" 'r["alarms"]["restored"]'), raised $(field "$tmp/trial2.json" 'r["alarms"]["raised"]')"
	[ "$(field "$tmp/trial2.json" 'r["clinical"]["replayed"]')" -gt 0 ] ||
		fail "the restart skipped no event as replayed"
	"$vstore" --dir "$tmp/trial.db" query alarms >"$tmp/final.store"
	python3 "$score" restart --reference "$tmp/ref.store" --killed "$tmp/killed.store" \
		--final "$tmp/final.store" --restart-err "$tmp/trial2.err" --eve "$tmp/trial.log" \
		--news2-lenient || fail "the restart comparison failed (above)"
}

rc=0
attempt 64 || rc=$?
if [ $rc -eq 3 ]; then
	rc=0
	attempt 128 || rc=$?
	[ $rc -ne 3 ] || fail "vigild replays even 128 beds before it can be killed"
fi
[ $rc -eq 0 ] || [ $rc -eq 3 ] || failed=1

if [ $failed -ne 0 ]; then
	exit 1
fi
echo "alarms-restart: ok"
