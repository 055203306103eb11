/*
 * audit.c - the audit chain: one record per command that changes state
 * (and per denial) in the store's audit column family, each bound to the
 * one before it.
 *
 * A record is a JSON object written canonically (keys sorted, compact):
 *
 *   args_sha256  hex SHA-256 of the command's arguments (their JSON text)
 *   command, result, detail (only when there is one)
 *   mac          hex HMAC-SHA256(key, the canonical text without "mac"),
 *                or SHA-256(that text) without a key file
 *   mac_alg      "hmac-sha256" or "sha256"
 *   prev         the previous record's mac (64 zeros for record 1)
 *   role, uid, user
 *   seq          the record's own sequence number (its key in the store)
 *   time, time_ns
 *
 * "prev" and "seq" are inside the digested text, so a record edited, moved
 * to another key, removed from the middle or swapped with another breaks
 * the chain where it happened; cp_audit_verify walks it and says where and
 * why. A chain that starts above 1 (retention, audit.retain, removed the
 * oldest records) is checked from the first record present, which is
 * taken as the anchor. Removing the newest records is not visible in the
 * chain itself (nothing follows them).
 *
 * A chain begun without a key and continued with one is accepted (the
 * unkeyed part is said); an unkeyed record after a keyed one is not, and
 * a keyed chain is not continued without its key.
 *
 * The store's public interface does not tell the next audit sequence, so
 * cp_audit_open finds the last readable record with a galloping search of
 * store_query_audit probes, and treats values the store could not read
 * beyond it (its unreadable-value counters moved during the last probe)
 * as a chain that cannot be continued. cp_audit_append looks for a record
 * at the number it is about to write (one seek) and checks the number the
 * store gave against the one inside the record: a record appended behind
 * the chain's back stops the chain (-EPROTO) rather than fork it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "controlplane.h"
#include "store.h"

#define MAC_LEN 32
#define MAC_HEX (2 * MAC_LEN)
#define KEY_MIN 32	  /* bytes */
#define KEY_FILE_MAX 4096 /* bytes */
#define ALG_HMAC "hmac-sha256"
#define ALG_SHA "sha256"
#define DUMP_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)

/* Longest text kept per field (bytes, cut on a UTF-8 boundary). */
#define USER_MAX 256
#define COMMAND_MAX 256
#define RESULT_MAX 256
#define DETAIL_MAX 2048

struct cp_audit {
	struct store *store;
	uint8_t *key; /* NULL: SHA-256 only */
	size_t key_len;
	uint64_t next_seq;
	char prev[MAC_HEX + 1];
	bool broken; /* the store's numbering and ours parted: no more appends */
};

static int seterr(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
seterr(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The key file                                                              */
/* ------------------------------------------------------------------------ */

static int
hex_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* A regular file of ours that nobody else may read or change. */
static int
key_file_check(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;
	unsigned mode;

	if (fstat(fd, &st) < 0)
		return seterr(err, errlen, -errno, "audit.key_file %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return seterr(err, errlen, -EACCES, "audit.key_file %s is not a regular file",
			      path);
	mode = (unsigned)(st.st_mode & 07777);
	if (mode != 0600 && mode != 0400) {
		const char *what = (mode & 044)	  ? "lets others read it"
				   : (mode & 022) ? "lets others change it"
						  : "is neither 0600 nor 0400";

		return seterr(err, errlen, -EACCES, "audit.key_file %s: mode %04o %s; chmod 600 %s",
			      path, mode, what, path);
	}
	if (st.st_uid != geteuid())
		return seterr(err, errlen, -EACCES,
			      "audit.key_file %s is owned by uid %u, not by this process's uid %u; "
			      "chown %u %s",
			      path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(),
			      path);
	if (st.st_size > (off_t)KEY_FILE_MAX)
		return seterr(err, errlen, -EINVAL,
			      "audit.key_file %s: larger than %u bytes; not a key file?", path,
			      KEY_FILE_MAX);
	return 0;
}

/*
 * The key: 64 or more hex digits (surrounding white space ignored), else
 * the file's bytes as they are, at least KEY_MIN of them.
 */
static int
key_parse(const uint8_t *buf, size_t len, const char *path, uint8_t **key, size_t *key_len,
	  char *err, size_t errlen)
{
	const char *fix = "make one with: openssl rand -hex 32 >";
	size_t a = 0, b = len, n;
	bool hex = true;
	uint8_t *k;

	while (a < b && is_space(buf[a]))
		a++;
	while (b > a && is_space(buf[b - 1]))
		b--;
	n = b - a;
	if (n == 0)
		return seterr(err, errlen, -EINVAL, "audit.key_file %s is empty; %s %s", path, fix,
			      path);
	for (size_t i = a; i < b && hex; i++)
		hex = hex_val(buf[i]) >= 0;
	if (hex) {
		if (n < 2 * KEY_MIN)
			return seterr(err, errlen, -EINVAL,
				      "audit.key_file %s: %zu hex digits, at least %d needed "
				      "(%d bytes); %s %s",
				      path, n, 2 * KEY_MIN, KEY_MIN, fix, path);
		if (n % 2 != 0)
			return seterr(err, errlen, -EINVAL,
				      "audit.key_file %s: an odd number of hex digits (%zu); %s %s",
				      path, n, fix, path);
		k = malloc(n / 2);
		if (k == NULL)
			return seterr(err, errlen, -ENOMEM, "audit.key_file %s: out of memory",
				      path);
		for (size_t i = 0; i < n / 2; i++)
			k[i] = (uint8_t)(hex_val(buf[a + 2 * i]) << 4 |
					 hex_val(buf[a + 2 * i + 1]));
		*key = k;
		*key_len = n / 2;
		return 0;
	}
	if (len < KEY_MIN)
		return seterr(err, errlen, -EINVAL,
			      "audit.key_file %s: %zu bytes, at least %d needed (or %d hex "
			      "digits); %s %s",
			      path, len, KEY_MIN, 2 * KEY_MIN, fix, path);
	k = malloc(len);
	if (k == NULL)
		return seterr(err, errlen, -ENOMEM, "audit.key_file %s: out of memory", path);
	memcpy(k, buf, len);
	*key = k;
	*key_len = len;
	return 0;
}

/* Read @p path's key (NULL path: none). The caller wipes and frees *key. */
static int
key_load(const char *path, uint8_t **key, size_t *key_len, char *err, size_t errlen)
{
	uint8_t buf[KEY_FILE_MAX + 1];
	size_t len = 0;
	int fd = -1, rc;

	*key = NULL;
	*key_len = 0;
	if (path == NULL)
		return 0;
	if (*path == '\0')
		return seterr(err, errlen, -EINVAL, "audit.key_file is empty: name a file");
	/* O_NONBLOCK: a FIFO in the file's place must not hang us before fstat refuses it. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (errno == ELOOP)
			return seterr(err, errlen, -EACCES,
				      "audit.key_file %s is a symbolic link: name the file itself",
				      path);
		return seterr(err, errlen, -errno, "audit.key_file %s: %s", path, strerror(errno));
	}
	rc = key_file_check(fd, path, err, errlen);
	if (rc < 0)
		goto out;
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = seterr(err, errlen, -errno, "audit.key_file %s: %s", path,
				    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > KEY_FILE_MAX) {
			rc = seterr(err, errlen, -EINVAL,
				    "audit.key_file %s: larger than %u bytes; not a key file?",
				    path, KEY_FILE_MAX);
			goto out;
		}
	}
	rc = key_parse(buf, len, path, key, key_len, err, errlen);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return rc;
}

static void
key_free(uint8_t *key, size_t len)
{
	if (key != NULL) {
		OPENSSL_cleanse(key, len);
		free(key);
	}
}

/* ------------------------------------------------------------------------ */
/* Digests                                                                   */
/* ------------------------------------------------------------------------ */

static void
to_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
sha256_hex(const void *data, size_t len, char out[MAC_HEX + 1])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != MAC_LEN)
		return -EIO;
	to_hex(md, MAC_LEN, out);
	return 0;
}

/* HMAC-SHA256 with @p key, or SHA-256 when @p key is NULL. */
static int
mac_hex(const uint8_t *key, size_t key_len, const char *text, size_t len, char out[MAC_HEX + 1])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	if (key == NULL)
		return sha256_hex(text, len, out);
	if (key_len > INT32_MAX ||
	    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)text, len, md, &n) ==
		    NULL ||
	    n != MAC_LEN)
		return -EIO;
	to_hex(md, MAC_LEN, out);
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

static bool
is_mac_hex(const char *s)
{
	if (s == NULL || strlen(s) != MAC_HEX)
		return false;
	for (size_t i = 0; i < MAC_HEX; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * The mac of record @p rec (its "mac" left out): HMAC-SHA256 with @p key,
 * SHA-256 without; @p rec is left as it was.
 */
static int
record_mac(json_t *rec, const uint8_t *key, size_t key_len, char out[MAC_HEX + 1])
{
	json_t *mac = json_object_get(rec, "mac");
	char *text;
	int rc;

	if (mac != NULL) {
		json_incref(mac);
		json_object_del(rec, "mac");
	}
	text = json_dumps(rec, DUMP_FLAGS);
	if (mac != NULL) {
		json_object_set(rec, "mac", mac);
		json_decref(mac);
	}
	if (text == NULL)
		return -ENOMEM;
	rc = mac_hex(key, key_len, text, strlen(text), out);
	free(text);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Records                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * A JSON string of at most @p max bytes of @p s, cut on a UTF-8 boundary;
 * text that is not UTF-8 keeps its ASCII and has '?' for the rest.
 */
static json_t *
text_value(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	json_t *v;
	char *copy;

	if (n > max) {
		n = max;
		while (n > 0 && ((uint8_t)s[n] & 0xc0) == 0x80)
			n--;
	}
	v = json_stringn(s, n);
	if (v != NULL)
		return v;
	copy = malloc(n + 1);
	if (copy == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		copy[i] = (uint8_t)s[i] < 0x80 ? s[i] : '?';
	copy[n] = '\0';
	v = json_stringn(copy, n);
	free(copy);
	return v;
}

static int
set_text(json_t *o, const char *name, const char *s, size_t max)
{
	json_t *v = text_value(s, max);

	return v != NULL && json_object_set_new(o, name, v) == 0 ? 0 : -ENOMEM;
}

static int
set_int(json_t *o, const char *name, json_int_t i)
{
	return json_object_set_new(o, name, json_integer(i)) == 0 ? 0 : -ENOMEM;
}

/* "2024-05-01T10:00:00.123Z" */
static void
iso_time(int64_t ns, char *out, size_t room)
{
	if (store_time_format(ns, 3, out, room) != 0)
		snprintf(out, room, "?");
}

/* The record of @p e as seq @p seq, without its mac. */
static int
record_build(const struct cp_audit *a, const struct cp_audit_entry *e, int64_t time_ns,
	     uint64_t seq, json_t **out)
{
	char when[96], digest[MAC_HEX + 1], user[USER_MAX + 1];
	const char *args = e->args != NULL ? e->args : "";
	json_t *o = json_object();
	int rc = 0;

	*out = NULL;
	if (o == NULL)
		return -ENOMEM;
	iso_time(time_ns, when, sizeof(when));
	rc = sha256_hex(args, strlen(args), digest);
	if (rc < 0)
		goto fail;
	if (e->user == NULL)
		cp_user_name(e->uid, user, sizeof(user));
	if (set_int(o, "seq", (json_int_t)seq) < 0 || set_text(o, "time", when, sizeof(when)) < 0 ||
	    set_int(o, "time_ns", time_ns) < 0 || set_int(o, "uid", (json_int_t)e->uid) < 0 ||
	    set_text(o, "user", e->user != NULL ? e->user : user, USER_MAX) < 0 ||
	    set_text(o, "role", cp_role_name(e->role), 32) < 0 ||
	    set_text(o, "command", e->command, COMMAND_MAX) < 0 ||
	    set_text(o, "args_sha256", digest, MAC_HEX) < 0 ||
	    set_text(o, "result", e->result, RESULT_MAX) < 0 ||
	    (e->detail != NULL && set_text(o, "detail", e->detail, DETAIL_MAX) < 0) ||
	    set_text(o, "prev", a->prev, MAC_HEX) < 0 ||
	    set_text(o, "mac_alg", a->key != NULL ? ALG_HMAC : ALG_SHA, 16) < 0) {
		rc = -ENOMEM;
		goto fail;
	}
	*out = o;
	return 0;
fail:
	json_decref(o);
	return rc;
}

/* A stored record's fields, checked for type (not for truth). */
struct rec_fields {
	json_int_t seq;
	const char *mac, *prev, *alg;
};

/* @return NULL, or what is wrong with @p rec ("its mac is missing"). */
static const char *
record_fields(json_t *rec, struct rec_fields *f)
{
	json_t *seq = json_object_get(rec, "seq");

	if (!json_is_object(rec))
		return "it is not a JSON object";
	if (!json_is_integer(seq))
		return "it has no \"seq\" number";
	f->seq = json_integer_value(seq);
	f->mac = json_string_value(json_object_get(rec, "mac"));
	f->prev = json_string_value(json_object_get(rec, "prev"));
	f->alg = json_string_value(json_object_get(rec, "mac_alg"));
	if (!is_mac_hex(f->mac))
		return "it has no valid \"mac\"";
	if (!is_mac_hex(f->prev))
		return "it has no valid \"prev\"";
	if (f->alg == NULL || (strcmp(f->alg, ALG_HMAC) != 0 && strcmp(f->alg, ALG_SHA) != 0))
		return "it has no valid \"mac_alg\"";
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* The store: finding the last record                                        */
/* ------------------------------------------------------------------------ */

/* What the store counts for values it could not hand to a query. */
static uint64_t
unreadable_count(struct store *s)
{
	uint64_t c[STORE_CNT__COUNT];

	store_counters(s, c);
	return c[STORE_CNT_unseal_failed] + c[STORE_CNT_unknown_key] + c[STORE_CNT_bad_values];
}

struct probe {
	bool found;
	uint64_t seq;
	char *json; /* with keep: a copy of the record */
	size_t len;
	bool keep;
};

static int
probe_fn(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	struct probe *p = arg;

	(void)time_ns;
	p->found = true;
	p->seq = id;
	if (p->keep) {
		free(p->json);
		p->json = malloc(len + 1);
		if (p->json == NULL)
			return -ENOMEM;
		memcpy(p->json, json, len);
		p->json[len] = '\0';
		p->len = len;
	}
	return 1;
}

/* The first readable record with seq >= @p from: 1 found, 0 none, or an error. */
static int
probe_from(struct store *s, uint64_t from, struct probe *p)
{
	int rc;

	p->found = false;
	if (from >= UINT64_MAX)
		return 0;
	rc = store_query_audit(s, from, UINT64_MAX, probe_fn, p);
	if (rc < 0)
		return rc;
	return p->found ? 1 : 0;
}

/*
 * The last readable record: doubling steps past the last one found until
 * a probe finds nothing, then halving them. @p last gets its copy (found
 * false: the family holds no readable record).
 */
static int
find_last(struct store *s, struct probe *last)
{
	struct probe p = {0};
	uint64_t step = 1;
	bool growing = true;
	int rc;

	last->keep = true;
	rc = probe_from(s, 1, last);
	if (rc <= 0)
		return rc;
	for (;;) {
		uint64_t from = last->seq + step;

		if (from < last->seq)
			from = UINT64_MAX; /* wrapped */
		rc = probe_from(s, from, &p);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			last->seq = p.seq;
			if (growing && step < (UINT64_C(1) << 62))
				step *= 2;
			else if (step > 1)
				step /= 2;
			continue;
		}
		if (step == 1)
			break;
		growing = false;
		step /= 2;
	}
	/* The copy of the last one. */
	rc = probe_from(s, last->seq, last);
	return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------------------ */
/* Opening, appending                                                        */
/* ------------------------------------------------------------------------ */

/* Continue after the last record (@p last): its seq and mac. */
static int
continue_from(struct cp_audit *a, const struct probe *last, char *err, size_t errlen)
{
	struct rec_fields f;
	json_error_t jerr;
	const char *why;
	json_t *rec;
	int rc = 0;

	rec = json_loadb(last->json, last->len, JSON_REJECT_DUPLICATES, &jerr);
	if (rec == NULL)
		return seterr(err, errlen, -EBADMSG,
			      "audit record %" PRIu64 " (the last) does not parse (%s): the chain "
			      "cannot be continued; run vigilctl audit verify",
			      last->seq, jerr.text);
	why = record_fields(rec, &f);
	if (why == NULL && f.seq != (json_int_t)last->seq)
		why = "its \"seq\" is not its sequence number";
	if (why != NULL) {
		rc = seterr(err, errlen, -EBADMSG,
			    "audit record %" PRIu64 " (the last) is not a chain record (%s): the "
			    "chain cannot be continued; run vigilctl audit verify",
			    last->seq, why);
		goto out;
	}
	if (a->key == NULL && strcmp(f.alg, ALG_HMAC) == 0) {
		rc = seterr(err, errlen, -ENOKEY,
			    "the audit chain is keyed (HMAC-SHA256; record %" PRIu64
			    "): it is not continued without its key: set audit.key_file",
			    last->seq);
		goto out;
	}
	memcpy(a->prev, f.mac, MAC_HEX + 1);
	a->next_seq = last->seq + 1;
out:
	json_decref(rec);
	return rc;
}

int
cp_audit_open(struct store *store, const char *key_file, struct cp_audit **out, char *err,
	      size_t errlen)
{
	struct probe last = {0};
	struct cp_audit *a;
	uint64_t before;
	int rc;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (store == NULL)
		return seterr(err, errlen, -EINVAL, "audit: no store");
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return seterr(err, errlen, -ENOMEM, "audit: out of memory");
	a->store = store;
	a->next_seq = 1;
	memset(a->prev, '0', MAC_HEX);
	rc = key_load(key_file, &a->key, &a->key_len, err, errlen);
	if (rc < 0)
		goto fail;
	rc = find_last(store, &last);
	if (rc < 0) {
		seterr(err, errlen, rc, "audit: cannot read the audit records: %s", strerror(-rc));
		goto fail;
	}
	/* Nothing readable may follow the last readable record. */
	before = unreadable_count(store);
	rc = probe_from(store, last.found ? last.seq + 1 : 1, &(struct probe){0});
	if (rc < 0) {
		seterr(err, errlen, rc, "audit: cannot read the audit records: %s", strerror(-rc));
		goto fail;
	}
	if (unreadable_count(store) != before) {
		rc = seterr(err, errlen, -EBADMSG,
			    "audit: the record after %" PRIu64
			    " cannot be read (its value fails authentication or its header is "
			    "damaged): the chain cannot be continued; run vigilctl audit verify",
			    last.found ? last.seq : 0);
		goto fail;
	}
	if (last.found) {
		rc = continue_from(a, &last, err, errlen);
		if (rc < 0)
			goto fail;
	}
	free(last.json);
	*out = a;
	return 0;
fail:
	free(last.json);
	cp_audit_close(a);
	return rc;
}

void
cp_audit_close(struct cp_audit *a)
{
	if (a == NULL)
		return;
	key_free(a->key, a->key_len);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

bool
cp_audit_keyed(const struct cp_audit *a)
{
	return a != NULL && a->key != NULL;
}

int
cp_audit_append(struct cp_audit *a, const struct cp_audit_entry *e, int64_t time_ns, uint64_t *seq)
{
	char mac[MAC_HEX + 1];
	json_t *rec = NULL;
	char *text = NULL;
	uint64_t got = 0;
	int rc;

	if (a == NULL || e == NULL || e->command == NULL || e->result == NULL)
		return -EINVAL;
	if (a->broken)
		return -EPROTO;
	if (a->next_seq == UINT64_MAX)
		return -EOVERFLOW;
	/* A record already there (written behind the chain's back): nothing is written. */
	rc = probe_from(a->store, a->next_seq, &(struct probe){0});
	if (rc != 0) {
		if (rc > 0) {
			a->broken = true;
			rc = -EPROTO;
		}
		return rc;
	}
	rc = record_build(a, e, time_ns, a->next_seq, &rec);
	if (rc < 0)
		goto out;
	rc = record_mac(rec, a->key, a->key_len, mac);
	if (rc < 0)
		goto out;
	if (json_object_set_new(rec, "mac", json_string(mac)) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	text = json_dumps(rec, DUMP_FLAGS);
	if (text == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = store_audit_append(a->store, time_ns, text, strlen(text), &got, NULL);
	if (rc < 0)
		goto out;
	if (got != a->next_seq) {
		/* Written under another number than the one inside it: the chain is broken there.
		 */
		a->broken = true;
		rc = -EPROTO;
		goto out;
	}
	memcpy(a->prev, mac, sizeof(mac));
	a->next_seq = got + 1;
	if (seq != NULL)
		*seq = got;
out:
	free(text);
	json_decref(rec);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Verifying                                                                 */
/* ------------------------------------------------------------------------ */

struct walk {
	struct store *store;
	const uint8_t *key;
	size_t key_len;
	struct cp_audit_verify *out;
	char *err;
	size_t errlen;
	char prev[MAC_HEX + 1]; /* the last record's mac */
	uint64_t last_id;	/* the last record's sequence (0: none yet) */
	uint64_t unreadable;	/* the store's count at the last record */
	uint64_t first_keyed;	/* 0: none yet */
	uint64_t last_unkeyed;	/* 0: none */
	int rc;			/* an error (not a fault) that stopped the walk */
};

static void broken(struct walk *w, uint64_t seq, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
broken(struct walk *w, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	w->out->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(w->out->reason, sizeof(w->out->reason), fmt, ap);
	va_end(ap);
}

/* Whether record @p id follows the one before it: false (the fault said) if not. */
static bool
verify_place(struct walk *w, uint64_t id)
{
	uint64_t unreadable = unreadable_count(w->store);
	bool moved = unreadable != w->unreadable;
	uint64_t want = w->last_id + 1;

	w->unreadable = unreadable;
	if (w->last_id == 0) {
		/* The first one present is the anchor; values the store refused before it? */
		if (moved && id > 1)
			broken(w, id - 1,
			       "a record before %" PRIu64 " cannot be read (its stored value fails "
			       "authentication or its header is damaged)",
			       id);
		return !(moved && id > 1);
	}
	if (id == want)
		return true;
	if (moved)
		broken(w, want,
		       "record %" PRIu64
		       " cannot be read (its stored value fails authentication or "
		       "its header is damaged)",
		       want);
	else
		broken(w, want, "sequence %" PRIu64 " missing (a record was removed)", want);
	return false;
}

/* Check record @p id's content (it is in its place); false (the fault said) if wrong. */
static bool
verify_record(struct walk *w, uint64_t id, const char *json, size_t len)
{
	bool first = w->last_id == 0;
	char mac[MAC_HEX + 1];
	struct rec_fields f;
	json_error_t jerr;
	const char *why;
	bool keyed, ok = false;
	json_t *rec;
	int rc;

	rec = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (rec == NULL) {
		broken(w, id, "record %" PRIu64 " was modified: it does not parse (%s)", id,
		       jerr.text);
		return false;
	}
	why = record_fields(rec, &f);
	if (why != NULL) {
		broken(w, id, "record %" PRIu64 " was modified: %s", id, why);
		goto out;
	}
	keyed = strcmp(f.alg, ALG_HMAC) == 0;
	if (keyed && w->key == NULL) {
		broken(w, id, "record %" PRIu64 " is keyed (HMAC-SHA256): it needs the key file",
		       id);
		w->rc = seterr(w->err, w->errlen, -ENOKEY,
			       "audit record %" PRIu64 " is keyed (HMAC-SHA256): verify with the "
			       "key file it was written with (audit.key_file)",
			       id);
		goto out;
	}
	if (!keyed && w->first_keyed != 0) {
		broken(w, id,
		       "record %" PRIu64 " is not keyed though record %" PRIu64
		       " before it is (forged)",
		       id, w->first_keyed);
		goto out;
	}
	rc = record_mac(rec, keyed ? w->key : NULL, w->key_len, mac);
	if (rc < 0) {
		broken(w, id, "record %" PRIu64 ": its mac could not be computed", id);
		w->rc = seterr(w->err, w->errlen, rc, "audit: cannot compute a mac: %s",
			       strerror(-rc));
		goto out;
	}
	if (CRYPTO_memcmp(mac, f.mac, MAC_HEX) != 0) {
		broken(w, id, "record %" PRIu64 " was modified: its mac does not match%s", id,
		       first && keyed ? " (or the key file is not the one it was written with)"
				      : "");
		goto out;
	}
	if (f.seq != (json_int_t)id) {
		broken(w, id, "record %" PRIu64 " holds record %" PRId64 " (reordered)", id,
		       (int64_t)f.seq);
		goto out;
	}
	if (!first && strcmp(f.prev, w->prev) != 0) {
		broken(w, id,
		       "record %" PRIu64 " does not follow record %" PRIu64
		       " (reordered or a record removed)",
		       id, id - 1);
		goto out;
	}
	if (first && id == 1 && strspn(f.prev, "0") != MAC_HEX) {
		broken(w, id, "record 1 was modified: it does not start the chain (prev not zero)");
		goto out;
	}
	if (keyed && w->first_keyed == 0)
		w->first_keyed = id;
	if (!keyed)
		w->last_unkeyed = id;
	memcpy(w->prev, f.mac, MAC_HEX + 1);
	ok = true;
out:
	json_decref(rec);
	return ok;
}

/*
 * Each record in turn, checked up to the first fault; the ones after it
 * are only counted (records, last_seq say how far the chain goes).
 */
static int
verify_fn(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	struct walk *w = arg;
	struct cp_audit_verify *v = w->out;

	(void)time_ns;
	if (v->records == 0)
		v->first_seq = id;
	v->records++;
	v->last_seq = id;
	if (v->bad_seq == 0 && verify_place(w, id))
		verify_record(w, id, json, len);
	w->last_id = id;
	return w->rc < 0 ? 1 : 0;
}

int
cp_audit_verify(struct store *store, const char *key_file, struct cp_audit_verify *out, char *err,
		size_t errlen)
{
	struct walk w = {.store = store, .out = out, .err = err, .errlen = errlen};
	uint8_t *key = NULL;
	size_t key_len = 0;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (store == NULL)
		return seterr(err, errlen, -EINVAL, "audit: no store");
	rc = key_load(key_file, &key, &key_len, err, errlen);
	if (rc < 0)
		return rc;
	w.key = key;
	w.key_len = key_len;
	w.unreadable = unreadable_count(store);
	rc = store_query_audit(store, 1, UINT64_MAX, verify_fn, &w);
	if (rc < 0) {
		seterr(err, errlen, rc, "audit: cannot read the audit records: %s", strerror(-rc));
		goto out;
	}
	if (w.rc < 0) {
		rc = w.rc;
		goto out;
	}
	if (out->bad_seq != 0) {
		seterr(err, errlen, -EBADMSG, "the audit chain is broken: %s", out->reason);
		rc = -EBADMSG;
		goto out;
	}
	if (unreadable_count(store) != w.unreadable) {
		uint64_t bad = out->records > 0 ? out->last_seq + 1 : 1;

		snprintf(out->reason, sizeof(out->reason),
			 "record %" PRIu64 " cannot be read (its stored value fails authentication "
			 "or its header is damaged)",
			 bad);
		out->bad_seq = bad;
		seterr(err, errlen, -EBADMSG, "the audit chain is broken: %s", out->reason);
		rc = -EBADMSG;
		goto out;
	}
	/* Whole: say what it does not prove. */
	if (out->first_seq > 1)
		snprintf(out->reason, sizeof(out->reason),
			 "whole from record %" PRIu64 ": the records before it are gone "
			 "(audit retention, or removed)",
			 out->first_seq);
	else if (w.last_unkeyed != 0 && w.first_keyed != 0)
		snprintf(out->reason, sizeof(out->reason),
			 "whole; records up to %" PRIu64
			 " were written without a key (SHA-256 only)",
			 w.last_unkeyed);
	rc = 0;
out:
	key_free(key, key_len);
	return rc;
}
