/*
 * patient.c - patient state: the latest valid value per metric per patient, and NEWS2.
 *
 * One writer (the consumer thread) offers every observation; any thread
 * may read a copy of a patient. The table is sized once (max_patients):
 * a dense array of patients, in the order they were first heard of, and an
 * open-addressing index on the key (linear probing, never deleted from, at
 * most half full), so an observation of a known patient allocates nothing.
 *
 * The mutex is taken by the writer only around the work on one patient
 * (finding or adding it, keeping the value, scoring), and by a reader only
 * while it finds and copies one: a slow reader never holds up the
 * consumer for more than one copy.
 *
 * NEWS2 takes, for each vital, the first metric of its source list with a
 * value fresher than the vital's stale age, at the observation's own time
 * (a replayed capture scores as it was then, not as it is now).
 */
#include "controlplane.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

/*
 * Not fit for a score: the same test as a rule's `valid:only` (rules/eval.c
 * sees RULE_OBS_INVALID, which dp_rule_input sets for INVALID, TEST and
 * DEMO). The decoders set INVALID with every other invalid flag (off scale,
 * NAV, a sentinel...), so those are covered by it.
 */
#define NOT_VALID (DP_OBS(INVALID) | DP_OBS(TEST) | DP_OBS(DEMO))

/* The index never fills beyond half, so a probe always ends on an empty slot. */
#define MAX_PATIENTS_LIMIT (1u << 24)

/* The NEWS2 parameters that are measured (the others are per-patient settings). */
static const enum cp_news2_param vitals[] = {CP_N2_RR, CP_N2_SPO2, CP_N2_SBP, CP_N2_PULSE,
					     CP_N2_TEMP};

struct entry {
	struct cp_patient pt;
	uint32_t hash;
	uint32_t expired;		  /* bit i: value[i] was counted as expired */
	int8_t vital[CP_PATIENT_METRICS]; /* value[i]'s NEWS2 vital, -1: none */
	uint8_t rank[CP_PATIENT_METRICS]; /* its place in that vital's sources */
};

#define SRC_MAP 64 /* source codes looked up by hash: 5 vitals x CP_PATIENT_SOURCES fit */
_Static_assert(5 * CP_PATIENT_SOURCES < SRC_MAP, "the source map has room for every source");

_Static_assert(CP_PATIENT_METRICS <= 32, "struct entry.expired has a bit per value");

struct cp_patients {
	struct cp_patient_opts o;
	/* Which vital a code is a source of, and its rank: every observation asks. */
	struct src {
		uint32_t code; /* 0: empty */
		int8_t vital;
		uint8_t rank;
	} src[SRC_MAP];
	pthread_mutex_t lock;
	struct entry *entry; /* o.max_patients, the first n in use */
	unsigned n;
	uint32_t *index; /* entry number + 1; 0: empty */
	uint32_t index_mask;
	_Atomic uint64_t counters[CP_PAT__COUNT];
};

/* ------------------------------------------------------------------------ */
/* Options and counters                                                      */
/* ------------------------------------------------------------------------ */

static void
sources(struct cp_patient_opts *o, enum cp_news2_param p, const char *const *names)
{
	unsigned n = 0;

	for (; *names != NULL && n < CP_PATIENT_SOURCES; names++) {
		const struct rule_metric *m = rule_metric_by_name(*names, strlen(*names));

		if (m != NULL)
			o->source[p][n++] = m->code;
	}
}

void
cp_patient_opts_defaults(struct cp_patient_opts *o)
{
	static const char *const pulse[] = {
		"HR", "PULSE", "PLETH_RATE", "PULSE_NIBP", "PULSE_IBP", "PULSE_GENERIC", NULL};
	static const char *const sbp[] = {"ART_SYS", "ABP_SYS", "NIBP_SYS", "CUFF_SYS", NULL};
	static const char *const rr[] = {"RR", "RR_IMP", "RR_CO2", "RR_AWAY", NULL};
	static const char *const spo2[] = {"SPO2", NULL};
	static const char *const temp[] = {"TEMP_CORE", "TEMP",	       "TEMP_BODY",
					   "TEMP_TYMP", "TEMP_EAR",    "TEMP_ORAL",
					   "TEMP_RECT", "TEMP_AXILLA", NULL};
	const int64_t s = 1000000000;

	memset(o, 0, sizeof(*o));
	sources(o, CP_N2_PULSE, pulse);
	sources(o, CP_N2_SBP, sbp);
	sources(o, CP_N2_RR, rr);
	sources(o, CP_N2_SPO2, spo2);
	sources(o, CP_N2_TEMP, temp);
	o->stale_ns[CP_N2_PULSE] = 60 * s;
	o->stale_ns[CP_N2_SPO2] = 60 * s;
	o->stale_ns[CP_N2_RR] = 60 * s;
	o->stale_ns[CP_N2_SBP] = 3600 * s;
	o->stale_ns[CP_N2_TEMP] = 3600 * s;
	o->metric_stale_ns = 3600 * s;
	o->max_patients = 4096;
}

#define CP_X_NAME(name, desc) #name,
#define CP_X_DESC(name, desc) desc,
static const char *const counter_names[] = {CP_PATIENT_COUNTERS(CP_X_NAME)};
static const char *const counter_descs[] = {CP_PATIENT_COUNTERS(CP_X_DESC)};
#undef CP_X_NAME
#undef CP_X_DESC

const char *
cp_patient_counter_name(enum cp_patient_counter c)
{
	return (unsigned)c < CP_PAT__COUNT ? counter_names[c] : "?";
}

const char *
cp_patient_counter_desc(enum cp_patient_counter c)
{
	return (unsigned)c < CP_PAT__COUNT ? counter_descs[c] : "?";
}

/* One writer: a relaxed load and store, no locked instruction. */
static void
count(struct cp_patients *p, enum cp_patient_counter c)
{
	atomic_store_explicit(&p->counters[c],
			      atomic_load_explicit(&p->counters[c], memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

void
cp_patients_counters(const struct cp_patients *p, uint64_t out[CP_PAT__COUNT])
{
	for (int c = 0; c < CP_PAT__COUNT; c++)
		out[c] = atomic_load_explicit(&p->counters[c], memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* The table                                                                 */
/* ------------------------------------------------------------------------ */

static void src_build(struct cp_patients *p);

int
cp_patients_new(const struct cp_patient_opts *o, struct cp_patients **out)
{
	struct cp_patients *p;
	uint32_t size = 16;
	int rc;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	if (o != NULL)
		p->o = *o;
	else
		cp_patient_opts_defaults(&p->o);
	if (p->o.max_patients == 0 || p->o.max_patients > MAX_PATIENTS_LIMIT) {
		rc = -EINVAL;
		goto fail;
	}
	for (int v = 0; v < CP_N2__COUNT; v++) {
		if (p->o.stale_ns[v] < 0) {
			rc = -EINVAL;
			goto fail;
		}
	}
	src_build(p);
	while (size < 2 * p->o.max_patients)
		size <<= 1;
	p->index_mask = size - 1;
	p->index = calloc(size, sizeof(*p->index));
	p->entry = calloc(p->o.max_patients, sizeof(*p->entry));
	if (p->index == NULL || p->entry == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = -pthread_mutex_init(&p->lock, NULL);
	if (rc < 0)
		goto fail;
	*out = p;
	return 0;
fail:
	free(p->index);
	free(p->entry);
	free(p);
	return rc;
}

void
cp_patients_free(struct cp_patients *p)
{
	if (p == NULL)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p->index);
	free(p->entry);
	free(p);
}

/* FNV-1a: keys are short texts chosen by whoever configures the monitors. */
static uint32_t
hash_key(const char *key, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)key[i];
		h *= 16777619u;
	}
	return h;
}

/*
 * The key as it is kept: cut at CP_PATIENT_ID_MAX bytes. @return its
 * length, or 0 for none (NULL or empty: no patient to file it under).
 */
static size_t
key_len(const char *key)
{
	return key == NULL ? 0 : strnlen(key, CP_PATIENT_ID_MAX);
}

/* Under the lock. @return the patient's entry, or NULL. */
static struct entry *
find(struct cp_patients *p, const char *key, size_t len)
{
	uint32_t h = hash_key(key, len);

	for (uint32_t i = h & p->index_mask;; i = (i + 1) & p->index_mask) {
		struct entry *e;

		if (p->index[i] == 0)
			return NULL;
		e = &p->entry[p->index[i] - 1];
		if (e->hash == h && strncmp(e->pt.key, key, len) == 0 && e->pt.key[len] == '\0')
			return e;
	}
}

/* Under the lock. @return the patient's entry, created if need be, or NULL: the table is full. */
static struct entry *
find_or_add(struct cp_patients *p, const char *key, size_t len)
{
	struct entry *e = find(p, key, len);
	uint32_t h, i;

	if (e != NULL || p->n >= p->o.max_patients)
		return e;
	h = hash_key(key, len);
	for (i = h & p->index_mask; p->index[i] != 0; i = (i + 1) & p->index_mask)
		;
	e = &p->entry[p->n];
	memset(e, 0, sizeof(*e));
	memcpy(e->pt.key, key, len);
	e->pt.key[len] = '\0';
	e->hash = h;
	p->index[i] = ++p->n;
	return e;
}

unsigned
cp_patients_count(struct cp_patients *p)
{
	unsigned n;

	pthread_mutex_lock(&p->lock);
	n = p->n;
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* ------------------------------------------------------------------------ */
/* Values and NEWS2                                                          */
/* ------------------------------------------------------------------------ */

static unsigned
src_hash(uint32_t code)
{
	return (code * UINT32_C(2654435761)) >> 26; /* 6 bits: SRC_MAP */
}

/* Fill the source map: the first vital that lists a code wins, as in its order. */
static void
src_build(struct cp_patients *p)
{
	for (size_t v = 0; v < sizeof(vitals) / sizeof(vitals[0]); v++)
		for (int s = 0; s < CP_PATIENT_SOURCES && p->o.source[vitals[v]][s] != 0; s++) {
			uint32_t code = p->o.source[vitals[v]][s];
			unsigned i = src_hash(code);

			while (p->src[i].code != 0 && p->src[i].code != code)
				i = (i + 1) % SRC_MAP;
			if (p->src[i].code == code)
				continue;
			p->src[i] = (struct src){
				.code = code, .vital = (int8_t)vitals[v], .rank = (uint8_t)s};
		}
}

/* The vital that lists @p code as a source (and its rank there), or -1. */
static int
vital_of(const struct cp_patients *p, uint32_t code, uint8_t *rank)
{
	for (unsigned i = src_hash(code); p->src[i].code != 0; i = (i + 1) % SRC_MAP)
		if (p->src[i].code == code) {
			if (rank != NULL)
				*rank = p->src[i].rank;
			return p->src[i].vital;
		}
	return -1;
}

static int
value_slot(const struct cp_patient *pt, uint32_t code)
{
	for (unsigned i = 0; i < pt->n_values; i++)
		if (pt->value[i].code == code)
			return (int)i;
	return -1;
}

/*
 * Keep @p ev as @p code's latest value. An observation older than the one
 * kept does not replace it (devices resend, and a late one is not news);
 * a new metric takes the oldest slot once all are used.
 * @return true: kept.
 */
static bool
keep_value(struct cp_patients *p, struct entry *e, const struct dp_event *ev, int64_t t)
{
	struct cp_patient *pt = &e->pt;
	int i = value_slot(pt, ev->code);

	if (i >= 0 && t < pt->value[i].time_ns)
		return false;
	if (i < 0 && pt->n_values < CP_PATIENT_METRICS) {
		i = (int)pt->n_values++;
	} else if (i < 0) {
		i = 0;
		for (int j = 1; j < CP_PATIENT_METRICS; j++)
			if (pt->value[j].time_ns < pt->value[i].time_ns)
				i = j;
		/* Older than everything kept: it would be the next to go. */
		if (t < pt->value[i].time_ns)
			return false;
	}
	if (pt->value[i].code != ev->code)
		e->vital[i] = (int8_t)vital_of(p, ev->code, &e->rank[i]);
	pt->value[i] = (struct cp_patient_value){
		.code = ev->code,
		.unit = ev->unit,
		.value = ev->value,
		.time_ns = t,
		.device = ev->device,
	};
	e->expired &= ~(UINT32_C(1) << i);
	return true;
}

/* A value older than @p stale at @p now: counted once as expired. @return true if fresh. */
static bool
fresh(struct cp_patients *p, struct entry *e, int i, int64_t now, int64_t stale)
{
	if (now - e->pt.value[i].time_ns <= stale)
		return true;
	if (!(e->expired & (UINT32_C(1) << i))) {
		e->expired |= UINT32_C(1) << i;
		count(p, CP_PAT_expired);
	}
	return false;
}

/* Under the lock: score @p e at @p now. */
static void
score(struct cp_patients *p, struct entry *e, int64_t now)
{
	struct cp_patient *pt = &e->pt;
	struct cp_news2_in *in = &pt->news2_in;
	double got[CP_N2__COUNT];
	uint8_t best[CP_N2__COUNT];

	memset(in, 0, sizeof(*in));
	for (int v = 0; v < CP_N2__COUNT; v++) {
		got[v] = NAN;
		best[v] = UINT8_MAX;
		pt->news2_source[v] = 0;
	}
	/* One pass over the values: each vital takes its best-ranked fresh
	 * source; other metrics only expire (readers show them with their age). */
	for (unsigned i = 0; i < pt->n_values; i++) {
		int v = e->vital[i];

		if (v < 0) {
			fresh(p, e, (int)i, now, p->o.metric_stale_ns);
			continue;
		}
		if (e->rank[i] >= best[v] || !fresh(p, e, (int)i, now, p->o.stale_ns[v]))
			continue;
		best[v] = e->rank[i];
		got[v] = pt->value[i].value;
		pt->news2_source[v] = pt->value[i].code;
		in->have[v] = true;
	}
	in->rr = got[CP_N2_RR];
	in->spo2 = got[CP_N2_SPO2];
	in->sbp = got[CP_N2_SBP];
	in->pulse = got[CP_N2_PULSE];
	in->temp = got[CP_N2_TEMP];
	in->oxygen = pt->oxygen;
	in->acvpu = pt->acvpu;
	in->scale2 = pt->scale2;
	in->have[CP_N2_AIR] = pt->oxygen != CP_O2_UNKNOWN;
	in->have[CP_N2_ACVPU] = pt->acvpu != CP_ACVPU_UNKNOWN;
	cp_news2_score(in, &pt->news2);
	pt->news2_ns = now;
	count(p, CP_PAT_news2_scores);
}

static void
set_text(char *dst, const char *src)
{
	size_t n = key_len(src);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

int
cp_patients_obs(struct cp_patients *p, const char *key, const char *location,
		const struct dp_event *ev, struct cp_news2 *news2)
{
	size_t len = key_len(key);
	struct entry *e;
	int64_t t;
	int rc = 0;

	if (p == NULL || len == 0 || ev == NULL || ev->type != DP_EV_OBS)
		return -EINVAL;
	count(p, CP_PAT_observations);
	if (!isfinite(ev->value) || (ev->flags & NOT_VALID) || ev->code == 0) {
		count(p, CP_PAT_not_valid);
		return 0;
	}
	t = ev->time_ns != 0 ? ev->time_ns : ev->wall_ns;

	pthread_mutex_lock(&p->lock);
	e = find_or_add(p, key, len);
	if (e == NULL) {
		count(p, CP_PAT_patients_full);
		rc = -ENOSPC;
		goto out;
	}
	if (location != NULL && location[0] != '\0')
		set_text(e->pt.location, location);
	e->pt.device = ev->device;
	if (t > e->pt.last_ns)
		e->pt.last_ns = t;
	if (!keep_value(p, e, ev, t) || vital_of(p, ev->code, NULL) < 0)
		goto out;
	score(p, e, t);
	if (news2 != NULL)
		*news2 = e->pt.news2;
	rc = 1;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int
cp_patients_rescore(struct cp_patients *p, const char *key, int64_t now_ns, struct cp_news2 *news2)
{
	size_t len = key_len(key);
	struct entry *e;
	int rc = 0;

	if (p == NULL || len == 0)
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	e = find(p, key, len);
	if (e == NULL) {
		rc = -ENOENT;
		goto out;
	}
	score(p, e, now_ns);
	if (news2 != NULL)
		*news2 = e->pt.news2;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int
cp_patients_set(struct cp_patients *p, const char *key, enum cp_o2 oxygen, enum cp_acvpu acvpu,
		bool scale2)
{
	size_t len = key_len(key);
	struct entry *e;
	int rc = 0;

	if (p == NULL || len == 0 || (unsigned)oxygen > CP_O2_OXYGEN ||
	    (unsigned)acvpu > CP_ACVPU_CVPU)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	e = find_or_add(p, key, len);
	if (e == NULL) {
		rc = -ENOSPC;
		goto out;
	}
	e->pt.oxygen = (uint8_t)oxygen;
	e->pt.acvpu = (uint8_t)acvpu;
	e->pt.scale2 = scale2;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int
cp_patients_get(struct cp_patients *p, const char *key, struct cp_patient *out)
{
	size_t len = key_len(key);
	struct entry *e;
	int rc = 0;

	if (p == NULL || len == 0)
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	e = find(p, key, len);
	if (e != NULL)
		*out = e->pt;
	else
		rc = -ENOENT;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* The copy is made under the lock, the call without it: @p fn may use the table. */
int
cp_patients_foreach(struct cp_patients *p, int (*fn)(void *arg, const struct cp_patient *pt),
		    void *arg)
{
	struct cp_patient *copy = malloc(sizeof(*copy));
	int rc = 0;

	if (copy == NULL)
		return -ENOMEM;
	for (unsigned i = 0; rc == 0; i++) {
		bool have;

		pthread_mutex_lock(&p->lock);
		have = i < p->n;
		if (have)
			*copy = p->entry[i].pt;
		pthread_mutex_unlock(&p->lock);
		if (!have)
			break;
		rc = fn(arg, copy);
	}
	free(copy);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                      */
/* ------------------------------------------------------------------------ */

/* ISO 8601 UTC to the microsecond ("2024-05-01T10:00:00.000000Z"), or null. */
static json_t *
iso_time(int64_t ns)
{
	char buf[48];

	if (ns == 0 || store_time_format(ns, 6, buf, sizeof(buf)) != 0)
		return json_null();
	return json_string(buf);
}

static json_t *
metric_name(uint32_t code)
{
	const struct rule_metric *m;
	char buf[16];

	if (code == 0)
		return json_null();
	m = rule_metric_by_code(code);
	if (m != NULL)
		return json_string(m->name);
	snprintf(buf, sizeof(buf), "%" PRIu32, code);
	return json_string(buf);
}

json_t *
cp_news2_object(const struct cp_patient *pt)
{
	const struct cp_news2 *n = &pt->news2;
	json_t *o = json_object(), *sub = json_object(), *missing = json_array();
	json_t *source = json_object();
	int err = 0;

	if (o == NULL || sub == NULL || missing == NULL || source == NULL)
		goto out;
	for (int par = 0; par < CP_N2__COUNT; par++) {
		const char *name = cp_news2_param_name(par);

		err |= json_object_set_new(
			sub, name, n->sub[par] < 0 ? json_null() : json_integer(n->sub[par]));
		if (n->missing & (1u << par))
			err |= json_array_append_new(missing, json_string(name));
	}
	for (size_t v = 0; v < sizeof(vitals) / sizeof(vitals[0]); v++)
		err |= json_object_set_new(source, cp_news2_param_name(vitals[v]),
					   metric_name(pt->news2_source[vitals[v]]));
	err |= json_object_set_new(o, "total", json_integer(n->total));
	err |= json_object_set_new(o, "complete", json_boolean(n->complete));
	err |= json_object_set_new(o, "red", json_boolean(n->red));
	err |= json_object_set_new(o, "risk", json_string(cp_news2_risk_name(n->risk)));
	err |= json_object_set_new(o, "response", json_string(cp_news2_response(n->risk)));
	err |= json_object_set_new(o, "sub", sub);
	err |= json_object_set_new(o, "missing", missing);
	err |= json_object_set_new(o, "source", source);
	sub = missing = source = NULL;
	err |= json_object_set_new(o, "scale", json_integer(pt->news2_in.scale2 ? 2 : 1));
	err |= json_object_set_new(o, "oxygen", json_string(cp_o2_name(pt->news2_in.oxygen)));
	err |= json_object_set_new(o, "acvpu", json_string(cp_acvpu_name(pt->news2_in.acvpu)));
	err |= json_object_set_new(o, "time", iso_time(pt->news2_ns));
	if (err == 0)
		return o;
out:
	json_decref(sub);
	json_decref(missing);
	json_decref(source);
	json_decref(o);
	return NULL;
}

char *
cp_news2_json(const struct cp_patient *pt)
{
	json_t *o = cp_news2_object(pt);
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return text;
}
