/*
 * main.c - vigild, the appliance daemon.
 *
 * Reads vigil.yaml, turns it into EAL arguments, checks the platform (each
 * failure names its fix), loads the rules before the EAL starts (a ruleset
 * with an error stops start-up with every error as FILE:LINE:COL;
 * `vigil-rules check` is the way to test a ruleset before deploying it),
 * opens the store (storage.dir; a database that is locked by another
 * vigild, corrupted or of another schema stops start-up, exit 2), starts
 * the data plane on the worker lcores with that ruleset as bundle version 1
 * and the sender ACL, starts the event consumer with the persist hooks
 * (the consumer's thread is the store's one writer), and then runs
 * the control plane on the main lcore: periodic counter reports, rule
 * reloads, the device registry's reclamation, and, with --pcap, the
 * end-of-capture detection that makes `vigild --pcap FILE` behave as
 * `suricata -r` does.
 *
 * The main thread is a QSBR reader that stays offline except while it reads
 * the bundle in force and the registry for a report, so that it never holds
 * up a grace period. Signals only set atomic flags: SIGHUP asks for a
 * reload, which runs on a thread of its own (one at a time; its result,
 * success or refusal with every error, is printed when the main loop sees
 * it, on stderr and with --json also as a {"reload": ...} line on stdout);
 * SIGINT and SIGTERM stop the workers after their burst, the consumer
 * drains what is left, the store gets the last batch, the final summary
 * prints, the store is closed and vigild exits 0.
 *
 * `vigild --pcap` keeps nothing unless the configuration names
 * storage.dir: a replay is a test, not the ward's record.
 *
 * Beside the consumer: the monitor (sampled by the main loop once a
 * second), DPDK telemetry's /vigil commands, /metrics, the audit chain and
 * the control socket (ctl.c), started once the pipeline runs and stopped
 * before it. With --pcap the socket and /metrics are off unless the
 * configuration names them; --linger keeps vigild serving them after the
 * capture, once the consumer has taken every event, until SIGTERM or
 * `vigilctl shutdown`.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <hs/hs.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_version.h>
#include <urcu/urcu-qsbr.h>

#include "controlplane.h"

#define TICK_NS 20000000L /* the main loop wakes every 20 ms */
#define PCAP_STALL_S 10.0 /* no progress for this long ends a --pcap run */

static atomic_bool quit;
static atomic_bool reload_requested;

#define MAX_CLI_RULES 32

struct options {
	const char *config;
	const char *pcap;
	unsigned n_rules;
	const char *rules[MAX_CLI_RULES]; /* --rules, replacing rules.files */
	bool json;
	bool print_config;
	bool linger;	     /* --pcap: keep serving after the capture's end */
	long stats_interval; /* -1: from the config */
};

static void
on_signal(int sig)
{
	(void)sig;
	atomic_store(&quit, true);
}

static void
on_hup(int sig)
{
	(void)sig;
	atomic_store(&reload_requested, true);
}

/* What the main loop runs and reports on. */
struct vigild {
	struct dp_plane *dp;
	struct cp_consumer *consumer; /* NULL without events */
	struct cp_reloader *reloader;
	struct store *store;		   /* NULL: storage off */
	struct cp_persist *persist;	   /* with the store */
	struct cp_clinical *clinical;	   /* alarms, patients, NEWS2 (with events) */
	struct cp_monitor *monitor;	   /* samples for the socket, /metrics, telemetry */
	struct cp_audit *audit;		   /* with the store */
	struct cp_ctl *ctl;		   /* the control socket (NULL: off) */
	struct cp_metrics *metrics;	   /* /metrics (NULL: off) */
	uint64_t ctl_final[CP_CTL__COUNT]; /* the socket's counters when it stopped */
	const char *storage_dir;
	double start;
	bool json;
};

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
		"      --linger               with --pcap: after the capture, print the summary "
		"and\n"
		"                             keep serving the control socket, /metrics and\n"
		"                             telemetry until SIGTERM or `vigilctl shutdown`\n"
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
		{"linger", no_argument, NULL, 'L'},
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
		case 'L':
			o->linger = true;
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
	if (o->linger && o->pcap == NULL) {
		fprintf(stderr,
			"vigild: --linger goes with --pcap (a live vigild runs until stopped)\n");
		return -EINVAL;
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

/*
 * Make the directories above @p dir that are missing (mode 0700: they will
 * hold patient data), as `mkdir -p` would; RocksDB makes the last one.
 * @return 0, or the negative errno of the mkdir that failed (@p err says which).
 */
static int
make_parents(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);

	if (len >= sizeof(path)) {
		snprintf(err, errlen, "%.200s...: the path is too long", dir);
		return -ENAMETOOLONG;
	}
	memcpy(path, dir, len + 1);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	for (char *p = path + 1; (p = strchr(p, '/')) != NULL; p++) {
		struct stat st;
		int rc = 0;

		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			rc = -errno;
			/* A directory that is there (on a read-only file system, say) will do. */
			if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
				rc = 0;
		}
		*p = '/';
		if (rc != 0) {
			snprintf(err, errlen, "cannot make %.*s for %.200s: %s",
				 (int)(p - path < 200 ? p - path : 200), path, dir, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* A retention for people: "7d", or "forever" for 0. */
static const char *
kept(int64_t seconds, char *buf, size_t len)
{
	return seconds == 0 ? "forever" : cp_duration_format(seconds, buf, len);
}

/*
 * Open the store of storage.dir, and the persist hooks that write to it.
 * Storage off (storage.dir null, or --pcap without storage.dir in the
 * configuration) is said, not an error. A store that cannot be opened
 * (locked by another vigild, corrupted, another schema, a key file
 * refused) stops start-up with the store's one-line reason.
 * @return 0, or a negative errno (the message is printed).
 */
static int
open_storage(const struct cp_config *cfg, bool pcap, struct vigild *v)
{
	char err[512] = "", obs[32], alarms[32], audit[32], sealed[32];
	struct store_opts opts;
	unsigned key;
	int rc;

	if (cfg->storage_dir == NULL || (pcap && !cfg->storage_dir_given)) {
		fprintf(stderr, "vigild: storage off: nothing is kept (%s)\n",
			cfg->storage_dir == NULL
				? "storage.dir is null"
				: "--pcap without storage.dir in the configuration");
		return 0;
	}
	cp_config_store_opts(cfg, &opts);
	rc = make_parents(cfg->storage_dir, err, sizeof(err));
	if (rc == 0)
		rc = store_open(&opts, &v->store, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "vigild: storage: %s\n", err[0] != '\0' ? err : strerror(-rc));
		return rc;
	}
	rc = cp_persist_new(v->store, NULL, &v->persist);
	if (rc != 0) {
		fprintf(stderr, "vigild: storage: %s\n", strerror(-rc));
		store_close(v->store);
		v->store = NULL;
		return rc;
	}
	v->storage_dir = cfg->storage_dir;
	key = store_seal_key_id(v->store);
	if (key != 0)
		snprintf(sealed, sizeof(sealed), "sealed with key %u", key);
	else
		snprintf(sealed, sizeof(sealed), "not sealed");
	fprintf(stderr,
		"vigild: storage: %s (%s), observations kept %s, alarms %s, audit %s; values %s\n",
		cfg->storage_dir, cp_compression_name(cfg->storage_compression),
		kept(cfg->storage_retain_s[STORE_CF_OBS], obs, sizeof(obs)),
		kept(cfg->storage_retain_s[STORE_CF_ALARMS], alarms, sizeof(alarms)),
		kept(cfg->storage_retain_s[STORE_CF_AUDIT], audit, sizeof(audit)), sealed);
	return 0;
}

/*
 * The clinical pipeline: alarm manager, patients, NEWS2, the alarm log.
 * Open alarms are restored from the store here, before any event. The log
 * follows the storage rule: `--pcap` writes none unless the configuration
 * names alarms.log.
 * @return 0, or a negative errno (the message is printed).
 */
static int
start_clinical(struct vigild *v, const struct cp_config *cfg, bool pcap)
{
	struct cp_clinical_opts co;
	char err[512] = "";
	int rc;

	cp_clinical_opts_of_config(cfg, &co);
	co.dp = v->dp;
	co.persist = v->persist;
	co.store = v->store;
	co.packet_time = pcap;
	if (pcap && !cfg->alarm_log_given)
		co.log_path = NULL;
	if (co.log_path != NULL) {
		rc = make_parents(co.log_path, err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "vigild: alarms.log: %s\n", err);
			return rc;
		}
	}
	rc = cp_clinical_new(&co, &v->clinical);
	if (rc != 0) {
		fprintf(stderr, "vigild: the alarm manager: %s\n", strerror(-rc));
		return rc;
	}
	fprintf(stderr, "vigild: alarms: log %s\n",
		co.log_path != NULL ? co.log_path
				    : (pcap ? "off (--pcap without alarms.log in the configuration)"
					    : "off (alarms.log is null)"));
	return 0;
}

/* mkdir -p of the directory that holds @p path, mode 0755 (a socket others reach). */
static int
make_socket_dir(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
		snprintf(err, errlen, "%.200s...: the path is too long", path);
		return -ENAMETOOLONG;
	}
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot make %.200s: %s", dir, strerror(errno));
			return -errno;
		}
		if (last)
			break;
		*p = '/';
	}
	return 0;
}

static int64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
announce_to_ctl(void *arg, const char *line, size_t len)
{
	cp_ctl_announce(arg, line, len);
}

/*
 * What people look through: the monitor (sampled by the main loop), DPDK
 * telemetry, /metrics, the audit chain (with the store) and the control
 * socket. With --pcap, the socket and /metrics are off unless the
 * configuration names them (as storage is). A socket or a port that cannot
 * be had, or an audit key refused, stops start-up: an operator who
 * configured them relies on them.
 * @return 0, or a negative errno (the message, naming the key, is printed).
 */
static int
start_interfaces(struct vigild *v, const struct cp_config *cfg, const struct options *o,
		 int64_t started_ns)
{
	struct cp_sources src = {
		.dp = v->dp,
		.consumer = v->consumer,
		.reloader = v->reloader,
		.store = v->store,
		.persist = v->persist,
		.clinical = v->clinical,
		.storage_dir = v->storage_dir,
		.started_ns = started_ns,
	};
	bool pcap = o->pcap != NULL;
	char err[512] = "";
	int rc;

	rc = cp_monitor_new(&src, &v->monitor);
	if (rc != 0) {
		fprintf(stderr, "vigild: the monitor: %s\n", strerror(-rc));
		return rc;
	}
	cp_monitor_sample(v->monitor);
	rc = cp_telemetry_register(v->monitor);
	if (rc != 0)
		fprintf(stderr, "vigild: DPDK telemetry: /vigil/* not registered: %s\n",
			strerror(-rc));
	if (cfg->metrics_listen != NULL && (!pcap || cfg->metrics_listen_given)) {
		rc = cp_metrics_start(cfg->metrics_listen, v->monitor, &v->metrics, err,
				      sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "vigild: %s\n", err); /* names metrics.listen */
			return rc;
		}
		fprintf(stderr, "vigild: metrics: http://%s/metrics\n", cfg->metrics_listen);
	}
	if (v->store != NULL) {
		rc = cp_audit_open(v->store, cfg->audit_key_file, &v->audit, err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "vigild: audit: %s\n", err);
			return rc;
		}
		if (!cp_audit_keyed(v->audit))
			fprintf(stderr, "vigild: audit: no audit.key_file: records are chained "
					"with SHA-256, which finds accidents but not forgery\n");
	}
	if (cfg->control_socket != NULL && (!pcap || cfg->control_socket_given)) {
		struct cp_ctl_opts co = {
			.path = cfg->control_socket,
			.mode = cfg->control_mode,
			.group = cfg->control_group,
			.max_clients = cfg->control_max_clients,
			.roles = &cfg->roles,
			.monitor = v->monitor,
			.audit = v->audit,
			.audit_key_file = cfg->audit_key_file,
			.config_path = o->config,
			.backup_dir = cfg->backup_dir,
			.rule_files = o->rules,
			.n_rule_files = o->n_rules,
			.quit = &quit,
			.log = stderr,
		};

		rc = make_socket_dir(cfg->control_socket, err, sizeof(err));
		if (rc == 0)
			rc = cp_ctl_start(&co, &v->ctl, err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "vigild: %s (control.socket)\n", err);
			return rc;
		}
		if (v->clinical != NULL)
			cp_clinical_set_announce(v->clinical, announce_to_ctl, v->ctl);
		cp_monitor_set_ctl(v->monitor, v->ctl);
	} else {
		fprintf(stderr, "vigild: control socket off (%s)\n",
			cfg->control_socket == NULL
				? "control.socket is null"
				: "--pcap without control.socket in the configuration");
	}
	return 0;
}

/* Stop taking commands: before the data plane and the consumer stop. */
static void
stop_interfaces(struct vigild *v)
{
	if (v->clinical != NULL)
		cp_clinical_set_announce(v->clinical, NULL, NULL);
	if (v->ctl != NULL) { /* the summary at exit keeps its counts */
		cp_ctl_counters(v->ctl, v->ctl_final);
		cp_monitor_set_ctl(v->monitor, NULL);
	}
	cp_ctl_stop(v->ctl);
	v->ctl = NULL;
	cp_metrics_stop(v->metrics);
	v->metrics = NULL;
	/* DPDK cannot unregister a command: from here its vigil commands say vigild stops. */
	cp_telemetry_detach();
}

/*
 * Print a report. The bundle in force and the registry are read as an
 * online QSBR reader, and the report is written to memory meanwhile; the
 * thread is offline again before anything reaches standard output, so a
 * slow reader of vigild's output never holds up a grace period.
 */
static int
report(const struct vigild *v)
{
	static struct cp_report r; /* large; only the main lcore reports */
	struct dp_registry *reg = dp_registry_of(v->dp);
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	int rc;

	cp_report_gather(v->dp, now_s() - v->start, &r);
	if (v->consumer != NULL)
		cp_consumer_counters(v->consumer, r.consumer);
	if (v->store != NULL) {
		r.storage_dir = v->storage_dir;
		r.storage_key_id = store_seal_key_id(v->store);
		store_counters(v->store, r.store);
		cp_persist_counters(v->persist, r.persist);
		cp_persist_state(v->persist, &r.persist_state);
	}
	if (v->reloader != NULL)
		cp_reload_counts(v->reloader, &r.reloads_good, &r.reloads_refused);
	if (v->ctl != NULL)
		cp_ctl_counters(v->ctl, r.ctl);
	else
		memcpy(r.ctl, v->ctl_final, sizeof(r.ctl));
	r.clinical = v->clinical != NULL;
	if (v->clinical != NULL) {
		cp_clinical_counters(v->clinical, r.clin);
		cp_alarms_counters(cp_clinical_alarms(v->clinical), r.alarm);
		cp_alarms_open_by_priority(cp_clinical_alarms(v->clinical), r.open_alarms);
		cp_patients_counters(cp_clinical_patients(v->clinical), r.patient);
		r.patients = cp_patients_count(cp_clinical_patients(v->clinical));
	}
	mem = open_memstream(&buf, &len);
	if (mem == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	urcu_qsbr_thread_online();
	r.ruleset = dp_ruleset_current(v->dp);
	r.registry_devices = reg != NULL ? dp_registry_count(reg) : 0;
	rc = cp_report_print(&r, v->json, mem);
	r.ruleset = NULL;
	urcu_qsbr_thread_offline();
	if (fclose(mem) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc != 0)
		goto out;
	errno = 0;
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
		rc = errno ? -errno : -EIO;
out:
	free(buf);
	if (rc != 0)
		fprintf(stderr, "vigild: writing the report to standard output failed: %s\n",
			strerror(-rc));
	return rc;
}

/* A reload's result: the line on stderr; with --json also one line on stdout. */
static void
reload_print(const struct vigild *v, const struct cp_reload_result *res)
{
	cp_reload_result_print(res, stderr);
	if (v->json && cp_reload_result_print_json(res, stdout) != 0)
		fprintf(stderr, "vigild: writing the reload result to standard output failed\n");
}

/* A reload that finished: said, and a refusal is a technical alarm until one succeeds. */
static void
reload_result(const struct vigild *v, const struct cp_reload_result *res)
{
	reload_print(v, res);
	if (v->clinical != NULL && res->rc != -EBUSY)
		cp_clinical_reload_result(v->clinical, res->rc == 0);
}

/* SIGHUP: start a reload, unless one is running (then say so). */
static void
reload_request(const struct vigild *v)
{
	struct cp_reload_result busy = {.rc = -EBUSY};
	const struct dp_ruleset *rs;
	int rc;

	rc = cp_reload_start(v->reloader);
	if (rc == 0)
		return;
	if (rc != -EBUSY) {
		fprintf(stderr, "vigild: reload: could not start its thread: %s\n", strerror(-rc));
		return;
	}
	urcu_qsbr_thread_online();
	rs = dp_ruleset_current(v->dp);
	if (rs != NULL) {
		busy.version = rs->version;
		busy.n_rules = rs->n_rules;
		snprintf(busy.hash, sizeof(busy.hash), "%s", rule_set_info(rs->set)->hash);
	}
	urcu_qsbr_thread_offline();
	reload_print(v, &busy);
}

/*
 * With --linger: true once the consumer has taken every event the workers
 * put (and has since ended a pass, so its tick stored and announced them):
 * only then is what vigilctl sees the capture's whole result.
 */
static bool
consumer_drained(const struct vigild *v)
{
	static struct cp_report r;
	static uint64_t seen = UINT64_MAX;
	uint64_t c[CP_CONS__COUNT];
	bool done;

	if (v->consumer == NULL)
		return true;
	cp_report_gather(v->dp, 0, &r);
	cp_consumer_counters(v->consumer, c);
	done = c[CP_CONS_alarm_events] == dp_read(&r.total.event[DP_EVC_alarm_events]) &&
	       c[CP_CONS_telemetry_events] == dp_read(&r.total.event[DP_EVC_telemetry_events]);
	if (!done) {
		seen = UINT64_MAX;
		return false;
	}
	/* Drained: wait for one more pass to end after this one. */
	if (seen == UINT64_MAX) {
		seen = c[CP_CONS_passes];
		return false;
	}
	return c[CP_CONS_passes] > seen + 1;
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
run(struct vigild *v, const struct options *o, unsigned interval, uint64_t pcap_frames)
{
	double last_report = v->start, last_progress_t = v->start, last_sample = v->start;
	bool replayed = false, accounted = false;
	uint64_t progress = 0, last_progress = 0;
	const struct timespec tick = {0, TICK_NS};
	struct dp_registry *reg = dp_registry_of(v->dp);
	struct cp_reload_result res;
	int rc = 0;

	while (!atomic_load(&quit)) {
		double t;

		nanosleep(&tick, NULL);
		t = now_s();
		if (atomic_exchange(&reload_requested, false)) {
			reload_request(v);
			if (v->clinical != NULL)
				cp_clinical_reopen_log(v->clinical);
		}
		if (cp_reload_poll(v->reloader, &res)) {
			reload_result(v, &res);
			cp_reload_result_free(&res);
		}
		if (reg != NULL)
			dp_registry_reclaim(reg); /* offline here: it may wait for a grace period */
		if (v->monitor != NULL && t - last_sample >= 1.0) {
			last_sample = t;
			cp_monitor_sample(v->monitor);
		}
		if (o->pcap && !replayed) {
			if (accounted || pcap_done(v->dp, pcap_frames, &progress)) {
				if (!o->linger)
					break;
				accounted = true;
				if (!consumer_drained(v) && t - last_progress_t < PCAP_STALL_S)
					continue;
				/* The summary now; vigild stays up for vigilctl. */
				replayed = true;
				if (v->monitor != NULL)
					cp_monitor_sample(v->monitor);
				report(v);
				fprintf(stderr,
					"vigild: --pcap: the capture is replayed; lingering until "
					"SIGTERM or `vigilctl shutdown`\n");
				continue;
			}
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
			report(v);
		}
	}
	stop_interfaces(v);
	dp_stop(v->dp);
	/* A reload still running finishes (its result is printed) before the summary. */
	cp_reload_wait(v->reloader);
	if (cp_reload_poll(v->reloader, &res)) {
		reload_result(v, &res);
		cp_reload_result_free(&res);
	}
	/* The hooks read the registry and the ruleset: online while they run here. */
	urcu_qsbr_thread_online();
	if (v->consumer != NULL)
		cp_consumer_stop(v->consumer); /* drains what the workers left */
	/* The consumer has stopped: this thread is the store's writer now. */
	if (v->clinical != NULL)
		cp_clinical_tick(v->clinical);
	urcu_qsbr_thread_offline();
	if (v->persist != NULL)
		cp_persist_flush(v->persist);
	if (reg != NULL)
		dp_registry_reclaim(reg);
	if (report(v) != 0 && rc == 0)
		rc = -EIO;
	return rc;
}

int
main(int argc, char **argv)
{
	char err[512], scratch[256], *eal_argv[CP_MAX_EAL_ARGS + 2 * DP_MAX_PORTS + 4];
	struct vigild v = {0};
	struct rule_set *rules = NULL;
	struct dp_ruleset *bundle = NULL;
	struct dp_acl *acl = NULL;
	struct cp_config cfg;
	struct dp_conf dconf;
	struct options o;
	struct sigaction sa = {0};
	uint64_t pcap_frames = 0;
	int64_t started_ns = wall_ns();
	unsigned interval;
	int eal_argc, rc, status = 1;

	if (parse_args(argc, argv, &o) != 0)
		return 2;
	/* A SIGHUP during start-up is remembered, not fatal: the reload runs once started. */
	sa.sa_handler = on_hup;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
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
	rc = open_storage(&cfg, o.pcap != NULL, &v);
	if (rc != 0) {
		/* A database that is locked, corrupted or refused is for the operator. */
		status = rc == -ENOMEM ? 1 : 2;
		goto out_rules;
	}
	eal_argc = cp_eal_args(&cfg, argv[0], eal_argv, sizeof(eal_argv) / sizeof(eal_argv[0]),
			       scratch, sizeof(scratch));
	if (eal_argc < 0) {
		fprintf(stderr, "vigild: too many EAL arguments (eal: and ports:)\n");
		goto out_store;
	}
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr,
			"vigild: EAL initialisation failed: %s; check eal: in the configuration "
			"(without hugepages keep --no-huge; for a NIC, bind it to vfio-pci)\n",
			rte_strerror(rte_errno));
		goto out_store;
	}

	/* The rules loaded at start are version 1; the bundle owns the set from here. */
	if (rules != NULL) {
		rc = dp_ruleset_new(rules, cfg.workers, 1, &bundle);
		if (rc != 0) {
			fprintf(stderr, "vigild: the ruleset bundle: %s\n", strerror(-rc));
			goto out_eal;
		}
		rules = NULL;
	}
	rc = cp_config_acl(&cfg, &acl);
	if (rc != 0) {
		fprintf(stderr, "vigild: telemetry.allow: %s\n", strerror(-rc));
		goto out_eal;
	}
	cp_config_to_dp(&cfg, &dconf);
	dconf.ruleset = bundle;
	dconf.acl = acl;
	/* A replay alarms on the capture's clock, as Suricata's pcap mode does. */
	dconf.packet_time = o.pcap != NULL;
	rc = dp_start(&dconf, &v.dp, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "vigild: %s\n", err);
		goto out_eal;
	}
	bundle = NULL; /* dp_start took them over */
	acl = NULL;

	/* The main thread reads the RCU tables for reports: a reader, offline between reads. */
	urcu_qsbr_register_thread();
	urcu_qsbr_thread_offline();
	v.start = now_s();
	v.json = o.json;
	rc = cp_reloader_new(v.dp, o.config, o.rules, o.n_rules, &v.reloader);
	if (rc != 0) {
		fprintf(stderr, "vigild: the reloader: %s\n", strerror(-rc));
		goto out_plane;
	}
	if (dconf.events) {
		struct cp_event_hooks hooks;

		rc = start_clinical(&v, &cfg, o.pcap != NULL);
		if (rc != 0)
			goto out_plane;
		cp_clinical_hooks(v.clinical, &hooks);
		rc = cp_consumer_of_plane(v.dp, &hooks, &v.consumer);
		if (rc == 0)
			cp_consumer_set_idle(v.consumer, cp_clinical_tick, v.clinical);
		if (rc == 0) {
			rc = cp_consumer_start(v.consumer);
			if (rc != 0) {
				cp_consumer_free(v.consumer);
				v.consumer = NULL;
			}
		}
		if (rc != 0) {
			fprintf(stderr, "vigild: the event consumer: %s\n", strerror(-rc));
			goto out_plane;
		}
	}

	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rc = start_interfaces(&v, &cfg, &o, started_ns);
	if (rc != 0) {
		status = rc == -ENOMEM ? 1 : 2;
		goto out_plane;
	}
	rc = run(&v, &o, interval, pcap_frames);
	status = rc == 0 ? 0 : 1;
out_plane:
	stop_interfaces(&v); /* done by run(); here for the paths that did not reach it */
	dp_stop(v.dp);	     /* done by run(); here for the paths that did not reach it */
	cp_reloader_free(v.reloader);
	if (v.consumer != NULL) {
		cp_consumer_stop(v.consumer);
		cp_consumer_free(v.consumer);
	}
	/* After the consumer: what it left is stored and announced here. */
	cp_clinical_free(v.clinical);
	urcu_qsbr_unregister_thread();
	dp_destroy(v.dp);
out_eal:
	dp_ruleset_free(bundle);
	dp_acl_free(acl);
	rte_eal_cleanup();
	cp_monitor_free(v.monitor); /* telemetry let go of it in stop_interfaces */
out_store:
	/* After the consumer: it drained into the store. The last batch is written here. */
	cp_audit_close(v.audit);
	cp_persist_free(v.persist);
	store_close(v.store);
out_rules:
	rule_set_free(rules);
out_config:
	cp_config_free(&cfg);
	return status;
}
