/*
 * store.h - the public interface of vigil's storage: everything RocksDB.
 *
 * One RocksDB database per appliance, four column families (ARCHITECTURE.md):
 *
 *   obs     device (8) . time ns (8) . seq (4), big-endian  -> code, value, unit, flags
 *           batched, WAL on, no fsync per batch
 *   alarms  alarm id (8, monotonic, big-endian)             -> the alarm record (JSON)
 *           synced before the call returns
 *   audit   sequence (8, big-endian)                        -> the audit record (JSON)
 *           synced
 *   meta    names                                           -> values
 *           synced (schema version, ruleset versions, uplink cursors, key ids)
 *
 * Every value starts with a clear header (format, flags, key id, record
 * time) so retention can judge a value without opening it; the rest is the
 * record, sealed with AES-256-GCM when a key file is configured (the key id
 * in the header, the RocksDB key and the header as additional data).
 *
 * The store is used by one control-plane thread at a time (the writer),
 * except store_audit_append and store_backup_live, which one other thread
 * may call meanwhile (vigild's control server);
 * queries and tools may open the same directory read-only or as a secondary
 * instance of a live appliance. Storage uses neither dataplane nor rules.
 * Functions return 0 or a negative errno; the ones that can fail for a
 * reason the operator must read also fill a one-line message.
 */
#ifndef VIGIL_STORE_H
#define VIGIL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define STORE_SCHEMA_VERSION 1

/* ------------------------------------------------------------------------ */
/* Column families and durability                                            */
/* ------------------------------------------------------------------------ */

enum store_cf {
	STORE_CF_OBS = 0,
	STORE_CF_ALARMS,
	STORE_CF_AUDIT,
	STORE_CF_META,
	STORE_CF__COUNT,
};

/** "obs", "alarms", "audit", "meta". */
const char *store_cf_name(enum store_cf cf);

/** What a write call got, from weakest to strongest. */
enum store_durability {
	STORE_BUFFERED = 0, /**< in the writer's batch: lost if the process dies now */
	STORE_WAL,	    /**< in RocksDB's WAL, not fsynced: survives a process crash,
				 not a power loss */
	STORE_SYNCED,	    /**< fsynced: survives a power loss */
};

const char *store_durability_name(enum store_durability d); /**< "buffered", "wal", "synced" */

/* ------------------------------------------------------------------------ */
/* Counters                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * The writer counts with relaxed load and store; what readers and
 * RocksDB's compaction threads count (unseal_failed, unknown_key,
 * bad_values, expired) they add with an atomic add, since there may be
 * several of them. Read by anyone. X(name, description), as every counter
 * list in vigil.
 */
#define STORE_COUNTERS(X)                                                                \
	X(obs_written, "observations written (their batch reached the WAL)")             \
	X(obs_batches, "observation batches written")                                    \
	X(obs_failed, "observations whose batch failed to write (disk full, I/O error)") \
	X(alarms_written, "alarm records written and synced")                            \
	X(alarms_failed, "alarm records that failed to write (the caller was told)")     \
	X(audit_written, "audit records written and synced")                             \
	X(audit_failed, "audit records that failed to write")                            \
	X(meta_written, "meta values written and synced")                                \
	X(write_errors, "write calls RocksDB refused (every failure above, once each)")  \
	X(no_space, "writes refused because the disk is full")                           \
	X(sealed, "values sealed (AES-256-GCM)")                                         \
	X(unseal_failed, "values that failed authentication: counted, never returned")   \
	X(unknown_key, "sealed values whose key id is not in the key file")              \
	X(expired, "values dropped by retention (compaction filter)")                    \
	X(bad_values, "values with a header vigil cannot read (skipped by queries)")     \
	X(expire_runs, "retention passes (store_expire) run by the store's own thread")  \
	X(expire_failed, "retention passes that failed (RocksDB counted a background error)")

#define STORE_X_ENUM(name, desc) STORE_CNT_##name,
enum store_counter { STORE_COUNTERS(STORE_X_ENUM) STORE_CNT__COUNT };
#undef STORE_X_ENUM

const char *store_counter_name(enum store_counter c);
const char *store_counter_desc(enum store_counter c);

/* ------------------------------------------------------------------------ */
/* Opening                                                                   */
/* ------------------------------------------------------------------------ */

enum store_mode {
	STORE_READ_WRITE = 0, /**< the appliance (creates the directory if missing) */
	STORE_READ_ONLY,      /**< a stopped appliance's directory (tools) */
	STORE_SECONDARY,      /**< a live appliance's directory, followed (tools) */
};

enum store_compression {
	STORE_COMPRESS_NONE = 0,
	STORE_COMPRESS_LZ4,
	STORE_COMPRESS_ZSTD,
	STORE_COMPRESS_SNAPPY,
};

/** Retention per column family, in seconds; 0 keeps forever. */
#define STORE_RETAIN_OBS_DEFAULT (7 * 86400)
#define STORE_RETAIN_ALARMS_DEFAULT (365 * 86400)
#define STORE_RETAIN_AUDIT_DEFAULT 0
#define STORE_RETAIN_META_DEFAULT 0

/** How often a read-write store enforces retention on its own (store_expire). */
#define STORE_EXPIRE_EVERY_DEFAULT 3600
#define STORE_BATCH_RECORDS_DEFAULT 4096
#define STORE_BATCH_MS_DEFAULT 100

/**
 * The wall clock in ns since the epoch; tests inject their own. It is also
 * called from RocksDB's compaction threads (retention), so it must be
 * thread-safe.
 */
typedef int64_t (*store_clock_fn)(void *arg);

struct store_opts {
	const char *dir; /**< the database directory */
	enum store_mode mode;
	const char *secondary_dir;	    /**< STORE_SECONDARY: where its own files go */
	size_t block_cache_mb;		    /**< 0: 64 */
	size_t write_buffer_mb;		    /**< per column family; 0: 64 */
	enum store_compression compression; /**< default LZ4 */
	unsigned batch_records;		    /**< observations per batch; 0: default */
	unsigned batch_ms; /**< a batch is written at the latest this old; 0: default */
	int64_t retain_s[STORE_CF__COUNT]; /**< seconds; 0 keeps forever (see the defaults) */
	unsigned expire_every_s; /**< read-write: a thread runs store_expire this often; 0 never */
	const char *key_file;	 /**< NULL: values are not sealed */
	store_clock_fn clock;	 /**< NULL: CLOCK_REALTIME */
	void *clock_arg;
};

/** Fill @p o with the defaults (dir NULL, read-write, retention defaults). */
void store_opts_defaults(struct store_opts *o);

struct store;

/**
 * Open (or, read-write, create) the database.
 * @param err  one line naming the directory and the fix:
 *             locked ("another process has it open: is vigild running?"),
 *             corrupted (RocksDB's reason; "restore a backup with vigil-store
 *             restore"), another schema version ("written by schema N, this
 *             vigil reads M"), a key file refused, a directory that is not a
 *             vigil database (missing column families)
 * @return 0, -EBUSY (locked), -EUCLEAN (corrupted), -EPROTO (schema
 *         version, or not a vigil database: a column family or the schema
 *         version missing), -EACCES (key file permissions, directory),
 *         -ENOENT (read-only or secondary open of a directory with no
 *         database), -ENOTDIR (dir is a file), -EINVAL (options, a key file
 *         that does not parse), -ENOSPC, -EIO, -ENOMEM.
 */
int store_open(const struct store_opts *opts, struct store **out, char *err, size_t errlen);

/** Write what is batched, then close. NULL is fine. */
void store_close(struct store *s);

/** The counters (relaxed reads). */
void store_counters(const struct store *s, uint64_t out[STORE_CNT__COUNT]);

/** Whether values are sealed, and the key id new values are sealed with (0: none). */
unsigned store_seal_key_id(const struct store *s);

/* ------------------------------------------------------------------------ */
/* Records                                                                   */
/* ------------------------------------------------------------------------ */

/** One observation as stored. */
struct store_obs {
	uint64_t device;
	int64_t time_ns;
	uint32_t seq;
	uint32_t code;	/**< MDC code */
	uint32_t unit;	/**< MDC unit code */
	uint32_t flags; /**< vigil's observation flag bits (dataplane.h DP_OBS) */
	double value;	/**< NaN when none */
};

/* ------------------------------------------------------------------------ */
/* Writing (one thread)                                                      */
/* ------------------------------------------------------------------------ */

/*
 * Every write call returns -EROFS on a store not opened STORE_READ_WRITE.
 * An alarm, audit or meta record is at most STORE_RECORD_MAX bytes (larger:
 * -EMSGSIZE, nothing written); a meta name 1..STORE_META_NAME_MAX bytes.
 */
#define STORE_RECORD_MAX 65536
#define STORE_META_NAME_MAX 128

/**
 * Add an observation to the current batch; the batch is written (WAL on,
 * no fsync) when it holds batch_records or, at the next store_tick, when
 * its first record is batch_ms old.
 * @param got  what the record has when this returns: STORE_BUFFERED, or
 *             STORE_WAL if this call wrote the batch
 * @return 0, or the negative errno of a batch write that failed (the
 *         batch's records are counted obs_failed and dropped; -ENOSPC for a
 *         full disk; @p got is then STORE_BUFFERED and means nothing). A
 *         failed write never corrupts the database.
 */
int store_obs_add(struct store *s, const struct store_obs *obs, enum store_durability *got);

/**
 * Write the batch if it is due (batch_ms since its first record).
 * @param now_ns  the caller's clock (what opts.clock gives)
 * @return 0, or as store_obs_add.
 */
int store_tick(struct store *s, int64_t now_ns);

/** Write the batch now (STORE_WAL). @return 0 or the negative errno. */
int store_flush(struct store *s);

/** Observations in the batch, not yet written. */
unsigned store_pending(const struct store *s);

/**
 * Store an alarm record (JSON text, not NUL-terminated needed) under @p id,
 * synced before the call returns (STORE_SYNCED on success). A record with
 * the same id is replaced (the alarm's state history grows).
 * @param time_ns  the alarm's time, for retention
 * @return 0, -ENOSPC, -EIO, -EINVAL (empty record, id 0 or UINT64_MAX),
 *         -EMSGSIZE (over STORE_RECORD_MAX), -ENOMEM.
 */
int store_alarm_put(struct store *s, uint64_t id, int64_t time_ns, const char *json, size_t len,
		    enum store_durability *got);

/** One alarm record of a group (store_alarms_put): as store_alarm_put's arguments. */
struct store_alarm_rec {
	uint64_t id;
	int64_t time_ns;
	const char *json;
	size_t len;
};

#define STORE_ALARMS_BATCH_MAX 256 /**< records per store_alarms_put */

/**
 * Store @p n alarm records as one group: one RocksDB write batch, synced
 * once (one fsync for the group), all or nothing. Every record is checked
 * before anything is written, so one that is refused (as store_alarm_put
 * would refuse it) refuses the whole group; a write that fails stores
 * none. The records are applied in order: of two with one id, the later
 * stays. A failure counts the n records alarms_failed (a refused write
 * also write_errors once, and no_space for a full disk).
 * @param got  STORE_SYNCED on success, else STORE_BUFFERED
 * @return 0 (@p n 0: nothing written), -E2BIG (@p n over
 *         STORE_ALARMS_BATCH_MAX), -EINVAL (@p recs NULL, a record as
 *         store_alarm_put refuses it), -EMSGSIZE, -ENOSPC, -EIO, -EROFS,
 *         -ENOMEM.
 */
int store_alarms_put(struct store *s, const struct store_alarm_rec *recs, unsigned n,
		     enum store_durability *got);

/** The next alarm id (one more than the largest stored, from 1). */
uint64_t store_alarm_next_id(struct store *s);

/**
 * Append an audit record (JSON text), synced. @p seq receives its
 * sequence number (one more than the last, from 1).
 */
int store_audit_append(struct store *s, int64_t time_ns, const char *json, size_t len,
		       uint64_t *seq, enum store_durability *got);

/** Set a meta value, synced. */
int store_meta_put(struct store *s, const char *name, const void *val, size_t len);

/**
 * Read a meta value into @p buf (NUL-terminated when it fits).
 * @return its length (which may exceed @p room), -ENOENT, or an error.
 */
int store_meta_get(struct store *s, const char *name, void *buf, size_t room);

/* ------------------------------------------------------------------------ */
/* Queries (any thread; a STORE_READ_ONLY or STORE_SECONDARY store as well)  */
/* ------------------------------------------------------------------------ */

/** Called for each record found, in key order; a non-zero return stops the walk. */
typedef int (*store_obs_fn)(void *arg, const struct store_obs *obs);
typedef int (*store_json_fn)(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len);

/**
 * Observations of @p device with from_ns <= time < to_ns, in time order.
 * @return 0, the callback's non-zero value, or a negative errno.
 */
int store_query_obs(struct store *s, uint64_t device, int64_t from_ns, int64_t to_ns,
		    store_obs_fn fn, void *arg);

/** Alarms with from_ns <= time < to_ns (by their stored time), in id order. */
int store_query_alarms(struct store *s, int64_t from_ns, int64_t to_ns, store_json_fn fn,
		       void *arg);

/** One alarm by id. @return 0, -ENOENT, or an error. */
int store_alarm_get(struct store *s, uint64_t id, store_json_fn fn, void *arg);

/** Audit records with seq in [from, to), in order. */
int store_query_audit(struct store *s, uint64_t from, uint64_t to, store_json_fn fn, void *arg);

/**
 * A time as people write it: ISO 8601 YYYY-MM-DD (midnight UTC) or
 * YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM) (a time of day needs its
 * zone: a bare one would be read in some local time the appliance may not
 * share), as ns since the epoch. @return 0, -EINVAL, -ERANGE.
 */
int store_time_parse(const char *s, int64_t *ns);

/**
 * The other way: @p ns as "YYYY-MM-DDTHH:MM:SS[.fraction]Z", UTC, with
 * @p digits (0..9) digits of fraction (cut, not rounded); times before 1970
 * too. @return 0, -EINVAL (digits), -EOVERFLOW (no room, or a year gmtime
 * cannot give).
 */
int store_time_format(int64_t ns, unsigned digits, char *out, size_t room);

/** Write one observation as a JSON line ({"device":"0x...","time":"ISO",...}). */
int store_obs_json(const struct store_obs *obs, FILE *out);

/** A secondary instance: catch up with the primary's latest writes. */
int store_catch_up(struct store *s);

/** Per column family: estimated keys and bytes on disk (RocksDB properties). */
struct store_cf_stats {
	uint64_t keys;
	uint64_t live_bytes;
	uint64_t sst_files;
};
int store_stats(struct store *s, struct store_cf_stats out[STORE_CF__COUNT]);

/* ------------------------------------------------------------------------ */
/* Retention                                                                 */
/* ------------------------------------------------------------------------ */

/**
 * Enforce retention now: compact each column family with a retention, so
 * that the compaction filter drops what is older than its limit (by the
 * record time in each value's clear header and the store's clock).
 * @return 0 or a negative errno.
 *
 * A read-write store with opts.expire_every_s runs this on a thread of its
 * own at that interval (the first pass one interval after open), so that a
 * quiet column family, or the bottom level RocksDB seldom compacts, is
 * still judged; store_close stops the thread first. RocksDB serialises
 * the compaction with the writer's writes itself.
 */
int store_expire(struct store *s);

/* ------------------------------------------------------------------------ */
/* Backups                                                                   */
/* ------------------------------------------------------------------------ */

struct store_backup_info {
	uint32_t id;
	int64_t time_s;
	uint64_t size;
	uint32_t files;
};

/**
 * An incremental backup (RocksDB BackupEngine) of the open store into
 * @p backup_dir (created if missing), the batch flushed first. A
 * STORE_READ_ONLY or STORE_SECONDARY store is backed up as it is (tables
 * and WAL, no memtable flush). @p info (may be NULL) receives the new one.
 * @return 0 or a negative errno; @p err says why.
 */
int store_backup(struct store *s, const char *backup_dir, struct store_backup_info *info, char *err,
		 size_t errlen);

/**
 * The same from a thread other than the writer's, while the writer goes
 * on (vigild's control socket): RocksDB's memtables are flushed, but the
 * writer's observation batch not yet written (at most batch_ms old) is
 * not in the backup. RocksDB serialises the backup with the writes.
 */
int store_backup_live(struct store *s, const char *backup_dir, struct store_backup_info *info,
		      char *err, size_t errlen);

/**
 * List the backups in @p backup_dir, oldest first; when there are more than
 * @p max, the newest @p max. A missing directory, or one without meta/, is
 * -ENOENT (never created). @return how many were filled, or a negative errno.
 */
int store_backup_list(const char *backup_dir, struct store_backup_info *out, unsigned max,
		      char *err, size_t errlen);

/**
 * Verify backup @p id (0: the latest): every file there with its size, and
 * every byte against its checksum (by a restore into a scratch directory
 * inside @p backup_dir, removed afterwards: it needs as much room as the
 * backup). @return 0, -ENOENT (no such backup), -EUCLEAN (damaged), ...
 */
int store_backup_verify(const char *backup_dir, uint32_t id, char *err, size_t errlen);

/**
 * Restore backup @p id (0: the latest) into @p new_dir, which must not
 * exist or be empty (never over a live database).
 * @return 0, -ENOTEMPTY (@p new_dir holds something), -ENOENT (no such
 *         backup), -EUCLEAN (a file does not match its checksum: nothing is
 *         left in a @p new_dir this call made), ...
 */
int store_restore(const char *backup_dir, uint32_t id, const char *new_dir, char *err,
		  size_t errlen);

/* ------------------------------------------------------------------------ */
/* Sealing (AES-256-GCM, OpenSSL EVP)                                        */
/* ------------------------------------------------------------------------ */

/*
 * The key file: one key per line, "ID HEX" (ID 1..65535, HEX 64 hex digits
 * = 32 bytes), '#' comments. New values are sealed with the highest id;
 * any listed id opens. The file must be a regular file readable by its
 * owner only (mode 0600 or 0400), else it is refused.
 *
 * A store opened with a key file reads sealed values only: a plain value
 * there is refused like one that fails authentication (-EBADMSG, counted
 * unseal_failed), else a flipped flag bit or a forged plain record would be
 * read as a record. So records written before sealing was turned on are
 * not readable with the key file (they are without it). The one exception
 * is meta "schema_version", always written plain, so a tool without the
 * key file can still open the database.
 */
#define STORE_MAX_KEYS 64

struct store_keys;

/** @return 0, -EACCES (permissions: @p err says which), -EINVAL (line N: why), -ENOENT. */
int store_keys_load(const char *path, struct store_keys **out, char *err, size_t errlen);
void store_keys_free(struct store_keys *k);
unsigned store_keys_newest(const struct store_keys *k);

#endif /* VIGIL_STORE_H */
