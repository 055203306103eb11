/*
 * scope.c - the source-address index of the lists rule_eval walks for every
 * message: the always list and each metric slot (struct rule_scope).
 *
 * A large set scopes most of its pattern-less rules to a monitor (its
 * address) or a subnet, and a message can only meet those of its own
 * source; walking all of them for every message was most of rule_eval's
 * time. So a rule with a source that is neither `any` nor bidirectional is
 * filed under its addresses: single addresses in a sorted host table, the
 * other ranges in segments cut at every edge of every range (so a segment
 * is wholly inside or outside each range). A message looks its source up
 * once per list and merges the gen list, its host entry and its segment
 * entry. The index only narrows what is visited; every visited rule is
 * still decided in full, so the verdicts are those of the whole walk.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "rule_private.h"

/*
 * A rule that would be listed under more entries than this stays in gen: a
 * negated source (all but one subnet) would otherwise be repeated in every
 * segment the other rules cut, and gen costs it one visit per message.
 */
#define SCOPE_MAX_ENTRIES 16

static int
key_cmp(const struct rule_key *a, const struct rule_key *b)
{
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return 0;
}

static uint64_t
be64(const uint8_t *b)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < 8; i++)
		x = x << 8 | b[i];
	return x;
}

/* Range @p j of family @p f (0: IPv4, 1: IPv6) of @p a, as keys. */
static unsigned
fam_n(const struct rule_addrset *a, unsigned f)
{
	return f == 0 ? a->n4 : a->n6;
}

static void
fam_range(const struct rule_addrset *a, unsigned f, unsigned j, struct rule_key *lo,
	  struct rule_key *hi)
{
	if (f == 0) {
		*lo = (struct rule_key){.hi = 0, .lo = a->v4[j].lo};
		*hi = (struct rule_key){.hi = 0, .lo = a->v4[j].hi};
	} else {
		*lo = (struct rule_key){.hi = be64(a->v6[j].lo), .lo = be64(a->v6[j].lo + 8)};
		*hi = (struct rule_key){.hi = be64(a->v6[j].hi), .lo = be64(a->v6[j].hi + 8)};
	}
}

/* The address after @p k in family @p f; false when @p k is the family's last. */
static bool
key_next(unsigned f, struct rule_key *k)
{
	if (f == 0) {
		if (k->lo >= UINT32_MAX)
			return false;
		k->lo++;
		return true;
	}
	if (k->lo == UINT64_MAX) {
		if (k->hi == UINT64_MAX)
			return false;
		k->hi++;
		k->lo = 0;
		return true;
	}
	k->lo++;
	return true;
}

/* Both families whole: the only source an input without addresses passes. */
static bool
src_is_any(const struct rule_addrset *a)
{
	static const uint8_t zero[16], ones[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
						   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

	return a->n4 == 1 && a->v4[0].lo == 0 && a->v4[0].hi == UINT32_MAX && a->n6 == 1 &&
	       memcmp(a->v6[0].lo, zero, 16) == 0 && memcmp(a->v6[0].hi, ones, 16) == 0;
}

/* The first of @p n sorted keys not below @p x. */
static unsigned
lower_bound(const struct rule_key *k, unsigned n, const struct rule_key *x)
{
	unsigned lo = 0, hi = n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (key_cmp(&k[mid], x) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
key_order(const void *a, const void *b)
{
	return key_cmp(a, b);
}

struct host_pos {
	struct rule_key key;
	unsigned pos;
};

static int
host_pos_order(const void *a, const void *b)
{
	const struct host_pos *x = a, *y = b;
	int c = key_cmp(&x->key, &y->key);

	if (c != 0)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* What the build works on: the list, which of it is indexed, the segment edges. */
struct build {
	const struct rule_set *set;
	const unsigned *base;
	unsigned first, n;
	bool *indexed;		   /**< per list entry */
	struct rule_key *edges[2]; /**< per family: segment starts, sorted, distinct */
	unsigned n_edges[2];
};

static const struct rule_addrset *
src_of(const struct build *b, unsigned k)
{
	return &b->set->rules[b->base[b->first + k]].hdr.src;
}

/* The segment edges of the indexed rules' ranges that are not single hosts. */
static int
find_edges(struct build *b)
{
	for (unsigned f = 0; f < 2; f++) {
		unsigned n = 0, m = 0;
		struct rule_key *e;

		free(b->edges[f]);
		b->edges[f] = NULL;
		b->n_edges[f] = 0;
		for (unsigned k = 0; k < b->n; k++)
			if (b->indexed[k])
				n += 2 * fam_n(src_of(b, k), f);
		if (n == 0)
			continue;
		e = malloc(n * sizeof(*e));
		if (e == NULL)
			return -ENOMEM;
		n = 0;
		for (unsigned k = 0; k < b->n; k++) {
			const struct rule_addrset *a = src_of(b, k);

			for (unsigned j = 0; b->indexed[k] && j < fam_n(a, f); j++) {
				struct rule_key lo, hi;

				fam_range(a, f, j, &lo, &hi);
				if (key_cmp(&lo, &hi) == 0)
					continue;
				e[n++] = lo;
				if (key_next(f, &hi))
					e[n++] = hi;
			}
		}
		qsort(e, n, sizeof(*e), key_order);
		for (unsigned i = 0; i < n; i++)
			if (m == 0 || key_cmp(&e[m - 1], &e[i]) != 0)
				e[m++] = e[i];
		b->edges[f] = e;
		b->n_edges[f] = m;
	}
	return 0;
}

/* The segments [*from, *to) of family @p f that make up range [lo, hi]. */
static void
segments_of(const struct build *b, unsigned f, const struct rule_key *lo, struct rule_key hi,
	    unsigned *from, unsigned *to)
{
	*from = lower_bound(b->edges[f], b->n_edges[f], lo);
	*to = key_next(f, &hi) ? lower_bound(b->edges[f], b->n_edges[f], &hi) : b->n_edges[f];
}

/* How many entries rule @p k takes: a host entry per single address, a list per segment. */
static unsigned
entries_of(const struct build *b, unsigned k)
{
	const struct rule_addrset *a = src_of(b, k);
	unsigned n = 0;

	for (unsigned f = 0; f < 2; f++) {
		for (unsigned j = 0; j < fam_n(a, f); j++) {
			struct rule_key lo, hi;
			unsigned from, to;

			fam_range(a, f, j, &lo, &hi);
			if (key_cmp(&lo, &hi) == 0) {
				n++;
				continue;
			}
			segments_of(b, f, &lo, hi, &from, &to);
			n += to - from;
		}
	}
	return n;
}

/* Fill family @p f's table; its lists go to sc->pos from *used on. */
static int
fill_table(struct rule_scope *sc, const struct build *b, unsigned f, unsigned *used)
{
	struct rule_addr_table *t = &sc->fam[f];
	struct host_pos *hp = NULL;
	unsigned n_hp = 0, *fill = NULL;
	int rc = -ENOMEM;

	for (unsigned k = 0; k < b->n; k++)
		for (unsigned j = 0; b->indexed[k] && j < fam_n(src_of(b, k), f); j++) {
			struct rule_key lo, hi;

			fam_range(src_of(b, k), f, j, &lo, &hi);
			n_hp += key_cmp(&lo, &hi) == 0;
		}
	/* Hosts: (address, position) pairs sorted, then one entry per address. */
	if (n_hp > 0) {
		hp = malloc(n_hp * sizeof(*hp));
		t->hosts = malloc(n_hp * sizeof(*t->hosts));
		t->host_at = malloc((n_hp + 1) * sizeof(*t->host_at));
		if (hp == NULL || t->hosts == NULL || t->host_at == NULL)
			goto out;
		n_hp = 0;
		for (unsigned k = 0; k < b->n; k++)
			for (unsigned j = 0; b->indexed[k] && j < fam_n(src_of(b, k), f); j++) {
				struct rule_key lo, hi;

				fam_range(src_of(b, k), f, j, &lo, &hi);
				if (key_cmp(&lo, &hi) == 0)
					hp[n_hp++] =
						(struct host_pos){.key = lo, .pos = b->first + k};
			}
		qsort(hp, n_hp, sizeof(*hp), host_pos_order);
		for (unsigned i = 0; i < n_hp; i++) {
			if (t->n_hosts == 0 ||
			    key_cmp(&t->hosts[t->n_hosts - 1], &hp[i].key) != 0) {
				t->hosts[t->n_hosts] = hp[i].key;
				t->host_at[t->n_hosts++] = *used;
			}
			sc->pos[(*used)++] = hp[i].pos;
		}
		t->host_at[t->n_hosts] = *used;
	}
	/* Segments: count each one's rules, then fill in position order. */
	if (b->n_edges[f] > 0) {
		unsigned n = b->n_edges[f];

		t->segs = malloc(n * sizeof(*t->segs));
		t->seg_at = calloc(n + 1, sizeof(*t->seg_at));
		fill = malloc(n * sizeof(*fill));
		if (t->segs == NULL || t->seg_at == NULL || fill == NULL)
			goto out;
		memcpy(t->segs, b->edges[f], n * sizeof(*t->segs));
		t->n_segs = n;
		for (unsigned pass = 0; pass < 2; pass++) {
			if (pass == 1) {
				unsigned at = *used;

				for (unsigned s = 0; s < n; s++) {
					unsigned c = t->seg_at[s];

					t->seg_at[s] = at;
					fill[s] = at;
					at += c;
				}
				t->seg_at[n] = at;
				*used = at;
			}
			for (unsigned k = 0; k < b->n; k++) {
				const struct rule_addrset *a = src_of(b, k);

				for (unsigned j = 0; b->indexed[k] && j < fam_n(a, f); j++) {
					struct rule_key lo, hi;
					unsigned from, to;

					fam_range(a, f, j, &lo, &hi);
					if (key_cmp(&lo, &hi) == 0)
						continue;
					segments_of(b, f, &lo, hi, &from, &to);
					for (unsigned s = from; s < to; s++) {
						if (pass == 0)
							t->seg_at[s]++;
						else
							sc->pos[fill[s]++] = b->first + k;
					}
				}
			}
		}
	}
	rc = 0;
out:
	free(hp);
	free(fill);
	return rc;
}

int
rule_scope_build(struct rule_scope *sc, const struct rule_set *set, const unsigned *base,
		 unsigned first, unsigned n)
{
	struct build b = {.set = set, .base = base, .first = first, .n = n};
	unsigned total = 0, used = 0;
	bool changed;
	int rc = -ENOMEM;

	memset(sc, 0, sizeof(*sc));
	if (n == 0)
		return 0;
	b.indexed = malloc(n * sizeof(*b.indexed));
	sc->gen = malloc(n * sizeof(*sc->gen));
	if (b.indexed == NULL || sc->gen == NULL)
		goto out;
	for (unsigned k = 0; k < n; k++) {
		const struct rule_header *h = &set->rules[base[first + k]].hdr;

		b.indexed[k] = !h->bidirectional && !src_is_any(&h->src);
	}
	/* Dropping a rule only removes edges, so the others' counts only
	 * fall: this settles in a pass or two. */
	do {
		changed = false;
		if ((rc = find_edges(&b)) < 0)
			goto out;
		rc = -ENOMEM;
		total = 0;
		for (unsigned k = 0; k < n; k++) {
			unsigned e;

			if (!b.indexed[k])
				continue;
			e = entries_of(&b, k);
			if (e > SCOPE_MAX_ENTRIES) {
				b.indexed[k] = false;
				changed = true;
			}
			total += e;
		}
	} while (changed);
	for (unsigned k = 0; k < n; k++)
		if (!b.indexed[k])
			sc->gen[sc->n_gen++] = first + k;
	if (total > 0) {
		sc->pos = malloc(total * sizeof(*sc->pos));
		if (sc->pos == NULL)
			goto out;
	}
	for (unsigned f = 0; f < 2; f++)
		if ((rc = fill_table(sc, &b, f, &used)) < 0)
			goto out;
	rc = 0;
out:
	free(b.indexed);
	free(b.edges[0]);
	free(b.edges[1]);
	return rc;
}

void
rule_scope_free(struct rule_scope *sc)
{
	if (sc == NULL)
		return;
	free(sc->gen);
	free(sc->pos);
	for (unsigned f = 0; f < 2; f++) {
		free(sc->fam[f].hosts);
		free(sc->fam[f].host_at);
		free(sc->fam[f].segs);
		free(sc->fam[f].seg_at);
	}
	memset(sc, 0, sizeof(*sc));
}
