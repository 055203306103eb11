/*
 * reply.c - the appliance answers for itself while the kernel is bypassed.
 *
 * With DPDK owning the NIC nobody else answers ARP, ping or neighbour
 * discovery for vigil's addresses, so a switch would forget it and an
 * engineer could not ping it. The answers are built in place in the
 * request's buffer (which then goes back out of the port it came in on):
 * no allocation, VLAN tags kept as they arrived. dp_process() is the one
 * per-frame entry point the workers call: classify, count, answer.
 */
#include <errno.h>
#include <string.h>

#include "dataplane.h"
#include "dp_private.h"

static const uint8_t all_nodes_ip6[16] = {0xff, 0x02, [15] = 0x01};
static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};

/* The answer goes back to whoever sent the frame, from our MAC. */
static void
eth_answer(const struct dp_local *local, uint8_t *frame)
{
	memcpy(frame, frame + 6, 6);
	memcpy(frame + 6, local->mac, 6);
}

static int
reply_arp(const struct dp_local *local, uint8_t *frame, uint32_t len, const struct dp_pkt *pkt)
{
	uint8_t *arp = frame + pkt->l3_off;

	eth_answer(local, frame);
	dp_wr16(arp + 6, DP_ARP_OP_REPLY);
	/* target <- requester; sender <- us, with the address asked for */
	memcpy(arp + 18, arp + 8, 10);
	memcpy(arp + 8, local->mac, 6);
	memcpy(arp + 14, &local->ipv4[pkt->addr_index], 4);
	return (int)len;
}

static int
reply_icmp_echo(const struct dp_local *local, uint8_t *frame, const struct dp_pkt *pkt)
{
	uint8_t *ip = frame + pkt->l3_off;
	uint8_t *icmp = ip + DP_IPV4_HLEN;
	uint32_t icmp_len = pkt->l3_len - (pkt->l4_off - pkt->l3_off);

	eth_answer(local, frame);
	/* IP options are not echoed (RFC 1122 3.2.2.6 says SHOULD for record
	 * route and timestamp; vigil answers without options). */
	if (pkt->l4_off != pkt->l3_off + DP_IPV4_HLEN) {
		memmove(icmp, frame + pkt->l4_off, icmp_len);
		ip[0] = 0x45;
		dp_wr16(ip + 2, (uint16_t)(DP_IPV4_HLEN + icmp_len));
	}
	memcpy(ip + 16, ip + 12, 4);
	memcpy(ip + 12, &local->ipv4[pkt->addr_index], 4);
	ip[8] = DP_REPLY_TTL;
	dp_wr16(ip + 10, 0);
	dp_wr16(ip + 10, (uint16_t)~dp_cksum_raw(ip, DP_IPV4_HLEN, 0));

	icmp[0] = DP_ICMP_ECHO_REPLY;
	dp_wr16(icmp + 2, 0);
	dp_wr16(icmp + 2, (uint16_t)~dp_cksum_raw(icmp, icmp_len, 0));
	return (int)(pkt->l3_off + DP_IPV4_HLEN + icmp_len);
}

/* Write an IPv6 header with no extension headers, carrying ICMPv6. */
static void
ip6_header(uint8_t *ip6, uint16_t payload_len, uint8_t hop_limit, const uint8_t *src,
	   const uint8_t *dst)
{
	uint8_t saved_dst[16];

	memcpy(saved_dst, dst, 16); /* dst may alias the header's own fields */
	memmove(ip6 + 8, src, 16);
	memcpy(ip6 + 24, saved_dst, 16);
	ip6[0] = 0x60;
	ip6[1] = 0;
	ip6[2] = 0;
	ip6[3] = 0;
	dp_wr16(ip6 + 4, payload_len);
	ip6[6] = DP_IPPROTO_ICMPV6;
	ip6[7] = hop_limit;
}

static void
icmp6_checksum(uint8_t *frame, const struct dp_pkt *reply, uint32_t icmp_len)
{
	uint8_t *icmp = frame + reply->l4_off;

	dp_wr16(icmp + 2, 0);
	dp_wr16(icmp + 2,
		(uint16_t)~dp_cksum_raw(icmp, icmp_len, dp_pseudo_sum(frame, reply, icmp_len)));
}

static int
reply_icmp6_echo(const struct dp_local *local, uint8_t *frame, const struct dp_pkt *pkt)
{
	uint8_t *ip6 = frame + pkt->l3_off;
	uint32_t icmp_len = pkt->l3_off + pkt->l3_len - pkt->l4_off;
	struct dp_pkt reply = *pkt;
	uint8_t requester[16];

	eth_answer(local, frame);
	memcpy(requester, ip6 + 8, 16);
	/* Extension headers of the request are not echoed: the ICMPv6 message
	 * moves up to follow the fixed header. */
	reply.l4_off = (uint16_t)(pkt->l3_off + DP_IPV6_HLEN);
	memmove(frame + reply.l4_off, frame + pkt->l4_off, icmp_len);
	ip6_header(ip6, (uint16_t)icmp_len, DP_REPLY_TTL, local->ipv6[pkt->addr_index], requester);
	frame[reply.l4_off] = DP_ICMP6_ECHO_REPLY;
	icmp6_checksum(frame, &reply, icmp_len);
	return (int)(reply.l4_off + icmp_len);
}

static int
reply_nd_advert(const struct dp_local *local, uint8_t *frame, uint32_t room,
		const struct dp_pkt *pkt)
{
	uint8_t *ip6 = frame + pkt->l3_off;
	const uint8_t *target = local->ipv6[pkt->addr_index];
	struct dp_pkt reply = *pkt;
	uint8_t dst[16], *na;
	bool dad = true;
	uint32_t end;

	reply.l4_off = (uint16_t)(pkt->l3_off + DP_IPV6_HLEN);
	end = reply.l4_off + DP_ND_NA_LEN;
	if (end > room)
		return -ENOSPC;
	for (unsigned i = 0; i < 16; i++)
		if (ip6[8 + i] != 0)
			dad = false;

	/* RFC 4861 7.2.4: to the solicitor, or to all nodes when it has no
	 * address yet (duplicate address detection). */
	if (dad) {
		memcpy(dst, all_nodes_ip6, 16);
		memcpy(frame, all_nodes_mac, 6);
		memcpy(frame + 6, local->mac, 6);
	} else {
		memcpy(dst, ip6 + 8, 16);
		eth_answer(local, frame);
	}
	ip6_header(ip6, DP_ND_NA_LEN, 255, target, dst);

	na = frame + reply.l4_off;
	memset(na, 0, DP_ND_NA_LEN);
	na[0] = DP_ICMP6_ND_ADVERT;
	na[4] = dad ? 0x20 : 0x60; /* Override, and Solicited unless DAD */
	memcpy(na + 8, target, 16);
	na[24] = DP_ND_OPT_TLLA;
	na[25] = 1;
	memcpy(na + 26, local->mac, 6);
	icmp6_checksum(frame, &reply, DP_ND_NA_LEN);
	return (int)end;
}

int
dp_reply_build(const struct dp_local *local, uint8_t *frame, uint32_t len, uint32_t room,
	       const struct dp_pkt *pkt)
{
	if (len > room)
		return -EINVAL;
	switch (pkt->reply) {
	case DP_REPLY_ARP:
		return reply_arp(local, frame, len, pkt);
	case DP_REPLY_ICMP_ECHO:
		return reply_icmp_echo(local, frame, pkt);
	case DP_REPLY_ICMP6_ECHO:
		return reply_icmp6_echo(local, frame, pkt);
	case DP_REPLY_ND_ADVERT:
		return reply_nd_advert(local, frame, room, pkt);
	case DP_REPLY_NONE:
		break;
	}
	return -EINVAL;
}

enum dp_outcome
dp_outcome_of_reply(enum dp_reply_kind kind)
{
	switch (kind) {
	case DP_REPLY_ARP:
		return DP_OUT_arp_replies;
	case DP_REPLY_ICMP_ECHO:
		return DP_OUT_icmp_echo_replies;
	case DP_REPLY_ICMP6_ECHO:
		return DP_OUT_icmp6_echo_replies;
	case DP_REPLY_ND_ADVERT:
	case DP_REPLY_NONE:
		break;
	}
	return DP_OUT_nd_adverts;
}

enum dp_verdict
dp_process(const struct dp_local *local, struct dp_stats *stats, uint8_t *frame, uint32_t len,
	   uint32_t room, uint32_t csum, struct dp_pkt *pkt, uint32_t *reply_len)
{
	enum dp_verdict verdict = dp_classify(local, frame, len, csum, pkt);
	int r;

	switch (verdict) {
	case DP_VERDICT_HL7:
		dp_count(&stats->outcome[DP_OUT_telemetry_hl7], 1);
		break;
	case DP_VERDICT_VTP:
		dp_count(&stats->outcome[DP_OUT_telemetry_vtp], 1);
		break;
	case DP_VERDICT_REPLY:
		r = dp_reply_build(local, frame, len, room, pkt);
		if (r < 0) {
			pkt->drop = DP_DROP_reply_no_room;
			dp_count(&stats->drop[DP_DROP_reply_no_room], 1);
			return DP_VERDICT_DROP;
		}
		*reply_len = (uint32_t)r;
		break;
	case DP_VERDICT_DROP:
		dp_count(&stats->drop[pkt->drop], 1);
		break;
	}
	return verdict;
}
