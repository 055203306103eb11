/*
 * test_store_backup.c - CUnit tests of the store's backups (storage/backup.c):
 * an incremental backup of an open store, the list, verification against
 * the checksums, and restores into new directories checked record by record
 * with the store's own queries.
 *
 * One store is written in two phases: 1000 observations (the last 232
 * still in the batch when the first backup is taken) and alarms 1 to 5,
 * backup 1; then 1500 more observations, alarms 6 to 10 and a new version of
 * alarm 3, backup 2. Each restore must hold exactly what was written before
 * its backup, no more and no less. A damaged backup (a flipped byte in a
 * table file, in a MANIFEST, a truncated file) must fail verification with a
 * message, and a restore from it must fail and leave nothing behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "cunit_main.h"
#include "store.h"

#define BATCH 256
#define PHASE1_OBS 1000u
#define PHASE2_OBS 1500u
#define PHASE1_ALARMS 5u
#define PHASE2_ALARMS 10u
#define DEVICES 4u
#define MAX_BACKUPS 8
#define ERRLEN 512

static char base[512];			  /* the suite's scratch directory */
static char db_dir[600];		  /* the store */
static char bk_dir[600];		  /* its backups */
static int64_t t0;			  /* records' times start here (an hour ago) */
static struct store *store;		  /* the store, open while the tests need it */
static struct store_backup_info infos[2]; /* what store_backup said of backups 1 and 2 */

/* ------------------------------------------------------------------------ */
/* Records                                                                   */
/* ------------------------------------------------------------------------ */

static void
obs_make(unsigned i, struct store_obs *o)
{
	memset(o, 0, sizeof(*o));
	o->device = 0x1000 + i % DEVICES;
	o->time_ns = t0 + (int64_t)i * 1000000;
	o->seq = i;
	o->code = 150456;
	o->unit = 262688;
	o->flags = i % 3;
	o->value = 90.0 + (double)(i % 100) * 0.25;
}

/* Alarm @p id's record in its version @p v (1, or 2 for alarm 3 after phase 2). */
static int
alarm_json(uint64_t id, unsigned v, char *buf, size_t room)
{
	return snprintf(buf, room, "{\"id\":%" PRIu64 ",\"rule\":\"spo2-low\",\"state\":\"%s\"}",
			id, v == 1 ? "active" : "acknowledged");
}

static int64_t
alarm_time(uint64_t id)
{
	return t0 + (int64_t)id * 1000000000;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Entries in @p dir other than . and .., or -1. */
static int
count_entries(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Whether @p dir has an entry whose name starts with @p prefix. */
static bool
has_entry_prefix(const char *dir, const char *prefix)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	bool found = false;

	if (d == NULL)
		return false;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			found = true;
	closedir(d);
	return found;
}

/* Bytes of the regular files under @p dir. */
static uint64_t tree_bytes_sum;

static int
add_bytes(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F)
		tree_bytes_sum += (uint64_t)st->st_size;
	return 0;
}

static uint64_t
tree_bytes(const char *dir)
{
	tree_bytes_sum = 0;
	nftw(dir, add_bytes, 16, FTW_PHYS);
	return tree_bytes_sum;
}

/* The first file under @p dir whose path contains @p part and ends with @p suffix. */
static char found_path[PATH_MAX];
static const char *find_part, *find_suffix;

static int
find_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	size_t n = strlen(path), m = strlen(find_suffix);

	(void)ftw;
	if (flag == FTW_F && st->st_size > 0 && strstr(path, find_part) != NULL && n >= m &&
	    strcmp(path + n - m, find_suffix) == 0) {
		snprintf(found_path, sizeof(found_path), "%s", path);
		return 1;
	}
	return 0;
}

static const char *
find_file(const char *dir, const char *part, const char *suffix)
{
	found_path[0] = '\0';
	find_part = part;
	find_suffix = suffix;
	nftw(dir, find_entry, 16, FTW_PHYS);
	return found_path[0] != '\0' ? found_path : NULL;
}

/* XOR the byte at the middle of @p path with 0x55 (twice puts it back). */
static int
flip_byte(const char *path)
{
	struct stat st;
	uint8_t b;
	off_t at;
	int fd = open(path, O_RDWR), rc = -1;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || st.st_size == 0)
		goto out;
	at = st.st_size / 2;
	if (pread(fd, &b, 1, at) != 1)
		goto out;
	b ^= 0x55;
	if (pwrite(fd, &b, 1, at) != 1)
		goto out;
	rc = fsync(fd);
out:
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Writing and checking a store                                              */
/* ------------------------------------------------------------------------ */

static int
open_store(const char *dir, enum store_mode mode, struct store **out)
{
	struct store_opts o;
	char err[ERRLEN] = "";
	int rc;

	store_opts_defaults(&o);
	o.dir = dir;
	o.mode = mode;
	o.batch_records = BATCH;
	o.batch_ms = 60000; /* only full batches, and store_flush */
	o.write_buffer_mb = 4;
	o.block_cache_mb = 8;
	rc = store_open(&o, out, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "store_open %s: %s (%s)\n", dir, strerror(-rc), err);
	return rc;
}

static void
write_obs(unsigned from, unsigned to)
{
	for (unsigned i = from; i < to; i++) {
		enum store_durability got;
		struct store_obs o;

		obs_make(i, &o);
		CU_ASSERT_EQUAL_FATAL(store_obs_add(store, &o, &got), 0);
	}
}

static void
put_alarm(uint64_t id, unsigned v)
{
	enum store_durability got = STORE_BUFFERED;
	char json[256];
	int n = alarm_json(id, v, json, sizeof(json));

	CU_ASSERT_EQUAL_FATAL(store_alarm_put(store, id, alarm_time(id), json, (size_t)n, &got), 0);
	CU_ASSERT_EQUAL(got, STORE_SYNCED);
}

/* What a restored store must hold. */
struct expect {
	unsigned n_obs;	   /* observations 0 .. n_obs - 1 */
	unsigned n_alarms; /* alarms 1 .. n_alarms */
	unsigned alarm3_v; /* alarm 3's version */
};

struct obs_walk {
	uint64_t device;
	unsigned n_obs;
	unsigned seen;
	int64_t last_ns;
	unsigned bad; /* records not exactly as written */
};

static int
obs_cb(void *arg, const struct store_obs *obs)
{
	struct obs_walk *w = arg;
	struct store_obs want;
	unsigned i = obs->seq;

	obs_make(i, &want);
	if (i >= w->n_obs || obs->device != w->device || obs->time_ns != want.time_ns ||
	    obs->code != want.code || obs->unit != want.unit || obs->flags != want.flags ||
	    obs->value != want.value || (w->seen > 0 && obs->time_ns <= w->last_ns))
		w->bad++;
	w->last_ns = obs->time_ns;
	w->seen++;
	return 0;
}

struct alarm_walk {
	unsigned n_alarms;
	unsigned alarm3_v;
	uint64_t next; /* the id expected next */
	unsigned bad;
};

static int
alarm_cb(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	struct alarm_walk *w = arg;
	char want[256];
	int n = alarm_json(id, id == 3 ? w->alarm3_v : 1, want, sizeof(want));

	if (id != w->next || id > w->n_alarms || time_ns != alarm_time(id) || len != (size_t)n ||
	    memcmp(json, want, len) != 0)
		w->bad++;
	w->next = id + 1;
	return 0;
}

/* Open @p dir read-only and check it holds exactly @p e. */
static void
check_restored(const char *dir, const struct expect *e)
{
	struct alarm_walk aw = {.n_alarms = e->n_alarms, .alarm3_v = e->alarm3_v, .next = 1};
	struct store *s = NULL;
	unsigned total = 0;

	CU_ASSERT_EQUAL_FATAL(open_store(dir, STORE_READ_ONLY, &s), 0);
	for (unsigned d = 0; d < DEVICES; d++) {
		struct obs_walk w = {.device = 0x1000 + d, .n_obs = e->n_obs};
		unsigned want = e->n_obs / DEVICES + (d < e->n_obs % DEVICES ? 1 : 0);

		CU_ASSERT_EQUAL(store_query_obs(s, w.device, INT64_MIN, INT64_MAX, obs_cb, &w), 0);
		CU_ASSERT_EQUAL(w.bad, 0);
		CU_ASSERT_EQUAL(w.seen, want);
		total += w.seen;
	}
	CU_ASSERT_EQUAL(total, e->n_obs);
	CU_ASSERT_EQUAL(store_query_alarms(s, INT64_MIN, INT64_MAX, alarm_cb, &aw), 0);
	CU_ASSERT_EQUAL(aw.bad, 0);
	CU_ASSERT_EQUAL(aw.next, (uint64_t)e->n_alarms + 1);
	store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Suite                                                                     */
/* ------------------------------------------------------------------------ */

static int
suite_init(void)
{
	const char *tmp = getenv("TMPDIR");
	struct timespec ts;

	snprintf(base, sizeof(base), "%s/vigil-backup-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(base) == NULL)
		return -1;
	snprintf(db_dir, sizeof(db_dir), "%s/db", base);
	snprintf(bk_dir, sizeof(bk_dir), "%s/backups", base);
	clock_gettime(CLOCK_REALTIME, &ts);
	t0 = ((int64_t)ts.tv_sec - 3600) * 1000000000;
	return 0;
}

static int
suite_cleanup(void)
{
	store_close(store);
	store = NULL;
	rm_tree(base);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

static void
test_backup_and_list(void)
{
	struct store_backup_info list[MAX_BACKUPS];
	char err[ERRLEN] = "", shared[1024];
	int n;

	CU_ASSERT_EQUAL_FATAL(open_store(db_dir, STORE_READ_WRITE, &store), 0);

	/* Phase 1: the batch is not empty when the backup is taken. */
	write_obs(0, PHASE1_OBS);
	for (uint64_t id = 1; id <= PHASE1_ALARMS; id++)
		put_alarm(id, 1);
	CU_ASSERT_EQUAL(store_pending(store), PHASE1_OBS % BATCH);
	CU_ASSERT_EQUAL_FATAL(store_backup(store, bk_dir, &infos[0], err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_pending(store), 0);
	CU_ASSERT_EQUAL(infos[0].id, 1);
	CU_ASSERT(infos[0].size > 0);
	CU_ASSERT(infos[0].files > 0);
	CU_ASSERT(infos[0].time_s > 0);

	/* Phase 2, and a second backup. */
	write_obs(PHASE1_OBS, PHASE1_OBS + PHASE2_OBS);
	for (uint64_t id = PHASE1_ALARMS + 1; id <= PHASE2_ALARMS; id++)
		put_alarm(id, 1);
	put_alarm(3, 2);
	CU_ASSERT_EQUAL_FATAL(store_backup(store, bk_dir, &infos[1], err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(infos[1].id, 2);
	CU_ASSERT(infos[1].size > infos[0].size);
	CU_ASSERT(infos[1].time_s >= infos[0].time_s);

	/* The list says the same. */
	n = store_backup_list(bk_dir, list, MAX_BACKUPS, err, sizeof(err));
	CU_ASSERT_EQUAL_FATAL(n, 2);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(list[i].id, infos[i].id);
		CU_ASSERT_EQUAL(list[i].size, infos[i].size);
		CU_ASSERT_EQUAL(list[i].files, infos[i].files);
		CU_ASSERT_EQUAL(list[i].time_s, infos[i].time_s);
	}
	/* Room for one: the newest. */
	n = store_backup_list(bk_dir, list, 1, err, sizeof(err));
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(list[0].id, 2);

	/* Incremental: the tables of backup 1 were not copied again, so the
	 * shared tables take less room than the two backups' sizes added. */
	snprintf(shared, sizeof(shared), "%s/shared_checksum", bk_dir);
	if (!exists(shared))
		snprintf(shared, sizeof(shared), "%s/shared", bk_dir);
	CU_ASSERT(tree_bytes(shared) > 0);
	CU_ASSERT(tree_bytes(bk_dir) < infos[0].size + infos[1].size);
}

static void
test_verify(void)
{
	char err[ERRLEN] = "", path[1024];
	struct store_backup_info list[1];
	int rc;

	CU_ASSERT_EQUAL(store_backup_verify(bk_dir, 1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_backup_verify(bk_dir, 2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_backup_verify(bk_dir, 0, err, sizeof(err)), 0);
	/* The scratch restore of the checksum pass is gone. */
	CU_ASSERT_FALSE(has_entry_prefix(bk_dir, ".verify-"));

	/* A backup that is not there. */
	err[0] = '\0';
	CU_ASSERT_EQUAL(store_backup_verify(bk_dir, 9, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no backup 9"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, bk_dir));

	/* A directory that is not there, or not a backup directory: not created. */
	snprintf(path, sizeof(path), "%s/nothing", base);
	err[0] = '\0';
	CU_ASSERT_EQUAL(store_backup_list(path, list, 1, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	CU_ASSERT_EQUAL(store_backup_verify(path, 0, err, sizeof(err)), -ENOENT);
	CU_ASSERT_FALSE(exists(path));
	err[0] = '\0';
	rc = store_backup_list(base, list, 1, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a backup directory"));
	CU_ASSERT_FALSE(exists(strcat(strcpy(path, base), "/meta")));
}

static void
test_restore(void)
{
	static const struct expect e1 = {PHASE1_OBS, PHASE1_ALARMS, 1};
	static const struct expect e2 = {PHASE1_OBS + PHASE2_OBS, PHASE2_ALARMS, 2};
	char err[ERRLEN] = "", r1[1024], r2[1024], rl[1024];

	snprintf(r1, sizeof(r1), "%s/r1", base);
	snprintf(r2, sizeof(r2), "%s/r2/deeper", base); /* parents made as needed */
	snprintf(rl, sizeof(rl), "%s/latest", base);
	CU_ASSERT_EQUAL_FATAL(store_restore(bk_dir, 1, r1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(store_restore(bk_dir, 2, r2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(store_restore(bk_dir, 0, rl, err, sizeof(err)), 0);
	check_restored(r1, &e1);
	check_restored(r2, &e2);
	check_restored(rl, &e2);

	/* A restored store opens read-write too, and takes new alarms after the old ones. */
	{
		struct store *s = NULL;

		CU_ASSERT_EQUAL_FATAL(open_store(r1, STORE_READ_WRITE, &s), 0);
		CU_ASSERT_EQUAL(store_alarm_next_id(s), PHASE1_ALARMS + 1);
		store_close(s);
	}

	/* A backup id that does not exist: nothing made. */
	snprintf(r1, sizeof(r1), "%s/r9", base);
	err[0] = '\0';
	CU_ASSERT_EQUAL(store_restore(bk_dir, 9, r1, err, sizeof(err)), -ENOENT);
	CU_ASSERT_FALSE(exists(r1));
	CU_ASSERT(err[0] != '\0');
}

static void
test_restore_refuses_non_empty(void)
{
	char err[ERRLEN] = "", dir[1024], file[1100];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/busy", base);
	snprintf(file, sizeof(file), "%s/keep-me", dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	f = fopen(file, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("not a database\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(store_restore(bk_dir, 0, dir, err, sizeof(err)), -ENOTEMPTY);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, dir));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not empty"));
	CU_ASSERT_EQUAL(count_entries(dir), 1);
	CU_ASSERT(exists(file));

	/* Nor over the live database. */
	err[0] = '\0';
	CU_ASSERT_EQUAL(store_restore(bk_dir, 0, db_dir, err, sizeof(err)), -ENOTEMPTY);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, db_dir));

	/* An empty directory is fine. */
	CU_ASSERT_EQUAL(remove(file), 0);
	CU_ASSERT_EQUAL(store_restore(bk_dir, 1, dir, err, sizeof(err)), 0);
}

/* vigil-store backup on a stopped appliance's directory opens it read-only. */
static void
test_backup_read_only(void)
{
	static const struct expect e2 = {PHASE1_OBS + PHASE2_OBS, PHASE2_ALARMS, 2};
	struct store_backup_info info = {0};
	char err[ERRLEN] = "", dir[1024];
	struct store *ro = NULL;

	store_close(store);
	store = NULL;
	CU_ASSERT_EQUAL_FATAL(open_store(db_dir, STORE_READ_ONLY, &ro), 0);
	CU_ASSERT_EQUAL(store_backup(ro, bk_dir, &info, err, sizeof(err)), 0);
	if (err[0] != '\0')
		fprintf(stderr, "read-only backup: %s\n", err);
	CU_ASSERT_EQUAL(info.id, 3);
	store_close(ro);
	CU_ASSERT_EQUAL(store_backup_verify(bk_dir, 3, err, sizeof(err)), 0);
	snprintf(dir, sizeof(dir), "%s/r3", base);
	CU_ASSERT_EQUAL_FATAL(store_restore(bk_dir, 3, dir, err, sizeof(err)), 0);
	check_restored(dir, &e2);
}

static void
test_damaged_backup(void)
{
	char err[ERRLEN] = "", bk[1024], dir[1024], table[PATH_MAX];
	char manifest[PATH_MAX];
	const char *p;
	struct stat st;
	int rc;

	/* Backups of their own, so that the others stay good. */
	snprintf(bk, sizeof(bk), "%s/damaged", base);
	CU_ASSERT_EQUAL_FATAL(open_store(db_dir, STORE_READ_WRITE, &store), 0);
	CU_ASSERT_EQUAL_FATAL(store_backup(store, bk, NULL, err, sizeof(err)), 0);
	store_close(store);
	store = NULL;
	CU_ASSERT_EQUAL_FATAL(store_backup_verify(bk, 0, err, sizeof(err)), 0);

	/* A byte flipped in a table file: same size, so only the checksums see it. */
	p = find_file(bk, "/shared", ".sst");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	snprintf(table, sizeof(table), "%s", p);
	CU_ASSERT_EQUAL_FATAL(flip_byte(table), 0);
	err[0] = '\0';
	rc = store_backup_verify(bk, 0, err, sizeof(err));
	CU_ASSERT(rc < 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, bk));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "checksum"));
	fprintf(stderr, "flipped table byte: %d %s\n", rc, err);

	/* A restore from it fails, and leaves no directory behind. */
	snprintf(dir, sizeof(dir), "%s/from-damaged", base);
	err[0] = '\0';
	CU_ASSERT(store_restore(bk, 0, dir, err, sizeof(err)) < 0);
	CU_ASSERT(err[0] != '\0');
	CU_ASSERT_FALSE(exists(dir));

	/* Put it back: verification passes again, so the byte was the reason. */
	CU_ASSERT_EQUAL_FATAL(flip_byte(table), 0);
	CU_ASSERT_EQUAL(store_backup_verify(bk, 0, err, sizeof(err)), 0);

	/* A byte flipped in the backup's MANIFEST (under private/). */
	p = find_file(bk, "/MANIFEST-", "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	snprintf(manifest, sizeof(manifest), "%s", p);
	CU_ASSERT_PTR_NOT_NULL(strstr(manifest, "/private/"));
	CU_ASSERT_EQUAL_FATAL(flip_byte(manifest), 0);
	err[0] = '\0';
	CU_ASSERT(store_backup_verify(bk, 0, err, sizeof(err)) < 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, bk));
	CU_ASSERT_EQUAL_FATAL(flip_byte(manifest), 0);
	CU_ASSERT_EQUAL(store_backup_verify(bk, 0, err, sizeof(err)), 0);

	/* A truncated table file: the size check sees it. */
	CU_ASSERT_EQUAL_FATAL(stat(table, &st), 0);
	CU_ASSERT_EQUAL_FATAL(truncate(table, st.st_size - 1), 0);
	err[0] = '\0';
	rc = store_backup_verify(bk, 0, err, sizeof(err));
	CU_ASSERT(rc < 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, bk));
	fprintf(stderr, "truncated table: %d %s\n", rc, err);

	/* A missing table file. */
	CU_ASSERT_EQUAL_FATAL(remove(table), 0);
	err[0] = '\0';
	CU_ASSERT(store_backup_verify(bk, 0, err, sizeof(err)) < 0);
	CU_ASSERT(err[0] != '\0');
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"backup, incremental backup, list", test_backup_and_list},
		{"verify", test_verify},
		{"restore each backup into a new directory", test_restore},
		{"restore refuses a non-empty directory", test_restore_refuses_non_empty},
		{"backup of a read-only store", test_backup_read_only},
		{"a damaged backup fails verification", test_damaged_backup},
	};
	CU_pSuite suite = CU_add_suite("store-backup", suite_init, suite_cleanup);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
