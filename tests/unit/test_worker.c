/*
 * test_worker.c - CUnit tests of the data plane as it runs: dp_start, the
 * worker lcores' poll loop, dp_stop and dp_destroy.
 *
 * test_dataplane.c checks every verdict on plain buffers; this suite checks
 * what happens around them once a real EAL and real ethdev ports are in
 * play: which worker polls which queue, that replies leave on the TX queue
 * of the worker that took the request, that a full TX ring is counted and
 * its replies freed, that the telemetry hook sees exactly the telemetry,
 * that no mbuf is lost, and that dp_start fails cleanly with a message that
 * names the fix. Last, the replay clock (dp_conf.packet_time): a capture
 * played on a net_pcap port dates its events and registry entries with its
 * records' own times, to the microsecond; without it, with the wall clock.
 *
 * The ports are net_ring ethdevs made with rte_eth_from_rings() over rings
 * the test owns: it enqueues mbufs into a port's RX rings and dequeues the
 * replies from its TX rings, so every counter can be predicted exactly.
 * The EAL runs without hugepages, with a main lcore and two worker lcores
 * (which may share one CPU: they busy-poll, so the test is not run in
 * parallel with others).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <urcu/urcu-qsbr.h>

#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "cunit_main.h"
#include "eal.h"
#include "dataplane.h"
#include "frames.h"

/* ------------------------------------------------------------------------ */
/* The appliance, its neighbours, and the test's resources                   */
/* ------------------------------------------------------------------------ */

#define OUR_V4 0xc0000201u    /* 192.0.2.1 */
#define PEER_V4 0xc000020au   /* 192.0.2.10; ARP requests count up from here */
#define PEER_B_V4 0xc0000232u /* 192.0.2.50; the second queue's ARP senders */
#define HL7_PORT 2575
#define VTP_PORT 4575
#define DNS_PORT 53
#define PEER_PORT 40000
#define ECHO_ID 0x1234

#define ETH_HLEN 14
#define IPV4_HLEN 20
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806

#define POOL_MBUFS 4095 /* the test's own mempool, for the frames it sends */
#define MAX_QUEUES 2
#define RING_SIZE 1024 /* RX and (by default) TX rings: 1023 usable slots */
#define MAX_BATCH 512
#define FRAME_ROOM 1600
#define WAIT_MS 10000 /* generous: the workers may share a CPU, or run under valgrind */

#define TEL_MAX 512
#define TEL_PAYLOAD_MAX 1100

static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x10};
static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t our_v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x01};
static const uint8_t peer_v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x10};
static const char echo_data[] = "ping!";
#define ECHO_LEN (sizeof(echo_data) - 1)

static struct rte_mempool *test_pool;
static unsigned ring_port_seq;

/* ------------------------------------------------------------------------ */
/* EAL                                                                       */
/* ------------------------------------------------------------------------ */

static int
suite_init(void)
{
	if (vt_eal_init("test_worker", 3, 256) != 0)
		return -1;
	test_pool = rte_pktmbuf_pool_create("test_frames", POOL_MBUFS, 0, 0,
					    RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (test_pool == NULL) {
		fprintf(stderr, "test_worker: cannot create the test mempool: %s\n",
			rte_strerror(rte_errno));
		rte_eal_cleanup();
		return -1;
	}
	return 0;
}

static int
suite_cleanup(void)
{
	rte_mempool_free(test_pool);
	test_pool = NULL;
	return rte_eal_cleanup() == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Ring ports                                                                */
/* ------------------------------------------------------------------------ */

/* An ethdev over rings the test owns: it feeds rx[] and reads tx[]. */
struct ring_port {
	char name[RTE_ETH_NAME_MAX_LEN]; /* the ethdev's name, what dp_port_conf.name gets */
	char tag[16];			 /* the name given to rte_eth_from_rings */
	uint16_t port_id;
	unsigned n_rxq;
	unsigned n_txq;
	struct rte_ring *rx[MAX_QUEUES];
	struct rte_ring *tx[MAX_QUEUES];
	uint8_t mac[6];
};

static unsigned
ring_drain(struct rte_ring *r)
{
	struct rte_mbuf *m;
	unsigned n = 0;

	while (r != NULL && rte_ring_dequeue(r, (void **)&m) == 0) {
		rte_pktmbuf_free(m);
		n++;
	}
	return n;
}

/* Frees the port's rings (and any mbufs left in them) and the vdev. */
static void
ring_port_destroy(struct ring_port *rp)
{
	/* dp_destroy has usually closed (and so released) the ethdev already;
	 * removing the vdev then only drops the bus's record of it. */
	if (rp->name[0] != '\0')
		CU_ASSERT_EQUAL(rte_eal_hotplug_remove("vdev", rp->name), 0);
	for (unsigned q = 0; q < MAX_QUEUES; q++) {
		ring_drain(rp->rx[q]);
		ring_drain(rp->tx[q]);
		rte_ring_free(rp->rx[q]);
		rte_ring_free(rp->tx[q]);
	}
	memset(rp, 0, sizeof(*rp));
}

/*
 * A fresh port with @n_rxq RX and @n_txq TX rings, TX rings of @tx_size
 * slots (a power of two; one fewer usable). Ports cannot be reused: dp_destroy
 * closes them, and a closed ethdev is released.
 */
static int
ring_port_create(struct ring_port *rp, unsigned n_rxq, unsigned n_txq, unsigned tx_size)
{
	char ring_name[RTE_RING_NAMESIZE];
	struct rte_ether_addr mac;
	int port, rc;

	memset(rp, 0, sizeof(*rp));
	snprintf(rp->tag, sizeof(rp->tag), "w%u", ring_port_seq++);
	rp->n_rxq = n_rxq;
	rp->n_txq = n_txq;
	for (unsigned q = 0; q < n_rxq; q++) {
		snprintf(ring_name, sizeof(ring_name), "%s_rx%u", rp->tag, q);
		rp->rx[q] = rte_ring_create(ring_name, RING_SIZE, (int)rte_socket_id(), 0);
		if (rp->rx[q] == NULL) {
			rc = -rte_errno;
			goto fail;
		}
	}
	for (unsigned q = 0; q < n_txq; q++) {
		snprintf(ring_name, sizeof(ring_name), "%s_tx%u", rp->tag, q);
		rp->tx[q] = rte_ring_create(ring_name, tx_size, (int)rte_socket_id(), 0);
		if (rp->tx[q] == NULL) {
			rc = -rte_errno;
			goto fail;
		}
	}
	port = rte_eth_from_rings(rp->tag, rp->rx, n_rxq, rp->tx, n_txq, rte_socket_id());
	if (port < 0) {
		rc = -rte_errno;
		goto fail;
	}
	rp->port_id = (uint16_t)port;
	rc = rte_eth_dev_get_name_by_port(rp->port_id, rp->name);
	if (rc == 0)
		rc = rte_eth_macaddr_get(rp->port_id, &mac);
	if (rc != 0)
		goto fail;
	memcpy(rp->mac, mac.addr_bytes, sizeof(rp->mac));
	return 0;

fail:
	fprintf(stderr, "test_worker: ring port %s: %s\n", rp->tag, rte_strerror(-rc));
	ring_port_destroy(rp);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Frames into mbufs                                                         */
/* ------------------------------------------------------------------------ */

/* Mbufs built for one RX ring, enqueued together. */
struct batch {
	unsigned n;
	uint64_t bytes;
	struct rte_mbuf *m[MAX_BATCH];
};

static void
batch_add(struct batch *b, const uint8_t *frame, size_t len)
{
	struct rte_mbuf *m;
	char *data;

	CU_ASSERT_FATAL(len > 0 && len <= FRAME_ROOM && b->n < MAX_BATCH);
	m = rte_pktmbuf_alloc(test_pool);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	data = rte_pktmbuf_append(m, (uint16_t)len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(data);
	memcpy(data, frame, len);
	b->m[b->n++] = m;
	b->bytes += len;
}

/* All of @b at once: the worker sees the mbufs in this order. */
static void
batch_send(struct batch *b, struct rte_ring *rx)
{
	CU_ASSERT_EQUAL_FATAL(rte_ring_enqueue_bulk(rx, (void **)b->m, b->n, NULL), b->n);
}

static struct fr_l2
l2_to(const uint8_t dst[6], unsigned n_vlan)
{
	struct fr_l2 l2;

	memset(&l2, 0, sizeof(l2));
	memcpy(l2.dst, dst, 6);
	memcpy(l2.src, peer_mac, 6);
	l2.n_vlan = (uint8_t)n_vlan;
	if (n_vlan > 0)
		l2.vlan_tci[0] = 0x2064; /* PCP 1, VID 100 */
	return l2;
}

/*
 * The payload of telemetry datagram @seq: an HL7 message for the HL7 port,
 * a small binary record for the VTP port. Lengths differ from one @seq to
 * the next so that a payload offset or length that is off shows.
 */
static size_t
telemetry_payload(uint8_t *out, size_t room, uint16_t dport, unsigned seq)
{
	int n;

	if (dport == HL7_PORT) {
		n = snprintf((char *)out, room,
			     "\x0bMSH|^~\\&|MON%03u|ICU3|VIGIL|HOSP|20240301120000||ORU^R01|"
			     "MSG%05u|P|2.6\rOBX|1|NM|SPO2||%u|%%|||||R\r\x1c\r",
			     seq % 1000, seq, 90 + seq % 10);
		return n > 0 && (size_t)n < room ? (size_t)n : 0;
	}
	n = 12 + (int)(seq % 17);
	if ((size_t)n > room)
		return 0;
	memset(out, 0, (size_t)n);
	memcpy(out, "VTP\x01", 4);
	out[4] = (uint8_t)(seq >> 24);
	out[5] = (uint8_t)(seq >> 16);
	out[6] = (uint8_t)(seq >> 8);
	out[7] = (uint8_t)seq;
	for (int i = 8; i < n; i++)
		out[i] = (uint8_t)(i * 7 + seq);
	return (size_t)n;
}

static void
add_udp4(struct batch *b, const struct ring_port *rp, unsigned n_vlan, uint16_t dport, unsigned seq)
{
	uint8_t frame[FRAME_ROOM], payload[FRAME_ROOM];
	struct fr_l2 l2 = l2_to(rp->mac, n_vlan);
	size_t plen, len;

	plen = telemetry_payload(payload, sizeof(payload), dport == VTP_PORT ? VTP_PORT : HL7_PORT,
				 seq);
	len = fr_udp4(frame, sizeof(frame), &l2, PEER_V4, OUR_V4, PEER_PORT, dport, payload, plen);
	batch_add(b, frame, len);
}

static void
add_arp_request(struct batch *b, uint32_t spa)
{
	uint8_t frame[FRAME_ROOM];
	struct fr_l2 l2 = l2_to(bcast_mac, 0);

	batch_add(b, frame, fr_arp(frame, sizeof(frame), &l2, 1, spa, OUR_V4));
}

static void
add_echo(struct batch *b, const struct ring_port *rp, uint16_t seq)
{
	uint8_t frame[FRAME_ROOM];
	struct fr_l2 l2 = l2_to(rp->mac, 0);

	batch_add(b, frame,
		  fr_icmp4_echo(frame, sizeof(frame), &l2, PEER_V4, OUR_V4, ECHO_ID, seq, echo_data,
				ECHO_LEN));
}

static void
add_runt(struct batch *b, size_t len)
{
	uint8_t frame[ETH_HLEN];

	memset(frame, 0xab, sizeof(frame));
	batch_add(b, frame, len);
}

/* An HL7 datagram split over two chained mbufs at byte @split. */
static void
add_chained(struct batch *b, const struct ring_port *rp, unsigned seq, size_t split)
{
	uint8_t frame[FRAME_ROOM], payload[FRAME_ROOM];
	struct fr_l2 l2 = l2_to(rp->mac, 0);
	struct rte_mbuf *head, *tail;
	size_t plen, len;
	char *data;

	plen = telemetry_payload(payload, sizeof(payload), HL7_PORT, seq);
	len = fr_udp4(frame, sizeof(frame), &l2, PEER_V4, OUR_V4, PEER_PORT, HL7_PORT, payload,
		      plen);
	CU_ASSERT_FATAL(split > 0 && split < len && b->n < MAX_BATCH);
	head = rte_pktmbuf_alloc(test_pool);
	tail = rte_pktmbuf_alloc(test_pool);
	CU_ASSERT_FATAL(head != NULL && tail != NULL);
	data = rte_pktmbuf_append(head, (uint16_t)split);
	CU_ASSERT_PTR_NOT_NULL_FATAL(data);
	memcpy(data, frame, split);
	data = rte_pktmbuf_append(tail, (uint16_t)(len - split));
	CU_ASSERT_PTR_NOT_NULL_FATAL(data);
	memcpy(data, frame + split, len - split);
	CU_ASSERT_EQUAL_FATAL(rte_pktmbuf_chain(head, tail), 0);
	CU_ASSERT_EQUAL_FATAL(rte_pktmbuf_pkt_len(head), len);
	b->m[b->n++] = head;
	b->bytes += len;
}

/* ------------------------------------------------------------------------ */
/* The data plane's configuration and counters                               */
/* ------------------------------------------------------------------------ */

static void
conf_init(struct dp_conf *c, unsigned n_workers, const struct ring_port *rp)
{
	struct dp_local *l;

	memset(c, 0, sizeof(*c));
	c->n_workers = n_workers;
	c->rx_desc = 512;
	c->tx_desc = 512;
	c->n_ports = 1;
	c->port[0].name = rp->name;
	l = &c->port[0].local;
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

static void
set(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

/*
 * Compare every counter but rx_bursts; print each one that differs. Also
 * check the invariant rx_packets == sum(outcomes) + sum(drops), and that the
 * bursts are plausible (at least one per 32 frames, at most one per frame).
 */
static bool
stats_match(const struct dp_stats *got, const struct dp_stats *want, const char *what)
{
	bool ok = true;
	uint64_t rx = dp_read(&got->rx_packets), bursts = dp_read(&got->rx_bursts);

#define CHECK(label, g, w)                                                                       \
	do {                                                                                     \
		if (dp_read(g) != dp_read(w)) {                                                  \
			fprintf(stderr, "\n  %s: %s is %llu, want %llu", what, label,            \
				(unsigned long long)dp_read(g), (unsigned long long)dp_read(w)); \
			ok = false;                                                              \
		}                                                                                \
	} while (0)
	CHECK("rx_packets", &got->rx_packets, &want->rx_packets);
	CHECK("rx_bytes", &got->rx_bytes, &want->rx_bytes);
	CHECK("tx_packets", &got->tx_packets, &want->tx_packets);
	for (unsigned o = 0; o < DP_OUT__COUNT; o++)
		CHECK(dp_outcome_name((enum dp_outcome)o), &got->outcome[o], &want->outcome[o]);
	for (unsigned d = 0; d < DP_DROP__COUNT; d++)
		CHECK(dp_drop_name((enum dp_drop)d), &got->drop[d], &want->drop[d]);
#undef CHECK
	if (dp_stats_accounted(got) != rx) {
		fprintf(stderr, "\n  %s: %llu packets received but %llu accounted for", what,
			(unsigned long long)rx, (unsigned long long)dp_stats_accounted(got));
		ok = false;
	}
	if (rx > 0 && (bursts < (rx + DP_RX_BURST - 1) / DP_RX_BURST || bursts > rx)) {
		fprintf(stderr, "\n  %s: %llu bursts for %llu packets", what,
			(unsigned long long)bursts, (unsigned long long)rx);
		ok = false;
	}
	return ok;
}

/* Wait (bounded) until the workers together have taken @want frames. */
static bool
wait_rx(const struct dp_plane *dp, uint64_t want)
{
	struct dp_stats total;

	for (unsigned ms = 0; ms < WAIT_MS; ms++) {
		dp_stats_total(dp, &total);
		if (dp_read(&total.rx_packets) >= want)
			return true;
		usleep(1000);
	}
	fprintf(stderr, "\n  workers took %llu of %llu frames in %u ms",
		(unsigned long long)dp_read(&total.rx_packets), (unsigned long long)want, WAIT_MS);
	return false;
}

/* ------------------------------------------------------------------------ */
/* Replies                                                                   */
/* ------------------------------------------------------------------------ */

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* An ARP reply (RFC 826) from us to the request sent from @peer. */
static bool
arp_reply_ok(const uint8_t *f, uint32_t len, const uint8_t our_mac[6], uint32_t peer)
{
	const uint8_t *arp = f + ETH_HLEN;

	return len >= ETH_HLEN + 28 && memcmp(f, peer_mac, 6) == 0 &&
	       memcmp(f + 6, our_mac, 6) == 0 && rd16(f + 12) == ETHERTYPE_ARP && rd16(arp) == 1 &&
	       rd16(arp + 2) == ETHERTYPE_IPV4 && rd16(arp + 6) == 2 &&
	       memcmp(arp + 8, our_mac, 6) == 0 && rd32(arp + 14) == OUR_V4 &&
	       memcmp(arp + 18, peer_mac, 6) == 0 && rd32(arp + 24) == peer;
}

/* An ICMP echo reply (RFC 792) to echo request @seq, checksums right. */
static bool
echo_reply_ok(const uint8_t *f, uint32_t len, const uint8_t our_mac[6], uint16_t seq)
{
	const uint8_t *ip = f + ETH_HLEN, *icmp = ip + IPV4_HLEN;
	uint16_t ip_len;

	if (len < ETH_HLEN + IPV4_HLEN + 8 || rd16(f + 12) != ETHERTYPE_IPV4)
		return false;
	ip_len = rd16(ip + 2);
	return memcmp(f, peer_mac, 6) == 0 && memcmp(f + 6, our_mac, 6) == 0 && ip[0] == 0x45 &&
	       ip_len == IPV4_HLEN + 8 + ECHO_LEN && len >= ETH_HLEN + (uint32_t)ip_len &&
	       ip[9] == 1 && rd32(ip + 12) == OUR_V4 && rd32(ip + 16) == PEER_V4 &&
	       fr_sum_finish(fr_sum_bytes(ip, IPV4_HLEN, 0)) == 0 && icmp[0] == 0 && icmp[1] == 0 &&
	       rd16(icmp + 4) == ECHO_ID && rd16(icmp + 6) == seq &&
	       memcmp(icmp + 8, echo_data, ECHO_LEN) == 0 &&
	       fr_sum_finish(fr_sum_bytes(icmp, ip_len - IPV4_HLEN, 0)) == 0;
}

/*
 * Take every frame off @tx and check it: exactly @n_arp ARP replies to
 * @arp_peer0, @arp_peer0 + 1, ... and @n_echo echo replies with sequence
 * 0, 1, ..., each kind in the order its requests were sent. Frees them.
 */
static void
expect_replies(struct rte_ring *tx, const uint8_t our_mac[6], uint32_t arp_peer0, unsigned n_arp,
	       unsigned n_echo, const char *what)
{
	unsigned arp = 0, echo = 0, other = 0;
	struct rte_mbuf *m;

	while (rte_ring_dequeue(tx, (void **)&m) == 0) {
		const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
		uint32_t len = rte_pktmbuf_data_len(m);

		CU_ASSERT_EQUAL(m->nb_segs, 1);
		CU_ASSERT_EQUAL(rte_pktmbuf_pkt_len(m), len);
		if (len >= ETH_HLEN && rd16(f + 12) == ETHERTYPE_ARP) {
			if (!arp_reply_ok(f, len, our_mac, arp_peer0 + arp)) {
				fprintf(stderr, "\n  %s: ARP reply %u is wrong", what, arp);
				CU_FAIL("ARP reply");
			}
			arp++;
		} else if (len >= ETH_HLEN && rd16(f + 12) == ETHERTYPE_IPV4) {
			if (!echo_reply_ok(f, len, our_mac, (uint16_t)echo)) {
				fprintf(stderr, "\n  %s: echo reply %u is wrong", what, echo);
				CU_FAIL("echo reply");
			}
			echo++;
		} else {
			other++;
		}
		rte_pktmbuf_free(m);
	}
	CU_ASSERT_EQUAL(arp, n_arp);
	CU_ASSERT_EQUAL(echo, n_echo);
	CU_ASSERT_EQUAL(other, 0);
}

/* ------------------------------------------------------------------------ */
/* The telemetry hook                                                        */
/* ------------------------------------------------------------------------ */

struct tel_record {
	void *arg;
	unsigned worker;
	enum dp_verdict kind;
	uint16_t len;
	uint8_t payload[TEL_PAYLOAD_MAX];
};

/* Written by the worker lcores, read after dp_stop has joined them. */
static struct tel_record tel_log[TEL_MAX];
static atomic_uint tel_count;
static int tel_cookie;

static void
tel_reset(void)
{
	atomic_store(&tel_count, 0);
	memset(tel_log, 0, sizeof(tel_log));
}

static void
tel_record(void *arg, unsigned worker, enum dp_verdict kind, const uint8_t *frame,
	   const struct dp_pkt *pkt)
{
	unsigned i = atomic_fetch_add_explicit(&tel_count, 1, memory_order_relaxed);
	struct tel_record *r;

	if (i >= TEL_MAX)
		return;
	r = &tel_log[i];
	r->arg = arg;
	r->worker = worker;
	r->kind = kind;
	r->len = pkt->payload_len;
	memcpy(r->payload, frame + pkt->payload_off,
	       pkt->payload_len < TEL_PAYLOAD_MAX ? pkt->payload_len : TEL_PAYLOAD_MAX);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

/* rte_eth_from_rings(name) names the ethdev "net_ring_<name>"; dp_start
 * finds ports by that name. */
static void
test_ring_port_name(void)
{
	struct ring_port rp;
	char want[RTE_ETH_NAME_MAX_LEN];
	uint16_t id;

	CU_ASSERT_EQUAL(rte_lcore_count(), 3);
	CU_ASSERT_FATAL(ring_port_create(&rp, 1, 1, RING_SIZE) == 0);
	snprintf(want, sizeof(want), "net_ring_%s", rp.tag);
	CU_ASSERT_STRING_EQUAL(rp.name, want);
	CU_ASSERT_EQUAL(rte_eth_dev_get_port_by_name(want, &id), 0);
	CU_ASSERT_EQUAL(id, rp.port_id);
	ring_port_destroy(&rp);
	CU_ASSERT_NOT_EQUAL(rte_eth_dev_get_port_by_name(want, &id), 0);
}

/*
 * One worker, one port: a known mix. Every counter exact, the 20 replies on
 * the TX ring and right, every mbuf back in the mempool.
 */
static void
test_one_worker_mix(void)
{
	static struct batch b;
	struct ring_port rp;
	struct dp_conf conf;
	struct dp_plane *dp = NULL;
	struct dp_stats total, want;
	struct dp_port_stats ps;
	char err[512] = "";
	unsigned n_hl7 = 0, n_vtp = 0, n_arp = 0, n_echo = 0, n_dns = 0, n_runt = 0;

	CU_ASSERT_EQUAL_FATAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
	CU_ASSERT_FATAL(ring_port_create(&rp, 1, 1, RING_SIZE) == 0);
	conf_init(&conf, 1, &rp);
	conf.promiscuous = true;
	CU_ASSERT_EQUAL_FATAL(dp_start(&conf, &dp, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dp);
	CU_ASSERT_EQUAL(dp_n_workers(dp), 1);
	CU_ASSERT_EQUAL(dp_n_ports(dp), 1);
	CU_ASSERT_PTR_NOT_NULL(dp_worker_stats(dp, 0));
	CU_ASSERT_PTR_NULL(dp_worker_stats(dp, 1));

	/* 100 HL7, 20 VTP, 10 ARP, 10 echo, 7 DNS, 3 runts, interleaved. */
	memset(&b, 0, sizeof(b));
	for (unsigned i = 0; i < 100; i++) {
		add_udp4(&b, &rp, 0, HL7_PORT, i);
		n_hl7++;
		if (i % 5 == 0) {
			add_udp4(&b, &rp, 0, VTP_PORT, i);
			n_vtp++;
		}
		if (i % 10 == 3)
			add_arp_request(&b, PEER_V4 + n_arp++);
		if (i % 10 == 7)
			add_echo(&b, &rp, (uint16_t)n_echo++);
		if (i % 15 == 1) {
			add_udp4(&b, &rp, 0, DNS_PORT, i);
			n_dns++;
		}
		if (i % 33 == 32)
			add_runt(&b, 1 + 6 * n_runt++); /* 1, 7 and 13 bytes */
	}
	CU_ASSERT_FATAL(n_hl7 == 100 && n_vtp == 20 && n_arp == 10 && n_echo == 10 && n_dns == 7 &&
			n_runt == 3 && b.n == 150);
	batch_send(&b, rp.rx[0]);
	CU_ASSERT_TRUE(wait_rx(dp, 150));
	dp_stop(dp);
	dp_stop(dp); /* a second stop is a no-op */

	memset(&want, 0, sizeof(want));
	set(&want.rx_packets, 150);
	set(&want.rx_bytes, b.bytes);
	set(&want.tx_packets, 20);
	set(&want.outcome[DP_OUT_telemetry_hl7], 100);
	set(&want.outcome[DP_OUT_telemetry_vtp], 20);
	set(&want.outcome[DP_OUT_arp_replies], 10);
	set(&want.outcome[DP_OUT_icmp_echo_replies], 10);
	set(&want.drop[DP_DROP_udp_port], 7);
	set(&want.drop[DP_DROP_eth_runt], 3);
	dp_stats_total(dp, &total);
	CU_ASSERT_TRUE(stats_match(&total, &want, "total"));
	CU_ASSERT_TRUE(stats_match(dp_worker_stats(dp, 0), &want, "worker 0"));

	CU_ASSERT_EQUAL(dp_port_stats(dp, 0, &ps), 0);
	CU_ASSERT_STRING_EQUAL(ps.name, rp.name);
	CU_ASSERT_EQUAL(ps.rx_queues, 1);
	CU_ASSERT_EQUAL(ps.tx_queues, 1);
	CU_ASSERT_FALSE(ps.rss);
	CU_ASSERT_EQUAL(ps.ipackets, 150);
	CU_ASSERT_EQUAL(ps.opackets, 20);
	CU_ASSERT_EQUAL(ps.imissed + ps.ierrors + ps.rx_nombuf + ps.oerrors, 0);
	CU_ASSERT_EQUAL(dp_port_stats(dp, 1, &ps), -EINVAL);

	CU_ASSERT_EQUAL(rte_ring_count(rp.rx[0]), 0);
	CU_ASSERT_EQUAL(rte_ring_count(rp.tx[0]), 20);
	/* Everything but the replies is back in the pool. */
	CU_ASSERT_EQUAL(rte_mempool_avail_count(test_pool), POOL_MBUFS - 20);
	expect_replies(rp.tx[0], rp.mac, PEER_V4, 10, 10, "one worker");
	dp_destroy(dp);
	dp_destroy(NULL);
	ring_port_destroy(&rp);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
}

/*
 * The telemetry hook: called once per telemetry datagram, on the worker,
 * with its kind and the exact UDP payload; never for drops or replies.
 */
static void
test_telemetry_hook(void)
{
	/* What the hook must see, in order: (port, seq, VLAN tags, IPv6). */
	static const struct {
		uint16_t dport;
		unsigned seq;
		unsigned n_vlan;
		bool v6;
		bool empty;
	} expect[] = {
		{HL7_PORT, 0, 0, false, false}, {HL7_PORT, 1, 1, false, false},
		{VTP_PORT, 2, 0, false, false}, {VTP_PORT, 3, 0, true, false},
		{HL7_PORT, 4, 0, false, true},	{HL7_PORT, 5, 0, false, false},
		{VTP_PORT, 6, 1, false, false},
	};
	static struct batch b;
	uint8_t frame[FRAME_ROOM], payload[FRAME_ROOM];
	struct ring_port rp;
	struct dp_conf conf;
	struct dp_plane *dp = NULL;
	struct dp_stats total, want;
	char err[512] = "";
	unsigned n_expect = sizeof(expect) / sizeof(expect[0]);
	size_t len, plen;

	CU_ASSERT_EQUAL_FATAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
	CU_ASSERT_FATAL(ring_port_create(&rp, 1, 1, RING_SIZE) == 0);
	conf_init(&conf, 1, &rp);
	conf.on_telemetry = tel_record;
	conf.telemetry_arg = &tel_cookie;
	tel_reset();

	memset(&b, 0, sizeof(b));
	for (unsigned i = 0; i < n_expect; i++) {
		struct fr_l2 l2 = l2_to(rp.mac, expect[i].n_vlan);

		plen = expect[i].empty ? 0
				       : telemetry_payload(payload, sizeof(payload),
							   expect[i].dport, expect[i].seq);
		if (expect[i].v6)
			len = fr_udp6(frame, sizeof(frame), &l2, peer_v6, our_v6, PEER_PORT,
				      expect[i].dport, payload, plen);
		else
			len = fr_udp4(frame, sizeof(frame), &l2, PEER_V4, OUR_V4, PEER_PORT,
				      expect[i].dport, payload, plen);
		batch_add(&b, frame, len);
		/* Between the telemetry, what the hook must not see. */
		switch (i) {
		case 0:
			add_arp_request(&b, PEER_V4);
			break;
		case 1:
			add_udp4(&b, &rp, 0, DNS_PORT, 100);
			break;
		case 2: {
			/* To the HL7 port, but the UDP checksum is wrong. */
			struct fr_l2 l2d = l2_to(rp.mac, 0);

			plen = telemetry_payload(payload, sizeof(payload), HL7_PORT, 101);
			len = fr_udp4(frame, sizeof(frame), &l2d, PEER_V4, OUR_V4, PEER_PORT,
				      HL7_PORT, payload, plen);
			frame[len - 1] ^= 0x01;
			batch_add(&b, frame, len);
			break;
		}
		case 3:
			add_runt(&b, 9);
			break;
		case 4:
			add_echo(&b, &rp, 0);
			break;
		case 5: {
			struct fr_l2 l2t = l2_to(rp.mac, 0);

			batch_add(&b, frame,
				  fr_tcp4(frame, sizeof(frame), &l2t, PEER_V4, OUR_V4, PEER_PORT,
					  HL7_PORT));
			break;
		}
		default:
			break;
		}
	}
	CU_ASSERT_EQUAL_FATAL(b.n, 13);

	CU_ASSERT_EQUAL_FATAL(dp_start(&conf, &dp, err, sizeof(err)), 0);
	batch_send(&b, rp.rx[0]);
	CU_ASSERT_TRUE(wait_rx(dp, b.n));
	dp_stop(dp);

	CU_ASSERT_EQUAL(atomic_load(&tel_count), n_expect);
	for (unsigned i = 0; i < n_expect && i < atomic_load(&tel_count); i++) {
		const struct tel_record *r = &tel_log[i];

		plen = expect[i].empty ? 0
				       : telemetry_payload(payload, sizeof(payload),
							   expect[i].dport, expect[i].seq);
		CU_ASSERT_PTR_EQUAL(r->arg, &tel_cookie);
		CU_ASSERT_EQUAL(r->worker, 0);
		CU_ASSERT_EQUAL(r->kind,
				expect[i].dport == HL7_PORT ? DP_VERDICT_HL7 : DP_VERDICT_VTP);
		CU_ASSERT_EQUAL(r->len, plen);
		if (r->len != plen || memcmp(r->payload, payload, plen) != 0) {
			fprintf(stderr, "\n  telemetry datagram %u: payload differs", i);
			CU_FAIL("telemetry payload");
		}
	}

	memset(&want, 0, sizeof(want));
	set(&want.rx_packets, 13);
	set(&want.rx_bytes, b.bytes);
	set(&want.tx_packets, 2);
	set(&want.outcome[DP_OUT_telemetry_hl7], 4);
	set(&want.outcome[DP_OUT_telemetry_vtp], 3);
	set(&want.outcome[DP_OUT_arp_replies], 1);
	set(&want.outcome[DP_OUT_icmp_echo_replies], 1);
	set(&want.drop[DP_DROP_udp_port], 1);
	set(&want.drop[DP_DROP_udp_checksum], 1);
	set(&want.drop[DP_DROP_eth_runt], 1);
	set(&want.drop[DP_DROP_l4_proto], 1);
	dp_stats_total(dp, &total);
	CU_ASSERT_TRUE(stats_match(&total, &want, "telemetry"));
	expect_replies(rp.tx[0], rp.mac, PEER_V4, 1, 1, "telemetry");
	dp_destroy(dp);
	ring_port_destroy(&rp);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
}

/* ------------------------------------------------------------------------ */
/* Rules on the worker                                                       */
/* ------------------------------------------------------------------------ */

#define HIT_MAX 64

struct hit_record {
	unsigned worker;
	uint32_t sid;
	uint16_t obs;
	double value;
	bool has_msg; /* a decoded message came with the hits */
};

static struct hit_record hit_log[HIT_MAX];
static atomic_uint hit_count;

static void
hit_record(void *arg, unsigned worker, const struct dp_decoded *d, const struct rule_input *in,
	   const struct rule_hit *hits, unsigned n)
{
	(void)arg;
	(void)in;
	for (unsigned i = 0; i < n; i++) {
		unsigned k = atomic_fetch_add_explicit(&hit_count, 1, memory_order_relaxed);

		if (k < HIT_MAX)
			hit_log[k] = (struct hit_record){worker, hits[i].rule->sid, hits[i].obs,
							 hits[i].value, d != NULL};
	}
}

static unsigned
hits_of(uint32_t sid, bool with_msg)
{
	unsigned n = 0;

	for (unsigned i = 0; i < atomic_load(&hit_count) && i < HIT_MAX; i++)
		if (hit_log[i].sid == sid && hit_log[i].has_msg == with_msg)
			n++;
	return n;
}

/*
 * A ruleset on a running worker: metric hits on the observations that pass
 * the comparison, a header-only rule once per datagram (decoded or not),
 * and `malformed` rules on the datagrams that did not decode, each seen by
 * the on_hits hook and counted in the worker's rule counters.
 */
static void
test_rules_on_worker(void)
{
	static const char text[] =
		"alert hl7 any any -> any 2575 (msg:\"SpO2 below 95\"; metric:SPO2; value:<95; "
		"priority:high; sid:1;)\n"
		"alert udp any any -> any any (msg:\"malformed telemetry\"; malformed; "
		"priority:low; sid:2;)\n"
		"log udp any any -> any any (msg:\"every datagram\"; sid:3;)\n"
		"alert vtp any any -> any any (msg:\"never: no VTP decodes\"; metric:HR; "
		"priority:low; sid:4;)\n";
	const struct rule_source src = {"worker.rules", text, sizeof(text) - 1};
	const struct rule_load_opts opts = {.sources = &src, .n_sources = 1};
	static struct batch b;
	uint8_t frame[FRAME_ROOM], payload[FRAME_ROOM];
	struct rule_diags diags = {0};
	struct rule_set *set = NULL;
	struct ring_port rp;
	struct dp_conf conf;
	struct dp_plane *dp = NULL;
	struct dp_stats total;
	struct fr_l2 l2;
	char err[512] = "";
	size_t len;
	int n;

	CU_ASSERT_EQUAL_FATAL(rule_set_load(&opts, &set, &diags), 0);
	rule_diags_free(&diags);
	CU_ASSERT_FATAL(ring_port_create(&rp, 1, 1, RING_SIZE) == 0);
	conf_init(&conf, 1, &rp);
	conf.rules = set;
	conf.on_hits = hit_record;
	atomic_store(&hit_count, 0);

	memset(&b, 0, sizeof(b));
	l2 = l2_to(rp.mac, 0);
	for (unsigned i = 0; i < 10; i++) { /* SpO2 90..99: five below 95 */
		n = snprintf((char *)payload, sizeof(payload),
			     "\x0bMSH|^~\\&|MON|ICU|VIGIL|HOSP|20240301120000||ORU^R01|M%u|P|2.6\r"
			     "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|%u|%%|||||R\r\x1c\r",
			     i, 90 + i);
		len = fr_udp4(frame, sizeof(frame), &l2, PEER_V4, OUR_V4, PEER_PORT, HL7_PORT,
			      payload, (size_t)n);
		batch_add(&b, frame, len);
	}
	/* Two datagrams that decode to nothing: HL7 without MLLP, VTP garbage. */
	len = fr_udp4(frame, sizeof(frame), &l2, PEER_V4, OUR_V4, PEER_PORT, HL7_PORT,
		      (const uint8_t *)"MSH|not framed", 14);
	batch_add(&b, frame, len);
	len = fr_udp4(frame, sizeof(frame), &l2, PEER_V4, OUR_V4, PEER_PORT, VTP_PORT,
		      (const uint8_t *)"not VTP at all, long enough for a header", 40);
	batch_add(&b, frame, len);

	CU_ASSERT_EQUAL_FATAL(dp_start(&conf, &dp, err, sizeof(err)), 0);
	batch_send(&b, rp.rx[0]);
	CU_ASSERT_TRUE(wait_rx(dp, b.n));
	dp_stop(dp);

	CU_ASSERT_EQUAL(atomic_load(&hit_count), 5 + 2 + 12);
	CU_ASSERT_EQUAL(hits_of(1, true), 5);
	CU_ASSERT_EQUAL(hits_of(2, false), 2);
	CU_ASSERT_EQUAL(hits_of(3, true), 10);
	CU_ASSERT_EQUAL(hits_of(3, false), 2);
	CU_ASSERT_EQUAL(hits_of(4, true) + hits_of(4, false), 0);
	for (unsigned i = 0; i < atomic_load(&hit_count) && i < HIT_MAX; i++) {
		CU_ASSERT_EQUAL(hit_log[i].worker, 0);
		if (hit_log[i].sid == 1) {
			CU_ASSERT_EQUAL(hit_log[i].obs, 0);
			CU_ASSERT_TRUE(hit_log[i].value >= 90 && hit_log[i].value < 95);
		} else {
			CU_ASSERT_EQUAL(hit_log[i].obs, RULE_HIT_MSG);
		}
	}
	dp_stats_total(dp, &total);
	CU_ASSERT_EQUAL(dp_read(&total.rule[RULE_CNT_alerts]), 7);
	CU_ASSERT_EQUAL(dp_read(&total.rule[RULE_CNT_logs]), 12);
	CU_ASSERT_EQUAL(dp_read(&total.rule[RULE_CNT_messages]), 12);
	CU_ASSERT_EQUAL(dp_read(&total.rule[RULE_CNT_scan_errors]), 0);
	CU_ASSERT_EQUAL(dp_read(&total.outcome[DP_OUT_telemetry_hl7]), 11);
	CU_ASSERT_EQUAL(dp_read(&total.outcome[DP_OUT_telemetry_vtp]), 1);
	dp_destroy(dp);
	ring_port_destroy(&rp);
	rule_set_free(set);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
}

/* ------------------------------------------------------------------------ */
/* The RCU tables and the event rings                                        */
/* ------------------------------------------------------------------------ */

#define DENIED_V4 0xc0000263u /* 192.0.2.99: outside the test's ACL */

static struct rule_set *
load_text(const char *name, const char *text)
{
	const struct rule_source src = {name, text, strlen(text)};
	const struct rule_load_opts opts = {.sources = &src, .n_sources = 1};
	struct rule_diags diags = {0};
	struct rule_set *set = NULL;

	CU_ASSERT_EQUAL(rule_set_load(&opts, &set, &diags), 0);
	rule_diags_free(&diags);
	return set;
}

static const struct rule *
rule_by_sid(const struct rule_set *set, uint32_t sid)
{
	for (unsigned i = 0; i < rule_set_count(set); i++)
		if (rule_set_rule(set, i)->sid == sid)
			return rule_set_rule(set, i);
	return NULL;
}

/* @n SpO2 messages (90, 91, ...) from @src, with a patient and a bed. */
static void
add_spo2(struct batch *b, const struct ring_port *rp, uint32_t src, unsigned n)
{
	uint8_t frame[FRAME_ROOM], payload[FRAME_ROOM];
	struct fr_l2 l2 = l2_to(rp->mac, 0);
	size_t len;
	int k;

	for (unsigned i = 0; i < n; i++) {
		k = snprintf((char *)payload, sizeof(payload),
			     "\x0bMSH|^~\\&|MON7|ICU|VIGIL|HOSP|20240301120000||ORU^R01|T%u|P|2.6\r"
			     "PID|||PAT42^^^HOSP^MR\rPV1||I|ICU^12^B\r"
			     "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|%u|%%|||||R\r\x1c\r",
			     i, 90 + i % 10);
		len = fr_udp4(frame, sizeof(frame), &l2, src, OUR_V4, PEER_PORT, HL7_PORT, payload,
			      (size_t)k);
		batch_add(b, frame, len);
	}
}

static int
find_device(void *arg, const struct dp_device_info *info)
{
	*(struct dp_device_info *)arg = *info;
	return 1;
}

/*
 * A worker with a sender ACL, a device registry and event rings: a sender
 * outside the ACL is counted and not decoded (a header-only rule still
 * sees its datagram); each hit is an ALARM event and each observation a
 * TELEMETRY event; the registry has the device with its patient and bed.
 * Then a new ruleset is published while the worker runs: after a grace
 * period the worker evaluates with it, and hits count in its rows.
 */
static void
test_tables_and_events(void)
{
	struct rule_set *set1 = load_text(
		"one.rules", "alert hl7 any any -> any 2575 (msg:\"SpO2 below 95\"; "
			     "metric:SPO2; value:<95; priority:high; sid:1;)\n"
			     "log udp any any -> any any (msg:\"every datagram\"; sid:3;)\n");
	struct rule_set *set2 =
		load_text("two.rules", "log udp any any -> any any (msg:\"each datagram, v2\"; "
				       "sid:7;)\n");
	struct dp_acl_net net;
	struct dp_acl *acl = NULL;
	struct dp_ruleset *v2 = NULL, *old;
	static struct batch b;
	static struct dp_event ev[256];
	struct dp_device_info info;
	struct ring_port rp;
	struct dp_conf conf;
	struct dp_plane *dp = NULL;
	struct dp_lanes *lanes;
	struct dp_stats total;
	unsigned n, by_sid[8] = {0};
	char err[512] = "";

	CU_ASSERT_FATAL(set1 != NULL && set2 != NULL);
	CU_ASSERT_EQUAL_FATAL(dp_acl_net_parse("192.0.2.0/28", &net), 0);
	CU_ASSERT_EQUAL_FATAL(dp_acl_new(&net, 1, &acl), 0);
	CU_ASSERT_FATAL(ring_port_create(&rp, 1, 1, RING_SIZE) == 0);
	conf_init(&conf, 1, &rp);
	conf.rules = set1;
	conf.acl = acl;
	conf.registry_devices = 64;
	conf.events = true;
	conf.alarm_ring = 64;
	conf.telemetry_ring = 1024;
	CU_ASSERT_EQUAL_FATAL(dp_start(&conf, &dp, err, sizeof(err)), 0);

	memset(&b, 0, sizeof(b));
	add_spo2(&b, &rp, PEER_V4, 10);
	add_spo2(&b, &rp, DENIED_V4, 3);
	batch_send(&b, rp.rx[0]);
	CU_ASSERT_TRUE(wait_rx(dp, 13));

	/* Publish version 2; once the grace period is over no worker can
	 * still be using version 1, which may then be freed. */
	CU_ASSERT_EQUAL_FATAL(dp_ruleset_new(set2, 1, 2, &v2), 0);
	old = dp_ruleset_publish(dp, v2);
	CU_ASSERT_EQUAL(old->version, 1);
	urcu_qsbr_synchronize_rcu();
	dp_ruleset_free(old);
	memset(&b, 0, sizeof(b));
	add_spo2(&b, &rp, PEER_V4, 4);
	batch_send(&b, rp.rx[0]);
	CU_ASSERT_TRUE(wait_rx(dp, 17));
	dp_stop(dp);

	dp_stats_total(dp, &total);
	CU_ASSERT_EQUAL(dp_read(&total.rx_packets), dp_stats_accounted(&total));
	CU_ASSERT_EQUAL(dp_read(&total.table[DP_TAB_acl_denied]), 3);
	CU_ASSERT_EQUAL(dp_read(&total.hl7[DP_HL7_messages]), 14);
	CU_ASSERT_EQUAL(dp_worker_ruleset_version(dp, 0), 2);
	CU_ASSERT_EQUAL(dp_read(&total.table[DP_TAB_ruleset_swaps]), 2);
	CU_ASSERT_EQUAL(dp_ruleset_hits(v2, rule_by_sid(set2, 7)->index), 4);

	/* Version 1: sid 3 on 13 datagrams (the denied ones undecoded), sid 1
	 * on the five values below 95; version 2: sid 7 on 4. */
	lanes = dp_lanes_of(dp, 0);
	CU_ASSERT_FATAL(lanes != NULL);
	CU_ASSERT_EQUAL(dp_read(&total.event[DP_EVC_alarm_events]), 22);
	CU_ASSERT_EQUAL(dp_read(&total.event[DP_EVC_telemetry_events]), 14);
	CU_ASSERT_EQUAL(dp_read(&total.event[DP_EVC_alarm_lost]), 0);
	n = dp_lanes_take(lanes, DP_LANE_ALARM, ev, 256);
	CU_ASSERT_EQUAL(n, 22);
	for (unsigned i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(ev[i].type, DP_EV_HIT);
		CU_ASSERT_EQUAL(ev[i].worker, 0);
		if (ev[i].u.hit.sid < 8)
			by_sid[ev[i].u.hit.sid]++;
		if (ev[i].u.hit.sid == 1) {
			CU_ASSERT_EQUAL(ev[i].u.hit.ruleset_version, 1);
			CU_ASSERT_EQUAL(ev[i].code, 150456);
			CU_ASSERT_TRUE(ev[i].value >= 90 && ev[i].value < 95);
			CU_ASSERT_NOT_EQUAL(ev[i].device, 0);
		}
		if (ev[i].u.hit.sid == 3 && ev[i].src[3] == (DENIED_V4 & 0xff))
			CU_ASSERT_EQUAL(ev[i].device, 0);
		if (ev[i].u.hit.sid == 7)
			CU_ASSERT_EQUAL(ev[i].u.hit.ruleset_version, 2);
	}
	CU_ASSERT_EQUAL(by_sid[1], 5);
	CU_ASSERT_EQUAL(by_sid[3], 13);
	CU_ASSERT_EQUAL(by_sid[7], 4);
	n = dp_lanes_take(lanes, DP_LANE_TELEMETRY, ev, 256);
	CU_ASSERT_EQUAL(n, 14);
	for (unsigned i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(ev[i].type, DP_EV_OBS);
		CU_ASSERT_EQUAL(ev[i].code, 150456);
		CU_ASSERT_EQUAL(ev[i].proto, RULE_PROTO_HL7);
	}

	/* The registry, read as a QSBR reader. */
	CU_ASSERT_FATAL(dp_registry_of(dp) != NULL);
	urcu_qsbr_register_thread();
	CU_ASSERT_EQUAL(dp_registry_count(dp_registry_of(dp)), 1);
	memset(&info, 0, sizeof(info));
	CU_ASSERT_EQUAL(dp_registry_foreach(dp_registry_of(dp), find_device, &info), 1);
	urcu_qsbr_unregister_thread();
	CU_ASSERT_STRING_EQUAL(info.patient, "PAT42");
	CU_ASSERT_STRING_EQUAL(info.location, "ICU^12^B");
	CU_ASSERT_EQUAL(info.messages, 14);
	CU_ASSERT_EQUAL(info.observations, 14);
	CU_ASSERT_EQUAL(info.hits, 5 + 10 + 4);
	CU_ASSERT_EQUAL(info.ip_version, 4);

	dp_destroy(dp); /* frees v2 and the ACL, which it owns */
	ring_port_destroy(&rp);
	rule_set_free(set1);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
}

/*
 * Two workers, one port with two queue pairs: worker w polls RX queue w and
 * answers on TX queue w. A ring PMD has no RSS, so the port's queues are
 * what the test filled.
 */
static void
test_two_workers(void)
{
	static struct batch b0, b1;
	struct ring_port rp;
	struct dp_conf conf;
	struct dp_plane *dp = NULL;
	struct dp_stats total, want0, want1;
	struct dp_port_stats ps;
	char err[512] = "";
	unsigned tel_w0 = 0, tel_w1 = 0, tel_bad = 0;

	CU_ASSERT_EQUAL_FATAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
	CU_ASSERT_FATAL(ring_port_create(&rp, 2, 2, RING_SIZE) == 0);
	conf_init(&conf, 2, &rp);
	conf.on_telemetry = tel_record;
	conf.telemetry_arg = &tel_cookie;
	tel_reset();
	CU_ASSERT_EQUAL_FATAL(dp_start(&conf, &dp, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(dp_n_workers(dp), 2);

	/* Queue 0: 280 HL7 and 20 ARP; queue 1: 190 VTP and 10 ARP. */
	memset(&b0, 0, sizeof(b0));
	memset(&b1, 0, sizeof(b1));
	for (unsigned i = 0; i < 280; i++) {
		add_udp4(&b0, &rp, 0, HL7_PORT, i);
		if (i % 14 == 0)
			add_arp_request(&b0, PEER_V4 + i / 14);
	}
	for (unsigned i = 0; i < 190; i++) {
		add_udp4(&b1, &rp, 0, VTP_PORT, i);
		if (i % 19 == 0)
			add_arp_request(&b1, PEER_B_V4 + i / 19);
	}
	CU_ASSERT_FATAL(b0.n == 300 && b1.n == 200);
	batch_send(&b0, rp.rx[0]);
	batch_send(&b1, rp.rx[1]);
	CU_ASSERT_TRUE(wait_rx(dp, 500));
	dp_stop(dp);

	memset(&want0, 0, sizeof(want0));
	set(&want0.rx_packets, 300);
	set(&want0.rx_bytes, b0.bytes);
	set(&want0.tx_packets, 20);
	set(&want0.outcome[DP_OUT_telemetry_hl7], 280);
	set(&want0.outcome[DP_OUT_arp_replies], 20);
	memset(&want1, 0, sizeof(want1));
	set(&want1.rx_packets, 200);
	set(&want1.rx_bytes, b1.bytes);
	set(&want1.tx_packets, 10);
	set(&want1.outcome[DP_OUT_telemetry_vtp], 190);
	set(&want1.outcome[DP_OUT_arp_replies], 10);
	CU_ASSERT_TRUE(stats_match(dp_worker_stats(dp, 0), &want0, "worker 0"));
	CU_ASSERT_TRUE(stats_match(dp_worker_stats(dp, 1), &want1, "worker 1"));
	dp_stats_total(dp, &total);
	CU_ASSERT_EQUAL(dp_read(&total.rx_packets), 500);
	CU_ASSERT_EQUAL(dp_read(&total.tx_packets), 30);
	CU_ASSERT_EQUAL(dp_read(&total.outcome[DP_OUT_arp_replies]), 30);
	CU_ASSERT_EQUAL(dp_stats_accounted(&total), 500);

	/* The hook ran on the worker that took each datagram. */
	CU_ASSERT_EQUAL(atomic_load(&tel_count), 470);
	for (unsigned i = 0; i < atomic_load(&tel_count) && i < TEL_MAX; i++) {
		if (tel_log[i].worker == 0 && tel_log[i].kind == DP_VERDICT_HL7)
			tel_w0++;
		else if (tel_log[i].worker == 1 && tel_log[i].kind == DP_VERDICT_VTP)
			tel_w1++;
		else
			tel_bad++;
	}
	CU_ASSERT_EQUAL(tel_w0, 280);
	CU_ASSERT_EQUAL(tel_w1, 190);
	CU_ASSERT_EQUAL(tel_bad, 0);

	CU_ASSERT_EQUAL(dp_port_stats(dp, 0, &ps), 0);
	CU_ASSERT_EQUAL(ps.rx_queues, 2);
	CU_ASSERT_EQUAL(ps.tx_queues, 2);
	CU_ASSERT_FALSE(ps.rss);
	CU_ASSERT_EQUAL(ps.ipackets, 500);
	CU_ASSERT_EQUAL(ps.opackets, 30);

	/* Each reply left on the TX queue of the worker that took its request. */
	CU_ASSERT_EQUAL(rte_ring_count(rp.tx[0]), 20);
	CU_ASSERT_EQUAL(rte_ring_count(rp.tx[1]), 10);
	expect_replies(rp.tx[0], rp.mac, PEER_V4, 20, 0, "TX queue 0");
	expect_replies(rp.tx[1], rp.mac, PEER_B_V4, 10, 0, "TX queue 1");
	dp_destroy(dp);
	ring_port_destroy(&rp);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
}

/*
 * A TX ring of 8 slots (7 usable) that nobody drains: of 20 ARP replies 7
 * go out, 13 are counted tx_full and freed.
 */
static void
test_tx_full(void)
{
	static struct batch b;
	struct ring_port rp;
	struct dp_conf conf;
	struct dp_plane *dp = NULL;
	struct dp_stats total, want;
	struct dp_port_stats ps;
	char err[512] = "";
	unsigned capacity;

	CU_ASSERT_EQUAL_FATAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
	CU_ASSERT_FATAL(ring_port_create(&rp, 1, 1, 8) == 0);
	capacity = rte_ring_get_capacity(rp.tx[0]);
	CU_ASSERT_EQUAL_FATAL(capacity, 7);
	conf_init(&conf, 1, &rp);
	CU_ASSERT_EQUAL_FATAL(dp_start(&conf, &dp, err, sizeof(err)), 0);

	memset(&b, 0, sizeof(b));
	for (unsigned i = 0; i < 20; i++)
		add_arp_request(&b, PEER_V4 + i);
	batch_send(&b, rp.rx[0]);
	CU_ASSERT_TRUE(wait_rx(dp, 20));
	dp_stop(dp);

	memset(&want, 0, sizeof(want));
	set(&want.rx_packets, 20);
	set(&want.rx_bytes, b.bytes);
	set(&want.tx_packets, capacity);
	set(&want.outcome[DP_OUT_arp_replies], capacity);
	set(&want.drop[DP_DROP_tx_full], 20 - capacity);
	dp_stats_total(dp, &total);
	CU_ASSERT_TRUE(stats_match(&total, &want, "tx full"));
	CU_ASSERT_EQUAL(dp_port_stats(dp, 0, &ps), 0);
	CU_ASSERT_EQUAL(ps.ipackets, 20);
	CU_ASSERT_EQUAL(ps.opackets, capacity);

	/* The 13 replies that did not fit were freed, not lost. */
	CU_ASSERT_EQUAL(rte_ring_count(rp.tx[0]), capacity);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(test_pool), POOL_MBUFS - capacity);
	expect_replies(rp.tx[0], rp.mac, PEER_V4, capacity, 0, "tx full");
	dp_destroy(dp);
	ring_port_destroy(&rp);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
}

/*
 * Two workers on a port with two RX queues but one TX queue: worker 1 has
 * nowhere to send, so its replies are counted tx_full and freed.
 */
static void
test_fewer_tx_queues(void)
{
	static struct batch b0, b1;
	struct ring_port rp;
	struct dp_conf conf;
	struct dp_plane *dp = NULL;
	struct dp_stats want0, want1;
	struct dp_port_stats ps;
	char err[512] = "";

	CU_ASSERT_EQUAL_FATAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
	CU_ASSERT_FATAL(ring_port_create(&rp, 2, 1, RING_SIZE) == 0);
	conf_init(&conf, 2, &rp);
	CU_ASSERT_EQUAL_FATAL(dp_start(&conf, &dp, err, sizeof(err)), 0);
	memset(&b0, 0, sizeof(b0));
	memset(&b1, 0, sizeof(b1));
	for (unsigned i = 0; i < 5; i++) {
		add_arp_request(&b0, PEER_V4 + i);
		add_arp_request(&b1, PEER_B_V4 + i);
	}
	batch_send(&b0, rp.rx[0]);
	batch_send(&b1, rp.rx[1]);
	CU_ASSERT_TRUE(wait_rx(dp, 10));
	dp_stop(dp);

	memset(&want0, 0, sizeof(want0));
	set(&want0.rx_packets, 5);
	set(&want0.rx_bytes, b0.bytes);
	set(&want0.tx_packets, 5);
	set(&want0.outcome[DP_OUT_arp_replies], 5);
	memset(&want1, 0, sizeof(want1));
	set(&want1.rx_packets, 5);
	set(&want1.rx_bytes, b1.bytes);
	set(&want1.drop[DP_DROP_tx_full], 5);
	CU_ASSERT_TRUE(stats_match(dp_worker_stats(dp, 0), &want0, "worker 0"));
	CU_ASSERT_TRUE(stats_match(dp_worker_stats(dp, 1), &want1, "worker 1"));
	CU_ASSERT_EQUAL(dp_port_stats(dp, 0, &ps), 0);
	CU_ASSERT_EQUAL(ps.rx_queues, 2);
	CU_ASSERT_EQUAL(ps.tx_queues, 1);
	CU_ASSERT_EQUAL(ps.opackets, 5);
	expect_replies(rp.tx[0], rp.mac, PEER_V4, 5, 0, "one TX queue");
	dp_destroy(dp);
	ring_port_destroy(&rp);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
}

/*
 * Frames in chained mbufs (which some PMDs hand over for large frames) are
 * dropped whole as rx_chained: every segment goes back to the mempool and
 * the telemetry hook never sees them.
 */
static void
test_chained_mbufs(void)
{
	static struct batch b;
	struct ring_port rp;
	struct dp_conf conf;
	struct dp_plane *dp = NULL;
	struct dp_stats total, want;
	char err[512] = "";

	CU_ASSERT_EQUAL_FATAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
	CU_ASSERT_FATAL(ring_port_create(&rp, 1, 1, RING_SIZE) == 0);
	conf_init(&conf, 1, &rp);
	conf.on_telemetry = tel_record;
	conf.telemetry_arg = &tel_cookie;
	tel_reset();
	CU_ASSERT_EQUAL_FATAL(dp_start(&conf, &dp, err, sizeof(err)), 0);

	memset(&b, 0, sizeof(b));
	add_chained(&b, &rp, 0, ETH_HLEN);
	add_udp4(&b, &rp, 0, HL7_PORT, 1);
	add_chained(&b, &rp, 2, 60);
	add_chained(&b, &rp, 3, 1);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(test_pool), POOL_MBUFS - 7);
	batch_send(&b, rp.rx[0]);
	CU_ASSERT_TRUE(wait_rx(dp, 4));
	dp_stop(dp);

	memset(&want, 0, sizeof(want));
	set(&want.rx_packets, 4);
	set(&want.rx_bytes, b.bytes);
	set(&want.outcome[DP_OUT_telemetry_hl7], 1);
	set(&want.drop[DP_DROP_rx_chained], 3);
	dp_stats_total(dp, &total);
	CU_ASSERT_TRUE(stats_match(&total, &want, "chained"));
	CU_ASSERT_EQUAL(atomic_load(&tel_count), 1);
	CU_ASSERT_EQUAL(tel_log[0].kind, DP_VERDICT_HL7);
	CU_ASSERT_EQUAL(rte_ring_count(rp.tx[0]), 0);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
	dp_destroy(dp);
	ring_port_destroy(&rp);
}

/*
 * A second dp_start while a plane runs is refused, and neither the running
 * plane nor the second plane's port is disturbed.
 */
static void
test_second_plane_refused(void)
{
	static struct batch b;
	struct ring_port first, second;
	struct dp_conf conf;
	struct dp_plane *dp = NULL, *dp2 = NULL;
	struct dp_stats total;
	char err[512] = "";
	int rc;

	CU_ASSERT_EQUAL_FATAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
	CU_ASSERT_FATAL(ring_port_create(&first, 1, 1, RING_SIZE) == 0);
	CU_ASSERT_FATAL(ring_port_create(&second, 1, 1, RING_SIZE) == 0);
	conf_init(&conf, 1, &first);
	CU_ASSERT_EQUAL_FATAL(dp_start(&conf, &dp, err, sizeof(err)), 0);

	conf_init(&conf, 1, &second);
	rc = dp_start(&conf, &dp2, err, sizeof(err));
	CU_ASSERT(rc < 0);
	CU_ASSERT_PTR_NULL(dp2);
	CU_ASSERT_NOT_EQUAL(err[0], '\0');
	CU_ASSERT_EQUAL(rte_eth_dev_is_valid_port(second.port_id), 1);

	memset(&b, 0, sizeof(b));
	for (unsigned i = 0; i < 4; i++)
		add_arp_request(&b, PEER_V4 + i);
	batch_send(&b, first.rx[0]);
	CU_ASSERT_TRUE(wait_rx(dp, 4));
	dp_stop(dp);
	dp_stats_total(dp, &total);
	CU_ASSERT_EQUAL(dp_read(&total.rx_packets), 4);
	CU_ASSERT_EQUAL(dp_read(&total.tx_packets), 4);
	expect_replies(first.tx[0], first.mac, PEER_V4, 4, 0, "first plane");
	dp_destroy(dp);
	ring_port_destroy(&first);
	ring_port_destroy(&second);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
}

static size_t
heap_in_use(void)
{
	struct rte_malloc_socket_stats st;

	if (rte_malloc_get_socket_stats((int)rte_socket_id(), &st) != 0)
		return SIZE_MAX;
	return st.heap_allocsz_bytes;
}

/* A dp_start that must fail with @want_rc and an error naming @frag1 (and
 * @frag2 if given), leaving nothing behind in the EAL heap. @ports_touched:
 * it failed after setting up a port. */
static void
expect_start_fails(const struct dp_conf *conf, int want_rc, const char *frag1, const char *frag2,
		   bool ports_touched)
{
	static char sentinel;
	struct dp_plane *dp = (struct dp_plane *)&sentinel; /* dp_start must set it to NULL */
	char err[512] = "";
	size_t heap_before = heap_in_use();
	int rc;

	rc = dp_start(conf, &dp, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, want_rc);
	if (rc != want_rc)
		fprintf(stderr, "\n  dp_start returned %d (\"%s\"); want %d", rc, err, want_rc);
	CU_ASSERT_PTR_NULL(dp);
	if (strstr(err, frag1) == NULL || (frag2 != NULL && strstr(err, frag2) == NULL)) {
		fprintf(stderr, "\n  dp_start said \"%s\"; want \"%s\"%s%s", err, frag1,
			frag2 ? " and " : "", frag2 ? frag2 : "");
		CU_FAIL("dp_start error text");
	}
	/* Closing a port frees its PMD's memory, so when ports were touched
	 * the heap may shrink; it must never grow. */
	if (ports_touched ? heap_in_use() > heap_before : heap_in_use() != heap_before) {
		fprintf(stderr, "\n  a failed dp_start (\"%s\") left %zd bytes in the EAL heap",
			err, (ssize_t)(heap_in_use() - heap_before));
		CU_FAIL("dp_start leaked");
	}
	if (dp != NULL && dp != (struct dp_plane *)&sentinel)
		dp_destroy(dp);
}

/* A good dp_start on @rp, ARP traffic answered, then a clean stop. */
static void
expect_start_works(struct ring_port *rp)
{
	static struct batch b;
	struct dp_conf conf;
	struct dp_plane *dp = NULL;
	struct dp_stats total;
	char err[512] = "";
	int rc;

	conf_init(&conf, 2, rp);
	rc = dp_start(&conf, &dp, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "\n  dp_start after a failure: %s", err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	memset(&b, 0, sizeof(b));
	for (unsigned i = 0; i < 4; i++)
		add_arp_request(&b, PEER_V4 + i);
	batch_send(&b, rp->rx[0]);
	CU_ASSERT_TRUE(wait_rx(dp, 4));
	dp_stop(dp);
	dp_stats_total(dp, &total);
	CU_ASSERT_EQUAL(dp_read(&total.rx_packets), 4);
	CU_ASSERT_EQUAL(dp_read(&total.outcome[DP_OUT_arp_replies]), 4);
	CU_ASSERT_EQUAL(dp_read(&total.tx_packets), 4);
	expect_replies(rp->tx[0], rp->mac, PEER_V4, 4, 0, "after a failure");
	dp_destroy(dp);
}

/*
 * dp_start's failures: the return code, an error that names the fix, no
 * EAL memory kept, and a good dp_start working afterwards.
 */
static void
test_start_failures(void)
{
	struct ring_port good, other;
	struct dp_conf conf;
	uint16_t id;

	CU_ASSERT_EQUAL_FATAL(rte_lcore_count(), 3);
	CU_ASSERT_FATAL(ring_port_create(&good, 1, 1, RING_SIZE) == 0);

	/* A port that does not exist; the name is the part before ','. */
	conf_init(&conf, 1, &good);
	conf.port[0].name = "net_ring_nosuch,nodeaction=r0:0:CREATE";
	expect_start_fails(&conf, -ENODEV, "'net_ring_nosuch' not found", "vfio-pci", false);

	/* More workers than worker lcores (the EAL has two). */
	conf_init(&conf, 3, &good);
	expect_start_fails(&conf, -EINVAL, "3 worker(s)", "lcore", false);
	conf_init(&conf, 0, &good);
	expect_start_fails(&conf, -EINVAL, "workers: 0", NULL, false);
	conf_init(&conf, DP_MAX_WORKERS + 1, &good);
	expect_start_fails(&conf, -EINVAL, "out of range", NULL, false);

	/* No ports, too many ports. */
	conf_init(&conf, 1, &good);
	conf.n_ports = 0;
	expect_start_fails(&conf, -EINVAL, "ports: 0", NULL, false);
	conf.n_ports = DP_MAX_PORTS + 1;
	expect_start_fails(&conf, -EINVAL, "ports: 9", NULL, false);

	/* A mempool that cannot fit in -m 256. */
	conf_init(&conf, 1, &good);
	conf.n_mbufs = 4000000;
	expect_start_fails(&conf, -ENOMEM, "mempool of 4000000 mbufs", "raise eal: -m", false);

	/* None of that touched the port: it is still there, and works. */
	CU_ASSERT_EQUAL(rte_eth_dev_get_port_by_name(good.name, &id), 0);
	expect_start_works(&good);
	ring_port_destroy(&good);

	/*
	 * A good port, then a missing one: the good port was configured and
	 * started before the second failed. It must not be left running;
	 * dp_destroy closes it, which in DPDK releases the ethdev.
	 */
	CU_ASSERT_FATAL(ring_port_create(&good, 1, 1, RING_SIZE) == 0);
	conf_init(&conf, 1, &good);
	conf.n_ports = 2;
	conf.port[1] = conf.port[0];
	conf.port[1].name = "net_ring_nosuch";
	expect_start_fails(&conf, -ENODEV, "'net_ring_nosuch' not found", "vfio-pci", true);
	CU_ASSERT_EQUAL(rte_eth_dev_is_valid_port(good.port_id), 0);
	ring_port_destroy(&good);

	/* And a fresh port starts as usual afterwards. */
	CU_ASSERT_FATAL(ring_port_create(&other, 1, 1, RING_SIZE) == 0);
	expect_start_works(&other);
	ring_port_destroy(&other);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
}

/* ------------------------------------------------------------------------ */
/* The replay clock                                                          */
/* ------------------------------------------------------------------------ */

#define REPLAY_FRAMES 45		 /* two bursts of 32, the second short */
#define REPLAY_T0_US 1709280000000000ull /* 2024-03-01T08:00:00Z */
#define REPLAY_LOG 256

static unsigned replay_seq;

/* Record @i's time: one a second, with microseconds that differ, in ns. */
static int64_t
replay_ns(unsigned i)
{
	return (int64_t)(REPLAY_T0_US + i * 1000000ull + i * 37u) * 1000;
}

static int64_t
wall_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A ward in a capture: SpO2 90, 91, ... 99, 90, ... (a hit below 95), one
 * message a second. */
static int
replay_write(const char *path)
{
	uint8_t frame[FRAME_ROOM], payload[FRAME_ROOM];
	struct fr_l2 l2 = l2_to(bcast_mac, 0);
	struct fr_pcap *p = fr_pcap_open(path);
	int rc = 0;

	if (p == NULL)
		return -EIO;
	for (unsigned i = 0; i < REPLAY_FRAMES && rc == 0; i++) {
		int n = snprintf(
			(char *)payload, sizeof(payload),
			"\x0bMSH|^~\\&|MON7|ICU|VIGIL|HOSP|20240301080000||ORU^R01|R%u|P|2.6\r"
			"PID|||PAT42^^^HOSP^MR\rPV1||I|ICU^12^B\r"
			"OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|%u|%%|||||R\r\x1c\r",
			i, 90 + i % 10);
		size_t len = fr_udp4(frame, sizeof(frame), &l2, PEER_V4, OUR_V4, PEER_PORT,
				     HL7_PORT, payload, (size_t)n);

		rc = len == 0 ? -E2BIG
			      : fr_pcap_write(p, frame, len, (uint64_t)(replay_ns(i) / 1000));
	}
	if (fr_pcap_close(p) != 0 && rc == 0)
		rc = -EIO;
	return rc;
}

/* What a replay left: its events and its one device. */
struct replay {
	char vdev[32];
	int rc;
	char err[512];
	unsigned n_alarm, n_obs;
	struct dp_event alarm[REPLAY_LOG], obs[REPLAY_LOG];
	struct dp_device_info device;
	unsigned n_devices;
	int64_t started_ns, stopped_ns; /* the wall clock around the run */
};

/* Play @path once on a fresh net_pcap port, with the packet clock or not. */
static void
replay_run(const char *path, bool packet_time, struct replay *r)
{
	static const char rules[] =
		"alert hl7 any any -> any 2575 (msg:\"SpO2 below 95\"; metric:SPO2; value:<95; "
		"priority:high; sid:1;)\n";
	struct rule_set *set = load_text("replay.rules", rules);
	struct dp_plane *dp = NULL;
	struct ring_port named;
	struct dp_conf conf;
	char devargs[300];

	memset(r, 0, sizeof(*r));
	CU_ASSERT_PTR_NOT_NULL_FATAL(set);
	snprintf(r->vdev, sizeof(r->vdev), "net_pcap_tw%u", replay_seq++);
	snprintf(devargs, sizeof(devargs), "rx_pcap=%s", path);
	CU_ASSERT_EQUAL_FATAL(rte_eal_hotplug_add("vdev", r->vdev, devargs), 0);
	memset(&named, 0, sizeof(named));
	snprintf(named.name, sizeof(named.name), "%s", r->vdev);
	conf_init(&conf, 1, &named);
	conf.rules = set;
	conf.events = true;
	conf.registry_devices = 16;
	conf.packet_time = packet_time;
	r->started_ns = wall_now_ns();
	r->rc = dp_start(&conf, &dp, r->err, sizeof(r->err));
	if (r->rc == 0) {
		CU_ASSERT_TRUE(wait_rx(dp, REPLAY_FRAMES));
		dp_stop(dp);
		r->stopped_ns = wall_now_ns();
		r->n_alarm = dp_lanes_take(dp_lanes_of(dp, 0), DP_LANE_ALARM, r->alarm, REPLAY_LOG);
		r->n_obs = dp_lanes_take(dp_lanes_of(dp, 0), DP_LANE_TELEMETRY, r->obs, REPLAY_LOG);
		urcu_qsbr_register_thread();
		r->n_devices =
			(unsigned)dp_registry_foreach(dp_registry_of(dp), find_device, &r->device);
		urcu_qsbr_unregister_thread();
		dp_destroy(dp);
	}
	CU_ASSERT_EQUAL(rte_eal_hotplug_remove("vdev", r->vdev), 0);
	rule_set_free(set);
}

/*
 * A capture replayed with the packet clock: every event and the registry
 * carry the record's time to the nanosecond (a microsecond pcap times
 * 1000), across bursts that span many simulated seconds. Without it, the
 * same capture is dated by the wall clock. A port with no Rx timestamps
 * refuses the packet clock.
 */
static void
test_replay_clock(void)
{
	static struct replay r;
	char path[64];
	unsigned k = 0;

	snprintf(path, sizeof(path), "/tmp/vigil_test_worker_%d.pcap", (int)getpid());
	CU_ASSERT_EQUAL_FATAL(replay_write(path), 0);

	replay_run(path, true, &r);
	if (r.rc != 0)
		fprintf(stderr, "\n  dp_start with packet_time: %s", r.err);
	CU_ASSERT_EQUAL_FATAL(r.rc, 0);
	CU_ASSERT_EQUAL(r.n_obs, REPLAY_FRAMES);
	for (unsigned i = 0; i < r.n_obs && i < REPLAY_FRAMES; i++) {
		CU_ASSERT_EQUAL(r.obs[i].type, DP_EV_OBS);
		CU_ASSERT_DOUBLE_EQUAL(r.obs[i].value, 90 + i % 10, 0.0);
		if (r.obs[i].wall_ns != replay_ns(i)) {
			fprintf(stderr, "\n  observation %u at %lld ns, recorded at %lld", i,
				(long long)r.obs[i].wall_ns, (long long)replay_ns(i));
			CU_FAIL("observation not at its record's time");
		}
	}
	/* A hit is dated like the observation it is about. */
	CU_ASSERT_EQUAL(r.n_alarm, (REPLAY_FRAMES / 10) * 5 + 5);
	for (unsigned i = 0; i < REPLAY_FRAMES && k < r.n_alarm; i++) {
		if (i % 10 >= 5)
			continue;
		CU_ASSERT_EQUAL(r.alarm[k].type, DP_EV_HIT);
		CU_ASSERT_DOUBLE_EQUAL(r.alarm[k].value, 90 + i % 10, 0.0);
		CU_ASSERT_EQUAL(r.alarm[k].wall_ns, replay_ns(i));
		k++;
	}
	CU_ASSERT_EQUAL(r.n_devices, 1);
	CU_ASSERT_STRING_EQUAL(r.device.patient, "PAT42");
	CU_ASSERT_EQUAL(r.device.first_seen_ns, replay_ns(0));
	CU_ASSERT_EQUAL(r.device.last_seen_ns, replay_ns(REPLAY_FRAMES - 1));

	/* The same capture on the wall clock: the net_pcap PMD stamps its
	 * frames anyway, and the worker must not take those stamps. */
	replay_run(path, false, &r);
	CU_ASSERT_EQUAL_FATAL(r.rc, 0);
	CU_ASSERT_EQUAL(r.n_obs, REPLAY_FRAMES);
	for (unsigned i = 0; i < r.n_obs && i < REPLAY_FRAMES; i++) {
		CU_ASSERT(r.obs[i].wall_ns >= r.started_ns - 1000000);
		CU_ASSERT(r.obs[i].wall_ns <= r.stopped_ns + 1000000);
	}
	for (unsigned i = 0; i < r.n_alarm && i < REPLAY_LOG; i++) {
		CU_ASSERT(r.alarm[i].wall_ns >= r.started_ns - 1000000);
		CU_ASSERT(r.alarm[i].wall_ns <= r.stopped_ns + 1000000);
	}
	CU_ASSERT(r.device.last_seen_ns >= r.started_ns - 1000000);
	unlink(path);

	/* A ring port stamps nothing: the packet clock is refused, by name. */
	{
		struct ring_port rp;
		struct dp_conf conf;

		CU_ASSERT_FATAL(ring_port_create(&rp, 1, 1, RING_SIZE) == 0);
		conf_init(&conf, 1, &rp);
		conf.packet_time = true;
		expect_start_fails(&conf, -ENOTSUP, rp.name, "net_pcap", true);
		ring_port_destroy(&rp);
	}
	CU_ASSERT_EQUAL(rte_mempool_avail_count(test_pool), POOL_MBUFS);
}

/* ------------------------------------------------------------------------ */
/* Registration                                                              */
/* ------------------------------------------------------------------------ */

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"ring port name", test_ring_port_name},
		{"one worker, known mix", test_one_worker_mix},
		{"telemetry hook", test_telemetry_hook},
		{"two workers, two queue pairs", test_two_workers},
		{"TX ring full", test_tx_full},
		{"fewer TX queues than workers", test_fewer_tx_queues},
		{"chained mbufs", test_chained_mbufs},
		{"second plane refused", test_second_plane_refused},
		{"dp_start failures", test_start_failures},
		{"rules on the worker", test_rules_on_worker},
		{"RCU tables and event rings", test_tables_and_events},
		{"replay clock (packet_time)", test_replay_clock},
	};
	CU_pSuite suite = CU_add_suite("worker", suite_init, suite_cleanup);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
