#!/usr/bin/env python3
"""mkcorpus.py - write the fuzz targets' seed corpora (tests/fuzz/corpus/).

Run once by hand when the seeds should change; the files it writes are
checked in. The bytes are built here from the specifications (MLLP framing,
dataplane/VTP.md, the Ethernet/IP/UDP/ICMP RFCs), not with vigil's own
encoders, so a seed does not inherit a bug of the code it exercises.

  corpus/hl7/    UDP payloads: every fixture of tests/fixtures/hl7 in one
                 MLLP frame, and datagrams of several frames, with bytes
                 outside frames, an unterminated frame, a 0x1C inside data.
  corpus/vtp/    VTP datagrams: VTP.md's example, a heartbeat, 64
                 observations, sentinels, a longer header; and runs of
                 frames of one device (concatenated; fuzz_vtp cuts them
                 apart by their headers) with gaps, reordering, copies, a
                 restart and the 2^32 wrap.
  corpus/frame/  two control bytes (fuzz_frame.c says what they are) and an
                 Ethernet frame: telemetry over IPv4 and IPv6, VLAN tags,
                 ARP, ICMP and ICMPv6 echo, neighbour solicitations.

Usage: tests/fuzz/mkcorpus.py  (from anywhere; it writes next to itself)
"""
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "hl7")
CORPUS = os.path.join(HERE, "corpus")


def write(kind, name, data):
    with open(os.path.join(CORPUS, kind, name), "wb") as f:
        f.write(data)


# --------------------------------------------------------------------------
# HL7 over MLLP


def mllp(msg):
    return b"\x0b" + msg + b"\x1c\x0d"


SHORT_ORU = (b"MSH|^~\\&|MON^0123456789ABCDEF^EUI-64|WARD||ICU|20260301120000+0000||"
             b"ORU^R01^ORU_R01|C1|P|2.6\r"
             b"PID|||P1^^^H^PI\rPV1||I|ICU^^BED1\r"
             b"OBR|1|||182777000^monitoring of patient^SNOMED-CT|||20260301120000+0000\r"
             b"OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|"
             b"||||R|||20260301120000+0000\r")


def hl7_corpus():
    fixtures = []
    for dirpath, _, names in os.walk(FIXTURES):
        for n in sorted(names):
            if n.endswith(".hl7"):
                fixtures.append(os.path.join(dirpath, n))
    for path in sorted(fixtures):
        with open(path, "rb") as f:
            write("hl7", "fixture-" + os.path.basename(path)[:-4], mllp(f.read()))
    write("hl7", "multi-two-frames", mllp(SHORT_ORU) + mllp(SHORT_ORU.replace(b"C1", b"C2")))
    write("hl7", "multi-outside-unterminated",
          b"junk" + mllp(SHORT_ORU) + b"\r\n" + b"\x0b" + SHORT_ORU + b"\x0b" + SHORT_ORU)
    write("hl7", "multi-fs-in-data",
          mllp(SHORT_ORU.replace(b"P1^^^H^PI", b"P\x1c1^^^H^PI")) + b"\x1c")
    write("hl7", "raw-no-framing", SHORT_ORU)
    # the limits, and every escape: paths a fuzzer would take long to find
    head = SHORT_ORU[:SHORT_ORU.index(b"OBX|")]
    obx = b"OBX|%d|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.%d|%d|264864^MDC_DIM_BEAT_PER_MIN^MDC\r"
    write("hl7", "limit-observations",
          mllp(head + b"".join(obx % (i, i, 60 + i) for i in range(1, DP_MAX_OBS + 3))))
    write("hl7", "limit-segments", mllp(head + b"NTE|1\r" * (DP_HL7_MAX_SEGMENTS + 2)))
    write("hl7", "limit-device-rows", mllp(head + b"".join(
        b"OBX|%d||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|%d.0.0.0|||||||X|||||||"
        b"%016X^EUI-64\r" % (i, i, 0x0011223344556600 + i) for i in range(1, 20)) +
        obx % (99, 99, 72)))
    write("hl7", "escapes", mllp(
        head + b"OBX|1|ST|0^VND^99VND|1.1.1.1|a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"
        b"\\X0D0a\\g\\.br\\h\\Z\\i\\X4\\j\\P\\k\\||||||F\r"))


# --------------------------------------------------------------------------
# VTP (dataplane/VTP.md)

EXAMPLE_HEX = """
56 54 50 01 20 00 00 04 01 23 45 67 89 ab cd ef
00 00 03 e8 00 00 00 00 18 98 b5 d9 bb 32 4d 15
00 02 41 82 40 52 00 00 00 00 00 00 00 04 0a a0
00 00 00 00 00 02 4b b8 40 56 00 00 00 00 00 00
00 04 02 20 00 14 00 00 00 02 4b 48 40 42 99 99
99 99 99 9a 00 04 17 a0 00 00 00 02 00 02 50 0a
7f f8 00 00 00 00 00 00 00 04 0a e0 00 00 00 00
"""

DP_MAX_OBS = 64  # dataplane.h
DP_HL7_MAX_SEGMENTS = 128  # dataplane.h
HR, SPO2, TEMP, RESP = 147842, 150456, 150344, 151562
BPM, PERCENT, DEGC = 264864, 262688, 268192
DEV = 0x001BC5FFFE001234
T0 = 1772366400123456789


def vtp(device, seq, time_ns, obs, hlen=32):
    head = b"VTP" + struct.pack(">BBBH", 1, hlen, 0, len(obs))
    head += struct.pack(">QII", device, seq, 0) + struct.pack(">q", time_ns)
    head += b"\0" * (hlen - 32)
    return head + b"".join(struct.pack(">IdII", c, v, u, f) for c, v, u, f in obs)


def vtp_corpus():
    example = bytes.fromhex(EXAMPLE_HEX)
    assert len(example) == 112
    write("vtp", "example", example)
    write("vtp", "heartbeat", vtp(DEV, 7, 0, []))
    write("vtp", "max-obs", vtp(DEV, 8, T0, [(HR, 60.0 + i, BPM, 0) for i in range(64)]))
    write("vtp", "sentinels", vtp(DEV, 9, T0, [
        (HR, v, BPM, 0) for v in (float("nan"), float("inf"), 8388607.0, -8388608.0,
                                   8388606.0, -8388606.0, -100.0, -999.0, -99.9, -0.0)]))
    write("vtp", "flags-units", vtp(DEV, 10, T0, [
        (SPO2, 88.0, PERCENT, 0x00140000), (TEMP, 37.2, DEGC, 0x00000002),
        (RESP, 12.0, 0, 0x01ff03ff), (0x0002F001, 1.0, 0x00049999, 0x00010000)]))
    write("vtp", "header-36", vtp(DEV, 11, T0, [(HR, 72.0, BPM, 0)], hlen=36))
    obs = [(HR, 72.0, BPM, 0)]
    # gap (3 missing), reordered 2, duplicate 5, in order 6
    write("vtp", "seq-gap-reorder-dup",
          b"".join(vtp(DEV, s, T0 + s, obs) for s in (1, 5, 2, 5, 6)))
    # an old stray frame, then a restart that two frames confirm
    write("vtp", "seq-jump-restart",
          b"".join(vtp(DEV, s, T0, obs) for s in (1000, 1001, 3, 900000, 900001, 900002)))
    # across the wrap, and two devices interleaved
    write("vtp", "seq-wrap-two-devices",
          b"".join(vtp(d, s, T0, []) for d, s in ((DEV, 0xFFFFFFFE), (DEV + 1, 5),
                                                  (DEV, 0xFFFFFFFF), (DEV + 1, 6),
                                                  (DEV, 0), (DEV, 1))))
    # more devices than fuzz_vtp's table of 16 holds
    write("vtp", "table-full", b"".join(vtp(DEV + i, 1, 0, []) for i in range(18)))


# --------------------------------------------------------------------------
# Ethernet frames (fuzz_frame.c's dp_local: MAC 02:00:5e:00:53:01,
# 192.0.2.1, 198.51.100.7, 2001:db8::1, fe80::1:2; HL7 2575, VTP 4575)

OUR_MAC = bytes.fromhex("02005e005301")
PEER_MAC = bytes.fromhex("020000000002")
OUR4, PEER4 = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 99])
OUR6 = bytes.fromhex("20010db8000000000000000000000001")
PEER6 = bytes.fromhex("20010db8000000000000000000000063")


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(">%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(ethertype, payload, vlans=(), dst=OUR_MAC):
    head = dst + PEER_MAC
    tpids = [0x88A8 if len(vlans) == 2 and i == 0 else 0x8100 for i in range(len(vlans))]
    for tpid, tci in zip(tpids, vlans):
        head += struct.pack(">HH", tpid, tci)
    return head + struct.pack(">H", ethertype) + payload


def ipv4(proto, payload, src=PEER4, dst=OUR4, options=b""):
    ihl = 5 + len(options) // 4
    head = struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(payload), 1, 0, 64,
                       proto, 0, src, dst) + options
    head = head[:10] + struct.pack(">H", csum(head)) + head[12:]
    return head + payload


def ipv6(nh, payload, src=PEER6, dst=OUR6, hop=64):
    return struct.pack(">IHBB", 0x60000000, len(payload), nh, hop) + src + dst + payload


def udp(sport, dport, payload, pseudo):
    head = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0)
    c = csum(pseudo(17, 8 + len(payload)) + head + payload) or 0xFFFF
    return head[:6] + struct.pack(">H", c) + payload


def pseudo4(src, dst):
    return lambda proto, n: src + dst + struct.pack(">BBH", 0, proto, n)


def pseudo6(src, dst):
    return lambda proto, n: src + dst + struct.pack(">IxxxB", n, proto)


def icmp4_echo(payload):
    head = struct.pack(">BBHHH", 8, 0, 0, 0x1234, 1)
    return head[:2] + struct.pack(">H", csum(head + payload)) + head[4:] + payload


def icmp6(typ, body, src, dst):
    msg = struct.pack(">BBH", typ, 0, 0) + body
    c = csum(pseudo6(src, dst)(58, len(msg)) + msg)
    return msg[:2] + struct.pack(">H", c) + msg[4:]


def frame_corpus():
    hl7 = mllp(SHORT_ORU)
    vtp_example = bytes.fromhex(EXAMPLE_HEX)
    p4 = pseudo4(PEER4, OUR4)
    p6 = pseudo6(PEER6, OUR6)
    ctl = b"\x00\x40"  # no PMD checksum word, UDP checksum not checked, 64 bytes tailroom
    ctl_udp = b"\x10\x40"  # UDP checksums checked (the seeds' are right)

    write("frame", "udp4-hl7", ctl_udp + eth(0x0800, ipv4(17, udp(40000, 2575, hl7, p4))))
    write("frame", "udp6-vtp", ctl_udp + eth(0x86DD, ipv6(17, udp(40001, 4575, vtp_example, p6))))
    write("frame", "vlan-udp4-hl7",
          ctl + eth(0x0800, ipv4(17, udp(40002, 2576, hl7, p4)), vlans=(0x0064,)))
    write("frame", "qinq-udp4-vtp",
          b"\x05\x00" + eth(0x0800, ipv4(17, udp(40003, 4575, vtp_example, p4)),
                            vlans=(0x0010, 0x0064)))
    hbh = bytes([17, 0, 1, 4, 0, 0, 0, 0])  # hop-by-hop: next UDP, PadN
    write("frame", "udp6-hbh-vtp",
          ctl_udp + eth(0x86DD, ipv6(0, hbh + udp(40004, 4575, vtp_example, p6))))
    arp = struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + PEER_MAC + PEER4 + b"\0" * 6 + OUR4
    write("frame", "arp-request", ctl + eth(0x0806, arp, dst=b"\xff" * 6))
    write("frame", "vlan-arp-request",
          b"\x00\x00" + eth(0x0806, arp + b"\0" * 18, vlans=(0x0005,), dst=b"\xff" * 6))
    write("frame", "icmp4-echo", ctl + eth(0x0800, ipv4(1, icmp4_echo(b"ping" * 8))))
    write("frame", "icmp4-echo-options",
          ctl + eth(0x0800, ipv4(1, icmp4_echo(b"abc"), dst=bytes([198, 51, 100, 7]),
                                 options=b"\x01\x01\x01\x00")))
    write("frame", "icmp6-echo",
          ctl + eth(0x86DD, ipv6(58, icmp6(128, struct.pack(">HH", 7, 1) + b"hello",
                                          PEER6, OUR6))))
    sn = bytes.fromhex("ff0200000000000000000001ff") + OUR6[13:]
    ns_body = b"\0" * 4 + OUR6
    slla = bytes([1, 1]) + PEER_MAC
    write("frame", "nd-solicit",
          ctl + eth(0x86DD, ipv6(58, icmp6(135, ns_body + slla, PEER6, sn), dst=sn, hop=255),
                    dst=bytes.fromhex("3333ff000001")))
    unspec = b"\0" * 16
    write("frame", "nd-solicit-dad-no-room",
          b"\x00\x00" + eth(0x86DD, ipv6(58, icmp6(135, ns_body, unspec, sn), src=unspec,
                                         dst=sn, hop=255), dst=bytes.fromhex("3333ff000001")))
    dst_opts = bytes([60, 0, 1, 4, 0, 0, 0, 0])  # destination options, next: another
    chain = dst_opts * 8 + bytes([17]) + dst_opts[1:]
    write("frame", "udp6-ext-chain",
          ctl + eth(0x86DD, ipv6(60, chain + udp(40006, 4575, vtp_example, p6))))
    # wrong IPv4 and UDP checksums, which control bit 5 makes right
    broken = bytearray(eth(0x0800, ipv4(17, udp(40005, 2575, b"\x0bMSH|^~\\&|\x1c\x0d", p4))))
    broken[24:26] = b"\0\0"
    broken[40:42] = b"\x12\x34"
    write("frame", "fix-udp4-bad-sums", b"\x30\x10" + bytes(broken))


def main():
    for kind in ("hl7", "vtp", "frame"):
        d = os.path.join(CORPUS, kind)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    hl7_corpus()
    vtp_corpus()
    frame_corpus()
    return 0


if __name__ == "__main__":
    sys.exit(main())
