/*
 * test_rules_eval.c - unit tests of the rule compiler (rules/compile.c), its
 * database cache (rules/cache.c) and the evaluator (rules/eval.c).
 *
 * An evaluator that misses a boundary or a unit silences an alarm, and one
 * that fires wrongly trains staff to ignore alarms; both cost lives. So
 * every comparison is tried just below, at and just above each bound, and
 * every input any test makes goes through eval_both(), which runs
 * rule_eval() and its slow twin rule_explain() and requires the same
 * verdicts from both (which hits, in which order, which were suppressed),
 * and the counters that must follow from them. The rules are written as
 * text, as an operator writes them, and loaded through rule_set_load().
 *
 * Outside a sanitizer build the test binary also counts every malloc, to
 * show that rule_eval() allocates nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "cunit_main.h"
#include "rule_private.h"
#include "rules.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Codes (DOMAIN.md section 4). */
#define HR 147842u
#define PULSE 149530u
#define SPO2 150456u
#define NIBP_SYS 150021u
#define TEMP 150344u
#define PERCENT 262688u
#define MMHG 266016u
#define KPA 265987u
#define DEGC 268192u
#define FAHR 266560u

/* ---------------------------------------------------------------------------
 * Counting allocations (not under ASan, which owns malloc)
 * ------------------------------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_MALLOC 0
#else
#define COUNT_MALLOC 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);

static volatile int counting;
static volatile unsigned long n_allocs;

void *
malloc(size_t n)
{
	if (counting)
		n_allocs++;
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t size)
{
	if (counting)
		n_allocs++;
	return __libc_calloc(n, size);
}

void *
realloc(void *p, size_t n)
{
	if (counting)
		n_allocs++;
	return __libc_realloc(p, n);
}

int
posix_memalign(void **p, size_t align, size_t n)
{
	if (counting)
		n_allocs++;
	*p = __libc_memalign(align, n);
	return *p != NULL ? 0 : ENOMEM;
}

void *
aligned_alloc(size_t align, size_t n)
{
	if (counting)
		n_allocs++;
	return __libc_memalign(align, n);
}
#endif

/* ---------------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------------- */

struct fx {
	struct rule_set *set;
	struct rule_scratch *s;
	struct rule_diags d;
	_Atomic uint64_t c[RULE_CNT__COUNT];
	char out[4096];
};

static int
load_text(const char *text, const char *cache_dir, const struct rule_var *vars, unsigned n_vars,
	  bool no_compile, struct rule_set **set, struct rule_diags *d)
{
	struct rule_source src = {.name = "t.rules", .text = text, .len = strlen(text)};
	struct rule_load_opts o = {
		.sources = &src,
		.n_sources = 1,
		.vars = vars,
		.n_vars = n_vars,
		.cache_dir = cache_dir,
		.no_compile = no_compile,
	};

	memset(d, 0, sizeof(*d));
	return rule_set_load(&o, set, d);
}

/* Load @p text (it must load) and make a scratch for it. */
static bool
fx_load_at(struct fx *f, const char *text, const char *cache_dir, int line)
{
	int rc;

	memset(f, 0, sizeof(*f));
	rc = load_text(text, cache_dir, NULL, 0, false, &f->set, &f->d);
	if (rc != 0 || f->set == NULL) {
		fprintf(stderr, "\n  (test line %d) load: %d\n", line, rc);
		rule_diags_print(&f->d, stderr);
		CU_FAIL("the rules did not load");
		return false;
	}
	rc = rule_scratch_new(f->set, &f->s);
	CU_ASSERT_EQUAL(rc, 0);
	return rc == 0;
}

#define FX_LOAD(f, text) fx_load_at((f), (text), NULL, __LINE__)
#define FX_LOAD_CACHED(f, text, dir) fx_load_at((f), (text), (dir), __LINE__)

static void
fx_free(struct fx *f)
{
	rule_scratch_free(f->s);
	rule_set_free(f->set);
	rule_diags_free(&f->d);
	memset(f, 0, sizeof(*f));
}

static uint64_t
cnt(const struct fx *f, enum rule_counter c)
{
	return atomic_load(&f->c[c]);
}

static const struct rule_int *
rule_of(const struct rule_set *set, uint32_t sid)
{
	const struct rule *r = rule_set_find(set, sid);

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	return (const struct rule_int *)r;
}

/* ---------------------------------------------------------------------------
 * Inputs
 * ------------------------------------------------------------------------- */

/* An HL7 message from 10.1.2.3:40000 to 10.9.9.9:2575, its datagram's first. */
static struct rule_input
hl7(const char *payload)
{
	struct rule_input in = {
		.proto = RULE_PROTO_HL7,
		.ip_version = 4,
		.src = {10, 1, 2, 3},
		.dst = {10, 9, 9, 9},
		.sport = 40000,
		.dport = 2575,
		.first = true,
		.loc_sep = '^',
		.payload = (const uint8_t *)payload,
		.len = payload != NULL ? strlen(payload) : 0,
	};

	in.dsize = (uint32_t)in.len;
	return in;
}

static struct rule_obs
ob(uint32_t code, uint32_t unit, double value, uint32_t flags)
{
	return (struct rule_obs){.code = code, .unit = unit, .value = value, .flags = flags};
}

static void
set_v4(uint8_t *a, uint8_t x, uint8_t y, uint8_t z, uint8_t w)
{
	memset(a, 0, 16);
	a[0] = x;
	a[1] = y;
	a[2] = z;
	a[3] = w;
}

static void
set_v6(uint8_t *a, const char *text)
{
	CU_ASSERT_EQUAL_FATAL(inet_pton(AF_INET6, text, a), 1);
}

/* ---------------------------------------------------------------------------
 * rule_eval and rule_explain, side by side
 * ------------------------------------------------------------------------- */

struct xhit {
	unsigned rule;
	uint16_t obs;
};

struct collect {
	struct xhit hits[1024];
	unsigned n;
	unsigned passed;
	unsigned calls;
	bool overflow;
};

static void
collect_fn(void *arg, const struct rule *r, uint16_t obs, enum rule_why why, const char *detail)
{
	struct collect *x = arg;

	x->calls++;
	CU_ASSERT_PTR_NOT_NULL(detail);
	if (why == RULE_WHY_passed) {
		CU_ASSERT_NOT_EQUAL(r->action, RULE_ACTION_PASS);
		x->passed++;
		return;
	}
	if (why != RULE_WHY_match || r->action == RULE_ACTION_PASS)
		return;
	/* A metric rule's message verdict only says "the observations decide". */
	if (r->n_metrics > 0 && obs == RULE_HIT_MSG)
		return;
	if (x->n == ARRAY_SIZE(x->hits)) {
		x->overflow = true;
		return;
	}
	x->hits[x->n++] = (struct xhit){.rule = r->index, .obs = obs};
}

/* rules.h's order: message hits, then by observation; within a scope, rule order. */
static int
xhit_cmp(const void *a, const void *b)
{
	const struct xhit *x = a, *y = b;
	unsigned sx = x->obs == RULE_HIT_MSG ? 0 : x->obs + 1u;
	unsigned sy = y->obs == RULE_HIT_MSG ? 0 : y->obs + 1u;

	if (sx != sy)
		return sx < sy ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/*
 * Evaluate @p in both ways with room for @p max hits; check that they agree
 * and that the counters follow. Returns the hits as "sid sid@obs ...".
 */
static const char *
eval_max(struct fx *f, const struct rule_input *in, unsigned max)
{
	static struct collect x;
	struct rule_hit hits[512];
	uint64_t before[RULE_CNT__COUNT];
	unsigned n, alerts = 0, logs = 0, expect_n;
	size_t used = 0;
	int rc;

	CU_ASSERT_FATAL(max <= ARRAY_SIZE(hits));
	for (unsigned c = 0; c < RULE_CNT__COUNT; c++)
		before[c] = cnt(f, c);
	n = rule_eval(f->set, f->s, in, hits, max, f->c);
	CU_ASSERT(n <= max);

	memset(&x, 0, sizeof(x));
	rc = rule_explain(f->set, f->s, in, collect_fn, &x);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_FALSE(x.overflow);
	qsort(x.hits, x.n, sizeof(x.hits[0]), xhit_cmp);

	/* Same hits, same order; what did not fit is counted. */
	expect_n = x.n < max ? x.n : max;
	CU_ASSERT_EQUAL(n, expect_n);
	for (unsigned i = 0; i < n && i < expect_n; i++) {
		const struct rule_hit *h = &hits[i];

		CU_ASSERT_EQUAL(h->rule->index, x.hits[i].rule);
		CU_ASSERT_EQUAL(h->obs, x.hits[i].obs);
		if (h->obs == RULE_HIT_MSG) {
			CU_ASSERT_EQUAL(h->code, 0);
			CU_ASSERT(isnan(h->value));
		} else if (h->obs < in->n_obs) {
			CU_ASSERT_EQUAL(h->code, in->obs[h->obs].code);
			CU_ASSERT(memcmp(&h->value, &in->obs[h->obs].value, sizeof(double)) == 0);
		}
		CU_ASSERT_NOT_EQUAL(h->rule->action, RULE_ACTION_PASS);
		if (h->rule->action == RULE_ACTION_ALERT)
			alerts++;
		else
			logs++;
	}
	CU_ASSERT_EQUAL(cnt(f, RULE_CNT_messages) - before[RULE_CNT_messages], 1);
	CU_ASSERT_EQUAL(cnt(f, RULE_CNT_hits_overflow) - before[RULE_CNT_hits_overflow],
			x.n - expect_n);
	CU_ASSERT_EQUAL(cnt(f, RULE_CNT_passed) - before[RULE_CNT_passed], x.passed);
	CU_ASSERT_EQUAL(cnt(f, RULE_CNT_alerts) - before[RULE_CNT_alerts], alerts);
	CU_ASSERT_EQUAL(cnt(f, RULE_CNT_logs) - before[RULE_CNT_logs], logs);
	CU_ASSERT_EQUAL(cnt(f, RULE_CNT_scan_errors) - before[RULE_CNT_scan_errors], 0);

	f->out[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		int k;

		if (hits[i].obs == RULE_HIT_MSG)
			k = snprintf(f->out + used, sizeof(f->out) - used, "%s%u", i ? " " : "",
				     hits[i].rule->sid);
		else
			k = snprintf(f->out + used, sizeof(f->out) - used, "%s%u@%u", i ? " " : "",
				     hits[i].rule->sid, hits[i].obs);
		if (k < 0 || (size_t)k >= sizeof(f->out) - used)
			break;
		used += (size_t)k;
	}
	return f->out;
}

static const char *
eval_both(struct fx *f, const struct rule_input *in)
{
	return eval_max(f, in, 512);
}

/* One observation: the hits it gives. */
static const char *
eval_obs(struct fx *f, struct rule_obs o)
{
	struct rule_input in = hl7("MSH|");

	in.obs = &o;
	in.n_obs = 1;
	return eval_both(f, &in);
}

/* The explain verdict and detail of one rule and scope. */
struct one_why {
	uint32_t sid;
	uint16_t obs;
	enum rule_why why;
	char detail[256];
	bool seen;
};

static void
one_why_fn(void *arg, const struct rule *r, uint16_t obs, enum rule_why why, const char *detail)
{
	struct one_why *w = arg;

	if (r->sid != w->sid || obs != w->obs)
		return;
	w->seen = true;
	w->why = why;
	snprintf(w->detail, sizeof(w->detail), "%s", detail);
}

static struct one_why
explain_one(struct fx *f, const struct rule_input *in, uint32_t sid, uint16_t obs)
{
	struct one_why w = {.sid = sid, .obs = obs};

	CU_ASSERT_EQUAL(rule_explain(f->set, f->s, in, one_why_fn, &w), 0);
	CU_ASSERT_TRUE(w.seen);
	return w;
}

/* ---------------------------------------------------------------------------
 * Compiler
 * ------------------------------------------------------------------------- */

static void
test_header_classes(void)
{
	static const char text[] =
		"var NET 10.0.0.0/8\n"
		"alert hl7 $NET any -> any 2575 (metric:SPO2; value:<85; priority:high; sid:1;)\n"
		"alert hl7 10.0.0.0/8 any -> any 2575 (metric:HR; value:>150; priority:high; "
		"sid:2;)\n"
		"alert vtp 10.0.0.0/8 any -> any 2575 (metric:HR; value:>150; priority:high; "
		"sid:3;)\n"
		"alert hl7 10.0.0.0/8 any <> any 2575 (metric:HR; value:>150; priority:high; "
		"sid:4;)\n"
		"log hl7 [10.0.0.0/8] any -> any [2575] (content:\"X\"; sid:5;)\n"
		"log hl7 10.0.0.0/8 any -> any 2576 (content:\"X\"; sid:6;)\n"
		"log hl7 10.0.0.0/8 any -> any 2575 (value:<5; sid:7;)\n";
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	CU_ASSERT_EQUAL(rule_set_info(f.set)->n_header_classes, 4);
	CU_ASSERT_EQUAL(f.set->n_classes, 4);
	/* Numbered by first appearance. */
	CU_ASSERT_EQUAL(rule_of(f.set, 1)->hdr_class, 0);
	CU_ASSERT_EQUAL(rule_of(f.set, 2)->hdr_class, 0);
	CU_ASSERT_EQUAL(rule_of(f.set, 3)->hdr_class, 1);
	CU_ASSERT_EQUAL(rule_of(f.set, 4)->hdr_class, 2);
	CU_ASSERT_EQUAL(rule_of(f.set, 5)->hdr_class, 0);
	CU_ASSERT_EQUAL(rule_of(f.set, 6)->hdr_class, 3);
	/* Disabled: in no class. */
	CU_ASSERT_TRUE(rule_of(f.set, 7)->pub.disabled);
	CU_ASSERT_EQUAL(rule_of(f.set, 7)->hdr_class, UINT_MAX);
	CU_ASSERT_PTR_EQUAL(f.set->classes[0], &rule_of(f.set, 1)->hdr);
	CU_ASSERT_PTR_EQUAL(f.set->classes[3], &rule_of(f.set, 6)->hdr);
	{
		struct rule_input in = hl7("X");
		struct rule_obs o[2] = {ob(SPO2, 0, 80, 0), ob(HR, 0, 160, 0)};

		in.obs = o;
		in.n_obs = 2;
		CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "5 1@0 2@1 4@1");
		in.dport = 2576;
		CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "6");
	}
out:
	fx_free(&f);
}

static void
test_metric_index(void)
{
	static const char text[] =
		"alert hl7 any any -> any any (metric:HR,PULSE; value:>150; priority:high; "
		"sid:10;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:<85; priority:high; sid:11;)\n"
		"alert hl7 any any -> any any (metric:HR; content:\"ORU\"; value:>160; "
		"priority:high; sid:12;)\n"
		"log hl7 any any -> any any (metric:HR; sid:13;)\n"
		"log hl7 any any -> any any (metric:SPO2; location:ICU; sid:14;)\n"
		"log hl7 any any -> any any (location:ICU; sid:15;)\n"
		"log udp any any -> any any (dsize:>1000; sid:16;)\n"
		"alert hl7 any any -> any any (content:\"X\"; priority:low; sid:17;)\n";
	const struct rule_set *set;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	set = f.set;
	CU_ASSERT_EQUAL(rule_set_info(set)->n_metric_rules, 5);
	CU_ASSERT_EQUAL(rule_set_info(set)->n_patterns, 2);
	CU_ASSERT_EQUAL_FATAL(set->n_metric_slots, 3);
	CU_ASSERT_EQUAL(set->metric_slots[0].code, HR);
	CU_ASSERT_EQUAL(set->metric_slots[1].code, PULSE);
	CU_ASSERT_EQUAL(set->metric_slots[2].code, SPO2);
	CU_ASSERT_EQUAL_FATAL(set->metric_slots[0].n, 2);
	CU_ASSERT_EQUAL(set->metric_rules[set->metric_slots[0].first], 0);
	CU_ASSERT_EQUAL(set->metric_rules[set->metric_slots[0].first + 1], 3);
	CU_ASSERT_EQUAL_FATAL(set->metric_slots[1].n, 1);
	CU_ASSERT_EQUAL(set->metric_rules[set->metric_slots[1].first], 0);
	CU_ASSERT_EQUAL_FATAL(set->metric_slots[2].n, 2);
	CU_ASSERT_EQUAL(set->metric_rules[set->metric_slots[2].first], 1);
	CU_ASSERT_EQUAL(set->metric_rules[set->metric_slots[2].first + 1], 4);
	CU_ASSERT_EQUAL(set->n_metric_rules, 5);
	/* Only the rule with neither patterns nor metrics is always checked. */
	CU_ASSERT_EQUAL_FATAL(set->n_always, 1);
	CU_ASSERT_EQUAL(set->always[0], 6);
	CU_ASSERT_TRUE(rule_of(set, 15)->pub.disabled);
	{
		struct rule_input in = hl7("MSH|ORU");
		struct rule_obs o[3] = {ob(HR, 0, 170, 0), ob(PULSE, 0, 155, 0),
					ob(SPO2, 0, 80, 0)};

		in.obs = o;
		in.n_obs = 3;
		CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "10@0 12@0 13@0 10@1 11@2");
		in.dsize = 1001;
		in.payload = (const uint8_t *)"X";
		in.len = 1;
		CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "16 17 10@0 13@0 10@1 11@2");
	}
out:
	fx_free(&f);
}

static void
test_sid_lookup(void)
{
	static const char text[] = "log hl7 any any -> any any (content:\"A\"; sid:30;)\n"
				   "log hl7 any any -> any any (content:\"B\"; sid:10;)\n"
				   "log hl7 any any -> any any (value:<1; sid:20;)\n"
				   "log hl7 any any -> any any (content:\"C\"; sid:4000000000;)\n"
				   "log hl7 any any -> any any (content:\"D\"; sid:1;)\n";
	static const uint32_t sids[] = {30, 10, 20, 4000000000u, 1};
	static const uint32_t absent[] = {0, 2, 11, 29, 31, 3999999999u, UINT32_MAX};

	for (int no_compile = 0; no_compile <= 1; no_compile++) {
		struct rule_set *set = NULL;
		struct rule_diags d;

		CU_ASSERT_EQUAL_FATAL(load_text(text, NULL, NULL, 0, no_compile, &set, &d), 0);
		CU_ASSERT_EQUAL(set->by_sid == NULL, no_compile == 1);
		for (unsigned i = 0; i < ARRAY_SIZE(sids); i++) {
			const struct rule *r = rule_set_find(set, sids[i]);

			CU_ASSERT_PTR_NOT_NULL_FATAL(r);
			CU_ASSERT_EQUAL(r->sid, sids[i]);
			CU_ASSERT_EQUAL(r->index, i);
			CU_ASSERT_PTR_EQUAL(rule_set_rule(set, i), r);
		}
		/* A disabled rule is still found: it is in the set. */
		CU_ASSERT_TRUE(rule_set_find(set, 20)->disabled);
		for (unsigned i = 0; i < ARRAY_SIZE(absent); i++)
			CU_ASSERT_PTR_NULL(rule_set_find(set, absent[i]));
		CU_ASSERT_PTR_NULL(rule_set_rule(set, 5));
		CU_ASSERT_EQUAL(rule_set_count(set), 5);
		rule_set_free(set);
		rule_diags_free(&d);
	}
}

static void
hash_of(const char *text, const struct rule_var *vars, unsigned n_vars, char hash[65])
{
	struct rule_set *set = NULL;
	struct rule_diags d;
	int rc = load_text(text, NULL, vars, n_vars, false, &set, &d);

	CU_ASSERT_EQUAL(rc, 0);
	if (rc != 0)
		rule_diags_print(&d, stderr);
	hash[0] = '\0';
	if (set != NULL) {
		memcpy(hash, rule_set_info(set)->hash, 65);
		CU_ASSERT_EQUAL(strlen(hash), 64);
		CU_ASSERT_EQUAL(strspn(hash, "0123456789abcdef"), 64);
	}
	rule_set_free(set);
	rule_diags_free(&d);
}

static void
test_hash(void)
{
	static const char a[] = "var NET 10.0.0.0/8\n"
				"alert hl7 $NET any -> any 2575 (msg:\"SpO2  low\"; metric:SPO2; "
				"value:<85; priority:high; sid:1;)\n"
				"log hl7 any any -> any any (content:\"A B\"; sid:2;)\n";
	/* The same rules, spaced and folded differently, with comments. */
	static const char a2[] = "# a comment\n"
				 "var NET 10.0.0.0/8\n"
				 "\n"
				 "   alert  hl7\t$NET any ->  any 2575   (msg:\"SpO2  low\"; \\\n"
				 "      metric:SPO2;  value:<85; \\\n"
				 "\tpriority:high; sid:1;)   \n"
				 "log hl7 any any -> any any (content:\"A B\";  sid:2;)\n";
	/* Whitespace inside quotes is the rule's meaning. */
	static const char b[] = "var NET 10.0.0.0/8\n"
				"alert hl7 $NET any -> any 2575 (msg:\"SpO2 low\"; metric:SPO2; "
				"value:<85; priority:high; sid:1;)\n"
				"log hl7 any any -> any any (content:\"A B\"; sid:2;)\n";
	static const char c[] = "var NET 10.0.0.0/8\n"
				"alert hl7 $NET any -> any 2575 (msg:\"SpO2  low\"; metric:SPO2; "
				"value:<86; priority:high; sid:1;)\n"
				"log hl7 any any -> any any (content:\"A B\"; sid:2;)\n";
	/* The same text, another value for the file's variable. */
	static const char e[] = "var NET 10.0.0.0/16\n"
				"alert hl7 $NET any -> any 2575 (msg:\"SpO2  low\"; metric:SPO2; "
				"value:<85; priority:high; sid:1;)\n"
				"log hl7 any any -> any any (content:\"A B\"; sid:2;)\n";
	static const struct rule_var v1[] = {{"X", "1.2.3.4"}, {"Y", "2575"}};
	static const struct rule_var v2[] = {{"Y", "2575"}, {"X", "1.2.3.4"}};
	static const struct rule_var v3[] = {{"X", "1.2.3.5"}, {"Y", "2575"}};
	char ha[65], ha2[65], hb[65], hc[65], he[65], hv1[65], hv2[65], hv3[65], again[65];

	hash_of(a, NULL, 0, ha);
	hash_of(a2, NULL, 0, ha2);
	hash_of(b, NULL, 0, hb);
	hash_of(c, NULL, 0, hc);
	hash_of(e, NULL, 0, he);
	hash_of(a, v1, 2, hv1);
	hash_of(a, v2, 2, hv2);
	hash_of(a, v3, 2, hv3);
	hash_of(a, NULL, 0, again);
	CU_ASSERT_STRING_EQUAL(ha, again);
	CU_ASSERT_STRING_EQUAL(ha, ha2);
	CU_ASSERT_STRING_NOT_EQUAL(ha, hb);
	CU_ASSERT_STRING_NOT_EQUAL(ha, hc);
	CU_ASSERT_STRING_NOT_EQUAL(ha, he);
	CU_ASSERT_STRING_NOT_EQUAL(ha, hv1);
	CU_ASSERT_STRING_EQUAL(hv1, hv2);
	CU_ASSERT_STRING_NOT_EQUAL(hv1, hv3);
}

/*
 * Hyperscan's per-expression check (parse.c) and its multi compile agree on
 * every pattern a rule can express, so the refusal is provoked by editing a
 * parsed pattern into one that matches the empty buffer, then compiling:
 * the error must come back at the pattern's file, line and column.
 */
static void
test_compile_error_mapping(void)
{
	static const char text[] = "log hl7 any any -> any any (content:\"A\"; sid:1;)\n"
				   "\n"
				   "log hl7 any any -> any any (msg:\"x\"; \\\n"
				   "    pcre:\"/abc/i\"; sid:2;)\n";
	struct rule_source src = {.name = "t.rules", .text = text, .len = strlen(text)};
	struct rule_load_opts o = {.sources = &src, .n_sources = 1, .no_compile = true};
	struct rule_set *set = NULL;
	struct rule_diags d = {0}, d2 = {0};
	struct rule_pattern *p;
	const struct rule_diag *e = NULL;
	const char *line4 = "    pcre:\"/abc/i\"; sid:2;)";

	CU_ASSERT_EQUAL_FATAL(rule_set_load(&o, &set, &d), 0);
	CU_ASSERT_EQUAL_FATAL(set->n_patterns, 2);
	p = &set->patterns[1];
	CU_ASSERT_TRUE(p->is_pcre);
	CU_ASSERT_EQUAL(p->rule, 1);
	CU_ASSERT_EQUAL(p->line, 4);
	free(p->expr);
	p->expr = strdup("(?:abc)?");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p->expr);

	o.no_compile = false;
	CU_ASSERT_EQUAL(rule_compile(set, &o, &d2), -EINVAL);
	CU_ASSERT_PTR_NULL(set->db);
	CU_ASSERT_EQUAL(d2.n_errors, 1);
	for (unsigned i = 0; i < d2.n; i++)
		if (d2.d[i].severity == RULE_DIAG_ERROR)
			e = &d2.d[i];
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_STRING_EQUAL(e->file, "t.rules");
	CU_ASSERT_EQUAL(e->line, 4);
	CU_ASSERT_EQUAL(e->col, p->col);
	/* The column is the pcre's, on the continuation line where it is. */
	CU_ASSERT(p->col >= 5 && p->col <= 10);
	CU_ASSERT_PTR_NOT_NULL(strstr(e->msg, "empty"));
	CU_ASSERT_PTR_NOT_NULL(strstr(e->msg, "pcre"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(e->source);
	CU_ASSERT_STRING_EQUAL(e->source, line4);
	rule_set_free(set);
	rule_diags_free(&d);
	rule_diags_free(&d2);
}

static void
test_disabled_not_compiled(void)
{
	static const char text[] =
		"alert hl7 any any -> any any (content:\"AAA\"; value:<5; priority:high; sid:1;)\n"
		"alert hl7 any any -> any any (content:\"BBB\"; priority:high; sid:2;)\n"
		"alert hl7 any any -> any any (content:\"CCC\"; location:ICU; priority:high; "
		"sid:3;)\n";
	struct rule_input in;
	struct one_why w;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	CU_ASSERT_EQUAL(rule_set_info(f.set)->n_disabled, 2);
	CU_ASSERT_EQUAL(rule_set_info(f.set)->n_patterns, 1);
	CU_ASSERT_EQUAL(f.set->n_patterns, 3);
	CU_ASSERT_EQUAL(rule_set_info(f.set)->n_header_classes, 1);
	in = hl7("AAA BBB CCC");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "2");
	in = hl7("AAA CCC");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "");
	w = explain_one(&f, &in, 1, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_disabled);
out:
	fx_free(&f);
}

static void
test_no_patterns_no_database(void)
{
	static const char text[] = "log udp any any -> any any (sid:1;)\n"
				   "alert hl7 any any -> any any (metric:SPO2; value:<90; "
				   "priority:high; sid:2;)\n";
	struct rule_obs o = ob(SPO2, 0, 85, 0);
	struct rule_input in = hl7("MSH|");
	struct fx f;

	if (!FX_LOAD_CACHED(&f, text, "/nonexistent/never/created"))
		goto out;
	CU_ASSERT_PTR_NULL(f.set->db);
	CU_ASSERT_PTR_NULL(f.set->proto);
	CU_ASSERT_EQUAL(rule_set_info(f.set)->n_patterns, 0);
	CU_ASSERT_EQUAL(rule_set_info(f.set)->cache, RULE_CACHE_OFF);
	CU_ASSERT_EQUAL(rule_set_info(f.set)->db_bytes, 0);
	in.obs = &o;
	in.n_obs = 1;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 2@0");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_scans), 0);
out:
	fx_free(&f);
}

static void
test_empty_and_uncompiled(void)
{
	struct rule_set *set = NULL;
	struct rule_scratch *s = (struct rule_scratch *)1;
	struct rule_diags d;
	struct fx f;
	struct rule_input in = hl7("anything");

	/* Loaded with no_compile: nothing to evaluate with. */
	CU_ASSERT_EQUAL_FATAL(
		load_text("log udp any any -> any any (sid:1;)\n", NULL, NULL, 0, true, &set, &d),
		0);
	CU_ASSERT_EQUAL(rule_scratch_new(set, &s), -EINVAL);
	CU_ASSERT_PTR_NULL(s);
	rule_set_free(set);
	rule_diags_free(&d);

	if (!FX_LOAD(&f, "# nothing but a comment\n"))
		goto out;
	CU_ASSERT_EQUAL(rule_set_count(f.set), 0);
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_messages), 1);
	CU_ASSERT_EQUAL(strlen(rule_set_info(f.set)->hash), 64);

	/* A scratch made for another set: refused and counted, never out of bounds. */
	CU_ASSERT_EQUAL_FATAL(
		load_text("log udp any any -> any any (sid:1;)\n", NULL, NULL, 0, false, &set, &d),
		0);
	{
		struct rule_hit h[4];

		CU_ASSERT_EQUAL(rule_eval(set, f.s, &in, h, 4, f.c), 0);
		CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_scan_errors), 1);
		CU_ASSERT_EQUAL(rule_explain(set, f.s, &in, collect_fn, NULL), -EINVAL);
	}
	rule_set_free(set);
	rule_diags_free(&d);
out:
	fx_free(&f);
}

static void
test_names(void)
{
	CU_ASSERT_STRING_EQUAL(rule_action_name(RULE_ACTION_PASS), "pass");
	CU_ASSERT_STRING_EQUAL(rule_proto_name(RULE_PROTO_UDP), "udp");
	CU_ASSERT_STRING_EQUAL(rule_priority_name(RULE_PRIO_MEDIUM), "medium");
	CU_ASSERT_STRING_EQUAL(rule_kind_name(RULE_KIND_ADVISORY), "advisory");
	CU_ASSERT_STRING_EQUAL(rule_counter_name(RULE_CNT_obs_skipped), "obs_skipped");
	CU_ASSERT_PTR_NOT_NULL(strstr(rule_counter_desc(RULE_CNT_passed), "pass"));
	CU_ASSERT_STRING_EQUAL(rule_why_name(RULE_WHY_location), "location");
	CU_ASSERT_STRING_EQUAL(rule_why_desc(RULE_WHY_match), "matched");
	CU_ASSERT_STRING_EQUAL(rule_action_name(RULE_ACTION__COUNT), "?");
	CU_ASSERT_STRING_EQUAL(rule_counter_name(RULE_CNT__COUNT), "?");
	CU_ASSERT_STRING_EQUAL(rule_why_name(RULE_WHY__COUNT), "?");
}

/* ---------------------------------------------------------------------------
 * The cache
 * ------------------------------------------------------------------------- */

static const char cache_rules[] =
	"alert hl7 any any -> any any (msg:\"asystole\"; content:\"ASYST\"; nocase; "
	"priority:high; sid:1;)\n"
	"alert hl7 any any -> any any (metric:SPO2; value:<90; pcre:\"/PV1\\|/\"; "
	"priority:high; sid:2;)\n";

static const char cache_rules_other[] =
	"alert hl7 any any -> any any (content:\"VFIB\"; priority:high; sid:7;)\n";

static char cache_dir[64];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
cache_setup(void)
{
	strcpy(cache_dir, "/tmp/vigil-rules-eval-XXXXXX");
	return mkdtemp(cache_dir) != NULL ? 0 : -1;
}

static int
cache_teardown(void)
{
	return nftw(cache_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The verdicts every cached set must reach. */
static void
cache_verdicts(struct fx *f)
{
	struct rule_obs o = ob(SPO2, 0, 85, 0);
	struct rule_input in = hl7("MSH|...|asyst\rPV1|1");

	in.obs = &o;
	in.n_obs = 1;
	CU_ASSERT_STRING_EQUAL(eval_both(f, &in), "1 2@0");
	in = hl7("MSH|...|nothing");
	in.obs = &o;
	in.n_obs = 1;
	CU_ASSERT_STRING_EQUAL(eval_both(f, &in), "");
}

static void
test_cache_miss_then_hit(void)
{
	char path[256], dir[128];
	struct stat st;
	struct fx f;

	snprintf(dir, sizeof(dir), "%s/a/b", cache_dir);
	if (!FX_LOAD_CACHED(&f, cache_rules, dir))
		return;
	CU_ASSERT_EQUAL(rule_set_info(f.set)->cache, RULE_CACHE_MISS);
	CU_ASSERT_STRING_EQUAL(rule_set_info(f.set)->cache_note, "");
	CU_ASSERT_EQUAL(f.d.n_warnings, 0);
	CU_ASSERT(rule_set_info(f.set)->compile_ns > 0);
	CU_ASSERT(rule_set_info(f.set)->db_bytes > 0);
	CU_ASSERT(rule_set_info(f.set)->scratch_bytes > 0);
	CU_ASSERT_EQUAL(rule_set_info(f.set)->n_patterns, 2);
	snprintf(path, sizeof(path), "%s", rule_set_info(f.set)->cache_path);
	CU_ASSERT_EQUAL(strncmp(path, dir, strlen(dir)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(path, ".hsdb"));
	/* Made with mkdir -p, mode 0750; the file is there, nothing else. */
	CU_ASSERT_EQUAL_FATAL(stat(dir, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0750);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	cache_verdicts(&f);
	fx_free(&f);

	if (!FX_LOAD_CACHED(&f, cache_rules, dir))
		return;
	CU_ASSERT_EQUAL(rule_set_info(f.set)->cache, RULE_CACHE_HIT);
	CU_ASSERT_STRING_EQUAL(rule_set_info(f.set)->cache_path, path);
	CU_ASSERT_EQUAL(rule_set_info(f.set)->compile_ns, 0);
	CU_ASSERT(rule_set_info(f.set)->cache_load_ns > 0);
	CU_ASSERT(rule_set_info(f.set)->db_bytes > 0);
	cache_verdicts(&f);
	fx_free(&f);
}

static void
flip_byte(const char *path, long at)
{
	FILE *f = fopen(path, "r+b");
	int c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(fseek(f, at, SEEK_SET), 0);
	c = fgetc(f);
	CU_ASSERT_NOT_EQUAL(c, EOF);
	CU_ASSERT_EQUAL(fseek(f, at, SEEK_SET), 0);
	fputc(c ^ 0x40, f);
	CU_ASSERT_EQUAL(fclose(f), 0);
}

/* Load from a damaged cache: rejected with @p why in the note, rebuilt, then a hit. */
static void
expect_rebuilt(const char *dir, const char *why)
{
	struct fx f;

	if (!FX_LOAD_CACHED(&f, cache_rules, dir))
		return;
	CU_ASSERT_EQUAL(rule_set_info(f.set)->cache, RULE_CACHE_REBUILT);
	if (strstr(rule_set_info(f.set)->cache_note, why) == NULL) {
		fprintf(stderr, "\n  note \"%s\", expected \"%s\"\n",
			rule_set_info(f.set)->cache_note, why);
		CU_FAIL("the cache note does not say why");
	}
	CU_ASSERT(rule_set_info(f.set)->compile_ns > 0);
	cache_verdicts(&f);
	fx_free(&f);

	if (!FX_LOAD_CACHED(&f, cache_rules, dir))
		return;
	CU_ASSERT_EQUAL(rule_set_info(f.set)->cache, RULE_CACHE_HIT);
	cache_verdicts(&f);
	fx_free(&f);
}

static void
test_cache_rejects_damage(void)
{
	char dir[128], path[256], other[256];
	struct stat st;
	struct fx f;

	snprintf(dir, sizeof(dir), "%s/damage", cache_dir);
	if (!FX_LOAD_CACHED(&f, cache_rules, dir))
		return;
	CU_ASSERT_EQUAL(rule_set_info(f.set)->cache, RULE_CACHE_MISS);
	snprintf(path, sizeof(path), "%s", rule_set_info(f.set)->cache_path);
	fx_free(&f);
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);

	/* A byte of the payload. */
	flip_byte(path, (long)(88 + (st.st_size - 88) / 2));
	expect_rebuilt(dir, "checksum");
	/* The last byte. */
	flip_byte(path, (long)st.st_size - 1);
	expect_rebuilt(dir, "checksum");
	/* Truncated: in the payload, then in the header. */
	CU_ASSERT_EQUAL(truncate(path, st.st_size - 10), 0);
	expect_rebuilt(dir, "header says");
	CU_ASSERT_EQUAL(truncate(path, 40), 0);
	expect_rebuilt(dir, "short");
	CU_ASSERT_EQUAL(truncate(path, 0), 0);
	expect_rebuilt(dir, "short");
	/* The magic, the format version, the length field. */
	flip_byte(path, 0);
	expect_rebuilt(dir, "magic");
	flip_byte(path, 8);
	expect_rebuilt(dir, "version");
	flip_byte(path, 48);
	expect_rebuilt(dir, "header says");
	/* A valid file of another ruleset under this one's name. */
	if (!FX_LOAD_CACHED(&f, cache_rules_other, dir))
		return;
	snprintf(other, sizeof(other), "%s", rule_set_info(f.set)->cache_path);
	fx_free(&f);
	CU_ASSERT_STRING_NOT_EQUAL(other, path);
	CU_ASSERT_EQUAL(rename(other, path), 0);
	expect_rebuilt(dir, "another key");
	/* A directory where the file should be: rejected, and cannot be replaced. */
	CU_ASSERT_EQUAL(unlink(path), 0);
	CU_ASSERT_EQUAL(mkdir(path, 0700), 0);
	if (FX_LOAD_CACHED(&f, cache_rules, dir)) {
		CU_ASSERT_EQUAL(rule_set_info(f.set)->cache, RULE_CACHE_REBUILT);
		CU_ASSERT_PTR_NOT_NULL(strstr(rule_set_info(f.set)->cache_note, "not written"));
		CU_ASSERT_EQUAL(f.d.n_warnings, 1);
		cache_verdicts(&f);
	}
	fx_free(&f);
	CU_ASSERT_EQUAL(rmdir(path), 0);
}

static void
test_cache_unwritable(void)
{
	char file[128], dir[160];
	const struct rule_diag *w = NULL;
	FILE *fp;
	struct fx f;

	/* A regular file where a directory of the path should be. */
	snprintf(file, sizeof(file), "%s/not-a-dir", cache_dir);
	fp = fopen(file, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	fclose(fp);
	snprintf(dir, sizeof(dir), "%s/sub", file);
	if (!FX_LOAD_CACHED(&f, cache_rules, dir))
		return;
	CU_ASSERT_EQUAL(rule_set_info(f.set)->cache, RULE_CACHE_MISS);
	CU_ASSERT_PTR_NOT_NULL(strstr(rule_set_info(f.set)->cache_note, "Not a directory"));
	CU_ASSERT_EQUAL(f.d.n_errors, 0);
	CU_ASSERT_EQUAL(f.d.n_warnings, 1);
	for (unsigned i = 0; i < f.d.n; i++)
		if (f.d.d[i].severity == RULE_DIAG_WARNING)
			w = &f.d.d[i];
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	CU_ASSERT_PTR_NOT_NULL(strstr(w->msg, "could not be cached"));
	cache_verdicts(&f);
	fx_free(&f);

	/*
	 * A write that fails halfway (a full disk; here the file size limit, which
	 * fails the same write() path without needing a small filesystem): a
	 * clean note, a working set, and no temporary file left behind.
	 */
	snprintf(dir, sizeof(dir), "%s/small", cache_dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	{
		struct rlimit old, small = {.rlim_cur = 100, .rlim_max = RLIM_INFINITY};
		void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
		bool loaded;

		CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &old), 0);
		small.rlim_max = old.rlim_max;
		CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &small), 0);
		loaded = FX_LOAD_CACHED(&f, cache_rules, dir);
		CU_ASSERT_EQUAL(setrlimit(RLIMIT_FSIZE, &old), 0);
		signal(SIGXFSZ, was);
		if (loaded) {
			CU_ASSERT_EQUAL(rule_set_info(f.set)->cache, RULE_CACHE_MISS);
			CU_ASSERT_STRING_EQUAL(rule_set_info(f.set)->cache_note,
					       "cannot write the cache file: File too large");
			CU_ASSERT_EQUAL(f.d.n_warnings, 1);
			cache_verdicts(&f);
		}
		fx_free(&f);
		CU_ASSERT_EQUAL(rmdir(dir), 0); /* empty: the temporary file is gone */
	}

	/* A directory without write permission (root writes anyway: not tested then). */
	if (geteuid() != 0) {
		snprintf(dir, sizeof(dir), "%s/ro", cache_dir);
		CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0500), 0);
		if (FX_LOAD_CACHED(&f, cache_rules, dir)) {
			CU_ASSERT_EQUAL(rule_set_info(f.set)->cache, RULE_CACHE_MISS);
			CU_ASSERT_PTR_NOT_NULL(
				strstr(rule_set_info(f.set)->cache_note, "Permission denied"));
			CU_ASSERT_EQUAL(f.d.n_warnings, 1);
			cache_verdicts(&f);
		}
		fx_free(&f);
	}
}

/* ---------------------------------------------------------------------------
 * Values: every boundary of every comparison
 * ------------------------------------------------------------------------- */

static void
test_value_boundaries(void)
{
	static const char text[] =
		"alert hl7 any any -> any any (metric:SPO2; value:<90; priority:high; sid:1;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:<=90; priority:high; sid:2;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:>90; priority:high; sid:3;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:>=90; priority:high; sid:4;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:==90; priority:high; sid:5;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:!=90; priority:high; sid:6;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:80..90; priority:high; sid:7;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:outside 80..90; priority:high; "
		"sid:8;)\n";
	const struct {
		double v;
		const char *want;
	} cases[] = {
		{nextafter(80, -INFINITY), "1@0 2@0 6@0 8@0"},
		{80, "1@0 2@0 6@0 7@0"},
		{nextafter(80, INFINITY), "1@0 2@0 6@0 7@0"},
		{nextafter(90, -INFINITY), "1@0 2@0 6@0 7@0"},
		{90, "2@0 4@0 5@0 7@0"},
		{nextafter(90, INFINITY), "3@0 4@0 6@0 8@0"},
		{-INFINITY, "1@0 2@0 6@0 8@0"},
		{INFINITY, "3@0 4@0 6@0 8@0"},
		{NAN, ""},
	};
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *got = eval_obs(&f, ob(SPO2, PERCENT, cases[i].v, 0));

		if (strcmp(got, cases[i].want) != 0) {
			fprintf(stderr, "\n  value %.17g: got \"%s\", want \"%s\"\n", cases[i].v,
				got, cases[i].want);
			CU_FAIL("wrong verdict at a boundary");
		}
	}
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_unit_mismatch), 0);
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_invalid_skipped), 0);
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_alerts), 4 * 8);
out:
	fx_free(&f);
}

static void
test_value_fractions_and_negatives(void)
{
	static const char text[] =
		"log hl7 any any -> any any (metric:TEMP; value:<=37.5; sid:1;)\n"
		"log hl7 any any -> any any (metric:TEMP; value:>-0.5; sid:2;)\n"
		"log hl7 any any -> any any (metric:TEMP; value:-1.25..-0.75; sid:3;)\n";
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, 0, 37.5, 0)), "1@0 2@0");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, 0, nextafter(37.5, 99), 0)), "2@0");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, 0, -0.5, 0)), "1@0");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, 0, nextafter(-0.5, 0), 0)), "1@0 2@0");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, 0, -1.25, 0)), "1@0 3@0");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, 0, nextafter(-1.25, -2), 0)), "1@0");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, 0, -0.75, 0)), "1@0 3@0");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, 0, nextafter(-0.75, 0), 0)), "1@0");
out:
	fx_free(&f);
}

static void
test_dsize(void)
{
	static const char text[] = "log udp any any -> any any (dsize:>100; sid:1;)\n"
				   "log udp any any -> any any (dsize:<100; sid:2;)\n"
				   "log udp any any -> any any (dsize:>=100; sid:3;)\n"
				   "log udp any any -> any any (dsize:<=100; sid:4;)\n"
				   "log udp any any -> any any (dsize:!=100; sid:5;)\n"
				   "log udp any any -> any any (dsize:100; sid:6;)\n"
				   "log udp any any -> any any (dsize:100<>200; sid:7;)\n"
				   "log udp any any -> any any (dsize:100..200; sid:8;)\n"
				   "log udp any any -> any any (dsize:outside 100..200; sid:9;)\n";
	const struct {
		uint32_t dsize;
		const char *want;
	} cases[] = {
		{0, "2 4 5 9"},	    {99, "2 4 5 9"},  {100, "3 4 6 8"}, {101, "1 3 5 7 8"},
		{199, "1 3 5 7 8"}, {200, "1 3 5 8"}, {201, "1 3 5 9"}, {65535, "1 3 5 9"},
	};
	struct rule_input in;
	struct one_why w;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *got;

		in = hl7("MSH|");
		in.dsize = cases[i].dsize;
		got = eval_both(&f, &in);
		if (strcmp(got, cases[i].want) != 0) {
			fprintf(stderr, "\n  dsize %u: got \"%s\", want \"%s\"\n", cases[i].dsize,
				got, cases[i].want);
			CU_FAIL("wrong dsize verdict");
		}
		/* VTP too (udp is both); and never but on the datagram's first message. */
		in.proto = RULE_PROTO_VTP;
		CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), cases[i].want);
		in.first = false;
		CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "");
	}
	in = hl7("MSH|");
	in.dsize = 150;
	w = explain_one(&f, &in, 1, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_match);
	w = explain_one(&f, &in, 9, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_dsize);
	CU_ASSERT_STRING_EQUAL(w.detail, "dsize 150 outside 100..200 is false");
	in.first = false;
	w = explain_one(&f, &in, 1, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_once);
out:
	fx_free(&f);
}

/* ---------------------------------------------------------------------------
 * Validity and units
 * ------------------------------------------------------------------------- */

static void
test_valid(void)
{
	static const char text[] =
		"alert hl7 any any -> any any (metric:SPO2; value:<90; priority:high; sid:1;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:<90; valid:only; "
		"priority:high; sid:2;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:<90; valid:test; "
		"priority:high; sid:3;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:<90; valid:any; "
		"priority:high; sid:4;)\n";
	struct rule_input in = hl7("MSH|");
	struct rule_obs o;
	struct one_why w;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(SPO2, 0, 85, 0)), "1@0 2@0 3@0 4@0");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_invalid_skipped), 0);
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(SPO2, 0, 85, RULE_OBS_INVALID)), "4@0");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_invalid_skipped), 3);
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(SPO2, 0, 85, RULE_OBS_INVALID | RULE_OBS_TEST)),
			       "3@0 4@0");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_invalid_skipped), 5);
	/* TEST alone is not invalid. */
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(SPO2, 0, 85, RULE_OBS_TEST)), "1@0 2@0 3@0 4@0");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_invalid_skipped), 5);
	/* valid:any sees an invalid value, but a NaN still compares false. */
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(SPO2, 0, NAN, RULE_OBS_INVALID)), "");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_invalid_skipped), 8);
	/* Invalid and above the limit: the validity is what is counted. */
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(SPO2, 0, 95, RULE_OBS_INVALID)), "");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_invalid_skipped), 11);

	o = ob(SPO2, 0, 85, RULE_OBS_INVALID);
	in.obs = &o;
	in.n_obs = 1;
	w = explain_one(&f, &in, 1, 0);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_invalid);
	w = explain_one(&f, &in, 4, 0);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_match);
out:
	fx_free(&f);
}

static void
test_units(void)
{
	static const char text[] =
		"alert hl7 any any -> any any (metric:TEMP; value:>38; priority:high; sid:1;)\n"
		"alert hl7 any any -> any any (metric:NIBP_SYS; value:>140; priority:high; "
		"sid:2;)\n"
		"log hl7 any any -> any any (metric:TEMP; sid:3;)\n";
	struct rule_input in = hl7("MSH|");
	struct rule_obs o;
	struct one_why w;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	/* Unit 0 and the metric's own unit: as is. */
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, 0, 38.5, 0)), "1@0 3@0");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, DEGC, 38.5, 0)), "1@0 3@0");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, DEGC, 38, 0)), "3@0");
	/* Fahrenheit: 101 F is 38.33 C, 100 F is 37.78 C, 100.5 F is 38.06 C. */
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, FAHR, 101, 0)), "1@0 3@0");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, FAHR, 100, 0)), "3@0");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, FAHR, 100.5, 0)), "1@0 3@0");
	/* 38 C is 100.4 F; a degree C is 1.8 F. */
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, FAHR, 100.3, 0)), "3@0");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_unit_mismatch), 0);
	/* kPa: 19 kPa is 142.5 mmHg, 18 kPa is 135.0, 18.7 kPa is 140.26. */
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(NIBP_SYS, KPA, 19, 0)), "2@0");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(NIBP_SYS, KPA, 18, 0)), "");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(NIBP_SYS, KPA, 18.7, 0)), "2@0");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(NIBP_SYS, KPA, 18.66, 0)), "");
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(NIBP_SYS, MMHG, 141, 0)), "2@0");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_unit_mismatch), 0);
	/* What cannot be compared is counted, and never matches a value. */
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, KPA, 40, 0)), "3@0");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_unit_mismatch), 1);
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(TEMP, PERCENT, 39, 0)), "3@0");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_unit_mismatch), 2);
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(NIBP_SYS, FAHR, 200, 0)), "");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_unit_mismatch), 3);
	CU_ASSERT_STRING_EQUAL(eval_obs(&f, ob(NIBP_SYS, DEGC, 200, 0)), "");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_unit_mismatch), 4);

	o = ob(TEMP, PERCENT, 39, 0);
	in.obs = &o;
	in.n_obs = 1;
	w = explain_one(&f, &in, 1, 0);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_unit);
	CU_ASSERT_PTR_NOT_NULL(strstr(w.detail, "MDC_DIM_PERCENT"));
	CU_ASSERT_PTR_NOT_NULL(strstr(w.detail, "MDC_DIM_DEGC"));
	o = ob(TEMP, FAHR, 100, 0);
	w = explain_one(&f, &in, 1, 0);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_value);
	CU_ASSERT_PTR_NOT_NULL(strstr(w.detail, "> 38 is false"));
out:
	fx_free(&f);
}

/* ---------------------------------------------------------------------------
 * Location
 * ------------------------------------------------------------------------- */

/* A heap copy of exactly strlen(s) bytes, no NUL: ASan and valgrind see any overread. */
static uint8_t *
exact(const char *s)
{
	size_t n = strlen(s);
	uint8_t *p = malloc(n ? n : 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memcpy(p, s, n);
	return p;
}

static const char *
eval_loc(struct fx *f, const char *loc, uint8_t proto, char sep)
{
	struct rule_obs o = ob(SPO2, 0, 85, 0);
	struct rule_input in = hl7("MSH|");
	uint8_t *copy = loc != NULL ? exact(loc) : NULL;
	const char *got;

	o.location = copy;
	o.location_len = loc != NULL ? (uint16_t)strlen(loc) : 0;
	in.proto = proto;
	in.loc_sep = sep;
	in.obs = &o;
	in.n_obs = 1;
	got = eval_both(f, &in);
	free(copy);
	return got;
}

static void
test_location(void)
{
	static const char text[] =
		"log hl7 any any -> any any (metric:SPO2; location:ICU*; sid:1;)\n"
		"log hl7 any any -> any any (metric:SPO2; location:room 1?; "
		"sid:2;)\n"
		"log hl7 any any -> any any (metric:SPO2; location:bed 3; sid:3;)\n"
		"log hl7 any any -> any any (metric:SPO2; location:facility "
		"general*; sid:4;)\n"
		"log hl7 any any -> any any (metric:SPO2; location:ward *; sid:5;)\n"
		"log any any any -> any any (metric:SPO2; location:I*U; sid:6;)\n";
	const struct {
		const char *loc;
		const char *want;
	} cases[] = {
		{"ICU^12^3^General Hospital", "1@0 2@0 3@0 4@0 5@0 6@0"},
		{"icu^1x^3^GENERAL", "1@0 2@0 3@0 4@0 5@0 6@0"},
		{"ICU-A^12^3^General", "1@0 2@0 3@0 4@0 5@0"},
		{"CCU^12^3^General", "2@0 3@0 4@0 5@0"},
		{"ICU^1^3", "1@0 3@0 5@0 6@0"},
		{"ICU^123^3^x", "1@0 3@0 5@0 6@0"},
		{"ICU^12^33", "1@0 2@0 5@0 6@0"},
		{"ICU", "1@0 5@0 6@0"},
		{"IU", "5@0 6@0"},
		{"I", "5@0"},
		{"^^^", "5@0"},
		{"^12^3^", "2@0 3@0 5@0"},
		{"ICU^12", "1@0 2@0 5@0 6@0"},
		{"ICU^12^", "1@0 2@0 5@0 6@0"},
		{"", ""},
	};
	struct one_why w;
	struct rule_obs o = ob(SPO2, 0, 85, 0);
	struct rule_input in = hl7("MSH|");
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *got = eval_loc(&f, cases[i].loc, RULE_PROTO_HL7, '^');

		if (strcmp(got, cases[i].want) != 0) {
			fprintf(stderr, "\n  location \"%s\": got \"%s\", want \"%s\"\n",
				cases[i].loc, got, cases[i].want);
			CU_FAIL("wrong location verdict");
		}
	}
	/* No location at all. */
	CU_ASSERT_STRING_EQUAL(eval_loc(&f, NULL, RULE_PROTO_HL7, '^'), "");
	/* VTP carries no location: whatever is filled in, no location rule matches. */
	CU_ASSERT_STRING_EQUAL(eval_loc(&f, "ICU^12^3^General", RULE_PROTO_VTP, '^'), "");
	/* The message's own separator. */
	CU_ASSERT_STRING_EQUAL(eval_loc(&f, "ICU#12#3#General", RULE_PROTO_HL7, '#'),
			       "1@0 2@0 3@0 4@0 5@0 6@0");
	CU_ASSERT_STRING_EQUAL(eval_loc(&f, "ICU^12^3^General", RULE_PROTO_HL7, '#'), "1@0 5@0");
	/* No separator given: HL7's default. */
	CU_ASSERT_STRING_EQUAL(eval_loc(&f, "ICU^12^3^General", RULE_PROTO_HL7, '\0'),
			       "1@0 2@0 3@0 4@0 5@0 6@0");

	o.location = (const uint8_t *)"CCU^12^3^x";
	o.location_len = 10;
	in.obs = &o;
	in.n_obs = 1;
	w = explain_one(&f, &in, 1, 0);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_location);
	CU_ASSERT_STRING_EQUAL(w.detail, "\"CCU\" does not match \"ICU*\"");
	w = explain_one(&f, &in, 4, 0);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_location);
	o.location_len = 3;
	w = explain_one(&f, &in, 2, 0);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_location);
	CU_ASSERT_STRING_EQUAL(w.detail, "location \"CCU\" has no component 2");
out:
	fx_free(&f);
}

/* ---------------------------------------------------------------------------
 * The header
 * ------------------------------------------------------------------------- */

static void
test_proto(void)
{
	static const char text[] = "log hl7 any any -> any any (content:\"X\"; sid:1;)\n"
				   "log vtp any any -> any any (content:\"X\"; sid:2;)\n"
				   "log udp any any -> any any (content:\"X\"; sid:3;)\n"
				   "log any any any -> any any (content:\"X\"; sid:4;)\n";
	struct rule_input in = hl7("X");
	struct one_why w;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 3 4");
	in.proto = RULE_PROTO_VTP;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "2 3 4");
	w = explain_one(&f, &in, 1, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_proto);
	CU_ASSERT_STRING_EQUAL(w.detail, "hl7 rule, vtp input");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_scans), 2);
out:
	fx_free(&f);
}

static void
test_addresses(void)
{
	static const char text[] =
		"log hl7 10.0.0.0/8 any -> any any (content:\"X\"; sid:1;)\n"
		"log hl7 [10.0.0.0/8, !10.1.0.0/16] any -> any any (content:\"X\"; sid:2;)\n"
		"log hl7 !10.0.0.0/8 any -> any any (content:\"X\"; sid:3;)\n"
		"log hl7 fd00::/8 any -> any any (content:\"X\"; sid:4;)\n"
		"log hl7 [fd00::/8, !fd00::1] any -> any any (content:\"X\"; sid:5;)\n"
		"log hl7 any any -> 192.168.1.1 any (content:\"X\"; sid:6;)\n"
		"log hl7 any any -> any any (content:\"X\"; sid:7;)\n"
		"log hl7 any any -> [fd00::1, 10.9.9.9] any (content:\"X\"; sid:8;)\n";
	struct rule_input in = hl7("X");
	struct one_why w;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 7 8");
	set_v4(in.src, 10, 2, 0, 1);
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 2 7 8");
	set_v4(in.src, 10, 0, 255, 255);
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 2 7 8");
	set_v4(in.src, 10, 1, 0, 0);
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 7 8");
	set_v4(in.src, 10, 1, 255, 255);
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 7 8");
	set_v4(in.src, 10, 2, 0, 0);
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 2 7 8");
	set_v4(in.src, 10, 255, 255, 255);
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 2 7 8");
	set_v4(in.src, 11, 0, 0, 0);
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "3 7 8");
	set_v4(in.src, 9, 255, 255, 255);
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "3 7 8");
	set_v4(in.dst, 192, 168, 1, 1);
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "3 6 7");
	w = explain_one(&f, &in, 1, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_src);
	CU_ASSERT_STRING_EQUAL(w.detail, "source 9.255.255.255 not in the set");
	w = explain_one(&f, &in, 8, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_dst);

	in.ip_version = 6;
	set_v6(in.src, "fd00::1");
	set_v6(in.dst, "fd00::1");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "3 4 7 8");
	set_v6(in.src, "fd00::2");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "3 4 5 7 8");
	set_v6(in.src, "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "3 4 5 7 8");
	set_v6(in.src, "fe00::");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "3 7 8");
	set_v6(in.src, "fcff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	set_v6(in.dst, "fd00::2");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "3 7");
	/* A v4-mapped address is v6, not 10/8. */
	set_v6(in.src, "::ffff:10.1.2.3");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "3 7");

	/* No address at all (a message read from a file): only `any` holds. */
	in.ip_version = 0;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "7");
out:
	fx_free(&f);
}

static void
test_ports(void)
{
	static const char text[] =
		"log hl7 any any -> any 2575 (content:\"X\"; sid:1;)\n"
		"log hl7 any 1024: -> any any (content:\"X\"; sid:2;)\n"
		"log hl7 any any -> any !2575 (content:\"X\"; sid:3;)\n"
		"log hl7 any :1023 -> any any (content:\"X\"; sid:4;)\n"
		"log hl7 any any -> any [2575, 3000:3010] (content:\"X\"; sid:5;)\n"
		"log hl7 any [!0:99, !200:65535] -> any any (content:\"X\"; sid:6;)\n";
	const struct {
		uint16_t sport, dport;
		const char *want;
	} cases[] = {
		{40000, 2575, "1 2 5"}, {1023, 2576, "3 4"},	{1024, 3000, "2 3 5"},
		{0, 3010, "3 4 5"},	{65535, 3011, "2 3"},	{1024, 2574, "2 3"},
		{99, 2999, "3 4"},	{100, 2575, "1 4 5 6"}, {199, 0, "3 4 6"},
		{200, 65535, "3 4"},
	};
	struct rule_input in = hl7("X");
	struct one_why w;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *got;

		in.sport = cases[i].sport;
		in.dport = cases[i].dport;
		got = eval_both(&f, &in);
		if (strcmp(got, cases[i].want) != 0) {
			fprintf(stderr, "\n  ports %u -> %u: got \"%s\", want \"%s\"\n",
				cases[i].sport, cases[i].dport, got, cases[i].want);
			CU_FAIL("wrong port verdict");
		}
	}
	in.sport = 40000;
	in.dport = 2576;
	w = explain_one(&f, &in, 1, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_dport);
	w = explain_one(&f, &in, 4, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_sport);
out:
	fx_free(&f);
}

static void
test_bidirectional(void)
{
	static const char text[] = "log hl7 10.0.0.1 any <> 10.0.0.2 2575 (content:\"X\"; sid:1;)\n"
				   "log hl7 10.0.0.1 any -> 10.0.0.2 2575 (content:\"X\"; sid:2;)\n"
				   "log hl7 fd00::1 any <> fd00::2 2575 (content:\"X\"; sid:3;)\n";
	struct rule_input in = hl7("X");
	struct one_why w;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	set_v4(in.src, 10, 0, 0, 1);
	set_v4(in.dst, 10, 0, 0, 2);
	in.sport = 40000;
	in.dport = 2575;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 2");
	/* The reply: only <> holds. */
	set_v4(in.src, 10, 0, 0, 2);
	set_v4(in.dst, 10, 0, 0, 1);
	in.sport = 2575;
	in.dport = 40000;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1");
	/* Swapped addresses but not ports: neither direction holds. */
	in.sport = 40000;
	in.dport = 2575;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "");
	w = explain_one(&f, &in, 1, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_src);
	CU_ASSERT_PTR_NOT_NULL(strstr(w.detail, "either direction"));
	/* Both ports 2575: both directions hold. */
	set_v4(in.src, 10, 0, 0, 1);
	set_v4(in.dst, 10, 0, 0, 2);
	in.sport = 2575;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 2");
	/* Another address: neither. */
	set_v4(in.src, 10, 0, 0, 3);
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "");

	in.ip_version = 6;
	set_v6(in.src, "fd00::2");
	set_v6(in.dst, "fd00::1");
	in.sport = 2575;
	in.dport = 1;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "3");
	in.sport = 1;
	in.dport = 2575;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "");
out:
	fx_free(&f);
}

/*
 * Identical patterns of several rules are compiled once: the database holds
 * each distinct expression (with its flags and offsets) once, and one match
 * still counts for every rule that has it, a rule with the same content
 * twice included; an offset or nocase makes a pattern another one.
 */
static void
test_shared_patterns(void)
{
	static const char text[] =
		"log hl7 any any -> any any (content:\"ALARM\"; sid:1;)\n"
		"log hl7 any any -> any any (content:\"ALARM\"; content:\"ICU\"; sid:2;)\n"
		"log hl7 any any -> any any (content:\"ALARM\"; content:\"ALARM\"; sid:3;)\n"
		"log hl7 any any -> any any (content:\"ALARM\"; nocase; sid:4;)\n"
		"log hl7 any any -> any any (content:\"ALARM\"; offset:5; sid:5;)\n"
		"log hl7 any any -> any any (pcre:\"/ICU/\"; sid:6;)\n";
	struct rule_input in = hl7("xALARM in ICU");
	struct fx f;

	if (!FX_LOAD(&f, text))
		return;
	/* ALARM, ALARM/i, ALARM at offset 5, ICU: content "ICU" and pcre /ICU/
	 * compile to the same expression and flags, so they are one. */
	CU_ASSERT_EQUAL(rule_set_info(f.set)->n_patterns, 4);
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 2 3 4 6");
	in = hl7("0123456ALARM");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 3 4 5");
	in = hl7("alarm in ICU");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "4 6");
	fx_free(&f);
}

static void
test_first_and_malformed(void)
{
	static const char text[] =
		"log udp any any -> any any (dsize:>0; sid:1;)\n"
		"log udp any any -> any any (malformed; sid:2;)\n"
		"log hl7 any any -> any any (content:\"X\"; sid:3;)\n"
		"log udp any any -> any any (sid:4;)\n"
		"log hl7 any any -> any any (content:\"X\"; malformed; sid:5;)\n";
	struct rule_input in = hl7("X");
	struct one_why w;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 3 4");
	in.first = false;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "3");
	w = explain_one(&f, &in, 4, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_once);
	in.first = true;
	in.malformed = true;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 2 3 4 5");
	/* The datagram's own evaluation after a good message: `malformed`
	 * rules fire, header-only ones have already fired on the first. */
	in.first = false;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "2 3 5");
	in.malformed = false;
	w = explain_one(&f, &in, 5, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_malformed);
	/* An empty payload: no scan, the header-only rules still fire. */
	in = hl7("");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "4");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_scans), 4);
out:
	fx_free(&f);
}

/*
 * acl: a datagram from a sender outside telemetry.allow is evaluated once,
 * undecoded: first, acl_denied, no observations, the UDP payload as the
 * bytes. `acl:denied` rules fire only on it, `acl:allowed` ones only on
 * the others, rules without acl on both; eval and explain agree.
 */
static void
test_acl(void)
{
	static const char text[] =
		"alert udp any any -> any any (acl:denied; kind:technical; priority:medium; "
		"sid:1;)\n"
		"log udp any any -> any any (acl:allowed; sid:2;)\n"
		"log udp any any -> any any (sid:3;)\n"
		"log hl7 any any -> any any (acl:denied; content:\"MSH\"; sid:4;)\n"
		"log hl7 any any -> any any (acl:allowed; content:\"MSH\"; sid:5;)\n"
		"log hl7 any any -> any any (content:\"MSH\"; sid:6;)\n"
		"alert hl7 any any -> any any (acl:allowed; metric:SPO2; value:<85; "
		"priority:high; sid:7;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:<85; priority:high; sid:8;)\n"
		"log hl7 10.1.0.0/16 any -> any any (acl:denied; dsize:>10; sid:9;)\n"
		"log hl7 any any -> any any (acl:allowed; malformed; sid:10;)\n";
	struct rule_obs low = ob(SPO2, PERCENT, 80, 0);
	struct rule_input in = hl7("MSH|^~\\&|MON01");
	struct one_why w;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	CU_ASSERT_EQUAL(rule_of(f.set, 1)->pub.acl, RULE_ACL_DENIED);
	CU_ASSERT_EQUAL(rule_of(f.set, 2)->pub.acl, RULE_ACL_ALLOWED);
	CU_ASSERT_EQUAL(rule_of(f.set, 3)->pub.acl, RULE_ACL_ANY);

	/* An allowed sender's message with a low SpO2. */
	in.obs = &low;
	in.n_obs = 1;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "2 3 5 6 7@0 8@0");
	w = explain_one(&f, &in, 1, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_acl);
	CU_ASSERT_STRING_EQUAL(w.detail, "the sender is in telemetry.allow (acl:denied)");
	w = explain_one(&f, &in, 4, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_acl);
	w = explain_one(&f, &in, 9, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_acl);
	/* Not the datagram's first message: only the pattern rules. */
	in.first = false;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "5 6 7@0 8@0");

	/* The same bytes from a refused sender: the datagram's one evaluation. */
	in = hl7("MSH|^~\\&|MON01");
	in.acl_denied = true;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 3 4 6 9");
	w = explain_one(&f, &in, 2, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_acl);
	CU_ASSERT_STRING_EQUAL(w.detail, "the sender is outside telemetry.allow (acl:allowed)");
	w = explain_one(&f, &in, 5, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_acl);
	w = explain_one(&f, &in, 1, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_match);

	/* The header and dsize still decide for acl:denied rules. */
	in.src[1] = 2; /* 10.2.2.3: outside sid 9's 10.1.0.0/16 */
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 3 4 6");
	w = explain_one(&f, &in, 9, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_src);
	in = hl7("MSH|");
	in.acl_denied = true;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 3 4 6");
	w = explain_one(&f, &in, 9, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_dsize);
	/* An empty payload: no scan, the header-only rules still fire. */
	in = hl7("");
	in.acl_denied = true;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 3");

	/* An allowed sender's malformed datagram: acl:allowed malformed fires. */
	in = hl7("MSH|");
	in.malformed = true;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "2 3 5 6 10");
	in.acl_denied = true; /* never made by the worker; the verdicts still hold */
	in.malformed = false;
	w = explain_one(&f, &in, 10, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_malformed);
out:
	fx_free(&f);
}

/* A rule's acl is part of the set's version. */
static void
test_acl_hash(void)
{
	static const char any[] = "log udp any any -> any any (sid:1;)\n";
	static const char denied[] = "log udp any any -> any any (acl:denied; sid:1;)\n";
	static const char allowed[] = "log udp any any -> any any (acl:allowed; sid:1;)\n";
	/* re-spaced outside quotes: the same version */
	static const char denied2[] = "log  udp any any -> any any (acl:denied;   sid:1;)\n";
	char ha[65], hd[65], hl[65], hd2[65];

	hash_of(any, NULL, 0, ha);
	hash_of(denied, NULL, 0, hd);
	hash_of(allowed, NULL, 0, hl);
	hash_of(denied2, NULL, 0, hd2);
	CU_ASSERT_STRING_NOT_EQUAL(ha, hd);
	CU_ASSERT_STRING_NOT_EQUAL(ha, hl);
	CU_ASSERT_STRING_NOT_EQUAL(hd, hl);
	CU_ASSERT_STRING_EQUAL(hd, hd2);
}

/* ---------------------------------------------------------------------------
 * Patterns
 * ------------------------------------------------------------------------- */

static void
test_content(void)
{
	static const char text[] =
		"log hl7 any any -> any any (content:\"ABC\"; sid:1;)\n"
		"log hl7 any any -> any any (content:\"abc\"; nocase; sid:2;)\n"
		"log hl7 any any -> any any (content:\"ABC\"; offset:2; depth:3; "
		"sid:3;)\n"
		"log hl7 any any -> any any (content:\"ABC\"; depth:5; sid:4;)\n"
		"log hl7 any any -> any any (content:\"ABC\"; offset:2; sid:5;)\n"
		"log hl7 any any -> any any (content:\"|0D 0A|B\"; sid:6;)\n"
		"log hl7 any any -> any any (content:\"abc\"; nocase; offset:2; "
		"depth:4; sid:7;)\n";
	const struct {
		const char *payload;
		const char *want;
	} cases[] = {
		{"ABC", "1 2 4"},
		{"abc", "2"},
		{"xxABC", "1 2 3 4 5 7"},
		{"xABCxx", "1 2 4"},
		{"xxxABC", "1 2 5 7"},
		{"xxxxABC", "1 2 5"},
		{"xxabc", "2 7"},
		{"ABCxxABC", "1 2 4 5"},
		{"AB", ""},
		{"\r\nB", "6"},
		{"\rB", ""},
		{"xxaBcABC", "1 2 5 7"},
	};
	struct rule_input in;
	struct one_why w;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *got;

		in = hl7(cases[i].payload);
		got = eval_both(&f, &in);
		if (strcmp(got, cases[i].want) != 0) {
			fprintf(stderr, "\n  payload \"%s\": got \"%s\", want \"%s\"\n",
				cases[i].payload, got, cases[i].want);
			CU_FAIL("wrong content verdict");
		}
	}
	/* The header fails too: the pattern rules still need their header. */
	in = hl7("ABC");
	in.proto = RULE_PROTO_VTP;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "");
	in = hl7("xABC");
	w = explain_one(&f, &in, 3, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_pattern);
	CU_ASSERT_PTR_NOT_NULL(strstr(w.detail, "content 1 not found: content:\"ABC\""));
out:
	fx_free(&f);
}

static void
test_pcre(void)
{
	static const char text[] =
		"log hl7 any any -> any any (pcre:\"/a.c/\"; sid:1;)\n"
		"log hl7 any any -> any any (pcre:\"/A.C/i\"; sid:2;)\n"
		"log hl7 any any -> any any (pcre:\"/a.c/s\"; sid:3;)\n"
		"log hl7 any any -> any any (pcre:\"/^X/m\"; sid:4;)\n"
		"log hl7 any any -> any any (pcre:\"/^X/\"; sid:5;)\n"
		"log hl7 any any -> any any (pcre:\"/OBX\\|\\d+\\|NM/\"; sid:6;)\n";
	const struct {
		const char *payload;
		const char *want;
	} cases[] = {
		{"abc", "1 2 3"}, {"a\nc", "3"}, {"ABC", "2"},	     {"\nX", "4"},
		{"X", "4 5"},	  {"YX", ""},	 {"OBX|12|NM", "6"}, {"OBX|x|NM", ""},
	};
	struct rule_input in;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *got;

		in = hl7(cases[i].payload);
		got = eval_both(&f, &in);
		if (strcmp(got, cases[i].want) != 0) {
			fprintf(stderr, "\n  payload \"%s\": got \"%s\", want \"%s\"\n",
				cases[i].payload, got, cases[i].want);
			CU_FAIL("wrong pcre verdict");
		}
	}
out:
	fx_free(&f);
}

static void
test_multi_pattern(void)
{
	static const char text[] =
		"log hl7 any any -> any any (content:\"AAA\"; content:\"BBB\"; sid:1;)\n"
		"log hl7 any any -> any any (content:\"AAA\"; sid:2;)\n"
		"log hl7 any any -> any any (content:\"BBB\"; pcre:\"/C+D/\"; sid:3;)\n"
		"alert hl7 any any -> any any (content:\"BBB\"; metric:SPO2; value:<90; "
		"priority:high; sid:4;)\n";
	struct rule_obs o[2] = {ob(SPO2, 0, 85, 0), ob(HR, 0, 85, 0)};
	struct rule_input in;
	struct one_why w;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	in = hl7("AAA");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "2");
	in = hl7("BBB AAA");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 2");
	in = hl7("BBB CCD");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "3");
	in = hl7("CD AAA BBB");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "1 2 3");
	w = explain_one(&f, &in, 1, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_match);
	in = hl7("CCC BBB");
	w = explain_one(&f, &in, 3, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_pattern);
	CU_ASSERT_PTR_NOT_NULL(strstr(w.detail, "pcre 2 not found"));
	/* A metric rule with a pattern: the pattern, then each observation. */
	in = hl7("BBB");
	in.obs = o;
	in.n_obs = 2;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "4@0");
	in = hl7("AAA");
	in.obs = o;
	in.n_obs = 2;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "2");
	w = explain_one(&f, &in, 4, 0);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_pattern);
	w = explain_one(&f, &in, 4, 1);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_metric);
out:
	fx_free(&f);
}

/* ---------------------------------------------------------------------------
 * Pass, overflow, limits
 * ------------------------------------------------------------------------- */

static void
pass_inputs(struct fx *f)
{
	struct rule_obs o[3] = {ob(SPO2, 0, 85, 0), ob(SPO2, 0, 85, 0), ob(SPO2, 0, 95, 0)};
	struct rule_input in = hl7("MSH|ALARM");
	uint64_t passed;

	o[0].location = (const uint8_t *)"ICU^1^1";
	o[0].location_len = 7;
	o[1].location = (const uint8_t *)"ICU^1^9";
	o[1].location_len = 7;
	in.obs = o;
	in.n_obs = 3;
	passed = cnt(f, RULE_CNT_passed);
	/* An observation pass: that observation's hits only. */
	CU_ASSERT_STRING_EQUAL(eval_both(f, &in), "2 3@0 5@0 5@2");
	CU_ASSERT_EQUAL(cnt(f, RULE_CNT_passed) - passed, 2);
	/* A message pass (header-only, from the maintenance host): everything. */
	set_v4(in.src, 10, 0, 0, 5);
	CU_ASSERT_STRING_EQUAL(eval_both(f, &in), "");
	CU_ASSERT_EQUAL(cnt(f, RULE_CNT_passed) - passed, 2 + 6);
	/* Header-only: not on the datagram's later messages. */
	in.first = false;
	CU_ASSERT_STRING_EQUAL(eval_both(f, &in), "2 3@0 5@0 5@2");
	CU_ASSERT_EQUAL(cnt(f, RULE_CNT_passed) - passed, 2 + 6 + 2);
	/* A message pass by content. */
	set_v4(in.src, 10, 1, 2, 3);
	in.payload = (const uint8_t *)"MSH|ALARM|MAINT";
	in.len = strlen((const char *)in.payload);
	CU_ASSERT_STRING_EQUAL(eval_both(f, &in), "");
	CU_ASSERT_EQUAL(cnt(f, RULE_CNT_passed) - passed, 2 + 6 + 2 + 6);
}

static void
test_pass(void)
{
	static const char first[] =
		"pass hl7 10.0.0.5 any -> any any (sid:1;)\n"
		"pass hl7 any any -> any any (metric:SPO2; location:bed 9; sid:4;)\n"
		"pass hl7 any any -> any any (content:\"MAINT\"; sid:6;)\n"
		"alert hl7 any any -> any any (content:\"ALARM\"; priority:high; sid:2;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:<90; priority:high; sid:3;)\n"
		"log hl7 any any -> any any (metric:SPO2; sid:5;)\n";
	static const char last[] =
		"alert hl7 any any -> any any (content:\"ALARM\"; priority:high; sid:2;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:<90; priority:high; sid:3;)\n"
		"log hl7 any any -> any any (metric:SPO2; sid:5;)\n"
		"pass hl7 10.0.0.5 any -> any any (sid:1;)\n"
		"pass hl7 any any -> any any (metric:SPO2; location:bed 9; sid:4;)\n"
		"pass hl7 any any -> any any (content:\"MAINT\"; sid:6;)\n";
	struct rule_obs o = ob(SPO2, 0, 85, 0);
	struct rule_input in = hl7("MSH|ALARM");
	struct one_why w;
	struct fx f;

	if (FX_LOAD(&f, first)) {
		pass_inputs(&f);
		o.location = (const uint8_t *)"ICU^1^9";
		o.location_len = 7;
		in.obs = &o;
		in.n_obs = 1;
		w = explain_one(&f, &in, 3, 0);
		CU_ASSERT_EQUAL(w.why, RULE_WHY_passed);
		CU_ASSERT_STRING_EQUAL(w.detail, "by pass rule sid 4");
		w = explain_one(&f, &in, 4, 0);
		CU_ASSERT_EQUAL(w.why, RULE_WHY_match);
		w = explain_one(&f, &in, 2, RULE_HIT_MSG);
		CU_ASSERT_EQUAL(w.why, RULE_WHY_match);
	}
	fx_free(&f);
	if (FX_LOAD(&f, last))
		pass_inputs(&f);
	fx_free(&f);
}

static void
test_hits_overflow(void)
{
	static const char text[] = "log hl7 any any -> any any (content:\"M\"; sid:1;)\n"
				   "log hl7 any any -> any any (metric:SPO2; sid:2;)\n"
				   "alert hl7 any any -> any any (metric:SPO2; value:<90; "
				   "priority:high; sid:3;)\n"
				   "pass hl7 any any -> any any (metric:SPO2; value:<50; sid:4;)\n"
				   "log hl7 any any -> any any (content:\"M\"; sid:5;)\n"
				   "log hl7 any any -> any any (content:\"M\"; sid:6;)\n";
	struct rule_obs o[2] = {ob(SPO2, 0, 40, 0), ob(SPO2, 0, 85, 0)};
	struct rule_input in = hl7("M");
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	CU_ASSERT_STRING_EQUAL(eval_max(&f, &in, 2), "1 5");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_hits_overflow), 1);
	CU_ASSERT_STRING_EQUAL(eval_max(&f, &in, 0), "");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_hits_overflow), 4);
	CU_ASSERT_EQUAL(rule_eval(f.set, f.s, &in, NULL, 8, f.c), 0);
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_hits_overflow), 7);
	/* A passed observation gives its room back to the next one. */
	in.obs = o;
	in.n_obs = 2;
	CU_ASSERT_STRING_EQUAL(eval_max(&f, &in, 4), "1 5 6 2@1");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_hits_overflow), 8);
	CU_ASSERT_STRING_EQUAL(eval_max(&f, &in, 5), "1 5 6 2@1 3@1");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_hits_overflow), 8);
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_passed), 4);
	CU_ASSERT_STRING_EQUAL(eval_max(&f, &in, 1), "1");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_hits_overflow), 12);
out:
	fx_free(&f);
}

static void
test_obs_limit(void)
{
	static const char text[] =
		"alert hl7 any any -> any any (metric:SPO2; value:<90; priority:high; sid:1;)\n";
	struct rule_obs o[RULE_MAX_OBS + 6];
	struct rule_input in = hl7("MSH|");
	struct rule_hit hits[RULE_MAX_OBS + 6];
	struct fx f;

	for (unsigned i = 0; i < ARRAY_SIZE(o); i++)
		o[i] = ob(SPO2, 0, 80, 0);
	if (!FX_LOAD(&f, text))
		goto out;
	in.obs = o;
	in.n_obs = RULE_MAX_OBS;
	eval_both(&f, &in);
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_alerts), RULE_MAX_OBS);
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_obs_skipped), 0);
	in.n_obs = RULE_MAX_OBS + 6;
	eval_both(&f, &in);
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_alerts), 2 * RULE_MAX_OBS);
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_obs_skipped), 6);
	CU_ASSERT_EQUAL(rule_eval(f.set, f.s, &in, hits, ARRAY_SIZE(hits), f.c), RULE_MAX_OBS);
	CU_ASSERT_EQUAL(hits[RULE_MAX_OBS - 1].obs, RULE_MAX_OBS - 1);
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_obs_skipped), 12);
	/* No observation array: nothing to look at, nothing skipped. */
	in.obs = NULL;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "");
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_obs_skipped), 12);
out:
	fx_free(&f);
}

/* The marks are stamped by generation; when it wraps, no stale stamp may count. */
static void
test_generation_wrap(void)
{
	static const char text[] = "log hl7 10.1.2.3 any -> any any (content:\"AAA\"; sid:1;)\n";
	struct rule_input a = hl7("AAA"), b = hl7("BBB");
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	rule_scratch_set_gen(f.s, 0);
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &a), "1");
	rule_scratch_set_gen(f.s, UINT32_MAX - 1);
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &b), "");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &b), "");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &a), "1");
	/* The header class decided for one input is not reused for the next. */
	rule_scratch_set_gen(f.s, UINT32_MAX);
	set_v4(b.src, 10, 1, 2, 4);
	b.payload = (const uint8_t *)"AAA";
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &b), "");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &a), "1");
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &b), "");
out:
	fx_free(&f);
}

static void
test_explain_details(void)
{
	static const char text[] =
		"alert hl7 any any -> any any (metric:SPO2; value:<90; priority:high; sid:1;)\n"
		"alert hl7 any any -> any any (content:\"MSH\"; content:\"ASYST\"; "
		"priority:high; sid:2;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:80..90; priority:high; sid:3;)\n";
	struct rule_obs o[2] = {ob(SPO2, 0, 93, 0), ob(SPO2, 0, NAN, 0)};
	struct rule_input in = hl7("MSH|");
	struct collect x;
	struct one_why w;
	struct fx f;

	if (!FX_LOAD(&f, text))
		goto out;
	in.obs = o;
	in.n_obs = 2;
	w = explain_one(&f, &in, 1, 0);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_value);
	CU_ASSERT_STRING_EQUAL(w.detail, "93 < 90 is false");
	w = explain_one(&f, &in, 3, 0);
	CU_ASSERT_STRING_EQUAL(w.detail, "93 in 80..90 is false");
	w = explain_one(&f, &in, 1, 1);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_value);
	CU_ASSERT_STRING_EQUAL(w.detail, "no value (NaN)");
	w = explain_one(&f, &in, 2, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_pattern);
	CU_ASSERT_STRING_EQUAL(w.detail, "content 2 not found: content:\"ASYST\"");
	w = explain_one(&f, &in, 1, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(w.why, RULE_WHY_match);
	/* Every rule once for the message, metric rules once per observation. */
	memset(&x, 0, sizeof(x));
	CU_ASSERT_EQUAL(rule_explain(f.set, f.s, &in, collect_fn, &x), 0);
	CU_ASSERT_EQUAL(x.calls, 3 + 2 * 2);
	CU_ASSERT_EQUAL(eval_both(&f, &in)[0], '\0');
out:
	fx_free(&f);
}

/* ---------------------------------------------------------------------------
 * The fast path allocates nothing
 * ------------------------------------------------------------------------- */

/*
 * The source index (rules/scope.c): rules scoped to hosts and subnets of
 * both families, at the families' edges, negated, bidirectional, too wide to
 * index, header-only and metric, pass and not; every source near an edge,
 * and none. rule_explain decides every rule without the index, so
 * agreement on each input says the index never hides a rule that holds.
 */
static void
test_source_index(void)
{
	static const char *const v4[] = {
		"10.6.3.7",	   "10.6.3.8",	      "10.6.3.9",	 "10.6.3.6",
		"10.6.0.0",	   "10.6.0.1",	      "10.6.0.2",	 "10.6.0.3",
		"10.6.19.255",	   "10.6.20.0",	      "10.5.0.0",	 "10.4.255.255",
		"10.7.0.0",	   "0.0.0.0",	      "0.255.255.255",	 "1.0.0.0",
		"255.255.255.255", "255.255.255.254", "255.255.254.255", "10.6.255.255",
	};
	static const char *const v6[] = {
		"fd00::7",
		"fd00::6",
		"fd00:20::",
		"fd00:20::1",
		"fd00:20::2",
		"fd00:20:ffff:ffff:ffff:ffff:ffff:ffff",
		"fd00:21::",
		"fd00:1f:ffff:ffff:ffff:ffff:ffff:ffff",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:feff",
		"::",
		"::ffff:10.6.3.7",
	};
	static char text[8192];
	const struct rule_metric_slot *hr = NULL;
	struct rule_obs o[4] = {ob(HR, 0, 125, 0), ob(PULSE, 0, 95, 0),
				ob(HR, 0, 45, RULE_OBS_INVALID | RULE_OBS_TEST), ob(HR, 0, 160, 0)};
	struct rule_input in = hl7("MSH|");
	unsigned used = 0, n_hits = 0, hr_gen = 0;
	struct fx f;

#define ADD(...) used += (unsigned)snprintf(text + used, sizeof(text) - used, __VA_ARGS__)
	for (unsigned i = 0; i < 20; i++)
		ADD("log udp 10.6.%u.0/24 any -> any any (dsize:>10; sid:%u;)\n", i, 100 + i);
	ADD("alert udp !10.5.0.0/16 any -> any any (priority:high; dsize:>20; sid:200;)\n");
	ADD("alert udp [");
	for (unsigned i = 0; i < 17; i++)
		ADD("%s10.6.0.%u", i ? ", " : "", 2 * i + 1);
	ADD("] any -> any any (priority:low; sid:201;)\n");
	ADD("log any 10.6.3.7 any -> any any (sid:202;)\n"
	    "log any 10.6.3.8 any -> any any (sid:203;)\n"
	    "log any fd00::7 any -> any any (sid:204;)\n"
	    "pass udp 10.6.3.9 any -> any any (sid:205;)\n"
	    "log udp fd00:20::/32 any -> any any (sid:206;)\n"
	    "log udp [fd00:20::/32, !fd00:20::1] any -> any any (dsize:<100; sid:207;)\n"
	    "log udp 255.255.255.255 any -> any any (sid:208;)\n"
	    "log udp 255.255.255.0/24 any -> any any (sid:209;)\n"
	    "log udp ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120 any -> any any (sid:210;)\n"
	    "log udp 0.0.0.0/8 any -> any any (sid:211;)\n"
	    "log udp 0.0.0.0/0 any -> any any (dsize:>25; sid:212;)\n"
	    "log udp 10.6.3.7 any <> any any (sid:213;)\n"
	    "log udp any any -> any any (dsize:>1000; sid:214;)\n"
	    "log hl7 10.6.0.0/16 :1023 -> any any (sid:215;)\n");
	ADD("alert any 10.6.3.7 any -> any any (priority:high; metric:HR; value:>100; sid:300;)\n"
	    "alert any 10.6.3.7 any -> any any (priority:high; metric:HR,PULSE; value:>120; "
	    "sid:301;)\n"
	    "alert any 10.6.0.0/16 any -> any any (priority:high; metric:HR; value:>110; "
	    "sid:302;)\n"
	    "pass any 10.6.3.8 any -> any any (metric:HR; sid:303;)\n"
	    "alert any fd00:20::/32 any -> any any (priority:high; metric:HR,PULSE; value:<50; "
	    "sid:304;)\n"
	    "alert any any any -> any any (priority:high; metric:HR; value:>150; sid:305;)\n"
	    "alert any !10.6.3.7 any -> any any (priority:high; metric:PULSE; value:>90; "
	    "sid:306;)\n"
	    "alert hl7 10.6.3.0/24 any <> any any (priority:high; metric:HR; value:>130; "
	    "sid:307;)\n"
	    "log any [10.6.3.7, fd00::7] any -> any any (metric:HR; valid:test; value:<100; "
	    "sid:308;)\n"
	    "log any 10.6.3.0/24 any -> any any (metric:HR; value:>100; location:ICU; "
	    "sid:309;)\n"
	    "alert hl7 10.6.3.7 any -> any any (priority:high; content:\"MSH\"; metric:HR; "
	    "value:>100; "
	    "sid:310;)\n");
#undef ADD
	CU_ASSERT_FATAL(used < sizeof(text));
	if (!FX_LOAD(&f, text))
		goto out;
	/* Indexed: all but `any`, the bidirectional and the wide (sids 200, 201,
	 * 212 and 215, whose ranges span more than 16 hosts and segments). */
	CU_ASSERT_EQUAL(f.set->n_always, 36);
	CU_ASSERT_EQUAL(f.set->always_scope.n_gen, 6);
	for (unsigned i = 0; i < f.set->n_metric_slots; i++)
		if (f.set->metric_slots[i].code == HR)
			hr = &f.set->metric_slots[i];
	CU_ASSERT_PTR_NOT_NULL_FATAL(hr);
	for (unsigned i = 0; i < hr->scope.n_gen; i++)
		hr_gen |= 1u << (f.set->rules[f.set->metric_rules[hr->scope.gen[i]]].pub.sid - 300);
	CU_ASSERT_EQUAL(hr_gen, 1u << 5 | 1u << 7);

	in.obs = o;
	in.n_obs = ARRAY_SIZE(o);
	in.loc_sep = '^';
	set_v4(in.dst, 10, 6, 3, 7);
	for (unsigned v = 0; v < ARRAY_SIZE(v4) + ARRAY_SIZE(v6) + 1; v++) {
		if (v < ARRAY_SIZE(v4)) {
			in.ip_version = 4;
			memset(in.src, 0, sizeof(in.src));
			CU_ASSERT_EQUAL_FATAL(inet_pton(AF_INET, v4[v], in.src), 1);
		} else if (v < ARRAY_SIZE(v4) + ARRAY_SIZE(v6)) {
			in.ip_version = 6;
			set_v6(in.src, v6[v - ARRAY_SIZE(v4)]);
		} else {
			in.ip_version = 0;
		}
		for (unsigned k = 0; k < 8; k++) {
			in.first = (k & 1) == 0;
			in.dsize = k & 2 ? 30 : 5;
			in.sport = k & 4 ? 80 : 40000;
			eval_both(&f, &in);
			n_hits += f.out[0] != '\0';
		}
	}
	/* Spot checks, so the agreement above is not of two empty answers. */
	in.ip_version = 4;
	set_v4(in.src, 10, 6, 3, 7);
	in.first = true;
	in.dsize = 30;
	in.sport = 40000;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in),
			       "103 200 202 212 213 300@0 301@0 302@0 310@0 308@2 300@3 301@3 "
			       "302@3 305@3 307@3 310@3");
	set_v4(in.src, 10, 6, 3, 8);
	/* The pass rule of this monitor's HR takes back 305@3 and 307@3. */
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "103 200 203 212 213 306@1");
	in.ip_version = 6;
	set_v6(in.src, "fd00:20::1");
	in.dsize = 5;
	CU_ASSERT_STRING_EQUAL(eval_both(&f, &in), "206 306@1 305@3");
	CU_ASSERT(n_hits > 100);
out:
	fx_free(&f);
}

static void
test_eval_allocates_nothing(void)
{
#if COUNT_MALLOC
	static const char text[] =
		"pass hl7 10.0.0.5 any -> any any (sid:1;)\n"
		"alert hl7 any any -> any any (content:\"ALARM\"; nocase; priority:high; sid:2;)\n"
		"alert hl7 any any -> any any (metric:SPO2; value:<90; location:ICU*; "
		"priority:high; sid:3;)\n"
		"pass hl7 any any -> any any (metric:SPO2; value:<50; sid:4;)\n"
		"log hl7 any any <> any any (pcre:\"/OBX\\|\\d+/\"; metric:TEMP; value:>38; "
		"sid:5;)\n"
		"log udp any any -> any any (dsize:>10; sid:6;)\n";
	struct rule_obs o[RULE_MAX_OBS + 3];
	struct rule_input in = hl7("MSH|alarm\rOBX|1|NM");
	struct rule_hit hits[4];
	unsigned long before, total = 0;
	/* volatile: clang at -O2 may drop a malloc/free pair whose pointer does
	 * not escape, and with it the call this counter is checked on */
	void *volatile p;
	struct fx f;

	for (unsigned i = 0; i < ARRAY_SIZE(o); i++) {
		o[i] = ob(i % 2 ? SPO2 : TEMP, i % 3 ? 0 : FAHR, 30.0 + i, 0);
		o[i].location = (const uint8_t *)"ICU^1^2";
		o[i].location_len = 7;
	}
	if (!FX_LOAD(&f, text))
		goto out;
	in.obs = o;
	in.n_obs = ARRAY_SIZE(o);

	/* The counter itself works. */
	counting = 1;
	before = n_allocs;
	p = malloc(16);
	counting = 0;
	CU_ASSERT_EQUAL(n_allocs - before, 1);
	free(p);

	for (unsigned round = 0; round < 64; round++) {
		in.first = round % 2 == 0;
		set_v4(in.src, 10, 0, 0, (uint8_t)(round % 8));
		counting = 1;
		before = n_allocs;
		total += rule_eval(f.set, f.s, &in, hits, round % 5, f.c);
		counting = 0;
		CU_ASSERT_EQUAL(n_allocs - before, 0);
	}
	CU_ASSERT(total > 0);
	CU_ASSERT(cnt(&f, RULE_CNT_passed) > 0);
	CU_ASSERT(cnt(&f, RULE_CNT_hits_overflow) > 0);
	CU_ASSERT_EQUAL(cnt(&f, RULE_CNT_scans), 64);
out:
	fx_free(&f);
#else
	/* Under ASan the allocator is ASan's; the plain build runs this test. */
	CU_PASS("malloc counting needs a build without ASan");
#endif
}

/* ---------------------------------------------------------------------------
 * Registration
 * ------------------------------------------------------------------------- */

struct test_entry {
	const char *name;
	void (*fn)(void);
};

int
vigil_test_register(void)
{
	static const struct test_entry compiler[] = {
		{"header classes: identical headers share one", test_header_classes},
		{"metric index: by code, rules ascending", test_metric_index},
		{"sid lookup, with and without the index", test_sid_lookup},
		{"hash: whitespace-blind, content-sensitive", test_hash},
		{"hash: a rule's acl", test_acl_hash},
		{"Hyperscan's refusal mapped to file:line:col", test_compile_error_mapping},
		{"disabled rules: not compiled, not evaluated", test_disabled_not_compiled},
		{"no patterns: no database, no cache", test_no_patterns_no_database},
		{"empty and uncompiled sets", test_empty_and_uncompiled},
		{"names from the X-macros", test_names},
	};
	static const struct test_entry cache[] = {
		{"miss, then hit with the same verdicts", test_cache_miss_then_hit},
		{"damaged files are rejected and rebuilt", test_cache_rejects_damage},
		{"an unwritable cache is a warning", test_cache_unwritable},
	};
	static const struct test_entry eval[] = {
		{"every boundary of every comparison", test_value_boundaries},
		{"fractions and negative bounds", test_value_fractions_and_negatives},
		{"dsize, every form", test_dsize},
		{"valid: only, test, any", test_valid},
		{"units: F, kPa, mismatches", test_units},
		{"location parts and globs", test_location},
		{"header: proto", test_proto},
		{"header: IPv4 and IPv6 addresses, negation", test_addresses},
		{"header: ports", test_ports},
		{"header: bidirectional", test_bidirectional},
		{"header-only rules: first message; malformed", test_first_and_malformed},
		{"acl: denied, allowed, neither", test_acl},
		{"identical patterns compiled once, matched for all", test_shared_patterns},
		{"content: nocase, offset, depth at the boundaries", test_content},
		{"pcre flags", test_pcre},
		{"several patterns: all must match", test_multi_pattern},
		{"pass: message and observation scope, any file order", test_pass},
		{"hits past the array are counted", test_hits_overflow},
		{"observations past RULE_MAX_OBS", test_obs_limit},
		{"generation wrap-around", test_generation_wrap},
		{"explain: reasons and details", test_explain_details},
		{"source index: hosts, subnets, edges, no address", test_source_index},
		{"rule_eval allocates nothing", test_eval_allocates_nothing},
	};
	const struct {
		const char *name;
		const struct test_entry *tests;
		size_t n;
		CU_InitializeFunc init;
		CU_CleanupFunc clean;
	} suites[] = {
		{"rules compile", compiler, ARRAY_SIZE(compiler), NULL, NULL},
		{"rules cache", cache, ARRAY_SIZE(cache), cache_setup, cache_teardown},
		{"rules eval", eval, ARRAY_SIZE(eval), NULL, NULL},
	};

	for (size_t s = 0; s < ARRAY_SIZE(suites); s++) {
		CU_pSuite suite = CU_add_suite(suites[s].name, suites[s].init, suites[s].clean);

		if (suite == NULL)
			return -1;
		for (size_t i = 0; i < suites[s].n; i++)
			if (CU_add_test(suite, suites[s].tests[i].name, suites[s].tests[i].fn) ==
			    NULL)
				return -1;
	}
	return 0;
}
