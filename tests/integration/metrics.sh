#!/usr/bin/env bash
# metrics.sh VIGILD VIGIL_GEN - /metrics checked by promtool and scraped by a real prometheus.
#
# vigild replays a generated ward (--pcap --linger: it keeps serving after
# the capture until SIGTERM) with the shipped rules, storage and
# metrics.listen on a free loopback port. The test holds /metrics to:
#   - `promtool check metrics` printing nothing (errors and lint warnings);
#   - every family with # HELP and # TYPE, vigil_ names, counters ending in
#     _total, one family's samples together, no series twice;
#   - the values: frames received summed over workers equal the capture's,
#     outcomes, drops, rules and rule hits equal vigild's own JSON summary,
#     build info, storage and the clinical pipeline present;
#   - 404 for another path, 405 for a POST;
#   - every metric the Grafana dashboard (tools/grafana/vigil.json) uses
#     being in the scrape, and every one of its queries running in
#     prometheus;
#   - a non-loopback metrics.listen refused at start (exit 2, naming the
#     key), and a port in use refused with a clear message;
#   - a real prometheus server scraping it (up == 1, the frames);
#   - SIGTERM ending the lingering vigild, /metrics with it.
# Needs root, promtool and prometheus (tools/setup installs them); exits
# 77 (skipped) without them. vigild's worker busy-polls a core, so the
# checks run in few python processes.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 VIGILD VIGIL_GEN" >&2
	exit 2
fi
vigild=$1
gen=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
dashboard=$root/tools/grafana/vigil.json

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root (vigild's EAL)"
	exit 77
fi
for tool in promtool prometheus python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool is not installed (tools/setup installs it)"
		exit 77
	fi
done

tmp=$(mktemp -d)
vigild_pid=
prom_pid=
# stop PID: SIGTERM, then SIGKILL if it is still there after 5 s.
stop() {
	kill -TERM "$1" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	[ -z "$vigild_pid" ] || stop "$vigild_pid"
	[ -z "$prom_pid" ] || stop "$prom_pid"
	rm -rf "$tmp"
}
trap cleanup EXIT

TOOL=$vigild
TOOL_TIMEOUT=60
# shellcheck source=cli_lib.sh
. "$here/cli_lib.sh"

# tally FILE: count a checker's "ok: ..." and "FAIL: ..." lines.
tally() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok: "*) ok "${line#ok: }" ;;
		"FAIL: "*) fail "${line#FAIL: }" ;;
		*) echo "$line" ;;
		esac
	done <"$1"
}

# expect WHAT GOT WANT
expect() {
	if [ "$2" = "$3" ]; then
		ok "$1: $2"
	else
		fail "$1: $2, expected $3"
	fi
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds (0), or the time is up (1).
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	while [ $SECONDS -lt "$deadline" ]; do
		if "$@"; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# The checker: python3 check.py COMMAND ARGS (below, one process per step).
cat >"$tmp/check.py" <<'PY'
import json, re, struct, sys, time, urllib.error, urllib.parse, urllib.request

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
failed = False


def ok(msg):
    print("ok: " + msg)


def fail(msg):
    global failed
    failed = True
    print("FAIL: " + msg)


def expect(what, got, want):
    (ok if got == want else fail)(f"{what}: {got}" + ("" if got == want else f", expected {want}"))


def fetch(url, method="GET", timeout=5):
    """(HTTP status, body); status 0: no answer."""
    req = urllib.request.Request(url, method=method, data=b"x=1" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except Exception:
        return 0, ""


def parse(text):
    """[(name, {labels}, value, line)], {name: help}, {name: type}, problems"""
    samples, helps, types, problems = [], {}, {}, []
    for n, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or parts[3] == "":
                problems.append(f"line {n}: empty {parts[1]}")
                continue
            table = helps if parts[1] == "HELP" else types
            if parts[2] in table:
                problems.append(f"line {n}: a second {parts[1]} for {parts[2]}")
            table[parts[2]] = parts[3]
            continue
        m = SAMPLE.match(line)
        if m is None:
            problems.append(f"line {n}: not a sample: {line!r}")
            continue
        labels, rest = {}, m.group(2) or ""
        while rest:
            lm = LABEL.match(rest)
            if lm is None:
                problems.append(f"line {n}: bad labels: {line!r}")
                break
            labels[lm.group(1)] = lm.group(2)
            rest = rest[lm.end():]
        samples.append((m.group(1), labels, float(m.group(3)), n))
    return samples, helps, types, problems


def family_of(name, types):
    """A histogram's _bucket, _sum and _count samples belong to its family."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) == "histogram":
            return base
    return name


def lint_histograms(samples, types, problems):
    """Buckets cumulative, ending at +Inf, which equals _count."""
    series = {}
    for name, labels, value, n in samples:
        fam = family_of(name, types)
        if fam == name:
            continue
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        h = series.setdefault((fam, rest), {"buckets": [], "count": None})
        if name.endswith("_bucket"):
            h["buckets"].append((labels.get("le"), value, n))
        elif name.endswith("_count"):
            h["count"] = value
    for (fam, rest), h in series.items():
        b = h["buckets"]
        if not b or b[-1][0] != "+Inf":
            problems.append(f"{fam}{dict(rest)}: no +Inf bucket last")
            continue
        les = [float(le) for le, _, _ in b[:-1]]
        if les != sorted(les) or len(set(les)) != len(les):
            problems.append(f"{fam}{dict(rest)}: le bounds not increasing")
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            problems.append(f"{fam}{dict(rest)}: buckets not cumulative")
        if h["count"] != b[-1][1]:
            problems.append(f"{fam}{dict(rest)}: _count {h['count']} is not +Inf {b[-1][1]}")


def lint(samples, helps, types, problems):
    seen, done, last = set(), set(), None
    for name, labels, value, n in samples:
        fam = family_of(name, types)
        if not name.startswith("vigil_"):
            problems.append(f"line {n}: {name} is not vigil_*")
        if fam not in helps or fam not in types:
            problems.append(f"line {n}: {name} without HELP or TYPE")
        elif (types[fam] == "counter") != name.endswith("_total"):
            problems.append(f"line {n}: {name} is a {types[fam]}: _total is for counters")
        if fam != last:
            if fam in done:
                problems.append(f"line {n}: {fam}'s samples are not together")
            done.add(fam)
            last = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            problems.append(f"line {n}: {name}{labels} twice")
        seen.add(key)
    problems += [f"{name}: TYPE without HELP" for name in types if name not in helps]
    lint_histograms(samples, types, problems)
    return problems


def dashboard_exprs(path):
    """[(expr, is_prometheus_query)]: every panel target, and the variables' queries."""
    d = json.load(open(path))
    out = []

    def walk(p):
        out.extend((t["expr"], True) for t in p.get("targets", []))
        for q in p.get("panels", []):
            walk(q)
    for p in d["panels"]:
        walk(p)
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        if v.get("type") == "query":
            out.append((q.get("query", "") if isinstance(q, dict) else q, False))
    return out


def pcap_frames(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off, n = 24, 0
    while off + 16 <= len(data):
        off += 16 + struct.unpack(end + "I", data[off + 8:off + 12])[0]
        n += 1
    print(n)


def final_scrape(url, out, timeout):
    """Scrape until a sample newer than the first 200's (a newer uptime); keep it in out."""
    deadline, first = time.time() + float(timeout), None
    while time.time() < deadline:
        code, body = fetch(url)
        if code == 200:
            up = [v for n, _, v, _ in parse(body)[0] if n == "vigil_uptime_seconds"]
            if up and first is None:
                first = up[0]
            elif up and up[0] > first:
                open(out, "w").write(body)
                ok(f"GET /metrics: 200, a sample taken after the summary (uptime {up[0]:.1f} s)")
                return
        time.sleep(0.2)
    fail(f"GET /metrics: no newer sample in {timeout} s (last answer {code})")


def scrape_checks(scrape, summary, frames, dashboard):
    text = open(scrape).read()
    samples, helps, types, problems = parse(text)
    problems = lint(samples, helps, types, problems)
    if problems:
        fail("exposition: " + "; ".join(problems[:20]))
    else:
        ok(f"exposition: {len(types)} families with HELP and TYPE, {len(samples)} samples")
    r = json.loads(open(summary).readline())
    frames = int(frames)

    def total(name, **want):
        return int(sum(v for n, lb, v, _ in samples
                       if n == name and all(lb.get(k) == x for k, x in want.items())))

    def series(name):
        return [(lb, v) for n, lb, v, _ in samples if n == name]

    expect("vigil_rx_packets_total summed", total("vigil_rx_packets_total"), frames)
    expect("vigil_rx_packets_total summed, as the summary", total("vigil_rx_packets_total"),
           r["rx_packets"])
    expect("vigil_port_rx_packets_total summed", total("vigil_port_rx_packets_total"), frames)
    expect("vigil_build_info", [v for _, v in series("vigil_build_info")], [1.0])
    expect("vigil_build_info has a version",
           all(lb.get("version") for lb, _ in series("vigil_build_info")), True)
    for o, want in r["outcomes"].items():
        expect(f"vigil_outcomes_total{{outcome={o}}}", total("vigil_outcomes_total", outcome=o),
               want)
    wrong = [d for d, want in r["drops"].items()
             if not d.startswith("port_") and total("vigil_drops_total", reason=d) != want]
    expect("vigil_drops_total: reasons that differ from the summary", wrong, [])
    expect("vigil_ruleset_loaded", total("vigil_ruleset_loaded"), 1)
    expect("vigil_rules summed", total("vigil_rules"), r["ruleset"]["rules"])
    expect("vigil_ruleset_info's hash", [lb.get("hash") for lb, _ in series("vigil_ruleset_info")],
           [r["ruleset"]["hash"]])
    expect("vigil_ruleset_version", total("vigil_ruleset_version"), r["ruleset"]["version"])
    hits = sorted((int(lb["sid"]), int(v)) for lb, v in series("vigil_rule_hits_total"))
    want = sorted((h["sid"], h["hits"]) for h in r["rule_hits"])
    if want and hits == want:
        ok(f"vigil_rule_hits_total: {len(hits)} rules, as the summary")
    else:
        fail(f"vigil_rule_hits_total: {hits}, the summary says {want}")
    # one burst timed per non-empty burst (one queue a worker); decisions timed
    expect("vigil_worker_burst_seconds_count, as vigil_rx_bursts_total",
           total("vigil_worker_burst_seconds_count"), total("vigil_rx_bursts_total"))
    expect("vigil_worker_decision_seconds_count > 0",
           total("vigil_worker_decision_seconds_count") > 0, True)
    for name, want in (("vigil_uptime_seconds", None), ("vigil_worker_loop_cycles_total", None),
                       ("vigil_ring_capacity", None), ("vigil_storage_enabled", None),
                       ("vigil_store_obs_written_total", None), ("vigil_clinical_enabled", None),
                       ("vigil_alarms_raised_total", None), ("vigil_patients", None)):
        v = sum(v for _, v in series(name))
        (ok if v > 0 else fail)(f"{name}: {v:g}" + ("" if v > 0 else ", expected more than 0"))
    expect("vigil_storage_keys{cf=obs} > 0", total("vigil_storage_keys", cf="obs") > 0, True)
    expect("vigil_storage_bytes column families",
           sorted(lb["cf"] for lb, _ in series("vigil_storage_bytes")),
           sorted(["obs", "alarms", "audit", "meta"]))
    expect("vigil_alarms_open priorities",
           sorted(lb["priority"] for lb, _ in series("vigil_alarms_open")),
           sorted(["none", "low", "medium", "high"]))

    have = {n for n, _, _, _ in samples}
    used = {n for e, _ in dashboard_exprs(dashboard) for n in re.findall(r"vigil_[a-z0-9_]+", e)}
    missing = sorted(used - have)
    if used and not missing:
        ok(f"dashboard: the {len(used)} metrics it uses are in the scrape")
    else:
        fail("dashboard: not in the scrape: " + " ".join(missing))


def http_checks(base):
    expect("GET /other", fetch(base + "/other")[0], 404)
    expect("POST /metrics", fetch(base + "/metrics", "POST")[0], 405)
    code, body = fetch(base + "/metrics", "HEAD")
    expect("HEAD /metrics", (code, body), (200, ""))


def prometheus_checks(prom, frames, dashboard, timeout):
    def query(q):
        code, body = fetch(prom + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
        try:
            return json.loads(body)
        except ValueError:
            return {"status": f"HTTP {code}"}

    def first(q):
        r = query(q)
        res = r.get("data", {}).get("result", []) if r.get("status") == "success" else []
        return float(res[0]["value"][1]) if res else None

    deadline = time.time() + float(timeout)
    while time.time() < deadline:
        v = first("sum(vigil_rx_packets_total)")
        if v is not None and v > 0:
            break
        time.sleep(0.5)
    else:
        fail(f"prometheus: no vigil_rx_packets_total above 0 in {timeout} s: {query('up')}")
        return
    ok(f"prometheus scraped vigild: sum(vigil_rx_packets_total) = {v:g}")
    expect("prometheus: sum(vigil_rx_packets_total)", v, float(frames))
    expect('prometheus: up{job="vigil"}', first('up{job="vigil"}'), 1.0)
    bad, n = [], 0
    for e, promql in dashboard_exprs(dashboard):
        if not promql:
            continue
        n += 1
        r = query(e.replace("$__rate_interval", "1m").replace("$instance", ".*"))
        if r.get("status") != "success":
            bad.append(f"{e!r}: {r.get('error', r.get('status'))}")
    if n and not bad:
        ok(f"prometheus runs the dashboard's {n} queries")
    else:
        fail(f"prometheus refused {len(bad)} of the dashboard's {n} queries: " + "; ".join(bad))


globals()[sys.argv[1]](*sys.argv[2:])
sys.exit(1 if failed else 0)
PY
check() {
	python3 "$tmp/check.py" "$@"
}
# step NAME COMMAND...: a checker step, its lines tallied; a crash is a failure.
step() {
	local name=$1 rc=0
	shift
	check "$@" >"$tmp/$name.check" 2>&1 || rc=$?
	tally "$tmp/$name.check"
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL: ' "$tmp/$name.check"; then
		fail "$name: the checker exited $rc"
	fi
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The ward and vigild's configuration.
"$gen" --scenario demo --beds 8 --duration 120 --pcap "$tmp/ward.pcap" 2>"$tmp/gen.err"
frames=$(check pcap_frames "$tmp/ward.pcap")
[ "$frames" -gt 0 ] || fail "vigil-gen wrote an empty capture"
port=$(free_port)
url=http://127.0.0.1:$port
write_config() { # write_config FILE LISTEN [STORAGE_DIR]
	cat >"$1" <<EOF
metrics:
  listen: "$2"
rules:
  files: [$root/rules/clinical.rules, $root/rules/network.rules]
EOF
	if [ $# -gt 2 ]; then
		printf 'storage:\n  dir: %s\n' "$3" >>"$1"
	fi
}
write_config "$tmp/vigil.yaml" "127.0.0.1:$port" "$tmp/db"

# A non-loopback address: refused at start, naming the key.
write_config "$tmp/any.yaml" "0.0.0.0:$port"
run any --pcap "$tmp/ward.pcap" -c "$tmp/any.yaml"
expect_rc any 2 "metrics.listen 0.0.0.0"
has any err 'metrics\.listen.*loopback' "metrics.listen 0.0.0.0: the message names the key"

# Not under timeout(1): SIGTERM must reach vigild itself. The EXIT trap
# stops it whatever happens.
"$vigild" --pcap "$tmp/ward.pcap" --linger --json -c "$tmp/vigil.yaml" >"$tmp/vigild.out" \
	2>"$tmp/vigild.err" &
vigild_pid=$!

# The replay is over once vigild printed its summary; a sample taken after
# that holds the data plane's final counters.
summary_out() { [ -s "$tmp/vigild.out" ] || ! kill -0 "$vigild_pid" 2>/dev/null; }
if ! wait_for 60 summary_out || ! kill -0 "$vigild_pid" 2>/dev/null; then
	if grep -q "EAL initialisation failed" "$tmp/vigild.err"; then
		echo "SKIP: the EAL cannot start here:"
		sed 's/^/    /' "$tmp/vigild.err"
		exit 77
	fi
	echo "FAIL: vigild did not replay the capture and linger; its stderr:"
	sed 's/^/    /' "$tmp/vigild.err"
	exit 1
fi
ok "vigild replayed the capture and lingers"
grep -q "metrics: http://127.0.0.1:$port/metrics" "$tmp/vigild.err" ||
	fail "vigild did not say where /metrics is"
s=$tmp/scrape.txt
step scrape final_scrape "$url/metrics" "$s" 15
[ -s "$s" ] || exit 1

# promtool: errors and lint warnings both fail.
rc=0
promtool check metrics <"$s" >"$tmp/promtool.out" 2>&1 || rc=$?
if [ "$rc" -eq 0 ] && [ ! -s "$tmp/promtool.out" ]; then
	ok "promtool check metrics: clean"
else
	fail "promtool check metrics: exit $rc:"
	sed 's/^/    /' "$tmp/promtool.out"
fi

# The values, against the capture and vigild's JSON summary; the dashboard.
if python3 -m json.tool "$dashboard" >/dev/null; then
	ok "tools/grafana/vigil.json is JSON"
else
	fail "tools/grafana/vigil.json is not JSON"
fi
step values scrape_checks "$s" "$tmp/vigild.out" "$frames" "$dashboard"
step http http_checks "$url"

# The port in use: another vigild is refused with a clear message.
write_config "$tmp/inuse.yaml" "127.0.0.1:$port"
run inuse --pcap "$tmp/ward.pcap" -c "$tmp/inuse.yaml"
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then
	ok "metrics.listen on a port in use: exit $rc"
else
	fail "metrics.listen on a port in use: exit $rc"
fi
has inuse err "metrics\.listen.*127\.0\.0\.1:$port.*in use" "metrics.listen on a port in use: said"

# A real prometheus scrapes it.
prom_port=$(free_port)
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: vigil
    static_configs:
      - targets: ["127.0.0.1:$port"]
EOF
if promtool check config "$tmp/prometheus.yml" >"$tmp/promcfg.out" 2>&1; then
	ok "promtool check config"
else
	fail "promtool check config:"
	sed 's/^/    /' "$tmp/promcfg.out"
fi
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
	--web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
prom_pid=$!
step prometheus prometheus_checks "http://127.0.0.1:$prom_port" "$frames" "$dashboard" 30
if grep -q '^FAIL: prometheus' "$tmp/prometheus.check"; then
	tail -n 20 "$tmp/prometheus.log" | sed 's/^/    /'
fi
stop "$prom_pid"
prom_pid=

# SIGTERM ends the lingering vigild, and /metrics with it.
kill -TERM "$vigild_pid"
gone() { ! kill -0 "$vigild_pid" 2>/dev/null; }
if wait_for 20 gone; then
	rc=0
	wait "$vigild_pid" || rc=$?
	vigild_pid=
	expect "vigild after SIGTERM: exit" "$rc" 0
else
	fail "vigild still runs 20 s after SIGTERM"
fi
after=$(python3 -c '
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
    print("answers")
except Exception:
    print("closed")' "$url/metrics")
expect "/metrics after vigild stopped" "$after" closed

cli_summary metrics
