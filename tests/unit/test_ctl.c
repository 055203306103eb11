/*
 * test_ctl.c - unit tests of the control socket's server (controlplane/ctl.c)
 * and of control.roles (controlplane/roles.c), against a real socket in a
 * temporary directory, with test commands injected (cp_ctl_test_cmds):
 *
 *   - roles: root and vigild's own uid are admin; uids, user names, groups
 *     by name and number (the primary gid, the user's groups); the highest
 *     role wins; unknown names match nobody;
 *   - the socket: mode bits and group, a stale socket file replaced, a live
 *     server refused (-EADDRINUSE), a missing directory, a path that is no
 *     socket, a bad group; the file removed at stop; the start line logged;
 *   - framing: hello first (handshake), a protocol mismatch closes, lines
 *     that are not JSON, not an object, have no cmd, an id that is no number
 *     or string, args not an object; a 70 KB line (too_large) and the next
 *     request still answered; the 64 KiB boundary exactly; pipelining with
 *     number and string ids; a slow (deferred) request does not hold up a
 *     quick one; a client that half-closes still gets its answers;
 *   - load: 100 clients at once; a client that sends nothing, or half a
 *     line, while others are served; a follower that never reads is
 *     disconnected (slow_clients) while another client is answered at once;
 *     max_clients + 1 gets busy;
 *   - followers get every alarm change under their id; a follow queue that
 *     overflows disconnects every follower with an error;
 *   - roles on the wire (as root): a child as uid 65534 is denied, naming
 *     the role it needs; named as a viewer it gets further;
 *   - audit: state-changing commands (ok and failed) and denials are
 *     recorded, other commands are not, and the chain verifies;
 *   - stop: a running job finishes, queued ones are answered shutting_down,
 *     a late answer after stop is dropped safely.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "controlplane.h"
#include "ctl_private.h"
#include "cunit_main.h"

static char tmp_root[] = "/tmp/vigil-test-ctl-XXXXXX";
static char sock_path[100];
static char log_path[256];
static FILE *test_log; /* the servers' log */

/* ------------------------------------------------------------------------ */
/* Test commands                                                             */
/* ------------------------------------------------------------------------ */

static atomic_bool block_release;

/* Replies with its args. */
static void
cmd_echo(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	(void)c;
	cp_ctl_reply(call, json_pack("{s:O}", "args", args));
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static void
job_defer(struct cp_ctl *c, struct cp_ctl_call *call, void *arg)
{
	unsigned ms = (unsigned)(uintptr_t)arg;

	(void)c;
	sleep_ms(ms);
	cp_ctl_reply(call, json_pack("{s:i}", "deferred", (int)ms));
}

/* Replies from the job thread after args.ms. */
static void
cmd_defer(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	json_int_t ms = json_integer_value(json_object_get(args, "ms"));

	if (cp_ctl_job(c, call, job_defer, NULL, (void *)(uintptr_t)ms) != 0)
		cp_ctl_fail(call, "failed", "no memory");
}

static void
cmd_follow(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	(void)c;
	(void)args;
	if (cp_ctl_follow(call) != 0)
		cp_ctl_fail(call, "failed", "no memory");
}

/* Changes state: ok, or failed when args.fail. */
static void
cmd_state(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	(void)c;
	if (json_is_true(json_object_get(args, "fail")))
		cp_ctl_fail(call, "conflict", "it was already done");
	else
		cp_ctl_reply(call, json_pack("{s:b}", "done", 1));
}

/* Holds the server thread until block_release (at most 10 s). */
static void
cmd_block(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	(void)c;
	(void)args;
	for (int i = 0; i < 10000 && !atomic_load(&block_release); i++)
		sleep_ms(1);
	cp_ctl_reply(call, json_pack("{s:b}", "released", 1));
}

/* Answered from a thread of its own after args.ms, whatever happens meanwhile. */
struct late {
	struct cp_ctl_call *call;
	unsigned ms;
};
static pthread_t late_thread;
static bool late_started;

static void *
late_main(void *arg)
{
	struct late *l = arg;

	sleep_ms(l->ms);
	cp_ctl_reply(l->call, json_pack("{s:b}", "late", 1));
	free(l);
	return NULL;
}

static void
cmd_late(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	struct late *l = malloc(sizeof(*l));

	(void)c;
	l->call = call;
	l->ms = (unsigned)json_integer_value(json_object_get(args, "ms"));
	late_started = pthread_create(&late_thread, NULL, late_main, l) == 0;
	if (!late_started) {
		free(l);
		cp_ctl_fail(call, "failed", "no thread");
	}
}

static const struct cp_ctl_cmd test_cmds[] = {
	{.name = "test.echo", .role = CP_ROLE_VIEWER, .run = cmd_echo, .help = "echo"},
	{.name = "test.defer", .role = CP_ROLE_VIEWER, .run = cmd_defer, .help = "a job"},
	{.name = "test.follow", .role = CP_ROLE_VIEWER, .run = cmd_follow, .help = "follow"},
	{.name = "test.state",
	 .role = CP_ROLE_OPERATOR,
	 .changes_state = true,
	 .run = cmd_state,
	 .help = "state"},
	{.name = "test.block", .role = CP_ROLE_VIEWER, .run = cmd_block, .help = "block"},
	{.name = "test.late", .role = CP_ROLE_VIEWER, .run = cmd_late, .help = "late"},
	{.name = NULL},
};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int
suite_init(void)
{
	if (mkdtemp(tmp_root) == NULL)
		return -1;
	chmod(tmp_root, 0755); /* uid 65534 reaches the socket */
	snprintf(sock_path, sizeof(sock_path), "%s/ctl.sock", tmp_root);
	snprintf(log_path, sizeof(log_path), "%s/log", tmp_root);
	test_log = fopen(log_path, "w");
	if (test_log == NULL)
		return -1;
	cp_ctl_test_cmds = test_cmds;
	return 0;
}

static int
suite_cleanup(void)
{
	if (test_log != NULL)
		fclose(test_log);
	nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
opts_default(struct cp_ctl_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->path = sock_path;
	o->mode = 0600;
	o->log = test_log;
}

static struct cp_ctl *
start(const struct cp_ctl_opts *o)
{
	struct cp_ctl *c = NULL;
	char err[512] = "";
	int rc = cp_ctl_start(o, &c, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "\ncp_ctl_start: %d %s\n", rc, err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	return c;
}

static struct cp_ctl *
start_default(void)
{
	struct cp_ctl_opts o;

	opts_default(&o);
	return start(&o);
}

static uint64_t
counter(struct cp_ctl *c, enum cp_ctl_counter k)
{
	uint64_t v[CP_CTL__COUNT];

	cp_ctl_counters(c, v);
	return v[k];
}

/* Wait (up to @p ms) until counter @p k reaches @p want. */
static bool
wait_counter(struct cp_ctl *c, enum cp_ctl_counter k, uint64_t want, unsigned ms)
{
	int64_t end = mono_ms() + ms;

	while (counter(c, k) < want) {
		if (mono_ms() > end)
			return false;
		sleep_ms(2);
	}
	return true;
}

/* A client: a socket and what it has read but not yet taken (buf[off..len)). */
struct cli {
	int fd;
	char *buf;
	size_t off, len, cap;
};

static int
connect_to(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (strlen(path) >= sizeof(a.sun_path)) {
		close(fd);
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static struct cli *
cli_open(void)
{
	struct cli *k = calloc(1, sizeof(*k));

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	k->fd = connect_to(sock_path);
	CU_ASSERT_FATAL(k->fd >= 0);
	return k;
}

static void
cli_close(struct cli *k)
{
	if (k == NULL)
		return;
	if (k->fd >= 0)
		close(k->fd);
	free(k->buf);
	free(k);
}

static bool
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void
cli_send(struct cli *k, const char *text)
{
	CU_ASSERT_FATAL(write_all(k->fd, text, strlen(text)));
}

/* One line (malloc'd, no newline), or NULL at EOF, on an error or after 10 s. */
static char *
cli_line(struct cli *k)
{
	for (;;) {
		char *nl = k->len > k->off ? memchr(k->buf + k->off, '\n', k->len - k->off) : NULL;
		ssize_t n;

		if (nl != NULL) {
			size_t l = (size_t)(nl - (k->buf + k->off));
			char *line = malloc(l + 1);

			memcpy(line, k->buf + k->off, l);
			line[l] = '\0';
			k->off += l + 1;
			return line;
		}
		if (k->off > 0) {
			memmove(k->buf, k->buf + k->off, k->len - k->off);
			k->len -= k->off;
			k->off = 0;
		}
		if (k->cap - k->len < 65536) {
			k->cap = k->cap * 2 + 65536;
			k->buf = realloc(k->buf, k->cap);
		}
		n = recv(k->fd, k->buf + k->len, k->cap - k->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		k->len += (size_t)n;
	}
}

/* The next line as JSON (NULL: none, or not JSON). */
static json_t *
cli_get(struct cli *k)
{
	char *line = cli_line(k);
	json_t *j;

	if (line == NULL)
		return NULL;
	j = json_loads(line, 0, NULL);
	if (j == NULL)
		fprintf(stderr, "\nnot JSON: %.200s\n", line);
	free(line);
	return j;
}

/* Does the connection end (EOF or reset) with nothing more to read? */
static bool
cli_eof(struct cli *k)
{
	char b[4096];

	if (k->len > k->off)
		return false;
	for (;;) {
		ssize_t n = recv(k->fd, b, sizeof(b), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		return false;
	}
}

static const char *
err_code(json_t *r)
{
	return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

static const char *
err_message(json_t *r)
{
	const char *m = json_string_value(json_object_get(json_object_get(r, "error"), "message"));

	return m != NULL ? m : "";
}

/* The reply is an error @p code with id @p id (JSON text, "null" for none). */
static void
check_error(json_t *r, const char *id, const char *code)
{
	json_t *want = json_loads(id, JSON_DECODE_ANY, NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT(json_is_false(json_object_get(r, "ok")));
	CU_ASSERT_STRING_EQUAL(err_code(r) != NULL ? err_code(r) : "(none)", code);
	CU_ASSERT(json_equal(json_object_get(r, "id"), want));
	CU_ASSERT(strlen(err_message(r)) > 10);
	json_decref(want);
}

static void
check_ok(json_t *r, const char *id)
{
	json_t *want = json_loads(id, JSON_DECODE_ANY, NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	if (!json_is_true(json_object_get(r, "ok"))) {
		char *t = json_dumps(r, 0);

		fprintf(stderr, "\nnot ok: %s\n", t);
		free(t);
	}
	CU_ASSERT(json_is_true(json_object_get(r, "ok")));
	CU_ASSERT(json_equal(json_object_get(r, "id"), want));
	CU_ASSERT_PTR_NOT_NULL(json_object_get(r, "result"));
	json_decref(want);
}

#define HELLO "{\"id\":0,\"cmd\":\"hello\",\"args\":{\"protocol\":1,\"client\":\"test_ctl\"}}\n"

static void
cli_hello(struct cli *k)
{
	json_t *r;

	cli_send(k, HELLO);
	r = cli_get(k);
	check_ok(r, "0");
	json_decref(r);
}

/* Send @p req and take one reply. */
static json_t *
ask(struct cli *k, const char *req)
{
	cli_send(k, req);
	return cli_get(k);
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0;

	if (f == NULL)
		return strdup("");
	text = calloc(1, 1 << 20);
	len = fread(text, 1, (1 << 20) - 1, f);
	text[len] = '\0';
	fclose(f);
	return text;
}

/* Has a server logged @p text? */
static bool
log_has(const char *text)
{
	char *log = read_file(log_path);
	bool has = strstr(log, text) != NULL;

	free(log);
	return has;
}

/* ------------------------------------------------------------------------ */
/* Roles                                                                     */
/* ------------------------------------------------------------------------ */

static void
test_roles(void)
{
	struct cp_role_map m;
	char viewer[3][32] = {"1234", "daemon", "nosuchuser-xyz"};
	char op[2][32] = {"@nogroup", "1234"};
	char adm[2][32] = {"@0", "@nosuchgroup-xyz"};
	struct passwd *nobody = getpwnam("nobody");

	memset(&m, 0, sizeof(m));
	CU_ASSERT_EQUAL(cp_role_of(NULL, 0, 0, 999), CP_ROLE_ADMIN);
	CU_ASSERT_EQUAL(cp_role_of(NULL, 999, 999, 999), CP_ROLE_ADMIN);
	CU_ASSERT_EQUAL(cp_role_of(NULL, 1234, 1234, 999), CP_ROLE_NONE);
	CU_ASSERT_EQUAL(cp_role_of(&m, 1234, 1234, 999), CP_ROLE_NONE);

	m.n[CP_ROLE_VIEWER] = 3;
	for (int i = 0; i < 3; i++)
		m.entry[CP_ROLE_VIEWER][i] = viewer[i];
	/* uid in digits, a user name (daemon: uid 1), an unknown name */
	CU_ASSERT_EQUAL(cp_role_of(&m, 1234, 5000, 999), CP_ROLE_VIEWER);
	CU_ASSERT_EQUAL(cp_role_of(&m, 1, 5000, 999), CP_ROLE_VIEWER);
	CU_ASSERT_EQUAL(cp_role_of(&m, 1235, 5000, 999), CP_ROLE_NONE);
	CU_ASSERT_EQUAL(cp_role_of(&m, 0, 0, 999), CP_ROLE_ADMIN);

	/* the highest role that names it wins; a group by name via the user's groups */
	m.n[CP_ROLE_OPERATOR] = 2;
	for (int i = 0; i < 2; i++)
		m.entry[CP_ROLE_OPERATOR][i] = op[i];
	CU_ASSERT_EQUAL(cp_role_of(&m, 1234, 5000, 999), CP_ROLE_OPERATOR);
	if (nobody != NULL && getgrnam("nogroup") != NULL) {
		/* the socket's gid is not nogroup: the user's own groups are looked up */
		CU_ASSERT_EQUAL(cp_role_of(&m, nobody->pw_uid, 5000, 999), CP_ROLE_OPERATOR);
		CU_ASSERT_EQUAL(cp_role_of(&m, 5001, getgrnam("nogroup")->gr_gid, 999),
				CP_ROLE_OPERATOR);
	}
	/* "@0": the group root by number; an unknown group matches nobody */
	m.n[CP_ROLE_ADMIN] = 2;
	for (int i = 0; i < 2; i++)
		m.entry[CP_ROLE_ADMIN][i] = adm[i];
	CU_ASSERT_EQUAL(cp_role_of(&m, 5002, 0, 999), CP_ROLE_ADMIN);
	CU_ASSERT_EQUAL(cp_role_of(&m, 5002, 5002, 999), CP_ROLE_NONE);
	CU_ASSERT_EQUAL(cp_role_of(&m, 1, 1, 999), CP_ROLE_VIEWER);

	CU_ASSERT_STRING_EQUAL(cp_role_name(CP_ROLE_NONE), "none");
	CU_ASSERT_STRING_EQUAL(cp_role_name(CP_ROLE_VIEWER), "viewer");
	CU_ASSERT_STRING_EQUAL(cp_role_name(CP_ROLE_OPERATOR), "operator");
	CU_ASSERT_STRING_EQUAL(cp_role_name(CP_ROLE_ADMIN), "admin");
}

/* ------------------------------------------------------------------------ */
/* The socket                                                                */
/* ------------------------------------------------------------------------ */

static int
start_rc(const struct cp_ctl_opts *o, char *err, size_t errlen)
{
	struct cp_ctl *c = NULL;
	int rc = cp_ctl_start(o, &c, err, errlen);

	if (rc == 0)
		cp_ctl_stop(c);
	else
		CU_ASSERT_PTR_NULL(c);
	return rc;
}

static void
test_socket_file(void)
{
	struct cp_ctl_opts o;
	struct cp_ctl *c, *c2 = NULL;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char err[512], path[300];
	struct stat st;
	char *log;
	int fd, rc;

	/* mode bits and the group, by name */
	opts_default(&o);
	o.mode = 0640;
	o.group = getgrnam("nogroup") != NULL ? "nogroup" : "0";
	o.max_clients = 7;
	c = start(&o);
	CU_ASSERT_EQUAL(lstat(sock_path, &st), 0);
	CU_ASSERT(S_ISSOCK(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0640);
	CU_ASSERT_EQUAL(st.st_gid, getgrnam(o.group) != NULL ? getgrnam(o.group)->gr_gid : 0);

	/* a live server on the path: refused, the file left alone */
	opts_default(&o);
	rc = cp_ctl_start(&o, &c2, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, -EADDRINUSE);
	CU_ASSERT_PTR_NULL(c2);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "another vigild is listening on"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, sock_path));
	CU_ASSERT_EQUAL(lstat(sock_path, &st), 0);
	fd = connect_to(sock_path);
	CU_ASSERT(fd >= 0); /* the first still answers */
	if (fd >= 0)
		close(fd);
	cp_ctl_stop(c);
	CU_ASSERT_NOT_EQUAL(lstat(sock_path, &st), 0); /* removed at stop */

	/* a stale socket file (nobody listens): replaced */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(a.sun_path, sock_path, strlen(sock_path) + 1);
	CU_ASSERT_EQUAL(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	CU_ASSERT_EQUAL(lstat(sock_path, &st), 0);
	opts_default(&o);
	o.mode = 0;    /* 0660 */
	o.group = "0"; /* by number */
	c = start(&o);
	CU_ASSERT_EQUAL(lstat(sock_path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0660);
	CU_ASSERT_EQUAL(st.st_gid, 0);
	{
		struct cli *k = cli_open();

		cli_hello(k);
		cli_close(k);
	}
	cp_ctl_stop(c);

	/* a directory that is not there */
	opts_default(&o);
	snprintf(path, sizeof(path), "%s/no/such/dir/ctl.sock", tmp_root);
	o.path = path;
	rc = start_rc(&o, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not exist"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/no/such/dir"));

	/* a path that is a regular file: left alone */
	snprintf(path, sizeof(path), "%s/plain", tmp_root);
	fclose(fopen(path, "w"));
	rc = start_rc(&o, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a socket"));
	CU_ASSERT_EQUAL(lstat(path, &st), 0);
	CU_ASSERT(S_ISREG(st.st_mode));

	/* a path too long, a group that is not there, bad mode bits, no path */
	memset(path, 'x', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	CU_ASSERT_EQUAL(start_rc(&o, err, sizeof(err)), -ENAMETOOLONG);
	opts_default(&o);
	o.group = "no-such-group-xyz";
	CU_ASSERT_EQUAL(start_rc(&o, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "control.group no-such-group-xyz"));
	opts_default(&o);
	o.mode = 010000;
	CU_ASSERT_EQUAL(start_rc(&o, err, sizeof(err)), -EINVAL);
	o.path = NULL;
	CU_ASSERT_EQUAL(start_rc(&o, err, sizeof(err)), -EINVAL);
	cp_ctl_stop(NULL);

	log = read_file(log_path);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "vigild: control: listening on "));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "(mode 0640, group "));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "7 clients at most)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "(mode 0660, group 0, 256 clients at most)"));
	free(log);
}

/* ------------------------------------------------------------------------ */
/* Framing                                                                   */
/* ------------------------------------------------------------------------ */

static void
test_handshake(void)
{
	struct cp_ctl *c = start_default();
	struct cli *k = cli_open();
	struct passwd *pw = getpwuid(geteuid());
	json_t *r, *res;

	/* anything before hello: handshake, the connection stays */
	r = ask(k, "{\"id\":1,\"cmd\":\"test.echo\"}\n");
	check_error(r, "1", "handshake");
	json_decref(r);
	r = ask(k, "{\"id\":2,\"cmd\":\"no.such\"}\n");
	check_error(r, "2", "handshake");
	json_decref(r);
	/* hello: bad args */
	r = ask(k, "{\"id\":3,\"cmd\":\"hello\"}\n");
	check_error(r, "3", "bad_args");
	json_decref(r);
	r = ask(k, "{\"id\":4,\"cmd\":\"hello\",\"args\":{\"protocol\":1,\"extra\":1}}\n");
	check_error(r, "4", "bad_args");
	CU_ASSERT_PTR_NOT_NULL(strstr(err_message(r), "extra"));
	json_decref(r);
	r = ask(k, "{\"id\":5,\"cmd\":\"hello\",\"args\":{\"protocol\":1,\"client\":5}}\n");
	check_error(r, "5", "bad_args");
	json_decref(r);

	r = ask(k, HELLO);
	check_ok(r, "0");
	res = json_object_get(r, "result");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(res, "protocol")), CP_CTL_PROTOCOL);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(res, "server")),
			       "vigild " VIGIL_VERSION);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(res, "uid")), (json_int_t)geteuid());
	if (pw != NULL)
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(res, "user")),
				       pw->pw_name);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(res, "role")), "admin");
	json_decref(r);

	/* then: unknown commands, and known ones */
	r = ask(k, "{\"id\":6,\"cmd\":\"no.such.command\"}\n");
	check_error(r, "6", "unknown_command");
	CU_ASSERT_PTR_NOT_NULL(strstr(err_message(r), "no.such.command"));
	json_decref(r);
	r = ask(k, "{\"id\":7,\"cmd\":\"test.echo\",\"args\":{\"x\":[1,2]}}\n");
	check_ok(r, "7");
	CU_ASSERT_EQUAL(
		json_integer_value(json_array_get(
			json_object_get(json_object_get(json_object_get(r, "result"), "args"), "x"),
			1)),
		2);
	json_decref(r);
	/* args left out: an empty object */
	r = ask(k, "{\"id\":8,\"cmd\":\"test.echo\"}\n");
	check_ok(r, "8");
	CU_ASSERT_EQUAL(json_object_size(json_object_get(json_object_get(r, "result"), "args")), 0);
	json_decref(r);
	/* the real command table, if it is there: version answers from the server alone */
	if (cp_ctl_cmd_find("version") != NULL) {
		r = ask(k, "{\"id\":9,\"cmd\":\"version\"}\n");
		check_ok(r, "9");
		json_decref(r);
	}
	CU_ASSERT(counter(c, CP_CTL_errors) >= 6);
	CU_ASSERT(counter(c, CP_CTL_requests) >= 9);
	cli_close(k);
	cp_ctl_stop(c);
}

static void
test_protocol_mismatch(void)
{
	struct cp_ctl *c = start_default();
	struct cli *k = cli_open();
	json_t *r;

	/* a request pipelined behind the bad hello is not answered */
	cli_send(k, "{\"id\":\"h\",\"cmd\":\"hello\",\"args\":{\"protocol\":2}}\n"
		    "{\"id\":1,\"cmd\":\"hello\",\"args\":{\"protocol\":1}}\n");
	r = cli_get(k);
	check_error(r, "\"h\"", "protocol");
	CU_ASSERT_PTR_NOT_NULL(strstr(err_message(r), "protocol 1"));
	json_decref(r);
	CU_ASSERT(cli_eof(k));
	cli_close(k);
	cp_ctl_stop(c);
}

static void
test_malformed(void)
{
	static const struct {
		const char *line;
		const char *id;
		const char *code;
	} cases[] = {
		{"this is not json\n", "null", "malformed"},
		{"{\"id\":1,\"cmd\":\"test.echo\"\n", "null", "malformed"}, /* unfinished */
		{"[1,2,3]\n", "null", "malformed"},
		{"\"hello\"\n", "null", "malformed"},
		{"\n", "null", "malformed"},
		{"{\"id\":5}\n", "5", "malformed"},
		{"{\"id\":\"x\",\"cmd\":3}\n", "\"x\"", "malformed"},
		{"{\"id\":{\"a\":1},\"cmd\":\"test.echo\"}\n", "null", "malformed"},
		{"{\"id\":[1],\"cmd\":\"test.echo\"}\n", "null", "malformed"},
		{"{\"id\":1,\"id\":2,\"cmd\":\"test.echo\"}\n", "null", "malformed"},
		{"{\"id\":7,\"cmd\":\"test.echo\",\"args\":[1]}\n", "7", "bad_args"},
		{"{\"id\":8,\"cmd\":\"test.echo\",\"args\":\"a\"}\n", "8", "bad_args"},
		{"{\"id\":9,\"cmd\":\"hello\",\"args\":3}\n", "9", "bad_args"},
	};
	struct cp_ctl *c = start_default();
	struct cli *k = cli_open();
	json_t *r;

	cli_hello(k);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = ask(k, cases[i].line);
		check_error(r, cases[i].id, cases[i].code);
		json_decref(r);
	}
	CU_ASSERT_EQUAL(counter(c, CP_CTL_malformed), 10);
	/* the connection still works, \r\n too */
	r = ask(k, "{\"id\":10,\"cmd\":\"test.echo\"}\r\n");
	check_ok(r, "10");
	json_decref(r);
	cli_close(k);
	cp_ctl_stop(c);
}

/* A test.echo request of exactly @p total bytes, newline included. */
static char *
request_of(size_t total, const char *id)
{
	char head[64];
	const char *tail = "\"}}\n";
	size_t hl, tl = strlen(tail);
	char *s;

	hl = (size_t)snprintf(head, sizeof(head),
			      "{\"id\":%s,\"cmd\":\"test.echo\",\"args\":{\"pad\":\"", id);
	s = malloc(total + 1);
	memcpy(s, head, hl);
	memset(s + hl, 'a', total - hl - tl);
	memcpy(s + total - tl, tail, tl + 1);
	return s;
}

static void
test_oversized(void)
{
	struct cp_ctl *c = start_default();
	struct cli *k = cli_open();
	char *big;
	json_t *r;

	cli_hello(k);
	/* 70 KB, then a request on the same connection */
	big = request_of(70000, "1");
	cli_send(k, big);
	free(big);
	cli_send(k, "{\"id\":2,\"cmd\":\"test.echo\"}\n");
	r = cli_get(k);
	check_error(r, "null", "too_large");
	json_decref(r);
	r = cli_get(k);
	check_ok(r, "2");
	json_decref(r);
	CU_ASSERT_EQUAL(counter(c, CP_CTL_oversized), 1);

	/* the limit exactly: 65536 bytes with the newline pass, 65537 do not */
	big = request_of(CP_CTL_MAX_REQUEST, "3");
	r = ask(k, big);
	free(big);
	check_ok(r, "3");
	CU_ASSERT_EQUAL(strlen(json_string_value(json_object_get(
				json_object_get(json_object_get(r, "result"), "args"), "pad"))),
			CP_CTL_MAX_REQUEST -
				strlen("{\"id\":3,\"cmd\":\"test.echo\",\"args\":{\"pad\":\"") - 4);
	json_decref(r);
	big = request_of(CP_CTL_MAX_REQUEST + 1, "4");
	r = ask(k, big);
	free(big);
	check_error(r, "null", "too_large");
	json_decref(r);
	/* a huge line sent slowly in pieces, then one more request */
	big = request_of(300000, "5");
	for (size_t at = 0; at < 300000; at += 50000) {
		CU_ASSERT(write_all(k->fd, big + at, 50000));
		sleep_ms(5);
	}
	free(big);
	r = ask(k, "{\"id\":6,\"cmd\":\"test.echo\"}\n");
	check_error(r, "null", "too_large");
	json_decref(r);
	r = cli_get(k);
	check_ok(r, "6");
	json_decref(r);
	CU_ASSERT_EQUAL(counter(c, CP_CTL_oversized), 3);
	cli_close(k);
	cp_ctl_stop(c);
}

static void
test_pipelining(void)
{
	struct cp_ctl *c = start_default();
	struct cli *k = cli_open();
	json_t *r;

	/* hello and three requests in one write: answered in order, ids echoed */
	cli_send(k, HELLO "{\"id\":1,\"cmd\":\"test.echo\"}\n"
			  "{\"id\":\"two\",\"cmd\":\"test.echo\"}\n"
			  "{\"id\":3.5,\"cmd\":\"test.echo\"}\n"
			  "{\"cmd\":\"test.echo\"}\n");
	r = cli_get(k);
	check_ok(r, "0");
	json_decref(r);
	r = cli_get(k);
	check_ok(r, "1");
	json_decref(r);
	r = cli_get(k);
	check_ok(r, "\"two\"");
	json_decref(r);
	r = cli_get(k);
	check_ok(r, "3.5");
	json_decref(r);
	r = cli_get(k);
	check_ok(r, "null");
	json_decref(r);

	/* a slow (deferred) request does not hold up a quick one behind it */
	cli_send(k, "{\"id\":\"slow\",\"cmd\":\"test.defer\",\"args\":{\"ms\":300}}\n"
		    "{\"id\":\"fast\",\"cmd\":\"test.echo\"}\n");
	r = cli_get(k);
	check_ok(r, "\"fast\"");
	json_decref(r);
	r = cli_get(k);
	check_ok(r, "\"slow\"");
	CU_ASSERT_EQUAL(
		json_integer_value(json_object_get(json_object_get(r, "result"), "deferred")), 300);
	json_decref(r);

	/* a client that half-closes after its requests still gets its answers */
	cli_send(k, "{\"id\":20,\"cmd\":\"test.defer\",\"args\":{\"ms\":100}}\n"
		    "{\"id\":21,\"cmd\":\"test.echo\"}\n");
	shutdown(k->fd, SHUT_WR);
	r = cli_get(k);
	check_ok(r, "21");
	json_decref(r);
	r = cli_get(k);
	check_ok(r, "20");
	json_decref(r);
	CU_ASSERT(cli_eof(k));
	cli_close(k);
	cp_ctl_stop(c);
}

/* A client that half-closes and never reads what it is owed: closed after 10 s. */
static void
test_closing_reaped(void)
{
	struct cp_ctl *c = start_default();
	struct cli *k = cli_open();
	size_t total = 0;
	int64_t t0;
	char *big = request_of(60000, "1");
	char b[65536];

	cli_hello(k);
	for (int i = 0; i < 10; i++)
		cli_send(k, big);
	free(big);
	shutdown(k->fd, SHUT_WR);
	t0 = mono_ms();
	sleep_ms(12000);
	for (;;) {
		ssize_t n = recv(k->fd, b, sizeof(b), 0);

		if (n <= 0)
			break;
		total += (size_t)n;
	}
	printf("  a closing client that did not read: closed after %lld ms, %zu of ~600000 "
	       "bytes sent\n",
	       (long long)(mono_ms() - t0), total);
	CU_ASSERT(total > 0 && total < 500000);
	CU_ASSERT(mono_ms() - t0 < 12500); /* the end was there at once */
	cli_close(k);
	cp_ctl_stop(c);
}

#define MANY 100

static void
test_many_clients(void)
{
	struct cp_ctl *c = start_default();
	struct cli *k[MANY];
	char req[256], id[32];
	int64_t t0 = mono_ms();
	json_t *r;

	for (int i = 0; i < MANY; i++)
		k[i] = cli_open();
	for (int i = 0; i < MANY; i++) {
		snprintf(req, sizeof(req),
			 HELLO "{\"id\":\"c%d\",\"cmd\":\"test.echo\",\"args\":{\"n\":%d}}\n", i,
			 i);
		cli_send(k[i], req);
	}
	for (int i = MANY - 1; i >= 0; i--) {
		r = cli_get(k[i]);
		check_ok(r, "0");
		json_decref(r);
		r = cli_get(k[i]);
		snprintf(id, sizeof(id), "\"c%d\"", i);
		check_ok(r, id);
		CU_ASSERT_EQUAL(
			json_integer_value(json_object_get(
				json_object_get(json_object_get(r, "result"), "args"), "n")),
			i);
		json_decref(r);
	}
	printf("  %d clients: hello and one request each in %lld ms\n", MANY,
	       (long long)(mono_ms() - t0));
	CU_ASSERT_EQUAL(counter(c, CP_CTL_connections), MANY);
	CU_ASSERT_EQUAL(counter(c, CP_CTL_requests), 2 * MANY);
	CU_ASSERT_EQUAL(counter(c, CP_CTL_errors), 0);
	for (int i = 0; i < MANY; i++)
		cli_close(k[i]);
	cp_ctl_stop(c);
}

static void
test_silent_client(void)
{
	struct cp_ctl *c = start_default();
	struct cli *silent = cli_open(), *half = cli_open(), *k = cli_open();
	int64_t t0;
	json_t *r;

	/* one sends nothing, one half a line; the other is served at once */
	cli_send(half, "{\"id\":1,\"cmd\":\"hel");
	t0 = mono_ms();
	cli_hello(k);
	for (int i = 0; i < 20; i++) {
		r = ask(k, "{\"id\":1,\"cmd\":\"test.echo\"}\n");
		check_ok(r, "1");
		json_decref(r);
	}
	CU_ASSERT(mono_ms() - t0 < 1000);
	/* the half line completes later and is answered */
	cli_send(half, "lo\",\"args\":{\"protocol\":1}}\n");
	r = cli_get(half);
	check_ok(r, "1");
	json_decref(r);
	CU_ASSERT_EQUAL(counter(c, CP_CTL_connections), 3);
	cli_close(silent);
	cli_close(half);
	cli_close(k);
	cp_ctl_stop(c);
}

static void
test_slow_follower(void)
{
	struct cp_ctl *c = start_default();
	struct cli *slow = cli_open(), *k = cli_open();
	char line[1024];
	unsigned sent = 0, got = 0;
	int64_t t0;
	json_t *r;
	char *l;
	int n;

	/* the follower: answered {"following": true}, then never reads */
	cli_hello(slow);
	r = ask(slow, "{\"id\":\"f\",\"cmd\":\"test.follow\"}\n");
	check_ok(r, "\"f\"");
	CU_ASSERT(json_is_true(json_object_get(json_object_get(r, "result"), "following")));
	json_decref(r);
	cli_hello(k);

	n = snprintf(line, sizeof(line), "{\"alarm\":1,\"pad\":\"%0900d\"}", 0);
	while (counter(c, CP_CTL_slow_clients) == 0 && sent < 40000) {
		for (int i = 0; i < 500; i++)
			cp_ctl_announce(c, line, (size_t)n);
		sent += 500;
		sleep_ms(1);
	}
	CU_ASSERT(wait_counter(c, CP_CTL_slow_clients, 1, 5000));
	printf("  a follower that never reads: disconnected after %u alarm changes of %d bytes\n",
	       sent, n);
	CU_ASSERT(sent * (unsigned)n >= (4u << 20)); /* not before 4 MiB waited */
	CU_ASSERT(counter(c, CP_CTL_follow_events) > 4000);
	/* another client is answered at once */
	t0 = mono_ms();
	r = ask(k, "{\"id\":1,\"cmd\":\"test.echo\"}\n");
	check_ok(r, "1");
	json_decref(r);
	CU_ASSERT(mono_ms() - t0 < 500);
	/* the slow one finds whole events under its id, then the end */
	while ((l = cli_line(slow)) != NULL) {
		json_t *e = json_loads(l, 0, NULL);

		CU_ASSERT_PTR_NOT_NULL(e);
		if (e != NULL && json_object_get(e, "event") != NULL) {
			CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e, "id")), "f");
			CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e, "event")),
					       "alarm");
			CU_ASSERT_EQUAL(json_integer_value(json_object_get(
						json_object_get(e, "data"), "alarm")),
					1);
			got++;
		} else if (e != NULL) {
			check_error(e, "\"f\"", "failed"); /* the last words, when they fitted */
		}
		json_decref(e);
		free(l);
	}
	CU_ASSERT(got > 0 && got < sent);
	CU_ASSERT(log_has("pid ") &&
		  log_has("disconnected: more than 4 MiB of alarm changes unread"));
	cli_close(slow);
	cli_close(k);
	cp_ctl_stop(c);
}

static void
test_follow(void)
{
	struct cp_ctl *c = start_default();
	struct cli *f = cli_open(), *g = cli_open();
	char line[64];
	json_t *r;

	/* nobody follows: announcing costs nothing and counts nothing */
	cp_ctl_announce(c, "{\"n\":0}", 7);
	cp_ctl_announce(NULL, "{\"n\":0}", 7);
	cli_hello(f);
	r = ask(f, "{\"id\":42,\"cmd\":\"test.follow\"}\n");
	check_ok(r, "42");
	json_decref(r);
	cli_hello(g);
	r = ask(g, "{\"id\":\"g\",\"cmd\":\"test.follow\"}\n");
	check_ok(r, "\"g\"");
	json_decref(r);
	for (int i = 1; i <= 50; i++) {
		int n = snprintf(line, sizeof(line), "{\"n\":%d,\"state\":\"active\"}", i);

		cp_ctl_announce(c, line, (size_t)n);
	}
	for (int i = 1; i <= 50; i++) {
		r = cli_get(f);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "id")), 42);
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "event")), "alarm");
		CU_ASSERT_EQUAL(
			json_integer_value(json_object_get(json_object_get(r, "data"), "n")), i);
		json_decref(r);
		r = cli_get(g);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "id")), "g");
		CU_ASSERT_EQUAL(
			json_integer_value(json_object_get(json_object_get(r, "data"), "n")), i);
		json_decref(r);
	}
	CU_ASSERT_EQUAL(counter(c, CP_CTL_follow_events), 100);
	/* a follower may still ask */
	r = ask(f, "{\"id\":43,\"cmd\":\"test.echo\"}\n");
	check_ok(r, "43");
	json_decref(r);

	/* the queue overflows (the server thread held up): every follower is told and closed */
	cli_send(f, "{\"id\":44,\"cmd\":\"test.block\"}\n");
	sleep_ms(100); /* the server thread is in test.block */
	for (int i = 0; i < 65536 + 10; i++)
		cp_ctl_announce(c, "{\"x\":1}", 7);
	atomic_store(&block_release, true);
	for (struct cli *k = f; k != NULL; k = k == f ? g : NULL) {
		unsigned events = 0;
		bool told = false;

		while ((r = cli_get(k)) != NULL) {
			if (json_object_get(r, "event") != NULL)
				events++;
			else if (err_code(r) != NULL && strcmp(err_code(r), "failed") == 0)
				told = strstr(err_message(r), "follow queue overflowed") != NULL;
			json_decref(r);
		}
		if (!told || events != 65536)
			printf("  follower %s: %u events, told %d\n", k == f ? "f" : "g", events,
			       told);
		CU_ASSERT(told);
		CU_ASSERT_EQUAL(events, 65536); /* what was queued is sent, then the error */
	}
	atomic_store(&block_release, false);
	CU_ASSERT(log_has("every follower was disconnected"));
	CU_ASSERT_EQUAL(counter(c, CP_CTL_follow_lost), 10); /* the 10 past the queue */
	cli_close(f);
	cli_close(g);
	cp_ctl_stop(c);
}

static void
test_max_clients(void)
{
	struct cp_ctl_opts o;
	struct cp_ctl *c;
	struct cli *k[3], *extra;
	json_t *r;

	opts_default(&o);
	o.max_clients = 3;
	c = start(&o);
	for (int i = 0; i < 3; i++) {
		k[i] = cli_open();
		cli_hello(k[i]);
	}
	extra = cli_open();
	r = cli_get(extra);
	check_error(r, "null", "busy");
	CU_ASSERT_PTR_NOT_NULL(strstr(err_message(r), "control.max_clients"));
	json_decref(r);
	CU_ASSERT(cli_eof(extra));
	cli_close(extra);
	CU_ASSERT_EQUAL(counter(c, CP_CTL_refused_full), 1);
	CU_ASSERT_EQUAL(counter(c, CP_CTL_connections), 3);
	/* one leaves: the next is served */
	cli_close(k[0]);
	sleep_ms(50);
	k[0] = cli_open();
	cli_hello(k[0]);
	CU_ASSERT_EQUAL(counter(c, CP_CTL_connections), 4);
	for (int i = 0; i < 3; i++)
		cli_close(k[i]);
	cp_ctl_stop(c);
}

/* ------------------------------------------------------------------------ */
/* Roles on the wire, audit                                                  */
/* ------------------------------------------------------------------------ */

/*
 * A child as uid/gid 65534 sends @p reqs and relays the first @p n reply
 * lines. @return them (malloc'd, lines separated by newlines) or NULL.
 */
static char *
as_nobody(const char *reqs, int n)
{
	int p[2];
	pid_t pid;
	char *out;
	size_t len = 0;
	int st;

	if (pipe(p) != 0)
		return NULL;
	pid = fork();
	if (pid == 0) {
		char buf[65536];
		size_t have = 0;
		int lines = 0, fd;

		close(p[0]);
		if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
		    setresuid(65534, 65534, 65534) != 0)
			_exit(2);
		fd = connect_to(sock_path);
		if (fd < 0 || !write_all(fd, reqs, strlen(reqs)))
			_exit(3);
		while (lines < n && have < sizeof(buf)) {
			ssize_t r = recv(fd, buf + have, sizeof(buf) - have, 0);

			if (r <= 0)
				break;
			for (ssize_t i = 0; i < r; i++)
				lines += buf[have + (size_t)i] == '\n';
			have += (size_t)r;
		}
		if (write(p[1], buf, have) < 0)
			_exit(4);
		_exit(0);
	}
	close(p[1]);
	out = calloc(1, 65537);
	for (;;) {
		ssize_t r = read(p[0], out + len, 65536 - len);

		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(p[0]);
	waitpid(pid, &st, 0);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return out;
}

/* Line @p i of @p text as JSON. */
static json_t *
line_of(const char *text, int i)
{
	const char *p = text;
	char *nl;

	for (; i > 0 && p != NULL; i--) {
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	if (p == NULL)
		return NULL;
	nl = strchr(p, '\n');
	return nl != NULL ? json_loadb(p, (size_t)(nl - p), 0, NULL) : NULL;
}

struct audit_seen {
	int n;
	char text[8][1024];
};

static int
collect_audit(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	struct audit_seen *s = arg;

	(void)id;
	(void)time_ns;
	if (s->n < 8)
		snprintf(s->text[s->n], sizeof(s->text[0]), "%.*s", (int)len, json);
	s->n++;
	return 0;
}

static void
test_denied_and_audit(void)
{
	struct cp_role_map m;
	char viewer[] = "65534";
	struct cp_ctl_opts o;
	struct cp_ctl *c;
	struct store_opts so;
	struct store *s = NULL;
	struct cp_audit *a = NULL;
	struct cp_audit_verify v;
	struct audit_seen seen = {.n = 0};
	char dir[300], err[512] = "";
	char *out;
	json_t *r;
	int rc;

	if (geteuid() != 0) {
		printf("  skipped: needs root (a child becomes uid 65534)\n");
		return;
	}
	/* an audit chain on a store of its own */
	snprintf(dir, sizeof(dir), "%s/store", tmp_root);
	store_opts_defaults(&so);
	so.dir = dir;
	so.block_cache_mb = 8;
	so.write_buffer_mb = 4;
	so.expire_every_s = 0;
	rc = store_open(&so, &s, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "\nstore_open: %d %s\n", rc, err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	rc = cp_audit_open(s, NULL, &a, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "\ncp_audit_open: %d %s\n", rc, err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);

	/* no roles: uid 65534 has none, and is told which one it needs */
	opts_default(&o);
	o.mode = 0666;
	o.audit = a;
	c = start(&o);
	out = as_nobody(HELLO "{\"id\":1,\"cmd\":\"test.echo\",\"args\":{\"b\":1,\"a\":2}}\n", 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	r = line_of(out, 0);
	check_ok(r, "0");
	CU_ASSERT_STRING_EQUAL(
		json_string_value(json_object_get(json_object_get(r, "result"), "role")), "none");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(r, "result"), "uid")),
			65534);
	json_decref(r);
	r = line_of(out, 1);
	check_error(r, "1", "denied");
	CU_ASSERT_STRING_EQUAL(
		json_string_value(json_object_get(json_object_get(r, "error"), "role_needed")),
		"viewer");
	CU_ASSERT_PTR_NOT_NULL(
		strstr(err_message(r), "test.echo needs the viewer role; uid 65534"));
	json_decref(r);
	free(out);
	CU_ASSERT_EQUAL(counter(c, CP_CTL_denied), 1);
	cp_ctl_stop(c);

	/* named a viewer: it gets further, up to the operator's commands */
	memset(&m, 0, sizeof(m));
	m.n[CP_ROLE_VIEWER] = 1;
	m.entry[CP_ROLE_VIEWER][0] = viewer;
	o.roles = &m;
	c = start(&o);
	out = as_nobody(HELLO "{\"id\":1,\"cmd\":\"test.echo\"}\n"
			      "{\"id\":2,\"cmd\":\"test.state\",\"args\":{\"z\":1}}\n",
			3);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	r = line_of(out, 0);
	check_ok(r, "0");
	CU_ASSERT_STRING_EQUAL(
		json_string_value(json_object_get(json_object_get(r, "result"), "role")), "viewer");
	json_decref(r);
	r = line_of(out, 1);
	check_ok(r, "1");
	json_decref(r);
	r = line_of(out, 2);
	check_error(r, "2", "denied");
	CU_ASSERT_STRING_EQUAL(
		json_string_value(json_object_get(json_object_get(r, "error"), "role_needed")),
		"operator");
	CU_ASSERT_PTR_NOT_NULL(strstr(err_message(r), "is a viewer"));
	json_decref(r);
	free(out);

	/* as root (admin): a state change that works and one that fails are recorded */
	{
		struct cli *k = cli_open();

		cli_hello(k);
		r = ask(k, "{\"id\":3,\"cmd\":\"test.state\",\"args\":{\"b\":1,\"a\":2}}\n");
		check_ok(r, "3");
		json_decref(r);
		r = ask(k, "{\"id\":4,\"cmd\":\"test.state\",\"args\":{\"fail\":true}}\n");
		check_error(r, "4", "conflict");
		json_decref(r);
		r = ask(k, "{\"id\":5,\"cmd\":\"test.echo\"}\n");
		check_ok(r, "5");
		json_decref(r);
		cli_close(k);
	}
	cp_ctl_stop(c);

	/* 4 records: two denials, an ok, a conflict; none for hello or test.echo */
	CU_ASSERT_EQUAL(store_query_audit(s, 0, UINT64_MAX, collect_audit, &seen), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(seen.text[0], "\"command\":\"test.echo\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(seen.text[0], "\"result\":\"denied\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(seen.text[0], "\"role\":\"none\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(seen.text[0], "\"user\":\"nobody\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(seen.text[1], "\"command\":\"test.state\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(seen.text[1], "\"result\":\"denied\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(seen.text[2], "\"result\":\"ok\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(seen.text[2], "\"role\":\"admin\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(seen.text[3], "\"result\":\"conflict\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(seen.text[3], "already done"));
	cp_audit_close(a);
	memset(&v, 0, sizeof(v));
	CU_ASSERT_EQUAL(cp_audit_verify(s, NULL, &v, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(v.records, 4);
	store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Stop                                                                      */
/* ------------------------------------------------------------------------ */

static void
test_stop(void)
{
	struct cp_ctl *c = start_default();
	struct cli *k = cli_open();
	int64_t t0;
	json_t *r;
	int ok = 0, down = 0;

	cli_hello(k);
	/* a job running, two waiting: the first finishes, the others are not run */
	cli_send(k, "{\"id\":1,\"cmd\":\"test.defer\",\"args\":{\"ms\":300}}\n"
		    "{\"id\":2,\"cmd\":\"test.defer\",\"args\":{\"ms\":300}}\n"
		    "{\"id\":3,\"cmd\":\"test.defer\",\"args\":{\"ms\":300}}\n");
	sleep_ms(100);
	t0 = mono_ms();
	cp_ctl_stop(c);
	CU_ASSERT(mono_ms() - t0 < 2000);
	for (int i = 0; i < 3; i++) {
		r = cli_get(k);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		if (json_is_true(json_object_get(r, "ok")))
			ok++;
		else if (strcmp(err_code(r), "shutting_down") == 0)
			down++;
		json_decref(r);
	}
	CU_ASSERT_EQUAL(ok, 1);
	CU_ASSERT_EQUAL(down, 2);
	CU_ASSERT(cli_eof(k));
	cli_close(k);
	CU_ASSERT_NOT_EQUAL(access(sock_path, F_OK), 0);

	/* an answer that comes within 5 s is waited for and sent */
	c = start_default();
	k = cli_open();
	cli_hello(k);
	late_started = false;
	cli_send(k, "{\"id\":\"soon\",\"cmd\":\"test.late\",\"args\":{\"ms\":400}}\n");
	sleep_ms(50);
	t0 = mono_ms();
	cp_ctl_stop(c);
	CU_ASSERT(mono_ms() - t0 >= 300 && mono_ms() - t0 < 2000);
	r = cli_get(k);
	check_ok(r, "\"soon\"");
	json_decref(r);
	CU_ASSERT(cli_eof(k));
	cli_close(k);
	CU_ASSERT(late_started);
	if (late_started)
		pthread_join(late_thread, NULL);

	/* an answer later than 5 s: the server goes, the answer is dropped safely */
	c = start_default();
	k = cli_open();
	cli_hello(k);
	late_started = false;
	cli_send(k, "{\"id\":\"late\",\"cmd\":\"test.late\",\"args\":{\"ms\":5600}}\n");
	sleep_ms(50);
	t0 = mono_ms();
	cp_ctl_stop(c);
	CU_ASSERT(mono_ms() - t0 >= 4900 && mono_ms() - t0 < 5600);
	CU_ASSERT(cli_eof(k));
	cli_close(k);
	CU_ASSERT(late_started);
	if (late_started)
		pthread_join(late_thread, NULL); /* its reply touched nothing freed (ASan) */
	CU_ASSERT(log_has("1 requests still unanswered after 5 s; their answers are dropped"));
}

static void
test_counter_names(void)
{
	uint64_t v[CP_CTL__COUNT];

	for (unsigned i = 0; i < CP_CTL__COUNT; i++) {
		CU_ASSERT(strlen(cp_ctl_counter_name((enum cp_ctl_counter)i)) > 3);
		CU_ASSERT(strlen(cp_ctl_counter_desc((enum cp_ctl_counter)i)) > 10);
		for (unsigned j = 0; j < i; j++)
			CU_ASSERT(strcmp(cp_ctl_counter_name((enum cp_ctl_counter)i),
					 cp_ctl_counter_name((enum cp_ctl_counter)j)) != 0);
	}
	CU_ASSERT_STRING_EQUAL(cp_ctl_counter_name(CP_CTL_slow_clients), "slow_clients");
	memset(v, 0xff, sizeof(v));
	cp_ctl_counters(NULL, v);
	CU_ASSERT_EQUAL(v[CP_CTL_connections], 0);
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"roles", test_roles},
		{"the socket file", test_socket_file},
		{"handshake", test_handshake},
		{"protocol mismatch closes", test_protocol_mismatch},
		{"malformed requests", test_malformed},
		{"oversized requests", test_oversized},
		{"pipelining", test_pipelining},
		{"a closing client that does not read", test_closing_reaped},
		{"100 clients", test_many_clients},
		{"a silent client", test_silent_client},
		{"a follower that never reads", test_slow_follower},
		{"followers", test_follow},
		{"max_clients", test_max_clients},
		{"denied, and the audit", test_denied_and_audit},
		{"stop", test_stop},
		{"counter names", test_counter_names},
	};
	CU_pSuite suite;

	signal(SIGPIPE, SIG_IGN);
	suite = CU_add_suite("ctl", suite_init, suite_cleanup);
	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
