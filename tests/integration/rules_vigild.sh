#!/usr/bin/env bash
# rules_vigild.sh VIGILD VIGIL_GEN SOURCE_ROOT - rules inside a real vigild.
#
# vigil-gen writes a ward with scripted events; vigild replays it with a
# ruleset written here (so every expected count is known) and reports each
# rule's hits in its JSON summary. The test holds it to:
#   - metric rules fire on the scripted desaturation and only there (a
#     location rule for a bed without one stays at 0);
#   - a content rule fires on the ORU^R40 asystole alarm;
#   - a header-only rule fires once per datagram, not once per message;
#   - a rule on addresses outside the ward's network never fires;
#   - a pass rule suppresses the observation hits it covers (counted);
#   - a ruleset with errors stops start-up (exit 2) with FILE:LINE:COL;
#   - with rules.cache_dir, the second start takes the database from the
#     cache;
#   - the shipped rulesets load and raise alerts on the demo scenario;
#   - without rules vigild says that no alarm can be raised.
set -euo pipefail

if [ $# -ne 3 ]; then
	echo "usage: $0 VIGILD VIGIL_GEN SOURCE_ROOT" >&2
	exit 2
fi
vigild=$1
gen=$2
root=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failed=0
fail() {
	echo "FAIL: $*"
	failed=1
}

# Bed n sends from 10.20.0.n; the ward's location is ICU^room^bed.
cat >"$tmp/events" <<'EV'
5 bed=1 desat duration=30 target=80
10 bed=2 asystole duration=5
EV
"$gen" -q -b 4 -d 60 -e "$tmp/events" -w "$tmp/ward.pcap" -t "$tmp/truth"

cat >"$tmp/test.rules" <<'RULES'
# rules_vigild.sh's ruleset: each sid's expected hits are known.
var WARD_NET 10.20.0.0/16
alert hl7 $WARD_NET any -> any 2575 (msg:"SpO2 below 90"; metric:SPO2; value:<90; priority:high; sid:9000001;)
alert hl7 any any -> any any (msg:"asystole from a monitor"; content:"MDC_EVT_ECG_ASYSTOLE"; priority:high; sid:9000002;)
log udp $WARD_NET any -> any any (msg:"every telemetry datagram"; sid:9000003;)
alert udp !$WARD_NET any -> any any (msg:"telemetry from outside the ward"; priority:medium; sid:9000004;)
alert hl7 any any -> any any (msg:"SpO2 below 90 in bed 2"; metric:SPO2; value:<90; \
	location:bed 2; priority:high; sid:9000005;)
RULES

# hits JSON SID: the hits of SID in a vigild JSON summary (0 when it did not fire).
hits() {
	/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(sum(h["hits"] for h in r["rule_hits"] if h["sid"] == int(sys.argv[2])))' "$1" "$2"
}
# field JSON EXPR: a value of the summary, by a Python expression over r.
field() {
	/usr/bin/python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

run() { # run LABEL ARGS...: vigild --pcap ward.pcap --json, kept in LABEL.json/.err
	local label=$1
	shift
	if ! timeout 120 "$vigild" --pcap "$tmp/ward.pcap" --json "$@" >"$tmp/$label.json" \
		2>"$tmp/$label.err"; then
		fail "$label: vigild exited non-zero:"
		sed 's/^/  /' "$tmp/$label.err"
		return 1
	fi
}

if run base --rules "$tmp/test.rules"; then
	j=$tmp/base.json
	datagrams=$(field "$j" 'r["outcomes"]["telemetry_hl7"]')
	[ "$(hits "$j" 9000001)" -gt 0 ] || fail "SpO2 rule never fired on the desaturation"
	[ "$(hits "$j" 9000002)" -gt 0 ] || fail "asystole content rule never fired"
	[ "$(hits "$j" 9000003)" -eq "$datagrams" ] ||
		fail "header-only rule: $(hits "$j" 9000003) hits for $datagrams datagrams"
	[ "$(hits "$j" 9000004)" -eq 0 ] || fail "outside-network rule fired"
	[ "$(hits "$j" 9000005)" -eq 0 ] || fail "bed 2 location rule fired (bed 1 desaturated)"
	[ "$(field "$j" 'r["rules"]["alerts"]')" -eq $(($(hits "$j" 9000001) + $(hits "$j" 9000002))) ] ||
		fail "rules.alerts is not the sum of the alert hits"
	[ "$(field "$j" 'r["rules"]["logs"]')" -eq "$datagrams" ] || fail "rules.logs"
	[ "$(field "$j" 'r["ruleset"]["rules"]')" -eq 5 ] || fail "ruleset.rules"
	grep -q "rules: 5 loaded (4 alert, 1 log, 0 pass" "$tmp/base.err" ||
		fail "start-up line: $(cat "$tmp/base.err")"
fi

# A pass rule for bed 1's address covers its SpO2 observations.
cp "$tmp/test.rules" "$tmp/pass.rules"
echo 'pass hl7 10.20.0.1 any -> any any (msg:"bed 1 is under review"; metric:SPO2; sid:9000006;)' \
	>>"$tmp/pass.rules"
if run pass --rules "$tmp/pass.rules"; then
	[ "$(hits "$tmp/pass.json" 9000001)" -eq 0 ] || fail "pass rule did not suppress bed 1"
	[ "$(field "$tmp/pass.json" 'r["rules"]["passed"]')" -eq "$(hits "$tmp/base.json" 9000001)" ] ||
		fail "rules.passed is not the suppressed hits"
	[ "$(hits "$tmp/pass.json" 9000002)" -eq "$(hits "$tmp/base.json" 9000002)" ] ||
		fail "pass rule on SpO2 changed the asystole hits"
fi

# Errors stop start-up, each at FILE:LINE:COL.
printf '%s\n' '# two mistakes' \
	'alert hl7 any any -> any any (msg:"x"; metric:SPO2; value:<90; priorty:high; sid:1;)' \
	'alert hl7 any any -> any any (msg:"y"; metric:NOPE; priority:high; sid:2;)' >"$tmp/bad.rules"
set +e
timeout 60 "$vigild" --pcap "$tmp/ward.pcap" --rules "$tmp/bad.rules" >"$tmp/bad.out" 2>"$tmp/bad.err"
rc=$?
set -e
[ $rc -eq 2 ] || fail "bad rules: exit $rc, expected 2"
grep -q "bad.rules:2:[0-9]*: error: .*priorty" "$tmp/bad.err" || fail "bad rules: no error at line 2"
grep -q "bad.rules:3:[0-9]*: error: .*NOPE" "$tmp/bad.err" || fail "bad rules: no error at line 3"
grep -q "not starting" "$tmp/bad.err" || fail "bad rules: no 'not starting'"
[ ! -s "$tmp/bad.out" ] || fail "bad rules: a report was printed"

# The cache: compiled once, then taken from the cache.
printf 'rules:\n  files: [%s]\n  cache_dir: %s\n' "$tmp/test.rules" "$tmp/cache" >"$tmp/cache.yaml"
if run cache1 -c "$tmp/cache.yaml" && run cache2 -c "$tmp/cache.yaml"; then
	grep -q "patterns, compiled in" "$tmp/cache1.err" || fail "cache: first start did not compile"
	grep -q "database from the cache" "$tmp/cache2.err" || fail "cache: second start: $(cat "$tmp/cache2.err")"
	[ "$(hits "$tmp/cache2.json" 9000002)" -eq "$(hits "$tmp/base.json" 9000002)" ] ||
		fail "cache: the cached database matched differently"
fi

# The shipped rulesets on the built-in demo scenario.
"$gen" -q -b 8 -d 120 --scenario demo -w "$tmp/demo.pcap"
if timeout 120 "$vigild" --pcap "$tmp/demo.pcap" --json --rules "$root/rules/clinical.rules" \
	--rules "$root/rules/network.rules" >"$tmp/demo.json" 2>"$tmp/demo.err"; then
	[ "$(field "$tmp/demo.json" 'r["rules"]["alerts"]')" -gt 0 ] ||
		fail "shipped rules raised nothing on the demo scenario"
	[ "$(field "$tmp/demo.json" 'r["rules"]["scan_errors"]')" -eq 0 ] || fail "scan errors"
else
	fail "shipped rules: vigild exited non-zero:"
	sed 's/^/  /' "$tmp/demo.err"
fi

# No rules: said at start-up.
if run none; then
	grep -q "no rules loaded" "$tmp/none.err" || fail "no rules: nothing said"
	[ "$(field "$tmp/none.json" '"rule_hits" in r')" = False ] || fail "no rules: rule_hits present"
fi

if [ $failed -ne 0 ]; then
	exit 1
fi
echo "rules-vigild: ok ($(hits "$tmp/base.json" 9000001) SpO2 hits, $(hits "$tmp/base.json" 9000002) asystole hits)"
