/*
 * parse.c - the parser of vigil's rule language (rules/RULES.md): rule files
 * and in-memory sources in, struct rule_int and struct rule_pattern out,
 * every mistake reported as FILE:LINE:COL with the line and a caret.
 *
 * A rule file is written by a person under pressure (a ward wants a new
 * alarm tonight), and loading it must never take the running ruleset down:
 * so the parser reports every bad rule, not only the first, and goes on
 * with the next rule after an error (one error per rule: the first; what
 * follows an error in the same rule is too often a consequence of it). It
 * is fed untrusted bytes by the fuzzer too: every index is checked against
 * its length, every recursion is bounded (lists, variables, includes), and
 * nothing is trusted to be NUL-terminated but what this file terminated.
 *
 * The work runs in this order, each part behind a banner below:
 *
 *   reading files    a file or a source into memory; includes; cycles
 *   lines            physical lines -> logical lines (comments, blank
 *                    lines, backslash continuations), with a map from each
 *                    byte of a logical line back to its physical line and
 *                    column, so a token on a continuation line is reported
 *                    where it is
 *   var, include     the two lines that are not rules
 *   addresses/ports  Suricata's lists and negations resolved into sorted,
 *                    disjoint ranges (rule_private.h), variables expanded
 *                    with a memo so a chain of variables costs its length
 *   header           ACTION PROTO SRC SPORT DIR DST DPORT
 *   options          `keyword:value;`, one section per option group, the
 *                    keyword table, and the loop over a rule's options
 *   end of rule      checks that need the whole rule, then the commit into
 *                    the set
 *
 * Columns are 1-based and count bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rule_private.h"

#define VAR_MAX_DEPTH 8	 /* variables referring to variables */
#define LIST_MAX_DEPTH 8 /* [ [ [ ... ] ] ] */
#define FILE_MAX_BYTES (64u << 20)
#define PORT_MAX 65535u
#define OFFSET_MAX 65535u /* content offset/depth: a UDP payload is shorter */
#define DSIZE_MAX 65535u
#define DURATION_MAX_MS 86400000u /* 24 h */
#define NUMBER_MAX_LEN 40	  /* digits, sign and point of a `value` number */
#define SUGGEST_MAX_LEN 64	  /* longer words get no "did you mean" */
#define SHOW_MAX 60		  /* bytes of a bad token quoted in a message */

/* ======================================================================== */
/* Small helpers                                                            */
/* ======================================================================== */

/* The locale must not change what a rule means, so no <ctype.h>. */
static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

static int
hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* A span [*a, *b) of @p s without the whitespace at either end. */
static void
trim(const char *s, size_t *a, size_t *b)
{
	while (*a < *b && is_space(s[*a]))
		(*a)++;
	while (*b > *a && is_space(s[*b - 1]))
		(*b)--;
}

static bool
span_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

static char *
dup_span(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL)
		return NULL;
	if (n > 0)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* How much of a token a message quotes: enough to recognise it, never a page. */
static int
show_len(size_t n)
{
	return (int)(n > SHOW_MAX ? SHOW_MAX : n);
}

/* A decimal number of 1 to 10 digits and nothing else, within [lo, hi]. */
static bool
parse_u32(const char *s, size_t n, uint64_t lo, uint64_t hi, uint32_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < lo || v > hi)
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool
all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* ---- "did you mean" ----------------------------------------------------- */

/*
 * Edit distance between two words, ASCII case-insensitive, counting an
 * adjacent transposition as one edit ("priorty" is one from "priority").
 * Words longer than SUGGEST_MAX_LEN are never close to anything.
 */
static size_t
edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
	size_t d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1];

	if (na > SUGGEST_MAX_LEN || nb > SUGGEST_MAX_LEN)
		return SIZE_MAX;
	for (size_t i = 0; i <= na; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= nb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= na; i++) {
		for (size_t j = 1; j <= nb; j++) {
			size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
			size_t v = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
			    lower(a[i - 2]) == lower(b[j - 1]) && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[na][nb];
}

/* The candidate nearest to a word, if it is near enough to be a typo of it. */
struct nearest {
	const char *word;
	size_t len;
	const char *best;
	size_t dist;
};

static void
near_init(struct nearest *nr, const char *word, size_t len)
{
	nr->word = word;
	nr->len = len;
	nr->best = NULL;
	nr->dist = SIZE_MAX;
}

static void
near_try(struct nearest *nr, const char *cand)
{
	size_t n = strlen(cand);
	size_t limit = nr->len <= 3 ? 1 : nr->len <= 6 ? 2 : 3;
	size_t d = edit_distance(nr->word, nr->len, cand, n);

	if (d > limit || d >= nr->len || d >= n || d >= nr->dist)
		return;
	nr->best = cand;
	nr->dist = d;
}

static void
near_list(struct nearest *nr, const char *const *cands)
{
	for (; *cands != NULL; cands++)
		near_try(nr, *cands);
}

/* ======================================================================== */
/* Parser state                                                             */
/* ======================================================================== */

/* A place in the text, for a diagnostic. */
struct where {
	const char *file;
	unsigned line, col;
	const char *src; /* the physical line, not NUL-terminated */
	size_t srclen;
};

/* A file or source being read. */
struct pfile {
	const char *name; /* in set->strings: rules point at it */
	const char *text;
	size_t len;
	char *dir;	/* includes are relative to it; NULL: the current directory */
	char *real;	/* realpath, to find include cycles; NULL for sources */
	unsigned depth; /* 0: a file or source of the options; n: included n levels down */
};

/* 128-bit keys make one range algebra serve IPv4, IPv6 and ports. */
struct u128 {
	uint64_t hi, lo;
};

struct krange {
	struct u128 lo, hi;
};

struct kset {
	struct krange *r;
	unsigned n, cap;
};

/* An address set (a: IPv4, b: IPv6) or a port set (a only). */
struct xset {
	struct kset a, b;
};

enum { X_ADDR = 0, X_PORT = 1 };
enum { VAR_UNRESOLVED = 0, VAR_RESOLVING, VAR_DONE };

struct pvar {
	char *name;
	char *value;
	bool config;
	struct where def; /* where a file defined it (config: file NULL) */
	/* The memo, per use (address, port): resolved once, copied at each use. */
	uint8_t state[2];
	uint8_t height[2]; /* 1 + the height of the deepest variable it refers to */
	bool neg[2];	   /* its value is a negation ("!1.2.3.4") */
	struct xset set[2];
};

struct parser {
	const struct rule_load_opts *opts;
	struct rule_set *set;
	struct rule_diags *diags;
	unsigned max_errors;
	int fatal;    /* -ENOMEM: stop */
	int file_err; /* the first file that could not be read */

	struct pvar *vars;
	unsigned n_vars, cap_vars;

	/* realpaths of the files being read, outermost first (include cycles) */
	char *reading[RULE_MAX_INCLUDE_DEPTH + 1];
	unsigned n_reading;

	char **bufs; /* file contents, kept to the end: diagnostics point into them */
	unsigned n_bufs, cap_bufs;

	/* sid -> rule index + 1 (open addressing; a sid is never 0) */
	uint32_t *sid_key;
	unsigned *sid_val;
	size_t sid_cap, sid_n;
	struct where *sid_at; /* per rule of the set: where its sid was given */

	unsigned cap_rules, cap_patterns, cap_strings;
};

/* One segment of a logical line: the part that came from one physical line. */
struct seg {
	size_t lstart; /* offset in the logical line */
	size_t len;
	unsigned line;
	const char *src; /* the whole physical line (for the caret) */
	size_t srclen;
};

/* A logical line: physical lines joined by backslash continuations. */
struct lline {
	struct pfile *f;
	char *s;
	size_t n, cap;
	struct seg *segs;
	unsigned n_segs, cap_segs;
};

/* ======================================================================== */
/* Diagnostics                                                              */
/* ======================================================================== */

static int
vdiag(struct parser *P, enum rule_severity sev, const struct where *w, const char *fmt, va_list ap)
{
	char *msg = NULL;
	int ret;

	if (vasprintf(&msg, fmt, ap) < 0) {
		P->fatal = -ENOMEM;
		return -ENOMEM;
	}
	ret = rule_diag_add(P->diags, P->max_errors, sev, w->file, w->line, w->col, w->src,
			    w->srclen, "%s", msg);
	free(msg);
	if (ret < 0) {
		P->fatal = ret;
		return ret;
	}
	return sev == RULE_DIAG_ERROR ? -EINVAL : 0;
}

/* Report at a place; an error returns -EINVAL (or -ENOMEM), anything else 0. */
static int __attribute__((format(printf, 4, 5)))
diag_at(struct parser *P, enum rule_severity sev, const struct where *w, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vdiag(P, sev, w, fmt, ap);
	va_end(ap);
	return ret;
}

/* Where byte @p off of a logical line is (the end of the line maps past its last byte). */
static struct where
lpos(const struct lline *L, size_t off)
{
	struct where w = {.file = L->f->name};
	const struct seg *g = &L->segs[L->n_segs - 1];

	for (unsigned i = 0; i < L->n_segs; i++) {
		if (off < L->segs[i].lstart + L->segs[i].len) {
			g = &L->segs[i];
			break;
		}
	}
	w.line = g->line;
	w.col = (unsigned)((off > g->lstart ? off - g->lstart : 0) + 1);
	w.src = g->src;
	w.srclen = g->srclen;
	return w;
}

static int __attribute__((format(printf, 4, 5)))
line_diag(struct parser *P, const struct lline *L, size_t off, const char *fmt, ...)
{
	struct where w = lpos(L, off);
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vdiag(P, RULE_DIAG_ERROR, &w, fmt, ap);
	va_end(ap);
	return ret;
}

/* ======================================================================== */
/* Range sets (addresses and ports)                                         */
/* ======================================================================== */

static int
u128_cmp(struct u128 a, struct u128 b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	if (a.lo != b.lo)
		return a.lo < b.lo ? -1 : 1;
	return 0;
}

static struct u128
u128_inc(struct u128 a)
{
	if (++a.lo == 0)
		a.hi++;
	return a;
}

static struct u128
u128_dec(struct u128 a)
{
	if (a.lo-- == 0)
		a.hi--;
	return a;
}

static bool
u128_is_max(struct u128 a)
{
	return a.hi == UINT64_MAX && a.lo == UINT64_MAX;
}

/* The largest key of each domain: IPv4, IPv6, port. */
static struct u128
dom_max(int kind, int fam)
{
	if (kind == X_PORT)
		return (struct u128){0, PORT_MAX};
	if (fam == 0)
		return (struct u128){0, UINT32_MAX};
	return (struct u128){UINT64_MAX, UINT64_MAX};
}

static void
kset_free(struct kset *s)
{
	free(s->r);
	memset(s, 0, sizeof(*s));
}

static void
xset_free(struct xset *x)
{
	kset_free(&x->a);
	kset_free(&x->b);
}

static int
kset_push(struct kset *s, struct u128 lo, struct u128 hi)
{
	if (s->n == s->cap) {
		unsigned cap = s->cap ? s->cap * 2 : 4;
		struct krange *r;

		if (cap < s->cap || cap > UINT_MAX / 2)
			return -ENOMEM;
		r = realloc(s->r, cap * sizeof(*r));
		if (r == NULL)
			return -ENOMEM;
		s->r = r;
		s->cap = cap;
	}
	s->r[s->n].lo = lo;
	s->r[s->n].hi = hi;
	s->n++;
	return 0;
}

static int
krange_cmp(const void *a, const void *b)
{
	const struct krange *x = a, *y = b;
	int c = u128_cmp(x->lo, y->lo);

	return c != 0 ? c : u128_cmp(x->hi, y->hi);
}

/* Sort and merge overlapping or adjacent ranges. */
static void
kset_norm(struct kset *s)
{
	unsigned out = 0;

	if (s->n < 2)
		return;
	qsort(s->r, s->n, sizeof(*s->r), krange_cmp);
	for (unsigned i = 1; i < s->n; i++) {
		struct krange *p = &s->r[out];
		const struct krange *c = &s->r[i];

		if (u128_cmp(c->lo, p->hi) <= 0 ||
		    (!u128_is_max(p->hi) && u128_cmp(c->lo, u128_inc(p->hi)) == 0)) {
			if (u128_cmp(c->hi, p->hi) > 0)
				p->hi = c->hi;
		} else {
			s->r[++out] = *c;
		}
	}
	s->n = out + 1;
}

/* out = a minus b; both normalized, and so is out. */
static int
kset_sub(const struct kset *a, const struct kset *b, struct kset *out)
{
	unsigned j = 0;

	for (unsigned i = 0; i < a->n; i++) {
		struct u128 lo = a->r[i].lo, hi = a->r[i].hi;
		bool alive = true;

		while (j < b->n && u128_cmp(b->r[j].hi, lo) < 0)
			j++;
		for (unsigned k = j; alive && k < b->n && u128_cmp(b->r[k].lo, hi) <= 0; k++) {
			if (u128_cmp(b->r[k].lo, lo) > 0 &&
			    kset_push(out, lo, u128_dec(b->r[k].lo)) < 0)
				return -ENOMEM;
			if (u128_cmp(b->r[k].hi, hi) >= 0)
				alive = false;
			else
				lo = u128_inc(b->r[k].hi);
		}
		if (alive && kset_push(out, lo, hi) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int
xset_any(int kind, struct xset *x)
{
	if (kset_push(&x->a, (struct u128){0, 0}, dom_max(kind, 0)) < 0)
		return -ENOMEM;
	if (kind == X_ADDR && kset_push(&x->b, (struct u128){0, 0}, dom_max(kind, 1)) < 0)
		return -ENOMEM;
	return 0;
}

/* Add the ranges of @p src to @p dst, unsorted: kset_norm() them after. */
static int
kset_append(struct kset *dst, const struct kset *src)
{
	for (unsigned i = 0; i < src->n; i++)
		if (kset_push(dst, src->r[i].lo, src->r[i].hi) < 0)
			return -ENOMEM;
	return 0;
}

static int
xset_append(struct xset *dst, const struct xset *src)
{
	if (kset_append(&dst->a, &src->a) < 0 || kset_append(&dst->b, &src->b) < 0)
		return -ENOMEM;
	return 0;
}

/* *x = *x minus *y. */
static int
xset_sub(struct xset *x, const struct xset *y)
{
	struct xset out = {0};

	if (kset_sub(&x->a, &y->a, &out.a) < 0 || kset_sub(&x->b, &y->b, &out.b) < 0) {
		xset_free(&out);
		return -ENOMEM;
	}
	xset_free(x);
	*x = out;
	return 0;
}

/* *x = everything minus *x. */
static int
xset_complement(int kind, struct xset *x)
{
	struct xset all = {0};
	int ret = xset_any(kind, &all);

	if (ret == 0)
		ret = xset_sub(&all, x);
	if (ret < 0) {
		xset_free(&all);
		return ret;
	}
	xset_free(x);
	*x = all;
	return 0;
}

static int
xset_copy(struct xset *dst, const struct xset *src)
{
	memset(dst, 0, sizeof(*dst));
	if (xset_append(dst, src) < 0) {
		xset_free(dst);
		return -ENOMEM;
	}
	return 0;
}

/* ======================================================================== */
/* Reading files                                                            */
/* ======================================================================== */

/* The whole of a file, read to its end (its size is not trusted). */
static int
read_file(const char *path, char **out, size_t *outlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	/* A FIFO or a device (/dev/stdin, /dev/zero) could block a load or never end. */
	if (!S_ISREG(st.st_mode)) {
		ret = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nb;

			if (cap >= FILE_MAX_BYTES) {
				ret = -EFBIG;
				goto out;
			}
			nb = realloc(buf, ncap);
			if (nb == NULL) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
out:
	close(fd);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* What rule_parse returns for a file that could not be read. */
static int
file_errno(int err)
{
	if (err == -ENOENT || err == -EACCES || err == -ENOMEM)
		return err;
	if (err == -EPERM)
		return -EACCES;
	return -EIO;
}

/* Record a string the set will own. */
static int
keep_string(struct parser *P, char *s)
{
	struct rule_set *set = P->set;

	if (set->n_strings == P->cap_strings) {
		unsigned cap = P->cap_strings ? P->cap_strings * 2 : 64;
		char **ns = realloc(set->strings, cap * sizeof(*ns));

		if (ns == NULL)
			return -ENOMEM;
		set->strings = ns;
		P->cap_strings = cap;
	}
	set->strings[set->n_strings++] = s;
	return 0;
}

static int
keep_buf(struct parser *P, char *buf)
{
	if (P->n_bufs == P->cap_bufs) {
		unsigned cap = P->cap_bufs ? P->cap_bufs * 2 : 8;
		char **nb = realloc(P->bufs, cap * sizeof(*nb));

		if (nb == NULL)
			return -ENOMEM;
		P->bufs = nb;
		P->cap_bufs = cap;
	}
	P->bufs[P->n_bufs++] = buf;
	return 0;
}

static int read_text(struct parser *P, struct pfile *f);

/*
 * Read the file at @p path: a top-level file (@p from NULL, depth 0), or an
 * include (@p from: where its path is written, for the errors). The path
 * as given is what its rules and diagnostics call it.
 */
static int
read_path(struct parser *P, const char *path, const struct where *from, unsigned depth)
{
	struct pfile f = {0};
	char *buf = NULL, *name = NULL, *slash;
	size_t len = 0;
	struct where top = {.file = path};
	int ret;

	ret = read_file(path, &buf, &len);
	if (ret == -ENOMEM)
		goto fatal;
	if (ret < 0) {
		if (P->file_err == 0)
			P->file_err = file_errno(ret);
		ret = diag_at(P, RULE_DIAG_ERROR, from != NULL ? from : &top,
			      "cannot read \"%s\": %s", path,
			      ret == -EINVAL ? "not a regular file" : strerror(-ret));
		return ret == -ENOMEM ? ret : 0;
	}
	if (keep_buf(P, buf) < 0) {
		free(buf);
		goto fatal;
	}
	f.text = buf;
	f.len = len;
	f.depth = depth;
	name = strdup(path);
	if (name == NULL)
		goto fatal;
	if (keep_string(P, name) < 0) {
		free(name);
		goto fatal;
	}
	f.name = name;
	f.dir = strdup(path);
	if (f.dir == NULL)
		goto fatal;
	slash = strrchr(f.dir, '/');
	if (slash == NULL) {
		free(f.dir);
		f.dir = NULL; /* relative to the current directory */
	} else {
		slash[slash == f.dir ? 1 : 0] = '\0';
	}
	f.real = realpath(path, NULL);
	for (unsigned i = 0; f.real != NULL && i < P->n_reading; i++) {
		if (strcmp(P->reading[i], f.real) == 0) {
			ret = diag_at(P, RULE_DIAG_ERROR, from != NULL ? from : &top,
				      "include cycle: \"%s\" is already being read", path);
			goto out;
		}
	}
	ret = read_text(P, &f);
out:
	free(f.dir);
	free(f.real);
	return ret == -ENOMEM ? ret : 0;
fatal:
	free(f.dir);
	P->fatal = -ENOMEM;
	return -ENOMEM;
}

/* ======================================================================== */
/* Lines                                                                    */
/* ======================================================================== */

static int
ll_append(struct lline *L, const char *p, size_t n, unsigned line, const char *src, size_t srclen)
{
	struct seg *g;

	if (L->n_segs == L->cap_segs) {
		unsigned cap = L->cap_segs ? L->cap_segs * 2 : 4;
		struct seg *ns = realloc(L->segs, cap * sizeof(*ns));

		if (ns == NULL)
			return -ENOMEM;
		L->segs = ns;
		L->cap_segs = cap;
	}
	if (L->n + n + 1 > L->cap) {
		size_t cap = L->cap ? L->cap : 256;
		char *ns;

		while (cap < L->n + n + 1)
			cap *= 2;
		ns = realloc(L->s, cap);
		if (ns == NULL)
			return -ENOMEM;
		L->s = ns;
		L->cap = cap;
	}
	g = &L->segs[L->n_segs++];
	g->lstart = L->n;
	g->len = n;
	g->line = line;
	g->src = src;
	g->srclen = srclen;
	if (n > 0)
		memcpy(L->s + L->n, p, n);
	L->n += n;
	L->s[L->n] = '\0';
	return 0;
}

/* One physical line: [start, end) without its "\n" and a "\r" before it. */
static bool
next_physical(const struct pfile *f, size_t *pos, const char **start, size_t *len)
{
	const char *p, *nl;
	size_t n;

	if (*pos >= f->len)
		return false;
	p = f->text + *pos;
	nl = memchr(p, '\n', f->len - *pos);
	n = nl != NULL ? (size_t)(nl - p) : f->len - *pos;
	*pos += n + (nl != NULL);
	if (n > 0 && p[n - 1] == '\r')
		n--;
	*start = p;
	*len = n;
	return true;
}

static int handle_line(struct parser *P, struct lline *L);

static int
read_text(struct parser *P, struct pfile *f)
{
	struct lline L = {.f = f};
	size_t pos = 0;
	unsigned lineno = 0;
	const char *p;
	size_t n;
	bool pushed = false;
	int ret = 0;

	if (f->real != NULL && P->n_reading < RULE_MAX_INCLUDE_DEPTH + 1) {
		P->reading[P->n_reading++] = f->real;
		pushed = true;
	}
	while (next_physical(f, &pos, &p, &n)) {
		size_t i = 0;

		lineno++;
		while (i < n && is_space(p[i]))
			i++;
		if (i == n || p[i] == '#')
			continue;
		L.n = 0;
		L.n_segs = 0;
		for (;;) {
			bool cont = n > 0 && p[n - 1] == '\\';

			ret = ll_append(&L, p, cont ? n - 1 : n, lineno, p, n);
			if (ret < 0)
				goto out;
			if (!cont || !next_physical(f, &pos, &p, &n))
				break;
			lineno++;
		}
		ret = handle_line(P, &L);
		if (ret == -ENOMEM || P->fatal)
			goto out;
		ret = 0;
	}
out:
	if (pushed)
		P->n_reading--;
	free(L.s);
	free(L.segs);
	if (ret == -ENOMEM || P->fatal) {
		P->fatal = -ENOMEM;
		return -ENOMEM;
	}
	return 0;
}

/* ======================================================================== */
/* var and include                                                          */
/* ======================================================================== */

static bool
valid_var_name(const char *s, size_t n)
{
	if (n == 0 || !(is_alpha(s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(is_alnum(s[i]) || s[i] == '_'))
			return false;
	return true;
}

/*
 * The variable $name stands for: the config's are added first, so one of
 * them hides a file's of the same name. @p files_only: a file's only.
 */
static struct pvar *
var_find(struct parser *P, const char *name, size_t n, bool files_only)
{
	for (unsigned i = 0; i < P->n_vars; i++)
		if (span_is(name, n, P->vars[i].name) && !(files_only && P->vars[i].config))
			return &P->vars[i];
	return NULL;
}

static int
var_add(struct parser *P, const char *name, size_t nlen, const char *value, size_t vlen,
	bool config, const struct where *def)
{
	struct pvar *v;

	if (P->n_vars == P->cap_vars) {
		unsigned cap = P->cap_vars ? P->cap_vars * 2 : 16;
		struct pvar *nv = realloc(P->vars, cap * sizeof(*nv));

		if (nv == NULL)
			return -ENOMEM;
		P->vars = nv;
		P->cap_vars = cap;
	}
	v = &P->vars[P->n_vars];
	memset(v, 0, sizeof(*v));
	v->name = dup_span(name, nlen);
	v->value = dup_span(value, vlen);
	if (v->name == NULL || v->value == NULL) {
		free(v->name);
		free(v->value);
		return -ENOMEM;
	}
	v->config = config;
	if (def != NULL)
		v->def = *def;
	P->n_vars++;
	return 0;
}

/* `var NAME VALUE` */
static int
do_var(struct parser *P, struct lline *L, size_t i)
{
	const char *s = L->s;
	size_t n = L->n, name, name_end, val, val_end;
	struct pvar *old;
	struct where def;
	int ret;

	while (i < n && is_space(s[i]))
		i++;
	name = i;
	while (i < n && !is_space(s[i]))
		i++;
	name_end = i;
	val = i;
	val_end = n;
	trim(s, &val, &val_end);
	if (name == name_end || val == val_end)
		return line_diag(P, L, name == name_end ? name : n,
				 "var needs a name and a value: var NAME VALUE");
	if (s[name] == '$')
		return line_diag(P, L, name, "write the variable's name without '$': var %.*s",
				 show_len(name_end - name - 1), s + name + 1);
	if (!valid_var_name(s + name, name_end - name))
		return line_diag(P, L, name,
				 "invalid variable name \"%.*s\": letters, digits and _, not "
				 "starting with a digit",
				 show_len(name_end - name), s + name);
	/* The config's value wins over this one (var_find), but a second one in files is wrong. */
	old = var_find(P, s + name, name_end - name, true);
	if (old != NULL) {
		ret = line_diag(P, L, name, "variable $%s is already defined", old->name);
		if (ret == -EINVAL &&
		    diag_at(P, RULE_DIAG_NOTE, &old->def, "$%s first defined here", old->name) < 0)
			return -ENOMEM;
		return ret;
	}
	def = lpos(L, name);
	return var_add(P, s + name, name_end - name, s + val, val_end - val, false, &def) < 0
		       ? (P->fatal = -ENOMEM)
		       : 0;
}

/* `include "path"` or `include path` */
static int
do_include(struct parser *P, struct lline *L, size_t i)
{
	const char *s = L->s;
	size_t n = L->n, a, b;
	struct where at;
	char *path = NULL, *rel;
	int ret;

	a = i;
	b = n;
	trim(s, &a, &b);
	if (a == b)
		return line_diag(P, L, n, "include needs a path: include \"FILE\"");
	if (s[a] == '"') {
		const char *q = memchr(s + a + 1, '"', b - a - 1);
		size_t end;

		if (q == NULL)
			return line_diag(P, L, a,
					 "unterminated string: the closing quote is missing");
		end = (size_t)(q - s);
		if (end + 1 != b)
			return line_diag(P, L, end + 1, "unexpected text after the include's path");
		a++;
		b = end;
		if (a == b)
			return line_diag(P, L, a - 1, "include needs a path: include \"FILE\"");
	}
	at = lpos(L, a);
	if (L->f->depth + 1 > RULE_MAX_INCLUDE_DEPTH)
		return diag_at(P, RULE_DIAG_ERROR, &at, "includes nested deeper than %d",
			       RULE_MAX_INCLUDE_DEPTH);
	rel = dup_span(s + a, b - a);
	if (rel == NULL)
		return P->fatal = -ENOMEM;
	if (rel[0] == '/' || L->f->dir == NULL) {
		path = rel;
		rel = NULL;
	} else if (asprintf(&path, "%s/%s", L->f->dir, rel) < 0) {
		path = NULL;
		free(rel);
		return P->fatal = -ENOMEM;
	}
	free(rel);
	ret = read_path(P, path, &at, L->f->depth + 1);
	free(path);
	return ret;
}

/* ======================================================================== */
/* Rules: the state of one rule being parsed                                */
/* ======================================================================== */

/* The option keywords (the table is with the options below). */
enum {
	KW_MSG,
	KW_SID,
	KW_REV,
	KW_PRIORITY,
	KW_KIND,
	KW_METADATA,
	KW_CLASSTYPE,
	KW_REFERENCE,
	KW_CONTENT,
	KW_NOCASE,
	KW_OFFSET,
	KW_DEPTH,
	KW_PCRE,
	KW_METRIC,
	KW_VALUE,
	KW_LOCATION,
	KW_DELAY,
	KW_LATCH,
	KW_THRESHOLD,
	KW_ESCALATE,
	KW_VALID,
	KW_DSIZE,
	KW_MALFORMED,
	KW_ACL,
	KW__COUNT
};

/* What a content's modifiers said (applied when the rule is complete). */
struct cmods {
	bool is_content;
	bool nocase, has_offset, has_depth;
	uint32_t offset, depth;
	size_t len; /* bytes of the content */
};

/* One rule being parsed: what it will be, and where its parts were written. */
struct rp {
	struct parser *P;
	struct lline *L;
	struct rule_int r;
	struct rule_pattern pat[RULE_MAX_PATTERNS];
	struct cmods cm[RULE_MAX_PATTERNS];
	unsigned n_pat;
	int last_content; /* the pattern nocase/offset/depth modify, or -1 */

	/* strings the rule will point at, moved into the set on commit */
	char *msg, *metadata, *classtype, *text, *glob;

	size_t action_at;
	size_t seen[KW__COUNT]; /* where each keyword was first given, SIZE_MAX: not yet */
	size_t sid_at;
	bool has_kind;
	size_t esc_prio_at;
};

static int __attribute__((format(printf, 3, 4)))
rp_err(struct rp *rp, size_t off, const char *fmt, ...)
{
	struct where w = lpos(rp->L, off);
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vdiag(rp->P, RULE_DIAG_ERROR, &w, fmt, ap);
	va_end(ap);
	return ret;
}

static int __attribute__((format(printf, 3, 4)))
rp_warn(struct rp *rp, size_t off, const char *fmt, ...)
{
	struct where w = lpos(rp->L, off);
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vdiag(rp->P, RULE_DIAG_WARNING, &w, fmt, ap);
	va_end(ap);
	return ret;
}

/* An error with "did you mean" when a candidate is near. */
static int
rp_err_near(struct rp *rp, size_t off, const char *what, const char *s, size_t n,
	    const char *expected, const struct nearest *nr)
{
	if (nr->best != NULL)
		return rp_err(rp, off, "unknown %s \"%.*s\"%s%s; did you mean \"%s\"?", what,
			      show_len(n), s, expected[0] ? "; expected " : "", expected, nr->best);
	return rp_err(rp, off, "unknown %s \"%.*s\"%s%s", what, show_len(n), s,
		      expected[0] ? "; expected " : "", expected);
}

/* One word of a fixed list, or an error naming the list (and the nearest word). */
static int
pick_word(struct rp *rp, size_t off, size_t n, const char *what, const char *const *words,
	  const char *expected, unsigned *out)
{
	const char *s = rp->L->s + off;
	struct nearest nr;

	for (unsigned i = 0; words[i] != NULL; i++) {
		if (span_is(s, n, words[i])) {
			*out = i;
			return 0;
		}
	}
	near_init(&nr, s, n);
	near_list(&nr, words);
	return rp_err_near(rp, off, what, s, n, expected, &nr);
}

/* ======================================================================== */
/* Addresses and ports                                                      */
/* ======================================================================== */

/*
 * An address or port expression of the header, or a variable's value. Inside
 * a variable there is no column to point at (the value may come from the
 * config), so errors there go to the $NAME of the rule that led to it,
 * prefixed with the chain of variables.
 */
struct hx {
	struct rp *rp;
	int kind; /* X_ADDR, X_PORT */
	size_t use_off;
	struct pvar *chain[VAR_MAX_DEPTH];
	unsigned n_chain;
	unsigned ref_height; /* the highest variable this level refers to */
};

static int __attribute__((format(printf, 3, 4)))
hx_err(struct hx *x, size_t off, const char *fmt, ...)
{
	char *msg = NULL, *prefix = NULL;
	struct pvar *inner;
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (ret < 0)
		return x->rp->P->fatal = -ENOMEM;
	if (x->n_chain == 0) {
		ret = rp_err(x->rp, off, "%s", msg);
		free(msg);
		return ret;
	}
	for (unsigned i = 0; i < x->n_chain; i++) {
		char *p = NULL;

		if (asprintf(&p, "%s%s$%s%s", prefix ? prefix : "", i ? " -> " : "",
			     x->chain[i]->name, x->chain[i]->config ? " (config)" : "") < 0) {
			free(prefix);
			free(msg);
			return x->rp->P->fatal = -ENOMEM;
		}
		free(prefix);
		prefix = p;
	}
	ret = rp_err(x->rp, x->use_off, "%s: %s", prefix, msg);
	inner = x->chain[x->n_chain - 1];
	if (ret == -EINVAL && !inner->config &&
	    diag_at(x->rp->P, RULE_DIAG_NOTE, &inner->def, "$%s is defined here", inner->name) < 0)
		ret = -ENOMEM;
	free(prefix);
	free(msg);
	return ret;
}

static int hx_expr(struct hx *x, const char *s, size_t a, size_t b, unsigned depth,
		   struct xset *out, bool *neg);

/*
 * `[a, b, !c]` (s[a] is the '[' whose match is s[b - 1]): the union of the
 * positive items minus the union of the negated ones; with no positive
 * item, everything minus the negated ones.
 */
static int
hx_list(struct hx *x, const char *s, size_t a, size_t b, unsigned depth, struct xset *out)
{
	struct xset pos = {0}, negs = {0};
	size_t in_a = a + 1, in_b = b - 1, item = in_a, ta = in_a, tb = in_b;
	bool any_pos = false;
	unsigned level = 0;
	int ret = 0;

	if (depth >= LIST_MAX_DEPTH)
		return hx_err(x, a, "lists nested deeper than %d", LIST_MAX_DEPTH);
	trim(s, &ta, &tb);
	if (ta == tb)
		return hx_err(x, a, "empty list");
	for (size_t i = in_a; i <= in_b; i++) {
		struct xset one = {0};
		bool neg = false;
		size_t ia = item, ib = i;

		/* Between the brackets every '[' has its ']': level never goes below 0. */
		if (i < in_b) {
			if (s[i] == '[')
				level++;
			else if (s[i] == ']')
				level--;
			if (s[i] != ',' || level > 0)
				continue;
		}
		item = i + 1;
		trim(s, &ia, &ib);
		if (ia == ib) {
			ret = hx_err(x, ia, "empty item in the list");
			goto out;
		}
		ret = hx_expr(x, s, ia, ib, depth + 1, &one, &neg);
		if (ret == 0)
			ret = neg ? xset_append(&negs, &one) : xset_append(&pos, &one);
		any_pos |= !neg;
		xset_free(&one);
		if (ret < 0)
			goto out;
	}
	kset_norm(&pos.a);
	kset_norm(&pos.b);
	kset_norm(&negs.a);
	kset_norm(&negs.b);
	if (!any_pos && (ret = xset_any(x->kind, &pos)) < 0)
		goto out;
	ret = xset_sub(&pos, &negs);
	if (ret < 0)
		goto out;
	*out = pos;
	memset(&pos, 0, sizeof(pos));
out:
	if (ret == -ENOMEM)
		x->rp->P->fatal = -ENOMEM;
	xset_free(&pos);
	xset_free(&negs);
	return ret;
}

/* `$NAME`: the variable's value, resolved once and remembered. */
static int
hx_var(struct hx *x, const char *s, size_t a, size_t b, struct xset *out, bool *neg)
{
	const char *name = s + a + 1;
	size_t n = b - a - 1;
	struct pvar *v;
	unsigned saved;
	bool vneg = false;
	int ret, k = x->kind;

	if (!valid_var_name(name, n))
		return hx_err(x, a, "invalid variable name \"%.*s\"", show_len(n + 1), s + a);
	v = var_find(x->rp->P, name, n, false);
	if (v == NULL)
		return hx_err(x, a, "undefined variable $%.*s", show_len(n), name);
	if (x->n_chain == 0)
		x->use_off = a;
	if (v->state[k] == VAR_RESOLVING) {
		char *chain = NULL;

		for (unsigned i = 0; i < x->n_chain; i++) {
			char *p = NULL;

			if (asprintf(&p, "%s$%s -> ", chain ? chain : "", x->chain[i]->name) < 0) {
				free(chain);
				return x->rp->P->fatal = -ENOMEM;
			}
			free(chain);
			chain = p;
		}
		ret = rp_err(x->rp, x->use_off, "variable cycle: %s$%s", chain ? chain : "",
			     v->name);
		free(chain);
		return ret;
	}
	if (v->state[k] == VAR_UNRESOLVED) {
		struct xset set = {0};

		if (x->n_chain == VAR_MAX_DEPTH)
			return hx_err(x, a, "variables nested deeper than %d", VAR_MAX_DEPTH);
		x->chain[x->n_chain++] = v;
		v->state[k] = VAR_RESOLVING;
		saved = x->ref_height;
		x->ref_height = 0;
		ret = hx_expr(x, v->value, 0, strlen(v->value), 0, &set, &vneg);
		if (ret == 0 && x->ref_height + 1 > VAR_MAX_DEPTH)
			ret = hx_err(x, a, "variables nested deeper than %d", VAR_MAX_DEPTH);
		x->n_chain--;
		if (ret < 0) {
			v->state[k] = VAR_UNRESOLVED;
			x->ref_height = saved;
			xset_free(&set);
			return ret;
		}
		v->set[k] = set;
		v->neg[k] = vneg;
		v->height[k] = (uint8_t)(x->ref_height + 1);
		v->state[k] = VAR_DONE;
		x->ref_height = saved;
	}
	if (v->height[k] > x->ref_height)
		x->ref_height = v->height[k];
	ret = xset_copy(out, &v->set[k]);
	if (ret < 0)
		return x->rp->P->fatal = -ENOMEM;
	*neg ^= v->neg[k];
	return 0;
}

static void
u128_from_v6(const uint8_t b[16], struct u128 *k)
{
	k->hi = 0;
	k->lo = 0;
	for (int i = 0; i < 8; i++) {
		k->hi = k->hi << 8 | b[i];
		k->lo = k->lo << 8 | b[8 + i];
	}
}

/* `10.0.0.0/8`, `fd00::1`: one network. */
static int
hx_addr(struct hx *x, const char *s, size_t a, size_t b, struct xset *out)
{
	char buf[64], net[INET6_ADDRSTRLEN];
	size_t n = b - a;
	char *slash;
	unsigned prefix, bits;
	uint8_t raw[16], masked[16];
	bool v6;
	struct u128 lo, hi;

	if (n >= sizeof(buf) || memchr(s + a, ',', n) != NULL || memchr(s + a, ' ', n) != NULL ||
	    memchr(s + a, '\t', n) != NULL) {
		if (memchr(s + a, ',', n) != NULL)
			return hx_err(x, a, "a list needs brackets: [%.*s]", show_len(n), s + a);
		return hx_err(x, a, "invalid address \"%.*s\"", show_len(n), s + a);
	}
	memcpy(buf, s + a, n);
	buf[n] = '\0';
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	v6 = strchr(buf, ':') != NULL;
	bits = v6 ? 128 : 32;
	memset(raw, 0, sizeof(raw));
	if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, raw) != 1)
		return hx_err(x, a, "invalid address \"%.*s\"", show_len(n), s + a);
	prefix = bits;
	if (slash != NULL) {
		size_t plen = strlen(slash + 1);
		uint32_t p;

		if (!parse_u32(slash + 1, plen, 0, bits, &p))
			return hx_err(x, a + (size_t)(slash - buf) + 1,
				      "invalid prefix length \"/%.*s\": 0 to %u", show_len(plen),
				      slash + 1, bits);
		prefix = p;
	}
	memcpy(masked, raw, sizeof(masked));
	for (unsigned i = 0; i < bits / 8; i++) {
		unsigned keep = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? prefix - i * 8 : 0;

		masked[i] &= (uint8_t)(0xff00u >> keep);
	}
	if (memcmp(masked, raw, bits / 8) != 0) {
		inet_ntop(v6 ? AF_INET6 : AF_INET, masked, net, sizeof(net));
		return hx_err(x, a, "%s/%u has host bits set: did you mean %s/%u?", buf, prefix,
			      net, prefix);
	}
	if (v6) {
		uint8_t top[16];

		for (unsigned i = 0; i < 16; i++)
			top[i] = masked[i] |
				 (uint8_t) ~(0xff00u >> (prefix >= (i + 1) * 8 ? 8
							 : prefix > i * 8      ? prefix - i * 8
									       : 0));
		u128_from_v6(masked, &lo);
		u128_from_v6(top, &hi);
		if (kset_push(&out->b, lo, hi) < 0)
			return x->rp->P->fatal = -ENOMEM;
		return 0;
	}
	lo.hi = 0;
	lo.lo = (uint64_t)masked[0] << 24 | (uint64_t)masked[1] << 16 | (uint64_t)masked[2] << 8 |
		masked[3];
	hi.hi = 0;
	hi.lo = lo.lo | (UINT64_C(0xffffffff) >> prefix);
	if (kset_push(&out->a, lo, hi) < 0)
		return x->rp->P->fatal = -ENOMEM;
	return 0;
}

/* `2575`, `1024:65535`, `1024:`, `:1023`: one range of ports. */
static int
hx_port(struct hx *x, const char *s, size_t a, size_t b, struct xset *out)
{
	const char *colon = memchr(s + a, ':', b - a);
	size_t n = b - a;
	uint32_t lo = 0, hi = PORT_MAX;

	if (memchr(s + a, ',', n) != NULL)
		return hx_err(x, a, "a list needs brackets: [%.*s]", show_len(n), s + a);
	if (colon == NULL) {
		if (!all_digits(s + a, n))
			return hx_err(x, a, "invalid port \"%.*s\"", show_len(n), s + a);
		if (!parse_u32(s + a, n, 0, PORT_MAX, &lo))
			return hx_err(x, a, "port %.*s is out of range (0 to 65535)", show_len(n),
				      s + a);
		hi = lo;
	} else {
		size_t c = (size_t)(colon - s);

		if (c == a && c + 1 == b)
			return hx_err(x, a, "invalid port \"%.*s\"", show_len(n), s + a);
		if (c > a && !all_digits(s + a, c - a))
			return hx_err(x, a, "invalid port \"%.*s\"", show_len(n), s + a);
		if (c + 1 < b && !all_digits(s + c + 1, b - c - 1))
			return hx_err(x, c + 1, "invalid port \"%.*s\"", show_len(n), s + a);
		if (c > a && !parse_u32(s + a, c - a, 0, PORT_MAX, &lo))
			return hx_err(x, a, "port %.*s is out of range (0 to 65535)",
				      show_len(c - a), s + a);
		if (c + 1 < b && !parse_u32(s + c + 1, b - c - 1, 0, PORT_MAX, &hi))
			return hx_err(x, c + 1, "port %.*s is out of range (0 to 65535)",
				      show_len(b - c - 1), s + c + 1);
		if (lo > hi)
			return hx_err(x, a, "port range %.*s is empty: %u is above %u", show_len(n),
				      s + a, lo, hi);
	}
	if (kset_push(&out->a, (struct u128){0, lo}, (struct u128){0, hi}) < 0)
		return x->rp->P->fatal = -ENOMEM;
	return 0;
}

/*
 * One item: `!`s, then a list, a variable, `any`, or an address or port.
 * *neg says whether the item is negated (a list subtracts it).
 */
static int
hx_expr(struct hx *x, const char *s, size_t a, size_t b, unsigned depth, struct xset *out,
	bool *neg)
{
	const char *what = x->kind == X_PORT ? "a port" : "an address";

	memset(out, 0, sizeof(*out));
	*neg = false;
	trim(s, &a, &b);
	while (a < b && s[a] == '!') {
		*neg = !*neg;
		a++;
		while (a < b && is_space(s[a]))
			a++;
	}
	if (a == b)
		return hx_err(x, a, "expected %s", what);
	if (s[a] == '[') {
		unsigned level = 0;
		size_t close = SIZE_MAX;

		for (size_t i = a; i < b; i++) {
			if (s[i] == '[') {
				level++;
			} else if (s[i] == ']' && --level == 0) {
				close = i;
				break;
			}
		}
		if (close == SIZE_MAX)
			return hx_err(x, a, "unclosed '['");
		if (close + 1 != b)
			return hx_err(x, close + 1, "unexpected text after ']'");
		return hx_list(x, s, a, b, depth, out);
	}
	if (s[a] == ']')
		return hx_err(x, a, "unexpected ']'");
	if (s[a] == '$')
		return hx_var(x, s, a, b, out, neg);
	if (span_is(s + a, b - a, "any"))
		return xset_any(x->kind, out) < 0 ? (x->rp->P->fatal = -ENOMEM) : 0;
	return x->kind == X_PORT ? hx_port(x, s, a, b, out) : hx_addr(x, s, a, b, out);
}

/* A whole header field [a, b) of the rule into sorted disjoint ranges. */
static int
hx_field(struct rp *rp, int kind, size_t a, size_t b, struct xset *out)
{
	struct hx x = {.rp = rp, .kind = kind};
	bool neg = false;
	int ret;

	ret = hx_expr(&x, rp->L->s, a, b, 0, out, &neg);
	if (ret == 0 && neg && xset_complement(kind, out) < 0)
		ret = rp->P->fatal = -ENOMEM;
	if (ret == 0) {
		kset_norm(&out->a);
		kset_norm(&out->b);
		if (out->a.n == 0 && out->b.n == 0)
			ret = rp_err(rp, a, "%s set is empty: everything is negated away",
				     kind == X_PORT ? "port" : "address");
	}
	if (ret < 0)
		xset_free(out);
	return ret;
}

static int
to_addrset(const struct xset *x, struct rule_addrset *out)
{
	if (x->a.n > 0) {
		out->v4 = calloc(x->a.n, sizeof(*out->v4));
		if (out->v4 == NULL)
			return -ENOMEM;
		for (unsigned i = 0; i < x->a.n; i++) {
			out->v4[i].lo = (uint32_t)x->a.r[i].lo.lo;
			out->v4[i].hi = (uint32_t)x->a.r[i].hi.lo;
		}
		out->n4 = x->a.n;
	}
	if (x->b.n > 0) {
		out->v6 = calloc(x->b.n, sizeof(*out->v6));
		if (out->v6 == NULL)
			return -ENOMEM;
		for (unsigned i = 0; i < x->b.n; i++) {
			for (int j = 0; j < 8; j++) {
				out->v6[i].lo[j] = (uint8_t)(x->b.r[i].lo.hi >> (56 - 8 * j));
				out->v6[i].lo[8 + j] = (uint8_t)(x->b.r[i].lo.lo >> (56 - 8 * j));
				out->v6[i].hi[j] = (uint8_t)(x->b.r[i].hi.hi >> (56 - 8 * j));
				out->v6[i].hi[8 + j] = (uint8_t)(x->b.r[i].hi.lo >> (56 - 8 * j));
			}
		}
		out->n6 = x->b.n;
	}
	return 0;
}

static int
to_portset(const struct xset *x, struct rule_portset *out)
{
	if (x->a.n == 0)
		return 0;
	out->r = calloc(x->a.n, sizeof(*out->r));
	if (out->r == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < x->a.n; i++) {
		out->r[i].lo = (uint16_t)x->a.r[i].lo.lo;
		out->r[i].hi = (uint16_t)x->a.r[i].hi.lo;
	}
	out->n = x->a.n;
	return 0;
}

void
rule_header_free(struct rule_header *h)
{
	if (h == NULL)
		return;
	free(h->src.v4);
	free(h->src.v6);
	free(h->dst.v4);
	free(h->dst.v6);
	free(h->sport.r);
	free(h->dport.r);
	h->src = (struct rule_addrset){0};
	h->dst = (struct rule_addrset){0};
	h->sport = (struct rule_portset){0};
	h->dport = (struct rule_portset){0};
}

/* ======================================================================== */
/* Header                                                                   */
/* ======================================================================== */

static const char *const action_words[] = {"alert", "log", "pass", NULL};
static const char *const proto_words[] = {"any", "udp", "hl7", "vtp", NULL};

/*
 * The next header token from @p *i: a run without whitespace, where a
 * bracketed list may hold spaces; it ends before whitespace or '(' outside
 * brackets. *a == *b: there is none (end of line or '(').
 */
static int
header_token(struct rp *rp, size_t *i, size_t *a, size_t *b)
{
	const char *s = rp->L->s;
	size_t n = rp->L->n, open = SIZE_MAX;
	unsigned level = 0;

	while (*i < n && is_space(s[*i]))
		(*i)++;
	*a = *i;
	while (*i < n) {
		char c = s[*i];

		if (level == 0 && (is_space(c) || c == '('))
			break;
		if (c == '[' && level++ == 0)
			open = *i;
		else if (c == ']' && level > 0)
			level--;
		(*i)++;
	}
	*b = *i;
	if (level > 0)
		return rp_err(rp, open, "unclosed '['");
	return 0;
}

static const char *const header_parts[] = {
	"protocol",
	"source address",
	"source port",
	"direction (-> or <>)",
	"destination address",
	"destination port",
};

static int
parse_header(struct rp *rp, size_t *i)
{
	const char *s = rp->L->s;
	size_t a[6], b[6];
	struct xset src = {0}, dst = {0}, sport = {0}, dport = {0};
	unsigned proto;
	int ret;

	for (int k = 0; k < 6; k++) {
		ret = header_token(rp, i, &a[k], &b[k]);
		if (ret < 0)
			return ret;
		if (a[k] == b[k])
			return rp_err(rp, a[k],
				      "missing %s: a rule is ACTION PROTO SRC SPORT -> DST DPORT "
				      "(OPTIONS)",
				      header_parts[k]);
	}
	ret = pick_word(rp, a[0], b[0] - a[0], "protocol", proto_words, "hl7, vtp, udp or any",
			&proto);
	if (ret < 0)
		return ret;
	rp->r.hdr.proto = (uint8_t)proto;
	rp->r.pub.proto = (uint8_t)proto;
	if (span_is(s + a[3], b[3] - a[3], "<>"))
		rp->r.hdr.bidirectional = true;
	else if (!span_is(s + a[3], b[3] - a[3], "->"))
		return rp_err(rp, a[3],
			      "expected \"->\" or \"<>\" between source and destination, "
			      "found \"%.*s\"",
			      show_len(b[3] - a[3]), s + a[3]);
	rp->r.pub.bidirectional = rp->r.hdr.bidirectional;
	if ((ret = hx_field(rp, X_ADDR, a[1], b[1], &src)) < 0 ||
	    (ret = hx_field(rp, X_PORT, a[2], b[2], &sport)) < 0 ||
	    (ret = hx_field(rp, X_ADDR, a[4], b[4], &dst)) < 0 ||
	    (ret = hx_field(rp, X_PORT, a[5], b[5], &dport)) < 0)
		goto out;
	if (to_addrset(&src, &rp->r.hdr.src) < 0 || to_addrset(&dst, &rp->r.hdr.dst) < 0 ||
	    to_portset(&sport, &rp->r.hdr.sport) < 0 || to_portset(&dport, &rp->r.hdr.dport) < 0)
		ret = rp->P->fatal = -ENOMEM;
out:
	xset_free(&src);
	xset_free(&dst);
	xset_free(&sport);
	xset_free(&dport);
	return ret;
}

/* ======================================================================== */
/* Options                                                                  */
/* ======================================================================== */

/* One `keyword:value` as written; offsets into the logical line. */
struct opt {
	int kw;
	size_t kw_at, kw_len;
	bool has_value;
	size_t v, v_len;   /* trimmed */
	size_t start, end; /* the option without its ';', trimmed (for rule_pattern.shown) */
};

static const char *
val(const struct rp *rp, const struct opt *o)
{
	return rp->L->s + o->v;
}

/*
 * A quoted string value into its bytes: the quotes at both ends, and
 * inside them a backslash only before one of @p escapes.
 */
static int
unquote(struct rp *rp, size_t off, size_t n, const char *what, const char *escapes, char **out,
	size_t *outlen)
{
	const char *s = rp->L->s;
	char *buf;
	size_t k = 0;

	if (n == 0 || s[off] != '"')
		return rp_err(rp, off, "%s must be a quoted string: %s:\"...\"", what, what);
	buf = malloc(n);
	if (buf == NULL)
		return rp->P->fatal = -ENOMEM;
	for (size_t i = off + 1; i < off + n; i++) {
		char c = s[i];

		if (c == '\\') {
			if (i + 1 >= off + n || strchr(escapes, s[i + 1]) == NULL ||
			    s[i + 1] == '\0') {
				free(buf);
				return rp_err(rp, i,
					      "invalid escape in %s: only \\\", \\; and \\\\",
					      what);
			}
			buf[k++] = s[++i];
			continue;
		}
		if (c == '"') {
			if (i + 1 != off + n) {
				free(buf);
				return rp_err(rp, i + 1, "unexpected text after the closing quote");
			}
			buf[k] = '\0';
			*out = buf;
			*outlen = k;
			return 0;
		}
		buf[k++] = c;
	}
	free(buf);
	return rp_err(rp, off, "unterminated string: the closing quote is missing");
}

static int
set_string(char **field, char *value)
{
	free(*field);
	*field = value;
	return 0;
}

/* ---- msg, sid, rev, priority, kind, metadata, classtype, reference ------ */

static int
opt_msg(struct rp *rp, const struct opt *o)
{
	char *m;
	size_t n;
	int ret = unquote(rp, o->v, o->v_len, "msg", "\"\\;", &m, &n);

	if (ret < 0)
		return ret;
	return set_string(&rp->msg, m);
}

static int
opt_sid(struct rp *rp, const struct opt *o)
{
	if (!parse_u32(val(rp, o), o->v_len, 1, UINT32_MAX, &rp->r.pub.sid))
		return rp_err(rp, o->v, "sid must be a number from 1 to 4294967295");
	rp->sid_at = o->kw_at;
	return 0;
}

static int
opt_rev(struct rp *rp, const struct opt *o)
{
	if (!parse_u32(val(rp, o), o->v_len, 0, UINT32_MAX, &rp->r.pub.rev))
		return rp_err(rp, o->v, "rev must be a number from 0 to 4294967295");
	return 0;
}

static int
parse_priority(struct rp *rp, size_t off, size_t n, uint8_t *out)
{
	static const char *const words[] = {"low", "medium", "high", NULL};
	unsigned w;
	int ret;

	if (all_digits(rp->L->s + off, n))
		return rp_err(rp, off,
			      "numeric priority \"%.*s\" is Suricata's: use high, medium or low",
			      show_len(n), rp->L->s + off);
	ret = pick_word(rp, off, n, "priority", words, "high, medium or low", &w);
	if (ret < 0)
		return ret;
	*out = (uint8_t)(RULE_PRIO_LOW + w);
	return 0;
}

static int
opt_priority(struct rp *rp, const struct opt *o)
{
	return parse_priority(rp, o->v, o->v_len, &rp->r.pub.priority);
}

static int
opt_kind(struct rp *rp, const struct opt *o)
{
	static const char *const words[] = {"physiological", "technical", "advisory", NULL};
	unsigned w;
	int ret = pick_word(rp, o->v, o->v_len, "kind", words,
			    "physiological, technical or advisory", &w);

	if (ret < 0)
		return ret;
	rp->r.pub.kind = (uint8_t)w;
	rp->has_kind = true;
	return 0;
}

static int
opt_metadata(struct rp *rp, const struct opt *o)
{
	char *m;

	if (rp->metadata == NULL) {
		m = dup_span(val(rp, o), o->v_len);
	} else if (asprintf(&m, "%s, %.*s", rp->metadata, (int)o->v_len, val(rp, o)) < 0) {
		m = NULL;
	}
	if (m == NULL)
		return rp->P->fatal = -ENOMEM;
	return set_string(&rp->metadata, m);
}

static int
opt_classtype(struct rp *rp, const struct opt *o)
{
	char *m = dup_span(val(rp, o), o->v_len);

	if (m == NULL)
		return rp->P->fatal = -ENOMEM;
	return set_string(&rp->classtype, m);
}

static int
opt_reference(struct rp *rp, const struct opt *o)
{
	(void)rp;
	(void)o;
	return 0;
}

/* ---- content, its modifiers, pcre ----------------------------------------- */

static int
new_pattern(struct rp *rp, const struct opt *o, struct rule_pattern **out)
{
	struct where w = lpos(rp->L, o->v);
	struct rule_pattern *p;

	if (rp->n_pat == RULE_MAX_PATTERNS)
		return rp_err(rp, o->kw_at,
			      "too many content and pcre options: at most %d per rule",
			      RULE_MAX_PATTERNS);
	p = &rp->pat[rp->n_pat];
	memset(p, 0, sizeof(*p));
	memset(&rp->cm[rp->n_pat], 0, sizeof(rp->cm[0]));
	p->shown = dup_span(rp->L->s + o->start, o->end - o->start);
	if (p->shown == NULL)
		return rp->P->fatal = -ENOMEM;
	p->flags = HS_FLAG_SINGLEMATCH;
	p->line = w.line;
	p->col = w.col;
	*out = p;
	return 0;
}

static int
opt_content(struct rp *rp, const struct opt *o)
{
	const char *s = rp->L->s;
	size_t end = o->v + o->v_len, hex_at = 0, k = 0;
	struct rule_pattern *p;
	uint8_t *bytes;
	bool in_hex = false, closed = false;
	int ret;

	if (o->v_len > 0 && s[o->v] == '!')
		return rp_err(rp, o->v, "negated content is not supported");
	if (o->v_len == 0 || s[o->v] != '"')
		return rp_err(rp, o->v, "content must be a quoted string: content:\"...\"");
	bytes = malloc(o->v_len);
	if (bytes == NULL)
		return rp->P->fatal = -ENOMEM;
	for (size_t i = o->v + 1; i < end; i++) {
		char c = s[i];

		if (closed) {
			ret = rp_err(rp, i, "unexpected text after the closing quote");
			goto out;
		}
		if (in_hex) {
			int h = hex_val(c);

			if (c == '|') {
				in_hex = false;
			} else if (c == '"') {
				break; /* reported below as an unclosed '|' */
			} else if (is_space(c)) {
				continue;
			} else if (h < 0) {
				ret = rp_err(rp, i,
					     "invalid character '%c' between '|': hex bytes "
					     "only (|0D 0A|)",
					     c >= 0x20 && c < 0x7f ? c : '?');
				goto out;
			} else if (i + 1 >= end || hex_val(s[i + 1]) < 0) {
				ret = rp_err(rp, i, "hex digits must come in pairs (|0D 0A|)");
				goto out;
			} else {
				bytes[k++] = (uint8_t)(h << 4 | hex_val(s[i + 1]));
				i++;
			}
			continue;
		}
		if (c == '|') {
			in_hex = true;
			hex_at = i;
		} else if (c == '\\') {
			if (i + 1 >= end || strchr("\"\\;|", s[i + 1]) == NULL ||
			    s[i + 1] == '\0') {
				ret = rp_err(rp, i,
					     "invalid escape in content: only \\\", \\;, \\\\ "
					     "and \\|");
				goto out;
			}
			bytes[k++] = (uint8_t)s[++i];
		} else if (c == '"') {
			closed = true;
		} else {
			bytes[k++] = (uint8_t)c;
		}
	}
	if (in_hex) {
		ret = rp_err(rp, hex_at, "unclosed '|' in content");
		goto out;
	}
	if (!closed) {
		ret = rp_err(rp, o->v, "unterminated string: the closing quote is missing");
		goto out;
	}
	if (k == 0) {
		ret = rp_err(rp, o->v, "empty content");
		goto out;
	}
	ret = new_pattern(rp, o, &p);
	if (ret < 0)
		goto out;
	p->expr = malloc(k * 4 + 1);
	if (p->expr == NULL) {
		free(p->shown);
		ret = rp->P->fatal = -ENOMEM;
		goto out;
	}
	{
		char *e = p->expr;

		for (size_t i = 0; i < k; i++) {
			if (is_alnum((char)bytes[i])) {
				*e++ = (char)bytes[i];
			} else {
				static const char hex[] = "0123456789abcdef";

				*e++ = '\\';
				*e++ = 'x';
				*e++ = hex[bytes[i] >> 4];
				*e++ = hex[bytes[i] & 15];
			}
		}
		*e = '\0';
	}
	rp->cm[rp->n_pat].is_content = true;
	rp->cm[rp->n_pat].len = k;
	rp->last_content = (int)rp->n_pat;
	rp->n_pat++;
out:
	free(bytes);
	return ret;
}

/* The content a modifier applies to, with the modifier added to what it shows. */
static int
modified(struct rp *rp, const struct opt *o, const char *name, struct cmods **out)
{
	struct rule_pattern *p;
	char *shown = NULL;

	if (rp->last_content < 0)
		return rp_err(rp, o->kw_at,
			      "\"%s\" must follow a content (it modifies the content "
			      "just before it)",
			      name);
	p = &rp->pat[rp->last_content];
	if (asprintf(&shown, "%s; %.*s", p->shown, (int)(o->end - o->start), rp->L->s + o->start) <
	    0)
		return rp->P->fatal = -ENOMEM;
	free(p->shown);
	p->shown = shown;
	*out = &rp->cm[rp->last_content];
	return 0;
}

static int
opt_nocase(struct rp *rp, const struct opt *o)
{
	struct cmods *m = NULL;
	int ret = modified(rp, o, "nocase", &m);

	if (ret < 0)
		return ret;
	if (m->nocase)
		return rp_err(rp, o->kw_at, "\"nocase\" is given twice for the same content");
	m->nocase = true;
	return 0;
}

static int
opt_offset(struct rp *rp, const struct opt *o)
{
	struct cmods *m = NULL;
	int ret = modified(rp, o, "offset", &m);

	if (ret < 0)
		return ret;
	if (m->has_offset)
		return rp_err(rp, o->kw_at, "\"offset\" is given twice for the same content");
	if (!parse_u32(val(rp, o), o->v_len, 0, OFFSET_MAX, &m->offset))
		return rp_err(rp, o->v, "offset must be a number from 0 to %u", OFFSET_MAX);
	m->has_offset = true;
	return 0;
}

static int
opt_depth(struct rp *rp, const struct opt *o)
{
	struct cmods *m = NULL;
	int ret = modified(rp, o, "depth", &m);

	if (ret < 0)
		return ret;
	if (m->has_depth)
		return rp_err(rp, o->kw_at, "\"depth\" is given twice for the same content");
	if (!parse_u32(val(rp, o), o->v_len, 1, OFFSET_MAX, &m->depth))
		return rp_err(rp, o->v, "depth must be a number from 1 to %u", OFFSET_MAX);
	if (m->depth < m->len)
		return rp_err(rp, o->v, "depth %u is shorter than the content (%zu bytes)",
			      m->depth, m->len);
	m->has_depth = true;
	return 0;
}

/* Hyperscan's "... at index N" or "..., index N." into the regex's column. */
static size_t
hs_error_index(const char *msg, size_t len)
{
	const char *p = NULL, *q = msg;
	size_t v = 0;

	while ((q = strstr(q, "index ")) != NULL) {
		p = q + 6;
		q = p;
	}
	if (p == NULL || !is_digit(*p))
		return SIZE_MAX;
	for (; is_digit(*p); p++) {
		v = v * 10 + (size_t)(*p - '0');
		if (v > len)
			return SIZE_MAX;
	}
	return v < len ? v : SIZE_MAX;
}

static int
opt_pcre(struct rp *rp, const struct opt *o)
{
	const char *s = rp->L->s;
	size_t a = o->v, n = o->v_len, re, re_end, last;
	struct rule_pattern *p;
	unsigned flags = HS_FLAG_SINGLEMATCH;
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *cerr = NULL;
	char *expr;
	int ret;

	if (n < 2 || s[a] != '"' || s[a + n - 1] != '"')
		return rp_err(rp, a, "pcre must be a quoted string: pcre:\"/regex/flags\"");
	if (n < 3 || s[a + 1] != '/')
		return rp_err(rp, a + 1, "pcre must be \"/regex/flags\"");
	re = a + 2;
	last = a + n - 2;
	while (last > a + 1 && s[last] != '/')
		last--;
	if (last == a + 1)
		return rp_err(rp, a + 1,
			      "pcre must be \"/regex/flags\": the closing '/' is missing");
	re_end = last;
	for (size_t i = last + 1; i < a + n - 1; i++) {
		char c = s[i];

		if (c == 'i')
			flags |= HS_FLAG_CASELESS;
		else if (c == 's')
			flags |= HS_FLAG_DOTALL;
		else if (c == 'm')
			flags |= HS_FLAG_MULTILINE;
		else if (c >= 'A' && c <= 'Z')
			return rp_err(rp, i, "pcre flag '%c' is Suricata's and is not supported",
				      c);
		else
			return rp_err(rp, i, "pcre flag '%c' is not supported: use i, s or m",
				      c >= 0x20 && c < 0x7f ? c : '?');
	}
	if (re == re_end)
		return rp_err(rp, a + 1, "empty pcre");
	expr = dup_span(s + re, re_end - re);
	if (expr == NULL)
		return rp->P->fatal = -ENOMEM;
	if (hs_expression_ext_info(expr, flags, NULL, &info, &cerr) != HS_SUCCESS) {
		const char *m = cerr != NULL && cerr->message != NULL ? cerr->message
								      : "rejected by Hyperscan";
		size_t at = hs_error_index(m, re_end - re);

		ret = rp_err(rp, at == SIZE_MAX ? a : re + at, "invalid pcre: %s", m);
		hs_free_compile_error(cerr);
		free(expr);
		return ret;
	}
	if (info != NULL && info->min_width == 0) {
		free(info);
		free(expr);
		return rp_err(rp, a,
			      "pcre can match an empty string: it would match every message");
	}
	free(info);
	ret = new_pattern(rp, o, &p);
	if (ret < 0) {
		free(expr);
		return ret;
	}
	p->expr = expr;
	p->flags = flags;
	p->is_pcre = true;
	rp->last_content = -1;
	rp->n_pat++;
	return 0;
}

/* ---- metric, and the comparisons: value, dsize; location ------------------ */

static const char *
unit_text(uint32_t code, char *buf, size_t len)
{
	const struct rule_unit *u = rule_unit_by_code(code);

	if (code == 0)
		return "no unit";
	if (u == NULL)
		snprintf(buf, len, "unit %u", code);
	else
		snprintf(buf, len, "%s (%s)", u->ucum, u->refid);
	return buf;
}

static const struct rule_metric *
metric_lookup(const char *s, size_t n)
{
	const struct rule_metric *m;
	char up[SUGGEST_MAX_LEN + 1];
	uint32_t code;

	if (all_digits(s, n))
		return parse_u32(s, n, 0, UINT32_MAX, &code) ? rule_metric_by_code(code) : NULL;
	m = rule_metric_by_name(s, n);
	if (m == NULL)
		m = rule_metric_by_refid(s, n);
	if (m == NULL)
		m = rule_metric_by_loinc(s, n);
	if (m == NULL && n <= SUGGEST_MAX_LEN) {
		for (size_t i = 0; i < n; i++)
			up[i] = s[i] >= 'a' && s[i] <= 'z' ? (char)(s[i] - 'a' + 'A') : s[i];
		m = rule_metric_by_refid(up, n);
	}
	return m;
}

static int
opt_metric(struct rp *rp, const struct opt *o)
{
	const char *s = rp->L->s;
	size_t end = o->v + o->v_len, item = o->v;
	struct rule *r = &rp->r.pub;

	for (size_t i = o->v; i <= end; i++) {
		const struct rule_metric *m;
		size_t a = item, b = i;

		if (i < end && s[i] != ',')
			continue;
		item = i + 1;
		trim(s, &a, &b);
		if (a == b)
			return rp_err(rp, a, "empty metric name");
		m = metric_lookup(s + a, b - a);
		if (m == NULL) {
			struct nearest nr;
			bool refid = b - a > 4 && lower(s[a]) == 'm' && lower(s[a + 1]) == 'd' &&
				     lower(s[a + 2]) == 'c' && s[a + 3] == '_';

			if (all_digits(s + a, b - a))
				return rp_err(rp, a,
					      "metric code %.*s is not in the table of metrics",
					      show_len(b - a), s + a);
			near_init(&nr, s + a, b - a);
			for (size_t k = 0; k < rule_metric_count(); k++)
				near_try(&nr, refid ? rule_metric_at(k)->refid
						    : rule_metric_at(k)->name);
			return rp_err_near(rp, a, "metric", s + a, b - a, "", &nr);
		}
		for (unsigned k = 0; k < r->n_metrics; k++)
			if (r->metric[k] == m->code)
				return rp_err(rp, a, "metric \"%.*s\" is listed twice",
					      show_len(b - a), s + a);
		if (r->n_metrics == RULE_MAX_METRICS)
			return rp_err(rp, a, "too many metrics: at most %d per rule",
				      RULE_MAX_METRICS);
		if (r->n_metrics > 0) {
			const struct rule_metric *m0 = rule_metric_by_code(r->metric[0]);

			if (m0 != NULL && m0->unit != m->unit) {
				char u0[96], u1[96];

				return rp_err(rp, a,
					      "metric %s is measured in %s but %s in %s: a rule's "
					      "metrics must share one unit",
					      m->name, unit_text(m->unit, u1, sizeof(u1)), m0->name,
					      unit_text(m0->unit, u0, sizeof(u0)));
			}
		}
		r->metric[r->n_metrics++] = m->code;
	}
	return 0;
}

/* A decimal number: sign, digits, an optional fraction; nothing else. */
static bool
parse_number(const char *s, size_t n, double *out)
{
	char buf[NUMBER_MAX_LEN + 1];
	size_t i = 0;
	char *end;

	if (n == 0 || n > NUMBER_MAX_LEN)
		return false;
	if (s[i] == '+' || s[i] == '-')
		i++;
	if (i == n || !is_digit(s[i]))
		return false;
	while (i < n && is_digit(s[i]))
		i++;
	if (i < n && s[i] == '.') {
		i++;
		if (i == n || !is_digit(s[i]))
			return false;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i != n)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*out = strtod(buf, &end);
	return end == buf + n;
}

/*
 * A comparison: `<N`, `<=N`, `>N`, `>=N`, `==N`, `!=N`, `a..b`,
 * `outside a..b`; for dsize also `N` and `N<>M`, and integers only.
 */
static int
parse_cmp(struct rp *rp, const struct opt *o, bool dsize, uint8_t *cmp, double *va, double *vb)
{
	static const struct {
		const char *op;
		uint8_t cmp;
	} ops[] = {
		{"<=", RULE_CMP_LE}, {">=", RULE_CMP_GE}, {"==", RULE_CMP_EQ},
		{"!=", RULE_CMP_NE}, {"<", RULE_CMP_LT},  {">", RULE_CMP_GT},
	};
	const char *s = rp->L->s, *what = dsize ? "dsize" : "value";
	size_t a = o->v, b = o->v + o->v_len, dots;
	const char *forms = dsize ? "dsize:>N, <N, >=N, <=N, !=N, N, N<>M, a..b or outside a..b"
				  : "value:<N, <=N, >N, >=N, ==N, !=N, a..b or outside a..b";
	bool outside = false;

	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		size_t l = strlen(ops[k].op);

		if (dsize && ops[k].cmp == RULE_CMP_EQ)
			continue; /* dsize's equality is a bare N, as in Suricata */
		if (b - a >= l && memcmp(s + a, ops[k].op, l) == 0) {
			size_t na = a + l, nb = b;

			trim(s, &na, &nb);
			*cmp = ops[k].cmp;
			*vb = 0;
			if (!parse_number(s + na, nb - na, va))
				return rp_err(rp, na, "invalid number \"%.*s\" in %s",
					      show_len(nb - na), s + na, what);
			return 0;
		}
	}
	if (b - a > 7 && memcmp(s + a, "outside", 7) == 0 && is_space(s[a + 7])) {
		outside = true;
		a += 7;
		trim(s, &a, &b);
	}
	for (dots = a; dots + 1 < b; dots++)
		if (s[dots] == '.' && s[dots + 1] == '.')
			break;
	if (dots + 1 < b) {
		size_t xa = a, xb = dots, ya = dots + 2, yb = b;

		trim(s, &xa, &xb);
		trim(s, &ya, &yb);
		if (!parse_number(s + xa, xb - xa, va))
			return rp_err(rp, xa, "invalid number \"%.*s\" in %s", show_len(xb - xa),
				      s + xa, what);
		if (!parse_number(s + ya, yb - ya, vb))
			return rp_err(rp, ya, "invalid number \"%.*s\" in %s", show_len(yb - ya),
				      s + ya, what);
		if (*va > *vb)
			return rp_err(rp, a,
				      "empty range %.*s: the first bound is above the second",
				      show_len(b - a), s + a);
		*cmp = outside ? RULE_CMP_OUTSIDE : RULE_CMP_RANGE;
		return 0;
	}
	if (outside)
		return rp_err(rp, a, "outside needs a range: outside a..b");
	if (dsize) {
		const char *lg = NULL;

		for (size_t i = a; i + 1 < b; i++) {
			if (s[i] == '<' && s[i + 1] == '>') {
				lg = s + i;
				break;
			}
		}
		if (lg != NULL) {
			size_t xa = a, xb = (size_t)(lg - s), ya = xb + 2, yb = b;

			trim(s, &xa, &xb);
			trim(s, &ya, &yb);
			if (!parse_number(s + xa, xb - xa, va))
				return rp_err(rp, xa, "invalid number \"%.*s\" in dsize",
					      show_len(xb - xa), s + xa);
			if (!parse_number(s + ya, yb - ya, vb))
				return rp_err(rp, ya, "invalid number \"%.*s\" in dsize",
					      show_len(yb - ya), s + ya);
			if (*vb - *va < 2)
				return rp_err(rp, a,
					      "dsize %.*s matches nothing: no size is strictly "
					      "between",
					      show_len(b - a), s + a);
			*va += 1;
			*vb -= 1;
			*cmp = RULE_CMP_RANGE;
			return 0;
		}
		if (parse_number(s + a, b - a, va)) {
			*vb = 0;
			*cmp = RULE_CMP_EQ;
			return 0;
		}
	}
	return rp_err(rp, a, "invalid %s \"%.*s\": %s", what, show_len(b - a), s + a, forms);
}

static int
opt_value(struct rp *rp, const struct opt *o)
{
	return parse_cmp(rp, o, false, &rp->r.pub.value_cmp, &rp->r.pub.value_a,
			 &rp->r.pub.value_b);
}

static bool
dsize_number(double v)
{
	return v >= 0 && v <= DSIZE_MAX && v == (double)(uint32_t)v;
}

static int
opt_dsize(struct rp *rp, const struct opt *o)
{
	double a = 0, b = 0;
	uint8_t cmp;
	int ret = parse_cmp(rp, o, true, &cmp, &a, &b);

	if (ret < 0)
		return ret;
	if (!dsize_number(a) || !dsize_number(b))
		return rp_err(rp, o->v, "dsize sizes are whole numbers from 0 to %u", DSIZE_MAX);
	rp->r.pub.dsize_cmp = cmp;
	rp->r.pub.dsize_a = (uint32_t)a;
	rp->r.pub.dsize_b = (uint32_t)b;
	return 0;
}

static int
opt_location(struct rp *rp, const struct opt *o)
{
	static const char *const parts[] = {"ward", "room", "bed", "facility", NULL};
	const char *s = rp->L->s;
	size_t a = o->v, b = o->v + o->v_len, sp = a;
	unsigned part = 0;
	char *glob;
	size_t glen;
	int ret;

	while (sp < b && !is_space(s[sp]))
		sp++;
	if (sp < b && s[a] != '"') {
		ret = pick_word(rp, a, sp - a, "location part", parts,
				"ward, room, bed or facility", &part);
		if (ret < 0)
			return ret;
		a = sp;
		trim(s, &a, &b);
	}
	if (a < b && s[a] == '"') {
		ret = unquote(rp, a, b - a, "location", "\"\\;", &glob, &glen);
		if (ret < 0)
			return ret;
	} else {
		glob = dup_span(s + a, b - a);
		if (glob == NULL)
			return rp->P->fatal = -ENOMEM;
		glen = b - a;
	}
	if (glen == 0) {
		free(glob);
		return rp_err(rp, a, "empty location");
	}
	for (size_t i = 0; i < glen; i++) {
		if ((unsigned char)glob[i] < 0x20 || glob[i] == 0x7f) {
			free(glob);
			return rp_err(rp, a, "control character in location");
		}
	}
	rp->r.pub.loc_part = (uint8_t)(RULE_LOC_WARD + part);
	return set_string(&rp->glob, glob);
}

/* ---- delay, latch, threshold, escalate, valid, malformed, acl ------------- */

static bool
parse_duration(const char *s, size_t n, uint64_t *ms)
{
	size_t d = 0;
	uint32_t v;
	uint64_t mul;

	while (d < n && is_digit(s[d]))
		d++;
	if (!parse_u32(s, d, 0, UINT32_MAX, &v))
		return false;
	if (span_is(s + d, n - d, "") || span_is(s + d, n - d, "s"))
		mul = 1000;
	else if (span_is(s + d, n - d, "ms"))
		mul = 1;
	else if (span_is(s + d, n - d, "m"))
		mul = 60000;
	else if (span_is(s + d, n - d, "h"))
		mul = 3600000;
	else
		return false;
	*ms = (uint64_t)v * mul;
	return true;
}

static int
duration(struct rp *rp, size_t off, size_t n, const char *what, uint32_t *out)
{
	uint64_t ms;

	if (!parse_duration(rp->L->s + off, n, &ms))
		return rp_err(rp, off,
			      "invalid duration \"%.*s\" in %s: a number with ms, s, m or h "
			      "(500ms, 15s, 2m, 1h)",
			      show_len(n), rp->L->s + off, what);
	if (ms > DURATION_MAX_MS)
		return rp_err(rp, off, "%s is too long: at most 24h", what);
	*out = (uint32_t)ms;
	return 0;
}

static int
opt_delay(struct rp *rp, const struct opt *o)
{
	return duration(rp, o->v, o->v_len, "delay", &rp->r.pub.delay_ms);
}

static int
opt_latch(struct rp *rp, const struct opt *o)
{
	(void)o;
	rp->r.pub.latch = true;
	return 0;
}

static int
opt_malformed(struct rp *rp, const struct opt *o)
{
	(void)o;
	rp->r.pub.malformed = true;
	return 0;
}

static int
opt_threshold(struct rp *rp, const struct opt *o)
{
	static const char *const parts[] = {"type", "track", "count", "seconds", NULL};
	static const char *const types[] = {"limit", "threshold", "both", NULL};
	static const char *const tracks[] = {"by_device", "by_bed", "by_rule", NULL};
	const char *s = rp->L->s;
	size_t end = o->v + o->v_len, item = o->v;
	size_t seen[4] = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX};
	int ret;

	for (size_t i = o->v; i <= end; i++) {
		size_t a = item, b = i, w, va;
		unsigned part, x;

		if (i < end && s[i] != ',')
			continue;
		item = i + 1;
		trim(s, &a, &b);
		if (a == b)
			return rp_err(rp, a, "empty part in threshold");
		for (w = a; w < b && !is_space(s[w]);)
			w++;
		ret = pick_word(rp, a, w - a, "threshold part", parts,
				"type, track, count or seconds", &part);
		if (ret < 0)
			return ret;
		if (seen[part] != SIZE_MAX)
			return rp_err(rp, a, "threshold's \"%s\" is given twice", parts[part]);
		seen[part] = a;
		va = w;
		trim(s, &va, &b);
		if (va == b)
			return rp_err(rp, b, "threshold's \"%s\" needs a value", parts[part]);
		switch (part) {
		case 0:
			ret = pick_word(rp, va, b - va, "threshold type", types,
					"limit, threshold or both", &x);
			if (ret < 0)
				return ret;
			rp->r.pub.threshold.type = (uint8_t)(RULE_THRESHOLD_LIMIT + x);
			break;
		case 1:
			if (span_is(s + va, b - va, "by_src") || span_is(s + va, b - va, "by_dst"))
				return rp_err(rp, va, "track %.*s is Suricata's: use by_device",
					      (int)(b - va), s + va);
			ret = pick_word(rp, va, b - va, "threshold track", tracks,
					"by_device, by_bed or by_rule", &x);
			if (ret < 0)
				return ret;
			rp->r.pub.threshold.track = (uint8_t)(RULE_TRACK_DEVICE + x);
			break;
		case 2:
		case 3:
			if (!parse_u32(s + va, b - va, 1, UINT32_MAX,
				       part == 2 ? &rp->r.pub.threshold.count
						 : &rp->r.pub.threshold.seconds))
				return rp_err(
					rp, va,
					"threshold's %s must be a number from 1 to 4294967295",
					parts[part]);
			break;
		}
	}
	for (unsigned k = 0; k < 4; k++)
		if (seen[k] == SIZE_MAX)
			return rp_err(rp, o->v,
				      "threshold needs type, track, count and seconds: \"%s\" is "
				      "missing",
				      parts[k]);
	return 0;
}

static int
opt_escalate(struct rp *rp, const struct opt *o)
{
	const char *s = rp->L->s;
	const char *comma = memchr(s + o->v, ',', o->v_len);
	size_t da = o->v, db, pa, pb = o->v + o->v_len;
	int ret;

	if (comma == NULL)
		return rp_err(rp, o->v, "escalate must be DURATION,PRIORITY (escalate:2m,high)");
	db = (size_t)(comma - s);
	pa = db + 1;
	trim(s, &da, &db);
	trim(s, &pa, &pb);
	ret = duration(rp, da, db - da, "escalate", &rp->r.pub.escalate.after_ms);
	if (ret < 0)
		return ret;
	if (rp->r.pub.escalate.after_ms == 0)
		return rp_err(rp, da, "escalate needs a delay above 0");
	if (pa == pb)
		return rp_err(rp, pa, "escalate must be DURATION,PRIORITY (escalate:2m,high)");
	rp->esc_prio_at = pa;
	return parse_priority(rp, pa, pb - pa, &rp->r.pub.escalate.priority);
}

static int
opt_valid(struct rp *rp, const struct opt *o)
{
	static const char *const words[] = {"only", "test", "any", NULL};
	unsigned w;
	int ret = pick_word(rp, o->v, o->v_len, "valid value", words, "only, test or any", &w);

	if (ret < 0)
		return ret;
	rp->r.pub.valid = (uint8_t)(RULE_VALID_ONLY + w);
	return 0;
}

/* `acl:denied`, `acl:allowed`: which side of telemetry.allow the sender is on. */
static int
opt_acl(struct rp *rp, const struct opt *o)
{
	static const char *const words[] = {"denied", "allowed", NULL};
	unsigned w;
	int ret = pick_word(rp, o->v, o->v_len, "acl value", words, "denied or allowed", &w);

	if (ret < 0)
		return ret;
	rp->r.pub.acl = (uint8_t)(RULE_ACL_DENIED + w);
	return 0;
}

/* ---- the keyword table ---------------------------------------------------- */

static const struct keyword {
	const char *name;
	bool value; /* takes a value (else: a flag that must not have one) */
	bool many;  /* may be given more than once */
	int (*fn)(struct rp *, const struct opt *);
} keywords[KW__COUNT] = {
	[KW_MSG] = {"msg", true, false, opt_msg},
	[KW_SID] = {"sid", true, false, opt_sid},
	[KW_REV] = {"rev", true, false, opt_rev},
	[KW_PRIORITY] = {"priority", true, false, opt_priority},
	[KW_KIND] = {"kind", true, false, opt_kind},
	[KW_METADATA] = {"metadata", true, true, opt_metadata},
	[KW_CLASSTYPE] = {"classtype", true, false, opt_classtype},
	[KW_REFERENCE] = {"reference", true, true, opt_reference},
	[KW_CONTENT] = {"content", true, true, opt_content},
	[KW_NOCASE] = {"nocase", false, true, opt_nocase},
	[KW_OFFSET] = {"offset", true, true, opt_offset},
	[KW_DEPTH] = {"depth", true, true, opt_depth},
	[KW_PCRE] = {"pcre", true, true, opt_pcre},
	[KW_METRIC] = {"metric", true, false, opt_metric},
	[KW_VALUE] = {"value", true, false, opt_value},
	[KW_LOCATION] = {"location", true, false, opt_location},
	[KW_DELAY] = {"delay", true, false, opt_delay},
	[KW_LATCH] = {"latch", false, false, opt_latch},
	[KW_THRESHOLD] = {"threshold", true, false, opt_threshold},
	[KW_ESCALATE] = {"escalate", true, false, opt_escalate},
	[KW_VALID] = {"valid", true, false, opt_valid},
	[KW_DSIZE] = {"dsize", true, false, opt_dsize},
	[KW_MALFORMED] = {"malformed", false, false, opt_malformed},
	[KW_ACL] = {"acl", true, false, opt_acl},
};

/* ---- the option loop ------------------------------------------------------ */

/*
 * Suricata keywords a rule writer may bring along: named as such, not as
 * typos of ours. One string, each word between spaces.
 */
static const char suricata_keywords[] =
	" distance within fast_pattern rawbytes startswith endswith isdataat byte_test"
	" byte_jump byte_extract byte_math bsize flow flowbits flowint xbits"
	" detection_filter tag gid target noalert replace base64_decode base64_data"
	" pkt_data file_data sameip ttl tos ipopts fragbits ip_proto stream_size"
	" app-layer-protocol app-layer-event urilen http_uri http_header http_method"
	" http_cookie http_client_body uricontent dns_query tls_sni ja3_hash lua luajit"
	" prefilter flags ack seq window itype icode icmp_id icmp_seq dataset datarep"
	" iprep config id geoip ";

static bool
is_suricata_keyword(const char *s, size_t n)
{
	if (n == 0 || memchr(s, ' ', n) != NULL)
		return false;
	for (const char *p = suricata_keywords; (p = strchr(p, ' ')) != NULL && p[1] != '\0'; p++)
		if (strncmp(p + 1, s, n) == 0 && p[1 + n] == ' ')
			return true;
	return false;
}

static bool
is_kwchar(char c)
{
	return is_alnum(c) || c == '_' || c == '.' || c == '-';
}

static int
find_keyword(struct rp *rp, size_t a, size_t n)
{
	const char *s = rp->L->s + a;
	struct nearest nr;

	for (int k = 0; k < KW__COUNT; k++)
		if (span_is(s, n, keywords[k].name))
			return k;
	if (is_suricata_keyword(s, n) || memchr(s, '.', n) != NULL)
		return rp_err(rp, a, "Suricata keyword \"%.*s\" is not supported", show_len(n), s);
	near_init(&nr, s, n);
	for (int k = 0; k < KW__COUNT; k++)
		near_try(&nr, keywords[k].name);
	return rp_err_near(rp, a, "keyword", s, n, "", &nr);
}

/*
 * The end of the option starting at @p i: its ';' (outside quotes, not
 * escaped), or n when there is none. *open_quote: a quote still open at the
 * end, SIZE_MAX if none.
 */
static size_t
option_end(const char *s, size_t n, size_t i, size_t *open_quote)
{
	bool inq = false;
	size_t q = SIZE_MAX;

	for (; i < n; i++) {
		char c = s[i];

		if (c == '\\') {
			i++;
			continue;
		}
		if (c == '"') {
			inq = !inq;
			q = i;
			continue;
		}
		if (!inq && c == ';')
			break;
	}
	*open_quote = inq ? q : SIZE_MAX;
	return i < n ? i : n;
}

static int
parse_options(struct rp *rp, size_t *pos)
{
	const char *s = rp->L->s;
	size_t n = rp->L->n, i = *pos;

	for (;;) {
		struct opt o = {0};
		size_t end, quote, k, p;
		const struct keyword *kw;
		int ret;

		while (i < n && is_space(s[i]))
			i++;
		if (i == n)
			return rp_err(rp, n, "the rule does not end with ')'");
		if (s[i] == ')') {
			*pos = i + 1;
			return 0;
		}
		end = option_end(s, n, i, &quote);
		if (quote != SIZE_MAX)
			return rp_err(rp, quote,
				      "unterminated string: the closing quote is missing");
		if (end == n) {
			size_t tail = n;

			while (tail > i && is_space(s[tail - 1]))
				tail--;
			if (tail > i && s[tail - 1] == ')')
				return rp_err(rp, tail - 1, "missing ';' after the last option");
			return rp_err(rp, n, "the rule does not end with ')'");
		}
		if (s[i] == ';')
			return rp_err(rp, i, "empty option (a stray ';'?)");
		k = i;
		while (k < end && is_kwchar(s[k]))
			k++;
		if (k == i)
			return rp_err(rp, i, "expected an option keyword");
		o.kw_at = i;
		o.kw_len = k - i;
		p = k;
		while (p < end && is_space(s[p]))
			p++;
		if (p < end && s[p] != ':')
			return rp_err(rp, p, "expected ':' or ';' after \"%.*s\"", show_len(k - i),
				      s + i);
		o.has_value = p < end;
		o.v = o.has_value ? p + 1 : end;
		o.v_len = 0;
		if (o.has_value) {
			size_t va = p + 1, vb = end;

			trim(s, &va, &vb);
			o.v = va;
			o.v_len = vb - va;
		}
		o.start = i;
		o.end = end;
		trim(s, &o.start, &o.end);
		o.kw = find_keyword(rp, i, k - i);
		if (o.kw < 0)
			return o.kw;
		kw = &keywords[o.kw];
		if (kw->value && o.v_len == 0)
			return rp_err(rp, o.has_value ? o.v : i, "\"%s\" needs a value", kw->name);
		if (!kw->value && o.has_value)
			return rp_err(rp, p, "\"%s\" takes no value", kw->name);
		if (!kw->many && rp->seen[o.kw] != SIZE_MAX) {
			struct where first = lpos(rp->L, rp->seen[o.kw]);

			ret = rp_err(rp, i, "\"%s\" is given twice", kw->name);
			if (ret == -EINVAL && diag_at(rp->P, RULE_DIAG_NOTE, &first,
						      "\"%s\" first given here", kw->name) < 0)
				return -ENOMEM;
			return ret;
		}
		if (rp->seen[o.kw] == SIZE_MAX)
			rp->seen[o.kw] = i;
		ret = kw->fn(rp, &o);
		if (ret < 0)
			return ret;
		i = end + 1;
	}
}

/* ======================================================================== */
/* End of rule: the checks that need all of it, and the commit              */
/* ======================================================================== */

/* Offsets and nocase into each content's Hyperscan form (rule_private.h). */
static void
finish_patterns(struct rp *rp)
{
	for (unsigned i = 0; i < rp->n_pat; i++) {
		struct rule_pattern *p = &rp->pat[i];
		const struct cmods *m = &rp->cm[i];

		if (!m->is_content)
			continue;
		if (m->nocase)
			p->flags |= HS_FLAG_CASELESS;
		if (m->has_offset)
			p->min_offset = (unsigned long long)m->offset + m->len;
		if (m->has_depth)
			p->max_offset = (unsigned long long)m->offset + m->depth;
	}
}

static size_t
sid_slot(const struct parser *P, uint32_t sid)
{
	size_t h = (size_t)(sid * 0x9E3779B1u) & (P->sid_cap - 1);

	while (P->sid_key[h] != 0 && P->sid_key[h] != sid)
		h = (h + 1) & (P->sid_cap - 1);
	return h;
}

static int
sid_grow(struct parser *P)
{
	size_t cap = P->sid_cap ? P->sid_cap * 2 : 256;
	uint32_t *keys = calloc(cap, sizeof(*keys));
	unsigned *vals = calloc(cap, sizeof(*vals));
	uint32_t *okeys = P->sid_key;
	unsigned *ovals = P->sid_val;
	size_t ocap = P->sid_cap;

	if (keys == NULL || vals == NULL) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	P->sid_key = keys;
	P->sid_val = vals;
	P->sid_cap = cap;
	for (size_t i = 0; i < ocap; i++) {
		if (okeys[i] != 0) {
			size_t h = sid_slot(P, okeys[i]);

			keys[h] = okeys[i];
			vals[h] = ovals[i];
		}
	}
	free(okeys);
	free(ovals);
	return 0;
}

static int
check_rule(struct rp *rp)
{
	struct parser *P = rp->P;
	struct rule *r = &rp->r.pub;
	int ret;

	if (r->sid == 0)
		return rp_err(rp, rp->action_at, "the rule has no sid");
	if (r->action == RULE_ACTION_ALERT && r->priority == RULE_PRIO_NONE)
		return rp_err(rp, rp->action_at,
			      "alert rule needs a priority: high, medium or low");
	if (r->escalate.after_ms > 0 && r->escalate.priority <= r->priority)
		return rp_err(rp, rp->esc_prio_at,
			      "escalate must raise the priority: %s is not above the rule's %s",
			      rule_priority_name(r->escalate.priority),
			      rule_priority_name(r->priority));
	if (P->sid_cap > 0) {
		size_t h = sid_slot(P, r->sid);

		if (P->sid_key[h] == r->sid) {
			ret = rp_err(rp, rp->sid_at, "duplicate sid %u", r->sid);
			if (ret == -EINVAL &&
			    diag_at(P, RULE_DIAG_NOTE, &P->sid_at[P->sid_val[h] - 1],
				    "sid %u first used here", r->sid) < 0)
				return -ENOMEM;
			return ret;
		}
	}
	return 0;
}

/* The warnings: each leaves a loadable rule, perhaps disabled. */
static int
warn_rule(struct rp *rp)
{
	struct rule *r = &rp->r.pub;
	int ret = 0;

	if (r->n_metrics == 0 && rp->seen[KW_VALUE] != SIZE_MAX) {
		ret = rp_warn(rp, rp->seen[KW_VALUE], "rule can never fire: value without metric");
		r->disabled = true;
	}
	if (ret == 0 && r->n_metrics == 0 && rp->seen[KW_LOCATION] != SIZE_MAX) {
		ret = rp_warn(rp, rp->seen[KW_LOCATION],
			      "rule can never fire: location without metric");
		r->disabled = true;
	}
	/* A refused datagram is never decoded: no observation, never malformed. */
	if (ret == 0 && r->acl == RULE_ACL_DENIED && r->n_metrics > 0) {
		ret = rp_warn(
			rp, rp->seen[KW_METRIC],
			"rule can never fire: a datagram refused by telemetry.allow (acl:denied) "
			"is not decoded, so it has no observations");
		r->disabled = true;
	}
	if (ret == 0 && r->acl == RULE_ACL_DENIED && r->malformed) {
		ret = rp_warn(
			rp, rp->seen[KW_MALFORMED],
			"rule can never fire: a datagram refused by telemetry.allow (acl:denied) "
			"is not decoded, so it is never malformed");
		r->disabled = true;
	}
	if (ret == 0 && r->action == RULE_ACTION_PASS && r->priority != RULE_PRIO_NONE) {
		ret = rp_warn(rp, rp->seen[KW_PRIORITY], "a pass rule's priority is ignored");
		r->priority = RULE_PRIO_NONE;
	}
	if (ret == 0 && r->action != RULE_ACTION_ALERT && rp->seen[KW_DELAY] != SIZE_MAX) {
		ret = rp_warn(rp, rp->seen[KW_DELAY], "delay is ignored on a %s rule",
			      rule_action_name(r->action));
		r->delay_ms = 0;
	}
	return ret;
}

static void
rp_free(struct rp *rp)
{
	rule_header_free(&rp->r.hdr);
	for (unsigned i = 0; i < rp->n_pat; i++) {
		free(rp->pat[i].expr);
		free(rp->pat[i].shown);
	}
	rp->n_pat = 0;
	free(rp->msg);
	free(rp->metadata);
	free(rp->classtype);
	free(rp->text);
	free(rp->glob);
	rp->msg = rp->metadata = rp->classtype = rp->text = rp->glob = NULL;
}

/* Move a checked rule into the set: room for everything first, then no failure. */
static int
commit_rule(struct rp *rp)
{
	struct parser *P = rp->P;
	struct rule_set *set = P->set;
	struct rule_int *ri;
	char **strs[] = {&rp->msg, &rp->metadata, &rp->classtype, &rp->text, &rp->glob};
	const char **fields[] = {&rp->r.pub.msg, &rp->r.pub.metadata, &rp->r.pub.classtype,
				 &rp->r.pub.text, &rp->r.pub.loc_glob};
	size_t h;

	if (set->n_rules == P->cap_rules) {
		unsigned cap = P->cap_rules ? P->cap_rules * 2 : 64;
		struct rule_int *nr = realloc(set->rules, cap * sizeof(*nr));
		struct where *nw;

		if (nr == NULL)
			return -ENOMEM;
		set->rules = nr;
		nw = realloc(P->sid_at, cap * sizeof(*nw));
		if (nw == NULL)
			return -ENOMEM;
		P->sid_at = nw;
		P->cap_rules = cap;
	}
	while (set->n_patterns + rp->n_pat > P->cap_patterns) {
		unsigned cap = P->cap_patterns ? P->cap_patterns * 2 : 64;
		struct rule_pattern *np = realloc(set->patterns, cap * sizeof(*np));

		if (np == NULL)
			return -ENOMEM;
		set->patterns = np;
		P->cap_patterns = cap;
	}
	while (set->n_strings + 5 > P->cap_strings) {
		unsigned cap = P->cap_strings ? P->cap_strings * 2 : 64;
		char **ns = realloc(set->strings, cap * sizeof(*ns));

		if (ns == NULL)
			return -ENOMEM;
		set->strings = ns;
		P->cap_strings = cap;
	}
	if ((P->sid_n + 1) * 2 > P->sid_cap && sid_grow(P) < 0)
		return -ENOMEM;

	for (unsigned i = 0; i < 5; i++) {
		*fields[i] = *strs[i];
		if (*strs[i] != NULL)
			set->strings[set->n_strings++] = *strs[i];
		*strs[i] = NULL;
	}
	rp->r.first_pattern = set->n_patterns;
	rp->r.pub.n_patterns = rp->n_pat;
	rp->r.pub.index = set->n_rules;
	for (unsigned i = 0; i < rp->n_pat; i++) {
		rp->pat[i].rule = set->n_rules;
		set->patterns[set->n_patterns++] = rp->pat[i];
	}
	rp->n_pat = 0;
	ri = &set->rules[set->n_rules];
	*ri = rp->r;
	memset(&rp->r.hdr, 0, sizeof(rp->r.hdr));
	P->sid_at[set->n_rules] = lpos(rp->L, rp->sid_at);
	h = sid_slot(P, ri->pub.sid);
	P->sid_key[h] = ri->pub.sid;
	P->sid_val[h] = set->n_rules + 1;
	P->sid_n++;
	set->n_rules++;
	return 0;
}

static int
do_rule(struct parser *P, struct lline *L, size_t start, size_t word_end, unsigned action)
{
	struct rp *rp;
	size_t i = word_end, tail;
	int ret;

	/* Big (16 patterns): on the heap, not on a stack that recursion also uses. */
	rp = calloc(1, sizeof(*rp));
	if (rp == NULL)
		return P->fatal = -ENOMEM;
	rp->P = P;
	rp->L = L;
	rp->last_content = -1;
	rp->action_at = start;
	for (unsigned k = 0; k < sizeof(rp->seen) / sizeof(rp->seen[0]); k++)
		rp->seen[k] = SIZE_MAX;
	rp->r.pub.action = (uint8_t)action;
	rp->r.pub.rev = 1;
	rp->r.pub.file = L->f->name;
	rp->r.pub.line = lpos(L, start).line;
	rp->r.col = lpos(L, start).col;

	ret = parse_header(rp, &i);
	if (ret < 0)
		goto out;
	while (i < L->n && is_space(L->s[i]))
		i++;
	if (i == L->n || L->s[i] != '(') {
		ret = rp_err(rp, i, "expected '(' to start the options");
		goto out;
	}
	i++;
	ret = parse_options(rp, &i);
	if (ret < 0)
		goto out;
	while (i < L->n && is_space(L->s[i]))
		i++;
	if (i < L->n) {
		ret = rp_err(rp, i, "unexpected text after the closing ')'");
		goto out;
	}
	finish_patterns(rp);
	ret = check_rule(rp);
	if (ret < 0)
		goto out;
	ret = warn_rule(rp);
	if (ret < 0)
		goto out;
	if (!rp->has_kind)
		rp->r.pub.kind =
			rp->r.pub.n_metrics > 0 ? RULE_KIND_PHYSIOLOGICAL : RULE_KIND_TECHNICAL;
	if (rp->msg == NULL && (rp->msg = strdup("")) == NULL) {
		ret = P->fatal = -ENOMEM;
		goto out;
	}
	tail = L->n;
	while (tail > start && is_space(L->s[tail - 1]))
		tail--;
	rp->text = dup_span(L->s + start, tail - start);
	if (rp->text == NULL) {
		ret = P->fatal = -ENOMEM;
		goto out;
	}
	ret = commit_rule(rp);
	if (ret < 0)
		P->fatal = ret;
out:
	rp_free(rp);
	free(rp);
	return ret;
}

/* ======================================================================== */
/* A logical line: var, include or a rule                                   */
/* ======================================================================== */

static int
handle_line(struct parser *P, struct lline *L)
{
	const char *s = L->s, *nul = memchr(L->s, '\0', L->n);
	size_t i = 0, w;
	struct nearest nr;

	if (nul != NULL)
		return line_diag(P, L, (size_t)(nul - s), "NUL byte in a rule file");
	while (i < L->n && is_space(s[i]))
		i++;
	w = i;
	while (w < L->n && !is_space(s[w]) && s[w] != '(')
		w++;
	if (span_is(s + i, w - i, "var"))
		return do_var(P, L, w);
	if (span_is(s + i, w - i, "include"))
		return do_include(P, L, w);
	for (unsigned k = 0; action_words[k] != NULL; k++)
		if (span_is(s + i, w - i, action_words[k]))
			return do_rule(P, L, i, w, k);
	if (span_is(s + i, w - i, "drop") || span_is(s + i, w - i, "reject") ||
	    span_is(s + i, w - i, "rejectsrc") || span_is(s + i, w - i, "rejectdst") ||
	    span_is(s + i, w - i, "rejectboth"))
		return line_diag(P, L, i,
				 "action \"%.*s\" is Suricata's and is not supported: use alert, "
				 "log or pass",
				 show_len(w - i), s + i);
	near_init(&nr, s + i, w - i);
	near_list(&nr, action_words);
	near_try(&nr, "var");
	near_try(&nr, "include");
	if (nr.best != NULL)
		return line_diag(
			P, L, i,
			"unknown action \"%.*s\": a line is a rule (alert, log, pass), var "
			"or include; did you mean \"%s\"?",
			show_len(w - i), s + i, nr.best);
	return line_diag(P, L, i,
			 "unknown action \"%.*s\": a line is a rule (alert, log, pass), var or "
			 "include",
			 show_len(w - i), s + i);
}

/* ======================================================================== */
/* rule_parse                                                               */
/* ======================================================================== */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
count_rules(struct rule_set *set)
{
	struct rule_set_info *info = &set->info;

	info->n_rules = set->n_rules;
	info->n_disabled = 0;
	info->n_metric_rules = 0;
	memset(info->by_action, 0, sizeof(info->by_action));
	memset(info->by_priority, 0, sizeof(info->by_priority));
	for (unsigned i = 0; i < set->n_rules; i++) {
		const struct rule *r = &set->rules[i].pub;

		info->n_disabled += r->disabled;
		info->n_metric_rules += r->n_metrics > 0;
		if (r->action < RULE_ACTION__COUNT)
			info->by_action[r->action]++;
		if (r->priority < RULE_PRIO__COUNT)
			info->by_priority[r->priority]++;
	}
}

int
rule_parse(const struct rule_load_opts *opts, struct rule_set *set, struct rule_diags *diags)
{
	struct parser P = {
		.opts = opts,
		.set = set,
		.diags = diags,
		.max_errors = opts->max_errors ? opts->max_errors : RULE_MAX_ERRORS_DEFAULT,
	};
	uint64_t t0 = now_ns();
	unsigned errors_before = diags->n_errors;
	int ret = 0;

	for (unsigned i = 0; i < opts->n_vars && opts->vars != NULL; i++) {
		const struct rule_var *v = &opts->vars[i];

		if (v->name == NULL || v->value == NULL ||
		    var_find(&P, v->name, strlen(v->name), false))
			continue;
		if (var_add(&P, v->name, strlen(v->name), v->value, strlen(v->value), true, NULL) <
		    0) {
			P.fatal = -ENOMEM;
			goto out;
		}
	}
	for (unsigned i = 0; i < opts->n_files && opts->files != NULL && !P.fatal; i++)
		if (opts->files[i] != NULL)
			read_path(&P, opts->files[i], NULL, 0);
	for (unsigned i = 0; i < opts->n_sources && opts->sources != NULL && !P.fatal; i++) {
		const struct rule_source *src = &opts->sources[i];
		struct pfile f = {.text = src->text, .len = src->text ? src->len : 0};
		char *name = strdup(src->name ? src->name : "<source>");

		if (name == NULL || keep_string(&P, name) < 0) {
			free(name);
			P.fatal = -ENOMEM;
			break;
		}
		f.name = name;
		read_text(&P, &f);
	}
out:
	for (unsigned i = 0; i < P.n_vars; i++) {
		free(P.vars[i].name);
		free(P.vars[i].value);
		xset_free(&P.vars[i].set[0]);
		xset_free(&P.vars[i].set[1]);
	}
	free(P.vars);
	for (unsigned i = 0; i < P.n_bufs; i++)
		free(P.bufs[i]);
	free(P.bufs);
	free(P.sid_key);
	free(P.sid_val);
	free(P.sid_at);
	count_rules(set);
	set->info.parse_ns = now_ns() - t0;
	if (P.fatal)
		ret = -ENOMEM;
	else if (P.file_err)
		ret = P.file_err;
	else if (diags->n_errors > errors_before)
		ret = -EINVAL;
	return ret;
}
