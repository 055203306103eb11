/*
 * acl.c - the sender ACL: which networks may send telemetry (telemetry.allow).
 *
 * The control plane parses the configured networks (dp_acl_net_parse) and
 * builds an immutable ACL from them (dp_acl_new); the data plane publishes
 * it behind an RCU pointer (dp_acl_publish) and every worker looks each
 * telemetry datagram's source address up in it (dp_acl_allows) before it
 * decodes anything.
 *
 * An ACL is one allocation: the header, then the IPv6 ranges, then the
 * IPv4 ranges. Each family's networks become [first, last] address ranges
 * (IPv4 as host-order uint32, IPv6 as two host-order uint64 halves), sorted
 * and merged so that overlapping, duplicate and adjacent networks make one
 * range and the ranges are disjoint. A lookup is then one binary search for
 * the last range starting at or below the address: no allocation, no lock,
 * O(log n) and bounded by DP_ACL_MAX.
 *
 * The two families are independent: an ACL that lists only IPv4 networks
 * refuses every IPv6 sender, and the other way round. Only an ACL built
 * from no network at all allows every sender.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane.h"

#define IPV4_SRC_OFF 12 /* source address in the IPv4 header */
#define IPV6_SRC_OFF 8	/* source address in the IPv6 header */
#define NET_TEXT_MAX 64 /* longer than any address with a prefix */

struct acl_v4 {
	uint32_t first, last; /* host order */
};

struct u128 {
	uint64_t hi, lo; /* host order */
};

struct acl_v6 {
	struct u128 first, last;
};

struct dp_acl {
	bool all;      /* built from no network: every sender is allowed */
	unsigned n_v4; /* merged ranges */
	unsigned n_v6;
	struct acl_v4 *v4; /* points past v6[], into the same allocation */
	struct acl_v6 v6[];
};

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */
/* ------------------------------------------------------------------------ */

/* A prefix length: decimal digits, no sign, no leading zero, at most @p max. */
static bool
parse_prefix(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 3)
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* The mask byte @p i of a @p prefix-bit network (0xff, 0, or in between). */
static uint8_t
mask_byte(unsigned prefix, unsigned i)
{
	unsigned keep = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? prefix - i * 8 : 0;

	return (uint8_t)(0xff00u >> keep);
}

int
dp_acl_net_parse(const char *text, struct dp_acl_net *out)
{
	char buf[NET_TEXT_MAX];
	struct dp_acl_net net;
	unsigned bits, prefix, i;
	bool host_bits = false;
	char *slash;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (text == NULL)
		return -EINVAL;
	len = strlen(text);
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, text, len + 1);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';

	memset(&net, 0, sizeof(net));
	if (strchr(buf, ':') != NULL) {
		if (inet_pton(AF_INET6, buf, net.addr) != 1)
			return -EINVAL;
		net.ip_version = 6;
		bits = 128;
	} else {
		if (inet_pton(AF_INET, buf, net.addr) != 1)
			return -EINVAL;
		net.ip_version = 4;
		bits = 32;
	}
	prefix = bits;
	if (slash != NULL && !parse_prefix(slash + 1, bits, &prefix))
		return -EINVAL;
	net.prefix = (uint8_t)prefix;
	for (i = 0; i < bits / 8; i++) {
		uint8_t m = mask_byte(prefix, i);

		if ((net.addr[i] & (uint8_t)~m) != 0)
			host_bits = true;
		net.addr[i] &= m;
	}
	/* The network with the host bits cleared is the "did you mean". */
	*out = net;
	return host_bits ? -EINVAL : 0;
}

/* ------------------------------------------------------------------------ */
/* Building                                                                  */
/* ------------------------------------------------------------------------ */

static uint64_t
load_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t
load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int
u128_cmp(const struct u128 *a, const struct u128 *b)
{
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return 0;
}

static int
v4_cmp(const void *a, const void *b)
{
	const struct acl_v4 *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

static int
v6_cmp(const void *a, const void *b)
{
	const struct acl_v6 *x = a, *y = b;

	return u128_cmp(&x->first, &y->first);
}

/* Is a network's text well formed: family, prefix in range, no host bits? */
static bool
net_ok(const struct dp_acl_net *net)
{
	unsigned bits;

	if (net->ip_version == 4)
		bits = 32;
	else if (net->ip_version == 6)
		bits = 128;
	else
		return false;
	if (net->prefix > bits)
		return false;
	for (unsigned i = 0; i < bits / 8; i++)
		if ((net->addr[i] & (uint8_t)~mask_byte(net->prefix, i)) != 0)
			return false;
	return true;
}

static struct acl_v4
range_v4(const struct dp_acl_net *net)
{
	uint32_t first = load_be32(net->addr);
	uint32_t host = net->prefix >= 32 ? 0 : UINT32_MAX >> net->prefix; /* >> 32 is undefined */

	return (struct acl_v4){first, first | host};
}

static struct acl_v6
range_v6(const struct dp_acl_net *net)
{
	struct acl_v6 r;
	unsigned p = net->prefix;

	r.first.hi = load_be64(net->addr);
	r.first.lo = load_be64(net->addr + 8);
	r.last = r.first;
	/* Host bits of each half: all of it, some of it, or none. */
	if (p == 0)
		r.last.hi = UINT64_MAX;
	else if (p < 64)
		r.last.hi |= UINT64_MAX >> p;
	if (p <= 64)
		r.last.lo = UINT64_MAX;
	else if (p < 128)
		r.last.lo |= UINT64_MAX >> (p - 64);
	return r;
}

/* Sort and merge in place; @return the ranges left. Adjacent ranges merge too. */
static unsigned
merge_v4(struct acl_v4 *r, unsigned n)
{
	unsigned out = 0;

	if (n == 0)
		return 0;
	qsort(r, n, sizeof(*r), v4_cmp);
	for (unsigned i = 1; i < n; i++) {
		struct acl_v4 *cur = &r[out];

		if (cur->last == UINT32_MAX || r[i].first <= cur->last + 1) {
			if (r[i].last > cur->last)
				cur->last = r[i].last;
		} else {
			r[++out] = r[i];
		}
	}
	return out + 1;
}

static bool
u128_is_max(const struct u128 *a)
{
	return a->hi == UINT64_MAX && a->lo == UINT64_MAX;
}

static struct u128
u128_next(const struct u128 *a)
{
	struct u128 n = *a;

	if (++n.lo == 0)
		n.hi++;
	return n;
}

static unsigned
merge_v6(struct acl_v6 *r, unsigned n)
{
	unsigned out = 0;

	if (n == 0)
		return 0;
	qsort(r, n, sizeof(*r), v6_cmp);
	for (unsigned i = 1; i < n; i++) {
		struct acl_v6 *cur = &r[out];
		struct u128 next;

		if (u128_is_max(&cur->last))
			continue; /* it already reaches the last address */
		next = u128_next(&cur->last);
		if (u128_cmp(&r[i].first, &next) <= 0) {
			if (u128_cmp(&r[i].last, &cur->last) > 0)
				cur->last = r[i].last;
		} else {
			r[++out] = r[i];
		}
	}
	return out + 1;
}

int
dp_acl_new(const struct dp_acl_net *nets, unsigned n, struct dp_acl **out)
{
	unsigned n4 = 0, n6 = 0, i;
	struct dp_acl *acl;
	size_t size;

	*out = NULL;
	if (n > DP_ACL_MAX || (n > 0 && nets == NULL))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!net_ok(&nets[i]))
			return -EINVAL;
		if (nets[i].ip_version == 4)
			n4++;
		else
			n6++;
	}
	/* Room for every network unmerged: at most DP_ACL_MAX x 32 bytes. */
	size = sizeof(*acl) + (size_t)n6 * sizeof(struct acl_v6) +
	       (size_t)n4 * sizeof(struct acl_v4);
	acl = calloc(1, size);
	if (acl == NULL)
		return -ENOMEM;
	acl->all = n == 0;
	acl->v4 = (struct acl_v4 *)(void *)&acl->v6[n6];
	for (i = 0; i < n; i++) {
		if (nets[i].ip_version == 4)
			acl->v4[acl->n_v4++] = range_v4(&nets[i]);
		else
			acl->v6[acl->n_v6++] = range_v6(&nets[i]);
	}
	acl->n_v4 = merge_v4(acl->v4, acl->n_v4);
	acl->n_v6 = merge_v6(acl->v6, acl->n_v6);
	/* 0.0.0.0/0 and ::/0 together allow everyone as well. */
	if (acl->n_v4 == 1 && acl->n_v6 == 1 && acl->v4[0].first == 0 &&
	    acl->v4[0].last == UINT32_MAX && acl->v6[0].first.hi == 0 && acl->v6[0].first.lo == 0 &&
	    u128_is_max(&acl->v6[0].last))
		acl->all = true;
	*out = acl;
	return 0;
}

void
dp_acl_free(struct dp_acl *acl)
{
	free(acl);
}

unsigned
dp_acl_count(const struct dp_acl *acl)
{
	return acl == NULL ? 0 : acl->n_v4 + acl->n_v6;
}

bool
dp_acl_allows_all(const struct dp_acl *acl)
{
	return acl == NULL || acl->all;
}

/* ------------------------------------------------------------------------ */
/* The lookup (fast path)                                                    */
/* ------------------------------------------------------------------------ */

static bool
find_v4(const struct acl_v4 *r, unsigned n, uint32_t a)
{
	unsigned lo = 0, hi = n;

	/* The first range starting above @p a is r[lo]; the one before may hold it. */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (r[mid].first <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && a <= r[lo - 1].last;
}

static bool
find_v6(const struct acl_v6 *r, unsigned n, const struct u128 *a)
{
	unsigned lo = 0, hi = n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (u128_cmp(&r[mid].first, a) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && u128_cmp(a, &r[lo - 1].last) <= 0;
}

bool
dp_acl_allows(const struct dp_acl *acl, const uint8_t *frame, const struct dp_pkt *pkt)
{
	const uint8_t *ip;

	if (acl == NULL || acl->all)
		return true;
	ip = frame + pkt->l3_off;
	if (pkt->ip_version == 4)
		return find_v4(acl->v4, acl->n_v4, load_be32(ip + IPV4_SRC_OFF));
	if (pkt->ip_version == 6) {
		struct u128 a = {load_be64(ip + IPV6_SRC_OFF), load_be64(ip + IPV6_SRC_OFF + 8)};

		return find_v6(acl->v6, acl->n_v6, &a);
	}
	return false; /* not IP: not a telemetry sender */
}
