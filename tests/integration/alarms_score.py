#!/usr/bin/env python3
"""alarms_score.py - scores vigild's alarms against a simulated ward.

Shared by alarms_ward.sh and alarms_restart.sh (tests/integration). Two
commands:

  ward     vigild's alarms (its EVE alarm log and `vigil-store query
           alarms`) against what vigil-gen injected (its truth file) and what
           the capture shows (vigil-decode --json and the pcap's own record
           times). Prints one table row per expected (event, sid) pair and
           the figures "recall: X/Y", "false alarms: N", "news2 alarms: N, of
           which on beds with no event: M"; exits 1 when recall < 1, a false
           alarm, a NEWS2 alarm on a clean bed the vital signs do not
           explain, or the log and the store disagree.
  restart  the alarms of a run killed with SIGKILL and restarted on the same
           store against a reference run of the same capture: nothing
           stored before the kill is lost or changes id, no alarm is raised
           twice, the open ones go on under their id and end as in the
           reference, the restart restored as many as were open.

The expected alarms come from an oracle that does not share code with
vigild: the metric rules of clinical.rules (metric, value, delay) are
parsed here and replayed over the decoded capture on the capture's clock,
one condition per (bed, sid): present from its first hit, ended by the
first newer observation of one of its metrics that does not hit; raised
at onset + delay if it lasted that long. Device alarms (ORU^R40) are
expected at their message's time (those rules have no delay); vigil's
technical conditions from the events' times and the configured periods.

Time: every alarm time is vigild's packet time (the capture's record
times), so the oracle reads the pcap's record headers itself and maps each
decoded line to its record ("source":"FILE#N").
"""
import argparse
import collections
import datetime
import heapq
import json
import math
import re
import struct
import sys

SEC = 1_000_000_000
MS = 1_000_000

# vigil's own conditions (controlplane.h enum cp_alarm_builtin).
SID_DEVICE_SILENT = 3000001
SID_SEQUENCE_GAP = 3000002
NEWS2_SIDS = {3000020, 3000021, 3000022}

# vigil-gen's recovery per event kind (tools/vigil-gen.c gen_kinds[]): the
# value comes back over this many seconds after the event's end.
RECOVERY_S = {
    "desat": 30, "tachycardia": 30, "bradycardia": 20, "hypotension": 60,
    "fever": 120, "apnoea": 10, "asystole": 3, "vf": 3, "sensor_off": 0,
    "lead_off": 0, "silent": 0, "seqgap": 0,
}

# The rule each event must raise at least (the oracle adds what its values
# also cross): metric rules by sid, device alarm rules by the event's refid.
PRIMARY = {
    "desat": [1000001, 1000002],
    "tachycardia": [1000011],
    "bradycardia": [1000010],
    "hypotension": [1000040],
    "fever": [1000051],
    "apnoea": [1000030, 1000032],
    "asystole": [1000012],
    "vf": [1000013],
    "sensor_off": [],
    "lead_off": [],
    "silent": [SID_DEVICE_SILENT],
    "seqgap": [SID_SEQUENCE_GAP],
}
DEVICE_RULES = {  # refid -> sids of clinical.rules its start message hits
    "MDC_EVT_ECG_ASYSTOLE": [1000100],
    "MDC_EVT_ECG_V_FIB_TACHY": [1000101],
    "MDC_EVT_APNEA": [1000102],
    "MDC_EVT_SENSOR_DISCONN": [1000110, 1000120],
    "MDC_EVT_LEAD_DISCONN": [1000111, 1000120],
}

EUI_PREFIX = "025647FFFE"
OPEN_STATES = {"active", "acknowledged", "latched"}
FINAL_STATES = {"cleared", "reset"}


def die(msg):
    print("alarms_score: " + msg, file=sys.stderr)
    sys.exit(2)


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------

def iso_ns(s):
    """ISO-8601 with up to 9 fractional digits, Z or +0000, to ns."""
    if s is None:
        return None
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$", s)
    if not m:
        die("bad time %r" % s)
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    base = base.replace(tzinfo=datetime.timezone.utc)
    frac = (m.group(2) or "").ljust(9, "0")[:9]
    ns = int(base.timestamp()) * SEC + int(frac)
    tz = m.group(3)
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        hh, mm = int(tz[1:3]), int(tz[-2:])
        ns -= sign * (hh * 3600 + mm * 60) * SEC
    return ns


def fmt(ns):
    """A packet time as HH:MM:SS.mmm (the captures start at 08:00 UTC)."""
    if ns is None:
        return "-"
    t = datetime.datetime.fromtimestamp(ns // SEC, datetime.timezone.utc)
    return "%s.%03d" % (t.strftime("%H:%M:%S"), (ns % SEC) // MS)


def pcap_times(path):
    """The record times of a pcap file, in ns, index 0 = record 1."""
    times = []
    with open(path, "rb") as f:
        head = f.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            endian = "<"
        else:
            magic = struct.unpack(">I", head[:4])[0]
            endian = ">"
        if magic not in (0xA1B2C3D4, 0xA1B23C4D):
            die("%s: not a pcap file" % path)
        scale = 1 if magic == 0xA1B23C4D else 1000
        rec = struct.Struct(endian + "IIII")
        while True:
            h = f.read(16)
            if len(h) < 16:
                break
            sec, frac, incl, _ = rec.unpack(h)
            times.append(sec * SEC + frac * scale)
            f.seek(incl, 1)
    return times


def bed_of_device(hexid):
    hexid = hexid.upper()
    if hexid.startswith(EUI_PREFIX) and len(hexid) == 16:
        return int(hexid[10:], 16)
    return None


def bed_of_subject(subject):
    """vigil-gen's bed of a subject: PAT<7 digits> or device:<EUI-64>; else None."""
    if subject is None:
        return None
    m = re.match(r"PAT(\d{7})$", subject)
    if m:
        return int(m.group(1))
    m = re.match(r"device:([0-9A-Fa-f]{16})$", subject)
    if m:
        return bed_of_device(m.group(1))
    return None


def load_decode(path, times):
    """Observations per bed in capture order: (t_ns, name, value, valid)."""
    obs = collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            if not line.startswith('{"type":"obs"'):
                continue
            r = json.loads(line)
            bed = bed_of_device(r["device"])
            if bed is None:
                continue
            idx = int(r["source"].rsplit("#", 1)[1])
            v = r["value"]
            obs[bed].append((times[idx - 1], r["name"], float("nan") if v is None else v,
                             bool(r["valid"])))
    return obs


def load_rules(path):
    """The alert rules of a rules file: sid -> facts the oracle needs."""
    text = open(path).read()
    text = re.sub(r"\\\n", " ", text)
    rules = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("alert "):
            continue
        opts = line[line.index("(") + 1:line.rindex(")")]
        kv = {}
        for part in re.split(r";\s*", opts):
            if ":" in part:
                k, v = part.split(":", 1)
                kv[k.strip()] = v.strip().strip('"')
            elif part.strip():
                kv[part.strip()] = True
        sid = int(kv["sid"])
        r = {"sid": sid, "msg": kv.get("msg"), "latch": "latch" in kv,
             "priority": kv.get("priority"), "delay_ns": 0, "metrics": None}
        if "delay" in kv:
            m = re.match(r"(\d+)(ms|s|m)$", kv["delay"])
            r["delay_ns"] = int(m.group(1)) * {"ms": MS, "s": SEC, "m": 60 * SEC}[m.group(2)]
        if "metric" in kv:
            r["metrics"] = set(kv["metric"].split(","))
            m = re.match(r"(<=|>=|<|>|=)?(-?[\d.]+)$", kv["value"])
            r["op"], r["limit"] = m.group(1) or "=", float(m.group(2))
        rules[sid] = r
    return rules


def hits(rule, value, valid):
    if not valid or value is None or math.isnan(value):
        return False
    op, x = rule["op"], rule["limit"]
    return {"<": value < x, "<=": value <= x, ">": value > x, ">=": value >= x,
            "=": value == x}[op]


def load_truth(path):
    scripted, device = [], []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            r["t_ns"] = iso_ns(r["time"])
            (scripted if r["kind"] == "scripted" else device).append(r)
    events = []
    starts = {}
    for r in scripted:
        key = (r["bed"], r["event"], r.get("duration"), r.get("target"))
        if r["phase"] in ("start", "tpoint"):
            e = {"bed": r["bed"], "kind": r["event"], "t_ns": r["t_ns"],
                 "duration_ns": int(round(r.get("duration", 0) * SEC)), "target": r.get("target"),
                 "patient": r["patient"], "device": r["device"], "proto": r["proto"]}
            e["end_ns"] = e["t_ns"] + e["duration_ns"]
            events.append(e)
            starts.setdefault(key, []).append(e)
        elif r["phase"] == "end" and starts.get(key):
            starts[key][0]["end_ns"] = r["t_ns"]
    for e in events:
        e["window_end_ns"] = e["end_ns"] + (RECOVERY_S.get(e["kind"], 0) + 60) * SEC
        e["device_alarms"] = [d for d in device if d["bed"] == e["bed"]
                              and d["event"] == e["kind"] and e["t_ns"] <= d["t_ns"]
                              <= e["end_ns"] + SEC]
    return events


def load_store(path):
    """`vigil-store query alarms` output: id -> record."""
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                out[int(r["id"])] = r["record"]
    return out


def load_eve(path):
    lines = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError:
                lines.append({"bad": n})
                continue
            lines.append(r)
    return lines


def rec_ns(rec, key):
    """A time of a stored record: KEY_ns when present, else KEY parsed."""
    v = rec.get(key + "_ns")
    if v is not None:
        return v if v != 0 else None
    return iso_ns(rec.get(key)) if rec.get(key) else None


def ckey(rec):
    """The condition an alarm belongs to: (subject, sid, device event code)."""
    return (rec.get("subject"), rec["sid"], rec.get("event_code") or 0)


# --------------------------------------------------------------------------
# The oracle: metric rules over the decoded capture
# --------------------------------------------------------------------------

def oracle_metric(rules, obs, end_ns):
    """(bed, sid) -> [{onset, raised, ended (None: open), ambiguous}] of the metric rules."""
    out = collections.defaultdict(list)
    for bed, rows in obs.items():
        by_name = collections.defaultdict(list)
        for i, row in enumerate(rows):
            by_name[row[1]].append((i,) + row)
        for sid, rule in rules.items():
            if not rule["metrics"]:
                continue
            mine = [by_name[n] for n in rule["metrics"] if n in by_name]
            if not mine:
                continue
            onset = last = None
            d = rule["delay_ns"]
            for _, t, name, value, valid in heapq.merge(*mine):
                if hits(rule, value, valid):
                    if onset is None:
                        onset = t
                    last = t
                elif onset is not None and t > last:
                    if t - onset >= d:
                        out[(bed, sid)].append({"onset": onset, "raised": onset + d, "ended": t,
                                                "ambiguous": t - onset == d and d > 0})
                    onset = None
            if onset is not None and end_ns - onset >= d:
                out[(bed, sid)].append({"onset": onset, "raised": onset + d, "ended": None,
                                        "ambiguous": False})
    return out


def crossing_span(rule, rows, onset):
    """How the values of a metric rule went from @p onset: for a false alarm."""
    first_miss = None
    for t, name, value, valid in rows:
        if t < onset or name not in rule["metrics"]:
            continue
        if not hits(rule, value, valid):
            first_miss = (t, value)
            break
    if first_miss is None:
        return "the values cross to the end"
    return "the values cross until %s, where %s %g does not hit: %.1fs, the delay is %ds" % (
        fmt(first_miss[0]), "/".join(sorted(rule["metrics"]))[:24], first_miss[1],
        (first_miss[0] - onset) / SEC, rule["delay_ns"] // SEC)


def news2_sub(param, v):
    """NEWS2 Scale 1 sub-scores (DOMAIN.md section 5), on rounded values."""
    if v is None or math.isnan(v):
        return None
    if param == "TEMP":
        v = round(v + 1e-9, 1)
        return 3 if v <= 35.0 else 1 if v <= 36.0 else 0 if v <= 38.0 else 1 if v <= 39.0 else 2
    v = math.floor(v + 0.5)
    if param == "RR":
        return 3 if v <= 8 else 1 if v <= 11 else 0 if v <= 20 else 2 if v <= 24 else 3
    if param == "SPO2":
        return 3 if v <= 91 else 2 if v <= 93 else 1 if v <= 95 else 0
    if param == "SBP":
        return 3 if v <= 90 else 2 if v <= 100 else 1 if v <= 110 else 0 if v <= 219 else 3
    if param == "PULSE":
        return 3 if v <= 40 else 1 if v <= 50 else 0 if v <= 90 else 1 if v <= 110 \
            else 2 if v <= 130 else 3
    return None


NEWS2_INPUTS = {"RR": ["RR", "RR_IMP", "RR_CO2", "RR_AWAY"], "SPO2": ["SPO2"],
                "SBP": ["NIBP_SYS", "CUFF_SYS"], "PULSE": ["HR", "PULSE"],
                "TEMP": ["TEMP", "TEMP_BODY", "TEMP_CORE"]}


def news2_explained(rows, sid, t_ns):
    """Do the bed's latest valid values at t_ns (any input of each parameter, the
    worst of them) reach what NEWS2 alarm sid says? Oxygen and ACVPU unknown: 0."""
    latest = {}
    for t, name, value, valid in rows:
        if t > t_ns:
            break
        if valid and not math.isnan(value):
            latest[name] = value
    subs = {}
    for p, names in NEWS2_INPUTS.items():
        s = [news2_sub(p, latest[n]) for n in names if n in latest]
        if s:
            subs[p] = max(s)
    total = sum(subs.values())
    if sid == 3000020:
        return any(s == 3 for s in subs.values()), total, subs
    return total >= (5 if sid == 3000021 else 7), total, subs


# --------------------------------------------------------------------------
# The log and the store agree
# --------------------------------------------------------------------------

VALID_NEXT = {  # change -> states an alarm may be in after it
    "raised": {"active"}, "escalated": {"active", "acknowledged"},
    "deescalated": {"active", "acknowledged"}, "acked": {"acknowledged"},
    "acknowledged": {"acknowledged"},
    "silenced": {"active", "acknowledged"}, "unsilenced": {"active", "acknowledged"},
    "latched": {"latched"}, "retriggered": {"active"}, "cleared": {"cleared"},
    "reset": {"reset"},
}


def check_log_store(eve, store, fail, runs_restarted=False):
    """Every log line stored:true, its id in the store with the same last state,
    the change sequences equal, the histories well formed. Returns lines by id."""
    by_id = collections.defaultdict(list)
    for r in eve:
        if "bad" in r:
            fail("alarm log line %d is not JSON" % r["bad"])
            continue
        if r.get("event_type") != "alarm":
            continue  # NEWS2 scores share the log
        a = r["alarm"]
        if a.get("stored") is not True:
            fail("alarm %s change %s logged with stored:%s" % (a.get("id"), a.get("change"),
                                                               a.get("stored")))
        by_id[a["id"]].append(a)
    for aid, lines in sorted(by_id.items()):
        rec = store.get(aid)
        if rec is None:
            fail("alarm %d is in the log, not in the store" % aid)
            continue
        if lines[-1]["state"] != rec["state"]:
            fail("alarm %d: last logged state %s, stored %s" % (aid, lines[-1]["state"],
                                                               rec["state"]))
        for k in ("sid", "subject"):
            if lines[-1].get(k) != rec.get(k):
                fail("alarm %d: logged %s %r, stored %r" % (aid, k, lines[-1].get(k), rec.get(k)))
        hist = [h["change"] for h in rec.get("history", [])]
        logged = [a["change"] for a in lines]
        if not rec.get("history_dropped") and hist != logged and not runs_restarted:
            fail("alarm %d: logged changes %s, stored history %s" % (aid, logged, hist))
        if sum(1 for c in logged if c == "raised") > 1:
            fail("alarm %d: raised %d times in the log" % (aid, logged.count("raised")))
    for aid, rec in sorted(store.items()):
        hist = rec.get("history", [])
        if not hist or (hist[0]["change"] != "raised" and not rec.get("history_dropped")):
            fail("alarm %d: history does not start with raised: %s" % (
                aid, [h["change"] for h in hist]))
            continue
        for i, h in enumerate(hist):
            if h["state"] not in VALID_NEXT.get(h["change"], {h["state"]}):
                fail("alarm %d: change %s left state %s" % (aid, h["change"], h["state"]))
            if i > 0 and hist[i - 1]["state"] in FINAL_STATES:
                fail("alarm %d: change %s after final state %s" % (aid, h["change"],
                                                                  hist[i - 1]["state"]))
            if i > 0 and h.get("time_ns", 0) < hist[i - 1].get("time_ns", 0):
                fail("alarm %d: history goes back in time at %s" % (aid, h["change"]))
        if hist[-1]["state"] != rec["state"]:
            fail("alarm %d: state %s, last history entry %s" % (aid, rec["state"],
                                                                hist[-1]["state"]))
        ended = rec_ns(rec, "ended")
        if rec["state"] in ("cleared", "latched", "reset") and ended is None:
            fail("alarm %d: %s without an end time" % (aid, rec["state"]))
        if rec["state"] in ("active", "acknowledged") and ended is not None:
            fail("alarm %d: %s with an end time" % (aid, rec["state"]))
        if rec["state"] == "latched" and not rec.get("latch"):
            fail("alarm %d: latched, its rule does not latch" % aid)
        if rec_ns(rec, "raised") is None:
            fail("alarm %d: no raised time" % aid)
    return by_id


def overlaps(store, fail):
    """No two alarms of one condition open at once: that is one raised twice."""
    by_key = collections.defaultdict(list)
    for aid, rec in store.items():
        end = rec_ns(rec, "ended") if rec["state"] in FINAL_STATES else None
        by_key[ckey(rec)].append((rec_ns(rec, "raised"), end if end is not None else 1 << 62,
                                  aid, rec["state"]))
    n = 0
    for key, spans in by_key.items():
        spans.sort()
        for a, b in zip(spans, spans[1:]):
            if b[0] < a[1]:
                n += 1
                fail("alarms %d (%s, raised %s, %s) and %d (raised %s) of %s overlap" % (
                    a[2], a[3], fmt(a[0]), "open" if a[1] == 1 << 62 else "ended " + fmt(a[1]),
                    b[2], fmt(b[0]), key))
    return n


# --------------------------------------------------------------------------
# ward
# --------------------------------------------------------------------------

def cmd_ward(a):
    failures = []
    shown = collections.Counter()

    def fail(msg, cat=None):
        failures.append(msg)
        if cat is not None:
            shown[cat] += 1
            if shown[cat] > 12:
                if shown[cat] == 13:
                    print("FAIL: (more of these: %s; counted below)" % cat)
                return
        print("FAIL: " + msg)

    times = pcap_times(a.pcap)
    end_ns = times[-1]
    obs = load_decode(a.decode, times)
    rules = load_rules(a.rules)
    events = load_truth(a.truth) if a.truth else []
    store = load_store(a.store)
    eve = load_eve(a.eve)
    silent_ns = a.device_silent * SEC
    oracle = oracle_metric(rules, obs, end_ns)

    raised = []  # every alarm vigild raised
    for aid, rec in sorted(store.items()):
        raised.append({"id": aid, "sid": rec["sid"], "subject": rec.get("subject"),
                       "bed": bed_of_subject(rec.get("subject")), "raised": rec_ns(rec, "raised"),
                       "onset": rec_ns(rec, "onset"), "ended": rec_ns(rec, "ended"),
                       "state": rec["state"], "event_code": rec.get("event_code") or 0,
                       "latch": rec.get("latch"), "rec": rec})
    by_bed_sid = collections.defaultdict(list)
    for r in raised:
        by_bed_sid[(r["bed"], r["sid"])].append(r)

    # Subjects: what vigild calls each kind of bed.
    subjects = collections.defaultdict(set)
    for r in raised:
        if r["bed"] is not None:
            subjects[r["bed"]].add(r["subject"])
    for bed, subs in sorted(subjects.items()):
        if len(subs) > 1:
            print("note: bed %d's alarms name %d subjects: %s" % (bed, len(subs), sorted(subs)))

    # Expected (event, sid) pairs with their window [lo, hi] for the raised time.
    expected = []
    for e in events:
        bed, T = e["bed"], e["t_ns"]
        kind = e["kind"]
        if kind in ("silent",):
            # The last send before T, + the silent period, seen by the once-a-second scan.
            expected.append({"e": e, "sid": SID_DEVICE_SILENT, "lo": T - SEC + silent_ns,
                             "hi": T + silent_ns + 2 * SEC, "why": "T+silent+2s",
                             "final": "cleared"})
            continue
        if kind == "seqgap":
            expected.append({"e": e, "sid": SID_SEQUENCE_GAP, "lo": T, "hi": T + 2 * SEC,
                             "why": "T+2s", "final": "cleared"})
            continue
        for d in e["device_alarms"]:
            if d["phase"] != "start":
                continue
            for sid in DEVICE_RULES.get(d["refid"], []):
                expected.append({"e": e, "sid": sid, "lo": d["t_ns"], "hi": d["t_ns"] + SEC,
                                 "why": "R40+1s", "event_code": d["code"],
                                 "final": "latched" if rules[sid]["latch"] else "cleared"})
        # Metric rules: every sid the oracle raises while the event lasts.
        got = set()
        for (obed, sid), spans in oracle.items():
            if obed != bed:
                continue
            for sp in spans:
                if T <= sp["onset"] <= e["end_ns"] + SEC:
                    expected.append({
                        "e": e, "sid": sid, "lo": sp["raised"], "hi": sp["raised"] + SEC,
                        "why": "oracle+1s", "onset": sp["onset"], "ambiguous": sp["ambiguous"],
                        "final": "open" if sp["ended"] is None else "cleared",
                        "spec_by": T + rules[sid]["delay_ns"] + SEC})
                    got.add(sid)
                    break
        for sid in PRIMARY.get(kind, []):
            if sid not in got:
                fail("the capture does not show %s on bed %d crossing sid %d: test setup" % (
                    kind, bed, sid))

    # Match each expected pair to a raised alarm of the bed.
    used = set()
    print("%-12s %4s %8s %-13s %-13s %-13s %-9s %s" % ("event", "bed", "sid", "T", "expected_by",
                                                       "raised_at", "final", "delay_ok"))
    detected = 0
    for x in sorted(expected, key=lambda x: (x["e"]["t_ns"], x["sid"])):
        e, sid = x["e"], x["sid"]
        cands = [r for r in by_bed_sid.get((e["bed"], sid), []) if r["id"] not in used
                 and (not x.get("event_code") or not r["event_code"]
                      or r["event_code"] == x["event_code"])
                 and e["t_ns"] - SEC <= r["raised"] <= e["window_end_ns"]]
        r = cands[0] if cands else None
        ok = r is not None and x["lo"] - MS <= r["raised"] <= x["hi"]
        if r is not None and not ok and x.get("ambiguous"):
            ok = True  # ended exactly at onset + delay: raised or not is a tie
        note = ""
        if r is not None and "onset" in x:
            # The delay honoured: not raised before the condition lasted its delay.
            if r["raised"] - x["onset"] < rules[sid]["delay_ns"] - MS:
                ok = False
                note = " (raised %.3fs after the crossing, delay %ds)" % (
                    (r["raised"] - x["onset"]) / SEC, rules[sid]["delay_ns"] // SEC)
            if sid in PRIMARY.get(e["kind"], []) and r["raised"] > x["spec_by"]:
                note += " (after T+delay+1s: the value crossed at %s)" % fmt(x["onset"])
        final_ok = True
        if r is not None:
            used.add(r["id"])
            want = x["final"]
            if want == "open":
                final_ok = r["state"] in OPEN_STATES
            elif want == "cleared" and rules.get(sid, {}).get("latch"):
                final_ok = r["state"] == "latched"
            else:
                final_ok = r["state"] == want
            if not final_ok:
                note += " (final state %s, expected %s)" % (r["state"], want)
        if r is None and x.get("ambiguous"):
            ok = final_ok = True
            note = " (tie at onset + delay: not required)"
        if ok and final_ok:
            detected += 1
        elif r is None:
            fail("%s on bed %d: no alarm of sid %d (expected %s..%s)" % (
                e["kind"], e["bed"], sid, fmt(x["lo"]), fmt(x["hi"])))
        else:
            fail("%s on bed %d: sid %d alarm %d raised %s, expected %s..%s%s" % (
                e["kind"], e["bed"], sid, r["id"], fmt(r["raised"]), fmt(x["lo"]), fmt(x["hi"]),
                note))
        print("%-12s %4d %8d %-13s %-13s %-13s %-9s %s%s" % (
            e["kind"], e["bed"], sid, fmt(e["t_ns"]), fmt(x["hi"]),
            fmt(r["raised"]) if r else "-", r["state"] if r else "-",
            "yes" if ok and final_ok else "NO", note))

    # False alarms: raised, not NEWS2, not explained by an event of the bed.
    event_beds = {e["bed"] for e in events}
    false_alarms, news2, news2_clean, news2_unexplained = [], [], [], []
    for r in raised:
        if r["sid"] in NEWS2_SIDS:
            news2.append(r)
            if r["bed"] not in event_beds:
                news2_clean.append(r)
                ok, total, subs = news2_explained(obs.get(r["bed"], []), r["sid"], r["raised"])
                r["news2"] = (ok, total, subs)
                if not ok:
                    news2_unexplained.append(r)
            continue
        if r["id"] in used:
            continue
        if any(e["bed"] == r["bed"] and e["t_ns"] <= r["raised"] <= e["window_end_ns"]
               for e in events):
            continue
        false_alarms.append(r)
    for n, r in enumerate(false_alarms):
        if n == 20:
            print("false alarm: ... %d more (by sid below)" % (len(false_alarms) - n))
            break
        sp = [s for s in oracle.get((r["bed"], r["sid"]), [])
              if abs(s["raised"] - r["raised"]) <= SEC]
        hint = ""
        if sp:
            hint = " (the values do cross: oracle raises it at %s)" % fmt(sp[0]["raised"])
        elif rules.get(r["sid"], {}).get("metrics") and r["onset"] is not None:
            hint = " (onset %s: %s)" % (fmt(r["onset"]), crossing_span(
                rules[r["sid"]], obs.get(r["bed"], []), r["onset"]))
        print("false alarm: id %d sid %d %s raised %s, ended %s, state %s%s" % (
            r["id"], r["sid"], r["subject"], fmt(r["raised"]), fmt(r["ended"]), r["state"], hint))

    # Still open at the end: only what is still present then.
    last_seen = {bed: rows[-1][0] for bed, rows in obs.items() if rows}
    for r in raised:
        if r["state"] not in ("active", "acknowledged"):
            continue
        rule = rules.get(r["sid"], {})
        why = None
        if rule.get("metrics"):
            if not any(sp["ended"] is None for sp in oracle.get((r["bed"], r["sid"]), [])):
                why = "the values of its rule no longer cross at the end of the capture"
        elif r["sid"] == SID_DEVICE_SILENT:
            if last_seen.get(r["bed"], 0) > r["raised"]:
                why = "the device sent again at %s" % fmt(last_seen[r["bed"]])
        elif r["sid"] == SID_SEQUENCE_GAP:
            last = rec_ns(r["rec"], "last_hit") or r["raised"]
            if last < end_ns - (a.hold + 2) * SEC:
                why = "its last gap (%s) is older than alarms.hold (%ds) at the end" % (
                    fmt(last), a.hold)
        if why:
            fail("alarm %d sid %d %s raised %s is still %s: %s" % (
                r["id"], r["sid"], r["subject"], fmt(r["raised"]), r["state"], why),
                 "still open")

    # The oracle's metric alarms against vigild's, on every bed (a cross-check
    # of the manager's delay and end semantics, beyond the injected events).
    o_total = o_matched = 0
    for (bed, sid), spans in sorted(oracle.items()):
        got = sorted(r["raised"] for r in by_bed_sid.get((bed, sid), []))
        for sp in spans:
            o_total += 1
            if any(abs(g - sp["raised"]) <= SEC for g in got):
                o_matched += 1
            elif not sp["ambiguous"]:
                print("oracle: bed %d sid %d raised at %s (onset %s), vigild has %s" % (
                    bed, sid, fmt(sp["raised"]), fmt(sp["onset"]),
                    [fmt(g) for g in got] or "none"))
    v_metric = sum(1 for r in raised if rules.get(r["sid"], {}).get("metrics"))

    check_log_store(eve, store, fail)
    overlaps(store, fail)

    n_exp = len(expected)
    print("alarms: %d raised (%s)" % (len(raised), ", ".join(
        "%s %d" % (k, v) for k, v in sorted(collections.Counter(
            r["rec"].get("source", "?") for r in raised).items()))))
    print("subjects: %s" % ", ".join("bed %d %s" % (b, "/".join(sorted(s)))
                                     for b, s in sorted(subjects.items())))
    print("metric alarms: oracle %d, matched by vigild %d; vigild raised %d metric-rule alarms" % (
        o_total, o_matched, v_metric))
    print("recall: %d/%d" % (detected, n_exp))
    print("false alarms: %d%s" % (len(false_alarms), " (by sid: %s)" % dict(
        collections.Counter(r["sid"] for r in false_alarms)) if false_alarms else ""))
    if shown:
        print("failures by kind: %s" % dict(shown))
    print("news2 alarms: %d, of which on beds with no event: %d (by sid: %s)" % (
        len(news2), len(news2_clean), dict(collections.Counter(r["sid"] for r in news2))))
    for r in news2_clean:
        ok, total, subs = r["news2"]
        print("  news2 on clean bed %d: id %d sid %d raised %s state %s; values then: total %d %s%s"
              % (r["bed"], r["id"], r["sid"], fmt(r["raised"]), r["state"], total, subs,
                 "" if ok else "  NOT EXPLAINED"))
    if news2_unexplained:
        fail("%d NEWS2 alarms on clean beds the vital signs do not explain" %
             len(news2_unexplained))
    if a.clean:
        non_news2 = [r for r in raised if r["sid"] not in NEWS2_SIDS]
        if non_news2:
            fail("clean ward: %d alarms that are not NEWS2" % len(non_news2))
    else:
        if n_exp == 0:
            fail("no expected alarm: the events file did nothing")
        if detected != n_exp:
            fail("recall %d/%d" % (detected, n_exp))
    if false_alarms:
        fail("%d false alarms" % len(false_alarms))
    if a.strict_oracle and o_matched != o_total:
        fail("oracle: %d metric alarms vigild did not raise" % (o_total - o_matched))
    print("ward score: %s (%d failures)" % ("ok" if not failures else "FAILED", len(failures)))
    return 1 if failures else 0


# --------------------------------------------------------------------------
# restart
# --------------------------------------------------------------------------

def cmd_restart(a):
    failures = []
    shown = collections.Counter()

    def fail(msg, cat="other"):
        failures.append((cat, msg))
        shown[cat] += 1
        if shown[cat] <= 8:
            print("FAIL: " + msg)
        elif shown[cat] == 9:
            print("FAIL: (more of these: %s; counted below)" % cat)

    ref = load_store(a.reference)
    killed = load_store(a.killed)
    final = load_store(a.final)
    if not killed:
        fail("nothing was stored before the kill")
    resume = max((rec_ns(r, "changed") or 0) for r in killed.values()) if killed else 0
    open_at_kill = {i for i, r in killed.items() if r["state"] in OPEN_STATES}
    print("reference: %d alarms; at the kill: %d stored (%d open), newest change %s; "
          "after the restart: %d" % (len(ref), len(killed), len(open_at_kill), fmt(resume),
                                     len(final)))

    # (a) Nothing stored before the kill is lost or changes.
    lost = 0
    for aid, r in sorted(killed.items()):
        f = final.get(aid)
        if f is None or ckey(f) != ckey(r) or rec_ns(f, "raised") != rec_ns(r, "raised"):
            lost += 1
            fail("alarm %d stored before the kill (%s raised %s) is %s after the restart" % (
                aid, ckey(r), fmt(rec_ns(r, "raised")),
                "gone" if f is None else "%s raised %s" % (ckey(f), fmt(rec_ns(f, "raised")))),
                "(a) lost or changed")
        elif r["state"] in FINAL_STATES and f["state"] != r["state"]:
            fail("alarm %d was %s at the kill, %s after" % (aid, r["state"], f["state"]),
                 "(a) lost or changed")
    print("(a) stored before the kill and kept with their ids: %d/%d" % (len(killed) - lost,
                                                                       len(killed)))

    # (b) No alarm raised twice.
    n = overlaps(final, lambda m: fail(m, "(b) raised twice"))
    print("(b) overlapping alarms of one condition after the restart: %d" % n)
    overlaps(ref, lambda m: fail("reference: " + m, "reference overlaps"))

    # (d) Reference alarms against the final ones, by condition and raised time.
    unmatched_final = set(final)
    matched, late, missing = {}, [], []
    for rid, r in sorted(ref.items(), key=lambda kv: rec_ns(kv[1], "raised")):
        rr = rec_ns(r, "raised")
        onset = rec_ns(r, "onset") or rr
        cands = [i for i in unmatched_final if ckey(final[i]) == ckey(r)]
        # vigil's own conditions are found by a once-a-second scan whose phase
        # a restart moves: a second either way.
        tol = SEC if 3000001 <= r["sid"] <= 3000006 else MS
        exact = [i for i in cands if abs(rec_ns(final[i], "raised") - rr) <= tol]
        if exact:
            matched[rid] = exact[0]
            unmatched_final.discard(exact[0])
            continue
        # Pending at the kill (started, within its delay): its hits up to the
        # resume point were skipped, so it starts again after it.
        if onset <= resume < rr:
            slack = resume - onset + SEC
            lateok = [i for i in cands if rr <= rec_ns(final[i], "raised") <= rr + slack]
            if lateok:
                matched[rid] = lateok[0]
                unmatched_final.discard(lateok[0])
                late.append((rid, lateok[0], rec_ns(final[lateok[0]], "raised") - rr))
                continue
        missing.append(rid)
    for rid, fid, d in late:
        print("(d) reference %d %s raised %s: raised %.3fs later after the restart (id %d), "
              "pending at the kill" % (rid, ckey(ref[rid]), fmt(rec_ns(ref[rid], "raised")),
                                       d / SEC, fid))
    news2_notes = collections.Counter()
    for rid in missing[:]:
        r = ref[rid]
        rr = rec_ns(r, "raised")
        # NEWS2 is scored afresh after a restart (the patient state is not
        # stored): an alarm open at the kill may last until every vital sign
        # has come again, and cover a reference alarm raised meanwhile.
        cover = [i for i in open_at_kill if i in final and ckey(final[i]) == ckey(r)
                 and rec_ns(final[i], "raised") <= rr
                 and (rec_ns(final[i], "ended") or 1 << 62) >= rr]
        if a.news2_lenient and r["sid"] in NEWS2_SIDS:
            missing.remove(rid)
            if cover:
                news2_notes["covered by an alarm open at the kill"] += 1
                print("(d) note: reference %d %s raised %s: alarm %d, open at the kill, still "
                      "covers it (NEWS2)" % (rid, ckey(r), fmt(rr), cover[0]))
            else:
                news2_notes["missing after the restart"] += 1
                print("(d) note: reference %d %s raised %s (onset %s): not raised after the "
                      "restart (NEWS2)" % (rid, ckey(r), fmt(rr), fmt(rec_ns(r, "onset"))))
    for rid in missing:
        r = ref[rid]
        fail("reference alarm %d %s raised %s (onset %s) has no match after the restart" % (
            rid, ckey(r), fmt(rec_ns(r, "raised")), fmt(rec_ns(r, "onset"))),
             "(d) missing: news2" if r["sid"] in NEWS2_SIDS else "(d) missing")
    for fid in sorted(unmatched_final):
        f = final[fid]
        if a.news2_lenient and f["sid"] in NEWS2_SIDS:
            news2_notes["extra after the restart"] += 1
            print("(d) note: alarm %d %s raised %s after the restart is not in the reference "
                  "(NEWS2)" % (fid, ckey(f), fmt(rec_ns(f, "raised"))))
            continue
        fail("alarm %d %s raised %s after the restart is not in the reference" % (
            fid, ckey(f), fmt(rec_ns(f, "raised"))),
             "(d) extra: news2" if f["sid"] in NEWS2_SIDS else "(d) extra")
    print("(d) reference alarms matched: %d/%d (%d exactly, %d raised later: pending at the "
          "kill); extra after the restart: %d" % (
              len(matched), len(ref), len(matched) - len(late), len(late),
              len(unmatched_final)))

    # (c) Open at the kill: the same id at the end, ending as in the reference.
    inv = {fid: rid for rid, fid in matched.items()}
    same_end = diff_end = 0
    for aid in sorted(open_at_kill):
        f = final.get(aid)
        rid = inv.get(aid)
        if f is None or rid is None:
            fail("alarm %d open at the kill has no reference match" % aid, "(c) unmatched")
            continue
        r = ref[rid]
        fe, re_ = rec_ns(f, "ended"), rec_ns(r, "ended")
        st_ok = f["state"] == r["state"]
        end_ok = (fe is None and re_ is None) or (fe is not None and re_ is not None
                                                   and abs(fe - re_) <= MS)
        news2 = f["sid"] in NEWS2_SIDS
        if st_ok and end_ok:
            same_end += 1
            continue
        diff_end += 1
        msg = "alarm %d %s open at the kill: ends %s %s, reference %d %s %s" % (
            aid, ckey(f), f["state"], fmt(fe), rid, r["state"], fmt(re_))
        if news2 and a.news2_lenient:
            news2_notes["open at the kill, ending differently"] += 1
            print("(c) note: " + msg + " (NEWS2: not held to the reference)")
        else:
            fail(msg, "(c) ends unlike the reference")
    print("(c) open at the kill: %d; ending as in the reference, same id: %d; differently: %d" % (
        len(open_at_kill), same_end, diff_end))

    # The histories of every matched alarm against the reference's: the same
    # changes (escalations included) in the same order.
    hist_diff = 0
    late_ids = {rid for rid, _, _ in late}
    for rid, fid in sorted(matched.items()):
        rh = [(h["change"], h["state"]) for h in ref[rid].get("history", [])]
        fh = [(h["change"], h["state"]) for h in final[fid].get("history", [])]
        if rh == fh:
            continue
        hist_diff += 1
        msg = "history of %s: reference %d %s, after the restart %d %s" % (
            ckey(final[fid]),
            rid, ["%s %s" % (h["change"], fmt(h.get("time_ns"))) for h in ref[rid]["history"]],
            fid, ["%s %s" % (h["change"], fmt(h.get("time_ns"))) for h in final[fid]["history"]])
        if a.news2_lenient and final[fid]["sid"] in NEWS2_SIDS:
            news2_notes["history differs"] += 1
            print("note: " + msg)
        elif rid in late_ids:
            print("note: " + msg + " (raised later: pending at the kill)")
        else:
            fail(msg, "history differs")
    print("histories differing from the reference: %d" % hist_diff)
    if news2_notes:
        print("NEWS2 differences after the restart (not failed: the patient state is not "
              "restored): %s" % dict(news2_notes))

    # (e) The restart said how many it restored.
    restored = None
    for line in open(a.restart_err):
        m = re.search(r"(\d+) open alarms? restored", line)
        if m:
            restored = int(m.group(1))
    if restored is None:
        fail("the restart did not say 'open alarms restored'")
    elif restored != len(open_at_kill):
        fail("the restart restored %d open alarms, %d were open at the kill" % (
            restored, len(open_at_kill)))
    print("(e) open alarms restored: %s (open at the kill: %d)" % (restored, len(open_at_kill)))

    # The log of both runs: no id raised twice.
    if a.eve:
        eve = load_eve(a.eve)
        check_log_store(eve, final, lambda m: fail(m, "log and store"), runs_restarted=True)
        raised_lines = collections.Counter(r["alarm"]["id"] for r in eve
                                           if "alarm" in r and r["alarm"]["change"] == "raised")
        twice = [i for i, c in raised_lines.items() if c > 1]
        never = [i for i in final if i not in raised_lines]
        if twice:
            fail("alarms with two 'raised' lines in the log: %s" % twice[:20], "log raised twice")
        print("log: %d lines, %d raised lines, ids raised twice: %d, stored ids never logged as "
              "raised: %d %s" % (len(eve), sum(raised_lines.values()), len(twice), len(never),
                                 never[:10]))
        if never:
            # Stored (synced) but killed before their line was written: the
            # restart restores them without announcing them again.
            print("note: %d alarms stored before the kill were never announced in the log: %s" % (
                len(never), never[:10]))
    for cat, n in sorted(collections.Counter(c for c, _ in failures).items()):
        print("failures %s: %d" % (cat, n))
    print("restart score: %s (%d failures)" % ("ok" if not failures else "FAILED", len(failures)))
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("ward")
    w.add_argument("--pcap", required=True)
    w.add_argument("--decode", required=True, help="vigil-decode --json of the capture")
    w.add_argument("--truth", help="vigil-gen --truth (none: a clean ward)")
    w.add_argument("--rules", required=True, help="clinical.rules")
    w.add_argument("--store", required=True, help="vigil-store query alarms")
    w.add_argument("--eve", required=True, help="the alarm log")
    w.add_argument("--device-silent", type=int, required=True, help="alarms.device_silent, s")
    w.add_argument("--hold", type=int, default=60, help="alarms.hold, s")
    w.add_argument("--clean", action="store_true", help="no events: no alarm but NEWS2")
    w.add_argument("--strict-oracle", action="store_true",
                   help="fail when vigild misses a metric alarm the oracle raises anywhere")
    r = sub.add_parser("restart")
    r.add_argument("--reference", required=True, help="query alarms of the full run")
    r.add_argument("--killed", required=True, help="query alarms right after the kill")
    r.add_argument("--final", required=True, help="query alarms after the restart")
    r.add_argument("--restart-err", required=True, help="the restart's stderr")
    r.add_argument("--eve", help="the alarm log both runs wrote")
    r.add_argument("--news2-lenient", action="store_true",
                   help="a NEWS2 alarm open at the kill may end later than the reference")
    a = p.parse_args()
    sys.exit(cmd_ward(a) if a.cmd == "ward" else cmd_restart(a))


if __name__ == "__main__":
    main()
