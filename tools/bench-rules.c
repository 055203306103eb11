/*
 * bench-rules.c - vigil-bench's `rules` scenario: what the rules evaluator
 * costs per message, against Hyperscan alone.
 *
 * Issue 4 sets the targets, on one core: with 10,000 rules, a decision
 * (rule_eval on one decoded message) under 1 us at p99 and under 2 us at
 * p99.9; a restart that loads 10,000 cached rules in under 1 s.
 *
 * What it does, for rulesets of 10, 1,000 and 10,000 generated rules (a
 * fixed seed; a mix like an appliance's: content and pcre on HL7 text,
 * metric thresholds, header rules, a few pass rules; BENCHMARKS.md gives the
 * shares):
 *
 *  - load: rule_set_load into a fresh, empty cache directory (a miss: the
 *    Hyperscan compile), then again from the same directory (a hit: what a
 *    restart does), with the set's own figures (rule_set_info);
 *  - decision time: a ring of 1024 messages (ORU^R01 with ten metrics,
 *    ORU^R40 alarms, VTP frames; IPv4 and IPv6 senders, inside and outside
 *    the monitor networks), built as UDP frames, classified and decoded once
 *    and untimed (the decode scenario times that), then rule_eval on each in
 *    turn, every call timed alone with the TSC into a log-linear histogram,
 *    so that the tail is seen, not averaged away (and summed per message,
 *    for the mean per kind of message). A run makes up to --packets
 *    decisions, or stops at the first ring pass after 8 s (2 s with
 *    --smoke), so that big sets stay affordable;
 *  - the baseline, in the same run and for as many calls: hs_scan alone of
 *    the same payloads, with a callback that does nothing, over databases
 *    this file compiles from the same expressions the rules become: one
 *    with every option as its own expression (as the rules' database holds
 *    them), one with each distinct expression once (what sharing identical
 *    patterns between rules would leave). The part of a decision no
 *    evaluator can avoid. The cost of the two TSC reads is its own row.
 *
 * Before anything is timed it checks that the rules do something: hits on
 * a good share of the messages, pass rules that suppress, no scan error, a
 * cache hit on the second load. A benchmark where nothing matches measures
 * only the scan.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hs/hs.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#else
#include <rte_cycles.h>
#endif

#include "bench.h"
#include "dataplane.h"
#include "frames.h"
#include "rules.h"

#define RB_INPUTS 1024u
#define RB_SEED 0x5eed0004u
#define RB_ACTIVE_DEVICES 768u	/* senders in the ring */
#define RB_KNOWN_DEVICES 16384u /* the hospital's inventory, which watch lists name */
#define RB_HL7_PORT 2575
#define RB_VTP_PORT 4575
#define RB_APPLIANCE_V4 0x0a000001u /* 10.0.0.1 */
#define RB_FRAME_ROOM 2048u
#define RB_SID_BASE 1000000u
#define RB_SMOKE_P50_MAX_NS 100000.0 /* a decision slower than this is broken, not slow */
#define RB_BUDGET_NS 8e9	     /* per timed rule_eval loop: keeps a run of big sets short */
#define RB_SMOKE_BUDGET_NS 2e9

static const uint8_t appliance_v6[16] = {0xfd, [15] = 0x01};
static const uint8_t appliance_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

/* The config's variables, as vigild would pass them (rule_load_opts.vars). */
static const struct rule_var rb_vars[] = {
	{"MONITOR_NETS", BENCH_RULES_VAR_MONITOR_NETS},
	{"TELEMETRY_PORTS", BENCH_RULES_VAR_TELEMETRY_PORTS},
};

/* ------------------------------------------------------------------------ */
/* Small helpers: random numbers, a growing string                          */
/* ------------------------------------------------------------------------ */

struct rb_rng {
	uint64_t state;
};

static uint32_t
rng_below(struct rb_rng *r, uint32_t n)
{
	uint64_t x = r->state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->state = x;
	return (uint32_t)((x >> 11) % n);
}

/* A uniform double in [lo, hi]. */
static double
rng_range(struct rb_rng *r, double lo, double hi)
{
	return lo + (hi - lo) * (double)rng_below(r, 1000001) / 1e6;
}

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3))) static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

static void
sb_free(struct sbuf *b)
{
	free(b->p);
	*b = (struct sbuf){0};
}

/* ------------------------------------------------------------------------ */
/* The ward: devices, places, metrics                                        */
/* ------------------------------------------------------------------------ */

/* Bedside monitors as they name themselves in MSH-3, and the model token a
 * rule writer would look for. */
static const char *const models[][2] = {
	{"PHILIPS_MX800", "MX800"},    {"PHILIPS_MX450", "MX450"},
	{"PHILIPS_MP70", "MP70"},      {"GE_CARESCAPE_B650", "B650"},
	{"GE_CARESCAPE_B450", "B450"}, {"MINDRAY_BENEVISION_N17", "N17"},
	{"MINDRAY_EPM12", "EPM12"},    {"DRAEGER_INFINITY_M540", "M540"},
	{"DRAEGER_DELTA", "DELTA"},    {"NIHONKOHDEN_BSM6701", "BSM6701"},
	{"MASIMO_ROOT", "ROOT"},       {"SPACELABS_XPREZZON", "XPREZZON"},
};
#define N_MODELS ((unsigned)(sizeof(models) / sizeof(models[0])))

static const char *const wards[] = {
	"ICU",	 "CCU",	  "NICU",  "PICU",  "ED",    "PACU",	  "SDU",
	"WARD3", "WARD4", "WARD5", "WARD6", "WARD7", "MATERNITY", "ONCOLOGY",
};
#define N_WARDS ((unsigned)(sizeof(wards) / sizeof(wards[0])))
#define N_ROOMS 24u
#define N_BEDS 4u

/* The metrics the monitors send, with a normal band (most values) and the
 * wider band abnormal values come from. */
struct rb_metric {
	const char *name;
	uint32_t code;
	const char *refid;
	uint32_t unit;
	const char *unit_refid;
	double lo, hi;	 /* normal */
	double alo, ahi; /* abnormal values fall in [alo, lo) or (hi, ahi] (none if ahi == hi) */
	bool tenths;
	const char *title; /* as a monitor's alarm text says it */
};

static const struct rb_metric metrics[] = {
	{"HR", 147842, "MDC_ECG_HEART_RATE", 264864, "MDC_DIM_BEAT_PER_MIN", 55, 105, 30, 190,
	 false, "Heart rate"},
	{"SPO2", 150456, "MDC_PULS_OXIM_SAT_O2", 262688, "MDC_DIM_PERCENT", 93, 100, 75, 100, false,
	 "SpO2"},
	{"PULSE", 149530, "MDC_PULS_OXIM_PULS_RATE", 264864, "MDC_DIM_BEAT_PER_MIN", 55, 105, 30,
	 190, false, "Pulse rate"},
	{"RR", 151562, "MDC_RESP_RATE", 264928, "MDC_DIM_RESP_PER_MIN", 12, 20, 4, 40, false,
	 "Resp rate"},
	{"TEMP", 150344, "MDC_TEMP", 268192, "MDC_DIM_DEGC", 36.1, 37.8, 34.0, 40.5, true,
	 "Temperature"},
	{"NIBP_SYS", 150021, "MDC_PRESS_BLD_NONINV_SYS", 266016, "MDC_DIM_MMHG", 100, 150, 65, 220,
	 false, "NBP systolic"},
	{"NIBP_DIA", 150022, "MDC_PRESS_BLD_NONINV_DIA", 266016, "MDC_DIM_MMHG", 60, 90, 35, 125,
	 false, "NBP diastolic"},
	{"NIBP_MEAN", 150023, "MDC_PRESS_BLD_NONINV_MEAN", 266016, "MDC_DIM_MMHG", 70, 105, 45, 140,
	 false, "NBP mean"},
	{"ETCO2", 151728, "MDC_AWAY_CO2_ET", 266016, "MDC_DIM_MMHG", 33, 43, 15, 65, false,
	 "etCO2"},
	{"ART_SYS", 150033, "MDC_PRESS_BLD_ART_SYS", 266016, "MDC_DIM_MMHG", 100, 150, 65, 220,
	 false, "ART systolic"},
};
#define N_METRICS ((unsigned)(sizeof(metrics) / sizeof(metrics[0])))
enum { M_HR, M_SPO2, M_PULSE, M_RR, M_TEMP };

/* Lists of metrics of one unit that one rule may name together. */
static const struct {
	unsigned first; /* the metrics[] entry whose bands the thresholds use */
	const char *list;
} metric_lists[] = {
	{0, "HR,PULSE"},
	{5, "NIBP_SYS,ART_SYS"},
	{5, "NIBP_SYS,CUFF_SYS,ABP_SYS"},
	{4, "TEMP,TEMP_CORE,TEMP_TYMP"},
	{3, "RR,RR_IMP"},
	{7, "NIBP_MEAN,ART_MEAN"},
};

/* Device alarms (ORU^R40): the event, its display text, its source. */
static const struct rb_event {
	uint32_t code;
	const char *refid;
	const char *text;
	unsigned metric; /* metrics[] index of the source */
	const char *prio, *type;
} events[] = {
	{196648, "MDC_EVT_HI", "Heart rate high", M_HR, "PM", "SP"},
	{196670, "MDC_EVT_LO", "SpO2 low", M_SPO2, "PH", "SP"},
	{196648, "MDC_EVT_HI", "Pulse rate high", M_PULSE, "PM", "SP"},
	{196670, "MDC_EVT_LO", "Resp rate low", M_RR, "PM", "SP"},
	{199684, "MDC_EVT_ECG_ASYSTOLE", "Asystole", M_HR, "PH", "SP"},
	{258052, "MDC_EVT_ECG_V_FIB_TACHY", "Ventricular fibrillation", M_HR, "PH", "SP"},
	{199680, "MDC_EVT_APNEA", "Apnea", M_RR, "PH", "SP"},
	{196916, "MDC_EVT_SENSOR_DISCONN", "SpO2 sensor off", M_SPO2, "PM", "ST"},
	{196876, "MDC_EVT_LEAD_DISCONN", "ECG leads off", M_HR, "PM", "ST"},
};
#define N_EVENTS ((unsigned)(sizeof(events) / sizeof(events[0])))

/* Device @i of the hospital: identity, model, bed, network address. Every
 * 20th sits outside the monitor networks; every 10th (another one) speaks
 * IPv6. */
struct rb_device {
	uint64_t eui;
	unsigned model;
	unsigned ward, room, bed;
	uint8_t ip_version;
	uint32_t v4; /* host order */
	uint8_t v6[16];
};

static void
device_at(unsigned i, struct rb_device *d)
{
	memset(d, 0, sizeof(*d));
	d->eui = UINT64_C(0x0009FB0000000000) + (uint64_t)i * UINT64_C(0x1000193);
	d->model = (i / 3) % N_MODELS;
	d->ward = (i / 96) % N_WARDS;
	d->room = (i / 4) % N_ROOMS + 1;
	d->bed = i % N_BEDS + 1;
	if (i % 10 == 3) {
		static const uint8_t net[4] = {0xfd, 0x00, 0x00, 0x20};

		d->ip_version = 6;
		memcpy(d->v6, net, 4);
		d->v6[14] = (uint8_t)(i >> 8);
		d->v6[15] = (uint8_t)i;
	} else {
		d->ip_version = 4;
		d->v4 = (i % 20 == 19 ? 0x0a630000u : 0x0a140000u) | ((i / 250) << 8) |
			(i % 250 + 1);
	}
}

/* ------------------------------------------------------------------------ */
/* The ruleset generator                                                     */
/* ------------------------------------------------------------------------ */

/* One Hyperscan expression as the rules compile it (rule_private.h). */
struct rb_expr {
	char *expr;
	unsigned flags;
	unsigned long long min_offset, max_offset; /* 0: unset */
};

enum rb_family { F_CONTENT, F_PCRE, F_METRIC, F_HEADER, F_PASS, F__COUNT };
static const char *const family_names[F__COUNT] = {"content", "pcre", "metric", "header", "pass"};

/* Families whose rules pick from a fixed set of combinations (combo()). */
enum rb_combo {
	C_WATCH,
	C_MODEL_ROOM,
	C_BED,
	C_EVENT_ROOM,
	C_RE_BEDS,
	C_RE_SPO2,
	C_RE_BATCH,
	C_RE_TEXT,
	C_RE_MRN,
	C_PASS_DEVICE,
	C_PASS_MONITOR,
	C_PASS_ROOM,
	C_M_WARD,
	C_M_BED,
	C_M_DEVICE,
	C_M_UNSENT,
	C_M_GLOB,
	C_H_PORT,
	C_H_DEVICE,
	C_H_OUTSIDE,
	C_H_SPORT,
	C__COUNT
};

struct rb_gen {
	struct rb_rng rng;
	unsigned combo[C__COUNT];
	struct sbuf text;
	struct rb_expr *ex;
	unsigned n_ex, cap_ex;
	unsigned n_rules;
	unsigned family[F__COUNT];
	unsigned with_location, with_address_list;
	bool oom;
};

static void
gen_free(struct rb_gen *g)
{
	for (unsigned i = 0; i < g->n_ex; i++)
		free(g->ex[i].expr);
	free(g->ex);
	sb_free(&g->text);
	memset(g, 0, sizeof(*g));
}

static void
add_expr(struct rb_gen *g, char *expr, unsigned flags, unsigned long long min_offset,
	 unsigned long long max_offset)
{
	if (expr == NULL || g->oom) {
		free(expr);
		g->oom = true;
		return;
	}
	if (g->n_ex == g->cap_ex) {
		unsigned cap = g->cap_ex ? g->cap_ex * 2 : 256;
		struct rb_expr *ex = realloc(g->ex, cap * sizeof(*ex));

		if (ex == NULL) {
			free(expr);
			g->oom = true;
			return;
		}
		g->ex = ex;
		g->cap_ex = cap;
	}
	g->ex[g->n_ex++] =
		(struct rb_expr){expr, flags | HS_FLAG_SINGLEMATCH, min_offset, max_offset};
}

/*
 * content:"..." with its modifiers, in the rule text (bytes a quoted
 * content cannot hold as they are go in |HH| form) and as the expression
 * the compiler makes of it: every byte not [A-Za-z0-9] as \xHH; Hyperscan's
 * offsets are where a match ends, so offset o becomes min_offset o + length
 * and depth d max_offset o + d.
 */
static void
opt_content(struct rb_gen *g, const char *bytes, bool nocase, unsigned offset, unsigned depth)
{
	size_t len = strlen(bytes);
	struct sbuf e = {0};

	sb_printf(&g->text, "content:\"");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)bytes[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != ';' && c != '\\' && c != '|')
			sb_printf(&g->text, "%c", c);
		else
			sb_printf(&g->text, "|%02X|", c);
		if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
			sb_printf(&e, "%c", c);
		else
			sb_printf(&e, "\\x%02x", c);
	}
	sb_printf(&g->text, "\"; ");
	if (nocase)
		sb_printf(&g->text, "nocase; ");
	if (offset)
		sb_printf(&g->text, "offset:%u; ", offset);
	if (depth)
		sb_printf(&g->text, "depth:%u; ", depth);
	if (e.oom) {
		sb_free(&e);
		g->oom = true;
		return;
	}
	add_expr(g, e.p, nocase ? HS_FLAG_CASELESS : 0, offset ? offset + len : 0,
		 depth ? offset + depth : 0);
}

/* pcre:"/re/flags". The regexes here hold no '"', ';' or '\\' pair (the
 * quoted string's escapes) and no '/', so the expression is the text. */
__attribute__((format(printf, 3, 4))) static void
opt_pcre(struct rb_gen *g, const char *flags, const char *fmt, ...)
{
	char re[512];
	unsigned hs = 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(re, sizeof(re), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(re)) {
		g->oom = true;
		return;
	}
	for (const char *f = flags; *f; f++)
		hs |= *f == 'i' ? HS_FLAG_CASELESS : *f == 's' ? HS_FLAG_DOTALL : HS_FLAG_MULTILINE;
	sb_printf(&g->text, "pcre:\"/%s/%s\"; ", re, flags);
	add_expr(g, strdup(re), hs, 0, 0);
}

static void
rule_end(struct rb_gen *g, enum rb_family f)
{
	sb_printf(&g->text, "sid:%u; rev:1;)\n", RB_SID_BASE + g->n_rules);
	g->n_rules++;
	g->family[f]++;
}

static const char *
priority_pick(struct rb_rng *r)
{
	static const char *const p[] = {"low", "medium", "medium", "high"};

	return p[rng_below(r, 4)];
}

static void
fmt_value(char *out, size_t room, const struct rb_metric *m, double v)
{
	snprintf(out, room, m->tenths ? "%.1f" : "%.0f", v);
}

/* The first ten rules, the same in every set: what a ward's ruleset starts
 * with. A set of 10 is exactly these. */
static void
gen_core(struct rb_gen *g)
{
	sb_printf(&g->text, "alert hl7 any any -> any any (msg:\"Asystole reported by monitor\"; ");
	opt_content(g, "MDC_EVT_ECG_ASYSTOLE", false, 0, 0);
	sb_printf(&g->text, "priority:high; kind:physiological; ");
	rule_end(g, F_CONTENT);

	sb_printf(&g->text, "alert hl7 any any -> any any (msg:\"VF reported by monitor\"; ");
	opt_content(g, "MDC_EVT_ECG_V_FIB_TACHY", false, 0, 0);
	sb_printf(&g->text, "priority:high; kind:physiological; ");
	rule_end(g, F_CONTENT);

	sb_printf(&g->text, "alert hl7 any any -> any any (msg:\"SpO2 sensor disconnected\"; ");
	opt_content(g, "MDC_EVT_SENSOR_DISCONN", false, 200, 0);
	sb_printf(&g->text, "priority:medium; ");
	rule_end(g, F_CONTENT);

	sb_printf(&g->text, "alert hl7 $MONITOR_NETS any -> any $TELEMETRY_PORTS (msg:\"ECG leads "
			    "off in an ICU\"; ");
	opt_content(g, "MDC_EVT_LEAD_DISCONN", false, 0, 0);
	opt_content(g, "|ICU^", true, 0, 0);
	sb_printf(&g->text, "priority:medium; ");
	rule_end(g, F_CONTENT);
	g->with_address_list++;

	sb_printf(&g->text, "log hl7 any any -> any any (msg:\"monitor says a rate is high\"; ");
	opt_pcre(g, "i", "(?:pulse|heart) rate high");
	rule_end(g, F_PCRE);

	sb_printf(&g->text, "alert udp $MONITOR_NETS any -> any $TELEMETRY_PORTS (msg:\"SpO2 below "
			    "90%%\"; metric:SPO2; value:<90; delay:15s; priority:high; ");
	rule_end(g, F_METRIC);
	g->with_address_list++;

	sb_printf(&g->text, "alert any any any -> any any (msg:\"Tachycardia\"; metric:HR,PULSE; "
			    "value:>140; priority:medium; ");
	rule_end(g, F_METRIC);

	sb_printf(&g->text, "alert hl7 any any -> any any (msg:\"Fever in the ICU\"; metric:TEMP; "
			    "value:>=38.5; location:ICU; priority:low; ");
	rule_end(g, F_METRIC);
	g->with_location++;

	sb_printf(&g->text, "alert udp !$MONITOR_NETS any -> any any (msg:\"telemetry from outside "
			    "the monitor networks\"; priority:medium; kind:technical; ");
	rule_end(g, F_HEADER);
	g->with_address_list++;

	sb_printf(&g->text, "pass hl7 any any -> any any (msg:\"training patients\"; ");
	opt_content(g, "TRAINING^PATIENT", true, 0, 0);
	rule_end(g, F_PASS);
}

/*
 * The n-th distinct combination of a family: n * a prime, modulo the number
 * of combinations, so that rules of one family never repeat (until every
 * combination is used) yet do not come in order. Rules share sub-patterns
 * (a ward, a model, an event), as a real set does; no two rules are the same.
 */
static unsigned
combo(struct rb_gen *g, enum rb_combo c, unsigned total)
{
	return (unsigned)(((uint64_t)g->combo[c]++ * 7919u + 17u * c) % total);
}

static void
gen_content(struct rb_gen *g)
{
	struct rb_rng *r = &g->rng;
	unsigned k = rng_below(r, 100), x;
	struct rb_device d;
	char s[128];

	if (k < 38) { /* a watch list of devices (recalls, loaners) */
		bool log = rng_below(r, 3) == 0;

		device_at(combo(g, C_WATCH, RB_KNOWN_DEVICES), &d);
		snprintf(s, sizeof(s), "%016" PRIX64, d.eui);
		sb_printf(&g->text, "%s hl7 any any -> any any (msg:\"watched device %s\"; ",
			  log ? "log" : "alert", s);
		opt_content(g, s, false, 0, 64);
		if (!log)
			sb_printf(&g->text, "priority:low; kind:technical; ");
		rule_end(g, F_CONTENT);
	} else if (k < 57) { /* a model in a room */
		x = combo(g, C_MODEL_ROOM, N_MODELS * N_WARDS * N_ROOMS);
		const char *model = models[x % N_MODELS][1], *ward = wards[x / N_MODELS % N_WARDS];
		unsigned room = x / N_MODELS / N_WARDS + 1;

		sb_printf(&g->text, "alert hl7 any any -> any any (msg:\"%s in %s room %u\"; ",
			  model, ward, room);
		opt_content(g, model, true, 0, 48);
		snprintf(s, sizeof(s), "|%s^%u^", ward, room);
		opt_content(g, s, false, 0, 0);
		sb_printf(&g->text, "priority:low; kind:advisory; ");
		rule_end(g, F_CONTENT);
	} else if (k < 76) { /* alarms from one bed */
		x = combo(g, C_BED, N_WARDS * N_ROOMS * N_BEDS);
		snprintf(s, sizeof(s), "PV1||I|%s^%u^%u\r", wards[x % N_WARDS],
			 x / N_WARDS % N_ROOMS + 1, x / N_WARDS / N_ROOMS + 1);
		sb_printf(&g->text,
			  "alert hl7 any any -> any any (msg:\"alarm from bed %s %u/%u\"; ",
			  wards[x % N_WARDS], x / N_WARDS % N_ROOMS + 1, x / N_WARDS / N_ROOMS + 1);
		opt_content(g, s, false, 0, 0);
		opt_content(g, "|196616^MDC_EVT_ALARM^", false, 0, 0);
		sb_printf(&g->text, "priority:medium; ");
		rule_end(g, F_CONTENT);
	} else { /* a device alarm in a room */
		x = combo(g, C_EVENT_ROOM, N_EVENTS * N_WARDS * N_ROOMS);
		const struct rb_event *e = &events[x % N_EVENTS];
		const char *ward = wards[x / N_EVENTS % N_WARDS];
		unsigned room = x / N_EVENTS / N_WARDS + 1;

		sb_printf(&g->text, "alert hl7 any any -> any any (msg:\"%s in %s room %u\"; ",
			  e->text, ward, room);
		snprintf(s, sizeof(s), "%u^%s^MDC", e->code, e->refid);
		opt_content(g, s, false, 200, 0);
		snprintf(s, sizeof(s), "|%s^%u^", ward, room);
		opt_content(g, s, false, 0, 0);
		sb_printf(&g->text, "priority:%s; ", priority_pick(r));
		rule_end(g, F_CONTENT);
	}
}

static void
gen_pcre(struct rb_gen *g)
{
	struct rb_rng *r = &g->rng;
	unsigned x;

	switch (rng_below(r, 5)) {
	case 0: /* some beds of a room */
		x = combo(g, C_RE_BEDS, N_WARDS * N_ROOMS * 3);
		sb_printf(&g->text, "alert hl7 any any -> any any (msg:\"%s room %u, beds 1-%u\"; ",
			  wards[x % N_WARDS], x / N_WARDS % N_ROOMS + 1, x / N_WARDS / N_ROOMS + 2);
		opt_pcre(g, "", "PV1\\x7c\\x7cI\\x7c%s\\x5e%u\\x5e[1-%u]\\x0d", wards[x % N_WARDS],
			 x / N_WARDS % N_ROOMS + 1, x / N_WARDS / N_ROOMS + 2);
		sb_printf(&g->text, "priority:low; kind:advisory; ");
		break;
	case 1: /* SpO2 in the 80s in one room, a regex over PV1 and the OBX row */
		x = combo(g, C_RE_SPO2, N_WARDS * N_ROOMS * 10);
		sb_printf(&g->text,
			  "alert hl7 any any -> any any (msg:\"%s room %u: SpO2 80-8%u\"; ",
			  wards[x % N_WARDS], x / N_WARDS % N_ROOMS + 1, x / N_WARDS / N_ROOMS);
		opt_pcre(g, "s",
			 "PV1\\x7c\\x7cI\\x7c%s\\x5e%u\\x5e.*150456\\x5eMDC_PULS_OXIM_SAT_O2"
			 "\\x5eMDC\\x7c[^\\x7c]*\\x7c8[0-%u]\\x7c",
			 wards[x % N_WARDS], x / N_WARDS % N_ROOMS + 1, x / N_WARDS / N_ROOMS);
		sb_printf(&g->text, "priority:high; kind:physiological; ");
		break;
	case 2: { /* one byte of a vendor's device identities */
		static const char *const vendors[] = {"PHILIPS", "GE", "MINDRAY"};

		x = combo(g, C_RE_BATCH, 3 * 256);
		sb_printf(&g->text, "log hl7 any any -> any any (msg:\"%s batch %02X\"; ",
			  vendors[x % 3], x / 3);
		opt_pcre(g, "", "\\x7c%s_[A-Z0-9_]+\\x5e[0-9A-F]{12}%02X[0-9A-F]{2}\\x5e",
			 vendors[x % 3], x / 3);
		break;
	}
	case 3: { /* an alarm text in a room */
		x = combo(g, C_RE_TEXT, N_EVENTS * N_WARDS * N_ROOMS);
		const struct rb_event *e = &events[x % N_EVENTS];
		char s[64];

		sb_printf(&g->text,
			  "alert hl7 any any -> any any (msg:\"%s in %s room %u (text)\"; ",
			  e->text, wards[x / N_EVENTS % N_WARDS], x / N_EVENTS / N_WARDS + 1);
		opt_pcre(g, "i", "%s\\x7c{3}[HLA]~P[HML]~S[PTA]", e->text);
		snprintf(s, sizeof(s), "|%s^%u^", wards[x / N_EVENTS % N_WARDS],
			 x / N_EVENTS / N_WARDS + 1);
		opt_content(g, s, false, 0, 0);
		sb_printf(&g->text, "priority:%s; ", priority_pick(r));
		break;
	}
	default: /* a range of patient record numbers */
		x = combo(g, C_RE_MRN, 1000);
		sb_printf(&g->text, "log hl7 any any -> any any (msg:\"study cohort %03u\"; ", x);
		opt_pcre(g, "", "PID\\x7c\\x7c\\x7cMRN%03u\\d\\d\\x5e", x);
		break;
	}
	rule_end(g, F_PCRE);
}

/* A device's address as a rule writes it. */
static void
device_addr(const struct rb_device *d, char *out, size_t room)
{
	if (d->ip_version == 6)
		snprintf(out, room, "fd00:20::%x", (unsigned)d->v6[14] << 8 | d->v6[15]);
	else
		snprintf(out, room, "%u.%u.%u.%u", d->v4 >> 24, d->v4 >> 16 & 255, d->v4 >> 8 & 255,
			 d->v4 & 255);
}

/*
 * A limit on metric @p m: side 0 a low one (<, <=, or a band inside the
 * low abnormal range), side 1 a high one (>, >=, or outside a..b). SpO2 has
 * no high alarm, so its limits are all low.
 */
static void
limit(struct rb_rng *r, const struct rb_metric *m, unsigned side, char *value, size_t room)
{
	double low = rng_range(r, m->alo, m->lo), high = rng_range(r, m->hi, m->ahi);
	unsigned c = rng_below(r, 3);
	char a[16], b[16];

	fmt_value(a, sizeof(a), m, low);
	fmt_value(b, sizeof(b), m, high);
	if (m->ahi <= m->hi)
		side = 0;
	if (side == 0 && c == 0)
		snprintf(value, room, "<%s", a);
	else if (side == 0 && c == 1)
		snprintf(value, room, "<=%s", a);
	else if (side == 0) {
		fmt_value(b, sizeof(b), m, low + (m->lo - low) / 2);
		snprintf(value, room, "%s..%s", a, b);
	} else if (c == 0)
		snprintf(value, room, ">%s", b);
	else if (c == 1)
		snprintf(value, room, ">=%s", b);
	else
		snprintf(value, room, "outside %s..%s", a, b);
}

/* Metrics of the table these monitors never send (rules for other devices). */
static const struct rule_metric *
unsent_metric(unsigned i)
{
	unsigned n = 0;

	for (size_t t = 0; t < rule_metric_count(); t++) {
		const struct rule_metric *rm = rule_metric_at(t);
		bool sent = false;

		for (unsigned j = 0; j < N_METRICS; j++)
			sent |= metrics[j].code == rm->code;
		if (!sent && n++ == i)
			return rm;
	}
	return NULL;
}

static unsigned
unsent_count(void)
{
	unsigned n = 0;

	while (unsent_metric(n) != NULL)
		n++;
	return n;
}

/* A plausible high limit for a metric the monitors do not send, in its unit. */
static void
unsent_limit(struct rb_rng *r, const struct rule_metric *t, char *value, size_t room)
{
	unsigned base = 120, span = 60; /* mmHg, beats per minute */

	if (t->unit == 268192) { /* MDC_DIM_DEGC */
		base = 38;
		span = 3;
	} else if (t->unit == 262688) { /* MDC_DIM_PERCENT */
		base = 5;
		span = 90;
	} else if (t->unit == 264928) { /* MDC_DIM_RESP_PER_MIN */
		base = 25;
		span = 15;
	}
	snprintf(value, room, ">%u", base + rng_below(r, span));
}

/* The extras a clinical rule may carry; they do not change evaluation. */
static void
metric_extras(struct rb_gen *g)
{
	struct rb_rng *r = &g->rng;

	if (rng_below(r, 10) == 0)
		sb_printf(&g->text, "valid:test; ");
	if (rng_below(r, 3) == 0)
		sb_printf(&g->text, "delay:%us; ", 5 * (1 + rng_below(r, 6)));
	if (rng_below(r, 8) == 0)
		sb_printf(&g->text, "threshold:type limit, track by_device, count 1, seconds 60; ");
	sb_printf(&g->text, "priority:%s; ", priority_pick(r));
}

/*
 * Threshold rules, scoped as a hospital scopes its limits: a ward's
 * defaults (location), one bed's limits (content on its PV1-3, as the
 * location option matches one component only), one monitor's limits (its
 * source address); then metrics these monitors never send (other devices'),
 * and groups of wards or rooms by glob.
 */
static void
gen_metric(struct rb_gen *g)
{
	static const char *const globs[] = {"ward WARD*", "?ICU",  "room 1?", "room 2?",
					    "bed 1",	  "bed 2", "bed 3",   "bed 4"};
	static const char *const protos[] = {"any", "udp", "hl7", "vtp"};
	struct rb_rng *r = &g->rng;
	unsigned k = rng_below(r, 100), x;
	char value[64], addr[48], s[64];
	const struct rb_metric *m;

	if (k < 6) { /* a ward's defaults */
		x = combo(g, C_M_WARD, N_WARDS * N_METRICS * 2);
		m = &metrics[x / N_WARDS % N_METRICS];
		limit(r, m, x / N_WARDS / N_METRICS, value, sizeof(value));
		sb_printf(&g->text,
			  "alert hl7 any any -> any any (msg:\"%s: %s %s\"; metric:%s; value:%s; "
			  "location:%s; ",
			  wards[x % N_WARDS], m->name, value, m->name, value, wards[x % N_WARDS]);
		g->with_location++;
	} else if (k < 44) { /* one bed's limits */
		x = combo(g, C_M_BED, N_WARDS * N_ROOMS * N_BEDS * N_METRICS * 2);
		unsigned bed = x % (N_WARDS * N_ROOMS * N_BEDS);
		const char *ward = wards[bed % N_WARDS];
		unsigned room = bed / N_WARDS % N_ROOMS + 1, b = bed / N_WARDS / N_ROOMS + 1;

		x /= N_WARDS * N_ROOMS * N_BEDS;
		m = &metrics[x % N_METRICS];
		limit(r, m, x / N_METRICS, value, sizeof(value));
		sb_printf(&g->text, "alert hl7 any any -> any any (msg:\"%s %u/%u: %s %s\"; ", ward,
			  room, b, m->name, value);
		snprintf(s, sizeof(s), "PV1||I|%s^%u^%u\r", ward, room, b);
		opt_content(g, s, false, 0, 0);
		sb_printf(&g->text, "metric:%s; value:%s; ", m->name, value);
	} else if (k < 82) { /* one monitor's limits */
		struct rb_device d;

		x = combo(g, C_M_DEVICE, RB_ACTIVE_DEVICES * N_METRICS * 2);
		device_at(x % RB_ACTIVE_DEVICES, &d);
		device_addr(&d, addr, sizeof(addr));
		x /= RB_ACTIVE_DEVICES;
		m = &metrics[x % N_METRICS];
		limit(r, m, x / N_METRICS, value, sizeof(value));
		sb_printf(&g->text,
			  "alert %s %s any -> any %s (msg:\"monitor %s: %s %s\"; metric:%s; "
			  "value:%s; ",
			  protos[rng_below(r, 4)], addr,
			  rng_below(r, 4) == 0 ? "$TELEMETRY_PORTS" : "any", addr, m->name, value,
			  m->name, value);
		g->with_address_list++;
	} else if (k < 97) { /* another device's metric: everywhere, in a ward or a room */
		unsigned n = unsent_count(), where;
		const struct rule_metric *t;

		x = combo(g, C_M_UNSENT, n * (1 + N_WARDS + N_ROOMS));
		t = unsent_metric(x % n);
		where = x / n;
		unsent_limit(r, t, value, sizeof(value));
		sb_printf(&g->text, "alert %s $MONITOR_NETS any -> any any (msg:\"%s %s\"; ",
			  where ? "hl7" : "udp", t->name, value);
		sb_printf(&g->text, "metric:%s; value:%s; ", t->name, value);
		if (where > 0 && where <= N_WARDS)
			sb_printf(&g->text, "location:%s; ", wards[where - 1]);
		else if (where > N_WARDS)
			sb_printf(&g->text, "location:room %u; ", where - N_WARDS);
		g->with_location += where > 0;
		g->with_address_list++;
	} else { /* a group of metrics in a group of wards, rooms or beds */
		unsigned n_lists = sizeof(metric_lists) / sizeof(metric_lists[0]);

		x = combo(g, C_M_GLOB, 8 * n_lists * 2);
		m = &metrics[metric_lists[x / 8 % n_lists].first];
		limit(r, m, x / 8 / n_lists, value, sizeof(value));
		sb_printf(&g->text,
			  "alert hl7 any any -> any any (msg:\"%s %s in %s\"; metric:%s; "
			  "value:%s; location:%s; ",
			  metric_lists[x / 8 % n_lists].list, value, globs[x % 8],
			  metric_lists[x / 8 % n_lists].list, value, globs[x % 8]);
		g->with_location++;
	}
	metric_extras(g);
	rule_end(g, F_METRIC);
}

/* Header rules: subnets, monitors and sizes; most never fire (as intended). */
static void
gen_header(struct rb_gen *g)
{
	struct rb_rng *r = &g->rng;
	unsigned x;

	switch (rng_below(r, 5)) {
	case 0:
	case 1: /* a monitor subnet talking to a port that is not telemetry */
		x = combo(g, C_H_PORT, 256 * 4);
		sb_printf(&g->text,
			  "alert udp 10.20.%u.0/24 any -> any ![2575, 4575, %u:%u] (msg:\"subnet "
			  "%u: not a telemetry port\"; priority:low; kind:technical; ",
			  x % 256, 8000 + 100 * (x / 256), 8099 + 100 * (x / 256), x % 256);
		break;
	case 2: { /* one monitor's oversized datagrams */
		struct rb_device d;
		char addr[48];
		unsigned size = 1100 + 50 * rng_below(r, 8);

		device_at(combo(g, C_H_DEVICE, RB_ACTIVE_DEVICES), &d);
		device_addr(&d, addr, sizeof(addr));
		sb_printf(&g->text,
			  "log udp %s [1024:65535] -> any any (msg:\"monitor %s: datagram over "
			  "%u bytes\"; dsize:>%u; ",
			  addr, addr, size, size);
		break;
	}
	case 3: /* outside senders, by subnet and size */
		x = combo(g, C_H_OUTSIDE, 256 * 10);
		sb_printf(&g->text,
			  "alert udp [10.99.%u.0/24, !10.99.%u.1] any -> any $TELEMETRY_PORTS "
			  "(msg:\"outside sender 10.99.%u.0/24, %u..1500 bytes\"; dsize:%u..1500; "
			  "priority:medium; kind:technical; ",
			  x % 256, x % 256, x % 256, 200 + 100 * (x / 256), 200 + 100 * (x / 256));
		break;
	default: /* a privileged source port in a subnet */
		x = combo(g, C_H_SPORT, 256);
		sb_printf(&g->text,
			  "alert any [10.20.%u.0/24, 10.99.%u.0/24, fd00:20::%x00/120] :1023 -> "
			  "any any (msg:\"privileged source port, subnet %u\"; priority:low; "
			  "kind:technical; ",
			  x, x, x, x);
		break;
	}
	g->with_address_list++;
	rule_end(g, F_HEADER);
}

static void
gen_pass(struct rb_gen *g)
{
	struct rb_rng *r = &g->rng;

	switch (rng_below(r, 3)) {
	case 0: { /* a monitor on the biomed bench */
		struct rb_device d;
		char addr[48];

		device_at(combo(g, C_PASS_MONITOR, RB_ACTIVE_DEVICES), &d);
		device_addr(&d, addr, sizeof(addr));
		sb_printf(&g->text, "pass any %s any -> any any (msg:\"biomed bench: %s\"; ", addr,
			  addr);
		g->with_address_list++;
		break;
	}
	case 1: { /* heart rates from a room's demo beds */
		unsigned x = combo(g, C_PASS_ROOM, N_WARDS * N_ROOMS);
		char s[64];

		sb_printf(&g->text, "pass hl7 any any -> any any (msg:\"demo beds %s %u\"; ",
			  wards[x % N_WARDS], x / N_WARDS + 1);
		snprintf(s, sizeof(s), "|%s^%u^", wards[x % N_WARDS], x / N_WARDS + 1);
		opt_content(g, s, false, 0, 0);
		sb_printf(&g->text, "metric:HR,PULSE; ");
		break;
	}
	default: {
		struct rb_device d;
		char s[32];

		device_at(combo(g, C_PASS_DEVICE, RB_KNOWN_DEVICES), &d);
		snprintf(s, sizeof(s), "%016" PRIX64, d.eui);
		sb_printf(&g->text, "pass hl7 any any -> any any (msg:\"device in service\"; ");
		opt_content(g, s, false, 0, 64);
		break;
	}
	}
	rule_end(g, F_PASS);
}

/* A ruleset of @n rules: the core ten, then about 60% content and pcre (a
 * third of it pcre), 30% metric, 10% header, one pass rule in 250. */
static int
gen_rules(unsigned n, struct rb_gen *g)
{
	memset(g, 0, sizeof(*g));
	g->rng.state = RB_SEED ^ ((uint64_t)n << 32);
	sb_printf(&g->text, "# vigil-bench rules scenario: %u generated rules\n", n);
	gen_core(g);
	while (g->n_rules < n) {
		unsigned k = rng_below(&g->rng, 1000);

		if (g->n_rules % 250 == 0)
			gen_pass(g);
		else if (k < 400)
			gen_content(g);
		else if (k < 600)
			gen_pcre(g);
		else if (k < 900)
			gen_metric(g);
		else
			gen_header(g);
	}
	if (g->oom || g->text.oom) {
		gen_free(g);
		return -ENOMEM;
	}
	return 0;
}

/* The generated ruleset as text, for the scenarios that run a plane. */
int
bench_rules_text(unsigned n, char **text, size_t *len)
{
	struct rb_gen g;
	int rc = gen_rules(n, &g);

	if (rc != 0)
		return rc;
	*text = g.text.p;
	*len = g.text.len;
	g.text.p = NULL;
	g.text.len = 0;
	gen_free(&g);
	return 0;
}

/* The generated ruleset with every sid moved past the shipped rules' (bench.h). */
int
bench_rules_text_beside(unsigned n, char **out, size_t *out_len)
{
	char *text = NULL, *o;
	const char *p, *q;
	size_t len = 0, n_sid = 0;
	int rc;

	*out = NULL;
	rc = bench_rules_text(n, &text, &len);
	if (rc != 0)
		return rc;
	for (p = text; (p = strstr(p, "sid:")) != NULL; p += 4)
		n_sid++;
	/* Each sid grows by at most the offset's digits. */
	o = *out = malloc(len + n_sid * 12 + 1);
	if (o == NULL) {
		free(text);
		return -ENOMEM;
	}
	for (p = text; (q = strstr(p, "sid:")) != NULL; p = q) {
		const char *b = q;
		unsigned long sid;
		char *end;

		while (b > text && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		memcpy(o, p, (size_t)(q - p) + 4);
		o += q - p + 4;
		q += 4;
		/* The option only: after '(' or ';' and blanks, with a number. */
		if (b > text && (b[-1] == ';' || b[-1] == '(') && *q >= '0' && *q <= '9') {
			sid = strtoul(q, &end, 10);
			o += sprintf(o, "%lu", sid + BENCH_RULES_BESIDE_SID_OFFSET);
			q = end;
		}
	}
	memcpy(o, p, strlen(p) + 1);
	*out_len = (size_t)(o - *out) + strlen(p);
	free(text);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The messages                                                              */
/* ------------------------------------------------------------------------ */

enum rb_kind { K_R01, K_R40, K_VTP, K__COUNT };
static const char *const kind_names[K__COUNT] = {"ORU^R01", "ORU^R40", "VTP"};

struct rb_inputs {
	struct rule_input in[RB_INPUTS];
	uint8_t *frame[RB_INPUTS];
	struct rule_obs *obs[RB_INPUTS];
	uint8_t kind[RB_INPUTS]; /* enum rb_kind */
	unsigned per_kind[K__COUNT];
	unsigned v6, outside, training;
	uint64_t bytes; /* of the scanned payloads */
};

struct wbuf {
	char *p;
	size_t len, room;
	bool over;
};

__attribute__((format(printf, 2, 3))) static void
w_printf(struct wbuf *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(w->p + w->len, w->room - w->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= w->room - w->len)
		w->over = true;
	else
		w->len += (size_t)n;
}

static double
obs_value(struct rb_rng *r, const struct rb_metric *m, bool abnormal)
{
	if (!abnormal)
		return rng_range(r, m->lo, m->hi);
	if (m->ahi <= m->hi || rng_below(r, 2))
		return rng_range(r, m->alo, m->lo);
	return rng_range(r, m->hi, m->ahi);
}

static void
msh(struct wbuf *w, const struct rb_device *d, const char *type, unsigned seq)
{
	w_printf(w,
		 "MSH|^~\\&|%s^%016" PRIX64 "^EUI-64|%s|VIGIL|HOSP|20261127101500+0000||%s|"
		 "MSG%08u|P|2.6|||AL|NE||UNICODE UTF-8|||IHE_PCD_001^IHE "
		 "PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r",
		 models[d->model][0], d->eui, wards[d->ward], type, seq);
}

static void
pid_pv1(struct wbuf *w, const struct rb_device *d, unsigned patient, bool training)
{
	w_printf(w, "PID|||MRN%05u^^^HOSP^MR||%s\rPV1||I|%s^%u^%u\r", patient,
		 training ? "TRAINING^PATIENT" : "DOE^JANE", wards[d->ward], d->room, d->bed);
}

/* A PCD-01 ORU^R01: MDS row and ten metrics, in an MLLP block. Training
 * monitors simulate alarms: their values are all abnormal. */
static size_t
build_r01(struct rb_rng *r, const struct rb_device *d, unsigned seq, unsigned patient,
	  bool training, char *buf, size_t room)
{
	struct wbuf w = {buf, 0, room, false};

	w_printf(&w, "\x0b");
	msh(&w, d, "ORU^R01^ORU_R01", seq);
	pid_pv1(&w, d, patient, training);
	w_printf(&w,
		 "OBR|1||RPT%u^%s^%016" PRIX64 "^EUI-64|182777000^monitoring of patient^SCT|||"
		 "20261127101500+0000\r"
		 "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||"
		 "%016" PRIX64 "^EUI-64\r",
		 seq, models[d->model][0], d->eui, d->eui);
	for (unsigned i = 0; i < N_METRICS; i++) {
		const struct rb_metric *m = &metrics[i];
		double v = obs_value(r, m, training || rng_below(r, 100) < 6);
		char s[16];

		fmt_value(s, sizeof(s), m, v);
		w_printf(&w, "OBX|%u|NM|%u^%s^MDC|1.0.1.%u|%s|%u^%s^MDC|||||R\r", i + 2, m->code,
			 m->refid, i + 1, s, m->unit, m->unit_refid);
	}
	w_printf(&w, "\x1c\r");
	return w.over ? 0 : w.len;
}

/* A PCD-04 ORU^R40: one alarm, its source value and its facets. */
static size_t
build_r40(struct rb_rng *r, const struct rb_device *d, unsigned seq, unsigned patient,
	  bool training, char *buf, size_t room)
{
	const struct rb_event *e = &events[rng_below(r, N_EVENTS)];
	const struct rb_metric *m = &metrics[e->metric];
	bool end = rng_below(r, 3) == 0;
	char v[16];

	struct wbuf w = {buf, 0, room, false};

	fmt_value(v, sizeof(v), m, obs_value(r, m, true));
	w_printf(&w, "\x0b");
	msh(&w, d, "ORU^R40^ORU_R40", seq);
	pid_pv1(&w, d, patient, training);
	w_printf(&w,
		 "OBR|1|%u^%016" PRIX64 "^EUI-64|%u^%016" PRIX64
		 "^EUI-64|196616^MDC_EVT_ALARM^MDC|||"
		 "20261127101458+0000\r"
		 "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||"
		 "%016" PRIX64 "^EUI-64\r"
		 "OBX|2|ST|%u^%s^MDC|1.2.1.%u.1|%s|||%c~%s~%s|||F|||20261127101457+0000\r"
		 "OBX|3|NM|%u^%s^MDC|1.2.1.%u.2|%s|%u^%s^MDC|%.0f-%.0f|%c|||F\r"
		 "OBX|4|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.2.1.%u.3|%s||||||F\r"
		 "OBX|5|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.2.1.%u.4|%s||||||F\r"
		 "OBX|6|ST|68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC|1.2.1.%u.5|enabled||||||F\r"
		 "OBX|7|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|1.2.1.%u.6|%s||||||F\r"
		 "OBX|8|ST|68485^MDC_ATTR_ALERT_TYPE^MDC|1.2.1.%u.7|%s||||||F\r",
		 seq, d->eui, seq, d->eui, d->eui, e->code, e->refid, m->code, e->text,
		 e->type[1] == 'T' ? 'A' : 'H', e->prio, e->type, m->code, m->refid, m->code, v,
		 m->unit, m->unit_refid, m->lo, m->hi, e->type[1] == 'T' ? 'A' : 'H', m->code,
		 end ? "end" : "start", m->code, end ? "inactive" : "active", m->code, m->code,
		 e->prio, m->code, e->type);
	w_printf(&w, "\x1c\r");
	return w.over ? 0 : w.len;
}

static int
build_vtp(struct rb_rng *r, const struct rb_device *d, unsigned seq, uint8_t *buf, size_t room)
{
	struct dp_vtp_obs o[N_METRICS];

	for (unsigned i = 0; i < N_METRICS; i++) {
		o[i] = (struct dp_vtp_obs){
			.code = metrics[i].code,
			.unit = metrics[i].unit,
			.value = obs_value(r, &metrics[i], rng_below(r, 100) < 6),
			.flags = rng_below(r, 100) == 0 ? DP_VTP_F(TEST) : 0,
		};
	}
	return dp_vtp_encode(buf, room, d->eui, seq, INT64_C(1795860900000000000), o, N_METRICS);
}

struct rb_decode_ctx {
	const uint8_t *frame;
	const struct dp_pkt *pkt;
	struct rule_input *in;
	struct rule_obs *obs;
	enum dp_msg_kind kind;
	unsigned n;
};

static void
on_decoded(void *arg, const struct dp_decoded *d)
{
	struct rb_decode_ctx *c = arg;

	if (c->n++ == 0) {
		c->kind = d->kind;
		dp_rule_input(d, c->frame, c->pkt, c->in, c->obs);
	}
}

static void
inputs_free(struct rb_inputs *s)
{
	for (unsigned i = 0; i < RB_INPUTS; i++) {
		free(s->frame[i]);
		free(s->obs[i]);
	}
	memset(s, 0, sizeof(*s));
}

/* Build, classify and decode the ring: 60% ORU^R01, 15% ORU^R40, 25% VTP. */
static int
inputs_build(struct rb_inputs *s, struct dp_stats *stats, struct dp_decoded *dec)
{
	static struct rule_obs obs[RULE_MAX_OBS];
	struct rb_rng rng = {RB_SEED};
	struct dp_local local;
	uint8_t frame[RB_FRAME_ROOM];
	char payload[RB_FRAME_ROOM];

	memset(&local, 0, sizeof(local));
	memcpy(local.mac, appliance_mac, 6);
	local.n_ipv4 = 1;
	local.ipv4[0] = htonl(RB_APPLIANCE_V4);
	local.n_ipv6 = 1;
	memcpy(local.ipv6[0], appliance_v6, 16);
	local.n_hl7_ports = 1;
	local.hl7_ports[0] = RB_HL7_PORT;
	local.n_vtp_ports = 1;
	local.vtp_ports[0] = RB_VTP_PORT;
	local.udp_checksum = true;

	for (unsigned i = 0; i < RB_INPUTS; i++) {
		unsigned dev = rng_below(&rng, RB_ACTIVE_DEVICES), k = rng_below(&rng, 100);
		enum rb_kind kind = k < 60 ? K_R01 : k < 75 ? K_R40 : K_VTP;
		bool training = kind != K_VTP && rng_below(&rng, 50) == 0;
		uint16_t sport =
			(uint16_t)(rng_below(&rng, 100) == 0 ? 100 + rng_below(&rng, 900)
							     : 32768 + rng_below(&rng, 28000));
		unsigned patient = (dev * 7919u) % 100000u;
		struct rb_decode_ctx ctx = {0};
		struct fr_l2 l2 = {.n_vlan = 0};
		struct rb_device d;
		enum dp_verdict verdict;
		struct dp_pkt pkt;
		size_t plen = 0, len;
		int vlen;

		device_at(dev, &d);
		memcpy(l2.dst, appliance_mac, 6);
		memcpy(l2.src,
		       (const uint8_t[6]){0x02, 0x00, 0x00, 0x01, (uint8_t)(dev >> 8),
					  (uint8_t)dev},
		       6);
		switch (kind) {
		case K_R01:
			plen = build_r01(&rng, &d, i, patient, training, payload, sizeof(payload));
			break;
		case K_R40:
			plen = build_r40(&rng, &d, i, patient, training, payload, sizeof(payload));
			break;
		default:
			vlen = build_vtp(&rng, &d, i, (uint8_t *)payload, sizeof(payload));
			plen = vlen > 0 ? (size_t)vlen : 0;
			break;
		}
		if (plen == 0) {
			fprintf(stderr, "bench rules: cannot build a %s message\n",
				kind_names[kind]);
			return -EINVAL;
		}
		uint16_t dport = kind == K_VTP ? RB_VTP_PORT : RB_HL7_PORT;
		if (d.ip_version == 6)
			len = fr_udp6(frame, sizeof(frame), &l2, d.v6, appliance_v6, sport, dport,
				      payload, plen);
		else
			len = fr_udp4(frame, sizeof(frame), &l2, d.v4, RB_APPLIANCE_V4, sport,
				      dport, payload, plen);
		if (len == 0)
			return -ENOSPC;
		s->frame[i] = malloc(len);
		if (s->frame[i] == NULL)
			return -ENOMEM;
		memcpy(s->frame[i], frame, len);

		verdict = dp_classify(&local, s->frame[i], (uint32_t)len, 0, &pkt);
		ctx = (struct rb_decode_ctx){s->frame[i], &pkt, &s->in[i], obs, DP_MSG_OTHER, 0};
		if (verdict == DP_VERDICT_HL7) {
			dp_mllp_decode(s->frame[i] + pkt.payload_off, pkt.payload_len, stats, dec,
				       on_decoded, &ctx);
		} else if (verdict == DP_VERDICT_VTP &&
			   dp_vtp_decode(s->frame[i] + pkt.payload_off, pkt.payload_len, NULL,
					 stats, dec) == 0) {
			on_decoded(&ctx, dec);
		}
		enum dp_msg_kind want = kind == K_R01	? DP_MSG_ORU_R01
					: kind == K_R40 ? DP_MSG_ORU_R40
							: DP_MSG_VTP;
		unsigned want_obs = kind == K_R40 ? 0 : N_METRICS;
		if (ctx.n != 1 || ctx.kind != want || s->in[i].n_obs < want_obs) {
			fprintf(stderr,
				"bench rules: input %u (%s) did not decode as built (verdict %d, "
				"%u messages, %u observations)\n",
				i, kind_names[kind], (int)verdict, ctx.n, s->in[i].n_obs);
			return -EPROTO;
		}
		/* Each input keeps its own observations; the ring is not one
		 * scratch array reused, as a worker's would be. */
		unsigned n_obs = s->in[i].n_obs < RULE_MAX_OBS ? s->in[i].n_obs : RULE_MAX_OBS;
		s->obs[i] = malloc((n_obs ? n_obs : 1) * sizeof(*obs));
		if (s->obs[i] == NULL)
			return -ENOMEM;
		memcpy(s->obs[i], obs, n_obs * sizeof(*obs));
		s->in[i].obs = s->obs[i];
		s->in[i].first = true; /* one message per datagram */
		s->in[i].malformed = false;
		s->kind[i] = (uint8_t)kind;
		s->per_kind[kind]++;
		s->v6 += d.ip_version == 6;
		s->outside += d.ip_version == 4 && (d.v4 >> 16) == 0x0a63;
		s->training += training;
		s->bytes += s->in[i].len;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Timing: the TSC and a log-linear histogram                                */
/* ------------------------------------------------------------------------ */

/*
 * The reads are fenced so that the call between them is neither started
 * before the first nor still running at the second (lfence; rdtsc ...
 * rdtscp; lfence, as Intel's note on benchmarking code advises; Linux makes
 * lfence dispatch-serialising on AMD too).
 */
static inline uint64_t
tsc_begin(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint64_t t;

	_mm_lfence();
	t = __rdtsc();
	_mm_lfence();
	return t;
#else
	return rte_rdtsc_precise();
#endif
}

static inline uint64_t
tsc_end(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned aux;
	uint64_t t = __rdtscp(&aux);

	_mm_lfence();
	return t;
#else
	return rte_rdtsc_precise();
#endif
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(const double *v, unsigned n)
{
	double s[BENCH_MAX_RUNS];

	if (n == 0)
		return NAN;
	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* TSC ticks per second against CLOCK_MONOTONIC: the median of three. */
static double
tsc_hz(unsigned ms)
{
	double hz[3];

	for (unsigned i = 0; i < 3; i++) {
		struct timespec pause = {0, (long)ms * 1000000L};
		double t0 = now_ns();
		uint64_t c0 = tsc_begin();

		nanosleep(&pause, NULL);
		uint64_t c1 = tsc_end();
		double t1 = now_ns();

		hz[i] = (double)(c1 - c0) * 1e9 / (t1 - t0);
	}
	return median(hz, 3);
}

/*
 * Exact below 256 ticks; above, each power of two in 128 buckets (at most
 * 0.8% wide: 32 ticks, about 11 ns at 3 GHz, for a 2 us decision). Up to
 * 2^40 ticks; anything longer lands in the last bucket.
 */
#define H_LINEAR 256u
#define H_SUB 128u
#define H_GROUPS 32u
#define H_BUCKETS (H_LINEAR + H_GROUPS * H_SUB)

struct hist {
	uint64_t n, sum, min, max;
	uint64_t b[H_BUCKETS];
	uint64_t input[RB_INPUTS]; /* ticks per input of the ring, for the means by kind */
};

static inline unsigned
hist_index(uint64_t v)
{
	unsigned k, g;

	if (v < H_LINEAR)
		return (unsigned)v;
	k = 63u - (unsigned)__builtin_clzll(v); /* >= 8 */
	g = k - 7;
	if (g > H_GROUPS)
		return H_BUCKETS - 1;
	return H_LINEAR + (g - 1) * H_SUB + (unsigned)(v >> g) - H_SUB;
}

static double
hist_value(unsigned idx)
{
	unsigned g, j;

	if (idx < H_LINEAR)
		return idx;
	g = (idx - H_LINEAR) / H_SUB + 1;
	j = (idx - H_LINEAR) % H_SUB;
	return (double)((uint64_t)(H_SUB + j) << g) + (double)((UINT64_C(1) << g) - 1) / 2;
}

static inline void
hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_index(v)]++;
	h->n++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

static void
hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

/* The tick count at quantile @q: the middle of the bucket the rank falls in. */
static double
hist_quantile(const struct hist *h, double q)
{
	uint64_t rank = (uint64_t)ceil(q * (double)h->n), seen = 0;

	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < H_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			return hist_value(i);
	}
	return (double)h->max;
}

/* One histogram's figures, in ns. */
struct lat {
	double p50, p99, p999, mean, max;
};

static void
hist_lat(const struct hist *h, double hz, struct lat *l)
{
	double ns = 1e9 / hz;

	l->p50 = hist_quantile(h, 0.5) * ns;
	l->p99 = hist_quantile(h, 0.99) * ns;
	l->p999 = hist_quantile(h, 0.999) * ns;
	l->mean = h->n ? (double)h->sum / (double)h->n * ns : NAN;
	l->max = (double)h->max * ns;
}

/* The mean ns of the calls on each kind of message (the loops go round the
 * ring in order, so input i had n / RB_INPUTS calls, one more if i < n % RB_INPUTS). */
static void
hist_kind_means(const struct hist *h, const uint8_t *kind, double hz, double out[K__COUNT])
{
	uint64_t ticks[K__COUNT] = {0}, calls[K__COUNT] = {0};

	for (unsigned i = 0; i < RB_INPUTS; i++) {
		ticks[kind[i]] += h->input[i];
		calls[kind[i]] += h->n / RB_INPUTS + (i < h->n % RB_INPUTS);
	}
	for (unsigned k = 0; k < K__COUNT; k++)
		out[k] = calls[k] ? (double)ticks[k] / (double)calls[k] * 1e9 / hz : NAN;
}

/* ------------------------------------------------------------------------ */
/* The timed loops (out of line, so callgrind can count each alone)          */
/* ------------------------------------------------------------------------ */

static struct rule_hit hits[DP_RULE_HITS_MAX];

/*
 * rule_eval over the ring, @p iterations times or until @p budget_ns has
 * passed (checked every ring pass, outside the timed calls); the number of
 * calls made goes to @p done.
 */
__attribute__((noinline)) static uint64_t
rules_eval_loop(const struct rule_set *set, struct rule_scratch *s, const struct rule_input *in,
		unsigned long iterations, double budget_ns, _Atomic uint64_t *counters,
		struct hist *h, unsigned long *done)
{
	double start = now_ns();
	uint64_t n_hits = 0;
	unsigned k = 0;
	unsigned long it;

	for (it = 0; it < iterations; it++) {
		uint64_t t0, t1;
		unsigned n;

		if (k == 0 && it > 0 && now_ns() - start > budget_ns)
			break;
		t0 = tsc_begin();
		n = rule_eval(set, s, &in[k], hits, DP_RULE_HITS_MAX, counters);
		t1 = tsc_end();
		hist_add(h, t1 - t0);
		h->input[k] += t1 - t0;
		n_hits += n;
		if (++k == RB_INPUTS)
			k = 0;
	}
	*done = it;
	return n_hits;
}

static int
scan_noop(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
	  void *ctx)
{
	(void)id;
	(void)from;
	(void)to;
	(void)flags;
	(void)ctx;
	return 0;
}

__attribute__((noinline)) static unsigned long
rules_scan_loop(const hs_database_t *db, hs_scratch_t *scratch, const struct rule_input *in,
		unsigned long iterations, struct hist *h)
{
	unsigned long errors = 0;
	unsigned k = 0;

	for (unsigned long it = 0; it < iterations; it++) {
		uint64_t t0, t1;
		hs_error_t err;

		t0 = tsc_begin();
		err = hs_scan(db, (const char *)in[k].payload, (unsigned)in[k].len, 0, scratch,
			      scan_noop, NULL);
		t1 = tsc_end();
		hist_add(h, t1 - t0);
		h->input[k] += t1 - t0;
		errors += err != HS_SUCCESS;
		if (++k == RB_INPUTS)
			k = 0;
	}
	return errors;
}

__attribute__((noinline)) static void
rules_tsc_loop(unsigned long iterations, struct hist *h)
{
	for (unsigned long it = 0; it < iterations; it++) {
		uint64_t t0, t1;

		t0 = tsc_begin();
		__asm__ volatile("" ::: "memory");
		t1 = tsc_end();
		hist_add(h, t1 - t0);
	}
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */
/* ------------------------------------------------------------------------ */

static int
load(const struct rule_source *src, const char *cache_dir, struct rule_set **out, double *wall_ns)
{
	struct rule_load_opts lo = {
		.sources = src,
		.n_sources = 1,
		.vars = rb_vars,
		.n_vars = sizeof(rb_vars) / sizeof(rb_vars[0]),
		.cache_dir = cache_dir,
	};
	struct rule_diags dg = {0};
	double t0 = now_ns();
	int rc = rule_set_load(&lo, out, &dg);

	*wall_ns = now_ns() - t0;
	if (rc == 0 && dg.n_warnings > 0) {
		/* The generator writes rules that can all fire: a warning is its bug. */
		rule_set_free(*out);
		*out = NULL;
		rc = -EINVAL;
	}
	if (rc != 0) {
		fprintf(stderr, "bench rules: rule_set_load: %s\n", strerror(-rc));
		rule_diags_print(&dg, stderr);
	}
	rule_diags_free(&dg);
	return rc;
}

static void
rm_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	rmdir(path);
}

static int
make_cache_dir(char *path, size_t room)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(path, room, "%s/vigil-bench-rules.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(path) == NULL) {
		int rc = -errno;

		fprintf(stderr, "bench rules: mkdtemp %s: %s\n", path, strerror(errno));
		return rc;
	}
	return 0;
}

/* The baselines: every option as its own expression, or each distinct one once. */
enum rb_base { B_ALL, B_DISTINCT, B__COUNT };
static const char *const base_names[B__COUNT] = {"hs_scan", "hs_scan dist"};

static int
cmp_expr(const void *a, const void *b)
{
	const struct rb_expr *x = *(const struct rb_expr *const *)a;
	const struct rb_expr *y = *(const struct rb_expr *const *)b;
	int c = strcmp(x->expr, y->expr);

	if (c != 0)
		return c;
	if (x->flags != y->flags)
		return x->flags < y->flags ? -1 : 1;
	if (x->min_offset != y->min_offset)
		return x->min_offset < y->min_offset ? -1 : 1;
	if (x->max_offset != y->max_offset)
		return x->max_offset < y->max_offset ? -1 : 1;
	return 0;
}

/*
 * A baseline database from the rules' expressions, compiled here with the
 * same flags and offsets rule_private.h says the rules use. B_DISTINCT
 * keeps one of each distinct (expression, flags, offsets): what a compiler
 * that shares identical patterns between rules would build.
 */
static int
compile_baseline(const struct rb_gen *g, enum rb_base which, hs_database_t **db, unsigned *n_out,
		 double *ns)
{
	const struct rb_expr **sorted = calloc(g->n_ex, sizeof(*sorted));
	const char **expr = calloc(g->n_ex, sizeof(*expr));
	unsigned *flags = calloc(g->n_ex, sizeof(*flags));
	unsigned *ids = calloc(g->n_ex, sizeof(*ids));
	hs_expr_ext_t *ext = calloc(g->n_ex, sizeof(*ext));
	const hs_expr_ext_t **extp = calloc(g->n_ex, sizeof(*extp));
	hs_compile_error_t *cerr = NULL;
	unsigned n = 0;
	double t0;
	int rc = 0;

	if (!sorted || !expr || !flags || !ids || !ext || !extp) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < g->n_ex; i++)
		sorted[i] = &g->ex[i];
	if (which == B_DISTINCT)
		qsort(sorted, g->n_ex, sizeof(*sorted), cmp_expr);
	for (unsigned i = 0; i < g->n_ex; i++) {
		const struct rb_expr *e = sorted[i];

		if (which == B_DISTINCT && n > 0 && cmp_expr(&sorted[i], &sorted[i - 1]) == 0)
			continue;
		expr[n] = e->expr;
		flags[n] = e->flags;
		ids[n] = n;
		if (e->min_offset) {
			ext[n].flags |= HS_EXT_FLAG_MIN_OFFSET;
			ext[n].min_offset = e->min_offset;
		}
		if (e->max_offset) {
			ext[n].flags |= HS_EXT_FLAG_MAX_OFFSET;
			ext[n].max_offset = e->max_offset;
		}
		extp[n] = ext[n].flags ? &ext[n] : NULL;
		n++;
	}
	t0 = now_ns();
	if (hs_compile_ext_multi(expr, flags, ids, extp, n, HS_MODE_BLOCK, NULL, db, &cerr) !=
	    HS_SUCCESS) {
		fprintf(stderr, "bench rules: hs_compile_ext_multi: expression %d: %s\n",
			cerr ? cerr->expression : -1, cerr ? cerr->message : "?");
		hs_free_compile_error(cerr);
		rc = -EPROTO;
		goto out;
	}
	*ns = now_ns() - t0;
	*n_out = n;
out:
	free(sorted);
	free(expr);
	free(flags);
	free(ids);
	free(ext);
	free(extp);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* One ruleset: load, check, time                                            */
/* ------------------------------------------------------------------------ */

struct rb_result {
	unsigned n;
	unsigned family[F__COUNT];
	unsigned with_location, with_address_list;
	unsigned n_expr;
	struct rule_set_info info; /* of the set timed */
	size_t text_bytes;
	/* load, per run, ms */
	double parse_ms[BENCH_MAX_RUNS], compile_ms[BENCH_MAX_RUNS], miss_ms[BENCH_MAX_RUNS];
	double hit_load_ms[BENCH_MAX_RUNS], hit_ms[BENCH_MAX_RUNS], hit_wall_ms[BENCH_MAX_RUNS];
	/* the baselines' databases */
	unsigned base_expr[B__COUNT];
	double base_compile_ms[B__COUNT];
	size_t base_db_bytes[B__COUNT];
	/* what the rules do with the ring (one untimed pass) */
	unsigned inputs_hit, inputs_pattern;
	uint64_t hits, alerts, logs, passed, pattern_matches;
	/* decision time per run, ns, and how many decisions each run timed */
	double decisions[BENCH_MAX_RUNS];
	double kind_eval[K__COUNT][BENCH_MAX_RUNS], kind_scan[B__COUNT][K__COUNT][BENCH_MAX_RUNS];
	struct lat eval[BENCH_MAX_RUNS], scan[B__COUNT][BENCH_MAX_RUNS], tsc[BENCH_MAX_RUNS];
};

static int
count_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
	    void *ctx)
{
	(void)id;
	(void)from;
	(void)to;
	(void)flags;
	++*(uint64_t *)ctx;
	return 0;
}

/* Load the set @p runs times each way; the last cache hit's set is kept. */
static int
bench_load(const struct rb_gen *g, unsigned runs, struct rb_result *res, struct rule_set **keep)
{
	struct rule_source src = {"bench-rules", g->text.p, g->text.len};
	int rc = 0;

	for (unsigned r = 0; r < runs; r++) {
		struct rule_set *miss = NULL, *hit = NULL;
		char dir[512];
		double wall;
		const struct rule_set_info *mi, *hi;

		rc = make_cache_dir(dir, sizeof(dir));
		if (rc != 0)
			return rc;
		rc = load(&src, dir, &miss, &wall);
		if (rc != 0)
			goto next;
		rc = load(&src, dir, &hit, &wall);
		if (rc != 0)
			goto next;
		mi = rule_set_info(miss);
		hi = rule_set_info(hit);
		if (mi->cache != RULE_CACHE_MISS || hi->cache != RULE_CACHE_HIT) {
			fprintf(stderr,
				"bench rules: %u rules: the first load's cache result is %d, the "
				"second's %d (want a miss, then a hit): %s %s\n",
				g->n_rules, (int)mi->cache, (int)hi->cache, mi->cache_note,
				hi->cache_note);
			rc = -EPROTO;
			goto next;
		}
		res->parse_ms[r] = (double)mi->parse_ns / 1e6;
		res->compile_ms[r] = (double)mi->compile_ns / 1e6;
		res->miss_ms[r] = (double)mi->total_ns / 1e6;
		res->hit_load_ms[r] = (double)hi->cache_load_ns / 1e6;
		res->hit_ms[r] = (double)hi->total_ns / 1e6;
		res->hit_wall_ms[r] = wall / 1e6;
		res->info = *hi;
		if (*keep)
			rule_set_free(*keep);
		*keep = hit;
		hit = NULL;
next:
		rule_set_free(miss);
		rule_set_free(hit);
		rm_dir(dir);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* One untimed pass over the ring: what the rules and the scan find. */
static int
bench_check(const struct rule_set *set, struct rule_scratch *rs, const hs_database_t *db,
	    hs_scratch_t *hs, const struct rb_inputs *s, struct rb_result *res)
{
	_Atomic uint64_t cnt[RULE_CNT__COUNT] = {0};

	for (unsigned i = 0; i < RB_INPUTS; i++) {
		uint64_t m = 0;
		unsigned n = rule_eval(set, rs, &s->in[i], hits, DP_RULE_HITS_MAX, cnt);

		res->hits += n;
		res->inputs_hit += n > 0;
		if (hs_scan(db, (const char *)s->in[i].payload, (unsigned)s->in[i].len, 0, hs,
			    count_match, &m) != HS_SUCCESS) {
			fprintf(stderr, "bench rules: the baseline scan failed on input %u\n", i);
			return -EPROTO;
		}
		res->pattern_matches += m;
		res->inputs_pattern += m > 0;
	}
	res->alerts = cnt[RULE_CNT_alerts];
	res->logs = cnt[RULE_CNT_logs];
	res->passed = cnt[RULE_CNT_passed];
	if (cnt[RULE_CNT_messages] != RB_INPUTS || cnt[RULE_CNT_scan_errors] != 0 ||
	    cnt[RULE_CNT_hits_overflow] != 0 || res->hits != res->alerts + res->logs) {
		fprintf(stderr,
			"bench rules: %u rules: counters messages %" PRIu64 ", scan_errors %" PRIu64
			", hits_overflow %" PRIu64 ", alerts+logs %" PRIu64 " vs %" PRIu64
			" hits returned\n",
			res->n, (uint64_t)cnt[RULE_CNT_messages],
			(uint64_t)cnt[RULE_CNT_scan_errors], (uint64_t)cnt[RULE_CNT_hits_overflow],
			res->alerts + res->logs, res->hits);
		return -EPROTO;
	}
	/* The core rules alone hit the ring's alarms, low SpO2 and outside
	 * senders, and the training pass rule suppresses what its messages
	 * raise: no hits, or nothing suppressed, means the evaluator is broken. */
	if (res->inputs_hit == 0 || res->passed == 0 || res->inputs_pattern == 0) {
		fprintf(stderr,
			"bench rules: %u rules: %u of %u inputs hit, %" PRIu64
			" hits suppressed by pass rules, %u inputs matched a pattern: expected "
			"some of each\n",
			res->n, res->inputs_hit, RB_INPUTS, res->passed, res->inputs_pattern);
		return -EPROTO;
	}
	return 0;
}

static int
bench_one(unsigned n, const struct bench_rules_opts *o, const struct rb_inputs *s, double hz,
	  struct rb_result *res)
{
	static struct hist h;
	struct rb_gen g;
	struct rule_set *set = NULL;
	struct rule_scratch *rs = NULL;
	hs_database_t *db[B__COUNT] = {NULL};
	hs_scratch_t *hs[B__COUNT] = {NULL};
	_Atomic uint64_t cnt[RULE_CNT__COUNT] = {0};
	unsigned long warm = o->iterations < RB_INPUTS ? o->iterations : RB_INPUTS, done = 0;
	double budget = o->smoke ? RB_SMOKE_BUDGET_NS : RB_BUDGET_NS, means[K__COUNT];
	int rc;

	rc = gen_rules(n, &g);
	if (rc != 0)
		return rc;
	res->n = g.n_rules;
	memcpy(res->family, g.family, sizeof(res->family));
	res->with_location = g.with_location;
	res->with_address_list = g.with_address_list;
	res->n_expr = g.n_ex;
	res->text_bytes = g.text.len;

	rc = bench_load(&g, o->runs, res, &set);
	if (rc != 0)
		goto out;
	if (res->info.n_rules != g.n_rules || res->info.n_disabled != 0) {
		fprintf(stderr, "bench rules: the set has %u rules (%u disabled), generated %u\n",
			res->info.n_rules, res->info.n_disabled, g.n_rules);
		rc = -EPROTO;
		goto out;
	}
	for (unsigned b = 0; b < B__COUNT; b++) {
		double ns = 0;

		rc = compile_baseline(&g, b, &db[b], &res->base_expr[b], &ns);
		if (rc != 0)
			goto out;
		res->base_compile_ms[b] = ns / 1e6;
		if (hs_database_size(db[b], &res->base_db_bytes[b]) != HS_SUCCESS ||
		    hs_alloc_scratch(db[b], &hs[b]) != HS_SUCCESS) {
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = rule_scratch_new(set, &rs);
	if (rc != 0)
		goto out;
	rc = bench_check(set, rs, db[B_DISTINCT], hs[B_DISTINCT], s, res);
	if (rc != 0)
		goto out;

	/* Warm the caches and predictors, then the timed runs: each times the
	 * evaluator, the scans alone and the empty TSC pair over the ring. */
	hist_reset(&h);
	rules_eval_loop(set, rs, s->in, warm, budget, cnt, &h, &done);
	for (unsigned b = 0; b < B__COUNT; b++)
		rules_scan_loop(db[b], hs[b], s->in, warm, &h);
	for (unsigned r = 0; r < o->runs; r++) {
		/* The scans and the TSC pair get as many calls as rule_eval made. */
		hist_reset(&h);
		rules_eval_loop(set, rs, s->in, o->iterations, budget, cnt, &h, &done);
		hist_lat(&h, hz, &res->eval[r]);
		res->decisions[r] = (double)done;
		hist_kind_means(&h, s->kind, hz, means);
		for (unsigned k = 0; k < K__COUNT; k++)
			res->kind_eval[k][r] = means[k];
		for (unsigned b = 0; b < B__COUNT; b++) {
			hist_reset(&h);
			if (rules_scan_loop(db[b], hs[b], s->in, done, &h) != 0) {
				fprintf(stderr,
					"bench rules: hs_scan failed during the baseline\n");
				rc = -EPROTO;
				goto out;
			}
			hist_lat(&h, hz, &res->scan[b][r]);
			hist_kind_means(&h, s->kind, hz, means);
			for (unsigned k = 0; k < K__COUNT; k++)
				res->kind_scan[b][k][r] = means[k];
		}
		hist_reset(&h);
		rules_tsc_loop(done, &h);
		hist_lat(&h, hz, &res->tsc[r]);
		if (!o->json)
			fprintf(stderr,
				"bench rules: %u rules, run %u: %lu decisions, rule_eval p50 %.0f "
				"p99 %.0f p99.9 %.0f ns; hs_scan p50 %.0f p99 %.0f p99.9 %.0f ns\n",
				n, r + 1, done, res->eval[r].p50, res->eval[r].p99,
				res->eval[r].p999, res->scan[B_ALL][r].p50, res->scan[B_ALL][r].p99,
				res->scan[B_ALL][r].p999);
	}
	if (cnt[RULE_CNT_scan_errors] != 0) {
		fprintf(stderr, "bench rules: %" PRIu64 " scan errors while timing\n",
			(uint64_t)cnt[RULE_CNT_scan_errors]);
		rc = -EPROTO;
	}
out:
	rule_scratch_free(rs);
	rule_set_free(set);
	for (unsigned b = 0; b < B__COUNT; b++) {
		hs_free_scratch(hs[b]);
		hs_free_database(db[b]);
	}
	gen_free(&g);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

/* The median over the runs of each figure of a series of struct lat. */
static void
lat_median(const struct lat *per_run, unsigned runs, struct lat *m)
{
	double v[5][BENCH_MAX_RUNS];

	for (unsigned r = 0; r < runs; r++) {
		v[0][r] = per_run[r].p50;
		v[1][r] = per_run[r].p99;
		v[2][r] = per_run[r].p999;
		v[3][r] = per_run[r].mean;
		v[4][r] = per_run[r].max;
	}
	m->p50 = median(v[0], runs);
	m->p99 = median(v[1], runs);
	m->p999 = median(v[2], runs);
	m->mean = median(v[3], runs);
	m->max = median(v[4], runs);
}

struct lat_med {
	struct lat eval, scan[B__COUNT], tsc;
};

static void
lat_medians(const struct rb_result *res, unsigned runs, struct lat_med *m)
{
	lat_median(res->eval, runs, &m->eval);
	for (unsigned b = 0; b < B__COUNT; b++)
		lat_median(res->scan[b], runs, &m->scan[b]);
	lat_median(res->tsc, runs, &m->tsc);
}

static const char *
met(bool ok)
{
	return ok ? "met" : "NOT met";
}

static void
print_lat(const char *rules, const char *what, const struct lat *l)
{
	printf("%6s %-13s %8.0f %8.0f %8.0f %8.1f %9.0f\n", rules, what, l->p50, l->p99, l->p999,
	       l->mean, l->max);
}

static void
print_text(const struct bench_rules_opts *o, const struct rb_inputs *s, double hz,
	   const struct rb_result *res, unsigned n_res)
{
	const struct rb_result *big = NULL;

	printf("# %s\n", o->command);
	printf("vigil-bench %s: scenario rules, %u inputs (%u ORU^R01, %u ORU^R40, %u VTP; %u "
	       "from IPv6, %u from outside $MONITOR_NETS, %u training; %.0f bytes scanned on "
	       "average), up to %lu decisions per run (or %.0f s of rule_eval), %u run(s), TSC "
	       "%.3f GHz (against CLOCK_MONOTONIC)\n",
	       VIGIL_VERSION, RB_INPUTS, s->per_kind[K_R01], s->per_kind[K_R40], s->per_kind[K_VTP],
	       s->v6, s->outside, s->training, (double)s->bytes / RB_INPUTS, o->iterations,
	       (o->smoke ? RB_SMOKE_BUDGET_NS : RB_BUDGET_NS) / 1e9, o->runs, hz / 1e9);
	printf("\nrulesets (rules by family; options; the loaded set's database):\n");
	printf("%6s %8s %5s %7s %7s %5s %9s %9s %8s %9s %8s %8s\n", "rules", "content", "pcre",
	       "metric", "header", "pass", "location", "addrlist", "options", "distinct",
	       "patterns", "db KiB");
	for (unsigned i = 0; i < n_res; i++) {
		const struct rb_result *r = &res[i];

		printf("%6u %8u %5u %7u %7u %5u %9u %9u %8u %9u %8u %8.1f\n", r->n,
		       r->family[F_CONTENT], r->family[F_PCRE], r->family[F_METRIC],
		       r->family[F_HEADER], r->family[F_PASS], r->with_location,
		       r->with_address_list, r->n_expr, r->base_expr[B_DISTINCT],
		       r->info.n_patterns, (double)r->info.db_bytes / 1024);
	}
	printf("\nwhat the rules do with the ring (one pass over the %u inputs):\n", RB_INPUTS);
	printf("%6s %12s %10s %8s %8s %8s %14s %12s\n", "rules", "inputs hit", "hits/input",
	       "alerts", "logs", "passed", "inputs w/ pat", "pats/input");
	for (unsigned i = 0; i < n_res; i++) {
		const struct rb_result *r = &res[i];

		printf("%6u %6u (%2.0f%%) %10.2f %8" PRIu64 " %8" PRIu64 " %8" PRIu64
		       " %7u (%2.0f%%) %12.2f\n",
		       r->n, r->inputs_hit, 100.0 * r->inputs_hit / RB_INPUTS,
		       (double)r->hits / RB_INPUTS, r->alerts, r->logs, r->passed,
		       r->inputs_pattern, 100.0 * r->inputs_pattern / RB_INPUTS,
		       (double)r->pattern_matches / RB_INPUTS);
	}
	printf("\nload (ms, median of %u; miss: into an empty cache directory, hit: the same "
	       "again):\n",
	       o->runs);
	printf("%6s %8s %9s %10s %10s %9s %9s %11s %11s\n", "rules", "parse", "compile",
	       "miss total", "cache load", "hit total", "hit wall", "hs compile", "hs dist");
	for (unsigned i = 0; i < n_res; i++) {
		const struct rb_result *r = &res[i];

		printf("%6u %8.2f %9.2f %10.2f %10.2f %9.2f %9.2f %11.2f %11.2f\n", r->n,
		       median(r->parse_ms, o->runs), median(r->compile_ms, o->runs),
		       median(r->miss_ms, o->runs), median(r->hit_load_ms, o->runs),
		       median(r->hit_ms, o->runs), median(r->hit_wall_ms, o->runs),
		       r->base_compile_ms[B_ALL], r->base_compile_ms[B_DISTINCT]);
	}
	printf("  hs compile / hs dist: this tool's own hs_compile_ext_multi of every option's "
	       "expression / of the distinct ones, once\n");
	printf("\ndecision time per message (ns; each figure the median over %u runs; hs_scan: "
	       "every option's expression, hs_scan dist: the distinct ones):\n",
	       o->runs);
	printf("%6s %-13s %8s %8s %8s %8s %9s\n", "rules", "what", "p50", "p99", "p99.9", "mean",
	       "max");
	for (unsigned i = 0; i < n_res; i++) {
		struct lat_med m;
		char n[16];

		lat_medians(&res[i], o->runs, &m);
		snprintf(n, sizeof(n), "%u", res[i].n);
		print_lat(n, "rule_eval", &m.eval);
		printf("%6s (%.0f decisions per run, median)\n", "",
		       median(res[i].decisions, o->runs));
		for (unsigned b = 0; b < B__COUNT; b++)
			print_lat("", base_names[b], &m.scan[b]);
		print_lat("", "tsc pair", &m.tsc);
		printf("%6s ratio rule_eval/hs_scan: p50 %.2f, p99 %.2f; rule_eval/hs_scan dist: "
		       "p50 %.2f, p99 %.2f\n",
		       "", m.eval.p50 / m.scan[B_ALL].p50, m.eval.p99 / m.scan[B_ALL].p99,
		       m.eval.p50 / m.scan[B_DISTINCT].p50, m.eval.p99 / m.scan[B_DISTINCT].p99);
		if (res[i].n == 10000)
			big = &res[i];
	}
	printf("\nmean per message kind (ns, median over %u runs):\n", o->runs);
	printf("%6s %-13s %9s %9s %9s\n", "rules", "what", kind_names[K_R01], kind_names[K_R40],
	       kind_names[K_VTP]);
	for (unsigned i = 0; i < n_res; i++) {
		char n[16];

		snprintf(n, sizeof(n), "%u", res[i].n);
		printf("%6s %-13s %9.0f %9.0f %9.0f\n", n, "rule_eval",
		       median(res[i].kind_eval[K_R01], o->runs),
		       median(res[i].kind_eval[K_R40], o->runs),
		       median(res[i].kind_eval[K_VTP], o->runs));
		for (unsigned b = 0; b < B__COUNT; b++)
			printf("%6s %-13s %9.0f %9.0f %9.0f\n", "", base_names[b],
			       median(res[i].kind_scan[b][K_R01], o->runs),
			       median(res[i].kind_scan[b][K_R40], o->runs),
			       median(res[i].kind_scan[b][K_VTP], o->runs));
	}
	if (big != NULL) {
		struct lat_med m;
		double hit = median(big->hit_ms, o->runs);

		lat_medians(big, o->runs, &m);
		printf("\ntargets (10,000 rules, one core):\n");
		printf("  rule_eval p99 %.0f ns < 1000 ns: %s\n", m.eval.p99,
		       met(m.eval.p99 < 1000));
		printf("  rule_eval p99.9 %.0f ns < 2000 ns: %s\n", m.eval.p999,
		       met(m.eval.p999 < 2000));
		printf("  load from the cache %.1f ms < 1000 ms: %s\n", hit, met(hit < 1000));
	}
	printf("checks: every load compiled on a miss and came from the cache on a hit; every "
	       "set hit and passed\n");
}

static void
json_lat(const char *name, const struct lat *l)
{
	printf("\"%s\":{\"p50\":%.1f,\"p99\":%.1f,\"p99_9\":%.1f,\"mean\":%.2f,\"max\":%.1f}", name,
	       l->p50, l->p99, l->p999, l->mean, l->max);
}

static void
print_json(const struct bench_rules_opts *o, const struct rb_inputs *s, double hz,
	   const struct rb_result *res, unsigned n_res)
{
	printf("{\"command\":\"");
	for (const char *p = o->command; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			printf("\\u%04x", (unsigned char)*p);
		else
			putchar(*p);
	}
	printf("\",\"version\":\"%s\",\"scenario\":\"rules\",\"inputs\":%u,\"oru_r01\":%u,"
	       "\"oru_r40\":%u,\"vtp\":%u,\"ipv6\":%u,\"outside\":%u,\"training\":%u,"
	       "\"bytes_scanned_mean\":%.1f,\"max_decisions_per_run\":%lu,\"runs\":%u,"
	       "\"tsc_hz\":%.0f,\"sets\":[",
	       VIGIL_VERSION, RB_INPUTS, s->per_kind[K_R01], s->per_kind[K_R40], s->per_kind[K_VTP],
	       s->v6, s->outside, s->training, (double)s->bytes / RB_INPUTS, o->iterations, o->runs,
	       hz);
	for (unsigned i = 0; i < n_res; i++) {
		const struct rb_result *r = &res[i];
		struct lat_med m;

		lat_medians(r, o->runs, &m);
		printf("%s{\"rules\":%u,\"decisions_per_run\":%.0f,\"mix\":{", i ? "," : "", r->n,
		       median(r->decisions, o->runs));
		for (unsigned f = 0; f < F__COUNT; f++)
			printf("%s\"%s\":%u", f ? "," : "", family_names[f], r->family[f]);
		printf("},\"with_location\":%u,\"with_address_list\":%u,\"options\":%u,"
		       "\"distinct_expressions\":%u,\"patterns\":%u,\"header_classes\":%u,"
		       "\"db_bytes\":%zu,\"scratch_bytes\":%zu,\"inputs_hit\":%u,\"hits\":%" PRIu64
		       ",\"alerts\":%" PRIu64 ",\"logs\":%" PRIu64 ",\"passed\":%" PRIu64
		       ",\"inputs_with_pattern\":%u,\"pattern_matches\":%" PRIu64 ","
		       "\"load_ms\":{\"parse\":%.3f,\"compile\":%.3f,\"miss_total\":%.3f,"
		       "\"cache_load\":%.3f,\"hit_total\":%.3f,\"hit_wall\":%.3f,"
		       "\"baseline_hs_compile\":%.3f,\"baseline_distinct_hs_compile\":%.3f},",
		       r->with_location, r->with_address_list, r->n_expr, r->base_expr[B_DISTINCT],
		       r->info.n_patterns, r->info.n_header_classes, r->info.db_bytes,
		       r->info.scratch_bytes, r->inputs_hit, r->hits, r->alerts, r->logs, r->passed,
		       r->inputs_pattern, r->pattern_matches, median(r->parse_ms, o->runs),
		       median(r->compile_ms, o->runs), median(r->miss_ms, o->runs),
		       median(r->hit_load_ms, o->runs), median(r->hit_ms, o->runs),
		       median(r->hit_wall_ms, o->runs), r->base_compile_ms[B_ALL],
		       r->base_compile_ms[B_DISTINCT]);
		json_lat("rule_eval_ns", &m.eval);
		putchar(',');
		json_lat("hs_scan_ns", &m.scan[B_ALL]);
		putchar(',');
		json_lat("hs_scan_distinct_ns", &m.scan[B_DISTINCT]);
		putchar(',');
		json_lat("tsc_pair_ns", &m.tsc);
		printf(",\"mean_ns_by_kind\":{");
		for (unsigned k = 0; k < K__COUNT; k++)
			printf("%s\"%s\":{\"rule_eval\":%.1f,\"hs_scan\":%.1f,\"hs_scan_distinct\":"
			       "%.1f}",
			       k ? "," : "", kind_names[k], median(r->kind_eval[k], o->runs),
			       median(r->kind_scan[B_ALL][k], o->runs),
			       median(r->kind_scan[B_DISTINCT][k], o->runs));
		printf("}");
		printf(",\"ratio_p50\":%.3f,\"ratio_p99\":%.3f,\"ratio_distinct_p50\":%.3f,"
		       "\"ratio_distinct_p99\":%.3f}",
		       m.eval.p50 / m.scan[B_ALL].p50, m.eval.p99 / m.scan[B_ALL].p99,
		       m.eval.p50 / m.scan[B_DISTINCT].p50, m.eval.p99 / m.scan[B_DISTINCT].p99);
	}
	printf("]}\n");
}

/* ------------------------------------------------------------------------ */
/* The scenario                                                              */
/* ------------------------------------------------------------------------ */

int
bench_rules(const struct bench_rules_opts *o)
{
	struct rb_inputs *s = calloc(1, sizeof(*s));
	struct rb_result *res = calloc(o->n_counts, sizeof(*res));
	struct dp_decoded *dec = malloc(sizeof(*dec));
	struct dp_stats *stats = aligned_alloc(64, sizeof(struct dp_stats));
	struct bench_rules_opts opts = *o;
	double hz;
	int rc = 0;

	if (opts.runs > BENCH_MAX_RUNS)
		opts.runs = BENCH_MAX_RUNS;
	if (s == NULL || res == NULL || dec == NULL || stats == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memset(stats, 0, sizeof(*stats));
	hz = tsc_hz(o->smoke ? 20 : 100);
	rc = inputs_build(s, stats, dec);
	if (rc != 0)
		goto out;
	for (unsigned i = 0; i < o->n_counts; i++) {
		rc = bench_one(o->counts[i], &opts, s, hz, &res[i]);
		if (rc != 0)
			goto out;
		if (o->smoke) {
			struct lat m;

			lat_median(res[i].eval, opts.runs, &m);
			if (!(m.p50 < RB_SMOKE_P50_MAX_NS)) {
				fprintf(stderr,
					"bench rules: %u rules: rule_eval p50 %.0f ns, over %.0f "
					"ns\n",
					res[i].n, m.p50, RB_SMOKE_P50_MAX_NS);
				rc = -EPROTO;
				goto out;
			}
		}
	}
	if (o->json)
		print_json(&opts, s, hz, res, o->n_counts);
	else
		print_text(&opts, s, hz, res, o->n_counts);
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = -EIO;
out:
	if (s != NULL)
		inputs_free(s);
	free(s);
	free(res);
	free(dec);
	free(stats);
	return rc;
}
