/*
 * fuzz_frame.c - libFuzzer target for the frame path a worker runs on every
 * packet: dp_classify, dp_process (which builds replies in place) and then
 * the decoders on what was classified as telemetry.
 *
 * Input: two control bytes, then the Ethernet frame.
 *   byte 0: bits 0-3 the DP_CSUM_* flags a PMD would report (any mix, even
 *           GOOD with BAD); bit 4 turns dp_local.udp_checksum on; bit 5
 *           rewrites the frame's IPv4, UDP, ICMP and ICMPv6 checksums to be
 *           right before it is classified, so mutations get past them.
 *   byte 1: tailroom, the bytes after the frame a reply may use.
 * The frame sits in a heap buffer of exactly frame + tailroom bytes, so a
 * reply written past its room is an AddressSanitizer report.
 *
 * Checks: dp_classify leaves the frame alone and its offsets lie inside the
 * frame (a UDP payload inside the IP packet, its length the UDP length's);
 * telemetry passed the checksums it had to (recomputed here, RFC 1071,
 * independently of dp_cksum_raw, which is itself checked against that
 * reference); dp_process moves exactly one outcome or drop counter, or
 * builds a reply within its room and moves none; a reply is a well-formed
 * answer (its checksums right, addressed from us) that the parser would not
 * answer again.
 */
#include <errno.h>

#include "fuzz_check.h"

#define CTL_CSUM 0x0f
#define CTL_UDP_CSUM 0x10
#define CTL_FIX 0x20

#define ETH_HLEN 14
#define VLAN_HLEN 4
#define IPV4_HLEN 20
#define IPV6_HLEN 40
#define UDP_HLEN 8
#define ND_NA_LEN 32

static struct dp_local local;

static const uint8_t our_mac[6] = {0x02, 0x00, 0x5e, 0x00, 0x53, 0x01};
static const uint8_t our_ipv4[2][4] = {{192, 0, 2, 1}, {198, 51, 100, 7}};
static const uint8_t our_ipv6[2][16] = {
	{0x20, 0x01, 0x0d, 0xb8, [15] = 0x01},
	{0xfe, 0x80, [14] = 0x01, [15] = 0x02},
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	memcpy(local.mac, our_mac, 6);
	local.n_ipv4 = 2;
	memcpy(&local.ipv4[0], our_ipv4[0], 4);
	memcpy(&local.ipv4[1], our_ipv4[1], 4);
	local.n_ipv6 = 2;
	memcpy(local.ipv6, our_ipv6, sizeof(our_ipv6));
	local.n_hl7_ports = 2;
	local.hl7_ports[0] = 2575;
	local.hl7_ports[1] = 2576;
	local.n_vtp_ports = 1;
	local.vtp_ports[0] = 4575;
	return 0;
}

/* ======================================================================== */
/* Reference checksums (RFC 1071), written plainly                          */
/* ======================================================================== */

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Big-endian 16-bit words added to @p acc; an odd last byte is a high byte. */
static uint64_t
ref_words(const uint8_t *p, size_t n, uint64_t acc)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		acc += rd16(p + i);
	if (n & 1)
		acc += (uint64_t)p[n - 1] << 8;
	return acc;
}

static uint16_t
ref_fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The pseudo-header of the packet's L4 (RFC 768, RFC 8200 8.1). */
static uint64_t
ref_pseudo(const uint8_t *frame, const struct dp_pkt *pkt, uint32_t l4_len)
{
	const uint8_t *ip = frame + pkt->l3_off;

	if (pkt->ip_version == 4)
		return ref_words(ip + 12, 8, 0) + pkt->l4_proto + l4_len;
	return ref_words(ip + 8, 32, 0) + pkt->l4_proto + l4_len;
}

/* Does the L4 message at l4_off, @p l4_len bytes, carry a right checksum? */
static bool
l4_sum_ok(const uint8_t *frame, const struct dp_pkt *pkt, uint32_t l4_len, bool pseudo)
{
	uint64_t s = pseudo ? ref_pseudo(frame, pkt, l4_len) : 0;

	return ref_fold(ref_words(frame + pkt->l4_off, l4_len, s)) == 0xffff;
}

static void
l4_sum_set(uint8_t *frame, const struct dp_pkt *pkt, uint32_t l4_len, unsigned field, bool pseudo)
{
	uint8_t *l4 = frame + pkt->l4_off;
	uint16_t c;

	wr16(l4 + field, 0);
	c = (uint16_t)~ref_fold(ref_words(l4, l4_len, pseudo ? ref_pseudo(frame, pkt, l4_len) : 0));
	if (c == 0 && pkt->l4_proto == 17)
		c = 0xffff; /* UDP sends a computed 0 as all ones */
	wr16(l4 + field, c);
}

/* dp_cksum_raw against the reference, over the input at a few sums. */
static void
check_cksum_raw(const uint8_t *p, size_t n)
{
	static const uint32_t sums[] = {0, 1, 0xffff, 0x1fffe, 0xffffffff};

	for (size_t i = 0; i < sizeof(sums) / sizeof(sums[0]); i++)
		FUZZ_CHECK(dp_cksum_raw(p, n, sums[i]) == ref_fold(ref_words(p, n, sums[i])));
	if (n > 3) /* an odd start and length */
		FUZZ_CHECK(dp_cksum_raw(p + 1, n - 2, 0) == ref_fold(ref_words(p + 1, n - 2, 0)));
}

/*
 * Make the frame's checksums right, so the fuzzer's mutations reach what
 * lies behind them. The parser itself, with the PMD's word that the sums
 * are good, says where the headers are.
 */
static void
fix_checksums(uint8_t *frame, uint32_t len)
{
	struct dp_local plain = local;
	struct dp_pkt pkt;
	uint32_t ihl, l4_len;

	plain.udp_checksum = false;
	(void)dp_classify(&plain, frame, len, DP_CSUM_IP_GOOD | DP_CSUM_L4_GOOD, &pkt);
	if (pkt.ip_version == 4) {
		uint8_t *ip = frame + pkt.l3_off;

		ihl = (uint32_t)(pkt.l4_off - pkt.l3_off);
		wr16(ip + 10, 0);
		wr16(ip + 10, (uint16_t)~ref_fold(ref_words(ip, ihl, 0)));
	}
	if (pkt.ip_version == 0 || pkt.l4_off == 0 || pkt.l4_off > pkt.l3_off + pkt.l3_len)
		return;
	l4_len = (uint32_t)(pkt.l3_off + pkt.l3_len - pkt.l4_off);
	if (pkt.l4_proto == 1 && l4_len >= 4)
		l4_sum_set(frame, &pkt, l4_len, 2, false);
	else if (pkt.l4_proto == 58 && l4_len >= 4)
		l4_sum_set(frame, &pkt, l4_len, 2, true);
	else if (pkt.l4_proto == 17 && l4_len >= UDP_HLEN) {
		uint16_t ulen = rd16(frame + pkt.l4_off + 4);

		if (ulen >= UDP_HLEN && ulen <= l4_len)
			l4_sum_set(frame, &pkt, ulen, 6, true);
	}
}

/* ======================================================================== */
/* Classification                                                           */
/* ======================================================================== */

static bool
port_in(const uint16_t *ports, unsigned n, uint16_t port)
{
	for (unsigned i = 0; i < n; i++)
		if (ports[i] == port)
			return true;
	return false;
}

/* A datagram handed to a decoder: offsets inside the frame, checksums honoured. */
static void
check_telemetry(enum dp_verdict v, const uint8_t *frame, uint32_t len, uint32_t csum,
		const struct dp_pkt *pkt)
{
	const uint8_t *udp = frame + pkt->l4_off;
	const uint32_t ip_end = (uint32_t)pkt->l3_off + pkt->l3_len;
	uint16_t ulen;

	FUZZ_CHECK(pkt->ip_version == 4 || pkt->ip_version == 6);
	FUZZ_CHECK(pkt->l4_proto == 17 && pkt->reply == DP_REPLY_NONE);
	FUZZ_CHECK(ip_end <= len);
	FUZZ_CHECK(pkt->l4_off >= pkt->l3_off + (pkt->ip_version == 4 ? IPV4_HLEN : IPV6_HLEN));
	FUZZ_CHECK((uint32_t)pkt->l4_off + UDP_HLEN <= ip_end);
	ulen = rd16(udp + 4);
	FUZZ_CHECK(pkt->payload_off == pkt->l4_off + UDP_HLEN);
	FUZZ_CHECK(pkt->payload_len + UDP_HLEN == ulen);
	FUZZ_CHECK((uint32_t)pkt->payload_off + pkt->payload_len <= ip_end);
	FUZZ_CHECK(pkt->src_port == rd16(udp) && pkt->dst_port == rd16(udp + 2));
	if (v == DP_VERDICT_HL7)
		FUZZ_CHECK(port_in(local.hl7_ports, local.n_hl7_ports, pkt->dst_port));
	else
		FUZZ_CHECK(port_in(local.vtp_ports, local.n_vtp_ports, pkt->dst_port) &&
			   !port_in(local.hl7_ports, local.n_hl7_ports, pkt->dst_port));

	if (pkt->ip_version == 4) {
		FUZZ_CHECK(!(csum & DP_CSUM_IP_BAD));
		if (!(csum & DP_CSUM_IP_GOOD))
			FUZZ_CHECK(ref_fold(ref_words(frame + pkt->l3_off,
						      (size_t)(pkt->l4_off - pkt->l3_off), 0)) ==
				   0xffff);
	}
	if (local.udp_checksum && !(csum & DP_CSUM_L4_GOOD)) {
		FUZZ_CHECK(!(csum & DP_CSUM_L4_BAD));
		if (rd16(udp + 6) == 0)
			FUZZ_CHECK(pkt->ip_version == 4); /* optional over IPv4 only */
		else
			FUZZ_CHECK(l4_sum_ok(frame, pkt, ulen, true));
	}
}

/* A request the appliance owes an answer: for one of our addresses. */
static void
check_request(const uint8_t *frame, uint32_t csum, const struct dp_pkt *pkt)
{
	const uint8_t *l3 = frame + pkt->l3_off;
	const uint32_t l4_len = (uint32_t)(pkt->l3_off + pkt->l3_len - pkt->l4_off);

	switch (pkt->reply) {
	case DP_REPLY_ARP:
		FUZZ_CHECK(pkt->addr_index < local.n_ipv4);
		FUZZ_CHECK(memcmp(l3 + 24, &local.ipv4[pkt->addr_index], 4) == 0);
		break;
	case DP_REPLY_ICMP_ECHO:
		FUZZ_CHECK(pkt->ip_version == 4 && pkt->addr_index < local.n_ipv4);
		FUZZ_CHECK(memcmp(l3 + 16, &local.ipv4[pkt->addr_index], 4) == 0);
		FUZZ_CHECK(!(csum & DP_CSUM_IP_BAD));
		FUZZ_CHECK(l4_sum_ok(frame, pkt, l4_len, false));
		break;
	case DP_REPLY_ICMP6_ECHO:
		FUZZ_CHECK(pkt->ip_version == 6 && pkt->addr_index < local.n_ipv6);
		FUZZ_CHECK(memcmp(l3 + 24, local.ipv6[pkt->addr_index], 16) == 0);
		FUZZ_CHECK(l4_sum_ok(frame, pkt, l4_len, true));
		break;
	case DP_REPLY_ND_ADVERT:
		FUZZ_CHECK(pkt->ip_version == 6 && pkt->addr_index < local.n_ipv6);
		FUZZ_CHECK(memcmp(frame + pkt->l4_off + 8, local.ipv6[pkt->addr_index], 16) == 0);
		FUZZ_CHECK(l4_sum_ok(frame, pkt, l4_len, true));
		break;
	case DP_REPLY_NONE:
		FUZZ_CHECK(false);
	}
}

static void
check_classified(enum dp_verdict v, const uint8_t *frame, uint32_t len, uint32_t csum,
		 const struct dp_pkt *pkt)
{
	FUZZ_CHECK(pkt->n_vlan <= 2);
	switch (v) {
	case DP_VERDICT_DROP:
		FUZZ_CHECK(pkt->drop < DP_DROP__COUNT && pkt->reply == DP_REPLY_NONE);
		/* the worker's own drops, never the parser's */
		FUZZ_CHECK(pkt->drop != DP_DROP_reply_no_room && pkt->drop != DP_DROP_tx_full &&
			   pkt->drop != DP_DROP_rx_chained);
		break;
	case DP_VERDICT_HL7:
	case DP_VERDICT_VTP:
		FUZZ_CHECK(pkt->l3_off == ETH_HLEN + VLAN_HLEN * pkt->n_vlan);
		check_telemetry(v, frame, len, csum, pkt);
		break;
	case DP_VERDICT_REPLY:
		FUZZ_CHECK(pkt->l3_off == ETH_HLEN + VLAN_HLEN * pkt->n_vlan);
		FUZZ_CHECK((uint32_t)pkt->l3_off + pkt->l3_len <= len);
		check_request(frame, csum, pkt);
		break;
	default:
		FUZZ_CHECK(false);
	}
}

/* ======================================================================== */
/* Replies                                                                  */
/* ======================================================================== */

/*
 * A reply, parsed again as though it had come in: its checksums are right
 * (the parser checks them before the type), it comes from our MAC with the
 * request's VLAN tags, and it is no request the appliance would answer.
 */
static void
check_reply(const uint8_t *reply, uint32_t reply_len, const struct dp_pkt *req)
{
	uint8_t *copy = malloc(reply_len);
	struct dp_pkt pkt;
	enum dp_verdict v;
	enum dp_drop want;

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, reply, reply_len);
	FUZZ_CHECK(memcmp(copy + 6, our_mac, 6) == 0);
	v = dp_classify(&local, copy, reply_len, 0, &pkt);
	switch (req->reply) {
	case DP_REPLY_ARP:
		want = DP_DROP_arp_not_request;
		break;
	case DP_REPLY_ICMP_ECHO:
		want = DP_DROP_icmp_type;
		break;
	default:
		want = DP_DROP_icmp6_type;
		break;
	}
	FUZZ_CHECK(v == DP_VERDICT_DROP && pkt.drop == want);
	FUZZ_CHECK(pkt.n_vlan == req->n_vlan);
	for (unsigned i = 0; i < pkt.n_vlan; i++)
		FUZZ_CHECK(pkt.vlan_tci[i] == req->vlan_tci[i]);
	free(copy);
}

/* dp_process: one counter, or a reply within room. */
static void
check_process(const uint8_t *frame, uint32_t len, uint32_t room, uint32_t csum, enum dp_verdict v1,
	      const struct dp_pkt *p1)
{
	uint8_t *buf = malloc(room + (room == 0));
	struct dp_stats stats;
	struct dp_pkt p2;
	uint32_t reply_len = 0;
	uint64_t counted;
	enum dp_verdict v2;

	FUZZ_CHECK(buf != NULL);
	memcpy(buf, frame, len);
	memset(buf + len, 0, room - len); /* the mbuf's tailroom: whatever, but the same each run */
	memset(&stats, 0, sizeof(stats));
	v2 = dp_process(&local, &stats, buf, len, room, csum, &p2, &reply_len);
	counted = fuzz_sum(stats.outcome, DP_OUT__COUNT) + fuzz_sum(stats.drop, DP_DROP__COUNT);
	FUZZ_CHECK(dp_read(&stats.rx_packets) == 0 && dp_read(&stats.tx_packets) == 0);
	FUZZ_CHECK(fuzz_sum(stats.hl7, DP_HL7__COUNT) == 0 &&
		   fuzz_sum(stats.vtp, DP_VTP__COUNT) == 0);

	if (v1 != DP_VERDICT_REPLY) {
		/* the same verdict, counted once where it belongs */
		FUZZ_CHECK(v2 == v1 && counted == 1);
		FUZZ_CHECK(memcmp(buf, frame, len) == 0);
		if (v2 == DP_VERDICT_HL7)
			FUZZ_CHECK(dp_read(&stats.outcome[DP_OUT_telemetry_hl7]) == 1);
		else if (v2 == DP_VERDICT_VTP)
			FUZZ_CHECK(dp_read(&stats.outcome[DP_OUT_telemetry_vtp]) == 1);
		else
			FUZZ_CHECK(p2.drop == p1->drop && dp_read(&stats.drop[p1->drop]) == 1);
	} else if (v2 == DP_VERDICT_REPLY) {
		/* built, not yet counted: the worker counts it once transmitted */
		FUZZ_CHECK(counted == 0);
		FUZZ_CHECK(reply_len >= ETH_HLEN && reply_len <= room);
		if (p1->reply != DP_REPLY_ND_ADVERT)
			FUZZ_CHECK(reply_len <= len); /* only an advertisement can grow */
		else
			FUZZ_CHECK((uint32_t)p1->l3_off + IPV6_HLEN + ND_NA_LEN <= room);
		check_reply(buf, reply_len, p1);
	} else {
		/* a reply that did not fit: only an advertisement can fail so */
		FUZZ_CHECK(v2 == DP_VERDICT_DROP && p2.drop == DP_DROP_reply_no_room);
		FUZZ_CHECK(counted == 1 && dp_read(&stats.drop[DP_DROP_reply_no_room]) == 1);
		FUZZ_CHECK(p1->reply == DP_REPLY_ND_ADVERT &&
			   (uint32_t)p1->l3_off + IPV6_HLEN + ND_NA_LEN > room);
	}
	free(buf);
}

/* ======================================================================== */
/* The target                                                               */
/* ======================================================================== */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t csum, len, room;
	uint8_t *frame, *saved;
	struct dp_pkt pkt;
	enum dp_verdict v;

	if (size < 2 || size - 2 > UINT16_MAX)
		return 0;
	csum = data[0] & CTL_CSUM;
	local.udp_checksum = (data[0] & CTL_UDP_CSUM) != 0;
	len = (uint32_t)(size - 2);
	room = len + data[1];
	check_cksum_raw(data + 2, len);

	frame = malloc(len + (len == 0));
	saved = malloc(len + (len == 0));
	FUZZ_CHECK(frame != NULL && saved != NULL);
	if (len > 0)
		memcpy(frame, data + 2, len);
	if (data[0] & CTL_FIX)
		fix_checksums(frame, len);
	if (len > 0)
		memcpy(saved, frame, len);

	v = dp_classify(&local, frame, len, csum, &pkt);
	FUZZ_CHECK(len == 0 || memcmp(frame, saved, len) == 0);
	check_classified(v, frame, len, csum, &pkt);
	check_process(frame, len, room, csum, v, &pkt);

	/* What the worker does next with telemetry (fuzz_hl7/fuzz_vtp check the rest). */
	if (v == DP_VERDICT_HL7 || v == DP_VERDICT_VTP) {
		struct dp_decoded *d = malloc(sizeof(*d));
		struct dp_stats stats;

		FUZZ_CHECK(d != NULL);
		memset(&stats, 0, sizeof(stats));
		if (v == DP_VERDICT_HL7)
			(void)dp_mllp_decode(frame + pkt.payload_off, pkt.payload_len, &stats, d,
					     NULL, NULL);
		else
			(void)dp_vtp_decode(frame + pkt.payload_off, pkt.payload_len, NULL, &stats,
					    d);
		FUZZ_CHECK(fuzz_sum(stats.outcome, DP_OUT__COUNT) == 0);
		free(d);
	}
	free(saved);
	free(frame);
	return 0;
}
