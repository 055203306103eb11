/*
 * worker.c - the poll loop of a worker lcore.
 *
 * Each worker owns one RX queue (and one TX queue) per port and nothing
 * else: it takes bursts of 32, parses every frame with a prefetch window,
 * answers what is the appliance's to answer on the same port, checks
 * telemetry against the sender ACL, decodes it, evaluates the rules, puts
 * the events on its own ALARM and TELEMETRY rings, tells the device
 * registry, frees the rest, and counts every outcome. Each telemetry frame
 * is dated by the burst's clock, or on a replay by its own Rx timestamp
 * (dp_conf.packet_time). It reads the ruleset and the ACL as an urcu-qsbr
 * reader, once per burst, and announces a quiescent state once per loop. It
 * never blocks, allocates, locks or logs. It stops when the plane's atomic
 * stop flag is set, after finishing the burst in hand.
 */
#include <errno.h>
#include <string.h>

#include <urcu/urcu-qsbr.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
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

/* ---- Telemetry: decoders, rules, events, hooks --------------------------- */

/* One datagram's walk through its messages. */
struct msg_walk {
	const struct dp_decode_ctx *ctx;
	struct dp_stats *stats;
	const uint8_t *frame;
	const struct dp_pkt *pkt;
	unsigned n_msgs;
	int64_t now_ns; /* when the frame was received: what its events and the registry get */
};

/* Each hit on the ALARM lane, counted per rule in the worker's own row. */
static void
put_hits(const struct msg_walk *mw, const struct dp_decoded *d, unsigned n)
{
	const struct dp_decode_ctx *ctx = mw->ctx;
	const struct dp_rule_work *w = ctx->rule_work;
	uint64_t version = ctx->ruleset != NULL ? ctx->ruleset->version : 0;
	struct dp_event *ev = ctx->events->alarm;

	if (ctx->rule_hits != NULL)
		for (unsigned i = 0; i < n; i++)
			dp_count(&ctx->rule_hits[w->hit[i].rule->index], 1);
	if (ctx->lanes == NULL)
		return;
	for (unsigned i = 0; i < n; i++)
		dp_event_hit(&ev[i], &w->hit[i], d, &w->in, version, ctx->worker, ctx->tsc,
			     mw->now_ns);
	dp_lanes_put(ctx->lanes, DP_LANE_ALARM, ev, n, mw->stats);
}

/* The rules over ctx->rule_work.in; hits to the ALARM lane and the hook. */
static unsigned
evaluate(const struct msg_walk *mw, const struct dp_decoded *d)
{
	const struct dp_decode_ctx *ctx = mw->ctx;
	struct dp_rule_work *w = ctx->rule_work;
	uint64_t t0 = ctx->lat != NULL ? rte_rdtsc() : 0;
	unsigned n;

	n = rule_eval(ctx->rules, ctx->rule_scratch, &w->in, w->hit, DP_RULE_HITS_MAX,
		      mw->stats->rule);
	if (n > 0)
		put_hits(mw, d, n);
	if (ctx->lat != NULL) {
		uint64_t dt = rte_rdtsc() - t0;

		dp_count(&ctx->lat->decision[dp_lat_bucket(dt)], 1);
		dp_count(&ctx->lat->decision_cycles, dt);
	}
	if (n > 0 && ctx->on_hits != NULL)
		ctx->on_hits(ctx->hits_arg, ctx->worker, d, &w->in, w->hit, n);
	return n;
}

/*
 * Device alarms (ALARM lane, after the rule hits) and observations
 * (TELEMETRY), in that order: a message's ALARM events are on their ring
 * before its observations are on theirs, which the consumer relies on to
 * hand every hit over before the observation that ends its condition.
 */
static void
put_message(const struct msg_walk *mw, const struct dp_decoded *d)
{
	const struct dp_decode_ctx *ctx = mw->ctx;
	struct dp_stats *stats = mw->stats;
	const struct rule_input *in = &ctx->rule_work->in;
	struct dp_event_work *ew = ctx->events;
	unsigned n_alarms = d->n_alarms < DP_MAX_DEV_ALARMS ? d->n_alarms : DP_MAX_DEV_ALARMS;
	unsigned n_obs = d->n_obs < DP_MAX_OBS ? d->n_obs : DP_MAX_OBS;

	for (unsigned i = 0; i < n_alarms; i++)
		dp_event_dev_alarm(&ew->alarm[i], &d->alarm[i], in, ctx->worker, ctx->tsc,
				   mw->now_ns);
	if (n_alarms > 0)
		dp_lanes_put(ctx->lanes, DP_LANE_ALARM, ew->alarm, n_alarms, stats);
	for (unsigned i = 0; i < n_obs; i++)
		dp_event_obs(&ew->obs[i], &d->obs[i], i, in, ctx->worker, ctx->tsc, mw->now_ns);
	if (n_obs > 0)
		dp_lanes_put(ctx->lanes, DP_LANE_TELEMETRY, ew->obs, n_obs, stats);
}

/* A span of the message as a registry text (NULL when absent). */
static void
seen_text(const struct dp_decoded *d, struct dp_span s, const uint8_t **p, uint16_t *len)
{
	*p = s.len > 0 && d->msg != NULL ? d->msg + s.off : NULL;
	*len = *p != NULL ? s.len : 0;
}

static void
seen_from(struct dp_device_seen *s, const struct msg_walk *mw, uint64_t device,
	  const struct dp_decoded *d, struct dp_span patient, struct dp_span location,
	  struct dp_span device_id)
{
	const struct rule_input *in = &mw->ctx->rule_work->in;

	*s = (struct dp_device_seen){
		.device = device,
		.now_ns = mw->now_ns,
		.ip_version = in->ip_version,
		.sport = in->sport,
	};
	memcpy(s->sender, in->src, sizeof(s->sender));
	seen_text(d, patient, &s->patient, &s->patient_len);
	seen_text(d, location, &s->location, &s->location_len);
	seen_text(d, device_id, &s->device_id, &s->device_id_len);
}

/*
 * The registry learns of every device in the message: observations come in
 * runs of one device (usually the whole message), each run one touch; the
 * message's own hits count for its first device.
 */
static void
touch_devices(const struct msg_walk *mw, const struct dp_decoded *d, unsigned n_hits)
{
	const struct dp_decode_ctx *ctx = mw->ctx;
	struct dp_stats *stats = mw->stats;
	const struct rule_hit *hit = ctx->rule_work->hit;
	unsigned n_obs = d->n_obs < DP_MAX_OBS ? d->n_obs : DP_MAX_OBS;
	struct dp_device_seen s;

	for (unsigned i = 0; i < n_obs;) {
		const struct dp_obs *o = &d->obs[i];
		unsigned j = i + 1;

		while (j < n_obs && d->obs[j].device == o->device)
			j++;
		seen_from(&s, mw, o->device, d, o->patient, o->location, o->device_id);
		s.n_obs = j - i;
		for (unsigned h = 0; h < n_hits; h++)
			if ((hit[h].obs == RULE_HIT_MSG && i == 0) ||
			    (hit[h].obs != RULE_HIT_MSG && hit[h].obs >= i && hit[h].obs < j))
				s.n_hits++;
		dp_registry_touch(ctx->registry, ctx->worker, &s, stats);
		i = j;
	}
	for (unsigned i = 0; i < d->n_alarms && i < DP_MAX_DEV_ALARMS; i++) {
		const struct dp_dev_alarm *a = &d->alarm[i];

		seen_from(&s, mw, a->device, d, a->patient, a->location, a->device_id);
		s.n_alarm = 1;
		if (n_obs == 0 && i == 0)
			s.n_hits = n_hits;
		dp_registry_touch(ctx->registry, ctx->worker, &s, stats);
	}
}

/* Each message or frame that decoded: rules, events, registry, then the hook. */
static void
on_message(void *arg, const struct dp_decoded *d)
{
	struct msg_walk *mw = arg;
	const struct dp_decode_ctx *ctx = mw->ctx;
	unsigned n_hits = 0;

	if (ctx->rules != NULL || ctx->lanes != NULL || ctx->registry != NULL) {
		dp_rule_input(d, mw->frame, mw->pkt, &ctx->rule_work->in, ctx->rule_work->obs);
		ctx->rule_work->in.first = mw->n_msgs == 0;
	}
	if (ctx->rules != NULL)
		n_hits = evaluate(mw, d);
	if (ctx->lanes != NULL)
		put_message(mw, d);
	if (ctx->registry != NULL)
		touch_devices(mw, d, n_hits);
	mw->n_msgs++;
	if (ctx->on_decoded != NULL)
		ctx->on_decoded(ctx->decoded_arg, d);
}

/* The datagram on its own, for the rules: nothing decoded, or a sender
 * outside the ACL, or a part that did not decode. */
static void
evaluate_datagram(const struct msg_walk *mw, enum dp_verdict verdict, bool first, bool malformed,
		  bool denied)
{
	struct rule_input *in = &mw->ctx->rule_work->in;

	dp_rule_input_datagram(verdict, mw->frame, mw->pkt, in);
	in->first = first;
	in->malformed = malformed;
	in->acl_denied = denied;
	evaluate(mw, NULL);
}

/*
 * Telemetry to the ACL, its decoder, the rules and the hooks. A sender
 * outside the ACL is counted and its datagram evaluated once, undecoded
 * (`acl:denied` rules). A datagram with a part that did not decode (or a
 * VTP duplicate, which delivers nothing) is evaluated once more on its own,
 * so that header-only rules still see a datagram that decoded to nothing
 * and `malformed` rules see the bad ones.
 */
static void
decode_telemetry(const struct dp_decode_ctx *ctx, struct dp_stats *stats, enum dp_verdict verdict,
		 const uint8_t *frame, const struct dp_pkt *pkt, int64_t now_ns)
{
	const uint8_t *payload = frame + pkt->payload_off;
	struct msg_walk mw = {ctx, stats, frame, pkt, 0, now_ns};
	unsigned n_bad = 0;

	if (ctx->on_telemetry)
		ctx->on_telemetry(ctx->telemetry_arg, ctx->worker, verdict, frame, pkt);
	if (!ctx->decode)
		return;
	if (ctx->acl != NULL && !dp_acl_allows(ctx->acl, frame, pkt)) {
		dp_count(&stats->table[DP_TAB_acl_denied], 1);
		if (ctx->rules != NULL)
			evaluate_datagram(&mw, verdict, true, false, true);
		return;
	}
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
	if (ctx->rules != NULL && (n_bad > 0 || mw.n_msgs == 0))
		evaluate_datagram(&mw, verdict, mw.n_msgs == 0, n_bad > 0, false);
}

/*
 * When @p m was received: its Rx timestamp on a replay (packet_time), else
 * the burst's clock. With packet_time off time_flag is 0, so the branch is
 * never taken.
 */
static inline int64_t
received_ns(const struct dp_decode_ctx *ctx, const struct rte_mbuf *m)
{
	if (m->ol_flags & ctx->time_flag)
		return (int64_t)(*RTE_MBUF_DYNFIELD(m, ctx->time_offset,
						    const rte_mbuf_timestamp_t *) *
				 ctx->time_unit_ns);
	return ctx->now_ns;
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
			decode_telemetry(ctx, stats, verdict, frame, &pkt, received_ns(ctx, m));
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

/*
 * What can change is read again at every burst: the ruleset bundle and the
 * ACL behind their RCU pointers (the worker is an online QSBR reader from
 * here until its next quiescent state), and the clock the events carry.
 */
static void
refresh(struct dp_worker *w)
{
	const struct dp_plane *dp = w->dp;
	struct dp_decode_ctx *ctx = &w->decode;
	const struct dp_ruleset *rs;
	uint64_t delta;

	if (!w->rcu_online) {
		urcu_qsbr_thread_online();
		w->rcu_online = true;
		atomic_store_explicit(&w->online, true, memory_order_release);
	}
	w->idle_loops = 0;
	rs = rcu_dereference(dp->ruleset);
	ctx->ruleset = rs;
	if (rs != NULL) {
		ctx->rules = rs->set;
		ctx->rule_scratch = rs->scratch[w->id];
		ctx->rule_hits = &rs->hits[(size_t)w->id * rs->hit_stride];
		if (rs->version != dp_read(&w->ruleset_version)) {
			dp_count(&w->stats.table[DP_TAB_ruleset_swaps], 1);
			atomic_store_explicit(&w->ruleset_version, rs->version,
					      memory_order_relaxed);
		}
	} else {
		ctx->rules = NULL;
		ctx->rule_scratch = NULL;
		ctx->rule_hits = NULL;
	}
	ctx->acl = rcu_dereference(dp->acl);
	ctx->tsc = rte_rdtsc();
	delta = ctx->tsc - dp->tsc_base;
	ctx->now_ns = dp->wall_base_ns + (int64_t)(delta / dp->tsc_hz * 1000000000u +
						   delta % dp->tsc_hz * 1000000000u / dp->tsc_hz);
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
	refresh(w);
	dp_burst_classify(&dp->port[q->port_index].local, &w->stats, pkts, n, &w->decode, &b);
	if (b.n_done)
		rte_pktmbuf_free_bulk(b.done, b.n_done);
	if (b.n_tx)
		send_replies(w, q, &b);
	return n;
}

/* Idle or stopping: no RCU pointer is held past here, and the registry
 * entries this worker replaced are not left stranded with it. */
static void
go_offline(struct dp_worker *w)
{
	if (w->decode.registry != NULL)
		dp_registry_flush(w->decode.registry, w->id);
	atomic_store_explicit(&w->online, false, memory_order_release);
	urcu_qsbr_thread_offline();
	w->rcu_online = false;
}

/*
 * The loop: poll every queue, then a quiescent state (the RCU pointers read
 * in this loop are not held past it). After DP_IDLE_OFFLINE_LOOPS loops
 * with nothing received the worker goes offline, so that a grace period
 * never waits for an idle worker; the next burst brings it back online
 * before it reads a table.
 */
int
dp_worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct dp_plane *dp = w->dp;

	urcu_qsbr_register_thread();
	w->rcu_online = true;
	atomic_store_explicit(&w->online, true, memory_order_release);
	uint64_t last = rte_rdtsc();

	while (!atomic_load_explicit(&dp->stop, memory_order_relaxed)) {
		unsigned got = 0;
		uint64_t now;

		for (unsigned i = 0; i < w->n_rxq; i++)
			got += poll_queue(w, &w->rxq[i]);
		/* The busy ratio, as DPDK's lcore telemetry has it: loops that received. */
		now = rte_rdtsc();
		dp_count(&w->stats.loop_cycles, now - last);
		if (got > 0) {
			dp_count(&w->stats.busy_cycles, now - last);
			dp_count(&w->lat.burst[dp_lat_bucket(now - last)], 1);
			dp_count(&w->lat.burst_cycles, now - last);
		}
		last = now;
		if (got > 0) {
			urcu_qsbr_quiescent_state();
			continue;
		}
		if (w->rcu_online) {
			if (++w->idle_loops >= DP_IDLE_OFFLINE_LOOPS)
				go_offline(w);
			else
				urcu_qsbr_quiescent_state();
		}
		rte_pause();
	}
	if (w->rcu_online)
		go_offline(w);
	urcu_qsbr_unregister_thread();
	return 0;
}
