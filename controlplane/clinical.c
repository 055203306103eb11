/*
 * clinical.c - vigild's clinical pipeline: the consumer's hooks that run
 * the alarm manager, the patient state and NEWS2, vigil's own technical
 * conditions, the store and the alarm log.
 *
 * Every event reaches this file on the consumer's thread (an online QSBR
 * reader during a pass, so the device registry and the ruleset may be
 * read). In order:
 *
 *   ALARM lane   a rule hit -> the rule's facts (cached per sid and
 *                ruleset version) -> cp_alarms_hit; a device alarm ->
 *                cp_alarms_dev_alarm (told whether an alert rule hit the
 *                same message); event loss -> a technical condition.
 *   TELEMETRY    each observation -> device liveness and VTP sequence
 *                gaps -> cp_alarms_obs (ends metric conditions) ->
 *                cp_patients_obs (NEWS2, and its three conditions); then
 *                the batch to the store (cp_persist).
 *   idle tick    time passes for the alarm manager (delays, escalations,
 *                holds, silences), silent devices, decode-error windows,
 *                patients not scored for 10 s scored again (stale values
 *                drop out), a refused reload, then the store's group
 *                commit.
 *
 * Store before announce. The manager's on_change only encodes the record
 * and hands it to cp_persist with a cookie naming a slot of the
 * announcement ring; once the group is synced (on_stored), the slot is
 * announced (the alarm log) in order. While storage fails the record
 * waits in persist's retry queue but the announcement goes out at once
 * with "stored":false: a full disk must never silence an alarm, and the
 * storage failure is itself a high-priority technical alarm.
 *
 * Subjects. A condition is about a patient (PID-3, from the device
 * registry) or, for a device that names none, the device. The registry is
 * read at most once a second per device (a small cache here), so a new
 * patient on a bed is seen within a second and an observation costs no
 * RCU hash lookup.
 *
 * Time. Live: the events' receive time and the wall clock for the ticks.
 * Replaying a capture (packet_time): the capture's time only, so an hour
 * of ward alarms in seconds exactly as it would have live. After a restart
 * in packet time, events not newer than the newest stored alarm change
 * are skipped: they were seen before the restart.
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

#include <arpa/inet.h>
#include <urcu/urcu-qsbr.h>

#include "controlplane.h"

#define SEC INT64_C(1000000000)
#define REFRESH_NS SEC	   /* a device's registry texts are read at most this often */
#define ANNOUNCE_RING 1024 /* alarm changes waiting for their group's sync */
#define RULE_CACHE 4096	   /* sids whose facts are kept (direct-mapped) */
#define RESTORE_META "alarm_restore_from"
/* The newest alarm change stored and announced: a restart announces what came after it. */
#define CLOCK_META "alarm_announced_upto"
#define CLOCK_META_EVERY_NS SEC /* live: written at most this often */
#define SENDER_KEY_MAX 48
#define SENDER_BUCKETS 16     /* a decode-error window's resolution */
#define HELD_MAX 16384	      /* hits held per worker (more: taken at once, counted held_full) */
#define RESTORED_MAX 1024     /* restored technical alarms looked after (more: they end by hand) */
#define RESCORE_NS (10 * SEC) /* a patient not scored for this long is scored again */
#define NEWS2_CLEAR_NS (60 * SEC) /* a NEWS2 condition ends after this long below */

/* One device seen: its subject texts and vigil's technical watch on it. */
struct dev {
	uint64_t device; /* 0: empty slot */
	int64_t refreshed_ns;
	int64_t last_seen_ns;
	bool silent;	/* the device-silent condition is present */
	bool vtp_seq;	/* last_seq is known */
	bool gap;	/* the sequence-gap condition is present */
	int64_t gap_ns; /* when the last gap was seen */
	uint32_t last_seq;
	int16_t news2_said;	/* total | complete << 8 | red << 9 last logged; -1: none */
	int64_t news2_below[3]; /* since when each NEWS2 condition's score is below (0: not) */
	uint8_t news2_open;	/* bit i: NEWS2 condition i said present (or maybe restored) */
	uint8_t news2_total[3]; /* the total it was said present with */
	char patient[CP_PATIENT_ID_MAX + 1];
	char location[CP_PATIENT_ID_MAX + 1];
	char device_id[CP_PATIENT_ID_MAX + 1];
	char key[CP_PATIENT_ID_MAX + 1]; /* the patient key (cp_patients) */
	uint64_t hash;			 /* cp_subject_hash of its subject (0: not yet) */
};

/* One sender whose datagrams did not decode (the malformed rule hits). */
struct sender {
	uint8_t addr[16];
	uint8_t ip_version; /* 0: empty slot */
	bool present;
	unsigned cur;	   /* the current bucket */
	unsigned sum;	   /* errors in the window */
	int64_t bucket_ns; /* when the current bucket began */
	uint32_t bucket[SENDER_BUCKETS];
};

struct rule_slot {
	uint64_t version;
	bool valid;
	struct cp_alarm_rule rule;
};

struct announce {
	struct cp_alarm alarm;
	uint8_t change;
	bool ready; /* stored, or its first write failed */
	bool stored;
};

struct cp_clinical {
	struct cp_clinical_opts o;
	struct cp_alarms *alarms;
	struct cp_patients *patients;
	struct cp_eve *eve;
	struct cp_event_hooks persist; /* cp_persist's own hooks: observations go there */
	struct dp_registry *registry;
	/* Devices: open addressing, power-of-two size. */
	struct dev *dev;
	size_t dev_mask;
	size_t n_dev;
	struct sender *sender;
	size_t sender_mask;
	struct rule_slot rules[RULE_CACHE];
	/* The hits of the message being taken, for its device alarm. */
	uint64_t msg_device, msg_tsc;
	unsigned msg_worker;
	bool msg_hits;
	/* Announcements, in change order. */
	struct announce ring[ANNOUNCE_RING];
	uint64_t ring_head, ring_tail; /* [head, tail) wait; tail is the next cookie */
	/* Time. */
	int64_t now_ns;	      /* the clock: packet time (see tick), or the wall clock */
	int64_t alarm_max_ns; /* packet time: the newest ALARM event */
	int64_t tel_max_ns;   /* packet time: the newest TELEMETRY event */
	bool tel_this_pass;   /* a TELEMETRY event came since the last tick */
	/* Hits held until their observation (held_release), per worker. */
	struct held {
		struct dp_event *ev; /* HELD_MAX, made on first use */
		uint64_t head, tail;
	} held[DP_MAX_WORKERS];
	int64_t resume_ns;	  /* packet time: events up to this were seen before a restart */
	int64_t newest_change_ns; /* the newest alarm change's time */
	int64_t announced_ns;	  /* the newest change announced after being stored */
	int64_t clock_said_ns;	  /* CLOCK_META as last written */
	int64_t clock_said_at;	  /* when (CLOCK_MONOTONIC) */
	int64_t next_scan_ns;
	/* Technical alarms restored at start-up (restored_tech). */
	unsigned n_restored, n_silent;
	struct restored {
		uint32_t sid;
		uint64_t device;
		char subject[CP_PATIENT_ID_MAX + 1];
	} restored[RESTORED_MAX];
	uint64_t silent_restored[RESTORED_MAX];
	int64_t next_rescore_ns;
	uint64_t restore_from; /* the meta record, as last written */
	/* Conditions of vigil itself. */
	int64_t loss_until_ns; /* event loss present until (hold) */
	bool loss_present;
	bool storage_failing, storage_present;
	atomic_int reload_state; /* 0 nothing new, 1 failed, 2 good */
	bool reload_present;
	atomic_bool reopen;
	struct cp_alarm_rule tech[CP_TECH__COUNT];
	struct cp_alarm_rule news2_rule[3];
	_Atomic uint64_t counter[CP_CLIN__COUNT];
	/* Other threads' calls (cp_clinical_call) and the announcement hook. */
	pthread_mutex_t call_lock;
	struct call *calls, **calls_tail;
	atomic_bool calls_waiting;
	pthread_mutex_t hook_lock;
	atomic_bool has_hook;
	void (*on_announce)(void *arg, const char *line, size_t len);
	void *announce_arg;
};

/* A function another thread asked the writer to run (cp_clinical_call). */
struct call {
	void (*fn)(void *arg, struct cp_alarms *alarms, int64_t now_ns);
	void *arg;
	struct call *next;
};

static void advance(struct cp_clinical *c, int64_t now);
static void run_calls(struct cp_clinical *c, bool cancel);
static void end_restored(struct cp_clinical *c, int64_t now);

#define CP_X_NAME(name, desc) #name,
#define CP_X_DESC(name, desc) desc,
static const char *const counter_names[] = {CP_CLINICAL_COUNTERS(CP_X_NAME)};
static const char *const counter_descs[] = {CP_CLINICAL_COUNTERS(CP_X_DESC)};
#undef CP_X_NAME
#undef CP_X_DESC

const char *
cp_clinical_counter_name(enum cp_clinical_counter c)
{
	return (unsigned)c < CP_CLIN__COUNT ? counter_names[c] : "?";
}

const char *
cp_clinical_counter_desc(enum cp_clinical_counter c)
{
	return (unsigned)c < CP_CLIN__COUNT ? counter_descs[c] : "?";
}

static void
count(struct cp_clinical *c, enum cp_clinical_counter which, uint64_t n)
{
	atomic_fetch_add_explicit(&c->counter[which], n, memory_order_relaxed);
}

void
cp_clinical_counters(const struct cp_clinical *c, uint64_t out[CP_CLIN__COUNT])
{
	for (unsigned i = 0; i < CP_CLIN__COUNT; i++)
		out[i] = atomic_load_explicit(&c->counter[i], memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* vigil's technical conditions                                              */
/* ------------------------------------------------------------------------ */

static const struct {
	const char *name;
	uint32_t sid;
	enum rule_priority priority;
	const char *msg;
} techs[CP_TECH__COUNT] = {
	[CP_TECH_DEVICE_SILENT] = {"device_silent", CP_SID_DEVICE_SILENT, RULE_PRIO_MEDIUM,
				   "Device silent: no telemetry (communication lost)"},
	[CP_TECH_SEQUENCE_GAP] = {"sequence_gap", CP_SID_SEQUENCE_GAP, RULE_PRIO_LOW,
				  "Telemetry lost: VTP sequence numbers skipped"},
	[CP_TECH_DECODE_ERRORS] = {"decode_errors", CP_SID_DECODE_ERRORS, RULE_PRIO_LOW,
				   "Sender's telemetry does not decode"},
	[CP_TECH_EVENT_LOSS] = {"event_loss", CP_SID_EVENT_LOSS, RULE_PRIO_HIGH,
				"Alarm events lost inside vigil (event ring full)"},
	[CP_TECH_STORAGE] = {"storage", CP_SID_STORAGE, RULE_PRIO_HIGH,
			     "Storage failing: alarms are not being recorded"},
	[CP_TECH_RELOAD] = {"reload", CP_SID_RELOAD_FAILED, RULE_PRIO_MEDIUM,
			    "Rule reload refused: the previous ruleset stays in force"},
};

const char *
cp_tech_name(enum cp_tech t)
{
	return (unsigned)t < CP_TECH__COUNT ? techs[t].name : "?";
}

uint32_t
cp_tech_sid(enum cp_tech t)
{
	return (unsigned)t < CP_TECH__COUNT ? techs[t].sid : 0;
}

enum rule_priority
cp_tech_default_priority(enum cp_tech t)
{
	return (unsigned)t < CP_TECH__COUNT ? techs[t].priority : RULE_PRIO_HIGH;
}

const char *
cp_tech_msg(enum cp_tech t)
{
	return (unsigned)t < CP_TECH__COUNT ? techs[t].msg : "?";
}

/* The subject of vigil's own conditions (event loss, storage, reload). */
static const struct cp_subject vigil_subject = {.device = 0, .patient = "vigil"};

static void
tech(struct cp_clinical *c, enum cp_tech t, const struct cp_subject *s, bool present,
     int64_t time_ns, double value)
{
	if (present)
		count(c, CP_CLIN_tech_conditions, 1);
	cp_alarms_condition(c->alarms, &c->tech[t], CP_ALS_TECHNICAL, s, present, time_ns, 0, value,
			    NULL);
}

/* ------------------------------------------------------------------------ */
/* Devices and their subjects                                                */
/* ------------------------------------------------------------------------ */

static size_t
hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	return (size_t)x;
}

static void
copy_text(char *dst, const char *src)
{
	size_t n = strnlen(src, CP_PATIENT_ID_MAX);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The manager's hash of the device's subject, so an observation need not make it. */
static void
dev_hash(struct dev *d)
{
	struct cp_subject s = {.device = d->device, .patient = d->patient};

	d->hash = cp_subject_hash(&s);
}

static void
dev_refresh(struct cp_clinical *c, struct dev *d, int64_t now)
{
	struct dp_device_info info;

	d->refreshed_ns = now;
	if (c->registry == NULL || dp_registry_lookup(c->registry, d->device, &info) != 0) {
		if (d->key[0] == '\0')
			snprintf(d->key, sizeof(d->key), "device:%016" PRIX64, d->device);
		dev_hash(d);
		return;
	}
	copy_text(d->patient, info.patient);
	copy_text(d->location, info.location);
	copy_text(d->device_id, info.device_id);
	if (d->patient[0] != '\0')
		copy_text(d->key, d->patient);
	else
		snprintf(d->key, sizeof(d->key), "device:%016" PRIX64, d->device);
	dev_hash(d);
}

/* The device's entry (made, and its texts read, when new or due); NULL: table full. */
static struct dev *
dev_get(struct cp_clinical *c, uint64_t device, int64_t now)
{
	size_t i = hash64(device) & c->dev_mask;

	for (;;) {
		struct dev *d = &c->dev[i];

		if (d->device == device) {
			if (now - d->refreshed_ns >= REFRESH_NS || now < d->refreshed_ns)
				dev_refresh(c, d, now);
			return d;
		}
		if (d->device == 0) {
			/* Keep a quarter free: probes stay short. */
			if (c->n_dev + 1 > (c->dev_mask + 1) / 4 * 3) {
				count(c, CP_CLIN_untracked, 1);
				return NULL;
			}
			memset(d, 0, sizeof(*d));
			d->device = device;
			d->last_seen_ns = now;
			d->news2_said = -1;
			d->news2_open = 7; /* unknown: one may have been restored */
			for (unsigned k = 0; k < c->n_silent; k++)
				if (c->silent_restored[k] == device)
					d->silent = true;
			c->n_dev++;
			dev_refresh(c, d, now);
			return d;
		}
		i = (i + 1) & c->dev_mask;
	}
}

static void
subject_of(const struct dev *d, struct cp_subject *s)
{
	*s = (struct cp_subject){
		.device = d->device,
		.patient = d->patient,
		.location = d->location,
		.device_id = d->device_id,
		.hash = d->hash,
	};
}

/* A datagram without a device (it did not decode, or its sender was refused). */
static void
sender_subject(const struct dp_event *ev, char *buf, size_t len, struct cp_subject *s)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ev->ip_version == 4 || ev->ip_version == 6)
		inet_ntop(ev->ip_version == 4 ? AF_INET : AF_INET6, ev->src, ip, sizeof(ip));
	snprintf(buf, len, "sender:%s", ip);
	*s = (struct cp_subject){.device = 0, .patient = buf};
}

/* ------------------------------------------------------------------------ */
/* Announcements: after the store                                            */
/* ------------------------------------------------------------------------ */

static void
announce(struct cp_clinical *c, const struct cp_alarm *a, enum cp_alarm_change ch, bool stored)
{
	char *buf, *line = NULL;
	size_t len = 0;

	count(c, stored ? CP_CLIN_announced : CP_CLIN_announced_unstored, 1);
	if (stored && a->changed_ns > c->announced_ns)
		c->announced_ns = a->changed_ns;
	if (c->eve == NULL && !atomic_load_explicit(&c->has_hook, memory_order_acquire))
		return;
	buf = cp_eve_alarm_line(a, ch, stored, &line, &len);
	if (buf != NULL && atomic_load_explicit(&c->has_hook, memory_order_acquire)) {
		pthread_mutex_lock(&c->hook_lock);
		if (c->on_announce != NULL)
			c->on_announce(c->announce_arg, line, len);
		pthread_mutex_unlock(&c->hook_lock);
	}
	if (c->eve == NULL) {
		free(buf);
		return;
	}
	if (buf != NULL && cp_eve_write(c->eve, buf, line, len) == 0)
		count(c, CP_CLIN_log_lines, 1);
	else
		count(c, CP_CLIN_log_failed, 1);
}

/* Announce the ready ones at the head, in order. */
static void
ring_drain(struct cp_clinical *c)
{
	while (c->ring_head != c->ring_tail) {
		struct announce *an = &c->ring[c->ring_head % ANNOUNCE_RING];

		if (!an->ready)
			break;
		announce(c, &an->alarm, an->change, an->stored);
		an->ready = false;
		c->ring_head++;
	}
}

static void
on_stored(void *arg, uint64_t cookie, int rc)
{
	struct cp_clinical *c = arg;
	struct announce *an = &c->ring[cookie % ANNOUNCE_RING];

	an->ready = true;
	an->stored = rc == 0;
	ring_drain(c);
}

static void
on_change(void *arg, const struct cp_alarm *a, enum cp_alarm_change ch)
{
	struct cp_clinical *c = arg;
	struct announce *an;
	size_t len = 0;
	char *json;

	if (ch == CP_ALC_RESTORED)
		return;
	if (a->changed_ns > c->newest_change_ns)
		c->newest_change_ns = a->changed_ns;
	if (c->o.persist == NULL) {
		announce(c, a, ch, false);
		return;
	}
	json = cp_alarm_json(a, &len);
	if (json == NULL) {
		/* Out of memory: it is not stored, but it is not silenced. */
		announce(c, a, ch, false);
		return;
	}
	if (c->ring_tail - c->ring_head == ANNOUNCE_RING) {
		/* More changes in one pass than the ring holds: commit now. */
		cp_persist_flush(c->o.persist);
		ring_drain(c);
		if (c->ring_tail - c->ring_head == ANNOUNCE_RING) {
			free(json);
			announce(c, a, ch, false);
			return;
		}
	}
	an = &c->ring[c->ring_tail % ANNOUNCE_RING];
	an->alarm = *a;
	an->change = (uint8_t)ch;
	an->ready = false;
	cp_persist_alarm(c->o.persist, a->id, a->raised_ns, json, len, c->ring_tail++);
}

/* ------------------------------------------------------------------------ */
/* ALARM events                                                              */
/* ------------------------------------------------------------------------ */

/*
 * Skip what a replay shows again after a restart; note the newest time of
 * each lane. The ALARM lane is drained first, so its events run ahead of
 * the observations still in the TELEMETRY ring: the clock follows the
 * observations (see cp_clinical_tick), or a device would look silent.
 */
static bool
replayed(struct cp_clinical *c, const struct dp_event *ev, bool telemetry)
{
	if (!c->o.packet_time)
		return false;
	if (ev->wall_ns <= c->resume_ns) {
		count(c, CP_CLIN_replayed, 1);
		return true;
	}
	if (telemetry) {
		c->tel_this_pass = true;
		if (ev->wall_ns > c->tel_max_ns)
			c->tel_max_ns = ev->wall_ns;
	} else if (ev->wall_ns > c->alarm_max_ns) {
		c->alarm_max_ns = ev->wall_ns;
	}
	return false;
}

/* The facts of the rule a hit names, or NULL (then the event's own). */
static const struct cp_alarm_rule *
rule_of(struct cp_clinical *c, const struct dp_event *ev)
{
	struct rule_slot *slot = &c->rules[ev->u.hit.sid % RULE_CACHE];
	const struct rule_set *set = c->o.rules;
	const struct rule *r = NULL;
	uint64_t version = ev->u.hit.ruleset_version;

	if (slot->valid && slot->version == version && slot->rule.sid == ev->u.hit.sid)
		return &slot->rule;
	if (c->o.dp != NULL) {
		const struct dp_ruleset *rs = dp_ruleset_current(c->o.dp);

		set = rs != NULL ? rs->set : NULL;
		version = rs != NULL ? rs->version : 0;
	}
	if (set != NULL) {
		if (version == ev->u.hit.ruleset_version &&
		    ev->u.hit.rule_index < rule_set_count(set))
			r = rule_set_rule(set, ev->u.hit.rule_index);
		if (r == NULL || r->sid != ev->u.hit.sid)
			r = rule_set_find(set, ev->u.hit.sid);
	}
	if (r == NULL)
		return NULL;
	cp_alarm_rule_of(r, &slot->rule);
	slot->version = ev->u.hit.ruleset_version;
	slot->valid = true;
	return &slot->rule;
}

/*
 * Hold a hit back until its own observation comes (see the head comment of
 * held_release). @return true: held; false: no room (then taken now).
 */
static bool
hold_hit(struct cp_clinical *c, const struct dp_event *ev)
{
	struct held *h;

	if (ev->worker >= DP_MAX_WORKERS)
		return false;
	h = &c->held[ev->worker];
	if (h->ev == NULL) {
		h->ev = malloc(HELD_MAX * sizeof(*h->ev));
		if (h->ev == NULL)
			return false;
	}
	if (h->tail - h->head == HELD_MAX) {
		count(c, CP_CLIN_held_full, 1);
		return false;
	}
	h->ev[h->tail++ % HELD_MAX] = *ev;
	count(c, CP_CLIN_held, 1);
	return true;
}

static void
take_hit(struct cp_clinical *c, const struct dp_event *ev, const struct cp_subject *s,
	 bool may_hold)
{
	const struct cp_alarm_rule *rule;
	struct cp_alarm_rule own;

	if (ev->u.hit.action != RULE_ACTION_ALERT)
		return;
	rule = rule_of(c, ev);
	if (rule == NULL) {
		/* The rule was unloaded since: raise it with what the event says. */
		count(c, CP_CLIN_hits_unknown_rule, 1);
		memset(&own, 0, sizeof(own));
		own.sid = ev->u.hit.sid;
		own.rev = ev->u.hit.rev;
		own.priority = ev->u.hit.priority;
		own.kind = ev->u.hit.kind;
		snprintf(own.msg, sizeof(own.msg), "Rule %" PRIu32 " (no longer loaded)",
			 ev->u.hit.sid);
		rule = &own;
	}
	if (ev->obs_index == RULE_HIT_MSG) {
		c->msg_device = ev->device;
		c->msg_tsc = ev->tsc;
		c->msg_worker = ev->worker;
		c->msg_hits = true;
	} else if (may_hold && rule->n_metrics > 0 && rule->delay_ms > 0 && hold_hit(c, ev)) {
		return;
	}
	cp_alarms_hit(c->alarms, ev, rule, s);
}

/*
 * Hits that wait for their observation. The ALARM lane is drained first,
 * so a hit can be taken well before the observations that came before it
 * on the TELEMETRY lane. For a metric rule with a delay that order
 * matters: the condition must have been present all along its delay, and
 * an observation in between that did not hit ends it. Such hits are held
 * (per worker, in order) and handed to the manager when the TELEMETRY lane
 * reaches their message: when an observation of a later burst, or of the
 * same message, comes (or when a pass finds no TELEMETRY at all). A hit
 * with no delay is taken at once: its alarm must not wait. Held hits keep
 * their own times, so the alarm is raised at onset + delay as ever.
 */
static void
held_take(struct cp_clinical *c, const struct dp_event *ev)
{
	struct cp_subject s;
	struct dev *d = ev->device != 0 ? dev_get(c, ev->device, ev->wall_ns) : NULL;

	if (d != NULL)
		subject_of(d, &s);
	else
		s = (struct cp_subject){.device = ev->device};
	take_hit(c, ev, &s, false);
}

static void
held_release(struct cp_clinical *c, const struct dp_event *obs)
{
	struct held *h = &c->held[obs->worker < DP_MAX_WORKERS ? obs->worker : 0];

	while (h->head != h->tail) {
		const struct dp_event *e = &h->ev[h->head % HELD_MAX];

		if (!(e->tsc < obs->tsc || (e->tsc == obs->tsc && e->device == obs->device &&
					    e->time_ns == obs->time_ns)))
			break;
		h->head++;
		held_take(c, e);
	}
}

static void
held_release_all(struct cp_clinical *c)
{
	for (unsigned w = 0; w < DP_MAX_WORKERS; w++) {
		struct held *h = &c->held[w];

		while (h->head != h->tail)
			held_take(c, &h->ev[h->head++ % HELD_MAX]);
	}
}

/*
 * A sender's decode errors over the last window: a sliding window of
 * SENDER_BUCKETS buckets. The condition is present while the window holds
 * the limit or more, so a steady rate above it is one alarm, and it ends
 * once the errors of the last window fall below the limit.
 */
static void
sender_roll(struct cp_clinical *c, struct sender *sd, int64_t t)
{
	int64_t bw = c->o.decode_errors_ns / SENDER_BUCKETS;

	if (bw <= 0)
		bw = 1;
	if (t - sd->bucket_ns >= SENDER_BUCKETS * bw) {
		memset(sd->bucket, 0, sizeof(sd->bucket));
		sd->sum = 0;
		sd->bucket_ns = t;
		return;
	}
	while (t - sd->bucket_ns >= bw) {
		sd->cur = (sd->cur + 1) % SENDER_BUCKETS;
		sd->sum -= sd->bucket[sd->cur];
		sd->bucket[sd->cur] = 0;
		sd->bucket_ns += bw;
	}
}

/* Decode errors by sender: a rate over a window (the `malformed` rule hits). */
static void
decode_error(struct cp_clinical *c, const struct dp_event *ev, const struct cp_subject *s)
{
	size_t i;

	count(c, CP_CLIN_decode_errors, 1);
	if (c->o.decode_errors_count == 0 || c->sender == NULL)
		return;
	i = hash64(((uint64_t)ev->src[0] << 24 | ev->src[1] << 16 | ev->src[2] << 8 | ev->src[3]) ^
		   ((uint64_t)ev->src[12] << 32 | ev->src[15])) &
	    c->sender_mask;
	for (size_t probes = 0; probes <= c->sender_mask; probes++, i = (i + 1) & c->sender_mask) {
		struct sender *sd = &c->sender[i];

		if (sd->ip_version == 0) {
			sd->ip_version = ev->ip_version ? ev->ip_version : 4;
			memcpy(sd->addr, ev->src, 16);
			sd->bucket_ns = ev->wall_ns;
		} else if (sd->ip_version != (ev->ip_version ? ev->ip_version : 4) ||
			   memcmp(sd->addr, ev->src, 16) != 0) {
			continue;
		}
		sender_roll(c, sd, ev->wall_ns);
		sd->bucket[sd->cur]++;
		sd->sum++;
		if (sd->sum >= c->o.decode_errors_count && !sd->present) {
			sd->present = true;
			tech(c, CP_TECH_DECODE_ERRORS, s, true, ev->wall_ns, sd->sum);
		}
		return;
	}
	count(c, CP_CLIN_untracked, 1);
}

static void
on_alarm(void *arg, const struct dp_event *ev)
{
	struct cp_clinical *c = arg;
	char sender_key[SENDER_KEY_MAX];
	struct cp_subject s;
	struct dev *d = NULL;

	if (ev->type == DP_EV_TECH) {
		/* The consumer's own event: dated by the wall clock, even in a
		 * replay, so it is put on the pipeline's clock instead. */
		if (ev->code == DP_TECH_EVENT_LOSS) {
			c->loss_until_ns = c->now_ns + c->o.alarm.hold_ns;
			c->loss_present = true;
			tech(c, CP_TECH_EVENT_LOSS, &vigil_subject, true, c->now_ns, ev->value);
		}
		return;
	}
	if (replayed(c, ev, false))
		return;
	if (!c->o.packet_time && ev->wall_ns > c->now_ns)
		c->now_ns = ev->wall_ns;
	if (ev->device != 0)
		d = dev_get(c, ev->device, ev->wall_ns);
	if (d != NULL)
		subject_of(d, &s);
	else if (ev->device != 0)
		s = (struct cp_subject){.device = ev->device};
	else
		sender_subject(ev, sender_key, sizeof(sender_key), &s);
	switch (ev->type) {
	case DP_EV_HIT:
		count(c, CP_CLIN_hits, 1);
		if (ev->u.hit.malformed)
			decode_error(c, ev, &s);
		take_hit(c, ev, &s, true);
		break;
	case DP_EV_DEV_ALARM: {
		bool had = c->msg_hits && c->msg_device == ev->device && c->msg_tsc == ev->tsc &&
			   c->msg_worker == ev->worker;

		count(c, CP_CLIN_device_alarms, 1);
		cp_alarms_dev_alarm(c->alarms, ev, had, &s);
		break;
	}
	default:
		break;
	}
}

/* ------------------------------------------------------------------------ */
/* TELEMETRY events                                                          */
/* ------------------------------------------------------------------------ */

/*
 * The three NEWS2 conditions of a new score. A score below a threshold ends
 * its condition only once it has stayed below for NEWS2_CLEAR_NS (on the
 * device's entry @p d; NULL: at once), so a score wandering across a
 * threshold with the noise of its vitals does not raise and clear again
 * with every observation.
 */
static void
news2_conditions(struct cp_clinical *c, struct dev *d, const struct cp_subject *s,
		 const struct cp_news2 *n, int64_t t)
{
	static const uint8_t at[3] = {0, 5, 7};
	/* Only a score with every vital sign can say a condition has ended:
	 * a lower bound below a threshold does not mean the patient is below it. */
	bool vitals = n->sub[CP_N2_RR] >= 0 && n->sub[CP_N2_SPO2] >= 0 && n->sub[CP_N2_SBP] >= 0 &&
		      n->sub[CP_N2_PULSE] >= 0 && n->sub[CP_N2_TEMP] >= 0;

	for (unsigned i = 0; i < 3; i++) {
		bool present = i == 0 ? n->red : n->total >= at[i];
		enum cp_news2_risk risk = i == 0   ? CP_N2_RISK_LOW_MEDIUM
					  : i == 1 ? CP_N2_RISK_MEDIUM
						   : CP_N2_RISK_HIGH;
		const struct cp_alarm_rule *r = &c->news2_rule[i];
		struct cp_alarm_rule incomplete;
		uint8_t bit = (uint8_t)(1u << i);

		if (!present && !vitals)
			continue;
		if (present) {
			if (d != NULL) {
				d->news2_below[i] = 0;
				/* Said present with this total already: nothing new. */
				if ((d->news2_open & bit) && d->news2_total[i] == n->total)
					continue;
				d->news2_open |= bit;
				d->news2_total[i] = n->total;
			}
		} else if (d != NULL) {
			/* Never present (since this entry was made): nothing to end. */
			if (!(d->news2_open & bit))
				continue;
			if (d->news2_below[i] == 0)
				d->news2_below[i] = t;
			if (t - d->news2_below[i] < NEWS2_CLEAR_NS)
				continue;
			d->news2_open &= (uint8_t)~bit;
		}
		if (present && !n->complete) {
			size_t len = strlen(r->msg);

			incomplete = *r;
			snprintf(incomplete.msg + len, sizeof(incomplete.msg) - len,
				 " (incomplete score: a lower bound)");
			r = &incomplete;
		}
		cp_alarms_condition(c->alarms, r, CP_ALS_NEWS2, s, present, t, 0, n->total,
				    cp_news2_response(risk));
	}
}

/* A line in the alarm log when a patient's score changes. */
static void
news2_log(struct cp_clinical *c, struct dev *d, const struct cp_news2 *n)
{
	int16_t said = (int16_t)(n->total | n->complete << 8 | n->red << 9);
	struct cp_patient *pt;

	if (c->eve == NULL || said == d->news2_said)
		return;
	d->news2_said = said;
	pt = malloc(sizeof(*pt));
	if (pt == NULL)
		return;
	if (cp_patients_get(c->patients, d->key, pt) == 0) {
		if (cp_eve_news2(c->eve, pt) == 0)
			count(c, CP_CLIN_log_lines, 1);
		else
			count(c, CP_CLIN_log_failed, 1);
	}
	free(pt);
}

static void
sequence(struct cp_clinical *c, struct dev *d, const struct dp_event *ev,
	 const struct cp_subject *s)
{
	if (ev->proto != RULE_PROTO_VTP)
		return;
	if (d->vtp_seq && ev->seq != d->last_seq &&
	    ev->seq - d->last_seq - 1 < (UINT32_C(1) << 31) && ev->seq != d->last_seq + 1) {
		count(c, CP_CLIN_seq_gaps, 1);
		d->gap = true;
		d->gap_ns = ev->wall_ns;
		tech(c, CP_TECH_SEQUENCE_GAP, s, true, ev->wall_ns, ev->seq - d->last_seq - 1);
	}
	d->vtp_seq = true;
	d->last_seq = ev->seq;
}

static void
take_obs(struct cp_clinical *c, const struct dp_event *ev)
{
	struct cp_subject s;
	struct cp_news2 n;
	struct dev *d;

	count(c, CP_CLIN_observations, 1);
	d = dev_get(c, ev->device, ev->wall_ns);
	if (d == NULL) {
		s = (struct cp_subject){.device = ev->device};
		cp_alarms_obs(c->alarms, ev, &s);
		return;
	}
	subject_of(d, &s);
	if (ev->wall_ns > d->last_seen_ns)
		d->last_seen_ns = ev->wall_ns;
	if (d->silent) {
		d->silent = false;
		tech(c, CP_TECH_DEVICE_SILENT, &s, false, ev->wall_ns, NAN);
	}
	sequence(c, d, ev, &s);
	cp_alarms_obs(c->alarms, ev, &s);
	if (cp_patients_obs(c->patients, d->key, d->location, ev, &n) == 1) {
		news2_conditions(c, d, &s, &n, ev->wall_ns);
		news2_log(c, d, &n);
	}
}

static void
on_telemetry(void *arg, const struct dp_event *ev, unsigned n)
{
	struct cp_clinical *c = arg;
	unsigned from = 0;

	if (n > 0)
		c->tel_this_pass = true;
	for (unsigned i = 0; i < n; i++) {
		if (replayed(c, &ev[i], true)) {
			/* Stored already, before the restart: keep what is new only. */
			if (i > from && c->persist.on_telemetry != NULL)
				c->persist.on_telemetry(c->persist.arg, &ev[from], i - from);
			from = i + 1;
			continue;
		}
		if (!c->o.packet_time) {
			if (ev[i].wall_ns > c->now_ns)
				c->now_ns = ev[i].wall_ns;
		} else if (ev[i].wall_ns > c->now_ns) {
			/* A replay's clock moves with the observations, not once a
			 * pass: a deadline passes before the next observation is
			 * judged, as it would live. */
			c->now_ns = ev[i].wall_ns;
			advance(c, c->now_ns);
		}
		if (ev[i].type == DP_EV_OBS)
			held_release(c, &ev[i]);
		if (ev[i].type == DP_EV_OBS && ev[i].device != 0)
			take_obs(c, &ev[i]);
	}
	if (n > from && c->persist.on_telemetry != NULL)
		c->persist.on_telemetry(c->persist.arg, &ev[from], n - from);
}

/* ------------------------------------------------------------------------ */
/* Time                                                                      */
/* ------------------------------------------------------------------------ */

static int64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* Once a second: silent devices, sequence gaps and decode errors that have passed. */
static void
scan(struct cp_clinical *c, int64_t now)
{
	for (size_t i = 0; i <= c->dev_mask; i++) {
		struct dev *d = &c->dev[i];
		struct cp_subject s;

		if (d->device == 0)
			continue;
		subject_of(d, &s);
		if (!d->silent && c->o.device_silent_ns > 0 &&
		    now - d->last_seen_ns > c->o.device_silent_ns) {
			d->silent = true;
			tech(c, CP_TECH_DEVICE_SILENT, &s, true, now,
			     (double)(now - d->last_seen_ns) / SEC);
		}
		if (d->gap && now - d->gap_ns >= c->o.alarm.hold_ns) {
			d->gap = false;
			tech(c, CP_TECH_SEQUENCE_GAP, &s, false, now, NAN);
		}
	}
	for (size_t i = 0; c->sender != NULL && i <= c->sender_mask; i++) {
		struct sender *sd = &c->sender[i];
		struct dp_event ev = {.ip_version = sd->ip_version};
		char key[SENDER_KEY_MAX];
		struct cp_subject s;

		if (sd->ip_version == 0 || !sd->present)
			continue;
		sender_roll(c, sd, now);
		if (sd->sum >= c->o.decode_errors_count)
			continue;
		sd->present = false;
		memcpy(ev.src, sd->addr, 16);
		sender_subject(&ev, key, sizeof(key), &s);
		tech(c, CP_TECH_DECODE_ERRORS, &s, false, now, NAN);
	}
}

struct rescore {
	struct cp_clinical *c;
	int64_t now;
};

/* A patient whose vitals stop coming: stale values drop out of the score. */
static int
rescore_one(void *arg, const struct cp_patient *pt)
{
	struct rescore *rs = arg;
	struct cp_subject s = {
		.device = pt->device,
		.patient = strncmp(pt->key, "device:", 7) == 0 ? "" : pt->key,
		.location = pt->location,
	};
	struct cp_news2 n;

	if (pt->news2_ns == 0 || rs->now - pt->news2_ns < RESCORE_NS)
		return 0;
	if (cp_patients_rescore(rs->c->patients, pt->key, rs->now, &n) == 0)
		news2_conditions(rs->c,
				 pt->device != 0 ? dev_get(rs->c, pt->device, rs->now) : NULL, &s,
				 &n, rs->now);
	return 0;
}

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void
restore_mark(struct cp_clinical *c)
{
	uint64_t from = cp_alarms_lowest_open(c->alarms);
	uint8_t be[8];

	if (from == UINT64_MAX)
		from = cp_alarms_next_id(c->alarms);
	if (c->o.store == NULL || c->storage_failing)
		return;
	/*
	 * What has been stored and announced: a restart announces the stored
	 * changes after it (a kill between the sync and the log line loses no
	 * announcement; one between the line and this write repeats it), and a
	 * replay after a restart skips what was seen (resume_ns). Live, at most
	 * once a second: it costs a sync.
	 */
	if (c->announced_ns > c->clock_said_ns &&
	    (c->o.packet_time || mono_ns() - c->clock_said_at >= CLOCK_META_EVERY_NS)) {
		for (unsigned i = 0; i < 8; i++)
			be[i] = (uint8_t)((uint64_t)c->announced_ns >> (56 - 8 * i));
		if (store_meta_put(c->o.store, CLOCK_META, be, sizeof(be)) == 0) {
			c->clock_said_ns = c->announced_ns;
			c->clock_said_at = mono_ns();
		}
	}
	if (from == c->restore_from)
		return;
	for (unsigned i = 0; i < 8; i++)
		be[i] = (uint8_t)(from >> (56 - 8 * i));
	if (store_meta_put(c->o.store, RESTORE_META, be, sizeof(be)) == 0)
		c->restore_from = from;
}

/* Time has come to @p now: the manager's deadlines, then the scans due. */
static void
advance(struct cp_clinical *c, int64_t now)
{
	cp_alarms_tick(c->alarms, now);
	if (now >= c->next_scan_ns) {
		scan(c, now);
		c->next_scan_ns = now + SEC;
	}
	if (now >= c->next_rescore_ns) {
		struct rescore rs = {.c = c, .now = now};

		cp_patients_foreach(c->patients, rescore_one, &rs);
		c->next_rescore_ns = now + RESCORE_NS;
	}
}

void
cp_clinical_tick(void *clinical)
{
	struct cp_clinical *c = clinical;
	int64_t now;
	int reload;

	if (atomic_exchange_explicit(&c->reopen, false, memory_order_acq_rel) && c->eve != NULL &&
	    cp_eve_reopen(c->eve) != 0) {
		fprintf(c->o.log,
			"vigild: alarm log %s: cannot reopen: %s (still writing the old "
			"file)\n",
			c->o.log_path, strerror(errno));
		fflush(c->o.log);
	}
	if (!c->o.packet_time) {
		c->now_ns = wall_ns();
	} else {
		/* Observations set the pace; a pass that found none means the
		 * rings are empty and the ALARM lane's time is the time. */
		if (c->tel_max_ns > c->now_ns)
			c->now_ns = c->tel_max_ns;
		if (!c->tel_this_pass && c->alarm_max_ns > c->now_ns)
			c->now_ns = c->alarm_max_ns;
	}
	/* A pass without TELEMETRY: the held hits' observations are not coming. */
	if (!c->tel_this_pass)
		held_release_all(c);
	c->tel_this_pass = false;
	now = c->now_ns;
	reload = atomic_exchange_explicit(&c->reload_state, 0, memory_order_acq_rel);
	if (reload != 0 && (reload == 1) != c->reload_present) {
		c->reload_present = reload == 1;
		tech(c, CP_TECH_RELOAD, &vigil_subject, c->reload_present, now, NAN);
	}
	if (c->storage_failing != c->storage_present) {
		c->storage_present = c->storage_failing;
		tech(c, CP_TECH_STORAGE, &vigil_subject, c->storage_present, now, NAN);
	}
	if (c->loss_present && now >= c->loss_until_ns) {
		c->loss_present = false;
		tech(c, CP_TECH_EVENT_LOSS, &vigil_subject, false, now, NAN);
	}
	if (now != 0) {
		if (c->n_restored > 0)
			end_restored(c, now);
		advance(c, now);
	}
	/* Acknowledgements and the like from other threads: stored with this tick. */
	run_calls(c, false);
	if (c->o.persist != NULL) {
		cp_persist_tick(c->o.persist);
		restore_mark(c);
	}
	ring_drain(c);
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                                */
/* ------------------------------------------------------------------------ */

int
cp_clinical_call(struct cp_clinical *c,
		 void (*fn)(void *arg, struct cp_alarms *alarms, int64_t now_ns), void *arg)
{
	struct call *k;

	if (c == NULL || fn == NULL)
		return -EINVAL;
	k = malloc(sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	*k = (struct call){.fn = fn, .arg = arg};
	pthread_mutex_lock(&c->call_lock);
	*c->calls_tail = k;
	c->calls_tail = &k->next;
	atomic_store_explicit(&c->calls_waiting, true, memory_order_release);
	pthread_mutex_unlock(&c->call_lock);
	return 0;
}

/* Run the calls waiting (writer thread); with @p cancel, tell them they will not run. */
static void
run_calls(struct cp_clinical *c, bool cancel)
{
	struct call *k, *next;

	if (!atomic_load_explicit(&c->calls_waiting, memory_order_acquire))
		return;
	pthread_mutex_lock(&c->call_lock);
	k = c->calls;
	c->calls = NULL;
	c->calls_tail = &c->calls;
	atomic_store_explicit(&c->calls_waiting, false, memory_order_relaxed);
	pthread_mutex_unlock(&c->call_lock);
	for (; k != NULL; k = next) {
		next = k->next;
		k->fn(k->arg, cancel ? NULL : c->alarms, c->now_ns);
		free(k);
	}
}

void
cp_clinical_set_announce(struct cp_clinical *c, void (*fn)(void *arg, const char *line, size_t len),
			 void *arg)
{
	pthread_mutex_lock(&c->hook_lock);
	c->on_announce = fn;
	c->announce_arg = arg;
	atomic_store_explicit(&c->has_hook, fn != NULL, memory_order_release);
	pthread_mutex_unlock(&c->hook_lock);
}

void
cp_clinical_reopen_log(struct cp_clinical *c)
{
	atomic_store_explicit(&c->reopen, true, memory_order_release);
}

void
cp_clinical_reload_result(struct cp_clinical *c, bool ok)
{
	atomic_store_explicit(&c->reload_state, ok ? 2 : 1, memory_order_release);
}

void
cp_clinical_storage_condition(void *clinical, int rc)
{
	struct cp_clinical *c = clinical;

	c->storage_failing = rc < 0;
}

struct cp_alarms *
cp_clinical_alarms(struct cp_clinical *c)
{
	return c->alarms;
}

struct cp_patients *
cp_clinical_patients(struct cp_clinical *c)
{
	return c->patients;
}

void
cp_clinical_hooks(struct cp_clinical *c, struct cp_event_hooks *hooks)
{
	*hooks = (struct cp_event_hooks){
		.on_alarm = on_alarm,
		.on_telemetry = on_telemetry,
		.arg = c,
	};
}

void
cp_clinical_opts_of_config(const struct cp_config *cfg, struct cp_clinical_opts *o)
{
	memset(o, 0, sizeof(*o));
	cp_alarm_opts_defaults(&o->alarm);
	o->alarm.hold_ns = (int64_t)cfg->alarm_hold_s * SEC;
	o->alarm.silence_ns = (int64_t)cfg->alarm_silence_s * SEC;
	o->alarm.max_conditions = cfg->alarm_conditions;
	o->patient = cfg->patients;
	o->n_settings = cfg->n_patient_settings;
	o->settings = cfg->patient_settings;
	o->device_silent_ns = (int64_t)cfg->device_silent_s * SEC;
	o->decode_errors_count = cfg->decode_errors_count;
	o->decode_errors_ns = (int64_t)cfg->decode_errors_s * SEC;
	memcpy(o->tech_priority, cfg->tech_priority, sizeof(o->tech_priority));
	o->log_path = cfg->alarm_log;
	o->log = stderr;
}

static size_t
pow2_at_least(size_t n)
{
	size_t p = 1024;

	while (p < n)
		p <<= 1;
	return p;
}

static void
builtin_rules(struct cp_clinical *c)
{
	static const struct {
		uint32_t sid;
		enum rule_priority priority;
		const char *msg;
	} news2[3] = {
		{CP_SID_NEWS2_RED, RULE_PRIO_LOW, "NEWS2: a single parameter scores 3 (red score)"},
		{CP_SID_NEWS2_URGENT, RULE_PRIO_MEDIUM, "NEWS2 5 or more: urgent response"},
		{CP_SID_NEWS2_EMERGENCY, RULE_PRIO_HIGH, "NEWS2 7 or more: emergency response"},
	};

	for (unsigned t = 0; t < CP_TECH__COUNT; t++) {
		struct cp_alarm_rule *r = &c->tech[t];

		memset(r, 0, sizeof(*r));
		r->sid = techs[t].sid;
		r->rev = 1;
		r->priority = c->o.tech_priority[t] != RULE_PRIO_NONE ? c->o.tech_priority[t]
								      : techs[t].priority;
		r->kind = RULE_KIND_TECHNICAL;
		snprintf(r->msg, sizeof(r->msg), "%s", techs[t].msg);
	}
	for (unsigned i = 0; i < 3; i++) {
		struct cp_alarm_rule *r = &c->news2_rule[i];

		memset(r, 0, sizeof(*r));
		r->sid = news2[i].sid;
		r->rev = 1;
		r->priority = news2[i].priority;
		r->kind = RULE_KIND_PHYSIOLOGICAL;
		snprintf(r->msg, sizeof(r->msg), "%s", news2[i].msg);
	}
}

/*
 * A technical alarm open at the restart. Its flag here starts clear, so
 * nothing would ever end it: a silent device's ends when the device is
 * heard from again; the others are judged anew, so they end at the first
 * tick (and come back if their condition is still there).
 */
static void
restored_tech(struct cp_clinical *c, const struct cp_alarm *a)
{
	struct restored *r;

	if (a->sid == CP_SID_DEVICE_SILENT) {
		if (c->n_silent < RESTORED_MAX)
			c->silent_restored[c->n_silent++] = a->device;
		else
			count(c, CP_CLIN_untracked, 1);
		return;
	}
	if (c->n_restored == RESTORED_MAX) {
		count(c, CP_CLIN_untracked, 1);
		return;
	}
	r = &c->restored[c->n_restored++];
	r->sid = a->sid;
	r->device = a->device;
	snprintf(r->subject, sizeof(r->subject), "%s",
		 strncmp(a->subject, "device:", 7) == 0 ? "" : a->subject);
}

/* The first tick after a restart ends the restored technical conditions. */
static void
end_restored(struct cp_clinical *c, int64_t now)
{
	for (unsigned i = 0; i < c->n_restored; i++) {
		const struct restored *r = &c->restored[i];
		struct cp_subject s = {.device = r->device, .patient = r->subject};

		for (unsigned t = 0; t < CP_TECH__COUNT; t++)
			if (c->tech[t].sid == r->sid)
				tech(c, t, &s, false, now, NAN);
	}
	c->n_restored = 0;
}

struct restore_scan {
	struct cp_clinical *c;
	unsigned restored;
	unsigned announced; /* stored changes announced again: after CLOCK_META */
	int64_t newest_ns;
	int64_t announced_upto; /* CLOCK_META as read */
};

static int
restore_one(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	struct restore_scan *rs = arg;
	struct cp_alarm *a;
	int rc;

	(void)id;
	(void)time_ns;
	a = malloc(sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	rc = cp_alarm_from_json(json, len, a);
	if (rc != 0) {
		/* Not an alarm record of this version: counted (restore_failed), skipped. */
		memset(a, 0, sizeof(*a));
		cp_alarms_restore(rs->c->alarms, a);
		free(a);
		return 0;
	}
	if (a->changed_ns > rs->newest_ns)
		rs->newest_ns = a->changed_ns;
	/* Stored, maybe never announced (killed in between): announce it now. */
	if (a->changed_ns > rs->announced_upto && a->n_hist > 0) {
		announce(rs->c, a, a->hist[a->n_hist - 1].change, true);
		rs->announced++;
	}
	if (cp_alarms_restore(rs->c->alarms, a) == 1) {
		rs->restored++;
		if (a->source == CP_ALS_TECHNICAL)
			restored_tech(rs->c, a);
	}
	free(a);
	return 0;
}

/* Take back the alarms that were open when vigild stopped. */
static int
restore(struct cp_clinical *c)
{
	struct restore_scan rs = {.c = c};
	uint64_t from = 1, next = store_alarm_next_id(c->o.store);
	uint8_t be[8];

	if (store_meta_get(c->o.store, RESTORE_META, be, sizeof(be)) == (int)sizeof(be)) {
		from = 0;
		for (unsigned i = 0; i < 8; i++)
			from = from << 8 | be[i];
	}
	if (store_meta_get(c->o.store, CLOCK_META, be, sizeof(be)) == (int)sizeof(be)) {
		for (unsigned i = 0; i < 8; i++)
			rs.announced_upto = (int64_t)((uint64_t)rs.announced_upto << 8 | be[i]);
		c->clock_said_ns = rs.announced_upto;
		rs.newest_ns = rs.announced_upto;
	} else if (from < next) {
		/* An older store: what it holds was announced by then. */
		rs.announced_upto = INT64_MAX;
	}
	for (uint64_t id = from; id < next; id++) {
		int rc = store_alarm_get(c->o.store, id, restore_one, &rs);

		if (rc != 0 && rc != -ENOENT)
			return rc;
	}
	c->restore_from = from;
	c->newest_change_ns = rs.newest_ns;
	c->announced_ns = rs.newest_ns;
	c->resume_ns = rs.newest_ns;
	if (c->o.packet_time)
		c->now_ns = rs.newest_ns;
	if (rs.restored > 0 || from < next) {
		fprintf(c->o.log,
			"vigild: alarms: %u open alarm%s restored from storage (ids %" PRIu64
			" to %" PRIu64 " read; %u stored change%s announced again)\n",
			rs.restored, rs.restored == 1 ? "" : "s", from, next - 1, rs.announced,
			rs.announced == 1 ? "" : "s");
		fflush(c->o.log);
	}
	return 0;
}

int
cp_clinical_new(const struct cp_clinical_opts *o, struct cp_clinical **out)
{
	struct cp_alarm_opts ao;
	struct cp_clinical *c;
	size_t devs;
	int rc;

	if (o == NULL || out == NULL)
		return -EINVAL;
	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->o = *o;
	pthread_mutex_init(&c->call_lock, NULL);
	pthread_mutex_init(&c->hook_lock, NULL);
	c->calls_tail = &c->calls;
	if (c->o.log == NULL)
		c->o.log = stderr;
	if (c->o.alarm.hold_ns <= 0)
		c->o.alarm.hold_ns = 60 * SEC;
	if (c->o.decode_errors_ns <= 0)
		c->o.decode_errors_ns = 60 * SEC;
	builtin_rules(c);
	if (c->o.dp != NULL)
		c->registry = dp_registry_of(c->o.dp);
	devs = pow2_at_least(c->o.patient.max_patients * 2u + 1024);
	c->dev = calloc(devs, sizeof(*c->dev));
	c->sender = calloc(1024, sizeof(*c->sender));
	if (c->dev == NULL || c->sender == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	c->dev_mask = devs - 1;
	c->sender_mask = 1024 - 1;
	rc = cp_patients_new(&c->o.patient, &c->patients);
	if (rc != 0)
		goto fail;
	for (unsigned i = 0; i < c->o.n_settings; i++) {
		const struct cp_patient_setting *st = &c->o.settings[i];

		rc = cp_patients_set(c->patients, st->patient, st->oxygen, st->acvpu, st->scale2);
		if (rc != 0)
			goto fail;
	}
	ao = c->o.alarm;
	ao.on_change = on_change;
	ao.arg = c;
	if (c->o.store != NULL)
		ao.first_id = store_alarm_next_id(c->o.store);
	rc = cp_alarms_new(&ao, &c->alarms);
	if (rc != 0)
		goto fail;
	if (c->o.log_path != NULL) {
		rc = cp_eve_open(c->o.log_path, &c->eve);
		if (rc != 0) {
			fprintf(c->o.log, "vigild: alarm log %s: %s\n", c->o.log_path,
				strerror(-rc));
			fflush(c->o.log);
			goto fail;
		}
	}
	/* After the log is open: a stored change never announced is announced here. */
	if (c->o.store != NULL) {
		rc = restore(c);
		if (rc != 0)
			goto fail;
	}
	if (c->o.persist != NULL) {
		cp_persist_hooks(c->o.persist, &c->persist);
		cp_persist_notify(c->o.persist, on_stored, cp_clinical_storage_condition, c);
	}
	atomic_init(&c->reload_state, 0);
	atomic_init(&c->reopen, false);
	*out = c;
	return 0;
fail:
	cp_clinical_free(c);
	return rc;
}

void
cp_clinical_free(struct cp_clinical *c)
{
	if (c == NULL)
		return;
	if (c->alarms != NULL)
		held_release_all(c);
	if (c->o.persist != NULL && c->alarms != NULL) {
		cp_persist_flush(c->o.persist);
		restore_mark(c);
	}
	ring_drain(c);
	/* What is still not ready was never written: announce it, unstored. */
	while (c->ring_head != c->ring_tail) {
		struct announce *an = &c->ring[c->ring_head++ % ANNOUNCE_RING];

		announce(c, &an->alarm, an->change, false);
	}
	run_calls(c, true); /* each call runs once: these, cancelled */
	cp_alarms_free(c->alarms);
	cp_patients_free(c->patients);
	for (unsigned w = 0; w < DP_MAX_WORKERS; w++)
		free(c->held[w].ev);
	cp_eve_close(c->eve);
	free(c->dev);
	free(c->sender);
	pthread_mutex_destroy(&c->call_lock);
	pthread_mutex_destroy(&c->hook_lock);
	free(c);
}
