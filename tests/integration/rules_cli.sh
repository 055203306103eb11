#!/usr/bin/env bash
# rules_cli.sh VIGIL_RULES VIGIL_GEN SOURCE_ROOT - vigil-rules and the shipped
# rulesets, end to end.
#
# The shipped rules decide which alarms sound out of the box, and
# vigil-rules is how whoever edits them checks and tests an edit. This test
# holds both to what RULES.md promises:
#   - `check` on rules/clinical.rules and rules/network.rules exits 0 with
#     the exact counts (rules by action and priority, patterns, metric
#     rules), in text and in JSON;
#   - `check` on a file with several errors prints every one as
#     FILE:LINE:COL: error: with the source line and a caret under the
#     column, exits 1; --max-errors cuts the list and says so;
#   - usage errors exit 2 with a message;
#   - the cache: a miss, then a hit, then a corrupted file rebuilt (with a
#     note saying why);
#   - `explain` on the HL7 fixtures: the SpO2 rules fire on the low valid
#     values and never on TEST, DEMO, off-scale or sentinel ones; a value
#     in degrees Fahrenheit is converted before the comparison; a pulse
#     rate alarm from a device is not mistaken for asystole;
#   - `explain` on a vigil-gen capture (HL7 and VTP beds) with a
#     desaturation, an asystole and a sensor off: the SpO2 rule fires on
#     the desaturating beds' SpO2 only, the asystole rule on the ORU^R40
#     that starts it (the one that ends it is passed), the sensor rule on
#     the sensor-off alarm, nothing on the quiet beds, no network rule;
#     with DEVICE_NETS overridden by --var, the outside-sender rule fires
#     once per datagram;
#   - a malformed datagram reaches the `malformed` rule;
#   - every JSON output parses.
set -euo pipefail

if [ $# -ne 3 ]; then
	echo "usage: $0 VIGIL_RULES VIGIL_GEN SOURCE_ROOT" >&2
	exit 2
fi
vr=$1
gen=$2
src=$3
py=/usr/bin/python3
clinical=$src/rules/clinical.rules
network=$src/rules/network.rules
fixtures=$src/tests/fixtures/hl7
if ! "$vr" --version >/dev/null; then
	echo "FAIL: $vr does not run"
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
TOOL=$vr
TOOL_TIMEOUT=120
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"

# json_ok NAME WHAT: every line of NAME's stdout is a JSON object.
json_ok() {
	if "$py" -c 'import json, sys
n = 0
for line in open(sys.argv[1]):
    obj = json.loads(line)
    assert isinstance(obj, dict), "not an object: " + line[:80]
    n += 1
assert n > 0, "no JSON line"' "$tmp/$1.out" 2>"$tmp/$1.pyerr"; then
		ok "$2: JSON parses"
	else
		fail "$2: JSON does not parse:"
		sed 's/^/    /' "$tmp/$1.pyerr"
	fi
}

# pycheck NAME WHAT SCRIPT: run SCRIPT (python) with the JSON lines of NAME's
# stdout as `msgs` and the helpers below; it fails by raising.
pycheck() {
	local name=$1 what=$2 script=$3
	if "$py" - "$tmp/$name.out" >"$tmp/$name.pyout" 2>&1 <<EOF; then
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]

def hits(sid):
    """Every (message, observation or None) that rule sid matched."""
    out = []
    for m in msgs:
        out += [(m, None) for r in m["matches"] if r["sid"] == sid]
        for o in m["observations"]:
            out += [(m, o) for r in o["matches"] if r["sid"] == sid]
    return out

def verdicts(sid, why):
    """Every message-level verdict of rule sid with that reason."""
    return [m for m in msgs for v in m["verdicts"] if v["sid"] == sid and v["why"] == why]

def sids_of(m):
    s = {r["sid"] for r in m["matches"]}
    for o in m["observations"]:
        s |= {r["sid"] for r in o["matches"]}
    return s

def check(cond, text):
    if not cond:
        raise SystemExit("assertion failed: " + text)

$script
EOF
		ok "$what"
	else
		fail "$what:"
		sed 's/^/    /' "$tmp/$name.pyout"
	fi
}

# ---------------------------------------------------------------------------
# check: the shipped rulesets
# ---------------------------------------------------------------------------
run clin check "$clinical"
expect_rc clin 0 "check clinical.rules"
has clin out '^rules +34 \(alert 33, log 0, pass 1\), 0 disabled$' "clinical.rules: 34 rules"
has clin out '^priorities +high 14, medium 17, low 2, none 1$' "clinical.rules: priorities"
has clin out '^metric rules +27$' "clinical.rules: 27 metric rules"
has clin out '^patterns +7$' "clinical.rules: 7 patterns"
has clin out '^hash +[0-9a-f]{64}$' "clinical.rules: a SHA-256 hash"
if [ -s "$tmp/clin.err" ]; then
	fail "check clinical.rules: diagnostics on stderr"
	show clin
else
	ok "check clinical.rules: no diagnostic"
fi

run net check "$network"
expect_rc net 0 "check network.rules"
has net out '^rules +5 \(alert 5, log 0, pass 0\), 0 disabled$' "network.rules: 5 rules"
has net out '^priorities +high 0, medium 3, low 2, none 0$' "network.rules: priorities"

run both check --json "$clinical" "$network"
expect_rc both 0 "check --json both files"
json_ok both "check --json"
pycheck both "check --json: counts of both files" '
o = msgs[0]
check(o["valid"] is True, "valid")
check(o["rules"] == 39, "39 rules, got %r" % o["rules"])
check(o["by_action"] == {"alert": 38, "log": 0, "pass": 1}, repr(o["by_action"]))
check(o["by_priority"]["high"] == 14 and o["by_priority"]["medium"] == 20, repr(o["by_priority"]))
check(o["errors"] == 0 and o["diagnostics"] == [], repr(o["diagnostics"]))
check(len(o["hash"]) == 64, "hash")
check(o["cache"] == "off", "no cache without --cache-dir")
'

# A variable given on the command line wins over the file's own `var`.
run var check --var 'DEVICE_NETS=[10.20.0.0/16]' "$network"
expect_rc var 0 "check --var DEVICE_NETS"
run badvar check --var 'DEVICE_NETS=[10.20.0.1/16]' "$network"
expect_rc badvar 1 "check --var with host bits in a CIDR"

# ---------------------------------------------------------------------------
# check: errors, every one of them
# ---------------------------------------------------------------------------
bad=$tmp/bad.rules
cat >"$bad" <<'EOF'
# six errors, one on each rule but the good one on line 4
alert hl7 any any -> any any (msg:"a"; sid:1; priorty:high;)
alert any any any -> any any (msg:"b"; metric:SPOO2; value:<90; priority:high; sid:2;)
alert hl7 any any -> any any (msg:"ok"; content:"x"; priority:low; sid:3;)
alert hl7 $NOWHERE any -> any any (msg:"c"; priority:low; sid:4;)
alert hl7 any any -> any any (msg:"d"; priority:1; sid:5;)
alert hl7 any any -> any any (msg:"e"; pcre:"/x/R"; priority:low; sid:6;)
alert hl7 any any -> any any (msg:"f"; content:"y"; priority:low; sid:3;)
EOF
run bad check "$bad"
expect_rc bad 1 "check a file with errors"
for line in 2 3 5 6 7 8; do
	has bad err "^$bad:$line:[0-9]+: error: " "error on line $line reported as FILE:LINE:COL"
done
has bad err 'did you mean "priority"' "unknown keyword: nearest one suggested"
has bad err '\^' "a caret line"
if "$py" - "$tmp/bad.err" "$bad" <<'EOF'; then
import re, sys
lines = open(sys.argv[1]).read().split("\n")
src = open(sys.argv[2]).read().split("\n")
n = 0
for i, l in enumerate(lines):
    m = re.match(re.escape(sys.argv[2]) + r":(\d+):(\d+): error: ", l)
    if not m:
        continue
    line, col = int(m.group(1)), int(m.group(2))
    text, caret = lines[i + 1], lines[i + 2]
    assert src[line - 1] in text, "line %d: source line not shown: %r" % (line, text)
    # The caret sits under column col of the source line as printed.
    off = text.index(src[line - 1])
    assert caret.rstrip().endswith("^"), "no caret under %r" % l
    assert len(caret.rstrip()) - 1 == off + col - 1, \
        "line %d: caret at %d, column %d" % (line, len(caret.rstrip()) - off, col)
    n += 1
assert n == 6, "%d errors, expected 6" % n
EOF
	ok "every error has its source line and a caret under its column"
else
	fail "carets do not match the columns"
	show bad
fi
has bad err "^$bad:6:[0-9]+: error: .*" "numeric priority is an error"
has bad err "^$bad:7:[0-9]+: error: .*'R'" "pcre flag R is an error naming the flag"
has bad err "^$bad:8:[0-9]+: error: duplicate sid 3" "duplicate sid reported"
has bad err "^$bad:4:[0-9]+: note: " "duplicate sid: a note at the first"
has bad err "^$bad:5:[0-9]+: error: .*NOWHERE" "undefined variable named"
if [ -s "$tmp/bad.out" ]; then
	fail "check with errors printed a summary"
	show bad
else
	ok "check with errors: no summary on stdout"
fi

run badjson check --json "$bad"
expect_rc badjson 1 "check --json with errors"
pycheck badjson "check --json: errors in the JSON" '
o = msgs[0]
check(o["valid"] is False, "valid false")
errs = [d for d in o["diagnostics"] if d["severity"] == "error"]
check(len(errs) == 6 and o["errors"] == 6, "errors: %r" % errs)
check(sorted(d["line"] for d in errs) == [2, 3, 5, 6, 7, 8], "lines: %r" % errs)
check(all(d["col"] > 0 for d in errs), "columns")
'

run maxerr check --max-errors 2 "$bad"
expect_rc maxerr 1 "check --max-errors 2"
n=$(grep -c ': error: ' "$tmp/maxerr.err" || true)
if [ "$n" -eq 2 ]; then
	ok "--max-errors 2: two errors shown"
else
	fail "--max-errors 2: $n errors shown"
	show maxerr
fi
has maxerr err 'max-errors' "--max-errors: says the list was cut"

# A warning does not fail the load; the rule it names is disabled.
cat >"$tmp/warn.rules" <<'EOF'
alert any any any -> any any (msg:"no metric"; value:<5; priority:low; sid:10;)
EOF
run warn check "$tmp/warn.rules"
expect_rc warn 0 "check: a warning alone"
has warn err "warn.rules:1:[0-9]+: warning: " "the warning is printed"
has warn out '1 disabled' "the rule is disabled"

# ---------------------------------------------------------------------------
# Usage errors
# ---------------------------------------------------------------------------
run u1
expect_rc u1 2 "no command"
run u2 check
expect_rc u2 2 "check without a file"
run u3 check --frobnicate "$clinical"
expect_rc u3 2 "check with an unknown option"
run u4 check --var NOEQUALS "$clinical"
expect_rc u4 2 "check --var without ="
has u4 err "NOEQUALS" "--var error names the argument"
run u5 check --max-errors 0 "$clinical"
expect_rc u5 2 "--max-errors 0"
run u6 explain "$fixtures/001_ipf_pcd01_request.hl7"
expect_rc u6 2 "explain without --rules"
run u7 frobnicate
expect_rc u7 2 "unknown command"
run u8 explain --rules "$clinical"
expect_rc u8 2 "explain without an input"
run u9 explain --rules "$clinical" --hl7-port 0 "$fixtures/001_ipf_pcd01_request.hl7"
expect_rc u9 2 "explain --hl7-port 0"
run help --help
expect_rc help 0 "--help"
has help out '^usage: vigil-rules check' "--help prints the usage"
run version --version
expect_rc version 0 "--version"
has version out '^vigil-rules [^ ]+' "--version prints the version"
run missing check "$tmp/nonexistent.rules"
expect_rc missing 1 "check a missing file"
has missing err "nonexistent.rules" "the missing file is named"

# ---------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------
cache=$tmp/cache
mkdir "$cache"
run c1 check --cache-dir "$cache" "$clinical"
expect_rc c1 0 "first check with a cache"
has c1 out '^cache +miss' "first check: cache miss"
run c2 check --cache-dir "$cache" "$clinical"
expect_rc c2 0 "second check with a cache"
has c2 out '^cache +hit' "second check: cache hit"
files=("$cache"/*)
if [ ${#files[@]} -ne 1 ] || [ ! -f "${files[0]}" ]; then
	fail "cache: expected one file in the cache directory, found: ${files[*]}"
else
	# Flip bytes in the middle of the file: the checksum must catch it.
	size=$(stat -c %s "${files[0]}")
	printf 'garbage!' | dd of="${files[0]}" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
	run c3 check --cache-dir "$cache" "$clinical"
	expect_rc c3 0 "check with a corrupted cache file"
	has c3 out '^cache +rebuilt .*\(.+\)' "corrupted cache file: rebuilt, with a note"
	run c4 check --cache-dir "$cache" "$clinical"
	has c4 out '^cache +hit' "after the rebuild: a hit again"
	# A truncated file too.
	: >"${files[0]}"
	run c5 check --cache-dir "$cache" "$clinical"
	expect_rc c5 0 "check with an empty cache file"
	has c5 out '^cache +rebuilt' "empty cache file: rebuilt"
fi

# ---------------------------------------------------------------------------
# explain: fixtures
# ---------------------------------------------------------------------------
run flags explain --rules "$clinical" --rules "$network" --json "$fixtures/pcd01_variants/flags.hl7"
expect_rc flags 0 "explain flags.hl7"
json_ok flags "explain --json flags.hl7"
pycheck flags "flags.hl7: the SpO2 rules fire on valid low values only" '
m = msgs[0]
check(m["kind"] == "ORU^R01", "kind " + m["kind"])
obs = m["observations"]
check(len(obs) == 17, "17 observations")
by = {o["index"]: {r["sid"] for r in o["matches"]} for o in obs}
check(by[2] == {1000001}, "88%% (L, ALACT): 1000001 only, got %r" % by[2])
check(by[3] == {1000001, 1000002}, "80%% (LL): 1000001 and 1000002, got %r" % by[3])
for i in (0, 1):  # DEMO and TEST
    check(by[i] == set(), "obs %d (DEMO/TEST) matched %r" % (i, by[i]))
check(by[14] == set(), "50%% off scale (invalid) matched %r" % by[14])
hit_idx = sorted(i for i, s in by.items() if s)
check(hit_idx == [2, 3], "hits on %r" % hit_idx)
# Why not: the invalid value is explained as invalid, 97 as a failed comparison.
w0 = {v["sid"]: v["why"] for v in obs[0]["verdicts"]}
check(w0.get(1000001) == "invalid", "DEMO: why %r" % w0)
w15 = {v["sid"]: v["why"] for v in obs[15]["verdicts"]}
check(w15.get(1000001) == "value", "97%%: why %r" % w15)
check(m["matches"] == [], "no message-level hit")
'

# TEST and DEMO values never alarm, however low; the same value unflagged does.
printf 'MSH|^~\\&|T^0012345678ABCDEF^EUI-64|W|||20240301101500+0000||ORU^R01^ORU_R01|T1|P|2.6\rPID|||P1^^^H^MR\rPV1||I|ICU^1^1\rOBR|1|T1|T1|182777000^monitoring of patient^SCT|||20240301101455+0000\rOBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.0.1|80|262688^MDC_DIM_PERCENT^MDC||TEST|||R\rOBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.0.2|80|262688^MDC_DIM_PERCENT^MDC||DEMO|||R\rOBX|3|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.0.3|20|264864^MDC_DIM_BEAT_PER_MIN^MDC||TEST|||R\rOBX|4|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.0.4|80|262688^MDC_DIM_PERCENT^MDC|||||R\r' >"$tmp/testdemo.hl7"
run td explain --rules "$clinical" --json "$tmp/testdemo.hl7"
expect_rc td 0 "explain TEST/DEMO message"
pycheck td "TEST/DEMO values never alarm; the same value unflagged does" '
obs = msgs[0]["observations"]
check([o["matches"] for o in obs[:3]] == [[], [], []], "TEST/DEMO matched: %r" % [o["matches"] for o in obs[:3]])
check({r["sid"] for r in obs[3]["matches"]} == {1000001, 1000002}, "unflagged 80%%: %r" % obs[3]["matches"])
'

run ipf explain --rules "$clinical" --json "$fixtures/001_ipf_pcd01_request.hl7" \
	"$fixtures/004_ipf_continua_wan_oximeter.hl7" "$fixtures/006_ipf_continua_wan_thermometer.hl7"
expect_rc ipf 0 "explain the IPF fixtures"
pycheck ipf "IPF fixtures: SpO2 80.5 fires; 98.6 F is 37 C and does not; NIBP 120 does not" '
check(len(msgs) == 3, "3 messages")
names = {o["name"]: o for m in msgs for o in m["observations"]}
check({r["sid"] for r in names["SPO2"]["matches"]} == {1000001, 1000002}, "SPO2 80.5: %r" % names["SPO2"]["matches"])
check(names["TEMP_ORAL"]["matches"] == [], "98.6 degF matched %r" % names["TEMP_ORAL"]["matches"])
why = {v["sid"]: v["detail"] for v in names["TEMP_ORAL"]["verdicts"]}
check(why[1000053].startswith("37 "), "98.6 degF compared as %r" % why[1000053])
check(names["NIBP_SYS"]["matches"] == [] and names["NIBP_MEAN"]["matches"] == [], "NIBP matched")
'

run sent explain --rules "$clinical" --json "$fixtures/pcd01_variants/sentinels.hl7"
expect_rc sent 0 "explain sentinels.hl7"
pycheck sent "sentinel values never alarm; near misses are values" '
obs = msgs[0]["observations"]
for o in obs:
    if "SENTINEL" in o["flags"]:
        check(o["matches"] == [], "sentinel %r matched %r" % (o["value"], o["matches"]))
near = {o["value"]: {r["sid"] for r in o["matches"]} for o in obs if "SENTINEL" not in o["flags"]}
check(near[-99.8] == {1000050, 1000052}, "-99.8: %r" % near[-99.8])
check(near[37.5] == set() and near[36.62] == set(), "normal temperatures matched")
'

run acm explain --rules "$clinical" --json "$fixtures/pcd04_acm_numbering.hl7"
expect_rc acm 0 "explain pcd04_acm_numbering.hl7"
pycheck acm "a device pulse-rate alarm is not asystole, VF or a technical alarm" '
(m,) = msgs
check(m["kind"] == "ORU^R40", "kind")
check(sids_of(m) == set(), "matched %r" % sids_of(m))
why = {v["sid"]: v["why"] for v in m["verdicts"]}
'

run acmt explain --rules "$clinical" "$fixtures/pcd04_acm_numbering.hl7"
expect_rc acmt 0 "explain in text"
has acmt out '^[^ ].*pcd04_acm_numbering.hl7#1: hl7 ORU\^R40' "text: source and kind"
has acmt out '^  device alarm MDC_EVT_HI, start, active' "text: the device alarm"

run all explain --rules "$clinical" --all --json "$fixtures/pcd04_acm_numbering.hl7"
pycheck all "--all: a verdict for every rule on the message" '
(m,) = msgs
sids = {v["sid"] for v in m["verdicts"]} | {r["sid"] for r in m["matches"]}
check(len(sids) == 34, "verdicts of %d rules" % len(sids))
check(any(v["sid"] == 1000100 and v["why"] == "pattern" for v in m["verdicts"]), "1000100 pattern")
'

# ---------------------------------------------------------------------------
# explain: a simulated ward
# ---------------------------------------------------------------------------
cat >"$tmp/events" <<'EOF'
# bed 1 (HL7) and bed 4 (VTP) desaturate; bed 2 has an asystole; bed 3's
# oximeter probe comes off. Beds 5-8 stay quiet.
10 bed=1 desat duration=60 target=82
10 bed=4 desat duration=60 target=82
20 bed=2 asystole duration=20
30 bed=3 sensor_off duration=20
EOF
if ! "$gen" --beds 8 --duration 90 --seed 7 --proto mixed --events "$tmp/events" \
	--pcap "$tmp/ward.pcap" 2>"$tmp/gen.err"; then
	fail "vigil-gen failed:"
	sed 's/^/    /' "$tmp/gen.err"
fi
datagrams=$(sed -n 's/.* datagrams=\([0-9]*\) .*/\1/p' "$tmp/gen.err")

run ward explain --rules "$clinical" --rules "$network" --json "$tmp/ward.pcap"
expect_rc ward 0 "explain the ward capture"
json_ok ward "explain --json ward capture"
pycheck ward "ward: the right rules on the right observations" "
datagrams = int('$datagrams')
bed = lambda m: int(m['src'].split('.')[-1])
check(len({m['index'] for m in msgs}) == datagrams, 'every datagram explained')
check(all(not m['malformed'] for m in msgs), 'nothing malformed')
# Desaturation: 1000001 on SpO2 of beds 1 (HL7) and 4 (VTP), nowhere else.
spo2 = hits(1000001)
check(spo2, 'no SpO2 hit')
check({bed(m) for m, o in spo2} == {1, 4}, 'SpO2 hits on beds %r' % {bed(m) for m, o in spo2})
check(all(o is not None and o['name'] == 'SPO2' and o['value'] < 91.5 for m, o in spo2), 'SpO2 hit on another observation')
check({m['proto'] for m, o in spo2} == {'hl7', 'vtp'}, 'SpO2 hits over HL7 and VTP')
# Asystole: the ORU^R40 that starts it, from bed 2; the one that ends it is passed.
asy = hits(1000100)
check(len(asy) == 1, 'asystole hits: %d' % len(asy))
m, o = asy[0]
check(o is None and m['kind'] == 'ORU^R40' and bed(m) == 2, 'asystole hit on %r' % m['source'])
check(m['alarms'][0]['phase'] == 'start', 'asystole on the start message')
ended = verdicts(1000100, 'passed')
check(len(ended) == 1 and ended[0]['alarms'][0]['phase'] == 'end', 'the end message is passed')
check(sids_of(ended[0]) == set(), 'the end message raised %r' % sids_of(ended[0]))
# Sensor off: 1000110 (and the catch-all technical 1000120) on bed 3's start.
for sid in (1000110, 1000120):
    h = hits(sid)
    check(len(h) == 1 and bed(h[0][0]) == 3 and h[0][0]['kind'] == 'ORU^R40', 'rule %d: %r' % (sid, [m['source'] for m, o in h]))
# While the probe is off, bed 3's SpO2 values are invalid: no SpO2 rule fires.
check(not any(bed(m) == 3 for sid in (1000001, 1000002) for m, o in hits(sid)), 'bed 3 SpO2 hit')
# The quiet beds raise nothing; no network rule fires on this ward.
quiet = [m['source'] for m in msgs if bed(m) >= 5 and sids_of(m)]
check(quiet == [], 'hits on quiet beds: %r' % quiet[:5])
for sid in (2000001, 2000002, 2000003, 2000004, 2000005):
    check(hits(sid) == [], 'network rule %d fired' % sid)
"

# The same ward seen from outside DEVICE_NETS: once per datagram.
run outside explain --rules "$network" --var 'DEVICE_NETS=[192.168.0.0/16]' --json "$tmp/ward.pcap"
expect_rc outside 0 "explain with DEVICE_NETS overridden"
pycheck outside "outside DEVICE_NETS: 2000001 once per datagram" "
h = hits(2000001)
check(len(h) == int('$datagrams'), '%d hits for $datagrams datagrams' % len(h))
check(all(m['first'] and o is None for m, o in h), 'hit on a non-first message')
"

run wardtext explain --rules "$clinical" "$tmp/ward.pcap"
expect_rc wardtext 0 "explain the ward capture in text"
has wardtext out '^[^ ].*ward.pcap#[0-9]+: hl7 ORU\^R40, [0-9]+ bytes, 10\.20\.0\.2:[0-9]+ -> 192\.0\.2\.1:2575' "text: addresses and ports of a pcap frame"
has wardtext out '^    HIT  1000100 +alert high physiological  Asystole' "text: the asystole hit"
has wardtext out '^    no   1000001 +value: ' "text: why an SpO2 rule did not fire"
has wardtext err '^vigil-rules: 1 input, [0-9]+ messages, 0 undecoded datagrams' "text: the summary"

# ---------------------------------------------------------------------------
# explain: malformed input and unreadable input
# ---------------------------------------------------------------------------
# An MLLP file: a good frame, then an unterminated one.
{
	printf '\x0b'
	tr -d '\n' <"$fixtures/pcd01_variants/endings_cr.hl7"
	printf '\x1c\x0d\x0bMSH|^~\\&|broken'
} >"$tmp/broken.mllp"
run mal explain --rules "$network" --json "$tmp/broken.mllp"
expect_rc mal 0 "explain an MLLP file with a broken frame"
has mal err 'broken.mllp#2: ' "the broken frame is reported"
pycheck mal "the malformed rule fires on the broken frame only" '
h = hits(2000004)
check(len(h) == 1 and h[0][0]["index"] == 2 and h[0][0]["malformed"], "hits %r" % [m["source"] for m, o in h])
check(msgs[0]["kind"] == "ORU^R01" and not msgs[0]["malformed"], "first frame")
'

# A capture of four datagrams, built here: a good HL7 message followed by a
# cut-short frame; a cut-short frame alone; a 1500-byte datagram to the VTP
# port (VTP allows 1452); a good message from outside DEVICE_NETS.
"$py" - "$tmp/net.pcap" "$fixtures/pcd01_variants/endings_cr.hl7" <<'EOF'
import struct, sys

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def frame(payload, src, dport):
    udp = struct.pack("!HHHH", 49153, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     bytes(src), bytes([192, 0, 2, 1]))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return b"\xff" * 6 + b"\x02\x56\x47\x00\x00\x01\x08\x00" + ip + udp

msg = open(sys.argv[2], "rb").read().replace(b"\n", b"")
frames = [
    frame(b"\x0b" + msg + b"\x1c\x0d\x0bMSH|^~\\&|cut", [10, 20, 0, 1], 2575),
    frame(b"\x0bMSH|^~\\&|cut", [10, 20, 0, 1], 2575),
    frame(b"\0" * 1500, [10, 20, 0, 2], 4575),
    frame(b"\x0b" + msg + b"\x1c\x0d", [203, 0, 113, 9], 2575),
]
with open(sys.argv[1], "wb") as out:
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, f in enumerate(frames):
        out.write(struct.pack("<IIII", 1700000000 + i, 0, len(f), len(f)) + f)
EOF
run net explain --rules "$network" --var 'DEVICE_NETS=[10.20.0.0/16]' --json "$tmp/net.pcap"
expect_rc net 0 "explain a capture with malformed, oversized and outside datagrams"
has net err 'net.pcap#3: ' "the oversized VTP datagram is reported"
pycheck net "network rules on a capture: each on its datagram" '
by = lambda sid: sorted(m["index"] for m, o in hits(sid))
check(by(2000001) == [4], "outside sender: %r" % by(2000001))
check(by(2000002) == [3], "oversized VTP: %r" % by(2000002))
check(2 in by(2000004) and 3 in by(2000004) and 4 not in by(2000004), "malformed: %r" % by(2000004))
# The first datagram: its message, then its malformed remainder, not first.
first = [m for m in msgs if m["index"] == 1]
check([(m["kind"], m["malformed"], m["first"]) for m in first] ==
      [("ORU^R01", False, True), ("datagram", True, False)], "datagram 1: %r" % first)
check(all(m["src"] == "10.20.0.1" and m["dport"] == 2575 for m in first), "addresses")
'

printf 'this is not HL7\n' >"$tmp/junk.hl7"
run junk explain --rules "$network" "$tmp/junk.hl7"
expect_rc junk 1 "explain a file where nothing decodes"
run nofile explain --rules "$network" "$tmp/nonexistent.hl7"
expect_rc nofile 1 "explain a missing file"
has nofile err 'nonexistent.hl7' "the missing input is named"
run badrules explain --rules "$bad" "$fixtures/001_ipf_pcd01_request.hl7"
expect_rc badrules 1 "explain with rules that have errors"
has badrules err "^$bad:2:" "explain: the rule errors are printed"

cli_summary rules-cli
