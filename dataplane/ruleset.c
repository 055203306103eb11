/*
 * ruleset.c - the ruleset bundle the workers read behind an RCU pointer.
 *
 * A bundle is a loaded rule_set plus what each worker needs to evaluate it
 * without sharing anything writable: its own Hyperscan scratch and its own
 * row of per-rule hit counters. The control plane makes it aside (this
 * allocates: Hyperscan clones each scratch with malloc), publishes it with
 * dp_ruleset_publish (port.c) and frees the one it replaced after a grace
 * period. Nothing here runs on the fast path but dp_ruleset_hits' reads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane.h"

static int
make(const struct rule_set *set, bool own, unsigned n_workers, uint64_t version,
     struct dp_ruleset **out)
{
	const struct rule_set_info *info;
	struct dp_ruleset *rs;
	struct timespec ts;
	size_t row_bytes;
	int rc;

	*out = NULL;
	if (set == NULL || n_workers == 0 || n_workers > DP_MAX_WORKERS)
		return -EINVAL;
	rs = calloc(1, sizeof(*rs) + n_workers * sizeof(rs->scratch[0]));
	if (rs == NULL)
		return -ENOMEM;
	info = rule_set_info(set);
	rs->set = (struct rule_set *)set;
	rs->version = version;
	rs->n_rules = info->n_rules;
	rs->compile_ms = (double)info->total_ns / 1e6;
	rs->n_workers = n_workers;
	/* Whole cache lines per row, so no two workers write the same line. */
	rs->hit_stride = (info->n_rules + 7u) & ~7u;
	if (rs->hit_stride == 0)
		rs->hit_stride = 8;
	row_bytes = rs->hit_stride * sizeof(uint64_t);
	rs->hits = aligned_alloc(64, row_bytes * n_workers);
	if (rs->hits == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	memset((void *)rs->hits, 0, row_bytes * n_workers);
	for (unsigned w = 0; w < n_workers; w++) {
		rc = rule_scratch_new(set, &rs->scratch[w]);
		if (rc != 0)
			goto fail;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	rs->loaded_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	rs->own_set = own;
	*out = rs;
	return 0;
fail:
	rs->set = NULL; /* the caller still owns it */
	dp_ruleset_free(rs);
	return rc;
}

int
dp_ruleset_new(struct rule_set *set, unsigned n_workers, uint64_t version, struct dp_ruleset **out)
{
	return make(set, true, n_workers, version, out);
}

int
dp_ruleset_wrap(const struct rule_set *set, unsigned n_workers, uint64_t version,
		struct dp_ruleset **out)
{
	return make(set, false, n_workers, version, out);
}

void
dp_ruleset_free(struct dp_ruleset *rs)
{
	if (rs == NULL)
		return;
	for (unsigned w = 0; w < rs->n_workers; w++)
		rule_scratch_free(rs->scratch[w]);
	free((void *)rs->hits);
	if (rs->own_set)
		rule_set_free(rs->set);
	free(rs);
}

uint64_t
dp_ruleset_hits(const struct dp_ruleset *rs, unsigned index)
{
	uint64_t n = 0;

	if (rs == NULL || index >= rs->n_rules)
		return 0;
	for (unsigned w = 0; w < rs->n_workers; w++)
		n += dp_read(&rs->hits[(size_t)w * rs->hit_stride + index]);
	return n;
}
