/*
 * ctl_private.h - what the control server (ctl.c) and its commands
 * (ctl_cmd.c) share; nothing outside those two files includes it.
 *
 * The server owns connections, framing, the handshake, roles, audit and
 * streams; a command only reads its arguments and answers its call. A call
 * is answered exactly once, with cp_ctl_reply or cp_ctl_fail: at once on
 * the server thread (most commands), or later from any thread (a deferred
 * call: a job on the server's job thread, or work the consumer's thread
 * does). The server frees the call after its answer; an answer to a client
 * that has gone is dropped.
 */
#ifndef VIGIL_CTL_PRIVATE_H
#define VIGIL_CTL_PRIVATE_H

#include <sys/types.h>

#include <jansson.h>

#include "controlplane.h"

/** Who sent a request (SO_PEERCRED and the role the config gives it). */
struct cp_ctl_caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char user[64]; /**< the uid's name, or the uid as digits */
	enum cp_role role;
};

struct cp_ctl_call;

struct cp_ctl_cmd {
	const char *name;   /**< "alarms.ack" */
	enum cp_role role;  /**< the least role that may run it */
	bool changes_state; /**< audited (denials are audited whatever this says) */
	/**
	 * Run on the server thread. It must answer @p call (now or later);
	 * @p args is an object (empty when the request had none), borrowed
	 * for the duration of the call.
	 */
	void (*run)(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args);
	const char *help; /**< one line, for `vigilctl help` */
};

/** The command table (ctl_cmd.c), ended by an entry with name NULL. */
extern const struct cp_ctl_cmd cp_ctl_cmds[];
const struct cp_ctl_cmd *cp_ctl_cmd_find(const char *name);

/* Answering a call: exactly once, from any thread. */
void cp_ctl_reply(struct cp_ctl_call *call, json_t *result); /**< steals @p result */
/** @p code: one of CONTROL.md's error codes. */
void cp_ctl_fail(struct cp_ctl_call *call, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

const struct cp_ctl_caller *cp_ctl_call_caller(const struct cp_ctl_call *call);
const char *cp_ctl_call_cmd(const struct cp_ctl_call *call);

/**
 * Run @p fn(c, call, arg) on the server's job thread (one job at a time,
 * in order): for work that takes time (a reload, a backup, a check). The
 * job answers the call. A job that will not run (vigild stops first) is
 * answered shutting_down and @p drop(arg) (may be NULL) frees its argument. @return 0, or -ENOMEM
 * (then the call is not taken: the caller answers it).
 */
int cp_ctl_job(struct cp_ctl *c, struct cp_ctl_call *call,
	       void (*fn)(struct cp_ctl *c, struct cp_ctl_call *call, void *arg),
	       void (*drop)(void *arg), void *arg);

/**
 * Make the call's connection a follower of alarm changes under the call's
 * id, and answer it with {"following": true}. @return 0 or -ENOMEM.
 */
int cp_ctl_follow(struct cp_ctl_call *call);

/**
 * Test hook (tests/unit/test_ctl.c): a table like cp_ctl_cmds consulted
 * before it, ended by an entry with name NULL. NULL (always, in vigild):
 * none. Set it before cp_ctl_start.
 */
extern const struct cp_ctl_cmd *cp_ctl_test_cmds;

/** The server's options (monitor, audit, paths, quit flag). */
const struct cp_ctl_opts *cp_ctl_options(const struct cp_ctl *c);

#endif /* VIGIL_CTL_PRIVATE_H */
