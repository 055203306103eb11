/*
 * test_alarm.c - unit tests of the alarm manager (controlplane/alarm.c).
 *
 *   - the state machine, table-driven: each scenario is a list of steps
 *     (a rule hit, an observation, a device alarm, a technical condition,
 *     a tick, an operator's ack, reset or silence) with, after each, the
 *     changes on_change must have seen (name and id, in order, or none),
 *     the return of an operator action, and the state and priority a
 *     reader then sees; and the counters at the end. Every transition:
 *     delay run out by a tick and by a hit, a condition that ends within
 *     its delay (filtered, nothing said), no delay, cleared, latched,
 *     reset, retriggered, acknowledged (twice: -EALREADY), operator
 *     actions refused (-EINVAL, -ENOENT), silenced and unsilenced,
 *     escalated (not when acknowledged), instant conditions ended by hold,
 *     observations that must not end a condition (older, the same message,
 *     another metric, another subject, an invalid value), device alarm
 *     phases (start, escalate, de-escalate, latched, end, tpoint, the
 *     device's acknowledgement), a rule hit on a device alarm ended by the
 *     device's end (not by hold), thresholds (limit by device and by rule,
 *     threshold, both), ids from first_id, a full table;
 *   - on every change: the history's last entry is that change, times
 *     never go backwards, changed_ns is the last entry's time;
 *   - times: a change a deadline makes has the deadline's time, however
 *     late the tick that notices it;
 *   - history: the newest CP_ALARM_HISTORY changes kept, the rest counted;
 *   - the stored record: cp_alarm_json and back gives every field exactly,
 *     and bad records are refused;
 *   - restore: same id, no new RAISED, ends later with that id, older
 *     observations do not end it, final records ignored, ids go on;
 *   - readers: get, foreach in id order (also when slots are reused),
 *     open_by_priority, and a reader thread beside the writer;
 *   - a throughput figure (printed, not asserted).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/CUnit.h>

#include "controlplane.h"
#include "cunit_main.h"

#define SEC INT64_C(1000000000)
#define T0 INT64_C(1714557600000000000) /* 2024-05-01T10:00:00Z */
#define NS(s) (T0 + (int64_t)((s)*1e9))

#define EVT_HI 196648	     /* MDC_EVT_HI */
#define EVT_LO 196670	     /* MDC_EVT_LO */
#define EVT_KEEPALIVE 196614 /* MDC_EVT_ACTIVE */

/* ------------------------------------------------------------------------ */
/* What the tests feed                                                       */
/* ------------------------------------------------------------------------ */

static const struct cp_subject subjects[] = {
	{.device = UINT64_C(0x0011223344556601),
	 .patient = "P1",
	 .location = "ICU-1",
	 .device_id = "mon-1"},
	{.device = UINT64_C(0x0011223344556602),
	 .patient = "P2",
	 .location = "ICU-2",
	 .device_id = "mon-2"},
	{.device = UINT64_C(0x0011223344556603)}, /* names no patient */
	{.device = UINT64_C(0x0011223344556604),
	 .patient = "P1",
	 .location = "ICU-1",
	 .device_id = "oxi-4"}, /* another device of P1 */
	{.device = UINT64_C(0x0011223344556605), .patient = "P5", .location = "ICU-5"},
};
enum { S1, S2, S3, S1B, S5 };

/* Metrics by name, looked up at start: a step names them by this index. */
enum { M_NONE = 0, M_SPO2, M_HR, M_PULSE, M__COUNT };
static const char *const metric_names[M__COUNT] = {"", "SPO2", "HR", "PULSE"};
static uint32_t metric_code[M__COUNT];

struct rule_spec {
	uint32_t sid;
	uint8_t priority;
	int metric; /* M_* (0: not a metric rule) */
	uint32_t delay_ms;
	bool latch;
	uint32_t esc_after_ms;
	uint8_t esc_priority;
	uint8_t thr_type, thr_track;
	uint32_t thr_count, thr_seconds;
	uint8_t kind;
	const char *msg;
};

enum {
	R_SPO2,	      /* 1000001: delay 15 s, escalate to high after 2 min */
	R_SPO2_NOW,   /* no delay */
	R_HR_LATCH,   /* latching, no delay */
	R_ASYSTOLE,   /* a content rule on a device alarm message, latching */
	R_APNEA,      /* a content rule on a device alarm message */
	R_MALFORMED,  /* an instant condition */
	R_LIMIT_DEV,  /* limit 1 per 600 s by device */
	R_LIMIT_RULE, /* limit 2 per 60 s by rule */
	R_THRESH,     /* every 3rd hit within 60 s, by device */
	R_BOTH,	      /* once per 60 s after 2 hits, by device */
	R_TECH,	      /* a technical condition */
	R_TECH_DELAY, /* one with a delay */
	R__COUNT
};

static const struct rule_spec rule_specs[R__COUNT] = {
	[R_SPO2] = {1000001, RULE_PRIO_MEDIUM, M_SPO2, 15000, false, 120000, RULE_PRIO_HIGH,
		    .msg = "SpO2 at or below 91%"},
	[R_SPO2_NOW] = {1000090, RULE_PRIO_MEDIUM, M_SPO2, .msg = "SpO2 low, no delay"},
	[R_HR_LATCH] = {1000091, RULE_PRIO_HIGH, M_HR, .latch = true, .msg = "HR, latching"},
	[R_ASYSTOLE] = {1000100, RULE_PRIO_HIGH, .latch = true, .msg = "Asystole (device alarm)"},
	[R_APNEA] = {1000102, RULE_PRIO_HIGH, .msg = "Apnoea (device alarm)"},
	[R_MALFORMED] = {2000001, RULE_PRIO_LOW, .kind = RULE_KIND_TECHNICAL, .msg = "Malformed"},
	[R_LIMIT_DEV] = {2000002, RULE_PRIO_LOW, .thr_type = RULE_THRESHOLD_LIMIT,
			 .thr_track = RULE_TRACK_DEVICE, .thr_count = 1, .thr_seconds = 600,
			 .msg = "limit by device"},
	[R_LIMIT_RULE] = {2000003, RULE_PRIO_LOW, .thr_type = RULE_THRESHOLD_LIMIT,
			  .thr_track = RULE_TRACK_RULE, .thr_count = 2, .thr_seconds = 60,
			  .msg = "limit by rule"},
	[R_THRESH] = {2000004, RULE_PRIO_LOW, .thr_type = RULE_THRESHOLD_THRESHOLD,
		      .thr_track = RULE_TRACK_DEVICE, .thr_count = 3, .thr_seconds = 60,
		      .msg = "threshold"},
	[R_BOTH] = {2000005, RULE_PRIO_LOW, .thr_type = RULE_THRESHOLD_BOTH,
		    .thr_track = RULE_TRACK_DEVICE, .thr_count = 2, .thr_seconds = 60,
		    .msg = "both"},
	[R_TECH] = {CP_SID_DEVICE_SILENT, RULE_PRIO_MEDIUM, .kind = RULE_KIND_TECHNICAL,
		    .msg = "Device silent"},
	[R_TECH_DELAY] = {CP_SID_STORAGE, RULE_PRIO_HIGH, .delay_ms = 5000,
			  .kind = RULE_KIND_TECHNICAL, .msg = "Storage failing"},
};
static struct cp_alarm_rule rules[R__COUNT];

static void
make_rules(void)
{
	for (unsigned i = 1; i < M__COUNT; i++) {
		const struct rule_metric *rm =
			rule_metric_by_name(metric_names[i], strlen(metric_names[i]));

		metric_code[i] = rm != NULL ? rm->code : 0;
	}
	for (unsigned i = 0; i < R__COUNT; i++) {
		const struct rule_spec *s = &rule_specs[i];
		struct cp_alarm_rule *r = &rules[i];

		memset(r, 0, sizeof(*r));
		r->sid = s->sid;
		r->rev = 1;
		r->priority = s->priority;
		r->kind = s->kind;
		r->latch = s->latch;
		r->delay_ms = s->delay_ms;
		r->escalate.after_ms = s->esc_after_ms;
		r->escalate.priority = s->esc_priority;
		r->threshold.type = s->thr_type;
		r->threshold.track = s->thr_track;
		r->threshold.count = s->thr_count;
		r->threshold.seconds = s->thr_seconds;
		if (s->metric != M_NONE) {
			r->n_metrics = 1;
			r->metric[0] = metric_code[s->metric];
		}
		snprintf(r->msg, sizeof(r->msg), "%s", s->msg);
	}
}

/* ------------------------------------------------------------------------ */
/* What on_change saw                                                        */
/* ------------------------------------------------------------------------ */

struct recorder {
	char seen[512]; /* "raised#1,cleared#1" since the last step */
	unsigned n;
	struct cp_alarm last;
	char *last_json; /* the record of the last change, as the store would get it */
	bool json;
	unsigned bad_hist; /* changes whose history disagreed with them */
};

static void
on_change(void *arg, const struct cp_alarm *a, enum cp_alarm_change ch)
{
	struct recorder *r = arg;
	size_t len = strlen(r->seen);

	snprintf(r->seen + len, sizeof(r->seen) - len, "%s%s#%" PRIu64, len > 0 ? "," : "",
		 cp_alarm_change_name(ch), a->id);
	r->n++;
	r->last = *a;
	if (ch != CP_ALC_RESTORED) {
		const struct cp_alarm_hist *h = &a->hist[a->n_hist - 1];

		if (a->n_hist == 0 || h->change != ch || h->state != a->state ||
		    h->priority != a->priority || a->changed_ns != h->time_ns)
			r->bad_hist++;
		for (unsigned i = 1; i < a->n_hist; i++)
			if (a->hist[i].time_ns < a->hist[i - 1].time_ns)
				r->bad_hist++;
	}
	if (r->json) {
		free(r->last_json);
		r->last_json = cp_alarm_json(a, NULL);
	}
}

static struct cp_alarms *
manager(struct recorder *r, uint64_t first_id, double hold_s, unsigned max)
{
	struct cp_alarm_opts o;
	struct cp_alarms *m = NULL;

	cp_alarm_opts_defaults(&o);
	if (first_id != 0)
		o.first_id = first_id;
	if (hold_s > 0)
		o.hold_ns = (int64_t)(hold_s * 1e9);
	if (max != 0)
		o.max_conditions = max;
	o.on_change = on_change;
	o.arg = r;
	CU_ASSERT_EQUAL_FATAL(cp_alarms_new(&o, &m), 0);
	return m;
}

/* ------------------------------------------------------------------------ */
/* Steps                                                                     */
/* ------------------------------------------------------------------------ */

enum op { OP_END = 0, OP_HIT, OP_OBS, OP_DEV, OP_COND, OP_TICK, OP_ACK, OP_RESET, OP_SILENCE };

/* What a reader must see of an alarm after the step. */
enum chk { CHK_NONE = 0, CHK_GONE, CHK_ACTIVE, CHK_ACKED, CHK_LATCHED };
#define PRIO(p) (RULE_PRIO_##p + 1)

struct step {
	uint8_t op;
	double t;	/* the call's time (s after T0): receive time, or now */
	int rule;	/* R_* (HIT, COND) */
	int subj;	/* S* */
	int metric;	/* M_*: HIT on an observation, OBS */
	double msg_t;	/* the message's own time (s), for the ordering key; 0: t */
	bool msg;	/* HIT on the message rather than an observation */
	bool flag;	/* DEV: had_hits; COND: present; OBS: invalid */
	bool more;	/* the next step is in the same consumer pass (no tick between) */
	uint32_t event; /* DEV: event code */
	uint8_t phase, state, inact, prio, type; /* DEV */
	uint64_t id;				 /* ACK, RESET, SILENCE */
	double for_s;				 /* SILENCE (0: the default) */
	int rc;					 /* ACK, RESET, SILENCE: expected return */
	const char *expect;			 /* changes seen ("" or NULL: none) */
	uint64_t chk;				 /* an alarm id to look at after the step */
	uint8_t chk_state;			 /* enum chk */
	uint8_t chk_prio;			 /* PRIO(x), 0: not checked */
};

#define MAX_STEPS 24
struct scenario {
	const char *name;
	uint64_t first_id;
	double hold_s;
	unsigned max_conditions;
	struct step s[MAX_STEPS];
	const char *counters; /* "name=value ..." at the end */
};

/* The last positional argument of each takes the optional members after it. */
#define HIT(t_, r_, ...)                                               \
	{                                                              \
		.op = OP_HIT, .t = t_, .rule = r_, .subj = __VA_ARGS__ \
	}
#define MSGHIT(t_, r_, ...)                                                         \
	{                                                                           \
		.op = OP_HIT, .msg = true, .t = t_, .rule = r_, .subj = __VA_ARGS__ \
	}
#define OBS(t_, s_, ...)                                                 \
	{                                                                \
		.op = OP_OBS, .t = t_, .subj = s_, .metric = __VA_ARGS__ \
	}
#define DEV(t_, s_, ev_, ph_, ...)                                                        \
	{                                                                                 \
		.op = OP_DEV, .t = t_, .subj = s_, .event = ev_, .phase = DP_PHASE_##ph_, \
		.state = DP_ASTATE_##__VA_ARGS__                                          \
	}
#define COND(t_, r_, s_, ...)                                                       \
	{                                                                           \
		.op = OP_COND, .t = t_, .rule = r_, .subj = s_, .flag = __VA_ARGS__ \
	}
#define TICK(...)                               \
	{                                       \
		.op = OP_TICK, .t = __VA_ARGS__ \
	}
#define ACK(t_, ...)                                     \
	{                                                \
		.op = OP_ACK, .t = t_, .id = __VA_ARGS__ \
	}
#define RESET(t_, ...)                                     \
	{                                                  \
		.op = OP_RESET, .t = t_, .id = __VA_ARGS__ \
	}
#define SILENCE(t_, ...)                                     \
	{                                                    \
		.op = OP_SILENCE, .t = t_, .id = __VA_ARGS__ \
	}

static const struct scenario scenarios[] = {
	{"delay run out by a tick",
	 .s = {HIT(0, R_SPO2, S1, .metric = M_SPO2, .expect = ""), TICK(14.9, .expect = ""),
	       TICK(15, .expect = "raised#1", .chk = 1, .chk_state = CHK_ACTIVE,
		    .chk_prio = PRIO(MEDIUM))},
	 .counters = "conditions=1 raised=1 filtered_delay=0"},
	{"delay run out, noticed by a hit",
	 .s = {HIT(0, R_SPO2, S1, .metric = M_SPO2), HIT(10, R_SPO2, S1, .metric = M_SPO2),
	       HIT(16, R_SPO2, S1, .metric = M_SPO2, .expect = "raised#1", .chk = 1,
		   .chk_state = CHK_ACTIVE)},
	 .counters = "conditions=1 raised=1"},
	{"ended within the delay: filtered, nothing said",
	 .s = {HIT(0, R_SPO2, S1, .metric = M_SPO2), OBS(5, S1, M_SPO2, .expect = ""),
	       TICK(100, .expect = ""), HIT(101, R_SPO2, S1, .metric = M_SPO2, .expect = ""),
	       TICK(116, .expect = "raised#1")},
	 .counters = "conditions=2 raised=1 filtered_delay=1"},
	{"no delay: raised at once, cleared by a newer observation",
	 .s = {HIT(0, R_SPO2_NOW, S1, .metric = M_SPO2, .expect = "raised#1", .chk = 1,
		   .chk_state = CHK_ACTIVE, .chk_prio = PRIO(MEDIUM)),
	       HIT(2, R_SPO2_NOW, S1, .metric = M_SPO2, .expect = ""),
	       OBS(5, S1, M_SPO2, .expect = "cleared#1", .chk = 1, .chk_state = CHK_GONE)},
	 .counters = "raised=1 cleared=1"},
	{"latching: latched when it ends, then reset",
	 .s = {HIT(0, R_HR_LATCH, S1, .metric = M_HR, .expect = "raised#1"),
	       OBS(5, S1, M_HR, .expect = "latched#1", .chk = 1, .chk_state = CHK_LATCHED),
	       OBS(6, S1, M_HR, .expect = ""),
	       RESET(7, 1, .expect = "reset#1", .chk = 1, .chk_state = CHK_GONE),
	       RESET(8, 1, .rc = -ENOENT)},
	 .counters = "latched=1 reset=1 cleared=0"},
	{"latched, and the condition comes back: retriggered, same id",
	 .s = {HIT(0, R_HR_LATCH, S1, .metric = M_HR, .expect = "raised#1"),
	       OBS(5, S1, M_HR, .expect = "latched#1"),
	       HIT(10, R_HR_LATCH, S1, .metric = M_HR, .expect = "retriggered#1", .chk = 1,
		   .chk_state = CHK_ACTIVE),
	       RESET(11, 1, .rc = -EINVAL, .chk = 1, .chk_state = CHK_ACTIVE),
	       OBS(12, S1, M_HR, .expect = "latched#1", .chk = 1, .chk_state = CHK_LATCHED)},
	 .counters = "raised=1 latched=2 retriggered=1"},
	{"acknowledged, twice, then the condition ends",
	 .s = {HIT(0, R_SPO2_NOW, S1, .metric = M_SPO2, .expect = "raised#1"),
	       ACK(1, 1, .expect = "acknowledged#1", .chk = 1, .chk_state = CHK_ACKED),
	       ACK(2, 1, .rc = -EALREADY, .expect = ""),
	       HIT(3, R_SPO2_NOW, S1, .metric = M_SPO2, .expect = "", .chk = 1,
		   .chk_state = CHK_ACKED),
	       OBS(5, S1, M_SPO2, .expect = "cleared#1")},
	 .counters = "acked=1 cleared=1"},
	{"operator actions refused",
	 .s = {HIT(0, R_HR_LATCH, S1, .metric = M_HR, .expect = "raised#1"),
	       RESET(1, 1, .rc = -EINVAL), ACK(2, 99, .rc = -ENOENT), RESET(2, 99, .rc = -ENOENT),
	       SILENCE(2, 99, .rc = -ENOENT), ACK(2, 0, .rc = -ENOENT),
	       OBS(5, S1, M_HR, .expect = "latched#1"),
	       ACK(6, 1, .rc = -EINVAL, .chk = 1, .chk_state = CHK_LATCHED),
	       SILENCE(7, 1, .for_s = 10, .expect = "silenced#1"),
	       TICK(17, .expect = "unsilenced#1"), RESET(18, 1, .expect = "reset#1"),
	       ACK(19, 1, .rc = -ENOENT)},
	 .counters = "acked=0 reset=1 silenced=1"},
	{"silenced, unsilenced when the pause runs out",
	 .s = {HIT(0, R_SPO2_NOW, S1, .metric = M_SPO2, .expect = "raised#1"),
	       SILENCE(1, 1, .for_s = 30, .expect = "silenced#1"), TICK(30.9, .expect = ""),
	       TICK(31, .expect = "unsilenced#1", .chk = 1, .chk_state = CHK_ACTIVE),
	       ACK(32, 1, .expect = "acknowledged#1"), SILENCE(40, 1, .expect = "silenced#1"),
	       TICK(159.9, .expect = ""),
	       TICK(160, .expect = "unsilenced#1", .chk = 1, .chk_state = CHK_ACKED)},
	 .counters = "silenced=2 acked=1"},
	{"escalated after escalate.after_ms active",
	 .s = {HIT(0, R_SPO2, S1, .metric = M_SPO2),
	       TICK(15, .expect = "raised#1", .chk = 1, .chk_prio = PRIO(MEDIUM)),
	       HIT(100, R_SPO2, S1, .metric = M_SPO2, .expect = ""), TICK(134.9, .expect = ""),
	       TICK(135, .expect = "escalated#1", .chk = 1, .chk_state = CHK_ACTIVE,
		    .chk_prio = PRIO(HIGH)),
	       TICK(1000, .expect = "", .chk = 1, .chk_prio = PRIO(HIGH))},
	 .counters = "escalated=1"},
	{"no escalation once acknowledged",
	 .s = {HIT(0, R_SPO2, S1, .metric = M_SPO2), TICK(15, .expect = "raised#1"),
	       ACK(20, 1, .expect = "acknowledged#1"),
	       TICK(1000, .expect = "", .chk = 1, .chk_state = CHK_ACKED,
		    .chk_prio = PRIO(MEDIUM))},
	 .counters = "escalated=0"},
	{"instant condition: ends after hold without a hit",
	 .s = {MSGHIT(0, R_MALFORMED, S3, .expect = "raised#1"),
	       MSGHIT(30, R_MALFORMED, S3, .expect = ""),
	       TICK(89.9, .expect = "", .chk = 1, .chk_state = CHK_ACTIVE),
	       TICK(90, .expect = "cleared#1", .chk = 1, .chk_state = CHK_GONE),
	       MSGHIT(91, R_MALFORMED, S3, .expect = "raised#2")},
	 .counters = "raised=2 cleared=1"},
	{"an older observation does not end it (stale)",
	 .s = {HIT(10, R_SPO2_NOW, S1, .metric = M_SPO2, .expect = "raised#1"),
	       OBS(11, S1, M_SPO2, .msg_t = 9, .expect = "", .chk = 1, .chk_state = CHK_ACTIVE)},
	 .counters = "stale_obs=1 cleared=0"},
	{"an observation of the message that hit does not end it",
	 .s = {HIT(10, R_SPO2_NOW, S1, .metric = M_SPO2, .expect = "raised#1"),
	       OBS(10, S1, M_SPO2, .expect = "", .chk = 1, .chk_state = CHK_ACTIVE),
	       OBS(10.5, S1, M_SPO2, .msg_t = 10, .expect = "")},
	 .counters = "stale_obs=0 cleared=0"},
	{"another metric, another subject, an invalid value: not an end",
	 .s = {HIT(0, R_SPO2_NOW, S1, .metric = M_SPO2, .expect = "raised#1"),
	       OBS(5, S1, M_HR, .expect = ""), OBS(6, S2, M_SPO2, .expect = ""),
	       OBS(7, S3, M_SPO2, .expect = ""),
	       OBS(8, S1, M_SPO2, .flag = true, .expect = "", .chk = 1, .chk_state = CHK_ACTIVE),
	       /* P1's other device is the same subject: its value ends it. */
	       OBS(9, S1B, M_SPO2, .expect = "cleared#1")},
	 .counters = "cleared=1 stale_obs=0"},
	{"device alarm: start, escalate, de-escalate, end",
	 .s = {DEV(0, S1, EVT_HI, START, ACTIVE, .prio = DP_PRIO_MEDIUM, .expect = "raised#1",
		   .chk = 1, .chk_state = CHK_ACTIVE, .chk_prio = PRIO(MEDIUM)),
	       DEV(5, S1, EVT_HI, CONTINUE, ACTIVE, .prio = DP_PRIO_MEDIUM, .expect = ""),
	       DEV(10, S1, EVT_HI, ESCALATE, ACTIVE, .prio = DP_PRIO_HIGH, .expect = "escalated#1",
		   .chk = 1, .chk_prio = PRIO(HIGH)),
	       DEV(15, S1, EVT_HI, DEESCALATE, ACTIVE, .prio = DP_PRIO_LOW,
		   .expect = "deescalated#1", .chk = 1, .chk_prio = PRIO(LOW)),
	       DEV(17, S1, EVT_LO, START, UNKNOWN, .prio = DP_PRIO_NONE, .expect = "raised#2",
		   .chk = 2, .chk_prio = PRIO(LOW)),
	       TICK(200, .expect = ""),
	       DEV(201, S1, EVT_HI, END, INACTIVE, .expect = "cleared#1", .chk = 2,
		   .chk_state = CHK_ACTIVE),
	       DEV(202, S1, EVT_LO, CONTINUE, OFF, .expect = "cleared#2")},
	 .counters = "raised=2 escalated=1 cleared=2"},
	{"device alarm: latched by the device, end keeps it, reset",
	 .s = {DEV(0, S1, EVT_HI, START, ACTIVE, .prio = DP_PRIO_HIGH, .expect = "raised#1"),
	       DEV(5, S1, EVT_HI, CONTINUE, LATCHED, .expect = "latched#1", .chk = 1,
		   .chk_state = CHK_LATCHED),
	       DEV(6, S1, EVT_HI, END, INACTIVE, .expect = "", .chk = 1, .chk_state = CHK_LATCHED),
	       DEV(7, S1, EVT_HI, CONTINUE, ACTIVE, .expect = "retriggered#1"),
	       DEV(8, S1, EVT_HI, END, INACTIVE, .expect = "cleared#1"),
	       DEV(9, S2, EVT_HI, UPDATE, LATCHED, .expect = "raised#2,latched#2"),
	       RESET(10, 2, .expect = "reset#2")},
	 .counters = "latched=2 retriggered=1 cleared=1 reset=1"},
	{"device alarm: tpoint ends after hold",
	 .s = {DEV(0, S1, EVT_HI, TPOINT, UNKNOWN, .expect = "raised#1"), TICK(59.9, .expect = ""),
	       TICK(60, .expect = "cleared#1")},
	 .counters = "cleared=1"},
	{"device alarm: acknowledged at the device; keep-alives are no alarm",
	 .s = {DEV(0, S1, EVT_KEEPALIVE, START, ACTIVE, .prio = DP_PRIO_NONE, .expect = ""),
	       DEV(0, S1, EVT_HI, START, ACTIVE, .expect = "raised#1"),
	       DEV(2, S1, EVT_HI, CONTINUE, ACTIVE, .inact = DP_INACT_ACKNOWLEDGED,
		   .expect = "acknowledged#1", .chk = 1, .chk_state = CHK_ACKED),
	       DEV(4, S2, EVT_HI, START, ACTIVE, .inact = DP_INACT_ACKNOWLEDGED,
		   .expect = "raised#2,acknowledged#2"),
	       DEV(5, S1, EVT_HI, END, INACTIVE, .expect = "cleared#1")},
	 .counters = "acked=2 conditions=2"},
	{"rule hit on a device alarm: ended by the device's end, not by hold",
	 .s = {MSGHIT(0, R_APNEA, S1, .more = true, .expect = ""),
	       DEV(0, S1, EVT_HI, START, ACTIVE, .flag = true, .expect = "raised#1"),
	       MSGHIT(30, R_APNEA, S1, .more = true, .expect = ""),
	       DEV(30, S1, EVT_HI, CONTINUE, ACTIVE, .flag = true, .expect = ""),
	       TICK(1000, .expect = "", .chk = 1, .chk_state = CHK_ACTIVE),
	       DEV(1001, S1, EVT_LO, END, INACTIVE, .expect = ""),
	       DEV(1002, S2, EVT_HI, END, INACTIVE, .expect = ""),
	       DEV(1003, S1, EVT_HI, END, INACTIVE, .expect = "cleared#1"),
	       /* Latching: the end latches it; it stays until reset. */
	       MSGHIT(1100, R_ASYSTOLE, S1, .more = true, .expect = ""),
	       DEV(1100, S1, EVT_LO, START, ACTIVE, .flag = true, .expect = "raised#2", .chk = 2,
		   .chk_state = CHK_ACTIVE),
	       DEV(1200, S1, EVT_LO, END, INACTIVE, .expect = "latched#2"),
	       TICK(5000, .expect = "", .chk = 2, .chk_state = CHK_LATCHED),
	       RESET(5001, 2, .expect = "reset#2")},
	 .counters = "raised=2 cleared=1 latched=1 reset=1 conditions=2"},
	{"device alarm without a rule hit while a rule's alarm stands for it",
	 .s = {MSGHIT(0, R_APNEA, S1, .more = true, .expect = ""),
	       DEV(0, S1, EVT_HI, START, ACTIVE, .flag = true, .expect = "raised#1"),
	       DEV(5, S1, EVT_HI, CONTINUE, ACTIVE, .expect = ""),
	       DEV(6, S1, EVT_HI, END, INACTIVE, .expect = "cleared#1")},
	 .counters = "conditions=1"},
	{"threshold limit by device",
	 .s = {MSGHIT(0, R_LIMIT_DEV, S1, .expect = "raised#1"), TICK(60, .expect = "cleared#1"),
	       MSGHIT(100, R_LIMIT_DEV, S1, .expect = ""),
	       MSGHIT(100, R_LIMIT_DEV, S2, .expect = "raised#2"),
	       MSGHIT(599, R_LIMIT_DEV, S1, .expect = "cleared#2"), /* #2: hold */
	       MSGHIT(600, R_LIMIT_DEV, S1, .expect = "raised#3")},
	 .counters = "suppressed=2 raised=3"},
	{"threshold limit by rule",
	 .s = {MSGHIT(0, R_LIMIT_RULE, S1, .expect = "raised#1"),
	       MSGHIT(1, R_LIMIT_RULE, S2, .expect = "raised#2"),
	       MSGHIT(2, R_LIMIT_RULE, S3, .expect = ""),
	       MSGHIT(3, R_LIMIT_RULE, S1, .expect = ""), /* an update of #1: not counted */
	       MSGHIT(61, R_LIMIT_RULE, S5,
		      .expect = "raised#3,cleared#2")}, /* hits do not move the clock: the tick ends
							   #2 */
	 .counters = "suppressed=1"},
	{"threshold: every 3rd hit within the window",
	 .s = {MSGHIT(0, R_THRESH, S1, .expect = ""), MSGHIT(1, R_THRESH, S1, .expect = ""),
	       MSGHIT(2, R_THRESH, S2, .expect = ""), MSGHIT(3, R_THRESH, S1, .expect = "raised#1"),
	       /* #1 ends by hold; S2's window ran out: this is 1 of 3 again. */
	       MSGHIT(70, R_THRESH, S2, .expect = "cleared#1"),
	       MSGHIT(71, R_THRESH, S2, .expect = ""),
	       MSGHIT(72, R_THRESH, S2, .expect = "raised#2")},
	 .counters = "suppressed=5"},
	{"threshold both: once per window after 2 hits", .hold_s = 10,
	 .s = {MSGHIT(0, R_BOTH, S1, .expect = ""), MSGHIT(1, R_BOTH, S1, .expect = "raised#1"),
	       TICK(11, .expect = "cleared#1"), MSGHIT(20, R_BOTH, S1, .expect = ""),
	       MSGHIT(30, R_BOTH, S1, .expect = ""), MSGHIT(61, R_BOTH, S1, .expect = ""),
	       MSGHIT(62, R_BOTH, S1, .expect = "raised#2")},
	 .counters = "suppressed=4 raised=2"},
	{"ids consecutive from first_id", .first_id = 100,
	 .s = {HIT(0, R_SPO2_NOW, S1, .metric = M_SPO2, .expect = "raised#100"),
	       HIT(0, R_SPO2_NOW, S2, .metric = M_SPO2, .expect = "raised#101"),
	       DEV(1, S3, EVT_HI, START, ACTIVE, .expect = "raised#102"),
	       COND(2, R_TECH, S5, true, .expect = "raised#103"),
	       HIT(3, R_SPO2, S5, .metric = M_SPO2, .expect = ""),
	       TICK(18, .expect = "raised#104")}},
	{"table full", .max_conditions = 2,
	 .s = {HIT(0, R_SPO2_NOW, S1, .metric = M_SPO2, .expect = "raised#1"),
	       HIT(0, R_SPO2_NOW, S2, .metric = M_SPO2, .expect = "raised#2"),
	       HIT(1, R_SPO2_NOW, S5, .metric = M_SPO2, .expect = ""),
	       DEV(1, S5, EVT_HI, START, ACTIVE, .expect = ""),
	       OBS(2, S1, M_SPO2, .expect = "cleared#1"),
	       HIT(3, R_SPO2_NOW, S5, .metric = M_SPO2, .expect = "raised#3")},
	 .counters = "conditions_full=2 conditions=3"},
	{"technical conditions: as the caller says",
	 .s = {COND(0, R_TECH, S1, true, .expect = "raised#1", .chk = 1, .chk_prio = PRIO(MEDIUM)),
	       COND(5, R_TECH, S1, true, .expect = ""),
	       TICK(1000, .expect = "", .chk = 1, .chk_state = CHK_ACTIVE),
	       COND(1001, R_TECH, S1, false, .expect = "cleared#1"),
	       COND(1002, R_TECH, S1, false, .expect = ""),
	       COND(1003, R_TECH_DELAY, S1, true, .expect = ""),
	       COND(1006, R_TECH_DELAY, S1, false, .expect = ""),
	       COND(1010, R_TECH_DELAY, S1, true, .expect = ""),
	       TICK(1015, .expect = "raised#2", .chk = 2, .chk_prio = PRIO(HIGH))},
	 .counters = "filtered_delay=1 raised=2 cleared=1 conditions=3"},
};

static void
make_event(const struct step *st, struct dp_event *ev)
{
	double mt = st->msg_t != 0 ? st->msg_t : st->t;

	memset(ev, 0, sizeof(*ev));
	ev->wall_ns = NS(st->t);
	ev->time_ns = NS(mt);
	ev->tsc = (uint64_t)(mt * 1000) + 1000;
	ev->device = subjects[st->subj].device;
	ev->value = NAN;
	ev->obs_index = 0;
	switch (st->op) {
	case OP_HIT:
		ev->type = DP_EV_HIT;
		ev->u.hit.sid = rules[st->rule].sid;
		ev->u.hit.action = RULE_ACTION_ALERT;
		if (st->msg) {
			ev->obs_index = RULE_HIT_MSG;
			ev->time_ns = 0;
		} else {
			ev->code = metric_code[st->metric];
			ev->value = 88;
		}
		break;
	case OP_OBS:
		ev->type = DP_EV_OBS;
		ev->code = metric_code[st->metric];
		ev->value = 97;
		if (st->flag)
			ev->flags = DP_OBS(INVALID) | DP_OBS(TEST);
		break;
	case OP_DEV:
		ev->type = DP_EV_DEV_ALARM;
		ev->code = st->event;
		ev->u.alarm.event_code = st->event;
		ev->u.alarm.phase = st->phase;
		ev->u.alarm.state = st->state;
		ev->u.alarm.inactivation = st->inact;
		ev->u.alarm.priority = st->prio;
		ev->u.alarm.type = st->type;
		break;
	default:
		break;
	}
}

/* Run one step; @return the operator action's return (0 otherwise). */
static int
run_step(struct cp_alarms *m, const struct step *st)
{
	const struct cp_subject *subj = &subjects[st->subj];
	struct dp_event ev;

	make_event(st, &ev);
	switch (st->op) {
	case OP_HIT:
		cp_alarms_hit(m, &ev, &rules[st->rule], subj);
		return 0;
	case OP_OBS:
		cp_alarms_obs(m, &ev, subj);
		return 0;
	case OP_DEV:
		cp_alarms_dev_alarm(m, &ev, st->flag, subj);
		return 0;
	case OP_COND:
		cp_alarms_condition(m, &rules[st->rule], CP_ALS_TECHNICAL, subj, st->flag,
				    NS(st->t), 0, NAN, NULL);
		return 0;
	case OP_TICK:
		cp_alarms_tick(m, NS(st->t));
		return 0;
	case OP_ACK:
		return cp_alarms_ack(m, st->id, "nurse", NS(st->t));
	case OP_RESET:
		return cp_alarms_reset(m, st->id, "nurse", NS(st->t));
	case OP_SILENCE:
		return cp_alarms_silence(m, st->id, "nurse", (int64_t)(st->for_s * 1e9), NS(st->t));
	default:
		return 0;
	}
}

static void
check_counters(const char *scenario, struct cp_alarms *m, const char *spec)
{
	uint64_t cnt[CP_ALM__COUNT];
	char name[64];
	unsigned long long want;
	int used;

	cp_alarms_counters(m, cnt);
	while (spec != NULL && sscanf(spec, " %63[a-z_]=%llu%n", name, &want, &used) == 2) {
		bool found = false;

		for (unsigned c = 0; c < CP_ALM__COUNT; c++) {
			if (strcmp(name, cp_alarm_counter_name(c)) != 0)
				continue;
			found = true;
			if (cnt[c] != want)
				fprintf(stderr, "\n  %s: counter %s is %" PRIu64 ", want %llu\n",
					scenario, name, cnt[c], want);
			CU_ASSERT_EQUAL(cnt[c], want);
		}
		CU_ASSERT_TRUE(found);
		spec += used;
	}
}

static void
test_state_machine(void)
{
	make_rules();
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		const struct scenario *sc = &scenarios[i];
		struct recorder rec = {0};
		struct cp_alarms *m = manager(&rec, sc->first_id, sc->hold_s, sc->max_conditions);

		for (unsigned j = 0; j < MAX_STEPS && sc->s[j].op != OP_END; j++) {
			const struct step *st = &sc->s[j];
			const char *want = st->expect != NULL ? st->expect : "";
			int rc;

			rec.seen[0] = '\0';
			rc = run_step(m, st);
			/* The consumer ticks at the end of every pass. */
			if (!st->more && st->op != OP_TICK)
				cp_alarms_tick(m, NS(st->t));
			if (rc != st->rc || strcmp(rec.seen, want) != 0)
				fprintf(stderr,
					"\n  %s, step %u: rc %d (want %d), saw \"%s\" (want "
					"\"%s\")\n",
					sc->name, j + 1, rc, st->rc, rec.seen, want);
			CU_ASSERT_EQUAL(rc, st->rc);
			CU_ASSERT_STRING_EQUAL(rec.seen, want);
			if (st->chk != 0) {
				static const uint8_t state_of[] = {
					[CHK_ACTIVE] = CP_ALARM_ACTIVE,
					[CHK_ACKED] = CP_ALARM_ACKED,
					[CHK_LATCHED] = CP_ALARM_LATCHED,
				};
				struct cp_alarm a;
				int got = cp_alarms_get(m, st->chk, &a);

				if (st->chk_state == CHK_GONE) {
					CU_ASSERT_EQUAL(got, -ENOENT);
				} else {
					CU_ASSERT_EQUAL_FATAL(got, 0);
					if (st->chk_state != CHK_NONE)
						CU_ASSERT_EQUAL(a.state, state_of[st->chk_state]);
					if (st->chk_prio != 0)
						CU_ASSERT_EQUAL(a.priority, st->chk_prio - 1);
					CU_ASSERT_EQUAL(a.id, st->chk);
				}
				if (CU_get_number_of_failures() > 0 && got == 0 &&
				    ((st->chk_state > CHK_GONE &&
				      a.state != state_of[st->chk_state]) ||
				     (st->chk_prio != 0 && a.priority != st->chk_prio - 1)))
					fprintf(stderr,
						"\n  %s, step %u: alarm %" PRIu64 " is %s/%s\n",
						sc->name, j + 1, st->chk,
						cp_alarm_state_name(a.state),
						rule_priority_name(a.priority));
			}
		}
		CU_ASSERT_EQUAL(rec.bad_hist, 0);
		check_counters(sc->name, m, sc->counters);
		cp_alarms_free(m);
	}
}

/* ------------------------------------------------------------------------ */
/* Times, fields and history                                                 */
/* ------------------------------------------------------------------------ */

static void
test_deadline_times(void)
{
	static const struct step steps[] = {
		HIT(0, R_SPO2, S1, .metric = M_SPO2),
		HIT(7, R_SPO2, S1, .metric = M_SPO2),
		TICK(500), /* late: raised at 15, escalated at 135 all the same */
		SILENCE(501, 1, .for_s = 20),
		TICK(900),
		OBS(901, S1, M_SPO2),
	};
	struct recorder rec = {0};
	struct cp_alarms *m;
	const struct cp_alarm *a = &rec.last;

	make_rules();
	m = manager(&rec, 0, 0, 0);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		run_step(m, &steps[i]);
	CU_ASSERT_STRING_EQUAL(rec.seen, "raised#1,escalated#1,silenced#1,unsilenced#1,cleared#1");
	CU_ASSERT_EQUAL(a->state, CP_ALARM_CLEARED);
	CU_ASSERT_EQUAL(a->onset_ns, NS(0));
	CU_ASSERT_EQUAL(a->raised_ns, NS(15));
	CU_ASSERT_EQUAL(a->last_hit_ns, NS(7));
	CU_ASSERT_EQUAL(a->ended_ns, NS(901));
	CU_ASSERT_EQUAL(a->changed_ns, NS(901));
	CU_ASSERT_EQUAL(a->priority, RULE_PRIO_HIGH);
	CU_ASSERT_EQUAL(a->base_priority, RULE_PRIO_MEDIUM);
	CU_ASSERT_EQUAL(a->sid, 1000001);
	CU_ASSERT_EQUAL(a->source, CP_ALS_RULE);
	CU_ASSERT_EQUAL(a->metric, metric_code[M_SPO2]);
	CU_ASSERT_EQUAL(a->value, 88);
	CU_ASSERT_EQUAL(a->hits, 1);
	CU_ASSERT_STRING_EQUAL(a->subject, "P1");
	CU_ASSERT_STRING_EQUAL(a->location, "ICU-1");
	CU_ASSERT_STRING_EQUAL(a->device_id, "mon-1");
	CU_ASSERT_STRING_EQUAL(a->msg, "SpO2 at or below 91%");
	CU_ASSERT_EQUAL_FATAL(a->n_hist, 5);
	CU_ASSERT_EQUAL(a->hist[0].time_ns, NS(15));
	CU_ASSERT_EQUAL(a->hist[1].time_ns, NS(135));
	CU_ASSERT_EQUAL(a->hist[1].priority, RULE_PRIO_HIGH);
	CU_ASSERT_EQUAL(a->hist[2].time_ns, NS(501));
	CU_ASSERT_STRING_EQUAL(a->hist[2].by, "nurse");
	CU_ASSERT_EQUAL(a->hist[3].time_ns, NS(521));
	CU_ASSERT_EQUAL(a->hist[3].change, CP_ALC_UNSILENCED);
	CU_ASSERT_STRING_EQUAL(a->hist[4].by, "");
	CU_ASSERT_EQUAL(a->silenced_until_ns, 0);
	cp_alarms_free(m);

	/* A device subject: "device:" and 16 hex digits; hold from the last hit. */
	memset(&rec, 0, sizeof(rec));
	m = manager(&rec, 0, 0, 0);
	run_step(m, &(struct step)MSGHIT(0, R_MALFORMED, S3));
	run_step(m, &(struct step)MSGHIT(10, R_MALFORMED, S3));
	run_step(m, &(struct step)TICK(1000));
	CU_ASSERT_STRING_EQUAL(rec.seen, "raised#1,cleared#1");
	CU_ASSERT_STRING_EQUAL(a->subject, "device:0011223344556603");
	CU_ASSERT_STRING_EQUAL(a->patient, "");
	CU_ASSERT_EQUAL(a->ended_ns, NS(70));
	CU_ASSERT_EQUAL(a->hits, 2);
	CU_ASSERT_EQUAL(a->kind, RULE_KIND_TECHNICAL);
	cp_alarms_free(m);

	/* Latched: ended_ns says when; a held-back raise keeps its hit's time. */
	memset(&rec, 0, sizeof(rec));
	m = manager(&rec, 0, 0, 0);
	run_step(m, &(struct step)HIT(0, R_HR_LATCH, S1, .metric = M_HR));
	run_step(m, &(struct step)OBS(3, S1, M_HR));
	CU_ASSERT_EQUAL(a->state, CP_ALARM_LATCHED);
	CU_ASSERT_EQUAL(a->ended_ns, NS(3));
	CU_ASSERT_EQUAL(cp_alarms_reset(m, 1, "nurse", NS(4)), 0);
	CU_ASSERT_EQUAL(a->ended_ns, NS(3));
	CU_ASSERT_EQUAL(a->changed_ns, NS(4));
	run_step(m, &(struct step)MSGHIT(10, R_APNEA, S2));
	CU_ASSERT_STRING_EQUAL(rec.seen, "raised#1,latched#1,reset#1");
	cp_alarms_tick(m, NS(12));
	CU_ASSERT_STRING_EQUAL(rec.seen, "raised#1,latched#1,reset#1,raised#2");
	CU_ASSERT_EQUAL(a->raised_ns, NS(10));
	CU_ASSERT_EQUAL(a->hist[0].time_ns, NS(10));
	cp_alarms_free(m);

	/* A device alarm's facts come from the device. */
	memset(&rec, 0, sizeof(rec));
	m = manager(&rec, 0, 0, 0);
	run_step(m, &(struct step)DEV(0, S2, EVT_HI, START, ACTIVE, .prio = DP_PRIO_HIGH,
				      .type = DP_ATYPE_TECHNICAL));
	CU_ASSERT_EQUAL(a->sid, CP_SID_DEVICE_ALARM);
	CU_ASSERT_EQUAL(a->source, CP_ALS_DEVICE);
	CU_ASSERT_EQUAL(a->event_code, EVT_HI);
	CU_ASSERT_EQUAL(a->priority, RULE_PRIO_HIGH);
	CU_ASSERT_EQUAL(a->kind, RULE_KIND_TECHNICAL);
	CU_ASSERT_STRING_EQUAL(a->msg, "Device alarm: MDC_EVT_HI");
	run_step(m, &(struct step)DEV(1, S2, 999999, START, ACTIVE, .type = DP_ATYPE_ADVISORY));
	CU_ASSERT_STRING_EQUAL(a->msg, "Device alarm: 999999");
	CU_ASSERT_EQUAL(a->kind, RULE_KIND_ADVISORY);
	CU_ASSERT_EQUAL(a->priority, RULE_PRIO_LOW);
	cp_alarms_free(m);
}

static void
test_history(void)
{
	struct recorder rec = {0};
	struct cp_alarms *m;
	struct cp_alarm a;

	make_rules();
	m = manager(&rec, 0, 0, 0);
	run_step(m, &(struct step)HIT(0, R_SPO2_NOW, S1, .metric = M_SPO2));
	/* 1 raise + 40 x (silence, unsilence) = 81 changes. */
	for (int i = 0; i < 40; i++) {
		CU_ASSERT_EQUAL(cp_alarms_silence(m, 1, "op", SEC, NS(10 * i + 1)), 0);
		cp_alarms_tick(m, NS(10 * i + 5));
	}
	CU_ASSERT_EQUAL_FATAL(cp_alarms_get(m, 1, &a), 0);
	CU_ASSERT_EQUAL(a.n_hist, CP_ALARM_HISTORY);
	CU_ASSERT_EQUAL(a.hist_dropped, 81 - CP_ALARM_HISTORY);
	CU_ASSERT_EQUAL(a.hist[CP_ALARM_HISTORY - 1].change, CP_ALC_UNSILENCED);
	CU_ASSERT_EQUAL(a.hist[CP_ALARM_HISTORY - 1].time_ns, NS(392));
	CU_ASSERT_EQUAL(a.hist[CP_ALARM_HISTORY - 2].change, CP_ALC_SILENCED);
	CU_ASSERT_EQUAL(a.hist[CP_ALARM_HISTORY - 2].time_ns, NS(391));
	CU_ASSERT_STRING_EQUAL(a.hist[CP_ALARM_HISTORY - 2].by, "op");
	CU_ASSERT_EQUAL(a.changed_ns, NS(392));
	CU_ASSERT_EQUAL(rec.bad_hist, 0);
	/* who is cut to CP_ALARM_WHO_MAX - 1 bytes. */
	CU_ASSERT_EQUAL(cp_alarms_ack(m, 1, "a-name-much-longer-than-thirty-one-bytes", NS(400)),
			0);
	CU_ASSERT_EQUAL(strlen(rec.last.hist[CP_ALARM_HISTORY - 1].by), CP_ALARM_WHO_MAX - 1);
	cp_alarms_free(m);
}

/* ------------------------------------------------------------------------ */
/* The stored record                                                         */
/* ------------------------------------------------------------------------ */

static void
assert_same(const struct cp_alarm *x, const struct cp_alarm *y)
{
	CU_ASSERT_EQUAL(x->id, y->id);
	CU_ASSERT_EQUAL(x->sid, y->sid);
	CU_ASSERT_EQUAL(x->rev, y->rev);
	CU_ASSERT_EQUAL(x->source, y->source);
	CU_ASSERT_EQUAL(x->state, y->state);
	CU_ASSERT_EQUAL(x->priority, y->priority);
	CU_ASSERT_EQUAL(x->base_priority, y->base_priority);
	CU_ASSERT_EQUAL(x->kind, y->kind);
	CU_ASSERT_EQUAL(x->latch, y->latch);
	CU_ASSERT_STRING_EQUAL(x->msg, y->msg);
	CU_ASSERT_STRING_EQUAL(x->subject, y->subject);
	CU_ASSERT_STRING_EQUAL(x->patient, y->patient);
	CU_ASSERT_STRING_EQUAL(x->location, y->location);
	CU_ASSERT_STRING_EQUAL(x->device_id, y->device_id);
	CU_ASSERT_EQUAL(x->device, y->device);
	CU_ASSERT_EQUAL(x->event_code, y->event_code);
	CU_ASSERT_EQUAL(x->metric, y->metric);
	CU_ASSERT_TRUE((isnan(x->value) && isnan(y->value)) ||
		       memcmp(&x->value, &y->value, sizeof(double)) == 0);
	CU_ASSERT_PTR_EQUAL(x->response, y->response);
	CU_ASSERT_EQUAL(x->onset_ns, y->onset_ns);
	CU_ASSERT_EQUAL(x->raised_ns, y->raised_ns);
	CU_ASSERT_EQUAL(x->changed_ns, y->changed_ns);
	CU_ASSERT_EQUAL(x->ended_ns, y->ended_ns);
	CU_ASSERT_EQUAL(x->last_hit_ns, y->last_hit_ns);
	CU_ASSERT_EQUAL(x->silenced_until_ns, y->silenced_until_ns);
	CU_ASSERT_EQUAL(x->hits, y->hits);
	CU_ASSERT_EQUAL(x->hist_dropped, y->hist_dropped);
	CU_ASSERT_EQUAL_FATAL(x->n_hist, y->n_hist);
	for (unsigned i = 0; i < x->n_hist; i++) {
		CU_ASSERT_EQUAL(x->hist[i].change, y->hist[i].change);
		CU_ASSERT_EQUAL(x->hist[i].state, y->hist[i].state);
		CU_ASSERT_EQUAL(x->hist[i].priority, y->hist[i].priority);
		CU_ASSERT_EQUAL(x->hist[i].time_ns, y->hist[i].time_ns);
		CU_ASSERT_STRING_EQUAL(x->hist[i].by, y->hist[i].by);
	}
}

static void
full_alarm(struct cp_alarm *a)
{
	memset(a, 0, sizeof(*a));
	a->id = UINT64_C(123456789012);
	a->sid = CP_SID_NEWS2_URGENT;
	a->rev = 7;
	a->source = CP_ALS_NEWS2;
	a->state = CP_ALARM_ACKED;
	a->priority = RULE_PRIO_HIGH;
	a->base_priority = RULE_PRIO_MEDIUM;
	a->kind = RULE_KIND_ADVISORY;
	a->latch = true;
	snprintf(a->msg, sizeof(a->msg), "NEWS2 5 or more: \"urgent\" \\ response\t\xc3\xa9");
	snprintf(a->subject, sizeof(a->subject), "PAT-0001");
	snprintf(a->patient, sizeof(a->patient), "PAT-0001");
	snprintf(a->location, sizeof(a->location), "ICU^B^12");
	snprintf(a->device_id, sizeof(a->device_id), "monitor 12");
	a->device = UINT64_C(0xFEDCBA9876543210);
	a->event_code = 196648;
	a->metric = metric_code[M_SPO2];
	a->value = 0.1 + 0.2; /* not a short decimal: the text must carry every bit */
	a->response = cp_news2_response(CP_N2_RISK_MEDIUM);
	a->onset_ns = NS(0) + 123456789;
	a->raised_ns = NS(15) + 1;
	a->changed_ns = NS(20) + 999;
	a->ended_ns = NS(25) + 3;
	a->last_hit_ns = NS(24) + 5;
	a->silenced_until_ns = NS(140) + 7;
	a->hits = 4000000000u;
	a->hist_dropped = 17;
	a->n_hist = CP_ALARM_HISTORY;
	for (unsigned i = 0; i < CP_ALARM_HISTORY; i++) {
		a->hist[i].change = (uint8_t)(i % CP_ALC__COUNT);
		a->hist[i].state = (uint8_t)(i % CP_ALARM__STATES);
		a->hist[i].priority = (uint8_t)(i % RULE_PRIO__COUNT);
		a->hist[i].time_ns = NS(i) + i;
		if (i % 2)
			snprintf(a->hist[i].by, sizeof(a->hist[i].by), "nurse %u", i);
		else
			a->hist[i].by[0] = '\0';
	}
}

static void
test_json(void)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"{}",
		"{\"id\":1,\"sid\":2,\"state\":\"sleeping\",\"source\":\"rule\",\"priority\":"
		"\"low\","
		"\"base_priority\":\"low\",\"kind\":\"technical\",\"subject\":\"x\"}",
		"{\"id\":0,\"sid\":2,\"state\":\"active\",\"source\":\"rule\",\"priority\":\"low\","
		"\"base_priority\":\"low\",\"kind\":\"technical\",\"subject\":\"x\"}",
		"{\"id\":1,\"sid\":2,\"state\":\"active\",\"source\":\"rule\",\"priority\":\"low\","
		"\"base_priority\":\"low\",\"kind\":\"technical\",\"device\":\"12\"}",
		"{\"id\":1,\"sid\":2,\"state\":\"active\",\"source\":\"rule\",\"priority\":\"low\","
		"\"base_priority\":\"low\",\"kind\":\"technical\",\"history\":[{\"change\":\"x\"}]"
		"}",
		"{\"id\":\"1\",\"sid\":2,\"state\":\"active\",\"source\":\"rule\",\"priority\":"
		"\"low\","
		"\"base_priority\":\"low\",\"kind\":\"technical\"}",
	};
	struct cp_alarm a, b;
	size_t len = 0;
	char *text;

	make_rules();
	full_alarm(&a);
	text = cp_alarm_json(&a, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL(len, strlen(text));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"onset\":\"2024-05-01T10:00:00.123456Z\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"device\":\"FEDCBA9876543210\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"metric\":{\"code\":150456,\"name\":\"SPO2\"}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"state\":\"acknowledged\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"priority\":\"high\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"source\":\"news2\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"history_dropped\":17"));
	CU_ASSERT_EQUAL_FATAL(cp_alarm_from_json(text, len, &b), 0);
	assert_same(&a, &b);
	free(text);

	/* The other shapes: no metric, no value, no response, times zero. */
	memset(&a, 0, sizeof(a));
	a.id = 1;
	a.sid = 2000001;
	a.value = NAN;
	a.state = CP_ALARM_ACTIVE;
	snprintf(a.subject, sizeof(a.subject), "device:0011223344556603");
	text = cp_alarm_json(&a, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"metric\":null"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"value\":null"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"response\":null"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"ended\":null,\"ended_ns\":0"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"history\":[]"));
	CU_ASSERT_EQUAL_FATAL(cp_alarm_from_json(text, len, &b), 0);
	assert_same(&a, &b);
	free(text);

	/* A text that is not UTF-8 (Latin-1 from the wire) still makes a record. */
	snprintf(a.patient, sizeof(a.patient), "Jos\xe9");
	text = cp_alarm_json(&a, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL(cp_alarm_from_json(text, len, &b), 0);
	CU_ASSERT_STRING_EQUAL(b.patient, "Jos\xc3\xa9");
	free(text);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(cp_alarm_from_json(bad[i], strlen(bad[i]), &b), -EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Restore                                                                   */
/* ------------------------------------------------------------------------ */

static void
test_restore(void)
{
	struct recorder rec = {.json = true};
	char *active_json = NULL, *latched_json = NULL, *cleared_json = NULL, *dev_json = NULL;
	struct cp_alarm a;
	uint64_t cnt[CP_ALM__COUNT];
	struct cp_alarms *m;

	make_rules();
	/* A first life: #1 active (SpO2, P1), #2 latched (HR, P2), #3 cleared, #4 a rule
	 * condition tied to a device alarm (apnoea, P5). */
	m = manager(&rec, 0, 0, 0);
	run_step(m, &(struct step)HIT(10, R_SPO2_NOW, S1, .metric = M_SPO2));
	active_json = strdup(rec.last_json);
	run_step(m, &(struct step)HIT(11, R_HR_LATCH, S2, .metric = M_HR));
	run_step(m, &(struct step)OBS(12, S2, M_HR));
	latched_json = strdup(rec.last_json);
	run_step(m, &(struct step)HIT(13, R_SPO2_NOW, S5, .metric = M_SPO2));
	run_step(m, &(struct step)OBS(14, S5, M_SPO2));
	cleared_json = strdup(rec.last_json);
	run_step(m, &(struct step)MSGHIT(15, R_APNEA, S5));
	run_step(m, &(struct step)DEV(15, S5, EVT_HI, START, ACTIVE, .flag = true));
	run_step(m, &(struct step)MSGHIT(16, R_APNEA, S5));
	run_step(m, &(struct step)DEV(16, S5, EVT_HI, CONTINUE, ACTIVE, .flag = true));
	dev_json = rec.last_json;
	rec.last_json = NULL;
	CU_ASSERT_STRING_EQUAL(rec.seen, "raised#1,raised#2,latched#2,raised#3,cleared#3,raised#4");
	CU_ASSERT_EQUAL(cp_alarms_next_id(m), 5);
	cp_alarms_free(m);

	/* A second life, from the records. */
	memset(rec.seen, 0, sizeof(rec.seen));
	m = manager(&rec, 3, 0, 0);
	CU_ASSERT_EQUAL(cp_alarms_lowest_open(m), UINT64_MAX);
	CU_ASSERT_EQUAL(cp_alarm_from_json(cleared_json, strlen(cleared_json), &a), 0);
	CU_ASSERT_EQUAL(cp_alarms_restore(m, &a), 0);
	CU_ASSERT_EQUAL(cp_alarm_from_json(active_json, strlen(active_json), &a), 0);
	CU_ASSERT_EQUAL(cp_alarms_restore(m, &a), 1);
	CU_ASSERT_EQUAL(cp_alarms_restore(m, &a), -EEXIST);
	CU_ASSERT_EQUAL(cp_alarm_from_json(latched_json, strlen(latched_json), &a), 0);
	CU_ASSERT_EQUAL(cp_alarms_restore(m, &a), 1);
	CU_ASSERT_EQUAL(cp_alarm_from_json(dev_json, strlen(dev_json), &a), 0);
	CU_ASSERT_EQUAL(a.event_code, EVT_HI);
	CU_ASSERT_EQUAL(cp_alarms_restore(m, &a), 1);
	a.id = 0;
	CU_ASSERT_EQUAL(cp_alarms_restore(m, &a), -EINVAL);
	CU_ASSERT_STRING_EQUAL(rec.seen, "restored#1,restored#2,restored#4");
	CU_ASSERT_EQUAL(cp_alarms_next_id(m), 5);
	CU_ASSERT_EQUAL(cp_alarms_lowest_open(m), 1);
	CU_ASSERT_EQUAL_FATAL(cp_alarms_get(m, 1, &a), 0);
	CU_ASSERT_EQUAL(a.state, CP_ALARM_ACTIVE);
	CU_ASSERT_EQUAL(a.raised_ns, NS(10));
	CU_ASSERT_EQUAL(a.n_hist, 1);

	/* The same condition again: no new alarm. An older value (a replay) does not end it. */
	rec.seen[0] = '\0';
	run_step(m, &(struct step)OBS(20, S1, M_SPO2, .msg_t = 5));
	run_step(m, &(struct step)HIT(30, R_SPO2_NOW, S1, .metric = M_SPO2));
	CU_ASSERT_STRING_EQUAL(rec.seen, "");
	run_step(m, &(struct step)OBS(31, S1, M_SPO2));
	CU_ASSERT_STRING_EQUAL(rec.seen, "cleared#1");
	CU_ASSERT_EQUAL(rec.last.hits, 2);
	CU_ASSERT_EQUAL(rec.last.n_hist, 2);
	CU_ASSERT_EQUAL(cp_alarms_lowest_open(m), 2);
	/* The tied one waits for its device's end, not for hold. */
	rec.seen[0] = '\0';
	cp_alarms_tick(m, NS(3600));
	CU_ASSERT_STRING_EQUAL(rec.seen, "");
	run_step(m, &(struct step)DEV(3601, S5, EVT_HI, END, INACTIVE));
	CU_ASSERT_STRING_EQUAL(rec.seen, "cleared#4");
	/* The latched one is reset; a new one takes the next id. */
	rec.seen[0] = '\0';
	CU_ASSERT_EQUAL(cp_alarms_reset(m, 2, "nurse", NS(3700)), 0);
	CU_ASSERT_EQUAL(cp_alarms_lowest_open(m), UINT64_MAX);
	run_step(m, &(struct step)HIT(3701, R_SPO2_NOW, S2, .metric = M_SPO2));
	CU_ASSERT_STRING_EQUAL(rec.seen, "reset#2,raised#5");
	cp_alarms_counters(m, cnt);
	CU_ASSERT_EQUAL(cnt[CP_ALM_restored], 3);
	CU_ASSERT_EQUAL(cnt[CP_ALM_restore_failed], 1);
	CU_ASSERT_EQUAL(cnt[CP_ALM_raised], 1);
	CU_ASSERT_EQUAL(rec.bad_hist, 0);
	cp_alarms_free(m);

	/* A full table refuses a restore. */
	m = manager(&rec, 0, 0, 1);
	CU_ASSERT_EQUAL(cp_alarm_from_json(active_json, strlen(active_json), &a), 0);
	CU_ASSERT_EQUAL(cp_alarms_restore(m, &a), 1);
	CU_ASSERT_EQUAL(cp_alarm_from_json(latched_json, strlen(latched_json), &a), 0);
	CU_ASSERT_EQUAL(cp_alarms_restore(m, &a), -ENOSPC);
	cp_alarms_free(m);
	free(active_json);
	free(latched_json);
	free(cleared_json);
	free(dev_json);
	free(rec.last_json);
}

/* ------------------------------------------------------------------------ */
/* Readers                                                                   */
/* ------------------------------------------------------------------------ */

struct seen_ids {
	uint64_t id[16];
	unsigned n;
	unsigned stop_after;
};

static int
collect(void *arg, const struct cp_alarm *a)
{
	struct seen_ids *s = arg;

	if (s->n < 16)
		s->id[s->n++] = a->id;
	return s->stop_after != 0 && s->n == s->stop_after ? 42 : 0;
}

struct reader_arg {
	struct cp_alarms *m;
	atomic_bool stop;
	unsigned rounds;
	unsigned bad;
};

static int
count_open(void *arg, const struct cp_alarm *a)
{
	struct reader_arg *r = arg;

	if (a->state != CP_ALARM_ACTIVE && a->state != CP_ALARM_ACKED &&
	    a->state != CP_ALARM_LATCHED)
		r->bad++;
	return 0;
}

static void *
reader(void *arg)
{
	struct reader_arg *r = arg;
	unsigned by_prio[RULE_PRIO__COUNT];
	struct cp_alarm a;

	while (!atomic_load(&r->stop)) {
		cp_alarms_foreach(r->m, count_open, r);
		cp_alarms_open_by_priority(r->m, by_prio);
		if (cp_alarms_get(r->m, 1, &a) == 0 && a.id != 1)
			r->bad++;
		r->rounds++;
	}
	return NULL;
}

static void
test_readers(void)
{
	struct recorder rec = {0};
	struct seen_ids s = {0};
	unsigned by_prio[RULE_PRIO__COUNT];
	struct reader_arg ra = {0};
	struct cp_alarms *m;
	pthread_t th;
	struct cp_alarm a;

	make_rules();
	m = manager(&rec, 0, 0, 0);
	run_step(m, &(struct step)HIT(0, R_SPO2_NOW, S1, .metric = M_SPO2)); /* #1, slot 0 */
	run_step(m, &(struct step)HIT(1, R_HR_LATCH, S2, .metric = M_HR));   /* #2, slot 1 */
	run_step(m, &(struct step)OBS(2, S1, M_SPO2));			     /* #1 cleared */
	run_step(m, &(struct step)DEV(3, S5, EVT_HI, START, ACTIVE, .prio = DP_PRIO_LOW)); /* #3 */
	run_step(m, &(struct step)OBS(4, S2, M_HR));			 /* #2 latched */
	run_step(m, &(struct step)HIT(5, R_SPO2, S3, .metric = M_SPO2)); /* pending: no alarm */
	CU_ASSERT_EQUAL(cp_alarms_get(m, 1, &a), -ENOENT);
	CU_ASSERT_EQUAL_FATAL(cp_alarms_get(m, 2, &a), 0);
	CU_ASSERT_EQUAL(a.state, CP_ALARM_LATCHED);
	CU_ASSERT_EQUAL(cp_alarms_get(m, 4, &a), -ENOENT);
	CU_ASSERT_EQUAL(cp_alarms_foreach(m, collect, &s), 0);
	CU_ASSERT_EQUAL_FATAL(s.n, 2);
	CU_ASSERT_EQUAL(s.id[0], 2);
	CU_ASSERT_EQUAL(s.id[1], 3);
	run_step(m, &(struct step)COND(6, R_TECH, S5, true)); /* #4 */
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	CU_ASSERT_EQUAL(cp_alarms_foreach(m, collect, &s), 42);
	CU_ASSERT_EQUAL(s.n, 2);
	cp_alarms_open_by_priority(m, by_prio);
	CU_ASSERT_EQUAL(by_prio[RULE_PRIO_NONE], 0);
	CU_ASSERT_EQUAL(by_prio[RULE_PRIO_LOW], 1);
	CU_ASSERT_EQUAL(by_prio[RULE_PRIO_MEDIUM], 1);
	CU_ASSERT_EQUAL(by_prio[RULE_PRIO_HIGH], 1);
	CU_ASSERT_EQUAL(cp_alarms_lowest_open(m), 2);

	/* A reader thread beside the writer. */
	ra.m = m;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, reader, &ra), 0);
	for (int i = 0; i < 20000; i++) {
		struct step st = HIT(10 + i, R_SPO2_NOW, i % 2 ? S1 : S2, .metric = M_SPO2);
		struct step ob = OBS(10.5 + i, i % 2 ? S1 : S2, M_SPO2);

		run_step(m, &st);
		run_step(m, &ob);
		if (i % 100 == 0)
			cp_alarms_silence(m, 2, "op", SEC, NS(10.7 + i));
	}
	atomic_store(&ra.stop, true);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(ra.bad, 0);
	CU_ASSERT_TRUE(ra.rounds > 0);
	CU_ASSERT_EQUAL(rec.bad_hist, 0);
	cp_alarms_free(m);

	CU_ASSERT_EQUAL(
		cp_alarms_new(
			&(struct cp_alarm_opts){.max_conditions = 0, .hold_ns = 1, .silence_ns = 1},
			&m),
		-EINVAL);
	CU_ASSERT_PTR_NULL(m);
}

/* ------------------------------------------------------------------------ */
/* Names and throughput                                                      */
/* ------------------------------------------------------------------------ */

static void
test_names(void)
{
	CU_ASSERT_STRING_EQUAL(cp_alarm_state_name(CP_ALARM_ACKED), "acknowledged");
	CU_ASSERT_STRING_EQUAL(cp_alarm_change_name(CP_ALC_RAISED), "raised");
	CU_ASSERT_STRING_EQUAL(cp_alarm_source_name(CP_ALS_NEWS2), "news2");
	CU_ASSERT_STRING_EQUAL(cp_alarm_counter_name(CP_ALM_conditions_full), "conditions_full");
	CU_ASSERT_STRING_EQUAL(cp_alarm_state_name(CP_ALARM__STATES), "?");
	for (unsigned c = 0; c < CP_ALM__COUNT; c++) {
		CU_ASSERT_STRING_NOT_EQUAL(cp_alarm_counter_name(c), "?");
		CU_ASSERT_STRING_NOT_EQUAL(cp_alarm_counter_desc(c), "?");
	}
	for (unsigned c = 0; c < CP_ALC__COUNT; c++)
		CU_ASSERT_STRING_NOT_EQUAL(cp_alarm_change_name(c), "?");
}

static void
noop_change(void *arg, const struct cp_alarm *a, enum cp_alarm_change ch)
{
	(void)a;
	(void)ch;
	(*(uint64_t *)arg)++;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_throughput(void)
{
	enum { SUBJECTS = 1000, EVENTS = 1000000 };
	static char names[SUBJECTS][16];
	struct cp_subject subj[SUBJECTS];
	struct cp_alarm_opts o;
	struct cp_alarms *m = NULL;
	uint64_t changes = 0, cnt[CP_ALM__COUNT];
	struct dp_event ev;
	uint64_t rnd = 1;
	double t0, dt;

	make_rules();
	cp_alarm_opts_defaults(&o);
	o.on_change = noop_change;
	o.arg = &changes;
	CU_ASSERT_EQUAL_FATAL(cp_alarms_new(&o, &m), 0);
	for (unsigned i = 0; i < SUBJECTS; i++) {
		snprintf(names[i], sizeof(names[i]), "PAT%05u", i);
		subj[i] = (struct cp_subject){.device = 0x1000 + i, .patient = names[i]};
	}
	memset(&ev, 0, sizeof(ev));
	t0 = now_s();
	for (unsigned i = 0; i < EVENTS; i++) {
		unsigned s;
		int64_t t = T0 + (int64_t)i * 1000000; /* 1000 events per second of replay */

		rnd = rnd * 6364136223846793005u + 1442695040888963407u;
		s = (unsigned)(rnd >> 33) % SUBJECTS;
		ev.wall_ns = t;
		ev.time_ns = t;
		ev.tsc = i;
		ev.device = subj[s].device;
		/* Every 8th event an SpO2 hit, the rest observations (a third of SpO2). */
		if (i % 8 == 0) {
			ev.type = DP_EV_HIT;
			ev.obs_index = 0;
			ev.code = metric_code[M_SPO2];
			ev.value = 88;
			cp_alarms_hit(m, &ev, &rules[i % 16 == 0 ? R_SPO2 : R_SPO2_NOW], &subj[s]);
		} else {
			ev.type = DP_EV_OBS;
			ev.code = metric_code[i % 3 == 0 ? M_SPO2 : M_HR];
			ev.value = 97;
			cp_alarms_obs(m, &ev, &subj[s]);
		}
		if (i % 64 == 0)
			cp_alarms_tick(m, t);
	}
	dt = now_s() - t0;
	cp_alarms_counters(m, cnt);
	printf("\n  alarm manager: %u events (1/8 hits, %u subjects) in %.3f s: %.2f M events/s; "
	       "%" PRIu64 " raised, %" PRIu64 " cleared, %" PRIu64 " filtered, %" PRIu64
	       " changes\n  ",
	       EVENTS, SUBJECTS, dt, EVENTS / dt / 1e6, cnt[CP_ALM_raised], cnt[CP_ALM_cleared],
	       cnt[CP_ALM_filtered_delay], changes);
	CU_ASSERT_TRUE(cnt[CP_ALM_raised] > 0);
	CU_ASSERT_TRUE(cnt[CP_ALM_cleared] > 0);
	cp_alarms_free(m);
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"the state machine, scenario by scenario", test_state_machine},
		{"a deadline's change has the deadline's time", test_deadline_times},
		{"history: the newest kept, the rest counted", test_history},
		{"the stored record: JSON and back", test_json},
		{"restore at start-up", test_restore},
		{"readers", test_readers},
		{"names", test_names},
		{"throughput (printed)", test_throughput},
	};
	CU_pSuite s = CU_add_suite("alarm", NULL, NULL);

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
