/*
 * bench-decode.c - vigil-bench's `decode` scenario: the decoders alone.
 *
 * Issue 3 sets the targets on one core: at most 150 ns to decode a typical
 * ORU^R01 of 10 OBX (IHE PCD-01) and at most 40 ns for a VTP frame of 10
 * observations. This times dp_hl7_decode and dp_vtp_decode on one prebuilt
 * message each, repeated, and in the same run a baseline that only reads
 * every byte of the same message once (summing it eight bytes at a time),
 * so the figure can be read against the machine's mood of the moment. The
 * decoded output is checked before timing: a benchmark of a decoder that
 * decodes nothing would be worthless.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "dataplane.h"

#define ORU_OBX 10
#define VTP_OBS 10

/* A PCD-01 ORU^R01 from one bedside monitor: MDS row, then ten metrics. */
static const char oru_r01[] =
	"MSH|^~\\&|MON^0123456789ABCDEF^EUI-64||||20261127101500+0000||ORU^R01^ORU_R01|"
	"MSG00001|P|2.6|||AL|NE|||||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r"
	"PID|||PAT001^^^HOSP^MR\r"
	"PV1||I|ICU^1^3\r"
	"OBR|1||RPT1^MON^0123456789ABCDEF^EUI-64|182777000^monitoring of patient^SCT|||"
	"20261127101500+0000\r"
	"OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||"
	"0123456789ABCDEF^EUI-64\r"
	"OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.0.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|"
	"||||R\r"
	"OBX|3|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.1.2|97|262688^MDC_DIM_PERCENT^MDC||||"
	"|R\r"
	"OBX|4|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.0.1.3|73|264864^MDC_DIM_BEAT_PER_MIN^"
	"MDC|||||R\r"
	"OBX|5|NM|151562^MDC_RESP_RATE^MDC|1.0.1.4|16|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R\r"
	"OBX|6|NM|150344^MDC_TEMP^MDC|1.0.1.5|37.1|268192^MDC_DIM_DEGC^MDC|||||R\r"
	"OBX|7|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.0.1.6|120|266016^MDC_DIM_MMHG^MDC|||"
	"||R\r"
	"OBX|8|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.0.1.7|80|266016^MDC_DIM_MMHG^MDC|||"
	"||R\r"
	"OBX|9|NM|150023^MDC_PRESS_BLD_NONINV_MEAN^MDC|1.0.1.8|93|266016^MDC_DIM_MMHG^MDC||"
	"|||R\r"
	"OBX|10|NM|151728^MDC_AWAY_CO2_ET^MDC|1.0.1.9|38|266016^MDC_DIM_MMHG^MDC|||||R\r"
	"OBX|11|NM|150033^MDC_PRESS_BLD_ART_SYS^MDC|1.0.1.10|118|266016^MDC_DIM_MMHG^MDC|||"
	"||R\r";

static const uint32_t oru_codes[ORU_OBX] = {147842, 150456, 149530, 151562, 150344,
					    150021, 150022, 150023, 151728, 150033};

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
median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The floor: read every byte of the message once, eight at a time. */
__attribute__((noinline)) static uint64_t
baseline_loop(const uint8_t *msg, size_t len, unsigned long iterations)
{
	uint64_t sum = 0;

	for (unsigned long it = 0; it < iterations; it++) {
		size_t i = 0;

		for (; i + 8 <= len; i += 8) {
			uint64_t w;

			memcpy(&w, msg + i, 8);
			sum += w;
		}
		for (; i < len; i++)
			sum += msg[i];
		__asm__ volatile("" : "+r"(sum)); /* keep each pass */
	}
	return sum;
}

__attribute__((noinline)) static unsigned long
hl7_loop(const uint8_t *msg, size_t len, unsigned long iterations, struct dp_stats *stats,
	 struct dp_decoded *d)
{
	unsigned long obs = 0;

	for (unsigned long it = 0; it < iterations; it++) {
		if (dp_hl7_decode(msg, len, stats, d) == 0)
			obs += d->n_obs;
	}
	return obs;
}

__attribute__((noinline)) static unsigned long
vtp_loop(const uint8_t *frame, size_t len, unsigned long iterations, struct dp_stats *stats,
	 struct dp_decoded *d)
{
	unsigned long obs = 0;

	for (unsigned long it = 0; it < iterations; it++) {
		if (dp_vtp_decode(frame, len, NULL, stats, d) == 0)
			obs += d->n_obs;
	}
	return obs;
}

/* Decode once and check every observation before anything is timed. */
static int
check_oru(struct dp_decoded *d, struct dp_stats *stats)
{
	if (dp_hl7_decode((const uint8_t *)oru_r01, sizeof(oru_r01) - 1, stats, d) != 0 ||
	    d->n_obs != ORU_OBX) {
		fprintf(stderr, "bench decode: the ORU^R01 gave %u observations, not %u\n",
			d->n_obs, ORU_OBX);
		return -EPROTO;
	}
	for (unsigned i = 0; i < ORU_OBX; i++) {
		if (d->obs[i].code != oru_codes[i] || (d->obs[i].flags & DP_OBS(INVALID)) ||
		    isnan(d->obs[i].value)) {
			fprintf(stderr, "bench decode: ORU observation %u is code %u flags 0x%x\n",
				i, d->obs[i].code, d->obs[i].flags);
			return -EPROTO;
		}
	}
	return 0;
}

static int
build_vtp(uint8_t *frame, size_t room, struct dp_decoded *d, struct dp_stats *stats)
{
	struct dp_vtp_obs obs[VTP_OBS];
	int len;

	for (unsigned i = 0; i < VTP_OBS; i++)
		obs[i] = (struct dp_vtp_obs){.code = oru_codes[i], .unit = 0, .value = 60.0 + i};
	len = dp_vtp_encode(frame, room, 0x0123456789abcdefull, 1, 1795860900000000000ll, obs,
			    VTP_OBS);
	if (len < 0) {
		fprintf(stderr, "bench decode: dp_vtp_encode: %s\n", strerror(-len));
		return len;
	}
	if (dp_vtp_decode(frame, (size_t)len, NULL, stats, d) != 0 || d->n_obs != VTP_OBS ||
	    d->obs[VTP_OBS - 1].value != 60.0 + VTP_OBS - 1) {
		fprintf(stderr, "bench decode: the VTP frame did not decode to %u observations\n",
			VTP_OBS);
		return -EPROTO;
	}
	return len;
}

int
bench_decode(unsigned runs, unsigned long iterations, bool json)
{
	double hl7_ns[BENCH_MAX_RUNS], vtp_ns[BENCH_MAX_RUNS], base_hl7[BENCH_MAX_RUNS];
	double base_vtp[BENCH_MAX_RUNS], m_hl7, m_vtp, m_bh, m_bv;
	const uint8_t *oru = (const uint8_t *)oru_r01;
	size_t oru_len = sizeof(oru_r01) - 1;
	struct dp_decoded *d = NULL;
	struct dp_stats *stats = NULL;
	uint8_t vtp[2048];
	int vtp_len, rc = 0;

	if (runs > BENCH_MAX_RUNS)
		runs = BENCH_MAX_RUNS;
	d = malloc(sizeof(*d));
	stats = aligned_alloc(64, sizeof(*stats));
	if (d == NULL || stats == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memset(stats, 0, sizeof(*stats));
	rc = check_oru(d, stats);
	if (rc != 0)
		goto out;
	vtp_len = build_vtp(vtp, sizeof(vtp), d, stats);
	if (vtp_len < 0) {
		rc = vtp_len;
		goto out;
	}

	for (unsigned r = 0; r < runs; r++) {
		double t0, t1;

		t0 = now_ns();
		if (hl7_loop(oru, oru_len, iterations, stats, d) != iterations * ORU_OBX) {
			rc = -EPROTO;
			goto out;
		}
		t1 = now_ns();
		hl7_ns[r] = (t1 - t0) / (double)iterations;
		t0 = now_ns();
		baseline_loop(oru, oru_len, iterations);
		t1 = now_ns();
		base_hl7[r] = (t1 - t0) / (double)iterations;
		t0 = now_ns();
		if (vtp_loop(vtp, (size_t)vtp_len, iterations, stats, d) != iterations * VTP_OBS) {
			rc = -EPROTO;
			goto out;
		}
		t1 = now_ns();
		vtp_ns[r] = (t1 - t0) / (double)iterations;
		t0 = now_ns();
		baseline_loop(vtp, (size_t)vtp_len, iterations);
		t1 = now_ns();
		base_vtp[r] = (t1 - t0) / (double)iterations;
		if (!json)
			printf("run %u: ORU^R01 %.1f ns (byte scan %.1f), VTP %.1f ns (byte scan "
			       "%.1f)\n",
			       r + 1, hl7_ns[r], base_hl7[r], vtp_ns[r], base_vtp[r]);
	}
	m_hl7 = median(hl7_ns, runs);
	m_vtp = median(vtp_ns, runs);
	m_bh = median(base_hl7, runs);
	m_bv = median(base_vtp, runs);
	if (json) {
		printf("{\"scenario\":\"decode\",\"runs\":%u,\"iterations\":%lu,"
		       "\"oru_bytes\":%zu,\"oru_obx\":%u,\"oru_ns\":%.2f,\"oru_scan_ns\":%.2f,"
		       "\"vtp_bytes\":%d,\"vtp_obs\":%u,\"vtp_ns\":%.2f,\"vtp_scan_ns\":%.2f}\n",
		       runs, iterations, oru_len, ORU_OBX, m_hl7, m_bh, vtp_len, VTP_OBS, m_vtp,
		       m_bv);
	} else {
		printf("ORU^R01 (%zu bytes, %u OBX): median %.1f ns/message (target 150), byte "
		       "scan %.1f ns, ratio %.2f\n",
		       oru_len, ORU_OBX, m_hl7, m_bh, m_hl7 / m_bh);
		printf("VTP (%d bytes, %u observations): median %.1f ns/frame (target 40), byte "
		       "scan %.1f ns, ratio %.2f\n",
		       vtp_len, VTP_OBS, m_vtp, m_bv, m_vtp / m_bv);
		printf("checks: every decode gave %u observations of the expected codes\n",
		       ORU_OBX);
	}
out:
	free(d);
	free(stats);
	return rc;
}
