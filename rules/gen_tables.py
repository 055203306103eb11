#!/usr/bin/env python3
"""gen_tables.py - turn rules/metrics.tsv into the C code tables.

usage: gen_tables.py METRICS.tsv OUTPUT.c

metrics.tsv is the one source of every metric, unit and other code vigil
knows (its own header comment describes the format). This script checks it
strictly and writes the constant arrays rules/tables.c searches (their
shape is rules/tables.h). Any inconsistency stops the build: every problem
is printed as "FILE:LINE: what" on stderr and the exit status is 1, and the
output file is left untouched. A wrong number in a clinical code table is a
silent misreading of a patient's vital sign, so the file is not trusted
to be right just because it parses.

Python 3 standard library only: it runs inside the build.
"""
import os
import re
import sys
import tempfile

# The columns of each kind of row, in order. A header line must be exactly one
# of these; the rows after it must be of its kind.
LAYOUTS = {
    "metric": ("kind", "code", "term", "refid", "name", "family", "unit", "loinc",
               "aliases", "title"),
    "unit": ("kind", "code", "term", "refid", "ucum", "aliases", "title"),
    "code": ("kind", "code", "term", "refid", "title"),
}

# Columns that may be "-" (empty); every other column must have a value.
OPTIONAL = {"term", "loinc", "aliases"}

# The MDC partition every metric and every unit must be in.
PARTITION = {"metric": 2, "unit": 4}

RE_CODE = re.compile(r"[1-9][0-9]*")
RE_TERM = re.compile(r"([0-9]+)::([0-9]+)")
RE_REFID = re.compile(r"MDC_[A-Z0-9_]+")
RE_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
RE_LOINC = re.compile(r"([1-9][0-9]{0,6})-([0-9])")
RE_UCUM = re.compile(r"[!-~]+")  # printable ASCII, no space
RE_TEXT = re.compile(r"[ -~]+")  # printable ASCII
MAX_NAME = 31
MAX_KEY = 255
MAX_ROWS = 65535  # the C indexes hold row numbers as uint16_t


def loinc_check_digit(body):
    """The mod-10 (Luhn) check digit LOINC codes carry after the dash."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


class Row:
    def __init__(self, kind, line, fields):
        self.kind = kind
        self.line = line
        self.f = fields

    def get(self, col):
        v = self.f.get(col, "-")
        return "" if v == "-" else v

    def words(self, col):
        return self.get(col).split(" ") if self.get(col) else []


class Checker:
    def __init__(self, path):
        self.path = path
        self.errors = []

    def err(self, line, msg):
        self.errors.append("%s:%d: %s" % (self.path, line, msg))


def parse(path, text, chk):
    """Split the file into rows, checking each field's own syntax."""
    rows = []
    layout = None  # (kind, columns, line) of the header in force
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # what follows the final newline
    for n, raw in enumerate(lines, start=1):
        bad = [c for c in raw if not (c == "\t" or " " <= c <= "~")]
        if bad:
            chk.err(n, "character %r is not printable ASCII (a CR from a DOS line end?)" % bad[0])
            continue
        if raw.startswith("#"):
            continue
        if raw.strip() == "":
            if raw != "":
                chk.err(n, "a blank line holds white space")
            continue
        fields = raw.split("\t")
        if fields[0] == "kind":
            cols = tuple(fields)
            kinds = [k for k, v in LAYOUTS.items() if v == cols]
            if not kinds:
                chk.err(n, "header %s is none of the layouts: %s" % (
                    " ".join(cols), "; ".join(" ".join(v) for v in LAYOUTS.values())))
                layout = None
                continue
            layout = (kinds[0], cols, n)
            continue
        kind = fields[0]
        if kind not in LAYOUTS:
            chk.err(n, "unknown kind %r (metric, unit or code)" % kind)
            continue
        if layout is None:
            chk.err(n, "a %s row before any valid header line" % kind)
            continue
        if layout[0] != kind:
            chk.err(n, "a %s row under the %s header of line %d" % (kind, layout[0], layout[2]))
            continue
        cols = layout[1]
        if len(fields) != len(cols):
            chk.err(n, "%d fields where a %s row has %d (%s)" % (
                len(fields), kind, len(cols), " ".join(cols)))
            continue
        ok = True
        for col, v in zip(cols, fields):
            if v == "":
                chk.err(n, "%s is empty (write - for none)" % col)
                ok = False
            elif v != v.strip(" ") or "  " in v:
                chk.err(n, "%s %r has stray spaces" % (col, v))
                ok = False
            elif v == "-" and col not in OPTIONAL:
                chk.err(n, "%s is required" % col)
                ok = False
        if ok:
            rows.append(Row(kind, n, dict(zip(cols, fields))))
    return rows


def check_row(row, chk):
    """The syntax of one row's values; sets row.code."""
    n = row.line
    row.code = None
    code = row.get("code")
    if not RE_CODE.fullmatch(code) or int(code) > 0xFFFFFFFF:
        chk.err(n, "code %r is not a decimal 32-bit MDC code" % code)
    else:
        row.code = int(code)
        part = row.code >> 16
        want = PARTITION.get(row.kind)
        if want is not None and part != want:
            chk.err(n, "code %d is in partition %d; a %s is in partition %d" % (
                row.code, part, row.kind, want))
    term = row.get("term")
    if term:
        m = RE_TERM.fullmatch(term)
        if not m or int(m.group(2)) > 0xFFFF or int(m.group(1)) > 0xFFFF:
            chk.err(n, "term %r is not partition::term" % term)
        elif row.code is not None:
            p, t = int(m.group(1)), int(m.group(2))
            if p * 65536 + t != row.code:
                chk.err(n, "code %d is not %s (%d * 65536 + %d = %d)" % (
                    row.code, term, p, t, p * 65536 + t))
    refid = row.get("refid")
    if not refid.startswith("MDC_"):
        chk.err(n, "reference id %r does not start with MDC_" % refid)
    elif not RE_REFID.fullmatch(refid):
        chk.err(n, "reference id %r is not MDC_ and A-Z 0-9 _" % refid)
    if not RE_TEXT.fullmatch(row.get("title")):
        chk.err(n, "title %r is not printable ASCII" % row.get("title"))

    if row.kind == "metric":
        for col in ("name", "family"):
            v = row.get(col)
            if not RE_NAME.fullmatch(v) or len(v) > MAX_NAME:
                chk.err(n, "%s %r is not A-Z 0-9 _ (starting with a letter, at most %d)" % (
                    col, v, MAX_NAME))
        unit = row.get("unit")
        if not RE_CODE.fullmatch(unit):
            chk.err(n, "unit %r is not a decimal MDC unit code" % unit)
        seen = set()
        for lo in row.words("loinc"):
            m = RE_LOINC.fullmatch(lo)
            if not m:
                chk.err(n, "LOINC code %r is not NNNNN-C" % lo)
            elif loinc_check_digit(m.group(1)) != int(m.group(2)):
                chk.err(n, "LOINC code %s has check digit %s; %s-%d is the valid one" % (
                    lo, m.group(2), m.group(1), loinc_check_digit(m.group(1))))
            if lo in seen:
                chk.err(n, "LOINC code %s listed twice" % lo)
            seen.add(lo)
        for a in row.words("aliases"):
            if not a.startswith("MDC_") or not RE_REFID.fullmatch(a):
                chk.err(n, "alias %r is not a reference id (MDC_ and A-Z 0-9 _)" % a)
    elif row.kind == "unit":
        seen = set()
        for u in [row.get("ucum")] + row.words("aliases"):
            if not RE_UCUM.fullmatch(u) or len(u) > MAX_KEY:
                chk.err(n, "UCUM code %r is not printable ASCII without spaces" % u)
            if u in seen:
                chk.err(n, "UCUM code %r listed twice" % u)
            seen.add(u)


def check_file(rows, chk):
    """What needs the whole file: uniqueness and cross-references."""
    first = {}  # (namespace, key) -> line

    def unique(ns, key, line, what):
        prev = first.get((ns, key))
        if prev is not None:
            chk.err(line, "duplicate %s %s (first on line %d)" % (what, key, prev))
        else:
            first[(ns, key)] = line

    for r in rows:
        if r.code is not None:
            unique("code", r.code, r.line, "code")
        unique("refid", r.get("refid"), r.line, "reference id")
        if r.kind == "metric":
            for a in r.words("aliases"):
                unique("refid", a, r.line, "reference id")
            unique("name", r.get("name").upper(), r.line, "name")
    units = {r.code for r in rows if r.kind == "unit" and r.code is not None}
    for r in rows:
        if r.kind == "metric" and RE_CODE.fullmatch(r.get("unit")):
            if int(r.get("unit")) not in units:
                chk.err(r.line, "unit %s is not in the units section" % r.get("unit"))
    counts = {k: sum(1 for r in rows if r.kind == k) for k in LAYOUTS}
    for k in ("metric", "unit"):
        if counts[k] == 0:
            chk.err(1, "no %s rows" % k)
    for k, c in counts.items():
        if c > MAX_ROWS:
            chk.err(1, "%d %s rows: at most %d fit the C indexes" % (c, k, MAX_ROWS))


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def cstr(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def emit_index(out, cname, keys):
    """keys: [(key, row)] in file order; the first row of a key wins."""
    best = {}
    for key, idx in keys:
        best.setdefault(key, idx)
    if not best:
        return "{NULL, 0}"
    out.append("static const struct rule_tab_key %s[] = {" % cname)
    for key in sorted(best):
        out.append("\t{%s, %d, %d}," % (cstr(key), len(key), best[key]))
    out.append("};")
    out.append("")
    return "{%s, %d}" % (cname, len(best))


CODE_HASH_MUL = 0x9E3779B1  # the same constant as RULE_CODE_HASH_MUL in tables.h


def render(src, rows):
    metrics = sorted((r for r in rows if r.kind == "metric"), key=lambda r: r.code)
    units = sorted((r for r in rows if r.kind == "unit"), key=lambda r: r.code)
    mpos = {id(r): i for i, r in enumerate(metrics)}
    upos = {id(r): i for i, r in enumerate(units)}

    def in_file(kind):
        return [r for r in rows if r.kind == kind]

    out = [
        "/*",
        " * rules_tables.c - GENERATED by gen_tables.py from %s. Do not edit:" % src,
        " * change %s and rebuild. The shape of these tables is rules/tables.h;" % src,
        " * rules/tables.c searches them.",
        " */",
        "#include <stddef.h>",
        "",
        '#include "tables.h"',
        "",
        "static const struct rule_metric metrics[] = {",
    ]
    for r in metrics:
        out.append("\t{%d, %s, %s, %s, %s, %s, %s}, /* %s, line %d */" % (
            r.code, cstr(r.get("refid")), cstr(r.get("name")), cstr(r.get("family")),
            cstr(r.get("loinc")), r.get("unit"), cstr(r.get("title")), r.get("term") or "-",
            r.line))
    out += ["};", "", "static const struct rule_unit units[] = {"]
    for r in units:
        out.append("\t{%d, %s, %s}, /* %s, line %d */" % (
            r.code, cstr(r.get("refid")), cstr(r.get("ucum")), r.get("term") or "-", r.line))
    out += ["};", "", "static const struct rule_tab_code codes[] = {"]
    for r in sorted(rows, key=lambda r: r.code):
        if r.kind == "metric":
            kind, idx = "RULE_TAB_METRIC", mpos[id(r)]
        elif r.kind == "unit":
            kind, idx = "RULE_TAB_UNIT", upos[id(r)]
        else:
            kind, idx = "RULE_TAB_OTHER", 0
        out.append("\t{%d, %s, %d, %s}," % (r.code, kind, idx, cstr(r.get("refid"))))
    out += ["};", ""]

    # The code lookup runs per observation on the workers: an open-addressed
    # hash (multiplicative, linear probing) at most a quarter full, so that
    # a lookup is one or two probes instead of a binary search.
    by_code = sorted(rows, key=lambda r: r.code)
    bits = 4
    while (1 << bits) < 4 * len(by_code):
        bits += 1
    slots = [0] * (1 << bits)
    longest = 0
    for i, r in enumerate(by_code):
        h = ((r.code * CODE_HASH_MUL) & 0xFFFFFFFF) >> (32 - bits)
        probe = 0
        while slots[(h + probe) & ((1 << bits) - 1)]:
            probe += 1
        slots[(h + probe) & ((1 << bits) - 1)] = i + 1
        longest = max(longest, probe + 1)
    out.append("/* codes[] index + 1 by hash of the code; 0 is an empty slot. */")
    out.append("static const uint16_t code_slots[%d] = {" % len(slots))
    for i in range(0, len(slots), 16):
        out.append("	" + ", ".join(str(v) for v in slots[i:i + 16]) + ",")
    out += ["};", ""]

    ix = {}
    ix["metric_name"] = emit_index(out, "metric_name", [
        (r.get("name"), mpos[id(r)]) for r in in_file("metric")])
    ix["metric_refid"] = emit_index(out, "metric_refid", [
        (k, mpos[id(r)]) for r in in_file("metric") for k in [r.get("refid")] + r.words("aliases")])
    ix["metric_loinc"] = emit_index(out, "metric_loinc", [
        (k, mpos[id(r)]) for r in in_file("metric") for k in r.words("loinc")])
    ix["unit_refid"] = emit_index(out, "unit_refid", [
        (r.get("refid"), upos[id(r)]) for r in in_file("unit")])
    ix["unit_ucum"] = emit_index(out, "unit_ucum", [
        (k, upos[id(r)]) for r in in_file("unit") for k in [r.get("ucum")] + r.words("aliases")])

    out += [
        "const struct rule_tables rule_tables = {",
        "\t.metrics = metrics,",
        "\t.n_metrics = %d," % len(metrics),
        "\t.units = units,",
        "\t.n_units = %d," % len(units),
        "\t.codes = codes,",
        "\t.n_codes = %d," % len(rows),
        "\t.code_slots = code_slots,",
        "\t.code_bits = %d," % bits,
        "\t.code_probes = %d," % longest,
    ]
    for k, v in ix.items():
        out.append("\t.%s = %s," % (k, v))
    out += ["};", ""]
    return "\n".join(out)


def main(argv):
    if len(argv) != 3:
        print("usage: gen_tables.py METRICS.tsv OUTPUT.c", file=sys.stderr)
        return 2
    src, dst = argv[1], argv[2]
    try:
        with open(src, "rb") as f:
            data = f.read()
    except OSError as e:
        print("gen_tables.py: cannot read %s: %s" % (src, e.strerror), file=sys.stderr)
        return 1
    chk = Checker(src)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        chk.err(line, "byte 0x%02x is not ASCII" % data[e.start])
        text = None
    if text is not None:
        if text and not text.endswith("\n"):
            chk.err(text.count("\n") + 1, "the last line has no newline")
            text += "\n"
        rows = parse(src, text, chk)
        for r in rows:
            check_row(r, chk)
        check_file(rows, chk)
    if chk.errors:
        for e in chk.errors:
            print(e, file=sys.stderr)
        print("gen_tables.py: %d error(s) in %s; %s not written" % (
            len(chk.errors), src, dst), file=sys.stderr)
        return 1
    c = render(os.path.basename(src), rows)
    # Write beside the target and rename, so a failed write never leaves a
    # half-written table for the next build to compile.
    d = os.path.dirname(os.path.abspath(dst))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".rules_tables.", dir=d)
        with os.fdopen(fd, "w") as f:
            f.write(c)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except OSError as e:
        print("gen_tables.py: cannot write %s: %s" % (dst, e.strerror), file=sys.stderr)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
