#!/usr/bin/python3
"""decode_diff.py VIGIL_DECODE FIXTURE_DIR - vigil's HL7 parser against python3-hl7.

vigil takes HL7 v2 apart with its own zero-copy code (dataplane/hl7.c). This
test holds that code to an independent parser, python3-hl7 0.4.5 from
Debian's archive (run it with /usr/bin/python3, which has the `hl7` module),
on every fixture in FIXTURE_DIR and on 500 generated ORU^R01 messages: the
same segments, fields, repetitions, components, sub-components and values
must come out of `vigil-decode --fields` and out of hl7.parse().

Two comparisons are made for every message:

  raw        `vigil-decode --fields --raw` (values as sent) against
             hl7.parse() exactly. python3-hl7 never unescapes while it
             parses, so this is the like-for-like comparison of the
             splitting.
  unescaped  `vigil-decode --fields` (values through dp_hl7_unescape)
             against hl7.parse() with every leaf passed through
             ref_unescape() below, a reference written here from the HL7
             v2 rules (DOMAIN.md section 1). ref_unescape is itself checked
             against python3-hl7's Message.unescape() on every leaf where
             the two are meant to agree (see below), so the reference is
             not only this file's opinion.

Where python3-hl7 0.4.5 differs from the HL7 standard, and how this test
deals with it:

  - Segment endings: hl7.parse() splits segments on CR only. The standard
    says CR; vigil also takes LF and CRLF, as real senders use them
    (DOMAIN.md section 1). Before python3-hl7 sees a message, CRLF and LF
    are turned into CR. The generated messages use all three endings, so
    vigil's handling of each is compared.
  - Whitespace: hl7.parse() strips leading and trailing whitespace off the
    whole message. vigil-decode cuts trailing whitespace off a message in a
    text file too, but only there: the generator therefore never ends a
    message with a space (a value ending in a space inside a message is
    generated and compared).
  - Blank lines: python3-hl7 makes an empty segment of each; vigil skips
    them (DOMAIN.md section 1: tolerate what senders do). canon() drops
    python3-hl7's empty segments; the generator puts blank lines inside
    some messages so that vigil's skipping is compared.
  - Shape: python3-hl7 keeps a field without separators as a bare string,
    a repetition without components likewise, and a component without
    sub-components as a one-item list. canon() below turns that into the
    uniform nesting vigil prints (field = [rep = [comp = [sub, ...]]]). The
    MSH conventions are python3-hl7's: MSH-1 is the field separator as one
    value, MSH-2 the encoding characters as one value, never split.
  - Escapes (Message.unescape(), the only unescaping python3-hl7 has):
      * \\Xhh..\\ : python3-hl7 turns each hh into the code point hh
        (Latin-1); HL7 says the bytes are in the message's character set,
        and vigil writes the bytes (UTF-8 here). Compared with python3-hl7
        only for printable ASCII (20-7E).
      * \\.br\\ : python3-hl7 gives CR. vigil's choice is checked against
        ref_unescape only (BR below).
      * \\P\\ (HL7 2.7, the truncation character when MSH-2 declares one):
        python3-hl7 does not know it. Checked against ref_unescape only.
      * Unknown sequences (\\H\\, \\N\\, \\Zxx\\, \\.sp\\, ...): python3-hl7
        drops or rewrites them; HL7 and vigil pass them through unchanged.
        Checked against ref_unescape only.
      * An escape character without its closing one: python3-hl7 drops the
        rest of the value; vigil passes it through. Checked against
        ref_unescape only.
    Every leaf that holds only \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ and printable
    ASCII \\Xhh\\ is compared with python3-hl7's unescape() too.
  - Rejections: a fixture message python3-hl7 cannot parse (it raises) must
    be rejected by vigil too. vigil may be stricter than python3-hl7 only
    for the reasons listed in VIGIL_STRICTER, each of which is a limit or a
    check python3-hl7 does not have; every such case is printed. DAMAGED
    holds one hand-made message per reason, whose outcome on both sides is
    asserted exactly. A generated message must parse on both sides.

Output: one "ok" line per fixture message and per generated batch, a
precise path and both values for every difference, and a final
"N passed, N failed" line. Exit 1 on any difference.
"""

import json
import os
import random
import re
import subprocess
import sys
import tempfile

import hl7

SEED = 0x5EED0003

# What the comparison covered, printed at the end so that a run which
# compared nothing interesting shows it.
STATS = {"leaves": 0, "escaped": 0, "cross_checked": 0}
N_GENERATED = 500

# What vigil's dp_hl7_unescape makes of \.br\ (set from dataplane/hl7.c).
BR = "\r"

# dp_hl7_parse's reasons (DP_HL7_COUNTERS descriptions) for which vigil may
# reject a message python3-hl7 accepts, and why that is not a disagreement
# about HL7.
VIGIL_STRICTER = {
    "message with more segments than vigil keeps":
        "vigil keeps at most DP_HL7_MAX_SEGMENTS segments; python3-hl7 has no limit",
    "MSH without usable delimiters":
        "vigil requires 4 or 5 encoding characters, all distinct, printable and neither "
        "letters nor digits; python3-hl7 takes any characters",
    "message longer than 65535 bytes (spans are 16-bit)":
        "vigil's spans are 16-bit; python3-hl7 has no limit",
}


# --------------------------------------------------------------------------
# Splitting a file into messages, independently of vigil-decode
# --------------------------------------------------------------------------

def split_messages(data):
    """[(offset, bytes)] of the messages in a fixture file, as vigil-decode
    documents it: MLLP frames when the first non-blank byte is 0x0B, else a
    message at every line that starts with MSH."""
    lead = len(data) - len(data.lstrip(b" \t\r\n"))  # 0x0B is MLLP's start
    if data[lead:lead + 1] == b"\x0b":
        out = []
        for m in re.finditer(rb"\x0b([^\x0b]*?)\x1c\r", data):
            out.append((m.start(), m.group(1)))
        return out
    starts = [m.start() for m in re.finditer(rb"(?:^|(?<=[\r\n]))MSH", data)]
    out = []
    if not starts or data[:starts[0]].strip():
        out.append((0, data[:starts[0] if starts else len(data)]))
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(data)
        out.append((s, data[s:e]))
    return out


# --------------------------------------------------------------------------
# python3-hl7's view, made uniform
# --------------------------------------------------------------------------

def to_cr(text):
    return text.replace("\r\n", "\r").replace("\n", "\r")


def canon_field(f):
    if isinstance(f, str):
        return [[[f]]]
    if len(f) == 1 and isinstance(f[0], str):
        return [[[f[0]]]]
    return [canon_rep(r) for r in f]


def canon_rep(r):
    if isinstance(r, str):
        return [[r]]
    if len(r) == 1 and isinstance(r[0], str):
        return [[r[0]]]
    return [canon_comp(c) for c in r]


def canon_comp(c):
    if isinstance(c, str):
        return [c]
    for s in c:
        assert isinstance(s, str), "python3-hl7 nested deeper than sub-components"
    return list(c)


def canon(msg):
    """{"segments": [[name, [field, ...]], ...]} from an hl7.Message."""
    segs = []
    for seg in msg:
        items = list(seg)
        head = items[0]
        name = head if isinstance(head, str) else str(head[0])
        if name == "" and len(items) == 1:
            continue  # a blank line: vigil skips it (see the module's comment)
        segs.append([name, [canon_field(f) for f in items[1:]]])
    return {"segments": segs}


def map_leaves(tree, fn):
    """The tree with fn(value) for every leaf but MSH-1 and MSH-2."""
    out = []
    for name, fields in tree["segments"]:
        nf = []
        for i, field in enumerate(fields):
            if name == "MSH" and i < 2:
                nf.append(field)
            else:
                nf.append([[[fn(s) for s in comp] for comp in rep] for rep in field])
        out.append([name, nf])
    return {"segments": out}


# --------------------------------------------------------------------------
# The reference unescape (HL7 v2.5 section 2.7; DOMAIN.md section 1)
# --------------------------------------------------------------------------

def delimiters(text):
    """(fs, cs, rs, es, ss, tc) from MSH; tc is "" without a truncation character."""
    tc = text[8] if len(text) > 9 and text[9] == text[3] else ""
    return text[3], text[4], text[5], text[6], text[7], tc


def ref_unescape(value, delims):
    """Undo \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\Xhh..\\ \\.br\\, and \\P\\ (HL7 2.7:
    the truncation character) when MSH-2 declares one, in a leaf; pass
    anything else, and an escape without its closing one, through as it is.
    \\Xhh\\ gives bytes, read as UTF-8 as the message was."""
    fs, cs, rs, es, ss, tc = delims
    simple = {"F": fs, "S": cs, "T": ss, "R": rs, "E": es, ".br": BR}
    if tc:
        simple["P"] = tc
    out = bytearray()
    i = 0
    while i < len(value):
        c = value[i]
        if c != es:
            out += c.encode()
            i += 1
            continue
        j = value.find(es, i + 1)
        if j < 0:
            out += value[i:].encode()
            break
        body = value[i + 1:j]
        if body in simple:
            out += simple[body].encode()
        elif (body[:1] == "X" and len(body) >= 3 and len(body) % 2 == 1
              and re.fullmatch(r"[0-9A-Fa-f]+", body[1:])):
            out += bytes.fromhex(body[1:])
        else:
            out += value[i:j + 1].encode()
        i = j + 1
    return out.decode("utf-8", errors="replace")


def python_comparable(value, es):
    """True when python3-hl7's unescape() is meant to agree with HL7 on
    @value: only \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ and printable-ASCII \\Xhh\\."""
    if es not in value:
        return True
    e = re.escape(es)
    rest = re.sub(e + r"(?:[FSTRE]|X(?:[2-7][0-9A-Fa-f])+)" + e, "", value)
    return es not in rest


# --------------------------------------------------------------------------
# Comparing trees
# --------------------------------------------------------------------------

def diff(a, b, where="message"):
    """A list of differences between two trees, each with its HL7 path."""
    out = []
    sa, sb = a["segments"], b["segments"]
    if len(sa) != len(sb):
        out.append("%s: %d segments (vigil) vs %d (python3-hl7): %s vs %s" % (
            where, len(sa), len(sb), [s[0] for s in sa], [s[0] for s in sb]))
    for si, (x, y) in enumerate(zip(sa, sb)):
        path = "%s segment %d" % (where, si + 1)
        if x[0] != y[0]:
            out.append("%s: name %r vs %r" % (path, x[0], y[0]))
            continue
        fx, fy = x[1], y[1]
        if len(fx) != len(fy):
            out.append("%s %s: %d fields vs %d" % (path, x[0], len(fx), len(fy)))
        for fi, (f, g) in enumerate(zip(fx, fy)):
            fp = "%s %s-%d" % (path, x[0], fi + 1)
            if len(f) != len(g):
                out.append("%s: %d repetitions vs %d: %r vs %r" % (fp, len(f), len(g), f, g))
                continue
            for ri, (r, s) in enumerate(zip(f, g)):
                rp = "%s repetition %d" % (fp, ri + 1)
                if len(r) != len(s):
                    out.append("%s: %d components vs %d: %r vs %r" % (rp, len(r), len(s), r, s))
                    continue
                for ci, (c, d) in enumerate(zip(r, s)):
                    cp = "%s component %d" % (rp, ci + 1)
                    if len(c) != len(d):
                        out.append("%s: %d sub-components vs %d: %r vs %r" % (
                            cp, len(c), len(d), c, d))
                        continue
                    for ki, (v, w) in enumerate(zip(c, d)):
                        if v != w:
                            out.append("%s sub-component %d: %r (vigil) vs %r (expected)" % (
                                cp, ki + 1, v, w))
    return out


# --------------------------------------------------------------------------
# Running vigil-decode
# --------------------------------------------------------------------------

def run_fields(tool, path, raw):
    """(trees in order, {offset: reason}) from vigil-decode --fields."""
    args = [tool, "--fields"] + (["--raw"] if raw else []) + [path]
    p = subprocess.run(args, capture_output=True, timeout=120)
    if p.returncode not in (0, 1):
        raise RuntimeError("%s exited %d: %s" % (" ".join(args), p.returncode,
                                                 p.stderr.decode(errors="replace")))
    trees = [json.loads(line) for line in p.stdout.decode().splitlines() if line]
    bad = {}
    prefix = path + ":"
    for line in p.stderr.decode(errors="replace").splitlines():
        if line.startswith(prefix):
            off, _, reason = line[len(prefix):].partition(": ")
            bad[int(off)] = reason
    if p.returncode != (1 if bad else 0):
        raise RuntimeError("%s exited %d with %d errors" % (" ".join(args), p.returncode,
                                                             len(bad)))
    return trees, bad


class Result:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, what):
        self.passed += 1
        print("ok: " + what)

    def fail(self, what, details):
        self.failed += 1
        print("FAIL: " + what)
        for d in details[:40]:
            print("    " + d)
        if len(details) > 40:
            print("    ... and %d more" % (len(details) - 40))


def expected_trees(text):
    """(raw tree, unescaped tree, cross-check failures) from python3-hl7."""
    msg = hl7.parse(to_cr(text))
    raw = canon(msg)
    d = delimiters(text)
    unesc = map_leaves(raw, lambda v: ref_unescape(v, d))
    crosses = []

    def cross(v):
        STATS["leaves"] += 1
        if d[3] in v:
            STATS["escaped"] += 1
        if python_comparable(v, d[3]):
            mine, theirs = ref_unescape(v, d), msg.unescape(v)
            if d[3] in v:
                STATS["cross_checked"] += 1
            if mine != theirs:
                crosses.append("ref_unescape(%r) = %r but python3-hl7 gives %r" % (
                    v, mine, theirs))
        return v

    map_leaves(raw, cross)
    return raw, unesc, crosses


def compare_file(tool, path, label, res, must_parse):
    """Compare every message of @path; @must_parse: python3-hl7 must take all."""
    data = open(path, "rb").read()
    msgs = split_messages(data)
    raw_trees, raw_bad = run_fields(tool, path, True)
    esc_trees, esc_bad = run_fields(tool, path, False)
    if raw_bad != esc_bad:
        res.fail("%s: --raw and unescaped runs reject different messages" % label,
                 ["raw: %r" % raw_bad, "unescaped: %r" % esc_bad])
        return
    unknown = set(raw_bad) - {off for off, _ in msgs}
    if unknown:
        res.fail("%s: vigil-decode reports offsets that start no message" % label,
                 ["%d: %s" % (o, raw_bad[o]) for o in sorted(unknown)])
        return
    ti = 0
    for n, (off, body) in enumerate(msgs, 1):
        what = "%s#%d (offset %d)" % (label, n, off)
        text = body.decode("utf-8", errors="surrogateescape")
        try:
            exp_raw, exp_esc, crosses = expected_trees(text.strip())
            py_error = None
        except Exception as e:  # python3-hl7 raises several kinds
            py_error = "%s: %s" % (type(e).__name__, e)
        if must_parse and (off in raw_bad or py_error):
            res.fail(what, ["a generated message must parse: vigil %s, python3-hl7 %s" % (
                raw_bad.get(off, "takes it"), py_error or "takes it")])
            if off not in raw_bad:
                ti += 1
            continue
        if off in raw_bad:
            reason = raw_bad[off]
            if py_error:
                res.ok("%s: both reject (vigil: %s; python3-hl7: %s)" % (what, reason, py_error))
            elif reason in VIGIL_STRICTER and not must_parse:
                res.ok("%s: vigil stricter: %s (%s)" % (what, reason, VIGIL_STRICTER[reason]))
            else:
                res.fail(what, ["vigil rejects (%s), python3-hl7 parses it" % reason])
            continue
        if ti >= len(raw_trees):
            res.fail(what, ["vigil-decode printed fewer trees than messages"])
            continue
        got_raw, got_esc = raw_trees[ti], esc_trees[ti]
        ti += 1
        if py_error:
            res.fail(what, ["python3-hl7 rejects (%s), vigil parses it" % py_error])
            continue
        problems = diff(got_raw, exp_raw, "raw") + diff(got_esc, exp_esc, "unescaped") + crosses
        if problems:
            res.fail(what, problems)
        elif not must_parse:  # generated messages get one line per batch
            nseg = len(got_raw["segments"])
            nleaf = sum(len(c) for _, fs in got_raw["segments"] for f in fs for r in f for c in r)
            res.ok("%s: %d segments, %d values agree" % (what, nseg, nleaf))
    if ti != len(raw_trees):
        res.fail("%s: vigil-decode printed %d trees for %d messages" % (
            label, len(raw_trees), ti), [])


# --------------------------------------------------------------------------
# Generated messages
# --------------------------------------------------------------------------

PLAIN = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
         " .,:;-_+*/()[]{}<>=?!@$%'\"#")
ESCAPES_STD = ["F", "S", "T", "R", "E"]


def gen_leaf(rng, d, plain):
    """A sub-component: plain text, standard escapes, hex escapes, odd
    sequences, non-ASCII; sometimes empty."""
    es = d[3]
    if rng.random() < 0.2:
        return ""
    parts = []
    for _ in range(rng.randint(1, 5)):
        r = rng.random()
        if r < 0.5:
            parts.append("".join(rng.choice(plain) for _ in range(rng.randint(1, 8))))
        elif r < 0.78:
            parts.append(es + rng.choice(ESCAPES_STD) + es)
        elif r < 0.84:
            parts.append(es + "X" + "".join("%02X" % rng.randint(0x20, 0x7E)
                                            for _ in range(rng.randint(1, 3))) + es)
        elif r < 0.87:
            parts.append(es + "XC3A9" + es)  # é as UTF-8 bytes
        elif r < 0.90:
            parts.append(es + ".br" + es)
        elif r < 0.94:
            parts.append(es + rng.choice(["H", "N", "P", "Zvendor", ".sp2", "C2842", "M2442"])
                         + es)
        else:
            parts.append(rng.choice(["é", "ß", "Ω", "→"]))
    return "".join(parts)


def gen_field(rng, d, plain):
    """Empty, or repetitions of components of sub-components."""
    fs, cs, rs, es, ss = d
    if rng.random() < 0.25:
        return ""
    reps = []
    for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 3)):
        comps = []
        for _ in range(1 if rng.random() < 0.5 else rng.randint(2, 5)):
            subs = [gen_leaf(rng, d, plain)
                    for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 3))]
            comps.append(ss.join(subs))
        reps.append(cs.join(comps))
    return rs.join(reps)


DELIMITER_SETS = [
    ("|", "^", "~", "\\", "&", ""),
    ("|", "^", "~", "\\", "&", ""),
    ("|", "^", "~", "\\", "&", ""),
    ("|", "^", "~", "\\", "&", "#"),  # HL7 2.7 truncation character
    ("!", "@", "*", "$", "%", ""),    # unusual but legal
]


def gen_message(rng, n):
    """One ORU^R01 with random contents, ending each segment with CR, LF or CRLF."""
    fs, cs, rs, es, ss, tc = rng.choice(DELIMITER_SETS)
    d = (fs, cs, rs, es, ss)
    # Plain text never holds this message's delimiters (they would only be
    # split on, which the escapes already test) nor its truncation mark.
    plain = "".join(ch for ch in PLAIN if ch not in d and ch != tc)

    def field():
        return gen_field(rng, d, plain)

    msh = [cs + rs + es + ss + tc,
           "VIGIL" + cs + "%016X" % rng.getrandbits(64) + cs + "EUI-64", field(), field(),
           field(), "2024%02d%02d%02d%02d%02d+0000" % (
               rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
               rng.randint(0, 59), rng.randint(0, 59)),
           "", "ORU" + cs + "R01" + cs + "ORU_R01", "MSG%05d" % n, "P", "2.6", "", "",
           "NE", "AL"]
    segs = ["MSH" + fs + fs.join(msh)]
    segs.append(fs.join(["PID", "", field(), "P%d" % n + cs + cs + cs + "HOSP" + cs + "PI",
                         "", field()]))
    if rng.random() < 0.7:
        segs.append(fs.join(["PV1", "", "I", "ICU" + cs + str(rng.randint(1, 9)) + cs +
                             str(rng.randint(1, 30))] +
                            [field() for _ in range(rng.randint(0, 4))]))
    segs.append(fs.join(["OBR", "1", field(), field(),
                         "182777000" + cs + "monitoring" + cs + "SCT", "", "",
                         "20240101120000+0000"]))
    for i in range(rng.randint(1, 10)):
        fields = ["OBX", str(i + 1), rng.choice(["NM", "ST", "NA", ""]), field(), field(),
                  field(), field(), field(), field(), "", "", rng.choice(["R", "F", "X"])]
        fields += [field() for _ in range(rng.randint(0, 8))]
        segs.append(fs.join(fields))
        if rng.random() < 0.1:
            segs.append(fs.join(["NTE", "1", "", field()]))
    if rng.random() < 0.05:
        segs.append("ZZZ")  # a segment with no field separator at all
    # No message may end in whitespace (python3-hl7 strips it; see above).
    if segs[-1][-1:].isspace():
        segs[-1] += "x"
    ending = rng.choice(["\r", "\n", "\r\n"])
    text = ""
    for i, seg in enumerate(segs):
        text += seg + ending
        if i > 0 and rng.random() < 0.02:
            text += ending  # a blank line inside the message
    return text


def generated(tool, tmp, res):
    rng = random.Random(SEED)
    msgs = [gen_message(rng, n) for n in range(N_GENERATED)]
    text_path = os.path.join(tmp, "generated.hl7")
    with open(text_path, "wb") as f:
        f.write("".join(msgs).encode())
    mllp_path = os.path.join(tmp, "generated.mllp")
    with open(mllp_path, "wb") as f:
        for m in msgs:
            f.write(b"\x0b" + m.encode() + b"\x1c\r")
            if rng.random() < 0.5:
                f.write(b"\n")
    for label, path in (("generated text", text_path), ("generated MLLP", mllp_path)):
        before = res.failed
        compare_file(tool, path, label, res, must_parse=True)
        if res.failed == before:
            res.ok("%s: %d messages agree (raw and unescaped)" % (label, N_GENERATED))


# Damaged messages, each alone in a file: what vigil must report, and
# whether python3-hl7 takes the message (True) or raises (False). Each
# rejection python3-hl7 does not share must be one of VIGIL_STRICTER.
DAMAGED = [
    ("PID|||x\rOBX|1\r", "message that does not start with MSH", False),
    ("MSH|^^\\&|A|B\rPID|1\r", "MSH without usable delimiters", True),
    ("MSH|1~\\&|A|B\rPID|1\r", "MSH without usable delimiters", True),
    ("MSH|^~\\&|A\r" + "NTE|1\r" * 128, "message with more segments than vigil keeps", True),
    ("MSH|^~\\&|A\rNTE|" + "x" * 65536 + "\r", "message longer than 65535 bytes (spans are 16-bit)",
     True),
]


def damaged(tool, tmp, res):
    for i, (text, reason, python_takes) in enumerate(DAMAGED, 1):
        what = "damaged message %d (%s)" % (i, reason)
        path = os.path.join(tmp, "damaged-%d.hl7" % i)
        with open(path, "w") as f:
            f.write(text)
        trees, bad = run_fields(tool, path, True)
        try:
            hl7.parse(to_cr(text).strip())
            takes = True
        except Exception:
            takes = False
        problems = []
        if trees or bad != {0: reason}:
            problems.append("vigil-decode: %d trees, errors %r; want none and {0: %r}" % (
                len(trees), bad, reason))
        if takes != python_takes:
            problems.append("python3-hl7 %s it" % ("takes" if takes else "rejects"))
        if takes and reason not in VIGIL_STRICTER:
            problems.append("vigil rejects what python3-hl7 takes, for a reason not listed "
                            "in VIGIL_STRICTER")
        if problems:
            res.fail(what, problems)
        else:
            res.ok(what + (": vigil stricter" if takes else ": both reject"))
        before = res.failed
        compare_file(tool, path, "damaged-%d" % i, res, must_parse=False)
        if res.failed != before:
            res.fail(what, ["compare_file disagrees"])


def self_test():
    """ref_unescape and canon on hand-made cases, so that a bug in the
    reference cannot make the comparison vacuous."""
    d = ("|", "^", "~", "\\", "&", "")
    cases = [
        ("a\\F\\b", "a|b"), ("\\S\\\\T\\\\R\\\\E\\", "^&~\\"), ("\\X41\\", "A"),
        ("\\X4142\\", "AB"), ("\\XC3A9\\", "é"), ("x\\.br\\y", "x" + BR + "y"),
        ("\\H\\bold\\N\\", "\\H\\bold\\N\\"), ("open\\F", "open\\F"), ("\\X4\\", "\\X4\\"),
        ("", ""), ("plain", "plain"), ("a\\P\\b", "a\\P\\b"),
    ]
    bad = ["ref_unescape(%r) = %r, want %r" % (v, ref_unescape(v, d), w)
           for v, w in cases if ref_unescape(v, d) != w]
    if ref_unescape("a\\P\\b", d[:5] + ("#",)) != "a#b":
        bad.append("ref_unescape: \\P\\ with a truncation character")
    if delimiters("MSH|^~\\&#|x") != ("|", "^", "~", "\\", "&", "#"):
        bad.append("delimiters: %r" % (delimiters("MSH|^~\\&#|x"),))
    tree = canon(hl7.parse("MSH|^~\\&|A^B~C|D&E\rPID||x|\r\rZZZ"))
    want = {"segments": [
        ["MSH", [[[["|"]]], [[["^~\\&"]]], [[["A"], ["B"]], [["C"]]], [[["D", "E"]]]]],
        ["PID", [[[[""]]], [[["x"]]], [[[""]]]]],
        ["ZZZ", []]]}
    if tree != want:
        bad.append("canon: %r, want %r" % (tree, want))
    return bad


def main():
    if len(sys.argv) != 3:
        print("usage: decode_diff.py VIGIL_DECODE FIXTURE_DIR", file=sys.stderr)
        return 2
    tool, fixtures = sys.argv[1], sys.argv[2]
    res = Result()
    problems = self_test()
    if problems:
        res.fail("the test's own reference", problems)
    else:
        res.ok("reference unescape and canonical form (%s)" % hl7.__name__)

    names = []
    for top, dirs, files in os.walk(fixtures):
        dirs.sort()
        for n in files:
            if not n.endswith((".md", ".pcap", ".json", ".txt")):
                names.append(os.path.relpath(os.path.join(top, n), fixtures))
    names.sort()
    real = [n for n in names if re.match(r"00[1-8]_", n)]
    if len(real) < 4:
        res.fail("fixtures", ["%s holds %d of the 4 real messages" % (fixtures, len(real))])
    for n in names:
        compare_file(tool, os.path.join(fixtures, n), n, res, must_parse=False)
    with tempfile.TemporaryDirectory() as tmp:
        damaged(tool, tmp, res)
        generated(tool, tmp, res)
    print("compared %d values, %d of them with escape sequences (%d of those also "
          "against python3-hl7's unescape)" % (STATS["leaves"], STATS["escaped"],
                                               STATS["cross_checked"]))
    if STATS["escaped"] < 1000 or STATS["cross_checked"] < 500:
        res.fail("coverage", ["too few escaped values compared: %r" % STATS])
    print("%d passed, %d failed" % (res.passed, res.failed))
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
