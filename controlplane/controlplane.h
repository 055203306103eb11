/*
 * controlplane.h - the public interface of vigil's control plane.
 *
 * The control plane is vigild's main lcore: it reads the configuration,
 * builds the EAL arguments, checks the platform, starts the data plane and
 * reports on it. Later it also consumes events, runs the alarm manager and
 * serves vigilctl. This header holds what the tools and the tests use.
 */
#ifndef VIGIL_CONTROLPLANE_H
#define VIGIL_CONTROLPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataplane.h"

#define CP_MAX_EAL_ARGS 64

/** One entry of the `ports:` list. */
struct cp_port_config {
	char *device; /**< PCI address or vdev string ("net_pcap0,rx_pcap=x.pcap") */
	uint8_t n_ipv4;
	uint8_t n_ipv6;
	uint32_t ipv4[DP_MAX_ADDRS]; /**< network byte order */
	uint8_t ipv6[DP_MAX_ADDRS][16];
};

#define CP_MAX_RULE_FILES 32
#define CP_MAX_RULE_VARS 64

/** One entry of `rules.vars`. */
struct cp_rule_var {
	char *name;
	char *value;
};

/** vigil.yaml, with every default filled in. Strings are owned (cp_config_free). */
struct cp_config {
	char *path; /**< file it came from, or NULL for defaults only */
	unsigned n_eal;
	char *eal[CP_MAX_EAL_ARGS]; /**< EAL arguments, without argv[0] */
	unsigned workers;	    /**< worker lcores (default 1) */
	unsigned n_ports;
	struct cp_port_config port[DP_MAX_PORTS];
	uint8_t n_hl7_ports;
	uint8_t n_vtp_ports;
	uint16_t hl7_ports[DP_MAX_TELEMETRY_PORTS]; /**< default {2575} */
	uint16_t vtp_ports[DP_MAX_TELEMETRY_PORTS]; /**< default {4575} */
	bool udp_checksum;			    /**< default true */
	unsigned vtp_devices;	 /**< VTP senders tracked per worker (default 131072) */
	unsigned mbufs;		 /**< 0 = sized from the queues */
	unsigned mbuf_cache;	 /**< default 256 */
	uint16_t rx_desc;	 /**< default 1024 */
	uint16_t tx_desc;	 /**< default 1024 */
	bool promiscuous;	 /**< default true */
	unsigned stats_interval; /**< seconds, 0 = only at exit */
	unsigned n_rule_files;
	char *rule_files[CP_MAX_RULE_FILES]; /**< relative ones resolved against the config's dir */
	unsigned n_rule_vars;
	struct cp_rule_var rule_var[CP_MAX_RULE_VARS];
	char *rules_cache_dir;	   /**< NULL: no cache */
	unsigned rules_max_errors; /**< default RULE_MAX_ERRORS_DEFAULT */
};

/** Fill @p c with the defaults (no ports). Return 0 or -ENOMEM. */
int cp_config_defaults(struct cp_config *c);

/**
 * Read a YAML file over the defaults already in @p c.
 *
 * @param err  on failure, one line: "FILE:LINE:COL: what is wrong with KEY"
 * @return 0, -ENOENT/-EACCES (file), -EINVAL (syntax, unknown key, bad value),
 *         -ENOMEM.
 */
int cp_config_load(struct cp_config *c, const char *path, char *err, size_t errlen);

/** The same from a string in memory; @p name stands for the file name in errors. */
int cp_config_load_string(struct cp_config *c, const char *yaml, size_t len, const char *name,
			  char *err, size_t errlen);

/** Free what cp_config_defaults/cp_config_load allocated; @p c may be reused after. */
void cp_config_free(struct cp_config *c);

/**
 * Add a port given by its device string (the --pcap shortcut, tests).
 * @return 0, -E2BIG (too many ports), -ENOMEM.
 */
int cp_config_add_port(struct cp_config *c, const char *device);

/**
 * Build the data plane's view of the configuration. Pointers in @p dp point
 * into @p c, which must outlive it.
 */
void cp_config_to_dp(const struct cp_config *c, struct dp_conf *dp);

/**
 * Build the EAL argument vector: argv0, the configured `eal:` list, an lcore
 * list for 1 + workers lcores unless the list names lcores itself (-l, -c,
 * --lcores), and `-a`/`--vdev` for each port (a PCI address is allowed with
 * -a, anything else is a --vdev).
 *
 * @param argv  room for CP_MAX_EAL_ARGS + 2 * DP_MAX_PORTS + 4 pointers; the
 *              strings point into @p c or into @p scratch
 * @return argc, or -E2BIG.
 */
int cp_eal_args(const struct cp_config *c, const char *argv0, char **argv, size_t max,
		char *scratch, size_t scratch_len);

/**
 * Replace the rule files with @p files (the --rules option; paths as given).
 * @return 0, -E2BIG, -ENOMEM.
 */
int cp_config_set_rule_files(struct cp_config *c, const char *const *files, unsigned n);

/** The rule_load_opts for the configured rules; @p vars has CP_MAX_RULE_VARS room. */
void cp_config_rule_opts(const struct cp_config *c, struct rule_load_opts *opts,
			 struct rule_var *vars);

/** Print every key with its value, in vigil.yaml form (for --print-config). */
void cp_config_print(const struct cp_config *c, FILE *out);

/* ------------------------------------------------------------------------ */
/* Rule hits (report.c)                                                      */
/* ------------------------------------------------------------------------ */

/**
 * Hits per rule, counted on the workers: each worker writes only its own
 * row (single-writer relaxed atomics, rows 64-byte aligned), the main lcore
 * sums them for the report. Until the event path exists this is where rule
 * hits end up; it is also how the tests see that rules fired.
 */
struct cp_rule_hits {
	const struct rule_set *rules;
	unsigned n_workers;
	unsigned stride; /**< counters per worker row, a multiple of 8 */
	_Atomic uint64_t *count;
};

/** @return 0, or -ENOMEM. */
int cp_rule_hits_init(struct cp_rule_hits *h, const struct rule_set *rules, unsigned n_workers);
void cp_rule_hits_free(struct cp_rule_hits *h);

/** A dp_hits_fn; @p arg is the struct cp_rule_hits. */
void cp_rule_hits_count(void *arg, unsigned worker, const struct dp_decoded *d,
			const struct rule_input *in, const struct rule_hit *hits, unsigned n);

/** Hits of the rule at @p index, all workers summed. */
uint64_t cp_rule_hits_of(const struct cp_rule_hits *h, unsigned index);

/* ------------------------------------------------------------------------ */
/* Reports (report.c)                                                       */
/* ------------------------------------------------------------------------ */

/** Everything vigild reports about a run, gathered by the main lcore. */
struct cp_report {
	double elapsed_s;
	unsigned n_workers;
	unsigned n_ports;
	struct dp_stats total;			/**< every worker summed */
	struct dp_stats worker[DP_MAX_WORKERS]; /**< per worker */
	struct dp_port_stats port[DP_MAX_PORTS];
	const struct cp_rule_hits *hits; /**< set by the caller; NULL: no rules */
};

/** Gather the counters of a running or stopped data plane. */
void cp_report_gather(struct dp_plane *dp, double elapsed_s, struct cp_report *r);

/** Port-level frames lost before a worker saw them (imissed + ierrors + rx_nombuf). */
uint64_t cp_report_port_drops(const struct cp_report *r);

/**
 * Print the report. Human form: a table of outcomes and non-zero drops.
 * JSON form: one object on one line with rx_packets, tx_packets, outcomes,
 * drops (every reason, port-level ones prefixed "port_"), the decoders' and
 * the rules' counters, workers and ports, and, with rules, "ruleset" (count
 * and hash) and "rule_hits" (each rule that fired: sid, rev, action,
 * priority, msg, hits).
 * @return 0, -ENOMEM, or the negative errno of the failed write (-ENOSPC, -EIO...).
 */
int cp_report_print(const struct cp_report *r, bool json, FILE *out);

#endif /* VIGIL_CONTROLPLANE_H */
