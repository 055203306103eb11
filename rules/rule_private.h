/*
 * rule_private.h - private to the rules component: what a loaded rule_set is
 * made of, and the calls between its stages.
 *
 * Loading runs three stages, each in its own file:
 *
 *   parse.c    text -> rules (public part, header, patterns), with every
 *              error as FILE:LINE:COL in a rule_diags (diag.c)
 *   compile.c  rules -> header classes, the metric index, one Hyperscan
 *              database (from cache.c's cache when it can), the set's hash
 *   scope.c    (for compile.c) the source-address index of the lists
 *              rule_eval walks per message
 *   eval.c     the worker's evaluator and its slow twin, rule_explain
 *
 * load.c ties them together behind rule_set_load() and owns the accessors.
 * Everything a set owns is freed by rule_set_free(); the stages never free
 * each other's parts on their own.
 */
#ifndef VIGIL_RULE_PRIVATE_H
#define VIGIL_RULE_PRIVATE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hs/hs.h>

#include "rules.h"

/* ------------------------------------------------------------------------ */
/* Header predicates                                                        */
/* ------------------------------------------------------------------------ */

/*
 * An address or port expression ("[10.0.0.0/8, !10.1.0.0/16]", "$ICU_NET",
 * "any", "!2575", "[1024:65535]") is resolved by the parser into sorted,
 * disjoint, inclusive ranges, so a match is a binary search and negation
 * is plain set algebra. `any` is one range covering everything, in both
 * families. An empty set (every address negated away) is an error.
 */
struct rule_v4_range {
	uint32_t lo, hi; /**< host byte order */
};

struct rule_v6_range {
	uint8_t lo[16], hi[16]; /**< network byte order: memcmp orders them */
};

struct rule_port_range {
	uint16_t lo, hi;
};

struct rule_addrset {
	unsigned n4, n6;
	struct rule_v4_range *v4; /**< malloc'd; NULL when n4 is 0 */
	struct rule_v6_range *v6;
};

struct rule_portset {
	unsigned n;
	struct rule_port_range *r;
};

/** The header of a rule: `proto src sport -> dst dport` (or `<>`). */
struct rule_header {
	uint8_t proto; /**< enum rule_proto */
	bool bidirectional;
	struct rule_addrset src, dst;
	struct rule_portset sport, dport;
};

/* ------------------------------------------------------------------------ */
/* Patterns                                                                 */
/* ------------------------------------------------------------------------ */

/**
 * One `content` or `pcre` option, ready for hs_compile_ext_multi(). Its
 * Hyperscan id is its index in rule_set.patterns.
 *
 * content "a|0D 0A|b" with nocase, offset o, depth d becomes the expression
 * \x61\x0d\x0a\x62 (every byte that is not [A-Za-z0-9] escaped as \xHH),
 * HS_FLAG_CASELESS, min_offset = o + length (Hyperscan offsets are where a
 * match ends) and max_offset = o + d (when depth is given).
 * pcre "/re/ism" becomes the expression re with HS_FLAG_CASELESS, _DOTALL,
 * _MULTILINE. Every pattern has HS_FLAG_SINGLEMATCH.
 */
struct rule_pattern {
	char *expr;		       /**< NUL-terminated, malloc'd */
	unsigned flags;		       /**< HS_FLAG_* */
	unsigned long long min_offset; /**< 0: unset */
	unsigned long long max_offset; /**< 0: unset */
	unsigned rule;		       /**< index of its rule in rule_set.rules */
	unsigned line, col;	       /**< of the option's value, for Hyperscan's errors */
	bool is_pcre;
	char *shown; /**< the option as written ("content:\"ASYST\"; nocase"), malloc'd */
	/* compile.c: identical patterns (expression, flags, offsets) of enabled
	 * rules are compiled once, under the id of the first; the others follow
	 * it in a chain, so one match stands for all of them. */
	bool shared;	    /**< not compiled: an earlier identical pattern stands for it */
	unsigned same_next; /**< the next identical pattern, or UINT_MAX */
};

/* ------------------------------------------------------------------------ */
/* The set                                                                  */
/* ------------------------------------------------------------------------ */

/** A rule and what only the component sees of it. `pub` must stay first. */
struct rule_int {
	struct rule pub;
	struct rule_header hdr;
	unsigned first_pattern; /**< its patterns: patterns[first_pattern .. + pub.n_patterns) */
	unsigned hdr_class;	/**< compile.c: index into rule_set.classes */
	uint32_t
		value_unit; /**< compile.c: the unit `value` is in (its metrics' usual one), or 0 */
	unsigned col;	    /**< column of the action (1), for diagnostics after parsing */
};

/**
 * The value test of one metric_rules entry, packed next to its neighbours so
 * that the per-observation scan rejects a rule whose value test fails
 * without touching the rule itself (most observations are normal).
 */
struct rule_mpred {
	double a, b;
	uint8_t cmp;   /**< enum rule_cmp */
	uint8_t valid; /**< enum rule_valid */
};

/* ------------------------------------------------------------------------ */
/* Scopes: the lists walked per message, indexed by source address          */
/* ------------------------------------------------------------------------ */

/** An address as one 128-bit number (IPv4 in lo alone), for ordering. */
struct rule_key {
	uint64_t hi, lo;
};

/**
 * One family's part of a source index (scope.c). Hosts are the single
 * addresses of the rules' source sets; segments cut the address space at
 * every edge of the other ranges, so each segment lies wholly inside or
 * wholly outside each range. An address then finds its rules as one host
 * entry and one segment entry (binary searches), each a list of positions.
 */
struct rule_addr_table {
	unsigned n_hosts, n_segs;
	struct rule_key *hosts; /**< sorted, distinct */
	unsigned *host_at;	/**< n_hosts + 1 offsets into rule_scope.pos */
	struct rule_key *segs;	/**< segment starts, sorted; a segment ends where the next starts */
	unsigned *seg_at;	/**< n_segs + 1 offsets into rule_scope.pos */
};

/**
 * A list of pattern-less rules walked per message (the always list, one
 * metric slot), split by source. Entries are positions in the list's base
 * array (rule_set.always, rule_set.metric_rules), which ascends with the
 * position, so merging positions merges rules in rule order.
 *
 * A rule whose source is neither `any` nor bidirectional can only match a
 * message whose source is in its set: it is listed under its addresses
 * only. The others (and those that would take too many entries) are in
 * gen, visited for every message.
 */
struct rule_scope {
	unsigned n_gen;
	unsigned *gen;		       /**< positions of the rules visited for every message */
	struct rule_addr_table fam[2]; /**< IPv4, IPv6 */
	unsigned *pos;		       /**< the tables' lists, each ascending */
};

/** Pattern-less metric rules of one MDC code (compile.c's metric index). */
struct rule_metric_slot {
	uint32_t code;
	unsigned first; /**< into rule_set.metric_rules */
	unsigned n;
	struct rule_scope scope; /**< positions are into rule_set.metric_rules */
};

struct rule_set {
	/* parse.c */
	struct rule_int *rules;
	unsigned n_rules;
	struct rule_pattern *patterns;
	unsigned n_patterns;
	char **strings; /**< every string the rules point at (msg, file, text, ...) */
	unsigned n_strings;

	/* compile.c */
	const struct rule_header **classes; /**< distinct headers; point into rules[].hdr */
	unsigned n_classes;
	unsigned *always; /**< rules with neither patterns nor metrics, ascending */
	unsigned n_always;
	struct rule_scope always_scope;	       /**< positions are into always */
	struct rule_metric_slot *metric_slots; /**< by code, ascending */
	unsigned n_metric_slots;
	unsigned *metric_rules;		 /**< rule indexes, ascending within each slot */
	struct rule_mpred *metric_preds; /**< parallel to metric_rules */
	unsigned n_metric_rules;
	hs_database_t *db;   /**< NULL when there are no patterns (or no_compile) */
	hs_scratch_t *proto; /**< the prototype scratch every worker clones */
	unsigned *by_sid;    /**< every rule's index, in sid order (rule_set_find) */
	bool compiled;	     /**< rule_compile ran: the set may be evaluated */

	struct rule_set_info info;
};

/* ---- diag.c -------------------------------------------------------------- */

/**
 * Record a diagnostic. Errors past @p max_errors are counted (n_errors) but
 * not recorded (truncated is set); notes attached to an unrecorded error
 * are dropped too. @p source is the line the position is in (@p source_len
 * bytes, no newline), or NULL.
 * @return 0, or -ENOMEM.
 */
int rule_diag_add(struct rule_diags *d, unsigned max_errors, enum rule_severity sev,
		  const char *file, unsigned line, unsigned col, const char *source,
		  size_t source_len, const char *fmt, ...) __attribute__((format(printf, 9, 10)));

/* ---- parse.c ------------------------------------------------------------- */

/**
 * Read every file and source of @p opts into @p set (rules, patterns,
 * strings); check everything that can be checked without compiling the
 * database (each pcre on its own with hs_expression_ext_info(), so its
 * error names its rule and column). Sets info.parse_ns and the counts of
 * info that come from the rules.
 * @return 0; -EINVAL (errors, in @p diags); -ENOENT/-EACCES/-EIO (a file);
 *         -ENOMEM. What was built stays in @p set for rule_set_free().
 */
int rule_parse(const struct rule_load_opts *opts, struct rule_set *set, struct rule_diags *diags);

/** Free what a header's sets hold (not the header itself). */
void rule_header_free(struct rule_header *h);

/* ---- compile.c ----------------------------------------------------------- */

/**
 * Build the header classes, the always list, the metric index, the
 * Hyperscan database (through the cache) and the prototype scratch; fill
 * the rest of info (hash, timings, sizes, cache result).
 * @return 0; -EINVAL (Hyperscan refused a pattern: mapped to its rule and
 *         column in @p diags); -EPROTO (platform or database); -ENOMEM.
 */
int rule_compile(struct rule_set *set, const struct rule_load_opts *opts, struct rule_diags *diags);

/* ---- scope.c ------------------------------------------------------------- */

/**
 * Build @p sc over @p base[first .. first + n) (rule indexes, ascending):
 * positions are indexes into @p base.
 * @return 0, or -ENOMEM (what was built stays for rule_scope_free()).
 */
int rule_scope_build(struct rule_scope *sc, const struct rule_set *set, const unsigned *base,
		     unsigned first, unsigned n);

/** Free what @p sc holds (not @p sc itself). */
void rule_scope_free(struct rule_scope *sc);

/* ---- cache.c ------------------------------------------------------------- */

/**
 * The cache key: SHA-256 over every pattern (expression, flags, id,
 * offsets), hs_version() and the platform Hyperscan compiles for. Only the
 * patterns compile.c puts in the database count: those of enabled rules.
 * @return 0, or -ENOMEM (no digest: the caller must not use the cache).
 */
int rule_cache_key(const struct rule_set *set, const hs_platform_info_t *plat, uint8_t key[32]);

/**
 * Load the database for @p key from @p dir. A missing file is a plain miss;
 * a file that is there but wrong (short, bad magic, another key, a payload
 * whose SHA-256 differs, refused by hs_deserialize_database) is a miss
 * with a reason in @p note.
 * @return 0 and *db; -ENOENT (no file); -EBADMSG (rejected: see @p note).
 */
int rule_cache_load(const char *dir, const uint8_t key[32], hs_database_t **db, char *path,
		    size_t pathlen, char *note, size_t notelen);

/**
 * Write @p db for @p key into @p dir, atomically (a temporary file, fsync,
 * rename). A failure is not fatal to loading: the caller notes it.
 * @return 0, or a negative errno (and a reason in @p note).
 */
int rule_cache_store(const char *dir, const uint8_t key[32], const hs_database_t *db, char *note,
		     size_t notelen);

/* ---- eval.c -------------------------------------------------------------- */

/**
 * Tests only: set @p s's generation counter, so that a test reaches its
 * wrap-around (every ~70 minutes at a million messages a second) at once.
 */
void rule_scratch_set_gen(struct rule_scratch *s, uint32_t gen);

#endif /* VIGIL_RULE_PRIVATE_H */
