/*
 * eval.c - the evaluator: rule_eval() on a worker's fast path, and its slow
 * twin rule_explain() for `vigil-rules explain`.
 *
 * rule_eval() runs for every decoded message, so it allocates nothing, takes
 * no lock and logs nothing; everything it needs was sized when the worker
 * made its scratch. Per input it does:
 *
 *  1. one hs_scan() of the payload. The callback only records: a pattern id
 *     is stamped with the input's generation (so nothing is ever cleared
 *     between inputs), its rule's count of matched patterns goes up, and
 *     the rule joins the candidate list when that count reaches its number
 *     of patterns (all must match).
 *  2. message hits: the candidates without metrics and, on a datagram's
 *     first message, the rules with neither patterns nor metrics (the
 *     always list), merged in rule order. Each must pass its header (decided
 *     once per header class per input), dsize, malformed and acl.
 *  3. observation hits: for each observation, the pattern-less metric rules
 *     of its code (compile.c's metric index) merged in rule order with the
 *     candidates that list the code; then validity, unit, value, location.
 *
 * The always list and each metric slot are walked through their source
 * index (scope.c): the rules for every source, and those filed under the
 * input's own source address, merged by position, which is rule order.
 * A rule left out can only be one whose source set excludes the input's.
 *
 * A pass hit suppresses the alert and log hits of its scope: on the message,
 * every hit of the input; on an observation, that observation's. Since the
 * scopes are finished in output order (the message, then observation 0, 1,
 * ...), a scope's hits are written as found and taken back if a pass turns
 * up in the same scope; so file order does not matter, and the hits array
 * never holds a suppressed hit in place of one that should have fitted.
 *
 * rule_explain() decides every rule again the slow, plain way (every rule,
 * every observation, with words) and must agree with rule_eval(); the unit
 * tests run both on every input they make. The predicates themselves (the
 * header, dsize, value, unit, location) are shared by both.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule_private.h"

/* Units the evaluator converts (DOMAIN.md section 4). */
#define UNIT_DEGC 268192u
#define UNIT_FAHR 266560u
#define UNIT_MMHG 266016u
#define UNIT_KPA 265987u
#define MMHG_PER_KPA 7.50061683

struct rule_scratch {
	const struct rule_set *set;
	hs_scratch_t *hs;   /**< NULL when the set has no database */
	uint32_t gen;	    /**< the input being evaluated; 0 is never current */
	uint32_t *pat_gen;  /**< per pattern: the generation it last matched in */
	uint32_t *rule_gen; /**< per rule: the generation rule_cnt counts for */
	uint32_t *rule_cnt; /**< per rule: its patterns matched in rule_gen */
	unsigned *cand;	    /**< rules whose patterns all matched, in match order */
	unsigned n_cand;
	unsigned *mcand; /**< the candidates with metrics, in rule order */
	unsigned n_mcand;
	uint32_t *cls_gen; /**< per header class: the generation cls_ok is for */
	uint8_t *cls_ok;
	int fam;	     /**< the input's source family in the scopes' tables, or -1 */
	struct rule_key key; /**< the input's source as a key (scope.c) */
};

/* ---------------------------------------------------------------------------
 * Counters
 * ------------------------------------------------------------------------- */

/* Single-writer increment: one load and one store, no locked instruction. */
static inline void
count(_Atomic uint64_t *counters, enum rule_counter c, uint64_t n)
{
	if (counters == NULL || n == 0)
		return;
	atomic_store_explicit(&counters[c],
			      atomic_load_explicit(&counters[c], memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* ---------------------------------------------------------------------------
 * The predicates (shared by rule_eval and rule_explain)
 * ------------------------------------------------------------------------- */

static bool
v4_in(const struct rule_addrset *a, uint32_t x)
{
	unsigned lo = 0, hi = a->n4;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (x < a->v4[mid].lo)
			hi = mid;
		else if (x > a->v4[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static bool
v6_in(const struct rule_addrset *a, const uint8_t *x)
{
	unsigned lo = 0, hi = a->n6;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (memcmp(x, a->v6[mid].lo, 16) < 0)
			hi = mid;
		else if (memcmp(x, a->v6[mid].hi, 16) > 0)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static bool
port_in(const struct rule_portset *p, uint16_t x)
{
	unsigned lo = 0, hi = p->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (x < p->r[mid].lo)
			hi = mid;
		else if (x > p->r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static bool
addr_is_any(const struct rule_addrset *a)
{
	static const uint8_t zero[16], ones[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
						   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

	return a->n4 == 1 && a->v4[0].lo == 0 && a->v4[0].hi == UINT32_MAX && a->n6 == 1 &&
	       memcmp(a->v6[0].lo, zero, 16) == 0 && memcmp(a->v6[0].hi, ones, 16) == 0;
}

/*
 * An input without an IP version (a message read from a file by a tool) has
 * no address to test: only `any` holds for it.
 */
static bool
addr_in(const struct rule_addrset *a, const struct rule_input *in, const uint8_t *addr)
{
	uint32_t x;

	switch (in->ip_version) {
	case 4:
		x = (uint32_t)addr[0] << 24 | (uint32_t)addr[1] << 16 | (uint32_t)addr[2] << 8 |
		    addr[3];
		return v4_in(a, x);
	case 6:
		return v6_in(a, addr);
	default:
		return addr_is_any(a);
	}
}

static bool
proto_ok(uint8_t rule_proto, uint8_t in_proto)
{
	switch (rule_proto) {
	case RULE_PROTO_ANY:
	case RULE_PROTO_UDP:
		return true;
	default:
		return rule_proto == in_proto;
	}
}

/* src/sport/dst/dport of one direction: the first that fails, or match. */
static enum rule_why
direction_why(const struct rule_header *h, const struct rule_input *in, bool swapped)
{
	const uint8_t *src = swapped ? in->dst : in->src;
	const uint8_t *dst = swapped ? in->src : in->dst;
	uint16_t sport = swapped ? in->dport : in->sport;
	uint16_t dport = swapped ? in->sport : in->dport;

	if (!addr_in(&h->src, in, src))
		return RULE_WHY_src;
	if (!port_in(&h->sport, sport))
		return RULE_WHY_sport;
	if (!addr_in(&h->dst, in, dst))
		return RULE_WHY_dst;
	if (!port_in(&h->dport, dport))
		return RULE_WHY_dport;
	return RULE_WHY_match;
}

/*
 * The same verdict as header_why() without the reason, for rule_eval: the
 * ports first, since comparing two numbers is cheaper than an address search
 * and rules are often told apart by port.
 */
static bool
direction_ok(const struct rule_header *h, const struct rule_input *in, bool swapped)
{
	uint16_t sport = swapped ? in->dport : in->sport;
	uint16_t dport = swapped ? in->sport : in->dport;

	return port_in(&h->dport, dport) && port_in(&h->sport, sport) &&
	       addr_in(&h->src, in, swapped ? in->dst : in->src) &&
	       addr_in(&h->dst, in, swapped ? in->src : in->dst);
}

static bool
header_ok(const struct rule_header *h, const struct rule_input *in)
{
	if (!proto_ok(h->proto, in->proto))
		return false;
	return direction_ok(h, in, false) || (h->bidirectional && direction_ok(h, in, true));
}

/* The header's verdict; a bidirectional rule that fails both ways gives the forward reason. */
static enum rule_why
header_why(const struct rule_header *h, const struct rule_input *in)
{
	enum rule_why w;

	if (!proto_ok(h->proto, in->proto))
		return RULE_WHY_proto;
	w = direction_why(h, in, false);
	if (w != RULE_WHY_match && h->bidirectional && direction_why(h, in, true) == RULE_WHY_match)
		return RULE_WHY_match;
	return w;
}

static bool
cmp_u32(uint8_t cmp, uint32_t v, uint32_t a, uint32_t b)
{
	switch (cmp) {
	case RULE_CMP_NONE:
		return true;
	case RULE_CMP_LT:
		return v < a;
	case RULE_CMP_LE:
		return v <= a;
	case RULE_CMP_GT:
		return v > a;
	case RULE_CMP_GE:
		return v >= a;
	case RULE_CMP_EQ:
		return v == a;
	case RULE_CMP_NE:
		return v != a;
	case RULE_CMP_RANGE:
		return v >= a && v <= b;
	case RULE_CMP_OUTSIDE:
		return v < a || v > b;
	default:
		return false;
	}
}

/* A NaN fails every comparison, != too. */
static bool
cmp_double(uint8_t cmp, double v, double a, double b)
{
	if (cmp == RULE_CMP_NONE)
		return true;
	if (isnan(v))
		return false;
	switch (cmp) {
	case RULE_CMP_LT:
		return v < a;
	case RULE_CMP_LE:
		return v <= a;
	case RULE_CMP_GT:
		return v > a;
	case RULE_CMP_GE:
		return v >= a;
	case RULE_CMP_EQ:
		return v == a;
	case RULE_CMP_NE:
		return v != a;
	case RULE_CMP_RANGE:
		return v >= a && v <= b;
	case RULE_CMP_OUTSIDE:
		return v < a || v > b;
	default:
		return false;
	}
}

/* What decides a message-level condition besides the header class. */
static enum rule_why
datagram_why(const struct rule *r, const struct rule_input *in)
{
	if (!cmp_u32(r->dsize_cmp, in->dsize, r->dsize_a, r->dsize_b))
		return RULE_WHY_dsize;
	if (r->malformed && !in->malformed)
		return RULE_WHY_malformed;
	if ((r->acl == RULE_ACL_DENIED && !in->acl_denied) ||
	    (r->acl == RULE_ACL_ALLOWED && in->acl_denied))
		return RULE_WHY_acl;
	return RULE_WHY_match;
}

static bool
lists_metric(const struct rule *r, uint32_t code)
{
	for (unsigned m = 0; m < r->n_metrics && m < RULE_MAX_METRICS; m++)
		if (r->metric[m] == code)
			return true;
	return false;
}

static bool
valid_mode_ok(uint8_t valid, uint32_t flags)
{
	if (!(flags & RULE_OBS_INVALID))
		return true;
	switch (valid) {
	case RULE_VALID_ANY:
		return true;
	case RULE_VALID_TEST:
		return (flags & RULE_OBS_TEST) != 0;
	default:
		return false;
	}
}

static bool
valid_ok(const struct rule *r, uint32_t flags)
{
	return valid_mode_ok(r->valid, flags);
}

enum conversion { CONV_NONE = -1, CONV_AS_IS = 0, CONV_CONVERTED = 1 };

/*
 * The observation's value in the unit of the rule's value (its metrics' usual
 * unit), or CONV_NONE when the two cannot be compared. Unit 0 means "as the
 * metric's own".
 */
static enum conversion
convert_to(uint32_t want, const struct rule_obs *o, double *v)
{
	*v = o->value;
	if (o->unit == 0 || o->unit == want)
		return CONV_AS_IS;
	if (o->unit == UNIT_FAHR && want == UNIT_DEGC) {
		*v = (o->value - 32.0) * 5.0 / 9.0;
		return CONV_CONVERTED;
	}
	if (o->unit == UNIT_KPA && want == UNIT_MMHG) {
		*v = o->value * MMHG_PER_KPA;
		return CONV_CONVERTED;
	}
	return CONV_NONE;
}

/* A rule of a set is always a struct rule_int: compile.c worked out its unit. */
static enum conversion
convert(const struct rule *r, const struct rule_obs *o, double *v)
{
	return convert_to(((const struct rule_int *)r)->value_unit, o, v);
}

static unsigned char
ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* `*` any run, `?` one byte, ASCII case-insensitive, the whole of s[0..n). */
static bool
glob_match(const char *g, const uint8_t *s, size_t n)
{
	const char *star = NULL;
	size_t i = 0, star_i = 0;

	while (i < n) {
		if (*g == '*') {
			star = g++;
			star_i = i;
		} else if (*g != '\0' &&
			   (*g == '?' || ascii_lower((unsigned char)*g) == ascii_lower(s[i]))) {
			g++;
			i++;
		} else if (star != NULL) {
			g = star + 1;
			i = ++star_i;
		} else {
			return false;
		}
	}
	while (*g == '*')
		g++;
	return *g == '\0';
}

/* Component @p part (1-based) of the location text; false when it has none. */
static bool
loc_component(const struct rule_obs *o, char sep, unsigned part, const uint8_t **p, size_t *n)
{
	size_t start = 0, i;
	unsigned k = 1;

	if (o->location == NULL || o->location_len == 0)
		return false;
	if (sep == '\0')
		sep = '^';
	for (i = 0; i <= o->location_len; i++) {
		if (i < o->location_len && o->location[i] != (uint8_t)sep)
			continue;
		if (k == part) {
			*p = o->location + start;
			*n = i - start;
			return true;
		}
		k++;
		start = i + 1;
	}
	return false;
}

static bool
location_ok(const struct rule *r, const struct rule_input *in, const struct rule_obs *o)
{
	const uint8_t *p;
	size_t n;

	if (r->loc_part == RULE_LOC_NONE)
		return true;
	/* VTP carries no location, whatever a caller filled in. */
	if (in->proto == RULE_PROTO_VTP || r->loc_glob == NULL)
		return false;
	if (!loc_component(o, in->loc_sep, r->loc_part, &p, &n))
		return false;
	return glob_match(r->loc_glob, p, n);
}

/* ---------------------------------------------------------------------------
 * The scratch
 * ------------------------------------------------------------------------- */

int
rule_scratch_new(const struct rule_set *set, struct rule_scratch **out)
{
	struct rule_scratch *s;
	size_t np = set->n_patterns ? set->n_patterns : 1;
	size_t nr = set->n_rules ? set->n_rules : 1;
	size_t nc = set->n_classes ? set->n_classes : 1;

	*out = NULL;
	if (!set->compiled)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->set = set;
	s->pat_gen = calloc(np, sizeof(*s->pat_gen));
	s->rule_gen = calloc(nr, sizeof(*s->rule_gen));
	s->rule_cnt = calloc(nr, sizeof(*s->rule_cnt));
	s->cand = calloc(nr, sizeof(*s->cand));
	s->mcand = calloc(nr, sizeof(*s->mcand));
	s->cls_gen = calloc(nc, sizeof(*s->cls_gen));
	s->cls_ok = calloc(nc, sizeof(*s->cls_ok));
	if (s->pat_gen == NULL || s->rule_gen == NULL || s->rule_cnt == NULL || s->cand == NULL ||
	    s->mcand == NULL || s->cls_gen == NULL || s->cls_ok == NULL)
		goto err;
	if (set->proto != NULL && hs_clone_scratch(set->proto, &s->hs) != HS_SUCCESS) {
		s->hs = NULL;
		goto err;
	}
	*out = s;
	return 0;
err:
	rule_scratch_free(s);
	return -ENOMEM;
}

void
rule_scratch_free(struct rule_scratch *s)
{
	if (s == NULL)
		return;
	if (s->hs != NULL)
		hs_free_scratch(s->hs);
	free(s->pat_gen);
	free(s->rule_gen);
	free(s->rule_cnt);
	free(s->cand);
	free(s->mcand);
	free(s->cls_gen);
	free(s->cls_ok);
	free(s);
}

void
rule_scratch_set_gen(struct rule_scratch *s, uint32_t gen)
{
	s->gen = gen;
}

/*
 * A new generation for a new input. When the counter wraps, every stamp
 * could look current again, so they are cleared (memset, no allocation):
 * once per 2^32 inputs.
 */
static void
next_generation(struct rule_scratch *s)
{
	const struct rule_set *set = s->set;

	if (++s->gen != 0)
		return;
	memset(s->pat_gen, 0, (set->n_patterns ? set->n_patterns : 1) * sizeof(*s->pat_gen));
	memset(s->rule_gen, 0, (set->n_rules ? set->n_rules : 1) * sizeof(*s->rule_gen));
	memset(s->cls_gen, 0, (set->n_classes ? set->n_classes : 1) * sizeof(*s->cls_gen));
	s->gen = 1;
}

/* ---------------------------------------------------------------------------
 * rule_eval
 * ------------------------------------------------------------------------- */

/* Hyperscan's callback: record, nothing else. */
static int
on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
	 void *ctx)
{
	struct rule_scratch *s = ctx;
	const struct rule_set *set = s->set;
	unsigned r;

	(void)from;
	(void)to;
	(void)flags;
	if (id >= set->n_patterns || s->pat_gen[id] == s->gen)
		return 0;
	/* The id stands for every identical pattern chained to it. */
	for (unsigned p = id; p < set->n_patterns; p = set->patterns[p].same_next) {
		s->pat_gen[p] = s->gen;
		r = set->patterns[p].rule;
		if (s->rule_gen[r] != s->gen) {
			s->rule_gen[r] = s->gen;
			s->rule_cnt[r] = 0;
		}
		if (++s->rule_cnt[r] == set->rules[r].pub.n_patterns)
			s->cand[s->n_cand++] = r;
	}
	return 0;
}

/* Heapsort: in place, no allocation (glibc's qsort may malloc). */
static void
sift_down(unsigned *a, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;
		unsigned t;

		if (child >= n)
			return;
		if (child + 1 < n && a[child + 1] > a[child])
			child++;
		if (a[root] >= a[child])
			return;
		t = a[root];
		a[root] = a[child];
		a[child] = t;
		root = child;
	}
}

static void
sort_uints(unsigned *a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(a, i, n);
	for (size_t end = n; end-- > 1;) {
		unsigned t = a[0];

		a[0] = a[end];
		a[end] = t;
		sift_down(a, 0, end);
	}
}

static bool
class_ok(struct rule_scratch *s, const struct rule_int *r, const struct rule_input *in)
{
	unsigned c = r->hdr_class;

	if (c >= s->set->n_classes)
		return header_ok(&r->hdr, in);
	if (s->cls_gen[c] != s->gen) {
		s->cls_gen[c] = s->gen;
		s->cls_ok[c] = header_ok(s->set->classes[c], in);
	}
	return s->cls_ok[c];
}

/* Where eval writes hits: the array, and what did not fit. */
struct sink {
	struct rule_hit *hits;
	unsigned max, n, over;
};

static void
emit(struct sink *k, const struct rule *r, uint16_t obs, uint32_t code, double value)
{
	if (k->n >= k->max) {
		k->over++;
		return;
	}
	k->hits[k->n++] = (struct rule_hit){.rule = r, .obs = obs, .code = code, .value = value};
}

/* The input's source as the scopes' tables key it; fam -1 when it has none. */
static void
source_key(struct rule_scratch *s, const struct rule_input *in)
{
	uint64_t hi = 0, lo = 0;

	switch (in->ip_version) {
	case 4:
		s->fam = 0;
		s->key = (struct rule_key){.hi = 0,
					   .lo = (uint32_t)in->src[0] << 24 |
						 (uint32_t)in->src[1] << 16 |
						 (uint32_t)in->src[2] << 8 | in->src[3]};
		return;
	case 6:
		for (unsigned i = 0; i < 8; i++) {
			hi = hi << 8 | in->src[i];
			lo = lo << 8 | in->src[8 + i];
		}
		s->fam = 1;
		s->key = (struct rule_key){.hi = hi, .lo = lo};
		return;
	default:
		/* Only `any` holds without an address, and no indexed rule has it. */
		s->fam = -1;
		return;
	}
}

/* A run of positions, ascending. */
struct span {
	const unsigned *p, *end;
};

/* The positions of one scope a message visits: gen, its host, its segment. */
struct walk {
	struct span s[3];
};

static bool
key_le(const struct rule_key *a, const struct rule_key *b)
{
	return a->hi < b->hi || (a->hi == b->hi && a->lo <= b->lo);
}

static void
walk_init(struct walk *w, const struct rule_scope *sc, const struct rule_scratch *s)
{
	const struct rule_addr_table *t;
	unsigned lo = 0, hi;

	w->s[0] = (struct span){sc->gen, sc->gen + sc->n_gen};
	w->s[1] = w->s[2] = (struct span){NULL, NULL};
	if (s->fam < 0)
		return;
	t = &sc->fam[s->fam];
	hi = t->n_hosts;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (t->hosts[mid].hi == s->key.hi && t->hosts[mid].lo == s->key.lo) {
			w->s[1] = (struct span){sc->pos + t->host_at[mid],
						sc->pos + t->host_at[mid + 1]};
			break;
		}
		if (key_le(&t->hosts[mid], &s->key))
			lo = mid + 1;
		else
			hi = mid;
	}
	/* The segment is the last one that starts at or before the source. */
	lo = 0;
	hi = t->n_segs;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (key_le(&t->segs[mid], &s->key))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0)
		w->s[2] = (struct span){sc->pos + t->seg_at[lo - 1], sc->pos + t->seg_at[lo]};
}

/* The walk's next position (the three runs are disjoint), or UINT_MAX. */
static unsigned
walk_next(struct walk *w)
{
	unsigned best = UINT_MAX, b = 3;

	for (unsigned j = 0; j < 3; j++)
		if (w->s[j].p < w->s[j].end && *w->s[j].p < best) {
			best = *w->s[j].p;
			b = j;
		}
	if (b < 3)
		w->s[b].p++;
	return best;
}

static void
eval_message(struct rule_scratch *s, const struct rule_input *in, struct sink *k, bool *pass)
{
	const struct rule_set *set = s->set;
	unsigned ci = 0, ap;
	struct walk w;

	walk_init(&w, &set->always_scope, s);
	ap = walk_next(&w);
	for (;;) {
		unsigned c = UINT_MAX, a = UINT_MAX, i;
		const struct rule_int *r;

		/* The next candidate without metrics, and the next always rule. */
		while (ci < s->n_cand && set->rules[s->cand[ci]].pub.n_metrics > 0)
			ci++;
		if (ci < s->n_cand)
			c = s->cand[ci];
		if (ap != UINT_MAX)
			a = set->always[ap];
		if (c == UINT_MAX && a == UINT_MAX)
			return;
		if (c < a) {
			i = c;
			ci++;
		} else {
			i = a;
			ap = walk_next(&w);
		}
		r = &set->rules[i];
		/* A rule of the header alone fires once per datagram, on its first
		 * input; a `malformed` one on the datagram's own evaluation, which
		 * may come after good messages (then first is false). */
		if (i == a && !in->first && !r->pub.malformed)
			continue;
		if (datagram_why(&r->pub, in) != RULE_WHY_match || !class_ok(s, r, in))
			continue;
		if (r->pub.action == RULE_ACTION_PASS)
			*pass = true;
		else
			emit(k, &r->pub, RULE_HIT_MSG, 0, NAN);
	}
}

static const struct rule_metric_slot *
find_slot(const struct rule_set *set, uint32_t code)
{
	unsigned lo = 0, hi = set->n_metric_slots;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (set->metric_slots[mid].code == code)
			return &set->metric_slots[mid];
		if (set->metric_slots[mid].code < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* One rule against one observation of its metric, the patterns already decided. */
static bool
obs_ok(struct rule_scratch *s, const struct rule_int *r, const struct rule_input *in,
       const struct rule_obs *o, _Atomic uint64_t *counters)
{
	double v;

	/* A valid, comparable value that fails the test decides at once, and
	 * no counter depends on the header then. */
	if (r->pub.value_cmp != RULE_CMP_NONE && valid_ok(&r->pub, o->flags) &&
	    convert(&r->pub, o, &v) != CONV_NONE &&
	    !cmp_double(r->pub.value_cmp, v, r->pub.value_a, r->pub.value_b))
		return false;
	if (datagram_why(&r->pub, in) != RULE_WHY_match || !class_ok(s, r, in))
		return false;
	if (!valid_ok(&r->pub, o->flags)) {
		count(counters, RULE_CNT_invalid_skipped, 1);
		return false;
	}
	if (r->pub.value_cmp != RULE_CMP_NONE) {
		if (convert(&r->pub, o, &v) == CONV_NONE) {
			count(counters, RULE_CNT_unit_mismatch, 1);
			return false;
		}
		if (!cmp_double(r->pub.value_cmp, v, r->pub.value_a, r->pub.value_b))
			return false;
	}
	return location_ok(&r->pub, in, o);
}

static void
eval_obs(struct rule_scratch *s, const struct rule_input *in, uint16_t oi, struct sink *k,
	 bool *pass, _Atomic uint64_t *counters)
{
	const struct rule_set *set = s->set;
	const struct rule_obs *o = &in->obs[oi];
	const struct rule_metric_slot *slot = find_slot(set, o->code);
	unsigned xp = UINT_MAX, mi = 0;
	enum conversion conv = CONV_NONE;
	double v = NAN;
	struct walk w;

	/* Every rule of a slot has its value in the slot metric's unit. */
	if (slot != NULL && slot->n > 0) {
		conv = convert_to(set->rules[set->metric_rules[slot->first]].value_unit, o, &v);
		walk_init(&w, &slot->scope, s);
		xp = walk_next(&w);
	}
	for (;;) {
		unsigned x = UINT_MAX, m = UINT_MAX, i;
		const struct rule_int *r;

		while (mi < s->n_mcand && !lists_metric(&set->rules[s->mcand[mi]].pub, o->code))
			mi++;
		if (mi < s->n_mcand)
			m = s->mcand[mi];
		if (xp != UINT_MAX)
			x = set->metric_rules[xp];
		if (x == UINT_MAX && m == UINT_MAX)
			return;
		if (x < m) {
			const struct rule_mpred *p = &set->metric_preds[xp];

			i = x;
			xp = walk_next(&w);
			/* obs_ok's quick reject, from the packed test alone. */
			if (p->cmp != RULE_CMP_NONE && conv != CONV_NONE &&
			    valid_mode_ok(p->valid, o->flags) && !cmp_double(p->cmp, v, p->a, p->b))
				continue;
		} else {
			i = m;
			mi++;
		}
		r = &set->rules[i];
		if (!obs_ok(s, r, in, o, counters))
			continue;
		if (r->pub.action == RULE_ACTION_PASS)
			*pass = true;
		else
			emit(k, &r->pub, oi, o->code, o->value);
	}
}

unsigned
rule_eval(const struct rule_set *set, struct rule_scratch *s, const struct rule_input *in,
	  struct rule_hit *hits, unsigned max, _Atomic uint64_t *counters)
{
	struct sink k = {.hits = hits, .max = hits != NULL ? max : 0};
	unsigned n_obs, passed = 0, alerts = 0, logs = 0;
	bool msg_pass = false;

	count(counters, RULE_CNT_messages, 1);
	/* A scratch made for another set (a reload gone wrong) would index out of bounds. */
	if (set == NULL || s == NULL || s->set != set || in == NULL) {
		count(counters, RULE_CNT_scan_errors, 1);
		return 0;
	}
	next_generation(s);
	source_key(s, in);
	s->n_cand = 0;
	s->n_mcand = 0;
	if (s->hs != NULL && set->db != NULL && in->payload != NULL && in->len > 0) {
		count(counters, RULE_CNT_scans, 1);
		if (in->len > UINT_MAX ||
		    hs_scan(set->db, (const char *)in->payload, (unsigned int)in->len, 0, s->hs,
			    on_match, s) != HS_SUCCESS) {
			/* Partial matches would be a guess: the pattern rules miss. */
			count(counters, RULE_CNT_scan_errors, 1);
			s->n_cand = 0;
		}
	}
	sort_uints(s->cand, s->n_cand);
	for (unsigned i = 0; i < s->n_cand; i++)
		if (set->rules[s->cand[i]].pub.n_metrics > 0)
			s->mcand[s->n_mcand++] = s->cand[i];

	eval_message(s, in, &k, &msg_pass);
	if (msg_pass) {
		passed += k.n + k.over;
		k.n = k.over = 0;
	}

	n_obs = in->obs != NULL ? in->n_obs : 0;
	if (n_obs > RULE_MAX_OBS) {
		count(counters, RULE_CNT_obs_skipped, n_obs - RULE_MAX_OBS);
		n_obs = RULE_MAX_OBS;
	}
	for (unsigned i = 0; i < n_obs; i++) {
		unsigned n0 = k.n, over0 = k.over;
		bool obs_pass = false;

		eval_obs(s, in, (uint16_t)i, &k, &obs_pass, counters);
		if (obs_pass || msg_pass) {
			passed += (k.n - n0) + (k.over - over0);
			k.n = n0;
			k.over = over0;
		}
	}

	for (unsigned i = 0; i < k.n; i++) {
		if (hits[i].rule->action == RULE_ACTION_ALERT)
			alerts++;
		else
			logs++;
	}
	count(counters, RULE_CNT_alerts, alerts);
	count(counters, RULE_CNT_logs, logs);
	count(counters, RULE_CNT_passed, passed);
	count(counters, RULE_CNT_hits_overflow, k.over);
	return k.n;
}

/* ---------------------------------------------------------------------------
 * rule_explain
 * ------------------------------------------------------------------------- */

struct explain {
	const struct rule_set *set;
	const struct rule_input *in;
	bool *matched; /**< per pattern: found by the scan */
};

static int
on_match_explain(unsigned int id, unsigned long long from, unsigned long long to,
		 unsigned int flags, void *ctx)
{
	struct explain *x = ctx;

	(void)from;
	(void)to;
	(void)flags;
	for (unsigned p = id; p < x->set->n_patterns; p = x->set->patterns[p].same_next)
		x->matched[p] = true;
	return 0;
}

static const char *
cmp_op(uint8_t cmp)
{
	switch (cmp) {
	case RULE_CMP_LT:
		return "<";
	case RULE_CMP_LE:
		return "<=";
	case RULE_CMP_GT:
		return ">";
	case RULE_CMP_GE:
		return ">=";
	case RULE_CMP_EQ:
		return "==";
	case RULE_CMP_NE:
		return "!=";
	default:
		return "?";
	}
}

/* "93 < 90", "93 in 80..90", "85 outside 80..90" (without the verdict). */
static void
describe_cmp(char *buf, size_t len, const char *v, uint8_t cmp, double a, double b)
{
	if (cmp == RULE_CMP_RANGE)
		snprintf(buf, len, "%s in %g..%g", v, a, b);
	else if (cmp == RULE_CMP_OUTSIDE)
		snprintf(buf, len, "%s outside %g..%g", v, a, b);
	else
		snprintf(buf, len, "%s %s %g", v, cmp_op(cmp), a);
}

static void
describe_addr(char *buf, size_t len, const struct rule_input *in, const uint8_t *addr)
{
	if (in->ip_version == 4)
		inet_ntop(AF_INET, addr, buf, (socklen_t)len);
	else if (in->ip_version == 6)
		inet_ntop(AF_INET6, addr, buf, (socklen_t)len);
	else
		snprintf(buf, len, "(no address)");
}

static const char *
refid_or_code(uint32_t code, char *buf, size_t len)
{
	const char *s = rule_code_refid(code);

	if (s != NULL)
		return s;
	snprintf(buf, len, "%u", code);
	return buf;
}

/* The header's verdict with words. */
static enum rule_why
explain_header(const struct rule_header *h, const struct rule_input *in, char *d, size_t len)
{
	enum rule_why w = header_why(h, in);
	const char *either = h->bidirectional ? " (either direction)" : "";
	char a[INET6_ADDRSTRLEN + 16];

	switch (w) {
	case RULE_WHY_proto:
		snprintf(d, len, "%s rule, %s input", rule_proto_name(h->proto),
			 rule_proto_name(in->proto));
		break;
	case RULE_WHY_src:
		describe_addr(a, sizeof(a), in, in->src);
		snprintf(d, len, "source %s not in the set%s", a, either);
		break;
	case RULE_WHY_dst:
		describe_addr(a, sizeof(a), in, in->dst);
		snprintf(d, len, "destination %s not in the set%s", a, either);
		break;
	case RULE_WHY_sport:
		snprintf(d, len, "source port %u not in the set%s", in->sport, either);
		break;
	case RULE_WHY_dport:
		snprintf(d, len, "destination port %u not in the set%s", in->dport, either);
		break;
	default:
		break;
	}
	return w;
}

/*
 * What the message decides about a rule: header, dsize, malformed, acl, the
 * once-per-datagram rule of header-only rules, and the patterns.
 */
static enum rule_why
explain_message(const struct explain *x, const struct rule_int *r, char *d, size_t len)
{
	const struct rule_input *in = x->in;
	const struct rule *p = &r->pub;
	enum rule_why w;
	char v[32];

	d[0] = '\0';
	if (p->disabled)
		return RULE_WHY_disabled;
	w = explain_header(&r->hdr, in, d, len);
	if (w != RULE_WHY_match)
		return w;
	w = datagram_why(p, in);
	if (w == RULE_WHY_dsize) {
		snprintf(v, sizeof(v), "dsize %u", in->dsize);
		describe_cmp(d, len, v, p->dsize_cmp, p->dsize_a, p->dsize_b);
		snprintf(d + strlen(d), len - strlen(d), " is false");
		return w;
	}
	if (w == RULE_WHY_malformed) {
		snprintf(d, len, "the datagram's telemetry decoded");
		return w;
	}
	if (w == RULE_WHY_acl) {
		snprintf(d, len, "%s",
			 in->acl_denied ? "the sender is outside telemetry.allow (acl:allowed)"
					: "the sender is in telemetry.allow (acl:denied)");
		return w;
	}
	if (p->n_patterns == 0 && p->n_metrics == 0 && !p->malformed && !in->first) {
		snprintf(d, len, "not the datagram's first message");
		return RULE_WHY_once;
	}
	for (unsigned j = 0; j < p->n_patterns; j++) {
		const struct rule_pattern *pt = &x->set->patterns[r->first_pattern + j];

		if (!x->matched[r->first_pattern + j]) {
			snprintf(d, len, "%s %u not found: %s", pt->is_pcre ? "pcre" : "content",
				 j + 1, pt->shown ? pt->shown : pt->expr);
			return RULE_WHY_pattern;
		}
	}
	if (p->n_metrics > 0)
		snprintf(d, len, "the observations decide");
	return RULE_WHY_match;
}

/* One metric rule against one observation, given the message's verdict @p mw. */
static enum rule_why
explain_obs(const struct explain *x, const struct rule_int *r, unsigned oi, enum rule_why mw,
	    const char *mdetail, char *d, size_t len)
{
	const struct rule_input *in = x->in;
	const struct rule_obs *o = &in->obs[oi];
	const struct rule *p = &r->pub;
	char vs[64], b1[16], b2[16];
	const struct rule_metric *m;
	enum conversion conv;
	const uint8_t *lp;
	size_t ln;
	double v;

	d[0] = '\0';
	if (mw == RULE_WHY_disabled)
		return mw;
	if (!lists_metric(p, o->code)) {
		snprintf(d, len, "observation of %s", refid_or_code(o->code, b1, sizeof(b1)));
		return RULE_WHY_metric;
	}
	if (mw != RULE_WHY_match) {
		snprintf(d, len, "%s", mdetail);
		return mw;
	}
	if (!valid_ok(p, o->flags)) {
		snprintf(d, len, "%s value, valid:%s",
			 o->flags & RULE_OBS_TEST ? "a TEST/DEMO" : "an invalid",
			 p->valid == RULE_VALID_TEST ? "test" : "only");
		return RULE_WHY_invalid;
	}
	if (p->value_cmp != RULE_CMP_NONE) {
		conv = convert(p, o, &v);
		if (conv == CONV_NONE) {
			m = rule_metric_by_code(p->metric[0]);
			snprintf(d, len, "unit %s cannot be compared with %s",
				 refid_or_code(o->unit, b1, sizeof(b1)),
				 refid_or_code(m != NULL ? m->unit : 0, b2, sizeof(b2)));
			return RULE_WHY_unit;
		}
		if (isnan(v)) {
			snprintf(d, len, "no value (NaN)");
			return RULE_WHY_value;
		}
		if (conv == CONV_CONVERTED)
			snprintf(vs, sizeof(vs), "%g (%g %s)", v, o->value,
				 refid_or_code(o->unit, b1, sizeof(b1)));
		else
			snprintf(vs, sizeof(vs), "%g", v);
		if (!cmp_double(p->value_cmp, v, p->value_a, p->value_b)) {
			describe_cmp(d, len, vs, p->value_cmp, p->value_a, p->value_b);
			snprintf(d + strlen(d), len - strlen(d), " is false");
			return RULE_WHY_value;
		}
	}
	if (!location_ok(p, in, o)) {
		if (in->proto == RULE_PROTO_VTP)
			snprintf(d, len, "VTP carries no location");
		else if (o->location == NULL || o->location_len == 0)
			snprintf(d, len, "no location");
		else if (!loc_component(o, in->loc_sep, p->loc_part, &lp, &ln))
			snprintf(d, len, "location \"%.*s\" has no component %u",
				 (int)o->location_len, (const char *)o->location, p->loc_part);
		else
			snprintf(d, len, "\"%.*s\" does not match \"%s\"", (int)ln,
				 (const char *)lp, p->loc_glob ? p->loc_glob : "");
		return RULE_WHY_location;
	}
	return RULE_WHY_match;
}

int
rule_explain(const struct rule_set *set, struct rule_scratch *s, const struct rule_input *in,
	     rule_explain_fn fn, void *arg)
{
	struct explain x = {.set = set, .in = in};
	const struct rule *msg_pass = NULL, **obs_pass = NULL;
	char d[256], md[256];
	unsigned n_obs;
	int rc = -ENOMEM;

	if (set == NULL || s == NULL || s->set != set || in == NULL || fn == NULL)
		return -EINVAL;
	n_obs = in->obs != NULL ? in->n_obs : 0;
	if (n_obs > RULE_MAX_OBS)
		n_obs = RULE_MAX_OBS;
	x.matched = calloc(set->n_patterns ? set->n_patterns : 1, sizeof(*x.matched));
	obs_pass = calloc(n_obs ? n_obs : 1, sizeof(*obs_pass));
	if (x.matched == NULL || obs_pass == NULL)
		goto out;
	if (s->hs != NULL && set->db != NULL && in->payload != NULL && in->len > 0) {
		if (in->len > UINT_MAX ||
		    hs_scan(set->db, (const char *)in->payload, (unsigned int)in->len, 0, s->hs,
			    on_match_explain, &x) != HS_SUCCESS) {
			rc = -EIO;
			goto out;
		}
	}

	/* First the pass rules: which scopes they suppress, and by which rule. */
	for (unsigned i = 0; i < set->n_rules; i++) {
		const struct rule_int *r = &set->rules[i];
		enum rule_why mw;

		if (r->pub.action != RULE_ACTION_PASS)
			continue;
		mw = explain_message(&x, r, md, sizeof(md));
		if (r->pub.n_metrics == 0) {
			if (mw == RULE_WHY_match && msg_pass == NULL)
				msg_pass = &r->pub;
			continue;
		}
		for (unsigned o = 0; o < n_obs; o++)
			if (obs_pass[o] == NULL &&
			    explain_obs(&x, r, o, mw, md, d, sizeof(d)) == RULE_WHY_match)
				obs_pass[o] = &r->pub;
	}

	for (unsigned i = 0; i < set->n_rules; i++) {
		const struct rule_int *r = &set->rules[i];
		bool suppressible = r->pub.action != RULE_ACTION_PASS;
		enum rule_why mw = explain_message(&x, r, md, sizeof(md));

		if (r->pub.n_metrics == 0) {
			if (mw == RULE_WHY_match && suppressible && msg_pass != NULL) {
				snprintf(d, sizeof(d), "by pass rule sid %u", msg_pass->sid);
				fn(arg, &r->pub, RULE_HIT_MSG, RULE_WHY_passed, d);
			} else {
				fn(arg, &r->pub, RULE_HIT_MSG, mw, md);
			}
			continue;
		}
		fn(arg, &r->pub, RULE_HIT_MSG, mw, md);
		for (unsigned o = 0; o < n_obs; o++) {
			enum rule_why w = explain_obs(&x, r, o, mw, md, d, sizeof(d));
			const struct rule *by = msg_pass != NULL ? msg_pass : obs_pass[o];

			if (w == RULE_WHY_match && suppressible && by != NULL) {
				snprintf(d, sizeof(d), "by pass rule sid %u", by->sid);
				w = RULE_WHY_passed;
			}
			fn(arg, &r->pub, (uint16_t)o, w, d);
		}
	}
	rc = 0;
out:
	free(x.matched);
	free(obs_pass);
	return rc;
}
