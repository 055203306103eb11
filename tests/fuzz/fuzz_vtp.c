/*
 * fuzz_vtp.c - libFuzzer target for the VTP decoder, its sequence table and
 * its encoder (dataplane/vtp.c).
 *
 * The oracle is dataplane/VTP.md, read again here independently of vtp.c:
 *
 * 1. The whole input as one datagram, without a device table: the checks of
 *    section 9 in their order say which one counter moves, or that the frame
 *    is delivered; a delivered frame must give back every record's code,
 *    value (bit for bit), unit and the flags of sections 4, 5 and 11. A
 *    delivered frame with a 32-byte header must be what dp_vtp_encode
 *    writes for the same fields.
 * 2. The input cut into datagrams (each as long as its header says, so
 *    concatenated frames come apart) through a small device table, made
 *    afresh for each input, against a model of section 6.3 kept here: each
 *    frame must move exactly the sequence counters the model says, and a
 *    frame the model calls a duplicate must not be delivered. The table
 *    holds TABLE_CAPACITY devices, so a table that is full is reached too.
 * 3. An encode/decode round trip of observations the fuzzer picks from the
 *    same bytes: dp_vtp_encode must refuse exactly what section 12 says
 *    and dp_vtp_decode must return the values, codes, units and flags it
 *    was given.
 *
 * Every datagram is decoded from a heap copy of exactly its length.
 */
#include <errno.h>

#include "fuzz_check.h"

#define TABLE_CAPACITY 16 /* 32 slots: probing covers all, so only the capacity binds */
#define MAX_CHUNKS 256
#define RT_MAX_OBS 80 /* round trip: up to 80 asked for, above 64 refused */

/* VTP.md section 3.1 offsets and section 9's limits. */
#define HDR_LEN 32
#define OBS_LEN 20
#define MAX_FRAME 1452
#define MAX_COUNT 64
#define F_INVALID_GROUP UINT32_C(0x0000ffff)
#define F_RESERVED UINT32_C(0xfe00fc00)

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static double
as_double(uint64_t bits)
{
	double v;

	memcpy(&v, &bits, sizeof(v));
	return v;
}

/* ======================================================================== */
/* Section 9: which check a datagram fails, and what a record decodes to    */
/* ======================================================================== */

/* The counter of the first failed check, or DP_VTP__COUNT for a whole frame. */
static enum dp_vtp_counter
frame_reason(const uint8_t *p, size_t len)
{
	unsigned hlen, count;

	if (len < HDR_LEN)
		return DP_VTP_truncated;
	if (p[0] != 'V' || p[1] != 'T' || p[2] != 'P')
		return DP_VTP_magic;
	if (p[3] != 1)
		return DP_VTP_version;
	hlen = p[4];
	if (hlen < HDR_LEN || hlen % 4 != 0)
		return DP_VTP_header_length;
	if (len > MAX_FRAME)
		return DP_VTP_too_long;
	if (len < hlen)
		return DP_VTP_truncated;
	if (p[5] != 0)
		return DP_VTP_flags_reserved;
	if (rd32(p + 20) != 0)
		return DP_VTP_auth_tag;
	count = (unsigned)p[6] << 8 | p[7];
	if (count > MAX_COUNT)
		return DP_VTP_too_many_obs;
	if (rd64(p + 8) == 0)
		return DP_VTP_device_zero;
	if (rd64(p + 24) >> 63)
		return DP_VTP_time_negative;
	if (len < hlen + (size_t)count * OBS_LEN)
		return DP_VTP_length;
	if (len > hlen + (size_t)count * OBS_LEN)
		return DP_VTP_trailing;
	return DP_VTP__COUNT;
}

/* Section 5: values that are placeholders, not measurements. */
static bool
is_sentinel(double v)
{
	return !isfinite(v) || v == 8388607.0 || v == -8388608.0 || v == 8388606.0 ||
	       v == -8388606.0 || v == -100.0 || v == -999.0 || v == -99.9;
}

/* Sections 4, 5 and 11: the DP_OBS flags a record with these fields gets. */
static uint32_t
expected_flags(uint32_t code, uint32_t unit, double value, uint32_t wire)
{
	uint32_t f = 0;

#define X_MAP(name, bit)           \
	if (wire & DP_VTP_F(name)) \
		f |= DP_OBS(name);
	DP_VTP_OBS_FLAGS(X_MAP)
#undef X_MAP
	if (wire & (F_INVALID_GROUP | F_RESERVED))
		f |= DP_OBS(INVALID);
	if (is_sentinel(value))
		f |= DP_OBS(SENTINEL) | DP_OBS(INVALID);
	if (rule_metric_by_code(code) == NULL)
		f |= DP_OBS(CODE_UNKNOWN);
	if (unit != 0 && rule_unit_by_code(unit) == NULL)
		f |= DP_OBS(UNIT_UNKNOWN);
	return f;
}

/* A delivered frame: every observation as section 11 says, read from the bytes. */
static void
check_delivered(const uint8_t *p, const struct dp_decoded *d)
{
	const unsigned hlen = p[4], count = (unsigned)p[6] << 8 | p[7];
	const uint64_t device = rd64(p + 8), time = rd64(p + 24);
	const uint32_t seq = rd32(p + 16);

	FUZZ_CHECK(d->kind == DP_MSG_VTP && d->msg == p);
	FUZZ_CHECK(d->n_obs == count && d->n_alarms == 0);
	for (unsigned i = 0; i < count; i++) {
		const uint8_t *r = p + hlen + (size_t)i * OBS_LEN;
		const struct dp_obs *o = &d->obs[i];
		const double v = as_double(rd64(r + 4));
		const struct dp_span none = {0, 0};

		FUZZ_CHECK(o->device == device && (uint64_t)o->time_ns == time && o->seq == seq);
		FUZZ_CHECK(o->time_precision == (time != 0 ? 23 : 0));
		FUZZ_CHECK(o->code == rd32(r) && o->unit == rd32(r + 12));
		FUZZ_CHECK(memcmp(&o->value, &v, sizeof(v)) == 0); /* unchanged, NaN payload too */
		FUZZ_CHECK(o->flags == expected_flags(o->code, o->unit, v, rd32(r + 16)));
		FUZZ_CHECK(o->metric == rule_metric_by_code(o->code));
		FUZZ_CHECK(o->status == 0);
		FUZZ_CHECK(memcmp(&o->patient, &none, sizeof(none)) == 0 &&
			   memcmp(&o->location, &none, sizeof(none)) == 0 &&
			   memcmp(&o->device_id, &none, sizeof(none)) == 0 &&
			   memcmp(&o->obs_id, &none, sizeof(none)) == 0 &&
			   memcmp(&o->unit_text, &none, sizeof(none)) == 0 &&
			   memcmp(&o->containment, &none, sizeof(none)) == 0);
	}
}

/* Records with a reserved flag bit (obs_reserved counts each). */
static unsigned
reserved_records(const uint8_t *p)
{
	const unsigned hlen = p[4], count = (unsigned)p[6] << 8 | p[7];
	unsigned n = 0;

	for (unsigned i = 0; i < count; i++)
		n += (rd32(p + hlen + (size_t)i * OBS_LEN + 16) & F_RESERVED) != 0;
	return n;
}

/* A frame with a 32-byte header is exactly what the encoder writes for its fields. */
static void
check_reencode(const uint8_t *p, size_t len)
{
	const unsigned count = (unsigned)p[6] << 8 | p[7];
	struct dp_vtp_obs obs[MAX_COUNT];
	uint8_t *buf;
	int n;

	if (p[4] != HDR_LEN || reserved_records(p) != 0)
		return;
	for (unsigned i = 0; i < count; i++) {
		const uint8_t *r = p + HDR_LEN + (size_t)i * OBS_LEN;

		obs[i] = (struct dp_vtp_obs){.code = rd32(r),
					     .value = as_double(rd64(r + 4)),
					     .unit = rd32(r + 12),
					     .flags = rd32(r + 16)};
	}
	buf = malloc(len);
	FUZZ_CHECK(buf != NULL);
	n = dp_vtp_encode(buf, len, rd64(p + 8), rd32(p + 16), (int64_t)rd64(p + 24), obs, count);
	FUZZ_CHECK(n == (int)len && memcmp(buf, p, len) == 0);
	free(buf);
}

/* ======================================================================== */
/* Door 1: one datagram, no device table                                    */
/* ======================================================================== */

/* Decode @p p without a table and check it all; returns the decoder's result. */
static int
decode_untracked(const uint8_t *p, size_t len, struct dp_decoded *d)
{
	const enum dp_vtp_counter why = frame_reason(p, len);
	struct dp_stats stats;
	int rc;

	memset(&stats, 0, sizeof(stats));
	memset(d, 0xa5, sizeof(*d));
	rc = dp_vtp_decode(p, len, NULL, &stats, d);
	FUZZ_CHECK(fuzz_sum(stats.hl7, DP_HL7__COUNT) == 0);
	if (why != DP_VTP__COUNT) {
		FUZZ_CHECK(rc == -EBADMSG && d->n_obs == 0);
		FUZZ_CHECK(fuzz_sum(stats.vtp, DP_VTP__COUNT) == 1 &&
			   dp_read(&stats.vtp[why]) == 1);
		return rc;
	}
	FUZZ_CHECK(rc == 0);
	check_delivered(p, d);
	FUZZ_CHECK(dp_read(&stats.vtp[DP_VTP_frames]) == 1);
	FUZZ_CHECK(dp_read(&stats.vtp[DP_VTP_observations]) == d->n_obs);
	FUZZ_CHECK(dp_read(&stats.vtp[DP_VTP_obs_reserved]) == reserved_records(p));
	FUZZ_CHECK(fuzz_sum(stats.vtp, DP_VTP__COUNT) == 1 + d->n_obs + reserved_records(p));
	return rc;
}

/* ======================================================================== */
/* Door 2: datagrams through a device table, against a model of 6.3         */
/* ======================================================================== */

struct model_dev {
	uint64_t device;
	uint64_t window; /* bit i: last - i seen */
	uint32_t last;
	uint32_t cand;
	bool has_cand;
};

struct model {
	unsigned n;
	struct model_dev dev[TABLE_CAPACITY];
};

/* What section 6.3 says of a whole frame: the result and the counters that move. */
struct expect {
	int rc;
	uint64_t gap, duplicate, reordered, jump, restart, full;
};

static struct expect
model_step(struct model *m, uint64_t device, uint32_t seq)
{
	struct expect e = {0};
	struct model_dev *d = NULL;
	int32_t delta;

	for (unsigned i = 0; i < m->n; i++)
		if (m->dev[i].device == device)
			d = &m->dev[i];
	if (d == NULL) {
		if (m->n == TABLE_CAPACITY) {
			e.full = 1; /* delivered, untracked */
			return e;
		}
		m->dev[m->n++] = (struct model_dev){.device = device, .window = 1, .last = seq};
		return e;
	}
	delta = (int32_t)(seq - d->last);
	if (delta >= 1 && delta <= 65536) { /* in order, or after a gap */
		e.gap = (uint64_t)delta - 1;
		d->window = delta >= 64 ? 1 : d->window << delta | 1;
		d->last = seq;
		d->has_cand = false;
	} else if (delta > -64 && delta <= 0) {
		uint64_t bit = UINT64_C(1) << -delta;

		if (d->window & bit) {
			e.duplicate = 1;
			e.rc = -EALREADY;
		} else {
			d->window |= bit;
			e.reordered = 1;
		}
	} else if (d->has_cand && seq == d->cand) {
		d->last = seq;
		d->window = 3;
		d->has_cand = false;
		e.restart = 1;
	} else {
		d->has_cand = true;
		d->cand = seq + 1;
		e.jump = 1;
	}
	return e;
}

/* How long the datagram at @p p is: what its header announces, or the rest. */
static size_t
chunk_len(const uint8_t *p, size_t rem)
{
	size_t hlen, want;

	if (rem < 8 || p[0] != 'V' || p[1] != 'T' || p[2] != 'P')
		return rem;
	hlen = p[4] < HDR_LEN ? HDR_LEN : p[4];
	want = hlen + ((size_t)p[6] << 8 | p[7]) * OBS_LEN;
	return want < rem ? want : rem;
}

static void
door_tracked(const uint8_t *data, size_t size, struct dp_decoded *d, struct dp_decoded *ref)
{
	const size_t table_size = dp_vtp_devices_size(TABLE_CAPACITY);
	void *mem = malloc(table_size);
	struct dp_vtp_devices *devs;
	struct model model = {0};
	size_t off = 0;

	FUZZ_CHECK(mem != NULL && table_size > 0);
	devs = dp_vtp_devices_init(mem, TABLE_CAPACITY);
	FUZZ_CHECK(devs == mem);

	for (unsigned n = 0; n < MAX_CHUNKS && off < size; n++) {
		const size_t len = chunk_len(data + off, size - off);
		uint8_t *p = malloc(len);
		struct dp_stats stats;
		struct expect e;
		int rc, ref_rc;

		FUZZ_CHECK(p != NULL);
		memcpy(p, data + off, len);
		off += len;

		ref_rc = decode_untracked(p, len, ref);
		memset(&stats, 0, sizeof(stats));
		memset(d, 0xa5, sizeof(*d));
		rc = dp_vtp_decode(p, len, devs, &stats, d);
		if (ref_rc != 0) {
			/* a malformed frame never reaches the table */
			FUZZ_CHECK(rc == ref_rc && d->n_obs == 0);
			FUZZ_CHECK(fuzz_sum(stats.vtp, DP_VTP__COUNT) == 1);
			free(p);
			continue;
		}
		e = model_step(&model, rd64(p + 8), rd32(p + 16));
		FUZZ_CHECK(rc == e.rc);
		FUZZ_CHECK(dp_read(&stats.vtp[DP_VTP_seq_gap]) == e.gap);
		FUZZ_CHECK(dp_read(&stats.vtp[DP_VTP_seq_duplicate]) == e.duplicate);
		FUZZ_CHECK(dp_read(&stats.vtp[DP_VTP_seq_reordered]) == e.reordered);
		FUZZ_CHECK(dp_read(&stats.vtp[DP_VTP_seq_jump]) == e.jump);
		FUZZ_CHECK(dp_read(&stats.vtp[DP_VTP_seq_restart]) == e.restart);
		FUZZ_CHECK(dp_read(&stats.vtp[DP_VTP_device_table_full]) == e.full);
		if (rc == 0) {
			check_delivered(p, d);
			FUZZ_CHECK(dp_read(&stats.vtp[DP_VTP_frames]) == 1);
			FUZZ_CHECK(dp_read(&stats.vtp[DP_VTP_observations]) == d->n_obs);
			FUZZ_CHECK(dp_read(&stats.vtp[DP_VTP_obs_reserved]) == reserved_records(p));
		} else {
			FUZZ_CHECK(d->n_obs == 0);
			FUZZ_CHECK(dp_read(&stats.vtp[DP_VTP_frames]) == 0);
			FUZZ_CHECK(fuzz_sum(stats.vtp, DP_VTP__COUNT) == 1);
		}
		free(p);
	}
	free(mem);
}

/* ======================================================================== */
/* Door 3: encode what the fuzzer picks, decode it back                     */
/* ======================================================================== */

/* Fields taken from the input in order; zeros once it runs out. */
struct reader {
	const uint8_t *p;
	size_t n;
};

static uint64_t
take(struct reader *r, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++) {
		v = v << 8 | (r->n > 0 ? *r->p : 0);
		if (r->n > 0) {
			r->p++;
			r->n--;
		}
	}
	return v;
}

static void
door_roundtrip(const uint8_t *data, size_t size, struct dp_decoded *d)
{
	struct reader r = {data, size};
	const unsigned sel = (unsigned)take(&r, 1);
	const uint64_t device = take(&r, 8);
	const uint32_t seq = (uint32_t)take(&r, 4);
	int64_t time = (int64_t)take(&r, 8);
	unsigned n = (unsigned)take(&r, 1);
	const unsigned slack = (unsigned)take(&r, 2);
	struct dp_vtp_obs obs[RT_MAX_OBS];
	bool invalid;
	size_t need, room;
	uint8_t *buf;
	int rc, expect;

	/* sel's low bits let the fuzzer ask for what the encoder must refuse;
	 * otherwise the fields are made acceptable so round trips happen. */
	if (!(sel & 1))
		time &= INT64_MAX;
	n = sel & 4 ? n % RT_MAX_OBS : n % (MAX_COUNT + 1);
	invalid = n > MAX_COUNT || device == 0 || time < 0;
	for (unsigned i = 0; i < n; i++) {
		obs[i].code = (uint32_t)take(&r, 4);
		obs[i].unit = (uint32_t)take(&r, 4);
		obs[i].value = as_double(take(&r, 8));
		obs[i].flags = (uint32_t)take(&r, 4);
		if (!(sel & 2))
			obs[i].flags &= ~F_RESERVED;
		invalid = invalid || (obs[i].flags & F_RESERVED) != 0;
	}
	need = HDR_LEN + (size_t)n * OBS_LEN;
	room = sel & 8 ? slack % need : need + slack % 64; /* short of the frame, or enough */
	expect = invalid ? -EINVAL : room < need ? -ENOSPC : (int)need;

	buf = malloc(room + (room == 0));
	FUZZ_CHECK(buf != NULL);
	rc = dp_vtp_encode(buf, room, device, seq, time, obs, n);
	FUZZ_CHECK(rc == expect);
	if (rc > 0) {
		uint8_t *frame = malloc((size_t)rc); /* decoded from exactly its length */

		FUZZ_CHECK(frame != NULL);
		memcpy(frame, buf, (size_t)rc);
		FUZZ_CHECK(decode_untracked(frame, (size_t)rc, d) == 0);
		FUZZ_CHECK(d->n_obs == n);
		for (unsigned i = 0; i < n; i++) {
			const struct dp_obs *o = &d->obs[i];

			FUZZ_CHECK(o->device == device && o->time_ns == time && o->seq == seq);
			FUZZ_CHECK(o->code == obs[i].code && o->unit == obs[i].unit);
			FUZZ_CHECK(fuzz_same_double(o->value, obs[i].value));
			FUZZ_CHECK(o->flags == expected_flags(obs[i].code, obs[i].unit,
							      obs[i].value, obs[i].flags));
		}
		free(frame);
	}
	free(buf);
}

/* ======================================================================== */
/* The target                                                               */
/* ======================================================================== */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dp_decoded *d = malloc(sizeof(*d));
	struct dp_decoded *ref = malloc(sizeof(*ref));
	uint8_t *whole = malloc(size + (size == 0));

	FUZZ_CHECK(d != NULL && ref != NULL && whole != NULL);
	if (size > 0)
		memcpy(whole, data, size);
	if (decode_untracked(whole, size, d) == 0)
		check_reencode(whole, size);
	door_tracked(data, size, d, ref);
	door_roundtrip(data, size, d);
	free(whole);
	free(ref);
	free(d);
	return 0;
}
