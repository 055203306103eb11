/*
 * query.c - reading the store back: observations by device and time range,
 * alarms by time range and by id, audit records by sequence, one JSON line
 * per observation, a secondary instance's catch-up, and per column family
 * figures from RocksDB's properties.
 *
 * Every value goes through store_value_open: a value it refuses (a header
 * vigil cannot read, a key id the store does not have, a failed
 * authentication) is skipped and counted there, never handed to a caller.
 * A query runs on any thread, on a read-write, read-only or secondary
 * store; each builds its own read options (the iterator's upper bound lives
 * in them) so that queries never share mutable state.
 *
 * Ranges are half-open, [from, to), as everywhere in the store: a walk
 * seeks to the first key of `from` and stops at RocksDB's upper bound, the
 * first key of `to`, so the end needs no test of its own.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_private.h"

/* ------------------------------------------------------------------------ */
/* Shared                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * Queries run on any thread, alongside the writer: what they count, they
 * count with an atomic add (as store_value_open does).
 */
static void
count_reader(struct store *s, enum store_counter c)
{
	atomic_fetch_add_explicit(&s->cnt[c], 1, memory_order_relaxed);
}

/* A record's bytes, grown as needed (a plain record is never longer than its value). */
struct rec_buf {
	uint8_t *p;
	size_t cap;
};

static int
rec_buf_room(struct rec_buf *b, size_t need)
{
	uint8_t *bigger;

	if (need <= b->cap)
		return 0;
	bigger = realloc(b->p, need);
	if (!bigger)
		return -ENOMEM;
	b->p = bigger;
	b->cap = need;
	return 0;
}

/*
 * Open the value @val under @key into @b. @return the record's length, or
 * store_value_open's negative errno (counted there), or -ENOMEM.
 */
static int
open_value(struct store *s, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
	   struct rec_buf *b, int64_t *time_ns)
{
	int n;
	int rc = rec_buf_room(b, vlen > 0 ? vlen : 1);

	if (rc < 0)
		return rc;
	n = store_value_open(s, key, klen, val, vlen, time_ns, b->p, b->cap);
	if (n >= 0 && (size_t)n > b->cap) {
		/* Cannot happen with this value format; refuse rather than truncate. */
		count_reader(s, STORE_CNT_bad_values);
		return -EPROTO;
	}
	return n;
}

/* An iterator over @cf from @lo (NULL: the first key) to before @hi (NULL: the end). */
static int
walk_start(struct store *s, enum store_cf cf, const uint8_t *lo, size_t lolen, const uint8_t *hi,
	   size_t hilen, rocksdb_readoptions_t **ro_out, rocksdb_iterator_t **it_out)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;

	if (!ro)
		return -ENOMEM;
	rocksdb_readoptions_set_verify_checksums(ro, 1);
	if (hi)
		rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, hilen);
	it = rocksdb_create_iterator_cf(s->db, ro, s->cf[cf]);
	if (!it) {
		rocksdb_readoptions_destroy(ro);
		return -ENOMEM;
	}
	if (lo)
		rocksdb_iter_seek(it, (const char *)lo, lolen);
	else
		rocksdb_iter_seek_to_first(it);
	*ro_out = ro;
	*it_out = it;
	return 0;
}

/* The iterator's status, then both freed. @return 0 or a negative errno. */
static int
walk_end(rocksdb_readoptions_t *ro, rocksdb_iterator_t *it)
{
	char *err = NULL;
	int rc = 0;

	rocksdb_iter_get_error(it, &err);
	if (err) {
		rc = store_rocksdb_errno(err);
		rocksdb_free(err);
	}
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

static bool
store_usable(const struct store *s)
{
	return s && s->db;
}

/* ------------------------------------------------------------------------ */
/* Observations                                                              */
/* ------------------------------------------------------------------------ */

int
store_query_obs(struct store *s, uint64_t device, int64_t from_ns, int64_t to_ns, store_obs_fn fn,
		void *arg)
{
	uint8_t lo[STORE_KEY_OBS], hi[STORE_KEY_OBS];
	rocksdb_readoptions_t *ro = NULL;
	rocksdb_iterator_t *it = NULL;
	struct rec_buf b = {0};
	int rc, end;

	if (!store_usable(s) || !fn)
		return -EINVAL;
	if (to_ns <= from_ns)
		return 0;
	/* Seq 0 is the first key of a time, so hi excludes every record of to_ns. */
	store_key_obs(lo, device, from_ns, 0);
	store_key_obs(hi, device, to_ns, 0);
	rc = walk_start(s, STORE_CF_OBS, lo, sizeof(lo), hi, sizeof(hi), &ro, &it);
	if (rc < 0)
		return rc;
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
		struct store_obs o;
		int64_t hdr_time;
		int n;

		if (klen != STORE_KEY_OBS) {
			count_reader(s, STORE_CNT_bad_values);
			continue;
		}
		n = open_value(s, k, klen, v, vlen, &b, &hdr_time);
		if (n == -ENOMEM) {
			rc = n;
			break;
		}
		if (n < 0)
			continue; /* refused, counted by store_value_open */
		if (n != STORE_OBS_REC) {
			count_reader(s, STORE_CNT_bad_values);
			continue;
		}
		memset(&o, 0, sizeof(o));
		store_obs_decode(b.p, &o);
		/* The key is the record's identity (and bound to it when sealed). */
		store_key_obs_parse(k, &o.device, &o.time_ns, &o.seq);
		rc = fn(arg, &o);
		if (rc != 0)
			break;
	}
	end = walk_end(ro, it);
	free(b.p);
	return rc != 0 ? rc : end;
}

/* ------------------------------------------------------------------------ */
/* Alarms and audit (JSON records under an 8-byte id)                        */
/* ------------------------------------------------------------------------ */

/*
 * Walk @cf's ids in [lo, hi) (hi 0: to the end) and hand each record to
 * @fn; with @by_time, only those whose header time is in [from_ns, to_ns).
 */
static int
walk_json(struct store *s, enum store_cf cf, uint64_t lo_id, uint64_t hi_id, bool by_time,
	  int64_t from_ns, int64_t to_ns, store_json_fn fn, void *arg)
{
	uint8_t lo[STORE_KEY_ID], hi[STORE_KEY_ID];
	rocksdb_readoptions_t *ro = NULL;
	rocksdb_iterator_t *it = NULL;
	struct rec_buf b = {0};
	int rc, end;

	store_key_id(lo, lo_id);
	store_key_id(hi, hi_id);
	rc = walk_start(s, cf, lo, sizeof(lo), hi_id ? hi : NULL, sizeof(hi), &ro, &it);
	if (rc < 0)
		return rc;
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
		int64_t t;
		int n;

		if (klen != STORE_KEY_ID) {
			count_reader(s, STORE_CNT_bad_values);
			continue;
		}
		/*
		 * The clear header says whether the record is in range before it
		 * is unsealed; the time handed on is the one store_value_open
		 * checked (the header is authenticated with the record). A bad
		 * header still goes to store_value_open, which counts it.
		 */
		if (by_time && store_value_time(v, vlen, &t) && (t < from_ns || t >= to_ns))
			continue;
		n = open_value(s, k, klen, v, vlen, &b, &t);
		if (n == -ENOMEM) {
			rc = n;
			break;
		}
		if (n < 0)
			continue;
		if (by_time && (t < from_ns || t >= to_ns))
			continue;
		rc = fn(arg, store_rd64(k), t, (const char *)b.p, (size_t)n);
		if (rc != 0)
			break;
	}
	end = walk_end(ro, it);
	free(b.p);
	return rc != 0 ? rc : end;
}

int
store_query_alarms(struct store *s, int64_t from_ns, int64_t to_ns, store_json_fn fn, void *arg)
{
	if (!store_usable(s) || !fn)
		return -EINVAL;
	if (to_ns <= from_ns)
		return 0;
	return walk_json(s, STORE_CF_ALARMS, 0, 0, true, from_ns, to_ns, fn, arg);
}

int
store_query_audit(struct store *s, uint64_t from, uint64_t to, store_json_fn fn, void *arg)
{
	if (!store_usable(s) || !fn)
		return -EINVAL;
	if (to <= from)
		return 0;
	return walk_json(s, STORE_CF_AUDIT, from, to, false, 0, 0, fn, arg);
}

int
store_alarm_get(struct store *s, uint64_t id, store_json_fn fn, void *arg)
{
	uint8_t k[STORE_KEY_ID];
	struct rec_buf b = {0};
	char *err = NULL;
	char *v = NULL;
	size_t vlen = 0;
	int64_t t;
	int rc;

	if (!store_usable(s) || !fn)
		return -EINVAL;
	store_key_id(k, id);
	v = rocksdb_get_cf(s->db, s->ro, s->cf[STORE_CF_ALARMS], (const char *)k, sizeof(k), &vlen,
			   &err);
	if (err) {
		rc = store_rocksdb_errno(err);
		goto out;
	}
	if (!v) {
		rc = -ENOENT;
		goto out;
	}
	rc = open_value(s, k, sizeof(k), (const uint8_t *)v, vlen, &b, &t);
	if (rc < 0)
		goto out;
	rc = fn(arg, id, t, (const char *)b.p, (size_t)rc);
out:
	rocksdb_free(err);
	rocksdb_free(v);
	free(b.p);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                      */
/* ------------------------------------------------------------------------ */

int
store_time_format(int64_t ns, unsigned digits, char *out, size_t room)
{
	static const int64_t div[10] = {1000000000, 100000000, 10000000, 1000000, 100000,
					10000,	    1000,      100,	 10,	  1};
	int64_t sec = ns / 1000000000;
	int64_t frac = ns % 1000000000;
	struct tm tm;
	time_t t;
	int n;

	if (digits > 9)
		return -EINVAL;
	if (frac < 0) { /* times before 1970 too: floor division */
		frac += 1000000000;
		sec--;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm))
		return -EOVERFLOW;
	n = snprintf(out, room, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n > 0 && (size_t)n < room && digits > 0)
		n += snprintf(out + n, room - (size_t)n, ".%0*" PRId64, (int)digits,
			      frac / div[digits]);
	if (n > 0 && (size_t)n + 1 < room) {
		out[n++] = 'Z';
		out[n] = '\0';
		return 0;
	}
	return -EOVERFLOW;
}

/* The shortest of %.15g..%.17g that reads back as @v (JSON has no NaN or infinity). */
static void
format_value(double v, char *out, size_t room)
{
	if (!isfinite(v)) {
		snprintf(out, room, "null");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, room, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

int
store_obs_json(const struct store_obs *obs, FILE *out)
{
	char when[48], val[40];
	int rc;

	if (!obs || !out)
		return -EINVAL;
	rc = store_time_format(obs->time_ns, 9, when, sizeof(when));
	if (rc < 0)
		return rc;
	format_value(obs->value, val, sizeof(val));
	if (fprintf(out,
		    "{\"device\":\"0x%016" PRIx64 "\",\"time\":\"%s\",\"seq\":%" PRIu32
		    ",\"code\":%" PRIu32 ",\"value\":%s,\"unit\":%" PRIu32 ",\"flags\":%" PRIu32
		    "}\n",
		    obs->device, when, obs->seq, obs->code, val, obs->unit, obs->flags) < 0)
		return -EIO;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Secondary instances and figures                                           */
/* ------------------------------------------------------------------------ */

int
store_catch_up(struct store *s)
{
	char *err = NULL;
	int rc = 0;

	if (!store_usable(s))
		return -EINVAL;
	if (s->o.mode != STORE_SECONDARY)
		return -EINVAL;
	rocksdb_try_catch_up_with_primary(s->db, &err);
	if (err) {
		rc = store_rocksdb_errno(err);
		rocksdb_free(err);
	}
	return rc;
}

/*
 * Per column family, from RocksDB's documented properties:
 *   keys        rocksdb.estimate-num-keys: an estimate (memtables and SST
 *               files; overwrites and deletions not yet compacted make it
 *               approximate)
 *   live_bytes  rocksdb.live-sst-files-size: the SST files of the current
 *               version (the memtables are not counted)
 *   sst_files   the sum of rocksdb.num-files-at-level<N> over the levels
 */
int
store_stats(struct store *s, struct store_cf_stats out[STORE_CF__COUNT])
{
	if (!store_usable(s) || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out) * STORE_CF__COUNT);
	for (int cf = 0; cf < STORE_CF__COUNT; cf++) {
		if (rocksdb_property_int_cf(s->db, s->cf[cf], "rocksdb.estimate-num-keys",
					    &out[cf].keys) != 0 ||
		    rocksdb_property_int_cf(s->db, s->cf[cf], "rocksdb.live-sst-files-size",
					    &out[cf].live_bytes) != 0)
			return -EIO;
		/* The property is NULL past the last level. */
		for (int level = 0;; level++) {
			char name[48];
			char *v;

			snprintf(name, sizeof(name), "rocksdb.num-files-at-level%d", level);
			v = rocksdb_property_value_cf(s->db, s->cf[cf], name);
			if (!v) {
				if (level == 0)
					return -EIO;
				break;
			}
			out[cf].sst_files += strtoull(v, NULL, 10);
			rocksdb_free(v);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Times as people write them                                                */
/* ------------------------------------------------------------------------ */

/* @p n digits at @p s, as a number; -1 if any is not a digit. */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
store_time_parse(const char *s, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, se = 0;
	int64_t frac = 0, offset = 0;
	struct tm tm = {0};
	const char *p;
	time_t t;

	if (strlen(s) < 10)
		return -EINVAL;
	y = digits(s, 4);
	mo = s[4] == '-' ? digits(s + 5, 2) : -1;
	d = mo >= 0 && s[7] == '-' ? digits(s + 8, 2) : -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31)
		return -EINVAL;
	p = s + 10;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		if (strlen(p) < 9)
			return -EINVAL;
		h = digits(p + 1, 2);
		mi = p[3] == ':' ? digits(p + 4, 2) : -1;
		se = mi >= 0 && p[6] == ':' ? digits(p + 7, 2) : -1;
		if (h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60)
			return -EINVAL;
		p += 9;
		if (*p == '.') {
			int n = 0;

			for (p++; isdigit((unsigned char)*p); p++, n++)
				if (n < 9)
					frac = frac * 10 + (*p - '0');
			if (n == 0)
				return -EINVAL;
			for (; n < 9; n++)
				frac *= 10;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if ((*p == '+' || *p == '-') && strlen(p) >= 6) {
			int oh = digits(p + 1, 2), om = p[3] == ':' ? digits(p + 4, 2) : -1;

			if (oh < 0 || oh > 23 || om < 0 || om > 59)
				return -EINVAL;
			offset = (int64_t)oh * 3600 + om * 60;
			if (*p == '-')
				offset = -offset;
			p += 6;
		} else {
			return -EINVAL;
		}
	}
	if (*p != '\0')
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	if (tm.tm_mday != d || tm.tm_mon != mo - 1) /* 2026-02-31 moved into March */
		return -EINVAL;
	if ((int64_t)t - offset > INT64_MAX / 1000000000LL - 1)
		return -EINVAL;
	*out = ((int64_t)t - offset) * 1000000000LL + frac;
	return 0;
}
