/*
 * vigil-gen.c - the ward simulator: bedside monitors sending vital signs
 * over HL7 v2/MLLP (IHE PCD-01, alarms as PCD-04) or VTP, with scripted
 * clinical and technical events and a ground-truth file to score against.
 *
 *   vigil-gen [--beds N] [--duration S] [--seed N] [--proto hl7|vtp|mixed]
 *             [--events FILE] [--scenario demo|none] [--truth FILE]
 *             (--pcap FILE [--realtime] [--compress] | --udp HOST[:PORT]) ...
 *
 * vigild's tests, vigil-bench's load runs and tools/demo need telemetry that
 * looks like a ward: many devices, each with its own identity, values that
 * move the way patients' values move, and now and then something clinically
 * interesting whose time is known exactly. This program makes it, the same
 * bytes for the same --seed.
 *
 * The ward (every number below is a default that an option changes):
 *
 * - Bed n (1-based) has a monitor with EUI-64 025647FFFE<n as 6 hex digits>
 *   (from the locally administered MAC 02:56:47:<n>), IPv4 address
 *   10.(20 + q/256).(q%256).(r+1) with q, r = (n-1)/254, (n-1)%254 (so host
 *   parts .0 and .255 are never used and 100,000 beds fit), UDP source port
 *   49152 + n%16384, location <ward>^<room>^<bed> (32 beds a ward, the first
 *   ward "ICU", then "W02", "W03", ...; two beds a room) and patient
 *   PAT<n as 7 digits>.
 * - Every second each monitor sends HR (ECG), SpO2, pulse rate (oximeter),
 *   respiratory rate and temperature; every fourth bed (--ventilated) is
 *   ventilated and also sends EtCO2 and the CO2 respiratory rate. Each bed
 *   sends at its own fixed offset within the second (the phase, drawn from
 *   the seed), so the ward's datagrams are spread over the second.
 * - NIBP (systolic, diastolic, mean) is measured every --nibp-interval
 *   seconds (300), at an offset drawn per bed so the ward does not cycle all
 *   its cuffs at once. Over HL7 a measurement is a message of its own, an
 *   ORU^R01 whose OBX-14 is the measurement time, as monitors send episodic
 *   results; over VTP its three values ride in that second's frame.
 * - Values are mean-reverting random walks (discrete Ornstein-Uhlenbeck:
 *   x' = mean + a(x - mean) + noise) around a baseline drawn per patient
 *   from plausible adult ranges, rounded as monitors show them (integers;
 *   temperature to 0.1). Scripted events move the mean towards a target over
 *   an onset, hold it, and move it back over a recovery.
 * - Metric codes, reference ids and units come from the code table
 *   (rules/rules.h, built from rules/metrics.tsv); a name missing from it is
 *   a fatal error. The other codes (the MDS, alarm events and attributes)
 *   are in gen_code_defaults[] with their source, and checked against the
 *   table's rule_code_refid() where it knows the number.
 *
 * Protocols (--proto): hl7, vtp, or mixed, where even-numbered beds speak VTP
 * and odd-numbered ones HL7. HL7 goes MLLP-framed, one message per datagram,
 * to --hl7-port (2575); VTP frames (dp_vtp_encode, dataplane/VTP.md) to
 * --vtp-port (4575). Device alarms always go as ORU^R40 over HL7, VTP beds'
 * included: VTP carries observations only.
 *
 * Time. The simulation starts at --start (default 2024-03-01T08:00:00Z for a
 * capture, so that a seed always gives the same bytes; the wall clock for
 * --udp) and runs --duration seconds. Every datagram carries its simulated
 * send time: MSH-7/OBR-7 (with a +0000 offset), the VTP time, and the pcap
 * record. Writing a capture never waits: a minute of ward takes as long as
 * it takes to format. --realtime paces the writing to the simulated clock
 * (divided by --speed), as --udp always does. --compress instead packs the
 * pcap record times one microsecond apart (order kept; the payloads still
 * say the simulated times), for replay tools that honour capture timing.
 *
 * Scripted events (--events FILE, --scenario demo): one per line,
 *
 *   T bed=N KIND [duration=S] [target=X] [onset=S] [recovery=S]
 *                [alarm=yes|no] [priority=PH|PM|PL] [count=N] [mode=inv|missing]
 *
 * T is seconds from the start (decimals allowed); the event applies to the
 * bed's first send at or after T and ends at T + duration (default 60 s);
 * '#' starts a comment. What each kind does (target: the level reached over
 * the onset, drawn from the range shown unless target= gives it; after the
 * end the value comes back over the recovery):
 *
 *   desat        SpO2 to 80-84 over 20 s (HR +10), back over 30 s
 *   tachycardia  HR to 135-160 over 15 s, back over 30 s
 *   bradycardia  HR to 35-42 over 10 s, back over 20 s
 *   hypotension  NIBP systolic to 70-82 (diastolic in proportion, HR +12)
 *                over 20 s, back over 60 s; the cuff measures once the
 *                pressure has fallen and every minute while it lasts
 *   fever        temperature to 39.2-39.8 over 30 s, back over 120 s
 *   apnoea       RR and CO2 RR 0 at once, EtCO2 down to 2 mmHg over 15 s
 *   asystole     HR and pulse rate 0 (no pulse, so the oximeter's too)
 *   vf           HR chaotic (180-300), pulse rate 0
 *   sensor_off   SpO2 and pulse rate sent empty with OBX-8 INV and OBX-11 X
 *                (VTP: NaN with flag INV); mode=missing leaves them out
 *   lead_off     the same for HR
 *   silent       the monitor sends nothing, device alarms included
 *   seqgap       a VTP bed skips count=N sequence numbers (default 5)
 *
 * Device alarms (ORU^R40, one message per transition: start/active, then
 * end/inactive). asystole (MDC_EVT_ECG_ASYSTOLE, PH), vf
 * (MDC_EVT_ECG_V_FIB_TACHY, PH), sensor_off (MDC_EVT_SENSOR_DISCONN, PM,
 * technical) and lead_off (MDC_EVT_LEAD_DISCONN, PM, technical) raise one
 * for the event's span unless alarm=no; apnoea (MDC_EVT_APNEA, PH) does with
 * alarm=yes. With alarm=yes the others raise a limit alarm, MDC_EVT_LO or
 * MDC_EVT_HI, while the value the monitor sends is past its limit: SpO2 < 90,
 * HR > 120 or < 50, the last NIBP systolic < 90, temperature > 38.5 (each
 * ends a little inside the limit, so it does not flap). priority= overrides.
 *
 * Ground truth (--truth FILE): JSON lines in time order, one for each
 * scripted event's start and end ("kind":"scripted"; a sequence gap has one,
 * "phase":"tpoint") and one for each device alarm message sent
 * ("kind":"device_alarm"), e.g.
 *
 *   {"time":"2024-03-01T08:02:00.000000Z","t":120.000000,"bed":3,
 *    "device":"025647FFFE000003","patient":"PAT0000003","location":"ICU^2^1",
 *    "proto":"hl7","kind":"scripted","event":"desat","phase":"start",
 *    "duration":60.000000,"target":82.0,"alarm":false}
 *
 * A scripted line's time is the instant the script names (the bed's next
 * send is the first to show it); a device alarm line's is its message's.
 * An event still running when --duration ends has no end line (a warning
 * says so). On exit a summary line on stderr gives the exact counts written:
 * datagrams, hl7 (ORU^R01 + ORU^R40), vtp, oru_r01, oru_r40, hl7_obx (OBX
 * segments of the ORU^R01s, the MDS rows included), hl7_metric_obx (the
 * metric rows: what vigil counts as observations), r40_obx, vtp_obs,
 * device_alarms, scripted (truth lines of scripted events), payload_bytes,
 * frames_bytes (Ethernet frames in the capture) and pcap_bytes (the file).
 *
 * Exit status: 0 done, 1 an I/O or table failure, 2 a bad option or events
 * file (with a message naming it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dataplane.h"
#include "frames.h"
#include "rules.h"

#define GEN_EXIT_FAIL 1
#define GEN_EXIT_USAGE 2

#define GEN_MAX_BEDS 1000000u
#define GEN_MAX_DURATION_S (7u * 24 * 3600)
#define GEN_BEDS_PER_WARD 32u
#define GEN_DEFAULT_START_S INT64_C(1709280000) /* 2024-03-01T08:00:00Z */
#define GEN_US INT64_C(1000000)

/* One UDP datagram in one untagged Ethernet frame, no IP fragments: vigild
 * does not reassemble, and a frame past the 2048-byte mbuf arrives chained. */
#define GEN_MAX_PAYLOAD 1472u
#define GEN_FRAME_ROOM 1600u

#define GEN_EUI_PREFIX 0x025647fffe000000ull
#define GEN_MAC_OUI0 0x02
#define GEN_MAC_OUI1 0x56
#define GEN_MAC_OUI2 0x47

/* ------------------------------------------------------------------------ */
/* Codes                                                                     */
/* ------------------------------------------------------------------------ */

/*
 * The vital signs a monitor sends, by the code table's symbolic name (or,
 * for the CO2 respiratory rate, whose symbolic name the table chooses, its
 * reference id). The containment slot is the metric's place in OBX-4
 * (1.0.1.<slot>); it stays the same for a metric in every message, so the
 * ordinals are unique within a message as PCD-01 asks.
 */
enum gen_metric_id {
	GM_HR,
	GM_SPO2,
	GM_PULSE,
	GM_RR,
	GM_TEMP,
	GM_NIBP_SYS,
	GM_NIBP_DIA,
	GM_NIBP_MEAN,
	GM_ETCO2,
	GM_CO2_RR,
	GM__COUNT
};

static const struct {
	const char *name;  /* rule_metric_by_name */
	const char *refid; /* rule_metric_by_refid, when name is NULL */
} gen_metric_keys[GM__COUNT] = {
	[GM_HR] = {"HR", NULL},
	[GM_SPO2] = {"SPO2", NULL},
	[GM_PULSE] = {"PULSE", NULL},
	[GM_RR] = {"RR", NULL},
	[GM_TEMP] = {"TEMP", NULL},
	[GM_NIBP_SYS] = {"NIBP_SYS", NULL},
	[GM_NIBP_DIA] = {"NIBP_DIA", NULL},
	[GM_NIBP_MEAN] = {"NIBP_MEAN", NULL},
	[GM_ETCO2] = {"ETCO2", NULL},
	[GM_CO2_RR] = {NULL, "MDC_CO2_RESP_RATE"},
};

/* A resolved metric: its table row and the OBX-3/OBX-6 texts made once. */
struct gen_metric {
	const struct rule_metric *m;
	const struct rule_unit *u;
	char obx3[96]; /* 150456^MDC_PULS_OXIM_SAT_O2^MDC */
	char obx6[96]; /* 262688^MDC_DIM_PERCENT^MDC */
	char slot[8];  /* "2": OBX-4 is 1.0.1.<slot> */
};

/*
 * Codes outside the metric table: the device (MDS) row, the event codes of
 * device alarms and the PCD-04 facet attributes. The code table has no
 * lookup from a reference id to these, so the numbers are here; where the
 * table knows a number, codes_resolve() checks that it gives the same
 * reference id and refuses to start if not. Each line names its source;
 * "DOMAIN" is ../shared/design/DOMAIN.md. Those marked UNVERIFIED are not
 * in DOMAIN.md: they come from the public tables named and are to be
 * checked against IEEE 11073-10101 before anyone relies on them (vigil's
 * rules can match the reference id text instead).
 */
enum gen_code_id {
	GC_MDS,
	GC_EVT_ALARM,
	GC_EVT_HI,
	GC_EVT_LO,
	GC_EVT_SENSOR_DISCONN,
	GC_EVT_LEAD_DISCONN,
	GC_EVT_ECG_ASYSTOLE,
	GC_EVT_ECG_V_FIB_TACHY,
	GC_EVT_APNEA,
	GC_ATTR_ALERT_SOURCE,
	GC_ATTR_EVENT_PHASE,
	GC_ATTR_ALARM_STATE,
	GC_ATTR_ALARM_INACTIVATION_STATE,
	GC_ATTR_ALARM_PRIORITY,
	GC_ATTR_ALERT_TYPE,
	GC__COUNT
};

static const struct {
	const char *refid;
	uint32_t code;
} gen_code_defaults[GC__COUNT] = {
	/* DOMAIN section 4 (device codes). */
	[GC_MDS] = {"MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS", 69965},
	/* DOMAIN sections 3 and 4 (event codes). */
	[GC_EVT_ALARM] = {"MDC_EVT_ALARM", 196616},
	[GC_EVT_HI] = {"MDC_EVT_HI", 196648},
	[GC_EVT_LO] = {"MDC_EVT_LO", 196670},
	[GC_EVT_SENSOR_DISCONN] = {"MDC_EVT_SENSOR_DISCONN", 196916},
	/* UNVERIFIED: 3::268, DICOM PS3.16 CID 3039 "Device-related and
	 * Environment-related Event" (bvdh/dicom-terminology-in-fhir). */
	[GC_EVT_LEAD_DISCONN] = {"MDC_EVT_LEAD_DISCONN", 196876},
	/* UNVERIFIED: 3::3076; DICOM PS3.16 CID 3038 "Pattern Event" and
	 * Philips IntelliVue's NOM_EVT_ECG_ASYSTOLE agree on it. */
	[GC_EVT_ECG_ASYSTOLE] = {"MDC_EVT_ECG_ASYSTOLE", 199684},
	/* UNVERIFIED and vendor-private: 3::61444 (0xF004) is IntelliVue's
	 * NOM_EVT_ECG_V_FIB_TACHY; no public 10101 table for VF was found. */
	[GC_EVT_ECG_V_FIB_TACHY] = {"MDC_EVT_ECG_V_FIB_TACHY", 258052},
	/* UNVERIFIED: 3::3072, DICOM CID 3038 and IntelliVue NOM_EVT_APNEA. */
	[GC_EVT_APNEA] = {"MDC_EVT_APNEA", 199680},
	/* DOMAIN section 3 (PCD-04 facets). */
	[GC_ATTR_ALERT_SOURCE] = {"MDC_ATTR_ALERT_SOURCE", 68480},
	[GC_ATTR_EVENT_PHASE] = {"MDC_ATTR_EVENT_PHASE", 68481},
	[GC_ATTR_ALARM_STATE] = {"MDC_ATTR_ALARM_STATE", 68482},
	[GC_ATTR_ALARM_INACTIVATION_STATE] = {"MDC_ATTR_ALARM_INACTIVATION_STATE", 68483},
	[GC_ATTR_ALARM_PRIORITY] = {"MDC_ATTR_ALARM_PRIORITY", 68484},
	[GC_ATTR_ALERT_TYPE] = {"MDC_ATTR_ALERT_TYPE", 68485},
};

/* "69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC", resolved at start-up. */
static char gen_code_text[GC__COUNT][96];
static uint32_t gen_code[GC__COUNT];
static struct gen_metric gen_metrics[GM__COUNT];

/* ------------------------------------------------------------------------ */
/* Deterministic randomness                                                  */
/* ------------------------------------------------------------------------ */

/* splitmix64: turns (seed, stream) into an unrelated, non-zero state. */
static uint64_t
rng_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x != 0 ? x : 0x2545f4914f6cdd1dull;
}

/* xorshift64*: small state (one word a bed), good enough for vital signs. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, 1). */
static double
rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double
rng_range(uint64_t *s, double lo, double hi)
{
	return lo + (hi - lo) * rng_unit(s);
}

/* Roughly standard normal: Irwin-Hall with four uniforms (variance 1/3,
 * scaled). Bounded at +-3.46, which suits bounded physiology, and needs no
 * libm, so the values are the same wherever the program is built. */
static double
rng_normal(uint64_t *s)
{
	double sum = rng_unit(s) + rng_unit(s) + rng_unit(s) + rng_unit(s);

	return (sum - 2.0) * 1.7320508075688772;
}

static double
clampd(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Square root by Newton's method, for the few constants made at start-up. */
static double
gen_sqrt(double x)
{
	double r = x > 1.0 ? x : 1.0;

	if (x <= 0.0) {
		return 0.0;
	}
	for (int i = 0; i < 60; i++) {
		r = 0.5 * (r + x / r);
	}
	return r;
}

/* Round half up, for the non-negative values monitors display. */
static long
round_pos(double v)
{
	return v <= 0.0 ? 0 : (long)(v + 0.5);
}

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

enum gen_proto { GEN_PROTO_HL7, GEN_PROTO_VTP, GEN_PROTO_MIXED };

struct gen_opts {
	unsigned beds;
	unsigned duration_s;
	uint64_t seed;
	enum gen_proto proto;
	unsigned nibp_interval_s;
	unsigned ventilated_every; /* 0: nobody */
	const char *events_path;
	bool scenario_demo;
	const char *truth_path;
	const char *pcap_path;
	const char *udp_target;
	bool realtime;
	bool compress;
	double speed;
	uint32_t dst_ip; /* host order */
	uint8_t dst_mac[6];
	uint16_t hl7_port;
	uint16_t vtp_port;
	bool start_given;
	int64_t start_us;
	bool quiet;
};

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: vigil-gen [options] (--pcap FILE | --udp HOST[:PORT])\n"
		"  -b, --beds N           monitors on the ward (default 24, at most %u)\n"
		"  -d, --duration S       simulated seconds (default 60)\n"
		"  -s, --seed N           the same seed gives the same bytes (default 1)\n"
		"  -p, --proto P          hl7, vtp, or mixed: even beds VTP (default hl7)\n"
		"      --nibp-interval S  seconds between NIBP measurements (default 300)\n"
		"      --ventilated N     every N-th bed sends EtCO2 (default 4; 0: none)\n"
		"  -e, --events FILE      scripted events: T bed=N KIND [key=value ...]\n"
		"      --scenario NAME    demo (built-in events) or none (default)\n"
		"  -t, --truth FILE       ground truth, JSON lines\n"
		"  -w, --pcap FILE        write a capture (Ethernet/IPv4/UDP)\n"
		"      --realtime         pace the capture's writing to the simulated clock\n"
		"      --compress         capture record times 1 us apart, not simulated\n"
		"  -u, --udp HOST[:PORT]  send live (without PORT: to the HL7/VTP ports)\n"
		"      --speed X          live and --realtime: simulated seconds a second (1)\n"
		"      --dst A.B.C.D      the appliance's IPv4 address (default 192.0.2.1)\n"
		"      --dst-mac MAC      the appliance's MAC (default ff:ff:ff:ff:ff:ff)\n"
		"      --hl7-port N       HL7/MLLP port (default 2575)\n"
		"      --vtp-port N       VTP port (default 4575)\n"
		"      --start TIME       Unix seconds or YYYY-MM-DDTHH:MM:SSZ\n"
		"                         (default 2024-03-01T08:00:00Z; live: now)\n"
		"  -q, --quiet            no summary line on stderr\n"
		"  -h, --help             this text\n"
		"event kinds: desat tachycardia bradycardia hypotension fever apnoea\n"
		"             asystole vf sensor_off lead_off silent seqgap\n"
		"event keys:  duration target onset recovery alarm priority count mode\n",
		GEN_MAX_BEDS);
}

static int
parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+') {
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi) {
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int
parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0') {
		return -EINVAL;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v >= lo && v <= hi)) {
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int
parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char extra;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) !=
	    6) {
		return -EINVAL;
	}
	for (int i = 0; i < 6; i++) {
		if (v[i] > 0xff) {
			return -EINVAL;
		}
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
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

static void
civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

/* --start: Unix seconds, or YYYY-MM-DDTHH:MM:SSZ (UTC only: say so). */
static int
parse_start(const char *s, int64_t *us)
{
	unsigned yy, mo, dd, hh, mi, ss;
	uint64_t secs;
	char z, extra;

	if (parse_u64(s, 0, 253402300799ull, &secs) == 0) {
		*us = (int64_t)secs * GEN_US;
		return 0;
	}
	if (sscanf(s, "%4u-%2u-%2uT%2u:%2u:%2u%c%c", &yy, &mo, &dd, &hh, &mi, &ss, &z, &extra) !=
		    7 ||
	    z != 'Z' || yy < 1970 || mo < 1 || mo > 12 || dd < 1 || dd > 31 || hh > 23 || mi > 59 ||
	    ss > 59) {
		return -EINVAL;
	}
	*us = ((days_from_civil(yy, mo, dd) * 86400) + hh * 3600 + mi * 60 + ss) * GEN_US;
	return 0;
}

enum {
	OPT_NIBP = 256,
	OPT_VENT,
	OPT_SCENARIO,
	OPT_REALTIME,
	OPT_COMPRESS,
	OPT_SPEED,
	OPT_DST,
	OPT_DST_MAC,
	OPT_HL7_PORT,
	OPT_VTP_PORT,
	OPT_START,
};

#define USAGE_ERR(...)                                      \
	do {                                                \
		fprintf(stderr, "vigil-gen: " __VA_ARGS__); \
		fputc('\n', stderr);                        \
		return -EINVAL;                             \
	} while (0)

static int
parse_opts(int argc, char **argv, struct gen_opts *o)
{
	static const struct option longopts[] = {
		{"beds", required_argument, NULL, 'b'},
		{"duration", required_argument, NULL, 'd'},
		{"seed", required_argument, NULL, 's'},
		{"proto", required_argument, NULL, 'p'},
		{"nibp-interval", required_argument, NULL, OPT_NIBP},
		{"ventilated", required_argument, NULL, OPT_VENT},
		{"events", required_argument, NULL, 'e'},
		{"scenario", required_argument, NULL, OPT_SCENARIO},
		{"truth", required_argument, NULL, 't'},
		{"pcap", required_argument, NULL, 'w'},
		{"realtime", no_argument, NULL, OPT_REALTIME},
		{"compress", no_argument, NULL, OPT_COMPRESS},
		{"udp", required_argument, NULL, 'u'},
		{"speed", required_argument, NULL, OPT_SPEED},
		{"dst", required_argument, NULL, OPT_DST},
		{"dst-mac", required_argument, NULL, OPT_DST_MAC},
		{"hl7-port", required_argument, NULL, OPT_HL7_PORT},
		{"vtp-port", required_argument, NULL, OPT_VTP_PORT},
		{"start", required_argument, NULL, OPT_START},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct in_addr a;
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->beds = 24;
	o->duration_s = 60;
	o->seed = 1;
	o->proto = GEN_PROTO_HL7;
	o->nibp_interval_s = 300;
	o->ventilated_every = 4;
	o->speed = 1.0;
	o->dst_ip = 0xc0000201u;
	memset(o->dst_mac, 0xff, 6);
	o->hl7_port = 2575;
	o->vtp_port = 4575;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":b:d:s:p:e:t:w:u:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (parse_u64(optarg, 1, GEN_MAX_BEDS, &v) != 0)
				USAGE_ERR("--beds '%s': a number from 1 to %u", optarg,
					  GEN_MAX_BEDS);
			o->beds = (unsigned)v;
			break;
		case 'd':
			if (parse_u64(optarg, 1, GEN_MAX_DURATION_S, &v) != 0)
				USAGE_ERR("--duration '%s': whole seconds from 1 to %u", optarg,
					  GEN_MAX_DURATION_S);
			o->duration_s = (unsigned)v;
			break;
		case 's':
			if (parse_u64(optarg, 0, UINT64_MAX, &v) != 0)
				USAGE_ERR("--seed '%s': a non-negative integer", optarg);
			o->seed = v;
			break;
		case 'p':
			if (strcmp(optarg, "hl7") == 0)
				o->proto = GEN_PROTO_HL7;
			else if (strcmp(optarg, "vtp") == 0)
				o->proto = GEN_PROTO_VTP;
			else if (strcmp(optarg, "mixed") == 0)
				o->proto = GEN_PROTO_MIXED;
			else
				USAGE_ERR("--proto '%s': hl7, vtp or mixed", optarg);
			break;
		case OPT_NIBP:
			if (parse_u64(optarg, 10, 86400, &v) != 0)
				USAGE_ERR("--nibp-interval '%s': seconds from 10 to 86400", optarg);
			o->nibp_interval_s = (unsigned)v;
			break;
		case OPT_VENT:
			if (parse_u64(optarg, 0, GEN_MAX_BEDS, &v) != 0)
				USAGE_ERR("--ventilated '%s': N for every N-th bed, 0 for none",
					  optarg);
			o->ventilated_every = (unsigned)v;
			break;
		case 'e':
			o->events_path = optarg;
			break;
		case OPT_SCENARIO:
			if (strcmp(optarg, "demo") == 0)
				o->scenario_demo = true;
			else if (strcmp(optarg, "none") == 0)
				o->scenario_demo = false;
			else
				USAGE_ERR("--scenario '%s': demo or none", optarg);
			break;
		case 't':
			o->truth_path = optarg;
			break;
		case 'w':
			o->pcap_path = optarg;
			break;
		case OPT_REALTIME:
			o->realtime = true;
			break;
		case OPT_COMPRESS:
			o->compress = true;
			break;
		case 'u':
			o->udp_target = optarg;
			break;
		case OPT_SPEED:
			if (parse_double(optarg, 0.001, 1e6, &o->speed) != 0)
				USAGE_ERR("--speed '%s': a factor from 0.001 to 1000000", optarg);
			break;
		case OPT_DST:
			if (inet_pton(AF_INET, optarg, &a) != 1)
				USAGE_ERR("--dst '%s': an IPv4 address", optarg);
			o->dst_ip = ntohl(a.s_addr);
			break;
		case OPT_DST_MAC:
			if (parse_mac(optarg, o->dst_mac) != 0)
				USAGE_ERR("--dst-mac '%s': six hex bytes, aa:bb:cc:dd:ee:ff",
					  optarg);
			break;
		case OPT_HL7_PORT:
		case OPT_VTP_PORT:
			if (parse_u64(optarg, 1, 65535, &v) != 0)
				USAGE_ERR("--%s-port '%s': a port from 1 to 65535",
					  c == OPT_HL7_PORT ? "hl7" : "vtp", optarg);
			if (c == OPT_HL7_PORT)
				o->hl7_port = (uint16_t)v;
			else
				o->vtp_port = (uint16_t)v;
			break;
		case OPT_START:
			if (parse_start(optarg, &o->start_us) != 0)
				USAGE_ERR("--start '%s': Unix seconds or YYYY-MM-DDTHH:MM:SSZ",
					  optarg);
			o->start_given = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			USAGE_ERR("%s needs a value (see --help)", argv[optind - 1]);
		default:
			USAGE_ERR("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		USAGE_ERR("unexpected argument '%s' (see --help)", argv[optind]);
	if (o->pcap_path == NULL && o->udp_target == NULL)
		USAGE_ERR("nothing to write: give --pcap FILE or --udp HOST[:PORT]");
	if (o->realtime && o->compress)
		USAGE_ERR("--realtime and --compress contradict each other");
	if (o->hl7_port == o->vtp_port)
		USAGE_ERR("--hl7-port and --vtp-port must differ");
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Beds and physiology                                                       */
/* ------------------------------------------------------------------------ */

/*
 * A random walk's constants: each second the deviation from the mean keeps
 * the fraction a (so it forgets in about 1/(1-a) seconds) and gains noise
 * of the size that keeps its spread at sd: sigma = sd * sqrt(1 - a^2).
 */
struct gen_walk {
	double a;
	double sd;
	double sigma;
};

enum gen_walk_id { GW_HR, GW_SPO2, GW_RR, GW_TEMP, GW_ETCO2, GW__COUNT };

static struct gen_walk gen_walks[GW__COUNT] = {
	[GW_HR] = {0.90, 2.5, 0},     /* beat-to-beat variation around the rate */
	[GW_SPO2] = {0.92, 0.7, 0},   /* saturation wanders within a point or so */
	[GW_RR] = {0.95, 1.2, 0},     /* breathing varies slowly */
	[GW_TEMP] = {0.995, 0.06, 0}, /* temperature barely moves in minutes */
	[GW_ETCO2] = {0.95, 1.0, 0},
};

#define BED_HL7 0
#define BED_VTP 1

/* What a bed keeps: about 90 bytes, so 100,000 beds take under 10 MB. */
struct gen_bed {
	uint64_t rng;	     /* this bed's own stream: a bed's values do not
				depend on how many beds there are */
	uint32_t phase_us;   /* offset of its sends within each second */
	uint32_t nibp_off_s; /* first NIBP measurement, then every interval */
	uint32_t msg_count;  /* MSH-10 */
	uint32_t vtp_seq;
	uint32_t alarm_count; /* alarm instances raised so far */
	int32_t first_event;  /* index into events, -1: none */
	uint8_t proto;
	uint8_t ventilated;
	float pulse_off; /* the oximeter's pulse rate differs from the ECG's */
	float base[GW__COUNT];
	float dev[GW__COUNT]; /* the walks: deviation from the current mean */
	float base_sys, base_dia;
	float last_sys; /* the latest NIBP systolic, for hypotension alarms */
};

static uint64_t
bed_eui(unsigned n)
{
	return GEN_EUI_PREFIX | (uint64_t)(n & 0xffffffu);
}

static uint32_t
bed_ipv4(unsigned n)
{
	unsigned q = (n - 1) / 254, r = (n - 1) % 254;

	return (10u << 24) | ((20u + q / 256) << 16) | ((q % 256) << 8) | (r + 1);
}

static void
bed_mac(unsigned n, uint8_t mac[6])
{
	mac[0] = GEN_MAC_OUI0;
	mac[1] = GEN_MAC_OUI1;
	mac[2] = GEN_MAC_OUI2;
	mac[3] = (uint8_t)(n >> 16);
	mac[4] = (uint8_t)(n >> 8);
	mac[5] = (uint8_t)n;
}

static uint16_t
bed_sport(unsigned n)
{
	return (uint16_t)(49152u + n % 16384u);
}

/*
 * The texts of a bed are made for every message, a million times a second
 * of load: plain digit writers, not snprintf. @v in decimal with at least
 * @width digits (zeros in front); returns the end. At most 10 digits.
 */
static char *
put_dec(char *p, uint32_t v, unsigned width)
{
	char tmp[10];
	unsigned i = 0;

	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (i < width && i < sizeof(tmp)) {
		tmp[i++] = '0';
	}
	while (i > 0) {
		*p++ = tmp[--i];
	}
	return p;
}

/* PID-3's id: PAT and seven digits (16 bytes of room). */
static void
bed_patient(unsigned n, char out[16])
{
	char *p = out;

	memcpy(p, "PAT", 3);
	p = put_dec(p + 3, n, 7);
	*p = '\0';
}

/* The ward's name: "ICU" for the first 32 beds, then W02, W03, ... */
static void
bed_ward(unsigned n, char out[16])
{
	unsigned ward = (n - 1) / GEN_BEDS_PER_WARD;
	char *p = out;

	if (ward == 0) {
		memcpy(p, "ICU", 3);
		p += 3;
	} else {
		*p++ = 'W';
		p = put_dec(p, ward + 1, 2);
	}
	*p = '\0';
}

/* PV1-3: <ward>^<room>^<bed>, two beds a room (32 bytes of room). */
static void
bed_location(unsigned n, char out[32])
{
	unsigned i = (n - 1) % GEN_BEDS_PER_WARD;
	char *p;

	bed_ward(n, out);
	p = out + strlen(out);
	*p++ = '^';
	p = put_dec(p, i / 2 + 1, 1);
	*p++ = '^';
	p = put_dec(p, i % 2 + 1, 1);
	*p = '\0';
}

static void
bed_eui_hex(unsigned n, char out[17])
{
	static const char hex[] = "0123456789ABCDEF";
	uint64_t eui = bed_eui(n);

	for (int i = 15; i >= 0; i--) {
		out[i] = hex[eui & 0xf];
		eui >>= 4;
	}
	out[16] = '\0';
}

/* A patient: baselines from plausible adult ranges, walks at rest. */
static void
bed_init(struct gen_bed *b, unsigned n, const struct gen_opts *o)
{
	uint64_t *r = &b->rng;
	double sys;

	memset(b, 0, sizeof(*b));
	b->rng = rng_mix(o->seed ^ rng_mix((uint64_t)n));
	b->first_event = -1;
	b->phase_us = (uint32_t)(rng_next(r) % (uint64_t)GEN_US);
	b->nibp_off_s = (uint32_t)(rng_next(r) % o->nibp_interval_s);
	b->vtp_seq = (uint32_t)(rng_next(r) % 1000000u);
	b->msg_count = 0;
	switch (o->proto) {
	case GEN_PROTO_HL7:
		b->proto = BED_HL7;
		break;
	case GEN_PROTO_VTP:
		b->proto = BED_VTP;
		break;
	case GEN_PROTO_MIXED:
		b->proto = n % 2 == 0 ? BED_VTP : BED_HL7;
		break;
	}
	b->ventilated = o->ventilated_every != 0 && n % o->ventilated_every == 0;
	b->base[GW_HR] = (float)clampd(78 + 12 * rng_normal(r), 55, 110);
	b->base[GW_SPO2] = (float)clampd(97 + 1.3 * rng_normal(r), 94, 99.5);
	b->base[GW_RR] = (float)clampd(16 + 2.5 * rng_normal(r), 11, 24);
	b->base[GW_TEMP] = (float)clampd(36.9 + 0.3 * rng_normal(r), 36.2, 37.8);
	b->base[GW_ETCO2] = (float)clampd(38 + 3 * rng_normal(r), 32, 46);
	sys = clampd(122 + 14 * rng_normal(r), 100, 165);
	b->base_sys = (float)sys;
	b->base_dia = (float)(sys * rng_range(r, 0.55, 0.68));
	b->last_sys = b->base_sys;
	b->pulse_off = (float)rng_range(r, -2.0, 2.0);
	for (int i = 0; i < GW__COUNT; i++) {
		b->dev[i] = (float)(gen_walks[i].sd * rng_normal(r));
	}
}

/* ------------------------------------------------------------------------ */
/* Scripted events                                                           */
/* ------------------------------------------------------------------------ */

enum gen_kind {
	GK_DESAT,
	GK_TACHY,
	GK_BRADY,
	GK_HYPOTENSION,
	GK_FEVER,
	GK_APNOEA,
	GK_ASYSTOLE,
	GK_VF,
	GK_SENSOR_OFF,
	GK_LEAD_OFF,
	GK_SILENT,
	GK_SEQGAP,
	GK__COUNT
};

/* How a device alarm of an event starts and ends. */
enum gen_alarm_rule {
	GA_NONE,
	GA_LIMIT, /* while the sent value is past the limit (a limit alarm) */
	GA_SPAN,  /* from the event's start to its end (arrhythmia, technical) */
};

/*
 * The kinds. target_lo/hi: the range a target is drawn from when the line
 * gives none; onset/recovery: seconds to reach the target and to come back;
 * alarm: whether a device alarm goes out by default, with which event code,
 * source metric, limits (OBX-7 of the source facet), priority and type.
 */
static const struct gen_kind_info {
	const char *name;
	const char *alias;
	double target_lo, target_hi;
	double onset_s, recovery_s;
	enum gen_alarm_rule rule;
	bool alarm_default;
	enum gen_code_id evt;
	enum gen_metric_id source;
	bool source_by_attr; /* technical: facet 2 is MDC_ATTR_ALERT_SOURCE */
	double limit;	     /* GA_LIMIT: the limit the value passes */
	bool limit_high;     /* GA_LIMIT: above (true) or below the limit */
	const char *limits;  /* OBX-7 text */
	const char *text;    /* facet 1's OBX-5 */
	const char *priority;
	const char *type;
} gen_kinds[GK__COUNT] = {
	[GK_DESAT] = {"desat", "desaturation", 80, 84, 20, 30, GA_LIMIT, false, GC_EVT_LO, GM_SPO2,
		      false, 90, false, "90-100", "SpO2 low", "PM", "SP"},
	[GK_TACHY] = {"tachycardia", "tachy", 135, 160, 15, 30, GA_LIMIT, false, GC_EVT_HI, GM_HR,
		      false, 120, true, "50-120", "HR high", "PM", "SP"},
	[GK_BRADY] = {"bradycardia", "brady", 35, 42, 10, 20, GA_LIMIT, false, GC_EVT_LO, GM_HR,
		      false, 50, false, "50-120", "HR low", "PM", "SP"},
	[GK_HYPOTENSION] = {"hypotension", "hypo", 70, 82, 20, 60, GA_LIMIT, false, GC_EVT_LO,
			    GM_NIBP_SYS, false, 90, false, "90-160", "NBP sys low", "PM", "SP"},
	[GK_FEVER] = {"fever", NULL, 39.2, 39.8, 30, 120, GA_LIMIT, false, GC_EVT_HI, GM_TEMP,
		      false, 38.5, true, "36.0-38.5", "Temp high", "PL", "SP"},
	[GK_APNOEA] = {"apnoea", "apnea", 0, 0, 0, 10, GA_SPAN, false, GC_EVT_APNEA, GM_RR, false,
		       0, false, "8-30", "Apnea", "PH", "SP"},
	[GK_ASYSTOLE] = {"asystole", NULL, 0, 0, 0, 3, GA_SPAN, true, GC_EVT_ECG_ASYSTOLE, GM_HR,
			 false, 0, false, "50-120", "Asystole", "PH", "SP"},
	[GK_VF] = {"vf", "vfib", 0, 0, 0, 3, GA_SPAN, true, GC_EVT_ECG_V_FIB_TACHY, GM_HR, false, 0,
		   false, "50-120", "VFib/VTach", "PH", "SP"},
	[GK_SENSOR_OFF] = {"sensor_off", NULL, 0, 0, 0, 0, GA_SPAN, true, GC_EVT_SENSOR_DISCONN,
			   GM_SPO2, true, 0, false, NULL, "SpO2 sensor off", "PM", "ST"},
	[GK_LEAD_OFF] = {"lead_off", "leads_off", 0, 0, 0, 0, GA_SPAN, true, GC_EVT_LEAD_DISCONN,
			 GM_HR, true, 0, false, NULL, "ECG leads off", "PM", "ST"},
	[GK_SILENT] = {"silent", NULL, 0, 0, 0, 0, GA_NONE, false, GC__COUNT, GM__COUNT, false, 0,
		       false, NULL, NULL, NULL, NULL},
	[GK_SEQGAP] = {"seqgap", "seq_gap", 0, 0, 0, 0, GA_NONE, false, GC__COUNT, GM__COUNT, false,
		       0, false, NULL, NULL, NULL, NULL},
};

struct gen_event {
	int64_t start_us; /* from the simulation's start */
	int64_t end_us;
	unsigned bed; /* 1-based */
	enum gen_kind kind;
	double target;
	double onset_s;
	double recovery_s;
	unsigned count;	      /* seqgap: sequence numbers skipped */
	bool alarm;	      /* send device alarms */
	bool missing;	      /* sensor_off/lead_off: omit the value rather than INV */
	const char *priority; /* PH, PM, PL */
	bool applied;	      /* seqgap done */
	bool alarm_on;	      /* a device alarm is active */
	uint32_t alarm_instance;
	uint32_t alarm_updates;
	int32_t next; /* the bed's next event */
	unsigned line;
};

struct gen_events {
	struct gen_event *v;
	unsigned n;
	unsigned cap;
};

static int
events_push(struct gen_events *ev, const struct gen_event *e)
{
	if (ev->n == ev->cap) {
		unsigned cap = ev->cap ? ev->cap * 2 : 64;
		struct gen_event *v = realloc(ev->v, cap * sizeof(*v));

		if (v == NULL) {
			return -ENOMEM;
		}
		ev->v = v;
		ev->cap = cap;
	}
	ev->v[ev->n++] = *e;
	return 0;
}

static int
kind_by_name(const char *s, enum gen_kind *k)
{
	for (int i = 0; i < GK__COUNT; i++) {
		if (strcmp(s, gen_kinds[i].name) == 0 ||
		    (gen_kinds[i].alias != NULL && strcmp(s, gen_kinds[i].alias) == 0)) {
			*k = (enum gen_kind)i;
			return 0;
		}
	}
	return -ENOENT;
}

/* A new event of @kind with the kind's defaults; the target drawn from @r. */
static void
event_defaults(struct gen_event *e, enum gen_kind kind, uint64_t *r)
{
	const struct gen_kind_info *k = &gen_kinds[kind];

	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->end_us = 60 * GEN_US;
	/* At display resolution, so that the truth file's target is a value
	 * the monitor can show: 0.1 for temperature, whole numbers otherwise. */
	e->target = k->target_lo + (k->target_hi - k->target_lo) * rng_unit(r);
	e->target = kind == GK_FEVER ? (double)round_pos(e->target * 10) / 10
				     : (double)round_pos(e->target);
	e->onset_s = k->onset_s;
	e->recovery_s = k->recovery_s;
	e->alarm = k->alarm_default;
	e->priority = k->priority;
	e->count = 5;
	e->next = -1;
}

/*
 * Checks an event once its line is read: the bed exists, the protocol can
 * carry it, its times are sane. @where names the line for messages.
 */
static int
event_check(const struct gen_event *e, const struct gen_opts *o, const char *where)
{
	if (e->bed == 0 || e->bed > o->beds) {
		fprintf(stderr, "vigil-gen: %s: bed=%u: the ward has beds 1 to %u (--beds)\n",
			where, e->bed, o->beds);
		return -EINVAL;
	}
	if (e->kind == GK_SEQGAP &&
	    !(o->proto == GEN_PROTO_VTP || (o->proto == GEN_PROTO_MIXED && e->bed % 2 == 0))) {
		fprintf(stderr,
			"vigil-gen: %s: seqgap needs a VTP bed (--proto vtp, or an even bed "
			"with --proto mixed); bed %u speaks HL7\n",
			where, e->bed);
		return -EINVAL;
	}
	if (e->end_us <= e->start_us && e->kind != GK_SEQGAP) {
		fprintf(stderr, "vigil-gen: %s: duration must be positive\n", where);
		return -EINVAL;
	}
	return 0;
}

/* "key=value" of an events line into @e; -EINVAL with a message if bad. */
static int
event_key(struct gen_event *e, const char *key, const char *val, int64_t start_us,
	  const char *where)
{
	double d;
	uint64_t u;

	if (strcmp(key, "bed") == 0) {
		if (parse_u64(val, 1, GEN_MAX_BEDS, &u) != 0)
			goto bad;
		e->bed = (unsigned)u;
	} else if (strcmp(key, "duration") == 0) {
		if (parse_double(val, 0.001, GEN_MAX_DURATION_S, &d) != 0)
			goto bad;
		e->end_us = start_us + (int64_t)(d * GEN_US + 0.5);
	} else if (strcmp(key, "target") == 0 || strcmp(key, "value") == 0) {
		if (gen_kinds[e->kind].target_hi <= 0) {
			fprintf(stderr, "vigil-gen: %s: %s has no target\n", where,
				gen_kinds[e->kind].name);
			return -EINVAL;
		}
		if (parse_double(val, 0, 300, &d) != 0)
			goto bad;
		e->target = d;
	} else if (strcmp(key, "onset") == 0) {
		if (parse_double(val, 0, 86400, &e->onset_s) != 0)
			goto bad;
	} else if (strcmp(key, "recovery") == 0) {
		if (parse_double(val, 0, 86400, &e->recovery_s) != 0)
			goto bad;
	} else if (strcmp(key, "alarm") == 0) {
		if (strcmp(val, "yes") == 0 || strcmp(val, "1") == 0)
			e->alarm = true;
		else if (strcmp(val, "no") == 0 || strcmp(val, "0") == 0)
			e->alarm = false;
		else
			goto bad;
		if (e->alarm && gen_kinds[e->kind].rule == GA_NONE) {
			fprintf(stderr, "vigil-gen: %s: %s has no device alarm\n", where,
				gen_kinds[e->kind].name);
			return -EINVAL;
		}
	} else if (strcmp(key, "priority") == 0) {
		if (strcmp(val, "PH") == 0)
			e->priority = "PH";
		else if (strcmp(val, "PM") == 0)
			e->priority = "PM";
		else if (strcmp(val, "PL") == 0)
			e->priority = "PL";
		else
			goto bad;
	} else if (strcmp(key, "count") == 0 && e->kind == GK_SEQGAP) {
		if (parse_u64(val, 1, 1000000, &u) != 0)
			goto bad;
		e->count = (unsigned)u;
	} else if (strcmp(key, "mode") == 0 &&
		   (e->kind == GK_SENSOR_OFF || e->kind == GK_LEAD_OFF)) {
		if (strcmp(val, "inv") == 0)
			e->missing = false;
		else if (strcmp(val, "missing") == 0)
			e->missing = true;
		else
			goto bad;
	} else {
		fprintf(stderr, "vigil-gen: %s: '%s' is not a key of %s\n", where, key,
			gen_kinds[e->kind].name);
		return -EINVAL;
	}
	return 0;
bad:
	fprintf(stderr, "vigil-gen: %s: bad value '%s' for %s\n", where, val, key);
	return -EINVAL;
}

/*
 * One line of an events file: "T bed=N KIND key=value...". The kind may
 * come anywhere after T; keys are applied after it so that their meaning
 * can depend on it.
 */
static int
event_parse_line(char *line, const char *where, uint64_t *r, struct gen_event *e)
{
	char *tok[32], *save = NULL, *t;
	unsigned n = 0;
	int kind_at = -1;
	enum gen_kind kind = GK_DESAT;
	double start_s;
	int64_t start_us;
	int rc;

	for (t = strtok_r(line, " \t\r\n", &save); t != NULL;
	     t = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == sizeof(tok) / sizeof(tok[0])) {
			fprintf(stderr, "vigil-gen: %s: too many words\n", where);
			return -EINVAL;
		}
		tok[n++] = t;
	}
	if (n == 0) {
		fprintf(stderr, "vigil-gen: %s: empty line\n", where);
		return -EINVAL;
	}
	if (parse_double(tok[0], 0, GEN_MAX_DURATION_S, &start_s) != 0) {
		fprintf(stderr, "vigil-gen: %s: '%s' is not a time in seconds\n", where, tok[0]);
		return -EINVAL;
	}
	for (unsigned i = 1; i < n; i++) {
		if (strchr(tok[i], '=') != NULL) {
			continue;
		}
		if (kind_at >= 0) {
			fprintf(stderr, "vigil-gen: %s: two kinds ('%s' and '%s')\n", where,
				tok[kind_at], tok[i]);
			return -EINVAL;
		}
		if (kind_by_name(tok[i], &kind) != 0) {
			fprintf(stderr, "vigil-gen: %s: unknown event kind '%s' (see --help)\n",
				where, tok[i]);
			return -EINVAL;
		}
		kind_at = (int)i;
	}
	if (kind_at < 0) {
		fprintf(stderr, "vigil-gen: %s: no event kind\n", where);
		return -EINVAL;
	}
	start_us = (int64_t)(start_s * GEN_US + 0.5);
	event_defaults(e, kind, r);
	e->start_us = start_us;
	e->end_us = start_us + 60 * GEN_US;
	for (unsigned i = 1; i < n; i++) {
		char *eq = strchr(tok[i], '=');

		if (eq == NULL) {
			continue;
		}
		*eq = '\0';
		rc = event_key(e, tok[i], eq + 1, start_us, where);
		if (rc != 0) {
			return rc;
		}
	}
	if (e->bed == 0) {
		fprintf(stderr, "vigil-gen: %s: no bed=N\n", where);
		return -EINVAL;
	}
	if (kind == GK_SEQGAP) {
		e->end_us = e->start_us;
	}
	return 0;
}

static int
events_load(const char *path, const struct gen_opts *o, uint64_t *r, struct gen_events *ev)
{
	char *line = NULL, where[PATH_MAX + 32];
	size_t cap = 0;
	unsigned lineno = 0;
	ssize_t len;
	FILE *f;
	int rc = 0;

	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "vigil-gen: --events %s: %s\n", path, strerror(errno));
		return -EINVAL;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		struct gen_event e;
		char *hash = strchr(line, '#');
		char *p = line;

		lineno++;
		if (hash != NULL) {
			*hash = '\0';
		}
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
		}
		if (*p == '\0') {
			continue;
		}
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		rc = event_parse_line(p, where, r, &e);
		if (rc == 0) {
			rc = event_check(&e, o, where);
		}
		if (rc != 0) {
			goto out;
		}
		e.line = lineno;
		rc = events_push(ev, &e);
		if (rc != 0) {
			fprintf(stderr, "vigil-gen: --events %s: out of memory\n", path);
			rc = -ENOMEM;
			goto out;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "vigil-gen: --events %s: read error\n", path);
		rc = -EIO;
	}
out:
	free(line);
	fclose(f);
	return rc;
}

/*
 * --scenario demo: one of each kind on its own bed, placed as fractions of
 * --duration so that every event starts and ends inside the run. Beds wrap
 * round on a ward of fewer than 12 beds; the sequence gap goes to the
 * first VTP bed and is left out when no bed speaks VTP.
 */
static int
scenario_demo(const struct gen_opts *o, uint64_t *r, struct gen_events *ev)
{
	static const struct {
		enum gen_kind kind;
		unsigned bed;
		double at, len; /* fractions of the duration */
		int alarm;	/* -1: the kind's default */
	} demo[] = {
		{GK_DESAT, 1, 0.15, 0.40, 1},	    {GK_TACHY, 2, 0.10, 0.50, -1},
		{GK_ASYSTOLE, 3, 0.30, 0.15, -1},   {GK_SENSOR_OFF, 4, 0.20, 0.25, -1},
		{GK_HYPOTENSION, 5, 0.05, 0.80, 1}, {GK_FEVER, 6, 0.10, 0.70, -1},
		{GK_BRADY, 7, 0.40, 0.30, -1},	    {GK_APNOEA, 8, 0.50, 0.20, -1},
		{GK_VF, 9, 0.60, 0.10, -1},	    {GK_LEAD_OFF, 10, 0.35, 0.20, -1},
		{GK_SILENT, 11, 0.45, 0.20, -1},    {GK_SEQGAP, 12, 0.50, 0.00, -1},
	};
	int64_t d_us = (int64_t)o->duration_s * GEN_US;

	if (o->duration_s < 30) {
		fprintf(stderr, "vigil-gen: --scenario demo needs --duration of 30 s or more\n");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(demo) / sizeof(demo[0]); i++) {
		struct gen_event e;
		unsigned bed = (demo[i].bed - 1) % o->beds + 1;

		if (demo[i].kind == GK_SEQGAP) {
			if (o->proto == GEN_PROTO_HL7) {
				continue;
			}
			/* With --proto mixed the even beds speak VTP. */
			if (o->proto == GEN_PROTO_MIXED && bed % 2 != 0) {
				if (o->beds < 2) {
					continue;
				}
				bed = bed + 1 <= o->beds ? bed + 1 : 2;
			}
		}
		event_defaults(&e, demo[i].kind, r);
		e.bed = bed;
		/* Whole seconds, so the times in the truth file read well. */
		e.start_us = (int64_t)(demo[i].at * o->duration_s + 0.5) * GEN_US;
		e.end_us = e.start_us + (int64_t)(demo[i].len * o->duration_s + 0.5) * GEN_US;
		if (e.end_us > d_us) {
			e.end_us = d_us;
		}
		if (demo[i].alarm >= 0) {
			e.alarm = demo[i].alarm != 0;
		}
		if (event_check(&e, o, "--scenario demo") != 0) {
			return -EINVAL;
		}
		if (events_push(ev, &e) != 0) {
			return -ENOMEM;
		}
	}
	return 0;
}

/* Events in start order (stable: the file's order breaks ties). */
static int
event_cmp(const void *a, const void *b)
{
	const struct gen_event *x = a, *y = b;

	if (x->start_us != y->start_us) {
		return x->start_us < y->start_us ? -1 : 1;
	}
	if (x->bed != y->bed) {
		return x->bed < y->bed ? -1 : 1;
	}
	return x->line < y->line ? -1 : x->line > y->line;
}

/* ------------------------------------------------------------------------ */
/* Truth marks: the scripted starts and ends in time order                   */
/* ------------------------------------------------------------------------ */

enum gen_phase { GP_START, GP_END, GP_TPOINT };

struct gen_mark {
	int64_t at_us;
	unsigned event;
	enum gen_phase phase;
};

static int
mark_cmp(const void *a, const void *b)
{
	const struct gen_mark *x = a, *y = b;

	if (x->at_us != y->at_us) {
		return x->at_us < y->at_us ? -1 : 1;
	}
	if (x->event != y->event) {
		return x->event < y->event ? -1 : 1;
	}
	return (int)x->phase - (int)y->phase;
}

/* ------------------------------------------------------------------------ */
/* Formatting                                                                */
/* ------------------------------------------------------------------------ */

/* An append-only text buffer; running out of room is remembered, not UB. */
struct tb {
	char *p;
	char *end;
	char *start;
	bool overflow;
};

static void
tb_init(struct tb *b, char *buf, size_t room)
{
	b->p = b->start = buf;
	b->end = buf + room;
	b->overflow = false;
}

static void
tb_mem(struct tb *b, const char *s, size_t n)
{
	if ((size_t)(b->end - b->p) < n) {
		b->overflow = true;
		return;
	}
	memcpy(b->p, s, n);
	b->p += n;
}

static void
tb_str(struct tb *b, const char *s)
{
	tb_mem(b, s, strlen(s));
}

static void
tb_ch(struct tb *b, char c)
{
	tb_mem(b, &c, 1);
}

static void
tb_uint(struct tb *b, uint64_t v)
{
	char tmp[24];
	int i = (int)sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	tb_mem(b, tmp + i, sizeof(tmp) - (size_t)i);
}

/* @tenths as a decimal with one digit after the point: 372 -> "37.2". */
static void
tb_tenths(struct tb *b, long tenths)
{
	if (tenths < 0) {
		tb_ch(b, '-');
		tenths = -tenths;
	}
	tb_uint(b, (uint64_t)tenths / 10);
	tb_ch(b, '.');
	tb_ch(b, (char)('0' + tenths % 10));
}

static size_t
tb_len(const struct tb *b)
{
	return (size_t)(b->p - b->start);
}

/* Broken-down UTC of a time in microseconds since the epoch. */
struct gen_tm {
	int year;
	unsigned mon, day, hour, min, sec, usec;
};

static void
gen_gmtime(int64_t us, struct gen_tm *tm)
{
	int64_t secs = us >= 0 ? us / GEN_US : -((-us + GEN_US - 1) / GEN_US);
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t rem = secs - days * 86400;

	civil_from_days(days, &tm->year, &tm->mon, &tm->day);
	tm->hour = (unsigned)(rem / 3600);
	tm->min = (unsigned)(rem / 60 % 60);
	tm->sec = (unsigned)(rem % 60);
	tm->usec = (unsigned)(us - secs * GEN_US);
}

/* HL7 DTM to the millisecond with its UTC offset: 20240301080000.123+0000. */
static void
tb_hl7_time(struct tb *b, int64_t us)
{
	/* The calendar part changes once a simulated second: made then only. */
	static int64_t cached_sec = INT64_MIN;
	static char cached[16];
	int64_t sec = us >= 0 ? us / GEN_US : -((-us + GEN_US - 1) / GEN_US);
	uint32_t ms = (uint32_t)((us - sec * GEN_US) / 1000);
	char frac[12], *p = frac;

	if (sec != cached_sec) {
		struct gen_tm tm;

		gen_gmtime(us, &tm);
		snprintf(cached, sizeof(cached), "%04d%02u%02u%02u%02u%02u", tm.year, tm.mon,
			 tm.day, tm.hour, tm.min, tm.sec);
		cached_sec = sec;
	}
	tb_mem(b, cached, 14);
	*p++ = '.';
	p = put_dec(p, ms, 3);
	tb_mem(b, frac, (size_t)(p - frac));
	tb_mem(b, "+0000", 5);
}

static void
iso_time(int64_t us, char *out, size_t room)
{
	struct gen_tm tm;

	gen_gmtime(us, &tm);
	snprintf(out, room, "%04d-%02u-%02uT%02u:%02u:%02u.%06uZ", tm.year, tm.mon, tm.day, tm.hour,
		 tm.min, tm.sec, tm.usec);
}

/* ------------------------------------------------------------------------ */
/* The generator's state                                                     */
/* ------------------------------------------------------------------------ */

struct gen_counts {
	uint64_t datagrams;
	uint64_t hl7;
	uint64_t vtp;
	uint64_t oru_r01;
	uint64_t oru_r40;
	uint64_t hl7_obx;	 /* OBX segments in ORU^R01, device rows included */
	uint64_t hl7_metric_obx; /* those with a metric (not the MDS row) */
	uint64_t r40_obx;
	uint64_t vtp_obs;
	uint64_t payload_bytes; /* UDP payloads (MLLP frames, VTP frames) */
	uint64_t frames_bytes;	/* Ethernet frames as written to the capture */
	uint64_t pcap_bytes;
	uint64_t device_alarms;
	uint64_t scripted_marks;
};

struct gen {
	struct gen_opts o;
	struct gen_bed *beds;
	uint32_t *order; /* bed indices by phase */
	struct gen_events ev;
	struct gen_mark *marks;
	unsigned n_marks;
	unsigned next_mark;
	struct fr_pcap *pcap;
	FILE *truth;
	int sock;
	struct sockaddr_storage udp_addr;
	socklen_t udp_addr_len;
	bool udp_port_given;
	bool pace;
	struct timespec wall0;
	struct gen_counts c;
	uint64_t frame_index;
	uint8_t frame[GEN_FRAME_ROOM];
	char msg[GEN_MAX_PAYLOAD + 64];
};

/* What the events on a bed do to it at one moment. */
struct gen_fx {
	double mean[GW__COUNT];
	double sys, dia;
	double w_flat_hr; /* asystole: the ECG rate falls to 0 */
	double w_vf;	  /* VF: the rate is chaotic */
	double w_nopulse; /* no perfusion: the oximeter finds no pulse */
	double w_apnoea;  /* no breaths */
	double w_apnoea_co2;
	bool spo2_inv, spo2_missing;
	bool hr_inv, hr_missing;
	bool silent;
	bool nibp_now;
};

/* Where an event's effect is, 0 to 1: up over the onset, held, back down. */
static double
event_weight(const struct gen_event *e, int64_t tau_us, double onset_s)
{
	double onset_us = onset_s * GEN_US, rec_us = e->recovery_s * GEN_US, peak;

	if (tau_us < e->start_us) {
		return 0;
	}
	if (tau_us < e->end_us) {
		return onset_us <= 0 ? 1 : clampd((double)(tau_us - e->start_us) / onset_us, 0, 1);
	}
	peak = onset_us <= 0 ? 1 : clampd((double)(e->end_us - e->start_us) / onset_us, 0, 1);
	if (rec_us <= 0 || (double)(tau_us - e->end_us) >= rec_us) {
		return 0;
	}
	return peak * (1.0 - (double)(tau_us - e->end_us) / rec_us);
}

static double
mix(double from, double to, double w)
{
	return from + w * (to - from);
}

static void
bed_effects(struct gen *g, const struct gen_bed *b, int64_t tau_us, struct gen_fx *fx)
{
	memset(fx, 0, sizeof(*fx));
	for (int i = 0; i < GW__COUNT; i++) {
		fx->mean[i] = b->base[i];
	}
	fx->sys = b->base_sys;
	fx->dia = b->base_dia;
	for (int32_t i = b->first_event; i >= 0; i = g->ev.v[i].next) {
		const struct gen_event *e = &g->ev.v[i];
		bool active = tau_us >= e->start_us && tau_us < e->end_us;
		double w;

		if (e->start_us > tau_us) {
			break; /* the bed's events are in start order */
		}
		w = event_weight(e, tau_us, e->onset_s);
		switch (e->kind) {
		case GK_DESAT:
			fx->mean[GW_SPO2] = mix(fx->mean[GW_SPO2], e->target, w);
			fx->mean[GW_HR] += 10 * w; /* the heart compensates */
			break;
		case GK_TACHY:
		case GK_BRADY:
			fx->mean[GW_HR] = mix(fx->mean[GW_HR], e->target, w);
			break;
		case GK_HYPOTENSION: {
			double sys = mix(fx->sys, e->target, w);
			int64_t so = e->start_us + (int64_t)(e->onset_s * GEN_US);

			fx->dia = fx->dia * (sys / fx->sys);
			fx->sys = sys;
			fx->mean[GW_HR] += 12 * w;
			/* A monitor in alarm cycles the cuff: measure once the
			 * pressure has fallen and every minute after. */
			if (tau_us >= so && tau_us < e->end_us &&
			    (tau_us - so) % (60 * GEN_US) < GEN_US) {
				fx->nibp_now = true;
			}
			break;
		}
		case GK_FEVER:
			fx->mean[GW_TEMP] = mix(fx->mean[GW_TEMP], e->target, w);
			fx->mean[GW_HR] += 10 * w;
			break;
		case GK_APNOEA:
			if (w > fx->w_apnoea) {
				fx->w_apnoea = w;
			}
			/* EtCO2 falls over some fifteen seconds of missing breaths. */
			w = event_weight(e, tau_us, e->onset_s > 15 ? e->onset_s : 15);
			if (w > fx->w_apnoea_co2) {
				fx->w_apnoea_co2 = w;
			}
			break;
		case GK_ASYSTOLE:
			fx->w_flat_hr = w > fx->w_flat_hr ? w : fx->w_flat_hr;
			fx->w_nopulse = w > fx->w_nopulse ? w : fx->w_nopulse;
			break;
		case GK_VF:
			fx->w_vf = w > fx->w_vf ? w : fx->w_vf;
			fx->w_nopulse = w > fx->w_nopulse ? w : fx->w_nopulse;
			break;
		case GK_SENSOR_OFF:
			if (active) {
				fx->spo2_inv = true;
				fx->spo2_missing = fx->spo2_missing || e->missing;
			}
			break;
		case GK_LEAD_OFF:
			if (active) {
				fx->hr_inv = true;
				fx->hr_missing = fx->hr_missing || e->missing;
			}
			break;
		case GK_SILENT:
			fx->silent = fx->silent || active;
			break;
		case GK_SEQGAP:
		case GK__COUNT:
			break;
		}
	}
}

/* One second's values of a bed, as the monitor shows them. */
struct gen_vitals {
	long hr, spo2, pulse, rr, temp10, etco2, co2rr;
	bool nibp;
	long sys, dia, mean;
};

static void
bed_step(struct gen *g, struct gen_bed *b, unsigned s, const struct gen_fx *fx,
	 struct gen_vitals *v)
{
	uint64_t *r = &b->rng;
	double hr, hr_walk, spo2, pulse, rr, temp, etco2;
	unsigned interval = g->o.nibp_interval_s;

	for (int i = 0; i < GW__COUNT; i++) {
		const struct gen_walk *wk = &gen_walks[i];

		b->dev[i] = (float)(wk->a * b->dev[i] + wk->sigma * rng_normal(r));
	}
	hr_walk = fx->mean[GW_HR] + b->dev[GW_HR];
	hr = hr_walk * (1.0 - fx->w_flat_hr);
	if (fx->w_vf > 0) {
		hr = mix(hr, rng_range(r, 180, 300), fx->w_vf);
	}
	spo2 = clampd(fx->mean[GW_SPO2] + b->dev[GW_SPO2], 50, 100);
	pulse = (hr_walk + b->pulse_off + 0.7 * rng_normal(r)) * (1.0 - fx->w_nopulse);
	rr = (fx->mean[GW_RR] + b->dev[GW_RR]) * (1.0 - fx->w_apnoea);
	temp = clampd(fx->mean[GW_TEMP] + b->dev[GW_TEMP], 33, 42.5);
	etco2 = mix(fx->mean[GW_ETCO2] + b->dev[GW_ETCO2], 2.0, fx->w_apnoea_co2);

	v->hr = round_pos(clampd(hr, 0, 300));
	v->spo2 = round_pos(spo2);
	v->pulse = round_pos(clampd(pulse, 0, 300));
	v->rr = round_pos(clampd(rr, 0, 60));
	v->temp10 = round_pos(temp * 10);
	v->etco2 = round_pos(clampd(etco2, 0, 90));
	/* Capnography counts the same breaths, give or take one. */
	v->co2rr = fx->w_apnoea >= 1 ? 0 : round_pos(clampd(rr + 0.5 * rng_normal(r), 0, 60));

	v->nibp = fx->nibp_now || (s >= b->nibp_off_s && (s - b->nibp_off_s) % interval == 0);
	if (v->nibp) {
		double sys = clampd(fx->sys + 4 * rng_normal(r), 40, 250);
		double dia = clampd(fx->dia + 3 * rng_normal(r), 20, sys - 15);

		v->sys = round_pos(sys);
		v->dia = round_pos(dia);
		v->mean = round_pos(dia + (sys - dia) / 3);
		b->last_sys = (float)v->sys;
	}
}

/* ------------------------------------------------------------------------ */
/* Output: capture, live socket, pacing                                      */
/* ------------------------------------------------------------------------ */

static int64_t
gen_start_us(const struct gen *g)
{
	return g->o.start_us;
}

/* With --realtime or --udp: wait until the simulated time @t_us is due. */
static void
pace_to(struct gen *g, int64_t t_us)
{
	double due_s = (double)(t_us - gen_start_us(g)) / GEN_US / g->o.speed;
	struct timespec ts = g->wall0;
	int64_t ns = (int64_t)(due_s * 1e9);

	ts.tv_sec += (time_t)(ns / 1000000000);
	ts.tv_nsec += (long)(ns % 1000000000);
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
	}
}

/* One datagram from bed @n: into the capture and/or onto the socket. */
static int
emit(struct gen *g, unsigned n, bool hl7, const void *payload, size_t len, int64_t t_us)
{
	uint16_t dport = hl7 ? g->o.hl7_port : g->o.vtp_port;
	struct fr_l2 l2;
	size_t flen;
	int rc;

	if (len > GEN_MAX_PAYLOAD) {
		fprintf(stderr, "vigil-gen: internal error: a %zu-byte datagram from bed %u\n", len,
			n);
		return -EMSGSIZE;
	}
	if (g->pace) {
		pace_to(g, t_us);
	}
	if (g->pcap != NULL) {
		uint64_t ts;

		memset(&l2, 0, sizeof(l2));
		memcpy(l2.dst, g->o.dst_mac, 6);
		bed_mac(n, l2.src);
		flen = fr_udp4(g->frame, sizeof(g->frame), &l2, bed_ipv4(n), g->o.dst_ip,
			       bed_sport(n), dport, payload, len);
		if (flen == 0) {
			fprintf(stderr,
				"vigil-gen: internal error: frame for bed %u does not fit\n", n);
			return -EMSGSIZE;
		}
		ts = g->o.compress ? (uint64_t)gen_start_us(g) + g->frame_index : (uint64_t)t_us;
		rc = fr_pcap_write(g->pcap, g->frame, flen, ts);
		if (rc != 0) {
			fprintf(stderr, "vigil-gen: --pcap %s: %s\n", g->o.pcap_path,
				strerror(-rc));
			return rc;
		}
		g->c.frames_bytes += flen;
		g->c.pcap_bytes += 16 + flen;
	}
	if (g->sock >= 0) {
		struct sockaddr_storage to = g->udp_addr;

		if (!g->udp_port_given) {
			if (to.ss_family == AF_INET) {
				((struct sockaddr_in *)&to)->sin_port = htons(dport);
			} else {
				((struct sockaddr_in6 *)&to)->sin6_port = htons(dport);
			}
		}
		if (sendto(g->sock, payload, len, 0, (struct sockaddr *)&to, g->udp_addr_len) < 0) {
			rc = -errno;
			fprintf(stderr, "vigil-gen: --udp %s: send: %s\n", g->o.udp_target,
				strerror(errno));
			return rc;
		}
	}
	g->frame_index++;
	g->c.datagrams++;
	g->c.payload_bytes += len;
	if (hl7) {
		g->c.hl7++;
	} else {
		g->c.vtp++;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* HL7 v2: ORU^R01 (IHE PCD-01) and ORU^R40 (IHE PCD-04)                     */
/* ------------------------------------------------------------------------ */

#define PCD01_PROFILE "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
#define PCD04_PROFILE "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.4.1^ISO"

/* A bed's texts, made once per message from its number. */
struct gen_ids {
	char eui[17];
	char patient[16];
	char location[32];
	char ward[16];
	char ctrl[24]; /* MSH-10 of the message being built */
};

static void
ids_make(unsigned n, struct gen_ids *id)
{
	bed_eui_hex(n, id->eui);
	bed_patient(n, id->patient);
	bed_location(n, id->location);
	bed_ward(n, id->ward);
	id->ctrl[0] = '\0';
}

/* MSH, PID, PV1 and OBR: what every message of a bed starts with. */
static void
hl7_head(struct tb *b, const struct gen_ids *id, const char *type, const char *profile,
	 int64_t t_us, const char *obr2, const char *obr3, const char *obr4, int64_t obr7_us,
	 const char *obr29)
{
	tb_ch(b, 0x0b);
	tb_str(b, "MSH|^~\\&|VIGILGEN^");
	tb_str(b, id->eui);
	tb_str(b, "^EUI-64|");
	tb_str(b, id->ward);
	tb_str(b, "|VIGIL|HOSPITAL|");
	tb_hl7_time(b, t_us);
	tb_str(b, "||");
	tb_str(b, type);
	tb_ch(b, '|');
	tb_str(b, id->ctrl);
	/* MSH-11..21: P, 2.6, -, -, AL, NE, -, -, -, -, profile (DOMAIN 1, 2). */
	tb_str(b, "|P|2.6|||AL|NE|||||");
	tb_str(b, profile);
	tb_str(b, "\rPID|||");
	tb_str(b, id->patient);
	tb_str(b, "^^^VIGILGEN^MR\rPV1||I|");
	tb_str(b, id->location);
	tb_str(b, "\rOBR|1|");
	tb_str(b, obr2);
	tb_ch(b, '|');
	tb_str(b, obr3);
	tb_ch(b, '|');
	tb_str(b, obr4);
	tb_str(b, "|||");
	tb_hl7_time(b, obr7_us);
	if (obr29 != NULL) {
		/* OBR-8 .. OBR-28 empty, then OBR-29 (the parent). */
		tb_str(b, "||||||||||||||||||||||");
		tb_str(b, obr29);
	}
	tb_ch(b, '\r');
}

/* OBX-18: the monitor's EUI-64. */
static void
hl7_obx18(struct tb *b, const struct gen_ids *id)
{
	tb_str(b, id->eui);
	tb_str(b, "^EUI-64\r");
}

/* The MDS row: the device itself, 1.0.0.0, no value, OBX-11 X. */
static void
hl7_mds_row(struct tb *b, const struct gen_ids *id, unsigned setid)
{
	tb_str(b, "OBX|");
	tb_uint(b, setid);
	tb_str(b, "||");
	tb_str(b, gen_code_text[GC_MDS]);
	tb_str(b, "|1.0.0.0|||||||X|||||||");
	hl7_obx18(b, id);
}

enum gen_value_state { GV_VALID, GV_INV };

/*
 * One metric row: NM, the code, 1.0.1.<slot>, the value (integer, or tenths
 * when @tenths), the unit, OBX-11 R; an invalid value is sent empty with
 * OBX-8 INV and OBX-11 X (DOMAIN section 2). @obx14_us: 0 or the
 * observation's own time.
 */
static void
hl7_metric_row(struct tb *b, const struct gen_ids *id, unsigned setid, enum gen_metric_id mid,
	       long value, bool tenths, enum gen_value_state st, int64_t obx14_us)
{
	const struct gen_metric *gm = &gen_metrics[mid];

	tb_str(b, "OBX|");
	tb_uint(b, setid);
	tb_str(b, "|NM|");
	tb_str(b, gm->obx3);
	tb_str(b, "|1.0.1.");
	tb_str(b, gm->slot);
	tb_ch(b, '|');
	if (st == GV_VALID) {
		if (tenths) {
			tb_tenths(b, value);
		} else {
			tb_uint(b, (uint64_t)value);
		}
	}
	tb_ch(b, '|');
	tb_str(b, gm->obx6);
	tb_str(b, st == GV_VALID ? "|||||R|||" : "||INV|||X|||");
	if (obx14_us != 0) {
		tb_hl7_time(b, obx14_us);
	}
	tb_str(b, "||||");
	hl7_obx18(b, id);
}

static void
hl7_ctrl(struct gen_bed *b, unsigned n, struct gen_ids *id)
{
	char *p = id->ctrl;

	b->msg_count++;
	p = put_dec(p, n, 1);
	*p++ = '-';
	p = put_dec(p, b->msg_count, 1);
	*p = '\0';
}

/* OBR-2/OBR-3 of an observation report: <ctrl>^VIGILGEN^<EUI>^EUI-64. */
static void
hl7_order_id(const struct gen_ids *id, char *out, size_t room)
{
	struct tb b;

	tb_init(&b, out, room);
	tb_str(&b, id->ctrl);
	tb_str(&b, "^VIGILGEN^");
	tb_str(&b, id->eui);
	tb_mem(&b, "^EUI-64", 8); /* with its NUL */
	if (b.overflow) {
		out[0] = '\0';
	}
}

/* Finish an MLLP frame and send it. */
static int
hl7_send(struct gen *g, struct tb *b, unsigned n, int64_t t_us)
{
	tb_ch(b, 0x1c);
	tb_ch(b, '\r');
	if (b->overflow || tb_len(b) > GEN_MAX_PAYLOAD) {
		fprintf(stderr,
			"vigil-gen: internal error: an HL7 message of bed %u does not fit in "
			"one %u-byte datagram\n",
			n, GEN_MAX_PAYLOAD);
		return -EMSGSIZE;
	}
	return emit(g, n, true, b->start, tb_len(b), t_us);
}

/* The periodic ORU^R01: the MDS row, then the second's vital signs. */
static int
hl7_vitals(struct gen *g, struct gen_bed *bed, unsigned n, int64_t t_us, const struct gen_fx *fx,
	   const struct gen_vitals *v)
{
	struct gen_ids id;
	char order[96];
	struct tb b;
	unsigned setid = 1, metrics = 0;

	ids_make(n, &id);
	hl7_ctrl(bed, n, &id);
	hl7_order_id(&id, order, sizeof(order));
	tb_init(&b, g->msg, sizeof(g->msg));
	hl7_head(&b, &id, "ORU^R01^ORU_R01", PCD01_PROFILE, t_us, order, order,
		 "182777000^monitoring of patient^SCT", t_us, NULL);
	hl7_mds_row(&b, &id, setid++);
	if (!fx->hr_missing) {
		hl7_metric_row(&b, &id, setid++, GM_HR, v->hr, false,
			       fx->hr_inv ? GV_INV : GV_VALID, 0);
		metrics++;
	}
	if (!fx->spo2_missing) {
		enum gen_value_state st = fx->spo2_inv ? GV_INV : GV_VALID;

		hl7_metric_row(&b, &id, setid++, GM_SPO2, v->spo2, false, st, 0);
		hl7_metric_row(&b, &id, setid++, GM_PULSE, v->pulse, false, st, 0);
		metrics += 2;
	}
	hl7_metric_row(&b, &id, setid++, GM_RR, v->rr, false, GV_VALID, 0);
	hl7_metric_row(&b, &id, setid++, GM_TEMP, v->temp10, true, GV_VALID, 0);
	metrics += 2;
	if (bed->ventilated) {
		hl7_metric_row(&b, &id, setid++, GM_ETCO2, v->etco2, false, GV_VALID, 0);
		hl7_metric_row(&b, &id, setid++, GM_CO2_RR, v->co2rr, false, GV_VALID, 0);
		metrics += 2;
	}
	g->c.oru_r01++;
	g->c.hl7_obx += metrics + 1;
	g->c.hl7_metric_obx += metrics;
	return hl7_send(g, &b, n, t_us);
}

/* An NIBP result: its own ORU^R01, OBR-7 and OBX-14 the measurement time. */
static int
hl7_nibp(struct gen *g, struct gen_bed *bed, unsigned n, int64_t t_us, const struct gen_vitals *v)
{
	struct gen_ids id;
	char order[96];
	struct tb b;

	ids_make(n, &id);
	hl7_ctrl(bed, n, &id);
	hl7_order_id(&id, order, sizeof(order));
	tb_init(&b, g->msg, sizeof(g->msg));
	hl7_head(&b, &id, "ORU^R01^ORU_R01", PCD01_PROFILE, t_us, order, order,
		 "182777000^monitoring of patient^SCT", t_us, NULL);
	hl7_mds_row(&b, &id, 1);
	hl7_metric_row(&b, &id, 2, GM_NIBP_SYS, v->sys, false, GV_VALID, t_us);
	hl7_metric_row(&b, &id, 3, GM_NIBP_DIA, v->dia, false, GV_VALID, t_us);
	hl7_metric_row(&b, &id, 4, GM_NIBP_MEAN, v->mean, false, GV_VALID, t_us);
	g->c.oru_r01++;
	g->c.hl7_obx += 4;
	g->c.hl7_metric_obx += 3;
	return hl7_send(g, &b, n, t_us);
}

/* A device alarm's transition, as sent and as written to the truth file. */
struct gen_alarm_msg {
	const struct gen_event *e;
	bool start;
	long source_value; /* in the source metric's display units */
	bool source_tenths;
	char uuid[40];
	char ctrl[24];
};

static void
alarm_uuid(const struct gen *g, unsigned n, uint32_t instance, char *out, size_t room)
{
	uint64_t a = rng_mix(g->o.seed ^ rng_mix(((uint64_t)n << 32) | instance));
	uint64_t c = rng_mix(a);

	/* A version-4-shaped UUID, deterministic for (seed, bed, instance). */
	snprintf(out, room, "%08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32 "-%04" PRIx32 "-%012" PRIx64,
		 (uint32_t)(a >> 32), (uint32_t)(a >> 16) & 0xffff, (uint32_t)a & 0xfff,
		 (uint32_t)(0x8000 | ((c >> 48) & 0x3fff)), (uint64_t)(c & 0xffffffffffffu));
}

/* One facet row: ST value, containment <source path>.<facet>. */
static void
hl7_facet(struct tb *b, const struct gen_ids *id, unsigned setid, const char *type,
	  const char *obx3, const char *src_slot, unsigned facet, const char *value,
	  const char *obx6, const char *obx7, int64_t t_us)
{
	tb_str(b, "OBX|");
	tb_uint(b, setid);
	tb_ch(b, '|');
	tb_str(b, type);
	tb_ch(b, '|');
	tb_str(b, obx3);
	tb_str(b, "|1.0.1.");
	tb_str(b, src_slot);
	tb_ch(b, '.');
	tb_uint(b, facet);
	tb_ch(b, '|');
	tb_str(b, value);
	tb_ch(b, '|');
	tb_str(b, obx6 != NULL ? obx6 : "");
	tb_ch(b, '|');
	tb_str(b, obx7 != NULL ? obx7 : "");
	tb_str(b, "||||R|||");
	tb_hl7_time(b, t_us);
	tb_str(b, "||||");
	hl7_obx18(b, id);
}

/*
 * ORU^R40 for one alarm transition (PCD-04): OBR-3 is
 * <update>^<alarm uuid>^<EUI>^EUI-64, the update counting from 1 at the
 * start; an end names the start in OBR-29 (parent, filler part). The MDS row
 * comes first, then facets 1-7 under the source metric's path.
 */
static int
hl7_alarm(struct gen *g, struct gen_bed *bed, unsigned n, int64_t t_us, struct gen_event *e,
	  struct gen_alarm_msg *am)
{
	const struct gen_kind_info *k = &gen_kinds[e->kind];
	const struct gen_metric *src = &gen_metrics[k->source];
	struct gen_ids id;
	char obr2[96], obr3[128], parent[128], value[48];
	struct tb b, vb;
	unsigned setid = 1;

	ids_make(n, &id);
	hl7_ctrl(bed, n, &id);
	snprintf(am->ctrl, sizeof(am->ctrl), "%s", id.ctrl);
	if (am->start) {
		e->alarm_instance = ++bed->alarm_count;
		e->alarm_updates = 0;
	}
	e->alarm_updates++;
	alarm_uuid(g, n, e->alarm_instance, am->uuid, sizeof(am->uuid));
	hl7_order_id(&id, obr2, sizeof(obr2));
	snprintf(obr3, sizeof(obr3), "%" PRIu32 "^%s^%s^EUI-64", e->alarm_updates, am->uuid,
		 id.eui);
	snprintf(parent, sizeof(parent), "^1&%s&%s&EUI-64", am->uuid, id.eui);
	tb_init(&b, g->msg, sizeof(g->msg));
	hl7_head(&b, &id, "ORU^R40^ORU_R40", PCD04_PROFILE, t_us, obr2, obr3,
		 gen_code_text[GC_EVT_ALARM], t_us, am->start ? NULL : parent);
	hl7_mds_row(&b, &id, setid++);

	/* 1: the alarm's identity and its display text. */
	hl7_facet(&b, &id, setid++, "ST", gen_code_text[k->evt], src->slot, 1, k->text, NULL, NULL,
		  t_us);
	/* 2: the source, with its value and limits, or by reference for a
	 * technical alarm, whose metric has no trustworthy value. */
	if (k->source_by_attr) {
		hl7_facet(&b, &id, setid++, "CWE", gen_code_text[GC_ATTR_ALERT_SOURCE], src->slot,
			  2, src->obx3, NULL, NULL, t_us);
	} else {
		tb_init(&vb, value, sizeof(value));
		if (am->source_tenths) {
			tb_tenths(&vb, am->source_value);
		} else {
			tb_uint(&vb, (uint64_t)am->source_value);
		}
		tb_ch(&vb, '\0');
		hl7_facet(&b, &id, setid++, "NM", src->obx3, src->slot, 2, value, src->obx6,
			  k->limits, t_us);
	}
	/* 3-7: phase, state, inactivation state, priority, type. */
	hl7_facet(&b, &id, setid++, "ST", gen_code_text[GC_ATTR_EVENT_PHASE], src->slot, 3,
		  am->start ? "start" : "end", NULL, NULL, t_us);
	hl7_facet(&b, &id, setid++, "ST", gen_code_text[GC_ATTR_ALARM_STATE], src->slot, 4,
		  am->start ? "active" : "inactive", NULL, NULL, t_us);
	hl7_facet(&b, &id, setid++, "ST", gen_code_text[GC_ATTR_ALARM_INACTIVATION_STATE],
		  src->slot, 5, "enabled", NULL, NULL, t_us);
	hl7_facet(&b, &id, setid++, "ST", gen_code_text[GC_ATTR_ALARM_PRIORITY], src->slot, 6,
		  e->priority, NULL, NULL, t_us);
	hl7_facet(&b, &id, setid++, "ST", gen_code_text[GC_ATTR_ALERT_TYPE], src->slot, 7, k->type,
		  NULL, NULL, t_us);
	g->c.oru_r40++;
	g->c.r40_obx += setid - 1;
	return hl7_send(g, &b, n, t_us);
}

/* ------------------------------------------------------------------------ */
/* VTP                                                                       */
/* ------------------------------------------------------------------------ */

static void
vtp_add(struct dp_vtp_obs *o, unsigned *n, enum gen_metric_id mid, double value, bool invalid)
{
	const struct gen_metric *gm = &gen_metrics[mid];

	o[*n].code = gm->m->code;
	o[*n].unit = gm->u->code;
	/* No value: NaN, with the flag saying why (VTP.md section 5). */
	o[*n].value = invalid ? __builtin_nan("") : value;
	o[*n].flags = invalid ? DP_VTP_F(INV) : 0;
	(*n)++;
}

/* The second's frame: the vital signs, and an NIBP result when one is due. */
static int
vtp_vitals(struct gen *g, struct gen_bed *bed, unsigned n, int64_t t_us, const struct gen_fx *fx,
	   const struct gen_vitals *v)
{
	struct dp_vtp_obs obs[16];
	uint8_t frame[DP_VTP_MAX_FRAME];
	unsigned k = 0;
	int len;

	if (!fx->hr_missing) {
		vtp_add(obs, &k, GM_HR, (double)v->hr, fx->hr_inv);
	}
	if (!fx->spo2_missing) {
		vtp_add(obs, &k, GM_SPO2, (double)v->spo2, fx->spo2_inv);
		vtp_add(obs, &k, GM_PULSE, (double)v->pulse, fx->spo2_inv);
	}
	vtp_add(obs, &k, GM_RR, (double)v->rr, false);
	vtp_add(obs, &k, GM_TEMP, (double)v->temp10 / 10.0, false);
	if (bed->ventilated) {
		vtp_add(obs, &k, GM_ETCO2, (double)v->etco2, false);
		vtp_add(obs, &k, GM_CO2_RR, (double)v->co2rr, false);
	}
	if (v->nibp) {
		vtp_add(obs, &k, GM_NIBP_SYS, (double)v->sys, false);
		vtp_add(obs, &k, GM_NIBP_DIA, (double)v->dia, false);
		vtp_add(obs, &k, GM_NIBP_MEAN, (double)v->mean, false);
	}
	len = dp_vtp_encode(frame, sizeof(frame), bed_eui(n), bed->vtp_seq, t_us * 1000, obs, k);
	if (len < 0) {
		fprintf(stderr, "vigil-gen: dp_vtp_encode for bed %u: %s\n", n, strerror(-len));
		return len;
	}
	bed->vtp_seq++;
	g->c.vtp_obs += k;
	return emit(g, n, false, frame, (size_t)len, t_us);
}

/* ------------------------------------------------------------------------ */
/* Ground truth                                                              */
/* ------------------------------------------------------------------------ */

static void
truth_head(struct gen *g, int64_t at_us, unsigned n)
{
	struct gen_ids id;
	char iso[40];
	int64_t rel = at_us - gen_start_us(g);

	ids_make(n, &id);
	iso_time(at_us, iso, sizeof(iso));
	fprintf(g->truth,
		"{\"time\":\"%s\",\"t\":%" PRId64 ".%06" PRId64 ",\"bed\":%u,\"device\":\"%s\","
		"\"patient\":\"%s\",\"location\":\"%s\",\"proto\":\"%s\"",
		iso, rel / GEN_US, rel % GEN_US, n, id.eui, id.patient, id.location,
		g->beds[n - 1].proto == BED_VTP ? "vtp" : "hl7");
}

static void
truth_scripted(struct gen *g, const struct gen_mark *mk)
{
	const struct gen_event *e = &g->ev.v[mk->event];
	const struct gen_kind_info *k = &gen_kinds[e->kind];
	static const char *const phase[] = {"start", "end", "tpoint"};

	g->c.scripted_marks++;
	if (g->truth == NULL) {
		return;
	}
	truth_head(g, gen_start_us(g) + mk->at_us, e->bed);
	fprintf(g->truth, ",\"kind\":\"scripted\",\"event\":\"%s\",\"phase\":\"%s\"", k->name,
		phase[mk->phase]);
	if (e->kind == GK_SEQGAP) {
		fprintf(g->truth, ",\"count\":%u", e->count);
	} else {
		int64_t d = e->end_us - e->start_us;

		fprintf(g->truth, ",\"duration\":%" PRId64 ".%06" PRId64, d / GEN_US, d % GEN_US);
		if (k->target_hi > 0) {
			fprintf(g->truth, ",\"target\":%.1f", e->target);
		}
		if (k->rule != GA_NONE) {
			fprintf(g->truth, ",\"alarm\":%s", e->alarm ? "true" : "false");
		}
		if (e->kind == GK_SENSOR_OFF || e->kind == GK_LEAD_OFF) {
			fprintf(g->truth, ",\"mode\":\"%s\"", e->missing ? "missing" : "inv");
		}
	}
	fputs("}\n", g->truth);
}

static void
truth_alarm(struct gen *g, int64_t t_us, const struct gen_alarm_msg *am)
{
	const struct gen_event *e = am->e;
	const struct gen_kind_info *k = &gen_kinds[e->kind];
	const struct gen_metric *src = &gen_metrics[k->source];

	g->c.device_alarms++;
	if (g->truth == NULL) {
		return;
	}
	truth_head(g, t_us, e->bed);
	fprintf(g->truth,
		",\"kind\":\"device_alarm\",\"event\":\"%s\",\"code\":%" PRIu32
		",\"refid\":\"%s\",\"phase\":\"%s\",\"state\":\"%s\",\"priority\":\"%s\","
		"\"type\":\"%s\",\"source_code\":%" PRIu32,
		k->name, gen_code[k->evt], gen_code_defaults[k->evt].refid,
		am->start ? "start" : "end", am->start ? "active" : "inactive", e->priority,
		k->type, src->m->code);
	if (!k->source_by_attr) {
		if (am->source_tenths) {
			fprintf(g->truth, ",\"source_value\":%ld.%ld", am->source_value / 10,
				am->source_value % 10);
		} else {
			fprintf(g->truth, ",\"source_value\":%ld", am->source_value);
		}
	}
	fprintf(g->truth, ",\"alarm_id\":\"%s\",\"control_id\":\"%s\"}\n", am->uuid, am->ctrl);
}

/* Write the scripted marks due at or before @tau_us (from the start). */
static void
truth_flush(struct gen *g, int64_t tau_us)
{
	while (g->next_mark < g->n_marks && g->marks[g->next_mark].at_us <= tau_us) {
		truth_scripted(g, &g->marks[g->next_mark]);
		g->next_mark++;
	}
}

/* ------------------------------------------------------------------------ */
/* One bed, one second                                                       */
/* ------------------------------------------------------------------------ */

/* The value a limit alarm watches, and whether it is past the limit. */
static bool
alarm_condition(const struct gen_event *e, const struct gen_bed *b, const struct gen_vitals *v,
		const struct gen_fx *fx, long *value, bool *tenths)
{
	const struct gen_kind_info *k = &gen_kinds[e->kind];
	double x;
	/* Hysteresis, so a value hovering at the limit does not flap. */
	double hyst = e->kind == GK_DESAT ? 2 : e->kind == GK_FEVER ? 0.2 : 5;

	*tenths = false;
	switch (k->source) {
	case GM_SPO2:
		if (fx->spo2_inv) {
			return e->alarm_on;
		}
		*value = v->spo2;
		break;
	case GM_HR:
		if (fx->hr_inv) {
			return e->alarm_on;
		}
		*value = v->hr;
		break;
	case GM_NIBP_SYS:
		/* Only a measurement changes what the monitor knows. */
		*value = (long)b->last_sys;
		hyst = 0;
		break;
	case GM_TEMP:
		*value = v->temp10;
		*tenths = true;
		break;
	default:
		*value = v->rr;
		break;
	}
	x = *tenths ? (double)*value / 10 : (double)*value;
	if (k->limit_high) {
		return e->alarm_on ? x > k->limit - hyst : x > k->limit;
	}
	return e->alarm_on ? x < k->limit + hyst : x < k->limit;
}

/* Send the device alarm transitions of the bed's events at @tau_us. */
static int
bed_alarms(struct gen *g, struct gen_bed *b, unsigned n, int64_t tau_us, int64_t t_us,
	   const struct gen_fx *fx, const struct gen_vitals *v)
{
	for (int32_t i = b->first_event; i >= 0; i = g->ev.v[i].next) {
		struct gen_event *e = &g->ev.v[i];
		const struct gen_kind_info *k = &gen_kinds[e->kind];
		struct gen_alarm_msg am;
		bool want;
		int rc;

		if (e->start_us > tau_us) {
			break;
		}
		if (!e->alarm || k->rule == GA_NONE) {
			continue;
		}
		memset(&am, 0, sizeof(am));
		am.e = e;
		if (k->rule == GA_SPAN) {
			want = tau_us < e->end_us;
			switch (k->source) {
			case GM_HR:
				am.source_value = v->hr;
				break;
			case GM_RR:
				am.source_value = v->rr;
				break;
			default:
				am.source_value = 0;
				break;
			}
		} else {
			/* A limit alarm belongs to its event: none starts once the
			 * event and its recovery are over. */
			want = alarm_condition(e, b, v, fx, &am.source_value, &am.source_tenths);
			if (!e->alarm_on && tau_us >= e->end_us) {
				want = false;
			}
		}
		if (want == e->alarm_on) {
			continue;
		}
		e->alarm_on = want;
		if (fx->silent) {
			continue; /* a silent monitor sends nothing, alarms included */
		}
		am.start = want;
		rc = hl7_alarm(g, b, n, t_us, e, &am);
		if (rc != 0) {
			return rc;
		}
		truth_alarm(g, t_us, &am);
	}
	return 0;
}

static int
bed_tick(struct gen *g, unsigned idx, unsigned s)
{
	struct gen_bed *b = &g->beds[idx];
	unsigned n = idx + 1;
	int64_t tau_us = (int64_t)s * GEN_US + b->phase_us;
	int64_t t_us = gen_start_us(g) + tau_us;
	struct gen_vitals v;
	struct gen_fx fx;
	int rc;

	bed_effects(g, b, tau_us, &fx);
	bed_step(g, b, s, &fx, &v);
	for (int32_t i = b->first_event; i >= 0; i = g->ev.v[i].next) {
		struct gen_event *e = &g->ev.v[i];

		if (e->start_us > tau_us) {
			break;
		}
		if (e->kind == GK_SEQGAP && !e->applied) {
			b->vtp_seq += e->count; /* frames "lost" before this one */
			e->applied = true;
		}
	}
	if (!fx.silent) {
		if (b->proto == BED_VTP) {
			rc = vtp_vitals(g, b, n, t_us, &fx, &v);
		} else {
			rc = hl7_vitals(g, b, n, t_us, &fx, &v);
			if (rc == 0 && v.nibp) {
				rc = hl7_nibp(g, b, n, t_us, &v);
			}
		}
		if (rc != 0) {
			return rc;
		}
	}
	return bed_alarms(g, b, n, tau_us, t_us, &fx, &v);
}

/* ------------------------------------------------------------------------ */
/* Start-up                                                                  */
/* ------------------------------------------------------------------------ */

/* The metrics from the code table; a name it lacks is fatal. */
static int
codes_resolve(void)
{
	for (int i = 0; i < GM__COUNT; i++) {
		const char *key = gen_metric_keys[i].name;
		const struct rule_metric *m;
		const struct rule_unit *u;
		struct gen_metric *gm = &gen_metrics[i];

		if (key != NULL) {
			m = rule_metric_by_name(key, strlen(key));
		} else {
			key = gen_metric_keys[i].refid;
			m = rule_metric_by_refid(key, strlen(key));
		}
		if (m == NULL) {
			fprintf(stderr,
				"vigil-gen: the code table (rules/metrics.tsv) has no metric %s: "
				"vigil-gen cannot send it\n",
				key);
			return -ENOENT;
		}
		u = rule_unit_by_code(m->unit);
		if (u == NULL) {
			fprintf(stderr,
				"vigil-gen: the code table has no unit %" PRIu32 " for metric %s\n",
				m->unit, key);
			return -ENOENT;
		}
		gm->m = m;
		gm->u = u;
		snprintf(gm->obx3, sizeof(gm->obx3), "%" PRIu32 "^%s^MDC", m->code, m->refid);
		snprintf(gm->obx6, sizeof(gm->obx6), "%" PRIu32 "^%s^MDC", u->code, u->refid);
		snprintf(gm->slot, sizeof(gm->slot), "%d", i + 1);
	}
	/*
	 * The other codes: where the table knows the number it must give the
	 * same reference id (the table is the authority; a disagreement means
	 * one of the two is wrong and is fatal). Numbers it does not hold are
	 * used as gen_code_defaults[] documents them.
	 */
	for (int i = 0; i < GC__COUNT; i++) {
		const char *refid = gen_code_defaults[i].refid;
		uint32_t code = gen_code_defaults[i].code;
		const char *known = rule_code_refid(code);

		if (known != NULL && strcmp(known, refid) != 0) {
			fprintf(stderr,
				"vigil-gen: the code table calls %" PRIu32
				" %s, vigil-gen calls it %s: fix one of them\n",
				code, known, refid);
			return -EINVAL;
		}
		gen_code[i] = code;
		snprintf(gen_code_text[i], sizeof(gen_code_text[i]), "%" PRIu32 "^%s^MDC", code,
			 refid);
	}
	for (int i = 0; i < GW__COUNT; i++) {
		double a = gen_walks[i].a;

		gen_walks[i].sigma = gen_walks[i].sd * gen_sqrt(1.0 - a * a);
	}
	return 0;
}

static struct gen_bed *sort_beds; /* qsort has no argument for it */

static int
phase_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	uint32_t px = sort_beds[x].phase_us, py = sort_beds[y].phase_us;

	if (px != py) {
		return px < py ? -1 : 1;
	}
	return x < y ? -1 : x > y;
}

/* Events sorted, chained per bed, and their truth marks laid out. */
static int
events_prepare(struct gen *g)
{
	int64_t d_us = (int64_t)g->o.duration_s * GEN_US;
	unsigned n = 0;

	if (g->ev.n > 1) {
		qsort(g->ev.v, g->ev.n, sizeof(g->ev.v[0]), event_cmp);
	}
	for (unsigned i = g->ev.n; i-- > 0;) {
		struct gen_bed *b = &g->beds[g->ev.v[i].bed - 1];

		g->ev.v[i].next = b->first_event;
		b->first_event = (int32_t)i;
	}
	g->marks = calloc(2 * (size_t)g->ev.n + 1, sizeof(*g->marks));
	if (g->marks == NULL) {
		return -ENOMEM;
	}
	for (unsigned i = 0; i < g->ev.n; i++) {
		const struct gen_event *e = &g->ev.v[i];

		if (e->start_us >= d_us) {
			fprintf(stderr,
				"vigil-gen: warning: %s on bed %u at %.3f s starts after "
				"--duration "
				"(%u s) ends; it is left out\n",
				gen_kinds[e->kind].name, e->bed, (double)e->start_us / GEN_US,
				g->o.duration_s);
			continue;
		}
		if (e->kind == GK_SEQGAP) {
			g->marks[n++] = (struct gen_mark){e->start_us, i, GP_TPOINT};
			continue;
		}
		g->marks[n++] = (struct gen_mark){e->start_us, i, GP_START};
		if (e->end_us <= d_us) {
			g->marks[n++] = (struct gen_mark){e->end_us, i, GP_END};
		} else {
			fprintf(stderr,
				"vigil-gen: warning: %s on bed %u ends at %.3f s, after --duration "
				"(%u s): the truth file has its start only\n",
				gen_kinds[e->kind].name, e->bed, (double)e->end_us / GEN_US,
				g->o.duration_s);
		}
	}
	if (n > 1) {
		qsort(g->marks, n, sizeof(g->marks[0]), mark_cmp);
	}
	g->n_marks = n;
	return 0;
}

/* --udp HOST[:PORT], HOST may be [IPv6]. */
static int
udp_open(struct gen *g)
{
	char host[256];
	const char *t = g->o.udp_target, *port = NULL, *close;
	struct addrinfo hints, *res = NULL;
	size_t hlen;
	int rc;

	if (t[0] == '[') {
		close = strchr(t, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			fprintf(stderr, "vigil-gen: --udp '%s': [IPv6]:PORT expected\n", t);
			return -EINVAL;
		}
		hlen = (size_t)(close - t - 1);
		t++;
		port = close[1] == ':' ? close + 2 : NULL;
	} else {
		close = strrchr(t, ':');
		hlen = close != NULL ? (size_t)(close - t) : strlen(t);
		port = close != NULL ? close + 1 : NULL;
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		fprintf(stderr, "vigil-gen: --udp '%s': no host\n", g->o.udp_target);
		return -EINVAL;
	}
	memcpy(host, t, hlen);
	host[hlen] = '\0';
	if (port != NULL) {
		uint64_t v;

		if (parse_u64(port, 1, 65535, &v) != 0) {
			fprintf(stderr, "vigil-gen: --udp '%s': bad port\n", g->o.udp_target);
			return -EINVAL;
		}
		g->udp_port_given = true;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	rc = getaddrinfo(host, port != NULL ? port : "0", &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "vigil-gen: --udp '%s': %s\n", g->o.udp_target, gai_strerror(rc));
		return -EINVAL;
	}
	g->sock = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (g->sock < 0) {
		rc = -errno;
		fprintf(stderr, "vigil-gen: --udp: socket: %s\n", strerror(errno));
		freeaddrinfo(res);
		return rc;
	}
	memcpy(&g->udp_addr, res->ai_addr, res->ai_addrlen);
	g->udp_addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
gen_setup(struct gen *g)
{
	uint64_t ev_rng = rng_mix(g->o.seed ^ 0x6576656e7473ull); /* "events" */
	int rc;

	rc = codes_resolve();
	if (rc != 0) {
		return GEN_EXIT_FAIL;
	}
	if (!g->o.start_given) {
		if (g->o.udp_target != NULL) {
			struct timespec now;

			clock_gettime(CLOCK_REALTIME, &now);
			g->o.start_us = (int64_t)now.tv_sec * GEN_US + now.tv_nsec / 1000;
		} else {
			g->o.start_us = GEN_DEFAULT_START_S * GEN_US;
		}
	}
	g->beds = calloc(g->o.beds, sizeof(*g->beds));
	g->order = calloc(g->o.beds, sizeof(*g->order));
	if (g->beds == NULL || g->order == NULL) {
		fprintf(stderr, "vigil-gen: no memory for %u beds\n", g->o.beds);
		return GEN_EXIT_FAIL;
	}
	for (unsigned i = 0; i < g->o.beds; i++) {
		bed_init(&g->beds[i], i + 1, &g->o);
		g->order[i] = i;
	}
	sort_beds = g->beds;
	qsort(g->order, g->o.beds, sizeof(g->order[0]), phase_cmp);

	if (g->o.events_path != NULL) {
		rc = events_load(g->o.events_path, &g->o, &ev_rng, &g->ev);
		if (rc != 0) {
			return rc == -ENOMEM || rc == -EIO ? GEN_EXIT_FAIL : GEN_EXIT_USAGE;
		}
	}
	if (g->o.scenario_demo) {
		rc = scenario_demo(&g->o, &ev_rng, &g->ev);
		if (rc != 0) {
			return rc == -ENOMEM ? GEN_EXIT_FAIL : GEN_EXIT_USAGE;
		}
	}
	if (events_prepare(g) != 0) {
		fprintf(stderr, "vigil-gen: no memory for the events\n");
		return GEN_EXIT_FAIL;
	}

	g->sock = -1;
	if (g->o.udp_target != NULL && udp_open(g) != 0) {
		return GEN_EXIT_USAGE;
	}
	if (g->o.pcap_path != NULL) {
		g->pcap = fr_pcap_open(g->o.pcap_path);
		if (g->pcap == NULL) {
			fprintf(stderr, "vigil-gen: --pcap %s: %s\n", g->o.pcap_path,
				strerror(errno));
			return GEN_EXIT_FAIL;
		}
		g->c.pcap_bytes = 24;
	}
	if (g->o.truth_path != NULL) {
		g->truth = fopen(g->o.truth_path, "w");
		if (g->truth == NULL) {
			fprintf(stderr, "vigil-gen: --truth %s: %s\n", g->o.truth_path,
				strerror(errno));
			return GEN_EXIT_FAIL;
		}
	}
	g->pace = g->o.udp_target != NULL || g->o.realtime;
	clock_gettime(CLOCK_MONOTONIC, &g->wall0);
	return 0;
}

static int
gen_close(struct gen *g, int status)
{
	int rc;

	if (g->pcap != NULL) {
		rc = fr_pcap_close(g->pcap);
		g->pcap = NULL;
		if (rc != 0 && status == 0) {
			fprintf(stderr, "vigil-gen: --pcap %s: %s\n", g->o.pcap_path,
				strerror(-rc));
			status = GEN_EXIT_FAIL;
		}
	}
	if (g->truth != NULL) {
		if ((fflush(g->truth) != 0 || ferror(g->truth)) && status == 0) {
			fprintf(stderr, "vigil-gen: --truth %s: write error\n", g->o.truth_path);
			status = GEN_EXIT_FAIL;
		}
		if (fclose(g->truth) != 0 && status == 0) {
			fprintf(stderr, "vigil-gen: --truth %s: %s\n", g->o.truth_path,
				strerror(errno));
			status = GEN_EXIT_FAIL;
		}
		g->truth = NULL;
	}
	if (g->sock >= 0) {
		close(g->sock);
		g->sock = -1;
	}
	free(g->beds);
	free(g->order);
	free(g->ev.v);
	free(g->marks);
	return status;
}

/* ------------------------------------------------------------------------ */
/* main                                                                      */
/* ------------------------------------------------------------------------ */

int
main(int argc, char **argv)
{
	static struct gen g; /* large buffers: not on the stack */
	double t0;
	int status;

	if (parse_opts(argc, argv, &g.o) != 0) {
		return GEN_EXIT_USAGE;
	}
	status = gen_setup(&g);
	if (status != 0) {
		return gen_close(&g, status);
	}
	t0 = mono_s();
	for (unsigned s = 0; s < g.o.duration_s && status == 0; s++) {
		for (unsigned i = 0; i < g.o.beds; i++) {
			unsigned idx = g.order[i];

			truth_flush(&g, (int64_t)s * GEN_US + g.beds[idx].phase_us);
			if (bed_tick(&g, idx, s) != 0) {
				status = GEN_EXIT_FAIL;
				break;
			}
		}
	}
	if (status == 0) {
		truth_flush(&g, (int64_t)g.o.duration_s * GEN_US);
	}
	status = gen_close(&g, status);
	if (!g.o.quiet) {
		fprintf(stderr,
			"vigil-gen: %s beds=%u seconds=%u datagrams=%" PRIu64 " hl7=%" PRIu64
			" vtp=%" PRIu64 " oru_r01=%" PRIu64 " oru_r40=%" PRIu64 " hl7_obx=%" PRIu64
			" hl7_metric_obx=%" PRIu64 " r40_obx=%" PRIu64 " vtp_obs=%" PRIu64
			" device_alarms=%" PRIu64 " scripted=%" PRIu64 " payload_bytes=%" PRIu64
			" frames_bytes=%" PRIu64 " pcap_bytes=%" PRIu64 " elapsed_s=%.3f\n",
			status == 0 ? "done" : "FAILED", g.o.beds, g.o.duration_s, g.c.datagrams,
			g.c.hl7, g.c.vtp, g.c.oru_r01, g.c.oru_r40, g.c.hl7_obx, g.c.hl7_metric_obx,
			g.c.r40_obx, g.c.vtp_obs, g.c.device_alarms, g.c.scripted_marks,
			g.c.payload_bytes, g.c.frames_bytes,
			g.o.pcap_path != NULL ? g.c.pcap_bytes : 0, mono_s() - t0);
	}
	return status;
}
