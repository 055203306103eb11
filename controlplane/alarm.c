/*
 * alarm.c - the alarm manager: IEC 60601-1-8 alarm semantics over the
 * conditions the control plane sees (DOMAIN.md section 6), single writer.
 *
 * controlplane.h ("The alarm manager") is the contract; this file adds how.
 *
 * Table. A fixed array of max_conditions records, allocated at start-up
 * (untouched pages stay unbacked: slots are handed out from a high-water
 * mark, then from a free list). One hash index by subject: a bucket's chain
 * holds every condition of the subjects that hash there, so the key
 * (subject, sid, event code) is a walk of one subject's few conditions, and
 * an observation of a subject with no condition costs one bucket read. A
 * second index by alarm id serves the operator actions and the readers.
 * Nothing is allocated per event once a condition exists.
 *
 * Time. Every state time is an event's receive time (wall_ns; the
 * capture's on a replay) or the deadline that fired: a delay that ran out
 * raises at onset + delay, an escalation happens at raised + after, a hold
 * ends at last hit + hold, a pause ends at silenced_until, whenever the
 * tick that notices comes. So a replay gives the same record however often
 * it ticks. Deadlines live in a min-heap keyed by each condition's next
 * deadline; a key may be earlier than the real deadline (a hit pushed a
 * hold back) and is corrected when it comes up, so a hit never touches the
 * heap. Each call first lets the deadlines up to its time run out.
 *
 * A message-level hit that starts a condition without a delay raises it at
 * the next call about anything else (the consumer's tick at the latest),
 * with the hit's time: the device alarm event of the same message, which
 * the workers put right after its hits, first ties it to the device's
 * event code, so that the RAISED record names it and a restore knows the
 * condition waits for that event's end. A message split across two
 * consumer passes loses that tie in the record (it then ends by hold once
 * restored).
 *
 * Ordering. Hits and observations of one message carry the same key
 * (the observation's time, the worker's tsc). The consumer drains the
 * ALARM lane before TELEMETRY, so an observation may arrive after the hits
 * of a newer message: it ends a metric condition only if its key is
 * strictly newer than the condition's last hit (equal: the message that
 * hit; older: stale_obs).
 *
 * Threads. Only the writer changes anything, and it holds the mutex while
 * it does; readers copy under it. on_change is called with the mutex
 * released (the writer's record is stable: nobody else writes it), so a
 * slow callback never holds a reader up. A final alarm is unlinked first
 * (readers no longer see it), then announced, then its slot is freed.
 * on_change must not call the manager's writer functions (readers are fine).
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

#include <jansson.h>

#include "controlplane.h"

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S INT64_C(1000000000)
#define NO_SLOT UINT32_MAX
#define MAX_CONDITIONS (1u << 24)
#define LINK_MAX 32   /* message-level hits of one message that can be tied to its alarm */
#define THR_SETS 1024 /* threshold table: sets of THR_WAYS entries (4096 tracks) */
#define THR_WAYS 4
#define SUBJECT_DEVICE_LEN 23 /* "device:" and 16 hex digits */

void
cp_alarm_opts_defaults(struct cp_alarm_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->first_id = 1;
	o->hold_ns = 60 * (int64_t)1000000000;
	o->silence_ns = 120 * (int64_t)1000000000;
	o->max_conditions = 65536;
}

/* ------------------------------------------------------------------------ */
/* Names                                                                     */
/* ------------------------------------------------------------------------ */

#define CP_X_NAME(name, desc) #name,
#define CP_X_DESC(name, desc) desc,
static const char *const counter_names[] = {CP_ALARM_COUNTERS(CP_X_NAME)};
static const char *const counter_descs[] = {CP_ALARM_COUNTERS(CP_X_DESC)};
#undef CP_X_NAME
#undef CP_X_DESC

const char *
cp_alarm_counter_name(enum cp_alarm_counter c)
{
	return (unsigned)c < CP_ALM__COUNT ? counter_names[c] : "?";
}

const char *
cp_alarm_counter_desc(enum cp_alarm_counter c)
{
	return (unsigned)c < CP_ALM__COUNT ? counter_descs[c] : "?";
}

static const char *const state_names[CP_ALARM__STATES] = {
	[CP_ALARM_PENDING] = "pending",	   [CP_ALARM_ACTIVE] = "active",
	[CP_ALARM_ACKED] = "acknowledged", [CP_ALARM_LATCHED] = "latched",
	[CP_ALARM_CLEARED] = "cleared",	   [CP_ALARM_RESET] = "reset",
};

static const char *const change_names[CP_ALC__COUNT] = {
	[CP_ALC_RAISED] = "raised",	      [CP_ALC_ESCALATED] = "escalated",
	[CP_ALC_DEESCALATED] = "deescalated", [CP_ALC_ACKED] = "acknowledged",
	[CP_ALC_SILENCED] = "silenced",	      [CP_ALC_UNSILENCED] = "unsilenced",
	[CP_ALC_LATCHED] = "latched",	      [CP_ALC_RETRIGGERED] = "retriggered",
	[CP_ALC_CLEARED] = "cleared",	      [CP_ALC_RESET] = "reset",
	[CP_ALC_RESTORED] = "restored",
};

#define SOURCES 4
static const char *const source_names[SOURCES] = {
	[CP_ALS_RULE] = "rule",
	[CP_ALS_DEVICE] = "device",
	[CP_ALS_TECHNICAL] = "technical",
	[CP_ALS_NEWS2] = "news2",
};

const char *
cp_alarm_state_name(enum cp_alarm_state s)
{
	return (unsigned)s < CP_ALARM__STATES ? state_names[s] : "?";
}

const char *
cp_alarm_change_name(enum cp_alarm_change c)
{
	return (unsigned)c < CP_ALC__COUNT ? change_names[c] : "?";
}

const char *
cp_alarm_source_name(enum cp_alarm_source s)
{
	return (unsigned)s < SOURCES ? source_names[s] : "?";
}

void
cp_alarm_rule_of(const struct rule *r, struct cp_alarm_rule *out)
{
	memset(out, 0, sizeof(*out));
	out->sid = r->sid;
	out->rev = r->rev;
	out->priority = r->priority;
	out->kind = r->kind;
	out->latch = r->latch;
	out->delay_ms = r->delay_ms;
	out->threshold.type = r->threshold.type;
	out->threshold.track = r->threshold.track;
	out->threshold.count = r->threshold.count;
	out->threshold.seconds = r->threshold.seconds;
	out->escalate.after_ms = r->escalate.after_ms;
	out->escalate.priority = r->escalate.priority;
	out->n_metrics = r->n_metrics < RULE_MAX_METRICS ? r->n_metrics : RULE_MAX_METRICS;
	memcpy(out->metric, r->metric, out->n_metrics * sizeof(out->metric[0]));
	snprintf(out->msg, sizeof(out->msg), "%s", r->msg != NULL ? r->msg : "");
}

/* ------------------------------------------------------------------------ */
/* The manager                                                               */
/* ------------------------------------------------------------------------ */

/* How a present condition comes to an end. */
enum ends_by {
	END_OBS = 0, /* a metric rule: an observation that did not hit */
	END_DEVICE,  /* tied to a device alarm: the device's end of that event */
	END_HOLD,    /* an instant condition: no hit for opts.hold_ns */
	END_CALLER,  /* technical and NEWS2: cp_alarms_condition(present false) */
};

/* The two heaps: deadlines, and open alarms by id (the lowest open one). */
enum { H_DUE = 0, H_ID, H__COUNT };

/* What fires when a condition's deadline comes. */
enum due_what { DUE_NONE = 0, DUE_RAISE, DUE_ESCALATE, DUE_UNSILENCE, DUE_HOLD };

/* Orders hits and observations: the observation's own time, then the tsc. */
struct hit_key {
	int64_t time_ns;
	uint64_t tsc;
};

struct cond {
	/* What an observation's walk of its subject's chain looks at. */
	uint64_t shash;
	uint32_t next_subj; /* subject chain; the free list once freed */
	uint32_t next_id;   /* id chain (raised alarms only) */
	uint32_t key_code;  /* the event-code part of the key (device alarms), else 0 */
	uint32_t link_code; /* a rule condition tied to this device event (END_DEVICE) */
	uint8_t ends_by;    /* enum ends_by */
	bool in_use;
	bool defer;	     /* raise once its message's device alarm has been seen (link_flush) */
	struct hit_key last; /* the newest hit */
	uint64_t serial;     /* which use of the slot (a tie to a message checks it) */
	int64_t hkey[H__COUNT];
	uint32_t hpos[H__COUNT];
	struct cp_alarm_rule rule;
	struct cp_alarm a;
};

/*
 * One threshold track: (sid, track key). The table is 4-way set
 * associative. When a set is full, the track used longest ago is
 * forgotten: its next hit starts a fresh window, so a forgotten track can
 * let through a condition its threshold would have held back (it errs
 * towards alarming, never towards silence).
 */
struct thr {
	bool used;
	bool fresh; /* the next hit starts a new window */
	bool fired; /* `both`: this window's one condition has started */
	uint32_t sid;
	uint32_t count;
	int64_t start_ns;
	int64_t last_ns;
	char key[CP_PATIENT_ID_MAX + 1];
};

struct cp_alarms {
	struct cp_alarm_opts o;
	pthread_mutex_t lock;
	struct cond *cond;
	unsigned cap;
	unsigned hw; /* slots below this have been used at least once */
	uint32_t free_head;
	uint32_t mask; /* bucket count - 1, both indexes */
	uint32_t *sbucket;
	uint32_t *ibucket;
	uint32_t *heap[H__COUNT];
	unsigned heap_n[H__COUNT];
	uint64_t next_id;
	uint64_t serial;
	int64_t now_ns; /* the newest time seen: deadlines up to it have run out */
	struct {
		bool valid;
		bool deferred; /* some of them wait to be raised (link_flush) */
		uint8_t worker;
		uint64_t device, tsc;
		unsigned n;
		struct {
			uint32_t slot;
			uint64_t serial;
		} c[LINK_MAX];
	} link; /* the conditions the last message's message-level hits touched */
	struct thr *thr;
	_Atomic uint64_t cnt[CP_ALM__COUNT];
};

/* One writer: a relaxed load and store, no locked instruction. */
static void
count(struct cp_alarms *m, enum cp_alarm_counter c)
{
	atomic_store_explicit(&m->cnt[c],
			      atomic_load_explicit(&m->cnt[c], memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static void
lock(struct cp_alarms *m)
{
	pthread_mutex_lock(&m->lock);
}

static void
unlock(struct cp_alarms *m)
{
	pthread_mutex_unlock(&m->lock);
}

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

static uint64_t
hash_bytes(const char *p, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return mix64(h);
}

static void
hex16(char *out, uint64_t v)
{
	static const char digits[] = "0123456789ABCDEF";

	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = digits[v & 15];
	out[16] = '\0';
}

/* A subject as the key has it: the patient, or "device:<16 hex>". */
struct skey {
	const char *p;
	size_t len;
	uint64_t h;
	char buf[SUBJECT_DEVICE_LEN + 1];
};

static void
skey_of(const struct cp_subject *s, struct skey *k)
{
	if (s->patient != NULL && s->patient[0] != '\0') {
		k->p = s->patient;
		k->len = strnlen(s->patient, CP_PATIENT_ID_MAX);
	} else {
		memcpy(k->buf, "device:", 7);
		hex16(k->buf + 7, s->device);
		k->p = k->buf;
		k->len = SUBJECT_DEVICE_LEN;
	}
	k->h = s->hash != 0 ? s->hash : hash_bytes(k->p, k->len);
}

uint64_t
cp_subject_hash(const struct cp_subject *s)
{
	struct cp_subject plain = *s;
	struct skey k;

	plain.hash = 0;
	skey_of(&plain, &k);
	return k.h != 0 ? k.h : 1;
}

static bool
subject_is(const struct cond *c, const struct skey *k)
{
	return c->shash == k->h && memcmp(c->a.subject, k->p, k->len) == 0 &&
	       c->a.subject[k->len] == '\0';
}

static void
copy_text(char *dst, size_t size, const char *src)
{
	size_t n = src != NULL ? strnlen(src, size - 1) : 0;

	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

static bool
is_open(uint8_t state)
{
	return state == CP_ALARM_ACTIVE || state == CP_ALARM_ACKED || state == CP_ALARM_LATCHED;
}

static bool
is_present(uint8_t state)
{
	return state == CP_ALARM_PENDING || state == CP_ALARM_ACTIVE || state == CP_ALARM_ACKED;
}

static int
key_cmp(struct hit_key a, struct hit_key b)
{
	if (a.time_ns != b.time_ns)
		return a.time_ns < b.time_ns ? -1 : 1;
	if (a.tsc != b.tsc)
		return a.tsc < b.tsc ? -1 : 1;
	return 0;
}

static uint32_t
slot_of(const struct cp_alarms *m, const struct cond *c)
{
	return (uint32_t)(c - m->cond);
}

/* ------------------------------------------------------------------------ */
/* Heaps (writer only)                                                       */
/* ------------------------------------------------------------------------ */

static void
heap_place(struct cp_alarms *m, int w, uint32_t i, uint32_t slot)
{
	m->heap[w][i] = slot;
	m->cond[slot].hpos[w] = i;
}

static void
heap_up(struct cp_alarms *m, int w, uint32_t i)
{
	uint32_t slot = m->heap[w][i];
	int64_t key = m->cond[slot].hkey[w];

	while (i > 0) {
		uint32_t p = (i - 1) / 2;

		if (m->cond[m->heap[w][p]].hkey[w] <= key)
			break;
		heap_place(m, w, i, m->heap[w][p]);
		i = p;
	}
	heap_place(m, w, i, slot);
}

static void
heap_down(struct cp_alarms *m, int w, uint32_t i)
{
	uint32_t slot = m->heap[w][i], n = m->heap_n[w];
	int64_t key = m->cond[slot].hkey[w];

	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, best = l;

		if (l >= n)
			break;
		if (r < n && m->cond[m->heap[w][r]].hkey[w] < m->cond[m->heap[w][l]].hkey[w])
			best = r;
		if (m->cond[m->heap[w][best]].hkey[w] >= key)
			break;
		heap_place(m, w, i, m->heap[w][best]);
		i = best;
	}
	heap_place(m, w, i, slot);
}

/* Insert, or move earlier; a later key is left as it is (corrected when it comes up). */
static void
heap_lower(struct cp_alarms *m, int w, uint32_t slot, int64_t key)
{
	struct cond *c = &m->cond[slot];

	if (c->hpos[w] == NO_SLOT) {
		c->hkey[w] = key;
		heap_place(m, w, m->heap_n[w]++, slot);
		heap_up(m, w, c->hpos[w]);
	} else if (key < c->hkey[w]) {
		c->hkey[w] = key;
		heap_up(m, w, c->hpos[w]);
	}
}

static void
heap_del(struct cp_alarms *m, int w, uint32_t slot)
{
	struct cond *c = &m->cond[slot];
	uint32_t i = c->hpos[w], last;

	if (i == NO_SLOT)
		return;
	c->hpos[w] = NO_SLOT;
	last = m->heap[w][--m->heap_n[w]];
	if (last == slot)
		return;
	heap_place(m, w, i, last);
	heap_down(m, w, i);
	heap_up(m, w, m->cond[last].hpos[w]);
}

/* ------------------------------------------------------------------------ */
/* The table                                                                 */
/* ------------------------------------------------------------------------ */

static struct cond *
find(struct cp_alarms *m, const struct skey *k, uint32_t sid, uint32_t code)
{
	for (uint32_t i = m->sbucket[k->h & m->mask]; i != NO_SLOT; i = m->cond[i].next_subj) {
		struct cond *c = &m->cond[i];

		if (c->a.sid == sid && c->key_code == code && subject_is(c, k))
			return c;
	}
	return NULL;
}

static struct cond *
find_id(struct cp_alarms *m, uint64_t id)
{
	if (id == 0)
		return NULL;
	for (uint32_t i = m->ibucket[mix64(id) & m->mask]; i != NO_SLOT; i = m->cond[i].next_id)
		if (m->cond[i].a.id == id)
			return &m->cond[i];
	return NULL;
}

/* Under the lock: into the id index (a raised alarm). */
static void
id_link(struct cp_alarms *m, struct cond *c)
{
	uint32_t *b = &m->ibucket[mix64(c->a.id) & m->mask];

	c->next_id = *b;
	*b = slot_of(m, c);
}

static void
unlink_chain(struct cp_alarms *m, uint32_t *head, uint32_t slot, bool by_id)
{
	for (uint32_t *p = head; *p != NO_SLOT;) {
		struct cond *x = &m->cond[*p];

		if (*p == slot) {
			*p = by_id ? x->next_id : x->next_subj;
			return;
		}
		p = by_id ? &x->next_id : &x->next_subj;
	}
}

/*
 * A new condition, pending, in the table (under the lock: a reader may be
 * scanning slots). NULL when the table is full (counted).
 */
static struct cond *
create(struct cp_alarms *m, const struct cp_alarm_rule *rule, enum cp_alarm_source source,
       const struct cp_subject *subj, const struct skey *k, uint32_t key_code, int64_t t)
{
	uint32_t slot;
	struct cond *c;

	if (m->free_head == NO_SLOT && m->hw == m->cap) {
		count(m, CP_ALM_conditions_full);
		return NULL;
	}
	lock(m);
	if (m->free_head != NO_SLOT) {
		slot = m->free_head;
		m->free_head = m->cond[slot].next_subj;
	} else {
		slot = m->hw++;
	}
	c = &m->cond[slot];
	memset(c, 0, sizeof(*c));
	c->shash = k->h;
	c->key_code = key_code;
	c->serial = ++m->serial;
	c->hpos[H_DUE] = c->hpos[H_ID] = NO_SLOT;
	c->next_id = NO_SLOT;
	c->rule = *rule;
	c->rule.msg[sizeof(c->rule.msg) - 1] = '\0';
	c->a.sid = rule->sid;
	c->a.rev = rule->rev;
	c->a.source = (uint8_t)source;
	c->a.state = CP_ALARM_PENDING;
	c->a.priority = c->a.base_priority = rule->priority;
	c->a.kind = rule->kind;
	c->a.latch = rule->latch;
	memcpy(c->a.msg, c->rule.msg, sizeof(c->a.msg));
	memcpy(c->a.subject, k->p, k->len);
	c->a.subject[k->len] = '\0';
	copy_text(c->a.patient, sizeof(c->a.patient), subj->patient);
	copy_text(c->a.location, sizeof(c->a.location), subj->location);
	copy_text(c->a.device_id, sizeof(c->a.device_id), subj->device_id);
	c->a.device = subj->device;
	c->a.value = NAN;
	c->a.onset_ns = t;
	c->a.last_hit_ns = t;
	c->next_subj = m->sbucket[k->h & m->mask];
	m->sbucket[k->h & m->mask] = slot;
	c->in_use = true;
	unlock(m);
	return c;
}

/* Out of the indexes (under the lock), out of the heaps (writer only). */
static void
unlink_cond(struct cp_alarms *m, struct cond *c)
{
	uint32_t slot = slot_of(m, c);

	lock(m);
	unlink_chain(m, &m->sbucket[c->shash & m->mask], slot, false);
	if (c->a.id != 0)
		unlink_chain(m, &m->ibucket[mix64(c->a.id) & m->mask], slot, true);
	c->in_use = false;
	unlock(m);
	heap_del(m, H_DUE, slot);
	heap_del(m, H_ID, slot);
}

static void
free_slot(struct cp_alarms *m, struct cond *c)
{
	c->serial = 0;
	c->next_subj = m->free_head;
	m->free_head = slot_of(m, c);
}

/* ------------------------------------------------------------------------ */
/* Changes                                                                   */
/* ------------------------------------------------------------------------ */

/* Under the lock: one history entry, the oldest dropped when full. */
static void
hist_add(struct cp_alarm *a, enum cp_alarm_change ch, int64_t t, const char *by)
{
	struct cp_alarm_hist *h;

	if (a->n_hist >= CP_ALARM_HISTORY) {
		memmove(&a->hist[0], &a->hist[1], (CP_ALARM_HISTORY - 1) * sizeof(a->hist[0]));
		a->n_hist = CP_ALARM_HISTORY - 1;
		a->hist_dropped++;
	}
	h = &a->hist[a->n_hist++];
	memset(h, 0, sizeof(*h));
	h->change = (uint8_t)ch;
	h->state = a->state;
	h->priority = a->priority;
	h->time_ns = t;
	copy_text(h->by, sizeof(h->by), by);
	a->changed_ns = t;
}

static void
notify(struct cp_alarms *m, const struct cond *c, enum cp_alarm_change ch)
{
	if (m->o.on_change != NULL)
		m->o.on_change(m->o.arg, &c->a, ch);
}

/* A change's time never goes before the alarm's last one. */
static int64_t
change_time(const struct cond *c, int64_t t)
{
	return t < c->a.changed_ns ? c->a.changed_ns : t;
}

/* The next deadline of a condition and what it does (INT64_MAX: none). */
static int64_t
next_due(const struct cp_alarms *m, const struct cond *c, enum due_what *what)
{
	int64_t best = INT64_MAX, d;
	uint8_t st = c->a.state;

	*what = DUE_NONE;
	/* Ties go in this order: a delay that runs out as the hold does still raises. */
	if (st == CP_ALARM_PENDING && !c->defer) {
		best = c->a.onset_ns + (int64_t)c->rule.delay_ms * NS_PER_MS;
		*what = DUE_RAISE;
	}
	if (st == CP_ALARM_ACTIVE && c->rule.escalate.after_ms > 0 &&
	    c->a.priority < c->rule.escalate.priority) {
		d = c->a.raised_ns + (int64_t)c->rule.escalate.after_ms * NS_PER_MS;
		if (d < best) {
			best = d;
			*what = DUE_ESCALATE;
		}
	}
	if (c->a.silenced_until_ns != 0 && is_open(st) && c->a.silenced_until_ns < best) {
		best = c->a.silenced_until_ns;
		*what = DUE_UNSILENCE;
	}
	if (c->ends_by == END_HOLD && is_present(st)) {
		d = c->a.last_hit_ns + m->o.hold_ns;
		if (d < best) {
			best = d;
			*what = DUE_HOLD;
		}
	}
	return best;
}

static void
schedule(struct cp_alarms *m, struct cond *c)
{
	enum due_what what;
	int64_t d = next_due(m, c, &what);

	if (what != DUE_NONE)
		heap_lower(m, H_DUE, slot_of(m, c), d);
}

static void
raise_alarm(struct cp_alarms *m, struct cond *c, int64_t t)
{
	lock(m);
	c->a.id = m->next_id++;
	c->a.state = CP_ALARM_ACTIVE;
	c->a.raised_ns = t;
	c->a.priority = c->a.base_priority = c->rule.priority;
	c->a.hits = 1;
	hist_add(&c->a, CP_ALC_RAISED, t, "");
	id_link(m, c);
	unlock(m);
	heap_lower(m, H_ID, slot_of(m, c), (int64_t)c->a.id);
	count(m, CP_ALM_raised);
	notify(m, c, CP_ALC_RAISED);
	schedule(m, c);
}

/* A final change: recorded, unlinked, announced, freed. @p ended: it ended now. */
static void
finish(struct cp_alarms *m, struct cond *c, enum cp_alarm_state st, enum cp_alarm_change ch,
       int64_t t, const char *by, bool ended)
{
	lock(m);
	if (ended)
		c->a.ended_ns = t;
	c->a.state = (uint8_t)st;
	hist_add(&c->a, ch, t, by);
	unlock(m);
	unlink_cond(m, c);
	notify(m, c, ch);
	free_slot(m, c);
}

/* The condition is no longer present. */
static void
end_cond(struct cp_alarms *m, struct cond *c, int64_t t)
{
	switch (c->a.state) {
	case CP_ALARM_PENDING:
		count(m, CP_ALM_filtered_delay);
		unlink_cond(m, c);
		free_slot(m, c);
		return;
	case CP_ALARM_ACTIVE:
	case CP_ALARM_ACKED:
		t = change_time(c, t);
		if (!c->a.latch) {
			count(m, CP_ALM_cleared);
			finish(m, c, CP_ALARM_CLEARED, CP_ALC_CLEARED, t, "", true);
			return;
		}
		lock(m);
		c->a.ended_ns = t;
		c->a.state = CP_ALARM_LATCHED;
		hist_add(&c->a, CP_ALC_LATCHED, t, "");
		unlock(m);
		count(m, CP_ALM_latched);
		notify(m, c, CP_ALC_LATCHED);
		return;
	default:
		return; /* latched already: held until reset */
	}
}

static void
set_priority(struct cp_alarms *m, struct cond *c, uint8_t prio, int64_t t)
{
	enum cp_alarm_change ch = prio > c->a.priority ? CP_ALC_ESCALATED : CP_ALC_DEESCALATED;

	lock(m);
	c->a.priority = prio;
	hist_add(&c->a, ch, change_time(c, t), "");
	unlock(m);
	if (ch == CP_ALC_ESCALATED)
		count(m, CP_ALM_escalated);
	notify(m, c, ch);
}

static void
ack_cond(struct cp_alarms *m, struct cond *c, const char *who, int64_t t)
{
	lock(m);
	c->a.state = CP_ALARM_ACKED;
	hist_add(&c->a, CP_ALC_ACKED, change_time(c, t), who);
	unlock(m);
	count(m, CP_ALM_acked);
	notify(m, c, CP_ALC_ACKED);
}

/* One deadline that came: the earliest of the condition's. */
static void
fire(struct cp_alarms *m, struct cond *c, enum due_what what, int64_t d)
{
	int64_t t = change_time(c, d);

	switch (what) {
	case DUE_RAISE:
		raise_alarm(m, c, t);
		break;
	case DUE_ESCALATE:
		set_priority(m, c, c->rule.escalate.priority, t);
		break;
	case DUE_UNSILENCE:
		lock(m);
		c->a.silenced_until_ns = 0;
		hist_add(&c->a, CP_ALC_UNSILENCED, t, "");
		unlock(m);
		notify(m, c, CP_ALC_UNSILENCED);
		break;
	case DUE_HOLD:
		end_cond(m, c, t);
		break;
	default:
		break;
	}
}

/* Let every deadline up to m->now_ns run out, in deadline order. */
static void
run_due(struct cp_alarms *m)
{
	while (m->heap_n[H_DUE] > 0) {
		uint32_t slot = m->heap[H_DUE][0];
		struct cond *c = &m->cond[slot];
		uint64_t serial = c->serial;
		enum due_what what;
		int64_t d;

		if (c->hkey[H_DUE] > m->now_ns)
			return;
		heap_del(m, H_DUE, slot);
		d = next_due(m, c, &what);
		if (what == DUE_NONE)
			continue;
		if (d > m->now_ns) {
			heap_lower(m, H_DUE, slot, d);
			continue;
		}
		fire(m, c, what, d);
		if (c->in_use && c->serial == serial)
			schedule(m, c);
	}
}

static void
advance(struct cp_alarms *m, int64_t t)
{
	if (t > m->now_ns)
		m->now_ns = t;
	run_due(m);
}

static bool
same_message(const struct cp_alarms *m, const struct dp_event *ev)
{
	return ev != NULL && m->link.valid && m->link.device == ev->device &&
	       m->link.tsc == ev->tsc && m->link.worker == ev->worker;
}

/*
 * Raise what a message-level hit started without a delay. Held back until
 * the message's device alarm (if any) has tied it to its event code, so
 * that the RAISED record already names the event: a restore needs it to
 * know the condition waits for the device's end.
 */
static void
link_flush(struct cp_alarms *m)
{
	if (!m->link.deferred)
		return;
	m->link.deferred = false;
	for (unsigned i = 0; i < m->link.n; i++) {
		struct cond *c = &m->cond[m->link.c[i].slot];

		if (!c->in_use || c->serial != m->link.c[i].serial || !c->defer)
			continue;
		c->defer = false;
		raise_alarm(m, c, c->a.onset_ns);
	}
}

/* Every writer call starts here: a call about another message releases the held raises. */
/*
 * Before an event: the previous message's held raises go out, and with
 * @p clock the deadlines up to @p t pass. Rule hits and device alarms do
 * not move the clock: the ALARM lane is drained first, so their times run
 * ahead of the observations still queued, and a delay must not run out
 * before an observation that ends its condition has been seen. The clock
 * moves with the observations, the conditions and cp_alarms_tick.
 */
static void
begin(struct cp_alarms *m, int64_t t, const struct dp_event *same, bool clock)
{
	if (!same_message(m, same))
		link_flush(m);
	if (clock)
		advance(m, t);
}

/* Seen present again: an update, or a latched alarm's condition back. */
static void
present_again(struct cp_alarms *m, struct cond *c, const struct cp_alarm_rule *rule,
	      struct hit_key key, int64_t t, uint32_t metric, double value)
{
	bool retrigger = c->a.state == CP_ALARM_LATCHED;

	lock(m);
	if (rule != NULL) {
		/* A reload may have changed the rule's facts: the latest apply. */
		c->rule = *rule;
		c->rule.msg[sizeof(c->rule.msg) - 1] = '\0';
		c->a.latch = rule->latch;
		if (c->ends_by == END_OBS || c->ends_by == END_HOLD)
			c->ends_by = rule->n_metrics > 0 ? END_OBS : END_HOLD;
	}
	if (t > c->a.last_hit_ns)
		c->a.last_hit_ns = t;
	if (key_cmp(key, c->last) > 0)
		c->last = key;
	if (metric != 0)
		c->a.metric = metric;
	c->a.value = value;
	if (c->a.state != CP_ALARM_PENDING)
		c->a.hits++;
	if (retrigger) {
		c->a.state = CP_ALARM_ACTIVE;
		c->a.ended_ns = 0;
		hist_add(&c->a, CP_ALC_RETRIGGERED, change_time(c, t), "");
	}
	unlock(m);
	if (retrigger) {
		count(m, CP_ALM_retriggered);
		notify(m, c, CP_ALC_RETRIGGERED);
	}
	/* The rule's facts may be new (a reload, or a restored alarm that
	 * comes back without its escalation): its deadlines follow them. */
	if (retrigger || rule != NULL)
		schedule(m, c);
}

/* A new condition starts: pending, or raised at once without a delay. */
static void
start(struct cp_alarms *m, struct cond *c, int64_t t)
{
	if (c->rule.delay_ms == 0)
		raise_alarm(m, c, t);
	else
		schedule(m, c);
}

/* ------------------------------------------------------------------------ */
/* Threshold                                                                 */
/* ------------------------------------------------------------------------ */

/* May a new condition of @p rule start? Every call is one would-be start. */
static bool
threshold_allows(struct cp_alarms *m, const struct cp_alarm_rule *rule,
		 const struct cp_subject *subj, int64_t t)
{
	char key[CP_PATIENT_ID_MAX + 1] = "";
	uint32_t need = rule->threshold.count > 0 ? rule->threshold.count : 1;
	int64_t window = (int64_t)rule->threshold.seconds * NS_PER_S;
	struct thr *set, *e = NULL;

	if (rule->threshold.type == RULE_THRESHOLD_NONE)
		return true;
	if (rule->threshold.track == RULE_TRACK_BED && subj->location != NULL &&
	    subj->location[0] != '\0')
		copy_text(key, sizeof(key), subj->location);
	else if (rule->threshold.track != RULE_TRACK_RULE)
		hex16(key, subj->device); /* by device, or a bed that is not known */
	set = &m->thr[(hash_bytes(key, strlen(key)) ^ mix64(rule->sid)) % THR_SETS * THR_WAYS];
	for (unsigned w = 0; w < THR_WAYS; w++)
		if (set[w].used && set[w].sid == rule->sid && strcmp(set[w].key, key) == 0)
			e = &set[w];
	if (e == NULL) {
		e = &set[0];
		for (unsigned w = 0; w < THR_WAYS && e->used; w++)
			if (!set[w].used || set[w].last_ns < e->last_ns)
				e = &set[w];
		memset(e, 0, sizeof(*e));
		e->used = true;
		e->fresh = true;
		e->sid = rule->sid;
		memcpy(e->key, key, sizeof(e->key));
	}
	e->last_ns = t;
	if (e->fresh || t - e->start_ns >= window) {
		e->fresh = false;
		e->fired = false;
		e->start_ns = t;
		e->count = 0;
	}
	e->count++;
	switch (rule->threshold.type) {
	case RULE_THRESHOLD_LIMIT:
		return e->count <= need;
	case RULE_THRESHOLD_THRESHOLD:
		if (e->count < need)
			return false;
		e->fresh = true;
		return true;
	case RULE_THRESHOLD_BOTH:
		if (e->count < need || e->fired)
			return false;
		e->fired = true;
		return true;
	default:
		return true;
	}
}

/* ------------------------------------------------------------------------ */
/* The writer's entry points                                                 */
/* ------------------------------------------------------------------------ */

int
cp_alarms_new(const struct cp_alarm_opts *o, struct cp_alarms **out)
{
	struct cp_alarms *m;
	size_t nb = 16;
	int rc = -ENOMEM;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	if (o != NULL)
		m->o = *o;
	else
		cp_alarm_opts_defaults(&m->o);
	if (m->o.max_conditions == 0 || m->o.max_conditions > MAX_CONDITIONS || m->o.hold_ns <= 0 ||
	    m->o.silence_ns <= 0) {
		rc = -EINVAL;
		goto fail;
	}
	m->cap = m->o.max_conditions;
	m->next_id = m->o.first_id != 0 ? m->o.first_id : 1;
	m->free_head = NO_SLOT;
	while (nb < 2 * (size_t)m->cap)
		nb *= 2;
	m->mask = (uint32_t)(nb - 1);
	/* calloc: the pages of slots never used are never touched. */
	m->cond = calloc(m->cap, sizeof(*m->cond));
	m->sbucket = malloc(nb * sizeof(uint32_t));
	m->ibucket = malloc(nb * sizeof(uint32_t));
	m->heap[H_DUE] = malloc(m->cap * sizeof(uint32_t));
	m->heap[H_ID] = malloc(m->cap * sizeof(uint32_t));
	m->thr = calloc(THR_SETS * THR_WAYS, sizeof(*m->thr));
	if (m->cond == NULL || m->sbucket == NULL || m->ibucket == NULL || m->heap[H_DUE] == NULL ||
	    m->heap[H_ID] == NULL || m->thr == NULL)
		goto fail;
	memset(m->sbucket, 0xff, nb * sizeof(uint32_t));
	memset(m->ibucket, 0xff, nb * sizeof(uint32_t));
	if (pthread_mutex_init(&m->lock, NULL) != 0)
		goto fail;
	*out = m;
	return 0;
fail:
	free(m->cond);
	free(m->sbucket);
	free(m->ibucket);
	free(m->heap[H_DUE]);
	free(m->heap[H_ID]);
	free(m->thr);
	free(m);
	return rc;
}

void
cp_alarms_free(struct cp_alarms *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->cond);
	free(m->sbucket);
	free(m->ibucket);
	free(m->heap[H_DUE]);
	free(m->heap[H_ID]);
	free(m->thr);
	free(m);
}

/* A message-level hit touched @p c: the device alarm of that message may tie it. */
static void
link_note(struct cp_alarms *m, const struct dp_event *ev, const struct cond *c)
{
	if (!same_message(m, ev)) {
		link_flush(m);
		m->link.valid = true;
		m->link.device = ev->device;
		m->link.tsc = ev->tsc;
		m->link.worker = ev->worker;
		m->link.n = 0;
	}
	/* Past LINK_MAX rules on one message, the rest stay instant (they end by hold). */
	if (m->link.n < LINK_MAX) {
		m->link.c[m->link.n].slot = slot_of(m, c);
		m->link.c[m->link.n].serial = c->serial;
		m->link.n++;
	}
}

void
cp_alarms_hit(struct cp_alarms *m, const struct dp_event *ev, const struct cp_alarm_rule *rule,
	      const struct cp_subject *subj)
{
	struct hit_key key = {ev->time_ns, ev->tsc};
	bool msg_hit = ev->obs_index == RULE_HIT_MSG;
	uint32_t metric = msg_hit ? 0 : ev->code;
	int64_t t = ev->wall_ns;
	struct skey k;
	struct cond *c;

	begin(m, t, msg_hit ? ev : NULL, false);
	skey_of(subj, &k);
	c = find(m, &k, rule->sid, 0);
	if (c != NULL) {
		present_again(m, c, rule, key, t, metric, ev->value);
	} else {
		if (!threshold_allows(m, rule, subj, t)) {
			count(m, CP_ALM_suppressed);
			goto out;
		}
		c = create(m, rule, CP_ALS_RULE, subj, &k, 0, t);
		if (c == NULL)
			goto out;
		count(m, CP_ALM_conditions);
		lock(m);
		c->ends_by = rule->n_metrics > 0 ? END_OBS : END_HOLD;
		c->last = key;
		c->a.metric = metric;
		c->a.value = ev->value;
		/* Past LINK_MAX hits on one message there is no room to hold it back. */
		c->defer = msg_hit && rule->delay_ms == 0 &&
			   (!same_message(m, ev) || m->link.n < LINK_MAX);
		unlock(m);
		if (!c->defer)
			start(m, c, t);
	}
	if (msg_hit && c->in_use) {
		link_note(m, ev, c);
		m->link.deferred |= c->defer;
	}
out:
	run_due(m);
}

void
cp_alarms_obs(struct cp_alarms *m, const struct dp_event *ev, const struct cp_subject *subj)
{
	struct hit_key key = {ev->time_ns, ev->tsc};
	struct skey k;
	uint32_t i;

	begin(m, ev->wall_ns, NULL, true);
	/* A value not fit for alarms says nothing about the patient: it ends nothing. */
	if (ev->flags & DP_OBS(INVALID))
		return;
	/* Most observations are of a subject with no condition: one bucket read. */
	if (subj->hash != 0 && m->sbucket[subj->hash & m->mask] == NO_SLOT) {
		run_due(m);
		return;
	}
	skey_of(subj, &k);
	for (i = m->sbucket[k.h & m->mask]; i != NO_SLOT;) {
		struct cond *c = &m->cond[i];
		bool watched = false;
		int cmp;

		i = c->next_subj; /* before c may be freed */
		if (c->ends_by != END_OBS || !is_present(c->a.state) || !subject_is(c, &k))
			continue;
		for (unsigned j = 0; j < c->rule.n_metrics && !watched; j++)
			watched = c->rule.metric[j] == ev->code;
		if (!watched)
			continue;
		cmp = key_cmp(key, c->last);
		if (cmp > 0)
			end_cond(m, c, ev->wall_ns);
		else if (cmp < 0)
			count(m, CP_ALM_stale_obs);
	}
	run_due(m);
}

static uint8_t
device_priority(uint8_t p)
{
	switch (p) {
	case DP_PRIO_HIGH:
		return RULE_PRIO_HIGH;
	case DP_PRIO_MEDIUM:
		return RULE_PRIO_MEDIUM;
	default:
		return RULE_PRIO_LOW;
	}
}

/* End the rule conditions of a subject tied to device event @p code. */
static void
end_linked(struct cp_alarms *m, const struct skey *k, uint32_t code, int64_t t)
{
	for (uint32_t i = m->sbucket[k->h & m->mask]; i != NO_SLOT;) {
		struct cond *c = &m->cond[i];

		i = c->next_subj;
		if (c->ends_by == END_DEVICE && c->a.source == CP_ALS_RULE &&
		    c->link_code == code && subject_is(c, k))
			end_cond(m, c, t);
	}
}

static bool
linked_present(struct cp_alarms *m, const struct skey *k, uint32_t code)
{
	for (uint32_t i = m->sbucket[k->h & m->mask]; i != NO_SLOT; i = m->cond[i].next_subj) {
		const struct cond *c = &m->cond[i];

		if (c->ends_by == END_DEVICE && c->a.source == CP_ALS_RULE &&
		    c->link_code == code && is_present(c->a.state) && subject_is(c, k))
			return true;
	}
	return false;
}

/* The message-level hits of this very message now stand for device event @p code. */
static void
link_apply(struct cp_alarms *m, const struct dp_event *ev, uint32_t code)
{
	if (!same_message(m, ev))
		return;
	for (unsigned i = 0; i < m->link.n; i++) {
		struct cond *c = &m->cond[m->link.c[i].slot];

		if (!c->in_use || c->serial != m->link.c[i].serial || c->rule.n_metrics > 0)
			continue;
		lock(m);
		c->link_code = code;
		c->a.event_code = code;
		c->ends_by = END_DEVICE;
		unlock(m);
	}
}

void
cp_alarms_dev_alarm(struct cp_alarms *m, const struct dp_event *ev, bool had_hits,
		    const struct cp_subject *subj)
{
	uint32_t code = ev->u.alarm.event_code;
	uint8_t phase = ev->u.alarm.phase, state = ev->u.alarm.state;
	bool is_end =
		phase == DP_PHASE_END || state == DP_ASTATE_INACTIVE || state == DP_ASTATE_OFF;
	struct hit_key key = {ev->time_ns, ev->tsc};
	const char *refid = rule_code_refid(code);
	int64_t t = ev->wall_ns;
	struct cp_alarm_rule rule;
	struct skey k;
	struct cond *c;

	begin(m, t, ev, false);
	skey_of(subj, &k);
	if (had_hits)
		link_apply(m, ev, code);
	link_flush(m);
	c = find(m, &k, CP_SID_DEVICE_ALARM, code);
	if (is_end) {
		/* The device's end wins, even over hits on the end message itself. */
		end_linked(m, &k, code, t);
		if (c != NULL)
			end_cond(m, c, t);
		goto out;
	}
	/* A keep-alive (MDC_EVT_ACTIVE) is the device saying it is there, not an alarm. */
	if (had_hits || (refid != NULL && strcmp(refid, "MDC_EVT_ACTIVE") == 0))
		goto out;
	if (c == NULL && linked_present(m, &k, code))
		goto out; /* a rule's alarm stands for it (a message its rule did not match) */
	memset(&rule, 0, sizeof(rule));
	rule.sid = CP_SID_DEVICE_ALARM;
	rule.rev = 1;
	rule.priority = device_priority(ev->u.alarm.priority);
	rule.kind = ev->u.alarm.type == DP_ATYPE_TECHNICAL  ? RULE_KIND_TECHNICAL
		    : ev->u.alarm.type == DP_ATYPE_ADVISORY ? RULE_KIND_ADVISORY
							    : RULE_KIND_PHYSIOLOGICAL;
	rule.latch = state == DP_ASTATE_LATCHED;
	if (refid != NULL)
		snprintf(rule.msg, sizeof(rule.msg), "Device alarm: %s", refid);
	else
		snprintf(rule.msg, sizeof(rule.msg), "Device alarm: %" PRIu32, code);
	if (c == NULL) {
		c = create(m, &rule, CP_ALS_DEVICE, subj, &k, code, t);
		if (c == NULL)
			goto out;
		count(m, CP_ALM_conditions);
		lock(m);
		c->ends_by = phase == DP_PHASE_TPOINT ? END_HOLD : END_DEVICE;
		c->last = key;
		c->a.event_code = code;
		c->a.metric = ev->u.alarm.source_code;
		c->a.value = ev->value;
		unlock(m);
		raise_alarm(m, c, t);
	} else {
		bool was_latched = c->a.state == CP_ALARM_LATCHED;

		lock(m);
		c->ends_by = phase == DP_PHASE_TPOINT ? END_HOLD : END_DEVICE;
		unlock(m);
		if (!(was_latched && state == DP_ASTATE_LATCHED)) {
			present_again(m, c, NULL, key, t, ev->u.alarm.source_code, ev->value);
			/* Latching follows the device: a retriggered one latches again only if
			 * told. */
			lock(m);
			c->a.latch = rule.latch;
			unlock(m);
		}
		if (ev->u.alarm.priority != DP_PRIO_UNKNOWN && c->a.state != CP_ALARM_LATCHED &&
		    rule.priority != c->a.priority)
			set_priority(m, c, rule.priority, t);
	}
	if (state == DP_ASTATE_LATCHED && c->a.state != CP_ALARM_LATCHED) {
		lock(m);
		c->a.latch = true;
		unlock(m);
		end_cond(m, c, t);
	}
	if (ev->u.alarm.inactivation == DP_INACT_ACKNOWLEDGED && c->a.state == CP_ALARM_ACTIVE)
		ack_cond(m, c, "device", t);
out:
	run_due(m);
}

void
cp_alarms_condition(struct cp_alarms *m, const struct cp_alarm_rule *rule,
		    enum cp_alarm_source source, const struct cp_subject *subj, bool present,
		    int64_t time_ns, uint32_t metric, double value, const char *response)
{
	struct hit_key key = {time_ns, 0};
	struct skey k;
	struct cond *c;

	begin(m, time_ns, NULL, true);
	skey_of(subj, &k);
	c = find(m, &k, rule->sid, 0);
	if (!present) {
		if (c != NULL)
			end_cond(m, c, time_ns);
		goto out;
	}
	if (c != NULL) {
		lock(m);
		/* The caller's text may say more now (an incomplete score): keep its latest. */
		memcpy(c->a.msg, rule->msg, sizeof(c->a.msg));
		c->a.msg[sizeof(c->a.msg) - 1] = '\0';
		c->a.response = response;
		unlock(m);
		present_again(m, c, rule, key, time_ns, metric, value);
		goto out;
	}
	if (!threshold_allows(m, rule, subj, time_ns)) {
		count(m, CP_ALM_suppressed);
		goto out;
	}
	c = create(m, rule, source, subj, &k, 0, time_ns);
	if (c == NULL)
		goto out;
	count(m, CP_ALM_conditions);
	lock(m);
	c->ends_by = END_CALLER;
	c->last = key;
	c->a.metric = metric;
	c->a.value = value;
	c->a.response = response;
	unlock(m);
	start(m, c, time_ns);
out:
	run_due(m);
}

void
cp_alarms_tick(struct cp_alarms *m, int64_t now_ns)
{
	begin(m, now_ns, NULL, true);
}

int
cp_alarms_ack(struct cp_alarms *m, uint64_t id, const char *who, int64_t now_ns)
{
	struct cond *c;

	begin(m, now_ns, NULL, true);
	c = find_id(m, id);
	if (c == NULL)
		return -ENOENT;
	if (c->a.state == CP_ALARM_ACKED)
		return -EALREADY;
	if (c->a.state != CP_ALARM_ACTIVE)
		return -EINVAL;
	ack_cond(m, c, who, now_ns);
	return 0;
}

int
cp_alarms_reset(struct cp_alarms *m, uint64_t id, const char *who, int64_t now_ns)
{
	struct cond *c;

	begin(m, now_ns, NULL, true);
	c = find_id(m, id);
	if (c == NULL)
		return -ENOENT;
	if (c->a.state != CP_ALARM_LATCHED)
		return -EINVAL;
	count(m, CP_ALM_reset);
	finish(m, c, CP_ALARM_RESET, CP_ALC_RESET, change_time(c, now_ns), who, false);
	return 0;
}

int
cp_alarms_silence(struct cp_alarms *m, uint64_t id, const char *who, int64_t for_ns, int64_t now_ns)
{
	struct cond *c;

	begin(m, now_ns, NULL, true);
	c = find_id(m, id);
	if (c == NULL)
		return -ENOENT;
	if (!is_open(c->a.state))
		return -EINVAL;
	lock(m);
	c->a.silenced_until_ns = now_ns + (for_ns > 0 ? for_ns : m->o.silence_ns);
	hist_add(&c->a, CP_ALC_SILENCED, change_time(c, now_ns), who);
	unlock(m);
	count(m, CP_ALM_silenced);
	notify(m, c, CP_ALC_SILENCED);
	schedule(m, c);
	return 0;
}

/* The metrics of @p code's family: what a restored metric condition watches. */
static unsigned
family_metrics(uint32_t code, uint32_t out[RULE_MAX_METRICS])
{
	const struct rule_metric *rm = rule_metric_by_code(code);
	unsigned n = 0;

	if (rm == NULL || rm->family == NULL) {
		out[0] = code;
		return 1;
	}
	for (size_t i = 0; i < rule_metric_count() && n < RULE_MAX_METRICS; i++) {
		const struct rule_metric *x = rule_metric_at(i);

		if (x->family != NULL && strcmp(x->family, rm->family) == 0)
			out[n++] = x->code;
	}
	return n;
}

/*
 * The record keeps the alarm, not its rule: a restored condition ends as
 * its kind does, with what can be told from the record. A metric rule's
 * condition watches every metric of its value's family (the rule's own
 * list is not stored); one tied to a device event (event_code set) waits
 * for that event's end; other rule conditions end by hold from their last
 * hit. The rule's delay, threshold and escalation are not known until its
 * next hit brings the rule's facts back.
 */
int
cp_alarms_restore(struct cp_alarms *m, const struct cp_alarm *a)
{
	struct cp_subject subj = {.device = a->device};
	struct cp_alarm_rule rule;
	uint32_t key_code;
	struct skey k;
	struct cond *c;

	if (!is_open(a->state))
		return 0;
	if (a->id == 0 || a->sid == 0 || a->subject[0] == '\0' || a->source >= SOURCES) {
		count(m, CP_ALM_restore_failed);
		return -EINVAL;
	}
	k.p = a->subject;
	k.len = strnlen(a->subject, CP_PATIENT_ID_MAX);
	k.h = hash_bytes(k.p, k.len);
	key_code = a->source == CP_ALS_DEVICE ? a->event_code : 0;
	if (find(m, &k, a->sid, key_code) != NULL || find_id(m, a->id) != NULL)
		return -EEXIST;
	memset(&rule, 0, sizeof(rule));
	rule.sid = a->sid;
	rule.rev = a->rev;
	rule.priority = a->base_priority;
	rule.kind = a->kind;
	rule.latch = a->latch;
	memcpy(rule.msg, a->msg, sizeof(rule.msg));
	rule.msg[sizeof(rule.msg) - 1] = '\0';
	if (a->source == CP_ALS_RULE && a->metric != 0 && a->event_code == 0)
		rule.n_metrics = family_metrics(a->metric, rule.metric);
	c = create(m, &rule, (enum cp_alarm_source)a->source, &subj, &k, key_code, a->onset_ns);
	if (c == NULL)
		return -ENOSPC;
	lock(m);
	c->a = *a;
	c->a.msg[sizeof(c->a.msg) - 1] = '\0';
	c->a.subject[k.len] = '\0';
	c->a.patient[sizeof(c->a.patient) - 1] = '\0';
	c->a.location[sizeof(c->a.location) - 1] = '\0';
	c->a.device_id[sizeof(c->a.device_id) - 1] = '\0';
	if (c->a.n_hist > CP_ALARM_HISTORY)
		c->a.n_hist = CP_ALARM_HISTORY;
	if (a->source == CP_ALS_RULE)
		c->ends_by = rule.n_metrics > 0	  ? END_OBS
			     : a->event_code != 0 ? END_DEVICE
						  : END_HOLD;
	else if (a->source == CP_ALS_DEVICE)
		c->ends_by = END_DEVICE;
	else
		c->ends_by = END_CALLER;
	c->link_code = a->event_code;
	/* Only what came after the last hit may end it: an older replayed value may not. */
	c->last.time_ns = a->last_hit_ns;
	c->last.tsc = 0;
	id_link(m, c);
	unlock(m);
	heap_lower(m, H_ID, slot_of(m, c), (int64_t)c->a.id);
	if (a->id >= m->next_id)
		m->next_id = a->id + 1;
	count(m, CP_ALM_restored);
	notify(m, c, CP_ALC_RESTORED);
	schedule(m, c);
	return 1;
}

uint64_t
cp_alarms_lowest_open(const struct cp_alarms *m)
{
	if (m->heap_n[H_ID] == 0)
		return UINT64_MAX;
	return m->cond[m->heap[H_ID][0]].a.id;
}

uint64_t
cp_alarms_next_id(const struct cp_alarms *m)
{
	return m->next_id;
}

/* ------------------------------------------------------------------------ */
/* Readers (any thread)                                                      */
/* ------------------------------------------------------------------------ */

int
cp_alarms_get(struct cp_alarms *m, uint64_t id, struct cp_alarm *out)
{
	const struct cond *c;
	int rc = -ENOENT;

	lock(m);
	c = find_id(m, id);
	if (c != NULL && is_open(c->a.state)) {
		*out = c->a;
		rc = 0;
	}
	unlock(m);
	return rc;
}

static int
id_order(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The ids under the lock, then each alarm copied under it again, so @p fn
 * runs without the lock (an alarm closed in between is skipped).
 */
int
cp_alarms_foreach(struct cp_alarms *m, int (*fn)(void *arg, const struct cp_alarm *a), void *arg)
{
	struct cp_alarm *copy = NULL;
	uint64_t *ids = NULL;
	size_t n = 0;
	int rc = 0;

	lock(m);
	for (unsigned i = 0; i < m->hw; i++)
		n += m->cond[i].in_use && is_open(m->cond[i].a.state);
	if (n > 0) {
		ids = malloc(n * sizeof(*ids));
		if (ids != NULL) {
			n = 0;
			for (unsigned i = 0; i < m->hw; i++)
				if (m->cond[i].in_use && is_open(m->cond[i].a.state))
					ids[n++] = m->cond[i].a.id;
		}
	}
	unlock(m);
	if (n == 0)
		return 0;
	copy = malloc(sizeof(*copy));
	if (ids == NULL || copy == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	qsort(ids, n, sizeof(*ids), id_order);
	for (size_t i = 0; i < n && rc == 0; i++)
		if (cp_alarms_get(m, ids[i], copy) == 0)
			rc = fn(arg, copy);
out:
	free(copy);
	free(ids);
	return rc;
}

void
cp_alarms_open_by_priority(struct cp_alarms *m, unsigned out[RULE_PRIO__COUNT])
{
	memset(out, 0, RULE_PRIO__COUNT * sizeof(out[0]));
	lock(m);
	for (unsigned i = 0; i < m->hw; i++) {
		const struct cond *c = &m->cond[i];

		if (c->in_use && is_open(c->a.state) && c->a.priority < RULE_PRIO__COUNT)
			out[c->a.priority]++;
	}
	unlock(m);
}

void
cp_alarms_counters(const struct cp_alarms *m, uint64_t out[CP_ALM__COUNT])
{
	for (unsigned i = 0; i < CP_ALM__COUNT; i++)
		out[i] = atomic_load_explicit(&m->cnt[i], memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* The stored record (JSON)                                                  */
/* ------------------------------------------------------------------------ */

/* "2024-03-01T08:02:15.000000Z" */
static void
iso_time(char *buf, size_t size, int64_t ns)
{
	if (store_time_format(ns, 6, buf, size) != 0)
		snprintf(buf, size, "?");
}

/*
 * A text as a JSON string. Texts from the wire may not be UTF-8 (HL7 is
 * often Latin-1): such a text is taken as Latin-1, so the record stays
 * readable JSON (it then reads back as its UTF-8 form, not byte for byte).
 */
json_t *
cp_json_text(const char *s)
{
	size_t len = strlen(s);
	json_t *j = json_stringn(s, len);
	char *u;
	size_t n = 0;

	if (j != NULL)
		return j;
	u = malloc(2 * len + 1);
	if (u == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		uint8_t b = (uint8_t)s[i];

		if (b < 0x80) {
			u[n++] = (char)b;
		} else {
			u[n++] = (char)(0xc0 | b >> 6);
			u[n++] = (char)(0x80 | (b & 0x3f));
		}
	}
	j = json_stringn(u, n);
	free(u);
	return j;
}

static int
set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v);
}

/* "<name>" (ISO or null) and "<name>_ns". */
static int
set_time(json_t *o, const char *name, int64_t ns)
{
	char key[32], iso[80];
	int bad = 0;

	iso_time(iso, sizeof(iso), ns);
	bad |= set(o, name, ns != 0 ? json_string(iso) : json_null());
	snprintf(key, sizeof(key), "%s_ns", name);
	bad |= set(o, key, json_integer(ns));
	return bad;
}

static const char *
prio_name(uint8_t p)
{
	return rule_priority_name((enum rule_priority)p);
}

char *
cp_alarm_json(const struct cp_alarm *a, size_t *len)
{
	const struct rule_metric *rm = a->metric != 0 ? rule_metric_by_code(a->metric) : NULL;
	json_t *o = json_object(), *hist = json_array(), *metric = NULL;
	char dev[17];
	char *text = NULL;
	int bad = o == NULL || hist == NULL;

	if (bad)
		goto out;
	hex16(dev, a->device);
	if (a->metric != 0) {
		metric = json_object();
		bad |= metric == NULL;
		if (metric != NULL) {
			bad |= set(metric, "code", json_integer(a->metric));
			bad |= set(metric, "name",
				   rm != NULL ? json_string(rm->name) : json_null());
		}
	}
	bad |= set(o, "id", json_integer((json_int_t)a->id));
	bad |= set(o, "sid", json_integer(a->sid));
	bad |= set(o, "rev", json_integer(a->rev));
	bad |= set(o, "source", json_string(cp_alarm_source_name(a->source)));
	bad |= set(o, "state", json_string(cp_alarm_state_name(a->state)));
	bad |= set(o, "priority", json_string(prio_name(a->priority)));
	bad |= set(o, "base_priority", json_string(prio_name(a->base_priority)));
	bad |= set(o, "kind", json_string(rule_kind_name((enum rule_kind)a->kind)));
	bad |= set(o, "latch", json_boolean(a->latch));
	bad |= set(o, "msg", cp_json_text(a->msg));
	bad |= set(o, "subject", cp_json_text(a->subject));
	bad |= set(o, "patient", cp_json_text(a->patient));
	bad |= set(o, "location", cp_json_text(a->location));
	bad |= set(o, "device_id", cp_json_text(a->device_id));
	bad |= set(o, "device", json_string(dev));
	bad |= set(o, "event_code", json_integer(a->event_code));
	bad |= set(o, "metric", metric != NULL ? metric : json_null());
	bad |= set(o, "value",
		   isnan(a->value) || isinf(a->value) ? json_null() : json_real(a->value));
	bad |= set(o, "response", a->response != NULL ? cp_json_text(a->response) : json_null());
	bad |= set_time(o, "onset", a->onset_ns);
	bad |= set_time(o, "raised", a->raised_ns);
	bad |= set_time(o, "changed", a->changed_ns);
	bad |= set_time(o, "ended", a->ended_ns);
	bad |= set_time(o, "last_hit", a->last_hit_ns);
	bad |= set_time(o, "silenced_until", a->silenced_until_ns);
	bad |= set(o, "hits", json_integer(a->hits));
	for (unsigned i = 0; i < a->n_hist && i < CP_ALARM_HISTORY && !bad; i++) {
		const struct cp_alarm_hist *h = &a->hist[i];
		json_t *e = json_object();

		if (e == NULL || json_array_append_new(hist, e) != 0) {
			bad = 1;
			break;
		}
		bad |= set(e, "change", json_string(cp_alarm_change_name(h->change)));
		bad |= set(e, "state", json_string(cp_alarm_state_name(h->state)));
		bad |= set(e, "priority", json_string(prio_name(h->priority)));
		bad |= set_time(e, "time", h->time_ns);
		bad |= set(e, "by", cp_json_text(h->by));
	}
	bad |= json_object_set(o, "history", hist);
	bad |= set(o, "history_dropped", json_integer(a->hist_dropped));
	if (!bad)
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text != NULL && len != NULL)
		*len = strlen(text);
out:
	json_decref(hist);
	json_decref(o);
	return text;
}

/* The index of @p s among @p n names (name(i)), or -1. */
static int
name_index(const json_t *v, unsigned n, const char *(*name)(unsigned))
{
	const char *s = json_string_value(v);

	for (unsigned i = 0; s != NULL && i < n; i++)
		if (strcmp(s, name(i)) == 0)
			return (int)i;
	return -1;
}

static const char *
state_at(unsigned i)
{
	return cp_alarm_state_name((enum cp_alarm_state)i);
}

static const char *
change_at(unsigned i)
{
	return cp_alarm_change_name((enum cp_alarm_change)i);
}

static const char *
source_at(unsigned i)
{
	return cp_alarm_source_name((enum cp_alarm_source)i);
}

static const char *
prio_at(unsigned i)
{
	return rule_priority_name((enum rule_priority)i);
}

static const char *
kind_at(unsigned i)
{
	return rule_kind_name((enum rule_kind)i);
}

/* An integer member (absent: 0). @return false when it is there but not an integer in range. */
static bool
get_int(const json_t *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
	const json_t *v = json_object_get(o, key);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_integer(v))
		return false;
	*out = json_integer_value(v);
	return *out >= min && *out <= max;
}

static bool
get_text(const json_t *o, const char *key, char *dst, size_t size)
{
	const json_t *v = json_object_get(o, key);
	const char *s;
	size_t n;

	dst[0] = '\0';
	if (v == NULL || json_is_null(v))
		return true;
	s = json_string_value(v);
	if (s == NULL)
		return false;
	n = json_string_length(v);
	if (n >= size)
		n = size - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

/* The static text a response is (only NEWS2's responses are ever kept), or NULL. */
static const char *
response_of(const json_t *v)
{
	const char *s = json_string_value(v);

	for (int r = CP_N2_RISK_LOW; s != NULL && r <= CP_N2_RISK_HIGH; r++)
		if (strcmp(s, cp_news2_response((enum cp_news2_risk)r)) == 0)
			return cp_news2_response((enum cp_news2_risk)r);
	return NULL;
}

static bool
read_history(const json_t *arr, struct cp_alarm *out)
{
	size_t n = json_array_size(arr), skip = n > CP_ALARM_HISTORY ? n - CP_ALARM_HISTORY : 0;

	if (arr != NULL && !json_is_array(arr))
		return false;
	out->hist_dropped += (uint32_t)skip;
	for (size_t i = skip; i < n; i++) {
		const json_t *e = json_array_get(arr, i);
		struct cp_alarm_hist *h = &out->hist[out->n_hist];
		int ch = name_index(json_object_get(e, "change"), CP_ALC__COUNT, change_at);
		int st = name_index(json_object_get(e, "state"), CP_ALARM__STATES, state_at);
		int pr = name_index(json_object_get(e, "priority"), RULE_PRIO__COUNT, prio_at);

		if (!json_is_object(e) || ch < 0 || st < 0 || pr < 0 ||
		    !get_int(e, "time_ns", INT64_MIN, INT64_MAX, &h->time_ns) ||
		    !get_text(e, "by", h->by, sizeof(h->by)))
			return false;
		h->change = (uint8_t)ch;
		h->state = (uint8_t)st;
		h->priority = (uint8_t)pr;
		out->n_hist++;
	}
	return true;
}

int
cp_alarm_from_json(const char *json, size_t len, struct cp_alarm *out)
{
	json_error_t err;
	json_t *o, *v;
	int64_t x;
	int st, src, pr, bpr, kind, rc = -EINVAL;
	bool ok = true;

	memset(out, 0, sizeof(*out));
	out->value = NAN;
	o = json_loadb(json, len, 0, &err);
	if (o == NULL)
		return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
	if (!json_is_object(o))
		goto out;
	st = name_index(json_object_get(o, "state"), CP_ALARM__STATES, state_at);
	src = name_index(json_object_get(o, "source"), SOURCES, source_at);
	pr = name_index(json_object_get(o, "priority"), RULE_PRIO__COUNT, prio_at);
	bpr = name_index(json_object_get(o, "base_priority"), RULE_PRIO__COUNT, prio_at);
	kind = name_index(json_object_get(o, "kind"), RULE_KIND__COUNT, kind_at);
	if (st < 0 || src < 0 || pr < 0 || bpr < 0 || kind < 0)
		goto out;
	out->state = (uint8_t)st;
	out->source = (uint8_t)src;
	out->priority = (uint8_t)pr;
	out->base_priority = (uint8_t)bpr;
	out->kind = (uint8_t)kind;
	ok &= get_int(o, "id", 1, INT64_MAX, &x);
	out->id = (uint64_t)x;
	ok &= get_int(o, "sid", 1, UINT32_MAX, &x);
	out->sid = (uint32_t)x;
	ok &= get_int(o, "rev", 0, UINT32_MAX, &x);
	out->rev = (uint32_t)x;
	ok &= get_int(o, "event_code", 0, UINT32_MAX, &x);
	out->event_code = (uint32_t)x;
	ok &= get_int(o, "hits", 0, UINT32_MAX, &x);
	out->hits = (uint32_t)x;
	ok &= get_int(o, "history_dropped", 0, UINT32_MAX, &x);
	out->hist_dropped = (uint32_t)x;
	ok &= get_int(o, "onset_ns", INT64_MIN, INT64_MAX, &out->onset_ns);
	ok &= get_int(o, "raised_ns", INT64_MIN, INT64_MAX, &out->raised_ns);
	ok &= get_int(o, "changed_ns", INT64_MIN, INT64_MAX, &out->changed_ns);
	ok &= get_int(o, "ended_ns", INT64_MIN, INT64_MAX, &out->ended_ns);
	ok &= get_int(o, "last_hit_ns", INT64_MIN, INT64_MAX, &out->last_hit_ns);
	ok &= get_int(o, "silenced_until_ns", INT64_MIN, INT64_MAX, &out->silenced_until_ns);
	ok &= get_text(o, "msg", out->msg, sizeof(out->msg));
	ok &= get_text(o, "subject", out->subject, sizeof(out->subject));
	ok &= get_text(o, "patient", out->patient, sizeof(out->patient));
	ok &= get_text(o, "location", out->location, sizeof(out->location));
	ok &= get_text(o, "device_id", out->device_id, sizeof(out->device_id));
	if (!ok || out->id == 0 || out->sid == 0)
		goto out;
	v = json_object_get(o, "latch");
	if (v != NULL && !json_is_boolean(v))
		goto out;
	out->latch = json_is_true(v);
	v = json_object_get(o, "device");
	if (v != NULL && !json_is_null(v)) {
		const char *s = json_string_value(v);
		char *end = NULL;

		if (s == NULL || strlen(s) != 16 || strspn(s, "0123456789abcdefABCDEF") != 16)
			goto out;
		out->device = strtoull(s, &end, 16);
	}
	v = json_object_get(o, "metric");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_object(v) || !get_int(v, "code", 0, UINT32_MAX, &x))
			goto out;
		out->metric = (uint32_t)x;
	}
	v = json_object_get(o, "value");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_number(v))
			goto out;
		out->value = json_number_value(v);
	}
	v = json_object_get(o, "response");
	if (v != NULL && !json_is_null(v) && !json_is_string(v))
		goto out;
	out->response = response_of(v);
	if (!read_history(json_object_get(o, "history"), out))
		goto out;
	rc = 0;
out:
	json_decref(o);
	return rc;
}
