/*
 * frames.h - builders of well-formed test frames (Ethernet, VLAN, ARP, IPv4,
 * IPv6, UDP, ICMP, ICMPv6) with correct lengths and checksums, shared by the
 * unit tests, the capture generator (vigil-mkpcap) and vigil-bench. Tests
 * then break the frames on purpose (truncate, lie in a length, flip a bit).
 *
 * Every builder writes into @buf (at most @room bytes) and returns the frame
 * length, or 0 if it does not fit.
 */
#ifndef VIGIL_TEST_FRAMES_H
#define VIGIL_TEST_FRAMES_H

#include <stddef.h>
#include <stdint.h>

/* Link layer shared by every builder. */
struct fr_l2 {
	uint8_t dst[6];
	uint8_t src[6];
	uint8_t n_vlan;	       /* 0, 1 or 2 (tests may ask for more to test the limit; up to 4) */
	uint16_t vlan_tpid[4]; /* 0 picks 0x88a8 for the outer of two tags, 0x8100 otherwise */
	uint16_t vlan_tci[4];
};

/* IPv4 addresses here are in host order (0xc0000201 is 192.0.2.1). */
size_t fr_udp4(uint8_t *buf, size_t room, const struct fr_l2 *l2, uint32_t src, uint32_t dst,
	       uint16_t sport, uint16_t dport, const void *payload, size_t plen);
size_t fr_udp6(uint8_t *buf, size_t room, const struct fr_l2 *l2, const uint8_t src[16],
	       const uint8_t dst[16], uint16_t sport, uint16_t dport, const void *payload,
	       size_t plen);
size_t fr_tcp4(uint8_t *buf, size_t room, const struct fr_l2 *l2, uint32_t src, uint32_t dst,
	       uint16_t sport, uint16_t dport);
/* ICMP echo request (type 8) with @plen bytes of data. */
size_t fr_icmp4_echo(uint8_t *buf, size_t room, const struct fr_l2 *l2, uint32_t src, uint32_t dst,
		     uint16_t id, uint16_t seq, const void *data, size_t plen);
/* ICMPv6 echo request (type 128), hop limit 64. */
size_t fr_icmp6_echo(uint8_t *buf, size_t room, const struct fr_l2 *l2, const uint8_t src[16],
		     const uint8_t dst[16], uint16_t id, uint16_t seq, const void *data,
		     size_t plen);
/* Neighbour solicitation for @target, from @src to the solicited-node
 * multicast address of @target, hop limit 255, with a source link-layer
 * option holding l2->src unless @src is the unspecified address (DAD). */
size_t fr_nd_solicit(uint8_t *buf, size_t room, const struct fr_l2 *l2, const uint8_t src[16],
		     const uint8_t target[16]);
/* ARP request (op 1) or reply (op 2): sender @sha/@spa, target @tpa. */
size_t fr_arp(uint8_t *buf, size_t room, const struct fr_l2 *l2, uint16_t op, uint32_t spa,
	      uint32_t tpa);
/* IPv6 UDP with a chain of @n_ext extension headers before it; each of
 * @ext_types is 0 (hop-by-hop), 43 (routing), 60 (dest opts) or 44
 * (fragment), 8 bytes each. */
size_t fr_udp6_ext(uint8_t *buf, size_t room, const struct fr_l2 *l2, const uint8_t src[16],
		   const uint8_t dst[16], const uint8_t *ext_types, unsigned n_ext, uint16_t sport,
		   uint16_t dport, const void *payload, size_t plen);

/* One's complement sum (RFC 1071) of @len bytes in network order added to
 * @sum, not yet folded; and the folded, inverted value for a checksum field. */
uint32_t fr_sum_bytes(const uint8_t *p, size_t len, uint32_t sum);
uint16_t fr_sum_finish(uint32_t sum);

/* Recompute the IPv4 header checksum of the frame's IPv4 header at @l3_off. */
void fr_ipv4_fix_cksum(uint8_t *buf, size_t l3_off);

/* A minimal pcap writer (microsecond, LINKTYPE_ETHERNET). */
struct fr_pcap;
struct fr_pcap *fr_pcap_open(const char *path);
int fr_pcap_write(struct fr_pcap *p, const uint8_t *frame, size_t len, uint64_t ts_usec);
int fr_pcap_close(struct fr_pcap *p); /* 0 or -errno from the final flush */

#endif /* VIGIL_TEST_FRAMES_H */
