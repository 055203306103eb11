/*
 * parse.c - L2 to L4 parsing of one frame into a verdict.
 *
 * A worker calls dp_classify() for every frame it receives. The parser walks
 * Ethernet (up to two VLAN tags), ARP, IPv4, IPv6 (a bounded walk over the
 * extension headers), UDP, ICMP and ICMPv6, trusts nothing the frame says
 * about its own lengths, and ends in exactly one verdict: telemetry for a
 * decoder, a reply the appliance owes, or a drop with its reason. It reads
 * the frame byte-wise in network order (frames after a VLAN tag are not
 * aligned), keeps offsets rather than copies, and never allocates.
 */
#include <string.h>

#include "dataplane.h"
#include "dp_private.h"

/* ------------------------------------------------------------------------ */
/* Checksums                                                                */
/* ------------------------------------------------------------------------ */

static inline void
add64(uint64_t *acc, uint64_t *carries, const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	*carries += __builtin_add_overflow(*acc, w, acc);
}

uint16_t
dp_cksum_raw(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	uint64_t acc = 0, carries = 0, tail = 0;
	uint32_t w32;
	uint16_t w16;

	/*
	 * Sum native-order 64-bit words; a carry out of bit 63 is worth 1 in
	 * one's complement arithmetic (2^64 = 1 mod 2^64 - 1), so carries are
	 * counted and added back. Swapping once at the end is enough: the
	 * one's complement sum of byte-swapped words is the byte-swapped sum
	 * (RFC 1071, section 2). Four words a round: this is most of the
	 * per-packet work when the NIC does not check UDP checksums (a
	 * 32-bit-word loop costs 1.8 times the instructions; BENCHMARKS.md).
	 */
	for (; len >= 32; p += 32, len -= 32) {
		add64(&acc, &carries, p);
		add64(&acc, &carries, p + 8);
		add64(&acc, &carries, p + 16);
		add64(&acc, &carries, p + 24);
	}
	for (; len >= 8; p += 8, len -= 8)
		add64(&acc, &carries, p);
	if (len >= 4) {
		memcpy(&w32, p, 4);
		tail += w32;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&w16, p, 2);
		tail += w16;
		p += 2;
		len -= 2;
	}
	if (len == 1) {
		uint8_t last[2] = {p[0], 0};

		memcpy(&w16, last, 2);
		tail += w16;
	}
	carries += __builtin_add_overflow(acc, tail, &acc);
	acc = (acc & 0xffffffff) + (acc >> 32) + carries;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	w16 = (uint16_t)acc;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	w16 = (uint16_t)(w16 << 8 | w16 >> 8);
#endif
	acc = (uint64_t)w16 + sum;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

uint32_t
dp_pseudo_sum(const uint8_t *frame, const struct dp_pkt *pkt, uint32_t l4_len)
{
	uint32_t sum;

	if (pkt->ip_version == 4)
		sum = dp_cksum_raw(frame + pkt->l3_off + 12, 8, 0);
	else
		sum = dp_cksum_raw(frame + pkt->l3_off + 8, 32, 0);
	return sum + pkt->l4_proto + l4_len;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static inline enum dp_verdict
drop(struct dp_pkt *pkt, enum dp_drop reason)
{
	pkt->drop = reason;
	return DP_VERDICT_DROP;
}

static inline int
own_ipv4(const struct dp_local *local, const uint8_t *addr)
{
	uint32_t a;

	memcpy(&a, addr, 4);
	for (unsigned i = 0; i < local->n_ipv4; i++)
		if (local->ipv4[i] == a)
			return (int)i;
	return -1;
}

static inline int
own_ipv6(const struct dp_local *local, const uint8_t *addr)
{
	for (unsigned i = 0; i < local->n_ipv6; i++)
		if (memcmp(local->ipv6[i], addr, 16) == 0)
			return (int)i;
	return -1;
}

static inline bool
port_in(const uint16_t *ports, unsigned n, uint16_t port)
{
	for (unsigned i = 0; i < n; i++)
		if (ports[i] == port)
			return true;
	return false;
}

/* ------------------------------------------------------------------------ */
/* L4                                                                       */
/* ------------------------------------------------------------------------ */

static enum dp_verdict
parse_udp(const struct dp_local *local, const uint8_t *frame, uint32_t l4_len, uint32_t csum,
	  struct dp_pkt *pkt)
{
	const uint8_t *udp = frame + pkt->l4_off;
	enum dp_verdict verdict;
	uint16_t ulen;

	if (l4_len < DP_UDP_HLEN)
		return drop(pkt, DP_DROP_udp_truncated);
	ulen = dp_rd16(udp + 4);
	/* A UDP length short of the IP payload is trimmed to, as Linux does. */
	if (ulen < DP_UDP_HLEN || ulen > l4_len)
		return drop(pkt, DP_DROP_udp_length);
	pkt->src_port = dp_rd16(udp);
	pkt->dst_port = dp_rd16(udp + 2);

	/* Only datagrams vigil consumes are worth a checksum. */
	if (port_in(local->hl7_ports, local->n_hl7_ports, pkt->dst_port))
		verdict = DP_VERDICT_HL7;
	else if (port_in(local->vtp_ports, local->n_vtp_ports, pkt->dst_port))
		verdict = DP_VERDICT_VTP;
	else
		return drop(pkt, DP_DROP_udp_port);

	if (local->udp_checksum && !(csum & DP_CSUM_L4_GOOD)) {
		uint16_t field = dp_rd16(udp + 6);

		if (csum & DP_CSUM_L4_BAD)
			return drop(pkt, DP_DROP_udp_checksum);
		if (field == 0) {
			/* Optional over IPv4, mandatory over IPv6 (RFC 8200 8.1). */
			if (pkt->ip_version == 6)
				return drop(pkt, DP_DROP_udp_checksum);
		} else if (dp_cksum_raw(udp, ulen, dp_pseudo_sum(frame, pkt, ulen)) != 0xffff) {
			return drop(pkt, DP_DROP_udp_checksum);
		}
	}
	pkt->payload_off = (uint16_t)(pkt->l4_off + DP_UDP_HLEN);
	pkt->payload_len = (uint16_t)(ulen - DP_UDP_HLEN);
	return verdict;
}

static enum dp_verdict
parse_icmp(const struct dp_local *local, const uint8_t *frame, uint32_t l4_len, struct dp_pkt *pkt)
{
	const uint8_t *icmp = frame + pkt->l4_off;
	int idx;

	if (l4_len < DP_ICMP_HLEN)
		return drop(pkt, DP_DROP_icmp_truncated);
	if (dp_cksum_raw(icmp, l4_len, 0) != 0xffff)
		return drop(pkt, DP_DROP_icmp_checksum);
	if (icmp[0] != DP_ICMP_ECHO_REQUEST || icmp[1] != 0)
		return drop(pkt, DP_DROP_icmp_type);
	idx = own_ipv4(local, frame + pkt->l3_off + 16);
	if (idx < 0)
		return drop(pkt, DP_DROP_icmp_not_ours);
	pkt->addr_index = (uint8_t)idx;
	pkt->reply = DP_REPLY_ICMP_ECHO;
	return DP_VERDICT_REPLY;
}

/* ff02::1:ffXX:XXXX, the low 24 bits being the target's (RFC 4291 2.7.1). */
static bool
solicited_node_of(const uint8_t *dst, const uint8_t *target)
{
	static const uint8_t prefix[13] = {0xff, 0x02, [11] = 0x01, [12] = 0xff};

	return memcmp(dst, prefix, 13) == 0 && memcmp(dst + 13, target + 13, 3) == 0;
}

/* Validate a neighbour solicitation as RFC 4861 section 7.1.1 asks. */
static enum dp_verdict
parse_nd_solicit(const struct dp_local *local, const uint8_t *frame, uint32_t l4_len,
		 struct dp_pkt *pkt)
{
	const uint8_t *ip6 = frame + pkt->l3_off;
	const uint8_t *icmp = frame + pkt->l4_off;
	const uint8_t *target = icmp + 8;
	bool unspecified_src = true, has_slla = false;
	uint32_t off;
	int idx;

	if (l4_len < DP_ND_NS_LEN || ip6[7] != 255 || icmp[1] != 0 || target[0] == 0xff)
		return drop(pkt, DP_DROP_nd_malformed);
	for (unsigned i = 0; i < 16; i++)
		if (ip6[8 + i] != 0)
			unspecified_src = false;
	for (off = DP_ND_NS_LEN; off < l4_len;) {
		uint32_t opt_len;

		if (l4_len - off < 2 || icmp[off + 1] == 0)
			return drop(pkt, DP_DROP_nd_malformed);
		opt_len = icmp[off + 1] * 8u;
		if (opt_len > l4_len - off)
			return drop(pkt, DP_DROP_nd_malformed);
		if (icmp[off] == DP_ND_OPT_SLLA)
			has_slla = true;
		off += opt_len;
	}
	/* To the target's solicited-node group, or to the target itself (a
	 * unicast reachability probe); DAD probes come from :: to the group,
	 * without a source link-layer option. */
	if (!solicited_node_of(ip6 + 24, target) &&
	    (unspecified_src || memcmp(ip6 + 24, target, 16) != 0))
		return drop(pkt, DP_DROP_nd_malformed);
	if (unspecified_src && has_slla)
		return drop(pkt, DP_DROP_nd_malformed);
	idx = own_ipv6(local, target);
	if (idx < 0)
		return drop(pkt, DP_DROP_nd_not_ours);
	pkt->addr_index = (uint8_t)idx;
	pkt->reply = DP_REPLY_ND_ADVERT;
	return DP_VERDICT_REPLY;
}

static enum dp_verdict
parse_icmp6(const struct dp_local *local, const uint8_t *frame, uint32_t l4_len, struct dp_pkt *pkt)
{
	const uint8_t *icmp = frame + pkt->l4_off;
	int idx;

	if (l4_len < DP_ICMP_HLEN)
		return drop(pkt, DP_DROP_icmp6_truncated);
	if (dp_cksum_raw(icmp, l4_len, dp_pseudo_sum(frame, pkt, l4_len)) != 0xffff)
		return drop(pkt, DP_DROP_icmp6_checksum);
	switch (icmp[0]) {
	case DP_ICMP6_ECHO_REQUEST:
		if (icmp[1] != 0)
			return drop(pkt, DP_DROP_icmp6_type);
		idx = own_ipv6(local, frame + pkt->l3_off + 24);
		if (idx < 0)
			return drop(pkt, DP_DROP_icmp6_not_ours);
		pkt->addr_index = (uint8_t)idx;
		pkt->reply = DP_REPLY_ICMP6_ECHO;
		return DP_VERDICT_REPLY;
	case DP_ICMP6_ND_SOLICIT:
		return parse_nd_solicit(local, frame, l4_len, pkt);
	default:
		return drop(pkt, DP_DROP_icmp6_type);
	}
}

/* ------------------------------------------------------------------------ */
/* L3                                                                       */
/* ------------------------------------------------------------------------ */

static enum dp_verdict
parse_arp(const struct dp_local *local, const uint8_t *frame, uint32_t avail, struct dp_pkt *pkt)
{
	const uint8_t *arp = frame + pkt->l3_off;
	int idx;

	if (avail < DP_ARP_LEN || dp_rd16(arp) != 1 || dp_rd16(arp + 2) != DP_ETHERTYPE_IPV4 ||
	    arp[4] != 6 || arp[5] != 4)
		return drop(pkt, DP_DROP_arp_malformed);
	if (dp_rd16(arp + 6) != DP_ARP_OP_REQUEST)
		return drop(pkt, DP_DROP_arp_not_request);
	idx = own_ipv4(local, arp + 24);
	if (idx < 0)
		return drop(pkt, DP_DROP_arp_not_ours);
	pkt->l3_len = DP_ARP_LEN;
	pkt->addr_index = (uint8_t)idx;
	pkt->reply = DP_REPLY_ARP;
	return DP_VERDICT_REPLY;
}

static enum dp_verdict
parse_ipv4(const struct dp_local *local, const uint8_t *frame, uint32_t avail, uint32_t csum,
	   struct dp_pkt *pkt)
{
	const uint8_t *ip = frame + pkt->l3_off;
	uint32_t ihl, total, l4_len;

	if (avail < DP_IPV4_HLEN)
		return drop(pkt, DP_DROP_ipv4_truncated);
	if (ip[0] >> 4 != 4)
		return drop(pkt, DP_DROP_ipv4_version);
	ihl = (ip[0] & 0x0fu) * 4;
	if (ihl < DP_IPV4_HLEN)
		return drop(pkt, DP_DROP_ipv4_ihl);
	total = dp_rd16(ip + 2);
	if (total > avail || total < DP_IPV4_HLEN)
		return drop(pkt, DP_DROP_ipv4_length);
	if (ihl > total)
		return drop(pkt, DP_DROP_ipv4_ihl);
	if (csum & DP_CSUM_IP_BAD)
		return drop(pkt, DP_DROP_ipv4_checksum);
	if (!(csum & DP_CSUM_IP_GOOD) && dp_cksum_raw(ip, ihl, 0) != 0xffff)
		return drop(pkt, DP_DROP_ipv4_checksum);
	/* More-fragments set, or a non-zero offset. */
	if (dp_rd16(ip + 6) & 0x3fff)
		return drop(pkt, DP_DROP_ipv4_fragment);

	pkt->ip_version = 4;
	pkt->l3_len = (uint16_t)total;
	pkt->l4_proto = ip[9];
	pkt->l4_off = (uint16_t)(pkt->l3_off + ihl);
	l4_len = total - ihl;
	switch (pkt->l4_proto) {
	case DP_IPPROTO_UDP:
		return parse_udp(local, frame, l4_len, csum, pkt);
	case DP_IPPROTO_ICMP:
		return parse_icmp(local, frame, l4_len, pkt);
	default:
		return drop(pkt, DP_DROP_l4_proto);
	}
}

static enum dp_verdict
parse_ipv6(const struct dp_local *local, const uint8_t *frame, uint32_t avail, uint32_t csum,
	   struct dp_pkt *pkt)
{
	const uint8_t *ip6 = frame + pkt->l3_off;
	uint32_t cur, end;
	unsigned walked = 0;
	uint8_t next;

	if (avail < DP_IPV6_HLEN)
		return drop(pkt, DP_DROP_ipv6_truncated);
	if (ip6[0] >> 4 != 6)
		return drop(pkt, DP_DROP_ipv6_version);
	end = DP_IPV6_HLEN + (uint32_t)dp_rd16(ip6 + 4);
	if (end > avail)
		return drop(pkt, DP_DROP_ipv6_length);
	pkt->ip_version = 6;
	pkt->l3_len = (uint16_t)end;

	/* Offsets below are relative to the IPv6 header. */
	next = ip6[6];
	cur = DP_IPV6_HLEN;
	for (;;) {
		uint32_t hlen;

		switch (next) {
		case DP_IPPROTO_UDP:
		case DP_IPPROTO_ICMPV6:
			pkt->l4_proto = next;
			pkt->l4_off = (uint16_t)(pkt->l3_off + cur);
			if (next == DP_IPPROTO_UDP)
				return parse_udp(local, frame, end - cur, csum, pkt);
			return parse_icmp6(local, frame, end - cur, pkt);
		case DP_IPPROTO_FRAGMENT:
			return drop(pkt, DP_DROP_ipv6_fragment);
		case DP_IPPROTO_HOPOPTS:
		case DP_IPPROTO_ROUTING:
		case DP_IPPROTO_DSTOPTS:
		case DP_IPPROTO_AH:
			/* RFC 8200 4.1: hop-by-hop options only right after the header */
			if (next == DP_IPPROTO_HOPOPTS && walked != 0)
				return drop(pkt, DP_DROP_ipv6_hop_by_hop);
			if (++walked > DP_IPV6_MAX_EXT)
				return drop(pkt, DP_DROP_ipv6_ext_chain);
			if (end - cur < 2)
				return drop(pkt, DP_DROP_ipv6_ext_truncated);
			if (next == DP_IPPROTO_AH)
				hlen = (ip6[cur + 1] + 2u) * 4;
			else
				hlen = (ip6[cur + 1] + 1u) * 8;
			if (hlen > end - cur)
				return drop(pkt, DP_DROP_ipv6_ext_truncated);
			/* RFC 8200 4.4: segments left, so this hop is not the end */
			if (next == DP_IPPROTO_ROUTING && ip6[cur + 3] != 0)
				return drop(pkt, DP_DROP_ipv6_routing);
			next = ip6[cur];
			cur += hlen;
			break;
		default:
			return drop(pkt, DP_DROP_l4_proto);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* L2                                                                       */
/* ------------------------------------------------------------------------ */

enum dp_verdict
dp_classify(const struct dp_local *local, const uint8_t *frame, uint32_t len, uint32_t csum,
	    struct dp_pkt *pkt)
{
	uint32_t off = DP_ETH_HLEN;
	uint16_t type;

	memset(pkt, 0, sizeof(*pkt));
	if (len < DP_ETH_HLEN)
		return drop(pkt, DP_DROP_eth_runt);
	/* Frames longer than 64 KiB do not exist on the wire we take. */
	if (len > UINT16_MAX)
		len = UINT16_MAX;
	type = dp_rd16(frame + 12);
	while (type == DP_ETHERTYPE_VLAN || type == DP_ETHERTYPE_QINQ ||
	       type == DP_ETHERTYPE_QINQ_OLD) {
		if (pkt->n_vlan == DP_MAX_VLAN)
			return drop(pkt, DP_DROP_vlan_too_deep);
		if (len - off < DP_VLAN_HLEN)
			return drop(pkt, DP_DROP_vlan_truncated);
		pkt->vlan_tci[pkt->n_vlan++] = dp_rd16(frame + off);
		type = dp_rd16(frame + off + 2);
		off += DP_VLAN_HLEN;
	}
	pkt->l3_off = (uint16_t)off;
	switch (type) {
	case DP_ETHERTYPE_IPV4:
		return parse_ipv4(local, frame, len - off, csum, pkt);
	case DP_ETHERTYPE_IPV6:
		return parse_ipv6(local, frame, len - off, csum, pkt);
	case DP_ETHERTYPE_ARP:
		return parse_arp(local, frame, len - off, pkt);
	default:
		return drop(pkt, DP_DROP_ethertype);
	}
}
