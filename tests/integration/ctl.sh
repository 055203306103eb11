#!/usr/bin/env bash
# ctl.sh VIGILD VIGILCTL VIGIL_GEN VIGIL_AUDIT_TAMPER - vigilctl against a real vigild.
#
# vigild replays a simulated ward (--pcap --linger) with storage, the
# alarm log, an audit key and the control socket on, then stays up; this
# test drives it through vigilctl as root and as three other users, one per
# role (control.roles: 64001 viewer, 64002 operator, 64003 admin; 64009 is
# in no list), with setpriv:
#   - bad usage exits 2 with a usage line; --help names every command;
#   - no vigild, or a server that closes or goes quiet after hello: exit 3;
#   - tools/vigilctl.bash-completion completes commands, subcommands,
#     options, option values and rule files;
#   - every read command works for each role, prints its table headers,
#     and its --json output parses; a uid with no role is refused even
#     `status`;
#   - the viewer is refused every change (exit 1, "denied", the role
#     needed named), the operator acknowledges but may not reload, the admin
#     does everything;
#   - an open alarm acknowledged by the operator says so in `alarms show`
#     (state and who); a second ack is a conflict; `alarms follow` sees the
#     change;
#   - a broken rule file: FILE:LINE:COL diagnostics, exit 1, the ruleset
#     version unchanged; a good load: version + 1;
#   - backup create, list and verify; query, devices, patients;
#   - the audit chain lists the ack and the denials and verifies;
#   - raw protocol: malformed JSON and a 70 KB request get `malformed` and
#     `too_large` on a connection that still answers; 100 clients at once;
#     a client that says nothing holds nobody up;
#   - `vigilctl shutdown` stops vigild (exit 0) and ends a follower;
#     then vigilctl says vigild is not running (exit 3);
#   - the audit chain of copies of the database broken on purpose
#     (a record modified, removed, two swapped): `audit verify` exits 1
#     naming the record.
# Needs root (setpriv to other uids) and python3; exits 77 without them.
set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: $0 VIGILD VIGILCTL VIGIL_GEN VIGIL_AUDIT_TAMPER" >&2
	exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root (it runs vigilctl as other users with setpriv)"
	exit 77
fi
for tool in setpriv python3 timeout; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: needs $tool"
		exit 77
	fi
done

# Absolute: some commands run from another directory.
vigild=$(realpath "$1")
vigilctl=$(realpath "$2")
gen=$(realpath "$3")
tamper=$(realpath "$4")
root=$(cd "$(dirname "$0")/../.." && pwd)

tmp=$(mktemp -d)
chmod 755 "$tmp" # the socket's directory: the other uids must reach it
prefix=vigilctl$$
daemon_pid=
bg_pids=()

cleanup() {
	local p
	for p in "${bg_pids[@]}" $daemon_pid; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${bg_pids[@]}" $daemon_pid; do
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$tmp" "/var/run/dpdk/$prefix"
}
trap cleanup EXIT

# shellcheck disable=SC2034 # TOOL and TOOL_TIMEOUT are cli_lib.sh's
TOOL=$vigilctl
TOOL_TIMEOUT=60
# shellcheck source=tests/integration/cli_lib.sh
. "$(dirname "$0")/cli_lib.sh"

sock=$tmp/vigild.sock
export VIGIL_SOCKET=$sock
VIEWER=64001
OPERATOR=64002
ADMIN=64003
NOBODY=64009

# as UID NAME ARGS...: vigilctl as UID (no groups); like run.
as() {
	local uid=$1 name=$2
	shift 2
	rc=0
	timeout "$TOOL_TIMEOUT" setpriv --reuid="$uid" --regid="$uid" --clear-groups \
		"$vigilctl" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
}

# json NAME EXPR: a Python expression over r, the JSON object NAME's stdout holds.
json() {
	python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$tmp/$1.out" "$2"
}

# parses NAME WHAT: NAME's stdout is one JSON object (every line one, with --watch).
parses() {
	if python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no output"
for l in lines:
    assert isinstance(json.loads(l), dict), "not an object: " + l[:80]' "$tmp/$1.out" 2>"$tmp/$1.py"; then
		ok "$2: JSON parses"
	else
		fail "$2: JSON does not parse: $(tail -n 1 "$tmp/$1.py")"
		show "$1"
	fi
}

# start_vigild CONF CAPTURE NAME: vigild replaying CAPTURE and lingering; waits for the socket.
start_vigild() {
	local conf=$1 cap=$2 name=$3
	rm -f "$sock"
	"$vigild" -c "$conf" --pcap "$cap" --linger >"$tmp/$name.vigild.out" 2>"$tmp/$name.vigild.err" &
	daemon_pid=$!
	for _ in $(seq 600); do
		if [ -S "$sock" ] && grep -q lingering "$tmp/$name.vigild.err"; then
			return 0
		fi
		if ! kill -0 "$daemon_pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "FAIL: $name: vigild did not start lingering with its socket; its stderr:"
	sed 's/^/    /' "$tmp/$name.vigild.err" | tail -n 30
	exit 1
}

# stop_vigild NAME: `vigilctl shutdown` as admin; vigild must exit 0.
stop_vigild() {
	local name=$1 status=0
	as "$ADMIN" "$name.shutdown" shutdown
	expect_rc "$name.shutdown" 0 "$name: shutdown as admin"
	for _ in $(seq 300); do
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$daemon_pid" || status=$?
	daemon_pid=
	if [ "$status" -eq 0 ]; then
		ok "$name: vigild exited 0 after vigilctl shutdown"
	else
		fail "$name: vigild exited $status after vigilctl shutdown"
		tail -n 20 "$tmp/$name.vigild.err" | sed 's/^/    /'
	fi
}

# config DBDIR FILE: vigild's configuration on database DBDIR.
config() {
	cat >"$2" <<EOF
eal: ["--no-pci", "--no-huge", "--no-shconf", "-m", "512", "--file-prefix", "$prefix"]
storage: {dir: "$1"}
control:
  socket: "$sock"
  mode: "0666"
  roles: {viewer: ["$VIEWER"], operator: ["$OPERATOR"], admin: ["$ADMIN"]}
audit: {key_file: "$tmp/audit.key"}
backup: {dir: "$tmp/backup"}
alarms: {log: "$tmp/alarms.json"}
rules: {files: ["$root/rules/clinical.rules", "$root/rules/network.rules"]}
EOF
}

# --- Usage, before any vigild ----------------------------------------------

run help --help
expect_rc help 0 "--help"
for c in version uptime status stats "rules check" "rules load" "rules reload" "rules list" \
	"rules show" "alarms list" "alarms show" "alarms ack" "alarms reset" "alarms silence" \
	"alarms follow" "devices list" "devices show" "patients list" "patients show" query \
	"backup create" "backup list" "backup verify" "audit list" "audit verify" shutdown; do
	grep -q "^  $c" "$tmp/help.out" || fail "--help does not list '$c'"
done
ok "--help lists every command"

usage_case() {
	local name=$1
	shift
	run "$name" "$@"
	expect_rc "$name" 2 "usage: vigilctl $*"
	has "$name" err '^usage: vigilctl' "usage: vigilctl $*: a usage line"
}
usage_case u-none
usage_case u-unknown frobnicate
usage_case u-nosub alarms
usage_case u-badsub alarms frob
usage_case u-noarg alarms ack
usage_case u-notnum alarms ack twelve
usage_case u-extra rules show 1 2
usage_case u-badopt status --limit 3
usage_case u-unknownopt status --frob
usage_case u-watch alarms list --watch
usage_case u-timeout --timeout 0 status
usage_case u-novalue query
usage_case u-limit devices list --limit lots

# --- No vigild ---------------------------------------------------------------

run none --socket "$tmp/none.sock" status
expect_rc none 3 "no vigild"
has none err "cannot connect to $tmp/none.sock: No such file or directory \(is vigild running\?" \
	"no vigild: the socket named, 'is vigild running?'"
VIGIL_SOCKET=$tmp/other.sock run none-env status
has none-env err "cannot connect to $tmp/other.sock" "VIGIL_SOCKET is the default socket"

# A server that answers hello and then closes (or says nothing): exit 3.
cat >"$tmp/fake.py" <<'PY'
import json, os, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
c, _ = srv.accept()
f = c.makefile("rb")
hello = json.loads(f.readline())
c.sendall(json.dumps({"id": hello["id"], "ok": True, "result": {"protocol": 1}}).encode() + b"\n")
f.readline()
if mode == "mute":
    time.sleep(30)
c.close()
PY
fake_case() {
	local mode=$1 expect=$2
	rm -f "$tmp/fake.sock"
	python3 "$tmp/fake.py" "$tmp/fake.sock" "$mode" &
	local fake=$!
	bg_pids+=("$fake")
	for _ in $(seq 50); do
		[ -S "$tmp/fake.sock" ] && break
		sleep 0.1
	done
	run "fake-$mode" --socket "$tmp/fake.sock" --timeout 1 status
	expect_rc "fake-$mode" 3 "a server that $mode""s after hello"
	has "fake-$mode" err "$expect" "a server that $mode""s after hello: said"
	kill "$fake" 2>/dev/null || true
	wait "$fake" 2>/dev/null || true
}
fake_case drop 'closed before the reply'
fake_case mute 'no reply from vigild within 1 s'

# --- Bash completion ---------------------------------------------------------

completion() {
	bash -c '
. "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
_vigilctl
echo "${COMPREPLY[*]}"' completion "$root/tools/vigilctl.bash-completion" vigilctl "$@" 2>/dev/null
}
# complete_case EXPECTED WORDS...: the completions of the last word are EXPECTED.
complete_case() {
	local expected=$1 got
	shift
	got=$(completion "$@")
	if [ "$got" = "$expected" ]; then
		ok "completion of 'vigilctl $*': $got"
	else
		fail "completion of 'vigilctl $*': '$got', expected '$expected'"
	fi
}
complete_case alarms al
complete_case "list show ack reset silence follow" alarms ""
complete_case "load list" --json rules l
complete_case "--all --priority --limit --socket --json --timeout --help" alarms list --
complete_case "high medium low none" alarms list --priority ""
complete_case "--watch" status --w
complete_case "status stats shutdown" --watch 2 s
touch "$tmp/complete-me.rules"
complete_case "$tmp/complete-me.rules" rules check "$tmp/complete-m"
if completion "" | grep -q "rules alarms devices patients backup audit version uptime status stats query shutdown help"; then
	ok "completion: every command"
else
	fail "completion of 'vigilctl ': $(completion "")"
fi

# --- A ward, and vigild on it ------------------------------------------------

"$gen" --scenario demo --beds 8 --duration 300 --pcap "$tmp/ward.pcap" -q
"$gen" --beds 1 --duration 2 --pcap "$tmp/tiny.pcap" -q
python3 -c 'import os; print(os.urandom(32).hex(), end="")' >"$tmp/audit.key"
chmod 600 "$tmp/audit.key"
mkdir "$tmp/db" "$tmp/backup"
config "$tmp/db" "$tmp/vigil.yaml"
start_vigild "$tmp/vigil.yaml" "$tmp/ward.pcap" main
ok "vigild lingers with its socket"

# The replay is over when vigild lingers, but its consumer may still be
# working through the events the workers queued: wait until it has taken them
# all and the open alarms stay the same for a second.
settle() {
	local prev='' cur
	for _ in $(seq 60); do
		run settle status --json
		if [ "$(json settle 'r["events"]["consumer"]["alarm_events"] == r["events"]["alarm_events"] and r["events"]["consumer"]["telemetry_events"] == r["events"]["telemetry_events"]')" = True ]; then
			run settle-alarms alarms list --json
			cur=$(cat "$tmp/settle-alarms.out")
			[ "$cur" = "$prev" ] && return 0
			prev=$cur
		fi
		sleep 1
	done
	fail "vigild's consumer did not settle in 60 s"
}
settle

# --- Reads: every role may, a uid with no role may not -----------------------

run alarms-json alarms list --json
expect_rc alarms-json 0 "alarms list --json as root"
open_ids=$(json alarms-json '" ".join(str(a["id"]) for a in r["alarms"] if a["state"] == "active")')
read -r -a open_arr <<<"$open_ids"
if [ "${#open_arr[@]}" -lt 2 ]; then
	fail "the ward left fewer than 2 active alarms: '$open_ids'"
	show alarms-json
	cli_summary ctl
	exit 1
fi
ack_id=${open_arr[0]}
follow_ack_id=${open_arr[1]}
latched_id=$(json alarms-json 'next((str(a["id"]) for a in r["alarms"] if a["state"] == "latched"), "")')
run devices-json devices list --json
device=$(json devices-json 'r["devices"][0]["device"]')
run patients-json patients list --json
patient=$(json patients-json 'r["patients"][0]["patient"]')

reads=(
	"version"
	"uptime"
	"status"
	"stats"
	"rules list"
	"rules list --priority high"
	"rules show 1000001"
	"alarms list"
	"alarms list --all --limit 5"
	"alarms show $ack_id"
	"devices list --limit 3"
	"devices show $device"
	"patients list"
	"patients show $patient"
	"query $device --from 2024-03-01T00:00:00Z --to 2024-03-02T00:00:00Z --limit 20"
	"audit list"
	"audit verify"
)
for who in $VIEWER $OPERATOR $ADMIN; do
	bad=0
	for c in "${reads[@]}"; do
		# shellcheck disable=SC2086 # the words of the command
		as "$who" read $c
		if [ "$rc" -ne 0 ]; then
			fail "uid $who: vigilctl $c: exit $rc"
			show read
			bad=1
		fi
		# shellcheck disable=SC2086
		as "$who" read-json --json $c
		if [ "$rc" -ne 0 ] ||
			! python3 -c 'import json,sys; assert isinstance(json.load(open(sys.argv[1])), dict)' \
				"$tmp/read-json.out" 2>/dev/null; then
			fail "uid $who: vigilctl --json $c: exit $rc or not one JSON object"
			show read-json
			bad=1
		fi
	done
	[ "$bad" -eq 0 ] && ok "uid $who: every read command, human and --json (${#reads[@]} commands)"
done

as "$NOBODY" nobody status
expect_rc nobody 1 "uid $NOBODY (no role): status refused"
has nobody err 'denied: .*viewer' "uid $NOBODY: denied, the viewer role named"

# --- Human output ------------------------------------------------------------

run status status
for section in Ports Workers Ruleset Rings Storage Alarms; do
	grep -q "^$section\$" "$tmp/status.out" || fail "status: no section $section"
done
has status out '^  NAME +LINK +SPEED +RX/S' "status: the ports table"
has status out '^  +ID +BUSY +RX/S' "status: the workers table"
has status out '^  [0-9]+ open: high [0-9]+, medium' "status: open alarms by priority"
run alarms-human alarms list
has alarms-human out '^ *ID +PRIO +STATE +SINCE +PATIENT/DEVICE +MESSAGE$' "alarms list: its header"
has alarms-human out "^ *$ack_id +[a-z]+ +active +2024-03-01 " "alarms list: alarm $ack_id, its time"
run rules-human rules list
has rules-human out '^ruleset version [0-9]+: [0-9]+ rules' "rules list: the version"
has rules-human out '^ +SID +REV +ACTION +PRIORITY +HITS +ENABLED +MSG$' "rules list: its header"
run devices-human devices list
has devices-human out '^DEVICE +DEVICE_ID +PATIENT +LOCATION' "devices list: its header"
run patients-human patients list
has patients-human out '^PATIENT +LOCATION +NEWS2 +RISK' "patients list: its header"
run patient-human patients show "$patient"
has patient-human out "^patient: +$patient\$" "patients show: the patient"
run query-human query "$device" --from 2024-03-01T08:00:00Z --to 2024-03-01T08:00:10Z
has query-human out '^TIME +METRIC +CODE +VALUE' "query: its header"
run version-human version
has version-human out '^vigild: +[0-9]' "version: vigild's"
has version-human out '^protocol: +1$' "version: protocol 1"

# --- JSON shapes --------------------------------------------------------------

run query-json query "$device" --from 2024-03-01T00:00:00Z --to 2024-03-02T00:00:00Z --limit 10 --json
if [ "$(json query-json 'len(r["observations"]), r["truncated"]')" = "(10, True)" ]; then
	ok "query --limit 10: 10 observations, truncated"
else
	fail "query --limit 10: $(json query-json 'len(r["observations"]), r.get("truncated")')"
fi
run status-json status --json
parses status-json "status --json"
if [ "$(json status-json 'r["ruleset"]["loaded"] and r["storage"]["on"] and r["alarms"]["total_open"] >= 2')" = True ]; then
	ok "status --json: rules loaded, storage on, alarms open"
else
	fail "status --json: $(head -c 300 "$tmp/status-json.out")"
fi
rc=0
timeout --preserve-status -s INT 3.5 "$vigilctl" --json stats --watch 1 >"$tmp/watch.out" \
	2>"$tmp/watch.err" || rc=$?
expect_rc watch 0 "stats --watch 1 --json, interrupted"
if [ "$(wc -l <"$tmp/watch.out")" -ge 3 ]; then
	ok "stats --watch 1: a line a second"
else
	fail "stats --watch 1: $(wc -l <"$tmp/watch.out") lines in 3.5 s"
fi
parses watch "stats --watch --json"
rc=0
timeout --preserve-status -s INT 2.5 "$vigilctl" status --watch 1 >"$tmp/watch-h.out" \
	2>"$tmp/watch-h.err" || rc=$?
expect_rc watch-h 0 "status --watch, interrupted"
if [ "$(grep -c '^every 1s: vigilctl status' "$tmp/watch-h.out")" -ge 2 ]; then
	ok "status --watch: redrawn"
else
	fail "status --watch: not redrawn"
	show watch-h
fi

# --- Changes: who may ----------------------------------------------------------

printf '%s\n' 'alert any any any -> any any (msg:"broken"; metric:NOPE; priority:high; sid:9000002; rev:1;)' \
	>"$tmp/bad.rules"
denied_case() {
	local who=$1 role=$2
	shift 2
	as "$who" denied "$@"
	if [ "$rc" -eq 1 ] && grep -q "denied: .*role needed: $role" "$tmp/denied.err"; then
		ok "uid $who: $* refused, $role needed"
	else
		fail "uid $who: $*: expected exit 1 and 'denied ... $role'"
		show denied
	fi
}
denied_case "$VIEWER" operator alarms ack "$ack_id"
denied_case "$VIEWER" operator alarms reset "$ack_id"
denied_case "$VIEWER" operator alarms silence "$ack_id"
denied_case "$VIEWER" admin rules load "$root/rules/clinical.rules"
denied_case "$VIEWER" admin rules reload
denied_case "$VIEWER" admin rules check
denied_case "$VIEWER" admin backup create
denied_case "$VIEWER" admin backup verify
denied_case "$VIEWER" admin shutdown
denied_case "$OPERATOR" admin rules reload
denied_case "$OPERATOR" admin rules load "$root/rules/clinical.rules"
denied_case "$OPERATOR" admin backup create
denied_case "$OPERATOR" admin shutdown
denied_case "$NOBODY" operator alarms ack "$ack_id"

# The operator acknowledges; alarms show says so, and by whom.
as "$OPERATOR" ack alarms ack "$ack_id"
expect_rc ack 0 "operator: alarms ack $ack_id"
has ack out "^alarm $ack_id: acknowledged" "alarms ack: the alarm after the change"
as "$VIEWER" show alarms show "$ack_id"
has show out '^state: +acknowledged$' "alarms show $ack_id: acknowledged"
has show out "acknowledged +acknowledged .*$OPERATOR" "alarms show $ack_id: by uid $OPERATOR"
as "$OPERATOR" ack2 alarms ack "$ack_id"
expect_rc ack2 1 "alarms ack $ack_id again"
has ack2 err '^vigilctl: conflict: ' "alarms ack again: conflict"
as "$OPERATOR" silence alarms silence "$follow_ack_id"
expect_rc silence 0 "operator: alarms silence $follow_ack_id"
if [ -n "$latched_id" ]; then
	as "$OPERATOR" reset alarms reset "$latched_id"
	expect_rc reset 0 "operator: alarms reset $latched_id (latched)"
fi
as "$OPERATOR" missing alarms show 999999
expect_rc missing 1 "alarms show 999999"
has missing err '^vigilctl: not_found: ' "alarms show 999999: not_found"

# alarms follow sees an acknowledgement.
"$vigilctl" --json alarms follow >"$tmp/follow1.out" 2>"$tmp/follow1.err" &
follow1=$!
bg_pids+=("$follow1")
sleep 1
as "$ADMIN" ack-f alarms ack "$follow_ack_id"
expect_rc ack-f 0 "admin: alarms ack $follow_ack_id"
for _ in $(seq 50); do
	grep -q acknowledged "$tmp/follow1.out" && break
	sleep 0.1
done
if python3 -c '
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    a = d.get("alarm", d)
    if a["id"] == int(sys.argv[2]) and a["change"] == "acknowledged":
        sys.exit(0)
sys.exit(1)' "$tmp/follow1.out" "$follow_ack_id"; then
	ok "alarms follow: the acknowledgement of $follow_ack_id announced"
else
	fail "alarms follow: no acknowledgement of $follow_ack_id"
	cat "$tmp/follow1.out" "$tmp/follow1.err" | head -n 20
fi
kill -INT "$follow1"
rc=0
wait "$follow1" || rc=$?
expect_rc follow1 0 "alarms follow: Ctrl-C ends it"

# --- Rules ----------------------------------------------------------------------

run v0 rules list --json
version0=$(json v0 'r["version"]')
as "$ADMIN" check-bad rules check "$tmp/bad.rules"
expect_rc check-bad 1 "rules check of a broken file"
has check-bad err "$tmp/bad.rules:1:[0-9]+: error" "rules check: FILE:LINE:COL: error"
# A relative path is made absolute: vigild reads it from its own directory.
rc=0
(cd "$tmp" && timeout 60 "$vigilctl" --json rules check bad.rules) >"$tmp/check-rel.out" \
	2>"$tmp/check-rel.err" || rc=$?
expect_rc check-rel 1 "rules check bad.rules (relative) --json"
if [ "$(json check-rel 'r["ok"] is False and r["errors"] >= 1 and "'"$tmp"'/bad.rules:1:" in r["diagnostics"]')" = True ]; then
	ok "rules check --json: ok false, the absolute FILE:LINE:COL"
else
	fail "rules check --json: $(head -c 400 "$tmp/check-rel.out")"
fi
as "$ADMIN" load-bad rules load "$tmp/bad.rules"
expect_rc load-bad 1 "rules load of a broken file"
has load-bad err "bad.rules:1:[0-9]+" "rules load of a broken file: FILE:LINE:COL"
run v1 rules list --json
if [ "$(json v1 'r["version"]')" = "$version0" ]; then
	ok "the ruleset version is unchanged ($version0) after the broken check and load"
else
	fail "the ruleset version went from $version0 to $(json v1 'r["version"]')"
fi
as "$ADMIN" check-good rules check
expect_rc check-good 0 "rules check of the configured files"
has check-good out '^ok: [0-9]+ rules, 0 errors' "rules check: ok and the count"
as "$ADMIN" load-good rules load "$root/rules/clinical.rules" "$root/rules/network.rules"
expect_rc load-good 0 "rules load of the shipped files"
has load-good out "^ruleset version $((version0 + 1)) in force" "rules load: the new version said"
run v2 rules list --json
if [ "$(json v2 'r["version"]')" -eq $((version0 + 1)) ]; then
	ok "rules load: version $version0 -> $((version0 + 1))"
else
	fail "rules load: version $(json v2 'r["version"]'), expected $((version0 + 1))"
fi
as "$ADMIN" reload rules reload
expect_rc reload 0 "admin: rules reload"

# --- Backups -------------------------------------------------------------------

as "$ADMIN" bk-create --json backup create
expect_rc bk-create 0 "admin: backup create"
bk_id=$(json bk-create 'r["id"]')
for who in $VIEWER $OPERATOR $ADMIN; do
	as "$who" bk-list backup list
	expect_rc bk-list 0 "uid $who: backup list"
	has bk-list out "^ *$bk_id +[0-9]{4}-" "uid $who: backup list: backup $bk_id"
done
as "$VIEWER" bk-list-json --json backup list
parses bk-list-json "backup list --json"
as "$ADMIN" bk-verify backup verify "$bk_id"
expect_rc bk-verify 0 "admin: backup verify $bk_id"
has bk-verify out "^backup $bk_id: ok" "backup verify: ok"
run bk-dir backup create --dir "$tmp/backup2"
expect_rc bk-dir 0 "backup create --dir"
run bk-dir-list --json backup list --dir "$tmp/backup2"
if [ "$(json bk-dir-list 'len(r["backups"])')" -eq 1 ]; then
	ok "backup list --dir: one backup"
else
	fail "backup list --dir: $(head -c 300 "$tmp/bk-dir-list.out")"
fi

# --- Raw protocol -----------------------------------------------------------------

cat >"$tmp/raw.py" <<'PY'
import json, socket, sys, threading, time

path, mode = sys.argv[1], sys.argv[2]

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    return s, s.makefile("rb")

def ask(s, f, line):
    s.sendall(line if isinstance(line, bytes) else line.encode())
    return json.loads(f.readline())

def hello(s, f):
    r = ask(s, f, '{"id": 1, "cmd": "hello", "args": {"protocol": 1, "client": "ctl.sh"}}\n')
    assert r["ok"], r

if mode == "errors":
    s, f = connect()
    r = ask(s, f, '{"id": 1, "cmd": "status"}\n')
    assert r["error"]["code"] == "handshake", r
    hello(s, f)
    r = ask(s, f, '{"id": 2, "cmd": "status", "args": {}\n')
    assert r["ok"] is False and r["error"]["code"] == "malformed", r
    r = ask(s, f, '{"id": 3, "cmd": "status"}\n')
    assert r["ok"] and r["id"] == 3 and "workers" in r["result"], r
    big = '{"id": 4, "cmd": "status", "args": {"pad": "' + "x" * 70000 + '"}}\n'
    r = ask(s, f, big)
    assert r["ok"] is False and r["error"]["code"] == "too_large", r
    r = ask(s, f, '{"id": "five", "cmd": "version"}\n')
    assert r["ok"] and r["id"] == "five", r
    r = ask(s, f, '{"id": 6, "cmd": "frobnicate"}\n')
    assert r["error"]["code"] == "unknown_command", r
    r = ask(s, f, '{"id": 7, "cmd": "alarms.list", "args": {"bogus": 1}}\n')
    assert r["error"]["code"] == "bad_args", r
    s.close()
    s, f = connect()
    r = ask(s, f, '{"id": 1, "cmd": "hello", "args": {"protocol": 2}}\n')
    assert r["error"]["code"] == "protocol", r
    print("ok")
elif mode == "many":
    n, errors = int(sys.argv[3]), []
    start = threading.Barrier(n)
    def one(i):
        try:
            s, f = connect()
            start.wait(timeout=30)
            hello(s, f)
            r = ask(s, f, '{"id": 2, "cmd": "status"}\n')
            assert r["ok"] and r["id"] == 2, r
            s.close()
        except Exception as e:
            errors.append("%d: %r" % (i, e))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("ok" if not errors else "%d failed: %s" % (len(errors), errors[:3]))
elif mode == "silent":
    s, f = connect()
    s2, f2 = connect()
    hello(s2, f2)
    s2.sendall(b'{"id": 2, "cmd": "st')  # half a request, never finished
    print("holding", flush=True)
    time.sleep(60)
PY
rc=0
python3 "$tmp/raw.py" "$sock" errors >"$tmp/raw.out" 2>&1 || rc=$?
if [ "$rc" -eq 0 ] && grep -qx ok "$tmp/raw.out"; then
	ok "raw: handshake, malformed, too_large (70 KB), string ids, unknown command, bad_args, protocol; the connection answers after each"
else
	fail "raw protocol: $(tail -n 3 "$tmp/raw.out")"
fi
rc=0
timeout 60 python3 "$tmp/raw.py" "$sock" many 100 >"$tmp/many.out" 2>&1 || rc=$?
if [ "$rc" -eq 0 ] && grep -qx ok "$tmp/many.out"; then
	ok "100 clients at once: hello and status each"
else
	fail "100 clients: $(tail -n 3 "$tmp/many.out")"
fi
python3 "$tmp/raw.py" "$sock" silent >"$tmp/silent.out" 2>&1 &
silent=$!
bg_pids+=("$silent")
for _ in $(seq 50); do
	grep -q holding "$tmp/silent.out" && break
	sleep 0.1
done
run busy --timeout 5 status
expect_rc busy 0 "status while two clients hold connections without a whole request"
kill "$silent" 2>/dev/null || true
wait "$silent" 2>/dev/null || true

# --- Audit -----------------------------------------------------------------------

as "$VIEWER" audit-json --json audit list --limit 1000
expect_rc audit-json 0 "viewer: audit list"
if [ "$(json audit-json 'any(a["command"] == "alarms.ack" and a["result"] == "ok" and a["uid"] == '"$OPERATOR"' for a in r["records"])')" = True ]; then
	ok "audit list: the operator's ack"
else
	fail "audit list: no ok alarms.ack by $OPERATOR"
	head -c 600 "$tmp/audit-json.out"
fi
if [ "$(json audit-json 'sum(1 for a in r["records"] if a["result"] == "denied" and a["uid"] in ('"$VIEWER, $OPERATOR, $NOBODY"'))')" -ge 14 ]; then
	ok "audit list: the denials (viewer, operator, no role)"
else
	fail "audit list: $(json audit-json 'sum(1 for a in r["records"] if a["result"] == "denied")') denials, expected 14 or more"
fi
run audit-human audit list
has audit-human out '^ *SEQ +TIME +USER +UID +ROLE +COMMAND +RESULT' "audit list: its header"
as "$VIEWER" audit-verify audit verify
expect_rc audit-verify 0 "audit verify"
has audit-verify out '^audit chain ok: [0-9]+ records' "audit verify: ok"

# The server counts what it did: the denials above are in stats, and each was audited.
run stats-control stats --json
if [ "$(json stats-control 'r["control"]["denied"] >= 14 and r["control"]["audited"] >= r["control"]["denied"] and r["control"]["audit_failed"] == 0')" = True ]; then
	ok "stats: control.denied and control.audited count the denials"
else
	fail "stats: control counters $(json stats-control 'r.get("control")')"
fi

# --- Shutdown -------------------------------------------------------------------------

"$vigilctl" --json alarms follow >"$tmp/follow2.out" 2>"$tmp/follow2.err" &
follow2=$!
bg_pids+=("$follow2")
sleep 1
if kill -0 "$follow2" 2>/dev/null; then
	ok "alarms follow --json runs"
else
	fail "alarms follow --json ended at once"
	cat "$tmp/follow2.err"
fi
stop_vigild main
rc=0
for _ in $(seq 100); do
	kill -0 "$follow2" 2>/dev/null || break
	sleep 0.1
done
wait "$follow2" || rc=$?
if [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ]; then
	ok "alarms follow ends with vigild (exit $rc)"
else
	fail "alarms follow: exit $rc when vigild stopped"
	cat "$tmp/follow2.err"
fi
run gone status
expect_rc gone 3 "status after shutdown"
has gone err 'is vigild running\?' "status after shutdown: is vigild running?"

# --- The audit chain broken on purpose ----------------------------------------------------

tamper_case() {
	local what=$1 expect=$2 word=$3
	shift 3
	local db=$tmp/db-$what
	cp -a "$tmp/db" "$db"
	rc=0
	"$tamper" "$db" "$what" "$@" >"$tmp/tamper-$what.out" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "vigil-audit-tamper $what $*: exit $rc: $(cat "$tmp/tamper-$what.out")"
		return
	fi
	config "$db" "$tmp/vigil-$what.yaml"
	start_vigild "$tmp/vigil-$what.yaml" "$tmp/tiny.pcap" "$what"
	as "$VIEWER" "verify-$what" audit verify
	expect_rc "verify-$what" 1 "audit verify after $what $*"
	has "verify-$what" err "broken at record $expect: .*$word" \
		"audit verify after $what $*: record $expect named"
	stop_vigild "$what"
}
tamper_case modify 2 modified 2
tamper_case remove 3 removed 3
tamper_case swap 2 reordered 2 4

cli_summary ctl
