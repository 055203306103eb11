/*
 * bench.h - what vigil-bench's scenario files share (private to the tool).
 */
#ifndef VIGIL_BENCH_H
#define VIGIL_BENCH_H

#include <stdbool.h>

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

#endif /* VIGIL_BENCH_H */
