#!/usr/bin/env bash
# reload_vigild.sh VIGILD MKPCAP - rule reload (SIGHUP) in a running vigild.
#
# vigild replays a capture endlessly on a net_pcap port (infinite_rx=1) with
# a rules file named in its configuration, and reports every second as JSON.
# The test rewrites the rules file and sends SIGHUP, and holds vigild to:
#   - a good file: a reload line for version 2 (stderr and a {"reload": ...}
#     JSON line), then reports of version 2 whose rule_hits hold the new sid
#     and not the old one;
#   - a broken file: "reload refused" with FILE:LINE:COL, version 2 still in
#     force, and its hits still growing;
#   - an empty rules.files, or a mistake in the configuration file: refused,
#     version 2 still in force;
#   - telemetry.allow changed: a good reload, and the senders outside it
#     denied from then on;
#   - two SIGHUPs back to back: each answered (in force one after the other,
#     or the second refused as busy, or both taken as one request), vigild
#     still running;
#   - SIGTERM: exit 0 and a final report whose rx_packets equals the sum of
#     outcomes and drops, with the reload counts.
# Exits 77 (skipped) only if the EAL cannot start at all.
set -uo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 VIGILD MKPCAP" >&2
	exit 2
fi
vigild=$1
mkpcap=$2
tmp=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	pid=
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM # the EXIT trap still runs

# ok, fail and cli_summary (run and show are not used: vigild runs in the background).
# shellcheck source=tests/integration/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"

out=$tmp/vigild.out
err=$tmp/vigild.err
rules=$tmp/live.rules

# q.py OUT KIND N EXPR: EXPR over the N-th (Python index) report or reload
# line of vigild's stdout (KIND report|reload), with hits(SID) and
# accounted(); "count" as N prints how many there are. A line that does not
# parse is skipped: it may be one vigild is still writing.
cat >"$tmp/q.py" <<'PY'
import json, sys
path, kind, n, expr = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
items = []
for line in open(path):
    if not line.startswith("{"):
        continue
    try:
        j = json.loads(line)
    except ValueError:
        continue
    if kind == "reload" and "reload" in j:
        items.append(j["reload"])
    elif kind == "report" and "rx_packets" in j:
        items.append(j)
if n == "count":
    print(len(items))
    sys.exit(0)
try:
    r = items[int(n)]
except IndexError:
    print("none")
    sys.exit(0)
def hits(sid):
    return sum(h["hits"] for h in r.get("rule_hits", []) if h["sid"] == sid)
def accounted():
    return sum(r["outcomes"].values()) + sum(
        v for k, v in r["drops"].items() if not k.startswith("port_"))
print(eval(expr))
PY
q() { python3 "$tmp/q.py" "$out" "$@"; }

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds; 1 if it never did.
wait_for() {
	local limit=$(($1 * 10)) i=0
	shift
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -ge "$limit" ] || ! kill -0 "$pid" 2>/dev/null; then
			"$@" >/dev/null 2>&1
			return $?
		fi
		sleep 0.1
	done
}
is_true() { [ "$(q "$@")" = True ]; }
reloads_at_least() { [ "$(q reload count x)" -ge "$1" ]; }
reports_past() { [ "$(q report count x)" -gt "$1" ]; }

# write_rules TEXT: replace the rules file in one rename, as an editor would.
write_rules() {
	printf '%s\n' "$@" >"$tmp/next.rules"
	mv "$tmp/next.rules" "$rules"
}

dump() {
	echo "  vigild stderr (last 30 lines):"
	tail -n 30 "$err" | sed 's/^/    /'
	echo "  last reload lines: $(grep -h '"reload"' "$out" | tail -n 3)"
}

# The capture: every outcome and drop, telemetry to 2575 and 4575 among them.
if ! "$mkpcap" --seed 11 --count 3000 --mix known "$tmp/loop.pcap" >/dev/null; then
	echo "FAIL: vigil-mkpcap failed"
	exit 1
fi
# sid 100 fires on every HL7 datagram, sid 200 on every VTP one.
hl7_rule='log udp any any -> any 2575 (msg:"HL7 datagram"; sid:100;)'
vtp_rule='log udp any any -> any 4575 (msg:"VTP datagram"; sid:200;)'
write_rules '# reload_vigild.sh: version 1' "$hl7_rule"
cat >"$tmp/vigil.yaml" <<EOF
eal: ["--no-pci", "--no-huge", "--no-shconf", "-m", "1024", "-l", "0-1"]
workers: 1
ports:
  - device: "net_pcap0,rx_pcap=$tmp/loop.pcap,infinite_rx=1"
    addresses: [192.0.2.1, "2001:db8::1"]
rules:
  files: [$rules]
storage:
  dir: $tmp/db
EOF

# Not under timeout(1): the signals must reach vigild itself. Every wait
# below is bounded, and the EXIT trap kills vigild whatever happens.
"$vigild" --config "$tmp/vigil.yaml" --json --stats-interval 1 >"$out" 2>"$err" &
pid=$!

# Running once the first report with hits is out.
if ! wait_for 40 is_true report -1 'hits(100) > 0'; then
	if ! kill -0 "$pid" 2>/dev/null && grep -q "EAL initialisation failed" "$err"; then
		echo "SKIP: the EAL cannot start here:"
		sed 's/^/  /' "$err"
		exit 77
	fi
	fail "start: no report with hits of sid 100 within 40 s"
	dump
	cli_summary reload-vigild
	exit 1
fi
if [ "$(q report -1 'r["ruleset"]["version"]')" = 1 ]; then
	ok "start: version 1 in force, sid 100 fires"
else
	fail "start: ruleset version $(q report -1 'r["ruleset"]')"
fi

# 1. A good file with another sid: version 2, its hits, the old sid gone.
write_rules '# reload_vigild.sh: version 2' "$vtp_rule"
kill -HUP "$pid"
if wait_for 30 reloads_at_least 1 && [ "$(q reload 0 'r["ok"] and r["version"]')" = 2 ]; then
	ok "good file: reload line for version 2 ($(q reload 0 'r["rules"]') rule)"
else
	fail "good file: no successful reload to version 2: $(q reload 0 r)"
	dump
fi
if grep -q "vigild: reload: ruleset version 2 in force: 1 rules, compiled in .* ms, published in .* ms (hash [0-9a-f]\{16\})" "$err"; then
	ok "good file: the human line on stderr"
else
	fail "good file: no human line on stderr"
fi
n_before=$(q report count x)
if wait_for 20 reports_past "$n_before" &&
	wait_for 20 is_true report -1 'r["ruleset"]["version"] == 2 and hits(200) > 0'; then
	ok "good file: reports of version 2 with hits of sid 200"
else
	fail "good file: no report of version 2 with sid 200 hits: $(q report -1 '(r["ruleset"], r["rule_hits"])')"
fi
if [ "$(q report -1 'hits(100)')" = 0 ]; then
	ok "good file: sid 100 no longer reported"
else
	fail "good file: sid 100 still in rule_hits of version 2"
fi
if [ "$(q report -1 'r["workers"][0]["ruleset_version"]')" = 2 ]; then
	ok "good file: the worker evaluates with version 2"
else
	fail "good file: worker ruleset_version $(q report -1 'r["workers"][0]')"
fi

# 2. A broken file: refused with FILE:LINE:COL; version 2 stays and still counts.
hits_then=$(q report -1 'hits(200)')
write_rules '# reload_vigild.sh: broken' "$vtp_rule" \
	'log udp any any -> any 2575 (msg:"typo"; priorty:high; sid:300;)'
kill -HUP "$pid"
if wait_for 30 reloads_at_least 2 &&
	[ "$(q reload 1 'not r["ok"] and r["version"] == 2 and r["errors"] >= 1')" = True ]; then
	ok "broken file: refused, version 2 in force ($(q reload 1 'r["errors"]') error)"
else
	fail "broken file: reload line $(q reload 1 r)"
	dump
fi
if grep -q "vigild: reload refused: 1 error; version 2 stays in force" "$err"; then
	ok "broken file: the refusal on stderr"
else
	fail "broken file: no refusal line on stderr"
fi
if grep -q "live.rules:3:[0-9]*: error: .*priorty" "$err"; then
	ok "broken file: the error at FILE:LINE:COL"
else
	fail "broken file: no live.rules:3:COL error"
fi
if [ "$(q reload 1 '"live.rules:3:" in r["diagnostics"]')" = True ]; then
	ok "broken file: the error in the JSON line's diagnostics"
else
	fail "broken file: diagnostics $(q reload 1 'r["diagnostics"]')"
fi
if grep -q "reload: ruleset version 3" "$err"; then
	fail "broken file: a version 3 was announced"
fi
n_before=$(q report count x)
if wait_for 20 reports_past "$n_before" &&
	wait_for 20 is_true report -1 "r['ruleset']['version'] == 2 and hits(200) > $hits_then"; then
	ok "broken file: version 2's hits still grow ($hits_then -> $(q report -1 'hits(200)'))"
else
	fail "broken file: after the refusal $(q report -1 '(r["ruleset"], r["rule_hits"])')"
fi

# 3. No rule files at all: refused; a reload never takes every rule away.
cp "$tmp/vigil.yaml" "$tmp/vigil.yaml.keep"
sed 's/^  files: .*/  files: []/' "$tmp/vigil.yaml.keep" >"$tmp/vigil.yaml.new"
mv "$tmp/vigil.yaml.new" "$tmp/vigil.yaml"
kill -HUP "$pid"
if wait_for 30 reloads_at_least 3 &&
	[ "$(q reload 2 'not r["ok"] and r["version"] == 2 and "rules.files is empty" in r["diagnostics"]')" = True ]; then
	ok "no rule files: refused, version 2 in force"
else
	fail "no rule files: reload line $(q reload 2 r)"
fi
mv "$tmp/vigil.yaml.keep" "$tmp/vigil.yaml"

# 4. A mistake in the configuration file: refused with its FILE:LINE:COL.
cp "$tmp/vigil.yaml" "$tmp/vigil.yaml.keep"
printf 'no_such_key: 1\n' >>"$tmp/vigil.yaml"
kill -HUP "$pid"
if wait_for 30 reloads_at_least 4 &&
	[ "$(q reload 3 'not r["ok"] and r["version"] == 2 and r["errors"] == 1')" = True ] &&
	[[ "$(q reload 3 'r["diagnostics"]')" =~ vigil\.yaml:[0-9]+:[0-9]+:.*no_such_key ]]; then
	ok "config error: refused with vigil.yaml:LINE:COL, version 2 in force"
else
	fail "config error: reload line $(q reload 3 r)"
fi
mv "$tmp/vigil.yaml.keep" "$tmp/vigil.yaml"

# 5. telemetry.allow is re-read: a network none of the capture's senders is in
# (with version 2's rules file back).
write_rules '# reload_vigild.sh: version 3' "$vtp_rule"
denied_then=$(q report -1 'r["tables"]["acl_denied"]')
cp "$tmp/vigil.yaml" "$tmp/vigil.yaml.keep"
printf 'telemetry:\n  allow: [203.0.113.0/24]\n' >>"$tmp/vigil.yaml"
kill -HUP "$pid"
if wait_for 30 reloads_at_least 5 && [ "$(q reload 4 'r["ok"] and r["version"]')" = 3 ]; then
	ok "allow list: reload to version 3"
else
	fail "allow list: reload line $(q reload 4 r)"
fi
n_before=$(q report count x)
if wait_for 20 reports_past "$n_before" &&
	wait_for 20 is_true report -1 "r['tables']['acl_denied'] > $denied_then"; then
	ok "allow list: senders outside it denied ($denied_then -> $(q report -1 'r["tables"]["acl_denied"]'))"
else
	fail "allow list: tables.acl_denied $(q report -1 'r["tables"]')"
fi
mv "$tmp/vigil.yaml.keep" "$tmp/vigil.yaml"

# 6. Two SIGHUPs back to back, on a good file. Its 3000 content rules that
# never match take a while to compile, so the second request usually finds
# the first still running (busy); either answer is right.
write_rules '# reload_vigild.sh: version 3 and on' "$hl7_rule" "$vtp_rule"
python3 -c '
for i in range(3000):
    print("log hl7 any any -> any any (msg:\"never %d\"; content:\"NO_SUCH_TEXT_%d\"; sid:%d;)"
          % (i, i * 7919, 10000 + i))' >>"$tmp/big.rules"
cat "$rules" "$tmp/big.rules" >"$tmp/next.rules"
mv "$tmp/next.rules" "$rules"
kill -HUP "$pid"
sleep 0.05
kill -HUP "$pid"
wait_for 30 reloads_at_least 6
sleep 2 # room for a second answer
n_rel=$(q reload count x)
answers=$((n_rel - 5))
if [ "$answers" -ge 1 ] && [ "$answers" -le 2 ] && kill -0 "$pid" 2>/dev/null; then
	ok "two SIGHUPs: $answers answer(s), vigild running"
else
	fail "two SIGHUPs: $answers answers, running: $(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
	dump
fi
good_after=0
expect=4
for ((i = 5; i < n_rel; i++)); do
	if [ "$(q reload "$i" 'r["ok"]')" = True ]; then
		v=$(q reload "$i" 'r["version"]')
		[ "$v" = "$expect" ] || fail "two SIGHUPs: version $v in force, expected $expect"
		expect=$((expect + 1))
		good_after=$((good_after + 1))
	elif [ "$(q reload "$i" 'r.get("error")')" = busy ]; then
		grep -q "reload: one is already running; this request was not carried out" "$err" ||
			fail "two SIGHUPs: busy in JSON but not on stderr"
	else
		fail "two SIGHUPs: answer $i is neither in force nor busy: $(q reload "$i" r)"
	fi
done
if [ "$good_after" -ge 1 ]; then
	ok "two SIGHUPs: $good_after reload(s) in force, up to version $((expect - 1)) ($((answers - good_after)) busy)"
else
	fail "two SIGHUPs: no reload went through"
fi
final_version=$((expect - 1))

# 7. SIGTERM: exit 0, a final report that balances and counts the reloads.
n_before=$(q report count x)
kill -TERM "$pid"
rc=0
i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
if kill -0 "$pid" 2>/dev/null; then
	fail "SIGTERM: vigild still running after 30 s"
else
	wait "$pid" || rc=$?
	pid=
	if [ "$rc" -eq 0 ]; then
		ok "SIGTERM: exit 0"
	else
		fail "SIGTERM: exit $rc"
		dump
	fi
fi
if [ "$(q report count x)" -gt "$n_before" ] &&
	[ "$(q report -1 'r["rx_packets"] > 0 and r["rx_packets"] == accounted()')" = True ]; then
	ok "SIGTERM: final report balances (rx_packets $(q report -1 'r["rx_packets"]'))"
else
	fail "SIGTERM: final report $(q report -1 '(r["rx_packets"], accounted())')"
fi
want="{'good': $((2 + good_after)), 'refused': 3}"
if [ "$(q report -1 'r["reloads"]')" = "$want" ]; then
	ok "SIGTERM: reloads $want"
else
	fail "SIGTERM: reloads $(q report -1 'r["reloads"]'), expected $want"
fi
if [ "$(q report -1 'r["ruleset"]["version"]')" = "$final_version" ]; then
	ok "SIGTERM: version $final_version in the final report"
else
	fail "SIGTERM: final ruleset $(q report -1 'r["ruleset"]')"
fi
# The worker moved to each version once, the one loaded at start included.
if [ "$(q report -1 'r["tables"]["ruleset_swaps"]')" = "$final_version" ]; then
	ok "SIGTERM: one ruleset swap per version"
else
	fail "SIGTERM: tables.ruleset_swaps $(q report -1 'r["tables"]["ruleset_swaps"]')"
fi
# Every line of stdout parses once vigild is gone.
if python3 -c '
import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        json.loads(line)' "$out"; then
	ok "every JSON line parses"
else
	fail "a JSON line of vigild does not parse"
fi

cli_summary reload-vigild
