/*
 * bench-e2e.c - vigil-bench's `e2e` scenario: the appliance end to end on a
 * simulated ward, against the I/O limit (testpmd) and the matching limit
 * (hs_scan) of the same capture.
 *
 * What it does, in one invocation:
 *
 *  - the capture: --pcap FILE, or a ward that vigil-gen (next to this
 *    binary) writes: --scenario demo, --beds N, HL7, VTP or mixed;
 *  - baseline 1, the I/O limit (not with --smoke): dpdk-testpmd on a
 *    net_pcap port looping the capture (infinite_rx), rxonly, one
 *    forwarding core, for --seconds per run; its Rx-pps lines (one a
 *    second) are read from a pipe, the first dropped, the rest's median is
 *    the run's figure. It runs before this process starts its own plane;
 *  - baseline 2, the matching limit: hs_scan of the capture's UDP payloads
 *    in turn, for --seconds per run, with the Hyperscan database of the very
 *    rule set the plane then runs (rule_set_hs_database), on the main
 *    lcore;
 *  - vigil: a plane as vigild starts it (dp_start with one worker, events
 *    on, the device registry, the rules, the sender ACL of the defaults) on
 *    a net_pcap port looping the capture, the event consumer with the
 *    clinical pipeline (alarm manager, patients, NEWS2; no alarm log; the
 *    store only with --store-dir), a warm-up, then --runs windows of
 *    --seconds: rx counted by the worker per second, consumer events per
 *    second. At the end (plane stopped, consumer drained) every non-zero
 *    drop counter, the port's imissed/ierrors/rx_nombuf, rx not accounted
 *    for, and events lost on the rings.
 *
 * --smoke: a small ward, one run of 0.5 s, no testpmd; exit 1 if nothing was
 * received, anything was dropped or missed, or an event was lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hs/hs.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_version.h>

#include "bench.h"
#include "controlplane.h"
#include "dataplane.h"
#include "rules.h"
#include "store.h"

extern char **environ;

#define E2E_VDEV "net_pcap_e2e0"
#define E2E_WARMUP_S 1.0
#define E2E_SMOKE_WARMUP_S 0.2
#define E2E_GEN_DURATION 60u	   /* simulated seconds of the generated ward */
#define E2E_SMOKE_GEN_DURATION 30u /* the least vigil-gen --scenario demo takes */
#define E2E_TESTPMD_GRACE_S 30.0   /* testpmd's start-up and exit, at most */
#define E2E_MAX_SAMPLES 4096u

struct e2e_payload {
	const uint8_t *p;
	unsigned len;
};

struct e2e_ctx {
	const struct bench_e2e_opts *o;
	char dir[256];
	char pcap[512];
	bool generated;
	uint8_t *file; /* the capture, read whole */
	size_t file_len;
	unsigned n_frames;
	struct e2e_payload *pl; /* its UDP payloads */
	unsigned n_pl;
	uint64_t pl_bytes;
	/* the plane */
	struct cp_config cfg;
	bool cfg_loaded;
	bool vdev_added;
	struct rule_set *set; /* loaded here, handed to the plane */
	struct dp_plane *dp;
	struct store *store;
	struct cp_persist *persist;
	struct cp_clinical *clin;
	struct cp_consumer *cons;
	bool cons_started;
	bool stopped;
};

struct e2e_loss {
	uint64_t rx, unaccounted, imissed, ierrors, rx_nombuf;
	uint64_t drop[DP_DROP__COUNT];
	uint64_t drops;
	uint64_t alarm_events, telemetry_events, alarm_lost, telemetry_lost;
	uint64_t cons_alarm, cons_telemetry;
	uint64_t hits, observations;
	uint64_t hl7_messages, vtp_frames, vtp_duplicate, rule_messages;
	uint64_t lost_at_stop; /* of the events lost, those lost once dp_stop began */
};

struct e2e_result {
	unsigned n_rules;
	double vigil_pps[BENCH_MAX_RUNS], events_ps[BENCH_MAX_RUNS];
	double testpmd_pps[BENCH_MAX_RUNS], hs_pps[BENCH_MAX_RUNS];
	uint64_t hs_matches;
	bool have_testpmd;
	struct e2e_loss loss;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Run @p argv (argv[0] a path) with stdout to @p out_fd (-1: inherited), stdin and
 * stderr from/to /dev/null unless @p keep_stderr. @return 0, or a negative errno. */
static int
spawn(char *const *argv, int out_fd, bool keep_stderr, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	int rc;

	rc = -posix_spawn_file_actions_init(&fa);
	if (rc != 0)
		return rc;
	rc = -posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (rc == 0 && out_fd >= 0)
		rc = -posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	if (rc == 0 && !keep_stderr)
		rc = -posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (rc == 0)
		rc = -posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

static int
wait_child(pid_t pid, const char *what)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	fprintf(stderr, "bench e2e: %s: %s %d\n", what,
		WIFEXITED(status) ? "exit status" : "signal",
		WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return -EPROTO;
}

/* ------------------------------------------------------------------------ */
/* The capture                                                               */
/* ------------------------------------------------------------------------ */

/* vigil-gen, next to this binary. */
static int
gen_capture(struct e2e_ctx *c)
{
	char self[PATH_MAX], gen[PATH_MAX + 16], beds[16], dur[16], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	pid_t pid;
	int rc;

	if (n < 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash == NULL)
		return -ENOENT;
	*slash = '\0';
	snprintf(gen, sizeof(gen), "%s/vigil-gen", self);
	snprintf(beds, sizeof(beds), "%u", c->o->beds);
	snprintf(dur, sizeof(dur), "%u", c->o->smoke ? E2E_SMOKE_GEN_DURATION : E2E_GEN_DURATION);
	snprintf(c->pcap, sizeof(c->pcap), "%s/ward.pcap", c->dir);
	{
		char *const argv[] = {gen,	"--scenario", "demo",
				      "--beds", beds,	      "--duration",
				      dur,	"--proto",    (char *)c->o->proto,
				      "--pcap", c->pcap,      "--quiet",
				      NULL};

		rc = spawn(argv, -1, true, &pid);
		if (rc != 0) {
			fprintf(stderr, "bench e2e: cannot run %s: %s\n", gen, strerror(-rc));
			return rc;
		}
	}
	rc = wait_child(pid, "vigil-gen");
	if (rc == 0)
		c->generated = true;
	return rc;
}

static uint32_t
rd32(const uint8_t *p, bool swap)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

/* Read the capture whole and find its UDP payloads (Ethernet, one VLAN tag, IPv4 or IPv6). */
static int
read_capture(struct e2e_ctx *c)
{
	FILE *f = fopen(c->pcap, "rb");
	struct stat st;
	size_t off = 24;
	bool swap;
	int rc = 0;

	if (f == NULL) {
		fprintf(stderr, "bench e2e: %s: %s\n", c->pcap, strerror(errno));
		return -errno;
	}
	if (fstat(fileno(f), &st) != 0 || st.st_size < 24) {
		rc = -EINVAL;
		goto out;
	}
	c->file_len = (size_t)st.st_size;
	c->file = malloc(c->file_len);
	c->pl = calloc(c->file_len / 16 + 1, sizeof(*c->pl));
	if (c->file == NULL || c->pl == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (fread(c->file, 1, c->file_len, f) != c->file_len) {
		rc = -EIO;
		goto out;
	}
	swap = rd32(c->file, false) == 0xd4c3b2a1u || rd32(c->file, false) == 0x4d3cb2a1u;
	if (!swap && rd32(c->file, false) != 0xa1b2c3d4u && rd32(c->file, false) != 0xa1b23c4du) {
		fprintf(stderr, "bench e2e: %s is not a pcap file\n", c->pcap);
		rc = -EINVAL;
		goto out;
	}
	while (off + 16 <= c->file_len) {
		uint32_t caplen = rd32(c->file + off + 8, swap);
		const uint8_t *fr = c->file + off + 16, *l4 = NULL;
		size_t l3 = 14;
		uint16_t et;

		if (off + 16 + caplen > c->file_len)
			break;
		off += 16 + caplen;
		c->n_frames++;
		if (caplen < 14)
			continue;
		et = (uint16_t)(fr[12] << 8 | fr[13]);
		if (et == 0x8100 && caplen >= 18) {
			et = (uint16_t)(fr[16] << 8 | fr[17]);
			l3 = 18;
		}
		if (et == 0x0800 && caplen >= l3 + 20 && fr[l3 + 9] == 17)
			l4 = fr + l3 + (fr[l3] & 0x0f) * 4;
		else if (et == 0x86dd && caplen >= l3 + 40 && fr[l3 + 6] == 17)
			l4 = fr + l3 + 40;
		if (l4 == NULL || l4 + 8 > fr + caplen)
			continue;
		c->pl[c->n_pl].p = l4 + 8;
		c->pl[c->n_pl].len = (unsigned)(fr + caplen - (l4 + 8));
		c->pl_bytes += c->pl[c->n_pl].len;
		c->n_pl++;
	}
	if (c->n_frames == 0 || c->n_pl == 0) {
		fprintf(stderr, "bench e2e: %s holds no UDP datagram\n", c->pcap);
		rc = -EINVAL;
	}
out:
	fclose(f);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Baseline 1: testpmd rxonly                                                */
/* ------------------------------------------------------------------------ */

/* One testpmd run of @p seconds; the median of its Rx-pps lines but the first. */
static int
testpmd_run(const struct e2e_ctx *c, double seconds, double *pps)
{
	char vdev[700], mbufs[32], *line = NULL;
	double samples[E2E_MAX_SAMPLES];
	unsigned n = 0, want = (unsigned)(seconds + 0.999) + 1;
	int fds[2], rc;
	size_t room = 0;
	int64_t deadline;
	pid_t pid;
	FILE *out;

	snprintf(vdev, sizeof(vdev), "net_pcap0,rx_pcap=%s,infinite_rx=1", c->pcap);
	snprintf(mbufs, sizeof(mbufs), "--total-num-mbufs=%u", c->n_frames + 16384);
	if (pipe(fds) != 0)
		return -errno;
	{
		char *const argv[] = {"dpdk-testpmd",
				      "--no-pci",
				      "--no-huge",
				      "--no-shconf",
				      "--file-prefix=vigil-bench-e2e",
				      "-m",
				      "1024",
				      "-l",
				      "0-1",
				      "--log-level=*:warning",
				      "--vdev",
				      vdev,
				      "--",
				      "--forward-mode=rxonly",
				      "--nb-cores=1",
				      "--stats-period",
				      "1",
				      mbufs,
				      NULL};

		rc = spawn(argv, fds[1], false, &pid);
	}
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		fprintf(stderr, "bench e2e: cannot run dpdk-testpmd: %s\n", strerror(-rc));
		return rc;
	}
	out = fdopen(fds[0], "r");
	if (out == NULL) {
		rc = -errno;
		close(fds[0]);
		kill(pid, SIGKILL);
		wait_child(pid, "dpdk-testpmd");
		return rc;
	}
	deadline = mono_ns() + (int64_t)((seconds + E2E_TESTPMD_GRACE_S) * 1e9);
	while (n < want && mono_ns() < deadline) {
		struct pollfd p = {fds[0], POLLIN, 0};
		const char *k;

		if (poll(&p, 1, 200) <= 0)
			continue;
		if (getline(&line, &room, out) < 0)
			break;
		k = strstr(line, "Rx-pps:");
		if (k != NULL && n < E2E_MAX_SAMPLES)
			samples[n++] = strtod(k + 7, NULL);
	}
	kill(pid, SIGINT);
	while (getline(&line, &room, out) >= 0)
		;
	free(line);
	fclose(out);
	rc = wait_child(pid, "dpdk-testpmd");
	if (n < 2) {
		fprintf(stderr, "bench e2e: dpdk-testpmd printed %u Rx-pps line(s)\n", n);
		return rc != 0 ? rc : -EPROTO;
	}
	*pps = bench_median(samples + 1, n - 1);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Baseline 2: hs_scan of the payloads                                       */
/* ------------------------------------------------------------------------ */

static int
on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
	 void *ctx)
{
	(void)id;
	(void)from;
	(void)to;
	(void)flags;
	++*(uint64_t *)ctx;
	return 0;
}

/* Scan the payloads in turn for @p seconds; payloads/s. */
static int
hs_run(const struct e2e_ctx *c, double seconds, double *pps, uint64_t *matches)
{
	const hs_database_t *db = rule_set_hs_database(c->set);
	hs_scratch_t *scratch = NULL;
	uint64_t scans = 0;
	int64_t t0, t1, end;
	int rc = 0;

	*matches = 0;
	if (db == NULL) {
		*pps = 0;
		return 0;
	}
	if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS)
		return -ENOMEM;
	t0 = mono_ns();
	end = t0 + (int64_t)(seconds * 1e9);
	do {
		for (unsigned i = 0; i < c->n_pl; i++) {
			if (hs_scan(db, (const char *)c->pl[i].p, c->pl[i].len, 0, scratch,
				    on_match, matches) != HS_SUCCESS) {
				rc = -EPROTO;
				goto out;
			}
		}
		scans += c->n_pl;
		t1 = mono_ns();
	} while (t1 < end);
	*pps = (double)scans / ((double)(t1 - t0) / 1e9);
out:
	hs_free_scratch(scratch);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The plane                                                                 */
/* ------------------------------------------------------------------------ */

static int
load_rules(struct e2e_ctx *c)
{
	char err[512] = "", yaml[2048];
	struct rule_var vars[CP_MAX_RULE_VARS];
	struct rule_load_opts opts;
	struct rule_diags diags = {0};
	int rc, n;

	rc = cp_config_defaults(&c->cfg);
	if (rc != 0)
		return rc;
	c->cfg_loaded = true;
	n = snprintf(yaml, sizeof(yaml),
		     "workers: 1\n"
		     "ports:\n"
		     "  - device: \"" E2E_VDEV ",rx_pcap=%s,infinite_rx=1\"\n"
		     "    addresses: [192.0.2.1]\n"
		     "rules:\n"
		     "  files: [\"%s/clinical.rules\", \"%s/network.rules\"]\n",
		     c->pcap, c->o->rules_dir, c->o->rules_dir);
	if (n < 0 || (size_t)n >= sizeof(yaml))
		return -E2BIG;
	rc = cp_config_load_string(&c->cfg, yaml, (size_t)n, "bench-e2e", err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "bench e2e: %s\n", err);
		return rc;
	}
	cp_config_rule_opts(&c->cfg, &opts, vars);
	rc = rule_set_load(&opts, &c->set, &diags);
	if (rc != 0 || diags.n_warnings > 0)
		rule_diags_print(&diags, stderr);
	rule_diags_free(&diags);
	return rc;
}

static int
open_store(struct e2e_ctx *c)
{
	struct store_opts so;
	char err[512] = "";
	int rc;

	store_opts_defaults(&so);
	so.dir = c->o->store_dir;
	rc = store_open(&so, &c->store, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "bench e2e: store %s: %s\n", c->o->store_dir,
			err[0] ? err : strerror(-rc));
		return rc;
	}
	return cp_persist_new(c->store, NULL, &c->persist);
}

/* What vigild does at start-up, on the capture's port; takes c->set over. */
static int
plane_start(struct e2e_ctx *c)
{
	char err[512] = "", devargs[700];
	struct cp_clinical_opts co;
	struct cp_event_hooks hooks;
	struct dp_ruleset *rs = NULL;
	struct dp_conf dpc;
	int rc;

	if (rte_lcore_count() < 2) {
		fprintf(stderr, "bench e2e: needs a worker lcore besides the main one "
				"(EAL -l 0-1)\n");
		return -EINVAL;
	}
	snprintf(devargs, sizeof(devargs), "rx_pcap=%s,infinite_rx=1", c->pcap);
	rc = rte_eal_hotplug_add("vdev", E2E_VDEV, devargs);
	if (rc != 0) {
		fprintf(stderr, "bench e2e: cannot add %s: %s\n", E2E_VDEV, rte_strerror(-rc));
		return rc;
	}
	c->vdev_added = true;
	cp_config_to_dp(&c->cfg, &dpc);
	dpc.events = true;
	dpc.rules = NULL;
	/*
	 * --smoke replays as vigild --pcap does: the worker waits for room on a
	 * full event ring, so any event lost is a fault, not the consumer being
	 * slower than the worker on this machine. A full run is paced like a
	 * live port: what the consumer cannot take is lost, and reported.
	 */
	dpc.packet_time = c->o->smoke;
	/* net_pcap's infinite_rx holds the whole capture in mbufs of the port's pool. */
	if (dpc.n_mbufs < c->n_frames + 16384)
		dpc.n_mbufs = c->n_frames + 16384;
	rc = cp_config_acl(&c->cfg, &dpc.acl);
	if (rc != 0)
		return rc;
	rc = dp_ruleset_new(c->set, dpc.n_workers, 1, &rs);
	if (rc != 0) {
		dp_acl_free(dpc.acl);
		return rc;
	}
	c->set = NULL; /* the bundle owns it */
	dpc.ruleset = rs;
	rc = dp_start(&dpc, &c->dp, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "bench e2e: %s\n", err);
		dp_ruleset_free(rs);
		dp_acl_free(dpc.acl);
		return rc;
	}
	if (c->o->store_dir != NULL) {
		rc = open_store(c);
		if (rc != 0)
			return rc;
	}
	cp_clinical_opts_of_config(&c->cfg, &co);
	co.dp = c->dp;
	co.persist = c->persist;
	co.store = c->store;
	co.log_path = NULL;
	co.packet_time = c->o->smoke;
	rc = cp_clinical_new(&co, &c->clin);
	if (rc != 0) {
		fprintf(stderr, "bench e2e: cp_clinical_new: %s\n", strerror(-rc));
		return rc;
	}
	cp_clinical_hooks(c->clin, &hooks);
	rc = cp_consumer_of_plane(c->dp, &hooks, &c->cons);
	if (rc != 0)
		return rc;
	cp_consumer_set_idle(c->cons, cp_clinical_tick, c->clin);
	rc = cp_consumer_start(c->cons);
	if (rc == 0)
		c->cons_started = true;
	return rc;
}

static void
plane_stop(struct e2e_ctx *c)
{
	if (c->stopped)
		return;
	c->stopped = true;
	if (c->dp != NULL)
		dp_stop(c->dp);
	if (c->cons != NULL && c->cons_started)
		cp_consumer_stop(c->cons);
	if (c->persist != NULL)
		cp_persist_flush(c->persist);
}

static void
plane_free(struct e2e_ctx *c)
{
	plane_stop(c);
	cp_consumer_free(c->cons);
	if (c->clin != NULL)
		cp_clinical_free(c->clin);
	cp_persist_free(c->persist);
	if (c->store != NULL)
		store_close(c->store);
	if (c->dp != NULL)
		dp_destroy(c->dp);
	if (c->set != NULL)
		rule_set_free(c->set);
	if (c->cfg_loaded)
		cp_config_free(&c->cfg);
	if (c->vdev_added)
		rte_eal_hotplug_remove("vdev", E2E_VDEV);
}

static uint64_t
rx_total(struct dp_plane *dp)
{
	uint64_t n = 0;

	for (unsigned w = 0; w < dp_n_workers(dp); w++)
		n += dp_read(&dp_worker_stats(dp, w)->rx_packets);
	return n;
}

static uint64_t
cons_events(const struct cp_consumer *cons)
{
	uint64_t v[CP_CONS__COUNT];

	cp_consumer_counters(cons, v);
	return v[CP_CONS_alarm_events] + v[CP_CONS_telemetry_events];
}

static void
loss_gather(struct e2e_ctx *c, struct e2e_loss *l)
{
	static struct dp_stats tot;
	uint64_t cv[CP_CONS__COUNT], kv[CP_CLIN__COUNT];

	struct bench_plane_loss p;

	memset(l, 0, sizeof(*l));
	bench_plane_loss(c->dp, &p, &tot);
	l->unaccounted = p.unaccounted;
	l->imissed = p.imissed;
	l->ierrors = p.ierrors;
	l->rx_nombuf = p.rx_nombuf;
	for (unsigned d = 0; d < DP_DROP__COUNT; d++) {
		l->drop[d] = tot.drop[d];
		l->drops += tot.drop[d];
	}
	l->rx = tot.rx_packets;
	l->hl7_messages = tot.hl7[DP_HL7_messages];
	l->vtp_frames = tot.vtp[DP_VTP_frames];
	l->vtp_duplicate = tot.vtp[DP_VTP_seq_duplicate];
	l->rule_messages = tot.rule[RULE_CNT_messages];
	l->alarm_events = tot.event[DP_EVC_alarm_events];
	l->telemetry_events = tot.event[DP_EVC_telemetry_events];
	l->alarm_lost = tot.event[DP_EVC_alarm_lost];
	l->telemetry_lost = tot.event[DP_EVC_telemetry_lost];
	cp_consumer_counters(c->cons, cv);
	l->cons_alarm = cv[CP_CONS_alarm_events];
	l->cons_telemetry = cv[CP_CONS_telemetry_events];
	cp_clinical_counters(c->clin, kv);
	l->hits = kv[CP_CLIN_hits];
	l->observations = kv[CP_CLIN_observations];
}

static uint64_t loss_total(const struct e2e_loss *l);

/* Events lost on the rings so far (the workers' counters, read while they run). */
static uint64_t
events_lost(struct dp_plane *dp)
{
	uint64_t n = 0;

	for (unsigned w = 0; w < dp_n_workers(dp); w++) {
		const struct dp_stats *s = dp_worker_stats(dp, w);

		n += dp_read(&s->event[DP_EVC_alarm_lost]) +
		     dp_read(&s->event[DP_EVC_telemetry_lost]);
	}
	return n;
}

/* What was lost before dp_stop; dp_stop ends a replay's wait for ring room,
 * so the events of the worker's last burst may be lost then (--smoke). */
static uint64_t
loss_running(const struct e2e_loss *l)
{
	return loss_total(l) - l->lost_at_stop;
}

static uint64_t
loss_total(const struct e2e_loss *l)
{
	return l->unaccounted + l->imissed + l->ierrors + l->rx_nombuf + l->drops + l->alarm_lost +
	       l->telemetry_lost + (l->alarm_events - l->cons_alarm) +
	       (l->telemetry_events - l->cons_telemetry);
}

/* ------------------------------------------------------------------------ */
/* Reporting                                                                 */
/* ------------------------------------------------------------------------ */

static void
print_text(const struct e2e_ctx *c, const struct e2e_result *r)
{
	const struct bench_e2e_opts *o = c->o;
	const struct e2e_loss *l = &r->loss;
	double v = bench_median(r->vigil_pps, o->runs), h = bench_median(r->hs_pps, o->runs);
	double t = r->have_testpmd ? bench_median(r->testpmd_pps, o->runs) : 0;

	printf("# %s\n", o->command);
	printf("vigil-bench %s (%s): scenario e2e, %s (%u frames, %u UDP, %.0f payload bytes on "
	       "average), rules %s (%u rules), 1 worker, %u run(s) of %.2f s%s\n",
	       VIGIL_VERSION, rte_version(), c->pcap, c->n_frames, c->n_pl,
	       (double)c->pl_bytes / c->n_pl, o->rules_dir, r->n_rules, o->runs, o->seconds,
	       o->store_dir ? ", with storage" : "");
	if (c->generated)
		printf("capture: vigil-gen --scenario demo --beds %u --duration %u --proto %s\n",
		       o->beds, o->smoke ? E2E_SMOKE_GEN_DURATION : E2E_GEN_DURATION, o->proto);
	printf("events: %s\n",
	       o->smoke ? "replay (the worker waits for ring room: nothing may be lost)"
			: "live (a full ring loses the event)");
	printf("%-4s %14s %14s %14s %14s\n", "run", "vigil pps", "events/s", "testpmd pps",
	       "hs_scan pps");
	for (unsigned i = 0; i < o->runs; i++)
		printf("%-4u %14.0f %14.0f %14.0f %14.0f\n", i + 1, r->vigil_pps[i],
		       r->events_ps[i], r->have_testpmd ? r->testpmd_pps[i] : 0, r->hs_pps[i]);
	printf("median: vigil %.0f pps per worker core, consumer %.0f events/s\n", v,
	       bench_median(r->events_ps, o->runs));
	if (r->have_testpmd)
		printf("        testpmd rxonly %.0f pps: vigil/testpmd %.3f\n", t,
		       t > 0 ? v / t : 0);
	else
		printf("        testpmd: not run (--smoke)\n");
	printf("        hs_scan %.0f payloads/s (%" PRIu64 " matches in the last run): "
	       "vigil/hs_scan %.3f\n",
	       h, r->hs_matches, h > 0 ? v / h : 0);
	printf("frames %" PRIu64 ", events %" PRIu64 " alarm + %" PRIu64 " telemetry put, %" PRIu64
	       " + %" PRIu64 " taken; clinical: %" PRIu64 " hits, %" PRIu64 " observations\n",
	       l->rx, l->alarm_events, l->telemetry_events, l->cons_alarm, l->cons_telemetry,
	       l->hits, l->observations);
	printf("decoded: %" PRIu64 " HL7 messages, %" PRIu64 " VTP frames, %" PRIu64
	       " evaluated by the rules; %" PRIu64 " VTP frames dropped as sequence duplicates "
	       "(the loop repeats the capture's sequence numbers)\n",
	       l->hl7_messages, l->vtp_frames, l->rule_messages, l->vtp_duplicate);
	printf("lost: %" PRIu64 " (rx unaccounted %" PRIu64 ", imissed %" PRIu64
	       ", ierrors %" PRIu64 ", rx_nombuf %" PRIu64 ", frame drops %" PRIu64
	       ", events lost on the rings %" PRIu64 " alarm + %" PRIu64 " telemetry)\n",
	       loss_total(l), l->unaccounted, l->imissed, l->ierrors, l->rx_nombuf, l->drops,
	       l->alarm_lost, l->telemetry_lost);
	if (l->lost_at_stop != 0)
		printf("  of which %" PRIu64
		       " events lost once dp_stop began (it ends the wait for "
		       "ring room)\n",
		       l->lost_at_stop);
	for (unsigned d = 0; d < DP_DROP__COUNT; d++)
		if (l->drop[d] != 0)
			printf("  drop %-20s %" PRIu64 "\n", dp_drop_name(d), l->drop[d]);
}

static void
print_json_runs(const char *name, const double *v, unsigned n)
{
	printf(",\"%s\":{\"median\":%.0f,\"runs\":[", name, bench_median(v, n));
	for (unsigned i = 0; i < n; i++)
		printf("%s%.0f", i ? "," : "", v[i]);
	printf("]}");
}

static void
print_json(const struct e2e_ctx *c, const struct e2e_result *r)
{
	const struct bench_e2e_opts *o = c->o;
	const struct e2e_loss *l = &r->loss;
	double v = bench_median(r->vigil_pps, o->runs), h = bench_median(r->hs_pps, o->runs);
	double t = r->have_testpmd ? bench_median(r->testpmd_pps, o->runs) : 0;
	bool first = true;

	printf("{\"command\":\"");
	for (const char *p = o->command; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		putchar(*p);
	}
	printf("\",\"version\":\"%s\",\"dpdk\":\"%s\",\"scenario\":\"e2e\",\"frames\":%u,"
	       "\"udp\":%u,\"payload_bytes\":%" PRIu64 ",\"rules\":%u,\"workers\":1,\"runs\":%u,"
	       "\"seconds\":%.3f,\"storage\":%s,\"events_wait\":%s",
	       VIGIL_VERSION, rte_version(), c->n_frames, c->n_pl, c->pl_bytes, r->n_rules, o->runs,
	       o->seconds, o->store_dir ? "true" : "false", o->smoke ? "true" : "false");
	print_json_runs("vigil_pps", r->vigil_pps, o->runs);
	print_json_runs("consumer_events_per_s", r->events_ps, o->runs);
	if (r->have_testpmd)
		print_json_runs("testpmd_pps", r->testpmd_pps, o->runs);
	print_json_runs("hs_scan_pps", r->hs_pps, o->runs);
	printf(",\"ratio_testpmd\":%.4f,\"ratio_hs_scan\":%.4f", t > 0 ? v / t : 0,
	       h > 0 ? v / h : 0);
	printf(",\"rx\":%" PRIu64 ",\"alarm_events\":%" PRIu64 ",\"telemetry_events\":%" PRIu64
	       ",\"alarm_lost\":%" PRIu64 ",\"telemetry_lost\":%" PRIu64
	       ",\"rx_unaccounted\":%" PRIu64 ",\"imissed\":%" PRIu64 ",\"ierrors\":%" PRIu64
	       ",\"rx_nombuf\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"hl7_messages\":%" PRIu64
	       ",\"vtp_frames\":%" PRIu64 ",\"vtp_seq_duplicate\":%" PRIu64
	       ",\"rule_messages\":%" PRIu64 ",\"lost_at_stop\":%" PRIu64 ",\"drops\":{",
	       l->rx, l->alarm_events, l->telemetry_events, l->alarm_lost, l->telemetry_lost,
	       l->unaccounted, l->imissed, l->ierrors, l->rx_nombuf, loss_total(l), l->hl7_messages,
	       l->vtp_frames, l->vtp_duplicate, l->rule_messages, l->lost_at_stop);
	for (unsigned d = 0; d < DP_DROP__COUNT; d++) {
		if (l->drop[d] == 0)
			continue;
		printf("%s\"%s\":%" PRIu64, first ? "" : ",", dp_drop_name(d), l->drop[d]);
		first = false;
	}
	printf("}}\n");
}

/* ------------------------------------------------------------------------ */
/* The scenario                                                              */
/* ------------------------------------------------------------------------ */

static void
files_remove(struct e2e_ctx *c)
{
	if (c->dir[0] == '\0')
		return;
	if (c->generated)
		unlink(c->pcap);
	rmdir(c->dir);
}

int
bench_e2e(const struct bench_e2e_opts *o)
{
	struct e2e_ctx c = {.o = o};
	struct e2e_result *r = calloc(1, sizeof(*r));
	const char *tmp = getenv("TMPDIR");
	int rc;

	if (r == NULL)
		return -ENOMEM;
	snprintf(c.dir, sizeof(c.dir), "%s/vigil-bench-e2e-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(c.dir) == NULL) {
		rc = -errno;
		c.dir[0] = '\0';
		goto out;
	}
	if (o->pcap != NULL)
		snprintf(c.pcap, sizeof(c.pcap), "%s", o->pcap);
	else if ((rc = gen_capture(&c)) != 0)
		goto out;
	rc = read_capture(&c);
	if (rc == 0)
		rc = load_rules(&c);
	if (rc != 0)
		goto out;
	r->n_rules = rule_set_count(c.set);

	/* Baselines first, each alone on the machine. */
	r->have_testpmd = !o->smoke;
	for (unsigned i = 0; r->have_testpmd && i < o->runs; i++) {
		rc = testpmd_run(&c, o->seconds, &r->testpmd_pps[i]);
		if (rc != 0)
			goto out;
	}
	for (unsigned i = 0; i < o->runs; i++) {
		rc = hs_run(&c, o->seconds, &r->hs_pps[i], &r->hs_matches);
		if (rc != 0) {
			fprintf(stderr, "bench e2e: hs_scan failed\n");
			goto out;
		}
	}

	rc = plane_start(&c);
	if (rc != 0)
		goto out;
	sleep_s(o->smoke ? E2E_SMOKE_WARMUP_S : E2E_WARMUP_S);
	for (unsigned i = 0; i < o->runs; i++) {
		uint64_t rx0 = rx_total(c.dp), ev0 = cons_events(c.cons);
		int64_t t0 = mono_ns(), t1;

		sleep_s(o->seconds);
		t1 = mono_ns();
		r->vigil_pps[i] = (double)(rx_total(c.dp) - rx0) / ((double)(t1 - t0) / 1e9);
		r->events_ps[i] = (double)(cons_events(c.cons) - ev0) / ((double)(t1 - t0) / 1e9);
	}
	{
		uint64_t before = events_lost(c.dp);

		plane_stop(&c);
		loss_gather(&c, &r->loss);
		r->loss.lost_at_stop = r->loss.alarm_lost + r->loss.telemetry_lost - before;
	}
	if (o->json)
		print_json(&c, r);
	else
		print_text(&c, r);
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = -EIO;
	if (rc == 0 && r->loss.rx == 0) {
		fprintf(stderr, "bench e2e: nothing was received\n");
		rc = -EPROTO;
	}
	if (rc == 0 && o->smoke && loss_running(&r->loss) != 0) {
		fprintf(stderr, "bench e2e: %" PRIu64 " dropped or lost (smoke target 0)\n",
			loss_running(&r->loss));
		rc = -EPROTO;
	}
out:
	plane_free(&c);
	files_remove(&c);
	free(c.file);
	free(c.pl);
	free(r);
	return rc;
}
