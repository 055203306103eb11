/*
 * vtp.c - VTP, vigil's binary telemetry format: the decoder, the per-worker
 * table that tracks each sender's sequence numbers, and an encoder.
 *
 * dataplane/VTP.md is the specification and this file follows it section by
 * section: the checks of section 9 run in its order, each failure counted
 * under its own name; the sequence rules of section 6.3 decide whether a
 * frame is new, late, a copy, or out of range. Everything is at fixed
 * offsets, so the decoder reads the header once, checks the length against
 * the count, and then walks the records: no search, no copy of the payload,
 * no allocation, at most DP_VTP_MAX_OBS iterations.
 *
 * The encoder exists for vigil-gen and the tests; it refuses to write what
 * the decoder would reject.
 */
#include <endian.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "dataplane.h"

/* ------------------------------------------------------------------------ */
/* Wire layout (VTP.md section 3)                                            */
/* ------------------------------------------------------------------------ */

#define HDR_MAGIC 0
#define HDR_VERSION 3
#define HDR_LENGTH 4
#define HDR_FLAGS 5
#define HDR_COUNT 6
#define HDR_DEVICE 8
#define HDR_SEQ 16
#define HDR_AUTH 20
#define HDR_TIME 24

#define OBS_CODE 0
#define OBS_VALUE 4
#define OBS_UNIT 12
#define OBS_FLAGS 16

#define HDR_LEN_MAX 252 /* header_length is one byte, in steps of 4 */

/* Digits of the timestamp, as dp_obs counts them: 14 to the second, 9 more. */
#define TIME_PRECISION_NS 23

static const uint8_t vtp_magic[3] = {'V', 'T', 'P'};

_Static_assert(sizeof(double) == sizeof(uint64_t), "VTP values are IEEE 754 binary64");
_Static_assert(DP_VTP_MAX_OBS <= DP_MAX_OBS, "a frame's observations fit in dp_decoded");
_Static_assert(DP_VTP_HDR_LEN + DP_VTP_MAX_OBS * DP_VTP_OBS_LEN <= DP_VTP_MAX_FRAME,
	       "a version-1 frame of 64 observations fits in one datagram");
_Static_assert((DP_VTP_F_RESERVED & DP_VTP_F_INVALID_GROUP) == UINT32_C(0x0000fc00),
	       "bits 10-15 are the reserved part of the invalid group");

static inline uint32_t
rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static inline uint64_t
rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static inline void
wr32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
wr64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

/* ------------------------------------------------------------------------ */
/* The device table (VTP.md section 6.4)                                     */
/* ------------------------------------------------------------------------ */

/*
 * One tracked device. window bit i says whether sequence number last - i has
 * been seen; bit 0 (last itself) is always set once a device is in, so a
 * window of 0 marks an empty slot and no separate flag is needed. cand is
 * the sequence number that would confirm a restart (the one after the last
 * out-of-range frame); cand == last + 1 means there is none, which cannot be
 * confused with a real candidate because last + 1 is never out of range.
 */
struct vtp_slot {
	uint64_t device;
	uint64_t window;
	uint32_t last;
	uint32_t cand;
};

struct dp_vtp_devices {
	uint32_t capacity; /* devices it may hold: at most half the slots */
	uint32_t used;
	uint32_t mask;	/* slots - 1 */
	uint32_t shift; /* 64 - log2(slots), for Fibonacci hashing */
	uint8_t pad[48];
	struct vtp_slot slot[];
};

_Static_assert(sizeof(struct vtp_slot) == 24, "VTP.md states 24 bytes a slot");
_Static_assert(sizeof(struct dp_vtp_devices) == 64, "VTP.md states a 64-byte head");

#define SLOTS_MIN 16u
/* 2^64 / the golden ratio: spreads sequential EUI-64s (one vendor's serial
 * numbers) evenly over the top bits. */
#define FIB_MULT UINT64_C(0x9e3779b97f4a7c15)

static uint32_t
slots_for(unsigned capacity)
{
	uint32_t slots = SLOTS_MIN;

	while (slots < 2u * capacity)
		slots <<= 1;
	return slots;
}

size_t
dp_vtp_devices_size(unsigned capacity)
{
	if (capacity == 0 || capacity > DP_VTP_DEVICES_MAX)
		return 0;
	return sizeof(struct dp_vtp_devices) +
	       (size_t)slots_for(capacity) * sizeof(struct vtp_slot);
}

struct dp_vtp_devices *
dp_vtp_devices_init(void *mem, unsigned capacity)
{
	struct dp_vtp_devices *t = mem;
	uint32_t slots;
	unsigned bits = 0;

	if (mem == NULL || ((uintptr_t)mem & 7) != 0 || dp_vtp_devices_size(capacity) == 0)
		return NULL;
	slots = slots_for(capacity);
	while ((UINT32_C(1) << bits) < slots)
		bits++;
	memset(t, 0, dp_vtp_devices_size(capacity));
	t->capacity = capacity;
	t->mask = slots - 1;
	t->shift = 64 - bits;
	return t;
}

/*
 * The slot of @p device, claiming an empty one for a device not seen
 * before (*fresh set). NULL when the device is not in and cannot be added:
 * the table holds its capacity, or the probe limit passed without a free
 * slot. No entry is ever removed, so a lookup may stop at the first empty
 * slot.
 */
static struct vtp_slot *
dev_slot(struct dp_vtp_devices *t, uint64_t device, bool *fresh)
{
	uint32_t i = (uint32_t)((device * FIB_MULT) >> t->shift);

	for (unsigned n = 0; n < DP_VTP_PROBE_LIMIT; n++) {
		struct vtp_slot *s = &t->slot[(i + n) & t->mask];

		if (s->window == 0) {
			if (t->used >= t->capacity)
				return NULL;
			t->used++;
			s->device = device;
			*fresh = true;
			return s;
		}
		if (s->device == device)
			return s;
	}
	return NULL;
}

/*
 * VTP.md section 6.3, in serial-number arithmetic: fwd = seq - last and
 * back = last - seq, both modulo 2^32, so the wrap from 2^32 - 1 to 0 is an
 * ordinary step and no signed conversion is needed.
 * @return false if the frame is a duplicate and must not be delivered.
 */
static bool
seq_track(struct vtp_slot *s, bool fresh, uint32_t seq, struct dp_stats *stats)
{
	uint32_t fwd = seq - s->last;
	uint32_t back = s->last - seq;

	if (fresh) {
		s->last = seq;
		s->window = 1;
		s->cand = seq + 1;
		return true;
	}
	if (fwd != 0 && fwd <= DP_VTP_SEQ_MAX_JUMP) {
		if (fwd > 1)
			dp_count(&stats->vtp[DP_VTP_seq_gap], fwd - 1);
		s->window = fwd >= DP_VTP_SEQ_WINDOW ? 1 : (s->window << fwd) | 1;
		s->last = seq;
		s->cand = seq + 1;
		return true;
	}
	if (back < DP_VTP_SEQ_WINDOW) {
		uint64_t bit = UINT64_C(1) << back;

		if (s->window & bit) {
			dp_count(&stats->vtp[DP_VTP_seq_duplicate], 1);
			return false;
		}
		s->window |= bit;
		dp_count(&stats->vtp[DP_VTP_seq_reordered], 1);
		return true;
	}
	if (seq == s->cand) {
		/* Two consecutive frames on a new numbering: the sender restarted.
		 * seq - 1 was the out-of-range frame before, delivered then. */
		s->last = seq;
		s->window = 3;
		s->cand = seq + 1;
		dp_count(&stats->vtp[DP_VTP_seq_restart], 1);
		return true;
	}
	s->cand = seq + 1;
	dp_count(&stats->vtp[DP_VTP_seq_jump], 1);
	return true;
}

/* ------------------------------------------------------------------------ */
/* Observations (VTP.md sections 4, 5 and 11)                                */
/* ------------------------------------------------------------------------ */

/* Wire flags to DP_OBS bits, by name: the X-macro pairs them. Branch-free. */
static inline uint32_t
obs_flags(uint32_t vf)
{
	uint32_t f = 0;

#define DP_X_MAP(name, bit) f |= ((vf >> (bit)) & 1u) << DP_OBS_BIT_##name;
	DP_VTP_OBS_FLAGS(DP_X_MAP)
#undef DP_X_MAP
	if (vf & (DP_VTP_F_INVALID_GROUP | DP_VTP_F_RESERVED))
		f |= DP_OBS(INVALID);
	return f;
}

/*
 * A value that is a placeholder, not a measurement: NaN or infinite, an
 * IEEE 11073 FLOAT special value passed on as a number, or a vendor
 * sentinel (DOMAIN.md section 2).
 */
static inline bool
is_sentinel(double v)
{
	/* Every sentinel is <= -99.9 or >= 8388606 (and a NaN fails both
	 * comparisons): one range test settles the common case. */
	if (v > -99.9 && v < 8388606.0)
		return false;
	if (!isfinite(v))
		return true;
	return v == 8388607.0 || v == -8388608.0 || v == 8388606.0 || v == -8388606.0 ||
	       v == -100.0 || v == -999.0 || v == -99.9;
}

/* ------------------------------------------------------------------------ */
/* Decoder                                                                   */
/* ------------------------------------------------------------------------ */

static int
malformed(struct dp_stats *stats, enum dp_vtp_counter reason)
{
	dp_count(&stats->vtp[reason], 1);
	return -EBADMSG;
}

int
dp_vtp_decode(const uint8_t *payload, size_t len, struct dp_vtp_devices *devs,
	      struct dp_stats *stats, struct dp_decoded *out)
{
	unsigned hlen, count;
	uint64_t device, time;
	uint32_t seq;
	const uint8_t *p;
	uint8_t precision;

	out->kind = DP_MSG_VTP;
	out->msg = payload;
	out->msg_len = (uint16_t)(len > UINT16_MAX ? UINT16_MAX : len);
	out->control_id = (struct dp_span){0, 0};
	out->sender = (struct dp_span){0, 0};
	out->n_obs = 0;
	out->n_alarms = 0;

	/* VTP.md section 9, checks 1 to 13, in order. */
	if (len < DP_VTP_HDR_LEN)
		return malformed(stats, DP_VTP_truncated);
	if (memcmp(payload + HDR_MAGIC, vtp_magic, sizeof(vtp_magic)) != 0)
		return malformed(stats, DP_VTP_magic);
	if (payload[HDR_VERSION] != DP_VTP_VERSION)
		return malformed(stats, DP_VTP_version);
	hlen = payload[HDR_LENGTH];
	if (hlen < DP_VTP_HDR_LEN || (hlen & 3) != 0)
		return malformed(stats, DP_VTP_header_length);
	if (len > DP_VTP_MAX_FRAME)
		return malformed(stats, DP_VTP_too_long);
	if (len < hlen)
		return malformed(stats, DP_VTP_truncated);
	if (payload[HDR_FLAGS] != 0)
		return malformed(stats, DP_VTP_flags_reserved);
	if (rd32(payload + HDR_AUTH) != 0)
		return malformed(stats, DP_VTP_auth_tag);
	count = (unsigned)payload[HDR_COUNT] << 8 | payload[HDR_COUNT + 1];
	if (count > DP_VTP_MAX_OBS)
		return malformed(stats, DP_VTP_too_many_obs);
	device = rd64(payload + HDR_DEVICE);
	if (device == 0)
		return malformed(stats, DP_VTP_device_zero);
	time = rd64(payload + HDR_TIME);
	if (time >> 63)
		return malformed(stats, DP_VTP_time_negative);
	if (len < hlen + (size_t)count * DP_VTP_OBS_LEN)
		return malformed(stats, DP_VTP_length);
	if (len > hlen + (size_t)count * DP_VTP_OBS_LEN)
		return malformed(stats, DP_VTP_trailing);

	/* Check 14 and the notes of 6.3: only a frame that is whole gets to
	 * move its device's sequence state. */
	seq = rd32(payload + HDR_SEQ);
	if (devs != NULL) {
		bool fresh = false;
		struct vtp_slot *s = dev_slot(devs, device, &fresh);

		if (s == NULL)
			dp_count(&stats->vtp[DP_VTP_device_table_full], 1);
		else if (!seq_track(s, fresh, seq, stats))
			return -EALREADY;
	}

	precision = time != 0 ? TIME_PRECISION_NS : 0;
	p = payload + hlen;
	for (unsigned i = 0; i < count; i++, p += DP_VTP_OBS_LEN) {
		uint32_t code = rd32(p + OBS_CODE);
		uint32_t unit = rd32(p + OBS_UNIT);
		uint32_t vf = rd32(p + OBS_FLAGS);
		uint64_t bits = rd64(p + OBS_VALUE);
		const struct rule_metric *metric = rule_metric_by_code(code);
		uint32_t flags = 0;
		double value;

		memcpy(&value, &bits, sizeof(value));
		if (vf != 0) {
			flags = obs_flags(vf);
			if (vf & DP_VTP_F_RESERVED)
				dp_count(&stats->vtp[DP_VTP_obs_reserved], 1);
		}
		if (is_sentinel(value))
			flags |= DP_OBS(SENTINEL) | DP_OBS(INVALID);
		if (metric == NULL)
			flags |= DP_OBS(CODE_UNKNOWN);
		/* The metric's usual unit is known without a second lookup. */
		if (unit != 0 && (metric == NULL || metric->unit != unit) &&
		    rule_unit_by_code(unit) == NULL)
			flags |= DP_OBS(UNIT_UNKNOWN);
		out->obs[i] = (struct dp_obs){
			.device = device,
			.time_ns = (int64_t)time,
			.value = value,
			.code = code,
			.unit = unit,
			.flags = flags,
			.seq = seq,
			.metric = metric,
			.time_precision = precision,
		};
	}
	out->n_obs = count;
	dp_count(&stats->vtp[DP_VTP_frames], 1);
	dp_count(&stats->vtp[DP_VTP_observations], count);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Encoder (VTP.md section 12)                                               */
/* ------------------------------------------------------------------------ */

int
dp_vtp_encode(uint8_t *buf, size_t room, uint64_t device, uint32_t seq, int64_t time_ns,
	      const struct dp_vtp_obs *obs, unsigned n_obs)
{
	size_t len;
	uint8_t *p;

	if (buf == NULL || (obs == NULL && n_obs > 0) || n_obs > DP_VTP_MAX_OBS || device == 0 ||
	    time_ns < 0)
		return -EINVAL;
	for (unsigned i = 0; i < n_obs; i++) {
		if (obs[i].flags & DP_VTP_F_RESERVED)
			return -EINVAL;
	}
	len = DP_VTP_HDR_LEN + (size_t)n_obs * DP_VTP_OBS_LEN;
	if (room < len)
		return -ENOSPC;

	memcpy(buf + HDR_MAGIC, vtp_magic, sizeof(vtp_magic));
	buf[HDR_VERSION] = DP_VTP_VERSION;
	buf[HDR_LENGTH] = DP_VTP_HDR_LEN;
	buf[HDR_FLAGS] = 0;
	buf[HDR_COUNT] = (uint8_t)(n_obs >> 8);
	buf[HDR_COUNT + 1] = (uint8_t)n_obs;
	wr64(buf + HDR_DEVICE, device);
	wr32(buf + HDR_SEQ, seq);
	wr32(buf + HDR_AUTH, 0);
	wr64(buf + HDR_TIME, (uint64_t)time_ns);
	p = buf + DP_VTP_HDR_LEN;
	for (unsigned i = 0; i < n_obs; i++, p += DP_VTP_OBS_LEN) {
		uint64_t bits;

		memcpy(&bits, &obs[i].value, sizeof(bits));
		wr32(p + OBS_CODE, obs[i].code);
		wr64(p + OBS_VALUE, bits);
		wr32(p + OBS_UNIT, obs[i].unit);
		wr32(p + OBS_FLAGS, obs[i].flags);
	}
	return (int)len;
}
