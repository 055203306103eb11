/*
 * test_dataplane.c - CUnit tests of the data plane's frame functions.
 *
 * dp_classify, dp_reply_build, dp_process and dp_cksum_raw work on plain
 * buffers, so every verdict can be checked here without an EAL. Each case
 * builds a well-formed frame with tests/common/frames.c, breaks exactly one
 * thing, and asserts the exact counter that moves and that no other counter
 * moved. Frames are copied into heap buffers of exactly the size the data
 * plane is told it has, so that valgrind or ASan catch a read past the end.
 *
 * The checks follow the RFCs (768 UDP, 791 IPv4, 792 ICMP, 826 ARP, 4443
 * ICMPv6, 4861 neighbour discovery, 8200 IPv6) and the counter meanings in
 * dataplane.h, not the parser's code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "cunit_main.h"
#include "dataplane.h"
#include "frames.h"

/* ------------------------------------------------------------------------ */
/* The appliance and its neighbours                                          */
/* ------------------------------------------------------------------------ */

#define OUR_V4 0xc0000201u   /* 192.0.2.1 */
#define OUR_V4_B 0xc0000202u /* 192.0.2.2, a second address in some tests */
#define PEER_V4 0xc000020au  /* 192.0.2.10 */
#define OTHER_V4 0xc0000263u /* 192.0.2.99 */
#define HL7_PORT 2575
#define VTP_PORT 4575
#define PEER_PORT 40000

#define ETH_HLEN 14
#define VLAN_HLEN 4
#define IPV4_HLEN 20
#define IPV6_HLEN 40
#define UDP_HLEN 8
#define ICMP_HLEN 8
#define ARP_LEN 28
#define NS_LEN 24	 /* ICMPv6 NS without options */
#define NA_LEN 32	 /* ICMPv6 NA with the target link-layer option */
#define ETH_MIN 60	 /* minimum frame without FCS */
#define IPV6_EXT_LIMIT 8 /* DP_IPV6_MAX_EXT in dataplane/dp_private.h */
#define FRAME_ROOM 2048

static const uint8_t our_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x10};
static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t our_v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x01};
static const uint8_t peer_v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x10};
static const uint8_t other_v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x99};
static const uint8_t unspec_v6[16];
static const uint8_t all_nodes_v6[16] = {0xff, 0x02, [15] = 0x01};

static const char hl7_msg[] = "\x0bMSH|^~\\&|MON01|ICU3|VIGIL|HOSP|20240301120000||ORU^R01^ORU_R01|"
			      "MSG0001|P|2.6\r"
			      "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|"
			      "262688^MDC_DIM_PERCENT^MDC|||||R\r\x1c\r";
#define HL7_LEN (sizeof(hl7_msg) - 1)
static const uint8_t vtp_msg[] = {'V', 'T', 'P', 1, 0, 0, 0, 7, 0, 0, 0, 42, 0x02, 0x41, 0x82};
static const char echo_data[] = "ping!"; /* odd length on purpose */
#define ECHO_LEN (sizeof(echo_data) - 1)

static struct dp_local local;

static void
local_init(struct dp_local *l)
{
	memset(l, 0, sizeof(*l));
	memcpy(l->mac, our_mac, 6);
	l->n_ipv4 = 1;
	l->ipv4[0] = htonl(OUR_V4);
	l->n_ipv6 = 1;
	memcpy(l->ipv6[0], our_v6, 16);
	l->n_hl7_ports = 1;
	l->hl7_ports[0] = HL7_PORT;
	l->n_vtp_ports = 1;
	l->vtp_ports[0] = VTP_PORT;
	l->udp_checksum = true;
}

static int
suite_init(void)
{
	local_init(&local);
	return 0;
}

static struct fr_l2
l2_to_us(unsigned n_vlan)
{
	struct fr_l2 l2;

	memset(&l2, 0, sizeof(l2));
	memcpy(l2.dst, our_mac, 6);
	memcpy(l2.src, peer_mac, 6);
	l2.n_vlan = (uint8_t)n_vlan;
	for (unsigned i = 0; i < n_vlan && i < 4; i++)
		l2.vlan_tci[i] = (uint16_t)(0x2000 | (100 * (i + 1))); /* PCP 1, VID 100, 200.. */
	return l2;
}

/* ------------------------------------------------------------------------ */
/* Reference checksums (independent of dp_cksum_raw)                         */
/* ------------------------------------------------------------------------ */

static uint16_t
ref_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Big-endian 16-bit word sum of @len bytes plus @sum, folded. */
static uint16_t
ref_sum(const uint8_t *p, size_t len, uint32_t sum)
{
	uint64_t acc = sum;

	for (size_t i = 0; i + 1 < len; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	return ref_fold(acc);
}

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

static uint32_t
pseudo4(const uint8_t *ip, uint8_t proto, uint32_t l4_len)
{
	return (uint32_t)ref_sum(ip + 12, 8, 0) + proto + l4_len;
}

static uint32_t
pseudo6(const uint8_t *ip6, uint8_t proto, uint32_t l4_len)
{
	return (uint32_t)ref_sum(ip6 + 8, 32, 0) + proto + (l4_len >> 16) + (l4_len & 0xffff);
}

static void
fix_ipv4(uint8_t *frame, size_t l3_off)
{
	fr_ipv4_fix_cksum(frame, l3_off);
}

/* Recompute a UDP/IPv4 checksum over the UDP length the header claims. */
static void
fix_udp4(uint8_t *frame, size_t l3_off)
{
	uint8_t *ip = frame + l3_off;
	uint8_t *udp = ip + (ip[0] & 0x0f) * 4;
	uint16_t ulen = rd16(udp + 4), ck;

	wr16(udp + 6, 0);
	ck = (uint16_t)~ref_sum(udp, ulen, pseudo4(ip, 17, ulen));
	wr16(udp + 6, ck == 0 ? 0xffff : ck);
}

static void
fix_icmp4(uint8_t *frame, size_t l4_off, size_t icmp_len)
{
	uint8_t *icmp = frame + l4_off;

	wr16(icmp + 2, 0);
	wr16(icmp + 2, (uint16_t)~ref_sum(icmp, icmp_len, 0));
}

/* ICMPv6 right after the fixed header; length from the payload length. */
static void
fix_icmp6(uint8_t *frame, size_t l3_off)
{
	uint8_t *ip6 = frame + l3_off;
	uint8_t *icmp = ip6 + IPV6_HLEN;
	uint16_t icmp_len = rd16(ip6 + 4);

	wr16(icmp + 2, 0);
	wr16(icmp + 2, (uint16_t)~ref_sum(icmp, icmp_len, pseudo6(ip6, 58, icmp_len)));
}

/* ------------------------------------------------------------------------ */
/* Running a frame and checking the counters                                 */
/* ------------------------------------------------------------------------ */

/* What the last run() saw: the frame after dp_process, the parse, the reply. */
static uint8_t last_frame[FRAME_ROOM];
static struct dp_pkt last_pkt;
static uint32_t last_reply_len;
static enum dp_verdict last_verdict;

static const char *
verdict_name(enum dp_verdict v)
{
	switch (v) {
	case DP_VERDICT_DROP:
		return "DROP";
	case DP_VERDICT_HL7:
		return "HL7";
	case DP_VERDICT_VTP:
		return "VTP";
	case DP_VERDICT_REPLY:
		return "REPLY";
	}
	return "?";
}

/*
 * Exactly one counter moved by one, or (when @want_is_drop is false and
 * @want_index < 0) none at all. Names the counters that are off on stderr.
 */
static bool
only_counter(const struct dp_stats *s, bool want_is_drop, int want_index, const char *what)
{
	bool ok = true;

	for (unsigned i = 0; i < DP_OUT__COUNT; i++) {
		uint64_t want = (!want_is_drop && want_index == (int)i) ? 1 : 0;

		if (dp_read(&s->outcome[i]) != want) {
			fprintf(stderr, "\n  %s: outcome %s is %llu, want %llu", what,
				dp_outcome_name((enum dp_outcome)i),
				(unsigned long long)dp_read(&s->outcome[i]),
				(unsigned long long)want);
			ok = false;
		}
	}
	for (unsigned i = 0; i < DP_DROP__COUNT; i++) {
		uint64_t want = (want_is_drop && want_index == (int)i) ? 1 : 0;

		if (dp_read(&s->drop[i]) != want) {
			fprintf(stderr, "\n  %s: drop %s is %llu, want %llu", what,
				dp_drop_name((enum dp_drop)i),
				(unsigned long long)dp_read(&s->drop[i]), (unsigned long long)want);
			ok = false;
		}
	}
	/* The worker counts packets and bytes; dp_process must not. */
	if (dp_read(&s->rx_packets) || dp_read(&s->rx_bytes) || dp_read(&s->rx_bursts) ||
	    dp_read(&s->tx_packets)) {
		fprintf(stderr, "\n  %s: dp_process moved rx/tx counters", what);
		ok = false;
	}
	return ok;
}

/*
 * Classify @frame (a heap copy of exactly @len bytes, which must not
 * change), then dp_process it in a heap buffer of max(@len, @room) bytes
 * with zeroed counters, and check:
 *  - DP_VERDICT_DROP: pkt.drop == @want and only drop[@want] moved;
 *  - DP_VERDICT_HL7/VTP: only outcome[@want] moved;
 *  - DP_VERDICT_REPLY: no counter moved, dp_outcome_of_reply() == @want,
 *    the reply fits in @room.
 * Leaves the processed frame in last_frame. Returns true if all held.
 */
static bool
run_with(const struct dp_local *l, const uint8_t *frame, uint32_t len, uint32_t room, uint32_t csum,
	 enum dp_verdict want_verdict, int want, const char *what)
{
	uint32_t size = len > room ? len : room;
	uint8_t *ro = malloc(len ? len : 1), *rw = malloc(size ? size : 1);
	struct dp_stats *stats = aligned_alloc(64, sizeof(*stats));
	enum dp_verdict classified;
	struct dp_pkt pkt;
	bool ok = true;

	if (ro == NULL || rw == NULL || stats == NULL || size > FRAME_ROOM) {
		fprintf(stderr, "\n  %s: cannot set up buffers", what);
		ok = false;
		goto out;
	}
	memcpy(ro, frame, len);
	memcpy(rw, frame, len);
	if (size > len)
		memset(rw + len, 0xee, size - len);
	memset(stats, 0, sizeof(*stats));

	classified = dp_classify(l, ro, len, csum, &pkt);
	if (memcmp(ro, frame, len) != 0) {
		fprintf(stderr, "\n  %s: dp_classify changed the frame", what);
		ok = false;
	}
	last_reply_len = 0;
	last_verdict = dp_process(l, stats, rw, len, room, csum, &last_pkt, &last_reply_len);
	memcpy(last_frame, rw, size);

	if (last_verdict != want_verdict) {
		fprintf(stderr, "\n  %s: verdict %s, want %s", what, verdict_name(last_verdict),
			verdict_name(want_verdict));
		if (last_verdict == DP_VERDICT_DROP)
			fprintf(stderr, " (drop %s)", dp_drop_name(last_pkt.drop));
		ok = false;
		goto out;
	}
	switch (want_verdict) {
	case DP_VERDICT_DROP:
		if (last_pkt.drop != (enum dp_drop)want) {
			fprintf(stderr, "\n  %s: drop %s, want %s", what,
				dp_drop_name(last_pkt.drop), dp_drop_name((enum dp_drop)want));
			ok = false;
		}
		ok = only_counter(stats, true, want, what) && ok;
		/* A reply that does not fit is the only verdict dp_process changes. */
		if (want != DP_DROP_reply_no_room &&
		    (classified != DP_VERDICT_DROP || pkt.drop != last_pkt.drop)) {
			fprintf(stderr, "\n  %s: dp_classify and dp_process disagree", what);
			ok = false;
		}
		break;
	case DP_VERDICT_HL7:
	case DP_VERDICT_VTP:
		ok = only_counter(stats, false, want, what) && ok;
		if (classified != want_verdict) {
			fprintf(stderr, "\n  %s: dp_classify and dp_process disagree", what);
			ok = false;
		}
		break;
	case DP_VERDICT_REPLY:
		ok = only_counter(stats, false, -1, what) && ok;
		if ((int)dp_outcome_of_reply(last_pkt.reply) != want) {
			fprintf(stderr, "\n  %s: reply counts as %s, want %s", what,
				dp_outcome_name(dp_outcome_of_reply(last_pkt.reply)),
				dp_outcome_name((enum dp_outcome)want));
			ok = false;
		}
		if (last_reply_len == 0 || last_reply_len > room) {
			fprintf(stderr, "\n  %s: reply length %u with room %u", what,
				last_reply_len, room);
			ok = false;
		}
		if (classified != DP_VERDICT_REPLY || pkt.reply != last_pkt.reply) {
			fprintf(stderr, "\n  %s: dp_classify and dp_process disagree", what);
			ok = false;
		}
		break;
	}
out:
	free(ro);
	free(rw);
	free(stats);
	return ok;
}

static bool
expect_drop(const uint8_t *frame, uint32_t len, uint32_t csum, enum dp_drop want, const char *what)
{
	return run_with(&local, frame, len, len, csum, DP_VERDICT_DROP, (int)want, what);
}

static bool
expect_hl7(const uint8_t *frame, uint32_t len, uint32_t csum, const char *what)
{
	return run_with(&local, frame, len, len, csum, DP_VERDICT_HL7, DP_OUT_telemetry_hl7, what);
}

static bool
expect_reply(const uint8_t *frame, uint32_t len, uint32_t room, enum dp_outcome want,
	     const char *what)
{
	return run_with(&local, frame, len, room, 0, DP_VERDICT_REPLY, (int)want, what);
}

/* ------------------------------------------------------------------------ */
/* Frames used by many tests                                                 */
/* ------------------------------------------------------------------------ */

static uint32_t
udp4_frame(uint8_t *buf, unsigned n_vlan, uint16_t dport, const void *payload, size_t plen)
{
	struct fr_l2 l2 = l2_to_us(n_vlan);
	size_t len =
		fr_udp4(buf, FRAME_ROOM, &l2, PEER_V4, OUR_V4, PEER_PORT, dport, payload, plen);

	CU_ASSERT_FATAL(len == ETH_HLEN + n_vlan * VLAN_HLEN + IPV4_HLEN + UDP_HLEN + plen);
	return (uint32_t)len;
}

static uint32_t
hl7_udp4(uint8_t *buf, unsigned n_vlan)
{
	return udp4_frame(buf, n_vlan, HL7_PORT, hl7_msg, HL7_LEN);
}

static uint32_t
udp6_frame(uint8_t *buf, unsigned n_vlan, uint16_t dport, const void *payload, size_t plen)
{
	struct fr_l2 l2 = l2_to_us(n_vlan);
	size_t len =
		fr_udp6(buf, FRAME_ROOM, &l2, peer_v6, our_v6, PEER_PORT, dport, payload, plen);

	CU_ASSERT_FATAL(len == ETH_HLEN + n_vlan * VLAN_HLEN + IPV6_HLEN + UDP_HLEN + plen);
	return (uint32_t)len;
}

static uint32_t
hl7_udp6(uint8_t *buf)
{
	return udp6_frame(buf, 0, HL7_PORT, hl7_msg, HL7_LEN);
}

static uint32_t
udp6_ext_frame(uint8_t *buf, const uint8_t *types, unsigned n)
{
	struct fr_l2 l2 = l2_to_us(0);
	size_t len = fr_udp6_ext(buf, FRAME_ROOM, &l2, peer_v6, our_v6, types, n, PEER_PORT,
				 HL7_PORT, hl7_msg, HL7_LEN);

	CU_ASSERT_FATAL(len == ETH_HLEN + IPV6_HLEN + 8u * n + UDP_HLEN + HL7_LEN);
	return (uint32_t)len;
}

static uint32_t
icmp4_frame(uint8_t *buf, unsigned n_vlan, uint32_t dst)
{
	struct fr_l2 l2 = l2_to_us(n_vlan);
	size_t len = fr_icmp4_echo(buf, FRAME_ROOM, &l2, PEER_V4, dst, 0x1234, 0x0007, echo_data,
				   ECHO_LEN);

	CU_ASSERT_FATAL(len == ETH_HLEN + n_vlan * VLAN_HLEN + IPV4_HLEN + ICMP_HLEN + ECHO_LEN);
	return (uint32_t)len;
}

static uint32_t
icmp6_frame(uint8_t *buf, unsigned n_vlan, const uint8_t dst[16])
{
	struct fr_l2 l2 = l2_to_us(n_vlan);
	size_t len = fr_icmp6_echo(buf, FRAME_ROOM, &l2, peer_v6, dst, 0x4321, 0x0009, echo_data,
				   ECHO_LEN);

	CU_ASSERT_FATAL(len == ETH_HLEN + n_vlan * VLAN_HLEN + IPV6_HLEN + ICMP_HLEN + ECHO_LEN);
	return (uint32_t)len;
}

static uint32_t
arp_frame(uint8_t *buf, unsigned n_vlan, uint16_t op, uint32_t tpa)
{
	struct fr_l2 l2 = l2_to_us(n_vlan);
	size_t len;

	memcpy(l2.dst, bcast_mac, 6);
	len = fr_arp(buf, FRAME_ROOM, &l2, op, PEER_V4, tpa);
	CU_ASSERT_FATAL(len == ETH_HLEN + n_vlan * VLAN_HLEN + ARP_LEN);
	return (uint32_t)len;
}

/* NS from @src (peer or ::) for @target, with SLLA unless @src is ::. */
static uint32_t
ns_frame(uint8_t *buf, unsigned n_vlan, const uint8_t src[16], const uint8_t target[16])
{
	struct fr_l2 l2 = l2_to_us(n_vlan);
	bool dad = memcmp(src, unspec_v6, 16) == 0;
	size_t len = fr_nd_solicit(buf, FRAME_ROOM, &l2, src, target);

	CU_ASSERT_FATAL(len == ETH_HLEN + n_vlan * VLAN_HLEN + IPV6_HLEN + NS_LEN + (dad ? 0 : 8));
	return (uint32_t)len;
}

/* ------------------------------------------------------------------------ */
/* Counters                                                                  */
/* ------------------------------------------------------------------------ */

#define X_NAME(name, desc) #name,
static const char *const xmacro_outcomes[] = {DP_OUTCOMES(X_NAME)};
static const char *const xmacro_drops[] = {DP_DROPS(X_NAME)};
#undef X_NAME

static bool
is_identifier(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static void
test_counter_names(void)
{
	const char *all[DP_OUT__COUNT + DP_DROP__COUNT];
	unsigned n = 0;

	CU_ASSERT_EQUAL(sizeof(xmacro_outcomes) / sizeof(xmacro_outcomes[0]), DP_OUT__COUNT);
	CU_ASSERT_EQUAL(sizeof(xmacro_drops) / sizeof(xmacro_drops[0]), DP_DROP__COUNT);
	for (unsigned i = 0; i < DP_OUT__COUNT; i++) {
		const char *name = dp_outcome_name((enum dp_outcome)i);
		const char *desc = dp_outcome_desc((enum dp_outcome)i);

		CU_ASSERT_PTR_NOT_NULL_FATAL(name);
		CU_ASSERT_PTR_NOT_NULL_FATAL(desc);
		CU_ASSERT_STRING_EQUAL(name, xmacro_outcomes[i]);
		CU_ASSERT_TRUE(is_identifier(name));
		CU_ASSERT_TRUE(strlen(desc) > 0);
		all[n++] = name;
	}
	for (unsigned i = 0; i < DP_DROP__COUNT; i++) {
		const char *name = dp_drop_name((enum dp_drop)i);
		const char *desc = dp_drop_desc((enum dp_drop)i);

		CU_ASSERT_PTR_NOT_NULL_FATAL(name);
		CU_ASSERT_PTR_NOT_NULL_FATAL(desc);
		CU_ASSERT_STRING_EQUAL(name, xmacro_drops[i]);
		CU_ASSERT_TRUE(is_identifier(name));
		CU_ASSERT_TRUE(strlen(desc) > 0);
		all[n++] = name;
	}
	/* Unique across both lists: they share one JSON/metrics namespace. */
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = i + 1; j < n; j++)
			if (strcmp(all[i], all[j]) == 0) {
				fprintf(stderr, "\n  counter name %s appears twice", all[i]);
				CU_FAIL("duplicate counter name");
			}
	/* Spot checks that enum and name come from the same line. */
	CU_ASSERT_STRING_EQUAL(dp_drop_name(DP_DROP_eth_runt), "eth_runt");
	CU_ASSERT_STRING_EQUAL(dp_drop_name(DP_DROP_tx_full), "tx_full");
	CU_ASSERT_STRING_EQUAL(dp_outcome_name(DP_OUT_telemetry_hl7), "telemetry_hl7");
	CU_ASSERT_STRING_EQUAL(dp_outcome_name(DP_OUT_nd_adverts), "nd_adverts");
}

static void
test_outcome_of_reply(void)
{
	CU_ASSERT_EQUAL(dp_outcome_of_reply(DP_REPLY_ARP), DP_OUT_arp_replies);
	CU_ASSERT_EQUAL(dp_outcome_of_reply(DP_REPLY_ICMP_ECHO), DP_OUT_icmp_echo_replies);
	CU_ASSERT_EQUAL(dp_outcome_of_reply(DP_REPLY_ICMP6_ECHO), DP_OUT_icmp6_echo_replies);
	CU_ASSERT_EQUAL(dp_outcome_of_reply(DP_REPLY_ND_ADVERT), DP_OUT_nd_adverts);
}

/* Every value falls in the bucket whose bounds hold it; the buckets tile
 * the line with no gap; quantiles land in the right bucket. */
static void
test_latency_histogram(void)
{
	uint64_t counts[DP_LAT_BUCKETS] = {0};
	uint64_t v;

	for (unsigned b = 0; b < DP_LAT_BUCKETS; b++) {
		CU_ASSERT_EQUAL(dp_lat_bucket(dp_lat_low(b)), b);
		if (b > 0 && b < DP_LAT_BUCKETS)
			CU_ASSERT_EQUAL(dp_lat_bucket(dp_lat_low(b) - 1), b - 1);
		if (b >= 8 && b + 1 < DP_LAT_BUCKETS) {
			/* at most 12.5% wide */
			CU_ASSERT(dp_lat_low(b + 1) - dp_lat_low(b) <= dp_lat_low(b) / 8);
		}
	}
	for (v = 0; v < 100000; v += 7) {
		unsigned b = dp_lat_bucket(v);

		CU_ASSERT(dp_lat_low(b) <= v);
		CU_ASSERT(v < dp_lat_low(b + 1));
	}
	CU_ASSERT_EQUAL(dp_lat_bucket(UINT64_MAX), DP_LAT_BUCKETS - 1);
	CU_ASSERT_EQUAL(dp_lat_bucket((uint64_t)1 << 32), DP_LAT_BUCKETS - 1);
	CU_ASSERT_EQUAL(dp_lat_low(DP_LAT_BUCKETS - 1), (uint64_t)15 << 28);
	CU_ASSERT_EQUAL(dp_lat_quantile(counts, 0.99), 0.0);
	/* 990 values of 5 cycles, 9 of 1000, 1 of 100000 */
	counts[dp_lat_bucket(5)] = 990;
	counts[dp_lat_bucket(1000)] = 9;
	counts[dp_lat_bucket(100000)] = 1;
	CU_ASSERT_EQUAL(dp_lat_quantile(counts, 0.5), 5.0);
	CU_ASSERT_EQUAL(dp_lat_quantile(counts, 0.99), 5.0);
	v = (uint64_t)dp_lat_quantile(counts, 0.995);
	CU_ASSERT_EQUAL(dp_lat_bucket(v), dp_lat_bucket(1000));
	v = (uint64_t)dp_lat_quantile(counts, 1.0);
	CU_ASSERT_EQUAL(dp_lat_bucket(v), dp_lat_bucket(100000));
	v = (uint64_t)dp_lat_quantile(counts, 0.999);
	CU_ASSERT_EQUAL(dp_lat_bucket(v), dp_lat_bucket(1000));
}

static void
test_stats_add(void)
{
	struct dp_stats *a = aligned_alloc(64, sizeof(*a));
	struct dp_stats *b = aligned_alloc(64, sizeof(*b));

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	dp_count(&a->rx_packets, 5);
	dp_count(&a->outcome[DP_OUT_telemetry_hl7], 3);
	dp_count(&a->drop[DP_DROP_eth_runt], 2);
	dp_count(&b->rx_packets, 7);
	dp_count(&b->rx_bytes, 700);
	dp_count(&b->tx_packets, 1);
	dp_count(&b->outcome[DP_OUT_arp_replies], 1);
	dp_count(&b->drop[DP_DROP_eth_runt], 4);
	dp_count(&b->drop[DP_DROP_tx_full], 1);
	dp_stats_add(a, b);
	CU_ASSERT_EQUAL(dp_read(&a->rx_packets), 12);
	CU_ASSERT_EQUAL(dp_read(&a->rx_bytes), 700);
	CU_ASSERT_EQUAL(dp_read(&a->tx_packets), 1);
	CU_ASSERT_EQUAL(dp_read(&a->outcome[DP_OUT_telemetry_hl7]), 3);
	CU_ASSERT_EQUAL(dp_read(&a->outcome[DP_OUT_arp_replies]), 1);
	CU_ASSERT_EQUAL(dp_read(&a->drop[DP_DROP_eth_runt]), 6);
	CU_ASSERT_EQUAL(dp_read(&a->drop[DP_DROP_tx_full]), 1);
	CU_ASSERT_EQUAL(dp_stats_accounted(a), 3 + 1 + 6 + 1);
	CU_ASSERT_EQUAL(dp_stats_accounted(b), 1 + 4 + 1);
	free(a);
	free(b);
}

/* ------------------------------------------------------------------------ */
/* dp_cksum_raw                                                              */
/* ------------------------------------------------------------------------ */

static void
test_cksum_rfc1071(void)
{
	/* RFC 1071 section 3: these eight bytes sum to 0xddf2. */
	static const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	static const uint8_t one[] = {0xab};
	static const uint8_t ones[] = {0xff, 0xff, 0xff, 0xff};

	CU_ASSERT_EQUAL(dp_cksum_raw(rfc, sizeof(rfc), 0), 0xddf2);
	CU_ASSERT_EQUAL(dp_cksum_raw(rfc, sizeof(rfc), 0x0001), 0xddf3);
	/* An odd byte is the high half of a word padded with zero. */
	CU_ASSERT_EQUAL(dp_cksum_raw(one, 1, 0), 0xab00);
	CU_ASSERT_EQUAL(dp_cksum_raw(one, 0, 0), 0);
	CU_ASSERT_EQUAL(dp_cksum_raw(ones, sizeof(ones), 0), 0xffff);
	/* End-around carry out of the @sum argument. */
	CU_ASSERT_EQUAL(dp_cksum_raw(rfc, sizeof(rfc), 0x10000), 0xddf3);
	CU_ASSERT_EQUAL(dp_cksum_raw(rfc, sizeof(rfc), 0xffffffffu),
			ref_fold(0xddf2ull + 0xffffffffull));
}

static void
test_cksum_against_reference(void)
{
	uint8_t buf[80];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned bad = 0;

	for (unsigned round = 0; round < 2000; round++) {
		size_t start = round % 4, len = (round * 7) % (sizeof(buf) - 4);
		uint32_t sum;

		for (size_t i = 0; i < sizeof(buf); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (uint8_t)x;
		}
		sum = round % 3 == 0 ? 0 : (uint32_t)(x >> 20);
		/* Unaligned starts and every length parity. */
		if (dp_cksum_raw(buf + start, len, sum) != ref_sum(buf + start, len, sum)) {
			if (bad++ < 5)
				fprintf(stderr, "\n  cksum start %zu len %zu sum %#x: %#x want %#x",
					start, len, sum, dp_cksum_raw(buf + start, len, sum),
					ref_sum(buf + start, len, sum));
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
}

/* ------------------------------------------------------------------------ */
/* Telemetry                                                                 */
/* ------------------------------------------------------------------------ */

static void
test_udp4_hl7(void)
{
	uint8_t f[FRAME_ROOM];
	uint32_t len = hl7_udp4(f, 0);

	CU_ASSERT_TRUE(expect_hl7(f, len, 0, "udp4 hl7"));
	CU_ASSERT_EQUAL(last_pkt.l3_off, ETH_HLEN);
	CU_ASSERT_EQUAL(last_pkt.l4_off, ETH_HLEN + IPV4_HLEN);
	CU_ASSERT_EQUAL(last_pkt.payload_off, ETH_HLEN + IPV4_HLEN + UDP_HLEN);
	CU_ASSERT_EQUAL(last_pkt.payload_len, HL7_LEN);
	CU_ASSERT_EQUAL(last_pkt.l3_len, IPV4_HLEN + UDP_HLEN + HL7_LEN);
	CU_ASSERT_EQUAL(last_pkt.src_port, PEER_PORT);
	CU_ASSERT_EQUAL(last_pkt.dst_port, HL7_PORT);
	CU_ASSERT_EQUAL(last_pkt.ip_version, 4);
	CU_ASSERT_EQUAL(last_pkt.l4_proto, 17);
	CU_ASSERT_EQUAL(last_pkt.n_vlan, 0);
	CU_ASSERT_EQUAL(memcmp(last_frame + last_pkt.payload_off, hl7_msg, HL7_LEN), 0);
	/* Telemetry is left as it came. */
	CU_ASSERT_EQUAL(memcmp(last_frame, f, len), 0);
}

static void
test_udp6_hl7(void)
{
	uint8_t f[FRAME_ROOM];
	uint32_t len = hl7_udp6(f);

	CU_ASSERT_TRUE(expect_hl7(f, len, 0, "udp6 hl7"));
	CU_ASSERT_EQUAL(last_pkt.l3_off, ETH_HLEN);
	CU_ASSERT_EQUAL(last_pkt.l4_off, ETH_HLEN + IPV6_HLEN);
	CU_ASSERT_EQUAL(last_pkt.payload_off, ETH_HLEN + IPV6_HLEN + UDP_HLEN);
	CU_ASSERT_EQUAL(last_pkt.payload_len, HL7_LEN);
	CU_ASSERT_EQUAL(last_pkt.l3_len, IPV6_HLEN + UDP_HLEN + HL7_LEN);
	CU_ASSERT_EQUAL(last_pkt.ip_version, 6);
	CU_ASSERT_EQUAL(last_pkt.l4_proto, 17);
	CU_ASSERT_EQUAL(last_pkt.src_port, PEER_PORT);
	CU_ASSERT_EQUAL(last_pkt.dst_port, HL7_PORT);
}

static void
test_udp_vtp(void)
{
	uint8_t f[FRAME_ROOM];
	uint32_t len;

	len = udp4_frame(f, 0, VTP_PORT, vtp_msg, sizeof(vtp_msg));
	CU_ASSERT_TRUE(
		run_with(&local, f, len, len, 0, DP_VERDICT_VTP, DP_OUT_telemetry_vtp, "udp4 vtp"));
	CU_ASSERT_EQUAL(last_pkt.payload_off, ETH_HLEN + IPV4_HLEN + UDP_HLEN);
	CU_ASSERT_EQUAL(last_pkt.payload_len, sizeof(vtp_msg));
	CU_ASSERT_EQUAL(last_pkt.dst_port, VTP_PORT);

	len = udp6_frame(f, 0, VTP_PORT, vtp_msg, sizeof(vtp_msg));
	CU_ASSERT_TRUE(
		run_with(&local, f, len, len, 0, DP_VERDICT_VTP, DP_OUT_telemetry_vtp, "udp6 vtp"));
	CU_ASSERT_EQUAL(last_pkt.payload_off, ETH_HLEN + IPV6_HLEN + UDP_HLEN);
	CU_ASSERT_EQUAL(last_pkt.payload_len, sizeof(vtp_msg));
}

/* A short datagram padded to 60 bytes (zeros, then junk) parses the same. */
static void
test_padding(void)
{
	static const uint8_t tiny[] = {0x0b, 'M', 0x1c};
	uint8_t f[FRAME_ROOM];
	struct dp_pkt bare;
	uint32_t len = udp4_frame(f, 0, HL7_PORT, tiny, sizeof(tiny));

	CU_ASSERT_EQUAL_FATAL(len, 45);
	CU_ASSERT_TRUE(expect_hl7(f, len, 0, "udp4 unpadded"));
	bare = last_pkt;
	for (int fill = 0; fill < 2; fill++) {
		memset(f + len, fill ? 0xa5 : 0x00, ETH_MIN - len);
		CU_ASSERT_TRUE(
			expect_hl7(f, ETH_MIN, 0, fill ? "udp4 junk padding" : "udp4 padded"));
		CU_ASSERT_EQUAL(last_pkt.payload_off, bare.payload_off);
		CU_ASSERT_EQUAL(last_pkt.payload_len, sizeof(tiny));
		CU_ASSERT_EQUAL(last_pkt.l3_len, IPV4_HLEN + UDP_HLEN + sizeof(tiny));
		CU_ASSERT_EQUAL(last_pkt.l4_off, bare.l4_off);
	}

	/* IPv6 frames are never padded, but a trailer must not count either. */
	len = udp6_frame(f, 0, VTP_PORT, tiny, sizeof(tiny));
	memset(f + len, 0, 8);
	CU_ASSERT_TRUE(run_with(&local, f, len + 8, len + 8, 0, DP_VERDICT_VTP,
				DP_OUT_telemetry_vtp, "udp6 trailer"));
	CU_ASSERT_EQUAL(last_pkt.payload_len, sizeof(tiny));
	CU_ASSERT_EQUAL(last_pkt.l3_len, IPV6_HLEN + UDP_HLEN + sizeof(tiny));

	/* Padding after an ICMP echo is not part of the message or its sum. */
	len = icmp4_frame(f, 0, OUR_V4);
	CU_ASSERT_FATAL(len < ETH_MIN);
	memset(f + len, 0x5a, ETH_MIN - len);
	CU_ASSERT_TRUE(expect_reply(f, ETH_MIN, ETH_MIN, DP_OUT_icmp_echo_replies, "padded echo"));
	CU_ASSERT_EQUAL(ref_sum(last_frame + ETH_HLEN + IPV4_HLEN, ICMP_HLEN + ECHO_LEN, 0),
			0xffff);

	/* And after an ARP request (42 bytes on the wire, 60 received). */
	len = arp_frame(f, 0, 1, OUR_V4);
	memset(f + len, 0, ETH_MIN - len);
	CU_ASSERT_TRUE(expect_reply(f, ETH_MIN, ETH_MIN, DP_OUT_arp_replies, "padded arp"));
}

/* ------------------------------------------------------------------------ */
/* Truncation at every byte                                                  */
/* ------------------------------------------------------------------------ */

enum l3_kind { L3_IPV4, L3_IPV6, L3_ARP };

/* The drop a frame of @kind behind @n_vlan tags earns when cut at @cut. */
static enum dp_drop
truncated_reason(enum l3_kind kind, unsigned n_vlan, uint32_t cut)
{
	uint32_t l3_off = ETH_HLEN + n_vlan * VLAN_HLEN;

	if (cut < ETH_HLEN)
		return DP_DROP_eth_runt;
	if (cut < l3_off)
		return DP_DROP_vlan_truncated;
	switch (kind) {
	case L3_IPV4:
		/* Past the header, the total length says more than is there. */
		return cut < l3_off + IPV4_HLEN ? DP_DROP_ipv4_truncated : DP_DROP_ipv4_length;
	case L3_IPV6:
		return cut < l3_off + IPV6_HLEN ? DP_DROP_ipv6_truncated : DP_DROP_ipv6_length;
	case L3_ARP:
		return DP_DROP_arp_malformed;
	}
	return DP_DROP__COUNT;
}

static unsigned
truncate_all(const uint8_t *f, uint32_t len, enum l3_kind kind, unsigned n_vlan, const char *what)
{
	unsigned failed = 0;
	char label[96];

	for (uint32_t cut = 0; cut < len; cut++) {
		snprintf(label, sizeof(label), "%s cut at %u of %u", what, cut, len);
		if (!expect_drop(f, cut, 0, truncated_reason(kind, n_vlan, cut), label))
			failed++;
	}
	return failed;
}

static void
test_truncation(void)
{
	uint8_t f[FRAME_ROOM];
	uint32_t len;

	len = hl7_udp4(f, 0);
	CU_ASSERT_EQUAL(truncate_all(f, len, L3_IPV4, 0, "udp4"), 0);
	len = hl7_udp6(f);
	CU_ASSERT_EQUAL(truncate_all(f, len, L3_IPV6, 0, "udp6"), 0);
	len = icmp4_frame(f, 0, OUR_V4);
	CU_ASSERT_EQUAL(truncate_all(f, len, L3_IPV4, 0, "icmp echo"), 0);
	len = icmp6_frame(f, 0, our_v6);
	CU_ASSERT_EQUAL(truncate_all(f, len, L3_IPV6, 0, "icmp6 echo"), 0);
	len = arp_frame(f, 0, 1, OUR_V4);
	CU_ASSERT_EQUAL(truncate_all(f, len, L3_ARP, 0, "arp request"), 0);
	len = hl7_udp4(f, 1);
	CU_ASSERT_EQUAL(truncate_all(f, len, L3_IPV4, 1, "vlan udp4"), 0);
	len = hl7_udp4(f, 2);
	CU_ASSERT_EQUAL(truncate_all(f, len, L3_IPV4, 2, "qinq udp4"), 0);
	len = ns_frame(f, 0, peer_v6, our_v6);
	CU_ASSERT_EQUAL(truncate_all(f, len, L3_IPV6, 0, "ns"), 0);
	len = arp_frame(f, 2, 1, OUR_V4);
	CU_ASSERT_EQUAL(truncate_all(f, len, L3_ARP, 2, "qinq arp"), 0);
}

/* ------------------------------------------------------------------------ */
/* IPv4                                                                      */
/* ------------------------------------------------------------------------ */

static void
test_ipv4_header(void)
{
	uint8_t f[FRAME_ROOM], g[FRAME_ROOM];
	uint32_t len = hl7_udp4(f, 0);
	uint8_t *ip = g + ETH_HLEN;

	/* IHL below 5 words. */
	memcpy(g, f, len);
	ip[0] = 0x44;
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_ipv4_ihl, "ihl 4"));
	ip[0] = 0x40;
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_ipv4_ihl, "ihl 0"));

	/* IHL past the total length: a 24-byte header in a 22-byte packet. */
	memcpy(g, f, len);
	ip[0] = 0x46;
	wr16(ip + 2, 22);
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_ipv4_ihl, "ihl 6, total 22"));
	/* IHL 15 (60 bytes) in a packet of 20 + 8 + payload. */
	memcpy(g, f, len);
	ip[0] = 0x4f;
	wr16(ip + 2, 40);
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_ipv4_ihl, "ihl 15, total 40"));

	/* Version other than 4 under the IPv4 EtherType. */
	memcpy(g, f, len);
	ip[0] = 0x55;
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_ipv4_version, "version 5"));
	ip[0] = 0x65;
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_ipv4_version, "version 6 in 0x0800"));

	/* Total length shorter than the minimum header. */
	memcpy(g, f, len);
	wr16(ip + 2, 19);
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_ipv4_length, "total 19"));
	wr16(ip + 2, 0);
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_ipv4_length, "total 0"));

	/* Total length one byte longer than the frame. */
	memcpy(g, f, len);
	wr16(ip + 2, (uint16_t)(len - ETH_HLEN + 1));
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_ipv4_length, "total = frame + 1"));

	/* Options are fine: four NOPs make a 24-byte header. */
	memcpy(g, f, ETH_HLEN + IPV4_HLEN);
	memset(g + ETH_HLEN + IPV4_HLEN, 0x01, 4);
	memcpy(g + ETH_HLEN + IPV4_HLEN + 4, f + ETH_HLEN + IPV4_HLEN, len - ETH_HLEN - IPV4_HLEN);
	ip[0] = 0x46;
	wr16(ip + 2, (uint16_t)(len - ETH_HLEN + 4));
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_hl7(g, len + 4, 0, "ipv4 with options"));
	CU_ASSERT_EQUAL(last_pkt.l4_off, ETH_HLEN + 24);
	CU_ASSERT_EQUAL(last_pkt.payload_off, ETH_HLEN + 24 + UDP_HLEN);
	CU_ASSERT_EQUAL(last_pkt.payload_len, HL7_LEN);
}

/* Header checksum in software and as the NIC reports it. */
static void
test_ipv4_checksum(void)
{
	uint8_t good[FRAME_ROOM], bad[FRAME_ROOM];
	uint32_t len = hl7_udp4(good, 0);

	memcpy(bad, good, len);
	bad[ETH_HLEN + 10] ^= 0x01;
	CU_ASSERT_TRUE(expect_hl7(good, len, 0, "good sum, no flags"));
	CU_ASSERT_TRUE(expect_drop(bad, len, 0, DP_DROP_ipv4_checksum, "bad sum, no flags"));
	CU_ASSERT_TRUE(expect_hl7(good, len, DP_CSUM_IP_GOOD, "good sum, IP_GOOD"));
	/* The NIC vouched for the header: vigil does not sum it again. */
	CU_ASSERT_TRUE(expect_hl7(bad, len, DP_CSUM_IP_GOOD, "bad sum, IP_GOOD"));
	CU_ASSERT_TRUE(
		expect_drop(good, len, DP_CSUM_IP_BAD, DP_DROP_ipv4_checksum, "good sum, IP_BAD"));
	CU_ASSERT_TRUE(
		expect_drop(bad, len, DP_CSUM_IP_BAD, DP_DROP_ipv4_checksum, "bad sum, IP_BAD"));
	/* L4 flags say nothing about the IP header. */
	CU_ASSERT_TRUE(
		expect_drop(bad, len, DP_CSUM_L4_GOOD, DP_DROP_ipv4_checksum, "bad sum, L4_GOOD"));
}

static void
test_ipv4_fragments(void)
{
	uint8_t f[FRAME_ROOM], g[FRAME_ROOM];
	uint32_t len = hl7_udp4(f, 0);
	uint8_t *ip = g + ETH_HLEN;

	CU_ASSERT_EQUAL(rd16(f + ETH_HLEN + 6), 0x4000); /* DF alone is no fragment */
	memcpy(g, f, len);
	wr16(ip + 6, 0x2000); /* MF, offset 0: a first fragment */
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_ipv4_fragment, "MF"));
	wr16(ip + 6, 0x0001); /* offset 8, last fragment */
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_ipv4_fragment, "offset 1"));
	wr16(ip + 6, 0x1fff); /* largest offset */
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_ipv4_fragment, "offset 8191"));
	wr16(ip + 6, 0x2010); /* MF and an offset: a middle fragment */
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_ipv4_fragment, "MF + offset"));
	wr16(ip + 6, 0x0000); /* no flags at all: whole datagram */
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_hl7(g, len, 0, "no DF"));
}

static void
test_ipv4_l4_proto(void)
{
	uint8_t f[FRAME_ROOM];
	struct fr_l2 l2 = l2_to_us(0);
	uint32_t len = (uint32_t)fr_tcp4(f, sizeof(f), &l2, PEER_V4, OUR_V4, PEER_PORT, HL7_PORT);

	CU_ASSERT_EQUAL_FATAL(len, ETH_HLEN + IPV4_HLEN + 20);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_l4_proto, "tcp to 2575"));
	len = hl7_udp4(f, 0);
	f[ETH_HLEN + 9] = 132; /* SCTP */
	fix_ipv4(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_l4_proto, "sctp"));
}

/* ------------------------------------------------------------------------ */
/* UDP                                                                       */
/* ------------------------------------------------------------------------ */

static void
test_udp_length(void)
{
	uint8_t f[FRAME_ROOM], g[FRAME_ROOM];
	uint32_t len = hl7_udp4(f, 0);
	uint8_t *udp = g + ETH_HLEN + IPV4_HLEN;

	memcpy(g, f, len);
	wr16(udp + 4, (uint16_t)(UDP_HLEN + HL7_LEN + 1)); /* one past the IP payload */
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_udp_length, "udp len > ip payload"));
	wr16(udp + 4, 7);
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_udp_length, "udp len 7"));
	wr16(udp + 4, 0);
	CU_ASSERT_TRUE(expect_drop(g, len, 0, DP_DROP_udp_length, "udp len 0"));

	/* A UDP length short of the IP payload: the datagram is what UDP says
	 * (RFC 768), the rest of the IP payload is ignored, as Linux does. */
	memcpy(g, f, len);
	wr16(udp + 4, (uint16_t)(UDP_HLEN + HL7_LEN - 3));
	fix_udp4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_hl7(g, len, 0, "udp len < ip payload"));
	CU_ASSERT_EQUAL(last_pkt.payload_len, HL7_LEN - 3);

	/* An IP payload of 4 bytes cannot hold a UDP header. */
	memcpy(g, f, len);
	wr16(g + ETH_HLEN + 2, IPV4_HLEN + 4);
	fix_ipv4(g, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(g, ETH_HLEN + IPV4_HLEN + 4, 0, DP_DROP_udp_truncated,
				   "udp in 4 bytes"));
	memset(g + ETH_HLEN + IPV4_HLEN + 4, 0, ETH_MIN - (ETH_HLEN + IPV4_HLEN + 4));
	CU_ASSERT_TRUE(expect_drop(g, ETH_MIN, 0, DP_DROP_udp_truncated, "udp in 4 bytes, padded"));
	len = hl7_udp6(f);
	wr16(f + ETH_HLEN + 4, 7);
	CU_ASSERT_TRUE(expect_drop(f, ETH_HLEN + IPV6_HLEN + 7, 0, DP_DROP_udp_truncated,
				   "udp6 in 7 bytes"));
}

static void
test_udp_checksum(void)
{
	uint8_t f[FRAME_ROOM];
	struct dp_local no_check = local;
	uint32_t len4, len6;
	uint16_t field;

	no_check.udp_checksum = false;

	/* Wrong, over IPv4 and IPv6. */
	len4 = hl7_udp4(f, 0);
	f[len4 - 1] ^= 0x20;
	CU_ASSERT_TRUE(expect_drop(f, len4, 0, DP_DROP_udp_checksum, "udp4 wrong sum"));
	CU_ASSERT_TRUE(run_with(&no_check, f, len4, len4, 0, DP_VERDICT_HL7, DP_OUT_telemetry_hl7,
				"udp4 wrong sum, not checked"));
	/* The NIC's word wins over software either way. */
	CU_ASSERT_TRUE(expect_hl7(f, len4, DP_CSUM_L4_GOOD, "udp4 wrong sum, L4_GOOD"));
	len4 = hl7_udp4(f, 0);
	CU_ASSERT_TRUE(expect_drop(f, len4, DP_CSUM_L4_BAD, DP_DROP_udp_checksum,
				   "udp4 good sum, L4_BAD"));
	CU_ASSERT_TRUE(expect_hl7(f, len4, DP_CSUM_IP_GOOD | DP_CSUM_L4_GOOD, "both GOOD"));

	len6 = hl7_udp6(f);
	f[len6 - 1] ^= 0x20;
	CU_ASSERT_TRUE(expect_drop(f, len6, 0, DP_DROP_udp_checksum, "udp6 wrong sum"));
	CU_ASSERT_TRUE(run_with(&no_check, f, len6, len6, 0, DP_VERDICT_HL7, DP_OUT_telemetry_hl7,
				"udp6 wrong sum, not checked"));
	len6 = hl7_udp6(f);
	CU_ASSERT_TRUE(expect_drop(f, len6, DP_CSUM_L4_BAD, DP_DROP_udp_checksum,
				   "udp6 good sum, L4_BAD"));

	/* Zero: "no checksum" over IPv4, forbidden over IPv6 (RFC 8200 8.1). */
	len4 = hl7_udp4(f, 0);
	wr16(f + ETH_HLEN + IPV4_HLEN + 6, 0);
	CU_ASSERT_TRUE(expect_hl7(f, len4, 0, "udp4 zero sum"));
	len6 = hl7_udp6(f);
	wr16(f + ETH_HLEN + IPV6_HLEN + 6, 0);
	CU_ASSERT_TRUE(expect_drop(f, len6, 0, DP_DROP_udp_checksum, "udp6 zero sum"));
	CU_ASSERT_TRUE(run_with(&no_check, f, len6, len6, 0, DP_VERDICT_HL7, DP_OUT_telemetry_hl7,
				"udp6 zero sum, not checked"));

	/* A sum that computes to zero goes out as 0xffff (RFC 768) and is
	 * valid: make the first two payload bytes cancel the rest. */
	len4 = udp4_frame(f, 0, HL7_PORT, "\0\0abcdefg", 9);
	field = rd16(f + ETH_HLEN + IPV4_HLEN + 6);
	wr16(f + ETH_HLEN + IPV4_HLEN + UDP_HLEN, field);
	wr16(f + ETH_HLEN + IPV4_HLEN + 6, 0xffff);
	CU_ASSERT_EQUAL(ref_sum(f + ETH_HLEN + IPV4_HLEN, UDP_HLEN + 9,
				pseudo4(f + ETH_HLEN, 17, UDP_HLEN + 9)),
			0xffff);
	CU_ASSERT_TRUE(expect_hl7(f, len4, 0, "udp4 sum 0xffff"));
	len6 = udp6_frame(f, 0, HL7_PORT, "\0\0abcdefg", 9);
	field = rd16(f + ETH_HLEN + IPV6_HLEN + 6);
	wr16(f + ETH_HLEN + IPV6_HLEN + UDP_HLEN, field);
	wr16(f + ETH_HLEN + IPV6_HLEN + 6, 0xffff);
	CU_ASSERT_TRUE(expect_hl7(f, len6, 0, "udp6 sum 0xffff"));
}

static void
test_udp_port(void)
{
	uint8_t f[FRAME_ROOM];
	uint32_t len = udp4_frame(f, 0, 53, "q", 1);

	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_udp_port, "udp4 to 53"));
	len = udp6_frame(f, 0, 2576, "q", 1);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_udp_port, "udp6 to 2576"));
}

/* ------------------------------------------------------------------------ */
/* VLAN                                                                      */
/* ------------------------------------------------------------------------ */

static void
test_vlan_stacks(void)
{
	uint8_t f[FRAME_ROOM];
	struct fr_l2 l2;
	uint32_t len;

	len = hl7_udp4(f, 1);
	CU_ASSERT_EQUAL(rd16(f + 12), 0x8100);
	CU_ASSERT_TRUE(expect_hl7(f, len, 0, "one tag"));
	CU_ASSERT_EQUAL(last_pkt.n_vlan, 1);
	CU_ASSERT_EQUAL(last_pkt.vlan_tci[0], 0x2064);
	CU_ASSERT_EQUAL(last_pkt.l3_off, ETH_HLEN + VLAN_HLEN);
	CU_ASSERT_EQUAL(last_pkt.payload_off, ETH_HLEN + VLAN_HLEN + IPV4_HLEN + UDP_HLEN);
	CU_ASSERT_EQUAL(last_pkt.payload_len, HL7_LEN);

	len = hl7_udp4(f, 2);
	CU_ASSERT_EQUAL(rd16(f + 12), 0x88a8);
	CU_ASSERT_EQUAL(rd16(f + 16), 0x8100);
	CU_ASSERT_TRUE(expect_hl7(f, len, 0, "802.1ad + 802.1Q"));
	CU_ASSERT_EQUAL(last_pkt.n_vlan, 2);
	CU_ASSERT_EQUAL(last_pkt.vlan_tci[0], 0x2064);
	CU_ASSERT_EQUAL(last_pkt.vlan_tci[1], 0x20c8);
	CU_ASSERT_EQUAL(last_pkt.l3_off, ETH_HLEN + 2 * VLAN_HLEN);
	CU_ASSERT_EQUAL(last_pkt.payload_off, ETH_HLEN + 2 * VLAN_HLEN + IPV4_HLEN + UDP_HLEN);

	/* Two 802.1Q tags, as Linux stacks them by default. */
	l2 = l2_to_us(2);
	l2.vlan_tpid[0] = 0x8100;
	l2.vlan_tpid[1] = 0x8100;
	len = (uint32_t)fr_udp4(f, sizeof(f), &l2, PEER_V4, OUR_V4, PEER_PORT, HL7_PORT, hl7_msg,
				HL7_LEN);
	CU_ASSERT_TRUE(expect_hl7(f, len, 0, "802.1Q + 802.1Q"));
	CU_ASSERT_EQUAL(last_pkt.n_vlan, 2);

	len = udp6_frame(f, 2, VTP_PORT, vtp_msg, sizeof(vtp_msg));
	CU_ASSERT_TRUE(run_with(&local, f, len, len, 0, DP_VERDICT_VTP, DP_OUT_telemetry_vtp,
				"qinq udp6"));
	CU_ASSERT_EQUAL(last_pkt.payload_off, ETH_HLEN + 2 * VLAN_HLEN + IPV6_HLEN + UDP_HLEN);

	len = hl7_udp4(f, 3);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_vlan_too_deep, "three tags"));
	len = hl7_udp4(f, 4);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_vlan_too_deep, "four tags"));
	len = arp_frame(f, 3, 1, OUR_V4);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_vlan_too_deep, "arp behind three tags"));
}

static void
test_ethertype(void)
{
	uint8_t f[FRAME_ROOM];
	uint32_t len = hl7_udp4(f, 0);

	wr16(f + 12, 0x88cc); /* LLDP */
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_ethertype, "lldp"));
	wr16(f + 12, 0x0600); /* an 802.3 length field */
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_ethertype, "802.3 length"));
	len = hl7_udp4(f, 1);
	wr16(f + 16, 0x8035); /* RARP behind a tag */
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_ethertype, "rarp behind a tag"));
	/* Exactly an Ethernet header and nothing after it. */
	CU_ASSERT_TRUE(expect_drop(f, ETH_HLEN, 0, DP_DROP_vlan_truncated, "tpid, no tci"));
	len = hl7_udp4(f, 0);
	CU_ASSERT_TRUE(expect_drop(f, ETH_HLEN, 0, DP_DROP_ipv4_truncated, "bare ethernet"));
}

/* ------------------------------------------------------------------------ */
/* IPv6                                                                      */
/* ------------------------------------------------------------------------ */

static void
test_ipv6_header(void)
{
	uint8_t f[FRAME_ROOM];
	uint32_t len = hl7_udp6(f);

	f[ETH_HLEN] = 0x40;
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_ipv6_version, "version 4 in 0x86dd"));
	len = hl7_udp6(f);
	wr16(f + ETH_HLEN + 4, (uint16_t)(len - ETH_HLEN - IPV6_HLEN + 1));
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_ipv6_length, "payload length = frame + 1"));

	/* Traffic class and flow label are nobody's business here. */
	len = hl7_udp6(f);
	f[ETH_HLEN] = 0x6f;
	f[ETH_HLEN + 1] = 0xf1;
	f[ETH_HLEN + 3] = 0x23;
	CU_ASSERT_TRUE(expect_hl7(f, len, 0, "traffic class and flow label"));

	len = hl7_udp6(f);
	f[ETH_HLEN + 6] = 6; /* TCP */
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_l4_proto, "ipv6 tcp"));
	f[ETH_HLEN + 6] = 59; /* no next header */
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_l4_proto, "ipv6 no next header"));
	f[ETH_HLEN + 6] = 50; /* ESP */
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_l4_proto, "ipv6 esp"));
}

static void
test_ipv6_extensions(void)
{
	static const uint8_t hop_rt_dst[] = {0, 43, 60};
	static const uint8_t frag[] = {44};
	static const uint8_t hop_frag[] = {0, 44};
	uint8_t chain[IPV6_EXT_LIMIT + 1];
	uint8_t f[FRAME_ROOM];
	uint32_t len;

	len = udp6_ext_frame(f, hop_rt_dst, 3);
	CU_ASSERT_TRUE(expect_hl7(f, len, 0, "hop-by-hop, routing, dest opts"));
	CU_ASSERT_EQUAL(last_pkt.l4_off, ETH_HLEN + IPV6_HLEN + 24);
	CU_ASSERT_EQUAL(last_pkt.payload_off, ETH_HLEN + IPV6_HLEN + 24 + UDP_HLEN);
	CU_ASSERT_EQUAL(last_pkt.payload_len, HL7_LEN);
	CU_ASSERT_EQUAL(last_pkt.l4_proto, 17);
	CU_ASSERT_EQUAL(last_pkt.l3_len, IPV6_HLEN + 24 + UDP_HLEN + HL7_LEN);

	len = udp6_ext_frame(f, frag, 1);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_ipv6_fragment, "fragment header"));
	len = udp6_ext_frame(f, hop_frag, 2);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_ipv6_fragment, "hop-by-hop, fragment"));

	/* As many as vigil walks pass; one more is too many. */
	chain[0] = 0;
	for (unsigned i = 1; i < sizeof(chain); i++)
		chain[i] = (i % 2) ? 60 : 43;
	len = udp6_ext_frame(f, chain, IPV6_EXT_LIMIT);
	CU_ASSERT_TRUE(expect_hl7(f, len, 0, "longest chain walked"));
	CU_ASSERT_EQUAL(last_pkt.payload_off, ETH_HLEN + IPV6_HLEN + 8 * IPV6_EXT_LIMIT + UDP_HLEN);
	len = udp6_ext_frame(f, chain, IPV6_EXT_LIMIT + 1);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_ipv6_ext_chain, "chain one too long"));

	/* A header whose length runs past the payload. */
	len = udp6_ext_frame(f, hop_rt_dst, 3);
	f[ETH_HLEN + IPV6_HLEN + 16 + 1] = 200; /* dest opts: 1608 bytes */
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_ipv6_ext_truncated, "dest opts too long"));
	/* The payload ends one byte into an extension header. */
	len = hl7_udp6(f);
	f[ETH_HLEN + 6] = 60;
	wr16(f + ETH_HLEN + 4, 1);
	CU_ASSERT_TRUE(expect_drop(f, ETH_HLEN + IPV6_HLEN + 1, 0, DP_DROP_ipv6_ext_truncated,
				   "1 byte of dest opts"));
	wr16(f + ETH_HLEN + 4, 0);
	CU_ASSERT_TRUE(expect_drop(f, ETH_HLEN + IPV6_HLEN + 2, 0, DP_DROP_ipv6_ext_truncated,
				   "empty payload, dest opts next"));

	/* Extension header then "no next header". */
	len = udp6_ext_frame(f, hop_rt_dst + 2, 1);
	f[ETH_HLEN + IPV6_HLEN] = 59;
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_l4_proto, "dest opts, no next header"));
}

/* ------------------------------------------------------------------------ */
/* ARP                                                                       */
/* ------------------------------------------------------------------------ */

static void
check_arp_reply(const uint8_t *r, unsigned n_vlan, uint32_t spa)
{
	const uint8_t *arp = r + ETH_HLEN + n_vlan * VLAN_HLEN;
	uint8_t want_spa[4], want_tpa[4];
	uint32_t be;

	be = htonl(spa);
	memcpy(want_spa, &be, 4);
	be = htonl(PEER_V4);
	memcpy(want_tpa, &be, 4);
	CU_ASSERT_EQUAL(memcmp(r, peer_mac, 6), 0);    /* to the requester */
	CU_ASSERT_EQUAL(memcmp(r + 6, our_mac, 6), 0); /* from us */
	CU_ASSERT_EQUAL(rd16(arp - 2), 0x0806);
	CU_ASSERT_EQUAL(rd16(arp), 1);
	CU_ASSERT_EQUAL(rd16(arp + 2), 0x0800);
	CU_ASSERT_EQUAL(arp[4], 6);
	CU_ASSERT_EQUAL(arp[5], 4);
	CU_ASSERT_EQUAL(rd16(arp + 6), 2);
	CU_ASSERT_EQUAL(memcmp(arp + 8, our_mac, 6), 0);
	CU_ASSERT_EQUAL(memcmp(arp + 14, want_spa, 4), 0);
	CU_ASSERT_EQUAL(memcmp(arp + 18, peer_mac, 6), 0);
	CU_ASSERT_EQUAL(memcmp(arp + 24, want_tpa, 4), 0);
}

static void
test_arp(void)
{
	uint8_t f[FRAME_ROOM];
	struct dp_local two = local;
	uint32_t len;

	len = arp_frame(f, 0, 1, OUR_V4);
	CU_ASSERT_TRUE(expect_reply(f, len, len, DP_OUT_arp_replies, "arp for us"));
	CU_ASSERT_EQUAL(last_pkt.reply, DP_REPLY_ARP);
	CU_ASSERT_EQUAL(last_pkt.ip_version, 0);
	CU_ASSERT_EQUAL(last_pkt.addr_index, 0);
	CU_ASSERT_EQUAL(last_reply_len, ETH_HLEN + ARP_LEN);
	check_arp_reply(last_frame, 0, OUR_V4);

	/* Tags are kept as they came. */
	len = arp_frame(f, 2, 1, OUR_V4);
	CU_ASSERT_TRUE(expect_reply(f, len, len, DP_OUT_arp_replies, "arp for us, qinq"));
	CU_ASSERT_EQUAL(last_reply_len, len);
	CU_ASSERT_EQUAL(memcmp(last_frame + 12, f + 12, 2 * VLAN_HLEN + 2), 0);
	check_arp_reply(last_frame, 2, OUR_V4);

	/* The second of two addresses answers with that address. */
	two.n_ipv4 = 2;
	two.ipv4[1] = htonl(OUR_V4_B);
	len = arp_frame(f, 0, 1, OUR_V4_B);
	CU_ASSERT_TRUE(run_with(&two, f, len, len, 0, DP_VERDICT_REPLY, DP_OUT_arp_replies,
				"arp for our second address"));
	CU_ASSERT_EQUAL(last_pkt.addr_index, 1);
	check_arp_reply(last_frame, 0, OUR_V4_B);

	len = arp_frame(f, 0, 1, OTHER_V4);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_arp_not_ours, "arp for another"));
	len = arp_frame(f, 0, 2, OUR_V4);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_arp_not_request, "arp reply"));
	len = arp_frame(f, 0, 3, OUR_V4);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_arp_not_request, "rarp request"));

	len = arp_frame(f, 0, 1, OUR_V4);
	f[ETH_HLEN + 4] = 8;
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_arp_malformed, "hlen 8"));
	len = arp_frame(f, 0, 1, OUR_V4);
	f[ETH_HLEN + 5] = 16;
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_arp_malformed, "plen 16"));
	len = arp_frame(f, 0, 1, OUR_V4);
	wr16(f + ETH_HLEN, 6);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_arp_malformed, "htype 6"));
	len = arp_frame(f, 0, 1, OUR_V4);
	wr16(f + ETH_HLEN + 2, 0x86dd);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_arp_malformed, "ptype ipv6"));
}

/* ------------------------------------------------------------------------ */
/* ICMP                                                                      */
/* ------------------------------------------------------------------------ */

static void
check_icmp_reply(const uint8_t *req, const uint8_t *r, uint32_t l3_off)
{
	const uint8_t *ip = r + l3_off, *rq = req + l3_off;
	const uint8_t *icmp = ip + IPV4_HLEN, *rq_icmp = rq + IPV4_HLEN;
	uint16_t total = rd16(rq + 2);

	CU_ASSERT_EQUAL(memcmp(r, peer_mac, 6), 0);
	CU_ASSERT_EQUAL(memcmp(r + 6, our_mac, 6), 0);
	CU_ASSERT_EQUAL(memcmp(r + 12, req + 12, l3_off - 12), 0); /* tags and type */
	CU_ASSERT_EQUAL(ip[0], 0x45);
	CU_ASSERT_EQUAL(rd16(ip + 2), total);
	CU_ASSERT_EQUAL(ip[8], 64);
	CU_ASSERT_EQUAL(ip[9], 1);
	CU_ASSERT_EQUAL(memcmp(ip + 12, rq + 16, 4), 0); /* addresses swapped */
	CU_ASSERT_EQUAL(memcmp(ip + 16, rq + 12, 4), 0);
	CU_ASSERT_EQUAL(dp_cksum_raw(ip, IPV4_HLEN, 0), 0xffff);
	CU_ASSERT_EQUAL(ref_sum(ip, IPV4_HLEN, 0), 0xffff);
	CU_ASSERT_EQUAL(icmp[0], 0);
	CU_ASSERT_EQUAL(icmp[1], 0);
	CU_ASSERT_EQUAL(rd16(icmp + 4), 0x1234);
	CU_ASSERT_EQUAL(rd16(icmp + 6), 0x0007);
	CU_ASSERT_EQUAL(memcmp(icmp + ICMP_HLEN, rq_icmp + ICMP_HLEN, ECHO_LEN), 0);
	CU_ASSERT_EQUAL(dp_cksum_raw(icmp, total - IPV4_HLEN, 0), 0xffff);
	CU_ASSERT_EQUAL(ref_sum(icmp, total - IPV4_HLEN, 0), 0xffff);
}

static void
test_icmp_echo(void)
{
	uint8_t f[FRAME_ROOM];
	uint32_t len;

	len = icmp4_frame(f, 0, OUR_V4);
	f[ETH_HLEN + 8] = 3; /* the request's TTL is not echoed */
	fix_ipv4(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_reply(f, len, len, DP_OUT_icmp_echo_replies, "echo to us"));
	CU_ASSERT_EQUAL(last_pkt.reply, DP_REPLY_ICMP_ECHO);
	CU_ASSERT_EQUAL(last_reply_len, len);
	check_icmp_reply(f, last_frame, ETH_HLEN);

	len = icmp4_frame(f, 2, OUR_V4);
	CU_ASSERT_TRUE(expect_reply(f, len, len, DP_OUT_icmp_echo_replies, "echo to us, qinq"));
	CU_ASSERT_EQUAL(last_reply_len, len);
	check_icmp_reply(f, last_frame, ETH_HLEN + 2 * VLAN_HLEN);

	len = icmp4_frame(f, 0, OTHER_V4);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_icmp_not_ours, "echo to another"));

	len = icmp4_frame(f, 0, OUR_V4);
	f[ETH_HLEN + IPV4_HLEN] = 13; /* timestamp request */
	fix_icmp4(f, ETH_HLEN + IPV4_HLEN, ICMP_HLEN + ECHO_LEN);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_icmp_type, "timestamp request"));
	f[ETH_HLEN + IPV4_HLEN] = 0; /* an echo reply is not answered */
	fix_icmp4(f, ETH_HLEN + IPV4_HLEN, ICMP_HLEN + ECHO_LEN);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_icmp_type, "echo reply"));
	f[ETH_HLEN + IPV4_HLEN] = 8;
	f[ETH_HLEN + IPV4_HLEN + 1] = 1; /* echo with a code RFC 792 does not define */
	fix_icmp4(f, ETH_HLEN + IPV4_HLEN, ICMP_HLEN + ECHO_LEN);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_icmp_type, "echo code 1"));

	len = icmp4_frame(f, 0, OUR_V4);
	f[len - 1] ^= 0x40;
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_icmp_checksum, "echo, wrong sum"));

	/* An IP payload of 4 bytes cannot hold an ICMP header. */
	len = icmp4_frame(f, 0, OUR_V4);
	wr16(f + ETH_HLEN + 2, IPV4_HLEN + 4);
	fix_ipv4(f, ETH_HLEN);
	CU_ASSERT_TRUE(
		expect_drop(f, ETH_HLEN + IPV4_HLEN + 4, 0, DP_DROP_icmp_truncated, "icmp in 4"));
}

/* ------------------------------------------------------------------------ */
/* ICMPv6 and neighbour discovery                                            */
/* ------------------------------------------------------------------------ */

static uint16_t
icmp6_sum(const uint8_t *ip6)
{
	uint16_t plen = rd16(ip6 + 4);

	return ref_sum(ip6 + IPV6_HLEN, plen, pseudo6(ip6, 58, plen));
}

static void
test_icmp6_echo(void)
{
	uint8_t f[FRAME_ROOM];
	const uint8_t *ip6, *icmp;
	uint32_t len;

	for (unsigned n_vlan = 0; n_vlan <= 2; n_vlan += 2) {
		uint32_t l3_off = ETH_HLEN + n_vlan * VLAN_HLEN;

		len = icmp6_frame(f, n_vlan, our_v6);
		CU_ASSERT_TRUE(expect_reply(f, len, len, DP_OUT_icmp6_echo_replies, "echo6 to us"));
		CU_ASSERT_EQUAL(last_pkt.reply, DP_REPLY_ICMP6_ECHO);
		CU_ASSERT_EQUAL(last_reply_len, len);
		ip6 = last_frame + l3_off;
		icmp = ip6 + IPV6_HLEN;
		CU_ASSERT_EQUAL(memcmp(last_frame, peer_mac, 6), 0);
		CU_ASSERT_EQUAL(memcmp(last_frame + 6, our_mac, 6), 0);
		CU_ASSERT_EQUAL(memcmp(last_frame + 12, f + 12, l3_off - 12), 0);
		CU_ASSERT_EQUAL(ip6[0] >> 4, 6);
		CU_ASSERT_EQUAL(rd16(ip6 + 4), ICMP_HLEN + ECHO_LEN);
		CU_ASSERT_EQUAL(ip6[6], 58);
		CU_ASSERT_EQUAL(ip6[7], 64);
		CU_ASSERT_EQUAL(memcmp(ip6 + 8, our_v6, 16), 0);
		CU_ASSERT_EQUAL(memcmp(ip6 + 24, peer_v6, 16), 0);
		CU_ASSERT_EQUAL(icmp[0], 129);
		CU_ASSERT_EQUAL(icmp[1], 0);
		CU_ASSERT_EQUAL(rd16(icmp + 4), 0x4321);
		CU_ASSERT_EQUAL(rd16(icmp + 6), 0x0009);
		CU_ASSERT_EQUAL(memcmp(icmp + ICMP_HLEN, echo_data, ECHO_LEN), 0);
		CU_ASSERT_EQUAL(icmp6_sum(ip6), 0xffff);
		CU_ASSERT_EQUAL(dp_cksum_raw(icmp, ICMP_HLEN + ECHO_LEN,
					     pseudo6(ip6, 58, ICMP_HLEN + ECHO_LEN)),
				0xffff);
	}

	len = icmp6_frame(f, 0, other_v6);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_icmp6_not_ours, "echo6 to another"));
	len = icmp6_frame(f, 0, all_nodes_v6);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_icmp6_not_ours, "echo6 to ff02::1"));

	len = icmp6_frame(f, 0, our_v6);
	f[len - 1] ^= 0x01;
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_icmp6_checksum, "echo6, wrong sum"));
	/* The pseudo-header is part of the sum: another source breaks it. */
	len = icmp6_frame(f, 0, our_v6);
	f[ETH_HLEN + 8 + 15] ^= 0x01;
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_icmp6_checksum, "echo6, source changed"));

	len = icmp6_frame(f, 0, our_v6);
	f[ETH_HLEN + IPV6_HLEN] = 129;
	fix_icmp6(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_icmp6_type, "echo6 reply"));
	f[ETH_HLEN + IPV6_HLEN] = 130; /* MLD query */
	fix_icmp6(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_icmp6_type, "mld query"));
	f[ETH_HLEN + IPV6_HLEN] = 136; /* an advertisement is not answered */
	fix_icmp6(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_icmp6_type, "neighbour advert"));

	len = icmp6_frame(f, 0, our_v6);
	wr16(f + ETH_HLEN + 4, 4);
	CU_ASSERT_TRUE(
		expect_drop(f, ETH_HLEN + IPV6_HLEN + 4, 0, DP_DROP_icmp6_truncated, "icmp6 in 4"));
}

/* Check a neighbour advertisement for our_v6 sent to @dst / @eth_dst. */
static void
check_advert(const uint8_t *r, uint32_t reply_len, const uint8_t *req, unsigned n_vlan,
	     const uint8_t dst[16], const uint8_t eth_dst[6], uint8_t flags)
{
	uint32_t l3_off = ETH_HLEN + n_vlan * VLAN_HLEN;
	const uint8_t *ip6 = r + l3_off, *na = ip6 + IPV6_HLEN;
	static const uint8_t zero[3];

	CU_ASSERT_EQUAL(reply_len, l3_off + IPV6_HLEN + NA_LEN);
	CU_ASSERT_EQUAL(memcmp(r, eth_dst, 6), 0);
	CU_ASSERT_EQUAL(memcmp(r + 6, our_mac, 6), 0);
	CU_ASSERT_EQUAL(memcmp(r + 12, req + 12, l3_off - 12), 0);
	CU_ASSERT_EQUAL(ip6[0] >> 4, 6);
	CU_ASSERT_EQUAL(rd16(ip6 + 4), NA_LEN);
	CU_ASSERT_EQUAL(ip6[6], 58);
	CU_ASSERT_EQUAL(ip6[7], 255); /* RFC 4861 7.1.2: receivers check this */
	CU_ASSERT_EQUAL(memcmp(ip6 + 8, our_v6, 16), 0);
	CU_ASSERT_EQUAL(memcmp(ip6 + 24, dst, 16), 0);
	CU_ASSERT_EQUAL(na[0], 136);
	CU_ASSERT_EQUAL(na[1], 0);
	CU_ASSERT_EQUAL(na[4], flags); /* R=0, S, O */
	CU_ASSERT_EQUAL(memcmp(na + 5, zero, 3), 0);
	CU_ASSERT_EQUAL(memcmp(na + 8, our_v6, 16), 0);
	CU_ASSERT_EQUAL(na[24], 2); /* target link-layer address */
	CU_ASSERT_EQUAL(na[25], 1);
	CU_ASSERT_EQUAL(memcmp(na + 26, our_mac, 6), 0);
	CU_ASSERT_EQUAL(icmp6_sum(ip6), 0xffff);
	CU_ASSERT_EQUAL(dp_cksum_raw(na, NA_LEN, pseudo6(ip6, 58, NA_LEN)), 0xffff);
}

static void
test_nd_solicit(void)
{
	static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};
	uint8_t f[FRAME_ROOM];
	uint32_t len;

	len = ns_frame(f, 0, peer_v6, our_v6);
	CU_ASSERT_TRUE(expect_reply(f, len, FRAME_ROOM, DP_OUT_nd_adverts, "ns for us"));
	CU_ASSERT_EQUAL(last_pkt.reply, DP_REPLY_ND_ADVERT);
	check_advert(last_frame, last_reply_len, f, 0, peer_v6, peer_mac, 0x60);

	len = ns_frame(f, 1, peer_v6, our_v6);
	CU_ASSERT_TRUE(expect_reply(f, len, FRAME_ROOM, DP_OUT_nd_adverts, "ns for us, vlan"));
	check_advert(last_frame, last_reply_len, f, 1, peer_v6, peer_mac, 0x60);

	/* Duplicate address detection: to all nodes, not solicited. */
	len = ns_frame(f, 0, unspec_v6, our_v6);
	CU_ASSERT_TRUE(expect_reply(f, len, FRAME_ROOM, DP_OUT_nd_adverts, "dad ns for us"));
	check_advert(last_frame, last_reply_len, f, 0, all_nodes_v6, all_nodes_mac, 0x20);

	len = ns_frame(f, 0, peer_v6, other_v6);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_nd_not_ours, "ns for another"));

	/* RFC 4861 7.1.1: what a node must silently discard. */
	len = ns_frame(f, 0, peer_v6, our_v6);
	f[ETH_HLEN + 7] = 64; /* not from on-link */
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_nd_malformed, "ns hop limit 64"));
	len = ns_frame(f, 0, peer_v6, our_v6);
	f[ETH_HLEN + IPV6_HLEN + 1] = 1;
	fix_icmp6(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_nd_malformed, "ns code 1"));
	len = ns_frame(f, 0, peer_v6, all_nodes_v6);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_nd_malformed, "ns for a multicast target"));
	len = ns_frame(f, 0, peer_v6, our_v6);
	f[ETH_HLEN + IPV6_HLEN + NS_LEN + 1] = 0; /* option length 0 */
	fix_icmp6(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_nd_malformed, "ns option length 0"));
	len = ns_frame(f, 0, peer_v6, our_v6);
	f[ETH_HLEN + IPV6_HLEN + NS_LEN + 1] = 2; /* option runs past the message */
	fix_icmp6(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_nd_malformed, "ns option too long"));
	/* From :: with a source link-layer option. */
	len = ns_frame(f, 0, peer_v6, our_v6);
	memset(f + ETH_HLEN + 8, 0, 16);
	fix_icmp6(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_nd_malformed, "dad ns with slla"));
	/* From :: to a unicast address rather than the solicited-node group. */
	len = ns_frame(f, 0, unspec_v6, our_v6);
	memcpy(f + ETH_HLEN + 24, our_v6, 16);
	fix_icmp6(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_nd_malformed, "dad ns to unicast"));
	/* ICMPv6 shorter than a solicitation. */
	len = ns_frame(f, 0, unspec_v6, our_v6);
	wr16(f + ETH_HLEN + 4, NS_LEN - 4);
	fix_icmp6(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(f, len - 4, 0, DP_DROP_nd_malformed, "ns of 20 bytes"));
}

/* An advertisement (32 bytes) is longer than an NS without options (24). */
static void
test_nd_no_room(void)
{
	uint8_t f[FRAME_ROOM], buf[FRAME_ROOM];
	struct dp_pkt pkt;
	uint32_t len = ns_frame(f, 0, peer_v6, our_v6);
	int r;

	/* A unicast-sourced NS may omit its link-layer option. */
	len -= 8;
	wr16(f + ETH_HLEN + 4, NS_LEN);
	fix_icmp6(f, ETH_HLEN);
	CU_ASSERT_EQUAL_FATAL(len, ETH_HLEN + IPV6_HLEN + NS_LEN);
	CU_ASSERT_TRUE(
		expect_drop(f, len, 0, DP_DROP_reply_no_room, "ns without options, no room"));
	CU_ASSERT_TRUE(run_with(&local, f, len, len + 7, 0, DP_VERDICT_DROP, DP_DROP_reply_no_room,
				"ns without options, 7 bytes short"));
	CU_ASSERT_TRUE(expect_reply(f, len, len + 8, DP_OUT_nd_adverts,
				    "ns without options, exactly enough room"));
	check_advert(last_frame, last_reply_len, f, 0, peer_v6, peer_mac, 0x60);

	/* dp_reply_build says so itself. */
	memcpy(buf, f, len);
	CU_ASSERT_EQUAL_FATAL(dp_classify(&local, buf, len, 0, &pkt), DP_VERDICT_REPLY);
	r = dp_reply_build(&local, buf, len, len, &pkt);
	CU_ASSERT_EQUAL(r, -ENOSPC);
	r = dp_reply_build(&local, buf, len, len + 8, &pkt);
	CU_ASSERT_EQUAL(r, (int)(len + 8));
}

static void
test_reply_build_not_reply(void)
{
	uint8_t f[FRAME_ROOM];
	struct dp_pkt pkt;
	uint32_t len = hl7_udp4(f, 0);

	CU_ASSERT_EQUAL_FATAL(dp_classify(&local, f, len, 0, &pkt), DP_VERDICT_HL7);
	CU_ASSERT_EQUAL(dp_reply_build(&local, f, len, sizeof(f), &pkt), -EINVAL);
	len = icmp4_frame(f, 0, OTHER_V4);
	CU_ASSERT_EQUAL_FATAL(dp_classify(&local, f, len, 0, &pkt), DP_VERDICT_DROP);
	CU_ASSERT_EQUAL(dp_reply_build(&local, f, len, sizeof(f), &pkt), -EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Every input has exactly one verdict                                       */
/* ------------------------------------------------------------------------ */

/*
 * Damaged copies of every kind of frame (a few bytes changed, cut short):
 * each must end in exactly one counter, or in a reply that fits, and with
 * exact-size heap buffers valgrind/ASan see any read past the end.
 */
static void
test_mutations(void)
{
	uint8_t base[8][FRAME_ROOM], f[FRAME_ROOM];
	uint32_t base_len[8];
	uint64_t x = 0x2545f4914f6cdd1dull;
	unsigned bad = 0, replies = 0, n_base = 8;

	base_len[0] = hl7_udp4(base[0], 0);
	base_len[1] = hl7_udp4(base[1], 2);
	base_len[2] = hl7_udp6(base[2]);
	base_len[3] = icmp4_frame(base[3], 1, OUR_V4);
	base_len[4] = icmp6_frame(base[4], 0, our_v6);
	base_len[5] = arp_frame(base[5], 0, 1, OUR_V4);
	base_len[6] = ns_frame(base[6], 0, peer_v6, our_v6);
	base_len[7] = ns_frame(base[7], 0, unspec_v6, our_v6);

	for (unsigned round = 0; round < 20000; round++) {
		unsigned b = round % n_base, n_flips;
		uint32_t len = base_len[b], room;
		struct dp_stats *stats = aligned_alloc(64, sizeof(*stats));
		uint8_t *buf;
		struct dp_pkt pkt;
		uint32_t reply_len = 0;
		enum dp_verdict v;
		uint64_t counted;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(f, base[b], len);
		n_flips = 1 + (unsigned)(x % 3);
		for (unsigned i = 0; i < n_flips; i++) {
			uint64_t y = x >> (8 + 16 * i);

			f[(y >> 8) % len] = (uint8_t)y;
		}
		if ((x >> 60) == 0)
			len = (uint32_t)((x >> 40) % len);
		room = len + (uint32_t)((x >> 56) % 16);
		buf = malloc(room ? room : 1);
		CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
		CU_ASSERT_PTR_NOT_NULL_FATAL(stats);
		memcpy(buf, f, len);
		if (room > len)
			memset(buf + len, 0, room - len);
		memset(stats, 0, sizeof(*stats));
		v = dp_process(&local, stats, buf, len, room, 0, &pkt, &reply_len);
		counted = dp_stats_accounted(stats);
		if (v == DP_VERDICT_REPLY) {
			replies++;
			if (counted != 0 || reply_len == 0 || reply_len > room)
				bad++;
		} else if (counted != 1 ||
			   (v == DP_VERDICT_DROP &&
			    (pkt.drop >= DP_DROP__COUNT || dp_read(&stats->drop[pkt.drop]) != 1)) ||
			   (v == DP_VERDICT_HL7 &&
			    dp_read(&stats->outcome[DP_OUT_telemetry_hl7]) != 1) ||
			   (v == DP_VERDICT_VTP &&
			    dp_read(&stats->outcome[DP_OUT_telemetry_vtp]) != 1)) {
			bad++;
		} else if (v != DP_VERDICT_DROP &&
			   (uint32_t)pkt.payload_off + pkt.payload_len > len) {
			bad++; /* telemetry must lie inside the frame */
		}
		free(buf);
		free(stats);
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_TRUE(replies > 0);
}

/* RFC 8200 4.1 and 4.4: where hop-by-hop may stand; routing not yet done. */
static void
test_ipv6_extension_rules(void)
{
	static const uint8_t dst_hop[] = {60, 0};
	static const uint8_t routing[] = {43};
	uint8_t f[FRAME_ROOM];
	uint32_t len;

	len = udp6_ext_frame(f, dst_hop, 2);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_ipv6_hop_by_hop, "hop-by-hop second"));

	len = udp6_ext_frame(f, routing, 1);
	CU_ASSERT_TRUE(expect_hl7(f, len, 0, "routing header, segments left 0"));
	f[ETH_HLEN + IPV6_HLEN + 3] = 1;
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_ipv6_routing, "segments left 1"));
}

/* A request with IP options is answered without them. */
static void
test_icmp_echo_ip_options(void)
{
	static const uint8_t nops[4] = {1, 1, 1, 0};
	uint8_t plain[FRAME_ROOM], f[FRAME_ROOM];
	uint32_t len;

	len = icmp4_frame(plain, 0, OUR_V4);
	memcpy(f, plain, ETH_HLEN + IPV4_HLEN);
	memcpy(f + ETH_HLEN + IPV4_HLEN, nops, 4);
	memcpy(f + ETH_HLEN + IPV4_HLEN + 4, plain + ETH_HLEN + IPV4_HLEN,
	       len - ETH_HLEN - IPV4_HLEN);
	f[ETH_HLEN] = 0x46;
	wr16(f + ETH_HLEN + 2, (uint16_t)(rd16(plain + ETH_HLEN + 2) + 4));
	fix_ipv4(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_reply(f, len + 4, len + 4, DP_OUT_icmp_echo_replies, "options"));
	CU_ASSERT_EQUAL(last_reply_len, len);
	check_icmp_reply(plain, last_frame, ETH_HLEN);
}

/* RFC 4861 7.1.1: to the solicited-node group of the target, or unicast. */
static void
test_nd_destination(void)
{
	uint8_t f[FRAME_ROOM];
	uint32_t len;

	len = ns_frame(f, 0, peer_v6, our_v6);
	memcpy(f + ETH_HLEN + 24, our_v6, 16); /* unicast reachability probe */
	fix_icmp6(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_reply(f, len, FRAME_ROOM, DP_OUT_nd_adverts, "unicast ns"));
	check_advert(last_frame, last_reply_len, f, 0, peer_v6, peer_mac, 0x60);

	len = ns_frame(f, 0, peer_v6, our_v6);
	f[ETH_HLEN + 24 + 15] ^= 0x01; /* another address's group */
	fix_icmp6(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_nd_malformed, "ns to another group"));

	len = ns_frame(f, 0, peer_v6, our_v6);
	memcpy(f + ETH_HLEN + 24, peer_v6, 16); /* unicast, but not to the target */
	fix_icmp6(f, ETH_HLEN);
	CU_ASSERT_TRUE(expect_drop(f, len, 0, DP_DROP_nd_malformed, "ns to another unicast"));
}

/* ------------------------------------------------------------------------ */
/* Registration                                                              */
/* ------------------------------------------------------------------------ */

struct test_entry {
	const char *name;
	CU_TestFunc fn;
};

static int
add_suite(const char *name, const struct test_entry *tests, size_t n)
{
	CU_pSuite suite = CU_add_suite(name, suite_init, NULL);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}

#define ADD_SUITE(name, tests) add_suite(name, tests, sizeof(tests) / sizeof(tests[0]))

int
vigil_test_register(void)
{
	static const struct test_entry counters[] = {
		{"names and descriptions", test_counter_names},
		{"outcome of each reply", test_outcome_of_reply},
		{"dp_stats_add and accounted", test_stats_add},
		{"latency histogram buckets and quantiles", test_latency_histogram},
	};
	static const struct test_entry cksum[] = {
		{"RFC 1071 example and edges", test_cksum_rfc1071},
		{"against a reference, unaligned", test_cksum_against_reference},
	};
	static const struct test_entry telemetry[] = {
		{"UDP/IPv4 to HL7", test_udp4_hl7},	{"UDP/IPv6 to HL7", test_udp6_hl7},
		{"UDP to VTP", test_udp_vtp},		{"padding changes nothing", test_padding},
		{"UDP to another port", test_udp_port},
	};
	static const struct test_entry malformed[] = {
		{"truncated at every byte", test_truncation},
		{"IPv4 header fields", test_ipv4_header},
		{"IPv4 checksum, software and flags", test_ipv4_checksum},
		{"IPv4 fragments", test_ipv4_fragments},
		{"IPv4 protocols not taken", test_ipv4_l4_proto},
		{"UDP length", test_udp_length},
		{"UDP checksum", test_udp_checksum},
		{"VLAN stacks", test_vlan_stacks},
		{"EtherTypes", test_ethertype},
		{"IPv6 header", test_ipv6_header},
		{"IPv6 extension headers", test_ipv6_extensions},
		{"IPv6 extension header rules", test_ipv6_extension_rules},
		{"damaged frames have one verdict", test_mutations},
	};
	static const struct test_entry replies[] = {
		{"ARP", test_arp},
		{"ICMP echo", test_icmp_echo},
		{"ICMP echo with IP options", test_icmp_echo_ip_options},
		{"ICMPv6 echo", test_icmp6_echo},
		{"neighbour solicitation", test_nd_solicit},
		{"neighbour solicitation destination", test_nd_destination},
		{"advertisement without room", test_nd_no_room},
		{"dp_reply_build on a non-reply", test_reply_build_not_reply},
	};

	if (ADD_SUITE("dataplane counters", counters) < 0 || ADD_SUITE("dp_cksum_raw", cksum) < 0 ||
	    ADD_SUITE("dataplane telemetry", telemetry) < 0 ||
	    ADD_SUITE("dataplane malformed input", malformed) < 0 ||
	    ADD_SUITE("dataplane replies", replies) < 0)
		return -1;
	return 0;
}
