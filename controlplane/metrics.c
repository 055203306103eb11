/*
 * metrics.c - Prometheus /metrics: every counter of the monitor's latest sample.
 *
 * GET /metrics answers with the text exposition format 0.0.4: every family
 * has its # HELP and # TYPE, is named vigil_*, counters end in _total and
 * units are in the names (_seconds, _bytes). The values are the monitor's
 * latest sample (cp_monitor_read), so a scrape never touches the data plane
 * or an RCU table; rates are Prometheus' business.
 *
 * The endpoint is unauthenticated, so only a loopback address is accepted
 * (127.0.0.0/8, ::1, "localhost"): exposing it takes a proxy in front. One
 * libmicrohttpd thread serves at most METRICS_MAX_CONNS connections, each
 * closed after METRICS_TIMEOUT_S seconds of silence. The listening socket
 * is bound here, so a port in use is said as such, then handed to MHD.
 *
 * The per-worker lists of the data plane (outcomes, drops, decoder, rule,
 * event and table counters) are one family each with the counter as a
 * label; the control plane's counters (store, persist, consumer, clinical,
 * alarms, patients) are one family per counter, its description as HELP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "controlplane.h"

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "unknown"
#endif

#define METRICS_MAX_CONNS 16u /**< connections served at once (more wait in the backlog) */
#define METRICS_TIMEOUT_S 10u /**< a connection silent this long is closed */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct cp_metrics {
	struct MHD_Daemon *daemon;
	struct cp_monitor *monitor;
};

/* ------------------------------------------------------------------------ */
/* The exposition                                                            */
/* ------------------------------------------------------------------------ */

/* @p s with backslash and newline escaped (HELP text), and double quotes too (label values). */
static void
put_escaped(FILE *out, const char *s, bool quotes)
{
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else if (*s == '"' && quotes)
			fputs("\\\"", out);
		else
			fputc(*s, out);
	}
}

/* "# HELP name help" and "# TYPE name type"; the help's end is written by the caller. */
static void
help_start(FILE *out, const char *name, const char *help)
{
	fprintf(out, "# HELP %s ", name);
	put_escaped(out, help, false);
}

static void
help_end(FILE *out, const char *name, const char *type)
{
	fprintf(out, "\n# TYPE %s %s\n", name, type);
}

static void
family(FILE *out, const char *name, const char *type, const char *help)
{
	help_start(out, name, help);
	help_end(out, name, type);
}

/* One label pair ("name=\"value\"") after @p first (false: a comma first). */
static void
label(FILE *out, bool first, const char *name, const char *value)
{
	fprintf(out, "%s%s=\"", first ? "" : ",", name);
	put_escaped(out, value, true);
	fputc('"', out);
}

static void
put_double(FILE *out, double v)
{
	if (isnan(v))
		fputs("NaN", out);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", out);
	else
		fprintf(out, "%.15g", v);
}

/* A sample without labels. */
static void
sample_u(FILE *out, const char *name, uint64_t v)
{
	fprintf(out, "%s %" PRIu64 "\n", name, v);
}

static void
sample_d(FILE *out, const char *name, double v)
{
	fprintf(out, "%s ", name);
	put_double(out, v);
	fputc('\n', out);
}

/* A counter or gauge family of one sample, no labels. */
static void
single_u(FILE *out, const char *name, const char *type, const char *help, uint64_t v)
{
	family(out, name, type, help);
	sample_u(out, name, v);
}

static void
single_d(FILE *out, const char *name, const char *type, const char *help, double v)
{
	family(out, name, type, help);
	sample_d(out, name, v);
}

/* ------------------------------------------------------------------------ */
/* The data plane's per-worker lists: one family each, the counter a label   */
/* ------------------------------------------------------------------------ */

static const char *
outcome_name(unsigned i)
{
	return dp_outcome_name((enum dp_outcome)i);
}
static const char *
outcome_desc(unsigned i)
{
	return dp_outcome_desc((enum dp_outcome)i);
}
static const char *
drop_name(unsigned i)
{
	return dp_drop_name((enum dp_drop)i);
}
static const char *
drop_desc(unsigned i)
{
	return dp_drop_desc((enum dp_drop)i);
}
static const char *
hl7_name(unsigned i)
{
	return dp_hl7_counter_name((enum dp_hl7_counter)i);
}
static const char *
hl7_desc(unsigned i)
{
	return dp_hl7_counter_desc((enum dp_hl7_counter)i);
}
static const char *
vtp_name(unsigned i)
{
	return dp_vtp_counter_name((enum dp_vtp_counter)i);
}
static const char *
vtp_desc(unsigned i)
{
	return dp_vtp_counter_desc((enum dp_vtp_counter)i);
}
static const char *
rule_name(unsigned i)
{
	return rule_counter_name((enum rule_counter)i);
}
static const char *
rule_desc(unsigned i)
{
	return rule_counter_desc((enum rule_counter)i);
}
static const char *
event_name(unsigned i)
{
	return dp_event_counter_name((enum dp_event_counter)i);
}
static const char *
event_desc(unsigned i)
{
	return dp_event_counter_desc((enum dp_event_counter)i);
}
static const char *
table_name(unsigned i)
{
	return dp_table_counter_name((enum dp_table_counter)i);
}
static const char *
table_desc(unsigned i)
{
	return dp_table_counter_desc((enum dp_table_counter)i);
}

struct worker_list {
	const char *family; /**< "vigil_drops_total" */
	const char *label;  /**< "reason" */
	const char *intro;  /**< the HELP text before the list of names */
	unsigned n;
	const char *(*name)(unsigned);
	const char *(*desc)(unsigned);
	size_t offset; /**< of the _Atomic uint64_t array in struct dp_stats */
};

static const struct worker_list worker_lists[] = {
	{"vigil_outcomes_total", "outcome",
	 "Frames a worker took that ended in an outcome, by outcome", DP_OUT__COUNT, outcome_name,
	 outcome_desc, offsetof(struct dp_stats, outcome)},
	{"vigil_drops_total", "reason", "Frames a worker dropped, by reason", DP_DROP__COUNT,
	 drop_name, drop_desc, offsetof(struct dp_stats, drop)},
	{"vigil_hl7_total", "counter", "HL7 decoder counters (decoded, then malformations)",
	 DP_HL7__COUNT, hl7_name, hl7_desc, offsetof(struct dp_stats, hl7)},
	{"vigil_vtp_total", "counter", "VTP decoder counters (delivered, then malformations)",
	 DP_VTP__COUNT, vtp_name, vtp_desc, offsetof(struct dp_stats, vtp)},
	{"vigil_rule_eval_total", "counter", "Rule evaluator counters", RULE_CNT__COUNT, rule_name,
	 rule_desc, offsetof(struct dp_stats, rule)},
	{"vigil_events_total", "counter", "Event hand-off counters (the ALARM and TELEMETRY rings)",
	 DP_EVC__COUNT, event_name, event_desc, offsetof(struct dp_stats, event)},
	{"vigil_tables_total", "counter", "RCU table counters (telemetry ACL, device registry)",
	 DP_TAB__COUNT, table_name, table_desc, offsetof(struct dp_stats, table)},
};

static void
worker_label(FILE *out, unsigned w)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", w);
	label(out, true, "worker", buf);
}

static void
write_worker_list(FILE *out, const struct cp_report *r, unsigned n_workers,
		  const struct worker_list *l)
{
	help_start(out, l->family, l->intro);
	fprintf(out, "; %s: ", l->label);
	for (unsigned i = 0; i < l->n; i++) {
		fprintf(out, "%s%s (", i > 0 ? "; " : "", l->name(i));
		put_escaped(out, l->desc(i), false);
		fputc(')', out);
	}
	help_end(out, l->family, "counter");
	for (unsigned w = 0; w < n_workers; w++) {
		const _Atomic uint64_t *v =
			(const _Atomic uint64_t *)((const char *)&r->worker[w] + l->offset);

		for (unsigned i = 0; i < l->n; i++) {
			fprintf(out, "%s{", l->family);
			worker_label(out, w);
			label(out, false, l->label, l->name(i));
			fprintf(out, "} %" PRIu64 "\n", dp_read(&v[i]));
		}
	}
}

/* A per-worker counter of struct dp_stats: one family, one sample a worker. */
static void
write_worker_counter(FILE *out, const struct cp_report *r, unsigned n_workers, const char *name,
		     const char *help, size_t offset)
{
	family(out, name, "counter", help);
	for (unsigned w = 0; w < n_workers; w++) {
		const _Atomic uint64_t *v =
			(const _Atomic uint64_t *)((const char *)&r->worker[w] + offset);

		fprintf(out, "%s{", name);
		worker_label(out, w);
		fprintf(out, "} %" PRIu64 "\n", dp_read(v));
	}
}

/*
 * A worker latency histogram (dp_lat) as a Prometheus histogram in seconds.
 * Its buckets end at powers of two of TSC cycles, where dp_lat's own
 * buckets end too, so each cumulative count is exact: 64 cycles to 2^31.
 */
static void
write_latency(FILE *out, const struct cp_sample *cur, unsigned n_workers, const char *name,
	      const char *help, bool decision)
{
	family(out, name, "histogram", help);
	for (unsigned w = 0; w < n_workers && cur->tsc_hz > 0; w++) {
		const uint64_t *h = decision ? cur->lat_decision[w] : cur->lat_burst[w];
		uint64_t sum = decision ? cur->lat_decision_cycles[w] : cur->lat_burst_cycles[w];
		uint64_t below = 0;
		unsigned b = 0;

		for (unsigned k = 6; k <= 31; k++) {
			/* every bucket that ends at or below 2^k cycles */
			while (b < DP_LAT_BUCKETS - 1 && dp_lat_low(b + 1) <= (uint64_t)1 << k)
				below += h[b++];
			fprintf(out, "%s_bucket{", name);
			worker_label(out, w);
			fprintf(out, ",le=\"%.9g\"} %" PRIu64 "\n",
				(double)((uint64_t)1 << k) / cur->tsc_hz, below);
		}
		while (b < DP_LAT_BUCKETS)
			below += h[b++];
		fprintf(out, "%s_bucket{", name);
		worker_label(out, w);
		fprintf(out, ",le=\"+Inf\"} %" PRIu64 "\n", below);
		fprintf(out, "%s_sum{", name);
		worker_label(out, w);
		fprintf(out, "} %.9g\n", (double)sum / cur->tsc_hz);
		fprintf(out, "%s_count{", name);
		worker_label(out, w);
		fprintf(out, "} %" PRIu64 "\n", below);
	}
}

/* ------------------------------------------------------------------------ */
/* The control plane's counters: one family per counter                      */
/* ------------------------------------------------------------------------ */

static const char *
store_name(unsigned i)
{
	return store_counter_name((enum store_counter)i);
}
static const char *
store_desc(unsigned i)
{
	return store_counter_desc((enum store_counter)i);
}
static const char *
persist_name(unsigned i)
{
	return cp_persist_counter_name((enum cp_persist_counter)i);
}
static const char *
persist_desc(unsigned i)
{
	return cp_persist_counter_desc((enum cp_persist_counter)i);
}
static const char *
consumer_name(unsigned i)
{
	return cp_consumer_counter_name((enum cp_consumer_counter)i);
}
static const char *
consumer_desc(unsigned i)
{
	return cp_consumer_counter_desc((enum cp_consumer_counter)i);
}
static const char *
control_name(unsigned i)
{
	return cp_ctl_counter_name((enum cp_ctl_counter)i);
}

static const char *
control_desc(unsigned i)
{
	return cp_ctl_counter_desc((enum cp_ctl_counter)i);
}

static const char *
clinical_name(unsigned i)
{
	return cp_clinical_counter_name((enum cp_clinical_counter)i);
}
static const char *
clinical_desc(unsigned i)
{
	return cp_clinical_counter_desc((enum cp_clinical_counter)i);
}
static const char *
alarm_name(unsigned i)
{
	return cp_alarm_counter_name((enum cp_alarm_counter)i);
}
static const char *
alarm_desc(unsigned i)
{
	return cp_alarm_counter_desc((enum cp_alarm_counter)i);
}
static const char *
patient_name(unsigned i)
{
	return cp_patient_counter_name((enum cp_patient_counter)i);
}
static const char *
patient_desc(unsigned i)
{
	return cp_patient_counter_desc((enum cp_patient_counter)i);
}

/* vigil_<prefix>_<name>_total for each of @p n counters. */
static void
write_counter_list(FILE *out, const char *prefix, unsigned n, const char *(*name)(unsigned),
		   const char *(*desc)(unsigned), const uint64_t *v)
{
	char fam[128];

	for (unsigned i = 0; i < n; i++) {
		snprintf(fam, sizeof(fam), "vigil_%s_%s_total", prefix, name(i));
		single_u(out, fam, "counter", desc(i), v[i]);
	}
}

/* ------------------------------------------------------------------------ */
/* Families of their own                                                     */
/* ------------------------------------------------------------------------ */

static const char *
port_name(const struct cp_report *r, unsigned p, char *buf, size_t len)
{
	const char *name = r->port[p].name;

	if (name == NULL || name[0] == '\0' || strcmp(name, "?") == 0) {
		snprintf(buf, len, "port%u", p);
		return buf;
	}
	return name;
}

enum port_field { PF_IPACKETS, PF_OPACKETS, PF_IMISSED, PF_IERRORS, PF_NOMBUF, PF_OERRORS };

static uint64_t
port_value(const struct dp_port_stats *s, enum port_field f)
{
	switch (f) {
	case PF_IPACKETS:
		return s->ipackets;
	case PF_OPACKETS:
		return s->opackets;
	case PF_IMISSED:
		return s->imissed;
	case PF_IERRORS:
		return s->ierrors;
	case PF_NOMBUF:
		return s->rx_nombuf;
	case PF_OERRORS:
		return s->oerrors;
	}
	return 0;
}

static void
write_ports(FILE *out, const struct cp_sample *cur, unsigned n_ports)
{
	static const struct {
		const char *name;
		const char *help;
		enum port_field f;
	} fields[] = {
		{"vigil_port_rx_packets_total", "Frames the port received (the NIC's count)",
		 PF_IPACKETS},
		{"vigil_port_tx_packets_total", "Frames the port sent", PF_OPACKETS},
		{"vigil_port_imissed_total", "Frames the NIC dropped: its RX ring was full",
		 PF_IMISSED},
		{"vigil_port_ierrors_total", "Erroneous frames the NIC dropped", PF_IERRORS},
		{"vigil_port_rx_nombuf_total", "Frames dropped for want of an mbuf", PF_NOMBUF},
		{"vigil_port_tx_errors_total", "Frames the port failed to send", PF_OERRORS},
	};
	const struct cp_report *r = &cur->r;
	char buf[32];

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		family(out, fields[i].name, "counter", fields[i].help);
		for (unsigned p = 0; p < n_ports; p++) {
			fprintf(out, "%s{", fields[i].name);
			label(out, true, "port", port_name(r, p, buf, sizeof(buf)));
			fprintf(out, "} %" PRIu64 "\n", port_value(&r->port[p], fields[i].f));
		}
	}
	family(out, "vigil_port_link_up", "gauge", "1 when the port's link is up, else 0");
	for (unsigned p = 0; p < n_ports; p++) {
		fputs("vigil_port_link_up{", out);
		label(out, true, "port", port_name(r, p, buf, sizeof(buf)));
		fprintf(out, "} %d\n", cur->link_up[p] ? 1 : 0);
	}
	family(out, "vigil_port_link_speed_bytes_per_second", "gauge",
	       "The port's link speed (0: unknown or down)");
	for (unsigned p = 0; p < n_ports; p++) {
		fputs("vigil_port_link_speed_bytes_per_second{", out);
		label(out, true, "port", port_name(r, p, buf, sizeof(buf)));
		fprintf(out, "} %" PRIu64 "\n", (uint64_t)cur->link_speed_mbps[p] * 125000u);
	}
}

static void
write_rings(FILE *out, const struct cp_sample *cur, unsigned n_workers)
{
	static const struct {
		const char *name;
		const char *help;
	} fams[] = {
		{"vigil_ring_capacity", "Events a worker's ring can hold, by lane"},
		{"vigil_ring_queued", "Events waiting on a worker's ring, by lane"},
		{"vigil_ring_high_water", "The most events a worker's ring has held, by lane"},
	};

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(out, fams[f].name, "gauge", fams[f].help);
		for (unsigned w = 0; w < n_workers; w++)
			for (unsigned l = 0; l < DP_LANE__COUNT; l++) {
				unsigned v = f == 0   ? cur->ring_size[w][l]
					     : f == 1 ? cur->ring_count[w][l]
						      : cur->ring_high_water[w][l];

				fprintf(out, "%s{", fams[f].name);
				worker_label(out, w);
				label(out, false, "lane", dp_lane_name((enum dp_lane)l));
				fprintf(out, "} %u\n", v);
			}
	}
}

static void
write_ruleset(FILE *out, const struct cp_sample *cur)
{
	const struct cp_ruleset_brief *rb = &cur->rules;
	const json_t *hits = cur->stats != NULL ? json_object_get(cur->stats, "rule_hits") : NULL;
	size_t i;
	json_t *h;

	single_u(out, "vigil_ruleset_loaded", "gauge", "1 when a ruleset is in force, else 0",
		 rb->loaded ? 1 : 0);
	single_u(out, "vigil_ruleset_version", "gauge",
		 "Version of the ruleset in force (0: none); each reload adds one",
		 rb->loaded ? rb->version : 0);
	family(out, "vigil_ruleset_info", "gauge",
	       "The ruleset in force: its SHA-256 hash as a label, value 1");
	if (rb->loaded) {
		fputs("vigil_ruleset_info{", out);
		label(out, true, "hash", rb->hash);
		fputs("} 1\n", out);
	}
	single_d(out, "vigil_ruleset_loaded_timestamp_seconds", "gauge",
		 "When the ruleset in force was put in force (Unix time; 0: none)",
		 rb->loaded ? (double)rb->loaded_ns / 1e9 : 0);
	single_d(out, "vigil_ruleset_compile_seconds", "gauge",
		 "Time the ruleset in force took to compile",
		 rb->loaded ? rb->compile_ms / 1e3 : 0);
	single_u(out, "vigil_ruleset_patterns", "gauge",
		 "Patterns in the ruleset's Hyperscan database", rb->loaded ? rb->n_patterns : 0);
	family(out, "vigil_rules", "gauge", "Rules in force, by action");
	for (unsigned a = 0; a < RULE_ACTION__COUNT; a++) {
		fputs("vigil_rules{", out);
		label(out, true, "action", rule_action_name((enum rule_action)a));
		fprintf(out, "} %u\n", rb->loaded ? rb->by_action[a] : 0);
	}
	single_u(out, "vigil_rules_disabled", "gauge",
		 "Rules of the ruleset in force left disabled", rb->loaded ? rb->n_disabled : 0);

	family(out, "vigil_rule_hits_total", "counter",
	       "Hits of each rule that fired since its ruleset version was put in force");
	json_array_foreach(hits, i, h)
	{
		json_int_t sid = json_integer_value(json_object_get(h, "sid"));
		json_int_t n = json_integer_value(json_object_get(h, "hits"));
		const char *prio = json_string_value(json_object_get(h, "priority"));
		const char *msg = json_string_value(json_object_get(h, "msg"));
		char buf[24];

		/* The ruleset loader refuses a duplicate sid: one series per rule. */
		if (n < 0)
			continue;
		snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)sid);
		fputs("vigil_rule_hits_total{", out);
		label(out, true, "sid", buf);
		label(out, false, "priority", prio != NULL ? prio : "");
		label(out, false, "msg", msg != NULL ? msg : "");
		fprintf(out, "} %" PRId64 "\n", (int64_t)n);
	}
}

static void
write_storage(FILE *out, const struct cp_sample *cur)
{
	static const struct {
		const char *name;
		const char *help;
	} cf_fams[] = {
		{"vigil_storage_bytes", "Live bytes of a column family (RocksDB's estimate)"},
		{"vigil_storage_keys", "Keys in a column family (RocksDB's estimate)"},
		{"vigil_storage_sst_files", "SST files of a column family"},
	};
	const struct cp_report *r = &cur->r;

	single_u(out, "vigil_storage_enabled", "gauge",
		 "1 when storage is on (storage.dir), else 0", r->storage_dir != NULL ? 1 : 0);
	single_u(out, "vigil_storage_failing", "gauge",
		 "1 while storage writes fail (disk full, I/O error), else 0",
		 r->persist_state.failing ? 1 : 0);
	single_u(out, "vigil_storage_alarms_queued", "gauge",
		 "Alarm records kept in memory for a retry while writes fail",
		 r->persist_state.queued);
	write_counter_list(out, "store", STORE_CNT__COUNT, store_name, store_desc, r->store);
	write_counter_list(out, "persist", CP_PERSIST__COUNT, persist_name, persist_desc,
			   r->persist);
	for (size_t f = 0; f < sizeof(cf_fams) / sizeof(cf_fams[0]); f++) {
		family(out, cf_fams[f].name, "gauge", cf_fams[f].help);
		if (!cur->storage_stats)
			continue;
		for (unsigned c = 0; c < STORE_CF__COUNT; c++) {
			uint64_t v = f == 0   ? cur->cf[c].live_bytes
				     : f == 1 ? cur->cf[c].keys
					      : cur->cf[c].sst_files;

			fprintf(out, "%s{", cf_fams[f].name);
			label(out, true, "cf", store_cf_name((enum store_cf)c));
			fprintf(out, "} %" PRIu64 "\n", v);
		}
	}
}

static void
write_clinical(FILE *out, const struct cp_sample *cur)
{
	const struct cp_report *r = &cur->r;

	single_u(out, "vigil_clinical_enabled", "gauge",
		 "1 when the clinical pipeline (alarms, patients) runs, else 0",
		 r->clinical ? 1 : 0);
	write_counter_list(out, "clinical", CP_CLIN__COUNT, clinical_name, clinical_desc, r->clin);
	write_counter_list(out, "alarms", CP_ALM__COUNT, alarm_name, alarm_desc, r->alarm);
	family(out, "vigil_alarms_open", "gauge",
	       "Alarms open (not cleared or reset), by priority");
	for (unsigned p = 0; p < RULE_PRIO__COUNT; p++) {
		fputs("vigil_alarms_open{", out);
		label(out, true, "priority", rule_priority_name((enum rule_priority)p));
		fprintf(out, "} %u\n", r->open_alarms[p]);
	}
	single_u(out, "vigil_patients", "gauge", "Patients the patient state holds", r->patients);
	write_counter_list(out, "control", CP_CTL__COUNT, control_name, control_desc, r->ctl);
	write_counter_list(out, "patients", CP_PAT__COUNT, patient_name, patient_desc, r->patient);
}

int
cp_metrics_write(const struct cp_sample *cur, FILE *out)
{
	const struct cp_report *r;
	unsigned n_workers, n_ports;

	if (cur == NULL || out == NULL)
		return -EINVAL;
	r = &cur->r;
	n_workers = r->n_workers < DP_MAX_WORKERS ? r->n_workers : DP_MAX_WORKERS;
	n_ports = r->n_ports < DP_MAX_PORTS ? r->n_ports : DP_MAX_PORTS;

	family(out, "vigil_build_info", "gauge", "vigild's version as a label, value 1");
	fputs("vigil_build_info{", out);
	label(out, true, "version", VIGIL_VERSION);
	fputs("} 1\n", out);
	single_d(out, "vigil_uptime_seconds", "gauge", "Time since vigild started", cur->uptime_s);
	single_d(out, "vigil_sample_timestamp_seconds", "gauge",
		 "When the sample these values come from was taken (Unix time)",
		 (double)cur->time_ns / 1e9);
	single_u(out, "vigil_workers", "gauge", "Data-plane workers", n_workers);
	single_u(out, "vigil_ports", "gauge", "Ports the data plane polls", n_ports);

	write_worker_counter(out, r, n_workers, "vigil_rx_packets_total",
			     "Frames a worker took from its RX queues",
			     offsetof(struct dp_stats, rx_packets));
	write_worker_counter(out, r, n_workers, "vigil_rx_bytes_total",
			     "Bytes of the frames a worker took from its RX queues",
			     offsetof(struct dp_stats, rx_bytes));
	write_worker_counter(out, r, n_workers, "vigil_rx_bursts_total",
			     "Non-empty RX bursts of a worker",
			     offsetof(struct dp_stats, rx_bursts));
	write_worker_counter(out, r, n_workers, "vigil_tx_packets_total",
			     "Replies (ARP, ICMP, ND) the PMD accepted from a worker",
			     offsetof(struct dp_stats, tx_packets));
	write_worker_counter(
		out, r, n_workers, "vigil_worker_busy_cycles_total",
		"TSC cycles of a worker's poll loops that received a frame (busy ratio: "
		"rate of this over rate of vigil_worker_loop_cycles_total)",
		offsetof(struct dp_stats, busy_cycles));
	write_worker_counter(out, r, n_workers, "vigil_worker_loop_cycles_total",
			     "TSC cycles of all of a worker's poll loops",
			     offsetof(struct dp_stats, loop_cycles));
	write_latency(out, cur, n_workers, "vigil_worker_decision_seconds",
		      "Time a worker took for one decision: rule evaluation of a message and "
		      "the hand-off of its hits to the ALARM ring",
		      true);
	write_latency(out, cur, n_workers, "vigil_worker_burst_seconds",
		      "Time a worker took for one burst, from its poll to the last frame handed "
		      "off: the longest any frame of the burst spent in the worker",
		      false);
	family(out, "vigil_worker_ruleset_version", "gauge",
	       "Ruleset version a worker last evaluated with");
	for (unsigned w = 0; w < n_workers; w++) {
		fputs("vigil_worker_ruleset_version{", out);
		worker_label(out, w);
		fprintf(out, "} %" PRIu64 "\n", r->worker_ruleset[w]);
	}
	for (size_t i = 0; i < sizeof(worker_lists) / sizeof(worker_lists[0]); i++)
		write_worker_list(out, r, n_workers, &worker_lists[i]);

	write_ports(out, cur, n_ports);
	write_rings(out, cur, n_workers);
	write_ruleset(out, cur);

	single_u(out, "vigil_registry_devices", "gauge", "Devices in the device registry",
		 r->registry_devices);
	family(out, "vigil_reloads_total", "counter",
	       "Rule reloads, by result (good: put in force; refused: errors, the old one kept)");
	fprintf(out, "vigil_reloads_total{result=\"good\"} %" PRIu64 "\n", r->reloads_good);
	fprintf(out, "vigil_reloads_total{result=\"refused\"} %" PRIu64 "\n", r->reloads_refused);
	write_counter_list(out, "consumer", CP_CONS__COUNT, consumer_name, consumer_desc,
			   r->consumer);
	write_storage(out, cur);
	write_clinical(out, cur);

	if (fflush(out) != 0 || ferror(out))
		return errno != 0 ? -errno : -EIO;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The HTTP server                                                           */
/* ------------------------------------------------------------------------ */

static int
write_sample(void *arg, const struct cp_sample *cur, const struct cp_sample *prev)
{
	(void)prev;
	return cp_metrics_write(cur, arg);
}

/* Queue a response of @p len bytes of @p body (freed with free() when @p owned). */
static enum MHD_Result
respond(struct MHD_Connection *conn, unsigned status, const char *type, void *body, size_t len,
	bool owned, bool allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(
		len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
	    (allow &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
respond_text(struct MHD_Connection *conn, unsigned status, const char *text, bool allow)
{
	return respond(conn, status, "text/plain; charset=utf-8", (void *)text, strlen(text), false,
		       allow);
}

static enum MHD_Result
answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
       const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct cp_metrics *x = cls;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	int rc;

	(void)version;
	(void)upload_data;
	if (strcmp(url, "/metrics") != 0)
		return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found: vigild serves /metrics\n",
				    false);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				    "method not allowed: /metrics takes GET\n", true);
	/*
	 * Answered on the second call, once the request is read: a response
	 * queued on the first would close the connection (no keep-alive). A
	 * body sent with the GET is taken and ignored.
	 */
	if (*con_cls == NULL) {
		*con_cls = x;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}

	mem = open_memstream(&buf, &len);
	if (mem == NULL)
		return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", false);
	rc = cp_monitor_read(x->monitor, write_sample, mem);
	if (fclose(mem) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc == -EAGAIN || rc == -ENOSYS) {
		free(buf);
		return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no sample yet\n", false);
	}
	if (rc != 0) {
		free(buf);
		return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "the metrics could not be written\n", false);
	}
	return respond(conn, MHD_HTTP_OK, METRICS_CONTENT_TYPE, buf, len, true, false);
}

/* ------------------------------------------------------------------------ */
/* The listen address                                                        */
/* ------------------------------------------------------------------------ */

/*
 * "127.0.0.1:9650", "[::1]:9650" or "localhost:9650" into @p sa.
 * @return 0, -EINVAL (malformed: @p err says so), -EPERM (not loopback).
 */
static int
parse_listen(const char *addr, struct sockaddr_storage *sa, socklen_t *salen, char *err,
	     size_t errlen)
{
	char host[64];
	const char *colon, *port_s;
	size_t hlen;
	unsigned long port;
	char *end;

	memset(sa, 0, sizeof(*sa));
	if (addr[0] == '[') {
		const char *bracket = strchr(addr, ']');

		if (bracket == NULL || bracket[1] != ':')
			goto malformed;
		hlen = (size_t)(bracket - addr - 1);
		if (hlen >= sizeof(host))
			goto malformed;
		memcpy(host, addr + 1, hlen);
		port_s = bracket + 2;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL)
			goto malformed;
		hlen = (size_t)(colon - addr);
		if (hlen >= sizeof(host))
			goto malformed;
		memcpy(host, addr, hlen);
		if (memchr(host, ':', hlen) != NULL) {
			snprintf(
				err, errlen,
				"metrics.listen %s: write an IPv6 address in brackets ([::1]:9650)",
				addr);
			return -EINVAL;
		}
		port_s = colon + 1;
	}
	host[hlen] = '\0';
	if (port_s[0] < '0' || port_s[0] > '9')
		goto malformed;
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (errno != 0 || *end != '\0' || port > 65535 || end - port_s > 5)
		goto malformed;

	if (addr[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			goto malformed;
		if (!IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			goto not_loopback;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*salen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;

		if (strcasecmp(host, "localhost") == 0)
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			goto not_loopback; /* a name, or no address (every address) */
		if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127)
			goto not_loopback;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*salen = sizeof(*s4);
	}
	return 0;

malformed:
	snprintf(err, errlen,
		 "metrics.listen %s: expected ADDR:PORT, a loopback address and a port 0-65535 "
		 "(127.0.0.1:9650, [::1]:9650, localhost:9650)",
		 addr);
	return -EINVAL;
not_loopback:
	snprintf(err, errlen,
		 "metrics.listen %s: not a loopback address; /metrics is unauthenticated, put a "
		 "proxy in front to expose it",
		 addr);
	return -EPERM;
}

/* ------------------------------------------------------------------------ */
/* Start and stop                                                            */
/* ------------------------------------------------------------------------ */

int
cp_metrics_start(const char *addr, struct cp_monitor *m, struct cp_metrics **out, char *err,
		 size_t errlen)
{
	struct sockaddr_storage sa;
	socklen_t salen = 0;
	struct cp_metrics *x = NULL;
	int fd = -1, one = 1, rc;

	*out = NULL;
	if (addr == NULL || m == NULL) {
		snprintf(err, errlen, "metrics: no listen address or no monitor");
		return -EINVAL;
	}
	rc = parse_listen(addr, &sa, &salen, err, errlen);
	if (rc != 0) {
		rc = -EINVAL;
		goto fail;
	}
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "metrics.listen %s: socket: %s", addr, strerror(-rc));
		goto fail;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (sa.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)) {
		rc = -errno;
		snprintf(err, errlen, "metrics.listen %s: setsockopt: %s", addr, strerror(-rc));
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&sa, salen) != 0) {
		rc = -errno;
		if (rc == -EADDRINUSE)
			snprintf(err, errlen,
				 "metrics.listen %s: port in use (another vigild or another "
				 "exporter?); pick a free port",
				 addr);
		else if (rc == -EADDRNOTAVAIL)
			snprintf(err, errlen,
				 "metrics.listen %s: address not available here (is the loopback "
				 "interface up, IPv6 enabled?)",
				 addr);
		else
			snprintf(err, errlen, "metrics.listen %s: bind: %s", addr, strerror(-rc));
		goto fail;
	}
	if (listen(fd, (int)METRICS_MAX_CONNS) != 0) {
		rc = -errno;
		snprintf(err, errlen, "metrics.listen %s: listen: %s", addr, strerror(-rc));
		goto fail;
	}
	x = calloc(1, sizeof(*x));
	if (x == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "metrics: out of memory");
		goto fail;
	}
	x->monitor = m;
	x->daemon = MHD_start_daemon(
		MHD_USE_AUTO_INTERNAL_THREAD | (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0,
		NULL, NULL, answer, x, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_CONNECTION_LIMIT, METRICS_MAX_CONNS, MHD_OPTION_CONNECTION_TIMEOUT,
		METRICS_TIMEOUT_S, MHD_OPTION_END);
	if (x->daemon == NULL) {
		/*
		 * Whether MHD closed the socket on its way out depends on where
		 * it failed; closing it again could close another thread's
		 * descriptor, so it is left open (vigild is about to exit).
		 */
		fd = -1;
		rc = -ENOMEM;
		snprintf(err, errlen,
			 "metrics.listen %s: the HTTP server did not start (out of memory or "
			 "threads?)",
			 addr);
		goto fail;
	}
	*out = x;
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	free(x);
	return rc;
}

void
cp_metrics_stop(struct cp_metrics *x)
{
	if (x == NULL)
		return;
	MHD_stop_daemon(x->daemon); /* closes the listening socket */
	free(x);
}
