/*
 * compile.c - rule_compile(): turn parsed rules into what rule_eval needs.
 *
 * The evaluator must do as little as possible per message, so everything
 * that does not depend on the message is decided here, once per load:
 *
 *  - header classes: rules that share a header (proto, direction, the same
 *    address and port ranges) share one class, and the evaluator decides a
 *    class at most once per message however many rules use it;
 *  - the always list: rules with neither patterns nor metrics (header-only,
 *    dsize, malformed, acl), checked on a datagram's first message;
 *  - the metric index: for each MDC code, the pattern-less metric rules that
 *    name it, so an observation only meets the rules about its metric;
 *  - the source index of the always list and of each metric slot (scope.c),
 *    so a message only meets the scoped rules of its own source;
 *  - a sid index for rule_set_find();
 *  - the set's hash, its version;
 *  - one Hyperscan block-mode database of every content and pcre, from the
 *    on-disk cache (cache.c) when it has it, and the prototype scratch each
 *    worker clones.
 *
 * Disabled rules are in none of these: they can never fire. Their patterns
 * stay in rule_set.patterns (ids are pattern indexes, so nothing needs
 * renumbering) but are left out of the database: hs_compile_ext_multi()
 * takes an id per expression, and the ids of the compiled ones are still
 * their indexes in rule_set.patterns. Identical patterns of several rules
 * (an event code, a ward) are compiled once, under the first one's id,
 * the others chained to it: a large ruleset repeats itself, and each copy
 * would cost Hyperscan a match callback.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "rule_private.h"

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned
max_errors(const struct rule_load_opts *opts)
{
	return opts->max_errors ? opts->max_errors : RULE_MAX_ERRORS_DEFAULT;
}

/* ---------------------------------------------------------------------------
 * The sid index
 * ------------------------------------------------------------------------- */

static int
sid_cmp(const void *a, const void *b, void *arg)
{
	const struct rule_set *set = arg;
	uint32_t x = set->rules[*(const unsigned *)a].pub.sid;
	uint32_t y = set->rules[*(const unsigned *)b].pub.sid;

	if (x != y)
		return x < y ? -1 : 1;
	return *(const unsigned *)a < *(const unsigned *)b ? -1 : 1;
}

/* Every rule, disabled ones too: rule_set_find() is a lookup, not evaluation. */
static int
build_sid_index(struct rule_set *set)
{
	if (set->n_rules == 0)
		return 0;
	set->by_sid = malloc(set->n_rules * sizeof(*set->by_sid));
	if (set->by_sid == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < set->n_rules; i++)
		set->by_sid[i] = i;
	qsort_r(set->by_sid, set->n_rules, sizeof(*set->by_sid), sid_cmp, set);
	return 0;
}

/* ---------------------------------------------------------------------------
 * Header classes
 * ------------------------------------------------------------------------- */

static int
cmp_uint(unsigned a, unsigned b)
{
	return a == b ? 0 : a < b ? -1 : 1;
}

/* A total order over range arrays; the structs have no padding, so memcmp is exact. */
static int
addrset_cmp(const struct rule_addrset *a, const struct rule_addrset *b)
{
	int c;

	if ((c = cmp_uint(a->n4, b->n4)) != 0 || (c = cmp_uint(a->n6, b->n6)) != 0)
		return c;
	if (a->n4 > 0 && (c = memcmp(a->v4, b->v4, a->n4 * sizeof(*a->v4))) != 0)
		return c;
	if (a->n6 > 0 && (c = memcmp(a->v6, b->v6, a->n6 * sizeof(*a->v6))) != 0)
		return c;
	return 0;
}

static int
portset_cmp(const struct rule_portset *a, const struct rule_portset *b)
{
	int c = cmp_uint(a->n, b->n);

	if (c == 0 && a->n > 0)
		c = memcmp(a->r, b->r, a->n * sizeof(*a->r));
	return c;
}

static int
header_cmp(const struct rule_header *a, const struct rule_header *b)
{
	int c;

	if ((c = cmp_uint(a->proto, b->proto)) != 0 ||
	    (c = cmp_uint(a->bidirectional, b->bidirectional)) != 0 ||
	    (c = addrset_cmp(&a->src, &b->src)) != 0 || (c = addrset_cmp(&a->dst, &b->dst)) != 0 ||
	    (c = portset_cmp(&a->sport, &b->sport)) != 0)
		return c;
	return portset_cmp(&a->dport, &b->dport);
}

static int
rule_header_order(const void *a, const void *b, void *arg)
{
	const struct rule_set *set = arg;
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	int c = header_cmp(&set->rules[x].hdr, &set->rules[y].hdr);

	return c != 0 ? c : cmp_uint(x, y);
}

/*
 * Sort the enabled rules by header and give each run of equal headers one
 * class. The classes are then numbered by their first rule, so the
 * numbering follows the files rather than the sort.
 */
static int
build_classes(struct rule_set *set)
{
	unsigned *order = NULL, *remap = NULL, n = 0, n_classes = 0;
	int rc = -ENOMEM;

	for (unsigned i = 0; i < set->n_rules; i++)
		set->rules[i].hdr_class = UINT_MAX;
	if (set->n_rules == 0)
		return 0;
	order = malloc(set->n_rules * sizeof(*order));
	remap = malloc(set->n_rules * sizeof(*remap));
	if (order == NULL || remap == NULL)
		goto out;
	for (unsigned i = 0; i < set->n_rules; i++)
		if (!set->rules[i].pub.disabled)
			order[n++] = i;
	if (n == 0) {
		rc = 0;
		goto out;
	}
	qsort_r(order, n, sizeof(*order), rule_header_order, set);
	/* Provisional classes in sort order. */
	for (unsigned i = 0; i < n; i++) {
		if (i > 0 &&
		    header_cmp(&set->rules[order[i - 1]].hdr, &set->rules[order[i]].hdr) != 0)
			n_classes++;
		set->rules[order[i]].hdr_class = n_classes;
	}
	n_classes++;
	set->classes = calloc(n_classes, sizeof(*set->classes));
	if (set->classes == NULL)
		goto out;
	/* Renumber by first appearance in load order. */
	for (unsigned c = 0; c < n_classes; c++)
		remap[c] = UINT_MAX;
	set->n_classes = 0;
	for (unsigned i = 0; i < set->n_rules; i++) {
		struct rule_int *r = &set->rules[i];

		if (r->pub.disabled)
			continue;
		if (remap[r->hdr_class] == UINT_MAX) {
			remap[r->hdr_class] = set->n_classes;
			set->classes[set->n_classes++] = &r->hdr;
		}
		r->hdr_class = remap[r->hdr_class];
	}
	rc = 0;
out:
	free(order);
	free(remap);
	return rc;
}

/* ---------------------------------------------------------------------------
 * The always list and the metric index
 * ------------------------------------------------------------------------- */

static int
build_always(struct rule_set *set)
{
	unsigned n = 0;

	for (unsigned i = 0; i < set->n_rules; i++) {
		const struct rule *r = &set->rules[i].pub;

		n += !r->disabled && r->n_patterns == 0 && r->n_metrics == 0;
	}
	if (n == 0)
		return 0;
	set->always = malloc(n * sizeof(*set->always));
	if (set->always == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < set->n_rules; i++) {
		const struct rule *r = &set->rules[i].pub;

		if (!r->disabled && r->n_patterns == 0 && r->n_metrics == 0)
			set->always[set->n_always++] = i;
	}
	return 0;
}

struct code_rule {
	uint32_t code;
	unsigned rule;
};

static int
code_rule_cmp(const void *a, const void *b)
{
	const struct code_rule *x = a, *y = b;

	if (x->code != y->code)
		return x->code < y->code ? -1 : 1;
	return cmp_uint(x->rule, y->rule);
}

/* A code listed twice in one rule must not make it fire twice. */
static bool
listed_before(const struct rule *r, unsigned k)
{
	for (unsigned j = 0; j < k; j++)
		if (r->metric[j] == r->metric[k])
			return true;
	return false;
}

/*
 * Pattern-less metric rules by code. A rule with patterns reaches the
 * observations through the scan's candidates instead, so it is not here.
 */
static int
build_metric_index(struct rule_set *set)
{
	struct code_rule *pairs = NULL;
	const struct rule *r;
	unsigned n = 0, k = 0;
	int rc = -ENOMEM;

	/* Every metric rule's value unit: its metrics share one (the parser
	 * holds them to it), so the first metric's says it. */
	for (unsigned i = 0; i < set->n_rules; i++) {
		const struct rule_metric *m;

		r = &set->rules[i].pub;
		m = r->n_metrics > 0 ? rule_metric_by_code(r->metric[0]) : NULL;
		set->rules[i].value_unit = m != NULL ? m->unit : 0;
		if (!r->disabled && r->n_patterns == 0)
			n += r->n_metrics;
	}
	if (n == 0)
		return 0;
	pairs = malloc(n * sizeof(*pairs));
	set->metric_rules = malloc(n * sizeof(*set->metric_rules));
	set->metric_preds = malloc(n * sizeof(*set->metric_preds));
	set->metric_slots = malloc(n * sizeof(*set->metric_slots));
	if (pairs == NULL || set->metric_rules == NULL || set->metric_preds == NULL ||
	    set->metric_slots == NULL)
		goto out;
	for (unsigned i = 0; i < set->n_rules; i++) {
		r = &set->rules[i].pub;
		if (r->disabled || r->n_patterns > 0)
			continue;
		for (unsigned m = 0; m < r->n_metrics && m < RULE_MAX_METRICS; m++)
			if (!listed_before(r, m))
				pairs[k++] = (struct code_rule){.code = r->metric[m], .rule = i};
	}
	qsort(pairs, k, sizeof(*pairs), code_rule_cmp);
	for (unsigned i = 0; i < k; i++) {
		struct rule_metric_slot *slot;

		if (set->n_metric_slots == 0 ||
		    set->metric_slots[set->n_metric_slots - 1].code != pairs[i].code) {
			slot = &set->metric_slots[set->n_metric_slots++];
			slot->code = pairs[i].code;
			slot->first = i;
			slot->n = 0;
			memset(&slot->scope, 0, sizeof(slot->scope));
		}
		set->metric_slots[set->n_metric_slots - 1].n++;
		set->metric_rules[i] = pairs[i].rule;
		r = &set->rules[pairs[i].rule].pub;
		set->metric_preds[i] = (struct rule_mpred){
			.a = r->value_a, .b = r->value_b, .cmp = r->value_cmp, .valid = r->valid};
	}
	set->n_metric_rules = k;
	rc = 0;
out:
	free(pairs);
	return rc;
}

/* Index the always list and each metric slot by source address (scope.c). */
static int
build_scopes(struct rule_set *set)
{
	int rc = rule_scope_build(&set->always_scope, set, set->always, 0, set->n_always);

	for (unsigned i = 0; rc == 0 && i < set->n_metric_slots; i++) {
		struct rule_metric_slot *slot = &set->metric_slots[i];

		rc = rule_scope_build(&slot->scope, set, set->metric_rules, slot->first, slot->n);
	}
	return rc;
}

/* ---------------------------------------------------------------------------
 * The set's hash
 * ------------------------------------------------------------------------- */

/* A SHA-256 fed piece by piece; the first failure sticks. */
struct digest {
	EVP_MD_CTX *ctx;
	bool bad;
};

static void
digest_add(struct digest *d, const void *p, size_t n)
{
	if (!d->bad && n > 0 && EVP_DigestUpdate(d->ctx, p, n) != 1)
		d->bad = true;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * A rule's text with every run of whitespace outside quotes made one space
 * and none at either end, so re-indenting a file or folding a rule over
 * continuation lines keeps the version. A backslash before a newline
 * (a continuation left in the text) counts as whitespace.
 */
static void
digest_rule_text(struct digest *d, const char *text)
{
	bool quoted = false, pending = false, started = false;

	for (const char *p = text; p != NULL && *p != '\0'; p++) {
		char c = *p;

		if (!quoted && (is_space(c) || (c == '\\' && (p[1] == '\n' || p[1] == '\r')))) {
			pending = started;
			continue;
		}
		if (pending)
			digest_add(d, " ", 1);
		pending = false;
		started = true;
		digest_add(d, p, 1);
		if (quoted && c == '\\' && p[1] != '\0') {
			digest_add(d, ++p, 1);
			continue;
		}
		if (c == '"')
			quoted = !quoted;
	}
	digest_add(d, "\n", 1);
}

static int
var_cmp(const void *a, const void *b)
{
	const struct rule_var *x = a, *y = b;

	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static void
digest_ranges(struct digest *d, const struct rule_header *h)
{
	const struct rule_addrset *as[2] = {&h->src, &h->dst};
	const struct rule_portset *ps[2] = {&h->sport, &h->dport};
	uint8_t head[2] = {h->proto, h->bidirectional};

	digest_add(d, head, sizeof(head));
	for (unsigned i = 0; i < 2; i++) {
		unsigned n[3] = {as[i]->n4, as[i]->n6, ps[i]->n};

		digest_add(d, n, sizeof(n));
		digest_add(d, as[i]->v4, as[i]->n4 * sizeof(*as[i]->v4));
		digest_add(d, as[i]->v6, as[i]->n6 * sizeof(*as[i]->v6));
		digest_add(d, ps[i]->r, ps[i]->n * sizeof(*ps[i]->r));
	}
}

/*
 * info.hash: SHA-256 over each rule's normalized text, one per line in load
 * order, then the config's variables as NAME=VALUE lines (sorted by name,
 * so reordering the config is not a new version). Last, each rule's
 * resolved address and port ranges: a file's `var` is not in any rule's
 * text, and changing it must change the version too.
 */
static int
set_hash(struct rule_set *set, const struct rule_load_opts *opts)
{
	static const char digits[] = "0123456789abcdef";
	struct digest d = {.ctx = EVP_MD_CTX_new(), .bad = false};
	struct rule_var *vars = NULL;
	uint8_t sum[32];
	unsigned int len = 0;
	int rc = -ENOMEM;

	if (d.ctx == NULL)
		return -ENOMEM;
	if (EVP_DigestInit_ex(d.ctx, EVP_sha256(), NULL) != 1)
		goto out;
	for (unsigned i = 0; i < set->n_rules; i++)
		digest_rule_text(&d, set->rules[i].pub.text);
	if (opts->n_vars > 0) {
		vars = malloc(opts->n_vars * sizeof(*vars));
		if (vars == NULL)
			goto out;
		memcpy(vars, opts->vars, opts->n_vars * sizeof(*vars));
		qsort(vars, opts->n_vars, sizeof(*vars), var_cmp);
		for (unsigned i = 0; i < opts->n_vars; i++) {
			const char *name = vars[i].name ? vars[i].name : "";
			const char *value = vars[i].value ? vars[i].value : "";

			digest_add(&d, name, strlen(name));
			digest_add(&d, "=", 1);
			digest_add(&d, value, strlen(value));
			digest_add(&d, "\n", 1);
		}
	}
	for (unsigned i = 0; i < set->n_rules; i++)
		digest_ranges(&d, &set->rules[i].hdr);
	if (d.bad || EVP_DigestFinal_ex(d.ctx, sum, &len) != 1 || len != sizeof(sum))
		goto out;
	for (unsigned i = 0; i < 32; i++) {
		set->info.hash[2 * i] = digits[sum[i] >> 4];
		set->info.hash[2 * i + 1] = digits[sum[i] & 15];
	}
	set->info.hash[64] = '\0';
	rc = 0;
out:
	free(vars);
	EVP_MD_CTX_free(d.ctx);
	return rc;
}

/* ---------------------------------------------------------------------------
 * Hyperscan's errors, back to the rule
 * ------------------------------------------------------------------------- */

/* Line @p line (1-based) of @p text, without its newline; NULL if it has none. */
static const char *
line_of(const char *text, size_t len, unsigned line, size_t *line_len)
{
	const char *p = text, *end = text + len;

	for (unsigned l = 1; l < line && p < end; l++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			return NULL;
		p = nl + 1;
	}
	if (p >= end && line > 1)
		return NULL;
	*line_len = (size_t)(end - p);
	if (memchr(p, '\n', *line_len) != NULL)
		*line_len = (size_t)((const char *)memchr(p, '\n', *line_len) - p);
	if (*line_len > 0 && p[*line_len - 1] == '\r')
		(*line_len)--;
	return p;
}

/*
 * The source line a diagnostic points into, for its caret: from the
 * in-memory source of that name, else from the file. NULL when neither
 * has it (the diagnostic is then printed without the line). Malloc'd.
 */
static char *
source_line(const struct rule_load_opts *opts, const char *file, unsigned line)
{
	const char *text = NULL, *p;
	char *buf = NULL, *copy = NULL;
	size_t len = 0, cap = 0, n;
	FILE *f;

	if (file == NULL || line == 0)
		return NULL;
	for (unsigned i = 0; i < opts->n_sources && text == NULL; i++)
		if (opts->sources[i].name != NULL && strcmp(opts->sources[i].name, file) == 0) {
			text = opts->sources[i].text;
			len = opts->sources[i].len;
		}
	if (text == NULL) {
		f = fopen(file, "re");
		if (f == NULL)
			return NULL;
		for (unsigned l = 0; l < line; l++) {
			ssize_t got = getline(&buf, &cap, f);

			if (got < 0) {
				free(buf);
				buf = NULL;
				break;
			}
			len = (size_t)got;
		}
		fclose(f);
		if (buf == NULL)
			return NULL;
		text = buf;
		line = 1;
	}
	p = line_of(text, len, line, &n);
	if (p != NULL) {
		copy = malloc(n + 1);
		if (copy != NULL) {
			memcpy(copy, p, n);
			copy[n] = '\0';
		}
	}
	free(buf);
	return copy;
}

/*
 * Report Hyperscan's refusal of the compiled patterns. @p map gives the
 * pattern index of each compiled expression. A refusal that names an
 * expression points at its rule's option; one that does not is the whole
 * database's (too large, out of memory, the platform).
 */
static int
report_compile_error(const struct rule_set *set, const struct rule_load_opts *opts,
		     struct rule_diags *diags, const hs_compile_error_t *err, const unsigned *map,
		     unsigned n)
{
	const char *msg = err != NULL && err->message != NULL ? err->message : "unknown error";
	const struct rule_pattern *p;
	const struct rule *r;
	char *line;
	int rc;

	if (err == NULL || err->expression < 0 || (unsigned)err->expression >= n) {
		const char *file = set->n_rules > 0 ? set->rules[0].pub.file : NULL;

		rc = rule_diag_add(diags, max_errors(opts), RULE_DIAG_ERROR,
				   file ? file : "(rules)", 0, 0, NULL, 0,
				   "Hyperscan cannot build the database: %s", msg);
		return rc < 0 ? rc : -EPROTO;
	}
	p = &set->patterns[map[err->expression]];
	r = &set->rules[p->rule].pub;
	line = source_line(opts, r->file, p->line);
	rc = rule_diag_add(diags, max_errors(opts), RULE_DIAG_ERROR, r->file, p->line, p->col, line,
			   line ? strlen(line) : 0, "Hyperscan cannot compile %s: %s",
			   p->shown ? p->shown : p->expr, msg);
	free(line);
	return rc < 0 ? rc : -EINVAL;
}

/* ---------------------------------------------------------------------------
 * The database
 * ------------------------------------------------------------------------- */

static bool
pattern_live(const struct rule_set *set, const struct rule_pattern *p)
{
	return !(p->rule < set->n_rules && set->rules[p->rule].pub.disabled);
}

static const struct rule_pattern *sort_base;

/* By what Hyperscan compiles (expression, flags, offsets), then by index. */
static int
pattern_cmp(const void *a, const void *b)
{
	unsigned i = *(const unsigned *)a, j = *(const unsigned *)b;
	const struct rule_pattern *x = &sort_base[i], *y = &sort_base[j];
	int c = strcmp(x->expr, y->expr);

	if (c != 0)
		return c;
	if (x->flags != y->flags)
		return x->flags < y->flags ? -1 : 1;
	if (x->min_offset != y->min_offset)
		return x->min_offset < y->min_offset ? -1 : 1;
	if (x->max_offset != y->max_offset)
		return x->max_offset < y->max_offset ? -1 : 1;
	return i < j ? -1 : i > j;
}

/* Chain identical live patterns to the first of them (see the top). */
static int
share_patterns(struct rule_set *set)
{
	unsigned *order, n = 0;

	for (unsigned i = 0; i < set->n_patterns; i++) {
		set->patterns[i].shared = false;
		set->patterns[i].same_next = UINT_MAX;
	}
	if (set->n_patterns < 2)
		return 0;
	order = malloc(set->n_patterns * sizeof(*order));
	if (order == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < set->n_patterns; i++)
		if (pattern_live(set, &set->patterns[i]))
			order[n++] = i;
	sort_base = set->patterns; /* loading runs on one thread */
	qsort(order, n, sizeof(*order), pattern_cmp);
	for (unsigned k = 1; k < n; k++) {
		struct rule_pattern *prev = &set->patterns[order[k - 1]];
		struct rule_pattern *cur = &set->patterns[order[k]];

		if (strcmp(prev->expr, cur->expr) != 0 || prev->flags != cur->flags ||
		    prev->min_offset != cur->min_offset || prev->max_offset != cur->max_offset)
			continue;
		prev->same_next = order[k];
		cur->shared = true;
	}
	free(order);
	return 0;
}

/* Compile the patterns of the enabled rules; ids are pattern indexes. */
static int
compile_database(struct rule_set *set, const struct rule_load_opts *opts, struct rule_diags *diags,
		 const hs_platform_info_t *plat, hs_database_t **db)
{
	const char **exprs = NULL;
	unsigned *flags = NULL, *ids = NULL, n = 0;
	hs_expr_ext_t *ext = NULL;
	const hs_expr_ext_t **extp = NULL;
	hs_compile_error_t *err = NULL;
	uint64_t t0;
	hs_error_t he;
	int rc = -ENOMEM;

	exprs = calloc(set->n_patterns, sizeof(*exprs));
	flags = calloc(set->n_patterns, sizeof(*flags));
	ids = calloc(set->n_patterns, sizeof(*ids));
	ext = calloc(set->n_patterns, sizeof(*ext));
	extp = calloc(set->n_patterns, sizeof(*extp));
	if (exprs == NULL || flags == NULL || ids == NULL || ext == NULL || extp == NULL)
		goto out;
	for (unsigned i = 0; i < set->n_patterns; i++) {
		const struct rule_pattern *p = &set->patterns[i];

		if (!pattern_live(set, p) || p->shared)
			continue;
		exprs[n] = p->expr;
		flags[n] = p->flags;
		ids[n] = i;
		if (p->min_offset > 0) {
			ext[n].flags |= HS_EXT_FLAG_MIN_OFFSET;
			ext[n].min_offset = p->min_offset;
		}
		if (p->max_offset > 0) {
			ext[n].flags |= HS_EXT_FLAG_MAX_OFFSET;
			ext[n].max_offset = p->max_offset;
		}
		extp[n] = ext[n].flags ? &ext[n] : NULL;
		n++;
	}
	t0 = now_ns();
	he = hs_compile_ext_multi(exprs, flags, ids, extp, n, HS_MODE_BLOCK, plat, db, &err);
	set->info.compile_ns = now_ns() - t0;
	if (he != HS_SUCCESS) {
		*db = NULL;
		rc = report_compile_error(set, opts, diags, err, ids, n);
		goto out;
	}
	rc = 0;
out:
	hs_free_compile_error(err);
	free(exprs);
	free(flags);
	free(ids);
	free(ext);
	free(extp);
	return rc;
}

static unsigned
count_compiled(const struct rule_set *set)
{
	unsigned n = 0;

	for (unsigned i = 0; i < set->n_patterns; i++) {
		const struct rule_pattern *p = &set->patterns[i];

		n += pattern_live(set, p) && !p->shared;
	}
	return n;
}

static bool
cache_wanted(const struct rule_load_opts *opts)
{
	return opts->cache_dir != NULL && opts->cache_dir[0] != '\0';
}

/*
 * The database, from the cache when it holds one for exactly these
 * patterns, else compiled and offered to the cache. A cache that cannot be
 * read or written costs a compile and a warning, never the load.
 */
static int
build_database(struct rule_set *set, const struct rule_load_opts *opts, struct rule_diags *diags)
{
	struct rule_set_info *info = &set->info;
	hs_platform_info_t plat;
	uint8_t key[32];
	bool use_cache = cache_wanted(opts);
	char note[sizeof(info->cache_note)] = "";
	hs_error_t he;
	uint64_t t0;
	int rc;

	info->cache = RULE_CACHE_OFF;
	info->n_patterns = count_compiled(set);
	if (info->n_patterns == 0)
		return 0;
	if (hs_populate_platform(&plat) != HS_SUCCESS) {
		rc = rule_diag_add(diags, max_errors(opts), RULE_DIAG_ERROR, "(rules)", 0, 0, NULL,
				   0, "Hyperscan does not support this platform");
		return rc < 0 ? rc : -EPROTO;
	}
	if (use_cache && rule_cache_key(set, &plat, key) < 0) {
		snprintf(info->cache_note, sizeof(info->cache_note),
			 "no cache: the cache key could not be computed");
		use_cache = false;
	}
	if (use_cache) {
		t0 = now_ns();
		rc = rule_cache_load(opts->cache_dir, key, &set->db, info->cache_path,
				     sizeof(info->cache_path), note, sizeof(note));
		info->cache_load_ns = now_ns() - t0;
		if (rc == 0) {
			info->cache = RULE_CACHE_HIT;
		} else if (rc == -ENOENT) {
			info->cache = RULE_CACHE_MISS;
		} else {
			info->cache = RULE_CACHE_REBUILT;
			snprintf(info->cache_note, sizeof(info->cache_note), "%s", note);
		}
	}
	if (set->db == NULL) {
		rc = compile_database(set, opts, diags, &plat, &set->db);
		if (rc < 0)
			return rc;
		if (use_cache &&
		    rule_cache_store(opts->cache_dir, key, set->db, note, sizeof(note)) < 0) {
			/* Keep the reason the old file was rejected, if there was one. */
			size_t used = strlen(info->cache_note);

			snprintf(info->cache_note + used, sizeof(info->cache_note) - used, "%s%s",
				 used ? "; not written: " : "", note);
			rc = rule_diag_add(diags, max_errors(opts), RULE_DIAG_WARNING,
					   opts->cache_dir, 0, 0, NULL, 0,
					   "the compiled rules could not be cached: %s "
					   "(loading goes on; the next load compiles again)",
					   note);
			if (rc < 0)
				return rc;
		}
	}
	he = hs_alloc_scratch(set->db, &set->proto);
	if (he != HS_SUCCESS) {
		set->proto = NULL;
		return he == HS_NOMEM ? -ENOMEM : -EPROTO;
	}
	if (hs_database_size(set->db, &info->db_bytes) != HS_SUCCESS)
		info->db_bytes = 0;
	if (hs_scratch_size(set->proto, &info->scratch_bytes) != HS_SUCCESS)
		info->scratch_bytes = 0;
	return 0;
}

/* ---------------------------------------------------------------------------
 * rule_compile
 * ------------------------------------------------------------------------- */

int
rule_compile(struct rule_set *set, const struct rule_load_opts *opts, struct rule_diags *diags)
{
	int rc;

	if ((rc = build_sid_index(set)) < 0 || (rc = build_classes(set)) < 0 ||
	    (rc = build_always(set)) < 0 || (rc = build_metric_index(set)) < 0 ||
	    (rc = build_scopes(set)) < 0 || (rc = set_hash(set, opts)) < 0)
		return rc;
	set->info.n_header_classes = set->n_classes;
	rc = share_patterns(set);
	if (rc < 0)
		return rc;
	rc = build_database(set, opts, diags);
	if (rc < 0)
		return rc;
	set->compiled = true;
	return 0;
}
