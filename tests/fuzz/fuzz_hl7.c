/*
 * fuzz_hl7.c - libFuzzer target for the HL7 v2 decoder (dataplane/hl7.c).
 *
 * The input is a UDP payload as a worker hands it over. It goes through
 * three doors, each with the checks that door's contract allows:
 *
 * 1. dp_mllp_decode on the whole input, as the worker calls it: every
 *    decoded message must sit inside one 0x0B ... 0x1C 0x0D frame of the
 *    payload, its spans inside the message, its flags consistent, and the
 *    counters must agree with what was delivered.
 * 2. dp_hl7_decode on the first message (the input without a leading 0x0B,
 *    up to its first 0x1C), copied to a heap buffer of exactly its length
 *    so that AddressSanitizer sees any read past its end (inside a datagram
 *    such a read would land on the 0x1C unseen). The result must equal what
 *    door 1 gave for the same frame, and a rejected message must move
 *    exactly one counter, the one dp_hl7_parse names.
 * 3. dp_hl7_parse and dp_hl7_get over segments, fields, repetitions,
 *    components and sub-components (up to small bounds): each level's
 *    pieces must tile their parent, split at the right delimiter; every
 *    leaf goes through dp_hl7_unescape (into a small and a large buffer,
 *    which must agree) and every component through dp_hl7_time.
 *
 * Everything is allocated and freed per input; nothing is kept between
 * inputs but the invalid-flag mask read once from dataplane.h.
 */
#include <errno.h>
#include <time.h>

#include "fuzz_check.h"

#define MLLP_START 0x0b
#define MLLP_END 0x1c
#define MLLP_END_CR 0x0d

/*
 * How far door 3 walks: every level to these bounds (enough for PCD-01's
 * OBX-3 and OBX-18), and at most WALK_BUDGET dp_hl7_get calls an input, as
 * each call splits the segment again from its start. The walk starts at a
 * segment the input picks, so the budget does not always go to MSH.
 */
#define WALK_FIELDS 20
#define WALK_REPS 3
#define WALK_COMPS 6
#define WALK_SUBS 3
#define WALK_BUDGET 160
#define SMALL_ROOM 5  /* dp_hl7_unescape's output cut short */
#define NM_MAX_LEN 32 /* longest NM text hl7.c reads as a number */

/* Bounds of an HL7 time: year 0000 to 9999, offsets up to 14 hours. */
#define TIME_MIN_S (INT64_C(-62167219200) - 14 * 3600)
#define TIME_MAX_S (INT64_C(253402300799) + 14 * 3600)
#define NS_PER_S INT64_C(1000000000)

static uint32_t invalid_bits;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	invalid_bits = fuzz_obs_invalid_bits();
	FUZZ_CHECK(invalid_bits & DP_OBS(TEST));
	FUZZ_CHECK(invalid_bits & DP_OBS(NO_VALUE));
	FUZZ_CHECK(!(invalid_bits & DP_OBS(QUES)));
	return 0;
}

/* ======================================================================== */
/* Oracles written from the documentation, not from hl7.c                   */
/* ======================================================================== */

/* The 64-bit FNV-1a that names a device without an EUI-64 (hl7.c's comment). */
static uint64_t
fnv1a64(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

/* Exactly 16 hex digits that read as @p v. */
static bool
is_eui64_text(const uint8_t *p, size_t n, uint64_t v)
{
	uint64_t x = 0;

	if (n != 16)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		unsigned h;

		if (c >= '0' && c <= '9')
			h = c - '0';
		else if (c >= 'a' && c <= 'f')
			h = c - 'a' + 10u;
		else if (c >= 'A' && c <= 'F')
			h = c - 'A' + 10u;
		else
			return false;
		x = x << 4 | h;
	}
	return x == v;
}

/* The digit counts a parsed HL7 time can have (dp_hl7_time's format). */
static bool
precision_ok(uint8_t p)
{
	return p == 0 || p == 4 || p == 6 || p == 8 || p == 10 || p == 12 || (p >= 14 && p <= 18);
}

/* A time a message can carry: within years 0000-9999, whole seconds to precision 14. */
static void
check_time_value(int64_t ns, uint8_t precision)
{
	FUZZ_CHECK(precision_ok(precision));
	if (precision == 0)
		return;
	FUZZ_CHECK(ns / NS_PER_S >= TIME_MIN_S && ns / NS_PER_S <= TIME_MAX_S);
	if (precision <= 14)
		FUZZ_CHECK(ns % NS_PER_S == 0);
}

/* The device key and the text it came from: an EUI-64, or the hash of MSH-3. */
static void
check_device(const struct dp_decoded *d, uint64_t device, struct dp_span id, uint32_t flags)
{
	if (flags & DP_OBS(DEVICE_HASHED)) {
		FUZZ_CHECK(id.off == d->sender.off && id.len == d->sender.len);
		FUZZ_CHECK(device == fnv1a64(d->msg + d->sender.off, d->sender.len));
	} else {
		FUZZ_CHECK(is_eui64_text(d->msg + id.off, id.len, device));
	}
}

/* ======================================================================== */
/* What every decoded message must satisfy                                  */
/* ======================================================================== */

static void
check_obs(const struct dp_decoded *d, const struct dp_obs *o)
{
	const size_t len = d->msg_len;

	FUZZ_CHECK(fuzz_span_in(o->patient, len));
	FUZZ_CHECK(fuzz_span_in(o->location, len));
	FUZZ_CHECK(fuzz_span_in(o->device_id, len));
	FUZZ_CHECK(fuzz_span_in(o->obs_id, len));
	FUZZ_CHECK(fuzz_span_in(o->unit_text, len));
	FUZZ_CHECK(fuzz_span_in(o->containment, len));
	FUZZ_CHECK(o->obs_id.len > 0); /* an OBX without OBX-3 is no observation */

	FUZZ_CHECK((o->flags & ~FUZZ_OBS_ALL_BITS) == 0);
	FUZZ_CHECK(!(o->flags & DP_OBS(INVALID)) == !(o->flags & invalid_bits));
	FUZZ_CHECK(!(o->flags & DP_OBS(NO_VALUE)) == !isnan(o->value));
	FUZZ_CHECK(!(o->flags & DP_OBS(CODE_UNKNOWN)) == (o->metric != NULL));
	if (o->metric != NULL)
		FUZZ_CHECK(o->metric == rule_metric_by_code(o->code));
	if (o->unit != 0) {
		FUZZ_CHECK(rule_unit_by_code(o->unit) != NULL);
		FUZZ_CHECK(!(o->flags & DP_OBS(UNIT_UNKNOWN)));
	}

	check_time_value(o->time_ns, o->time_precision);
	if (o->time_precision == 0) {
		FUZZ_CHECK(o->time_ns == 0);
		FUZZ_CHECK(!(o->flags & (DP_OBS(TIME_NO_OFFSET) | DP_OBS(TIME_FROM_MSH))));
	}
	check_device(d, o->device, o->device_id, o->flags);
}

static void
check_alarm(const struct dp_decoded *d, const struct dp_dev_alarm *a)
{
	const uint32_t allowed = DP_OBS(TIME_NO_OFFSET) | DP_OBS(TIME_FROM_MSH) |
				 DP_OBS(DEVICE_HASHED) | DP_OBS(CODE_UNKNOWN) |
				 DP_OBS(CODE_MISMATCH);
	const size_t len = d->msg_len;

	FUZZ_CHECK(fuzz_span_in(a->alarm_id, len));
	FUZZ_CHECK(fuzz_span_in(a->text, len));
	FUZZ_CHECK(fuzz_span_in(a->patient, len));
	FUZZ_CHECK(fuzz_span_in(a->location, len));
	FUZZ_CHECK(fuzz_span_in(a->device_id, len));
	FUZZ_CHECK((a->flags & ~allowed) == 0);
	FUZZ_CHECK(a->phase <= DP_PHASE_DEESCALATE);
	FUZZ_CHECK(a->state <= DP_ASTATE_LATCHED);
	FUZZ_CHECK(a->inactivation <= DP_INACT_ACKNOWLEDGED);
	FUZZ_CHECK(a->priority <= DP_PRIO_HIGH);
	FUZZ_CHECK(a->type <= DP_ATYPE_ADVISORY);
	FUZZ_CHECK(isnan(a->source_value) || isfinite(a->source_value));
	check_device(d, a->device, a->device_id, a->flags);
}

/* A message dp_hl7_decode accepted (it returned 0). */
static void
check_decoded(const struct dp_decoded *d)
{
	FUZZ_CHECK(d->kind == DP_MSG_ORU_R01 || d->kind == DP_MSG_ORU_R40);
	FUZZ_CHECK(d->n_obs <= DP_MAX_OBS);
	FUZZ_CHECK(d->n_alarms <= DP_MAX_DEV_ALARMS);
	/* ORU^R01 gives observations only, ORU^R40 device alarms only. */
	FUZZ_CHECK(d->kind == DP_MSG_ORU_R01 || d->n_obs == 0);
	FUZZ_CHECK(d->kind == DP_MSG_ORU_R40 || d->n_alarms == 0);
	FUZZ_CHECK(fuzz_span_in(d->control_id, d->msg_len));
	FUZZ_CHECK(fuzz_span_in(d->sender, d->msg_len));
	FUZZ_CHECK(d->control_id.len > 0); /* MSH-10 is required (msh_fields) */
	for (unsigned i = 0; i < d->n_obs; i++)
		check_obs(d, &d->obs[i]);
	for (unsigned i = 0; i < d->n_alarms; i++)
		check_alarm(d, &d->alarm[i]);
}

static bool
same_span(struct dp_span a, struct dp_span b)
{
	return a.off == b.off && a.len == b.len;
}

/* Two decodings of the same bytes at different addresses agree field by field. */
static void
check_same_decoded(const struct dp_decoded *a, const struct dp_decoded *b)
{
	FUZZ_CHECK(a->kind == b->kind && a->msg_len == b->msg_len);
	FUZZ_CHECK(same_span(a->control_id, b->control_id) && same_span(a->sender, b->sender));
	FUZZ_CHECK(a->n_obs == b->n_obs && a->n_alarms == b->n_alarms);
	for (unsigned i = 0; i < a->n_obs; i++) {
		const struct dp_obs *x = &a->obs[i], *y = &b->obs[i];

		FUZZ_CHECK(x->device == y->device && x->time_ns == y->time_ns);
		FUZZ_CHECK(fuzz_same_double(x->value, y->value));
		FUZZ_CHECK(x->code == y->code && x->unit == y->unit && x->flags == y->flags);
		FUZZ_CHECK(x->seq == y->seq && x->metric == y->metric);
		FUZZ_CHECK(x->time_precision == y->time_precision && x->status == y->status);
		FUZZ_CHECK(same_span(x->patient, y->patient) &&
			   same_span(x->location, y->location));
		FUZZ_CHECK(same_span(x->device_id, y->device_id) &&
			   same_span(x->obs_id, y->obs_id));
		FUZZ_CHECK(same_span(x->unit_text, y->unit_text) &&
			   same_span(x->containment, y->containment));
	}
	for (unsigned i = 0; i < a->n_alarms; i++) {
		const struct dp_dev_alarm *x = &a->alarm[i], *y = &b->alarm[i];

		FUZZ_CHECK(x->device == y->device && x->time_ns == y->time_ns);
		FUZZ_CHECK(x->event_code == y->event_code && x->source_code == y->source_code);
		FUZZ_CHECK(fuzz_same_double(x->source_value, y->source_value));
		FUZZ_CHECK(x->flags == y->flags && x->phase == y->phase && x->state == y->state);
		FUZZ_CHECK(x->inactivation == y->inactivation && x->priority == y->priority &&
			   x->type == y->type);
		FUZZ_CHECK(same_span(x->alarm_id, y->alarm_id) && same_span(x->text, y->text));
		FUZZ_CHECK(same_span(x->patient, y->patient) &&
			   same_span(x->location, y->location));
		FUZZ_CHECK(same_span(x->device_id, y->device_id));
	}
}

/* ======================================================================== */
/* Door 1: dp_mllp_decode, as the worker calls it                          */
/* ======================================================================== */

struct mllp_seen {
	const uint8_t *payload;
	size_t len;
	unsigned calls;
	uint64_t obs, alarms;
	struct dp_decoded *first; /* a copy of the first message delivered */
	size_t first_off;	  /* its offset in the payload */
};

static void
on_decoded(void *arg, const struct dp_decoded *d)
{
	struct mllp_seen *s = arg;
	size_t off;

	/* Inside one frame: 0x0B before it, 0x1C 0x0D right after, no 0x0B within. */
	FUZZ_CHECK(d->msg > s->payload && d->msg < s->payload + s->len);
	off = (size_t)(d->msg - s->payload);
	FUZZ_CHECK(off + d->msg_len + 2 <= s->len);
	FUZZ_CHECK(d->msg[-1] == MLLP_START);
	FUZZ_CHECK(d->msg[d->msg_len] == MLLP_END && d->msg[d->msg_len + 1] == MLLP_END_CR);
	FUZZ_CHECK(memchr(d->msg, MLLP_START, d->msg_len) == NULL);
	check_decoded(d);
	if (s->calls == 0) {
		memcpy(s->first, d, sizeof(*d));
		s->first_off = off;
	}
	s->calls++;
	s->obs += d->n_obs;
	s->alarms += d->n_alarms;
}

static void
door_mllp(const uint8_t *data, size_t size, struct dp_decoded *scratch, struct mllp_seen *seen)
{
	struct dp_stats stats;
	unsigned n;

	memset(&stats, 0, sizeof(stats));
	seen->payload = data;
	seen->len = size;
	n = dp_mllp_decode(data, size, &stats, scratch, on_decoded, seen);
	FUZZ_CHECK(n == seen->calls);
	FUZZ_CHECK(dp_read(&stats.hl7[DP_HL7_messages]) == n);
	FUZZ_CHECK(dp_read(&stats.hl7[DP_HL7_observations]) == seen->obs);
	FUZZ_CHECK(dp_read(&stats.hl7[DP_HL7_device_alarms]) == seen->alarms);
	FUZZ_CHECK(dp_read(&stats.hl7[DP_HL7_mllp_empty]) == (size == 0));
	/* The decoders touch their own counters only. */
	FUZZ_CHECK(fuzz_sum(stats.vtp, DP_VTP__COUNT) == 0);
	FUZZ_CHECK(fuzz_sum(stats.outcome, DP_OUT__COUNT) + fuzz_sum(stats.drop, DP_DROP__COUNT) ==
		   0);
}

/* ======================================================================== */
/* Door 2: dp_hl7_decode on an exact copy of the first message              */
/* ======================================================================== */

/*
 * The digits of an NM (hl7.c's grammar: [spaces][+|-]digits[.digits][spaces],
 * at most NM_MAX_LEN characters once trimmed), counting the significant ones
 * (first to last non-zero digit). False if @p p is not such a number.
 */
static bool
nm_significant(const uint8_t *p, size_t n, unsigned *sig)
{
	size_t i = 0, first = SIZE_MAX, last = 0, digits = 0;
	bool dot = false;

	while (n > 0 && p[n - 1] == ' ')
		n--;
	while (i < n && p[i] == ' ')
		i++;
	if (n - i == 0 || n - i > NM_MAX_LEN)
		return false;
	if (p[i] == '+' || p[i] == '-')
		i++;
	for (; i < n; i++) {
		if (p[i] == '.' && !dot) {
			dot = true;
			continue;
		}
		if (p[i] < '0' || p[i] > '9')
			return false;
		digits++;
		if (p[i] != '0') {
			first = first == SIZE_MAX ? i : first;
			last = i;
		}
	}
	if (digits == 0)
		return false;
	*sig = 0;
	for (i = first; first != SIZE_MAX && i <= last; i++)
		*sig += p[i] != '.';
	return true;
}

/* OBX-8's codes and their flags, as DP_OBS_FLAGS describes them. */
static const struct {
	const char *code;
	uint32_t bit;
} obx8_codes[] = {
	{"TEST", DP_OBS(TEST)},	  {"DEMO", DP_OBS(DEMO)}, {"INV", DP_OBS(INV)},
	{"NAV", DP_OBS(NAV)},	  {"CAL", DP_OBS(CAL)},	  {"BUSY", DP_OBS(BUSY)},
	{"OFF", DP_OBS(OFF)},	  {"NI", DP_OBS(NI)},	  {">", DP_OBS(OFF_SCALE)},
	{"<", DP_OBS(OFF_SCALE)}, {"QUES", DP_OBS(QUES)}, {"EARLY", DP_OBS(EARLY)},
	{"L", DP_OBS(ABN_L)},	  {"LL", DP_OBS(ABN_LL)}, {"H", DP_OBS(ABN_H)},
	{"HH", DP_OBS(ABN_HH)},	  {"A", DP_OBS(ABN_A)},	  {"ALACT", DP_OBS(ALACT)},
	{"ALINH", DP_OBS(ALINH)},
};

static bool
span_is(const struct dp_hl7_msg *m, struct dp_span s, const char *text)
{
	return s.len == strlen(text) && memcmp(m->buf + s.off, text, s.len) == 0;
}

/*
 * What an observation says against the OBX segment it came from (the one
 * holding its OBX-3): OBX-1 its seq, OBX-8's codes its flags, OBX-11 its
 * status, and OBX-5 its value, read as strtod reads it (the C locale's: the
 * fuzzer never sets one), which hl7.c promises for up to 15 significant
 * digits.
 */
static void
check_obx_fields(const struct dp_hl7_msg *m, const struct dp_obs *o)
{
	uint32_t obx8 = 0, obx8_all = 0;
	char text[NM_MAX_LEN + 64];
	struct dp_span f;
	unsigned seg, sig;

	for (seg = 0; seg < m->n_seg; seg++)
		if (o->obs_id.off >= m->seg[seg].off &&
		    o->obs_id.off < m->seg[seg].off + m->seg[seg].len)
			break;
	FUZZ_CHECK(seg < m->n_seg && dp_hl7_get(m, seg, 3, 0, 0, 0, &f) && same_span(f, o->obs_id));

	/* OBX-1, when it is a number */
	if (dp_hl7_get(m, seg, 1, 0, 0, 0, &f) && f.len > 0 && f.len <= 10) {
		uint64_t v = 0;
		size_t i = 0;

		for (; i < f.len && m->buf[f.off + i] >= '0' && m->buf[f.off + i] <= '9'; i++)
			v = v * 10 + (uint64_t)(m->buf[f.off + i] - '0');
		if (i == f.len && v <= UINT32_MAX)
			FUZZ_CHECK(o->seq == v);
	}

	/* OBX-8, every repetition's first component */
	for (unsigned rep = 1; rep <= 16 && dp_hl7_get(m, seg, 8, rep, 1, 0, &f); rep++)
		for (size_t k = 0; k < sizeof(obx8_codes) / sizeof(obx8_codes[0]); k++)
			if (span_is(m, f, obx8_codes[k].code))
				obx8 |= obx8_codes[k].bit;
	for (size_t k = 0; k < sizeof(obx8_codes) / sizeof(obx8_codes[0]); k++)
		obx8_all |= obx8_codes[k].bit;
	if (dp_hl7_get(m, seg, 8, 17, 0, 0, &f)) /* past what is walked here */
		FUZZ_CHECK((o->flags & obx8) == obx8);
	else
		FUZZ_CHECK((o->flags & obx8_all) == obx8);

	/* OBX-11: its first character; X is a result that cannot be obtained */
	if (dp_hl7_get(m, seg, 11, 0, 0, 0, &f) && f.len > 0)
		FUZZ_CHECK(o->status == (char)m->buf[f.off]);
	else
		FUZZ_CHECK(o->status == 0);
	FUZZ_CHECK(!(o->flags & DP_OBS(STATUS_X)) == !(o->status == 'X' || o->status == 'x'));

	if (o->flags & DP_OBS(NO_VALUE))
		return;
	FUZZ_CHECK(dp_hl7_get(m, seg, 5, 0, 0, 0, &f));
	FUZZ_CHECK(nm_significant(m->buf + f.off, f.len, &sig)); /* a value was read: an NM */
	if (sig > 15 || f.len >= sizeof(text))
		return;
	memcpy(text, m->buf + f.off, f.len);
	text[f.len] = 0;
	if (o->value != strtod(text, NULL)) {
		fprintf(stderr, "NM \"%s\": decoded %.17g, strtod %.17g\n", text, o->value,
			strtod(text, NULL));
		FUZZ_CHECK(o->value == strtod(text, NULL));
	}
}

static void
door_decode(const uint8_t *msg, size_t len, struct dp_decoded *d, const struct mllp_seen *seen,
	    bool same_as_first_frame)
{
	struct dp_stats stats;
	struct dp_hl7_msg *m;
	enum dp_hl7_counter why = DP_HL7__COUNT;
	int rc, prc;

	memset(&stats, 0, sizeof(stats));
	memset(d, 0xa5, sizeof(*d)); /* nothing may survive from before */
	rc = dp_hl7_decode(msg, len, &stats, d);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	FUZZ_CHECK(fuzz_sum(stats.vtp, DP_VTP__COUNT) == 0);

	m = malloc(sizeof(*m));
	FUZZ_CHECK(m != NULL);
	prc = dp_hl7_parse(m, msg, len, &why);

	if (rc == 0) {
		FUZZ_CHECK(prc == 0);
		FUZZ_CHECK(d->msg == msg && d->msg_len == len);
		check_decoded(d);
		for (unsigned i = 0; i < d->n_obs; i++)
			check_obx_fields(m, &d->obs[i]);
		FUZZ_CHECK(dp_read(&stats.hl7[DP_HL7_messages]) == 1);
		FUZZ_CHECK(dp_read(&stats.hl7[DP_HL7_observations]) == d->n_obs);
		FUZZ_CHECK(dp_read(&stats.hl7[DP_HL7_device_alarms]) == d->n_alarms);
		if (dp_read(&stats.hl7[DP_HL7_obs_limit]) > 0)
			FUZZ_CHECK(d->n_obs == DP_MAX_OBS);
		if (dp_read(&stats.hl7[DP_HL7_alarm_limit]) > 0)
			FUZZ_CHECK(d->n_alarms == DP_MAX_DEV_ALARMS);
	} else {
		/* Unusable: exactly one counter, the reason; nothing delivered. */
		FUZZ_CHECK(fuzz_sum(stats.hl7, DP_HL7__COUNT) == 1);
		FUZZ_CHECK(dp_read(&stats.hl7[DP_HL7_messages]) == 0);
		FUZZ_CHECK(d->kind == DP_MSG_OTHER && d->n_obs == 0 && d->n_alarms == 0);
		if (prc != 0) {
			FUZZ_CHECK(why < DP_HL7__COUNT);
			FUZZ_CHECK(dp_read(&stats.hl7[why]) == 1);
		}
	}

	free(m);

	/* The first frame of the datagram is this message: same result. */
	if (same_as_first_frame) {
		FUZZ_CHECK((rc == 0) == (seen->calls > 0 && seen->first_off == 1));
		if (rc == 0)
			check_same_decoded(d, seen->first);
	}
}

/* ======================================================================== */
/* Door 3: dp_hl7_parse, dp_hl7_get, dp_hl7_unescape, dp_hl7_time          */
/* ======================================================================== */

/*
 * Piece @p k (1-based) of its parent, just fetched (@p present), against the
 * piece before it: pieces tile the parent, split at @p sep. Returns false
 * once the pieces have run out (and checks the last one ended the parent).
 */
static bool
check_piece(const struct dp_hl7_msg *m, struct dp_span parent, char sep, unsigned k, bool present,
	    struct dp_span p, struct dp_span *prev)
{
	if (!present) {
		FUZZ_CHECK(k > 1); /* the first piece of a present item always is */
		FUZZ_CHECK(prev->off + prev->len == parent.off + parent.len);
		return false;
	}
	FUZZ_CHECK(p.off >= parent.off && p.off + p.len <= parent.off + parent.len);
	if (k == 1) {
		FUZZ_CHECK(p.off == parent.off);
	} else {
		FUZZ_CHECK(p.off == prev->off + prev->len + 1);
		FUZZ_CHECK(m->buf[prev->off + prev->len] == (uint8_t)sep);
	}
	FUZZ_CHECK(memchr(m->buf + p.off, (uint8_t)sep, p.len) == NULL);
	*prev = p;
	return true;
}

/* A leaf through dp_hl7_unescape: output cut short agrees with the whole. */
static void
check_unescape(const struct dp_hl7_msg *m, struct dp_span s, char *big)
{
	char small[SMALL_ROOM];
	size_t n_small, n_big;

	n_small = dp_hl7_unescape(m, s, small, sizeof(small));
	n_big = dp_hl7_unescape(m, s, big, s.len); /* unescaping never lengthens */
	FUZZ_CHECK(n_small == n_big);
	FUZZ_CHECK(n_big <= s.len);
	FUZZ_CHECK(memcmp(small, big, n_big < sizeof(small) ? n_big : sizeof(small)) == 0);
	if (memchr(m->buf + s.off, (uint8_t)m->es, s.len) == NULL)
		FUZZ_CHECK(n_big == s.len && memcmp(big, m->buf + s.off, s.len) == 0);
}

/* A component through dp_hl7_time; 8 and 14 plain digits against timegm(). */
static void
check_time(const uint8_t *p, size_t n)
{
	int64_t ns = -1;
	uint8_t precision = 0;
	bool had_offset = false;
	int rc = dp_hl7_time(p, n, &ns, &precision, &had_offset);
	struct tm tm;
	bool digits = true;

	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc != 0)
		return;
	FUZZ_CHECK(precision != 0);
	check_time_value(ns, precision);
	FUZZ_CHECK(!had_offset || memchr(p, '+', n) != NULL || memchr(p, '-', n) != NULL);
	for (size_t i = 0; i < n; i++)
		digits = digits && p[i] >= '0' && p[i] <= '9';
	if (!digits || (n != 8 && n != 14))
		return;
	FUZZ_CHECK(!had_offset && precision == n);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year =
		(p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0') - 1900;
	tm.tm_mon = (p[4] - '0') * 10 + (p[5] - '0') - 1;
	tm.tm_mday = (p[6] - '0') * 10 + (p[7] - '0');
	if (n == 14) {
		tm.tm_hour = (p[8] - '0') * 10 + (p[9] - '0');
		tm.tm_min = (p[10] - '0') * 10 + (p[11] - '0');
		tm.tm_sec = (p[12] - '0') * 10 + (p[13] - '0');
	}
	FUZZ_CHECK(ns % NS_PER_S == 0 && ns / NS_PER_S == (int64_t)timegm(&tm));
}

/* Door 3's state: the message, a buffer for unescaped leaves, calls left. */
struct walk {
	const struct dp_hl7_msg *m;
	char *big;
	unsigned budget;
};

/* dp_hl7_get within the budget; false with *out_of_budget when it is spent. */
static bool
walk_get(struct walk *w, unsigned seg, unsigned field, unsigned rep, unsigned comp, unsigned sub,
	 struct dp_span *out, bool *out_of_budget)
{
	*out_of_budget = w->budget == 0;
	if (*out_of_budget)
		return false;
	w->budget--;
	return dp_hl7_get(w->m, seg, field, rep, comp, sub, out);
}

/* Repetitions, components and sub-components of one field. */
static void
walk_field(struct walk *w, unsigned seg, unsigned field, struct dp_span f)
{
	const struct dp_hl7_msg *m = w->m;
	struct dp_span prev_r = {0, 0};
	bool spent;

	for (unsigned rep = 1; rep <= WALK_REPS; rep++) {
		struct dp_span r, prev_c = {0, 0};
		bool present = walk_get(w, seg, field, rep, 0, 0, &r, &spent);

		if (spent || !check_piece(m, f, m->rs, rep, present, r, &prev_r))
			return;
		for (unsigned comp = 1; comp <= WALK_COMPS; comp++) {
			struct dp_span c, prev_s = {0, 0};

			present = walk_get(w, seg, field, rep, comp, 0, &c, &spent);
			if (spent)
				return;
			if (!check_piece(m, r, m->cs, comp, present, c, &prev_c))
				break;
			check_time(m->buf + c.off, c.len);
			for (unsigned sub = 1; sub <= WALK_SUBS; sub++) {
				struct dp_span s;

				present = walk_get(w, seg, field, rep, comp, sub, &s, &spent);
				if (spent)
					return;
				if (!check_piece(m, c, m->ss, sub, present, s, &prev_s))
					break;
				check_unescape(m, s, w->big);
			}
		}
	}
}

/* The fields of one segment: they tile it; each is walked down to its leaves. */
static void
walk_segment(struct walk *w, unsigned seg)
{
	const struct dp_hl7_msg *m = w->m;
	const struct dp_span s = m->seg[seg];
	const uint8_t *p = m->buf + s.off;
	const bool is_msh =
		s.len >= 3 && memcmp(p, "MSH", 3) == 0 && (s.len == 3 || p[3] == (uint8_t)m->fs);
	const unsigned fc = dp_hl7_field_count(m, seg);
	struct dp_span f, prev = {0, 0};

	FUZZ_CHECK(!dp_hl7_get(m, seg, fc + 1, 0, 0, 0, &f));
	FUZZ_CHECK(dp_hl7_get(m, seg, fc, 0, 0, 0, &f));
	FUZZ_CHECK(f.off + f.len == s.off + s.len);
	for (unsigned field = 0; field <= fc && field <= WALK_FIELDS && w->budget > 0; field++) {
		w->budget--;
		FUZZ_CHECK(dp_hl7_get(m, seg, field, 0, 0, 0, &f));
		FUZZ_CHECK(f.off >= s.off && f.off + f.len <= s.off + s.len);
		/* Fields tile the segment; MSH-1 is the separator itself. */
		if (field == 0)
			FUZZ_CHECK(f.off == s.off);
		else if (is_msh && field == 1)
			FUZZ_CHECK(f.off == s.off + 3 && f.len == 1);
		else if (is_msh && field == 2)
			FUZZ_CHECK(f.off == s.off + 4);
		else
			FUZZ_CHECK(f.off == prev.off + prev.len + 1 &&
				   m->buf[f.off - 1] == (uint8_t)m->fs);
		prev = f;
		if (field == 0 || (is_msh && field <= 2)) {
			struct dp_span whole;

			/* never split: the first piece is the whole, there is no second */
			FUZZ_CHECK(dp_hl7_get(m, seg, field, 1, 1, 1, &whole) &&
				   same_span(whole, f));
			FUZZ_CHECK(!dp_hl7_get(m, seg, field, 2, 0, 0, &whole));
			continue;
		}
		walk_field(w, seg, field, f);
	}
}

static void
door_parse(const uint8_t *msg, size_t len)
{
	struct dp_hl7_msg *m = malloc(sizeof(*m));
	struct walk w = {.m = m, .big = malloc(len + 1), .budget = WALK_BUDGET};
	enum dp_hl7_counter why = DP_HL7__COUNT;
	const char *delims;

	FUZZ_CHECK(m != NULL && w.big != NULL);
	if (dp_hl7_parse(m, msg, len, &why) != 0) {
		FUZZ_CHECK(why == DP_HL7_msg_length || why == DP_HL7_no_msh ||
			   why == DP_HL7_delimiters);
		goto out;
	}
	FUZZ_CHECK(m->buf == msg && m->len == len);
	FUZZ_CHECK(m->n_seg >= 1 && m->n_seg <= DP_HL7_MAX_SEGMENTS);
	FUZZ_CHECK(m->seg[0].off == 0 && m->seg[0].len >= 8);
	delims = (const char[]){m->fs, m->cs, m->rs, m->es, m->ss};
	for (unsigned i = 0; i < 5; i++)
		for (unsigned j = i + 1; j < 5; j++)
			FUZZ_CHECK(delims[i] != delims[j]);
	for (unsigned i = 0; i < m->n_seg; i++) {
		struct dp_span s = m->seg[i];

		FUZZ_CHECK(s.len > 0 && fuzz_span_in(s, len));
		FUZZ_CHECK(i == 0 || s.off > m->seg[i - 1].off + m->seg[i - 1].len);
		FUZZ_CHECK(memchr(msg + s.off, '\r', s.len) == NULL);
		FUZZ_CHECK(memchr(msg + s.off, '\n', s.len) == NULL);
	}
	/* from a segment the input picks, round the message, while the budget lasts */
	for (unsigned i = 0, first = (unsigned)(len % m->n_seg); i < m->n_seg && w.budget > 0; i++)
		walk_segment(&w, (first + i) % m->n_seg);
out:
	free(w.big);
	free(m);
}

/* ======================================================================== */
/* The target                                                               */
/* ======================================================================== */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dp_decoded *scratch = malloc(sizeof(*scratch));
	struct dp_decoded *first = malloc(sizeof(*first));
	struct dp_decoded *direct = malloc(sizeof(*direct));
	struct mllp_seen seen = {.first = first};
	const uint8_t *msg = data, *end;
	size_t len = size;
	uint8_t *copy;
	bool framed;

	FUZZ_CHECK(scratch != NULL && first != NULL && direct != NULL);
	memset(scratch, 0xa5, sizeof(*scratch));
	door_mllp(data, size, scratch, &seen);

	/* The first message: after a leading 0x0B, up to the first 0x1C. */
	framed = len > 0 && msg[0] == MLLP_START;
	if (framed) {
		msg++;
		len--;
	}
	end = memchr(msg, MLLP_END, len);
	if (end != NULL)
		len = (size_t)(end - msg);
	copy = malloc(len + (len == 0)); /* exactly len bytes (one for an empty message) */
	FUZZ_CHECK(copy != NULL);
	if (len > 0)
		memcpy(copy, msg, len);
	/* The same bytes as the datagram's first frame when that frame is whole. */
	framed = framed && end != NULL && (size_t)(end - data) + 1 < size &&
		 end[1] == MLLP_END_CR && memchr(msg, MLLP_START, len) == NULL;
	door_decode(copy, len, direct, &seen, framed);
	door_parse(copy, len);

	free(copy);
	free(direct);
	free(first);
	free(scratch);
	return 0;
}
