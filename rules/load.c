/*
 * load.c - rule_set_load(): parse, check and compile a ruleset, and the
 * read-only accessors and name functions of rules.h.
 *
 * This file ties the stages of rule_private.h together (parse.c, then
 * compile.c) and owns the one function that frees a set, so that every part
 * any stage allocated is released in one place, whether the load succeeded
 * or stopped halfway: a bad ruleset must never leak on a long-running
 * appliance that reloads its rules.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "rule_private.h"

/* ---------------------------------------------------------------------------
 * Loading and freeing
 * ------------------------------------------------------------------------- */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
rule_set_load(const struct rule_load_opts *opts, struct rule_set **out, struct rule_diags *diags)
{
	struct rule_set *set = NULL;
	uint64_t t0 = now_ns();
	unsigned errors_before;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (opts == NULL || out == NULL || diags == NULL)
		return -EINVAL;
	set = calloc(1, sizeof(*set));
	if (set == NULL)
		return -ENOMEM;
	errors_before = diags->n_errors;
	rc = rule_parse(opts, set, diags);
	if (rc < 0)
		goto err;
	/* An error the parser recorded but did not return still fails the load. */
	if (diags->n_errors > errors_before) {
		rc = -EINVAL;
		goto err;
	}
	for (unsigned i = 0; i < set->n_rules; i++)
		set->rules[i].pub.index = i;
	if (!opts->no_compile) {
		rc = rule_compile(set, opts, diags);
		if (rc < 0)
			goto err;
	}
	set->info.total_ns = now_ns() - t0;
	*out = set;
	return 0;
err:
	rule_set_free(set);
	return rc;
}

void
rule_set_free(struct rule_set *set)
{
	if (set == NULL)
		return;
	if (set->proto != NULL)
		hs_free_scratch(set->proto);
	if (set->db != NULL)
		hs_free_database(set->db);
	free(set->by_sid);
	rule_scope_free(&set->always_scope);
	for (unsigned i = 0; i < set->n_metric_slots; i++)
		rule_scope_free(&set->metric_slots[i].scope);
	free(set->metric_rules);
	free(set->metric_preds);
	free(set->metric_slots);
	free(set->always);
	free(set->classes);
	for (unsigned i = 0; i < set->n_patterns; i++) {
		free(set->patterns[i].expr);
		free(set->patterns[i].shown);
	}
	free(set->patterns);
	for (unsigned i = 0; i < set->n_rules; i++)
		rule_header_free(&set->rules[i].hdr);
	free(set->rules);
	for (unsigned i = 0; i < set->n_strings; i++)
		free(set->strings[i]);
	free(set->strings);
	free(set);
}

/* ---------------------------------------------------------------------------
 * Accessors
 * ------------------------------------------------------------------------- */

const struct rule_set_info *
rule_set_info(const struct rule_set *set)
{
	return &set->info;
}

const void *
rule_set_hs_database(const struct rule_set *set)
{
	return set->db;
}

unsigned
rule_set_count(const struct rule_set *set)
{
	return set->n_rules;
}

const struct rule *
rule_set_rule(const struct rule_set *set, unsigned index)
{
	return index < set->n_rules ? &set->rules[index].pub : NULL;
}

const struct rule *
rule_set_find(const struct rule_set *set, uint32_t sid)
{
	size_t lo = 0, hi = set->n_rules;

	/* Loaded with no_compile: no index, and no hurry either. */
	if (set->by_sid == NULL) {
		for (unsigned i = 0; i < set->n_rules; i++)
			if (set->rules[i].pub.sid == sid)
				return &set->rules[i].pub;
		return NULL;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct rule *r = &set->rules[set->by_sid[mid]].pub;

		if (r->sid == sid)
			return r;
		if (r->sid < sid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------- */

static const char *const action_names[RULE_ACTION__COUNT] = {
	[RULE_ACTION_ALERT] = "alert",
	[RULE_ACTION_LOG] = "log",
	[RULE_ACTION_PASS] = "pass",
};

static const char *const proto_names[RULE_PROTO__COUNT] = {
	[RULE_PROTO_ANY] = "any",
	[RULE_PROTO_UDP] = "udp",
	[RULE_PROTO_HL7] = "hl7",
	[RULE_PROTO_VTP] = "vtp",
};

static const char *const priority_names[RULE_PRIO__COUNT] = {
	[RULE_PRIO_NONE] = "none",
	[RULE_PRIO_LOW] = "low",
	[RULE_PRIO_MEDIUM] = "medium",
	[RULE_PRIO_HIGH] = "high",
};

static const char *const kind_names[RULE_KIND__COUNT] = {
	[RULE_KIND_PHYSIOLOGICAL] = "physiological",
	[RULE_KIND_TECHNICAL] = "technical",
	[RULE_KIND_ADVISORY] = "advisory",
};

#define RULE_X_NAME(name, desc) #name,
#define RULE_X_DESC(name, desc) desc,
static const char *const counter_names[] = {RULE_COUNTERS(RULE_X_NAME)};
static const char *const counter_descs[] = {RULE_COUNTERS(RULE_X_DESC)};
static const char *const why_names[] = {RULE_WHYS(RULE_X_NAME)};
static const char *const why_descs[] = {RULE_WHYS(RULE_X_DESC)};
#undef RULE_X_NAME
#undef RULE_X_DESC

#define NAME_OF(table, i) ((size_t)(i) < sizeof(table) / sizeof(table[0]) ? table[i] : "?")

const char *
rule_action_name(enum rule_action a)
{
	return NAME_OF(action_names, a);
}

const char *
rule_proto_name(enum rule_proto p)
{
	return NAME_OF(proto_names, p);
}

const char *
rule_priority_name(enum rule_priority p)
{
	return NAME_OF(priority_names, p);
}

const char *
rule_kind_name(enum rule_kind k)
{
	return NAME_OF(kind_names, k);
}

const char *
rule_counter_name(enum rule_counter c)
{
	return NAME_OF(counter_names, c);
}

const char *
rule_counter_desc(enum rule_counter c)
{
	return NAME_OF(counter_descs, c);
}

const char *
rule_why_name(enum rule_why w)
{
	return NAME_OF(why_names, w);
}

const char *
rule_why_desc(enum rule_why w)
{
	return NAME_OF(why_descs, w);
}
