#!/usr/bin/env bash
# decode_cli.sh VIGIL_DECODE FIXTURE_DIR - vigil-decode on each kind of input.
#
# vigil-decode is how an engineer sees what vigil sees, so what it prints must
# be exactly what the decoders made of the bytes, and bad input must be
# pinned to its byte offset without hiding the good messages around it. This
# test holds it to:
#   - the exact JSON lines of a real PCD-01 fixture (SpO2 80.5 %, device,
#     patient, time), of a PCD-04 alarm fixture, and of a pcap that carries that message over MLLP/UDP
#     next to the example VTP frame of dataplane/VTP.md section 10 (built
#     here from the specification, not with vigil's encoder);
#   - the same observations from an MLLP-framed file, a big-endian
#     nanosecond pcap, and the human form;
#   - a bad message between two good ones: both good ones print, the bad
#     one is reported as FILE:OFFSET: REASON with its offset, exit 1; the
#     same for an unterminated MLLP frame, junk before the first MSH and a
#     bad datagram in a pcap;
#   - --fields and --fields --raw on a small message, exactly;
#   - exit 2 naming the file for a missing one, and for usage errors.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 VIGIL_DECODE FIXTURE_DIR" >&2
	exit 2
fi
decode=$1
fixtures=$2
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
TOOL=$decode
TOOL_TIMEOUT=60
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"

# same_json NAME EXPECTED_FILE: stdout of NAME holds exactly the JSON lines
# of EXPECTED_FILE, in order (compared as JSON values: 80.5 == 80.5, key
# order free, every key and value checked). Prints the difference.
same_json() {
	"$py" - "$tmp/$1.out" "$2" <<'EOF'
import json, sys
got = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
if got == want:
    sys.exit(0)
print("  expected %d lines, got %d" % (len(want), len(got)))
for i in range(max(len(got), len(want))):
    g = got[i] if i < len(got) else None
    w = want[i] if i < len(want) else None
    if g != w:
        print("  line %d:" % (i + 1))
        print("    want %s" % json.dumps(w, sort_keys=True))
        print("    got  %s" % json.dumps(g, sort_keys=True))
sys.exit(1)
EOF
}

# expect NAME RC EXPECTED_JSON_FILE [STDERR_LINE...]: exit status, stdout
# exactly, and each given line present on stderr exactly.
expect() {
	local name=$1 want_rc=$2 want_out=$3 line good=1
	shift 3
	if [ "$rc" -ne "$want_rc" ]; then
		echo "  $name: exit $rc, expected $want_rc"
		good=0
	fi
	if ! same_json "$name" "$want_out"; then
		good=0
	fi
	for line in "$@"; do
		if ! grep -qxF -- "$line" "$tmp/$name.err"; then
			echo "  $name: stderr lacks the line '$line'"
			good=0
		fi
	done
	if [ "$good" -eq 1 ]; then
		ok "$name"
	else
		show "$name"
		fail "$name"
	fi
}

ox=$fixtures/004_ipf_continua_wan_oximeter.hl7
po=$fixtures/008_t5_ihe_pcd01_pulse_oximetry.hl7
for f in "$ox" "$po" "$fixtures/pcd04_acm_numbering.hl7"; do
	if [ ! -f "$f" ]; then
		echo "FAIL: fixture $f is missing"
		exit 1
	fi
done

# The observations of the two real messages, with FILE#N as source.
# 004 (IPF, Continua WAN oximeter): the MDS row (OBX-1, 1 = its OBX-4)
# gives OBX-18's EUI-64 to the rows below it; PID-3 789567; no PV1; SpO2
# 80.5 % at OBX-14 20090715070707+0000; the NA pleth wave has no numeric
# value (null, NO_VALUE, not valid).
expected_ox() { # SOURCE
	cat <<EOF
{"type":"obs","device":"0123456789ABCDEF","patient":"789567","location":"","code":150456,"name":"SPO2","value":80.5,"unit":"%","flags":[],"valid":true,"time":"2009-07-15T07:07:07Z","source":"$1"}
{"type":"obs","device":"0123456789ABCDEF","patient":"789567","location":"","code":150452,"name":null,"value":null,"unit":"1","flags":["NO_VALUE","CODE_UNKNOWN"],"valid":false,"time":"2009-07-15T07:07:07Z","source":"$1"}
EOF
}
# 008 (t5, IHE PCD-01 pulse oximetry): dual-coded OBX-3, the MDC code wins
# (149530 PULSE); unit {beats}/min is the table's alias of /min; OBX-14
# 20120530112340 has no offset (taken as UTC, flagged); PV1-3 ICU^2^23;
# OBX-18 0123456789ABCDEF.
expected_po() { # SOURCE
	cat <<EOF
{"type":"obs","device":"0123456789ABCDEF","patient":"HO2009001","location":"ICU^2^23","code":149530,"name":"PULSE","value":55,"unit":"/min","flags":["TIME_NO_OFFSET"],"valid":true,"time":"2012-05-30T11:23:40Z","source":"$1"}
EOF
}

# --------------------------------------------------------------------------
# A real fixture, exactly
# --------------------------------------------------------------------------

run fixture-json --json "$ox"
expected_ox "$ox#1" >"$tmp/want-ox"
expect fixture-json 0 "$tmp/want-ox" "vigil-decode: 1 messages, 2 observations, 0 alarms, 0 errors"

run fixture-json-008 --json "$po"
expected_po "$po#1" >"$tmp/want-po"
expect fixture-json-008 0 "$tmp/want-po"

# A PCD-04 alarm (ACM facet numbering): event 196648 MDC_EVT_HI from facet
# 1, whose OBX-14 (11:59:57+0100) is its time; source 149538 at 160 from
# facet 2; facets 3-7 start, active, enabled, PH, SP; the MDS row's OBX-18
# is the device; PID-3 MRN4711, PV1-3 ICU^2^23.
acm=$fixtures/pcd04_acm_numbering.hl7
run alarm-json --json "$acm"
cat >"$tmp/want-acm" <<EOF
{"type":"alarm","device":"1122334455667788","patient":"MRN4711","location":"ICU^2^23","event":196648,"event_name":"MDC_EVT_HI","source_code":149538,"source_value":160,"phase":"start","state":"active","inactivation":"enabled","priority":"high","alarm_type":"physiological","text":"Pulse rate high","time":"2024-03-01T10:59:57Z","source":"$acm#1"}
EOF
expect alarm-json 0 "$tmp/want-acm" "vigil-decode: 1 messages, 0 observations, 1 alarms, 0 errors"

# The human form: one aligned line per observation with the same values.
run fixture-text "$ox"
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp/fixture-text.out")" -eq 2 ] &&
	grep -qE '^0123456789ABCDEF +789567 +- +SPO2 +80\.5 +% +- +valid +2009-07-15T07:07:07Z$' \
		"$tmp/fixture-text.out"; then
	ok "fixture-text"
else
	show fixture-text
	fail "fixture-text: expected the SpO2 line in aligned columns"
fi

# --------------------------------------------------------------------------
# A bad message between two good ones
# --------------------------------------------------------------------------

bad=$tmp/bad-between.hl7
cat "$po" >"$bad"
bad_off=$(stat -c %s "$bad")
printf 'MSH|^~\\&|X|Y|||20240101120000||ADT^A01^ADT_A01|42|P|2.6\rPID|||1\r' >>"$bad"
cat "$ox" >>"$bad"
run bad-between --json "$bad"
{
	expected_po "$bad#1"
	expected_ox "$bad#3"
} >"$tmp/want-bad"
expect bad-between 1 "$tmp/want-bad" \
	"$bad:$bad_off: message type other than ORU^R01 or ORU^R40" \
	"vigil-decode: 2 messages, 3 observations, 0 alarms, 1 errors"

# Junk before the first MSH is a message of its own that does not start with
# MSH; the offset is 0 and the message after it still decodes.
junk=$tmp/junk.hl7
printf 'garbage line\n' >"$junk"
cat "$ox" >>"$junk"
run junk --json "$junk"
expected_ox "$junk#2" >"$tmp/want-junk"
expect junk 1 "$tmp/want-junk" "$junk:0: message that does not start with MSH"

# --------------------------------------------------------------------------
# MLLP-framed files
# --------------------------------------------------------------------------

mllp=$tmp/two.mllp
{
	printf '\n\013'
	cat "$po"
	printf '\034\r\n\013'
	cat "$ox"
	printf '\034\r\n'
} >"$mllp"
run mllp --json "$mllp"
{
	expected_po "$mllp#1"
	expected_ox "$mllp#2"
} >"$tmp/want-mllp"
expect mllp 0 "$tmp/want-mllp"

# An unterminated frame between two good ones: reported at its 0x0B.
mllp_bad=$tmp/bad.mllp
{
	printf '\013'
	cat "$po"
	printf '\034\r'
} >"$mllp_bad"
unterminated_off=$(stat -c %s "$mllp_bad")
{
	printf '\013MSH|^~\\&|cut short'
	printf '\013'
	cat "$ox"
	printf '\034\r'
} >>"$mllp_bad"
run mllp-bad --json "$mllp_bad"
{
	expected_po "$mllp_bad#1"
	expected_ox "$mllp_bad#3"
} >"$tmp/want-mllp-bad"
expect mllp-bad 1 "$tmp/want-mllp-bad" \
	"$mllp_bad:$unterminated_off: MLLP frame without its 0x1C 0x0D end"

# --------------------------------------------------------------------------
# pcap
# --------------------------------------------------------------------------

# mkpcap OUT ORDER MAGIC: frame 1 UDP to port 53 (not telemetry), frame 2
# the oximeter message MLLP-framed to 2575, frame 3 the VTP example frame to
# 4575, frame 4 to 2575 with bytes before an MLLP frame of 008. Prints the
# file offset of frame 4's UDP payload.
mkpcap() {
	"$py" - "$@" "$ox" "$po" <<'EOF'
import struct, sys
out, order, magic, ox, po = sys.argv[1:]
e = "<" if order == "le" else ">"

def ipv4_udp(dport, payload):
    udp = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload  # no checksum
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                      bytes([10, 0, 0, 2]), bytes([192, 0, 2, 1]))
    s = sum(struct.unpack("!10H", hdr))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    hdr = hdr[:10] + struct.pack("!H", ~s & 0xFFFF) + hdr[12:]
    eth = bytes.fromhex("020000000001" "020000000002") + b"\x08\x00"
    return eth + hdr + udp

def vtp_example():
    # dataplane/VTP.md section 10, from the specification's tables.
    obs = [(147842, 72.0, 264864, 0), (150456, 88.0, 262688, 0x00140000),
           (150344, 37.2, 268192, 0x00000002), (151562, float("nan"), 264928, 0)]
    f = b"VTP" + struct.pack("!BBBH", 1, 32, 0, len(obs))
    f += struct.pack("!QIIq", 0x0123456789ABCDEF, 1000, 0, 1772366400123456789)
    for code, value, unit, flags in obs:
        f += struct.pack("!IdII", code, value, unit, flags)
    want = bytes.fromhex("""
        56 54 50 01 20 00 00 04 01 23 45 67 89 ab cd ef
        00 00 03 e8 00 00 00 00 18 98 b5 d9 bb 32 4d 15
        00 02 41 82 40 52 00 00 00 00 00 00 00 04 0a a0
        00 00 00 00 00 02 4b b8 40 56 00 00 00 00 00 00
        00 04 02 20 00 14 00 00 00 02 4b 48 40 42 99 99
        99 99 99 9a 00 04 17 a0 00 00 00 02 00 02 50 0a
        7f f8 00 00 00 00 00 00 00 04 0a e0 00 00 00 00""")
    assert f == want, "VTP example does not match VTP.md section 10"
    return f

frames = [
    ipv4_udp(53, b"\x00" * 12),
    ipv4_udp(2575, b"\x0b" + open(ox, "rb").read() + b"\x1c\r"),
    ipv4_udp(4575, vtp_example()),
    ipv4_udp(2575, b"junk" + b"\x0b" + open(po, "rb").read() + b"\x1c\r"),
]
m = 0xA1B2C3D4 if magic == "us" else 0xA1B23C4D
data = struct.pack(e + "IHHiIII", m, 2, 4, 0, 0, 65535, 1)
off4 = None
for i, fr in enumerate(frames):
    data += struct.pack(e + "IIII", 1700000000 + i, 0, len(fr), len(fr))
    if i == 3:
        off4 = len(data) + 14 + 20 + 8
    data += fr
open(out, "wb").write(data)
print(off4)
EOF
}

# VTP example (VTP.md section 10): 72 /min HR, SpO2 88 % in alarm and below
# its low limit, a TEST temperature, an RR with no value (NaN: SENTINEL).
expected_vtp() { # SOURCE
	local t=2026-03-01T12:00:00.123456789Z
	cat <<EOF
{"type":"obs","device":"0123456789ABCDEF","patient":"","location":"","code":147842,"name":"HR","value":72,"unit":"/min","flags":[],"valid":true,"time":"$t","source":"$1"}
{"type":"obs","device":"0123456789ABCDEF","patient":"","location":"","code":150456,"name":"SPO2","value":88,"unit":"%","flags":["ABN_L","ALACT"],"valid":true,"time":"$t","source":"$1"}
{"type":"obs","device":"0123456789ABCDEF","patient":"","location":"","code":150344,"name":"TEMP","value":37.2,"unit":"Cel","flags":["TEST"],"valid":false,"time":"$t","source":"$1"}
{"type":"obs","device":"0123456789ABCDEF","patient":"","location":"","code":151562,"name":"RR","value":null,"unit":"/min","flags":["SENTINEL"],"valid":false,"time":"$t","source":"$1"}
EOF
}

for variant in le-us be-ns; do
	order=${variant%-*}
	unit=${variant#*-}
	cap=$tmp/capture-$variant.pcap
	off4=$(mkpcap "$cap" "$order" "$unit")
	run "pcap-$variant" --json "$cap"
	{
		expected_ox "$cap#2"
		expected_vtp "$cap#3"
		expected_po "$cap#4"
	} >"$tmp/want-pcap"
	expect "pcap-$variant" 1 "$tmp/want-pcap" \
		"$cap:$off4: bytes outside an MLLP frame (runs of them, each counted once) (frame 4)" \
		"vigil-decode: 4 frames (1 not telemetry: udp_port 1), 3 messages, 7 observations, 0 alarms, 1 errors"
done

# --hl7-port moves HL7 off 2575: frames 2 and 4 are then not telemetry.
run pcap-port --json --hl7-port 2576 "$cap"
expected_vtp "$cap#3" >"$tmp/want-port"
expect pcap-port 0 "$tmp/want-port"

# --------------------------------------------------------------------------
# --fields
# --------------------------------------------------------------------------

msg=$tmp/fields.hl7
printf 'MSH|^~\\&|A^B~C|D&E\rPID||x\\F\\y^\\X41\\|\r' >"$msg"
run fields --fields "$msg"
"$py" - "$tmp/want-fields" <<'EOF'
import json, sys
t = {"segments": [
    ["MSH", [[[["|"]]], [[["^~\\&"]]], [[["A"], ["B"]], [["C"]]], [[["D", "E"]]]]],
    ["PID", [[[[""]]], [[["x|y"], ["A"]]], [[[""]]]]]]}
open(sys.argv[1], "w").write(json.dumps(t) + "\n")
EOF
expect fields 0 "$tmp/want-fields"

run fields-raw --fields --raw "$msg"
"$py" - "$tmp/want-fields-raw" <<'EOF'
import json, sys
t = {"segments": [
    ["MSH", [[[["|"]]], [[["^~\\&"]]], [[["A"], ["B"]], [["C"]]], [[["D", "E"]]]]],
    ["PID", [[[[""]]], [[["x\\F\\y"], ["\\X41\\"]]], [[[""]]]]]]}
open(sys.argv[1], "w").write(json.dumps(t) + "\n")
EOF
expect fields-raw 0 "$tmp/want-fields-raw"

# --------------------------------------------------------------------------
# Files that cannot be read, usage
# --------------------------------------------------------------------------

run missing --json "$tmp/nope.hl7" "$ox"
expected_ox "$ox#1" >"$tmp/want-missing"
expect missing 2 "$tmp/want-missing" "vigil-decode: $tmp/nope.hl7: No such file or directory"

: >"$tmp/empty"
for args in "" "--raw $ox" "--hl7-port 0 $ox" "--hl7-port x $ox" "--bogus $ox"; do
	# shellcheck disable=SC2086
	run usage $args
	if [ "$rc" -eq 2 ] && [ -s "$tmp/usage.err" ] && [ ! -s "$tmp/usage.out" ]; then
		ok "usage '$args': exit 2: $(head -n 1 "$tmp/usage.err")"
	else
		show usage
		fail "usage '$args': expected exit 2, a message and no output"
	fi
done

run help --help
if [ "$rc" -eq 0 ] && grep -qF -- "--fields" "$tmp/help.out"; then
	ok "--help"
else
	show help
	fail "--help"
fi

cli_summary decode-cli
