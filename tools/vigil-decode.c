/*
 * vigil-decode.c - show what vigil's decoders make of a capture or a file of
 * HL7 messages: one line per observation and one per device alarm.
 *
 *   vigil-decode [--json] [--fields [--raw]] [--hl7-port N]... [--vtp-port N]...
 *                FILE...
 *
 * An engineer who wonders why a bed shows no SpO2 needs to see exactly what
 * the worker saw, not what another parser would have made of the bytes. So
 * this tool runs the data plane's own functions and nothing else: frames of
 * a capture go through dp_classify, UDP payloads through dp_mllp_decode or
 * dp_vtp_decode, text messages through dp_hl7_decode, with the counters the
 * worker would have moved telling what went wrong.
 *
 * Input, recognised per file ("-" is standard input):
 *   - a classic pcap (magic a1b2c3d4 or a1b23c4d, either byte order;
 *     Ethernet only). Every frame goes through dp_classify with no own
 *     addresses and the telemetry ports 2575 (HL7) and 4575 (VTP), or those
 *     given with --hl7-port/--vtp-port; UDP checksums are verified, as by
 *     vigild's default. Each HL7 payload goes whole through dp_mllp_decode
 *     (one datagram, as the worker gets it), each VTP payload through
 *     dp_vtp_decode without a sequence table (a file is no stream: gaps,
 *     duplicates and reordering are vigild's to count). Frames that are not
 *     telemetry are counted by drop reason in the summary, not as errors:
 *     a capture holds ARP and the like.
 *   - an MLLP-framed file: its first byte after optional whitespace is 0x0B.
 *     It is cut into its frames (0x0B up to 0x1C 0x0D, or up to the next
 *     0x0B when unterminated) and the bytes between them, and each piece
 *     goes through dp_mllp_decode, so that a bad one has its own offset.
 *     Whitespace-only runs between frames are skipped (files put newlines
 *     there; on the wire they would count as mllp_outside).
 *   - otherwise HL7 text: a message starts at every line that begins with
 *     "MSH"; segments end with CR, LF or CRLF. Each message, with trailing
 *     blank lines and whitespace cut but one segment terminator kept, goes
 *     through dp_hl7_decode. Anything before the first MSH that is not
 *     whitespace is handed over as a message too (and is counted no_msh).
 *
 * Output on stdout, one line per observation and per device alarm: aligned
 * text, or with --json one JSON object per line:
 *
 *   {"type":"obs","device":"0123456789ABCDEF","patient":"...","location":"...",
 *    "code":150456,"name":"SPO2","value":80.5,"unit":"%","flags":[...],
 *    "valid":true,"time":"2009-07-15T07:07:07Z","source":"FILE#2"}
 *   {"type":"alarm","device":...,"patient":...,"location":...,"event":196648,
 *    "event_name":"MDC_EVT_HI","source_code":149538,"source_value":160,"phase":"start",
 *    "state":"active","inactivation":"enabled","priority":"high",
 *    "alarm_type":"physiological","text":"...","time":...,"source":"FILE#1"}
 *
 * device is the 64-bit id in 16 upper-case hex digits; patient and location
 * are unescaped ("" when absent); unit is the UCUM text of the code table's
 * unit, else the first component of the OBX-6 sent, else null; value is null
 * when NaN (no value) or infinite (JSON has no infinity: the flags say why);
 * integral values print as integers, others with the fewest digits that
 * read back to the same double; flags lists dp_obs_flag_name of every bit
 * but INVALID, which is `valid`; time is ISO-8601 UTC with the precision the
 * message had (day, hour, minute, second, and fractional digits), null when
 * none was sent. source is FILE#N: N the 1-based frame number of a pcap, or
 * the 1-based index of the message (text) or MLLP frame (MLLP file).
 * event_name is the code table's reference id of the event code
 * (rule_code_refid), null when the table does not know it; phase, state,
 * inactivation, priority and alarm_type are the dp_alarm_*_name names.
 *
 * --fields prints, instead, the parse tree of every HL7 message (including
 * those dp_hl7_decode would not take, such as ADT or ACK) as one JSON line
 * (in a pcap, of every MLLP frame in an HL7 datagram; VTP has no tree):
 *
 *   {"segments":[["MSH",[field, field, ...]], ["PID",[...]], ...]}
 *
 * Each field is a list of repetitions, a repetition a list of components, a
 * component a list of sub-components, a sub-component a string: the value
 * with dp_hl7_unescape applied (--raw: as sent, escapes in place). The tree
 * is built from dp_hl7_get and dp_hl7_field_count only. Its conventions are
 * those of python3-hl7 (hl7.parse), so the differential test can compare
 * the two directly:
 *   - a segment's list of fields starts with field 1; the segment name is
 *     not a field. An empty field is [[[""]]], a field without separators
 *     [[["value"]]] (python3-hl7 keeps such a field as a bare string; the
 *     test normalises that to the same nesting).
 *   - MSH-1 is the field separator itself, as one value ([[["|"]]]), and
 *     MSH-2 the encoding characters as one value, never split and never
 *     unescaped ([[["^~\\&"]]], or "^~\\&#" with a truncation character):
 *     exactly what python3-hl7 puts in message[0][1] and message[0][2].
 *     The next field is MSH-3, as HL7 numbers it.
 *   - blank lines are no segments (dp_hl7_parse skips them).
 * Strings are UTF-8; a byte that is not part of valid UTF-8 prints as
 * U+FFFD. A message that does not parse, or has more segments than
 * dp_hl7_parse keeps (DP_HL7_MAX_SEGMENTS), prints no tree and is
 * reported as bad input.
 *
 * Bad input: every message, MLLP piece or frame that moved an error counter
 * (any HL7 or VTP counter but messages, observations, device_alarms and
 * frames) is reported on stderr as `FILE:OFFSET: REASON`, OFFSET the byte offset in
 * the file of the message, the MLLP piece, or (pcap) the UDP payload, and
 * REASON the counter's description (dp_hl7_counter_desc/dp_vtp_counter_desc),
 * followed by " (xN)" when the counter moved N > 1 times and by " (frame N)"
 * in a pcap. The counters are those of a zeroed struct dp_stats around each
 * call. The good messages around a bad one still print.
 *
 * At the end a summary goes to stderr: messages and frames decoded,
 * observations, alarms, errors. Exit status: 0, 1 if anything was bad, 2 for
 * a usage error or a file that cannot be read (the message names the file
 * and the reason).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "dataplane.h"
#include "input.h"
#include "rules.h"

#define DECODE_HL7_PORT 2575
#define DECODE_VTP_PORT 4575
/* Unescaping never lengthens a value, and a span is at most 64 KiB. */
#define DECODE_TEXT_ROOM (UINT16_MAX + 1u)

enum decode_status {
	DECODE_OK = 0,
	DECODE_BAD_INPUT = 1,
	DECODE_USAGE = 2,
};

static const char usage_text[] =
	"usage: vigil-decode [--json] [--fields [--raw]] [--hl7-port N]... [--vtp-port N]...\n"
	"                    FILE...\n"
	"\n"
	"Decode HL7 v2 messages (text or MLLP-framed) or a pcap capture with vigil's own\n"
	"decoders and print one line per observation and per device alarm.\n"
	"\n"
	"  --json        JSON lines instead of aligned text\n"
	"  --fields      print each HL7 message's parse tree as one JSON line instead\n"
	"  --raw         with --fields: values as sent, escape sequences left in place\n"
	"  --hl7-port N  UDP port of HL7/MLLP telemetry in a pcap (default 2575; repeatable)\n"
	"  --vtp-port N  UDP port of VTP telemetry in a pcap (default 4575; repeatable)\n"
	"  -h, --help    this text\n"
	"\n"
	"Errors go to stderr as FILE:OFFSET: REASON. Exit status: 0 all good, 1 bad\n"
	"input, 2 usage or unreadable file.\n";

/* ------------------------------------------------------------------------ */
/* State                                                                     */
/* ------------------------------------------------------------------------ */

struct decode_opts {
	bool json;
	bool fields;
	bool raw;
	struct dp_local local; /* no own addresses: only the telemetry ports matter */
};

struct decode_totals {
	uint64_t frames;	/* pcap frames */
	uint64_t not_telemetry; /* pcap frames dp_classify did not hand to a decoder */
	uint64_t drop[DP_DROP__COUNT];
	uint64_t messages; /* HL7 messages and VTP frames decoded (or parsed, --fields) */
	uint64_t observations;
	uint64_t alarms;
	uint64_t errors;
};

/* Where the message at hand came from: for `source` and for error lines. */
struct decode_ctx {
	const struct decode_opts *opts;
	struct decode_totals *tot;
	const char *file;
	unsigned long index; /* 1-based: pcap frame, text message, MLLP frame */
	unsigned long frame; /* pcap frame number for error lines, 0 otherwise */
};

/* Large and reused: one message is decoded at a time. */
static struct dp_decoded decoded;
static struct dp_hl7_msg hl7_msg;
static char text_buf[DECODE_TEXT_ROOM];

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at @p p (at most @p n bytes), 0 if invalid. */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * A JSON string of @p n bytes: as they are when they are UTF-8, else with
 * every byte that does not belong to a valid sequence replaced by U+FFFD.
 * Returns NULL only when out of memory.
 */
static json_t *
json_bytes(const void *data, size_t n)
{
	const uint8_t *p = data;
	json_t *s = json_stringn((const char *)p, n);
	char *fixed;
	size_t o = 0;

	if (s)
		return s;
	fixed = malloc(3 * n + 1);
	if (!fixed)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);

		if (k == 0) {
			memcpy(fixed + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(fixed + o, p + i, k);
			o += k;
			i += k;
		}
	}
	s = json_stringn(fixed, o);
	free(fixed);
	return s;
}

/*
 * Append @p value to @p container (an array when @p key is NULL, else an
 * object). Reference stolen. Returns false when out of memory.
 */
static bool
put(json_t *container, const char *key, json_t *value)
{
	if (!value)
		return false;
	if (key)
		return json_object_set_new(container, key, value) == 0;
	return json_array_append_new(container, value) == 0;
}

/*
 * A number for JSON: null for NaN and infinities, an integer when the value
 * is one (and exact in a double), else a real. @p digits receives how many
 * significant digits print the value so that it reads back the same.
 */
static json_t *
json_value(double v, int *digits)
{
	char buf[40];

	if (!isfinite(v))
		return json_null();
	if (v == floor(v) && fabs(v) < 9007199254740992.0)
		return json_integer((json_int_t)v);
	for (*digits = 15; *digits < 17; (*digits)++) {
		snprintf(buf, sizeof(buf), "%.*g", *digits, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return json_real(v);
}

/* Print @p obj as one line; false when out of memory or stdout failed. */
static bool
print_json(json_t *obj, int digits)
{
	size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(digits);
	char *s = json_dumps(obj, flags);
	int rc;

	if (!s)
		return false;
	rc = printf("%s\n", s);
	free(s);
	return rc >= 0;
}

/*
 * ISO-8601 UTC with the precision HL7 gave (@p prec digits: 4 year, 6 month,
 * 8 day, 10 hour, 12 minute, 14 second, 15..23 fractional digits; 0 for a
 * source that states none, such as VTP: nanoseconds without trailing zeros).
 * Returns false when there is no time (0).
 */
static bool
format_time(int64_t ns, uint8_t prec, char *out, size_t room)
{
	int64_t secs = ns / 1000000000;
	int64_t frac = ns % 1000000000;
	struct tm tm;
	time_t t;
	int n;

	if (ns == 0)
		return false;
	if (frac < 0) {
		frac += 1000000000;
		secs--;
	}
	t = (time_t)secs;
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, room, "@%" PRId64 "ns", ns);
		return true;
	}
	if (prec == 0) {
		prec = 23;
		for (int64_t f = frac; prec > 14 && f % 10 == 0; f /= 10)
			prec--;
	}
	if (prec < 6)
		n = snprintf(out, room, "%04d", tm.tm_year + 1900);
	else if (prec < 8)
		n = snprintf(out, room, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
	else if (prec < 10)
		n = snprintf(out, room, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
			     tm.tm_mday);
	else if (prec < 12)
		n = snprintf(out, room, "%04d-%02d-%02dT%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
			     tm.tm_mday, tm.tm_hour);
	else if (prec < 14)
		n = snprintf(out, room, "%04d-%02d-%02dT%02d:%02dZ", tm.tm_year + 1900,
			     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min);
	else
		n = snprintf(out, room, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
			     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (prec >= 14 && n > 0 && (size_t)n < room) {
		unsigned digits = prec > 23 ? 9 : prec - 14u;
		char f[16];

		snprintf(f, sizeof(f), "%09" PRId64, frac);
		if (digits > 0)
			snprintf(out + n, room - (size_t)n, ".%.*sZ", (int)digits, f);
		else
			snprintf(out + n, room - (size_t)n, "Z");
	}
	return true;
}

/* ------------------------------------------------------------------------ */
/* Error lines                                                               */
/* ------------------------------------------------------------------------ */

/* The counters that count what decoded; every other one is a malformation. */
static bool
hl7_counter_is_error(unsigned c)
{
	return c != DP_HL7_messages && c != DP_HL7_observations && c != DP_HL7_device_alarms;
}

static bool
vtp_counter_is_error(unsigned c)
{
	return c != DP_VTP_frames && c != DP_VTP_observations;
}

static void
report(struct decode_ctx *ctx, size_t off, const char *reason, uint64_t times)
{
	fprintf(stderr, "%s:%zu: %s", ctx->file, off, reason);
	if (times > 1)
		fprintf(stderr, " (x%" PRIu64 ")", times);
	if (ctx->frame)
		fprintf(stderr, " (frame %lu)", ctx->frame);
	fputc('\n', stderr);
	ctx->tot->errors += times;
}

/*
 * Report every error counter that @p s (zeroed before the call) shows moved,
 * add what decoded to the totals. Returns the number of error counts.
 */
static uint64_t
report_stats(struct decode_ctx *ctx, size_t off, const struct dp_stats *s)
{
	uint64_t bad = 0;

	for (unsigned c = 0; c < DP_HL7__COUNT; c++) {
		uint64_t n = dp_read(&s->hl7[c]);

		if (n && hl7_counter_is_error(c)) {
			report(ctx, off, dp_hl7_counter_desc((enum dp_hl7_counter)c), n);
			bad += n;
		}
	}
	for (unsigned c = 0; c < DP_VTP__COUNT; c++) {
		uint64_t n = dp_read(&s->vtp[c]);

		if (n && vtp_counter_is_error(c)) {
			report(ctx, off, dp_vtp_counter_desc((enum dp_vtp_counter)c), n);
			bad += n;
		}
	}
	ctx->tot->messages += dp_read(&s->hl7[DP_HL7_messages]) + dp_read(&s->vtp[DP_VTP_frames]);
	return bad;
}

/* ------------------------------------------------------------------------ */
/* Observations and alarms                                                   */
/* ------------------------------------------------------------------------ */

/*
 * The text of span @p s of @p d's message, unescaped with the message's
 * delimiters when it is HL7 (@p m not NULL), into text_buf.
 */
static size_t
span_text(const struct dp_hl7_msg *m, const struct dp_decoded *d, struct dp_span s)
{
	size_t n;

	if (s.len == 0 || !d->msg || (uint32_t)s.off + s.len > d->msg_len)
		return 0;
	if (!m) {
		memcpy(text_buf, d->msg + s.off, s.len);
		return s.len;
	}
	n = dp_hl7_unescape(m, s, text_buf, sizeof(text_buf));
	return n < sizeof(text_buf) ? n : sizeof(text_buf);
}

/* The first component of @p s: the unit's identifier in OBX-6. */
static struct dp_span
first_component(const struct dp_hl7_msg *m, const struct dp_decoded *d, struct dp_span s)
{
	if (!m)
		return s;
	for (uint16_t i = 0; i < s.len; i++) {
		if (d->msg[s.off + i] == (uint8_t)m->cs) {
			s.len = i;
			break;
		}
	}
	return s;
}

static void
device_hex(uint64_t device, char out[17])
{
	snprintf(out, 17, "%016" PRIX64, device);
}

static void
flags_text(uint32_t flags, char *out, size_t room)
{
	size_t o = 0;

	out[0] = '\0';
	for (unsigned b = 0; b < DP_OBS_BIT__COUNT; b++) {
		if (b == DP_OBS_BIT_INVALID || !(flags & (UINT32_C(1) << b)))
			continue;
		int n = snprintf(out + o, room - o, "%s%s", o ? "," : "",
				 dp_obs_flag_name((enum dp_obs_bit)b));
		if (n < 0 || (size_t)n >= room - o)
			break;
		o += (size_t)n;
	}
	if (o == 0)
		snprintf(out, room, "-");
}

static bool
json_common(json_t *o, const char *type, const struct dp_hl7_msg *m, const struct dp_decoded *d,
	    uint64_t device, struct dp_span patient, struct dp_span location)
{
	char hex[17];
	size_t n;

	device_hex(device, hex);
	if (!put(o, "type", json_string(type)) || !put(o, "device", json_string(hex)))
		return false;
	n = span_text(m, d, patient);
	if (!put(o, "patient", json_bytes(text_buf, n)))
		return false;
	n = span_text(m, d, location);
	return put(o, "location", json_bytes(text_buf, n));
}

static json_t *
json_time(int64_t ns, uint8_t prec)
{
	char t[64];

	return format_time(ns, prec, t, sizeof(t)) ? json_string(t) : json_null();
}

static json_t *
json_source(const struct decode_ctx *ctx)
{
	char *s = NULL;
	json_t *j;

	if (asprintf(&s, "%s#%lu", ctx->file, ctx->index) < 0)
		return NULL;
	j = json_bytes(s, strlen(s));
	free(s);
	return j;
}

static const char *
metric_name(const struct dp_obs *o)
{
	const struct rule_metric *rm = o->metric ? o->metric : rule_metric_by_code(o->code);

	return rm ? rm->name : NULL;
}

/* The unit as text: the table's UCUM, else the identifier sent; NULL if none. */
static const char *
unit_text(const struct dp_hl7_msg *m, const struct dp_decoded *d, const struct dp_obs *o,
	  size_t *len)
{
	const struct rule_unit *u = o->unit ? rule_unit_by_code(o->unit) : NULL;

	if (u && u->ucum) {
		*len = strlen(u->ucum);
		return u->ucum;
	}
	*len = span_text(m, d, first_component(m, d, o->unit_text));
	return *len ? text_buf : NULL;
}

static int
print_obs_json(const struct decode_ctx *ctx, const struct dp_hl7_msg *m, const struct dp_decoded *d,
	       const struct dp_obs *o)
{
	json_t *obj = json_object(), *flags = json_array();
	const char *name = metric_name(o), *unit;
	int digits = 15, rc = -ENOMEM;
	size_t ulen;

	if (!obj || !flags)
		goto out;
	if (!json_common(obj, "obs", m, d, o->device, o->patient, o->location))
		goto out;
	if (!put(obj, "code", json_integer(o->code)) ||
	    !put(obj, "name", name ? json_string(name) : json_null()) ||
	    !put(obj, "value", json_value(o->value, &digits)))
		goto out;
	unit = unit_text(m, d, o, &ulen);
	if (!put(obj, "unit", unit ? json_bytes(unit, ulen) : json_null()))
		goto out;
	for (unsigned b = 0; b < DP_OBS_BIT__COUNT; b++) {
		if (b != DP_OBS_BIT_INVALID && (o->flags & (UINT32_C(1) << b)) &&
		    !put(flags, NULL, json_string(dp_obs_flag_name((enum dp_obs_bit)b))))
			goto out;
	}
	if (!put(obj, "flags", json_incref(flags)) ||
	    !put(obj, "valid", json_boolean(!(o->flags & DP_OBS(INVALID)))) ||
	    !put(obj, "time", json_time(o->time_ns, o->time_precision)) ||
	    !put(obj, "source", json_source(ctx)))
		goto out;
	rc = print_json(obj, digits) ? 0 : -EIO;
out:
	json_decref(flags);
	json_decref(obj);
	return rc;
}

static int
print_obs_text(const struct dp_hl7_msg *m, const struct dp_decoded *d, const struct dp_obs *o)
{
	char hex[17], flags[512], t[64], value[40], code[16], patient[64], location[64], unit[32];
	const char *name = metric_name(o), *u;
	size_t n;

	device_hex(o->device, hex);
	n = span_text(m, d, o->patient);
	snprintf(patient, sizeof(patient), "%.*s", n ? (int)n : 1, n ? text_buf : "-");
	n = span_text(m, d, o->location);
	snprintf(location, sizeof(location), "%.*s", n ? (int)n : 1, n ? text_buf : "-");
	u = unit_text(m, d, o, &n);
	snprintf(unit, sizeof(unit), "%.*s", u ? (int)n : 1, u ? u : "-");
	snprintf(code, sizeof(code), "%" PRIu32, o->code);
	if (isnan(o->value))
		snprintf(value, sizeof(value), "-");
	else
		snprintf(value, sizeof(value), "%.15g", o->value);
	flags_text(o->flags, flags, sizeof(flags));
	if (!format_time(o->time_ns, o->time_precision, t, sizeof(t)))
		snprintf(t, sizeof(t), "-");
	if (printf("%s  %-12s %-12s %-16s %12s %-10s %-14s %-7s %s\n", hex, patient, location,
		   name ? name : code, value, unit, flags,
		   (o->flags & DP_OBS(INVALID)) ? "invalid" : "valid", t) < 0)
		return -EIO;
	return 0;
}

static int
print_alarm_json(const struct decode_ctx *ctx, const struct dp_hl7_msg *m,
		 const struct dp_decoded *d, const struct dp_dev_alarm *a)
{
	json_t *obj = json_object();
	int digits = 15, rc = -ENOMEM;
	const char *event;
	size_t n;

	if (!obj)
		goto out;
	if (!json_common(obj, "alarm", m, d, a->device, a->patient, a->location))
		goto out;
	event = rule_code_refid(a->event_code);
	if (!put(obj, "event", json_integer(a->event_code)) ||
	    !put(obj, "event_name", event ? json_string(event) : json_null()) ||
	    !put(obj, "source_code", json_integer(a->source_code)) ||
	    !put(obj, "source_value", json_value(a->source_value, &digits)) ||
	    !put(obj, "phase", json_string(dp_alarm_phase_name(a->phase))) ||
	    !put(obj, "state", json_string(dp_alarm_state_name(a->state))) ||
	    !put(obj, "inactivation", json_string(dp_alarm_inactivation_name(a->inactivation))) ||
	    !put(obj, "priority", json_string(dp_alarm_priority_name(a->priority))) ||
	    !put(obj, "alarm_type", json_string(dp_alarm_type_name(a->type))))
		goto out;
	n = span_text(m, d, a->text);
	if (!put(obj, "text", json_bytes(text_buf, n)) ||
	    !put(obj, "time", json_time(a->time_ns, 0)) || !put(obj, "source", json_source(ctx)))
		goto out;
	rc = print_json(obj, digits) ? 0 : -EIO;
out:
	json_decref(obj);
	return rc;
}

static int
print_alarm_text(const struct dp_hl7_msg *m, const struct dp_decoded *d,
		 const struct dp_dev_alarm *a)
{
	char hex[17], t[64], value[40], patient[64], location[64], code[16];
	const char *event;
	size_t n;

	device_hex(a->device, hex);
	n = span_text(m, d, a->patient);
	snprintf(patient, sizeof(patient), "%.*s", n ? (int)n : 1, n ? text_buf : "-");
	n = span_text(m, d, a->location);
	snprintf(location, sizeof(location), "%.*s", n ? (int)n : 1, n ? text_buf : "-");
	if (isnan(a->source_value))
		snprintf(value, sizeof(value), "-");
	else
		snprintf(value, sizeof(value), "%.15g", a->source_value);
	if (!format_time(a->time_ns, 0, t, sizeof(t)))
		snprintf(t, sizeof(t), "-");
	event = rule_code_refid(a->event_code);
	snprintf(code, sizeof(code), "%" PRIu32, a->event_code);
	n = span_text(m, d, a->text);
	if (printf("%s  %-12s %-12s ALARM %s source %" PRIu32 "=%s %s %s %s %s %s "
		   "\"%.*s\" %s\n",
		   hex, patient, location, event ? event : code, a->source_code, value,
		   dp_alarm_phase_name(a->phase), dp_alarm_state_name(a->state),
		   dp_alarm_inactivation_name(a->inactivation), dp_alarm_priority_name(a->priority),
		   dp_alarm_type_name(a->type), (int)n, text_buf, t) < 0)
		return -EIO;
	return 0;
}

/* dp_decoded_fn: print what one message or frame decoded to. */
static void
on_decoded(void *arg, const struct dp_decoded *d)
{
	struct decode_ctx *ctx = arg;
	const struct dp_hl7_msg *m = NULL;
	enum dp_hl7_counter why;
	int rc = 0;

	/* The spans of an HL7 message are unescaped with its own delimiters. */
	if (d->kind != DP_MSG_VTP && d->msg &&
	    dp_hl7_parse(&hl7_msg, d->msg, d->msg_len, &why) == 0)
		m = &hl7_msg;
	for (unsigned i = 0; i < d->n_obs && i < DP_MAX_OBS && rc == 0; i++) {
		rc = ctx->opts->json ? print_obs_json(ctx, m, d, &d->obs[i])
				     : print_obs_text(m, d, &d->obs[i]);
		ctx->tot->observations++;
	}
	for (unsigned i = 0; i < d->n_alarms && i < DP_MAX_DEV_ALARMS && rc == 0; i++) {
		rc = ctx->opts->json ? print_alarm_json(ctx, m, d, &d->alarm[i])
				     : print_alarm_text(m, d, &d->alarm[i]);
		ctx->tot->alarms++;
	}
	if (rc) {
		fprintf(stderr, "vigil-decode: writing to stdout: %s\n", strerror(-rc));
		exit(DECODE_USAGE);
	}
}

/* ------------------------------------------------------------------------ */
/* --fields: the parse tree                                                  */
/* ------------------------------------------------------------------------ */

static json_t *
leaf(const struct dp_hl7_msg *m, struct dp_span s, bool raw)
{
	size_t n;

	if (raw)
		return json_bytes(m->buf + s.off, s.len);
	n = dp_hl7_unescape(m, s, text_buf, sizeof(text_buf));
	return json_bytes(text_buf, n < sizeof(text_buf) ? n : sizeof(text_buf));
}

/* [[[value]]]: a field that is one value, never split (MSH-1, MSH-2). */
static json_t *
whole_field(const uint8_t *p, size_t n)
{
	json_t *rep = json_array(), *comp = json_array(), *field = json_array();

	if (!rep || !comp || !field || !put(comp, NULL, json_bytes(p, n)) ||
	    !put(rep, NULL, json_incref(comp)) || !put(field, NULL, json_incref(rep))) {
		json_decref(field);
		field = NULL;
	}
	json_decref(rep);
	json_decref(comp);
	return field;
}

/*
 * Field @p f of segment @p seg as repetitions of components of
 * sub-components, from dp_hl7_get. Each level has at most one item more
 * than the message has bytes, which bounds the loops.
 */
static json_t *
field_tree(const struct dp_hl7_msg *m, unsigned seg, unsigned f, bool raw)
{
	json_t *field = json_array(), *reps = NULL, *comps = NULL;
	unsigned limit = m->len + 2u;
	struct dp_span s;

	if (!field)
		return NULL;
	for (unsigned r = 1; r < limit && dp_hl7_get(m, seg, f, r, 0, 0, &s); r++) {
		reps = json_array();
		if (!reps)
			goto fail;
		for (unsigned c = 1; c < limit && dp_hl7_get(m, seg, f, r, c, 0, &s); c++) {
			comps = json_array();
			if (!comps)
				goto fail;
			for (unsigned sc = 1; sc < limit && dp_hl7_get(m, seg, f, r, c, sc, &s);
			     sc++)
				if (!put(comps, NULL, leaf(m, s, raw)))
					goto fail;
			if (!put(reps, NULL, comps)) {
				comps = NULL;
				goto fail;
			}
			comps = NULL;
		}
		if (!put(field, NULL, reps)) {
			reps = NULL;
			goto fail;
		}
		reps = NULL;
	}
	return field;
fail:
	json_decref(comps);
	json_decref(reps);
	json_decref(field);
	return NULL;
}

static json_t *
segment_tree(const struct dp_hl7_msg *m, unsigned seg, bool raw)
{
	const uint8_t *p = m->buf + m->seg[seg].off;
	size_t len = m->seg[seg].len, name_len = 0, f0 = 1;
	unsigned nf = dp_hl7_field_count(m, seg);
	json_t *pair = json_array(), *fields = json_array();

	if (!pair || !fields)
		goto fail;
	while (name_len < len && p[name_len] != (uint8_t)m->fs)
		name_len++;
	if (!put(pair, NULL, json_bytes(p, name_len)))
		goto fail;
	if (name_len == 3 && memcmp(p, "MSH", 3) == 0 && len > 3) {
		size_t e = 4;

		/* MSH-1 and MSH-2, as python3-hl7 keeps them: one value each. */
		while (e < len && p[e] != (uint8_t)m->fs)
			e++;
		if (!put(fields, NULL, whole_field(p + 3, 1)) ||
		    !put(fields, NULL, whole_field(p + 4, e - 4)))
			goto fail;
		f0 = 3;
	}
	for (unsigned f = (unsigned)f0; f <= nf; f++)
		if (!put(fields, NULL, field_tree(m, seg, f, raw)))
			goto fail;
	if (!put(pair, NULL, fields)) {
		fields = NULL;
		goto fail;
	}
	return pair;
fail:
	json_decref(fields);
	json_decref(pair);
	return NULL;
}

/* Parse one message and print its tree; a message that does not parse is reported. */
static void
print_fields(struct decode_ctx *ctx, const uint8_t *msg, size_t len, size_t off)
{
	enum dp_hl7_counter why = DP_HL7_no_msh;
	json_t *obj = NULL, *segs = NULL;

	if (dp_hl7_parse(&hl7_msg, msg, len, &why) != 0) {
		report(ctx, off, dp_hl7_counter_desc(why), 1);
		return;
	}
	/* Half a tree would read as the whole message: report it instead. */
	if (hl7_msg.truncated) {
		report(ctx, off, dp_hl7_counter_desc(DP_HL7_too_many_segments), 1);
		return;
	}
	obj = json_object();
	segs = json_array();
	if (!obj || !segs)
		goto oom;
	for (unsigned i = 0; i < hl7_msg.n_seg; i++)
		if (!put(segs, NULL, segment_tree(&hl7_msg, i, ctx->opts->raw)))
			goto oom;
	if (!put(obj, "segments", segs)) {
		segs = NULL;
		goto oom;
	}
	segs = NULL;
	if (!print_json(obj, 15)) {
		fprintf(stderr, "vigil-decode: writing to stdout: %s\n", strerror(errno));
		exit(DECODE_USAGE);
	}
	json_decref(obj);
	ctx->tot->messages++;
	return;
oom:
	fprintf(stderr, "vigil-decode: out of memory\n");
	exit(DECODE_USAGE);
}

/* ------------------------------------------------------------------------ */
/* MLLP                                                                      */
/* ------------------------------------------------------------------------ */

/*
 * An MLLP-framed buffer (a file, or a datagram with --fields), piece by
 * piece; @p base is the buffer's offset in the file.
 */
static void
decode_mllp(struct decode_ctx *ctx, const uint8_t *buf, size_t len, size_t base)
{
	struct vi_piece p;
	size_t pos = 0;

	while (vi_mllp_next(buf, len, &pos, &p)) {
		const uint8_t *piece = buf + p.off;
		size_t off = base + p.off;

		/* In a file, the source of a message is its frame's number. */
		if (p.frame && !ctx->frame)
			ctx->index++;
		if (ctx->opts->fields) {
			if (!p.frame)
				report(ctx, off, dp_hl7_counter_desc(DP_HL7_mllp_outside), 1);
			else if (!p.terminated)
				report(ctx, off, dp_hl7_counter_desc(DP_HL7_mllp_unterminated), 1);
			else
				print_fields(ctx, piece + 1, p.len - 3, off);
		} else {
			struct dp_stats stats;

			memset(&stats, 0, sizeof(stats));
			dp_mllp_decode(piece, p.len, &stats, &decoded, on_decoded, ctx);
			report_stats(ctx, off, &stats);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* HL7 text                                                                  */
/* ------------------------------------------------------------------------ */

static void
decode_one_text(struct decode_ctx *ctx, const uint8_t *msg, size_t len, size_t off)
{
	struct dp_stats stats;

	if (ctx->opts->fields) {
		print_fields(ctx, msg, len, off);
		return;
	}
	memset(&stats, 0, sizeof(stats));
	memset(&decoded, 0, sizeof(decoded));
	if (dp_hl7_decode(msg, len, &stats, &decoded) == 0)
		on_decoded(ctx, &decoded);
	if (report_stats(ctx, off, &stats) == 0 && dp_read(&stats.hl7[DP_HL7_messages]) == 0)
		/* Rejected without a reason: a decoder bug worth seeing. */
		report(ctx, off, "message rejected, but no counter says why", 1);
}

static void
decode_text(struct decode_ctx *ctx, const uint8_t *buf, size_t len)
{
	struct vi_piece m;
	size_t pos = 0;

	for (ctx->index = 1; vi_text_next(buf, len, &pos, &m); ctx->index++)
		decode_one_text(ctx, buf + m.off, m.len, m.off);
}

/* ------------------------------------------------------------------------ */
/* pcap                                                                      */
/* ------------------------------------------------------------------------ */

/* Returns DECODE_USAGE when the file is no capture this tool reads. */
static enum decode_status
decode_pcap(struct decode_ctx *ctx, const uint8_t *buf, size_t len)
{
	struct vi_pcap pc;
	struct vi_frame f;
	int rc;

	if (vi_pcap_open(&pc, buf, len, "vigil-decode", ctx->file))
		return DECODE_USAGE;
	while ((rc = vi_pcap_next(&pc, &f)) != 0) {
		const uint8_t *payload;
		struct dp_pkt pkt;
		enum dp_verdict v;
		size_t off;

		ctx->index = ctx->frame = f.number;
		ctx->tot->frames++;
		if (rc < 0) {
			report(ctx, f.rec_off,
			       rc == -ENODATA ? "pcap record header cut short"
					      : "pcap record runs past the end of the file",
			       1);
			break;
		}
		v = dp_classify(&ctx->opts->local, f.data, f.caplen, 0, &pkt);
		payload = f.data + pkt.payload_off;
		off = f.off + pkt.payload_off;
		if (v == DP_VERDICT_HL7 && ctx->opts->fields) {
			if (pkt.payload_len == 0)
				report(ctx, off, dp_hl7_counter_desc(DP_HL7_mllp_empty), 1);
			decode_mllp(ctx, payload, pkt.payload_len, off);
		} else if (v == DP_VERDICT_HL7 || v == DP_VERDICT_VTP) {
			struct dp_stats stats;

			memset(&stats, 0, sizeof(stats));
			if (v == DP_VERDICT_HL7) {
				dp_mllp_decode(payload, pkt.payload_len, &stats, &decoded,
					       on_decoded, ctx);
			} else if (!ctx->opts->fields) {
				memset(&decoded, 0, sizeof(decoded));
				if (dp_vtp_decode(payload, pkt.payload_len, NULL, &stats,
						  &decoded) == 0)
					on_decoded(ctx, &decoded);
			}
			report_stats(ctx, off, &stats);
		} else {
			ctx->tot->not_telemetry++;
			if (v == DP_VERDICT_DROP && pkt.drop < DP_DROP__COUNT)
				ctx->tot->drop[pkt.drop]++;
		}
	}
	ctx->frame = 0;
	return DECODE_OK;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

static enum decode_status
decode_file(const struct decode_opts *opts, struct decode_totals *tot, const char *path)
{
	struct decode_ctx ctx = {.opts = opts, .tot = tot, .file = path};
	enum decode_status st = DECODE_OK;
	uint64_t errors = tot->errors;
	struct vi_input in;
	int rc;

	rc = vi_input_read(path, &in);
	if (rc) {
		fprintf(stderr, "vigil-decode: %s: %s\n", path, strerror(-rc));
		return DECODE_USAGE;
	}
	switch (in.kind) {
	case VI_PCAP:
		st = decode_pcap(&ctx, in.buf, in.len);
		break;
	case VI_MLLP:
		decode_mllp(&ctx, in.buf + in.start, in.len - in.start, in.start);
		break;
	case VI_TEXT:
		decode_text(&ctx, in.buf, in.len);
		break;
	}
	vi_input_free(&in);
	if (st == DECODE_OK && tot->errors > errors)
		st = DECODE_BAD_INPUT;
	return st;
}

/* ------------------------------------------------------------------------ */
/* main                                                                      */
/* ------------------------------------------------------------------------ */

static int
add_port(uint16_t *ports, uint8_t *n, const char *arg, const char *opt)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || v == 0 || v > UINT16_MAX) {
		fprintf(stderr, "vigil-decode: %s: '%s' is not a UDP port (1-65535)\n", opt, arg);
		return -EINVAL;
	}
	if (*n == DP_MAX_TELEMETRY_PORTS) {
		fprintf(stderr, "vigil-decode: %s: at most %d ports\n", opt,
			DP_MAX_TELEMETRY_PORTS);
		return -E2BIG;
	}
	ports[(*n)++] = (uint16_t)v;
	return 0;
}

static void
print_summary(const struct decode_totals *t, bool fields)
{
	fprintf(stderr, "vigil-decode: ");
	if (t->frames) {
		bool first = true;

		fprintf(stderr, "%" PRIu64 " frames (%" PRIu64 " not telemetry", t->frames,
			t->not_telemetry);
		for (unsigned d = 0; d < DP_DROP__COUNT; d++) {
			if (!t->drop[d])
				continue;
			fprintf(stderr, "%s%s %" PRIu64, first ? ": " : ", ",
				dp_drop_name((enum dp_drop)d), t->drop[d]);
			first = false;
		}
		fprintf(stderr, "), ");
	}
	if (fields)
		fprintf(stderr, "%" PRIu64 " messages parsed, %" PRIu64 " errors\n", t->messages,
			t->errors);
	else
		fprintf(stderr,
			"%" PRIu64 " messages, %" PRIu64 " observations, %" PRIu64
			" alarms, %" PRIu64 " errors\n",
			t->messages, t->observations, t->alarms, t->errors);
}

int
main(int argc, char **argv)
{
	enum { OPT_HL7_PORT = 256, OPT_VTP_PORT, OPT_RAW };
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"fields", no_argument, NULL, 'f'},
		{"raw", no_argument, NULL, OPT_RAW},
		{"hl7-port", required_argument, NULL, OPT_HL7_PORT},
		{"vtp-port", required_argument, NULL, OPT_VTP_PORT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct decode_opts opts = {0};
	struct decode_totals tot = {0};
	enum decode_status worst = DECODE_OK;
	int c;

	opts.local.udp_checksum = true; /* vigild's default */
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			opts.json = true;
			break;
		case 'f':
			opts.fields = true;
			break;
		case OPT_RAW:
			opts.raw = true;
			break;
		case OPT_HL7_PORT:
			if (add_port(opts.local.hl7_ports, &opts.local.n_hl7_ports, optarg,
				     "--hl7-port"))
				return DECODE_USAGE;
			break;
		case OPT_VTP_PORT:
			if (add_port(opts.local.vtp_ports, &opts.local.n_vtp_ports, optarg,
				     "--vtp-port"))
				return DECODE_USAGE;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return DECODE_OK;
		default:
			fputs(usage_text, stderr);
			return DECODE_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "vigil-decode: no input file\n%s", usage_text);
		return DECODE_USAGE;
	}
	if (opts.raw && !opts.fields) {
		fprintf(stderr, "vigil-decode: --raw only applies to --fields\n");
		return DECODE_USAGE;
	}
	if (opts.local.n_hl7_ports == 0)
		opts.local.hl7_ports[opts.local.n_hl7_ports++] = DECODE_HL7_PORT;
	if (opts.local.n_vtp_ports == 0)
		opts.local.vtp_ports[opts.local.n_vtp_ports++] = DECODE_VTP_PORT;

	for (int i = optind; i < argc; i++) {
		enum decode_status st = decode_file(&opts, &tot, argv[i]);

		if (st > worst)
			worst = st;
	}
	print_summary(&tot, opts.fields);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "vigil-decode: writing to stdout: %s\n", strerror(errno));
		return DECODE_USAGE;
	}
	return (int)worst;
}
