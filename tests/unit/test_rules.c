/*
 * test_rules.c - unit tests of the code tables (rules/tables.c over the
 * tables generated from rules/metrics.tsv).
 *
 * A code table that maps a number to the wrong vital sign makes every later
 * stage (alarms, NEWS2) wrong without a visible error. So the expectations
 * below are written out again, independently of metrics.tsv, from DOMAIN.md
 * section 4: every code with its partition::term, reference id, symbolic
 * name, family, usual unit and LOINC codes. The table must hold exactly
 * these metrics, the known-wrong pairings must be absent, and every lookup
 * must work on spans that are not NUL-terminated (they come from packets);
 * the spans are heap copies of exactly their length, so valgrind reports
 * any read past their end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "cunit_main.h"
#include "rules.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Unit codes (DOMAIN.md section 4). */
#define PERCENT 262688u
#define BPM 264864u
#define RPM 264928u
#define MMHG 266016u
#define DEGC 268192u

struct want_metric {
	uint32_t code;
	uint32_t part, term;
	const char *refid;
	const char *name;
	const char *family;
	uint32_t unit;
	const char *loinc;
};

/* Every metric of DOMAIN.md section 4, and nothing else. */
static const struct want_metric want_metrics[] = {
	{147842, 2, 16770, "MDC_ECG_HEART_RATE", "HR", "PULSE", BPM, "8867-4"},
	{149530, 2, 18458, "MDC_PULS_OXIM_PULS_RATE", "PULSE", "PULSE", BPM, "8889-8"},
	{149546, 2, 18474, "MDC_PULS_RATE_NON_INV", "PULSE_NIBP", "PULSE", BPM, "8867-4"},
	{149522, 2, 18450, "MDC_BLD_PULS_RATE_INV", "PULSE_IBP", "PULSE", BPM, "8867-4"},
	{149514, 2, 18442, "MDC_PULS_RATE", "PULSE_GENERIC", "PULSE", BPM, ""},
	{149538, 2, 18466, "MDC_PLETH_PULS_RATE", "PLETH_RATE", "PULSE", BPM, ""},
	{150456, 2, 19384, "MDC_PULS_OXIM_SAT_O2", "SPO2", "SPO2", PERCENT, "59408-5 2708-6"},
	{150324, 2, 19252, "MDC_SAT_O2_ART", "SAO2", "SAO2", PERCENT, "2708-6"},
	{151562, 2, 20490, "MDC_RESP_RATE", "RR", "RR", RPM, "9279-1"},
	{151578, 2, 20506, "MDC_TTHOR_RESP_RATE", "RR_IMP", "RR", RPM, "9279-1"},
	{151594, 2, 20522, "MDC_CO2_RESP_RATE", "RR_CO2", "RR", RPM, "9279-1"},
	{151570, 2, 20498, "MDC_AWAY_RESP_RATE", "RR_AWAY", "RR", RPM, "9279-1"},
	{150021, 2, 18949, "MDC_PRESS_BLD_NONINV_SYS", "NIBP_SYS", "SBP", MMHG, "8480-6 76534-7"},
	{150022, 2, 18950, "MDC_PRESS_BLD_NONINV_DIA", "NIBP_DIA", "DBP", MMHG, "8462-4 76535-4"},
	{150023, 2, 18951, "MDC_PRESS_BLD_NONINV_MEAN", "NIBP_MEAN", "MAP", MMHG, "8478-0 76536-2"},
	{150301, 2, 19229, "MDC_PRESS_CUFF_SYS", "CUFF_SYS", "SBP", MMHG, "8480-6 76534-7"},
	{150302, 2, 19230, "MDC_PRESS_CUFF_DIA", "CUFF_DIA", "DBP", MMHG, "8462-4 76535-4"},
	{150303, 2, 19231, "MDC_PRESS_CUFF_MEAN", "CUFF_MEAN", "MAP", MMHG, "8478-0 76536-2"},
	{150033, 2, 18961, "MDC_PRESS_BLD_ART_SYS", "ART_SYS", "SBP", MMHG, "8480-6"},
	{150034, 2, 18962, "MDC_PRESS_BLD_ART_DIA", "ART_DIA", "DBP", MMHG, "8462-4"},
	{150035, 2, 18963, "MDC_PRESS_BLD_ART_MEAN", "ART_MEAN", "MAP", MMHG, "8478-0"},
	{150037, 2, 18965, "MDC_PRESS_BLD_ART_ABP_SYS", "ABP_SYS", "SBP", MMHG, ""},
	{150038, 2, 18966, "MDC_PRESS_BLD_ART_ABP_DIA", "ABP_DIA", "DBP", MMHG, ""},
	{150039, 2, 18967, "MDC_PRESS_BLD_ART_ABP_MEAN", "ABP_MEAN", "MAP", MMHG, ""},
	{150344, 2, 19272, "MDC_TEMP", "TEMP", "TEMP", DEGC, "8310-5"},
	{150364, 2, 19292, "MDC_TEMP_BODY", "TEMP_BODY", "TEMP", DEGC, "8310-5"},
	{150368, 2, 19296, "MDC_TEMP_CORE", "TEMP_CORE", "TEMP", DEGC, ""},
	{150388, 2, 19316, "MDC_TEMP_SKIN", "TEMP_SKIN", "TEMP_SKIN", DEGC, ""},
	{150392, 2, 19320, "MDC_TEMP_TYMP", "TEMP_TYMP", "TEMP", DEGC, ""},
	{188424, 2, 57352, "MDC_TEMP_ORAL", "TEMP_ORAL", "TEMP", DEGC, ""},
	{188420, 2, 57348, "MDC_TEMP_RECT", "TEMP_RECT", "TEMP", DEGC, ""},
	{188452, 2, 57380, "MDC_TEMP_AXILLA", "TEMP_AXILLA", "TEMP", DEGC, ""},
	{188428, 2, 57356, "MDC_TEMP_EAR", "TEMP_EAR", "TEMP", DEGC, ""},
	{151728, 2, 20656, "MDC_AWAY_CO2_ET", "ETCO2", "ETCO2", MMHG, "19889-5"},
	{151708, 2, 20636, "MDC_CONC_AWAY_CO2_ET", "ETCO2_CONC", "ETCO2", PERCENT, ""},
	{151712, 2, 20640, "MDC_CONC_AWAY_CO2_EXP", "CO2_EXP", "ETCO2", MMHG, ""},
	{151716, 2, 20644, "MDC_CONC_AWAY_CO2_INSP", "CO2_INSP", "FICO2", MMHG, ""},
};

struct want_unit {
	uint32_t code;
	const char *refid;
	const char *ucum;
};

static const struct want_unit want_units[] = {
	{262688, "MDC_DIM_PERCENT", "%"},	  {264864, "MDC_DIM_BEAT_PER_MIN", "/min"},
	{264928, "MDC_DIM_RESP_PER_MIN", "/min"}, {266016, "MDC_DIM_MMHG", "mm[Hg]"},
	{265987, "MDC_DIM_KILO_PASCAL", "kPa"},	  {268192, "MDC_DIM_DEGC", "Cel"},
	{266560, "MDC_DIM_FAHR", "[degF]"},	  {262656, "MDC_DIM_DIMLESS", "1"},
	{266418, "MDC_DIM_MILLI_VOLT", "mV"},	  {264320, "MDC_DIM_SEC", "s"},
	{263441, "MDC_DIM_CENTI_M", "cm"},
};

struct want_code {
	uint32_t code;
	const char *refid;
};

/* Devices, events and PCD-04 facet attributes (DOMAIN.md sections 3, 4). */
static const struct want_code want_codes[] = {
	{69965, "MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS"},
	{69985, "MDC_DEV_PUMP_INFUS_MDS"},
	{528388, "MDC_DEV_SPEC_PROFILE_PULS_OXIM"},
	{528391, "MDC_DEV_SPEC_PROFILE_BP"},
	{528392, "MDC_DEV_SPEC_PROFILE_TEMP"},
	{196614, "MDC_EVT_ACTIVE"},
	{196616, "MDC_EVT_ALARM"},
	{196648, "MDC_EVT_HI"},
	{196670, "MDC_EVT_LO"},
	{196916, "MDC_EVT_SENSOR_DISCONN"},
	{68480, "MDC_ATTR_ALERT_SOURCE"},
	{68481, "MDC_ATTR_EVENT_PHASE"},
	{68482, "MDC_ATTR_ALARM_STATE"},
	{68483, "MDC_ATTR_ALARM_INACTIVATION_STATE"},
	{68484, "MDC_ATTR_ALARM_PRIORITY"},
	{68485, "MDC_ATTR_ALERT_TYPE"},
	{67860, "MDC_ATTR_CONFIRM_TIMEOUT"},
};

/* ---------------------------------------------------------------------------
 * Spans: exact-length heap copies without a NUL, as a packet would give.
 * ------------------------------------------------------------------------- */

static char *spans[16];
static size_t n_spans;

static const char *
span(const char *s)
{
	size_t len = strlen(s);
	char *p = malloc(len ? len : 1);

	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_FATAL(n_spans < ARRAY_SIZE(spans));
	memcpy(p, s, len);
	spans[n_spans++] = p;
	return p;
}

static void
spans_free(void)
{
	while (n_spans > 0)
		free(spans[--n_spans]);
}

static const struct rule_metric *
by_name(const char *s)
{
	const struct rule_metric *m = rule_metric_by_name(span(s), strlen(s));

	spans_free();
	return m;
}

static const struct rule_metric *
by_refid(const char *s)
{
	const struct rule_metric *m = rule_metric_by_refid(span(s), strlen(s));

	spans_free();
	return m;
}

static const struct rule_metric *
by_loinc(const char *s)
{
	const struct rule_metric *m = rule_metric_by_loinc(span(s), strlen(s));

	spans_free();
	return m;
}

static const struct rule_unit *
unit_by_ucum(const char *s)
{
	const struct rule_unit *u = rule_unit_by_ucum(span(s), strlen(s));

	spans_free();
	return u;
}

static const struct rule_unit *
unit_by_refid(const char *s)
{
	const struct rule_unit *u = rule_unit_by_refid(span(s), strlen(s));

	spans_free();
	return u;
}

/* The code of a metric or unit found, or 0 for none. */
static uint32_t
mcode(const struct rule_metric *m)
{
	return m == NULL ? 0 : m->code;
}

static uint32_t
ucode(const struct rule_unit *u)
{
	return u == NULL ? 0 : u->code;
}

/* The code of a metric looked up by name, or 0. */
static uint32_t
code_of(const char *name)
{
	return mcode(by_name(name));
}

/* ---------------------------------------------------------------------------
 * Metrics
 * ------------------------------------------------------------------------- */

static void
test_every_domain_metric(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(want_metrics); i++) {
		const struct want_metric *w = &want_metrics[i];
		const struct rule_metric *m = rule_metric_by_code(w->code);

		/* The 32-bit code is partition * 65536 + term. */
		CU_ASSERT_EQUAL(w->code, w->part * 65536u + w->term);
		CU_ASSERT_PTR_NOT_NULL(m);
		if (m == NULL)
			continue;
		CU_ASSERT_EQUAL(m->code, w->code);
		CU_ASSERT_EQUAL(m->code >> 16, w->part);
		CU_ASSERT_EQUAL(m->code & 0xffffu, w->term);
		CU_ASSERT_STRING_EQUAL(m->refid, w->refid);
		CU_ASSERT_STRING_EQUAL(m->name, w->name);
		CU_ASSERT_STRING_EQUAL(m->family, w->family);
		CU_ASSERT_EQUAL(m->unit, w->unit);
		CU_ASSERT_STRING_EQUAL(m->loinc, w->loinc);
		CU_ASSERT_PTR_NOT_NULL(m->title);
		if (m->title != NULL)
			CU_ASSERT(strlen(m->title) > 0);
		/* The same row by every key. */
		CU_ASSERT_PTR_EQUAL(by_name(w->name), m);
		CU_ASSERT_PTR_EQUAL(by_refid(w->refid), m);
		CU_ASSERT_PTR_NOT_NULL(rule_code_refid(w->code));
		if (rule_code_refid(w->code) != NULL)
			CU_ASSERT_STRING_EQUAL(rule_code_refid(w->code), w->refid);
		/* Its usual unit is a unit of the table. */
		CU_ASSERT_PTR_NOT_NULL(rule_unit_by_code(m->unit));
	}
	/* The example from DOMAIN.md, spelled out. */
	CU_ASSERT_EQUAL(code_of("SPO2"), 150456u);
	CU_ASSERT_EQUAL(150456u, 2u * 65536u + 19384u);
}

static const struct want_metric *
want_metric(uint32_t code)
{
	for (size_t i = 0; i < ARRAY_SIZE(want_metrics); i++)
		if (want_metrics[i].code == code)
			return &want_metrics[i];
	return NULL;
}

static void
test_count_and_order(void)
{
	size_t n = rule_metric_count();

	/* Exactly the metrics above: none missing, none extra. */
	CU_ASSERT_EQUAL(n, ARRAY_SIZE(want_metrics));
	for (size_t i = 0; i < n; i++) {
		const struct rule_metric *m = rule_metric_at(i);

		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		CU_ASSERT_PTR_NOT_NULL(want_metric(m->code));
		CU_ASSERT_PTR_EQUAL(rule_metric_by_code(m->code), m);
		if (i > 0)
			CU_ASSERT(rule_metric_at(i - 1)->code < m->code);
	}
	CU_ASSERT_EQUAL(rule_metric_at(0)->code, 147842u);
	CU_ASSERT_EQUAL(rule_metric_at(n - 1)->code, 188452u);
	CU_ASSERT_PTR_NULL(rule_metric_at(n));
	CU_ASSERT_PTR_NULL(rule_metric_at(SIZE_MAX));
}

static void
test_issue_names(void)
{
	static const struct {
		const char *name;
		uint32_t code;
	} names[] = {
		{"HR", 147842},	       {"PULSE", 149530},    {"SPO2", 150456},
		{"RR", 151562},	       {"NIBP_SYS", 150021}, {"NIBP_DIA", 150022},
		{"NIBP_MEAN", 150023}, {"ABP_SYS", 150037},  {"TEMP", 150344},
		{"ETCO2", 151728},
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		CU_ASSERT_EQUAL(code_of(names[i].name), names[i].code);
}

static void
test_name_case_and_bounds(void)
{
	static const char packet[] = "metric:NIBP_SYS; value:<90";

	/* ASCII case-insensitive. */
	CU_ASSERT_EQUAL(code_of("spo2"), 150456u);
	CU_ASSERT_EQUAL(code_of("Nibp_Sys"), 150021u);
	CU_ASSERT_EQUAL(code_of("hR"), 147842u);
	CU_ASSERT_EQUAL(code_of("temp_axilla"), 188452u);
	/* Whole names only: no prefix, no extension, no padding. */
	CU_ASSERT_PTR_NULL(by_name("SPO"));
	CU_ASSERT_PTR_NULL(by_name("SPO2X"));
	CU_ASSERT_PTR_NULL(by_name("SPO2 "));
	CU_ASSERT_PTR_NULL(by_name(" SPO2"));
	CU_ASSERT_PTR_NULL(by_name("NIBP-SYS"));
	CU_ASSERT_PTR_NULL(by_name("H"));
	CU_ASSERT_PTR_NULL(by_name("ZZZ"));
	CU_ASSERT_PTR_NULL(by_name("\xc5PO2"));
	CU_ASSERT_PTR_NULL(by_name("SPO2\xff"));
	/* The folding is ASCII only: 'S' + 0x80 is not 's'. */
	CU_ASSERT_PTR_NULL(by_name("\xd3PO2"));
	/* A span inside a longer text: the length decides, not the NUL. */
	CU_ASSERT_EQUAL(mcode(rule_metric_by_name(packet + 7, 8)), 150021u);
	CU_ASSERT_EQUAL(mcode(rule_metric_by_name(packet + 7, 4)), 0u);
	CU_ASSERT_EQUAL(mcode(rule_metric_by_name("SPO2", 2)), 0u);
	CU_ASSERT_EQUAL(mcode(rule_metric_by_name("HR\0HR", 2)), 147842u);
	/* A NUL inside the span is part of the key, not its end. */
	CU_ASSERT_PTR_NULL(rule_metric_by_name("HR\0", 3));
	/* Empty and NULL. */
	CU_ASSERT_PTR_NULL(rule_metric_by_name("HR", 0));
	CU_ASSERT_PTR_NULL(rule_metric_by_name(NULL, 0));
	CU_ASSERT_PTR_NULL(rule_metric_by_name(NULL, 2));
}

static void
test_refid(void)
{
	static const char obx3[] = "150456^MDC_PULS_OXIM_SAT_O2^MDC";
	const struct rule_metric *hr = rule_metric_by_code(147842);
	const struct rule_metric *m;

	/* The alias DOMAIN.md names for the heart-rate code. */
	m = by_refid("MDC_ECG_CARD_BEAT_RATE");
	CU_ASSERT_PTR_NOT_NULL(hr);
	CU_ASSERT_PTR_EQUAL(m, hr);
	if (m != NULL)
		CU_ASSERT_STRING_EQUAL(m->refid, "MDC_ECG_HEART_RATE");
	CU_ASSERT_STRING_EQUAL(rule_code_refid(147842), "MDC_ECG_HEART_RATE");
	/* The component of an OBX-3, by offset and length. */
	m = rule_metric_by_refid(obx3 + 7, 20);
	CU_ASSERT_EQUAL(mcode(m), 150456u);
	CU_ASSERT_PTR_NULL(rule_metric_by_refid(obx3 + 7, 19));
	CU_ASSERT_PTR_NULL(rule_metric_by_refid(obx3 + 7, 21));
	/* Reference ids are case-sensitive, and units are not metrics. */
	CU_ASSERT_PTR_NULL(by_refid("mdc_puls_oxim_sat_o2"));
	CU_ASSERT_PTR_NULL(by_refid("MDC_DIM_PERCENT"));
	CU_ASSERT_PTR_NULL(by_refid("MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS"));
	CU_ASSERT_PTR_NULL(by_refid("MDC_"));
	CU_ASSERT_PTR_NULL(by_refid("MDC_TEMPX"));
	CU_ASSERT_PTR_NULL(rule_metric_by_refid(NULL, 8));
	CU_ASSERT_PTR_NULL(rule_metric_by_refid("MDC_TEMP", 0));
	/* The generic temperature is a prefix of the others: exact match. */
	m = by_refid("MDC_TEMP");
	CU_ASSERT_EQUAL(mcode(m), 150344u);
}

static void
test_loinc(void)
{
	static const struct {
		const char *loinc;
		const char *name;
	} loincs[] = {
		/* HR comes first of the metrics listing 8867-4. */
		{"8867-4", "HR"},
		{"8889-8", "PULSE"},
		{"59408-5", "SPO2"},
		/* Also SaO2's code: pulse oximetry is what a monitor sends. */
		{"2708-6", "SPO2"},
		{"8480-6", "NIBP_SYS"},
		{"76534-7", "NIBP_SYS"},
		{"8462-4", "NIBP_DIA"},
		{"76535-4", "NIBP_DIA"},
		{"8478-0", "NIBP_MEAN"},
		{"76536-2", "NIBP_MEAN"},
		{"9279-1", "RR"},
		/* "Body temperature", no site: the site-less MDC_TEMP. */
		{"8310-5", "TEMP"},
		{"19889-5", "ETCO2"},
	};
	static const char obx3[] = "8889-8^Heart Rate by Oximetry^LN^149530";

	for (size_t i = 0; i < ARRAY_SIZE(loincs); i++) {
		const struct rule_metric *m = by_loinc(loincs[i].loinc);

		CU_ASSERT_PTR_NOT_NULL(m);
		if (m != NULL)
			CU_ASSERT_STRING_EQUAL(m->name, loincs[i].name);
	}
	CU_ASSERT_EQUAL(mcode(rule_metric_by_loinc(obx3, 6)), 149530u);
	CU_ASSERT_PTR_NULL(rule_metric_by_loinc(obx3, 5));
	CU_ASSERT_PTR_NULL(rule_metric_by_loinc(obx3, 7));
	CU_ASSERT_PTR_NULL(by_loinc("8867-5"));
	CU_ASSERT_PTR_NULL(by_loinc("8867"));
	CU_ASSERT_PTR_NULL(by_loinc("88674"));
	CU_ASSERT_PTR_NULL(by_loinc("1234-5"));
	CU_ASSERT_PTR_NULL(by_loinc("8867-4 "));
	CU_ASSERT_PTR_NULL(by_loinc("59408-5 2708-6"));
	CU_ASSERT_PTR_NULL(rule_metric_by_loinc(NULL, 6));
	CU_ASSERT_PTR_NULL(rule_metric_by_loinc("8867-4", 0));
}

/* ---------------------------------------------------------------------------
 * Units and other codes
 * ------------------------------------------------------------------------- */

static void
test_units(void)
{
	const struct rule_unit *u;

	for (size_t i = 0; i < ARRAY_SIZE(want_units); i++) {
		const struct want_unit *w = &want_units[i];

		u = rule_unit_by_code(w->code);
		CU_ASSERT_PTR_NOT_NULL(u);
		if (u == NULL)
			continue;
		CU_ASSERT_EQUAL(u->code >> 16, 4u);
		CU_ASSERT_STRING_EQUAL(u->refid, w->refid);
		CU_ASSERT_STRING_EQUAL(u->ucum, w->ucum);
		CU_ASSERT_PTR_EQUAL(unit_by_refid(w->refid), u);
		CU_ASSERT_STRING_EQUAL(rule_code_refid(w->code), w->refid);
		/* "/min" is shared: tested below. */
		if (strcmp(w->ucum, "/min") != 0)
			CU_ASSERT_PTR_EQUAL(unit_by_ucum(w->ucum), u);
	}
	/* Beats and breaths per minute share "/min": the first row (beats). */
	u = unit_by_ucum("/min");
	CU_ASSERT_EQUAL(ucode(u), 264864u);
	u = unit_by_ucum("{beats}/min");
	CU_ASSERT_EQUAL(ucode(u), 264864u);
	u = unit_by_ucum("{breaths}/min");
	CU_ASSERT_EQUAL(ucode(u), 264928u);
	/* UCUM is case-sensitive and exact. */
	CU_ASSERT_PTR_NULL(unit_by_ucum("mmHg"));
	CU_ASSERT_PTR_NULL(unit_by_ucum("MM[HG]"));
	CU_ASSERT_PTR_NULL(unit_by_ucum("cel"));
	CU_ASSERT_PTR_NULL(unit_by_ucum("degF"));
	CU_ASSERT_PTR_NULL(unit_by_ucum("mm[Hg]]"));
	u = rule_unit_by_ucum("mm[Hg]^mm[Hg]^UCUM", 6);
	CU_ASSERT_EQUAL(ucode(u), 266016u);
	CU_ASSERT_PTR_NULL(rule_unit_by_ucum("%", 0));
	CU_ASSERT_PTR_NULL(rule_unit_by_ucum(NULL, 1));
	CU_ASSERT_PTR_NULL(unit_by_refid("MDC_DIM_MMHG_X"));
	CU_ASSERT_PTR_NULL(unit_by_refid("MDC_ECG_HEART_RATE"));
	CU_ASSERT_PTR_NULL(rule_unit_by_refid(NULL, 3));
	/* A metric is not a unit, nor a unit a metric. */
	CU_ASSERT_PTR_NULL(rule_unit_by_code(150456));
	CU_ASSERT_PTR_NULL(rule_metric_by_code(262688));
}

static void
test_other_codes(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(want_codes); i++) {
		const char *refid = rule_code_refid(want_codes[i].code);

		CU_ASSERT_PTR_NOT_NULL(refid);
		if (refid != NULL)
			CU_ASSERT_STRING_EQUAL(refid, want_codes[i].refid);
		/* Neither a metric nor a unit. */
		CU_ASSERT_PTR_NULL(rule_metric_by_code(want_codes[i].code));
		CU_ASSERT_PTR_NULL(rule_unit_by_code(want_codes[i].code));
		CU_ASSERT_PTR_NULL(by_refid(want_codes[i].refid));
	}
	/* Partition and term of the ones DOMAIN.md writes both ways. */
	CU_ASSERT_EQUAL(69965u, 1u * 65536u + 4429u);
	CU_ASSERT_EQUAL(196616u, 3u * 65536u + 8u);
	/* Unknown codes, at both ends of the range and between rows. */
	static const uint32_t unknown[] = {0,	   1,	   65535,  147841,
					   147843, 150000, 262687, 0xffffffffu};

	for (size_t i = 0; i < ARRAY_SIZE(unknown); i++) {
		CU_ASSERT_PTR_NULL(rule_code_refid(unknown[i]));
		CU_ASSERT_PTR_NULL(rule_metric_by_code(unknown[i]));
		CU_ASSERT_PTR_NULL(rule_unit_by_code(unknown[i]));
	}
	/* GE Mural's facet numbering is not the table's (matched by refid). */
	for (uint32_t c = 68164; c <= 68168; c++)
		CU_ASSERT_PTR_NULL(rule_code_refid(c));
}

/* ---------------------------------------------------------------------------
 * The wrong codes of DOMAIN.md section 4 must be absent
 * ------------------------------------------------------------------------- */

static void
test_wrong_codes_absent(void)
{
	const struct rule_metric *m;
	const struct rule_unit *u;

	/* 150017/150018 are generic MDC_PRESS_BLD_SYS/DIA, not NIBP. */
	CU_ASSERT_PTR_NULL(rule_metric_by_code(150017));
	CU_ASSERT_PTR_NULL(rule_metric_by_code(150018));
	CU_ASSERT_PTR_NULL(rule_code_refid(150017));
	CU_ASSERT_PTR_NULL(rule_code_refid(150018));
	CU_ASSERT_EQUAL(code_of("NIBP_SYS"), 150021u);
	CU_ASSERT_EQUAL(code_of("NIBP_DIA"), 150022u);
	m = by_refid("MDC_PRESS_BLD_NONINV_SYS");
	CU_ASSERT_EQUAL(mcode(m), 150021u);
	m = by_refid("MDC_PRESS_BLD_NONINV_DIA");
	CU_ASSERT_EQUAL(mcode(m), 150022u);

	/* 151708 is the concentration, never MDC_AWAY_CO2_ET. */
	m = rule_metric_by_code(151708);
	CU_ASSERT_PTR_NOT_NULL(m);
	if (m != NULL) {
		CU_ASSERT_STRING_EQUAL(m->refid, "MDC_CONC_AWAY_CO2_ET");
		CU_ASSERT_STRING_NOT_EQUAL(m->name, "ETCO2");
	}
	m = by_refid("MDC_AWAY_CO2_ET");
	CU_ASSERT_EQUAL(mcode(m), 151728u);

	/* 268160/268224 are not MDC_DIM_FAHR: 266560 is. */
	CU_ASSERT_PTR_NULL(rule_unit_by_code(268160));
	CU_ASSERT_PTR_NULL(rule_unit_by_code(268224));
	CU_ASSERT_PTR_NULL(rule_code_refid(268160));
	CU_ASSERT_PTR_NULL(rule_code_refid(268224));
	u = unit_by_refid("MDC_DIM_FAHR");
	CU_ASSERT_EQUAL(ucode(u), 266560u);

	/* 188496 "MDC_TEMP_AXIL": the axillary code is 188452. */
	CU_ASSERT_PTR_NULL(rule_metric_by_code(188496));
	CU_ASSERT_PTR_NULL(rule_code_refid(188496));
	CU_ASSERT_PTR_NULL(by_refid("MDC_TEMP_AXIL"));
	CU_ASSERT_EQUAL(code_of("TEMP_AXILLA"), 188452u);

	/* And no row anywhere pairs a wrong code or label. */
	for (size_t i = 0; i < rule_metric_count(); i++) {
		m = rule_metric_at(i);
		CU_ASSERT_FATAL(m != NULL);
		CU_ASSERT(m->code != 150017 && m->code != 150018 && m->code != 188496);
		CU_ASSERT(m->code != 151708 || strcmp(m->refid, "MDC_AWAY_CO2_ET") != 0);
		CU_ASSERT(m->unit != 268160 && m->unit != 268224);
		CU_ASSERT_STRING_NOT_EQUAL(m->refid, "MDC_TEMP_AXIL");
	}
}

/* NEWS2 picks its inputs by family: each member is what it should be. */
static void
test_news2_families(void)
{
	static const char *const pulse[] = {"HR",	 "PULSE",	  "PULSE_NIBP",
					    "PULSE_IBP", "PULSE_GENERIC", "PLETH_RATE"};
	static const char *const sbp[] = {"NIBP_SYS", "CUFF_SYS", "ART_SYS", "ABP_SYS"};
	size_t n_family[5] = {0};
	static const char *const families[5] = {"PULSE", "SBP", "RR", "SPO2", "TEMP"};

	for (size_t i = 0; i < ARRAY_SIZE(pulse); i++) {
		const struct rule_metric *m = by_name(pulse[i]);

		CU_ASSERT_STRING_EQUAL(m ? m->family : "", "PULSE");
		CU_ASSERT_EQUAL(m ? m->unit : 0, BPM);
	}
	for (size_t i = 0; i < ARRAY_SIZE(sbp); i++) {
		const struct rule_metric *m = by_name(sbp[i]);

		CU_ASSERT_STRING_EQUAL(m ? m->family : "", "SBP");
		CU_ASSERT_EQUAL(m ? m->unit : 0, MMHG);
	}
	for (size_t i = 0; i < rule_metric_count(); i++)
		for (size_t f = 0; f < 5; f++)
			if (strcmp(rule_metric_at(i)->family, families[f]) == 0)
				n_family[f]++;
	CU_ASSERT_EQUAL(n_family[0], 6); /* PULSE */
	CU_ASSERT_EQUAL(n_family[1], 4); /* SBP */
	CU_ASSERT_EQUAL(n_family[2], 4); /* RR */
	CU_ASSERT_EQUAL(n_family[3], 1); /* SPO2 alone: SaO2 is a blood gas */
	CU_ASSERT_EQUAL(n_family[4], 8); /* TEMP: every site but skin */
	CU_ASSERT_STRING_EQUAL(by_name("TEMP_SKIN") ? by_name("TEMP_SKIN")->family : "",
			       "TEMP_SKIN");
	CU_ASSERT_STRING_EQUAL(by_name("SAO2") ? by_name("SAO2")->family : "", "SAO2");
}

/* ---------------------------------------------------------------------------
 * Registration
 * ------------------------------------------------------------------------- */

struct test_entry {
	const char *name;
	CU_TestFunc fn;
};

int
vigil_test_register(void)
{
	static const struct test_entry tests[] = {
		{"every DOMAIN.md metric: code, refid, name, family, unit, LOINC",
		 test_every_domain_metric},
		{"exactly those metrics, in code order", test_count_and_order},
		{"the issue's symbolic names", test_issue_names},
		{"names: case-insensitive, whole, length-bounded", test_name_case_and_bounds},
		{"reference ids and aliases", test_refid},
		{"LOINC: the primary metric wins", test_loinc},
		{"units by code, refid and UCUM", test_units},
		{"device, event and attribute codes", test_other_codes},
		{"the wrong codes of DOMAIN.md are absent", test_wrong_codes_absent},
		{"NEWS2 families", test_news2_families},
	};
	CU_pSuite suite = CU_add_suite("rules code tables", NULL, NULL);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
