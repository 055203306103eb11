/*
 * bench-consumer.c - vigil-bench's `consumer` scenario: events per second
 * through vigild's clinical pipeline (cp_clinical: the alarm manager, the
 * patient state and NEWS2, vigil's technical conditions, the alarm log and
 * the store) on one core.
 *
 * Issue 7 asks for at least 2,000,000 events/s through the consumer without
 * storage, and for the figure with storage. The pipeline is driven here
 * without rings or workers: the consumer's hooks are called on the bench's
 * own thread, in the order vigild's consumer (controlplane/consumer.c)
 * calls them, over a workload built in memory before any timing.
 *
 * The workload (a fixed seed): a ward of N beds (1000; --smoke 50), device
 * 0x025647FFFE000000 | bed, each sending one message per simulated second
 * (HR, SPO2, PULSE, RR, TEMP; ETCO2 on every 4th bed; NIBP_SYS every 300 s),
 * a third of the beds over VTP and the rest over HL7. Beds are spread over
 * the second, so event times only grow. Every 25th bed desaturates for three
 * minutes in every five (SpO2 88 for one minute, then 80 for two): those
 * observations come with the rule hits the shipped rules give them (sid
 * 1000001 below 91.5, 1000002 below 85), built as a worker builds them
 * (dataplane/events.c), each put before its observation's batch.
 *
 * The loop, identical in every mode: for each batch of 64 TELEMETRY events
 * (CONSUMER_BATCH), first the ALARM events of that batch's messages through
 * hooks.on_alarm one by one (the consumer drains the ALARM lanes before each
 * TELEMETRY batch), then the batch through hooks.on_telemetry, then the
 * idle function (cp_clinical_tick). The consumer thread calls its idle
 * function once a pass (up to 4096 TELEMETRY events under load), so ticking
 * every 64 events costs this loop more ticks than vigild pays at saturation.
 *
 * Modes, each run on a fresh pipeline (and a fresh store and log):
 *   baseline   the same loop with hooks that only read each event's device
 *              (its first cache line): the loop's own cost and the events
 *              brought in from memory;
 *   clinical   cp_clinical without storage or log;
 *   +log       the same with the alarm log (a file in the bench directory);
 *   +storage   the same with cp_persist over a store of the defaults (WAL
 *              batches of STORE_BATCH_RECORDS_DEFAULT observations, synced
 *              alarm groups), timed until a final cp_persist_flush returns.
 * The pipeline runs in packet time (the events' own times), as for a
 * replayed capture: no clock is read per event. One untimed warm-up run of
 * every mode comes first.
 *
 * Checks, after every run (any failure exits 1; the smoke run is for these):
 * observations and rule hits taken equal those fed, no hit of an unknown
 * rule, nothing skipped as replayed, alarms raised; with the log, as many
 * lines in the file as the pipeline counted (at least one per announcement;
 * NEWS2 changes have lines too) and no failed write; with storage, every
 * observation handed to and written by the store, every alarm change
 * stored and announced after its sync. The alarm manager's counters must be the same in every
 * run of every mode: the pipeline is deterministic in packet time.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "controlplane.h"

#define SEC INT64_C(1000000000)
#define CONS_BATCH 64 /* controlplane/consumer.c CONSUMER_BATCH */
#define CONS_DEVICE UINT64_C(0x025647FFFE000000)
#define CONS_VERSION 1	      /* the ruleset version the hits name */
#define CONS_DESAT_EVERY 25   /* every 25th bed desaturates */
#define CONS_DESAT_CYCLE 300  /* s: one episode per cycle */
#define CONS_DESAT_MILD 60    /* s at SpO2 88 (sid 1000001) */
#define CONS_DESAT_SEVERE 120 /* then s at SpO2 80 (both sids) */
#define CONS_NIBP_EVERY 300   /* s between NIBP measurements */
#define CONS_DEVICE_SILENT_S 30
#define CONS_TARGET 2000000.0 /* events/s without storage (issue 7) */
#define CONS_SEED UINT64_C(0x5eed000000000007)
#define CONS_MAX_OBS 8 /* per message */

enum cons_metric { M_HR, M_SPO2, M_PULSE, M_RR, M_TEMP, M_ETCO2, M_NIBP_SYS, M__COUNT };
static const char *const metric_names[M__COUNT] = {"HR",   "SPO2",  "PULSE",   "RR",
						   "TEMP", "ETCO2", "NIBP_SYS"};

enum cons_mode { MODE_BASELINE, MODE_CLINICAL, MODE_LOG, MODE_STORAGE, MODE__COUNT };
static const char *const mode_names[MODE__COUNT] = {"baseline", "clinical", "clinical+log",
						    "clinical+storage"};
static const char *const mode_titles[MODE__COUNT] = {
	"baseline (no-op hooks)", "(a) no storage, no log", "(b) no storage, alarm log",
	"(c) with storage"};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void
min_max(const double *v, unsigned n, double *lo, double *hi)
{
	*lo = *hi = v[0];
	for (unsigned i = 1; i < n; i++) {
		if (v[i] < *lo)
			*lo = v[i];
		if (v[i] > *hi)
			*hi = v[i];
	}
}

/* The file system type of the mount that holds @p dir. */
static void
dir_fs(const char *dir, char *fs, size_t fs_room)
{
	char real[PATH_MAX], line[4096];
	size_t best = 0;
	FILE *f;

	snprintf(fs, fs_room, "?");
	if (realpath(dir, real) == NULL)
		return;
	f = fopen("/proc/self/mounts", "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char d[1024], m[1024], t[64];
		size_t ml;

		if (sscanf(line, "%1023s %1023s %63s", d, m, t) != 3)
			continue;
		ml = strlen(m);
		if (strncmp(real, m, ml) != 0 || (real[ml] != '/' && real[ml] != '\0' && ml != 1))
			continue;
		if (ml >= best) {
			best = ml;
			snprintf(fs, fs_room, "%s", t);
		}
	}
	fclose(f);
}

static void
print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

struct rng {
	uint64_t state;
};

static uint32_t
rng_below(struct rng *r, uint32_t n)
{
	uint64_t x = r->state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->state = x;
	return (uint32_t)(x % n);
}

/* ------------------------------------------------------------------------ */
/* The workload                                                              */
/* ------------------------------------------------------------------------ */

struct cons_load {
	struct dp_event *tele; /* every observation, in time order */
	size_t n_tele;
	struct dp_event *hit; /* every rule hit, in the order of their observations */
	size_t n_hit;
	size_t *hit_end; /* per batch: hits to deliver before it (cumulative) */
	size_t n_batches;
	size_t room_tele, room_hit;
	unsigned beds, desat_beds, seconds;
	uint64_t messages;
	uint32_t code[M__COUNT], unit[M__COUNT];
	const struct rule *rule_mild, *rule_severe; /* sid 1000001, 1000002 */
};

/* One bed's steady values, drawn once. */
struct bed {
	double hr, rr, temp, etco2, sbp, spo2;
};

/* Where a desaturating bed is in its cycle: its SpO2, or NaN when normal. */
static double
desat_spo2(unsigned bed, unsigned t)
{
	unsigned start = (bed * 7u) % CONS_DESAT_CYCLE;
	unsigned p = (t + CONS_DESAT_CYCLE - start) % CONS_DESAT_CYCLE;

	if (bed % CONS_DESAT_EVERY != 3)
		return NAN;
	if (p < CONS_DESAT_MILD)
		return 88;
	if (p < CONS_DESAT_MILD + CONS_DESAT_SEVERE)
		return 80;
	return NAN;
}

static int
load_grow(struct cons_load *L, size_t tele, size_t hits)
{
	if (L->n_tele + tele > L->room_tele) {
		size_t room = L->room_tele ? L->room_tele * 2 : 65536;
		struct dp_event *p;

		while (room < L->n_tele + tele)
			room *= 2;
		p = realloc(L->tele, room * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		L->tele = p;
		L->room_tele = room;
	}
	if (L->n_hit + hits > L->room_hit) {
		size_t room = L->room_hit ? L->room_hit * 2 : 4096;
		struct dp_event *p;

		while (room < L->n_hit + hits)
			room *= 2;
		p = realloc(L->hit, room * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		L->hit = p;
		L->room_hit = room;
	}
	return 0;
}

/* The head every event of a message shares, as dataplane/events.c fills it. */
static void
event_head(struct dp_event *ev, enum dp_event_type type, unsigned bed, bool vtp, uint64_t msg,
	   int64_t t_ns)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = (uint8_t)type;
	ev->worker = 0;
	ev->proto = vtp ? RULE_PROTO_VTP : RULE_PROTO_HL7;
	ev->ip_version = 4;
	ev->sport = (uint16_t)(40000 + bed % 20000);
	ev->tsc = msg;
	ev->wall_ns = t_ns;
	ev->value = NAN;
	ev->src[0] = 10;
	ev->src[1] = 20;
	ev->src[2] = (uint8_t)(bed >> 8);
	ev->src[3] = (uint8_t)bed;
}

static void
add_hit(struct cons_load *L, unsigned bed, const struct dp_event *obs, const struct rule *r)
{
	struct dp_event *ev = &L->hit[L->n_hit++];

	event_head(ev, DP_EV_HIT, bed, obs->proto == RULE_PROTO_VTP, obs->tsc, obs->wall_ns);
	ev->obs_index = obs->obs_index;
	ev->code = obs->code;
	ev->value = obs->value;
	ev->device = obs->device;
	ev->time_ns = obs->time_ns;
	ev->unit = obs->unit;
	ev->flags = obs->flags;
	ev->seq = obs->seq;
	ev->u.hit.ruleset_version = CONS_VERSION;
	ev->u.hit.sid = r->sid;
	ev->u.hit.rev = r->rev;
	ev->u.hit.rule_index = r->index;
	ev->u.hit.action = r->action;
	ev->u.hit.priority = r->priority;
	ev->u.hit.kind = r->kind;
}

/* One bed's message of second @p t: its observations, and the hits before them. */
static void
add_message(struct cons_load *L, unsigned bed, const struct bed *b, unsigned t, int64_t t_ns,
	    struct rng *rng)
{
	bool vtp = bed % 3 == 2;
	double desat = desat_spo2(bed, t);
	enum cons_metric m[CONS_MAX_OBS];
	double v[CONS_MAX_OBS];
	unsigned n = 0;
	uint64_t msg = ++L->messages;

	m[n] = M_HR;
	v[n++] = b->hr + (double)rng_below(rng, 5) - 2;
	m[n] = M_SPO2;
	v[n++] = isnan(desat) ? b->spo2 + (double)rng_below(rng, 2) : desat;
	m[n] = M_PULSE;
	v[n++] = b->hr + (double)rng_below(rng, 5) - 2;
	m[n] = M_RR;
	v[n++] = b->rr + (double)rng_below(rng, 3) - 1;
	m[n] = M_TEMP;
	v[n++] = b->temp + (double)rng_below(rng, 3) / 10.0;
	if (bed % 4 == 0) {
		m[n] = M_ETCO2;
		v[n++] = b->etco2 + (double)rng_below(rng, 3) - 1;
	}
	if (t == 0 || (t + bed) % CONS_NIBP_EVERY == 0) {
		m[n] = M_NIBP_SYS;
		v[n++] = b->sbp + (double)rng_below(rng, 9) - 4;
	}
	for (unsigned i = 0; i < n; i++) {
		struct dp_event *ev = &L->tele[L->n_tele++];

		event_head(ev, DP_EV_OBS, bed, vtp, msg, t_ns);
		ev->obs_index = (uint16_t)i;
		ev->device = CONS_DEVICE | bed;
		ev->time_ns = t_ns;
		ev->value = v[i];
		ev->code = L->code[m[i]];
		ev->unit = L->unit[m[i]];
		ev->flags = 0;
		/* VTP: the datagram's sequence number; HL7: OBX-1. */
		ev->seq = vtp ? t + 1 : i + 1;
		/* The rules' evaluation order is the set's: 1000001 before 1000002. */
		if (m[i] == M_SPO2 && v[i] < 91.5)
			add_hit(L, bed, ev, L->rule_mild);
		if (m[i] == M_SPO2 && v[i] < 85)
			add_hit(L, bed, ev, L->rule_severe);
	}
}

static void
load_free(struct cons_load *L)
{
	free(L->tele);
	free(L->hit);
	free(L->hit_end);
	memset(L, 0, sizeof(*L));
}

/* Build seconds of the ward until at least @p events events are there. */
static int
load_build(struct cons_load *L, unsigned beds, unsigned long events, const struct rule_set *set)
{
	struct rng rng = {CONS_SEED};
	struct bed *bed = NULL;
	int64_t base;
	struct timespec ts;
	size_t hi = 0;
	int rc = 0;

	L->beds = beds;
	for (unsigned i = 0; i < M__COUNT; i++) {
		const struct rule_metric *m =
			rule_metric_by_name(metric_names[i], strlen(metric_names[i]));

		if (m == NULL) {
			fprintf(stderr, "bench consumer: no metric %s in rules/metrics.tsv\n",
				metric_names[i]);
			return -EPROTO;
		}
		L->code[i] = m->code;
		L->unit[i] = m->unit;
	}
	L->rule_mild = rule_set_find(set, 1000001);
	L->rule_severe = rule_set_find(set, 1000002);
	if (L->rule_mild == NULL || L->rule_severe == NULL ||
	    L->rule_mild->action != RULE_ACTION_ALERT ||
	    L->rule_severe->action != RULE_ACTION_ALERT) {
		fprintf(stderr, "bench consumer: the rules have no alert rules 1000001 and "
				"1000002 (SpO2 limits)\n");
		return -EPROTO;
	}
	bed = calloc(beds, sizeof(*bed));
	if (bed == NULL)
		return -ENOMEM;
	for (unsigned n = 0; n < beds; n++) {
		bed[n].hr = 60 + rng_below(&rng, 30);
		bed[n].spo2 = 95 + rng_below(&rng, 4);
		bed[n].rr = 13 + rng_below(&rng, 6);
		bed[n].temp = 36.4 + rng_below(&rng, 8) / 10.0;
		bed[n].etco2 = 36 + rng_below(&rng, 8);
		bed[n].sbp = 115 + rng_below(&rng, 30);
		if (n % CONS_DESAT_EVERY == 3)
			L->desat_beds++;
	}
	/* An hour back: inside every retention of the store. */
	clock_gettime(CLOCK_REALTIME, &ts);
	base = ((int64_t)ts.tv_sec - 3600) * SEC;
	for (unsigned t = 0; L->n_tele + L->n_hit < events; t++) {
		rc = load_grow(L, (size_t)beds * CONS_MAX_OBS, (size_t)beds * 2);
		if (rc != 0)
			goto out;
		for (unsigned n = 0; n < beds; n++)
			add_message(L, n, &bed[n], t,
				    base + (int64_t)t * SEC + (int64_t)n * (SEC / beds), &rng);
		L->seconds = t + 1;
	}
	L->n_batches = (L->n_tele + CONS_BATCH - 1) / CONS_BATCH;
	L->hit_end = calloc(L->n_batches, sizeof(*L->hit_end));
	if (L->hit_end == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* A hit goes before the batch that holds its observation. Both lists are
	 * in time order, and a message's events share its time and tsc. */
	for (size_t b = 0; b < L->n_batches; b++) {
		size_t last = (b + 1) * CONS_BATCH;

		if (last > L->n_tele)
			last = L->n_tele;
		while (hi < L->n_hit && (L->hit[hi].tsc <= L->tele[last - 1].tsc))
			hi++;
		L->hit_end[b] = hi;
	}
	if (hi != L->n_hit)
		rc = -EPROTO;
out:
	free(bed);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                  */
/* ------------------------------------------------------------------------ */

/* Kept out of line so that callgrind can count it alone (--toggle-collect=cons_feed). */
__attribute__((noinline)) static void
cons_feed(const struct cons_load *L, const struct cp_event_hooks *h, void (*tick)(void *),
	  void *tick_arg)
{
	size_t k = 0;

	for (size_t b = 0; b < L->n_batches; b++) {
		size_t first = b * CONS_BATCH, end = L->hit_end[b];
		unsigned n =
			L->n_tele - first < CONS_BATCH ? (unsigned)(L->n_tele - first) : CONS_BATCH;

		for (; k < end; k++)
			h->on_alarm(h->arg, &L->hit[k]);
		h->on_telemetry(h->arg, &L->tele[first], n);
		tick(tick_arg);
	}
}

struct noop {
	uint64_t acc;
	uint64_t ticks;
};

__attribute__((noinline)) static void
noop_alarm(void *arg, const struct dp_event *ev)
{
	struct noop *z = arg;

	z->acc ^= ev->device;
}

__attribute__((noinline)) static void
noop_telemetry(void *arg, const struct dp_event *ev, unsigned n)
{
	struct noop *z = arg;

	for (unsigned i = 0; i < n; i++)
		z->acc ^= ev[i].device;
}

__attribute__((noinline)) static void
noop_tick(void *arg)
{
	struct noop *z = arg;

	z->ticks++;
}

/* ------------------------------------------------------------------------ */
/* One run                                                                   */
/* ------------------------------------------------------------------------ */

struct cons_run {
	double ns;
	uint64_t clin[CP_CLIN__COUNT];
	uint64_t alarm[CP_ALM__COUNT];
	uint64_t patient[CP_PAT__COUNT];
	uint64_t persist[CP_PERSIST__COUNT];
	uint64_t store[STORE_CNT__COUNT];
	uint64_t log_file_lines; /* lines in the alarm log once closed */
	unsigned patients;
};

struct cons_ctx {
	const struct bench_consumer_opts *o;
	const struct rule_set *set;
	struct cons_load load;
	char base[PATH_MAX], store_dir[PATH_MAX], log_path[PATH_MAX];
	char fs[64];
};

static uint64_t
count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	uint64_t n = 0;
	int ch;

	if (f == NULL)
		return 0;
	while ((ch = getc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static void
clinical_opts(const struct cons_ctx *x, struct cp_clinical_opts *co)
{
	memset(co, 0, sizeof(*co));
	co->dp = NULL;
	co->rules = x->set;
	cp_alarm_opts_defaults(&co->alarm);
	cp_patient_opts_defaults(&co->patient);
	co->device_silent_ns = CONS_DEVICE_SILENT_S * SEC;
	co->decode_errors_count = 10; /* vigild's defaults; no decode error is fed */
	co->decode_errors_ns = 60 * SEC;
	co->packet_time = true;
	co->log = stderr;
}

static int
open_store(const struct cons_ctx *x, struct store **s, struct cp_persist **p)
{
	struct cp_persist_opts po;
	struct store_opts so;
	char err[512] = "";
	int rc;

	bench_rm_tree(x->store_dir);
	store_opts_defaults(&so);
	so.dir = x->store_dir;
	rc = store_open(&so, s, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "bench consumer: store %s: %s\n", x->store_dir,
			err[0] ? err : strerror(-rc));
		return rc;
	}
	cp_persist_opts_defaults(&po);
	po.log = stderr;
	rc = cp_persist_new(*s, &po, p);
	if (rc != 0) {
		store_close(*s);
		*s = NULL;
	}
	return rc;
}

static int
run_mode(struct cons_ctx *x, enum cons_mode mode, struct cons_run *r)
{
	struct cp_clinical *c = NULL;
	struct cp_persist *p = NULL;
	struct store *s = NULL;
	struct cp_clinical_opts co;
	struct cp_event_hooks h;
	double t0, t1;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	if (mode == MODE_BASELINE) {
		struct noop z = {0};

		h = (struct cp_event_hooks){noop_alarm, noop_telemetry, &z};
		t0 = now_ns();
		cons_feed(&x->load, &h, noop_tick, &z);
		t1 = now_ns();
		r->ns = t1 - t0;
		if (z.ticks != x->load.n_batches)
			return -EPROTO;
		return 0;
	}
	clinical_opts(x, &co);
	if (mode == MODE_LOG) {
		unlink(x->log_path);
		co.log_path = x->log_path;
	}
	if (mode == MODE_STORAGE) {
		rc = open_store(x, &s, &p);
		if (rc != 0)
			return rc;
		co.persist = p;
		co.store = s;
	}
	rc = cp_clinical_new(&co, &c);
	if (rc != 0) {
		fprintf(stderr, "bench consumer: cp_clinical_new: %s\n", strerror(-rc));
		goto out;
	}
	cp_clinical_hooks(c, &h);
	t0 = now_ns();
	cons_feed(&x->load, &h, cp_clinical_tick, c);
	if (p != NULL)
		rc = cp_persist_flush(p);
	t1 = now_ns();
	r->ns = t1 - t0;
	if (rc != 0) {
		fprintf(stderr, "bench consumer: cp_persist_flush: %s\n", strerror(-rc));
		goto out;
	}
	/* Announce what the last flush synced. */
	cp_clinical_tick(c);
	cp_clinical_counters(c, r->clin);
	cp_alarms_counters(cp_clinical_alarms(c), r->alarm);
	cp_patients_counters(cp_clinical_patients(c), r->patient);
	r->patients = cp_patients_count(cp_clinical_patients(c));
	if (p != NULL)
		cp_persist_counters(p, r->persist);
	if (s != NULL)
		store_counters(s, r->store);
out:
	cp_clinical_free(c);
	cp_persist_free(p);
	store_close(s);
	if (s != NULL)
		bench_rm_tree(x->store_dir);
	if (mode == MODE_LOG) {
		r->log_file_lines = count_lines(x->log_path);
		unlink(x->log_path);
	}
	return rc;
}

/* The counters of a run must be what was fed. */
static int
check_run(const struct cons_ctx *x, enum cons_mode mode, const struct cons_run *r,
	  const struct cons_run *first, unsigned run)
{
	const struct cons_load *L = &x->load;
	const uint64_t *c = r->clin;
	uint64_t announced = c[CP_CLIN_announced] + c[CP_CLIN_announced_unstored];
	int bad = 0;

	if (mode == MODE_BASELINE)
		return 0;
#define CONS_EXPECT(cond, ...)                                                                  \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			fprintf(stderr, "bench consumer: %s, run %u: ", mode_names[mode], run); \
			fprintf(stderr, __VA_ARGS__);                                           \
			fputc('\n', stderr);                                                    \
			bad = 1;                                                                \
		}                                                                               \
	} while (0)
	CONS_EXPECT(c[CP_CLIN_observations] == L->n_tele, "observations %" PRIu64 ", %zu were fed",
		    c[CP_CLIN_observations], L->n_tele);
	CONS_EXPECT(c[CP_CLIN_hits] == L->n_hit, "hits %" PRIu64 ", %zu were fed", c[CP_CLIN_hits],
		    L->n_hit);
	CONS_EXPECT(c[CP_CLIN_hits_unknown_rule] == 0, "%" PRIu64 " hits of an unknown rule",
		    c[CP_CLIN_hits_unknown_rule]);
	CONS_EXPECT(c[CP_CLIN_replayed] == 0, "%" PRIu64 " events skipped as replayed",
		    c[CP_CLIN_replayed]);
	CONS_EXPECT(c[CP_CLIN_seq_gaps] == 0, "%" PRIu64 " sequence gaps (none was fed)",
		    c[CP_CLIN_seq_gaps]);
	CONS_EXPECT(r->alarm[CP_ALM_raised] > 0, "no alarm raised from %u desaturating beds",
		    L->desat_beds);
	CONS_EXPECT(r->patient[CP_PAT_observations] == L->n_tele,
		    "the patient state was offered %" PRIu64 " observations, %zu were fed",
		    r->patient[CP_PAT_observations], L->n_tele);
	CONS_EXPECT(r->patients == L->beds, "%u patients, %u beds", r->patients, L->beds);
	if (mode == MODE_LOG) {
		/* A line per announcement, and one per change of a patient's NEWS2. */
		CONS_EXPECT(c[CP_CLIN_log_lines] >= announced && announced > 0 &&
				    c[CP_CLIN_log_failed] == 0 &&
				    r->log_file_lines == c[CP_CLIN_log_lines],
			    "log lines %" PRIu64 " (%" PRIu64 " in the file), failed %" PRIu64
			    ", announcements %" PRIu64,
			    c[CP_CLIN_log_lines], r->log_file_lines, c[CP_CLIN_log_failed],
			    announced);
	} else {
		CONS_EXPECT(c[CP_CLIN_log_lines] == 0, "log lines without a log");
	}
	if (mode == MODE_STORAGE) {
		const uint64_t *p = r->persist, *s = r->store;

		CONS_EXPECT(p[CP_PERSIST_obs_stored] == L->n_tele &&
				    s[STORE_CNT_obs_written] == L->n_tele,
			    "observations to the store %" PRIu64 ", written %" PRIu64
			    ", %zu were fed",
			    p[CP_PERSIST_obs_stored], s[STORE_CNT_obs_written], L->n_tele);
		CONS_EXPECT(s[STORE_CNT_obs_failed] == 0 && s[STORE_CNT_write_errors] == 0 &&
				    p[CP_PERSIST_alarm_store_failed] == 0,
			    "store writes failed");
		CONS_EXPECT(c[CP_CLIN_announced_unstored] == 0 &&
				    c[CP_CLIN_announced] == p[CP_PERSIST_alarms_stored] &&
				    c[CP_CLIN_announced] > 0,
			    "announced %" PRIu64 " after their sync and %" PRIu64
			    " unstored; %" PRIu64 " alarm records stored",
			    c[CP_CLIN_announced], c[CP_CLIN_announced_unstored],
			    p[CP_PERSIST_alarms_stored]);
	} else {
		CONS_EXPECT(c[CP_CLIN_announced] == 0 && c[CP_CLIN_announced_unstored] > 0,
			    "announced %" PRIu64 " as stored without a store",
			    c[CP_CLIN_announced]);
	}
	if (first != NULL) {
		CONS_EXPECT(memcmp(r->alarm, first->alarm, sizeof(r->alarm)) == 0 &&
				    announced == first->clin[CP_CLIN_announced] +
							 first->clin[CP_CLIN_announced_unstored] &&
				    r->patient[CP_PAT_news2_scores] ==
					    first->patient[CP_PAT_news2_scores],
			    "the alarm manager's counters differ from the first run's (raised "
			    "%" PRIu64 " against %" PRIu64 "): the same events gave other alarms",
			    r->alarm[CP_ALM_raised], first->alarm[CP_ALM_raised]);
	}
#undef CONS_EXPECT
	return bad ? -EPROTO : 0;
}

/* ------------------------------------------------------------------------ */
/* The report                                                                */
/* ------------------------------------------------------------------------ */

struct cons_result {
	double ns[MODE__COUNT][BENCH_MAX_RUNS]; /* per run, whole run */
	struct cons_run first[MODE__COUNT];	/* the first timed run's counters */
};

static double
events_per_s(const struct cons_load *L, double ns)
{
	return (double)(L->n_tele + L->n_hit) * 1e9 / ns;
}

static void
print_text(const struct cons_ctx *x, const struct cons_result *res, unsigned runs)
{
	const struct cons_load *L = &x->load;
	double ev = (double)(L->n_tele + L->n_hit);
	double base_ns = bench_median(res->ns[MODE_BASELINE], runs);
	double a;

	printf("%-4s", "run");
	for (unsigned m = 0; m < MODE__COUNT; m++)
		printf(" %18s", mode_names[m]);
	printf("   (M events/s)\n");
	for (unsigned r = 0; r < runs; r++) {
		printf("%-4u", r + 1);
		for (unsigned m = 0; m < MODE__COUNT; m++)
			printf(" %18.3f", events_per_s(L, res->ns[m][r]) / 1e6);
		putchar('\n');
	}
	for (unsigned m = 0; m < MODE__COUNT; m++) {
		double md = bench_median(res->ns[m], runs), lo, hi;

		min_max(res->ns[m], runs, &lo, &hi);
		printf("%s: median %.3f M events/s (%.1f ns each; runs %.3f .. %.3f), "
		       "observations %.3f M/s, rule hits %.0f/s; ratio to the baseline %.1f\n",
		       mode_titles[m], ev * 1e3 / md, md / ev, ev * 1e3 / hi, ev * 1e3 / lo,
		       (double)L->n_tele * 1e3 / md, (double)L->n_hit * 1e9 / md, md / base_ns);
	}
	a = ev * 1e9 / bench_median(res->ns[MODE_CLINICAL], runs);
	printf("target: at least 2,000,000 events/s without storage: %s (median %.3f M/s = "
	       "%.2f of the target); with storage %.3f M/s = %.2f of it\n",
	       a >= CONS_TARGET ? "met" : "NOT met", a / 1e6, a / CONS_TARGET,
	       ev * 1e3 / bench_median(res->ns[MODE_STORAGE], runs),
	       ev * 1e9 / bench_median(res->ns[MODE_STORAGE], runs) / CONS_TARGET);
	{
		const struct cons_run *r = &res->first[MODE_STORAGE];

		printf("per run: alarms: %" PRIu64 " conditions, %" PRIu64 " raised, %" PRIu64
		       " ended within their delay, %" PRIu64 " escalated, %" PRIu64
		       " cleared; NEWS2 scores %" PRIu64 "; %u patients; announcements %" PRIu64
		       "; alarm log lines %" PRIu64 "; the store: %" PRIu64
		       " observation batches, %" PRIu64 " alarm groups synced\n",
		       r->alarm[CP_ALM_conditions], r->alarm[CP_ALM_raised],
		       r->alarm[CP_ALM_filtered_delay], r->alarm[CP_ALM_escalated],
		       r->alarm[CP_ALM_cleared], r->patient[CP_PAT_news2_scores], r->patients,
		       r->clin[CP_CLIN_announced], res->first[MODE_LOG].clin[CP_CLIN_log_lines],
		       r->store[STORE_CNT_obs_batches], r->persist[CP_PERSIST_alarm_groups]);
	}
	printf("checks: in every run the pipeline took every observation and hit fed and "
	       "raised the same alarms; the log had a line per announcement and NEWS2 change, "
	       "and the store every observation and alarm change (%s, %s)\n",
	       x->base, x->fs);
}

static void
print_json(const struct cons_ctx *x, const struct cons_result *res, unsigned runs)
{
	const struct cons_load *L = &x->load;
	double ev = (double)(L->n_tele + L->n_hit);
	double base_ns = bench_median(res->ns[MODE_BASELINE], runs);
	double a = ev * 1e9 / bench_median(res->ns[MODE_CLINICAL], runs);
	const struct cons_run *fr = &res->first[MODE_STORAGE];

	printf("{\"command\":");
	print_json_string(x->o->command);
	printf(",\"scenario\":\"consumer\",\"runs\":%u,\"beds\":%u,\"desaturating_beds\":%u,"
	       "\"seconds\":%u,\"events\":%zu,\"observations\":%zu,\"hits\":%zu,"
	       "\"batch\":%u,\"filesystem\":\"%s\",\"modes\":[",
	       runs, L->beds, L->desat_beds, L->seconds, L->n_tele + L->n_hit, L->n_tele, L->n_hit,
	       CONS_BATCH, x->fs);
	for (unsigned m = 0; m < MODE__COUNT; m++) {
		double md = bench_median(res->ns[m], runs), lo, hi;

		min_max(res->ns[m], runs, &lo, &hi);
		printf("%s{\"mode\":\"%s\",\"events_per_s\":%.0f,\"obs_per_s\":%.0f,"
		       "\"hits_per_s\":%.0f,\"ns_per_event\":%.2f,\"events_per_s_min\":%.0f,"
		       "\"events_per_s_max\":%.0f,\"ratio_to_baseline\":%.3f,\"runs_events_per_s\":"
		       "[",
		       m ? "," : "", mode_names[m], ev * 1e9 / md, (double)L->n_tele * 1e9 / md,
		       (double)L->n_hit * 1e9 / md, md / ev, ev * 1e9 / hi, ev * 1e9 / lo,
		       md / base_ns);
		for (unsigned r = 0; r < runs; r++)
			printf("%s%.0f", r ? "," : "", events_per_s(L, res->ns[m][r]));
		printf("]}");
	}
	printf("],\"target_events_per_s\":%.0f,\"ratio_to_target\":%.3f,\"target_met\":%s,"
	       "\"alarms\":{\"conditions\":%" PRIu64 ",\"raised\":%" PRIu64
	       ",\"escalated\":%" PRIu64 ",\"cleared\":%" PRIu64 "},\"news2_scores\":%" PRIu64
	       ",\"announcements\":%" PRIu64 ",\"log_lines\":%" PRIu64
	       ",\"store_obs_batches\":%" PRIu64 ",\"store_alarm_groups\":%" PRIu64
	       ",\"checks_ok\":true}\n",
	       CONS_TARGET, a / CONS_TARGET, a >= CONS_TARGET ? "true" : "false",
	       fr->alarm[CP_ALM_conditions], fr->alarm[CP_ALM_raised], fr->alarm[CP_ALM_escalated],
	       fr->alarm[CP_ALM_cleared], fr->patient[CP_PAT_news2_scores],
	       fr->clin[CP_CLIN_announced], res->first[MODE_LOG].clin[CP_CLIN_log_lines],
	       fr->store[STORE_CNT_obs_batches], fr->persist[CP_PERSIST_alarm_groups]);
}

/* ------------------------------------------------------------------------ */
/* The scenario                                                              */
/* ------------------------------------------------------------------------ */

static int
load_rules(const char *dir, struct rule_set **set)
{
	char clinical[PATH_MAX], network[PATH_MAX];
	const char *files[2] = {clinical, network};
	struct rule_load_opts opts;
	struct rule_diags diags = {0};
	int rc;

	if (snprintf(clinical, sizeof(clinical), "%s/clinical.rules", dir) >=
		    (int)sizeof(clinical) ||
	    snprintf(network, sizeof(network), "%s/network.rules", dir) >= (int)sizeof(network))
		return -ENAMETOOLONG;
	memset(&opts, 0, sizeof(opts));
	opts.files = files;
	opts.n_files = 2;
	/* The pipeline reads the rules' facts, never their Hyperscan database. */
	opts.no_compile = true;
	rc = rule_set_load(&opts, set, &diags);
	if (rc != 0)
		rule_diags_print(&diags, stderr);
	rule_diags_free(&diags);
	if (rc != 0)
		fprintf(stderr, "bench consumer: the rules in %s: %s\n", dir, strerror(-rc));
	return rc;
}

int
bench_consumer(const struct bench_consumer_opts *o)
{
	unsigned runs = o->runs > BENCH_MAX_RUNS ? BENCH_MAX_RUNS : o->runs;
	unsigned beds = o->smoke ? BENCH_CONSUMER_SMOKE_BEDS : BENCH_CONSUMER_DEFAULT_BEDS;
	const char *parent = o->dir;
	struct rule_set *set = NULL;
	struct cons_result *res = NULL;
	struct cons_ctx *x;
	bool made = false;
	int rc;

	x = calloc(1, sizeof(*x));
	res = calloc(1, sizeof(*res));
	if (x == NULL || res == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	x->o = o;
	if (parent == NULL) {
		parent = getenv("TMPDIR");
		if (parent == NULL || parent[0] == '\0')
			parent = "/var/tmp";
	}
	if (snprintf(x->base, sizeof(x->base), "%s/vigil-bench-consumer-XXXXXX", parent) >=
	    (int)sizeof(x->base)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	if (mkdtemp(x->base) == NULL) {
		rc = -errno;
		fprintf(stderr, "bench consumer: cannot make a directory under %s: %s\n", parent,
			strerror(errno));
		goto out;
	}
	made = true;
	dir_fs(x->base, x->fs, sizeof(x->fs));
	if (snprintf(x->store_dir, sizeof(x->store_dir), "%s/store", x->base) >=
		    (int)sizeof(x->store_dir) ||
	    snprintf(x->log_path, sizeof(x->log_path), "%s/alarms.json", x->base) >=
		    (int)sizeof(x->log_path)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	rc = load_rules(o->rules_dir, &set);
	if (rc != 0)
		goto out;
	x->set = set;
	rc = load_build(&x->load, beds, o->events, set);
	if (rc != 0) {
		fprintf(stderr, "bench consumer: building the workload: %s\n", strerror(-rc));
		goto out;
	}
	if (!o->json) {
		const struct cons_load *L = &x->load;

		printf("# %s\n", o->command);
		printf("# %u beds (%u desaturating), %u simulated seconds: %zu events per run "
		       "(%zu observations, %zu rule hits), %zu batches of %u, one tick per "
		       "batch; %u run(s) after a warm-up run of each mode; in %s (%s)\n",
		       L->beds, L->desat_beds, L->seconds, L->n_tele + L->n_hit, L->n_tele,
		       L->n_hit, L->n_batches, CONS_BATCH, runs, x->base, x->fs);
		fflush(stdout);
	}
	/* Warm-up: every mode once, checked, not timed. */
	for (unsigned m = 0; m < MODE__COUNT; m++) {
		struct cons_run r;

		rc = run_mode(x, (enum cons_mode)m, &r);
		if (rc == 0)
			rc = check_run(x, (enum cons_mode)m, &r, NULL, 0);
		if (rc != 0)
			goto out;
	}
	for (unsigned r = 0; r < runs; r++) {
		for (unsigned m = 0; m < MODE__COUNT; m++) {
			struct cons_run run;
			const struct cons_run *first = NULL;

			rc = run_mode(x, (enum cons_mode)m, &run);
			if (rc != 0)
				goto out;
			/* Every run is compared with the first timed one without storage. */
			if (m != MODE_BASELINE && !(r == 0 && m == MODE_CLINICAL))
				first = &res->first[MODE_CLINICAL];
			rc = check_run(x, (enum cons_mode)m, &run, first, r + 1);
			if (rc != 0)
				goto out;
			if (r == 0)
				res->first[m] = run;
			res->ns[m][r] = run.ns;
		}
		if (!o->json) {
			printf("run %u:", r + 1);
			for (unsigned m = 0; m < MODE__COUNT; m++)
				printf(" %s %.3f M/s%s", mode_names[m],
				       events_per_s(&x->load, res->ns[m][r]) / 1e6,
				       m + 1 < MODE__COUNT ? "," : "\n");
			fflush(stdout);
		}
	}
	if (o->json)
		print_json(x, res, runs);
	else
		print_text(x, res, runs);
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = -EIO;
out:
	if (made)
		bench_rm_tree(x->base);
	if (x != NULL)
		load_free(&x->load);
	rule_set_free(set);
	free(res);
	free(x);
	return rc;
}
