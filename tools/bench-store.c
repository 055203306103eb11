/*
 * bench-store.c - vigil-bench's `store` scenario: what the store costs the
 * control plane's writer thread, against RocksDB alone in the same run.
 *
 * Issue 6 asks for observations per second into RocksDB on one core
 * (target at least 1,000,000/s, batched), the latency of a synced alarm
 * write (p50, p99: what this disk gives) and the cost of sealing. Each run:
 *
 *  - vigil, batch 4096 and batch 256: a fresh store (the defaults but
 *    batch_records), N prepared observations (1024 devices, a random value
 *    each) added with store_obs_add, then store_flush: observations per
 *    second from the first add until the flush returns, that is until the
 *    last batch is in the WAL (not fsynced, as the store writes them). The
 *    counters must say N written in ceil(N / batch) batches, none failed.
 *  - synced alarms: in the batch-4096 store, after its observations, A
 *    alarm records (about 170 bytes of JSON) with store_alarm_put, each
 *    timed on its own: p50, p99, max.
 *  - the baseline, RocksDB alone: the batch-4096 store is closed and read
 *    back with the RocksDB C API (its own OPTIONS file, every column
 *    family): every observation's key and value, exactly the bytes vigil
 *    wrote, must be there (N of them). A fresh database with the same
 *    options then takes the same bytes, in the order vigil added them,
 *    with rocksdb_writebatch_put_cf and rocksdb_write in WriteBatches of
 *    4096 and of 256 (WAL on, no sync): no vigil layer (no encoding, no
 *    counters, no value header built). Then the same A alarm values with
 *    rocksdb_put_cf synced, and, for the disk alone, A appends of as many
 *    bytes to a file, each followed by fdatasync (what RocksDB's WAL sync
 *    does).
 *  - sealing: the batch-4096 run again on a store with a key file (one
 *    AES-256-GCM key): the ratio sealed / plain, per observation. The
 *    counters must say N sealed.
 *
 * The directories are made under --store-dir (default $TMPDIR, else
 * /var/tmp) and removed afterwards; the report names the file system that
 * holds them. vigil-bench's EAL pins the calling thread to one CPU (-l 0)
 * before any database is opened, and RocksDB's flush and compaction threads
 * are started from it and inherit that pinning: the whole store, its
 * background work included, runs on one core.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "bench.h"
#include "store.h"

#define STORE_DEVICES 1024u
#define STORE_KEY_LEN 20 /* store.h: device (8) . time (8) . seq (4) */
#define STORE_VAL_MAX 64 /* a plain observation's value is 32 bytes */
#define STORE_ALARM_MAX 256
#define STORE_CACHE_MB 64 /* the store's default block cache */
#define STORE_SEAL_KEY_ID 7

static const unsigned store_batches[] = {4096, 256};
#define STORE_N_BATCHES (sizeof(store_batches) / sizeof(store_batches[0]))

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(const double *v, unsigned n)
{
	double s[BENCH_MAX_RUNS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void
min_max(const double *v, unsigned n, double *lo, double *hi)
{
	*lo = *hi = v[0];
	for (unsigned i = 1; i < n; i++) {
		if (v[i] < *lo)
			*lo = v[i];
		if (v[i] > *hi)
			*hi = v[i];
	}
}

/* The nearest-rank percentile @p p (0..100) of @p v (sorted in place). */
static double
percentile(double *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	return v[rank - 1];
}

/* The file system type and device of the mount that holds @p dir. */
static void
dir_fs(const char *dir, char *fs, size_t fs_room, char *dev, size_t dev_room)
{
	char real[PATH_MAX], line[4096];
	size_t best = 0;
	FILE *f;

	snprintf(fs, fs_room, "?");
	snprintf(dev, dev_room, "?");
	if (realpath(dir, real) == NULL)
		return;
	f = fopen("/proc/self/mounts", "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char d[1024], m[1024], t[64];
		size_t ml;

		if (sscanf(line, "%1023s %1023s %63s", d, m, t) != 3)
			continue;
		ml = strlen(m);
		if (strncmp(real, m, ml) != 0 || (real[ml] != '/' && real[ml] != '\0' && ml != 1))
			continue;
		if (ml >= best) {
			best = ml;
			snprintf(fs, fs_room, "%s", t);
			snprintf(dev, dev_room, "%s on %s", d, m);
		}
	}
	fclose(f);
}

/* ------------------------------------------------------------------------ */
/* The records                                                               */
/* ------------------------------------------------------------------------ */

static void
make_obs(struct store_obs *obs, unsigned long n, int64_t t0)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (unsigned long i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		obs[i].device = 0x10000 + i % STORE_DEVICES;
		obs[i].time_ns = t0 + (int64_t)(i / STORE_DEVICES) * 1000000;
		obs[i].seq = (uint32_t)i;
		obs[i].code = 150456 + (uint32_t)(i % 5);
		obs[i].unit = 262688;
		obs[i].flags = 0;
		obs[i].value = 40.0 + (double)(x % 60000) * 1e-3;
	}
}

static int
alarm_json(unsigned i, char *buf, size_t room)
{
	return snprintf(buf, room,
			"{\"id\":%u,\"sid\":1000001,\"rule\":\"spo2-low\",\"device\":\"0x%x\","
			"\"state\":\"active\",\"value\":84.5,\"time\":\"2026-11-27T17:00:00."
			"%06uZ\",\"severity\":\"high\"}",
			i + 1, 0x10000 + i % STORE_DEVICES, i % 1000000);
}

/* ------------------------------------------------------------------------ */
/* vigil's store                                                             */
/* ------------------------------------------------------------------------ */

struct vigil_run {
	double obs_ns;	  /* adds + the final flush */
	double *alarm_ns; /* per alarm put (NULL: no alarms) */
	unsigned alarms;
	uint64_t cnt[STORE_CNT__COUNT];
};

static int
vigil_open(const char *dir, unsigned batch, const char *key_file, struct store **s)
{
	struct store_opts o;
	char err[512] = "";
	int rc;

	store_opts_defaults(&o);
	o.dir = dir;
	o.batch_records = batch;
	o.batch_ms = 3600000; /* full batches only */
	o.key_file = key_file;
	rc = store_open(&o, s, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "bench store: %s\n", err);
	return rc;
}

static int
vigil_obs(const char *dir, unsigned batch, const char *key_file, const struct store_obs *obs,
	  unsigned long n, const int64_t *alarm_t, unsigned alarms, struct vigil_run *r)
{
	struct store *s = NULL;
	double t0, t1;
	int rc;

	rc = vigil_open(dir, batch, key_file, &s);
	if (rc != 0)
		return rc;
	t0 = now_ns();
	for (unsigned long i = 0; i < n; i++) {
		rc = store_obs_add(s, &obs[i], NULL);
		if (rc != 0)
			goto out;
	}
	rc = store_flush(s);
	t1 = now_ns();
	if (rc != 0)
		goto out;
	r->obs_ns = t1 - t0;
	for (unsigned i = 0; i < alarms; i++) {
		enum store_durability got = STORE_BUFFERED;
		char json[STORE_ALARM_MAX];
		int len = alarm_json(i, json, sizeof(json));

		t0 = now_ns();
		rc = store_alarm_put(s, i + 1, alarm_t[i], json, (size_t)len, &got);
		t1 = now_ns();
		if (rc != 0)
			goto out;
		if (got != STORE_SYNCED) {
			rc = -EPROTO;
			goto out;
		}
		r->alarm_ns[i] = t1 - t0;
	}
	store_counters(s, r->cnt);
out:
	if (rc != 0)
		fprintf(stderr, "bench store: writing %s: %s\n", dir, strerror(-rc));
	store_close(s);
	return rc;
}

/* The counters of a run must be exactly what it wrote. */
static int
vigil_check(const struct vigil_run *r, unsigned long n, unsigned batch, bool sealed,
	    const char *what)
{
	const uint64_t *c = r->cnt;
	uint64_t batches = (n + batch - 1) / batch;
	uint64_t want_sealed = sealed ? n + r->alarms : 0;

	if (c[STORE_CNT_obs_written] != n || c[STORE_CNT_obs_batches] != batches ||
	    c[STORE_CNT_obs_failed] != 0 || c[STORE_CNT_write_errors] != 0 ||
	    c[STORE_CNT_alarms_written] != r->alarms || c[STORE_CNT_alarms_failed] != 0 ||
	    (sealed ? c[STORE_CNT_sealed] < want_sealed : c[STORE_CNT_sealed] != 0)) {
		fprintf(stderr,
			"bench store: %s: counters obs_written %" PRIu64 " (want %lu), obs_batches "
			"%" PRIu64 " (want %" PRIu64 "), obs_failed %" PRIu64
			", write_errors %" PRIu64 ", alarms_written %" PRIu64 " (want %u), sealed "
			"%" PRIu64 "\n",
			what, c[STORE_CNT_obs_written], n, c[STORE_CNT_obs_batches], batches,
			c[STORE_CNT_obs_failed], c[STORE_CNT_write_errors],
			c[STORE_CNT_alarms_written], r->alarms, c[STORE_CNT_sealed]);
		return -EPROTO;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* RocksDB alone                                                             */
/* ------------------------------------------------------------------------ */

/* What vigil wrote, read back: observation i's key and value at index i. */
struct raw_bytes {
	unsigned long n;
	uint8_t *keys;	  /* n * STORE_KEY_LEN */
	uint8_t *vals;	  /* n * STORE_VAL_MAX */
	uint8_t *val_len; /* n */
	unsigned alarms, alarm_room;
	uint8_t (*alarm_vals)[STORE_ALARM_MAX + 64];
	size_t *alarm_len;
};

/* The options of the database in @p dir, as RocksDB wrote them. */
struct raw_opts {
	rocksdb_options_t *db;
	size_t n_cf;
	char **names;
	rocksdb_options_t **cf;
	rocksdb_cache_t *cache;
	rocksdb_env_t *env;
};

static void
raw_opts_free(struct raw_opts *ro)
{
	if (ro->db != NULL)
		rocksdb_load_latest_options_destroy(ro->db, ro->names, ro->cf, ro->n_cf);
	if (ro->cache != NULL)
		rocksdb_cache_destroy(ro->cache);
	if (ro->env != NULL)
		rocksdb_env_destroy(ro->env);
	memset(ro, 0, sizeof(*ro));
}

static int
raw_opts_load(const char *dir, struct raw_opts *ro)
{
	char *rerr = NULL;

	memset(ro, 0, sizeof(*ro));
	ro->cache = rocksdb_cache_create_lru((size_t)STORE_CACHE_MB << 20);
	ro->env = rocksdb_create_default_env();
	rocksdb_load_latest_options(dir, ro->env, true, ro->cache, &ro->db, &ro->n_cf, &ro->names,
				    &ro->cf, &rerr);
	if (rerr != NULL) {
		fprintf(stderr, "bench store: the options of %s: %s\n", dir, rerr);
		free(rerr);
		ro->db = NULL;
		raw_opts_free(ro);
		return -EIO;
	}
	return 0;
}

static int
raw_cf_index(const struct raw_opts *ro, const char *name)
{
	for (size_t i = 0; i < ro->n_cf; i++)
		if (strcmp(ro->names[i], name) == 0)
			return (int)i;
	return -1;
}

/* Read back every observation and alarm vigil wrote into @p dir. */
static int
raw_read_back(const char *dir, struct raw_bytes *b)
{
	rocksdb_column_family_handle_t *h[16] = {NULL};
	rocksdb_readoptions_t *rdo = NULL;
	rocksdb_iterator_t *it = NULL;
	unsigned long found = 0;
	struct raw_opts ro;
	rocksdb_t *db = NULL;
	char *rerr = NULL;
	int obs_cf, alarms_cf, rc;

	rc = raw_opts_load(dir, &ro);
	if (rc != 0)
		return rc;
	obs_cf = raw_cf_index(&ro, "obs");
	alarms_cf = raw_cf_index(&ro, "alarms");
	if (obs_cf < 0 || alarms_cf < 0 || ro.n_cf > 16) {
		rc = -EPROTO;
		goto out;
	}
	db = rocksdb_open_for_read_only_column_families(
		ro.db, dir, (int)ro.n_cf, (const char *const *)ro.names,
		(const rocksdb_options_t *const *)ro.cf, h, 0, &rerr);
	if (rerr != NULL) {
		fprintf(stderr, "bench store: opening %s with RocksDB alone: %s\n", dir, rerr);
		rc = -EIO;
		goto out;
	}
	memset(b->val_len, 0, b->n);
	rdo = rocksdb_readoptions_create();
	it = rocksdb_create_iterator_cf(db, rdo, h[obs_cf]);
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
		uint32_t seq;

		if (kl != STORE_KEY_LEN || vl == 0 || vl > STORE_VAL_MAX) {
			rc = -EPROTO;
			goto out;
		}
		seq = (uint32_t)k[16] << 24 | (uint32_t)k[17] << 16 | (uint32_t)k[18] << 8 | k[19];
		if (seq >= b->n || b->val_len[seq] != 0) {
			rc = -EPROTO;
			goto out;
		}
		memcpy(b->keys + (size_t)seq * STORE_KEY_LEN, k, STORE_KEY_LEN);
		memcpy(b->vals + (size_t)seq * STORE_VAL_MAX, v, vl);
		b->val_len[seq] = (uint8_t)vl;
		found++;
	}
	rocksdb_iter_destroy(it);
	it = rocksdb_create_iterator_cf(db, rdo, h[alarms_cf]);
	b->alarms = 0;
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it) && b->alarms < b->alarm_room;
	     rocksdb_iter_next(it)) {
		size_t kl, vl;
		const char *v = rocksdb_iter_value(it, &vl);

		(void)rocksdb_iter_key(it, &kl);
		if (kl != 8 || vl > sizeof(b->alarm_vals[0])) {
			rc = -EPROTO;
			goto out;
		}
		memcpy(b->alarm_vals[b->alarms], v, vl);
		b->alarm_len[b->alarms++] = vl;
	}
	if (found != b->n) {
		fprintf(stderr, "bench store: %s holds %lu observations, %lu were written\n", dir,
			found, b->n);
		rc = -EPROTO;
	}
out:
	if (it != NULL)
		rocksdb_iter_destroy(it);
	if (rdo != NULL)
		rocksdb_readoptions_destroy(rdo);
	for (size_t i = 0; i < ro.n_cf && i < 16; i++)
		if (h[i] != NULL)
			rocksdb_column_family_handle_destroy(h[i]);
	if (db != NULL)
		rocksdb_close(db);
	free(rerr);
	raw_opts_free(&ro);
	return rc;
}

struct raw_run {
	double obs_ns[STORE_N_BATCHES];
	double *alarm_ns; /* per synced put */
};

/*
 * A fresh database in @p dir with the options of @p like_dir: the bytes of
 * @p b in WriteBatches of each batch size (a database each), then the
 * alarms synced in the last one.
 */
static int
raw_write(const char *like_dir, const char *dir, const struct raw_bytes *b, struct raw_run *r)
{
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_writeoptions_t *ws = rocksdb_writeoptions_create();
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	struct raw_opts ro = {0};
	char *rerr = NULL;
	int rc;

	rocksdb_writeoptions_set_sync(wo, 0);
	rocksdb_writeoptions_set_sync(ws, 1);
	rc = raw_opts_load(like_dir, &ro);
	if (rc != 0)
		goto out;
	rocksdb_options_set_create_if_missing(ro.db, 1);
	rocksdb_options_set_create_missing_column_families(ro.db, 1);
	for (unsigned bi = 0; bi < STORE_N_BATCHES && rc == 0; bi++) {
		rocksdb_column_family_handle_t *h[16] = {NULL};
		int obs_cf = raw_cf_index(&ro, "obs"), alarms_cf = raw_cf_index(&ro, "alarms");
		unsigned batch = store_batches[bi], in_batch = 0;
		rocksdb_t *db;
		double t0, t1;

		if (obs_cf < 0 || alarms_cf < 0 || ro.n_cf > 16) {
			rc = -EPROTO;
			break;
		}
		bench_rm_tree(dir);
		db = rocksdb_open_column_families(
			ro.db, dir, (int)ro.n_cf, (const char *const *)ro.names,
			(const rocksdb_options_t *const *)ro.cf, h, &rerr);
		if (rerr != NULL) {
			fprintf(stderr, "bench store: RocksDB alone in %s: %s\n", dir, rerr);
			rc = -EIO;
			break;
		}
		t0 = now_ns();
		for (unsigned long i = 0; i < b->n && rerr == NULL; i++) {
			rocksdb_writebatch_put_cf(
				wb, h[obs_cf], (const char *)b->keys + i * STORE_KEY_LEN,
				STORE_KEY_LEN, (const char *)b->vals + i * STORE_VAL_MAX,
				b->val_len[i]);
			if (++in_batch == batch) {
				rocksdb_write(db, wo, wb, &rerr);
				rocksdb_writebatch_clear(wb);
				in_batch = 0;
			}
		}
		if (in_batch > 0 && rerr == NULL) {
			rocksdb_write(db, wo, wb, &rerr);
			rocksdb_writebatch_clear(wb);
		}
		t1 = now_ns();
		r->obs_ns[bi] = t1 - t0;
		for (unsigned i = 0; bi == 0 && i < b->alarms && rerr == NULL; i++) {
			uint8_t key[8];

			for (int k = 0; k < 8; k++)
				key[k] = (uint8_t)((uint64_t)(i + 1) >> (56 - 8 * k));
			t0 = now_ns();
			rocksdb_put_cf(db, ws, h[alarms_cf], (const char *)key, sizeof(key),
				       (const char *)b->alarm_vals[i], b->alarm_len[i], &rerr);
			r->alarm_ns[i] = now_ns() - t0;
		}
		if (rerr != NULL) {
			fprintf(stderr, "bench store: RocksDB alone, writing: %s\n", rerr);
			rc = -EIO;
		}
		for (size_t i = 0; i < ro.n_cf; i++)
			if (h[i] != NULL)
				rocksdb_column_family_handle_destroy(h[i]);
		rocksdb_close(db);
	}
out:
	free(rerr);
	raw_opts_free(&ro);
	rocksdb_writebatch_destroy(wb);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_writeoptions_destroy(ws);
	bench_rm_tree(dir);
	return rc;
}

/* The disk alone: @p n appends of the alarm values' sizes, each followed by fdatasync. */
static int
fsync_baseline(const char *dir, const struct raw_bytes *b, double *ns)
{
	char path[PATH_MAX];
	off_t off = 0;
	int fd, rc = 0;

	if (snprintf(path, sizeof(path), "%s/fsync-baseline", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (unsigned i = 0; i < b->alarms; i++) {
		double t0 = now_ns();

		if (pwrite(fd, b->alarm_vals[i], b->alarm_len[i], off) !=
			    (ssize_t)b->alarm_len[i] ||
		    fdatasync(fd) != 0) {
			rc = -errno;
			break;
		}
		ns[i] = now_ns() - t0;
		off += (off_t)b->alarm_len[i];
	}
	close(fd);
	unlink(path);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The scenario                                                              */
/* ------------------------------------------------------------------------ */

static int
write_key_file(const char *path)
{
	uint8_t key[32];
	FILE *f;
	int fd, rc = 0;

	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0x5a ^ (i * 37u));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return -errno;
	}
	fprintf(f, "# vigil-bench's key: not secret\n%u ", STORE_SEAL_KEY_ID);
	for (unsigned i = 0; i < sizeof(key); i++)
		fprintf(f, "%02x", key[i]);
	fputc('\n', f);
	if (fclose(f) != 0)
		rc = -errno;
	return rc;
}

struct store_result {
	double vigil_ns[STORE_N_BATCHES][BENCH_MAX_RUNS]; /* per observation */
	double raw_ns[STORE_N_BATCHES][BENCH_MAX_RUNS];
	double sealed_ns[BENCH_MAX_RUNS];
	double *alarm, *raw_alarm, *fsync; /* every sample of every run */
	size_t n_alarm;
};

static void
print_text(const struct bench_store_opts *o, const struct store_result *res, const char *dir,
	   const char *fs, const char *dev, unsigned runs, double *lat[3])
{
	double m_seal, m_plain;

	for (unsigned bi = 0; bi < STORE_N_BATCHES; bi++) {
		double mv = median(res->vigil_ns[bi], runs), mr = median(res->raw_ns[bi], runs);
		double lo, hi;

		min_max(res->vigil_ns[bi], runs, &lo, &hi);
		printf("observations, batch %u: median %.3f M/s (%.0f ns each; runs %.3f to "
		       "%.3f M/s); RocksDB alone, WriteBatch of %u: %.3f M/s (%.0f ns); ratio "
		       "%.2f\n",
		       store_batches[bi], 1e3 / mv, mv, 1e3 / hi, 1e3 / lo, store_batches[bi],
		       1e3 / mr, mr, mv / mr);
	}
	m_seal = median(res->sealed_ns, runs);
	m_plain = median(res->vigil_ns[0], runs);
	printf("sealed (AES-256-GCM), batch %u: median %.3f M/s (%.0f ns each); ratio sealed / "
	       "plain %.2f\n",
	       store_batches[0], 1e3 / m_seal, m_seal, m_seal / m_plain);
	printf("synced alarm put (%zu samples): p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
	       res->n_alarm, percentile(lat[0], res->n_alarm, 50) / 1e6,
	       percentile(lat[0], res->n_alarm, 99) / 1e6,
	       percentile(lat[0], res->n_alarm, 100) / 1e6);
	printf("RocksDB alone, synced put:        p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
	       percentile(lat[1], res->n_alarm, 50) / 1e6,
	       percentile(lat[1], res->n_alarm, 99) / 1e6,
	       percentile(lat[1], res->n_alarm, 100) / 1e6);
	printf("append + fdatasync of as many bytes: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
	       percentile(lat[2], res->n_alarm, 50) / 1e6,
	       percentile(lat[2], res->n_alarm, 99) / 1e6,
	       percentile(lat[2], res->n_alarm, 100) / 1e6);
	printf("target: at least 1,000,000 observations/s batched on one core: %s (batch %u: "
	       "%.3f M/s)\n",
	       1e3 / m_plain >= 1.0 ? "met" : "NOT met", store_batches[0], 1e3 / m_plain);
	printf("checks: in every run every counter matched what was written, and the %lu "
	       "observations vigil wrote were read back with RocksDB alone (%s, %s: %s)\n",
	       o->obs, dir, fs, dev);
}

static void
print_json(const struct bench_store_opts *o, const struct store_result *res, const char *fs,
	   unsigned runs, double *lat[3])
{
	static const char *const lat_names[3] = {"alarm_put", "rocksdb_synced_put",
						 "append_fdatasync"};

	printf("{\"scenario\":\"store\",\"runs\":%u,\"observations\":%lu,\"alarms\":%u,"
	       "\"filesystem\":\"%s\",\"batches\":[",
	       runs, o->obs, o->alarms, fs);
	for (unsigned bi = 0; bi < STORE_N_BATCHES; bi++) {
		double mv = median(res->vigil_ns[bi], runs), mr = median(res->raw_ns[bi], runs);

		printf("%s{\"batch\":%u,\"obs_per_s\":%.0f,\"ns_per_obs\":%.1f,"
		       "\"rocksdb_obs_per_s\":%.0f,\"rocksdb_ns_per_obs\":%.1f,\"ratio\":%.3f}",
		       bi ? "," : "", store_batches[bi], 1e9 / mv, mv, 1e9 / mr, mr, mv / mr);
	}
	printf("],\"sealed\":{\"batch\":%u,\"obs_per_s\":%.0f,\"ratio_sealed_plain\":%.3f}",
	       store_batches[0], 1e9 / median(res->sealed_ns, runs),
	       median(res->sealed_ns, runs) / median(res->vigil_ns[0], runs));
	for (unsigned k = 0; k < 3; k++)
		printf(",\"%s_ms\":{\"p50\":%.4f,\"p99\":%.4f,\"max\":%.4f}", lat_names[k],
		       percentile(lat[k], res->n_alarm, 50) / 1e6,
		       percentile(lat[k], res->n_alarm, 99) / 1e6,
		       percentile(lat[k], res->n_alarm, 100) / 1e6);
	printf(",\"checks_ok\":true}\n");
}

int
bench_store(const struct bench_store_opts *o)
{
	unsigned runs = o->runs > BENCH_MAX_RUNS ? BENCH_MAX_RUNS : o->runs;
	char base[PATH_MAX], vdir[PATH_MAX], rdir[PATH_MAX], key_file[PATH_MAX];
	char fs[64], dev[1200];
	const char *parent = o->dir;
	struct store_result res;
	struct raw_bytes b = {0};
	struct store_obs *obs = NULL;
	int64_t *alarm_t = NULL;
	struct timespec ts;
	double *lat[3];
	int rc = 0;

	memset(&res, 0, sizeof(res));
	if (parent == NULL) {
		parent = getenv("TMPDIR");
		if (parent == NULL || parent[0] == '\0')
			parent = "/var/tmp";
	}
	if (snprintf(base, sizeof(base), "%s/vigil-bench-store-XXXXXX", parent) >=
	    (int)sizeof(base)) {
		fprintf(stderr, "bench store: %s: name too long\n", parent);
		return -ENAMETOOLONG;
	}
	if (mkdtemp(base) == NULL) {
		rc = -errno;
		fprintf(stderr, "bench store: cannot make a directory under %s: %s\n", parent,
			strerror(errno));
		return rc;
	}
	dir_fs(base, fs, sizeof(fs), dev, sizeof(dev));
	if (snprintf(vdir, sizeof(vdir), "%s/vigil", base) >= (int)sizeof(vdir) ||
	    snprintf(rdir, sizeof(rdir), "%s/rocksdb", base) >= (int)sizeof(rdir) ||
	    snprintf(key_file, sizeof(key_file), "%s/keys", base) >= (int)sizeof(key_file)) {
		rc = -ENAMETOOLONG;
		goto out;
	}

	clock_gettime(CLOCK_REALTIME, &ts);
	obs = calloc(o->obs, sizeof(*obs));
	alarm_t = calloc(o->alarms, sizeof(*alarm_t));
	b.n = o->obs;
	b.keys = malloc(o->obs * STORE_KEY_LEN);
	b.vals = malloc(o->obs * STORE_VAL_MAX);
	b.val_len = malloc(o->obs);
	b.alarm_vals = calloc(o->alarms, sizeof(*b.alarm_vals));
	b.alarm_len = calloc(o->alarms, sizeof(*b.alarm_len));
	b.alarm_room = o->alarms;
	res.alarm = calloc((size_t)o->alarms * runs, sizeof(double));
	res.raw_alarm = calloc((size_t)o->alarms * runs, sizeof(double));
	res.fsync = calloc((size_t)o->alarms * runs, sizeof(double));
	if (obs == NULL || alarm_t == NULL || b.keys == NULL || b.vals == NULL ||
	    b.val_len == NULL || b.alarm_vals == NULL || b.alarm_len == NULL || res.alarm == NULL ||
	    res.raw_alarm == NULL || res.fsync == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* Times an hour back: well inside every retention. */
	make_obs(obs, o->obs, ((int64_t)ts.tv_sec - 3600) * 1000000000);
	for (unsigned i = 0; i < o->alarms; i++)
		alarm_t[i] = ((int64_t)ts.tv_sec - 3600 + i) * 1000000000;
	rc = write_key_file(key_file);
	if (rc != 0)
		goto out;
	if (!o->json) {
		printf("# %s\n", o->command);
		printf("# in %s (%s, %s); %lu observations from %u devices per run and batch "
		       "size, %u synced alarms per run, %u run(s); RocksDB's threads share the "
		       "writer's CPU\n",
		       base, fs, dev, o->obs, STORE_DEVICES, o->alarms, runs);
	}

	for (unsigned r = 0; r < runs && rc == 0; r++) {
		struct vigil_run vr;
		struct raw_run rr;

		for (unsigned bi = 0; bi < STORE_N_BATCHES && rc == 0; bi++) {
			unsigned batch = store_batches[bi];
			bool first = bi == 0;

			memset(&vr, 0, sizeof(vr));
			vr.alarms = first ? o->alarms : 0;
			vr.alarm_ns = res.alarm + (size_t)r * o->alarms;
			bench_rm_tree(vdir);
			rc = vigil_obs(vdir, batch, NULL, obs, o->obs, alarm_t, vr.alarms, &vr);
			if (rc == 0)
				rc = vigil_check(&vr, o->obs, batch, false, "plain");
			if (rc != 0)
				break;
			res.vigil_ns[bi][r] = vr.obs_ns / (double)o->obs;
			/* The bytes vigil wrote, for RocksDB alone. */
			if (first && r == 0) {
				rc = raw_read_back(vdir, &b);
				if (rc == 0 && b.alarms != o->alarms)
					rc = -EPROTO;
			}
		}
		if (rc != 0)
			break;
		/* RocksDB alone, with the options of vigil's last store. */
		rr.alarm_ns = res.raw_alarm + (size_t)r * o->alarms;
		rc = raw_write(vdir, rdir, &b, &rr);
		if (rc != 0)
			break;
		for (unsigned bi = 0; bi < STORE_N_BATCHES; bi++)
			res.raw_ns[bi][r] = rr.obs_ns[bi] / (double)o->obs;
		rc = fsync_baseline(base, &b, res.fsync + (size_t)r * o->alarms);
		if (rc != 0)
			break;
		/* Sealed. */
		memset(&vr, 0, sizeof(vr));
		bench_rm_tree(vdir);
		rc = vigil_obs(vdir, store_batches[0], key_file, obs, o->obs, alarm_t, 0, &vr);
		if (rc == 0)
			rc = vigil_check(&vr, o->obs, store_batches[0], true, "sealed");
		if (rc != 0)
			break;
		res.sealed_ns[r] = vr.obs_ns / (double)o->obs;
		bench_rm_tree(vdir);
		if (!o->json)
			printf("run %u: batch %u %.3f M obs/s (RocksDB alone %.3f), batch %u %.3f "
			       "(%.3f), sealed %.3f; alarm put p50 %.3f ms\n",
			       r + 1, store_batches[0], 1e3 / res.vigil_ns[0][r],
			       1e3 / res.raw_ns[0][r], store_batches[1], 1e3 / res.vigil_ns[1][r],
			       1e3 / res.raw_ns[1][r], 1e3 / res.sealed_ns[r],
			       percentile(res.alarm + (size_t)r * o->alarms, o->alarms, 50) / 1e6);
	}
	if (rc != 0)
		goto out;
	res.n_alarm = (size_t)o->alarms * runs;
	lat[0] = res.alarm;
	lat[1] = res.raw_alarm;
	lat[2] = res.fsync;
	if (o->json)
		print_json(o, &res, fs, runs, lat);
	else
		print_text(o, &res, base, fs, dev, runs, lat);
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = -EIO;
out:
	bench_rm_tree(base);
	free(obs);
	free(alarm_t);
	free(b.keys);
	free(b.vals);
	free(b.val_len);
	free(b.alarm_vals);
	free(b.alarm_len);
	free(res.alarm);
	free(res.raw_alarm);
	free(res.fsync);
	return rc;
}
