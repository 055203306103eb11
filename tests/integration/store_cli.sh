#!/usr/bin/env bash
# store_cli.sh VIGIL_STORE - vigil-store on a data directory, end to end.
#
# The tests have no vigild that stores yet, so the hidden `debug-fill`
# command writes a database of synthetic records (observation i of device
# 0x1000 + i % 4 at 2024-03-01T12:00:00Z + i / 4 seconds, seq i / 4, value
# 90 + i % 10; alarm j (id j + 1) and audit record k at + j, + k seconds).
# Then, as an operator would:
#   - stats, in text and JSON: the counts per column family and the schema;
#   - query obs, alarms, audit: exact JSON lines, ranges with --from
#     included and --to excluded, times as ISO-8601 or integer ns, devices
#     as hex or decimal, other devices never returned, a missing alarm;
#   - a live appliance (RocksDB's lock held by another process): refused
#     read-only with a message pointing at --secondary, which works;
#   - backup (twice, incremental), backups, verify, restore into new
#     directories, each restored copy queried; a restore over a non-empty
#     directory refused; a corrupted backup fails verification;
#   - sealed values: unreadable without the key file (and said so), read
#     with it; a key file readable by others refused;
#   - usage errors exit 2, a missing directory exits 1 naming it;
#   - every JSON output parses.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 VIGIL_STORE" >&2
	exit 2
fi
vs=$1
py=/usr/bin/python3
if ! "$vs" --version >/dev/null; then
	echo "FAIL: $vs does not run"
	exit 1
fi
tmp=$(mktemp -d)
holder_pid=
cleanup() {
	if [ -n "$holder_pid" ]; then
		kill "$holder_pid" 2>/dev/null || true
		wait "$holder_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
TOOL=$vs
TOOL_TIMEOUT=120
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"

# lines NAME N WHAT: NAME's stdout has exactly N lines.
lines() {
	local n
	n=$(wc -l <"$tmp/$1.out")
	if [ "$n" -eq "$2" ]; then
		ok "$3: $2 lines"
	else
		fail "$3: $n lines, expected $2"
		show "$1"
	fi
}

# same NAME1 NAME2 WHAT: both runs printed the same stdout.
same() {
	if cmp -s "$tmp/$1.out" "$tmp/$2.out"; then
		ok "$3"
	else
		fail "$3: outputs differ"
		diff "$tmp/$1.out" "$tmp/$2.out" | head -n 10 | sed 's/^/    /'
	fi
}

# pycheck NAME WHAT SCRIPT: SCRIPT (python) with NAME's stdout parsed as
# JSON lines in `rows` (every line must parse); it fails by raising.
pycheck() {
	local name=$1 what=$2 script=$3
	if "$py" - "$tmp/$name.out" >"$tmp/$name.pyout" 2>&1 <<EOF; then
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    assert isinstance(r, dict), "not an object: %r" % (r,)

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

db=$tmp/db
start=2024-03-01T12:00:00Z
start_ns=1709294400000000000

# ---------------------------------------------------------------------------
# A database, and its figures
# ---------------------------------------------------------------------------
run fill debug-fill --dir "$db" --obs 400 --alarms 12 --audit 5
expect_rc fill 0 "debug-fill 400 observations, 12 alarms, 5 audit records"

run stats --dir "$db" stats
expect_rc stats 0 "stats"
has stats out '^store .* \(read-only\), schema version 1$' "stats: the schema version"
has stats out '^obs +400 ' "stats: 400 observation keys"
has stats out '^alarms +12 ' "stats: 12 alarm keys"
has stats out '^audit +5 ' "stats: 5 audit keys"

run statsj --dir "$db" stats --json
expect_rc statsj 0 "stats --json"
pycheck statsj "stats --json: counts and schema" '
check(len(rows) == 1, "one object")
o = rows[0]
check(o["schema"] == 1, "schema %r" % o["schema"])
check(o["mode"] == "read-only", o["mode"])
check(o["cf"]["obs"]["keys"] == 400, repr(o["cf"]["obs"]))
check(o["cf"]["alarms"]["keys"] == 12, repr(o["cf"]["alarms"]))
check(o["cf"]["audit"]["keys"] == 5, repr(o["cf"]["audit"]))
check(o["cf"]["meta"]["keys"] >= 1, repr(o["cf"]["meta"]))
check(set(o["cf"]) == {"obs", "alarms", "audit", "meta"}, repr(o["cf"].keys()))
check(o["seal_key_id"] == 0, "not sealed")
'

# ---------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------
run obs --dir "$db" query obs --device 0x1001 --from 2024-03-01T12:00:10Z \
	--to 2024-03-01T12:00:20Z
expect_rc obs 0 "query obs, ISO times"
lines obs 10 "query obs [10 s, 20 s)"
if [ "$(head -n 1 "$tmp/obs.out")" = '{"device":"0x0000000000001001","time":"2024-03-01T12:00:10.000000000Z","seq":10,"code":150456,"value":91,"unit":262688,"flags":0}' ]; then
	ok "query obs: the first line, exactly"
else
	fail "query obs: first line is $(head -n 1 "$tmp/obs.out")"
fi
pycheck obs "query obs: seq 10..19 of device 0x1001, in order" '
check([r["seq"] for r in rows] == list(range(10, 20)), repr([r["seq"] for r in rows]))
check(all(r["device"] == "0x0000000000001001" for r in rows), "other devices")
check([r["value"] for r in rows] == [90 + (4 * s + 1) % 10 for s in range(10, 20)], "values")
'
# The same range as integer ns and a decimal device; from included, to excluded.
run obsns --dir "$db" query obs --device 4097 --from $((start_ns + 10000000000)) \
	--to $((start_ns + 20000000000))
expect_rc obsns 0 "query obs, ns times and a decimal device"
same obs obsns "query obs: ISO and ns ranges give the same lines"
run obsoff --dir "$db" query obs --device 0x1001 --from 2024-03-01T13:00:10+01:00 \
	--to 2024-03-01T12:00:19.000000001Z
same obs obsoff "query obs: a zone offset and a fraction"
run obsall --dir "$db" query obs --device 0x1003
expect_rc obsall 0 "query obs without a range"
lines obsall 100 "query obs: all of device 0x1003"
run obsnone --dir "$db" query obs --device 0x1004 --from $start
expect_rc obsnone 0 "query obs of a device with nothing"
lines obsnone 0 "query obs of a device with nothing"

run alarms --dir "$db" query alarms --from 2024-03-01T12:00:03Z --to 2024-03-01T12:00:06Z
expect_rc alarms 0 "query alarms by time"
pycheck alarms "query alarms: ids 4, 5, 6 with their records" '
check([r["id"] for r in rows] == [4, 5, 6], repr(rows))
check(rows[0]["time"] == "2024-03-01T12:00:03.000000000Z", rows[0]["time"])
check(rows[0]["record"] == {"id": 4, "rule": "debug-fill", "state": "active"}, repr(rows[0]))
'
run alarmsall --dir "$db" query alarms
lines alarmsall 12 "query alarms: all"
run alarm7 --dir "$db" query alarms --id 7
expect_rc alarm7 0 "query alarms --id 7"
pycheck alarm7 "query alarms --id 7: that alarm" '
check(len(rows) == 1 and rows[0]["id"] == 7 and rows[0]["record"]["id"] == 7, repr(rows))
'
run alarm99 --dir "$db" query alarms --id 99
expect_rc alarm99 1 "query alarms --id 99 (none)"
has alarm99 err 'no alarm 99' "query alarms --id 99: says so"

run audit --dir "$db" query audit --from 2 --to 4
expect_rc audit 0 "query audit"
pycheck audit "query audit: seq 2 and 3" '
check([r["seq"] for r in rows] == [2, 3], repr(rows))
check(rows[1]["record"]["what"] == "record 2", repr(rows[1]))
'

# A stored record that is not JSON is printed as a string; one with line
# breaks stays on one line.
run rawfill debug-fill --dir "$tmp/rawdb" --raw-alarm 'not json {' \
	--raw-alarm $'{\n  "a": [1, 2.5e3, "x\\ty"],\n  "b": {"c": null}\n}' --raw-alarm '{"a":01}'
expect_rc rawfill 0 "debug-fill --raw-alarm"
run raw --dir "$tmp/rawdb" query alarms
expect_rc raw 0 "query alarms with records as stored"
lines raw 3 "query alarms: one line per record"
pycheck raw "query alarms: JSON embedded, anything else as a string" '
check(rows[0]["record_text"] == "not json {" and "record" not in rows[0], repr(rows[0]))
check(rows[1]["record"] == {"a": [1, 2500.0, "x\ty"], "b": {"c": None}}, repr(rows[1]))
check(rows[2]["record_text"] == "{\"a\":01}", repr(rows[2]))
'

# ---------------------------------------------------------------------------
# A live appliance: RocksDB's lock held by another process
# ---------------------------------------------------------------------------
"$py" - "$db/LOCK" "$tmp/locked" <<'EOF' &
import fcntl, sys, time
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX)  # what RocksDB takes: a POSIX record lock
open(sys.argv[2], "w").close()
time.sleep(300)
EOF
holder_pid=$!
for _ in $(seq 1 600); do
	[ -e "$tmp/locked" ] && break
	sleep 0.1
done
run live --dir "$db" stats
expect_rc live 1 "stats on a live appliance, read-only"
has live err 'the appliance is running.*--secondary' "stats on a live appliance: says to use --secondary"
run livesec --dir "$db" --secondary "$tmp/sec" query alarms
expect_rc livesec 0 "query alarms on a live appliance, as a secondary"
lines livesec 12 "query alarms as a secondary"
run livefill debug-fill --dir "$db" --obs 1
expect_rc livefill 1 "a second writer"
has livefill err 'another process has it open' "a second writer: refused by the lock"
kill "$holder_pid"
wait "$holder_pid" 2>/dev/null || true
holder_pid=

# ---------------------------------------------------------------------------
# Backups
# ---------------------------------------------------------------------------
bk=$tmp/backups
run bk1 --dir "$db" backup --to "$bk"
expect_rc bk1 0 "backup"
has bk1 out '^backup 1 in ' "backup: number 1"
# More records (a second fill, an hour later), then an incremental backup.
run fill2 debug-fill --dir "$db" --obs 40 --alarms 3 --start 2024-03-01T13:00:00Z
expect_rc fill2 0 "debug-fill more"
run bk2 --dir "$db" backup --to "$bk" --json
expect_rc bk2 0 "backup --json"
pycheck bk2 "backup --json: number 2" '
check(len(rows) == 1 and rows[0]["id"] == 2 and rows[0]["files"] > 0, repr(rows))
'
run list backups --backup-dir "$bk" --json
expect_rc list 0 "backups"
pycheck list "backups: 1 and 2" '
check([r["id"] for r in rows] == [1, 2], repr(rows))
'
run verify verify --backup-dir "$bk"
expect_rc verify 0 "verify the latest"
has verify out '^backup 2 in .*: verified$' "verify: the latest is 2"
run verify1 verify --backup-dir "$bk" --id 1
expect_rc verify1 0 "verify --id 1"
run verify9 verify --backup-dir "$bk" --id 9
expect_rc verify9 1 "verify --id 9 (none)"

run rs1 restore --backup-dir "$bk" --id 1 --to "$tmp/r1"
expect_rc rs1 0 "restore backup 1"
run r1 --dir "$tmp/r1" query alarms
lines r1 12 "restored backup 1: its 12 alarms"
run r1obs --dir "$tmp/r1" query obs --device 0x1001
lines r1obs 100 "restored backup 1: its observations"
run rs2 restore --backup-dir "$bk" --to "$tmp/r2"
expect_rc rs2 0 "restore the latest"
run r2 --dir "$tmp/r2" query alarms
lines r2 15 "restored backup 2: 15 alarms"
run r2obs --dir "$tmp/r2" query obs --device 0x1001 --from 2024-03-01T13:00:00Z
lines r2obs 10 "restored backup 2: the second fill's observations"
run r2live --dir "$db" query obs --device 0x1001
run r2all --dir "$tmp/r2" query obs --device 0x1001
same r2live r2all "restored backup 2 reads as the database did"
run rsover restore --backup-dir "$bk" --id 1 --to "$tmp/r1"
expect_rc rsover 1 "restore over a non-empty directory"

# A flipped byte in the largest data file (table or WAL) of backup 2 that
# backup 1 does not share (backup meta files list "PATH crc32 N") fails
# verification of 2, and 1 still verifies.
if big=$("$py" - "$bk" <<'EOF'
import os, sys
bk = sys.argv[1]
def listed(n):
    return [l.split()[0] for l in open(os.path.join(bk, "meta", n)) if " crc32 " in l]
files = [f for f in listed("2") if f not in listed("1")]
data = [f for f in files if f.endswith(".sst") or f.endswith(".log")]
files = data or files
big = max(files, key=lambda f: os.path.getsize(os.path.join(bk, f)))
path = os.path.join(bk, big)
with open(path, "r+b") as f:
    at = min(100, os.path.getsize(path) // 2)
    f.seek(at)
    b = f.read(1)
    f.seek(at)
    f.write(bytes([b[0] ^ 0x40]))
print(big)
EOF
); then
	run vbad verify --backup-dir "$bk" --id 2
	expect_rc vbad 1 "verify backup 2 with a flipped byte in $big"
	run vgood verify --backup-dir "$bk" --id 1
	expect_rc vgood 0 "backup 1 (without that file) still verifies"
else
	fail "no backup file to corrupt"
fi

# ---------------------------------------------------------------------------
# Sealed values
# ---------------------------------------------------------------------------
keys=$tmp/keys
printf '# test key\n1 %s\n' 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f >"$keys"
chmod 600 "$keys"
run sfill debug-fill --dir "$tmp/sdb" --key-file "$keys" --obs 8 --alarms 2
expect_rc sfill 0 "debug-fill, sealed"
run sq --dir "$tmp/sdb" --key-file "$keys" query alarms
expect_rc sq 0 "query sealed alarms with the key file"
lines sq 2 "query sealed alarms with the key file"
run sstats --dir "$tmp/sdb" --key-file "$keys" stats --json
pycheck sstats "stats --json: sealed with key 1" '
check(rows[0]["seal_key_id"] == 1, repr(rows[0]))
'
run snokey --dir "$tmp/sdb" query obs --device 0x1000
if [ "$rc" -ne 0 ] && ! grep -q . "$tmp/snokey.out"; then
	ok "query sealed observations without the key file: nothing printed, exit $rc"
else
	fail "query sealed observations without the key file: exit $rc"
	show snokey
fi
chmod 644 "$keys"
run sperm --dir "$tmp/sdb" --key-file "$keys" query alarms
expect_rc sperm 1 "a key file readable by others"
has sperm err "$keys" "a key file readable by others: named"

# ---------------------------------------------------------------------------
# Errors and usage
# ---------------------------------------------------------------------------
run missing --dir "$tmp/nope" stats
expect_rc missing 1 "stats on a missing directory"
has missing err "$tmp/nope" "stats on a missing directory: names it"
if [ -e "$tmp/nope" ]; then
	fail "a read-only open created the directory"
else
	ok "a read-only open creates nothing"
fi
run mbk restore --backup-dir "$tmp/nobk" --to "$tmp/r3"
expect_rc mbk 1 "restore from a missing backup directory"

usage() {
	local name=$1
	shift
	run "$name" "$@"
	expect_rc "$name" 2 "usage: $*"
	if [ -s "$tmp/$name.err" ]; then
		ok "usage: $*: a message"
	else
		fail "usage: $*: nothing on stderr"
	fi
}
usage u1
usage u2 frobnicate
usage u3 --dir "$db" query
usage u4 --dir "$db" query everything
usage u5 --dir "$db" query obs
usage u6 --dir "$db" query obs --device 0x1001 --from yesterday
usage u7 --dir "$db" query obs --device 0xzz
usage u8 --dir "$db" stats --no-such-option
usage u9 verify
usage u10 --dir "$db" query alarms --id 3 --from 0
usage u11 --dir "$db" stats extra
usage u12 stats
usage u13 --dir "$db" query obs --device 1 --from 2024-03-01T12:00:00
usage u14 --dir "$db" query obs --device 1 --from 2024-02-30
usage u15 --dir "$db" backup
usage u16 restore --backup-dir "$bk" --id 0 --to "$tmp/r4"
usage u17 --dir "$db" stats --dir
usage u18 --dir "$db" query alarms --from 2024-03-02 --to 2024-03-01

run help --help
expect_rc help 0 "--help"
has help out '--secondary' "--help: --secondary"
has help out 'LIVE' "--help: a live appliance needs --secondary"
if grep -q 'debug-fill' "$tmp/help.out"; then
	fail "--help shows debug-fill"
else
	ok "--help does not show debug-fill"
fi

cli_summary store-cli
