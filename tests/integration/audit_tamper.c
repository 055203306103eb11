/*
 * audit_tamper.c - vigil-audit-tamper: break the audit chain of a stopped
 * vigild's database on purpose, for the tests.
 *
 *   vigil-audit-tamper DBDIR modify SEQ [--key-file F]
 *   vigil-audit-tamper DBDIR remove SEQ [--key-file F]
 *   vigil-audit-tamper DBDIR swap SEQ1 SEQ2 [--key-file F]
 *
 * It works underneath the store, with RocksDB's own handle (the storage
 * library's private header), as someone with the disk in hand would:
 *
 *   modify  record SEQ's "result" becomes "denied" ("ok" when it was
 *           "denied"; "command" when it has no "result"): still valid JSON
 *           and a valid value, re-sealed when the store is sealed, so the
 *           store reads it and only the chain can tell
 *   remove  record SEQ is deleted
 *   swap    records SEQ1 and SEQ2 change places, each re-encoded (and
 *           re-sealed) under the other's key
 *
 * --key-file is the store's sealing key file (storage.key_file), needed
 * to read and rewrite a sealed store's records; it is not the audit key.
 * It says what it did on stdout. Exit status: 0 done, 1 failed (one line
 * on stderr), 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_private.h"

#define PROG "vigil-audit-tamper"

static int
usage(void)
{
	fprintf(stderr, "usage: " PROG " DBDIR modify SEQ | remove SEQ | swap SEQ1 SEQ2 "
			"[--key-file F]\n");
	return 2;
}

static bool
parse_seq(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v == UINT64_MAX)
		return false;
	*out = v;
	return true;
}

/* A record's text and time. */
struct rec {
	char *text;
	size_t len;
	int64_t time_ns;
};

/* Read and open record @seq. @return 0, -ENOENT, or an error (said). */
static int
rec_read(struct store *s, uint64_t seq, struct rec *r)
{
	uint8_t k[STORE_KEY_ID];
	char *rerr = NULL, *v;
	size_t vlen = 0;
	int n;

	store_key_id(k, seq);
	v = rocksdb_get_cf(s->db, s->ro, s->cf[STORE_CF_AUDIT], (const char *)k, sizeof(k), &vlen,
			   &rerr);
	if (rerr != NULL) {
		fprintf(stderr, PROG ": record %" PRIu64 ": %s\n", seq, rerr);
		rocksdb_free(rerr);
		return -EIO;
	}
	if (v == NULL) {
		fprintf(stderr, PROG ": there is no audit record %" PRIu64 "\n", seq);
		return -ENOENT;
	}
	r->text = malloc(vlen + 1);
	if (r->text == NULL) {
		rocksdb_free(v);
		fprintf(stderr, PROG ": out of memory\n");
		return -ENOMEM;
	}
	n = store_value_open(s, k, sizeof(k), (const uint8_t *)v, vlen, &r->time_ns, r->text, vlen);
	rocksdb_free(v);
	if (n < 0) {
		fprintf(stderr, PROG ": audit record %" PRIu64 " cannot be opened (%s)%s\n", seq,
			strerror(-n),
			n == -ENOKEY || n == -EBADMSG ? ": is the store sealed? give --key-file"
						      : "");
		free(r->text);
		r->text = NULL;
		return n;
	}
	r->text[n] = '\0';
	r->len = (size_t)n;
	return 0;
}

/* Store @r under @seq as the store would (sealed when it is), synced. */
static int
rec_write(struct store *s, uint64_t seq, const struct rec *r)
{
	size_t room = STORE_VALUE_HDR + r->len + STORE_SEAL_OVERHEAD;
	uint8_t k[STORE_KEY_ID], *val = malloc(room);
	char *rerr = NULL;
	int n;

	if (val == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return -ENOMEM;
	}
	store_key_id(k, seq);
	n = store_value_make(s, k, sizeof(k), r->time_ns, r->text, r->len, val, room);
	if (n < 0) {
		fprintf(stderr, PROG ": record %" PRIu64 " cannot be encoded: %s\n", seq,
			strerror(-n));
		free(val);
		return n;
	}
	rocksdb_put_cf(s->db, s->wo_sync, s->cf[STORE_CF_AUDIT], (const char *)k, sizeof(k),
		       (const char *)val, (size_t)n, &rerr);
	free(val);
	if (rerr != NULL) {
		fprintf(stderr, PROG ": record %" PRIu64 " cannot be written: %s\n", seq, rerr);
		rocksdb_free(rerr);
		return -EIO;
	}
	return 0;
}

/*
 * Replace the value of the first of @field's occurrences as "field":"..."
 * in @r's text (the canonical compact JSON the chain writes).
 */
static bool
replace_string(struct rec *r, const char *field, char *old, size_t old_room,
	       const char *(*pick)(const char *))
{
	char pat[64], *at, *start, *end, *text;
	const char *new_val;
	size_t len;

	snprintf(pat, sizeof(pat), "\"%s\":\"", field);
	at = strstr(r->text, pat);
	if (at == NULL)
		return false;
	start = at + strlen(pat);
	for (end = start; *end != '\0' && *end != '"'; end++)
		if (*end == '\\' && end[1] != '\0')
			end++;
	if (*end != '"')
		return false;
	len = (size_t)(end - start);
	snprintf(old, old_room, "%.*s", (int)len, start);
	new_val = pick(old);
	text = malloc(r->len - len + strlen(new_val) + 1);
	if (text == NULL)
		return false;
	memcpy(text, r->text, (size_t)(start - r->text));
	strcpy(text + (start - r->text), new_val);
	strcat(text, end);
	free(r->text);
	r->text = text;
	r->len = strlen(text);
	return true;
}

static const char *
pick_result(const char *old)
{
	return strcmp(old, "denied") == 0 ? "ok" : "denied";
}

static const char *
pick_command(const char *old)
{
	return strcmp(old, "shutdown") == 0 ? "version" : "shutdown";
}

static int
do_modify(struct store *s, uint64_t seq)
{
	struct rec r = {0};
	char old[256];
	const char *field = "result";
	int rc = rec_read(s, seq, &r);

	if (rc < 0)
		return rc;
	if (!replace_string(&r, field, old, sizeof(old), pick_result)) {
		field = "command";
		if (!replace_string(&r, field, old, sizeof(old), pick_command)) {
			fprintf(stderr,
				PROG ": audit record %" PRIu64
				     " has neither a \"result\" nor a \"command\" string\n",
				seq);
			free(r.text);
			return -EINVAL;
		}
	}
	rc = rec_write(s, seq, &r);
	if (rc == 0)
		printf("modified audit record %" PRIu64 ": %s \"%s\" -> \"%s\"%s\n", seq, field,
		       old, strcmp(field, "result") == 0 ? pick_result(old) : pick_command(old),
		       s->keys != NULL ? " (re-sealed)" : "");
	free(r.text);
	return rc;
}

static int
do_remove(struct store *s, uint64_t seq)
{
	uint8_t k[STORE_KEY_ID];
	char *rerr = NULL, *v;
	size_t vlen = 0;

	store_key_id(k, seq);
	v = rocksdb_get_cf(s->db, s->ro, s->cf[STORE_CF_AUDIT], (const char *)k, sizeof(k), &vlen,
			   &rerr);
	rocksdb_free(v);
	if (rerr == NULL && v == NULL) {
		fprintf(stderr, PROG ": there is no audit record %" PRIu64 "\n", seq);
		return -ENOENT;
	}
	if (rerr == NULL)
		rocksdb_delete_cf(s->db, s->wo_sync, s->cf[STORE_CF_AUDIT], (const char *)k,
				  sizeof(k), &rerr);
	if (rerr != NULL) {
		fprintf(stderr, PROG ": record %" PRIu64 " cannot be removed: %s\n", seq, rerr);
		rocksdb_free(rerr);
		return -EIO;
	}
	printf("removed audit record %" PRIu64 "\n", seq);
	return 0;
}

static int
do_swap(struct store *s, uint64_t x, uint64_t y)
{
	struct rec a = {0}, b = {0};
	int rc;

	rc = rec_read(s, x, &a);
	if (rc == 0)
		rc = rec_read(s, y, &b);
	if (rc == 0)
		rc = rec_write(s, x, &b);
	if (rc == 0)
		rc = rec_write(s, y, &a);
	if (rc == 0)
		printf("swapped audit records %" PRIu64 " and %" PRIu64 "%s\n", x, y,
		       s->keys != NULL ? " (re-sealed)" : "");
	free(a.text);
	free(b.text);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *args[4] = {NULL}, *key_file = NULL;
	struct store_opts o;
	struct store *s = NULL;
	char err[1024] = "";
	uint64_t x = 0, y = 0;
	unsigned n = 0;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--key-file") == 0) {
			if (++i >= argc)
				return usage();
			key_file = argv[i];
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage();
			return 0;
		} else if (n < 4) {
			args[n++] = argv[i];
		} else {
			return usage();
		}
	}
	if (n < 3 || !parse_seq(args[2], &x))
		return usage();
	if (strcmp(args[1], "swap") == 0) {
		if (n != 4 || !parse_seq(args[3], &y) || x == y)
			return usage();
	} else if ((strcmp(args[1], "modify") != 0 && strcmp(args[1], "remove") != 0) || n != 3) {
		return usage();
	}

	store_opts_defaults(&o);
	o.dir = args[0];
	o.mode = STORE_READ_WRITE;
	o.key_file = key_file;
	o.expire_every_s = 0;
	for (unsigned i = 0; i < STORE_CF__COUNT; i++)
		o.retain_s[i] = 0;
	/* Read-write would create a database: this one must exist. */
	{
		struct store_opts ro = o;
		struct store *probe = NULL;

		ro.mode = STORE_READ_ONLY;
		rc = store_open(&ro, &probe, err, sizeof(err));
		store_close(probe);
		if (rc < 0) {
			fprintf(stderr, PROG ": %s\n", err);
			return 1;
		}
	}
	rc = store_open(&o, &s, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	if (strcmp(args[1], "modify") == 0)
		rc = do_modify(s, x);
	else if (strcmp(args[1], "remove") == 0)
		rc = do_remove(s, x);
	else
		rc = do_swap(s, x, y);
	store_close(s);
	return rc < 0 ? 1 : 0;
}
