/*
 * rules.h - the public interface of vigil's rules component.
 *
 * Two parts:
 *
 *  - The code tables: every metric and unit vigil knows, with its IEEE
 *    11073-10101 (MDC) code, reference id, symbolic name, LOINC codes and
 *    usual unit. One data file, rules/metrics.tsv, is the single source; it
 *    is turned into C at build time (rules/gen_tables.py). Lookups are
 *    read-only over constant tables: safe on any thread, no allocation.
 *
 *  - The rule language (rules/RULES.md is its reference): rule_set_load()
 *    reads rule files, reports every error as FILE:LINE:COL, and compiles a
 *    good ruleset into one Hyperscan database plus predicate tables (cached
 *    on disk by hash). A worker evaluates a message against a loaded set with
 *    rule_eval() and its own rule_scratch: no allocation, no lock, no log.
 *
 * A loaded rule_set is immutable, so any number of threads may evaluate it
 * at once, each with its own scratch. Replacing a set (reload) is the
 * control plane's business: build the new one aside, publish it, free the
 * old one after every reader has moved on.
 */
#ifndef VIGIL_RULES_H
#define VIGIL_RULES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** A metric: one MDC code. */
struct rule_metric {
	uint32_t code;	    /**< 32-bit MDC code (partition << 16 | term) */
	const char *refid;  /**< "MDC_PULS_OXIM_SAT_O2" */
	const char *name;   /**< symbolic name, unique: "SPO2", "HR", "NIBP_SYS" */
	const char *family; /**< what rules and NEWS2 group by: "SPO2", "RR", "SBP", ... */
	const char *loinc;  /**< LOINC codes, space-separated ("59408-5 2708-6"), or "" */
	uint32_t unit;	    /**< MDC code of the usual unit (0: dimensionless/none) */
	const char *title;  /**< a short human title: "SpO2", "Heart rate (ECG)" */
};

/** A unit of measure. */
struct rule_unit {
	uint32_t code;	   /**< MDC code in partition 4 (DIM) */
	const char *refid; /**< "MDC_DIM_PERCENT" */
	const char *ucum;  /**< "%" */
};

/** The metric with this MDC code, or NULL. */
const struct rule_metric *rule_metric_by_code(uint32_t code);

/** The metric with this symbolic name (ASCII case-insensitive), or NULL. */
const struct rule_metric *rule_metric_by_name(const char *name, size_t len);

/**
 * The metric with this reference id ("MDC_ECG_HEART_RATE") or one of its
 * aliases (metrics.tsv lists MDC_ECG_CARD_BEAT_RATE for the same code), or
 * NULL. metric->refid is always the primary one.
 */
const struct rule_metric *rule_metric_by_refid(const char *refid, size_t len);

/**
 * The metric a LOINC code stands for, or NULL. Where several metrics list the
 * same LOINC code, the first row of metrics.tsv that lists it wins (the
 * table puts the primary one first: 8867-4 is ECG heart rate).
 */
const struct rule_metric *rule_metric_by_loinc(const char *loinc, size_t len);

/** Every metric, in code order: rule_metric_at(0 .. rule_metric_count()-1). */
size_t rule_metric_count(void);
const struct rule_metric *rule_metric_at(size_t i);

const struct rule_unit *rule_unit_by_code(uint32_t code);
const struct rule_unit *rule_unit_by_refid(const char *refid, size_t len);
/**
 * The unit with this UCUM code or alias ("{beats}/min"), or NULL. Beats and
 * breaths per minute are both "/min": the first row of metrics.tsv wins
 * (MDC_DIM_BEAT_PER_MIN), so prefer the metric's own unit when its UCUM
 * code matches.
 */
const struct rule_unit *rule_unit_by_ucum(const char *ucum, size_t len);

/**
 * The reference id of any code the table knows (a metric, a unit, or one of
 * the device, event and alarm-attribute codes: 69965 gives
 * "MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS"), or NULL.
 */
const char *rule_code_refid(uint32_t code);

/* ------------------------------------------------------------------------ */
/* The rule language: what a parsed rule is                                 */
/* ------------------------------------------------------------------------ */

/* What a rule does when it matches (RULES.md "Actions"). */
enum rule_action {
	RULE_ACTION_ALERT = 0, /**< raise: a hit for the alarm manager */
	RULE_ACTION_LOG,       /**< record only: a hit that never sounds */
	RULE_ACTION_PASS,      /**< suppress the alert and log hits of the same scope */
	RULE_ACTION__COUNT
};

/* The header's protocol. hl7 and vtp are the decoded telemetry; udp is any
 * datagram to a telemetry port (either kind, decoded or not); any is all. */
enum rule_proto {
	RULE_PROTO_ANY = 0,
	RULE_PROTO_UDP,
	RULE_PROTO_HL7,
	RULE_PROTO_VTP,
	RULE_PROTO__COUNT
};

/* IEC 60601-1-8 priorities; the numbers order them. */
enum rule_priority {
	RULE_PRIO_NONE = 0, /**< pass and log rules may leave it unset */
	RULE_PRIO_LOW,
	RULE_PRIO_MEDIUM,
	RULE_PRIO_HIGH,
	RULE_PRIO__COUNT
};

/* IEC 60601-1-8 alarm condition kinds. Unset, a rule with a metric is
 * physiological and any other rule technical. */
enum rule_kind {
	RULE_KIND_PHYSIOLOGICAL = 0,
	RULE_KIND_TECHNICAL,
	RULE_KIND_ADVISORY,
	RULE_KIND__COUNT
};

/* A comparison of `value` or `dsize`. RANGE and OUTSIDE use both bounds,
 * inclusive: RANGE is a <= v <= b, OUTSIDE is v < a || v > b. */
enum rule_cmp {
	RULE_CMP_NONE = 0, /**< no predicate: always true */
	RULE_CMP_LT,
	RULE_CMP_LE,
	RULE_CMP_GT,
	RULE_CMP_GE,
	RULE_CMP_EQ,
	RULE_CMP_NE,
	RULE_CMP_RANGE,
	RULE_CMP_OUTSIDE,
};

/* Which observation values a rule may see (`valid`). */
enum rule_valid {
	RULE_VALID_ONLY = 0, /**< default: only values fit for alarms */
	RULE_VALID_TEST, /**< TEST and DEMO values too (commissioning); other invalid ones not */
	RULE_VALID_ANY,	 /**< every value, even invalid ones (a NaN still compares false) */
};

/* Which senders a rule is about (`acl`): see rule_input.acl_denied. */
enum rule_acl {
	RULE_ACL_ANY = 0, /**< default: allowed and refused senders alike */
	RULE_ACL_DENIED,  /**< `acl:denied`: only datagrams from outside telemetry.allow */
	RULE_ACL_ALLOWED, /**< `acl:allowed`: only datagrams from allowed senders */
};

/* Which part of PV1-3 (PointOfCare^Room^Bed^Facility) `location` matches. */
enum rule_loc_part {
	RULE_LOC_NONE = 0,
	RULE_LOC_WARD,	   /**< PL.1, the point of care: the default */
	RULE_LOC_ROOM,	   /**< PL.2 */
	RULE_LOC_BED,	   /**< PL.3 */
	RULE_LOC_FACILITY, /**< PL.4 */
};

enum rule_threshold_type {
	RULE_THRESHOLD_NONE = 0,
	RULE_THRESHOLD_LIMIT,	  /**< at most `count` alarms per `seconds` */
	RULE_THRESHOLD_THRESHOLD, /**< an alarm on every `count`-th hit within `seconds` */
	RULE_THRESHOLD_BOTH,	  /**< once per `seconds`, after `count` hits */
};

enum rule_track {
	RULE_TRACK_DEVICE = 0,
	RULE_TRACK_BED,
	RULE_TRACK_RULE,
};

#define RULE_MAX_METRICS 16  /**< metrics one rule may list */
#define RULE_MAX_PATTERNS 16 /**< content and pcre options one rule may have */

/**
 * One rule as loaded: what the alarm manager, the tools and the audit need.
 * Owned by its rule_set and valid as long as the set is. The evaluator only
 * decides "condition present"; delay, latch, threshold and escalate are the
 * alarm manager's to apply.
 */
struct rule {
	uint32_t sid;
	uint32_t rev;	    /**< 1 when not given */
	uint8_t action;	    /**< enum rule_action */
	uint8_t proto;	    /**< enum rule_proto */
	uint8_t priority;   /**< enum rule_priority */
	uint8_t kind;	    /**< enum rule_kind */
	uint8_t valid;	    /**< enum rule_valid */
	bool bidirectional; /**< `<>` rather than `->` */
	bool latch;
	bool malformed;	       /**< `malformed`: only datagrams whose telemetry did not decode */
	uint8_t acl;	       /**< enum rule_acl */
	bool disabled;	       /**< can never fire (a warning said why); never evaluated */
	const char *msg;       /**< unescaped; "" when not given */
	const char *metadata;  /**< as written, or NULL */
	const char *classtype; /**< as written, or NULL */
	const char *file;      /**< where the rule starts */
	unsigned line;
	const char *text; /**< the rule as written, continuation lines joined */

	unsigned n_metrics;
	uint32_t metric[RULE_MAX_METRICS]; /**< MDC codes; n_metrics 0: not an observation rule */
	uint8_t value_cmp;		   /**< enum rule_cmp */
	double value_a, value_b;	   /**< in the metric's usual unit (rule_metric.unit) */

	uint8_t loc_part;     /**< enum rule_loc_part; RULE_LOC_NONE: no `location` */
	const char *loc_glob; /**< `*` any run, `?` one byte, ASCII case-insensitive */

	uint8_t dsize_cmp; /**< enum rule_cmp over the UDP payload length */
	uint32_t dsize_a, dsize_b;

	unsigned n_patterns; /**< content and pcre options, all of which must match */

	uint32_t delay_ms; /**< onset delay: the condition must persist this long */
	struct {
		uint8_t type;  /**< enum rule_threshold_type */
		uint8_t track; /**< enum rule_track */
		uint32_t count;
		uint32_t seconds;
	} threshold;
	struct {
		uint32_t after_ms; /**< 0: no escalation */
		uint8_t priority;  /**< enum rule_priority to escalate to */
	} escalate;

	unsigned index; /**< position in its set: rule_set_rule(set, index) == this */
};

const char *rule_action_name(enum rule_action a);     /**< "alert", "log", "pass" */
const char *rule_proto_name(enum rule_proto p);	      /**< "any", "udp", "hl7", "vtp" */
const char *rule_priority_name(enum rule_priority p); /**< "none", "low", "medium", "high" */
const char *rule_kind_name(enum rule_kind k);	      /**< "physiological", ... */

/* ------------------------------------------------------------------------ */
/* Loading: parse, check, compile (never on the fast path)                   */
/* ------------------------------------------------------------------------ */

enum rule_severity {
	RULE_DIAG_ERROR = 0,
	RULE_DIAG_WARNING,
	RULE_DIAG_NOTE, /**< more about the diagnostic before it ("first defined here") */
};

/** One diagnostic: FILE:LINE:COL (1-based; col 0 when the whole file is meant). */
struct rule_diag {
	enum rule_severity severity;
	char *file;
	unsigned line;
	unsigned col;
	char *msg;
	char *source; /**< the source line (without its newline), or NULL */
};

/** Every diagnostic of a load, in file order. Zero-initialise; free with rule_diags_free. */
struct rule_diags {
	unsigned n;
	unsigned n_errors;
	unsigned n_warnings;
	bool truncated; /**< errors past opts.max_errors were not recorded (they still fail the
			   load) */
	struct rule_diag *d;
};

/**
 * Print every diagnostic as a compiler does:
 *
 *     FILE:LINE:COL: error: MESSAGE
 *      <the line>
 *           ^
 */
void rule_diags_print(const struct rule_diags *diags, FILE *out);
void rule_diags_free(struct rule_diags *diags);

/** A variable for addresses and ports ($NAME); the config's win over a file's `var`. */
struct rule_var {
	const char *name; /**< without the `$` */
	const char *value;
};

/** A ruleset held in memory rather than in a file (tests, fuzzing, a control request). */
struct rule_source {
	const char *name; /**< what diagnostics call it */
	const char *text;
	size_t len;
};

#define RULE_MAX_ERRORS_DEFAULT 20
#define RULE_MAX_INCLUDE_DEPTH 8

struct rule_load_opts {
	const char *const *files; /**< rule files, loaded in this order */
	unsigned n_files;
	const struct rule_source *sources; /**< then these */
	unsigned n_sources;
	const struct rule_var *vars; /**< from the config */
	unsigned n_vars;
	const char *cache_dir; /**< serialized databases go here; NULL or "": no cache */
	unsigned max_errors;   /**< 0: RULE_MAX_ERRORS_DEFAULT */
	bool no_compile;       /**< parse and check only: no Hyperscan database, no cache */
};

enum rule_cache_result {
	RULE_CACHE_OFF = 0, /**< no cache_dir, no patterns, or no_compile */
	RULE_CACHE_HIT,	    /**< the database came from the cache */
	RULE_CACHE_MISS,    /**< compiled and written to the cache */
	RULE_CACHE_REBUILT, /**< a cache file was there but rejected (cache_note says why) */
};

/** What a loaded set holds and what loading it cost. */
struct rule_set_info {
	unsigned n_rules;
	unsigned n_disabled;
	unsigned by_action[RULE_ACTION__COUNT];
	unsigned by_priority[RULE_PRIO__COUNT];
	unsigned n_patterns;	   /**< expressions in the Hyperscan database */
	unsigned n_metric_rules;   /**< rules with a `metric` */
	unsigned n_header_classes; /**< distinct headers, each checked once per message */
	uint64_t parse_ns;
	uint64_t compile_ns;	/**< Hyperscan compile (0 on a cache hit) */
	uint64_t cache_load_ns; /**< reading and deserializing a cached database */
	uint64_t total_ns;
	size_t db_bytes;      /**< Hyperscan database size */
	size_t scratch_bytes; /**< one worker's Hyperscan scratch */
	enum rule_cache_result cache;
	char cache_path[256];
	char cache_note[160]; /**< why a cache file was rejected or not written */
	char hash[65];	      /**< SHA-256, hex, of the normalized ruleset (its version) */
};

struct rule_set;

/**
 * Load, check and compile a ruleset. Every error is reported (up to
 * opts->max_errors), not only the first; warnings do not fail a load.
 *
 * @param diags  zero-initialised by the caller; filled in even on success
 *               (warnings); free with rule_diags_free
 * @return 0 and *out, or -EINVAL (the rules have errors: diags says which),
 *         -ENOENT/-EACCES/-EIO (a file could not be read; in diags too),
 *         -ENOMEM, or -EPROTO (Hyperscan refused the platform or the
 *         database; in diags). On error *out is NULL and nothing leaks.
 */
int rule_set_load(const struct rule_load_opts *opts, struct rule_set **out,
		  struct rule_diags *diags);
void rule_set_free(struct rule_set *set);

const struct rule_set_info *rule_set_info(const struct rule_set *set);

/**
 * The set's compiled Hyperscan database (an hs_database_t; NULL when the
 * set has no patterns), for benchmarks that time hs_scan alone with the
 * very database the evaluator uses. Read-only; owned by the set.
 */
const void *rule_set_hs_database(const struct rule_set *set);
unsigned rule_set_count(const struct rule_set *set);
const struct rule *rule_set_rule(const struct rule_set *set, unsigned index);
/** The rule with this sid, or NULL. */
const struct rule *rule_set_find(const struct rule_set *set, uint32_t sid);

/* ------------------------------------------------------------------------ */
/* Evaluation (on a worker)                                                  */
/* ------------------------------------------------------------------------ */

/*
 * The evaluator's counters, per worker (the worker keeps them next to its
 * dp_stats). Declared once; names and enum come from the same lines.
 */
#define RULE_COUNTERS(X)                                                                       \
	X(messages, "messages and frames evaluated against the ruleset")                       \
	X(scans, "payload scans by Hyperscan")                                                 \
	X(scan_errors, "Hyperscan scans that failed (the message's pattern rules missed)")     \
	X(alerts, "alert hits handed to the event path")                                       \
	X(logs, "log hits handed to the event path")                                           \
	X(passed, "alert and log hits suppressed by a pass rule")                              \
	X(hits_overflow, "hits past the caller's hit array (lost: the array is too small)")    \
	X(invalid_skipped, "observations a metric rule skipped because the value was invalid") \
	X(unit_mismatch, "observations in a unit the rule's value cannot be compared with")    \
	X(obs_skipped, "observations past RULE_MAX_OBS in one input, not evaluated")

#define RULE_X_ENUM_COUNTER(name, desc) RULE_CNT_##name,
enum rule_counter { RULE_COUNTERS(RULE_X_ENUM_COUNTER) RULE_CNT__COUNT };
#undef RULE_X_ENUM_COUNTER

const char *rule_counter_name(enum rule_counter c);
const char *rule_counter_desc(enum rule_counter c);

/* What an observation's flags mean to a rule (the decoder maps its own). */
#define RULE_OBS_INVALID (1u << 0) /**< not fit for alarms (any invalid flag) */
#define RULE_OBS_TEST (1u << 1)	   /**< a TEST or DEMO value (also RULE_OBS_INVALID) */

/** One observation as the evaluator sees it. */
struct rule_obs {
	uint32_t code;	/**< MDC code, 0 if none */
	uint32_t unit;	/**< MDC unit code, 0 if unknown (then taken as the metric's own) */
	double value;	/**< NaN when there is none */
	uint32_t flags; /**< RULE_OBS_* */
	const uint8_t *location; /**< PV1-3 as sent (components split by in->loc_sep), or NULL */
	uint16_t location_len;
};

/** One message (HL7) or frame (VTP) and the datagram it came in. */
struct rule_input {
	uint8_t proto;	    /**< RULE_PROTO_HL7 or RULE_PROTO_VTP */
	uint8_t ip_version; /**< 4 or 6 */
	uint8_t src[16];    /**< IPv4: the first 4 bytes, network order */
	uint8_t dst[16];
	uint16_t sport; /**< host order */
	uint16_t dport;
	uint32_t dsize; /**< the datagram's UDP payload length */
	bool first; /**< first message of its datagram: header-only rules fire once per datagram */
	bool malformed;		/**< the datagram held telemetry that did not decode */
	bool acl_denied;	/**< the sender is outside telemetry.allow: nothing was decoded */
	char loc_sep;		/**< component separator of the location texts (HL7: MSH-2[0]) */
	const uint8_t *payload; /**< what content and pcre scan: the message or frame */
	size_t len;
	const struct rule_obs *obs;
	unsigned n_obs;
};

#define RULE_MAX_OBS 64		/**< observations per input the evaluator looks at */
#define RULE_HIT_MSG UINT16_MAX /**< rule_hit.obs of a hit on the message, not an observation */

/** A rule that matched: the condition is present. */
struct rule_hit {
	const struct rule *rule;
	uint16_t obs;  /**< index into rule_input.obs, or RULE_HIT_MSG */
	uint32_t code; /**< the observation's code (0 for RULE_HIT_MSG) */
	double value;  /**< the observation's value as sent (NaN for RULE_HIT_MSG) */
};

/** A worker's evaluation state for one set: Hyperscan scratch and match marks. */
struct rule_scratch;

/**
 * Make a worker's scratch for @p set (a clone of the set's prototype
 * Hyperscan scratch plus the per-rule marks). Not for the fast path.
 * @return 0, -EINVAL (@p set was loaded with no_compile), or -ENOMEM.
 */
int rule_scratch_new(const struct rule_set *set, struct rule_scratch **out);
void rule_scratch_free(struct rule_scratch *s);

/**
 * Evaluate one message: scan the payload once, check the header predicates
 * of the rules whose patterns all matched and of the rules with none, then
 * the metric predicates against each observation. Pass hits suppress the
 * alert and log hits of the same scope (a pass on the message: all of them;
 * a pass on an observation: that observation's). No allocation, no lock, no
 * log; bounded by the ruleset.
 *
 * Hits come out message hits first, in rule order, then each observation's
 * in observation order and, within one, rule order. At most RULE_MAX_OBS
 * observations are looked at; the rest are counted (obs_skipped).
 *
 * @param hits      filled with up to @p max hits (alert and log only)
 * @param counters  RULE_CNT__COUNT counters this worker alone writes
 * @return the number of hits written. Hits past @p max are counted in
 *         hits_overflow and lost, so size the array for the ruleset.
 */
unsigned rule_eval(const struct rule_set *set, struct rule_scratch *s, const struct rule_input *in,
		   struct rule_hit *hits, unsigned max, _Atomic uint64_t *counters);

/* Why a rule did or did not match an observation or message (rule_explain). */
#define RULE_WHYS(X)                                                         \
	X(match, "matched")                                                  \
	X(disabled, "the rule is disabled (it can never fire)")              \
	X(proto, "protocol differs")                                         \
	X(src, "source address not in the rule's set")                       \
	X(sport, "source port not in the rule's set")                        \
	X(dst, "destination address not in the rule's set")                  \
	X(dport, "destination port not in the rule's set")                   \
	X(dsize, "datagram size fails dsize")                                \
	X(malformed, "the datagram decoded (the rule wants malformed ones)") \
	X(acl, "sender allowed or refused, not as the rule's acl: wants")    \
	X(once, "header-only rule: fires on the datagram's first message")   \
	X(pattern, "a content or pcre did not match")                        \
	X(metric, "observation of another metric")                           \
	X(invalid, "the value is invalid (valid: decides)")                  \
	X(unit, "the unit cannot be compared with the rule's value")         \
	X(value, "the value fails the comparison")                           \
	X(location, "location does not match")                               \
	X(passed, "matched, but a pass rule suppressed it")

#define RULE_X_ENUM_WHY(name, desc) RULE_WHY_##name,
enum rule_why { RULE_WHYS(RULE_X_ENUM_WHY) RULE_WHY__COUNT };
#undef RULE_X_ENUM_WHY

const char *rule_why_name(enum rule_why w);
const char *rule_why_desc(enum rule_why w);

/**
 * Called by rule_explain for every rule, once for the message (obs ==
 * RULE_HIT_MSG) and, for a metric rule, once per observation. @p detail is a
 * short text ("93 < 90 is false", "content 2 \"ASYST\" not found"), or "".
 * A metric rule's hits are its observations' verdicts: its message verdict
 * only says whether what the message decides (header, dsize, patterns)
 * holds, `match` then meaning "the observations decide".
 */
typedef void (*rule_explain_fn)(void *arg, const struct rule *r, uint16_t obs, enum rule_why why,
				const char *detail);

/**
 * The slow, thorough twin of rule_eval for `vigil-rules explain`: decide
 * every rule against @p in and say why. It reaches the same verdicts as
 * rule_eval (the tests hold it to that). Allocates; not for workers.
 * @return 0, or -ENOMEM, or -EIO (the scan failed).
 */
int rule_explain(const struct rule_set *set, struct rule_scratch *s, const struct rule_input *in,
		 rule_explain_fn fn, void *arg);

#endif /* VIGIL_RULES_H */
