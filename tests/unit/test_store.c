/*
 * test_store.c - the store itself (storage/store.c, key.c, value.c,
 * write.c): opening, the operator's messages, batching and durability,
 * ids that continue after a reopen, meta, counters, and the encodings.
 *
 * Every database lives in a directory of its own under one mkdtemp()
 * directory that the suite removes when it ends. Records are read back
 * with RocksDB's C API on the store's own handles (the test sees
 * store_private.h) and opened with store_value_open, so these tests do not
 * depend on query.c; one test at the end uses store_query_obs as well.
 * Time is the test's clock (fake_now), never the machine's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "cunit_main.h"
#include "store_private.h"

#define NS 1000000000LL
#define T0 (1700000000LL * NS) /* the fake clock's start */

static char tmp_dir[64];
static _Atomic int64_t fake_now = T0;

static const char key_a[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char key_b[] = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
static const char key_c[] = "5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f";

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static int64_t
fake_clock(void *arg)
{
	(void)arg;
	return atomic_load(&fake_now);
}

/* A path in the suite's directory (a few rotating buffers: paths are used in pairs). */
static const char *
tmp_path(const char *name)
{
	static char path[4][160];
	static unsigned next;
	char *p = path[next++ % 4];

	snprintf(p, sizeof(path[0]), "%s/%s", tmp_dir, name);
	return p;
}

/* The same, into the caller's buffer (for a path kept across calls). */
static void
set_path(char out[160], const char *name)
{
	snprintf(out, 160, "%s/%s", tmp_dir, name);
}

static void
opts_for(struct store_opts *o, const char *dir, enum store_mode mode)
{
	store_opts_defaults(o);
	o->dir = dir;
	o->mode = mode;
	o->block_cache_mb = 8;
	o->write_buffer_mb = 4;
	o->clock = fake_clock;
	if (mode == STORE_SECONDARY)
		o->secondary_dir = tmp_path("secondary");
}

static struct store *
open_ok(const char *dir, enum store_mode mode)
{
	struct store_opts o;
	struct store *s = NULL;
	char err[512] = "";
	int rc;

	opts_for(&o, dir, mode);
	rc = store_open(&o, &s, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "store_open %s: %d %s\n", dir, rc, err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	return s;
}

/* Open that must fail with @want; the message must name the directory. */
static void
open_fails(const struct store_opts *o, int want, const char *needle, char *err, size_t errlen)
{
	struct store *s = (struct store *)1;
	int rc = store_open(o, &s, err, errlen);

	if (rc != want)
		fprintf(stderr, "store_open %s: %d (want %d) %s\n", o->dir, rc, want, err);
	CU_ASSERT_EQUAL(rc, want);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, o->dir));
	if (needle != NULL) {
		if (strstr(err, needle) == NULL)
			fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err, needle);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, needle));
	}
	if (rc == 0)
		store_close(s);
}

static uint64_t
counter(struct store *s, enum store_counter c)
{
	uint64_t cnt[STORE_CNT__COUNT];

	store_counters(s, cnt);
	return cnt[c];
}

/* The raw value under @key in @cf: its length, -ENOENT, or -EIO. */
static int
get_raw(struct store *s, enum store_cf cf, const void *key, size_t klen, uint8_t *out, size_t room)
{
	char *rerr = NULL, *v;
	size_t vlen;

	v = rocksdb_get_cf(s->db, s->ro, s->cf[cf], key, klen, &vlen, &rerr);
	if (rerr != NULL) {
		rocksdb_free(rerr);
		return -EIO;
	}
	if (v == NULL)
		return -ENOENT;
	if (vlen <= room)
		memcpy(out, v, vlen);
	rocksdb_free(v);
	return (int)vlen;
}

/* Read observation (device, time, seq) back; 0 or -ENOENT or the open's error. */
static int
get_obs(struct store *s, uint64_t device, int64_t time_ns, uint32_t seq, struct store_obs *o)
{
	uint8_t key[STORE_KEY_OBS], val[128], rec[STORE_OBS_REC];
	int64_t t = 0;
	int n;

	store_key_obs(key, device, time_ns, seq);
	n = get_raw(s, STORE_CF_OBS, key, sizeof(key), val, sizeof(val));
	if (n < 0)
		return n;
	n = store_value_open(s, key, sizeof(key), val, (size_t)n, &t, rec, sizeof(rec));
	if (n < 0)
		return n;
	CU_ASSERT_EQUAL(n, STORE_OBS_REC);
	CU_ASSERT_EQUAL(t, time_ns);
	store_obs_decode(rec, o);
	return 0;
}

/* Read record @id of alarms or audit into @out (NUL-terminated); its length or an error. */
static int
get_json(struct store *s, enum store_cf cf, uint64_t id, char *out, size_t room, int64_t *t)
{
	static uint8_t val[STORE_VALUE_HDR + STORE_RECORD_MAX + STORE_SEAL_OVERHEAD];
	uint8_t key[STORE_KEY_ID];
	int n;

	store_key_id(key, id);
	n = get_raw(s, cf, key, sizeof(key), val, sizeof(val));
	if (n < 0)
		return n;
	n = store_value_open(s, key, sizeof(key), val, (size_t)n, t, out, room - 1);
	if (n >= 0 && (size_t)n < room)
		out[n] = '\0';
	return n;
}

static struct store_obs
obs(uint64_t device, int64_t time_ns, uint32_t seq, double value)
{
	struct store_obs o = {
		.device = device,
		.time_ns = time_ns,
		.seq = seq,
		.code = 150456, /* MDC_PULS_OXIM_SAT_O2 */
		.unit = 262688, /* MDC_DIM_PERCENT */
		.flags = seq & 0xff,
		.value = value,
	};
	return o;
}

/* Write @text to @name with @mode; @return its path. */
static const char *
write_file(const char *name, const char *text, mode_t mode)
{
	const char *path = tmp_path(name);
	size_t len = strlen(text);
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, text, len) == (ssize_t)len);
	CU_ASSERT_FATAL(fchmod(fd, mode) == 0);
	close(fd);
	return path;
}

/* Flush every column family's memtable to an SST file. */
static void
flush_memtables(struct store *s)
{
	rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
	char *rerr = NULL;

	rocksdb_flushoptions_set_wait(fo, 1);
	for (unsigned i = 0; i < STORE_CF__COUNT; i++) {
		rocksdb_flush_cf(s->db, fo, s->cf[i], &rerr);
		CU_ASSERT_PTR_NULL(rerr);
		rocksdb_free(rerr);
		rerr = NULL;
	}
	rocksdb_flushoptions_destroy(fo);
}

/* A file of @dir named @prefix...@suffix (the first found), or NULL. */
static const char *
find_file(const char *dir, const char *prefix, const char *suffix)
{
	static char path[PATH_MAX + 256];
	const char *found = NULL;
	struct dirent *e;
	DIR *d = opendir(dir);
	size_t n, sl = strlen(suffix);

	if (d == NULL)
		return NULL;
	while (found == NULL && (e = readdir(d)) != NULL) {
		n = strlen(e->d_name);
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || n < sl ||
		    strcmp(e->d_name + n - sl, suffix) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		found = path;
	}
	closedir(d);
	return found;
}

/* Overwrite @len bytes of @path at @off with 'X'. */
static void
garble(const char *path, off_t off, size_t len)
{
	char junk[64];
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	CU_ASSERT_FATAL(fd >= 0 && len <= sizeof(junk));
	memset(junk, 'X', len);
	CU_ASSERT(pwrite(fd, junk, len, off) == (ssize_t)len);
	close(fd);
}

/* Copy directory @from to @to (cp -a). */
static void
copy_dir(const char *from, const char *to)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
	CU_ASSERT_FATAL(system(cmd) == 0);
}

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
suite_init(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/vigil-test-store-XXXXXX");
	return mkdtemp(tmp_dir) != NULL ? 0 : -1;
}

static int
suite_cleanup(void)
{
	return nftw(tmp_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------------ */
/* Names and encodings                                                       */
/* ------------------------------------------------------------------------ */

static void
test_names(void)
{
	struct store_opts o;

	for (unsigned i = 0; i < STORE_CNT__COUNT; i++) {
		CU_ASSERT(strlen(store_counter_name(i)) > 0);
		CU_ASSERT(strlen(store_counter_desc(i)) > 0);
		for (unsigned j = 0; j < i; j++)
			CU_ASSERT(strcmp(store_counter_name(i), store_counter_name(j)) != 0);
	}
	CU_ASSERT_STRING_EQUAL(store_counter_name(STORE_CNT_obs_written), "obs_written");
	CU_ASSERT_STRING_EQUAL(store_counter_name(STORE_CNT_bad_values), "bad_values");
	CU_ASSERT_STRING_EQUAL(store_counter_name(STORE_CNT__COUNT), "?");
	CU_ASSERT_STRING_EQUAL(store_cf_name(STORE_CF_OBS), "obs");
	CU_ASSERT_STRING_EQUAL(store_cf_name(STORE_CF_ALARMS), "alarms");
	CU_ASSERT_STRING_EQUAL(store_cf_name(STORE_CF_AUDIT), "audit");
	CU_ASSERT_STRING_EQUAL(store_cf_name(STORE_CF_META), "meta");
	CU_ASSERT_STRING_EQUAL(store_cf_name(STORE_CF__COUNT), "?");
	CU_ASSERT_STRING_EQUAL(store_durability_name(STORE_BUFFERED), "buffered");
	CU_ASSERT_STRING_EQUAL(store_durability_name(STORE_WAL), "wal");
	CU_ASSERT_STRING_EQUAL(store_durability_name(STORE_SYNCED), "synced");

	memset(&o, 0xa5, sizeof(o));
	store_opts_defaults(&o);
	CU_ASSERT_PTR_NULL(o.dir);
	CU_ASSERT_PTR_NULL(o.key_file);
	CU_ASSERT_PTR_NULL(o.clock);
	CU_ASSERT_EQUAL(o.mode, STORE_READ_WRITE);
	CU_ASSERT_EQUAL(o.compression, STORE_COMPRESS_LZ4);
	CU_ASSERT_EQUAL(o.batch_records, STORE_BATCH_RECORDS_DEFAULT);
	CU_ASSERT_EQUAL(o.batch_ms, STORE_BATCH_MS_DEFAULT);
	CU_ASSERT_EQUAL(o.retain_s[STORE_CF_OBS], 7 * 86400);
	CU_ASSERT_EQUAL(o.retain_s[STORE_CF_ALARMS], 365 * 86400);
	CU_ASSERT_EQUAL(o.retain_s[STORE_CF_AUDIT], 0);
	CU_ASSERT_EQUAL(o.retain_s[STORE_CF_META], 0);
}

static void
test_errno_map(void)
{
	CU_ASSERT_EQUAL(store_rocksdb_errno("IO error: No space left on device: While appending"),
			-ENOSPC);
	CU_ASSERT_EQUAL(store_rocksdb_errno("Corruption: block checksum mismatch"), -EUCLEAN);
	CU_ASSERT_EQUAL(store_rocksdb_errno("IO error: While lock file: /x/LOCK: Resource "
					    "temporarily unavailable"),
			-EBUSY);
	CU_ASSERT_EQUAL(store_rocksdb_errno("IO error: lock hold by current process"), -EBUSY);
	CU_ASSERT_EQUAL(store_rocksdb_errno("IO error: While open a file: /x/y: Permission denied"),
			-EACCES);
	CU_ASSERT_EQUAL(store_rocksdb_errno("Invalid argument: Column family not found: obs"),
			-EINVAL);
	CU_ASSERT_EQUAL(store_rocksdb_errno("NotFound: "), -ENOENT);
	CU_ASSERT_EQUAL(store_rocksdb_errno("Invalid argument: /x: does not exist"), -EINVAL);
	CU_ASSERT_EQUAL(store_rocksdb_errno("/x: does not exist (create_if_missing is false)"),
			-ENOENT);
	CU_ASSERT_EQUAL(store_rocksdb_errno("IO error: read failed"), -EIO);
	CU_ASSERT_EQUAL(store_rocksdb_errno("something else"), -EIO);
	CU_ASSERT_EQUAL(store_rocksdb_errno(NULL), -EIO);
}

/* memcmp order of encoded keys is (device, time as signed, seq) order. */
static void
test_key_order(void)
{
	static const struct {
		uint64_t device;
		int64_t t;
		uint32_t seq;
	} sorted[] = {
		{0, INT64_MIN, 0}, {1, INT64_MIN, 7},
		{1, -5 * NS, 0},   {1, -1, 0},
		{1, -1, 1},	   {1, -1, UINT32_MAX},
		{1, 0, 0},	   {1, 1, 0},
		{1, T0, 3},	   {1, INT64_MAX, 0},
		{2, INT64_MIN, 0}, {2, -1, 0},
		{0x100, 0, 0},	   {UINT64_MAX, INT64_MAX, UINT32_MAX},
	};
	enum { N = sizeof(sorted) / sizeof(sorted[0]) };
	uint8_t k[N][STORE_KEY_OBS], id[2][STORE_KEY_ID];

	for (unsigned i = 0; i < N; i++) {
		uint64_t dev;
		int64_t t;
		uint32_t seq;

		store_key_obs(k[i], sorted[i].device, sorted[i].t, sorted[i].seq);
		store_key_obs_parse(k[i], &dev, &t, &seq);
		CU_ASSERT_EQUAL(dev, sorted[i].device);
		CU_ASSERT_EQUAL(t, sorted[i].t);
		CU_ASSERT_EQUAL(seq, sorted[i].seq);
		if (i > 0)
			CU_ASSERT(memcmp(k[i - 1], k[i], STORE_KEY_OBS) < 0);
	}
	/* The layout itself: device big-endian, time with the sign bit flipped, seq. */
	store_key_obs(k[0], 0x0102030405060708ULL, 0, 0x0a0b0c0d);
	CU_ASSERT_EQUAL(k[0][0], 0x01);
	CU_ASSERT_EQUAL(k[0][7], 0x08);
	CU_ASSERT_EQUAL(k[0][8], 0x80);
	CU_ASSERT_EQUAL(k[0][15], 0x00);
	CU_ASSERT_EQUAL(k[0][16], 0x0a);
	CU_ASSERT_EQUAL(k[0][19], 0x0d);
	store_key_obs(k[0], 0, -1, 0);
	CU_ASSERT_EQUAL(k[0][8], 0x7f);
	CU_ASSERT_EQUAL(k[0][15], 0xff);

	store_key_id(id[0], 255);
	store_key_id(id[1], 256);
	CU_ASSERT(memcmp(id[0], id[1], STORE_KEY_ID) < 0);
	CU_ASSERT_EQUAL(store_rd64(id[1]), 256);
	CU_ASSERT_EQUAL(id[1][6], 1);

	store_be16(id[0], 0xabcd);
	CU_ASSERT_EQUAL(id[0][0], 0xab);
	CU_ASSERT_EQUAL(store_rd16(id[0]), 0xabcd);
	store_be32(id[0], 0x89abcdef);
	CU_ASSERT_EQUAL(id[0][0], 0x89);
	CU_ASSERT_EQUAL(store_rd32(id[0]), 0x89abcdef);
}

static uint64_t
bits_of(double v)
{
	uint64_t b;

	memcpy(&b, &v, sizeof(b));
	return b;
}

static double
double_of(uint64_t b)
{
	double v;

	memcpy(&v, &b, sizeof(v));
	return v;
}

static void
test_obs_records(void)
{
	const uint64_t values[] = {
		bits_of(97.5),
		bits_of(-0.0),
		bits_of(INFINITY),
		bits_of(NAN),
		UINT64_C(0x7ff8000000000123), /* a quiet NaN with a payload */
		UINT64_C(0xfff4000000000001), /* a signalling NaN, negative */
		bits_of(4.9e-324),	      /* the smallest subnormal */
	};
	uint8_t rec[STORE_OBS_REC];
	struct store_obs in, out;

	for (unsigned i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		in = obs(42, -3, 9, double_of(values[i]));
		in.flags = 0x80000001u + i;
		memset(&out, 0, sizeof(out));
		store_obs_encode(&in, rec);
		store_obs_decode(rec, &out);
		CU_ASSERT_EQUAL(bits_of(out.value), values[i]);
		CU_ASSERT_EQUAL(out.code, in.code);
		CU_ASSERT_EQUAL(out.unit, in.unit);
		CU_ASSERT_EQUAL(out.flags, in.flags);
		CU_ASSERT_EQUAL(out.device, 0); /* from the key, not the record */
		CU_ASSERT_EQUAL(out.time_ns, 0);
	}
	in = obs(1, 0, 0, NAN);
	store_obs_encode(&in, rec);
	store_obs_decode(rec, &out);
	CU_ASSERT(isnan(out.value));

	/* The layout: code . value bits . unit . flags, big-endian. */
	in.code = 0x01020304;
	in.value = double_of(UINT64_C(0x1112131415161718));
	in.unit = 0x21222324;
	in.flags = 0x31323334;
	store_obs_encode(&in, rec);
	CU_ASSERT_EQUAL(rec[0], 0x01);
	CU_ASSERT_EQUAL(rec[3], 0x04);
	CU_ASSERT_EQUAL(rec[4], 0x11);
	CU_ASSERT_EQUAL(rec[11], 0x18);
	CU_ASSERT_EQUAL(rec[12], 0x21);
	CU_ASSERT_EQUAL(rec[16], 0x31);
	CU_ASSERT_EQUAL(rec[19], 0x34);
}

/* The value format, with a store that has no keys (no database needed). */
static void
test_value_plain(void)
{
	struct store *s = calloc(1, sizeof(*s));
	const uint8_t key[] = "k";
	uint8_t val[64], out[64];
	int64_t t = 0;
	int n, m;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_value_size(s, 5), STORE_VALUE_HDR + 5);
	n = store_value_make(s, key, 1, -2 * NS, "hello", 5, val, sizeof(val));
	CU_ASSERT_EQUAL_FATAL(n, STORE_VALUE_HDR + 5);
	CU_ASSERT_EQUAL(val[0], STORE_VALUE_FORMAT);
	CU_ASSERT_EQUAL(val[1], 0);
	CU_ASSERT_EQUAL(store_rd16(val + 2), 0);
	CU_ASSERT_EQUAL(store_rd64(val + 4), (uint64_t)(-2 * NS));
	CU_ASSERT(memcmp(val + STORE_VALUE_HDR, "hello", 5) == 0);
	CU_ASSERT(store_value_time(val, (size_t)n, &t));
	CU_ASSERT_EQUAL(t, -2 * NS);

	m = store_value_open(s, key, 1, val, (size_t)n, &t, out, sizeof(out));
	CU_ASSERT_EQUAL(m, 5);
	CU_ASSERT(memcmp(out, "hello", 5) == 0);
	/* Too little room: the length, nothing copied. */
	memset(out, 0, sizeof(out));
	CU_ASSERT_EQUAL(store_value_open(s, key, 1, val, (size_t)n, NULL, out, 4), 5);
	CU_ASSERT_EQUAL(out[0], 0);
	CU_ASSERT_EQUAL(store_value_make(s, key, 1, 0, "hello", 5, val, STORE_VALUE_HDR + 4),
			-ENOSPC);
	/* An empty record. */
	n = store_value_make(s, key, 1, 7, NULL, 0, val, sizeof(val));
	CU_ASSERT_EQUAL(n, STORE_VALUE_HDR);
	CU_ASSERT_EQUAL(store_value_open(s, key, 1, val, (size_t)n, &t, NULL, 0), 0);
	CU_ASSERT_EQUAL(t, 7);

	/* Headers vigil cannot read: counted, never returned. */
	n = store_value_make(s, key, 1, 7, "x", 1, val, sizeof(val));
	val[0] = 2;
	CU_ASSERT_FALSE(store_value_time(val, (size_t)n, &t));
	CU_ASSERT_EQUAL(store_value_open(s, key, 1, val, (size_t)n, &t, out, sizeof(out)), -EPROTO);
	val[0] = STORE_VALUE_FORMAT;
	val[1] = 0x02;
	CU_ASSERT_EQUAL(store_value_open(s, key, 1, val, (size_t)n, &t, out, sizeof(out)), -EPROTO);
	val[1] = 0;
	val[3] = 1; /* a key id on a plain value */
	CU_ASSERT_EQUAL(store_value_open(s, key, 1, val, (size_t)n, &t, out, sizeof(out)), -EPROTO);
	CU_ASSERT_EQUAL(store_value_open(s, key, 1, val, STORE_VALUE_HDR - 1, &t, out, sizeof(out)),
			-EPROTO);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_bad_values), 4);
	/* Sealed, but this store has no keys. */
	memset(val + STORE_VALUE_HDR, 0, STORE_SEAL_OVERHEAD + 1);
	val[1] = STORE_VALUE_SEALED;
	CU_ASSERT_EQUAL(store_value_open(s, key, 1, val, STORE_VALUE_HDR + STORE_SEAL_OVERHEAD + 1,
					 &t, out, sizeof(out)),
			-ENOKEY);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unknown_key), 1);
	/* Sealed and shorter than a nonce and a tag. */
	CU_ASSERT_EQUAL(store_value_open(s, key, 1, val, STORE_VALUE_HDR + STORE_SEAL_OVERHEAD - 1,
					 &t, out, sizeof(out)),
			-EPROTO);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_bad_values), 5);
	free(s);
}

/* ------------------------------------------------------------------------ */
/* Opening                                                                   */
/* ------------------------------------------------------------------------ */

static void
test_opts_refused(void)
{
	struct store_opts o;
	struct store *s = NULL;
	char err[256];

	store_opts_defaults(&o);
	CU_ASSERT_EQUAL(store_open(&o, &s, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT(strlen(err) > 0);
	opts_for(&o, tmp_path("refused"), STORE_SECONDARY);
	o.secondary_dir = NULL;
	open_fails(&o, -EINVAL, "secondary", err, sizeof(err));
	opts_for(&o, tmp_path("refused"), STORE_READ_WRITE);
	o.compression = (enum store_compression)9;
	open_fails(&o, -EINVAL, "compression", err, sizeof(err));
	opts_for(&o, tmp_path("refused"), STORE_READ_WRITE);
	o.retain_s[STORE_CF_OBS] = -1;
	open_fails(&o, -EINVAL, "obs", err, sizeof(err));
	CU_ASSERT_FALSE(exists(tmp_path("refused")));
	/* A file where the directory should be. */
	write_file("afile", "x", 0600);
	opts_for(&o, tmp_path("afile"), STORE_READ_WRITE);
	open_fails(&o, -ENOTDIR, "not a directory", err, sizeof(err));
}

static void
test_create_reopen(void)
{
	char dir[160];
	struct store *s, *ro, *sec;
	struct store_obs got;
	char buf[16];

	set_path(dir, "create");
	CU_ASSERT_FALSE(exists(dir));
	s = open_ok(dir, STORE_READ_WRITE);
	CU_ASSERT(exists(tmp_path("create/CURRENT")));
	CU_ASSERT_EQUAL(store_meta_get(s, "schema_version", buf, sizeof(buf)), 1);
	CU_ASSERT_STRING_EQUAL(buf, "1");
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_meta_written), 1);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 1);
	CU_ASSERT_EQUAL(store_seal_key_id(s), 0);
	CU_ASSERT_EQUAL(store_obs_add(s, &(struct store_obs){.device = 3, .time_ns = 5}, NULL), 0);
	CU_ASSERT_EQUAL(store_flush(s), 0);

	/* A read-only and a secondary open while the writer has it. */
	ro = open_ok(dir, STORE_READ_ONLY);
	CU_ASSERT_EQUAL(get_obs(ro, 3, 5, 0, &got), 0);
	CU_ASSERT_EQUAL(store_meta_get(ro, "schema_version", buf, sizeof(buf)), 1);
	CU_ASSERT_EQUAL(store_obs_add(ro, &got, NULL), -EROFS);
	CU_ASSERT_EQUAL(store_alarm_put(ro, 1, 0, "{}", 2, NULL), -EROFS);
	CU_ASSERT_EQUAL(store_audit_append(ro, 0, "{}", 2, NULL, NULL), -EROFS);
	CU_ASSERT_EQUAL(store_meta_put(ro, "x", "y", 1), -EROFS);
	CU_ASSERT_EQUAL(store_flush(ro), -EROFS);
	CU_ASSERT_EQUAL(store_tick(ro, T0), -EROFS);
	store_close(ro);
	sec = open_ok(dir, STORE_SECONDARY);
	CU_ASSERT_EQUAL(get_obs(sec, 3, 5, 0, &got), 0);
	CU_ASSERT_EQUAL(store_obs_add(sec, &got, NULL), -EROFS);
	store_close(sec);
	store_close(s);

	s = open_ok(dir, STORE_READ_WRITE);
	CU_ASSERT_EQUAL(store_meta_get(s, "schema_version", buf, sizeof(buf)), 1);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_meta_written), 0); /* not written again */
	CU_ASSERT_EQUAL(get_obs(s, 3, 5, 0, &got), 0);
	store_close(s);
	store_close(NULL);
}

static void
test_missing(void)
{
	struct store_opts o;
	char err[512];

	opts_for(&o, tmp_path("missing"), STORE_READ_ONLY);
	open_fails(&o, -ENOENT, "no such directory", err, sizeof(err));
	opts_for(&o, tmp_path("missing"), STORE_SECONDARY);
	open_fails(&o, -ENOENT, "no such directory", err, sizeof(err));
	CU_ASSERT_FALSE(exists(tmp_path("missing"))); /* nothing created on the way */

	/* A directory without a database: not touched. */
	CU_ASSERT_FATAL(mkdir(tmp_path("empty"), 0700) == 0);
	opts_for(&o, tmp_path("empty"), STORE_READ_ONLY);
	open_fails(&o, -ENOENT, "no database here", err, sizeof(err));
	CU_ASSERT_FALSE(exists(tmp_path("empty/LOG")));
	CU_ASSERT_EQUAL(rmdir(tmp_path("empty")), 0);

	/* Read-write creates only the last component, as RocksDB does. */
	opts_for(&o, tmp_path("no/such/parent"), STORE_READ_WRITE);
	open_fails(&o, -ENOENT, "no/such/parent", err, sizeof(err));
}

static void
test_schema_mismatch(void)
{
	char dir[160];
	struct store_opts o;
	struct store *s;
	char err[512];

	set_path(dir, "schema2");
	s = open_ok(dir, STORE_READ_WRITE);
	CU_ASSERT_EQUAL(store_meta_put(s, "schema_version", "2", 1), 0);
	store_close(s);
	opts_for(&o, dir, STORE_READ_WRITE);
	open_fails(&o, -EPROTO, "written by schema 2, this vigil reads 1", err, sizeof(err));
	opts_for(&o, dir, STORE_READ_ONLY);
	open_fails(&o, -EPROTO, "written by schema 2", err, sizeof(err));

	s = open_ok(tmp_path("schema-junk"), STORE_READ_WRITE);
	CU_ASSERT_EQUAL(store_meta_put(s, "schema_version", "1x", 2), 0);
	store_close(s);
	opts_for(&o, tmp_path("schema-junk"), STORE_READ_WRITE);
	open_fails(&o, -EPROTO, "unreadable schema version \"1x\"", err, sizeof(err));
}

/* A later schema that added a column family: still named by its version. */
static void
test_later_schema_cf(void)
{
	char dir[160];
	rocksdb_column_family_handle_t *h;
	struct store_opts o;
	char *rerr = NULL;
	struct store *s;
	char err[512];

	set_path(dir, "schema-cf");
	s = open_ok(dir, STORE_READ_WRITE);
	h = rocksdb_create_column_family(s->db, s->db_opts, "events", &rerr);
	CU_ASSERT_PTR_NULL_FATAL(rerr);
	rocksdb_column_family_handle_destroy(h);
	CU_ASSERT_EQUAL(store_meta_put(s, "schema_version", "3", 1), 0);
	store_close(s);
	opts_for(&o, dir, STORE_READ_WRITE);
	open_fails(&o, -EPROTO, "written by schema 3", err, sizeof(err));

	/* The same column family with this schema's version: opens. */
	s = open_ok(tmp_path("schema-cf-1"), STORE_READ_WRITE);
	h = rocksdb_create_column_family(s->db, s->db_opts, "events", &rerr);
	CU_ASSERT_PTR_NULL_FATAL(rerr);
	rocksdb_column_family_handle_destroy(h);
	store_close(s);
	s = open_ok(tmp_path("schema-cf-1"), STORE_READ_WRITE);
	store_close(s);
}

static void
test_locked(void)
{
	char dir[160];
	struct store *s;
	struct store_opts o;
	char err[512];

	set_path(dir, "locked");
	s = open_ok(dir, STORE_READ_WRITE);
	opts_for(&o, dir, STORE_READ_WRITE);
	open_fails(&o, -EBUSY, "another process has it open: is vigild running?", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "--secondary"));
	/* The first one still works. */
	CU_ASSERT_EQUAL(store_meta_put(s, "after", "1", 1), 0);
	store_close(s);
	s = open_ok(dir, STORE_READ_WRITE);
	store_close(s);
}

/* A RocksDB database of its own, with the column families in @cfs (default first). */
static void
make_rocksdb(const char *dir, const char *const *cfs, int n, bool with_record)
{
	rocksdb_options_t *o = rocksdb_options_create();
	const rocksdb_options_t *co[8];
	rocksdb_column_family_handle_t *h[8];
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	char *rerr = NULL;
	rocksdb_t *db;

	rocksdb_options_set_create_if_missing(o, 1);
	rocksdb_options_set_create_missing_column_families(o, 1);
	for (int i = 0; i < n; i++)
		co[i] = o;
	db = rocksdb_open_column_families(o, dir, n, cfs, co, h, &rerr);
	CU_ASSERT_PTR_NULL_FATAL(rerr);
	if (with_record) {
		rocksdb_put_cf(db, wo, h[n - 1], "k", 1, "v", 1, &rerr);
		CU_ASSERT_PTR_NULL(rerr);
	}
	for (int i = 0; i < n; i++)
		rocksdb_column_family_handle_destroy(h[i]);
	rocksdb_close(db);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_options_destroy(o);
}

static size_t
count_cfs(const char *dir)
{
	rocksdb_options_t *o = rocksdb_options_create();
	char *rerr = NULL, **list;
	size_t n = 0;

	list = rocksdb_list_column_families(o, dir, &n, &rerr);
	CU_ASSERT_PTR_NULL(rerr);
	rocksdb_free(rerr);
	if (list != NULL)
		rocksdb_list_column_families_destroy(list, n);
	rocksdb_options_destroy(o);
	return n;
}

static void
test_not_vigil(void)
{
	static const char *const only_default[] = {"default"};
	static const char *const all[] = {"default", "obs", "alarms", "audit", "meta"};
	struct store_opts o;
	struct store *s;
	char err[512], buf[8];

	make_rocksdb(tmp_path("other"), only_default, 1, true);
	opts_for(&o, tmp_path("other"), STORE_READ_WRITE);
	open_fails(&o, -EPROTO, "not a vigil database (no column family \"obs\")", err,
		   sizeof(err));
	CU_ASSERT_EQUAL(count_cfs(tmp_path("other")), 1); /* none added */
	opts_for(&o, tmp_path("other"), STORE_READ_ONLY);
	open_fails(&o, -EPROTO, "not a vigil database", err, sizeof(err));

	/* Vigil's column families, a record, but no schema version. */
	make_rocksdb(tmp_path("noschema"), all, 5, true);
	opts_for(&o, tmp_path("noschema"), STORE_READ_WRITE);
	open_fails(&o, -EPROTO, "not a vigil database (no schema version in meta)", err,
		   sizeof(err));

	/* ... and none at all: a creation that stopped half-way, completed. */
	make_rocksdb(tmp_path("half"), all, 5, false);
	s = open_ok(tmp_path("half"), STORE_READ_ONLY);
	CU_ASSERT_EQUAL(store_meta_get(s, "schema_version", buf, sizeof(buf)), -ENOENT);
	store_close(s);
	s = open_ok(tmp_path("half"), STORE_READ_WRITE);
	CU_ASSERT_EQUAL(store_meta_get(s, "schema_version", buf, sizeof(buf)), 1);
	CU_ASSERT_STRING_EQUAL(buf, "1");
	store_close(s);
}

/* A vigil database with some of everything, flushed to SST files, in @name. */
static void
make_full(const char *name)
{
	struct store *s = open_ok(tmp_path(name), STORE_READ_WRITE);

	for (unsigned i = 0; i < 500; i++)
		CU_ASSERT_EQUAL(
			store_obs_add(s, &(struct store_obs){.device = i % 7, .time_ns = i}, NULL),
			0);
	CU_ASSERT_EQUAL(store_alarm_put(s, 1, T0, "{\"a\":1}", 7, NULL), 0);
	CU_ASSERT_EQUAL(store_flush(s), 0);
	flush_memtables(s);
	store_close(s);
}

static void
test_corrupted(void)
{
	char dir[160];
	const char *f;
	struct store_opts o;
	struct stat st;
	char err[512];

	set_path(dir, "corrupt");
	make_full("sound");
	opts_for(&o, dir, STORE_READ_WRITE);

	/* An empty file in place of CURRENT. */
	copy_dir(tmp_path("sound"), dir);
	CU_ASSERT_FATAL(truncate(tmp_path("corrupt/CURRENT"), 0) == 0);
	open_fails(&o, -EUCLEAN, "CURRENT", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "restore a backup (vigil-store restore)"));

	/* A garbled MANIFEST. */
	copy_dir(tmp_path("sound"), dir);
	f = find_file(dir, "MANIFEST-", "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	garble(f, 20, 16);
	open_fails(&o, -EUCLEAN, "corrupted (Corruption: ", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "restore a backup"));

	/* A MANIFEST cut short lists only "default": still corruption, not "not vigil". */
	copy_dir(tmp_path("sound"), dir);
	f = find_file(dir, "MANIFEST-", "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_FATAL(truncate(f, 10) == 0);
	open_fails(&o, -EUCLEAN, "restore a backup", err, sizeof(err));

	/* An SST file cut short, and one garbled (RocksDB reads their footers at open). */
	copy_dir(tmp_path("sound"), dir);
	f = find_file(dir, "", ".sst");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_FATAL(stat(f, &st) == 0);
	CU_ASSERT_FATAL(truncate(f, st.st_size / 2) == 0);
	open_fails(&o, -EUCLEAN, ".sst", err, sizeof(err));
	copy_dir(tmp_path("sound"), dir);
	f = find_file(dir, "", ".sst");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_FATAL(stat(f, &st) == 0);
	garble(f, st.st_size - 8, 8); /* the footer's magic number */
	open_fails(&o, -EUCLEAN, "restore a backup", err, sizeof(err));

	/* The sound copy still opens. */
	store_close(open_ok(tmp_path("sound"), STORE_READ_WRITE));
}

static void
test_compression(void)
{
	static const enum store_compression c[] = {STORE_COMPRESS_NONE, STORE_COMPRESS_LZ4,
						   STORE_COMPRESS_ZSTD, STORE_COMPRESS_SNAPPY};
	char name[32], err[512];
	struct store_obs got;

	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct store_opts o;
		struct store *s = NULL;

		snprintf(name, sizeof(name), "compress-%u", i);
		opts_for(&o, tmp_path(name), STORE_READ_WRITE);
		o.compression = c[i];
		CU_ASSERT_EQUAL_FATAL(store_open(&o, &s, err, sizeof(err)), 0);
		for (unsigned j = 0; j < 100; j++)
			CU_ASSERT_EQUAL(
				store_obs_add(s, &(struct store_obs){.device = 1, .time_ns = j},
					      NULL),
				0);
		CU_ASSERT_EQUAL(store_flush(s), 0);
		flush_memtables(s);
		store_close(s);
		CU_ASSERT_EQUAL(store_open(&o, &s, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(get_obs(s, 1, 99, 0, &got), 0);
		store_close(s);
	}
}

/* A key file refused: the error passed on, no database created. */
static void
test_key_file_refused(void)
{
	char text[160], err[512];
	struct store_opts o;
	struct store *s = NULL;

	snprintf(text, sizeof(text), "1 %s\n", key_a);
	opts_for(&o, tmp_path("keyrefused"), STORE_READ_WRITE);
	o.key_file = write_file("keys-0644", text, 0644);
	CU_ASSERT_EQUAL(store_open(&o, &s, err, sizeof(err)), -EACCES);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT(strlen(err) > 0);
	o.key_file = tmp_path("no-such-keys");
	CU_ASSERT_EQUAL(store_open(&o, &s, err, sizeof(err)), -ENOENT);
	o.key_file = write_file("keys-bad", "1 00\n", 0600);
	CU_ASSERT_EQUAL(store_open(&o, &s, err, sizeof(err)), -EINVAL);
	CU_ASSERT_FALSE(exists(tmp_path("keyrefused")));
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                   */
/* ------------------------------------------------------------------------ */

static struct store *
open_batch(const char *name, unsigned records, unsigned ms)
{
	struct store_opts o;
	struct store *s = NULL;
	char err[512];

	opts_for(&o, tmp_path(name), STORE_READ_WRITE);
	o.batch_records = records;
	o.batch_ms = ms;
	CU_ASSERT_EQUAL_FATAL(store_open(&o, &s, err, sizeof(err)), 0);
	return s;
}

static void
test_batch_records(void)
{
	struct store *s = open_batch("batch", 4, 1000);
	enum store_durability got = STORE_SYNCED;
	struct store_obs in, out;

	atomic_store(&fake_now, T0);
	for (uint32_t i = 0; i < 3; i++) {
		in = obs(10, T0 + i, i, 90.0 + i);
		CU_ASSERT_EQUAL(store_obs_add(s, &in, &got), 0);
		CU_ASSERT_EQUAL(got, STORE_BUFFERED);
		CU_ASSERT_EQUAL(store_pending(s), i + 1);
	}
	CU_ASSERT_EQUAL(get_obs(s, 10, T0, 0, &out), -ENOENT); /* still in the batch */
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_obs_written), 0);
	in = obs(10, T0 + 3, 3, NAN);
	CU_ASSERT_EQUAL(store_obs_add(s, &in, &got), 0);
	CU_ASSERT_EQUAL(got, STORE_WAL);
	CU_ASSERT_EQUAL(store_pending(s), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_obs_written), 4);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_obs_batches), 1);
	for (uint32_t i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL_FATAL(get_obs(s, 10, T0 + i, i, &out), 0);
		CU_ASSERT_EQUAL(out.code, 150456);
		CU_ASSERT_EQUAL(out.unit, 262688);
		CU_ASSERT_EQUAL(out.flags, i);
		if (i < 3) {
			CU_ASSERT_EQUAL(out.value, 90.0 + i);
		} else {
			CU_ASSERT(isnan(out.value));
		}
	}
	/* store_flush writes a partial batch; an empty one is nothing. */
	CU_ASSERT_EQUAL(store_obs_add(s, &(struct store_obs){.device = 11, .time_ns = -7}, &got),
			0);
	CU_ASSERT_EQUAL(store_pending(s), 1);
	CU_ASSERT_EQUAL(store_flush(s), 0);
	CU_ASSERT_EQUAL(store_pending(s), 0);
	CU_ASSERT_EQUAL(store_flush(s), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_obs_written), 5);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_obs_batches), 2);
	CU_ASSERT_EQUAL(get_obs(s, 11, -7, 0, &out), 0);

	/* Closing writes what is pending. */
	CU_ASSERT_EQUAL(store_obs_add(s, &(struct store_obs){.device = 12, .time_ns = 1}, &got), 0);
	CU_ASSERT_EQUAL(store_obs_add(s, &(struct store_obs){.device = 12, .time_ns = 2}, &got), 0);
	store_close(s);
	s = open_ok(tmp_path("batch"), STORE_READ_ONLY);
	CU_ASSERT_EQUAL(get_obs(s, 12, 1, 0, &out), 0);
	CU_ASSERT_EQUAL(get_obs(s, 12, 2, 0, &out), 0);
	CU_ASSERT_EQUAL(get_obs(s, 10, T0 + 3, 3, &out), 0);
	store_close(s);
}

static void
test_batch_tick(void)
{
	struct store *s = open_batch("tick", 1000, 50);
	const int64_t ms = 1000000;
	enum store_durability got;
	struct store_obs out;

	CU_ASSERT_EQUAL(store_tick(s, T0), 0); /* nothing pending */
	atomic_store(&fake_now, T0);
	CU_ASSERT_EQUAL(store_obs_add(s, &(struct store_obs){.device = 1, .time_ns = 1}, &got), 0);
	CU_ASSERT_EQUAL(got, STORE_BUFFERED);
	/* A later record does not restart the batch's age. */
	atomic_store(&fake_now, T0 + 30 * ms);
	CU_ASSERT_EQUAL(store_obs_add(s, &(struct store_obs){.device = 1, .time_ns = 2}, &got), 0);
	CU_ASSERT_EQUAL(store_tick(s, T0 + 50 * ms - 1), 0);
	CU_ASSERT_EQUAL(store_pending(s), 2);
	CU_ASSERT_EQUAL(get_obs(s, 1, 1, 0, &out), -ENOENT);
	CU_ASSERT_EQUAL(store_tick(s, T0 + 50 * ms), 0);
	CU_ASSERT_EQUAL(store_pending(s), 0);
	CU_ASSERT_EQUAL(get_obs(s, 1, 1, 0, &out), 0);
	CU_ASSERT_EQUAL(get_obs(s, 1, 2, 0, &out), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_obs_batches), 1);

	/* The next batch is aged from its own first record. */
	atomic_store(&fake_now, T0 + 100 * ms);
	CU_ASSERT_EQUAL(store_obs_add(s, &(struct store_obs){.device = 1, .time_ns = 3}, &got), 0);
	CU_ASSERT_EQUAL(store_tick(s, T0 + 149 * ms), 0);
	CU_ASSERT_EQUAL(store_pending(s), 1);
	/* A clock stepped back writes the batch rather than holding it. */
	CU_ASSERT_EQUAL(store_tick(s, T0), 0);
	CU_ASSERT_EQUAL(store_pending(s), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_obs_written), 3);
	store_close(s);
}

/*
 * A write RocksDB refuses. The test makes the store's own write options
 * contradict themselves (sync without a WAL), which RocksDB refuses with
 * "Invalid argument" before writing anything, then repairs them.
 */
static void
break_writes(rocksdb_writeoptions_t *wo, bool broken, bool sync)
{
	rocksdb_writeoptions_disable_WAL(wo, broken);
	rocksdb_writeoptions_set_sync(wo, broken || sync);
}

static void
test_batch_fails(void)
{
	struct store *s = open_batch("fails", 3, 1000);
	enum store_durability got = STORE_SYNCED;
	struct store_obs out;
	char json[32];
	uint64_t seq = 0;

	break_writes(s->wo_batch, true, false);
	CU_ASSERT_EQUAL(store_obs_add(s, &(struct store_obs){.device = 1, .time_ns = 1}, &got), 0);
	CU_ASSERT_EQUAL(store_obs_add(s, &(struct store_obs){.device = 1, .time_ns = 2}, &got), 0);
	CU_ASSERT_EQUAL(store_obs_add(s, &(struct store_obs){.device = 1, .time_ns = 3}, &got),
			-EINVAL);
	CU_ASSERT_EQUAL(got, STORE_BUFFERED);
	CU_ASSERT_EQUAL(store_pending(s), 0); /* dropped */
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_obs_failed), 3);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_write_errors), 1);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_no_space), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_obs_written), 0);
	CU_ASSERT_EQUAL(store_obs_add(s, &(struct store_obs){.device = 1, .time_ns = 4}, &got), 0);
	CU_ASSERT_EQUAL(store_flush(s), -EINVAL);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_obs_failed), 4);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_write_errors), 2);

	/* Synced writes refused the same way: counted, ids not used up. */
	break_writes(s->wo_sync, true, true);
	CU_ASSERT_EQUAL(store_alarm_put(s, 1, T0, "{}", 2, &got), -EINVAL);
	CU_ASSERT_EQUAL(got, STORE_BUFFERED);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 1);
	CU_ASSERT_EQUAL(store_audit_append(s, T0, "{}", 2, &seq, &got), -EINVAL);
	CU_ASSERT_EQUAL(store_meta_put(s, "m", "v", 1), -EINVAL);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_alarms_failed), 1);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_audit_failed), 1);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_write_errors), 5);

	/* Repaired: the store was usable all along. */
	break_writes(s->wo_batch, false, false);
	break_writes(s->wo_sync, false, true);
	for (int64_t t = 5; t < 8; t++)
		CU_ASSERT_EQUAL(
			store_obs_add(s, &(struct store_obs){.device = 1, .time_ns = t}, &got), 0);
	CU_ASSERT_EQUAL(got, STORE_WAL);
	CU_ASSERT_EQUAL(get_obs(s, 1, 7, 0, &out), 0);
	CU_ASSERT_EQUAL(get_obs(s, 1, 3, 0, &out), -ENOENT);
	CU_ASSERT_EQUAL(store_audit_append(s, T0, "{}", 2, &seq, &got), 0);
	CU_ASSERT_EQUAL(seq, 1);
	CU_ASSERT_EQUAL(store_alarm_put(s, 1, T0, "{}", 2, &got), 0);
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_ALARMS, 1, json, sizeof(json), NULL), 2);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_obs_written), 3);
	store_close(s);
}

static void
test_alarms(void)
{
	char dir[160];
	struct store *s;
	static char big[STORE_RECORD_MAX + 2], json[STORE_RECORD_MAX + 2];
	enum store_durability got = STORE_BUFFERED;
	int64_t t = 0;

	set_path(dir, "alarms");
	s = open_ok(dir, STORE_READ_WRITE);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 1);
	CU_ASSERT_EQUAL(store_alarm_put(s, 5, T0 + 5, "{\"id\":5}", 8, &got), 0);
	CU_ASSERT_EQUAL(got, STORE_SYNCED);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 6);
	CU_ASSERT_EQUAL(store_alarm_put(s, 3, T0 + 3, "{\"id\":3}", 8, &got), 0);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 6); /* an older id does not move it back */
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_ALARMS, 5, json, sizeof(json), &t), 8);
	CU_ASSERT_STRING_EQUAL(json, "{\"id\":5}");
	CU_ASSERT_EQUAL(t, T0 + 5);
	/* The same id again replaces the record (its state history grew). */
	CU_ASSERT_EQUAL(store_alarm_put(s, 5, T0 + 6, "{\"id\":5,\"acked\":1}", 18, &got), 0);
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_ALARMS, 5, json, sizeof(json), &t), 18);
	CU_ASSERT_STRING_EQUAL(json, "{\"id\":5,\"acked\":1}");
	CU_ASSERT_EQUAL(t, T0 + 6);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_alarms_written), 3);

	/* Refused: nothing written, counted. */
	got = STORE_SYNCED;
	CU_ASSERT_EQUAL(store_alarm_put(s, 7, T0, "", 0, &got), -EINVAL);
	CU_ASSERT_EQUAL(got, STORE_BUFFERED);
	CU_ASSERT_EQUAL(store_alarm_put(s, 7, T0, NULL, 2, &got), -EINVAL);
	CU_ASSERT_EQUAL(store_alarm_put(s, 0, T0, "{}", 2, &got), -EINVAL);
	CU_ASSERT_EQUAL(store_alarm_put(s, UINT64_MAX, T0, "{}", 2, &got), -EINVAL);
	memset(big, 'x', sizeof(big));
	CU_ASSERT_EQUAL(store_alarm_put(s, 8, T0, big, STORE_RECORD_MAX + 1, &got), -EMSGSIZE);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_alarms_failed), 5);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 6);
	/* The largest record accepted. */
	CU_ASSERT_EQUAL(store_alarm_put(s, 9, T0, big, STORE_RECORD_MAX, &got), 0);
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_ALARMS, 9, json, sizeof(json), &t), STORE_RECORD_MAX);
	CU_ASSERT(memcmp(json, big, STORE_RECORD_MAX) == 0);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 10);
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_ALARMS, 7, json, sizeof(json), &t), -ENOENT);
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_ALARMS, 8, json, sizeof(json), &t), -ENOENT);
	store_close(s);

	/* The ids continue after a reopen, read-write and read-only alike. */
	s = open_ok(dir, STORE_READ_ONLY);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 10);
	store_close(s);
	s = open_ok(dir, STORE_READ_WRITE);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 10);
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_ALARMS, 3, json, sizeof(json), &t), 8);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_alarms_written), 0); /* counters start again */
	store_close(s);
}

static void
test_audit(void)
{
	char dir[160];
	struct store *s;
	enum store_durability got = STORE_BUFFERED;
	char json[64], rec[32];
	uint64_t seq = 0;

	set_path(dir, "audit");
	s = open_ok(dir, STORE_READ_WRITE);
	for (uint64_t i = 1; i <= 3; i++) {
		snprintf(rec, sizeof(rec), "{\"n\":%u}", (unsigned)i);
		CU_ASSERT_EQUAL(
			store_audit_append(s, T0 + (int64_t)i, rec, strlen(rec), &seq, &got), 0);
		CU_ASSERT_EQUAL(seq, i);
		CU_ASSERT_EQUAL(got, STORE_SYNCED);
	}
	CU_ASSERT_EQUAL(store_audit_append(s, T0, "", 0, &seq, &got), -EINVAL);
	CU_ASSERT_EQUAL(seq, 3);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_audit_written), 3);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_audit_failed), 1);
	store_close(s);

	s = open_ok(dir, STORE_READ_WRITE);
	CU_ASSERT_EQUAL(store_audit_append(s, T0 + 4, "{\"n\":4}", 7, &seq, &got), 0);
	CU_ASSERT_EQUAL(seq, 4);
	CU_ASSERT_EQUAL(store_audit_append(s, T0 + 5, "{\"n\":5}", 7, NULL, NULL), 0);
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_AUDIT, 2, json, sizeof(json), NULL), 7);
	CU_ASSERT_STRING_EQUAL(json, "{\"n\":2}");
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_AUDIT, 5, json, sizeof(json), NULL), 7);
	CU_ASSERT_STRING_EQUAL(json, "{\"n\":5}");
	store_close(s);
}

static void
test_meta(void)
{
	struct store *s = open_ok(tmp_path("meta"), STORE_READ_WRITE);
	char name[STORE_META_NAME_MAX + 2], buf[32];
	uint8_t bin[4] = {0, 1, 0, 2};

	CU_ASSERT_EQUAL(store_meta_put(s, "ruleset.version", "42", 2), 0);
	CU_ASSERT_EQUAL(store_meta_get(s, "ruleset.version", buf, sizeof(buf)), 2);
	CU_ASSERT_STRING_EQUAL(buf, "42");
	CU_ASSERT_EQUAL(store_meta_put(s, "ruleset.version", "43", 2), 0);
	CU_ASSERT_EQUAL(store_meta_get(s, "ruleset.version", buf, sizeof(buf)), 2);
	CU_ASSERT_STRING_EQUAL(buf, "43");
	/* Binary, and too little room: the length, no NUL promised. */
	CU_ASSERT_EQUAL(store_meta_put(s, "cursor", bin, sizeof(bin)), 0);
	memset(buf, 'z', sizeof(buf));
	CU_ASSERT_EQUAL(store_meta_get(s, "cursor", buf, 4), 4);
	CU_ASSERT(memcmp(buf, bin, 4) == 0);
	CU_ASSERT_EQUAL(buf[4], 'z');
	CU_ASSERT_EQUAL(store_meta_get(s, "cursor", buf, 3), 4);
	/* Empty. */
	CU_ASSERT_EQUAL(store_meta_put(s, "empty", NULL, 0), 0);
	CU_ASSERT_EQUAL(store_meta_get(s, "empty", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "");
	CU_ASSERT_EQUAL(store_meta_get(s, "absent", buf, sizeof(buf)), -ENOENT);
	/* Names. */
	memset(name, 'n', sizeof(name));
	name[STORE_META_NAME_MAX] = '\0';
	CU_ASSERT_EQUAL(store_meta_put(s, name, "1", 1), 0);
	CU_ASSERT_EQUAL(store_meta_get(s, name, buf, sizeof(buf)), 1);
	name[STORE_META_NAME_MAX] = 'n';
	name[STORE_META_NAME_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(store_meta_put(s, name, "1", 1), -EINVAL);
	CU_ASSERT_EQUAL(store_meta_get(s, name, buf, sizeof(buf)), -EINVAL);
	CU_ASSERT_EQUAL(store_meta_put(s, "", "1", 1), -EINVAL);
	CU_ASSERT_EQUAL(store_meta_put(s, NULL, "1", 1), -EINVAL);
	CU_ASSERT_EQUAL(store_meta_put(s, "x", NULL, 1), -EINVAL);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_meta_written), 1 + 5);
	store_close(s);

	s = open_ok(tmp_path("meta"), STORE_READ_ONLY);
	CU_ASSERT_EQUAL(store_meta_get(s, "ruleset.version", buf, sizeof(buf)), 2);
	CU_ASSERT_STRING_EQUAL(buf, "43");
	store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Sealing                                                                   */
/* ------------------------------------------------------------------------ */

static struct store *
open_sealed(const char *name, const char *keys, int want)
{
	struct store_opts o;
	struct store *s = NULL;
	char err[512] = "";
	int rc;

	opts_for(&o, tmp_path(name), STORE_READ_WRITE);
	o.key_file = keys;
	rc = store_open(&o, &s, err, sizeof(err));
	if (rc != want)
		fprintf(stderr, "store_open %s: %d %s\n", o.dir, rc, err);
	CU_ASSERT_EQUAL_FATAL(rc, want);
	return s;
}

static void
test_sealed(void)
{
	static const char json[] = "{\"patient\":\"secret\"}";
	const size_t jlen = sizeof(json) - 1;
	char text[256], out[64], *keys12, *keys123;
	uint8_t key1[STORE_KEY_ID], key2[STORE_KEY_ID], raw[128], bad[128];
	struct store_obs in = obs(77, T0, 1, 36.6), back;
	enum store_durability got;
	struct store *s;
	int n, m, want;

	snprintf(text, sizeof(text), "# rotation\n1 %s\n2 %s\n", key_a, key_b);
	keys12 = strdup(write_file("keys12", text, 0600));
	snprintf(text, sizeof(text), "1 %s\n2 %s\n3 %s\n", key_a, key_b, key_c);
	keys123 = strdup(write_file("keys123", text, 0400));

	s = open_sealed("sealed", keys12, 0);
	CU_ASSERT_EQUAL(store_seal_key_id(s), 2);
	CU_ASSERT_EQUAL(store_value_size(s, 10), STORE_VALUE_HDR + 10 + STORE_SEAL_OVERHEAD);
	CU_ASSERT_EQUAL(store_alarm_put(s, 1, T0, json, jlen, &got), 0);
	CU_ASSERT_EQUAL(store_alarm_put(s, 2, T0, "{}", 2, &got), 0);
	CU_ASSERT_EQUAL(store_meta_put(s, "cursor", "77", 2), 0);
	CU_ASSERT_EQUAL(store_obs_add(s, &in, &got), 0);
	CU_ASSERT_EQUAL(store_flush(s), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_sealed), 4);

	/* On disk: the header clear, the record not. */
	store_key_id(key1, 1);
	store_key_id(key2, 2);
	n = get_raw(s, STORE_CF_ALARMS, key1, sizeof(key1), raw, sizeof(raw));
	CU_ASSERT_EQUAL_FATAL(n, (int)(STORE_VALUE_HDR + jlen + STORE_SEAL_OVERHEAD));
	CU_ASSERT_EQUAL(raw[1], STORE_VALUE_SEALED);
	CU_ASSERT_EQUAL(store_rd16(raw + 2), 2);
	CU_ASSERT_EQUAL(store_rd64(raw + 4), (uint64_t)T0);
	CU_ASSERT_PTR_NULL(memmem(raw, (size_t)n, "secret", 6));
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_ALARMS, 1, out, sizeof(out), NULL), (int)jlen);
	CU_ASSERT_STRING_EQUAL(out, json);
	CU_ASSERT_EQUAL(get_obs(s, 77, T0, 1, &back), 0);
	CU_ASSERT_EQUAL(back.value, 36.6);
	CU_ASSERT_EQUAL(store_meta_get(s, "cursor", out, sizeof(out)), 2);
	CU_ASSERT_STRING_EQUAL(out, "77");

	/* Every tampering is refused and counted; nothing of the record comes out. */
	for (int i = 0; i < n; i++) {
		memcpy(bad, raw, (size_t)n);
		bad[i] ^= 0x01;
		memset(out, 0, sizeof(out));
		m = store_value_open(s, key1, sizeof(key1), bad, (size_t)n, NULL, out, sizeof(out));
		/* 0: the format; 1: "plain" with a key id, a header vigil cannot read;
		 * 2, 3: key id 258 or 3, not in this file; the rest: authentication. */
		want = i <= 1 ? -EPROTO : i <= 3 ? -ENOKEY : -EBADMSG;
		if (m != want)
			fprintf(stderr, "byte %d flipped: %d, want %d\n", i, m, want);
		CU_ASSERT_EQUAL(m, want);
		CU_ASSERT_PTR_NULL(memmem(out, sizeof(out), "secret", 6));
	}
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unseal_failed), (uint64_t)n - 4);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unknown_key), 2);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_bad_values), 2);
	/* Moved to another key, or with key 1 named in the header. */
	CU_ASSERT_EQUAL(
		store_value_open(s, key2, sizeof(key2), raw, (size_t)n, NULL, out, sizeof(out)),
		-EBADMSG);
	memcpy(bad, raw, (size_t)n);
	store_be16(bad + 2, 1);
	CU_ASSERT_EQUAL(
		store_value_open(s, key1, sizeof(key1), bad, (size_t)n, NULL, out, sizeof(out)),
		-EBADMSG);
	/* A plain value slipped into a sealed store. */
	memcpy(bad, raw, STORE_VALUE_HDR);
	bad[1] = 0;
	store_be16(bad + 2, 0);
	memcpy(bad + STORE_VALUE_HDR, "{}", 2);
	CU_ASSERT_EQUAL(store_value_open(s, key1, sizeof(key1), bad, STORE_VALUE_HDR + 2, NULL, out,
					 sizeof(out)),
			-EBADMSG);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unseal_failed), (uint64_t)n - 4 + 3);
	store_close(s);

	/* Rotation: a new newest key; what was sealed before still opens. */
	s = open_sealed("sealed", keys123, 0);
	CU_ASSERT_EQUAL(store_seal_key_id(s), 3);
	CU_ASSERT_EQUAL(store_alarm_put(s, 3, T0, "{}", 2, &got), 0);
	CU_ASSERT_EQUAL(
		get_raw(s, STORE_CF_ALARMS, (store_key_id(key1, 3), key1), 8, raw, sizeof(raw)),
		STORE_VALUE_HDR + 2 + STORE_SEAL_OVERHEAD);
	CU_ASSERT_EQUAL(store_rd16(raw + 2), 3);
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_ALARMS, 1, out, sizeof(out), NULL), (int)jlen);
	CU_ASSERT_EQUAL(store_meta_get(s, "schema_version", out, sizeof(out)), 1);
	CU_ASSERT_STRING_EQUAL(out, "1");
	store_close(s);

	/* Without the key file: it opens (the schema version is plain); records do not. */
	s = open_ok(tmp_path("sealed"), STORE_READ_ONLY);
	CU_ASSERT_EQUAL(store_seal_key_id(s), 0);
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_ALARMS, 1, out, sizeof(out), NULL), -ENOKEY);
	CU_ASSERT_EQUAL(store_meta_get(s, "cursor", out, sizeof(out)), -ENOKEY);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unknown_key), 2);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 4);
	store_close(s);

	/* With a file that lacks key 2: the old records are unknown, not broken. */
	snprintf(text, sizeof(text), "3 %s\n", key_c);
	s = open_sealed("sealed", write_file("keys3", text, 0600), 0);
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_ALARMS, 1, out, sizeof(out), NULL), -ENOKEY);
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_ALARMS, 3, out, sizeof(out), NULL), 2);
	store_close(s);
	free(keys12);
	free(keys123);
}

/* ------------------------------------------------------------------------ */
/* Reading back with query.c                                                 */
/* ------------------------------------------------------------------------ */

struct seen {
	unsigned n;
	int64_t t[16];
	uint64_t device[16];
};

static int
collect(void *arg, const struct store_obs *o)
{
	struct seen *sn = arg;

	if (sn->n < 16) {
		sn->t[sn->n] = o->time_ns;
		sn->device[sn->n] = o->device;
	}
	sn->n++;
	return 0;
}

static void
test_query_back(void)
{
	struct store *s = open_batch("query", 100, 1000);
	struct seen sn = {0};

	/* Written out of order, across devices, with negative times. */
	for (int64_t t = 3; t >= -3; t--)
		for (uint64_t dev = 3; dev >= 1; dev--)
			CU_ASSERT_EQUAL(
				store_obs_add(s,
					      &(struct store_obs){.device = dev, .time_ns = t * NS},
					      NULL),
				0);
	CU_ASSERT_EQUAL(store_flush(s), 0);
	CU_ASSERT_EQUAL(store_query_obs(s, 2, -2 * NS, 2 * NS, collect, &sn), 0);
	CU_ASSERT_EQUAL_FATAL(sn.n, 4);
	for (unsigned i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(sn.t[i], ((int64_t)i - 2) * NS);
		CU_ASSERT_EQUAL(sn.device[i], 2);
	}
	store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Alarm records in groups (store_alarms_put)                                */
/* ------------------------------------------------------------------------ */

#define GROUP_MAX STORE_ALARMS_BATCH_MAX

/* Record @i of a group: {"id":ID,"n":I,...} with a length that varies with @i. */
static size_t
group_json(char *out, size_t room, uint64_t id, unsigned i)
{
	int n = snprintf(out, room, "{\"id\":%llu,\"n\":%u,\"pad\":\"%.*s\"}",
			 (unsigned long long)id, i, (int)(i % 40),
			 "........................................");

	return (size_t)n;
}

struct group {
	struct store_alarm_rec r[GROUP_MAX + 1];
	char json[GROUP_MAX + 1][96];
};

/* @n records with ids from @first, times T0 + id. */
static void
group_fill(struct group *g, uint64_t first, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		g->r[i].id = first + i;
		g->r[i].time_ns = T0 + (int64_t)(first + i);
		g->r[i].len = group_json(g->json[i], sizeof(g->json[i]), first + i, i);
		g->r[i].json = g->json[i];
	}
}

/* How many of ids [first, first + n) are stored. */
static unsigned
ids_stored(struct store *s, uint64_t first, unsigned n)
{
	char json[128];
	unsigned found = 0;

	for (unsigned i = 0; i < n; i++)
		if (get_json(s, STORE_CF_ALARMS, first + i, json, sizeof(json), NULL) >= 0)
			found++;
	return found;
}

static void
test_alarm_groups(void)
{
	static struct group g;
	char dir[160], json[128];
	enum store_durability got = STORE_BUFFERED;
	unsigned bad = 0;
	int64_t t = 0;
	struct store *s;
	int n;

	set_path(dir, "alarm_groups");
	s = open_ok(dir, STORE_READ_WRITE);
	CU_ASSERT_EQUAL(store_alarm_put(s, 1, T0 + 1, "{\"id\":1}", 8, &got), 0);

	/* A full group, read back record by record; the ids go on after it. */
	group_fill(&g, 2, GROUP_MAX);
	CU_ASSERT_EQUAL(store_alarms_put(s, g.r, GROUP_MAX, &got), 0);
	CU_ASSERT_EQUAL(got, STORE_SYNCED);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_alarms_written), 1 + GROUP_MAX);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 2 + GROUP_MAX);
	for (unsigned i = 0; i < GROUP_MAX; i++) {
		n = get_json(s, STORE_CF_ALARMS, 2 + i, json, sizeof(json), &t);
		if (n != (int)g.r[i].len || strcmp(json, g.json[i]) != 0 || t != g.r[i].time_ns)
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_ALARMS, 1, json, sizeof(json), NULL), 8);

	/* In order: of two records with one id, the later stays. Nothing to write: 0. */
	group_fill(&g, 300, 3);
	g.r[2].id = 300;
	CU_ASSERT_EQUAL(store_alarms_put(s, g.r, 3, &got), 0);
	CU_ASSERT_EQUAL(get_json(s, STORE_CF_ALARMS, 300, json, sizeof(json), NULL),
			(int)g.r[2].len);
	CU_ASSERT_STRING_EQUAL(json, g.json[2]);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 302);
	CU_ASSERT_EQUAL(store_alarms_put(s, g.r, 0, &got), 0);
	CU_ASSERT_EQUAL(store_alarms_put(s, NULL, 0, &got), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_alarms_written), 1 + GROUP_MAX + 3);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_alarms_failed), 0);
	store_close(s);

	/* After a reopen the ids go on from the group's. */
	s = open_ok(dir, STORE_READ_WRITE);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 302);
	store_close(s);
}

static void
test_alarm_groups_all_or_nothing(void)
{
	static struct group g;
	static char big[STORE_RECORD_MAX + 1];
	enum store_durability got;
	struct store *s;

	s = open_ok(tmp_path("alarm_groups_refused"), STORE_READ_WRITE);

	/* A record over STORE_RECORD_MAX in the middle: none of the group is written. */
	memset(big, 'x', sizeof(big));
	group_fill(&g, 10, 5);
	g.r[2].json = big;
	g.r[2].len = sizeof(big);
	got = STORE_SYNCED;
	CU_ASSERT_EQUAL(store_alarms_put(s, g.r, 5, &got), -EMSGSIZE);
	CU_ASSERT_EQUAL(got, STORE_BUFFERED);
	CU_ASSERT_EQUAL(ids_stored(s, 10, 5), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_alarms_failed), 5);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_write_errors), 0); /* refused before writing */
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 1);
	/* The same for an invalid record (id 0, no text) anywhere in it. */
	group_fill(&g, 10, 5);
	g.r[4].id = 0;
	CU_ASSERT_EQUAL(store_alarms_put(s, g.r, 5, &got), -EINVAL);
	group_fill(&g, 10, 5);
	g.r[0].len = 0;
	CU_ASSERT_EQUAL(store_alarms_put(s, g.r, 5, &got), -EINVAL);
	CU_ASSERT_EQUAL(store_alarms_put(s, NULL, 1, &got), -EINVAL);
	CU_ASSERT_EQUAL(ids_stored(s, 10, 5), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_alarms_failed), 16);

	/* More than a group holds. */
	group_fill(&g, 10, GROUP_MAX + 1);
	CU_ASSERT_EQUAL(store_alarms_put(s, g.r, GROUP_MAX + 1, &got), -E2BIG);
	CU_ASSERT_EQUAL(got, STORE_BUFFERED);
	CU_ASSERT_EQUAL(ids_stored(s, 10, GROUP_MAX + 1), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_alarms_failed), 16 + GROUP_MAX + 1);

	/* A write RocksDB refuses (see test_batch_fails): counted once, none stored. */
	break_writes(s->wo_sync, true, true);
	group_fill(&g, 10, 4);
	CU_ASSERT_EQUAL(store_alarms_put(s, g.r, 4, &got), -EINVAL);
	CU_ASSERT_EQUAL(got, STORE_BUFFERED);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_write_errors), 1);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_no_space), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_alarms_failed), 16 + GROUP_MAX + 1 + 4);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 1);
	break_writes(s->wo_sync, false, true);
	CU_ASSERT_EQUAL(ids_stored(s, 10, 4), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_alarms_written), 0);

	/* Repaired: the same group goes in whole. */
	CU_ASSERT_EQUAL(store_alarms_put(s, g.r, 4, &got), 0);
	CU_ASSERT_EQUAL(got, STORE_SYNCED);
	CU_ASSERT_EQUAL(ids_stored(s, 10, 4), 4);
	CU_ASSERT_EQUAL(store_alarm_next_id(s), 14);
	store_close(s);

	/* Not opened read-write. */
	s = open_ok(tmp_path("alarm_groups_refused"), STORE_READ_ONLY);
	CU_ASSERT_EQUAL(store_alarms_put(s, g.r, 4, &got), -EROFS);
	store_close(s);
}

static void
test_alarm_groups_sealed(void)
{
	static struct group g;
	char text[256], json[128], *keys;
	enum store_durability got;
	unsigned bad = 0;
	struct store *s;

	snprintf(text, sizeof(text), "1 %s\n", key_a);
	keys = strdup(write_file("keys_groups", text, 0600));
	s = open_sealed("alarm_groups_sealed", keys, 0);
	group_fill(&g, 1, 40);
	CU_ASSERT_EQUAL(store_alarms_put(s, g.r, 40, &got), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_sealed), 40);
	/* Each value sealed under its own key (the key is in the additional data). */
	for (unsigned i = 0; i < 40; i++)
		if (get_json(s, STORE_CF_ALARMS, 1 + i, json, sizeof(json), NULL) !=
			    (int)g.r[i].len ||
		    strcmp(json, g.json[i]) != 0)
			bad++;
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unseal_failed), 0);
	store_close(s);
	free(keys);
}

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not a benchmark, and nothing asserted on time: the rates on this disk, printed. */
static void
test_alarm_groups_rate(void)
{
	static struct group g;
	enum store_durability got;
	unsigned ok = 0, rounds = 4;
	double t0, t1, t2;
	uint64_t id = 1;
	struct store *s;

	s = open_ok(tmp_path("alarm_groups_rate"), STORE_READ_WRITE);
	t0 = seconds();
	for (unsigned r = 0; r < rounds; r++) {
		group_fill(&g, id, GROUP_MAX);
		for (unsigned i = 0; i < GROUP_MAX; i++)
			ok += store_alarm_put(s, g.r[i].id, g.r[i].time_ns, g.r[i].json, g.r[i].len,
					      &got) == 0;
		id += GROUP_MAX;
	}
	t1 = seconds();
	for (unsigned r = 0; r < rounds; r++) {
		group_fill(&g, id, GROUP_MAX);
		ok += store_alarms_put(s, g.r, GROUP_MAX, &got) == 0 ? GROUP_MAX : 0;
		id += GROUP_MAX;
	}
	t2 = seconds();
	CU_ASSERT_EQUAL(ok, 2 * rounds * GROUP_MAX);
	printf("\n  %u alarm records: one by one %.0f/s (%.3f ms each), in groups of %u "
	       "%.0f/s (%.3f ms a group)\n",
	       rounds * GROUP_MAX, rounds * GROUP_MAX / (t1 - t0),
	       (t1 - t0) * 1e3 / (rounds * GROUP_MAX), GROUP_MAX, rounds * GROUP_MAX / (t2 - t1),
	       (t2 - t1) * 1e3 / rounds);
	store_close(s);
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"names and defaults", test_names},
		{"RocksDB errors to errnos", test_errno_map},
		{"key encoding order", test_key_order},
		{"observation records", test_obs_records},
		{"value format, plain", test_value_plain},
		{"options refused", test_opts_refused},
		{"create, reopen, read-only, secondary", test_create_reopen},
		{"no database to read", test_missing},
		{"another schema version", test_schema_mismatch},
		{"a later schema with a column family of its own", test_later_schema_cf},
		{"locked", test_locked},
		{"not a vigil database", test_not_vigil},
		{"corrupted", test_corrupted},
		{"compression", test_compression},
		{"key file refused", test_key_file_refused},
		{"observations: batch full", test_batch_records},
		{"observations: batch age (injected clock)", test_batch_tick},
		{"a write RocksDB refuses", test_batch_fails},
		{"alarms: synced, ids after reopen", test_alarms},
		{"audit: sequence after reopen", test_audit},
		{"meta", test_meta},
		{"sealed values", test_sealed},
		{"read back with store_query_obs", test_query_back},
		{"alarm groups: stored, read back, ids go on", test_alarm_groups},
		{"alarm groups: all or nothing", test_alarm_groups_all_or_nothing},
		{"alarm groups: sealed", test_alarm_groups_sealed},
		{"alarm groups: rate on this disk (printed)", test_alarm_groups_rate},
	};
	CU_pSuite suite = CU_add_suite("store", suite_init, suite_cleanup);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
