/*
 * key.c - the byte encodings of storage's keys and observation records.
 *
 * Every integer is big-endian so that RocksDB's bytewise order is numeric
 * order: an observation key is device . time . seq, so one device's
 * records sit together in time order. Times are signed: the sign bit is
 * flipped in a key so that a negative time (before 1970) sorts before
 * zero and after every more negative one.
 */
#include <string.h>

#include "store_private.h"

#define SIGN64 (UINT64_C(1) << 63)

/* ------------------------------------------------------------------------ */
/* Big-endian integers                                                       */
/* ------------------------------------------------------------------------ */

void
store_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

void
store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void
store_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

uint64_t
store_rd64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

uint32_t
store_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint16_t
store_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                      */
/* ------------------------------------------------------------------------ */

void
store_key_obs(uint8_t k[STORE_KEY_OBS], uint64_t device, int64_t time_ns, uint32_t seq)
{
	store_be64(k, device);
	store_be64(k + 8, (uint64_t)time_ns ^ SIGN64);
	store_be32(k + 16, seq);
}

void
store_key_obs_parse(const uint8_t k[STORE_KEY_OBS], uint64_t *device, int64_t *time_ns,
		    uint32_t *seq)
{
	uint64_t t = store_rd64(k + 8) ^ SIGN64;

	*device = store_rd64(k);
	/* Two's complement back to signed without an implementation-defined cast. */
	*time_ns = t <= (uint64_t)INT64_MAX ? (int64_t)t : -(int64_t)(~t) - 1;
	*seq = store_rd32(k + 16);
}

void
store_key_id(uint8_t k[STORE_KEY_ID], uint64_t id)
{
	store_be64(k, id);
}

/* ------------------------------------------------------------------------ */
/* Observation records                                                       */
/* ------------------------------------------------------------------------ */

void
store_obs_encode(const struct store_obs *o, uint8_t rec[STORE_OBS_REC])
{
	uint64_t bits;

	memcpy(&bits, &o->value, sizeof(bits)); /* every bit, a NaN's payload too */
	store_be32(rec, o->code);
	store_be64(rec + 4, bits);
	store_be32(rec + 12, o->unit);
	store_be32(rec + 16, o->flags);
}

void
store_obs_decode(const uint8_t rec[STORE_OBS_REC], struct store_obs *o)
{
	uint64_t bits = store_rd64(rec + 4);

	o->code = store_rd32(rec);
	memcpy(&o->value, &bits, sizeof(bits));
	o->unit = store_rd32(rec + 12);
	o->flags = store_rd32(rec + 16);
}
