/*
 * test_clinical.c - unit tests of the clinical pipeline (controlplane/clinical.c).
 *
 * The consumer's hooks (cp_clinical_hooks) are fed events directly, and
 * cp_clinical_tick is called at the end of each "pass" as the consumer
 * does: no EAL, no data plane (opts.dp NULL, opts.rules a small ruleset
 * loaded from text). Every pipeline runs in packet time with events in
 * 2024, so nothing depends on the wall clock. Alarms go to a real store in
 * a temporary directory (read back with the store's own queries) and to an
 * alarm log there (read back line by line).
 *
 *   - store before announce: a desaturation raises and clears one alarm; no
 *     line reaches the log before the tick that syncs its record, then
 *     "raised" and "cleared" with "stored":true; the store has one record
 *     for that id, final, with both changes; announced == log lines ==
 *     alarm changes;
 *   - storage failing: the storage condition raises the high-priority
 *     technical alarm and ends it; a read-only store (writes refused):
 *     changes announced at once with "stored":false, counted unstored;
 *   - restart: a second pipeline on the same store takes back an open and a
 *     latched alarm; low SpO2 keeps the same alarm, a normal value clears
 *     it under the same id; the latched one stays latched; replayed events
 *     (not newer than the newest stored change) are skipped, also when
 *     every alarm of the first run had ended;
 *   - restored technical alarms: a silent device's ends when it is heard
 *     from; a sequence gap's and storage's end at the first tick;
 *   - NEWS2: 5 or more raises 3000021 with the response text, "incomplete"
 *     without oxygen and ACVPU, complete with the patient's settings; it
 *     clears only after 60 s below and only with every vital sign; news2
 *     lines in the log when the score changes;
 *   - device silent, VTP sequence gaps, decode errors by sender (raised by
 *     a rate, ended after a window with fewer, and not ended while the rate
 *     holds), event loss in packet time (the consumer's wall-clock stamp
 *     does not move the replay's clock), a device alarm tied to the rule
 *     hit of its message and one without, a refused reload (and a
 *     configured priority), the alarm log reopened after a rotation; the
 *     counters' names.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "controlplane.h"
#include "cunit_main.h"

#define SEC INT64_C(1000000000)
#define T0 INT64_C(1714557600000000000) /* 2024-05-01T10:00:00Z */
#define AT(s) (T0 + (int64_t)((s)*1e9))
#define DEV1 UINT64_C(0x0011223344556677)
#define DEV2 UINT64_C(0x00A0B0C0D0E0F001)
#define DEV3 UINT64_C(0x00000000000000D3)
#define SID_SPO2 9000001
#define SID_ASYSTOLE 9000002
#define SID_MALFORMED 9000003
#define MAX_LINES 1024

static const char rules_text[] =
	"alert any any any -> any any (msg:\"SpO2 below 90\"; metric:SPO2; value:<90; "
	"delay:10s; priority:medium; kind:physiological; sid:9000001; rev:1;)\n"
	"alert hl7 any any -> any any (msg:\"Asystole\"; content:\"MDC_EVT_ECG_ASYSTOLE\"; "
	"latch; priority:high; kind:physiological; sid:9000002; rev:1;)\n"
	"alert udp any any -> any any (msg:\"Malformed telemetry\"; malformed; "
	"priority:low; kind:technical; sid:9000003; rev:1;)\n";

static char tmp_root[] = "/tmp/vigil-test-clinical-XXXXXX";
static struct rule_set *rules;
static uint32_t code_spo2, code_hr, code_rr, code_sbp, code_temp;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static uint32_t
code_of(const char *name)
{
	const struct rule_metric *m = rule_metric_by_name(name, strlen(name));

	return m != NULL ? m->code : 0;
}

static int
suite_init(void)
{
	struct rule_source src = {.name = "t.rules", .text = rules_text, .len = strlen(rules_text)};
	struct rule_load_opts o = {.sources = &src, .n_sources = 1};
	struct rule_diags d = {0};
	int rc;

	if (mkdtemp(tmp_root) == NULL)
		return -1;
	rc = rule_set_load(&o, &rules, &d);
	if (rc != 0)
		rule_diags_print(&d, stderr);
	rule_diags_free(&d);
	code_spo2 = code_of("SPO2");
	code_hr = code_of("HR");
	code_rr = code_of("RR");
	code_sbp = code_of("NIBP_SYS");
	code_temp = code_of("TEMP");
	if (rc != 0 || code_spo2 == 0 || code_hr == 0 || code_rr == 0 || code_sbp == 0 ||
	    code_temp == 0)
		return -1;
	return 0;
}

static int
suite_cleanup(void)
{
	rule_set_free(rules);
	nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* A pipeline on a store                                                     */
/* ------------------------------------------------------------------------ */

struct fx {
	char dir[512];
	char log_path[600];
	struct store *s;
	struct cp_persist *p;
	struct cp_clinical *c;
	struct cp_event_hooks h;
	FILE *vlog;   /* vigild's own log */
	uint64_t tsc; /* one per message, as a worker's burst clock */
};

/*
 * The options every test starts from. SpO2 is taken out of NEWS2 so that a
 * desaturation raises its rule's alarm and nothing else (NEWS2 has a test
 * of its own, with the defaults).
 */
static void
fx_opts(struct cp_clinical_opts *o)
{
	memset(o, 0, sizeof(*o));
	cp_alarm_opts_defaults(&o->alarm);
	cp_patient_opts_defaults(&o->patient);
	memset(o->patient.source[CP_N2_SPO2], 0, sizeof(o->patient.source[CP_N2_SPO2]));
	o->rules = rules;
	o->packet_time = true;
}

/* Open (creating it read-write) the store of directory @p name; read-only reopens it. */
static bool
fx_store(struct fx *f, const char *name, enum store_mode mode)
{
	struct store_opts so;
	char err[512] = "";
	int rc;

	snprintf(f->dir, sizeof(f->dir), "%s/%s", tmp_root, name);
	snprintf(f->log_path, sizeof(f->log_path), "%s/alarms-%s.json", tmp_root, name);
	store_opts_defaults(&so);
	/* Events are dated 2024: nothing may expire them. */
	memset(so.retain_s, 0, sizeof(so.retain_s));
	so.expire_every_s = 0;
	so.dir = f->dir;
	so.mode = mode;
	rc = store_open(&so, &f->s, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "\nstore_open %s: %d %s\n", f->dir, rc, err);
	return rc == 0;
}

static void
fx_close(struct fx *f)
{
	store_close(f->s);
	f->s = NULL;
}

/* Persist and pipeline on the open store (none: @p o as it is). */
static bool
fx_start(struct fx *f, struct cp_clinical_opts *o)
{
	struct cp_persist_opts po;
	int rc;

	if (f->vlog == NULL)
		f->vlog = tmpfile();
	if (f->vlog == NULL)
		return false;
	if (f->s != NULL) {
		cp_persist_opts_defaults(&po);
		po.log = f->vlog;
		rc = cp_persist_new(f->s, &po, &f->p);
		CU_ASSERT_EQUAL(rc, 0);
		if (rc != 0)
			return false;
		o->store = f->s;
		o->persist = f->p;
		o->log_path = f->log_path;
	}
	o->log = f->vlog;
	rc = cp_clinical_new(o, &f->c);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc != 0)
		return false;
	cp_clinical_hooks(f->c, &f->h);
	return true;
}

/* Free the pipeline and its persist (the store stays open). */
static void
fx_stop(struct fx *f)
{
	cp_clinical_free(f->c);
	f->c = NULL;
	cp_persist_free(f->p);
	f->p = NULL;
}

static void
fx_end(struct fx *f)
{
	fx_stop(f);
	fx_close(f);
	if (f->vlog != NULL)
		fclose(f->vlog);
	f->vlog = NULL;
}

/* What the pipeline said on vigild's log. */
static void
vlog_text(struct fx *f, char *buf, size_t len)
{
	size_t n;

	fflush(f->vlog);
	rewind(f->vlog);
	n = fread(buf, 1, len - 1, f->vlog);
	buf[n] = '\0';
	fseek(f->vlog, 0, SEEK_END);
}

/* ------------------------------------------------------------------------ */
/* Events                                                                    */
/* ------------------------------------------------------------------------ */

static struct dp_event
ev_make(enum dp_event_type type, uint64_t device, int64_t t, uint64_t tsc)
{
	struct dp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = (uint8_t)type;
	ev.proto = RULE_PROTO_HL7;
	ev.ip_version = 4;
	ev.sport = 40000;
	ev.src[0] = 10;
	ev.src[1] = 1;
	ev.src[2] = 2;
	ev.src[3] = 3;
	ev.tsc = tsc;
	ev.wall_ns = t;
	ev.time_ns = t;
	ev.device = device;
	ev.value = NAN;
	return ev;
}

static struct dp_event
obs_make(uint64_t device, int64_t t, uint64_t tsc, uint32_t code, double value, unsigned index)
{
	struct dp_event ev = ev_make(DP_EV_OBS, device, t, tsc);
	const struct rule_metric *m = rule_metric_by_code(code);

	ev.code = code;
	ev.unit = m != NULL ? m->unit : 0;
	ev.value = value;
	ev.obs_index = (uint16_t)index;
	return ev;
}

/* The hit of rule @p sid on @p ev (an observation, or a message when obs_index is RULE_HIT_MSG). */
static struct dp_event
hit_of(const struct dp_event *ev, uint32_t sid)
{
	const struct rule *r = rule_set_find(rules, sid);
	struct dp_event h = *ev;

	h.type = DP_EV_HIT;
	h.u.hit.ruleset_version = 0;
	h.u.hit.sid = sid;
	h.u.hit.rev = r != NULL ? r->rev : 1;
	h.u.hit.rule_index = r != NULL ? r->index : 0;
	h.u.hit.action = RULE_ACTION_ALERT;
	h.u.hit.priority = r != NULL ? r->priority : RULE_PRIO_LOW;
	h.u.hit.kind = r != NULL ? r->kind : 0;
	return h;
}

/* One message with one SpO2 observation; below 90 the rule hits it first, as a worker puts it. */
static void
spo2(struct fx *f, uint64_t device, int64_t t, double value)
{
	struct dp_event ev = obs_make(device, t, ++f->tsc, code_spo2, value, 0);

	if (value < 90) {
		struct dp_event h = hit_of(&ev, SID_SPO2);

		f->h.on_alarm(f->h.arg, &h);
	}
	f->h.on_telemetry(f->h.arg, &ev, 1);
}

/* A VTP frame of @p n SpO2 observations, all with sequence number @p seq. */
static void
vtp(struct fx *f, uint64_t device, int64_t t, uint32_t seq, unsigned n)
{
	struct dp_event ev[4];

	for (unsigned i = 0; i < n && i < 4; i++) {
		ev[i] = obs_make(device, t, f->tsc + 1, code_spo2, 97, i);
		ev[i].proto = RULE_PROTO_VTP;
		ev[i].seq = seq;
	}
	f->tsc++;
	f->h.on_telemetry(f->h.arg, ev, n);
}

/* A hit of the latching content rule on a whole message. */
static void
asystole(struct fx *f, uint64_t device, int64_t t)
{
	struct dp_event ev = ev_make(DP_EV_HIT, device, t, ++f->tsc);

	ev.obs_index = RULE_HIT_MSG;
	ev = hit_of(&ev, SID_ASYSTOLE);
	f->h.on_alarm(f->h.arg, &ev);
}

/* A datagram from 10.1.2.3 that did not decode: the malformed rule's hit. */
static void
malformed(struct fx *f, int64_t t)
{
	struct dp_event ev = ev_make(DP_EV_HIT, 0, t, ++f->tsc);

	ev.proto = RULE_PROTO_UDP;
	ev.obs_index = RULE_HIT_MSG;
	ev = hit_of(&ev, SID_MALFORMED);
	ev.u.hit.malformed = 1;
	f->h.on_alarm(f->h.arg, &ev);
}

/* One message of the five NEWS2 vitals (a NaN is left out). */
static void
vitals(struct fx *f, uint64_t device, int64_t t, double rr, double sp, double sbp, double hr,
       double temp)
{
	const uint32_t code[5] = {code_rr, code_spo2, code_sbp, code_hr, code_temp};
	const double v[5] = {rr, sp, sbp, hr, temp};
	struct dp_event ev[5];
	unsigned n = 0;

	f->tsc++;
	for (unsigned i = 0; i < 5; i++)
		if (!isnan(v[i])) {
			ev[n] = obs_make(device, t, f->tsc, code[i], v[i], n);
			n++;
		}
	f->h.on_telemetry(f->h.arg, ev, n);
}

/* ------------------------------------------------------------------------ */
/* Reading back                                                              */
/* ------------------------------------------------------------------------ */

/* The alarm log, every line parsed. */
struct eve_log {
	unsigned n;
	bool bad; /* a line that is not a JSON object */
	json_t *line[MAX_LINES];
};

static void
eve_read(const char *path, struct eve_log *l)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *in;

	memset(l, 0, sizeof(*l));
	in = fopen(path, "r");
	if (in == NULL)
		return;
	while ((len = getline(&buf, &cap, in)) > 0) {
		json_t *j = json_loadb(buf, (size_t)len, 0, NULL);

		if (j == NULL || !json_is_object(j) || buf[len - 1] != '\n') {
			l->bad = true;
			json_decref(j);
			continue;
		}
		if (l->n < MAX_LINES)
			l->line[l->n++] = j;
		else
			json_decref(j);
	}
	free(buf);
	fclose(in);
}

static void
eve_free(struct eve_log *l)
{
	for (unsigned i = 0; i < l->n; i++)
		json_decref(l->line[i]);
	l->n = 0;
}

static const char *
jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

static int64_t
jint(const json_t *o, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(o, key));
}

/* The alarm object of line @p i, or NULL (a news2 line). */
static json_t *
eve_alarm(const struct eve_log *l, unsigned i)
{
	if (strcmp(jstr(l->line[i], "event_type"), "alarm") != 0)
		return NULL;
	return json_object_get(l->line[i], "alarm");
}

/* The @p nth alarm line of @p sid (0: any) with change @p change (NULL: any), or NULL. */
static json_t *
eve_find(const struct eve_log *l, uint32_t sid, const char *change, unsigned nth)
{
	for (unsigned i = 0; i < l->n; i++) {
		json_t *a = eve_alarm(l, i);

		if (a == NULL || (sid != 0 && jint(a, "sid") != sid) ||
		    (change != NULL && strcmp(jstr(a, "change"), change) != 0))
			continue;
		if (nth-- == 0)
			return a;
	}
	return NULL;
}

static unsigned
eve_count(const struct eve_log *l, uint32_t sid, const char *change)
{
	unsigned n = 0;

	while (eve_find(l, sid, change, n) != NULL)
		n++;
	return n;
}

static unsigned
eve_count_type(const struct eve_log *l, const char *type)
{
	unsigned n = 0;

	for (unsigned i = 0; i < l->n; i++)
		n += strcmp(jstr(l->line[i], "event_type"), type) == 0;
	return n;
}

/* The open alarm of @p sid about @p subject (NULL: any); how many there are. */
struct find {
	uint32_t sid;
	const char *subject;
	unsigned n;
	struct cp_alarm *a;
};

static int
find_one(void *arg, const struct cp_alarm *a)
{
	struct find *fd = arg;

	if (a->sid != fd->sid || (fd->subject != NULL && strcmp(a->subject, fd->subject) != 0))
		return 0;
	if (fd->n++ == 0 && fd->a != NULL)
		*fd->a = *a;
	return 0;
}

static unsigned
open_alarms(struct cp_clinical *c, uint32_t sid, const char *subject, struct cp_alarm *out)
{
	struct find fd = {.sid = sid, .subject = subject, .a = out};

	cp_alarms_foreach(cp_clinical_alarms(c), find_one, &fd);
	return fd.n;
}

/* Every alarm record of the store. */
struct recs {
	unsigned n;
	bool bad;
	struct cp_alarm a[16];
};

static int
collect(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	struct recs *r = arg;

	(void)time_ns;
	if (r->n == 16)
		return 0;
	if (cp_alarm_from_json(json, len, &r->a[r->n]) != 0 || r->a[r->n].id != id)
		r->bad = true;
	else
		r->n++;
	return 0;
}

static const struct cp_alarm *
rec_of(const struct recs *r, uint64_t id)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->a[i].id == id)
			return &r->a[i];
	return NULL;
}

static void
subject_of_dev(uint64_t device, char *buf, size_t len)
{
	snprintf(buf, len, "device:%016" PRIX64, device);
}

static uint64_t
clin(struct fx *f, enum cp_clinical_counter which)
{
	uint64_t cc[CP_CLIN__COUNT];

	cp_clinical_counters(f->c, cc);
	return cc[which];
}

static uint64_t
alm(struct fx *f, enum cp_alarm_counter which)
{
	uint64_t ac[CP_ALM__COUNT];

	cp_alarms_counters(cp_clinical_alarms(f->c), ac);
	return ac[which];
}

/* ------------------------------------------------------------------------ */
/* Store before announce                                                     */
/* ------------------------------------------------------------------------ */

static void
test_store_before_announce(void)
{
	struct cp_clinical_opts o;
	struct fx f = {0};
	struct eve_log l;
	struct recs *r = calloc(1, sizeof(*r));
	const struct cp_alarm *rec;
	uint64_t id;
	json_t *a;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_FATAL(fx_store(&f, "announce", STORE_READ_WRITE));
	fx_opts(&o);
	CU_ASSERT_FATAL(fx_start(&f, &o));

	spo2(&f, DEV1, AT(0), 98);
	cp_clinical_tick(f.c);
	/* Below 90 from 1 s: pending for the rule's 10 s, raised at 11 s. */
	for (int s = 1; s <= 12; s++)
		spo2(&f, DEV1, AT(s), 85);
	CU_ASSERT_EQUAL(alm(&f, CP_ALM_raised), 1);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_announced), 0);
	eve_read(f.log_path, &l);
	CU_ASSERT_EQUAL(l.n, 0); /* nothing before its record is synced */
	eve_free(&l);

	cp_clinical_tick(f.c);
	eve_read(f.log_path, &l);
	CU_ASSERT_FALSE(l.bad);
	CU_ASSERT_EQUAL(l.n, 1);
	a = eve_find(&l, SID_SPO2, "raised", 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	id = (uint64_t)jint(a, "id");
	CU_ASSERT_NOT_EQUAL(id, 0);
	CU_ASSERT_TRUE(json_is_true(json_object_get(a, "stored")));
	CU_ASSERT_STRING_EQUAL(jstr(a, "state"), "active");
	CU_ASSERT_STRING_EQUAL(jstr(a, "priority"), "medium");
	eve_free(&l);

	/* A normal value newer than the last hit ends it; announced at the next tick. */
	spo2(&f, DEV1, AT(13), 97);
	CU_ASSERT_EQUAL(alm(&f, CP_ALM_cleared), 1);
	eve_read(f.log_path, &l);
	CU_ASSERT_EQUAL(l.n, 1);
	eve_free(&l);
	cp_clinical_tick(f.c);
	eve_read(f.log_path, &l);
	CU_ASSERT_EQUAL(l.n, 2);
	a = eve_find(&l, SID_SPO2, "cleared", 0);
	CU_ASSERT_PTR_NOT_NULL(a);
	if (a != NULL) {
		CU_ASSERT_EQUAL(jint(a, "id"), (int64_t)id);
		CU_ASSERT_TRUE(json_is_true(json_object_get(a, "stored")));
		CU_ASSERT_STRING_EQUAL(jstr(a, "state"), "cleared");
	}

	/* Every change announced once, after its record: counters agree with the log. */
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_announced), 2);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_announced_unstored), 0);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_log_lines), l.n);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_log_failed), 0);
	CU_ASSERT_EQUAL(alm(&f, CP_ALM_raised) + alm(&f, CP_ALM_cleared), l.n);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_hits), 12);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_observations), 14);
	eve_free(&l);

	/* The store: one record under that id, final, with both changes. */
	CU_ASSERT_EQUAL(store_query_alarms(f.s, 0, INT64_MAX, collect, r), 0);
	CU_ASSERT_FALSE(r->bad);
	CU_ASSERT_EQUAL(r->n, 1);
	rec = rec_of(r, id);
	CU_ASSERT_PTR_NOT_NULL(rec);
	if (rec != NULL) {
		CU_ASSERT_EQUAL(rec->sid, SID_SPO2);
		CU_ASSERT_EQUAL(rec->state, CP_ALARM_CLEARED);
		CU_ASSERT_EQUAL(rec->raised_ns, AT(11));
		CU_ASSERT_EQUAL(rec->ended_ns, AT(13));
		CU_ASSERT_EQUAL_FATAL(rec->n_hist, 2);
		CU_ASSERT_EQUAL(rec->hist[0].change, CP_ALC_RAISED);
		CU_ASSERT_EQUAL(rec->hist[1].change, CP_ALC_CLEARED);
	}
	fx_end(&f);
	free(r);
}

/* ------------------------------------------------------------------------ */
/* Storage failing                                                           */
/* ------------------------------------------------------------------------ */

static void
test_storage_condition(void)
{
	struct cp_clinical_opts o;
	struct cp_alarm a;
	struct fx f = {0};
	struct eve_log l;
	json_t *j;

	CU_ASSERT_FATAL(fx_store(&f, "storage", STORE_READ_WRITE));
	fx_opts(&o);
	CU_ASSERT_FATAL(fx_start(&f, &o));
	spo2(&f, DEV1, AT(0), 98);
	cp_clinical_tick(f.c);

	/* As persist's on_condition says it: raised at the next tick. */
	cp_clinical_storage_condition(f.c, -ENOSPC);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_STORAGE, NULL, NULL), 0);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, CP_SID_STORAGE, NULL, &a), 1);
	CU_ASSERT_EQUAL(a.priority, RULE_PRIO_HIGH);
	CU_ASSERT_EQUAL(a.source, CP_ALS_TECHNICAL);
	CU_ASSERT_EQUAL(a.state, CP_ALARM_ACTIVE);
	CU_ASSERT_STRING_EQUAL(a.subject, "vigil");
	/* Still failing: the same alarm, nothing new. */
	cp_clinical_storage_condition(f.c, -ENOSPC);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(alm(&f, CP_ALM_raised), 1);

	cp_clinical_storage_condition(f.c, 0);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_STORAGE, NULL, NULL), 1);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_STORAGE, NULL, NULL), 0);
	cp_clinical_tick(f.c);
	eve_read(f.log_path, &l);
	j = eve_find(&l, CP_SID_STORAGE, "raised", 0);
	CU_ASSERT_PTR_NOT_NULL(j);
	if (j != NULL)
		CU_ASSERT_STRING_EQUAL(jstr(j, "priority"), "high");
	j = eve_find(&l, CP_SID_STORAGE, "cleared", 0);
	CU_ASSERT_PTR_NOT_NULL(j);
	if (j != NULL)
		CU_ASSERT_EQUAL(jint(j, "id"), (int64_t)a.id);
	CU_ASSERT_EQUAL(l.n, 2);
	eve_free(&l);
	fx_end(&f);
}

/* A store that refuses every write: alarms are announced anyway, unstored. */
static void
test_storage_read_only(void)
{
	struct cp_clinical_opts o;
	struct fx f = {0};
	struct eve_log l;
	uint64_t unstored;
	json_t *j;

	CU_ASSERT_FATAL(fx_store(&f, "ro", STORE_READ_WRITE));
	fx_close(&f);
	CU_ASSERT_FATAL(fx_store(&f, "ro", STORE_READ_ONLY));
	fx_opts(&o);
	CU_ASSERT_FATAL(fx_start(&f, &o));
	for (int s = 0; s <= 11; s++) {
		spo2(&f, DEV1, AT(s), 85);
		cp_clinical_tick(f.c);
	}
	cp_clinical_tick(f.c);
	eve_read(f.log_path, &l);
	CU_ASSERT_FALSE(l.bad);
	j = eve_find(&l, SID_SPO2, "raised", 0);
	CU_ASSERT_PTR_NOT_NULL(j);
	if (j != NULL)
		CU_ASSERT_TRUE(json_is_false(json_object_get(j, "stored")));
	/* The failing observation writes made it a technical condition too. */
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_STORAGE, NULL, NULL), 1);
	j = eve_find(&l, CP_SID_STORAGE, "raised", 0);
	CU_ASSERT_PTR_NOT_NULL(j);
	if (j != NULL)
		CU_ASSERT_TRUE(json_is_false(json_object_get(j, "stored")));
	unstored = clin(&f, CP_CLIN_announced_unstored);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_announced), 0);
	CU_ASSERT(unstored >= 2);
	CU_ASSERT_EQUAL(unstored, l.n);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_log_lines), l.n);
	eve_free(&l);
	fx_end(&f);
}

/* ------------------------------------------------------------------------ */
/* Restart                                                                   */
/* ------------------------------------------------------------------------ */

static void
test_restart(void)
{
	char text[2048], sub1[32];
	struct cp_clinical_opts o;
	struct cp_alarm a;
	struct fx f = {0};
	struct eve_log l;
	struct recs *r = calloc(1, sizeof(*r));
	const struct cp_alarm *rec;
	uint64_t spo2_id, latch_id;
	json_t *j;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	subject_of_dev(DEV1, sub1, sizeof(sub1));
	CU_ASSERT_FATAL(fx_store(&f, "restart", STORE_READ_WRITE));
	fx_opts(&o);
	o.alarm.hold_ns = 5 * SEC;
	CU_ASSERT_FATAL(fx_start(&f, &o));

	/* Pipeline A: SpO2 low from 0 s (raised at 10 s, still low at 12 s); an
	 * asystole hit at 1 s, latched once its hold has passed (6 s). */
	for (int s = 0; s <= 12; s++) {
		spo2(&f, DEV1, AT(s), 85);
		if (s == 1)
			asystole(&f, DEV2, AT(1));
		cp_clinical_tick(f.c);
	}
	CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, SID_SPO2, sub1, &a), 1);
	CU_ASSERT_EQUAL(a.state, CP_ALARM_ACTIVE);
	spo2_id = a.id;
	CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, SID_ASYSTOLE, NULL, &a), 1);
	CU_ASSERT_EQUAL(a.state, CP_ALARM_LATCHED);
	latch_id = a.id;
	fx_stop(&f);
	fx_close(&f);

	/* Pipeline B on the same store: both taken back, nothing announced. */
	CU_ASSERT_FATAL(fx_store(&f, "restart", STORE_READ_WRITE));
	fx_opts(&o);
	o.alarm.hold_ns = 5 * SEC;
	CU_ASSERT_FATAL(fx_start(&f, &o));
	CU_ASSERT_EQUAL(alm(&f, CP_ALM_restored), 2);
	vlog_text(&f, text, sizeof(text));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "2 open alarms restored"));
	CU_ASSERT_EQUAL(cp_alarms_get(cp_clinical_alarms(f.c), spo2_id, &a), 0);
	CU_ASSERT_EQUAL(a.state, CP_ALARM_ACTIVE);
	CU_ASSERT_EQUAL(cp_alarms_get(cp_clinical_alarms(f.c), latch_id, &a), 0);
	CU_ASSERT_EQUAL(a.state, CP_ALARM_LATCHED);
	cp_clinical_tick(f.c);

	/* The same capture again: not newer than the newest stored change (10 s), skipped.
	 * The normal value at 10 s would otherwise have ended the alarm. */
	spo2(&f, DEV1, AT(5), 85);
	spo2(&f, DEV1, AT(10), 97);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_replayed), 3);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_hits), 0);
	CU_ASSERT_EQUAL(cp_alarms_get(cp_clinical_alarms(f.c), spo2_id, &a), 0);
	CU_ASSERT_EQUAL(a.state, CP_ALARM_ACTIVE);

	/* Still low: the restored alarm goes on, no new one. */
	spo2(&f, DEV1, AT(20), 85);
	spo2(&f, DEV1, AT(21), 84);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_hits), 2);
	CU_ASSERT_EQUAL(alm(&f, CP_ALM_raised), 0);
	CU_ASSERT_EQUAL(alm(&f, CP_ALM_conditions), 0);
	CU_ASSERT_EQUAL(open_alarms(f.c, SID_SPO2, sub1, &a), 1);
	CU_ASSERT_EQUAL(a.id, spo2_id);
	/* Normal again: cleared under the same id. */
	spo2(&f, DEV1, AT(22), 97);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(open_alarms(f.c, SID_SPO2, NULL, NULL), 0);
	CU_ASSERT_EQUAL(alm(&f, CP_ALM_cleared), 1);
	eve_read(f.log_path, &l);
	CU_ASSERT_EQUAL(eve_count(&l, SID_SPO2, "raised"), 1); /* A's only */
	j = eve_find(&l, SID_SPO2, "cleared", 0);
	CU_ASSERT_PTR_NOT_NULL(j);
	if (j != NULL)
		CU_ASSERT_EQUAL(jint(j, "id"), (int64_t)spo2_id);
	eve_free(&l);
	/* The latched one is held until reset, whatever the time. */
	spo2(&f, DEV1, AT(100), 97);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(cp_alarms_get(cp_clinical_alarms(f.c), latch_id, &a), 0);
	CU_ASSERT_EQUAL(a.state, CP_ALARM_LATCHED);

	CU_ASSERT_EQUAL(store_query_alarms(f.s, 0, INT64_MAX, collect, r), 0);
	CU_ASSERT_FALSE(r->bad);
	CU_ASSERT_EQUAL(r->n, 2);
	rec = rec_of(r, spo2_id);
	CU_ASSERT_PTR_NOT_NULL(rec);
	if (rec != NULL) {
		CU_ASSERT_EQUAL(rec->state, CP_ALARM_CLEARED);
		CU_ASSERT_EQUAL(rec->ended_ns, AT(22));
		CU_ASSERT_EQUAL_FATAL(rec->n_hist, 2);
		CU_ASSERT_EQUAL(rec->hist[0].change, CP_ALC_RAISED);
		CU_ASSERT_EQUAL(rec->hist[1].change, CP_ALC_CLEARED);
	}
	rec = rec_of(r, latch_id);
	CU_ASSERT_PTR_NOT_NULL(rec);
	if (rec != NULL)
		CU_ASSERT_EQUAL(rec->state, CP_ALARM_LATCHED);
	fx_end(&f);
	free(r);
}

/*
 * The same capture replayed after a restart, when every alarm of the first
 * run had ended: nothing is newer than the newest stored change, so
 * nothing is taken twice (controlplane.h: "the same capture replayed again
 * raises nothing twice").
 */
static void
test_replay_after_final(void)
{
	struct cp_clinical_opts o;
	struct fx f = {0};
	struct eve_log l;
	unsigned raised;

	CU_ASSERT_FATAL(fx_store(&f, "replay", STORE_READ_WRITE));
	for (int run = 0; run < 2; run++) {
		fx_opts(&o);
		CU_ASSERT_FATAL(fx_start(&f, &o));
		for (int s = 0; s <= 12; s++) {
			spo2(&f, DEV1, AT(s), 85);
			cp_clinical_tick(f.c);
		}
		spo2(&f, DEV1, AT(13), 97);
		cp_clinical_tick(f.c);
		if (run == 0) {
			CU_ASSERT_EQUAL(alm(&f, CP_ALM_raised), 1);
			CU_ASSERT_EQUAL(alm(&f, CP_ALM_cleared), 1);
		} else {
			CU_ASSERT_EQUAL(clin(&f, CP_CLIN_replayed),
					27); /* 13 hits, 14 observations */
			CU_ASSERT_EQUAL(alm(&f, CP_ALM_raised), 0);
		}
		fx_stop(&f);
	}
	eve_read(f.log_path, &l);
	raised = eve_count(&l, SID_SPO2, "raised");
	CU_ASSERT_EQUAL(raised, 1);
	if (raised != 1)
		fprintf(stderr, "\n  the replay after a restart raised the alarm %u times\n",
			raised);
	eve_free(&l);
	fx_end(&f);
}

/* ------------------------------------------------------------------------ */
/* Restored technical alarms                                                 */
/* ------------------------------------------------------------------------ */

static void
test_restart_technical(void)
{
	char sub1[32], sub3[32];
	struct cp_clinical_opts o;
	uint64_t silent_id, gap_id, storage_id;
	struct cp_alarm a;
	struct fx f = {0};
	struct eve_log l;
	json_t *j;

	subject_of_dev(DEV1, sub1, sizeof(sub1));
	subject_of_dev(DEV3, sub3, sizeof(sub3));
	CU_ASSERT_FATAL(fx_store(&f, "restart-tech", STORE_READ_WRITE));
	fx_opts(&o);
	o.device_silent_ns = 10 * SEC;
	CU_ASSERT_FATAL(fx_start(&f, &o));

	/* DEV3 is heard from once; DEV1 goes on, with a sequence gap (2 -> 5). */
	spo2(&f, DEV3, AT(0), 97);
	for (int s = 0; s <= 17; s++) {
		vtp(&f, DEV1, AT(s), s < 2 ? (uint32_t)s + 1 : (uint32_t)s + 3, 1);
		cp_clinical_tick(f.c);
	}
	cp_clinical_storage_condition(f.c, -ENOSPC);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, CP_SID_DEVICE_SILENT, sub3, &a), 1);
	silent_id = a.id;
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DEVICE_SILENT, NULL, NULL), 1);
	CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, CP_SID_SEQUENCE_GAP, sub1, &a), 1);
	gap_id = a.id;
	CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, CP_SID_STORAGE, "vigil", &a), 1);
	storage_id = a.id;
	fx_stop(&f);
	fx_close(&f);

	CU_ASSERT_FATAL(fx_store(&f, "restart-tech", STORE_READ_WRITE));
	fx_opts(&o);
	o.device_silent_ns = 10 * SEC;
	CU_ASSERT_FATAL(fx_start(&f, &o));
	CU_ASSERT_EQUAL(alm(&f, CP_ALM_restored), 3);
	/* Judged anew: the gap and storage end at the first tick; the silent device waits. */
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_SEQUENCE_GAP, NULL, NULL), 0);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_STORAGE, NULL, NULL), 0);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DEVICE_SILENT, sub3, NULL), 1);
	/* Another device's observations do not end it... */
	vtp(&f, DEV1, AT(30), 40, 1);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DEVICE_SILENT, sub3, NULL), 1);
	/* ...the device's own does. */
	spo2(&f, DEV3, AT(31), 97);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DEVICE_SILENT, NULL, NULL), 0);
	CU_ASSERT_EQUAL(alm(&f, CP_ALM_raised), 0);

	eve_read(f.log_path, &l);
	j = eve_find(&l, CP_SID_DEVICE_SILENT, "cleared", 0);
	CU_ASSERT_PTR_NOT_NULL(j);
	if (j != NULL)
		CU_ASSERT_EQUAL(jint(j, "id"), (int64_t)silent_id);
	j = eve_find(&l, CP_SID_SEQUENCE_GAP, "cleared", 0);
	CU_ASSERT_PTR_NOT_NULL(j);
	if (j != NULL)
		CU_ASSERT_EQUAL(jint(j, "id"), (int64_t)gap_id);
	j = eve_find(&l, CP_SID_STORAGE, "cleared", 0);
	CU_ASSERT_PTR_NOT_NULL(j);
	if (j != NULL)
		CU_ASSERT_EQUAL(jint(j, "id"), (int64_t)storage_id);
	eve_free(&l);
	fx_end(&f);
}

/* ------------------------------------------------------------------------ */
/* NEWS2                                                                     */
/* ------------------------------------------------------------------------ */

#define DEVN1 UINT64_C(0x00000000000000A1) /* no settings: incomplete */
#define DEVN2 UINT64_C(0x00000000000000A2) /* air, alert: complete */
#define DEVN3 UINT64_C(0x00000000000000A3) /* no blood pressure at first */

/* The news2 lines of one device: the score only said when it changes. */
static void
check_news2_lines(const struct eve_log *l, uint64_t device, int last_total)
{
	char hex[20];
	int prev = -1, total = -1;
	unsigned n = 0;

	snprintf(hex, sizeof(hex), "%016" PRIX64, device);
	for (unsigned i = 0; i < l->n; i++) {
		json_t *s = json_object_get(l->line[i], "news2");
		int said;

		if (s == NULL || strcmp(jstr(s, "device"), hex) != 0)
			continue;
		total = (int)jint(s, "total");
		said = total | json_is_true(json_object_get(s, "complete")) << 8 |
		       json_is_true(json_object_get(s, "red")) << 9;
		CU_ASSERT_NOT_EQUAL(said, prev);
		prev = said;
		n++;
	}
	CU_ASSERT(n >= 2);
	CU_ASSERT_EQUAL(total, last_total);
}

static void
test_news2(void)
{
	char s1[32], s2[32], s3[32];
	struct cp_patient_setting set = {.oxygen = CP_O2_AIR, .acvpu = CP_ACVPU_ALERT};
	struct cp_clinical_opts o;
	struct cp_alarm a;
	struct fx f = {0};
	struct eve_log l;
	json_t *j;

	subject_of_dev(DEVN1, s1, sizeof(s1));
	subject_of_dev(DEVN2, s2, sizeof(s2));
	subject_of_dev(DEVN3, s3, sizeof(s3));
	set.patient = s2;
	CU_ASSERT_FATAL(fx_store(&f, "news2", STORE_READ_WRITE));
	fx_opts(&o);
	cp_patient_opts_defaults(&o.patient); /* SpO2 back in */
	o.n_settings = 1;
	o.settings = &set;
	CU_ASSERT_FATAL(fx_start(&f, &o));

	/* RR 22 (2), SpO2 95 (1), SBP 115 (0), pulse 100 (1), 38.5 degC (1): 5, no red. */
	vitals(&f, DEVN1, AT(0), 22, 95, 115, 100, 38.5);
	vitals(&f, DEVN2, AT(0), 22, 95, 115, 100, 38.5);
	vitals(&f, DEVN3, AT(0), 22, 95, NAN, 100, 38.5);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, CP_SID_NEWS2_URGENT, s1, &a), 1);
	CU_ASSERT_EQUAL(a.source, CP_ALS_NEWS2);
	CU_ASSERT_EQUAL(a.value, 5);
	CU_ASSERT_PTR_NOT_NULL(strstr(a.msg, "(incomplete score: a lower bound)"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a.response);
	CU_ASSERT_STRING_EQUAL(a.response, cp_news2_response(CP_N2_RISK_MEDIUM));
	CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, CP_SID_NEWS2_URGENT, s2, &a), 1);
	CU_ASSERT_PTR_NULL(strstr(a.msg, "incomplete"));
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_NEWS2_URGENT, s3, NULL), 1);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_NEWS2_RED, NULL, NULL), 0);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_NEWS2_EMERGENCY, NULL, NULL), 0);
	eve_read(f.log_path, &l);
	j = eve_find(&l, CP_SID_NEWS2_URGENT, "raised", 0);
	CU_ASSERT_PTR_NOT_NULL(j);
	if (j != NULL)
		CU_ASSERT_STRING_EQUAL(jstr(j, "response"), cp_news2_response(CP_N2_RISK_MEDIUM));
	eve_free(&l);

	/* All normal from 10 s (DEVN3 still without blood pressure): below since
	 * then, but an urgent score ends only after 60 s below. */
	for (int i = 0; i < 4; i++) {
		static const int at[4] = {10, 30, 50, 69};

		vitals(&f, DEVN1, AT(at[i]), 16, 98, 120, 70, 37.0);
		vitals(&f, DEVN2, AT(at[i]), 16, 98, 120, 70, 37.0);
		vitals(&f, DEVN3, AT(at[i]), 16, 98, NAN, 70, 37.0);
		cp_clinical_tick(f.c);
		CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_NEWS2_URGENT, NULL, NULL), 3);
	}
	vitals(&f, DEVN1, AT(71), 16, 98, 120, 70, 37.0);
	vitals(&f, DEVN2, AT(71), 16, 98, 120, 70, 37.0);
	vitals(&f, DEVN3, AT(71), 16, 98, NAN, 70, 37.0);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_NEWS2_URGENT, s1, NULL), 0);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_NEWS2_URGENT, s2, NULL), 0);
	/* A lower bound below 5 says nothing: DEVN3 stays raised... */
	for (int s = 90; s <= 150; s += 20) {
		vitals(&f, DEVN3, AT(s), 16, 98, NAN, 70, 37.0);
		cp_clinical_tick(f.c);
	}
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_NEWS2_URGENT, s3, NULL), 1);
	/* ...until every vital sign is known, and then for 60 s more. */
	for (int s = 160; s <= 220; s += 20) {
		vitals(&f, DEVN3, AT(s), 16, 98, 120, 70, 37.0);
		cp_clinical_tick(f.c);
		CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_NEWS2_URGENT, s3, NULL), s < 220 ? 1 : 0);
	}

	eve_read(f.log_path, &l);
	CU_ASSERT_FALSE(l.bad);
	CU_ASSERT_EQUAL(eve_count(&l, CP_SID_NEWS2_URGENT, "raised"), 3);
	CU_ASSERT_EQUAL(eve_count(&l, CP_SID_NEWS2_URGENT, "cleared"), 3);
	CU_ASSERT(eve_count_type(&l, "news2") >= 6);
	check_news2_lines(&l, DEVN1, 0);
	check_news2_lines(&l, DEVN2, 0);
	check_news2_lines(&l, DEVN3, 0);
	/* The complete score is said so. */
	for (unsigned i = 0, seen = 0; i < l.n && !seen; i++) {
		json_t *s = json_object_get(l.line[i], "news2");

		if (s != NULL && strcmp(jstr(s, "device"), "00000000000000A2") == 0 &&
		    jint(s, "total") == 5) {
			CU_ASSERT_TRUE(json_is_true(json_object_get(s, "complete")));
			seen = 1;
		}
	}
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_log_lines), l.n);
	eve_free(&l);
	fx_end(&f);
}

/* ------------------------------------------------------------------------ */
/* Device silent                                                             */
/* ------------------------------------------------------------------------ */

static void
test_device_silent(void)
{
	char sub2[32];
	struct cp_clinical_opts o;
	struct cp_alarm a;
	struct fx f = {0};
	struct eve_log l;
	json_t *j;

	subject_of_dev(DEV2, sub2, sizeof(sub2));
	CU_ASSERT_FATAL(fx_store(&f, "silent", STORE_READ_WRITE));
	fx_opts(&o);
	o.device_silent_ns = 10 * SEC;
	CU_ASSERT_FATAL(fx_start(&f, &o));
	/* DEV2 stops after 5 s; DEV1 goes on every second. */
	for (int s = 0; s <= 24; s++) {
		spo2(&f, DEV1, AT(s), 97);
		if (s <= 5)
			spo2(&f, DEV2, AT(s), 97);
		cp_clinical_tick(f.c);
		if (s == 14)
			CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DEVICE_SILENT, NULL, NULL), 0);
	}
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DEVICE_SILENT, NULL, NULL), 1);
	CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, CP_SID_DEVICE_SILENT, sub2, &a), 1);
	CU_ASSERT(a.raised_ns >= AT(15) && a.raised_ns <= AT(17));
	CU_ASSERT_EQUAL(a.priority, RULE_PRIO_MEDIUM);
	CU_ASSERT_EQUAL(a.device, DEV2);
	/* Heard from again: cleared. */
	spo2(&f, DEV2, AT(25), 97);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DEVICE_SILENT, NULL, NULL), 0);
	eve_read(f.log_path, &l);
	CU_ASSERT_EQUAL(eve_count(&l, CP_SID_DEVICE_SILENT, "raised"), 1);
	j = eve_find(&l, CP_SID_DEVICE_SILENT, "cleared", 0);
	CU_ASSERT_PTR_NOT_NULL(j);
	if (j != NULL) {
		CU_ASSERT_EQUAL(jint(j, "id"), (int64_t)a.id);
		CU_ASSERT_STRING_EQUAL(jstr(j, "subject"), sub2);
	}
	eve_free(&l);
	fx_end(&f);
}

/* ------------------------------------------------------------------------ */
/* VTP sequence gaps                                                         */
/* ------------------------------------------------------------------------ */

static void
test_sequence_gap(void)
{
	static const uint32_t seq[] = {1, 2, 3, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	struct cp_clinical_opts o;
	struct cp_alarm a;
	struct fx f = {0};
	struct eve_log l;
	json_t *j;

	CU_ASSERT_FATAL(fx_store(&f, "gap", STORE_READ_WRITE));
	fx_opts(&o);
	o.alarm.hold_ns = 5 * SEC;
	CU_ASSERT_FATAL(fx_start(&f, &o));
	for (unsigned i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		/* Observations of one frame share its number: no gap among them. */
		vtp(&f, DEV1, AT(i), seq[i], i == 5 ? 3 : 1);
		cp_clinical_tick(f.c);
		if (i == 3) {
			CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, CP_SID_SEQUENCE_GAP, NULL, &a), 1);
			CU_ASSERT_EQUAL(a.value, 3);
			CU_ASSERT_EQUAL(a.raised_ns, AT(3));
			CU_ASSERT_EQUAL(a.priority, RULE_PRIO_LOW);
		}
		if (i == 7) /* 4 s after the gap: held */
			CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_SEQUENCE_GAP, NULL, NULL), 1);
	}
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_SEQUENCE_GAP, NULL, NULL), 0);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_seq_gaps), 1);
	eve_read(f.log_path, &l);
	CU_ASSERT_EQUAL(eve_count(&l, CP_SID_SEQUENCE_GAP, "raised"), 1);
	j = eve_find(&l, CP_SID_SEQUENCE_GAP, "raised", 0);
	if (j != NULL)
		CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(j, "value")), 3, 1e-9);
	j = eve_find(&l, CP_SID_SEQUENCE_GAP, "cleared", 0);
	CU_ASSERT_PTR_NOT_NULL(j);
	if (j != NULL)
		CU_ASSERT_EQUAL(jint(j, "id"), (int64_t)a.id);
	eve_free(&l);
	fx_end(&f);
}

/* ------------------------------------------------------------------------ */
/* Decode errors                                                             */
/* ------------------------------------------------------------------------ */

/* Seconds [from, to] with DEV1 driving the clock, a malformed datagram where @p err says. */
static void
run_errors(struct fx *f, int from, int to, bool (*err)(int s))
{
	for (int s = from; s <= to; s++) {
		if (err(s))
			malformed(f, AT(s));
		spo2(f, DEV1, AT(s) + SEC / 2, 97);
		cp_clinical_tick(f->c);
	}
}

static bool
burst(int s)
{
	return s >= 1 && s <= 3;
}

static bool
sparse(int s)
{
	return s == 20 || s == 25;
}

static bool
steady(int s)
{
	return s >= 50 && s <= 110 && (s - 50) % 3 == 0;
}

static void
test_decode_errors(void)
{
	const char *sender = "sender:10.1.2.3";
	struct cp_clinical_opts o;
	struct cp_alarm a;
	struct fx f = {0};
	struct eve_log l;
	unsigned raised;

	CU_ASSERT_FATAL(fx_store(&f, "decode", STORE_READ_WRITE));
	fx_opts(&o);
	o.decode_errors_count = 3;
	o.decode_errors_ns = 10 * SEC;
	CU_ASSERT_FATAL(fx_start(&f, &o));

	/* Three in a window: raised about the sender. */
	run_errors(&f, 0, 3, burst);
	CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, CP_SID_DECODE_ERRORS, NULL, &a), 1);
	CU_ASSERT_STRING_EQUAL(a.subject, "sender:10.1.2.3");
	CU_ASSERT_EQUAL(a.device, 0);
	CU_ASSERT_EQUAL(a.raised_ns, AT(3));
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_decode_errors), 3);
	/* A window without them: ended. */
	run_errors(&f, 4, 19, burst);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DECODE_ERRORS, NULL, NULL), 0);
	/* Fewer than three in a window: nothing. */
	run_errors(&f, 20, 45, sparse);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DECODE_ERRORS, NULL, NULL), 0);
	eve_read(f.log_path, &l);
	CU_ASSERT_EQUAL(eve_count(&l, CP_SID_DECODE_ERRORS, "raised"), 1);
	CU_ASSERT_EQUAL(eve_count(&l, CP_SID_DECODE_ERRORS, "cleared"), 1);
	CU_ASSERT_STRING_EQUAL(jstr(eve_find(&l, CP_SID_DECODE_ERRORS, "raised", 0), "subject"),
			       sender);
	eve_free(&l);

	/*
	 * One every 3 s (4 in any 10 s window, over the rate) for a minute: one
	 * alarm, present all along; it ends only after a window with fewer.
	 */
	run_errors(&f, 46, 112, steady);
	eve_read(f.log_path, &l);
	raised = eve_count(&l, CP_SID_DECODE_ERRORS, "raised");
	CU_ASSERT_EQUAL(raised, 2);
	CU_ASSERT_EQUAL(eve_count(&l, CP_SID_DECODE_ERRORS, "cleared"), 1);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DECODE_ERRORS, NULL, NULL), 1);
	if (raised != 2)
		fprintf(stderr,
			"\n  decode errors at a steady rate over the threshold: %u alarms "
			"raised (1 expected)\n",
			raised - 1);
	eve_free(&l);
	run_errors(&f, 113, 140, steady);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DECODE_ERRORS, NULL, NULL), 0);
	fx_end(&f);
}

/* ------------------------------------------------------------------------ */
/* Event loss, and device alarms                                             */
/* ------------------------------------------------------------------------ */

/*
 * A replay that loses ALARM events. The consumer dates its DP_EV_TECH event
 * with the wall clock (it knows no capture time), so that time must not
 * move the replay's clock: the loss alarm is raised at the capture's time,
 * lasts its hold, and no device looks silent.
 */
static void
test_event_loss(void)
{
	struct cp_clinical_opts o;
	struct timespec ts;
	struct dp_event ev;
	struct cp_alarm a;
	struct fx f = {0};
	bool raised;

	CU_ASSERT_FATAL(fx_store(&f, "loss", STORE_READ_WRITE));
	fx_opts(&o);
	o.device_silent_ns = 10 * SEC;
	o.alarm.hold_ns = 5 * SEC;
	CU_ASSERT_FATAL(fx_start(&f, &o));
	for (int s = 0; s <= 3; s++) {
		spo2(&f, DEV1, AT(s), 97);
		cp_clinical_tick(f.c);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	memset(&ev, 0, sizeof(ev));
	ev.type = DP_EV_TECH;
	ev.code = DP_TECH_EVENT_LOSS;
	ev.value = 7;
	ev.tsc = ++f.tsc;
	ev.wall_ns = (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
	f.h.on_alarm(f.h.arg, &ev);
	cp_clinical_tick(f.c); /* a pass with no telemetry */
	raised = open_alarms(f.c, CP_SID_EVENT_LOSS, "vigil", &a) == 1;
	CU_ASSERT_TRUE(raised);
	if (raised) {
		CU_ASSERT_EQUAL(a.priority, RULE_PRIO_HIGH);
		CU_ASSERT_EQUAL(a.value, 7);
		CU_ASSERT_EQUAL(a.raised_ns, AT(3));
	}
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DEVICE_SILENT, NULL, NULL), 0);
	for (int s = 4; s <= 10; s++) {
		spo2(&f, DEV1, AT(s), 97);
		cp_clinical_tick(f.c);
		if (s == 7)
			CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_EVENT_LOSS, NULL, NULL), 1);
	}
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_EVENT_LOSS, NULL, NULL), 0);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DEVICE_SILENT, NULL, NULL), 0);
	fx_end(&f);
}

#define EVT_A 196614 /* device alarm event codes: what they are does not matter here */
#define EVT_B 196618

static struct dp_event
dev_alarm(uint64_t device, int64_t t, uint64_t tsc, uint32_t code, uint8_t phase, uint8_t state)
{
	struct dp_event ev = ev_make(DP_EV_DEV_ALARM, device, t, tsc);

	ev.u.alarm.event_code = code;
	ev.u.alarm.phase = phase;
	ev.u.alarm.state = state;
	ev.u.alarm.priority = DP_PRIO_MEDIUM;
	ev.u.alarm.type = DP_ATYPE_PHYSIOLOGICAL;
	return ev;
}

/* A device alarm a rule hit on the same message stands for; one no rule hit. */
static void
test_device_alarm(void)
{
	char sub1[32], sub3[32];
	struct cp_clinical_opts o;
	struct dp_event ev;
	struct cp_alarm a;
	struct fx f = {0};

	subject_of_dev(DEV1, sub1, sizeof(sub1));
	subject_of_dev(DEV3, sub3, sizeof(sub3));
	CU_ASSERT_FATAL(fx_store(&f, "devalarm", STORE_READ_WRITE));
	fx_opts(&o);
	CU_ASSERT_FATAL(fx_start(&f, &o));
	/* One message: the asystole rule's hit, then the device's alarm start. */
	asystole(&f, DEV1, AT(0));
	ev = dev_alarm(DEV1, AT(0), f.tsc, EVT_A, DP_PHASE_START, DP_ASTATE_ACTIVE);
	f.h.on_alarm(f.h.arg, &ev);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, SID_ASYSTOLE, sub1, &a), 1);
	CU_ASSERT_EQUAL(a.event_code, EVT_A);
	CU_ASSERT_EQUAL(a.priority, RULE_PRIO_HIGH);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DEVICE_ALARM, NULL, NULL), 0);
	/* The device's end, in a later message: the latching rule's alarm latches. */
	ev = dev_alarm(DEV1, AT(5), ++f.tsc, EVT_A, DP_PHASE_END, DP_ASTATE_INACTIVE);
	f.h.on_alarm(f.h.arg, &ev);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(open_alarms(f.c, SID_ASYSTOLE, sub1, &a), 1);
	CU_ASSERT_EQUAL(a.state, CP_ALARM_LATCHED);
	/* No rule hit: the device's own alarm, following its phases. */
	ev = dev_alarm(DEV3, AT(6), ++f.tsc, EVT_B, DP_PHASE_START, DP_ASTATE_ACTIVE);
	f.h.on_alarm(f.h.arg, &ev);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, CP_SID_DEVICE_ALARM, sub3, &a), 1);
	CU_ASSERT_EQUAL(a.priority, RULE_PRIO_MEDIUM);
	CU_ASSERT_EQUAL(a.source, CP_ALS_DEVICE);
	ev = dev_alarm(DEV3, AT(9), ++f.tsc, EVT_B, DP_PHASE_END, DP_ASTATE_INACTIVE);
	f.h.on_alarm(f.h.arg, &ev);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_DEVICE_ALARM, NULL, NULL), 0);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_device_alarms), 4);
	fx_end(&f);
}

/* ------------------------------------------------------------------------ */
/* A refused reload                                                          */
/* ------------------------------------------------------------------------ */

static void
test_reload_refused(void)
{
	struct cp_clinical_opts o;
	struct cp_alarm a;
	struct fx f = {0};
	struct eve_log l;

	CU_ASSERT_FATAL(fx_store(&f, "reload", STORE_READ_WRITE));
	fx_opts(&o);
	CU_ASSERT_FATAL(fx_start(&f, &o));
	spo2(&f, DEV1, AT(0), 97);
	cp_clinical_tick(f.c);
	cp_clinical_reload_result(f.c, false);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_RELOAD_FAILED, NULL, NULL), 0);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, CP_SID_RELOAD_FAILED, "vigil", &a), 1);
	CU_ASSERT_EQUAL(a.priority, RULE_PRIO_MEDIUM);
	CU_ASSERT_EQUAL(a.raised_ns, AT(0));
	/* Refused again: the same alarm. */
	cp_clinical_reload_result(f.c, false);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(alm(&f, CP_ALM_raised), 1);
	cp_clinical_reload_result(f.c, true);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(open_alarms(f.c, CP_SID_RELOAD_FAILED, NULL, NULL), 0);
	cp_clinical_tick(f.c);
	eve_read(f.log_path, &l);
	CU_ASSERT_EQUAL(eve_count(&l, CP_SID_RELOAD_FAILED, "raised"), 1);
	CU_ASSERT_EQUAL(eve_count(&l, CP_SID_RELOAD_FAILED, "cleared"), 1);
	eve_free(&l);
	fx_end(&f);

	/* A configured priority; no store: announced at once, unstored. */
	fx_opts(&o);
	o.tech_priority[CP_TECH_RELOAD] = RULE_PRIO_HIGH;
	CU_ASSERT_FATAL(fx_start(&f, &o));
	spo2(&f, DEV1, AT(0), 97);
	cp_clinical_reload_result(f.c, false);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL_FATAL(open_alarms(f.c, CP_SID_RELOAD_FAILED, NULL, &a), 1);
	CU_ASSERT_EQUAL(a.priority, RULE_PRIO_HIGH);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_announced_unstored), 1);
	fx_end(&f);
}

/* ------------------------------------------------------------------------ */
/* The alarm log reopened                                                    */
/* ------------------------------------------------------------------------ */

static void
test_log_reopen(void)
{
	char rotated[700];
	struct cp_clinical_opts o;
	struct fx f = {0};
	struct eve_log l;

	CU_ASSERT_FATAL(fx_store(&f, "reopen", STORE_READ_WRITE));
	snprintf(rotated, sizeof(rotated), "%s.1", f.log_path);
	fx_opts(&o);
	CU_ASSERT_FATAL(fx_start(&f, &o));
	for (int s = 0; s <= 10; s++)
		spo2(&f, DEV1, AT(s), 85);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL_FATAL(rename(f.log_path, rotated), 0);
	cp_clinical_reopen_log(f.c);
	cp_clinical_tick(f.c);
	CU_ASSERT_EQUAL(access(f.log_path, F_OK), 0);
	spo2(&f, DEV1, AT(11), 97);
	cp_clinical_tick(f.c);

	eve_read(rotated, &l);
	CU_ASSERT_EQUAL(l.n, 1);
	CU_ASSERT_PTR_NOT_NULL(eve_find(&l, SID_SPO2, "raised", 0));
	eve_free(&l);
	eve_read(f.log_path, &l);
	CU_ASSERT_EQUAL(l.n, 1);
	CU_ASSERT_PTR_NOT_NULL(eve_find(&l, SID_SPO2, "cleared", 0));
	eve_free(&l);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_log_lines), 2);
	CU_ASSERT_EQUAL(clin(&f, CP_CLIN_log_failed), 0);
	fx_end(&f);
}

/* ------------------------------------------------------------------------ */
/* Names                                                                     */
/* ------------------------------------------------------------------------ */

static void
test_names(void)
{
	CU_ASSERT_STRING_EQUAL(cp_clinical_counter_name(CP_CLIN_announced), "announced");
	CU_ASSERT_STRING_EQUAL(cp_clinical_counter_name(CP_CLIN_tech_conditions),
			       "tech_conditions");
	CU_ASSERT_STRING_EQUAL(cp_clinical_counter_name(CP_CLIN__COUNT), "?");
	for (unsigned i = 0; i < CP_CLIN__COUNT; i++)
		CU_ASSERT(strlen(cp_clinical_counter_desc(i)) > 10);
	CU_ASSERT_STRING_EQUAL(cp_tech_name(CP_TECH_STORAGE), "storage");
	CU_ASSERT_EQUAL(cp_tech_sid(CP_TECH_STORAGE), CP_SID_STORAGE);
	CU_ASSERT_EQUAL(cp_tech_default_priority(CP_TECH_STORAGE), RULE_PRIO_HIGH);
	CU_ASSERT_EQUAL(cp_tech_sid(CP_TECH_RELOAD), CP_SID_RELOAD_FAILED);
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"store before announce", test_store_before_announce},
		{"storage condition", test_storage_condition},
		{"storage read-only", test_storage_read_only},
		{"restart", test_restart},
		{"restart: replay after every alarm ended", test_replay_after_final},
		{"restart: technical alarms", test_restart_technical},
		{"news2", test_news2},
		{"device silent", test_device_silent},
		{"sequence gap", test_sequence_gap},
		{"decode errors", test_decode_errors},
		{"event loss in packet time", test_event_loss},
		{"device alarm", test_device_alarm},
		{"reload refused", test_reload_refused},
		{"alarm log reopen", test_log_reopen},
		{"names", test_names},
	};
	CU_pSuite s = CU_add_suite("clinical", suite_init, suite_cleanup);

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
