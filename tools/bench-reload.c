/*
 * bench-reload.c - vigil-bench's `reload` scenario: how long a rule reload
 * takes to reach the workers, and what it costs the traffic (issue 5).
 *
 * Issue 5's target: rules reload under full load with nothing lost.
 *
 * What it does: a plane as vigild starts it (the configuration file, the
 * initial bundle, dp_start, the event consumer, the reloader) on a net_pcap
 * port that replays a capture of 1024 HL7 ORU^R01 datagrams from 256
 * monitors in a loop (infinite_rx), so the worker is never idle. The rules
 * are the shipped rules/clinical.rules and rules/network.rules; the second
 * ruleset is the same with one rule changed (the first rule's rev raised),
 * so that each reload really changes the ruleset and compiles it in full.
 * Then, in the same invocation:
 *
 *  - a warm-up, untimed;
 *  - N reloads back to back through cp_reload_run, alternating the two
 *    rulesets by rewriting the clinical file (a temporary file, then
 *    rename), each checked (rc 0, version + 1, the rule count, a hash other
 *    than the last reload's). Per reload: the compile time
 *    (cp_reload_result.compile_ms), publish until the grace period ends
 *    (publish_ms), and publish until every worker runs the new version,
 *    which a watcher thread measures: it polls the published
 *    pointer (its value only, never what it points to) and the workers'
 *    dp_worker_ruleset_version every 20 us (timer slack 1 ns) while a
 *    reload is in flight;
 *  - a baseline of the same length with no reload;
 *  - the rx rate of each phase, and at the end (workers stopped, the
 *    consumer drained) what was lost: rx not accounted for by an outcome or
 *    drop counter, the port's imissed, ierrors and rx_nombuf, frame drops
 *    (the capture is clean: none is expected), events lost on the rings,
 *    and decoded messages that no ruleset evaluated.
 *
 * With --rules N the rules scenario's generated ruleset of N rules
 * (bench_rules_text, its variables in the configuration's rules.vars) is a
 * third file, loaded with the other two each time: the reload then costs
 * what a reload of a large deployment costs. With --rules-cache the
 * configuration names a rules.cache_dir in the temporary directory, empty
 * at first; two untimed reloads after the warm-up put both rulesets in it,
 * so that every timed reload is a cache hit (one that is not makes it
 * exit 1 after the report). Without it every reload compiles.
 *
 * Anything lost, or a reload that failed, makes it exit 1 after the
 * report; --smoke (5 reloads, short phases) is the test suite's
 * bench-reload-smoke, and with --rules 100 --rules-cache
 * bench-reload-rules-smoke.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_version.h>

#include "bench.h"
#include "controlplane.h"
#include "dataplane.h"
#include "frames.h"
#include "rules.h"

#define RL_FRAMES 1024u
#define RL_MONITORS 256u
#define RL_SEED 0x5eed0005u
#define RL_HL7_PORT 2575
#define RL_APPLIANCE_V4 0xc0000201u /* 192.0.2.1 */
#define RL_VDEV "net_pcap_reload0"
#define RL_WARMUP_S 1.0
#define RL_SMOKE_WARMUP_S 0.2
#define RL_SMOKE_MIN_PHASE_S 0.5 /* --smoke: a phase at least this long */
#define RL_WATCH_POLL_NS 20000L
#define RL_WAIT_NS 10000000000LL /* a worker not on the new version after 10 s: failed */

struct rl_ctx {
	const struct bench_reload_opts *o;
	char dir[256];
	char pcap[300];
	char config[300];
	char clinical[300]; /* cur-clinical.rules, rewritten by every reload */
	char network[300];
	char generated[300]; /* generated.rules, with --rules */
	char cache[300];     /* rules.cache_dir, with --rules-cache */
	char *text[2];	     /* the two clinical rulesets: shipped, and one rule changed */
	unsigned rev_line;   /* the line whose rev the second one raises */
	struct cp_config cfg;
	bool cfg_loaded;
	bool vdev_added;
	struct dp_plane *dp;
	struct cp_consumer *cons;
	bool cons_started;
	bool stopped;
	struct cp_reloader *rl;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

static uint32_t
rng_next(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

static int
read_file(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	size_t len = 0, room = 0;
	char *buf = NULL;
	int rc = 0;

	*out = NULL;
	if (f == NULL) {
		fprintf(stderr,
			"bench reload: cannot read %s: %s (give --rules-dir, or set "
			"VIGIL_SOURCE_ROOT)\n",
			path, strerror(errno));
		return -errno;
	}
	for (;;) {
		size_t n;

		if (room - len < 4096) {
			char *p = realloc(buf, room + 65536);

			if (p == NULL) {
				rc = -ENOMEM;
				break;
			}
			buf = p;
			room += 65536;
		}
		n = fread(buf + len, 1, room - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (rc == 0 && ferror(f))
		rc = -EIO;
	fclose(f);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/*
 * The second ruleset: @p text with the rev of its first rule raised by one
 * (the first "rev:N;" outside a comment line). @return 0, -ENOMEM, or
 * -EINVAL if there is none.
 */
static int
one_rule_changed(const char *text, char **out, unsigned *line_no)
{
	const char *line = text, *rev = NULL;
	unsigned line_n = 1;
	unsigned long n;
	char *end;

	*out = NULL;
	while (*line != '\0' && rev == NULL) {
		const char *eol = strchr(line, '\n'), *p = line;

		if (eol == NULL)
			eol = line + strlen(line);
		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		if (p < eol && *p != '#') {
			for (const char *q = p; q + 4 < eol; q++) {
				if (strncmp(q, "rev:", 4) == 0 && q[4] >= '0' && q[4] <= '9') {
					rev = q + 4;
					break;
				}
			}
		}
		if (rev == NULL) {
			line = *eol != '\0' ? eol + 1 : eol;
			line_n++;
		}
	}
	if (rev == NULL)
		return -EINVAL;
	n = strtoul(rev, &end, 10);
	if (asprintf(out, "%.*s%lu%s", (int)(rev - text), text, n + 1, end) < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	*line_no = line_n;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The capture                                                               */
/* ------------------------------------------------------------------------ */

/* An ORU^R01 as IHE PCD-01 shapes it: SpO2, pulse rate, respiration rate. */
static size_t
hl7_payload(uint64_t *rng, unsigned mon, unsigned seq, char *buf, size_t room)
{
	unsigned spo2 = 84 + rng_next(rng) % 16;
	unsigned pulse = 40 + rng_next(rng) % 120;
	unsigned rr = 6 + rng_next(rng) % 26;
	unsigned hh = seq / 3600 % 24, mm = seq / 60 % 60, ss = seq % 60;
	int n;

	n = snprintf(buf, room,
		     "\x0bMSH|^~\\&|MON%03u^0012345600%06X^EUI-64|ICU3|VIGIL|HOSP|"
		     "20240301%02u%02u%02u||ORU^R01^ORU_R01|%08u|P|2.6|||AL|NE||||||"
		     "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r"
		     "PID|||PAT%05u^^^HOSP^MR||DOE^JANE\r"
		     "PV1||I|ICU^%u^%u\r"
		     "OBR|1|||182777000^monitoring of patient^SCT|||20240301%02u%02u%02u\r"
		     "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|%u|"
		     "262688^MDC_DIM_PERCENT^MDC|||||R\r"
		     "OBX|2|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.1.1.2|%u|"
		     "264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R\r"
		     "OBX|3|NM|151562^MDC_RESP_RATE^MDC|1.1.1.3|%u|"
		     "264928^MDC_DIM_RESP_PER_MIN^MDC|||||R\r"
		     "\x1c\r",
		     mon, mon, hh, mm, ss, seq, mon, mon / 16 + 1, mon % 16 + 1, hh, mm, ss, spo2,
		     pulse, rr);
	if (n < 0 || (size_t)n >= room)
		return 0;
	return (size_t)n;
}

static int
write_pcap(const char *path)
{
	uint64_t rng = RL_SEED;
	struct fr_pcap *p = fr_pcap_open(path);
	int rc = 0;

	if (p == NULL)
		return errno ? -errno : -EIO;
	for (unsigned i = 0; i < RL_FRAMES && rc == 0; i++) {
		unsigned mon = i % RL_MONITORS;
		struct fr_l2 l2 = {
			.dst = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01},
			.src = {0x02, 0x00, 0x00, 0x20, (uint8_t)(mon >> 8), (uint8_t)mon},
		};
		/* 10.20.R.H: one address per monitor */
		uint32_t src = 0x0a140000u | (mon / 200) << 8 | (mon % 200 + 10);
		char payload[1024];
		uint8_t frame[1600];
		size_t plen, flen;

		plen = hl7_payload(&rng, mon, i, payload, sizeof(payload));
		flen = plen ? fr_udp4(frame, sizeof(frame), &l2, src, RL_APPLIANCE_V4,
				      (uint16_t)(40000 + mon), RL_HL7_PORT, payload, plen)
			    : 0;
		if (flen == 0)
			rc = -E2BIG;
		else
			rc = fr_pcap_write(p, frame, flen, 1700000000000000ull + i * 1000ull);
	}
	if (fr_pcap_close(p) != 0 && rc == 0)
		rc = -EIO;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Set-up and tear-down                                                      */
/* ------------------------------------------------------------------------ */

/* --rules N: the generated ruleset as the third file. */
static int
generated_write(struct rl_ctx *c)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = bench_rules_text_beside(c->o->rules, &text, &len);
	if (rc == 0)
		rc = bench_write_file(c->generated, text, len);
	free(text);
	return rc;
}

static int
files_make(struct rl_ctx *c)
{
	const char *tmp = getenv("TMPDIR");
	char path[512], *network = NULL, text[2048], vars[256] = "", cache[400] = "";
	int rc, n;

	snprintf(c->dir, sizeof(c->dir), "%s/vigil-bench-reload-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(c->dir) == NULL) {
		rc = -errno;
		fprintf(stderr, "bench reload: mkdtemp %s: %s\n", c->dir, strerror(errno));
		c->dir[0] = '\0';
		return rc;
	}
	snprintf(c->pcap, sizeof(c->pcap), "%s/ward.pcap", c->dir);
	snprintf(c->config, sizeof(c->config), "%s/vigil.yaml", c->dir);
	snprintf(c->clinical, sizeof(c->clinical), "%s/cur-clinical.rules", c->dir);
	snprintf(c->network, sizeof(c->network), "%s/network.rules", c->dir);
	snprintf(c->generated, sizeof(c->generated), "%s/generated.rules", c->dir);
	snprintf(c->cache, sizeof(c->cache), "%s/cache", c->dir);

	snprintf(path, sizeof(path), "%s/clinical.rules", c->o->rules_dir);
	rc = read_file(path, &c->text[0]);
	if (rc != 0)
		return rc;
	rc = one_rule_changed(c->text[0], &c->text[1], &c->rev_line);
	if (rc != 0) {
		fprintf(stderr, "bench reload: %s has no rule with a rev to change\n", path);
		return rc;
	}
	snprintf(path, sizeof(path), "%s/network.rules", c->o->rules_dir);
	rc = read_file(path, &network);
	if (rc != 0)
		return rc;
	rc = bench_write_file(c->network, network, strlen(network));
	free(network);
	if (rc == 0)
		rc = bench_write_file(c->clinical, c->text[0], strlen(c->text[0]));
	if (rc == 0 && c->o->rules > 0)
		rc = generated_write(c);
	if (rc != 0)
		return rc;
	if (c->o->rules > 0)
		snprintf(vars, sizeof(vars),
			 "  vars:\n"
			 "    MONITOR_NETS: \"%s\"\n"
			 "    TELEMETRY_PORTS: \"%s\"\n",
			 BENCH_RULES_VAR_MONITOR_NETS, BENCH_RULES_VAR_TELEMETRY_PORTS);
	if (c->o->cache)
		snprintf(cache, sizeof(cache), "  cache_dir: \"%s\"\n", c->cache);
	n = snprintf(text, sizeof(text),
		     "# vigil-bench --scenario reload\n"
		     "workers: %u\n"
		     "ports:\n"
		     "  - device: \"" RL_VDEV ",rx_pcap=%s,infinite_rx=1\"\n"
		     "    addresses: [192.0.2.1]\n"
		     "rules:\n"
		     "  files: [cur-clinical.rules, network.rules%s]\n"
		     "%s%s",
		     rte_lcore_count() - 1, c->pcap, c->o->rules > 0 ? ", generated.rules" : "",
		     vars, cache);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -E2BIG;
	rc = bench_write_file(c->config, text, (size_t)n);
	if (rc == 0)
		rc = write_pcap(c->pcap);
	return rc;
}

static void
files_remove(struct rl_ctx *c)
{
	const char *const names[] = {c->pcap, c->config, c->clinical, c->network, c->generated};

	if (c->dir[0] == '\0')
		return;
	/* The cache's files are named by the rulesets' keys: the whole directory. */
	bench_rm_tree(c->cache);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char tmp[320];

		unlink(names[i]);
		snprintf(tmp, sizeof(tmp), "%s.tmp", names[i]);
		unlink(tmp);
	}
	rmdir(c->dir);
}

/* What vigild does at start-up, on the capture's port. */
static int
plane_start(struct rl_ctx *c)
{
	char err[512] = "", devargs[400];
	struct rule_var vars[CP_MAX_RULE_VARS];
	struct rule_load_opts opts;
	struct rule_diags diags = {0};
	struct rule_set *set = NULL;
	struct dp_ruleset *rs = NULL;
	struct dp_conf dpc;
	int rc;

	if (rte_lcore_count() < 2) {
		fprintf(stderr, "bench reload: needs a worker lcore besides the main one "
				"(EAL -l 0-1)\n");
		return -EINVAL;
	}
	snprintf(devargs, sizeof(devargs), "rx_pcap=%s,infinite_rx=1", c->pcap);
	rc = rte_eal_hotplug_add("vdev", RL_VDEV, devargs);
	if (rc != 0) {
		fprintf(stderr, "bench reload: cannot add %s: %s\n", RL_VDEV, rte_strerror(-rc));
		return rc;
	}
	c->vdev_added = true;
	rc = cp_config_defaults(&c->cfg);
	if (rc != 0)
		return rc;
	c->cfg_loaded = true;
	rc = cp_config_load(&c->cfg, c->config, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "bench reload: %s\n", err);
		return rc;
	}
	cp_config_to_dp(&c->cfg, &dpc);
	dpc.events = true;
	dpc.rules = NULL;
	rc = cp_config_acl(&c->cfg, &dpc.acl);
	if (rc != 0)
		return rc;
	cp_config_rule_opts(&c->cfg, &opts, vars);
	rc = rule_set_load(&opts, &set, &diags);
	if (rc != 0 || diags.n_warnings > 0)
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
	rc = dp_start(&dpc, &c->dp, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "bench reload: %s\n", err);
		dp_ruleset_free(rs);
		dp_acl_free(dpc.acl);
		return rc;
	}
	rc = cp_consumer_of_plane(c->dp, NULL, &c->cons);
	if (rc == 0)
		rc = cp_consumer_start(c->cons);
	if (rc != 0)
		return rc;
	c->cons_started = true;
	return cp_reloader_new(c->dp, c->config, NULL, 0, &c->rl);
}

static void
plane_stop(struct rl_ctx *c)
{
	if (c->stopped)
		return;
	c->stopped = true;
	if (c->dp != NULL)
		dp_stop(c->dp);
	if (c->cons != NULL && c->cons_started)
		cp_consumer_stop(c->cons);
}

static void
plane_free(struct rl_ctx *c)
{
	plane_stop(c);
	cp_reloader_free(c->rl);
	cp_consumer_free(c->cons);
	if (c->dp != NULL)
		dp_destroy(c->dp);
	if (c->cfg_loaded)
		cp_config_free(&c->cfg);
	if (c->vdev_added)
		rte_eal_hotplug_remove("vdev", RL_VDEV);
}

/* ------------------------------------------------------------------------ */
/* The watcher: publish until every worker runs the new version              */
/* ------------------------------------------------------------------------ */

struct rl_watch {
	struct dp_plane *dp;
	_Atomic(struct dp_ruleset *) old; /* the bundle in force before the reload */
	_Atomic uint64_t version;	  /* watched for; 0: nothing in flight */
	_Atomic int64_t t_pub;		  /* when the published pointer changed */
	_Atomic int64_t t_all;		  /* when every worker ran @version */
	atomic_bool quit;
};

static void *
watch_main(void *arg)
{
	struct rl_watch *w = arg;

	/* Wake-ups on time, not batched by the default 50 us of slack. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	while (!atomic_load(&w->quit)) {
		uint64_t v = atomic_load(&w->version);
		int64_t now;

		if (v == 0 || atomic_load(&w->t_all) != 0) {
			bench_sleep_ns(200000);
			continue;
		}
		now = bench_mono_ns();
		/* The pointer's value only: this thread never reads the bundle. */
		if (atomic_load(&w->t_pub) == 0 &&
		    dp_ruleset_current(w->dp) != atomic_load(&w->old))
			atomic_store(&w->t_pub, now);
		if (atomic_load(&w->t_pub) != 0) {
			bool all = true;

			for (unsigned i = 0; i < dp_n_workers(w->dp); i++)
				if (dp_worker_ruleset_version(w->dp, i) < v)
					all = false;
			if (all)
				atomic_store(&w->t_all, now);
		}
		bench_sleep_ns(RL_WATCH_POLL_NS);
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Measuring                                                                 */
/* ------------------------------------------------------------------------ */

struct rl_sample {
	double compile_ms;
	double publish_ms;
	double workers_ms;
	double total_ms;
	bool cache_hit; /* its database came from rules.cache_dir */
	char hash[65];	/* of the ruleset it put in force */
};

struct rl_summary {
	double median, p99, max;
};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median, p99 (nearest rank) and max of the double at offset @p field of @p n samples. */
static void
summarise(const struct rl_sample *s, unsigned n, size_t field, struct rl_summary *out)
{
	double *v = malloc(n * sizeof(*v));
	unsigned rank;

	memset(out, 0, sizeof(*out));
	if (v == NULL || n == 0) {
		free(v);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		v[i] = *(const double *)((const char *)&s[i] + field);
	qsort(v, n, sizeof(*v), cmp_double);
	out->median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	rank = (unsigned)ceil(0.99 * n);
	out->p99 = v[(rank > 0 ? rank : 1) - 1];
	out->max = v[n - 1];
	free(v);
}

static uint64_t
rx_total(struct dp_plane *dp)
{
	uint64_t n = 0;

	for (unsigned w = 0; w < dp_n_workers(dp); w++)
		n += dp_read(&dp_worker_stats(dp, w)->rx_packets);
	return n;
}

/* What was lost, once the plane has stopped. */
struct rl_loss {
	uint64_t unaccounted; /* rx not in an outcome or drop counter */
	uint64_t imissed, ierrors, rx_nombuf;
	uint64_t drops;		/* frame drop counters (the capture is clean) */
	uint64_t not_evaluated; /* decoded messages no ruleset evaluated */
	uint64_t alarm_lost, telemetry_lost;
	uint64_t rx, messages, swaps, alarm_events, telemetry_events;
};

static void
loss_gather(struct rl_ctx *c, struct rl_loss *l)
{
	static struct dp_stats tot;

	struct bench_plane_loss p;

	memset(l, 0, sizeof(*l));
	bench_plane_loss(c->dp, &p, &tot);
	l->unaccounted = p.unaccounted;
	l->imissed = p.imissed;
	l->ierrors = p.ierrors;
	l->rx_nombuf = p.rx_nombuf;
	for (unsigned d = 0; d < DP_DROP__COUNT; d++)
		l->drops += tot.drop[d];
	l->messages = tot.hl7[DP_HL7_messages];
	l->not_evaluated = tot.hl7[DP_HL7_messages] > tot.rule[RULE_CNT_messages]
				   ? tot.hl7[DP_HL7_messages] - tot.rule[RULE_CNT_messages]
				   : 0;
	l->alarm_lost = tot.event[DP_EVC_alarm_lost];
	l->telemetry_lost = tot.event[DP_EVC_telemetry_lost];
	l->alarm_events = tot.event[DP_EVC_alarm_events];
	l->telemetry_events = tot.event[DP_EVC_telemetry_events];
	l->rx = tot.rx_packets;
	l->swaps = tot.table[DP_TAB_ruleset_swaps];
}

static uint64_t
loss_total(const struct rl_loss *l)
{
	return l->unaccounted + l->imissed + l->ierrors + l->rx_nombuf + l->drops +
	       l->not_evaluated + l->alarm_lost + l->telemetry_lost;
}

/* One reload of ruleset @p which (0 or 1); a failure is reported and -EPROTO. */
static int
reload_one(struct rl_ctx *c, struct rl_watch *w, unsigned which, uint64_t version, unsigned n_rules,
	   struct rl_sample *s)
{
	struct cp_reload_result res;
	int64_t t0;
	int rc;

	rc = bench_write_file(c->clinical, c->text[which], strlen(c->text[which]));
	if (rc != 0) {
		fprintf(stderr, "bench reload: cannot write %s: %s\n", c->clinical, strerror(-rc));
		return rc;
	}
	atomic_store(&w->old, dp_ruleset_current(c->dp)); /* read as its only publisher */
	atomic_store(&w->t_pub, 0);
	atomic_store(&w->t_all, 0);
	atomic_store(&w->version, version);
	rc = cp_reload_run(c->rl, &res);
	if (rc != 0 || res.version != version || res.n_rules != n_rules) {
		fprintf(stderr,
			"bench reload: reload to version %" PRIu64 " gave %d (%s), version %" PRIu64
			", %u rules (expected %u)\n%s",
			version, rc, strerror(-rc), res.version, res.n_rules, n_rules,
			res.diags ? res.diags : "");
		cp_reload_result_free(&res);
		atomic_store(&w->version, 0);
		return -EPROTO;
	}
	t0 = bench_mono_ns();
	while (atomic_load(&w->t_all) == 0 && bench_mono_ns() - t0 < RL_WAIT_NS)
		bench_sleep_ns(RL_WATCH_POLL_NS);
	atomic_store(&w->version, 0);
	if (atomic_load(&w->t_all) == 0) {
		fprintf(stderr, "bench reload: the workers did not run version %" PRIu64 "\n",
			version);
		cp_reload_result_free(&res);
		return -EPROTO;
	}
	s->compile_ms = res.compile_ms;
	s->publish_ms = res.publish_ms;
	s->workers_ms = (double)(atomic_load(&w->t_all) - atomic_load(&w->t_pub)) / 1e6;
	s->total_ms = res.total_ms;
	/* Read as the bundle's only publisher: no reload can free it meanwhile. */
	s->cache_hit = rule_set_info(dp_ruleset_current(c->dp)->set)->cache == RULE_CACHE_HIT;
	snprintf(s->hash, sizeof(s->hash), "%s", res.hash);
	cp_reload_result_free(&res);
	return 0;
}

/* Let the plane run for @p seconds; the rx rate over it, frames/s. */
static double
phase_idle(struct rl_ctx *c, double seconds)
{
	uint64_t rx0 = rx_total(c->dp);
	int64_t t0 = bench_mono_ns(), t1;

	bench_sleep_ns((long)(seconds * 1e9));
	t1 = bench_mono_ns();
	return (double)(rx_total(c->dp) - rx0) / ((double)(t1 - t0) / 1e9);
}

/* ------------------------------------------------------------------------ */
/* Reporting                                                                 */
/* ------------------------------------------------------------------------ */

struct rl_report {
	unsigned n_rules[2];
	unsigned reloads;
	unsigned cache_hits; /* timed reloads whose database came from the cache */
	double reload_s, base_s;
	double rate_reload, rate_base;
	struct rl_summary compile, publish, workers, total;
	struct rl_loss loss;
};

static void
print_text(const struct rl_ctx *c, const struct rl_report *r)
{
	const struct rl_summary *rows[] = {&r->compile, &r->publish, &r->workers, &r->total};
	const char *names[] = {"compile (rule_set_load)", "publish -> grace period end",
			       "publish -> every worker on it", "reload, end to end"};
	const struct rl_loss *l = &r->loss;

	char generated[64] = "";

	if (c->o->rules > 0)
		snprintf(generated, sizeof(generated), " + %u generated rules", c->o->rules);
	printf("# %s\n", c->o->command);
	printf("vigil-bench %s (%s): scenario reload, %u reloads alternating %s/clinical.rules "
	       "+ network.rules%s (%u rules) and the same with the rev of the rule on line %u "
	       "raised (%u rules); %u worker(s), net_pcap looping %u HL7 ORU^R01 datagrams "
	       "from %u monitors\n",
	       VIGIL_VERSION, rte_version(), r->reloads, c->o->rules_dir, generated, r->n_rules[0],
	       c->rev_line, r->n_rules[1], dp_n_workers(c->dp), RL_FRAMES, RL_MONITORS);
	if (c->o->cache)
		printf("rules.cache_dir %s (both rulesets put in it by two untimed reloads): %u of "
		       "%u timed reloads from the cache\n",
		       c->cache, r->cache_hits, r->reloads);
	else
		printf("no rules.cache_dir: every reload compiles\n");
	printf("\n%-32s %10s %10s %10s\n", "per reload, ms", "median", "p99", "max");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		printf("%-32s %10.3f %10.3f %10.3f\n", names[i], rows[i]->median, rows[i]->p99,
		       rows[i]->max);
	printf("\nrx rate with reloads   %10.0f frames/s over %.2f s\n", r->rate_reload,
	       r->reload_s);
	printf("rx rate, baseline      %10.0f frames/s over %.2f s (no reload)\n", r->rate_base,
	       r->base_s);
	printf("ratio                  %10.3f\n",
	       r->rate_base > 0 ? r->rate_reload / r->rate_base : 0.0);
	printf("\nframes %" PRIu64 ", messages decoded %" PRIu64 ", worker ruleset swaps %" PRIu64
	       ", events %" PRIu64 " alarm + %" PRIu64 " telemetry\n",
	       l->rx, l->messages, l->swaps, l->alarm_events, l->telemetry_events);
	printf("lost: %" PRIu64 " (rx unaccounted %" PRIu64 ", port imissed %" PRIu64
	       ", ierrors %" PRIu64 ", rx_nombuf %" PRIu64 ", frame drops %" PRIu64
	       ", messages not evaluated %" PRIu64 ", events lost %" PRIu64 " alarm + %" PRIu64
	       " telemetry)\n",
	       loss_total(l), l->unaccounted, l->imissed, l->ierrors, l->rx_nombuf, l->drops,
	       l->not_evaluated, l->alarm_lost, l->telemetry_lost);
}

static void
print_json_summary(const char *name, const struct rl_summary *s)
{
	printf(",\"%s\":{\"median\":%.4f,\"p99\":%.4f,\"max\":%.4f}", name, s->median, s->p99,
	       s->max);
}

static void
print_json(const struct rl_ctx *c, const struct rl_report *r)
{
	const struct rl_loss *l = &r->loss;

	printf("{\"command\":\"");
	for (const char *p = c->o->command; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		putchar(*p);
	}
	printf("\",\"version\":\"%s\",\"dpdk\":\"%s\",\"scenario\":\"reload\",\"reloads\":%u,"
	       "\"workers\":%u,\"frames\":%u,\"monitors\":%u,\"rules\":[%u,%u]",
	       VIGIL_VERSION, rte_version(), r->reloads, dp_n_workers(c->dp), RL_FRAMES,
	       RL_MONITORS, r->n_rules[0], r->n_rules[1]);
	printf(",\"generated_rules\":%u,\"cache\":%s,\"cache_hits\":%u", c->o->rules,
	       c->o->cache ? "true" : "false", r->cache_hits);
	print_json_summary("compile_ms", &r->compile);
	print_json_summary("publish_ms", &r->publish);
	print_json_summary("workers_ms", &r->workers);
	print_json_summary("total_ms", &r->total);
	printf(",\"rate_reload\":%.0f,\"reload_s\":%.3f,\"rate_base\":%.0f,\"base_s\":%.3f",
	       r->rate_reload, r->reload_s, r->rate_base, r->base_s);
	printf(",\"rx\":%" PRIu64 ",\"messages\":%" PRIu64 ",\"swaps\":%" PRIu64
	       ",\"lost\":%" PRIu64 ",\"rx_unaccounted\":%" PRIu64 ",\"imissed\":%" PRIu64
	       ",\"ierrors\":%" PRIu64 ",\"rx_nombuf\":%" PRIu64 ",\"drops\":%" PRIu64
	       ",\"not_evaluated\":%" PRIu64 ",\"alarm_lost\":%" PRIu64
	       ",\"telemetry_lost\":%" PRIu64 "}\n",
	       l->rx, l->messages, l->swaps, loss_total(l), l->unaccounted, l->imissed, l->ierrors,
	       l->rx_nombuf, l->drops, l->not_evaluated, l->alarm_lost, l->telemetry_lost);
}

/* ------------------------------------------------------------------------ */
/* The scenario                                                              */
/* ------------------------------------------------------------------------ */

int
bench_reload(const struct bench_reload_opts *o)
{
	struct rl_ctx c = {.o = o};
	struct rl_watch w = {0};
	struct rl_report r = {.reloads = o->reloads};
	struct rl_sample *s = NULL;
	pthread_t watcher;
	bool watching = false;
	uint64_t version = 1;
	int64_t t0;
	int rc;

	s = calloc(o->reloads ? o->reloads : 1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	rc = files_make(&c);
	if (rc != 0)
		goto out;
	rc = plane_start(&c);
	if (rc != 0)
		goto out;
	/* Version 1, read as its only publisher; the other has the same rules. */
	r.n_rules[0] = dp_ruleset_current(c.dp)->n_rules;
	r.n_rules[1] = r.n_rules[0];
	w.dp = c.dp;
	rc = -pthread_create(&watcher, NULL, watch_main, &w);
	if (rc != 0)
		goto out;
	watching = true;

	phase_idle(&c, o->smoke ? RL_SMOKE_WARMUP_S : RL_WARMUP_S);
	/*
	 * The cache: the start-up load put ruleset 0 in it; ruleset 1 goes in,
	 * then 0 is read back, so that the timed reloads all find theirs.
	 */
	for (unsigned i = 0; o->cache && i < 2; i++) {
		struct rl_sample warm;

		rc = reload_one(&c, &w, (i + 1) % 2, ++version, r.n_rules[(i + 1) % 2], &warm);
		if (rc != 0)
			goto out;
	}
	{
		uint64_t rx0 = rx_total(c.dp);

		t0 = bench_mono_ns();
		for (unsigned i = 0; i < o->reloads; i++) {
			rc = reload_one(&c, &w, (i + 1) % 2, ++version, r.n_rules[(i + 1) % 2],
					&s[i]);
			/* Two rulesets, each with its own hash: every reload changed the rules. */
			if (rc == 0 && i > 0 && strcmp(s[i].hash, s[i - 1].hash) == 0) {
				fprintf(stderr,
					"bench reload: reloads %u and %u have the same hash\n", i,
					i + 1);
				rc = -EPROTO;
			}
			if (rc != 0)
				goto out;
			r.cache_hits += s[i].cache_hit;
		}
		/* --smoke: a phase long enough for its rate to mean something. */
		while (o->smoke && (double)(bench_mono_ns() - t0) / 1e9 < RL_SMOKE_MIN_PHASE_S)
			bench_sleep_ns(1000000);
		r.reload_s = (double)(bench_mono_ns() - t0) / 1e9;
		r.rate_reload = (double)(rx_total(c.dp) - rx0) / r.reload_s;
	}
	r.base_s = r.reload_s;
	r.rate_base = phase_idle(&c, r.base_s);

	summarise(s, o->reloads, offsetof(struct rl_sample, compile_ms), &r.compile);
	summarise(s, o->reloads, offsetof(struct rl_sample, publish_ms), &r.publish);
	summarise(s, o->reloads, offsetof(struct rl_sample, workers_ms), &r.workers);
	summarise(s, o->reloads, offsetof(struct rl_sample, total_ms), &r.total);

	plane_stop(&c);
	loss_gather(&c, &r.loss);
	if (o->json)
		print_json(&c, &r);
	else
		print_text(&c, &r);
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = -EIO;
	if (rc == 0 && loss_total(&r.loss) != 0) {
		fprintf(stderr, "bench reload: %" PRIu64 " lost (target 0)\n", loss_total(&r.loss));
		rc = -EPROTO;
	}
	/* With a cache that holds both rulesets, a compile means the cache did not work. */
	if (rc == 0 && o->cache && r.cache_hits != o->reloads) {
		fprintf(stderr, "bench reload: %u of %u reloads were not cache hits\n",
			o->reloads - r.cache_hits, o->reloads);
		rc = -EPROTO;
	}
out:
	if (watching) {
		atomic_store(&w.quit, true);
		pthread_join(watcher, NULL);
	}
	plane_free(&c);
	files_remove(&c);
	free(c.text[0]);
	free(c.text[1]);
	free(s);
	return rc;
}
