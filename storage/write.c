/*
 * write.c - the store's writer (one control-plane thread): observations
 * in batches, alarm and audit records synced, meta values.
 *
 * Observations go into one RocksDB write batch, written with the WAL on
 * and no fsync when it holds batch_records or, at the next store_tick,
 * when its first record is batch_ms old: a process crash loses only what
 * is still in the batch, a power cut also the WAL's unsynced tail. Alarm,
 * audit and meta records are written one by one and synced before the
 * call returns; alarm records may also be written as a group, one write
 * batch synced once (store_alarms_put), all or nothing. Each call says in
 * @got what the record reached.
 *
 * A failed write (disk full, I/O error) is counted and returned; the batch
 * is dropped and the store stays usable: RocksDB refuses a write as a
 * whole, so a failure never leaves half a batch behind.
 *
 * Nothing here allocates per record: an observation's value is built on
 * the stack, the others in the store's scratch buffer (STORE_RECORD_MAX).
 */
#include <errno.h>
#include <string.h>

#include "store_private.h"

#define META_SCHEMA "schema_version" /* store.c writes it plain, even when sealed */

/* Count a refused RocksDB write and free its message; returns the errno. */
static int
write_failed(struct store *s, char *rerr)
{
	int rc = store_rocksdb_errno(rerr);

	rocksdb_free(rerr);
	store_count(s, STORE_CNT_write_errors, 1);
	if (rc == -ENOSPC)
		store_count(s, STORE_CNT_no_space, 1);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Observations                                                              */
/* ------------------------------------------------------------------------ */

static int
write_batch(struct store *s)
{
	unsigned n = s->n_batch;
	char *rerr = NULL;
	int rc = 0;

	if (n == 0)
		return 0;
	rocksdb_write(s->db, s->wo_batch, s->batch, &rerr);
	if (rerr != NULL) {
		rc = write_failed(s, rerr);
		store_count(s, STORE_CNT_obs_failed, n);
	} else {
		store_count(s, STORE_CNT_obs_written, n);
		store_count(s, STORE_CNT_obs_batches, 1);
	}
	rocksdb_writebatch_clear(s->batch);
	s->n_batch = 0;
	return rc;
}

int
store_obs_add(struct store *s, const struct store_obs *obs, enum store_durability *got)
{
	uint8_t key[STORE_KEY_OBS], rec[STORE_OBS_REC];
	uint8_t val[STORE_VALUE_HDR + STORE_OBS_REC + STORE_SEAL_OVERHEAD];
	int n, rc;

	if (got != NULL)
		*got = STORE_BUFFERED;
	if (s->batch == NULL)
		return -EROFS;
	store_key_obs(key, obs->device, obs->time_ns, obs->seq);
	store_obs_encode(obs, rec);
	n = store_value_make(s, key, sizeof(key), obs->time_ns, rec, sizeof(rec), val, sizeof(val));
	if (n < 0) {
		store_count(s, STORE_CNT_obs_failed, 1);
		return n;
	}
	if (s->n_batch == 0)
		s->batch_first_ns = store_now(s);
	rocksdb_writebatch_put_cf(s->batch, s->cf[STORE_CF_OBS], (const char *)key, sizeof(key),
				  (const char *)val, (size_t)n);
	if (++s->n_batch < s->o.batch_records)
		return 0;
	rc = write_batch(s);
	if (rc == 0 && got != NULL)
		*got = STORE_WAL;
	return rc;
}

int
store_tick(struct store *s, int64_t now_ns)
{
	uint64_t due_ns = (uint64_t)s->o.batch_ms * 1000000;

	if (s->batch == NULL)
		return -EROFS;
	if (s->n_batch == 0)
		return 0;
	/* A clock stepped back writes the batch rather than holding it. */
	if (now_ns >= s->batch_first_ns && (uint64_t)now_ns - (uint64_t)s->batch_first_ns < due_ns)
		return 0;
	return write_batch(s);
}

int
store_flush(struct store *s)
{
	if (s->batch == NULL)
		return -EROFS;
	return write_batch(s);
}

unsigned
store_pending(const struct store *s)
{
	return s->n_batch;
}

/* ------------------------------------------------------------------------ */
/* Synced records                                                            */
/* ------------------------------------------------------------------------ */

/* Build the value in @p buf (a scratch buffer) and write it synced. */
static int
put_synced(struct store *s, uint8_t *buf, enum store_cf cf, const uint8_t *key, size_t klen,
	   int64_t time_ns, const void *plain, size_t plen)
{
	char *rerr = NULL;
	int n;

	if (plen > STORE_RECORD_MAX)
		return -EMSGSIZE;
	n = store_value_make(s, key, klen, time_ns, plain, plen, buf,
			     STORE_VALUE_HDR + STORE_RECORD_MAX + STORE_SEAL_OVERHEAD);
	if (n < 0)
		return n;
	rocksdb_put_cf(s->db, s->wo_sync, s->cf[cf], (const char *)key, klen, (const char *)buf,
		       (size_t)n, &rerr);
	if (rerr != NULL)
		return write_failed(s, rerr);
	return 0;
}

/* Whether store_alarm_put would refuse @p r before writing: 0, -EINVAL, -EMSGSIZE. */
static int
alarm_rec_check(const struct store_alarm_rec *r)
{
	if (r->json == NULL || r->len == 0 || r->id == 0 || r->id == UINT64_MAX)
		return -EINVAL;
	if (r->len > STORE_RECORD_MAX)
		return -EMSGSIZE;
	return 0;
}

/*
 * The group's values are built one at a time in the scratch buffer, which
 * the write batch copies: no allocation per record beyond the batch's own
 * growth. The batch is made per call, so that a group of 256 large records
 * does not stay allocated between groups.
 */
int
store_alarms_put(struct store *s, const struct store_alarm_rec *recs, unsigned n,
		 enum store_durability *got)
{
	rocksdb_writebatch_t *wb = NULL;
	uint8_t key[STORE_KEY_ID];
	uint64_t next = s->next_alarm_id;
	char *rerr = NULL;
	int rc = 0;

	if (got != NULL)
		*got = STORE_BUFFERED;
	if (s->batch == NULL)
		return -EROFS;
	if (n == 0)
		return 0;
	if (n > STORE_ALARMS_BATCH_MAX)
		rc = -E2BIG;
	else if (recs == NULL)
		rc = -EINVAL;
	for (unsigned i = 0; i < n && rc == 0; i++)
		rc = alarm_rec_check(&recs[i]);
	if (rc < 0)
		goto fail;
	wb = rocksdb_writebatch_create();
	if (wb == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct store_alarm_rec *r = &recs[i];
		int len;

		store_key_id(key, r->id);
		len = store_value_make(s, key, sizeof(key), r->time_ns, r->json, r->len, s->scratch,
				       STORE_VALUE_HDR + STORE_RECORD_MAX + STORE_SEAL_OVERHEAD);
		if (len < 0) {
			rc = len;
			goto fail;
		}
		rocksdb_writebatch_put_cf(wb, s->cf[STORE_CF_ALARMS], (const char *)key,
					  sizeof(key), (const char *)s->scratch, (size_t)len);
		if (r->id >= next)
			next = r->id + 1;
	}
	rocksdb_write(s->db, s->wo_sync, wb, &rerr);
	if (rerr != NULL) {
		rc = write_failed(s, rerr);
		goto fail;
	}
	rocksdb_writebatch_destroy(wb);
	store_count(s, STORE_CNT_alarms_written, n);
	s->next_alarm_id = next;
	if (got != NULL)
		*got = STORE_SYNCED;
	return 0;
fail:
	if (wb != NULL)
		rocksdb_writebatch_destroy(wb);
	store_count(s, STORE_CNT_alarms_failed, n);
	return rc;
}

int
store_alarm_put(struct store *s, uint64_t id, int64_t time_ns, const char *json, size_t len,
		enum store_durability *got)
{
	const struct store_alarm_rec r = {.id = id, .time_ns = time_ns, .json = json, .len = len};

	return store_alarms_put(s, &r, 1, got);
}

uint64_t
store_alarm_next_id(struct store *s)
{
	return s->next_alarm_id;
}

int
store_audit_append(struct store *s, int64_t time_ns, const char *json, size_t len, uint64_t *seq,
		   enum store_durability *got)
{
	uint8_t key[STORE_KEY_ID];
	uint64_t n = s->next_audit_seq;
	int rc;

	if (got != NULL)
		*got = STORE_BUFFERED;
	if (s->batch == NULL)
		return -EROFS;
	if (json == NULL || len == 0)
		rc = -EINVAL;
	else if (n == UINT64_MAX)
		rc = -EOVERFLOW;
	else {
		store_key_id(key, n);
		rc = put_synced(s, s->audit_scratch, STORE_CF_AUDIT, key, sizeof(key), time_ns,
				json, len);
	}
	if (rc < 0) {
		store_count(s, STORE_CNT_audit_failed, 1);
		return rc;
	}
	store_count(s, STORE_CNT_audit_written, 1);
	s->next_audit_seq = n + 1;
	if (seq != NULL)
		*seq = n;
	if (got != NULL)
		*got = STORE_SYNCED;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Meta                                                                      */
/* ------------------------------------------------------------------------ */

static int
meta_name(const char *name, size_t *len)
{
	*len = name != NULL ? strnlen(name, STORE_META_NAME_MAX + 1) : 0;
	return *len == 0 || *len > STORE_META_NAME_MAX ? -EINVAL : 0;
}

int
store_meta_put(struct store *s, const char *name, const void *val, size_t len)
{
	size_t nlen;
	int rc;

	if (s->batch == NULL)
		return -EROFS;
	rc = meta_name(name, &nlen);
	if (rc < 0)
		return rc;
	if (val == NULL && len > 0)
		return -EINVAL;
	rc = put_synced(s, s->scratch, STORE_CF_META, (const uint8_t *)name, nlen, store_now(s),
			val, len);
	if (rc == 0)
		store_count(s, STORE_CNT_meta_written, 1);
	return rc;
}

int
store_meta_get(struct store *s, const char *name, void *buf, size_t room)
{
	const uint8_t *v;
	char *val, *rerr = NULL;
	size_t nlen, vlen;
	int64_t t;
	int rc;

	rc = meta_name(name, &nlen);
	if (rc < 0)
		return rc;
	val = rocksdb_get_cf(s->db, s->ro, s->cf[STORE_CF_META], name, nlen, &vlen, &rerr);
	if (rerr != NULL) {
		rc = store_rocksdb_errno(rerr);
		rocksdb_free(rerr);
		return rc;
	}
	if (val == NULL)
		return -ENOENT;
	v = (const uint8_t *)val;
	if (s->keys != NULL && strcmp(name, META_SCHEMA) == 0 && store_value_time(v, vlen, &t) &&
	    !(v[1] & STORE_VALUE_SEALED)) {
		/* The one plain value a sealed store reads (see store.c). */
		rc = (int)(vlen - STORE_VALUE_HDR);
		if ((size_t)rc <= room && rc > 0)
			memcpy(buf, v + STORE_VALUE_HDR, (size_t)rc);
	} else {
		rc = store_value_open(s, (const uint8_t *)name, nlen, v, vlen, NULL, buf, room);
	}
	rocksdb_free(val);
	if (rc >= 0 && (size_t)rc < room)
		((char *)buf)[rc] = '\0';
	return rc;
}
