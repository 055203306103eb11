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

#include "rules.h"

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
 * The decoders' counters. A datagram counted as telemetry_hl7/telemetry_vtp
 * above is then taken apart by a decoder, which counts what it found
 * (messages, observations) and every malformation by reason; the good
 * messages in a datagram still decode when another in it is bad.
 *
 * HL7: the first three are what was decoded; the rest are malformations.
 * (The HL7 decoder's owner extends this list; names are lower case.)
 */
#define DP_HL7_COUNTERS(X)                                                                  \
	X(messages, "HL7 messages decoded (ORU^R01 and ORU^R40)")                           \
	X(observations, "observations decoded from ORU^R01")                                \
	X(device_alarms, "device alarm events decoded from ORU^R40")                        \
	X(mllp_empty, "UDP datagram to an HL7 port with no payload")                        \
	X(mllp_outside, "bytes outside an MLLP frame (runs of them, each counted once)")    \
	X(mllp_unterminated, "MLLP frame without its 0x1C 0x0D end")                        \
	X(msg_length, "message longer than 65535 bytes (spans are 16-bit)")                 \
	X(no_msh, "message that does not start with MSH")                                   \
	X(delimiters, "MSH without usable delimiters")                                      \
	X(too_many_segments, "message with more segments than vigil keeps")                 \
	X(msh_fields, "MSH without a message type or control id")                           \
	X(unsupported_type, "message type other than ORU^R01 or ORU^R40")                   \
	X(obx_no_code, "OBX without an observation identifier")                             \
	X(obx_no_type, "OBX with a value but no value type (OBX-2); kept without a value")  \
	X(obx_value, "OBX whose NM value is not a number")                                  \
	X(obx_sub_id, "OBX-4 that is not 1 to 6 dotted integers (no MDS/VMD row encloses)") \
	X(time, "timestamp that does not parse")                                            \
	X(device_rows, "MDS/VMD rows past the per-message table (metrics fall back)")       \
	X(obs_limit, "observations past the per-message limit")                             \
	X(r40_no_event, "ORU^R40 alarm without its event identity (facet 1)")               \
	X(r40_facet, "ORU^R40 facet value vigil does not know (left unknown)")              \
	X(alarm_limit, "ORU^R40 alarms past the per-message limit")

/*
 * VTP (dataplane/VTP.md, whose section 9 orders the checks). frames and
 * observations are what was delivered; truncated .. trailing are the
 * malformations that drop a frame; seq_duplicate drops a copy; the rest note
 * something about a frame that is still delivered. The VTP decoder's owner
 * extends this list.
 */
#define DP_VTP_COUNTERS(X)                                                                     \
	X(frames, "VTP frames decoded and delivered (heartbeats of 0 observations too)")       \
	X(observations, "observations decoded from VTP")                                       \
	X(truncated, "datagram shorter than the VTP header (32 bytes or its header length)")   \
	X(magic, "wrong magic")                                                                \
	X(version, "VTP version vigil does not read")                                          \
	X(header_length, "header length below 32 or not a multiple of 4")                      \
	X(too_long, "datagram longer than 1452 bytes")                                         \
	X(flags_reserved, "a reserved frame flag bit set")                                     \
	X(auth_tag, "frame with an authentication tag, which vigil cannot check yet")          \
	X(too_many_obs, "observation count above 64")                                          \
	X(device_zero, "device EUI-64 of 0")                                                   \
	X(time_negative, "time before 1970 (sign bit set)")                                    \
	X(length, "datagram ends before the observations its count announces")                 \
	X(trailing, "bytes after the last observation")                                        \
	X(seq_duplicate, "frame whose sequence number was already seen (dropped)")             \
	X(seq_gap, "sequence numbers skipped (each missing frame counted)")                    \
	X(seq_reordered, "frame older than the newest seen, not a duplicate")                  \
	X(seq_jump, "sequence number out of range: too old for the window, or a jump")         \
	X(seq_restart, "device restarted its numbering (two frames agree); tracking resynced") \
	X(device_table_full, "frame from a device the sequence table has no room for")         \
	X(obs_reserved, "observation with a reserved flag bit set (kept, marked invalid)")

#define DP_X_ENUM_HL7(name, desc) DP_HL7_##name,
#define DP_X_ENUM_VTP(name, desc) DP_VTP_##name,
enum dp_hl7_counter { DP_HL7_COUNTERS(DP_X_ENUM_HL7) DP_HL7__COUNT };
enum dp_vtp_counter { DP_VTP_COUNTERS(DP_X_ENUM_VTP) DP_VTP__COUNT };
#undef DP_X_ENUM_HL7
#undef DP_X_ENUM_VTP

/*
 * The event hand-off and the RCU tables, per worker (dp_stats.event and
 * dp_stats.table). alarm_lost is never silent: the consumer raises it as a
 * technical alarm (DP_TECH_EVENT_LOSS) once it has caught up.
 */
#define DP_EVENT_COUNTERS(X)                                                                \
	X(alarm_events, "rule hits and device alarms put on the ALARM ring")                \
	X(alarm_lost, "ALARM events lost: the ring was full (raised as a technical alarm)") \
	X(telemetry_events, "observations put on the TELEMETRY ring")                       \
	X(telemetry_lost, "observations lost: the TELEMETRY ring was full")

#define DP_TABLE_COUNTERS(X)                                                                       \
	X(acl_denied, "telemetry datagram from a sender outside telemetry.allow: not decoded")     \
	X(registry_inserts, "devices added to the device registry")                                \
	X(registry_replaced, "registry entries replaced (patient, location or device id changed)") \
	X(registry_full, "registry touch not recorded: the worker's pool had no free entry")       \
	X(registry_retire_full, "replaced entry not retired: the retire ring was full (kept)")     \
	X(registry_contended,                                                                      \
	  "registry touch not recorded: the entry was replaced under it 8 times")                  \
	X(registry_shared,                                                                         \
	  "touch by a worker that does not own the device's entry (counted with an atomic add)")   \
	X(ruleset_swaps, "times the worker moved to a newly published ruleset")

#define DP_X_ENUM_EV(name, desc) DP_EVC_##name,
#define DP_X_ENUM_TAB(name, desc) DP_TAB_##name,
enum dp_event_counter { DP_EVENT_COUNTERS(DP_X_ENUM_EV) DP_EVC__COUNT };
enum dp_table_counter { DP_TABLE_COUNTERS(DP_X_ENUM_TAB) DP_TAB__COUNT };
#undef DP_X_ENUM_EV
#undef DP_X_ENUM_TAB

/*
 * One worker's counters. Only that worker writes them; the control plane
 * reads them with relaxed atomic loads. 64-byte aligned so that two workers'
 * counters never share a cache line.
 */
struct dp_stats {
	alignas(64) _Atomic uint64_t rx_packets;
	_Atomic uint64_t rx_bytes;
	_Atomic uint64_t rx_bursts;   /**< non-empty bursts */
	_Atomic uint64_t tx_packets;  /**< replies the PMD accepted */
	_Atomic uint64_t busy_cycles; /**< TSC cycles of poll loops that received a frame */
	_Atomic uint64_t loop_cycles; /**< TSC cycles of every poll loop (busy ratio: busy/loop) */
	_Atomic uint64_t outcome[DP_OUT__COUNT];
	_Atomic uint64_t drop[DP_DROP__COUNT];
	_Atomic uint64_t hl7[DP_HL7__COUNT];
	_Atomic uint64_t vtp[DP_VTP__COUNT];
	_Atomic uint64_t rule[RULE_CNT__COUNT]; /**< the rules evaluator's (rules.h) */
	_Atomic uint64_t event[DP_EVC__COUNT];
	_Atomic uint64_t table[DP_TAB__COUNT];
};

/*
 * Latency histograms of a worker (dp_lat), in TSC cycles. Log-linear: below 8
 * cycles one bucket a value, then 8 buckets per power of two (each at most
 * 12.5% wide); the last bucket also holds everything from 2^32 cycles up.
 * Bucket i counts values v with dp_lat_low(i) <= v < dp_lat_low(i + 1).
 */
#define DP_LAT_BUCKETS 240

static inline unsigned
dp_lat_bucket(uint64_t cycles)
{
	unsigned m, b;

	if (cycles < 8)
		return (unsigned)cycles;
	m = 63u - (unsigned)__builtin_clzll(cycles);
	b = 8u + (m - 3u) * 8u + (unsigned)((cycles >> (m - 3u)) & 7u);
	return b < DP_LAT_BUCKETS ? b : DP_LAT_BUCKETS - 1;
}

/** The smallest value bucket @p b counts (b <= DP_LAT_BUCKETS: the end of the last). */
uint64_t dp_lat_low(unsigned b);

/**
 * The @p q quantile (0 < q <= 1) of @p counts (DP_LAT_BUCKETS of them), as
 * the middle of the bucket it falls in, in cycles; 0 if @p counts is empty.
 */
double dp_lat_quantile(const uint64_t *counts, double q);

/*
 * What a worker measures of its own latency, written only by that worker:
 * - decision: per decoded message (and per datagram evaluated on its own),
 *   from just before rule_eval to its hits on the ALARM ring: the decision
 *   and its hand-off. Two rdtsc a message.
 * - burst: per poll loop that received, from the end of the previous loop
 *   (just before rte_eth_rx_burst) to the end of this one (every frame of
 *   the burst classified, decoded, evaluated, handed off, freed, replies
 *   sent): the longest any frame of the burst spent in the worker once
 *   polled. No rdtsc of its own (the busy-cycle count's).
 */
struct dp_lat {
	alignas(64) _Atomic uint64_t decision[DP_LAT_BUCKETS];
	_Atomic uint64_t burst[DP_LAT_BUCKETS];
	_Atomic uint64_t decision_cycles; /**< sum of every decision's cycles */
	_Atomic uint64_t burst_cycles;	  /**< sum of every burst's cycles */
};

/** Name and description of an outcome or drop counter ("telemetry_hl7", ...). */
const char *dp_outcome_name(enum dp_outcome o);
const char *dp_outcome_desc(enum dp_outcome o);
const char *dp_drop_name(enum dp_drop d);
const char *dp_drop_desc(enum dp_drop d);
const char *dp_hl7_counter_name(enum dp_hl7_counter c);
const char *dp_hl7_counter_desc(enum dp_hl7_counter c);
const char *dp_vtp_counter_name(enum dp_vtp_counter c);
const char *dp_vtp_counter_desc(enum dp_vtp_counter c);
const char *dp_event_counter_name(enum dp_event_counter c);
const char *dp_event_counter_desc(enum dp_event_counter c);
const char *dp_table_counter_name(enum dp_table_counter c);
const char *dp_table_counter_desc(enum dp_table_counter c);

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
/* Telemetry: observations and device alarms                                 */
/* ------------------------------------------------------------------------ */

/** Bytes of a message: offset from the message's first byte, and length. */
struct dp_span {
	uint16_t off;
	uint16_t len;
};

/*
 * What is known about an observation's value, one bit each. Those marked
 * "invalid" in their description set DP_OBS_INVALID as well: such values are
 * kept and stored, but never raise a clinical alarm or enter a NEWS2 score
 * (DOMAIN.md section 2).
 */
#define DP_OBS_FLAGS(X)                                                                      \
	X(INVALID, "invalid: not for alarms or scores (one of the invalid flags is set)")    \
	X(TEST, "invalid: OBX-8 TEST, a test value")                                         \
	X(DEMO, "invalid: OBX-8 DEMO, a demonstration value")                                \
	X(INV, "invalid: OBX-8 INV, the device says the value is invalid")                   \
	X(NAV, "invalid: OBX-8 NAV, not available")                                          \
	X(CAL, "invalid: OBX-8 CAL, calibrating")                                            \
	X(BUSY, "invalid: OBX-8 BUSY, the device is busy")                                   \
	X(OFF, "invalid: OBX-8 OFF, the measurement is switched off")                        \
	X(NI, "invalid: OBX-8 NI, no information")                                           \
	X(OFF_SCALE, "invalid: OBX-8 > or <, the value is off scale")                        \
	X(STATUS_X, "invalid: OBX-11 X, the result cannot be obtained")                      \
	X(SENTINEL, "invalid: a vendor sentinel or an 11073 special value (NaN, NRes, INF)") \
	X(NO_VALUE, "invalid: no numeric value (empty, not NM, or a waveform)")              \
	X(QUES, "OBX-8 QUES, questionable")                                                  \
	X(EARLY, "OBX-8 EARLY, an early indication")                                         \
	X(ABN_L, "OBX-8 L, below the low limit")                                             \
	X(ABN_LL, "OBX-8 LL, below the lower panic limit")                                   \
	X(ABN_H, "OBX-8 H, above the high limit")                                            \
	X(ABN_HH, "OBX-8 HH, above the upper panic limit")                                   \
	X(ABN_A, "OBX-8 A, abnormal")                                                        \
	X(ALACT, "OBX-8 ALACT, the metric is in alarm on the device")                        \
	X(ALINH, "OBX-8 ALINH, alarms are off for the metric on the device")                 \
	X(TIME_NO_OFFSET, "the timestamp had no UTC offset; taken as UTC")                   \
	X(TIME_FROM_MSH, "no OBX-14 or OBR-7: the message time (MSH-7) was used")            \
	X(DEVICE_HASHED, "no EUI-64 for the device: its id is a hash of the sender's name")  \
	X(CODE_UNKNOWN, "the code is not in vigil's code table")                             \
	X(CODE_MISMATCH, "the reference id sent disagrees with the code table")              \
	X(LOINC_ONLY, "only a LOINC code was sent; the MDC code comes from the table")       \
	X(UNIT_UNKNOWN, "the unit is not in vigil's code table")

#define DP_X_ENUM_OBS_BIT(name, desc) DP_OBS_BIT_##name,
enum dp_obs_bit { DP_OBS_FLAGS(DP_X_ENUM_OBS_BIT) DP_OBS_BIT__COUNT };
#undef DP_X_ENUM_OBS_BIT
#define DP_OBS(name) (UINT32_C(1) << DP_OBS_BIT_##name)

/** Name ("TEST") and description of an observation flag bit. */
const char *dp_obs_flag_name(enum dp_obs_bit bit);
const char *dp_obs_flag_desc(enum dp_obs_bit bit);

/**
 * One observation: a value of one metric of one device at one time. Fixed
 * size; the texts stay in the message (spans), so an observation is only
 * valid while its message is (the worker copies what it keeps).
 */
struct dp_obs {
	uint64_t device; /**< EUI-64, or a hash of the sender's id (DEVICE_HASHED) */
	int64_t time_ns; /**< UTC, ns since the Unix epoch; 0 when none was sent */
	double value;	 /**< NaN when there is no numeric value */
	uint32_t code;	 /**< MDC code; 0 when only an unknown LOINC was sent */
	uint32_t unit;	 /**< MDC unit code; 0 when unknown (unit_text has it) */
	uint32_t flags;	 /**< DP_OBS(...) bits */
	uint32_t seq;	 /**< VTP: the frame's sequence number; HL7: OBX-1 */
	const struct rule_metric *metric; /**< the code table's row, or NULL */
	uint8_t time_precision;		  /**< digits of the timestamp: 8 = day, 14 = s, 17 = ms */
	char status;			  /**< OBX-11 ('R', 'F', 'X', ...); 0 for VTP */
	/* HL7 only, zero for VTP: where the texts are in the message. */
	struct dp_span patient;	    /**< PID-3, first repetition, ID component */
	struct dp_span location;    /**< PV1-3, whole field */
	struct dp_span device_id;   /**< the text the device key came from */
	struct dp_span obs_id;	    /**< OBX-3, whole field */
	struct dp_span unit_text;   /**< OBX-6, whole field */
	struct dp_span containment; /**< OBX-4 */
};

/* A device's alarm as an IHE PCD-04 Alert Reporter sends it (ORU^R40). */
enum dp_alarm_phase {
	DP_PHASE_UNKNOWN = 0,
	DP_PHASE_START,
	DP_PHASE_CONTINUE,
	DP_PHASE_END,
	DP_PHASE_UPDATE,
	DP_PHASE_TPOINT,
	DP_PHASE_ESCALATE,
	DP_PHASE_DEESCALATE,
};
enum dp_alarm_state {
	DP_ASTATE_UNKNOWN = 0,
	DP_ASTATE_OFF,
	DP_ASTATE_INACTIVE,
	DP_ASTATE_ACTIVE,
	DP_ASTATE_LATCHED,
};
enum dp_alarm_inactivation {
	DP_INACT_UNKNOWN = 0,
	DP_INACT_ENABLED,
	DP_INACT_AUDIO_PAUSED,
	DP_INACT_AUDIO_OFF,
	DP_INACT_ALARM_PAUSED,
	DP_INACT_ALARM_OFF,
	DP_INACT_ACKNOWLEDGED,
};
enum dp_alarm_priority {
	DP_PRIO_UNKNOWN = 0,
	DP_PRIO_NONE, /**< PN */
	DP_PRIO_LOW,  /**< PL */
	DP_PRIO_MEDIUM,
	DP_PRIO_HIGH,
};
enum dp_alarm_type {
	DP_ATYPE_UNKNOWN = 0,
	DP_ATYPE_PHYSIOLOGICAL, /**< SP */
	DP_ATYPE_TECHNICAL,	/**< ST */
	DP_ATYPE_ADVISORY,	/**< SA */
};

/** Lower-case names ("start", "audio-paused", "high", "technical"). */
const char *dp_alarm_phase_name(enum dp_alarm_phase v);
const char *dp_alarm_state_name(enum dp_alarm_state v);
const char *dp_alarm_inactivation_name(enum dp_alarm_inactivation v);
const char *dp_alarm_priority_name(enum dp_alarm_priority v);
const char *dp_alarm_type_name(enum dp_alarm_type v);

struct dp_dev_alarm {
	uint64_t device;
	int64_t time_ns;
	uint32_t event_code;	 /**< MDC_EVT_* (196648 MDC_EVT_HI ...), 0 if none */
	uint32_t source_code;	 /**< the source metric's MDC code, 0 if none */
	double source_value;	 /**< NaN when none */
	uint32_t flags;		 /**< DP_OBS bits that apply (TIME_*, DEVICE_HASHED, CODE_*) */
	uint8_t phase;		 /**< enum dp_alarm_phase */
	uint8_t state;		 /**< enum dp_alarm_state */
	uint8_t inactivation;	 /**< enum dp_alarm_inactivation */
	uint8_t priority;	 /**< enum dp_alarm_priority */
	uint8_t type;		 /**< enum dp_alarm_type */
	struct dp_span alarm_id; /**< OBR-3 */
	struct dp_span text;	 /**< facet 1's OBX-5, the display text */
	struct dp_span patient;
	struct dp_span location;
	struct dp_span device_id;
};

#define DP_MAX_OBS 64	    /**< per message; the excess is counted (obs_limit) */
#define DP_MAX_DEV_ALARMS 4 /**< per message (PCD-04 sends one) */

enum dp_msg_kind {
	DP_MSG_OTHER = 0,
	DP_MSG_ORU_R01, /**< PCD-01 observations */
	DP_MSG_ORU_R40, /**< PCD-04 alarm */
	DP_MSG_VTP,
};

/** What one message or VTP frame decoded to. Caller-owned, reused. */
struct dp_decoded {
	enum dp_msg_kind kind;
	const uint8_t *msg; /**< the message's first byte; spans are relative to it */
	uint16_t msg_len;
	struct dp_span control_id; /**< MSH-10, echoed in MSA-2 by an ACK */
	struct dp_span sender;	   /**< MSH-3 */
	unsigned n_obs;
	unsigned n_alarms;
	struct dp_obs obs[DP_MAX_OBS];
	struct dp_dev_alarm alarm[DP_MAX_DEV_ALARMS];
};

/** Called for every message or frame that decoded (n_obs may be 0). */
typedef void (*dp_decoded_fn)(void *arg, const struct dp_decoded *d);

/* ---- HL7 v2 ------------------------------------------------------------ */

#define DP_HL7_MAX_SEGMENTS 128

/** A tokenised HL7 v2 message: delimiters and segment spans, zero-copy. */
struct dp_hl7_msg {
	const uint8_t *buf; /**< "MSH..." */
	uint16_t len;
	char fs, cs, rs, es, ss; /**< field, component, repetition, escape, sub-component */
	char tc;		 /**< truncation character (HL7 2.7 '#'), 0 if none */
	uint16_t n_seg;
	bool truncated; /**< more segments than seg[] holds: only the first were kept */
	struct dp_span seg[DP_HL7_MAX_SEGMENTS]; /**< without the CR/LF/CRLF ending */
};

/**
 * Split a message into segments (ended by CR, LF or CRLF; blank lines
 * skipped; past DP_HL7_MAX_SEGMENTS the rest is dropped and m->truncated
 * set) and read its delimiters from MSH.
 * @param reason  on failure, the DP_HL7_* counter that says why
 * @return 0, or -EBADMSG.
 */
int dp_hl7_parse(struct dp_hl7_msg *m, const uint8_t *buf, size_t len, enum dp_hl7_counter *reason);

/**
 * The bytes of segment @p seg, field @p field (numbered as HL7 does: MSH-1
 * is the field separator itself, MSH-2 the encoding characters; field 0 is
 * the segment's name), repetition @p rep, component @p comp, sub-component
 * @p sub (each 1-based; 0 means the whole of that level; the name, MSH-1
 * and MSH-2 are never split). Escapes are left in place.
 * @return true if the item is present (possibly empty), false if not.
 */
bool dp_hl7_get(const struct dp_hl7_msg *m, unsigned seg, unsigned field, unsigned rep,
		unsigned comp, unsigned sub, struct dp_span *out);

/** The number of fields of a segment (its name not counted). */
unsigned dp_hl7_field_count(const struct dp_hl7_msg *m, unsigned seg);

/**
 * Undo HL7 escapes (\F\ \S\ \T\ \R\ \E\ \Xhh..\ \.br\ as CR, \P\ when MSH
 * declares a truncation character) in a leaf value; unknown sequences pass
 * through unchanged. The output is not NUL-terminated.
 * @return the unescaped length (may exceed @p room; the output is cut there).
 */
size_t dp_hl7_unescape(const struct dp_hl7_msg *m, struct dp_span s, char *out, size_t room);

/**
 * Parse an HL7 DTM/TS: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ], and
 * the forms real devices send (milliseconds without a dot, a space inside
 * the offset). Without an offset the time is taken as UTC.
 * @return 0, or -EINVAL.
 */
int dp_hl7_time(const uint8_t *s, size_t len, int64_t *ns, uint8_t *precision, bool *had_offset);

/**
 * Decode one message (no MLLP framing): ORU^R01 as PCD-01 into
 * observations, ORU^R40 as PCD-04 into device alarms, counting into
 * @p stats->hl7.
 * @return 0, or -EBADMSG (the message is unusable; the reason was counted).
 */
int dp_hl7_decode(const uint8_t *msg, size_t len, struct dp_stats *stats, struct dp_decoded *out);

/**
 * Decode the MLLP frames (0x0B ... 0x1C 0x0D) of one UDP payload: each whole
 * frame through dp_hl7_decode, @p fn for each that decoded.
 * @return the number of messages decoded.
 */
unsigned dp_mllp_decode(const uint8_t *payload, size_t len, struct dp_stats *stats,
			struct dp_decoded *scratch, dp_decoded_fn fn, void *arg);

/**
 * dp_mllp_decode, and also say in @p n_bad how many parts of the payload did
 * not decode (an empty payload, a run of bytes outside a frame, an
 * unterminated frame, a message dp_hl7_decode refused): what makes a
 * datagram `malformed` to the rules.
 */
unsigned dp_mllp_decode_bad(const uint8_t *payload, size_t len, struct dp_stats *stats,
			    struct dp_decoded *scratch, dp_decoded_fn fn, void *arg,
			    unsigned *n_bad);

/* ---- VTP (dataplane/VTP.md) --------------------------------------------- */

/* The wire format's sizes and limits (VTP.md sections 3 and 6). */
#define DP_VTP_VERSION 1
#define DP_VTP_HDR_LEN 32	      /**< version-1 header; a receiver takes 32..252 */
#define DP_VTP_OBS_LEN 20	      /**< one observation record */
#define DP_VTP_MAX_OBS DP_MAX_OBS     /**< 64 observations per frame */
#define DP_VTP_MAX_FRAME 1452	      /**< bytes: one unfragmented datagram, 1500 MTU, IPv6 */
#define DP_VTP_SEQ_WINDOW 64	      /**< recent sequence numbers remembered per device */
#define DP_VTP_SEQ_MAX_JUMP 65536     /**< a larger step forward is out of range */
#define DP_VTP_PROBE_LIMIT 64	      /**< slots a device may probe in the table */
#define DP_VTP_DEVICES_MAX (1u << 24) /**< largest table capacity */

/*
 * Observation flag bits on the wire (VTP.md section 4): X(name, bit). Each
 * sets the DP_OBS bit of the same name; bits 0-15 are the invalid group
 * (DP_OBS(INVALID) too). DP_VTP_F(TEST) is the mask of one.
 */
#define DP_VTP_OBS_FLAGS(X) \
	X(INV, 0)           \
	X(TEST, 1)          \
	X(DEMO, 2)          \
	X(CAL, 3)           \
	X(NAV, 4)           \
	X(BUSY, 5)          \
	X(OFF, 6)           \
	X(NI, 7)            \
	X(OFF_SCALE, 8)     \
	X(SENTINEL, 9)      \
	X(QUES, 16)         \
	X(EARLY, 17)        \
	X(ALACT, 18)        \
	X(ALINH, 19)        \
	X(ABN_L, 20)        \
	X(ABN_LL, 21)       \
	X(ABN_H, 22)        \
	X(ABN_HH, 23)       \
	X(ABN_A, 24)
#define DP_X_ENUM_VTP_F(name, bit) DP_VTP_F_BIT_##name = bit,
enum dp_vtp_flag_bit { DP_VTP_OBS_FLAGS(DP_X_ENUM_VTP_F) };
#undef DP_X_ENUM_VTP_F
#define DP_VTP_F(name) (UINT32_C(1) << DP_VTP_F_BIT_##name)
#define DP_VTP_F_INVALID_GROUP UINT32_C(0x0000ffff) /**< any of these makes a value invalid */
#define DP_VTP_F_RESERVED UINT32_C(0xfe00fc00)	    /**< must be 0 */

/**
 * Per-worker sequence tracking for VTP senders: an open-addressing table of
 * EUI-64 -> newest sequence number and a 64-frame window, made once for a
 * capacity and never resized (VTP.md section 6.4).
 */
#define DP_VTP_DEVICES_DEFAULT 131072 /**< senders tracked per worker by default */
struct dp_vtp_devices;

/**
 * Bytes needed for a table that tracks @p capacity devices: 64 + 24 bytes
 * for each of the smallest power of two of slots >= 2 * capacity (6 MiB for
 * 100,000 or 131,072 devices).
 * @return the size, or 0 if @p capacity is 0 or above DP_VTP_DEVICES_MAX.
 */
size_t dp_vtp_devices_size(unsigned capacity);

/**
 * Set up an empty table in @p mem (dp_vtp_devices_size bytes, 8-byte
 * aligned; a cache-line alignment is best). Not for the fast path: it
 * writes every slot.
 * @return the table (at @p mem), or NULL if @p mem is NULL or misaligned or
 *         @p capacity is out of range.
 */
struct dp_vtp_devices *dp_vtp_devices_init(void *mem, unsigned capacity);

/**
 * Decode one VTP datagram into @p out (kind DP_MSG_VTP, one dp_obs per
 * observation) and track its device's sequence numbers (gaps, duplicates,
 * reordering, restarts counted in @p stats->vtp). No allocation; bounded.
 * @param devs   may be NULL (no sequence tracking: vigil-decode on a file)
 * @param stats  not NULL; only this worker writes it
 * @return 0 (delivered; n_obs may be 0, a heartbeat), -EALREADY (a duplicate
 *         of a frame already delivered: counted seq_duplicate, nothing to
 *         deliver), or -EBADMSG (malformed: the reason counted). On error
 *         n_obs is 0.
 */
int dp_vtp_decode(const uint8_t *payload, size_t len, struct dp_vtp_devices *devs,
		  struct dp_stats *stats, struct dp_decoded *out);

/** One observation for dp_vtp_encode. */
struct dp_vtp_obs {
	uint32_t code;
	uint32_t unit;
	double value;
	uint32_t flags; /**< DP_VTP_F(...) bits (VTP.md section 4), not DP_OBS bits */
};

/**
 * Encode a version-1 VTP frame (for vigil-gen and the tests) into @p buf.
 * It never writes a frame dp_vtp_decode would reject.
 * @return the frame length (32 + 20 * n_obs), or -ENOSPC if it does not fit
 *         in @p room, or -EINVAL: more than DP_VTP_MAX_OBS observations,
 *         @p device 0, @p time_ns negative, reserved flag bits, or a NULL
 *         @p buf (or @p obs with n_obs > 0).
 */
int dp_vtp_encode(uint8_t *buf, size_t room, uint64_t device, uint32_t seq, int64_t time_ns,
		  const struct dp_vtp_obs *obs, unsigned n_obs);

/* ---- Rules: what the evaluator sees of a message ------------------------ */

/**
 * Fill @p in (and its observations, in @p obs: RULE_MAX_OBS entries) for
 * rule_eval from a decoded message or frame and the datagram it came in.
 * @p frame and @p pkt are the frame as dp_classify left it; NULL for a
 * message read from a file (then addresses and ports are 0 and dsize is
 * the message's length). Observation texts stay in the message. in->first
 * and in->malformed are false: the caller knows the datagram.
 */
void dp_rule_input(const struct dp_decoded *d, const uint8_t *frame, const struct dp_pkt *pkt,
		   struct rule_input *in, struct rule_obs *obs);

/**
 * Fill @p in for a datagram with nothing decoded (malformed, or a VTP
 * duplicate): the header, the whole UDP payload as the scanned bytes, no
 * observations, first set.
 */
void dp_rule_input_datagram(enum dp_verdict kind, const uint8_t *frame, const struct dp_pkt *pkt,
			    struct rule_input *in);

#define DP_RULE_HITS_MAX 256 /**< hits one message may raise; more are counted (hits_overflow) */

/** A worker's room for one evaluation, reused for every message. */
struct dp_rule_work {
	struct rule_input in;
	struct rule_obs obs[RULE_MAX_OBS];
	struct rule_hit hit[DP_RULE_HITS_MAX];
};

/**
 * Where rule hits go: called on the worker for each message (or malformed
 * datagram, then @p d is NULL) with at least one hit. It must not block or
 * allocate; @p d, @p in and @p hits are valid only during the call.
 */
typedef void (*dp_hits_fn)(void *arg, unsigned worker, const struct dp_decoded *d,
			   const struct rule_input *in, const struct rule_hit *hits, unsigned n);

/* ------------------------------------------------------------------------ */
/* Tables behind RCU (liburcu, QSBR flavour)                                 */
/* ------------------------------------------------------------------------ */

/*
 * What a worker reads that the control plane can change sits behind an RCU
 * pointer (ruleset bundle, sender ACL) or in an RCU hash table (device
 * registry). Workers are urcu-qsbr readers: each registers when it starts,
 * reports a quiescent state once per loop and goes offline while idle or
 * stopping. The control plane builds a new version aside, publishes it with
 * one pointer exchange (dp_ruleset_publish, dp_acl_publish), waits for a
 * grace period (urcu_qsbr_synchronize_rcu) and only then frees the old one.
 * Every thread of vigil that reads these tables uses the QSBR flavour:
 * include <urcu/urcu-qsbr.h>, register, and stay offline except while
 * reading.
 */

/* ---- The ruleset bundle ------------------------------------------------- */

/**
 * A loaded ruleset and everything a worker needs to evaluate it: the set
 * (Hyperscan database and predicate tables), one scratch per worker, the
 * per-rule hit counters (one 64-byte aligned row per worker, written only
 * by that worker). Immutable once published, apart from the hit counters.
 */
struct dp_ruleset {
	struct rule_set *set; /**< owned unless made by dp_ruleset_wrap */
	bool own_set;
	uint64_t version;		/**< 1 for the set loaded at start, +1 per good reload */
	unsigned n_rules;		/**< rules (sids) in the set */
	int64_t loaded_ns;		/**< wall clock (CLOCK_REALTIME) when it was made */
	double compile_ms;		/**< what rule_set_load took (rule_set_info.total_ns) */
	unsigned n_workers;		/**< scratch[] and hit rows */
	unsigned hit_stride;		/**< counters per hit row, a multiple of 8 */
	_Atomic uint64_t *hits;		/**< n_workers rows of hit_stride */
	struct rule_scratch *scratch[]; /**< one per worker */
};

/**
 * Make a bundle for @p set: one scratch per worker and zeroed hit rows. On
 * success the bundle owns @p set (dp_ruleset_free frees it); on failure
 * the caller still does. Not for the fast path (it allocates).
 * @return 0, -EINVAL (@p set NULL or n_workers 0 or above DP_MAX_WORKERS),
 *         -ENOMEM.
 */
int dp_ruleset_new(struct rule_set *set, unsigned n_workers, uint64_t version,
		   struct dp_ruleset **out);

/** The same for a set the caller keeps owning (tests, vigil-bench). */
int dp_ruleset_wrap(const struct rule_set *set, unsigned n_workers, uint64_t version,
		    struct dp_ruleset **out);

/** Free a bundle no worker can see any more (after a grace period). NULL is fine. */
void dp_ruleset_free(struct dp_ruleset *rs);

/** Hits of the rule at @p index, every worker summed (relaxed reads). */
uint64_t dp_ruleset_hits(const struct dp_ruleset *rs, unsigned index);

/* ---- The sender ACL ------------------------------------------------------ */

#define DP_ACL_MAX 1024 /**< networks in one ACL */

/** One network allowed to send telemetry. */
struct dp_acl_net {
	uint8_t ip_version; /**< 4 or 6 */
	uint8_t prefix;	    /**< 0..32 or 0..128 */
	uint8_t addr[16];   /**< IPv4: the first 4 bytes, network order; host bits zero */
};

/**
 * Parse "10.20.0.0/16", "fd00::/8", "10.1.2.3" (a host). Host bits set
 * below the prefix are an error (as in rules), so a typo cannot widen it.
 * @return 0, or -EINVAL. On -EINVAL, out->ip_version is 0, unless the only
 *         fault was host bits set: then @p out holds the network with them
 *         cleared (for a "did you mean").
 */
int dp_acl_net_parse(const char *text, struct dp_acl_net *out);

/** An immutable set of networks, looked up by binary search. */
struct dp_acl;

/**
 * Build an ACL from @p n networks (overlaps and duplicates merge).
 * n == 0 builds an ACL that allows every sender.
 * @return 0, -EINVAL (n > DP_ACL_MAX, a bad entry), -ENOMEM.
 */
int dp_acl_new(const struct dp_acl_net *nets, unsigned n, struct dp_acl **out);
void dp_acl_free(struct dp_acl *acl);
/**
 * Address ranges left after merging (overlapping, duplicate and adjacent
 * networks make one), and whether it allows everyone (built from no
 * network, or from both 0.0.0.0/0 and ::/0).
 */
unsigned dp_acl_count(const struct dp_acl *acl);
bool dp_acl_allows_all(const struct dp_acl *acl);

/**
 * Is the source address of @p pkt (a telemetry verdict of dp_classify on
 * @p frame) allowed? @p acl NULL allows everything. No allocation, no lock.
 */
bool dp_acl_allows(const struct dp_acl *acl, const uint8_t *frame, const struct dp_pkt *pkt);

/* ---- The device registry ------------------------------------------------- */

#define DP_REGISTRY_DEVICES_DEFAULT 16384  /**< devices the registry holds by default */
#define DP_REGISTRY_DEVICES_MAX (1u << 22) /**< the largest capacity dp_registry_new takes */
#define DP_REGISTRY_TEXT 32		   /**< bytes kept of patient, location, device id */
#define DP_REGISTRY_RETIRE_RING 1024	   /**< replaced nodes one worker's retire ring holds */

/**
 * Every device seen: an RCU hash table (cds_lfht) keyed by device id whose
 * nodes come from per-worker pools made at start-up, so a worker inserts
 * a new device without a lock or an allocation. A node is owned by the
 * worker whose pool it came from. Its texts (patient, location, device id)
 * never change: when one does, the worker that sees it (owner or not)
 * publishes a new node in its place (cds_lfht_replace), owned by itself,
 * and retires the old one; the control plane returns retired nodes to
 * their pool after a grace period (dp_registry_reclaim). A new sender
 * (address, family, port) is written in place by the owner, under the
 * node's sequence count; another worker seeing the device counts it in
 * the node's shared counters (an atomic add) and leaves the sender alone.
 */
struct dp_registry;

/** What a worker knows of a device from one message. */
struct dp_device_seen {
	uint64_t device;
	int64_t now_ns; /**< receive time: the burst's wall clock, or the packet's (packet_time) */
	uint8_t ip_version;
	uint8_t sender[16];
	uint16_t sport;
	const uint8_t *patient; /**< texts as they are in the message; NULL/0: none */
	uint16_t patient_len;
	const uint8_t *location;
	uint16_t location_len;
	const uint8_t *device_id;
	uint16_t device_id_len;
	uint32_t n_obs;	  /**< observations of this device in the message */
	uint32_t n_hits;  /**< rule hits on them */
	uint32_t n_alarm; /**< device alarms (ORU^R40) */
};

/** A copy of one registry entry, for the control plane. */
struct dp_device_info {
	uint64_t device;
	int64_t first_seen_ns;
	int64_t last_seen_ns;
	uint8_t ip_version;
	uint8_t sender[16];
	uint16_t sport;
	unsigned worker; /**< the owner: the worker whose node this is (it writes the sender) */
	char patient[DP_REGISTRY_TEXT + 1];
	char location[DP_REGISTRY_TEXT + 1];
	char device_id[DP_REGISTRY_TEXT + 1];
	uint64_t messages;
	uint64_t observations;
	uint64_t hits;
	uint64_t alarms;
};

/**
 * Make a registry holding up to @p capacity devices (each worker's pool
 * holds them all, so one worker can see every device; EAL memory).
 * @return 0, -EINVAL (@p out NULL, capacity 0 or above DP_REGISTRY_DEVICES_MAX,
 *         n_workers 0 or above DP_MAX_WORKERS), -ENOMEM.
 */
int dp_registry_new(unsigned capacity, unsigned n_workers, struct dp_registry **out);

/** Free it once no thread reads it (workers stopped). NULL is fine. */
void dp_registry_free(struct dp_registry *r);

/**
 * Worker side (QSBR reader, online): record @p seen. Inserts the device if
 * new (from the worker's pool). Replaces its node if a text changed (the
 * new node is this worker's: it takes the device over). Else updates it in
 * place: its owner writes the sender (address, family, source port) if it
 * differs, under the node's sequence count, and its own counters; any
 * other worker adds to the node's shared counters with an atomic add
 * (registry_shared) and leaves the sender as it is. Either raises the last
 * seen time (racing workers may leave the older of two times, by a hair).
 * A text @p seen does not carry (NULL or length 0) keeps the one known;
 * texts compare on the DP_REGISTRY_TEXT bytes kept. Counts into
 * @p stats->table: registry_inserts, registry_replaced, registry_retire_full,
 * registry_shared, and a touch not recorded: registry_full (no free node in
 * the worker's pool), registry_contended (other workers kept replacing the
 * entry).
 */
void dp_registry_touch(struct dp_registry *r, unsigned worker, const struct dp_device_seen *seen,
		       struct dp_stats *stats);

/**
 * Worker side (online or offline): hand the replaced nodes @p worker kept
 * (its retire ring was full) to the retire ring. A touch does it too; call
 * it when the worker goes idle or stops so they are not stranded.
 * @return the number still kept (the ring is still full).
 */
unsigned dp_registry_flush(struct dp_registry *r, unsigned worker);

/**
 * Control-plane side, one caller at a time: return retired nodes to their
 * pools. Waits for a grace period when there are any (so the calling
 * thread must be offline or unregistered); then adds the increments that
 * reached a node after it was copied to the device's live node, so no
 * increment is lost. @return the number of nodes returned.
 */
unsigned dp_registry_reclaim(struct dp_registry *r);

/**
 * Messages that reached a replaced node after its counters were copied
 * (its worker was mid-touch while another took the device over), which
 * dp_registry_reclaim moved to the device's live node: since the registry
 * was made. Diagnostic; any thread.
 */
uint64_t dp_registry_settled_late(const struct dp_registry *r);

/** Readers (registered QSBR threads, online): */
unsigned dp_registry_count(struct dp_registry *r);
/** @return 0, or -ENOENT. */
int dp_registry_lookup(struct dp_registry *r, uint64_t device, struct dp_device_info *out);
/** Call @p fn for every device (in hash order) until it returns non-zero; returns that. */
int dp_registry_foreach(struct dp_registry *r, int (*fn)(void *arg, const struct dp_device_info *),
			void *arg);

/* ---- Events: what the workers hand to the control plane ----------------- */

enum dp_event_type {
	DP_EV_NONE = 0,
	DP_EV_OBS,	 /**< an observation (TELEMETRY lane) */
	DP_EV_HIT,	 /**< a rule hit (ALARM lane) */
	DP_EV_DEV_ALARM, /**< a device's own alarm, ORU^R40 (ALARM lane) */
	DP_EV_TECH,	 /**< a technical condition the control plane raises itself */
};

/** Technical conditions of DP_EV_TECH (dp_event.code). */
enum dp_tech {
	DP_TECH_NONE = 0,
	DP_TECH_EVENT_LOSS, /**< ALARM events lost on a full ring: value = how many */
};

/**
 * One event: fixed size, two cache lines, copied out of the frame by the
 * worker (no pointer into an mbuf or a ruleset survives). Texts (patient,
 * location) are in the device registry under the event's device.
 */
struct dp_event {
	uint8_t type; /**< enum dp_event_type */
	uint8_t worker;
	uint8_t proto;	    /**< RULE_PROTO_HL7 or RULE_PROTO_VTP; 0 for DP_EV_TECH */
	uint8_t ip_version; /**< of the sender; 0 for DP_EV_TECH */
	uint16_t sport;
	uint16_t obs_index; /**< position in its message; RULE_HIT_MSG for a message hit */
	uint64_t tsc;	    /**< rte_rdtsc() when the worker made it */
	int64_t wall_ns;    /**< receive time: the burst's wall clock, the record's on a replay */
	uint64_t device;    /**< 0 when not known (a datagram that did not decode) */
	int64_t time_ns;    /**< the observation's or alarm's own time; 0 if none */
	double value;	    /**< NaN when none */
	uint32_t code;	    /**< MDC code (DP_EV_TECH: enum dp_tech) */
	uint32_t unit;	    /**< MDC unit code */
	uint32_t flags;	    /**< DP_OBS bits */
	uint32_t seq;	    /**< VTP sequence number or OBX-1 */
	uint8_t src[16];    /**< sender address; IPv4 in the first 4 bytes */
	union {
		struct {
			uint64_t ruleset_version;
			uint32_t sid;
			uint32_t rev;
			uint32_t rule_index; /**< in the ruleset of that version */
			uint8_t action;	     /**< enum rule_action */
			uint8_t priority;    /**< enum rule_priority */
			uint8_t kind;	     /**< enum rule_kind */
			uint8_t malformed;   /**< the hit was on a datagram that did not decode */
		} hit;
		struct {
			uint32_t event_code;
			uint32_t source_code;
			uint8_t phase; /**< enum dp_alarm_phase ... */
			uint8_t state;
			uint8_t inactivation;
			uint8_t priority;
			uint8_t type;
		} alarm;
		uint8_t pad[48];
	} u;
};
_Static_assert(sizeof(struct dp_event) == 128, "an event is two cache lines");

/** The two lanes of each worker: ALARM is always drained first. */
enum dp_lane {
	DP_LANE_ALARM = 0,
	DP_LANE_TELEMETRY,
	DP_LANE__COUNT,
};

#define DP_ALARM_RING_DEFAULT 16384	/**< events per worker's ALARM ring */
#define DP_TELEMETRY_RING_DEFAULT 65536 /**< events per worker's TELEMETRY ring */
#define DP_RING_MAX (1u << 24)

/**
 * A worker's two single-producer single-consumer rings (rte_ring of
 * 128-byte elements). dp_start makes one per worker when dp_conf.events
 * is set; tests and vigil-bench make their own.
 */
struct rte_ring;

struct dp_lanes {
	struct rte_ring *ring[DP_LANE__COUNT];
	/**
	 * NULL: a full ring loses the event (counted). Set (a replay,
	 * dp_conf.packet_time): while *wait is true the producer waits for
	 * room instead: a capture can be read at the consumer's pace, a NIC
	 * cannot. dp_stop clears it first, so a stopping worker never hangs.
	 */
	const atomic_bool *wait;
	/** The most events a lane has held after a put (written by the producer). */
	_Atomic unsigned high_water[DP_LANE__COUNT];
};

/**
 * Make the rings for @p worker (sizes are rounded up to a power of two, at
 * least 2; the usable room is one less than that, as rte_ring has it). The
 * rings are named "<name>_w<worker>a" and "..t" (the start of @p name is
 * kept when that is longer than RTE_RING_NAMESIZE allows).
 * @return 0, -EINVAL (a size 0 or above DP_RING_MAX), -EEXIST (rings of
 *         that name exist), -ENOMEM (or the errno rte_ring_create gave).
 */
int dp_lanes_init(struct dp_lanes *l, const char *name, unsigned worker, unsigned alarm_size,
		  unsigned telemetry_size);
void dp_lanes_free(struct dp_lanes *l);

/**
 * Worker side: put @p n events on @p lane. What does not fit is lost and
 * counted (alarm_lost / telemetry_lost), unless the lanes wait (replay:
 * dp_lanes.wait); what did is counted as alarm_events / telemetry_events.
 * @return the number enqueued.
 */
unsigned dp_lanes_put(struct dp_lanes *l, enum dp_lane lane, const struct dp_event *ev, unsigned n,
		      struct dp_stats *stats);

/** Consumer side: take up to @p max events of @p lane. @return how many. */
unsigned dp_lanes_take(struct dp_lanes *l, enum dp_lane lane, struct dp_event *out, unsigned max);

/** Events waiting on @p lane. */
unsigned dp_lanes_count(const struct dp_lanes *l, enum dp_lane lane);
/** Events @p lane can hold. */
unsigned dp_lanes_capacity(const struct dp_lanes *l, enum dp_lane lane);
/** The most events @p lane has held (any thread). */
unsigned dp_lanes_high_water(const struct dp_lanes *l, enum dp_lane lane);

/** The event of an observation, a rule hit or a device alarm (no EAL needed). */
void dp_event_obs(struct dp_event *ev, const struct dp_obs *o, unsigned index,
		  const struct rule_input *in, unsigned worker, uint64_t tsc, int64_t wall_ns);
/* @p d may be NULL (a hit on a datagram that did not decode); h->obs indexes d->obs. */
void dp_event_hit(struct dp_event *ev, const struct rule_hit *h, const struct dp_decoded *d,
		  const struct rule_input *in, uint64_t ruleset_version, unsigned worker,
		  uint64_t tsc, int64_t wall_ns);
void dp_event_dev_alarm(struct dp_event *ev, const struct dp_dev_alarm *a,
			const struct rule_input *in, unsigned worker, uint64_t tsc,
			int64_t wall_ns);

const char *dp_event_type_name(enum dp_event_type t); /**< "obs", "hit", "dev_alarm", "tech" */
const char *dp_lane_name(enum dp_lane l);	      /**< "alarm", "telemetry" */

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
	dp_telemetry_fn on_telemetry; /**< every telemetry datagram, or NULL */
	void *telemetry_arg;
	dp_decoded_fn on_decoded; /**< every decoded message or frame, or NULL */
	void *decoded_arg;
	unsigned vtp_devices; /**< VTP senders tracked per worker (0: a default) */
	const struct rule_set
		*rules;		    /**< evaluated by every worker (wrapped, not owned), or NULL */
	struct dp_ruleset *ruleset; /**< or this bundle, which dp_start takes over on success */
	dp_hits_fn on_hits;	    /**< every message with rule hits, or NULL */
	void *hits_arg;
	struct dp_acl *acl;	   /**< senders allowed; dp_start takes it over; NULL: all */
	unsigned registry_devices; /**< device registry capacity; 0: no registry */
	bool events;		   /**< make each worker's ALARM and TELEMETRY rings */
	unsigned alarm_ring;	   /**< events per ALARM ring (0: DP_ALARM_RING_DEFAULT) */
	unsigned telemetry_ring;   /**< per TELEMETRY ring (0: DP_TELEMETRY_RING_DEFAULT) */
	/**
	 * Replaying a capture: each packet's receive time (dp_event.wall_ns,
	 * the registry's last seen) is its capture record's, not the wall
	 * clock, so that what runs on event time (the alarm manager) sees the
	 * ward's own pace. dp_start registers the mbuf Rx timestamp field
	 * (rte_mbuf_dyn_rx_timestamp_register) and takes each port's stamps:
	 * a net_pcap port stamps every frame with its record's time in
	 * microseconds since the epoch, offload or not (DPDK 22.11 stamps
	 * unconditionally and does not list RTE_ETH_RX_OFFLOAD_TIMESTAMP in
	 * its capabilities); any other port must offer that offload, which is
	 * then enabled, and stamp nanoseconds since the epoch. A port that
	 * offers neither fails dp_start with -ENOTSUP, as do ports that stamp
	 * in different units. A frame without the stamp takes the burst's wall
	 * clock. Not for infinite_rx: a looped capture repeats its times.
	 * A replay also waits for room on a full event ring rather than lose
	 * the event (dp_lanes.wait): it is read at the consumer's pace.
	 */
	bool packet_time;
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
 *         -ENOMEM (mempool), -ENOTSUP (packet_time on a port without Rx
 *         timestamps), or what the PMD returned.
 */
int dp_start(const struct dp_conf *conf, struct dp_plane **out, char *err, size_t errlen);

/** Ask the workers to finish their burst and return; wait for them. */
void dp_stop(struct dp_plane *dp);

/** Stop and close the ports, free the mempool and @p dp. */
void dp_destroy(struct dp_plane *dp);

/**
 * Publish @p rs (NULL: no rules) for every worker with one pointer exchange.
 * @return the bundle it replaced, which the caller frees with
 *         dp_ruleset_free after urcu_qsbr_synchronize_rcu(). One publisher
 *         at a time (the control plane serialises reloads).
 */
struct dp_ruleset *dp_ruleset_publish(struct dp_plane *dp, struct dp_ruleset *rs);

/** The published bundle. Read it as a QSBR reader (online) or as its only publisher. */
struct dp_ruleset *dp_ruleset_current(struct dp_plane *dp);

/** The ruleset version @p worker last evaluated with (0: none yet). */
uint64_t dp_worker_ruleset_version(const struct dp_plane *dp, unsigned worker);

/** Whether @p worker is an online QSBR reader now (offline while idle). */
bool dp_worker_online(const struct dp_plane *dp, unsigned worker);

/** The same as dp_ruleset_publish for the sender ACL (NULL: allow all). */
struct dp_acl *dp_acl_publish(struct dp_plane *dp, struct dp_acl *acl);
struct dp_acl *dp_acl_current(struct dp_plane *dp);

/** The device registry (NULL without one) and a worker's lanes (NULL without events). */
struct dp_registry *dp_registry_of(struct dp_plane *dp);
struct dp_lanes *dp_lanes_of(struct dp_plane *dp, unsigned worker);

struct rte_mempool;
/** The plane's mbuf pool (for reports of its use). */
struct rte_mempool *dp_mempool_of(struct dp_plane *dp);

unsigned dp_n_workers(const struct dp_plane *dp);
unsigned dp_n_ports(const struct dp_plane *dp);
const struct dp_stats *dp_worker_stats(const struct dp_plane *dp, unsigned worker);
/** A copy of @p worker's latency histograms (relaxed reads of a live worker's). */
void dp_worker_latency(const struct dp_plane *dp, unsigned worker,
		       uint64_t decision[DP_LAT_BUCKETS], uint64_t burst[DP_LAT_BUCKETS]);
/** The sums of what @p worker's histograms counted, in cycles. */
void dp_worker_latency_sums(const struct dp_plane *dp, unsigned worker, uint64_t *decision,
			    uint64_t *burst);
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

/** A worker's staging for one message's events, reused. */
struct dp_event_work {
	struct dp_event alarm[DP_RULE_HITS_MAX + DP_MAX_DEV_ALARMS];
	struct dp_event obs[DP_MAX_OBS];
};

/** What a worker brings to a burst besides the frames: where telemetry goes. */
struct dp_decode_ctx {
	unsigned worker;
	bool decode;		      /**< run the decoders (false: count only) */
	struct dp_decoded *scratch;   /**< reused for every message */
	struct dp_vtp_devices *vtp;   /**< the worker's VTP sequence table, or NULL */
	dp_telemetry_fn on_telemetry; /**< every telemetry datagram, or NULL */
	void *telemetry_arg;
	dp_decoded_fn on_decoded; /**< every decoded message or frame, or NULL */
	void *decoded_arg;
	const struct rule_set *rules;	   /**< NULL: no rule evaluation */
	struct rule_scratch *rule_scratch; /**< this worker's, for @p rules */
	struct dp_rule_work *rule_work;
	dp_hits_fn on_hits; /**< messages with hits, or NULL */
	void *hits_arg;
	/* Refreshed by the worker at every burst from the RCU pointers: */
	const struct dp_ruleset *ruleset; /**< the bundle @p rules comes from, or NULL */
	_Atomic uint64_t *rule_hits;	  /**< this worker's hit row of @p ruleset */
	const struct dp_acl *acl;	  /**< NULL: every sender allowed */
	struct dp_registry *registry;	  /**< NULL: no registry */
	struct dp_lanes *lanes;		  /**< NULL: no events */
	struct dp_event_work *events;	  /**< staging for one message's events */
	struct dp_lat *lat;		  /**< NULL: decisions not timed */
	uint64_t tsc;			  /**< rte_rdtsc() at the burst */
	int64_t now_ns;			  /**< wall clock at the burst */
	/*
	 * The packet clock (dp_conf.packet_time), fixed at dp_start: a
	 * telemetry frame whose ol_flags has @p time_flag is received at its
	 * Rx timestamp times @p time_unit_ns; any other at @p now_ns. Off,
	 * @p time_flag is 0 and the test is one predictable branch.
	 */
	uint64_t time_flag;    /**< the Rx timestamp's dynflag; 0: every frame at @p now_ns */
	int time_offset;       /**< the Rx timestamp dynfield's offset in the mbuf */
	uint32_t time_unit_ns; /**< nanoseconds per unit of the ports' stamps */
};

/**
 * A worker's per-burst work once rte_eth_rx_burst has returned: parse every
 * mbuf with a prefetch window, count rx and every outcome but the replies
 * (counted once transmitted), decode telemetry and hand it to @p ctx's
 * hooks, build replies in place. Frees and transmits nothing: @p out says
 * what to free and what to send. The worker and vigil-bench both run
 * exactly this.
 *
 * @param n  at most DP_RX_BURST
 */
void dp_burst_classify(const struct dp_local *local, struct dp_stats *stats, struct rte_mbuf **pkts,
		       uint16_t n, const struct dp_decode_ctx *ctx, struct dp_burst *out);

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
