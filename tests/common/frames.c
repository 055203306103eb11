/*
 * frames.c - builders of well-formed test frames and a minimal pcap writer.
 *
 * The unit tests, vigil-mkpcap and vigil-bench need frames whose every length
 * and checksum is right, so that a test that breaks one field on purpose
 * knows that field is the only thing wrong. This file is deliberately plain
 * C with no DPDK header: the frames are built byte by byte in network order,
 * the way they appear on the wire, and checked against the RFCs (768, 791,
 * 792, 826, 4443, 4861, 8200) rather than against vigil's own parser.
 *
 * No builder pads a frame to the 60-byte Ethernet minimum; callers that want
 * a NIC's view of a short frame add the zeros themselves.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frames.h"

/* ------------------------------------------------------------------------ */
/* Wire constants                                                            */
/* ------------------------------------------------------------------------ */

#define FR_ETH_HLEN 14
#define FR_VLAN_HLEN 4
#define FR_MAX_VLAN 4
#define FR_IPV4_HLEN 20
#define FR_IPV6_HLEN 40
#define FR_UDP_HLEN 8
#define FR_TCP_HLEN 20
#define FR_ICMP_ECHO_HLEN 8
#define FR_ARP_LEN 28
#define FR_ND_NS_LEN 24 /* type, code, checksum, reserved, target */
#define FR_ND_OPT_LLA_LEN 8
#define FR_EXT_HLEN 8

#define FR_ETHERTYPE_IPV4 0x0800
#define FR_ETHERTYPE_ARP 0x0806
#define FR_ETHERTYPE_IPV6 0x86dd
#define FR_TPID_8021Q 0x8100
#define FR_TPID_8021AD 0x88a8

#define FR_PROTO_ICMP 1
#define FR_PROTO_TCP 6
#define FR_PROTO_UDP 17
#define FR_PROTO_ICMPV6 58

#define FR_TTL 64
#define FR_IPV4_DF 0x4000

/* ------------------------------------------------------------------------ */
/* Byte order and checksums                                                  */
/* ------------------------------------------------------------------------ */

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t
fr_sum_bytes(const uint8_t *p, size_t len, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2) {
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	}
	if (len & 1) {
		sum += (uint32_t)p[len - 1] << 8;
	}
	return sum;
}

uint16_t
fr_sum_finish(uint32_t sum)
{
	while (sum >> 16) {
		sum = (sum & 0xffff) + (sum >> 16);
	}
	return (uint16_t)~sum;
}

/* Sum of the IPv4 pseudo-header (RFC 768, RFC 793). */
static uint32_t
pseudo4(const uint8_t *ip, uint8_t proto, size_t l4_len)
{
	uint32_t sum = fr_sum_bytes(ip + 12, 8, 0);

	return sum + proto + (uint32_t)l4_len;
}

/* Sum of the IPv6 pseudo-header (RFC 8200 section 8.1). */
static uint32_t
pseudo6(const uint8_t *ip, uint8_t proto, size_t l4_len)
{
	uint32_t sum = fr_sum_bytes(ip + 8, 32, 0);

	return sum + (uint32_t)(l4_len >> 16) + (uint32_t)(l4_len & 0xffff) + proto;
}

/* ------------------------------------------------------------------------ */
/* Headers                                                                   */
/* ------------------------------------------------------------------------ */

static size_t
l2_len(const struct fr_l2 *l2)
{
	return FR_ETH_HLEN + (size_t)l2->n_vlan * FR_VLAN_HLEN;
}

/*
 * Ethernet header with l2's tags after the MAC addresses. Without an
 * explicit TPID, the outermost of a stack is 802.1ad and the others 802.1Q.
 * @dst overrides l2->dst when not NULL. Returns the header length.
 */
static size_t
put_l2(uint8_t *buf, const struct fr_l2 *l2, const uint8_t *dst, uint16_t ethertype)
{
	size_t off = 12;
	unsigned i;

	memcpy(buf, dst != NULL ? dst : l2->dst, 6);
	memcpy(buf + 6, l2->src, 6);
	for (i = 0; i < l2->n_vlan; i++) {
		uint16_t tpid = l2->vlan_tpid[i];

		if (tpid == 0) {
			tpid = (i == 0 && l2->n_vlan >= 2) ? FR_TPID_8021AD : FR_TPID_8021Q;
		}
		put16(buf + off, tpid);
		put16(buf + off + 2, l2->vlan_tci[i]);
		off += FR_VLAN_HLEN;
	}
	put16(buf + off, ethertype);
	return off + 2;
}

/* Check the link layer and that @l3_len more bytes fit; 0 if not. */
static size_t
frame_len(size_t room, const struct fr_l2 *l2, size_t l3_len)
{
	size_t len;

	if (l2 == NULL || l2->n_vlan > FR_MAX_VLAN) {
		return 0;
	}
	len = l2_len(l2) + l3_len;
	return len <= room ? len : 0;
}

static void
put_ipv4(uint8_t *ip, uint32_t src, uint32_t dst, uint8_t proto, size_t total_len)
{
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)total_len);
	put16(ip + 4, 0);
	put16(ip + 6, FR_IPV4_DF);
	ip[8] = FR_TTL;
	ip[9] = proto;
	put16(ip + 10, 0);
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, fr_sum_finish(fr_sum_bytes(ip, FR_IPV4_HLEN, 0)));
}

static void
put_ipv6(uint8_t *ip, const uint8_t src[16], const uint8_t dst[16], uint8_t next, uint8_t hop_limit,
	 size_t payload_len)
{
	put32(ip, 0x60000000u);
	put16(ip + 4, (uint16_t)payload_len);
	ip[6] = next;
	ip[7] = hop_limit;
	memcpy(ip + 8, src, 16);
	memcpy(ip + 24, dst, 16);
}

/* UDP header and payload at @udp; the checksum is left to the caller. */
static void
put_udp(uint8_t *udp, uint16_t sport, uint16_t dport, const void *payload, size_t plen)
{
	put16(udp, sport);
	put16(udp + 2, dport);
	put16(udp + 4, (uint16_t)(FR_UDP_HLEN + plen));
	put16(udp + 6, 0);
	if (plen > 0) {
		memcpy(udp + FR_UDP_HLEN, payload, plen);
	}
}

/* A transmitted UDP checksum of zero means "none"; RFC 768 sends 0xffff. */
static void
put_udp_cksum(uint8_t *udp, uint32_t pseudo, size_t udp_len)
{
	uint16_t ck = fr_sum_finish(fr_sum_bytes(udp, udp_len, pseudo));

	put16(udp + 6, ck == 0 ? 0xffff : ck);
}

/* ------------------------------------------------------------------------ */
/* Builders                                                                  */
/* ------------------------------------------------------------------------ */

size_t
fr_udp4(uint8_t *buf, size_t room, const struct fr_l2 *l2, uint32_t src, uint32_t dst,
	uint16_t sport, uint16_t dport, const void *payload, size_t plen)
{
	size_t udp_len = FR_UDP_HLEN + plen;
	size_t len, off;
	uint8_t *ip, *udp;

	if (FR_IPV4_HLEN + udp_len > 0xffff) {
		return 0;
	}
	len = frame_len(room, l2, FR_IPV4_HLEN + udp_len);
	if (len == 0) {
		return 0;
	}
	off = put_l2(buf, l2, NULL, FR_ETHERTYPE_IPV4);
	ip = buf + off;
	udp = ip + FR_IPV4_HLEN;
	put_ipv4(ip, src, dst, FR_PROTO_UDP, FR_IPV4_HLEN + udp_len);
	put_udp(udp, sport, dport, payload, plen);
	put_udp_cksum(udp, pseudo4(ip, FR_PROTO_UDP, udp_len), udp_len);
	return len;
}

size_t
fr_udp6(uint8_t *buf, size_t room, const struct fr_l2 *l2, const uint8_t src[16],
	const uint8_t dst[16], uint16_t sport, uint16_t dport, const void *payload, size_t plen)
{
	return fr_udp6_ext(buf, room, l2, src, dst, NULL, 0, sport, dport, payload, plen);
}

size_t
fr_tcp4(uint8_t *buf, size_t room, const struct fr_l2 *l2, uint32_t src, uint32_t dst,
	uint16_t sport, uint16_t dport)
{
	size_t len, off;
	uint8_t *ip, *tcp;

	len = frame_len(room, l2, FR_IPV4_HLEN + FR_TCP_HLEN);
	if (len == 0) {
		return 0;
	}
	off = put_l2(buf, l2, NULL, FR_ETHERTYPE_IPV4);
	ip = buf + off;
	tcp = ip + FR_IPV4_HLEN;
	put_ipv4(ip, src, dst, FR_PROTO_TCP, FR_IPV4_HLEN + FR_TCP_HLEN);
	/* A SYN: sequence number, no ack, data offset 5 words, window 64240. */
	put16(tcp, sport);
	put16(tcp + 2, dport);
	put32(tcp + 4, 0x01020304u);
	put32(tcp + 8, 0);
	tcp[12] = (FR_TCP_HLEN / 4) << 4;
	tcp[13] = 0x02;
	put16(tcp + 14, 64240);
	put16(tcp + 16, 0);
	put16(tcp + 18, 0);
	put16(tcp + 16, fr_sum_finish(fr_sum_bytes(tcp, FR_TCP_HLEN,
						   pseudo4(ip, FR_PROTO_TCP, FR_TCP_HLEN))));
	return len;
}

size_t
fr_icmp4_echo(uint8_t *buf, size_t room, const struct fr_l2 *l2, uint32_t src, uint32_t dst,
	      uint16_t id, uint16_t seq, const void *data, size_t plen)
{
	size_t icmp_len = FR_ICMP_ECHO_HLEN + plen;
	size_t len, off;
	uint8_t *ip, *icmp;

	if (FR_IPV4_HLEN + icmp_len > 0xffff) {
		return 0;
	}
	len = frame_len(room, l2, FR_IPV4_HLEN + icmp_len);
	if (len == 0) {
		return 0;
	}
	off = put_l2(buf, l2, NULL, FR_ETHERTYPE_IPV4);
	ip = buf + off;
	icmp = ip + FR_IPV4_HLEN;
	put_ipv4(ip, src, dst, FR_PROTO_ICMP, FR_IPV4_HLEN + icmp_len);
	icmp[0] = 8;
	icmp[1] = 0;
	put16(icmp + 2, 0);
	put16(icmp + 4, id);
	put16(icmp + 6, seq);
	if (plen > 0) {
		memcpy(icmp + FR_ICMP_ECHO_HLEN, data, plen);
	}
	/* RFC 792: the checksum covers the ICMP message only, no pseudo-header. */
	put16(icmp + 2, fr_sum_finish(fr_sum_bytes(icmp, icmp_len, 0)));
	return len;
}

size_t
fr_icmp6_echo(uint8_t *buf, size_t room, const struct fr_l2 *l2, const uint8_t src[16],
	      const uint8_t dst[16], uint16_t id, uint16_t seq, const void *data, size_t plen)
{
	size_t icmp_len = FR_ICMP_ECHO_HLEN + plen;
	size_t len, off;
	uint8_t *ip, *icmp;

	if (icmp_len > 0xffff) {
		return 0;
	}
	len = frame_len(room, l2, FR_IPV6_HLEN + icmp_len);
	if (len == 0) {
		return 0;
	}
	off = put_l2(buf, l2, NULL, FR_ETHERTYPE_IPV6);
	ip = buf + off;
	icmp = ip + FR_IPV6_HLEN;
	put_ipv6(ip, src, dst, FR_PROTO_ICMPV6, FR_TTL, icmp_len);
	icmp[0] = 128;
	icmp[1] = 0;
	put16(icmp + 2, 0);
	put16(icmp + 4, id);
	put16(icmp + 6, seq);
	if (plen > 0) {
		memcpy(icmp + FR_ICMP_ECHO_HLEN, data, plen);
	}
	/* RFC 4443 section 2.3: the IPv6 pseudo-header is part of the sum. */
	put16(icmp + 2,
	      fr_sum_finish(fr_sum_bytes(icmp, icmp_len, pseudo6(ip, FR_PROTO_ICMPV6, icmp_len))));
	return len;
}

size_t
fr_nd_solicit(uint8_t *buf, size_t room, const struct fr_l2 *l2, const uint8_t src[16],
	      const uint8_t target[16])
{
	static const uint8_t unspecified[16];
	int dad = memcmp(src, unspecified, sizeof(unspecified)) == 0;
	size_t icmp_len = FR_ND_NS_LEN + (dad ? 0 : FR_ND_OPT_LLA_LEN);
	uint8_t snm[16] = {0xff, 0x02, [11] = 0x01, [12] = 0xff};
	uint8_t eth_dst[6] = {0x33, 0x33, 0xff};
	size_t len, off;
	uint8_t *ip, *icmp;

	/* RFC 4291 section 2.7.1 and RFC 2464 section 7: ff02::1:ffXX:XXXX
	 * from the target's low 24 bits, and 33:33 plus its low 32 bits. */
	memcpy(snm + 13, target + 13, 3);
	memcpy(eth_dst + 3, target + 13, 3);

	len = frame_len(room, l2, FR_IPV6_HLEN + icmp_len);
	if (len == 0) {
		return 0;
	}
	off = put_l2(buf, l2, eth_dst, FR_ETHERTYPE_IPV6);
	ip = buf + off;
	icmp = ip + FR_IPV6_HLEN;
	put_ipv6(ip, src, snm, FR_PROTO_ICMPV6, 255, icmp_len);
	icmp[0] = 135;
	icmp[1] = 0;
	put16(icmp + 2, 0);
	put32(icmp + 4, 0);
	memcpy(icmp + 8, target, 16);
	if (!dad) {
		/* Source link-layer address option: type 1, length 1 (8 bytes). */
		icmp[24] = 1;
		icmp[25] = 1;
		memcpy(icmp + 26, l2->src, 6);
	}
	put16(icmp + 2,
	      fr_sum_finish(fr_sum_bytes(icmp, icmp_len, pseudo6(ip, FR_PROTO_ICMPV6, icmp_len))));
	return len;
}

size_t
fr_arp(uint8_t *buf, size_t room, const struct fr_l2 *l2, uint16_t op, uint32_t spa, uint32_t tpa)
{
	static const uint8_t zero_mac[6];
	size_t len, off;
	uint8_t *arp;

	len = frame_len(room, l2, FR_ARP_LEN);
	if (len == 0) {
		return 0;
	}
	off = put_l2(buf, l2, NULL, FR_ETHERTYPE_ARP);
	arp = buf + off;
	put16(arp, 1);			   /* hardware type: Ethernet */
	put16(arp + 2, FR_ETHERTYPE_IPV4); /* protocol type: IPv4 */
	arp[4] = 6;
	arp[5] = 4;
	put16(arp + 6, op);
	memcpy(arp + 8, l2->src, 6);
	put32(arp + 14, spa);
	/* RFC 826: a request does not know the target's hardware address; any
	 * other operation is addressed to the frame's destination. */
	memcpy(arp + 18, op == 1 ? zero_mac : l2->dst, 6);
	put32(arp + 24, tpa);
	return len;
}

size_t
fr_udp6_ext(uint8_t *buf, size_t room, const struct fr_l2 *l2, const uint8_t src[16],
	    const uint8_t dst[16], const uint8_t *ext_types, unsigned n_ext, uint16_t sport,
	    uint16_t dport, const void *payload, size_t plen)
{
	size_t udp_len = FR_UDP_HLEN + plen;
	size_t ext_len = (size_t)n_ext * FR_EXT_HLEN;
	size_t len, off;
	uint8_t *ip, *ext, *udp;
	unsigned i;

	if (ext_len + udp_len > 0xffff) {
		return 0;
	}
	for (i = 0; i < n_ext; i++) {
		if (ext_types[i] != 0 && ext_types[i] != 43 && ext_types[i] != 60 &&
		    ext_types[i] != 44) {
			return 0;
		}
	}
	len = frame_len(room, l2, FR_IPV6_HLEN + ext_len + udp_len);
	if (len == 0) {
		return 0;
	}
	off = put_l2(buf, l2, NULL, FR_ETHERTYPE_IPV6);
	ip = buf + off;
	put_ipv6(ip, src, dst, n_ext > 0 ? ext_types[0] : FR_PROTO_UDP, FR_TTL, ext_len + udp_len);
	ext = ip + FR_IPV6_HLEN;
	for (i = 0; i < n_ext; i++, ext += FR_EXT_HLEN) {
		memset(ext, 0, FR_EXT_HLEN);
		ext[0] = i + 1 < n_ext ? ext_types[i + 1] : FR_PROTO_UDP;
		switch (ext_types[i]) {
		case 0:
		case 60:
			/* Hdr Ext Len 0 (8 bytes); options: one PadN of 4 bytes. */
			ext[2] = 1;
			ext[3] = 4;
			break;
		case 43:
			/* Routing type 253 (RFC 4727 experiment), segments left 0:
			 * RFC 8200 section 4.4 says to ignore it and go on. */
			ext[2] = 253;
			ext[3] = 0;
			break;
		case 44:
			/* First fragment (offset 0, M set) of datagram 0x12345678. */
			put16(ext + 2, 0x0001);
			put32(ext + 4, 0x12345678u);
			break;
		}
	}
	udp = ext;
	put_udp(udp, sport, dport, payload, plen);
	/* RFC 8200 section 8.1: the pseudo-header carries the upper-layer
	 * length and protocol, not the first next header. */
	put_udp_cksum(udp, pseudo6(ip, FR_PROTO_UDP, udp_len), udp_len);
	return len;
}

void
fr_ipv4_fix_cksum(uint8_t *buf, size_t l3_off)
{
	uint8_t *ip = buf + l3_off;
	size_t hlen = (size_t)(ip[0] & 0x0f) * 4;

	put16(ip + 10, 0);
	put16(ip + 10, fr_sum_finish(fr_sum_bytes(ip, hlen, 0)));
}

/* ------------------------------------------------------------------------ */
/* pcap writer                                                               */
/* ------------------------------------------------------------------------ */

#define FR_PCAP_MAGIC 0xa1b2c3d4u
#define FR_PCAP_SNAPLEN 65535u
#define FR_PCAP_LINKTYPE_ETHERNET 1u

struct fr_pcap {
	FILE *file;
};

/*
 * Classic pcap, written in the host's byte order as libpcap does: readers
 * tell the order from the magic number.
 */
struct fr_pcap *
fr_pcap_open(const char *path)
{
	struct {
		uint32_t magic;
		uint16_t version_major;
		uint16_t version_minor;
		int32_t thiszone;
		uint32_t sigfigs;
		uint32_t snaplen;
		uint32_t linktype;
	} hdr = {FR_PCAP_MAGIC, 2, 4, 0, 0, FR_PCAP_SNAPLEN, FR_PCAP_LINKTYPE_ETHERNET};
	struct fr_pcap *p;
	int err;

	_Static_assert(sizeof(hdr) == 24, "pcap global header is 24 bytes");
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		return NULL;
	}
	p->file = fopen(path, "wb");
	if (p->file == NULL) {
		err = errno;
		goto fail;
	}
	errno = 0;
	if (fwrite(&hdr, sizeof(hdr), 1, p->file) != 1) {
		err = errno != 0 ? errno : EIO;
		fclose(p->file);
		goto fail;
	}
	return p;
fail:
	free(p);
	errno = err;
	return NULL;
}

int
fr_pcap_write(struct fr_pcap *p, const uint8_t *frame, size_t len, uint64_t ts_usec)
{
	uint32_t rec[4];

	if (p == NULL || len > FR_PCAP_SNAPLEN) {
		return -EINVAL;
	}
	rec[0] = (uint32_t)(ts_usec / 1000000u);
	rec[1] = (uint32_t)(ts_usec % 1000000u);
	rec[2] = (uint32_t)len;
	rec[3] = (uint32_t)len;
	errno = 0;
	if (fwrite(rec, sizeof(rec), 1, p->file) != 1 ||
	    (len > 0 && fwrite(frame, len, 1, p->file) != 1)) {
		return errno != 0 ? -errno : -EIO;
	}
	return 0;
}

int
fr_pcap_close(struct fr_pcap *p)
{
	int rc = 0;

	if (p == NULL) {
		return -EINVAL;
	}
	errno = 0;
	if (fflush(p->file) != 0) {
		rc = errno != 0 ? -errno : -EIO;
	}
	if (ferror(p->file) && rc == 0) {
		rc = -EIO;
	}
	if (fclose(p->file) != 0 && rc == 0) {
		rc = errno != 0 ? -errno : -EIO;
	}
	free(p);
	return rc;
}
