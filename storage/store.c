/*
 * store.c - opening and closing vigil's RocksDB database: the options,
 * the column families, the schema version, the key file, the messages an
 * operator reads when the database cannot be opened, and the counters.
 *
 * Opening checks the directory before RocksDB touches it, so that a
 * read-only or secondary open of a missing database says so (RocksDB would
 * create the directory for its log first), and an existing database that
 * is not vigil's is refused before column families are added to it.
 * Every column family found is opened (RocksDB requires it), so a database
 * of a later schema with column families of its own still opens far enough
 * for its schema version to be read and named.
 *
 * The schema version is a decimal text in meta, always written plain (it
 * is not secret, and a tool without the key file can read it). A database
 * whose column families exist but are all empty and that has no version
 * is one whose creation was interrupted: it is completed, not refused.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store_private.h"

#define MIB ((size_t)1 << 20)
#define DEFAULT_CACHE_MB 64
#define DEFAULT_WRITE_BUFFER_MB 64
#define LOG_FILE_MAX (16 * MIB) /* RocksDB's own LOG, per file */
#define LOG_FILES_KEPT 4
#define META_SCHEMA "schema_version"
#define ROCKSDB_LOG_FATAL 4 /* rocksdb::InfoLogLevel::FATAL_LEVEL (the C API has no name) */

static const char *const cf_names[STORE_CF__COUNT] = {"obs", "alarms", "audit", "meta"};

/* ------------------------------------------------------------------------ */
/* Names                                                                     */
/* ------------------------------------------------------------------------ */

#define STORE_X_NAME(name, desc) #name,
#define STORE_X_DESC(name, desc) desc,
static const char *const counter_names[STORE_CNT__COUNT] = {STORE_COUNTERS(STORE_X_NAME)};
static const char *const counter_descs[STORE_CNT__COUNT] = {STORE_COUNTERS(STORE_X_DESC)};
#undef STORE_X_NAME
#undef STORE_X_DESC

const char *
store_counter_name(enum store_counter c)
{
	return (unsigned)c < STORE_CNT__COUNT ? counter_names[c] : "?";
}

const char *
store_counter_desc(enum store_counter c)
{
	return (unsigned)c < STORE_CNT__COUNT ? counter_descs[c] : "?";
}

const char *
store_cf_name(enum store_cf cf)
{
	return (unsigned)cf < STORE_CF__COUNT ? cf_names[cf] : "?";
}

const char *
store_durability_name(enum store_durability d)
{
	switch (d) {
	case STORE_BUFFERED:
		return "buffered";
	case STORE_WAL:
		return "wal";
	case STORE_SYNCED:
		return "synced";
	}
	return "?";
}

/* ------------------------------------------------------------------------ */
/* Small things                                                              */
/* ------------------------------------------------------------------------ */

void
store_opts_defaults(struct store_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = STORE_READ_WRITE;
	o->block_cache_mb = DEFAULT_CACHE_MB;
	o->write_buffer_mb = DEFAULT_WRITE_BUFFER_MB;
	o->compression = STORE_COMPRESS_LZ4;
	o->batch_records = STORE_BATCH_RECORDS_DEFAULT;
	o->batch_ms = STORE_BATCH_MS_DEFAULT;
	o->retain_s[STORE_CF_OBS] = STORE_RETAIN_OBS_DEFAULT;
	o->retain_s[STORE_CF_ALARMS] = STORE_RETAIN_ALARMS_DEFAULT;
	o->retain_s[STORE_CF_AUDIT] = STORE_RETAIN_AUDIT_DEFAULT;
	o->retain_s[STORE_CF_META] = STORE_RETAIN_META_DEFAULT;
	o->expire_every_s = STORE_EXPIRE_EVERY_DEFAULT;
}

int64_t
store_now(const struct store *s)
{
	struct timespec ts;

	if (s->o.clock != NULL)
		return s->o.clock(s->o.clock_arg);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
store_counters(const struct store *s, uint64_t out[STORE_CNT__COUNT])
{
	for (unsigned i = 0; i < STORE_CNT__COUNT; i++)
		out[i] = atomic_load_explicit(&s->cnt[i], memory_order_relaxed);
}

unsigned
store_seal_key_id(const struct store *s)
{
	return s->keys != NULL ? store_keys_newest(s->keys) : 0;
}

/*
 * RocksDB says what went wrong only in its status text. Corruption first:
 * "block checksum mismatch" must not read as a lock. The lock messages are
 * "While lock file: DIR/LOCK: Resource temporarily unavailable" (another
 * process) and "lock hold by current process" (this one).
 */
int
store_rocksdb_errno(const char *msg)
{
	if (msg == NULL)
		return -EIO;
	if (strstr(msg, "No space left") != NULL)
		return -ENOSPC;
	if (strstr(msg, "Corruption") != NULL)
		return -EUCLEAN;
	if (strstr(msg, "lock file") != NULL || strstr(msg, "lock hold") != NULL ||
	    strstr(msg, "/LOCK:") != NULL)
		return -EBUSY;
	if (strstr(msg, "Permission denied") != NULL)
		return -EACCES;
	if (strstr(msg, "Invalid argument") != NULL)
		return -EINVAL;
	if (strstr(msg, "NotFound") != NULL || strstr(msg, "does not exist") != NULL ||
	    strstr(msg, "No such file") != NULL)
		return -ENOENT;
	return -EIO;
}

static int __attribute__((format(printf, 4, 5)))
fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* A RocksDB error at open to its errno and the operator's line; frees @rerr. */
static int
fail_rocksdb(const char *dir, char *rerr, char *err, size_t errlen)
{
	int rc = store_rocksdb_errno(rerr);

	switch (rc) {
	case -EBUSY:
		fail(err, errlen, rc,
		     "%s: another process has it open: is vigild running? (vigil-store works on a "
		     "live appliance with --secondary)",
		     dir);
		break;
	case -EUCLEAN:
		fail(err, errlen, rc, "%s: corrupted (%s): restore a backup (vigil-store restore)",
		     dir, rerr);
		break;
	case -ENOSPC:
		fail(err, errlen, rc, "%s: disk full (%s): free space on its file system", dir,
		     rerr);
		break;
	case -EACCES:
		fail(err, errlen, rc, "%s: permission denied (%s): run as the user that owns it",
		     dir, rerr);
		break;
	default:
		fail(err, errlen, rc, "%s: cannot open (%s)", dir, rerr);
		break;
	}
	rocksdb_free(rerr);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Opening                                                                   */
/* ------------------------------------------------------------------------ */

static int
check_opts(const struct store_opts *o, char *err, size_t errlen)
{
	if (o->dir == NULL || o->dir[0] == '\0')
		return fail(err, errlen, -EINVAL, "storage: no directory given");
	if ((unsigned)o->mode > STORE_SECONDARY)
		return fail(err, errlen, -EINVAL, "%s: unknown open mode %d", o->dir, (int)o->mode);
	if (o->mode == STORE_SECONDARY && (o->secondary_dir == NULL || o->secondary_dir[0] == 0))
		return fail(err, errlen, -EINVAL,
			    "%s: a secondary open needs a directory of its own (secondary_dir)",
			    o->dir);
	if ((unsigned)o->compression > STORE_COMPRESS_SNAPPY)
		return fail(err, errlen, -EINVAL, "%s: unknown compression %d", o->dir,
			    (int)o->compression);
	if (o->block_cache_mb > SIZE_MAX / MIB || o->write_buffer_mb > SIZE_MAX / MIB / 4)
		return fail(err, errlen, -EINVAL, "%s: cache or write buffer too large", o->dir);
	for (unsigned i = 0; i < STORE_CF__COUNT; i++)
		if (o->retain_s[i] < 0)
			return fail(err, errlen, -EINVAL, "%s: negative retention for %s", o->dir,
				    cf_names[i]);
	return 0;
}

/* Copy the options and their strings, with the defaults for the zeros. */
static int
copy_opts(struct store *s, const struct store_opts *o)
{
	s->o = *o;
	s->dir = strdup(o->dir);
	s->secondary_dir = o->secondary_dir != NULL ? strdup(o->secondary_dir) : NULL;
	s->key_file = o->key_file != NULL ? strdup(o->key_file) : NULL;
	if (s->dir == NULL || (o->secondary_dir != NULL && s->secondary_dir == NULL) ||
	    (o->key_file != NULL && s->key_file == NULL))
		return -ENOMEM;
	s->o.dir = s->dir;
	s->o.secondary_dir = s->secondary_dir;
	s->o.key_file = s->key_file;
	if (s->o.block_cache_mb == 0)
		s->o.block_cache_mb = DEFAULT_CACHE_MB;
	if (s->o.write_buffer_mb == 0)
		s->o.write_buffer_mb = DEFAULT_WRITE_BUFFER_MB;
	if (s->o.batch_records == 0)
		s->o.batch_records = STORE_BATCH_RECORDS_DEFAULT;
	if (s->o.batch_ms == 0)
		s->o.batch_ms = STORE_BATCH_MS_DEFAULT;
	return 0;
}

/*
 * Is there a database in the directory? Sets *fresh when a read-write
 * open will create one. Nothing is created here.
 */
static int
probe_dir(const struct store *s, bool *fresh, char *err, size_t errlen)
{
	const char *dir = s->dir;
	struct stat st;
	char *current;
	int rc;

	*fresh = false;
	if (stat(dir, &st) < 0) {
		if (errno == ENOENT && s->o.mode == STORE_READ_WRITE) {
			*fresh = true;
			return 0;
		}
		if (errno == ENOENT)
			return fail(err, errlen, -ENOENT,
				    "%s: no such directory (no database to read)", dir);
		rc = -errno;
		return fail(err, errlen, rc, "%s: %s", dir, strerror(-rc));
	}
	if (!S_ISDIR(st.st_mode))
		return fail(err, errlen, -ENOTDIR, "%s: not a directory", dir);
	current = malloc(strlen(dir) + sizeof("/CURRENT"));
	if (current == NULL)
		return fail(err, errlen, -ENOMEM, "%s: out of memory", dir);
	sprintf(current, "%s/CURRENT", dir);
	rc = stat(current, &st) < 0 ? -errno : 0;
	free(current);
	if (rc == -ENOENT && s->o.mode == STORE_READ_WRITE) {
		*fresh = true;
		return 0;
	}
	if (rc == -ENOENT)
		return fail(err, errlen, -ENOENT, "%s: no database here (no CURRENT file)", dir);
	if (rc < 0)
		return fail(err, errlen, rc, "%s/CURRENT: %s", dir, strerror(-rc));
	return 0;
}

static int
compression_type(enum store_compression c)
{
	switch (c) {
	case STORE_COMPRESS_NONE:
		return rocksdb_no_compression;
	case STORE_COMPRESS_LZ4:
		return rocksdb_lz4_compression;
	case STORE_COMPRESS_ZSTD:
		return rocksdb_zstd_compression;
	case STORE_COMPRESS_SNAPPY:
		return rocksdb_snappy_compression;
	}
	return rocksdb_no_compression;
}

/*
 * No prefix extractor: queries seek to device . from and walk in key order,
 * which needs no prefix, while prefix mode would make a total-order walk
 * (stats, seek_to_last, a tool's dump) subtle. No bloom filter either: the
 * store does range walks, not point reads, except for meta and one alarm.
 */
static void
table_options(struct store *s, rocksdb_options_t *o)
{
	size_t wb = s->o.write_buffer_mb * MIB;

	rocksdb_options_set_block_based_table_factory(o, s->table);
	rocksdb_options_set_write_buffer_size(o, wb);
	rocksdb_options_set_compression(o, compression_type(s->o.compression));
}

static void
build_options(struct store *s, bool fresh)
{
	bool rw = s->o.mode == STORE_READ_WRITE;

	s->cache = rocksdb_cache_create_lru(s->o.block_cache_mb * MIB);
	s->table = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(s->table, s->cache);

	s->db_opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(s->db_opts, rw && fresh);
	rocksdb_options_set_create_missing_column_families(s->db_opts, rw && fresh);
	rocksdb_options_set_keep_log_file_num(s->db_opts, LOG_FILES_KEPT);
	rocksdb_options_set_max_log_file_size(s->db_opts, LOG_FILE_MAX);
	/*
	 * RocksDB's own LOG carries fatal messages only. Debian's librocksdb
	 * 7.8 is built with assertions, and a failed write to that LOG (on a
	 * full disk, exactly when RocksDB has errors to log) aborts the
	 * process; vigil reports its write errors itself.
	 */
	rocksdb_options_set_info_log_level(s->db_opts, ROCKSDB_LOG_FATAL);
	/*
	 * A WAL file is deleted only once every column family that wrote to it
	 * has flushed; alarms, audit and meta write little, so without a bound
	 * their memtables would keep the observations' old WAL files forever.
	 */
	rocksdb_options_set_max_total_wal_size(s->db_opts, 4 * s->o.write_buffer_mb * MIB);
	table_options(s, s->db_opts); /* the "default" column family, unused */

	for (unsigned i = 0; i < STORE_CF__COUNT; i++) {
		s->cf_opts[i] = rocksdb_options_create();
		table_options(s, s->cf_opts[i]);
		if (rw)
			s->filter[i] = store_retention_filter(s, (enum store_cf)i);
		if (s->filter[i] != NULL)
			rocksdb_options_set_compaction_filter(s->cf_opts[i], s->filter[i]);
	}

	s->wo_batch = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wo_batch, 0);
	s->wo_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wo_sync, 1);
	s->ro = rocksdb_readoptions_create();
}

/*
 * Column families are missing: a sound database of something else, or a
 * damaged one (a MANIFEST cut short lists only "default"). A read-only open
 * of what is listed tells them apart without writing anything.
 */
static int
not_vigil(struct store *s, char **list, size_t n, const char *missing, char *err, size_t errlen)
{
	const rocksdb_options_t **opts = calloc(n, sizeof(*opts));
	rocksdb_column_family_handle_t **h = calloc(n, sizeof(*h));
	char *rerr = NULL;
	rocksdb_t *db;
	int rc;

	if (opts == NULL || h == NULL) {
		rc = fail(err, errlen, -ENOMEM, "%s: out of memory", s->dir);
		goto out;
	}
	for (size_t j = 0; j < n; j++)
		opts[j] = s->db_opts;
	db = rocksdb_open_for_read_only_column_families(
		s->db_opts, s->dir, (int)n, (const char *const *)list, opts, h, 0, &rerr);
	if (rerr != NULL) {
		rc = fail_rocksdb(s->dir, rerr, err, errlen);
		goto out;
	}
	for (size_t j = 0; j < n; j++)
		rocksdb_column_family_handle_destroy(h[j]);
	rocksdb_close(db);
	rc = fail(err, errlen, -EPROTO,
		  "%s: not a vigil database (no column family \"%s\"): give storage.dir a "
		  "vigil data directory",
		  s->dir, missing);
out:
	free(opts);
	free(h);
	return rc;
}

/*
 * The column families of an existing database: all of vigil's must be
 * there; others (a later schema's) are returned in @list to be opened too.
 */
static int
list_cfs(struct store *s, char ***list, size_t *n, char *err, size_t errlen)
{
	char *rerr = NULL;
	bool found;

	*list = rocksdb_list_column_families(s->db_opts, s->dir, n, &rerr);
	if (rerr != NULL)
		return fail_rocksdb(s->dir, rerr, err, errlen);
	for (unsigned i = 0; i < STORE_CF__COUNT; i++) {
		found = false;
		for (size_t j = 0; j < *n && !found; j++)
			found = strcmp((*list)[j], cf_names[i]) == 0;
		if (!found)
			return not_vigil(s, *list, *n, cf_names[i], err, errlen);
	}
	return 0;
}

static bool
is_vigil_cf(const char *name)
{
	if (strcmp(name, "default") == 0)
		return true;
	for (unsigned i = 0; i < STORE_CF__COUNT; i++)
		if (strcmp(name, cf_names[i]) == 0)
			return true;
	return false;
}

static int
open_db(struct store *s, char **list, size_t n_list, char *err, size_t errlen)
{
	size_t n = 1 + STORE_CF__COUNT;
	const char **names = NULL;
	const rocksdb_options_t **opts = NULL;
	rocksdb_column_family_handle_t **h = NULL;
	char *rerr = NULL;
	int rc = 0;

	names = calloc(n + n_list, sizeof(*names));
	opts = calloc(n + n_list, sizeof(*opts));
	h = calloc(n + n_list, sizeof(*h));
	if (names == NULL || opts == NULL || h == NULL) {
		rc = fail(err, errlen, -ENOMEM, "%s: out of memory", s->dir);
		goto out;
	}
	names[0] = "default";
	opts[0] = s->db_opts;
	for (unsigned i = 0; i < STORE_CF__COUNT; i++) {
		names[1 + i] = cf_names[i];
		opts[1 + i] = s->cf_opts[i];
	}
	for (size_t j = 0; j < n_list; j++) {
		if (is_vigil_cf(list[j]))
			continue;
		names[n] = list[j];
		opts[n++] = s->db_opts;
	}
	switch (s->o.mode) {
	case STORE_READ_WRITE:
		s->db = rocksdb_open_column_families(s->db_opts, s->dir, (int)n, names, opts, h,
						     &rerr);
		break;
	case STORE_READ_ONLY:
		s->db = rocksdb_open_for_read_only_column_families(s->db_opts, s->dir, (int)n,
								   names, opts, h, 0, &rerr);
		break;
	case STORE_SECONDARY:
		s->db = rocksdb_open_as_secondary_column_families(
			s->db_opts, s->dir, s->secondary_dir, (int)n, names, opts, h, &rerr);
		break;
	}
	if (rerr != NULL) {
		s->db = NULL;
		rc = fail_rocksdb(s->dir, rerr, err, errlen);
		goto out;
	}
	for (unsigned i = 0; i < STORE_CF__COUNT; i++)
		s->cf[i] = h[1 + i];
	/* The default's and any later schema's handles are not used. */
	rocksdb_column_family_handle_destroy(h[0]);
	for (size_t j = 1 + STORE_CF__COUNT; j < n; j++)
		rocksdb_column_family_handle_destroy(h[j]);
out:
	free(names);
	free(opts);
	free(h);
	return rc;
}

/* Whether column family @cf holds nothing; -errno on a read error. */
static int
cf_empty(struct store *s, enum store_cf cf)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ro, s->cf[cf]);
	char *rerr = NULL;
	int rc;

	rocksdb_iter_seek_to_first(it);
	rc = rocksdb_iter_valid(it) ? 0 : 1;
	rocksdb_iter_get_error(it, &rerr);
	if (rerr != NULL) {
		rc = store_rocksdb_errno(rerr);
		rocksdb_free(rerr);
	}
	rocksdb_iter_destroy(it);
	return rc;
}

static int
write_schema(struct store *s, char *err, size_t errlen)
{
	uint8_t val[STORE_VALUE_HDR + 24];
	char *rerr = NULL;
	int n;

	/* Plain even in a sealed store (see the top of this file). */
	memset(val, 0, STORE_VALUE_HDR);
	val[0] = STORE_VALUE_FORMAT;
	store_be64(val + 4, (uint64_t)store_now(s));
	n = snprintf((char *)val + STORE_VALUE_HDR, 24, "%d", STORE_SCHEMA_VERSION);
	rocksdb_put_cf(s->db, s->wo_sync, s->cf[STORE_CF_META], META_SCHEMA,
		       sizeof(META_SCHEMA) - 1, (const char *)val, STORE_VALUE_HDR + (size_t)n,
		       &rerr);
	if (rerr != NULL)
		return fail_rocksdb(s->dir, rerr, err, errlen);
	store_count(s, STORE_CNT_meta_written, 1);
	return 0;
}

static int
check_schema(struct store *s, bool fresh, char *err, size_t errlen)
{
	char text[24], *end;
	bool empty = true;
	long v;
	int rc;

	if (fresh)
		return write_schema(s, err, errlen);
	rc = store_meta_get(s, META_SCHEMA, text, sizeof(text));
	if (rc == -ENOENT) {
		for (unsigned i = 0; i < STORE_CF__COUNT && empty; i++) {
			rc = cf_empty(s, (enum store_cf)i);
			if (rc < 0)
				return fail(err, errlen, rc, "%s: cannot read %s: %s", s->dir,
					    cf_names[i], strerror(-rc));
			empty = rc == 1;
		}
		if (!empty)
			return fail(err, errlen, -EPROTO,
				    "%s: not a vigil database (no schema version in meta): give "
				    "storage.dir a vigil data directory",
				    s->dir);
		/* Created, then stopped before the version was written. */
		return s->o.mode == STORE_READ_WRITE ? write_schema(s, err, errlen) : 0;
	}
	if (rc == -ENOKEY || rc == -EBADMSG)
		return fail(err, errlen, -EPROTO,
			    "%s: its schema version is sealed and %s: give the key file that "
			    "sealed it",
			    s->dir, rc == -ENOKEY ? "no key opens it" : "fails authentication");
	if (rc < 0)
		return fail(err, errlen, rc, "%s: cannot read its schema version: %s", s->dir,
			    strerror(-rc));
	if ((size_t)rc >= sizeof(text))
		return fail(err, errlen, -EPROTO, "%s: unreadable schema version (%d bytes)",
			    s->dir, rc);
	errno = 0;
	v = strtol(text, &end, 10);
	if (rc == 0 || *end != '\0' || errno != 0 || text[0] == '-' || text[0] == '+' ||
	    text[0] == ' ')
		return fail(err, errlen, -EPROTO, "%s: unreadable schema version \"%.*s\"", s->dir,
			    rc, text);
	if (v != STORE_SCHEMA_VERSION)
		return fail(err, errlen, -EPROTO,
			    "%s: written by schema %ld, this vigil reads %d: use a vigil that "
			    "reads schema %ld, or restore a backup of schema %d",
			    s->dir, v, STORE_SCHEMA_VERSION, v, STORE_SCHEMA_VERSION);
	return 0;
}

/* One more than the last 8-byte key of @cf, or 1. */
static int
next_id(struct store *s, enum store_cf cf, uint64_t *next)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ro, s->cf[cf]);
	char *rerr = NULL;
	const char *k;
	size_t klen;
	uint64_t id;
	int rc = 0;

	*next = 1;
	for (rocksdb_iter_seek_to_last(it); rocksdb_iter_valid(it); rocksdb_iter_prev(it)) {
		k = rocksdb_iter_key(it, &klen);
		if (klen != STORE_KEY_ID)
			continue; /* not vigil's: skipped as queries skip it */
		id = store_rd64((const uint8_t *)k);
		*next = id == UINT64_MAX ? id : id + 1;
		break;
	}
	rocksdb_iter_get_error(it, &rerr);
	if (rerr != NULL) {
		rc = store_rocksdb_errno(rerr);
		rocksdb_free(rerr);
	}
	rocksdb_iter_destroy(it);
	return rc;
}

int
store_open(const struct store_opts *opts, struct store **out, char *err, size_t errlen)
{
	struct store *s;
	char **list = NULL;
	size_t n_list = 0;
	bool fresh;
	int rc;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	rc = check_opts(opts, err, errlen);
	if (rc < 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return fail(err, errlen, -ENOMEM, "%s: out of memory", opts->dir);
	pthread_mutex_init(&s->nonce_lock, NULL);
	rc = copy_opts(s, opts);
	if (rc < 0) {
		fail(err, errlen, rc, "%s: out of memory", opts->dir);
		goto fail;
	}
	/* The key file first: a refused key must not leave a new database behind. */
	if (s->key_file != NULL) {
		rc = store_keys_load(s->key_file, &s->keys, err, errlen);
		if (rc < 0)
			goto fail;
	}
	rc = probe_dir(s, &fresh, err, errlen);
	if (rc < 0)
		goto fail;
	build_options(s, fresh);
	if (!fresh) {
		rc = list_cfs(s, &list, &n_list, err, errlen);
		if (rc < 0)
			goto fail;
	}
	rc = open_db(s, list, n_list, err, errlen);
	if (rc < 0)
		goto fail;
	rc = check_schema(s, fresh, err, errlen);
	if (rc < 0)
		goto fail;
	rc = next_id(s, STORE_CF_ALARMS, &s->next_alarm_id);
	if (rc == 0)
		rc = next_id(s, STORE_CF_AUDIT, &s->next_audit_seq);
	if (rc < 0) {
		fail(err, errlen, rc, "%s: cannot read its last ids: %s", s->dir, strerror(-rc));
		goto fail;
	}
	if (s->o.mode == STORE_READ_WRITE) {
		s->batch = rocksdb_writebatch_create();
		s->scratch = malloc(STORE_VALUE_HDR + STORE_RECORD_MAX + STORE_SEAL_OVERHEAD);
		s->audit_scratch = malloc(STORE_VALUE_HDR + STORE_RECORD_MAX + STORE_SEAL_OVERHEAD);
		if (s->scratch == NULL || s->audit_scratch == NULL) {
			rc = fail(err, errlen, -ENOMEM, "%s: out of memory", s->dir);
			goto fail;
		}
		rc = store_expirer_start(s);
		if (rc < 0) {
			fail(err, errlen, rc, "%s: cannot start the retention thread: %s", s->dir,
			     strerror(-rc));
			goto fail;
		}
	}
	if (list != NULL)
		rocksdb_list_column_families_destroy(list, n_list);
	*out = s;
	return 0;
fail:
	if (list != NULL)
		rocksdb_list_column_families_destroy(list, n_list);
	store_close(s);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Closing                                                                   */
/* ------------------------------------------------------------------------ */

void
store_close(struct store *s)
{
	char *rerr = NULL;

	if (s == NULL)
		return;
	store_expirer_stop(s);
	if (s->db != NULL && s->batch != NULL) {
		/* Errors are counted by the flush; nothing more to do with them here. */
		(void)store_flush(s);
		/*
		 * A clean stop loses nothing to a power cut that follows it. Not
		 * after a write error, though: on a database that has not
		 * recovered from one, Debian's librocksdb (built with assertions)
		 * aborts in rocksdb_flush_wal. Then the WAL's tail is left to the
		 * page cache, which a process exit does not lose.
		 */
		if (atomic_load_explicit(&s->cnt[STORE_CNT_write_errors], memory_order_relaxed) ==
		    0) {
			rocksdb_flush_wal(s->db, 1, &rerr);
			if (rerr != NULL) {
				store_count(s, STORE_CNT_write_errors, 1);
				rocksdb_free(rerr);
			}
		}
	}
	for (unsigned i = 0; i < STORE_CF__COUNT; i++)
		if (s->cf[i] != NULL)
			rocksdb_column_family_handle_destroy(s->cf[i]);
	if (s->db != NULL)
		rocksdb_close(s->db);
	/* The options point at the filters and the table: those go after. */
	for (unsigned i = 0; i < STORE_CF__COUNT; i++) {
		if (s->cf_opts[i] != NULL)
			rocksdb_options_destroy(s->cf_opts[i]);
		if (s->filter[i] != NULL)
			rocksdb_compactionfilter_destroy(s->filter[i]);
	}
	if (s->db_opts != NULL)
		rocksdb_options_destroy(s->db_opts);
	if (s->table != NULL)
		rocksdb_block_based_options_destroy(s->table);
	if (s->cache != NULL)
		rocksdb_cache_destroy(s->cache);
	if (s->wo_batch != NULL)
		rocksdb_writeoptions_destroy(s->wo_batch);
	if (s->wo_sync != NULL)
		rocksdb_writeoptions_destroy(s->wo_sync);
	if (s->ro != NULL)
		rocksdb_readoptions_destroy(s->ro);
	if (s->batch != NULL)
		rocksdb_writebatch_destroy(s->batch);
	if (s->keys != NULL)
		store_keys_free(s->keys);
	free(s->scratch);
	free(s->audit_scratch);
	pthread_mutex_destroy(&s->nonce_lock);
	free(s->dir);
	free(s->secondary_dir);
	free(s->key_file);
	free(s);
}
