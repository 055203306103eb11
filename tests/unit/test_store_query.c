/*
 * test_store_query.c - reading the store back, and retention.
 *
 * Everything is written through the writer's API (store_obs_add,
 * store_flush, store_alarm_put, store_audit_append, store_meta_put) and
 * read back through the queries: observation ranges (from included, to
 * excluded, every sequence number of the end time excluded too), other
 * devices (the neighbouring keys) never returned, times before 1970 and at
 * the ends of int64, a callback that stops the walk; alarms by time range
 * (in id order, whatever their times) and by id; audit ranges; the exact
 * JSON line of an observation; values that cannot be opened (a bad header,
 * a flipped bit, an unknown key) skipped and counted, never returned.
 *
 * Retention runs with an injected clock: what is older than its limit is
 * gone after store_expire, what is not (to the nanosecond) stays, moving
 * the clock moves the limit, values whose header cannot be read are never
 * dropped, meta never expires even when asked to, alarms keep a year by
 * default and audit forever.
 *
 * Read-only and secondary opens see what was written; a secondary of a
 * primary open in this very process sees the primary's new writes after
 * store_catch_up, and not before.
 *
 * Some tests reach into store_private.h to plant values the writer would
 * never write (the database handle and column families).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "cunit_main.h"
#include "store.h"
#include "store_private.h"

#define NS INT64_C(1000000000)
#define DAY (86400 * NS)
/* 2024-03-09T16:00:00Z: the clock of the retention tests. */
#define T0 (INT64_C(1710000000) * NS)

#define MAX_SEEN 256

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static char *
tmp_dir(void)
{
	char tmpl[] = "/tmp/vigil-store-query-XXXXXX";
	char *d = mkdtemp(tmpl);

	return d ? strdup(d) : NULL;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_rf(char *dir)
{
	if (dir) {
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		free(dir);
	}
}

static char *
join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* The injected clock: what the tests set, read from any thread (compactions). */
static _Atomic int64_t fake_now = T0;

static int64_t
fake_clock(void *arg)
{
	(void)arg;
	return atomic_load(&fake_now);
}

struct open_args {
	enum store_mode mode;
	const char *secondary;
	const char *key_file;
	bool clock;
	int64_t retain_meta;
	unsigned expire_every; /* 0: no retention thread (the tests call store_expire) */
};

static struct store *
open_with(const char *dir, const struct open_args *a)
{
	struct store_opts o;
	struct store *s = NULL;
	char err[512] = "";
	int rc;

	store_opts_defaults(&o);
	o.dir = dir;
	o.mode = a->mode;
	o.secondary_dir = a->secondary;
	o.key_file = a->key_file;
	o.block_cache_mb = 8;
	o.write_buffer_mb = 4;
	o.retain_s[STORE_CF_META] = a->retain_meta;
	o.expire_every_s = a->expire_every;
	if (a->clock) {
		o.clock = fake_clock;
		o.clock_arg = NULL;
	}
	rc = store_open(&o, &s, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "store_open(%s, mode %d): %d: %s\n", dir, (int)a->mode, rc, err);
	return rc == 0 ? s : NULL;
}

static struct store *
open_rw(const char *dir)
{
	/* The fake clock at T0 unless a test moves it: the records are of 2024. */
	struct open_args a = {.mode = STORE_READ_WRITE, .clock = true};

	return open_with(dir, &a);
}

static struct store_obs
mk_obs(uint64_t device, int64_t t, uint32_t seq)
{
	struct store_obs o = {
		.device = device,
		.time_ns = t,
		.seq = seq,
		.code = 150456 + seq % 7,
		.unit = 262688,
		.flags = seq & 3,
		.value = 90.0 + (double)(seq % 10) / 4,
	};

	return o;
}

static int
add_obs(struct store *s, uint64_t device, int64_t t, uint32_t seq)
{
	struct store_obs o = mk_obs(device, t, seq);
	enum store_durability got;

	return store_obs_add(s, &o, &got);
}

/* What a walk saw. */
struct seen {
	unsigned n;
	unsigned stop_after; /* 0: never stop */
	struct store_obs obs[MAX_SEEN];
	uint64_t id[MAX_SEEN];
	int64_t time[MAX_SEEN];
	char json[MAX_SEEN][96];
};

static int
see_obs(void *arg, const struct store_obs *o)
{
	struct seen *w = arg;

	if (w->n < MAX_SEEN)
		w->obs[w->n] = *o;
	w->n++;
	return w->stop_after && w->n >= w->stop_after ? 7 : 0;
}

static int
see_json(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	struct seen *w = arg;

	if (w->n < MAX_SEEN) {
		w->id[w->n] = id;
		w->time[w->n] = time_ns;
		snprintf(w->json[w->n], sizeof(w->json[0]), "%.*s", (int)len, json);
	}
	w->n++;
	return w->stop_after && w->n >= w->stop_after ? 9 : 0;
}

static struct seen *
query_obs(struct store *s, uint64_t device, int64_t from, int64_t to, int *rc)
{
	struct seen *w = calloc(1, sizeof(*w));

	CU_ASSERT_FATAL(w != NULL);
	*rc = store_query_obs(s, device, from, to, see_obs, w);
	return w;
}

static struct seen *
query_alarms(struct store *s, int64_t from, int64_t to, int *rc)
{
	struct seen *w = calloc(1, sizeof(*w));

	CU_ASSERT_FATAL(w != NULL);
	*rc = store_query_alarms(s, from, to, see_json, w);
	return w;
}

static struct seen *
query_audit(struct store *s, uint64_t from, uint64_t to, int *rc)
{
	struct seen *w = calloc(1, sizeof(*w));

	CU_ASSERT_FATAL(w != NULL);
	*rc = store_query_audit(s, from, to, see_json, w);
	return w;
}

static int
put_alarm(struct store *s, uint64_t id, int64_t t, const char *json)
{
	enum store_durability got = STORE_BUFFERED;
	int rc = store_alarm_put(s, id, t, json, strlen(json), &got);

	CU_ASSERT(rc != 0 || got == STORE_SYNCED);
	return rc;
}

static int
append_audit(struct store *s, int64_t t, const char *json, uint64_t *seq)
{
	enum store_durability got;

	return store_audit_append(s, t, json, strlen(json), seq, &got);
}

static uint64_t
counter(struct store *s, enum store_counter c)
{
	uint64_t v[STORE_CNT__COUNT];

	store_counters(s, v);
	return v[c];
}

/* A raw value, as the writer would never write it. */
static void
raw_put(struct store *s, enum store_cf cf, const uint8_t *k, size_t klen, const uint8_t *v,
	size_t vlen)
{
	char *err = NULL;

	rocksdb_put_cf(s->db, s->wo_sync, s->cf[cf], (const char *)k, klen, (const char *)v, vlen,
		       &err);
	CU_ASSERT(err == NULL);
	rocksdb_free(err);
}

/* A raw value's length (0: missing), copied into @v. */
static size_t
raw_get(struct store *s, enum store_cf cf, const uint8_t *k, size_t klen, uint8_t *v, size_t room)
{
	char *err = NULL;
	size_t vlen = 0;
	char *got = rocksdb_get_cf(s->db, s->ro, s->cf[cf], (const char *)k, klen, &vlen, &err);

	CU_ASSERT(err == NULL);
	rocksdb_free(err);
	if (!got)
		return 0;
	memcpy(v, got, vlen < room ? vlen : room);
	rocksdb_free(got);
	return vlen;
}

/* ------------------------------------------------------------------------ */
/* Observations                                                              */
/* ------------------------------------------------------------------------ */

static void
test_obs_ranges(void)
{
	const uint64_t dev = 0x1122334455667788ULL;
	char *dir = tmp_dir();
	struct store *s;
	struct seen *w;
	int rc;

	CU_ASSERT_FATAL(dir != NULL);
	s = open_rw(dir);
	CU_ASSERT_FATAL(s != NULL);
	/* dev at T0 + i s, i = 0..49; the neighbouring devices at the same times. */
	for (uint32_t i = 0; i < 50; i++) {
		CU_ASSERT_EQUAL(add_obs(s, dev, T0 + i * NS, i), 0);
		CU_ASSERT_EQUAL(add_obs(s, dev - 1, T0 + i * NS, 1000 + i), 0);
		CU_ASSERT_EQUAL(add_obs(s, dev + 1, T0 + i * NS, 2000 + i), 0);
	}
	/* Several records at the same time: seq 0 and 5 at T0 + 60 s. */
	CU_ASSERT_EQUAL(add_obs(s, dev, T0 + 60 * NS, 0), 0);
	CU_ASSERT_EQUAL(add_obs(s, dev, T0 + 60 * NS, 5), 0);
	/* A missing value. */
	{
		struct store_obs o = mk_obs(dev, T0 + 70 * NS, 3);
		enum store_durability got;

		o.value = NAN;
		CU_ASSERT_EQUAL(store_obs_add(s, &o, &got), 0);
	}
	CU_ASSERT_EQUAL(store_flush(s), 0);

	/* [T0 + 10 s, T0 + 20 s): 10 .. 19, in order, decoded as written. */
	w = query_obs(s, dev, T0 + 10 * NS, T0 + 20 * NS, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 10);
	for (unsigned i = 0; i < w->n && i < 10; i++) {
		struct store_obs want = mk_obs(dev, T0 + (10 + i) * NS, 10 + i);

		CU_ASSERT_EQUAL(w->obs[i].device, dev);
		CU_ASSERT_EQUAL(w->obs[i].time_ns, want.time_ns);
		CU_ASSERT_EQUAL(w->obs[i].seq, want.seq);
		CU_ASSERT_EQUAL(w->obs[i].code, want.code);
		CU_ASSERT_EQUAL(w->obs[i].unit, want.unit);
		CU_ASSERT_EQUAL(w->obs[i].flags, want.flags);
		CU_ASSERT_DOUBLE_EQUAL(w->obs[i].value, want.value, 0.0);
	}
	free(w);

	/* One nanosecond either side of a record. */
	w = query_obs(s, dev, T0 + 10 * NS + 1, T0 + 11 * NS, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 0);
	free(w);
	w = query_obs(s, dev, T0 + 10 * NS, T0 + 10 * NS + 1, &rc);
	CU_ASSERT_EQUAL(w->n, 1);
	free(w);

	/* Every seq of the end time is excluded, every seq of the start included. */
	w = query_obs(s, dev, T0 + 50 * NS, T0 + 60 * NS, &rc);
	CU_ASSERT_EQUAL(w->n, 0);
	free(w);
	w = query_obs(s, dev, T0 + 60 * NS, T0 + 61 * NS, &rc);
	CU_ASSERT_EQUAL(w->n, 2);
	CU_ASSERT_EQUAL(w->obs[0].seq, 0);
	CU_ASSERT_EQUAL(w->obs[1].seq, 5);
	free(w);

	/* The NaN came back as NaN. */
	w = query_obs(s, dev, T0 + 70 * NS, T0 + 71 * NS, &rc);
	CU_ASSERT_EQUAL(w->n, 1);
	CU_ASSERT(isnan(w->obs[0].value));
	free(w);

	/* Whole range: only dev's 53 records, never a neighbour's. */
	w = query_obs(s, dev, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 53);
	for (unsigned i = 0; i < w->n && i < MAX_SEEN; i++)
		CU_ASSERT_EQUAL(w->obs[i].device, dev);
	free(w);
	w = query_obs(s, dev + 1, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 50);
	CU_ASSERT_EQUAL(w->obs[0].seq, 2000);
	free(w);
	w = query_obs(s, dev + 2, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 0);
	free(w);

	/* Empty and reversed ranges. */
	w = query_obs(s, dev, T0 + 10 * NS, T0 + 10 * NS, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 0);
	free(w);
	w = query_obs(s, dev, T0 + 20 * NS, T0 + 10 * NS, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 0);
	free(w);

	/* The callback stops the walk; its value is returned. */
	{
		struct seen *stop = calloc(1, sizeof(*stop));

		CU_ASSERT_FATAL(stop != NULL);
		stop->stop_after = 3;
		rc = store_query_obs(s, dev, INT64_MIN, INT64_MAX, see_obs, stop);
		CU_ASSERT_EQUAL(rc, 7);
		CU_ASSERT_EQUAL(stop->n, 3);
		free(stop);
	}
	CU_ASSERT_EQUAL(store_query_obs(s, dev, 0, 1, NULL, NULL), -EINVAL);
	store_close(s);
	rm_rf(dir);
}

static void
test_obs_extreme_times(void)
{
	const int64_t times[] = {INT64_MIN, INT64_MIN + 1, -DAY,	  -1,	    0,
				 1,	    DAY,	   INT64_MAX - 1, INT64_MAX};
	const size_t n = sizeof(times) / sizeof(times[0]);
	char *dir = tmp_dir();
	struct store *s;
	struct seen *w;
	int rc;

	CU_ASSERT_FATAL(dir != NULL);
	s = open_rw(dir);
	CU_ASSERT_FATAL(s != NULL);
	/* Written out of order: the key order is the time order. */
	for (size_t i = n; i-- > 0;)
		CU_ASSERT_EQUAL(add_obs(s, 42, times[i], (uint32_t)i), 0);
	CU_ASSERT_EQUAL(store_flush(s), 0);

	/* INT64_MAX itself is past any [from, to). */
	w = query_obs(s, 42, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, n - 1);
	for (size_t i = 0; i < w->n && i < n; i++)
		CU_ASSERT_EQUAL(w->obs[i].time_ns, times[i]);
	free(w);

	/* Negative before positive: the sign bit is flipped in keys. */
	w = query_obs(s, 42, -1, 1, &rc);
	CU_ASSERT_EQUAL(w->n, 2);
	CU_ASSERT_EQUAL(w->obs[0].time_ns, -1);
	CU_ASSERT_EQUAL(w->obs[1].time_ns, 0);
	free(w);
	w = query_obs(s, 42, INT64_MIN, 0, &rc);
	CU_ASSERT_EQUAL(w->n, 4);
	free(w);
	w = query_obs(s, 42, INT64_MIN, INT64_MIN + 1, &rc);
	CU_ASSERT_EQUAL(w->n, 1);
	CU_ASSERT_EQUAL(w->obs[0].time_ns, INT64_MIN);
	free(w);
	w = query_obs(s, 42, 1, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 3);
	free(w);
	store_close(s);
	rm_rf(dir);
}

/* One observation's JSON line, as text. */
static void
obs_line(const struct store_obs *o, char *buf, size_t room)
{
	FILE *f = fmemopen(buf, room, "w");

	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(store_obs_json(o, f), 0);
	fclose(f);
}

static void
test_obs_json(void)
{
	struct store_obs o = {
		.device = 0x1234,
		.time_ns = INT64_C(1709294400123456789),
		.seq = 7,
		.code = 150456,
		.unit = 262688,
		.flags = 3,
		.value = 97.5,
	};
	char line[512];

	obs_line(&o, line, sizeof(line));
	CU_ASSERT_STRING_EQUAL(line,
			       "{\"device\":\"0x0000000000001234\","
			       "\"time\":\"2024-03-01T12:00:00.123456789Z\",\"seq\":7,"
			       "\"code\":150456,\"value\":97.5,\"unit\":262688,\"flags\":3}\n");

	/* No value; a time before 1970; a device with the top bit set. */
	o.value = NAN;
	o.time_ns = -1;
	o.device = 0xfedcba9876543210ULL;
	o.seq = UINT32_MAX;
	obs_line(&o, line, sizeof(line));
	CU_ASSERT_STRING_EQUAL(line,
			       "{\"device\":\"0xfedcba9876543210\","
			       "\"time\":\"1969-12-31T23:59:59.999999999Z\",\"seq\":4294967295,"
			       "\"code\":150456,\"value\":null,\"unit\":262688,\"flags\":3}\n");

	/* Values read back exactly, in their shortest form; no infinity in JSON. */
	o.time_ns = 0;
	o.value = 0.1;
	obs_line(&o, line, sizeof(line));
	CU_ASSERT(strstr(line, "\"time\":\"1970-01-01T00:00:00.000000000Z\"") != NULL);
	CU_ASSERT(strstr(line, "\"value\":0.1,") != NULL);
	o.value = -1.0 / 3.0;
	obs_line(&o, line, sizeof(line));
	CU_ASSERT(strstr(line, "\"value\":-0.3333333333333333,") != NULL);
	o.value = INFINITY;
	obs_line(&o, line, sizeof(line));
	CU_ASSERT(strstr(line, "\"value\":null,") != NULL);
	o.value = 1e300;
	obs_line(&o, line, sizeof(line));
	CU_ASSERT(strstr(line, "\"value\":1e+300,") != NULL);

	/* The ends of time. */
	o.value = 1;
	o.time_ns = INT64_MAX;
	obs_line(&o, line, sizeof(line));
	CU_ASSERT(strstr(line, "\"time\":\"2262-04-11T23:47:16.854775807Z\"") != NULL);
	o.time_ns = INT64_MIN;
	obs_line(&o, line, sizeof(line));
	CU_ASSERT(strstr(line, "\"time\":\"1677-09-21T00:12:43.145224192Z\"") != NULL);

	CU_ASSERT_EQUAL(store_obs_json(NULL, stdout), -EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Alarms and audit                                                          */
/* ------------------------------------------------------------------------ */

static void
test_alarms(void)
{
	char *dir = tmp_dir();
	struct store *s;
	struct seen *w;
	char json[64];
	int rc;

	CU_ASSERT_FATAL(dir != NULL);
	s = open_rw(dir);
	CU_ASSERT_FATAL(s != NULL);
	/* Ids 1..10 at T0 + (10 - id) s: time runs against id. */
	for (uint64_t id = 1; id <= 10; id++) {
		snprintf(json, sizeof(json), "{\"id\":%" PRIu64 "}", id);
		CU_ASSERT_EQUAL(put_alarm(s, id, T0 + (int64_t)(10 - id) * NS, json), 0);
	}
	/* Times 3, 4, 5 s: ids 7, 6, 5, returned in id order. */
	w = query_alarms(s, T0 + 3 * NS, T0 + 6 * NS, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 3);
	CU_ASSERT_EQUAL(w->id[0], 5);
	CU_ASSERT_EQUAL(w->id[1], 6);
	CU_ASSERT_EQUAL(w->id[2], 7);
	CU_ASSERT_EQUAL(w->time[0], T0 + 5 * NS);
	CU_ASSERT_STRING_EQUAL(w->json[0], "{\"id\":5}");
	CU_ASSERT_STRING_EQUAL(w->json[2], "{\"id\":7}");
	free(w);
	w = query_alarms(s, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 10);
	for (unsigned i = 0; i < w->n && i < 10; i++)
		CU_ASSERT_EQUAL(w->id[i], i + 1);
	free(w);
	w = query_alarms(s, T0 + 10 * NS, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 0);
	free(w);
	w = query_alarms(s, T0 + 6 * NS, T0 + 3 * NS, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 0);
	free(w);

	/* A replaced record, with a new time, is what the queries see. */
	CU_ASSERT_EQUAL(put_alarm(s, 5, T0 + 100 * NS, "{\"id\":5,\"state\":\"acked\"}"), 0);
	w = calloc(1, sizeof(*w));
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT_EQUAL(store_alarm_get(s, 5, see_json, w), 0);
	CU_ASSERT_EQUAL(w->n, 1);
	CU_ASSERT_EQUAL(w->id[0], 5);
	CU_ASSERT_EQUAL(w->time[0], T0 + 100 * NS);
	CU_ASSERT_STRING_EQUAL(w->json[0], "{\"id\":5,\"state\":\"acked\"}");
	free(w);
	w = query_alarms(s, T0 + 3 * NS, T0 + 6 * NS, &rc);
	CU_ASSERT_EQUAL(w->n, 2);
	CU_ASSERT_EQUAL(w->id[0], 6);
	free(w);

	/* Missing ids; a callback that stops. */
	w = calloc(1, sizeof(*w));
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT_EQUAL(store_alarm_get(s, 11, see_json, w), -ENOENT);
	CU_ASSERT_EQUAL(store_alarm_get(s, 0, see_json, w), -ENOENT);
	CU_ASSERT_EQUAL(w->n, 0);
	w->stop_after = 2;
	CU_ASSERT_EQUAL(store_query_alarms(s, INT64_MIN, INT64_MAX, see_json, w), 9);
	CU_ASSERT_EQUAL(w->n, 2);
	free(w);
	store_close(s);
	rm_rf(dir);
}

static void
test_audit(void)
{
	char *dir = tmp_dir();
	struct store *s;
	struct seen *w;
	char json[64];
	uint64_t seq;
	int rc;

	CU_ASSERT_FATAL(dir != NULL);
	s = open_rw(dir);
	CU_ASSERT_FATAL(s != NULL);
	for (int i = 1; i <= 5; i++) {
		snprintf(json, sizeof(json), "{\"what\":\"cmd %d\"}", i);
		CU_ASSERT_EQUAL(append_audit(s, T0 + i * NS, json, &seq), 0);
		CU_ASSERT_EQUAL(seq, (uint64_t)i);
	}
	w = query_audit(s, 2, 4, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 2);
	CU_ASSERT_EQUAL(w->id[0], 2);
	CU_ASSERT_EQUAL(w->id[1], 3);
	CU_ASSERT_EQUAL(w->time[1], T0 + 3 * NS);
	CU_ASSERT_STRING_EQUAL(w->json[0], "{\"what\":\"cmd 2\"}");
	free(w);
	w = query_audit(s, 0, UINT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 5);
	free(w);
	w = query_audit(s, 5, 6, &rc);
	CU_ASSERT_EQUAL(w->n, 1);
	CU_ASSERT_EQUAL(w->id[0], 5);
	free(w);
	w = query_audit(s, 4, 4, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 0);
	free(w);
	w = query_audit(s, 6, UINT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 0);
	free(w);
	store_close(s);
	rm_rf(dir);
}

/* ------------------------------------------------------------------------ */
/* Values that cannot be opened                                              */
/* ------------------------------------------------------------------------ */

static void
test_bad_values_skipped(void)
{
	const uint8_t bad[STORE_VALUE_HDR + STORE_OBS_REC] = {99}; /* format 99 */
	uint8_t key[STORE_KEY_OBS], akey[STORE_KEY_ID];
	char *dir = tmp_dir();
	struct store *s;
	struct seen *w;
	uint64_t before;
	int rc;

	CU_ASSERT_FATAL(dir != NULL);
	s = open_rw(dir);
	CU_ASSERT_FATAL(s != NULL);
	for (uint32_t i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(add_obs(s, 9, T0 + i * NS, i), 0);
	CU_ASSERT_EQUAL(store_flush(s), 0);
	CU_ASSERT_EQUAL(put_alarm(s, 1, T0, "{\"id\":1}"), 0);
	/* A header vigil cannot read, in the middle of the range and as alarm 2. */
	store_key_obs(key, 9, T0 + 2 * NS, 99);
	raw_put(s, STORE_CF_OBS, key, sizeof(key), bad, sizeof(bad));
	store_key_id(akey, 2);
	raw_put(s, STORE_CF_ALARMS, akey, sizeof(akey), bad, sizeof(bad));

	before = counter(s, STORE_CNT_bad_values);
	w = query_obs(s, 9, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 5);
	for (unsigned i = 0; i < w->n && i < 5; i++)
		CU_ASSERT_NOT_EQUAL(w->obs[i].seq, 99);
	free(w);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_bad_values), before + 1);
	w = query_alarms(s, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 1);
	CU_ASSERT_EQUAL(w->id[0], 1);
	free(w);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_bad_values), before + 2);
	w = calloc(1, sizeof(*w));
	CU_ASSERT_FATAL(w != NULL);
	CU_ASSERT_EQUAL(store_alarm_get(s, 2, see_json, w), -EPROTO);
	CU_ASSERT_EQUAL(w->n, 0);
	free(w);
	store_close(s);
	rm_rf(dir);
}

static int
write_key_file(const char *path)
{
	FILE *f;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	fprintf(f, "# test key\n3 000102030405060708090a0b0c0d0e0f"
		   "101112131415161718191a1b1c1d1e1f\n");
	return fclose(f) == 0 ? 0 : -EIO;
}

static void
test_sealed_values(void)
{
	char *dir = tmp_dir();
	char *db = dir ? join(dir, "db") : NULL;
	char *keys = dir ? join(dir, "keys") : NULL;
	struct open_args sealed = {.mode = STORE_READ_WRITE, .key_file = keys};
	struct open_args plain_ro = {.mode = STORE_READ_ONLY};
	uint8_t key[STORE_KEY_OBS], val[256];
	struct store *s;
	struct seen *w;
	size_t vlen;
	int rc;

	CU_ASSERT_FATAL(db != NULL && keys != NULL);
	CU_ASSERT_FATAL(write_key_file(keys) == 0);
	s = open_with(db, &sealed);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(store_seal_key_id(s), 3);
	for (uint32_t i = 0; i < 6; i++)
		CU_ASSERT_EQUAL(add_obs(s, 5, T0 + i * NS, i), 0);
	CU_ASSERT_EQUAL(store_flush(s), 0);
	CU_ASSERT_EQUAL(put_alarm(s, 1, T0, "{\"secret\":true}"), 0);

	/* Sealed, they read back as written. */
	w = query_obs(s, 5, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 6);
	CU_ASSERT_EQUAL(w->obs[3].code, mk_obs(5, 0, 3).code);
	free(w);

	/* Flip one bit of record 3's ciphertext: it alone is skipped and counted. */
	store_key_obs(key, 5, T0 + 3 * NS, 3);
	vlen = raw_get(s, STORE_CF_OBS, key, sizeof(key), val, sizeof(val));
	CU_ASSERT_FATAL(vlen > STORE_VALUE_HDR + STORE_SEAL_NONCE && vlen <= sizeof(val));
	val[STORE_VALUE_HDR + STORE_SEAL_NONCE] ^= 0x10;
	raw_put(s, STORE_CF_OBS, key, sizeof(key), val, vlen);
	/* And move record 4's value under record 1's key. */
	store_key_obs(key, 5, T0 + 4 * NS, 4);
	vlen = raw_get(s, STORE_CF_OBS, key, sizeof(key), val, sizeof(val));
	store_key_obs(key, 5, T0 + 1 * NS, 1);
	raw_put(s, STORE_CF_OBS, key, sizeof(key), val, vlen);
	w = query_obs(s, 5, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 4);
	for (unsigned i = 0; i < w->n && i < 4; i++)
		CU_ASSERT(w->obs[i].seq != 1 && w->obs[i].seq != 3);
	free(w);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unseal_failed), 2);
	store_close(s);

	/* Without the key file nothing sealed is returned: counted as unknown keys. */
	s = open_with(db, &plain_ro);
	CU_ASSERT_FATAL(s != NULL);
	w = query_obs(s, 5, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 0);
	free(w);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unknown_key), 6);
	w = query_alarms(s, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 0);
	free(w);
	store_close(s);
	free(db);
	free(keys);
	rm_rf(dir);
}

/* ------------------------------------------------------------------------ */
/* Retention                                                                 */
/* ------------------------------------------------------------------------ */

static void
test_retention(void)
{
	char *dir = tmp_dir();
	/* Meta asks for one second: it must be kept anyway. */
	struct open_args a = {.mode = STORE_READ_WRITE, .clock = true, .retain_meta = 1};
	const int64_t week = 7 * DAY, year = 365 * DAY;
	uint8_t key[STORE_KEY_OBS], v[64];
	const uint8_t bad[STORE_VALUE_HDR + STORE_OBS_REC] = {99};
	struct store *s;
	struct seen *w;
	uint64_t seq;
	char meta[16];
	int rc;

	CU_ASSERT_FATAL(dir != NULL);
	atomic_store(&fake_now, T0);
	s = open_with(dir, &a);
	CU_ASSERT_FATAL(s != NULL);
	/* Observations: past the limit by 1 ns and by a day; at it; inside; ahead. */
	CU_ASSERT_EQUAL(add_obs(s, 1, T0 - week - DAY, 0), 0);
	CU_ASSERT_EQUAL(add_obs(s, 1, T0 - week - 1, 1), 0);
	CU_ASSERT_EQUAL(add_obs(s, 1, T0 - week, 2), 0);
	CU_ASSERT_EQUAL(add_obs(s, 1, T0 - 6 * DAY, 3), 0);
	CU_ASSERT_EQUAL(add_obs(s, 1, T0 + DAY, 4), 0);
	CU_ASSERT_EQUAL(store_flush(s), 0);
	/* An old value whose header cannot be read. */
	store_key_obs(key, 1, T0 - 100 * DAY, 9);
	raw_put(s, STORE_CF_OBS, key, sizeof(key), bad, sizeof(bad));
	/* Alarms: the default year. */
	CU_ASSERT_EQUAL(put_alarm(s, 1, T0 - year - DAY, "{\"id\":1}"), 0);
	CU_ASSERT_EQUAL(put_alarm(s, 2, T0 - year + DAY, "{\"id\":2}"), 0);
	CU_ASSERT_EQUAL(put_alarm(s, 3, T0 - 2 * DAY, "{\"id\":3}"), 0);
	/* Audit: kept forever by default, even ten years old. */
	CU_ASSERT_EQUAL(append_audit(s, T0 - 10 * year, "{\"what\":\"old\"}", &seq), 0);
	CU_ASSERT_EQUAL(store_meta_put(s, "test.cursor", "42", 2), 0);

	CU_ASSERT_EQUAL(store_expire(s), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_expired), 3);
	w = query_obs(s, 1, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 3);
	CU_ASSERT_EQUAL(w->obs[0].seq, 2);
	CU_ASSERT_EQUAL(w->obs[1].seq, 3);
	CU_ASSERT_EQUAL(w->obs[2].seq, 4);
	free(w);
	w = query_alarms(s, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 2);
	CU_ASSERT_EQUAL(w->id[0], 2);
	CU_ASSERT_EQUAL(w->id[1], 3);
	free(w);
	w = query_audit(s, 0, UINT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 1);
	free(w);
	CU_ASSERT(raw_get(s, STORE_CF_OBS, key, sizeof(key), v, sizeof(v)) == sizeof(bad));

	/* Two days on: the limit moves with the clock. */
	atomic_store(&fake_now, T0 + 2 * DAY);
	CU_ASSERT_EQUAL(store_expire(s), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_expired), 6);
	w = query_obs(s, 1, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 1);
	CU_ASSERT_EQUAL(w->obs[0].seq, 4);
	free(w);
	w = query_alarms(s, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 1);
	CU_ASSERT_EQUAL(w->id[0], 3);
	free(w);

	/* A century on: meta (the schema version too) and audit stay. */
	atomic_store(&fake_now, T0 + 100 * year);
	CU_ASSERT_EQUAL(store_expire(s), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_expired), 8);
	CU_ASSERT_EQUAL(store_meta_get(s, "test.cursor", meta, sizeof(meta)), 2);
	CU_ASSERT_NSTRING_EQUAL(meta, "42", 2);
	w = query_audit(s, 0, UINT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 1);
	free(w);
	CU_ASSERT(raw_get(s, STORE_CF_OBS, key, sizeof(key), v, sizeof(v)) == sizeof(bad));
	store_close(s);
	s = open_with(dir, &a);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(store_meta_get(s, "test.cursor", meta, sizeof(meta)), 2);
	CU_ASSERT(store_meta_get(s, "schema_version", meta, sizeof(meta)) > 0);
	store_close(s);
	atomic_store(&fake_now, T0);
	rm_rf(dir);
}

/*
 * The store's own retention thread: with expire_every_s 1, old records go
 * without anyone calling store_expire, newer ones stay, and close stops
 * the thread (ASan and the suite's exit would see it left running).
 */
static void
test_retention_thread(void)
{
	char *dir = tmp_dir();
	struct open_args a = {.mode = STORE_READ_WRITE, .clock = true, .expire_every = 1};
	struct store *s;
	struct seen *w = NULL;
	int rc = 0;

	CU_ASSERT_FATAL(dir != NULL);
	atomic_store(&fake_now, T0);
	s = open_with(dir, &a);
	CU_ASSERT_FATAL(s != NULL);
	CU_ASSERT_EQUAL(add_obs(s, 1, T0 - 8 * DAY, 0), 0);
	CU_ASSERT_EQUAL(add_obs(s, 1, T0 - DAY, 1), 0);
	CU_ASSERT_EQUAL(store_flush(s), 0);
	/* Bounded wait (30 s) for a pass: the thread runs one a second. */
	for (unsigned i = 0; i < 300 && counter(s, STORE_CNT_expire_runs) == 0; i++)
		usleep(100000);
	CU_ASSERT_TRUE(counter(s, STORE_CNT_expire_runs) >= 1);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_expire_failed), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_expired), 1);
	w = query_obs(s, 1, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 1);
	if (w->n == 1)
		CU_ASSERT_EQUAL(w->obs[0].seq, 1);
	free(w);
	store_close(s);
	rm_rf(dir);
}

static void
test_retention_options(void)
{
	char *dir = tmp_dir();
	struct open_args a = {.mode = STORE_READ_WRITE, .clock = true};
	struct store_opts defaults;
	struct store *s;

	store_opts_defaults(&defaults);
	CU_ASSERT_EQUAL(defaults.retain_s[STORE_CF_OBS], 7 * 86400);
	CU_ASSERT_EQUAL(defaults.retain_s[STORE_CF_ALARMS], 365 * 86400);
	CU_ASSERT_EQUAL(defaults.retain_s[STORE_CF_AUDIT], 0);
	CU_ASSERT_EQUAL(defaults.retain_s[STORE_CF_META], 0);

	CU_ASSERT_FATAL(dir != NULL);
	atomic_store(&fake_now, T0);
	s = open_with(dir, &a);
	CU_ASSERT_FATAL(s != NULL);
	/* A filter where there is a limit, none where everything is kept. */
	CU_ASSERT(s->filter[STORE_CF_OBS] != NULL);
	CU_ASSERT(s->filter[STORE_CF_ALARMS] != NULL);
	CU_ASSERT(s->filter[STORE_CF_AUDIT] == NULL);
	CU_ASSERT(s->filter[STORE_CF_META] == NULL);
	CU_ASSERT(store_retention_filter(s, STORE_CF_META) == NULL);
	CU_ASSERT(store_retention_filter(s, STORE_CF_AUDIT) == NULL);
	s->o.retain_s[STORE_CF_META] = 86400;
	CU_ASSERT(store_retention_filter(s, STORE_CF_META) == NULL);
	s->o.retain_s[STORE_CF_META] = 0;
	CU_ASSERT_EQUAL(store_expire(NULL), -EINVAL);
	store_close(s);
	rm_rf(dir);
}

/* ------------------------------------------------------------------------ */
/* Read-only and secondary opens                                             */
/* ------------------------------------------------------------------------ */

static void
test_read_only(void)
{
	char *dir = tmp_dir();
	struct open_args ro = {.mode = STORE_READ_ONLY};
	struct store_cf_stats st[STORE_CF__COUNT];
	struct store *s;
	struct seen *w;
	uint64_t seq;
	int rc;

	CU_ASSERT_FATAL(dir != NULL);
	s = open_rw(dir);
	CU_ASSERT_FATAL(s != NULL);
	for (uint32_t i = 0; i < 100; i++)
		CU_ASSERT_EQUAL(add_obs(s, 7, T0 + i * NS, i), 0);
	CU_ASSERT_EQUAL(put_alarm(s, 1, T0, "{\"id\":1}"), 0);
	CU_ASSERT_EQUAL(append_audit(s, T0, "{\"what\":\"x\"}", &seq), 0);
	/* Compaction puts everything into table files: exact figures. */
	CU_ASSERT_EQUAL(store_flush(s), 0);
	CU_ASSERT_EQUAL(store_expire(s), 0);
	store_close(s);

	s = open_with(dir, &ro);
	CU_ASSERT_FATAL(s != NULL);
	w = query_obs(s, 7, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 100);
	free(w);
	w = query_alarms(s, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 1);
	free(w);
	w = query_audit(s, 0, UINT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 1);
	free(w);
	CU_ASSERT_EQUAL(store_stats(s, st), 0);
	CU_ASSERT_EQUAL(st[STORE_CF_OBS].keys, 100);
	CU_ASSERT_EQUAL(st[STORE_CF_ALARMS].keys, 1);
	CU_ASSERT_EQUAL(st[STORE_CF_AUDIT].keys, 1);
	CU_ASSERT(st[STORE_CF_META].keys >= 1);
	CU_ASSERT(st[STORE_CF_OBS].sst_files >= 1);
	CU_ASSERT(st[STORE_CF_OBS].live_bytes > 100 * STORE_OBS_REC / 4);
	/* A reader neither writes nor compacts. */
	CU_ASSERT_EQUAL(store_expire(s), -EROFS);
	CU_ASSERT_EQUAL(store_catch_up(s), -EINVAL);
	CU_ASSERT_NOT_EQUAL(add_obs(s, 7, T0, 1000), 0);
	store_close(s);
	rm_rf(dir);
}

static void
test_secondary(void)
{
	char *dir = tmp_dir();
	char *db = dir ? join(dir, "db") : NULL;
	char *sec = dir ? join(dir, "secondary") : NULL;
	struct open_args so = {.mode = STORE_SECONDARY, .secondary = sec};
	struct store *p, *s;
	struct seen *w;
	int rc;

	CU_ASSERT_FATAL(db != NULL && sec != NULL);
	p = open_rw(db);
	CU_ASSERT_FATAL(p != NULL);
	for (uint32_t i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(add_obs(p, 3, T0 + i * NS, i), 0);
	CU_ASSERT_EQUAL(store_flush(p), 0);
	CU_ASSERT_EQUAL(put_alarm(p, 1, T0, "{\"id\":1}"), 0);

	/* The secondary sees what the primary wrote before it opened. */
	s = open_with(db, &so);
	CU_ASSERT_FATAL(s != NULL);
	w = query_obs(s, 3, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 10);
	free(w);

	/* New writes: not seen until the secondary catches up, then seen. */
	for (uint32_t i = 10; i < 25; i++)
		CU_ASSERT_EQUAL(add_obs(p, 3, T0 + i * NS, i), 0);
	CU_ASSERT_EQUAL(store_flush(p), 0);
	CU_ASSERT_EQUAL(put_alarm(p, 2, T0 + NS, "{\"id\":2}"), 0);
	w = query_obs(s, 3, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 10);
	free(w);
	w = query_alarms(s, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 1);
	free(w);
	CU_ASSERT_EQUAL(store_catch_up(s), 0);
	w = query_obs(s, 3, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w->n, 25);
	CU_ASSERT_EQUAL(w->obs[24].seq, 24);
	free(w);
	w = query_alarms(s, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 2);
	CU_ASSERT_STRING_EQUAL(w->json[1], "{\"id\":2}");
	free(w);

	/* After the primary flushed its memtables to tables, too. */
	CU_ASSERT_EQUAL(store_expire(p), 0);
	CU_ASSERT_EQUAL(put_alarm(p, 3, T0 + 2 * NS, "{\"id\":3}"), 0);
	CU_ASSERT_EQUAL(store_catch_up(s), 0);
	w = query_alarms(s, INT64_MIN, INT64_MAX, &rc);
	CU_ASSERT_EQUAL(w->n, 3);
	free(w);
	w = query_obs(s, 3, T0 + 5 * NS, T0 + 15 * NS, &rc);
	CU_ASSERT_EQUAL(w->n, 10);
	free(w);
	CU_ASSERT_EQUAL(store_expire(s), -EROFS);
	CU_ASSERT_EQUAL(store_catch_up(p), -EINVAL);
	store_close(s);
	store_close(p);
	free(db);
	free(sec);
	rm_rf(dir);
}

/* ------------------------------------------------------------------------ */
/* Registration                                                              */
/* ------------------------------------------------------------------------ */

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"observation ranges", test_obs_ranges},
		{"observation times at the extremes", test_obs_extreme_times},
		{"observation JSON line", test_obs_json},
		{"alarms by time and id", test_alarms},
		{"audit ranges", test_audit},
		{"unreadable values skipped and counted", test_bad_values_skipped},
		{"sealed values: tampering and a missing key", test_sealed_values},
		{"retention with an injected clock", test_retention},
		{"retention thread", test_retention_thread},
		{"retention options and filters", test_retention_options},
		{"read-only open", test_read_only},
		{"secondary open follows the primary", test_secondary},
	};
	CU_pSuite suite = CU_add_suite("store-query", NULL, NULL);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
