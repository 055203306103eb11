/*
 * persist.c - the consumer's hooks that keep the workers' events in the
 * store: observations batched, alarm records synced.
 *
 * Each DP_EV_OBS from a TELEMETRY lane goes into the store's observation
 * batch (store_obs_add). Its key is device . time . seq: the time is the
 * observation's own (the time the worker received it when the device sent
 * none), and seq is the order in which this persist received it (one
 * counter for the run), not the wire's VTP sequence number or OBX-1: every
 * observation of a VTP frame shares the frame's number and time, and two
 * HL7 messages of one device may share a time and an OBX-1, so the wire's
 * number would let one observation replace another.
 *
 * Each ALARM event (DP_EV_HIT, DP_EV_DEV_ALARM, DP_EV_TECH) becomes an
 * alarm record, compact JSON, under the next alarm id. Its stored time
 * (for retention and time queries) is when the worker received it; the
 * record carries the alarm's own time as well.
 *
 * Alarm records are written in groups (group commit): the hook appends the
 * record to the pending group, and the group is written as one synced
 * write batch (store_alarms_put: one fsync for the group) when it holds
 * STORE_ALARMS_BATCH_MAX records, at the end of every consumer pass
 * (cp_persist_tick, the consumer's idle function, runs after every pass,
 * whether it found anything or not) and at cp_persist_flush. So an alarm
 * storm costs one fsync per pass, or per 256 alarms, rather than one per
 * alarm, and the consumer keeps time to drain the TELEMETRY lanes; an
 * alarm waits at most until the end of its pass. A record counts as stored
 * once its group is written.
 *
 * A group whose write fails waits, record by record in order, in a bounded
 * FIFO and is written again (in groups as well), before any newer record,
 * once every retry_ms: cp_persist_tick does the retries, so they happen
 * with no new event. The first failure is a technical condition: one line
 * on the log, disk_full_alarms counted, the on_condition hook. While the
 * queue holds anything, newer groups join it rather than being written out
 * of order. When a write succeeds again with the queue empty, that is
 * said, counted (storage_recovered) and hooked too. A record the store
 * refuses for good (too large, invalid) is counted and dropped, never
 * retried: as the store refuses such a group whole, it is then written
 * again one record at a time, so that only the refused record is lost.
 *
 * Everything here runs on the store's one writer thread (the consumer's);
 * the counters and the state are atomics so that reports can read them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>

#include "controlplane.h"

struct pending {
	uint64_t id;
	int64_t time_ns;
	char *json;
	size_t len;
	uint64_t cookie;
	bool notify; /* on_stored is still owed */
};

struct cp_persist {
	struct store *s;
	struct cp_persist_opts o;
	/* The group being gathered (oldest first), written by commit(). */
	struct pending group[STORE_ALARMS_BATCH_MAX];
	unsigned n_group;
	struct store_alarm_rec recs[STORE_ALARMS_BATCH_MAX]; /* store_alarms_put's argument */
	int rec_rc[STORE_ALARMS_BATCH_MAX];		     /* write_recs: each record's result */
	/* The retry queue: a ring of o.retry_max records, oldest at head. */
	struct pending *queue;
	unsigned head;
	unsigned n;
	int64_t next_retry_ns; /* CLOCK_MONOTONIC */
	uint32_t obs_seq;
	uint64_t next_id;
	/* The failure in progress (writer thread only). */
	int64_t fail_start_ns;	   /* CLOCK_MONOTONIC */
	uint64_t fail_obs_failed;  /* the store's obs_failed when it began */
	uint64_t fail_obs_batches; /* the store's obs_batches when it began */
	uint64_t fail_retried;	   /* alarms_retried when it began */
	uint64_t fail_lost;	   /* alarm_retry_lost when it began */
	bool queue_full_said;
	bool encode_said;
	/* Read by any thread. */
	atomic_bool failing;
	atomic_int rc;
	atomic_uint queued;
	_Atomic uint64_t next_id_shown;
	_Atomic uint64_t counter[CP_PERSIST__COUNT];
};

/* ------------------------------------------------------------------------ */
/* Counters and state                                                        */
/* ------------------------------------------------------------------------ */

#define CP_X_NAME(name, desc) #name,
#define CP_X_DESC(name, desc) desc,
static const char *const counter_names[] = {CP_PERSIST_COUNTERS(CP_X_NAME)};
static const char *const counter_descs[] = {CP_PERSIST_COUNTERS(CP_X_DESC)};
#undef CP_X_NAME
#undef CP_X_DESC

const char *
cp_persist_counter_name(enum cp_persist_counter c)
{
	return (unsigned)c < CP_PERSIST__COUNT ? counter_names[c] : "?";
}

const char *
cp_persist_counter_desc(enum cp_persist_counter c)
{
	return (unsigned)c < CP_PERSIST__COUNT ? counter_descs[c] : "?";
}

static void
count(struct cp_persist *p, enum cp_persist_counter which, uint64_t n)
{
	dp_count(&p->counter[which], n);
}

static uint64_t
counted(const struct cp_persist *p, enum cp_persist_counter which)
{
	return dp_read(&p->counter[which]);
}

void
cp_persist_counters(const struct cp_persist *p, uint64_t out[CP_PERSIST__COUNT])
{
	for (unsigned i = 0; i < CP_PERSIST__COUNT; i++)
		out[i] = dp_read(&p->counter[i]);
}

void
cp_persist_state(const struct cp_persist *p, struct cp_persist_state *st)
{
	st->failing = atomic_load_explicit(&p->failing, memory_order_relaxed);
	st->rc = atomic_load_explicit(&p->rc, memory_order_relaxed);
	st->queued = atomic_load_explicit(&p->queued, memory_order_relaxed);
	st->next_id = atomic_load_explicit(&p->next_id_shown, memory_order_relaxed);
}

static int64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The store's clock, for store_tick. */
static int64_t
store_clock(const struct cp_persist *p)
{
	if (p->o.clock != NULL)
		return p->o.clock(p->o.clock_arg);
	return clock_ns(CLOCK_REALTIME);
}

/* ------------------------------------------------------------------------ */
/* The technical condition                                                   */
/* ------------------------------------------------------------------------ */

static void
store_counter_values(const struct cp_persist *p, uint64_t *obs_failed, uint64_t *obs_batches)
{
	uint64_t c[STORE_CNT__COUNT];

	store_counters(p->s, c);
	*obs_failed = c[STORE_CNT_obs_failed];
	*obs_batches = c[STORE_CNT_obs_batches];
}

/* A write failed with @p rc: the first failure raises the condition. */
static void
failure(struct cp_persist *p, int rc)
{
	atomic_store_explicit(&p->rc, rc, memory_order_relaxed);
	if (atomic_load_explicit(&p->failing, memory_order_relaxed))
		return;
	atomic_store_explicit(&p->failing, true, memory_order_relaxed);
	p->fail_start_ns = clock_ns(CLOCK_MONOTONIC);
	store_counter_values(p, &p->fail_obs_failed, &p->fail_obs_batches);
	p->fail_retried = counted(p, CP_PERSIST_alarms_retried);
	p->fail_lost = counted(p, CP_PERSIST_alarm_retry_lost);
	p->queue_full_said = false;
	count(p, CP_PERSIST_disk_full_alarms, 1);
	if (rc == -ENOSPC)
		fprintf(p->o.log, "vigild: storage: disk full: alarms are not being stored");
	else
		fprintf(p->o.log, "vigild: storage: writes fail (%s): alarms are not being stored",
			strerror(-rc));
	fprintf(p->o.log,
		" (up to %u kept in memory, retried every %u ms) and observations are lost\n",
		p->o.retry_max, p->o.retry_ms);
	fflush(p->o.log);
	if (p->o.on_condition != NULL)
		p->o.on_condition(p->o.condition_arg, rc);
}

/* A write succeeded with nothing left queued: the condition ends. */
static void
recovered(struct cp_persist *p)
{
	uint64_t obs_failed, obs_batches;

	if (!atomic_load_explicit(&p->failing, memory_order_relaxed) || p->n > 0)
		return;
	store_counter_values(p, &obs_failed, &obs_batches);
	atomic_store_explicit(&p->failing, false, memory_order_relaxed);
	atomic_store_explicit(&p->rc, 0, memory_order_relaxed);
	count(p, CP_PERSIST_storage_recovered, 1);
	fprintf(p->o.log,
		"vigild: storage: writes succeed again after %.1f s: %" PRIu64
		" alarm records kept in memory were stored, %" PRIu64 " lost; %" PRIu64
		" observations lost\n",
		(double)(clock_ns(CLOCK_MONOTONIC) - p->fail_start_ns) / 1e9,
		counted(p, CP_PERSIST_alarms_retried) - p->fail_retried,
		counted(p, CP_PERSIST_alarm_retry_lost) - p->fail_lost,
		obs_failed - p->fail_obs_failed);
	fflush(p->o.log);
	if (p->o.on_condition != NULL)
		p->o.on_condition(p->o.condition_arg, 0);
}

/* An observation write returned @p rc: a failure, or perhaps the end of one. */
static void
obs_result(struct cp_persist *p, int rc)
{
	uint64_t obs_failed, obs_batches;

	if (rc < 0) {
		count(p, CP_PERSIST_obs_store_failed, 1);
		failure(p, rc);
		return;
	}
	if (!atomic_load_explicit(&p->failing, memory_order_relaxed) || p->n > 0)
		return;
	store_counter_values(p, &obs_failed, &obs_batches);
	if (obs_batches > p->fail_obs_batches)
		recovered(p);
}

/* ------------------------------------------------------------------------ */
/* The retry queue                                                           */
/* ------------------------------------------------------------------------ */

/* Errors a retry cannot cure: the record is dropped, not queued. */
static bool
refused_for_good(int rc)
{
	return rc == -EINVAL || rc == -EMSGSIZE || rc == -EROFS;
}

static void
queue_set(struct cp_persist *p)
{
	atomic_store_explicit(&p->queued, p->n, memory_order_relaxed);
}

/* Tell the owner of a cp_persist_alarm record how its first write went (once). */
static void
notify(struct cp_persist *p, struct pending *g, int rc)
{
	if (!g->notify)
		return;
	g->notify = false;
	if (p->o.on_stored != NULL)
		p->o.on_stored(p->o.stored_arg, g->cookie, rc);
}

/* Keep a record whose write failed (or that must wait behind one); takes @p json. */
static void
enqueue(struct cp_persist *p, uint64_t id, int64_t time_ns, char *json, size_t len)
{
	struct pending *q;

	if (p->n == p->o.retry_max) {
		count(p, CP_PERSIST_alarm_retry_lost, 1);
		free(json);
		if (!p->queue_full_said) {
			p->queue_full_said = true;
			fprintf(p->o.log,
				"vigild: storage: %u alarm records wait for a retry, the most "
				"kept in memory: newer ones are lost until writes succeed\n",
				p->n);
			fflush(p->o.log);
		}
		return;
	}
	q = &p->queue[(p->head + p->n) % p->o.retry_max];
	*q = (struct pending){.id = id, .time_ns = time_ns, .json = json, .len = len};
	p->n++;
	queue_set(p);
}

static void
dequeue(struct cp_persist *p)
{
	free(p->queue[p->head].json);
	p->queue[p->head].json = NULL;
	p->head = (p->head + 1) % p->o.retry_max;
	p->n--;
	queue_set(p);
}

/*
 * Write the @p k records of p->recs (oldest first) as one group. A group
 * the store refuses for good is written again record by record, so that
 * only the refused ones are dropped (counted alarm_refused).
 * @return 0 (all @p k dealt with), or the negative errno of a write that
 *         failed: the first *done records were dealt with (stored or
 *         refused), the others not written. *stored: how many were stored.
 */
static int
write_recs(struct cp_persist *p, unsigned k, unsigned *done, unsigned *stored)
{
	int rc;

	*done = 0;
	*stored = 0;
	rc = store_alarms_put(p->s, p->recs, k, NULL);
	if (rc == 0) {
		count(p, CP_PERSIST_alarm_groups, 1);
		count(p, CP_PERSIST_alarms_stored, k);
		*done = *stored = k;
		memset(p->rec_rc, 0, k * sizeof(p->rec_rc[0]));
		return 0;
	}
	if (!refused_for_good(rc))
		return rc;
	for (unsigned i = 0; i < k; i++) {
		rc = k == 1 ? rc : store_alarms_put(p->s, &p->recs[i], 1, NULL);
		p->rec_rc[i] = rc;
		if (rc == 0) {
			count(p, CP_PERSIST_alarm_groups, 1);
			count(p, CP_PERSIST_alarms_stored, 1);
			(*stored)++;
		} else if (refused_for_good(rc)) {
			count(p, CP_PERSIST_alarm_refused, 1);
		} else {
			return rc;
		}
		(*done)++;
	}
	return 0;
}

static void
retry_later(struct cp_persist *p)
{
	p->next_retry_ns = clock_ns(CLOCK_MONOTONIC) + (int64_t)p->o.retry_ms * 1000000;
}

/*
 * Write the queued records, oldest first, in groups, until a write fails.
 * @return 0 (the queue is empty), or the negative errno of the write that failed.
 */
static int
retry(struct cp_persist *p)
{
	unsigned done, stored;
	bool any = false;
	int rc;

	while (p->n > 0) {
		unsigned k = p->n < STORE_ALARMS_BATCH_MAX ? p->n : STORE_ALARMS_BATCH_MAX;

		for (unsigned i = 0; i < k; i++) {
			const struct pending *q = &p->queue[(p->head + i) % p->o.retry_max];

			p->recs[i] = (struct store_alarm_rec){
				.id = q->id, .time_ns = q->time_ns, .json = q->json, .len = q->len};
		}
		rc = write_recs(p, k, &done, &stored);
		if (stored > 0) {
			count(p, CP_PERSIST_alarms_retried, stored);
			any = true;
		}
		for (unsigned i = 0; i < done; i++)
			dequeue(p);
		if (rc < 0) {
			retry_later(p);
			failure(p, rc);
			return rc;
		}
	}
	if (any)
		recovered(p);
	return 0;
}

static bool
retry_due(const struct cp_persist *p)
{
	return p->n > 0 && (p->o.retry_ms == 0 || clock_ns(CLOCK_MONOTONIC) >= p->next_retry_ns);
}

/* The group's records from @p from on join the retry queue, in order (it takes their JSON). */
static void
group_to_queue(struct cp_persist *p, unsigned from, int rc)
{
	for (unsigned i = from; i < p->n_group; i++) {
		struct pending *g = &p->group[i];

		notify(p, g, rc);
		enqueue(p, g->id, g->time_ns, g->json, g->len);
	}
	p->n_group = 0;
}

/*
 * Write the pending group, after the queued records (retried first when a
 * retry is due, or now with @p retry_now). While records stay queued, the
 * group joins them untried; a group whose write fails joins them too.
 * @return 0, or the negative errno of the write that failed.
 */
static int
commit(struct cp_persist *p, bool retry_now)
{
	unsigned done, stored;
	int rc = 0;

	if (p->n > 0 && (retry_now || retry_due(p)))
		rc = retry(p);
	if (p->n_group == 0)
		return rc;
	if (p->n > 0) {
		/* Older records first: newer ones wait behind them. */
		if (rc == 0)
			rc = atomic_load_explicit(&p->rc, memory_order_relaxed);
		group_to_queue(p, 0, rc != 0 ? rc : -EAGAIN);
		return rc;
	}
	for (unsigned i = 0; i < p->n_group; i++) {
		const struct pending *g = &p->group[i];

		p->recs[i] = (struct store_alarm_rec){
			.id = g->id, .time_ns = g->time_ns, .json = g->json, .len = g->len};
	}
	rc = write_recs(p, p->n_group, &done, &stored);
	for (unsigned i = 0; i < done; i++) {
		notify(p, &p->group[i], p->rec_rc[i]);
		free(p->group[i].json);
		p->group[i].json = NULL;
	}
	if (rc == 0) {
		p->n_group = 0;
		if (stored > 0)
			recovered(p);
		return 0;
	}
	count(p, CP_PERSIST_alarm_store_failed, p->n_group - done);
	group_to_queue(p, done, rc);
	retry_later(p);
	failure(p, rc);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Alarm records                                                             */
/* ------------------------------------------------------------------------ */

/* Set @p key to @p v (a new reference, NULL on allocation failure). */
static int
set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
}

/* ISO-8601 UTC with nanoseconds: "2024-05-01T10:00:00.123456789Z". */
static json_t *
iso_time(int64_t ns)
{
	char buf[48];

	if (store_time_format(ns, 9, buf, sizeof(buf)) != 0)
		return json_null();
	return json_string(buf);
}

static json_t *
device_id(uint64_t device)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%016" PRIx64, device);
	return json_string(buf);
}

/* A value, or null for NaN (JSON has no NaN). */
static json_t *
number(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static const char *
tech_name(uint32_t code)
{
	switch (code) {
	case DP_TECH_EVENT_LOSS:
		return "event_loss";
	default:
		return "unknown";
	}
}

/* The sender's address and port. */
static int
add_sender(json_t *o, const struct dp_event *ev)
{
	char addr[INET6_ADDRSTRLEN];
	int rc = 0;

	if (ev->ip_version == 4 && inet_ntop(AF_INET, ev->src, addr, sizeof(addr)) != NULL)
		rc |= set(o, "src", json_string(addr));
	else if (ev->ip_version == 6 && inet_ntop(AF_INET6, ev->src, addr, sizeof(addr)) != NULL)
		rc |= set(o, "src", json_string(addr));
	if (ev->ip_version != 0)
		rc |= set(o, "sport", json_integer(ev->sport));
	return rc;
}

/* The observation an alarm is about: code, value, unit, flags, wire seq. */
static int
add_observation(json_t *o, const struct dp_event *ev)
{
	int rc = 0;

	rc |= set(o, "code", json_integer(ev->code));
	rc |= set(o, "value", number(ev->value));
	rc |= set(o, "unit", json_integer(ev->unit));
	rc |= set(o, "flags", json_integer(ev->flags));
	rc |= set(o, "seq", json_integer(ev->seq));
	return rc;
}

static int
add_hit(json_t *o, const struct dp_event *ev)
{
	int rc = 0;

	rc |= set(o, "sid", json_integer(ev->u.hit.sid));
	rc |= set(o, "rev", json_integer(ev->u.hit.rev));
	rc |= set(o, "action", json_string(rule_action_name(ev->u.hit.action)));
	rc |= set(o, "priority", json_string(rule_priority_name(ev->u.hit.priority)));
	rc |= set(o, "rule_kind", json_string(rule_kind_name(ev->u.hit.kind)));
	rc |= set(o, "ruleset", json_integer((json_int_t)ev->u.hit.ruleset_version));
	if (ev->u.hit.malformed)
		rc |= set(o, "malformed", json_true());
	/* A hit on the whole message is about no one observation. */
	if (ev->obs_index != RULE_HIT_MSG) {
		rc |= set(o, "obs_index", json_integer(ev->obs_index));
		rc |= add_observation(o, ev);
	}
	return rc;
}

static int
add_dev_alarm(json_t *o, const struct dp_event *ev)
{
	int rc = 0;

	rc |= set(o, "event_code", json_integer(ev->u.alarm.event_code));
	rc |= set(o, "phase", json_string(dp_alarm_phase_name(ev->u.alarm.phase)));
	rc |= set(o, "state", json_string(dp_alarm_state_name(ev->u.alarm.state)));
	rc |= set(o, "inactivation",
		  json_string(dp_alarm_inactivation_name(ev->u.alarm.inactivation)));
	rc |= set(o, "priority", json_string(dp_alarm_priority_name(ev->u.alarm.priority)));
	rc |= set(o, "alarm_type", json_string(dp_alarm_type_name(ev->u.alarm.type)));
	rc |= set(o, "source_code", json_integer(ev->u.alarm.source_code));
	rc |= set(o, "value", number(ev->value));
	rc |= set(o, "flags", json_integer(ev->flags));
	return rc;
}

/*
 * The record of an ALARM event: id, kind (hit, device, technical), times,
 * device, worker, sender, then what the kind has. @return the JSON text
 * (malloc'd, compact) or NULL (out of memory, or a type that is no alarm).
 */
static char *
alarm_record(const struct dp_event *ev, uint64_t id, int64_t time_ns, size_t *len)
{
	const char *kind;
	json_t *o;
	char *text = NULL;
	int rc = 0;

	switch (ev->type) {
	case DP_EV_HIT:
		kind = "hit";
		break;
	case DP_EV_DEV_ALARM:
		kind = "device";
		break;
	case DP_EV_TECH:
		kind = "technical";
		break;
	default:
		return NULL;
	}
	o = json_object();
	if (o == NULL)
		return NULL;
	rc |= set(o, "id", json_integer((json_int_t)id));
	rc |= set(o, "kind", json_string(kind));
	rc |= set(o, "time", iso_time(time_ns));
	rc |= set(o, "time_ns", json_integer(time_ns));
	rc |= set(o, "received_ns", json_integer(ev->wall_ns));
	if (ev->device != 0)
		rc |= set(o, "device", device_id(ev->device));
	rc |= set(o, "worker", json_integer(ev->worker));
	if (ev->type != DP_EV_TECH)
		rc |= set(o, "proto", json_string(rule_proto_name(ev->proto)));
	rc |= add_sender(o, ev);
	switch (ev->type) {
	case DP_EV_HIT:
		rc |= add_hit(o, ev);
		break;
	case DP_EV_DEV_ALARM:
		rc |= add_dev_alarm(o, ev);
		break;
	default:
		rc |= set(o, "tech", json_string(tech_name(ev->code)));
		rc |= set(o, "tech_code", json_integer(ev->code));
		rc |= set(o, "value", number(ev->value));
		break;
	}
	if (rc == 0)
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (text != NULL)
		*len = strlen(text);
	return text;
}

/* The alarm's own time, or when its burst was received if it has none. */
static int64_t
event_time(const struct dp_event *ev)
{
	return ev->time_ns != 0 ? ev->time_ns : ev->wall_ns;
}

static void
on_alarm(void *arg, const struct dp_event *ev)
{
	struct cp_persist *p = arg;
	int64_t stored_ns;
	uint64_t id;
	size_t len = 0;
	char *json;

	if (ev->type != DP_EV_HIT && ev->type != DP_EV_DEV_ALARM && ev->type != DP_EV_TECH) {
		count(p, CP_PERSIST_events_ignored, 1);
		return;
	}
	id = p->next_id++;
	atomic_store_explicit(&p->next_id_shown, p->next_id, memory_order_relaxed);
	/* Retention and time queries go by when vigil received it. */
	stored_ns = ev->wall_ns != 0 ? ev->wall_ns : event_time(ev);
	json = alarm_record(ev, id, event_time(ev), &len);
	if (json == NULL) {
		count(p, CP_PERSIST_alarm_encode_failed, 1);
		if (!p->encode_said) {
			p->encode_said = true;
			fprintf(p->o.log, "vigild: storage: out of memory building an alarm "
					  "record: it is lost (counted: alarm_encode_failed)\n");
			fflush(p->o.log);
		}
		return;
	}
	/* Written with its group: when the group is full, or at the end of the pass. */
	p->group[p->n_group++] =
		(struct pending){.id = id, .time_ns = stored_ns, .json = json, .len = len};
	if (p->n_group == STORE_ALARMS_BATCH_MAX)
		commit(p, false);
}

void
cp_persist_alarm(struct cp_persist *p, uint64_t id, int64_t time_ns, char *json, size_t len,
		 uint64_t cookie)
{
	p->group[p->n_group++] = (struct pending){.id = id,
						  .time_ns = time_ns,
						  .json = json,
						  .len = len,
						  .cookie = cookie,
						  .notify = true};
	if (id >= p->next_id) {
		p->next_id = id + 1;
		atomic_store_explicit(&p->next_id_shown, p->next_id, memory_order_relaxed);
	}
	if (p->n_group == STORE_ALARMS_BATCH_MAX)
		commit(p, false);
}

/* ------------------------------------------------------------------------ */
/* Observations                                                              */
/* ------------------------------------------------------------------------ */

static void
on_telemetry(void *arg, const struct dp_event *ev, unsigned n)
{
	struct cp_persist *p = arg;
	enum store_durability got;

	for (unsigned i = 0; i < n; i++) {
		struct store_obs o;
		int rc;

		if (ev[i].type != DP_EV_OBS) {
			count(p, CP_PERSIST_events_ignored, 1);
			continue;
		}
		o = (struct store_obs){
			.device = ev[i].device,
			.time_ns = event_time(&ev[i]),
			.seq = p->obs_seq++,
			.code = ev[i].code,
			.unit = ev[i].unit,
			.flags = ev[i].flags,
			.value = ev[i].value,
		};
		rc = store_obs_add(p->s, &o, &got);
		count(p, CP_PERSIST_obs_stored, 1);
		if (rc != 0 || got == STORE_WAL)
			obs_result(p, rc);
	}
}

/* ------------------------------------------------------------------------ */
/* Ticks, flushing, life cycle                                               */
/* ------------------------------------------------------------------------ */

void
cp_persist_tick(void *persist)
{
	struct cp_persist *p = persist;
	int rc;

	/* The pass's alarms first (and the retries, when due). */
	commit(p, false);
	if (store_pending(p->s) > 0) {
		rc = store_tick(p->s, store_clock(p));
		if (rc != 0 || store_pending(p->s) == 0)
			obs_result(p, rc);
	}
}

int
cp_persist_flush(struct cp_persist *p)
{
	int rc, frc = 0;

	rc = commit(p, true);
	if (store_pending(p->s) > 0) {
		frc = store_flush(p->s);
		obs_result(p, frc);
	}
	return rc != 0 ? rc : frc;
}

void
cp_persist_opts_defaults(struct cp_persist_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->retry_max = CP_PERSIST_RETRY_MAX;
	o->retry_ms = CP_PERSIST_RETRY_MS;
	o->log = stderr;
}

int
cp_persist_new(struct store *s, const struct cp_persist_opts *o, struct cp_persist **out)
{
	struct cp_persist *p = NULL;
	int rc = 0;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (s == NULL || (o != NULL && o->retry_max == 0))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if (o != NULL)
		p->o = *o;
	else
		cp_persist_opts_defaults(&p->o);
	if (p->o.log == NULL)
		p->o.log = stderr;
	p->queue = calloc(p->o.retry_max, sizeof(*p->queue));
	if (p->queue == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	p->s = s;
	p->next_id = store_alarm_next_id(s);
	atomic_init(&p->failing, false);
	atomic_init(&p->rc, 0);
	atomic_init(&p->queued, 0);
	atomic_init(&p->next_id_shown, p->next_id);
	*out = p;
	return 0;
fail:
	if (p != NULL)
		free(p->queue);
	free(p);
	return rc;
}

void
cp_persist_hooks(struct cp_persist *p, struct cp_event_hooks *hooks)
{
	*hooks = (struct cp_event_hooks){
		.on_alarm = on_alarm,
		.on_telemetry = on_telemetry,
		.arg = p,
	};
}

void
cp_persist_notify(struct cp_persist *p, void (*on_stored)(void *arg, uint64_t cookie, int rc),
		  void (*on_condition)(void *arg, int rc), void *arg)
{
	p->o.on_stored = on_stored;
	p->o.stored_arg = arg;
	p->o.on_condition = on_condition;
	p->o.condition_arg = arg;
}

void
cp_persist_free(struct cp_persist *p)
{
	unsigned lost;

	if (p == NULL)
		return;
	cp_persist_flush(p);
	lost = p->n;
	if (lost > 0) {
		count(p, CP_PERSIST_alarm_retry_lost, lost);
		fprintf(p->o.log,
			"vigild: storage: %u alarm records could not be stored before exit (%s): "
			"they are lost\n",
			lost, strerror(-atomic_load_explicit(&p->rc, memory_order_relaxed)));
		fflush(p->o.log);
	}
	while (p->n > 0)
		dequeue(p);
	free(p->queue);
	free(p);
}
