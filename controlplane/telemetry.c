/*
 * telemetry.c - vigil's commands on DPDK telemetry (/vigil/status, /workers,
 * /ports, /rules, /alarms).
 *
 * DPDK's telemetry thread serves <runtime dir>/dpdk_telemetry.v2 (and
 * `dpdk-telemetry.py -f PREFIX`); the commands registered here answer from
 * the monitor's latest sample (and the one before, for rates), never from
 * the data plane itself. DPDK 22.11 cannot unregister a command and keeps
 * its thread running after rte_eal_cleanup, so the monitor is reached
 * through a pointer set once by cp_telemetry_register and cleared by
 * cp_telemetry_detach (under a lock every answer holds), after which the
 * commands answer an error rather than read freed memory.
 *
 * Answers are dicts. Keys may only hold letters, digits, '_' and '/' (DPDK
 * refuses others), so a port is keyed by its name with other characters
 * made '_' (its real name is in "name"). 22.11 has no real or boolean
 * values: ratios are per mille, flags 0 or 1. A command that takes no
 * parameter refuses one, and a bad parameter is -EINVAL (DPDK answers
 * null).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <rte_telemetry.h>

#include "controlplane.h"

static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cp_monitor *tel_monitor; /* under tel_lock */
static bool tel_registered;	       /* under tel_lock */

/* What one command asks of the sample. */
struct tel_query {
	struct rte_tel_data *d;
	long worker; /**< /vigil/workers,N: N; -1 none */
};

/* ------------------------------------------------------------------------ */
/* Building dicts: the first error is kept, the rest are skipped             */
/* ------------------------------------------------------------------------ */

static void
put_u64(struct rte_tel_data *d, const char *name, uint64_t v, int *rc)
{
	if (*rc == 0) {
		int r = rte_tel_data_add_dict_u64(d, name, v);

		if (r < 0)
			*rc = r;
	}
}

static void
put_str(struct rte_tel_data *d, const char *name, const char *s, int *rc)
{
	if (*rc == 0) {
		int r = rte_tel_data_add_dict_string(d, name, s);

		if (r < 0) /* a positive E2BIG: cut to RTE_TEL_MAX_STRING_LEN, still answered */
			*rc = r;
	}
}

/* A new dict for put_dict, or NULL (then *rc is -ENOMEM). */
static struct rte_tel_data *
new_dict(int *rc)
{
	struct rte_tel_data *c;

	if (*rc != 0)
		return NULL;
	c = rte_tel_data_alloc();
	if (c == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	rte_tel_data_start_dict(c);
	return c;
}

/* Hand @p c over to @p d (freed with it), or free it. */
static void
put_dict(struct rte_tel_data *d, const char *name, struct rte_tel_data *c, int *rc)
{
	if (c == NULL)
		return;
	if (*rc == 0) {
		int r = rte_tel_data_add_dict_container(d, name, c, 0);

		if (r == 0)
			return;
		*rc = r;
	}
	rte_tel_data_free(c);
}

/* ------------------------------------------------------------------------ */
/* Figures of a sample                                                       */
/* ------------------------------------------------------------------------ */

static uint64_t
worker_drops(const struct dp_stats *s)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < DP_DROP__COUNT; i++)
		sum += dp_read(&s->drop[i]);
	return sum;
}

/* Busy ratio in per mille: over the last interval, or since start without one. */
static uint64_t
busy_permille(const struct cp_sample *cur, const struct cp_sample *prev, unsigned w)
{
	uint64_t busy = cur->busy_cycles[w], loop = cur->loop_cycles[w];

	if (prev != NULL && w < prev->r.n_workers && loop > prev->loop_cycles[w] &&
	    busy >= prev->busy_cycles[w]) {
		busy -= prev->busy_cycles[w];
		loop -= prev->loop_cycles[w];
	}
	if (loop == 0)
		return 0;
	if (busy > loop)
		busy = loop;
	return (uint64_t)((double)busy * 1000.0 / (double)loop + 0.5);
}

/* Per second between the two samples (0 without the one before). */
static uint64_t
rate_of(uint64_t now, uint64_t before, const struct cp_sample *cur, const struct cp_sample *prev)
{
	double dt;

	if (prev == NULL || now < before)
		return 0;
	dt = cur->mono_s - prev->mono_s;
	if (dt <= 0)
		return 0;
	return (uint64_t)((double)(now - before) / dt + 0.5);
}

static unsigned
open_total(const struct cp_sample *cur)
{
	unsigned n = 0;

	for (unsigned p = 0; p < RULE_PRIO__COUNT; p++)
		n += cur->r.open_alarms[p];
	return n;
}

/* ------------------------------------------------------------------------ */
/* The commands' answers (run under the monitor's lock)                      */
/* ------------------------------------------------------------------------ */

static int
status_of(void *arg, const struct cp_sample *cur, const struct cp_sample *prev)
{
	struct tel_query *q = arg;
	struct rte_tel_data *d = q->d;
	const struct cp_report *r = &cur->r;
	char key[32];
	int rc = 0;

	(void)prev;
	rte_tel_data_start_dict(d);
	put_u64(d, "uptime_s", cur->uptime_s > 0 ? (uint64_t)cur->uptime_s : 0, &rc);
	put_u64(d, "rx_packets", dp_read(&r->total.rx_packets), &rc);
	put_u64(d, "tx_packets", dp_read(&r->total.tx_packets), &rc);
	put_u64(d, "drops", worker_drops(&r->total) + cp_report_port_drops(r), &rc);
	put_u64(d, "port_drops", cp_report_port_drops(r), &rc);
	put_u64(d, "workers", r->n_workers, &rc);
	put_u64(d, "ports", r->n_ports, &rc);
	put_u64(d, "ruleset_version", cur->rules.loaded ? cur->rules.version : 0, &rc);
	put_u64(d, "rules", cur->rules.loaded ? cur->rules.n_rules : 0, &rc);
	put_u64(d, "alarms_open", open_total(cur), &rc);
	for (unsigned p = 0; p < RULE_PRIO__COUNT; p++) {
		snprintf(key, sizeof(key), "open_%s", rule_priority_name((enum rule_priority)p));
		put_u64(d, key, r->open_alarms[p], &rc);
	}
	put_str(d, "storage",
		r->storage_dir == NULL	   ? "off"
		: r->persist_state.failing ? "failing"
					   : "ok",
		&rc);
	put_u64(d, "storage_failing", r->persist_state.failing ? 1 : 0, &rc);
	put_u64(d, "patients", r->patients, &rc);
	put_u64(d, "devices", r->registry_devices, &rc);
	return rc;
}

static int
worker_one(struct rte_tel_data *d, const struct cp_sample *cur, const struct cp_sample *prev,
	   unsigned w, bool by_reason)
{
	const struct dp_stats *s = &cur->r.worker[w];
	uint64_t rx = dp_read(&s->rx_packets);
	uint64_t rx_before =
		prev != NULL && w < prev->r.n_workers ? dp_read(&prev->r.worker[w].rx_packets) : 0;
	int rc = 0;

	put_u64(d, "rx_packets", rx, &rc);
	put_u64(d, "rx_pps", rate_of(rx, rx_before, cur, prev), &rc);
	put_u64(d, "busy_permille", busy_permille(cur, prev, w), &rc);
	put_u64(d, "drops", worker_drops(s), &rc);
	put_u64(d, "ruleset_version", cur->r.worker_ruleset[w], &rc);
	if (by_reason) {
		struct rte_tel_data *c = new_dict(&rc);

		for (unsigned i = 0; c != NULL && i < DP_DROP__COUNT; i++) {
			uint64_t n = dp_read(&s->drop[i]);

			if (n != 0)
				put_u64(c, dp_drop_name((enum dp_drop)i), n, &rc);
		}
		put_dict(d, "drops_by_reason", c, &rc);
	}
	return rc;
}

static int
workers_of(void *arg, const struct cp_sample *cur, const struct cp_sample *prev)
{
	struct tel_query *q = arg;
	struct rte_tel_data *d = q->d;
	char key[16];
	int rc = 0;

	if (q->worker >= 0) {
		if ((unsigned long)q->worker >= cur->r.n_workers)
			return -EINVAL;
		rte_tel_data_start_dict(d);
		put_u64(d, "worker", (uint64_t)q->worker, &rc);
		if (rc == 0)
			rc = worker_one(d, cur, prev, (unsigned)q->worker, true);
		return rc;
	}
	rte_tel_data_start_dict(d);
	for (unsigned w = 0; w < cur->r.n_workers && rc == 0; w++) {
		struct rte_tel_data *c = new_dict(&rc);

		if (c != NULL)
			rc = worker_one(c, cur, prev, w, false);
		snprintf(key, sizeof(key), "%u", w);
		put_dict(d, key, c, &rc);
	}
	return rc;
}

/* A port's name as a telemetry key: what DPDK refuses becomes '_'. */
static void
port_key(const char *name, unsigned port, char *out, size_t len)
{
	size_t n = 0;

	if (name == NULL || name[0] == '\0') {
		snprintf(out, len, "port%u", port);
		return;
	}
	for (; name[n] != '\0' && n + 1 < len; n++) {
		char ch = name[n];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '_' || ch == '/';

		out[n] = ok ? ch : '_';
	}
	out[n] = '\0';
}

static int
ports_of(void *arg, const struct cp_sample *cur, const struct cp_sample *prev)
{
	struct tel_query *q = arg;
	struct rte_tel_data *d = q->d;
	char key[DP_MAX_PORTS][72];
	int rc = 0;

	rte_tel_data_start_dict(d);
	for (unsigned p = 0; p < cur->r.n_ports && p < DP_MAX_PORTS && rc == 0; p++) {
		const struct dp_port_stats *ps = &cur->r.port[p];
		const struct dp_port_stats *pp =
			prev != NULL && p < prev->r.n_ports ? &prev->r.port[p] : NULL;
		struct rte_tel_data *c = new_dict(&rc);

		port_key(ps->name, p, key[p], sizeof(key[p]) - 8);
		for (unsigned o = 0; o < p; o++)
			if (strcmp(key[o], key[p]) == 0) { /* two names made alike */
				size_t n = strlen(key[p]);

				snprintf(key[p] + n, sizeof(key[p]) - n, "_%u", p);
				break;
			}
		put_u64(c, "port", p, &rc);
		put_str(c, "name", ps->name != NULL ? ps->name : "", &rc);
		put_u64(c, "ipackets", ps->ipackets, &rc);
		put_u64(c, "imissed", ps->imissed, &rc);
		put_u64(c, "ierrors", ps->ierrors, &rc);
		put_u64(c, "rx_nombuf", ps->rx_nombuf, &rc);
		put_u64(c, "opackets", ps->opackets, &rc);
		put_u64(c, "oerrors", ps->oerrors, &rc);
		put_u64(c, "ipps", rate_of(ps->ipackets, pp != NULL ? pp->ipackets : 0, cur, prev),
			&rc);
		put_u64(c, "link_up", cur->link_up[p] ? 1 : 0, &rc);
		put_u64(c, "link_speed_mbps", cur->link_speed_mbps[p], &rc);
		put_dict(d, key[p], c, &rc);
	}
	return rc;
}

static int
rules_of(void *arg, const struct cp_sample *cur, const struct cp_sample *prev)
{
	struct tel_query *q = arg;
	struct rte_tel_data *d = q->d;
	const struct cp_ruleset_brief *b = &cur->rules;
	struct rte_tel_data *c;
	int rc = 0;

	(void)prev;
	rte_tel_data_start_dict(d);
	put_u64(d, "loaded", b->loaded ? 1 : 0, &rc);
	put_u64(d, "version", b->version, &rc);
	put_u64(d, "rules", b->n_rules, &rc);
	put_u64(d, "disabled", b->n_disabled, &rc);
	put_u64(d, "patterns", b->n_patterns, &rc);
	put_str(d, "hash", b->hash, &rc);
	c = new_dict(&rc);
	for (unsigned a = 0; c != NULL && a < RULE_ACTION__COUNT; a++)
		put_u64(c, rule_action_name((enum rule_action)a), b->by_action[a], &rc);
	put_dict(d, "by_action", c, &rc);
	c = new_dict(&rc);
	for (unsigned p = 0; c != NULL && p < RULE_PRIO__COUNT; p++)
		put_u64(c, rule_priority_name((enum rule_priority)p), b->by_priority[p], &rc);
	put_dict(d, "by_priority", c, &rc);
	put_u64(d, "compile_ms", b->compile_ms > 0 ? (uint64_t)(b->compile_ms + 0.5) : 0, &rc);
	put_u64(d, "compile_us", b->compile_ms > 0 ? (uint64_t)(b->compile_ms * 1000.0 + 0.5) : 0,
		&rc);
	put_u64(d, "loaded_unix_s", b->loaded_ns > 0 ? (uint64_t)(b->loaded_ns / 1000000000) : 0,
		&rc);
	put_u64(d, "reloads_good", cur->r.reloads_good, &rc);
	put_u64(d, "reloads_refused", cur->r.reloads_refused, &rc);
	return rc;
}

static int
alarms_of(void *arg, const struct cp_sample *cur, const struct cp_sample *prev)
{
	struct tel_query *q = arg;
	struct rte_tel_data *d = q->d;
	const struct cp_report *r = &cur->r;
	struct rte_tel_data *c;
	int rc = 0;

	(void)prev;
	rte_tel_data_start_dict(d);
	put_u64(d, "clinical", r->clinical ? 1 : 0, &rc);
	put_u64(d, "open_total", open_total(cur), &rc);
	c = new_dict(&rc);
	for (unsigned p = 0; c != NULL && p < RULE_PRIO__COUNT; p++)
		put_u64(c, rule_priority_name((enum rule_priority)p), r->open_alarms[p], &rc);
	put_dict(d, "open", c, &rc);
	c = new_dict(&rc);
	for (unsigned i = 0; c != NULL && i < CP_ALM__COUNT; i++)
		put_u64(c, cp_alarm_counter_name((enum cp_alarm_counter)i), r->alarm[i], &rc);
	put_dict(d, "counters", c, &rc);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The callbacks (DPDK's telemetry thread)                                   */
/* ------------------------------------------------------------------------ */

static bool
no_param(const char *params)
{
	return params == NULL || params[0] == '\0';
}

static int
answer(struct rte_tel_data *d, struct tel_query *q,
       int (*fn)(void *arg, const struct cp_sample *cur, const struct cp_sample *prev))
{
	const char *why = NULL;
	int rc;

	q->d = d;
	pthread_mutex_lock(&tel_lock);
	if (tel_monitor == NULL) {
		why = "vigild is stopping";
		rc = 0;
	} else {
		rc = cp_monitor_read(tel_monitor, fn, q);
		if (rc == -EAGAIN) {
			why = "no sample yet";
			rc = 0;
		}
	}
	pthread_mutex_unlock(&tel_lock);
	if (why != NULL) {
		rte_tel_data_start_dict(d); /* starts afresh */
		rc = rte_tel_data_add_dict_string(d, "error", why);
	}
	return rc < 0 ? rc : 0;
}

static int
cmd_status(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct tel_query q = {.worker = -1};

	(void)cmd;
	if (!no_param(params))
		return -EINVAL;
	return answer(d, &q, status_of);
}

static int
cmd_workers(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct tel_query q = {.worker = -1};

	(void)cmd;
	if (!no_param(params)) {
		long w = 0;

		for (const char *p = params; *p != '\0'; p++) {
			if (*p < '0' || *p > '9' || w >= DP_MAX_WORKERS)
				return -EINVAL;
			w = w * 10 + (*p - '0');
		}
		if (w >= DP_MAX_WORKERS)
			return -EINVAL;
		q.worker = w;
	}
	return answer(d, &q, workers_of);
}

static int
cmd_ports(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct tel_query q = {.worker = -1};

	(void)cmd;
	if (!no_param(params))
		return -EINVAL;
	return answer(d, &q, ports_of);
}

static int
cmd_rules(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct tel_query q = {.worker = -1};

	(void)cmd;
	if (!no_param(params))
		return -EINVAL;
	return answer(d, &q, rules_of);
}

static int
cmd_alarms(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct tel_query q = {.worker = -1};

	(void)cmd;
	if (!no_param(params))
		return -EINVAL;
	return answer(d, &q, alarms_of);
}

/* Help texts stay under RTE_TEL_MAX_STRING_LEN (128) bytes: /help cuts longer ones. */
static const struct {
	const char *cmd;
	telemetry_cb fn;
	const char *help;
} tel_cmds[] = {
	{"/vigil/status", cmd_status,
	 "vigild at a glance: uptime, packets, drops, ruleset, open alarms by priority, storage, "
	 "patients, devices. No parameters."},
	{"/vigil/workers", cmd_workers,
	 "Per worker: rx_packets, rx_pps, busy_permille, drops. Parameter: a worker id, for that "
	 "worker's drops by reason."},
	{"/vigil/ports", cmd_ports,
	 "Per port (keyed by name): ipackets, imissed, ierrors, rx_nombuf, opackets, link_up. No "
	 "parameters."},
	{"/vigil/rules", cmd_rules,
	 "The ruleset in force: version, rules, disabled, patterns, hash, by action, by priority, "
	 "compile time. No parameters."},
	{"/vigil/alarms", cmd_alarms,
	 "Open alarms by priority, their total, and the alarm manager's counters. No parameters."},
};

int
cp_telemetry_register(struct cp_monitor *m)
{
	int rc = 0;

	if (m == NULL)
		return -EINVAL;
	pthread_mutex_lock(&tel_lock);
	if (tel_registered) {
		rc = -EALREADY;
		goto out;
	}
	tel_monitor = m;
	for (size_t i = 0; i < sizeof(tel_cmds) / sizeof(tel_cmds[0]); i++) {
		rc = rte_telemetry_register_cmd(tel_cmds[i].cmd, tel_cmds[i].fn, tel_cmds[i].help);
		if (rc < 0)
			break;
		tel_registered = true; /* a command is in: never register it twice */
	}
out:
	pthread_mutex_unlock(&tel_lock);
	return rc;
}

void
cp_telemetry_detach(void)
{
	pthread_mutex_lock(&tel_lock);
	tel_monitor = NULL;
	pthread_mutex_unlock(&tel_lock);
}
