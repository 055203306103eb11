/*
 * test_seal.c - sealing at rest: the key file and AES-256-GCM (storage/seal.c).
 *
 * The key file: every accepted form, every refusal with its line, and the
 * permission checks (mode, owner, symbolic link, not a regular file). The
 * cipher: round trips, every single-bit change of a sealed value and of its
 * additional data refused with -EBADMSG and the output wiped, unknown ids,
 * fresh nonces, and the newest key. That it really is AES-256-GCM with the
 * layout nonce . ciphertext . tag is shown by decrypting store_seal's output
 * with the test's own EVP routine, which is itself checked against published
 * GCM test vectors, and by opening a published vector with store_unseal.
 *
 * Then through a real store: values sealed on disk with nothing of the record
 * in clear, another key (or none) counted unknown_key, a flipped byte, an
 * edited header, a cleared "sealed" flag and swapped values (edited with
 * RocksDB's C API underneath the store) counted unseal_failed, and key
 * rotation. A refused value is never handed to a callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <openssl/evp.h>

#include "cunit_main.h"
#include "store_private.h"

static char tmp_dir[64];

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static const char key_a[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char key_b[] = "A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF";
static const char key_c[] = "5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f";

/* A path in the test's directory (static: one at a time is enough). */
static const char *
tmp_path(const char *name)
{
	static char path[128];

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
	return path;
}

/* Write @text to @name with @mode (whatever the umask). @return its path. */
static const char *
write_file(const char *name, const char *text, mode_t mode)
{
	const char *path = tmp_path(name);
	size_t len = strlen(text);
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, text, len) == (ssize_t)len);
	CU_ASSERT_FATAL(fchmod(fd, mode) == 0);
	close(fd);
	return path;
}

static void
hex_to_bytes(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		CU_ASSERT_FATAL(sscanf(hex + 2 * i, "%2x", &v) == 1);
		out[i] = (uint8_t)v;
	}
}

/* Load @text as a key file; it must load. */
static struct store_keys *
load_ok(const char *text)
{
	struct store_keys *k = NULL;
	char err[256] = "";
	const char *path = write_file("keys", text, 0600);
	int rc = store_keys_load(path, &k, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "\nunexpected: %s\n", err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	return k;
}

/* Load @path; it must fail with @want, and the message must contain @says. */
static void
expect_refused_path(const char *path, int want, const char *says)
{
	struct store_keys *k = (struct store_keys *)&k; /* anything but NULL */
	char err[256] = "";
	int rc = store_keys_load(path, &k, err, sizeof(err));

	if (rc != want || strstr(err, says) == NULL)
		fprintf(stderr, "\n%s: got %d \"%s\", wanted %d \"%s\"\n", path, rc, err, want,
			says);
	CU_ASSERT_EQUAL(rc, want);
	CU_ASSERT_PTR_NULL(k);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, says));
	/* The message names the file. */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
}

/* @text as a key file must fail with -EINVAL, "PATH:LINE: " followed by @says. */
static void
expect_bad_line(const char *text, unsigned line, const char *says)
{
	const char *path = write_file("keys", text, 0600);
	char want[256];

	snprintf(want, sizeof(want), "%s:%u: %s", path, line, says);
	expect_refused_path(path, -EINVAL, want);
}

/* ------------------------------------------------------------------------ */
/* The key file                                                              */
/* ------------------------------------------------------------------------ */

static void
test_keys_good(void)
{
	char text[1024];
	struct store_keys *k;
	uint8_t plain[4] = "abc", sealed[4 + STORE_SEAL_OVERHEAD], back[4];

	/* Comments, blank lines, tabs, CRLF, leading zeros, both hex cases. */
	snprintf(text, sizeof(text),
		 "# vigil sealing keys\n"
		 "\n"
		 "   \t\n"
		 "3 %s\n"
		 "\t0012\t%s   # rotated 2025-01\r\n"
		 "7 %s#no space before the comment\n"
		 "# 99 %s\n"
		 "65535 %s",
		 key_a, key_b, key_c, key_a, key_c);
	k = load_ok(text);
	CU_ASSERT_EQUAL(store_keys_newest(k), 65535);
	CU_ASSERT_TRUE(store_keys_has(k, 3));
	CU_ASSERT_TRUE(store_keys_has(k, 12));
	CU_ASSERT_TRUE(store_keys_has(k, 7));
	CU_ASSERT_TRUE(store_keys_has(k, 65535));
	CU_ASSERT_FALSE(store_keys_has(k, 0));
	CU_ASSERT_FALSE(store_keys_has(k, 99)); /* commented out */
	CU_ASSERT_FALSE(store_keys_has(k, 4));
	CU_ASSERT_FALSE(store_keys_has(NULL, 3));
	CU_ASSERT_EQUAL(store_keys_newest(NULL), 0);
	/* Every listed key works. */
	for (unsigned id = 1; id <= 65535; id++) {
		if (!store_keys_has(k, id))
			continue;
		CU_ASSERT_EQUAL(store_seal(k, id, NULL, 0, plain, 4, sealed), 0);
		CU_ASSERT_EQUAL(store_unseal(k, id, NULL, 0, sealed, sizeof(sealed), back), 0);
		CU_ASSERT_EQUAL(memcmp(back, plain, 4), 0);
	}
	store_keys_free(k);
	store_keys_free(NULL);

	/* Exactly STORE_MAX_KEYS keys. */
	{
		char big[STORE_MAX_KEYS * 80];
		size_t n = 0;

		for (unsigned i = 1; i <= STORE_MAX_KEYS; i++)
			n += (size_t)snprintf(big + n, sizeof(big) - n, "%u %s\n", 100 + i, key_a);
		k = load_ok(big);
		CU_ASSERT_EQUAL(store_keys_newest(k), 100 + STORE_MAX_KEYS);
		CU_ASSERT_TRUE(store_keys_has(k, 101));
		store_keys_free(k);
	}
}

static void
test_keys_bad_lines(void)
{
	char text[STORE_MAX_KEYS * 80 + 200];
	size_t n = 0;

	snprintf(text, sizeof(text), "# ok\n1 %s\n0 %s\n", key_a, key_b);
	expect_bad_line(text, 3, "key id '0' is not a number from 1 to 65535");
	snprintf(text, sizeof(text), "65536 %s\n", key_a);
	expect_bad_line(text, 1, "key id '65536' is not a number");
	snprintf(text, sizeof(text), "\n\n99999999999999999999999 %s\n", key_a);
	expect_bad_line(text, 3, "the line does not start with a key id from 1 to 65535 (ID HEX)");
	snprintf(text, sizeof(text), "999999 %s\n", key_a); /* as long as is quoted */
	expect_bad_line(text, 1, "key id '999999' is not a number");
	snprintf(text, sizeof(text), "1234567 %s\n", key_a);
	expect_bad_line(text, 1, "the line does not start with a key id");
	snprintf(text, sizeof(text), "-1 %s\n", key_a);
	expect_bad_line(text, 1, "key id '-1' is not a number");
	snprintf(text, sizeof(text), "1x %s\n", key_a);
	expect_bad_line(text, 1, "key id '1x' is not a number");
	snprintf(text, sizeof(text), "%s\n", key_a); /* the id forgotten */
	expect_bad_line(text, 1, "the line does not start with a key id");
	snprintf(text, sizeof(text), "1 %s\n2 %s\n# x\n1 %s\n", key_a, key_b, key_c);
	expect_bad_line(text, 4, "key id 1 is listed twice (first on line 1)");
	expect_bad_line("5\n", 1, "key id 5 has no key after it (64 hex digits)");
	expect_bad_line("5   # the key is on the next line\n", 1, "key id 5 has no key after it");
	snprintf(text, sizeof(text), "1 %.63s\n", key_a);
	expect_bad_line(text, 1, "key 1 is not 64 hex digits (32 bytes)");
	snprintf(text, sizeof(text), "1 %s0\n", key_a);
	expect_bad_line(text, 1, "key 1 is not 64 hex digits");
	snprintf(text, sizeof(text), "1 %.62sg0\n", key_a);
	expect_bad_line(text, 1, "key 1 is not 64 hex digits");
	snprintf(text, sizeof(text), "1 0x%.62s\n", key_a);
	expect_bad_line(text, 1, "key 1 is not 64 hex digits");
	snprintf(text, sizeof(text), "1 %s\n2 %s %s\n", key_a, key_b, key_c);
	expect_bad_line(text, 2, "extra text after key 2 (one key per line: ID HEX)");
	snprintf(text, sizeof(text), "1 %s x\n", key_a);
	expect_bad_line(text, 1, "extra text after key 1");
	/* A NUL byte is not a blank: it is part of the key's token. */
	snprintf(text, sizeof(text), "1 %s", key_a);
	{
		const char *path = tmp_path("keys");
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		char want[200];

		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT_FATAL(write(fd, text, strlen(text) + 1) == (ssize_t)strlen(text) + 1);
		close(fd);
		snprintf(want, sizeof(want), "%s:1: key 1 is not 64 hex digits", path);
		expect_refused_path(path, -EINVAL, want);
	}

	/* One key too many. */
	for (unsigned i = 1; i <= STORE_MAX_KEYS + 1; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%u %s\n", i, key_a);
	expect_bad_line(text, STORE_MAX_KEYS + 1, "more than 64 keys");

	/* No keys at all. */
	expect_refused_path(write_file("keys", "", 0600), -EINVAL, "has no keys");
	expect_refused_path(write_file("keys", "# nothing yet\n\n  \n", 0600), -EINVAL,
			    "has no keys");
}

/* A refusal never quotes key material, not even a broken key. */
static void
test_keys_errors_keep_secrets(void)
{
	static const char *const frames[] = {"1 %s\n1 %s\n", "1 %.63sz\n", "1 %s extra\n", "0 %s\n",
					     "%s\n",	     "%s %s\n",	   "%.8s\n"};
	char text[256], err[256];
	struct store_keys *k = NULL;

	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		snprintf(text, sizeof(text), frames[i], key_b, key_b);
		err[0] = '\0';
		CU_ASSERT_EQUAL(
			store_keys_load(write_file("keys", text, 0600), &k, err, sizeof(err)),
			-EINVAL);
		CU_ASSERT_PTR_NULL(k);
		CU_ASSERT_NOT_EQUAL(err[0], '\0');
		/* Not even 8 hex digits of it. */
		CU_ASSERT_PTR_NULL(strstr(err, "A0A1A2A3"));
		CU_ASSERT_PTR_NULL(strstr(err, "B8B9BABB"));
	}
}

static void
test_keys_permissions(void)
{
	static const struct {
		mode_t mode;
		const char *word;
	} refused[] = {
		{0644, "readable"},   {0640, "readable"},   {0604, "readable"},
		{0620, "accessible"}, {0602, "accessible"}, {0610, "accessible"},
		{0601, "accessible"}, {0666, "readable"},   {0444, "readable"},
	};
	static const mode_t accepted[] = {0600, 0400, 0700, 0200 | 0400};
	char text[128], want[256];
	const char *path;

	snprintf(text, sizeof(text), "1 %s\n", key_a);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		path = write_file("keys", text, refused[i].mode);
		snprintf(want, sizeof(want),
			 "key file %s is %s by others (mode %04o): chmod 600 %s", path,
			 refused[i].word, (unsigned)refused[i].mode, path);
		expect_refused_path(path, -EACCES, want);
	}
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		struct store_keys *k = NULL;

		path = write_file("keys", text, accepted[i]);
		CU_ASSERT_EQUAL(store_keys_load(path, &k, NULL, 0), 0);
		CU_ASSERT_EQUAL(store_keys_newest(k), 1);
		store_keys_free(k);
	}
	/* The exact message for the common mistake. */
	path = write_file("keys", text, 0644);
	{
		struct store_keys *k = NULL;
		char err[256];

		snprintf(want, sizeof(want),
			 "key file %s is readable by others (mode 0644): chmod 600 %s", path, path);
		CU_ASSERT_EQUAL(store_keys_load(path, &k, err, sizeof(err)), -EACCES);
		CU_ASSERT_STRING_EQUAL(err, want);
	}
}

static void
test_keys_not_a_file(void)
{
	char text[128], target[128];
	const char *path;

	snprintf(text, sizeof(text), "1 %s\n", key_a);
	/* A symbolic link to a good key file. */
	snprintf(target, sizeof(target), "%s", write_file("real-keys", text, 0600));
	path = tmp_path("link-keys");
	unlink(path);
	CU_ASSERT_FATAL(symlink(target, path) == 0);
	expect_refused_path(path, -EACCES, "is a symbolic link");
	unlink(path);
	/* A directory. */
	path = tmp_path("dir-keys");
	CU_ASSERT_FATAL(mkdir(path, 0700) == 0);
	expect_refused_path(path, -EACCES, "is not a regular file");
	rmdir(path);
	/* A FIFO: refused without waiting for a writer. */
	path = tmp_path("fifo-keys");
	CU_ASSERT_FATAL(mkfifo(path, 0600) == 0);
	expect_refused_path(path, -EACCES, "is not a regular file");
	unlink(path);
	/* A character device. */
	expect_refused_path("/dev/null", -EACCES, "is not a regular file");
	/* Missing. */
	expect_refused_path(tmp_path("no-such-keys"), -ENOENT, "No such file");
	/* Too large for a key file (comments). */
	{
		size_t len = 70 * 1024;
		char *big = malloc(len + 1);

		CU_ASSERT_FATAL(big != NULL);
		memset(big, '#', len);
		big[len] = '\0';
		expect_refused_path(write_file("keys", big, 0600), -EINVAL, "larger than");
		free(big);
	}
	/* No path. */
	{
		struct store_keys *k = NULL;
		char err[128] = "";

		CU_ASSERT_EQUAL(store_keys_load("", &k, err, sizeof(err)), -EINVAL);
		CU_ASSERT_PTR_NULL(k);
		CU_ASSERT_STRING_EQUAL(err, "no key file given");
	}
}

static void
test_keys_owner(void)
{
	char text[128], want[512], path[128];

	if (geteuid() != 0) {
		/* Only root can give a file away; there is nothing to test then. */
		fprintf(stderr, "\n(not root: the owner check is not exercised)\n");
		return;
	}
	snprintf(text, sizeof(text), "1 %s\n", key_a);
	snprintf(path, sizeof(path), "%s", write_file("keys", text, 0600));
	CU_ASSERT_FATAL(chown(path, 12345, (gid_t)-1) == 0);
	CU_ASSERT_FATAL(chmod(path, 0600) == 0); /* chown may clear bits; keep the mode good */
	snprintf(want, sizeof(want),
		 "key file %s is owned by uid 12345, not by this process's uid 0: chown 0 %s", path,
		 path);
	expect_refused_path(path, -EACCES, want);
	/* Given back, it loads. */
	CU_ASSERT_FATAL(chown(path, 0, (gid_t)-1) == 0);
	{
		struct store_keys *k = NULL;

		CU_ASSERT_EQUAL(store_keys_load(path, &k, NULL, 0), 0);
		store_keys_free(k);
	}
}

/* ------------------------------------------------------------------------ */
/* The cipher                                                                */
/* ------------------------------------------------------------------------ */

/*
 * The test's own AES-256-GCM (EVP, by the legacy EVP_aes_256_gcm() path, not
 * seal.c's fetched cipher). @enc: @in -> @out and @tag out; else @tag in.
 * @return true when it worked (decryption: the tag matched).
 */
static bool
ref_gcm(bool enc, const uint8_t key[32], const uint8_t *iv, size_t iv_len, const uint8_t *aad,
	size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;
	bool ok = false;

	if (ctx == NULL)
		return false;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)iv_len, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc) != 1)
		goto out;
	if (aad_len > 0 && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (len > 0 && (EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1 || n != (int)len))
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + len, &fin) != 1)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
		goto out;
	ok = true;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

/*
 * Published AES-256-GCM vectors (the GCM specification's test cases 13, 14
 * and 16, as in NIST's gcmEncryptExtIV256 set): key, IV, AAD, P, C, T.
 */
static const struct gcm_vector {
	const char *key, *iv, *aad, *pt, *ct, *tag;
} vectors[] = {
	{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"000000000000000000000000",
		"",
		"",
		"",
		"530f8afbc74536b9a963b4f1c4cb738b",
	},
	{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"000000000000000000000000",
		"",
		"00000000000000000000000000000000",
		"cea7403d4d606b6e074ec5d3baf39d18",
		"d0d1c8a799996bf0265b98b5d48ab919",
	},
	{
		"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		"cafebabefacedbaddecaf888",
		"feedfacedeadbeeffeedfacedeadbeefabaddad2",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
		"76fc6ece0f4e1768cddf8853bb2d551b",
	},
};

struct vector_bytes {
	uint8_t key[32], iv[12], aad[64], pt[64], ct[64], tag[16];
	size_t aad_len, len;
};

static void
vector_decode(const struct gcm_vector *v, struct vector_bytes *b)
{
	b->aad_len = strlen(v->aad) / 2;
	b->len = strlen(v->pt) / 2;
	CU_ASSERT_FATAL(strlen(v->ct) / 2 == b->len && b->len <= sizeof(b->pt));
	hex_to_bytes(v->key, b->key, 32);
	hex_to_bytes(v->iv, b->iv, 12);
	hex_to_bytes(v->aad, b->aad, b->aad_len);
	hex_to_bytes(v->pt, b->pt, b->len);
	hex_to_bytes(v->ct, b->ct, b->len);
	hex_to_bytes(v->tag, b->tag, 16);
}

/* The test's reference routine agrees with the published vectors, both ways. */
static void
test_reference_vectors(void)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct vector_bytes b;
		uint8_t out[80], tag[16];

		vector_decode(&vectors[i], &b);
		CU_ASSERT_TRUE(
			ref_gcm(true, b.key, b.iv, 12, b.aad, b.aad_len, b.pt, b.len, out, tag));
		CU_ASSERT_EQUAL(memcmp(out, b.ct, b.len), 0);
		CU_ASSERT_EQUAL(memcmp(tag, b.tag, 16), 0);
		CU_ASSERT_TRUE(
			ref_gcm(false, b.key, b.iv, 12, b.aad, b.aad_len, b.ct, b.len, out, b.tag));
		CU_ASSERT_EQUAL(memcmp(out, b.pt, b.len), 0);
		/* And it does refuse a wrong tag. */
		b.tag[15] ^= 1;
		CU_ASSERT_FALSE(
			ref_gcm(false, b.key, b.iv, 12, b.aad, b.aad_len, b.ct, b.len, out, b.tag));
	}
}

/* store_unseal opens a published vector laid out as nonce . ciphertext . tag. */
static void
test_unseal_vectors(void)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct vector_bytes b;
		struct store_keys *k;
		uint8_t in[12 + 64 + 16], out[64 + 1];
		char text[128];

		vector_decode(&vectors[i], &b);
		snprintf(text, sizeof(text), "42 %s\n", vectors[i].key);
		k = load_ok(text);
		memcpy(in, b.iv, 12);
		memcpy(in + 12, b.ct, b.len);
		memcpy(in + 12 + b.len, b.tag, 16);
		memset(out, 0xee, sizeof(out));
		CU_ASSERT_EQUAL(store_unseal(k, 42, b.aad, b.aad_len, in, b.len + 28, out), 0);
		CU_ASSERT_EQUAL(memcmp(out, b.pt, b.len), 0);
		CU_ASSERT_EQUAL(out[b.len], 0xee); /* nothing written past the record */
		store_keys_free(k);
	}
}

/* store_seal's output is AES-256-GCM: the reference routine opens it. */
static void
test_seal_is_aes_gcm(void)
{
	static const uint8_t aad[] = "\x00\x00\x00\x00\x00\x00\x00\x2a header....";
	static const size_t lens[] = {0, 1, 15, 16, 17, 20, 33, 1000};
	uint8_t key[32], plain[1000], sealed[1000 + STORE_SEAL_OVERHEAD], back[1000], tag[16];
	struct store_keys *k;
	char text[128];

	snprintf(text, sizeof(text), "9 %s\n", key_b);
	k = load_ok(text);
	hex_to_bytes(key_b, key, 32);
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i];

		memset(sealed, 0, sizeof(sealed));
		CU_ASSERT_EQUAL_FATAL(store_seal(k, 9, aad, sizeof(aad) - 1, plain, len, sealed),
				      0);
		memcpy(tag, sealed + 12 + len, 16);
		CU_ASSERT_TRUE(ref_gcm(false, key, sealed, 12, aad, sizeof(aad) - 1, sealed + 12,
				       len, back, tag));
		CU_ASSERT_EQUAL(memcmp(back, plain, len), 0);
		/* The ciphertext is not the plaintext (for any length worth checking). */
		if (len >= 16)
			CU_ASSERT_NOT_EQUAL(memcmp(sealed + 12, plain, len), 0);
	}
	store_keys_free(k);
}

static void
test_round_trip(void)
{
	static const size_t lens[] = {0, 1, 12, 16, 20, 31, 255, 4096, 65536};
	static const uint8_t aad[] = "alarms/00000001";
	size_t max = 65536;
	uint8_t *plain = malloc(max), *sealed = malloc(max + STORE_SEAL_OVERHEAD),
		*back = malloc(max + 1);
	struct store_keys *k;
	char text[256];

	CU_ASSERT_FATAL(plain != NULL && sealed != NULL && back != NULL);
	snprintf(text, sizeof(text), "1 %s\n2 %s\n", key_a, key_b);
	k = load_ok(text);
	for (size_t i = 0; i < max; i++)
		plain[i] = (uint8_t)(i ^ (i >> 8));
	for (unsigned id = 1; id <= 2; id++)
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			size_t len = lens[i];

			back[len] = 0x5a;
			CU_ASSERT_EQUAL(store_seal(k, id, aad, sizeof(aad), plain, len, sealed), 0);
			CU_ASSERT_EQUAL(store_unseal(k, id, aad, sizeof(aad), sealed,
						     len + STORE_SEAL_OVERHEAD, back),
					0);
			CU_ASSERT_EQUAL(memcmp(back, plain, len), 0);
			CU_ASSERT_EQUAL(back[len], 0x5a);
			/* No additional data at all is fine too. */
			CU_ASSERT_EQUAL(store_seal(k, id, NULL, 0, plain, len, sealed), 0);
			CU_ASSERT_EQUAL(store_unseal(k, id, NULL, 0, sealed,
						     len + STORE_SEAL_OVERHEAD, back),
					0);
			CU_ASSERT_EQUAL(memcmp(back, plain, len), 0);
		}
	/* An empty record with no buffers. */
	CU_ASSERT_EQUAL(store_seal(k, 1, aad, sizeof(aad), NULL, 0, sealed), 0);
	CU_ASSERT_EQUAL(store_unseal(k, 1, aad, sizeof(aad), sealed, STORE_SEAL_OVERHEAD, NULL), 0);
	/* ... still authenticated. */
	sealed[STORE_SEAL_OVERHEAD - 1] ^= 0x80;
	CU_ASSERT_EQUAL(store_unseal(k, 1, aad, sizeof(aad), sealed, STORE_SEAL_OVERHEAD, NULL),
			-EBADMSG);
	store_keys_free(k);
	free(plain);
	free(sealed);
	free(back);
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/*
 * Every single-bit change of the sealed value (nonce, ciphertext, tag) and
 * of the additional data fails, and leaves nothing of the record behind.
 */
static void
test_flipped_bits(void)
{
	enum { LEN = 40 };
	uint8_t aad[20], plain[LEN], sealed[LEN + STORE_SEAL_OVERHEAD], back[LEN];
	struct store_keys *k;
	char text[128];
	unsigned refused = 0, wiped = 0, tries = 0;

	snprintf(text, sizeof(text), "1 %s\n", key_c);
	k = load_ok(text);
	memset(plain, 'P', sizeof(plain));
	for (size_t i = 0; i < sizeof(aad); i++)
		aad[i] = (uint8_t)i;
	CU_ASSERT_EQUAL_FATAL(store_seal(k, 1, aad, sizeof(aad), plain, LEN, sealed), 0);
	for (size_t byte = 0; byte < sizeof(sealed); byte++)
		for (unsigned bit = 0; bit < 8; bit++) {
			sealed[byte] ^= (uint8_t)(1u << bit);
			memset(back, 0xcc, sizeof(back));
			tries++;
			if (store_unseal(k, 1, aad, sizeof(aad), sealed, sizeof(sealed), back) ==
			    -EBADMSG)
				refused++;
			if (all_zero(back, sizeof(back)))
				wiped++;
			sealed[byte] ^= (uint8_t)(1u << bit);
		}
	CU_ASSERT_EQUAL(refused, tries);
	CU_ASSERT_EQUAL(wiped, tries);
	CU_ASSERT_EQUAL(tries, 8 * (LEN + STORE_SEAL_OVERHEAD));
	/* The additional data, bit by bit. */
	refused = 0;
	for (size_t byte = 0; byte < sizeof(aad); byte++)
		for (unsigned bit = 0; bit < 8; bit++) {
			aad[byte] ^= (uint8_t)(1u << bit);
			memset(back, 0xcc, sizeof(back));
			if (store_unseal(k, 1, aad, sizeof(aad), sealed, sizeof(sealed), back) ==
				    -EBADMSG &&
			    all_zero(back, sizeof(back)))
				refused++;
			aad[byte] ^= (uint8_t)(1u << bit);
		}
	CU_ASSERT_EQUAL(refused, 8 * sizeof(aad));
	/* Shorter, longer or no additional data. */
	CU_ASSERT_EQUAL(store_unseal(k, 1, aad, sizeof(aad) - 1, sealed, sizeof(sealed), back),
			-EBADMSG);
	CU_ASSERT_EQUAL(store_unseal(k, 1, NULL, 0, sealed, sizeof(sealed), back), -EBADMSG);
	{
		uint8_t longer[sizeof(aad) + 1];

		memcpy(longer, aad, sizeof(aad));
		longer[sizeof(aad)] = 0;
		CU_ASSERT_EQUAL(
			store_unseal(k, 1, longer, sizeof(longer), sealed, sizeof(sealed), back),
			-EBADMSG);
	}
	/* Truncated or extended values. */
	CU_ASSERT_EQUAL(store_unseal(k, 1, aad, sizeof(aad), sealed, sizeof(sealed) - 1, back),
			-EBADMSG);
	CU_ASSERT_EQUAL(store_unseal(k, 1, aad, sizeof(aad), sealed, STORE_SEAL_OVERHEAD, back),
			-EBADMSG);
	CU_ASSERT_EQUAL(store_unseal(k, 1, aad, sizeof(aad), sealed, STORE_SEAL_OVERHEAD - 1, back),
			-EINVAL);
	CU_ASSERT_EQUAL(store_unseal(k, 1, aad, sizeof(aad), sealed, 0, back), -EINVAL);
	/* And the untouched value still opens. */
	CU_ASSERT_EQUAL(store_unseal(k, 1, aad, sizeof(aad), sealed, sizeof(sealed), back), 0);
	CU_ASSERT_EQUAL(memcmp(back, plain, LEN), 0);
	store_keys_free(k);
}

/* A value under another key id, or the right id with other key material. */
static void
test_wrong_key(void)
{
	uint8_t plain[32], sealed[32 + STORE_SEAL_OVERHEAD], back[32];
	struct store_keys *k1, *k2;
	char text[256];

	memset(plain, 'x', sizeof(plain));
	snprintf(text, sizeof(text), "1 %s\n2 %s\n", key_a, key_b);
	k1 = load_ok(text);
	snprintf(text, sizeof(text), "1 %s\n", key_c); /* id 1, other key */
	k2 = load_ok(text);
	CU_ASSERT_EQUAL_FATAL(store_seal(k1, 1, NULL, 0, plain, sizeof(plain), sealed), 0);
	memset(back, 0xcc, sizeof(back));
	CU_ASSERT_EQUAL(store_unseal(k2, 1, NULL, 0, sealed, sizeof(sealed), back), -EBADMSG);
	CU_ASSERT_TRUE(all_zero(back, sizeof(back)));
	memset(back, 0xcc, sizeof(back));
	CU_ASSERT_EQUAL(store_unseal(k1, 2, NULL, 0, sealed, sizeof(sealed), back), -EBADMSG);
	CU_ASSERT_TRUE(all_zero(back, sizeof(back)));
	CU_ASSERT_EQUAL(store_unseal(k1, 1, NULL, 0, sealed, sizeof(sealed), back), 0);
	CU_ASSERT_EQUAL(memcmp(back, plain, sizeof(plain)), 0);
	store_keys_free(k1);
	store_keys_free(k2);
}

/* A value moved to another RocksDB key: the additional data differs. */
static void
test_moved_value(void)
{
	uint8_t key_1[8] = {0, 0, 0, 0, 0, 0, 0, 1}, key_2[8] = {0, 0, 0, 0, 0, 0, 0, 2};
	uint8_t v1[8 + STORE_SEAL_OVERHEAD], v2[8 + STORE_SEAL_OVERHEAD], back[8];
	struct store_keys *k;
	char text[128];

	snprintf(text, sizeof(text), "1 %s\n", key_a);
	k = load_ok(text);
	CU_ASSERT_EQUAL(store_seal(k, 1, key_1, 8, (const uint8_t *)"alarm #1", 8, v1), 0);
	CU_ASSERT_EQUAL(store_seal(k, 1, key_2, 8, (const uint8_t *)"alarm #2", 8, v2), 0);
	/* Swapped. */
	CU_ASSERT_EQUAL(store_unseal(k, 1, key_1, 8, v2, sizeof(v2), back), -EBADMSG);
	CU_ASSERT_EQUAL(store_unseal(k, 1, key_2, 8, v1, sizeof(v1), back), -EBADMSG);
	/* In place. */
	CU_ASSERT_EQUAL(store_unseal(k, 1, key_1, 8, v1, sizeof(v1), back), 0);
	CU_ASSERT_EQUAL(memcmp(back, "alarm #1", 8), 0);
	CU_ASSERT_EQUAL(store_unseal(k, 1, key_2, 8, v2, sizeof(v2), back), 0);
	CU_ASSERT_EQUAL(memcmp(back, "alarm #2", 8), 0);
	store_keys_free(k);
}

static void
test_unknown_id(void)
{
	uint8_t plain[4] = "abc", sealed[4 + STORE_SEAL_OVERHEAD], back[4];
	struct store_keys *k;
	char text[128];

	snprintf(text, sizeof(text), "5 %s\n", key_a);
	k = load_ok(text);
	CU_ASSERT_EQUAL(store_seal(k, 6, NULL, 0, plain, 4, sealed), -ENOKEY);
	CU_ASSERT_EQUAL(store_seal(k, 0, NULL, 0, plain, 4, sealed), -ENOKEY);
	CU_ASSERT_EQUAL(store_seal(NULL, 5, NULL, 0, plain, 4, sealed), -ENOKEY);
	CU_ASSERT_EQUAL_FATAL(store_seal(k, 5, NULL, 0, plain, 4, sealed), 0);
	CU_ASSERT_EQUAL(store_unseal(k, 6, NULL, 0, sealed, sizeof(sealed), back), -ENOKEY);
	CU_ASSERT_EQUAL(store_unseal(k, 0, NULL, 0, sealed, sizeof(sealed), back), -ENOKEY);
	CU_ASSERT_EQUAL(store_unseal(NULL, 5, NULL, 0, sealed, sizeof(sealed), back), -ENOKEY);
	CU_ASSERT_EQUAL(store_unseal(k, 5, NULL, 0, sealed, sizeof(sealed), back), 0);
	store_keys_free(k);
}

/* Two seals of the same record under the same key and data: fresh nonces. */
static void
test_fresh_nonces(void)
{
	enum { N = 64 };
	uint8_t sealed[N][16 + STORE_SEAL_OVERHEAD];
	uint8_t plain[16] = "same every time";
	struct store_keys *k;
	char text[128];
	unsigned same_nonce = 0, same_ct = 0;

	snprintf(text, sizeof(text), "1 %s\n", key_a);
	k = load_ok(text);
	for (unsigned i = 0; i < N; i++)
		CU_ASSERT_EQUAL(store_seal(k, 1, NULL, 0, plain, 16, sealed[i]), 0);
	for (unsigned i = 0; i < N; i++)
		for (unsigned j = i + 1; j < N; j++) {
			if (memcmp(sealed[i], sealed[j], STORE_SEAL_NONCE) == 0)
				same_nonce++;
			if (memcmp(sealed[i] + STORE_SEAL_NONCE, sealed[j] + STORE_SEAL_NONCE,
				   16 + STORE_SEAL_TAG) == 0)
				same_ct++;
		}
	CU_ASSERT_EQUAL(same_nonce, 0);
	CU_ASSERT_EQUAL(same_ct, 0);
	store_keys_free(k);
}

/* New values go under the highest id, wherever it is in the file. */
static void
test_newest(void)
{
	char text[512];
	struct store_keys *k;

	snprintf(text, sizeof(text), "3 %s\n10 %s\n2 %s\n", key_a, key_b, key_c);
	k = load_ok(text);
	CU_ASSERT_EQUAL(store_keys_newest(k), 10);
	store_keys_free(k);
	snprintf(text, sizeof(text), "1 %s\n", key_a);
	k = load_ok(text);
	CU_ASSERT_EQUAL(store_keys_newest(k), 1);
	store_keys_free(k);
	snprintf(text, sizeof(text), "700 %s\n699 %s\n", key_a, key_b);
	k = load_ok(text);
	CU_ASSERT_EQUAL(store_keys_newest(k), 700);
	store_keys_free(k);
}

/* ------------------------------------------------------------------------ */
/* Through the store (value.c, write.c, query.c)                             */
/* ------------------------------------------------------------------------ */

#define SECRET "patient-4711"
#define N_ALARMS 3
#define N_OBS 10
#define DEVICE 0x42
#define T0 1700000000000000000LL

/* A key file @name with key @id1 and, unless @id2 is 0, key @id2. @return its path (a copy). */
static char *
key_file(const char *name, unsigned id1, const char *hex1, unsigned id2, const char *hex2)
{
	char lines[256];
	char *path;

	snprintf(lines, sizeof(lines), "%u %s\n", id1, hex1);
	if (id2 != 0)
		snprintf(lines + strlen(lines), sizeof(lines) - strlen(lines), "%u %s\n", id2,
			 hex2);
	path = strdup(write_file(name, lines, 0600));

	CU_ASSERT_FATAL(path != NULL);
	return path;
}

/* Open @dir with @keys (NULL: no key file); retention off so nothing expires. */
static struct store *
open_store(const char *dir, const char *keys)
{
	struct store_opts o;
	struct store *s = NULL;
	char err[512] = "";
	int rc;

	store_opts_defaults(&o);
	o.dir = dir;
	o.key_file = keys;
	o.block_cache_mb = 8;
	o.write_buffer_mb = 4;
	o.compression = STORE_COMPRESS_NONE;
	for (unsigned i = 0; i < STORE_CF__COUNT; i++)
		o.retain_s[i] = 0;
	rc = store_open(&o, &s, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "\nstore_open %s: %d %s\n", dir, rc, err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	return s;
}

static uint64_t
counter(struct store *s, enum store_counter c)
{
	uint64_t cnt[STORE_CNT__COUNT];

	store_counters(s, cnt);
	return cnt[c];
}

static void
alarm_json(uint64_t id, char *buf, size_t room)
{
	snprintf(buf, room, "{\"id\":%llu,\"who\":\"" SECRET "\"}", (unsigned long long)id);
}

/* Alarms 1..N_ALARMS and N_OBS observations of DEVICE, sealed with @keys. */
static void
fill_store(const char *dir, const char *keys)
{
	struct store *s = open_store(dir, keys);
	enum store_durability got;
	char json[128];

	for (uint64_t id = 1; id <= N_ALARMS; id++) {
		alarm_json(id, json, sizeof(json));
		CU_ASSERT_EQUAL(store_alarm_put(s, id, T0 + (int64_t)id, json, strlen(json), &got),
				0);
	}
	for (uint32_t i = 0; i < N_OBS; i++) {
		struct store_obs o = {.device = DEVICE,
				      .time_ns = T0 + i * 1000,
				      .seq = i,
				      .code = 150456,
				      .unit = 264864,
				      .value = 97.0 + i};

		CU_ASSERT_EQUAL(store_obs_add(s, &o, &got), 0);
	}
	CU_ASSERT_EQUAL(store_flush(s), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_sealed), N_ALARMS + N_OBS);
	store_close(s);
}

struct seen {
	unsigned alarms, obs;
	bool bad; /* a record that is not what was written */
};

static int
on_alarm(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	struct seen *seen = arg;
	char want[128];

	alarm_json(id, want, sizeof(want));
	if (time_ns != T0 + (int64_t)id || len != strlen(want) || memcmp(json, want, len) != 0)
		seen->bad = true;
	seen->alarms++;
	return 0;
}

static int
on_obs(void *arg, const struct store_obs *o)
{
	struct seen *seen = arg;

	if (o->device != DEVICE || o->time_ns != T0 + o->seq * 1000 || o->code != 150456 ||
	    o->value != 97.0 + o->seq)
		seen->bad = true;
	seen->obs++;
	return 0;
}

/* Everything that reads back from @s. */
static struct seen
read_all(struct store *s)
{
	struct seen seen = {0};

	CU_ASSERT_EQUAL(store_query_alarms(s, INT64_MIN, INT64_MAX, on_alarm, &seen), 0);
	CU_ASSERT_EQUAL(store_query_obs(s, DEVICE, INT64_MIN, INT64_MAX, on_obs, &seen), 0);
	CU_ASSERT_FALSE(seen.bad);
	return seen;
}

/* ---- RocksDB underneath the store ---------------------------------------- */

struct raw {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_column_family_handle_t *cf[8];
	char **names;
	size_t n;
	rocksdb_readoptions_t *ro;
	rocksdb_writeoptions_t *wo;
};

static void
raw_open(struct raw *r, const char *dir)
{
	const rocksdb_options_t *cf_opts[8];
	char *err = NULL;

	memset(r, 0, sizeof(*r));
	r->opts = rocksdb_options_create();
	r->names = rocksdb_list_column_families(r->opts, dir, &r->n, &err);
	CU_ASSERT_PTR_NULL_FATAL(err);
	CU_ASSERT_FATAL(r->n <= 8);
	for (size_t i = 0; i < r->n; i++)
		cf_opts[i] = r->opts;
	r->db = rocksdb_open_column_families(r->opts, dir, (int)r->n, (const char *const *)r->names,
					     cf_opts, r->cf, &err);
	if (err != NULL)
		fprintf(stderr, "\nraw open %s: %s\n", dir, err);
	CU_ASSERT_PTR_NULL_FATAL(err);
	r->ro = rocksdb_readoptions_create();
	r->wo = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(r->wo, 1);
}

static rocksdb_column_family_handle_t *
raw_cf(struct raw *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->names[i], name) == 0)
			return r->cf[i];
	CU_FAIL_FATAL("column family missing");
	return NULL;
}

static void
raw_close(struct raw *r)
{
	for (size_t i = 0; i < r->n; i++)
		rocksdb_column_family_handle_destroy(r->cf[i]);
	rocksdb_close(r->db);
	rocksdb_list_column_families_destroy(r->names, r->n);
	rocksdb_options_destroy(r->opts);
	rocksdb_readoptions_destroy(r->ro);
	rocksdb_writeoptions_destroy(r->wo);
}

/* The stored value of alarm @id (malloc'd, rocksdb_free it). */
static uint8_t *
raw_alarm(struct raw *r, uint64_t id, size_t *len)
{
	uint8_t k[STORE_KEY_ID];
	char *err = NULL, *v;

	store_key_id(k, id);
	v = rocksdb_get_cf(r->db, r->ro, raw_cf(r, "alarms"), (const char *)k, sizeof(k), len,
			   &err);
	CU_ASSERT_PTR_NULL_FATAL(err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	return (uint8_t *)v;
}

static void
raw_put_alarm(struct raw *r, uint64_t id, const uint8_t *v, size_t len)
{
	uint8_t k[STORE_KEY_ID];
	char *err = NULL;

	store_key_id(k, id);
	rocksdb_put_cf(r->db, r->wo, raw_cf(r, "alarms"), (const char *)k, sizeof(k),
		       (const char *)v, len, &err);
	CU_ASSERT_PTR_NULL_FATAL(err);
}

/* Apply @edit to the value of alarm @id. */
static void
raw_edit_alarm(const char *dir, uint64_t id, void (*edit)(uint8_t *v, size_t len))
{
	struct raw r;
	size_t len;
	uint8_t *v;

	raw_open(&r, dir);
	v = raw_alarm(&r, id, &len);
	edit(v, len);
	raw_put_alarm(&r, id, v, len);
	rocksdb_free(v);
	raw_close(&r);
}

static bool
holds(const uint8_t *v, size_t len, const char *text)
{
	return memmem(v, len, text, strlen(text)) != NULL;
}

/* ---- The tests ------------------------------------------------------------ */

/*
 * The store's nonces: one salt per open, a counter that goes up by one per
 * sealed value, and a reopen that goes on past the block reserved before
 * (never back to a counter already handed out, whatever the salt).
 */
static void
test_store_nonce_counter(void)
{
	char *k1 = key_file("k-nonce", 1, key_a, 0, NULL);
	uint8_t first[N_ALARMS + 1][STORE_SEAL_NONCE], again[STORE_SEAL_NONCE];
	enum store_durability got;
	struct store *s;
	struct raw r;
	char dir[160], json[128];
	uint8_t *v;
	size_t len;

	snprintf(dir, sizeof(dir), "%s", tmp_path("db-nonce"));
	fill_store(dir, k1);
	raw_open(&r, dir);
	for (uint64_t id = 1; id <= N_ALARMS; id++) {
		v = raw_alarm(&r, id, &len);
		CU_ASSERT_FATAL(len >= STORE_VALUE_HDR + STORE_SEAL_OVERHEAD);
		memcpy(first[id], v + STORE_VALUE_HDR, STORE_SEAL_NONCE);
		rocksdb_free(v);
	}
	raw_close(&r);
	for (uint64_t id = 2; id <= N_ALARMS; id++) {
		CU_ASSERT_EQUAL(memcmp(first[id], first[1], 4), 0); /* one salt per open */
		CU_ASSERT_EQUAL(store_rd64(first[id] + 4), store_rd64(first[id - 1] + 4) + 1);
	}

	/* Reopened: the counter starts at the block reserved last time. */
	s = open_store(dir, k1);
	alarm_json(N_ALARMS + 1, json, sizeof(json));
	CU_ASSERT_EQUAL(
		store_alarm_put(s, N_ALARMS + 1, T0 + N_ALARMS + 1, json, strlen(json), &got), 0);
	store_close(s);
	raw_open(&r, dir);
	v = raw_alarm(&r, N_ALARMS + 1, &len);
	memcpy(again, v + STORE_VALUE_HDR, STORE_SEAL_NONCE);
	rocksdb_free(v);
	raw_close(&r);
	CU_ASSERT_TRUE(store_rd64(again + 4) >= store_rd64(first[1] + 4) + STORE_NONCE_BLOCK);
	s = open_store(dir, k1);
	CU_ASSERT_EQUAL(read_all(s).alarms, N_ALARMS + 1);
	store_close(s);
	free(k1);
}

/* On disk: every value sealed under key 1, nothing of the record in clear. */
static void
test_store_sealed_on_disk(void)
{
	char *keys = key_file("k1", 1, key_a, 0, NULL);
	char dir[160];
	struct raw r;
	struct store *s;
	struct seen seen;
	rocksdb_iterator_t *it;
	unsigned n_obs = 0;
	char json[128];

	snprintf(dir, sizeof(dir), "%s", tmp_path("db-disk"));
	fill_store(dir, keys);
	raw_open(&r, dir);
	for (uint64_t id = 1; id <= N_ALARMS; id++) {
		size_t len;
		uint8_t *v = raw_alarm(&r, id, &len);

		alarm_json(id, json, sizeof(json));
		CU_ASSERT_EQUAL(len, STORE_VALUE_HDR + strlen(json) + STORE_SEAL_OVERHEAD);
		CU_ASSERT_EQUAL(v[0], STORE_VALUE_FORMAT);
		CU_ASSERT_EQUAL(v[1], STORE_VALUE_SEALED);
		CU_ASSERT_EQUAL(store_rd16(v + 2), 1);
		CU_ASSERT_FALSE(holds(v, len, SECRET));
		CU_ASSERT_FALSE(holds(v, len, "\"id\""));
		rocksdb_free(v);
	}
	it = rocksdb_create_iterator_cf(r.db, r.ro, raw_cf(&r, "obs"));
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t len;
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &len);

		CU_ASSERT_EQUAL(len, STORE_VALUE_HDR + STORE_OBS_REC + STORE_SEAL_OVERHEAD);
		CU_ASSERT_EQUAL(v[1], STORE_VALUE_SEALED);
		CU_ASSERT_EQUAL(store_rd16(v + 2), 1);
		n_obs++;
	}
	rocksdb_iter_destroy(it);
	raw_close(&r);
	CU_ASSERT_EQUAL(n_obs, N_OBS);

	/* The right key reads everything back. */
	s = open_store(dir, keys);
	CU_ASSERT_EQUAL(store_seal_key_id(s), 1);
	seen = read_all(s);
	CU_ASSERT_EQUAL(seen.alarms, N_ALARMS);
	CU_ASSERT_EQUAL(seen.obs, N_OBS);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unseal_failed), 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unknown_key), 0);
	store_close(s);
	free(keys);
}

/* Reopened with only another key, or none: nothing returned, all counted unknown_key. */
static void
test_store_other_key(void)
{
	char *k1 = key_file("k1", 1, key_a, 0, NULL);
	char *k2 = key_file("k2", 2, key_b, 0, NULL);
	char dir[160];
	const char *files[] = {k2, NULL};
	struct store *s;
	struct seen seen;

	snprintf(dir, sizeof(dir), "%s", tmp_path("db-other"));
	fill_store(dir, k1);
	for (size_t i = 0; i < 2; i++) {
		s = open_store(dir, files[i]);
		seen = read_all(s);
		CU_ASSERT_EQUAL(seen.alarms, 0);
		CU_ASSERT_EQUAL(seen.obs, 0);
		CU_ASSERT_EQUAL(counter(s, STORE_CNT_unknown_key), N_ALARMS + N_OBS);
		memset(&seen, 0, sizeof(seen));
		CU_ASSERT_EQUAL(store_alarm_get(s, 1, on_alarm, &seen), -ENOKEY);
		CU_ASSERT_EQUAL(seen.alarms, 0);
		CU_ASSERT_EQUAL(counter(s, STORE_CNT_unknown_key), N_ALARMS + N_OBS + 1);
		CU_ASSERT_EQUAL(counter(s, STORE_CNT_unseal_failed), 0);
		store_close(s);
	}
	/* Same id, other key material: that is a failed authentication, not an unknown key. */
	free(k2);
	k2 = key_file("k2", 1, key_b, 0, NULL);
	s = open_store(dir, k2);
	seen = read_all(s);
	CU_ASSERT_EQUAL(seen.alarms + seen.obs, 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unseal_failed), N_ALARMS + N_OBS);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unknown_key), 0);
	store_close(s);
	free(k1);
	free(k2);
}

static void
flip_ciphertext(uint8_t *v, size_t len)
{
	(void)len;
	v[STORE_VALUE_HDR + STORE_SEAL_NONCE + 3] ^= 0x10;
}

static void
flip_tag(uint8_t *v, size_t len)
{
	v[len - 1] ^= 0x01;
}

static void
flip_nonce(uint8_t *v, size_t len)
{
	(void)len;
	v[STORE_VALUE_HDR] ^= 0x80;
}

static void
edit_time(uint8_t *v, size_t len)
{
	(void)len;
	v[11] ^= 0x01; /* the record time's last byte: clear, but authenticated */
}

static void
clear_sealed_flag(uint8_t *v, size_t len)
{
	(void)len;
	v[1] &= (uint8_t)~STORE_VALUE_SEALED;
	v[2] = v[3] = 0; /* a well-formed plain header */
}

/* Tampered values: each is counted unseal_failed and never returned. */
static void
test_store_tampered(void)
{
	static void (*const edits[])(uint8_t *, size_t) = {
		flip_ciphertext, flip_tag, flip_nonce, edit_time, clear_sealed_flag,
	};
	char *keys = key_file("k1", 1, key_a, 0, NULL);
	struct store *s;
	struct seen seen;
	char dir[160];

	for (size_t e = 0; e < sizeof(edits) / sizeof(edits[0]); e++) {
		snprintf(dir, sizeof(dir), "%s", tmp_path("db-tamper"));
		snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "-%zu", e);
		fill_store(dir, keys);
		raw_edit_alarm(dir, 2, edits[e]);
		s = open_store(dir, keys);
		memset(&seen, 0, sizeof(seen));
		CU_ASSERT_EQUAL(store_alarm_get(s, 2, on_alarm, &seen), -EBADMSG);
		CU_ASSERT_EQUAL(seen.alarms, 0);
		CU_ASSERT_EQUAL(counter(s, STORE_CNT_unseal_failed), 1);
		/* The others still read; the bad one is skipped and counted again. */
		seen = read_all(s);
		CU_ASSERT_EQUAL(seen.alarms, N_ALARMS - 1);
		CU_ASSERT_EQUAL(seen.obs, N_OBS);
		CU_ASSERT_EQUAL(counter(s, STORE_CNT_unseal_failed), 2);
		CU_ASSERT_EQUAL(counter(s, STORE_CNT_unknown_key), 0);
		store_close(s);
	}
	free(keys);
}

/* Alarms 1 and 2 swapped on disk; an observation's value copied onto another's key. */
static void
test_store_swapped(void)
{
	char *keys = key_file("k1", 1, key_a, 0, NULL);
	char dir[160];
	rocksdb_iterator_t *it;
	struct store *s;
	struct seen seen;
	struct raw r;
	uint8_t *v1, *v2, obs_key[STORE_KEY_OBS], obs_val[128];
	const char *rk, *rv;
	size_t l1, l2, klen, vlen;
	char *err = NULL;

	snprintf(dir, sizeof(dir), "%s", tmp_path("db-swap"));
	fill_store(dir, keys);
	raw_open(&r, dir);
	v1 = raw_alarm(&r, 1, &l1);
	v2 = raw_alarm(&r, 2, &l2);
	CU_ASSERT_EQUAL_FATAL(l1, l2); /* same length: only the binding can tell them apart */
	raw_put_alarm(&r, 1, v2, l2);
	raw_put_alarm(&r, 2, v1, l1);
	rocksdb_free(v1);
	rocksdb_free(v2);
	/* The first observation's value over the second's. */
	it = rocksdb_create_iterator_cf(r.db, r.ro, raw_cf(&r, "obs"));
	rocksdb_iter_seek_to_first(it);
	CU_ASSERT_FATAL(rocksdb_iter_valid(it));
	rv = rocksdb_iter_value(it, &vlen);
	CU_ASSERT_FATAL(vlen <= sizeof(obs_val));
	memcpy(obs_val, rv, vlen);
	rocksdb_iter_next(it);
	CU_ASSERT_FATAL(rocksdb_iter_valid(it));
	rk = rocksdb_iter_key(it, &klen);
	CU_ASSERT_EQUAL_FATAL(klen, STORE_KEY_OBS);
	memcpy(obs_key, rk, sizeof(obs_key));
	rocksdb_iter_destroy(it);
	rocksdb_put_cf(r.db, r.wo, raw_cf(&r, "obs"), (const char *)obs_key, klen,
		       (const char *)obs_val, vlen, &err);
	CU_ASSERT_PTR_NULL_FATAL(err);
	raw_close(&r);

	s = open_store(dir, keys);
	seen = read_all(s);
	CU_ASSERT_EQUAL(seen.alarms, N_ALARMS - 2);
	CU_ASSERT_EQUAL(seen.obs, N_OBS - 1);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unseal_failed), 3);
	store_close(s);
	free(keys);
}

/* A second key added: new values go under it, old ones still open, then the old key retired. */
static void
test_store_rotation(void)
{
	char *k1 = key_file("k1", 1, key_a, 0, NULL);
	char *k12 = key_file("k12", 1, key_a, 2, key_b);
	char *k2 = key_file("k2", 2, key_b, 0, NULL);
	char dir[160];
	enum store_durability got;
	struct store *s;
	struct seen seen;
	struct raw r;
	char json[128];
	uint8_t *v;
	size_t len;

	snprintf(dir, sizeof(dir), "%s", tmp_path("db-rotate"));
	fill_store(dir, k1);
	s = open_store(dir, k12);
	CU_ASSERT_EQUAL(store_seal_key_id(s), 2);
	alarm_json(N_ALARMS + 1, json, sizeof(json));
	CU_ASSERT_EQUAL(
		store_alarm_put(s, N_ALARMS + 1, T0 + N_ALARMS + 1, json, strlen(json), &got), 0);
	seen = read_all(s);
	CU_ASSERT_EQUAL(seen.alarms, N_ALARMS + 1);
	CU_ASSERT_EQUAL(seen.obs, N_OBS);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unseal_failed) + counter(s, STORE_CNT_unknown_key), 0);
	store_close(s);

	raw_open(&r, dir);
	v = raw_alarm(&r, 1, &len);
	CU_ASSERT_EQUAL(store_rd16(v + 2), 1);
	rocksdb_free(v);
	v = raw_alarm(&r, N_ALARMS + 1, &len);
	CU_ASSERT_EQUAL(store_rd16(v + 2), 2);
	rocksdb_free(v);
	raw_close(&r);

	/* Key 1 retired: only the value sealed with key 2 still opens. */
	s = open_store(dir, k2);
	seen = read_all(s);
	CU_ASSERT_EQUAL(seen.alarms, 1);
	CU_ASSERT_EQUAL(seen.obs, 0);
	CU_ASSERT_EQUAL(counter(s, STORE_CNT_unknown_key), N_ALARMS + N_OBS);
	store_close(s);
	free(k1);
	free(k12);
	free(k2);
}

/* ------------------------------------------------------------------------ */
/* Registration                                                              */
/* ------------------------------------------------------------------------ */

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
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/vigil-test-seal-XXXXXX");
	return mkdtemp(tmp_dir) != NULL ? 0 : -1;
}

static int
suite_cleanup(void)
{
	return nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"key file: accepted forms", test_keys_good},
		{"key file: each bad line", test_keys_bad_lines},
		{"key file: errors never quote a key", test_keys_errors_keep_secrets},
		{"key file: permissions", test_keys_permissions},
		{"key file: not a regular file", test_keys_not_a_file},
		{"key file: owner", test_keys_owner},
		{"reference GCM against published vectors", test_reference_vectors},
		{"store_unseal opens published vectors", test_unseal_vectors},
		{"store_seal is AES-256-GCM, nonce.ct.tag", test_seal_is_aes_gcm},
		{"round trip", test_round_trip},
		{"every flipped bit refused and wiped", test_flipped_bits},
		{"wrong key", test_wrong_key},
		{"value moved to another key", test_moved_value},
		{"unknown key id", test_unknown_id},
		{"fresh nonces", test_fresh_nonces},
		{"newest key", test_newest},
		{"store: sealed on disk", test_store_sealed_on_disk},
		{"store: another key or none", test_store_other_key},
		{"store: tampered values", test_store_tampered},
		{"store: swapped values", test_store_swapped},
		{"store: key rotation", test_store_rotation},
		{"store: nonces are a counter, never reused", test_store_nonce_counter},
	};
	CU_pSuite suite = CU_add_suite("seal", suite_init, suite_cleanup);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
