/*
 * test_vtp.c - CUnit tests of the VTP decoder, its device table and encoder.
 *
 * The expected values come from dataplane/VTP.md, not from vtp.c: the
 * example frame of section 10 is held here in the same hex as the spec (and
 * the test reads the spec to check that the two copies still agree), every
 * malformation of section 9 is made by breaking one field of a good frame
 * and must move exactly its own counter, and the sequence rules of section
 * 6.3 are walked case by case, across the 2^32 wrap. Frames are decoded from
 * heap copies of exactly their length, so valgrind or ASan see any read past
 * the end.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "cunit_main.h"
#include "dataplane.h"

/* ------------------------------------------------------------------------ */
/* Fixtures and helpers                                                      */
/* ------------------------------------------------------------------------ */

#define DEV_A UINT64_C(0x0123456789abcdef)
#define DEV_B UINT64_C(0x001bc5fffe001234)
#define DEV_C UINT64_C(0x0000000000000042)
#define T0 INT64_C(1772366400123456789) /* 2026-03-01T12:00:00.123456789Z */

#define HR 147842u
#define SPO2 150456u
#define TEMP 150344u
#define RESP 151562u
#define BPM 264864u
#define PERCENT 262688u
#define DEGC 268192u
#define RESP_MIN 264928u
#define PRIVATE_CODE 0x0002f001u /* partition 2, private term: not in the table */

/* VTP.md section 10, the example frame: the same text as the spec. */
static const char example_hex[] = "0000  56 54 50 01 20 00 00 04 01 23 45 67 89 ab cd ef\n"
				  "0010  00 00 03 e8 00 00 00 00 18 98 b5 d9 bb 32 4d 15\n"
				  "0020  00 02 41 82 40 52 00 00 00 00 00 00 00 04 0a a0\n"
				  "0030  00 00 00 00 00 02 4b b8 40 56 00 00 00 00 00 00\n"
				  "0040  00 04 02 20 00 14 00 00 00 02 4b 48 40 42 99 99\n"
				  "0050  99 99 99 9a 00 04 17 a0 00 00 00 02 00 02 50 0a\n"
				  "0060  7f f8 00 00 00 00 00 00 00 04 0a e0 00 00 00 00\n";
#define EXAMPLE_LEN 112

static struct dp_stats stats;
static struct dp_decoded dec;
static uint64_t snap[DP_VTP__COUNT];
static unsigned long handed; /* datagrams given to the decoder since reset */

static int
suite_init(void)
{
	return 0;
}

static void
reset(void)
{
	memset(&stats, 0, sizeof(stats));
	memset(snap, 0, sizeof(snap));
	handed = 0;
}

static void
take_snapshot(void)
{
	for (unsigned i = 0; i < DP_VTP__COUNT; i++)
		snap[i] = dp_read(&stats.vtp[i]);
}

/* Decode from a heap copy of exactly @p len bytes. */
static int
decode(const uint8_t *frame, size_t len, struct dp_vtp_devices *devs)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, frame, len);
	take_snapshot();
	memset(&dec, 0xa5, sizeof(dec)); /* what the decoder leaves alone shows */
	rc = dp_vtp_decode(copy, len, devs, &stats, &dec);
	handed++;
	CU_ASSERT_EQUAL(dec.kind, DP_MSG_VTP);
	CU_ASSERT_PTR_EQUAL(dec.msg, copy);
	CU_ASSERT_EQUAL(dec.msg_len, len);
	CU_ASSERT_EQUAL(dec.n_alarms, 0);
	if (rc != 0) {
		CU_ASSERT_EQUAL(dec.n_obs, 0);
	}
	dec.msg = NULL; /* freed below */
	free(copy);
	return rc;
}

/*
 * The VTP counters moved by exactly the given amounts since the last
 * decode: pairs (counter, delta) ended by -1; every other counter, of every
 * list, did not move.
 */
static bool
moved(const char *what, ...)
{
	uint64_t want[DP_VTP__COUNT] = {0};
	bool ok = true;
	va_list ap;
	int c;

	va_start(ap, what);
	while ((c = va_arg(ap, int)) >= 0)
		want[c] = (uint64_t)va_arg(ap, int);
	va_end(ap);
	for (unsigned i = 0; i < DP_VTP__COUNT; i++) {
		uint64_t d = dp_read(&stats.vtp[i]) - snap[i];

		if (d != want[i]) {
			fprintf(stderr, "\n  %s: vtp.%s moved %llu, expected %llu", what,
				dp_vtp_counter_name(i), (unsigned long long)d,
				(unsigned long long)want[i]);
			ok = false;
		}
	}
	for (unsigned i = 0; i < DP_HL7__COUNT; i++)
		ok &= dp_read(&stats.hl7[i]) == 0;
	for (unsigned i = 0; i < DP_DROP__COUNT; i++)
		ok &= dp_read(&stats.drop[i]) == 0;
	for (unsigned i = 0; i < DP_OUT__COUNT; i++)
		ok &= dp_read(&stats.outcome[i]) == 0;
	return ok;
}

static size_t
parse_hex(const char *text, uint8_t *out, size_t room)
{
	size_t n = 0;

	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n');
		const char *p = line + 6; /* "0000  " */

		if (end == NULL)
			end = line + strlen(line);
		while (p + 1 < end && n < room) {
			unsigned v;

			if (sscanf(p, "%2x", &v) != 1)
				break;
			out[n++] = (uint8_t)v;
			p += 3;
		}
		line = *end ? end + 1 : end;
	}
	return n;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* A good frame of @p n observations (HR, SpO2, temperature, RR in turn). */
static size_t
good_frame(uint8_t *buf, size_t room, uint64_t device, uint32_t seq, unsigned n)
{
	static const struct dp_vtp_obs kinds[4] = {
		{.code = HR, .unit = BPM, .value = 72.0},
		{.code = SPO2, .unit = PERCENT, .value = 97.0},
		{.code = TEMP, .unit = DEGC, .value = 36.8},
		{.code = RESP, .unit = RESP_MIN, .value = 16.0},
	};
	struct dp_vtp_obs obs[DP_VTP_MAX_OBS];
	int len;

	for (unsigned i = 0; i < n && i < DP_VTP_MAX_OBS; i++) {
		obs[i] = kinds[i % 4];
		obs[i].value += i;
	}
	len = dp_vtp_encode(buf, room, device, seq, T0, obs, n);
	CU_ASSERT_FATAL(len > 0);
	return (size_t)len;
}

/* Decode a good frame of one observation from @p device with @p seq. */
static int
send_seq(struct dp_vtp_devices *devs, uint64_t device, uint32_t seq)
{
	uint8_t buf[64];
	size_t len = good_frame(buf, sizeof(buf), device, seq, 1);
	int rc = decode(buf, len, devs);

	if (rc == 0) {
		CU_ASSERT_EQUAL(dec.n_obs, 1);
		CU_ASSERT_EQUAL(dec.obs[0].seq, seq);
		CU_ASSERT_EQUAL(dec.obs[0].device, device);
	}
	return rc;
}

static struct dp_vtp_devices *
table_new(unsigned capacity, void **mem)
{
	size_t size = dp_vtp_devices_size(capacity);

	*mem = NULL;
	if (size == 0 || posix_memalign(mem, 64, size) != 0)
		return NULL;
	return dp_vtp_devices_init(*mem, capacity);
}

/* ------------------------------------------------------------------------ */
/* The example of VTP.md section 10                                          */
/* ------------------------------------------------------------------------ */

/* The hex above is the spec's: read VTP.md and compare the block. */
static void
test_example_matches_spec(void)
{
	const char *root = getenv("VIGIL_SOURCE_ROOT");
	char path[4096], text[65536];
	const char *at, *start, *end;
	size_t n;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	snprintf(path, sizeof(path), "%s/dataplane/VTP.md", root);
	f = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	at = strstr(text, "The frame, 112 bytes");
	CU_ASSERT_PTR_NOT_NULL_FATAL(at);
	start = strstr(at, "```\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(start);
	start += 4;
	end = strstr(start, "```");
	CU_ASSERT_PTR_NOT_NULL_FATAL(end);
	CU_ASSERT_EQUAL((size_t)(end - start), strlen(example_hex));
	CU_ASSERT_EQUAL(strncmp(start, example_hex, strlen(example_hex)), 0);
}

static void
test_example_decodes(void)
{
	uint8_t frame[EXAMPLE_LEN + 8];
	static const struct {
		uint32_t code, unit;
		double value;
		const char *name;
		uint32_t flags;
	} want[4] = {
		{HR, BPM, 72.0, "HR", 0},
		{SPO2, PERCENT, 88.0, "SPO2", DP_OBS(ALACT) | DP_OBS(ABN_L)},
		{TEMP, DEGC, 37.2, "TEMP", DP_OBS(TEST) | DP_OBS(INVALID)},
		{RESP, RESP_MIN, NAN, "RR", DP_OBS(SENTINEL) | DP_OBS(INVALID)},
	};

	reset();
	CU_ASSERT_EQUAL_FATAL(parse_hex(example_hex, frame, sizeof(frame)), EXAMPLE_LEN);
	CU_ASSERT_EQUAL_FATAL(decode(frame, EXAMPLE_LEN, NULL), 0);
	CU_ASSERT_TRUE(moved("example", DP_VTP_frames, 1, DP_VTP_observations, 4, -1));
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 4);
	for (unsigned i = 0; i < 4; i++) {
		const struct dp_obs *o = &dec.obs[i];

		CU_ASSERT_EQUAL(o->device, DEV_A);
		CU_ASSERT_EQUAL(o->time_ns, T0);
		CU_ASSERT_EQUAL(o->time_precision, 23);
		CU_ASSERT_EQUAL(o->seq, 1000);
		CU_ASSERT_EQUAL(o->code, want[i].code);
		CU_ASSERT_EQUAL(o->unit, want[i].unit);
		CU_ASSERT_EQUAL(o->flags, want[i].flags);
		CU_ASSERT_EQUAL(o->status, 0);
		CU_ASSERT_EQUAL(o->patient.len, 0);
		CU_ASSERT_EQUAL(o->location.len, 0);
		CU_ASSERT_EQUAL(o->device_id.len, 0);
		CU_ASSERT_EQUAL(o->obs_id.len, 0);
		CU_ASSERT_EQUAL(o->unit_text.len, 0);
		CU_ASSERT_EQUAL(o->containment.len, 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(o->metric);
		CU_ASSERT_EQUAL(o->metric->code, want[i].code);
		CU_ASSERT_STRING_EQUAL(o->metric->name, want[i].name);
		if (isnan(want[i].value)) {
			CU_ASSERT_TRUE(isnan(o->value));
		} else {
			CU_ASSERT_EQUAL(o->value, want[i].value); /* exact, not near */
		}
	}
	CU_ASSERT_EQUAL(dec.control_id.len, 0);
	CU_ASSERT_EQUAL(dec.sender.len, 0);
}

/* The encoder writes the example byte for byte. */
static void
test_example_encodes(void)
{
	const struct dp_vtp_obs obs[4] = {
		{.code = HR, .unit = BPM, .value = 72.0, .flags = 0},
		{.code = SPO2,
		 .unit = PERCENT,
		 .value = 88.0,
		 .flags = DP_VTP_F(ALACT) | DP_VTP_F(ABN_L)},
		{.code = TEMP, .unit = DEGC, .value = 37.2, .flags = DP_VTP_F(TEST)},
		{.code = RESP, .unit = RESP_MIN, .value = NAN, .flags = 0},
	};
	uint8_t want[EXAMPLE_LEN], got[EXAMPLE_LEN + 16];

	CU_ASSERT_EQUAL_FATAL(parse_hex(example_hex, want, sizeof(want)), EXAMPLE_LEN);
	CU_ASSERT_EQUAL(DP_VTP_F(ALACT) | DP_VTP_F(ABN_L), 0x00140000u);
	memset(got, 0xee, sizeof(got));
	CU_ASSERT_EQUAL_FATAL(dp_vtp_encode(got, sizeof(got), DEV_A, 1000, T0, obs, 4),
			      EXAMPLE_LEN);
	CU_ASSERT_EQUAL(memcmp(got, want, EXAMPLE_LEN), 0);
	CU_ASSERT_EQUAL(got[EXAMPLE_LEN], 0xee); /* nothing written past the frame */
}

/* ------------------------------------------------------------------------ */
/* Encoder and round trips                                                   */
/* ------------------------------------------------------------------------ */

static void
roundtrip(unsigned n)
{
	struct dp_vtp_obs obs[DP_VTP_MAX_OBS];
	uint8_t buf[DP_VTP_MAX_FRAME];
	char what[32];
	int len;

	for (unsigned i = 0; i < n; i++)
		obs[i] = (struct dp_vtp_obs){
			.code = 0x00020000u + 1000u * i + 7u, /* mostly unknown codes */
			.unit = i % 3 == 0 ? 0u : PERCENT,
			.value = (double)i * 1.25 - 3.0,
			.flags = i % 5 == 0 ? DP_VTP_F(QUES) : 0,
		};
	len = dp_vtp_encode(buf, sizeof(buf), DEV_B, 0xfffffff0u + n, T0 + n, obs, n);
	CU_ASSERT_EQUAL_FATAL(len, DP_VTP_HDR_LEN + DP_VTP_OBS_LEN * (int)n);
	reset();
	CU_ASSERT_EQUAL_FATAL(decode(buf, (size_t)len, NULL), 0);
	snprintf(what, sizeof(what), "round trip %u", n);
	CU_ASSERT_TRUE(moved(what, DP_VTP_frames, 1, DP_VTP_observations, (int)n, -1));
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, n);
	for (unsigned i = 0; i < n; i++) {
		const struct dp_obs *o = &dec.obs[i];
		const struct rule_metric *m = rule_metric_by_code(obs[i].code);
		uint32_t f = obs[i].flags ? DP_OBS(QUES) : 0;

		if (m == NULL)
			f |= DP_OBS(CODE_UNKNOWN);
		CU_ASSERT_EQUAL(o->code, obs[i].code);
		CU_ASSERT_EQUAL(o->unit, obs[i].unit);
		CU_ASSERT_EQUAL(o->value, obs[i].value);
		CU_ASSERT_EQUAL(o->flags, f);
		CU_ASSERT_PTR_EQUAL(o->metric, m);
		CU_ASSERT_EQUAL(o->device, DEV_B);
		CU_ASSERT_EQUAL(o->seq, 0xfffffff0u + n);
		CU_ASSERT_EQUAL(o->time_ns, T0 + n);
	}
}

static void
test_roundtrip(void)
{
	static const unsigned sizes[] = {0, 1, 10, 64};

	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		roundtrip(sizes[i]);
}

static void
test_encode_refuses(void)
{
	struct dp_vtp_obs obs[DP_VTP_MAX_OBS + 1] = {{0}};
	uint8_t buf[2048];

	for (unsigned i = 0; i <= DP_VTP_MAX_OBS; i++)
		obs[i] = (struct dp_vtp_obs){.code = HR, .unit = BPM, .value = 60.0};
	CU_ASSERT_EQUAL(dp_vtp_encode(buf, sizeof(buf), DEV_A, 1, T0, obs, 65), -EINVAL);
	CU_ASSERT_EQUAL(dp_vtp_encode(buf, sizeof(buf), DEV_A, 1, T0, obs, 64), 1312);
	/* Room: exactly enough, and one byte short. */
	CU_ASSERT_EQUAL(dp_vtp_encode(buf, 52, DEV_A, 1, T0, obs, 1), 52);
	CU_ASSERT_EQUAL(dp_vtp_encode(buf, 51, DEV_A, 1, T0, obs, 1), -ENOSPC);
	CU_ASSERT_EQUAL(dp_vtp_encode(buf, 32, DEV_A, 1, T0, NULL, 0), 32);
	CU_ASSERT_EQUAL(dp_vtp_encode(buf, 31, DEV_A, 1, T0, NULL, 0), -ENOSPC);
	CU_ASSERT_EQUAL(dp_vtp_encode(buf, 1311, DEV_A, 1, T0, obs, 64), -ENOSPC);
	/* What the decoder would refuse. */
	CU_ASSERT_EQUAL(dp_vtp_encode(buf, sizeof(buf), 0, 1, T0, obs, 1), -EINVAL);
	CU_ASSERT_EQUAL(dp_vtp_encode(buf, sizeof(buf), DEV_A, 1, -1, obs, 1), -EINVAL);
	CU_ASSERT_EQUAL(dp_vtp_encode(buf, sizeof(buf), DEV_A, 1, INT64_MIN, obs, 1), -EINVAL);
	CU_ASSERT_EQUAL(dp_vtp_encode(buf, sizeof(buf), DEV_A, 1, 0, obs, 1), 52);
	CU_ASSERT_EQUAL(dp_vtp_encode(NULL, sizeof(buf), DEV_A, 1, T0, obs, 1), -EINVAL);
	CU_ASSERT_EQUAL(dp_vtp_encode(buf, sizeof(buf), DEV_A, 1, T0, NULL, 1), -EINVAL);
	for (unsigned bit = 0; bit < 32; bit++) {
		int want = (DP_VTP_F_RESERVED >> bit) & 1 ? -EINVAL : 52;

		obs[0].flags = UINT32_C(1) << bit;
		CU_ASSERT_EQUAL(dp_vtp_encode(buf, sizeof(buf), DEV_A, 1, T0, obs, 1), want);
	}
	CU_ASSERT_EQUAL(DP_VTP_F_RESERVED, 0xfe00fc00u);
}

/* ------------------------------------------------------------------------ */
/* Malformations (VTP.md section 9): exactly one counter each                */
/* ------------------------------------------------------------------------ */

/* Decode @p f as it is and expect -EBADMSG with only @p reason counted. */
static bool
rejected(const uint8_t *f, size_t len, enum dp_vtp_counter reason, const char *what)
{
	int rc = decode(f, len, NULL);

	if (rc != -EBADMSG)
		fprintf(stderr, "\n  %s: returned %d", what, rc);
	return moved(what, reason, 1, -1) && rc == -EBADMSG;
}

static void
test_truncated_everywhere(void)
{
	uint8_t f[128];
	size_t len;

	reset();
	len = good_frame(f, sizeof(f), DEV_A, 7, 3);
	CU_ASSERT_EQUAL_FATAL(len, 92);
	for (size_t cut = 0; cut < len; cut++) {
		char what[32];

		snprintf(what, sizeof(what), "cut at %zu", cut);
		CU_ASSERT_TRUE(rejected(f, cut, cut < 32 ? DP_VTP_truncated : DP_VTP_length, what));
	}
	CU_ASSERT_EQUAL(decode(f, len, NULL), 0);
	CU_ASSERT_EQUAL(dp_read(&stats.vtp[DP_VTP_truncated]), 32);
	CU_ASSERT_EQUAL(dp_read(&stats.vtp[DP_VTP_length]), 60);
}

static void
test_header_fields(void)
{
	uint8_t good[128], f[2048];
	size_t len;

	reset();
	len = good_frame(good, sizeof(good), DEV_A, 7, 3);

	for (unsigned i = 0; i < 3; i++) {
		memcpy(f, good, len);
		f[i] ^= 0x20; /* "vtp", "Vtp", ... */
		CU_ASSERT_TRUE(rejected(f, len, DP_VTP_magic, "magic"));
	}
	static const uint8_t versions[] = {0, 2, 255};
	for (unsigned i = 0; i < sizeof(versions); i++) {
		memcpy(f, good, len);
		f[3] = versions[i];
		CU_ASSERT_TRUE(rejected(f, len, DP_VTP_version, "version"));
	}
	static const uint8_t bad_hlen[] = {0, 4, 28, 31, 33, 34, 35, 255};
	for (unsigned i = 0; i < sizeof(bad_hlen); i++) {
		memcpy(f, good, len);
		f[4] = bad_hlen[i];
		CU_ASSERT_TRUE(rejected(f, len, DP_VTP_header_length, "header length"));
	}
	/* A header of 40 bytes in a datagram of 36: ends inside its header. */
	memcpy(f, good, 36);
	f[4] = 40;
	f[6] = f[7] = 0;
	CU_ASSERT_TRUE(rejected(f, 36, DP_VTP_truncated, "shorter than header_length"));

	for (unsigned bit = 0; bit < 8; bit++) {
		memcpy(f, good, len);
		f[5] = (uint8_t)(1u << bit);
		CU_ASSERT_TRUE(rejected(f, len, DP_VTP_flags_reserved, "frame flag"));
	}
	for (unsigned i = 0; i < 4; i++) {
		memcpy(f, good, len);
		f[20 + i] = 0x01;
		CU_ASSERT_TRUE(rejected(f, len, DP_VTP_auth_tag, "auth key id"));
	}
	/* A tag after the observations: still auth_tag, not trailing. */
	memcpy(f, good, len);
	put32(f + 20, 7);
	memset(f + len, 0x5a, 16);
	CU_ASSERT_TRUE(rejected(f, len + 16, DP_VTP_auth_tag, "auth with tag bytes"));

	memcpy(f, good, len);
	f[6] = 0;
	f[7] = 65;
	memset(f + len, 0, 65 * 20 - 60);
	CU_ASSERT_TRUE(rejected(f, 32 + 65 * 20, DP_VTP_too_many_obs, "65 observations"));
	memcpy(f, good, len);
	f[6] = f[7] = 0xff;
	CU_ASSERT_TRUE(rejected(f, len, DP_VTP_too_many_obs, "65535 observations"));

	memcpy(f, good, len);
	put64(f + 8, 0);
	CU_ASSERT_TRUE(rejected(f, len, DP_VTP_device_zero, "device 0"));

	memcpy(f, good, len);
	put64(f + 24, UINT64_C(1) << 63);
	CU_ASSERT_TRUE(rejected(f, len, DP_VTP_time_negative, "time INT64_MIN"));
	memcpy(f, good, len);
	put64(f + 24, UINT64_MAX);
	CU_ASSERT_TRUE(rejected(f, len, DP_VTP_time_negative, "time -1"));

	memcpy(f, good, len);
	f[7] = 4;
	CU_ASSERT_TRUE(rejected(f, len, DP_VTP_length, "count 4, three records"));
	memcpy(f, good, len);
	f[len] = 0;
	CU_ASSERT_TRUE(rejected(f, len + 1, DP_VTP_trailing, "one byte after"));
	memcpy(f, good, len);
	f[7] = 2;
	CU_ASSERT_TRUE(rejected(f, len, DP_VTP_trailing, "count 2, three records"));

	/* Longer than 1452: a grown header and 64 observations. */
	memset(f, 0, sizeof(f));
	memcpy(f, good, 32);
	f[4] = 176;
	f[7] = 64;
	CU_ASSERT_TRUE(rejected(f, 176 + 64 * 20, DP_VTP_too_long, "1456 bytes"));
	/* The first check that fails is the one counted: a datagram of 1453
	 * bytes with a bad header length is header_length. */
	f[4] = 30;
	CU_ASSERT_TRUE(rejected(f, 1453, DP_VTP_header_length, "order of checks"));

	/* Every datagram counted once (VTP.md section 9's identity). */
	uint64_t sum =
		dp_read(&stats.vtp[DP_VTP_frames]) + dp_read(&stats.vtp[DP_VTP_seq_duplicate]);
	for (unsigned c = DP_VTP_truncated; c <= DP_VTP_trailing; c++)
		sum += dp_read(&stats.vtp[c]);
	CU_ASSERT_EQUAL(sum, handed);
	CU_ASSERT_EQUAL(dp_read(&stats.vtp[DP_VTP_frames]), 0);
}

/*
 * Damaged frames of every kind: random bytes changed at random places and
 * random lengths. Whatever happens, each datagram ends in exactly one of
 * "delivered" (frames) or one drop reason, and a delivered frame has as many
 * observations as its count says.
 */
static void
test_random_damage(void)
{
	uint8_t good[DP_VTP_MAX_FRAME], f[DP_VTP_MAX_FRAME + 8];
	uint64_t state = UINT64_C(0x5eed5eed12345678);
	size_t len;
	unsigned bad = 0, delivered = 0;

	reset();
	len = good_frame(good, sizeof(good), DEV_A, 3, 10);
	for (unsigned it = 0; it < 20000; it++) {
		size_t n = len;
		uint64_t before = 0, after = 0;
		int rc;

		memcpy(f, good, len);
		state = state * UINT64_C(6364136223846793005) + 1442695040888963407u;
		for (unsigned k = 0; k < 1 + (state >> 60) % 4; k++) {
			state = state * UINT64_C(6364136223846793005) + 1442695040888963407u;
			f[(state >> 33) % len] = (uint8_t)(state >> 20);
		}
		if ((state >> 13) % 4 == 0)
			n = (size_t)((state >> 40) % (len + 8));
		for (unsigned c = DP_VTP_frames; c <= DP_VTP_trailing; c++)
			before += c == DP_VTP_observations ? 0 : dp_read(&stats.vtp[c]);
		rc = dp_vtp_decode(f, n, NULL, &stats, &dec);
		for (unsigned c = DP_VTP_frames; c <= DP_VTP_trailing; c++)
			after += c == DP_VTP_observations ? 0 : dp_read(&stats.vtp[c]);
		bad += after != before + 1;
		if (rc == 0) {
			delivered++;
			bad += dec.n_obs != (unsigned)(f[6] << 8 | f[7]);
		} else {
			bad += rc != -EBADMSG || dec.n_obs != 0;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(dp_read(&stats.vtp[DP_VTP_frames]), delivered);
	/* Both outcomes happened, or the test tested little. */
	CU_ASSERT_TRUE(delivered > 1000 && delivered < 19000);
}

/* Later revisions grow the header; a version-1 reader skips the extra bytes. */
static void
test_header_growth(void)
{
	uint8_t good[128], f[DP_VTP_MAX_FRAME + 1];
	size_t len;

	reset();
	len = good_frame(good, sizeof(good), DEV_A, 9, 3);
	memcpy(f, good, 32);
	f[4] = 40;
	memset(f + 32, 0xc3, 8); /* unknown fields, not looked at */
	memcpy(f + 40, good + 32, len - 32);
	CU_ASSERT_EQUAL_FATAL(decode(f, len + 8, NULL), 0);
	CU_ASSERT_TRUE(moved("header 40", DP_VTP_frames, 1, DP_VTP_observations, 3, -1));
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 3);
	CU_ASSERT_EQUAL(dec.obs[0].code, HR);
	CU_ASSERT_EQUAL(dec.obs[2].code, TEMP);
	CU_ASSERT_EQUAL(dec.obs[2].value, 36.8 + 2); /* as good_frame made it */

	/* The largest header, and the largest datagram: 252 + 60 * 20 = 1452. */
	memset(f, 0x77, sizeof(f));
	memcpy(f, good, 32);
	f[4] = 252;
	f[7] = 60;
	for (unsigned i = 0; i < 60; i++)
		memcpy(f + 252 + 20 * i, good + 32 + 20 * (i % 3), 20);
	CU_ASSERT_EQUAL_FATAL(decode(f, DP_VTP_MAX_FRAME, NULL), 0);
	CU_ASSERT_TRUE(moved("header 252", DP_VTP_frames, 1, DP_VTP_observations, 60, -1));
	CU_ASSERT_EQUAL(dec.n_obs, 60);
	CU_ASSERT_EQUAL(dec.obs[59].code, TEMP);
	CU_ASSERT_TRUE(rejected(f, DP_VTP_MAX_FRAME + 1, DP_VTP_too_long, "1453 bytes"));
}

/* Heartbeats and the time field. */
static void
test_heartbeat_and_time(void)
{
	uint8_t f[64];
	int len;

	reset();
	len = dp_vtp_encode(f, sizeof(f), DEV_A, 5, T0, NULL, 0);
	CU_ASSERT_EQUAL_FATAL(len, 32);
	CU_ASSERT_EQUAL(decode(f, 32, NULL), 0);
	CU_ASSERT_TRUE(moved("heartbeat", DP_VTP_frames, 1, -1));
	CU_ASSERT_EQUAL(dec.n_obs, 0);

	/* Time 0: the sender has no clock; precision 0. The largest time. */
	good_frame(f, sizeof(f), DEV_A, 5, 1);
	put64(f + 24, 0);
	CU_ASSERT_EQUAL_FATAL(decode(f, 52, NULL), 0);
	CU_ASSERT_EQUAL(dec.obs[0].time_ns, 0);
	CU_ASSERT_EQUAL(dec.obs[0].time_precision, 0);
	put64(f + 24, INT64_MAX);
	CU_ASSERT_EQUAL_FATAL(decode(f, 52, NULL), 0);
	CU_ASSERT_EQUAL(dec.obs[0].time_ns, INT64_MAX);
	CU_ASSERT_EQUAL(dec.obs[0].time_precision, 23);
}

/* ------------------------------------------------------------------------ */
/* Observation flags, values, codes (VTP.md sections 4, 5, 11)               */
/* ------------------------------------------------------------------------ */

static void
test_flag_mapping(void)
{
	/* Written out from VTP.md's table, not from the X-macro. */
	static const struct {
		uint32_t wire;
		uint32_t obs;
	} map[] = {
		{0x00000001, DP_OBS(INV) | DP_OBS(INVALID)},
		{0x00000002, DP_OBS(TEST) | DP_OBS(INVALID)},
		{0x00000004, DP_OBS(DEMO) | DP_OBS(INVALID)},
		{0x00000008, DP_OBS(CAL) | DP_OBS(INVALID)},
		{0x00000010, DP_OBS(NAV) | DP_OBS(INVALID)},
		{0x00000020, DP_OBS(BUSY) | DP_OBS(INVALID)},
		{0x00000040, DP_OBS(OFF) | DP_OBS(INVALID)},
		{0x00000080, DP_OBS(NI) | DP_OBS(INVALID)},
		{0x00000100, DP_OBS(OFF_SCALE) | DP_OBS(INVALID)},
		{0x00000200, DP_OBS(SENTINEL) | DP_OBS(INVALID)},
		{0x00010000, DP_OBS(QUES)},
		{0x00020000, DP_OBS(EARLY)},
		{0x00040000, DP_OBS(ALACT)},
		{0x00080000, DP_OBS(ALINH)},
		{0x00100000, DP_OBS(ABN_L)},
		{0x00200000, DP_OBS(ABN_LL)},
		{0x00400000, DP_OBS(ABN_H)},
		{0x00800000, DP_OBS(ABN_HH)},
		{0x01000000, DP_OBS(ABN_A)},
	};
	uint32_t all_wire = 0, all_obs = 0;
	uint8_t f[128];

	reset();
	for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		struct dp_vtp_obs o = {
			.code = HR, .unit = BPM, .value = 80.0, .flags = map[i].wire};

		CU_ASSERT_EQUAL_FATAL(dp_vtp_encode(f, sizeof(f), DEV_A, i, T0, &o, 1), 52);
		CU_ASSERT_EQUAL_FATAL(decode(f, 52, NULL), 0);
		CU_ASSERT_TRUE(moved("flag", DP_VTP_frames, 1, DP_VTP_observations, 1, -1));
		CU_ASSERT_EQUAL(dec.obs[0].flags, map[i].obs);
		all_wire |= map[i].wire;
		all_obs |= map[i].obs;
	}
	CU_ASSERT_EQUAL(all_wire | DP_VTP_F_RESERVED, 0xffffffffu);
	struct dp_vtp_obs o = {.code = HR, .unit = BPM, .value = 80.0, .flags = all_wire};
	CU_ASSERT_EQUAL_FATAL(dp_vtp_encode(f, sizeof(f), DEV_A, 99, T0, &o, 1), 52);
	CU_ASSERT_EQUAL_FATAL(decode(f, 52, NULL), 0);
	CU_ASSERT_EQUAL(dec.obs[0].flags, all_obs);

	/* Each reserved bit: kept, INVALID, counted once (the encoder refuses
	 * them, so the bit is written into a good frame). */
	for (unsigned bit = 0; bit < 32; bit++) {
		uint32_t b = UINT32_C(1) << bit;

		if (!(DP_VTP_F_RESERVED & b))
			continue;
		good_frame(f, sizeof(f), DEV_A, 5, 2);
		put32(f + 32 + 20 + 16, b); /* the second observation's flags */
		CU_ASSERT_EQUAL_FATAL(decode(f, 72, NULL), 0);
		CU_ASSERT_TRUE(moved("reserved obs flag", DP_VTP_frames, 1, DP_VTP_observations, 2,
				     DP_VTP_obs_reserved, 1, -1));
		CU_ASSERT_EQUAL(dec.n_obs, 2);
		CU_ASSERT_EQUAL(dec.obs[0].flags, 0);
		CU_ASSERT_EQUAL(dec.obs[1].flags, DP_OBS(INVALID));
		CU_ASSERT_EQUAL(dec.obs[1].value, 98.0);
	}
}

static void
test_special_values(void)
{
	static const double sentinels[] = {8388607.0, -8388608.0, 8388606.0, -8388606.0, -100.0,
					   -999.0,    -99.9,	  INFINITY,  -INFINITY};
	static const double ordinary[] = {0.0,	      -0.0,	8388605.0, 8388608.0, -8388607.0,
					  -8388605.0, 100.0,	999.0,	   -99.8,     -100.5,
					  DBL_MAX,    -DBL_MAX, DBL_MIN,   4.9e-324,  37.2};
	static const uint64_t nans[] = {UINT64_C(0x7ff8000000000000), UINT64_C(0xfff8000000000000),
					UINT64_C(0x7ff0000000000001), UINT64_C(0x7fffffffffffffff)};
	uint8_t f[64];

	reset();
	for (unsigned i = 0; i < sizeof(sentinels) / sizeof(sentinels[0]); i++) {
		struct dp_vtp_obs o = {.code = HR, .unit = BPM, .value = sentinels[i]};

		CU_ASSERT_EQUAL_FATAL(dp_vtp_encode(f, sizeof(f), DEV_A, i, T0, &o, 1), 52);
		CU_ASSERT_EQUAL_FATAL(decode(f, 52, NULL), 0);
		CU_ASSERT_EQUAL(dec.obs[0].flags, DP_OBS(SENTINEL) | DP_OBS(INVALID));
		CU_ASSERT_EQUAL(dec.obs[0].value, sentinels[i]); /* delivered unchanged */
	}
	for (unsigned i = 0; i < sizeof(ordinary) / sizeof(ordinary[0]); i++) {
		struct dp_vtp_obs o = {.code = HR, .unit = BPM, .value = ordinary[i]};

		CU_ASSERT_EQUAL_FATAL(dp_vtp_encode(f, sizeof(f), DEV_A, i, T0, &o, 1), 52);
		CU_ASSERT_EQUAL_FATAL(decode(f, 52, NULL), 0);
		CU_ASSERT_EQUAL(dec.obs[0].flags, 0);
		CU_ASSERT_EQUAL(memcmp(&dec.obs[0].value, &ordinary[i], 8), 0);
	}
	/* NaNs of any sign and payload, written as raw bits. */
	for (unsigned i = 0; i < sizeof(nans) / sizeof(nans[0]); i++) {
		uint64_t bits;

		good_frame(f, sizeof(f), DEV_A, 1, 1);
		put64(f + 32 + 4, nans[i]);
		CU_ASSERT_EQUAL_FATAL(decode(f, 52, NULL), 0);
		CU_ASSERT_TRUE(isnan(dec.obs[0].value));
		memcpy(&bits, &dec.obs[0].value, 8);
		CU_ASSERT_EQUAL(bits, nans[i]);
		CU_ASSERT_EQUAL(dec.obs[0].flags, DP_OBS(SENTINEL) | DP_OBS(INVALID));
	}
	/* The sender's own flag with a NaN: both say the same. */
	struct dp_vtp_obs o = {.code = SPO2, .unit = PERCENT, .value = NAN, .flags = DP_VTP_F(NAV)};
	CU_ASSERT_EQUAL_FATAL(dp_vtp_encode(f, sizeof(f), DEV_A, 1, T0, &o, 1), 52);
	CU_ASSERT_EQUAL_FATAL(decode(f, 52, NULL), 0);
	CU_ASSERT_EQUAL(dec.obs[0].flags, DP_OBS(NAV) | DP_OBS(SENTINEL) | DP_OBS(INVALID));
}

static void
test_codes_and_units(void)
{
	const struct dp_vtp_obs obs[5] = {
		{.code = PRIVATE_CODE, .unit = BPM, .value = 1.0}, /* unknown code */
		{.code = HR, .unit = 0, .value = 2.0},		   /* no unit stated */
		{.code = HR, .unit = 0x00041234u, .value = 3.0},   /* unit not in the table */
		{.code = HR, .unit = PERCENT, .value = 4.0},	   /* known, not HR's usual */
		{.code = 0, .unit = 0x00041234u, .value = 5.0},	   /* neither known */
	};
	uint8_t f[256];

	reset();
	CU_ASSERT_EQUAL_FATAL(dp_vtp_encode(f, sizeof(f), DEV_A, 1, T0, obs, 5), 132);
	CU_ASSERT_EQUAL_FATAL(decode(f, 132, NULL), 0);
	CU_ASSERT_PTR_NULL(dec.obs[0].metric);
	CU_ASSERT_EQUAL(dec.obs[0].flags, DP_OBS(CODE_UNKNOWN));
	CU_ASSERT_EQUAL(dec.obs[0].code, PRIVATE_CODE);
	CU_ASSERT_PTR_NOT_NULL(dec.obs[1].metric);
	CU_ASSERT_EQUAL(dec.obs[1].flags, 0);
	CU_ASSERT_EQUAL(dec.obs[1].unit, 0);
	CU_ASSERT_EQUAL(dec.obs[2].flags, DP_OBS(UNIT_UNKNOWN));
	CU_ASSERT_EQUAL(dec.obs[2].unit, 0x00041234u);
	CU_ASSERT_EQUAL(dec.obs[3].flags, 0);
	CU_ASSERT_EQUAL(dec.obs[4].flags, DP_OBS(CODE_UNKNOWN) | DP_OBS(UNIT_UNKNOWN));
	CU_ASSERT_PTR_NULL(dec.obs[4].metric);
}

/* ------------------------------------------------------------------------ */
/* Sequence tracking (VTP.md section 6.3)                                    */
/* ------------------------------------------------------------------------ */

static void
test_seq_in_order_and_gap(void)
{
	void *mem;
	struct dp_vtp_devices *t = table_new(64, &mem);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	reset();
	for (uint32_t s = 1; s <= 100; s++)
		CU_ASSERT_EQUAL(send_seq(t, DEV_A, s), 0);
	CU_ASSERT_EQUAL(dp_read(&stats.vtp[DP_VTP_frames]), 100);
	CU_ASSERT_EQUAL(dp_read(&stats.vtp[DP_VTP_observations]), 100);
	for (unsigned c = DP_VTP_seq_duplicate; c < DP_VTP__COUNT; c++)
		CU_ASSERT_EQUAL(dp_read(&stats.vtp[c]), 0);

	/* 100 -> 105: four missing. Another device is not affected. */
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 105), 0);
	CU_ASSERT_TRUE(
		moved("gap of 4", DP_VTP_frames, 1, DP_VTP_observations, 1, DP_VTP_seq_gap, 4, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 7), 0);
	CU_ASSERT_TRUE(moved("other device", DP_VTP_frames, 1, DP_VTP_observations, 1, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 106), 0);
	CU_ASSERT_TRUE(moved("in order again", DP_VTP_frames, 1, DP_VTP_observations, 1, -1));

	/* A step of exactly the window: nothing of the old window is kept. */
	for (uint32_t s = 1; s <= 64; s++)
		CU_ASSERT_EQUAL(send_seq(t, DEV_C, s), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_C, 128), 0);
	CU_ASSERT_TRUE(moved("step of 64", DP_VTP_frames, 1, DP_VTP_observations, 1, DP_VTP_seq_gap,
			     63, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_C, 65), 0);
	CU_ASSERT_TRUE(moved("65, 63 back", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_seq_reordered, 1, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_C, 127), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_C, 127), -EALREADY);

	/* The largest step still counted as a gap, and one more. */
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 106 + 65536), 0);
	CU_ASSERT_TRUE(moved("gap of 65535", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_seq_gap, 65535, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 106 + 65536 + 65537), 0);
	CU_ASSERT_TRUE(moved("jump of 65537", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_seq_jump, 1, -1));
	free(mem);
}

static void
test_seq_duplicate(void)
{
	void *mem;
	struct dp_vtp_devices *t = table_new(64, &mem);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	reset();
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 10), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 11), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 11), -EALREADY);
	CU_ASSERT_TRUE(moved("copy of the newest", DP_VTP_seq_duplicate, 1, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 10), -EALREADY);
	CU_ASSERT_TRUE(moved("copy of an older", DP_VTP_seq_duplicate, 1, -1));
	/* A copy of the first frame of a heartbeat: no observations either way. */
	uint8_t f[64];
	CU_ASSERT_EQUAL(dp_vtp_encode(f, sizeof(f), DEV_A, 12, T0, NULL, 0), 32);
	CU_ASSERT_EQUAL(decode(f, 32, t), 0);
	CU_ASSERT_EQUAL(decode(f, 32, t), -EALREADY);
	CU_ASSERT_TRUE(moved("copy of a heartbeat", DP_VTP_seq_duplicate, 1, -1));

	/* The window reaches 63 back: make 12 the newest and walk 64 ahead. */
	for (uint32_t s = 13; s <= 12 + 63; s++)
		CU_ASSERT_EQUAL(send_seq(t, DEV_A, s), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 12), -EALREADY); /* 63 back: still known */
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 76), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 12), 0); /* 64 back: cannot be told */
	CU_ASSERT_TRUE(moved("beyond the window", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_seq_jump, 1, -1));

	/* Without a table nothing is tracked: a copy is delivered again. */
	CU_ASSERT_EQUAL(send_seq(NULL, DEV_A, 76), 0);
	CU_ASSERT_TRUE(moved("no table", DP_VTP_frames, 1, DP_VTP_observations, 1, -1));
	free(mem);
}

static void
test_seq_reordered(void)
{
	void *mem;
	struct dp_vtp_devices *t = table_new(64, &mem);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	reset();
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 10), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 12), 0);
	CU_ASSERT_TRUE(
		moved("10 -> 12", DP_VTP_frames, 1, DP_VTP_observations, 1, DP_VTP_seq_gap, 1, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 11), 0);
	CU_ASSERT_TRUE(moved("11 late", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_seq_reordered, 1, -1));
	CU_ASSERT_EQUAL(dec.obs[0].seq, 11);
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 11), -EALREADY); /* the late one, again */
	CU_ASSERT_TRUE(moved("11 again", DP_VTP_seq_duplicate, 1, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 13), 0);
	CU_ASSERT_TRUE(moved("13", DP_VTP_frames, 1, DP_VTP_observations, 1, -1));

	/* 63 back is the oldest that can be placed. */
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 13 + 70), 0); /* gap of 69 */
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 13 + 70 - 63), 0);
	CU_ASSERT_TRUE(moved("63 back", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_seq_reordered, 1, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 13 + 70 - 64), 0);
	CU_ASSERT_TRUE(
		moved("64 back", DP_VTP_frames, 1, DP_VTP_observations, 1, DP_VTP_seq_jump, 1, -1));
	CU_ASSERT_EQUAL(dp_read(&stats.vtp[DP_VTP_seq_gap]), 1 + 69);
	free(mem);
}

static void
test_seq_wrap(void)
{
	void *mem;
	struct dp_vtp_devices *t = table_new(64, &mem);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	reset();
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 0xfffffffeu), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 0xffffffffu), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 0), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 1), 0);
	CU_ASSERT_EQUAL(dp_read(&stats.vtp[DP_VTP_frames]), 4);
	for (unsigned c = DP_VTP_seq_duplicate; c < DP_VTP__COUNT; c++)
		CU_ASSERT_EQUAL(dp_read(&stats.vtp[c]), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 0xffffffffu), -EALREADY);
	CU_ASSERT_TRUE(moved("copy across the wrap", DP_VTP_seq_duplicate, 1, -1));

	/* A gap and a late frame across the wrap. */
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 0xfffffffdu), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 1), 0);
	CU_ASSERT_TRUE(moved("gap across the wrap", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_seq_gap, 3, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 0xffffffffu), 0);
	CU_ASSERT_TRUE(moved("late across the wrap", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_seq_reordered, 1, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 0), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 0xfffffffeu), 0);
	CU_ASSERT_EQUAL(dp_read(&stats.vtp[DP_VTP_seq_reordered]), 3);
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 0), -EALREADY);
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 2), 0);
	CU_ASSERT_TRUE(moved("in order after", DP_VTP_frames, 1, DP_VTP_observations, 1, -1));
	free(mem);
}

static void
test_seq_restart(void)
{
	void *mem;
	struct dp_vtp_devices *t = table_new(64, &mem);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	reset();
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 1000), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 1001), 0);
	/* The device restarts at 5: the first frame cannot be placed, the
	 * second confirms, and the numbering goes on from there. */
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 5), 0);
	CU_ASSERT_TRUE(moved("restart, first", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_seq_jump, 1, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 6), 0);
	CU_ASSERT_TRUE(moved("restart, second", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_seq_restart, 1, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 7), 0);
	CU_ASSERT_TRUE(moved("after restart", DP_VTP_frames, 1, DP_VTP_observations, 1, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 5), -EALREADY); /* both remembered */
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 6), -EALREADY);
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 9), 0);
	CU_ASSERT_TRUE(moved("gap after restart", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_seq_gap, 1, -1));

	/* A stray old frame, then the numbering goes on: no restart. */
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 5000), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 100), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 5001), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 101), 0); /* candidate forgotten at 5001 */
	CU_ASSERT_TRUE(moved("stray, stray", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_seq_jump, 1, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 5002), 0);
	CU_ASSERT_TRUE(moved("stray then on", DP_VTP_frames, 1, DP_VTP_observations, 1, -1));
	/* A jump forward too far, confirmed: a restart too. */
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 0x80000000u), 0);
	CU_ASSERT_EQUAL(send_seq(t, DEV_B, 0x80000001u), 0);
	CU_ASSERT_TRUE(moved("far ahead, confirmed", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_seq_restart, 1, -1));
	free(mem);
}

/* A bad frame leaves its device's sequence state alone. */
static void
test_seq_malformed_untouched(void)
{
	uint8_t f[64];
	void *mem;
	struct dp_vtp_devices *t = table_new(64, &mem);
	size_t len;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	reset();
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 10), 0);
	len = good_frame(f, sizeof(f), DEV_A, 11, 1);
	f[len] = 0;
	CU_ASSERT_EQUAL(decode(f, len + 1, t), -EBADMSG);
	CU_ASSERT_TRUE(moved("trailing", DP_VTP_trailing, 1, -1));
	CU_ASSERT_EQUAL(send_seq(t, DEV_A, 11), 0);
	CU_ASSERT_TRUE(moved("11 whole", DP_VTP_frames, 1, DP_VTP_observations, 1, -1));
	free(mem);
}

static void
test_table_sizes(void)
{
	uint8_t small[4096] __attribute__((aligned(64)));

	CU_ASSERT_EQUAL(dp_vtp_devices_size(100000), 6291520);
	CU_ASSERT_EQUAL(dp_vtp_devices_size(DP_VTP_DEVICES_DEFAULT), 6291520);
	CU_ASSERT_EQUAL(dp_vtp_devices_size(131073), 64 + 524288 * 24);
	CU_ASSERT_EQUAL(dp_vtp_devices_size(16), 64 + 32 * 24);
	CU_ASSERT_EQUAL(dp_vtp_devices_size(1), 64 + 16 * 24);
	CU_ASSERT_EQUAL(dp_vtp_devices_size(DP_VTP_DEVICES_MAX), 64 + (size_t)(1u << 25) * 24);
	CU_ASSERT_EQUAL(dp_vtp_devices_size(0), 0);
	CU_ASSERT_EQUAL(dp_vtp_devices_size(DP_VTP_DEVICES_MAX + 1), 0);
	CU_ASSERT_PTR_EQUAL(dp_vtp_devices_init(small, 16), (void *)small);
	CU_ASSERT_PTR_NULL(dp_vtp_devices_init(NULL, 16));
	CU_ASSERT_PTR_NULL(dp_vtp_devices_init(small + 4, 16));
	CU_ASSERT_PTR_NULL(dp_vtp_devices_init(small, 0));
	CU_ASSERT_PTR_NULL(dp_vtp_devices_init(small, DP_VTP_DEVICES_MAX + 1));
}

/* EUI-64s as real fleets have them: one OUI, serial numbers in a row. */
static uint64_t
fleet_device(unsigned i)
{
	return UINT64_C(0x001bc50000000000) | (uint64_t)(i + 1);
}

/* And random ones (xorshift64*, fixed seed). */
static uint64_t
random_device(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return (x * UINT64_C(0x2545f4914f6cdd1d)) | 1;
}

static void
many_devices(uint64_t (*next)(unsigned i, uint64_t *state), const char *what)
{
	enum { N = 100000 };
	uint64_t state = UINT64_C(0x9d1c3a5b7e2f4601);
	void *mem;
	struct dp_vtp_devices *t = table_new(N, &mem);
	uint64_t *ids = malloc(N * sizeof(*ids));
	unsigned bad = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
	reset();
	for (unsigned i = 0; i < N; i++)
		ids[i] = next(i, &state);
	/* Each device twice in order, then the second frame again. */
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < N; i++) {
			uint8_t f[64];
			size_t len = good_frame(f, sizeof(f), ids[i], round ? 2 : 1, 1);
			int rc = dp_vtp_decode(f, len, t, &stats, &dec);

			bad += rc != (round == 2 ? -EALREADY : 0);
		}
	}
	if (bad)
		fprintf(stderr, "\n  %s: %u unexpected results", what, bad);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(dp_read(&stats.vtp[DP_VTP_frames]), 2 * N);
	CU_ASSERT_EQUAL(dp_read(&stats.vtp[DP_VTP_seq_duplicate]), N);
	CU_ASSERT_EQUAL(dp_read(&stats.vtp[DP_VTP_device_table_full]), 0);
	CU_ASSERT_EQUAL(dp_read(&stats.vtp[DP_VTP_seq_gap]), 0);
	/* Full now: the next device decodes but is not tracked. */
	CU_ASSERT_EQUAL(send_seq(t, UINT64_C(0xfeedfacecafebeef), 1), 0);
	CU_ASSERT_EQUAL(send_seq(t, UINT64_C(0xfeedfacecafebeef), 1), 0);
	CU_ASSERT_TRUE(moved("one past capacity", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_device_table_full, 1, -1));
	free(ids);
	free(mem);
}

static uint64_t
next_fleet(unsigned i, uint64_t *state)
{
	(void)state;
	return fleet_device(i);
}

static uint64_t
next_random(unsigned i, uint64_t *state)
{
	(void)i;
	return random_device(state);
}

static void
test_many_devices_fleet(void)
{
	many_devices(next_fleet, "100,000 sequential EUI-64s");
}

static void
test_many_devices_random(void)
{
	many_devices(next_random, "100,000 random EUI-64s");
}

static void
test_table_full(void)
{
	void *mem;
	struct dp_vtp_devices *t = table_new(16, &mem);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	reset();
	for (unsigned i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(send_seq(t, fleet_device(i), 1), 0);
	CU_ASSERT_EQUAL(dp_read(&stats.vtp[DP_VTP_device_table_full]), 0);
	/* The 17th: delivered, untracked, so its copy is delivered too. */
	CU_ASSERT_EQUAL(send_seq(t, fleet_device(16), 1), 0);
	CU_ASSERT_TRUE(moved("17th device", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_device_table_full, 1, -1));
	CU_ASSERT_EQUAL(send_seq(t, fleet_device(16), 1), 0);
	CU_ASSERT_TRUE(moved("17th device again", DP_VTP_frames, 1, DP_VTP_observations, 1,
			     DP_VTP_device_table_full, 1, -1));
	/* The 16 in the table are still tracked. */
	CU_ASSERT_EQUAL(send_seq(t, fleet_device(3), 1), -EALREADY);
	CU_ASSERT_EQUAL(send_seq(t, fleet_device(3), 3), 0);
	CU_ASSERT_TRUE(
		moved("tracked", DP_VTP_frames, 1, DP_VTP_observations, 1, DP_VTP_seq_gap, 1, -1));
	free(mem);
}

/*
 * The probe limit: devices whose EUI-64s all hash to one slot. This mirrors
 * vtp.c's Fibonacci hashing (device * 0x9e3779b97f4a7c15, top bits): the
 * inverse of that multiplier modulo 2^64 turns a chosen product back into a
 * device id.
 */
static void
test_probe_limit(void)
{
	const uint64_t mult = UINT64_C(0x9e3779b97f4a7c15);
	uint64_t inv = mult; /* Newton's iteration for the inverse mod 2^64 */
	void *mem;
	struct dp_vtp_devices *t = table_new(4096, &mem); /* 8192 slots: 13 bits */

	for (int i = 0; i < 5; i++)
		inv *= 2 - mult * inv;
	CU_ASSERT_EQUAL_FATAL(mult * inv, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	reset();
	for (unsigned i = 0; i <= DP_VTP_PROBE_LIMIT; i++) {
		/* Same top 13 bits (slot 1234), different low bits. */
		uint64_t product = (UINT64_C(1234) << 51) | (uint64_t)(i + 1);
		uint64_t device = product * inv;
		int rc = send_seq(t, device, 1);

		CU_ASSERT_EQUAL(rc, 0);
		if (i < DP_VTP_PROBE_LIMIT) {
			CU_ASSERT_TRUE(
				moved("same slot", DP_VTP_frames, 1, DP_VTP_observations, 1, -1));
		} else {
			CU_ASSERT_TRUE(moved("65th in one slot", DP_VTP_frames, 1,
					     DP_VTP_observations, 1, DP_VTP_device_table_full, 1,
					     -1));
		}
	}
	free(mem);
}

/* ------------------------------------------------------------------------ */
/* Counter names                                                             */
/* ------------------------------------------------------------------------ */

static void
test_counter_names(void)
{
	for (unsigned i = 0; i < DP_VTP__COUNT; i++) {
		const char *n = dp_vtp_counter_name(i);

		CU_ASSERT_PTR_NOT_NULL_FATAL(n);
		CU_ASSERT_NOT_EQUAL(strcmp(n, "?"), 0);
		CU_ASSERT_TRUE(strlen(dp_vtp_counter_desc(i)) > 8);
		for (const char *c = n; *c; c++)
			CU_ASSERT_TRUE((*c >= 'a' && *c <= 'z') || *c == '_' ||
				       (*c >= '0' && *c <= '9'));
		for (unsigned j = 0; j < i; j++)
			CU_ASSERT_NOT_EQUAL(strcmp(n, dp_vtp_counter_name(j)), 0);
	}
	CU_ASSERT_STRING_EQUAL(dp_vtp_counter_name(DP_VTP_seq_gap), "seq_gap");
	CU_ASSERT_STRING_EQUAL(dp_vtp_counter_name(DP_VTP__COUNT), "?");
}

/* ------------------------------------------------------------------------ */
/* Registration                                                              */
/* ------------------------------------------------------------------------ */

struct test_entry {
	const char *name;
	CU_TestFunc fn;
};

static int
add_suite(const char *name, const struct test_entry *tests, size_t n)
{
	CU_pSuite suite = CU_add_suite(name, suite_init, NULL);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}

#define ADD_SUITE(name, tests) add_suite(name, tests, sizeof(tests) / sizeof(tests[0]))

int
vigil_test_register(void)
{
	static const struct test_entry spec[] = {
		{"example hex is the spec's", test_example_matches_spec},
		{"example decodes as the spec says", test_example_decodes},
		{"example encodes byte for byte", test_example_encodes},
		{"counter names", test_counter_names},
	};
	static const struct test_entry codec[] = {
		{"round trip 0, 1, 10, 64", test_roundtrip},
		{"encoder refuses", test_encode_refuses},
		{"heartbeat and time", test_heartbeat_and_time},
		{"header growth", test_header_growth},
		{"flag mapping", test_flag_mapping},
		{"special values", test_special_values},
		{"codes and units", test_codes_and_units},
	};
	static const struct test_entry malformed[] = {
		{"truncated at every byte", test_truncated_everywhere},
		{"each header field", test_header_fields},
		{"random damage", test_random_damage},
	};
	static const struct test_entry seq[] = {
		{"in order and gaps", test_seq_in_order_and_gap},
		{"duplicates", test_seq_duplicate},
		{"reordering", test_seq_reordered},
		{"wrap at 2^32", test_seq_wrap},
		{"restart", test_seq_restart},
		{"malformed frames leave it alone", test_seq_malformed_untouched},
		{"table sizes", test_table_sizes},
		{"100,000 devices in a row", test_many_devices_fleet},
		{"100,000 random devices", test_many_devices_random},
		{"table full", test_table_full},
		{"probe limit", test_probe_limit},
	};

	if (ADD_SUITE("vtp spec", spec) < 0 || ADD_SUITE("vtp codec", codec) < 0 ||
	    ADD_SUITE("vtp malformed", malformed) < 0 || ADD_SUITE("vtp sequence", seq) < 0)
		return -1;
	return 0;
}
