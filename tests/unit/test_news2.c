/*
 * test_news2.c - unit tests of NEWS2 scoring (controlplane/news2.c).
 *
 *   - every band edge of the RCP chart (DOMAIN.md section 5), on both
 *     sides: respiration rate, SpO2 scale 1, scale 2 on air and on oxygen
 *     (and oxygen not known), systolic BP, pulse, temperature, air/oxygen
 *     and ACVPU; a table, one row per value;
 *   - rounding before banding (temperature to 0.1 degC, the rest to whole
 *     numbers, half away from zero) on the edges it can move a value over;
 *   - NaN and an unknown parameter: -1;
 *   - the aggregate, the red flag and the risk at 4/5, 6/7 and for a red
 *     score below 5; the maximum 20;
 *   - complete against incomplete (oxygen, ACVPU or a vital missing, or
 *     have[] saying known for an unknown setting): the missing bits and the
 *     lower-bound total; scale 1 ignores oxygen for SpO2;
 *   - the names and the one-sentence responses.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "controlplane.h"
#include "cunit_main.h"

struct band_case {
	enum cp_news2_param p;
	double v;
	bool scale2;
	bool on_oxygen;
	int want;
};

static void
check_bands(const struct band_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int got = cp_news2_band(c[i].p, c[i].v, c[i].scale2, c[i].on_oxygen);

		if (got != c[i].want)
			fprintf(stderr, "\n%s %.17g scale%d %s: got %d, want %d\n",
				cp_news2_param_name(c[i].p), c[i].v, c[i].scale2 ? 2 : 1,
				c[i].on_oxygen ? "oxygen" : "air", got, c[i].want);
		CU_ASSERT_EQUAL(got, c[i].want);
	}
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------ */
/* Bands                                                                     */
/* ------------------------------------------------------------------------ */

static void
test_rr(void)
{
	static const struct band_case c[] = {
		{CP_N2_RR, 0, false, false, 3},
		{CP_N2_RR, 8, false, false, 3},
		{CP_N2_RR, 9, false, false, 1},
		{CP_N2_RR, 11, false, false, 1},
		{CP_N2_RR, 12, false, false, 0},
		{CP_N2_RR, 20, false, false, 0},
		{CP_N2_RR, 21, false, false, 2},
		{CP_N2_RR, 24, false, false, 2},
		{CP_N2_RR, 25, false, false, 3},
		{CP_N2_RR, 60, false, false, 3},
		/* Rounding: half away from zero. */
		{CP_N2_RR, 8.4, false, false, 3},
		{CP_N2_RR, 8.5, false, false, 1},
		{CP_N2_RR, 20.4, false, false, 0},
		{CP_N2_RR, 20.5, false, false, 2},
		{CP_N2_RR, 24.49, false, false, 2},
		{CP_N2_RR, 24.5, false, false, 3},
		/* Oxygen and the scale do not concern it. */
		{CP_N2_RR, 16, true, true, 0},
	};

	check_bands(c, N(c));
}

static void
test_spo2_scale1(void)
{
	static const struct band_case c[] = {
		{CP_N2_SPO2, 50, false, false, 3},
		{CP_N2_SPO2, 91, false, false, 3},
		{CP_N2_SPO2, 92, false, false, 2},
		{CP_N2_SPO2, 93, false, false, 2},
		{CP_N2_SPO2, 94, false, false, 1},
		{CP_N2_SPO2, 95, false, false, 1},
		{CP_N2_SPO2, 96, false, false, 0},
		{CP_N2_SPO2, 100, false, false, 0},
		{CP_N2_SPO2, 91.4, false, false, 3},
		{CP_N2_SPO2, 91.5, false, false, 2},
		{CP_N2_SPO2, 95.5, false, false, 0},
		/* Scale 1 ignores oxygen: 97 % on oxygen scores 0. */
		{CP_N2_SPO2, 97, false, true, 0},
		{CP_N2_SPO2, 93, false, true, 2},
	};

	check_bands(c, N(c));
}

static void
test_spo2_scale2(void)
{
	static const struct band_case c[] = {
		/* The edges below 93 are the same on air and on oxygen. */
		{CP_N2_SPO2, 83, true, false, 3},
		{CP_N2_SPO2, 84, true, false, 2},
		{CP_N2_SPO2, 85, true, false, 2},
		{CP_N2_SPO2, 86, true, false, 1},
		{CP_N2_SPO2, 87, true, false, 1},
		{CP_N2_SPO2, 88, true, false, 0},
		{CP_N2_SPO2, 92, true, false, 0},
		{CP_N2_SPO2, 83, true, true, 3},
		{CP_N2_SPO2, 84, true, true, 2},
		{CP_N2_SPO2, 85, true, true, 2},
		{CP_N2_SPO2, 86, true, true, 1},
		{CP_N2_SPO2, 87, true, true, 1},
		{CP_N2_SPO2, 88, true, true, 0},
		{CP_N2_SPO2, 92, true, true, 0},
		/* 93 and above: 0 on air, 1-3 on oxygen. */
		{CP_N2_SPO2, 93, true, false, 0},
		{CP_N2_SPO2, 97, true, false, 0},
		{CP_N2_SPO2, 100, true, false, 0},
		{CP_N2_SPO2, 93, true, true, 1},
		{CP_N2_SPO2, 94, true, true, 1},
		{CP_N2_SPO2, 95, true, true, 2},
		{CP_N2_SPO2, 96, true, true, 2},
		{CP_N2_SPO2, 97, true, true, 3},
		{CP_N2_SPO2, 100, true, true, 3},
		{CP_N2_SPO2, 92.4, true, true, 0},
		{CP_N2_SPO2, 92.5, true, true, 1},
		{CP_N2_SPO2, 96.5, true, true, 3},
		{CP_N2_SPO2, 83.5, true, false, 2},
	};

	check_bands(c, N(c));
}

static void
test_sbp(void)
{
	static const struct band_case c[] = {
		{CP_N2_SBP, 60, false, false, 3},     {CP_N2_SBP, 90, false, false, 3},
		{CP_N2_SBP, 91, false, false, 2},     {CP_N2_SBP, 100, false, false, 2},
		{CP_N2_SBP, 101, false, false, 1},    {CP_N2_SBP, 110, false, false, 1},
		{CP_N2_SBP, 111, false, false, 0},    {CP_N2_SBP, 219, false, false, 0},
		{CP_N2_SBP, 220, false, false, 3},    {CP_N2_SBP, 280, false, false, 3},
		{CP_N2_SBP, 90.49, false, false, 3},  {CP_N2_SBP, 90.5, false, false, 2},
		{CP_N2_SBP, 219.49, false, false, 0}, {CP_N2_SBP, 219.5, false, false, 3},
	};

	check_bands(c, N(c));
}

static void
test_pulse(void)
{
	static const struct band_case c[] = {
		{CP_N2_PULSE, 20, false, false, 3},    {CP_N2_PULSE, 40, false, false, 3},
		{CP_N2_PULSE, 41, false, false, 1},    {CP_N2_PULSE, 50, false, false, 1},
		{CP_N2_PULSE, 51, false, false, 0},    {CP_N2_PULSE, 90, false, false, 0},
		{CP_N2_PULSE, 91, false, false, 1},    {CP_N2_PULSE, 110, false, false, 1},
		{CP_N2_PULSE, 111, false, false, 2},   {CP_N2_PULSE, 130, false, false, 2},
		{CP_N2_PULSE, 131, false, false, 3},   {CP_N2_PULSE, 220, false, false, 3},
		{CP_N2_PULSE, 40.4, false, false, 3},  {CP_N2_PULSE, 40.5, false, false, 1},
		{CP_N2_PULSE, 130.5, false, false, 3},
	};

	check_bands(c, N(c));
}

static void
test_temp(void)
{
	static const struct band_case c[] = {
		{CP_N2_TEMP, 30.0, false, false, 3},
		{CP_N2_TEMP, 35.0, false, false, 3},
		{CP_N2_TEMP, 35.1, false, false, 1},
		{CP_N2_TEMP, 36.0, false, false, 1},
		{CP_N2_TEMP, 36.1, false, false, 0},
		{CP_N2_TEMP, 38.0, false, false, 0},
		{CP_N2_TEMP, 38.1, false, false, 1},
		{CP_N2_TEMP, 39.0, false, false, 1},
		{CP_N2_TEMP, 39.1, false, false, 2},
		{CP_N2_TEMP, 42.0, false, false, 2},
		/* Rounded to 0.1 degC first. */
		{CP_N2_TEMP, 35.04, false, false, 3},
		{CP_N2_TEMP, 35.05, false, false, 1},
		{CP_N2_TEMP, 36.04, false, false, 1},
		{CP_N2_TEMP, 36.05, false, false, 0},
		{CP_N2_TEMP, 38.04, false, false, 0},
		{CP_N2_TEMP, 38.05, false, false, 1},
		{CP_N2_TEMP, 39.04, false, false, 1},
		{CP_N2_TEMP, 39.05, false, false, 2},
	};

	check_bands(c, N(c));
}

static void
test_settings(void)
{
	static const struct band_case c[] = {
		{CP_N2_AIR, CP_O2_AIR, false, false, 0},
		{CP_N2_AIR, CP_O2_OXYGEN, false, false, 2},
		{CP_N2_AIR, CP_O2_UNKNOWN, false, false, 0},
		{CP_N2_ACVPU, CP_ACVPU_ALERT, false, false, 0},
		{CP_N2_ACVPU, CP_ACVPU_CVPU, false, false, 3},
		{CP_N2_ACVPU, CP_ACVPU_UNKNOWN, false, false, 0},
	};

	check_bands(c, N(c));
}

static void
test_nan(void)
{
	for (int p = 0; p < CP_N2__COUNT; p++) {
		CU_ASSERT_EQUAL(cp_news2_band(p, NAN, false, false), -1);
		CU_ASSERT_EQUAL(cp_news2_band(p, NAN, true, true), -1);
	}
	CU_ASSERT_EQUAL(cp_news2_band(CP_N2__COUNT, 16, false, false), -1);
	/* Infinities are numbers: off the chart at either end. */
	CU_ASSERT_EQUAL(cp_news2_band(CP_N2_PULSE, INFINITY, false, false), 3);
	CU_ASSERT_EQUAL(cp_news2_band(CP_N2_TEMP, -INFINITY, false, false), 3);
}

/* ------------------------------------------------------------------------ */
/* Scores                                                                    */
/* ------------------------------------------------------------------------ */

/* A complete input with every parameter scoring 0. */
static struct cp_news2_in
normal(void)
{
	struct cp_news2_in in = {
		.rr = 16,
		.spo2 = 97,
		.sbp = 120,
		.pulse = 70,
		.temp = 37.0,
		.oxygen = CP_O2_AIR,
		.acvpu = CP_ACVPU_ALERT,
	};

	for (int p = 0; p < CP_N2__COUNT; p++)
		in.have[p] = true;
	return in;
}

static void
test_aggregate(void)
{
	struct cp_news2_in in = normal();
	struct cp_news2 s;

	cp_news2_score(&in, &s);
	CU_ASSERT_EQUAL(s.total, 0);
	CU_ASSERT_TRUE(s.complete);
	CU_ASSERT_FALSE(s.red);
	CU_ASSERT_EQUAL(s.risk, CP_N2_RISK_LOW);
	CU_ASSERT_EQUAL(s.missing, 0);
	for (int p = 0; p < CP_N2__COUNT; p++)
		CU_ASSERT_EQUAL(s.sub[p], 0);

	/* 1 + 1 + 2 + 1 + 1 + 0 + 1 = 7, each sub-score where it belongs. */
	in.rr = 10;
	in.spo2 = 95;
	in.oxygen = CP_O2_OXYGEN;
	in.sbp = 105;
	in.pulse = 95;
	in.temp = 38.5;
	cp_news2_score(&in, &s);
	CU_ASSERT_EQUAL(s.sub[CP_N2_RR], 1);
	CU_ASSERT_EQUAL(s.sub[CP_N2_SPO2], 1);
	CU_ASSERT_EQUAL(s.sub[CP_N2_AIR], 2);
	CU_ASSERT_EQUAL(s.sub[CP_N2_SBP], 1);
	CU_ASSERT_EQUAL(s.sub[CP_N2_PULSE], 1);
	CU_ASSERT_EQUAL(s.sub[CP_N2_ACVPU], 0);
	CU_ASSERT_EQUAL(s.sub[CP_N2_TEMP], 1);
	CU_ASSERT_EQUAL(s.total, 7);
	CU_ASSERT_FALSE(s.red);
	CU_ASSERT_EQUAL(s.risk, CP_N2_RISK_HIGH);

	/* Every parameter at its worst (3, air/oxygen 2): 20, on either scale. */
	in = (struct cp_news2_in){.rr = 4,
				  .spo2 = 99,
				  .sbp = 80,
				  .pulse = 150,
				  .temp = 34.5,
				  .oxygen = CP_O2_OXYGEN,
				  .acvpu = CP_ACVPU_CVPU};
	for (int p = 0; p < CP_N2__COUNT; p++)
		in.have[p] = true;
	in.spo2 = 85;
	cp_news2_score(&in, &s);
	CU_ASSERT_EQUAL(s.total, 20);
	in.spo2 = 99;
	in.scale2 = true;
	cp_news2_score(&in, &s);
	CU_ASSERT_EQUAL(s.total, 20);
	CU_ASSERT_TRUE(s.red);
	CU_ASSERT_TRUE(s.complete);
}

struct risk_case {
	double rr, pulse, sbp;
	unsigned total;
	bool red;
	enum cp_news2_risk risk;
};

static void
test_risk(void)
{
	/* Sub-scores from RR (0/1/2/3), pulse (0/1/2/3) and SBP (0/1/2/3), the rest 0. */
	static const struct risk_case c[] = {
		{16, 70, 120, 0, false, CP_N2_RISK_LOW},
		{10, 95, 105, 3, false, CP_N2_RISK_LOW},
		{22, 95, 105, 4, false, CP_N2_RISK_LOW},
		{22, 120, 105, 5, false, CP_N2_RISK_MEDIUM},
		{22, 120, 95, 6, false, CP_N2_RISK_MEDIUM},
		{22, 140, 95, 7, true, CP_N2_RISK_HIGH},
		/* A red score alone: low-medium below 5, whatever the total. */
		{8, 70, 120, 3, true, CP_N2_RISK_LOW_MEDIUM},
		{8, 95, 120, 4, true, CP_N2_RISK_LOW_MEDIUM},
		{8, 95, 105, 5, true, CP_N2_RISK_MEDIUM},
		{8, 120, 105, 6, true, CP_N2_RISK_MEDIUM},
		{25, 140, 120, 6, true, CP_N2_RISK_MEDIUM},
		{25, 140, 105, 7, true, CP_N2_RISK_HIGH},
	};

	for (size_t i = 0; i < N(c); i++) {
		struct cp_news2_in in = normal();
		struct cp_news2 s;

		in.rr = c[i].rr;
		in.pulse = c[i].pulse;
		in.sbp = c[i].sbp;
		cp_news2_score(&in, &s);
		if (s.total != c[i].total || s.red != c[i].red || s.risk != c[i].risk)
			fprintf(stderr, "\nrisk row %zu: total %u red %d risk %s\n", i, s.total,
				s.red, cp_news2_risk_name(s.risk));
		CU_ASSERT_EQUAL(s.total, c[i].total);
		CU_ASSERT_EQUAL(s.red, c[i].red);
		CU_ASSERT_EQUAL(s.risk, c[i].risk);
	}
}

static void
test_incomplete(void)
{
	struct cp_news2_in in = normal();
	struct cp_news2 s;

	/* Oxygen not known: the rest still scores, the total is a lower bound. */
	in.pulse = 120;
	in.oxygen = CP_O2_UNKNOWN;
	in.have[CP_N2_AIR] = false;
	cp_news2_score(&in, &s);
	CU_ASSERT_FALSE(s.complete);
	CU_ASSERT_EQUAL(s.missing, 1u << CP_N2_AIR);
	CU_ASSERT_EQUAL(s.sub[CP_N2_AIR], -1);
	CU_ASSERT_EQUAL(s.sub[CP_N2_PULSE], 2);
	CU_ASSERT_EQUAL(s.total, 2);
	CU_ASSERT_EQUAL(s.risk, CP_N2_RISK_LOW);

	/* have[] saying known does not make an unknown setting score 0. */
	in.have[CP_N2_AIR] = true;
	in.have[CP_N2_ACVPU] = true;
	in.acvpu = CP_ACVPU_UNKNOWN;
	cp_news2_score(&in, &s);
	CU_ASSERT_FALSE(s.complete);
	CU_ASSERT_EQUAL(s.missing, (1u << CP_N2_AIR) | (1u << CP_N2_ACVPU));
	CU_ASSERT_EQUAL(s.sub[CP_N2_ACVPU], -1);
	CU_ASSERT_EQUAL(s.total, 2);

	/* Nor does a known setting count when have[] says not known. */
	in = normal();
	in.have[CP_N2_ACVPU] = false;
	in.acvpu = CP_ACVPU_CVPU;
	cp_news2_score(&in, &s);
	CU_ASSERT_FALSE(s.complete);
	CU_ASSERT_EQUAL(s.missing, 1u << CP_N2_ACVPU);
	CU_ASSERT_EQUAL(s.total, 0);
	CU_ASSERT_FALSE(s.red);

	/* A vital missing, and one NaN though said known: both missing. */
	in = normal();
	in.have[CP_N2_SBP] = false;
	in.sbp = 80; /* not looked at */
	in.temp = NAN;
	in.rr = 22;
	cp_news2_score(&in, &s);
	CU_ASSERT_FALSE(s.complete);
	CU_ASSERT_EQUAL(s.missing, (1u << CP_N2_SBP) | (1u << CP_N2_TEMP));
	CU_ASSERT_EQUAL(s.sub[CP_N2_SBP], -1);
	CU_ASSERT_EQUAL(s.sub[CP_N2_TEMP], -1);
	CU_ASSERT_EQUAL(s.total, 2);
	CU_ASSERT_FALSE(s.red);

	/* Incomplete yet already at the emergency threshold: the risk stands. */
	in = normal();
	in.have[CP_N2_AIR] = in.have[CP_N2_ACVPU] = false;
	in.oxygen = CP_O2_UNKNOWN;
	in.acvpu = CP_ACVPU_UNKNOWN;
	in.rr = 26;
	in.pulse = 135;
	in.temp = 39.5;
	cp_news2_score(&in, &s);
	CU_ASSERT_FALSE(s.complete);
	CU_ASSERT_EQUAL(s.total, 8);
	CU_ASSERT_TRUE(s.red);
	CU_ASSERT_EQUAL(s.risk, CP_N2_RISK_HIGH);

	/* Nothing known at all. */
	memset(&in, 0, sizeof(in));
	cp_news2_score(&in, &s);
	CU_ASSERT_FALSE(s.complete);
	CU_ASSERT_EQUAL(s.missing, (1u << CP_N2__COUNT) - 1);
	CU_ASSERT_EQUAL(s.total, 0);
	CU_ASSERT_EQUAL(s.risk, CP_N2_RISK_LOW);
}

static void
test_scale(void)
{
	struct cp_news2_in in = normal();
	struct cp_news2 s;

	/* 97 % on oxygen: scale 1 scores 0 (+2 for the oxygen), scale 2 scores 3 (+2). */
	in.oxygen = CP_O2_OXYGEN;
	cp_news2_score(&in, &s);
	CU_ASSERT_EQUAL(s.sub[CP_N2_SPO2], 0);
	CU_ASSERT_EQUAL(s.total, 2);
	in.scale2 = true;
	cp_news2_score(&in, &s);
	CU_ASSERT_EQUAL(s.sub[CP_N2_SPO2], 3);
	CU_ASSERT_EQUAL(s.total, 5);
	CU_ASSERT_TRUE(s.red);

	/* Scale 2 with oxygen not known: 97 % scores as on air (the least), and is incomplete. */
	in.oxygen = CP_O2_UNKNOWN;
	cp_news2_score(&in, &s);
	CU_ASSERT_EQUAL(s.sub[CP_N2_SPO2], 0);
	CU_ASSERT_EQUAL(s.sub[CP_N2_AIR], -1);
	CU_ASSERT_FALSE(s.complete);

	/* 90 %: 3 on scale 1, 0 on scale 2 (the patient's target range). */
	in = normal();
	in.spo2 = 90;
	cp_news2_score(&in, &s);
	CU_ASSERT_EQUAL(s.sub[CP_N2_SPO2], 3);
	CU_ASSERT_EQUAL(s.risk, CP_N2_RISK_LOW_MEDIUM);
	in.scale2 = true;
	cp_news2_score(&in, &s);
	CU_ASSERT_EQUAL(s.sub[CP_N2_SPO2], 0);
	CU_ASSERT_EQUAL(s.risk, CP_N2_RISK_LOW);
}

static void
test_names(void)
{
	static const char *const params[] = {"rr", "spo2", "air", "sbp", "pulse", "acvpu", "temp"};
	static const char *const risks[] = {"low", "low-medium", "medium", "high"};

	for (int p = 0; p < CP_N2__COUNT; p++)
		CU_ASSERT_STRING_EQUAL(cp_news2_param_name(p), params[p]);
	CU_ASSERT_STRING_EQUAL(cp_news2_param_name(CP_N2__COUNT), "?");
	for (int r = 0; r <= CP_N2_RISK_HIGH; r++) {
		const char *s = cp_news2_response(r);
		const char *dot = strchr(s, '.');

		CU_ASSERT_STRING_EQUAL(cp_news2_risk_name(r), risks[r]);
		/* One sentence: its only full stop ends it. */
		CU_ASSERT_PTR_NOT_NULL(dot);
		CU_ASSERT_TRUE(dot != NULL && dot[1] == '\0');
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_news2_response(CP_N2_RISK_LOW), "registered nurse"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_news2_response(CP_N2_RISK_LOW_MEDIUM), "medical team"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_news2_response(CP_N2_RISK_MEDIUM), "immediately"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_news2_response(CP_N2_RISK_HIGH), "critical-care"));
	CU_ASSERT_STRING_EQUAL(cp_news2_risk_name(CP_N2_RISK_HIGH + 1), "?");
	CU_ASSERT_STRING_EQUAL(cp_o2_name(CP_O2_UNKNOWN), "unknown");
	CU_ASSERT_STRING_EQUAL(cp_o2_name(CP_O2_AIR), "air");
	CU_ASSERT_STRING_EQUAL(cp_o2_name(CP_O2_OXYGEN), "oxygen");
	CU_ASSERT_STRING_EQUAL(cp_acvpu_name(CP_ACVPU_UNKNOWN), "unknown");
	CU_ASSERT_STRING_EQUAL(cp_acvpu_name(CP_ACVPU_ALERT), "alert");
	CU_ASSERT_STRING_EQUAL(cp_acvpu_name(CP_ACVPU_CVPU), "cvpu");
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"respiration rate edges", test_rr},
		{"SpO2 scale 1 edges", test_spo2_scale1},
		{"SpO2 scale 2 edges", test_spo2_scale2},
		{"systolic BP edges", test_sbp},
		{"pulse edges", test_pulse},
		{"temperature edges", test_temp},
		{"air/oxygen and ACVPU", test_settings},
		{"NaN and unknown parameters", test_nan},
		{"aggregate", test_aggregate},
		{"risk", test_risk},
		{"incomplete scores", test_incomplete},
		{"scale 2 against scale 1", test_scale},
		{"names and responses", test_names},
	};
	CU_pSuite suite = CU_add_suite("news2", NULL, NULL);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < N(tests); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
