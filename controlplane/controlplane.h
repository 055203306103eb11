/*
 * controlplane.h - the public interface of vigil's control plane.
 *
 * The control plane is vigild's main lcore and the threads beside it: it
 * reads the configuration, builds the EAL arguments, checks the platform,
 * starts the data plane, consumes the workers' events (consumer.c),
 * reloads rules and the sender ACL behind RCU (reload.c) and reports on it
 * all (report.c). Later it also runs the alarm manager and serves
 * vigilctl. This header holds what vigild, the tools and the tests use.
 */
#ifndef VIGIL_CONTROLPLANE_H
#define VIGIL_CONTROLPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataplane.h"
#include "store.h"

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
	unsigned n_allow;
	struct dp_acl_net *allow;  /**< telemetry.allow (owned); none: every sender allowed */
	unsigned registry_devices; /**< registry.devices (default 16384) */
	unsigned alarm_ring;	   /**< events.alarm_ring (default 16384) */
	unsigned telemetry_ring;   /**< events.telemetry_ring (default 65536) */
	/* storage.* (a relative dir or key_file is taken from the config file's directory) */
	char *storage_dir;	/**< NULL: storage off, nothing is kept (default CP_STORAGE_DIR) */
	bool storage_dir_given; /**< set by a file (else `vigild --pcap` keeps nothing) */
	unsigned storage_block_cache_mb;	    /**< default 64 */
	unsigned storage_write_buffer_mb;	    /**< per column family (default 64) */
	enum store_compression storage_compression; /**< default lz4 */
	unsigned storage_batch_records;		    /**< default STORE_BATCH_RECORDS_DEFAULT */
	unsigned storage_batch_ms;		    /**< default STORE_BATCH_MS_DEFAULT */
	int64_t storage_retain_s[STORE_CF__COUNT];  /**< seconds, 0 keeps (meta: always 0) */
	char *storage_key_file;			    /**< NULL: values are not sealed */
};

#define CP_STORAGE_DIR "/var/lib/vigil/db"
#define CP_STORAGE_CACHE_MB 64
#define CP_STORAGE_WRITE_BUFFER_MB 64

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

/**
 * The store's options of the configuration (storage.*): @p opts gets
 * store_opts_defaults, then every configured value, read-write. Its
 * strings point into @p c. opts->dir is NULL when storage is off.
 */
void cp_config_store_opts(const struct cp_config *c, struct store_opts *opts);

/** "none", "lz4", "zstd", "snappy". */
const char *cp_compression_name(enum store_compression z);

/**
 * A retention as vigil.yaml writes it: "0" (kept), or the largest unit that
 * divides it ("7d", "12h", "90m", "45s"). @return @p buf.
 */
const char *cp_duration_format(int64_t seconds, char *buf, size_t len);

/**
 * The sender ACL of the configuration (telemetry.allow), built for
 * dp_acl_publish or dp_conf.acl.
 * @return 0, -ENOMEM.
 */
int cp_config_acl(const struct cp_config *c, struct dp_acl **out);

/* ------------------------------------------------------------------------ */
/* The event consumer (consumer.c)                                           */
/* ------------------------------------------------------------------------ */

/*
 * Drains every worker's rings on a control-plane thread: all ALARM lanes
 * first, then TELEMETRY in bounded batches, looking at the ALARM lanes again
 * between batches, so an alarm never waits behind observations. When a
 * worker's alarm_lost counter has grown and its ALARM lane is empty again,
 * the consumer raises a DP_EV_TECH event (DP_TECH_EVENT_LOSS, value = the
 * events lost since the last one) through on_alarm. Every hook of one
 * consumer runs on one thread at a time (the consumer's, or the caller of
 * cp_consumer_pass / cp_consumer_stop), so what they write needs no lock.
 */
struct cp_event_hooks {
	/** Each ALARM event (rule hit, device alarm, technical), in lane order. */
	void (*on_alarm)(void *arg, const struct dp_event *ev);
	/** A batch of TELEMETRY events. */
	void (*on_telemetry)(void *arg, const struct dp_event *ev, unsigned n);
	void *arg;
};

#define CP_CONSUMER_COUNTERS(X)                                                                  \
	X(alarm_events, "ALARM events taken from the workers' rings")                            \
	X(telemetry_events, "TELEMETRY events taken from the workers' rings")                    \
	X(loss_alarms, "technical alarms raised for ALARM events lost on a full ring")           \
	X(alarm_first, "ALARM checks between TELEMETRY batches that found events (taken first)") \
	X(passes, "passes over the rings")                                                       \
	X(idle_passes, "passes that found nothing (the consumer then sleeps briefly)")

#define CP_X_ENUM_CONS(name, desc) CP_CONS_##name,
enum cp_consumer_counter { CP_CONSUMER_COUNTERS(CP_X_ENUM_CONS) CP_CONS__COUNT };
#undef CP_X_ENUM_CONS

const char *cp_consumer_counter_name(enum cp_consumer_counter c);
const char *cp_consumer_counter_desc(enum cp_consumer_counter c);

struct cp_consumer;

/**
 * A consumer over @p n_workers lanes (lanes[w] for worker w; stats[w] is
 * that worker's counters, read for alarm_lost; @p stats NULL: no loss
 * check). @p hooks may be NULL or have NULL members (then the events are
 * only counted).
 * @return 0, -EINVAL, -ENOMEM.
 */
int cp_consumer_new(struct dp_lanes *const *lanes, const struct dp_stats *const *stats,
		    unsigned n_workers, const struct cp_event_hooks *hooks,
		    struct cp_consumer **out);

/**
 * Call @p fn(@p arg) at the end of every pass, busy or idle, on the thread
 * that ran it, so that the hooks' time-driven work (the store's batch
 * timer, retries) runs even when no event comes. Set before
 * cp_consumer_start; @p fn NULL: none. (A setter rather than a member of
 * cp_event_hooks, so that positional initializers of the hooks still
 * build.)
 */
void cp_consumer_set_idle(struct cp_consumer *c, void (*fn)(void *arg), void *arg);

/** The same over a started plane's workers. */
int cp_consumer_of_plane(struct dp_plane *dp, const struct cp_event_hooks *hooks,
			 struct cp_consumer **out);

/**
 * One pass on the calling thread: every ALARM lane until empty, then up to
 * @p telemetry_budget TELEMETRY events (ALARM lanes checked between
 * batches), then the loss check. @return events taken.
 */
unsigned cp_consumer_pass(struct cp_consumer *c, unsigned telemetry_budget);

/**
 * Run passes on a thread of its own (sleeping 100 us when idle; it inherits
 * the calling thread's CPU affinity). @return 0, -EALREADY, or pthread's -errno.
 */
int cp_consumer_start(struct cp_consumer *c);

/**
 * Stop the thread (if started), then drain what is left in every ring
 * (call after dp_stop, so nothing is left behind).
 */
void cp_consumer_stop(struct cp_consumer *c);
void cp_consumer_free(struct cp_consumer *c);

/** The consumer's counters (relaxed reads; it is their only writer). */
void cp_consumer_counters(const struct cp_consumer *c, uint64_t out[CP_CONS__COUNT]);

/* ------------------------------------------------------------------------ */
/* Persistence (persist.c)                                                   */
/* ------------------------------------------------------------------------ */

/*
 * The consumer's hooks that keep what the workers saw in the store: each
 * observation goes into the store's batch (written with the WAL, no fsync,
 * every storage.batch_records or storage.batch_ms), each ALARM event (rule
 * hit, device alarm, technical condition) becomes an alarm record (compact
 * JSON) under the next alarm id. Alarm records are written and synced in
 * groups (one fsync each, store_alarms_put): a group is written when it
 * holds STORE_ALARMS_BATCH_MAX records, at the end of every consumer pass
 * (cp_persist_tick) and by cp_persist_flush; a record counts as stored
 * once its group is. The hooks, and so the store's writes, run on the
 * consumer's thread only: it is the store's one writer (cp_persist_tick,
 * its idle work, writes the pass's alarm group and runs the batch timer
 * and the retries).
 *
 * An alarm record whose write fails (a full disk, an I/O error) is not
 * dropped: it waits in a bounded queue (retry_max records) and is written
 * again, before any newer one, every retry_ms until writes succeed; what
 * does not fit in the queue is lost and counted. The failure is a
 * technical condition: one line on the log when writes start failing and
 * one when they succeed again, a counter, and the on_condition hook.
 * Every ALARM event ends up in exactly one of alarms_stored,
 * alarm_retry_lost, alarm_refused, alarm_encode_failed, the queue, or
 * (until the end of the consumer's pass) the group being gathered.
 */
#define CP_PERSIST_COUNTERS(X)                                                                    \
	X(obs_stored, "observations handed to the store's batch (storage.obs_written: those "     \
		      "of them written to the WAL)")                                              \
	X(obs_store_failed, "observation batch writes that failed (their observations are lost: " \
			    "storage.obs_failed)")                                                \
	X(alarms_stored, "alarm records written and synced, retries included")                    \
	X(alarm_groups, "synced writes of alarm groups (one fsync each)")                         \
	X(alarm_store_failed, "alarm records whose first write failed (kept in memory for a "     \
			      "retry)")                                                           \
	X(alarms_retried, "alarm records stored by a retry after their first write failed")       \
	X(alarm_retry_lost, "alarm records lost: the retry queue was full, or still held them "   \
			    "at exit")                                                            \
	X(alarm_refused, "alarm records the store refused for good (too large, invalid): lost")   \
	X(alarm_encode_failed, "alarm records that could not be built (out of memory): lost")     \
	X(disk_full_alarms, "technical conditions raised: storage writes started failing (disk "  \
			    "full or I/O error)")                                                 \
	X(storage_recovered, "storage writes succeeded again after failing")                      \
	X(events_ignored, "events of a type that is not stored (none expected)")

#define CP_X_ENUM_PERSIST(name, desc) CP_PERSIST_##name,
enum cp_persist_counter { CP_PERSIST_COUNTERS(CP_X_ENUM_PERSIST) CP_PERSIST__COUNT };
#undef CP_X_ENUM_PERSIST

const char *cp_persist_counter_name(enum cp_persist_counter c);
const char *cp_persist_counter_desc(enum cp_persist_counter c);

#define CP_PERSIST_RETRY_MAX 1024 /**< alarm records kept in memory while writes fail */
#define CP_PERSIST_RETRY_MS 100	  /**< between two retries while writes fail */

/** Start from cp_persist_opts_defaults; the defaults are in brackets. */
struct cp_persist_opts {
	unsigned retry_max; /**< the retry queue's room, at least 1 (CP_PERSIST_RETRY_MAX) */
	unsigned retry_ms;  /**< between retries, 0: every pass (CP_PERSIST_RETRY_MS) */
	FILE *log;	    /**< where the state changes are said (stderr; NULL: stderr) */
	/** Storage writes started failing (@p rc the negative errno) or succeed again (0). */
	void (*on_condition)(void *arg, int rc);
	void *condition_arg;
	store_clock_fn clock; /**< the store's clock, for store_tick (NULL: CLOCK_REALTIME) */
	void *clock_arg;
};

void cp_persist_opts_defaults(struct cp_persist_opts *o);

struct cp_persist;

/**
 * Persistence into @p s (open read-write; it must outlive the persist and
 * have no other writer). @p o NULL: the defaults. Alarm ids go on from
 * store_alarm_next_id.
 * @return 0, -EINVAL (@p s NULL, retry_max 0), -ENOMEM.
 */
int cp_persist_new(struct store *s, const struct cp_persist_opts *o, struct cp_persist **out);

/** The hooks for cp_consumer_new (on_alarm, on_telemetry; arg = @p p). */
void cp_persist_hooks(struct cp_persist *p, struct cp_event_hooks *hooks);

/**
 * The idle work, for cp_consumer_set_idle(c, cp_persist_tick, p), at the
 * end of every pass: write the pass's alarm group (after the queued
 * records, retried if a retry is due), and the observation batch if it is
 * due. On the writer thread only.
 */
void cp_persist_tick(void *persist);

/**
 * Retry the queued alarm records now, write the alarm group, then the
 * observation batch (store_flush). On the writer thread, or once the
 * consumer has stopped.
 * @return 0, or the negative errno of the first write that failed.
 */
int cp_persist_flush(struct cp_persist *p);

/**
 * A last cp_persist_flush, then free. Alarm records still queued are lost:
 * counted (alarm_retry_lost) and said on the log. The store stays open.
 * NULL is fine.
 */
void cp_persist_free(struct cp_persist *p);

/** The counters (relaxed reads; any thread). */
void cp_persist_counters(const struct cp_persist *p, uint64_t out[CP_PERSIST__COUNT]);

/** Where storage stands (any thread). */
struct cp_persist_state {
	bool failing;	  /**< the last write failed */
	int rc;		  /**< its negative errno (0 when not failing) */
	unsigned queued;  /**< alarm records waiting for a retry */
	uint64_t next_id; /**< the id the next alarm record gets */
};
void cp_persist_state(const struct cp_persist *p, struct cp_persist_state *st);

/* ------------------------------------------------------------------------ */
/* Rule reload (reload.c)                                                    */
/* ------------------------------------------------------------------------ */

/*
 * A reload reads the configuration file again (rules.* and telemetry.allow;
 * other keys take effect at the next start), loads the rules aside, makes a
 * new bundle, publishes it and the ACL with one pointer exchange each, and
 * frees the old ones after a grace period. One at a time: a second request
 * while one runs is refused with -EBUSY. A ruleset with an error is
 * refused with every error, and the running one stays in force.
 */
struct cp_reload_result {
	int rc;		   /**< 0, or the negative errno (-EINVAL: errors in the rules or config) */
	uint64_t version;  /**< the version in force afterwards */
	unsigned n_rules;  /**< rules of the version in force */
	unsigned n_errors; /**< errors of the refused ruleset */
	unsigned n_warnings;
	double compile_ms; /**< rule_set_load of the new set */
	double publish_ms; /**< from the pointer exchange to the end of the grace period */
	double total_ms;
	char hash[65]; /**< of the ruleset in force */
	char *diags;   /**< every error and warning, as rule_diags_print writes them; owned */
};

void cp_reload_result_free(struct cp_reload_result *r);

/**
 * Print it: "vigild: reload: ruleset version 3 in force: 38 rules, compiled
 * in 4.1 ms, published in 0.2 ms (hash ...)", or "vigild: reload refused:
 * 2 errors; version 2 stays in force" followed by every diagnostic, or, for
 * -EBUSY, that the request was not carried out.
 */
void cp_reload_result_print(const struct cp_reload_result *r, FILE *out);

/**
 * The same as one JSON line, {"reload": {"ok", "rc", "error" (on failure),
 * "version", "rules", "errors", "warnings", "compile_ms", "publish_ms",
 * "total_ms", "hash", "diagnostics"}}, for scripts.
 * @return 0, -ENOMEM, or the negative errno of the failed write.
 */
int cp_reload_result_print_json(const struct cp_reload_result *r, FILE *out);

struct cp_reloader;

/**
 * Each reload builds the configuration as vigild did at start-up: the
 * defaults, @p config_path over them (if not NULL), then @p rule_files
 * (the --rules option) in place of rules.files when @p n_rule_files > 0.
 * The strings are copied. @p dp is the running plane; the version of its
 * current bundle (1 at start-up; 0 without one) is where the numbering goes
 * on from.
 * @return 0, -EINVAL (@p dp NULL, more than CP_MAX_RULE_FILES), -ENOMEM.
 */
int cp_reloader_new(struct dp_plane *dp, const char *config_path, const char *const *rule_files,
		    unsigned n_rule_files, struct cp_reloader **out);
/** Wait for a running threaded reload, then free. NULL is fine. */
void cp_reloader_free(struct cp_reloader *r);

/**
 * Reload on the calling thread (a registered QSBR reader that is online is
 * taken offline for the duration and put back online).
 * @return result->rc; -EBUSY if one is running (then result->rc is -EBUSY
 *         and the rest of @p result is zero: the caller, not being the
 *         publisher, reads the version in force as an online reader if it
 *         wants it).
 */
int cp_reload_run(struct cp_reloader *r, struct cp_reload_result *result);

/**
 * Start a reload on a thread of its own (not a QSBR reader; it blocks every
 * signal). @return 0, -EBUSY if one is running, or pthread_create's -errno.
 */
int cp_reload_start(struct cp_reloader *r);

/**
 * A finished cp_reload_start's result, once: @return true and fills @p result
 * (which then owns the diags string; cp_reload_result_free it). A result not
 * polled before the next threaded reload ends is replaced by that one's.
 */
bool cp_reload_poll(struct cp_reloader *r, struct cp_reload_result *result);

/** Wait until a reload started by cp_reload_start (if any) has finished. */
void cp_reload_wait(struct cp_reloader *r);

/** Good and refused reloads so far (a request refused as busy is neither). */
void cp_reload_counts(const struct cp_reloader *r, uint64_t *good, uint64_t *refused);

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
	uint64_t worker_ruleset[DP_MAX_WORKERS]; /**< version each worker last evaluated with */
	/* Set by the caller (cp_report_gather leaves them zero): */
	/**
	 * The bundle in force, or NULL: no rules. Its per-rule hits count from
	 * the moment it was loaded. Read by the caller as an online QSBR reader
	 * (or as the ruleset's publisher) and valid while the report is printed.
	 */
	const struct dp_ruleset *ruleset;
	uint64_t consumer[CP_CONS__COUNT]; /**< the event consumer's counters (zero: none) */
	unsigned registry_devices;	   /**< devices in the registry (dp_registry_count) */
	uint64_t reloads_good;
	uint64_t reloads_refused;
	/* Storage, set by the caller (storage_dir NULL: storage off, the rest zero). */
	const char *storage_dir;
	unsigned storage_key_id;	       /**< store_seal_key_id (0: not sealed) */
	uint64_t store[STORE_CNT__COUNT];      /**< store_counters */
	uint64_t persist[CP_PERSIST__COUNT];   /**< cp_persist_counters */
	struct cp_persist_state persist_state; /**< cp_persist_state */
};

/** Gather the counters of a running or stopped data plane (no RCU read). */
void cp_report_gather(struct dp_plane *dp, double elapsed_s, struct cp_report *r);

/** Port-level frames lost before a worker saw them (imissed + ierrors + rx_nombuf). */
uint64_t cp_report_port_drops(const struct cp_report *r);

/**
 * Print the report. Human form: a table of outcomes and non-zero drops.
 * JSON form: one object on one line with rx_packets, tx_packets, outcomes,
 * drops (every reason, port-level ones prefixed "port_"), the decoders' and
 * the rules' counters, "events" and "tables" (dp_stats.event and .table),
 * "consumer", "registry" {devices}, "reloads" {good, refused}, "storage"
 * (every counter of the store and of the persist hooks, zero when storage
 * is off), "storage_info" {dir (null: off), sealed_key, failing, error,
 * alarms_queued}, workers and ports, and, with rules, "ruleset" (version, rules, hash, loaded) and
 * "rule_hits" (each rule that fired since that version was loaded: sid,
 * rev, action, priority, msg, hits).
 * @return 0, -ENOMEM, or the negative errno of the failed write (-ENOSPC, -EIO...).
 */
int cp_report_print(const struct cp_report *r, bool json, FILE *out);

#endif /* VIGIL_CONTROLPLANE_H */
