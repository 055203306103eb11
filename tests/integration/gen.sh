#!/usr/bin/env bash
# gen.sh VIGIL_GEN VIGILD - the ward simulator against the real decoders.
#
# vigil-gen prints on stderr a summary of exactly what it wrote (datagrams,
# HL7 messages, OBX rows, VTP frames and observations, bytes). This test
# holds it to that account and to its other promises:
#   - the same seed gives the same bytes (capture and truth file), another
#     seed other bytes, and --realtime changes the pacing, not the bytes;
#   - replayed through `vigild --pcap FILE --json`, every datagram is
#     telemetry (telemetry_hl7 + telemetry_vtp == datagrams, rx_bytes ==
#     frames_bytes), nothing is dropped, and the decoders count what the
#     generator says it sent: hl7.messages, hl7.observations (metric OBX
#     rows), hl7.device_alarms, vtp.frames, vtp.observations, vtp.seq_gap
#     (the scripted gaps), with every malformation counter at zero;
#   - the truth file has every scripted event of the demo, each start before
#     its end, and one line per device alarm message, in time order;
#   - 1000 beds for 5 s gives 1000 x 5 periodic datagrams, plus one HL7
#     message per NIBP measurement, and the OBX count adds up;
#   - live UDP to a loopback receiver delivers every datagram;
#   - bad options and bad events files exit 2 with a message.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 VIGIL_GEN VIGILD" >&2
	exit 2
fi
gen=$1
vigild=$2
tmp=$(mktemp -d)
rx_pid=
cleanup() {
	if [ -n "$rx_pid" ] && kill -0 "$rx_pid" 2>/dev/null; then
		kill "$rx_pid" 2>/dev/null || true
		wait "$rx_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

failed=0
fail() {
	echo "FAIL: $*"
	failed=1
}

printf 'ports: [{device: net_null0, addresses: [192.0.2.1]}]\n' >"$tmp/vigil.yaml"

# summary FILE KEY: a key=value of vigil-gen's summary line in FILE.
summary() {
	sed -n 's/^vigil-gen: done .*/&/p' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# run_gen LABEL ARGS...: vigil-gen with its stderr kept in LABEL.err.
run_gen() {
	local label=$1
	shift
	if ! "$gen" "$@" 2>"$tmp/$label.err"; then
		fail "$label: vigil-gen $* exited non-zero:"
		sed 's/^/  /' "$tmp/$label.err"
		return 1
	fi
	if ! grep -q '^vigil-gen: done ' "$tmp/$label.err"; then
		fail "$label: no summary line from vigil-gen"
		return 1
	fi
}

# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------
run_gen same1 --seed 42 --proto mixed --scenario demo --pcap "$tmp/s1.pcap" --truth "$tmp/s1.json"
run_gen same2 --seed 42 --proto mixed --scenario demo --pcap "$tmp/s2.pcap" --truth "$tmp/s2.json"
run_gen other --seed 43 --proto mixed --scenario demo --pcap "$tmp/s3.pcap" --truth "$tmp/s3.json"
cmp -s "$tmp/s1.pcap" "$tmp/s2.pcap" || fail "seed 42 twice: the captures differ"
cmp -s "$tmp/s1.json" "$tmp/s2.json" || fail "seed 42 twice: the truth files differ"
cmp -s "$tmp/s1.pcap" "$tmp/s3.pcap" && fail "seeds 42 and 43: the captures are identical"
# --realtime paces the writing (20x here) but writes the same bytes.
run_gen paced --seed 42 --proto mixed --scenario demo --realtime --speed 20 \
	--pcap "$tmp/s4.pcap"
cmp -s "$tmp/s1.pcap" "$tmp/s4.pcap" || fail "--realtime changed the capture's bytes"
echo "determinism: checked"

# ---------------------------------------------------------------------------
# Replay through vigild: the decoders count what the generator wrote
# ---------------------------------------------------------------------------
cat >"$tmp/check.py" <<'PY'
import json
import sys

out_path, err_path, truth_path, label = sys.argv[1:5]
errors = []

summary = None
with open(err_path) as f:
    for line in f:
        if line.startswith("vigil-gen: done "):
            summary = dict(kv.split("=", 1) for kv in line.split()[2:])
if summary is None:
    print("%s: FAIL: no vigil-gen summary" % label)
    sys.exit(1)
gen = {k: (float(v) if "." in v else int(v)) for k, v in summary.items()}

report = None
with open(out_path) as f:
    for line in f:
        if line.startswith("{"):
            report = json.loads(line)
if report is None:
    print("%s: FAIL: no JSON summary from vigild" % label)
    sys.exit(1)

def want(name, got, expected):
    if got != expected:
        errors.append("%s: vigild %s, vigil-gen wrote %s" % (name, got, expected))

outcomes = report["outcomes"]
want("telemetry_hl7 + telemetry_vtp", outcomes["telemetry_hl7"] + outcomes["telemetry_vtp"],
     gen["datagrams"])
want("telemetry_hl7", outcomes["telemetry_hl7"], gen["hl7"])
want("telemetry_vtp", outcomes["telemetry_vtp"], gen["vtp"])
want("rx_packets", report["rx_packets"], gen["datagrams"])
want("rx_bytes", report["rx_bytes"], gen["frames_bytes"])
for name, v in outcomes.items():
    if not name.startswith("telemetry_") and v != 0:
        errors.append("outcomes.%s = %d, expected 0" % (name, v))
for name, v in report["drops"].items():
    if v != 0:
        errors.append("drops.%s = %d, expected 0" % (name, v))

gaps = 0
with open(truth_path) as f:
    for line in f:
        rec = json.loads(line)
        if rec["kind"] == "scripted" and rec["event"] == "seqgap":
            gaps += rec["count"]

# The decoders' own counters, when this vigild reports them.
hl7 = report.get("hl7")
vtp = report.get("vtp")
if hl7 is None or vtp is None:
    print("%s: note: vigild reports no decoder counters; only the outcomes were compared"
          % label)
else:
    want("hl7.messages", hl7["messages"], gen["oru_r01"] + gen["oru_r40"])
    want("hl7.messages (one a datagram)", hl7["messages"], gen["hl7"])
    want("hl7.observations", hl7["observations"], gen["hl7_metric_obx"])
    want("hl7.device_alarms", hl7["device_alarms"], gen["oru_r40"])
    for name, v in hl7.items():
        if name not in ("messages", "observations", "device_alarms") and v != 0:
            errors.append("hl7.%s = %d, expected 0" % (name, v))
    want("vtp.frames", vtp["frames"], gen["vtp"])
    want("vtp.observations", vtp["observations"], gen["vtp_obs"])
    want("vtp.seq_gap", vtp["seq_gap"], gaps)
    for name, v in vtp.items():
        if name not in ("frames", "observations", "seq_gap") and v != 0:
            errors.append("vtp.%s = %d, expected 0" % (name, v))

if errors:
    print("%s: FAIL (%d)" % (label, len(errors)))
    for e in errors:
        print("  " + e)
    sys.exit(1)
print("%s: ok (%d datagrams: %d HL7, %d VTP; %d HL7 observations, %d VTP, %d alarms)"
      % (label, gen["datagrams"], gen["hl7"], gen["vtp"], gen["hl7_metric_obx"],
         gen["vtp_obs"], gen["oru_r40"]))
PY

# replay LABEL: vigild on LABEL.pcap, compared with LABEL.err and LABEL.json.
replay() {
	local label=$1 rc=0
	timeout 120 "$vigild" --config "$tmp/vigil.yaml" --pcap "$tmp/$label.pcap" --json \
		>"$tmp/$label.out" 2>"$tmp/$label.vigild" || rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "$label: vigild exited $rc (124: timed out):"
		sed 's/^/  /' "$tmp/$label.vigild"
		return 1
	fi
	python3 "$tmp/check.py" "$tmp/$label.out" "$tmp/$label.err" "$tmp/$label.json" \
		"$label" || failed=1
}

for proto in hl7 vtp mixed; do
	run_gen "$proto" --seed 7 --proto "$proto" --scenario demo --duration 90 \
		--pcap "$tmp/$proto.pcap" --truth "$tmp/$proto.json" && replay "$proto"
done
# A ward whose every bed is ventilated and measures NIBP every 10 s.
run_gen busy --seed 8 --beds 60 --duration 40 --proto mixed --ventilated 1 \
	--nibp-interval 10 --pcap "$tmp/busy.pcap" --truth "$tmp/busy.json" && replay busy

# ---------------------------------------------------------------------------
# The truth file
# ---------------------------------------------------------------------------
cat >"$tmp/truth.py" <<'PY'
import json
import sys

truth_path, err_path, proto = sys.argv[1:4]
errors = []
summary = {}
with open(err_path) as f:
    for line in f:
        if line.startswith("vigil-gen: done "):
            summary = dict(kv.split("=", 1) for kv in line.split()[2:])

recs = [json.loads(line) for line in open(truth_path)]
times = [r["t"] for r in recs]
if times != sorted(times):
    errors.append("the lines are not in time order")

kinds = {"desat", "tachycardia", "bradycardia", "hypotension", "fever", "apnoea",
         "asystole", "vf", "sensor_off", "lead_off", "silent"}
if proto != "hl7":
    kinds.add("seqgap")
starts, ends = {}, {}
for r in recs:
    for key in ("time", "t", "bed", "device", "patient", "location", "kind", "event", "phase"):
        if key not in r:
            errors.append("a line without '%s': %s" % (key, r))
    if r["kind"] != "scripted":
        continue
    k = (r["bed"], r["event"])
    if r["phase"] == "start":
        starts[k] = r["t"]
    elif r["phase"] == "end":
        ends[k] = r["t"]
    elif r["phase"] == "tpoint":
        starts[k] = ends[k] = r["t"]
seen = {e for _, e in starts}
if seen != kinds:
    errors.append("scripted kinds %s, expected %s" % (sorted(seen), sorted(kinds)))
for k, t in starts.items():
    if k not in ends:
        errors.append("%s starts at %s and never ends" % (k, t))
    elif not (t < ends[k] or (k[1] == "seqgap" and t == ends[k])):
        errors.append("%s: start %s is not before its end %s" % (k, t, ends[k]))

# Device alarms: one line per ORU^R40 sent, each start followed by its end.
alarms = [r for r in recs if r["kind"] == "device_alarm"]
if len(alarms) != int(summary.get("oru_r40", -1)):
    errors.append("%d device_alarm lines, vigil-gen sent %s ORU^R40"
                  % (len(alarms), summary.get("oru_r40")))
by_id = {}
for r in alarms:
    by_id.setdefault(r["alarm_id"], []).append(r["phase"])
for aid, phases in by_id.items():
    if phases not in (["start", "end"], ["start"]):
        errors.append("alarm %s went %s" % (aid, phases))
codes = {r["event"]: r["code"] for r in alarms}
for event, code in (("asystole", 199684), ("sensor_off", 196916), ("desat", 196670)):
    if codes.get(event) != code:
        errors.append("no %s device alarm with code %d (got %s)" % (event, code, codes.get(event)))
if "vf" not in codes:
    errors.append("no vf device alarm")

if errors:
    print("truth %s: FAIL" % proto)
    for e in errors:
        print("  " + e)
    sys.exit(1)
print("truth %s: ok (%d lines, %d scripted events, %d alarm messages)"
      % (proto, len(recs), len(starts), len(alarms)))
PY
for proto in hl7 vtp mixed; do
	[ -f "$tmp/$proto.json" ] && { python3 "$tmp/truth.py" "$tmp/$proto.json" "$tmp/$proto.err" "$proto" || failed=1; }
done

# ---------------------------------------------------------------------------
# 1000 beds for 5 s: the exact count
# ---------------------------------------------------------------------------
if run_gen load-vtp --beds 1000 --duration 5 --proto vtp --pcap "$tmp/load-vtp.pcap"; then
	# VTP: NIBP rides in the second's frame, so exactly one frame a bed a second.
	n=$(summary "$tmp/load-vtp.err" datagrams)
	[ "$n" = 5000 ] || fail "1000 beds x 5 s over VTP: $n datagrams, expected 5000"
	printf '' >"$tmp/load-vtp.json"
	replay load-vtp
fi
if run_gen load-hl7 --beds 1000 --duration 5 --proto hl7 --pcap "$tmp/load-hl7.pcap"; then
	# HL7: 5000 periodic messages plus one per NIBP measurement; the metric
	# rows are 5 a periodic message, 2 more on the 250 ventilated beds, and
	# 3 a NIBP message.
	n=$(summary "$tmp/load-hl7.err" datagrams)
	r01=$(summary "$tmp/load-hl7.err" oru_r01)
	obx=$(summary "$tmp/load-hl7.err" hl7_metric_obx)
	nibp=$((r01 - 5000))
	[ "$n" = "$r01" ] || fail "1000 beds x 5 s over HL7: $n datagrams but $r01 ORU^R01"
	[ "$nibp" -ge 0 ] || fail "1000 beds x 5 s over HL7: only $r01 messages"
	want=$((5000 * 5 + 250 * 5 * 2 + 3 * nibp))
	[ "$obx" = "$want" ] || fail "1000 beds x 5 s: $obx metric OBX, expected $want ($nibp NIBP)"
	printf '' >"$tmp/load-hl7.json"
	replay load-hl7
	echo "load: 1000 beds x 5 s: $n HL7 datagrams ($nibp NIBP messages)"
fi

# ---------------------------------------------------------------------------
# Live UDP to a loopback receiver
# ---------------------------------------------------------------------------
cat >"$tmp/rx.py" <<'PY'
import socket
import sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("127.0.0.1", 0))
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % s.getsockname()[1])
s.settimeout(10)
n = 0
try:
    while True:
        s.recv(65535)
        n += 1
        s.settimeout(2)
except socket.timeout:
    pass
with open(sys.argv[2], "w") as f:
    f.write("%d\n" % n)
PY
python3 "$tmp/rx.py" "$tmp/rx.port" "$tmp/rx.count" &
rx_pid=$!
for _ in $(seq 50); do
	[ -s "$tmp/rx.port" ] && break
	sleep 0.1
done
if [ -s "$tmp/rx.port" ]; then
	port=$(cat "$tmp/rx.port")
	if run_gen live --beds 20 --duration 4 --speed 8 --proto mixed --udp "127.0.0.1:$port"; then
		wait "$rx_pid" || true
		rx_pid=
		got=$(cat "$tmp/rx.count" 2>/dev/null || echo none)
		sent=$(summary "$tmp/live.err" datagrams)
		[ "$got" = "$sent" ] || fail "live UDP: sent $sent datagrams, the receiver got $got"
		echo "live: $sent datagrams over loopback"
	fi
else
	fail "live UDP: the receiver did not start"
fi

# ---------------------------------------------------------------------------
# Bad input: exit 2 and a message
# ---------------------------------------------------------------------------
bad() {
	local why=$1 rc=0
	shift
	"$gen" "$@" >"$tmp/bad.out" 2>"$tmp/bad.err" || rc=$?
	if [ "$rc" -ne 2 ]; then
		fail "$why: exit $rc, expected 2 (vigil-gen $*)"
	elif ! grep -q '^vigil-gen: ' "$tmp/bad.err"; then
		fail "$why: exit 2 without a message"
	fi
}
out=(--pcap "$tmp/bad.pcap")
bad "no output" --beds 4
bad "zero beds" --beds 0 "${out[@]}"
bad "too many beds" --beds 1000001 "${out[@]}"
bad "duration not a number" --duration soon "${out[@]}"
bad "unknown protocol" --proto fhir "${out[@]}"
bad "unknown option" --bogus "${out[@]}"
bad "missing value" "${out[@]}" --seed
bad "stray argument" "${out[@]}" extra
bad "bad --dst" --dst 300.1.1.1 "${out[@]}"
bad "bad --dst-mac" --dst-mac 00:11:22 "${out[@]}"
bad "bad --start" --start yesterday "${out[@]}"
bad "unknown scenario" --scenario chaos "${out[@]}"
bad "demo too short" --scenario demo --duration 10 "${out[@]}"
bad "--realtime with --compress" --realtime --compress "${out[@]}"
bad "missing events file" --events "$tmp/none.txt" "${out[@]}"
bad_events() {
	local why=$1
	shift
	printf '%s\n' "$@" >"$tmp/ev.txt"
	bad "events: $why" --events "$tmp/ev.txt" --beds 24 "${out[@]}"
	grep -q 'ev.txt:[0-9]' "$tmp/bad.err" ||
		fail "events: $why: the message does not name the file and line"
}
bad_events "unknown kind" "10 bed=3 stroke"
bad_events "bed out of range" "10 bed=25 desat"
bad_events "no bed" "10 desat duration=5"
bad_events "bad time" "soon bed=3 desat"
bad_events "unknown key" "10 bed=3 desat colour=blue"
bad_events "bad duration" "10 bed=3 desat duration=-1"
bad_events "two kinds" "10 bed=3 desat fever"
bad_events "seqgap on an HL7 bed" "10 bed=3 seqgap count=4"
bad_events "alarm on a silent monitor" "10 bed=3 silent alarm=yes"
bad_events "target for asystole" "10 bed=3 asystole target=20"
# A good events file is taken, comments and blank lines included.
printf '# a comment\n\n5 bed=2 desat duration=10 target=83  # trailing comment\n' \
	>"$tmp/ev.txt"
run_gen events-ok --events "$tmp/ev.txt" --duration 20 --pcap "$tmp/ev.pcap" \
	--truth "$tmp/ev.json" &&
	{ [ "$(grep -c '"event":"desat"' "$tmp/ev.json")" -ge 2 ] &&
		grep -q '"target":83.0' "$tmp/ev.json"; } ||
	fail "events file: the desat on bed 2 is not in the truth file as written"
echo "bad input: checked"

if [ "$failed" -ne 0 ]; then
	echo "gen: FAILED"
	exit 1
fi
echo "gen: all checks passed"
