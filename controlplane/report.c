/*
 * report.c - vigild's counters as a person or a script reads them.
 *
 * The main lcore gathers every worker's counters and every port's own
 * (imissed, ierrors, rx_nombuf: read here and nowhere else) into one
 * cp_report, then prints it as a table or as one JSON object. The JSON
 * shape is a contract with the tests and with operators' scripts:
 * rx_packets, tx_packets, outcomes{}, drops{} (every reason, zero or not),
 * per-worker and per-port figures.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "controlplane.h"

/* ------------------------------------------------------------------------ */
/* Rule hits                                                                 */
/* ------------------------------------------------------------------------ */

int
cp_rule_hits_init(struct cp_rule_hits *h, const struct rule_set *rules, unsigned n_workers)
{
	unsigned n = rules != NULL ? rule_set_count(rules) : 0;

	memset(h, 0, sizeof(*h));
	h->rules = rules;
	h->n_workers = n_workers;
	h->stride = (n + 7) & ~7u; /* 8 counters: one cache line per row end */
	if (h->stride == 0)
		return 0;
	h->count = aligned_alloc(64, sizeof(*h->count) * h->stride * n_workers);
	if (h->count == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < h->stride * n_workers; i++)
		atomic_init(&h->count[i], 0);
	return 0;
}

void
cp_rule_hits_free(struct cp_rule_hits *h)
{
	free(h->count);
	memset(h, 0, sizeof(*h));
}

void
cp_rule_hits_count(void *arg, unsigned worker, const struct dp_decoded *d,
		   const struct rule_input *in, const struct rule_hit *hits, unsigned n)
{
	struct cp_rule_hits *h = arg;
	_Atomic uint64_t *row;

	(void)d;
	(void)in;
	if (h->count == NULL || worker >= h->n_workers)
		return;
	row = &h->count[(size_t)worker * h->stride];
	for (unsigned i = 0; i < n; i++)
		dp_count(&row[hits[i].rule->index], 1);
}

uint64_t
cp_rule_hits_of(const struct cp_rule_hits *h, unsigned index)
{
	uint64_t sum = 0;

	if (h->count == NULL || index >= h->stride)
		return 0;
	for (unsigned w = 0; w < h->n_workers; w++)
		sum += dp_read(&h->count[(size_t)w * h->stride + index]);
	return sum;
}

/* ------------------------------------------------------------------------ */
/* Gathering and printing                                                    */
/* ------------------------------------------------------------------------ */

void
cp_report_gather(struct dp_plane *dp, double elapsed_s, struct cp_report *r)
{
	memset(r, 0, sizeof(*r));
	r->elapsed_s = elapsed_s;
	r->n_workers = dp_n_workers(dp);
	r->n_ports = dp_n_ports(dp);
	for (unsigned w = 0; w < r->n_workers; w++) {
		dp_stats_add(&r->worker[w], dp_worker_stats(dp, w));
		dp_stats_add(&r->total, dp_worker_stats(dp, w));
	}
	for (unsigned p = 0; p < r->n_ports; p++)
		if (dp_port_stats(dp, p, &r->port[p]) != 0)
			r->port[p].name = "?";
}

uint64_t
cp_report_port_drops(const struct cp_report *r)
{
	uint64_t sum = 0;

	for (unsigned p = 0; p < r->n_ports; p++)
		sum += r->port[p].imissed + r->port[p].ierrors + r->port[p].rx_nombuf;
	return sum;
}

static uint64_t
drops_of(const struct dp_stats *s)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < DP_DROP__COUNT; i++)
		sum += dp_read(&s->drop[i]);
	return sum;
}

static void
sum_ports(const struct cp_report *r, uint64_t *imissed, uint64_t *ierrors, uint64_t *nombuf)
{
	*imissed = *ierrors = *nombuf = 0;
	for (unsigned p = 0; p < r->n_ports; p++) {
		*imissed += r->port[p].imissed;
		*ierrors += r->port[p].ierrors;
		*nombuf += r->port[p].rx_nombuf;
	}
}

/* "ruleset": what is loaded; "rule_hits": every rule that fired, in rule order. */
static int
add_rule_hits(json_t *root, const struct cp_rule_hits *h)
{
	const struct rule_set_info *info = rule_set_info(h->rules);
	json_t *hits = json_array();

	if (hits == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < rule_set_count(h->rules); i++) {
		const struct rule *rl = rule_set_rule(h->rules, i);
		uint64_t n = cp_rule_hits_of(h, i);

		if (n == 0)
			continue;
		json_array_append_new(hits,
				      json_pack("{s:I, s:I, s:s, s:s, s:s, s:I}", "sid",
						(json_int_t)rl->sid, "rev", (json_int_t)rl->rev,
						"action", rule_action_name(rl->action), "priority",
						rule_priority_name(rl->priority), "msg", rl->msg,
						"hits", (json_int_t)n));
	}
	json_object_set_new(
		root, "ruleset",
		json_pack("{s:i, s:s}", "rules", (int)info->n_rules, "hash", info->hash));
	json_object_set_new(root, "rule_hits", hits);
	return 0;
}

static json_t *
report_json(const struct cp_report *r)
{
	json_t *root = json_object(), *outcomes = json_object(), *drops = json_object();
	json_t *workers = json_array(), *ports = json_array();
	json_t *hl7 = json_object(), *vtp = json_object(), *rules = json_object();
	uint64_t imissed, ierrors, nombuf;

	if (!root || !outcomes || !drops || !workers || !ports || !hl7 || !vtp || !rules)
		goto fail;
	sum_ports(r, &imissed, &ierrors, &nombuf);
	for (unsigned i = 0; i < DP_OUT__COUNT; i++)
		json_object_set_new(outcomes, dp_outcome_name(i),
				    json_integer((json_int_t)dp_read(&r->total.outcome[i])));
	for (unsigned i = 0; i < DP_DROP__COUNT; i++)
		json_object_set_new(drops, dp_drop_name(i),
				    json_integer((json_int_t)dp_read(&r->total.drop[i])));
	for (unsigned i = 0; i < DP_HL7__COUNT; i++)
		json_object_set_new(hl7, dp_hl7_counter_name(i),
				    json_integer((json_int_t)dp_read(&r->total.hl7[i])));
	for (unsigned i = 0; i < DP_VTP__COUNT; i++)
		json_object_set_new(vtp, dp_vtp_counter_name(i),
				    json_integer((json_int_t)dp_read(&r->total.vtp[i])));
	for (unsigned i = 0; i < RULE_CNT__COUNT; i++)
		json_object_set_new(rules, rule_counter_name(i),
				    json_integer((json_int_t)dp_read(&r->total.rule[i])));
	json_object_set_new(drops, "port_imissed", json_integer((json_int_t)imissed));
	json_object_set_new(drops, "port_ierrors", json_integer((json_int_t)ierrors));
	json_object_set_new(drops, "port_rx_nombuf", json_integer((json_int_t)nombuf));

	for (unsigned w = 0; w < r->n_workers; w++) {
		const struct dp_stats *s = &r->worker[w];

		json_array_append_new(workers,
				      json_pack("{s:i, s:I, s:I, s:I, s:I}", "worker", (int)w,
						"rx_packets", (json_int_t)dp_read(&s->rx_packets),
						"rx_bursts", (json_int_t)dp_read(&s->rx_bursts),
						"tx_packets", (json_int_t)dp_read(&s->tx_packets),
						"dropped", (json_int_t)drops_of(s)));
	}
	for (unsigned p = 0; p < r->n_ports; p++) {
		const struct dp_port_stats *ps = &r->port[p];

		json_array_append_new(
			ports,
			json_pack("{s:s, s:i, s:i, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "name",
				  ps->name ? ps->name : "?", "rx_queues", (int)ps->rx_queues,
				  "tx_queues", (int)ps->tx_queues, "rss", ps->rss, "ipackets",
				  (json_int_t)ps->ipackets, "imissed", (json_int_t)ps->imissed,
				  "ierrors", (json_int_t)ps->ierrors, "rx_nombuf",
				  (json_int_t)ps->rx_nombuf, "opackets", (json_int_t)ps->opackets,
				  "oerrors", (json_int_t)ps->oerrors));
	}
	json_object_set_new(root, "elapsed_s", json_real(r->elapsed_s));
	json_object_set_new(root, "rx_packets",
			    json_integer((json_int_t)dp_read(&r->total.rx_packets)));
	json_object_set_new(root, "rx_bytes",
			    json_integer((json_int_t)dp_read(&r->total.rx_bytes)));
	json_object_set_new(root, "tx_packets",
			    json_integer((json_int_t)dp_read(&r->total.tx_packets)));
	json_object_set_new(root, "outcomes", outcomes);
	json_object_set_new(root, "drops", drops);
	json_object_set_new(root, "hl7", hl7);
	json_object_set_new(root, "vtp", vtp);
	json_object_set_new(root, "rules", rules);
	json_object_set_new(root, "workers", workers);
	json_object_set_new(root, "ports", ports);
	if (r->hits != NULL && r->hits->rules != NULL && add_rule_hits(root, r->hits) != 0) {
		json_decref(root);
		return NULL;
	}
	return root;

fail:
	json_decref(root);
	json_decref(outcomes);
	json_decref(drops);
	json_decref(workers);
	json_decref(ports);
	json_decref(hl7);
	json_decref(vtp);
	json_decref(rules);
	return NULL;
}

static void
print_text(const struct cp_report *r, FILE *out)
{
	uint64_t imissed, ierrors, nombuf, rx = dp_read(&r->total.rx_packets);

	sum_ports(r, &imissed, &ierrors, &nombuf);
	fprintf(out, "vigild: %.3f s, %u worker(s), %u port(s)\n", r->elapsed_s, r->n_workers,
		r->n_ports);
	fprintf(out, "  %-22s %14" PRIu64 "  (%" PRIu64 " bytes)\n", "rx_packets", rx,
		dp_read(&r->total.rx_bytes));
	fprintf(out, "  %-22s %14" PRIu64 "\n", "tx_packets", dp_read(&r->total.tx_packets));
	fprintf(out, "outcomes:\n");
	for (unsigned i = 0; i < DP_OUT__COUNT; i++)
		fprintf(out, "  %-22s %14" PRIu64 "  %s\n", dp_outcome_name(i),
			dp_read(&r->total.outcome[i]), dp_outcome_desc(i));
	fprintf(out, "drops (non-zero):\n");
	for (unsigned i = 0; i < DP_DROP__COUNT; i++) {
		uint64_t v = dp_read(&r->total.drop[i]);

		if (v)
			fprintf(out, "  %-22s %14" PRIu64 "  %s\n", dp_drop_name(i), v,
				dp_drop_desc(i));
	}
	if (imissed)
		fprintf(out, "  %-22s %14" PRIu64 "  RX ring full at the NIC\n", "port_imissed",
			imissed);
	if (ierrors)
		fprintf(out, "  %-22s %14" PRIu64 "  bad frames the NIC dropped\n", "port_ierrors",
			ierrors);
	if (nombuf)
		fprintf(out, "  %-22s %14" PRIu64 "  no mbuf to receive into\n", "port_rx_nombuf",
			nombuf);
	fprintf(out, "decoders:\n");
	for (unsigned i = 0; i < DP_HL7__COUNT; i++) {
		uint64_t v = dp_read(&r->total.hl7[i]);

		/* what was decoded always; malformations when they happened */
		if (v || i <= DP_HL7_device_alarms)
			fprintf(out, "  hl7.%-18s %14" PRIu64 "  %s\n", dp_hl7_counter_name(i), v,
				dp_hl7_counter_desc(i));
	}
	for (unsigned i = 0; i < DP_VTP__COUNT; i++) {
		uint64_t v = dp_read(&r->total.vtp[i]);

		if (v || i <= DP_VTP_observations)
			fprintf(out, "  vtp.%-18s %14" PRIu64 "  %s\n", dp_vtp_counter_name(i), v,
				dp_vtp_counter_desc(i));
	}
	fprintf(out, "rules:\n");
	for (unsigned i = 0; i < RULE_CNT__COUNT; i++) {
		uint64_t v = dp_read(&r->total.rule[i]);

		if (v || i == RULE_CNT_messages || i == RULE_CNT_alerts || i == RULE_CNT_logs)
			fprintf(out, "  rules.%-16s %14" PRIu64 "  %s\n", rule_counter_name(i), v,
				rule_counter_desc(i));
	}
	if (r->hits != NULL && r->hits->rules != NULL) {
		fprintf(out, "rule hits (rules that fired):\n");
		for (unsigned i = 0; i < rule_set_count(r->hits->rules); i++) {
			const struct rule *rl = rule_set_rule(r->hits->rules, i);
			uint64_t n = cp_rule_hits_of(r->hits, i);

			if (n)
				fprintf(out, "  sid %-10u %-5s %-6s %14" PRIu64 "  %s\n", rl->sid,
					rule_action_name(rl->action),
					rule_priority_name(rl->priority), n, rl->msg);
		}
	}
	for (unsigned p = 0; p < r->n_ports; p++)
		fprintf(out,
			"port %u %s: %u rxq, %u txq, rss %s, ipackets %" PRIu64
			", opackets %" PRIu64 "\n",
			p, r->port[p].name, r->port[p].rx_queues, r->port[p].tx_queues,
			r->port[p].rss ? "on" : "off", r->port[p].ipackets, r->port[p].opackets);
}

int
cp_report_print(const struct cp_report *r, bool json, FILE *out)
{
	errno = 0;
	if (json) {
		json_t *root = report_json(r);
		int rc;

		if (root == NULL)
			return -ENOMEM;
		rc = json_dumpf(root, out, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(root);
		if (rc == 0)
			fputc('\n', out);
	} else {
		print_text(r, out);
	}
	if (fflush(out) != 0 || ferror(out))
		return errno ? -errno : -EIO;
	return 0;
}
