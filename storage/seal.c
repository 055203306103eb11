/*
 * seal.c - sealing at rest: the key file and AES-256-GCM per value (OpenSSL EVP).
 *
 * The key file lists keys as "ID HEX" lines (store.h). It is refused unless
 * it is a regular file (not a symbolic link: opened with O_NOFOLLOW), owned
 * by the effective uid, with no permission bits for group or others: a key
 * that others could read is no secret. Mistakes come back as one line,
 * "FILE:LINE: why", which never quotes key material.
 *
 * A sealed record is nonce (12) . ciphertext . tag (16). The store's nonces
 * are its own counter behind a random per-open salt (value.c); store_seal,
 * with a nonce fresh from RAND_bytes, is for callers that seal a few
 * values only. The additional data is whatever the caller binds the value to (the
 * RocksDB key and the clear header, value.c), so a value moved to another
 * key fails authentication like a flipped bit does. On any failure to open
 * a value the output buffer is wiped: a caller never sees plaintext that
 * did not authenticate.
 *
 * A store_keys object is immutable once loaded, and each seal or unseal
 * uses its own EVP_CIPHER_CTX, so any number of threads may use one object
 * at once (the writer seals while queries unseal). The cipher is fetched
 * once at load rather than looked up by name on every call.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "store_private.h"

#define SEAL_KEY_LEN 32
#define SEAL_KEY_HEX (2 * SEAL_KEY_LEN)
#define SEAL_ID_MAX 65535u
#define KEY_FILE_MAX (64u * 1024) /* 64 keys and their comments; this catches /dev/zero */
#define ID_QUOTED_MAX 6		  /* a bad id longer than this may be key material */
#define EVP_CHUNK (1 << 30)	  /* EVP lengths are int: feed large inputs in pieces */

struct store_key {
	unsigned id;
	unsigned line; /* where it was listed, for "listed twice" */
	uint8_t key[SEAL_KEY_LEN];
};

struct store_keys {
	EVP_CIPHER *cipher; /* AES-256-GCM, fetched once */
	unsigned n;
	unsigned newest;
	struct store_key k[STORE_MAX_KEYS];
};

static void __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* The key file                                                              */
/* ------------------------------------------------------------------------ */

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const struct store_key *
find_key(const struct store_keys *k, unsigned id)
{
	if (k == NULL || id == 0)
		return NULL;
	for (unsigned i = 0; i < k->n; i++)
		if (k->k[i].id == id)
			return &k->k[i];
	return NULL;
}

/*
 * One line of the file, [p, end), without its newline. Adds its key to @k,
 * or says why not in @why. @return 0 or -EINVAL.
 */
static int
parse_line(struct store_keys *k, unsigned line, const char *p, const char *end, char *why,
	   size_t whylen)
{
	const struct store_key *dup;
	struct store_key *key;
	const char *tok;
	unsigned long id = 0;
	size_t n;

	/* A comment runs to the end of the line. */
	for (const char *c = p; c < end; c++)
		if (*c == '#') {
			end = c;
			break;
		}
	while (p < end && is_blank(*p))
		p++;
	while (end > p && is_blank(end[-1]))
		end--;
	if (p == end)
		return 0;

	/* The id: 1..65535, decimal. */
	for (tok = p; p < end && !is_blank(*p); p++) {
		if (*p < '0' || *p > '9' || id > SEAL_ID_MAX) {
			id = 0;
			break;
		}
		id = id * 10 + (unsigned long)(*p - '0');
	}
	if (p < end && !is_blank(*p)) {
		while (p < end && !is_blank(*p))
			p++;
		id = 0;
	}
	if ((id == 0 || id > SEAL_ID_MAX) && p - tok > ID_QUOTED_MAX) {
		/* Too long for an id: perhaps a key with its id forgotten. Not quoted. */
		seterr(why, whylen, "the line does not start with a key id from 1 to %u (ID HEX)",
		       SEAL_ID_MAX);
		return -EINVAL;
	}
	if (id == 0 || id > SEAL_ID_MAX) {
		seterr(why, whylen, "key id '%.*s' is not a number from 1 to %u", (int)(p - tok),
		       tok, SEAL_ID_MAX);
		return -EINVAL;
	}
	dup = find_key(k, (unsigned)id);
	if (dup != NULL) {
		seterr(why, whylen, "key id %lu is listed twice (first on line %u)", id, dup->line);
		return -EINVAL;
	}
	if (k->n == STORE_MAX_KEYS) {
		seterr(why, whylen, "more than %u keys", STORE_MAX_KEYS);
		return -EINVAL;
	}

	/* The key: exactly 64 hex digits. Never quoted back. */
	while (p < end && is_blank(*p))
		p++;
	if (p == end) {
		seterr(why, whylen, "key id %lu has no key after it (64 hex digits)", id);
		return -EINVAL;
	}
	for (tok = p; p < end && !is_blank(*p); p++)
		;
	n = (size_t)(p - tok);
	key = &k->k[k->n];
	for (size_t i = 0; i < n && n == SEAL_KEY_HEX; i += 2) {
		int hi = hex_digit(tok[i]), lo = hex_digit(tok[i + 1]);

		if (hi < 0 || lo < 0) {
			n = 0;
			break;
		}
		key->key[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	if (n != SEAL_KEY_HEX) {
		OPENSSL_cleanse(key->key, sizeof(key->key));
		seterr(why, whylen, "key %lu is not %u hex digits (%u bytes)", id, SEAL_KEY_HEX,
		       SEAL_KEY_LEN);
		return -EINVAL;
	}
	while (p < end && is_blank(*p))
		p++;
	if (p != end) {
		OPENSSL_cleanse(key->key, sizeof(key->key));
		seterr(why, whylen, "extra text after key %lu (one key per line: ID HEX)", id);
		return -EINVAL;
	}
	key->id = (unsigned)id;
	key->line = line;
	k->n++;
	if (key->id > k->newest)
		k->newest = key->id;
	return 0;
}

/* Refuse anything but a regular file of ours that nobody else may touch. */
static int
check_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;
	uid_t euid = geteuid();
	unsigned mode;

	if (fstat(fd, &st) < 0) {
		int rc = -errno;

		seterr(err, errlen, "key file %s: %s", path, strerror(-rc));
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "key file %s is not a regular file", path);
		return -EACCES;
	}
	mode = (unsigned)(st.st_mode & 07777);
	if (mode & 077) {
		seterr(err, errlen, "key file %s is %s by others (mode %04o): chmod 600 %s", path,
		       (mode & 044) ? "readable" : "accessible", mode, path);
		return -EACCES;
	}
	if (st.st_uid != euid) {
		seterr(err, errlen,
		       "key file %s is owned by uid %u, not by this process's uid %u: "
		       "chown %u %s",
		       path, (unsigned)st.st_uid, (unsigned)euid, (unsigned)euid, path);
		return -EACCES;
	}
	if (st.st_size > (off_t)KEY_FILE_MAX) {
		seterr(err, errlen, "key file %s: larger than %u bytes; not a key file?", path,
		       KEY_FILE_MAX);
		return -EINVAL;
	}
	return 0;
}

int
store_keys_load(const char *path, struct store_keys **out, char *err, size_t errlen)
{
	struct store_keys *k = NULL;
	char *buf = NULL;
	size_t len = 0;
	char why[160];
	unsigned line = 1;
	int fd = -1, rc;

	*out = NULL;
	if (path == NULL || *path == '\0') {
		seterr(err, errlen, "no key file given");
		return -EINVAL;
	}
	/* O_NONBLOCK: a FIFO put in the file's place must not hang us before fstat refuses it. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ELOOP) {
			seterr(err, errlen, "key file %s is a symbolic link: name the file itself",
			       path);
			rc = -EACCES;
		} else {
			seterr(err, errlen, "key file %s: %s", path, strerror(-rc));
		}
		goto out;
	}
	rc = check_file(fd, path, err, errlen);
	if (rc < 0)
		goto out;

	/* Read it whole (KEY_FILE_MAX at most, whatever fstat said). */
	buf = malloc(KEY_FILE_MAX + 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		seterr(err, errlen, "key file %s: out of memory", path);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, KEY_FILE_MAX + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			seterr(err, errlen, "key file %s: %s", path, strerror(-rc));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > KEY_FILE_MAX) {
			rc = -EINVAL;
			seterr(err, errlen, "key file %s: larger than %u bytes; not a key file?",
			       path, KEY_FILE_MAX);
			goto out;
		}
	}

	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		rc = -ENOMEM;
		seterr(err, errlen, "key file %s: out of memory", path);
		goto out;
	}
	for (const char *p = buf, *end = buf + len; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl != NULL ? nl : end;

		rc = parse_line(k, line, p, eol, why, sizeof(why));
		if (rc < 0) {
			seterr(err, errlen, "%s:%u: %s", path, line, why);
			goto out;
		}
		p = eol + 1;
	}
	if (k->n == 0) {
		rc = -EINVAL;
		seterr(err, errlen,
		       "key file %s has no keys (lines \"ID HEX\": an id from 1 to %u, "
		       "%u hex digits)",
		       path, SEAL_ID_MAX, SEAL_KEY_HEX);
		goto out;
	}
	k->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	if (k->cipher == NULL) {
		rc = -EIO;
		seterr(err, errlen, "key file %s: OpenSSL has no AES-256-GCM", path);
		goto out;
	}
	*out = k;
	k = NULL;
	rc = 0;
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, KEY_FILE_MAX + 1);
		free(buf);
	}
	store_keys_free(k);
	if (fd >= 0)
		close(fd);
	return rc;
}

void
store_keys_free(struct store_keys *k)
{
	if (k == NULL)
		return;
	EVP_CIPHER_free(k->cipher);
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

unsigned
store_keys_newest(const struct store_keys *k)
{
	return k != NULL ? k->newest : 0;
}

bool
store_keys_has(const struct store_keys *k, unsigned id)
{
	return find_key(k, id) != NULL;
}

/* ------------------------------------------------------------------------ */
/* AES-256-GCM                                                               */
/* ------------------------------------------------------------------------ */

/* Feed @len bytes through EVP_{En,De}cryptUpdate; @out NULL for additional data. */
static bool
update(EVP_CIPHER_CTX *ctx, bool enc, uint8_t *out, const uint8_t *in, size_t len)
{
	while (len > 0) {
		int n = len > EVP_CHUNK ? EVP_CHUNK : (int)len, got = 0;

		if (enc ? EVP_EncryptUpdate(ctx, out, &got, in, n) != 1
			: EVP_DecryptUpdate(ctx, out, &got, in, n) != 1)
			return false;
		/* GCM is a stream mode: every byte comes out at once. */
		if (out != NULL && got != n)
			return false;
		in += n;
		if (out != NULL)
			out += n;
		len -= (size_t)n;
	}
	return true;
}

int
store_seal_nonce(const struct store_keys *k, unsigned id, const uint8_t nonce[STORE_SEAL_NONCE],
		 const uint8_t *aad, size_t aad_len, const uint8_t *plain, size_t len, uint8_t *out)
{
	const struct store_key *key = find_key(k, id);
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *ct = out + STORE_SEAL_NONCE;
	int rc = -EIO, n = 0;

	if (key == NULL)
		return -ENOKEY;
	memmove(out, nonce, STORE_SEAL_NONCE);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		goto out;
	if (EVP_EncryptInit_ex2(ctx, k->cipher, NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, STORE_SEAL_NONCE, NULL) != 1 ||
	    EVP_EncryptInit_ex2(ctx, NULL, key->key, out, NULL) != 1)
		goto out;
	if (!update(ctx, true, NULL, aad, aad_len) || !update(ctx, true, ct, plain, len))
		goto out;
	if (EVP_EncryptFinal_ex(ctx, ct + len, &n) != 1 || n != 0)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, STORE_SEAL_TAG, ct + len) != 1)
		goto out;
	rc = 0;
out:
	/* A half-made value must not leak what was sealed so far. */
	if (rc < 0)
		OPENSSL_cleanse(out, len + STORE_SEAL_OVERHEAD);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int
store_seal(const struct store_keys *k, unsigned id, const uint8_t *aad, size_t aad_len,
	   const uint8_t *plain, size_t len, uint8_t *out)
{
	uint8_t nonce[STORE_SEAL_NONCE];

	if (find_key(k, id) == NULL)
		return -ENOKEY;
	if (RAND_bytes(nonce, STORE_SEAL_NONCE) != 1)
		return -EIO;
	return store_seal_nonce(k, id, nonce, aad, aad_len, plain, len, out);
}

int
store_unseal(const struct store_keys *k, unsigned id, const uint8_t *aad, size_t aad_len,
	     const uint8_t *in, size_t len, uint8_t *plain)
{
	const struct store_key *key = find_key(k, id);
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t tag[STORE_SEAL_TAG], none[1];
	size_t ct_len;
	int rc = -EIO, n = 0;

	if (key == NULL)
		return -ENOKEY;
	if (len < STORE_SEAL_OVERHEAD)
		return -EINVAL;
	ct_len = len - STORE_SEAL_OVERHEAD;
	/* An empty record may come with no buffer at all. */
	if (ct_len == 0 && plain == NULL)
		plain = none;
	memcpy(tag, in + STORE_SEAL_NONCE + ct_len, sizeof(tag));
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		goto out;
	if (EVP_DecryptInit_ex2(ctx, k->cipher, NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, STORE_SEAL_NONCE, NULL) != 1 ||
	    EVP_DecryptInit_ex2(ctx, NULL, key->key, in, NULL) != 1)
		goto out;
	if (!update(ctx, false, NULL, aad, aad_len) ||
	    !update(ctx, false, plain, in + STORE_SEAL_NONCE, ct_len))
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, STORE_SEAL_TAG, tag) != 1)
		goto out;
	/* The tag is checked here; until it is, @plain holds unauthenticated bytes. */
	if (EVP_DecryptFinal_ex(ctx, plain + ct_len, &n) != 1) {
		rc = -EBADMSG;
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		OPENSSL_cleanse(plain, ct_len);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}
