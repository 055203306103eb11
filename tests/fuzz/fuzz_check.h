/*
 * fuzz_check.h - what the libFuzzer targets of tests/fuzz share: the check
 * that turns a broken invariant into a crash libFuzzer keeps as a
 * reproducer, and the observation flag masks read from dataplane.h's own
 * descriptions (so a flag added there is checked here without an edit).
 *
 * Sanitizers find memory errors on their own; these checks find the
 * decoders' logic errors: a span outside its message, a counter that moved
 * when it should not, an INVALID bit that disagrees with the bits that
 * imply it.
 */
#ifndef VIGIL_FUZZ_CHECK_H
#define VIGIL_FUZZ_CHECK_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: say which and where, then abort so libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                                     \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, \
				#cond);                                                      \
			abort();                                                             \
		}                                                                            \
	} while (0)

/* A span lies within a message of @p len bytes. */
static inline bool
fuzz_span_in(struct dp_span s, size_t len)
{
	return (size_t)s.off + s.len <= len;
}

/*
 * The DP_OBS bits that make a value invalid: those whose description in
 * DP_OBS_FLAGS starts with "invalid:", less INVALID itself (which is set
 * exactly when one of the others is).
 */
static inline uint32_t
fuzz_obs_invalid_bits(void)
{
	uint32_t m = 0;

	for (unsigned b = 0; b < DP_OBS_BIT__COUNT; b++)
		if (b != DP_OBS_BIT_INVALID &&
		    strncmp(dp_obs_flag_desc((enum dp_obs_bit)b), "invalid:", 8) == 0)
			m |= UINT32_C(1) << b;
	return m;
}

/* Every DP_OBS bit that exists. */
#define FUZZ_OBS_ALL_BITS ((uint32_t)((UINT64_C(1) << DP_OBS_BIT__COUNT) - 1))

/* Two doubles are the same value: the same bits, or both NaN. */
static inline bool
fuzz_same_double(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* Sum of a counter array (the decoders' lists are arrays of one type). */
static inline uint64_t
fuzz_sum(const _Atomic uint64_t *c, size_t n)
{
	uint64_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += dp_read(&c[i]);
	return s;
}

#endif /* VIGIL_FUZZ_CHECK_H */
