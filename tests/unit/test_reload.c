/*
 * test_reload.c - the rule reload stress test of issue 5, and the ACL swap
 * and one-reload-at-a-time tests, on a real data plane.
 *
 * A net_pcap port replays a capture of HL7 ORU^R01 datagrams (real messages
 * from tests/fixtures/hl7) in a loop (infinite_rx), so the worker is never
 * idle: it decodes and evaluates rules at full speed while the control
 * plane reloads, exactly as vigild does (cp_reloader on the configuration
 * file, the event consumer draining the workers' rings).
 *
 * - stress: 200 reloads alternating two rulesets (A, B), every tenth one
 *   broken. Every good one must be in force on every worker and fire; every
 *   broken one must be refused with its FILE:LINE:COL and leave the running
 *   version alone; memory must be back at its baseline afterwards; and at
 *   the end no frame is unaccounted for, nothing was dropped, every decoded
 *   message was evaluated by some ruleset, and every event is either with
 *   the consumer or counted as lost.
 * - acl: telemetry.allow swapped 20 times between a network holding the
 *   capture's sender and one that does not.
 * - busy: a reload started while one runs is told -EBUSY, and the first
 *   still completes.
 *
 * The worker lcore busy-polls, and the machine may have two cores, so the
 * suite is not run in parallel with others. No assertion is on a time:
 * waits for the worker are bounded (WAIT_MS, generous for ASan on a shared
 * machine) only so that a failure ends the test instead of hanging it.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include <urcu/urcu-qsbr.h>

#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "controlplane.h"
#include "cunit_main.h"
#include "eal.h"
#include "dataplane.h"
#include "frames.h"
#include "rules.h"

#if defined(__SANITIZE_ADDRESS__)
#define TR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TR_ASAN 1
#endif
#endif
#ifdef TR_ASAN
#if defined(__has_include)
#if __has_include(<sanitizer/allocator_interface.h>)
#include <sanitizer/allocator_interface.h>
#define TR_HAVE_ALLOCATOR_INTERFACE 1
#endif
#endif
#ifndef TR_HAVE_ALLOCATOR_INTERFACE
/* GCC installs no sanitizer headers; the function is in libasan all the same. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif
#endif

/* ------------------------------------------------------------------------ */
/* The traffic, the rulesets, the configuration                              */
/* ------------------------------------------------------------------------ */

#define N_DATAGRAMS 300
#define N_RELOADS 200
#define BROKEN_EVERY 10
#define N_ACL_SWAPS 20
#define ACL_GROWTH 64 /* datagrams each ACL state must see before it is judged */
#define WAIT_MS 60000
#define POLL_US 200

#define SENDER_V4 0x0a140007u	 /* 10.20.0.7, the capture's only sender */
#define APPLIANCE_V4 0xc0000201u /* 192.0.2.1 */
#define SENDER_PORT 40001
#define HL7_PORT 2575
#define ALLOW_INSIDE "10.0.0.0/8"
#define ALLOW_OUTSIDE "192.168.0.0/16"

/* Memory tolerances: see check_memory. */
#ifdef TR_ASAN
#define HEAP_TOLERANCE 4096u
#else
#define HEAP_TOLERANCE (512u * 1024u)
#endif
#define EAL_TOLERANCE 0u

/* Real ORU^R01 messages (tests/fixtures/hl7/SOURCES.md), one per datagram. */
static const char *const fixtures[] = {
	"001_ipf_pcd01_request.hl7",		/* NIBP: B's metric rule */
	"004_ipf_continua_wan_oximeter.hl7",	/* SpO2 80.5: A's metric rule */
	"006_ipf_continua_wan_thermometer.hl7", /* neither */
	"008_t5_ihe_pcd01_pulse_oximetry.hl7",	/* neither */
};
#define N_FIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

enum rs_kind { RS_A = 0, RS_B, RS_BROKEN, RS__COUNT };

#define RS_MAX_SIDS 3

/* A ruleset the test writes into cur.rules: A and B each have a content rule that
 * fires on every message and a metric rule that fires on one in four. */
struct rs_def {
	const char *name;
	const char *text;
	unsigned n_rules;
	uint32_t sid[RS_MAX_SIDS];   /* sid[0]: a content rule, sid[1]: a metric rule */
	unsigned index[RS_MAX_SIDS]; /* each sid's rule index, from a load in suite_init */
};

static struct rs_def rs_defs[RS__COUNT] = {
	[RS_A] = {"A",
		  "# test_reload: ruleset A\n"
		  "alert hl7 any any -> any any (msg:\"A: an ORU^R01\"; content:\"ORU^R01\"; "
		  "priority:low; sid:9100001; rev:1;)\n"
		  "alert any any any -> any any (msg:\"A: SpO2 below 100\"; metric:SPO2; "
		  "value:<100; priority:medium; sid:9100002; rev:1;)\n",
		  2,
		  {9100001, 9100002},
		  {0}},
	[RS_B] = {"B",
		  "# test_reload: ruleset B\n"
		  "alert hl7 any any -> any any (msg:\"B: an MSH\"; content:\"MSH\\|\"; "
		  "priority:low; sid:9200001; rev:1;)\n"
		  "alert any any any -> any any (msg:\"B: NIBP systolic 100 or more\"; "
		  "metric:NIBP_SYS; value:>=100; priority:medium; sid:9200002; rev:1;)\n"
		  "log hl7 any any -> any any (msg:\"B: a PID\"; content:\"PID\\|\"; "
		  "sid:9200003; rev:1;)\n",
		  3,
		  {9200001, 9200002, 9200003},
		  {0}},
	/* One mistake, on line 3 at the misspelt keyword (BROKEN_WORD). */
	[RS_BROKEN] = {"broken",
		       "# test_reload: a ruleset with one mistake\n"
		       "# (a misspelt keyword on the next line)\n"
		       "alert hl7 any any -> any any (msg:\"broken\"; priorty:low; sid:9300001;)\n",
		       0,
		       {0},
		       {0}},
};
#define BROKEN_LINE 3
#define BROKEN_WORD "priorty"

static char tmp_dir[] = "/tmp/vigil-test-reload-XXXXXX";
static bool tmp_made;
static char pcap_path[256];
static char rules_path[256];
static char config_path[256];
static char broken_loc[64]; /* "cur.rules:3:COL" */
static unsigned vdev_seq;

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

static void
sleep_us(unsigned us)
{
	struct timespec ts = {0, (long)us * 1000};

	nanosleep(&ts, NULL);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Write @p text to @p path whole: a temporary file, then rename. */
static int
write_file(const char *path, const char *text)
{
	char tmp[300];
	FILE *f;
	int rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		return -errno;
	if (fputs(text, f) == EOF)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

static int
write_rules(enum rs_kind k)
{
	return write_file(rules_path, rs_defs[k].text);
}

/* vigil.yaml for the port @p vdev; @p allow NULL: no telemetry.allow (everyone). */
static int
write_config(const char *vdev, const char *allow)
{
	char text[2048], allow_line[128] = "";

	if (allow != NULL)
		snprintf(allow_line, sizeof(allow_line), "  allow: [\"%s\"]\n", allow);
	snprintf(text, sizeof(text),
		 "# test_reload's vigil.yaml (rewritten by the ACL test)\n"
		 "workers: 1\n"
		 "ports:\n"
		 "  - device: \"%s,rx_pcap=%s,infinite_rx=1\"\n"
		 "    addresses: [192.0.2.1]\n"
		 "telemetry:\n"
		 "  hl7_ports: [%u]\n"
		 "%s"
		 "rules:\n"
		 "  files: [cur.rules]\n",
		 vdev, pcap_path, HL7_PORT, allow_line);
	return write_file(config_path, text);
}

static int
read_fixture(const char *name, char *buf, size_t room, size_t *len)
{
	const char *root = getenv("VIGIL_SOURCE_ROOT");
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fixtures/hl7/%s", root ? root : ".", name);
	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "test_reload: cannot open %s (set VIGIL_SOURCE_ROOT): %s\n", path,
			strerror(errno));
		return -ENOENT;
	}
	*len = fread(buf, 1, room, f);
	fclose(f);
	if (*len == 0 || *len >= room) {
		fprintf(stderr, "test_reload: %s is empty or too long\n", path);
		return -EINVAL;
	}
	return 0;
}

/*
 * Each fixture must decode to one message with no malformation, so that
 * the run's malformation counters must stay at zero.
 */
static int
check_fixture(const char *name, const uint8_t *msg, size_t len)
{
	static struct dp_stats st;
	static struct dp_decoded dec;

	memset(&st, 0, sizeof(st));
	if (dp_hl7_decode(msg, len, &st, &dec) != 0 || st.hl7[DP_HL7_messages] != 1) {
		fprintf(stderr, "test_reload: fixture %s does not decode\n", name);
		return -EINVAL;
	}
	for (unsigned c = DP_HL7_mllp_empty; c < DP_HL7__COUNT; c++) {
		if (st.hl7[c] != 0) {
			fprintf(stderr, "test_reload: fixture %s counts %s\n", name,
				dp_hl7_counter_name((enum dp_hl7_counter)c));
			return -EINVAL;
		}
	}
	return 0;
}

/* The capture: N_DATAGRAMS MLLP-framed messages, the fixtures in turn. */
static int
write_pcap(void)
{
	static char msg[N_FIXTURES][8192];
	static uint8_t payload[8192 + 3], frame[9000];
	size_t len[N_FIXTURES];
	struct fr_l2 l2 = {
		.dst = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01},
		.src = {0x02, 0x00, 0x00, 0x00, 0x20, 0x07},
	};
	struct fr_pcap *p;
	int rc = 0;

	for (unsigned i = 0; i < N_FIXTURES; i++) {
		rc = read_fixture(fixtures[i], msg[i], sizeof(msg[i]), &len[i]);
		if (rc == 0)
			rc = check_fixture(fixtures[i], (const uint8_t *)msg[i], len[i]);
		if (rc != 0)
			return rc;
	}
	p = fr_pcap_open(pcap_path);
	if (p == NULL)
		return -errno ? -errno : -EIO;
	for (unsigned i = 0; i < N_DATAGRAMS && rc == 0; i++) {
		unsigned f = i % N_FIXTURES;
		size_t flen;

		payload[0] = 0x0b;
		memcpy(payload + 1, msg[f], len[f]);
		payload[len[f] + 1] = 0x1c;
		payload[len[f] + 2] = 0x0d;
		flen = fr_udp4(frame, sizeof(frame), &l2, SENDER_V4, APPLIANCE_V4, SENDER_PORT,
			       HL7_PORT, payload, len[f] + 3);
		if (flen == 0 || flen > 2000) /* one mbuf: net_pcap chains longer frames */
			rc = -E2BIG;
		else
			rc = fr_pcap_write(p, frame, flen, 1700000000000000ull + i * 1000u);
	}
	if (fr_pcap_close(p) != 0 && rc == 0)
		rc = -EIO;
	return rc;
}

/* Each sid's index in its ruleset, from a parse of the text (no compile). */
static int
index_rulesets(void)
{
	for (unsigned k = RS_A; k <= RS_B; k++) {
		struct rs_def *d = &rs_defs[k];
		struct rule_source src = {d->name, d->text, strlen(d->text)};
		struct rule_load_opts opts = {.sources = &src, .n_sources = 1, .no_compile = true};
		struct rule_diags diags = {0};
		struct rule_set *set = NULL;
		int rc = rule_set_load(&opts, &set, &diags);

		if (rc != 0 || rule_set_count(set) != d->n_rules) {
			rule_diags_print(&diags, stderr);
			rule_diags_free(&diags);
			rule_set_free(set);
			return rc != 0 ? rc : -EINVAL;
		}
		for (unsigned i = 0; i < RS_MAX_SIDS && d->sid[i] != 0; i++)
			d->index[i] = rule_set_find(set, d->sid[i])->index;
		rule_diags_free(&diags);
		rule_set_free(set);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* EAL                                                                       */
/* ------------------------------------------------------------------------ */

static int
suite_init(void)
{
	const char *broken_line;
	int rc;

	if (mkdtemp(tmp_dir) == NULL) {
		fprintf(stderr, "test_reload: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	tmp_made = true;
	snprintf(pcap_path, sizeof(pcap_path), "%s/ward.pcap", tmp_dir);
	snprintf(rules_path, sizeof(rules_path), "%s/cur.rules", tmp_dir);
	snprintf(config_path, sizeof(config_path), "%s/vigil.yaml", tmp_dir);
	rc = write_pcap();
	if (rc != 0) {
		fprintf(stderr, "test_reload: cannot write the capture: %s\n", strerror(-rc));
		return -1;
	}
	rc = index_rulesets();
	if (rc != 0) {
		fprintf(stderr, "test_reload: rulesets A and B do not load: %s\n", strerror(-rc));
		return -1;
	}
	/* Where the broken ruleset's error is: line 3, the misspelt keyword. */
	broken_line = strchr(strchr(rs_defs[RS_BROKEN].text, '\n') + 1, '\n') + 1;
	snprintf(broken_loc, sizeof(broken_loc), "cur.rules:%u:%u", BROKEN_LINE,
		 (unsigned)(strstr(broken_line, BROKEN_WORD) - broken_line) + 1);

	if (vt_eal_init("test_reload", 2, 1024) != 0)
		return -1;
	/* This thread reads the published bundle as a QSBR reader, online only
	 * while it reads: cp_reload_run waits for grace periods on it. */
	urcu_qsbr_register_thread();
	urcu_qsbr_thread_offline();
	return 0;
}

static int
suite_cleanup(void)
{
	int rc = 0;

	urcu_qsbr_unregister_thread();
	if (rte_eal_cleanup() != 0)
		rc = -1;
	if (tmp_made) {
		char tmp[300];

		unlink(pcap_path);
		unlink(rules_path);
		unlink(config_path);
		snprintf(tmp, sizeof(tmp), "%s.tmp", rules_path);
		unlink(tmp);
		snprintf(tmp, sizeof(tmp), "%s.tmp", config_path);
		unlink(tmp);
		rmdir(tmp_dir);
	}
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The consumer's hooks: every event checked against the ruleset it names    */
/* ------------------------------------------------------------------------ */

enum version_map {
	MAP_ALTERNATE, /* version 1 and every odd one is A, every even one B */
	MAP_ALL_A,
};

struct hook_state {
	enum version_map map; /* set before the consumer starts */
	_Atomic uint64_t hits;
	_Atomic uint64_t dev_alarms;
	_Atomic uint64_t tech;
	_Atomic uint64_t tech_lost; /* sum of the technical alarms' values */
	_Atomic uint64_t other;	    /* an event of no known ALARM type */
	_Atomic uint64_t telemetry;
	_Atomic uint64_t telemetry_not_obs;
	_Atomic uint64_t bad_hits; /* a hit whose sid or index is not its version's */
	_Atomic uint64_t bad_version;
	_Atomic uint64_t bad_sid;
};

static struct hook_state hooks_seen;

static enum rs_kind
kind_of_version(enum version_map map, uint64_t version)
{
	if (map == MAP_ALL_A)
		return RS_A;
	return version % 2 == 1 ? RS_A : RS_B;
}

static void
hook_alarm(void *arg, const struct dp_event *ev)
{
	struct hook_state *h = arg;

	switch (ev->type) {
	case DP_EV_HIT: {
		const struct rs_def *d =
			&rs_defs[kind_of_version(h->map, ev->u.hit.ruleset_version)];
		bool ok = false;

		atomic_fetch_add(&h->hits, 1);
		for (unsigned i = 0; i < RS_MAX_SIDS && d->sid[i] != 0; i++)
			if (d->sid[i] == ev->u.hit.sid && d->index[i] == ev->u.hit.rule_index)
				ok = true;
		if (!ok && atomic_fetch_add(&h->bad_hits, 1) == 0) {
			atomic_store(&h->bad_version, ev->u.hit.ruleset_version);
			atomic_store(&h->bad_sid, ev->u.hit.sid);
		}
		break;
	}
	case DP_EV_DEV_ALARM:
		atomic_fetch_add(&h->dev_alarms, 1);
		break;
	case DP_EV_TECH:
		atomic_fetch_add(&h->tech, 1);
		if (ev->code == DP_TECH_EVENT_LOSS)
			atomic_fetch_add(&h->tech_lost, (uint64_t)ev->value);
		break;
	default:
		atomic_fetch_add(&h->other, 1);
		break;
	}
}

static void
hook_telemetry(void *arg, const struct dp_event *ev, unsigned n)
{
	struct hook_state *h = arg;

	atomic_fetch_add(&h->telemetry, n);
	for (unsigned i = 0; i < n; i++)
		if (ev[i].type != DP_EV_OBS)
			atomic_fetch_add(&h->telemetry_not_obs, 1);
}

static void
hooks_reset(enum version_map map)
{
	memset(&hooks_seen, 0, sizeof(hooks_seen));
	hooks_seen.map = map;
}

/* ------------------------------------------------------------------------ */
/* A plane as vigild starts it                                               */
/* ------------------------------------------------------------------------ */

struct plane {
	char vdev[32];
	bool vdev_added;
	struct cp_config cfg;
	bool cfg_loaded;
	struct dp_plane *dp;
	struct cp_consumer *cons;
	bool cons_started;
	bool stopped;
	struct cp_reloader *rl;
};

/*
 * Hot-plug a fresh net_pcap port, write the config (@p allow as in
 * write_config) and the rules (@p kind), then do what vigild does: load the
 * config, the initial bundle (version 1), dp_start, the consumer, the
 * reloader. On failure what was made is left in @p p for plane_free.
 */
static int
plane_start(struct plane *p, enum rs_kind kind, const char *allow)
{
	char err[512] = "", devargs[300];
	struct rule_var vars[CP_MAX_RULE_VARS];
	struct rule_load_opts opts;
	struct rule_diags diags = {0};
	struct rule_set *set = NULL;
	struct dp_ruleset *rs = NULL;
	struct dp_conf dpc;
	struct cp_event_hooks hooks = {hook_alarm, hook_telemetry, &hooks_seen};
	int rc;

	memset(p, 0, sizeof(*p));
	snprintf(p->vdev, sizeof(p->vdev), "net_pcap%u", vdev_seq++);
	rc = write_config(p->vdev, allow);
	if (rc == 0)
		rc = write_rules(kind);
	if (rc != 0) {
		fprintf(stderr, "test_reload: cannot write the config or rules: %s\n",
			strerror(-rc));
		return rc;
	}
	snprintf(devargs, sizeof(devargs), "rx_pcap=%s,infinite_rx=1", pcap_path);
	rc = rte_eal_hotplug_add("vdev", p->vdev, devargs);
	if (rc != 0) {
		fprintf(stderr, "test_reload: cannot add %s: %s\n", p->vdev, rte_strerror(-rc));
		return rc;
	}
	p->vdev_added = true;

	rc = cp_config_defaults(&p->cfg);
	if (rc != 0)
		return rc;
	p->cfg_loaded = true;
	rc = cp_config_load(&p->cfg, config_path, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "test_reload: config: %s\n", err);
		return rc;
	}
	cp_config_to_dp(&p->cfg, &dpc);
	dpc.events = true;
	dpc.rules = NULL;
	rc = cp_config_acl(&p->cfg, &dpc.acl);
	if (rc != 0)
		return rc;

	cp_config_rule_opts(&p->cfg, &opts, vars);
	rc = rule_set_load(&opts, &set, &diags);
	if (rc != 0)
		rule_diags_print(&diags, stderr);
	rule_diags_free(&diags);
	if (rc == 0) {
		rc = dp_ruleset_new(set, dpc.n_workers, 1, &rs);
		if (rc != 0)
			rule_set_free(set);
	}
	if (rc != 0) {
		dp_acl_free(dpc.acl);
		return rc;
	}
	dpc.ruleset = rs;
	rc = dp_start(&dpc, &p->dp, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "test_reload: dp_start: %s\n", err);
		dp_ruleset_free(rs);
		dp_acl_free(dpc.acl);
		return rc;
	}
	rc = cp_consumer_of_plane(p->dp, &hooks, &p->cons);
	if (rc == 0)
		rc = cp_consumer_start(p->cons);
	if (rc != 0)
		return rc;
	p->cons_started = true;
	return cp_reloader_new(p->dp, config_path, NULL, 0, &p->rl);
}

/* Stop the workers, then the consumer, which drains what is left. */
static void
plane_stop(struct plane *p)
{
	if (p->stopped)
		return;
	p->stopped = true;
	if (p->dp != NULL)
		dp_stop(p->dp);
	if (p->cons != NULL && p->cons_started)
		cp_consumer_stop(p->cons);
}

static void
plane_free(struct plane *p)
{
	plane_stop(p);
	cp_reloader_free(p->rl);
	cp_consumer_free(p->cons);
	if (p->dp != NULL)
		dp_destroy(p->dp);
	if (p->cfg_loaded)
		cp_config_free(&p->cfg);
	if (p->vdev_added)
		CU_ASSERT_EQUAL(rte_eal_hotplug_remove("vdev", p->vdev), 0);
	memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------------------ */
/* Reading the running plane                                                 */
/* ------------------------------------------------------------------------ */

/* Wait (bounded) until every worker has evaluated with @p version. */
static bool
wait_workers_at(struct dp_plane *dp, uint64_t version)
{
	uint64_t t0 = now_ms();

	for (;;) {
		bool all = true;

		for (unsigned w = 0; w < dp_n_workers(dp); w++)
			if (dp_worker_ruleset_version(dp, w) != version)
				all = false;
		if (all)
			return true;
		if (now_ms() - t0 > WAIT_MS)
			break;
		sleep_us(POLL_US);
	}
	for (unsigned w = 0; w < dp_n_workers(dp); w++)
		fprintf(stderr,
			"test_reload: worker %u runs version %" PRIu64 ", not %" PRIu64 "\n", w,
			dp_worker_ruleset_version(dp, w), version);
	return false;
}

/* What the published bundle is, read as a QSBR reader. */
struct bundle_view {
	bool present;
	uint64_t version;
	unsigned n_rules;
	uint64_t hits[RS_MAX_SIDS];
	bool sid_found[RS_MAX_SIDS];
};

static void
bundle_read(struct dp_plane *dp, const struct rs_def *d, struct bundle_view *v)
{
	const struct dp_ruleset *rs;

	memset(v, 0, sizeof(*v));
	urcu_qsbr_thread_online();
	rs = dp_ruleset_current(dp);
	if (rs != NULL) {
		v->present = true;
		v->version = rs->version;
		v->n_rules = rs->n_rules;
		for (unsigned i = 0; d != NULL && i < RS_MAX_SIDS && d->sid[i] != 0; i++) {
			const struct rule *r = rule_set_find(rs->set, d->sid[i]);

			if (r != NULL) {
				v->sid_found[i] = true;
				v->hits[i] = dp_ruleset_hits(rs, r->index);
			}
		}
	}
	urcu_qsbr_thread_offline();
}

static uint64_t
current_version(struct dp_plane *dp)
{
	struct bundle_view v;

	bundle_read(dp, NULL, &v);
	return v.present ? v.version : 0;
}

/*
 * The bundle in force is @p version of ruleset @p kind, and its content
 * and metric rules (sid[0], sid[1]) fire: their hits grow past what they
 * were when first read (bounded wait).
 */
static bool
check_bundle_fires(struct dp_plane *dp, uint64_t version, enum rs_kind kind)
{
	const struct rs_def *d = &rs_defs[kind];
	struct bundle_view first, now;
	uint64_t t0 = now_ms();

	bundle_read(dp, d, &first);
	CU_ASSERT(first.present);
	CU_ASSERT_EQUAL(first.version, version);
	CU_ASSERT_EQUAL(first.n_rules, d->n_rules);
	CU_ASSERT(first.sid_found[0] && first.sid_found[1]);
	if (!first.present || first.version != version || !first.sid_found[0] ||
	    !first.sid_found[1])
		return false;
	for (;;) {
		bundle_read(dp, d, &now);
		if (now.version != version) {
			CU_FAIL("the bundle in force changed with no reload");
			return false;
		}
		if (now.hits[0] > first.hits[0] && now.hits[1] > first.hits[1])
			return true;
		if (now_ms() - t0 > WAIT_MS)
			break;
		sleep_us(POLL_US);
	}
	fprintf(stderr,
		"test_reload: version %" PRIu64 " (%s): sid %u hits %" PRIu64 " -> %" PRIu64
		", sid %u hits %" PRIu64 " -> %" PRIu64 "\n",
		version, d->name, d->sid[0], first.hits[0], now.hits[0], d->sid[1], first.hits[1],
		now.hits[1]);
	CU_FAIL("the new ruleset's rules did not fire");
	return false;
}

/* ------------------------------------------------------------------------ */
/* Memory                                                                    */
/* ------------------------------------------------------------------------ */

struct mem {
	size_t heap; /* malloc: what the program holds */
	size_t eal;  /* rte_malloc, every socket */
};

static void
mem_now(struct mem *m)
{
#ifdef TR_ASAN
	m->heap = __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();

	/* uordblks: chunks in use in every arena; hblkhd: those glibc mmapped
	 * itself (large ones, such as a Hyperscan database can be). */
	m->heap = mi.uordblks + mi.hblkhd;
#endif
	m->eal = 0;
	for (unsigned i = 0; i < rte_socket_count(); i++) {
		struct rte_malloc_socket_stats st;
		int socket = rte_socket_id_by_idx(i);

		if (socket >= 0 && rte_malloc_get_socket_stats(socket, &st) == 0)
			m->eal += st.heap_allocsz_bytes;
	}
}

/* Every call_rcu callback run, and a grace period after them. */
static void
rcu_settle(void)
{
	urcu_qsbr_barrier();
	urcu_qsbr_synchronize_rcu();
	urcu_qsbr_barrier();
}

/*
 * What one bundle of ruleset A costs (heap and EAL memory), measured by
 * building one aside and freeing it: a leak of one bundle per reload must
 * exceed the tolerances, or the memory check could not see it.
 */
static void
bundle_footprint(unsigned n_workers, struct mem *cost)
{
	const struct rs_def *d = &rs_defs[RS_A];
	struct rule_source src = {d->name, d->text, strlen(d->text)};
	struct rule_load_opts opts = {.sources = &src, .n_sources = 1};
	struct rule_diags diags = {0};
	struct rule_set *set = NULL;
	struct dp_ruleset *rs = NULL;
	struct mem before, after;

	memset(cost, 0, sizeof(*cost));
	mem_now(&before);
	if (rule_set_load(&opts, &set, &diags) == 0 && dp_ruleset_new(set, n_workers, 99, &rs) != 0)
		rule_set_free(set);
	mem_now(&after);
	rule_diags_free(&diags);
	CU_ASSERT_PTR_NOT_NULL(rs);
	dp_ruleset_free(rs);
	cost->heap = after.heap > before.heap ? after.heap - before.heap : 0;
	cost->eal = after.eal > before.eal ? after.eal - before.eal : 0;
}

/*
 * Memory after the run against the baseline taken after the first two good
 * reloads, with ruleset A in force at both points (so the same bundle
 * shape is held).
 *
 * EAL memory (rte_malloc) must be back exactly: nothing in the reload path
 * allocates EAL memory that it may keep.
 *
 * Heap: under ASan the figure is the bytes the program holds, exactly;
 * HEAP_TOLERANCE (4 KiB) is for one-off lazy allocations of the C library
 * that a code path may make the first time it runs after the baseline. In
 * a build without ASan, mallinfo2 counts the chunks that glibc's per-thread
 * caches (tcache) hold as in use: up to about 240 KiB per thread that
 * frees (this one, and liburcu's call_rcu thread), whatever the program
 * holds; so the tolerance there is 512 KiB. Either way it is far below
 * what one leaked bundle per reload adds up to, which the test checks with
 * the measured cost of a bundle (so a tolerance too wide to see such a
 * leak fails the test rather than hiding it).
 */
static void
check_memory(const struct mem *base, const struct mem *end, const struct mem *bundle,
	     unsigned n_reloads)
{
	long long heap_delta = (long long)end->heap - (long long)base->heap;
	long long eal_delta = (long long)end->eal - (long long)base->eal;

	printf("\n  memory: heap %zu -> %zu (%+lld), EAL %zu -> %zu (%+lld); one bundle costs "
	       "%zu heap + %zu EAL bytes; %u bundles made since the baseline\n",
	       base->heap, end->heap, heap_delta, base->eal, end->eal, eal_delta, bundle->heap,
	       bundle->eal, n_reloads);
	CU_ASSERT(heap_delta <= (long long)HEAP_TOLERANCE);
	CU_ASSERT(eal_delta <= (long long)EAL_TOLERANCE);
	/* A bundle per reload must show: */
	CU_ASSERT((uint64_t)bundle->heap * n_reloads > 2ull * HEAP_TOLERANCE ||
		  (uint64_t)bundle->eal * n_reloads > 2ull * EAL_TOLERANCE);
}

/* ------------------------------------------------------------------------ */
/* The counters once the plane has stopped                                   */
/* ------------------------------------------------------------------------ */

static void
check_no_loss(struct plane *p)
{
	static struct dp_stats tot;
	uint64_t cons[CP_CONS__COUNT];
	struct dp_plane *dp = p->dp;

	for (unsigned w = 0; w < dp_n_workers(dp); w++) {
		const struct dp_stats *s = dp_worker_stats(dp, w);

		CU_ASSERT(dp_read(&s->rx_packets) > 0);
		CU_ASSERT_EQUAL(dp_read(&s->rx_packets), dp_stats_accounted(s));
	}
	for (unsigned i = 0; i < dp_n_ports(dp); i++) {
		struct dp_port_stats ps;

		memset(&ps, 0, sizeof(ps));
		CU_ASSERT_EQUAL(dp_port_stats(dp, i, &ps), 0);
		CU_ASSERT_EQUAL(ps.imissed, 0);
		CU_ASSERT_EQUAL(ps.ierrors, 0);
		CU_ASSERT_EQUAL(ps.rx_nombuf, 0);
	}
	memset(&tot, 0, sizeof(tot));
	dp_stats_total(dp, &tot);
	/* Every frame of the capture is an HL7 datagram, none dropped. */
	CU_ASSERT_EQUAL(tot.outcome[DP_OUT_telemetry_hl7], tot.rx_packets);
	for (unsigned d = 0; d < DP_DROP__COUNT; d++) {
		if (tot.drop[d] != 0)
			fprintf(stderr, "test_reload: drop %s = %" PRIu64 "\n",
				dp_drop_name((enum dp_drop)d), (uint64_t)tot.drop[d]);
		CU_ASSERT_EQUAL(tot.drop[d], 0);
	}
	for (unsigned c = DP_HL7_mllp_empty; c < DP_HL7__COUNT; c++) {
		if (tot.hl7[c] != 0)
			fprintf(stderr, "test_reload: hl7 %s = %" PRIu64 "\n",
				dp_hl7_counter_name((enum dp_hl7_counter)c), (uint64_t)tot.hl7[c]);
		CU_ASSERT_EQUAL(tot.hl7[c], 0);
	}
	CU_ASSERT_EQUAL(tot.rule[RULE_CNT_scan_errors], 0);
	CU_ASSERT_EQUAL(tot.rule[RULE_CNT_hits_overflow], 0);

	/* Events: what the workers put plus what they lost is every hit and
	 * every observation; the consumer took all that was put. */
	cp_consumer_counters(p->cons, cons);
	printf("  events: %" PRIu64 " alarm (%" PRIu64 " lost), %" PRIu64 " telemetry (%" PRIu64
	       " lost)\n",
	       (uint64_t)tot.event[DP_EVC_alarm_events], (uint64_t)tot.event[DP_EVC_alarm_lost],
	       (uint64_t)tot.event[DP_EVC_telemetry_events],
	       (uint64_t)tot.event[DP_EVC_telemetry_lost]);
	CU_ASSERT_EQUAL(tot.event[DP_EVC_alarm_events] + tot.event[DP_EVC_alarm_lost],
			tot.rule[RULE_CNT_alerts] + tot.rule[RULE_CNT_logs] +
				tot.hl7[DP_HL7_device_alarms]);
	CU_ASSERT_EQUAL(tot.event[DP_EVC_telemetry_events] + tot.event[DP_EVC_telemetry_lost],
			tot.hl7[DP_HL7_observations] + tot.vtp[DP_VTP_observations]);
	CU_ASSERT_EQUAL(cons[CP_CONS_alarm_events], tot.event[DP_EVC_alarm_events]);
	CU_ASSERT_EQUAL(cons[CP_CONS_telemetry_events], tot.event[DP_EVC_telemetry_events]);
	CU_ASSERT_EQUAL(atomic_load(&hooks_seen.hits) + atomic_load(&hooks_seen.dev_alarms),
			cons[CP_CONS_alarm_events]);
	CU_ASSERT_EQUAL(atomic_load(&hooks_seen.telemetry), cons[CP_CONS_telemetry_events]);
	CU_ASSERT_EQUAL(atomic_load(&hooks_seen.telemetry_not_obs), 0);
	CU_ASSERT_EQUAL(atomic_load(&hooks_seen.other), 0);
	/* ALARM events lost are never silent: raised, every one, once drained. */
	CU_ASSERT_EQUAL(atomic_load(&hooks_seen.tech), cons[CP_CONS_loss_alarms]);
	CU_ASSERT_EQUAL(atomic_load(&hooks_seen.tech_lost), tot.event[DP_EVC_alarm_lost]);
	/* Each hit names a sid and index of the ruleset of its version: no
	 * worker ever saw half a ruleset, or one bundle's rules under another's
	 * version. */
	if (atomic_load(&hooks_seen.bad_hits) != 0)
		fprintf(stderr,
			"test_reload: %" PRIu64 " hits not of their version's ruleset (first: "
			"version %" PRIu64 ", sid %" PRIu64 ")\n",
			atomic_load(&hooks_seen.bad_hits), atomic_load(&hooks_seen.bad_version),
			atomic_load(&hooks_seen.bad_sid));
	CU_ASSERT_EQUAL(atomic_load(&hooks_seen.bad_hits), 0);
	CU_ASSERT(atomic_load(&hooks_seen.hits) > 0);
}

/* ------------------------------------------------------------------------ */
/* Stress: 200 reloads under traffic                                         */
/* ------------------------------------------------------------------------ */

static void
test_stress(void)
{
	static struct dp_stats tot;
	struct plane p;
	struct mem bundle, base = {0}, end;
	uint64_t version = 1, good = 0, refused = 0;
	unsigned n_good = 0, n_bad = 0;
	bool have_base = false;
	enum rs_kind next = RS_B, in_force = RS_A;
	char hash_of[RS__COUNT][65] = {""};
	bool ok;

	hooks_reset(MAP_ALTERNATE);
	ok = plane_start(&p, RS_A, NULL) == 0;
	CU_ASSERT(ok);
	if (ok) {
		struct dp_ruleset *rs;

		bundle_footprint(dp_n_workers(p.dp), &bundle);
		ok = wait_workers_at(p.dp, 1) && check_bundle_fires(p.dp, 1, RS_A);
		CU_ASSERT(ok);
		/* Version 1's hash, read as the only publisher (no reload yet). */
		rs = dp_ruleset_current(p.dp);
		if (rs != NULL)
			snprintf(hash_of[RS_A], sizeof(hash_of[RS_A]), "%s",
				 rule_set_info(rs->set)->hash);
	}
	for (unsigned i = 1; ok && i <= N_RELOADS; i++) {
		bool broken = i % BROKEN_EVERY == 0;
		enum rs_kind kind = broken ? RS_BROKEN : next;
		struct cp_reload_result res;
		int rc;

		memset(&res, 0, sizeof(res));
		if (write_rules(kind) != 0) {
			CU_FAIL("cannot write cur.rules");
			ok = false;
			break;
		}
		rc = cp_reload_run(p.rl, &res);
		CU_ASSERT_EQUAL(res.rc, rc);
		if (broken) {
			n_bad++;
			CU_ASSERT_EQUAL(rc, -EINVAL);
			CU_ASSERT(res.n_errors >= 1);
			CU_ASSERT_PTR_NOT_NULL(res.diags);
			CU_ASSERT(res.diags != NULL && strstr(res.diags, broken_loc) != NULL);
			CU_ASSERT_EQUAL(res.version, version);
			CU_ASSERT_EQUAL(res.n_rules, rs_defs[in_force].n_rules);
			CU_ASSERT_STRING_EQUAL(res.hash, hash_of[in_force]);
			CU_ASSERT_EQUAL(current_version(p.dp), version);
			if (rc != -EINVAL || res.diags == NULL || !strstr(res.diags, broken_loc)) {
				fprintf(stderr,
					"test_reload: reload %u (broken) gave %d, diags:\n%s\n", i,
					rc, res.diags ? res.diags : "(none)");
				ok = false;
			}
		} else {
			CU_ASSERT_EQUAL(rc, 0);
			CU_ASSERT_EQUAL(res.version, version + 1);
			CU_ASSERT_EQUAL(res.n_rules, rs_defs[kind].n_rules);
			CU_ASSERT_EQUAL(res.n_errors, 0);
			CU_ASSERT(res.compile_ms > 0);
			/* The ruleset's hash: one per ruleset, whatever its version. */
			CU_ASSERT_EQUAL(strlen(res.hash), 64);
			if (hash_of[kind][0] == '\0')
				snprintf(hash_of[kind], sizeof(hash_of[kind]), "%s", res.hash);
			CU_ASSERT_STRING_EQUAL(res.hash, hash_of[kind]);
			if (rc != 0 || res.version != version + 1) {
				fprintf(stderr,
					"test_reload: reload %u (%s) gave %d, version %" PRIu64
					", diags:\n%s\n",
					i, rs_defs[kind].name, rc, res.version,
					res.diags ? res.diags : "(none)");
				ok = false;
			} else {
				version++;
				ok = wait_workers_at(p.dp, version) &&
				     check_bundle_fires(p.dp, version, kind);
				CU_ASSERT(ok);
				n_good++;
				in_force = kind;
				next = kind == RS_A ? RS_B : RS_A;
			}
		}
		cp_reload_result_free(&res);
		if (n_good == 2 && !have_base) {
			/* Both rulesets, Hyperscan and glibc's arenas have been
			 * through once; A is in force (version 3). */
			rcu_settle();
			mem_now(&base);
			have_base = true;
		}
	}
	if (!ok) {
		plane_free(&p);
		return;
	}
	CU_ASSERT_EQUAL(n_good, N_RELOADS - N_RELOADS / BROKEN_EVERY);
	CU_ASSERT_EQUAL(n_bad, N_RELOADS / BROKEN_EVERY);
	/* 180 good reloads from A alternate to B and back: A again at the end. */
	CU_ASSERT_EQUAL(kind_of_version(MAP_ALTERNATE, version), RS_A);
	CU_ASSERT(strcmp(hash_of[RS_A], hash_of[RS_B]) != 0);
	cp_reload_counts(p.rl, &good, &refused);
	CU_ASSERT_EQUAL(good, n_good);
	CU_ASSERT_EQUAL(refused, n_bad);

	rcu_settle();
	mem_now(&end);
	check_memory(&base, &end, &bundle, n_good - 2);

	plane_stop(&p);
	check_no_loss(&p);
	memset(&tot, 0, sizeof(tot));
	dp_stats_total(p.dp, &tot);
	/* Every datagram decoded (one message each), and every message was
	 * evaluated by some ruleset: none slipped through a swap unevaluated. */
	CU_ASSERT_EQUAL(tot.hl7[DP_HL7_messages], tot.outcome[DP_OUT_telemetry_hl7]);
	CU_ASSERT_EQUAL(tot.rule[RULE_CNT_messages], tot.hl7[DP_HL7_messages]);
	CU_ASSERT_EQUAL(tot.table[DP_TAB_acl_denied], 0);
	printf("  %u reloads (%u refused); %" PRIu64 " frames, %" PRIu64
	       " messages evaluated; %" PRIu64 " ruleset swaps\n",
	       N_RELOADS, n_bad, (uint64_t)tot.rx_packets, (uint64_t)tot.rule[RULE_CNT_messages],
	       (uint64_t)tot.table[DP_TAB_ruleset_swaps]);
	/* The worker moved to each good version once (each reload waited for
	 * it), and maybe once more to version 1 at its first burst. */
	CU_ASSERT(tot.table[DP_TAB_ruleset_swaps] >= n_good);
	CU_ASSERT(tot.table[DP_TAB_ruleset_swaps] <= n_good + 1);
	plane_free(&p);
}

/* ------------------------------------------------------------------------ */
/* ACL swap under traffic                                                     */
/* ------------------------------------------------------------------------ */

static void
acl_counts(struct dp_plane *dp, uint64_t *denied, uint64_t *messages)
{
	static struct dp_stats tot;

	memset(&tot, 0, sizeof(tot));
	dp_stats_total(dp, &tot);
	*denied = tot.table[DP_TAB_acl_denied];
	*messages = tot.hl7[DP_HL7_messages];
}

static void
test_acl_swap(void)
{
	struct plane p;
	uint64_t version = 1;
	bool ok;

	hooks_reset(MAP_ALL_A);
	ok = plane_start(&p, RS_A, ALLOW_INSIDE) == 0;
	CU_ASSERT(ok);
	if (ok) {
		ok = wait_workers_at(p.dp, 1);
		CU_ASSERT(ok);
	}
	for (unsigned i = 0; ok && i < N_ACL_SWAPS; i++) {
		bool inside = i % 2 == 1; /* the plane started inside: first swap out */
		uint64_t d0, m0, d1, m1, t0;
		struct cp_reload_result res;
		int rc;

		memset(&res, 0, sizeof(res));
		if (write_config(p.vdev, inside ? ALLOW_INSIDE : ALLOW_OUTSIDE) != 0) {
			CU_FAIL("cannot write the config");
			ok = false;
			break;
		}
		rc = cp_reload_run(p.rl, &res);
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT_EQUAL(res.version, version + 1);
		if (rc != 0 || res.version != version + 1) {
			fprintf(stderr, "test_reload: ACL reload %u gave %d, diags:\n%s\n", i, rc,
				res.diags ? res.diags : "(none)");
			cp_reload_result_free(&res);
			ok = false;
			break;
		}
		cp_reload_result_free(&res);
		version++;
		ok = wait_workers_at(p.dp, version);
		CU_ASSERT(ok);
		if (!ok)
			break;
		/* The ACL and the bundle are published before the reload's grace
		 * period ends; one more grace period from here means every burst
		 * the worker starts after it sees the new ACL, whichever order
		 * the two pointers were published in. What the worker did
		 * between the publish and here may be under either ACL and is
		 * not judged; from here to the next reload is the new one's. */
		urcu_qsbr_synchronize_rcu();
		acl_counts(p.dp, &d0, &m0);
		t0 = now_ms();
		do {
			sleep_us(POLL_US);
			acl_counts(p.dp, &d1, &m1);
		} while ((inside ? m1 - m0 : d1 - d0) < ACL_GROWTH && now_ms() - t0 <= WAIT_MS);
		if (inside) {
			CU_ASSERT(m1 - m0 >= ACL_GROWTH);
			CU_ASSERT_EQUAL(d1, d0); /* nothing denied while allowed */
		} else {
			CU_ASSERT(d1 - d0 >= ACL_GROWTH);
			CU_ASSERT_EQUAL(m1, m0); /* nothing decoded while denied */
		}
		if ((inside ? m1 - m0 : d1 - d0) < ACL_GROWTH) {
			fprintf(stderr,
				"test_reload: ACL swap %u (%s): denied %" PRIu64 " -> %" PRIu64
				", messages %" PRIu64 " -> %" PRIu64 "\n",
				i, inside ? "inside" : "outside", d0, d1, m0, m1);
			ok = false;
		}
	}
	plane_stop(&p);
	if (ok) {
		static struct dp_stats tot;

		check_no_loss(&p);
		memset(&tot, 0, sizeof(tot));
		dp_stats_total(p.dp, &tot);
		/* Every datagram was either decoded or denied, never both. */
		CU_ASSERT_EQUAL(tot.hl7[DP_HL7_messages] + tot.table[DP_TAB_acl_denied],
				tot.outcome[DP_OUT_telemetry_hl7]);
	}
	plane_free(&p);
}

/* ------------------------------------------------------------------------ */
/* One reload at a time                                                      */
/* ------------------------------------------------------------------------ */

struct second_try {
	struct cp_reloader *rl;
	int start_rc;
	int run_rc;
	atomic_bool done;
};

static void *
second_try_main(void *arg)
{
	struct second_try *t = arg;
	struct cp_reload_result res;

	memset(&res, 0, sizeof(res));
	t->start_rc = cp_reload_start(t->rl);
	t->run_rc = cp_reload_run(t->rl, &res);
	cp_reload_result_free(&res);
	atomic_store(&t->done, true);
	return NULL;
}

static void
test_busy(void)
{
	struct second_try t = {0};
	struct cp_reload_result res;
	struct plane p;
	pthread_t tid;
	uint64_t good = 0, refused = 0, t0;
	bool ok, polled = false, started = false;

	hooks_reset(MAP_ALTERNATE);
	ok = plane_start(&p, RS_A, NULL) == 0;
	CU_ASSERT(ok);
	if (ok) {
		ok = wait_workers_at(p.dp, 1);
		CU_ASSERT(ok);
	}
	if (!ok) {
		plane_free(&p);
		return;
	}
	CU_ASSERT_EQUAL(write_rules(RS_B), 0);
	/*
	 * This thread goes online and stays so: the reload's grace period
	 * (which it waits for before it frees the old bundle and reports)
	 * cannot end until it goes offline again. So the first reload is
	 * certainly still running while the second one is asked for, however
	 * fast the machine is.
	 */
	urcu_qsbr_thread_online();
	CU_ASSERT_EQUAL(cp_reload_start(p.rl), 0);
	t.rl = p.rl;
	if (pthread_create(&tid, NULL, second_try_main, &t) == 0) {
		started = true;
		t0 = now_ms();
		while (!atomic_load(&t.done) && now_ms() - t0 <= WAIT_MS)
			sleep_us(POLL_US);
		CU_ASSERT(atomic_load(&t.done)); /* refused at once, not queued behind */
		memset(&res, 0, sizeof(res));
		CU_ASSERT_FALSE(cp_reload_poll(p.rl, &res)); /* held by our grace period */
		cp_reload_result_free(&res);
	} else {
		CU_FAIL("pthread_create");
	}
	urcu_qsbr_thread_offline();
	if (started)
		pthread_join(tid, NULL);
	CU_ASSERT_EQUAL(t.start_rc, -EBUSY);
	CU_ASSERT_EQUAL(t.run_rc, -EBUSY);

	/* The first completes, B as version 2. */
	memset(&res, 0, sizeof(res));
	t0 = now_ms();
	while (!(polled = cp_reload_poll(p.rl, &res)) && now_ms() - t0 <= WAIT_MS)
		sleep_us(POLL_US);
	CU_ASSERT(polled);
	if (polled) {
		CU_ASSERT_EQUAL(res.rc, 0);
		CU_ASSERT_EQUAL(res.version, 2);
		CU_ASSERT_EQUAL(res.n_rules, rs_defs[RS_B].n_rules);
		CU_ASSERT(wait_workers_at(p.dp, 2) && check_bundle_fires(p.dp, 2, RS_B));
		/* Its result is given once. */
		cp_reload_result_free(&res);
		memset(&res, 0, sizeof(res));
		CU_ASSERT_FALSE(cp_reload_poll(p.rl, &res));
	}
	cp_reload_result_free(&res);

	/* And the next reload is taken again: A as version 3. */
	CU_ASSERT_EQUAL(write_rules(RS_A), 0);
	memset(&res, 0, sizeof(res));
	CU_ASSERT_EQUAL(cp_reload_run(p.rl, &res), 0);
	CU_ASSERT_EQUAL(res.version, 3);
	cp_reload_result_free(&res);
	CU_ASSERT(wait_workers_at(p.dp, 3) && check_bundle_fires(p.dp, 3, RS_A));
	cp_reload_counts(p.rl, &good, &refused);
	CU_ASSERT_EQUAL(good, 2);
	plane_stop(&p);
	check_no_loss(&p);
	plane_free(&p);
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"200 reloads under traffic, every tenth broken", test_stress},
		{"ACL swapped 20 times under traffic", test_acl_swap},
		{"a second reload while one runs is refused", test_busy},
	};
	CU_pSuite suite = CU_add_suite("reload", suite_init, suite_cleanup);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
