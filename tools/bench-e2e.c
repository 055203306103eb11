/*
 * bench-e2e.c - vigil-bench's `e2e` scenario: the appliance end to end on a
 * simulated ward, against the I/O limit (testpmd) and the matching limit
 * (hs_scan) of the same capture.
 *
 * What it does, in one invocation:
 *
 *  - the capture: --pcap FILE, or a ward that vigil-gen (next to this
 *    binary) writes: --scenario demo (none below 30 simulated seconds),
 *    --beds N, HL7, VTP or mixed. A VTP ward lasts 90 s by default: a
 *    device with at least 65 frames in the capture comes back from the
 *    loop as out of range, then restart (VTP.md 6.3), each delivered,
 *    where fewer would make the loop's frames sequence duplicates, dropped;
 *  - the rules: the shipped ones, and with --rules N the rules scenario's
 *    generated ruleset of N rules as a third file (its sids moved past the
 *    shipped ones', its variables in the config);
 *  - --workers N: N worker lcores, each on its own RX queue of the port,
 *    which net_pcap makes by naming the capture N times: every worker
 *    loops the whole capture;
 *  - baseline 1, the I/O limit (not with --smoke): dpdk-testpmd on a
 *    net_pcap port looping the capture (infinite_rx), rxonly, one
 *    forwarding core, for --seconds per run; its Rx-pps lines (one a
 *    second) are read from a pipe, the first dropped, the rest's median is
 *    the run's figure. It runs before this process starts its own plane;
 *  - baseline 2, the matching limit: hs_scan of the capture's UDP payloads
 *    in turn, for --seconds per run, with the Hyperscan database of the very
 *    rule set the plane then runs (rule_set_hs_database), on the main
 *    lcore;
 *  - vigil: a plane as vigild starts it (dp_start with --workers, events
 *    on, the device registry, the rules, the sender ACL of the defaults) on
 *    a net_pcap port looping the capture, the event consumer with the
 *    clinical pipeline (alarm manager, patients, NEWS2; no alarm log; the
 *    store only with --store-dir), a warm-up, then --runs windows of
 *    --seconds: rx counted by each worker per second, consumer events per
 *    second, and the quantiles of the workers' decision and burst latency
 *    histograms over the window. At the end the process's memory, the mbuf
 *    pool's use, the registry's and VTP tables' sizes; then (plane stopped,
 *    consumer drained) every non-zero drop counter, the port's
 *    imissed/ierrors/rx_nombuf, rx not accounted for, events lost on the
 *    rings, and the VTP sequence counters. Exit 1 if more than 1 in 1000
 *    VTP frames were dropped as sequence duplicates (unless --duration
 *    made the capture too short for that, which is said).
 *
 * --smoke: a small ward, one run of 0.5 s, no testpmd; exit 1 if nothing was
 * received, anything was dropped or missed, or an event was lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
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
#include <rte_eal.h>
#include <rte_memory.h>
#include <rte_errno.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
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
#define E2E_GEN_DURATION BENCH_E2E_GEN_DURATION
#define E2E_SMOKE_GEN_DURATION BENCH_E2E_SMOKE_GEN_DURATION
#define E2E_VTP_GEN_DURATION BENCH_E2E_VTP_GEN_DURATION
#define E2E_DEMO_MIN_DURATION BENCH_E2E_DEMO_MIN_DURATION
#define E2E_DUP_PER_MILLE 1u	 /* VTP duplicates tolerated, per 1000 frames */
#define E2E_TESTPMD_GRACE_S 30.0 /* testpmd's start-up and exit, at most */
#define E2E_MAX_SAMPLES 4096u
#define E2E_DEVARGS (DP_MAX_WORKERS * (sizeof(((struct e2e_ctx *)0)->pcap) + 16) + 64)

struct e2e_payload {
	const uint8_t *p;
	unsigned len;
};

struct e2e_ctx {
	const struct bench_e2e_opts *o;
	char dir[256];
	char pcap[512];
	bool generated;
	unsigned duration;	   /* of the generated ward */
	const char *gen_scenario;  /* vigil-gen --scenario */
	char rules_file[512];	   /* the generated rules, or "" */
	unsigned registry_devices; /* the capacities the config asked for */
	unsigned vtp_devices;
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
	uint64_t hl7_messages, vtp_frames, vtp_duplicate, vtp_jump, vtp_restart, vtp_gap,
		rule_messages;
	uint64_t lost_at_stop; /* of the events lost, those lost once dp_stop began */
};

/* Latency quantiles of a run, in ns. */
enum { E2E_Q50, E2E_Q99, E2E_Q999, E2E__Q };
static const double e2e_q[E2E__Q] = {0.5, 0.99, 0.999};
static const char *const e2e_q_name[E2E__Q] = {"p50", "p99", "p99_9"};

struct e2e_mem {
	uint64_t rss_kb, hwm_kb;
	unsigned pool_in_use, pool_size;
	unsigned registry_count;
	size_t vtp_bytes; /* every worker's VTP table */
};

struct e2e_result {
	unsigned n_rules, n_generated;
	double vigil_pps[BENCH_MAX_RUNS], events_ps[BENCH_MAX_RUNS];
	double worker_pps[DP_MAX_WORKERS][BENCH_MAX_RUNS];
	double decision_ns[E2E__Q][BENCH_MAX_RUNS], burst_ns[E2E__Q][BENCH_MAX_RUNS];
	struct e2e_mem mem;
	double testpmd_pps[BENCH_MAX_RUNS], hs_pps[BENCH_MAX_RUNS];
	uint64_t hs_matches;
	bool have_testpmd;
	struct e2e_loss loss;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

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

/* The port's device arguments: the capture once per worker, one RX queue each. */
static int
pcap_devargs(const struct e2e_ctx *c, const char *prefix, char *buf, size_t room)
{
	size_t len = (size_t)snprintf(buf, room, "%s", prefix);

	for (unsigned w = 0; w < c->o->workers && len < room; w++)
		len += (size_t)snprintf(buf + len, room - len, "%srx_pcap=%s", len ? "," : "",
					c->pcap);
	if (len < room)
		len += (size_t)snprintf(buf + len, room - len, ",infinite_rx=1");
	return len < room ? 0 : -E2BIG;
}

/* This EAL's lcores as EAL --lcores writes them (0@(0,1),1@1,...). */
static void
lcore_map(char *buf, size_t room)
{
	size_t len = 0;
	unsigned lc;

	buf[0] = '\0';
	RTE_LCORE_FOREACH(lc)
	{
		rte_cpuset_t set = rte_lcore_cpuset(lc);
		unsigned n = (unsigned)CPU_COUNT(&set), k = 0;

		if (len >= room)
			break;
		len += (size_t)snprintf(buf + len, room - len, "%s%u@%s", len ? "," : "", lc,
					n > 1 ? "(" : "");
		for (unsigned cpu = 0; cpu < CPU_SETSIZE && k < n && len < room; cpu++)
			if (CPU_ISSET(cpu, &set))
				len += (size_t)snprintf(buf + len, room - len, "%s%u",
							k++ ? "," : "", cpu);
		if (n > 1 && len < room)
			len += (size_t)snprintf(buf + len, room - len, ")");
	}
}

/* Whether a worker shares a CPU with another lcore (the main one: the consumer). */
static bool
lcores_shared(void)
{
	unsigned lc, cpus = 0;
	cpu_set_t all;

	CPU_ZERO(&all);
	RTE_LCORE_FOREACH(lc)
	{
		rte_cpuset_t set = rte_lcore_cpuset(lc);

		CPU_OR(&all, &all, &set);
	}
	cpus = (unsigned)CPU_COUNT(&all);
	return cpus < rte_lcore_count();
}

/* ------------------------------------------------------------------------ */
/* The capture                                                               */
/* ------------------------------------------------------------------------ */

/* The generated ward's simulated seconds and vigil-gen scenario. */
static void
gen_plan(struct e2e_ctx *c)
{
	bool vtp = strcmp(c->o->proto, "hl7") != 0;

	if (c->o->duration != 0)
		c->duration = c->o->duration;
	else if (vtp)
		c->duration = E2E_VTP_GEN_DURATION;
	else
		c->duration = c->o->smoke ? E2E_SMOKE_GEN_DURATION : E2E_GEN_DURATION;
	/* demo's scripted events need 30 s; a shorter ward (a big one) goes without */
	c->gen_scenario = c->duration >= E2E_DEMO_MIN_DURATION ? "demo" : "none";
}

/* Whether the capture is known to be too short for VTP's loop (see the top). */
static bool
vtp_short(const struct e2e_ctx *c)
{
	return c->generated && c->duration < E2E_VTP_GEN_DURATION;
}

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
	snprintf(dur, sizeof(dur), "%u", c->duration);
	snprintf(c->pcap, sizeof(c->pcap), "%s/ward.pcap", c->dir);
	{
		char *const argv[] = {
			gen, "--scenario", (char *)c->gen_scenario, "--beds", beds,    "--duration",
			dur, "--proto",	   (char *)c->o->proto,	    "--pcap", c->pcap, "--quiet",
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
	char vdev[E2E_DEVARGS], mbufs[32], nq[32], lcores[512], mem[32], *line = NULL;
	double samples[E2E_MAX_SAMPLES];
	unsigned n = 0, want = (unsigned)(seconds + 0.999) + 1;
	int fds[2], rc;
	size_t room = 0;
	int64_t deadline;
	pid_t pid;
	FILE *out;

	rc = pcap_devargs(c, "net_pcap0", vdev, sizeof(vdev));
	if (rc != 0)
		return rc;
	snprintf(mbufs, sizeof(mbufs), "--total-num-mbufs=%u", c->n_frames * c->o->workers + 16384);
	snprintf(nq, sizeof(nq), "%u", c->o->workers);
	lcore_map(lcores, sizeof(lcores)); /* the plane's lcores: the same CPUs */
	/* and its memory: infinite_rx holds the capture in mbufs, so a big ward
	 * needs an EAL -m to match, given to this process */
	snprintf(mem, sizeof(mem), "%" PRIu64,
		 RTE_MAX(rte_eal_get_physmem_size() >> 20, (uint64_t)1024));
	if (pipe(fds) != 0)
		return -errno;
	{
		char *const argv[] = {"dpdk-testpmd",
				      "--no-pci",
				      "--no-huge",
				      "--no-shconf",
				      "--file-prefix=vigil-bench-e2e",
				      "-m",
				      mem,
				      "--lcores",
				      lcores,
				      "--log-level=*:warning",
				      "--vdev",
				      vdev,
				      "--",
				      "--forward-mode=rxonly",
				      "--rxq",
				      nq,
				      "--txq",
				      nq,
				      "--nb-cores",
				      nq,
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
	deadline = bench_mono_ns() + (int64_t)((seconds + E2E_TESTPMD_GRACE_S) * 1e9);
	while (n < want && bench_mono_ns() < deadline) {
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
	t0 = bench_mono_ns();
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
		t1 = bench_mono_ns();
	} while (t1 < end);
	*pps = (double)scans / ((double)(t1 - t0) / 1e9);
out:
	hs_free_scratch(scratch);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The plane                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * The rules scenario's generated ruleset of --rules N rules into the run's
 * directory, its sids moved past the shipped rules' (a duplicate sid fails
 * the load); @p n_rules: the rules in it, one a line.
 */
static int
write_generated_rules(struct e2e_ctx *c, unsigned *n_rules)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = bench_rules_text_beside(c->o->rules, &text, &len);
	if (rc != 0)
		return rc;
	for (const char *p = text, *nl; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		if (*p != '#' && *p != '\n')
			(*n_rules)++;
		if (nl == NULL)
			break;
	}
	snprintf(c->rules_file, sizeof(c->rules_file), "%s/generated.rules", c->dir);
	rc = bench_write_file(c->rules_file, text, len);
	if (rc != 0)
		c->rules_file[0] = '\0';
	free(text);
	return rc;
}

static int
load_rules(struct e2e_ctx *c, unsigned *n_generated)
{
	char err[512] = "", *yaml = NULL, gen[600] = "", sized[200] = "";
	struct rule_var vars[CP_MAX_RULE_VARS];
	struct rule_load_opts opts;
	struct rule_diags diags = {0};
	size_t room = 4096 + sizeof(c->pcap) + 3 * PATH_MAX;
	int rc, n;

	rc = cp_config_defaults(&c->cfg);
	if (rc != 0)
		return rc;
	c->cfg_loaded = true;
	if (c->o->rules > 0) {
		rc = write_generated_rules(c, n_generated);
		if (rc != 0) {
			fprintf(stderr, "bench e2e: cannot write the generated rules: %s\n",
				strerror(-rc));
			return rc;
		}
		snprintf(gen, sizeof(gen), ", \"%s\"", c->rules_file);
	}
	/* A device per bed at least; a margin for what else a bed names itself. */
	c->registry_devices = c->cfg.registry_devices;
	c->vtp_devices = c->cfg.vtp_devices;
	if (c->o->beds > c->registry_devices / 2)
		c->registry_devices = 2 * c->o->beds;
	if (c->o->beds > c->vtp_devices / 2)
		c->vtp_devices = 2 * c->o->beds;
	snprintf(sized, sizeof(sized),
		 "registry:\n"
		 "  devices: %u\n"
		 "telemetry:\n"
		 "  vtp_devices: %u\n",
		 c->registry_devices, c->vtp_devices);
	yaml = malloc(room);
	if (yaml == NULL)
		return -ENOMEM;
	n = snprintf(yaml, room,
		     "workers: %u\n"
		     "ports:\n"
		     "  - device: \"" E2E_VDEV ",rx_pcap=%s,infinite_rx=1\"\n"
		     "    addresses: [192.0.2.1]\n"
		     "%s"
		     "rules:\n"
		     "  files: [\"%s/clinical.rules\", \"%s/network.rules\"%s]\n"
		     "%s",
		     c->o->workers, c->pcap, sized, c->o->rules_dir, c->o->rules_dir, gen,
		     c->o->rules > 0 ? "  vars:\n"
				       "    MONITOR_NETS: \"" BENCH_RULES_VAR_MONITOR_NETS "\"\n"
				       "    TELEMETRY_PORTS: \"" BENCH_RULES_VAR_TELEMETRY_PORTS
				       "\"\n"
				     : "");
	if (n < 0 || (size_t)n >= room) {
		free(yaml);
		return -E2BIG;
	}
	rc = cp_config_load_string(&c->cfg, yaml, (size_t)n, "bench-e2e", err, sizeof(err));
	free(yaml);
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
	char err[512] = "", devargs[E2E_DEVARGS];
	struct cp_clinical_opts co;
	struct cp_event_hooks hooks;
	struct dp_ruleset *rs = NULL;
	struct dp_conf dpc;
	int rc;

	if (rte_lcore_count() < c->o->workers + 1) {
		fprintf(stderr,
			"bench e2e: %u worker(s) need as many lcores besides the main one "
			"(EAL -l 0-%u)\n",
			c->o->workers, c->o->workers);
		return -EINVAL;
	}
	rc = pcap_devargs(c, "", devargs, sizeof(devargs));
	if (rc != 0)
		return rc;
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
	/* net_pcap's infinite_rx holds the whole capture in mbufs of the port's
	 * pool, once per RX queue. */
	if (dpc.n_mbufs < c->n_frames * c->o->workers + 16384)
		dpc.n_mbufs = c->n_frames * c->o->workers + 16384;
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
	l->vtp_jump = tot.vtp[DP_VTP_seq_jump];
	l->vtp_restart = tot.vtp[DP_VTP_seq_restart];
	l->vtp_gap = tot.vtp[DP_VTP_seq_gap];
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

/* Every worker's latency histograms, summed. */
static void
lat_sum(struct dp_plane *dp, uint64_t dec[DP_LAT_BUCKETS], uint64_t burst[DP_LAT_BUCKETS])
{
	uint64_t d[DP_LAT_BUCKETS], b[DP_LAT_BUCKETS];

	memset(dec, 0, DP_LAT_BUCKETS * sizeof(*dec));
	memset(burst, 0, DP_LAT_BUCKETS * sizeof(*burst));
	for (unsigned w = 0; w < dp_n_workers(dp); w++) {
		dp_worker_latency(dp, w, d, b);
		for (unsigned i = 0; i < DP_LAT_BUCKETS; i++) {
			dec[i] += d[i];
			burst[i] += b[i];
		}
	}
}

/* The quantiles in ns of what @p now counted since @p then (cumulative histograms). */
static void
lat_window(const uint64_t *then, const uint64_t *now, double ns[E2E__Q][BENCH_MAX_RUNS],
	   unsigned run)
{
	uint64_t d[DP_LAT_BUCKETS];
	double ns_per_cycle = 1e9 / (double)rte_get_tsc_hz();

	for (unsigned i = 0; i < DP_LAT_BUCKETS; i++)
		d[i] = now[i] - then[i];
	for (unsigned q = 0; q < E2E__Q; q++)
		ns[q][run] = dp_lat_quantile(d, e2e_q[q]) * ns_per_cycle;
}

/* VmRSS and VmHWM of /proc/self/status, in kB (0 where not found). */
static void
mem_self(struct e2e_mem *m)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			m->rss_kb = strtoull(line + 6, NULL, 10);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			m->hwm_kb = strtoull(line + 6, NULL, 10);
	}
	fclose(f);
}

/* What the plane holds, read while it runs. */
static void
mem_gather(struct e2e_ctx *c, struct e2e_mem *m)
{
	struct rte_mempool *mp = dp_mempool_of(c->dp);
	struct dp_registry *reg = dp_registry_of(c->dp);

	mem_self(m);
	if (mp != NULL) {
		m->pool_in_use = rte_mempool_in_use_count(mp);
		m->pool_size = mp->size;
	}
	m->registry_count = reg != NULL ? dp_registry_count(reg) : 0;
	m->vtp_bytes = dp_vtp_devices_size(c->vtp_devices) * dp_n_workers(c->dp);
}

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

	char lcores[512];

	lcore_map(lcores, sizeof(lcores));
	printf("# %s\n", o->command);
	printf("vigil-bench %s (%s): scenario e2e, %s (%u frames, %u UDP, %.0f payload bytes on "
	       "average), rules %s (%u rules: %u shipped + %u generated), %u worker(s), %u run(s) "
	       "of %.2f s%s\n",
	       VIGIL_VERSION, rte_version(), c->pcap, c->n_frames, c->n_pl,
	       (double)c->pl_bytes / c->n_pl, o->rules_dir, r->n_rules, r->n_rules - r->n_generated,
	       r->n_generated, o->workers, o->runs, o->seconds,
	       o->store_dir ? ", with storage" : "");
	if (c->generated)
		printf("capture: vigil-gen --scenario %s --beds %u --duration %u --proto %s\n",
		       c->gen_scenario, o->beds, c->duration, o->proto);
	printf("lcores: %s (lcore 0: main and consumer; 1..%u: workers, one RX queue each)%s\n",
	       lcores, o->workers,
	       lcores_shared() ? "; fewer CPUs than lcores: the consumer shares a CPU with a "
				 "worker, which loses what the consumer takes"
			       : "");
	printf("events: %s\n",
	       o->smoke ? "replay (the worker waits for ring room: nothing may be lost)"
			: "live (a full ring loses the event)");
	printf("%-4s %14s %14s %14s %14s\n", "run", "vigil pps", "events/s", "testpmd pps",
	       "hs_scan pps");
	for (unsigned i = 0; i < o->runs; i++)
		printf("%-4u %14.0f %14.0f %14.0f %14.0f\n", i + 1, r->vigil_pps[i],
		       r->events_ps[i], r->have_testpmd ? r->testpmd_pps[i] : 0, r->hs_pps[i]);
	printf("%-4s %14s %9s %9s %9s %9s %9s %9s\n", "run", "per worker", "dec p50", "dec p99",
	       "p99.9", "burst p50", "burst p99", "p99.9");
	for (unsigned i = 0; i < o->runs; i++) {
		printf("%-4u %14.0f", i + 1, r->vigil_pps[i] / o->workers);
		for (unsigned q = 0; q < E2E__Q; q++)
			printf(" %9.0f", r->decision_ns[q][i]);
		for (unsigned q = 0; q < E2E__Q; q++)
			printf(" %9.0f", r->burst_ns[q][i]);
		printf("  ns\n");
	}
	printf("median: vigil %.0f pps in total, %.0f per worker core (", v, v / o->workers);
	for (unsigned w = 0; w < o->workers; w++)
		printf("%sworker %u %.0f", w ? ", " : "", w,
		       bench_median(r->worker_pps[w], o->runs));
	printf("), consumer %.0f events/s\n", bench_median(r->events_ps, o->runs));
	printf("        decision latency p50 %.0f, p99 %.0f, p99.9 %.0f ns; burst p50 %.0f, "
	       "p99 %.0f, p99.9 %.0f ns\n",
	       bench_median(r->decision_ns[E2E_Q50], o->runs),
	       bench_median(r->decision_ns[E2E_Q99], o->runs),
	       bench_median(r->decision_ns[E2E_Q999], o->runs),
	       bench_median(r->burst_ns[E2E_Q50], o->runs),
	       bench_median(r->burst_ns[E2E_Q99], o->runs),
	       bench_median(r->burst_ns[E2E_Q999], o->runs));
	if (r->have_testpmd)
		printf("        testpmd rxonly %.0f pps (%u core(s), %u RX queue(s)): "
		       "vigil/testpmd %.3f\n",
		       t, o->workers, o->workers, t > 0 ? v / t : 0);
	else
		printf("        testpmd: not run (--smoke)\n");
	printf("        hs_scan %.0f payloads/s on one core (%" PRIu64 " matches in the last run): "
	       "vigil per worker/hs_scan %.3f\n",
	       h, r->hs_matches, h > 0 ? v / o->workers / h : 0);
	printf("memory: VmRSS %" PRIu64 " kB, VmHWM %" PRIu64 " kB; mbufs in use %u of %u; "
	       "registry %u of %u devices; VTP tables %u devices x %u worker(s) (%zu kB)\n",
	       r->mem.rss_kb, r->mem.hwm_kb, r->mem.pool_in_use, r->mem.pool_size,
	       r->mem.registry_count, c->registry_devices, c->vtp_devices, o->workers,
	       r->mem.vtp_bytes >> 10);
	printf("frames %" PRIu64 ", events %" PRIu64 " alarm + %" PRIu64 " telemetry put, %" PRIu64
	       " + %" PRIu64 " taken; clinical: %" PRIu64 " hits, %" PRIu64 " observations\n",
	       l->rx, l->alarm_events, l->telemetry_events, l->cons_alarm, l->cons_telemetry,
	       l->hits, l->observations);
	printf("decoded: %" PRIu64 " HL7 messages, %" PRIu64 " VTP frames delivered, %" PRIu64
	       " evaluated by the rules\n",
	       l->hl7_messages, l->vtp_frames, l->rule_messages);
	printf("VTP sequence: %" PRIu64 " seq_jump, %" PRIu64 " seq_restart (each loop: one of "
	       "each per device), %" PRIu64 " seq_gap, %" PRIu64 " seq_duplicate (dropped)\n",
	       l->vtp_jump, l->vtp_restart, l->vtp_gap, l->vtp_duplicate);
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
	char lcores[512];

	printf("{\"command\":\"");
	for (const char *p = o->command; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		putchar(*p);
	}
	lcore_map(lcores, sizeof(lcores));
	printf("\",\"version\":\"%s\",\"dpdk\":\"%s\",\"scenario\":\"e2e\",\"frames\":%u,"
	       "\"udp\":%u,\"payload_bytes\":%" PRIu64 ",\"rules\":%u,\"rules_generated\":%u,"
	       "\"workers\":%u,\"lcores\":\"%s\",\"cpu_shared\":%s,\"runs\":%u,"
	       "\"seconds\":%.3f,\"storage\":%s,\"events_wait\":%s",
	       VIGIL_VERSION, rte_version(), c->n_frames, c->n_pl, c->pl_bytes, r->n_rules,
	       r->n_generated, o->workers, lcores, lcores_shared() ? "true" : "false", o->runs,
	       o->seconds, o->store_dir ? "true" : "false", o->smoke ? "true" : "false");
	if (c->generated)
		printf(",\"capture\":{\"scenario\":\"%s\",\"beds\":%u,\"duration\":%u,"
		       "\"proto\":\"%s\"}",
		       c->gen_scenario, o->beds, c->duration, o->proto);
	print_json_runs("vigil_pps", r->vigil_pps, o->runs);
	printf(",\"worker_pps\":[");
	for (unsigned w = 0; w < o->workers; w++) {
		printf("%s{\"median\":%.0f,\"runs\":[", w ? "," : "",
		       bench_median(r->worker_pps[w], o->runs));
		for (unsigned i = 0; i < o->runs; i++)
			printf("%s%.0f", i ? "," : "", r->worker_pps[w][i]);
		printf("]}");
	}
	printf("]");
	for (unsigned k = 0; k < 2; k++) {
		printf(",\"%s\":{", k == 0 ? "decision_ns" : "burst_ns");
		for (unsigned q = 0; q < E2E__Q; q++) {
			printf("%s\"%s\":{\"median\":%.0f,\"runs\":[", q ? "," : "", e2e_q_name[q],
			       bench_median(k == 0 ? r->decision_ns[q] : r->burst_ns[q], o->runs));
			for (unsigned i = 0; i < o->runs; i++)
				printf("%s%.0f", i ? "," : "",
				       k == 0 ? r->decision_ns[q][i] : r->burst_ns[q][i]);
			printf("]}");
		}
		printf("}");
	}
	printf(",\"memory\":{\"vm_rss_kb\":%" PRIu64 ",\"vm_hwm_kb\":%" PRIu64
	       ",\"mbufs_in_use\":%u,\"mbufs\":%u,\"registry_devices\":%u,"
	       "\"registry_capacity\":%u,\"vtp_devices_per_worker\":%u,\"vtp_table_bytes\":%zu}",
	       r->mem.rss_kb, r->mem.hwm_kb, r->mem.pool_in_use, r->mem.pool_size,
	       r->mem.registry_count, c->registry_devices, c->vtp_devices, r->mem.vtp_bytes);
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
	       ",\"vtp_seq_jump\":%" PRIu64 ",\"vtp_seq_restart\":%" PRIu64
	       ",\"vtp_seq_gap\":%" PRIu64 ",\"rule_messages\":%" PRIu64
	       ",\"lost_at_stop\":%" PRIu64 ",\"drops\":{",
	       l->rx, l->alarm_events, l->telemetry_events, l->alarm_lost, l->telemetry_lost,
	       l->unaccounted, l->imissed, l->ierrors, l->rx_nombuf, loss_total(l), l->hl7_messages,
	       l->vtp_frames, l->vtp_duplicate, l->vtp_jump, l->vtp_restart, l->vtp_gap,
	       l->rule_messages, l->lost_at_stop);
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
	if (c->rules_file[0] != '\0')
		unlink(c->rules_file);
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
	gen_plan(&c);
	if (o->pcap != NULL)
		snprintf(c.pcap, sizeof(c.pcap), "%s", o->pcap);
	else if ((rc = gen_capture(&c)) != 0)
		goto out;
	rc = read_capture(&c);
	if (rc == 0)
		rc = load_rules(&c, &r->n_generated);
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
		uint64_t rx0[DP_MAX_WORKERS], ev0 = cons_events(c.cons);
		static uint64_t dec0[DP_LAT_BUCKETS], burst0[DP_LAT_BUCKETS];
		static uint64_t dec1[DP_LAT_BUCKETS], burst1[DP_LAT_BUCKETS];
		int64_t t0, t1;
		double s;

		lat_sum(c.dp, dec0, burst0);
		for (unsigned w = 0; w < o->workers; w++)
			rx0[w] = dp_read(&dp_worker_stats(c.dp, w)->rx_packets);
		t0 = bench_mono_ns();
		sleep_s(o->seconds);
		t1 = bench_mono_ns();
		s = (double)(t1 - t0) / 1e9;
		r->vigil_pps[i] = 0;
		for (unsigned w = 0; w < o->workers; w++) {
			r->worker_pps[w][i] =
				(double)(dp_read(&dp_worker_stats(c.dp, w)->rx_packets) - rx0[w]) /
				s;
			r->vigil_pps[i] += r->worker_pps[w][i];
		}
		r->events_ps[i] = (double)(cons_events(c.cons) - ev0) / s;
		lat_sum(c.dp, dec1, burst1);
		lat_window(dec0, dec1, r->decision_ns, i);
		lat_window(burst0, burst1, r->burst_ns, i);
	}
	mem_gather(&c, &r->mem);
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
	/* vtp_frames counts the frames delivered: a duplicate is not one */
	if (rc == 0 && r->loss.vtp_duplicate * 1000 >
			       (r->loss.vtp_frames + r->loss.vtp_duplicate) * E2E_DUP_PER_MILLE) {
		if (vtp_short(&c)) {
			fprintf(stderr,
				"bench e2e: %" PRIu64 " VTP sequence duplicates: --duration %u is "
				"too short for the loop (%u s gives every device 65 frames)\n",
				r->loss.vtp_duplicate, c.duration, E2E_VTP_GEN_DURATION);
		} else {
			fprintf(stderr,
				"bench e2e: %" PRIu64 " of %" PRIu64 " VTP frames dropped as "
				"sequence duplicates (at most %u per 1000): the capture is too "
				"short "
				"for its loop\n",
				r->loss.vtp_duplicate, r->loss.vtp_frames + r->loss.vtp_duplicate,
				E2E_DUP_PER_MILLE);
			rc = -EPROTO;
		}
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
