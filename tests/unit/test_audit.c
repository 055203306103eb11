/*
 * test_audit.c - unit tests of the audit chain (controlplane/audit.c) on
 * real stores in a temporary directory:
 *
 *   - an unkeyed chain: every field of a record, "mac" recomputed here from
 *     the canonical text (SHA-256), "prev" of record 1 all zeros and of
 *     each other the mac before it; the chain goes on after a reopen of
 *     the store and verifies whole;
 *   - a keyed chain: HMAC-SHA256 recomputed here, with a hex key (upper
 *     or lower case, with white space) and a raw one; the wrong key fails
 *     at the first record, no key is refused (-ENOKEY), and a keyed chain
 *     is not continued without its key; a chain begun without a key goes
 *     on with one;
 *   - tampering underneath the store (RocksDB's handle, the values
 *     re-encoded, and re-sealed on a sealed store, with the store's own
 *     encoding): a record modified, modified with its mac recomputed (no
 *     key; with a guessed key), removed, two records swapped, a sealed
 *     value damaged; each found at the right record for the right reason;
 *     the oldest records gone (retention) still verify, the chain starting
 *     at the first one present;
 *   - key files refused: mode 0644, 0640, 0700, a directory, a symbolic
 *     link, a missing file, too short (hex and raw), odd hex, empty;
 *   - open refuses a last record that does not parse, that is not a chain
 *     record, or that the store cannot read; a damaged record before the
 *     last does not stop the open;
 *   - a record written by someone else behind the chain's back (the
 *     store's numbering differs): the append is refused, then every one;
 *   - text that is not UTF-8 and details over the limit are kept as valid
 *     JSON and verify; an empty chain verifies.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "controlplane.h"
#include "cunit_main.h"
#include "store_private.h"

#define T0 1714557600123000000LL /* 2024-05-01T10:00:00.123Z */
#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

static char tmp_root[] = "/tmp/vigil-test-audit-XXXXXX";

static const char key_a[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char key_b[] = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
suite_init(void)
{
	return mkdtemp(tmp_root) == NULL ? -1 : 0;
}

static int
suite_cleanup(void)
{
	nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* A path under the suite's directory, in the caller's buffer. */
static const char *
path_of(char *buf, size_t room, const char *name)
{
	snprintf(buf, room, "%s/%s", tmp_root, name);
	return buf;
}

/* Write @len bytes to @path with @mode (whatever the umask). */
static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, data, len) == (ssize_t)len);
	CU_ASSERT_FATAL(fchmod(fd, mode) == 0);
	close(fd);
}

/* An audit key file @name holding @text, mode 0600. @return its path (static). */
static const char *
audit_key(const char *name, const char *text)
{
	static char path[4][600];
	static unsigned next;
	char *p = path[next++ % 4];

	path_of(p, sizeof(path[0]), name);
	write_file(p, text, strlen(text), 0600);
	return p;
}

/* A store in @name (created if missing); @seal_hex: seal its values with that key. */
static struct store *
open_store(const char *name, const char *seal_hex)
{
	char dir[600], keys[700], line[128], err[512] = "";
	struct store_opts o;
	struct store *s = NULL;
	int rc;

	store_opts_defaults(&o);
	o.dir = path_of(dir, sizeof(dir), name);
	o.block_cache_mb = 8;
	o.write_buffer_mb = 4;
	o.compression = STORE_COMPRESS_NONE;
	o.expire_every_s = 0;
	if (seal_hex != NULL) {
		snprintf(keys, sizeof(keys), "%s.sealkeys", dir);
		snprintf(line, sizeof(line), "1 %s\n", seal_hex);
		write_file(keys, line, strlen(line), 0600);
		o.key_file = keys;
	}
	rc = store_open(&o, &s, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "\nstore_open %s: %d %s\n", dir, rc, err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	return s;
}

static struct cp_audit *
open_audit(struct store *s, const char *key_file)
{
	struct cp_audit *a = NULL;
	char err[512] = "";
	int rc = cp_audit_open(s, key_file, &a, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "\ncp_audit_open: %d %s\n", rc, err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	return a;
}

/* cp_audit_open must fail with @want, its message holding @text. */
static void
expect_open_refused(struct store *s, const char *key_file, int want, const char *text)
{
	static char sentinel;
	struct cp_audit *a = (struct cp_audit *)(void *)&sentinel; /* must be set to NULL */
	char err[512] = "";
	int rc = cp_audit_open(s, key_file, &a, err, sizeof(err));

	CU_ASSERT_EQUAL(rc, want);
	CU_ASSERT_PTR_NULL(a);
	if (strstr(err, text) == NULL) {
		fprintf(stderr, "\nopen refused with \"%s\", wanted \"%s\" in it\n", err, text);
		CU_FAIL("the refusal does not say why");
	}
	if (rc == 0)
		cp_audit_close(a);
}

/* Append @n records; the first must get @first. Odd ones are denials with a detail. */
static void
append_n(struct cp_audit *a, unsigned n, uint64_t first)
{
	for (unsigned i = 0; i < n; i++) {
		char args[64];
		struct cp_audit_entry e = {
			.uid = i % 2 ? 1000 : 0,
			.user = i % 2 ? "nurse" : NULL,
			.role = i % 2 ? CP_ROLE_VIEWER : CP_ROLE_ADMIN,
			.command = i % 2 ? "alarms.ack" : "rules.reload",
			.args = args,
			.result = i % 2 ? "denied" : "ok",
			.detail = i % 2 ? "alarms.ack needs the operator role" : NULL,
		};
		uint64_t seq = 0;

		snprintf(args, sizeof(args), "{\"id\":%u}", i + 1);
		CU_ASSERT_EQUAL(cp_audit_append(a, &e, T0 + (int64_t)(first + i) * 1000000, &seq),
				0);
		CU_ASSERT_EQUAL(seq, first + i);
	}
}

/* Verify: @return its rc; the reason printed when it is not what the test wants. */
static int
verify(struct store *s, const char *key_file, struct cp_audit_verify *v)
{
	char err[512] = "";
	int rc = cp_audit_verify(s, key_file, v, err, sizeof(err));

	if (rc != 0 && rc != -EBADMSG)
		fprintf(stderr, "\ncp_audit_verify: %d %s\n", rc, err);
	return rc;
}

/* The chain must verify whole from @first to @last. */
static void
expect_whole(struct store *s, const char *key_file, uint64_t first, uint64_t last)
{
	struct cp_audit_verify v;
	int rc = verify(s, key_file, &v);

	if (rc != 0)
		fprintf(stderr, "\nnot whole: %s\n", v.reason);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(v.bad_seq, 0);
	CU_ASSERT_EQUAL(v.first_seq, first);
	CU_ASSERT_EQUAL(v.last_seq, last);
	CU_ASSERT_EQUAL(v.records, last - first + 1);
}

/* The chain must break at @bad, the reason holding @why. */
static void
expect_broken(struct store *s, const char *key_file, uint64_t bad, const char *why)
{
	struct cp_audit_verify v;
	int rc = verify(s, key_file, &v);

	CU_ASSERT_EQUAL(rc, -EBADMSG);
	CU_ASSERT_EQUAL(v.bad_seq, bad);
	if (rc != -EBADMSG || v.bad_seq != bad || strstr(v.reason, why) == NULL) {
		fprintf(stderr, "\nbroken at %" PRIu64 " (\"%s\"), wanted %" PRIu64 " (\"%s\")\n",
			v.bad_seq, v.reason, bad, why);
		CU_FAIL("not the fault wanted");
	}
}

/* ---- Underneath the store: RocksDB's handle -------------------------------- */

static char *
raw_get(struct store *s, uint64_t seq, size_t *len)
{
	uint8_t k[STORE_KEY_ID];
	char *rerr = NULL, *v;

	store_key_id(k, seq);
	v = rocksdb_get_cf(s->db, s->ro, s->cf[STORE_CF_AUDIT], (const char *)k, sizeof(k), len,
			   &rerr);
	CU_ASSERT_PTR_NULL_FATAL(rerr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	return v;
}

static void
raw_put(struct store *s, uint64_t seq, const void *val, size_t len)
{
	uint8_t k[STORE_KEY_ID];
	char *rerr = NULL;

	store_key_id(k, seq);
	rocksdb_put_cf(s->db, s->wo_sync, s->cf[STORE_CF_AUDIT], (const char *)k, sizeof(k), val,
		       len, &rerr);
	CU_ASSERT_PTR_NULL_FATAL(rerr);
}

static void
raw_delete(struct store *s, uint64_t seq)
{
	uint8_t k[STORE_KEY_ID];
	char *rerr = NULL;

	store_key_id(k, seq);
	rocksdb_delete_cf(s->db, s->wo_sync, s->cf[STORE_CF_AUDIT], (const char *)k, sizeof(k),
			  &rerr);
	CU_ASSERT_PTR_NULL_FATAL(rerr);
}

/* Record @seq's text as the store hands it back (opened, unsealed). */
static char *
text_get(struct store *s, uint64_t seq, int64_t *time_ns)
{
	uint8_t k[STORE_KEY_ID];
	size_t vlen;
	char *v = raw_get(s, seq, &vlen);
	char *plain = calloc(1, vlen + 1);
	int n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(plain);
	store_key_id(k, seq);
	n = store_value_open(s, k, sizeof(k), (const uint8_t *)v, vlen, time_ns, plain, vlen);
	rocksdb_free(v);
	CU_ASSERT_FATAL(n > 0 && (size_t)n <= vlen);
	plain[n] = '\0';
	return plain;
}

static json_t *
record_get(struct store *s, uint64_t seq, int64_t *time_ns)
{
	char *text = text_get(s, seq, time_ns);
	json_t *rec = json_loads(text, 0, NULL);

	free(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
	return rec;
}

/* Store @len bytes of @text under @seq as a valid value (sealed when the store is). */
static void
text_put(struct store *s, uint64_t seq, int64_t time_ns, const char *text, size_t len)
{
	uint8_t k[STORE_KEY_ID];
	size_t room = STORE_VALUE_HDR + len + STORE_SEAL_OVERHEAD;
	uint8_t *val = malloc(room);
	int n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(val);
	store_key_id(k, seq);
	n = store_value_make(s, k, sizeof(k), time_ns, text, len, val, room);
	CU_ASSERT_FATAL(n > 0);
	raw_put(s, seq, val, (size_t)n);
	free(val);
}

static void
record_put(struct store *s, uint64_t seq, int64_t time_ns, json_t *rec)
{
	char *text = json_dumps(rec, JSON_SORT_KEYS | JSON_COMPACT);

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	text_put(s, seq, time_ns, text, strlen(text));
	free(text);
}

/* Change record @seq's "result" (still valid JSON, still a valid value). */
static void
modify_result(struct store *s, uint64_t seq, const char *result)
{
	int64_t t;
	json_t *rec = record_get(s, seq, &t);

	json_object_set_new(rec, "result", json_string(result));
	record_put(s, seq, t, rec);
	json_decref(rec);
}

/* Swap the records of @x and @y (each re-encoded under the other's key). */
static void
swap_records(struct store *s, uint64_t x, uint64_t y)
{
	int64_t tx, ty;
	char *a = text_get(s, x, &tx), *b = text_get(s, y, &ty);

	text_put(s, x, ty, b, strlen(b));
	text_put(s, y, tx, a, strlen(a));
	free(a);
	free(b);
}

/* The mac the design says: HMAC-SHA256 (@key_hex) or SHA-256 of the text without "mac". */
static void
mac_of(json_t *rec, const char *key_hex, char out[65])
{
	json_t *copy = json_deep_copy(rec);
	uint8_t md[EVP_MAX_MD_SIZE], key[64];
	unsigned n = 0;
	char *text;

	CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
	json_object_del(copy, "mac");
	text = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	if (key_hex == NULL) {
		CU_ASSERT_FATAL(EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL) == 1);
	} else {
		size_t klen = strlen(key_hex) / 2;

		for (size_t i = 0; i < klen; i++) {
			unsigned v;

			CU_ASSERT_FATAL(sscanf(key_hex + 2 * i, "%2x", &v) == 1);
			key[i] = (uint8_t)v;
		}
		CU_ASSERT_FATAL(HMAC(EVP_sha256(), key, (int)klen, (const uint8_t *)text,
				     strlen(text), md, &n) != NULL);
	}
	CU_ASSERT_EQUAL_FATAL(n, 32);
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	free(text);
	json_decref(copy);
}

static const char *
str(json_t *rec, const char *name)
{
	const char *v = json_string_value(json_object_get(rec, name));

	return v != NULL ? v : "(none)";
}

/* Every record of [first, last] is bound to the one before it (first - 1 there) and recomputes. */
static void
expect_links(struct store *s, uint64_t first, uint64_t last, const char *key_hex)
{
	char prev[65] = ZEROS, mac[65];

	if (first > 1) {
		int64_t t;
		json_t *rec = record_get(s, first - 1, &t);

		snprintf(prev, sizeof(prev), "%s", str(rec, "mac"));
		json_decref(rec);
	}
	for (uint64_t seq = first; seq <= last; seq++) {
		int64_t t;
		json_t *rec = record_get(s, seq, &t);

		CU_ASSERT_EQUAL(json_integer_value(json_object_get(rec, "seq")), (json_int_t)seq);
		CU_ASSERT_STRING_EQUAL(str(rec, "prev"), prev);
		mac_of(rec, key_hex, mac);
		CU_ASSERT_STRING_EQUAL(str(rec, "mac"), mac);
		CU_ASSERT_STRING_EQUAL(str(rec, "mac_alg"),
				       key_hex != NULL ? "hmac-sha256" : "sha256");
		snprintf(prev, sizeof(prev), "%s", str(rec, "mac"));
		json_decref(rec);
	}
}

/* ------------------------------------------------------------------------ */
/* Chains                                                                    */
/* ------------------------------------------------------------------------ */

static void
test_unkeyed(void)
{
	struct store *s = open_store("unkeyed", NULL);
	struct cp_audit *a = open_audit(s, NULL);
	char digest[65];
	uint8_t md[32];
	unsigned n = 0;
	int64_t t;
	json_t *rec;
	char *text;

	CU_ASSERT_FALSE(cp_audit_keyed(a));
	append_n(a, 5, 1);
	expect_links(s, 1, 5, NULL);

	/* Record 1: every field, canonical (sorted, compact) as stored. */
	text = text_get(s, 1, &t);
	CU_ASSERT_EQUAL(t, T0 + 1000000);
	rec = json_loads(text, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
	CU_ASSERT_EQUAL(json_object_size(rec), 12);
	CU_ASSERT_STRING_EQUAL(str(rec, "time"), "2024-05-01T10:00:00.124Z");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(rec, "time_ns")), T0 + 1000000);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(rec, "uid")), 0);
	CU_ASSERT_STRING_EQUAL(str(rec, "user"), "root"); /* looked up */
	CU_ASSERT_STRING_EQUAL(str(rec, "role"), "admin");
	CU_ASSERT_STRING_EQUAL(str(rec, "command"), "rules.reload");
	CU_ASSERT_STRING_EQUAL(str(rec, "result"), "ok");
	CU_ASSERT_PTR_NULL(json_object_get(rec, "detail"));
	CU_ASSERT_STRING_EQUAL(str(rec, "prev"), ZEROS);
	CU_ASSERT(EVP_Digest("{\"id\":1}", 8, md, &n, EVP_sha256(), NULL) == 1);
	for (unsigned i = 0; i < 32; i++)
		snprintf(digest + 2 * i, 3, "%02x", md[i]);
	CU_ASSERT_STRING_EQUAL(str(rec, "args_sha256"), digest);
	{
		char *canon = json_dumps(rec, JSON_SORT_KEYS | JSON_COMPACT);

		CU_ASSERT_STRING_EQUAL(canon, text);
		CU_ASSERT_EQUAL(strncmp(text, "{\"args_sha256\":", 15), 0);
		free(canon);
	}
	json_decref(rec);
	free(text);

	/* Record 2: the caller's user name, a detail. */
	rec = record_get(s, 2, &t);
	CU_ASSERT_STRING_EQUAL(str(rec, "user"), "nurse");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(rec, "uid")), 1000);
	CU_ASSERT_STRING_EQUAL(str(rec, "role"), "viewer");
	CU_ASSERT_STRING_EQUAL(str(rec, "result"), "denied");
	CU_ASSERT_STRING_EQUAL(str(rec, "detail"), "alarms.ack needs the operator role");
	json_decref(rec);

	/* Reopened: the chain goes on from record 5. */
	cp_audit_close(a);
	store_close(s);
	s = open_store("unkeyed", NULL);
	a = open_audit(s, NULL);
	append_n(a, 3, 6);
	expect_links(s, 1, 8, NULL);
	expect_whole(s, NULL, 1, 8);
	cp_audit_close(a);
	store_close(s);
}

static void
test_keyed(void)
{
	static const struct {
		const char *name, *text, *as_hex;
	} keys[] = {
		{"hex", key_a, key_a},
		{"hex-upper-ws",
		 "  A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF\n\n", key_b},
		/* Not hex: the bytes as they are, the newline too. */
		{"raw", "correct horse battery staple, and more\n",
		 "636f727265637420686f72736520626174746572792073746170"
		 "6c652c20616e64206d6f72650a"},
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char name[64], kname[64];
		const char *kf;
		struct store *s;
		struct cp_audit *a;

		snprintf(name, sizeof(name), "keyed-%s", keys[i].name);
		snprintf(kname, sizeof(kname), "key-%s", keys[i].name);
		kf = audit_key(kname, keys[i].text);
		s = open_store(name, NULL);
		a = open_audit(s, kf);
		CU_ASSERT_TRUE(cp_audit_keyed(a));
		append_n(a, 4, 1);
		cp_audit_close(a);
		store_close(s);
		s = open_store(name, NULL);
		a = open_audit(s, kf);
		append_n(a, 2, 5);
		expect_links(s, 1, 6, keys[i].as_hex);
		expect_whole(s, kf, 1, 6);
		cp_audit_close(a);
		store_close(s);
	}
}

static void
test_wrong_key(void)
{
	const char *ka = audit_key("wk-a", key_a), *kb = audit_key("wk-b", key_b);
	struct store *s = open_store("wrong-key", NULL);
	struct cp_audit *a = open_audit(s, ka);
	struct cp_audit_verify v;
	char err[512] = "";

	append_n(a, 3, 1);
	cp_audit_close(a);
	expect_whole(s, ka, 1, 3);
	expect_broken(s, kb, 1, "record 1 was modified: its mac does not match (or the key");
	/* No key: refused, not "broken". */
	CU_ASSERT_EQUAL(cp_audit_verify(s, NULL, &v, err, sizeof(err)), -ENOKEY);
	CU_ASSERT_EQUAL(v.bad_seq, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "keyed (HMAC-SHA256)"));
	/* A keyed chain is not continued without its key. */
	expect_open_refused(s, NULL, -ENOKEY, "set audit.key_file");
	store_close(s);
}

/* A chain begun without a key goes on with one; an unkeyed record after a keyed one is forged. */
static void
test_key_added(void)
{
	const char *ka = audit_key("ka-a", key_a);
	struct store *s = open_store("key-added", NULL);
	struct cp_audit *a = open_audit(s, NULL);
	struct cp_audit_verify v;
	char mac[65];
	int64_t t;
	json_t *rec;

	append_n(a, 3, 1);
	cp_audit_close(a);
	a = open_audit(s, ka);
	append_n(a, 3, 4);
	cp_audit_close(a);
	CU_ASSERT_EQUAL(verify(s, ka, &v), 0);
	CU_ASSERT_EQUAL(v.records, 6);
	CU_ASSERT_PTR_NOT_NULL(strstr(v.reason, "up to 3 were written without a key"));

	/* Record 5 rewritten as an unkeyed record (a forger without the key). */
	rec = record_get(s, 5, &t);
	json_object_set_new(rec, "result", json_string("ok"));
	json_object_set_new(rec, "mac_alg", json_string("sha256"));
	mac_of(rec, NULL, mac);
	json_object_set_new(rec, "mac", json_string(mac));
	record_put(s, 5, t, rec);
	json_decref(rec);
	expect_broken(s, ka, 5, "record 5 is not keyed though record 4 before it is");
	store_close(s);
}

/* cp_audit_open finds the last record (a galloping search) whatever the length and holes. */
static void
test_find_last(void)
{
	static const unsigned lengths[] = {1, 2, 3, 5, 8, 33, 100};

	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		unsigned n = lengths[i];
		char name[64];
		struct store *s;
		struct cp_audit *a;

		snprintf(name, sizeof(name), "last-%u", n);
		s = open_store(name, NULL);
		a = open_audit(s, NULL);
		append_n(a, n, 1);
		cp_audit_close(a);
		a = open_audit(s, NULL);
		append_n(a, 1, n + 1);
		cp_audit_close(a);
		/* Holes (the oldest gone, one in the middle): the last is still found. */
		for (uint64_t seq = 1; seq < n / 2; seq++)
			raw_delete(s, seq);
		if (n > 4)
			raw_delete(s, n - 1);
		a = open_audit(s, NULL);
		append_n(a, 1, n + 2);
		cp_audit_close(a);
		expect_links(s, n + 1, n + 2, NULL);
		store_close(s);
	}
}

/* ------------------------------------------------------------------------ */
/* Tampering                                                                 */
/* ------------------------------------------------------------------------ */

/* Each fault on a fresh chain of 6, plain and sealed, keyed and not. */
static void
test_tamper(void)
{
	const char *ka = audit_key("t-key", key_a);

	for (int sealed = 0; sealed < 2; sealed++) {
		for (int keyed = 0; keyed < 2; keyed++) {
			const char *kf = keyed ? ka : NULL;
			const char *seal = sealed ? key_b : NULL;
			char name[64];
			struct store *s;
			struct cp_audit *a;
			int64_t t;
			json_t *rec;
			char mac[65];

#define FRESH(what)                                                              \
	do {                                                                     \
		snprintf(name, sizeof(name), "t-%s-%d-%d", what, sealed, keyed); \
		s = open_store(name, seal);                                      \
		a = open_audit(s, kf);                                           \
		append_n(a, 6, 1);                                               \
		cp_audit_close(a);                                               \
		expect_whole(s, kf, 1, 6);                                       \
	} while (0)

			/* A record modified: its mac no longer matches. */
			FRESH("modify");
			modify_result(s, 3, "denied"); /* it was "ok" */
			expect_broken(s, kf, 3, "record 3 was modified: its mac does not match");
			store_close(s);

			/* Modified, and its mac recomputed by someone without the key. */
			FRESH("forge");
			rec = record_get(s, 3, &t);
			json_object_set_new(rec, "command", json_string("shutdown"));
			mac_of(rec, keyed ? key_b : NULL, mac); /* key_b: a guess */
			json_object_set_new(rec, "mac", json_string(mac));
			record_put(s, 3, t, rec);
			json_decref(rec);
			if (keyed)
				expect_broken(s, kf, 3,
					      "record 3 was modified: its mac does not match");
			else
				expect_broken(s, kf, 4,
					      "record 4 does not follow record 3 (reordered or a "
					      "record removed)");
			store_close(s);

			/* A record removed from the middle. */
			FRESH("remove");
			raw_delete(s, 4);
			expect_broken(s, kf, 4, "sequence 4 missing (a record was removed)");
			store_close(s);

			/* Two records swapped. */
			FRESH("swap");
			swap_records(s, 2, 5);
			expect_broken(s, kf, 2, "record 2 holds record 5 (reordered)");
			store_close(s);

			/* A record removed and the later ones moved down one place. */
			FRESH("shift");
			for (uint64_t seq = 3; seq < 6; seq++) {
				char *next = text_get(s, seq + 1, &t);

				text_put(s, seq, t, next, strlen(next));
				free(next);
			}
			raw_delete(s, 6);
			expect_broken(s, kf, 3, "record 3 holds record 4 (reordered)");
			store_close(s);

			/* The oldest gone (retention): whole from the first present. */
			FRESH("oldest");
			raw_delete(s, 1);
			raw_delete(s, 2);
			{
				struct cp_audit_verify v;

				CU_ASSERT_EQUAL(verify(s, kf, &v), 0);
				CU_ASSERT_EQUAL(v.first_seq, 3);
				CU_ASSERT_EQUAL(v.last_seq, 6);
				CU_ASSERT_EQUAL(v.records, 4);
				CU_ASSERT_PTR_NOT_NULL(strstr(v.reason, "whole from record 3"));
			}
			/* ... and the chain still goes on. */
			a = open_audit(s, kf);
			append_n(a, 1, 7);
			cp_audit_close(a);
			expect_whole(s, kf, 3, 7);
			store_close(s);
#undef FRESH
		}
	}
}

/* A sealed value damaged (or moved as it is): the store cannot read it. */
static void
test_unreadable(void)
{
	struct store *s = open_store("unreadable", key_a);
	struct cp_audit *a = open_audit(s, NULL);
	size_t n1, n2;
	char *v, *v1, *v2;

	append_n(a, 6, 1);
	cp_audit_close(a);
	v = raw_get(s, 3, &n1);
	v[n1 - 1] ^= 1; /* the tag */
	raw_put(s, 3, v, n1);
	rocksdb_free(v);
	expect_broken(s, NULL, 3, "record 3 cannot be read");
	store_close(s);

	/* Sealed values swapped as they are: bound to their keys, neither opens. */
	s = open_store("unreadable-swap", key_a);
	a = open_audit(s, NULL);
	append_n(a, 6, 1);
	cp_audit_close(a);
	v1 = raw_get(s, 2, &n1);
	v2 = raw_get(s, 4, &n2);
	raw_put(s, 2, v2, n2);
	raw_put(s, 4, v1, n1);
	rocksdb_free(v1);
	rocksdb_free(v2);
	expect_broken(s, NULL, 2, "record 2 cannot be read");
	store_close(s);

	/* The last one damaged: verify says so, and the chain is not continued. */
	s = open_store("unreadable-last", key_a);
	a = open_audit(s, NULL);
	append_n(a, 4, 1);
	cp_audit_close(a);
	v = raw_get(s, 4, &n1);
	v[n1 - 1] ^= 1;
	raw_put(s, 4, v, n1);
	rocksdb_free(v);
	expect_broken(s, NULL, 4, "record 4 cannot be read");
	expect_open_refused(s, NULL, -EBADMSG, "the record after 3 cannot be read");
	store_close(s);
}

/* cp_audit_open reads the last record: one that is not a chain record stops it. */
static void
test_open_last(void)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{"{\"seq\":4,\"mac\":", "record 4 (the last) does not parse"},
		{"[1,2,3]", "record 4 (the last) is not a chain record (it is not a JSON object)"},
		{"{\"seq\":4,\"prev\":\"" ZEROS "\",\"mac_alg\":\"sha256\"}",
		 "(it has no valid \"mac\")"},
		{"{\"seq\":3,\"mac\":\"" ZEROS "\",\"prev\":\"" ZEROS "\",\"mac_alg\":\"sha256\"}",
		 "(its \"seq\" is not its sequence number)"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[64];
		struct store *s;
		struct cp_audit *a;

		snprintf(name, sizeof(name), "open-last-%zu", i);
		s = open_store(name, NULL);
		a = open_audit(s, NULL);
		append_n(a, 4, 1);
		cp_audit_close(a);
		text_put(s, 4, T0, bad[i].text, strlen(bad[i].text));
		expect_open_refused(s, NULL, -EBADMSG, bad[i].why);
		expect_open_refused(s, NULL, -EBADMSG, "run vigilctl audit verify");
		expect_broken(s, NULL, 4, "record 4 was modified");
		store_close(s);
	}

	/* Damage before the last record does not stop the chain from going on. */
	{
		struct store *s = open_store("open-middle", NULL);
		struct cp_audit *a = open_audit(s, NULL);

		append_n(a, 4, 1);
		cp_audit_close(a);
		text_put(s, 2, T0, "not json", 8);
		a = open_audit(s, NULL);
		append_n(a, 1, 5);
		cp_audit_close(a);
		expect_broken(s, NULL, 2, "record 2 was modified: it does not parse");
		store_close(s);
	}
}

/* Somebody else appended through the store: the chain stops rather than fork. */
static int
count_fn(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	(void)id;
	(void)time_ns;
	(void)json;
	(void)len;
	(*(unsigned *)arg)++;
	return 0;
}

static void
test_numbering(void)
{
	struct store *s = open_store("numbering", NULL);
	struct cp_audit *a = open_audit(s, NULL);
	struct cp_audit_entry e = {.command = "x", .result = "ok"};
	unsigned n = 0;
	uint64_t seq = 0;

	append_n(a, 2, 1);
	CU_ASSERT_EQUAL(store_audit_append(s, T0, "{}", 2, &seq, NULL), 0);
	CU_ASSERT_EQUAL(seq, 3);
	seq = 0;
	CU_ASSERT_EQUAL(cp_audit_append(a, &e, T0, &seq), -EPROTO);
	CU_ASSERT_EQUAL(seq, 0);
	CU_ASSERT_EQUAL(cp_audit_append(a, &e, T0, &seq), -EPROTO);
	cp_audit_close(a);
	/* Nothing written by the refused appends. */
	CU_ASSERT_EQUAL(store_query_audit(s, 1, UINT64_MAX, count_fn, &n), 0);
	CU_ASSERT_EQUAL(n, 3);
	expect_broken(s, NULL, 3, "record 3 was modified");
	store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Key files                                                                 */
/* ------------------------------------------------------------------------ */

static void
test_key_files(void)
{
	struct store *s = open_store("keyfiles", NULL);
	char p[300], link[300], hex62[63];
	struct cp_audit_verify v;
	char err[1024];
	uint8_t raw[40];

	path_of(p, sizeof(p), "kf");
	write_file(p, key_a, strlen(key_a), 0644);
	snprintf(err, sizeof(err), "audit.key_file %s: mode 0644 lets others read it; chmod 600 %s",
		 p, p);
	expect_open_refused(s, p, -EACCES, err);
	/* verify refuses it the same way */
	CU_ASSERT_EQUAL(cp_audit_verify(s, p, &v, err, sizeof(err)), -EACCES);
	write_file(p, key_a, strlen(key_a), 0640);
	expect_open_refused(s, p, -EACCES, "mode 0640 lets others read it");
	write_file(p, key_a, strlen(key_a), 0620);
	expect_open_refused(s, p, -EACCES, "mode 0620 lets others change it");
	write_file(p, key_a, strlen(key_a), 0700);
	expect_open_refused(s, p, -EACCES, "mode 0700 is neither 0600 nor 0400");
	write_file(p, key_a, strlen(key_a), 0400);
	{
		struct cp_audit *a = open_audit(s, p);

		CU_ASSERT_TRUE(cp_audit_keyed(a));
		cp_audit_close(a);
	}

	expect_open_refused(s, tmp_root, -EACCES, "is not a regular file");
	path_of(link, sizeof(link), "kf-link");
	CU_ASSERT_FATAL(symlink(p, link) == 0);
	expect_open_refused(s, link, -EACCES, "is a symbolic link");
	expect_open_refused(s, path_of(p, sizeof(p), "kf-missing"), -ENOENT,
			    "No such file or directory");
	expect_open_refused(s, "", -EINVAL, "audit.key_file is empty");

	memcpy(hex62, key_a, 62);
	hex62[62] = '\0';
	expect_open_refused(s, audit_key("kf-62", hex62), -EINVAL,
			    "62 hex digits, at least 64 needed (32 bytes); make one with: openssl "
			    "rand -hex 32 >");
	expect_open_refused(s,
			    audit_key("kf-odd", "000102030405060708090a0b0c0d0e0f101112131415161718"
						"191a1b1c1d1e1f2"),
			    -EINVAL, "an odd number of hex digits (65)");
	expect_open_refused(s, audit_key("kf-short", "short key\n"), -EINVAL,
			    "10 bytes, at least 32 needed (or 64 hex digits)");
	expect_open_refused(s, audit_key("kf-empty", " \n"), -EINVAL, "is empty");

	/* Raw bytes: 40 of them, zeros and newlines included. */
	for (unsigned i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 37 % 11 == 0 ? '\n' : i * 7);
	path_of(p, sizeof(p), "kf-raw");
	write_file(p, raw, sizeof(raw), 0600);
	{
		struct cp_audit *a = open_audit(s, p);

		CU_ASSERT_TRUE(cp_audit_keyed(a));
		append_n(a, 2, 1);
		cp_audit_close(a);
		expect_whole(s, p, 1, 2);
		expect_broken(s, audit_key("kf-other", key_a), 1, "its mac does not match");
	}
	store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Odd text                                                                  */
/* ------------------------------------------------------------------------ */

static void
test_odd_text(void)
{
	struct store *s = open_store("odd", NULL);
	struct cp_audit *a;
	struct cp_audit_verify v;
	char *detail = malloc(10000);
	struct cp_audit_entry e = {
		.uid = 4242424,
		.role = CP_ROLE_NONE,
		.command = "rules.load\xff\xfe",
		.args = NULL,
		.result = "denied",
		.detail = detail,
	};
	const char *d;
	int64_t t;
	json_t *rec;

	CU_ASSERT_PTR_NOT_NULL_FATAL(detail);
	/* An empty chain is whole. */
	CU_ASSERT_EQUAL(verify(s, NULL, &v), 0);
	CU_ASSERT_EQUAL(v.records, 0);
	CU_ASSERT_EQUAL(v.bad_seq, 0);

	a = open_audit(s, NULL);
	/* A detail of 9999 bytes: "é" (2 bytes) repeated, cut on a character. */
	for (size_t i = 0; i + 1 < 9999; i += 2) {
		detail[i] = (char)0xc3;
		detail[i + 1] = (char)0xa9;
	}
	detail[9998] = 'x';
	detail[9999] = '\0';
	CU_ASSERT_EQUAL(cp_audit_append(a, &e, -1500000000LL, NULL), 0);
	e.command = NULL;
	CU_ASSERT_EQUAL(cp_audit_append(a, &e, T0, NULL), -EINVAL);
	CU_ASSERT_EQUAL(cp_audit_append(a, NULL, T0, NULL), -EINVAL);
	cp_audit_close(a);

	rec = record_get(s, 1, &t);
	CU_ASSERT_STRING_EQUAL(str(rec, "command"), "rules.load??");
	CU_ASSERT_STRING_EQUAL(str(rec, "user"), "4242424"); /* no such user */
	CU_ASSERT_STRING_EQUAL(str(rec, "role"), "none");
	CU_ASSERT_STRING_EQUAL(str(rec, "time"), "1969-12-31T23:59:58.500Z");
	/* SHA-256 of "" */
	CU_ASSERT_STRING_EQUAL(str(rec, "args_sha256"),
			       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	d = str(rec, "detail");
	CU_ASSERT(strlen(d) <= 2048 && strlen(d) >= 2046);
	CU_ASSERT_EQUAL(strlen(d) % 2, 0);
	json_decref(rec);
	expect_whole(s, NULL, 1, 1);
	free(detail);
	store_close(s);
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"an unkeyed chain, continued after a reopen", test_unkeyed},
		{"keyed chains: hex and raw keys", test_keyed},
		{"the wrong key, no key", test_wrong_key},
		{"the last record found at open", test_find_last},
		{"a key added to a chain begun without one", test_key_added},
		{"tampering: modified, forged, removed, swapped, shifted", test_tamper},
		{"values the store cannot read", test_unreadable},
		{"open refuses a last record it cannot continue", test_open_last},
		{"the store's numbering parts from the chain's", test_numbering},
		{"key files refused and accepted", test_key_files},
		{"odd text, an empty chain", test_odd_text},
	};
	CU_pSuite suite;

	suite = CU_add_suite("audit", suite_init, suite_cleanup);
	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
