/*
 * hl7.c - the HL7 v2 decoder of the worker's fast path: MLLP frames in a UDP
 * datagram, the segments of each message, IHE PCD-01 (ORU^R01) into
 * observations and IHE PCD-04 (ORU^R40) into device-alarm events.
 *
 * Everything here runs per packet on a worker: no allocation, no lock, no
 * logging, no stdio, no locale. Every loop is bounded by the bytes of the
 * message or by a fixed table. Nothing is copied: the results are spans
 * (offset, length) into the message. Every malformation is counted by
 * reason in dp_stats.hl7[] (the list is DP_HL7_COUNTERS in dataplane.h).
 * DOMAIN.md sections 1-3 are the facts this follows.
 *
 * Decisions, where the standards or the senders leave room:
 *
 * - MLLP. A datagram is a run of frames, 0x0B ... 0x1C 0x0D. Bytes between
 *   frames count mllp_outside once per run; a frame cut short by a new 0x0B
 *   or by the datagram's end counts mllp_unterminated. A datagram holding a
 *   bare message (no 0x0B) is bytes outside a frame and is not decoded: on
 *   the wire vigil takes HL7 only as MLLP, so a sender that leaves the
 *   framing off shows up in mllp_outside. (vigil-decode reads raw files
 *   with dp_hl7_decode directly.) A 0x1C not followed by 0x0D inside a
 *   frame is data.
 * - Message types. Only ORU^R01 and ORU^R40 carry what vigil watches. Any
 *   other (ACK, ADT, QRY, ...) is not the sender's fault, but vigil can do
 *   nothing with it: dp_hl7_decode counts it as unsupported_type and
 *   returns -EBADMSG, so the count shows a feed that is routed here by
 *   mistake.
 * - Segments. Ended by CR, LF or CRLF; blank lines are skipped. A message
 *   with more than DP_HL7_MAX_SEGMENTS segments keeps the first ones
 *   (dp_hl7_msg.truncated) and counts too_many_segments once; what was
 *   kept still decodes.
 * - Device hierarchy. An OBX with an empty OBX-5 that has no value type
 *   (OBX-2 empty), or whose OBX-4 ends in 0 (1.0.0.0 MDS, 1.5.0.0 VMD,
 *   1.5.1.0 channel), or whose code is a device (partition 1 OBJ or 8 PHD
 *   profile) describes the containment tree, not a measurement: it never
 *   becomes an observation. Those at MDS or VMD depth (one or two ordinals
 *   once trailing zeros are dropped: "1", "1.0.0.0", "1.5.0.0") lend their
 *   OBX-18 EUI-64 to the metrics below them: a metric takes the deepest
 *   enclosing row that has one. A later row with the same path replaces an
 *   earlier one (a new OBR group may reuse ordinals).
 * - Device key. OBX-18 (EI) when its 1st or 3rd component is 16 hex digits;
 *   else the enclosing MDS/VMD row's; else MSH-3 (HD) when its 2nd or 1st
 *   component is 16 hex digits; else the 64-bit FNV-1a hash of the whole
 *   MSH-3 field as sent, flagged DEVICE_HASHED.
 * - Metric code. The OBX-3 triplet (components 1-3, 4-6 or 10-12) whose
 *   coding system is MDC gives the code; its reference id is checked
 *   against the code table (an alias the table lists is not a mismatch).
 *   The number is kept when the reference id disagrees (CODE_MISMATCH) or
 *   the code is not in the table (CODE_UNKNOWN). With no MDC triplet, a
 *   LOINC (LN) triplet is looked up (LOINC_ONLY). Anything else:
 *   CODE_UNKNOWN with code 0.
 * - Value. Only NM is numeric: optional sign, digits, at most one dot, no
 *   exponent, spaces around allowed, at most 32 characters; read without
 *   strtod (which follows the locale). Correctly rounded up to 15
 *   significant digits. A value that is not a number counts obx_value and
 *   the observation is kept with NO_VALUE. Other types (ST, CWE, NA, NR,
 *   DTM, ...) give NO_VALUE and NaN.
 * - Unit. The MDC triplet of OBX-6 (its code must be in the table), else
 *   the UCUM triplet (or a bare first component), preferring the metric's
 *   own unit when its UCUM matches ("/min" is both beats and breaths).
 *   An empty OBX-6 leaves unit 0 without UNIT_UNKNOWN.
 * - Time. OBX-14, else OBR-7, else MSH-7 (TIME_FROM_MSH); a timestamp that
 *   is there but does not parse counts `time` once and the next in line is
 *   used.
 * - PCD-04. One OBR group is one alarm. Facets are matched by the
 *   reference id in OBX-3 when one is sent (MDC_... or MDCX_...), and by
 *   the number only when not: 68480-68485 as the ACM profile numbers them,
 *   and the older numbering seen in a GE Mural sample (68164 source, 68165
 *   phase, 68166 state, 68167 inactivation) and a Dräger builder script
 *   (68165 phase, 68166 state, 68167 inactivation, 68168 priority). The two
 *   older numberings agree with each other (each is 316 below the ACM
 *   number), so no number has two meanings; where a reference id and a
 *   number disagree the reference id wins. The event (facet 1) is any
 *   MDC_EVT_/MDCX_EVT_ reference id or a partition 3 code; its OBX-8
 *   `abnormality~priority~type` is used when no priority or type facet
 *   says otherwise. The source is the 68480 facet's coded value or the
 *   first metric row with its NM value. The event code is checked against
 *   the code table like a metric's (CODE_UNKNOWN, CODE_MISMATCH on the
 *   alarm; the number is kept). A group without an event counts
 *   r40_no_event and still yields its alarm (event_code 0) when it has any
 *   facet; a group with no facet at all yields nothing. An ORU^R40 gives
 *   device alarms only, never observations (its metric row is the source).
 * - Speed. dp_hl7_decode reads a message's bytes once (16 bytes at a time
 *   with SSE2, 8 in a 64-bit word elsewhere) into one bit per byte for the
 *   field, component and repetition separators and the line ends; the
 *   segments, fields and components are then cut from those bits, never
 *   by reading the bytes again (struct hl7_doc). Each OBX is split into
 *   fields once, and OBX-3/OBX-6 into components once. A message longer
 *   than the bitmaps (TOK_MAX_LEN) is split from its bytes, with the same
 *   results. dp_hl7_parse and dp_hl7_get, not on the worker's path, split
 *   from the bytes.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane.h"

#define MLLP_START 0x0b
#define MLLP_END 0x1c
#define MLLP_END_CR 0x0d

#define OBX_FIELDS 19	   /* OBX-0 (the name) .. OBX-18 */
#define MSH_FIELDS 11	   /* MSH-0 .. MSH-10 */
#define PATH_MAX_LEVELS 6  /* OBX-4: 1 to 6 dotted ordinals */
#define MAX_DEVICE_ROWS 16 /* MDS/VMD rows remembered per message */
#define NM_MAX_LEN 32	   /* longest NM text read as a number */
#define CWE_COMPONENTS 12  /* a CWE's three coding triplets */

/* The DP_OBS bits that make a value invalid (their descriptions say so). */
#define OBS_INVALID_BITS                                                                        \
	(DP_OBS(TEST) | DP_OBS(DEMO) | DP_OBS(INV) | DP_OBS(NAV) | DP_OBS(CAL) | DP_OBS(BUSY) | \
	 DP_OBS(OFF) | DP_OBS(NI) | DP_OBS(OFF_SCALE) | DP_OBS(STATUS_X) | DP_OBS(SENTINEL) |   \
	 DP_OBS(NO_VALUE))

/* ======================================================================== */
/* Spans and small readers                                                  */
/* ======================================================================== */

static inline struct dp_span
span_make(size_t off, size_t len)
{
	return (struct dp_span){.off = (uint16_t)off, .len = (uint16_t)len};
}

static inline const uint8_t *
span_ptr(const uint8_t *base, struct dp_span s)
{
	return base + s.off;
}

static inline uint8_t
ascii_upper(uint8_t c)
{
	return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
}

static inline bool
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static inline int
hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = ascii_upper(c);
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Equality with a NUL-terminated string, stopping at the first difference:
 * no strlen of a table's string per comparison.
 */
static inline bool
span_eq(const uint8_t *base, struct dp_span s, const char *lit)
{
	const uint8_t *p = span_ptr(base, s);

	for (size_t i = 0; i < s.len; i++)
		if (lit[i] == 0 || (uint8_t)lit[i] != p[i])
			return false;
	return lit[s.len] == 0;
}

/* The same, ASCII case-insensitive. */
static inline bool
span_eq_ci(const uint8_t *base, struct dp_span s, const char *lit)
{
	const uint8_t *p = span_ptr(base, s);

	for (size_t i = 0; i < s.len; i++) {
		uint8_t a = (uint8_t)lit[i];

		/* the same byte needs no case folding, which is the usual case */
		if (a == 0 || (a != p[i] && ascii_upper(a) != ascii_upper(p[i])))
			return false;
	}
	return lit[s.len] == 0;
}

/*
 * span_eq_ci for a word of @p n ASCII letters (a coding system, a value
 * type): the length first, then one OR per byte, as setting bit 5 maps
 * exactly the two cases of a letter, and no other byte, onto one value.
 */
static inline bool
span_is_word(const uint8_t *base, struct dp_span s, const char *word, size_t n)
{
	const uint8_t *p = span_ptr(base, s);

	if (s.len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((p[i] | 0x20) != ((uint8_t)word[i] | 0x20))
			return false;
	return true;
}
#define SPAN_IS_WORD(base, s, word) span_is_word(base, s, word, sizeof(word) - 1)

/*
 * span_eq for a long string of the code table (a reference id, a UCUM
 * code): these are usually equal, so the length is taken first (bounded by
 * the span's) and the bytes compared by memcmp rather than one at a time.
 */
static inline bool
span_eq_str(const uint8_t *base, struct dp_span s, const char *str)
{
	return strnlen(str, (size_t)s.len + 1) == s.len &&
	       memcmp(span_ptr(base, s), str, s.len) == 0;
}

static bool
span_starts(const uint8_t *base, struct dp_span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len >= n && memcmp(span_ptr(base, s), lit, n) == 0;
}

/*
 * Finding delimiters a block at a time. HL7 fields are a few bytes long: a
 * libc memchr call per field costs more than the search itself, so these
 * stay inline. block_eq() gives a mask of the bytes of one block equal to
 * c, exactly; byte i of the block is bit (i << MASK_SHIFT). With SSE2 (every
 * x86-64) a block is 16 bytes; elsewhere, on a little-endian machine, 8
 * bytes in a 64-bit word (SWAR); else the byte loops do the work.
 */
#if defined(__SSE2__)
#include <emmintrin.h>
#define BLOCK 16
#define MASK_SHIFT 0

static inline uint64_t
block_eq(const uint8_t *p, uint8_t c)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);

	return (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8((char)c)));
}

static inline uint64_t
block_eol(const uint8_t *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);

	return (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(
		_mm_cmpeq_epi8(v, _mm_set1_epi8('\r')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))));
}
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BLOCK 8
#define MASK_SHIFT 3
#define SWAR_ONES UINT64_C(0x0101010101010101)
#define SWAR_LOW7 UINT64_C(0x7f7f7f7f7f7f7f7f)

/* The top bit of every zero byte of x, exactly (no borrow between bytes). */
static inline uint64_t
zero_bytes(uint64_t x)
{
	return ~(((x & SWAR_LOW7) + SWAR_LOW7) | x | SWAR_LOW7);
}

static inline uint64_t
load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t
block_eq(const uint8_t *p, uint8_t c)
{
	return zero_bytes(load64(p) ^ (SWAR_ONES * c));
}

static inline uint64_t
block_eol(const uint8_t *p)
{
	uint64_t w = load64(p);

	return zero_bytes(w ^ (SWAR_ONES * '\r')) | zero_bytes(w ^ (SWAR_ONES * '\n'));
}
#else
#define BLOCK 0
#endif

/*
 * The first @p c in [p, end), or end. Blocks may be read up to @p limit,
 * the end of the whole message (never past it): a short span is then one
 * block load with the bytes past @p end masked off.
 */
static inline const uint8_t *
find_byte(const uint8_t *p, const uint8_t *end, uint8_t c, const uint8_t *limit)
{
#if BLOCK
	for (; p < end && limit - p >= BLOCK; p += BLOCK) {
		uint64_t hit = block_eq(p, c);

		if (end - p < BLOCK)
			hit &= (UINT64_C(1) << ((size_t)(end - p) << MASK_SHIFT)) - 1;
		if (hit != 0)
			return p + (__builtin_ctzll(hit) >> MASK_SHIFT);
	}
	if (p >= end)
		return end;
#else
	(void)limit;
#endif
	while (p < end && *p != c)
		p++;
	return p;
}

/* The first CR or LF in [p, end), or end. */
static inline const uint8_t *
find_eol(const uint8_t *p, const uint8_t *end)
{
#if BLOCK
	for (; end - p >= BLOCK; p += BLOCK) {
		uint64_t hit = block_eol(p);
		if (hit != 0)
			return p + (__builtin_ctzll(hit) >> MASK_SHIFT);
	}
#endif
	while (p < end && *p != '\r' && *p != '\n')
		p++;
	return p;
}

/*
 * The @p n-th piece (1-based) of @p s split at @p sep; n == 0 is @p s
 * itself. False when @p s has fewer pieces.
 */
static bool
span_piece(const struct dp_hl7_msg *m, struct dp_span s, char sep, unsigned n, struct dp_span *out)
{
	const uint8_t *base = m->buf, *limit = base + m->len;
	const uint8_t *p = base + s.off, *end = p + s.len, *q;

	if (n == 0) {
		*out = s;
		return true;
	}
	while (--n > 0) {
		q = find_byte(p, end, (uint8_t)sep, limit);
		if (q == end)
			return false;
		p = q + 1;
	}
	q = find_byte(p, end, (uint8_t)sep, limit);
	*out = span_make((size_t)(p - base), (size_t)(q - p));
	return true;
}

/*
 * Split @p s at @p sep into out[0 .. max-1] (max >= 1) in one pass over
 * its blocks; returns how many pieces were stored. Not inlined: in the
 * decoder it is only the fallback of doc_split, whose loop it would crowd.
 */
static __attribute__((noinline)) unsigned
span_split(const struct dp_hl7_msg *m, struct dp_span s, char sep, struct dp_span *out,
	   unsigned max)
{
	const uint8_t *base = m->buf;
	const uint8_t *p = base + s.off, *end = p + s.len, *piece = p;
	unsigned n = 0;

#if BLOCK
	const uint8_t *limit = base + m->len;

	for (; p < end && limit - p >= BLOCK; p += BLOCK) {
		uint64_t hit = block_eq(p, (uint8_t)sep);

		if (end - p < BLOCK)
			hit &= (UINT64_C(1) << ((size_t)(end - p) << MASK_SHIFT)) - 1;
		for (; hit != 0; hit &= hit - 1) {
			const uint8_t *q = p + (__builtin_ctzll(hit) >> MASK_SHIFT);

			out[n++] = span_make((size_t)(piece - base), (size_t)(q - piece));
			if (n == max)
				return n;
			piece = q + 1;
		}
	}
#endif
	for (; p < end; p++) { /* the message's last bytes */
		if (*p != (uint8_t)sep)
			continue;
		out[n++] = span_make((size_t)(piece - base), (size_t)(p - piece));
		if (n == max)
			return n;
		piece = p + 1;
	}
	out[n++] = span_make((size_t)(piece - base), (size_t)(end - piece));
	return n;
}

/* An unsigned decimal of 1 to 10 digits that fits 32 bits. */
static bool
parse_u32(const uint8_t *base, struct dp_span s, uint32_t *v)
{
	const uint8_t *p = span_ptr(base, s);
	uint64_t x = 0;

	if (s.len == 0 || s.len > 10)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned)p[i] - '0'; /* wraps above 9 for any non-digit */

		if (d > 9)
			return false;
		x = x * 10 + d;
	}
	if (x > UINT32_MAX)
		return false;
	*v = (uint32_t)x;
	return true;
}

/* An EUI-64 written as exactly 16 hex digits. */
static bool
parse_eui64(const uint8_t *base, struct dp_span s, uint64_t *v)
{
	const uint8_t *p = span_ptr(base, s);
	uint64_t x = 0;

	if (s.len != 16)
		return false;
	for (size_t i = 0; i < 16; i++) {
		int h = hex_value(p[i]);
		if (h < 0)
			return false;
		x = (x << 4) | (uint64_t)h;
	}
	*v = x;
	return true;
}

/* 64-bit FNV-1a: the device key of a sender that names no EUI-64. */
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

static inline void
count(struct dp_stats *stats, enum dp_hl7_counter c, uint64_t n)
{
	if (stats != NULL)
		dp_count(&stats->hl7[c], n);
}

/* ======================================================================== */
/* Numbers and times                                                        */
/* ======================================================================== */

static const double pow10_table[] = {
	1e0,  1e1,  1e2,  1e3,	1e4,  1e5,  1e6,  1e7,	1e8,  1e9,  1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21,
	1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32,
};

/*
 * An HL7 NM: [spaces][+|-]digits[.digits][spaces], at least one digit, no
 * exponent. The usual case (at most 2^53 once trailing fractional zeros
 * are dropped, and a power of ten up to 10^22) is one operation on two
 * exact doubles, so it is correctly rounded; anything else goes to strtod
 * on a bounded copy, which is exact too. vigil never calls setlocale, so
 * strtod reads '.' as the C locale does.
 */
/* The rare NM the fast path cannot round exactly: already validated. */
static bool
parse_nm_slow(const uint8_t *p, size_t len, double *out)
{
	char buf[NM_MAX_LEN + 1];
	size_t n = 0;

	for (size_t i = 0; i < len && n < NM_MAX_LEN; i++)
		if (p[i] != ' ')
			buf[n++] = (char)p[i];
	buf[n] = '\0';
	*out = strtod(buf, NULL);
	return true;
}

static bool
parse_nm(const uint8_t *p, size_t len, double *out)
{
	size_t i = 0, n_digits = 0;
	uint64_t mant = 0;
	int scale = 0; /* value = mant * 10^scale */
	bool neg = false, dot = false;
	double v;

	while (len > 0 && p[len - 1] == ' ')
		len--;
	while (i < len && p[i] == ' ')
		i++;
	if (len - i == 0 || len - i > NM_MAX_LEN)
		return false;
	if (p[i] == '+' || p[i] == '-')
		neg = p[i++] == '-';
	for (; i < len; i++) {
		uint8_t c = p[i];
		if (c == '.') {
			if (dot)
				return false;
			dot = true;
			continue;
		}
		if (!is_digit(c))
			return false;
		n_digits++;
		if (mant < UINT64_C(100000000000000000)) {
			mant = mant * 10 + (uint64_t)(c - '0');
			if (dot)
				scale--;
		} else if (!dot) {
			scale++; /* an integer digit past what is kept */
		}
	}
	if (n_digits == 0)
		return false;
	while (scale < 0 && mant != 0 && mant % 10 == 0) {
		mant /= 10;
		scale++;
	}
	if (mant > (UINT64_C(1) << 53) || scale < -22 || scale > 22)
		return parse_nm_slow(p, len, out);
	v = (double)mant;
	if (scale < 0)
		v /= pow10_table[-scale];
	else if (scale > 0)
		v *= pow10_table[scale];
	*out = neg ? -v : v;
	return true;
}

/* Vendor sentinels and the 11073 FLOAT special values (DOMAIN.md section 2). */
static bool
is_sentinel(double v)
{
	static const double sentinels[] = {
		-100.0,	    -999.0, -99.9, /* vendors' "no value" */
		8388607.0,		   /* NaN = 2^23 - 1 */
		-8388608.0,		   /* NRes */
		8388606.0,		   /* +INF */
		-8388606.0,		   /* -INF */
	};

	if (fabs(v) < 99.9) /* below every sentinel's magnitude: most values */
		return false;
	for (size_t i = 0; i < sizeof(sentinels) / sizeof(sentinels[0]); i++)
		if (v == sentinels[i])
			return true;
	return false;
}

/* Days from 1970-01-01 to the proleptic Gregorian date y-m-d. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static unsigned
days_in_month(unsigned y, unsigned m)
{
	static const uint8_t days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

static unsigned
two_digits(const uint8_t *d)
{
	return (unsigned)(d[0] * 10 + d[1]);
}

int
dp_hl7_time(const uint8_t *s, size_t len, int64_t *ns, uint8_t *precision, bool *had_offset)
{
	uint8_t d[18]; /* the digits, as values */
	unsigned nd = 0, year, mon = 1, day = 1, hour = 0, min = 0, sec = 0;
	int64_t secs, frac_ns = 0, offset_s = 0;
	bool offset = false;
	size_t i = 0;

	if (s == NULL || ns == NULL)
		return -EINVAL;
	while (i < len && is_digit(s[i]) && nd < 18)
		d[nd++] = (uint8_t)(s[i++] - '0');
	if (i < len && s[i] == '.') {
		if (nd != 14)
			return -EINVAL; /* fractions only after the seconds */
		i++;
		while (i < len && is_digit(s[i]) && nd < 18)
			d[nd++] = (uint8_t)(s[i++] - '0');
		if (nd == 14)
			return -EINVAL; /* a dot and no digit */
	}
	/* 4 to 14 digits in pairs after the year; 15-18 are s.S to s.SSSS */
	if (nd < 4 || (nd < 14 && nd % 2 != 0))
		return -EINVAL;
	if (i < len && (s[i] == '+' || s[i] == '-')) {
		bool neg = s[i++] == '-';
		unsigned oh, om;

		while (i < len && s[i] == ' ') /* "- 0000" from a damaged pump message */
			i++;
		if (len - i < 4 || !is_digit(s[i]) || !is_digit(s[i + 1]) || !is_digit(s[i + 2]) ||
		    !is_digit(s[i + 3]))
			return -EINVAL;
		oh = (unsigned)(s[i] - '0') * 10 + (unsigned)(s[i + 1] - '0');
		om = (unsigned)(s[i + 2] - '0') * 10 + (unsigned)(s[i + 3] - '0');
		if (om > 59 || oh * 60 + om > 14 * 60)
			return -EINVAL;
		i += 4;
		offset_s = (int64_t)(oh * 3600 + om * 60);
		if (neg)
			offset_s = -offset_s;
		offset = true;
	}
	if (i != len)
		return -EINVAL;

	year = (unsigned)(d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3]);
	if (nd >= 6)
		mon = two_digits(d + 4);
	if (nd >= 8)
		day = two_digits(d + 6);
	if (nd >= 10)
		hour = two_digits(d + 8);
	if (nd >= 12)
		min = two_digits(d + 10);
	if (nd >= 14)
		sec = two_digits(d + 12);
	if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 ||
	    min > 59 || sec > 59)
		return -EINVAL;
	for (unsigned k = 14; k < 18; k++)
		frac_ns = frac_ns * 10 + (k < nd ? d[k] : 0);
	frac_ns *= 100000; /* four digits are 1e5 ns apart */

	secs = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec - offset_s;
	if (secs >= INT64_MAX / 1000000000 || secs <= INT64_MIN / 1000000000)
		return -EINVAL;
	*ns = secs * 1000000000 + frac_ns;
	if (precision != NULL)
		*precision = (uint8_t)nd;
	if (had_offset != NULL)
		*had_offset = offset;
	return 0;
}

/* ======================================================================== */
/* Segments, fields, components                                             */
/* ======================================================================== */

/* A delimiter must be printable, not a letter or digit. */
static bool
delimiter_ok(uint8_t c)
{
	return c > 0x20 && c < 0x7f && !is_digit(c) &&
	       !(ascii_upper(c) >= 'A' && ascii_upper(c) <= 'Z');
}

/* MSH-1 and MSH-2: bytes 3-7, or 3-8 with the truncation character. */
static int
read_delimiters(struct dp_hl7_msg *m, const uint8_t *buf, size_t len)
{
	uint8_t d[6];
	size_t i = 4, n;

	if (len < 8)
		return -1;
	while (i < len && i < 10 && buf[i] != buf[3] && buf[i] != '\r' && buf[i] != '\n')
		i++;
	n = i - 4;
	if (n != 4 && n != 5)
		return -1;
	d[0] = buf[3];
	memcpy(d + 1, buf + 4, n);
	for (size_t a = 0; a < n + 1; a++) {
		if (!delimiter_ok(d[a]))
			return -1;
		for (size_t b = a + 1; b < n + 1; b++)
			if (d[a] == d[b])
				return -1;
	}
	m->fs = (char)d[0];
	m->cs = (char)d[1];
	m->rs = (char)d[2];
	m->es = (char)d[3];
	m->ss = (char)d[4];
	m->tc = n == 5 ? (char)d[5] : 0;
	return 0;
}

/*
 * The checks of dp_hl7_parse before its segments: length, MSH, delimiters.
 * On success m->buf, m->len and the delimiters are set and no segment yet.
 */
static int
msg_head(struct dp_hl7_msg *m, const uint8_t *buf, size_t len, enum dp_hl7_counter *reason)
{
	enum dp_hl7_counter why;

	m->buf = buf;
	m->len = 0;
	m->n_seg = 0;
	m->truncated = false;
	m->fs = m->cs = m->rs = m->es = m->ss = m->tc = 0;
	if (len > UINT16_MAX) {
		why = DP_HL7_msg_length;
		goto bad;
	}
	if (buf == NULL || len < 3 || memcmp(buf, "MSH", 3) != 0) {
		why = DP_HL7_no_msh;
		goto bad;
	}
	if (read_delimiters(m, buf, len) < 0) {
		why = DP_HL7_delimiters;
		goto bad;
	}
	m->len = (uint16_t)len;
	return 0;
bad:
	if (reason != NULL)
		*reason = why;
	return -EBADMSG;
}

/* The segments of a message msg_head accepted, a line end at a time. */
static void
msg_segments(struct dp_hl7_msg *m)
{
	const uint8_t *buf = m->buf;
	size_t i = 0, len = m->len;

	while (i < len) {
		size_t start = i;

		i = (size_t)(find_eol(buf + i, buf + len) - buf);
		if (i > start) {
			if (m->n_seg == DP_HL7_MAX_SEGMENTS) {
				m->truncated = true;
				break;
			}
			m->seg[m->n_seg++] = span_make(start, i - start);
		}
		i++; /* CRLF: the LF ends an empty line, which is skipped */
	}
}

int
dp_hl7_parse(struct dp_hl7_msg *m, const uint8_t *buf, size_t len, enum dp_hl7_counter *reason)
{
	if (msg_head(m, buf, len, reason) < 0)
		return -EBADMSG;
	msg_segments(m);
	return 0;
}

static bool
seg_is(const struct dp_hl7_msg *m, unsigned seg, const char *name)
{
	struct dp_span s = m->seg[seg];
	const uint8_t *p = span_ptr(m->buf, s);

	return s.len >= 3 && memcmp(p, name, 3) == 0 && (s.len == 3 || p[3] == (uint8_t)m->fs);
}

/* Field @p field of segment @p seg (HL7 numbering), or false. */
static bool
seg_field(const struct dp_hl7_msg *m, unsigned seg, unsigned field, struct dp_span *out)
{
	const uint8_t *b = m->buf, *p = b + m->seg[seg].off, *end = p + m->seg[seg].len, *q;
	unsigned n;

	q = find_byte(p, end, (uint8_t)m->fs, m->buf + m->len);
	if (field == 0) {
		*out = span_make((size_t)(p - b), (size_t)(q - p));
		return true;
	}
	if (q == end)
		return false;
	n = 1;
	if (seg_is(m, seg, "MSH")) {
		if (field == 1) {
			*out = span_make((size_t)(q - b), 1);
			return true;
		}
		n = 2;
	}
	p = q + 1;
	for (;;) {
		q = find_byte(p, end, (uint8_t)m->fs, m->buf + m->len);
		if (n == field) {
			*out = span_make((size_t)(p - b), (size_t)(q - p));
			return true;
		}
		if (q == end)
			return false;
		n++;
		p = q + 1;
	}
}

/* Repetition, component, sub-component of a field's span (0: the whole). */
static bool
field_item(const struct dp_hl7_msg *m, struct dp_span f, unsigned rep, unsigned comp, unsigned sub,
	   struct dp_span *out)
{
	return span_piece(m, f, m->rs, rep, &f) && span_piece(m, f, m->cs, comp, &f) &&
	       span_piece(m, f, m->ss, sub, out);
}

unsigned
dp_hl7_field_count(const struct dp_hl7_msg *m, unsigned seg)
{
	const uint8_t *p, *end;
	unsigned n = 0;

	if (m == NULL || seg >= m->n_seg)
		return 0;
	p = m->buf + m->seg[seg].off;
	end = p + m->seg[seg].len;
	for (p = find_byte(p, end, (uint8_t)m->fs, m->buf + m->len); p < end;
	     p = find_byte(p + 1, end, (uint8_t)m->fs, m->buf + m->len))
		n++;
	/* MSH-1 is the separator itself: one field more than separators */
	return n > 0 && seg_is(m, seg, "MSH") ? n + 1 : n;
}

bool
dp_hl7_get(const struct dp_hl7_msg *m, unsigned seg, unsigned field, unsigned rep, unsigned comp,
	   unsigned sub, struct dp_span *out)
{
	struct dp_span f;

	if (m == NULL || out == NULL || seg >= m->n_seg || !seg_field(m, seg, field, &f))
		return false;
	/* The name, MSH-1 and MSH-2 hold delimiters: they are never split. */
	if (field == 0 || (field <= 2 && seg_is(m, seg, "MSH"))) {
		if (rep > 1 || comp > 1 || sub > 1)
			return false;
		*out = f;
		return true;
	}
	return field_item(m, f, rep, comp, sub, out);
}

size_t
dp_hl7_unescape(const struct dp_hl7_msg *m, struct dp_span s, char *out, size_t room)
{
	const uint8_t *p = m->buf + s.off, *end = p + s.len;
	const uint8_t es = (uint8_t)m->es;
	size_t n = 0;

#define PUT(c)                                     \
	do {                                       \
		const int put_c_ = (c); /* once */ \
		if (n < room)                      \
			out[n] = (char)put_c_;     \
		n++;                               \
	} while (0)

	while (p < end) {
		const uint8_t *close, *b;
		size_t k;
		int ch = -1;

		if (*p != es || es == 0) {
			PUT(*p++);
			continue;
		}
		close = memchr(p + 1, es, (size_t)(end - p - 1));
		if (close == NULL) { /* an escape that is never closed: literal */
			while (p < end)
				PUT(*p++);
			break;
		}
		b = p + 1;
		k = (size_t)(close - b);
		if (k == 1) {
			switch (b[0]) {
			case 'F':
				ch = (uint8_t)m->fs;
				break;
			case 'S':
				ch = (uint8_t)m->cs;
				break;
			case 'T':
				ch = (uint8_t)m->ss;
				break;
			case 'R':
				ch = (uint8_t)m->rs;
				break;
			case 'E':
				ch = es;
				break;
			case 'P': /* HL7 2.7: the truncation character */
				if (m->tc != 0)
					ch = (uint8_t)m->tc;
				break;
			default:
				break;
			}
		} else if (k == 3 && memcmp(b, ".br", 3) == 0) {
			ch = '\r'; /* a formatted-text line break, as python3-hl7 gives it */
		} else if (k >= 3 && b[0] == 'X' && (k - 1) % 2 == 0) {
			bool hex = true;

			for (size_t j = 1; j < k; j++)
				if (hex_value(b[j]) < 0)
					hex = false;
			if (hex) {
				for (size_t j = 1; j < k; j += 2)
					PUT(hex_value(b[j]) << 4 | hex_value(b[j + 1]));
				p = close + 1;
				continue;
			}
		}
		if (ch >= 0) {
			PUT(ch);
			p = close + 1;
			continue;
		}
		/* unknown: the whole sequence passes through unchanged */
		while (p <= close)
			PUT(*p++);
	}
#undef PUT
	return n;
}

/* ======================================================================== */
/* The decoder's one pass: delimiter bitmaps                                */
/* ======================================================================== */

/*
 * dp_hl7_decode reads a message's bytes once: one bit per byte for each of
 * the field, component and repetition separators (and the line ends, for
 * the segments), 64 bytes to a word. Every later split of a segment, a
 * field or a component walks these bits instead of the bytes. The bitmaps
 * are on the stack and cover TOK_MAX_LEN bytes; a longer message, or a
 * machine without the block scan, is split from its bytes as before. Both
 * give the same spans: a bit is set exactly where the byte is that
 * delimiter (read_delimiters makes the three distinct).
 */
#define TOK_MAX_LEN 4096
#define TOK_WORDS (TOK_MAX_LEN / 64)

enum sep { SEP_FS, SEP_CS, SEP_RS, SEP__COUNT };

struct hl7_doc {
	struct dp_hl7_msg m;
	bool tok; /* bits[] covers the message */
	uint64_t bits[SEP__COUNT][TOK_WORDS];
};

static inline uint8_t
sep_char(const struct dp_hl7_msg *m, enum sep s)
{
	return (uint8_t)(s == SEP_FS ? m->fs : s == SEP_CS ? m->cs : m->rs);
}

#if defined(__SSE2__)
/* The bits of 64 bytes at @p p: fs, cs, rs, and CR or LF. */
static inline void
word_bits(const uint8_t *p, const uint8_t *d, uint64_t *fs, uint64_t *cs, uint64_t *rs,
	  uint64_t *eol)
{
	const __m128i vf = _mm_set1_epi8((char)d[0]), vc = _mm_set1_epi8((char)d[1]);
	const __m128i vr = _mm_set1_epi8((char)d[2]), vcr = _mm_set1_epi8('\r');
	const __m128i vlf = _mm_set1_epi8('\n');
	uint64_t f = 0, c = 0, r = 0, e = 0;

	for (unsigned k = 0; k < 64; k += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + k));

		f |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vf)) << k;
		c |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vc)) << k;
		r |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vr)) << k;
		e |= (uint64_t)(unsigned)_mm_movemask_epi8(
			     _mm_or_si128(_mm_cmpeq_epi8(v, vcr), _mm_cmpeq_epi8(v, vlf)))
		     << k;
	}
	*fs = f;
	*cs = c;
	*rs = r;
	*eol = e;
}
#elif BLOCK
/* One bit per byte from zero_bytes' top bits, gathered by a multiplication. */
static inline uint64_t
swar_gather(uint64_t x)
{
	return ((x >> 7) * UINT64_C(0x0102040810204080)) >> 56;
}

static inline void
word_bits(const uint8_t *p, const uint8_t *d, uint64_t *fs, uint64_t *cs, uint64_t *rs,
	  uint64_t *eol)
{
	uint64_t f = 0, c = 0, r = 0, e = 0;

	for (unsigned k = 0; k < 64; k += 8) {
		f |= swar_gather(block_eq(p + k, d[0])) << k;
		c |= swar_gather(block_eq(p + k, d[1])) << k;
		r |= swar_gather(block_eq(p + k, d[2])) << k;
		e |= swar_gather(block_eol(p + k)) << k;
	}
	*fs = f;
	*cs = c;
	*rs = r;
	*eol = e;
}
#endif

/* Add the segment [start, end) when it is not empty; past the room, truncated. */
static inline void
doc_seg_add(struct dp_hl7_msg *m, size_t start, size_t end)
{
	if (end <= start)
		return;
	if (m->n_seg == DP_HL7_MAX_SEGMENTS) {
		m->truncated = true;
		return;
	}
	m->seg[m->n_seg++] = span_make(start, end - start);
}

/*
 * dp_hl7_parse into @p d, and the bitmaps when the message fits them. The
 * segments are those msg_segments finds: the runs between line ends that
 * are not empty.
 */
static int
doc_parse(struct hl7_doc *d, const uint8_t *buf, size_t len, enum dp_hl7_counter *reason)
{
	struct dp_hl7_msg *m = &d->m;
	uint8_t delim[3];
	size_t start = 0, nw;

	d->tok = false;
	if (msg_head(m, buf, len, reason) < 0)
		return -EBADMSG;
#if BLOCK
	if (len > TOK_MAX_LEN) {
		msg_segments(m);
		return 0;
	}
	d->tok = true;
	delim[0] = (uint8_t)m->fs;
	delim[1] = (uint8_t)m->cs;
	delim[2] = (uint8_t)m->rs;
	nw = (len + 63) / 64;
	for (size_t w = 0; w < nw; w++) {
		const uint8_t *p = buf + w * 64;
		uint8_t tail[64];
		uint64_t eol;

		if (len - w * 64 < 64) { /* never read past the message: zeros match nothing */
			memset(tail, 0, sizeof(tail));
			memcpy(tail, p, len - w * 64);
			p = tail;
		}
		word_bits(p, delim, &d->bits[SEP_FS][w], &d->bits[SEP_CS][w], &d->bits[SEP_RS][w],
			  &eol);
		for (; eol != 0; eol &= eol - 1) {
			size_t e = w * 64 + (size_t)__builtin_ctzll(eol);

			doc_seg_add(m, start, e); /* past the last room: truncated */
			start = e + 1;
		}
	}
	doc_seg_add(m, start, len);
#else
	(void)delim;
	(void)start;
	(void)nw;
	msg_segments(m);
#endif
	return 0;
}

/* The first @p s delimiter in [off, end), or end. */
static inline size_t
doc_next(const struct hl7_doc *d, enum sep s, size_t off, size_t end)
{
	const uint64_t *b = d->bits[s];
	size_t w, q;
	uint64_t x;

	if (!d->tok)
		return (size_t)(find_byte(d->m.buf + off, d->m.buf + end, sep_char(&d->m, s),
					  d->m.buf + d->m.len) -
				d->m.buf);
	if (off >= end)
		return end;
	w = off / 64;
	x = b[w] & (~UINT64_C(0) << (off % 64));
	while (x == 0) {
		if (++w * 64 >= end)
			return end;
		x = b[w];
	}
	q = w * 64 + (size_t)__builtin_ctzll(x);
	return q < end ? q : end;
}

/* span_piece on the bitmaps: the @p n-th piece (1-based; 0: all of @p s). */
static bool
doc_piece(const struct hl7_doc *d, struct dp_span s, enum sep sep, unsigned n, struct dp_span *out)
{
	size_t p = s.off, end = (size_t)s.off + s.len, q;

	if (n == 0) {
		*out = s;
		return true;
	}
	while (--n > 0) {
		q = doc_next(d, sep, p, end);
		if (q == end)
			return false;
		p = q + 1;
	}
	q = doc_next(d, sep, p, end);
	*out = span_make(p, q - p);
	return true;
}

/* span_head on the bitmaps: @p s up to its first @p sep. */
static inline struct dp_span
doc_head(const struct hl7_doc *d, struct dp_span s, enum sep sep)
{
	return span_make(s.off, doc_next(d, sep, s.off, (size_t)s.off + s.len) - s.off);
}

/*
 * span_split on the bitmaps. The word that holds the span's last byte is
 * masked to the span, so a piece needs no bounds check of its own.
 */
static inline __attribute__((always_inline)) unsigned
doc_split(const struct hl7_doc *d, struct dp_span s, enum sep sep, struct dp_span *out,
	  unsigned max)
{
	const uint64_t *b = d->bits[sep];
	const size_t off = s.off, end = off + s.len;
	struct dp_span *o = out, *const o_end = out + max;
	size_t piece = off;

	if (!d->tok)
		return span_split(&d->m, s, (char)sep_char(&d->m, sep), out, max);
	if (off < end) {
		/* 32-bit offsets: a message here is at most TOK_MAX_LEN bytes */
		const unsigned last = (unsigned)(end - 1) / 64;
		const uint64_t end_mask = ~UINT64_C(0) >> (63 - (end - 1) % 64);
		unsigned w = (unsigned)off / 64, base = w * 64, at = (unsigned)off;
		uint64_t x = b[w] & (~UINT64_C(0) << (off % 64));

		if (w == last)
			x &= end_mask;
		for (;;) {
			unsigned q;

			while (x == 0) {
				if (w == last) {
					piece = at;
					goto done;
				}
				x = b[++w];
				base += 64;
				if (w == last)
					x &= end_mask;
			}
			q = base + (unsigned)__builtin_ctzll(x);
			*o++ = span_make(at, q - at);
			if (o == o_end)
				return max;
			at = q + 1;
			x &= x - 1;
		}
	}
done:
	*o++ = span_make(piece, end - piece);
	return (unsigned)(o - out);
}

/*
 * Split segment @p seg into fields, numbered as HL7 does: f[0] is the name;
 * in MSH f[1] is the field separator itself and f[2] the encoding
 * characters. Stores f[0 .. max-1] (@p max >= 2; entries past the last
 * field are left alone) and stops there, as span_split does.
 */
static void
doc_fields(const struct hl7_doc *d, unsigned seg, struct dp_span *f, unsigned max)
{
	struct dp_span s = d->m.seg[seg];

	if (seg_is(&d->m, seg, "MSH") && s.len > 4) {
		f[0] = span_make(s.off, 3);
		f[1] = span_make(s.off + 3u, 1);
		doc_split(d, span_make(s.off + 4u, s.len - 4u), SEP_FS, f + 2, max - 2);
		return;
	}
	doc_split(d, s, SEP_FS, f, max);
}

/* Field @p field of segment @p seg (HL7 numbering), or false: seg_field on the bitmaps. */
static bool
doc_field(const struct hl7_doc *d, unsigned seg, unsigned field, struct dp_span *out)
{
	size_t p = d->m.seg[seg].off, end = p + d->m.seg[seg].len, q;
	unsigned n;

	q = doc_next(d, SEP_FS, p, end);
	if (field == 0) {
		*out = span_make(p, q - p);
		return true;
	}
	if (q == end)
		return false;
	n = 1;
	if (seg_is(&d->m, seg, "MSH")) {
		if (field == 1) {
			*out = span_make(q, 1);
			return true;
		}
		n = 2;
	}
	p = q + 1;
	for (;;) {
		q = doc_next(d, SEP_FS, p, end);
		if (n == field) {
			*out = span_make(p, q - p);
			return true;
		}
		if (q == end)
			return false;
		n++;
		p = q + 1;
	}
}

/* comp_of on the bitmaps: first repetition, component @p comp, or empty. */
static struct dp_span
doc_comp(const struct hl7_doc *d, struct dp_span f, unsigned comp)
{
	struct dp_span out;

	if (!doc_piece(d, doc_head(d, f, SEP_RS), SEP_CS, comp, &out))
		return span_make(0, 0);
	return out;
}

/* ======================================================================== */
/* Decoding: shared state and OBX rows                                      */
/* ======================================================================== */

struct hl7_time {
	int64_t ns;
	uint8_t precision;
	bool had_offset;
	bool ok;
};

/* An MDS or VMD row of the containment tree and the EUI-64 it names. */
struct device_row {
	uint32_t path[PATH_MAX_LEVELS];
	uint8_t depth; /* ordinals once trailing zeros are dropped */
	bool has_eui;
	uint64_t eui;
	struct dp_span id;
};

struct decode_ctx {
	const struct hl7_doc *d;
	const struct dp_hl7_msg *m; /* &d->m */
	struct dp_stats *stats;
	struct dp_decoded *out;
	uint64_t msh_device;
	uint32_t msh_device_flags;
	struct dp_span msh_device_id;
	struct hl7_time msh_time;
	struct hl7_time obr_time;
	struct dp_span patient;
	struct dp_span location;
	unsigned n_rows;
	struct device_row rows[MAX_DEVICE_ROWS];
};

/* The components of a CWE/CE's first repetition, split once. */
struct cwe {
	unsigned n;
	struct dp_span c[CWE_COMPONENTS];
};

/* One OBX, split once. */
struct obx_row {
	unsigned seg;
	struct dp_span f[OBX_FIELDS]; /* f[k] is OBX-k; empty when absent */
	uint32_t path[PATH_MAX_LEVELS];
	unsigned n_path; /* 0: OBX-4 empty or unreadable */
	bool has_mdc;	 /* OBX-3 has an MDC triplet with a numeric code */
	uint32_t mdc;
	struct dp_span refid; /* that triplet's reference id */
	struct cwe id3;	      /* OBX-3's components (last: not cleared) */
};

/* Parse a timestamp field's first component; count it when it is bad. */
static struct hl7_time
read_time(struct decode_ctx *c, struct dp_span f)
{
	struct hl7_time t = {0};
	struct dp_span s;

	if (f.len == 0)
		return t;
	s = doc_comp(c->d, f, 1);
	if (s.len == 0)
		return t;
	if (dp_hl7_time(span_ptr(c->m->buf, s), s.len, &t.ns, &t.precision, &t.had_offset) == 0)
		t.ok = true;
	else
		count(c->stats, DP_HL7_time, 1);
	return t;
}

static void
cwe_split(const struct hl7_doc *d, struct dp_span f, struct cwe *w)
{
	w->n = doc_split(d, doc_head(d, f, SEP_RS), SEP_CS, w->c, CWE_COMPONENTS);
}

/*
 * The coding triplet whose coding system is @p system: the primary
 * (components 1-3), the alternate (4-6) or the second alternate (10-12,
 * HL7 2.7).
 */
static inline __attribute__((always_inline)) bool
cwe_triplet_n(const struct dp_hl7_msg *m, const struct cwe *w, const char *system, size_t n,
	      struct dp_span *id, struct dp_span *text)
{
	static const unsigned first[] = {0, 3, 9}; /* 0-based */

	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
		if (first[i] + 2 >= w->n || !span_is_word(m->buf, w->c[first[i] + 2], system, n))
			continue;
		*id = w->c[first[i]];
		*text = w->c[first[i] + 1];
		return true;
	}
	return false;
}

/* @p system is a literal of ASCII letters ("MDC", "LN", "UCUM"). */
#define cwe_triplet(m, w, system, id, text) \
	cwe_triplet_n(m, w, system, sizeof(system) - 1, id, text)

/*
 * OBX-4: 1 to 6 dotted ordinals, each as parse_u32 reads it (1 to 10
 * digits, at most UINT32_MAX), in one pass over the bytes.
 */
static bool
parse_path(const uint8_t *base, struct dp_span s, uint32_t *path, unsigned *n)
{
	const uint8_t *p = span_ptr(base, s), *end = p + s.len;
	unsigned k = 0;

	*n = 0;
	for (;;) {
		const uint8_t *start = p;
		uint64_t x = 0; /* may wrap past 20 digits: rejected by the length then */

		if (k == PATH_MAX_LEVELS)
			return false;
		for (; p < end && *p != '.'; p++) {
			unsigned d = (unsigned)*p - '0'; /* wraps above 9 for any non-digit */

			if (d > 9)
				return false;
			x = x * 10 + d;
		}
		if (p == start || p - start > 10 || x > UINT32_MAX)
			return false;
		path[k++] = (uint32_t)x;
		if (p == end)
			break;
		p++; /* the dot */
	}
	*n = k;
	return true;
}

static unsigned
path_depth(const uint32_t *path, unsigned n)
{
	while (n > 0 && path[n - 1] == 0)
		n--;
	return n;
}

/* Split an OBX and read what every use of it needs; false when unusable. */
static bool
obx_read(struct decode_ctx *c, unsigned seg, struct obx_row *r)
{
	const struct dp_hl7_msg *m = c->m;
	struct dp_span id, text;

	memset(r, 0, offsetof(struct obx_row, id3));
	r->seg = seg;
	doc_fields(c->d, seg, r->f, OBX_FIELDS);
	id = doc_head(c->d, r->f[3], SEP_RS); /* cwe_split's first repetition */
	if (id.len == 0) {
		count(c->stats, DP_HL7_obx_no_code, 1);
		return false;
	}
	if (r->f[4].len > 0 && !parse_path(m->buf, r->f[4], r->path, &r->n_path)) {
		count(c->stats, DP_HL7_obx_sub_id, 1);
		r->n_path = 0;
	}
	r->id3.n = doc_split(c->d, id, SEP_CS, r->id3.c, CWE_COMPONENTS);
	if (cwe_triplet(m, &r->id3, "MDC", &id, &text) && parse_u32(m->buf, id, &r->mdc)) {
		r->has_mdc = true;
		r->refid = text;
	}
	return true;
}

/* A row that describes the containment tree rather than a measurement. */
static bool
obx_is_containment(const struct obx_row *r)
{
	unsigned partition = r->mdc >> 16;

	if (r->f[5].len != 0)
		return false;
	if (r->f[2].len == 0)
		return true;
	if (r->n_path > 0 && r->path[r->n_path - 1] == 0)
		return true;
	return r->has_mdc && (partition == 1 || partition == 8);
}

/* OBX-18 (EI): the EUI-64 in its 1st or 3rd component. */
static bool
obx_eui(const struct hl7_doc *d, struct dp_span f, uint64_t *eui, struct dp_span *id)
{
	struct dp_span c[3];
	unsigned n;

	if (f.len < 16)
		return false;
	n = doc_split(d, doc_head(d, f, SEP_RS), SEP_CS, c, 3);
	for (unsigned i = 0; i < n; i += 2) { /* components 1 and 3 */
		if (parse_eui64(d->m.buf, c[i], eui)) {
			*id = c[i];
			return true;
		}
	}
	return false;
}

/* Remember an MDS/VMD row; a later row with the same path replaces it. */
static void
device_row_add(struct decode_ctx *c, const struct obx_row *r)
{
	unsigned depth = path_depth(r->path, r->n_path);
	struct device_row *d = NULL;

	if (r->n_path == 0 || depth > 2)
		return;
	for (unsigned i = 0; i < c->n_rows; i++)
		if (c->rows[i].depth == depth &&
		    memcmp(c->rows[i].path, r->path, depth * sizeof(r->path[0])) == 0)
			d = &c->rows[i];
	if (d == NULL) {
		if (c->n_rows == MAX_DEVICE_ROWS) {
			count(c->stats, DP_HL7_device_rows, 1);
			return;
		}
		d = &c->rows[c->n_rows++];
	}
	memset(d, 0, sizeof(*d));
	memcpy(d->path, r->path, depth * sizeof(r->path[0]));
	d->depth = (uint8_t)depth;
	d->has_eui = obx_eui(c->d, r->f[18], &d->eui, &d->id);
}

/* The deepest MDS/VMD row with an EUI-64 whose path begins @p path. */
static const struct device_row *
device_row_enclosing(const struct decode_ctx *c, const uint32_t *path, unsigned n)
{
	const struct device_row *best = NULL;

	for (unsigned i = 0; i < c->n_rows; i++) {
		const struct device_row *d = &c->rows[i];

		if (!d->has_eui || d->depth > n || (best != NULL && d->depth < best->depth))
			continue;
		if (memcmp(d->path, path, d->depth * sizeof(path[0])) == 0)
			best = d;
	}
	return best;
}

/* The device key of a row: its OBX-18, the enclosing MDS/VMD, or MSH-3. */
static void
row_device(const struct decode_ctx *c, const struct obx_row *r, uint64_t *dev, uint32_t *flags,
	   struct dp_span *id)
{
	const struct device_row *d;

	if (obx_eui(c->d, r->f[18], dev, id))
		return;
	d = device_row_enclosing(c, r->path, r->n_path);
	if (d != NULL) {
		*dev = d->eui;
		*id = d->id;
		return;
	}
	*dev = c->msh_device;
	*id = c->msh_device_id;
	*flags |= c->msh_device_flags;
}

/* The time of a row: OBX-14, else OBR-7, else MSH-7. */
static void
row_time(struct decode_ctx *c, const struct obx_row *r, int64_t *ns, uint8_t *precision,
	 uint32_t *flags)
{
	struct hl7_time t = read_time(c, r->f[14]);

	if (!t.ok) {
		t = c->obr_time;
		if (!t.ok && c->msh_time.ok) {
			t = c->msh_time;
			*flags |= DP_OBS(TIME_FROM_MSH);
		}
	}
	if (!t.ok) {
		*ns = 0;
		*precision = 0;
		return;
	}
	*ns = t.ns;
	*precision = t.precision;
	if (!t.had_offset)
		*flags |= DP_OBS(TIME_NO_OFFSET);
}

/* ======================================================================== */
/* ORU^R01: observations (IHE PCD-01)                                       */
/* ======================================================================== */

/* The metric code of OBX-3 (see the file's comment). */
static void
obs_code(const struct decode_ctx *c, const struct obx_row *r, struct dp_obs *o)
{
	const struct dp_hl7_msg *m = c->m;
	struct dp_span id, text;

	if (r->has_mdc) {
		o->code = r->mdc;
		o->metric = rule_metric_by_code(r->mdc);
		if (o->metric == NULL)
			o->flags |= DP_OBS(CODE_UNKNOWN);
		/* the primary reference id first: the index search only for aliases */
		if (r->refid.len > 0 &&
		    !(o->metric != NULL && span_eq_str(m->buf, r->refid, o->metric->refid)) &&
		    rule_metric_by_refid((const char *)span_ptr(m->buf, r->refid), r->refid.len) !=
			    o->metric)
			o->flags |= DP_OBS(CODE_MISMATCH);
		return;
	}
	if (cwe_triplet(m, &r->id3, "LN", &id, &text) && id.len > 0) {
		o->flags |= DP_OBS(LOINC_ONLY);
		o->metric = rule_metric_by_loinc((const char *)span_ptr(m->buf, id), id.len);
		if (o->metric != NULL)
			o->code = o->metric->code;
		else
			o->flags |= DP_OBS(CODE_UNKNOWN);
		return;
	}
	o->flags |= DP_OBS(CODE_UNKNOWN);
}

/* The unit of OBX-6 (see the file's comment). */
static void
obs_unit(const struct decode_ctx *c, struct dp_span f, struct dp_obs *o)
{
	const struct dp_hl7_msg *m = c->m;
	const struct rule_unit *u;
	struct dp_span id, text, ucum;
	struct cwe w;
	uint32_t code;

	o->unit_text = f;
	if (f.len == 0)
		return;
	cwe_split(c->d, f, &w);
	if (cwe_triplet(m, &w, "MDC", &id, &text) && parse_u32(m->buf, id, &code)) {
		/* the metric's own unit needs no search */
		if ((o->metric != NULL && code == o->metric->unit) ||
		    rule_unit_by_code(code) != NULL)
			o->unit = code;
		else
			o->flags |= DP_OBS(UNIT_UNKNOWN);
		return;
	}
	if (cwe_triplet(m, &w, "UCUM", &id, &text))
		ucum = id;
	else if (w.n < 3 || w.c[2].len == 0)
		ucum = w.c[0];
	else
		ucum = span_make(0, 0);
	if (ucum.len == 0) {
		o->flags |= DP_OBS(UNIT_UNKNOWN);
		return;
	}
	if (o->metric != NULL) {
		u = rule_unit_by_code(o->metric->unit);
		if (u != NULL && u->ucum != NULL && span_eq(m->buf, ucum, u->ucum)) {
			o->unit = u->code;
			return;
		}
	}
	u = rule_unit_by_ucum((const char *)span_ptr(m->buf, ucum), ucum.len);
	if (u != NULL)
		o->unit = u->code;
	else
		o->flags |= DP_OBS(UNIT_UNKNOWN);
}

/* OBX-8 (repeating): abnormality and measurement-status flags. */
static uint32_t
obx8_flags(const struct hl7_doc *d, struct dp_span f)
{
	static const struct {
		const char *text;
		uint32_t bit;
	} map[] = {
		{"L", DP_OBS(ABN_L)},	  {"LL", DP_OBS(ABN_LL)},   {"H", DP_OBS(ABN_H)},
		{"HH", DP_OBS(ABN_HH)},	  {"A", DP_OBS(ABN_A)},	    {"INV", DP_OBS(INV)},
		{"QUES", DP_OBS(QUES)},	  {"NAV", DP_OBS(NAV)},	    {"CAL", DP_OBS(CAL)},
		{"TEST", DP_OBS(TEST)},	  {"DEMO", DP_OBS(DEMO)},   {"EARLY", DP_OBS(EARLY)},
		{"BUSY", DP_OBS(BUSY)},	  {"ALACT", DP_OBS(ALACT)}, {"ALINH", DP_OBS(ALINH)},
		{"NI", DP_OBS(NI)},	  {"OFF", DP_OBS(OFF)},	    {">", DP_OBS(OFF_SCALE)},
		{"<", DP_OBS(OFF_SCALE)},
	};
	uint32_t flags = 0;
	struct dp_span rep;

	if (f.len == 0)
		return 0;
	for (unsigned i = 1; doc_piece(d, f, SEP_RS, i, &rep); i++) {
		struct dp_span v;

		if (!doc_piece(d, rep, SEP_CS, 1, &v))
			v = span_make(0, 0);
		for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++)
			if (span_eq(d->m.buf, v, map[k].text))
				flags |= map[k].bit;
	}
	return flags;
}

/* An NM value (OBX-2 NM); false and counted when it is not a number. */
static bool
obx_nm(struct decode_ctx *c, const struct obx_row *r, double *v)
{
	if (!parse_nm(span_ptr(c->m->buf, r->f[5]), r->f[5].len, v)) {
		count(c->stats, DP_HL7_obx_value, 1);
		return false;
	}
	return true;
}

static void
r01_obx(struct decode_ctx *c, unsigned seg)
{
	const struct dp_hl7_msg *m = c->m;
	struct dp_decoded *out = c->out;
	struct obx_row r;
	struct dp_obs *o;
	uint32_t seq;

	if (!obx_read(c, seg, &r))
		return;
	if (obx_is_containment(&r)) {
		device_row_add(c, &r);
		return;
	}
	if (out->n_obs == DP_MAX_OBS) {
		count(c->stats, DP_HL7_obs_limit, 1);
		return;
	}
	o = &out->obs[out->n_obs];
	memset(o, 0, sizeof(*o));
	o->value = NAN;
	if (parse_u32(m->buf, r.f[1], &seq))
		o->seq = seq;
	o->obs_id = r.f[3];
	o->containment = r.f[4];
	o->patient = c->patient;
	o->location = c->location;
	obs_code(c, &r, o);
	row_device(c, &r, &o->device, &o->flags, &o->device_id);

	if (r.f[5].len == 0) {
		o->flags |= DP_OBS(NO_VALUE);
	} else if (r.f[2].len == 0) {
		count(c->stats, DP_HL7_obx_no_type, 1);
		o->flags |= DP_OBS(NO_VALUE);
	} else if (SPAN_IS_WORD(m->buf, r.f[2], "NM")) {
		if (obx_nm(c, &r, &o->value)) {
			if (is_sentinel(o->value))
				o->flags |= DP_OBS(SENTINEL);
		} else {
			o->flags |= DP_OBS(NO_VALUE);
		}
	} else {
		o->flags |= DP_OBS(NO_VALUE);
	}

	obs_unit(c, r.f[6], o);
	o->flags |= obx8_flags(c->d, r.f[8]);
	if (r.f[11].len > 0) {
		o->status = (char)span_ptr(m->buf, r.f[11])[0];
		if (ascii_upper((uint8_t)o->status) == 'X')
			o->flags |= DP_OBS(STATUS_X);
	}
	row_time(c, &r, &o->time_ns, &o->time_precision, &o->flags);
	if (o->flags & OBS_INVALID_BITS)
		o->flags |= DP_OBS(INVALID);
	out->n_obs++;
}

/* ======================================================================== */
/* ORU^R40: device alarms (IHE PCD-04)                                      */
/* ======================================================================== */

enum facet {
	FACET_METRIC = 0, /* a metric row: the source with its value */
	FACET_EVENT,	  /* 1: the alarm's identity */
	FACET_SOURCE,	  /* 2: MDC_ATTR_ALERT_SOURCE */
	FACET_PHASE,
	FACET_STATE,
	FACET_INACTIVATION,
	FACET_PRIORITY,
	FACET_TYPE,
	FACET_OTHER, /* another attribute (confirm timeout, alert text, ...) */
};

static const struct {
	const char *refid;
	uint32_t code, legacy; /* ACM number; the older GE/Dräger number (0: none) */
	enum facet facet;
} facets[] = {
	{"MDC_ATTR_ALERT_SOURCE", 68480, 68164, FACET_SOURCE},
	{"MDC_ATTR_EVENT_PHASE", 68481, 68165, FACET_PHASE},
	{"MDC_ATTR_ALARM_STATE", 68482, 68166, FACET_STATE},
	{"MDC_ATTR_ALERT_STATE", 68482, 68166, FACET_STATE}, /* GE Mural's spelling */
	{"MDC_ATTR_ALARM_INACTIVATION_STATE", 68483, 68167, FACET_INACTIVATION},
	{"MDC_ATTR_ALARM_PRIORITY", 68484, 68168, FACET_PRIORITY},
	{"MDC_ATTR_ALERT_TYPE", 68485, 0, FACET_TYPE},
	{"MDC_ATTR_CONFIRM_TIMEOUT", 67860, 0, FACET_OTHER},
};

static enum facet
facet_of(const struct dp_hl7_msg *m, const struct obx_row *r)
{
	const size_t n = sizeof(facets) / sizeof(facets[0]);

	/* a reference id, when sent, decides */
	if (span_starts(m->buf, r->refid, "MDC_") || span_starts(m->buf, r->refid, "MDCX_")) {
		for (size_t i = 0; i < n; i++)
			if (span_eq(m->buf, r->refid, facets[i].refid))
				return facets[i].facet;
		if (span_starts(m->buf, r->refid, "MDC_EVT_") ||
		    span_starts(m->buf, r->refid, "MDCX_EVT_"))
			return FACET_EVENT;
		if (span_starts(m->buf, r->refid, "MDC_ATTR_") ||
		    span_starts(m->buf, r->refid, "MDCX_ATTR_"))
			return FACET_OTHER;
		return FACET_METRIC;
	}
	if (!r->has_mdc)
		return FACET_METRIC;
	for (size_t i = 0; i < n; i++)
		if (r->mdc == facets[i].code || (facets[i].legacy && r->mdc == facets[i].legacy))
			return facets[i].facet;
	if (r->mdc >> 16 == 3)
		return FACET_EVENT;
	if (r->mdc >> 16 == 1)
		return FACET_OTHER;
	return FACET_METRIC;
}

/* A facet's value (OBX-5, first component) in a table of names; 0 if none. */
static uint8_t
facet_value(const struct hl7_doc *d, struct dp_span f, const char *const *names, size_t n)
{
	struct dp_span v = doc_comp(d, f, 1);

	for (size_t i = 0; i < n; i++)
		if (names[i] != NULL && span_eq_ci(d->m.buf, v, names[i]))
			return (uint8_t)i;
	return 0;
}

#define NAMES_N(a) (sizeof(a) / sizeof(a[0]))
/* Indexed by the enums of dataplane.h; [0] is their UNKNOWN. */
static const char *const phase_names[] = {NULL,	    "start",  "continue", "end",
					  "update", "tpoint", "escalate", "de-escalate"};
static const char *const state_names[] = {NULL, "off", "inactive", "active", "latched"};
static const char *const inact_names[] = {
	NULL,		"enabled",   "audio-paused",	  "audio-off",
	"alarm-paused", "alarm-off", "alert-acknowledged"};
static const char *const prio_names[] = {NULL, "PN", "PL", "PM", "PH"};
static const char *const type_names[] = {NULL, "SP", "ST", "SA"};

/* What one OBR group has gathered about its alarm. */
struct alarm_build {
	struct dp_dev_alarm *a; /* NULL: no group open, or past the limit */
	bool skipping;		/* this group is past DP_MAX_DEV_ALARMS */
	bool any_facet;
	bool have_event;
	bool have_device;
	bool have_source_metric;
	uint8_t obx8_priority, obx8_type;
	struct hl7_time event_time;
	struct hl7_time obr_time;
	uint32_t event_path[PATH_MAX_LEVELS];
	unsigned event_n_path;
};

static void
alarm_open(struct decode_ctx *c, struct alarm_build *b, struct dp_span alarm_id)
{
	struct dp_decoded *out = c->out;

	memset(b, 0, sizeof(*b));
	b->obr_time = c->obr_time;
	if (out->n_alarms == DP_MAX_DEV_ALARMS) {
		b->skipping = true;
		count(c->stats, DP_HL7_alarm_limit, 1);
		return;
	}
	b->a = &out->alarm[out->n_alarms];
	memset(b->a, 0, sizeof(*b->a));
	b->a->source_value = NAN;
	b->a->alarm_id = alarm_id;
	b->a->patient = c->patient;
	b->a->location = c->location;
}

static void
alarm_close(struct decode_ctx *c, struct alarm_build *b)
{
	struct dp_dev_alarm *a = b->a;
	struct hl7_time t;

	if (a == NULL)
		return;
	b->a = NULL;
	if (!b->have_event)
		count(c->stats, DP_HL7_r40_no_event, 1);
	if (!b->any_facet)
		return; /* an OBR group with no facet: nothing to report */
	if (a->priority == DP_PRIO_UNKNOWN)
		a->priority = b->obx8_priority;
	if (a->type == DP_ATYPE_UNKNOWN)
		a->type = b->obx8_type;
	if (!b->have_device) {
		const struct device_row *d =
			device_row_enclosing(c, b->event_path, b->event_n_path);
		if (d != NULL) {
			a->device = d->eui;
			a->device_id = d->id;
		} else {
			a->device = c->msh_device;
			a->device_id = c->msh_device_id;
			a->flags |= c->msh_device_flags;
		}
	}
	t = b->event_time;
	if (!t.ok)
		t = b->obr_time;
	if (!t.ok && c->msh_time.ok) {
		t = c->msh_time;
		a->flags |= DP_OBS(TIME_FROM_MSH);
	}
	if (t.ok) {
		a->time_ns = t.ns;
		if (!t.had_offset)
			a->flags |= DP_OBS(TIME_NO_OFFSET);
	}
	c->out->n_alarms++;
}

/* Facet 1's OBX-8: abnormality~priority~type (ACM trial draft, GE Mural). */
static void
alarm_obx8(const struct hl7_doc *d, struct dp_span f, struct alarm_build *b)
{
	struct dp_span rep;

	for (unsigned i = 1; doc_piece(d, f, SEP_RS, i, &rep); i++) {
		uint8_t p = facet_value(d, rep, prio_names, NAMES_N(prio_names));
		uint8_t t = facet_value(d, rep, type_names, NAMES_N(type_names));

		if (p != 0)
			b->obx8_priority = p;
		if (t != 0)
			b->obx8_type = t;
	}
}

/* Set an enum facet; an unknown value is counted and left unknown. */
static void
alarm_enum(struct decode_ctx *c, const struct obx_row *r, uint8_t *field, const char *const *names,
	   size_t n)
{
	uint8_t v = facet_value(c->d, r->f[5], names, n);

	if (v == 0)
		count(c->stats, DP_HL7_r40_facet, 1);
	*field = v;
}

/*
 * The event code against the code table: an unknown code is flagged, and so
 * is a reference id that names something else (the number is kept, as for
 * metrics).
 */
static void
alarm_event_check(const struct dp_hl7_msg *m, const struct obx_row *r, struct dp_dev_alarm *a)
{
	const char *known = r->has_mdc ? rule_code_refid(r->mdc) : NULL;

	if (known == NULL)
		a->flags |= DP_OBS(CODE_UNKNOWN);
	else if (r->refid.len > 0 && !span_eq(m->buf, r->refid, known))
		a->flags |= DP_OBS(CODE_MISMATCH);
}

static void
r40_obx(struct decode_ctx *c, struct alarm_build *b, unsigned seg)
{
	const struct dp_hl7_msg *m = c->m;
	struct obx_row r;
	struct dp_dev_alarm *a;
	enum facet facet;
	struct dp_span id, text;
	struct cwe w;
	uint32_t code;
	double v;

	if (b->skipping)
		return;
	if (!obx_read(c, seg, &r))
		return;
	facet = facet_of(m, &r);
	if (facet == FACET_METRIC && obx_is_containment(&r)) {
		device_row_add(c, &r);
		return;
	}
	if (b->a == NULL)
		alarm_open(c, b, span_make(0, 0)); /* OBX before any OBR */
	if (b->skipping)
		return;
	a = b->a;
	b->any_facet = true;
	if (!b->have_device &&
	    obx_eui(c->d, r.f[18], &a->device, &a->device_id)) /* any facet's OBX-18 */
		b->have_device = true;

	switch (facet) {
	case FACET_EVENT:
		if (b->have_event)
			break;
		b->have_event = true;
		a->event_code = r.has_mdc ? r.mdc : 0;
		alarm_event_check(m, &r, a);
		a->text = r.f[5];
		memcpy(b->event_path, r.path, sizeof(b->event_path));
		b->event_n_path = r.n_path;
		b->event_time = read_time(c, r.f[14]);
		alarm_obx8(c->d, r.f[8], b);
		break;
	case FACET_SOURCE:
		cwe_split(c->d, r.f[5], &w);
		if (a->source_code == 0 && cwe_triplet(m, &w, "MDC", &id, &text) &&
		    parse_u32(m->buf, id, &code))
			a->source_code = code;
		break;
	case FACET_PHASE:
		alarm_enum(c, &r, &a->phase, phase_names, NAMES_N(phase_names));
		break;
	case FACET_STATE:
		alarm_enum(c, &r, &a->state, state_names, NAMES_N(state_names));
		break;
	case FACET_INACTIVATION:
		alarm_enum(c, &r, &a->inactivation, inact_names, NAMES_N(inact_names));
		break;
	case FACET_PRIORITY:
		alarm_enum(c, &r, &a->priority, prio_names, NAMES_N(prio_names));
		break;
	case FACET_TYPE:
		alarm_enum(c, &r, &a->type, type_names, NAMES_N(type_names));
		break;
	case FACET_METRIC:
		if (b->have_source_metric)
			break;
		b->have_source_metric = true;
		if (r.has_mdc)
			a->source_code = r.mdc;
		if (r.f[5].len > 0 && SPAN_IS_WORD(m->buf, r.f[2], "NM") && obx_nm(c, &r, &v))
			a->source_value = v;
		break;
	case FACET_OTHER:
		break;
	}
}

/* ======================================================================== */
/* Messages and MLLP frames                                                 */
/* ======================================================================== */

/* MSH-3 (HD): the EUI-64 in its 2nd or 1st component, else a hash of it. */
static void
msh_device(struct decode_ctx *c, struct dp_span msh3)
{
	static const unsigned comps[] = {2, 1};

	for (size_t i = 0; i < 2; i++) {
		struct dp_span s = doc_comp(c->d, msh3, comps[i]);
		if (parse_eui64(c->m->buf, s, &c->msh_device)) {
			c->msh_device_id = s;
			return;
		}
	}
	c->msh_device = fnv1a64(span_ptr(c->m->buf, msh3), msh3.len);
	c->msh_device_id = msh3;
	c->msh_device_flags = DP_OBS(DEVICE_HASHED);
}

int
dp_hl7_decode(const uint8_t *msg, size_t len, struct dp_stats *stats, struct dp_decoded *out)
{
	struct hl7_doc doc;
	const struct dp_hl7_msg *m = &doc.m;
	struct decode_ctx c;
	struct alarm_build b;
	struct dp_span msh[MSH_FIELDS] = {{0}}, type, event;
	enum dp_hl7_counter why;

	out->kind = DP_MSG_OTHER;
	out->msg = msg;
	out->msg_len = len <= UINT16_MAX ? (uint16_t)len : 0;
	out->control_id = span_make(0, 0);
	out->sender = span_make(0, 0);
	out->n_obs = 0;
	out->n_alarms = 0;

	if (doc_parse(&doc, msg, len, &why) < 0)
		goto bad;
	doc_fields(&doc, 0, msh, MSH_FIELDS);
	type = doc_comp(&doc, msh[9], 1);
	event = doc_comp(&doc, msh[9], 2);
	if (type.len == 0 || msh[10].len == 0) {
		why = DP_HL7_msh_fields;
		goto bad;
	}
	if (span_eq(m->buf, type, "ORU") && span_eq(m->buf, event, "R01")) {
		out->kind = DP_MSG_ORU_R01;
	} else if (span_eq(m->buf, type, "ORU") && span_eq(m->buf, event, "R40")) {
		out->kind = DP_MSG_ORU_R40;
	} else {
		why = DP_HL7_unsupported_type;
		goto bad;
	}
	if (m->truncated)
		count(stats, DP_HL7_too_many_segments, 1);
	out->control_id = msh[10];
	out->sender = msh[3];

	memset(&c, 0, offsetof(struct decode_ctx, rows));
	c.d = &doc;
	c.m = m;
	c.stats = stats;
	c.out = out;
	msh_device(&c, msh[3]);
	c.msh_time = read_time(&c, msh[7]);
	memset(&b, 0, sizeof(b));

	for (unsigned seg = 1; seg < m->n_seg; seg++) {
		struct dp_span f;

		if (seg_is(m, seg, "OBX")) {
			if (out->kind == DP_MSG_ORU_R01)
				r01_obx(&c, seg);
			else
				r40_obx(&c, &b, seg);
		} else if (seg_is(m, seg, "OBR")) {
			alarm_close(&c, &b);
			c.obr_time = doc_field(&doc, seg, 7, &f) ? read_time(&c, f)
								 : (struct hl7_time){0};
			if (out->kind == DP_MSG_ORU_R40)
				alarm_open(&c, &b,
					   doc_field(&doc, seg, 3, &f) ? f : span_make(0, 0));
		} else if (seg_is(m, seg, "PID")) {
			c.patient = doc_field(&doc, seg, 3, &f) ? doc_comp(&doc, f, 1)
								: span_make(0, 0);
			c.location = span_make(0, 0);
		} else if (seg_is(m, seg, "PV1")) {
			c.location = doc_field(&doc, seg, 3, &f) ? f : span_make(0, 0);
		}
	}
	alarm_close(&c, &b);

	count(stats, DP_HL7_messages, 1);
	count(stats, DP_HL7_observations, out->n_obs);
	count(stats, DP_HL7_device_alarms, out->n_alarms);
	return 0;
bad:
	out->kind = DP_MSG_OTHER;
	count(stats, why, 1);
	return -EBADMSG;
}

unsigned
dp_mllp_decode(const uint8_t *payload, size_t len, struct dp_stats *stats,
	       struct dp_decoded *scratch, dp_decoded_fn fn, void *arg)
{
	unsigned bad;

	return dp_mllp_decode_bad(payload, len, stats, scratch, fn, arg, &bad);
}

unsigned
dp_mllp_decode_bad(const uint8_t *payload, size_t len, struct dp_stats *stats,
		   struct dp_decoded *scratch, dp_decoded_fn fn, void *arg, unsigned *n_bad)
{
	const uint8_t *p = payload;
	unsigned decoded = 0;
	unsigned bad = 0;
	size_t i = 0;

	if (len == 0 || payload == NULL) {
		count(stats, DP_HL7_mllp_empty, 1);
		*n_bad = 1;
		return 0;
	}
	while (i < len) {
		size_t start, j;

		if (p[i] != MLLP_START) { /* a run of bytes outside any frame */
			const uint8_t *q = memchr(p + i, MLLP_START, len - i);

			count(stats, DP_HL7_mllp_outside, 1);
			bad++;
			if (q == NULL)
				break;
			i = (size_t)(q - p);
		}
		start = i + 1;
		j = start;
		for (;;) {
			const uint8_t *fs = memchr(p + j, MLLP_END, len - j);
			size_t stop = fs ? (size_t)(fs - p) : len;
			const uint8_t *vt = memchr(p + j, MLLP_START, stop - j);

			if (vt != NULL) { /* a new frame before this one ended */
				count(stats, DP_HL7_mllp_unterminated, 1);
				bad++;
				i = (size_t)(vt - p);
				break;
			}
			if (fs == NULL) {
				count(stats, DP_HL7_mllp_unterminated, 1);
				bad++;
				i = len;
				break;
			}
			if (stop + 1 < len && p[stop + 1] == MLLP_END_CR) {
				if (dp_hl7_decode(p + start, stop - start, stats, scratch) == 0) {
					decoded++;
					if (fn != NULL)
						fn(arg, scratch);
				} else {
					bad++;
				}
				i = stop + 2;
				break;
			}
			j = stop + 1; /* a 0x1C that does not end the frame is data */
		}
	}
	*n_bad = bad;
	return decoded;
}
