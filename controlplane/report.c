/*
 * report.c - vigild's counters as a person or a script reads them.
 *
 * The main lcore gathers every worker's counters and every port's own
 * (imissed, ierrors, rx_nombuf: read here and nowhere else) into one
 * cp_report, adds what only it can see (the ruleset bundle in force, read
 * as an online QSBR reader; the consumer's counters; the registry's size;
 * the reload counts), then prints it as a table or as one JSON object. The
 * JSON shape is a contract with the tests and with operators' scripts:
 * rx_packets, tx_packets, outcomes{}, drops{} (every reason, zero or not),
 * events{}, tables{}, consumer{} and storage{} (every counter, zero or
 * not, named by the X-macro lists), storage_info{}, per-worker and per-port figures, and the
 * ruleset with the hits of each rule that fired since its version was loaded.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "controlplane.h"

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
		r->worker_ruleset[w] = dp_worker_ruleset_version(dp, w);
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

/* The wall-clock time @p ns as ISO-8601 UTC with milliseconds. */
static void
iso_time(int64_t ns, char *buf, size_t len)
{
	if (ns <= 0 || store_time_format(ns, 3, buf, len) != 0)
		snprintf(buf, len, "unknown");
}

/* "ruleset": what is in force; "rule_hits": every rule that fired since, in rule order. */
static int
add_ruleset(json_t *root, const struct dp_ruleset *rs)
{
	const struct rule_set_info *info = rule_set_info(rs->set);
	json_t *hits = json_array(), *set;
	char loaded[40];
	int rc;

	if (hits == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < rule_set_count(rs->set); i++) {
		const struct rule *rl = rule_set_rule(rs->set, i);
		uint64_t n = dp_ruleset_hits(rs, i);

		if (n == 0)
			continue;
		if (json_array_append_new(hits,
					  json_pack("{s:I, s:I, s:s, s:s, s:s, s:I}", "sid",
						    (json_int_t)rl->sid, "rev", (json_int_t)rl->rev,
						    "action", rule_action_name(rl->action),
						    "priority", rule_priority_name(rl->priority),
						    "msg", rl->msg, "hits", (json_int_t)n)) != 0) {
			json_decref(hits);
			return -ENOMEM;
		}
	}
	iso_time(rs->loaded_ns, loaded, sizeof(loaded));
	set = json_pack("{s:I, s:i, s:s, s:s}", "version", (json_int_t)rs->version, "rules",
			(int)info->n_rules, "hash", info->hash, "loaded", loaded);
	/* json_object_set_new takes (on failure frees) its value, and fails on NULL. */
	rc = json_object_set_new(root, "rule_hits", hits);
	rc |= json_object_set_new(root, "ruleset", set);
	return rc != 0 ? -ENOMEM : 0;
}

/* The counters of the event hand-off, the tables, the consumer, the registry, reloads. */
static int
add_tables(json_t *root, const struct cp_report *r)
{
	json_t *events = json_object(), *tables = json_object(), *consumer = json_object();
	json_t *registry, *reloads;
	int rc = 0;

	for (unsigned i = 0; events && i < DP_EVC__COUNT; i++)
		rc |= json_object_set_new(events, dp_event_counter_name(i),
					  json_integer((json_int_t)dp_read(&r->total.event[i])));
	for (unsigned i = 0; tables && i < DP_TAB__COUNT; i++)
		rc |= json_object_set_new(tables, dp_table_counter_name(i),
					  json_integer((json_int_t)dp_read(&r->total.table[i])));
	for (unsigned i = 0; consumer && i < CP_CONS__COUNT; i++)
		rc |= json_object_set_new(consumer, cp_consumer_counter_name(i),
					  json_integer((json_int_t)r->consumer[i]));
	registry = json_pack("{s:i}", "devices", (int)r->registry_devices);
	reloads = json_pack("{s:I, s:I}", "good", (json_int_t)r->reloads_good, "refused",
			    (json_int_t)r->reloads_refused);
	/* json_object_set_new takes its value even when it fails. */
	rc |= json_object_set_new(root, "events", events);
	rc |= json_object_set_new(root, "tables", tables);
	rc |= json_object_set_new(root, "consumer", consumer);
	rc |= json_object_set_new(root, "registry", registry);
	rc |= json_object_set_new(root, "reloads", reloads);
	return rc != 0 ? -ENOMEM : 0;
}

/*
 * "storage": the store's counters and the persist hooks' in one object
 * (their names do not overlap), zero when storage is off; "storage_info":
 * where it is and how it stands.
 */
static int
add_storage(json_t *root, const struct cp_report *r)
{
	const struct cp_persist_state *st = &r->persist_state;
	json_t *storage = json_object(), *info;
	int rc = 0;

	for (unsigned i = 0; storage && i < STORE_CNT__COUNT; i++)
		rc |= json_object_set_new(storage, store_counter_name(i),
					  json_integer((json_int_t)r->store[i]));
	for (unsigned i = 0; storage && i < CP_PERSIST__COUNT; i++)
		rc |= json_object_set_new(storage, cp_persist_counter_name(i),
					  json_integer((json_int_t)r->persist[i]));
	info = json_pack("{s:o, s:i, s:b, s:o, s:i}", "dir",
			 r->storage_dir != NULL ? json_string(r->storage_dir) : json_null(),
			 "sealed_key", (int)r->storage_key_id, "failing", st->failing, "error",
			 st->rc != 0 ? json_string(strerror(-st->rc)) : json_null(),
			 "alarms_queued", (int)st->queued);
	rc |= json_object_set_new(root, "storage", storage);
	rc |= json_object_set_new(root, "storage_info", info);
	return rc != 0 ? -ENOMEM : 0;
}

/* "alarms", "clinical", "patients": every counter, zero when there is no pipeline. */
static int
add_clinical(json_t *root, const struct cp_report *r)
{
	json_t *alarms = json_object(), *clin = json_object(), *pat = json_object();
	json_t *open = json_object();
	int rc = alarms && clin && pat && open ? 0 : -1;

	for (unsigned i = 0; rc == 0 && i < CP_ALM__COUNT; i++)
		rc |= json_object_set_new(alarms, cp_alarm_counter_name(i),
					  json_integer((json_int_t)r->alarm[i]));
	for (unsigned i = RULE_PRIO_LOW; rc == 0 && i < RULE_PRIO__COUNT; i++)
		rc |= json_object_set_new(open, rule_priority_name(i),
					  json_integer((json_int_t)r->open_alarms[i]));
	for (unsigned i = 0; rc == 0 && i < CP_CLIN__COUNT; i++)
		rc |= json_object_set_new(clin, cp_clinical_counter_name(i),
					  json_integer((json_int_t)r->clin[i]));
	for (unsigned i = 0; rc == 0 && i < CP_PAT__COUNT; i++)
		rc |= json_object_set_new(pat, cp_patient_counter_name(i),
					  json_integer((json_int_t)r->patient[i]));
	if (rc == 0)
		rc |= json_object_set_new(pat, "count", json_integer(r->patients));
	if (rc == 0) {
		rc |= json_object_set_new(alarms, "open", open);
		open = NULL;
	}
	rc |= json_object_set_new(root, "alarms", alarms);
	rc |= json_object_set_new(root, "clinical", clin);
	rc |= json_object_set_new(root, "patients", pat);
	json_decref(open);
	return rc != 0 ? -ENOMEM : 0;
}

/* "control": the control server's counters, zero without a socket. */
static int
add_control(json_t *root, const struct cp_report *r)
{
	json_t *ctl = json_object();
	int rc = ctl != NULL ? 0 : -1;

	for (unsigned i = 0; rc == 0 && i < CP_CTL__COUNT; i++)
		rc |= json_object_set_new(ctl, cp_ctl_counter_name(i),
					  json_integer((json_int_t)r->ctl[i]));
	rc |= json_object_set_new(root, "control", ctl);
	return rc != 0 ? -ENOMEM : 0;
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

		json_array_append_new(
			workers, json_pack("{s:i, s:I, s:I, s:I, s:I, s:I}", "worker", (int)w,
					   "rx_packets", (json_int_t)dp_read(&s->rx_packets),
					   "rx_bursts", (json_int_t)dp_read(&s->rx_bursts),
					   "tx_packets", (json_int_t)dp_read(&s->tx_packets),
					   "dropped", (json_int_t)drops_of(s), "ruleset_version",
					   (json_int_t)r->worker_ruleset[w]));
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
	if (add_tables(root, r) != 0 || add_storage(root, r) != 0 || add_clinical(root, r) != 0 ||
	    add_control(root, r) != 0 ||
	    (r->ruleset != NULL && r->ruleset->set != NULL && add_ruleset(root, r->ruleset) != 0)) {
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
print_ruleset(const struct dp_ruleset *rs, FILE *out)
{
	const struct rule_set_info *info = rule_set_info(rs->set);
	char loaded[40];

	iso_time(rs->loaded_ns, loaded, sizeof(loaded));
	fprintf(out, "ruleset: version %" PRIu64 ", %u rules, hash %.16s, loaded %s\n", rs->version,
		info->n_rules, info->hash, loaded);
	fprintf(out, "rule hits since then (rules that fired):\n");
	for (unsigned i = 0; i < rule_set_count(rs->set); i++) {
		const struct rule *rl = rule_set_rule(rs->set, i);
		uint64_t n = dp_ruleset_hits(rs, i);

		if (n)
			fprintf(out, "  sid %-10u %-5s %-6s %14" PRIu64 "  %s\n", rl->sid,
				rule_action_name(rl->action), rule_priority_name(rl->priority), n,
				rl->msg);
	}
}

/* One "group.name  value  description" line, aligned for the longest name. */
static void
print_named(FILE *out, const char *group, const char *name, uint64_t v, const char *desc)
{
	char full[64];

	snprintf(full, sizeof(full), "%s.%s", group, name);
	fprintf(out, "  %-27s %14" PRIu64 "  %s\n", full, v, desc);
}

/* Events, tables and the consumer: what happened always, losses and misses when they did. */
static void
print_tables(const struct cp_report *r, FILE *out)
{
	fprintf(out, "events:\n");
	for (unsigned i = 0; i < DP_EVC__COUNT; i++) {
		uint64_t v = dp_read(&r->total.event[i]);

		if (v || i == DP_EVC_alarm_events || i == DP_EVC_telemetry_events ||
		    i == DP_EVC_alarm_lost)
			print_named(out, "events", dp_event_counter_name(i), v,
				    dp_event_counter_desc(i));
	}
	fprintf(out, "tables:\n");
	for (unsigned i = 0; i < DP_TAB__COUNT; i++) {
		uint64_t v = dp_read(&r->total.table[i]);

		if (v || i == DP_TAB_acl_denied || i == DP_TAB_registry_inserts ||
		    i == DP_TAB_ruleset_swaps)
			print_named(out, "tables", dp_table_counter_name(i), v,
				    dp_table_counter_desc(i));
	}
	fprintf(out, "consumer:\n");
	for (unsigned i = 0; i < CP_CONS__COUNT; i++)
		if (r->consumer[i] || i == CP_CONS_alarm_events || i == CP_CONS_telemetry_events ||
		    i == CP_CONS_loss_alarms)
			print_named(out, "consumer", cp_consumer_counter_name(i), r->consumer[i],
				    cp_consumer_counter_desc(i));
	fprintf(out, "registry: %u devices; reloads: %" PRIu64 " good, %" PRIu64 " refused\n",
		r->registry_devices, r->reloads_good, r->reloads_refused);
}

/* One line on storage, then its failure counters when they are not zero. */
static void
print_storage(const struct cp_report *r, FILE *out)
{
	static const enum store_counter store_failures[] = {
		STORE_CNT_obs_failed,	STORE_CNT_alarms_failed, STORE_CNT_audit_failed,
		STORE_CNT_write_errors, STORE_CNT_no_space,	 STORE_CNT_unseal_failed,
		STORE_CNT_unknown_key,	STORE_CNT_bad_values,
	};
	static const enum cp_persist_counter persist_failures[] = {
		CP_PERSIST_obs_store_failed, CP_PERSIST_alarm_store_failed,
		CP_PERSIST_alarms_retried,   CP_PERSIST_alarm_retry_lost,
		CP_PERSIST_alarm_refused,    CP_PERSIST_alarm_encode_failed,
		CP_PERSIST_disk_full_alarms, CP_PERSIST_storage_recovered,
		CP_PERSIST_events_ignored,
	};
	const struct cp_persist_state *st = &r->persist_state;
	char sealed[32];

	if (r->storage_dir == NULL) {
		fprintf(out, "storage: off: nothing is kept\n");
		return;
	}
	if (r->storage_key_id != 0)
		snprintf(sealed, sizeof(sealed), "sealed with key %u", r->storage_key_id);
	else
		snprintf(sealed, sizeof(sealed), "not sealed");
	fprintf(out,
		"storage: %s (%s): %" PRIu64 " observations written in %" PRIu64
		" batches, %" PRIu64 " alarm records stored%s",
		r->storage_dir, sealed, r->store[STORE_CNT_obs_written],
		r->store[STORE_CNT_obs_batches], r->persist[CP_PERSIST_alarms_stored],
		st->failing ? "" : "\n");
	if (st->failing)
		fprintf(out, "; FAILING (%s): %u alarm records wait in memory\n",
			st->rc != 0 ? strerror(-st->rc) : "?", st->queued);
	for (size_t i = 0; i < sizeof(store_failures) / sizeof(store_failures[0]); i++)
		if (r->store[store_failures[i]])
			print_named(out, "storage", store_counter_name(store_failures[i]),
				    r->store[store_failures[i]],
				    store_counter_desc(store_failures[i]));
	for (size_t i = 0; i < sizeof(persist_failures) / sizeof(persist_failures[0]); i++)
		if (r->persist[persist_failures[i]])
			print_named(out, "storage", cp_persist_counter_name(persist_failures[i]),
				    r->persist[persist_failures[i]],
				    cp_persist_counter_desc(persist_failures[i]));
}

/* The alarms open now, and what the manager and the pipeline did. */
static void
print_clinical(const struct cp_report *r, FILE *out)
{
	static const enum cp_alarm_counter shown[] = {
		CP_ALM_raised,	CP_ALM_escalated, CP_ALM_acked,	     CP_ALM_cleared,
		CP_ALM_latched, CP_ALM_reset,	  CP_ALM_suppressed, CP_ALM_restored,
	};

	if (!r->clinical)
		return;
	fprintf(out,
		"alarms: %u open (%u high, %u medium, %u low); %u patients; %" PRIu64
		" changes announced (%" PRIu64 " before being stored)\n",
		r->open_alarms[RULE_PRIO_HIGH] + r->open_alarms[RULE_PRIO_MEDIUM] +
			r->open_alarms[RULE_PRIO_LOW],
		r->open_alarms[RULE_PRIO_HIGH], r->open_alarms[RULE_PRIO_MEDIUM],
		r->open_alarms[RULE_PRIO_LOW], r->patients,
		r->clin[CP_CLIN_announced] + r->clin[CP_CLIN_announced_unstored],
		r->clin[CP_CLIN_announced_unstored]);
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		if (r->alarm[shown[i]])
			print_named(out, "alarms", cp_alarm_counter_name(shown[i]),
				    r->alarm[shown[i]], cp_alarm_counter_desc(shown[i]));
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
	if (r->ruleset != NULL && r->ruleset->set != NULL)
		print_ruleset(r->ruleset, out);
	print_tables(r, out);
	print_storage(r, out);
	print_clinical(r, out);
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
