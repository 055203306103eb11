/*
 * dataplane.h - the public interface of vigil's data plane.
 *
 * The data plane owns the DPDK ports and the worker lcores. A worker polls its
 * RX queues, parses each frame (Ethernet with up to two VLAN tags, ARP, IPv4,
 * IPv6, UDP, ICMP, ICMPv6), answers for the appliance's own addresses (ARP,
 * echo, neighbour discovery), hands UDP telemetry to the decoders and counts
 * everything else by reason before freeing it. Nothing here allocates, locks
 * or logs per packet.
 *
 * The frame-level functions (dp_classify, dp_reply_build, dp_process) work on
 * plain byte buffers so that the unit tests and vigil-bench can drive them
 * without an EAL.
 */
#ifndef VIGIL_DATAPLANE_H
#define VIGIL_DATAPLANE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* Counters                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Every frame a worker takes from an RX queue ends in exactly one outcome:
 * one of the DP_OUTCOMES below or one of the DP_DROPS. So, per worker,
 *
 *   rx_packets == sum(outcomes) + sum(drops)
 *
 * and the tests hold the code to that. Each list is declared once; the enum
 * and the names come from the same lines, so a counter cannot exist without
 * its name.
 */
#define DP_OUTCOMES(X)                                                                      \
	X(telemetry_hl7, "UDP datagram to an HL7/MLLP port, handed to the decoder")         \
	X(telemetry_vtp, "UDP datagram to a VTP port, handed to the decoder")               \
	X(arp_replies, "ARP request for one of our IPv4 addresses, answered")               \
	X(icmp_echo_replies, "ICMP echo request to one of our IPv4 addresses, answered")    \
	X(icmp6_echo_replies, "ICMPv6 echo request to one of our IPv6 addresses, answered") \
	X(nd_adverts, "neighbour solicitation for one of our IPv6 addresses, answered")

#define DP_DROPS(X)                                                                          \
	X(rx_chained, "frame larger than one mbuf (jumbo, chained); not taken yet")          \
	X(eth_runt, "frame shorter than an Ethernet header")                                 \
	X(vlan_truncated, "frame ends inside a VLAN tag")                                    \
	X(vlan_too_deep, "more than two VLAN tags")                                          \
	X(ethertype, "EtherType other than IPv4, IPv6 or ARP")                               \
	X(arp_malformed, "ARP that is short or not Ethernet/IPv4")                           \
	X(arp_not_request, "ARP other than a request (replies, RARP)")                       \
	X(arp_not_ours, "ARP request for an address that is not ours")                       \
	X(ipv4_truncated, "frame ends inside the IPv4 header")                               \
	X(ipv4_version, "IPv4 EtherType with a version other than 4")                        \
	X(ipv4_ihl, "IPv4 header length below 20 bytes or past the total length")            \
	X(ipv4_length, "IPv4 total length longer than the frame or shorter than the header") \
	X(ipv4_checksum, "IPv4 header checksum wrong")                                       \
	X(ipv4_fragment, "IPv4 fragment (reassembly is not done)")                           \
	X(ipv6_truncated, "frame ends inside the IPv6 header")                               \
	X(ipv6_version, "IPv6 EtherType with a version other than 6")                        \
	X(ipv6_length, "IPv6 payload length longer than the frame")                          \
	X(ipv6_ext_truncated, "IPv6 extension header runs past the payload")                 \
	X(ipv6_ext_chain, "more than 8 IPv6 extension headers")                              \
	X(ipv6_hop_by_hop, "IPv6 hop-by-hop options header not first (RFC 8200 4.1)")        \
	X(ipv6_routing, "IPv6 routing header with segments left: not ours to take")          \
	X(ipv6_fragment, "IPv6 fragment (reassembly is not done)")                           \
	X(l4_proto, "IP protocol vigil does not take (TCP, SCTP, ESP, no next header, ...)") \
	X(udp_truncated, "packet ends inside the UDP header")                                \
	X(udp_length, "UDP length below 8 or past the IP payload")                           \
	X(udp_checksum, "UDP checksum wrong (or zero over IPv6)")                            \
	X(udp_port, "UDP to a port that is not a telemetry port")                            \
	X(icmp_truncated, "ICMP message shorter than its header")                            \
	X(icmp_checksum, "ICMP checksum wrong")                                              \
	X(icmp_type, "ICMP other than an echo request")                                      \
	X(icmp_not_ours, "ICMP echo request to an address that is not ours")                 \
	X(icmp6_truncated, "ICMPv6 message shorter than its header")                         \
	X(icmp6_checksum, "ICMPv6 checksum wrong")                                           \
	X(icmp6_type, "ICMPv6 other than echo request or neighbour solicitation")            \
	X(icmp6_not_ours, "ICMPv6 echo request to an address that is not ours")              \
	X(nd_malformed, "neighbour solicitation that RFC 4861 says to ignore")               \
	X(nd_not_ours, "neighbour solicitation for a target that is not ours")               \
	X(reply_no_room, "reply would not fit in the buffer")                                \
	X(tx_full, "reply built but the TX queue was full (or the worker has none)")

#define DP_X_ENUM_OUTCOME(name, desc) DP_OUT_##name,
#define DP_X_ENUM_DROP(name, desc) DP_DROP_##name,
enum dp_outcome { DP_OUTCOMES(DP_X_ENUM_OUTCOME) DP_OUT__COUNT };
enum dp_drop { DP_DROPS(DP_X_ENUM_DROP) DP_DROP__COUNT };
#undef DP_X_ENUM_OUTCOME
#undef DP_X_ENUM_DROP

/*
 * One worker's counters. Only that worker writes them; the control plane
 * reads them with relaxed atomic loads. 64-byte aligned so that two workers'
 * counters never share a cache line.
 */
struct dp_stats {
	alignas(64) _Atomic uint64_t rx_packets;
	_Atomic uint64_t rx_bytes;
	_Atomic uint64_t rx_bursts;  /**< non-empty bursts */
	_Atomic uint64_t tx_packets; /**< replies the PMD accepted */
	_Atomic uint64_t outcome[DP_OUT__COUNT];
	_Atomic uint64_t drop[DP_DROP__COUNT];
};

/** Name and description of an outcome or drop counter ("telemetry_hl7", ...). */
const char *dp_outcome_name(enum dp_outcome o);
const char *dp_outcome_desc(enum dp_outcome o);
const char *dp_drop_name(enum dp_drop d);
const char *dp_drop_desc(enum dp_drop d);

/* Single-writer increment: one load and one store, no locked instruction. */
static inline void
dp_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint64_t
dp_read(const _Atomic uint64_t *c)
{
	return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

/** Add every counter of @p from into @p to (the caller owns @p to). */
void dp_stats_add(struct dp_stats *to, const struct dp_stats *from);

/** Sum of all outcomes and all drops; equals rx_packets once a worker is idle. */
uint64_t dp_stats_accounted(const struct dp_stats *s);

/* ------------------------------------------------------------------------ */
/* The appliance's identity on a port                                        */
/* ------------------------------------------------------------------------ */

#define DP_MAX_ADDRS 8		 /**< own IPv4 and (separately) IPv6 addresses per port */
#define DP_MAX_TELEMETRY_PORTS 8 /**< UDP ports per telemetry kind */

/*
 * What a worker needs to know to answer for the appliance and to recognise
 * telemetry. Built by the control plane at start-up; read-only for workers.
 * Addresses are in network byte order, ports in host order.
 */
struct dp_local {
	uint8_t mac[6];
	uint8_t n_ipv4;
	uint8_t n_ipv6;
	uint32_t ipv4[DP_MAX_ADDRS];
	uint8_t ipv6[DP_MAX_ADDRS][16];
	uint8_t n_hl7_ports;
	uint8_t n_vtp_ports;
	uint16_t hl7_ports[DP_MAX_TELEMETRY_PORTS];
	uint16_t vtp_ports[DP_MAX_TELEMETRY_PORTS];
	bool udp_checksum; /**< verify UDP checksums (IPv4: when non-zero) */
};

/* ------------------------------------------------------------------------ */
/* Frame classification and replies (no EAL needed)                          */
/* ------------------------------------------------------------------------ */

enum dp_verdict {
	DP_VERDICT_DROP = 0, /**< dp_pkt.drop says why */
	DP_VERDICT_HL7,	     /**< UDP payload for the HL7/MLLP decoder */
	DP_VERDICT_VTP,	     /**< UDP payload for the VTP decoder */
	DP_VERDICT_REPLY,    /**< ours to answer; dp_pkt.reply says how */
};

enum dp_reply_kind {
	DP_REPLY_NONE = 0,
	DP_REPLY_ARP,
	DP_REPLY_ICMP_ECHO,
	DP_REPLY_ICMP6_ECHO,
	DP_REPLY_ND_ADVERT,
};

/* Receive checksum flags as a PMD reports them; the worker maps mbuf flags. */
#define DP_CSUM_IP_GOOD (1u << 0)
#define DP_CSUM_IP_BAD (1u << 1)
#define DP_CSUM_L4_GOOD (1u << 2)
#define DP_CSUM_L4_BAD (1u << 3)

/** What the parser learnt of one frame: offsets into it, never copies. */
struct dp_pkt {
	uint16_t l3_off;      /**< first byte of the IP or ARP header */
	uint16_t l4_off;      /**< first byte of UDP/ICMP/ICMPv6 */
	uint16_t payload_off; /**< first byte of the UDP payload */
	uint16_t payload_len; /**< UDP payload bytes */
	uint16_t l3_len;      /**< bytes of the IP packet (frame padding excluded) */
	uint16_t src_port;
	uint16_t dst_port;
	uint16_t vlan_tci[2];
	uint8_t n_vlan;
	uint8_t ip_version; /**< 4, 6, or 0 for ARP */
	uint8_t l4_proto;
	uint8_t addr_index; /**< which of dp_local's addresses was asked for */
	enum dp_reply_kind reply;
	enum dp_drop drop;
};

/**
 * Parse one frame and decide what becomes of it.
 *
 * @param local     the appliance's identity on the port the frame came from
 * @param frame     the frame, from the destination MAC on
 * @param len       bytes in @p frame
 * @param csum      DP_CSUM_* flags from the PMD (0 when it says nothing)
 * @param pkt       filled in; on DP_VERDICT_DROP, pkt->drop holds the reason
 * @return the verdict. Never fails: every input has a verdict.
 */
enum dp_verdict dp_classify(const struct dp_local *local, const uint8_t *frame, uint32_t len,
			    uint32_t csum, struct dp_pkt *pkt);

/**
 * Turn a frame that dp_classify judged DP_VERDICT_REPLY into its answer, in
 * place: addresses swapped, VLAN tags kept, checksums computed.
 *
 * @param room  bytes available at @p frame (a neighbour advertisement can be
 *              longer than the solicitation it answers)
 * @return the length of the reply, or -ENOSPC if it does not fit in @p room,
 *         or -EINVAL if @p pkt is not a reply verdict or @p len > @p room.
 */
int dp_reply_build(const struct dp_local *local, uint8_t *frame, uint32_t len, uint32_t room,
		   const struct dp_pkt *pkt);

/**
 * dp_classify, then count: drops and telemetry outcomes go to @p stats at
 * once; a reply is built in place and counted by the caller once the PMD
 * has taken it (dp_outcome_of_reply() says which counter). A reply that
 * does not fit is counted as the drop reply_no_room.
 *
 * @param reply_len  set to the reply's length on DP_VERDICT_REPLY
 * @return the verdict (DP_VERDICT_DROP if the reply could not be built)
 */
enum dp_verdict dp_process(const struct dp_local *local, struct dp_stats *stats, uint8_t *frame,
			   uint32_t len, uint32_t room, uint32_t csum, struct dp_pkt *pkt,
			   uint32_t *reply_len);

/** The outcome counter of a reply that was transmitted; @p kind is not DP_REPLY_NONE. */
enum dp_outcome dp_outcome_of_reply(enum dp_reply_kind kind);

/** The Internet checksum (RFC 1071) of @p len bytes, folded, not inverted. */
uint16_t dp_cksum_raw(const void *buf, size_t len, uint32_t sum);

/* ------------------------------------------------------------------------ */
/* Ports and workers (need the EAL)                                          */
/* ------------------------------------------------------------------------ */

#define DP_MAX_PORTS 8
#define DP_MAX_WORKERS 64
#define DP_RX_BURST 32

/**
 * Where telemetry goes: called on the worker for every datagram to a
 * telemetry port, with the UDP payload. It must not block or allocate. The
 * decoders plug in here; with no hook the datagram is only counted.
 */
typedef void (*dp_telemetry_fn)(void *arg, unsigned worker, enum dp_verdict kind,
				const uint8_t *frame, const struct dp_pkt *pkt);

/** One configured port, as the control plane hands it over. */
struct dp_port_conf {
	const char *name;      /**< device string; the port's name is the part before ',' */
	struct dp_local local; /**< mac is filled in by dp_ports_start */
};

struct dp_conf {
	unsigned n_ports;
	struct dp_port_conf port[DP_MAX_PORTS];
	unsigned n_workers;
	unsigned n_mbufs; /**< per NUMA socket; 0 picks from the queue sizes */
	unsigned mbuf_cache;
	uint16_t rx_desc;
	uint16_t tx_desc;
	bool promiscuous;
	dp_telemetry_fn on_telemetry; /**< NULL: count only */
	void *telemetry_arg;
};

/** The data plane as a whole once started: ports, mempool, workers. */
struct dp_plane;

/**
 * Look the ports up, create the mempool, configure each port with one RX and
 * one TX queue per worker (fewer where the PMD has fewer; RSS on IP addresses
 * masked against what the PMD offers), start them and the workers.
 *
 * @param err     receives a one-line reason that names the fix on failure
 * @return 0, or a negative errno: -ENODEV (port not found), -EINVAL (lcores),
 *         -ENOMEM (mempool), or what the PMD returned.
 */
int dp_start(const struct dp_conf *conf, struct dp_plane **out, char *err, size_t errlen);

/** Ask the workers to finish their burst and return; wait for them. */
void dp_stop(struct dp_plane *dp);

/** Stop and close the ports, free the mempool and @p dp. */
void dp_destroy(struct dp_plane *dp);

unsigned dp_n_workers(const struct dp_plane *dp);
unsigned dp_n_ports(const struct dp_plane *dp);
const struct dp_stats *dp_worker_stats(const struct dp_plane *dp, unsigned worker);
/** Sum of every worker's counters into @p out. */
void dp_stats_total(const struct dp_plane *dp, struct dp_stats *out);

struct rte_mbuf;

/** What a worker does with a burst once it is classified. */
struct dp_burst {
	uint16_t n_done; /**< mbufs to free (telemetry handed over, drops) */
	uint16_t n_tx;	 /**< replies built in place, to transmit */
	struct rte_mbuf *done[DP_RX_BURST];
	struct rte_mbuf *tx[DP_RX_BURST];
	uint8_t tx_kind[DP_RX_BURST]; /**< enum dp_reply_kind of each tx[] */
};

/**
 * A worker's per-burst work once rte_eth_rx_burst has returned: parse every
 * mbuf with a prefetch window, count rx and every outcome but the replies
 * (counted once transmitted), hand telemetry to @p conf's hook, build
 * replies in place. Frees and transmits nothing: @p out says what to free
 * and what to send. The worker and vigil-bench both run exactly this.
 *
 * @param n  at most DP_RX_BURST
 */
void dp_burst_classify(const struct dp_local *local, struct dp_stats *stats, struct rte_mbuf **pkts,
		       uint16_t n, dp_telemetry_fn on_telemetry, void *telemetry_arg,
		       unsigned worker, struct dp_burst *out);

/** Port-level counters, read by one (control-plane) thread only. */
struct dp_port_stats {
	const char *name;
	uint16_t rx_queues;
	uint16_t tx_queues;
	bool rss;
	uint64_t ipackets;
	uint64_t imissed;   /**< dropped by the NIC: RX ring full */
	uint64_t ierrors;   /**< erroneous frames the NIC dropped */
	uint64_t rx_nombuf; /**< dropped for want of an mbuf */
	uint64_t opackets;
	uint64_t oerrors;
};
int dp_port_stats(struct dp_plane *dp, unsigned port, struct dp_port_stats *out);

#endif /* VIGIL_DATAPLANE_H */
