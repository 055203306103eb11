/*
 * tables.h - private to the rules component: the shape of the code tables.
 *
 * rules/gen_tables.py writes rules_tables.c, which defines `rule_tables`
 * from rules/metrics.tsv; tables.c searches it. Both include this header so
 * the compiler checks that the generated data and its reader agree.
 *
 * Every array is sorted for binary search: the row arrays and `codes` by
 * code, each index by key (bytes, a key that is a prefix of another first,
 * as memcmp then length orders them). Names are stored upper case, so the
 * name index serves a case-insensitive search of an upper-cased input.
 */
#ifndef VIGIL_RULES_TABLES_H
#define VIGIL_RULES_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

/** What a code stands for: which row array `idx` points into. */
enum rule_tab_kind {
	RULE_TAB_METRIC = 1, /**< rule_tables.metrics[idx] */
	RULE_TAB_UNIT = 2,   /**< rule_tables.units[idx] */
	RULE_TAB_OTHER = 3,  /**< a device, event or attribute code: refid only */
};

/** One code of any kind, for the code lookups. */
struct rule_tab_code {
	uint32_t code;
	uint16_t kind; /**< enum rule_tab_kind */
	uint16_t idx;  /**< row in the array `kind` names; 0 for RULE_TAB_OTHER */
	const char *refid;
};

/** One key of a string index and the row it leads to. */
struct rule_tab_key {
	const char *key;
	uint16_t len; /**< strlen(key), so a search never reads past it */
	uint16_t idx; /**< row in rule_tables.metrics or .units */
};

struct rule_tab_index {
	const struct rule_tab_key *keys;
	size_t n;
};

struct rule_tables {
	const struct rule_metric *metrics; /**< by code */
	size_t n_metrics;
	const struct rule_unit *units; /**< by code */
	size_t n_units;
	const struct rule_tab_code *codes; /**< every code of the file, by code */
	size_t n_codes;
	const uint16_t *code_slots; /**< 1 << code_bits slots: codes[] index + 1, or 0 */
	unsigned code_bits;
	unsigned code_probes;		    /**< the longest probe sequence the generator made */
	struct rule_tab_index metric_name;  /**< names, upper case */
	struct rule_tab_index metric_refid; /**< reference ids and their aliases */
	struct rule_tab_index metric_loinc; /**< each LOINC code once: its first row */
	struct rule_tab_index unit_refid;
	struct rule_tab_index unit_ucum; /**< UCUM codes and aliases: first row wins */
};

/* Multiplicative hash of a code into code_bits bits (gen_tables.py has it too). */
#define RULE_CODE_HASH_MUL 0x9E3779B1u

extern const struct rule_tables rule_tables;

#endif /* VIGIL_RULES_TABLES_H */
