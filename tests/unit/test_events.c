/*
 * test_events.c - CUnit tests of the event hand-off: the event records the
 * workers build (dataplane/events.c), the per-worker ALARM and TELEMETRY
 * rings, and the control plane's consumer (controlplane/consumer.c).
 *
 * What is held to account: every field of every kind of event, and no byte
 * of a record left to chance; ring sizes and their usable room; a full ring
 * loses exactly what did not fit and counts exactly that; the consumer takes
 * every alarm before any observation, checks for alarms between batches of
 * observations, ends a pass however fast alarms come, raises one technical
 * alarm per loss with the exact count once the lane has drained, and, on a
 * thread of its own, delivers every event exactly once in each lane's order,
 * hands every hit over before the observation of its message however the two
 * race onto the rings, runs its hooks as an online QSBR reader and never
 * holds up a grace period while idle. Last, end to end: a plane with events
 * on a net_ring port, frames in, and the consumer takes one TELEMETRY event
 * per observation and one ALARM event per rule hit, as the worker counted.
 *
 * The suite runs an EAL without hugepages (rte_rings live in EAL memory),
 * with one worker lcore for the end-to-end test. Elsewhere the lanes are
 * driven by the test itself (it is the producer; the rings are SPSC, so one
 * thread puts on each ring at a time). Nothing here is timed, but a grace
 * period that does not end in 10 s is a failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <urcu/urcu-qsbr.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include "controlplane.h"
#include "cunit_main.h"
#include "eal.h"
#include "dataplane.h"
#include "frames.h"

/* ------------------------------------------------------------------------ */
/* EAL                                                                       */
/* ------------------------------------------------------------------------ */

static int
suite_init(void)
{
	if (vt_eal_init("test_events", 2, 512) != 0)
		return -1;
	return 0;
}

static int
suite_cleanup(void)
{
	return rte_eal_cleanup() == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static unsigned lane_seq; /* makes every test's ring names unique */

/* Lanes named after the test, for worker @w. */
static int
lanes_make(struct dp_lanes *l, unsigned w, unsigned alarm, unsigned telemetry)
{
	char name[32];

	snprintf(name, sizeof(name), "te%u", lane_seq++);
	return dp_lanes_init(l, name, w, alarm, telemetry);
}

static struct dp_stats *
stats_new(void)
{
	struct dp_stats *s = aligned_alloc(64, sizeof(*s));

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	memset(s, 0, sizeof(*s));
	return s;
}

/* A plain event of @type from @worker, numbered @seq. */
static struct dp_event
ev_make(enum dp_event_type type, unsigned worker, uint32_t seq)
{
	struct dp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = (uint8_t)type;
	ev.worker = (uint8_t)worker;
	ev.seq = seq;
	ev.value = (double)seq;
	return ev;
}

/* Put @n events numbered from @first on @lane; return how many went in. */
static unsigned
put_seq(struct dp_lanes *l, enum dp_lane lane, unsigned worker, uint32_t first, unsigned n,
	struct dp_stats *stats)
{
	struct dp_event ev[256];
	enum dp_event_type type = lane == DP_LANE_ALARM ? DP_EV_HIT : DP_EV_OBS;

	CU_ASSERT_FATAL(n <= 256);
	for (unsigned i = 0; i < n; i++)
		ev[i] = ev_make(type, worker, first + i);
	return dp_lanes_put(l, lane, ev, n, stats);
}

static bool
all_bytes(const void *p, size_t len, uint8_t v)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != v)
			return false;
	return true;
}

/* ------------------------------------------------------------------------ */
/* Event records                                                             */
/* ------------------------------------------------------------------------ */

static const uint8_t src6[16] = {0xfd, 0x00, 0x20, [14] = 0x12, [15] = 0x34};

static void
input_init(struct rule_input *in)
{
	memset(in, 0, sizeof(*in));
	in->proto = RULE_PROTO_HL7;
	in->ip_version = 6;
	memcpy(in->src, src6, 16);
	in->dst[0] = 0xfe;
	in->sport = 40123;
	in->dport = 2575;
	in->dsize = 321;
}

static void
obs_init(struct dp_obs *o, unsigned i)
{
	memset(o, 0, sizeof(*o));
	o->device = 0x0011223344556600ull + i;
	o->time_ns = 1795860900000000000ll + (int64_t)i * 1000;
	o->value = 90.5 + i;
	o->code = 150456 + i;
	o->unit = 262688 + i;
	o->flags = DP_OBS(ABN_L) | DP_OBS(TIME_NO_OFFSET);
	o->seq = 7 + i;
	o->status = 'F';
}

/* Every byte of the event not named by the builder's contract must be zero:
 * compared against a record made from zeros with only those fields set. */
static void
test_event_obs(void)
{
	struct rule_input in;
	struct dp_obs o;
	struct dp_event ev, want;

	input_init(&in);
	obs_init(&o, 3);
	memset(&ev, 0xa5, sizeof(ev));
	dp_event_obs(&ev, &o, 5, &in, 2, 123456789ull, 1795860901000000000ll);
	CU_ASSERT_EQUAL(ev.type, DP_EV_OBS);
	CU_ASSERT_EQUAL(ev.worker, 2);
	CU_ASSERT_EQUAL(ev.proto, RULE_PROTO_HL7);
	CU_ASSERT_EQUAL(ev.ip_version, 6);
	CU_ASSERT_EQUAL(ev.sport, 40123);
	CU_ASSERT_EQUAL(ev.obs_index, 5);
	CU_ASSERT_EQUAL(ev.tsc, 123456789ull);
	CU_ASSERT_EQUAL(ev.wall_ns, 1795860901000000000ll);
	CU_ASSERT_EQUAL(ev.device, o.device);
	CU_ASSERT_EQUAL(ev.time_ns, o.time_ns);
	CU_ASSERT_DOUBLE_EQUAL(ev.value, 93.5, 0.0);
	CU_ASSERT_EQUAL(ev.code, 150459);
	CU_ASSERT_EQUAL(ev.unit, 262691);
	CU_ASSERT_EQUAL(ev.flags, DP_OBS(ABN_L) | DP_OBS(TIME_NO_OFFSET));
	CU_ASSERT_EQUAL(ev.seq, 10);
	CU_ASSERT_EQUAL(memcmp(ev.src, src6, 16), 0);
	CU_ASSERT(all_bytes(&ev.u, sizeof(ev.u), 0));

	memset(&want, 0, sizeof(want));
	want.type = DP_EV_OBS;
	want.worker = 2;
	want.proto = RULE_PROTO_HL7;
	want.ip_version = 6;
	want.sport = 40123;
	want.obs_index = 5;
	want.tsc = 123456789ull;
	want.wall_ns = 1795860901000000000ll;
	want.device = o.device;
	want.time_ns = o.time_ns;
	want.value = o.value;
	want.code = o.code;
	want.unit = o.unit;
	want.flags = o.flags;
	want.seq = o.seq;
	memcpy(want.src, src6, 16);
	CU_ASSERT_EQUAL(memcmp(&ev, &want, sizeof(ev)), 0);

	/* An observation without a numeric value stays NaN, and IPv4 keeps 4 bytes. */
	o.value = NAN;
	o.flags = DP_OBS(INVALID) | DP_OBS(NO_VALUE);
	in.ip_version = 4;
	in.proto = RULE_PROTO_VTP;
	memset(in.src, 0, 16);
	memcpy(in.src, (const uint8_t[4]){10, 20, 1, 2}, 4);
	memset(&ev, 0x5a, sizeof(ev));
	dp_event_obs(&ev, &o, 0, &in, 63, 1, 2);
	CU_ASSERT(isnan(ev.value));
	CU_ASSERT_EQUAL(ev.flags, DP_OBS(INVALID) | DP_OBS(NO_VALUE));
	CU_ASSERT_EQUAL(ev.worker, 63);
	CU_ASSERT_EQUAL(ev.proto, RULE_PROTO_VTP);
	CU_ASSERT_EQUAL(ev.ip_version, 4);
	CU_ASSERT_EQUAL(memcmp(ev.src, (const uint8_t[4]){10, 20, 1, 2}, 4), 0);
	CU_ASSERT(all_bytes(ev.src + 4, 12, 0));
	CU_ASSERT(all_bytes(&ev.u, sizeof(ev.u), 0));
}

/* A rule for the hits: every field the event copies differs from the others. */
static void
rule_init(struct rule *r)
{
	memset(r, 0, sizeof(*r));
	r->sid = 1000042;
	r->rev = 3;
	r->action = RULE_ACTION_LOG;
	r->priority = RULE_PRIO_HIGH;
	r->kind = RULE_KIND_ADVISORY;
	r->index = 17;
	r->msg = "test rule";
}

/* The bytes of the union past the hit's fields. */
#define HIT_END (offsetof(struct dp_event, u) + sizeof(((struct dp_event *)0)->u.hit))

static void
test_event_hit_message(void)
{
	static struct dp_decoded d;
	struct rule r;
	struct rule_input in;
	struct rule_hit h = {.obs = RULE_HIT_MSG, .code = 0, .value = NAN};
	struct dp_event ev;

	rule_init(&r);
	h.rule = &r;
	input_init(&in);
	memset(&d, 0, sizeof(d));
	d.kind = DP_MSG_ORU_R01;
	d.n_obs = 2;
	obs_init(&d.obs[0], 0);
	obs_init(&d.obs[1], 1);

	memset(&ev, 0xa5, sizeof(ev));
	dp_event_hit(&ev, &h, &d, &in, 9, 4, 777, 888);
	CU_ASSERT_EQUAL(ev.type, DP_EV_HIT);
	CU_ASSERT_EQUAL(ev.worker, 4);
	CU_ASSERT_EQUAL(ev.proto, RULE_PROTO_HL7);
	CU_ASSERT_EQUAL(ev.ip_version, 6);
	CU_ASSERT_EQUAL(ev.sport, 40123);
	CU_ASSERT_EQUAL(memcmp(ev.src, src6, 16), 0);
	CU_ASSERT_EQUAL(ev.obs_index, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(ev.tsc, 777);
	CU_ASSERT_EQUAL(ev.wall_ns, 888);
	CU_ASSERT_EQUAL(ev.device, d.obs[0].device); /* the message's first observation */
	CU_ASSERT_EQUAL(ev.time_ns, 0);
	CU_ASSERT(isnan(ev.value));
	CU_ASSERT_EQUAL(ev.code, 0);
	CU_ASSERT_EQUAL(ev.unit, 0);
	CU_ASSERT_EQUAL(ev.flags, 0);
	CU_ASSERT_EQUAL(ev.seq, 0);
	CU_ASSERT_EQUAL(ev.u.hit.ruleset_version, 9);
	CU_ASSERT_EQUAL(ev.u.hit.sid, 1000042);
	CU_ASSERT_EQUAL(ev.u.hit.rev, 3);
	CU_ASSERT_EQUAL(ev.u.hit.rule_index, 17);
	CU_ASSERT_EQUAL(ev.u.hit.action, RULE_ACTION_LOG);
	CU_ASSERT_EQUAL(ev.u.hit.priority, RULE_PRIO_HIGH);
	CU_ASSERT_EQUAL(ev.u.hit.kind, RULE_KIND_ADVISORY);
	CU_ASSERT_EQUAL(ev.u.hit.malformed, 0);
	CU_ASSERT(all_bytes((const uint8_t *)&ev + HIT_END, sizeof(ev) - HIT_END, 0));

	/* An alarm message (no observation): its first alarm's device. */
	d.kind = DP_MSG_ORU_R40;
	d.n_obs = 0;
	d.n_alarms = 1;
	d.alarm[0].device = 0xfeedfacecafe0001ull;
	dp_event_hit(&ev, &h, &d, &in, 9, 4, 777, 888);
	CU_ASSERT_EQUAL(ev.device, 0xfeedfacecafe0001ull);

	/* A datagram that did not decode: no message, no device, malformed. */
	in.malformed = true;
	memset(&ev, 0xa5, sizeof(ev));
	dp_event_hit(&ev, &h, NULL, &in, 10, 1, 5, 6);
	CU_ASSERT_EQUAL(ev.device, 0);
	CU_ASSERT_EQUAL(ev.u.hit.malformed, 1);
	CU_ASSERT_EQUAL(ev.u.hit.ruleset_version, 10);
	CU_ASSERT_EQUAL(ev.obs_index, RULE_HIT_MSG);
	CU_ASSERT_EQUAL(ev.time_ns, 0);
	CU_ASSERT(isnan(ev.value));
	CU_ASSERT(all_bytes((const uint8_t *)&ev + HIT_END, sizeof(ev) - HIT_END, 0));
}

static void
test_event_hit_observation(void)
{
	static struct dp_decoded d;
	struct rule r;
	struct rule_input in;
	/* The hit's code and value are what the event carries (here deliberately
	 * not the observation's, to see where each field comes from). */
	struct rule_hit h = {.obs = 2, .code = 149530, .value = 41.5};
	struct dp_event ev;

	rule_init(&r);
	h.rule = &r;
	input_init(&in);
	memset(&d, 0, sizeof(d));
	d.kind = DP_MSG_VTP;
	d.n_obs = 3;
	for (unsigned i = 0; i < 3; i++)
		obs_init(&d.obs[i], 10 * i);

	memset(&ev, 0xa5, sizeof(ev));
	dp_event_hit(&ev, &h, &d, &in, 2, 0, 11, 12);
	CU_ASSERT_EQUAL(ev.type, DP_EV_HIT);
	CU_ASSERT_EQUAL(ev.obs_index, 2);
	CU_ASSERT_EQUAL(ev.device, d.obs[2].device);
	CU_ASSERT_EQUAL(ev.time_ns, d.obs[2].time_ns);
	CU_ASSERT_EQUAL(ev.unit, d.obs[2].unit);
	CU_ASSERT_EQUAL(ev.flags, d.obs[2].flags);
	CU_ASSERT_EQUAL(ev.seq, d.obs[2].seq);
	CU_ASSERT_EQUAL(ev.code, 149530);
	CU_ASSERT_DOUBLE_EQUAL(ev.value, 41.5, 0.0);
	CU_ASSERT_EQUAL(ev.u.hit.sid, 1000042);
	CU_ASSERT_EQUAL(ev.u.hit.ruleset_version, 2);
	CU_ASSERT_EQUAL(ev.u.hit.malformed, 0);
	CU_ASSERT(all_bytes((const uint8_t *)&ev + HIT_END, sizeof(ev) - HIT_END, 0));

	/* A NaN value of the hit stays NaN. */
	h.value = NAN;
	dp_event_hit(&ev, &h, &d, &in, 2, 0, 11, 12);
	CU_ASSERT(isnan(ev.value));
	CU_ASSERT_EQUAL(ev.device, d.obs[2].device);

	/* Without the decoded message nothing of the observation is known. */
	memset(&ev, 0xa5, sizeof(ev));
	dp_event_hit(&ev, &h, NULL, &in, 2, 0, 11, 12);
	CU_ASSERT_EQUAL(ev.obs_index, 2);
	CU_ASSERT_EQUAL(ev.device, 0);
	CU_ASSERT_EQUAL(ev.time_ns, 0);
	CU_ASSERT_EQUAL(ev.unit, 0);
	CU_ASSERT_EQUAL(ev.seq, 0);
	CU_ASSERT_EQUAL(ev.code, 149530);
}

static void
test_event_dev_alarm(void)
{
	struct rule_input in;
	struct dp_dev_alarm a;
	struct dp_event ev;
	const size_t alarm_end =
		offsetof(struct dp_event, u) + sizeof(((struct dp_event *)0)->u.alarm);

	input_init(&in);
	memset(&a, 0, sizeof(a));
	a.device = 0x0a0b0c0d0e0f1011ull;
	a.time_ns = 1795860905000000000ll;
	a.event_code = 196648;
	a.source_code = 150456;
	a.source_value = 85.0;
	a.flags = DP_OBS(DEVICE_HASHED);
	a.phase = DP_PHASE_START;
	a.state = DP_ASTATE_ACTIVE;
	a.inactivation = DP_INACT_AUDIO_PAUSED;
	a.priority = DP_PRIO_HIGH;
	a.type = DP_ATYPE_PHYSIOLOGICAL;

	memset(&ev, 0xa5, sizeof(ev));
	dp_event_dev_alarm(&ev, &a, &in, 7, 99, 100);
	CU_ASSERT_EQUAL(ev.type, DP_EV_DEV_ALARM);
	CU_ASSERT_EQUAL(ev.worker, 7);
	CU_ASSERT_EQUAL(ev.proto, RULE_PROTO_HL7);
	CU_ASSERT_EQUAL(ev.ip_version, 6);
	CU_ASSERT_EQUAL(ev.sport, 40123);
	CU_ASSERT_EQUAL(memcmp(ev.src, src6, 16), 0);
	CU_ASSERT_EQUAL(ev.tsc, 99);
	CU_ASSERT_EQUAL(ev.wall_ns, 100);
	CU_ASSERT_EQUAL(ev.device, a.device);
	CU_ASSERT_EQUAL(ev.time_ns, a.time_ns);
	CU_ASSERT_DOUBLE_EQUAL(ev.value, 85.0, 0.0);
	CU_ASSERT_EQUAL(ev.flags, DP_OBS(DEVICE_HASHED));
	CU_ASSERT_EQUAL(ev.unit, 0);
	CU_ASSERT_EQUAL(ev.seq, 0);
	CU_ASSERT_EQUAL(ev.u.alarm.event_code, 196648);
	CU_ASSERT_EQUAL(ev.u.alarm.source_code, 150456);
	CU_ASSERT_EQUAL(ev.u.alarm.phase, DP_PHASE_START);
	CU_ASSERT_EQUAL(ev.u.alarm.state, DP_ASTATE_ACTIVE);
	CU_ASSERT_EQUAL(ev.u.alarm.inactivation, DP_INACT_AUDIO_PAUSED);
	CU_ASSERT_EQUAL(ev.u.alarm.priority, DP_PRIO_HIGH);
	CU_ASSERT_EQUAL(ev.u.alarm.type, DP_ATYPE_PHYSIOLOGICAL);
	CU_ASSERT(all_bytes((const uint8_t *)&ev + alarm_end, sizeof(ev) - alarm_end, 0));

	/* An alarm without a source value: NaN. */
	a.source_value = NAN;
	dp_event_dev_alarm(&ev, &a, &in, 7, 99, 100);
	CU_ASSERT(isnan(ev.value));
}

static void
test_event_names(void)
{
	CU_ASSERT_STRING_EQUAL(dp_event_type_name(DP_EV_OBS), "obs");
	CU_ASSERT_STRING_EQUAL(dp_event_type_name(DP_EV_HIT), "hit");
	CU_ASSERT_STRING_EQUAL(dp_event_type_name(DP_EV_DEV_ALARM), "dev_alarm");
	CU_ASSERT_STRING_EQUAL(dp_event_type_name(DP_EV_TECH), "tech");
	CU_ASSERT_STRING_EQUAL(dp_event_type_name((enum dp_event_type)200), "?");
	CU_ASSERT_STRING_EQUAL(dp_lane_name(DP_LANE_ALARM), "alarm");
	CU_ASSERT_STRING_EQUAL(dp_lane_name(DP_LANE_TELEMETRY), "telemetry");
	CU_ASSERT_STRING_EQUAL(dp_lane_name(DP_LANE__COUNT), "?");
	for (unsigned c = 0; c < CP_CONS__COUNT; c++) {
		const char *name = cp_consumer_counter_name((enum cp_consumer_counter)c);

		CU_ASSERT_STRING_NOT_EQUAL(name, "?");
		CU_ASSERT(strlen(cp_consumer_counter_desc((enum cp_consumer_counter)c)) > 10);
		for (unsigned d = 0; d < c; d++)
			CU_ASSERT_STRING_NOT_EQUAL(
				name, cp_consumer_counter_name((enum cp_consumer_counter)d));
	}
	CU_ASSERT_STRING_EQUAL(cp_consumer_counter_name(CP_CONS_loss_alarms), "loss_alarms");
	CU_ASSERT_STRING_EQUAL(cp_consumer_counter_name(CP_CONS__COUNT), "?");
	CU_ASSERT_STRING_EQUAL(cp_consumer_counter_desc(CP_CONS__COUNT), "?");
}

/* ------------------------------------------------------------------------ */
/* Lanes                                                                     */
/* ------------------------------------------------------------------------ */

static void
test_lanes_sizes(void)
{
	static const struct {
		unsigned ask, ring;
	} cases[] = {{1, 2}, {2, 2}, {3, 4}, {64, 64}, {100, 128}, {1000, 1024}, {1025, 2048}};
	struct dp_lanes l;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned other = cases[(i + 3) % (sizeof(cases) / sizeof(cases[0]))].ask;
		unsigned other_ring = cases[(i + 3) % (sizeof(cases) / sizeof(cases[0]))].ring;

		CU_ASSERT_EQUAL_FATAL(lanes_make(&l, 0, cases[i].ask, other), 0);
		CU_ASSERT_EQUAL(rte_ring_get_size(l.ring[DP_LANE_ALARM]), cases[i].ring);
		CU_ASSERT_EQUAL(rte_ring_get_capacity(l.ring[DP_LANE_ALARM]), cases[i].ring - 1);
		CU_ASSERT_EQUAL(rte_ring_get_size(l.ring[DP_LANE_TELEMETRY]), other_ring);
		CU_ASSERT_EQUAL(dp_lanes_count(&l, DP_LANE_ALARM), 0);
		CU_ASSERT_EQUAL(dp_lanes_count(&l, DP_LANE_TELEMETRY), 0);
		dp_lanes_free(&l);
		CU_ASSERT_PTR_NULL(l.ring[DP_LANE_ALARM]);
		CU_ASSERT_PTR_NULL(l.ring[DP_LANE_TELEMETRY]);
		dp_lanes_free(&l); /* twice is harmless */
	}
	dp_lanes_free(NULL);

	/* The configured defaults make rings of exactly that size. */
	CU_ASSERT_EQUAL_FATAL(lanes_make(&l, 3, DP_ALARM_RING_DEFAULT, DP_TELEMETRY_RING_DEFAULT),
			      0);
	CU_ASSERT_EQUAL(rte_ring_get_size(l.ring[DP_LANE_ALARM]), DP_ALARM_RING_DEFAULT);
	CU_ASSERT_EQUAL(rte_ring_get_size(l.ring[DP_LANE_TELEMETRY]), DP_TELEMETRY_RING_DEFAULT);
	dp_lanes_free(&l);
}

static void
test_lanes_invalid(void)
{
	struct dp_lanes l;

	CU_ASSERT_EQUAL(lanes_make(&l, 0, 0, 16), -EINVAL);
	CU_ASSERT_PTR_NULL(l.ring[DP_LANE_ALARM]);
	CU_ASSERT_PTR_NULL(l.ring[DP_LANE_TELEMETRY]);
	CU_ASSERT_EQUAL(lanes_make(&l, 0, 16, 0), -EINVAL);
	CU_ASSERT_EQUAL(lanes_make(&l, 0, DP_RING_MAX + 1, 16), -EINVAL);
	CU_ASSERT_EQUAL(lanes_make(&l, 0, 16, DP_RING_MAX + 1), -EINVAL);
	CU_ASSERT_EQUAL(lanes_make(&l, 0, UINT_MAX, 16), -EINVAL);
	CU_ASSERT_EQUAL(dp_lanes_init(&l, NULL, 0, 16, 16), -EINVAL);
	CU_ASSERT_EQUAL(dp_lanes_init(NULL, "x", 0, 16, 16), -EINVAL);
}

static void
test_lanes_names(void)
{
	/* 60 characters: longer than a ring name may be; the start is kept. */
	static const char long_name[] =
		"a-very-long-plane-name-that-rte_ring-would-never-take-as-is";
	struct dp_lanes a, b, c;

	CU_ASSERT_EQUAL_FATAL(dp_lanes_init(&a, "tnames", 0, 16, 16), 0);
	/* Another worker of the same plane: other names. */
	CU_ASSERT_EQUAL_FATAL(dp_lanes_init(&b, "tnames", 1, 16, 16), 0);
	CU_ASSERT_STRING_NOT_EQUAL(a.ring[DP_LANE_ALARM]->name, b.ring[DP_LANE_ALARM]->name);
	CU_ASSERT_STRING_NOT_EQUAL(a.ring[DP_LANE_ALARM]->name, a.ring[DP_LANE_TELEMETRY]->name);
	CU_ASSERT(strstr(a.ring[DP_LANE_ALARM]->name, "tnames") == a.ring[DP_LANE_ALARM]->name);
	/* The same name and worker twice: refused, and the first still works. */
	CU_ASSERT_EQUAL(dp_lanes_init(&c, "tnames", 0, 16, 16), -EEXIST);
	CU_ASSERT_PTR_NULL(c.ring[DP_LANE_ALARM]);
	CU_ASSERT_PTR_NULL(c.ring[DP_LANE_TELEMETRY]);
	CU_ASSERT_EQUAL(rte_ring_lookup(a.ring[DP_LANE_ALARM]->name), a.ring[DP_LANE_ALARM]);
	dp_lanes_free(&a);
	dp_lanes_free(&b);

	/* A long name is cut, the worker and lane kept. */
	CU_ASSERT_EQUAL_FATAL(dp_lanes_init(&a, long_name, 12, 16, 16), 0);
	CU_ASSERT_EQUAL_FATAL(dp_lanes_init(&b, long_name, 13, 16, 16), 0);
	CU_ASSERT_STRING_NOT_EQUAL(a.ring[DP_LANE_ALARM]->name, b.ring[DP_LANE_ALARM]->name);
	CU_ASSERT(strlen(a.ring[DP_LANE_TELEMETRY]->name) < RTE_RING_NAMESIZE);
	CU_ASSERT(strncmp(a.ring[DP_LANE_ALARM]->name, long_name, 8) == 0);
	dp_lanes_free(&a);
	dp_lanes_free(&b);
}

/* Room, overflow and order on both lanes: exactly what fits goes in. */
static void
test_lanes_overflow(void)
{
	struct dp_stats *s = stats_new();
	struct dp_event out[256];
	struct dp_lanes l;
	unsigned n;

	CU_ASSERT_EQUAL_FATAL(lanes_make(&l, 5, 100, 16), 0); /* 127 and 15 usable */

	/* Usable room: 127 ALARM events, then one more is lost. */
	CU_ASSERT_EQUAL(put_seq(&l, DP_LANE_ALARM, 5, 0, 100, s), 100);
	CU_ASSERT_EQUAL(put_seq(&l, DP_LANE_ALARM, 5, 100, 27, s), 27);
	CU_ASSERT_EQUAL(dp_lanes_count(&l, DP_LANE_ALARM), 127);
	CU_ASSERT_EQUAL(dp_read(&s->event[DP_EVC_alarm_events]), 127);
	CU_ASSERT_EQUAL(dp_read(&s->event[DP_EVC_alarm_lost]), 0);
	CU_ASSERT_EQUAL(put_seq(&l, DP_LANE_ALARM, 5, 127, 1, s), 0);
	CU_ASSERT_EQUAL(dp_read(&s->event[DP_EVC_alarm_lost]), 1);
	/* The TELEMETRY lane is a ring of its own, still empty. */
	CU_ASSERT_EQUAL(dp_lanes_count(&l, DP_LANE_TELEMETRY), 0);

	/* Take 27, then a burst of 40 finds room for exactly 27. */
	CU_ASSERT_EQUAL(dp_lanes_take(&l, DP_LANE_ALARM, out, 27), 27);
	for (unsigned i = 0; i < 27; i++)
		CU_ASSERT_EQUAL(out[i].seq, i);
	CU_ASSERT_EQUAL(put_seq(&l, DP_LANE_ALARM, 5, 1000, 40, s), 27);
	CU_ASSERT_EQUAL(dp_read(&s->event[DP_EVC_alarm_events]), 154);
	CU_ASSERT_EQUAL(dp_read(&s->event[DP_EVC_alarm_lost]), 14);

	/* Everything comes out in the order it went in, and only that. */
	n = dp_lanes_take(&l, DP_LANE_ALARM, out, 256);
	CU_ASSERT_EQUAL(n, 127);
	for (unsigned i = 0; i < 100 && i < n; i++)
		CU_ASSERT_EQUAL(out[i].seq, 27 + i);
	for (unsigned i = 100; i < n; i++)
		CU_ASSERT_EQUAL(out[i].seq, 1000 + (i - 100));
	CU_ASSERT_EQUAL(out[0].type, DP_EV_HIT);
	CU_ASSERT_EQUAL(out[0].worker, 5);
	CU_ASSERT_EQUAL(dp_lanes_take(&l, DP_LANE_ALARM, out, 256), 0);
	CU_ASSERT_EQUAL(dp_lanes_take(&l, DP_LANE_ALARM, out, 0), 0);

	/* TELEMETRY: 15 usable; a burst of 20 puts 15, loses 5. */
	CU_ASSERT_EQUAL(put_seq(&l, DP_LANE_TELEMETRY, 5, 0, 20, s), 15);
	CU_ASSERT_EQUAL(dp_read(&s->event[DP_EVC_telemetry_events]), 15);
	CU_ASSERT_EQUAL(dp_read(&s->event[DP_EVC_telemetry_lost]), 5);
	CU_ASSERT_EQUAL(dp_lanes_count(&l, DP_LANE_TELEMETRY), 15);
	/* The ALARM counters did not move. */
	CU_ASSERT_EQUAL(dp_read(&s->event[DP_EVC_alarm_events]), 154);
	CU_ASSERT_EQUAL(dp_read(&s->event[DP_EVC_alarm_lost]), 14);
	n = dp_lanes_take(&l, DP_LANE_TELEMETRY, out, 10);
	CU_ASSERT_EQUAL(n, 10);
	CU_ASSERT_EQUAL(out[9].seq, 9);
	CU_ASSERT_EQUAL(out[9].type, DP_EV_OBS);
	CU_ASSERT_EQUAL(dp_lanes_count(&l, DP_LANE_TELEMETRY), 5);
	/* A put of nothing counts nothing. */
	CU_ASSERT_EQUAL(dp_lanes_put(&l, DP_LANE_TELEMETRY, out, 0, s), 0);
	CU_ASSERT_EQUAL(dp_read(&s->event[DP_EVC_telemetry_events]), 15);
	CU_ASSERT_EQUAL(dp_read(&s->event[DP_EVC_telemetry_lost]), 5);

	/* The whole record travels, byte for byte. */
	{
		struct dp_event e, got;

		memset(&e, 0, sizeof(e));
		for (size_t i = 0; i < sizeof(e); i++)
			((uint8_t *)&e)[i] = (uint8_t)(i * 13 + 1);
		CU_ASSERT_EQUAL(dp_lanes_take(&l, DP_LANE_TELEMETRY, out, 256), 5);
		CU_ASSERT_EQUAL(dp_lanes_put(&l, DP_LANE_TELEMETRY, &e, 1, s), 1);
		CU_ASSERT_EQUAL(dp_lanes_take(&l, DP_LANE_TELEMETRY, &got, 1), 1);
		CU_ASSERT_EQUAL(memcmp(&e, &got, sizeof(e)), 0);
	}
	dp_lanes_free(&l);
	free(s);
}

/* ------------------------------------------------------------------------ */
/* The consumer: priority and loss                                           */
/* ------------------------------------------------------------------------ */

#define LOG_MAX 4096

/* What the hooks saw, in order. */
struct log_entry {
	uint8_t lane; /* enum dp_lane */
	uint8_t type;
	uint8_t worker;
	uint32_t seq;
	unsigned batch; /* which on_telemetry call (TELEMETRY), or 0 */
	double value;
	uint32_t code;
};

struct log {
	unsigned n;
	unsigned batches;
	unsigned max_batch;
	struct log_entry e[LOG_MAX];
	/* Optional actions from inside the hooks. */
	struct dp_lanes *inject_lanes; /* put an alarm here from the first on_telemetry */
	unsigned inject_worker;
	struct dp_stats *inject_stats;
	uint32_t inject_after_seq;	/* from on_alarm: after the alarm of this seq ... */
	bool inject_on_alarm;		/* ... put one more alarm on the same lane */
	struct dp_lanes *message_lanes; /* ... or a message here: a hit, then its observation */
};

static void
log_add(struct log *g, enum dp_lane lane, const struct dp_event *ev, unsigned batch)
{
	CU_ASSERT_FATAL(g->n < LOG_MAX);
	g->e[g->n++] = (struct log_entry){
		.lane = (uint8_t)lane,
		.type = ev->type,
		.worker = ev->worker,
		.seq = ev->seq,
		.batch = batch,
		.value = ev->value,
		.code = ev->code,
	};
}

static void
log_alarm(void *arg, const struct dp_event *ev)
{
	struct log *g = arg;

	log_add(g, DP_LANE_ALARM, ev, 0);
	if (g->message_lanes != NULL && ev->type == DP_EV_HIT && ev->seq == g->inject_after_seq) {
		struct dp_lanes *l = g->message_lanes;

		g->message_lanes = NULL;
		CU_ASSERT_EQUAL(
			put_seq(l, DP_LANE_ALARM, g->inject_worker, 7000, 1, g->inject_stats), 1);
		CU_ASSERT_EQUAL(
			put_seq(l, DP_LANE_TELEMETRY, g->inject_worker, 7000, 1, g->inject_stats),
			1);
	}
	if (g->inject_on_alarm && ev->type == DP_EV_HIT && ev->seq == g->inject_after_seq) {
		g->inject_on_alarm = false;
		CU_ASSERT_EQUAL(put_seq(g->inject_lanes, DP_LANE_ALARM, g->inject_worker, 9000, 1,
					g->inject_stats),
				1);
	}
}

static void
log_telemetry(void *arg, const struct dp_event *ev, unsigned n)
{
	struct log *g = arg;

	g->batches++;
	if (n > g->max_batch)
		g->max_batch = n;
	for (unsigned i = 0; i < n; i++)
		log_add(g, DP_LANE_TELEMETRY, &ev[i], g->batches);
	if (g->inject_lanes != NULL && !g->inject_on_alarm && g->batches == 1) {
		/* An alarm arrives while observations are still waiting. */
		CU_ASSERT_EQUAL(put_seq(g->inject_lanes, DP_LANE_ALARM, g->inject_worker, 5000, 1,
					g->inject_stats),
				1);
	}
}

struct two {
	struct dp_lanes lanes[2];
	struct dp_lanes *lp[2];
	struct dp_stats *stats[2];
	const struct dp_stats *sp[2];
	struct cp_consumer *c;
	struct log *log;
};

static void
two_init(struct two *t, unsigned alarm, unsigned telemetry, bool hooks)
{
	struct cp_event_hooks h;

	memset(t, 0, sizeof(*t));
	t->log = calloc(1, sizeof(*t->log));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t->log);
	for (unsigned w = 0; w < 2; w++) {
		CU_ASSERT_EQUAL_FATAL(lanes_make(&t->lanes[w], w, alarm, telemetry), 0);
		t->lp[w] = &t->lanes[w];
		t->stats[w] = stats_new();
		t->sp[w] = t->stats[w];
	}
	h = (struct cp_event_hooks){
		.on_alarm = log_alarm, .on_telemetry = log_telemetry, .arg = t->log};
	CU_ASSERT_EQUAL_FATAL(cp_consumer_new(t->lp, t->sp, 2, hooks ? &h : NULL, &t->c), 0);
}

static void
two_free(struct two *t)
{
	cp_consumer_free(t->c);
	for (unsigned w = 0; w < 2; w++) {
		dp_lanes_free(&t->lanes[w]);
		free(t->stats[w]);
	}
	free(t->log);
}

static void
counters(const struct two *t, uint64_t out[CP_CONS__COUNT])
{
	cp_consumer_counters(t->c, out);
}

/* Telemetry put first, alarms after, in two workers' lanes: one pass
 * delivers every alarm before any observation, each lane in its order. */
static void
test_consumer_alarm_first(void)
{
	uint64_t cnt[CP_CONS__COUNT];
	struct two t;
	unsigned n_alarm = 0, seen_tel = 0, next[2][DP_LANE__COUNT] = {{0}};

	two_init(&t, 64, 256, true);
	CU_ASSERT_EQUAL(put_seq(t.lp[0], DP_LANE_TELEMETRY, 0, 0, 150, t.stats[0]), 150);
	CU_ASSERT_EQUAL(put_seq(t.lp[1], DP_LANE_TELEMETRY, 1, 0, 90, t.stats[1]), 90);
	CU_ASSERT_EQUAL(put_seq(t.lp[0], DP_LANE_ALARM, 0, 0, 10, t.stats[0]), 10);
	CU_ASSERT_EQUAL(put_seq(t.lp[1], DP_LANE_ALARM, 1, 0, 12, t.stats[1]), 12);

	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, UINT_MAX), 150 + 90 + 10 + 12);
	CU_ASSERT_EQUAL(t.log->n, 262);
	for (unsigned i = 0; i < t.log->n; i++) {
		const struct log_entry *e = &t.log->e[i];

		CU_ASSERT_FATAL(e->worker < 2);
		if (e->lane == DP_LANE_ALARM) {
			CU_ASSERT_EQUAL(seen_tel, 0); /* no observation before any alarm */
			CU_ASSERT_EQUAL(e->type, DP_EV_HIT);
			n_alarm++;
		} else {
			CU_ASSERT_EQUAL(e->type, DP_EV_OBS);
			seen_tel++;
		}
		CU_ASSERT_EQUAL(e->seq, next[e->worker][e->lane]);
		next[e->worker][e->lane]++;
	}
	CU_ASSERT_EQUAL(n_alarm, 22);
	CU_ASSERT_EQUAL(next[0][DP_LANE_ALARM], 10);
	CU_ASSERT_EQUAL(next[1][DP_LANE_ALARM], 12);
	CU_ASSERT_EQUAL(next[0][DP_LANE_TELEMETRY], 150);
	CU_ASSERT_EQUAL(next[1][DP_LANE_TELEMETRY], 90);
	CU_ASSERT(t.log->max_batch <= 64);
	CU_ASSERT(t.log->batches >= 4); /* 150 = 64 + 64 + 22, 90 = 64 + 26 */
	counters(&t, cnt);
	CU_ASSERT_EQUAL(cnt[CP_CONS_alarm_events], 22);
	CU_ASSERT_EQUAL(cnt[CP_CONS_telemetry_events], 240);
	CU_ASSERT_EQUAL(cnt[CP_CONS_passes], 1);
	CU_ASSERT_EQUAL(cnt[CP_CONS_idle_passes], 0);
	CU_ASSERT_EQUAL(cnt[CP_CONS_alarm_first], 0);
	CU_ASSERT_EQUAL(cnt[CP_CONS_loss_alarms], 0);
	CU_ASSERT_EQUAL(dp_lanes_count(t.lp[0], DP_LANE_TELEMETRY), 0);
	CU_ASSERT_EQUAL(dp_lanes_count(t.lp[1], DP_LANE_TELEMETRY), 0);

	/* Nothing left: an idle pass. */
	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, UINT_MAX), 0);
	counters(&t, cnt);
	CU_ASSERT_EQUAL(cnt[CP_CONS_passes], 2);
	CU_ASSERT_EQUAL(cnt[CP_CONS_idle_passes], 1);
	two_free(&t);
}

/* An alarm that arrives while observations wait is taken after the batch in
 * hand, before the rest of the observations. */
static void
test_consumer_alarm_between_batches(void)
{
	uint64_t cnt[CP_CONS__COUNT];
	struct two t;
	unsigned at = UINT_MAX;

	two_init(&t, 64, 512, true);
	CU_ASSERT_EQUAL(put_seq(t.lp[0], DP_LANE_TELEMETRY, 0, 0, 200, t.stats[0]), 200);
	CU_ASSERT_EQUAL(put_seq(t.lp[1], DP_LANE_TELEMETRY, 1, 0, 200, t.stats[1]), 200);
	t.log->inject_lanes = t.lp[1];
	t.log->inject_worker = 1;
	t.log->inject_stats = t.stats[1];

	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, UINT_MAX), 401);
	CU_ASSERT_EQUAL(t.log->n, 401);
	for (unsigned i = 0; i < t.log->n; i++) {
		if (t.log->e[i].lane == DP_LANE_ALARM) {
			CU_ASSERT_EQUAL(at, UINT_MAX); /* only one */
			at = i;
		}
	}
	/* Right after the first batch (64 observations), before the second. */
	CU_ASSERT_EQUAL(at, 64);
	if (at < t.log->n) {
		CU_ASSERT_EQUAL(t.log->e[at].seq, 5000);
		CU_ASSERT_EQUAL(t.log->e[at].worker, 1);
		CU_ASSERT_EQUAL(t.log->e[at - 1].batch, 1);
		CU_ASSERT_EQUAL(t.log->e[at + 1].batch, 2);
	}
	counters(&t, cnt);
	CU_ASSERT_EQUAL(cnt[CP_CONS_alarm_first], 1);
	CU_ASSERT_EQUAL(cnt[CP_CONS_alarm_events], 1);
	CU_ASSERT_EQUAL(cnt[CP_CONS_telemetry_events], 400);
	two_free(&t);
}

/*
 * A message lands on a worker's two lanes after the consumer has looked at
 * that worker's ALARM lane but before it takes its TELEMETRY: here worker
 * 0's, put from on_alarm while the consumer drains worker 1's lane. Its hit
 * must still reach on_alarm before its observation reaches on_telemetry.
 */
static void
test_consumer_hit_before_its_observation(void)
{
	uint64_t cnt[CP_CONS__COUNT];
	struct two t;
	unsigned hit_at = UINT_MAX, obs_at = UINT_MAX;

	two_init(&t, 64, 64, true);
	CU_ASSERT_EQUAL(put_seq(t.lp[1], DP_LANE_ALARM, 1, 0, 1, t.stats[1]), 1);
	t.log->message_lanes = t.lp[0];
	t.log->inject_worker = 0;
	t.log->inject_stats = t.stats[0];
	t.log->inject_after_seq = 0;

	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, UINT_MAX), 3);
	CU_ASSERT_PTR_NULL(t.log->message_lanes); /* it was put */
	CU_ASSERT_EQUAL(t.log->n, 3);
	for (unsigned i = 0; i < t.log->n; i++) {
		if (t.log->e[i].seq != 7000 || t.log->e[i].worker != 0)
			continue;
		if (t.log->e[i].lane == DP_LANE_ALARM)
			hit_at = i;
		else
			obs_at = i;
	}
	CU_ASSERT_EQUAL(hit_at, 1);
	CU_ASSERT_EQUAL(obs_at, 2);
	counters(&t, cnt);
	CU_ASSERT_EQUAL(cnt[CP_CONS_alarm_first], 1);
	CU_ASSERT_EQUAL(cnt[CP_CONS_alarm_events], 2);
	CU_ASSERT_EQUAL(cnt[CP_CONS_telemetry_events], 1);
	two_free(&t);
}

/* A worker that puts an alarm for each one the consumer takes (up to a cap,
 * so that a consumer that drains until empty fails rather than spins). */
struct refill {
	struct dp_lanes *lanes;
	struct dp_stats *stats;
	unsigned taken;
	unsigned cap;
};

static void
refill_alarm(void *arg, const struct dp_event *ev)
{
	struct refill *r = arg;

	if (r->taken++ < r->cap)
		CU_ASSERT_EQUAL(put_seq(r->lanes, DP_LANE_ALARM, 0, ev->seq + 64, 1, r->stats), 1);
}

/* A pass takes what the lanes held when it looked and ends, however fast a
 * worker refills them: the consumer thread is an RCU reader for a pass, and
 * a pass that never ends would hold every grace period up. */
static void
test_consumer_pass_ends(void)
{
	struct dp_lanes l, *lp = &l;
	struct dp_stats *stats = stats_new();
	const struct dp_stats *sp = stats;
	struct refill r = {.lanes = &l, .stats = stats, .cap = 100000};
	struct cp_event_hooks h = {.on_alarm = refill_alarm, .arg = &r};
	struct cp_consumer *c;

	CU_ASSERT_EQUAL_FATAL(lanes_make(&l, 0, 256, 256), 0);
	CU_ASSERT_EQUAL_FATAL(cp_consumer_new(&lp, &sp, 1, &h, &c), 0);
	CU_ASSERT_EQUAL(put_seq(&l, DP_LANE_ALARM, 0, 0, 100, stats), 100);
	CU_ASSERT_EQUAL(put_seq(&l, DP_LANE_TELEMETRY, 0, 0, 10, stats), 10);
	/* The 100, then the 100 put meanwhile once the observations are taken. */
	CU_ASSERT_EQUAL(cp_consumer_pass(c, UINT_MAX), 100 + 10 + 100 + 100);
	CU_ASSERT_EQUAL(r.taken, 300);
	CU_ASSERT_EQUAL(dp_lanes_count(&l, DP_LANE_ALARM), 100);
	CU_ASSERT_EQUAL(dp_read(&stats->event[DP_EVC_alarm_lost]), 0);
	r.cap = 0; /* the worker stops: what is left drains */
	cp_consumer_stop(c);
	CU_ASSERT_EQUAL(dp_lanes_count(&l, DP_LANE_ALARM), 0);
	cp_consumer_free(c);
	dp_lanes_free(&l);
	free(stats);
}

/* A budget bounds the observations of a pass; the workers take turns. */
static void
test_consumer_budget(void)
{
	uint64_t cnt[CP_CONS__COUNT];
	struct two t;
	unsigned per_worker[2] = {0, 0};

	two_init(&t, 64, 512, true);
	CU_ASSERT_EQUAL(put_seq(t.lp[0], DP_LANE_TELEMETRY, 0, 0, 200, t.stats[0]), 200);
	CU_ASSERT_EQUAL(put_seq(t.lp[1], DP_LANE_TELEMETRY, 1, 0, 200, t.stats[1]), 200);
	CU_ASSERT_EQUAL(put_seq(t.lp[1], DP_LANE_ALARM, 1, 0, 3, t.stats[1]), 3);

	/* 128: one batch from each worker. Alarms are never bounded. */
	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, 128), 131);
	for (unsigned i = 0; i < t.log->n; i++)
		if (t.log->e[i].lane == DP_LANE_TELEMETRY)
			per_worker[t.log->e[i].worker]++;
	CU_ASSERT_EQUAL(per_worker[0], 64);
	CU_ASSERT_EQUAL(per_worker[1], 64);
	CU_ASSERT_EQUAL(dp_lanes_count(t.lp[0], DP_LANE_TELEMETRY), 136);
	CU_ASSERT_EQUAL(dp_lanes_count(t.lp[1], DP_LANE_TELEMETRY), 136);

	/* 100: the next worker's batch of 64, then 36 of the other's. */
	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, 100), 100);
	CU_ASSERT_EQUAL(dp_lanes_count(t.lp[0], DP_LANE_TELEMETRY) +
				dp_lanes_count(t.lp[1], DP_LANE_TELEMETRY),
			172);
	CU_ASSERT(dp_lanes_count(t.lp[0], DP_LANE_TELEMETRY) == 72 ||
		  dp_lanes_count(t.lp[0], DP_LANE_TELEMETRY) == 100);

	/* Budget 0: alarms only. */
	CU_ASSERT_EQUAL(put_seq(t.lp[0], DP_LANE_ALARM, 0, 0, 2, t.stats[0]), 2);
	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, 0), 2);
	CU_ASSERT_EQUAL(dp_lanes_count(t.lp[0], DP_LANE_TELEMETRY) +
				dp_lanes_count(t.lp[1], DP_LANE_TELEMETRY),
			172);
	counters(&t, cnt);
	CU_ASSERT_EQUAL(cnt[CP_CONS_alarm_events], 5);
	CU_ASSERT_EQUAL(cnt[CP_CONS_telemetry_events], 228);
	CU_ASSERT_EQUAL(cnt[CP_CONS_passes], 3);
	two_free(&t);
}

/* Without hooks the consumer still takes and counts. */
static void
test_consumer_no_hooks(void)
{
	uint64_t cnt[CP_CONS__COUNT];
	struct two t;

	two_init(&t, 16, 16, false);
	CU_ASSERT_EQUAL(put_seq(t.lp[0], DP_LANE_ALARM, 0, 0, 20, t.stats[0]), 15);
	CU_ASSERT_EQUAL(put_seq(t.lp[1], DP_LANE_TELEMETRY, 1, 0, 9, t.stats[1]), 9);
	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, UINT_MAX), 24);
	counters(&t, cnt);
	CU_ASSERT_EQUAL(cnt[CP_CONS_alarm_events], 15);
	CU_ASSERT_EQUAL(cnt[CP_CONS_telemetry_events], 9);
	CU_ASSERT_EQUAL(cnt[CP_CONS_loss_alarms], 1);
	CU_ASSERT_EQUAL(t.log->n, 0);

	/* Stopping a consumer that never started drains what is there. */
	CU_ASSERT_EQUAL(put_seq(t.lp[1], DP_LANE_ALARM, 1, 0, 4, t.stats[1]), 4);
	CU_ASSERT_EQUAL(put_seq(t.lp[0], DP_LANE_TELEMETRY, 0, 0, 15, t.stats[0]), 15);
	cp_consumer_stop(t.c);
	CU_ASSERT_EQUAL(dp_lanes_count(t.lp[1], DP_LANE_ALARM), 0);
	CU_ASSERT_EQUAL(dp_lanes_count(t.lp[0], DP_LANE_TELEMETRY), 0);
	counters(&t, cnt);
	CU_ASSERT_EQUAL(cnt[CP_CONS_alarm_events], 19);
	CU_ASSERT_EQUAL(cnt[CP_CONS_telemetry_events], 24);
	two_free(&t);
}

static void
test_consumer_invalid(void)
{
	struct dp_lanes l, *lp[DP_MAX_WORKERS + 1];
	struct cp_consumer *c = (struct cp_consumer *)&l;

	CU_ASSERT_EQUAL_FATAL(lanes_make(&l, 0, 16, 16), 0);
	for (unsigned i = 0; i <= DP_MAX_WORKERS; i++)
		lp[i] = &l;
	CU_ASSERT_EQUAL(cp_consumer_new(lp, NULL, 0, NULL, &c), -EINVAL);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_EQUAL(cp_consumer_new(lp, NULL, DP_MAX_WORKERS + 1, NULL, &c), -EINVAL);
	CU_ASSERT_EQUAL(cp_consumer_new(NULL, NULL, 1, NULL, &c), -EINVAL);
	lp[1] = NULL;
	CU_ASSERT_EQUAL(cp_consumer_new(lp, NULL, 2, NULL, &c), -EINVAL);
	CU_ASSERT_EQUAL(cp_consumer_of_plane(NULL, NULL, &c), -EINVAL);
	/* The most workers there can be, and no stats: no loss check, no fault. */
	lp[1] = &l;
	CU_ASSERT_EQUAL_FATAL(cp_consumer_new(lp, NULL, DP_MAX_WORKERS, NULL, &c), 0);
	CU_ASSERT_EQUAL(cp_consumer_pass(c, UINT_MAX), 0);
	cp_consumer_stop(c); /* never started: only drains */
	cp_consumer_free(c);
	cp_consumer_free(NULL);
	dp_lanes_free(&l);
}

/* Count the technical alarms in the log from entry @from on. */
static unsigned
tech_alarms(const struct log *g, unsigned from, unsigned *last)
{
	unsigned n = 0;

	for (unsigned i = from; i < g->n; i++) {
		if (g->e[i].type == DP_EV_TECH) {
			n++;
			*last = i;
		}
	}
	return n;
}

static void
test_consumer_loss_alarm(void)
{
	uint64_t cnt[CP_CONS__COUNT];
	struct two t;
	unsigned from, last = 0;

	two_init(&t, 16, 64, true); /* 15 usable ALARM slots */

	/* 20 alarms on worker 1: 15 in, 5 lost. */
	CU_ASSERT_EQUAL(put_seq(t.lp[1], DP_LANE_ALARM, 1, 0, 20, t.stats[1]), 15);
	CU_ASSERT_EQUAL(dp_read(&t.stats[1]->event[DP_EVC_alarm_lost]), 5);
	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, UINT_MAX), 15);
	CU_ASSERT_EQUAL(t.log->n, 16);
	CU_ASSERT_EQUAL(tech_alarms(t.log, 0, &last), 1);
	/* After the 15 events that made it, as an alarm, with the exact count. */
	CU_ASSERT_EQUAL(last, 15);
	CU_ASSERT_EQUAL(t.log->e[last].lane, DP_LANE_ALARM);
	CU_ASSERT_EQUAL(t.log->e[last].worker, 1);
	CU_ASSERT_EQUAL(t.log->e[last].code, DP_TECH_EVENT_LOSS);
	CU_ASSERT_DOUBLE_EQUAL(t.log->e[last].value, 5.0, 0.0);
	counters(&t, cnt);
	CU_ASSERT_EQUAL(cnt[CP_CONS_loss_alarms], 1);
	CU_ASSERT_EQUAL(cnt[CP_CONS_alarm_events], 15);

	/* Nothing more lost: no more technical alarms, however many passes. */
	from = t.log->n;
	CU_ASSERT_EQUAL(put_seq(t.lp[1], DP_LANE_ALARM, 1, 100, 10, t.stats[1]), 10);
	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, UINT_MAX), 10);
	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, UINT_MAX), 0);
	CU_ASSERT_EQUAL(tech_alarms(t.log, from, &last), 0);
	CU_ASSERT_EQUAL(t.log->n, from + 10);

	/* A new loss (on worker 0 this time, and 1 more on worker 1): one
	 * technical alarm each, counting only the new losses. */
	from = t.log->n;
	CU_ASSERT_EQUAL(put_seq(t.lp[0], DP_LANE_ALARM, 0, 0, 40, t.stats[0]), 15);
	CU_ASSERT_EQUAL(put_seq(t.lp[1], DP_LANE_ALARM, 1, 200, 16, t.stats[1]), 15);
	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, UINT_MAX), 30);
	CU_ASSERT_EQUAL(tech_alarms(t.log, from, &last), 2);
	for (unsigned i = from; i < t.log->n; i++) {
		if (t.log->e[i].type != DP_EV_TECH)
			continue;
		CU_ASSERT_DOUBLE_EQUAL(t.log->e[i].value, t.log->e[i].worker == 0 ? 25.0 : 1.0,
				       0.0);
		CU_ASSERT(i >= from + 30); /* after every alarm of the pass */
	}
	counters(&t, cnt);
	CU_ASSERT_EQUAL(cnt[CP_CONS_loss_alarms], 3);

	/* The technical alarm waits until the lane has drained: here an alarm
	 * put from inside on_alarm is still in the lane when the pass ends. */
	from = t.log->n;
	CU_ASSERT_EQUAL(put_seq(t.lp[1], DP_LANE_ALARM, 1, 300, 18, t.stats[1]), 15);
	t.log->inject_lanes = t.lp[1];
	t.log->inject_worker = 1;
	t.log->inject_stats = t.stats[1];
	t.log->inject_after_seq = 314;
	t.log->inject_on_alarm = true;
	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, UINT_MAX), 15);
	CU_ASSERT_EQUAL(dp_lanes_count(t.lp[1], DP_LANE_ALARM), 1);
	CU_ASSERT_EQUAL(tech_alarms(t.log, from, &last), 0);
	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, UINT_MAX), 1);
	CU_ASSERT_EQUAL(tech_alarms(t.log, from, &last), 1);
	CU_ASSERT_EQUAL(last, t.log->n - 1);
	CU_ASSERT_EQUAL(t.log->e[last - 1].seq, 9000);
	CU_ASSERT_DOUBLE_EQUAL(t.log->e[last].value, 3.0, 0.0);
	counters(&t, cnt);
	CU_ASSERT_EQUAL(cnt[CP_CONS_loss_alarms], 4);

	/* TELEMETRY losses are counted by the worker, never raised. */
	t.log->inject_lanes = NULL;
	from = t.log->n;
	CU_ASSERT_EQUAL(put_seq(t.lp[0], DP_LANE_TELEMETRY, 0, 0, 70, t.stats[0]), 63);
	CU_ASSERT_EQUAL(cp_consumer_pass(t.c, UINT_MAX), 63);
	CU_ASSERT_EQUAL(tech_alarms(t.log, from, &last), 0);
	CU_ASSERT_EQUAL(dp_read(&t.stats[0]->event[DP_EVC_telemetry_lost]), 7);
	two_free(&t);
}

/* ------------------------------------------------------------------------ */
/* The consumer thread                                                       */
/* ------------------------------------------------------------------------ */

#define THR_WORKERS 2
#define THR_ALARMS 20000u    /* per worker */
#define THR_TELEMETRY 60000u /* per worker */

/* The hooks of the thread test run on the consumer thread only. */
struct order {
	uint32_t next[THR_WORKERS][DP_LANE__COUNT];
	uint64_t wrong; /* events out of order, duplicated or from nowhere */
	uint64_t tech;
	uint64_t alarms, telemetry;
};

static void
order_check(struct order *o, enum dp_lane lane, const struct dp_event *ev)
{
	enum dp_event_type want = lane == DP_LANE_ALARM ? DP_EV_HIT : DP_EV_OBS;

	if (ev->worker >= THR_WORKERS || ev->type != want || ev->seq != o->next[ev->worker][lane]) {
		o->wrong++;
		return;
	}
	o->next[ev->worker][lane]++;
}

static void
order_alarm(void *arg, const struct dp_event *ev)
{
	struct order *o = arg;

	if (ev->type == DP_EV_TECH) {
		o->tech++;
		return;
	}
	o->alarms++;
	order_check(o, DP_LANE_ALARM, ev);
}

static void
order_telemetry(void *arg, const struct dp_event *ev, unsigned n)
{
	struct order *o = arg;

	o->telemetry += n;
	for (unsigned i = 0; i < n; i++)
		order_check(o, DP_LANE_TELEMETRY, &ev[i]);
}

struct producer {
	struct dp_lanes *lanes[THR_WORKERS];
	struct dp_stats *stats[THR_WORKERS];
	unsigned waits;
};

/* Room left on a lane: the producer is the only one to fill it. */
static unsigned
room(struct dp_lanes *l, enum dp_lane lane)
{
	return rte_ring_get_capacity(l->ring[lane]) - dp_lanes_count(l, lane);
}

/* Both lanes of both workers, in bursts of 1 to 32, never more than fits:
 * nothing may be lost, so every event must arrive. */
static void *
producer_main(void *arg)
{
	struct producer *p = arg;
	const struct timespec pause = {.tv_sec = 0, .tv_nsec = 50000};
	uint32_t sent[THR_WORKERS][DP_LANE__COUNT] = {{0}};
	const uint32_t total[DP_LANE__COUNT] = {THR_ALARMS, THR_TELEMETRY};
	struct dp_event ev[32];
	unsigned step = 0;
	bool done = false;

	while (!done) {
		bool moved = false;

		done = true;
		for (unsigned w = 0; w < THR_WORKERS; w++) {
			for (unsigned lane = 0; lane < DP_LANE__COUNT; lane++) {
				uint32_t left = total[lane] - sent[w][lane];
				unsigned n = 1 + (step++ * 7) % 32;

				if (left == 0)
					continue;
				done = false;
				if (n > left)
					n = left;
				if (room(p->lanes[w], lane) < n)
					continue;
				for (unsigned i = 0; i < n; i++)
					ev[i] = ev_make(lane == DP_LANE_ALARM ? DP_EV_HIT
									      : DP_EV_OBS,
							w, sent[w][lane] + i);
				if (dp_lanes_put(p->lanes[w], lane, ev, n, p->stats[w]) != n)
					return NULL; /* seen as missing events */
				sent[w][lane] += n;
				moved = true;
			}
		}
		if (!done && !moved) {
			p->waits++;
			nanosleep(&pause, NULL);
		}
	}
	return NULL;
}

static void
test_consumer_thread(void)
{
	struct dp_lanes lanes[THR_WORKERS], *lp[THR_WORKERS];
	const struct dp_stats *sp[THR_WORKERS];
	struct producer p;
	struct order *o = calloc(1, sizeof(*o));
	struct cp_event_hooks h = {
		.on_alarm = order_alarm, .on_telemetry = order_telemetry, .arg = o};
	uint64_t cnt[CP_CONS__COUNT];
	struct cp_consumer *c;
	pthread_t thr;

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	memset(&p, 0, sizeof(p));
	for (unsigned w = 0; w < THR_WORKERS; w++) {
		CU_ASSERT_EQUAL_FATAL(lanes_make(&lanes[w], w, 1024, 4096), 0);
		lp[w] = &lanes[w];
		p.lanes[w] = &lanes[w];
		p.stats[w] = stats_new();
		sp[w] = p.stats[w];
	}
	CU_ASSERT_EQUAL_FATAL(cp_consumer_new(lp, sp, THR_WORKERS, &h, &c), 0);
	CU_ASSERT_EQUAL_FATAL(cp_consumer_start(c), 0);
	CU_ASSERT_EQUAL(cp_consumer_start(c), -EALREADY);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&thr, NULL, producer_main, &p), 0);
	CU_ASSERT_EQUAL(pthread_join(thr, NULL), 0);
	cp_consumer_stop(c);

	/* Every event exactly once, each lane of each worker in order. */
	CU_ASSERT_EQUAL(o->wrong, 0);
	CU_ASSERT_EQUAL(o->tech, 0);
	for (unsigned w = 0; w < THR_WORKERS; w++) {
		CU_ASSERT_EQUAL(o->next[w][DP_LANE_ALARM], THR_ALARMS);
		CU_ASSERT_EQUAL(o->next[w][DP_LANE_TELEMETRY], THR_TELEMETRY);
		CU_ASSERT_EQUAL(dp_read(&p.stats[w]->event[DP_EVC_alarm_events]), THR_ALARMS);
		CU_ASSERT_EQUAL(dp_read(&p.stats[w]->event[DP_EVC_telemetry_events]),
				THR_TELEMETRY);
		CU_ASSERT_EQUAL(dp_read(&p.stats[w]->event[DP_EVC_alarm_lost]), 0);
		CU_ASSERT_EQUAL(dp_read(&p.stats[w]->event[DP_EVC_telemetry_lost]), 0);
		CU_ASSERT_EQUAL(dp_lanes_count(&lanes[w], DP_LANE_ALARM), 0);
		CU_ASSERT_EQUAL(dp_lanes_count(&lanes[w], DP_LANE_TELEMETRY), 0);
	}
	CU_ASSERT_EQUAL(o->alarms, (uint64_t)THR_WORKERS * THR_ALARMS);
	CU_ASSERT_EQUAL(o->telemetry, (uint64_t)THR_WORKERS * THR_TELEMETRY);
	cp_consumer_counters(c, cnt);
	CU_ASSERT_EQUAL(cnt[CP_CONS_alarm_events], (uint64_t)THR_WORKERS * THR_ALARMS);
	CU_ASSERT_EQUAL(cnt[CP_CONS_telemetry_events], (uint64_t)THR_WORKERS * THR_TELEMETRY);
	CU_ASSERT_EQUAL(cnt[CP_CONS_loss_alarms], 0);
	CU_ASSERT(cnt[CP_CONS_passes] >= 1);

	/* Started again after a stop, it goes on where it was. */
	CU_ASSERT_EQUAL_FATAL(cp_consumer_start(c), 0);
	CU_ASSERT_EQUAL(put_seq(&lanes[0], DP_LANE_ALARM, 0, THR_ALARMS, 3, p.stats[0]), 3);
	cp_consumer_free(c); /* stops and drains */
	CU_ASSERT_EQUAL(o->next[0][DP_LANE_ALARM], THR_ALARMS + 3);
	CU_ASSERT_EQUAL(o->wrong, 0);

	for (unsigned w = 0; w < THR_WORKERS; w++) {
		dp_lanes_free(&lanes[w]);
		free(p.stats[w]);
	}
	free(o);
}

/* ------------------------------------------------------------------------ */
/* The consumer thread: a message's hits before its observation              */
/* ------------------------------------------------------------------------ */

#define HO_WORKERS 2
#define HO_MESSAGES 100000u /* per worker */
#define HO_SYNC_WAIT_S 10

/* What the hooks saw; written on the consumer thread only. */
struct hit_order {
	uint32_t hits[HO_WORKERS]; /* hits delivered: the next hit's seq */
	uint32_t obs[HO_WORKERS];  /* observations delivered: the next one's seq */
	uint64_t early;		   /* observations handed over before their message's hit */
	uint64_t wrong;		   /* out of order, duplicated or from nowhere */
	uint64_t offline;	   /* hooks run while not an online QSBR reader */
};

/* A hook that takes its time, as the alarm manager's does: while the
 * consumer is in it, the producers get ahead on the other rings. */
static void
ho_busy(void)
{
	uint64_t until = rte_rdtsc() + rte_get_tsc_hz() / 2000000; /* 0.5 us */

	while (rte_rdtsc() < until)
		rte_pause();
}

static void
ho_alarm(void *arg, const struct dp_event *ev)
{
	struct hit_order *o = arg;

	ho_busy();
	if (!urcu_qsbr_read_ongoing())
		o->offline++;
	if (ev->type != DP_EV_HIT || ev->worker >= HO_WORKERS || ev->seq != o->hits[ev->worker]) {
		o->wrong++;
		return;
	}
	o->hits[ev->worker]++;
}

static void
ho_telemetry(void *arg, const struct dp_event *ev, unsigned n)
{
	struct hit_order *o = arg;

	if (!urcu_qsbr_read_ongoing())
		o->offline++;
	for (unsigned i = 0; i < n; i++) {
		unsigned w = ev[i].worker;

		if (ev[i].type != DP_EV_OBS || w >= HO_WORKERS || ev[i].seq != o->obs[w]) {
			o->wrong++;
			continue;
		}
		if (o->hits[w] <= ev[i].seq) /* its hit not delivered yet */
			o->early++;
		o->obs[w]++;
	}
}

/* One worker's producer: per message, its hit then its observation, as
 * worker.c does, as soon as both lanes have room (nothing may be lost). */
struct ho_producer {
	struct dp_lanes *lanes;
	struct dp_stats *stats;
	unsigned worker;
	bool failed;
};

static void *
ho_producer_main(void *arg)
{
	struct ho_producer *p = arg;

	for (uint32_t m = 0; m < HO_MESSAGES; m++) {
		struct dp_event hit = ev_make(DP_EV_HIT, p->worker, m);
		struct dp_event obs = ev_make(DP_EV_OBS, p->worker, m);

		while (room(p->lanes, DP_LANE_ALARM) == 0 || room(p->lanes, DP_LANE_TELEMETRY) == 0)
			sched_yield();
		if (dp_lanes_put(p->lanes, DP_LANE_ALARM, &hit, 1, p->stats) != 1 ||
		    dp_lanes_put(p->lanes, DP_LANE_TELEMETRY, &obs, 1, p->stats) != 1) {
			p->failed = true;
			return NULL;
		}
		/* At about the consumer's pace, so that it keeps up with the
		 * observations and often looks at a ring just as a pair lands. */
		ho_busy();
	}
	return NULL;
}

static void *
synchronize_main(void *arg)
{
	(void)arg;
	urcu_qsbr_synchronize_rcu();
	return NULL;
}

/* A grace period, waited for on a thread of its own: true if it ended
 * within HO_SYNC_WAIT_S seconds (false: a reader held it up). */
static bool
grace_period_ends(void)
{
	struct timespec deadline;
	pthread_t thr;

	if (pthread_create(&thr, NULL, synchronize_main, NULL) != 0)
		return false;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += HO_SYNC_WAIT_S;
	if (pthread_timedjoin_np(thr, NULL, &deadline) != 0) {
		pthread_detach(thr); /* it ends once the consumer has stopped */
		return false;
	}
	return true;
}

/*
 * Two producers (one per worker's lanes) put, per message, a hit on the
 * ALARM lane then its observation on the TELEMETRY lane, many thousands of
 * times, while the consumer thread runs: every observation must reach
 * on_telemetry after its own hit reached on_alarm, however the puts fall
 * between the consumer's looks at the two rings. The hooks run as an
 * online QSBR reader; a grace period ends while the consumer works and
 * while it idles.
 */
static void
test_consumer_hit_before_observation(void)
{
	struct dp_lanes lanes[HO_WORKERS], *lp[HO_WORKERS];
	const struct dp_stats *sp[HO_WORKERS];
	struct ho_producer p[HO_WORKERS];
	pthread_t thr[HO_WORKERS];
	struct hit_order *o = calloc(1, sizeof(*o));
	struct cp_event_hooks h = {.on_alarm = ho_alarm, .on_telemetry = ho_telemetry, .arg = o};
	const struct timespec nap = {.tv_sec = 0, .tv_nsec = 5000000};
	struct cp_consumer *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	for (unsigned w = 0; w < HO_WORKERS; w++) {
		CU_ASSERT_EQUAL_FATAL(lanes_make(&lanes[w], w, 1024, 1024), 0);
		lp[w] = &lanes[w];
		p[w] = (struct ho_producer){.lanes = &lanes[w], .stats = stats_new(), .worker = w};
		sp[w] = p[w].stats;
	}
	CU_ASSERT_EQUAL_FATAL(cp_consumer_new(lp, sp, HO_WORKERS, &h, &c), 0);
	CU_ASSERT_EQUAL_FATAL(cp_consumer_start(c), 0);
	for (unsigned w = 0; w < HO_WORKERS; w++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&thr[w], NULL, ho_producer_main, &p[w]), 0);
	CU_ASSERT_TRUE(grace_period_ends()); /* the consumer at work */
	for (unsigned w = 0; w < HO_WORKERS; w++)
		CU_ASSERT_EQUAL(pthread_join(thr[w], NULL), 0);
	nanosleep(&nap, NULL);
	CU_ASSERT_TRUE(grace_period_ends()); /* the consumer idle */
	cp_consumer_stop(c);

	if (o->early != 0)
		fprintf(stderr, "\n  %llu observations before their hit",
			(unsigned long long)o->early);
	CU_ASSERT_EQUAL(o->early, 0);
	CU_ASSERT_EQUAL(o->wrong, 0);
	CU_ASSERT_EQUAL(o->offline, 0);
	for (unsigned w = 0; w < HO_WORKERS; w++) {
		CU_ASSERT_FALSE(p[w].failed);
		CU_ASSERT_EQUAL(o->hits[w], HO_MESSAGES);
		CU_ASSERT_EQUAL(o->obs[w], HO_MESSAGES);
		CU_ASSERT_EQUAL(dp_read(&p[w].stats->event[DP_EVC_alarm_lost]), 0);
		CU_ASSERT_EQUAL(dp_read(&p[w].stats->event[DP_EVC_telemetry_lost]), 0);
	}
	cp_consumer_free(c);
	for (unsigned w = 0; w < HO_WORKERS; w++) {
		dp_lanes_free(&lanes[w]);
		free(p[w].stats);
	}
	free(o);
}

/* ------------------------------------------------------------------------ */
/* End to end: a worker's events reach the consumer                          */
/* ------------------------------------------------------------------------ */

/*
 * A plane on a net_ring port (rings the test owns, as in test_worker.c) with
 * events and a rule set; frames in, a consumer thread out. Every observation
 * is one TELEMETRY event, every rule hit one ALARM event, and the workers'
 * event counters equal what the consumer took.
 */

#define OUR_V4 0xc0000201u  /* 192.0.2.1 */
#define PEER_V4 0xc000020au /* 192.0.2.10 */
#define HL7_PORT 2575
#define VTP_PORT 4575
#define PEER_PORT 40000
#define E2E_POOL_MBUFS 1023
#define E2E_RING_SIZE 1024
#define E2E_FRAME_ROOM 1600
#define E2E_MAX_BATCH 64
#define E2E_WAIT_MS 10000
#define E2E_VTP_DEVICE 0x0123456789abcdefull
#define E2E_LOG_MAX 256

static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x10};
static const uint8_t our_v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x01};

struct batch {
	unsigned n;
	struct rte_mbuf *m[E2E_MAX_BATCH];
};

static void
batch_add(struct batch *b, struct rte_mempool *pool, const uint8_t *frame, size_t len)
{
	struct rte_mbuf *m;
	char *data;

	CU_ASSERT_FATAL(len > 0 && len <= E2E_FRAME_ROOM && b->n < E2E_MAX_BATCH);
	m = rte_pktmbuf_alloc(pool);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	data = rte_pktmbuf_append(m, (uint16_t)len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(data);
	memcpy(data, frame, len);
	b->m[b->n++] = m;
}

static void
add_udp(struct batch *b, struct rte_mempool *pool, const struct vt_ring_port *rp, uint16_t dport,
	const void *payload, size_t plen)
{
	uint8_t frame[E2E_FRAME_ROOM];
	struct fr_l2 l2;
	size_t len;

	memset(&l2, 0, sizeof(l2));
	memcpy(l2.dst, rp->mac, 6);
	memcpy(l2.src, peer_mac, 6);
	len = fr_udp4(frame, sizeof(frame), &l2, PEER_V4, OUR_V4, PEER_PORT, dport, payload, plen);
	batch_add(b, pool, frame, len);
}

static void
e2e_conf(struct dp_conf *c, const struct vt_ring_port *rp, const struct rule_set *rules)
{
	struct dp_local *l;

	memset(c, 0, sizeof(*c));
	c->n_workers = 1;
	c->rx_desc = 512;
	c->tx_desc = 512;
	c->n_ports = 1;
	c->port[0].name = rp->name;
	l = &c->port[0].local;
	l->n_ipv4 = 1;
	l->ipv4[0] = htonl(OUR_V4);
	l->n_ipv6 = 1;
	memcpy(l->ipv6[0], our_v6, 16);
	l->n_hl7_ports = 1;
	l->hl7_ports[0] = HL7_PORT;
	l->n_vtp_ports = 1;
	l->vtp_ports[0] = VTP_PORT;
	l->udp_checksum = true;
	c->vtp_devices = 1024;
	c->rules = rules;
	c->events = true;
	c->alarm_ring = 256;
	c->telemetry_ring = 256;
}

/* What the consumer thread saw (written on it only, read after the stop). */
struct e2e_log {
	unsigned n_alarm, n_tel;
	struct dp_event alarm[E2E_LOG_MAX];
	struct dp_event tel[E2E_LOG_MAX];
	unsigned overflow;
};

static void
e2e_alarm(void *arg, const struct dp_event *ev)
{
	struct e2e_log *g = arg;

	if (g->n_alarm < E2E_LOG_MAX)
		g->alarm[g->n_alarm++] = *ev;
	else
		g->overflow++;
}

static void
e2e_telemetry(void *arg, const struct dp_event *ev, unsigned n)
{
	struct e2e_log *g = arg;

	for (unsigned i = 0; i < n; i++) {
		if (g->n_tel < E2E_LOG_MAX)
			g->tel[g->n_tel++] = ev[i];
		else
			g->overflow++;
	}
}

static bool
wait_rx(const struct dp_plane *dp, uint64_t want)
{
	struct dp_stats total;

	for (unsigned ms = 0; ms < E2E_WAIT_MS; ms++) {
		dp_stats_total(dp, &total);
		if (dp_read(&total.rx_packets) >= want)
			return true;
		usleep(1000);
	}
	return false;
}

static void
test_end_to_end(void)
{
	static const char text[] =
		"alert hl7 any any -> any 2575 (msg:\"SpO2 below 95\"; metric:SPO2; value:<95; "
		"priority:high; sid:1;)\n"
		"log udp any any -> any any (msg:\"every datagram\"; sid:3;)\n";
	const struct rule_source src = {"events.rules", text, sizeof(text) - 1};
	const struct rule_load_opts opts = {.sources = &src, .n_sources = 1};
	const struct dp_vtp_obs vobs[3] = {
		{.code = 147842, .unit = 264864, .value = 72.0},
		{.code = 150456, .unit = 262688, .value = 93.0},
		{.code = 151562, .unit = 264928, .value = 18.0},
	};
	struct rule_diags diags = {0};
	struct rule_set *set = NULL;
	struct rte_mempool *pool;
	struct cp_event_hooks hooks;
	struct cp_consumer *c = NULL;
	struct e2e_log *g = calloc(1, sizeof(*g));
	static struct batch b;
	struct vt_ring_port rp;
	struct dp_conf conf;
	struct dp_plane *dp = NULL;
	struct dp_stats total;
	uint64_t cnt[CP_CONS__COUNT];
	uint8_t payload[E2E_FRAME_ROOM];
	unsigned sid1 = 0, sid3 = 0, malformed = 0, hl7_obs = 0, vtp_obs = 0;
	char err[512] = "";
	int n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_EQUAL_FATAL(rule_set_load(&opts, &set, &diags), 0);
	rule_diags_free(&diags);
	pool = rte_pktmbuf_pool_create("te_frames", E2E_POOL_MBUFS, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       (int)rte_socket_id());
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	CU_ASSERT_FATAL(vt_ring_port_create(&rp, "te_e2e", E2E_RING_SIZE) == 0);

	/* Ten HL7 messages of one SpO2 each (90..99: five below 95), one VTP
	 * frame of three observations (one SpO2 of 93, which an hl7 rule does
	 * not see), one HL7 datagram without MLLP framing (decodes to nothing). */
	memset(&b, 0, sizeof(b));
	for (unsigned i = 0; i < 10; i++) {
		n = snprintf((char *)payload, sizeof(payload),
			     "\x0bMSH|^~\\&|MON7|ICU|VIGIL|HOSP|20240301120000||ORU^R01|E%u|P|2.6\r"
			     "PID|||PAT42^^^HOSP^MR\rPV1||I|ICU^12^B\r"
			     "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|%u|%%|||||R\r\x1c\r",
			     i, 90 + i);
		CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(payload));
		add_udp(&b, pool, &rp, HL7_PORT, payload, (size_t)n);
	}
	n = dp_vtp_encode(payload, sizeof(payload), E2E_VTP_DEVICE, 77, 1795860900000000000ll, vobs,
			  3);
	CU_ASSERT_FATAL(n > 0);
	add_udp(&b, pool, &rp, VTP_PORT, payload, (size_t)n);
	add_udp(&b, pool, &rp, HL7_PORT, "MSH|not framed", 14);

	e2e_conf(&conf, &rp, set);
	CU_ASSERT_EQUAL_FATAL(dp_start(&conf, &dp, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(dp_lanes_of(dp, 0));
	CU_ASSERT_PTR_NULL(dp_lanes_of(dp, 1));
	hooks = (struct cp_event_hooks){
		.on_alarm = e2e_alarm, .on_telemetry = e2e_telemetry, .arg = g};
	CU_ASSERT_EQUAL_FATAL(cp_consumer_of_plane(dp, &hooks, &c), 0);
	CU_ASSERT_EQUAL_FATAL(cp_consumer_start(c), 0);
	CU_ASSERT_EQUAL_FATAL(rte_ring_enqueue_bulk(rp.rx, (void **)b.m, b.n, NULL), b.n);
	CU_ASSERT_TRUE(wait_rx(dp, b.n));
	dp_stop(dp);
	cp_consumer_stop(c); /* after dp_stop: whatever is left is drained */

	/* TELEMETRY: one event per observation, as decoded. */
	CU_ASSERT_EQUAL(g->overflow, 0);
	CU_ASSERT_EQUAL(g->n_tel, 13);
	for (unsigned i = 0; i < g->n_tel; i++) {
		const struct dp_event *ev = &g->tel[i];

		CU_ASSERT_EQUAL(ev->type, DP_EV_OBS);
		CU_ASSERT_EQUAL(ev->worker, 0);
		CU_ASSERT_EQUAL(ev->ip_version, 4);
		CU_ASSERT_EQUAL(ev->sport, PEER_PORT);
		CU_ASSERT_EQUAL(memcmp(ev->src, (const uint8_t[4]){192, 0, 2, 10}, 4), 0);
		CU_ASSERT(ev->wall_ns > 0);
		CU_ASSERT(ev->device != 0);
		if (ev->proto == RULE_PROTO_HL7) {
			/* In the order sent: SpO2 90, 91, ... */
			CU_ASSERT_EQUAL(ev->code, 150456);
			CU_ASSERT_DOUBLE_EQUAL(ev->value, 90.0 + hl7_obs, 0.0);
			CU_ASSERT_EQUAL(ev->obs_index, 0);
			hl7_obs++;
		} else {
			CU_ASSERT_EQUAL(ev->proto, RULE_PROTO_VTP);
			CU_ASSERT_EQUAL(ev->device, E2E_VTP_DEVICE);
			CU_ASSERT_EQUAL(ev->seq, 77);
			CU_ASSERT_EQUAL(ev->time_ns, 1795860900000000000ll);
			if (vtp_obs < 3) {
				CU_ASSERT_EQUAL(ev->obs_index, vtp_obs);
				CU_ASSERT_EQUAL(ev->code, vobs[vtp_obs].code);
				CU_ASSERT_DOUBLE_EQUAL(ev->value, vobs[vtp_obs].value, 0.0);
			}
			vtp_obs++;
		}
	}
	CU_ASSERT_EQUAL(hl7_obs, 10);
	CU_ASSERT_EQUAL(vtp_obs, 3);

	/* ALARM: one event per hit: sid 1 on five observations, sid 3 on each
	 * of the 12 datagrams (the one that did not decode is malformed). */
	for (unsigned i = 0; i < g->n_alarm; i++) {
		const struct dp_event *ev = &g->alarm[i];

		CU_ASSERT_EQUAL(ev->type, DP_EV_HIT);
		CU_ASSERT_EQUAL(ev->worker, 0);
		CU_ASSERT(ev->u.hit.ruleset_version >= 1);
		if (ev->u.hit.sid == 1) {
			CU_ASSERT_EQUAL(ev->u.hit.action, RULE_ACTION_ALERT);
			CU_ASSERT_EQUAL(ev->u.hit.priority, RULE_PRIO_HIGH);
			CU_ASSERT_EQUAL(ev->proto, RULE_PROTO_HL7);
			CU_ASSERT_EQUAL(ev->obs_index, 0);
			CU_ASSERT_EQUAL(ev->code, 150456);
			CU_ASSERT_DOUBLE_EQUAL(ev->value, 90.0 + sid1, 0.0);
			CU_ASSERT(ev->device != 0);
			CU_ASSERT_EQUAL(ev->u.hit.malformed, 0);
			sid1++;
		} else if (ev->u.hit.sid == 3) {
			CU_ASSERT_EQUAL(ev->u.hit.action, RULE_ACTION_LOG);
			CU_ASSERT_EQUAL(ev->obs_index, RULE_HIT_MSG);
			if (ev->u.hit.malformed) {
				CU_ASSERT_EQUAL(ev->device, 0);
				malformed++;
			}
			sid3++;
		} else {
			CU_FAIL("an ALARM event of a rule that is not in the set");
		}
	}
	CU_ASSERT_EQUAL(sid1, 5);
	CU_ASSERT_EQUAL(sid3, 12);
	CU_ASSERT_EQUAL(malformed, 1);
	CU_ASSERT_EQUAL(g->n_alarm, 17);

	/* The worker's counters say what the consumer took, and nothing lost. */
	dp_stats_total(dp, &total);
	cp_consumer_counters(c, cnt);
	CU_ASSERT_EQUAL(dp_read(&total.rx_packets), b.n);
	CU_ASSERT_EQUAL(dp_read(&total.event[DP_EVC_alarm_events]), cnt[CP_CONS_alarm_events]);
	CU_ASSERT_EQUAL(dp_read(&total.event[DP_EVC_telemetry_events]),
			cnt[CP_CONS_telemetry_events]);
	CU_ASSERT_EQUAL(cnt[CP_CONS_alarm_events], g->n_alarm);
	CU_ASSERT_EQUAL(cnt[CP_CONS_telemetry_events], g->n_tel);
	CU_ASSERT_EQUAL(dp_read(&total.event[DP_EVC_alarm_lost]), 0);
	CU_ASSERT_EQUAL(dp_read(&total.event[DP_EVC_telemetry_lost]), 0);
	CU_ASSERT_EQUAL(cnt[CP_CONS_loss_alarms], 0);
	CU_ASSERT_EQUAL(dp_lanes_count(dp_lanes_of(dp, 0), DP_LANE_ALARM), 0);
	CU_ASSERT_EQUAL(dp_lanes_count(dp_lanes_of(dp, 0), DP_LANE_TELEMETRY), 0);

	cp_consumer_free(c);
	dp_destroy(dp);
	CU_ASSERT_EQUAL(vt_ring_port_destroy(&rp), 0);
	CU_ASSERT_EQUAL(rte_mempool_avail_count(pool), E2E_POOL_MBUFS);
	rte_mempool_free(pool);
	rule_set_free(set);
	free(g);
}

/* ------------------------------------------------------------------------ */
/* Registration                                                              */
/* ------------------------------------------------------------------------ */

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"observation event", test_event_obs},
		{"hit on the message", test_event_hit_message},
		{"hit on an observation", test_event_hit_observation},
		{"device alarm event", test_event_dev_alarm},
		{"names", test_event_names},
		{"lane sizes", test_lanes_sizes},
		{"lane sizes refused", test_lanes_invalid},
		{"lane ring names", test_lanes_names},
		{"lane room and overflow", test_lanes_overflow},
		{"consumer: alarms first", test_consumer_alarm_first},
		{"consumer: alarm between batches", test_consumer_alarm_between_batches},
		{"consumer: a message's hit before its observation",
		 test_consumer_hit_before_its_observation},
		{"consumer: a pass ends however fast alarms come", test_consumer_pass_ends},
		{"consumer: telemetry budget", test_consumer_budget},
		{"consumer: no hooks", test_consumer_no_hooks},
		{"consumer: bad arguments", test_consumer_invalid},
		{"consumer: loss raises a technical alarm", test_consumer_loss_alarm},
		{"consumer thread: every event once, in order", test_consumer_thread},
		{"consumer thread: a hit before its observation",
		 test_consumer_hit_before_observation},
		{"end to end: a worker's events reach the consumer", test_end_to_end},
	};
	CU_pSuite suite = CU_add_suite("events", suite_init, suite_cleanup);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
