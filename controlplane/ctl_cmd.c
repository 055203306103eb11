/*
 * ctl_cmd.c - the control socket's commands: one function per command of
 * CONTROL.md's table (`hello` aside: the server answers it), and the table
 * itself (role, audited or not, one line of help).
 *
 * A command reads its arguments strictly (an unknown key or a value of the
 * wrong type is `bad_args` naming the key) and answers its call exactly
 * once. Where the work runs:
 *   - on the server thread, at once: what is quick and reads only what any
 *     thread may read (the monitor's samples, the alarm manager's and the
 *     patient table's readers, a store query of bounded size);
 *   - on the server's job thread (cp_ctl_job): what takes time (a rule
 *     check, a reload, a backup, a verification, a walk of every stored
 *     alarm);
 *   - on the consumer's thread (cp_clinical_call): what changes an alarm
 *     (the alarm manager has one writer), and patients.show, which wants
 *     the clinical pipeline's clock (the capture's during a replay).
 *
 * RCU: the server thread is a registered QSBR reader kept offline; the
 * commands that read the ruleset bundle or the device registry go online
 * only while they copy what they need, and never reply or block while
 * online.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <hs/hs.h>
#include <jansson.h>
#include <rte_version.h>
#include <urcu/urcu-qsbr.h>

#include "ctl_private.h"

#define NS_PER_S 1000000000LL

#define ALARMS_LIMIT_DEFAULT 100
#define ALARMS_LIMIT_MAX 10000
#define DEVICES_LIMIT_DEFAULT 1000
#define DEVICES_LIMIT_MAX 100000
#define QUERY_LIMIT_DEFAULT 1000
#define QUERY_LIMIT_MAX 100000
#define QUERY_SPAN_DEFAULT_S 3600
#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 10000
#define BACKUPS_MAX 1000
#define DIAGS_IN_MESSAGE_MAX 16384 /* bytes of diagnostics a refused reload's message carries */

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

static int64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* ISO 8601 UTC with nanoseconds (@p ns9), or microseconds (the alarm records' times). */
static void
iso_time_prec(char *buf, size_t len, int64_t ns, bool ns9)
{
	if (store_time_format(ns, ns9 ? 9 : 6, buf, len) != 0)
		snprintf(buf, len, "?");
}

static void
iso_time(char *buf, size_t len, int64_t ns)
{
	iso_time_prec(buf, len, ns, false);
}

/* A time as an ISO string; 0 (never) as null. */
static json_t *
iso_json(int64_t ns)
{
	char buf[64];

	if (ns == 0)
		return json_null();
	iso_time(buf, sizeof(buf), ns);
	return json_string(buf);
}

/* "0x" and 16 hex digits: how devices are named on the socket (and by vigil-store). */
static json_t *
device_json(uint64_t device)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%016" PRIx64, device);
	return json_string(buf);
}

/*
 * A text from the wire as a JSON string; "" and NULL as null. Texts that
 * are not UTF-8 (HL7 is often Latin-1) are taken as Latin-1, as the alarm
 * records take them.
 */
static json_t *
text_json(const char *s)
{
	return s == NULL || s[0] == '\0' ? json_null() : cp_json_text(s);
}

/* A number rounded to @p places decimals (so 0.1 + 0.2 does not show as 0.30000000000000004). */
static json_t *
real_json(double v, int places)
{
	double scale = pow(10, places);

	if (!isfinite(v))
		return json_null();
	return json_real(round(v * scale) / scale);
}

/* A measured value: JSON has no NaN or infinity (null). */
static json_t *
num_json(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* Set @p key to @p v (taken, also on failure). @return non-zero on failure (no memory). */
static int
set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) != 0;
}

static void
fail_nomem(struct cp_ctl_call *call)
{
	cp_ctl_fail(call, "failed", "%s: vigild is out of memory", cp_ctl_call_cmd(call));
}

/* Reply with @p result, or fail for want of memory when it could not be built (NULL). */
static void
reply_or_nomem(struct cp_ctl_call *call, json_t *result)
{
	if (result == NULL)
		fail_nomem(call);
	else
		cp_ctl_reply(call, result);
}

/* The parts of vigild the commands read; NULL when the server was given no monitor. */
static const struct cp_sources *
sources(struct cp_ctl *c)
{
	const struct cp_ctl_opts *o = cp_ctl_options(c);

	return o != NULL && o->monitor != NULL ? cp_monitor_sources(o->monitor) : NULL;
}

static struct store *
store_of(struct cp_ctl *c)
{
	const struct cp_sources *src = sources(c);

	return src != NULL ? src->store : NULL;
}

static struct cp_clinical *
clinical_of(struct cp_ctl *c)
{
	const struct cp_sources *src = sources(c);

	return src != NULL ? src->clinical : NULL;
}

static void
fail_no_storage(struct cp_ctl_call *call)
{
	cp_ctl_fail(call, "unavailable",
		    "%s: storage is off (storage.dir is not set in vigild's configuration), so "
		    "nothing is kept to read",
		    cp_ctl_call_cmd(call));
}

static void
fail_no_clinical(struct cp_ctl_call *call)
{
	cp_ctl_fail(call, "unavailable",
		    "%s: the clinical pipeline (alarm manager, patients, NEWS2) is not running in "
		    "this vigild",
		    cp_ctl_call_cmd(call));
}

/* ------------------------------------------------------------------------ */
/* Arguments                                                                 */
/* ------------------------------------------------------------------------ */

enum arg_type {
	ARG_UINT,   /* a JSON integer >= 0 */
	ARG_STRING, /* a JSON string */
	ARG_FILES,  /* an array of strings */
	ARG_TIME,   /* an ISO 8601 string, or a number of seconds since the epoch */
	ARG_DEVICE, /* "0x..." or decimal digits, or a JSON integer >= 0 */
};

struct arg_spec {
	const char *key;
	enum arg_type type;
};

static const char *
type_name(enum arg_type t)
{
	switch (t) {
	case ARG_UINT:
		return "a whole number";
	case ARG_STRING:
		return "a string";
	case ARG_FILES:
		return "an array of paths (strings)";
	case ARG_TIME:
		return "a time (ISO 8601 \"2026-11-27T10:00:00Z\", or seconds since the epoch)";
	case ARG_DEVICE:
		return "a device key (\"0x0123456789abcdef\" or decimal)";
	}
	return "?";
}

static const char *
json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return json_integer_value(v) < 0 ? "a negative number" : "a whole number";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

static bool
type_ok(enum arg_type t, const json_t *v)
{
	switch (t) {
	case ARG_UINT:
		return json_is_integer(v) && json_integer_value(v) >= 0;
	case ARG_STRING:
		return json_is_string(v);
	case ARG_FILES:
		return json_is_array(v);
	case ARG_TIME:
		return json_is_string(v) || json_is_number(v);
	case ARG_DEVICE:
		return json_is_string(v) || (json_is_integer(v) && json_integer_value(v) >= 0);
	}
	return false;
}

/*
 * Every key of @p args must be one of @p spec (n of them) and of its type;
 * else the call is answered with bad_args naming the key.
 * @return 0, or -1 when the call was answered.
 */
static int
check_args(struct cp_ctl_call *call, json_t *args, const struct arg_spec *spec, unsigned n)
{
	const char *cmd = cp_ctl_call_cmd(call);
	const char *key;
	json_t *v;

	if (!json_is_object(args)) {
		cp_ctl_fail(call, "bad_args", "%s: 'args' must be an object, not %s", cmd,
			    json_type_name(args));
		return -1;
	}
	json_object_foreach(args, key, v)
	{
		const struct arg_spec *s = NULL;
		char takes[256] = "";
		size_t used = 0;

		for (unsigned i = 0; i < n; i++)
			if (strcmp(spec[i].key, key) == 0)
				s = &spec[i];
		if (s == NULL) {
			for (unsigned i = 0; i < n && used < sizeof(takes); i++)
				used += (size_t)snprintf(takes + used, sizeof(takes) - used, "%s%s",
							 i > 0 ? ", " : "", spec[i].key);
			if (n == 0)
				cp_ctl_fail(call, "bad_args",
					    "%s takes no arguments: '%.64s' is not one", cmd, key);
			else
				cp_ctl_fail(call, "bad_args",
					    "%s: unknown argument '%.64s' (it takes: %s)", cmd, key,
					    takes);
			return -1;
		}
		if (!type_ok(s->type, v)) {
			cp_ctl_fail(call, "bad_args", "%s: '%s' must be %s, not %s", cmd, key,
				    type_name(s->type), json_type_name(v));
			return -1;
		}
	}
	return 0;
}

/*
 * An unsigned argument in [min, max]; @p def when absent (@p required: absent
 * is bad_args). @return 0, or -1 when the call was answered.
 */
static int
arg_uint(struct cp_ctl_call *call, json_t *args, const char *key, bool required, uint64_t def,
	 uint64_t min, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(args, key);
	uint64_t x;

	if (v == NULL) {
		if (required) {
			cp_ctl_fail(call, "bad_args", "%s needs '%s'", cp_ctl_call_cmd(call), key);
			return -1;
		}
		*out = def;
		return 0;
	}
	x = (uint64_t)json_integer_value(v); /* check_args made sure it is >= 0 */
	if (x < min || x > max) {
		cp_ctl_fail(call, "bad_args",
			    "%s: '%s' must be %" PRIu64 "..%" PRIu64 ", not %" PRIu64,
			    cp_ctl_call_cmd(call), key, min, max, x);
		return -1;
	}
	*out = x;
	return 0;
}

/* A string argument that is one of @p names (n of them), or NULL when absent. @return 0 or -1. */
static int
arg_name(struct cp_ctl_call *call, json_t *args, const char *key, const char *const *names,
	 unsigned n, const char **out)
{
	json_t *v = json_object_get(args, key);
	const char *s = json_string_value(v);
	char list[128] = "";
	size_t used = 0;

	*out = NULL;
	if (v == NULL)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = names[i];
			return 0;
		}
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
						 i > 0 ? ", " : "", names[i]);
	}
	cp_ctl_fail(call, "bad_args", "%s: '%s' must be one of %s, not '%.64s'",
		    cp_ctl_call_cmd(call), key, list, s);
	return -1;
}

/* A path argument: absolute (vigild's working directory is nobody's business). */
static int
check_path(struct cp_ctl_call *call, const char *key, const char *path)
{
	if (path[0] != '/') {
		cp_ctl_fail(
			call, "bad_args",
			"%s: '%s': \"%.200s\" is not an absolute path (paths are read by vigild "
			"on the appliance: give them in full)",
			cp_ctl_call_cmd(call), key, path);
		return -1;
	}
	if (strlen(path) >= 4096) {
		cp_ctl_fail(call, "bad_args", "%s: '%s' is longer than 4095 bytes",
			    cp_ctl_call_cmd(call), key);
		return -1;
	}
	return 0;
}

/* A list of rule files: 1..CP_MAX_RULE_FILES absolute paths, copied into @p out. */
static int
arg_files(struct cp_ctl_call *call, json_t *args, char **out, unsigned *n)
{
	json_t *v = json_object_get(args, "files"), *f;
	size_t i;

	*n = 0;
	if (json_array_size(v) == 0 || json_array_size(v) > CP_MAX_RULE_FILES) {
		cp_ctl_fail(call, "bad_args", "%s: 'files' must list 1..%d rule files, not %zu",
			    cp_ctl_call_cmd(call), CP_MAX_RULE_FILES, json_array_size(v));
		return -1;
	}
	json_array_foreach(v, i, f)
	{
		const char *s = json_string_value(f);
		char key[32];

		snprintf(key, sizeof(key), "files[%zu]", i);
		if (s == NULL) {
			cp_ctl_fail(call, "bad_args", "%s: '%s' must be a string (a path), not %s",
				    cp_ctl_call_cmd(call), key, json_type_name(f));
			goto fail;
		}
		if (check_path(call, key, s) != 0)
			goto fail;
		out[i] = strdup(s);
		if (out[i] == NULL) {
			fail_nomem(call);
			goto fail;
		}
		(*n)++;
	}
	return 0;

fail:
	for (unsigned k = 0; k < *n; k++)
		free(out[k]);
	*n = 0;
	return -1;
}

/* A time argument (ns since the epoch), @p def when absent. @return 0, or -1 (answered). */
static int
arg_time(struct cp_ctl_call *call, json_t *args, const char *key, int64_t def, int64_t *out)
{
	json_t *v = json_object_get(args, key);

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (json_is_number(v)) {
		double s = json_number_value(v);

		if (!(s >= 0 && s < 9.2e9)) {
			cp_ctl_fail(call, "bad_args",
				    "%s: '%s' is %g seconds since the epoch: out of range",
				    cp_ctl_call_cmd(call), key, s);
			return -1;
		}
		*out = (int64_t)llround(s * 1e9);
		return 0;
	}
	if (store_time_parse(json_string_value(v), out) != 0) {
		cp_ctl_fail(call, "bad_args",
			    "%s: '%s': \"%.64s\" is not a time: give ISO 8601 with a zone "
			    "(\"2026-11-27T10:00:00Z\") or seconds since the epoch (a number)",
			    cp_ctl_call_cmd(call), key, json_string_value(v));
		return -1;
	}
	return 0;
}

/* "0x" and 1..16 hex digits, or 1..20 decimal digits. @return 0 or -EINVAL. */
static int
parse_device(const char *s, uint64_t *out)
{
	bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	const char *p = hex ? s + 2 : s;
	size_t n = strlen(p);
	char *end;

	if (n == 0 || n > (hex ? 16u : 20u))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (hex ? !isxdigit((unsigned char)p[i]) : !isdigit((unsigned char)p[i]))
			return -EINVAL;
	errno = 0;
	*out = strtoull(p, &end, hex ? 16 : 10);
	return errno != 0 || *end != '\0' ? -EINVAL : 0;
}

/* ------------------------------------------------------------------------ */
/* version, uptime, status, stats                                            */
/* ------------------------------------------------------------------------ */

static void
cmd_version(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	(void)c;
	if (check_args(call, args, NULL, 0) != 0)
		return;
	reply_or_nomem(call, json_pack("{s:s, s:s, s:s, s:i, s:i}", "vigild", VIGIL_VERSION, "dpdk",
				       rte_version(), "hyperscan", hs_version(), "protocol",
				       CP_CTL_PROTOCOL, "schema", STORE_SCHEMA_VERSION));
}

static void
cmd_uptime(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	const struct cp_sources *src = sources(c);
	int64_t now = wall_ns();

	if (check_args(call, args, NULL, 0) != 0)
		return;
	if (src == NULL || src->started_ns <= 0) {
		cp_ctl_fail(call, "unavailable", "uptime: vigild's start time is not known here");
		return;
	}
	reply_or_nomem(call,
		       json_pack("{s:o, s:o}", "started", iso_json(src->started_ns), "uptime_s",
				 real_json((double)(now - src->started_ns) / 1e9, 3)));
}

struct mon_read {
	bool stats; /* stats (else status) */
	json_t *result;
};

/* Under the monitor's lock: build the reply from the latest samples. */
static int
mon_fn(void *arg, const struct cp_sample *cur, const struct cp_sample *prev)
{
	struct mon_read *r = arg;

	if (!r->stats) {
		r->result = cp_status_json(cur, prev);
		return r->result != NULL ? 0 : -ENOMEM;
	}
	if (cur->stats == NULL)
		return -ENODATA;
	r->result = json_deep_copy(cur->stats);
	if (r->result == NULL || set(r->result, "time", iso_json(cur->time_ns)) != 0)
		return -ENOMEM;
	return 0;
}

static void
read_monitor(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args, bool stats)
{
	const struct cp_ctl_opts *o = cp_ctl_options(c);
	struct mon_read r = {.stats = stats};
	int rc;

	if (check_args(call, args, NULL, 0) != 0)
		return;
	if (o == NULL || o->monitor == NULL) {
		cp_ctl_fail(call, "unavailable", "%s: vigild keeps no counters for the socket",
			    cp_ctl_call_cmd(call));
		return;
	}
	rc = cp_monitor_read(o->monitor, mon_fn, &r);
	if (rc == 0) {
		cp_ctl_reply(call, r.result);
		return;
	}
	json_decref(r.result);
	if (rc == -EAGAIN)
		cp_ctl_fail(call, "unavailable",
			    "%s: no sample yet (vigild samples its counters once a second): ask "
			    "again in a second",
			    cp_ctl_call_cmd(call));
	else if (rc == -ENOSYS || rc == -ENODATA)
		cp_ctl_fail(call, "unavailable", "%s: the counters are not sampled in this vigild",
			    cp_ctl_call_cmd(call));
	else if (rc == -ENOMEM)
		fail_nomem(call);
	else
		cp_ctl_fail(call, "failed", "%s: reading the counters failed: %s",
			    cp_ctl_call_cmd(call), strerror(-rc));
}

static void
cmd_status(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	read_monitor(c, call, args, false);
}

static void
cmd_stats(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	read_monitor(c, call, args, true);
}

/* ------------------------------------------------------------------------ */
/* rules.list, rules.show (the bundle in force, read online)                 */
/* ------------------------------------------------------------------------ */

static const char *const action_names[] = {"alert", "log", "pass"};
static const char *const priority_names[] = {"none", "low", "medium", "high"};

_Static_assert(sizeof(action_names) / sizeof(action_names[0]) == RULE_ACTION__COUNT,
	       "one name per rule action");
_Static_assert(sizeof(priority_names) / sizeof(priority_names[0]) == RULE_PRIO__COUNT,
	       "one name per priority");

static json_t *
rule_json(const struct dp_ruleset *rs, const struct rule *rl, bool full)
{
	json_t *o =
		json_pack("{s:I, s:I, s:s, s:s, s:o, s:I, s:b}", "sid", (json_int_t)rl->sid, "rev",
			  (json_int_t)rl->rev, "action", rule_action_name(rl->action), "priority",
			  rule_priority_name(rl->priority), "msg", text_json(rl->msg), "hits",
			  (json_int_t)dp_ruleset_hits(rs, rl->index), "enabled", !rl->disabled);
	json_t *metrics;
	int bad = 0;

	if (o == NULL || !full)
		return o;
	metrics = json_array();
	bad |= metrics == NULL;
	for (unsigned i = 0; metrics != NULL && i < rl->n_metrics; i++) {
		const struct rule_metric *m = rule_metric_by_code(rl->metric[i]);

		bad |= json_array_append_new(metrics, m != NULL ? json_string(m->name)
								: json_integer(rl->metric[i]));
	}
	bad |= set(o, "text", text_json(rl->text));
	bad |= set(o, "file", text_json(rl->file));
	bad |= set(o, "line", rl->file != NULL ? json_integer(rl->line) : json_null());
	bad |= set(o, "kind", json_string(rule_kind_name(rl->kind)));
	bad |= set(o, "proto", json_string(rule_proto_name(rl->proto)));
	bad |= set(o, "latch", json_boolean(rl->latch));
	bad |= set(o, "delay_ms", json_integer(rl->delay_ms));
	bad |= set(o, "metrics", metrics);
	bad |= set(o, "classtype", text_json(rl->classtype));
	bad |= set(o, "metadata", text_json(rl->metadata));
	bad |= set(o, "version", json_integer((json_int_t)rs->version));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

struct rules_req {
	const char *action;   /* NULL: any */
	const char *priority; /* NULL: any */
	bool show;
	uint32_t sid;
	bool no_rules; /* out: no bundle in force */
	bool not_found;
};

/* Online: build the answer from the bundle in force. @return it, or NULL (see no_rules). */
static json_t *
rules_build(const struct dp_ruleset *rs, struct rules_req *q)
{
	json_t *list, *res;

	if (rs == NULL || rs->set == NULL) {
		q->no_rules = true;
		return NULL;
	}
	if (q->show) {
		const struct rule *rl = rule_set_find(rs->set, q->sid);

		if (rl == NULL) {
			q->not_found = true;
			return NULL;
		}
		return rule_json(rs, rl, true);
	}
	list = json_array();
	res = json_pack("{s:I, s:s, s:o}", "version", (json_int_t)rs->version, "hash",
			rule_set_info(rs->set)->hash, "rules", list);
	if (res == NULL)
		return NULL;
	for (unsigned i = 0; i < rule_set_count(rs->set); i++) {
		const struct rule *rl = rule_set_rule(rs->set, i);

		if (q->action != NULL && strcmp(rule_action_name(rl->action), q->action) != 0)
			continue;
		if (q->priority != NULL &&
		    strcmp(rule_priority_name(rl->priority), q->priority) != 0)
			continue;
		if (json_array_append_new(list, rule_json(rs, rl, false)) != 0) {
			json_decref(res);
			return NULL;
		}
	}
	return res;
}

static void
rules_read(struct cp_ctl *c, struct cp_ctl_call *call, struct rules_req *q)
{
	const struct cp_sources *src = sources(c);
	json_t *res;

	if (src == NULL || src->dp == NULL) {
		cp_ctl_fail(call, "unavailable",
			    "%s: no data plane runs, so no ruleset is in force",
			    cp_ctl_call_cmd(call));
		return;
	}
	urcu_qsbr_thread_online();
	res = rules_build(dp_ruleset_current(src->dp), q);
	urcu_qsbr_thread_offline();
	if (q->no_rules)
		cp_ctl_fail(call, "unavailable",
			    "%s: vigild runs without rules (rules.files is empty); load some with "
			    "rules.load",
			    cp_ctl_call_cmd(call));
	else if (q->not_found)
		cp_ctl_fail(call, "not_found",
			    "rules.show: no rule with sid %" PRIu32 " in the ruleset in force",
			    q->sid);
	else
		reply_or_nomem(call, res);
}

static void
cmd_rules_list(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	static const struct arg_spec spec[] = {{"action", ARG_STRING}, {"priority", ARG_STRING}};
	struct rules_req q = {0};

	if (check_args(call, args, spec, 2) != 0 ||
	    arg_name(call, args, "action", action_names, RULE_ACTION__COUNT, &q.action) != 0 ||
	    arg_name(call, args, "priority", priority_names, RULE_PRIO__COUNT, &q.priority) != 0)
		return;
	rules_read(c, call, &q);
}

static void
cmd_rules_show(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	static const struct arg_spec spec[] = {{"sid", ARG_UINT}};
	struct rules_req q = {.show = true};
	uint64_t sid;

	if (check_args(call, args, spec, 1) != 0 ||
	    arg_uint(call, args, "sid", true, 0, 1, UINT32_MAX, &sid) != 0)
		return;
	q.sid = (uint32_t)sid;
	rules_read(c, call, &q);
}

/* ------------------------------------------------------------------------ */
/* rules.check, rules.reload, rules.load (jobs)                              */
/* ------------------------------------------------------------------------ */

/*
 * The rule files a reload loads now, when a rules.load changed them (the
 * reloader keeps its list to itself): rules.check without files checks
 * those. One reloader per process, so one list.
 */
static pthread_mutex_t loaded_lock = PTHREAD_MUTEX_INITIALIZER;
static char *loaded_files[CP_MAX_RULE_FILES];
static unsigned n_loaded_files;

static void
free_files(char **files, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(files[i]);
}

struct rules_job {
	unsigned n_files; /* 0: the configured ones (check), a reload (reload) */
	char *files[CP_MAX_RULE_FILES];
};

static void
rules_job_free(struct rules_job *j)
{
	free_files(j->files, j->n_files);
	free(j);
}

/* cp_ctl_job's drop: the job did not run. */
static void
rules_job_drop(void *arg)
{
	rules_job_free(arg);
}

/* Copy the files loaded by the last good rules.load into @p j (none: leaves it empty). */
static int
copy_loaded(struct rules_job *j)
{
	int rc = 0;

	pthread_mutex_lock(&loaded_lock);
	for (unsigned i = 0; i < n_loaded_files; i++) {
		j->files[i] = strdup(loaded_files[i]);
		if (j->files[i] == NULL) {
			rc = -ENOMEM;
			break;
		}
		j->n_files++;
	}
	pthread_mutex_unlock(&loaded_lock);
	return rc;
}

static void
remember_loaded(char *const *files, unsigned n)
{
	char *copy[CP_MAX_RULE_FILES];
	unsigned k = 0;

	for (; k < n; k++) {
		copy[k] = strdup(files[k]);
		if (copy[k] == NULL) {
			free_files(copy, k);
			return; /* rules.check then checks the start-up files: said nowhere worse */
		}
	}
	pthread_mutex_lock(&loaded_lock);
	free_files(loaded_files, n_loaded_files);
	memcpy(loaded_files, copy, n * sizeof(copy[0]));
	n_loaded_files = n;
	pthread_mutex_unlock(&loaded_lock);
}

static json_t *
files_json(const struct cp_config *cfg)
{
	json_t *a = json_array();

	for (unsigned i = 0; a != NULL && i < cfg->n_rule_files; i++)
		if (json_array_append_new(a, json_string(cfg->rule_files[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* The job thread: load the rules aside, as a reload would, and say what it found. */
static void
check_job(struct cp_ctl *c, struct cp_ctl_call *call, void *arg)
{
	const struct cp_ctl_opts *o = cp_ctl_options(c);
	struct rules_job *j = arg;
	struct rule_var vars[CP_MAX_RULE_VARS];
	struct rule_diags diags = {0};
	struct rule_load_opts lo;
	struct rule_set *rs = NULL;
	struct cp_config cfg = {0};
	char *text = NULL;
	size_t text_len = 0;
	char err[512];
	json_t *res;
	FILE *f;
	int rc;

	rc = cp_config_defaults(&cfg);
	if (rc != 0)
		goto nomem;
	if (o->config_path != NULL) {
		rc = cp_config_load(&cfg, o->config_path, err, sizeof(err));
		if (rc == -ENOMEM)
			goto nomem;
		if (rc != 0) {
			res = json_pack("{s:b, s:i, s:i, s:i, s:s++}", "ok", 0, "errors", 1,
					"warnings", 0, "rules", 0, "diagnostics", err, "\n", "");
			reply_or_nomem(call, res);
			goto out;
		}
	}
	if (j->n_files > 0)
		rc = cp_config_set_rule_files(&cfg, (const char *const *)j->files, j->n_files);
	else if (o->n_rule_files > 0)
		rc = cp_config_set_rule_files(&cfg, o->rule_files, o->n_rule_files);
	if (rc != 0)
		goto nomem;
	if (cfg.n_rule_files == 0) {
		reply_or_nomem(
			call, json_pack("{s:b, s:i, s:i, s:i, s:s, s:[]}", "ok", 0, "errors", 1,
					"warnings", 0, "rules", 0, "diagnostics",
					"no rule files: rules.files is empty and none were given\n",
					"files"));
		goto out;
	}
	cp_config_rule_opts(&cfg, &lo, vars);
	rc = rule_set_load(&lo, &rs, &diags);
	if (rc == -ENOMEM)
		goto nomem;
	if (diags.n > 0) {
		f = open_memstream(&text, &text_len);
		if (f == NULL)
			goto nomem;
		rule_diags_print(&diags, f);
		if (fclose(f) != 0)
			goto nomem;
	}
	res = json_pack("{s:b, s:i, s:i, s:i, s:s, s:o}", "ok", rc == 0, "errors",
			rc != 0 && diags.n_errors == 0 ? 1 : (int)diags.n_errors, "warnings",
			(int)diags.n_warnings, "rules",
			rs != NULL ? (int)rule_set_info(rs)->n_rules : 0, "diagnostics",
			text != NULL ? text : "", "files", files_json(&cfg));
	if (res != NULL && rs != NULL &&
	    (set(res, "hash", json_string(rule_set_info(rs)->hash)) ||
	     set(res, "compile_ms", real_json((double)rule_set_info(rs)->total_ns / 1e6, 3)))) {
		json_decref(res);
		res = NULL;
	}
	if (res != NULL && rc != 0 && diags.n_errors == 0 &&
	    set(res, "error", json_string(strerror(-rc)))) {
		json_decref(res);
		res = NULL;
	}
	reply_or_nomem(call, res);
	goto out;

nomem:
	fail_nomem(call);
out:
	free(text);
	rule_set_free(rs);
	rule_diags_free(&diags);
	cp_config_free(&cfg);
	rules_job_free(j);
}

static void
cmd_rules_check(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	static const struct arg_spec spec[] = {{"files", ARG_FILES}};
	struct rules_job *j;

	if (check_args(call, args, spec, 1) != 0)
		return;
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		fail_nomem(call);
		return;
	}
	if (json_object_get(args, "files") != NULL) {
		if (arg_files(call, args, j->files, &j->n_files) != 0) {
			free(j);
			return;
		}
	} else if (copy_loaded(j) != 0) {
		rules_job_free(j);
		fail_nomem(call);
		return;
	}
	if (cp_ctl_job(c, call, check_job, rules_job_drop, j) != 0) {
		rules_job_free(j);
		fail_nomem(call);
	}
}

/* The reload's result as cp_reload_result_print_json's inner object. */
static json_t *
reload_json(const struct cp_reload_result *r)
{
	return json_pack("{s:b, s:i, s:I, s:i, s:i, s:i, s:o, s:o, s:o, s:s, s:s}", "ok",
			 r->rc == 0, "rc", r->rc, "version", (json_int_t)r->version, "rules",
			 (int)r->n_rules, "errors", (int)r->n_errors, "warnings",
			 (int)r->n_warnings, "compile_ms", real_json(r->compile_ms, 3),
			 "publish_ms", real_json(r->publish_ms, 3), "total_ms",
			 real_json(r->total_ms, 3), "hash", r->hash, "diagnostics",
			 r->diags != NULL ? r->diags : "");
}

/* The job thread: reload (n_files 0) or load the files given; print and answer. */
static void
reload_job(struct cp_ctl *c, struct cp_ctl_call *call, void *arg)
{
	const struct cp_ctl_opts *o = cp_ctl_options(c);
	const struct cp_sources *src = sources(c);
	struct rules_job *j = arg;
	struct cp_reload_result res = {0};
	char what[96] = "", stays[64];
	const char *diags;
	size_t dlen;
	json_t *ok;

	if (j->n_files > 0)
		cp_reload_run_files(src->reloader, (const char *const *)j->files, j->n_files, &res);
	else
		cp_reload_run(src->reloader, &res);
	if (src->clinical != NULL && res.rc != -EBUSY)
		cp_clinical_reload_result(src->clinical, res.rc == 0);
	cp_reload_result_print(&res, o->log != NULL ? o->log : stderr);
	if (res.rc == 0) {
		if (j->n_files > 0)
			remember_loaded(j->files, j->n_files);
		ok = reload_json(&res);
		if (ok != NULL && j->n_files > 0) {
			json_t *files = json_array();

			for (unsigned i = 0; files != NULL && i < j->n_files; i++)
				json_array_append_new(files, json_string(j->files[i]));
			if (set(ok, "files", files)) {
				json_decref(ok);
				ok = NULL;
			}
		}
		reply_or_nomem(call, ok);
		goto out;
	}
	if (res.rc == -EBUSY) {
		cp_ctl_fail(call, "busy",
			    "%s: a reload is already running (a SIGHUP?); this one was not carried "
			    "out: ask again when it is done",
			    cp_ctl_call_cmd(call));
		goto out;
	}
	if (res.n_errors > 0)
		snprintf(what, sizeof(what), "%u error%s", res.n_errors,
			 res.n_errors == 1 ? "" : "s");
	else
		snprintf(what, sizeof(what), "%s", strerror(-res.rc));
	if (res.version > 0)
		snprintf(stays, sizeof(stays), "version %" PRIu64 " stays in force", res.version);
	else
		snprintf(stays, sizeof(stays), "vigild goes on without rules");
	/*
	 * An error carries a code and a message: the diagnostics (compiler-style
	 * FILE:LINE:COL lines) follow the first line of the message.
	 */
	diags = res.diags != NULL ? res.diags : "";
	dlen = strlen(diags);
	if (dlen > DIAGS_IN_MESSAGE_MAX)
		dlen = DIAGS_IN_MESSAGE_MAX;
	while (dlen > 0 && diags[dlen - 1] == '\n')
		dlen--;
	cp_ctl_fail(call, "failed", "%s refused: %s; %s%s%.*s%s",
		    j->n_files > 0 ? "rules.load" : "rules.reload", what, stays,
		    dlen > 0 ? "\n" : "", (int)dlen, diags,
		    res.diags != NULL && strlen(res.diags) > DIAGS_IN_MESSAGE_MAX ? "\n..." : "");
out:
	cp_reload_result_free(&res);
	rules_job_free(j);
}

static void
start_reload(struct cp_ctl *c, struct cp_ctl_call *call, struct rules_job *j)
{
	const struct cp_sources *src = sources(c);

	if (src == NULL || src->reloader == NULL) {
		rules_job_free(j);
		cp_ctl_fail(call, "unavailable", "%s: rule reloads are off in this vigild",
			    cp_ctl_call_cmd(call));
		return;
	}
	if (cp_ctl_job(c, call, reload_job, rules_job_drop, j) != 0) {
		rules_job_free(j);
		fail_nomem(call);
	}
}

static void
cmd_rules_reload(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	struct rules_job *j;

	if (check_args(call, args, NULL, 0) != 0)
		return;
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		fail_nomem(call);
		return;
	}
	start_reload(c, call, j);
}

static void
cmd_rules_load(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	static const struct arg_spec spec[] = {{"files", ARG_FILES}};
	struct rules_job *j;

	if (check_args(call, args, spec, 1) != 0)
		return;
	if (json_object_get(args, "files") == NULL) {
		cp_ctl_fail(
			call, "bad_args",
			"rules.load needs 'files' (the rule files to load, absolute paths on the "
			"appliance)");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		fail_nomem(call);
		return;
	}
	if (arg_files(call, args, j->files, &j->n_files) != 0) {
		free(j);
		return;
	}
	start_reload(c, call, j);
}

/* ------------------------------------------------------------------------ */
/* Alarms                                                                    */
/* ------------------------------------------------------------------------ */

static const char *
acknowledged_by(const struct cp_alarm *a)
{
	for (unsigned i = a->n_hist; i-- > 0;)
		if (i < CP_ALARM_HISTORY && a->hist[i].change == CP_ALC_ACKED)
			return a->hist[i].by[0] != '\0' ? a->hist[i].by : "vigil";
	return NULL;
}

/* The summary of an alarm (alarms.list), with its history when @p history. */
static json_t *
alarm_summary(const struct cp_alarm *a, bool history)
{
	json_t *o = json_object(), *h;
	const char *by = acknowledged_by(a);
	int bad = o == NULL;

	if (bad)
		return NULL;
	bad |= set(o, "id", json_integer((json_int_t)a->id));
	bad |= set(o, "sid", json_integer(a->sid));
	bad |= set(o, "priority", json_string(rule_priority_name(a->priority)));
	bad |= set(o, "state", json_string(cp_alarm_state_name(a->state)));
	bad |= set(o, "source", json_string(cp_alarm_source_name(a->source)));
	bad |= set(o, "msg", text_json(a->msg));
	bad |= set(o, "patient", text_json(a->patient));
	bad |= set(o, "device", device_json(a->device));
	bad |= set(o, "location", text_json(a->location));
	bad |= set(o, "raised", iso_json(a->raised_ns));
	bad |= set(o, "changed", iso_json(a->changed_ns));
	if (by != NULL)
		bad |= set(o, "acknowledged_by", text_json(by));
	if (a->silenced_until_ns != 0)
		bad |= set(o, "silenced_until", iso_json(a->silenced_until_ns));
	if (history && !bad) {
		h = json_array();
		bad |= set(o, "history", h);
		for (unsigned i = 0; h != NULL && !bad && i < a->n_hist && i < CP_ALARM_HISTORY;
		     i++) {
			const struct cp_alarm_hist *e = &a->hist[i];

			bad |= json_array_append_new(
				h, json_pack("{s:s, s:s, s:s, s:o, s:o}", "change",
					     cp_alarm_change_name(e->change), "state",
					     cp_alarm_state_name(e->state), "priority",
					     rule_priority_name(e->priority), "time",
					     iso_json(e->time_ns), "by", text_json(e->by)));
		}
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

struct alarm_item {
	uint64_t id;
	json_t *summary;
};

struct alarm_list {
	const char *priority; /* NULL: any */
	unsigned limit;
	bool all;
	/* open alarms in memory, then stored ones not among them */
	struct alarm_item *item;
	size_t n, room;
	uint64_t *open_ids; /* sorted, for the store walk */
	size_t n_open;
	/* the store walk keeps the newest `limit` (a ring) */
	struct alarm_item *ring;
	size_t ring_n, ring_head;
	bool dropped; /* the ring let an older one go */
	struct cp_alarm *scratch;
	int rc;
};

static bool
prio_matches(const struct alarm_list *l, uint8_t priority)
{
	return l->priority == NULL || strcmp(rule_priority_name(priority), l->priority) == 0;
}

static int
open_alarm_fn(void *arg, const struct cp_alarm *a)
{
	struct alarm_list *l = arg;
	struct alarm_item *grown;

	if (l->n == l->room) {
		l->room = l->room ? 2 * l->room : 64;
		grown = realloc(l->item, l->room * sizeof(*grown));
		if (grown == NULL)
			return -ENOMEM;
		l->item = grown;
	}
	l->item[l->n].id = a->id;
	l->item[l->n].summary = NULL;
	if (prio_matches(l, a->priority)) {
		l->item[l->n].summary = alarm_summary(a, false);
		if (l->item[l->n].summary == NULL)
			return -ENOMEM;
	}
	l->n++;
	return 0;
}

static int
id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
item_newest_first(const void *a, const void *b)
{
	const struct alarm_item *x = a, *y = b;

	return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

/* A stored record: kept (in the ring of the newest) unless it is open in memory. */
static int
stored_alarm_fn(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	struct alarm_list *l = arg;
	struct alarm_item *slot;
	json_t *s;

	(void)time_ns;
	if (bsearch(&id, l->open_ids, l->n_open, sizeof(uint64_t), id_cmp) != NULL)
		return 0; /* the manager's copy is newer */
	if (cp_alarm_from_json(json, len, l->scratch) != 0)
		return 0; /* not an alarm record (a raw hit of an older vigild): not listed */
	if (!prio_matches(l, l->scratch->priority))
		return 0;
	s = alarm_summary(l->scratch, false);
	if (s == NULL)
		return -ENOMEM;
	if (l->ring_n < l->limit) {
		slot = &l->ring[(l->ring_head + l->ring_n++) % l->limit];
	} else {
		slot = &l->ring[l->ring_head]; /* the oldest goes */
		json_decref(slot->summary);
		l->dropped = true;
		l->ring_head = (l->ring_head + 1) % l->limit;
	}
	slot->id = id;
	slot->summary = s;
	return 0;
}

static void
alarm_list_free(struct alarm_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		json_decref(l->item[i].summary);
	for (size_t i = 0; i < l->ring_n; i++)
		json_decref(l->ring[(l->ring_head + i) % l->limit].summary);
	free(l->item);
	free(l->ring);
	free(l->open_ids);
	free(l->scratch);
	free(l);
}

static void
alarm_list_drop(void *arg)
{
	alarm_list_free(arg);
}

/* Gather (open ones, then the store's with @p l->all) and answer. Any thread. */
static void
alarm_list_run(struct cp_clinical *clin, struct store *store, struct cp_ctl_call *call,
	       struct alarm_list *l)
{
	json_t *arr = NULL, *res = NULL;
	size_t k = 0;
	int rc;

	rc = cp_alarms_foreach(cp_clinical_alarms(clin), open_alarm_fn, l);
	if (rc != 0)
		goto fail;
	if (l->all && store != NULL) {
		l->open_ids = malloc((l->n + 1) * sizeof(uint64_t));
		l->ring = calloc(l->limit, sizeof(*l->ring));
		l->scratch = malloc(sizeof(*l->scratch));
		if (l->open_ids == NULL || l->ring == NULL || l->scratch == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < l->n; i++)
			l->open_ids[i] = l->item[i].id;
		l->n_open = l->n;
		qsort(l->open_ids, l->n_open, sizeof(uint64_t), id_cmp);
		rc = store_query_alarms(store, 0, INT64_MAX, stored_alarm_fn, l);
		if (rc != 0)
			goto fail;
	}
	/* One list: the open ones that match, then the stored ones; newest first. */
	for (size_t i = 0; i < l->n; i++)
		if (l->item[i].summary != NULL)
			l->item[k++] = l->item[i];
	l->n = k;
	if (l->ring_n > 0) {
		struct alarm_item *grown = realloc(l->item, (l->n + l->ring_n) * sizeof(*grown));

		if (grown == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		l->item = grown;
		for (size_t i = 0; i < l->ring_n; i++)
			l->item[l->n++] = l->ring[(l->ring_head + i) % l->limit];
		l->ring_n = 0;
	}
	qsort(l->item, l->n, sizeof(*l->item), item_newest_first);
	arr = json_array();
	res = json_pack("{s:o}", "alarms", arr);
	if (res == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (i < l->limit && json_array_append(arr, l->item[i].summary) != 0) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	if (set(res, "truncated", json_boolean(l->n > l->limit || l->dropped))) {
		rc = -ENOMEM;
		goto fail;
	}
	cp_ctl_reply(call, res);
	alarm_list_free(l);
	return;

fail:
	json_decref(res);
	if (rc == -ENOMEM)
		fail_nomem(call);
	else
		cp_ctl_fail(call, "failed", "alarms.list: reading the stored alarms failed: %s",
			    strerror(-rc));
	alarm_list_free(l);
}

static void
alarm_list_job(struct cp_ctl *c, struct cp_ctl_call *call, void *arg)
{
	alarm_list_run(clinical_of(c), store_of(c), call, arg);
}

static void
cmd_alarms_list(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	static const struct arg_spec spec[] = {
		{"state", ARG_STRING}, {"priority", ARG_STRING}, {"limit", ARG_UINT}};
	static const char *const states[] = {"open", "all"};
	struct cp_clinical *clin = clinical_of(c);
	const char *state, *priority;
	struct alarm_list *l;
	uint64_t limit;

	if (check_args(call, args, spec, 3) != 0 ||
	    arg_name(call, args, "state", states, 2, &state) != 0 ||
	    arg_name(call, args, "priority", priority_names, RULE_PRIO__COUNT, &priority) != 0 ||
	    arg_uint(call, args, "limit", false, ALARMS_LIMIT_DEFAULT, 1, ALARMS_LIMIT_MAX,
		     &limit) != 0)
		return;
	if (clin == NULL) {
		fail_no_clinical(call);
		return;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		fail_nomem(call);
		return;
	}
	l->priority = priority;
	l->limit = (unsigned)limit;
	l->all = state != NULL && strcmp(state, "all") == 0;
	if (!l->all || store_of(c) == NULL) {
		alarm_list_run(clin, NULL, call, l);
		return;
	}
	/* Every stored record is read: on the job thread, not in the way of other clients. */
	if (cp_ctl_job(c, call, alarm_list_job, alarm_list_drop, l) != 0) {
		alarm_list_free(l);
		fail_nomem(call);
	}
}

/* A stored record (store_alarm_get): parsed as it is. */
static int
stored_record_fn(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	json_t **out = arg;

	(void)id;
	(void)time_ns;
	*out = json_loadb(json, len, 0, NULL);
	return *out != NULL ? 0 : -EBADMSG;
}

static int
arg_alarm_id(struct cp_ctl_call *call, json_t *args, uint64_t *id)
{
	static const struct arg_spec spec[] = {{"id", ARG_UINT}};

	if (check_args(call, args, spec, 1) != 0)
		return -1;
	return arg_uint(call, args, "id", true, 0, 1, INT64_MAX, id);
}

static void
cmd_alarms_show(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	struct cp_clinical *clin = clinical_of(c);
	struct store *store = store_of(c);
	struct cp_alarm *a;
	json_t *res = NULL;
	uint64_t id;
	char *text;
	int rc;

	if (arg_alarm_id(call, args, &id) != 0)
		return;
	if (clin == NULL) {
		fail_no_clinical(call);
		return;
	}
	a = malloc(sizeof(*a));
	if (a == NULL) {
		fail_nomem(call);
		return;
	}
	rc = cp_alarms_get(cp_clinical_alarms(clin), id, a);
	if (rc == 0) {
		text = cp_alarm_json(a, NULL);
		res = text != NULL ? json_loads(text, 0, NULL) : NULL;
		free(text);
		free(a);
		reply_or_nomem(call, res);
		return;
	}
	free(a);
	if (store == NULL) {
		cp_ctl_fail(call, "not_found",
			    "alarms.show: alarm %" PRIu64
			    " is not open (storage is off, so an alarm "
			    "that has ended cannot be shown)",
			    id);
		return;
	}
	rc = store_alarm_get(store, id, stored_record_fn, &res);
	if (rc == 0)
		reply_or_nomem(call, res);
	else if (rc == -ENOENT)
		cp_ctl_fail(call, "not_found",
			    "alarms.show: no alarm %" PRIu64 " (neither open nor stored)", id);
	else
		cp_ctl_fail(call, "failed", "alarms.show: reading alarm %" PRIu64 " failed: %s", id,
			    strerror(-rc));
}

enum alarm_op { OP_ACK, OP_RESET, OP_SILENCE };

struct alarm_op_call {
	struct cp_ctl_call *call;
	enum alarm_op op;
	uint64_t id;
	char who[CP_ALARM_WHO_MAX];
	struct cp_alarm before, after;
};

static const char *
op_verb(enum alarm_op op)
{
	return op == OP_ACK ? "acknowledged" : op == OP_RESET ? "reset" : "silenced";
}

/*
 * The consumer's thread: carry the operator's action out and answer. A
 * reset ends the alarm, which then leaves the manager: its record after
 * the change is the one before with the change applied as the manager
 * applies it (state, one history entry, changed).
 */
static void
alarm_op_fn(void *arg, struct cp_alarms *alarms, int64_t now_ns)
{
	struct alarm_op_call *k = arg;
	bool had;
	int rc;

	if (alarms == NULL) {
		cp_ctl_fail(k->call, "shutting_down",
			    "vigild is stopping: alarm %" PRIu64 " was not %s", k->id,
			    op_verb(k->op));
		goto out;
	}
	/* What is due first (as the action itself would), so the copy is the state it meets. */
	cp_alarms_tick(alarms, now_ns);
	had = cp_alarms_get(alarms, k->id, &k->before) == 0;
	switch (k->op) {
	case OP_ACK:
		rc = cp_alarms_ack(alarms, k->id, k->who, now_ns);
		break;
	case OP_RESET:
		rc = cp_alarms_reset(alarms, k->id, k->who, now_ns);
		break;
	default:
		rc = cp_alarms_silence(alarms, k->id, k->who, 0, now_ns);
		break;
	}
	if (rc == -ENOENT) {
		cp_ctl_fail(k->call, "not_found",
			    "no open alarm %" PRIu64 " (it may have ended: alarms.show %" PRIu64
			    " tells)",
			    k->id, k->id);
		goto out;
	}
	if (rc == -EALREADY) {
		cp_ctl_fail(k->call, "conflict", "alarm %" PRIu64 " is already %s", k->id,
			    op_verb(k->op));
		goto out;
	}
	if (rc == -EINVAL) {
		const char *st = cp_alarm_state_name(k->before.state);

		if (k->op == OP_ACK)
			cp_ctl_fail(k->call, "conflict",
				    "alarm %" PRIu64 " is %s: only an active alarm can be "
				    "acknowledged (a latched one is reset)",
				    k->id, st);
		else if (k->op == OP_RESET)
			cp_ctl_fail(k->call, "conflict",
				    "alarm %" PRIu64 " is %s: only a latched alarm (its condition "
				    "over) can be reset",
				    k->id, st);
		else
			cp_ctl_fail(k->call, "conflict",
				    "alarm %" PRIu64 " is %s: it cannot be silenced", k->id, st);
		goto out;
	}
	if (rc != 0) {
		cp_ctl_fail(k->call, "failed", "alarm %" PRIu64 " was not %s: %s", k->id,
			    op_verb(k->op), strerror(-rc));
		goto out;
	}
	if (cp_alarms_get(alarms, k->id, &k->after) != 0) {
		struct cp_alarm *a = &k->after;
		int64_t t = now_ns < k->before.changed_ns ? k->before.changed_ns : now_ns;
		struct cp_alarm_hist *h;

		if (!had) { /* done, but no copy is left to show (not expected) */
			reply_or_nomem(k->call, json_pack("{s:I, s:s}", "id", (json_int_t)k->id,
							  "done", op_verb(k->op)));
			goto out;
		}
		*a = k->before;
		a->state = CP_ALARM_RESET;
		if (a->n_hist >= CP_ALARM_HISTORY) {
			memmove(&a->hist[0], &a->hist[1],
				(CP_ALARM_HISTORY - 1) * sizeof(a->hist[0]));
			a->n_hist = CP_ALARM_HISTORY - 1;
			a->hist_dropped++;
		}
		h = &a->hist[a->n_hist++];
		memset(h, 0, sizeof(*h));
		h->change = CP_ALC_RESET;
		h->state = CP_ALARM_RESET;
		h->priority = a->priority;
		h->time_ns = t;
		snprintf(h->by, sizeof(h->by), "%s", k->who);
		a->changed_ns = t;
	}
	reply_or_nomem(k->call, alarm_summary(&k->after, true));
out:
	free(k);
}

static void
alarm_op(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args, enum alarm_op op)
{
	const struct cp_ctl_caller *who = cp_ctl_call_caller(call);
	struct cp_clinical *clin = clinical_of(c);
	struct alarm_op_call *k;
	char uid[24];
	uint64_t id;

	if (arg_alarm_id(call, args, &id) != 0)
		return;
	if (clin == NULL) {
		fail_no_clinical(call);
		return;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		fail_nomem(call);
		return;
	}
	k->call = call;
	k->op = op;
	k->id = id;
	/* Who did it, as the alarm's history keeps it: "alice (uid 1000)", or "uid 1000". */
	snprintf(uid, sizeof(uid), "%u", (unsigned)who->uid);
	if (who->user[0] == '\0' || strcmp(who->user, uid) == 0)
		snprintf(k->who, sizeof(k->who), "uid %u", (unsigned)who->uid);
	else
		snprintf(k->who, sizeof(k->who), "%.16s (uid %u)", who->user, (unsigned)who->uid);
	if (cp_clinical_call(clin, alarm_op_fn, k) != 0) {
		free(k);
		fail_nomem(call);
	}
}

static void
cmd_alarms_ack(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	alarm_op(c, call, args, OP_ACK);
}

static void
cmd_alarms_reset(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	alarm_op(c, call, args, OP_RESET);
}

static void
cmd_alarms_silence(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	alarm_op(c, call, args, OP_SILENCE);
}

static void
cmd_alarms_follow(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	if (check_args(call, args, NULL, 0) != 0)
		return;
	if (clinical_of(c) == NULL) {
		fail_no_clinical(call);
		return;
	}
	if (cp_ctl_follow(call) != 0)
		fail_nomem(call);
}

/* ------------------------------------------------------------------------ */
/* Devices (the registry, read online)                                       */
/* ------------------------------------------------------------------------ */

static json_t *
device_info_json(const struct dp_device_info *d)
{
	char ip[INET6_ADDRSTRLEN] = "";
	json_t *o;

	if (d->ip_version == 4 || d->ip_version == 6)
		inet_ntop(d->ip_version == 4 ? AF_INET : AF_INET6, d->sender, ip, sizeof(ip));
	o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:i}", "device",
		      device_json(d->device), "device_id", text_json(d->device_id), "patient",
		      text_json(d->patient), "location", text_json(d->location), "sender",
		      ip[0] != '\0' ? json_string(ip) : json_null(), "port",
		      ip[0] != '\0' ? json_integer(d->sport) : json_null(), "first_seen",
		      iso_json(d->first_seen_ns), "last_seen", iso_json(d->last_seen_ns),
		      "messages", (json_int_t)d->messages, "observations",
		      (json_int_t)d->observations, "hits", (json_int_t)d->hits, "alarms",
		      (json_int_t)d->alarms, "worker", (int)d->worker);
	return o;
}

struct dev_walk {
	struct dp_device_info *info;
	size_t n, limit;
	bool more;	       /* a device past the limit */
	const char *device_id; /* devices.show by device id */
	int rc;
};

static int
dev_fn(void *arg, const struct dp_device_info *d)
{
	struct dev_walk *w = arg;

	if (w->device_id != NULL) {
		if (strcmp(d->device_id, w->device_id) != 0)
			return 0;
	} else if (w->n == w->limit) {
		w->more = true;
		return 1;
	}
	w->info[w->n++] = *d;
	return w->device_id != NULL ? 1 : 0;
}

static int
dev_cmp(const void *a, const void *b)
{
	const struct dp_device_info *x = a, *y = b;

	return x->device < y->device ? -1 : x->device > y->device;
}

static struct dp_registry *
registry_of(struct cp_ctl *c, struct cp_ctl_call *call)
{
	const struct cp_sources *src = sources(c);
	struct dp_registry *r = src != NULL && src->dp != NULL ? dp_registry_of(src->dp) : NULL;

	if (r == NULL)
		cp_ctl_fail(call, "unavailable",
			    "%s: the device registry is off in this vigild (registry.devices: 0)",
			    cp_ctl_call_cmd(call));
	return r;
}

static void
cmd_devices_list(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	static const struct arg_spec spec[] = {{"limit", ARG_UINT}};
	struct dev_walk w = {0};
	struct dp_registry *r;
	json_t *arr, *res;
	unsigned total;
	uint64_t limit;

	if (check_args(call, args, spec, 1) != 0 ||
	    arg_uint(call, args, "limit", false, DEVICES_LIMIT_DEFAULT, 1, DEVICES_LIMIT_MAX,
		     &limit) != 0)
		return;
	r = registry_of(c, call);
	if (r == NULL)
		return;
	/* Copied out while online (no allocation then), the JSON built offline. */
	urcu_qsbr_thread_online();
	total = dp_registry_count(r);
	urcu_qsbr_thread_offline();
	/* Room for the devices there, and some added meanwhile, up to the limit. */
	w.limit = total + 64 < limit ? total + 64 : (size_t)limit;
	w.info = malloc(w.limit * sizeof(*w.info));
	if (w.info == NULL) {
		fail_nomem(call);
		return;
	}
	urcu_qsbr_thread_online();
	dp_registry_foreach(r, dev_fn, &w);
	total = dp_registry_count(r);
	urcu_qsbr_thread_offline();
	qsort(w.info, w.n, sizeof(*w.info), dev_cmp);
	arr = json_array();
	res = json_pack("{s:o, s:i, s:b}", "devices", arr, "count", (int)total, "truncated",
			w.more || w.n < total);
	for (size_t i = 0; res != NULL && i < w.n; i++)
		if (json_array_append_new(arr, device_info_json(&w.info[i])) != 0) {
			json_decref(res);
			res = NULL;
		}
	free(w.info);
	reply_or_nomem(call, res);
}

static void
cmd_devices_show(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	static const struct arg_spec spec[] = {{"device", ARG_DEVICE}};
	struct dp_device_info info;
	struct dev_walk w = {.info = &info, .limit = 1};
	json_t *v = json_object_get(args, "device");
	struct dp_registry *r;
	uint64_t key = 0;
	bool by_key;
	int rc = -ENOENT;

	if (check_args(call, args, spec, 1) != 0)
		return;
	if (v == NULL) {
		cp_ctl_fail(call, "bad_args",
			    "devices.show needs 'device' (its key \"0x...\" or its device id)");
		return;
	}
	if (json_is_integer(v)) {
		key = (uint64_t)json_integer_value(v);
		by_key = true;
	} else {
		const char *s = json_string_value(v);

		by_key = s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && parse_device(s, &key) == 0;
		if (!by_key) {
			if (s[0] == '\0' || strlen(s) > DP_REGISTRY_TEXT) {
				cp_ctl_fail(call, "bad_args",
					    "devices.show: 'device' must be a key \"0x...\" or a "
					    "device id of 1..%d bytes",
					    DP_REGISTRY_TEXT);
				return;
			}
			w.device_id = s;
		}
	}
	r = registry_of(c, call);
	if (r == NULL)
		return;
	urcu_qsbr_thread_online();
	if (by_key)
		rc = dp_registry_lookup(r, key, &info);
	else
		rc = dp_registry_foreach(r, dev_fn, &w) == 1 ? 0 : -ENOENT;
	urcu_qsbr_thread_offline();
	if (rc != 0) {
		if (by_key)
			cp_ctl_fail(call, "not_found",
				    "devices.show: no device 0x%016" PRIx64 " in the registry",
				    key);
		else
			cp_ctl_fail(call, "not_found",
				    "devices.show: no device with device id \"%s\" in the registry",
				    w.device_id);
		return;
	}
	reply_or_nomem(call, device_info_json(&info));
}

/* ------------------------------------------------------------------------ */
/* Patients                                                                  */
/* ------------------------------------------------------------------------ */

struct patient_list {
	struct cp_patient *pt; /* the copies, sorted by key afterwards */
	size_t n, room;
};

static int
patient_fn(void *arg, const struct cp_patient *pt)
{
	struct patient_list *l = arg;

	if (l->n == l->room) {
		size_t room = l->room ? 2 * l->room : 64;
		struct cp_patient *grown = realloc(l->pt, room * sizeof(*grown));

		if (grown == NULL)
			return -ENOMEM;
		l->pt = grown;
		l->room = room;
	}
	l->pt[l->n++] = *pt;
	return 0;
}

static int
patient_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cp_patient *)a)->key, ((const struct cp_patient *)b)->key);
}

static json_t *
patient_summary(const struct cp_patient *pt)
{
	bool scored = pt->news2_ns != 0;

	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "patient", text_json(pt->key),
			 "location", text_json(pt->location), "device", device_json(pt->device),
			 "news2", scored ? json_integer(pt->news2.total) : json_null(), "risk",
			 scored ? json_string(cp_news2_risk_name(pt->news2.risk)) : json_null(),
			 "complete", json_boolean(scored && pt->news2.complete), "updated",
			 iso_json(pt->last_ns));
}

static void
cmd_patients_list(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	struct cp_clinical *clin = clinical_of(c);
	struct patient_list l = {0};
	json_t *arr, *res;
	int rc;

	if (check_args(call, args, NULL, 0) != 0)
		return;
	if (clin == NULL) {
		fail_no_clinical(call);
		return;
	}
	rc = cp_patients_foreach(cp_clinical_patients(clin), patient_fn, &l);
	if (rc != 0) {
		free(l.pt);
		fail_nomem(call);
		return;
	}
	qsort(l.pt, l.n, sizeof(*l.pt), patient_cmp);
	arr = json_array();
	res = json_pack("{s:o}", "patients", arr);
	for (size_t i = 0; res != NULL && i < l.n; i++)
		if (json_array_append_new(arr, patient_summary(&l.pt[i])) != 0) {
			json_decref(res);
			res = NULL;
		}
	free(l.pt);
	reply_or_nomem(call, res);
}

struct patient_call {
	struct cp_ctl_call *call;
	struct cp_patients *patients;
	char key[CP_PATIENT_ID_MAX + 1];
	struct cp_patient pt;
};

/* The NEWS2 parameter metric @p code was chosen for, or NULL. */
static const char *
news2_param_of(const struct cp_patient *pt, uint32_t code)
{
	for (int p = 0; p < CP_N2__COUNT; p++)
		if (pt->news2_source[p] == code && code != 0)
			return cp_news2_param_name(p);
	return NULL;
}

static json_t *
patient_json(const struct cp_patient *pt, int64_t now_ns)
{
	json_t *o = patient_summary(pt), *vitals = json_array(), *n2;
	int bad = o == NULL || vitals == NULL;

	if (bad) {
		json_decref(o);
		json_decref(vitals);
		return NULL;
	}
	for (unsigned i = 0; i < CP_PATIENT_METRICS && !bad; i++) {
		const struct cp_patient_value *v = &pt->value[i];
		const struct rule_metric *m;
		const struct rule_unit *u;
		const char *param;
		char code[16];

		if (v->code == 0)
			continue;
		m = rule_metric_by_code(v->code);
		u = v->unit != 0 ? rule_unit_by_code(v->unit) : NULL;
		param = news2_param_of(pt, v->code);
		snprintf(code, sizeof(code), "%" PRIu32, v->code);
		bad |= json_array_append_new(
			vitals,
			json_pack("{s:s, s:I, s:o, s:o, s:I, s:o, s:o, s:o, s:o}", "metric",
				  m != NULL ? m->name : code, "code", (json_int_t)v->code, "value",
				  num_json(v->value), "unit",
				  u != NULL ? json_string(u->ucum) : json_null(), "unit_code",
				  (json_int_t)v->unit, "time", iso_json(v->time_ns), "age_s",
				  real_json((double)(now_ns - v->time_ns) / 1e9, 3), "source",
				  device_json(v->device), "news2",
				  param != NULL ? json_string(param) : json_null()));
	}
	bad |= set(o, "vitals", vitals);
	n2 = pt->news2_ns != 0 ? cp_news2_object(pt) : json_null();
	bad |= n2 == NULL || set(o, "news2", n2);
	bad |= set(o, "oxygen", json_string(cp_o2_name(pt->oxygen)));
	bad |= set(o, "acvpu", json_string(cp_acvpu_name(pt->acvpu)));
	bad |= set(o, "scale", json_integer(pt->scale2 ? 2 : 1));
	bad |= set(o, "time", iso_json(now_ns));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The consumer's thread: the patient as of the pipeline's clock (a replay's too). */
static void
patient_fn_call(void *arg, struct cp_alarms *alarms, int64_t now_ns)
{
	struct patient_call *k = arg;

	if (alarms == NULL)
		cp_ctl_fail(k->call, "shutting_down", "vigild is stopping");
	else if (cp_patients_get(k->patients, k->key, &k->pt) != 0)
		cp_ctl_fail(k->call, "not_found",
			    "patients.show: no patient \"%s\" (patients.list names them)", k->key);
	else
		reply_or_nomem(k->call, patient_json(&k->pt, now_ns));
	free(k);
}

static void
cmd_patients_show(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	static const struct arg_spec spec[] = {{"patient", ARG_STRING}};
	struct cp_clinical *clin = clinical_of(c);
	json_t *v = json_object_get(args, "patient");
	struct patient_call *k;
	const char *s;

	if (check_args(call, args, spec, 1) != 0)
		return;
	s = json_string_value(v);
	if (s == NULL || s[0] == '\0' || strlen(s) > CP_PATIENT_ID_MAX) {
		cp_ctl_fail(call, "bad_args",
			    "patients.show needs 'patient': a patient id of 1..%d bytes (or "
			    "\"device:<16 hex>\" for a device that names none)",
			    CP_PATIENT_ID_MAX);
		return;
	}
	if (clin == NULL) {
		fail_no_clinical(call);
		return;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		fail_nomem(call);
		return;
	}
	k->call = call;
	k->patients = cp_clinical_patients(clin);
	snprintf(k->key, sizeof(k->key), "%s", s);
	/* A device's own key is written with upper-case hex ("device:00000000000ABC12"). */
	if (strncmp(k->key, "device:", 7) == 0)
		for (char *p = k->key + 7; *p != '\0'; p++)
			*p = (char)toupper((unsigned char)*p);
	if (cp_clinical_call(clin, patient_fn_call, k) != 0) {
		free(k);
		fail_nomem(call);
	}
}

/* ------------------------------------------------------------------------ */
/* query                                                                     */
/* ------------------------------------------------------------------------ */

struct obs_walk {
	json_t *arr;
	size_t n, limit;
	bool truncated;
};

/* One observation, with store_obs_json's fields (and the metric's name). */
static int
obs_fn(void *arg, const struct store_obs *obs)
{
	struct obs_walk *w = arg;
	const struct rule_metric *m;
	char when[64];

	if (w->n == w->limit) {
		w->truncated = true;
		return 1;
	}
	m = rule_metric_by_code(obs->code);
	iso_time_prec(when, sizeof(when), obs->time_ns, true); /* as store_obs_json */
	if (json_array_append_new(
		    w->arr,
		    json_pack("{s:o, s:s, s:I, s:I, s:o, s:I, s:I, s:o}", "device",
			      device_json(obs->device), "time", when, "seq", (json_int_t)obs->seq,
			      "code", (json_int_t)obs->code, "value", num_json(obs->value), "unit",
			      (json_int_t)obs->unit, "flags", (json_int_t)obs->flags, "metric",
			      m != NULL ? json_string(m->name) : json_null())) != 0)
		return -ENOMEM;
	w->n++;
	return 0;
}

static void
cmd_query(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	static const struct arg_spec spec[] = {
		{"device", ARG_DEVICE}, {"from", ARG_TIME}, {"to", ARG_TIME}, {"limit", ARG_UINT}};
	struct store *store = store_of(c);
	struct obs_walk w = {0};
	json_t *v = json_object_get(args, "device"), *res;
	int64_t now = wall_ns(), from, to;
	uint64_t device, limit;
	int rc;

	if (check_args(call, args, spec, 4) != 0)
		return;
	if (v == NULL) {
		cp_ctl_fail(call, "bad_args",
			    "query needs 'device' (its key: \"0x...\" or decimal)");
		return;
	}
	if (json_is_integer(v)) {
		device = (uint64_t)json_integer_value(v);
	} else if (parse_device(json_string_value(v), &device) != 0) {
		cp_ctl_fail(call, "bad_args",
			    "query: 'device': \"%.64s\" is not a device key (\"0x\" and up to 16 "
			    "hex digits, or decimal)",
			    json_string_value(v));
		return;
	}
	if (arg_time(call, args, "to", now, &to) != 0 ||
	    arg_time(call, args, "from", to - QUERY_SPAN_DEFAULT_S * NS_PER_S, &from) != 0 ||
	    arg_uint(call, args, "limit", false, QUERY_LIMIT_DEFAULT, 1, QUERY_LIMIT_MAX, &limit) !=
		    0)
		return;
	if (to <= from) {
		cp_ctl_fail(call, "bad_args", "query: 'to' must come after 'from'");
		return;
	}
	if (store == NULL) {
		fail_no_storage(call);
		return;
	}
	w.arr = json_array();
	w.limit = (size_t)limit;
	if (w.arr == NULL) {
		fail_nomem(call);
		return;
	}
	rc = store_query_obs(store, device, from, to, obs_fn, &w);
	if (rc < 0) {
		json_decref(w.arr);
		if (rc == -ENOMEM)
			fail_nomem(call);
		else
			cp_ctl_fail(call, "failed", "query: reading the observations failed: %s",
				    strerror(-rc));
		return;
	}
	res = json_pack("{s:o, s:b, s:o, s:o}", "observations", w.arr, "truncated", w.truncated,
			"from", iso_json(from), "to", iso_json(to));
	reply_or_nomem(call, res);
}

/* ------------------------------------------------------------------------ */
/* Backups                                                                   */
/* ------------------------------------------------------------------------ */

struct backup_job {
	char *dir;
	uint32_t id; /* verify: 0 the latest */
};

static void
backup_job_free(struct backup_job *j)
{
	free(j->dir);
	free(j);
}

static void
backup_job_drop(void *arg)
{
	backup_job_free(arg);
}

static json_t *
backup_json(const struct store_backup_info *b)
{
	return json_pack("{s:I, s:o, s:I, s:I}", "id", (json_int_t)b->id, "time",
			 iso_json(b->time_s * NS_PER_S), "size", (json_int_t)b->size, "files",
			 (json_int_t)b->files);
}

/* The backup directory: args.dir, else backup.dir. @return it, or NULL (answered). */
static const char *
arg_backup_dir(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	const struct cp_ctl_opts *o = cp_ctl_options(c);
	json_t *v = json_object_get(args, "dir");
	const char *dir = v != NULL ? json_string_value(v) : o->backup_dir;

	if (dir == NULL || dir[0] == '\0') {
		cp_ctl_fail(call, "unavailable",
			    "%s: backup.dir is not set in vigild's configuration: give 'dir'",
			    cp_ctl_call_cmd(call));
		return NULL;
	}
	if (v != NULL && check_path(call, "dir", dir) != 0)
		return NULL;
	return dir;
}

static void
backup_create_job(struct cp_ctl *c, struct cp_ctl_call *call, void *arg)
{
	struct backup_job *j = arg;
	struct store_backup_info info = {0};
	char err[512] = "";
	json_t *res;
	int rc;

	rc = store_backup_live(store_of(c), j->dir, &info, err, sizeof(err));
	if (rc != 0) {
		cp_ctl_fail(call, "failed", "backup.create: %s",
			    err[0] != '\0' ? err : strerror(-rc));
	} else {
		res = backup_json(&info);
		if (res != NULL && set(res, "dir", json_string(j->dir))) {
			json_decref(res);
			res = NULL;
		}
		reply_or_nomem(call, res);
	}
	backup_job_free(j);
}

static struct backup_job *
backup_job_new(struct cp_ctl_call *call, const char *dir)
{
	struct backup_job *j = calloc(1, sizeof(*j));

	if (j != NULL && (j->dir = strdup(dir)) == NULL) {
		free(j);
		j = NULL;
	}
	if (j == NULL)
		fail_nomem(call);
	return j;
}

static void
cmd_backup_create(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	static const struct arg_spec spec[] = {{"dir", ARG_STRING}};
	struct backup_job *j;
	const char *dir;

	if (check_args(call, args, spec, 1) != 0 || (dir = arg_backup_dir(c, call, args)) == NULL)
		return;
	if (store_of(c) == NULL) {
		fail_no_storage(call);
		return;
	}
	j = backup_job_new(call, dir);
	if (j != NULL && cp_ctl_job(c, call, backup_create_job, backup_job_drop, j) != 0) {
		backup_job_free(j);
		fail_nomem(call);
	}
}

static void
cmd_backup_list(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	static const struct arg_spec spec[] = {{"dir", ARG_STRING}};
	struct store_backup_info *b;
	char err[512] = "";
	json_t *arr, *res;
	const char *dir;
	int n;

	if (check_args(call, args, spec, 1) != 0 || (dir = arg_backup_dir(c, call, args)) == NULL)
		return;
	b = calloc(BACKUPS_MAX, sizeof(*b));
	if (b == NULL) {
		fail_nomem(call);
		return;
	}
	n = store_backup_list(dir, b, BACKUPS_MAX, err, sizeof(err));
	if (n == -ENOENT)
		n = 0; /* no backup yet is an empty list, not an error */
	if (n < 0) {
		free(b);
		cp_ctl_fail(call, "failed", "backup.list: %s", err[0] != '\0' ? err : strerror(-n));
		return;
	}
	arr = json_array();
	res = json_pack("{s:o, s:s}", "backups", arr, "dir", dir);
	for (int i = 0; res != NULL && i < n; i++)
		if (json_array_append_new(arr, backup_json(&b[i])) != 0) {
			json_decref(res);
			res = NULL;
		}
	free(b);
	reply_or_nomem(call, res);
}

static void
backup_verify_job(struct cp_ctl *c, struct cp_ctl_call *call, void *arg)
{
	struct backup_job *j = arg;
	struct store_backup_info *b = NULL;
	char err[512] = "";
	uint32_t id = j->id;
	int rc, n;

	(void)c;
	if (id == 0) { /* the latest: name it in the answer */
		b = calloc(BACKUPS_MAX, sizeof(*b));
		if (b == NULL) {
			fail_nomem(call);
			goto out;
		}
		n = store_backup_list(j->dir, b, BACKUPS_MAX, err, sizeof(err));
		if (n == 0 || n == -ENOENT) {
			cp_ctl_fail(call, "not_found", "backup.verify: no backups in %s", j->dir);
			goto out;
		}
		if (n < 0) {
			cp_ctl_fail(call, "failed", "backup.verify: %s",
				    err[0] != '\0' ? err : strerror(-n));
			goto out;
		}
		id = b[n - 1].id;
	}
	rc = store_backup_verify(j->dir, id, err, sizeof(err));
	if (rc == 0)
		reply_or_nomem(call, json_pack("{s:b, s:I, s:s}", "ok", 1, "id", (json_int_t)id,
					       "dir", j->dir));
	else if (rc == -ENOENT)
		cp_ctl_fail(call, "not_found", "backup.verify: no backup %" PRIu32 " in %s%s%s", id,
			    j->dir, err[0] != '\0' ? ": " : "", err);
	else if (rc == -EUCLEAN)
		cp_ctl_fail(call, "failed", "backup.verify: backup %" PRIu32 " is damaged: %s", id,
			    err[0] != '\0' ? err : "a file does not match its checksum");
	else
		cp_ctl_fail(call, "failed", "backup.verify: backup %" PRIu32 ": %s", id,
			    err[0] != '\0' ? err : strerror(-rc));
out:
	free(b);
	backup_job_free(j);
}

static void
cmd_backup_verify(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	static const struct arg_spec spec[] = {{"id", ARG_UINT}, {"dir", ARG_STRING}};
	struct backup_job *j;
	const char *dir;
	uint64_t id;

	if (check_args(call, args, spec, 2) != 0 ||
	    arg_uint(call, args, "id", false, 0, 0, UINT32_MAX, &id) != 0 ||
	    (dir = arg_backup_dir(c, call, args)) == NULL)
		return;
	j = backup_job_new(call, dir);
	if (j == NULL)
		return;
	j->id = (uint32_t)id;
	if (cp_ctl_job(c, call, backup_verify_job, backup_job_drop, j) != 0) {
		backup_job_free(j);
		fail_nomem(call);
	}
}

/* ------------------------------------------------------------------------ */
/* Audit                                                                     */
/* ------------------------------------------------------------------------ */

struct audit_walk {
	json_t *arr;
	uint64_t last;
};

static int
audit_fn(void *arg, uint64_t seq, int64_t time_ns, const char *json, size_t len)
{
	struct audit_walk *w = arg;
	json_t *r = json_loadb(json, len, 0, NULL);

	(void)time_ns;
	if (r == NULL || !json_is_object(r)) {
		/* Stored by vigild, so it parses; if not, say so rather than hide it. */
		json_decref(r);
		r = json_pack("{s:b}", "unreadable", 1);
	}
	w->last = seq;
	if (r == NULL || set(r, "seq", json_integer((json_int_t)seq)) ||
	    json_array_append_new(w->arr, r) != 0)
		return -ENOMEM;
	return 0;
}

static void
cmd_audit_list(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	static const struct arg_spec spec[] = {{"from", ARG_UINT}, {"limit", ARG_UINT}};
	struct store *store = store_of(c);
	struct audit_walk w = {0};
	uint64_t from, limit;
	json_t *res;
	int rc;

	if (check_args(call, args, spec, 2) != 0 ||
	    arg_uint(call, args, "from", false, 1, 1, INT64_MAX - AUDIT_LIMIT_MAX, &from) != 0 ||
	    arg_uint(call, args, "limit", false, AUDIT_LIMIT_DEFAULT, 1, AUDIT_LIMIT_MAX, &limit) !=
		    0)
		return;
	if (store == NULL) {
		fail_no_storage(call);
		return;
	}
	w.arr = json_array();
	if (w.arr == NULL) {
		fail_nomem(call);
		return;
	}
	rc = store_query_audit(store, from, from + limit, audit_fn, &w);
	if (rc < 0) {
		json_decref(w.arr);
		if (rc == -ENOMEM)
			fail_nomem(call);
		else
			cp_ctl_fail(call, "failed",
				    "audit.list: reading the audit chain failed: %s",
				    strerror(-rc));
		return;
	}
	res = json_pack("{s:o, s:I}", "records", w.arr, "next",
			(json_int_t)(json_array_size(w.arr) > 0 ? w.last + 1 : from));
	reply_or_nomem(call, res);
}

static void
audit_verify_job(struct cp_ctl *c, struct cp_ctl_call *call, void *arg)
{
	const struct cp_ctl_opts *o = cp_ctl_options(c);
	struct cp_audit_verify v;
	char err[512] = "";
	int rc;

	(void)arg;
	memset(&v, 0, sizeof(v));
	rc = cp_audit_verify(store_of(c), o->audit_key_file, &v, err, sizeof(err));
	if (rc == 0 || rc == -EBADMSG)
		reply_or_nomem(call,
			       json_pack("{s:b, s:I, s:I, s:I, s:I, s:s, s:b}", "ok", rc == 0,
					 "records", (json_int_t)v.records, "first",
					 (json_int_t)v.first_seq, "last", (json_int_t)v.last_seq,
					 "bad_seq", (json_int_t)v.bad_seq, "reason", v.reason,
					 "keyed", o->audit_key_file != NULL));
	else if (rc == -ENOMEM)
		fail_nomem(call);
	else
		cp_ctl_fail(call, "failed", "audit.verify: %s",
			    err[0] != '\0' ? err : strerror(-rc));
}

static void
cmd_audit_verify(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	if (check_args(call, args, NULL, 0) != 0)
		return;
	if (store_of(c) == NULL) {
		fail_no_storage(call);
		return;
	}
	if (cp_ctl_job(c, call, audit_verify_job, NULL, NULL) != 0)
		fail_nomem(call);
}

/* ------------------------------------------------------------------------ */
/* shutdown                                                                  */
/* ------------------------------------------------------------------------ */

static void
cmd_shutdown(struct cp_ctl *c, struct cp_ctl_call *call, json_t *args)
{
	const struct cp_ctl_opts *o = cp_ctl_options(c);

	if (check_args(call, args, NULL, 0) != 0)
		return;
	if (o == NULL || o->quit == NULL) {
		cp_ctl_fail(call, "unavailable",
			    "shutdown: this vigild cannot be stopped from here");
		return;
	}
	reply_or_nomem(call, json_pack("{s:b}", "stopping", 1));
	atomic_store(o->quit, true); /* the main loop stops as on SIGTERM */
}

/* ------------------------------------------------------------------------ */
/* The table                                                                 */
/* ------------------------------------------------------------------------ */

const struct cp_ctl_cmd cp_ctl_cmds[] = {
	{"version", CP_ROLE_VIEWER, false, cmd_version,
	 "versions of vigild, DPDK, Hyperscan, the protocol and the storage schema"},
	{"uptime", CP_ROLE_VIEWER, false, cmd_uptime,
	 "when vigild started and for how long it runs"},
	{"status", CP_ROLE_VIEWER, false, cmd_status,
	 "ports, workers, ruleset, rings, storage and open alarms at a glance"},
	{"stats", CP_ROLE_VIEWER, false, cmd_stats,
	 "every counter (what `vigild --json` prints), sampled once a second"},
	{"rules.list", CP_ROLE_VIEWER, false, cmd_rules_list,
	 "the rules in force with their hits [action, priority]"},
	{"rules.show", CP_ROLE_VIEWER, false, cmd_rules_show,
	 "one rule in force: its text, file, line and hits (sid)"},
	{"rules.check", CP_ROLE_ADMIN, false, cmd_rules_check,
	 "load rule files aside and report errors and warnings; nothing changes [files]"},
	{"rules.reload", CP_ROLE_ADMIN, true, cmd_rules_reload,
	 "reload the configured rules; a ruleset with an error is refused"},
	{"rules.load", CP_ROLE_ADMIN, true, cmd_rules_load,
	 "load these rule files (they stay the ruleset for later reloads) (files)"},
	{"alarms.list", CP_ROLE_VIEWER, false, cmd_alarms_list,
	 "alarms, newest first [state open|all, priority, limit]"},
	{"alarms.show", CP_ROLE_VIEWER, false, cmd_alarms_show,
	 "one alarm's full record and history (id)"},
	{"alarms.ack", CP_ROLE_OPERATOR, true, cmd_alarms_ack, "acknowledge an active alarm (id)"},
	{"alarms.reset", CP_ROLE_OPERATOR, true, cmd_alarms_reset,
	 "reset a latched alarm whose condition has ended (id)"},
	{"alarms.silence", CP_ROLE_OPERATOR, true, cmd_alarms_silence,
	 "pause an alarm's audio for alarms.silence seconds (id)"},
	{"alarms.follow", CP_ROLE_VIEWER, false, cmd_alarms_follow,
	 "stream every alarm change as it happens"},
	{"devices.list", CP_ROLE_VIEWER, false, cmd_devices_list,
	 "devices heard from, by key [limit]"},
	{"devices.show", CP_ROLE_VIEWER, false, cmd_devices_show,
	 "one device (device: its key 0x... or its device id)"},
	{"patients.list", CP_ROLE_VIEWER, false, cmd_patients_list,
	 "patients with their NEWS2 score and risk"},
	{"patients.show", CP_ROLE_VIEWER, false, cmd_patients_show,
	 "a patient's latest vitals and NEWS2 breakdown (patient)"},
	{"query", CP_ROLE_VIEWER, false, cmd_query,
	 "stored observations of a device (device) [from, to, limit]"},
	{"backup.create", CP_ROLE_ADMIN, true, cmd_backup_create,
	 "back the database up while vigild runs [dir]"},
	{"backup.list", CP_ROLE_VIEWER, false, cmd_backup_list, "the backups in backup.dir [dir]"},
	{"backup.verify", CP_ROLE_ADMIN, false, cmd_backup_verify,
	 "check every byte of a backup against its checksums [id, dir]"},
	{"audit.list", CP_ROLE_VIEWER, false, cmd_audit_list,
	 "audit records by sequence number [from, limit]"},
	{"audit.verify", CP_ROLE_VIEWER, false, cmd_audit_verify,
	 "check the audit chain's MACs end to end"},
	{"shutdown", CP_ROLE_ADMIN, true, cmd_shutdown, "stop vigild (as SIGTERM does)"},
	{.name = NULL},
};

const struct cp_ctl_cmd *
cp_ctl_cmd_find(const char *name)
{
	for (const struct cp_ctl_cmd *c = cp_ctl_cmds; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}
