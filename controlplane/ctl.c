/*
 * ctl.c - the control socket's server (CONTROL.md is the protocol).
 *
 * One thread serves every client with epoll: the listener, the clients
 * (non-blocking), and an eventfd other threads write to wake it. A request
 * line becomes a call; the command (ctl_cmd.c) answers it at once on this
 * thread or later from any thread (a job on the job thread, or work the
 * consumer's thread does). Answers from other threads are queued to the
 * server thread, which alone touches the clients, writes their buffers and
 * appends to the audit chain. A call names its connection by an id (slot
 * and generation), never by a pointer, so the answer to a client that has
 * gone is dropped; the call is freed once its answer is written or dropped.
 *
 * Memory a client costs: its output while it waits (at most 4 MiB and one
 * reply, then it is disconnected as too slow) and the unfinished request
 * line it is sending (at most 64 KiB). A client that sends nothing costs
 * its descriptor and a few hundred bytes.
 *
 * Alarm changes (cp_ctl_announce, from the consumer's thread) are copied
 * into a bounded queue and sent by the server thread to every follower.
 *
 * Shutdown (cp_ctl_stop): the listener closes, new requests are answered
 * shutting_down, the job thread finishes its current job (the queued ones
 * are answered shutting_down), the server waits up to 5 s for calls still
 * out, then closes every client. The part a late answer touches (its queue
 * and lock) is reference-counted by the calls alive, so an answer after the
 * server has gone is dropped, never written to freed memory.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-qsbr.h>

#include "ctl_private.h"

#define CTL_DEFAULT_MAX_CLIENTS 256
#define CTL_DEFAULT_MODE 0660
#define CTL_OUT_LIMIT ((size_t)4 << 20) /* unsent bytes before a client is too slow */
#define CTL_OUT_KEEP ((size_t)64 << 10) /* an empty output buffer larger than this is freed */
#define CTL_IN_FIRST 4096		/* first input buffer; doubles up to a request's limit */
#define CTL_FOLLOW_QUEUE 65536		/* alarm changes waiting for the server thread */
#define CTL_STOP_WAIT_NS (5 * 1000000000LL)
#define CTL_CLOSE_WAIT_NS \
	(10 * 1000000000LL) /* a closing client that does not read its last lines */
#define CTL_BACKLOG 128
#define CTL_EVENTS 64
#define CTL_ACCEPTS 64 /* connections accepted per wake-up of the listener */
#define CTL_CMD_MAX 64 /* bytes of a command name kept */
#define CTL_CODE_MAX 24
#define CTL_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))

/** Test hook (ctl_private.h): consulted before cp_ctl_cmd_find when set. */
const struct cp_ctl_cmd *cp_ctl_test_cmds;

/* ------------------------------------------------------------------------ */
/* Types                                                                     */
/* ------------------------------------------------------------------------ */

/*
 * What an answer from another thread touches: kept alive by the calls until
 * the last one is freed, so that a late answer finds it.
 */
struct ctl_shared {
	pthread_mutex_t mu;
	int efd;	 /* wakes the server thread */
	bool dead;	 /* the server thread has gone: answers are dropped */
	bool owner_gone; /* cp_ctl_stop has let go of it */
	unsigned long calls;
	struct cp_ctl_call *head, *tail; /* answered, for the server thread */
};

struct cp_ctl_call {
	struct cp_ctl_call *next;
	struct cp_ctl *c;
	struct ctl_shared *sh;
	uint64_t conn; /* the connection's id */
	char cmd[CTL_CMD_MAX];
	struct cp_ctl_caller caller;
	char *id_text;	 /* the request's id as JSON text ("null" when none) */
	json_t *req;	 /* the request (owns the args) */
	char *args_text; /* for the audit record */
	bool audit;	 /* write a record once answered */
	bool follow;	 /* the answer makes the connection a follower */
	atomic_bool answered;
	/* The answer. */
	char *line; /* with its newline; NULL: no memory to say it */
	size_t len;
	char code[CTL_CODE_MAX]; /* "": ok */
	char *message;
};

struct ctl_client {
	uint64_t id; /* generation << 32 | slot */
	int fd;
	uint32_t events; /* registered with epoll */
	struct cp_ctl_caller caller;
	bool hello;
	bool eof;		/* the peer sends no more */
	bool close_after_flush; /* closed once its output and its calls are done */
	bool discarding;	/* skipping an oversized line up to its newline */
	bool doomed;		/* closed at the end of this turn of the loop */
	bool dirty;		/* in the flush list */
	bool follower;
	unsigned pending;   /* calls not answered yet */
	int64_t closing_ns; /* when its last output began to wait on a closing connection */
	char *follow_id;    /* the follow call's id (JSON text) */
	char *follow_prefix;
	size_t follow_prefix_len;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_off, out_len, out_cap;
	struct ctl_client *next_dirty, *next_doomed;
};

struct ctl_job {
	struct ctl_job *next;
	struct cp_ctl_call *call;
	void (*fn)(struct cp_ctl *c, struct cp_ctl_call *call, void *arg);
	void (*drop)(void *arg); /* frees arg of a job that does not run */
	void *arg;
};

struct ctl_line {
	struct ctl_line *next;
	size_t len;
	char text[];
};

struct cp_ctl {
	struct cp_ctl_opts opts; /* path: our copy */
	char *path;
	dev_t sock_dev;
	ino_t sock_ino;
	unsigned max_clients;
	int lfd, epfd;
	struct ctl_shared *sh;
	pthread_t server, jobber;
	bool server_started, jobber_started;
	atomic_bool stopping;  /* no new clients, no new requests */
	atomic_bool finishing; /* wait for the calls out, then go */
	int64_t finish_deadline_ns;
	/* Server thread only. */
	struct ctl_client **slot;
	uint32_t *slot_gen;
	unsigned *free_slot;
	unsigned n_free, n_clients;
	struct ctl_client *dirty, *doomed;
	bool listening;
	int64_t listen_resume_ns; /* accept paused (out of descriptors) until then */
	unsigned audit_failures;
	unsigned n_closing; /* clients with close_after_flush */
	int64_t closing_scan_ns;
	/* Followers of alarm changes. */
	atomic_uint n_followers;
	pthread_mutex_t amu;
	struct ctl_line *ahead, *atail;
	unsigned acount;
	bool aoverflow;
	/* The job thread. */
	pthread_mutex_t jmu;
	pthread_cond_t jcond;
	struct ctl_job *jhead, *jtail;
	bool jstop, jclosed;
	atomic_uint_fast64_t counter[CP_CTL__COUNT];
};

/* The server this thread serves, on the server thread (answers delivered at once). */
static _Thread_local struct cp_ctl *tls_server;
static char tag_listen, tag_wake;

static void deliver(struct cp_ctl *c, struct cp_ctl_call *call);

/* ------------------------------------------------------------------------ */
/* Small things                                                              */
/* ------------------------------------------------------------------------ */

static int64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
count(struct cp_ctl *c, enum cp_ctl_counter k, uint64_t n)
{
	atomic_fetch_add_explicit(&c->counter[k], n, memory_order_relaxed);
}

static void __attribute__((format(printf, 2, 3)))
ctl_log(const struct cp_ctl *c, const char *fmt, ...)
{
	FILE *f = c != NULL && c->opts.log != NULL ? c->opts.log : stderr;
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(f, "vigild: control: %s\n", line);
	fflush(f);
}

/* A malloc'd printf. */
static char *
vformat(const char *fmt, va_list ap)
{
	va_list aq;
	char *s;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (s != NULL)
		vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

/* The pieces (NULL-terminated list) concatenated, malloc'd; @p len its length. */
static char *
concat(size_t *len, ...)
{
	const char *p;
	size_t n = 0, at = 0;
	va_list ap;
	char *s;

	va_start(ap, len);
	while ((p = va_arg(ap, const char *)) != NULL)
		n += strlen(p);
	va_end(ap);
	s = malloc(n + 1);
	if (s == NULL)
		return NULL;
	va_start(ap, len);
	while ((p = va_arg(ap, const char *)) != NULL) {
		size_t k = strlen(p);

		memcpy(s + at, p, k);
		at += k;
	}
	va_end(ap);
	s[at] = '\0';
	if (len != NULL)
		*len = at;
	return s;
}

/* Copy @p src into @p dst (size @p n), cut on a UTF-8 character boundary. */
static void
copy_utf8(char *dst, size_t n, const char *src)
{
	size_t k = strlen(src);

	if (k >= n) {
		k = n - 1;
		while (k > 0 && ((unsigned char)src[k] & 0xc0) == 0x80)
			k--;
	}
	memcpy(dst, src, k);
	dst[k] = '\0';
}

/* A JSON string of @p s; bytes that are not UTF-8 become '?'. */
static json_t *
json_text(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j != NULL || s == NULL)
		return j;
	copy = strdup(s);
	if (copy == NULL)
		return NULL;
	for (char *p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static void
block_signals(void)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
}

static void
wake(struct ctl_shared *sh)
{
	uint64_t one = 1;

	if (write(sh->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, the server will wake anyway */
	}
}

/* ------------------------------------------------------------------------ */
/* Calls                                                                     */
/* ------------------------------------------------------------------------ */

static void
shared_destroy(struct ctl_shared *sh)
{
	if (sh->efd >= 0)
		close(sh->efd);
	pthread_mutex_destroy(&sh->mu);
	free(sh);
}

static void
call_free(struct cp_ctl_call *call)
{
	struct ctl_shared *sh = call->sh;
	bool last;

	free(call->line);
	free(call->message);
	free(call->id_text);
	free(call->args_text);
	json_decref(call->req);
	free(call);
	pthread_mutex_lock(&sh->mu);
	sh->calls--;
	last = sh->owner_gone && sh->calls == 0;
	pthread_mutex_unlock(&sh->mu);
	if (last)
		shared_destroy(sh);
}

/* Server thread: a call for @p cl; takes @p id_text and @p req. NULL: no memory. */
static struct cp_ctl_call *
call_new(struct cp_ctl *c, struct ctl_client *cl, char *id_text, json_t *req, const char *cmd)
{
	struct cp_ctl_call *call = calloc(1, sizeof(*call));

	if (call == NULL) {
		free(id_text);
		json_decref(req);
		return NULL;
	}
	call->c = c;
	call->sh = c->sh;
	call->conn = cl->id;
	copy_utf8(call->cmd, sizeof(call->cmd), cmd);
	call->caller = cl->caller;
	call->id_text = id_text;
	call->req = req;
	atomic_init(&call->answered, false);
	pthread_mutex_lock(&c->sh->mu);
	c->sh->calls++;
	pthread_mutex_unlock(&c->sh->mu);
	cl->pending++;
	return call;
}

/* Hand the answered call to the server thread (or deliver it, on that thread). */
static void
answer(struct cp_ctl_call *call)
{
	struct ctl_shared *sh = call->sh;

	if (atomic_exchange(&call->answered, true)) {
		/* A second answer: a command's bug. The call may be gone; do nothing. */
		return;
	}
	if (tls_server != NULL && tls_server == call->c) {
		deliver(call->c, call);
		return;
	}
	pthread_mutex_lock(&sh->mu);
	if (sh->dead) {
		pthread_mutex_unlock(&sh->mu);
		call_free(call);
		return;
	}
	call->next = NULL;
	if (sh->tail != NULL)
		sh->tail->next = call;
	else
		sh->head = call;
	sh->tail = call;
	if (sh->head == call)
		wake(sh);
	pthread_mutex_unlock(&sh->mu);
}

void
cp_ctl_reply(struct cp_ctl_call *call, json_t *result)
{
	char *text;

	if (call == NULL) {
		json_decref(result);
		return;
	}
	if (result == NULL) {
		cp_ctl_fail(call, "failed", "%s: out of memory building the reply", call->cmd);
		return;
	}
	text = json_dumps(result, CTL_DUMP_FLAGS);
	json_decref(result);
	if (text == NULL) {
		cp_ctl_fail(call, "failed", "%s: the reply could not be encoded as JSON",
			    call->cmd);
		return;
	}
	call->line = concat(&call->len, "{\"id\":", call->id_text, ",\"ok\":true,\"result\":", text,
			    "}\n", (const char *)NULL);
	free(text);
	answer(call);
}

/* The error line of @p id_text; NULL: no memory. */
static char *
error_line(const char *id_text, const char *code, const char *message, const char *role_needed,
	   size_t *len)
{
	json_t *e = json_object();
	char *text = NULL, *line = NULL;

	if (e == NULL)
		return NULL;
	if (json_object_set_new(e, "code", json_text(code)) != 0 ||
	    json_object_set_new(e, "message", json_text(message)) != 0)
		goto out;
	if (role_needed != NULL &&
	    json_object_set_new(e, "role_needed", json_text(role_needed)) != 0)
		goto out;
	text = json_dumps(e, CTL_DUMP_FLAGS);
	if (text == NULL)
		goto out;
	line = concat(len, "{\"id\":", id_text, ",\"ok\":false,\"error\":", text, "}\n",
		      (const char *)NULL);
out:
	free(text);
	json_decref(e);
	return line;
}

static void
fail_full(struct cp_ctl_call *call, const char *code, const char *message, const char *role_needed)
{
	copy_utf8(call->code, sizeof(call->code), code);
	call->message = strdup(message);
	call->line = error_line(call->id_text, code, message, role_needed, &call->len);
	answer(call);
}

void
cp_ctl_fail(struct cp_ctl_call *call, const char *code, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (call == NULL)
		return;
	va_start(ap, fmt);
	msg = vformat(fmt, ap);
	va_end(ap);
	fail_full(call, code, msg != NULL ? msg : "out of memory", NULL);
	free(msg);
}

const struct cp_ctl_caller *
cp_ctl_call_caller(const struct cp_ctl_call *call)
{
	return &call->caller;
}

const char *
cp_ctl_call_cmd(const struct cp_ctl_call *call)
{
	return call->cmd;
}

const struct cp_ctl_opts *
cp_ctl_options(const struct cp_ctl *c)
{
	return &c->opts;
}

int
cp_ctl_follow(struct cp_ctl_call *call)
{
	json_t *r = json_object();

	if (r == NULL || json_object_set_new(r, "following", json_true()) != 0) {
		json_decref(r);
		return -ENOMEM;
	}
	call->follow = true;
	cp_ctl_reply(call, r);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The job thread                                                            */
/* ------------------------------------------------------------------------ */

static void *
job_thread(void *arg)
{
	struct cp_ctl *c = arg;

	block_signals();
	urcu_qsbr_register_thread();
	urcu_qsbr_thread_offline();
	pthread_mutex_lock(&c->jmu);
	for (;;) {
		struct ctl_job *j;

		while (c->jhead == NULL && !c->jstop)
			pthread_cond_wait(&c->jcond, &c->jmu);
		if (c->jstop)
			break;
		j = c->jhead;
		c->jhead = j->next;
		if (c->jhead == NULL)
			c->jtail = NULL;
		pthread_mutex_unlock(&c->jmu);
		j->fn(c, j->call, j->arg);
		free(j);
		pthread_mutex_lock(&c->jmu);
	}
	pthread_mutex_unlock(&c->jmu);
	urcu_qsbr_unregister_thread();
	return NULL;
}

int
cp_ctl_job(struct cp_ctl *c, struct cp_ctl_call *call,
	   void (*fn)(struct cp_ctl *c, struct cp_ctl_call *call, void *arg),
	   void (*drop)(void *arg), void *arg)
{
	struct ctl_job *j = malloc(sizeof(*j));

	if (j == NULL)
		return -ENOMEM;
	j->next = NULL;
	j->call = call;
	j->fn = fn;
	j->drop = drop;
	j->arg = arg;
	pthread_mutex_lock(&c->jmu);
	if (c->jclosed) {
		pthread_mutex_unlock(&c->jmu);
		free(j);
		if (drop != NULL)
			drop(arg);
		cp_ctl_fail(call, "shutting_down", "vigild is shutting down; %s was not run",
			    call->cmd);
		return 0;
	}
	if (c->jtail != NULL)
		c->jtail->next = j;
	else
		c->jhead = j;
	c->jtail = j;
	pthread_cond_signal(&c->jcond);
	pthread_mutex_unlock(&c->jmu);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Clients: buffers and closing (server thread)                              */
/* ------------------------------------------------------------------------ */

static struct ctl_client *
client_find(struct cp_ctl *c, uint64_t id)
{
	uint32_t s = (uint32_t)id;
	struct ctl_client *cl;

	if (s >= c->max_clients)
		return NULL;
	cl = c->slot[s];
	return cl != NULL && cl->id == id ? cl : NULL;
}

static void
doom(struct cp_ctl *c, struct ctl_client *cl)
{
	if (cl->doomed)
		return;
	cl->doomed = true;
	cl->next_doomed = c->doomed;
	c->doomed = cl;
}

static void
mark_dirty(struct cp_ctl *c, struct ctl_client *cl)
{
	if (cl->dirty)
		return;
	cl->dirty = true;
	cl->next_dirty = c->dirty;
	c->dirty = cl;
}

/* The client is closed once its output is written and its calls answered. */
static void
set_closing(struct cp_ctl *c, struct ctl_client *cl)
{
	if (cl->close_after_flush)
		return;
	cl->close_after_flush = true;
	c->n_closing++;
}

/*
 * A closing client owed nothing more but its unread output: closed once it
 * has read nothing for 10 s (it holds a slot and up to 4 MiB otherwise).
 */
static void
reap_closing(struct cp_ctl *c)
{
	int64_t now = clock_ns(CLOCK_MONOTONIC);

	if (c->n_closing == 0 || now < c->closing_scan_ns)
		return;
	c->closing_scan_ns = now + 1000000000LL;
	for (unsigned s = 0; s < c->max_clients; s++) {
		struct ctl_client *cl = c->slot[s];

		if (cl == NULL || !cl->close_after_flush || cl->doomed)
			continue;
		if (cl->pending > 0 || cl->out_off == cl->out_len)
			cl->closing_ns = 0;
		else if (cl->closing_ns == 0)
			cl->closing_ns = now;
		else if (now - cl->closing_ns >= CTL_CLOSE_WAIT_NS)
			doom(c, cl);
	}
}

static void
set_events(struct cp_ctl *c, struct ctl_client *cl)
{
	uint32_t want = 0;
	struct epoll_event ev;

	if (!cl->eof && !cl->close_after_flush)
		want |= EPOLLIN;
	if (cl->out_off < cl->out_len)
		want |= EPOLLOUT;
	if (want == cl->events)
		return;
	ev.events = want;
	ev.data.ptr = cl;
	if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, cl->fd, &ev) == 0)
		cl->events = want;
	else
		doom(c, cl);
}

/* Write what the client's buffer holds, as far as the socket takes it. */
static void
flush_client(struct cp_ctl *c, struct ctl_client *cl)
{
	while (cl->out_off < cl->out_len) {
		ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			cl->out_off += (size_t)n;
			cl->closing_ns = 0; /* it reads: not stuck */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		doom(c, cl); /* the peer has gone */
		return;
	}
	if (cl->out_off == cl->out_len) {
		cl->out_off = cl->out_len = 0;
		if (cl->out_cap > CTL_OUT_KEEP) {
			free(cl->out);
			cl->out = NULL;
			cl->out_cap = 0;
		}
		if (cl->close_after_flush && cl->pending == 0) {
			doom(c, cl);
			return;
		}
	}
	set_events(c, cl);
}

/*
 * Too slow: keep what is left of a line partly sent, add the error if the
 * socket takes it, and close.
 */
static void
drop_slow(struct cp_ctl *c, struct ctl_client *cl, const char *what)
{
	char msg[160];
	char *line;
	size_t len;

	count(c, CP_CTL_slow_clients, 1);
	ctl_log(c, "uid %u (%s) pid %d disconnected: more than 4 MiB of %s unread",
		(unsigned)cl->caller.uid, cl->caller.user, (int)cl->caller.pid, what);
	if (cl->out_off > 0 && cl->out[cl->out_off - 1] != '\n') {
		char *nl = memchr(cl->out + cl->out_off, '\n', cl->out_len - cl->out_off);

		cl->out_len = nl != NULL ? (size_t)(nl - cl->out) + 1 : cl->out_off;
	} else {
		cl->out_len = cl->out_off;
	}
	snprintf(msg, sizeof(msg), "too slow: more than 4 MiB of %s unread; read faster", what);
	line = error_line(cl->follower ? cl->follow_id : "null", "failed", msg, NULL, &len);
	if (line != NULL && cl->out_cap - cl->out_len >= len) {
		memcpy(cl->out + cl->out_len, line, len);
		cl->out_len += len;
	}
	free(line);
	set_closing(c, cl);
	flush_client(c, cl);
	doom(c, cl);
}

/*
 * Room for @p len more bytes in the client's output. NULL: the client is too
 * slow (disconnected) or there is no memory (disconnected).
 */
static char *
out_reserve(struct cp_ctl *c, struct ctl_client *cl, size_t len, const char *what)
{
	if (cl->doomed)
		return NULL;
	if (cl->out_len - cl->out_off >= CTL_OUT_LIMIT) {
		flush_client(c, cl);
		if (cl->doomed)
			return NULL;
		if (cl->out_len - cl->out_off >= CTL_OUT_LIMIT) {
			drop_slow(c, cl, what);
			return NULL;
		}
	}
	if (cl->out_off > 0 && cl->out_cap - cl->out_len < len) {
		memmove(cl->out, cl->out + cl->out_off, cl->out_len - cl->out_off);
		cl->out_len -= cl->out_off;
		cl->out_off = 0;
	}
	if (cl->out_cap - cl->out_len < len) {
		size_t cap = cl->out_cap != 0 ? cl->out_cap : 4096;
		char *n;

		while (cap - cl->out_len < len)
			cap *= 2;
		n = realloc(cl->out, cap);
		if (n == NULL) {
			ctl_log(c, "uid %u (%s) pid %d disconnected: out of memory for its replies",
				(unsigned)cl->caller.uid, cl->caller.user, (int)cl->caller.pid);
			doom(c, cl);
			return NULL;
		}
		cl->out = n;
		cl->out_cap = cap;
	}
	mark_dirty(c, cl);
	cl->out_len += len;
	return cl->out + cl->out_len - len;
}

static void
out_append(struct cp_ctl *c, struct ctl_client *cl, const char *data, size_t len)
{
	char *p = out_reserve(c, cl, len, "replies");

	if (p != NULL)
		memcpy(p, data, len);
}

/* An error the server answers itself, not through a call (no id to keep). */
static void
send_error(struct cp_ctl *c, struct ctl_client *cl, const char *id_text, const char *code,
	   const char *message)
{
	size_t len;
	char *line = error_line(id_text, code, message, NULL, &len);

	count(c, CP_CTL_requests, 1);
	count(c, CP_CTL_errors, 1);
	if (line == NULL) {
		doom(c, cl);
		return;
	}
	out_append(c, cl, line, len);
	free(line);
}

static void
client_close(struct cp_ctl *c, struct ctl_client *cl)
{
	uint32_t s = (uint32_t)cl->id;

	if (cl->follower)
		atomic_fetch_sub(&c->n_followers, 1);
	if (cl->close_after_flush)
		c->n_closing--;
	close(cl->fd); /* leaves the epoll set with it */
	c->slot[s] = NULL;
	c->free_slot[c->n_free++] = s;
	c->n_clients--;
	free(cl->follow_prefix);
	free(cl->follow_id);
	free(cl->in);
	free(cl->out);
	free(cl);
}

static void
close_doomed(struct cp_ctl *c)
{
	while (c->doomed != NULL) {
		struct ctl_client *cl = c->doomed;

		c->doomed = cl->next_doomed;
		client_close(c, cl);
	}
}

static void
flush_dirty(struct cp_ctl *c)
{
	while (c->dirty != NULL) {
		struct ctl_client *cl = c->dirty;

		c->dirty = cl->next_dirty;
		cl->dirty = false;
		if (!cl->doomed)
			flush_client(c, cl);
	}
}

/* ------------------------------------------------------------------------ */
/* Answers, audit, followers (server thread)                                 */
/* ------------------------------------------------------------------------ */

static void
audit_record(struct cp_ctl *c, const struct cp_ctl_call *call)
{
	struct cp_audit_entry e = {
		.uid = call->caller.uid,
		.user = call->caller.user,
		.role = call->caller.role,
		.command = call->cmd,
		.args = call->args_text != NULL ? call->args_text : "{}",
		.result = call->code[0] != '\0' ? call->code : "ok",
		.detail = call->code[0] != '\0' ? call->message : NULL,
	};
	int rc = cp_audit_append(c->opts.audit, &e, clock_ns(CLOCK_REALTIME), NULL);

	count(c, rc < 0 ? CP_CTL_audit_failed : CP_CTL_audited, 1);
	if (rc < 0) {
		c->audit_failures++;
		if (c->audit_failures == 1 || c->audit_failures % 1000 == 0)
			ctl_log(c,
				"audit: the record of %s by uid %u (%s) was not written: %s "
				"(%u records lost so far; check the storage)",
				call->cmd, (unsigned)call->caller.uid, call->caller.user,
				strerror(-rc), c->audit_failures);
	}
}

static void
make_follower(struct cp_ctl *c, struct ctl_client *cl, const char *id_text)
{
	size_t len;
	char *prefix = concat(&len, "{\"id\":", id_text,
			      ",\"event\":\"alarm\",\"data\":", (const char *)NULL);
	char *id = strdup(id_text);

	if (prefix == NULL || id == NULL) {
		free(prefix);
		free(id);
		doom(c, cl);
		return;
	}
	free(cl->follow_prefix);
	free(cl->follow_id);
	cl->follow_prefix = prefix;
	cl->follow_id = id;
	cl->follow_prefix_len = len;
	if (!cl->follower) {
		cl->follower = true;
		atomic_fetch_add(&c->n_followers, 1);
	}
}

static void
deliver(struct cp_ctl *c, struct cp_ctl_call *call)
{
	struct ctl_client *cl = client_find(c, call->conn);

	if (cl != NULL) {
		cl->pending--;
		if (call->line == NULL) {
			ctl_log(c, "uid %u (%s) pid %d disconnected: out of memory for a reply",
				(unsigned)cl->caller.uid, cl->caller.user, (int)cl->caller.pid);
			doom(c, cl);
		} else if (!cl->doomed) {
			out_append(c, cl, call->line, call->len);
			if (call->follow && call->code[0] == '\0' && !cl->doomed)
				make_follower(c, cl, call->id_text);
		}
		if (!cl->doomed)
			mark_dirty(c,
				   cl); /* flushed (and closed if it should be) at the turn's end */
	}
	count(c, CP_CTL_requests, 1);
	if (call->code[0] != '\0')
		count(c, CP_CTL_errors, 1);
	if (call->audit && c->opts.audit != NULL)
		audit_record(c, call);
	call_free(call);
}

static void
drain_answers(struct cp_ctl *c)
{
	struct cp_ctl_call *call;

	pthread_mutex_lock(&c->sh->mu);
	call = c->sh->head;
	c->sh->head = c->sh->tail = NULL;
	pthread_mutex_unlock(&c->sh->mu);
	while (call != NULL) {
		struct cp_ctl_call *next = call->next;

		deliver(c, call);
		call = next;
	}
}

static void
drain_announces(struct cp_ctl *c)
{
	struct ctl_line *list, *l;
	bool overflow;

	pthread_mutex_lock(&c->amu);
	list = c->ahead;
	overflow = c->aoverflow;
	c->ahead = c->atail = NULL;
	c->acount = 0;
	c->aoverflow = false;
	pthread_mutex_unlock(&c->amu);
	if (list == NULL && !overflow)
		return;
	for (unsigned s = 0; s < c->max_clients; s++) {
		struct ctl_client *cl = c->slot[s];
		uint64_t sent = 0;

		if (cl == NULL || !cl->follower || cl->doomed)
			continue;
		for (l = list; l != NULL; l = l->next) {
			char *p = out_reserve(c, cl, cl->follow_prefix_len + l->len + 2,
					      "alarm changes");

			if (p == NULL)
				break;
			memcpy(p, cl->follow_prefix, cl->follow_prefix_len);
			p += cl->follow_prefix_len;
			memcpy(p, l->text, l->len);
			memcpy(p + l->len, "}\n", 2);
			sent++;
		}
		count(c, CP_CTL_follow_events, sent);
		if (overflow && !cl->doomed) {
			char *line;
			size_t len;

			line = error_line(cl->follow_id, "failed",
					  "alarm changes lost: the follow queue overflowed", NULL,
					  &len);
			if (line != NULL) {
				char *p = out_reserve(c, cl, len, "alarm changes");

				if (p != NULL)
					memcpy(p, line, len);
			}
			free(line);
			set_closing(c, cl);
			set_events(c, cl);
		}
	}
	if (overflow)
		ctl_log(c,
			"alarm changes came faster than %u could wait; every follower was "
			"disconnected",
			CTL_FOLLOW_QUEUE);
	while (list != NULL) {
		l = list->next;
		free(list);
		list = l;
	}
}

void
cp_ctl_announce(struct cp_ctl *c, const char *line, size_t len)
{
	struct ctl_line *l;
	bool first;

	if (c == NULL || line == NULL || len == 0 ||
	    atomic_load_explicit(&c->n_followers, memory_order_relaxed) == 0)
		return;
	l = malloc(sizeof(*l) + len);
	pthread_mutex_lock(&c->amu);
	if (l == NULL || c->acount >= CTL_FOLLOW_QUEUE) {
		first = !c->aoverflow && c->ahead == NULL;
		c->aoverflow = true;
		pthread_mutex_unlock(&c->amu);
		free(l);
		count(c, CP_CTL_follow_lost, 1);
		if (first)
			wake(c->sh);
		return;
	}
	l->next = NULL;
	l->len = len;
	memcpy(l->text, line, len);
	first = c->ahead == NULL && !c->aoverflow;
	if (c->atail != NULL)
		c->atail->next = l;
	else
		c->ahead = l;
	c->atail = l;
	c->acount++;
	pthread_mutex_unlock(&c->amu);
	if (first)
		wake(c->sh);
}

/* ------------------------------------------------------------------------ */
/* Requests (server thread)                                                  */
/* ------------------------------------------------------------------------ */

static const struct cp_ctl_cmd *
find_cmd(const char *name)
{
	if (cp_ctl_test_cmds != NULL)
		for (const struct cp_ctl_cmd *t = cp_ctl_test_cmds; t->name != NULL; t++)
			if (strcmp(t->name, name) == 0)
				return t;
	return cp_ctl_cmd_find(name);
}

static void
do_hello(struct cp_ctl *c, struct ctl_client *cl, struct cp_ctl_call *call, json_t *args)
{
	json_t *protocol = NULL, *client = NULL, *v, *r;
	const char *key;

	(void)c;
	if (args != NULL) {
		json_object_foreach(args, key, v)
		{
			if (strcmp(key, "protocol") == 0) {
				protocol = v;
			} else if (strcmp(key, "client") == 0) {
				client = v;
			} else {
				char k[CTL_CMD_MAX];

				copy_utf8(k, sizeof(k), key);
				cp_ctl_fail(call, "bad_args",
					    "hello: unknown argument \"%s\" (it takes protocol "
					    "and client)",
					    k);
				return;
			}
		}
	}
	if (!json_is_integer(protocol)) {
		cp_ctl_fail(call, "bad_args",
			    "hello needs \"protocol\": %d, the protocol the client speaks",
			    CP_CTL_PROTOCOL);
		return;
	}
	if (client != NULL && !json_is_string(client)) {
		cp_ctl_fail(call, "bad_args", "hello: \"client\" is a string (\"vigilctl 0.1.0\")");
		return;
	}
	if (json_integer_value(protocol) != CP_CTL_PROTOCOL) {
		set_closing(c, cl);
		cp_ctl_fail(call, "protocol",
			    "this vigild speaks protocol %d, the client %lld: use the vigilctl of "
			    "this vigild's version",
			    CP_CTL_PROTOCOL, (long long)json_integer_value(protocol));
		return;
	}
	cl->hello = true;
	r = json_object();
	if (r == NULL || json_object_set_new(r, "protocol", json_integer(CP_CTL_PROTOCOL)) != 0 ||
	    json_object_set_new(r, "server", json_string("vigild " VIGIL_VERSION)) != 0 ||
	    json_object_set_new(r, "uid", json_integer((json_int_t)cl->caller.uid)) != 0 ||
	    json_object_set_new(r, "user", json_text(cl->caller.user)) != 0 ||
	    json_object_set_new(r, "role", json_string(cp_role_name(cl->caller.role))) != 0) {
		json_decref(r);
		r = NULL;
	}
	cp_ctl_reply(call, r);
}

static void
deny(struct cp_ctl *c, struct cp_ctl_call *call, const struct cp_ctl_cmd *cmd)
{
	const struct cp_ctl_caller *who = &call->caller;
	char msg[256];

	count(c, CP_CTL_denied, 1);
	if (who->role == CP_ROLE_NONE)
		snprintf(msg, sizeof(msg),
			 "%s needs the %s role; uid %u (%s) has no role (control.roles names it "
			 "nowhere)",
			 call->cmd, cp_role_name(cmd->role), (unsigned)who->uid, who->user);
	else
		snprintf(msg, sizeof(msg), "%s needs the %s role; uid %u (%s) is %s %s", call->cmd,
			 cp_role_name(cmd->role), (unsigned)who->uid, who->user,
			 who->role == CP_ROLE_OPERATOR || who->role == CP_ROLE_ADMIN ? "an" : "a",
			 cp_role_name(who->role));
	fail_full(call, "denied", msg, cp_role_name(cmd->role));
}

static void
handle_line(struct cp_ctl *c, struct ctl_client *cl, const char *text, size_t len)
{
	const struct cp_ctl_cmd *cmd;
	struct cp_ctl_call *call;
	json_t *req, *id, *name, *args;
	json_error_t jerr;
	char *id_text;
	char msg[256];

	req = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL) {
		count(c, CP_CTL_malformed, 1);
		snprintf(msg, sizeof(msg), "the request is not JSON: %s (column %d)", jerr.text,
			 jerr.column);
		send_error(c, cl, "null", "malformed", msg);
		return;
	}
	if (!json_is_object(req)) {
		count(c, CP_CTL_malformed, 1);
		send_error(c, cl, "null", "malformed",
			   "a request is a JSON object: {\"id\": 1, \"cmd\": \"hello\", \"args\": "
			   "{...}}");
		json_decref(req);
		return;
	}
	id = json_object_get(req, "id");
	if (id == NULL || json_is_null(id)) {
		id_text = strdup("null");
	} else if (json_is_number(id) || json_is_string(id)) {
		id_text = json_dumps(id, CTL_DUMP_FLAGS);
	} else {
		count(c, CP_CTL_malformed, 1);
		send_error(c, cl, "null", "malformed", "\"id\" is a number or a string");
		json_decref(req);
		return;
	}
	if (id_text == NULL) {
		json_decref(req);
		doom(c, cl);
		return;
	}
	name = json_object_get(req, "cmd");
	if (!json_is_string(name)) {
		count(c, CP_CTL_malformed, 1);
		send_error(c, cl, id_text, "malformed",
			   "the request has no \"cmd\": it names its command as a string");
		free(id_text);
		json_decref(req);
		return;
	}
	call = call_new(c, cl, id_text, req, json_string_value(name));
	if (call == NULL) {
		doom(c, cl);
		return;
	}
	args = json_object_get(req, "args");
	if (atomic_load(&c->stopping)) {
		cp_ctl_fail(call, "shutting_down", "vigild is shutting down");
		return;
	}
	if (args != NULL && !json_is_object(args)) {
		cp_ctl_fail(call, "bad_args", "\"args\" is an object: {\"name\": value, ...}");
		return;
	}
	if (strcmp(call->cmd, "hello") == 0) {
		do_hello(c, cl, call, args);
		return;
	}
	if (!cl->hello) {
		cp_ctl_fail(call, "handshake",
			    "say hello first: {\"id\": 1, \"cmd\": \"hello\", \"args\": "
			    "{\"protocol\": %d}}",
			    CP_CTL_PROTOCOL);
		return;
	}
	cmd = find_cmd(json_string_value(name));
	if (cmd == NULL) {
		cp_ctl_fail(call, "unknown_command", "no command \"%s\" (vigilctl help lists them)",
			    call->cmd);
		return;
	}
	if (args == NULL) {
		args = json_object();
		if (args == NULL || json_object_set_new(req, "args", args) != 0) {
			cp_ctl_fail(call, "failed", "out of memory");
			return;
		}
	}
	if (c->opts.audit != NULL && (cmd->changes_state || cl->caller.role < cmd->role)) {
		call->audit = true;
		call->args_text = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
	}
	if (cl->caller.role < cmd->role) {
		deny(c, call, cmd);
		return;
	}
	/* The args stay valid while run runs, even when it answers at once (the call,
	 * which owns them, is freed then). */
	json_incref(req);
	cmd->run(c, call, args);
	json_decref(req);
}

/* ------------------------------------------------------------------------ */
/* Reading (server thread)                                                   */
/* ------------------------------------------------------------------------ */

static void
read_client(struct cp_ctl *c, struct ctl_client *cl)
{
	size_t start = 0, from, rest;
	ssize_t n;

	if (cl->in_len == cl->in_cap) {
		size_t cap = cl->in_cap != 0 ? cl->in_cap * 2 : CTL_IN_FIRST;
		char *b;

		if (cap > CP_CTL_MAX_REQUEST)
			cap = CP_CTL_MAX_REQUEST;
		b = realloc(cl->in, cap);
		if (b == NULL) {
			doom(c, cl);
			return;
		}
		cl->in = b;
		cl->in_cap = cap;
	}
	n = recv(cl->fd, cl->in + cl->in_len, cl->in_cap - cl->in_len, MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			doom(c, cl);
		return;
	}
	if (n == 0) {
		/* The peer sends no more; it still gets the answers it is owed. */
		cl->eof = true;
		set_closing(c, cl);
		cl->in_len = 0;
		mark_dirty(c, cl);
		set_events(c, cl);
		return;
	}
	from = cl->in_len;
	cl->in_len += (size_t)n;
	while (!cl->doomed && !cl->close_after_flush) {
		char *nl = memchr(cl->in + from, '\n', cl->in_len - from);
		size_t end;

		if (nl == NULL)
			break;
		end = (size_t)(nl - cl->in);
		if (cl->discarding)
			cl->discarding = false;
		else
			handle_line(c, cl, cl->in + start, end - start);
		start = from = end + 1;
	}
	rest = cl->in_len - start;
	if (cl->discarding || cl->doomed || cl->close_after_flush)
		rest = 0;
	if (rest > 0 && start > 0)
		memmove(cl->in, cl->in + start, rest);
	cl->in_len = rest;
	if (rest == CP_CTL_MAX_REQUEST) {
		count(c, CP_CTL_oversized, 1);
		send_error(c, cl, "null", "too_large",
			   "the request is longer than 65536 bytes; it is skipped up to its "
			   "newline");
		cl->discarding = true;
		cl->in_len = 0;
	}
	if (cl->in_len == 0 && cl->in_cap > CTL_IN_FIRST) {
		free(cl->in);
		cl->in = NULL;
		cl->in_cap = 0;
	}
	if (cl->close_after_flush)
		set_events(c, cl);
}

static void
client_event(struct cp_ctl *c, struct ctl_client *cl, uint32_t events)
{
	if (cl->doomed)
		return;
	if (events & EPOLLERR) {
		doom(c, cl);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP)) && (cl->events & EPOLLIN))
		read_client(c, cl);
	if (events & EPOLLHUP) {
		doom(c, cl); /* gone both ways: nothing can reach it */
		return;
	}
	if (events & EPOLLOUT)
		mark_dirty(c, cl);
}

/* ------------------------------------------------------------------------ */
/* Accepting (server thread)                                                 */
/* ------------------------------------------------------------------------ */

static void
refuse_busy(struct cp_ctl *c, int fd)
{
	char msg[128];
	size_t len;
	char *line;

	count(c, CP_CTL_refused_full, 1);
	snprintf(msg, sizeof(msg),
		 "too many clients: %u are connected (control.max_clients); try again later",
		 c->n_clients);
	line = error_line("null", "busy", msg, NULL, &len);
	if (line != NULL && send(fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* best effort: it is closed anyway */
	}
	free(line);
	close(fd);
}

static void
add_client(struct cp_ctl *c, int fd)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct epoll_event ev;
	struct ctl_client *cl;
	unsigned s;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
		ctl_log(c, "a client's credentials (SO_PEERCRED) could not be read: %s; closed",
			strerror(errno));
		close(fd);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (cl == NULL) {
		close(fd);
		return;
	}
	s = c->free_slot[--c->n_free];
	c->slot_gen[s]++;
	cl->id = (uint64_t)c->slot_gen[s] << 32 | s;
	cl->fd = fd;
	cl->caller.uid = cred.uid;
	cl->caller.gid = cred.gid;
	cl->caller.pid = cred.pid;
	cp_user_name(cred.uid, cl->caller.user, sizeof(cl->caller.user));
	cl->caller.role = cp_role_of(c->opts.roles, cred.uid, cred.gid, geteuid());
	cl->events = EPOLLIN;
	ev.events = EPOLLIN;
	ev.data.ptr = cl;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		ctl_log(c, "a client could not be watched (epoll): %s; closed", strerror(errno));
		c->free_slot[c->n_free++] = s;
		close(fd);
		free(cl);
		return;
	}
	c->slot[s] = cl;
	c->n_clients++;
	count(c, CP_CTL_connections, 1);
}

static void
listener_off(struct cp_ctl *c)
{
	if (!c->listening)
		return;
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->lfd, NULL);
	c->listening = false;
}

static void
listener_on(struct cp_ctl *c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &tag_listen};

	if (c->listening || c->lfd < 0)
		return;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->lfd, &ev) == 0)
		c->listening = true;
}

static void
accept_clients(struct cp_ctl *c)
{
	for (int i = 0; i < CTL_ACCEPTS; i++) {
		int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* Out of descriptors or memory: try again in a while. */
			ctl_log(c, "accepting a client failed: %s; new clients wait 100 ms",
				strerror(errno));
			listener_off(c);
			c->listen_resume_ns = clock_ns(CLOCK_MONOTONIC) + 100000000LL;
			return;
		}
		if (c->n_clients >= c->max_clients)
			refuse_busy(c, fd);
		else
			add_client(c, fd);
	}
}

/* ------------------------------------------------------------------------ */
/* The server thread                                                         */
/* ------------------------------------------------------------------------ */

static bool
calls_out(struct cp_ctl *c)
{
	unsigned long n;

	pthread_mutex_lock(&c->sh->mu);
	n = c->sh->calls;
	pthread_mutex_unlock(&c->sh->mu);
	return n > 0;
}

static void *
server_thread(void *arg)
{
	struct cp_ctl *c = arg;
	struct epoll_event ev[CTL_EVENTS];
	bool closed_listener = false;

	block_signals();
	tls_server = c;
	urcu_qsbr_register_thread();
	urcu_qsbr_thread_offline();
	for (;;) {
		int timeout = -1, n;

		if (atomic_load(&c->finishing))
			timeout = 20;
		else if (!c->listening && !closed_listener)
			timeout = 100;
		else if (c->n_closing > 0)
			timeout = 1000;
		n = epoll_wait(c->epfd, ev, CTL_EVENTS, timeout);
		if (n < 0 && errno != EINTR) {
			ctl_log(c, "epoll_wait failed: %s; the control socket stops serving",
				strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;

			if (p == &tag_wake) {
				uint64_t v;

				if (read(c->sh->efd, &v, sizeof(v)) < 0) {
					/* EAGAIN: already read */
				}
			} else if (p == &tag_listen) {
				if (!atomic_load(&c->stopping))
					accept_clients(c);
			} else {
				client_event(c, p, ev[i].events);
			}
		}
		drain_answers(c);
		drain_announces(c);
		if (atomic_load(&c->stopping) && !closed_listener) {
			/* Closed, so that a new client is refused rather than left waiting. */
			listener_off(c);
			close(c->lfd);
			c->lfd = -1;
			closed_listener = true;
		} else if (!c->listening && !closed_listener &&
			   clock_ns(CLOCK_MONOTONIC) >= c->listen_resume_ns) {
			listener_on(c);
		}
		flush_dirty(c);
		reap_closing(c);
		close_doomed(c);
		if (atomic_load(&c->finishing) &&
		    (!calls_out(c) || clock_ns(CLOCK_MONOTONIC) >= c->finish_deadline_ns))
			break;
	}
	/* Last words: what the sockets take now, then every client closes. */
	drain_answers(c);
	for (unsigned s = 0; s < c->max_clients; s++) {
		struct ctl_client *cl = c->slot[s];

		if (cl == NULL)
			continue;
		if (!cl->doomed)
			flush_client(c, cl);
		cl->dirty = false;
		doom(c, cl);
	}
	c->dirty = NULL;
	close_doomed(c);
	tls_server = NULL;
	urcu_qsbr_unregister_thread();
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Start and stop                                                            */
/* ------------------------------------------------------------------------ */

static void
group_name(gid_t gid, char *out, size_t n)
{
	struct group gr, *res = NULL;
	char buf[4096];

	if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) == 0 && res != NULL)
		snprintf(out, n, "%s", gr.gr_name);
	else
		snprintf(out, n, "%u", (unsigned)gid);
}

/* Does a live server answer on @p addr? */
static bool
someone_listens(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return true; /* cannot tell: do not remove it */
	live = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0 || errno == EAGAIN ||
	       errno == EINPROGRESS;
	close(fd);
	return live;
}

static int
bind_socket(struct cp_ctl *c, char *err, size_t errlen)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	const char *path = c->path;
	struct stat st;
	int rc;

	memcpy(addr.sun_path, path, strlen(path) + 1);
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->lfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: socket(): %s", path, strerror(errno));
		return rc;
	}
	if (bind(c->lfd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
		goto bound;
	rc = -errno;
	if (rc == -EADDRINUSE) {
		if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen,
				 "control socket %s: the path exists and is not a socket; remove "
				 "it or set control.socket to another path",
				 path);
			return -EEXIST;
		}
		if (someone_listens(&addr)) {
			snprintf(err, errlen,
				 "another vigild is listening on %s: stop it, or set "
				 "control.socket to another path",
				 path);
			return -EADDRINUSE;
		}
		/* A stale socket: nobody answers on it. */
		if (unlink(path) != 0 && errno != ENOENT) {
			rc = -errno;
			snprintf(err, errlen,
				 "control socket %s: a stale socket file is there and cannot be "
				 "removed: %s",
				 path, strerror(errno));
			return rc;
		}
		if (bind(c->lfd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			goto bound;
		rc = -errno;
	}
	if (rc == -ENOENT || rc == -ENOTDIR) {
		char dir[sizeof(addr.sun_path)];
		char *slash;

		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else if (slash != NULL)
			*slash = '\0';
		else
			snprintf(dir, sizeof(dir), ".");
		snprintf(err, errlen,
			 "control socket %s: the directory %s does not exist; create it (systemd: "
			 "RuntimeDirectory=vigil) or set control.socket to another path",
			 path, dir);
	} else {
		snprintf(err, errlen, "control socket %s: bind: %s", path, strerror(-rc));
	}
	return rc;
bound:
	if (stat(path, &st) == 0) {
		c->sock_dev = st.st_dev;
		c->sock_ino = st.st_ino;
	}
	return 0;
}

/* Remove the socket file if it is still ours. */
static void
remove_socket(struct cp_ctl *c)
{
	struct stat st;

	if (c->path != NULL && lstat(c->path, &st) == 0 && st.st_dev == c->sock_dev &&
	    st.st_ino == c->sock_ino)
		unlink(c->path);
}

static void
ctl_free(struct cp_ctl *c)
{
	struct ctl_line *l;
	bool last;

	if (c->lfd >= 0)
		close(c->lfd);
	if (c->epfd >= 0)
		close(c->epfd);
	while ((l = c->ahead) != NULL) {
		c->ahead = l->next;
		free(l);
	}
	if (c->sh != NULL) {
		pthread_mutex_lock(&c->sh->mu);
		c->sh->dead = true;
		c->sh->owner_gone = true;
		last = c->sh->calls == 0;
		pthread_mutex_unlock(&c->sh->mu);
		if (last)
			shared_destroy(c->sh);
	}
	pthread_mutex_destroy(&c->amu);
	pthread_mutex_destroy(&c->jmu);
	pthread_cond_destroy(&c->jcond);
	free(c->slot);
	free(c->slot_gen);
	free(c->free_slot);
	free(c->path);
	free(c);
}

int
cp_ctl_start(const struct cp_ctl_opts *o, struct cp_ctl **out, char *err, size_t errlen)
{
	struct epoll_event ev;
	sigset_t all, old;
	struct cp_ctl *c;
	char gname[64];
	gid_t gid = (gid_t)-1;
	bool bound = false;
	int rc;

	*out = NULL;
	if (o == NULL || o->path == NULL || o->path[0] == '\0') {
		snprintf(err, errlen, "control socket: no path (set control.socket)");
		return -EINVAL;
	}
	if (strlen(o->path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		snprintf(err, errlen,
			 "control socket %s: the path is longer than %zu bytes; set "
			 "control.socket to a shorter one",
			 o->path, sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
		return -ENAMETOOLONG;
	}
	if (o->mode & ~07777u) {
		snprintf(err, errlen, "control.mode %o: not permission bits (0660, 0600...)",
			 o->mode);
		return -EINVAL;
	}
	if (o->group != NULL && cp_group_id(o->group, &gid) != 0) {
		snprintf(err, errlen,
			 "control.group %s: no such group; create it or name another (a name or "
			 "a gid)",
			 o->group);
		return -ENOENT;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto nomem;
	c->lfd = c->epfd = -1;
	pthread_mutex_init(&c->amu, NULL);
	pthread_mutex_init(&c->jmu, NULL);
	pthread_cond_init(&c->jcond, NULL);
	c->opts = *o;
	c->path = strdup(o->path);
	c->opts.path = c->path;
	if (c->opts.mode == 0)
		c->opts.mode = CTL_DEFAULT_MODE;
	c->max_clients = o->max_clients != 0 ? o->max_clients : CTL_DEFAULT_MAX_CLIENTS;
	c->slot = calloc(c->max_clients, sizeof(*c->slot));
	c->slot_gen = calloc(c->max_clients, sizeof(*c->slot_gen));
	c->free_slot = calloc(c->max_clients, sizeof(*c->free_slot));
	c->sh = calloc(1, sizeof(*c->sh));
	if (c->path == NULL || c->slot == NULL || c->slot_gen == NULL || c->free_slot == NULL ||
	    c->sh == NULL) {
		free(c->sh);
		c->sh = NULL;
		ctl_free(c);
		goto nomem;
	}
	for (unsigned i = 0; i < c->max_clients; i++)
		c->free_slot[i] = c->max_clients - 1 - i;
	c->n_free = c->max_clients;
	pthread_mutex_init(&c->sh->mu, NULL);
	c->sh->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->sh->efd < 0 || c->epfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: eventfd/epoll: %s", o->path,
			 strerror(errno));
		goto fail;
	}
	rc = bind_socket(c, err, errlen);
	if (rc < 0)
		goto fail;
	bound = true;
	if (chmod(c->path, c->opts.mode) != 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: chmod %04o: %s", c->path, c->opts.mode,
			 strerror(errno));
		goto fail;
	}
	if (gid != (gid_t)-1 && chown(c->path, (uid_t)-1, gid) != 0) {
		rc = -errno;
		snprintf(err, errlen,
			 "control socket %s: chown to group %s: %s (vigild must be root or a "
			 "member of that group)",
			 c->path, o->group, strerror(errno));
		goto fail;
	}
	if (listen(c->lfd, CTL_BACKLOG) != 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: listen: %s", c->path, strerror(errno));
		goto fail;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = &tag_wake;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->sh->efd, &ev) != 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: epoll: %s", c->path, strerror(errno));
		goto fail;
	}
	listener_on(c);
	if (!c->listening) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: epoll: %s", c->path, strerror(errno));
		goto fail;
	}

	/* The threads take every signal blocked: vigild's handlers run on its main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = -pthread_create(&c->jobber, NULL, job_thread, c);
	if (rc == 0) {
		c->jobber_started = true;
		rc = -pthread_create(&c->server, NULL, server_thread, c);
		if (rc == 0)
			c->server_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		snprintf(err, errlen, "control socket %s: starting its threads: %s", c->path,
			 strerror(-rc));
		goto fail;
	}
	pthread_setname_np(c->jobber, "vigil-ctl-job");
	pthread_setname_np(c->server, "vigil-ctl");
	if (o->group != NULL)
		snprintf(gname, sizeof(gname), "%s", o->group);
	else
		group_name(getegid(), gname, sizeof(gname));
	ctl_log(c, "listening on %s (mode %04o, group %s, %u clients at most)", c->path,
		c->opts.mode, gname, c->max_clients);
	*out = c;
	return 0;
fail:
	if (c->jobber_started) {
		pthread_mutex_lock(&c->jmu);
		c->jstop = true;
		pthread_cond_signal(&c->jcond);
		pthread_mutex_unlock(&c->jmu);
		pthread_join(c->jobber, NULL);
	}
	if (bound)
		remove_socket(c);
	ctl_free(c);
	return rc;
nomem:
	snprintf(err, errlen, "control socket %s: out of memory", o->path);
	return -ENOMEM;
}

void
cp_ctl_stop(struct cp_ctl *c)
{
	struct ctl_job *j;
	unsigned long left;

	if (c == NULL)
		return;
	atomic_store(&c->stopping, true);
	wake(c->sh);

	/* The job running finishes; the ones waiting are answered shutting_down. */
	pthread_mutex_lock(&c->jmu);
	c->jstop = true;
	pthread_cond_signal(&c->jcond);
	pthread_mutex_unlock(&c->jmu);
	pthread_join(c->jobber, NULL);
	pthread_mutex_lock(&c->jmu);
	j = c->jhead;
	c->jhead = c->jtail = NULL;
	c->jclosed = true;
	pthread_mutex_unlock(&c->jmu);
	while (j != NULL) {
		struct ctl_job *next = j->next;

		if (j->drop != NULL)
			j->drop(j->arg);
		cp_ctl_fail(j->call, "shutting_down", "vigild is shutting down; %s was not run",
			    j->call->cmd);
		free(j);
		j = next;
	}

	/* The server answers what comes back within 5 s, then closes every client. */
	c->finish_deadline_ns = clock_ns(CLOCK_MONOTONIC) + CTL_STOP_WAIT_NS;
	atomic_store(&c->finishing, true);
	wake(c->sh);
	pthread_join(c->server, NULL);

	pthread_mutex_lock(&c->sh->mu);
	left = c->sh->calls;
	pthread_mutex_unlock(&c->sh->mu);
	if (left > 0)
		ctl_log(c, "%lu requests still unanswered after 5 s; their answers are dropped",
			left);
	remove_socket(c);
	ctl_free(c);
}

/* ------------------------------------------------------------------------ */
/* Counters                                                                  */
/* ------------------------------------------------------------------------ */

#define CP_X_NAME_CTL(name, desc) #name,
#define CP_X_DESC_CTL(name, desc) desc,
static const char *const ctl_counter_names[CP_CTL__COUNT] = {CP_CTL_COUNTERS(CP_X_NAME_CTL)};
static const char *const ctl_counter_descs[CP_CTL__COUNT] = {CP_CTL_COUNTERS(CP_X_DESC_CTL)};
#undef CP_X_NAME_CTL
#undef CP_X_DESC_CTL

const char *
cp_ctl_counter_name(enum cp_ctl_counter k)
{
	return (unsigned)k < CP_CTL__COUNT ? ctl_counter_names[k] : "?";
}

const char *
cp_ctl_counter_desc(enum cp_ctl_counter k)
{
	return (unsigned)k < CP_CTL__COUNT ? ctl_counter_descs[k] : "?";
}

void
cp_ctl_counters(const struct cp_ctl *c, uint64_t out[CP_CTL__COUNT])
{
	for (unsigned k = 0; k < CP_CTL__COUNT; k++)
		out[k] = c != NULL ? atomic_load_explicit(&c->counter[k], memory_order_relaxed) : 0;
}
