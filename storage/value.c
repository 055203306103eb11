/*
 * value.c - the stored form of every record: a clear 12-byte header
 * (format, flags, key id, record time), then the record, plain or sealed.
 *
 * The header stays clear so that retention can read a record's time
 * without a key. A sealed value is authenticated together with its
 * RocksDB key and its header (the additional data), so a value moved to
 * another key, a header edited, or a flipped bit anywhere fails to open.
 *
 * A store with keys accepts sealed values only: a plain value there is
 * treated as one that failed authentication. Otherwise one flipped bit in
 * the flags byte would turn a sealed value into a "plain" one whose
 * ciphertext is returned as the record, and a forged plain record could
 * be slipped in by anyone able to write the disk.
 *
 * store_value_open runs on query threads as well as the writer, so the
 * counters it bumps use an atomic add.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "store_private.h"

/* The additional data: the RocksDB key (meta names are the longest) then the header. */
#define VALUE_KEY_MAX 256

static void
count_reader(struct store *s, enum store_counter c)
{
	atomic_fetch_add_explicit(&s->cnt[c], 1, memory_order_relaxed);
}

static size_t
make_aad(uint8_t *aad, const uint8_t *key, size_t klen, const uint8_t *hdr)
{
	memcpy(aad, key, klen);
	memcpy(aad + klen, hdr, STORE_VALUE_HDR);
	return klen + STORE_VALUE_HDR;
}

/*
 * The reservation is a plain meta value (header, then the first nonce
 * counter not yet handed out, big-endian): it must be readable before any
 * key is used, and it names no secret.
 */
int
store_nonce_reserve(struct store *s)
{
	static const char name[] = STORE_META_NONCE;
	uint8_t val[STORE_VALUE_HDR + 8];
	uint64_t base = s->nonce_limit;
	char *err = NULL, *old;
	size_t len = 0;
	int rc;

	if (s->o.mode != STORE_READ_WRITE || s->db == NULL)
		return -EROFS;
	if (s->nonce_limit == 0) {
		/* First block since open: go on from the last reservation. */
		old = rocksdb_get_cf(s->db, s->ro, s->cf[STORE_CF_META], name, sizeof(name) - 1,
				     &len, &err);
		if (err != NULL) {
			rc = store_rocksdb_errno(err);
			free(err);
			return rc;
		}
		if (old != NULL) {
			bool ok = len == sizeof(val) && (uint8_t)old[0] == STORE_VALUE_FORMAT &&
				  old[1] == 0;

			if (ok)
				base = store_rd64((const uint8_t *)old + STORE_VALUE_HDR);
			rocksdb_free(old);
			if (!ok)
				return -EPROTO;
		}
		if (RAND_bytes(s->nonce_salt, sizeof(s->nonce_salt)) != 1)
			return -EIO;
		s->nonce_next = base;
	}
	if (base > UINT64_MAX - STORE_NONCE_BLOCK)
		return -EOVERFLOW;
	val[0] = STORE_VALUE_FORMAT;
	val[1] = 0;
	store_be16(val + 2, 0);
	store_be64(val + 4, (uint64_t)store_now(s));
	store_be64(val + STORE_VALUE_HDR, base + STORE_NONCE_BLOCK);
	rocksdb_put_cf(s->db, s->wo_sync, s->cf[STORE_CF_META], name, sizeof(name) - 1,
		       (const char *)val, sizeof(val), &err);
	if (err != NULL) {
		rc = store_rocksdb_errno(err);
		free(err);
		return rc;
	}
	s->nonce_limit = base + STORE_NONCE_BLOCK;
	return 0;
}

/* The next nonce: salt, then the counter; a new block reserved when due. */
static int
nonce_take(struct store *s, uint8_t nonce[STORE_SEAL_NONCE])
{
	int rc = 0;

	/* Two threads write (the writer and the audit's): a nonce is never handed out twice. */
	pthread_mutex_lock(&s->nonce_lock);
	if (s->nonce_next >= s->nonce_limit)
		rc = store_nonce_reserve(s);
	if (rc == 0) {
		memcpy(nonce, s->nonce_salt, sizeof(s->nonce_salt));
		store_be64(nonce + sizeof(s->nonce_salt), s->nonce_next++);
	}
	pthread_mutex_unlock(&s->nonce_lock);
	return rc;
}

size_t
store_value_size(const struct store *s, size_t plain_len)
{
	return STORE_VALUE_HDR + plain_len + (s->keys != NULL ? STORE_SEAL_OVERHEAD : 0);
}

int
store_value_make(struct store *s, const uint8_t *key, size_t klen, int64_t time_ns,
		 const void *plain, size_t plen, uint8_t *out, size_t room)
{
	size_t need = store_value_size(s, plen);
	uint8_t aad[VALUE_KEY_MAX + STORE_VALUE_HDR], nonce[STORE_SEAL_NONCE];
	unsigned id;
	int rc;

	if (klen > VALUE_KEY_MAX || need > INT_MAX)
		return -EINVAL;
	if (need > room)
		return -ENOSPC;
	out[0] = STORE_VALUE_FORMAT;
	store_be64(out + 4, (uint64_t)time_ns);
	if (s->keys == NULL) {
		out[1] = 0;
		store_be16(out + 2, 0);
		if (plen > 0)
			memcpy(out + STORE_VALUE_HDR, plain, plen);
		return (int)need;
	}
	id = store_keys_newest(s->keys);
	out[1] = STORE_VALUE_SEALED;
	store_be16(out + 2, (uint16_t)id);
	rc = nonce_take(s, nonce);
	if (rc < 0)
		return rc;
	rc = store_seal_nonce(s->keys, id, nonce, aad, make_aad(aad, key, klen, out), plain, plen,
			      out + STORE_VALUE_HDR);
	if (rc < 0)
		return rc;
	store_count(s, STORE_CNT_sealed, 1);
	return (int)need;
}

/* The header's format and flags, and a length that holds what they announce. */
static bool
header_ok(const uint8_t *val, size_t vlen)
{
	if (vlen < STORE_VALUE_HDR || val[0] != STORE_VALUE_FORMAT)
		return false;
	if ((val[1] & ~STORE_VALUE_SEALED) != 0)
		return false;
	if (val[1] & STORE_VALUE_SEALED)
		return vlen >= STORE_VALUE_HDR + STORE_SEAL_OVERHEAD && store_rd16(val + 2) != 0;
	return store_rd16(val + 2) == 0;
}

bool
store_value_time(const uint8_t *val, size_t vlen, int64_t *time_ns)
{
	uint64_t t;

	if (!header_ok(val, vlen))
		return false;
	t = store_rd64(val + 4);
	*time_ns = t <= (uint64_t)INT64_MAX ? (int64_t)t : -(int64_t)(~t) - 1;
	return true;
}

int
store_value_open(struct store *s, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		 int64_t *time_ns, void *plain, size_t room)
{
	uint8_t aad[VALUE_KEY_MAX + STORE_VALUE_HDR];
	size_t plen;
	unsigned id;
	int64_t t;
	int rc;

	if (vlen > INT_MAX || !store_value_time(val, vlen, &t)) {
		count_reader(s, STORE_CNT_bad_values);
		return -EPROTO;
	}
	if (!(val[1] & STORE_VALUE_SEALED)) {
		if (s->keys != NULL) {
			count_reader(s, STORE_CNT_unseal_failed);
			return -EBADMSG;
		}
		plen = vlen - STORE_VALUE_HDR;
		if (plen <= room && plen > 0)
			memcpy(plain, val + STORE_VALUE_HDR, plen);
		if (time_ns != NULL)
			*time_ns = t;
		return (int)plen;
	}
	id = store_rd16(val + 2);
	if (s->keys == NULL || !store_keys_has(s->keys, id)) {
		count_reader(s, STORE_CNT_unknown_key);
		return -ENOKEY;
	}
	plen = vlen - STORE_VALUE_HDR - STORE_SEAL_OVERHEAD;
	if (plen > room)
		return (int)plen; /* nothing opened: the caller asks again with room */
	if (klen > VALUE_KEY_MAX)
		return -EINVAL;
	rc = store_unseal(s->keys, id, aad, make_aad(aad, key, klen, val), val + STORE_VALUE_HDR,
			  vlen - STORE_VALUE_HDR, plain);
	if (rc < 0) {
		/* GCM decrypts before it checks the tag: leave nothing behind. */
		if (plen > 0)
			memset(plain, 0, plen);
		if (rc == -EBADMSG)
			count_reader(s, STORE_CNT_unseal_failed);
		else if (rc == -ENOKEY)
			count_reader(s, STORE_CNT_unknown_key);
		return rc;
	}
	if (time_ns != NULL)
		*time_ns = t;
	return (int)plen;
}
