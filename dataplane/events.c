/*
 * events.c - what a worker hands to the control plane: fixed-size event
 * records and the two single-producer single-consumer rings (lanes) each
 * worker puts them on.
 *
 * An event is a copy (struct dp_event, 128 bytes): nothing in it points into
 * an mbuf, a decoded message or a ruleset, so the consumer may read it long
 * after the frame is freed and the ruleset replaced. Every builder clears the
 * whole record first, so no uninitialised byte (padding, the unused part of
 * the union) ever goes on a ring.
 *
 * The lanes are rte_rings of 128-byte elements, made SP/SC: the worker is the
 * only producer, the consumer thread the only one to take. A put that does
 * not fit is not retried: what is left over is counted as lost, by lane, on
 * the worker's own counters (the consumer turns alarm_lost into a technical
 * alarm). The builders and the put run on the worker's fast path: no
 * allocation, no lock, no log, no system call.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_pause.h>
#include <rte_memory.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dataplane.h"

#define DP_EVENT_SIZE ((unsigned)sizeof(struct dp_event))

/* ------------------------------------------------------------------------ */
/* Lanes                                                                     */
/* ------------------------------------------------------------------------ */

/* The tag of a lane in its ring's name. */
static const char lane_tag[DP_LANE__COUNT] = {
	[DP_LANE_ALARM] = 'a',
	[DP_LANE_TELEMETRY] = 't',
};

/*
 * "<name>_w<worker><tag>", cut from @p name's end when it would not fit in
 * RTE_RING_NAMESIZE, so that the worker and the lane always show.
 */
static void
lane_ring_name(char *out, size_t room, const char *name, unsigned worker, enum dp_lane lane)
{
	char suffix[16];
	int n = snprintf(suffix, sizeof(suffix), "_w%u%c", worker, lane_tag[lane]);
	size_t keep = strlen(name);

	if (n < 0)
		n = 0;
	if (keep + (size_t)n + 1 > room)
		keep = room > (size_t)n + 1 ? room - (size_t)n - 1 : 0;
	snprintf(out, room, "%.*s%s", (int)keep, name, suffix);
}

static int
lane_create(struct rte_ring **out, const char *name, unsigned worker, enum dp_lane lane,
	    unsigned size)
{
	char ring_name[RTE_RING_NAMESIZE];
	unsigned count = rte_align32pow2(size < 2 ? 2 : size);

	lane_ring_name(ring_name, sizeof(ring_name), name, worker, lane);
	*out = rte_ring_create_elem(ring_name, DP_EVENT_SIZE, count, SOCKET_ID_ANY,
				    RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (*out != NULL)
		return 0;
	/* rte_errno is a plain errno here (ENOMEM, EEXIST, ENOSPC...), unless the
	 * EAL is missing (E_RTE_NO_CONFIG and friends). */
	return rte_errno > 0 && rte_errno < RTE_MIN_ERRNO ? -rte_errno : -ENOMEM;
}

int
dp_lanes_init(struct dp_lanes *l, const char *name, unsigned worker, unsigned alarm_size,
	      unsigned telemetry_size)
{
	int rc;

	if (l == NULL)
		return -EINVAL;
	memset(l, 0, sizeof(*l));
	if (name == NULL || alarm_size == 0 || alarm_size > DP_RING_MAX || telemetry_size == 0 ||
	    telemetry_size > DP_RING_MAX)
		return -EINVAL;
	rc = lane_create(&l->ring[DP_LANE_ALARM], name, worker, DP_LANE_ALARM, alarm_size);
	if (rc != 0)
		goto fail;
	rc = lane_create(&l->ring[DP_LANE_TELEMETRY], name, worker, DP_LANE_TELEMETRY,
			 telemetry_size);
	if (rc != 0)
		goto fail;
	return 0;

fail:
	dp_lanes_free(l);
	return rc;
}

void
dp_lanes_free(struct dp_lanes *l)
{
	if (l == NULL)
		return;
	for (unsigned i = 0; i < DP_LANE__COUNT; i++) {
		rte_ring_free(l->ring[i]);
		l->ring[i] = NULL;
	}
}

unsigned
dp_lanes_put(struct dp_lanes *l, enum dp_lane lane, const struct dp_event *ev, unsigned n,
	     struct dp_stats *stats)
{
	static const enum dp_event_counter put_counter[DP_LANE__COUNT] = {
		[DP_LANE_ALARM] = DP_EVC_alarm_events,
		[DP_LANE_TELEMETRY] = DP_EVC_telemetry_events,
	};
	static const enum dp_event_counter lost_counter[DP_LANE__COUNT] = {
		[DP_LANE_ALARM] = DP_EVC_alarm_lost,
		[DP_LANE_TELEMETRY] = DP_EVC_telemetry_lost,
	};
	unsigned done, room;

	if (unlikely((unsigned)lane >= DP_LANE__COUNT || n == 0))
		return 0;

	done = rte_ring_sp_enqueue_burst_elem(l->ring[lane], ev, DP_EVENT_SIZE, n, &room);
	/* The fullest the ring has been (one producer: a plain load and store). */
	if (done > 0) {
		unsigned used = rte_ring_get_capacity(l->ring[lane]) - room;

		if (used > atomic_load_explicit(&l->high_water[lane], memory_order_relaxed))
			atomic_store_explicit(&l->high_water[lane], used, memory_order_relaxed);
	}
	/* A replay waits for the consumer (never on a NIC: lanes.wait is NULL). */
	while (unlikely(done < n) && l->wait != NULL &&
	       atomic_load_explicit(l->wait, memory_order_relaxed)) {
		rte_pause();
		done += rte_ring_sp_enqueue_burst_elem(l->ring[lane], ev + done, DP_EVENT_SIZE,
						       n - done, NULL);
	}
	if (done > 0)
		dp_count(&stats->event[put_counter[lane]], done);
	if (unlikely(done < n))
		dp_count(&stats->event[lost_counter[lane]], n - done);
	return done;
}

unsigned
dp_lanes_take(struct dp_lanes *l, enum dp_lane lane, struct dp_event *out, unsigned max)
{
	if (unlikely((unsigned)lane >= DP_LANE__COUNT || max == 0))
		return 0;
	return rte_ring_sc_dequeue_burst_elem(l->ring[lane], out, DP_EVENT_SIZE, max, NULL);
}

unsigned
dp_lanes_count(const struct dp_lanes *l, enum dp_lane lane)
{
	if ((unsigned)lane >= DP_LANE__COUNT || l->ring[lane] == NULL)
		return 0;
	return rte_ring_count(l->ring[lane]);
}

unsigned
dp_lanes_capacity(const struct dp_lanes *l, enum dp_lane lane)
{
	if ((unsigned)lane >= DP_LANE__COUNT || l->ring[lane] == NULL)
		return 0;
	return rte_ring_get_capacity(l->ring[lane]);
}

unsigned
dp_lanes_high_water(const struct dp_lanes *l, enum dp_lane lane)
{
	if ((unsigned)lane >= DP_LANE__COUNT)
		return 0;
	return atomic_load_explicit(&l->high_water[lane], memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* Building events                                                           */
/* ------------------------------------------------------------------------ */

/* Clear the record and fill what every event has: who made it, when, from whom. */
static void
event_head(struct dp_event *ev, enum dp_event_type type, const struct rule_input *in,
	   unsigned worker, uint64_t tsc, int64_t wall_ns)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = (uint8_t)type;
	ev->worker = (uint8_t)worker;
	ev->tsc = tsc;
	ev->wall_ns = wall_ns;
	ev->value = NAN;
	if (in != NULL) {
		ev->proto = in->proto;
		ev->ip_version = in->ip_version;
		ev->sport = in->sport;
		memcpy(ev->src, in->src, sizeof(ev->src));
	}
}

void
dp_event_obs(struct dp_event *ev, const struct dp_obs *o, unsigned index,
	     const struct rule_input *in, unsigned worker, uint64_t tsc, int64_t wall_ns)
{
	event_head(ev, DP_EV_OBS, in, worker, tsc, wall_ns);
	ev->obs_index = (uint16_t)index;
	ev->device = o->device;
	ev->time_ns = o->time_ns;
	ev->value = o->value;
	ev->code = o->code;
	ev->unit = o->unit;
	ev->flags = o->flags;
	ev->seq = o->seq;
}

/* The device a message is about: its first observation's, or first alarm's. */
static uint64_t
message_device(const struct dp_decoded *d)
{
	if (d == NULL)
		return 0;
	if (d->n_obs > 0)
		return d->obs[0].device;
	if (d->n_alarms > 0)
		return d->alarm[0].device;
	return 0;
}

void
dp_event_hit(struct dp_event *ev, const struct rule_hit *h, const struct dp_decoded *d,
	     const struct rule_input *in, uint64_t ruleset_version, unsigned worker, uint64_t tsc,
	     int64_t wall_ns)
{
	const struct rule *r = h->rule;

	event_head(ev, DP_EV_HIT, in, worker, tsc, wall_ns);
	ev->obs_index = h->obs;
	ev->code = h->code;
	ev->value = h->value;
	ev->u.hit.ruleset_version = ruleset_version;
	if (r != NULL) {
		ev->u.hit.sid = r->sid;
		ev->u.hit.rev = r->rev;
		ev->u.hit.rule_index = r->index;
		ev->u.hit.action = r->action;
		ev->u.hit.priority = r->priority;
		ev->u.hit.kind = r->kind;
	}
	ev->u.hit.malformed = in != NULL && in->malformed;
	if (h->obs != RULE_HIT_MSG && d != NULL && h->obs < d->n_obs && h->obs < DP_MAX_OBS) {
		const struct dp_obs *o = &d->obs[h->obs];

		ev->device = o->device;
		ev->time_ns = o->time_ns;
		ev->unit = o->unit;
		ev->flags = o->flags;
		ev->seq = o->seq;
	} else {
		ev->device = message_device(d);
	}
}

void
dp_event_dev_alarm(struct dp_event *ev, const struct dp_dev_alarm *a, const struct rule_input *in,
		   unsigned worker, uint64_t tsc, int64_t wall_ns)
{
	event_head(ev, DP_EV_DEV_ALARM, in, worker, tsc, wall_ns);
	ev->device = a->device;
	ev->time_ns = a->time_ns;
	ev->value = a->source_value;
	ev->code = a->event_code;
	ev->flags = a->flags;
	ev->u.alarm.event_code = a->event_code;
	ev->u.alarm.source_code = a->source_code;
	ev->u.alarm.phase = a->phase;
	ev->u.alarm.state = a->state;
	ev->u.alarm.inactivation = a->inactivation;
	ev->u.alarm.priority = a->priority;
	ev->u.alarm.type = a->type;
}

const char *
dp_event_type_name(enum dp_event_type t)
{
	static const char *const names[] = {
		[DP_EV_NONE] = "none",		 [DP_EV_OBS] = "obs",	[DP_EV_HIT] = "hit",
		[DP_EV_DEV_ALARM] = "dev_alarm", [DP_EV_TECH] = "tech",
	};

	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

const char *
dp_lane_name(enum dp_lane l)
{
	static const char *const names[DP_LANE__COUNT] = {
		[DP_LANE_ALARM] = "alarm",
		[DP_LANE_TELEMETRY] = "telemetry",
	};

	return (unsigned)l < DP_LANE__COUNT ? names[l] : "?";
}
