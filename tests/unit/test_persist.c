/*
 * test_persist.c - unit tests of the persist hooks (controlplane/persist.c):
 * the workers' events, fed to the hooks directly (no EAL), read back from
 * a real store with the store's own queries.
 *
 *   - observations: every one stored with its device, time (its own, or
 *     the reception time when it has none), code, value (NaN kept), unit
 *     and flags, even when several share a device, a time and a wire
 *     sequence number (a VTP frame);
 *   - alarm records: one per ALARM event under consecutive ids, with the
 *     JSON fields of each kind (hit on an observation or on the message,
 *     device alarm, technical condition), written as a group at the end of
 *     the pass (the idle tick); the ids go on after a reopen;
 *   - an alarm storm in one pass: one synced write per 256 alarms and one
 *     for the rest at the end of the pass, every record there in order; the
 *     flush and the free write the group too; the rate one by one and in
 *     groups printed (not asserted);
 *   - the idle tick writes the batch once it is batch_ms old (an injected
 *     clock: no timed assertion);
 *   - a store that refuses writes for good (read-only): counted, dropped,
 *     the condition raised; a group with one record the store refuses (an
 *     id out of range): that one dropped, the others stored;
 *   - a full disk (as root: a small tmpfs the test mounts and fills): the
 *     failing alarm records wait in the bounded retry queue, newer ones
 *     behind them, the overflow is counted, one line says the disk is full
 *     and one that writes succeed again; once space returns every queued
 *     record is stored, in order, and nothing else is lost; records still
 *     queued at cp_persist_free (the disk still full) are counted and said;
 *     a group that fails joins the queue whole, and the queue is written
 *     back as one group.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "controlplane.h"
#include "cunit_main.h"

#define WALL_NS 1714557600000000000LL /* 2024-05-01T10:00:00Z */
#define T1_NS (WALL_NS - 5000000000LL)
#define DEV1 UINT64_C(0x0011223344556677)
#define DEV2 UINT64_C(0x00a0b0c0d0e0f001)
#define MDC_SPO2 150456
#define MDC_HR 147842
#define MDC_RESP 151562
#define MDC_PERCENT 544
#define MDC_BPM 2720

static char tmp_root[] = "/tmp/vigil-test-persist-XXXXXX";
static char mnt[600];
static bool mounted;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
suite_init(void)
{
	if (mkdtemp(tmp_root) == NULL)
		return -1;
	snprintf(mnt, sizeof(mnt), "%s/tmpfs", tmp_root);
	return 0;
}

static int
suite_cleanup(void)
{
	if (mounted && umount2(mnt, MNT_DETACH) == 0)
		mounted = false;
	nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static int64_t fake_now;

static int64_t
fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

/* A fresh store in a directory of its own under the suite's. */
static struct store *
open_store(const char *name, struct store_opts *o)
{
	char dir[700], err[512] = "";
	struct store *s = NULL;
	int rc;

	if (name[0] == '/')
		snprintf(dir, sizeof(dir), "%s", name);
	else
		snprintf(dir, sizeof(dir), "%s/%s", tmp_root, name);
	o->dir = dir;
	rc = store_open(o, &s, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "\nstore_open %s: %d %s\n", dir, rc, err);
	o->dir = NULL;
	return s;
}

/* The persist's log, read back: a temporary file. */
struct log {
	FILE *f;
	char text[8192];
};

static void
log_read(struct log *l)
{
	size_t n;

	fflush(l->f);
	rewind(l->f);
	n = fread(l->text, 1, sizeof(l->text) - 1, l->f);
	l->text[n] = '\0';
	fseek(l->f, 0, SEEK_END);
}

static void
persist_opts(struct cp_persist_opts *o, struct log *l)
{
	cp_persist_opts_defaults(o);
	l->f = tmpfile();
	l->text[0] = '\0';
	o->log = l->f;
}

static struct dp_event
event_head(enum dp_event_type type, uint64_t device, int64_t time_ns)
{
	struct dp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = (uint8_t)type;
	ev.worker = 1;
	ev.proto = RULE_PROTO_VTP;
	ev.ip_version = 4;
	ev.sport = 40000;
	ev.src[0] = 10;
	ev.src[1] = 20;
	ev.src[2] = 0;
	ev.src[3] = 7;
	ev.wall_ns = WALL_NS;
	ev.device = device;
	ev.time_ns = time_ns;
	ev.value = NAN;
	return ev;
}

static struct dp_event
obs_event(uint64_t device, int64_t time_ns, uint32_t code, double value, uint32_t unit,
	  uint32_t flags, uint32_t wire_seq, unsigned index)
{
	struct dp_event ev = event_head(DP_EV_OBS, device, time_ns);

	ev.code = code;
	ev.value = value;
	ev.unit = unit;
	ev.flags = flags;
	ev.seq = wire_seq;
	ev.obs_index = (uint16_t)index;
	return ev;
}

struct obs_list {
	unsigned n;
	struct store_obs o[64];
};

static int
collect_obs(void *arg, const struct store_obs *obs)
{
	struct obs_list *l = arg;

	if (l->n < 64)
		l->o[l->n] = *obs;
	l->n++;
	return 0;
}

#define ALARMS_LISTED 65536 /* ids and times kept by collect_alarm */

struct alarm_list {
	unsigned n;
	uint64_t id[ALARMS_LISTED];
	int64_t time_ns[ALARMS_LISTED];
	json_t *json[8]; /* the first eight, parsed */
	unsigned bad;	 /* records whose "id" is not their key's */
};

static int
collect_alarm(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	struct alarm_list *l = arg;
	json_t *j = json_loadb(json, len, 0, NULL);

	if (j == NULL || json_integer_value(json_object_get(j, "id")) != (json_int_t)id)
		l->bad++;
	if (l->n < ALARMS_LISTED) {
		l->id[l->n] = id;
		l->time_ns[l->n] = time_ns;
	}
	if (l->n < 8)
		l->json[l->n] = j;
	else
		json_decref(j);
	l->n++;
	return 0;
}

static void
alarm_list_free(struct alarm_list *l)
{
	for (unsigned i = 0; i < 8 && i < l->n; i++)
		json_decref(l->json[i]);
	memset(l, 0, sizeof(*l));
}

static const char *
str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "(missing)";
}

static json_int_t
int_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : -999999;
}

/* ------------------------------------------------------------------------ */
/* Observations                                                              */
/* ------------------------------------------------------------------------ */

static void
test_observations(void)
{
	struct dp_event ev[8];
	uint64_t pc[CP_PERSIST__COUNT], sc[STORE_CNT__COUNT];
	struct cp_event_hooks hooks;
	struct cp_persist_opts po;
	struct obs_list got = {0};
	struct cp_persist *p = NULL;
	struct store_opts so;
	struct store *s;
	struct log log;

	store_opts_defaults(&so);
	s = open_store("obs", &so);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	persist_opts(&po, &log);
	CU_ASSERT_EQUAL_FATAL(cp_persist_new(s, &po, &p), 0);
	cp_persist_hooks(p, &hooks);
	CU_ASSERT_PTR_EQUAL(hooks.arg, p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(hooks.on_telemetry);

	/* One VTP frame: three observations of one device, one time, one wire seq. */
	ev[0] = obs_event(DEV1, T1_NS, MDC_SPO2, 97.0, MDC_PERCENT, 0, 7, 0);
	ev[1] = obs_event(DEV1, T1_NS, MDC_HR, 72.5, MDC_BPM, DP_OBS(ABN_H), 7, 1);
	ev[2] = obs_event(DEV1, T1_NS, MDC_RESP, 16.0, 0, DP_OBS(UNIT_UNKNOWN), 7, 2);
	/* something that is not an observation: not stored, counted */
	ev[3] = event_head(DP_EV_HIT, DEV1, T1_NS);
	hooks.on_telemetry(hooks.arg, ev, 4);
	/* the next frame; and a device that sent no time, and no value */
	ev[0] = obs_event(DEV1, T1_NS + 1000000000, MDC_SPO2, 96.0, MDC_PERCENT, 0, 8, 0);
	ev[1] = obs_event(DEV2, 0, MDC_HR, NAN, MDC_BPM, DP_OBS(INVALID) | DP_OBS(NO_VALUE), 1, 0);
	hooks.on_telemetry(hooks.arg, ev, 2);
	CU_ASSERT_EQUAL(store_pending(s), 5); /* batched, not yet written */
	CU_ASSERT_EQUAL(cp_persist_flush(p), 0);
	CU_ASSERT_EQUAL(store_pending(s), 0);

	CU_ASSERT_EQUAL(store_query_obs(s, DEV1, INT64_MIN, INT64_MAX, collect_obs, &got), 0);
	CU_ASSERT_EQUAL_FATAL(got.n, 4);
	for (unsigned i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(got.o[i].device, DEV1);
		CU_ASSERT_EQUAL(got.o[i].time_ns, T1_NS);
	}
	/* in the order received: the seq is the persist's own */
	CU_ASSERT(got.o[0].seq < got.o[1].seq && got.o[1].seq < got.o[2].seq);
	CU_ASSERT_EQUAL(got.o[0].code, MDC_SPO2);
	CU_ASSERT_EQUAL(got.o[0].value, 97.0);
	CU_ASSERT_EQUAL(got.o[0].unit, MDC_PERCENT);
	CU_ASSERT_EQUAL(got.o[0].flags, 0);
	CU_ASSERT_EQUAL(got.o[1].code, MDC_HR);
	CU_ASSERT_EQUAL(got.o[1].value, 72.5);
	CU_ASSERT_EQUAL(got.o[1].unit, MDC_BPM);
	CU_ASSERT_EQUAL(got.o[1].flags, DP_OBS(ABN_H));
	CU_ASSERT_EQUAL(got.o[2].code, MDC_RESP);
	CU_ASSERT_EQUAL(got.o[2].unit, 0);
	CU_ASSERT_EQUAL(got.o[2].flags, DP_OBS(UNIT_UNKNOWN));
	CU_ASSERT_EQUAL(got.o[3].time_ns, T1_NS + 1000000000);
	CU_ASSERT_EQUAL(got.o[3].value, 96.0);

	memset(&got, 0, sizeof(got));
	CU_ASSERT_EQUAL(store_query_obs(s, DEV2, INT64_MIN, INT64_MAX, collect_obs, &got), 0);
	CU_ASSERT_EQUAL_FATAL(got.n, 1);
	CU_ASSERT_EQUAL(got.o[0].time_ns, WALL_NS); /* no time of its own: when received */
	CU_ASSERT(isnan(got.o[0].value));
	CU_ASSERT_EQUAL(got.o[0].flags, DP_OBS(INVALID) | DP_OBS(NO_VALUE));

	cp_persist_counters(p, pc);
	store_counters(s, sc);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_obs_stored], 5);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_events_ignored], 1);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_obs_store_failed], 0);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_disk_full_alarms], 0);
	CU_ASSERT_EQUAL(sc[STORE_CNT_obs_written], 5);
	CU_ASSERT_EQUAL(sc[STORE_CNT_obs_batches], 1);
	cp_persist_free(p);
	log_read(&log);
	CU_ASSERT_STRING_EQUAL(log.text, ""); /* nothing went wrong: nothing said */
	fclose(log.f);
	store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Alarm records                                                             */
/* ------------------------------------------------------------------------ */

static void
alarm_events(struct dp_event ev[5])
{
	/* a rule hit on an observation */
	ev[0] = event_head(DP_EV_HIT, DEV1, T1_NS);
	ev[0].proto = RULE_PROTO_HL7;
	ev[0].obs_index = 1;
	ev[0].code = MDC_SPO2;
	ev[0].value = 85.5;
	ev[0].unit = MDC_PERCENT;
	ev[0].flags = DP_OBS(ABN_L);
	ev[0].seq = 12;
	ev[0].u.hit.ruleset_version = 3;
	ev[0].u.hit.sid = 9000001;
	ev[0].u.hit.rev = 2;
	ev[0].u.hit.action = RULE_ACTION_ALERT;
	ev[0].u.hit.priority = RULE_PRIO_HIGH;
	ev[0].u.hit.kind = RULE_KIND_PHYSIOLOGICAL;
	/* a rule hit on a whole datagram that did not decode, from IPv6 */
	ev[1] = event_head(DP_EV_HIT, 0, 0);
	ev[1].obs_index = RULE_HIT_MSG;
	ev[1].ip_version = 6;
	memset(ev[1].src, 0, sizeof(ev[1].src));
	ev[1].src[0] = 0xfd;
	ev[1].src[15] = 9;
	ev[1].u.hit.ruleset_version = 3;
	ev[1].u.hit.sid = 2000005;
	ev[1].u.hit.rev = 1;
	ev[1].u.hit.action = RULE_ACTION_LOG;
	ev[1].u.hit.priority = RULE_PRIO_MEDIUM;
	ev[1].u.hit.kind = RULE_KIND_TECHNICAL;
	ev[1].u.hit.malformed = 1;
	/* a device's own alarm, with no time of its own */
	ev[2] = event_head(DP_EV_DEV_ALARM, DEV2, 0);
	ev[2].proto = RULE_PROTO_HL7;
	ev[2].code = 196648;
	ev[2].value = 82.0;
	ev[2].flags = DP_OBS(TIME_FROM_MSH);
	ev[2].u.alarm.event_code = 196648;
	ev[2].u.alarm.source_code = MDC_SPO2;
	ev[2].u.alarm.phase = DP_PHASE_START;
	ev[2].u.alarm.state = DP_ASTATE_ACTIVE;
	ev[2].u.alarm.inactivation = DP_INACT_ENABLED;
	ev[2].u.alarm.priority = DP_PRIO_HIGH;
	ev[2].u.alarm.type = DP_ATYPE_PHYSIOLOGICAL;
	/* a technical condition the consumer raised */
	ev[3] = event_head(DP_EV_TECH, 0, 0);
	ev[3].proto = 0;
	ev[3].ip_version = 0;
	memset(ev[3].src, 0, sizeof(ev[3].src));
	ev[3].worker = 2;
	ev[3].code = DP_TECH_EVENT_LOSS;
	ev[3].value = 17;
	ev[3].wall_ns = WALL_NS + 1000;
	/* an observation on the ALARM lane: not an alarm */
	ev[4] = obs_event(DEV1, T1_NS, MDC_HR, 60, MDC_BPM, 0, 1, 0);
}

static void
test_alarm_records(void)
{
	static struct alarm_list got;
	uint64_t pc[CP_PERSIST__COUNT];
	struct cp_persist_state st;
	struct cp_event_hooks hooks;
	struct cp_persist_opts po;
	struct cp_persist *p = NULL;
	struct store_opts so;
	struct dp_event ev[5];
	struct store *s;
	struct log log;
	json_t *j;

	memset(&got, 0, sizeof(got));
	store_opts_defaults(&so);
	s = open_store("alarms", &so);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	persist_opts(&po, &log);
	CU_ASSERT_EQUAL_FATAL(cp_persist_new(s, &po, &p), 0);
	cp_persist_state(p, &st);
	CU_ASSERT_EQUAL(st.next_id, 1);
	cp_persist_hooks(p, &hooks);
	CU_ASSERT_PTR_NOT_NULL_FATAL(hooks.on_alarm);
	alarm_events(ev);
	for (unsigned i = 0; i < 5; i++)
		hooks.on_alarm(hooks.arg, &ev[i]);
	/* gathered in the pass's group: nothing written yet */
	CU_ASSERT_EQUAL(store_query_alarms(s, INT64_MIN, INT64_MAX, collect_alarm, &got), 0);
	CU_ASSERT_EQUAL(got.n, 0);
	cp_persist_counters(p, pc);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarms_stored], 0);
	cp_persist_state(p, &st);
	CU_ASSERT_EQUAL(st.next_id, 5); /* the ids are given at once */
	/* the end of the pass writes them, synced, as one group */
	cp_persist_tick(p);
	CU_ASSERT_EQUAL(store_query_alarms(s, INT64_MIN, INT64_MAX, collect_alarm, &got), 0);
	CU_ASSERT_EQUAL_FATAL(got.n, 4);
	CU_ASSERT_EQUAL(got.bad, 0);
	for (unsigned i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(got.id[i], i + 1);
	/* stored under the reception time */
	CU_ASSERT_EQUAL(got.time_ns[0], WALL_NS);
	CU_ASSERT_EQUAL(got.time_ns[3], WALL_NS + 1000);

	j = got.json[0];
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(str_of(j, "kind"), "hit");
	CU_ASSERT_STRING_EQUAL(str_of(j, "time"), "2024-05-01T09:59:55.000000000Z");
	CU_ASSERT_EQUAL(int_of(j, "time_ns"), T1_NS);
	CU_ASSERT_EQUAL(int_of(j, "received_ns"), WALL_NS);
	CU_ASSERT_STRING_EQUAL(str_of(j, "device"), "0x0011223344556677");
	CU_ASSERT_EQUAL(int_of(j, "worker"), 1);
	CU_ASSERT_STRING_EQUAL(str_of(j, "proto"), "hl7");
	CU_ASSERT_STRING_EQUAL(str_of(j, "src"), "10.20.0.7");
	CU_ASSERT_EQUAL(int_of(j, "sport"), 40000);
	CU_ASSERT_EQUAL(int_of(j, "sid"), 9000001);
	CU_ASSERT_EQUAL(int_of(j, "rev"), 2);
	CU_ASSERT_STRING_EQUAL(str_of(j, "action"), "alert");
	CU_ASSERT_STRING_EQUAL(str_of(j, "priority"), "high");
	CU_ASSERT_STRING_EQUAL(str_of(j, "rule_kind"), "physiological");
	CU_ASSERT_EQUAL(int_of(j, "ruleset"), 3);
	CU_ASSERT_PTR_NULL(json_object_get(j, "malformed"));
	CU_ASSERT_EQUAL(int_of(j, "obs_index"), 1);
	CU_ASSERT_EQUAL(int_of(j, "code"), MDC_SPO2);
	CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(j, "value")), 85.5, 1e-9);
	CU_ASSERT_EQUAL(int_of(j, "unit"), MDC_PERCENT);
	CU_ASSERT_EQUAL(int_of(j, "flags"), DP_OBS(ABN_L));
	CU_ASSERT_EQUAL(int_of(j, "seq"), 12);

	j = got.json[1];
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(str_of(j, "kind"), "hit");
	CU_ASSERT_EQUAL(int_of(j, "time_ns"), WALL_NS); /* no time of its own */
	CU_ASSERT_PTR_NULL(json_object_get(j, "device"));
	CU_ASSERT_STRING_EQUAL(str_of(j, "src"), "fd00::9");
	CU_ASSERT_EQUAL(int_of(j, "sid"), 2000005);
	CU_ASSERT_STRING_EQUAL(str_of(j, "action"), "log");
	CU_ASSERT_STRING_EQUAL(str_of(j, "priority"), "medium");
	CU_ASSERT_TRUE(json_is_true(json_object_get(j, "malformed")));
	/* about the message, no observation */
	CU_ASSERT_PTR_NULL(json_object_get(j, "obs_index"));
	CU_ASSERT_PTR_NULL(json_object_get(j, "code"));
	CU_ASSERT_PTR_NULL(json_object_get(j, "value"));

	j = got.json[2];
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(str_of(j, "kind"), "device");
	CU_ASSERT_STRING_EQUAL(str_of(j, "device"), "0x00a0b0c0d0e0f001");
	CU_ASSERT_EQUAL(int_of(j, "time_ns"), WALL_NS);
	CU_ASSERT_EQUAL(int_of(j, "event_code"), 196648);
	CU_ASSERT_STRING_EQUAL(str_of(j, "phase"), "start");
	CU_ASSERT_STRING_EQUAL(str_of(j, "state"), "active");
	CU_ASSERT_STRING_EQUAL(str_of(j, "inactivation"), "enabled");
	CU_ASSERT_STRING_EQUAL(str_of(j, "priority"), "high");
	CU_ASSERT_STRING_EQUAL(str_of(j, "alarm_type"), "physiological");
	CU_ASSERT_EQUAL(int_of(j, "source_code"), MDC_SPO2);
	CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(j, "value")), 82.0, 1e-9);
	CU_ASSERT_EQUAL(int_of(j, "flags"), DP_OBS(TIME_FROM_MSH));
	CU_ASSERT_PTR_NULL(json_object_get(j, "sid"));

	j = got.json[3];
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(str_of(j, "kind"), "technical");
	CU_ASSERT_STRING_EQUAL(str_of(j, "tech"), "event_loss");
	CU_ASSERT_EQUAL(int_of(j, "tech_code"), DP_TECH_EVENT_LOSS);
	CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(j, "value")), 17.0, 1e-9);
	CU_ASSERT_EQUAL(int_of(j, "worker"), 2);
	CU_ASSERT_PTR_NULL(json_object_get(j, "src"));
	CU_ASSERT_PTR_NULL(json_object_get(j, "proto"));
	CU_ASSERT_PTR_NULL(json_object_get(j, "device"));
	alarm_list_free(&got);

	cp_persist_counters(p, pc);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarms_stored], 4);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarm_groups], 1);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_events_ignored], 1);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarm_store_failed], 0);
	cp_persist_state(p, &st);
	CU_ASSERT_EQUAL(st.next_id, 5);
	CU_ASSERT_FALSE(st.failing);
	CU_ASSERT_EQUAL(st.queued, 0);
	cp_persist_free(p);
	store_close(s);

	/* Reopened, the ids go on. */
	s = open_store("alarms", &so);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL_FATAL(cp_persist_new(s, &po, &p), 0);
	cp_persist_state(p, &st);
	CU_ASSERT_EQUAL(st.next_id, 5);
	cp_persist_hooks(p, &hooks);
	hooks.on_alarm(hooks.arg, &ev[3]);
	cp_persist_tick(p);
	CU_ASSERT_EQUAL(store_query_alarms(s, INT64_MIN, INT64_MAX, collect_alarm, &got), 0);
	CU_ASSERT_EQUAL(got.n, 5);
	CU_ASSERT_EQUAL(got.id[4], 5);
	alarm_list_free(&got);
	cp_persist_free(p);
	store_close(s);
	log_read(&log);
	CU_ASSERT_STRING_EQUAL(log.text, "");
	fclose(log.f);
}

/* ------------------------------------------------------------------------ */
/* An alarm storm: group commit                                              */
/* ------------------------------------------------------------------------ */

#define STORM 600		/* alarms in one pass: two full groups and 88 */
#define STORM_RATE_ONE 512	/* alarms one a pass, for the rate */
#define STORM_RATE_GROUPED 2048 /* alarms in one pass, for the rate */

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
persist_counter(struct cp_persist *p, enum cp_persist_counter c)
{
	uint64_t pc[CP_PERSIST__COUNT];

	cp_persist_counters(p, pc);
	return pc[c];
}

static void
test_alarm_storm(void)
{
	static struct alarm_list got;
	uint64_t sc[STORE_CNT__COUNT], groups;
	struct cp_persist_state st;
	struct cp_event_hooks hooks;
	struct cp_persist_opts po;
	struct cp_persist *p = NULL;
	struct store_opts so;
	struct dp_event ev[5];
	unsigned misplaced = 0;
	double t0, t1, t2;
	struct store *s;
	struct log log;

	memset(&got, 0, sizeof(got));
	store_opts_defaults(&so);
	s = open_store("storm", &so);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	persist_opts(&po, &log);
	CU_ASSERT_EQUAL_FATAL(cp_persist_new(s, &po, &p), 0);
	cp_persist_hooks(p, &hooks);
	alarm_events(ev);

	/* One pass takes STORM alarms: a group is written each time one is full... */
	for (unsigned i = 0; i < STORM; i++)
		hooks.on_alarm(hooks.arg, &ev[i % 4]);
	CU_ASSERT_EQUAL(persist_counter(p, CP_PERSIST_alarm_groups), 2);
	CU_ASSERT_EQUAL(persist_counter(p, CP_PERSIST_alarms_stored), 2 * STORE_ALARMS_BATCH_MAX);
	CU_ASSERT_EQUAL(store_query_alarms(s, INT64_MIN, INT64_MAX, collect_alarm, &got), 0);
	CU_ASSERT_EQUAL(got.n, 2 * STORE_ALARMS_BATCH_MAX);
	alarm_list_free(&got);
	/* ... and the rest at the end of the pass: three fsyncs for 600 alarms. */
	cp_persist_tick(p);
	CU_ASSERT_EQUAL(persist_counter(p, CP_PERSIST_alarm_groups), 3);
	CU_ASSERT_EQUAL(persist_counter(p, CP_PERSIST_alarms_stored), STORM);
	store_counters(s, sc);
	CU_ASSERT_EQUAL(sc[STORE_CNT_alarms_written], STORM);
	CU_ASSERT_EQUAL(store_query_alarms(s, INT64_MIN, INT64_MAX, collect_alarm, &got), 0);
	CU_ASSERT_EQUAL(got.bad, 0);
	CU_ASSERT_EQUAL_FATAL(got.n, STORM);
	for (unsigned i = 0; i < STORM; i++)
		if (got.id[i] != i + 1)
			misplaced++;
	CU_ASSERT_EQUAL(misplaced, 0);
	/* in the order taken: the kinds cycle hit, hit, device, technical */
	CU_ASSERT_STRING_EQUAL(str_of(got.json[2], "kind"), "device");
	CU_ASSERT_STRING_EQUAL(str_of(got.json[3], "kind"), "technical");
	CU_ASSERT_STRING_EQUAL(str_of(got.json[6], "kind"), "device");
	alarm_list_free(&got);
	/* A pass with no alarm writes nothing. */
	cp_persist_tick(p);
	CU_ASSERT_EQUAL(persist_counter(p, CP_PERSIST_alarm_groups), 3);

	/* The flush writes the group being gathered. */
	for (unsigned i = 0; i < 3; i++)
		hooks.on_alarm(hooks.arg, &ev[3]);
	CU_ASSERT_EQUAL(cp_persist_flush(p), 0);
	CU_ASSERT_EQUAL(persist_counter(p, CP_PERSIST_alarm_groups), 4);
	CU_ASSERT_EQUAL(persist_counter(p, CP_PERSIST_alarms_stored), STORM + 3);

	/* The rate on this disk, printed: one alarm a pass, then a storm in one pass. */
	groups = persist_counter(p, CP_PERSIST_alarm_groups);
	t0 = seconds();
	for (unsigned i = 0; i < STORM_RATE_ONE; i++) {
		hooks.on_alarm(hooks.arg, &ev[i % 4]);
		cp_persist_tick(p);
	}
	t1 = seconds();
	for (unsigned i = 0; i < STORM_RATE_GROUPED; i++)
		hooks.on_alarm(hooks.arg, &ev[i % 4]);
	cp_persist_tick(p);
	t2 = seconds();
	CU_ASSERT_EQUAL(persist_counter(p, CP_PERSIST_alarm_groups),
			groups + STORM_RATE_ONE + STORM_RATE_GROUPED / STORE_ALARMS_BATCH_MAX);
	CU_ASSERT_EQUAL(persist_counter(p, CP_PERSIST_alarms_stored),
			STORM + 3 + STORM_RATE_ONE + STORM_RATE_GROUPED);
	printf("\n  alarm records stored: one a pass %.0f/s (%u, one fsync each), %u in one "
	       "pass %.0f/s (%u fsyncs)\n",
	       STORM_RATE_ONE / (t1 - t0), STORM_RATE_ONE, STORM_RATE_GROUPED,
	       STORM_RATE_GROUPED / (t2 - t1), STORM_RATE_GROUPED / STORE_ALARMS_BATCH_MAX);

	/* The free writes the group too. */
	hooks.on_alarm(hooks.arg, &ev[0]);
	hooks.on_alarm(hooks.arg, &ev[1]);
	cp_persist_state(p, &st);
	CU_ASSERT_EQUAL(st.queued, 0);
	CU_ASSERT_FALSE(st.failing);
	cp_persist_free(p);
	CU_ASSERT_EQUAL(store_query_alarms(s, INT64_MIN, INT64_MAX, collect_alarm, &got), 0);
	CU_ASSERT_EQUAL(got.n, STORM + 3 + STORM_RATE_ONE + STORM_RATE_GROUPED + 2);
	CU_ASSERT_EQUAL(got.bad, 0);
	alarm_list_free(&got);
	store_close(s);
	log_read(&log);
	CU_ASSERT_STRING_EQUAL(log.text, "");
	fclose(log.f);
}

/* ------------------------------------------------------------------------ */
/* The idle tick                                                             */
/* ------------------------------------------------------------------------ */

static void
test_tick(void)
{
	uint64_t sc[STORE_CNT__COUNT];
	struct cp_event_hooks hooks;
	struct cp_persist_opts po;
	struct cp_persist *p = NULL;
	struct store_opts so;
	struct dp_event ev[10];
	struct store *s;
	struct log log;

	fake_now = WALL_NS;
	store_opts_defaults(&so);
	so.batch_records = 1000;
	so.batch_ms = 100;
	so.clock = fake_clock;
	s = open_store("tick", &so);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	persist_opts(&po, &log);
	po.clock = fake_clock;
	CU_ASSERT_EQUAL_FATAL(cp_persist_new(s, &po, &p), 0);
	cp_persist_hooks(p, &hooks);
	for (unsigned i = 0; i < 10; i++)
		ev[i] = obs_event(DEV1, T1_NS + i, MDC_HR, 60 + i, MDC_BPM, 0, i, 0);
	hooks.on_telemetry(hooks.arg, ev, 10);
	CU_ASSERT_EQUAL(store_pending(s), 10);
	/* idle passes before the batch is due leave it; the one after writes it */
	fake_now = WALL_NS + 99999999;
	cp_persist_tick(p);
	cp_persist_tick(p);
	CU_ASSERT_EQUAL(store_pending(s), 10);
	fake_now = WALL_NS + 100000000;
	cp_persist_tick(p);
	CU_ASSERT_EQUAL(store_pending(s), 0);
	store_counters(s, sc);
	CU_ASSERT_EQUAL(sc[STORE_CNT_obs_written], 10);
	CU_ASSERT_EQUAL(sc[STORE_CNT_obs_batches], 1);
	/* nothing batched: a tick writes nothing */
	fake_now += 1000000000;
	cp_persist_tick(p);
	store_counters(s, sc);
	CU_ASSERT_EQUAL(sc[STORE_CNT_obs_batches], 1);
	cp_persist_free(p);
	store_close(s);
	fclose(log.f);
}

/* ------------------------------------------------------------------------ */
/* A store that refuses for good                                             */
/* ------------------------------------------------------------------------ */

static int conditions[8];
static unsigned n_conditions;

static void
on_condition(void *arg, int rc)
{
	(void)arg;
	if (n_conditions < 8)
		conditions[n_conditions] = rc;
	n_conditions++;
}

static void
test_read_only(void)
{
	static struct alarm_list got;
	uint64_t pc[CP_PERSIST__COUNT];
	struct cp_persist_state st;
	struct cp_event_hooks hooks;
	struct cp_persist_opts po;
	struct cp_persist *p = NULL;
	struct store_opts so;
	struct dp_event ev[5];
	struct store *s;
	struct log log;

	memset(&got, 0, sizeof(got));
	store_opts_defaults(&so);
	s = open_store("ro", &so); /* made read-write, then reopened read-only */
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	store_close(s);
	so.mode = STORE_READ_ONLY;
	s = open_store("ro", &so);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	persist_opts(&po, &log);
	po.on_condition = on_condition;
	n_conditions = 0;
	CU_ASSERT_EQUAL_FATAL(cp_persist_new(s, &po, &p), 0);
	cp_persist_hooks(p, &hooks);
	alarm_events(ev);
	hooks.on_alarm(hooks.arg, &ev[0]);
	hooks.on_alarm(hooks.arg, &ev[2]);
	cp_persist_tick(p);
	cp_persist_counters(p, pc);
	/* refused for good (the group, then each record): not queued, counted */
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarm_refused], 2);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarm_groups], 0);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarms_stored], 0);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarm_store_failed], 0);
	cp_persist_state(p, &st);
	CU_ASSERT_EQUAL(st.queued, 0);
	/* an observation batch that cannot be written raises the condition */
	ev[4] = obs_event(DEV1, T1_NS, MDC_HR, 60, MDC_BPM, 0, 1, 0);
	hooks.on_telemetry(hooks.arg, &ev[4], 1);
	cp_persist_counters(p, pc);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_obs_store_failed], 1);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_disk_full_alarms], 1);
	cp_persist_state(p, &st);
	CU_ASSERT_TRUE(st.failing);
	CU_ASSERT_EQUAL(st.rc, -EROFS);
	CU_ASSERT_EQUAL(n_conditions, 1);
	CU_ASSERT_EQUAL(conditions[0], -EROFS);
	log_read(&log);
	CU_ASSERT_PTR_NOT_NULL(strstr(log.text, "vigild: storage: writes fail (Read-only file "
						"system): alarms are not being stored"));
	cp_persist_free(p);
	CU_ASSERT_EQUAL(store_query_alarms(s, INT64_MIN, INT64_MAX, collect_alarm, &got), 0);
	CU_ASSERT_EQUAL(got.n, 0);
	store_close(s);
	fclose(log.f);
}

/* A group with one record the store refuses for good: only that one is lost. */
static int
found(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	(void)id;
	(void)time_ns;
	(void)json;
	(void)len;
	(*(unsigned *)arg)++;
	return 0;
}

static void
test_group_refused(void)
{
	struct cp_event_hooks hooks;
	struct cp_persist_opts po;
	struct cp_persist *p = NULL;
	struct cp_persist_state st;
	struct store_opts so;
	struct dp_event ev[5];
	unsigned n = 0;
	struct store *s;
	struct log log;

	store_opts_defaults(&so);
	s = open_store("refused", &so);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	/* The ids run out: the next two are UINT64_MAX - 1 (valid) and UINT64_MAX (not). */
	CU_ASSERT_EQUAL_FATAL(store_alarm_put(s, UINT64_MAX - 2, WALL_NS, "{}", 2, NULL), 0);
	persist_opts(&po, &log);
	CU_ASSERT_EQUAL_FATAL(cp_persist_new(s, &po, &p), 0);
	cp_persist_hooks(p, &hooks);
	alarm_events(ev);
	hooks.on_alarm(hooks.arg, &ev[0]);
	hooks.on_alarm(hooks.arg, &ev[2]);
	cp_persist_tick(p);
	CU_ASSERT_EQUAL(persist_counter(p, CP_PERSIST_alarms_stored), 1);
	CU_ASSERT_EQUAL(persist_counter(p, CP_PERSIST_alarm_refused), 1);
	CU_ASSERT_EQUAL(persist_counter(p, CP_PERSIST_alarm_groups), 1);
	CU_ASSERT_EQUAL(persist_counter(p, CP_PERSIST_alarm_store_failed), 0);
	cp_persist_state(p, &st);
	CU_ASSERT_EQUAL(st.queued, 0);
	CU_ASSERT_FALSE(st.failing);
	CU_ASSERT_EQUAL(store_alarm_get(s, UINT64_MAX - 1, found, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	cp_persist_free(p);
	store_close(s);
	fclose(log.f);
}

/* ------------------------------------------------------------------------ */
/* A full disk                                                               */
/* ------------------------------------------------------------------------ */

#define FULL_TMPFS "size=8m,mode=0700"
#define FULL_RETRY_MAX 64
#define FULL_MORE 70	      /* alarms sent once failing: FULL_RETRY_MAX - 1 fit */
#define FULL_MAX_ALARMS 60000 /* sent at most before a write fails */
#define FULL_RESUME_TRIES 300 /* every 200 ms: 60 s */

/* Fill the file system of @p path to the last byte (ENOSPC). */
static int
fill(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (f == NULL)
		return -errno;
	setvbuf(f, NULL, _IONBF, 0);
	memset(buf, 0x5a, sizeof(buf));
	for (size_t chunk = sizeof(buf); chunk > 0; chunk /= 2)
		while (fwrite(buf, 1, chunk, f) == chunk)
			;
	if (errno != ENOSPC)
		rc = -errno;
	fclose(f);
	return rc;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Send alarms, one a pass, until the persist says writes fail. @return how many were sent. */
static unsigned
alarms_until_failing(struct cp_event_hooks *hooks, struct cp_persist *p, struct dp_event *ev)
{
	struct cp_persist_state st;
	unsigned n;

	for (n = 0; n < FULL_MAX_ALARMS; n++) {
		ev->seq = n;
		hooks->on_alarm(hooks->arg, ev);
		cp_persist_tick(p); /* one alarm a pass: a group each */
		cp_persist_state(p, &st);
		if (st.failing)
			return n + 1;
	}
	return n;
}

static void
test_disk_full(void)
{
	struct alarm_list *got = calloc(1, sizeof(*got));
	char filler[700], dir[700];
	uint64_t pc[CP_PERSIST__COUNT];
	unsigned sent, tries, lost, misplaced;
	struct cp_persist_state st;
	struct cp_event_hooks hooks;
	struct cp_persist_opts po;
	struct cp_persist *p = NULL, *p2 = NULL;
	struct cp_persist_opts po2;
	struct cp_event_hooks hooks2;
	struct store_opts so;
	struct dp_event ev[5], obs;
	struct store *s;
	struct log log, log2;
	uint64_t last_stored, groups;

	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	if (mkdir(mnt, 0700) != 0 && errno != EEXIST) {
		CU_FAIL("mkdir of the mount point");
		free(got);
		return;
	}
	if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, FULL_TMPFS) != 0) {
		if (errno == EPERM) {
			printf("\n  disk full: not tested: mounting a tmpfs needs root (EPERM)\n");
			CU_PASS("disk full needs root");
		} else {
			fprintf(stderr, "mount tmpfs on %s: %s\n", mnt, strerror(errno));
			CU_FAIL("mount of a tmpfs failed (not for want of root)");
		}
		free(got);
		return;
	}
	mounted = true;
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	snprintf(dir, sizeof(dir), "%s/db", mnt);

	store_opts_defaults(&so);
	so.write_buffer_mb = 1;
	so.block_cache_mb = 8;
	so.compression = STORE_COMPRESS_NONE;
	s = open_store(dir, &so);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	persist_opts(&po, &log);
	po.retry_max = FULL_RETRY_MAX;
	po.retry_ms = 0; /* every tick: the test paces the retries itself */
	po.on_condition = on_condition;
	n_conditions = 0;
	CU_ASSERT_EQUAL_FATAL(cp_persist_new(s, &po, &p), 0);
	cp_persist_hooks(p, &hooks);
	alarm_events(ev);

	/* The disk fills up: alarms go on until one fails (RocksDB may have room
	 * preallocated for its log). */
	CU_ASSERT_EQUAL_FATAL(fill(filler), 0);
	sent = alarms_until_failing(&hooks, p, &ev[0]);
	CU_ASSERT_FATAL(sent < FULL_MAX_ALARMS);
	cp_persist_state(p, &st);
	CU_ASSERT_TRUE(st.failing);
	CU_ASSERT(st.rc == -ENOSPC || st.rc == -EIO);
	CU_ASSERT_EQUAL(st.queued, 1);
	cp_persist_counters(p, pc);
	last_stored = pc[CP_PERSIST_alarms_stored];
	CU_ASSERT_EQUAL(last_stored, sent - 1);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarm_groups], sent - 1);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarm_store_failed], 1);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_disk_full_alarms], 1);
	CU_ASSERT_EQUAL(n_conditions, 1);
	CU_ASSERT(conditions[0] < 0);
	log_read(&log);
	if (st.rc == -ENOSPC)
		CU_ASSERT_PTR_NOT_NULL(strstr(
			log.text, "vigild: storage: disk full: alarms are not being stored"));
	printf("\n  disk full after %u alarm records (%s); log: %s", sent, strerror(-st.rc),
	       log.text);

	/* More alarms, and retries that fail: they wait, in order, until the queue
	 * is full; the rest is counted lost. Observations meanwhile are lost. */
	for (unsigned i = 0; i < FULL_MORE; i++) {
		ev[2].seq = i;
		hooks.on_alarm(hooks.arg, &ev[i % 2 == 0 ? 2 : 3]);
		cp_persist_tick(p);
	}
	obs = obs_event(DEV1, T1_NS, MDC_HR, 60, MDC_BPM, 0, 1, 0);
	hooks.on_telemetry(hooks.arg, &obs, 1);
	CU_ASSERT(cp_persist_flush(p) < 0);
	cp_persist_state(p, &st);
	cp_persist_counters(p, pc);
	lost = 1 + FULL_MORE - FULL_RETRY_MAX;
	CU_ASSERT_EQUAL(st.queued, FULL_RETRY_MAX);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarm_retry_lost], lost);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarms_stored], last_stored);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarm_store_failed], 1); /* the others were not tried */
	CU_ASSERT_EQUAL(pc[CP_PERSIST_disk_full_alarms], 1);   /* one condition, said once */
	CU_ASSERT(pc[CP_PERSIST_obs_store_failed] >= 1);
	CU_ASSERT_EQUAL(st.next_id, sent + FULL_MORE + 1);
	log_read(&log);
	CU_ASSERT_PTR_NOT_NULL(strstr(log.text, "64 alarm records wait for a retry"));

	/* A persist that stops while the disk is still full (vigild stopping):
	 * what it still holds is counted lost and said. */
	persist_opts(&po2, &log2);
	CU_ASSERT_EQUAL_FATAL(cp_persist_new(s, &po2, &p2), 0);
	cp_persist_hooks(p2, &hooks2);
	hooks2.on_alarm(hooks2.arg, &ev[3]);
	hooks2.on_alarm(hooks2.arg, &ev[3]);
	cp_persist_tick(p2); /* a group of two fails: both wait, in order */
	cp_persist_counters(p2, pc);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarm_store_failed], 2);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarm_groups], 0);
	cp_persist_state(p2, &st);
	CU_ASSERT_EQUAL(st.queued, 2);
	cp_persist_free(p2);
	log_read(&log2);
	CU_ASSERT_PTR_NOT_NULL(strstr(log2.text, "vigild: storage: 2 alarm records could not be "
						 "stored before exit"));
	fclose(log2.f);

	/* Space returns: the next ticks store every queued record, oldest first,
	 * in one group. */
	cp_persist_counters(p, pc);
	groups = pc[CP_PERSIST_alarm_groups];
	CU_ASSERT_EQUAL(groups, sent - 1);
	CU_ASSERT_EQUAL(unlink(filler), 0);
	for (tries = 0; tries < FULL_RESUME_TRIES; tries++) {
		cp_persist_tick(p);
		cp_persist_state(p, &st);
		if (!st.failing)
			break;
		sleep_ms(200);
	}
	printf("  space freed: the queue was written after %u failed retries (200 ms apart)\n",
	       tries);
	CU_ASSERT_FATAL(tries < FULL_RESUME_TRIES);
	CU_ASSERT_EQUAL(st.queued, 0);
	CU_ASSERT_EQUAL(st.rc, 0);
	cp_persist_counters(p, pc);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarms_retried], FULL_RETRY_MAX);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarm_groups], groups + 1);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarms_stored], last_stored + FULL_RETRY_MAX);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_storage_recovered], 1);
	CU_ASSERT_EQUAL(n_conditions, 2);
	CU_ASSERT_EQUAL(conditions[1], 0);
	log_read(&log);
	CU_ASSERT_PTR_NOT_NULL(strstr(log.text, "vigild: storage: writes succeed again after"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(log.text, "64 alarm records kept in memory were stored, 7 lost"));
	/* and new ones are stored at the end of their pass again */
	hooks.on_alarm(hooks.arg, &ev[3]);
	cp_persist_tick(p);
	cp_persist_counters(p, pc);
	CU_ASSERT_EQUAL(pc[CP_PERSIST_alarms_stored], last_stored + FULL_RETRY_MAX + 1);

	/* Every record whose write returned is there: ids 1..sent, the queued ones
	 * after, the lost ones not, the one after recovery last. */
	CU_ASSERT_EQUAL(store_query_alarms(s, INT64_MIN, INT64_MAX, collect_alarm, got), 0);
	CU_ASSERT_EQUAL(got->bad, 0);
	CU_ASSERT_EQUAL_FATAL(got->n, last_stored + FULL_RETRY_MAX + 1);
	misplaced = 0;
	for (unsigned i = 0; i < got->n && i < ALARMS_LISTED; i++) {
		uint64_t want = i < sent + FULL_RETRY_MAX - 1 ? i + 1 : sent + FULL_MORE + 1;

		if (got->id[i] != want)
			misplaced++;
	}
	CU_ASSERT_EQUAL(misplaced, 0);
	alarm_list_free(got);
	cp_persist_free(p);
	store_close(s);

	/* No corruption: it opens again with what was stored. */
	s = open_store(dir, &so);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(store_query_alarms(s, INT64_MIN, INT64_MAX, collect_alarm, got), 0);
	CU_ASSERT(got->n >= last_stored + FULL_RETRY_MAX + 1);
	CU_ASSERT_EQUAL(got->bad, 0);
	alarm_list_free(got);
	store_close(s);
	fclose(log.f);
	free(got);
	CU_ASSERT_EQUAL(umount2(mnt, 0), 0);
	mounted = false;
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"observations", test_observations},
		{"alarm records", test_alarm_records},
		{"an alarm storm: group commit", test_alarm_storm},
		{"the idle tick writes the batch", test_tick},
		{"a store that refuses", test_read_only},
		{"a group with a record refused for good", test_group_refused},
		{"disk full: retry queue", test_disk_full},
	};
	CU_pSuite suite;

	suite = CU_add_suite("persist", suite_init, suite_cleanup);
	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
