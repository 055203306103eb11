/*
 * test_patient.c - unit tests of the patient state (controlplane/patient.c),
 * fed observation events directly.
 *
 *   - what never counts: values flagged INVALID (with or without the flag
 *     that made them so), TEST or DEMO, NaN and infinities; they create no
 *     patient and are counted; bad arguments are -EINVAL;
 *   - source priority: HR before the oximeter's PULSE; once HR is stale
 *     PULSE is chosen and the record says so, and HR again once it is
 *     fresh; the arterial line (ART_SYS) before NIBP by default, NIBP once
 *     the arterial value is stale;
 *   - stale values expire: the score becomes incomplete and its lower bound
 *     drops, each expired value counted once;
 *   - an older observation does not replace a newer one; the receive time
 *     stands in for a missing observation time;
 *   - metrics that are no NEWS2 source are kept (no score); a full set of
 *     values gives its oldest slot to a new metric;
 *   - settings: oxygen and ACVPU make the score complete; scale 2 changes
 *     the SpO2 sub-score; bad settings are -EINVAL;
 *   - a full table: -ENOSPC, counted, known patients still served;
 *   - device-keyed patients; keys cut at CP_PATIENT_ID_MAX bytes;
 *   - get and foreach give copies; foreach stops on a non-zero return;
 *   - cp_news2_json parses back with every field;
 *   - a reader thread copying while the writer works (for the sanitizers).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "controlplane.h"
#include "cunit_main.h"

#define SEC 1000000000LL
#define T0 (1714557600LL * SEC) /* 2024-05-01T10:00:00Z */
#define DEV1 UINT64_C(0x0011223344556677)
#define DEV2 UINT64_C(0x00a0b0c0d0e0f001)

static uint32_t
code_of(const char *name)
{
	const struct rule_metric *m = rule_metric_by_name(name, strlen(name));

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	return m->code;
}

static struct dp_event
obs(const char *metric, double value, int64_t time_ns, uint32_t flags, uint64_t device)
{
	struct dp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = DP_EV_OBS;
	ev.code = code_of(metric);
	ev.value = value;
	ev.time_ns = time_ns;
	ev.wall_ns = time_ns + SEC / 10;
	ev.flags = flags;
	ev.device = device;
	return ev;
}

/* Offer one observation; @return what cp_patients_obs returned. */
static int
offer(struct cp_patients *p, const char *key, const char *metric, double value, int64_t t,
      struct cp_news2 *n)
{
	struct dp_event ev = obs(metric, value, t, 0, DEV1);

	return cp_patients_obs(p, key, "ICU^1^A", &ev, n);
}

static struct cp_patients *
table(unsigned max)
{
	struct cp_patient_opts o;
	struct cp_patients *p = NULL;

	cp_patient_opts_defaults(&o);
	if (max != 0)
		o.max_patients = max;
	CU_ASSERT_EQUAL_FATAL(cp_patients_new(&o, &p), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	return p;
}

static uint64_t
counter(struct cp_patients *p, enum cp_patient_counter c)
{
	uint64_t v[CP_PAT__COUNT];

	cp_patients_counters(p, v);
	return v[c];
}

/* Every vital at a score of 0, at @p t. */
static void
all_normal(struct cp_patients *p, const char *key, int64_t t, struct cp_news2 *n)
{
	CU_ASSERT_EQUAL(offer(p, key, "HR", 70, t, n), 1);
	CU_ASSERT_EQUAL(offer(p, key, "SPO2", 97, t, n), 1);
	CU_ASSERT_EQUAL(offer(p, key, "RR", 16, t, n), 1);
	CU_ASSERT_EQUAL(offer(p, key, "NIBP_SYS", 120, t, n), 1);
	CU_ASSERT_EQUAL(offer(p, key, "TEMP", 37.0, t, n), 1);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

static void
test_not_valid(void)
{
	static const uint32_t bad[] = {
		DP_OBS(INVALID),
		DP_OBS(TEST),
		DP_OBS(DEMO),
		DP_OBS(TEST) | DP_OBS(INVALID),
		DP_OBS(OFF_SCALE) | DP_OBS(INVALID),
		DP_OBS(SENTINEL) | DP_OBS(INVALID),
	};
	struct cp_patients *p = table(0);
	struct cp_patient pt;
	struct cp_news2 n;
	struct dp_event ev;
	unsigned offered = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ev = obs("HR", 80, T0, bad[i], DEV1);
		CU_ASSERT_EQUAL(cp_patients_obs(p, "P1", NULL, &ev, &n), 0);
		offered++;
	}
	ev = obs("HR", NAN, T0, 0, DEV1);
	CU_ASSERT_EQUAL(cp_patients_obs(p, "P1", NULL, &ev, &n), 0);
	ev = obs("HR", INFINITY, T0, 0, DEV1);
	CU_ASSERT_EQUAL(cp_patients_obs(p, "P1", NULL, &ev, &n), 0);
	offered += 2;
	CU_ASSERT_EQUAL(counter(p, CP_PAT_observations), offered);
	CU_ASSERT_EQUAL(counter(p, CP_PAT_not_valid), offered);
	CU_ASSERT_EQUAL(counter(p, CP_PAT_news2_scores), 0);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), -ENOENT);
	CU_ASSERT_EQUAL(cp_patients_count(p), 0);

	/* Flags that say nothing against the value do not stop it. */
	ev = obs("HR", 80, T0, DP_OBS(ABN_H) | DP_OBS(TIME_FROM_MSH), DEV1);
	CU_ASSERT_EQUAL(cp_patients_obs(p, "P1", NULL, &ev, &n), 1);
	CU_ASSERT_EQUAL(n.sub[CP_N2_PULSE], 0);
	CU_ASSERT_EQUAL(counter(p, CP_PAT_not_valid), offered);

	/* An invalid value never replaces the valid one kept. */
	ev = obs("HR", 20, T0 + SEC, DP_OBS(INVALID), DEV1);
	CU_ASSERT_EQUAL(cp_patients_obs(p, "P1", NULL, &ev, &n), 0);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	CU_ASSERT_EQUAL(pt.n_values, 1);
	CU_ASSERT_EQUAL(pt.value[0].value, 80);

	/* Arguments. */
	ev = obs("HR", 80, T0, 0, DEV1);
	CU_ASSERT_EQUAL(cp_patients_obs(p, NULL, NULL, &ev, &n), -EINVAL);
	CU_ASSERT_EQUAL(cp_patients_obs(p, "", NULL, &ev, &n), -EINVAL);
	CU_ASSERT_EQUAL(cp_patients_obs(p, "P1", NULL, NULL, &n), -EINVAL);
	ev.type = DP_EV_HIT;
	CU_ASSERT_EQUAL(cp_patients_obs(p, "P1", NULL, &ev, &n), -EINVAL);
	cp_patients_free(p);
}

static void
test_pulse_priority(void)
{
	struct cp_patients *p = table(0);
	struct cp_patient pt;
	struct cp_news2 n;

	/* HR 80 (scores 0) and the oximeter's pulse 120 (would score 2): HR wins. */
	CU_ASSERT_EQUAL(offer(p, "P1", "PULSE", 120, T0, &n), 1);
	CU_ASSERT_EQUAL(n.sub[CP_N2_PULSE], 2);
	CU_ASSERT_EQUAL(offer(p, "P1", "HR", 80, T0, &n), 1);
	CU_ASSERT_EQUAL(n.sub[CP_N2_PULSE], 0);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	CU_ASSERT_EQUAL(pt.news2_source[CP_N2_PULSE], code_of("HR"));
	CU_ASSERT_EQUAL(pt.news2_in.pulse, 80);

	/* 30 s on, a new oximeter pulse: HR is still fresh and still chosen. */
	CU_ASSERT_EQUAL(offer(p, "P1", "PULSE", 125, T0 + 30 * SEC, &n), 1);
	CU_ASSERT_EQUAL(n.sub[CP_N2_PULSE], 0);

	/* 61 s after the last HR: HR is stale, PULSE is chosen and recorded. */
	CU_ASSERT_EQUAL(offer(p, "P1", "PULSE", 125, T0 + 61 * SEC, &n), 1);
	CU_ASSERT_EQUAL(n.sub[CP_N2_PULSE], 2);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	CU_ASSERT_EQUAL(pt.news2_source[CP_N2_PULSE], code_of("PULSE"));
	CU_ASSERT_EQUAL(pt.news2_in.pulse, 125);
	CU_ASSERT_EQUAL(pt.news2_ns, T0 + 61 * SEC);
	CU_ASSERT_EQUAL(counter(p, CP_PAT_expired), 1);

	/* Exactly at the stale age a value still counts; the expired HR is counted once. */
	CU_ASSERT_EQUAL(offer(p, "P1", "PULSE", 125, T0 + 62 * SEC, &n), 1);
	CU_ASSERT_EQUAL(counter(p, CP_PAT_expired), 1);
	CU_ASSERT_EQUAL(offer(p, "P1", "HR", 85, T0 + 63 * SEC, &n), 1);
	CU_ASSERT_EQUAL(n.sub[CP_N2_PULSE], 0);
	CU_ASSERT_EQUAL(cp_patients_rescore(p, "P1", T0 + 123 * SEC, &n), 0);
	CU_ASSERT_EQUAL(n.sub[CP_N2_PULSE], 0);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	CU_ASSERT_EQUAL(pt.news2_source[CP_N2_PULSE], code_of("HR"));
	CU_ASSERT_EQUAL(pt.n_values, 2);
	cp_patients_free(p);
}

static void
test_sbp_priority(void)
{
	struct cp_patients *p = table(0);
	struct cp_patient pt;
	struct cp_news2 n;

	/* The arterial line (130: 0) is preferred to the cuff (95: 2). */
	CU_ASSERT_EQUAL(offer(p, "P1", "ART_SYS", 130, T0, &n), 1);
	CU_ASSERT_EQUAL(offer(p, "P1", "NIBP_SYS", 95, T0 + 1800 * SEC, &n), 1);
	CU_ASSERT_EQUAL(n.sub[CP_N2_SBP], 0);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	CU_ASSERT_EQUAL(pt.news2_source[CP_N2_SBP], code_of("ART_SYS"));

	/* An hour and a minute on, the arterial value is stale; the cuff's is not. */
	CU_ASSERT_EQUAL(cp_patients_rescore(p, "P1", T0 + 3660 * SEC, &n), 0);
	CU_ASSERT_EQUAL(n.sub[CP_N2_SBP], 2);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	CU_ASSERT_EQUAL(pt.news2_source[CP_N2_SBP], code_of("NIBP_SYS"));
	CU_ASSERT_EQUAL(pt.news2_in.sbp, 95);

	/* The sources are options: the cuff first. */
	{
		struct cp_patient_opts o;
		struct cp_patients *q = NULL;

		cp_patient_opts_defaults(&o);
		memset(o.source[CP_N2_SBP], 0, sizeof(o.source[CP_N2_SBP]));
		o.source[CP_N2_SBP][0] = code_of("NIBP_SYS");
		o.source[CP_N2_SBP][1] = code_of("ART_SYS");
		CU_ASSERT_EQUAL_FATAL(cp_patients_new(&o, &q), 0);
		CU_ASSERT_EQUAL(offer(q, "P1", "ART_SYS", 130, T0, &n), 1);
		CU_ASSERT_EQUAL(offer(q, "P1", "NIBP_SYS", 95, T0, &n), 1);
		CU_ASSERT_EQUAL(n.sub[CP_N2_SBP], 2);
		cp_patients_free(q);
	}
	cp_patients_free(p);
}

static void
test_stale(void)
{
	struct cp_patients *p = table(0);
	struct cp_patient pt;
	struct cp_news2 n;

	CU_ASSERT_EQUAL(cp_patients_set(p, "P1", CP_O2_OXYGEN, CP_ACVPU_ALERT, false), 0);
	all_normal(p, "P1", T0, &n);
	CU_ASSERT_EQUAL(offer(p, "P1", "RR", 22, T0, &n), 1);
	CU_ASSERT_EQUAL(offer(p, "P1", "TEMP", 38.5, T0, &n), 1);
	CU_ASSERT_TRUE(n.complete);
	CU_ASSERT_EQUAL(n.total, 2 + 2 + 1);
	CU_ASSERT_EQUAL(n.risk, CP_N2_RISK_MEDIUM);

	/* Two minutes on: pulse, SpO2 and RR are stale, SBP and temperature are not. */
	CU_ASSERT_EQUAL(cp_patients_rescore(p, "P1", T0 + 120 * SEC, &n), 0);
	CU_ASSERT_FALSE(n.complete);
	CU_ASSERT_EQUAL(n.missing, (1u << CP_N2_PULSE) | (1u << CP_N2_SPO2) | (1u << CP_N2_RR));
	CU_ASSERT_EQUAL(n.sub[CP_N2_RR], -1);
	CU_ASSERT_EQUAL(n.total, 2 + 1);
	CU_ASSERT_EQUAL(n.risk, CP_N2_RISK_LOW);
	CU_ASSERT_EQUAL(counter(p, CP_PAT_expired), 3);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	CU_ASSERT_EQUAL(pt.news2_source[CP_N2_RR], 0);
	CU_ASSERT_EQUAL(pt.news2_source[CP_N2_TEMP], code_of("TEMP"));
	CU_ASSERT_FALSE(pt.news2_in.have[CP_N2_RR]);
	CU_ASSERT_EQUAL(pt.news2_ns, T0 + 120 * SEC);
	/* The values are kept, shown with their age. */
	CU_ASSERT_EQUAL(pt.n_values, 5);

	/* Two hours on: only the settings are left; nothing counted twice. */
	CU_ASSERT_EQUAL(cp_patients_rescore(p, "P1", T0 + 7200 * SEC, &n), 0);
	CU_ASSERT_EQUAL(n.total, 2);
	CU_ASSERT_EQUAL(n.missing,
			(1u << CP_N2__COUNT) - 1 - (1u << CP_N2_AIR) - (1u << CP_N2_ACVPU));
	CU_ASSERT_EQUAL(counter(p, CP_PAT_expired), 5);
	CU_ASSERT_EQUAL(cp_patients_rescore(p, "P1", T0 + 7300 * SEC, &n), 0);
	CU_ASSERT_EQUAL(counter(p, CP_PAT_expired), 5);

	/* A fresh value of a stale metric counts again. */
	CU_ASSERT_EQUAL(offer(p, "P1", "RR", 26, T0 + 7300 * SEC, &n), 1);
	CU_ASSERT_EQUAL(n.sub[CP_N2_RR], 3);
	CU_ASSERT_TRUE(n.red);
	CU_ASSERT_EQUAL(n.risk, CP_N2_RISK_MEDIUM);
	CU_ASSERT_EQUAL(cp_patients_rescore(p, "nobody", T0, &n), -ENOENT);
	cp_patients_free(p);
}

static void
test_order(void)
{
	struct cp_patients *p = table(0);
	struct cp_patient pt;
	struct cp_news2 n;
	struct dp_event ev;

	CU_ASSERT_EQUAL(offer(p, "P1", "HR", 80, T0 + 100 * SEC, &n), 1);
	/* Older: not kept, no new score. */
	CU_ASSERT_EQUAL(offer(p, "P1", "HR", 150, T0 + 90 * SEC, &n), 0);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	CU_ASSERT_EQUAL(pt.value[0].value, 80);
	CU_ASSERT_EQUAL(pt.value[0].time_ns, T0 + 100 * SEC);
	CU_ASSERT_EQUAL(pt.news2.sub[CP_N2_PULSE], 0);
	CU_ASSERT_EQUAL(pt.last_ns, T0 + 100 * SEC);
	CU_ASSERT_EQUAL(counter(p, CP_PAT_news2_scores), 1);
	/* The same time replaces (a correction). */
	CU_ASSERT_EQUAL(offer(p, "P1", "HR", 120, T0 + 100 * SEC, &n), 1);
	CU_ASSERT_EQUAL(n.sub[CP_N2_PULSE], 2);

	/* No observation time: the receive time stands in. */
	ev = obs("HR", 70, 0, 0, DEV2);
	ev.wall_ns = T0 + 200 * SEC;
	CU_ASSERT_EQUAL(cp_patients_obs(p, "P1", "ICU^2", &ev, &n), 1);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	CU_ASSERT_EQUAL(pt.value[0].time_ns, T0 + 200 * SEC);
	CU_ASSERT_EQUAL(pt.value[0].device, DEV2);
	CU_ASSERT_EQUAL(pt.device, DEV2);
	CU_ASSERT_EQUAL(pt.news2_ns, T0 + 200 * SEC);
	CU_ASSERT_STRING_EQUAL(pt.location, "ICU^2");
	cp_patients_free(p);
}

static void
test_other_metrics(void)
{
	struct cp_patients *p = table(0);
	struct cp_patient pt;
	struct cp_news2 n;
	struct dp_event ev;

	/* Not a NEWS2 source: kept, no score. */
	CU_ASSERT_EQUAL(offer(p, "P1", "ETCO2", 38, T0, &n), 0);
	CU_ASSERT_EQUAL(offer(p, "P1", "TEMP_SKIN", 33, T0, &n), 0);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	CU_ASSERT_EQUAL(pt.n_values, 2);
	CU_ASSERT_EQUAL(pt.news2_ns, 0);
	CU_ASSERT_EQUAL(counter(p, CP_PAT_news2_scores), 0);

	/* Fill every slot: codes of no known metric are kept as well. */
	for (unsigned i = 0; i < CP_PATIENT_METRICS - 2; i++) {
		ev = obs("ETCO2", i, T0 + (int64_t)(i + 1) * SEC, 0, DEV1);
		ev.code = 0x7f0000 + i;
		CU_ASSERT_EQUAL(cp_patients_obs(p, "P1", NULL, &ev, &n), 0);
	}
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	CU_ASSERT_EQUAL(pt.n_values, CP_PATIENT_METRICS);

	/* One more metric takes the oldest slot (ETCO2's or TEMP_SKIN's, both at T0). */
	CU_ASSERT_EQUAL(offer(p, "P1", "HR", 90, T0 + 100 * SEC, &n), 1);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	CU_ASSERT_EQUAL(pt.n_values, CP_PATIENT_METRICS);
	CU_ASSERT_EQUAL(pt.value[0].code, code_of("HR"));
	CU_ASSERT_EQUAL(pt.value[0].value, 90);
	CU_ASSERT_EQUAL(pt.value[1].code, code_of("TEMP_SKIN"));
	/* Older than everything kept: not kept. */
	ev = obs("ETCO2", 1, T0 - SEC, 0, DEV1);
	ev.code = 0x7e0000;
	CU_ASSERT_EQUAL(cp_patients_obs(p, "P1", NULL, &ev, &n), 0);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	for (unsigned i = 0; i < pt.n_values; i++)
		CU_ASSERT_NOT_EQUAL(pt.value[i].code, 0x7e0000);

	/* Other metrics expire after metric_stale_ns (counted by a score). */
	CU_ASSERT_EQUAL(cp_patients_rescore(p, "P1", T0 + 3601 * SEC, &n), 0);
	CU_ASSERT_EQUAL(counter(p, CP_PAT_expired), 2); /* TEMP_SKIN and HR (60 s) */
	cp_patients_free(p);
}

static void
test_settings(void)
{
	struct cp_patients *p = table(0);
	struct cp_patient pt;
	struct cp_news2 n;

	all_normal(p, "P1", T0, &n);
	CU_ASSERT_FALSE(n.complete);
	CU_ASSERT_EQUAL(n.missing, (1u << CP_N2_AIR) | (1u << CP_N2_ACVPU));
	CU_ASSERT_EQUAL(n.sub[CP_N2_AIR], -1);

	CU_ASSERT_EQUAL(cp_patients_set(p, "P1", CP_O2_AIR, CP_ACVPU_ALERT, false), 0);
	CU_ASSERT_EQUAL(cp_patients_rescore(p, "P1", T0, &n), 0);
	CU_ASSERT_TRUE(n.complete);
	CU_ASSERT_EQUAL(n.total, 0);

	CU_ASSERT_EQUAL(cp_patients_set(p, "P1", CP_O2_OXYGEN, CP_ACVPU_CVPU, false), 0);
	CU_ASSERT_EQUAL(cp_patients_rescore(p, "P1", T0, &n), 0);
	CU_ASSERT_EQUAL(n.total, 5);
	CU_ASSERT_TRUE(n.red);
	CU_ASSERT_EQUAL(n.risk, CP_N2_RISK_MEDIUM);

	/* 97 % on oxygen: 0 on scale 1, 3 on scale 2. */
	CU_ASSERT_EQUAL(cp_patients_set(p, "P1", CP_O2_OXYGEN, CP_ACVPU_ALERT, true), 0);
	CU_ASSERT_EQUAL(cp_patients_rescore(p, "P1", T0, &n), 0);
	CU_ASSERT_EQUAL(n.sub[CP_N2_SPO2], 3);
	CU_ASSERT_EQUAL(n.total, 5);
	/* 90 %: the target range on scale 2. */
	CU_ASSERT_EQUAL(offer(p, "P1", "SPO2", 90, T0 + SEC, &n), 1);
	CU_ASSERT_EQUAL(n.sub[CP_N2_SPO2], 0);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	CU_ASSERT_TRUE(pt.scale2);
	CU_ASSERT_TRUE(pt.news2_in.scale2);
	CU_ASSERT_EQUAL(pt.oxygen, CP_O2_OXYGEN);

	/* Settings made before any observation create the patient. */
	CU_ASSERT_EQUAL(cp_patients_set(p, "P2", CP_O2_AIR, CP_ACVPU_UNKNOWN, false), 0);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P2", &pt), 0);
	CU_ASSERT_EQUAL(pt.oxygen, CP_O2_AIR);
	CU_ASSERT_EQUAL(pt.n_values, 0);
	CU_ASSERT_EQUAL(cp_patients_set(p, "P2", (enum cp_o2)7, CP_ACVPU_ALERT, false), -EINVAL);
	CU_ASSERT_EQUAL(cp_patients_set(p, "P2", CP_O2_AIR, (enum cp_acvpu)9, false), -EINVAL);
	CU_ASSERT_EQUAL(cp_patients_set(p, "", CP_O2_AIR, CP_ACVPU_ALERT, false), -EINVAL);
	cp_patients_free(p);
}

static void
test_full(void)
{
	struct cp_patients *p = table(2);
	struct cp_patient_opts o;
	struct cp_news2 n;

	CU_ASSERT_EQUAL(offer(p, "P1", "HR", 80, T0, &n), 1);
	CU_ASSERT_EQUAL(cp_patients_set(p, "P2", CP_O2_AIR, CP_ACVPU_ALERT, false), 0);
	CU_ASSERT_EQUAL(offer(p, "P3", "HR", 80, T0, &n), -ENOSPC);
	CU_ASSERT_EQUAL(offer(p, "P3", "HR", 81, T0, &n), -ENOSPC);
	CU_ASSERT_EQUAL(counter(p, CP_PAT_patients_full), 2);
	CU_ASSERT_EQUAL(cp_patients_set(p, "P3", CP_O2_AIR, CP_ACVPU_ALERT, false), -ENOSPC);
	CU_ASSERT_EQUAL(cp_patients_count(p), 2);
	/* The known ones are still served. */
	CU_ASSERT_EQUAL(offer(p, "P2", "HR", 80, T0, &n), 1);
	CU_ASSERT_EQUAL(offer(p, "P1", "HR", 80, T0 + SEC, &n), 1);
	CU_ASSERT_EQUAL(counter(p, CP_PAT_patients_full), 2);
	cp_patients_free(p);

	cp_patient_opts_defaults(&o);
	o.max_patients = 0;
	p = NULL;
	CU_ASSERT_EQUAL(cp_patients_new(&o, &p), -EINVAL);
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_EQUAL(cp_patients_new(NULL, &p), 0);
	cp_patients_free(p);
	cp_patients_free(NULL);
}

static void
test_keys(void)
{
	struct cp_patients *p = table(0);
	char long_key[CP_PATIENT_ID_MAX + 20];
	struct cp_patient pt;
	struct cp_news2 n;
	struct dp_event ev;

	ev = obs("SPO2", 91, T0, 0, DEV1);
	CU_ASSERT_EQUAL(cp_patients_obs(p, "device:0011223344556677", NULL, &ev, &n), 1);
	CU_ASSERT_EQUAL(n.sub[CP_N2_SPO2], 3);
	ev = obs("SPO2", 99, T0, 0, DEV2);
	CU_ASSERT_EQUAL(cp_patients_obs(p, "device:00a0b0c0d0e0f001", NULL, &ev, &n), 1);
	CU_ASSERT_EQUAL(n.sub[CP_N2_SPO2], 0);
	CU_ASSERT_EQUAL(cp_patients_get(p, "device:0011223344556677", &pt), 0);
	CU_ASSERT_STRING_EQUAL(pt.key, "device:0011223344556677");
	CU_ASSERT_EQUAL(pt.device, DEV1);
	CU_ASSERT_EQUAL(pt.news2_in.spo2, 91);
	CU_ASSERT_EQUAL(cp_patients_get(p, "device:00a0b0c0d0e0f001", &pt), 0);
	CU_ASSERT_EQUAL(pt.device, DEV2);
	/* A key that is a prefix of another is another patient. */
	CU_ASSERT_EQUAL(cp_patients_get(p, "device:00112233", &pt), -ENOENT);

	/* Longer than CP_PATIENT_ID_MAX: cut, and found again by its cut form. */
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	CU_ASSERT_EQUAL(offer(p, long_key, "HR", 80, T0, &n), 1);
	long_key[CP_PATIENT_ID_MAX + 3] = '\0';
	CU_ASSERT_EQUAL(offer(p, long_key, "HR", 81, T0 + SEC, &n), 1);
	CU_ASSERT_EQUAL(cp_patients_count(p), 3);
	CU_ASSERT_EQUAL(cp_patients_get(p, long_key, &pt), 0);
	CU_ASSERT_EQUAL(strlen(pt.key), CP_PATIENT_ID_MAX);
	CU_ASSERT_EQUAL(pt.value[0].value, 81);

	/* Many patients: every one found by its own key. */
	for (int i = 0; i < 1000; i++) {
		char key[32];

		snprintf(key, sizeof(key), "MRN%06d", i);
		CU_ASSERT_EQUAL(offer(p, key, "RR", 10 + i % 20, T0, NULL), 1);
	}
	for (int i = 0; i < 1000; i++) {
		char key[32];

		snprintf(key, sizeof(key), "MRN%06d", i);
		CU_ASSERT_EQUAL(cp_patients_get(p, key, &pt), 0);
		CU_ASSERT_STRING_EQUAL(pt.key, key);
		CU_ASSERT_EQUAL(pt.value[0].value, 10 + i % 20);
	}
	CU_ASSERT_EQUAL(cp_patients_count(p), 1003);
	cp_patients_free(p);
}

struct walk {
	unsigned seen;
	unsigned stop_at;
	char keys[8][CP_PATIENT_ID_MAX + 1];
};

static int
walk_fn(void *arg, const struct cp_patient *pt)
{
	struct walk *w = arg;

	if (w->seen < 8)
		snprintf(w->keys[w->seen], sizeof(w->keys[0]), "%s", pt->key);
	w->seen++;
	return w->seen == w->stop_at ? 42 : 0;
}

static void
test_copies(void)
{
	struct cp_patients *p = table(0);
	struct walk w = {0};
	struct cp_patient pt;
	struct cp_news2 n;

	CU_ASSERT_EQUAL(cp_patients_foreach(p, walk_fn, &w), 0);
	CU_ASSERT_EQUAL(w.seen, 0);
	CU_ASSERT_EQUAL(offer(p, "A", "HR", 80, T0, &n), 1);
	CU_ASSERT_EQUAL(offer(p, "B", "HR", 80, T0, &n), 1);
	CU_ASSERT_EQUAL(offer(p, "C", "HR", 80, T0, &n), 1);
	CU_ASSERT_EQUAL(cp_patients_foreach(p, walk_fn, &w), 0);
	CU_ASSERT_EQUAL(w.seen, 3);
	CU_ASSERT_STRING_EQUAL(w.keys[0], "A");
	CU_ASSERT_STRING_EQUAL(w.keys[1], "B");
	CU_ASSERT_STRING_EQUAL(w.keys[2], "C");
	w = (struct walk){.stop_at = 2};
	CU_ASSERT_EQUAL(cp_patients_foreach(p, walk_fn, &w), 42);
	CU_ASSERT_EQUAL(w.seen, 2);

	/* A copy: changing it changes nothing in the table. */
	CU_ASSERT_EQUAL(cp_patients_get(p, "A", &pt), 0);
	pt.value[0].value = 0;
	pt.key[0] = 'Z';
	CU_ASSERT_EQUAL(cp_patients_get(p, "A", &pt), 0);
	CU_ASSERT_EQUAL(pt.value[0].value, 80);
	CU_ASSERT_STRING_EQUAL(pt.location, "ICU^1^A");
	CU_ASSERT_EQUAL(cp_patients_get(p, "Z", &pt), -ENOENT);
	CU_ASSERT_EQUAL(cp_patients_get(p, NULL, &pt), -ENOENT);
	cp_patients_free(p);
}

static void
test_json(void)
{
	struct cp_patients *p = table(0);
	json_t *o, *sub, *src, *missing;
	struct cp_patient pt;
	struct cp_news2 n;
	json_error_t err;
	char *text;

	all_normal(p, "P1", T0 + 123456789, &n);
	CU_ASSERT_EQUAL(offer(p, "P1", "RR", 22, T0 + 123456789, &n), 1);
	CU_ASSERT_EQUAL(cp_patients_set(p, "P1", CP_O2_UNKNOWN, CP_ACVPU_ALERT, false), 0);
	CU_ASSERT_EQUAL(cp_patients_rescore(p, "P1", T0 + 123456789, &n), 0);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	text = cp_news2_json(&pt);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_PTR_NULL(strchr(text, '\n'));
	o = json_loads(text, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "total")), 2);
	CU_ASSERT_TRUE(json_is_false(json_object_get(o, "complete")));
	CU_ASSERT_TRUE(json_is_false(json_object_get(o, "red")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "risk")), "low");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "response")),
			       cp_news2_response(CP_N2_RISK_LOW));
	sub = json_object_get(o, "sub");
	CU_ASSERT_EQUAL(json_object_size(sub), CP_N2__COUNT);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(sub, "rr")), 2);
	CU_ASSERT_TRUE(json_is_integer(json_object_get(sub, "pulse")));
	CU_ASSERT_TRUE(json_is_null(json_object_get(sub, "air")));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(sub, "acvpu")), 0);
	missing = json_object_get(o, "missing");
	CU_ASSERT_EQUAL(json_array_size(missing), 1);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(missing, 0)), "air");
	src = json_object_get(o, "source");
	CU_ASSERT_EQUAL(json_object_size(src), 5);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(src, "rr")), "RR");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(src, "spo2")), "SPO2");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(src, "sbp")), "NIBP_SYS");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(src, "pulse")), "HR");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(src, "temp")), "TEMP");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "scale")), 1);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "oxygen")), "unknown");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "acvpu")), "alert");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "time")),
			       "2024-05-01T10:00:00.123456Z");
	json_decref(o);
	free(text);

	/* Stale sources are null; scale 2 says so. */
	CU_ASSERT_EQUAL(cp_patients_set(p, "P1", CP_O2_OXYGEN, CP_ACVPU_CVPU, true), 0);
	CU_ASSERT_EQUAL(cp_patients_rescore(p, "P1", T0 + 120 * SEC, &n), 0);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P1", &pt), 0);
	text = cp_news2_json(&pt);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	o = json_loads(text, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	src = json_object_get(o, "source");
	CU_ASSERT_TRUE(json_is_null(json_object_get(src, "pulse")));
	CU_ASSERT_TRUE(json_is_null(json_object_get(json_object_get(o, "sub"), "pulse")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(src, "sbp")), "NIBP_SYS");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "scale")), 2);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "oxygen")), "oxygen");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "acvpu")), "cvpu");
	CU_ASSERT_TRUE(json_is_true(json_object_get(o, "red")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "risk")), "medium");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(o, "missing")), 3);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "time")),
			       "2024-05-01T10:02:00.000000Z");
	json_decref(o);
	free(text);

	/* Never scored: time null, every parameter missing. */
	CU_ASSERT_EQUAL(cp_patients_set(p, "P2", CP_O2_UNKNOWN, CP_ACVPU_UNKNOWN, false), 0);
	CU_ASSERT_EQUAL(cp_patients_get(p, "P2", &pt), 0);
	text = cp_news2_json(&pt);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	o = json_loads(text, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_TRUE(json_is_null(json_object_get(o, "time")));
	json_decref(o);
	free(text);
	cp_patients_free(p);
}

/* A reader copying while the writer offers and scores (for the sanitizers). */
struct reader {
	struct cp_patients *p;
	atomic_bool stop;
	unsigned bad;
};

static int
check_fn(void *arg, const struct cp_patient *pt)
{
	struct reader *r = arg;

	if (strncmp(pt->key, "R", 1) != 0 || pt->n_values > CP_PATIENT_METRICS)
		r->bad++;
	return 0;
}

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	struct cp_patient pt;

	while (!atomic_load(&r->stop)) {
		cp_patients_foreach(r->p, check_fn, r);
		if (cp_patients_get(r->p, "R7", &pt) == 0 && strcmp(pt.key, "R7") != 0)
			r->bad++;
	}
	return NULL;
}

static void
test_reader_thread(void)
{
	struct reader r = {.p = table(0)};
	pthread_t th;

	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, reader_main, &r), 0);
	for (int i = 0; i < 20000; i++) {
		char key[16];

		snprintf(key, sizeof(key), "R%d", i % 50);
		CU_ASSERT_EQUAL(
			offer(r.p, key, i % 2 ? "HR" : "SPO2", 90, T0 + i * SEC / 100, NULL), 1);
	}
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(r.bad, 0);
	CU_ASSERT_EQUAL(cp_patients_count(r.p), 50);
	CU_ASSERT_EQUAL(counter(r.p, CP_PAT_news2_scores), 20000);
	cp_patients_free(r.p);
}

static void
test_counter_names(void)
{
	for (int c = 0; c < CP_PAT__COUNT; c++) {
		CU_ASSERT_STRING_NOT_EQUAL(cp_patient_counter_name(c), "?");
		CU_ASSERT_TRUE(strlen(cp_patient_counter_desc(c)) > 10);
	}
	CU_ASSERT_STRING_EQUAL(cp_patient_counter_name(CP_PAT_patients_full), "patients_full");
	CU_ASSERT_STRING_EQUAL(cp_patient_counter_name(CP_PAT__COUNT), "?");
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"invalid values never count", test_not_valid},
		{"pulse: HR before PULSE", test_pulse_priority},
		{"SBP: arterial line before NIBP", test_sbp_priority},
		{"stale values expire", test_stale},
		{"an older observation does not replace", test_order},
		{"other metrics, slots", test_other_metrics},
		{"settings: oxygen, ACVPU, scale 2", test_settings},
		{"table full", test_full},
		{"keys", test_keys},
		{"get and foreach copy", test_copies},
		{"NEWS2 JSON", test_json},
		{"a reader thread", test_reader_thread},
		{"counter names", test_counter_names},
	};
	CU_pSuite suite = CU_add_suite("patient", NULL, NULL);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
