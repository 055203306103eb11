/*
 * news2.c - NEWS2 scoring (Royal College of Physicians, 2017): pure functions.
 *
 * The chart (DOMAIN.md section 5) is written at chart resolution: whole
 * numbers, temperature to 0.1 degC. A value is rounded to that resolution
 * (half away from zero) before it is banded, so that 20.4 /min is "20" and
 * scores 0, as a nurse reading the monitor would chart it. Temperature is
 * banded in whole tenths so that no binary fraction decides an edge.
 *
 * What is not known scores nothing and is reported missing: the aggregate
 * of an incomplete score is a lower bound, never a score of 0 for the
 * parameter (note 2 of the section: monitors rarely send air/oxygen and
 * never ACVPU).
 */
#include "controlplane.h"

#include <math.h>

static int
band_rr(double v)
{
	if (v <= 8)
		return 3;
	if (v <= 11)
		return 1;
	if (v <= 20)
		return 0;
	if (v <= 24)
		return 2;
	return 3;
}

static int
band_spo2_scale1(double v)
{
	if (v <= 91)
		return 3;
	if (v <= 93)
		return 2;
	if (v <= 95)
		return 1;
	return 0;
}

/*
 * Scale 2 (hypercapnic respiratory failure, target 88-92 %): a saturation
 * of 93 % or more scores only when the patient is on oxygen, where it means
 * too much oxygen is given. When oxygen is not known the value scores as
 * on air, the least it could score: the score is incomplete anyway.
 */
static int
band_spo2_scale2(double v, bool on_oxygen)
{
	if (v <= 83)
		return 3;
	if (v <= 85)
		return 2;
	if (v <= 87)
		return 1;
	if (v <= 92 || !on_oxygen)
		return 0;
	if (v <= 94)
		return 1;
	if (v <= 96)
		return 2;
	return 3;
}

static int
band_sbp(double v)
{
	if (v <= 90)
		return 3;
	if (v <= 100)
		return 2;
	if (v <= 110)
		return 1;
	if (v <= 219)
		return 0;
	return 3;
}

static int
band_pulse(double v)
{
	if (v <= 40)
		return 3;
	if (v <= 50)
		return 1;
	if (v <= 90)
		return 0;
	if (v <= 110)
		return 1;
	if (v <= 130)
		return 2;
	return 3;
}

/* @p tenths: the temperature in whole tenths of a degree (350 = 35.0 degC). */
static int
band_temp(double tenths)
{
	if (tenths <= 350)
		return 3;
	if (tenths <= 360)
		return 1;
	if (tenths <= 380)
		return 0;
	if (tenths <= 390)
		return 1;
	return 2;
}

int
cp_news2_band(enum cp_news2_param p, double v, bool scale2, bool on_oxygen)
{
	if (isnan(v))
		return -1;
	switch (p) {
	case CP_N2_RR:
		return band_rr(round(v));
	case CP_N2_SPO2:
		return scale2 ? band_spo2_scale2(round(v), on_oxygen) : band_spo2_scale1(round(v));
	case CP_N2_AIR:
		return round(v) == CP_O2_OXYGEN ? 2 : 0;
	case CP_N2_SBP:
		return band_sbp(round(v));
	case CP_N2_PULSE:
		return band_pulse(round(v));
	case CP_N2_ACVPU:
		return round(v) == CP_ACVPU_CVPU ? 3 : 0;
	case CP_N2_TEMP:
		return band_temp(round(v * 10));
	default:
		return -1;
	}
}

void
cp_news2_score(const struct cp_news2_in *in, struct cp_news2 *out)
{
	const bool on_oxygen = in->oxygen == CP_O2_OXYGEN;
	double v[CP_N2__COUNT];
	bool known[CP_N2__COUNT];
	unsigned total = 0;

	v[CP_N2_RR] = in->rr;
	v[CP_N2_SPO2] = in->spo2;
	v[CP_N2_AIR] = in->oxygen;
	v[CP_N2_SBP] = in->sbp;
	v[CP_N2_PULSE] = in->pulse;
	v[CP_N2_ACVPU] = in->acvpu;
	v[CP_N2_TEMP] = in->temp;
	for (int p = 0; p < CP_N2__COUNT; p++)
		known[p] = in->have[p];
	/* An unknown setting is missing whatever have[] says: it must not score 0. */
	known[CP_N2_AIR] = known[CP_N2_AIR] && in->oxygen != CP_O2_UNKNOWN;
	known[CP_N2_ACVPU] = known[CP_N2_ACVPU] && in->acvpu != CP_ACVPU_UNKNOWN;

	out->total = 0;
	out->complete = true;
	out->red = false;
	out->missing = 0;
	for (int p = 0; p < CP_N2__COUNT; p++) {
		int s = known[p] ? cp_news2_band(p, v[p], in->scale2, on_oxygen) : -1;

		out->sub[p] = (int8_t)s;
		if (s < 0) {
			out->complete = false;
			out->missing |= (uint8_t)(1u << p);
			continue;
		}
		total += (unsigned)s;
		if (s == 3)
			out->red = true;
	}
	out->total = (uint8_t)total;
	if (total >= 7)
		out->risk = CP_N2_RISK_HIGH;
	else if (total >= 5)
		out->risk = CP_N2_RISK_MEDIUM;
	else if (out->red)
		out->risk = CP_N2_RISK_LOW_MEDIUM;
	else
		out->risk = CP_N2_RISK_LOW;
}

const char *
cp_news2_param_name(enum cp_news2_param p)
{
	static const char *const names[CP_N2__COUNT] = {
		[CP_N2_RR] = "rr",     [CP_N2_SPO2] = "spo2",	[CP_N2_AIR] = "air",
		[CP_N2_SBP] = "sbp",   [CP_N2_PULSE] = "pulse", [CP_N2_ACVPU] = "acvpu",
		[CP_N2_TEMP] = "temp",
	};

	return (unsigned)p < CP_N2__COUNT ? names[p] : "?";
}

const char *
cp_news2_risk_name(enum cp_news2_risk r)
{
	static const char *const names[] = {
		[CP_N2_RISK_LOW] = "low",
		[CP_N2_RISK_LOW_MEDIUM] = "low-medium",
		[CP_N2_RISK_MEDIUM] = "medium",
		[CP_N2_RISK_HIGH] = "high",
	};

	return (unsigned)r <= CP_N2_RISK_HIGH ? names[r] : "?";
}

/* The RCP's clinical response to each risk, in one sentence each. */
const char *
cp_news2_response(enum cp_news2_risk r)
{
	static const char *const responses[] = {
		[CP_N2_RISK_LOW] =
			"Low risk: a registered nurse assesses the patient and decides whether "
			"monitoring should be more frequent or care escalated (at least 12-hourly "
			"monitoring for a score of 0, 4-6-hourly for 1-4).",
		[CP_N2_RISK_LOW_MEDIUM] =
			"Low-medium risk (a single parameter scores 3): the nurse informs the "
			"medical "
			"team, who review the patient and decide whether to escalate care, with "
			"monitoring at least hourly.",
		[CP_N2_RISK_MEDIUM] =
			"Urgent response (score 5 or more): the nurse informs the medical team "
			"immediately for an urgent assessment by a clinician competent in acute "
			"illness, with care in a monitored environment and monitoring at least "
			"hourly.",
		[CP_N2_RISK_HIGH] =
			"Emergency response (score 7 or more): an immediate call to the medical "
			"team "
			"(specialist registrar level at least) for an emergency assessment by a "
			"critical-care team with advanced airway skills, considering transfer to "
			"level "
			"2/3 care (HDU/ICU), with continuous monitoring.",
	};

	return (unsigned)r <= CP_N2_RISK_HIGH ? responses[r] : "?";
}

const char *
cp_o2_name(enum cp_o2 o)
{
	static const char *const names[] = {
		[CP_O2_UNKNOWN] = "unknown",
		[CP_O2_AIR] = "air",
		[CP_O2_OXYGEN] = "oxygen",
	};

	return (unsigned)o <= CP_O2_OXYGEN ? names[o] : "?";
}

const char *
cp_acvpu_name(enum cp_acvpu a)
{
	static const char *const names[] = {
		[CP_ACVPU_UNKNOWN] = "unknown",
		[CP_ACVPU_ALERT] = "alert",
		[CP_ACVPU_CVPU] = "cvpu",
	};

	return (unsigned)a <= CP_ACVPU_CVPU ? names[a] : "?";
}
