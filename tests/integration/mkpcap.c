/*
 * mkpcap.c - vigil-mkpcap: write a capture whose composition is known, and
 * say what vigild must count when it reads it.
 *
 *   vigil-mkpcap [--seed N] [--count N] [--mix demo|known] [--jumbo] OUT.pcap
 *
 * The integration test and the demo replay the capture through a pcap port
 * and compare vigild's counters with the JSON object this program prints on
 * stdout:
 *
 *   {"rx_packets": N, "rx_bytes": N, "tx_packets": N,
 *    "outcomes": {"telemetry_hl7": N, ...}, "drops": {"eth_runt": N, ...}}
 *
 * Every outcome and drop counter of the data plane is listed, zeros
 * included, so that a frame counted under the wrong reason fails the
 * comparison on both counters. tx_packets is the number of replies vigild
 * owes (ARP, echo, neighbour advertisements), all of which a pcap port's TX
 * accepts. The names come from the X-macro lists in dataplane.h, so they
 * cannot drift from vigild's.
 *
 * The appliance is 192.0.2.1 and 2001:db8::1 with telemetry on UDP 2575
 * (HL7/MLLP) and 4575 (VTP), vigild's defaults. Destination MACs are
 * whatever a sender would use; vigild does not filter on them. Each frame
 * has exactly one thing about it that decides its fate, so the expected
 * counter of every frame is unambiguous: a broken frame is a well-formed
 * one with a single field changed (and any checksum that covers the field
 * made right again), and it is the first check dp_classify() makes that
 * fails. Frames shorter than 60 bytes are padded with zeros as a NIC
 * delivers them, except those whose shortness is the point (runts, frames
 * that end inside a header), which keep the length a capture on the
 * sending host would show.
 *
 * --mix known has frames for every outcome and for every drop reason that
 * a replay through a pcap port can reach. Two it cannot, and they stay 0:
 *   reply_no_room  a reply needs at most l3_off + 72 bytes (a neighbour
 *                  advertisement behind two tags, 94), and dp_process() is
 *                  given the whole 2048-byte data room of the mbuf;
 *   tx_full        net_pcap's TX without a tx_pcap/tx_iface drops in
 *                  software and reports every packet as sent.
 * A third, rx_chained, needs --jumbo: frames larger than the mbuf data room
 * (2048 bytes), which DPDK 22.11's net_pcap reads from a file as a chain
 * of mbufs. It is not in the mix by default because net_pcap with
 * infinite_rx=1 refuses a capture that holds one ("Multiseg mbufs are not
 * supported in infinite_rx mode": the RX queue set-up fails), and newer
 * net_pcap sources drop such frames unless scattered RX is on.
 *
 * The order of the frames and their variable fields (addresses, ports,
 * values) come from a xorshift generator seeded with --seed, so a seed and
 * a count always give the same bytes.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../dataplane/dataplane.h" /* the counter lists only; nothing is linked */
#include "frames.h"

#define MK_FRAME_ROOM 4096
#define MK_ETH_MIN 60 /* without the FCS, as a PMD hands a frame over */
#define MK_RUNT_LEN 10
#define MK_MBUF_ROOM 2048 /* RTE_MBUF_DEFAULT_DATAROOM: bigger frames arrive chained */
#define MK_JUMBO_MIN 2900 /* a trend upload at least this long: well past one mbuf */
#define MK_MAX_COUNT 10000000ul
#define MK_TS_START_USEC 1700000000000000ull /* 2023-11-14, any fixed time */
#define MK_TS_STEP_USEC 1000u

#define MK_APPLIANCE_V4 0xc0000201u  /* 192.0.2.1 */
#define MK_OTHER_ARP_V4 0xc0000263u  /* 192.0.2.99, not ours */
#define MK_OTHER_ICMP_V4 0xc0000232u /* 192.0.2.50, not ours */
#define MK_SYSLOG_PORT 514
#define MK_HL7_PORT 2575
#define MK_VTP_PORT 4575
#define MK_DNS_PORT 53

static const uint8_t appliance_v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x01};
static const uint8_t other_v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x32}; /* not ours */
static const uint8_t all_routers_v6[16] = {0xff, 0x02, [15] = 0x02};
static const uint8_t all_routers_mac[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x02};
static const uint8_t appliance_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t broadcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t lldp_mac[6] = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e};

/* ------------------------------------------------------------------------ */
/* Deterministic randomness                                                  */
/* ------------------------------------------------------------------------ */

struct mk_rng {
	uint64_t state;
};

static void
rng_seed(struct mk_rng *r, uint64_t seed)
{
	/* Spread the seed so that 0, 1, 2 give unrelated streams; xorshift
	 * must never hold zero. */
	r->state = (seed + 1) * 0x9e3779b97f4a7c15ull;
	if (r->state == 0) {
		r->state = 0x2545f4914f6cdd1dull;
	}
}

static uint64_t
rng_next(struct mk_rng *r)
{
	uint64_t x = r->state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->state = x;
	return x;
}

/* Uniform enough in [0, n) for test data; n > 0. */
static uint32_t
rng_below(struct mk_rng *r, uint32_t n)
{
	return (uint32_t)(rng_next(r) % n);
}

/* ------------------------------------------------------------------------ */
/* Header fields and checksums                                               */
/* ------------------------------------------------------------------------ */

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
set16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* After a change to an ICMP message of @len bytes: its checksum right again. */
static void
icmp4_fix_cksum(uint8_t *icmp, size_t len)
{
	set16(icmp + 2, 0);
	set16(icmp + 2, fr_sum_finish(fr_sum_bytes(icmp, len, 0)));
}

/* The same for the ICMPv6 message right after the IPv6 header at @ip6, as
 * long as the payload length says; the pseudo-header is in the sum (RFC 4443). */
static void
icmp6_fix_cksum(uint8_t *ip6)
{
	uint16_t len = get16(ip6 + 4);
	uint8_t *icmp = ip6 + 40;
	uint32_t pseudo = fr_sum_bytes(ip6 + 8, 32, 0) + len + 58;

	set16(icmp + 2, 0);
	set16(icmp + 2, fr_sum_finish(fr_sum_bytes(icmp, len, pseudo)));
}

/* Zeros up to the Ethernet minimum, as a NIC delivers a short frame. */
static size_t
pad_to_min(uint8_t *buf, size_t len)
{
	if (len >= MK_ETH_MIN) {
		return len;
	}
	memset(buf + len, 0, MK_ETH_MIN - len);
	return MK_ETH_MIN;
}

/* ------------------------------------------------------------------------ */
/* Senders and payloads                                                      */
/* ------------------------------------------------------------------------ */

/* One simulated device on the ward: host number 10..249 of the subnets. */
struct mk_host {
	unsigned n;
	uint32_t ipv4;
	uint8_t ipv6[16];
	uint8_t mac[6];
	uint16_t sport;
};

static void
pick_host(struct mk_rng *r, struct mk_host *h)
{
	static const uint8_t prefix[16] = {0x20, 0x01, 0x0d, 0xb8};

	h->n = 10 + rng_below(r, 240);
	h->ipv4 = 0xc0000200u | h->n;
	memcpy(h->ipv6, prefix, 16);
	h->ipv6[15] = (uint8_t)h->n;
	memcpy(h->mac, (const uint8_t[6]){0x02, 0x00, 0x00, 0x00, 0x10, (uint8_t)h->n}, 6);
	h->sport = (uint16_t)(32768 + rng_below(r, 28000));
}

static void
l2_from(struct fr_l2 *l2, const struct mk_host *h, const uint8_t dst[6])
{
	memset(l2, 0, sizeof(*l2));
	memcpy(l2->dst, dst, 6);
	memcpy(l2->src, h->mac, 6);
}

/* An MLLP-framed HL7 v2 ORU^R01 as IHE PCD-01 shapes it: SpO2 and pulse. */
static size_t
hl7_payload(struct mk_rng *r, const struct mk_host *h, char *buf, size_t room)
{
	unsigned msg_id = rng_below(r, 100000000);
	unsigned spo2 = 85 + rng_below(r, 15);
	unsigned pulse = 50 + rng_below(r, 70);
	unsigned hour = rng_below(r, 24), minute = rng_below(r, 60);
	int n;

	n = snprintf(buf, room,
		     "\x0bMSH|^~\\&|MON%03u^0012345600%06X^EUI-64|ICU3|VIGIL|HOSP|"
		     "20240301%02u%02u00||ORU^R01^ORU_R01|%08u|P|2.6|||AL|NE||||||"
		     "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r"
		     "PID|||PAT%05u^^^HOSP^MR||DOE^JANE\r"
		     "OBR|1|||182777000^monitoring of patient^SCT|||20240301%02u%02u00\r"
		     "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|%u|"
		     "262688^MDC_DIM_PERCENT^MDC|||||R\r"
		     "OBX|2|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.1.1.2|%u|"
		     "264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R\r"
		     "\x1c\r",
		     h->n, h->n, hour, minute, msg_id, h->n, hour, minute, spo2, pulse);
	if (n < 0 || (size_t)n >= room) {
		return 0;
	}
	return (size_t)n;
}

/*
 * A trend upload: one ORU^R01 carrying a run of SpO2 and pulse pairs a
 * second apart, as a monitor sends when it reconnects. At least
 * MK_JUMBO_MIN bytes, so that its frame does not fit in one mbuf.
 */
static size_t
hl7_trend_payload(struct mk_rng *r, const struct mk_host *h, char *buf, size_t room)
{
	unsigned msg_id = rng_below(r, 100000000);
	unsigned hour = rng_below(r, 24), minute = rng_below(r, 60);
	unsigned second = 0;
	size_t len;
	int n;

	n = snprintf(buf, room,
		     "\x0bMSH|^~\\&|MON%03u^0012345600%06X^EUI-64|ICU3|VIGIL|HOSP|"
		     "20240301%02u%02u00||ORU^R01^ORU_R01|%08u|P|2.6|||AL|NE||||||"
		     "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r"
		     "PID|||PAT%05u^^^HOSP^MR||DOE^JANE\r"
		     "OBR|1|||182777000^monitoring of patient^SCT|||20240301%02u%02u00\r",
		     h->n, h->n, hour, minute, msg_id, h->n, hour, minute);
	if (n < 0 || (size_t)n >= room) {
		return 0;
	}
	len = (size_t)n;
	while (len < MK_JUMBO_MIN && second < 60) {
		unsigned spo2 = 85 + rng_below(r, 15);
		unsigned pulse = 50 + rng_below(r, 70);

		n = snprintf(buf + len, room - len,
			     "OBX|%u|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|%u|"
			     "262688^MDC_DIM_PERCENT^MDC|||||R|||20240301%02u%02u%02u\r"
			     "OBX|%u|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.1.1.2|%u|"
			     "264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||20240301%02u%02u%02u\r",
			     2 * second + 1, spo2, hour, minute, second, 2 * second + 2, pulse,
			     hour, minute, second);
		if (n < 0 || (size_t)n >= room - len) {
			return 0;
		}
		len += (size_t)n;
		second++;
	}
	if (len < MK_JUMBO_MIN || room - len < 3) {
		return 0;
	}
	memcpy(buf + len, "\x1c\r", 2);
	return len + 2;
}

/*
 * A VTP-shaped datagram (magic, version, device id, sequence, time, one
 * observation). The data plane only counts it, so its exact layout does
 * not matter here; it is not a reference VTP message.
 */
static size_t
vtp_payload(struct mk_rng *r, const struct mk_host *h, uint8_t *buf, size_t room)
{
	uint32_t seq = rng_below(r, 1000000);
	uint32_t value = 60 + rng_below(r, 60);
	size_t i = 0;

	if (room < 32) {
		return 0;
	}
	memcpy(buf, "VTP", 3);
	buf[3] = 1;
	for (i = 4; i < 32; i++) {
		buf[i] = 0;
	}
	buf[7] = (uint8_t)h->n;
	buf[8] = (uint8_t)(seq >> 24);
	buf[9] = (uint8_t)(seq >> 16);
	buf[10] = (uint8_t)(seq >> 8);
	buf[11] = (uint8_t)seq;
	buf[20] = 0x02; /* MDC code 147842 (heart rate) */
	buf[21] = 0x41;
	buf[22] = 0x82;
	buf[27] = (uint8_t)value;
	return 32;
}

/* ------------------------------------------------------------------------ */
/* Frame kinds                                                               */
/* ------------------------------------------------------------------------ */

/* Every kind ends in one counter: an outcome or a drop. */
struct mk_expect {
	bool is_drop;
	unsigned index; /* enum dp_outcome or enum dp_drop */
	bool is_reply;	/* the outcome is a transmitted reply */
};

/*
 * Builds one frame of a kind into @buf and returns its length (0 if it
 * could not be built). @nth counts the frames of this kind so far (0, 1,
 * ...): kinds with two variants alternate on it, so both appear as soon as
 * the kind has two frames.
 */
typedef size_t (*mk_build_fn)(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room);

struct mk_kind {
	const char *name;
	mk_build_fn build;
	struct mk_expect expect;
	unsigned weight_known;
	unsigned weight_demo; /* 0: not in the demo mix */
	bool wire_len;	      /* the length is the point: never padded to 60 bytes */
};

#define OUTCOME(name)                       \
	{                                   \
		false, DP_OUT_##name, false \
	}
#define REPLY(name)                        \
	{                                  \
		false, DP_OUT_##name, true \
	}
#define DROP(name)                          \
	{                                   \
		true, DP_DROP_##name, false \
	}

static size_t
udp4_telemetry(struct mk_rng *r, uint8_t *buf, size_t room, const struct fr_l2 *l2_in,
	       const struct mk_host *h, uint16_t dport)
{
	uint8_t payload[1024];
	size_t plen;

	if (dport == MK_HL7_PORT) {
		plen = hl7_payload(r, h, (char *)payload, sizeof(payload));
	} else {
		plen = vtp_payload(r, h, payload, sizeof(payload));
	}
	if (plen == 0) {
		return 0;
	}
	return fr_udp4(buf, room, l2_in, h->ipv4, MK_APPLIANCE_V4, h->sport, dport, payload, plen);
}

static size_t
udp6_telemetry(struct mk_rng *r, uint8_t *buf, size_t room, const struct mk_host *h, uint16_t dport)
{
	uint8_t payload[1024];
	struct fr_l2 l2;
	size_t plen;

	if (dport == MK_HL7_PORT) {
		plen = hl7_payload(r, h, (char *)payload, sizeof(payload));
	} else {
		plen = vtp_payload(r, h, payload, sizeof(payload));
	}
	if (plen == 0) {
		return 0;
	}
	l2_from(&l2, h, appliance_mac);
	return fr_udp6(buf, room, &l2, h->ipv6, appliance_v6, h->sport, dport, payload, plen);
}

static size_t
build_hl7_udp4(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;
	struct fr_l2 l2;

	(void)nth;
	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	return udp4_telemetry(r, buf, room, &l2, &h, MK_HL7_PORT);
}

static size_t
build_hl7_udp6(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;

	(void)nth;
	pick_host(r, &h);
	return udp6_telemetry(r, buf, room, &h, MK_HL7_PORT);
}

static size_t
build_vtp_udp4(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;
	struct fr_l2 l2;

	(void)nth;
	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	return udp4_telemetry(r, buf, room, &l2, &h, MK_VTP_PORT);
}

static size_t
build_vtp_udp6(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;

	(void)nth;
	pick_host(r, &h);
	return udp6_telemetry(r, buf, room, &h, MK_VTP_PORT);
}

/* HL7 behind one 802.1Q tag (a ward VLAN). */
static size_t
build_hl7_vlan1(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;
	struct fr_l2 l2;

	(void)nth;
	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	l2.n_vlan = 1;
	l2.vlan_tci[0] = (uint16_t)(100 + rng_below(r, 10));
	return udp4_telemetry(r, buf, room, &l2, &h, MK_HL7_PORT);
}

/* VTP behind 802.1ad + 802.1Q (a provider bridge in between). */
static size_t
build_vtp_vlan2(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;
	struct fr_l2 l2;

	(void)nth;
	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	l2.n_vlan = 2;
	l2.vlan_tci[0] = 10;
	l2.vlan_tci[1] = (uint16_t)(200 + rng_below(r, 10));
	return udp4_telemetry(r, buf, room, &l2, &h, MK_VTP_PORT);
}

static size_t
build_vlan3(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;
	struct fr_l2 l2;

	(void)nth;
	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	l2.n_vlan = 3;
	l2.vlan_tci[0] = 10;
	l2.vlan_tci[1] = 20;
	l2.vlan_tci[2] = 30;
	return udp4_telemetry(r, buf, room, &l2, &h, MK_HL7_PORT);
}

static size_t
arp_from_host(struct mk_rng *r, uint8_t *buf, size_t room, uint16_t op, uint32_t tpa)
{
	struct mk_host h;
	struct fr_l2 l2;

	pick_host(r, &h);
	l2_from(&l2, &h, broadcast_mac);
	if (op != 1) {
		/* A reply goes to the host that asked, another ward device. */
		memcpy(l2.dst, (const uint8_t[6]){0x02, 0x00, 0x00, 0x00, 0x20, 0x01}, 6);
	}
	return fr_arp(buf, room, &l2, op, h.ipv4, tpa);
}

static size_t
build_arp_ours(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	(void)nth;
	return arp_from_host(r, buf, room, 1, MK_APPLIANCE_V4);
}

static size_t
build_arp_other(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	(void)nth;
	return arp_from_host(r, buf, room, 1, MK_OTHER_ARP_V4);
}

static size_t
build_arp_reply(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	(void)nth;
	return arp_from_host(r, buf, room, 2, 0xc0000264u);
}

static size_t
icmp4_echo_to(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room, uint32_t dst)
{
	static const char data[] = "vigil-mkpcap echo data 0123456789abcdef";
	struct mk_host h;
	struct fr_l2 l2;

	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	return fr_icmp4_echo(buf, room, &l2, h.ipv4, dst, (uint16_t)(0x1000 + h.n), (uint16_t)nth,
			     data, sizeof(data) - 1);
}

static size_t
build_icmp_ours(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	return icmp4_echo_to(r, nth, buf, room, MK_APPLIANCE_V4);
}

static size_t
build_icmp_other(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	return icmp4_echo_to(r, nth, buf, room, MK_OTHER_ICMP_V4);
}

/* An ICMPv6 echo request from a ward host; the ICMPv6 message starts at 54. */
static size_t
icmp6_echo_to(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room, const uint8_t dst[16])
{
	static const char data[] = "vigil-mkpcap echo6";
	struct mk_host h;
	struct fr_l2 l2;

	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	return fr_icmp6_echo(buf, room, &l2, h.ipv6, dst, (uint16_t)(0x2000 + h.n), (uint16_t)nth,
			     data, sizeof(data) - 1);
}

static size_t
build_icmp6_ours(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	return icmp6_echo_to(r, nth, buf, room, appliance_v6);
}

static size_t
build_ns_ours(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;
	struct fr_l2 l2;

	(void)nth;
	pick_host(r, &h);
	l2_from(&l2, &h, broadcast_mac); /* fr_nd_solicit picks 33:33:ff:00:00:01 */
	return fr_nd_solicit(buf, room, &l2, h.ipv6, appliance_v6);
}

static size_t
build_tcp(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;
	struct fr_l2 l2;

	(void)nth;
	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	return fr_tcp4(buf, room, &l2, h.ipv4, MK_APPLIANCE_V4, h.sport, MK_HL7_PORT);
}

/* A DNS query for "hosp" to the appliance: a 50-byte IPv4 packet at 14. */
static size_t
dns_query_udp4(struct mk_rng *r, uint8_t *buf, size_t room)
{
	static const uint8_t query[] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00,
					0x00, 0x00, 0x00, 0x00, 0x04, 'h',  'o',  's',
					'p',  0x00, 0x00, 0x01, 0x00, 0x01};
	struct mk_host h;
	struct fr_l2 l2;

	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	return fr_udp4(buf, room, &l2, h.ipv4, MK_APPLIANCE_V4, h.sport, MK_DNS_PORT, query,
		       sizeof(query));
}

static size_t
build_udp_dns(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	(void)nth;
	return dns_query_udp4(r, buf, room);
}

/* Untagged UDP/IPv4 HL7; the IPv4 header starts at 14. */
static size_t
hl7_udp4_plain(struct mk_rng *r, uint8_t *buf, size_t room)
{
	struct mk_host h;
	struct fr_l2 l2;

	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	return udp4_telemetry(r, buf, room, &l2, &h, MK_HL7_PORT);
}

static size_t
build_ipv4_bad_cksum(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	size_t len = hl7_udp4_plain(r, buf, room);

	(void)nth;
	if (len != 0) {
		buf[14 + 10] ^= 0xff; /* flips the sum by 0xff00: never still valid */
	}
	return len;
}

/* Bad UDP checksum on a telemetry port (the only ones vigil verifies),
 * alternately over IPv4 and IPv6. */
static size_t
build_udp_bad_cksum(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;
	size_t len, payload_off;

	if (nth % 2 == 0) {
		len = hl7_udp4_plain(r, buf, room);
		payload_off = 14 + 20 + 8;
	} else {
		pick_host(r, &h);
		len = udp6_telemetry(r, buf, room, &h, MK_HL7_PORT);
		payload_off = 14 + 40 + 8;
	}
	if (len != 0) {
		/* One payload bit: the checksum field stays non-zero, so
		 * IPv4 cannot read it as "no checksum". */
		buf[payload_off + 1] ^= 0x01;
	}
	return len;
}

/* First fragments (MF) and later ones (offset) alternately. */
static size_t
build_ipv4_fragment(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	size_t len = hl7_udp4_plain(r, buf, room);
	uint8_t *ip = buf + 14;

	if (len == 0) {
		return 0;
	}
	if (nth % 2 == 0) {
		ip[6] = 0x20; /* MF, offset 0 */
		ip[7] = 0x00;
	} else {
		ip[6] = 0x00; /* last fragment at offset 185 * 8 */
		ip[7] = 185;
	}
	fr_ipv4_fix_cksum(buf, 14);
	return len;
}

static size_t
build_ipv6_fragment(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	static const uint8_t frag[] = {44};
	char payload[1024];
	struct mk_host h;
	struct fr_l2 l2;
	size_t plen;

	(void)nth;
	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	plen = hl7_payload(r, &h, payload, sizeof(payload));
	if (plen == 0) {
		return 0;
	}
	return fr_udp6_ext(buf, room, &l2, h.ipv6, appliance_v6, frag, 1, h.sport, MK_HL7_PORT,
			   payload, plen);
}

/* IPv4 total length 200 bytes past the end of the (padded) frame. */
static size_t
build_ipv4_length(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	size_t len = hl7_udp4_plain(r, buf, room);
	uint8_t *ip = buf + 14;
	unsigned total;

	(void)nth;
	if (len == 0) {
		return 0;
	}
	total = (unsigned)(len - 14) + 200;
	ip[2] = (uint8_t)(total >> 8);
	ip[3] = (uint8_t)total;
	fr_ipv4_fix_cksum(buf, 14);
	return len;
}

/* The first 10 bytes of a telemetry frame, as a collision fragment. */
static size_t
build_runt(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	size_t len = hl7_udp4_plain(r, buf, room);

	(void)nth;
	return len == 0 ? 0 : MK_RUNT_LEN;
}

/* An LLDP frame from a ward switch: chassis id, port id, TTL, end. */
static size_t
build_lldp(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	const uint8_t tlvs[] = {
		0x02, 0x07, 0x04, 0x02, 0x00, 0x00,
		0x00, 0x30, 0x00,						 /* chassis: MAC */
		0x04, 0x04, 0x05, 'g',	'e',  (uint8_t)('0' + rng_below(r, 10)), /* port */
		0x06, 0x02, 0x00, 0x78,						 /* TTL 120 s */
		0x00, 0x00,							 /* end */
	};
	size_t len = 14 + sizeof(tlvs);

	(void)nth;
	if (len > room) {
		return 0;
	}
	memcpy(buf, lldp_mac, 6);
	memcpy(buf + 6, (const uint8_t[6]){0x02, 0x00, 0x00, 0x00, 0x30, 0x00}, 6);
	buf[12] = 0x88;
	buf[13] = 0xcc;
	memcpy(buf + 14, tlvs, sizeof(tlvs));
	return len;
}

/* ------------------------------------------------------------------------ */
/* Frames that end early or lie about a length                               */
/* ------------------------------------------------------------------------ */

/* Over one mbuf: a trend upload to the HL7 port, valid in every other way. */
static size_t
build_jumbo(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	char payload[MK_FRAME_ROOM];
	struct mk_host h;
	struct fr_l2 l2;
	size_t plen, len;

	(void)nth;
	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	plen = hl7_trend_payload(r, &h, payload, sizeof(payload));
	if (plen == 0) {
		return 0;
	}
	len = fr_udp4(buf, room, &l2, h.ipv4, MK_APPLIANCE_V4, h.sport, MK_HL7_PORT, payload, plen);
	return len > MK_MBUF_ROOM ? len : 0;
}

/* Cut inside the last of one or two tags: its TCI there, the type after it
 * missing (at 16 behind one tag, at 20 behind two). */
static size_t
build_vlan_truncated(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;
	struct fr_l2 l2;

	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	l2.n_vlan = (uint8_t)(1 + nth % 2);
	l2.vlan_tci[0] = (uint16_t)(100 + rng_below(r, 10));
	l2.vlan_tci[1] = (uint16_t)(200 + rng_below(r, 10));
	if (udp4_telemetry(r, buf, room, &l2, &h, MK_HL7_PORT) == 0) {
		return 0;
	}
	return 12 + 4 * (size_t)l2.n_vlan;
}

/* A request for us with hardware type 6 (IEEE 802), padded as usual; or
 * one cut after 24 of its 28 bytes, before the target address. */
static size_t
build_arp_malformed(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	size_t len = arp_from_host(r, buf, room, 1, MK_APPLIANCE_V4);

	if (len == 0) {
		return 0;
	}
	if (nth % 2 == 0) {
		set16(buf + 14, 6);
		return pad_to_min(buf, len);
	}
	return 14 + 24;
}

/* A telemetry frame cut 0 to 19 bytes into its IPv4 header. */
static size_t
build_ipv4_truncated(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	(void)nth;
	if (hl7_udp4_plain(r, buf, room) == 0) {
		return 0;
	}
	return 14 + rng_below(r, 20);
}

/* Version 6 behind the IPv4 EtherType; the header checksum still right. */
static size_t
build_ipv4_version(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	size_t len = hl7_udp4_plain(r, buf, room);

	(void)nth;
	if (len != 0) {
		buf[14] = 0x65;
		fr_ipv4_fix_cksum(buf, 14);
	}
	return len;
}

/*
 * Header length 16 (IHL 4; checksummed over those 16 bytes); or IHL 15, a
 * 60-byte header in a 50-byte packet (a DNS query), which dp_classify finds
 * once it has seen the total length is sound. No checksum can be right for
 * a header that runs past its packet; the IHL check comes first anyway.
 */
static size_t
build_ipv4_ihl(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	size_t len;

	if (nth % 2 == 0) {
		len = hl7_udp4_plain(r, buf, room);
		if (len != 0) {
			buf[14] = 0x44;
			fr_ipv4_fix_cksum(buf, 14);
		}
		return len;
	}
	len = dns_query_udp4(r, buf, room);
	if (len != 0) {
		buf[14] = 0x4f;
	}
	return len;
}

/* A telemetry frame cut 0 to 39 bytes into its IPv6 header. */
static size_t
build_ipv6_truncated(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;

	(void)nth;
	pick_host(r, &h);
	if (udp6_telemetry(r, buf, room, &h, MK_HL7_PORT) == 0) {
		return 0;
	}
	return 14 + rng_below(r, 40);
}

/* Version 4 behind the IPv6 EtherType. */
static size_t
build_ipv6_version(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;
	size_t len;

	(void)nth;
	pick_host(r, &h);
	len = udp6_telemetry(r, buf, room, &h, MK_HL7_PORT);
	if (len != 0) {
		buf[14] = (uint8_t)(0x40 | (buf[14] & 0x0f));
	}
	return len;
}

/* IPv6 payload length 200 bytes past the end of the frame. */
static size_t
build_ipv6_length(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;
	size_t len;

	(void)nth;
	pick_host(r, &h);
	len = udp6_telemetry(r, buf, room, &h, MK_HL7_PORT);
	if (len != 0) {
		set16(buf + 14 + 4, get16(buf + 14 + 4) + 200u);
	}
	return len;
}

/* HL7 over UDP/IPv6 behind @n_ext extension headers; the first at 54. */
static size_t
hl7_udp6_ext(struct mk_rng *r, uint8_t *buf, size_t room, const uint8_t *ext, unsigned n_ext)
{
	char payload[1024];
	struct mk_host h;
	struct fr_l2 l2;
	size_t plen;

	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	plen = hl7_payload(r, &h, payload, sizeof(payload));
	if (plen == 0) {
		return 0;
	}
	return fr_udp6_ext(buf, room, &l2, h.ipv6, appliance_v6, ext, n_ext, h.sport, MK_HL7_PORT,
			   payload, plen);
}

/*
 * A destination options header whose length runs past the payload (it
 * claims the payload rounded up to 8, plus 8); or a payload length of 0
 * with a destination options header as the next header, so the packet
 * ends where that header should start.
 */
static size_t
build_ipv6_ext_truncated(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	static const uint8_t dstopts[] = {60};
	size_t len = hl7_udp6_ext(r, buf, room, dstopts, 1);
	unsigned payload_len;

	if (len == 0) {
		return 0;
	}
	payload_len = get16(buf + 14 + 4);
	if (nth % 2 == 0) {
		if (payload_len / 8 > 255) {
			return 0;
		}
		buf[14 + 40 + 1] = (uint8_t)(payload_len / 8);
		return len;
	}
	set16(buf + 14 + 4, 0);
	return 14 + 40;
}

/* Nine extension headers, one more than vigil walks: hop-by-hop, seven
 * destination options, routing (segments left 0). */
static size_t
build_ipv6_ext_chain(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	static const uint8_t chain[] = {0, 60, 60, 60, 60, 60, 60, 60, 43};

	(void)nth;
	return hl7_udp6_ext(r, buf, room, chain, sizeof(chain));
}

/* Hop-by-hop options after destination options instead of first. */
static size_t
build_ipv6_hop_by_hop(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	static const uint8_t chain[] = {60, 0};

	(void)nth;
	return hl7_udp6_ext(r, buf, room, chain, sizeof(chain));
}

/* A routing header (type 253) with one segment left: a hop on the way. */
static size_t
build_ipv6_routing(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	static const uint8_t routing[] = {43};
	size_t len = hl7_udp6_ext(r, buf, room, routing, 1);

	(void)nth;
	if (len != 0) {
		buf[14 + 40 + 3] = 1;
	}
	return len;
}

/* The IP packet ends 0 to 7 bytes into the UDP header: IPv4 total length
 * (checksum made right), or IPv6 payload length, alternately; padded. */
static size_t
build_udp_truncated(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;
	unsigned cut;

	if (nth % 2 == 0) {
		if (hl7_udp4_plain(r, buf, room) == 0) {
			return 0;
		}
		cut = rng_below(r, 8);
		set16(buf + 14 + 2, 20 + cut);
		fr_ipv4_fix_cksum(buf, 14);
		return 14 + 20 + cut;
	}
	pick_host(r, &h);
	if (udp6_telemetry(r, buf, room, &h, MK_HL7_PORT) == 0) {
		return 0;
	}
	cut = rng_below(r, 8);
	set16(buf + 14 + 4, cut);
	return 14 + 40 + cut;
}

/* UDP length 1 to 100 bytes past the IPv4 payload; or, over IPv6, below
 * the 8 bytes of the UDP header. */
static size_t
build_udp_length(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h;
	size_t len;

	if (nth % 2 == 0) {
		len = hl7_udp4_plain(r, buf, room);
		if (len != 0) {
			uint8_t *udp = buf + 14 + 20;

			set16(udp + 4, get16(udp + 4) + 1u + rng_below(r, 100));
		}
		return len;
	}
	pick_host(r, &h);
	len = udp6_telemetry(r, buf, room, &h, MK_HL7_PORT);
	if (len != 0) {
		set16(buf + 14 + 40 + 4, rng_below(r, 8));
	}
	return len;
}

/* An echo request to us whose IPv4 total length leaves 0 to 7 bytes of
 * ICMP (header checksum made right); padded. */
static size_t
build_icmp_truncated(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	unsigned cut;

	if (icmp4_echo_to(r, nth, buf, room, MK_APPLIANCE_V4) == 0) {
		return 0;
	}
	cut = rng_below(r, 8);
	set16(buf + 14 + 2, 20 + cut);
	fr_ipv4_fix_cksum(buf, 14);
	return 14 + 20 + cut;
}

/* An echo request to us with one bit of its data flipped. */
static size_t
build_icmp_checksum(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	size_t len = icmp4_echo_to(r, nth, buf, room, MK_APPLIANCE_V4);

	if (len != 0) {
		buf[14 + 20 + 8] ^= 0x01;
	}
	return len;
}

/*
 * To us, well formed, but not an echo request: an echo reply (to a ping
 * vigil never sent), or a port unreachable quoting a syslog datagram from
 * the appliance (RFC 792: the IP header and 8 bytes of what it carried).
 */
static size_t
build_icmp_type(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	static const char syslog[] = "<134>vigil: started";
	static const struct fr_l2 no_l2;
	uint8_t quoted[128];
	struct mk_host h;
	struct fr_l2 l2;
	size_t len;

	if (nth % 2 == 0) {
		len = icmp4_echo_to(r, nth, buf, room, MK_APPLIANCE_V4);
		if (len != 0) {
			buf[14 + 20] = 0; /* echo reply */
			icmp4_fix_cksum(buf + 14 + 20, len - 14 - 20);
		}
		return len;
	}
	pick_host(r, &h);
	l2_from(&l2, &h, appliance_mac);
	if (fr_udp4(quoted, sizeof(quoted), &no_l2, MK_APPLIANCE_V4, h.ipv4,
		    (uint16_t)(49152 + rng_below(r, 16384)), MK_SYSLOG_PORT, syslog,
		    sizeof(syslog) - 1) == 0) {
		return 0;
	}
	/* Built as an echo with identifier and sequence 0, the "unused" word. */
	len = fr_icmp4_echo(buf, room, &l2, h.ipv4, MK_APPLIANCE_V4, 0, 0, quoted + 14, 20 + 8);
	if (len != 0) {
		buf[14 + 20] = 3;     /* destination unreachable */
		buf[14 + 20 + 1] = 3; /* port unreachable */
		icmp4_fix_cksum(buf + 14 + 20, len - 14 - 20);
	}
	return len;
}

/* An ICMPv6 echo request to us whose payload length leaves 0 to 7 bytes of
 * it; padded. */
static size_t
build_icmp6_truncated(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	unsigned cut;

	if (icmp6_echo_to(r, nth, buf, room, appliance_v6) == 0) {
		return 0;
	}
	cut = rng_below(r, 8);
	set16(buf + 14 + 4, cut);
	return 14 + 40 + cut;
}

/* An ICMPv6 echo request to us with one bit of its data flipped. */
static size_t
build_icmp6_checksum(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	size_t len = icmp6_echo_to(r, nth, buf, room, appliance_v6);

	if (len != 0) {
		buf[14 + 40 + 8] ^= 0x01;
	}
	return len;
}

/* Well formed, neither echo request nor solicitation: an echo reply to us,
 * or a router solicitation (RFC 4861 6.3.7) to all routers. */
static size_t
build_icmp6_type(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	uint8_t *ip6 = buf + 14;
	struct mk_host h;
	struct fr_l2 l2;
	size_t len;

	if (nth % 2 == 0) {
		len = icmp6_echo_to(r, nth, buf, room, appliance_v6);
		if (len != 0) {
			ip6[40] = 129; /* echo reply */
			icmp6_fix_cksum(ip6);
		}
		return len;
	}
	pick_host(r, &h);
	l2_from(&l2, &h, all_routers_mac);
	/* Eight bytes: type, code, checksum, four reserved (the "echo" zeros). */
	len = fr_icmp6_echo(buf, room, &l2, h.ipv6, all_routers_v6, 0, 0, NULL, 0);
	if (len != 0) {
		ip6[7] = 255;
		ip6[40] = 133;
		icmp6_fix_cksum(ip6);
	}
	return len;
}

static size_t
build_icmp6_other(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	return icmp6_echo_to(r, nth, buf, room, other_v6);
}

/*
 * A solicitation for us that RFC 4861 7.1.1 says to ignore: hop limit 64
 * (it crossed a router); or from the unspecified address (duplicate
 * address detection) yet with a source link-layer address option.
 */
static size_t
build_nd_malformed(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	uint8_t *ip6 = buf + 14;
	size_t len = build_ns_ours(r, nth, buf, room);

	if (len == 0) {
		return 0;
	}
	if (nth % 2 == 0) {
		ip6[7] = 64;
	} else {
		memset(ip6 + 8, 0, 16);
		icmp6_fix_cksum(ip6);
	}
	return len;
}

/* A solicitation for another ward host (address resolution between two
 * neighbours), to that host's solicited-node group. */
static size_t
build_nd_other(struct mk_rng *r, uint64_t nth, uint8_t *buf, size_t room)
{
	struct mk_host h, target;
	struct fr_l2 l2;

	(void)nth;
	pick_host(r, &h);
	pick_host(r, &target);
	if (target.n == h.n) {
		target.ipv6[15] ^= 1;
	}
	l2_from(&l2, &h, broadcast_mac);
	return fr_nd_solicit(buf, room, &l2, h.ipv6, target.ipv6);
}

/*
 * Weights: known gives every kind a share (telemetry the most, as on a
 * ward); demo is 90% telemetry (180 of 200) with a little of what a ward
 * sends besides.
 */
static const struct mk_kind kinds[] = {
	/* outcomes */
	{"hl7_udp4", build_hl7_udp4, OUTCOME(telemetry_hl7), 20, 100, false},
	{"hl7_udp6", build_hl7_udp6, OUTCOME(telemetry_hl7), 8, 20, false},
	{"vtp_udp4", build_vtp_udp4, OUTCOME(telemetry_vtp), 8, 40, false},
	{"vtp_udp6", build_vtp_udp6, OUTCOME(telemetry_vtp), 4, 10, false},
	{"hl7_vlan1", build_hl7_vlan1, OUTCOME(telemetry_hl7), 5, 6, false},
	{"vtp_vlan2", build_vtp_vlan2, OUTCOME(telemetry_vtp), 5, 4, false},
	{"arp_ours", build_arp_ours, REPLY(arp_replies), 3, 1, false},
	{"icmp_ours", build_icmp_ours, REPLY(icmp_echo_replies), 3, 1, false},
	{"icmp6_ours", build_icmp6_ours, REPLY(icmp6_echo_replies), 3, 1, false},
	{"ns_ours", build_ns_ours, REPLY(nd_adverts), 3, 1, false},
	/* drops, in the order of dataplane.h */
	{"jumbo", build_jumbo, DROP(rx_chained), 1, 0, false},
	{"runt", build_runt, DROP(eth_runt), 2, 1, true},
	{"vlan_truncated", build_vlan_truncated, DROP(vlan_truncated), 2, 0, true},
	{"vlan3", build_vlan3, DROP(vlan_too_deep), 2, 1, false},
	{"lldp", build_lldp, DROP(ethertype), 2, 1, false},
	{"arp_malformed", build_arp_malformed, DROP(arp_malformed), 2, 0, true},
	{"arp_reply", build_arp_reply, DROP(arp_not_request), 2, 1, false},
	{"arp_other", build_arp_other, DROP(arp_not_ours), 3, 1, false},
	{"ipv4_truncated", build_ipv4_truncated, DROP(ipv4_truncated), 2, 0, true},
	{"ipv4_version", build_ipv4_version, DROP(ipv4_version), 2, 0, false},
	{"ipv4_ihl", build_ipv4_ihl, DROP(ipv4_ihl), 2, 0, false},
	{"ipv4_length", build_ipv4_length, DROP(ipv4_length), 2, 1, false},
	{"ipv4_bad_cksum", build_ipv4_bad_cksum, DROP(ipv4_checksum), 2, 1, false},
	{"ipv4_fragment", build_ipv4_fragment, DROP(ipv4_fragment), 2, 1, false},
	{"ipv6_truncated", build_ipv6_truncated, DROP(ipv6_truncated), 2, 0, true},
	{"ipv6_version", build_ipv6_version, DROP(ipv6_version), 2, 0, false},
	{"ipv6_length", build_ipv6_length, DROP(ipv6_length), 2, 0, false},
	{"ipv6_ext_truncated", build_ipv6_ext_truncated, DROP(ipv6_ext_truncated), 2, 0, false},
	{"ipv6_ext_chain", build_ipv6_ext_chain, DROP(ipv6_ext_chain), 2, 0, false},
	{"ipv6_hop_by_hop", build_ipv6_hop_by_hop, DROP(ipv6_hop_by_hop), 2, 0, false},
	{"ipv6_routing", build_ipv6_routing, DROP(ipv6_routing), 2, 0, false},
	{"ipv6_fragment", build_ipv6_fragment, DROP(ipv6_fragment), 2, 1, false},
	{"tcp", build_tcp, DROP(l4_proto), 3, 1, false},
	{"udp_truncated", build_udp_truncated, DROP(udp_truncated), 2, 0, false},
	{"udp_length", build_udp_length, DROP(udp_length), 2, 0, false},
	{"udp_bad_cksum", build_udp_bad_cksum, DROP(udp_checksum), 2, 1, false},
	{"udp_dns", build_udp_dns, DROP(udp_port), 3, 1, false},
	{"icmp_truncated", build_icmp_truncated, DROP(icmp_truncated), 2, 0, false},
	{"icmp_checksum", build_icmp_checksum, DROP(icmp_checksum), 2, 0, false},
	{"icmp_type", build_icmp_type, DROP(icmp_type), 2, 1, false},
	{"icmp_other", build_icmp_other, DROP(icmp_not_ours), 2, 1, false},
	{"icmp6_truncated", build_icmp6_truncated, DROP(icmp6_truncated), 2, 0, false},
	{"icmp6_checksum", build_icmp6_checksum, DROP(icmp6_checksum), 2, 0, false},
	{"icmp6_type", build_icmp6_type, DROP(icmp6_type), 2, 1, false},
	{"icmp6_other", build_icmp6_other, DROP(icmp6_not_ours), 2, 0, false},
	{"nd_malformed", build_nd_malformed, DROP(nd_malformed), 2, 0, false},
	{"nd_other", build_nd_other, DROP(nd_not_ours), 2, 1, false},
};

#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

/* ------------------------------------------------------------------------ */
/* The capture                                                               */
/* ------------------------------------------------------------------------ */

#define DP_X_NAME(name, desc) #name,
static const char *const outcome_names[] = {DP_OUTCOMES(DP_X_NAME)};
static const char *const drop_names[] = {DP_DROPS(DP_X_NAME)};
#undef DP_X_NAME

struct mk_tally {
	uint64_t rx_packets;
	uint64_t rx_bytes;
	uint64_t tx_packets;
	uint64_t outcome[DP_OUT__COUNT];
	uint64_t drop[DP_DROP__COUNT];
};

/* What goes into the capture, from the command line. */
struct mk_mix {
	bool demo;  /* --mix demo rather than known */
	bool jumbo; /* --jumbo: frames over one mbuf too */
};

/* A kind's weight in @mix; 0 leaves it out. */
static unsigned
kind_weight(const struct mk_mix *mix, size_t i)
{
	const struct mk_kind *k = &kinds[i];

	if (k->expect.is_drop && k->expect.index == DP_DROP_rx_chained && !mix->jumbo) {
		return 0;
	}
	return mix->demo ? k->weight_demo : k->weight_known;
}

/* How many kinds @mix has. */
static size_t
mix_kinds(const struct mk_mix *mix)
{
	size_t i, n = 0;

	for (i = 0; i < N_KINDS; i++) {
		n += kind_weight(mix, i) > 0;
	}
	return n;
}

/*
 * How many frames of each kind: the count split by weight, every kind of
 * the mix at least once when @at_least_one (which needs count >=
 * mix_kinds()), the difference taken from or given to the largest share.
 */
static void
plan_quotas(unsigned long count, const struct mk_mix *mix, bool at_least_one,
	    unsigned long quota[N_KINDS])
{
	unsigned long assigned = 0, weight_sum = 0;
	size_t i, largest;

	for (i = 0; i < N_KINDS; i++) {
		weight_sum += kind_weight(mix, i);
	}
	for (i = 0; i < N_KINDS; i++) {
		unsigned w = kind_weight(mix, i);

		quota[i] = (unsigned long)((uint64_t)count * w / weight_sum);
		if (quota[i] == 0 && w > 0 && at_least_one) {
			quota[i] = 1;
		}
		assigned += quota[i];
	}
	while (assigned != count) {
		largest = 0;
		for (i = 1; i < N_KINDS; i++) {
			if (quota[i] > quota[largest]) {
				largest = i;
			}
		}
		if (assigned < count) {
			quota[largest] += count - assigned;
			assigned = count;
		} else {
			quota[largest]--;
			assigned--;
		}
	}
}

static int
write_capture(const char *path, uint64_t seed, unsigned long count, const struct mk_mix *mix,
	      struct mk_tally *tally)
{
	size_t n_kinds = mix_kinds(mix);
	unsigned long quota[N_KINDS], made[N_KINDS] = {0};
	unsigned char *order = NULL;
	struct fr_pcap *pcap = NULL;
	uint8_t frame[MK_FRAME_ROOM];
	struct mk_rng rng;
	unsigned long i, n = 0;
	int rc;

	if (!mix->demo && count < n_kinds) {
		fprintf(stderr, "vigil-mkpcap: --mix known%s needs --count of at least %zu\n",
			mix->jumbo ? " --jumbo" : "", n_kinds);
		rc = -EINVAL;
		goto out;
	}
	plan_quotas(count, mix, count >= n_kinds, quota);
	order = malloc(count);
	if (order == NULL) {
		fprintf(stderr, "vigil-mkpcap: no memory for %lu frames\n", count);
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < N_KINDS; i++) {
		memset(order + n, (int)i, quota[i]);
		n += quota[i];
	}

	/* Fisher-Yates with the seeded generator: same seed, same order. */
	rng_seed(&rng, seed);
	for (i = count - 1; i > 0; i--) {
		unsigned long j = (unsigned long)(rng_next(&rng) % (i + 1));
		unsigned char t = order[i];

		order[i] = order[j];
		order[j] = t;
	}

	pcap = fr_pcap_open(path);
	if (pcap == NULL) {
		rc = -errno;
		fprintf(stderr, "vigil-mkpcap: cannot create %s: %s\n", path, strerror(errno));
		goto out;
	}
	memset(tally, 0, sizeof(*tally));
	for (i = 0; i < count; i++) {
		const struct mk_kind *k = &kinds[order[i]];
		size_t len;

		/* Every byte of a frame is written by its builder or the padding:
		 * nothing of the previous frame shows through. */
		memset(frame, 0, sizeof(frame));
		len = k->build(&rng, made[order[i]]++, frame, sizeof(frame));
		if (len == 0) {
			fprintf(stderr,
				"vigil-mkpcap: frame %lu (%s) could not be built in %zu bytes\n", i,
				k->name, sizeof(frame));
			rc = -EMSGSIZE;
			goto out;
		}
		if (!k->wire_len) {
			len = pad_to_min(frame, len);
		}
		rc = fr_pcap_write(pcap, frame, len, MK_TS_START_USEC + i * MK_TS_STEP_USEC);
		if (rc < 0) {
			fprintf(stderr, "vigil-mkpcap: writing %s: %s\n", path, strerror(-rc));
			goto out;
		}
		tally->rx_packets++;
		tally->rx_bytes += len;
		if (k->expect.is_drop) {
			tally->drop[k->expect.index]++;
		} else {
			tally->outcome[k->expect.index]++;
		}
		if (k->expect.is_reply) {
			tally->tx_packets++;
		}
	}
	rc = 0;
out:
	if (pcap != NULL) {
		int close_rc = fr_pcap_close(pcap);

		if (close_rc < 0 && rc == 0) {
			fprintf(stderr, "vigil-mkpcap: closing %s: %s\n", path,
				strerror(-close_rc));
			rc = close_rc;
		}
	}
	free(order);
	return rc;
}

static void
print_expected(const struct mk_tally *t)
{
	unsigned i;

	printf("{\"rx_packets\": %" PRIu64 ", \"rx_bytes\": %" PRIu64 ", \"tx_packets\": %" PRIu64
	       ", \"outcomes\": {",
	       t->rx_packets, t->rx_bytes, t->tx_packets);
	for (i = 0; i < DP_OUT__COUNT; i++) {
		printf("%s\"%s\": %" PRIu64, i == 0 ? "" : ", ", outcome_names[i], t->outcome[i]);
	}
	printf("}, \"drops\": {");
	for (i = 0; i < DP_DROP__COUNT; i++) {
		printf("%s\"%s\": %" PRIu64, i == 0 ? "" : ", ", drop_names[i], t->drop[i]);
	}
	printf("}}\n");
}

/* ------------------------------------------------------------------------ */
/* Command line                                                              */
/* ------------------------------------------------------------------------ */

static void
usage(FILE *out)
{
	const struct mk_mix known = {false, false}, known_jumbo = {false, true};

	fprintf(out,
		"usage: vigil-mkpcap [--seed N] [--count N] [--mix demo|known] [--jumbo] OUT.pcap\n"
		"  Writes a capture of known composition and prints on stdout, as one\n"
		"  JSON object, the counters vigild must show after reading it.\n"
		"  --seed N    generator seed (default 1)\n"
		"  --count N   frames to write (default 1000); --mix known needs at least\n"
		"              %zu (%zu with --jumbo), one frame of each kind\n"
		"  --mix MIX   known: every outcome and every drop reason a pcap replay\n"
		"              can reach (default; reply_no_room and tx_full stay 0, and\n"
		"              rx_chained without --jumbo);\n"
		"              demo: 90%% telemetry with a little of what else a ward sends\n"
		"  --jumbo     with --mix known, also frames of about 3000 bytes, which\n"
		"              vigild counts as rx_chained when net_pcap reads them from a\n"
		"              file (vigild --pcap); net_pcap's infinite_rx=1 refuses such\n"
		"              a capture\n",
		mix_kinds(&known), mix_kinds(&known_jumbo));
}

static int
parse_ulong(const char *opt, const char *arg, unsigned long max, unsigned long *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' || v > max) {
		fprintf(stderr, "vigil-mkpcap: %s wants a number up to %lu, not '%s'\n", opt, max,
			arg);
		return -EINVAL;
	}
	*out = (unsigned long)v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{"seed", required_argument, NULL, 's'}, {"count", required_argument, NULL, 'c'},
		{"mix", required_argument, NULL, 'm'},	{"jumbo", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},	{NULL, 0, NULL, 0},
	};
	unsigned long seed = 1, count = 1000;
	struct mk_mix mix = {false, false};
	struct mk_tally tally;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:c:m:jh", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (parse_ulong("--seed", optarg, ULONG_MAX, &seed) < 0) {
				return 2;
			}
			break;
		case 'c':
			if (parse_ulong("--count", optarg, MK_MAX_COUNT, &count) < 0) {
				return 2;
			}
			if (count == 0) {
				fprintf(stderr, "vigil-mkpcap: --count must be at least 1\n");
				return 2;
			}
			break;
		case 'm':
			if (strcmp(optarg, "demo") == 0) {
				mix.demo = true;
			} else if (strcmp(optarg, "known") == 0) {
				mix.demo = false;
			} else {
				fprintf(stderr, "vigil-mkpcap: --mix is demo or known, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'j':
			mix.jumbo = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	if (write_capture(argv[optind], seed, count, &mix, &tally) < 0) {
		return 1;
	}
	print_expected(&tally);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "vigil-mkpcap: writing the expected counters: %s\n",
			strerror(errno));
		return 1;
	}
	return 0;
}
