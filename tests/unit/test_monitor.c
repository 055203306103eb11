/*
 * test_monitor.c - CUnit tests of the monitor (controlplane/monitor.c):
 * the once-a-second sample of every counter that the control socket, the
 * Prometheus endpoint and DPDK telemetry read instead of the data plane.
 *
 * What is held to account, on a real plane over a net_ring port (rings the
 * test owns, so the frames arrive exactly when the test puts them there):
 * - before the first sample a read is -EAGAIN and the reader is not
 *   called; after one, the reader gets it with no previous sample;
 * - a plane without rules, events or storage: the ruleset is not loaded,
 *   there are no rings, storage is off, every rate is 0 and the status
 *   object still has every documented key;
 * - with rules, events, a consumer and a store in a temporary directory:
 *   between two samples with traffic the counters grow, the port's and
 *   the worker's packet rates are above 0, the busy ratio is in (0, 1],
 *   each ring's high-water mark is at least its fill and was above 0, one
 *   decision latency is timed per evaluation and one burst latency per
 *   non-empty burst, the status percentiles are ordered, the
 *   stats object (vigild --json) has rx_packets and the rule hits, the
 *   ruleset is copied out of its bundle, and the storage fields are
 *   filled (observations per second above 0, alarms written);
 * - readers on another thread while samples are taken see whole samples
 *   (the swap under the lock; run it under ASan/TSan to see more);
 * - sources all NULL: a sample of nothing, and bad arguments refused.
 *
 * The worker lcore busy-polls and the machine may have two cores: not run
 * in parallel with other suites. Waits are bounded (WAIT_MS) only so that
 * a failure ends the test instead of hanging it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <jansson.h>
#include <urcu/urcu-qsbr.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "controlplane.h"
#include "cunit_main.h"
#include "dataplane.h"
#include "eal.h"
#include "frames.h"

#define OUR_V4 0xc0000201u  /* 192.0.2.1 */
#define PEER_V4 0xc000020au /* 192.0.2.10 */
#define HL7_PORT 2575
#define VTP_PORT 4575
#define OTHER_PORT 9999 /* not a telemetry port: dropped as udp_port */
#define PEER_PORT 40000
#define POOL_MBUFS 1023
#define RING_SIZE 1024
#define FRAME_ROOM 1600
#define MAX_BATCH 64
#define N_HL7 10 /* messages of one SpO2 each, 90..99 */
#define WAIT_MS 20000

static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x10};

/* ------------------------------------------------------------------------ */
/* EAL and the suite                                                          */
/* ------------------------------------------------------------------------ */

static int
suite_init(void)
{
	if (vt_eal_init("test_monitor", 2, 512) != 0)
		return -1;
	/* vigild's main lcore samples as a registered QSBR reader, offline. */
	urcu_qsbr_register_thread();
	urcu_qsbr_thread_offline();
	return 0;
}

static int
suite_cleanup(void)
{
	urcu_qsbr_unregister_thread();
	return rte_eal_cleanup() == 0 ? 0 : -1;
}

static int64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
sleep_ms(unsigned ms)
{
	const struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&t, NULL);
}

/* ------------------------------------------------------------------------ */
/* A plane on a net_ring port                                                */
/* ------------------------------------------------------------------------ */

/* What one test runs: the port, the plane and, as asked, the consumer and a store. */
struct bench {
	struct vt_ring_port rp;
	struct rte_mempool *pool;
	struct rule_set *rules;
	struct dp_plane *dp;
	struct cp_consumer *consumer;
	struct store *store;
	struct cp_persist *persist;
	char dir[64]; /* the store's temporary directory ("": none) */
	struct cp_sources src;
	struct cp_monitor *mon;
};

static const char rules_text[] =
	"alert hl7 any any -> any 2575 (msg:\"SpO2 below 95\"; metric:SPO2; value:<95; "
	"priority:high; sid:1;)\n"
	"log udp any any -> any any (msg:\"every datagram\"; sid:3;)\n";

/* Everything started: the plane (rules, events, storage as asked) and the monitor. */
static void
bench_start(struct bench *b, const char *tag, bool rules, bool events, bool storage)
{
	char name[RTE_MEMPOOL_NAMESIZE], err[512] = "";
	struct dp_conf c;
	struct dp_local *l;

	memset(b, 0, sizeof(*b));
	snprintf(name, sizeof(name), "%s_pool", tag);
	b->pool = rte_pktmbuf_pool_create(name, POOL_MBUFS, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	CU_ASSERT_PTR_NOT_NULL_FATAL(b->pool);
	CU_ASSERT_EQUAL_FATAL(vt_ring_port_create(&b->rp, tag, RING_SIZE), 0);
	if (rules) {
		const struct rule_source src = {"monitor.rules", rules_text,
						sizeof(rules_text) - 1};
		const struct rule_load_opts opts = {.sources = &src, .n_sources = 1};
		struct rule_diags diags = {0};

		CU_ASSERT_EQUAL_FATAL(rule_set_load(&opts, &b->rules, &diags), 0);
		rule_diags_free(&diags);
	}

	memset(&c, 0, sizeof(c));
	c.n_workers = 1;
	c.rx_desc = 512;
	c.tx_desc = 512;
	c.n_ports = 1;
	c.port[0].name = b->rp.name;
	l = &c.port[0].local;
	l->n_ipv4 = 1;
	l->ipv4[0] = htonl(OUR_V4);
	l->n_hl7_ports = 1;
	l->hl7_ports[0] = HL7_PORT;
	l->n_vtp_ports = 1;
	l->vtp_ports[0] = VTP_PORT;
	l->udp_checksum = true;
	c.vtp_devices = 1024;
	c.rules = b->rules;
	c.events = events;
	c.alarm_ring = 256;
	c.telemetry_ring = 256;
	c.registry_devices = 64;
	if (dp_start(&c, &b->dp, err, sizeof(err)) != 0)
		fprintf(stderr, "test_monitor: dp_start: %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b->dp);

	if (storage) {
		struct store_opts so;

		snprintf(b->dir, sizeof(b->dir), "/tmp/test_monitor.XXXXXX");
		CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(b->dir));
		store_opts_defaults(&so);
		so.dir = b->dir;
		so.batch_ms = 10;
		so.expire_every_s = 0;
		if (store_open(&so, &b->store, err, sizeof(err)) != 0)
			fprintf(stderr, "test_monitor: store_open: %s\n", err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b->store);
		CU_ASSERT_EQUAL_FATAL(cp_persist_new(b->store, NULL, &b->persist), 0);
	}
	if (events) {
		struct cp_event_hooks hooks = {0};

		if (b->persist != NULL)
			cp_persist_hooks(b->persist, &hooks);
		CU_ASSERT_EQUAL_FATAL(cp_consumer_of_plane(b->dp, &hooks, &b->consumer), 0);
		if (b->persist != NULL)
			cp_consumer_set_idle(b->consumer, cp_persist_tick, b->persist);
		CU_ASSERT_EQUAL_FATAL(cp_consumer_start(b->consumer), 0);
	}

	b->src = (struct cp_sources){
		.dp = b->dp,
		.consumer = b->consumer,
		.store = b->store,
		.persist = b->persist,
		.storage_dir = storage ? b->dir : NULL,
		.started_ns = wall_ns() - 5000000000LL, /* five seconds ago */
	};
	CU_ASSERT_EQUAL_FATAL(cp_monitor_new(&b->src, &b->mon), 0);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
bench_stop(struct bench *b)
{
	cp_monitor_free(b->mon);
	dp_stop(b->dp);
	if (b->consumer != NULL) {
		cp_consumer_stop(b->consumer);
		cp_consumer_free(b->consumer);
	}
	cp_persist_free(b->persist);
	store_close(b->store);
	if (b->dir[0] != '\0')
		CU_ASSERT_EQUAL(nftw(b->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
	dp_destroy(b->dp);
	CU_ASSERT_EQUAL(vt_ring_port_destroy(&b->rp), 0);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(b->pool), POOL_MBUFS);
	rte_mempool_free(b->pool);
	rule_set_free(b->rules);
	memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------------------ */
/* Traffic                                                                   */
/* ------------------------------------------------------------------------ */

static void
add_udp(struct rte_mbuf **m, unsigned *n, struct bench *b, uint16_t dport, const void *payload,
	size_t plen)
{
	uint8_t frame[FRAME_ROOM];
	struct fr_l2 l2;
	size_t len;
	char *data;

	CU_ASSERT_FATAL(*n < MAX_BATCH);
	memset(&l2, 0, sizeof(l2));
	memcpy(l2.dst, b->rp.mac, 6);
	memcpy(l2.src, peer_mac, 6);
	len = fr_udp4(frame, sizeof(frame), &l2, PEER_V4, OUR_V4, PEER_PORT, dport, payload, plen);
	CU_ASSERT_FATAL(len > 0);
	m[*n] = rte_pktmbuf_alloc(b->pool);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m[*n]);
	data = rte_pktmbuf_append(m[*n], (uint16_t)len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(data);
	memcpy(data, frame, len);
	(*n)++;
}

/* N_HL7 ORU^R01 of one SpO2 each (90..99: five below 95) and one datagram to
 * a port that is not a telemetry port. @return the frames sent. */
static unsigned
send_traffic(struct bench *b)
{
	struct rte_mbuf *m[MAX_BATCH];
	char payload[FRAME_ROOM];
	unsigned n = 0;
	int len;

	for (unsigned i = 0; i < N_HL7; i++) {
		len = snprintf(
			payload, sizeof(payload),
			"\x0bMSH|^~\\&|MON7|ICU|VIGIL|HOSP|20240301120000||ORU^R01|M%u|P|2.6\r"
			"PID|||PAT42^^^HOSP^MR\rPV1||I|ICU^12^B\r"
			"OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|%u|%%|||||R\r"
			"\x1c\r",
			i, 90 + i);
		CU_ASSERT_FATAL(len > 0 && (size_t)len < sizeof(payload));
		add_udp(m, &n, b, HL7_PORT, payload, (size_t)len);
	}
	add_udp(m, &n, b, OTHER_PORT, "not telemetry", 13);
	CU_ASSERT_EQUAL_FATAL(rte_ring_enqueue_bulk(b->rp.rx, (void **)m, n, NULL), n);
	return n;
}

/* Wait until the worker has an outcome for @p want frames. */
static bool
wait_rx(struct bench *b, uint64_t want)
{
	struct dp_stats total;

	for (unsigned ms = 0; ms < WAIT_MS; ms++) {
		dp_stats_total(b->dp, &total);
		if (dp_read(&total.rx_packets) >= want && dp_stats_accounted(&total) >= want)
			return true;
		sleep_ms(1);
	}
	return false;
}

/* Wait until the store has @p obs observations and @p alarms alarm records. */
static bool
wait_stored(struct bench *b, uint64_t obs, uint64_t alarms)
{
	uint64_t c[STORE_CNT__COUNT];

	for (unsigned ms = 0; ms < WAIT_MS; ms++) {
		store_counters(b->store, c);
		if (c[STORE_CNT_obs_written] >= obs && c[STORE_CNT_alarms_written] >= alarms)
			return true;
		sleep_ms(1);
	}
	return false;
}

/* ------------------------------------------------------------------------ */
/* Reading samples                                                           */
/* ------------------------------------------------------------------------ */

/* A reader that copies what it is given (the status object, and facts of both samples). */
struct seen {
	unsigned calls;
	bool had_prev;
	json_t *status;
	json_t *stats; /* a copy of cur->stats */
	struct cp_sample *cur;
	struct cp_sample *prev;
};

static int
take(void *arg, const struct cp_sample *cur, const struct cp_sample *prev)
{
	struct seen *s = arg;

	s->calls++;
	s->had_prev = prev != NULL;
	s->status = cp_status_json(cur, prev);
	s->stats = cur->stats != NULL ? json_deep_copy(cur->stats) : NULL;
	s->cur = malloc(sizeof(*s->cur));
	if (s->cur != NULL) {
		memcpy(s->cur, cur, sizeof(*cur));
		s->cur->stats = NULL; /* not ours */
	}
	if (prev != NULL) {
		s->prev = malloc(sizeof(*s->prev));
		if (s->prev != NULL) {
			memcpy(s->prev, prev, sizeof(*prev));
			s->prev->stats = NULL;
		}
	}
	return 42;
}

static void
seen_free(struct seen *s)
{
	json_decref(s->status);
	json_decref(s->stats);
	free(s->cur);
	free(s->prev);
	memset(s, 0, sizeof(*s));
}

/* Read the latest samples into @p s; the reader's return value comes back. */
static void
read_into(struct cp_monitor *m, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	CU_ASSERT_EQUAL(cp_monitor_read(m, take, s), 42);
	CU_ASSERT_EQUAL(s->calls, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s->status);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s->cur);
}

static json_int_t
int_at(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	CU_ASSERT(json_is_integer(v));
	return json_integer_value(v);
}

static double
num_at(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	CU_ASSERT(json_is_number(v));
	return json_number_value(v);
}

/* Every key @p keys names (NULL-terminated) is in @p o; say which is missing. */
static void
has_keys(json_t *o, const char *where, const char *const *keys)
{
	CU_ASSERT_FATAL(json_is_object(o));
	for (unsigned i = 0; keys[i] != NULL; i++) {
		if (json_object_get(o, keys[i]) == NULL) {
			fprintf(stderr, "\n  %s: no \"%s\"", where, keys[i]);
			CU_FAIL("a documented key is missing");
		}
	}
}

/* The status object has every key monitor.c documents, with the right types. */
static void
check_status_keys(json_t *st)
{
	static const char *const top[] = {"time",    "started",	 "uptime_s", "interval_s", "ports",
					  "workers", "ruleset",	 "rings",    "storage",	   "alarms",
					  "events",  "registry", "patients", NULL};
	static const char *const port[] = {"name",     "link_up", "speed_mbps", "rx_pps",
					   "ipackets", "imissed", "ierrors",	"rx_nombuf",
					   "opackets", "oerrors", NULL};
	static const char *const worker[] = {
		"id",	       "busy",	      "rx_pps", "rx_mbps",
		"packets",     "drops_total", "drops",	"ruleset_version",
		"decision_ns", "burst_ns",    NULL};
	static const char *const ruleset[] = {"loaded",	    "version",	 "rules",	"disabled",
					      "patterns",   "by_action", "by_priority", "loaded_at",
					      "compile_ms", "hash",	 NULL};
	static const char *const actions[] = {"alert", "log", "pass", NULL};
	static const char *const prios[] = {"none", "low", "medium", "high", NULL};
	static const char *const ring[] = {"worker", "lane", "size", "count", "high_water", NULL};
	static const char *const storage[] = {
		"on",	"dir",	     "failing",	       "last_error",   "queued",   "size_bytes",
		"keys", "obs_per_s", "alarms_written", "write_errors", "no_space", NULL};
	static const char *const cfs[] = {"obs", "alarms", "audit", "meta", NULL};
	static const char *const alarms[] = {"on", "open", "total_open", NULL};
	static const char *const open[] = {"low", "medium", "high", NULL};
	static const char *const events[] = {"alarm_events",   "alarm_lost", "telemetry_events",
					     "telemetry_lost", "consumer",   NULL};
	size_t i;
	json_t *v;

	has_keys(st, "status", top);
	CU_ASSERT(json_is_string(json_object_get(st, "time")));
	CU_ASSERT(json_is_array(json_object_get(st, "ports")));
	CU_ASSERT(json_is_array(json_object_get(st, "workers")));
	CU_ASSERT(json_is_array(json_object_get(st, "rings")));
	CU_ASSERT(json_is_integer(json_object_get(st, "patients")));
	json_array_foreach(json_object_get(st, "ports"), i, v) has_keys(v, "ports[]", port);
	json_array_foreach(json_object_get(st, "workers"), i, v)
	{
		has_keys(v, "workers[]", worker);
		CU_ASSERT(json_is_object(json_object_get(v, "drops")));
	}
	json_array_foreach(json_object_get(st, "rings"), i, v) has_keys(v, "rings[]", ring);
	v = json_object_get(st, "ruleset");
	has_keys(v, "ruleset", ruleset);
	has_keys(json_object_get(v, "by_action"), "ruleset.by_action", actions);
	has_keys(json_object_get(v, "by_priority"), "ruleset.by_priority", prios);
	v = json_object_get(st, "storage");
	has_keys(v, "storage", storage);
	has_keys(json_object_get(v, "keys"), "storage.keys", cfs);
	v = json_object_get(st, "alarms");
	has_keys(v, "alarms", alarms);
	has_keys(json_object_get(v, "open"), "alarms.open", open);
	v = json_object_get(st, "events");
	has_keys(v, "events", events);
	CU_ASSERT_EQUAL(json_object_size(json_object_get(v, "consumer")), CP_CONS__COUNT);
	has_keys(json_object_get(st, "registry"), "registry",
		 (const char *const[]){"devices", NULL});
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

static int
never(void *arg, const struct cp_sample *cur, const struct cp_sample *prev)
{
	(void)cur;
	(void)prev;
	(*(unsigned *)arg)++;
	return 0;
}

/* A plane without rules, events or storage; the first sample; no rates yet. */
static void
test_bare_plane(void)
{
	struct bench b;
	struct seen s;
	unsigned called = 0;
	json_t *st, *v;

	bench_start(&b, "tm_bare", false, false, false);
	CU_ASSERT_EQUAL(cp_monitor_read(b.mon, never, &called), -EAGAIN);
	CU_ASSERT_EQUAL(called, 0);
	CU_ASSERT_PTR_EQUAL(cp_monitor_sources(b.mon)->dp, b.dp);
	CU_ASSERT_PTR_NULL(cp_monitor_sources(b.mon)->store);

	cp_monitor_sample(b.mon);
	read_into(b.mon, &s);
	CU_ASSERT_FALSE(s.had_prev);
	CU_ASSERT(s.cur->time_ns > 0);
	CU_ASSERT(s.cur->uptime_s >= 5.0 && s.cur->uptime_s < 600.0);
	CU_ASSERT_EQUAL(s.cur->r.n_ports, 1);
	CU_ASSERT_EQUAL(s.cur->r.n_workers, 1);
	CU_ASSERT_PTR_NULL(s.cur->r.ruleset);
	CU_ASSERT_FALSE(s.cur->rules.loaded);
	CU_ASSERT_FALSE(s.cur->storage_stats);
	CU_ASSERT_PTR_NULL(s.cur->r.storage_dir);
	CU_ASSERT_TRUE(s.cur->link_up[0]); /* net_ring is up once started */
	CU_ASSERT(s.cur->link_speed_mbps[0] > 0);
	CU_ASSERT_EQUAL(s.cur->ring_size[0][DP_LANE_ALARM], 0);

	st = s.status;
	check_status_keys(st);
	CU_ASSERT(num_at(st, "uptime_s") >= 5.0);
	CU_ASSERT_DOUBLE_EQUAL(num_at(st, "interval_s"), 0.0, 0.0);
	v = json_object_get(st, "ruleset");
	CU_ASSERT_TRUE(json_is_false(json_object_get(v, "loaded")));
	CU_ASSERT_TRUE(json_is_null(json_object_get(v, "hash")));
	CU_ASSERT_TRUE(json_is_null(json_object_get(v, "loaded_at")));
	CU_ASSERT_EQUAL(int_at(v, "rules"), 0);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(st, "rings")), 0);
	v = json_object_get(st, "storage");
	CU_ASSERT_TRUE(json_is_false(json_object_get(v, "on")));
	CU_ASSERT_TRUE(json_is_null(json_object_get(v, "dir")));
	CU_ASSERT_TRUE(json_is_false(json_object_get(json_object_get(st, "alarms"), "on")));
	v = json_array_get(json_object_get(st, "ports"), 0);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "name")), b.rp.name);
	CU_ASSERT_TRUE(json_is_true(json_object_get(v, "link_up")));
	CU_ASSERT_DOUBLE_EQUAL(num_at(v, "rx_pps"), 0.0, 0.0);
	v = json_array_get(json_object_get(st, "workers"), 0);
	CU_ASSERT_EQUAL(int_at(v, "id"), 0);
	CU_ASSERT_DOUBLE_EQUAL(num_at(v, "busy"), 0.0, 0.0);
	CU_ASSERT_DOUBLE_EQUAL(num_at(v, "rx_pps"), 0.0, 0.0);
	CU_ASSERT_TRUE(json_is_null(json_object_get(v, "decision_ns"))); /* nothing decided */

	/* The stats object is vigild --json's: without rules, no ruleset. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(s.stats);
	CU_ASSERT(json_is_integer(json_object_get(s.stats, "rx_packets")));
	CU_ASSERT_PTR_NULL(json_object_get(s.stats, "ruleset"));
	CU_ASSERT_PTR_NULL(json_object_get(s.stats, "rule_hits"));
	seen_free(&s);

	/* A second sample: the first is now the previous one. */
	cp_monitor_sample(b.mon);
	read_into(b.mon, &s);
	CU_ASSERT_TRUE(s.had_prev);
	CU_ASSERT_PTR_NOT_NULL(s.prev);
	if (s.prev != NULL)
		CU_ASSERT(s.cur->mono_s > s.prev->mono_s);
	CU_ASSERT(num_at(s.status, "interval_s") > 0.0);
	seen_free(&s);
	bench_stop(&b);
}

/* Rules, events, a consumer, a store: two samples around traffic. */
static void
test_traffic(void)
{
	struct bench b;
	struct seen s0, s;
	const struct rule_set_info *info;
	uint64_t n_frames;
	json_t *st, *v, *hits;
	size_t i;
	unsigned n_rings = 0;
	bool sid1 = false;

	bench_start(&b, "tm_traffic", true, true, true);
	info = rule_set_info(b.rules);
	cp_monitor_sample(b.mon);
	read_into(b.mon, &s0);
	CU_ASSERT_FALSE(s0.had_prev);
	CU_ASSERT_EQUAL(dp_read(&s0.cur->r.total.rx_packets), 0);

	n_frames = send_traffic(&b);
	CU_ASSERT_TRUE_FATAL(wait_rx(&b, n_frames));
	/* Every observation and every alarm record (sid 1 five times, sid 3 on
	 * each HL7 datagram: a udp rule sees telemetry ports only) stored first. */
	CU_ASSERT_TRUE_FATAL(wait_stored(&b, N_HL7, 5 + N_HL7));
	sleep_ms(20);
	cp_monitor_sample(b.mon);
	read_into(b.mon, &s);
	CU_ASSERT_TRUE_FATAL(s.had_prev);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s.prev);
	/* The previous sample is the first one. */
	CU_ASSERT_EQUAL(s.prev->time_ns, s0.cur->time_ns);

	/* Counters grew. */
	CU_ASSERT_EQUAL(dp_read(&s.cur->r.total.rx_packets), n_frames);
	CU_ASSERT(dp_read(&s.cur->r.total.rx_packets) > dp_read(&s.prev->r.total.rx_packets));
	CU_ASSERT(s.cur->r.port[0].ipackets > s.prev->r.port[0].ipackets);
	CU_ASSERT(s.cur->busy_cycles[0] > s.prev->busy_cycles[0]);
	CU_ASSERT(s.cur->loop_cycles[0] > s.prev->loop_cycles[0]);
	CU_ASSERT(s.cur->loop_cycles[0] >= s.cur->busy_cycles[0]);
	CU_ASSERT_EQUAL(s.cur->r.consumer[CP_CONS_telemetry_events], N_HL7);
	CU_ASSERT(s.cur->r.store[STORE_CNT_obs_written] >= N_HL7);
	CU_ASSERT(s.cur->r.persist[CP_PERSIST_obs_stored] >= N_HL7);

	/* The ruleset, copied out of the bundle. */
	CU_ASSERT_TRUE(s.cur->rules.loaded);
	CU_ASSERT_EQUAL(s.cur->rules.version, 1);
	CU_ASSERT_EQUAL(s.cur->rules.n_rules, 2);
	CU_ASSERT_EQUAL(s.cur->rules.n_disabled, info->n_disabled);
	CU_ASSERT_EQUAL(s.cur->rules.n_patterns, info->n_patterns);
	CU_ASSERT_EQUAL(s.cur->rules.by_action[RULE_ACTION_ALERT], 1);
	CU_ASSERT_EQUAL(s.cur->rules.by_action[RULE_ACTION_LOG], 1);
	CU_ASSERT_EQUAL(s.cur->rules.by_action[RULE_ACTION_PASS], 0);
	CU_ASSERT_EQUAL(s.cur->rules.by_priority[RULE_PRIO_HIGH], 1);
	CU_ASSERT_EQUAL(s.cur->rules.by_priority[RULE_PRIO_NONE] +
				s.cur->rules.by_priority[RULE_PRIO_LOW] +
				s.cur->rules.by_priority[RULE_PRIO_MEDIUM] +
				s.cur->rules.by_priority[RULE_PRIO_HIGH],
			2 - info->n_disabled);
	CU_ASSERT_STRING_EQUAL(s.cur->rules.hash, info->hash);
	CU_ASSERT_EQUAL(s.cur->rules.loaded_ns, b.src.started_ns); /* no reloader */
	CU_ASSERT(s.cur->rules.compile_ms > 0.0);
	CU_ASSERT_PTR_NULL(s.cur->r.ruleset);

	/* Rings: both lanes of the worker, the mark at least the fill, and used. */
	for (unsigned l = 0; l < DP_LANE__COUNT; l++) {
		CU_ASSERT_EQUAL(s.cur->ring_size[0][l], dp_lanes_capacity(dp_lanes_of(b.dp, 0), l));
		CU_ASSERT(s.cur->ring_size[0][l] >= 255);
		CU_ASSERT(s.cur->ring_high_water[0][l] >= s.cur->ring_count[0][l]);
		CU_ASSERT(s.cur->ring_high_water[0][l] > 0);
	}
	CU_ASSERT_TRUE(s.cur->storage_stats);

	/* The status object. */
	st = s.status;
	check_status_keys(st);
	CU_ASSERT(num_at(st, "interval_s") > 0.0);
	v = json_array_get(json_object_get(st, "ports"), 0);
	CU_ASSERT(num_at(v, "rx_pps") > 0.0);
	CU_ASSERT_EQUAL(int_at(v, "ipackets"), (json_int_t)n_frames);
	CU_ASSERT_TRUE(json_is_true(json_object_get(v, "link_up")));
	v = json_array_get(json_object_get(st, "workers"), 0);
	CU_ASSERT(num_at(v, "rx_pps") > 0.0);
	CU_ASSERT(num_at(v, "rx_mbps") > 0.0);
	CU_ASSERT(num_at(v, "busy") > 0.0 && num_at(v, "busy") <= 1.0);
	CU_ASSERT_EQUAL(int_at(v, "packets"), (json_int_t)n_frames);
	CU_ASSERT_EQUAL(int_at(v, "drops_total"), 1);
	CU_ASSERT_EQUAL(json_object_size(json_object_get(v, "drops")), 1); /* non-zero only */
	CU_ASSERT_EQUAL(int_at(json_object_get(v, "drops"), "udp_port"), 1);
	CU_ASSERT_EQUAL(int_at(v, "ruleset_version"), 1);
	/* One decision timed per evaluation; the status percentiles are those of the
	 * interval, ordered, and a decision of 39 rules takes under a second. */
	{
		uint64_t n_dec = 0, n_burst = 0;
		json_t *lat = json_object_get(v, "decision_ns");

		for (unsigned k = 0; k < DP_LAT_BUCKETS; k++) {
			n_dec += s.cur->lat_decision[0][k] - s.prev->lat_decision[0][k];
			n_burst += s.cur->lat_burst[0][k];
		}
		CU_ASSERT_EQUAL(n_dec, dp_read(&s.cur->r.total.rule[RULE_CNT_messages]) -
					       dp_read(&s.prev->r.total.rule[RULE_CNT_messages]));
		CU_ASSERT(n_dec > 0);
		CU_ASSERT_EQUAL(n_burst, dp_read(&s.cur->r.total.rx_bursts));
		CU_ASSERT(s.cur->tsc_hz > 0);
		CU_ASSERT(s.cur->lat_decision_cycles[0] > 0);
		CU_ASSERT_TRUE_FATAL(json_is_object(lat));
		CU_ASSERT_EQUAL(int_at(lat, "count"), (json_int_t)n_dec);
		CU_ASSERT(num_at(lat, "p50") > 0.0);
		CU_ASSERT(num_at(lat, "p50") <= num_at(lat, "p99"));
		CU_ASSERT(num_at(lat, "p99") <= num_at(lat, "p999"));
		CU_ASSERT(num_at(lat, "p999") < 1e9);
		CU_ASSERT_TRUE(json_is_object(json_object_get(v, "burst_ns")));
	}

	v = json_object_get(st, "ruleset");
	CU_ASSERT_TRUE(json_is_true(json_object_get(v, "loaded")));
	CU_ASSERT_EQUAL(int_at(v, "version"), 1);
	CU_ASSERT_EQUAL(int_at(v, "rules"), 2);
	CU_ASSERT_EQUAL(int_at(json_object_get(v, "by_action"), "alert"), 1);
	CU_ASSERT_EQUAL(int_at(json_object_get(v, "by_action"), "log"), 1);
	CU_ASSERT_EQUAL(int_at(json_object_get(v, "by_priority"), "high"), 1);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "hash")), info->hash);
	CU_ASSERT(json_is_string(json_object_get(v, "loaded_at")));
	CU_ASSERT(num_at(v, "compile_ms") > 0.0);

	json_array_foreach(json_object_get(st, "rings"), i, v)
	{
		const char *lane = json_string_value(json_object_get(v, "lane"));

		CU_ASSERT_EQUAL(int_at(v, "worker"), 0);
		CU_ASSERT(lane != NULL &&
			  (strcmp(lane, "alarm") == 0 || strcmp(lane, "telemetry") == 0));
		CU_ASSERT(int_at(v, "high_water") >= int_at(v, "count"));
		CU_ASSERT(int_at(v, "size") > 0);
		n_rings++;
	}
	CU_ASSERT_EQUAL(n_rings, DP_LANE__COUNT);

	v = json_object_get(st, "storage");
	CU_ASSERT_TRUE(json_is_true(json_object_get(v, "on")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(v, "dir")), b.dir);
	CU_ASSERT_TRUE(json_is_false(json_object_get(v, "failing")));
	CU_ASSERT_TRUE(json_is_null(json_object_get(v, "last_error")));
	CU_ASSERT_EQUAL(int_at(v, "queued"), 0);
	CU_ASSERT(num_at(v, "obs_per_s") > 0.0);
	CU_ASSERT(int_at(v, "alarms_written") >= (json_int_t)(5 + N_HL7));
	CU_ASSERT_EQUAL(int_at(v, "write_errors"), 0);
	CU_ASSERT_EQUAL(int_at(v, "no_space"), 0);
	CU_ASSERT(int_at(v, "size_bytes") >= 0);
	CU_ASSERT(int_at(json_object_get(v, "keys"), "obs") > 0); /* the memtable counts */

	v = json_object_get(st, "events");
	CU_ASSERT_EQUAL(int_at(v, "telemetry_events"), N_HL7);
	CU_ASSERT_EQUAL(int_at(v, "alarm_events"), (json_int_t)(5 + N_HL7));
	CU_ASSERT_EQUAL(int_at(v, "alarm_lost"), 0);
	CU_ASSERT_EQUAL(int_at(v, "telemetry_lost"), 0);
	CU_ASSERT_EQUAL(int_at(json_object_get(v, "consumer"), "telemetry_events"), N_HL7);
	CU_ASSERT(int_at(json_object_get(st, "registry"), "devices") >= 1);

	/* The stats object: vigild --json's, with the rule hits. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(s.stats);
	CU_ASSERT_EQUAL(int_at(s.stats, "rx_packets"), (json_int_t)n_frames);
	CU_ASSERT_EQUAL(int_at(json_object_get(s.stats, "ruleset"), "version"), 1);
	CU_ASSERT_EQUAL(int_at(json_object_get(s.stats, "registry"), "devices"),
			int_at(json_object_get(st, "registry"), "devices"));
	CU_ASSERT_STRING_EQUAL(
		json_string_value(json_object_get(json_object_get(s.stats, "storage_info"), "dir")),
		b.dir);
	hits = json_object_get(s.stats, "rule_hits");
	CU_ASSERT_TRUE(json_is_array(hits));
	json_array_foreach(hits, i, v)
	{
		if (int_at(v, "sid") == 1) {
			sid1 = true;
			CU_ASSERT_EQUAL(int_at(v, "hits"), 5);
		}
	}
	CU_ASSERT_TRUE(sid1);

	/* Without the previous sample there is no rate, whatever the counters. */
	json_decref(s.status);
	s.status = cp_status_json(s.cur, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s.status);
	v = json_array_get(json_object_get(s.status, "workers"), 0);
	CU_ASSERT_DOUBLE_EQUAL(num_at(v, "busy"), 0.0, 0.0);
	CU_ASSERT_DOUBLE_EQUAL(num_at(v, "rx_pps"), 0.0, 0.0);
	CU_ASSERT_EQUAL(int_at(v, "packets"), (json_int_t)n_frames);
	CU_ASSERT_DOUBLE_EQUAL(num_at(json_object_get(s.status, "storage"), "obs_per_s"), 0.0, 0.0);

	seen_free(&s0);
	seen_free(&s);
	bench_stop(&b);
}

/* Readers on another thread while samples are taken. */
struct reader {
	struct cp_monitor *mon;
	atomic_bool stop;
	unsigned reads, eagain, bad;
};

static int
check_sample(void *arg, const struct cp_sample *cur, const struct cp_sample *prev)
{
	struct reader *r = arg;
	json_t *st = cp_status_json(cur, prev);
	char *text = st != NULL ? json_dumps(st, JSON_COMPACT) : NULL;

	/* A whole sample: its own stats object, and a previous one that is older. */
	if (text == NULL || cur->stats == NULL ||
	    json_object_get(cur->stats, "rx_packets") == NULL ||
	    (prev != NULL && prev->time_ns > cur->time_ns) || cur->r.n_workers != 1)
		r->bad++;
	free(text);
	json_decref(st);
	return 0;
}

static void *
reader_main(void *arg)
{
	struct reader *r = arg;

	while (!atomic_load(&r->stop)) {
		int rc = cp_monitor_read(r->mon, check_sample, r);

		if (rc == -EAGAIN)
			r->eagain++;
		else if (rc == 0)
			r->reads++;
		else
			r->bad++;
	}
	return NULL;
}

static void
test_concurrent_readers(void)
{
	struct bench b;
	struct reader r = {0};
	pthread_t thr;

	bench_start(&b, "tm_conc", true, true, false);
	r.mon = b.mon;
	atomic_init(&r.stop, false);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&thr, NULL, reader_main, &r), 0);
	for (unsigned i = 0; i < 40; i++) {
		if (i == 10)
			send_traffic(&b);
		cp_monitor_sample(b.mon);
		sleep_ms(2);
	}
	atomic_store(&r.stop, true);
	CU_ASSERT_EQUAL(pthread_join(thr, NULL), 0);
	CU_ASSERT(r.reads > 0);
	CU_ASSERT_EQUAL(r.bad, 0);
	bench_stop(&b);
}

/* No sources at all: a sample of nothing; bad arguments refused. */
static void
test_no_sources(void)
{
	const struct cp_sources none = {0};
	struct cp_monitor *m = (struct cp_monitor *)&none;
	unsigned called = 0;
	struct seen s;

	CU_ASSERT_EQUAL(cp_monitor_new(NULL, &m), -EINVAL);
	CU_ASSERT_EQUAL(cp_monitor_new(&none, NULL), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(cp_monitor_new(&none, &m), 0);
	CU_ASSERT_EQUAL(cp_monitor_read(m, NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(cp_monitor_read(NULL, never, &called), -EINVAL);
	CU_ASSERT_EQUAL(cp_monitor_read(m, never, &called), -EAGAIN);
	CU_ASSERT_EQUAL(called, 0);
	CU_ASSERT_PTR_NULL(cp_status_json(NULL, NULL));
	for (unsigned i = 0; i < 5; i++) /* every buffer in turn */
		cp_monitor_sample(m);
	read_into(m, &s);
	CU_ASSERT_TRUE(s.had_prev);
	CU_ASSERT_EQUAL(s.cur->r.n_ports, 0);
	CU_ASSERT_EQUAL(s.cur->r.n_workers, 0);
	CU_ASSERT(s.cur->uptime_s >= 0.0);
	check_status_keys(s.status);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(s.status, "ports")), 0);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(s.status, "workers")), 0);
	CU_ASSERT_PTR_NOT_NULL(s.stats);
	seen_free(&s);
	cp_monitor_free(m);
	cp_monitor_free(NULL);
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
		{"no sources, bad arguments", test_no_sources},
		{"a plane without rules, events or storage", test_bare_plane},
		{"two samples around traffic: rates, rings, ruleset, storage", test_traffic},
		{"readers while samples are taken", test_concurrent_readers},
	};
	CU_pSuite suite = CU_add_suite("monitor", suite_init, suite_cleanup);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
