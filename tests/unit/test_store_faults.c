/*
 * test_store_faults.c - CUnit tests of the store under faults: a writer
 * killed with SIGKILL at random moments, and a full disk.
 *
 * SIGKILL trials. 100 times, a child process opens the same store
 * directory (so every trial after the first also opens a database whose
 * last writer was killed), then writes observations in batches and alarms
 * (synced) in a loop. After each alarm put that returned 0 it writes the
 * alarm's id to a pipe, and after each batch that reached the WAL the
 * number of its observations written so far. The parent waits until the
 * child says the store is open, sleeps 1 to 30 ms (a seeded random draw;
 * the seed is printed, VIGIL_FAULTS_SEED=N repeats it), and kills it with
 * SIGKILL; one trial in five it kills the child instead at a random moment
 * of store_open (0 ms up to the longest open seen so far), so that a
 * crash during the WAL replay of the previous crash is tried too. Then it
 * reads everything the child wrote, and reopens the store: it must
 * open cleanly, every alarm the child was told was stored must be there,
 * byte for byte, and every observation of a batch that reached the WAL too
 * (a process crash cannot lose what reached the WAL; only the batch still
 * in the writer's memory is lost). After the last trial every alarm of
 * every trial is checked once more.
 *
 * The child is this test program again (fork, then exec of /proc/self/exe
 * with VIGIL_FAULTS_CHILD set): RocksDB is not fork-safe once a process
 * has opened a database, and the parent opens one after every trial.
 *
 * Disk full. As root, the test mounts an 8 MiB tmpfs of its own, fills
 * 3 MiB of it with a filler file, and opens a store there with 1 MiB write
 * buffers. It writes observations (and an alarm every batch) until a write
 * fails: the failure must be a clean negative errno (-ENOSPC, or -EIO),
 * counted (write_errors, no_space for -ENOSPC, obs_failed); while the disk
 * is full an alarm put must fail, never return 0 without storing. Then it
 * deletes the filler: writes must resume (RocksDB recovers from a full disk
 * by itself once space returns; the test retries an alarm put for up to
 * 60 s), and after a reopen every alarm whose put returned 0 is there.
 * The writer is a child process here too, so that a writer that dies on
 * the full disk fails the test with its signal and the tmpfs is still
 * unmounted. Without root (mount fails with EPERM) that test passes with a
 * message.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "cunit_main.h"
#include "store.h"

#define TRIALS 100u
#define KILL_MS_MAX 30u
#define EARLY_EVERY 5u	       /* one trial in five is killed without waiting for "open" */
#define CHILD_FD 9	       /* the child's end of the pipe */
#define READY_TIMEOUT_MS 60000 /* a child opening the store (under ASan, on a busy machine) */
#define TRIAL_BATCH 512u
#define OBS_PER_ALARM 64u
#define MSG_OBS (UINT64_C(1) << 63)	/* a message with this bit: observations in the WAL */
#define MSG_READY UINT64_C(0)		/* the store is open */
#define MSG_OPENING (UINT64_C(1) << 62) /* the store is about to be opened */
#define MAX_ALARMS 200000u
#define ERRLEN 512

/* The child's exit codes when it stops on its own (it should not). */
enum child_exit {
	CHILD_BAD_ENV = 10,
	CHILD_OPEN_FAILED,
	CHILD_OBS_FAILED,
	CHILD_ALARM_FAILED,
	CHILD_PIPE_FAILED,
};

static char base[512];	 /* the suite's scratch directory */
static char db_dir[600]; /* the store of the SIGKILL trials */
static char mnt[600];	 /* the tmpfs of the disk-full test */
static bool mounted;
static int64_t t0; /* records' times start here (an hour ago) */

/* ------------------------------------------------------------------------ */
/* Records: the child and the parent compute the same                        */
/* ------------------------------------------------------------------------ */

static uint64_t
trial_device(unsigned trial)
{
	return 0x5000 + trial;
}

static void
obs_make(uint64_t device, unsigned i, struct store_obs *o)
{
	memset(o, 0, sizeof(*o));
	o->device = device;
	o->time_ns = t0 + (int64_t)i * 1000;
	o->seq = i;
	o->code = 150456 + i % 7;
	o->unit = 262688;
	o->flags = i % 5;
	o->value = (double)i * 0.5;
}

static int
alarm_json(uint64_t id, unsigned trial, char *buf, size_t room)
{
	return snprintf(buf, room,
			"{\"id\":%" PRIu64 ",\"trial\":%u,\"rule\":\"spo2-low\",\"state\":"
			"\"active\",\"device\":\"0x%x\"}",
			id, trial, 0x5000 + trial);
}

static int64_t
alarm_time(uint64_t id)
{
	return t0 + (int64_t)id * 1000000;
}

static int
open_store(const char *dir, struct store_opts *o, struct store **out)
{
	char err[ERRLEN] = "";
	int rc;

	o->dir = dir;
	rc = store_open(o, out, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "store_open %s: %s (%s)\n", dir, strerror(-rc), err);
	return rc;
}

static void
trial_opts(struct store_opts *o)
{
	store_opts_defaults(o);
	o->batch_records = TRIAL_BATCH;
	o->batch_ms = 60000; /* full batches only: no store_tick in the child */
	o->write_buffer_mb = 4;
	o->block_cache_mb = 8;
}

/* ------------------------------------------------------------------------ */
/* The child                                                                 */
/* ------------------------------------------------------------------------ */

static bool
send_msg(uint64_t v)
{
	/* 8 bytes < PIPE_BUF: written whole or not at all, even under SIGKILL. */
	return write(CHILD_FD, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

static int
child_main(void)
{
	const char *dir = getenv("VIGIL_FAULTS_DIR"), *trial_s = getenv("VIGIL_FAULTS_TRIAL");
	const char *t0_s = getenv("VIGIL_FAULTS_T0");
	struct store *s = NULL;
	struct store_opts o;
	unsigned trial, next_obs = 0;
	uint64_t device;

	if (dir == NULL || trial_s == NULL || t0_s == NULL)
		return CHILD_BAD_ENV;
	trial = (unsigned)strtoul(trial_s, NULL, 10);
	t0 = strtoll(t0_s, NULL, 10);
	device = trial_device(trial);
	trial_opts(&o);
	if (!send_msg(MSG_OPENING))
		return CHILD_PIPE_FAILED;
	if (open_store(dir, &o, &s) != 0)
		return CHILD_OPEN_FAILED;
	if (!send_msg(MSG_READY))
		return CHILD_PIPE_FAILED;
	for (;;) {
		enum store_durability got;
		char json[256];
		uint64_t id;
		int n;

		for (unsigned k = 0; k < OBS_PER_ALARM; k++) {
			struct store_obs ob;

			obs_make(device, next_obs, &ob);
			got = STORE_BUFFERED;
			if (store_obs_add(s, &ob, &got) != 0)
				return CHILD_OBS_FAILED;
			next_obs++;
			if (got == STORE_WAL && !send_msg(MSG_OBS | next_obs))
				return CHILD_PIPE_FAILED;
		}
		id = store_alarm_next_id(s);
		n = alarm_json(id, trial, json, sizeof(json));
		got = STORE_BUFFERED;
		if (store_alarm_put(s, id, alarm_time(id), json, (size_t)n, &got) != 0 ||
		    got != STORE_SYNCED)
			return CHILD_ALARM_FAILED;
		if (!send_msg(id))
			return CHILD_PIPE_FAILED;
	}
}

/* ------------------------------------------------------------------------ */
/* Checking                                                                  */
/* ------------------------------------------------------------------------ */

struct alarm_seen {
	int64_t time_ns;
	char json[256];
	size_t len;
	unsigned calls;
};

static int
alarm_cb(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	struct alarm_seen *a = arg;

	(void)id;
	a->time_ns = time_ns;
	a->len = len;
	memcpy(a->json, json, len < sizeof(a->json) ? len : sizeof(a->json));
	a->calls++;
	return 0;
}

/* 0 when alarm @p id is stored exactly as trial @p trial wrote it, else 1 (printed). */
static int
check_alarm(struct store *s, uint64_t id, unsigned trial)
{
	struct alarm_seen a = {0};
	char want[256];
	int n = alarm_json(id, trial, want, sizeof(want)), rc;

	rc = store_alarm_get(s, id, alarm_cb, &a);
	if (rc != 0 || a.calls != 1 || a.time_ns != alarm_time(id) || a.len != (size_t)n ||
	    memcmp(a.json, want, a.len) != 0) {
		fprintf(stderr, "alarm %" PRIu64 " of trial %u: rc %d, %u calls, '%.*s'\n", id,
			trial, rc, a.calls, (int)(a.len < sizeof(a.json) ? a.len : 0), a.json);
		return 1;
	}
	return 0;
}

struct obs_walk {
	uint64_t device;
	unsigned seen;
	unsigned bad; /* not the next of the sequence, or not as written */
};

static int
obs_cb(void *arg, const struct store_obs *obs)
{
	struct obs_walk *w = arg;
	struct store_obs want;

	obs_make(w->device, w->seen, &want);
	if (obs->device != want.device || obs->seq != want.seq || obs->time_ns != want.time_ns ||
	    obs->code != want.code || obs->unit != want.unit || obs->flags != want.flags ||
	    obs->value != want.value)
		w->bad++;
	w->seen++;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Suite                                                                     */
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

static int
suite_init(void)
{
	const char *tmp = getenv("TMPDIR");
	struct timespec ts;

	snprintf(base, sizeof(base), "%s/vigil-faults-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(base) == NULL)
		return -1;
	snprintf(db_dir, sizeof(db_dir), "%s/db", base);
	snprintf(mnt, sizeof(mnt), "%s/full", base);
	clock_gettime(CLOCK_REALTIME, &ts);
	t0 = ((int64_t)ts.tv_sec - 3600) * 1000000000;
	return 0;
}

static int
suite_cleanup(void)
{
	if (mounted && umount2(mnt, MNT_DETACH) == 0)
		mounted = false;
	nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* SIGKILL trials                                                            */
/* ------------------------------------------------------------------------ */

static uint32_t
rnd(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static pid_t
spawn_child(unsigned trial, int *rfd)
{
	char trial_s[16], t0_s[32];
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	snprintf(trial_s, sizeof(trial_s), "%u", trial);
	snprintf(t0_s, sizeof(t0_s), "%" PRId64, t0);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		char *argv[] = {"test_store_faults", NULL};

		/* dup2 clears close-on-exec on the copy. */
		if (dup2(fds[1], CHILD_FD) < 0)
			_exit(CHILD_PIPE_FAILED);
		setenv("VIGIL_FAULTS_CHILD", "1", 1);
		setenv("VIGIL_FAULTS_DIR", db_dir, 1);
		setenv("VIGIL_FAULTS_TRIAL", trial_s, 1);
		setenv("VIGIL_FAULTS_T0", t0_s, 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -1;
	}
	*rfd = fds[0];
	return pid;
}

/* Read one message, waiting up to @p timeout_ms. 1: got one, 0: EOF or timeout, -1: error. */
static int
read_msg(int fd, uint64_t *v, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t got = 0;

	while (got < sizeof(*v)) {
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0)
			return 0;
		n = read(fd, (char *)v + got, sizeof(*v) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		got += (size_t)n;
	}
	return 1;
}

struct reported {
	uint64_t id;
	unsigned trial;
};

static void
test_sigkill_trials(void)
{
	static struct reported alarms[MAX_ALARMS];
	unsigned n_alarms = 0, early_kills = 0, during_open = 0, bad_alarms = 0, bad_obs = 0;
	unsigned open_ms_max = 1;
	uint64_t obs_reported_sum = 0, obs_found_sum = 0, max_id = 0;
	const char *seed_s = getenv("VIGIL_FAULTS_SEED");
	uint32_t seed, state;
	struct timespec ta, tb;
	struct store *s = NULL;
	struct store_opts o;

	seed = seed_s ? (uint32_t)strtoul(seed_s, NULL, 10)
		      : (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
	if (seed == 0)
		seed = 1;
	state = seed;
	printf("\n  SIGKILL trials: seed %u (VIGIL_FAULTS_SEED=%u repeats the draws)\n", seed,
	       seed);
	clock_gettime(CLOCK_MONOTONIC, &ta);
	trial_opts(&o);

	for (unsigned trial = 0; trial < TRIALS; trial++) {
		bool early = trial % EARLY_EVERY == EARLY_EVERY - 1, ready = false, opening;
		unsigned first_alarm = n_alarms, wait_ms, open_ms;
		struct timespec tc, td;
		uint64_t obs_reported = 0, v;
		struct obs_walk w = {.device = trial_device(trial)};
		int rfd = -1, status = 0, r;
		pid_t pid;

		pid = spawn_child(trial, &rfd);
		CU_ASSERT_FATAL(pid > 0);
		/* Wait until the child is about to open the store ... */
		r = read_msg(rfd, &v, READY_TIMEOUT_MS);
		opening = r == 1 && v == MSG_OPENING;
		CU_ASSERT(opening);
		clock_gettime(CLOCK_MONOTONIC, &tc);
		if (early) {
			/* ... and kill it at a random moment of the open, as long as the
			 * longest open seen so far. */
			wait_ms = rnd(&state) % (open_ms_max + 1);
		} else {
			/* ... or until it has opened it, then let it write a while. */
			r = read_msg(rfd, &v, READY_TIMEOUT_MS);
			ready = r == 1 && v == MSG_READY;
			CU_ASSERT(ready);
			if (!ready)
				fprintf(stderr, "trial %u: the child did not open the store\n",
					trial);
			clock_gettime(CLOCK_MONOTONIC, &td);
			open_ms = (unsigned)((td.tv_sec - tc.tv_sec) * 1000 +
					     (td.tv_nsec - tc.tv_nsec) / 1000000);
			if (open_ms > open_ms_max)
				open_ms_max = open_ms;
			wait_ms = 1 + rnd(&state) % KILL_MS_MAX;
		}
		sleep_ms(wait_ms);
		CU_ASSERT_EQUAL(kill(pid, SIGKILL), 0);
		CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
		/* It must still have been running: it never stops on its own. */
		CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		if (WIFEXITED(status))
			fprintf(stderr, "trial %u: the child exited %d by itself\n", trial,
				WEXITSTATUS(status));
		while ((r = read_msg(rfd, &v, 1000)) == 1) {
			if (v == MSG_READY) {
				ready = true;
			} else if (v & MSG_OBS) {
				obs_reported = v & ~MSG_OBS;
			} else if (v != MSG_OPENING && n_alarms < MAX_ALARMS) {
				alarms[n_alarms].id = v;
				alarms[n_alarms].trial = trial;
				n_alarms++;
				if (v > max_id)
					max_id = v;
			}
		}
		CU_ASSERT_EQUAL(r, 0);
		close(rfd);
		if (early)
			early_kills++;
		if (!ready)
			during_open++;

		/* The database opens cleanly after the crash ... */
		CU_ASSERT_EQUAL_FATAL(open_store(db_dir, &o, &s), 0);
		/* ... with every alarm the child was told was stored ... */
		for (unsigned i = first_alarm; i < n_alarms; i++)
			bad_alarms += (unsigned)check_alarm(s, alarms[i].id, alarms[i].trial);
		CU_ASSERT(store_alarm_next_id(s) > max_id);
		/* ... and every observation whose batch reached the WAL, in sequence. */
		CU_ASSERT_EQUAL(store_query_obs(s, w.device, INT64_MIN, INT64_MAX, obs_cb, &w), 0);
		CU_ASSERT(w.seen >= obs_reported);
		CU_ASSERT_EQUAL(w.bad, 0);
		if (w.seen < obs_reported || w.bad != 0) {
			bad_obs++;
			fprintf(stderr,
				"trial %u: %u observations found (%u wrong), %" PRIu64
				" reported in the WAL\n",
				trial, w.seen, w.bad, obs_reported);
		}
		obs_reported_sum += obs_reported;
		obs_found_sum += w.seen;
		store_close(s);
		s = NULL;
	}
	CU_ASSERT_EQUAL(bad_alarms, 0);
	CU_ASSERT_EQUAL(bad_obs, 0);
	CU_ASSERT(n_alarms < MAX_ALARMS);
	/* The trials tested something: alarms were acknowledged before kills. */
	CU_ASSERT(n_alarms > 0);
	CU_ASSERT(obs_reported_sum > 0);

	/* Once more at the end: every alarm of every trial, after 100 crashes. */
	CU_ASSERT_EQUAL_FATAL(open_store(db_dir, &o, &s), 0);
	bad_alarms = 0;
	for (unsigned i = 0; i < n_alarms; i++)
		bad_alarms += (unsigned)check_alarm(s, alarms[i].id, alarms[i].trial);
	CU_ASSERT_EQUAL(bad_alarms, 0);
	store_close(s);
	clock_gettime(CLOCK_MONOTONIC, &tb);
	printf("  %u trials in %.1f s (%u killed at a random moment of the open, %u before "
	       "the open returned; the longest open %u ms): %u alarms reported stored; "
	       "observations: %" PRIu64 " reported in the WAL, %" PRIu64 " found\n",
	       TRIALS, (double)(tb.tv_sec - ta.tv_sec) + (double)(tb.tv_nsec - ta.tv_nsec) / 1e9,
	       early_kills, during_open, open_ms_max, n_alarms, obs_reported_sum, obs_found_sum);
}

/* ------------------------------------------------------------------------ */
/* Disk full                                                                 */
/* ------------------------------------------------------------------------ */

#define FULL_TMPFS "size=8m,mode=0700"
#define FILLER_BYTES (3u << 20)
#define FULL_BATCH 1024u
#define FULL_MAX_OBS 20000000u
#define FULL_DEVICE 0x7000
#define FULL_RESUME_TRIES 300 /* every 200 ms: 60 s */
#define FULL_AFTER_OBS 5000u

static int
write_filler(const char *path)
{
	static uint8_t buf[65536];
	uint32_t x = 12345;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = 0;

	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd(&x);
	for (unsigned done = 0; done < FILLER_BYTES; done += sizeof(buf)) {
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			rc = -errno;
			break;
		}
	}
	close(fd);
	return rc;
}

/* An observation of the disk-full test: values that do not compress. */
static void
full_obs(unsigned i, struct store_obs *o)
{
	uint32_t x = i * 2654435761u + 1;

	obs_make(FULL_DEVICE, i, o);
	o->value = (double)rnd(&x) * 1e-3;
}

struct full_walk {
	unsigned seen, bad;
	int64_t last;
};

static int
full_obs_cb(void *arg, const struct store_obs *obs)
{
	struct full_walk *w = arg;
	struct store_obs want;

	full_obs(obs->seq, &want);
	if (obs->device != want.device || obs->time_ns != want.time_ns ||
	    obs->value != want.value || obs->code != want.code || obs->flags != want.flags ||
	    (w->seen > 0 && obs->time_ns <= w->last))
		w->bad++;
	w->last = obs->time_ns;
	w->seen++;
	return 0;
}

static bool
errno_clean(int rc)
{
	return rc == -ENOSPC || rc == -EIO;
}

/*
 * The disk-full scenario runs in a child (this program again, as for the
 * SIGKILL trials), so that a writer that dies (RocksDB aborts on some
 * failed writes) is a failed test with its signal, not a dead runner, and
 * the parent always unmounts the tmpfs. The child checks with CHECK, prints
 * every failed check and exits with the number of them.
 */
static unsigned full_failed;

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			full_failed++;                                                             \
			fprintf(stderr, "  disk full: line %d: check failed: %s\n", __LINE__, #x); \
		}                                                                                  \
	} while (0)

static int
full_main(void)
{
	static uint64_t ok_ids[65536];
	const char *dir_s = getenv("VIGIL_FAULTS_FULL"), *t0_s = getenv("VIGIL_FAULTS_T0");
	char filler[700], dir[700];
	uint64_t cnt[STORE_CNT__COUNT], next_id = 1;
	unsigned n_ok = 0, alarm_fail_full = 0, i, wal_obs = 0, tries;
	int obs_rc = 0, rc;
	enum store_durability got;
	struct store *s = NULL;
	struct store_opts o;
	struct full_walk w = {0};
	char json[256];

	if (dir_s == NULL || t0_s == NULL)
		return CHILD_BAD_ENV;
	/* Line by line: what it printed stays if RocksDB aborts it. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	t0 = strtoll(t0_s, NULL, 10);
	snprintf(filler, sizeof(filler), "%s/filler", dir_s);
	snprintf(dir, sizeof(dir), "%s/db", dir_s);
	rc = write_filler(filler);
	CHECK(rc == 0);
	if (rc != 0)
		return 1;

	store_opts_defaults(&o);
	o.batch_records = FULL_BATCH;
	o.batch_ms = 60000;
	o.write_buffer_mb = 1;
	o.block_cache_mb = 8;
	o.compression = STORE_COMPRESS_NONE;
	if (open_store(dir, &o, &s) != 0)
		return CHILD_OPEN_FAILED;

	/* Write until a write fails; an alarm with every batch. */
	for (i = 0; i < FULL_MAX_OBS; i++) {
		struct store_obs ob;

		full_obs(i, &ob);
		got = STORE_BUFFERED;
		obs_rc = store_obs_add(s, &ob, &got);
		if (obs_rc != 0)
			break;
		if (got == STORE_WAL)
			wal_obs = i + 1;
		if (i % FULL_BATCH == FULL_BATCH / 2) {
			int n = alarm_json(next_id, 999, json, sizeof(json));

			rc = store_alarm_put(s, next_id, alarm_time(next_id), json, (size_t)n,
					     &got);
			if (rc == 0 && n_ok < 65536)
				ok_ids[n_ok++] = next_id;
			else
				CHECK(errno_clean(rc));
			next_id++;
		}
	}
	printf("  disk full: the write of observation %u failed: %s (%d); %u observations "
	       "reached the WAL before, %u alarms stored\n",
	       i, strerror(-obs_rc), obs_rc, wal_obs, n_ok);
	CHECK(obs_rc != 0);
	if (obs_rc == 0)
		return (int)full_failed;
	CHECK(errno_clean(obs_rc));
	store_counters(s, cnt);
	CHECK(cnt[STORE_CNT_write_errors] >= 1);
	CHECK(cnt[STORE_CNT_obs_failed] >= 1);
	if (obs_rc == -ENOSPC)
		CHECK(cnt[STORE_CNT_no_space] >= 1);

	/* While the disk is full an alarm is refused, never acknowledged and lost. */
	for (unsigned k = 0; k < 3; k++) {
		int n = alarm_json(next_id, 999, json, sizeof(json));

		got = STORE_BUFFERED;
		rc = store_alarm_put(s, next_id, alarm_time(next_id), json, (size_t)n, &got);
		if (rc == 0) {
			CHECK(got == STORE_SYNCED);
			ok_ids[n_ok++] = next_id;
		} else {
			CHECK(errno_clean(rc));
			alarm_fail_full++;
		}
		next_id++;
	}
	CHECK(alarm_fail_full >= 1);
	store_counters(s, cnt);
	CHECK(cnt[STORE_CNT_alarms_failed] >= alarm_fail_full);
	printf("  counters: write_errors %" PRIu64 ", no_space %" PRIu64 ", obs_failed %" PRIu64
	       ", alarms_failed %" PRIu64 "\n",
	       cnt[STORE_CNT_write_errors], cnt[STORE_CNT_no_space], cnt[STORE_CNT_obs_failed],
	       cnt[STORE_CNT_alarms_failed]);

	/* Space returns: writes resume. */
	CHECK(unlink(filler) == 0);
	for (tries = 0; tries < FULL_RESUME_TRIES; tries++) {
		int n = alarm_json(next_id, 999, json, sizeof(json));

		rc = store_alarm_put(s, next_id, alarm_time(next_id), json, (size_t)n, &got);
		if (rc == 0) {
			ok_ids[n_ok++] = next_id++;
			break;
		}
		CHECK(errno_clean(rc));
		next_id++;
		sleep_ms(200);
	}
	printf("  space freed: an alarm put succeeded after %u failed tries (200 ms apart)\n",
	       tries);
	CHECK(tries < FULL_RESUME_TRIES);
	if (tries == FULL_RESUME_TRIES)
		return (int)full_failed;
	for (unsigned k = 0; k < FULL_AFTER_OBS; k++) {
		struct store_obs ob;

		full_obs(i + 1 + k, &ob);
		CHECK(store_obs_add(s, &ob, &got) == 0);
	}
	CHECK(store_flush(s) == 0);
	store_close(s);
	s = NULL;

	/* No corruption: it opens, with every alarm whose put returned 0. */
	if (open_store(dir, &o, &s) != 0) {
		CHECK(!"the store opens again");
		return (int)full_failed;
	}
	rc = 0;
	for (unsigned k = 0; k < n_ok; k++)
		rc += check_alarm(s, ok_ids[k], 999);
	CHECK(rc == 0);
	CHECK(store_query_obs(s, FULL_DEVICE, INT64_MIN, INT64_MAX, full_obs_cb, &w) == 0);
	CHECK(w.bad == 0);
	/* What reached the WAL before the failure, and everything after. */
	CHECK(w.seen >= wal_obs + FULL_AFTER_OBS);
	printf("  after a reopen: %u alarms checked, %u observations found (%u before the "
	       "failure reached the WAL, %u after)\n",
	       n_ok, w.seen, wal_obs, FULL_AFTER_OBS);
	store_close(s);
	return (int)(full_failed > 100 ? 100 : full_failed);
}

static void
test_disk_full(void)
{
	char t0_s[32];
	int status = 0;
	pid_t pid;

	if (mkdir(mnt, 0700) != 0 && errno != EEXIST) {
		CU_FAIL("mkdir of the mount point");
		return;
	}
	if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, FULL_TMPFS) != 0) {
		if (errno == EPERM) {
			printf("\n  disk full: not tested: mounting a tmpfs needs root (EPERM)\n");
			CU_PASS("disk full needs root");
			return;
		}
		fprintf(stderr, "mount tmpfs on %s: %s\n", mnt, strerror(errno));
		CU_FAIL("mount of a tmpfs failed (not for want of root)");
		return;
	}
	mounted = true;
	snprintf(t0_s, sizeof(t0_s), "%" PRId64, t0);
	printf("\n");
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		char *argv[] = {"test_store_faults", NULL};

		setenv("VIGIL_FAULTS_FULL", mnt, 1);
		setenv("VIGIL_FAULTS_T0", t0_s, 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fprintf(stderr, "  disk full: the writer died of signal %d (%s)\n",
			WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		fprintf(stderr, "  disk full: the writer exited %d (failed checks above)\n",
			WEXITSTATUS(status));
	/* The writer ran to its end, and every check passed. */
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(umount2(mnt, 0), 0);
	mounted = false;
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"100 SIGKILL trials", test_sigkill_trials},
		{"disk full", test_disk_full},
	};
	CU_pSuite suite;

	/* The writers of the SIGKILL trials and of the disk-full test: this program again. */
	if (getenv("VIGIL_FAULTS_CHILD") != NULL)
		_exit(child_main());
	if (getenv("VIGIL_FAULTS_FULL") != NULL) {
		/* exit, not _exit: under ASan the leak check runs on the writer too. */
		exit(full_main());
	}
	suite = CU_add_suite("store-faults", suite_init, suite_cleanup);
	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
