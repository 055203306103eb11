/*
 * dp_private.h - data plane internals shared by its own files: wire
 * constants, byte-order helpers, and the plane and worker structures.
 * Nothing outside dataplane/ includes this.
 */
#ifndef VIGIL_DP_PRIVATE_H
#define VIGIL_DP_PRIVATE_H

#include <stdint.h>
#include <string.h>

#include "dataplane.h"

#define DP_ETH_HLEN 14
#define DP_VLAN_HLEN 4
#define DP_MAX_VLAN 2
#define DP_ARP_LEN 28
#define DP_IPV4_HLEN 20
#define DP_IPV6_HLEN 40
#define DP_IPV6_MAX_EXT 8 /* extension headers walked before giving up */
#define DP_UDP_HLEN 8
#define DP_ICMP_HLEN 8
#define DP_ND_NS_LEN 24 /* type, code, checksum, reserved, target */
#define DP_ND_NA_LEN 32 /* the same plus a target link-layer option */
#define DP_REPLY_TTL 64

#define DP_ETHERTYPE_IPV4 0x0800
#define DP_ETHERTYPE_ARP 0x0806
#define DP_ETHERTYPE_IPV6 0x86dd
#define DP_ETHERTYPE_VLAN 0x8100
#define DP_ETHERTYPE_QINQ 0x88a8
#define DP_ETHERTYPE_QINQ_OLD 0x9100

#define DP_ARP_OP_REQUEST 1
#define DP_ARP_OP_REPLY 2

#define DP_IPPROTO_HOPOPTS 0
#define DP_IPPROTO_ICMP 1
#define DP_IPPROTO_UDP 17
#define DP_IPPROTO_ROUTING 43
#define DP_IPPROTO_FRAGMENT 44
#define DP_IPPROTO_AH 51
#define DP_IPPROTO_ICMPV6 58
#define DP_IPPROTO_DSTOPTS 60

#define DP_ICMP_ECHO_REPLY 0
#define DP_ICMP_ECHO_REQUEST 8
#define DP_ICMP6_ECHO_REQUEST 128
#define DP_ICMP6_ECHO_REPLY 129
#define DP_ICMP6_ND_SOLICIT 135
#define DP_ICMP6_ND_ADVERT 136
#define DP_ND_OPT_SLLA 1
#define DP_ND_OPT_TLLA 2

static inline uint16_t
dp_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void
dp_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Sum of the pseudo-header of the packet's L4 (RFC 768, RFC 8200 8.1), for
 * dp_cksum_raw's @sum. */
uint32_t dp_pseudo_sum(const uint8_t *frame, const struct dp_pkt *pkt, uint32_t l4_len);

#endif /* VIGIL_DP_PRIVATE_H */
