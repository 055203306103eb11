/*
 * bench.h - what vigil-bench's scenario files share (private to the tool).
 */
#ifndef VIGIL_BENCH_H
#define VIGIL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_RUNS 99

/*
 * The decode scenario (bench-decode.c): dp_hl7_decode on a 10-OBX ORU^R01
 * and dp_vtp_decode on a 10-observation VTP frame, @p iterations times per
 * run, each against a byte-scan baseline timed in the same run.
 * @return 0, -ENOMEM, or -EPROTO when a decoder's output is not what the
 *         message holds (nothing is reported then).
 */
int bench_decode(unsigned runs, unsigned long iterations, bool json);

#define BENCH_RULES_MAX_COUNTS 8

struct dp_plane;
struct dp_stats;

/** What a running plane lost before a worker took a frame, or did not account for. */
struct bench_plane_loss {
	uint64_t unaccounted; /**< rx not in an outcome or drop counter, over the workers */
	uint64_t imissed, ierrors, rx_nombuf; /**< over the ports */
};

/** Fill @p l, and @p tot with every worker's counters summed. */
void bench_plane_loss(struct dp_plane *dp, struct bench_plane_loss *l, struct dp_stats *tot);

/** CLOCK_MONOTONIC in ns; sleep @p ns; write @p len bytes of @p text to a new @p path (0 or
 * -errno). */
int64_t bench_mono_ns(void);
void bench_sleep_ns(long ns);
int bench_write_file(const char *path, const char *text, size_t len);
/** Remove @p dir and everything below it, as far as it can (a scenario's temporary files). */
void bench_rm_tree(const char *dir);

/** The median of @p n values (0 for none; @p v is left as it is). */
double bench_median(const double *v, unsigned n);

/* What the rules scenario is asked for. */
struct bench_rules_opts {
	unsigned runs;
	unsigned long iterations; /**< rule_eval calls per run and ruleset */
	bool smoke;		  /**< also fail on an absurd decision time */
	bool json;
	const char *command;	/**< the command line, for the report */
	const unsigned *counts; /**< ruleset sizes */
	unsigned n_counts;
};

/*
 * The rules scenario (bench-rules.c): for each ruleset size, load (a cache
 * miss, then a hit), then rule_eval on a ring of decoded messages, each
 * call timed with the TSC, and hs_scan alone of the same payloads as the
 * baseline in the same run.
 * @return 0, -ENOMEM, -EINVAL (the generated rules did not load cleanly), or
 *         -EPROTO when the rules do not do what the ring needs (no hits,
 *         nothing passed, no cache hit, a scan error).
 */
int bench_rules(const struct bench_rules_opts *o);

/*
 * The rules scenario's generated ruleset of @p n rules (the first ten are
 * always the same; see BENCHMARKS.md), as one NUL-terminated text the
 * caller frees. It uses the variables BENCH_RULES_VARS defines.
 * @return 0 or -ENOMEM.
 */
int bench_rules_text(unsigned n, char **text, size_t *len);

/* The rule variables the generated rules need, as vigil.yaml's rules.vars. */
#define BENCH_RULES_VAR_MONITOR_NETS "[10.20.0.0/16, fd00:20::/32]"
#define BENCH_RULES_VAR_TELEMETRY_PORTS "[2575, 4575]"

/* What the rings scenario is asked for. */
struct bench_rings_opts {
	unsigned runs;
	double seconds;	      /**< per run, when @p events is 0 */
	unsigned long events; /**< events the producer offers per run (0: run for @p seconds) */
	bool json;
	const char *command; /**< the command line, for the report */
};

/*
 * The rings scenario (bench-rings.c): for each lane of a worker (ALARM,
 * TELEMETRY, default sizes) and bursts of 32 and 1, a producer pthread
 * puts 128-byte events with dp_lanes_put and a consumer pthread takes them
 * with dp_lanes_take; events/s taken, against memcpy of the same bytes
 * through a buffer of the ring's size timed in the same run.
 * @return 0, -ENOMEM, or -EPROTO when the counts of a run do not add up
 *         (taken != put, put + lost != attempted, out of order).
 */
int bench_rings(const struct bench_rings_opts *o);

#define BENCH_RELOAD_DEFAULT 50u
#define BENCH_RELOAD_DEFAULT_LARGE 10u /* with --rules N >= BENCH_RELOAD_LARGE */
#define BENCH_RELOAD_LARGE 1000u
#define BENCH_RELOAD_SMOKE 5u
#define BENCH_RELOAD_MAX 100000u

/* What the reload scenario is asked for. */
struct bench_reload_opts {
	unsigned reloads; /**< reloads in the timed phase */
	bool smoke;	  /**< short phases */
	bool json;
	const char *command;   /**< the command line, for the report */
	const char *rules_dir; /**< holds clinical.rules and network.rules */
	unsigned rules;	       /**< generated rules (bench_rules_text) as a third file; 0: none */
	bool cache;	       /**< rules.cache_dir in its temporary directory */
};

/*
 * The reload scenario (bench-reload.c): a plane on a looped capture at full
 * rate, @p reloads rule reloads back to back (the shipped rules, plus @p
 * rules generated ones, and the same with one rule changed, in turn; with
 * @p cache two untimed reloads fill the cache first, so that every timed
 * one is a cache hit); per reload the compile time,
 * publish until the grace period ends and until every worker runs the new
 * version; the rx rate against a baseline of the same length without
 * reloads; and what was lost (rx not accounted, port drops, events).
 * Needs a worker lcore (EAL -l 0-1).
 * @return 0, -ENOMEM, -EINVAL (no worker lcore), what a file or dp_start
 *         gave, or -EPROTO when a reload failed or anything was lost (after
 *         the report).
 */
int bench_reload(const struct bench_reload_opts *o);

/*
 * bench_rules_text with every sid moved up by BENCH_RULES_BESIDE_SID_OFFSET,
 * past the shipped rules' (below 10^7): both start at 1000001, and a
 * duplicate sid fails the load. For the reload and restart scenarios, which
 * load it beside the shipped rules (bench-reload.c).
 * @return 0 or -ENOMEM.
 */
int bench_rules_text_beside(unsigned n, char **text, size_t *len);
#define BENCH_RULES_BESIDE_SID_OFFSET 100000000ul

#define BENCH_RESTART_DEFAULT_RUNS 5u
#define BENCH_RESTART_DEFAULT_RULES 10000u
#define BENCH_RESTART_SMOKE_RUNS 2u
#define BENCH_RESTART_SMOKE_RULES 100u

/* What the restart scenario is asked for. */
struct bench_restart_opts {
	unsigned runs;	/**< warm starts (cache hits) timed */
	unsigned rules; /**< generated rules besides the shipped ones */
	bool smoke;	/**< also fail on a start that is not what it should be */
	bool json;
	const char *command;   /**< the command line, for the report */
	const char *rules_dir; /**< holds clinical.rules and network.rules */
	const char *vigild;    /**< NULL: ../controlplane/vigild from vigil-bench, or beside it */
};

/*
 * The restart scenario (bench-restart.c): the real vigild on a vigil.yaml
 * in a temporary directory (the shipped rules plus @p rules generated ones,
 * rules.cache_dir, storage, a net_null port, the control socket), started
 * once cold (the cache empty: a compile), then @p runs times warm; each
 * start timed from the spawn until the control socket answers `status`,
 * with vigild's own rule load figure from its stderr, then SIGTERM.
 * @return 0, -ENOMEM, -ENOENT (no vigild), what a file or spawn gave, or
 *         -EPROTO when a start failed, vigild did not exit 0, or a warm
 *         start was not a cache hit (after the report).
 */
int bench_restart(const struct bench_restart_opts *o);

#define BENCH_STORE_DEFAULT_RUNS 3u
#define BENCH_STORE_DEFAULT_OBS 300000ul
#define BENCH_STORE_SMOKE_OBS 20000ul
#define BENCH_STORE_DEFAULT_ALARMS 400u
#define BENCH_STORE_SMOKE_ALARMS 20u

/* What the store scenario is asked for. */
struct bench_store_opts {
	unsigned runs;
	unsigned long obs; /**< observations per run and batch size */
	unsigned alarms;   /**< synced alarm puts per run */
	bool json;
	const char *command; /**< the command line, for the report */
	const char *dir;     /**< where its databases go (NULL: $TMPDIR, else /var/tmp) */
};

/*
 * The store scenario (bench-store.c): observations per second through
 * store_obs_add in batches of 4096 and 256, sealed and not, the latency of
 * synced alarm puts, each against RocksDB alone on the same bytes (and an
 * append + fdatasync for the latency) in the same run.
 * @return 0, -ENOMEM, what opening or writing a store gave, or -EPROTO when
 *         the counters or the bytes read back are not what was written.
 */
int bench_store(const struct bench_store_opts *o);

#define BENCH_CONSUMER_DEFAULT_RUNS 5u
#define BENCH_CONSUMER_DEFAULT_EVENTS 3000000ul
#define BENCH_CONSUMER_SMOKE_EVENTS 50000ul
#define BENCH_CONSUMER_DEFAULT_BEDS 1000u
#define BENCH_CONSUMER_SMOKE_BEDS 50u

/* What the consumer scenario is asked for. */
struct bench_consumer_opts {
	unsigned runs;
	unsigned long events; /**< events per run (whole simulated seconds: at least this) */
	bool smoke;	      /**< a small ward */
	bool json;
	const char *command;   /**< the command line, for the report */
	const char *rules_dir; /**< holds clinical.rules and network.rules */
	const char *dir; /**< where its store and alarm log go (NULL: $TMPDIR, else /var/tmp) */
};

/*
 * The consumer scenario (bench-consumer.c): events per second through the
 * clinical pipeline (cp_clinical: alarm manager, patient state, NEWS2, the
 * alarm log, the store) on the calling thread, fed a simulated ward in the
 * consumer's order (ALARM events, then a TELEMETRY batch of 64, then the
 * idle tick), without storage or log, with the log, with storage, and the
 * same loop with no-op hooks as the baseline.
 * @return 0, -ENOMEM, what loading the rules or opening the store gave, or
 *         -EPROTO when a counter of a run is not what was fed.
 */
int bench_consumer(const struct bench_consumer_opts *o);

#define BENCH_E2E_DEFAULT_RUNS 5u
#define BENCH_E2E_DEFAULT_SECONDS 10.0
#define BENCH_E2E_SMOKE_SECONDS 0.5
#define BENCH_E2E_DEFAULT_BEDS 100u
#define BENCH_E2E_SMOKE_BEDS 20u
#define BENCH_E2E_MAX_RULES 100000u
#define BENCH_E2E_GEN_DURATION 60u	 /* simulated seconds of a generated HL7 ward */
#define BENCH_E2E_SMOKE_GEN_DURATION 30u /* the least vigil-gen --scenario demo takes */
/* A VTP bed sends a frame a second, fewer while a scripted event silences
 * it (56 in 70 s seen): 90 s leaves every device 65 or more (VTP.md 6.3). */
#define BENCH_E2E_VTP_GEN_DURATION 90u
#define BENCH_E2E_DEMO_MIN_DURATION 30u

/* What the e2e scenario is asked for. */
struct bench_e2e_opts {
	unsigned runs;
	double seconds; /**< per run, and per baseline run */
	bool smoke;	/**< a small ward, no testpmd, fail on any loss */
	bool json;
	const char *command;   /**< the command line, for the report */
	const char *rules_dir; /**< holds clinical.rules and network.rules */
	const char *store_dir; /**< the store's directory (NULL: no storage) */
	const char *pcap;      /**< the capture (NULL: vigil-gen writes one) */
	const char *proto;     /**< vigil-gen --proto: hl7, vtp or mixed */
	unsigned beds;	       /**< vigil-gen --beds */
	unsigned duration;     /**< vigil-gen --duration (0: long enough for VTP's loop) */
	unsigned rules;	       /**< generated rules added to the shipped ones (0: none) */
	unsigned workers;      /**< worker lcores, one net_pcap RX queue each */
};

/*
 * The e2e scenario (bench-e2e.c): a plane with @p workers workers on a
 * net_pcap port looping a ward capture (one RX queue per worker), the
 * shipped rules and @p rules generated ones, the event consumer with the
 * clinical pipeline; rx per second per worker and in total, consumer
 * events per second, decision and burst latency quantiles, memory, against
 * dpdk-testpmd rxonly (the I/O limit; not with --smoke) and hs_scan of the
 * capture's UDP payloads with the same rules' database (the matching
 * limit), in the same run. Needs @p workers lcores besides the main one.
 * @return 0, -ENOMEM, -EINVAL, what a file, a child or dp_start gave, or
 *         -EPROTO when nothing was received, VTP frames were dropped as
 *         sequence duplicates, or (--smoke) anything was dropped or lost
 *         (after the report).
 */
int bench_e2e(const struct bench_e2e_opts *o);

#endif /* VIGIL_BENCH_H */
