/*
 * store_private.h - storage internals shared by its own files: the store
 * structure, key and value encodings, sealing primitives. Nothing outside
 * storage/ includes this.
 */
#ifndef VIGIL_STORE_PRIVATE_H
#define VIGIL_STORE_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <rocksdb/c.h>

#include "store.h"

/*
 * A value: a clear header, then the record (plain), or when sealed
 * nonce (12) . ciphertext . tag (16). The additional data of a sealed value
 * is the RocksDB key followed by the 12-byte header, so a value moved to
 * another key, or a header edited, fails authentication.
 *
 *   0      format (STORE_VALUE_FORMAT)
 *   1      flags (STORE_VALUE_SEALED)
 *   2..3   key id, big-endian (0 when not sealed)
 *   4..11  record time, ns since the epoch, big-endian two's complement
 */
#define STORE_VALUE_FORMAT 1
#define STORE_VALUE_SEALED 0x01
#define STORE_VALUE_HDR 12
#define STORE_SEAL_NONCE 12
#define STORE_SEAL_TAG 16
#define STORE_SEAL_OVERHEAD (STORE_SEAL_NONCE + STORE_SEAL_TAG)

/* Key sizes. */
#define STORE_KEY_OBS 20 /* device (8) . time ns (8, sign bit flipped) . seq (4) */
#define STORE_KEY_ID 8	 /* alarms, audit */

/* An observation record: code (4) . value (8, IEEE 754 bits) . unit (4) . flags (4), BE. */
#define STORE_OBS_REC 20

struct store {
	struct store_opts o; /* strings below are owned copies */
	char *dir;
	char *secondary_dir;
	char *key_file;
	rocksdb_t *db;
	rocksdb_options_t *db_opts;
	rocksdb_options_t *cf_opts[STORE_CF__COUNT];
	rocksdb_column_family_handle_t *cf[STORE_CF__COUNT];
	rocksdb_compactionfilter_t *filter[STORE_CF__COUNT]; /* retention, or NULL */
	rocksdb_block_based_table_options_t *table;
	rocksdb_cache_t *cache;
	rocksdb_writeoptions_t *wo_batch; /* WAL on, no sync */
	rocksdb_writeoptions_t *wo_sync;  /* sync */
	rocksdb_readoptions_t *ro;
	/* The observation batch (writer thread only). */
	rocksdb_writebatch_t *batch;
	unsigned n_batch;
	int64_t batch_first_ns;
	/* Next ids (writer thread only), found at open from the last keys. */
	uint64_t next_alarm_id;
	uint64_t next_audit_seq;
	struct store_keys *keys; /* NULL: not sealed */
	uint8_t nonce_salt[4];	 /* drawn at open (read-write with keys) */
	uint64_t nonce_next;	 /* under nonce_lock */
	uint64_t nonce_limit;	 /* reserved up to here (exclusive) */
	/* Alarm, audit and meta values are built here (writer thread only):
	 * STORE_VALUE_HDR + STORE_RECORD_MAX + STORE_SEAL_OVERHEAD bytes, NULL
	 * when the store is not opened read-write. */
	uint8_t *scratch;
	/* The audit's own buffer: audit records are appended by another thread
	 * than the writer (vigild's control server). Nonces are drawn under
	 * nonce_lock for the same reason; counters are atomic adds. */
	uint8_t *audit_scratch;
	pthread_mutex_t nonce_lock;
	struct store_expirer *expirer; /* NULL: no retention thread */
	_Atomic uint64_t cnt[STORE_CNT__COUNT];
};

/* ---- Errors (store.c) ---------------------------------------------------- */

/* A RocksDB error string to a negative errno: "No space left" -ENOSPC,
 * "lock" -EBUSY, "Corruption" -EUCLEAN, "IO error" -EIO, "Invalid argument"
 * -EINVAL, "NotFound"/"does not exist" -ENOENT, else -EIO. */
int store_rocksdb_errno(const char *msg);

/*
 * Counter increment: an atomic add, as the writer and the audit's thread
 * (vigild's control server) may count the same counter (write_errors,
 * sealed). Observations cost one or two of them each, beside a RocksDB put.
 */
static inline void
store_count(struct store *s, enum store_counter c, uint64_t n)
{
	atomic_fetch_add_explicit(&s->cnt[c], n, memory_order_relaxed);
}

/* The store's clock (opts.clock or CLOCK_REALTIME). */
int64_t store_now(const struct store *s);

/* ---- Keys and records (key.c) ------------------------------------------- */

void store_be64(uint8_t *p, uint64_t v);
void store_be32(uint8_t *p, uint32_t v);
void store_be16(uint8_t *p, uint16_t v);
uint64_t store_rd64(const uint8_t *p);
uint32_t store_rd32(const uint8_t *p);
uint16_t store_rd16(const uint8_t *p);

/* Time in keys sorts as signed: the sign bit is flipped. */
void store_key_obs(uint8_t k[STORE_KEY_OBS], uint64_t device, int64_t time_ns, uint32_t seq);
void store_key_obs_parse(const uint8_t k[STORE_KEY_OBS], uint64_t *device, int64_t *time_ns,
			 uint32_t *seq);
void store_key_id(uint8_t k[STORE_KEY_ID], uint64_t id);

void store_obs_encode(const struct store_obs *o, uint8_t rec[STORE_OBS_REC]);
void store_obs_decode(const uint8_t rec[STORE_OBS_REC],
		      struct store_obs *o); /* not device/time/seq */

/* ---- Values (value.c) ---------------------------------------------------- */

/* Bytes a value of @plain_len takes in this store (sealed or not). */
size_t store_value_size(const struct store *s, size_t plain_len);

/*
 * Build the value of a record under @key: the header, then the record,
 * sealed with the newest key when the store has keys.
 * @return the value's length, or a negative errno (-ENOSPC: @room too small).
 */
int store_value_make(struct store *s, const uint8_t *key, size_t klen, int64_t time_ns,
		     const void *plain, size_t plen, uint8_t *out, size_t room);

/*
 * Open a value read under @key: check the header, unseal if sealed.
 * @return the record's length (which may exceed @room: nothing copied
 *         then), -EPROTO (a header vigil cannot read: counted bad_values),
 *         -ENOKEY (a key id the store does not have: counted unknown_key),
 *         -EBADMSG (authentication failed: counted unseal_failed; the
 *         record is never returned).
 */
int store_value_open(struct store *s, const uint8_t *key, size_t klen, const uint8_t *val,
		     size_t vlen, int64_t *time_ns, void *plain, size_t room);

/* The record time of a value from its clear header; false if the header is bad. */
bool store_value_time(const uint8_t *val, size_t vlen, int64_t *time_ns);

/* ---- Sealing (seal.c) ---------------------------------------------------- */

/* Whether @k has key @id. */
bool store_keys_has(const struct store_keys *k, unsigned id);

/*
 * AES-256-GCM with key @id: a fresh random 96-bit nonce (RAND_bytes), then
 * out = nonce . ciphertext . tag (len + STORE_SEAL_OVERHEAD bytes).
 * @return 0, -ENOKEY, -EIO (OpenSSL failed).
 */
int store_seal(const struct store_keys *k, unsigned id, const uint8_t *aad, size_t aad_len,
	       const uint8_t *plain, size_t len, uint8_t *out);

/*
 * The same with the caller's @nonce (never used twice with one key: the
 * store's counter, value.c). @nonce may alias @out.
 */
int store_seal_nonce(const struct store_keys *k, unsigned id, const uint8_t nonce[STORE_SEAL_NONCE],
		     const uint8_t *aad, size_t aad_len, const uint8_t *plain, size_t len,
		     uint8_t *out);

/*
 * The store's nonces (value.c): a 4-byte salt drawn at open, then a 64-bit
 * counter. The counter's next block is reserved in meta (synced, plain)
 * before the first nonce of it is used, so a restart never reuses one; the
 * salt keeps two copies of one database (a restored backup written beside
 * its original) apart. NIST SP 800-38D's limit of 2^32 random nonces per
 * key does not apply to a counter.
 */
#define STORE_NONCE_BLOCK (UINT64_C(1) << 24)
#define STORE_META_NONCE "seal_nonce_reserved"

/* Reserve the next block (writer thread; store.c at open, value.c after). */
int store_nonce_reserve(struct store *s);

/*
 * The reverse: @in is nonce . ciphertext . tag (@len bytes, at least the
 * overhead), @plain receives len - STORE_SEAL_OVERHEAD bytes.
 * @return 0, -ENOKEY, -EBADMSG (authentication failed), -EINVAL (too short).
 */
int store_unseal(const struct store_keys *k, unsigned id, const uint8_t *aad, size_t aad_len,
		 const uint8_t *in, size_t len, uint8_t *plain);

/* ---- Retention (retention.c) -------------------------------------------- */

/* The retention thread (opts.expire_every_s): started at the end of a
 * read-write open, stopped first thing in store_close. */
int store_expirer_start(struct store *s);
void store_expirer_stop(struct store *s);

/* The compaction filter of column family @cf (NULL when it keeps forever).
 * Called by store_open on a read-write store only, after s->o is filled;
 * store.c destroys it (rocksdb_compactionfilter_destroy) after the
 * database is closed. */
rocksdb_compactionfilter_t *store_retention_filter(struct store *s, enum store_cf cf);

#endif /* VIGIL_STORE_PRIVATE_H */
