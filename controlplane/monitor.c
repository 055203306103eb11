/*
 * monitor.c - a sample of every counter, once a second, for the readers
 * that must not touch the data plane themselves.
 *
 * vigild's main loop calls cp_monitor_sample once a second. A sample is
 * what a report holds (cp_report: every worker's and port's counters, the
 * consumer's, the store's, the persist hooks', the clinical pipeline's),
 * plus what only a live plane can say: each port's link, each worker's
 * busy and loop cycles, each event ring's size, fill and high-water mark,
 * the store's column families (RocksDB properties), the ruleset in force
 * copied out of its RCU bundle (struct cp_ruleset_brief), and the JSON
 * object `vigild --json` prints (cp_report_print), rule hits included.
 *
 * The control socket, the Prometheus endpoint and DPDK telemetry read the
 * latest two samples under the monitor's lock (cp_monitor_read); rates are
 * their difference. So none of those threads reads a port, a worker's
 * counters or an RCU table, and a slow reader holds up nothing but the
 * next swap.
 *
 * Threads: one sampler (vigild's main lcore, a registered QSBR reader,
 * offline between its reads). A sample is gathered outside the lock into
 * a spare buffer, then the pointers are swapped under the lock: the latest
 * sample becomes the previous one, the previous one the next spare. The
 * sampler goes online only to read the bundle in force and the registry
 * and print the report into memory; it never blocks while online.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <urcu/urcu-qsbr.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "controlplane.h"

struct cp_monitor {
	struct cp_sources src; /* storage_dir points at dir_copy */
	char *dir_copy;
	double mono_start;	   /* uptime when src.started_ns is 0 */
	pthread_mutex_t sampling;  /* one sampler at a time (it owns spare) */
	pthread_mutex_t lock;	   /* cur and prev, and the swap */
	struct cp_sample *pool[3]; /* the three buffers below take turns */
	unsigned n_used;	   /* of pool, handed out so far */
	struct cp_sample *cur;	   /* NULL before the first sample */
	struct cp_sample *prev;	   /* NULL before the second */
	struct cp_sample *spare;   /* the sampler's, outside the lock */
	struct cp_ctl *ctl;	   /* the control server (sampling thread's), or NULL */
};

/* ------------------------------------------------------------------------ */
/* Clocks and small helpers                                                  */
/* ------------------------------------------------------------------------ */

static int64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The wall-clock time @p ns as ISO-8601 UTC with milliseconds; NULL when unknown. */
static json_t *
iso_json(int64_t ns)
{
	char buf[48];

	if (ns <= 0 || store_time_format(ns, 3, buf, sizeof(buf)) != 0)
		return json_null();
	return json_string(buf);
}

static void
sample_clear(struct cp_sample *s)
{
	json_decref(s->stats);
	memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------------ */
/* The monitor                                                               */
/* ------------------------------------------------------------------------ */

int
cp_monitor_new(const struct cp_sources *src, struct cp_monitor **out)
{
	struct cp_monitor *m;
	int rc = -ENOMEM;

	if (src == NULL || out == NULL)
		return -EINVAL;
	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->src = *src;
	if (src->storage_dir != NULL) {
		m->dir_copy = strdup(src->storage_dir);
		if (m->dir_copy == NULL)
			goto fail;
		m->src.storage_dir = m->dir_copy;
	}
	for (unsigned i = 0; i < 3; i++) {
		m->pool[i] = calloc(1, sizeof(*m->pool[i]));
		if (m->pool[i] == NULL)
			goto fail;
	}
	m->spare = m->pool[0];
	m->n_used = 1;
	m->mono_start = mono_s();
	rc = -pthread_mutex_init(&m->lock, NULL);
	if (rc != 0)
		goto fail;
	rc = -pthread_mutex_init(&m->sampling, NULL);
	if (rc != 0) {
		pthread_mutex_destroy(&m->lock);
		goto fail;
	}
	*out = m;
	return 0;

fail:
	for (unsigned i = 0; i < 3; i++)
		free(m->pool[i]);
	free(m->dir_copy);
	free(m);
	return rc;
}

void
cp_monitor_free(struct cp_monitor *m)
{
	if (m == NULL)
		return;
	for (unsigned i = 0; i < 3; i++) {
		json_decref(m->pool[i]->stats);
		free(m->pool[i]);
	}
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->sampling);
	free(m->dir_copy);
	free(m);
}

void
cp_monitor_set_ctl(struct cp_monitor *m, struct cp_ctl *ctl)
{
	pthread_mutex_lock(&m->sampling);
	m->ctl = ctl;
	pthread_mutex_unlock(&m->sampling);
}

const struct cp_sources *
cp_monitor_sources(const struct cp_monitor *m)
{
	return &m->src;
}

/* ------------------------------------------------------------------------ */
/* Gathering one sample                                                      */
/* ------------------------------------------------------------------------ */

/* What main.c's report() adds to cp_report_gather, but the RCU reads. */
static void
gather_counters(const struct cp_sources *src, struct cp_report *r)
{
	if (src->consumer != NULL)
		cp_consumer_counters(src->consumer, r->consumer);
	if (src->store != NULL) {
		r->storage_dir = src->storage_dir != NULL ? src->storage_dir : "?";
		r->storage_key_id = store_seal_key_id(src->store);
		store_counters(src->store, r->store);
	}
	if (src->persist != NULL) {
		cp_persist_counters(src->persist, r->persist);
		cp_persist_state(src->persist, &r->persist_state);
	}
	if (src->reloader != NULL)
		cp_reload_counts(src->reloader, &r->reloads_good, &r->reloads_refused);
	r->clinical = src->clinical != NULL;
	if (src->clinical != NULL) {
		struct cp_alarms *alarms = cp_clinical_alarms(src->clinical);
		struct cp_patients *patients = cp_clinical_patients(src->clinical);

		cp_clinical_counters(src->clinical, r->clin);
		cp_alarms_counters(alarms, r->alarm);
		cp_alarms_open_by_priority(alarms, r->open_alarms);
		cp_patients_counters(patients, r->patient);
		r->patients = cp_patients_count(patients);
	}
}

/* Each port's link, looked up by the name the plane gave it (the name DPDK knows). */
static void
gather_links(struct cp_sample *s)
{
	for (unsigned p = 0; p < s->r.n_ports && p < DP_MAX_PORTS; p++) {
		struct rte_eth_link link;
		uint16_t id;

		if (s->r.port[p].name == NULL ||
		    rte_eth_dev_get_port_by_name(s->r.port[p].name, &id) != 0)
			continue;
		memset(&link, 0, sizeof(link));
		if (rte_eth_link_get_nowait(id, &link) != 0)
			continue;
		s->link_up[p] = link.link_status == RTE_ETH_LINK_UP;
		s->link_speed_mbps[p] =
			link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
	}
}

/* Busy and loop cycles, and each worker's event rings. */
static void
gather_workers(struct dp_plane *dp, struct cp_sample *s)
{
	s->tsc_hz = (double)rte_get_tsc_hz();
	for (unsigned w = 0; w < s->r.n_workers && w < DP_MAX_WORKERS; w++) {
		const struct dp_lanes *l = dp_lanes_of(dp, w);

		s->busy_cycles[w] = dp_read(&s->r.worker[w].busy_cycles);
		s->loop_cycles[w] = dp_read(&s->r.worker[w].loop_cycles);
		dp_worker_latency(dp, w, s->lat_decision[w], s->lat_burst[w]);
		dp_worker_latency_sums(dp, w, &s->lat_decision_cycles[w], &s->lat_burst_cycles[w]);
		if (l == NULL)
			continue;
		for (unsigned lane = 0; lane < DP_LANE__COUNT; lane++) {
			unsigned count = dp_lanes_count(l, lane);
			unsigned high = dp_lanes_high_water(l, lane);

			/* The producer stores its mark just after its put: never below now. */
			s->ring_size[w][lane] = dp_lanes_capacity(l, lane);
			s->ring_count[w][lane] = count;
			s->ring_high_water[w][lane] = high > count ? high : count;
		}
	}
}

/*
 * The ruleset in force, copied out of the bundle. by_action and n_disabled
 * count every rule (rule_set_info); by_priority counts the enabled rules
 * only, those that can fire. Online.
 */
static void
ruleset_brief(const struct cp_sources *src, const struct dp_ruleset *rs, struct cp_ruleset_brief *b)
{
	const struct rule_set_info *info;
	unsigned n;
	int64_t at;

	memset(b, 0, sizeof(*b));
	if (rs == NULL || rs->set == NULL)
		return;
	info = rule_set_info(rs->set);
	b->loaded = true;
	b->version = rs->version;
	b->n_rules = info->n_rules;
	b->n_disabled = info->n_disabled;
	b->n_patterns = info->n_patterns;
	memcpy(b->by_action, info->by_action, sizeof(b->by_action));
	n = rule_set_count(rs->set);
	for (unsigned i = 0; i < n; i++) {
		const struct rule *rl = rule_set_rule(rs->set, i);

		if (rl != NULL && !rl->disabled && rl->priority < RULE_PRIO__COUNT)
			b->by_priority[rl->priority]++;
	}
	at = src->reloader != NULL ? cp_reload_published_ns(src->reloader) : 0;
	if (at == 0)
		at = src->started_ns;
	if (at == 0)
		at = rs->loaded_ns;
	b->loaded_ns = at;
	b->compile_ms = (double)info->total_ns / 1e6;
	snprintf(b->hash, sizeof(b->hash), "%s", info->hash);
}

/*
 * The RCU part: the bundle in force (its brief, and the report printed
 * with its rule hits into memory) and the registry's size, as an online
 * reader; parsed once offline again. @return the stats object or NULL.
 */
static json_t *
gather_rcu(const struct cp_sources *src, struct cp_sample *s)
{
	struct dp_registry *reg = src->dp != NULL ? dp_registry_of(src->dp) : NULL;
	bool was_online = urcu_qsbr_read_ongoing() != 0;
	json_t *stats = NULL;
	json_error_t jerr;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	int rc;

	mem = open_memstream(&buf, &len);
	if (!was_online)
		urcu_qsbr_thread_online();
	s->r.ruleset = src->dp != NULL ? dp_ruleset_current(src->dp) : NULL;
	s->r.registry_devices = reg != NULL ? dp_registry_count(reg) : 0;
	ruleset_brief(src, s->r.ruleset, &s->rules);
	rc = mem != NULL ? cp_report_print(&s->r, true, mem) : -ENOMEM;
	s->r.ruleset = NULL; /* not valid once offline */
	if (!was_online)
		urcu_qsbr_thread_offline();
	if (mem != NULL && fclose(mem) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc == 0 && buf != NULL)
		stats = json_loadb(buf, len, 0, &jerr);
	free(buf);
	return stats;
}

void
cp_monitor_sample(struct cp_monitor *m)
{
	const struct cp_sources *src = &m->src;
	struct cp_sample *s, *old;

	pthread_mutex_lock(&m->sampling);
	s = m->spare;
	sample_clear(s);
	if (src->dp != NULL)
		cp_report_gather(src->dp, 0, &s->r);
	s->time_ns = wall_ns();
	s->mono_s = mono_s();
	s->uptime_s = src->started_ns > 0 ? (double)(s->time_ns - src->started_ns) / 1e9
					  : s->mono_s - m->mono_start;
	if (s->uptime_s < 0)
		s->uptime_s = 0;
	s->r.elapsed_s = s->uptime_s;
	gather_counters(src, &s->r);
	cp_ctl_counters(m->ctl, s->r.ctl);
	if (src->dp != NULL) {
		gather_links(s);
		gather_workers(src->dp, s);
	}
	if (src->store != NULL)
		s->storage_stats = store_stats(src->store, s->cf) == 0;
	s->stats = gather_rcu(src, s);

	pthread_mutex_lock(&m->lock);
	old = m->prev;
	m->prev = m->cur;
	m->cur = s;
	pthread_mutex_unlock(&m->lock);
	/* The first two samples take fresh buffers; later, the oldest one is the spare. */
	m->spare = old != NULL ? old : m->pool[m->n_used++];
	pthread_mutex_unlock(&m->sampling);
}

int
cp_monitor_read(struct cp_monitor *m,
		int (*fn)(void *arg, const struct cp_sample *cur, const struct cp_sample *prev),
		void *arg)
{
	int rc;

	if (m == NULL || fn == NULL)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	rc = m->cur != NULL ? fn(arg, m->cur, m->prev) : -EAGAIN;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The status object                                                         */
/* ------------------------------------------------------------------------ */

/*
 * cp_status_json's shape (`vigilctl status`; the names are a contract with
 * scripts: snake_case, never renamed). Rates are over the interval between
 * the two samples and 0 without the previous one; counters are since start.
 *
 *   time          ISO 8601 UTC of the sample
 *   started       ISO 8601 UTC of vigild's start (null: unknown)
 *   uptime_s
 *   interval_s    between the two samples (0: one sample)
 *   ports[]       name, link_up, speed_mbps (0: unknown), rx_pps, ipackets,
 *                 imissed, ierrors, rx_nombuf, opackets, oerrors
 *   workers[]     id, busy (0..1: the share of poll loops that received,
 *                 in TSC cycles), rx_pps, rx_mbps, packets, drops_total,
 *                 drops {reason: n, non-zero reasons only}, ruleset_version
 *   ruleset       loaded, version, rules, disabled, patterns,
 *                 by_action {alert, log, pass} (every rule),
 *                 by_priority {none, low, medium, high} (enabled rules),
 *                 loaded_at (ISO; null without rules), compile_ms,
 *                 hash (null without rules)
 *   rings[]       worker, lane ("alarm", "telemetry"), size, count,
 *                 high_water (workers without event rings have none)
 *   storage       on, dir (null: off), failing, last_error (null: none),
 *                 queued (alarm records waiting for a retry), size_bytes
 *                 (live SST bytes, every column family), keys {obs, alarms,
 *                 audit, meta} (estimates), obs_per_s (observations written),
 *                 alarms_written, write_errors, no_space
 *   alarms        on (the clinical pipeline runs), open {low, medium, high},
 *                 total_open
 *   events        alarm_events, alarm_lost, telemetry_events,
 *                 telemetry_lost (the workers'), consumer {every counter}
 *   registry      devices
 *   patients      patients known
 */

/* Per second, of a counter that went from @p was to @p now over @p dt s (0: none). */
static double
rate(uint64_t now, uint64_t was, double dt)
{
	if (dt <= 0 || now < was)
		return 0;
	return (double)(now - was) / dt;
}

static int
set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v); /* takes v, also on failure; NULL fails */
}

static json_t *
status_ports(const struct cp_sample *cur, const struct cp_sample *prev, double dt)
{
	json_t *a = json_array();
	int rc = a != NULL ? 0 : -1;

	for (unsigned p = 0; rc == 0 && p < cur->r.n_ports && p < DP_MAX_PORTS; p++) {
		const struct dp_port_stats *ps = &cur->r.port[p];
		uint64_t was = prev != NULL && p < prev->r.n_ports ? prev->r.port[p].ipackets : 0;

		rc = json_array_append_new(
			a, json_pack("{s:s, s:b, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I}", "name",
				     ps->name != NULL ? ps->name : "?", "link_up", cur->link_up[p],
				     "speed_mbps", (json_int_t)cur->link_speed_mbps[p], "rx_pps",
				     prev != NULL ? rate(ps->ipackets, was, dt) : 0.0, "ipackets",
				     (json_int_t)ps->ipackets, "imissed", (json_int_t)ps->imissed,
				     "ierrors", (json_int_t)ps->ierrors, "rx_nombuf",
				     (json_int_t)ps->rx_nombuf, "opackets",
				     (json_int_t)ps->opackets, "oerrors", (json_int_t)ps->oerrors));
	}
	if (rc != 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/*
 * Percentiles in ns of what histogram @p h gathered since @p was (NULL: since
 * start), i.e. over the last sample interval; null when nothing was timed.
 */
static json_t *
latency_json(const uint64_t *h, const uint64_t *was, double tsc_hz)
{
	uint64_t d[DP_LAT_BUCKETS], n = 0;

	for (unsigned i = 0; i < DP_LAT_BUCKETS; i++) {
		d[i] = was != NULL && h[i] >= was[i] ? h[i] - was[i] : h[i];
		n += d[i];
	}
	if (n == 0 || tsc_hz <= 0)
		return json_null();
	return json_pack("{s:I, s:f, s:f, s:f}", "count", (json_int_t)n, "p50",
			 dp_lat_quantile(d, 0.5) * 1e9 / tsc_hz, "p99",
			 dp_lat_quantile(d, 0.99) * 1e9 / tsc_hz, "p999",
			 dp_lat_quantile(d, 0.999) * 1e9 / tsc_hz);
}

static json_t *
status_worker(const struct cp_sample *cur, const struct cp_sample *prev, double dt, unsigned w)
{
	const struct dp_stats *s = &cur->r.worker[w];
	const struct dp_stats *ps =
		prev != NULL && w < prev->r.n_workers ? &prev->r.worker[w] : NULL;
	json_t *drops = json_object(), *o;
	uint64_t total = 0;
	double busy = 0, pps = 0, mbps = 0;
	int rc = drops != NULL ? 0 : -1;

	for (unsigned i = 0; rc == 0 && i < DP_DROP__COUNT; i++) {
		uint64_t n = dp_read(&s->drop[i]);

		total += n;
		if (n != 0)
			rc = set(drops, dp_drop_name(i), json_integer((json_int_t)n));
	}
	if (rc != 0) {
		json_decref(drops);
		return NULL;
	}
	if (ps != NULL) {
		uint64_t dloop = cur->loop_cycles[w] - prev->loop_cycles[w];
		uint64_t dbusy = cur->busy_cycles[w] - prev->busy_cycles[w];

		if (cur->loop_cycles[w] > prev->loop_cycles[w] &&
		    cur->busy_cycles[w] >= prev->busy_cycles[w])
			busy = dbusy >= dloop ? 1.0 : (double)dbusy / (double)dloop;
		pps = rate(dp_read(&s->rx_packets), dp_read(&ps->rx_packets), dt);
		mbps = rate(dp_read(&s->rx_bytes), dp_read(&ps->rx_bytes), dt) * 8 / 1e6;
	}
	o = json_pack("{s:i, s:f, s:f, s:f, s:I, s:I, s:o, s:I, s:o, s:o}", "id", (int)w, "busy",
		      busy, "rx_pps", pps, "rx_mbps", mbps, "packets",
		      (json_int_t)dp_read(&s->rx_packets), "drops_total", (json_int_t)total,
		      "drops", drops, "ruleset_version", (json_int_t)cur->r.worker_ruleset[w],
		      "decision_ns",
		      latency_json(cur->lat_decision[w], ps != NULL ? prev->lat_decision[w] : NULL,
				   cur->tsc_hz),
		      "burst_ns",
		      latency_json(cur->lat_burst[w], ps != NULL ? prev->lat_burst[w] : NULL,
				   cur->tsc_hz));
	return o; /* "o" took drops, also on failure */
}

static json_t *
status_workers(const struct cp_sample *cur, const struct cp_sample *prev, double dt)
{
	json_t *a = json_array();
	int rc = a != NULL ? 0 : -1;

	for (unsigned w = 0; rc == 0 && w < cur->r.n_workers && w < DP_MAX_WORKERS; w++)
		rc = json_array_append_new(a, status_worker(cur, prev, dt, w));
	if (rc != 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *
status_ruleset(const struct cp_sample *cur)
{
	const struct cp_ruleset_brief *b = &cur->rules;
	json_t *act = json_object(), *prio = json_object();
	int rc = act != NULL && prio != NULL ? 0 : -1;

	for (unsigned i = 0; rc == 0 && i < RULE_ACTION__COUNT; i++)
		rc = set(act, rule_action_name(i), json_integer(b->by_action[i]));
	for (unsigned i = 0; rc == 0 && i < RULE_PRIO__COUNT; i++)
		rc = set(prio, rule_priority_name(i), json_integer(b->by_priority[i]));
	if (rc != 0) {
		json_decref(act);
		json_decref(prio);
		return NULL;
	}
	return json_pack("{s:b, s:I, s:i, s:i, s:i, s:o, s:o, s:o, s:f, s:o}", "loaded", b->loaded,
			 "version", (json_int_t)b->version, "rules", (int)b->n_rules, "disabled",
			 (int)b->n_disabled, "patterns", (int)b->n_patterns, "by_action", act,
			 "by_priority", prio, "loaded_at",
			 b->loaded ? iso_json(b->loaded_ns) : json_null(), "compile_ms",
			 b->compile_ms, "hash", b->loaded ? json_string(b->hash) : json_null());
}

static json_t *
status_rings(const struct cp_sample *cur)
{
	json_t *a = json_array();
	int rc = a != NULL ? 0 : -1;

	for (unsigned w = 0; rc == 0 && w < cur->r.n_workers && w < DP_MAX_WORKERS; w++)
		for (unsigned l = 0; rc == 0 && l < DP_LANE__COUNT; l++) {
			if (cur->ring_size[w][l] == 0)
				continue; /* no rings: no events */
			rc = json_array_append_new(
				a, json_pack("{s:i, s:s, s:i, s:i, s:i}", "worker", (int)w, "lane",
					     dp_lane_name(l), "size", (int)cur->ring_size[w][l],
					     "count", (int)cur->ring_count[w][l], "high_water",
					     (int)cur->ring_high_water[w][l]));
		}
	if (rc != 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *
status_storage(const struct cp_sample *cur, const struct cp_sample *prev, double dt)
{
	const struct cp_report *r = &cur->r;
	const struct cp_persist_state *st = &r->persist_state;
	json_t *keys = json_object();
	uint64_t size = 0;
	double obs = 0;
	int rc = keys != NULL ? 0 : -1;

	for (unsigned cf = 0; rc == 0 && cf < STORE_CF__COUNT; cf++) {
		uint64_t k = cur->storage_stats ? cur->cf[cf].keys : 0;

		size += cur->storage_stats ? cur->cf[cf].live_bytes : 0;
		rc = set(keys, store_cf_name(cf), json_integer((json_int_t)k));
	}
	if (rc != 0) {
		json_decref(keys);
		return NULL;
	}
	if (prev != NULL)
		obs = rate(r->store[STORE_CNT_obs_written], prev->r.store[STORE_CNT_obs_written],
			   dt);
	return json_pack("{s:b, s:o, s:b, s:o, s:i, s:I, s:o, s:f, s:I, s:I, s:I}", "on",
			 r->storage_dir != NULL, "dir",
			 r->storage_dir != NULL ? json_string(r->storage_dir) : json_null(),
			 "failing", st->failing, "last_error",
			 st->rc != 0 ? json_string(strerror(-st->rc)) : json_null(), "queued",
			 (int)st->queued, "size_bytes", (json_int_t)size, "keys", keys, "obs_per_s",
			 obs, "alarms_written", (json_int_t)r->store[STORE_CNT_alarms_written],
			 "write_errors", (json_int_t)r->store[STORE_CNT_write_errors], "no_space",
			 (json_int_t)r->store[STORE_CNT_no_space]);
}

static json_t *
status_alarms(const struct cp_sample *cur)
{
	json_t *open = json_object();
	unsigned total = 0;
	int rc = open != NULL ? 0 : -1;

	for (unsigned p = 0; p < RULE_PRIO__COUNT; p++) {
		total += cur->r.open_alarms[p];
		if (rc == 0 && p != RULE_PRIO_NONE)
			rc = set(open, rule_priority_name(p), json_integer(cur->r.open_alarms[p]));
	}
	if (rc != 0) {
		json_decref(open);
		return NULL;
	}
	return json_pack("{s:b, s:o, s:i}", "on", cur->r.clinical, "open", open, "total_open",
			 (int)total);
}

static json_t *
status_events(const struct cp_sample *cur)
{
	const struct dp_stats *t = &cur->r.total;
	json_t *cons = json_object();
	int rc = cons != NULL ? 0 : -1;

	for (unsigned i = 0; rc == 0 && i < CP_CONS__COUNT; i++)
		rc = set(cons, cp_consumer_counter_name(i),
			 json_integer((json_int_t)cur->r.consumer[i]));
	if (rc != 0) {
		json_decref(cons);
		return NULL;
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:o}", "alarm_events",
			 (json_int_t)dp_read(&t->event[DP_EVC_alarm_events]), "alarm_lost",
			 (json_int_t)dp_read(&t->event[DP_EVC_alarm_lost]), "telemetry_events",
			 (json_int_t)dp_read(&t->event[DP_EVC_telemetry_events]), "telemetry_lost",
			 (json_int_t)dp_read(&t->event[DP_EVC_telemetry_lost]), "consumer", cons);
}

json_t *
cp_status_json(const struct cp_sample *cur, const struct cp_sample *prev)
{
	json_t *root;
	double dt = 0;
	int rc;

	if (cur == NULL)
		return NULL;
	if (prev != NULL && cur->mono_s > prev->mono_s)
		dt = cur->mono_s - prev->mono_s;
	else
		prev = NULL; /* not an earlier sample: no rates */
	root = json_object();
	if (root == NULL)
		return NULL;
	rc = set(root, "time", iso_json(cur->time_ns));
	rc |= set(root, "started", iso_json(cur->time_ns - (int64_t)llround(cur->uptime_s * 1e9)));
	rc |= set(root, "uptime_s", json_real(cur->uptime_s));
	rc |= set(root, "interval_s", json_real(dt));
	rc |= set(root, "ports", status_ports(cur, prev, dt));
	rc |= set(root, "workers", status_workers(cur, prev, dt));
	rc |= set(root, "ruleset", status_ruleset(cur));
	rc |= set(root, "rings", status_rings(cur));
	rc |= set(root, "storage", status_storage(cur, prev, dt));
	rc |= set(root, "alarms", status_alarms(cur));
	rc |= set(root, "events", status_events(cur));
	rc |= set(root, "registry", json_pack("{s:i}", "devices", (int)cur->r.registry_devices));
	rc |= set(root, "patients", json_integer(cur->r.patients));
	if (rc != 0) {
		json_decref(root);
		return NULL;
	}
	return root;
}
