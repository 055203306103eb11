/*
 * vigil-bench.c - micro-benchmarks of the data plane's per-packet cost.
 *
 *   vigil-bench [--scenario parse|decode|rules|rings|reload|store|consumer|e2e] [--runs R]
 *               [--packets N] [--rules N[,N...]] [--reloads N] [--rules-dir DIR]
 *               [--store-dir DIR] [--seconds S] [--pcap FILE] [--proto P] [--beds N]
 *               [--duration S] [--workers N] [--smoke] [--json] [-- EAL arguments]
 *   vigil-bench --scenario restart [--runs R] [--rules N] [--vigild PATH] [--rules-dir DIR]
 *   vigil-bench --scenario reload [--rules N] [--rules-cache] ...
 *
 * A claim such as "vigil parses N Mpps per core" is only worth the command
 * that measured it. This tool owns that command: it starts the EAL itself
 * (no NIC, no hugepages), builds a fixed set of mbufs from the frame builders
 * of tests/common/frames.h, and times the exact per-packet work of
 * dataplane/worker.c (bursts of 32, a prefetch window of 3, dp_process on the
 * mbuf's data) without the PMD's RX and TX. Beside it, in the same run, it
 * times a baseline that only reads the first 64 bytes of every frame in the
 * same order: the memory floor, which the ratio parse/baseline is taken
 * against.
 *
 * Scenario `parse`: a telemetry-heavy mix (HL7 over UDP/IPv4 and UDP/IPv6,
 * some VLAN-tagged, some VTP) with a few drops (UDP to another port, a bad
 * IPv4 header checksum, TCP, LLDP). No frame asks for a reply, because
 * dp_process rewrites a reply frame in place and the next pass would then
 * measure something else. After every run the counters must equal the
 * per-class counts exactly, or the tool exits 1: a benchmark that silently
 * measures the wrong path is worse than none.
 *
 * Timing is CLOCK_MONOTONIC around a whole run; each run's figure is
 * ns/packet, and the summary gives the median (the machine may be shared),
 * min and max.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_branch_prediction.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_version.h>

#include "bench.h"
#include "dataplane.h"
#include "frames.h"

#define BENCH_N_FRAMES 4096u
#define BENCH_PREFETCH_AHEAD 3 /* as dataplane/worker.c */
#define BENCH_DEFAULT_RUNS 7u
#define BENCH_DEFAULT_PACKETS 20000000ul
#define BENCH_DECODE_DEFAULT_MESSAGES 2000000ul
#define BENCH_RULES_DEFAULT_RUNS 3u
#define BENCH_RULES_DEFAULT_DECISIONS 1000000ul
#define BENCH_RULES_SMOKE_DECISIONS 20000ul
#define BENCH_SMOKE_RUNS 1u
#define BENCH_RINGS_DEFAULT_RUNS 5u
#define BENCH_RINGS_SECONDS 1.0 /* per run, lane and burst size */
#define BENCH_RINGS_SMOKE_SECONDS 0.05
#define BENCH_SMOKE_PACKETS (4ul * BENCH_N_FRAMES)
#define BENCH_POOL_SIZE 8191u
#define BENCH_FRAME_ROOM 2048u
#define BENCH_ETH_MIN 60 /* frame length without the FCS, as a PMD hands it over */
#define BENCH_HL7_PORT 2575
#define BENCH_VTP_PORT 4575
#define BENCH_DNS_PORT 53
#define BENCH_HL7_LEN 276
#define BENCH_VTP_LEN 96
#define BENCH_SEED 0x5eed0001u

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int64_t
bench_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
bench_sleep_ns(long ns)
{
	struct timespec ts = {ns / 1000000000L, ns % 1000000000L};

	nanosleep(&ts, NULL);
}

int
bench_write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (f == NULL)
		return -errno;
	if (fwrite(text, 1, len, f) != len)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void
bench_rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

double
bench_median(const double *v, unsigned n)
{
	double *s, m;

	if (n == 0)
		return 0;
	s = malloc(n * sizeof(*s));
	if (s == NULL)
		return NAN;
	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

void
bench_plane_loss(struct dp_plane *dp, struct bench_plane_loss *l, struct dp_stats *tot)
{
	memset(l, 0, sizeof(*l));
	for (unsigned w = 0; w < dp_n_workers(dp); w++) {
		const struct dp_stats *s = dp_worker_stats(dp, w);
		uint64_t rx = dp_read(&s->rx_packets), acc = dp_stats_accounted(s);

		l->unaccounted += rx > acc ? rx - acc : acc - rx;
	}
	for (unsigned i = 0; i < dp_n_ports(dp); i++) {
		struct dp_port_stats ps;

		if (dp_port_stats(dp, i, &ps) != 0)
			continue;
		l->imissed += ps.imissed;
		l->ierrors += ps.ierrors;
		l->rx_nombuf += ps.rx_nombuf;
	}
	memset(tot, 0, sizeof(*tot));
	dp_stats_total(dp, tot);
}

static const char *const default_eal_args[] = {
	"--no-pci", "--no-huge", "--no-shconf", "-m", "256", "-l", "0", "--log-level=*:warning",
};
/* The reload scenario runs a plane: a worker lcore, and room for its rings and registry. */
static const char *const reload_eal_args[] = {
	"--no-pci", "--no-huge", "--no-shconf", "-m", "1024", "-l", "0-1", "--log-level=*:warning",
};

/*
 * The e2e scenario's lcores for @p workers workers: -l 0-N while the CPUs
 * this process may run on are enough for a lcore each; else every worker
 * pinned to a CPU in turn and the main lcore (and so the consumer thread it
 * starts) left to float over all of them, for the scheduler to put where a
 * worker is least hurt. @p opt gets "-l" or "--lcores", @p arg its value.
 */
static int
e2e_lcores(unsigned workers, const char **opt, char *arg, size_t room)
{
	unsigned cpus[CPU_SETSIZE], n = 0;
	size_t len;
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -errno;
	for (unsigned c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	if (n == 0)
		return -EINVAL;
	if (workers + 1 <= n) {
		*opt = "-l";
		snprintf(arg, room, "0-%u", workers);
		return 0;
	}
	*opt = "--lcores";
	len = (size_t)snprintf(arg, room, "0@(");
	for (unsigned i = 0; i < n && len < room; i++)
		len += (size_t)snprintf(arg + len, room - len, "%s%u", i ? "," : "", cpus[i]);
	for (unsigned w = 1; w <= workers && len < room; w++)
		len += (size_t)snprintf(arg + len, room - len, "%s,%u@%u", w == 1 ? ")" : "", w,
					cpus[w % n]);
	return len < room ? 0 : -E2BIG;
}

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

struct bench_opts {
	const char *scenario;
	unsigned runs;
	unsigned long packets;
	bool smoke;
	bool json;
	unsigned rule_counts[BENCH_RULES_MAX_COUNTS]; /* the rules scenario's ruleset sizes */
	unsigned n_rule_counts;
	unsigned reloads;      /* the reload scenario's reloads (0: its default) */
	const char *rules_dir; /* and where its rules are (NULL: its default) */
	const char *store_dir; /* where the store scenario's databases go (NULL: its default) */
	double seconds;	       /* the e2e scenario's run length (0: its default) */
	const char *pcap;      /* its capture (NULL: vigil-gen writes one) */
	const char *proto;     /* vigil-gen --proto for it */
	unsigned beds;	       /* vigil-gen --beds for it (0: its default) */
	unsigned duration;     /* vigil-gen --duration for it (0: its default) */
	unsigned workers;      /* its worker lcores (0: one) */
	/* reload and restart: --rules N generated rules; reload's --rules-cache. */
	bool rules_cache;
	const char *vigild; /* restart: the vigild to start (NULL: the build's) */
};

/* Long options without a short letter, out of the letters' range. */
enum { OPT_RULES_CACHE = 0x100, OPT_VIGILD };

static void
usage(FILE *out)
{
	/* Several calls: one string literal must stay under C's 4095 characters. */
	fprintf(out,
		"usage: vigil-bench [options] [-- EAL arguments]\n"
		"  --scenario NAME   parse (default): dp_process over a telemetry-heavy mix;\n"
		"                    decode: the HL7 and VTP decoders on one message each;\n"
		"                    rules: rule_eval per message against hs_scan alone, and\n"
		"                    ruleset load times (runs 3, 1000000 decisions by default)\n"
		"                    rings: events/s through a worker's ALARM and TELEMETRY\n"
		"                    rings, one producer and one consumer thread, against\n"
		"                    memcpy (runs 5 of 1 s per lane and burst; --packets N:\n"
		"                    N events per run instead)\n"
		"                    reload: rule reloads under full load on a looped capture:\n"
		"                    latency to every worker, packets lost, rx rate against\n"
		"                    no reloads (EAL default -m 1024 -l 0-1)\n"
		"                    restart: the build's vigild started cold (an empty\n"
		"                    rules cache), then --runs times with its rules cached\n"
		"                    (default %u), each timed until its control socket\n"
		"                    answers status, with vigild's rule load figure\n"
		"                    store: observations/s into the store in batches of\n"
		"                    4096 and 256, sealed and not, and synced alarm put\n"
		"                    latency, against RocksDB alone (runs 3; --packets N:\n"
		"                    observations per run, default %lu)\n"
		"                    consumer: events/s through the clinical pipeline\n"
		"                    (alarm manager, patients, NEWS2) on a simulated\n"
		"                    ward: without storage, with the alarm log, with\n"
		"                    storage, against no-op hooks (runs 5; --packets N:\n"
		"                    events per run, default %lu)\n"
		"                    e2e: the appliance end to end: a plane with its\n"
		"                    workers on a looped ward capture, the rules, the\n"
		"                    consumer with the clinical pipeline; rx pps, decision\n"
		"                    latency, events/s and memory against dpdk-testpmd\n"
		"                    rxonly and hs_scan of the same capture (runs 5 of\n"
		"                    --seconds; EAL default -m 1024 -l 0-N)\n",
		BENCH_RESTART_DEFAULT_RUNS, BENCH_STORE_DEFAULT_OBS, BENCH_CONSUMER_DEFAULT_EVENTS);
	fprintf(out,
		"  --runs R          timed runs, median reported (default %u)\n"
		"  --packets N       packets per run, rounded up to whole passes over the\n"
		"                    %u prebuilt frames (default %lu)\n"
		"  --rules N[,N...]  rules: ruleset sizes (default 10,1000,10000; with\n"
		"                    --smoke 10,100); reload, restart, e2e: one N, the\n"
		"                    generated rules loaded besides the shipped ones\n"
		"                    (reload and e2e: none by default, and reloads default\n"
		"                    to %u when N >= %u; restart: %u, --smoke %u)\n"
		"  --reloads N       reloads in the reload scenario (default %u, --smoke %u)\n"
		"  --rules-cache     reload: a rules.cache_dir in its temporary directory,\n"
		"                    filled before the timed reloads (default: none, every\n"
		"                    reload compiles)\n"
		"  --vigild PATH     restart: the vigild to start (default: the build's,\n"
		"                    ../controlplane/vigild from vigil-bench's directory)\n"
		"  --rules-dir DIR   where the scenarios that run a plane find\n"
		"                    clinical.rules and network.rules (default\n"
		"                    $VIGIL_SOURCE_ROOT/rules, else rules)\n"
		"  --store-dir DIR   where the store and consumer scenarios make their\n"
		"                    databases (default $TMPDIR, else /var/tmp); e2e:\n"
		"                    store into DIR (default: no storage)\n",
		BENCH_DEFAULT_RUNS, BENCH_N_FRAMES, BENCH_DEFAULT_PACKETS,
		BENCH_RELOAD_DEFAULT_LARGE, BENCH_RELOAD_LARGE, BENCH_RESTART_DEFAULT_RULES,
		BENCH_RESTART_SMOKE_RULES, BENCH_RELOAD_DEFAULT, BENCH_RELOAD_SMOKE);
	fprintf(out,
		"  --seconds S       e2e: seconds per run (default 10, --smoke 0.5)\n"
		"  --workers N       e2e: worker lcores, one RX queue each, each looping\n"
		"                    the capture (default 1; EAL default -l 0-N, or\n"
		"                    --lcores with the main lcore floating over every CPU\n"
		"                    when there are fewer CPUs than N + 1)\n"
		"  --pcap FILE       e2e: the capture (default: vigil-gen --scenario demo\n"
		"                    writes one)\n"
		"  --proto P         e2e: vigil-gen's hl7, vtp or mixed (default hl7)\n"
		"  --beds N          e2e: vigil-gen's beds (default %u, --smoke %u); also\n"
		"                    sizes the device registry and VTP tables (2 N at\n"
		"                    least; give it with --pcap too). 100000 beds want a\n"
		"                    short --duration, and a VTP ward more EAL memory\n"
		"                    (-- --no-pci --no-huge --no-shconf -m 4096 ...;\n"
		"                    testpmd gets the same -m)\n"
		"  --duration S      e2e: vigil-gen's simulated seconds (default %u for\n"
		"                    hl7, --smoke %u; %u for vtp and mixed, so that every\n"
		"                    VTP device has 65 frames and the loop is no duplicate;\n"
		"                    below %u s without demo's scripted events)\n"
		"  --smoke           a tiny run (%u run, %lu packets) that checks the counters\n"
		"  --json            print the result as one JSON object\n"
		"  -h, --help        this text\n"
		"EAL arguments after -- replace the defaults:",
		BENCH_E2E_DEFAULT_BEDS, BENCH_E2E_SMOKE_BEDS, BENCH_E2E_GEN_DURATION,
		BENCH_E2E_SMOKE_GEN_DURATION, BENCH_E2E_VTP_GEN_DURATION,
		BENCH_E2E_DEMO_MIN_DURATION, BENCH_SMOKE_RUNS, BENCH_SMOKE_PACKETS);
	for (size_t i = 0; i < sizeof(default_eal_args) / sizeof(default_eal_args[0]); i++)
		fprintf(out, " %s", default_eal_args[i]);
	fputc('\n', out);
}

static int
parse_ulong(const char *opt, const char *s, unsigned long min, unsigned long max,
	    unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || *out < min || *out > max) {
		fprintf(stderr, "vigil-bench: %s: '%s' is not a number in %lu..%lu\n", opt, s, min,
			max);
		return -EINVAL;
	}
	return 0;
}

/* Parse argv[1..argc-1] (the part before "--"). Return 0, 1 (help shown) or -EINVAL. */
static int
parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{"scenario", required_argument, NULL, 'S'},
		{"runs", required_argument, NULL, 'R'},
		{"packets", required_argument, NULL, 'N'},
		{"smoke", no_argument, NULL, 'k'},
		{"json", no_argument, NULL, 'j'},
		{"rules", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{"reloads", required_argument, NULL, 'L'},
		{"rules-dir", required_argument, NULL, 'D'},
		{"store-dir", required_argument, NULL, 'T'},
		{"seconds", required_argument, NULL, 's'},
		{"pcap", required_argument, NULL, 'P'},
		{"proto", required_argument, NULL, 'p'},
		{"beds", required_argument, NULL, 'B'},
		{"duration", required_argument, NULL, 'u'},
		{"workers", required_argument, NULL, 'W'},
		{"rules-cache", no_argument, NULL, OPT_RULES_CACHE},
		{"vigild", required_argument, NULL, OPT_VIGILD},
		{NULL, 0, NULL, 0},
	};
	bool runs_given = false, packets_given = false;
	unsigned long v;
	int c;

	o->scenario = "parse";
	o->runs = BENCH_DEFAULT_RUNS;
	o->packets = BENCH_DEFAULT_PACKETS;
	o->smoke = false;
	o->json = false;
	o->n_rule_counts = 0;
	o->reloads = 0;
	o->rules_dir = NULL;
	o->store_dir = NULL;
	o->seconds = 0;
	o->pcap = NULL;
	o->proto = NULL;
	o->beds = 0;
	o->duration = 0;
	o->workers = 0;
	o->rules_cache = false;
	o->vigild = NULL;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'L':
			if (parse_ulong("--reloads", optarg, 1, BENCH_RELOAD_MAX, &v) != 0)
				return -EINVAL;
			o->reloads = (unsigned)v;
			break;
		case 'D':
			o->rules_dir = optarg;
			break;
		case OPT_RULES_CACHE:
			o->rules_cache = true;
			break;
		case OPT_VIGILD:
			o->vigild = optarg;
			break;
		case 'T':
			o->store_dir = optarg;
			break;
		case 's': {
			char *end;

			errno = 0;
			o->seconds = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->seconds >= 0.1) ||
			    o->seconds > 3600) {
				fprintf(stderr,
					"vigil-bench: --seconds: '%s' is not a number in "
					"0.1..3600\n",
					optarg);
				return -EINVAL;
			}
			break;
		}
		case 'P':
			o->pcap = optarg;
			break;
		case 'p':
			if (strcmp(optarg, "hl7") != 0 && strcmp(optarg, "vtp") != 0 &&
			    strcmp(optarg, "mixed") != 0) {
				fprintf(stderr, "vigil-bench: --proto: hl7, vtp or mixed\n");
				return -EINVAL;
			}
			o->proto = optarg;
			break;
		case 'B':
			if (parse_ulong("--beds", optarg, 1, 100000, &v) != 0)
				return -EINVAL;
			o->beds = (unsigned)v;
			break;
		case 'u':
			if (parse_ulong("--duration", optarg, 1, 3600, &v) != 0)
				return -EINVAL;
			o->duration = (unsigned)v;
			break;
		case 'W':
			if (parse_ulong("--workers", optarg, 1, DP_MAX_WORKERS, &v) != 0)
				return -EINVAL;
			o->workers = (unsigned)v;
			break;
		case 'S':
			o->scenario = optarg;
			break;
		case 'R':
			if (parse_ulong("--runs", optarg, 1, BENCH_MAX_RUNS, &v) != 0)
				return -EINVAL;
			o->runs = (unsigned)v;
			runs_given = true;
			break;
		case 'N':
			if (parse_ulong("--packets", optarg, 1, 1ul << 40, &v) != 0)
				return -EINVAL;
			o->packets = v;
			packets_given = true;
			break;
		case 'k':
			o->smoke = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'r': {
			char list[256], *tok, *save = NULL;

			/* A copy: strtok_r must not cut the argv the report prints. */
			if (snprintf(list, sizeof(list), "%s", optarg) >= (int)sizeof(list)) {
				fprintf(stderr, "vigil-bench: --rules: list too long\n");
				return -EINVAL;
			}
			o->n_rule_counts = 0;
			for (tok = strtok_r(list, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (o->n_rule_counts == BENCH_RULES_MAX_COUNTS) {
					fprintf(stderr, "vigil-bench: --rules: at most %u sizes\n",
						BENCH_RULES_MAX_COUNTS);
					return -EINVAL;
				}
				if (parse_ulong("--rules", tok, 0, 1000000, &v) != 0)
					return -EINVAL;
				o->rule_counts[o->n_rule_counts++] = (unsigned)v;
			}
			if (o->n_rule_counts == 0) {
				fprintf(stderr, "vigil-bench: --rules: give at least one size\n");
				return -EINVAL;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vigil-bench: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (strcmp(o->scenario, "parse") != 0 && strcmp(o->scenario, "decode") != 0 &&
	    strcmp(o->scenario, "rules") != 0 && strcmp(o->scenario, "rings") != 0 &&
	    strcmp(o->scenario, "reload") != 0 && strcmp(o->scenario, "store") != 0 &&
	    strcmp(o->scenario, "consumer") != 0 && strcmp(o->scenario, "e2e") != 0 &&
	    strcmp(o->scenario, "restart") != 0) {
		fprintf(stderr,
			"vigil-bench: unknown scenario '%s' (known: parse, decode, rules, rings, "
			"reload, restart, store, consumer, e2e)\n",
			o->scenario);
		return -EINVAL;
	}
	if (strcmp(o->scenario, "decode") == 0 && !packets_given)
		o->packets = BENCH_DECODE_DEFAULT_MESSAGES;
	if (strcmp(o->scenario, "rules") == 0) {
		if (!runs_given)
			o->runs = BENCH_RULES_DEFAULT_RUNS;
		if (!packets_given)
			o->packets = o->smoke ? BENCH_RULES_SMOKE_DECISIONS
					      : BENCH_RULES_DEFAULT_DECISIONS;
		if (o->n_rule_counts == 0) {
			static const unsigned full[] = {10, 1000, 10000}, smoke[] = {10, 100};
			const unsigned *c = o->smoke ? smoke : full;

			o->n_rule_counts = o->smoke ? 2 : 3;
			memcpy(o->rule_counts, c, o->n_rule_counts * sizeof(*c));
		}
		for (unsigned i = 0; i < o->n_rule_counts; i++) {
			if (o->rule_counts[i] < 10) {
				fprintf(stderr,
					"vigil-bench: --rules: '%u' is not a number in "
					"10..1000000\n",
					o->rule_counts[i]);
				return -EINVAL;
			}
		}
	} else if (strcmp(o->scenario, "e2e") == 0) {
		if (o->n_rule_counts > 1 ||
		    (o->n_rule_counts == 1 && o->rule_counts[0] > BENCH_E2E_MAX_RULES)) {
			fprintf(stderr, "vigil-bench: --rules: e2e takes one number in 0..%u\n",
				BENCH_E2E_MAX_RULES);
			return -EINVAL;
		}
	} else if (strcmp(o->scenario, "reload") == 0 || strcmp(o->scenario, "restart") == 0) {
		if (o->n_rule_counts > 1) {
			fprintf(stderr, "vigil-bench: --rules: one number for --scenario %s\n",
				o->scenario);
			return -EINVAL;
		}
	} else if (o->n_rule_counts != 0) {
		fprintf(stderr,
			"vigil-bench: --rules is for --scenario rules, reload, restart and e2e\n");
		return -EINVAL;
	}
	if (o->smoke) {
		if (!runs_given)
			o->runs = BENCH_SMOKE_RUNS;
		if (!packets_given && strcmp(o->scenario, "rules") != 0)
			o->packets = BENCH_SMOKE_PACKETS;
	}
	if (strcmp(o->scenario, "rings") == 0) {
		if (!runs_given)
			o->runs = o->smoke ? BENCH_SMOKE_RUNS : BENCH_RINGS_DEFAULT_RUNS;
		if (!packets_given)
			o->packets = 0; /* a fixed time per run */
	}
	if (strcmp(o->scenario, "store") == 0) {
		if (!runs_given)
			o->runs = o->smoke ? BENCH_SMOKE_RUNS : BENCH_STORE_DEFAULT_RUNS;
		if (!packets_given)
			o->packets = o->smoke ? BENCH_STORE_SMOKE_OBS : BENCH_STORE_DEFAULT_OBS;
	} else if (strcmp(o->scenario, "consumer") == 0) {
		if (!runs_given)
			o->runs = o->smoke ? BENCH_SMOKE_RUNS : BENCH_CONSUMER_DEFAULT_RUNS;
		if (!packets_given)
			o->packets = o->smoke ? BENCH_CONSUMER_SMOKE_EVENTS
					      : BENCH_CONSUMER_DEFAULT_EVENTS;
	} else if (strcmp(o->scenario, "e2e") == 0) {
		if (!runs_given)
			o->runs = o->smoke ? BENCH_SMOKE_RUNS : BENCH_E2E_DEFAULT_RUNS;
		if (o->seconds == 0)
			o->seconds = o->smoke ? BENCH_E2E_SMOKE_SECONDS : BENCH_E2E_DEFAULT_SECONDS;
		if (o->proto == NULL)
			o->proto = "hl7";
		if (o->beds == 0)
			o->beds = o->smoke ? BENCH_E2E_SMOKE_BEDS : BENCH_E2E_DEFAULT_BEDS;
	} else if (o->store_dir != NULL) {
		fprintf(stderr,
			"vigil-bench: --store-dir is for --scenario store, consumer and e2e\n");
		return -EINVAL;
	}
	if (strcmp(o->scenario, "reload") == 0) {
		if (o->reloads == 0 && o->smoke)
			o->reloads = BENCH_RELOAD_SMOKE;
		else if (o->reloads == 0 && o->n_rule_counts == 1 &&
			 o->rule_counts[0] >= BENCH_RELOAD_LARGE)
			o->reloads = BENCH_RELOAD_DEFAULT_LARGE; /* a compile takes seconds */
		else if (o->reloads == 0)
			o->reloads = BENCH_RELOAD_DEFAULT;
	} else if (o->reloads != 0) {
		fprintf(stderr, "vigil-bench: --reloads is for --scenario reload\n");
		return -EINVAL;
	}
	if (o->rules_dir != NULL && strcmp(o->scenario, "reload") != 0 &&
	    strcmp(o->scenario, "consumer") != 0 && strcmp(o->scenario, "e2e") != 0 &&
	    strcmp(o->scenario, "restart") != 0) {
		fprintf(stderr, "vigil-bench: --rules-dir is for --scenario reload, restart, "
				"consumer and e2e\n");
		return -EINVAL;
	}
	if (o->rules_cache && strcmp(o->scenario, "reload") != 0) {
		fprintf(stderr, "vigil-bench: --rules-cache is for --scenario reload\n");
		return -EINVAL;
	}
	if (strcmp(o->scenario, "restart") == 0) {
		if (!runs_given)
			o->runs = o->smoke ? BENCH_RESTART_SMOKE_RUNS : BENCH_RESTART_DEFAULT_RUNS;
		if (o->n_rule_counts == 0) {
			o->rule_counts[0] =
				o->smoke ? BENCH_RESTART_SMOKE_RULES : BENCH_RESTART_DEFAULT_RULES;
			o->n_rule_counts = 1;
		}
	} else if (o->vigild != NULL) {
		fprintf(stderr, "vigil-bench: --vigild is for --scenario restart\n");
		return -EINVAL;
	}
	if (strcmp(o->scenario, "e2e") != 0 &&
	    (o->seconds != 0 || o->pcap || o->proto || o->beds != 0 || o->duration != 0 ||
	     o->workers != 0)) {
		fprintf(stderr, "vigil-bench: --seconds, --pcap, --proto, --beds, --duration and "
				"--workers are for --scenario e2e\n");
		return -EINVAL;
	}
	return 0;
}

/* The command line as typed, quoted where a shell would need it. */
static void
print_command(FILE *out, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		bool plain = a[0] != '\0';

		for (const char *p = a; *p; p++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789-_=.,/:+@%",
				    *p))
				plain = false;
		if (i)
			fputc(' ', out);
		if (plain) {
			fputs(a, out);
			continue;
		}
		fputc('\'', out);
		for (const char *p = a; *p; p++) {
			if (*p == '\'')
				fputs("'\\''", out);
			else
				fputc(*p, out);
		}
		fputc('\'', out);
	}
}

/* ------------------------------------------------------------------------ */
/* The frame mix                                                             */
/* ------------------------------------------------------------------------ */

enum bench_kind {
	BENCH_OUTCOME,
	BENCH_DROP,
};

/* One class of frame: how many of the set, how it is built, what it counts. */
struct bench_class {
	const char *name;
	unsigned per_64; /* share of the set, in 64ths */
	enum bench_kind kind;
	unsigned counter; /* enum dp_outcome or enum dp_drop */
};

enum bench_class_id {
	C_HL7_V4,
	C_HL7_V4_VLAN,
	C_HL7_V6,
	C_HL7_V6_VLAN,
	C_VTP_V4,
	C_UDP_PORT,
	C_IPV4_CKSUM,
	C_TCP,
	C_LLDP,
	C__COUNT,
};

static const struct bench_class classes[C__COUNT] = {
	[C_HL7_V4] = {"hl7-udp4", 24, BENCH_OUTCOME, DP_OUT_telemetry_hl7},
	[C_HL7_V4_VLAN] = {"hl7-udp4-vlan", 8, BENCH_OUTCOME, DP_OUT_telemetry_hl7},
	[C_HL7_V6] = {"hl7-udp6", 12, BENCH_OUTCOME, DP_OUT_telemetry_hl7},
	[C_HL7_V6_VLAN] = {"hl7-udp6-vlan", 4, BENCH_OUTCOME, DP_OUT_telemetry_hl7},
	[C_VTP_V4] = {"vtp-udp4", 6, BENCH_OUTCOME, DP_OUT_telemetry_vtp},
	[C_UDP_PORT] = {"dns-udp4", 4, BENCH_DROP, DP_DROP_udp_port},
	[C_IPV4_CKSUM] = {"hl7-udp4-bad-ipv4-cksum", 2, BENCH_DROP, DP_DROP_ipv4_checksum},
	[C_TCP] = {"tcp4", 2, BENCH_DROP, DP_DROP_l4_proto},
	[C_LLDP] = {"lldp", 2, BENCH_DROP, DP_DROP_ethertype},
};

static const char *
class_counter_name(const struct bench_class *c)
{
	return c->kind == BENCH_OUTCOME ? dp_outcome_name((enum dp_outcome)c->counter)
					: dp_drop_name((enum dp_drop)c->counter);
}

static const uint8_t appliance_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t appliance_v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x01};
static const uint8_t lldp_mac[6] = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e};
#define BENCH_APPLIANCE_V4 0xc0000201u /* 192.0.2.1 */

struct bench_rng {
	uint64_t state;
};

static uint32_t
rng_below(struct bench_rng *r, uint32_t n)
{
	uint64_t x = r->state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->state = x;
	return (uint32_t)(x % n);
}

/* An MLLP-framed HL7 v2 ORU^R01 of exactly BENCH_HL7_LEN bytes. */
static size_t
hl7_payload(unsigned device, unsigned seq, char *buf, size_t room)
{
	int n = snprintf(buf, room,
			 "\x0bMSH|^~\\&|BEDSIDE%03u|WARD7|VIGIL|HOSP|20240101120000||ORU^R01|"
			 "%08u|P|2.6\rPID|||PAT%05u\rOBR|1|||69837-1^Vitals^LN\r"
			 "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||97|%%|||||F\r"
			 "OBX|2|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC||72|/min|||||F\r",
			 device, seq, device * 7u);

	if (n < 0 || (size_t)n + 2 > BENCH_HL7_LEN || BENCH_HL7_LEN > room)
		return 0;
	/* Pad the last segment with spaces, then close the MLLP block. */
	memset(buf + n, ' ', BENCH_HL7_LEN - 2 - (size_t)n);
	buf[BENCH_HL7_LEN - 2] = 0x1c;
	buf[BENCH_HL7_LEN - 1] = '\r';
	return BENCH_HL7_LEN;
}

/* Build one frame of class @c from a sender chosen by @rng; return its length or 0. */
static size_t
build_frame(enum bench_class_id c, struct bench_rng *rng, unsigned seq, uint8_t *buf, size_t room)
{
	char payload[512];
	unsigned device = 10 + rng_below(rng, 240);
	uint16_t sport = (uint16_t)(32768 + rng_below(rng, 28000));
	uint32_t src4 = 0xc0000200u | device;
	uint8_t src6[16];
	struct fr_l2 l2 = {.n_vlan = 0};
	size_t plen, len = 0;

	memcpy(src6, appliance_v6, 16);
	src6[15] = (uint8_t)device;
	memcpy(l2.dst, appliance_mac, 6);
	memcpy(l2.src, (const uint8_t[6]){0x02, 0x00, 0x00, 0x00, 0x10, (uint8_t)device}, 6);
	if (c == C_HL7_V4_VLAN || c == C_HL7_V6_VLAN) {
		l2.n_vlan = 1;
		l2.vlan_tci[0] = (uint16_t)(100 + device % 4);
	}
	plen = hl7_payload(device, seq, payload, sizeof(payload));
	if (plen == 0)
		return 0;

	switch (c) {
	case C_HL7_V4:
	case C_HL7_V4_VLAN:
		len = fr_udp4(buf, room, &l2, src4, BENCH_APPLIANCE_V4, sport, BENCH_HL7_PORT,
			      payload, plen);
		break;
	case C_HL7_V6:
	case C_HL7_V6_VLAN:
		len = fr_udp6(buf, room, &l2, src6, appliance_v6, sport, BENCH_HL7_PORT, payload,
			      plen);
		break;
	case C_VTP_V4:
		len = fr_udp4(buf, room, &l2, src4, BENCH_APPLIANCE_V4, sport, BENCH_VTP_PORT,
			      payload, BENCH_VTP_LEN);
		break;
	case C_UDP_PORT:
		len = fr_udp4(buf, room, &l2, src4, BENCH_APPLIANCE_V4, sport, BENCH_DNS_PORT,
			      payload, 40);
		break;
	case C_IPV4_CKSUM:
		len = fr_udp4(buf, room, &l2, src4, BENCH_APPLIANCE_V4, sport, BENCH_HL7_PORT,
			      payload, plen);
		if (len)
			buf[14 + 10] ^= 0x5a; /* the header checksum's first byte */
		break;
	case C_TCP:
		len = fr_tcp4(buf, room, &l2, src4, BENCH_APPLIANCE_V4, sport, BENCH_HL7_PORT);
		break;
	case C_LLDP:
		if (room < BENCH_ETH_MIN)
			return 0;
		memset(buf, 0, BENCH_ETH_MIN);
		memcpy(buf, lldp_mac, 6);
		memcpy(buf + 6, l2.src, 6);
		buf[12] = 0x88;
		buf[13] = 0xcc;
		len = 14 + 2 + 7; /* a chassis-ID TLV's worth; the rest is padding */
		break;
	case C__COUNT:
		break;
	}
	if (len != 0 && len < BENCH_ETH_MIN) {
		memset(buf + len, 0, BENCH_ETH_MIN - len);
		len = BENCH_ETH_MIN;
	}
	return len;
}

/* The set of prebuilt mbufs and what they must count. */
struct bench_set {
	struct rte_mempool *pool;
	struct rte_mbuf *pkts[BENCH_N_FRAMES];
	uint8_t class_of[BENCH_N_FRAMES];
	unsigned per_class[C__COUNT];
	uint64_t expected_outcome[DP_OUT__COUNT]; /* per pass over the set */
	uint64_t expected_drop[DP_DROP__COUNT];
	uint64_t bytes; /* per pass */
};

static int
set_build(struct bench_set *s)
{
	static uint8_t frame[BENCH_FRAME_ROOM];
	struct bench_rng rng = {BENCH_SEED};
	unsigned n = 0, sum = 0;
	int rc;

	for (unsigned c = 0; c < C__COUNT; c++)
		sum += classes[c].per_64;
	if (sum != 64) {
		fprintf(stderr, "vigil-bench: the class shares add up to %u/64\n", sum);
		return -EINVAL;
	}
	/* Lay the classes out in their shares, then shuffle (Fisher-Yates) so
	 * that the branch predictor sees a mix, not runs. */
	for (unsigned c = 0; c < C__COUNT; c++) {
		s->per_class[c] = classes[c].per_64 * (BENCH_N_FRAMES / 64);
		for (unsigned i = 0; i < s->per_class[c]; i++)
			s->class_of[n++] = (uint8_t)c;
	}
	for (unsigned i = BENCH_N_FRAMES - 1; i > 0; i--) {
		unsigned j = rng_below(&rng, i + 1);
		uint8_t t = s->class_of[i];

		s->class_of[i] = s->class_of[j];
		s->class_of[j] = t;
	}

	s->pool = rte_pktmbuf_pool_create("bench_mbufs", BENCH_POOL_SIZE, 0, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (s->pool == NULL) {
		fprintf(stderr, "vigil-bench: cannot create a mempool of %u mbufs: %s\n",
			BENCH_POOL_SIZE, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	rc = rte_pktmbuf_alloc_bulk(s->pool, s->pkts, BENCH_N_FRAMES);
	if (rc != 0) {
		fprintf(stderr, "vigil-bench: cannot take %u mbufs from the pool\n",
			BENCH_N_FRAMES);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < BENCH_N_FRAMES; i++) {
		const struct bench_class *c = &classes[s->class_of[i]];
		size_t len = build_frame(s->class_of[i], &rng, i, frame, sizeof(frame));
		char *data;

		if (len == 0) {
			fprintf(stderr, "vigil-bench: cannot build a '%s' frame\n", c->name);
			return -EINVAL;
		}
		data = rte_pktmbuf_append(s->pkts[i], (uint16_t)len);
		if (data == NULL) {
			fprintf(stderr, "vigil-bench: a %zu-byte frame does not fit an mbuf\n",
				len);
			return -ENOSPC;
		}
		memcpy(data, frame, len);
		s->bytes += len;
		if (c->kind == BENCH_OUTCOME)
			s->expected_outcome[c->counter]++;
		else
			s->expected_drop[c->counter]++;
	}
	return 0;
}

static void
set_free(struct bench_set *s)
{
	for (unsigned i = 0; i < BENCH_N_FRAMES; i++)
		if (s->pkts[i])
			rte_pktmbuf_free(s->pkts[i]);
	rte_mempool_free(s->pool);
}

static void
local_init(struct dp_local *local)
{
	memset(local, 0, sizeof(*local));
	memcpy(local->mac, appliance_mac, 6);
	local->n_ipv4 = 1;
	local->ipv4[0] = htonl(BENCH_APPLIANCE_V4);
	local->n_ipv6 = 1;
	memcpy(local->ipv6[0], appliance_v6, 16);
	local->n_hl7_ports = 1;
	local->hl7_ports[0] = BENCH_HL7_PORT;
	local->n_vtp_ports = 1;
	local->vtp_ports[0] = BENCH_VTP_PORT;
	local->udp_checksum = true; /* vigild's default */
}

/* ------------------------------------------------------------------------ */
/* The timed loops                                                           */
/* ------------------------------------------------------------------------ */

/*
 * One burst, exactly as the worker handles it once rte_eth_rx_burst has
 * returned (dp_burst_classify). What the worker then does with the mbufs
 * (free, TX) is left out: the set is reused. A reply would have rewritten
 * its frame, so any is counted as unexpected.
 */
static inline void
parse_burst(const struct dp_local *local, struct dp_stats *stats, struct rte_mbuf **pkts,
	    uint16_t n, uint64_t *unexpected)
{
	struct dp_burst b;

	static const struct dp_decode_ctx count_only = {.decode = false};

	dp_burst_classify(local, stats, pkts, n, &count_only, &b);
	*unexpected += b.n_tx;
}

/* Kept out of line so that callgrind can count this loop alone
 * (--toggle-collect=bench_parse_loop). */
__attribute__((noinline)) static void
bench_parse_loop(const struct dp_local *local, struct dp_stats *stats, struct rte_mbuf **pkts,
		 unsigned long passes, uint64_t *unexpected)
{
	for (unsigned long p = 0; p < passes; p++)
		for (unsigned b = 0; b < BENCH_N_FRAMES; b += DP_RX_BURST)
			parse_burst(local, stats, pkts + b, DP_RX_BURST, unexpected);
}

/* The memory floor: the same mbufs in the same order and bursts, with the
 * same prefetch window, reading the first 64 bytes of each frame. */
__attribute__((noinline)) static uint64_t
bench_baseline_loop(struct rte_mbuf **pkts, unsigned long passes)
{
	uint64_t acc = 0;

	for (unsigned long p = 0; p < passes; p++) {
		for (unsigned b = 0; b < BENCH_N_FRAMES; b += DP_RX_BURST) {
			struct rte_mbuf **burst = pkts + b;

			for (unsigned i = 0; i < BENCH_PREFETCH_AHEAD; i++)
				rte_prefetch0(rte_pktmbuf_mtod(burst[i], void *));
			for (unsigned i = 0; i < DP_RX_BURST; i++) {
				const uint8_t *frame = rte_pktmbuf_mtod(burst[i], const uint8_t *);
				uint64_t w[8];

				if (i + BENCH_PREFETCH_AHEAD < DP_RX_BURST)
					rte_prefetch0(rte_pktmbuf_mtod(
						burst[i + BENCH_PREFETCH_AHEAD], void *));
				memcpy(w, frame, sizeof(w));
				acc += (w[0] ^ w[1] ^ w[2] ^ w[3] ^ w[4] ^ w[5] ^ w[6] ^ w[7]) +
				       rte_pktmbuf_data_len(burst[i]);
			}
		}
	}
	return acc;
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Compare the counters of one run with the set's composition × @passes. */
static int
check_counters(const struct bench_set *s, const struct dp_stats *st, unsigned long passes,
	       uint64_t unexpected, unsigned run)
{
	uint64_t packets = (uint64_t)passes * BENCH_N_FRAMES;
	int bad = 0;

	if (unexpected != 0) {
		fprintf(stderr, "vigil-bench: run %u: %" PRIu64 " frames were answered\n", run,
			unexpected);
		bad = 1;
	}
	if (dp_read(&st->rx_packets) != packets || dp_stats_accounted(st) != packets) {
		fprintf(stderr,
			"vigil-bench: run %u: rx_packets %" PRIu64 ", accounted %" PRIu64
			", expected %" PRIu64 "\n",
			run, dp_read(&st->rx_packets), dp_stats_accounted(st), packets);
		bad = 1;
	}
	if (dp_read(&st->rx_bytes) != s->bytes * passes) {
		fprintf(stderr, "vigil-bench: run %u: rx_bytes %" PRIu64 ", expected %" PRIu64 "\n",
			run, dp_read(&st->rx_bytes), s->bytes * passes);
		bad = 1;
	}
	for (unsigned i = 0; i < DP_OUT__COUNT; i++) {
		uint64_t want = s->expected_outcome[i] * passes, got = dp_read(&st->outcome[i]);

		if (got != want) {
			fprintf(stderr,
				"vigil-bench: run %u: outcome %s = %" PRIu64 ", expected %" PRIu64
				"\n",
				run, dp_outcome_name(i), got, want);
			bad = 1;
		}
	}
	for (unsigned i = 0; i < DP_DROP__COUNT; i++) {
		uint64_t want = s->expected_drop[i] * passes, got = dp_read(&st->drop[i]);

		if (got != want) {
			fprintf(stderr,
				"vigil-bench: run %u: drop %s = %" PRIu64 ", expected %" PRIu64
				"\n",
				run, dp_drop_name(i), got, want);
			bad = 1;
		}
	}
	return bad ? -EPROTO : 0;
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

struct bench_summary {
	double median, min, max; /* ns per packet */
};

static void
summarise(const double *v, unsigned n, struct bench_summary *out)
{
	double sorted[BENCH_MAX_RUNS];

	memcpy(sorted, v, n * sizeof(*v));
	qsort(sorted, n, sizeof(*sorted), cmp_double);
	out->min = sorted[0];
	out->max = sorted[n - 1];
	out->median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

static void
print_text(const struct bench_opts *o, const struct bench_set *s, unsigned long passes,
	   const double *parse_ns, const double *base_ns, int argc, char **argv)
{
	struct bench_summary ps, bs;

	summarise(parse_ns, o->runs, &ps);
	summarise(base_ns, o->runs, &bs);
	printf("# ");
	print_command(stdout, argc, argv);
	printf("\nvigil-bench %s (%s): scenario %s, %u frames (%.0f bytes on average), %lu "
	       "passes = %" PRIu64 " packets per run, %u run(s)\n",
	       VIGIL_VERSION, rte_version(), o->scenario, BENCH_N_FRAMES,
	       (double)s->bytes / BENCH_N_FRAMES, passes, (uint64_t)passes * BENCH_N_FRAMES,
	       o->runs);
	printf("mix:\n");
	for (unsigned c = 0; c < C__COUNT; c++)
		printf("  %-26s %5u  -> %s\n", classes[c].name, s->per_class[c],
		       class_counter_name(&classes[c]));
	printf("%-4s %16s %16s %8s\n", "run", "parse ns/pkt", "baseline ns/pkt", "ratio");
	for (unsigned r = 0; r < o->runs; r++)
		printf("%-4u %16.2f %16.2f %8.2f\n", r + 1, parse_ns[r], base_ns[r],
		       parse_ns[r] / base_ns[r]);
	printf("parse:    median %.2f ns/packet = %.2f Mpps per core (min %.2f, max %.2f)\n",
	       ps.median, 1e3 / ps.median, ps.min, ps.max);
	printf("baseline: median %.2f ns/packet = %.2f Mpps per core (min %.2f, max %.2f)\n",
	       bs.median, 1e3 / bs.median, bs.min, bs.max);
	printf("ratio parse/baseline (medians): %.2f\n", ps.median / bs.median);
	printf("counters: every run matched the mix exactly\n");
}

static void
print_json_runs(const double *v, unsigned n)
{
	printf("[");
	for (unsigned r = 0; r < n; r++)
		printf("%s%.3f", r ? "," : "", v[r]);
	printf("]");
}

static void
print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

/* The command line as print_command writes it, malloc'd; NULL without memory. */
static char *
command_text(int argc, char **argv)
{
	char *cmd = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&cmd, &len);

	if (mem == NULL)
		return NULL;
	print_command(mem, argc, argv);
	if (fclose(mem) != 0) {
		free(cmd);
		return NULL;
	}
	return cmd;
}

static void
print_json(const struct bench_opts *o, const struct bench_set *s, unsigned long passes,
	   const double *parse_ns, const double *base_ns, int argc, char **argv)
{
	struct bench_summary ps, bs;
	char *cmd = command_text(argc, argv);

	summarise(parse_ns, o->runs, &ps);
	summarise(base_ns, o->runs, &bs);
	printf("{\"command\":");
	print_json_string(cmd ? cmd : "");
	free(cmd);
	printf(",\"version\":\"%s\",\"dpdk\":\"%s\",\"scenario\":\"%s\",\"frames\":%u,"
	       "\"bytes_per_pass\":%" PRIu64 ",\"packets_per_run\":%" PRIu64 ",\"runs\":%u,"
	       "\"mix\":{",
	       VIGIL_VERSION, rte_version(), o->scenario, BENCH_N_FRAMES, s->bytes,
	       (uint64_t)passes * BENCH_N_FRAMES, o->runs);
	for (unsigned c = 0; c < C__COUNT; c++)
		printf("%s\"%s\":{\"frames\":%u,\"counter\":\"%s\"}", c ? "," : "", classes[c].name,
		       s->per_class[c], class_counter_name(&classes[c]));
	printf("},\"parse\":{\"ns_per_packet\":{\"median\":%.3f,\"min\":%.3f,\"max\":%.3f},"
	       "\"mpps_per_core_median\":%.3f,\"runs_ns_per_packet\":",
	       ps.median, ps.min, ps.max, 1e3 / ps.median);
	print_json_runs(parse_ns, o->runs);
	printf("},\"baseline\":{\"ns_per_packet\":{\"median\":%.3f,\"min\":%.3f,\"max\":%.3f},"
	       "\"mpps_per_core_median\":%.3f,\"runs_ns_per_packet\":",
	       bs.median, bs.min, bs.max, 1e3 / bs.median);
	print_json_runs(base_ns, o->runs);
	printf("},\"ratio_parse_baseline\":%.3f,\"counters_ok\":true}\n", ps.median / bs.median);
}

/* ------------------------------------------------------------------------ */
/* Scenario parse                                                            */
/* ------------------------------------------------------------------------ */

static int
scenario_parse(const struct bench_opts *o, int argc, char **argv)
{
	static struct bench_set set;
	static struct dp_stats stats;
	double parse_ns[BENCH_MAX_RUNS], base_ns[BENCH_MAX_RUNS];
	unsigned long passes = (o->packets + BENCH_N_FRAMES - 1) / BENCH_N_FRAMES;
	double packets = (double)passes * BENCH_N_FRAMES;
	volatile uint64_t sink = 0;
	struct dp_local local;
	uint64_t unexpected = 0;
	int rc;

	local_init(&local);
	rc = set_build(&set);
	if (rc != 0)
		goto out;

	/* One untimed pass each to warm the caches and the branch predictor;
	 * its counters are checked like any run's. */
	sink += bench_baseline_loop(set.pkts, 1);
	memset(&stats, 0, sizeof(stats));
	bench_parse_loop(&local, &stats, set.pkts, 1, &unexpected);
	rc = check_counters(&set, &stats, 1, unexpected, 0);
	if (rc != 0)
		goto out;

	for (unsigned r = 0; r < o->runs; r++) {
		double t0, t1, t2;

		t0 = now_ns();
		sink += bench_baseline_loop(set.pkts, passes);
		t1 = now_ns();
		memset(&stats, 0, sizeof(stats));
		unexpected = 0;
		bench_parse_loop(&local, &stats, set.pkts, passes, &unexpected);
		t2 = now_ns();
		base_ns[r] = (t1 - t0) / packets;
		parse_ns[r] = (t2 - t1) / packets;
		rc = check_counters(&set, &stats, passes, unexpected, r + 1);
		if (rc != 0)
			goto out;
	}
	(void)sink;
	if (o->json)
		print_json(o, &set, passes, parse_ns, base_ns, argc, argv);
	else
		print_text(o, &set, passes, parse_ns, base_ns, argc, argv);
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = -EIO;
out:
	set_free(&set);
	return rc;
}

/* The rules scenario needs no EAL of its own, but it runs on the EAL's
 * main lcore like the others, so that it is pinned the same way. */
static int
scenario_rules(const struct bench_opts *o, int argc, char **argv)
{
	struct bench_rules_opts ro = {
		.runs = o->runs,
		.iterations = o->packets,
		.smoke = o->smoke,
		.json = o->json,
		.counts = o->rule_counts,
		.n_counts = o->n_rule_counts,
	};
	char *cmd = command_text(argc, argv);
	int rc;

	if (cmd == NULL)
		return -ENOMEM;
	ro.command = cmd;
	rc = bench_rules(&ro);
	free(cmd);
	return rc;
}

static int
scenario_rings(const struct bench_opts *o, int argc, char **argv)
{
	struct bench_rings_opts ro = {
		.runs = o->runs,
		.seconds = o->smoke ? BENCH_RINGS_SMOKE_SECONDS : BENCH_RINGS_SECONDS,
		.events = o->packets,
		.json = o->json,
	};
	char *cmd = command_text(argc, argv);
	int rc;

	if (cmd == NULL)
		return -ENOMEM;
	ro.command = cmd;
	rc = bench_rings(&ro);
	free(cmd);
	return rc;
}

/*
 * Where the shipped rules are: --rules-dir, else $VIGIL_SOURCE_ROOT/rules,
 * else rules. @p *dir gets what was allocated for it (free it).
 * @return 0, -ENOMEM.
 */
static int
rules_dir_of(const struct bench_opts *o, const char **out, char **dir)
{
	const char *root = getenv("VIGIL_SOURCE_ROOT");

	*dir = NULL;
	*out = o->rules_dir;
	if (*out != NULL)
		return 0;
	if (root != NULL && root[0] != '\0' && asprintf(dir, "%s/rules", root) < 0) {
		*dir = NULL;
		return -ENOMEM;
	}
	*out = *dir != NULL ? *dir : "rules";
	return 0;
}

/* The reload scenario runs a plane of its own on the EAL's lcores. */
static int
scenario_reload(const struct bench_opts *o, int argc, char **argv)
{
	struct bench_reload_opts ro = {
		.reloads = o->reloads,
		.smoke = o->smoke,
		.json = o->json,
		.rules = o->n_rule_counts == 1 ? o->rule_counts[0] : 0,
		.cache = o->rules_cache,
	};
	char *cmd = command_text(argc, argv), *dir = NULL;
	int rc;

	if (cmd == NULL)
		return -ENOMEM;
	rc = rules_dir_of(o, &ro.rules_dir, &dir);
	if (rc != 0) {
		free(cmd);
		return rc;
	}
	ro.command = cmd;
	rc = bench_reload(&ro);
	free(dir);
	free(cmd);
	return rc;
}

/* The restart scenario starts vigild, which has an EAL of its own. */
static int
scenario_restart(const struct bench_opts *o, int argc, char **argv)
{
	struct bench_restart_opts ro = {
		.runs = o->runs,
		.rules = o->rule_counts[0],
		.smoke = o->smoke,
		.json = o->json,
		.vigild = o->vigild,
	};
	char *cmd = command_text(argc, argv), *dir = NULL;
	int rc;

	if (cmd == NULL)
		return -ENOMEM;
	rc = rules_dir_of(o, &ro.rules_dir, &dir);
	if (rc != 0) {
		free(cmd);
		return rc;
	}
	ro.command = cmd;
	rc = bench_restart(&ro);
	free(dir);
	free(cmd);
	return rc;
}

/* The consumer scenario needs no EAL either; it runs pinned like the others. */
static int
scenario_consumer(const struct bench_opts *o, int argc, char **argv)
{
	struct bench_consumer_opts co = {
		.runs = o->runs,
		.events = o->packets,
		.smoke = o->smoke,
		.json = o->json,
		.dir = o->store_dir,
	};
	char *cmd = command_text(argc, argv), *dir = NULL;
	int rc;

	if (cmd == NULL)
		return -ENOMEM;
	rc = rules_dir_of(o, &co.rules_dir, &dir);
	if (rc != 0) {
		free(cmd);
		return rc;
	}
	co.command = cmd;
	rc = bench_consumer(&co);
	free(dir);
	free(cmd);
	return rc;
}

/* The e2e scenario runs a plane of its own on the EAL's lcores. */
static int
scenario_e2e(const struct bench_opts *o, int argc, char **argv)
{
	struct bench_e2e_opts eo = {
		.runs = o->runs,
		.seconds = o->seconds,
		.smoke = o->smoke,
		.json = o->json,
		.store_dir = o->store_dir,
		.pcap = o->pcap,
		.proto = o->proto,
		.beds = o->beds,
		.duration = o->duration,
		.rules = o->n_rule_counts == 1 ? o->rule_counts[0] : 0,
		.workers = o->workers != 0 ? o->workers : 1,
	};
	char *cmd = command_text(argc, argv), *dir = NULL;
	int rc;

	if (cmd == NULL)
		return -ENOMEM;
	rc = rules_dir_of(o, &eo.rules_dir, &dir);
	if (rc != 0) {
		free(cmd);
		return rc;
	}
	eo.command = cmd;
	rc = bench_e2e(&eo);
	free(dir);
	free(cmd);
	return rc;
}

/* The store scenario needs no EAL either; it runs pinned like the others. */
static int
scenario_store(const struct bench_opts *o, int argc, char **argv)
{
	struct bench_store_opts so = {
		.runs = o->runs,
		.obs = o->packets,
		.alarms = o->smoke ? BENCH_STORE_SMOKE_ALARMS : BENCH_STORE_DEFAULT_ALARMS,
		.json = o->json,
		.dir = o->store_dir,
	};
	char *cmd = command_text(argc, argv);
	int rc;

	if (cmd == NULL)
		return -ENOMEM;
	so.command = cmd;
	rc = bench_store(&so);
	free(cmd);
	return rc;
}

int
main(int argc, char **argv)
{
	char *eal_argv[64], **orig_argv, lcores[512];
	struct bench_opts o;
	int app_argc = argc, eal_argc = 0, rc, status = 2;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			app_argc = i;
			break;
		}
	}
	/* Keep the command line for the report before getopt permutes it. */
	orig_argv = calloc((size_t)argc + 1, sizeof(*orig_argv));
	if (orig_argv == NULL) {
		fprintf(stderr, "vigil-bench: out of memory\n");
		return 1;
	}
	memcpy(orig_argv, argv, (size_t)argc * sizeof(*argv));

	rc = parse_args(app_argc, argv, &o);
	if (rc != 0) {
		status = rc > 0 ? 0 : 2;
		goto out;
	}

	eal_argv[eal_argc++] = argv[0];
	if (app_argc < argc - 1) {
		if ((size_t)(argc - app_argc) > sizeof(eal_argv) / sizeof(eal_argv[0])) {
			fprintf(stderr, "vigil-bench: too many EAL arguments\n");
			goto out;
		}
		for (int i = app_argc + 1; i < argc; i++)
			eal_argv[eal_argc++] = argv[i];
	} else if (strcmp(o.scenario, "reload") == 0) {
		for (size_t i = 0; i < sizeof(reload_eal_args) / sizeof(reload_eal_args[0]); i++)
			eal_argv[eal_argc++] = (char *)reload_eal_args[i];
	} else if (strcmp(o.scenario, "e2e") == 0) {
		const char *opt = NULL;

		if (e2e_lcores(o.workers != 0 ? o.workers : 1, &opt, lcores, sizeof(lcores)) != 0) {
			fprintf(stderr, "vigil-bench: cannot read the CPUs to run on\n");
			goto out;
		}
		/* reload's defaults, but the lcores */
		for (size_t i = 0; i < sizeof(reload_eal_args) / sizeof(reload_eal_args[0]); i++) {
			if (strcmp(reload_eal_args[i], "-l") == 0) {
				eal_argv[eal_argc++] = (char *)opt;
				eal_argv[eal_argc++] = lcores;
				i++;
				continue;
			}
			eal_argv[eal_argc++] = (char *)reload_eal_args[i];
		}
	} else {
		for (size_t i = 0; i < sizeof(default_eal_args) / sizeof(default_eal_args[0]); i++)
			eal_argv[eal_argc++] = (char *)default_eal_args[i];
	}
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr, "vigil-bench: EAL initialisation failed: %s\n",
			rte_strerror(rte_errno));
		status = 1;
		goto out;
	}

	if (strcmp(o.scenario, "decode") == 0) {
		/* As a "# command" line, and not in --json, whose output is one object. */
		if (!o.json) {
			fputs("# ", stdout);
			print_command(stdout, argc, orig_argv);
			fputc('\n', stdout);
		}
		rc = bench_decode(o.runs, o.packets, o.json);
	} else if (strcmp(o.scenario, "rules") == 0) {
		rc = scenario_rules(&o, argc, orig_argv);
	} else if (strcmp(o.scenario, "rings") == 0) {
		rc = scenario_rings(&o, argc, orig_argv);
	} else if (strcmp(o.scenario, "reload") == 0) {
		rc = scenario_reload(&o, argc, orig_argv);
	} else if (strcmp(o.scenario, "restart") == 0) {
		rc = scenario_restart(&o, argc, orig_argv);
	} else if (strcmp(o.scenario, "store") == 0) {
		rc = scenario_store(&o, argc, orig_argv);
	} else if (strcmp(o.scenario, "consumer") == 0) {
		rc = scenario_consumer(&o, argc, orig_argv);
	} else if (strcmp(o.scenario, "e2e") == 0) {
		rc = scenario_e2e(&o, argc, orig_argv);
	} else {
		rc = scenario_parse(&o, argc, orig_argv);
	}
	if (rc != 0)
		fprintf(stderr, "vigil-bench: scenario %s failed: %s\n", o.scenario, strerror(-rc));
	status = rc == 0 ? 0 : 1;
	rte_eal_cleanup();
out:
	free(orig_argv);
	return status;
}
