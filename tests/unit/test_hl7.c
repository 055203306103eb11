/*
 * test_hl7.c - unit tests of the HL7 v2 decoder (dataplane/hl7.c).
 *
 * The decoder turns what bedside devices send into the observations and
 * alarms vigil acts on, so every rule of issue 3 and DOMAIN.md sections 1-3
 * is pinned here with exact values: the four real public messages and the
 * constructed fixtures (tests/fixtures/hl7/SOURCES.md) decode to exactly
 * the observations listed; every timestamp form to its exact UTC instant;
 * every OBX-8 flag, sentinel and special value; both PCD-04 facet
 * numberings; every escape; and every malformation moves exactly the one
 * counter that names it. MLLP framing is cut at every byte offset, and
 * every prefix and many one-byte changes of the fixtures are decoded so
 * that valgrind can see any read outside the message.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "cunit_main.h"
#include "dataplane.h"

#define NS INT64_C(1000000000)

/* ======================================================================== */
/* Helpers                                                                  */
/* ======================================================================== */

static struct dp_stats st;
static struct dp_decoded dec;

/* The message last decoded by decode_buf/decode_str/decode_file. */
static uint8_t fbuf[16384];
static size_t flen;

static int
load_fixture(const char *rel)
{
	const char *root = getenv("VIGIL_SOURCE_ROOT");
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fixtures/hl7/%s", root ? root : ".", rel);
	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "cannot open fixture %s (set VIGIL_SOURCE_ROOT)\n", path);
		CU_FAIL_FATAL("fixture missing");
		return -ENOENT;
	}
	flen = fread(fbuf, 1, sizeof(fbuf), f);
	fclose(f);
	CU_ASSERT_FATAL(flen > 0 && flen < sizeof(fbuf));
	return 0;
}

static int
decode_buf(const uint8_t *p, size_t n)
{
	memset(&st, 0, sizeof(st));
	return dp_hl7_decode(p, n, &st, &dec);
}

static int
decode_file(const char *rel)
{
	if (load_fixture(rel) < 0)
		return -ENOENT;
	return decode_buf(fbuf, flen);
}

static int
decode_str(const char *s)
{
	flen = strlen(s);
	CU_ASSERT_FATAL(flen < sizeof(fbuf));
	memcpy(fbuf, s, flen);
	return decode_buf(fbuf, flen);
}

/* A message built segment by segment (CR after each). */
static char mbuf[70000];
static size_t mlen;

static void
m_reset(void)
{
	mlen = 0;
	mbuf[0] = 0;
}

static void
m_seg(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(mbuf + mlen, sizeof(mbuf) - mlen, fmt, ap);
	va_end(ap);
	CU_ASSERT_FATAL(n >= 0 && (size_t)n + 2 < sizeof(mbuf) - mlen);
	mlen += (size_t)n;
	mbuf[mlen++] = '\r';
	mbuf[mlen] = 0;
}

static int
m_decode(void)
{
	return decode_str(mbuf);
}

struct cv {
	enum dp_hl7_counter c;
	uint64_t v;
};

/* Every HL7 counter equals its value in @p want, or 0 if not listed. */
static void
expect_counts_(const struct dp_stats *s, const struct cv *want, size_t n, int line)
{
	for (unsigned c = 0; c < DP_HL7__COUNT; c++) {
		uint64_t w = 0, got = dp_read(&s->hl7[c]);
		char msg[200];

		for (size_t i = 0; i < n; i++)
			if ((unsigned)want[i].c == c)
				w = want[i].v;
		snprintf(msg, sizeof(msg), "line %d: hl7.%s = %" PRIu64 ", want %" PRIu64, line,
			 dp_hl7_counter_name(c), got, w);
		CU_assertImplementation(got == w, (unsigned)line, msg, __FILE__, "", CU_FALSE);
	}
}
#define EXPECT_COUNTS(...)                                                              \
	do {                                                                            \
		const struct cv want_[] = {__VA_ARGS__};                                \
		expect_counts_(&st, want_, sizeof(want_) / sizeof(want_[0]), __LINE__); \
	} while (0)
#define NONE                     \
	{                        \
		DP_HL7__COUNT, 0 \
	}

static void
flag_names(uint32_t flags, char *out, size_t room)
{
	size_t n = 0;

	out[0] = 0;
	for (unsigned b = 0; b < DP_OBS_BIT__COUNT; b++)
		if (flags & (UINT32_C(1) << b))
			n += (size_t)snprintf(out + n, n < room ? room - n : 0, "%s ",
					      dp_obs_flag_name((enum dp_obs_bit)b));
}

static void
check(bool ok, int line, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	CU_assertImplementation(ok, (unsigned)line, msg, __FILE__, "", CU_FALSE);
}

static void
expect_obs_(int line, unsigned i, uint64_t device, uint32_t code, double value, uint32_t unit,
	    uint32_t flags, int64_t time_ns, unsigned precision, char status)
{
	const struct dp_obs *o = &dec.obs[i];
	char got_f[300], want_f[300];

	if (i >= dec.n_obs) {
		check(false, line, "line %d: obs %u missing (n_obs %u)", line, i, dec.n_obs);
		return;
	}
	check(o->device == device, line, "line %d obs %u: device %016" PRIx64 " want %016" PRIx64,
	      line, i, o->device, device);
	check(o->code == code, line, "line %d obs %u: code %u want %u", line, i, o->code, code);
	check(isnan(value) ? isnan(o->value) : o->value == value, line,
	      "line %d obs %u: value %.17g want %.17g", line, i, o->value, value);
	check(o->unit == unit, line, "line %d obs %u: unit %u want %u", line, i, o->unit, unit);
	flag_names(o->flags, got_f, sizeof(got_f));
	flag_names(flags, want_f, sizeof(want_f));
	check(o->flags == flags, line, "line %d obs %u: flags [%s] want [%s]", line, i, got_f,
	      want_f);
	check(o->time_ns == time_ns, line, "line %d obs %u: time %" PRId64 " want %" PRId64, line,
	      i, o->time_ns, time_ns);
	check(o->time_precision == precision, line, "line %d obs %u: precision %u want %u", line, i,
	      o->time_precision, precision);
	check(o->status == status, line, "line %d obs %u: status '%c' want '%c'", line, i,
	      o->status ? o->status : '0', status ? status : '0');
}
#define EXPECT_OBS(i, dev, code, value, unit, flags, t, prec, status) \
	expect_obs_(__LINE__, i, dev, code, value, unit, flags, t, prec, status)

/* A span of the decoded message holds exactly @p text. */
static void
expect_span_(int line, const uint8_t *base, struct dp_span s, const char *text)
{
	size_t n = strlen(text);

	check(s.len == n && memcmp(base + s.off, text, n) == 0, line,
	      "line %d: span \"%.*s\" want \"%s\"", line, (int)s.len, (const char *)base + s.off,
	      text);
}
#define EXPECT_SPAN(s, text) expect_span_(__LINE__, dec.msg, s, text)

#define F(name) DP_OBS(name)
#define INV(x) ((x) | DP_OBS(INVALID))

/* ======================================================================== */
/* The four real messages                                                   */
/* ======================================================================== */

static void
test_real_001_nibp(void)
{
	const int64_t obr7 = INT64_C(1250139435) * NS; /* 20090813095715+0500 */
	const uint64_t mds = UINT64_C(0x0123456789ABCDEF);

	CU_ASSERT_EQUAL_FATAL(decode_file("001_ipf_pcd01_request.hl7"), 0);
	CU_ASSERT_EQUAL(dec.kind, DP_MSG_ORU_R01);
	CU_ASSERT_PTR_EQUAL(dec.msg, fbuf);
	CU_ASSERT_EQUAL(dec.msg_len, flen);
	EXPECT_SPAN(dec.control_id, "MSGID1234");
	EXPECT_SPAN(dec.sender, "AcmeInc^ACDE48234567ABCD^EUI-64");
	/* OBX 1 (the PHD device at "1") and 2 (the compound NIBP at 1.0.1)
	 * have neither type nor value: containment, not observations. */
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 3);
	CU_ASSERT_EQUAL(dec.n_alarms, 0);
	EXPECT_OBS(0, mds, 150021, 120, 266016, 0, obr7, 14, 'R');
	EXPECT_OBS(1, mds, 150022, 80, 266016, 0, obr7, 14, 'R');
	EXPECT_OBS(2, mds, 150023, 100, 266016, 0, obr7, 14, 'R');
	for (unsigned i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(dec.obs[i].seq, i + 3);
		EXPECT_SPAN(dec.obs[i].patient, "789567");
		EXPECT_SPAN(dec.obs[i].location, "");
		/* the MDS row's OBX-18, not MSH-3's gateway EUI-64 */
		EXPECT_SPAN(dec.obs[i].device_id, "0123456789ABCDEF");
		EXPECT_SPAN(dec.obs[i].unit_text, "266016^MDC_DIM_MMHG^MDC");
	}
	EXPECT_SPAN(dec.obs[0].obs_id, "150021^MDC_PRESS_BLD_NONINV_SYS^MDC");
	EXPECT_SPAN(dec.obs[2].containment, "1.0.1.3");
	CU_ASSERT_PTR_NOT_NULL_FATAL(dec.obs[0].metric);
	CU_ASSERT_STRING_EQUAL(dec.obs[0].metric->name, "NIBP_SYS");
	CU_ASSERT_STRING_EQUAL(dec.obs[1].metric->name, "NIBP_DIA");
	CU_ASSERT_STRING_EQUAL(dec.obs[2].metric->name, "NIBP_MEAN");
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 3});
}

static void
test_real_004_oximeter(void)
{
	const int64_t t = INT64_C(1247641627) * NS; /* 20090715070707+0000 */
	const uint64_t mds = UINT64_C(0x0123456789ABCDEF);

	CU_ASSERT_EQUAL_FATAL(decode_file("004_ipf_continua_wan_oximeter.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 2);
	EXPECT_OBS(0, mds, 150456, 80.5, 262688, 0, t, 14, 'R');
	/* the pleth wave (NA), a code the table does not hold */
	EXPECT_OBS(1, mds, 150452, NAN, 262656, INV(F(NO_VALUE) | F(CODE_UNKNOWN)), t, 14, 'R');
	CU_ASSERT_PTR_NULL(dec.obs[1].metric);
	EXPECT_SPAN(dec.obs[0].patient, "789567"); /* "789567^^^Imaginary Hospital^PI " */
	EXPECT_SPAN(dec.obs[1].containment, "1.0.0.2");
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 2});
}

static void
test_real_006_thermometer(void)
{
	const int64_t t = INT64_C(1247641627) * NS;

	CU_ASSERT_EQUAL_FATAL(decode_file("006_ipf_continua_wan_thermometer.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 1);
	EXPECT_OBS(0, UINT64_C(0x0123456789ABCDEF), 188424, 98.6, 266560, 0, t, 14, 'R');
	CU_ASSERT_STRING_EQUAL(dec.obs[0].metric->name, "TEMP_ORAL");
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 1});
}

static void
test_real_008_pulse_oximetry(void)
{
	const int64_t t = INT64_C(1338377020) * NS; /* 20120530112340, no offset */

	CU_ASSERT_EQUAL_FATAL(decode_file("008_t5_ihe_pcd01_pulse_oximetry.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 1);
	/* dual-coded LN first, MDC second: MDC wins; {beats}/min is UCUM */
	EXPECT_OBS(0, UINT64_C(0x0123456789ABCDEF), 149530, 55, 264864, F(TIME_NO_OFFSET), t, 14,
		   'R');
	CU_ASSERT_EQUAL(dec.obs[0].seq, 1);
	EXPECT_SPAN(dec.obs[0].patient, "HO2009001");
	EXPECT_SPAN(dec.obs[0].location, "ICU^2^23");
	EXPECT_SPAN(dec.obs[0].device_id, "0123456789ABCDEF");
	EXPECT_SPAN(dec.obs[0].containment, "1.11.2.3");
	EXPECT_SPAN(dec.control_id, "9879790003");
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 1});
}

/* ======================================================================== */
/* Constructed PCD-01 variants                                              */
/* ======================================================================== */

static void
expect_endings_message(const char *file, size_t line_end)
{
	struct dp_hl7_msg m;
	enum dp_hl7_counter why = DP_HL7__COUNT;
	const int64_t t = INT64_C(1709288095) * NS;
	const uint64_t mds = UINT64_C(0x1122334455667788);

	CU_ASSERT_EQUAL_FATAL(decode_file(file), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 2);
	EXPECT_OBS(0, mds, 150456, 97, 262688, 0, t, 14, 'R');
	EXPECT_OBS(1, mds, 149530, 72, 264864, 0, t, 14, 'R');
	EXPECT_SPAN(dec.obs[0].patient, "MRN4711"); /* first repetition of PID-3 */
	EXPECT_SPAN(dec.obs[1].location, "ICU^2^23");
	EXPECT_SPAN(dec.obs[1].device_id, "1122334455667788");
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 2});

	CU_ASSERT_EQUAL_FATAL(dp_hl7_parse(&m, fbuf, flen, &why), 0);
	CU_ASSERT_EQUAL(why, DP_HL7__COUNT);
	CU_ASSERT_EQUAL(m.n_seg, 9);
	CU_ASSERT_FALSE(m.truncated);
	/* each segment starts right after the previous one's line end */
	for (unsigned i = 1; i < m.n_seg; i++)
		CU_ASSERT_EQUAL(m.seg[i].off, m.seg[i - 1].off + m.seg[i - 1].len + line_end);
	CU_ASSERT_EQUAL(m.seg[8].off + m.seg[8].len + line_end, flen);
}

static void
test_line_endings(void)
{
	expect_endings_message("pcd01_variants/endings_cr.hl7", 1);
	expect_endings_message("pcd01_variants/endings_lf.hl7", 1);
	expect_endings_message("pcd01_variants/endings_crlf.hl7", 2);
}

static void
test_truncation_char(void)
{
	struct dp_hl7_msg m;
	struct dp_span v;
	char out[64];
	size_t n;
	const int64_t t = INT64_C(1709288095) * NS;
	const uint64_t msh = UINT64_C(0x0012345678ABCDEF);

	CU_ASSERT_EQUAL_FATAL(decode_file("pcd01_variants/truncation_char.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 2);
	EXPECT_OBS(0, msh, 147842, 75, 264864, 0, t, 14, 'R');
	EXPECT_OBS(1, msh, 0, NAN, 0, INV(F(NO_VALUE) | F(CODE_UNKNOWN)), t, 14, 'R');
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 2});

	CU_ASSERT_EQUAL_FATAL(dp_hl7_parse(&m, fbuf, flen, NULL), 0);
	CU_ASSERT_EQUAL(m.fs, '|');
	CU_ASSERT_EQUAL(m.cs, '^');
	CU_ASSERT_EQUAL(m.rs, '~');
	CU_ASSERT_EQUAL(m.es, '\\');
	CU_ASSERT_EQUAL(m.ss, '&');
	CU_ASSERT_EQUAL(m.tc, '#');
	CU_ASSERT_TRUE(dp_hl7_get(&m, 0, 2, 0, 0, 0, &v));
	CU_ASSERT_EQUAL(v.off, 4);
	CU_ASSERT_EQUAL(v.len, 5); /* ^~\&# */
	CU_ASSERT_TRUE(dp_hl7_get(&m, 0, 3, 1, 1, 0, &v));
	CU_ASSERT_EQUAL(v.len, 10); /* VIGIL_TEST */
	CU_ASSERT_TRUE_FATAL(dp_hl7_get(&m, 4, 5, 0, 0, 0, &v));
	n = dp_hl7_unescape(&m, v, out, sizeof(out));
	CU_ASSERT_EQUAL(n, 17);
	CU_ASSERT_NSTRING_EQUAL(out, "Lead II # 25 mm/s", 17);
}

static void
test_obx4_levels(void)
{
	const int64_t t = INT64_C(1709288095) * NS;
	const uint64_t mds = UINT64_C(0x1122334455667788), vmd = UINT64_C(0xA1A2A3A4A5A6A7A8),
		       msh = UINT64_C(0x0012345678ABCDEF);

	CU_ASSERT_EQUAL_FATAL(decode_file("pcd01_variants/obx4_levels.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 9);
	EXPECT_OBS(0, vmd, 147842, 80, 264864, 0, t, 14, 'R');	 /* 1.2.1.1: the VMD's own */
	EXPECT_OBS(1, mds, 151562, 16, 264928, 0, t, 14, 'R');	 /* 1.3.1.1: no VMD row */
	EXPECT_OBS(2, mds, 150456, 98, 262688, 0, t, 14, 'R');	 /* 1.3.1.150456 (Mindray) */
	EXPECT_OBS(3, mds, 150344, 37.2, 268192, 0, t, 14, 'R'); /* 1 */
	EXPECT_OBS(4, mds, 150021, 120, 266016, 0, t, 14, 'R');	 /* 1.0.1 */
	EXPECT_OBS(5, msh, 150022, 80, 266016, 0, t, 14, 'R');	 /* 0.0.0.1: no row at 0 */
	EXPECT_OBS(6, vmd, 149538, 79, 264864, 0, t, 14, 'R');	 /* 1.2.1.2.1 */
	EXPECT_OBS(7, vmd, 151728, 38, 266016, 0, t, 14, 'R');	 /* 1.2.1.3.1.1 */
	EXPECT_OBS(8, msh, 150023, 93, 266016, 0, t, 14, 'R');	 /* empty OBX-4 */
	EXPECT_SPAN(dec.obs[0].device_id, "A1A2A3A4A5A6A7A8");
	EXPECT_SPAN(dec.obs[5].device_id, "0012345678ABCDEF");
	EXPECT_SPAN(dec.obs[7].containment, "1.2.1.3.1.1");
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 9});
}

static void
test_obx4_malformed(void)
{
	static const char *const bad[] = {"1.2.1.1.1.1.1", "1.x.1", "1..1", "1.", ".1",
					  "1.99999999999", "1 .2",  "-1"};
	const uint64_t msh = UINT64_C(0x0012345678ABCDEF);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m_reset();
		m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P|2."
		      "6");
		m_seg("OBR|1|||x|||20240301101455+0000");
		m_seg("OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X||||||"
		      "|1122334455667788^EUI-64");
		m_seg("OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|%s|70|264864^^MDC|||||R", bad[i]);
		CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
		CU_ASSERT_EQUAL_FATAL(dec.n_obs, 1);
		/* kept, but no MDS row can enclose it: MSH-3's EUI-64 */
		EXPECT_OBS(0, msh, 147842, 70, 264864, 0, INT64_C(1709288095) * NS, 14, 'R');
		EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 1},
			      {DP_HL7_obx_sub_id, 1});
	}
}

static void
test_dtm_forms(void)
{
	const uint64_t msh = UINT64_C(0x0012345678ABCDEF);

	CU_ASSERT_EQUAL_FATAL(decode_file("pcd01_variants/dtm_forms.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 9);
	EXPECT_OBS(0, msh, 147842, 61, 264864, F(TIME_NO_OFFSET), INT64_C(1338377025) * NS, 14,
		   'R');
	EXPECT_OBS(1, msh, 147842, 62, 264864, 0, INT64_C(1619406211496000000), 17, 'R');
	EXPECT_OBS(2, msh, 147842, 63, 264864, F(TIME_NO_OFFSET), INT64_C(1569748909610000000), 17,
		   'R');
	EXPECT_OBS(3, msh, 147842, 64, 264864, 0, INT64_C(1769231739) * NS, 17, 'R');
	EXPECT_OBS(4, msh, 147842, 65, 264864, 0, INT64_C(1421705833) * NS, 14, 'R');
	/* no OBX-14, no OBR-7: MSH-7, which has no offset either */
	EXPECT_OBS(5, msh, 147842, 66, 264864, F(TIME_FROM_MSH) | F(TIME_NO_OFFSET),
		   INT64_C(1709288100) * NS, 14, 'R');
	EXPECT_OBS(6, msh, 147842, 67, 264864, 0, INT64_C(1709268300) * NS, 12, 'R');
	EXPECT_OBS(7, msh, 147842, 68, 264864, F(TIME_NO_OFFSET), INT64_C(1709164800) * NS, 8, 'R');
	EXPECT_OBS(8, msh, 147842, 69, 264864, 0, INT64_C(1709288100123400000), 18, 'R');
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 9});
}

static void
test_flags(void)
{
	const int64_t t = INT64_C(1709288095) * NS;
	const uint64_t d = UINT64_C(0x1122334455667788);
	const uint32_t s = 262688, c = 150456;

	CU_ASSERT_EQUAL_FATAL(decode_file("pcd01_variants/flags.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 17);
	EXPECT_OBS(0, d, c, 95, s, INV(F(DEMO)), t, 14, 'R');
	EXPECT_OBS(1, d, c, 96, s, INV(F(TEST)), t, 14, 'R');
	EXPECT_OBS(2, d, c, 88, s, F(ABN_L) | F(ALACT), t, 14, 'R');
	EXPECT_OBS(3, d, c, 80, s, F(ABN_LL), t, 14, 'R');
	EXPECT_OBS(4, d, c, 99, s, F(ABN_H) | F(QUES), t, 14, 'R');
	EXPECT_OBS(5, d, c, 100, s, F(ABN_HH) | F(EARLY), t, 14, 'R');
	EXPECT_OBS(6, d, c, 97, s, F(ABN_A) | F(ALINH), t, 14, 'R');
	EXPECT_OBS(7, d, c, 97, s, INV(F(INV) | F(STATUS_X)), t, 14, 'X');
	EXPECT_OBS(8, d, c, 97, s, INV(F(NAV) | F(STATUS_X)), t, 14, 'X');
	EXPECT_OBS(9, d, c, 97, s, INV(F(CAL)), t, 14, 'R');
	EXPECT_OBS(10, d, c, 97, s, INV(F(BUSY) | F(STATUS_X)), t, 14, 'X');
	EXPECT_OBS(11, d, c, 97, s, INV(F(OFF)), t, 14, 'R');
	EXPECT_OBS(12, d, c, 97, s, INV(F(NI)), t, 14, 'R');
	EXPECT_OBS(13, d, c, 100, s, INV(F(OFF_SCALE)), t, 14, 'R');
	EXPECT_OBS(14, d, c, 50, s, INV(F(OFF_SCALE)), t, 14, 'R');
	EXPECT_OBS(15, d, c, 97, s, 0, t, 14, 'F');
	EXPECT_OBS(16, d, c, 97, s, INV(F(STATUS_X)), t, 14, 'X');
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 17});
}

static void
test_sentinels(void)
{
	static const struct {
		double v;
		bool sentinel;
	} want[] = {
		{-100, true},	 {-999, true},	   {-99.9, true}, {8388607, true}, {-8388608, true},
		{8388606, true}, {-8388606, true}, {-99.9, true}, {-100, true},	   {8388605, false},
		{-99.8, false},	 {37.5, false},	   {-0.5, false}, {36.62, false},
	};
	const int64_t t = INT64_C(1709288095) * NS;

	CU_ASSERT_EQUAL_FATAL(decode_file("pcd01_variants/sentinels.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, sizeof(want) / sizeof(want[0]));
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		EXPECT_OBS(i, UINT64_C(0x1122334455667788), 150344, want[i].v, 268192,
			   want[i].sentinel ? INV(F(SENTINEL)) : 0, t, 14, 'R');
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 14});
}

static void
test_value_types(void)
{
	const int64_t t = INT64_C(1709288095) * NS;
	const uint64_t d = UINT64_C(0x1122334455667788);
	const uint32_t nv = INV(F(NO_VALUE)), unk = F(CODE_UNKNOWN);

	CU_ASSERT_EQUAL_FATAL(decode_file("pcd01_variants/value_types.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 6);
	EXPECT_OBS(0, d, 0, NAN, 0, nv | unk, t, 14, 'R');		     /* ST */
	EXPECT_OBS(1, d, 0, NAN, 0, nv | unk, t, 14, 'R');		     /* CWE */
	EXPECT_OBS(2, d, 0, NAN, 266418, nv | unk, t, 14, 'R');		     /* NA */
	EXPECT_OBS(3, d, 150021, NAN, 266016, nv, t, 14, 'R');		     /* NR */
	EXPECT_OBS(4, d, 0, NAN, 0, nv | unk, t, 14, 'R');		     /* DTM */
	EXPECT_OBS(5, d, 147842, NAN, 264864, nv | F(STATUS_X), t, 14, 'X'); /* NM, empty */
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 6});
}

static void
test_codes_units(void)
{
	const int64_t t = INT64_C(1709288095) * NS;
	const uint64_t d = UINT64_C(0x1122334455667788);

	CU_ASSERT_EQUAL_FATAL(decode_file("pcd01_variants/codes_units.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 16);
	EXPECT_OBS(0, d, 149530, 72, 264864, 0, t, 14, 'R'); /* LN first, MDC second */
	EXPECT_OBS(1, d, 150456, 97, 262688, 0, t, 14, 'R'); /* MDC first; UCUM % */
	EXPECT_OBS(2, d, 150344, 37.1, 268192, F(LOINC_ONLY), t, 14, 'R'); /* 8310-5 */
	/* 9279-1 is RR: its own /min (breaths), not the first /min (beats) */
	EXPECT_OBS(3, d, 151562, 18, 264928, F(LOINC_ONLY), t, 14, 'R');
	EXPECT_OBS(4, d, 0, 5.4, 0, F(LOINC_ONLY) | F(CODE_UNKNOWN) | F(UNIT_UNKNOWN), t, 14, 'R');
	EXPECT_OBS(5, d, 147842, 80, 264864, 0, t, 14, 'R'); /* alias MDC_ECG_CARD_BEAT_RATE */
	EXPECT_OBS(6, d, 150021, 120, 266016, F(CODE_MISMATCH), t, 14, 'R'); /* says DIA */
	EXPECT_OBS(7, d, 150017, 121, 266016, F(CODE_UNKNOWN), t, 14, 'R');
	EXPECT_OBS(8, d, 151562, 17, 264928, 0, t, 14, 'R');	       /* {breaths}/min */
	EXPECT_OBS(9, d, 150344, 98.6, 266560, 0, t, 14, 'R');	       /* [degF] */
	EXPECT_OBS(10, d, 151728, 5.1, 265987, 0, t, 14, 'R');	       /* kPa */
	EXPECT_OBS(11, d, 150456, 96, 0, F(UNIT_UNKNOWN), t, 14, 'R'); /* 999999^^MDC */
	EXPECT_OBS(12, d, 150022, 70, 0, F(UNIT_UNKNOWN), t, 14, 'R'); /* "mmHg" */
	EXPECT_OBS(13, d, 150456, 95, 262688, 0, t, 14, 'R');	       /* components 10-12 */
	EXPECT_OBS(14, d, 0, 81, 264864, F(CODE_UNKNOWN), t, 14, 'R'); /* 99VND only */
	EXPECT_OBS(15, d, 150344, 36.9, 0, 0, t, 14, 'R');	       /* no OBX-6 */
	CU_ASSERT_PTR_NOT_NULL(dec.obs[2].metric);
	CU_ASSERT_PTR_NULL(dec.obs[4].metric);
	CU_ASSERT_PTR_NULL(dec.obs[7].metric);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dec.obs[6].metric);
	CU_ASSERT_STRING_EQUAL(dec.obs[6].metric->refid, "MDC_PRESS_BLD_NONINV_SYS");
	EXPECT_SPAN(dec.obs[12].unit_text, "mmHg");
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 16});
}

static void
test_device_from_msh3(void)
{
	const int64_t t = INT64_C(1709288095) * NS;

	CU_ASSERT_EQUAL_FATAL(decode_file("pcd01_variants/device_msh3_eui.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 1);
	EXPECT_OBS(0, UINT64_C(0x00A0370098006640), 150456, 94, 262688, 0, t, 14, 'R');
	EXPECT_SPAN(dec.obs[0].device_id, "00A0370098006640");
	EXPECT_SPAN(dec.obs[0].location, "My Unit^^Bed1^Institution");

	CU_ASSERT_EQUAL_FATAL(decode_file("pcd01_variants/device_hashed.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 1);
	/* FNV-1a 64 of "BEDSIDE_GW_7" */
	EXPECT_OBS(0, UINT64_C(0x15ca0526e744deac), 150456, 93, 262688, F(DEVICE_HASHED), t, 14,
		   'R');
	EXPECT_SPAN(dec.obs[0].device_id, "BEDSIDE_GW_7");
	EXPECT_SPAN(dec.obs[0].patient, "");
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 1});

	/* the EUI-64 in MSH-3's first component (Draeger's "EUI^EUI-64") */
	m_reset();
	m_seg("MSH|^~\\&|0000000000000001^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
	m_seg("OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.0.1|93|262688^^MDC|||||R");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	EXPECT_OBS(0, UINT64_C(1), 150456, 93, 262688, F(TIME_FROM_MSH), t + 5 * NS, 14, 'R');
	EXPECT_SPAN(dec.obs[0].device_id, "0000000000000001");
	/* the second component first, as PCD-01 writes HD */
	m_reset();
	m_seg("MSH|^~\\&|0000000000000001^00000000000000ff^EUI-64||||20240301101500+0000||"
	      "ORU^R01|X1|P");
	m_seg("OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.0.1|93|262688^^MDC|||||R");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL(dec.obs[0].device, UINT64_C(0xff));
	/* OBX-18 as an EI whose universal id (component 3) is the EUI-64 */
	m_reset();
	m_seg("MSH|^~\\&|GW7||||20240301101500+0000||ORU^R01|X1|P");
	m_seg("OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.0.1|93|262688^^MDC|||||R|||||||"
	      "MONITOR_7^VENDOR^0123456789abcdef^EUI-64");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL(dec.obs[0].device, UINT64_C(0x0123456789ABCDEF));
	CU_ASSERT_EQUAL(dec.obs[0].flags, F(TIME_FROM_MSH));
	EXPECT_SPAN(dec.obs[0].device_id, "0123456789abcdef");
	/* 15 or 17 hex digits, or a non-hex digit: not an EUI-64 */
	m_reset();
	m_seg("MSH|^~\\&|X^00000000000000F^000000000000000FF||||20240301101500+0000||ORU^R01|X1|P");
	m_seg("OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.0.1|93|262688^^MDC|||||R|||||||"
	      "000000000000000G^EUI-64");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL(dec.obs[0].flags, F(DEVICE_HASHED) | F(TIME_FROM_MSH));
	EXPECT_SPAN(dec.obs[0].device_id, "X^00000000000000F^000000000000000FF");
}

/*
 * Which rows describe the containment tree: an empty value and no value
 * type, or a path ending in 0, or a device code. Each such row below lends
 * its EUI-64 to the metric under it; none is an observation.
 */
static void
test_containment_rows(void)
{
	static const char *const rows[] = {
		/* no value type (PHD) */
		"OBX|1||528388^MDC_DEV_SPEC_PROFILE_PULS_OXIM^MDC|1|||||||R||||||"
		"|00000000000000A1^EUI-64",
		/* a value type, but a path ending in 0 and a private code */
		"OBX|1|ST|VMD1^Monitor^99VIGIL|1.0.0.0|||||||X||||||"
		"|00000000000000A1^EUI-64",
		/* a value type and a short path, but a device code (partition 1) */
		"OBX|1|CWE|69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1|||||||X||||||"
		"|00000000000000A1^EUI-64",
		/* a PHD profile code (partition 8) */
		"OBX|1|ST|528391^MDC_DEV_SPEC_PROFILE_BP^MDC|1|||||||X||||||"
		"|00000000000000A1^EUI-64",
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		m_reset();
		m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
		m_seg("%s", rows[i]);
		m_seg("OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.0.1|97|262688^^MDC|||||R");
		CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
		check(dec.n_obs == 1 && dec.obs[0].device == 0xA1 && dec.obs[0].code == 150456,
		      __LINE__, "row %zu: n_obs %u device %" PRIx64, i, dec.n_obs,
		      dec.obs[0].device);
		EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 1});
	}

	/* a metric with no value at metric level is an observation */
	m_reset();
	m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
	m_seg("OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.0.1||262688^^MDC|||||X");
	m_seg("OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDCX|1.0.0.2|96|262688^^MDC|||||R");
	m_seg("OBX|3|NMX|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.0.3|95|262688^^MDC|||||R");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 3);
	CU_ASSERT_EQUAL(dec.obs[0].flags, INV(F(NO_VALUE) | F(STATUS_X)) | F(TIME_FROM_MSH));
	/* "MDCX" is not "MDC", "NMX" is not "NM" */
	CU_ASSERT_EQUAL(dec.obs[1].code, 0);
	CU_ASSERT_EQUAL(dec.obs[1].flags, F(CODE_UNKNOWN) | F(TIME_FROM_MSH));
	CU_ASSERT_EQUAL(dec.obs[2].flags, INV(F(NO_VALUE)) | F(TIME_FROM_MSH));
}

/* Values through the NM reader: what is a number and what is not. */
static void
test_nm_values(void)
{
	static const struct {
		const char *text;
		double v;
	} good[] = {
		{"98", 98},
		{" 98 ", 98},
		{"+97", 97},
		{"-0.5", -0.5},
		{".5", 0.5},
		{"5.", 5},
		{"007", 7},
		{"0.1", 0.1},
		{"36.62", 36.62},
		{"-0", 0},
		{"1234567.125", 1234567.125},
		{"12345678901234567", 12345678901234567.0},
		{"-98765432109876.5", -98765432109876.5},
		{"0.000001", 1e-6},
		{"123456789012345", 123456789012345.0},
	};
	static const char *const bad[] = {
		"12a",	 "1e3", "1.2.3",
		"-",	 "+",	".",
		"1 2",	 "--1", "0x10",
		"1,5",	 "NaN", "inf",
		"12^13", "1~2", "123456789012345678901234567890123", /* 33 characters */
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		m_reset();
		m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
		m_seg("OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.0.1|%s|264864^^MDC",
		      good[i].text);
		CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
		check(dec.n_obs == 1 && dec.obs[0].value == good[i].v &&
			      dec.obs[0].flags == F(TIME_FROM_MSH),
		      __LINE__, "NM \"%s\" read as %.17g flags %x", good[i].text, dec.obs[0].value,
		      dec.obs[0].flags);
		EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 1});
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m_reset();
		m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
		m_seg("OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.0.1|%s|264864^^MDC", bad[i]);
		CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
		check(dec.n_obs == 1 && isnan(dec.obs[0].value) &&
			      dec.obs[0].flags == (INV(F(NO_VALUE)) | F(TIME_FROM_MSH)),
		      __LINE__, "NM \"%s\" accepted as %.17g", bad[i], dec.obs[0].value);
		EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 1},
			      {DP_HL7_obx_value, 1});
	}
	/* thirty digits: read to 18 significant digits, then scaled */
	m_reset();
	m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
	m_seg("OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1|123456789012345678901234567890|");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_DOUBLE_EQUAL(dec.obs[0].value / 1.2345678901234568e29, 1.0, 1e-15);
}

/* ======================================================================== */
/* Timestamps                                                               */
/* ======================================================================== */

static void
expect_time_(int line, const char *s, int64_t ns, unsigned prec, bool offset)
{
	int64_t got = -1;
	uint8_t p = 0;
	bool o = !offset;
	int rc = dp_hl7_time((const uint8_t *)s, strlen(s), &got, &p, &o);

	check(rc == 0 && got == ns && p == prec && o == offset, line,
	      "line %d: \"%s\": rc %d ns %" PRId64 " prec %u offset %d; want ns %" PRId64
	      " prec %u offset %d",
	      line, s, rc, got, p, o, ns, prec, offset);
}
#define EXPECT_TIME(s, ns, prec, off) expect_time_(__LINE__, s, ns, prec, off)

static void
test_time_parse(void)
{
	static const char *const bad[] = {
		"",
		"x",
		"202",
		"20241",
		"2024030",
		"202403011",
		"2024133",
		"20241301",
		"20240230",
		"20230229",
		"19000229",
		"20240431",
		"2024030124",
		"202403011060",
		"20240301101560",
		"20240301101500.",
		"2024030110.5",
		"20240301101500.12345",
		"2024030110150012345",
		"20240301101500+05",
		"20240301101500+0560",
		"20240301101500+1401",
		"20240301101500Z",
		"20240301101500 +0000",
		"20240301101500+-0000",
		"20240301101500+00000",
		"20240301101500+",
		"16770101",
		"22630101",
		"20240301101500 ",
		" 20240301101500",
		"2024-03-01",
	};
	int64_t ns = 0;

	EXPECT_TIME("20120530112345", INT64_C(1338377025) * NS, 14, false);
	EXPECT_TIME("20210425230331.496-0400", INT64_C(1619406211496000000), 17, true);
	EXPECT_TIME("20190929092149610", INT64_C(1569748909610000000), 17, false);
	EXPECT_TIME("20260124131539000+0800", INT64_C(1769231739) * NS, 17, true);
	EXPECT_TIME("20150119221713- 0000", INT64_C(1421705833) * NS, 14, true);
	EXPECT_TIME("20150119221713-  0100", INT64_C(1421709433) * NS, 14, true);
	EXPECT_TIME("2024", INT64_C(1704067200) * NS, 4, false);
	EXPECT_TIME("202402", INT64_C(1706745600) * NS, 6, false);
	EXPECT_TIME("20240229", INT64_C(1709164800) * NS, 8, false);
	EXPECT_TIME("2024030110", INT64_C(1709287200) * NS, 10, false);
	EXPECT_TIME("202403011015+0530", INT64_C(1709268300) * NS, 12, true);
	EXPECT_TIME("20240301101500.1", INT64_C(1709288100100000000), 15, false);
	EXPECT_TIME("20240301101500.12", INT64_C(1709288100120000000), 16, false);
	EXPECT_TIME("20240301101500.1234+0000", INT64_C(1709288100123400000), 18, true);
	EXPECT_TIME("202403011015001", INT64_C(1709288100100000000), 15, false);
	EXPECT_TIME("20240301101500+1400", INT64_C(1709237700) * NS, 14, true);
	EXPECT_TIME("20240301101500-1200", INT64_C(1709331300) * NS, 14, true);
	EXPECT_TIME("2024+0100", INT64_C(1704063600) * NS, 4, true);
	EXPECT_TIME("19700101", 0, 8, false);
	EXPECT_TIME("19691231235959", -NS, 14, false);
	EXPECT_TIME("20000229", INT64_C(951782400) * NS, 8, false);
	EXPECT_TIME("22620101", INT64_C(9214646400) * NS, 8, false);
	/* precision and had_offset may be left out */
	CU_ASSERT_EQUAL(dp_hl7_time((const uint8_t *)"20240229", 8, &ns, NULL, NULL), 0);
	CU_ASSERT_EQUAL(ns, INT64_C(1709164800) * NS);
	/* only len bytes are read */
	CU_ASSERT_EQUAL(dp_hl7_time((const uint8_t *)"20240229xyz", 8, &ns, NULL, NULL), 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = dp_hl7_time((const uint8_t *)bad[i], strlen(bad[i]), &ns, NULL, NULL);
		check(rc == -EINVAL, __LINE__, "\"%s\" gave %d, want -EINVAL", bad[i], rc);
	}
}

/* A bad OBX-14, OBR-7 or MSH-7: counted once, the next one in line is used. */
static void
test_time_malformed(void)
{
	const uint64_t msh = UINT64_C(0x0012345678ABCDEF);

	m_reset();
	m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
	m_seg("OBR|1|||x|||20240301101455+0000");
	m_seg("OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.0.1|70|264864^^MDC|||||R|||20241301");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	EXPECT_OBS(0, msh, 147842, 70, 264864, 0, INT64_C(1709288095) * NS, 14, 'R');
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 1}, {DP_HL7_time, 1});

	m_reset();
	m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
	m_seg("OBR|1|||x|||2024030110145");
	m_seg("OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.0.1|70|264864^^MDC|||||R");
	m_seg("OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.0.2|71|264864^^MDC|||||R");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	EXPECT_OBS(0, msh, 147842, 70, 264864, F(TIME_FROM_MSH), INT64_C(1709288100) * NS, 14, 'R');
	EXPECT_OBS(1, msh, 147842, 71, 264864, F(TIME_FROM_MSH), INT64_C(1709288100) * NS, 14, 'R');
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 2}, {DP_HL7_time, 1});

	m_reset();
	m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||2024-03-01||ORU^R01|X1|P");
	m_seg("OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.0.1|70|264864^^MDC|||||R");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	EXPECT_OBS(0, msh, 147842, 70, 264864, 0, 0, 0, 'R'); /* no time at all */
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 1}, {DP_HL7_time, 1});
}

/* ======================================================================== */
/* Segments, fields, escapes                                                */
/* ======================================================================== */

static void
expect_get_(int line, const struct dp_hl7_msg *m, unsigned seg, unsigned f, unsigned r, unsigned c,
	    unsigned s, const char *want)
{
	struct dp_span out = {0, 0};
	bool ok = dp_hl7_get(m, seg, f, r, c, s, &out);

	if (want == NULL) {
		check(!ok, line, "line %d: get(%u,%u,%u,%u,%u) present, want absent", line, seg, f,
		      r, c, s);
		return;
	}
	check(ok && out.len == strlen(want) && memcmp(m->buf + out.off, want, out.len) == 0, line,
	      "line %d: get(%u,%u,%u,%u,%u) = %d \"%.*s\", want \"%s\"", line, seg, f, r, c, s, ok,
	      (int)out.len, (const char *)m->buf + out.off, want);
}
#define EXPECT_GET(m, seg, f, r, c, s, want) expect_get_(__LINE__, m, seg, f, r, c, s, want)

static void
test_get_and_fields(void)
{
	static const char msg[] = "MSH|^~\\&|APP^FAC|RCV|||20240301||ORU^R01^ORU_R01|C1|P|2.6\r"
				  "PID|1||A1^^^AUTH&1.2.3&ISO^MR~B2^^^AUTH2^PI||Doe^John\r"
				  "NTE\r"
				  "ZZZ|\r"
				  "OBX|1|NM|||\\F\\x";
	struct dp_hl7_msg m;

	CU_ASSERT_EQUAL_FATAL(dp_hl7_parse(&m, (const uint8_t *)msg, strlen(msg), NULL), 0);
	CU_ASSERT_EQUAL_FATAL(m.n_seg, 5);
	CU_ASSERT_EQUAL(m.len, strlen(msg));
	EXPECT_GET(&m, 0, 0, 0, 0, 0, "MSH");
	EXPECT_GET(&m, 0, 1, 0, 0, 0, "|");
	EXPECT_GET(&m, 0, 1, 1, 1, 1, "|");
	EXPECT_GET(&m, 0, 2, 0, 0, 0, "^~\\&");
	EXPECT_GET(&m, 0, 2, 1, 2, 0, NULL); /* never split */
	EXPECT_GET(&m, 0, 3, 0, 0, 0, "APP^FAC");
	EXPECT_GET(&m, 0, 3, 1, 2, 0, "FAC");
	EXPECT_GET(&m, 0, 3, 1, 3, 0, NULL);
	EXPECT_GET(&m, 0, 9, 1, 3, 0, "ORU_R01");
	EXPECT_GET(&m, 0, 10, 0, 0, 0, "C1");
	EXPECT_GET(&m, 0, 12, 0, 0, 0, "2.6");
	EXPECT_GET(&m, 0, 13, 0, 0, 0, NULL);
	CU_ASSERT_EQUAL(dp_hl7_field_count(&m, 0), 12);

	EXPECT_GET(&m, 1, 0, 0, 0, 0, "PID");
	EXPECT_GET(&m, 1, 1, 0, 0, 0, "1");
	EXPECT_GET(&m, 1, 2, 0, 0, 0, "");
	EXPECT_GET(&m, 1, 2, 1, 1, 1, "");
	EXPECT_GET(&m, 1, 2, 1, 2, 0, NULL);
	EXPECT_GET(&m, 1, 3, 0, 0, 0, "A1^^^AUTH&1.2.3&ISO^MR~B2^^^AUTH2^PI");
	EXPECT_GET(&m, 1, 3, 1, 0, 0, "A1^^^AUTH&1.2.3&ISO^MR");
	EXPECT_GET(&m, 1, 3, 1, 1, 0, "A1");
	EXPECT_GET(&m, 1, 3, 1, 2, 0, "");
	EXPECT_GET(&m, 1, 3, 1, 4, 0, "AUTH&1.2.3&ISO");
	EXPECT_GET(&m, 1, 3, 1, 4, 2, "1.2.3");
	EXPECT_GET(&m, 1, 3, 1, 4, 3, "ISO");
	EXPECT_GET(&m, 1, 3, 1, 4, 4, NULL);
	EXPECT_GET(&m, 1, 3, 1, 5, 0, "MR");
	EXPECT_GET(&m, 1, 3, 1, 6, 0, NULL);
	EXPECT_GET(&m, 1, 3, 2, 1, 0, "B2");
	EXPECT_GET(&m, 1, 3, 2, 5, 1, "PI");
	EXPECT_GET(&m, 1, 3, 3, 0, 0, NULL);
	EXPECT_GET(&m, 1, 5, 1, 2, 0, "John");
	EXPECT_GET(&m, 1, 5, 1, 3, 0, NULL);
	EXPECT_GET(&m, 1, 6, 0, 0, 0, NULL);
	CU_ASSERT_EQUAL(dp_hl7_field_count(&m, 1), 5);

	EXPECT_GET(&m, 2, 0, 0, 0, 0, "NTE");
	EXPECT_GET(&m, 2, 1, 0, 0, 0, NULL);
	CU_ASSERT_EQUAL(dp_hl7_field_count(&m, 2), 0);
	EXPECT_GET(&m, 3, 1, 0, 0, 0, "");
	CU_ASSERT_EQUAL(dp_hl7_field_count(&m, 3), 1);
	EXPECT_GET(&m, 4, 5, 0, 0, 0, "\\F\\x"); /* escapes left in place */
	CU_ASSERT_EQUAL(dp_hl7_field_count(&m, 4), 5);
	EXPECT_GET(&m, 5, 0, 0, 0, 0, NULL); /* no such segment */
	CU_ASSERT_EQUAL(dp_hl7_field_count(&m, 5), 0);
}

static void
test_segment_splitting(void)
{
	static const char msg[] = "MSH|^~\\&|A\r\rPID|1\n\nPV1|2\r\n\r\nOBX|3\n\rNTE|4";
	struct dp_hl7_msg m;

	CU_ASSERT_EQUAL_FATAL(dp_hl7_parse(&m, (const uint8_t *)msg, strlen(msg), NULL), 0);
	CU_ASSERT_EQUAL_FATAL(m.n_seg, 5); /* blank lines skipped */
	EXPECT_GET(&m, 0, 3, 0, 0, 0, "A");
	EXPECT_GET(&m, 1, 1, 0, 0, 0, "1");
	EXPECT_GET(&m, 2, 1, 0, 0, 0, "2");
	EXPECT_GET(&m, 3, 1, 0, 0, 0, "3");
	EXPECT_GET(&m, 4, 1, 0, 0, 0, "4"); /* the last segment needs no line end */
	CU_ASSERT_EQUAL(m.seg[0].off, 0);
	CU_ASSERT_EQUAL(m.seg[0].len, 10);
	CU_ASSERT_EQUAL(m.seg[1].off, 12);
	CU_ASSERT_EQUAL(m.seg[4].off + m.seg[4].len, strlen(msg));
}

static void
test_other_delimiters(void)
{
	/* any five distinct non-alphanumeric characters */
	static const char msg[] = "MSH!*@$%!APP*FAC!!!!20240301101500+0000!!ORU*R01!Q1!P\r"
				  "OBX!1!ST!X*Y*L!1!a$F$b$S$c$R$d$T$e$E$f*g@h!";
	struct dp_hl7_msg m;
	struct dp_span v;
	char out[32];
	size_t n;

	CU_ASSERT_EQUAL_FATAL(dp_hl7_parse(&m, (const uint8_t *)msg, strlen(msg), NULL), 0);
	CU_ASSERT_EQUAL(m.fs, '!');
	CU_ASSERT_EQUAL(m.cs, '*');
	CU_ASSERT_EQUAL(m.rs, '@');
	CU_ASSERT_EQUAL(m.es, '$');
	CU_ASSERT_EQUAL(m.ss, '%');
	CU_ASSERT_EQUAL(m.tc, 0);
	EXPECT_GET(&m, 0, 3, 1, 2, 0, "FAC");
	EXPECT_GET(&m, 1, 5, 1, 2, 0, "g");
	EXPECT_GET(&m, 1, 5, 2, 0, 0, "h");
	CU_ASSERT_TRUE_FATAL(dp_hl7_get(&m, 1, 5, 1, 1, 0, &v));
	n = dp_hl7_unescape(&m, v, out, sizeof(out));
	CU_ASSERT_EQUAL(n, 11);
	CU_ASSERT_NSTRING_EQUAL(out, "a!b*c@d%e$f", 11);
	CU_ASSERT_EQUAL(decode_str(msg), 0);
	CU_ASSERT_EQUAL(dec.n_obs, 1);
}

static void
expect_unescape_(int line, const char *value, const char *want, size_t want_len)
{
	char msg[256], out[128];
	struct dp_hl7_msg m;
	struct dp_span v;
	size_t n;

	snprintf(msg, sizeof(msg), "MSH|^~\\&|A||||20240301||ORU^R01|C1|P\rNTE|1||%s", value);
	if (dp_hl7_parse(&m, (const uint8_t *)msg, strlen(msg), NULL) != 0 ||
	    !dp_hl7_get(&m, 1, 3, 0, 0, 0, &v)) {
		check(false, line, "line %d: cannot parse around \"%s\"", line, value);
		return;
	}
	memset(out, 0x55, sizeof(out));
	n = dp_hl7_unescape(&m, v, out, sizeof(out));
	check(n == want_len && memcmp(out, want, want_len) == 0 && out[n] == 0x55, line,
	      "line %d: unescape \"%s\" = \"%.*s\" (%zu), want \"%s\"", line, value, (int)n, out, n,
	      want);
}
#define EXPECT_UNESCAPE(v, w) expect_unescape_(__LINE__, v, w, sizeof(w) - 1)

static void
test_unescape(void)
{
	struct dp_hl7_msg m;
	struct dp_span v;
	char out[8];
	static const char msg[] = "MSH|^~\\&|A||||20240301||ORU^R01|C1|P\rNTE|1||a\\F\\bcd";

	EXPECT_UNESCAPE("plain", "plain");
	EXPECT_UNESCAPE("", "");
	EXPECT_UNESCAPE("a\\F\\b", "a|b");
	EXPECT_UNESCAPE("a\\S\\b", "a^b");
	EXPECT_UNESCAPE("a\\T\\b", "a&b");
	EXPECT_UNESCAPE("a\\R\\b", "a~b");
	EXPECT_UNESCAPE("a\\E\\b", "a\\b");
	EXPECT_UNESCAPE("\\E\\\\E\\", "\\\\");
	EXPECT_UNESCAPE("\\X41\\", "A");
	EXPECT_UNESCAPE("x\\X0D0A\\y", "x\r\ny");
	EXPECT_UNESCAPE("\\Xc3A9\\", "\xc3\xa9");
	EXPECT_UNESCAPE("line\\.br\\next", "line\rnext");
	/* unknown sequences pass through unchanged */
	EXPECT_UNESCAPE("\\H\\bold\\N\\", "\\H\\bold\\N\\");
	EXPECT_UNESCAPE("\\Zabc\\", "\\Zabc\\");
	EXPECT_UNESCAPE("\\.sp\\", "\\.sp\\");
	EXPECT_UNESCAPE("\\X4\\", "\\X4\\");
	EXPECT_UNESCAPE("\\XZZ\\", "\\XZZ\\");
	EXPECT_UNESCAPE("\\X\\", "\\X\\");
	EXPECT_UNESCAPE("\\\\", "\\\\");
	EXPECT_UNESCAPE("\\P\\", "\\P\\"); /* no truncation character declared */
	EXPECT_UNESCAPE("a\\b", "a\\b");   /* never closed */
	EXPECT_UNESCAPE("\\F\\\\S\\x\\Q", "|^x\\Q");

	/* the output is cut at room; the full length is returned */
	CU_ASSERT_EQUAL_FATAL(dp_hl7_parse(&m, (const uint8_t *)msg, strlen(msg), NULL), 0);
	CU_ASSERT_TRUE_FATAL(dp_hl7_get(&m, 1, 3, 0, 0, 0, &v));
	memset(out, 0x55, sizeof(out));
	CU_ASSERT_EQUAL(dp_hl7_unescape(&m, v, out, 3), 5);
	CU_ASSERT_NSTRING_EQUAL(out, "a|b", 3);
	CU_ASSERT_EQUAL(out[3], 0x55);
	CU_ASSERT_EQUAL(dp_hl7_unescape(&m, v, NULL, 0), 5);
}

/* ======================================================================== */
/* Malformations: exactly one counter moves                                 */
/* ======================================================================== */

static void
expect_rejected_(int line, const char *msg, enum dp_hl7_counter why)
{
	int rc = decode_str(msg);

	check(rc == -EBADMSG && dec.kind == DP_MSG_OTHER && dec.n_obs == 0 && dec.n_alarms == 0,
	      line, "line %d: rc %d kind %d", line, rc, dec.kind);
	expect_counts_(&st, (const struct cv[]){{why, 1}}, 1, line);
}
#define EXPECT_REJECTED(msg, why) expect_rejected_(__LINE__, msg, why)

static void
test_message_malformations(void)
{
	static uint8_t big[65536 + 16];
	struct dp_hl7_msg m;
	enum dp_hl7_counter why = DP_HL7__COUNT;

	EXPECT_REJECTED("", DP_HL7_no_msh);
	EXPECT_REJECTED("MS", DP_HL7_no_msh);
	EXPECT_REJECTED("PID|||1\rMSH|^~\\&|A||||2024||ORU^R01|C|P", DP_HL7_no_msh);
	EXPECT_REJECTED("\rMSH|^~\\&|A||||2024||ORU^R01|C|P", DP_HL7_no_msh);
	EXPECT_REJECTED("msh|^~\\&|A||||2024||ORU^R01|C|P", DP_HL7_no_msh);

	EXPECT_REJECTED("MSH|^~\\", DP_HL7_delimiters);				    /* short */
	EXPECT_REJECTED("MSH|^~\\|A||||2024||ORU^R01|C|P", DP_HL7_delimiters);	    /* 3 chars */
	EXPECT_REJECTED("MSH|^~\\&#$|A||||2024||ORU^R01|C|P", DP_HL7_delimiters);   /* 6 chars */
	EXPECT_REJECTED("MSH|^~\\^|A||||2024||ORU^R01|C|P", DP_HL7_delimiters);	    /* repeated */
	EXPECT_REJECTED("MSH|^~|&|A||||2024||ORU^R01|C|P", DP_HL7_delimiters);	    /* 2 chars */
	EXPECT_REJECTED("MSHA^~\\&A1AAAA2024AAORU^R01ACAP", DP_HL7_delimiters);	    /* letter */
	EXPECT_REJECTED("MSH|^~ &|A||||2024||ORU^R01|C|P", DP_HL7_delimiters);	    /* space */
	EXPECT_REJECTED("MSH|^~\\&\x01|A||||2024||ORU^R01|C|P", DP_HL7_delimiters); /* control */
	EXPECT_REJECTED("MSH|^~\\&\r|A", DP_HL7_msh_fields);

	EXPECT_REJECTED("MSH|^~\\&|A||||2024|||C|P", DP_HL7_msh_fields);
	EXPECT_REJECTED("MSH|^~\\&|A||||2024||^R01|C|P", DP_HL7_msh_fields);
	EXPECT_REJECTED("MSH|^~\\&|A||||2024||ORU^R01||P", DP_HL7_msh_fields);
	EXPECT_REJECTED("MSH|^~\\&|A||||2024||ORU^R01", DP_HL7_msh_fields);
	EXPECT_REJECTED("MSH|^~\\&", DP_HL7_msh_fields);

	EXPECT_REJECTED("MSH|^~\\&|A||||2024||ACK^R01^ACK|C|P\rMSA|CA|X", DP_HL7_unsupported_type);
	EXPECT_REJECTED("MSH|^~\\&|A||||2024||ADT^A01|C|P\rPID|||1", DP_HL7_unsupported_type);
	EXPECT_REJECTED("MSH|^~\\&|A||||2024||ORU^R30|C|P", DP_HL7_unsupported_type);
	EXPECT_REJECTED("MSH|^~\\&|A||||2024||ORU|C|P", DP_HL7_unsupported_type);
	EXPECT_REJECTED("MSH|^~\\&|A||||2024||oru^r01|C|P", DP_HL7_unsupported_type);

	/* longer than a 16-bit span can reach */
	memset(big, 'x', sizeof(big));
	memcpy(big, "MSH|^~\\&|A||||2024||ORU^R01|C|P\r", 31);
	CU_ASSERT_EQUAL(decode_buf(big, 65536), -EBADMSG);
	EXPECT_COUNTS({DP_HL7_msg_length, 1});
	CU_ASSERT_EQUAL(decode_buf(big, 65535), 0);
	EXPECT_COUNTS({DP_HL7_messages, 1});
	CU_ASSERT_EQUAL(dp_hl7_parse(&m, big, 65536, &why), -EBADMSG);
	CU_ASSERT_EQUAL(why, DP_HL7_msg_length);
	CU_ASSERT_EQUAL(dp_hl7_parse(&m, (const uint8_t *)"MSH|^~\\", 7, &why), -EBADMSG);
	CU_ASSERT_EQUAL(why, DP_HL7_delimiters);
	CU_ASSERT_EQUAL(dp_hl7_parse(&m, (const uint8_t *)"MSH|^~\\", 7, NULL), -EBADMSG);

	/* no stats: nothing counted, nothing crashes */
	CU_ASSERT_EQUAL(dp_hl7_decode((const uint8_t *)"PID", 3, NULL, &dec), -EBADMSG);
}

static void
test_obx_malformations(void)
{
	const int64_t t = INT64_C(1709288095) * NS;
	const uint64_t msh = UINT64_C(0x0012345678ABCDEF);

	/* OBX without OBX-3: skipped */
	m_reset();
	m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
	m_seg("OBR|1|||x|||20240301101455+0000");
	m_seg("OBX|1|NM||1.0.0.1|70|264864^^MDC|||||R");
	m_seg("OBX|2|NM|~x|1.0.0.2|70|264864^^MDC|||||R");
	m_seg("OBX|3|NM");
	m_seg("OBX|4|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.0.4|71|264864^^MDC|||||R");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 1);
	EXPECT_OBS(0, msh, 147842, 71, 264864, 0, t, 14, 'R');
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 1}, {DP_HL7_obx_no_code, 3});

	/* a value without a value type: kept without a value */
	m_reset();
	m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
	m_seg("OBR|1|||x|||20240301101455+0000");
	m_seg("OBX|1||147842^MDC_ECG_HEART_RATE^MDC|1.0.0.1|70|264864^^MDC|||||R");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	EXPECT_OBS(0, msh, 147842, NAN, 264864, INV(F(NO_VALUE)), t, 14, 'R');
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 1}, {DP_HL7_obx_no_type, 1});

	/* an NM value that is not a number: kept without a value */
	m_reset();
	m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
	m_seg("OBR|1|||x|||20240301101455+0000");
	m_seg("OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.0.1|7O|264864^^MDC|||||R");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	EXPECT_OBS(0, msh, 147842, NAN, 264864, INV(F(NO_VALUE)), t, 14, 'R');
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 1}, {DP_HL7_obx_value, 1});
}

static void
test_device_rows_limit(void)
{
	/* 17 MDS rows with EUI-64s; the 17th does not fit */
	m_reset();
	m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
	m_seg("OBR|1|||x|||20240301101455+0000");
	for (unsigned i = 1; i <= 17; i++)
		m_seg("OBX|%u||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|%u.0.0.0|||||||X||||||"
		      "|11223344556677%02X^EUI-64",
		      i, i, i);
	m_seg("OBX|18|NM|147842^MDC_ECG_HEART_RATE^MDC|16.1.1.1|60|264864^^MDC|||||R");
	m_seg("OBX|19|NM|147842^MDC_ECG_HEART_RATE^MDC|17.1.1.1|61|264864^^MDC|||||R");
	/* a later row with a path already known replaces it: no new entry */
	m_seg("OBX|20||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|3|||||||X||||||"
	      "|AAAAAAAAAAAAAAAA^EUI-64");
	m_seg("OBX|21|NM|147842^MDC_ECG_HEART_RATE^MDC|3.1.1.1|62|264864^^MDC|||||R");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 3);
	CU_ASSERT_EQUAL(dec.obs[0].device, UINT64_C(0x1122334455667710));
	CU_ASSERT_EQUAL(dec.obs[1].device, UINT64_C(0x0012345678ABCDEF)); /* fell back */
	CU_ASSERT_EQUAL(dec.obs[2].device, UINT64_C(0xAAAAAAAAAAAAAAAA));
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 3}, {DP_HL7_device_rows, 1});
}

static void
test_obs_limit(void)
{
	m_reset();
	m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
	m_seg("OBR|1|||x|||20240301101455+0000");
	for (unsigned i = 1; i <= DP_MAX_OBS + 1; i++)
		m_seg("OBX|%u|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.0.%u|%u|264864^^MDC|||||R", i, i,
		      50 + i);
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, DP_MAX_OBS);
	CU_ASSERT_EQUAL(dec.obs[DP_MAX_OBS - 1].seq, DP_MAX_OBS);
	CU_ASSERT_EQUAL(dec.obs[DP_MAX_OBS - 1].value, 50 + DP_MAX_OBS);
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, DP_MAX_OBS},
		      {DP_HL7_obs_limit, 1});
}

static void
test_too_many_segments(void)
{
	struct dp_hl7_msg m;

	m_reset();
	m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
	m_seg("OBR|1|||x|||20240301101455+0000");
	m_seg("OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.0.1|60|264864^^MDC|||||R");
	for (unsigned i = 0; i < DP_HL7_MAX_SEGMENTS - 3; i++)
		m_seg("NTE|%u||note", i);
	/* exactly DP_HL7_MAX_SEGMENTS: nothing lost */
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 1});
	CU_ASSERT_EQUAL_FATAL(dp_hl7_parse(&m, (const uint8_t *)mbuf, mlen, NULL), 0);
	CU_ASSERT_EQUAL(m.n_seg, DP_HL7_MAX_SEGMENTS);
	CU_ASSERT_FALSE(m.truncated);

	/* one more, and an OBX past the limit: the first segments still decode */
	m_seg("OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.0.2|61|264864^^MDC|||||R");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL(dec.n_obs, 1);
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 1},
		      {DP_HL7_too_many_segments, 1});
	CU_ASSERT_EQUAL_FATAL(dp_hl7_parse(&m, (const uint8_t *)mbuf, mlen, NULL), 0);
	CU_ASSERT_EQUAL(m.n_seg, DP_HL7_MAX_SEGMENTS);
	CU_ASSERT_TRUE(m.truncated);
}

/* PID and PV1 apply to what follows them; a new PID clears PV1. */
static void
test_patient_groups(void)
{
	m_reset();
	m_seg("MSH|^~\\&|T^0012345678ABCDEF^EUI-64||||20240301101500+0000||ORU^R01|X1|P");
	m_seg("PID|||P1^^^H^MR");
	m_seg("PV1||I|ICU^1^1");
	m_seg("OBR|1|||x|||20240301101455+0000");
	m_seg("OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.0.1|60|264864^^MDC|||||R");
	m_seg("PID|||P2^^^H^MR");
	m_seg("OBR|2|||x|||20240301101456+0000");
	m_seg("OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|2.0.0.1|61|264864^^MDC|||||R");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_obs, 2);
	EXPECT_SPAN(dec.obs[0].patient, "P1");
	EXPECT_SPAN(dec.obs[0].location, "ICU^1^1");
	EXPECT_SPAN(dec.obs[1].patient, "P2");
	EXPECT_SPAN(dec.obs[1].location, "");
	CU_ASSERT_EQUAL(dec.obs[0].time_ns, INT64_C(1709288095) * NS);
	CU_ASSERT_EQUAL(dec.obs[1].time_ns, INT64_C(1709288096) * NS);
}

/* ======================================================================== */
/* ORU^R40: device alarms                                                   */
/* ======================================================================== */

static void
expect_alarm_(int line, unsigned i, uint64_t device, uint32_t event, uint32_t source, double value,
	      uint32_t flags, int64_t t, enum dp_alarm_phase phase, enum dp_alarm_state state,
	      enum dp_alarm_inactivation inact, enum dp_alarm_priority prio,
	      enum dp_alarm_type type)
{
	const struct dp_dev_alarm *a = &dec.alarm[i];
	char got_f[300], want_f[300];

	if (i >= dec.n_alarms) {
		check(false, line, "line %d: alarm %u missing (n_alarms %u)", line, i,
		      dec.n_alarms);
		return;
	}
	check(a->device == device, line, "line %d alarm %u: device %016" PRIx64 " want %016" PRIx64,
	      line, i, a->device, device);
	check(a->event_code == event, line, "line %d alarm %u: event %u want %u", line, i,
	      a->event_code, event);
	check(a->source_code == source, line, "line %d alarm %u: source %u want %u", line, i,
	      a->source_code, source);
	check(isnan(value) ? isnan(a->source_value) : a->source_value == value, line,
	      "line %d alarm %u: source value %.17g want %.17g", line, i, a->source_value, value);
	flag_names(a->flags, got_f, sizeof(got_f));
	flag_names(flags, want_f, sizeof(want_f));
	check(a->flags == flags, line, "line %d alarm %u: flags [%s] want [%s]", line, i, got_f,
	      want_f);
	check(a->time_ns == t, line, "line %d alarm %u: time %" PRId64 " want %" PRId64, line, i,
	      a->time_ns, t);
	check(a->phase == phase, line, "line %d alarm %u: phase %s want %s", line, i,
	      dp_alarm_phase_name(a->phase), dp_alarm_phase_name(phase));
	check(a->state == state, line, "line %d alarm %u: state %s want %s", line, i,
	      dp_alarm_state_name(a->state), dp_alarm_state_name(state));
	check(a->inactivation == inact, line, "line %d alarm %u: inactivation %s want %s", line, i,
	      dp_alarm_inactivation_name(a->inactivation), dp_alarm_inactivation_name(inact));
	check(a->priority == prio, line, "line %d alarm %u: priority %s want %s", line, i,
	      dp_alarm_priority_name(a->priority), dp_alarm_priority_name(prio));
	check(a->type == type, line, "line %d alarm %u: type %s want %s", line, i,
	      dp_alarm_type_name(a->type), dp_alarm_type_name(type));
}
#define EXPECT_ALARM(i, dev, ev, src, val, fl, t, ph, stt, ina, pr, ty) \
	expect_alarm_(__LINE__, i, dev, ev, src, val, fl, t, ph, stt, ina, pr, ty)

static void
test_r40_acm_numbering(void)
{
	CU_ASSERT_EQUAL_FATAL(decode_file("pcd04_acm_numbering.hl7"), 0);
	CU_ASSERT_EQUAL(dec.kind, DP_MSG_ORU_R40);
	CU_ASSERT_EQUAL(dec.n_obs, 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_alarms, 1);
	/* priority facet PH wins over OBX-8's PM; device from the MDS row */
	EXPECT_ALARM(0, UINT64_C(0x1122334455667788), 196648, 149538, 160, 0,
		     INT64_C(1709290797) * NS, DP_PHASE_START, DP_ASTATE_ACTIVE, DP_INACT_ENABLED,
		     DP_PRIO_HIGH, DP_ATYPE_PHYSIOLOGICAL);
	EXPECT_SPAN(dec.alarm[0].alarm_id,
		    "1^6a1f0c1e-2b3d-4c5e-8f90-a1b2c3d4e5f6^0011223344556677^EUI-64");
	EXPECT_SPAN(dec.alarm[0].text, "Pulse rate high");
	EXPECT_SPAN(dec.alarm[0].patient, "MRN4711");
	EXPECT_SPAN(dec.alarm[0].location, "ICU^2^23");
	EXPECT_SPAN(dec.alarm[0].device_id, "1122334455667788");
	EXPECT_SPAN(dec.control_id, "ACM0001");
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_device_alarms, 1});
}

static void
test_r40_legacy_ge(void)
{
	CU_ASSERT_EQUAL_FATAL(decode_file("pcd04_legacy_ge.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_alarms, 1);
	/* priority and type only in OBX-8; event code 0 (MDCX_EVT_...) is not
	 * in the table; the sender has no EUI-64: FNV-1a of "CENTRAL_STATION_3" */
	EXPECT_ALARM(0, UINT64_C(0xe9dd12700e32d86f), 0, 0, NAN, F(DEVICE_HASHED) | F(CODE_UNKNOWN),
		     INT64_C(1709294999500000000), DP_PHASE_UPDATE, DP_ASTATE_ACTIVE,
		     DP_INACT_AUDIO_PAUSED, DP_PRIO_MEDIUM, DP_ATYPE_ADVISORY);
	EXPECT_SPAN(dec.alarm[0].text, "Recheck blood pressure");
	EXPECT_SPAN(dec.alarm[0].alarm_id, "77^CENTRAL_STATION_3");
	EXPECT_SPAN(dec.alarm[0].device_id, "CENTRAL_STATION_3");
	EXPECT_SPAN(dec.alarm[0].location, "ICU^B1^B1^HOSP");
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_device_alarms, 1});
}

static void
test_r40_legacy_draeger(void)
{
	CU_ASSERT_EQUAL_FATAL(decode_file("pcd04_legacy_draeger.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_alarms, 1);
	/* numbers only, no reference ids; the facets' OBX-18 names the device */
	EXPECT_ALARM(0, UINT64_C(2), 196916, 150456, 0, 0, INT64_C(1709288400) * NS,
		     DP_PHASE_CONTINUE, DP_ASTATE_LATCHED, DP_INACT_ALARM_OFF, DP_PRIO_LOW,
		     DP_ATYPE_TECHNICAL);
	EXPECT_SPAN(dec.alarm[0].device_id, "0000000000000002");
	EXPECT_SPAN(dec.alarm[0].patient, "MRN4715");
	EXPECT_SPAN(dec.alarm[0].location, "CU1^^9042^HOSP1");
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_device_alarms, 1});
}

static void
test_r40_keepalive(void)
{
	CU_ASSERT_EQUAL_FATAL(decode_file("pcd04_keepalive.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_alarms, 1);
	EXPECT_ALARM(0, UINT64_C(0x0011223344556677), 196614, 69965, NAN, 0,
		     INT64_C(1709296200) * NS, DP_PHASE_TPOINT, DP_ASTATE_ACTIVE, DP_INACT_ENABLED,
		     DP_PRIO_NONE, DP_ATYPE_TECHNICAL);
	EXPECT_SPAN(dec.alarm[0].text, "keep-alive");
	EXPECT_SPAN(dec.alarm[0].patient, "");
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_device_alarms, 1});
}

static void
test_r40_refid_wins(void)
{
	CU_ASSERT_EQUAL_FATAL(decode_file("pcd04_refid_wins.hl7"), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_alarms, 1);
	EXPECT_ALARM(0, UINT64_C(0x0011223344556677), 196670, 150456, 84, 0,
		     INT64_C(1709296799) * NS, DP_PHASE_END, DP_ASTATE_INACTIVE,
		     DP_INACT_ACKNOWLEDGED, DP_PRIO_HIGH, DP_ATYPE_PHYSIOLOGICAL);
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_device_alarms, 1});
}

/* One alarm message with one facet row of our choosing. */
static void
r40_with(const char *facet_row)
{
	m_reset();
	m_seg("MSH|^~\\&|AR^0011223344556677^EUI-64||||20240301124000+0000||ORU^R40^ORU_R40|A1|P");
	m_seg("OBR|1|5^AR|5^AR|196616^MDC_EVT_ALARM^MDC|||20240301123959+0000");
	m_seg("OBX|1|ST|196648^MDC_EVT_HI^MDC|1.1.1.147842.1|HR high||||||F");
	m_seg("%s", facet_row);
}

static void
test_r40_facet_values(void)
{
	static const struct {
		const char *row;
		unsigned which; /* 0 phase 1 state 2 inactivation 3 priority 4 type */
		unsigned value;
	} cases[] = {
		{"OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.147842.3|start", 0, DP_PHASE_START},
		{"OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.147842.3|continue", 0,
		 DP_PHASE_CONTINUE},
		{"OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.147842.3|end", 0, DP_PHASE_END},
		{"OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.147842.3|update", 0,
		 DP_PHASE_UPDATE},
		{"OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.147842.3|tpoint", 0,
		 DP_PHASE_TPOINT},
		{"OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.147842.3|escalate", 0,
		 DP_PHASE_ESCALATE},
		{"OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.147842.3|de-escalate", 0,
		 DP_PHASE_DEESCALATE},
		{"OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.147842.3|START", 0, DP_PHASE_START},
		{"OBX|4|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.1.1.147842.4|off", 1, DP_ASTATE_OFF},
		{"OBX|4|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.1.1.147842.4|inactive", 1,
		 DP_ASTATE_INACTIVE},
		{"OBX|4|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.1.1.147842.4|active", 1,
		 DP_ASTATE_ACTIVE},
		{"OBX|4|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.1.1.147842.4|latched", 1,
		 DP_ASTATE_LATCHED},
		{"OBX|5|ST|68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC|1.1.1.147842.5|enabled", 2,
		 DP_INACT_ENABLED},
		{"OBX|5|ST|68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC|1.1.1.147842.5|audio-paused",
		 2, DP_INACT_AUDIO_PAUSED},
		{"OBX|5|ST|68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC|1.1.1.147842.5|audio-off", 2,
		 DP_INACT_AUDIO_OFF},
		{"OBX|5|ST|68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC|1.1.1.147842.5|alarm-paused",
		 2, DP_INACT_ALARM_PAUSED},
		{"OBX|5|ST|68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC|1.1.1.147842.5|alarm-off", 2,
		 DP_INACT_ALARM_OFF},
		{"OBX|5|ST|68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC|1.1.1.147842.5|"
		 "alert-acknowledged",
		 2, DP_INACT_ACKNOWLEDGED},
		{"OBX|6|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|1.1.1.147842.6|PH", 3, DP_PRIO_HIGH},
		{"OBX|6|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|1.1.1.147842.6|PM", 3, DP_PRIO_MEDIUM},
		{"OBX|6|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|1.1.1.147842.6|PL", 3, DP_PRIO_LOW},
		{"OBX|6|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|1.1.1.147842.6|PN", 3, DP_PRIO_NONE},
		{"OBX|7|ST|68485^MDC_ATTR_ALERT_TYPE^MDC|1.1.1.147842.7|SP", 4,
		 DP_ATYPE_PHYSIOLOGICAL},
		{"OBX|7|ST|68485^MDC_ATTR_ALERT_TYPE^MDC|1.1.1.147842.7|ST", 4, DP_ATYPE_TECHNICAL},
		{"OBX|7|ST|68485^MDC_ATTR_ALERT_TYPE^MDC|1.1.1.147842.7|SA", 4, DP_ATYPE_ADVISORY},
		/* by number only, each numbering */
		{"OBX|3|ST|68481^^MDC|1.1.1.147842.3|end", 0, DP_PHASE_END},
		{"OBX|3|ST|68165^^MDC|1.1.1.147842.3|end", 0, DP_PHASE_END},
		{"OBX|4|ST|68482^^MDC|1.1.1.147842.4|latched", 1, DP_ASTATE_LATCHED},
		{"OBX|4|ST|68166^^MDC|1.1.1.147842.4|latched", 1, DP_ASTATE_LATCHED},
		{"OBX|5|ST|68483^^MDC|1.1.1.147842.5|audio-off", 2, DP_INACT_AUDIO_OFF},
		{"OBX|5|ST|68167^^MDC|1.1.1.147842.5|audio-off", 2, DP_INACT_AUDIO_OFF},
		{"OBX|6|ST|68484^^MDC|1.1.1.147842.6|PL", 3, DP_PRIO_LOW},
		{"OBX|6|ST|68168^^MDC|1.1.1.147842.6|PL", 3, DP_PRIO_LOW},
		{"OBX|7|ST|68485^^MDC|1.1.1.147842.7|SA", 4, DP_ATYPE_ADVISORY},
		/* by reference id whatever the number */
		{"OBX|3|ST|12345^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.147842.3|escalate", 0,
		 DP_PHASE_ESCALATE},
		{"OBX|4|ST|68166^MDC_ATTR_ALERT_STATE^MDC|1.1.1.147842.4|off", 1, DP_ASTATE_OFF},
		{"OBX|6|ST|68168^MDC_ATTR_ALARM_PRIORITY^MDC|1.1.1.147842.6|PN", 3, DP_PRIO_NONE},
		{"OBX|7|ST|68485^MDC_ATTR_ALERT_TYPE^MDC|1.1.1.147842.7|ST^technical^x", 4,
		 DP_ATYPE_TECHNICAL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct dp_dev_alarm *a = &dec.alarm[0];
		unsigned got;

		r40_with(cases[i].row);
		CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
		CU_ASSERT_EQUAL_FATAL(dec.n_alarms, 1);
		got = cases[i].which == 0   ? a->phase
		      : cases[i].which == 1 ? a->state
		      : cases[i].which == 2 ? a->inactivation
		      : cases[i].which == 3 ? a->priority
					    : a->type;
		check(got == cases[i].value, __LINE__, "\"%s\" gave %u, want %u", cases[i].row, got,
		      cases[i].value);
		/* the others stay unknown */
		check((a->phase != 0) + (a->state != 0) + (a->inactivation != 0) +
				      (a->priority != 0) + (a->type != 0) ==
			      1,
		      __LINE__, "\"%s\" set more than one facet", cases[i].row);
		CU_ASSERT_EQUAL(a->event_code, 196648);
		EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_device_alarms, 1});
	}
}

static void
test_r40_facet_unknown_value(void)
{
	static const char *const rows[] = {
		"OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.147842.3|paused",
		"OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.147842.3|starting",
		"OBX|4|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.1.1.147842.4|",
		"OBX|5|ST|68483^^MDC|1.1.1.147842.5|silenced",
		"OBX|6|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|1.1.1.147842.6|high",
		"OBX|7|ST|68485^MDC_ATTR_ALERT_TYPE^MDC|1.1.1.147842.7|SX",
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		r40_with(rows[i]);
		CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
		CU_ASSERT_EQUAL_FATAL(dec.n_alarms, 1);
		CU_ASSERT_EQUAL(dec.alarm[0].phase + dec.alarm[0].state +
					dec.alarm[0].inactivation + dec.alarm[0].priority +
					dec.alarm[0].type,
				0);
		EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_device_alarms, 1},
			      {DP_HL7_r40_facet, 1});
	}
}

static void
test_r40_sources_and_events(void)
{
	/* the source as MDC_ATTR_ALERT_SOURCE, legacy number, coded value */
	r40_with("OBX|2|CWE|68164^^MDC|1.1.1.147842.2|147842^MDC_ECG_HEART_RATE^MDC");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL(dec.alarm[0].source_code, 147842);
	CU_ASSERT_TRUE(isnan(dec.alarm[0].source_value));

	/* a metric row whose value is not a number */
	r40_with("OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.147842.2|fast|264864^^MDC");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL(dec.alarm[0].source_code, 147842);
	CU_ASSERT_TRUE(isnan(dec.alarm[0].source_value));
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_device_alarms, 1}, {DP_HL7_obx_value, 1});

	/* the confirm timeout is neither source nor facet */
	r40_with("OBX|8|NM|67860^MDC_ATTR_CONFIRM_TIMEOUT^MDC|1.1.1.147842.8|5|264320^^MDC");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL(dec.alarm[0].source_code, 0);
	CU_ASSERT_TRUE(isnan(dec.alarm[0].source_value));

	/* an event whose reference id names another code: kept, flagged */
	m_reset();
	m_seg("MSH|^~\\&|AR^0011223344556677^EUI-64||||20240301124000+0000||ORU^R40|A1|P");
	m_seg("OBR|1|5^AR|5^AR|196616^MDC_EVT_ALARM^MDC|||20240301123959");
	m_seg("OBX|1|ST|196648^MDC_EVT_LO^MDC|1.1.1.147842.1|HR|||H~PH~ST|||F|||20240301123958");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	EXPECT_ALARM(0, UINT64_C(0x0011223344556677), 196648, 0, NAN,
		     F(CODE_MISMATCH) | F(TIME_NO_OFFSET), INT64_C(1709296798) * NS,
		     DP_PHASE_UNKNOWN, DP_ASTATE_UNKNOWN, DP_INACT_UNKNOWN, DP_PRIO_HIGH,
		     DP_ATYPE_TECHNICAL);

	/* an event code the table does not hold, by number only (partition 3),
	 * and the message time when there is no other */
	m_reset();
	m_seg("MSH|^~\\&|AR^0011223344556677^EUI-64||||20240301124000+0000||ORU^R40|A1|P");
	m_seg("OBX|1|ST|196700^^MDC|1.1.1.147842.1|something");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	EXPECT_ALARM(0, UINT64_C(0x0011223344556677), 196700, 0, NAN,
		     F(CODE_UNKNOWN) | F(TIME_FROM_MSH), INT64_C(1709296800) * NS, DP_PHASE_UNKNOWN,
		     DP_ASTATE_UNKNOWN, DP_INACT_UNKNOWN, DP_PRIO_UNKNOWN, DP_ATYPE_UNKNOWN);
	EXPECT_SPAN(dec.alarm[0].alarm_id, "");
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_device_alarms, 1});
}

static void
test_r40_groups_and_limits(void)
{
	/* two OBR groups: two alarms */
	m_reset();
	m_seg("MSH|^~\\&|AR^0011223344556677^EUI-64||||20240301124000+0000||ORU^R40|A1|P");
	for (unsigned g = 1; g <= 2; g++) {
		m_seg("OBR|%u|%u^AR|%u^AR|196616^MDC_EVT_ALARM^MDC|||2024030112395%u+0000", g, g, g,
		      g);
		m_seg("OBX|1|ST|%s|1.1.1.1.1|x",
		      g == 1 ? "196648^MDC_EVT_HI^MDC" : "196670^MDC_EVT_LO^MDC");
	}
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_alarms, 2);
	CU_ASSERT_EQUAL(dec.alarm[0].event_code, 196648);
	CU_ASSERT_EQUAL(dec.alarm[1].event_code, 196670);
	CU_ASSERT_EQUAL(dec.alarm[0].time_ns, INT64_C(1709296791) * NS);
	CU_ASSERT_EQUAL(dec.alarm[1].time_ns, INT64_C(1709296792) * NS);
	EXPECT_SPAN(dec.alarm[1].alarm_id, "2^AR");
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_device_alarms, 2});

	/* one group more than the limit */
	m_reset();
	m_seg("MSH|^~\\&|AR^0011223344556677^EUI-64||||20240301124000+0000||ORU^R40|A1|P");
	for (unsigned g = 1; g <= DP_MAX_DEV_ALARMS + 1; g++) {
		m_seg("OBR|%u|%u^AR|%u^AR|196616^MDC_EVT_ALARM^MDC", g, g, g);
		m_seg("OBX|1|ST|196648^MDC_EVT_HI^MDC|1.1.1.1.1|x");
		m_seg("OBX|2|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.1.3|start");
	}
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL(dec.n_alarms, DP_MAX_DEV_ALARMS);
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_device_alarms, DP_MAX_DEV_ALARMS},
		      {DP_HL7_alarm_limit, 1});

	/* a group without its event facet: reported, counted */
	m_reset();
	m_seg("MSH|^~\\&|AR^0011223344556677^EUI-64||||20240301124000+0000||ORU^R40|A1|P");
	m_seg("OBR|1|1^AR|1^AR|196616^MDC_EVT_ALARM^MDC");
	m_seg("OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X");
	m_seg("OBX|2|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.0.0.0.3|end");
	m_seg("OBR|2|2^AR|2^AR|196616^MDC_EVT_ALARM^MDC");
	m_seg("OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X");
	CU_ASSERT_EQUAL_FATAL(m_decode(), 0);
	CU_ASSERT_EQUAL_FATAL(dec.n_alarms, 1); /* the second has no facet at all */
	CU_ASSERT_EQUAL(dec.alarm[0].event_code, 0);
	CU_ASSERT_EQUAL(dec.alarm[0].phase, DP_PHASE_END);
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_device_alarms, 1}, {DP_HL7_r40_no_event, 2});
}

/* ======================================================================== */
/* MLLP                                                                     */
/* ======================================================================== */

struct seen {
	unsigned n;
	unsigned n_obs[8];
	char control[8][16];
};

static void
on_decoded(void *arg, const struct dp_decoded *d)
{
	struct seen *s = arg;

	if (s->n < 8) {
		s->n_obs[s->n] = d->n_obs;
		snprintf(s->control[s->n], sizeof(s->control[0]), "%.*s", (int)d->control_id.len,
			 (const char *)d->msg + d->control_id.off);
	}
	s->n++;
}

static uint8_t dgram[8192];
static size_t dlen;

static void
d_reset(void)
{
	dlen = 0;
}

static void
d_bytes(const void *p, size_t n)
{
	CU_ASSERT_FATAL(dlen + n <= sizeof(dgram));
	memcpy(dgram + dlen, p, n);
	dlen += n;
}

static void
d_frame(const void *p, size_t n)
{
	d_bytes("\x0b", 1);
	d_bytes(p, n);
	d_bytes("\x1c\x0d", 2);
}

static unsigned
mllp(struct seen *s)
{
	memset(&st, 0, sizeof(st));
	memset(s, 0, sizeof(*s));
	return dp_mllp_decode(dgram, dlen, &st, &dec, on_decoded, s);
}

static const char ack[] = "MSH|^~\\&|A||||2024||ACK^R01^ACK|ACK1|P\rMSA|CA|X\r";

static void
test_mllp_frames(void)
{
	static uint8_t m1[1024], m4[1024];
	size_t l1, l4;
	struct seen s;

	CU_ASSERT_EQUAL_FATAL(load_fixture("001_ipf_pcd01_request.hl7"), 0);
	memcpy(m1, fbuf, flen);
	l1 = flen;
	CU_ASSERT_EQUAL_FATAL(load_fixture("004_ipf_continua_wan_oximeter.hl7"), 0);
	memcpy(m4, fbuf, flen);
	l4 = flen;

	/* one frame */
	d_reset();
	d_frame(m1, l1);
	CU_ASSERT_EQUAL(mllp(&s), 1);
	CU_ASSERT_EQUAL(s.n, 1);
	CU_ASSERT_STRING_EQUAL(s.control[0], "MSGID1234");
	CU_ASSERT_EQUAL(s.n_obs[0], 3);
	CU_ASSERT_PTR_EQUAL(dec.msg, dgram + 1);
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 3});

	/* good, bad, unsupported, good, then a frame with no end */
	d_reset();
	d_frame(m1, l1);
	d_frame("garbage", 7);
	d_frame(ack, sizeof(ack) - 1);
	d_frame(m4, l4);
	d_bytes("\x0bMSH|^~\\&|cut", 13);
	CU_ASSERT_EQUAL(mllp(&s), 2);
	CU_ASSERT_EQUAL_FATAL(s.n, 2);
	CU_ASSERT_EQUAL(s.n_obs[0], 3);
	CU_ASSERT_EQUAL(s.n_obs[1], 2);
	EXPECT_COUNTS({DP_HL7_messages, 2}, {DP_HL7_observations, 5}, {DP_HL7_no_msh, 1},
		      {DP_HL7_unsupported_type, 1}, {DP_HL7_mllp_unterminated, 1});

	/* a frame restarted by a new 0x0B: the cut one counted, the next decodes */
	d_reset();
	d_bytes("\x0bMSH|^~\\&|half", 14);
	d_frame(m4, l4);
	CU_ASSERT_EQUAL(mllp(&s), 1);
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 2},
		      {DP_HL7_mllp_unterminated, 1});

	/* bytes before, between and after frames: one count per run */
	d_reset();
	d_bytes("junk", 4);
	d_frame(m1, l1);
	d_bytes("\r\n", 2);
	d_frame(m4, l4);
	d_bytes("\n", 1);
	CU_ASSERT_EQUAL(mllp(&s), 2);
	EXPECT_COUNTS({DP_HL7_messages, 2}, {DP_HL7_observations, 5}, {DP_HL7_mllp_outside, 3});

	/* a bare message without framing is bytes outside a frame */
	d_reset();
	d_bytes(m1, l1);
	CU_ASSERT_EQUAL(mllp(&s), 0);
	CU_ASSERT_EQUAL(s.n, 0);
	EXPECT_COUNTS({DP_HL7_mllp_outside, 1});

	/* a 0x1C inside a frame that is not followed by 0x0D is data */
	d_reset();
	d_bytes("\x0b", 1);
	d_bytes(m1, l1 - 1);
	d_bytes("\x1cx\r\x1c\x0d", 5);
	CU_ASSERT_EQUAL(mllp(&s), 1);
	CU_ASSERT_EQUAL(s.n_obs[0], 3);
	EXPECT_COUNTS({DP_HL7_messages, 1}, {DP_HL7_observations, 3});

	/* a lone 0x1C at the very end is not an end */
	d_reset();
	d_bytes("\x0b", 1);
	d_bytes(m1, l1);
	d_bytes("\x1c", 1);
	CU_ASSERT_EQUAL(mllp(&s), 0);
	EXPECT_COUNTS({DP_HL7_mllp_unterminated, 1});

	/* empty frames and an empty datagram */
	d_reset();
	d_bytes("\x0b\x1c\x0d\x0b\x1c\x0d", 6);
	CU_ASSERT_EQUAL(mllp(&s), 0);
	EXPECT_COUNTS({DP_HL7_no_msh, 2});
	d_reset();
	CU_ASSERT_EQUAL(mllp(&s), 0);
	EXPECT_COUNTS({DP_HL7_mllp_empty, 1});

	/* no callback */
	d_reset();
	d_frame(m1, l1);
	memset(&st, 0, sizeof(st));
	CU_ASSERT_EQUAL(dp_mllp_decode(dgram, dlen, &st, &dec, NULL, NULL), 1);
}

/* A frame cut at every byte offset: never a crash, always exactly one count. */
static void
test_mllp_cut_everywhere(void)
{
	static const char *const files[] = {"001_ipf_pcd01_request.hl7", "pcd04_acm_numbering.hl7"};

	for (size_t f = 0; f < 2; f++) {
		CU_ASSERT_EQUAL_FATAL(load_fixture(files[f]), 0);
		d_reset();
		d_frame(fbuf, flen);
		for (size_t k = 1; k < dlen; k++) {
			uint8_t *p = malloc(k); /* exact size: valgrind sees any overread */
			bool ok;

			CU_ASSERT_PTR_NOT_NULL_FATAL(p);
			memcpy(p, dgram, k);
			memset(&st, 0, sizeof(st));
			ok = dp_mllp_decode(p, k, &st, &dec, NULL, NULL) == 0 &&
			     dp_read(&st.hl7[DP_HL7_mllp_unterminated]) == 1;
			for (unsigned c = 0; c < DP_HL7__COUNT; c++)
				if (c != DP_HL7_mllp_unterminated && dp_read(&st.hl7[c]) != 0)
					ok = false;
			check(ok, __LINE__, "%s cut to %zu bytes", files[f], k);

			/* and the tail from k on: bytes outside any frame */
			free(p);
			p = malloc(dlen - k);
			CU_ASSERT_PTR_NOT_NULL_FATAL(p);
			memcpy(p, dgram + k, dlen - k);
			memset(&st, 0, sizeof(st));
			ok = dp_mllp_decode(p, dlen - k, &st, &dec, NULL, NULL) == 0 &&
			     dp_read(&st.hl7[DP_HL7_mllp_outside]) == 1;
			for (unsigned c = 0; c < DP_HL7__COUNT; c++)
				if (c != DP_HL7_mllp_outside && dp_read(&st.hl7[c]) != 0)
					ok = false;
			check(ok, __LINE__, "%s from byte %zu on", files[f], k);
			free(p);
		}
		memset(&st, 0, sizeof(st));
		CU_ASSERT_EQUAL(dp_mllp_decode(dgram, dlen, &st, &dec, NULL, NULL), 1);
	}
}

/*
 * Every prefix and many one-byte changes of every fixture through the
 * decoder, each in a buffer of its exact size: no crash, no read outside
 * (valgrind), and every call either decodes or counts why not.
 */
static void
test_damaged_fixtures(void)
{
	static const char *const files[] = {
		"001_ipf_pcd01_request.hl7",
		"004_ipf_continua_wan_oximeter.hl7",
		"006_ipf_continua_wan_thermometer.hl7",
		"008_t5_ihe_pcd01_pulse_oximetry.hl7",
		"pcd01_variants/codes_units.hl7",
		"pcd01_variants/obx4_levels.hl7",
		"pcd01_variants/dtm_forms.hl7",
		"pcd04_acm_numbering.hl7",
		"pcd04_legacy_ge.hl7",
		"pcd04_legacy_draeger.hl7",
	};
	static const uint8_t subst[] = {'|',  '^', '~', '\\', '&', '\r', '\n', 0x0b,
					0x1c, '#', '0', '.',  'X', 0,	 ' '};
	unsigned calls = 0, failed = 0;

	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		CU_ASSERT_EQUAL_FATAL(load_fixture(files[f]), 0);
		for (size_t k = 0; k <= flen; k++) {
			uint8_t *p = malloc(k ? k : 1);
			int rc;

			CU_ASSERT_PTR_NOT_NULL_FATAL(p);
			memcpy(p, fbuf, k);
			rc = decode_buf(p, k);
			if ((rc == 0) != (dp_read(&st.hl7[DP_HL7_messages]) == 1))
				failed++;
			free(p);
			calls++;
		}
		for (size_t k = 0; k < flen; k++) {
			for (size_t s = 0; s < sizeof(subst); s++) {
				uint8_t *p = malloc(flen);
				uint64_t sum = 0;
				int rc;

				CU_ASSERT_PTR_NOT_NULL_FATAL(p);
				memcpy(p, fbuf, flen);
				p[k] = subst[s];
				rc = decode_buf(p, flen);
				for (unsigned c = 0; c < DP_HL7__COUNT; c++)
					sum += dp_read(&st.hl7[c]);
				if (sum == 0 ||
				    (rc == 0) != (dp_read(&st.hl7[DP_HL7_messages]) == 1))
					failed++;
				free(p);
				calls++;
			}
		}
	}
	CU_ASSERT_EQUAL(failed, 0);
	CU_ASSERT(calls > 10000);
}

/* ======================================================================== */
/* Registration                                                             */
/* ======================================================================== */

/*
 * The decoder marks a message's delimiters in bitmaps of a fixed size
 * (hl7.c, TOK_MAX_LEN: 4096 bytes) and splits a longer message from its
 * bytes instead. Each fixture, with a Z segment at its end padded to
 * either side of that bound, must decode to the same observations, alarms
 * and counters both ways.
 */
struct decoded_copy {
	int rc;
	struct dp_decoded d;
	uint64_t hl7[DP_HL7__COUNT];
};

static void
decode_padded(const uint8_t *msg, size_t len, size_t total, struct decoded_copy *out)
{
	static uint8_t buf[8192];
	size_t n = len;

	CU_ASSERT_FATAL(total < sizeof(buf) && len + 8 < total);
	memcpy(buf, msg, len);
	if (buf[n - 1] != '\r' && buf[n - 1] != '\n')
		buf[n++] = '\r';
	memcpy(buf + n, "ZPD|", 4);
	n += 4;
	while (n < total - 1)
		buf[n++] = 'x';
	buf[n++] = '\r';
	out->rc = decode_buf(buf, n);
	out->d = dec;
	for (unsigned i = 0; i < DP_HL7__COUNT; i++)
		out->hl7[i] = dp_read(&st.hl7[i]);
}

static bool
span_same(struct dp_span a, struct dp_span b)
{
	return a.off == b.off && a.len == b.len;
}

static void
expect_same_decode(const struct decoded_copy *a, const struct decoded_copy *b, const char *what)
{
	bool same = a->rc == b->rc && a->d.kind == b->d.kind && a->d.n_obs == b->d.n_obs &&
		    a->d.n_alarms == b->d.n_alarms && memcmp(a->hl7, b->hl7, sizeof(a->hl7)) == 0;

	for (unsigned i = 0; same && i < a->d.n_obs && i < DP_MAX_OBS; i++) {
		const struct dp_obs *x = &a->d.obs[i], *y = &b->d.obs[i];

		same = x->device == y->device && x->time_ns == y->time_ns &&
		       memcmp(&x->value, &y->value, sizeof(x->value)) == 0 && x->code == y->code &&
		       x->unit == y->unit && x->flags == y->flags && x->seq == y->seq &&
		       x->metric == y->metric && x->time_precision == y->time_precision &&
		       x->status == y->status && span_same(x->patient, y->patient) &&
		       span_same(x->location, y->location) &&
		       span_same(x->device_id, y->device_id) && span_same(x->obs_id, y->obs_id) &&
		       span_same(x->unit_text, y->unit_text) &&
		       span_same(x->containment, y->containment);
	}
	for (unsigned i = 0; same && i < a->d.n_alarms && i < DP_MAX_DEV_ALARMS; i++) {
		const struct dp_dev_alarm *x = &a->d.alarm[i], *y = &b->d.alarm[i];

		same = x->device == y->device && x->time_ns == y->time_ns &&
		       x->event_code == y->event_code && x->source_code == y->source_code &&
		       memcmp(&x->source_value, &y->source_value, sizeof(x->source_value)) == 0 &&
		       x->flags == y->flags && x->phase == y->phase && x->state == y->state &&
		       x->inactivation == y->inactivation && x->priority == y->priority &&
		       x->type == y->type && span_same(x->alarm_id, y->alarm_id) &&
		       span_same(x->text, y->text) && span_same(x->device_id, y->device_id);
	}
	if (!same)
		fprintf(stderr, "\n%s: decodes differently below and above 4096 bytes\n", what);
	CU_ASSERT_TRUE(same);
}

static void
test_long_message_path(void)
{
	static const char *const files[] = {
		"001_ipf_pcd01_request.hl7",
		"004_ipf_continua_wan_oximeter.hl7",
		"006_ipf_continua_wan_thermometer.hl7",
		"008_t5_ihe_pcd01_pulse_oximetry.hl7",
		"pcd04_acm_numbering.hl7",
		"pcd04_keepalive.hl7",
		"pcd04_legacy_draeger.hl7",
		"pcd04_legacy_ge.hl7",
		"pcd04_refid_wins.hl7",
		"pcd01_variants/codes_units.hl7",
		"pcd01_variants/flags.hl7",
		"pcd01_variants/obx4_levels.hl7",
	};
	static struct decoded_copy below, above;
	unsigned decoded = 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		uint8_t msg[4000];
		size_t len;

		if (load_fixture(files[i]) < 0)
			return;
		CU_ASSERT_FATAL(flen < 3000);
		len = flen;
		memcpy(msg, fbuf, len);
		decode_padded(msg, len, 4000, &below);
		decode_padded(msg, len, 6000, &above);
		expect_same_decode(&below, &above, files[i]);
		decoded += below.rc == 0 && below.d.n_obs + below.d.n_alarms > 0;
	}
	/* the comparison is of real decodes, not of two failures */
	CU_ASSERT(decoded >= 10);
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"real 001: NIBP from a PHD blood-pressure monitor", test_real_001_nibp},
		{"real 004: Continua oximeter, numeric and wave", test_real_004_oximeter},
		{"real 006: Continua thermometer", test_real_006_thermometer},
		{"real 008: IHE PCD-01 pulse oximetry, dual-coded", test_real_008_pulse_oximetry},
		{"over 4096 bytes: the same decode as below", test_long_message_path},
		{"CR, LF and CRLF line ends", test_line_endings},
		{"MSH-2 with the truncation character", test_truncation_char},
		{"OBX-4 of 1 to 6 levels and device rows", test_obx4_levels},
		{"OBX-4 that does not parse", test_obx4_malformed},
		{"timestamps as devices write them", test_dtm_forms},
		{"OBX-8 flags and OBX-11 status", test_flags},
		{"vendor sentinels and 11073 special values", test_sentinels},
		{"value types other than NM", test_value_types},
		{"device hierarchy rows", test_containment_rows},
		{"metric codes and units", test_codes_units},
		{"device key from MSH-3", test_device_from_msh3},
		{"NM values", test_nm_values},
		{"dp_hl7_time", test_time_parse},
		{"timestamps that do not parse", test_time_malformed},
		{"dp_hl7_get and dp_hl7_field_count", test_get_and_fields},
		{"segment splitting", test_segment_splitting},
		{"other delimiters", test_other_delimiters},
		{"dp_hl7_unescape", test_unescape},
		{"message malformations", test_message_malformations},
		{"OBX malformations", test_obx_malformations},
		{"MDS/VMD row table limit", test_device_rows_limit},
		{"observation limit", test_obs_limit},
		{"segment limit", test_too_many_segments},
		{"patient groups", test_patient_groups},
		{"ORU^R40, ACM numbering", test_r40_acm_numbering},
		{"ORU^R40, GE Mural numbering", test_r40_legacy_ge},
		{"ORU^R40, Draeger numbering by number only", test_r40_legacy_draeger},
		{"ORU^R40 keep-alive", test_r40_keepalive},
		{"ORU^R40, reference id wins over number", test_r40_refid_wins},
		{"ORU^R40 facet values", test_r40_facet_values},
		{"ORU^R40 unknown facet values", test_r40_facet_unknown_value},
		{"ORU^R40 sources and events", test_r40_sources_and_events},
		{"ORU^R40 groups and limits", test_r40_groups_and_limits},
		{"MLLP frames", test_mllp_frames},
		{"MLLP frame cut at every offset", test_mllp_cut_everywhere},
		{"damaged fixtures", test_damaged_fixtures},
	};
	CU_pSuite s = CU_add_suite("hl7", NULL, NULL);

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
