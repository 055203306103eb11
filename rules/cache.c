/*
 * cache.c - the on-disk cache of compiled Hyperscan databases.
 *
 * Compiling a large ruleset takes seconds; a restart or a reload that did
 * not change any pattern should not pay for it again. So compile.c keys
 * each database by a SHA-256 over exactly what determines it (every
 * compiled pattern with its flags, id and offsets, the Hyperscan version and
 * the target platform) and keeps a serialized copy in `<dir>/<hex key>.hsdb`.
 *
 * A cache file is only a hint. Whatever is found is verified before it is
 * trusted (magic, format version, the key it was written for, the payload
 * length and its SHA-256, then hs_deserialize_database's own checks), and
 * anything wrong sends the caller back to compiling, with a reason. Writing
 * is atomic (temporary file in the same directory, fsync, rename, fsync of
 * the directory), so a crash or a full disk leaves either the old state or
 * the whole new file, never half of one; a failure to write never fails a
 * load.
 *
 * File layout (integers little-endian):
 *
 *     0   8  magic "VIGILHS1"
 *     8   4  format version (1)
 *    12   4  reserved, 0
 *    16  32  the key the database was compiled for
 *    48   8  payload length in bytes
 *    56  32  SHA-256 of the payload
 *    88   .  the payload: hs_serialize_database()'s bytes
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "rule_private.h"

#define CACHE_MAGIC "VIGILHS1"
#define CACHE_VERSION 1u
#define CACHE_HDR_LEN 88u
/* No ruleset's database comes near this; a bigger file is not ours. */
#define CACHE_MAX_PAYLOAD (1ull << 30)

/* ---------------------------------------------------------------------------
 * The key
 * ------------------------------------------------------------------------- */

/* A SHA-256 fed field by field; the first failure sticks. */
struct digest {
	EVP_MD_CTX *ctx;
	bool bad;
};

static void
digest_add(struct digest *d, const void *p, size_t n)
{
	if (!d->bad && EVP_DigestUpdate(d->ctx, p, n) != 1)
		d->bad = true;
}

static void
digest_u64(struct digest *d, uint64_t v)
{
	uint8_t b[8];

	for (unsigned i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	digest_add(d, b, sizeof(b));
}

/* Every field goes in with its length, so no two inputs hash the same bytes. */
static void
digest_str(struct digest *d, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	digest_u64(d, n);
	digest_add(d, s, n);
}

int
rule_cache_key(const struct rule_set *set, const hs_platform_info_t *plat, uint8_t key[32])
{
	struct digest d = {.ctx = EVP_MD_CTX_new(), .bad = false};
	unsigned int len = 0;
	int rc = -ENOMEM;

	memset(key, 0, 32);
	if (d.ctx == NULL)
		return -ENOMEM;
	if (EVP_DigestInit_ex(d.ctx, EVP_sha256(), NULL) != 1)
		goto out;
	digest_str(&d, "vigil rule database key 2");
	digest_str(&d, hs_version());
	digest_u64(&d, plat->tune);
	digest_u64(&d, plat->cpu_features);
	digest_u64(&d, plat->reserved1);
	digest_u64(&d, plat->reserved2);
	digest_u64(&d, HS_MODE_BLOCK);
	for (unsigned i = 0; i < set->n_patterns; i++) {
		const struct rule_pattern *p = &set->patterns[i];

		/* compile.c leaves out the patterns of disabled rules and the
		 * copies of an identical pattern (compiled under its first id). */
		if ((p->rule < set->n_rules && set->rules[p->rule].pub.disabled) || p->shared)
			continue;
		digest_u64(&d, i);
		digest_u64(&d, p->flags);
		digest_u64(&d, p->min_offset);
		digest_u64(&d, p->max_offset);
		digest_str(&d, p->expr);
	}
	if (d.bad || EVP_DigestFinal_ex(d.ctx, key, &len) != 1 || len != 32)
		goto out;
	rc = 0;
out:
	EVP_MD_CTX_free(d.ctx);
	return rc;
}

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

static void
put_u32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int
sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return -ENOMEM;
	return 0;
}

static void
hex_key(const uint8_t key[32], char hex[65])
{
	static const char digits[] = "0123456789abcdef";

	for (unsigned i = 0; i < 32; i++) {
		hex[2 * i] = digits[key[i] >> 4];
		hex[2 * i + 1] = digits[key[i] & 15];
	}
	hex[64] = '\0';
}

/* The file for @p key; -ENAMETOOLONG when it does not fit @p len. */
static int
cache_path(const char *dir, const uint8_t key[32], char *path, size_t len)
{
	char hex[65];
	int n;

	hex_key(key, hex);
	n = snprintf(path, len, "%s/%s.hsdb", dir, hex);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

static const char *
hs_error_name(hs_error_t e)
{
	switch (e) {
	case HS_INVALID:
		return "invalid parameter";
	case HS_NOMEM:
		return "out of memory";
	case HS_DB_VERSION_ERROR:
		return "built by another Hyperscan version";
	case HS_DB_PLATFORM_ERROR:
		return "built for another platform";
	case HS_DB_MODE_ERROR:
		return "wrong mode";
	case HS_BAD_ALIGN:
		return "bad alignment";
	case HS_BAD_ALLOC:
		return "bad allocation";
	case HS_ARCH_ERROR:
		return "CPU not supported";
	default:
		return "error";
	}
}

/* ---------------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------------- */

static int
read_all(int fd, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* shrank under us */
		done += (size_t)n;
	}
	return 0;
}

int
rule_cache_load(const char *dir, const uint8_t key[32], hs_database_t **db, char *path,
		size_t pathlen, char *note, size_t notelen)
{
	uint8_t *buf = NULL, sum[32];
	struct stat st;
	size_t size;
	uint64_t plen;
	hs_error_t he;
	int fd = -1, rc;

	*db = NULL;
	if (notelen > 0)
		note[0] = '\0';
	rc = cache_path(dir, key, path, pathlen);
	if (rc < 0) {
		snprintf(note, notelen, "cache path too long");
		return -EBADMSG;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		/* No file, or no directory yet: a plain miss (storing says more). */
		if (errno == ENOENT || errno == ENOTDIR)
			return -ENOENT;
		snprintf(note, notelen, "cannot open the cache file: %s", strerror(errno));
		return -EBADMSG;
	}
	rc = -EBADMSG;
	if (fstat(fd, &st) < 0) {
		snprintf(note, notelen, "cannot stat the cache file: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(note, notelen, "the cache file is not a regular file");
		goto out;
	}
	size = (size_t)st.st_size;
	if (size < CACHE_HDR_LEN) {
		snprintf(note, notelen, "short cache file (%zu bytes, the header alone is %u)",
			 size, CACHE_HDR_LEN);
		goto out;
	}
	if (size - CACHE_HDR_LEN > CACHE_MAX_PAYLOAD) {
		snprintf(note, notelen, "cache file too large (%zu bytes)", size);
		goto out;
	}
	buf = malloc(size);
	if (buf == NULL) {
		snprintf(note, notelen, "out of memory reading the cache file");
		goto out;
	}
	if (read_all(fd, buf, size) < 0) {
		snprintf(note, notelen, "cannot read the cache file");
		goto out;
	}
	if (memcmp(buf, CACHE_MAGIC, 8) != 0) {
		snprintf(note, notelen, "bad magic: not a vigil database cache file");
		goto out;
	}
	if (get_u32(buf + 8) != CACHE_VERSION) {
		snprintf(note, notelen, "cache format version %u, expected %u", get_u32(buf + 8),
			 CACHE_VERSION);
		goto out;
	}
	if (memcmp(buf + 16, key, 32) != 0) {
		snprintf(note, notelen, "the cache file was written for another key");
		goto out;
	}
	plen = get_u64(buf + 48);
	if (plen != size - CACHE_HDR_LEN) {
		snprintf(note, notelen, "cache payload is %zu bytes, the header says %llu",
			 size - CACHE_HDR_LEN, (unsigned long long)plen);
		goto out;
	}
	if (sha256(buf + CACHE_HDR_LEN, (size_t)plen, sum) < 0) {
		snprintf(note, notelen, "cannot checksum the cache payload");
		goto out;
	}
	if (memcmp(sum, buf + 56, 32) != 0) {
		snprintf(note, notelen, "cache payload checksum mismatch (corrupted)");
		goto out;
	}
	he = hs_deserialize_database((const char *)buf + CACHE_HDR_LEN, (size_t)plen, db);
	if (he != HS_SUCCESS) {
		*db = NULL;
		snprintf(note, notelen, "Hyperscan refused the cached database: %s (%d)",
			 hs_error_name(he), (int)he);
		goto out;
	}
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

/* ---------------------------------------------------------------------------
 * Storing
 * ------------------------------------------------------------------------- */

/* mkdir -p with mode 0750 for what it creates. */
static int
make_dirs(const char *dir)
{
	char *p, *copy = strdup(dir);
	struct stat st;
	int rc = 0;

	if (copy == NULL)
		return -ENOMEM;
	for (p = copy + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0750) < 0 && errno != EEXIST) {
			rc = -errno;
			goto out;
		}
		*p = '/';
	}
	if (mkdir(copy, 0750) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	if (stat(copy, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
out:
	free(copy);
	return rc;
}

static int
write_all(int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int
rule_cache_store(const char *dir, const uint8_t key[32], const hs_database_t *db, char *note,
		 size_t notelen)
{
	char path[4096], tmp[4096], hex[65], *bytes = NULL;
	uint8_t hdr[CACHE_HDR_LEN];
	size_t len = 0;
	bool created = false; /* tmp exists and is ours to remove */
	hs_error_t he;
	int fd = -1, rc, n;

	if (notelen > 0)
		note[0] = '\0';
	rc = cache_path(dir, key, path, sizeof(path));
	if (rc < 0) {
		snprintf(note, notelen, "cache path too long");
		return rc;
	}
	hex_key(key, hex);
	n = snprintf(tmp, sizeof(tmp), "%s/.%s.hsdb.XXXXXX", dir, hex);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(note, notelen, "cache path too long");
		return -ENAMETOOLONG;
	}
	rc = make_dirs(dir);
	if (rc < 0) {
		snprintf(note, notelen, "cannot create the cache directory: %s", strerror(-rc));
		return rc;
	}
	he = hs_serialize_database(db, &bytes, &len);
	if (he != HS_SUCCESS) {
		snprintf(note, notelen, "cannot serialize the database: %s (%d)", hs_error_name(he),
			 (int)he);
		return he == HS_NOMEM ? -ENOMEM : -EPROTO;
	}
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, CACHE_MAGIC, 8);
	put_u32(hdr + 8, CACHE_VERSION);
	memcpy(hdr + 16, key, 32);
	put_u64(hdr + 48, len);
	rc = sha256(bytes, len, hdr + 56);
	if (rc < 0) {
		snprintf(note, notelen, "cannot checksum the database");
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(note, notelen, "cannot create a cache file: %s", strerror(-rc));
		goto out;
	}
	created = true;
	/* mkstemp makes it 0600; the group (vigil's tools) may read it. */
	if (fchmod(fd, 0640) < 0) {
		rc = -errno;
		snprintf(note, notelen, "cannot chmod the cache file: %s", strerror(-rc));
		goto out;
	}
	rc = write_all(fd, hdr, sizeof(hdr));
	if (rc == 0)
		rc = write_all(fd, (const uint8_t *)bytes, len);
	if (rc < 0) {
		snprintf(note, notelen, "cannot write the cache file: %s", strerror(-rc));
		goto out;
	}
	if (fsync(fd) < 0) {
		rc = -errno;
		snprintf(note, notelen, "cannot sync the cache file: %s", strerror(-rc));
		goto out;
	}
	n = close(fd);
	fd = -1;
	if (n < 0) {
		rc = -errno;
		snprintf(note, notelen, "cannot close the cache file: %s", strerror(-rc));
		goto out;
	}
	if (rename(tmp, path) < 0) {
		rc = -errno;
		snprintf(note, notelen, "cannot rename the cache file: %s", strerror(-rc));
		goto out;
	}
	created = false; /* renamed: nothing to remove any more */
	rc = fsync_dir(dir);
	if (rc < 0)
		snprintf(note, notelen, "cannot sync the cache directory: %s", strerror(-rc));
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && created)
		unlink(tmp);
	free(bytes);
	return rc;
}
