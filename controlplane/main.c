/*
 * main.c - vigild, the appliance daemon.
 *
 * Reads vigil.yaml, turns it into EAL arguments, checks the platform (each
 * failure names its fix), starts the data plane on the worker lcores and
 * then runs the control plane on the main lcore: periodic counter reports,
 * the rules loaded before the EAL starts (a ruleset with an error stops
 * start-up with every error as FILE:LINE:COL; `vigil-rules check` is the
 * way to test a ruleset before deploying it),
 * and, with --pcap, the end-of-capture detection that makes
 * `vigild --pcap FILE` behave as `suricata -r` does. SIGINT and SIGTERM only
 * set an atomic flag; the workers finish their burst, the ports stop, the
 * final summary prints and vigild exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hs/hs.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_version.h>

#include "controlplane.h"

#define TICK_NS 20000000L /* the main loop wakes every 20 ms */
#define PCAP_STALL_S 10.0 /* no progress for this long ends a --pcap run */

static atomic_bool quit;

#define MAX_CLI_RULES 32

struct options {
	const char *config;
	const char *pcap;
	unsigned n_rules;
	const char *rules[MAX_CLI_RULES]; /* --rules, replacing rules.files */
	bool json;
	bool print_config;
	long stats_interval; /* -1: from the config */
};

static void
on_signal(int sig)
{
	(void)sig;
	atomic_store(&quit, true);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: vigild [options]\n"
		"  -c, --config FILE          read FILE (vigil.yaml); defaults apply without it\n"
		"  -r, --pcap FILE            replay FILE on a net_pcap port, stop at its end and\n"
		"                             print the summary (the port takes the addresses of\n"
		"                             the first configured port)\n"
		"  -S, --rules FILE           load the rules in FILE (repeatable; replaces\n"
		"                             rules.files of the configuration)\n"
		"  -j, --json                 print reports as one JSON object per line\n"
		"  -s, --stats-interval N     print the counters every N seconds (0: at exit)\n"
		"      --print-config         print the effective configuration and exit\n"
		"  -h, --help                 this text\n"
		"  -V, --version              versions of vigild, DPDK and Hyperscan\n");
}

static int
parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"pcap", required_argument, NULL, 'r'},
		{"rules", required_argument, NULL, 'S'},
		{"json", no_argument, NULL, 'j'},
		{"stats-interval", required_argument, NULL, 's'},
		{"print-config", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->stats_interval = -1;
	while ((c = getopt_long(argc, argv, "c:r:S:js:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'r':
			o->pcap = optarg;
			break;
		case 'S':
			if (o->n_rules == MAX_CLI_RULES) {
				fprintf(stderr, "vigild: more than %d --rules\n", MAX_CLI_RULES);
				return -EINVAL;
			}
			o->rules[o->n_rules++] = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 's':
			errno = 0;
			o->stats_interval = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || o->stats_interval < 0 ||
			    o->stats_interval > 86400) {
				fprintf(stderr, "vigild: --stats-interval: '%s' is not 0..86400\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'P':
			o->print_config = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("vigild %s (%s, Hyperscan %s)\n", VIGIL_VERSION, rte_version(),
			       hs_version());
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vigild: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

/* Count the frames of a capture, so that --pcap knows when it has seen all. */
static int
pcap_count(const char *path, uint64_t *count)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *hdr;
	const u_char *data;
	pcap_t *p;
	int rc;

	*count = 0;
	p = pcap_open_offline(path, errbuf);
	if (p == NULL) {
		fprintf(stderr, "vigild: --pcap: %s\n", errbuf);
		return -EINVAL;
	}
	if (pcap_datalink(p) != DLT_EN10MB) {
		fprintf(stderr, "vigild: --pcap %s: link type %s, vigild reads Ethernet only\n",
			path, pcap_datalink_val_to_name(pcap_datalink(p)));
		pcap_close(p);
		return -EINVAL;
	}
	while ((rc = pcap_next_ex(p, &hdr, &data)) == 1)
		(*count)++;
	if (rc == PCAP_ERROR) {
		fprintf(stderr, "vigild: --pcap %s: after %llu frames: %s\n", path,
			(unsigned long long)*count, pcap_geterr(p));
		pcap_close(p);
		return -EINVAL;
	}
	pcap_close(p);
	return 0;
}

/* --pcap replaces the configured ports with one net_pcap port that keeps
 * the first port's addresses, so a config written for the NIC replays. */
static int
use_pcap_port(struct cp_config *cfg, const char *path)
{
	struct cp_port_config first = {0};
	char *device;
	int rc;

	if (strchr(path, ',') != NULL) {
		fprintf(stderr, "vigild: --pcap %s: DPDK device arguments cannot hold a ','\n",
			path);
		return -EINVAL;
	}
	if (asprintf(&device, "net_pcap_vigil0,rx_pcap=%s", path) < 0)
		return -ENOMEM;
	if (cfg->n_ports > 0) {
		first = cfg->port[0];
		first.device = NULL;
	}
	for (unsigned i = 0; i < cfg->n_ports; i++) {
		free(cfg->port[i].device);
		cfg->port[i].device = NULL;
	}
	cfg->n_ports = 0;
	rc = cp_config_add_port(cfg, device);
	free(device);
	if (rc != 0)
		return rc;
	first.device = cfg->port[0].device;
	cfg->port[0] = first;
	return 0;
}

static int
platform_check(void)
{
	if (hs_valid_platform() != HS_SUCCESS) {
		fprintf(stderr, "vigild: this CPU lacks SSSE3, which Hyperscan needs: run on an "
				"x86-64 CPU with SSSE3 (or build against Vectorscan on Arm)\n");
		return -ENOTSUP;
	}
	return 0;
}

/*
 * Load the configured rules. Warnings are printed and do not stop
 * start-up; an error does, with every error printed: running on without the
 * rules an operator believes are loaded would be a silent failure.
 */
static int
load_rules(const struct cp_config *cfg, struct rule_set **out)
{
	struct rule_var vars[CP_MAX_RULE_VARS];
	struct rule_diags diags = {0};
	const struct rule_set_info *info;
	struct rule_load_opts opts;
	int rc;

	*out = NULL;
	if (cfg->n_rule_files == 0) {
		fprintf(stderr,
			"vigild: no rules loaded (rules.files is empty): telemetry is decoded "
			"and counted, but no alarm can be raised\n");
		return 0;
	}
	cp_config_rule_opts(cfg, &opts, vars);
	rc = rule_set_load(&opts, out, &diags);
	rule_diags_print(&diags, stderr);
	if (rc != 0) {
		fprintf(stderr,
			"vigild: rules: %u error%s; not starting (check a ruleset with "
			"`vigil-rules check FILE...` before deploying it)\n",
			diags.n_errors, diags.n_errors == 1 ? "" : "s");
		rule_diags_free(&diags);
		return rc;
	}
	rule_diags_free(&diags);
	info = rule_set_info(*out);
	fprintf(stderr,
		"vigild: rules: %u loaded (%u alert, %u log, %u pass; %u disabled), %u patterns, "
		"%s in %.1f ms, ruleset %.16s\n",
		info->n_rules, info->by_action[RULE_ACTION_ALERT], info->by_action[RULE_ACTION_LOG],
		info->by_action[RULE_ACTION_PASS], info->n_disabled, info->n_patterns,
		info->cache == RULE_CACHE_HIT	    ? "database from the cache"
		: info->cache == RULE_CACHE_REBUILT ? "cache rejected, compiled"
						    : "compiled",
		(double)info->total_ns / 1e6, info->hash);
	if (info->cache == RULE_CACHE_REBUILT)
		fprintf(stderr, "vigild: rules: cache: %s\n", info->cache_note);
	return 0;
}

static int
report(struct dp_plane *dp, const struct cp_rule_hits *hits, double start, bool json)
{
	static struct cp_report r; /* large; only the main lcore reports */
	int rc;

	cp_report_gather(dp, now_s() - start, &r);
	r.hits = hits;
	rc = cp_report_print(&r, json, stdout);
	if (rc != 0)
		fprintf(stderr, "vigild: writing the report to standard output failed: %s\n",
			strerror(-rc));
	return rc;
}

/* True once every frame of the capture has an outcome or a port drop. */
static bool
pcap_done(struct dp_plane *dp, uint64_t expected, uint64_t *progress)
{
	static struct cp_report r;
	uint64_t rx, accounted;

	cp_report_gather(dp, 0, &r);
	rx = dp_read(&r.total.rx_packets);
	accounted = dp_stats_accounted(&r.total);
	*progress = accounted + cp_report_port_drops(&r);
	return rx == accounted && *progress >= expected;
}

static int
run(struct dp_plane *dp, const struct cp_rule_hits *hits, const struct options *o,
    unsigned interval, uint64_t pcap_frames)
{
	double start = now_s(), last_report = start, last_progress_t = start;
	uint64_t progress = 0, last_progress = 0;
	const struct timespec tick = {0, TICK_NS};
	int rc = 0;

	while (!atomic_load(&quit)) {
		double t;

		nanosleep(&tick, NULL);
		t = now_s();
		if (o->pcap) {
			if (pcap_done(dp, pcap_frames, &progress))
				break;
			if (progress != last_progress) {
				last_progress = progress;
				last_progress_t = t;
			} else if (t - last_progress_t > PCAP_STALL_S) {
				fprintf(stderr,
					"vigild: --pcap: %llu of %llu frames accounted for and no "
					"progress for %.0f s; stopping\n",
					(unsigned long long)progress,
					(unsigned long long)pcap_frames, PCAP_STALL_S);
				rc = -ETIMEDOUT;
				break;
			}
		}
		if (interval && t - last_report >= interval) {
			last_report = t;
			report(dp, hits, start, o->json);
		}
	}
	dp_stop(dp);
	if (report(dp, hits, start, o->json) != 0 && rc == 0)
		rc = -EIO;
	return rc;
}

int
main(int argc, char **argv)
{
	char err[512], scratch[256], *eal_argv[CP_MAX_EAL_ARGS + 2 * DP_MAX_PORTS + 4];
	struct dp_plane *dp = NULL;
	struct rule_set *rules = NULL;
	struct cp_rule_hits hits = {0};
	struct cp_config cfg;
	struct dp_conf dconf;
	struct options o;
	uint64_t pcap_frames = 0;
	unsigned interval;
	int eal_argc, rc, status = 1;

	if (parse_args(argc, argv, &o) != 0)
		return 2;
	if (cp_config_defaults(&cfg) != 0) {
		fprintf(stderr, "vigild: out of memory\n");
		return 1;
	}
	if (o.config && cp_config_load(&cfg, o.config, err, sizeof(err)) != 0) {
		fprintf(stderr, "vigild: %s\n", err);
		status = 2;
		goto out_config;
	}
	if (o.n_rules > 0 && cp_config_set_rule_files(&cfg, o.rules, o.n_rules) != 0) {
		fprintf(stderr, "vigild: out of memory\n");
		goto out_config;
	}
	if (o.pcap && (pcap_count(o.pcap, &pcap_frames) != 0 || use_pcap_port(&cfg, o.pcap) != 0)) {
		status = 2;
		goto out_config;
	}
	if (o.print_config) {
		cp_config_print(&cfg, stdout);
		status = 0;
		goto out_config;
	}
	interval = o.stats_interval >= 0 ? (unsigned)o.stats_interval : cfg.stats_interval;

	if (platform_check() != 0)
		goto out_config;
	rc = load_rules(&cfg, &rules);
	if (rc != 0) {
		/* A ruleset that is wrong or missing is a configuration error. */
		status = rc == -ENOMEM ? 1 : 2;
		goto out_config;
	}
	if (cp_rule_hits_init(&hits, rules, cfg.workers) != 0) {
		fprintf(stderr, "vigild: out of memory\n");
		goto out_rules;
	}
	eal_argc = cp_eal_args(&cfg, argv[0], eal_argv, sizeof(eal_argv) / sizeof(eal_argv[0]),
			       scratch, sizeof(scratch));
	if (eal_argc < 0) {
		fprintf(stderr, "vigild: too many EAL arguments (eal: and ports:)\n");
		goto out_rules;
	}
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr,
			"vigild: EAL initialisation failed: %s; check eal: in the configuration "
			"(without hugepages keep --no-huge; for a NIC, bind it to vfio-pci)\n",
			rte_strerror(rte_errno));
		goto out_rules;
	}

	cp_config_to_dp(&cfg, &dconf);
	dconf.rules = rules;
	dconf.on_hits = cp_rule_hits_count;
	dconf.hits_arg = &hits;
	rc = dp_start(&dconf, &dp, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "vigild: %s\n", err);
		goto out_eal;
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rc = run(dp, rules != NULL ? &hits : NULL, &o, interval, pcap_frames);
	status = rc == 0 ? 0 : 1;
	dp_destroy(dp);
out_eal:
	rte_eal_cleanup();
out_rules:
	cp_rule_hits_free(&hits);
	rule_set_free(rules);
out_config:
	cp_config_free(&cfg);
	return status;
}
