#!/usr/bin/env bash
# telemetry.sh VIGILD VIGIL_GEN - vigild's /vigil/* commands, read with DPDK's own client.
#
# vigild replays a ward capture and lingers; Debian's dpdk-telemetry.py (the
# real client, commands on stdin, one JSON answer a line) then asks for the
# command list, a help text, /vigil/status, /workers (all and one), /ports,
# /rules and /alarms, some bad parameters (null answers) and DPDK's own
# /ethdev/list. The answers must agree with the capture (every frame
# received), with what vigild said at start (the rules it loaded) and with
# controlplane.h (the alarm counters' names). The EAL gets a file prefix of
# its own, so the socket is this test's even while other vigilds run. vigild
# must then stop on SIGTERM with exit 0 and take its socket with it.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 VIGILD VIGIL_GEN" >&2
	exit 2
fi
vigild=$1
gen=$2
client=/usr/bin/dpdk-telemetry.py
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: the EAL and /var/run/dpdk need root"
	exit 77
fi
if [ ! -f "$client" ] || ! command -v python3 >/dev/null; then
	echo "SKIP: $client (Debian's dpdk package) or python3 is missing"
	exit 77
fi

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
prefix=vigiltest$$
rundir=/var/run/dpdk/$prefix
tmp=$(mktemp -d)
pid=

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp" "$rundir" # DPDK leaves its runtime directory behind
}
trap cleanup EXIT

# shellcheck source=tests/integration/cli_lib.sh
source "$here/cli_lib.sh"

err=$tmp/vigild.err

dump() {
	echo "  vigild stderr (last 20 lines):"
	tail -n 20 "$err" | sed 's/^/    /'
}

# query FILE CMD...: the answers of dpdk-telemetry.py, one line per command.
query() {
	local out=$1
	shift
	printf '%s\n' "$@" | timeout 20 python3 "$client" -f "$prefix" >"$out" 2>&1 || true
}

# The capture: 8 beds for 120 s of the demo scenario (alarms among them).
if ! "$gen" --scenario demo --beds 8 --duration 120 --pcap "$tmp/ward.pcap" -q; then
	echo "FAIL: vigil-gen failed"
	exit 1
fi
frames=$(python3 - "$tmp/ward.pcap" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
off, n = 24, 0
while off + 16 <= len(data):
    off += 16 + struct.unpack_from("<I", data, off + 8)[0]
    n += 1
print(n)
EOF
)

cat >"$tmp/vigil.yaml" <<EOF
eal: ["--no-pci", "--no-huge", "--no-shconf", "-m", "512", "--file-prefix", "$prefix"]
workers: 1
rules:
  files: [$src/rules/clinical.rules, $src/rules/network.rules]
EOF

# Not under timeout(1): SIGTERM must reach vigild itself. Every wait below
# is bounded, and the EXIT trap kills vigild whatever happens.
"$vigild" -c "$tmp/vigil.yaml" --pcap "$tmp/ward.pcap" --linger >"$tmp/vigild.out" 2>"$err" &
pid=$!

for _ in $(seq 1 300); do
	if grep -q "lingering" "$err" || ! kill -0 "$pid" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
if ! grep -q "lingering" "$err"; then
	if ! kill -0 "$pid" 2>/dev/null && grep -q "EAL" "$err" &&
		grep -qi "initiali[sz]ation failed\|Cannot init" "$err"; then
		echo "SKIP: the EAL cannot start here:"
		sed 's/^/  /' "$err"
		exit 77
	fi
	fail "start: vigild did not replay the capture and linger within 30 s"
	dump
	cli_summary telemetry
	exit 1
fi
ok "start: vigild replayed $frames frames and lingers"

sock=$rundir/dpdk_telemetry.v2
if [ -S "$sock" ]; then
	ok "socket: $sock (the test's own file prefix)"
else
	fail "socket: no $sock; $rundir holds: $(find "$rundir" -mindepth 1 2>&1 | tr '\n' ' ')"
fi

# The monitor samples once a second: wait for a sample with every frame in.
settled=0
for _ in $(seq 1 15); do
	query "$tmp/status.json" /vigil/status
	if python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline())["/vigil/status"]
sys.exit(0 if d and d.get("rx_packets") == int(sys.argv[2]) else 1)' "$tmp/status.json" "$frames" \
		2>/dev/null; then
		settled=1
		break
	fi
	sleep 1
done
if [ "$settled" -eq 1 ]; then
	ok "status: rx_packets reached $frames"
else
	fail "status: rx_packets never reached $frames: $(cat "$tmp/status.json")"
	dump
fi

commands=(/ "/help,/vigil/status" /vigil/status /vigil/workers "/vigil/workers,0" /vigil/ports
	/vigil/rules /vigil/alarms /ethdev/list "/vigil/workers,abc" "/vigil/workers,1"
	"/vigil/workers,-1" "/vigil/status,1" "/vigil/rules,x" "/vigil/alarms,0")
query "$tmp/answers.json" "${commands[@]}"

# Every check prints "ok: ..." or "FAIL: ...".
python3 - "$tmp/answers.json" "$frames" "$err" "$src/controlplane/controlplane.h" \
	"${commands[@]}" >"$tmp/checks.txt" 2>&1 <<'EOF' || true
import json, re, sys

answers_path, frames, err_path, header = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
commands = sys.argv[5:]

def check(cond, what, detail=""):
    print(("ok: " if cond else "FAIL: ") + what + ("" if cond else ": " + str(detail)[:600]))

lines = [l for l in open(answers_path) if l.strip()]
ans, misnamed = {}, []
for cmd, line in zip(commands, lines):
    key = cmd.split(",")[0]
    try:
        d = json.loads(line)
    except ValueError:
        d = {}
    if list(d) != [key]:
        misnamed.append((cmd, line))
    ans[cmd] = d.get(key)
check(not misnamed, "every answer is JSON under its command's name", misnamed)
check(len(lines) == len(commands), "one answer per command", "%d answers, %d commands:\n%s"
      % (len(lines), len(commands), "".join(lines)))

log = open(err_path).read()
m = re.search(r"vigild: rules: (\d+) loaded \((\d+) alert, (\d+) log, (\d+) pass; (\d+) "
              r"disabled\), (\d+) patterns, .* ruleset ([0-9a-f]+)", log)
check(m is not None, "vigild logged its rules at start", log[:400])
n_rules, n_alert, n_log, n_pass, n_disabled, n_patterns = (int(x) for x in m.groups()[:6]) if m \
    else (0,) * 6
hash_start = m.group(7) if m else "?"
hdr = open(header).read()
mc = re.search(r"#define CP_ALARM_COUNTERS\(X\)(.*?)\n\n", hdr, re.S)
alarm_names = re.findall(r"X\((\w+),", mc.group(1)) if mc else []
check(len(alarm_names) > 5, "CP_ALARM_COUNTERS read from controlplane.h", alarm_names)

vigil_cmds = ["/vigil/status", "/vigil/workers", "/vigil/ports", "/vigil/rules", "/vigil/alarms"]
lst = ans.get("/") or []
check(all(c in lst for c in vigil_cmds + ["/ethdev/list"]), "/ lists every /vigil/ command",
      lst)
check(all(lst.count(c) == 1 for c in vigil_cmds), "each /vigil/ command registered once", lst)

h = (ans.get("/help,/vigil/status") or {}).get("/vigil/status", "")
check("uptime" in h and len(h) < 128, "/help,/vigil/status: its help text", h)

st = ans.get("/vigil/status") or {}
check(st.get("rx_packets") == frames, "status: rx_packets = frames in the capture", st)
check(st.get("rules") == n_rules and st.get("ruleset_version") == 1,
      "status: %d rules, version 1 (as logged)" % n_rules, st)
check(st.get("workers") == 1 and st.get("ports") == 1, "status: 1 worker, 1 port", st)
check(st.get("drops") == 0, "status: no drops (every frame is telemetry)", st)
check(st.get("devices") == 8 and st.get("patients") == 8, "status: 8 devices, 8 patients", st)
check(st.get("storage") == "off" and st.get("storage_failing") == 0, "status: storage off", st)
opens = [st.get("open_" + p) for p in ("none", "low", "medium", "high")]
check(all(isinstance(x, int) for x in opens) and sum(opens) == st.get("alarms_open"),
      "status: alarms_open = the sum of open_<priority>", st)
check(isinstance(st.get("uptime_s"), int) and 0 <= st["uptime_s"] < 120, "status: uptime_s", st)

wk = ans.get("/vigil/workers") or {}
w0 = wk.get("0") or {}
check(list(wk) == ["0"], "workers: worker 0 only", wk)
check(w0.get("rx_packets") == frames and w0.get("drops") == 0,
      "workers: worker 0 received every frame, dropped none", w0)
check(isinstance(w0.get("busy_permille"), int) and 0 <= w0["busy_permille"] <= 1000,
      "workers: busy_permille within 0-1000", w0)
one = ans.get("/vigil/workers,0") or {}
check(one.get("worker") == 0 and one.get("rx_packets") == frames
      and one.get("drops_by_reason") == {}, "workers,0: worker 0, no drop reason", one)

ports = ans.get("/vigil/ports") or {}
pcap = [(k, v) for k, v in ports.items() if str(v.get("name", "")).startswith("net_pcap")]
check(len(ports) == 1 and len(pcap) == 1, "ports: the pcap port, keyed by name", ports)
if pcap:
    k, v = pcap[0]
    check(k == v["name"] and v.get("port") == 0, "ports: key %s = its name" % k, v)
    check(v.get("ipackets") == frames and v.get("imissed") == 0 and v.get("rx_nombuf") == 0
          and v.get("ierrors") == 0, "ports: ipackets = frames, nothing missed", v)
    check(v.get("link_up") == 1 and "opackets" in v, "ports: link up", v)

ru = ans.get("/vigil/rules") or {}
check(ru.get("loaded") == 1 and ru.get("version") == 1 and ru.get("rules") == n_rules,
      "rules: version 1, %d rules" % n_rules, ru)
check(ru.get("disabled") == n_disabled and ru.get("patterns") == n_patterns,
      "rules: %d disabled, %d patterns (as logged)" % (n_disabled, n_patterns), ru)
check(len(ru.get("hash", "")) == 64 and ru["hash"].startswith(hash_start),
      "rules: hash starts %s (as logged)" % hash_start, ru)
check(ru.get("by_action") == {"alert": n_alert, "log": n_log, "pass": n_pass},
      "rules: by_action as logged", ru)
bp = ru.get("by_priority") or {}
check(set(bp) == {"none", "low", "medium", "high"} and sum(bp.values()) == n_rules,
      "rules: by_priority adds up to the rules", ru)
check(isinstance(ru.get("compile_us"), int) and ru["compile_us"] > 0, "rules: compile_us", ru)

al = ans.get("/vigil/alarms") or {}
op = al.get("open") or {}
cn = al.get("counters") or {}
check(set(op) == {"none", "low", "medium", "high"} and sum(op.values()) == al.get("open_total")
      == st.get("alarms_open"), "alarms: open by priority adds up (and matches status)", al)
check(list(cn) == alarm_names, "alarms: counters named as CP_ALARM_COUNTERS", list(cn))
check(cn.get("raised", 0) > 0 and cn.get("raised", 0) >= al.get("open_total", 1 << 62)
      and cn.get("conditions", 0) >= cn.get("raised", 1), "alarms: the demo raised alarms", cn)
check(al.get("clinical") == 1, "alarms: the clinical pipeline runs", al)

check(ans.get("/ethdev/list") == [0], "/ethdev/list (DPDK's own) still answers",
      ans.get("/ethdev/list"))
for bad in commands:
    if bad.startswith("/vigil/") and bad not in ("/vigil/workers,0",) and "," in bad:
        check(bad in ans and ans[bad] is None, bad + ": null (bad parameter)", ans.get(bad))
EOF
while IFS= read -r line; do
	case $line in
	"ok: "*) ok "${line#ok: }" ;;
	"FAIL: "*) fail "${line#FAIL: }" ;;
	*) fail "checks: $line" ;;
	esac
done <"$tmp/checks.txt"

# SIGTERM: exit 0, the socket gone.
kill -TERM "$pid"
for _ in $(seq 1 200); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
rc=0
if kill -0 "$pid" 2>/dev/null; then
	fail "stop: vigild still runs 20 s after SIGTERM"
	dump
else
	wait "$pid" || rc=$?
	pid=
	if [ "$rc" -eq 0 ]; then
		ok "stop: SIGTERM, exit 0"
	else
		fail "stop: exit $rc after SIGTERM"
		dump
	fi
fi
if [ ! -e "$sock" ]; then
	ok "stop: the telemetry socket is gone"
else
	fail "stop: $sock is left behind"
fi

cli_summary telemetry
