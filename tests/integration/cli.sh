#!/usr/bin/env bash
# cli.sh VIGILD - vigild's command line and its error messages.
#
# An operator meets vigild first through --help, --version and the messages
# it prints when the configuration or the platform is wrong. Each of those
# messages must name the file, the key or the fix; this test holds vigild to
# the exact fragments that matter (FILE:LINE:COL:, the key, "vfio-pci",
# "lcore") and checks that --print-config prints a file that loads back to
# the same configuration.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 VIGILD" >&2
	exit 2
fi
vigild=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() {
	echo "FAIL: $*"
	failed=1
}

# run NAME ARGS...: run vigild with a timeout; status in $rc, output in
# $tmp/NAME.out and $tmp/NAME.err.
run() {
	local name=$1
	shift
	rc=0
	timeout 60 "$vigild" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
}

show() {
	echo "  exit $rc; stdout:"
	sed 's/^/    /' "$tmp/$1.out"
	echo "  stderr:"
	sed 's/^/    /' "$tmp/$1.err"
}

# expect_failure NAME FRAGMENT...: non-zero exit (not a timeout) and every
# fragment on stderr.
expect_failure() {
	local name=$1 fragment ok=1
	shift
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
		ok=0
		echo "FAIL: $name: expected a failure, got exit $rc"
	fi
	for fragment in "$@"; do
		if ! grep -qF -- "$fragment" "$tmp/$name.err"; then
			ok=0
			echo "FAIL: $name: stderr does not contain '$fragment'"
		fi
	done
	if [ "$ok" -eq 1 ]; then
		# vigild's own line, not the EAL's chatter before it.
		echo "ok: $name (exit $rc): $(grep -m 1 '^vigild' "$tmp/$name.err" ||
			head -n 1 "$tmp/$name.err")"
	else
		show "$name"
		failed=1
	fi
}

# --help
run help --help
if [ "$rc" -ne 0 ] || ! grep -qF -- "--pcap" "$tmp/help.out"; then
	fail "--help: expected exit 0 and --pcap in the text"
	show help
else
	echo "ok: --help"
fi

# --version
run version --version
if [ "$rc" -ne 0 ] || ! head -n 1 "$tmp/version.out" | grep -q '^vigild '; then
	fail "--version: expected exit 0 and a line starting 'vigild '"
	show version
else
	echo "ok: --version: $(head -n 1 "$tmp/version.out")"
fi

# An unknown key is reported as FILE:LINE:COL: with its name.
cat >"$tmp/unknown.yaml" <<'EOF'
# a key that does not exist, on line 3, column 1
workers: 1
frobnicate: 3
EOF
run unknown-key --config "$tmp/unknown.yaml" --print-config
expect_failure unknown-key "$tmp/unknown.yaml:3:1:" "frobnicate"

# A nested unknown key: the line and column of the key itself.
cat >"$tmp/unknown-nested.yaml" <<'EOF'
ports:
  - device: net_null0
    adresses: [192.0.2.1]
EOF
run unknown-nested --config "$tmp/unknown-nested.yaml" --print-config
expect_failure unknown-nested "$tmp/unknown-nested.yaml:3:5:" "adresses"

# A missing config file is named.
run missing-config --config "$tmp/no-such-config.yaml"
expect_failure missing-config "$tmp/no-such-config.yaml"

# A missing --pcap file is named.
run missing-pcap --pcap "$tmp/no-such-capture.pcap" --json
expect_failure missing-pcap "$tmp/no-such-capture.pcap"

# A PCI port that the EAL does not see: the message says how to bind it.
cat >"$tmp/pci.yaml" <<'EOF'
eal: ["--no-pci", "--no-huge", "--no-shconf", "-m", "512"]
ports: [{device: "0000:99:00.0", addresses: [192.0.2.1]}]
storage: {dir: null}
EOF
run pci-port --config "$tmp/pci.yaml" --json
expect_failure pci-port "0000:99:00.0" "not found" "vfio-pci"

# More workers than lcores.
cat >"$tmp/lcores.yaml" <<'EOF'
eal: ["--no-pci", "--no-huge", "--no-shconf", "-m", "512", "-l", "0-1"]
workers: 3
ports: [{device: "net_null0", addresses: [192.0.2.1]}]
storage: {dir: null}
EOF
run lcores --config "$tmp/lcores.yaml" --json
expect_failure lcores "lcore"

# The final report cannot be written (standard output on a full disk): the
# run fails and says why, rather than exiting 0 with the counters lost.
python3 - "$tmp/one.pcap" <<'PY'
import struct, sys
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    f.write(struct.pack("<IIII", 0, 0, 10, 10) + b"\x01" * 10)
PY
rc=0
timeout 60 "$vigild" --pcap "$tmp/one.pcap" >/dev/full 2>"$tmp/full-stdout.err" || rc=$?
: >"$tmp/full-stdout.out"
expect_failure full-stdout "writing the report" "No space left on device"

# --print-config prints a file that loads back to itself: once from a
# config that sets every key away from its default, once from the defaults.
cat >"$tmp/full.yaml" <<'EOF'
eal: ["--no-pci", "--no-huge", "--no-shconf", "-m", "256", "--log-level", "lib.eal:warning"]
workers: 1
ports:
  - device: "net_null0"
    addresses: [192.0.2.1, "2001:db8::1", 198.51.100.7]
  - device: "net_pcap1,rx_pcap=/tmp/x.pcap"
    addresses: ["2001:db8:1::1"]
telemetry:
  hl7_ports: [2575, 2576]
  vtp_ports: [4575]
  udp_checksum: false
mempool:
  mbufs: 16383
  cache: 128
rx_desc: 512
tx_desc: 256
promiscuous: false
stats_interval: 5
EOF
round_trip() {
	local name=$1
	shift
	run "$name-1" "$@" --print-config
	if [ "$rc" -ne 0 ] || [ ! -s "$tmp/$name-1.out" ]; then
		fail "$name: --print-config failed"
		show "$name-1"
		return
	fi
	cp "$tmp/$name-1.out" "$tmp/$name-printed.yaml"
	run "$name-2" --config "$tmp/$name-printed.yaml" --print-config
	if [ "$rc" -ne 0 ]; then
		fail "$name: the printed configuration does not load"
		show "$name-2"
		return
	fi
	if ! diff -u "$tmp/$name-1.out" "$tmp/$name-2.out"; then
		fail "$name: printing the printed configuration gives a different text"
		return
	fi
	echo "ok: $name: --print-config loads back to the same text"
}
round_trip print-full --config "$tmp/full.yaml"
round_trip print-defaults
# Every value set above must show in the printed form.
for fragment in '"256"' '"lib.eal:warning"' 198.51.100.7 2001:db8:1::1 2576 16383 'cache: 128' \
	'rx_desc: 512' 'tx_desc: 256' 'promiscuous: false' 'stats_interval: 5' \
	'udp_checksum: false' 'rx_pcap=/tmp/x.pcap'; do
	if ! grep -qF -- "$fragment" "$tmp/print-full-1.out"; then
		fail "print-full: '$fragment' is not in the printed configuration"
	fi
done

if [ "$failed" -ne 0 ]; then
	echo "cli: FAILED"
	exit 1
fi
echo "cli: all checks passed"
