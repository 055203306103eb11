/*
 * bench-restart.c - vigil-bench's `restart` scenario: how long the real
 * vigild takes to be ready again after a restart with a large cached
 * ruleset (issue 9: 10,000 cached rules, ready in under 1 s).
 *
 * What it does: a vigil.yaml in a temporary directory with the shipped
 * rules/clinical.rules and network.rules, the rules scenario's generated
 * ruleset of --rules N rules (its variables in rules.vars), a
 * rules.cache_dir, storage and the alarm log, a net_null port with one
 * worker, the control socket, and no /metrics (another vigild on the
 * machine may hold its port). Then:
 *
 *  - one cold start: the cache is empty, so vigild compiles and fills it;
 *  - --runs warm starts, each finding the database in the cache.
 *
 * Each start is timed from the spawn until the control socket answers
 * `status` after `hello` (controlplane/CONTROL.md), polled every 2 ms; the
 * rule load is vigild's own figure, read from its "vigild: rules: ...
 * in X ms" line on stderr. Then SIGTERM, and the time until vigild exits,
 * which must be with status 0.
 *
 * A start that never answers, an exit status other than 0, a cold start
 * that was not a compile or a warm one that was not a cache hit makes it
 * exit 1 after the report; the 1 s target is reported, not enforced (the
 * machine may be shared). --smoke (100 rules, 2 warm starts) is the test
 * suite's bench-restart-smoke.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rte_version.h>

#include "bench.h"

#define RS_POLL_NS 2000000L		 /* the control socket, every 2 ms */
#define RS_READY_LIMIT_NS 600000000000LL /* a start not ready in 10 min: failed */
#define RS_SMOKE_LIMIT_NS 120000000000LL /* with --smoke: 2 min */
#define RS_STOP_LIMIT_NS 60000000000LL	 /* SIGTERM answered within 1 min, else SIGKILL */
#define RS_IO_TIMEOUT_S 10		 /* one control request */
#define RS_TARGET_MS 1000.0		 /* issue 9 */

extern char **environ;

/* How vigild loaded its rules, from its stderr. */
enum rs_load { RS_LOAD_UNKNOWN, RS_LOAD_COMPILED, RS_LOAD_CACHED, RS_LOAD_REBUILT };

static const char *const rs_load_names[] = {"unknown", "compiled", "cache hit",
					    "cache rejected, compiled"};

struct rs_sample {
	double ready_ms; /* spawn until `status` answered */
	double rules_ms; /* vigild's rule load figure (-1: none found) */
	double stop_ms;	 /* SIGTERM until exit */
	unsigned n_rules;
	enum rs_load load;
	int status; /* the wait status */
};

struct rs_ctx {
	const struct bench_restart_opts *o;
	char vigild[PATH_MAX];
	char dir[256];
	char config[300];
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char cache[300];
	char err[300]; /* vigild's stderr of the start in progress */
	char out[300];
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

/* Copy @p name from the rules directory into the temporary one. */
static int
copy_rules(const struct rs_ctx *c, const char *name)
{
	char from[PATH_MAX], to[400], buf[65536];
	FILE *in, *out;
	size_t n;
	int rc = 0;

	snprintf(from, sizeof(from), "%s/%s", c->o->rules_dir, name);
	snprintf(to, sizeof(to), "%s/%s", c->dir, name);
	in = fopen(from, "rb");
	if (in == NULL) {
		rc = -errno;
		fprintf(stderr,
			"bench restart: cannot read %s: %s (give --rules-dir, or set "
			"VIGIL_SOURCE_ROOT)\n",
			from, strerror(errno));
		return rc;
	}
	out = fopen(to, "wb");
	if (out == NULL) {
		rc = -errno;
		fclose(in);
		return rc;
	}
	while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rc = -EIO;
	if (rc == 0 && ferror(in))
		rc = -EIO;
	fclose(in);
	if (fclose(out) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/*
 * --vigild, else the build's layout (tools/vigil-bench beside
 * controlplane/vigild), else beside vigil-bench, else an installed
 * ../sbin/vigild. @return 0 or -ENOENT.
 */
static int
vigild_find(struct rs_ctx *c)
{
	static const char *const rel[] = {"../controlplane/vigild", "vigild", "../sbin/vigild"};
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (c->o->vigild != NULL) {
		snprintf(c->vigild, sizeof(c->vigild), "%s", c->o->vigild);
		if (access(c->vigild, X_OK) == 0)
			return 0;
		fprintf(stderr, "bench restart: --vigild %s: %s\n", c->vigild, strerror(errno));
		return -ENOENT;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash == NULL)
		return -ENOENT;
	*slash = '\0';
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if (snprintf(c->vigild, sizeof(c->vigild), "%s/%s", self, rel[i]) >=
		    (int)sizeof(c->vigild))
			continue;
		if (access(c->vigild, X_OK) == 0) {
			char real[PATH_MAX];

			/* Without the "..", for the report. */
			if (realpath(c->vigild, real) != NULL)
				memcpy(c->vigild, real, sizeof(real));
			return 0;
		}
	}
	fprintf(stderr,
		"bench restart: no vigild in %s/../controlplane, %s or %s/../sbin: give "
		"--vigild PATH\n",
		self, self, self);
	return -ENOENT;
}

/* ------------------------------------------------------------------------ */
/* Set-up and tear-down                                                      */
/* ------------------------------------------------------------------------ */

static int
files_make(struct rs_ctx *c)
{
	const char *tmp = getenv("TMPDIR");
	char path[400], *text = NULL, *gen = NULL;
	size_t len = 0;
	int rc, n;

	snprintf(c->dir, sizeof(c->dir), "%s/vigil-bench-restart-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(c->dir) == NULL) {
		rc = -errno;
		fprintf(stderr, "bench restart: mkdtemp %s: %s\n", c->dir, strerror(errno));
		c->dir[0] = '\0';
		return rc;
	}
	snprintf(c->config, sizeof(c->config), "%s/vigil.yaml", c->dir);
	snprintf(c->cache, sizeof(c->cache), "%s/cache", c->dir);
	snprintf(c->err, sizeof(c->err), "%s/vigild.err", c->dir);
	snprintf(c->out, sizeof(c->out), "%s/vigild.out", c->dir);
	if (snprintf(c->sock, sizeof(c->sock), "%s/vigild.sock", c->dir) >= (int)sizeof(c->sock)) {
		fprintf(stderr,
			"bench restart: %s/vigild.sock is too long for a socket path "
			"(TMPDIR)\n",
			c->dir);
		return -ENAMETOOLONG;
	}
	rc = copy_rules(c, "clinical.rules");
	if (rc == 0)
		rc = copy_rules(c, "network.rules");
	if (rc == 0 && c->o->rules > 0) {
		rc = bench_rules_text_beside(c->o->rules, &gen, &len);
		snprintf(path, sizeof(path), "%s/generated.rules", c->dir);
		if (rc == 0)
			rc = bench_write_file(path, gen, len);
		free(gen);
	}
	if (rc != 0)
		return rc;
	/* Its own EAL file prefix: another vigild may run on the machine. */
	n = asprintf(&text,
		     "# vigil-bench --scenario restart\n"
		     "eal: [\"--no-pci\", \"--no-huge\", \"--no-shconf\", \"-m\", \"512\", \"-l\", "
		     "\"0-1\", \"--file-prefix\", \"vigil-bench-restart-%ld\", "
		     "\"--log-level=*:warning\"]\n"
		     "workers: 1\n"
		     "ports:\n"
		     "  - device: net_null0\n"
		     "    addresses: [192.0.2.1]\n"
		     "rules:\n"
		     "  files: [clinical.rules, network.rules%s]\n"
		     "  vars:\n"
		     "    MONITOR_NETS: \"%s\"\n"
		     "    TELEMETRY_PORTS: \"%s\"\n"
		     "  cache_dir: \"%s\"\n"
		     "storage:\n"
		     "  dir: \"%s/db\"\n"
		     "alarms:\n"
		     "  log: \"%s/alarms.json\"\n"
		     "backup:\n"
		     "  dir: \"%s/backup\"\n"
		     "control:\n"
		     "  socket: \"%s\"\n"
		     "metrics:\n"
		     "  listen: null\n",
		     (long)getpid(), c->o->rules > 0 ? ", generated.rules" : "",
		     BENCH_RULES_VAR_MONITOR_NETS, BENCH_RULES_VAR_TELEMETRY_PORTS, c->cache,
		     c->dir, c->dir, c->dir, c->sock);
	if (n < 0)
		return -ENOMEM;
	rc = bench_write_file(c->config, text, (size_t)n);
	free(text);
	return rc;
}

static void
files_remove(struct rs_ctx *c)
{
	if (c->dir[0] != '\0')
		bench_rm_tree(c->dir);
}

/* ------------------------------------------------------------------------ */
/* vigild                                                                    */
/* ------------------------------------------------------------------------ */

/* vigild -c CONFIG, its stdout and stderr into files, stdin /dev/null. */
static int
vigild_spawn(struct rs_ctx *c, pid_t *pid)
{
	char *const argv[] = {c->vigild, "-c", c->config, NULL};
	posix_spawn_file_actions_t fa;
	int rc;

	rc = -posix_spawn_file_actions_init(&fa);
	if (rc != 0)
		return rc;
	rc = -posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (rc == 0)
		rc = -posix_spawn_file_actions_addopen(&fa, 1, c->out,
						       O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (rc == 0)
		rc = -posix_spawn_file_actions_addopen(&fa, 2, c->err, O_WRONLY | O_CREAT | O_TRUNC,
						       0600);
	if (rc == 0)
		rc = -posix_spawn(pid, c->vigild, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* Send @p req, read lines until the reply with @p id; true when it is "ok": true. */
static bool
ctl_ask(int fd, const char *req, int id)
{
	char buf[65536], want[32], want_ok[48];
	size_t len = 0;

	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		return false;
	/* vigild's reply lines open with the id, then "ok" (controlplane/ctl.c). */
	snprintf(want, sizeof(want), "{\"id\":%d,", id);
	snprintf(want_ok, sizeof(want_ok), "{\"id\":%d,\"ok\":true,", id);
	for (;;) {
		char *nl;
		ssize_t n;

		if (len == sizeof(buf) - 1)
			len = 0; /* a long line not ours (status is short): drop it */
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			if (strncmp(buf, want, strlen(want)) == 0)
				return strncmp(buf, want_ok, strlen(want_ok)) == 0;
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
	}
}

/* 0 when the control socket answers hello and then status; -errno otherwise. */
static int
ctl_status(const struct rs_ctx *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {RS_IO_TIMEOUT_S, 0};
	int fd, rc = 0;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, c->sock, sizeof(sa.sun_path));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		rc = -errno;
	else if (!ctl_ask(fd,
			  "{\"id\":1,\"cmd\":\"hello\",\"args\":{\"protocol\":1,"
			  "\"client\":\"vigil-bench restart\"}}\n",
			  1) ||
		 !ctl_ask(fd, "{\"id\":2,\"cmd\":\"status\"}\n", 2))
		rc = -EPROTO;
	close(fd);
	return rc;
}

/*
 * vigild's line "vigild: rules: N loaded (...), P patterns, HOW in X ms,
 * ruleset ...": N, HOW and X into @p s.
 */
static void
rules_line(const struct rs_ctx *c, struct rs_sample *s)
{
	FILE *f = fopen(c->err, "r");
	char line[1024];

	s->rules_ms = -1;
	s->load = RS_LOAD_UNKNOWN;
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *end = strstr(line, " ms, ruleset "), *in;

		if (strncmp(line, "vigild: rules: ", 15) != 0 || end == NULL)
			continue;
		s->n_rules = (unsigned)strtoul(line + 15, NULL, 10);
		*end = '\0';
		in = strrchr(line, ' ');
		s->rules_ms = in != NULL ? strtod(in + 1, NULL) : -1;
		if (strstr(line, "cache rejected") != NULL)
			s->load = RS_LOAD_REBUILT;
		else if (strstr(line, "database from the cache") != NULL)
			s->load = RS_LOAD_CACHED;
		else if (strstr(line, " compiled in ") != NULL)
			s->load = RS_LOAD_COMPILED;
		break;
	}
	fclose(f);
}

/* The last lines of vigild's stderr, after a start that failed. */
static void
err_tail(const struct rs_ctx *c)
{
	FILE *f = fopen(c->err, "r");
	char lines[20][512];
	unsigned n = 0;

	if (f == NULL)
		return;
	while (fgets(lines[n % 20], sizeof(lines[0]), f) != NULL)
		n++;
	fclose(f);
	fprintf(stderr, "bench restart: vigild's stderr (last lines):\n");
	for (unsigned i = n > 20 ? n - 20 : 0; i < n; i++)
		fprintf(stderr, "  %s", lines[i % 20]);
}

/* Wait up to @p limit_ns for @p pid; true (and @p status) when it exited. */
static bool
wait_exit(pid_t pid, int64_t limit_ns, int *status)
{
	int64_t t0 = bench_mono_ns();

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR)
			return true; /* not ours any more: nothing to wait for */
		if (bench_mono_ns() - t0 > limit_ns)
			return false;
		bench_sleep_ns(1000000);
	}
}

/* One start, until ready, and its stop. A failure is reported and -EPROTO. */
static int
start_one(struct rs_ctx *c, const char *what, struct rs_sample *s)
{
	int64_t limit = c->o->smoke ? RS_SMOKE_LIMIT_NS : RS_READY_LIMIT_NS, t0, t1;
	pid_t pid;
	int rc;

	memset(s, 0, sizeof(*s));
	unlink(c->sock); /* a stale one would only refuse, but nothing is left to doubt */
	t0 = bench_mono_ns();
	rc = vigild_spawn(c, &pid);
	if (rc != 0) {
		fprintf(stderr, "bench restart: cannot run %s: %s\n", c->vigild, strerror(-rc));
		return rc;
	}
	for (;;) {
		if (ctl_status(c) == 0)
			break;
		if (waitpid(pid, &s->status, WNOHANG) == pid) {
			fprintf(stderr,
				"bench restart: %s start: vigild exited (status 0x%x) "
				"before its control socket answered\n",
				what, (unsigned)s->status);
			err_tail(c);
			return -EPROTO;
		}
		if (bench_mono_ns() - t0 > limit) {
			fprintf(stderr, "bench restart: %s start: no answer to status in %.0f s\n",
				what, (double)limit / 1e9);
			err_tail(c);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -EPROTO;
		}
		bench_sleep_ns(RS_POLL_NS);
	}
	t1 = bench_mono_ns();
	s->ready_ms = (double)(t1 - t0) / 1e6;
	rules_line(c, s);

	kill(pid, SIGTERM);
	if (!wait_exit(pid, RS_STOP_LIMIT_NS, &s->status)) {
		fprintf(stderr,
			"bench restart: %s start: vigild still running %.0f s after "
			"SIGTERM\n",
			what, (double)RS_STOP_LIMIT_NS / 1e9);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -EPROTO;
	}
	s->stop_ms = (double)(bench_mono_ns() - t1) / 1e6;
	if (!WIFEXITED(s->status) || WEXITSTATUS(s->status) != 0) {
		fprintf(stderr,
			"bench restart: %s start: vigild's exit status 0x%x after SIGTERM\n", what,
			(unsigned)s->status);
		err_tail(c);
		return -EPROTO;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Reporting                                                                 */
/* ------------------------------------------------------------------------ */

struct rs_stat {
	double median, min, max;
};

static void
stat_of(const struct rs_sample *s, unsigned n, size_t field, struct rs_stat *out)
{
	double v[BENCH_MAX_RUNS];

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		v[i] = *(const double *)((const char *)&s[i] + field);
		if (i == 0 || v[i] < out->min)
			out->min = v[i];
		if (i == 0 || v[i] > out->max)
			out->max = v[i];
	}
	out->median = bench_median(v, n);
}

struct rs_report {
	struct rs_sample cold;
	struct rs_sample *warm;
	unsigned n_warm; /* the warm starts done */
	struct rs_stat ready, rules, stop;
};

static void
print_text(const struct rs_ctx *c, const struct rs_report *r)
{
	const struct rs_stat *rows[] = {&r->ready, &r->rules, &r->stop};
	const char *names[] = {"start -> status answered", "rule load (vigild's figure)",
			       "SIGTERM -> exit"};

	printf("# %s\n", c->o->command);
	printf("vigil-bench %s (%s): scenario restart, %s on %s/clinical.rules + network.rules "
	       "+ %u generated rules (%u rules), rules.cache_dir %s, storage, one worker on "
	       "net_null0; %u warm start(s) after a cold one\n",
	       VIGIL_VERSION, rte_version(), c->vigild, c->o->rules_dir, c->o->rules,
	       r->cold.n_rules, c->cache, r->n_warm);
	printf("\ncold start (empty cache)     ready %10.1f ms, rule load %10.1f ms (%s)\n",
	       r->cold.ready_ms, r->cold.rules_ms, rs_load_names[r->cold.load]);
	printf("\n%-30s %10s %10s %10s\n", "warm starts, ms", "median", "min", "max");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		printf("%-30s %10.1f %10.1f %10.1f\n", names[i], rows[i]->median, rows[i]->min,
		       rows[i]->max);
	printf("\ntarget: ready in under %.0f ms with the rules cached: %s (median %.1f ms)\n",
	       RS_TARGET_MS, r->ready.median < RS_TARGET_MS ? "met" : "MISSED", r->ready.median);
}

static void
print_json_stat(const char *name, const struct rs_stat *s)
{
	printf(",\"%s\":{\"median\":%.3f,\"min\":%.3f,\"max\":%.3f}", name, s->median, s->min,
	       s->max);
}

static void
print_json(const struct rs_ctx *c, const struct rs_report *r)
{
	printf("{\"command\":\"");
	for (const char *p = c->o->command; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		putchar(*p);
	}
	printf("\",\"version\":\"%s\",\"dpdk\":\"%s\",\"scenario\":\"restart\",\"runs\":%u,"
	       "\"generated_rules\":%u,\"rules\":%u,\"target_ms\":%.0f",
	       VIGIL_VERSION, rte_version(), r->n_warm, c->o->rules, r->cold.n_rules, RS_TARGET_MS);
	printf(",\"cold\":{\"ready_ms\":%.3f,\"rules_ms\":%.3f,\"stop_ms\":%.3f,\"load\":\"%s\"}",
	       r->cold.ready_ms, r->cold.rules_ms, r->cold.stop_ms, rs_load_names[r->cold.load]);
	print_json_stat("ready_ms", &r->ready);
	print_json_stat("rules_ms", &r->rules);
	print_json_stat("stop_ms", &r->stop);
	printf(",\"ready_ms_each\":[");
	for (unsigned i = 0; i < r->n_warm; i++)
		printf("%s%.3f", i ? "," : "", r->warm[i].ready_ms);
	printf("]}\n");
}

/* ------------------------------------------------------------------------ */
/* The scenario                                                              */
/* ------------------------------------------------------------------------ */

/* What a start must have been: how it loaded, and every rule loaded. */
static int
check_load(const struct rs_sample *s, const char *what, enum rs_load want, unsigned n_rules)
{
	if (s->load != want || s->rules_ms < 0) {
		fprintf(stderr, "bench restart: %s start: rules %s, expected %s\n", what,
			rs_load_names[s->load], rs_load_names[want]);
		return -EPROTO;
	}
	if (s->n_rules != n_rules) {
		fprintf(stderr, "bench restart: %s start: %u rules loaded, the cold start %u\n",
			what, s->n_rules, n_rules);
		return -EPROTO;
	}
	return 0;
}

int
bench_restart(const struct bench_restart_opts *o)
{
	struct rs_ctx c = {.o = o};
	struct rs_report r = {0};
	int rc;

	r.warm = calloc(o->runs ? o->runs : 1, sizeof(*r.warm));
	if (r.warm == NULL)
		return -ENOMEM;
	/*
	 * The EAL pinned this thread to its lcore, and a child inherits that:
	 * vigild would then load its rules and open its store on one CPU. It
	 * gets every CPU this process may use, as it would from systemd.
	 */
	{
		cpu_set_t all;

		CPU_ZERO(&all);
		for (unsigned i = 0; i < CPU_SETSIZE; i++)
			CPU_SET(i, &all);
		sched_setaffinity(0, sizeof(all), &all);
	}
	rc = vigild_find(&c);
	if (rc == 0)
		rc = files_make(&c);
	if (rc != 0)
		goto out;
	rc = start_one(&c, "cold", &r.cold);
	if (rc == 0)
		rc = check_load(&r.cold, "cold", RS_LOAD_COMPILED, r.cold.n_rules);
	if (rc == 0 && r.cold.n_rules < o->rules) {
		fprintf(stderr, "bench restart: %u rules loaded, fewer than the %u generated\n",
			r.cold.n_rules, o->rules);
		rc = -EPROTO;
	}
	for (unsigned i = 0; rc == 0 && i < o->runs; i++) {
		char what[32];

		snprintf(what, sizeof(what), "warm %u", i + 1);
		rc = start_one(&c, what, &r.warm[i]);
		if (rc == 0)
			rc = check_load(&r.warm[i], what, RS_LOAD_CACHED, r.cold.n_rules);
		if (rc == 0)
			r.n_warm++;
	}
	if (r.n_warm == 0)
		goto out;
	stat_of(r.warm, r.n_warm, offsetof(struct rs_sample, ready_ms), &r.ready);
	stat_of(r.warm, r.n_warm, offsetof(struct rs_sample, rules_ms), &r.rules);
	stat_of(r.warm, r.n_warm, offsetof(struct rs_sample, stop_ms), &r.stop);
	if (o->json)
		print_json(&c, &r);
	else
		print_text(&c, &r);
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = rc != 0 ? rc : -EIO;
out:
	files_remove(&c);
	free(r.warm);
	return rc;
}
