/*
 * retention.c - dropping what is older than its column family's limit: a
 * compaction filter on the record time in each value's clear header, and
 * store_expire, which compacts every column family with a limit so that
 * the filter runs now rather than whenever RocksDB next compacts.
 *
 * The filter judges a value by its header only: it never opens (unseals)
 * a value, and it keeps every value whose header it cannot read - retention
 * never deletes what it does not understand; queries skip and count those.
 * The limit is taken against the store's clock (opts.clock, so tests can
 * inject one), read at each decision: a filter object lives as long as the
 * store and RocksDB does not tell it when a compaction starts.
 *
 * Threads. The filter runs on RocksDB's compaction threads, several at
 * once, and on the thread that called store_expire. The writer's counters
 * are single-writer (store_count); `expired` is not: only the filter writes
 * it, always with atomic_fetch_add, so concurrent compactions never lose a
 * count (as the counters bumped by readers, in value.c and query.c). The
 * clock function must therefore be callable from any thread (CLOCK_REALTIME
 * is; a test's clock reads an atomic). The filter does not count values
 * with a bad header: a compaction may meet the same value many times, and
 * bad_values belongs to the writer and query threads.
 *
 * When values go. RocksDB runs the filter only where it compacts: a busy
 * column family sheds expired values as its files move down the levels,
 * but its bottom level, and a quiet column family (alarms), may not be
 * compacted for a long time - and the C API of RocksDB 7.8 has no periodic
 * compaction option. So the appliance calls store_expire now and then (it
 * rewrites every column family with a limit: a cost proportional to what
 * is stored), and a query may still see a value past its limit until then.
 *
 * The meta column family never expires whatever the options say: it holds
 * the schema version and key ids, whose record time is when they were last
 * written, not how long they matter.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "store_private.h"

struct retention {
	struct store *s;
	enum store_cf cf;
	int64_t retain_ns;
};

static const char *const filter_names[STORE_CF__COUNT] = {
	[STORE_CF_OBS] = "vigil.retention.obs",
	[STORE_CF_ALARMS] = "vigil.retention.alarms",
	[STORE_CF_AUDIT] = "vigil.retention.audit",
	[STORE_CF_META] = "vigil.retention.meta",
};

static const char *
retention_name(void *arg)
{
	const struct retention *r = arg;

	return filter_names[r->cf];
}

static void
retention_destroy(void *arg)
{
	free(arg);
}

/* 1: drop the value. Its header time is older than now - limit. */
static unsigned char
retention_filter(void *arg, int level, const char *key, size_t klen, const char *val, size_t vlen,
		 char **new_val, size_t *new_len, unsigned char *changed)
{
	const struct retention *r = arg;
	int64_t t, now;

	(void)level;
	(void)key;
	(void)klen;
	(void)new_val;
	(void)new_len;
	*changed = 0;
	if (!store_value_time((const uint8_t *)val, vlen, &t))
		return 0;
	now = store_now(r->s);
	/* now - t > limit, without overflowing for times far in the past. */
	if (t >= now || (uint64_t)now - (uint64_t)t <= (uint64_t)r->retain_ns)
		return 0;
	atomic_fetch_add_explicit(&r->s->cnt[STORE_CNT_expired], 1, memory_order_relaxed);
	return 1;
}

rocksdb_compactionfilter_t *
store_retention_filter(struct store *s, enum store_cf cf)
{
	rocksdb_compactionfilter_t *f;
	struct retention *r;
	int64_t retain_s;

	if (!s || cf < 0 || cf >= STORE_CF__COUNT || cf == STORE_CF_META)
		return NULL;
	retain_s = s->o.retain_s[cf];
	if (retain_s <= 0)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->s = s;
	r->cf = cf;
	/* Saturate: a limit beyond ~292 years keeps everything a clock can date. */
	r->retain_ns = retain_s > INT64_MAX / 1000000000 ? INT64_MAX : retain_s * 1000000000;
	f = rocksdb_compactionfilter_create(r, retention_destroy, retention_filter, retention_name);
	if (!f)
		free(r);
	return f;
}

int
store_expire(struct store *s)
{
	rocksdb_compactoptions_t *co;
	uint64_t errors_before = 0, errors_after = 0;

	if (!s || !s->db)
		return -EINVAL;
	if (s->o.mode != STORE_READ_WRITE)
		return -EROFS;
	/*
	 * RocksDB's C API drops CompactRange's status; a compaction that
	 * failed is still counted in its background-error count, so compare it.
	 */
	if (rocksdb_property_int(s->db, "rocksdb.background-errors", &errors_before) != 0)
		return -EIO;
	co = rocksdb_compactoptions_create();
	if (!co)
		return -ENOMEM;
	/*
	 * Rewrite the bottommost level as well (kForce = 2), so every value
	 * passes the filter. A full-range compaction first flushes the
	 * memtable, so what was just written is judged too.
	 */
	rocksdb_compactoptions_set_bottommost_level_compaction(co, 2);
	for (int cf = 0; cf < STORE_CF__COUNT; cf++) {
		if (!s->filter[cf])
			continue;
		rocksdb_compact_range_cf_opt(s->db, s->cf[cf], co, NULL, 0, NULL, 0);
	}
	rocksdb_compactoptions_destroy(co);
	if (rocksdb_property_int(s->db, "rocksdb.background-errors", &errors_after) != 0 ||
	    errors_after != errors_before)
		return -EIO;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The retention thread                                                      */
/* ------------------------------------------------------------------------ */

/*
 * RocksDB compacts where data arrives; a column family that is seldom
 * written (alarms), or a bottom level that is seldom rewritten, could keep
 * expired values for ever. This thread runs store_expire every
 * expire_every_s seconds. It counts in the store's counters with atomic
 * adds (the writer thread counts there too).
 */
struct store_expirer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	struct store *s;
};

static void *
expirer_main(void *arg)
{
	struct store_expirer *e = arg;
	struct timespec until;
	int rc;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += (time_t)e->s->o.expire_every_s;
		while (!e->stop && pthread_cond_timedwait(&e->wake, &e->lock, &until) != ETIMEDOUT)
			;
		if (e->stop)
			break;
		pthread_mutex_unlock(&e->lock);
		rc = store_expire(e->s);
		atomic_fetch_add_explicit(&e->s->cnt[STORE_CNT_expire_runs], 1,
					  memory_order_relaxed);
		if (rc < 0)
			atomic_fetch_add_explicit(&e->s->cnt[STORE_CNT_expire_failed], 1,
						  memory_order_relaxed);
		pthread_mutex_lock(&e->lock);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

int
store_expirer_start(struct store *s)
{
	struct store_expirer *e;
	pthread_condattr_t ca;
	bool any = false;
	int rc;

	for (int cf = 0; cf < STORE_CF__COUNT; cf++)
		any = any || s->filter[cf] != NULL;
	if (s->o.expire_every_s == 0 || !any || s->o.mode != STORE_READ_WRITE)
		return 0;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->s = s;
	pthread_mutex_init(&e->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->wake, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&e->thread, NULL, expirer_main, e);
	if (rc != 0) {
		pthread_cond_destroy(&e->wake);
		pthread_mutex_destroy(&e->lock);
		free(e);
		return -rc;
	}
	s->expirer = e;
	return 0;
}

void
store_expirer_stop(struct store *s)
{
	struct store_expirer *e = s->expirer;

	if (e == NULL)
		return;
	pthread_mutex_lock(&e->lock);
	e->stop = true;
	pthread_cond_signal(&e->wake);
	pthread_mutex_unlock(&e->lock);
	/* A pass under way finishes first: RocksDB has no way to cancel it. */
	pthread_join(e->thread, NULL);
	pthread_cond_destroy(&e->wake);
	pthread_mutex_destroy(&e->lock);
	free(e);
	s->expirer = NULL;
}
