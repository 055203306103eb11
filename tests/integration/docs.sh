#!/usr/bin/env bash
# docs.sh VIGILD README - every counter vigild reports is documented.
#
# The counter lists are X-macros in dataplane/dataplane.h; the README's
# counters section is written by hand. This keeps the two in step: each name
# in vigild's JSON summary (outcomes, drops, and the decoders' hl7 and vtp
# counters as hl7.NAME and vtp.NAME, the evaluator's as rules.NAME, the
# event hand-off's, the RCU tables' and the consumer's as events.NAME,
# tables.NAME and consumer.NAME, the clinical layer's as alarms.NAME,
# clinical.NAME and patients.NAME, the control socket's as control.NAME)
# must appear in the README as `name`, and the README must not document a
# counter that no longer exists.
set -euo pipefail
vigild=$1
readme=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A capture of one runt frame is enough to get every counter's name.
python3 - "$tmp/one.pcap" <<'PY'
import struct, sys
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    f.write(struct.pack("<IIII", 0, 0, 10, 10) + b"\x01" * 10)
PY
timeout 60 "$vigild" --pcap "$tmp/one.pcap" --json >"$tmp/out.json" 2>"$tmp/err" || {
	cat "$tmp/err" >&2
	exit 1
}
python3 - "$tmp/out.json" "$readme" <<'PY'
import json, re, sys
report = json.load(open(sys.argv[1]))
readme = open(sys.argv[2]).read()
names = set(report["outcomes"]) | set(report["drops"])
names |= {"hl7." + n for n in report["hl7"]} | {"vtp." + n for n in report["vtp"]}
for group in ("rules", "events", "tables", "consumer", "storage", "alarms", "clinical",
              "patients", "control"):
    if group not in report:
        print("vigild's summary has no '%s' object" % group)
        sys.exit(1)
    # alarms.open and patients.count are figures, not counters.
    names |= {group + "." + n for n in report[group] if (group, n) not in
              (("alarms", "open"), ("patients", "count"))}
missing = sorted(n for n in names if "| `%s` |" % n not in readme)
section = readme.split("## Counters", 1)[1].split("\n## ", 1)[0]
documented = set(re.findall(r"^\| `([a-z0-9_.]+)` \|", section, re.M))
stale = sorted(documented - names)
if missing:
    print("README.md does not document:", ", ".join(missing))
if stale:
    print("README.md documents counters vigild does not have:", ", ".join(stale))
if report["drops"]["eth_runt"] != 1:
    print("expected eth_runt 1, got", report["drops"]["eth_runt"])
    sys.exit(1)
sys.exit(1 if missing or stale else 0)
PY
echo "docs: all $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(len(d[g]) for g in ("outcomes", "drops", "hl7", "vtp", "rules", "events", "tables", "consumer", "storage", "alarms", "clinical", "patients", "control")))' "$tmp/out.json") counters documented"
