/*
 * fuzz_rules.c - libFuzzer target for the rule language's parser
 * (rules/parse.c) and its diagnostics (rules/diag.c).
 *
 * The input is a rule file as an operator might write it, or anything
 * else: it is loaded as one in-memory rule_source (in a heap buffer of
 * exactly its length, so AddressSanitizer sees any read past its end; the
 * parser must not expect a NUL), with two config variables and no_compile,
 * through rule_set_load. Then the result is held to the contract of rules.h
 * and rule_private.h, not to parse.c's own idea of it:
 *
 *  - the return value agrees with the set and the diagnostics (0 and a set
 *    exactly when no error was reported; at most max_errors errors kept,
 *    truncated exactly when more were counted); every diagnostic points at
 *    a line of the input and a column within that line or just past it;
 *  - every loaded rule is consistent: enums in range, a unique sid, an
 *    alert with a priority, metrics from the table sharing one unit,
 *    ranges with a <= b, its patterns where first_pattern says and marked
 *    as its own, every address and port set non-empty, sorted, disjoint.
 *
 * Finally rule_diags_print writes everything to /dev/null, so the printer
 * runs on every diagnostic too. An include is read relative to the
 * current directory, as for any rule_source; the parser reads regular files
 * only, so an input cannot make it block on a FIFO or read /dev/zero.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "rule_private.h"

#define MAX_ERRORS 8

static FILE *devnull;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	devnull = fopen("/dev/null", "w");
	FUZZ_CHECK(devnull != NULL);
	return 0;
}

/* Lines of the input (as the parser counts them) and the longest one. */
static void
measure(const char *s, size_t n, unsigned *lines, size_t *longest)
{
	size_t start = 0;

	*lines = 0;
	*longest = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '\n')
			continue;
		if (i == n && start == n)
			break;
		(*lines)++;
		if (i - start > *longest)
			*longest = i - start;
		start = i + 1;
	}
}

static void
check_diags(const struct rule_diags *d, const char *text, size_t len)
{
	unsigned lines, errors = 0;
	size_t longest;

	measure(text, len, &lines, &longest);
	FUZZ_CHECK(d->truncated == (d->n_errors > MAX_ERRORS));
	for (unsigned i = 0; i < d->n; i++) {
		const struct rule_diag *g = &d->d[i];

		FUZZ_CHECK(g->severity <= RULE_DIAG_NOTE);
		FUZZ_CHECK(g->file != NULL && g->msg != NULL && g->msg[0] != '\0');
		errors += g->severity == RULE_DIAG_ERROR;
		/* An included file's places are its own; this input's are checked. */
		if (strcmp(g->file, "fuzz.rules") != 0)
			continue;
		FUZZ_CHECK(g->line >= 1 && g->line <= lines);
		FUZZ_CHECK(g->col >= 1 && g->col <= longest + 1);
		FUZZ_CHECK(g->source != NULL);
	}
	FUZZ_CHECK(errors == (d->n_errors < MAX_ERRORS ? d->n_errors : MAX_ERRORS));
}

static bool
v4_ok(const struct rule_addrset *a)
{
	for (unsigned i = 0; i < a->n4; i++) {
		if (a->v4[i].lo > a->v4[i].hi)
			return false;
		if (i > 0 && (uint64_t)a->v4[i - 1].hi + 1 >= a->v4[i].lo)
			return false; /* overlapping or adjacent: not normalized */
	}
	for (unsigned i = 0; i < a->n6; i++) {
		if (memcmp(a->v6[i].lo, a->v6[i].hi, 16) > 0)
			return false;
		if (i > 0 && memcmp(a->v6[i - 1].hi, a->v6[i].lo, 16) >= 0)
			return false;
	}
	return a->n4 + a->n6 > 0;
}

static bool
ports_ok(const struct rule_portset *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		if (p->r[i].lo > p->r[i].hi)
			return false;
		if (i > 0 && (uint32_t)p->r[i - 1].hi + 1 >= p->r[i].lo)
			return false;
	}
	return p->n > 0;
}

static void
check_rule(const struct rule_set *set, unsigned i)
{
	const struct rule_int *ri = &set->rules[i];
	const struct rule *r = &ri->pub;
	const struct rule_metric *m0 = NULL;

	FUZZ_CHECK(rule_set_rule(set, i) == r && r->index == i);
	FUZZ_CHECK(r->sid >= 1 && rule_set_find(set, r->sid) == r);
	FUZZ_CHECK(r->action < RULE_ACTION__COUNT && r->proto < RULE_PROTO__COUNT);
	FUZZ_CHECK(r->priority < RULE_PRIO__COUNT && r->kind < RULE_KIND__COUNT);
	FUZZ_CHECK(r->valid <= RULE_VALID_ANY && r->loc_part <= RULE_LOC_FACILITY);
	FUZZ_CHECK(r->action != RULE_ACTION_ALERT || r->priority != RULE_PRIO_NONE);
	FUZZ_CHECK(r->action != RULE_ACTION_PASS || r->priority == RULE_PRIO_NONE);
	FUZZ_CHECK(r->msg != NULL && r->text != NULL && r->file != NULL && r->line >= 1);
	FUZZ_CHECK(ri->col >= 1);
	FUZZ_CHECK(r->n_metrics <= RULE_MAX_METRICS && r->n_patterns <= RULE_MAX_PATTERNS);
	for (unsigned k = 0; k < r->n_metrics; k++) {
		const struct rule_metric *m = rule_metric_by_code(r->metric[k]);

		FUZZ_CHECK(m != NULL);
		if (m0 == NULL)
			m0 = m;
		FUZZ_CHECK(m->unit == m0->unit);
	}
	FUZZ_CHECK(r->value_cmp <= RULE_CMP_OUTSIDE && r->dsize_cmp <= RULE_CMP_OUTSIDE);
	if (r->value_cmp == RULE_CMP_RANGE || r->value_cmp == RULE_CMP_OUTSIDE)
		FUZZ_CHECK(r->value_a <= r->value_b);
	if (r->dsize_cmp == RULE_CMP_RANGE || r->dsize_cmp == RULE_CMP_OUTSIDE)
		FUZZ_CHECK(r->dsize_a <= r->dsize_b);
	FUZZ_CHECK(!isnan(r->value_a) && !isnan(r->value_b));
	FUZZ_CHECK((r->loc_part == RULE_LOC_NONE) == (r->loc_glob == NULL));
	FUZZ_CHECK(r->loc_glob == NULL || r->loc_glob[0] != '\0');
	/* Disabled only for the documented reasons. */
	FUZZ_CHECK(!r->disabled ||
		   (r->n_metrics == 0 && (r->value_cmp != RULE_CMP_NONE || r->loc_part != 0)));
	FUZZ_CHECK(r->delay_ms <= 24u * 3600 * 1000);
	FUZZ_CHECK(r->escalate.after_ms == 0 || r->escalate.priority > r->priority);
	FUZZ_CHECK(r->threshold.type == RULE_THRESHOLD_NONE ||
		   (r->threshold.count >= 1 && r->threshold.seconds >= 1));
	FUZZ_CHECK(ri->hdr.proto == r->proto && ri->hdr.bidirectional == r->bidirectional);
	FUZZ_CHECK(v4_ok(&ri->hdr.src) && v4_ok(&ri->hdr.dst));
	FUZZ_CHECK(ports_ok(&ri->hdr.sport) && ports_ok(&ri->hdr.dport));
	FUZZ_CHECK(ri->first_pattern + r->n_patterns <= set->n_patterns);
	for (unsigned k = 0; k < r->n_patterns; k++) {
		const struct rule_pattern *p = &set->patterns[ri->first_pattern + k];

		FUZZ_CHECK(p->rule == i && p->expr != NULL && p->expr[0] != '\0');
		FUZZ_CHECK(p->shown != NULL && (p->flags & HS_FLAG_SINGLEMATCH));
		FUZZ_CHECK(p->max_offset == 0 || p->min_offset <= p->max_offset);
		FUZZ_CHECK(p->line >= r->line && p->col >= 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct rule_var vars[] = {
		{"HOME_NET", "[10.0.0.0/8, fd00::/8]"},
		{"HL7_PORTS", "[2575, 5000:5010]"},
	};
	char *text = malloc(size + (size == 0)); /* exactly size bytes (one for empty input) */
	struct rule_source src = {.name = "fuzz.rules", .len = size};
	struct rule_load_opts o = {
		.sources = &src,
		.n_sources = 1,
		.vars = vars,
		.n_vars = 2,
		.max_errors = MAX_ERRORS,
		.no_compile = true,
	};
	struct rule_set *set = NULL;
	struct rule_diags d = {0};
	unsigned total = 0;
	int ret;

	FUZZ_CHECK(text != NULL);
	if (size > 0)
		memcpy(text, data, size);
	src.text = text;
	ret = rule_set_load(&o, &set, &d);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ENOENT || ret == -EACCES || ret == -EIO);
	FUZZ_CHECK((ret == 0) == (set != NULL));
	FUZZ_CHECK((ret == 0) == (d.n_errors == 0));
	check_diags(&d, text, size);
	if (set != NULL) {
		for (unsigned i = 0; i < rule_set_count(set); i++) {
			check_rule(set, i);
			total += set->rules[i].pub.n_patterns;
		}
		FUZZ_CHECK(total == set->n_patterns);
		FUZZ_CHECK(rule_set_info(set)->n_rules == rule_set_count(set));
	}
	rule_diags_print(&d, devnull);
	rule_set_free(set);
	rule_diags_free(&d);
	free(text);
	return 0;
}
