/*
 * worker.c - the poll loop of a worker lcore.
 *
 * Each worker owns one RX queue (and one TX queue) per port and nothing
 * else: it takes bursts of 32, parses every frame with a prefetch window,
 * answers what is the appliance's to answer on the same port, hands
 * telemetry to the decoder hook, frees the rest, and counts every outcome.
 * It never blocks, allocates, locks or logs. It stops when the plane's
 * atomic stop flag is set, after finishing the burst in hand.
 */
#include <errno.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_prefetch.h>

#include "dataplane.h"
#include "dp_plane.h"

#define PREFETCH_AHEAD 3

static inline uint32_t
csum_flags(uint64_t ol)
{
	uint32_t f = 0;

	if ((ol & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
		f |= DP_CSUM_IP_GOOD;
	else if ((ol & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		f |= DP_CSUM_IP_BAD;
	if ((ol & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		f |= DP_CSUM_L4_GOOD;
	else if ((ol & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		f |= DP_CSUM_L4_BAD;
	return f;
}

static void
send_replies(struct dp_worker *w, const struct dp_rxq *q, struct dp_burst *b)
{
	uint16_t sent = 0;

	if (q->txq != UINT16_MAX)
		sent = rte_eth_tx_burst(q->port_id, q->txq, b->tx, b->n_tx);
	dp_count(&w->stats.tx_packets, sent);
	for (uint16_t i = 0; i < sent; i++)
		dp_count(&w->stats.outcome[dp_outcome_of_reply(b->tx_kind[i])], 1);
	if (sent < b->n_tx) {
		dp_count(&w->stats.drop[DP_DROP_tx_full], b->n_tx - sent);
		rte_pktmbuf_free_bulk(&b->tx[sent], b->n_tx - sent);
	}
}

/* ---- Telemetry: decoders, rules, hooks ---------------------------------- */

/* One datagram's walk through its messages. */
struct msg_walk {
	const struct dp_decode_ctx *ctx;
	struct dp_stats *stats;
	const uint8_t *frame;
	const struct dp_pkt *pkt;
	unsigned n_msgs;
};

/* The rules over ctx->rule_work.in; hits to the hook. */
static void
evaluate(const struct dp_decode_ctx *ctx, struct dp_stats *stats, const struct dp_decoded *d)
{
	struct dp_rule_work *w = ctx->rule_work;
	unsigned n;

	n = rule_eval(ctx->rules, ctx->rule_scratch, &w->in, w->hit, DP_RULE_HITS_MAX, stats->rule);
	if (n > 0 && ctx->on_hits != NULL)
		ctx->on_hits(ctx->hits_arg, ctx->worker, d, &w->in, w->hit, n);
}

/* Each message or frame that decoded: rules first, then the observation hook. */
static void
on_message(void *arg, const struct dp_decoded *d)
{
	struct msg_walk *mw = arg;
	const struct dp_decode_ctx *ctx = mw->ctx;

	if (ctx->rules != NULL) {
		dp_rule_input(d, mw->frame, mw->pkt, &ctx->rule_work->in, ctx->rule_work->obs);
		ctx->rule_work->in.first = mw->n_msgs == 0;
		evaluate(ctx, mw->stats, d);
	}
	mw->n_msgs++;
	if (ctx->on_decoded != NULL)
		ctx->on_decoded(ctx->decoded_arg, d);
}

/*
 * Telemetry to its decoder, the rules and the hooks. A datagram with a part
 * that did not decode (or a VTP duplicate, which delivers nothing) is
 * evaluated once more on its own, so that header-only rules still see a
 * datagram that decoded to nothing and `malformed` rules see the bad ones.
 */
static void
decode_telemetry(const struct dp_decode_ctx *ctx, struct dp_stats *stats, enum dp_verdict verdict,
		 const uint8_t *frame, const struct dp_pkt *pkt)
{
	const uint8_t *payload = frame + pkt->payload_off;
	struct msg_walk mw = {ctx, stats, frame, pkt, 0};
	unsigned n_bad = 0;

	if (ctx->on_telemetry)
		ctx->on_telemetry(ctx->telemetry_arg, ctx->worker, verdict, frame, pkt);
	if (!ctx->decode)
		return;
	if (verdict == DP_VERDICT_HL7) {
		dp_mllp_decode_bad(payload, pkt->payload_len, stats, ctx->scratch, on_message, &mw,
				   &n_bad);
	} else {
		int rc = dp_vtp_decode(payload, pkt->payload_len, ctx->vtp, stats, ctx->scratch);

		if (rc == 0)
			on_message(&mw, ctx->scratch);
		else if (rc == -EBADMSG)
			n_bad = 1;
	}
	if (ctx->rules != NULL && (n_bad > 0 || mw.n_msgs == 0)) {
		dp_rule_input_datagram(verdict, frame, pkt, &ctx->rule_work->in);
		ctx->rule_work->in.first = mw.n_msgs == 0;
		ctx->rule_work->in.malformed = n_bad > 0;
		evaluate(ctx, stats, NULL);
	}
}

void
dp_burst_classify(const struct dp_local *local, struct dp_stats *stats, struct rte_mbuf **pkts,
		  uint16_t n, const struct dp_decode_ctx *ctx, struct dp_burst *out)
{
	uint64_t bytes = 0;

	out->n_done = 0;
	out->n_tx = 0;
	for (uint16_t i = 0; i < n && i < PREFETCH_AHEAD; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
		uint32_t len = rte_pktmbuf_data_len(m);
		uint32_t room = len + rte_pktmbuf_tailroom(m);
		uint32_t reply_len = 0;
		enum dp_verdict verdict;
		struct dp_pkt pkt;

		if (i + PREFETCH_AHEAD < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + PREFETCH_AHEAD], void *));
		bytes += rte_pktmbuf_pkt_len(m);
		/* Scattered RX is not enabled, but some PMDs (net_pcap) chain
		 * mbufs for frames over the data room. Telemetry is small. */
		if (unlikely(m->nb_segs != 1)) {
			dp_count(&stats->drop[DP_DROP_rx_chained], 1);
			out->done[out->n_done++] = m;
			continue;
		}
		verdict = dp_process(local, stats, frame, len, room, csum_flags(m->ol_flags), &pkt,
				     &reply_len);
		switch (verdict) {
		case DP_VERDICT_REPLY:
			/* dp_reply_build kept within len + tailroom */
			m->data_len = (uint16_t)reply_len;
			m->pkt_len = reply_len;
			m->ol_flags = 0;
			out->tx_kind[out->n_tx] = (uint8_t)pkt.reply;
			out->tx[out->n_tx++] = m;
			continue;
		case DP_VERDICT_HL7:
		case DP_VERDICT_VTP:
			decode_telemetry(ctx, stats, verdict, frame, &pkt);
			break;
		case DP_VERDICT_DROP:
			break;
		}
		out->done[out->n_done++] = m;
	}
	dp_count(&stats->rx_packets, n);
	dp_count(&stats->rx_bytes, bytes);
	dp_count(&stats->rx_bursts, 1);
}

static unsigned
poll_queue(struct dp_worker *w, const struct dp_rxq *q)
{
	const struct dp_plane *dp = w->dp;
	struct rte_mbuf *pkts[DP_RX_BURST];
	struct dp_burst b;
	uint16_t n;

	n = rte_eth_rx_burst(q->port_id, q->queue, pkts, DP_RX_BURST);
	if (n == 0)
		return 0;
	dp_burst_classify(&dp->port[q->port_index].local, &w->stats, pkts, n, &w->decode, &b);
	if (b.n_done)
		rte_pktmbuf_free_bulk(b.done, b.n_done);
	if (b.n_tx)
		send_replies(w, q, &b);
	return n;
}

int
dp_worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct dp_plane *dp = w->dp;

	while (!atomic_load_explicit(&dp->stop, memory_order_relaxed)) {
		unsigned got = 0;

		for (unsigned i = 0; i < w->n_rxq; i++)
			got += poll_queue(w, &w->rxq[i]);
		if (got == 0)
			rte_pause();
	}
	return 0;
}
