/*
 * tables.c - the code-table lookups of rules.h.
 *
 * The data is rules_tables.c, generated at build time from rules/metrics.tsv
 * (see rules/tables.h for its shape). Here are only the searches over it:
 * binary searches over constant sorted arrays, so each lookup is a bounded
 * loop of at most log2(n) + 1 steps, allocates nothing and takes no lock,
 * which is what a decoder on a worker's fast path needs.
 *
 * The string lookups take (pointer, length) because their callers pass
 * spans into a received packet, which are not NUL-terminated: nothing here
 * reads s[len] or beyond, nor stops early at a NUL.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules.h"
#include "tables.h"

/* ---------------------------------------------------------------------------
 * Searches
 * ------------------------------------------------------------------------- */

/* ASCII upper case, independent of the locale (toupper() is not). */
static unsigned char
ascii_upper(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

/*
 * Order (s, n) against a key the way gen_tables.py sorted the keys: bytes
 * compared as unsigned, and a prefix before the longer string. With `fold`
 * the input is upper-cased first (the name index holds upper-case keys).
 */
static int
key_cmp(const char *s, size_t n, const struct rule_tab_key *k, bool fold)
{
	size_t m = n < k->len ? n : k->len;

	for (size_t i = 0; i < m; i++) {
		unsigned char a = (unsigned char)s[i];
		unsigned char b = (unsigned char)k->key[i];

		if (fold)
			a = ascii_upper(a);
		if (a != b)
			return a < b ? -1 : 1;
	}
	if (n == k->len)
		return 0;
	return n < k->len ? -1 : 1;
}

static const struct rule_tab_key *
key_find(const struct rule_tab_index *ix, const char *s, size_t len, bool fold)
{
	size_t lo = 0, hi = ix->n;

	/* No key is empty or longer than a uint16_t can count. */
	if (s == NULL || len == 0 || len > UINT16_MAX)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(s, len, &ix->keys[mid], fold);

		if (c == 0)
			return &ix->keys[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static const struct rule_tab_code *
code_find(uint32_t code)
{
	unsigned mask = (1u << rule_tables.code_bits) - 1;
	unsigned h = (uint32_t)(code * RULE_CODE_HASH_MUL) >> (32 - rule_tables.code_bits);

	/* No chain is longer than the generator made it: a miss stops there. */
	for (unsigned probe = 0; probe < rule_tables.code_probes; probe++) {
		uint16_t slot = rule_tables.code_slots[(h + probe) & mask];

		if (slot == 0)
			return NULL;
		if (rule_tables.codes[slot - 1].code == code)
			return &rule_tables.codes[slot - 1];
	}
	return NULL;
}

static const struct rule_metric *
metric_of(const struct rule_tab_key *k)
{
	return k == NULL ? NULL : &rule_tables.metrics[k->idx];
}

static const struct rule_unit *
unit_of(const struct rule_tab_key *k)
{
	return k == NULL ? NULL : &rule_tables.units[k->idx];
}

/* ---------------------------------------------------------------------------
 * Metrics
 * ------------------------------------------------------------------------- */

const struct rule_metric *
rule_metric_by_code(uint32_t code)
{
	const struct rule_tab_code *c = code_find(code);

	if (c == NULL || c->kind != RULE_TAB_METRIC)
		return NULL;
	return &rule_tables.metrics[c->idx];
}

const struct rule_metric *
rule_metric_by_name(const char *name, size_t len)
{
	return metric_of(key_find(&rule_tables.metric_name, name, len, true));
}

const struct rule_metric *
rule_metric_by_refid(const char *refid, size_t len)
{
	return metric_of(key_find(&rule_tables.metric_refid, refid, len, false));
}

const struct rule_metric *
rule_metric_by_loinc(const char *loinc, size_t len)
{
	return metric_of(key_find(&rule_tables.metric_loinc, loinc, len, false));
}

size_t
rule_metric_count(void)
{
	return rule_tables.n_metrics;
}

const struct rule_metric *
rule_metric_at(size_t i)
{
	return i < rule_tables.n_metrics ? &rule_tables.metrics[i] : NULL;
}

/* ---------------------------------------------------------------------------
 * Units and other codes
 * ------------------------------------------------------------------------- */

const struct rule_unit *
rule_unit_by_code(uint32_t code)
{
	const struct rule_tab_code *c = code_find(code);

	if (c == NULL || c->kind != RULE_TAB_UNIT)
		return NULL;
	return &rule_tables.units[c->idx];
}

const struct rule_unit *
rule_unit_by_refid(const char *refid, size_t len)
{
	return unit_of(key_find(&rule_tables.unit_refid, refid, len, false));
}

const struct rule_unit *
rule_unit_by_ucum(const char *ucum, size_t len)
{
	return unit_of(key_find(&rule_tables.unit_ucum, ucum, len, false));
}

const char *
rule_code_refid(uint32_t code)
{
	const struct rule_tab_code *c = code_find(code);

	return c == NULL ? NULL : c->refid;
}
