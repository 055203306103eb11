/*
 * test_eve.c - unit tests of the EVE-style alarm log (controlplane/eve.c).
 *
 * What a log shipper relies on: every line (an alarm change, a NEWS2
 * score) parses back as JSON with every field, in the documented order and
 * with Suricata's timestamp format;
 * what is not known is null (a NaN value, no device, no location); lines
 * stay whole when two writers append to one file from two threads; a
 * reopen after a logrotate-style rename moves new lines to the new file,
 * and a reopen that fails keeps logging to the old one; a full disk (as
 * root: a 64 KiB tmpfs the test mounts) is an error and a count, leaves
 * no half line behind, and writing resumes once there is room; the file
 * is created with mode 0640 and its directory is not created.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "controlplane.h"
#include "cunit_main.h"

#define NS 1000000000LL
#define T_2024_03_01_080215 1709280135LL /* 2024-03-01T08:02:15Z */
#define FULL_TMPFS "size=64k,mode=0700"

static char tmp_root[] = "/tmp/vigil-test-eve-XXXXXX";
static char mnt[600];
static bool mounted;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
suite_init(void)
{
	if (mkdtemp(tmp_root) == NULL)
		return -1;
	snprintf(mnt, sizeof(mnt), "%s/tmpfs", tmp_root);
	umask(022);
	return 0;
}

static int
suite_cleanup(void)
{
	if (mounted && umount2(mnt, MNT_DETACH) == 0)
		mounted = false;
	nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static void
tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmp_root, name);
}

static uint32_t
code_of(const char *name)
{
	const struct rule_metric *m = rule_metric_by_name(name, strlen(name));

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	return m->code;
}

/* An alarm with every field set: a rule's SpO2 alarm, acknowledged by an operator. */
static void
full_alarm(struct cp_alarm *a)
{
	memset(a, 0, sizeof(*a));
	a->id = 42;
	a->sid = 1000001;
	a->rev = 3;
	a->source = CP_ALS_RULE;
	a->state = CP_ALARM_ACKED;
	a->priority = RULE_PRIO_HIGH;
	a->base_priority = RULE_PRIO_MEDIUM;
	a->kind = RULE_KIND_PHYSIOLOGICAL;
	snprintf(a->msg, sizeof(a->msg), "SpO2 low \"desat\"");
	snprintf(a->subject, sizeof(a->subject), "PAT0000003");
	snprintf(a->patient, sizeof(a->patient), "PAT0000003");
	snprintf(a->location, sizeof(a->location), "ICU^Bed 3");
	snprintf(a->device_id, sizeof(a->device_id), "MON-07");
	a->device = 0x0012a1fffe3b4c5dULL;
	a->event_code = 196648;
	a->metric = code_of("SPO2");
	a->value = 84.5;
	a->response = "Urgent response";
	a->onset_ns = T_2024_03_01_080215 * NS - 10 * NS;
	a->raised_ns = T_2024_03_01_080215 * NS - 5 * NS + 250000000;
	a->changed_ns = T_2024_03_01_080215 * NS;
	a->last_hit_ns = a->changed_ns;
	a->hits = 4;
	a->n_hist = 2;
	a->hist[0] = (struct cp_alarm_hist){CP_ALC_RAISED, CP_ALARM_ACTIVE, RULE_PRIO_MEDIUM,
					    a->raised_ns, ""};
	a->hist[1] = (struct cp_alarm_hist){CP_ALC_ACKED, CP_ALARM_ACKED, RULE_PRIO_HIGH,
					    a->changed_ns, "nurse.kim"};
}

/* The whole file, NUL-terminated (NULL if it cannot be read). */
static char *
slurp(const char *path, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f;
	long size;

	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)size + 1);
		if (buf != NULL) {
			n = fread(buf, 1, (size_t)size, f);
			buf[n] = '\0';
		}
	}
	fclose(f);
	if (len != NULL)
		*len = n;
	return buf;
}

/*
 * Parse every line of @p path; each must be a whole JSON object ending in
 * a newline. @return the lines (a JSON array) or NULL when one is not.
 */
static json_t *
read_lines(const char *path)
{
	char *text, *line, *nl;
	json_error_t jerr;
	json_t *lines;
	size_t len;

	text = slurp(path, &len);
	if (text == NULL)
		return NULL;
	lines = json_array();
	for (line = text; *line != '\0'; line = nl + 1) {
		json_t *o;

		nl = strchr(line, '\n');
		if (nl == NULL) {
			fprintf(stderr, "\n%s: a line with no newline: '%s'\n", path, line);
			goto bad;
		}
		*nl = '\0';
		o = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
		if (o == NULL || !json_is_object(o)) {
			fprintf(stderr, "\n%s: not a JSON object: '%s' (%s)\n", path, line,
				jerr.text);
			json_decref(o);
			goto bad;
		}
		json_array_append_new(lines, o);
	}
	free(text);
	return lines;
bad:
	free(text);
	json_decref(lines);
	return NULL;
}

/* Write @p a to a new log at @p name and read its one line back. */
static json_t *
one_line(const char *name, const struct cp_alarm *a, enum cp_alarm_change ch, bool stored)
{
	struct cp_eve *e = NULL;
	json_t *lines, *o;
	char path[700];

	tmp_path(path, sizeof(path), name);
	unlink(path);
	CU_ASSERT_EQUAL_FATAL(cp_eve_open(path, &e), 0);
	CU_ASSERT_EQUAL(cp_eve_alarm(e, a, ch, stored), 0);
	cp_eve_close(e);
	lines = read_lines(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lines);
	CU_ASSERT_EQUAL_FATAL(json_array_size(lines), 1);
	o = json_incref(json_array_get(lines, 0));
	json_decref(lines);
	return o;
}

static void
assert_string(const json_t *o, const char *key, const char *want)
{
	const json_t *v = json_object_get(o, key);

	CU_ASSERT_TRUE(json_is_string(v));
	if (json_is_string(v)) {
		CU_ASSERT_STRING_EQUAL(json_string_value(v), want);
	} else {
		fprintf(stderr, "\n\"%s\" is not the string '%s'\n", key, want);
	}
}

static void
assert_int(const json_t *o, const char *key, json_int_t want)
{
	const json_t *v = json_object_get(o, key);

	CU_ASSERT_TRUE(json_is_integer(v));
	CU_ASSERT_EQUAL(json_integer_value(v), want);
}

static void
assert_null(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	CU_ASSERT_TRUE(v != NULL && json_is_null(v));
	if (v == NULL || !json_is_null(v))
		fprintf(stderr, "\n\"%s\" is not null\n", key);
}

/* ------------------------------------------------------------------------ */
/* The line                                                                  */
/* ------------------------------------------------------------------------ */

/* Every field, its value, and the order of the keys (EVE's, then the alarm's). */
static void
test_fields(void)
{
	static const char *const top_keys[] = {"timestamp", "event_type", "alarm"};
	static const char *const alarm_keys[] = {
		"id",	     "sid",	   "rev",      "msg",	 "priority", "base_priority",
		"kind",	     "state",	   "change",   "source", "subject",  "device",
		"device_id", "patient",	   "location", "metric", "value",    "by",
		"response",  "event_code", "raised",   "stored",
	};
	struct cp_alarm a;
	const char *key;
	json_t *o, *al, *v;
	size_t i;

	full_alarm(&a);
	o = one_line("fields.json", &a, CP_ALC_ACKED, true);
	i = 0;
	json_object_foreach(o, key, v)
	{
		CU_ASSERT_FATAL(i < 3);
		CU_ASSERT_STRING_EQUAL(key, top_keys[i]);
		i++;
	}
	CU_ASSERT_EQUAL(i, 3);
	assert_string(o, "timestamp", "2024-03-01T08:02:15.000000+0000");
	assert_string(o, "event_type", "alarm");
	al = json_object_get(o, "alarm");
	CU_ASSERT_TRUE_FATAL(json_is_object(al));
	i = 0;
	json_object_foreach(al, key, v)
	{
		CU_ASSERT_FATAL(i < sizeof(alarm_keys) / sizeof(alarm_keys[0]));
		CU_ASSERT_STRING_EQUAL(key, alarm_keys[i]);
		i++;
	}
	CU_ASSERT_EQUAL(i, sizeof(alarm_keys) / sizeof(alarm_keys[0]));

	assert_int(al, "id", 42);
	assert_int(al, "sid", 1000001);
	assert_int(al, "rev", 3);
	assert_string(al, "msg", "SpO2 low \"desat\"");
	assert_string(al, "priority", "high");
	assert_string(al, "base_priority", "medium");
	assert_string(al, "kind", "physiological");
	assert_string(al, "state", "acknowledged");
	assert_string(al, "change", cp_alarm_change_name(CP_ALC_ACKED));
	assert_string(al, "source", "rule");
	assert_string(al, "subject", "PAT0000003");
	assert_string(al, "device", "0012A1FFFE3B4C5D");
	assert_string(al, "device_id", "MON-07");
	assert_string(al, "patient", "PAT0000003");
	assert_string(al, "location", "ICU^Bed 3");
	assert_string(al, "metric", "SPO2");
	v = json_object_get(al, "value");
	CU_ASSERT_TRUE(json_is_real(v));
	CU_ASSERT_DOUBLE_EQUAL(json_real_value(v), 84.5, 1e-9);
	assert_string(al, "by", "nurse.kim");
	assert_string(al, "response", "Urgent response");
	assert_int(al, "event_code", 196648);
	assert_string(al, "raised", "2024-03-01T08:02:10.250000Z");
	CU_ASSERT_TRUE(json_is_true(json_object_get(al, "stored")));
	json_decref(o);

	/* the raw text: compact, EVE's keys first, one line */
	{
		char path[700], *text;
		size_t len;

		tmp_path(path, sizeof(path), "fields.json");
		text = slurp(path, &len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		CU_ASSERT_EQUAL(strncmp(text,
					"{\"timestamp\":\"2024-03-01T08:02:15.000000+0000\","
					"\"event_type\":\"alarm\",\"alarm\":{\"id\":42,\"sid\":",
					91),
				0);
		CU_ASSERT_TRUE(len > 0 && text[len - 1] == '\n');
		CU_ASSERT_PTR_EQUAL(strchr(text, '\n'), text + len - 1);
		CU_ASSERT_PTR_NULL(strstr(text, ": "));
		free(text);
	}
}

/* The timestamp: the change's time in UTC, to the microsecond, "+0000". */
static void
test_timestamp(void)
{
	static const struct {
		int64_t ns;
		const char *text; /* the timestamp; "raised" ends in Z rather than +0000 */
	} cases[] = {
		{T_2024_03_01_080215 * NS, "2024-03-01T08:02:15.000000+0000"},
		{T_2024_03_01_080215 * NS + 123456789, "2024-03-01T08:02:15.123456+0000"},
		{T_2024_03_01_080215 * NS + 999999999, "2024-03-01T08:02:15.999999+0000"},
		{951868799LL * NS + 1000, "2000-02-29T23:59:59.000001+0000"},
		{2147483648LL * NS, "2038-01-19T03:14:08.000000+0000"},
		{0, "1970-01-01T00:00:00.000000+0000"},
		{-1, "1969-12-31T23:59:59.999999+0000"},
	};
	struct cp_alarm a;
	char raised[40];
	json_t *o;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		full_alarm(&a);
		a.changed_ns = cases[i].ns;
		a.raised_ns = cases[i].ns;
		o = one_line("time.json", &a, CP_ALC_RAISED, false);
		assert_string(o, "timestamp", cases[i].text);
		snprintf(raised, sizeof(raised), "%.26sZ", cases[i].text);
		if (cases[i].ns != 0) /* 0: not raised, null (test_nulls) */
			assert_string(json_object_get(o, "alarm"), "raised", raised);
		json_decref(o);
	}
}

/* What is not known is null; event_code is left out when there is none. */
static void
test_nulls(void)
{
	struct cp_alarm a;
	json_t *o, *al;

	full_alarm(&a);
	a.value = NAN;
	a.device = 0;
	a.device_id[0] = '\0';
	a.patient[0] = '\0';
	a.location[0] = '\0';
	a.metric = 0;
	a.response = NULL;
	a.event_code = 0;
	a.raised_ns = 0;
	a.hist[1].by[0] = '\0';
	snprintf(a.subject, sizeof(a.subject), "device:0000000000000000");
	o = one_line("nulls.json", &a, CP_ALC_CLEARED, false);
	al = json_object_get(o, "alarm");
	CU_ASSERT_TRUE_FATAL(json_is_object(al));
	assert_null(al, "value");
	assert_null(al, "device");
	assert_null(al, "device_id");
	assert_null(al, "patient");
	assert_null(al, "location");
	assert_null(al, "metric");
	assert_null(al, "response");
	assert_null(al, "raised");
	assert_null(al, "by");
	CU_ASSERT_PTR_NULL(json_object_get(al, "event_code"));
	CU_ASSERT_TRUE(json_is_false(json_object_get(al, "stored")));
	assert_string(al, "subject", "device:0000000000000000");
	json_decref(o);

	/* no history at all: by is null; infinities are no number either */
	full_alarm(&a);
	a.n_hist = 0;
	a.value = INFINITY;
	o = one_line("nulls.json", &a, CP_ALC_RAISED, true);
	al = json_object_get(o, "alarm");
	assert_null(al, "by");
	assert_null(al, "value");
	json_decref(o);

	/* a metric vigil has no name for is its code; a device's "by" is kept */
	full_alarm(&a);
	a.metric = 4242;
	snprintf(a.hist[1].by, sizeof(a.hist[1].by), "device");
	o = one_line("nulls.json", &a, CP_ALC_ACKED, true);
	al = json_object_get(o, "alarm");
	assert_int(al, "metric", 4242);
	assert_string(al, "by", "device");
	json_decref(o);
}

/*
 * Texts from the wire: not UTF-8 (bytes past ASCII become '?'), control
 * characters and quotes (escaped), fields filled to the last byte with no
 * NUL (cut at the field's size).
 */
static void
test_texts(void)
{
	struct cp_alarm a;
	json_t *o, *al;
	char want[CP_PATIENT_ID_MAX + 2];

	full_alarm(&a);
	snprintf(a.msg, sizeof(a.msg), "bad \xff\xfe utf-8 \xc3\xa9");
	snprintf(a.location, sizeof(a.location), "Stati\xc3\xb3n 3\t\"A\"\n");
	memset(a.patient, 'P', sizeof(a.patient));
	o = one_line("texts.json", &a, CP_ALC_RAISED, true);
	al = json_object_get(o, "alarm");
	assert_string(al, "msg", "bad ?? utf-8 ??");
	assert_string(al, "location", "Stati\xc3\xb3n 3\t\"A\"\n");
	memset(want, 'P', sizeof(a.patient));
	want[sizeof(a.patient)] = '\0';
	assert_string(al, "patient", want);
	json_decref(o);
}

/* Values as a device sent them: no binary noise, always a JSON real. */
static void
test_values(void)
{
	static const struct {
		double value;
		const char *text;
	} cases[] = {
		{36.6, "\"value\":36.6,"},	   {84, "\"value\":84.0,"},
		{-0.25, "\"value\":-0.25,"},	   {1e-7, "\"value\":1e-7,"},
		{123456.5, "\"value\":123456.5,"},
	};
	char path[700], *text;
	struct cp_eve *e = NULL;
	struct cp_alarm a;
	size_t i;

	tmp_path(path, sizeof(path), "values.json");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unlink(path);
		CU_ASSERT_EQUAL_FATAL(cp_eve_open(path, &e), 0);
		full_alarm(&a);
		a.value = cases[i].value;
		CU_ASSERT_EQUAL(cp_eve_alarm(e, &a, CP_ALC_RAISED, true), 0);
		cp_eve_close(e);
		text = slurp(path, NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		CU_ASSERT_PTR_NOT_NULL(strstr(text, cases[i].text));
		if (strstr(text, cases[i].text) == NULL)
			fprintf(stderr, "\nno %s in %s", cases[i].text, text);
		free(text);
	}
}

/* A patient with a score: PAT0000003 on oxygen, SpO2 88 on scale 2, temperature unknown. */
static void
scored_patient(struct cp_patient *pt)
{
	memset(pt, 0, sizeof(*pt));
	snprintf(pt->key, sizeof(pt->key), "PAT0000003");
	snprintf(pt->location, sizeof(pt->location), "ICU^2^1");
	pt->device = 0x025647fffe000003ULL;
	pt->news2_in = (struct cp_news2_in){.have = {[CP_N2_RR] = true,
						     [CP_N2_SPO2] = true,
						     [CP_N2_AIR] = true,
						     [CP_N2_SBP] = true,
						     [CP_N2_PULSE] = true},
					    .rr = 22,
					    .spo2 = 88,
					    .sbp = 105,
					    .pulse = 112,
					    .oxygen = CP_O2_OXYGEN,
					    .scale2 = true};
	pt->news2_source[CP_N2_SPO2] = code_of("SPO2");
	pt->news2_source[CP_N2_PULSE] = code_of("HR");
	cp_news2_score(&pt->news2_in, &pt->news2);
	pt->news2_ns = T_2024_03_01_080215 * NS + 500000000;
	pt->oxygen = CP_O2_OXYGEN;
	pt->scale2 = true;
}

/*
 * A NEWS2 line: EVE's keys, then who and where, then cp_news2_json's
 * fields as they are, in its order.
 */
static void
test_news2(void)
{
	static const char *const head[] = {"patient", "location", "device"};
	struct cp_eve *e = NULL;
	json_t *lines, *o, *n2, *want, *v;
	struct cp_patient pt;
	const char *key;
	char path[700], *text;
	uint64_t count;
	size_t i;

	tmp_path(path, sizeof(path), "news2.json");
	unlink(path);
	scored_patient(&pt);
	CU_ASSERT_EQUAL_FATAL(cp_eve_open(path, &e), 0);
	CU_ASSERT_EQUAL(cp_eve_news2(e, &pt), 0);
	/* a device that names no patient has none */
	snprintf(pt.key, sizeof(pt.key), "device:025647FFFE000003");
	pt.location[0] = '\0';
	CU_ASSERT_EQUAL(cp_eve_news2(e, &pt), 0);
	CU_ASSERT_EQUAL(cp_eve_news2(e, NULL), -EINVAL);
	CU_ASSERT_EQUAL(cp_eve_news2(NULL, &pt), -EINVAL);
	cp_eve_counts(e, &count, NULL);
	CU_ASSERT_EQUAL(count, 2);
	cp_eve_close(e);

	lines = read_lines(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lines);
	CU_ASSERT_EQUAL_FATAL(json_array_size(lines), 2);
	o = json_array_get(lines, 0);
	assert_string(o, "timestamp", "2024-03-01T08:02:15.500000+0000");
	assert_string(o, "event_type", "news2");
	n2 = json_object_get(o, "news2");
	CU_ASSERT_TRUE_FATAL(json_is_object(n2));
	assert_string(n2, "patient", "PAT0000003");
	assert_string(n2, "location", "ICU^2^1");
	assert_string(n2, "device", "025647FFFE000003");
	scored_patient(&pt);
	text = cp_news2_json(&pt);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	want = json_loads(text, 0, NULL);
	free(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(want);
	CU_ASSERT_EQUAL(json_object_size(n2), 3 + json_object_size(want));
	i = 0;
	json_object_foreach(n2, key, v)
	{
		if (i < 3)
			CU_ASSERT_STRING_EQUAL(key, head[i]);
		i++;
	}
	/* the score's own fields, equal and in its order */
	i = 0;
	{
		void *it = json_object_iter(n2);
		const char *wkey;
		json_t *wv;

		for (int k = 0; k < 3 && it != NULL; k++)
			it = json_object_iter_next(n2, it);
		json_object_foreach(want, wkey, wv)
		{
			CU_ASSERT_PTR_NOT_NULL_FATAL(it);
			CU_ASSERT_STRING_EQUAL(json_object_iter_key(it), wkey);
			CU_ASSERT_TRUE(json_equal(json_object_iter_value(it), wv));
			it = json_object_iter_next(n2, it);
		}
	}
	assert_int(n2, "total", pt.news2.total);
	CU_ASSERT_TRUE(json_is_false(json_object_get(n2, "complete")));
	json_decref(want);

	n2 = json_object_get(json_array_get(lines, 1), "news2");
	assert_null(n2, "patient");
	assert_null(n2, "location");
	assert_string(n2, "device", "025647FFFE000003");
	json_decref(lines);
}

/* Every change and every state by its name, as the alarm manager names them. */
static void
test_names(void)
{
	struct cp_alarm a;
	json_t *o, *al;
	unsigned ch;

	for (ch = 0; ch < CP_ALC__COUNT; ch++) {
		full_alarm(&a);
		a.state = (uint8_t)(ch % CP_ALARM__STATES);
		a.source = (uint8_t)(ch % 4);
		o = one_line("names.json", &a, (enum cp_alarm_change)ch, true);
		al = json_object_get(o, "alarm");
		assert_string(al, "change", cp_alarm_change_name((enum cp_alarm_change)ch));
		assert_string(al, "state", cp_alarm_state_name((enum cp_alarm_state)a.state));
		assert_string(al, "source", cp_alarm_source_name((enum cp_alarm_source)a.source));
		json_decref(o);
	}
	CU_ASSERT_STRING_EQUAL(cp_alarm_change_name(CP_ALC_RAISED), "raised");
	CU_ASSERT_STRING_EQUAL(cp_alarm_state_name(CP_ALARM_LATCHED), "latched");
	CU_ASSERT_STRING_EQUAL(cp_alarm_source_name(CP_ALS_NEWS2), "news2");
}

/* ------------------------------------------------------------------------ */
/* The file                                                                  */
/* ------------------------------------------------------------------------ */

/* Created with mode 0640, appended to (never truncated), counted; no directory is made. */
static void
test_open(void)
{
	char path[700], missing[700];
	struct cp_eve *e = NULL;
	uint64_t lines, failed;
	struct cp_alarm a;
	struct stat st;
	json_t *got;

	tmp_path(path, sizeof(path), "open.json");
	unlink(path);
	CU_ASSERT_EQUAL_FATAL(cp_eve_open(path, &e), 0);
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0640);
	full_alarm(&a);
	CU_ASSERT_EQUAL(cp_eve_alarm(e, &a, CP_ALC_RAISED, true), 0);
	CU_ASSERT_EQUAL(cp_eve_alarm(e, &a, CP_ALC_ACKED, true), 0);
	cp_eve_counts(e, &lines, &failed);
	CU_ASSERT_EQUAL(lines, 2);
	CU_ASSERT_EQUAL(failed, 0);
	cp_eve_close(e);
	/* a second open appends */
	CU_ASSERT_EQUAL_FATAL(cp_eve_open(path, &e), 0);
	cp_eve_counts(e, &lines, &failed);
	CU_ASSERT_EQUAL(lines, 0);
	CU_ASSERT_EQUAL(cp_eve_alarm(e, &a, CP_ALC_CLEARED, true), 0);
	cp_eve_close(e);
	got = read_lines(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_EQUAL(json_array_size(got), 3);
	assert_string(json_object_get(json_array_get(got, 2), "alarm"), "change",
		      cp_alarm_change_name(CP_ALC_CLEARED));
	json_decref(got);

	/* the caller says what is missing: the directory is not created */
	tmp_path(missing, sizeof(missing), "no-such-dir/alarms.json");
	e = NULL;
	CU_ASSERT_EQUAL(cp_eve_open(missing, &e), -ENOENT);
	CU_ASSERT_PTR_NULL(e);
	tmp_path(missing, sizeof(missing), "no-such-dir");
	CU_ASSERT_NOT_EQUAL(access(missing, F_OK), 0);
	/* a directory is no log */
	CU_ASSERT_EQUAL(cp_eve_open(tmp_root, &e), -EISDIR);
	CU_ASSERT_EQUAL(cp_eve_open("", &e), -EINVAL);
	CU_ASSERT_EQUAL(cp_eve_open(NULL, &e), -EINVAL);
	CU_ASSERT_EQUAL(cp_eve_alarm(NULL, &a, CP_ALC_RAISED, true), -EINVAL);
	CU_ASSERT_EQUAL(cp_eve_reopen(NULL), -EINVAL);
	cp_eve_counts(NULL, &lines, &failed);
	CU_ASSERT_EQUAL(lines, 0);
	cp_eve_close(NULL);
}

#define WRITERS 2
#define LINES_EACH 3000

struct writer {
	struct cp_eve *e;
	uint64_t first_id;
	int failures;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	struct cp_alarm a;
	unsigned i;

	full_alarm(&a);
	/* long enough that a torn write would show */
	memset(a.msg, 'm', sizeof(a.msg) - 1);
	a.msg[sizeof(a.msg) - 1] = '\0';
	for (i = 0; i < LINES_EACH; i++) {
		a.id = w->first_id + i;
		if (cp_eve_alarm(w->e, &a, CP_ALC_RAISED, true) != 0)
			w->failures++;
	}
	return NULL;
}

/* Two handles on one file, two threads: every line whole, each writer's in its order. */
static void
test_two_writers(void)
{
	struct writer w[WRITERS];
	pthread_t th[WRITERS];
	uint64_t next[WRITERS], lines;
	char path[700];
	json_t *got;
	size_t i;
	int k;

	tmp_path(path, sizeof(path), "two.json");
	unlink(path);
	for (k = 0; k < WRITERS; k++) {
		w[k] = (struct writer){.first_id = 1000000 * (uint64_t)(k + 1)};
		CU_ASSERT_EQUAL_FATAL(cp_eve_open(path, &w[k].e), 0);
	}
	for (k = 0; k < WRITERS; k++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[k], NULL, writer_main, &w[k]), 0);
	for (k = 0; k < WRITERS; k++) {
		pthread_join(th[k], NULL);
		CU_ASSERT_EQUAL(w[k].failures, 0);
		cp_eve_counts(w[k].e, &lines, NULL);
		CU_ASSERT_EQUAL(lines, LINES_EACH);
		cp_eve_close(w[k].e);
		next[k] = w[k].first_id;
	}
	got = read_lines(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_EQUAL(json_array_size(got), WRITERS * LINES_EACH);
	for (i = 0; i < json_array_size(got); i++) {
		json_int_t id = json_integer_value(
			json_object_get(json_object_get(json_array_get(got, i), "alarm"), "id"));

		k = (int)(id / 1000000) - 1;
		CU_ASSERT_FATAL(k >= 0 && k < WRITERS);
		CU_ASSERT_EQUAL((uint64_t)id, next[k]);
		next[k] = (uint64_t)id + 1;
	}
	json_decref(got);
}

/* logrotate: rename, reopen; the new lines go to the new file, the old keep theirs. */
static void
test_reopen_rotated(void)
{
	char path[700], rotated[700];
	struct cp_eve *e = NULL;
	struct cp_alarm a;
	struct stat st;
	json_t *got;

	tmp_path(path, sizeof(path), "rot.json");
	tmp_path(rotated, sizeof(rotated), "rot.json.1");
	unlink(path);
	unlink(rotated);
	CU_ASSERT_EQUAL_FATAL(cp_eve_open(path, &e), 0);
	full_alarm(&a);
	a.id = 1;
	CU_ASSERT_EQUAL(cp_eve_alarm(e, &a, CP_ALC_RAISED, true), 0);
	CU_ASSERT_EQUAL_FATAL(rename(path, rotated), 0);
	/* until the reopen, lines follow the file under its new name */
	a.id = 2;
	CU_ASSERT_EQUAL(cp_eve_alarm(e, &a, CP_ALC_RAISED, true), 0);
	CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
	CU_ASSERT_EQUAL(cp_eve_reopen(e), 0);
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0640);
	a.id = 3;
	CU_ASSERT_EQUAL(cp_eve_alarm(e, &a, CP_ALC_CLEARED, true), 0);
	/* a reopen with nothing rotated keeps appending to the same file */
	CU_ASSERT_EQUAL(cp_eve_reopen(e), 0);
	a.id = 4;
	CU_ASSERT_EQUAL(cp_eve_alarm(e, &a, CP_ALC_CLEARED, true), 0);
	cp_eve_close(e);

	got = read_lines(rotated);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_EQUAL(json_array_size(got), 2);
	assert_int(json_object_get(json_array_get(got, 0), "alarm"), "id", 1);
	assert_int(json_object_get(json_array_get(got, 1), "alarm"), "id", 2);
	json_decref(got);
	got = read_lines(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_EQUAL(json_array_size(got), 2);
	assert_int(json_object_get(json_array_get(got, 0), "alarm"), "id", 3);
	assert_int(json_object_get(json_array_get(got, 1), "alarm"), "id", 4);
	json_decref(got);
}

/*
 * A reopen that cannot open the path (its directory gone; as a user, a
 * directory made read-only) returns -errno and keeps the old file.
 */
static void
test_reopen_fails(void)
{
	char dir[700], path[800], moved[700];
	struct cp_eve *e = NULL;
	uint64_t lines, failed;
	struct cp_alarm a;
	json_t *got;

	tmp_path(dir, sizeof(dir), "gone");
	snprintf(path, sizeof(path), "%s/alarms.json", dir);
	tmp_path(moved, sizeof(moved), "gone-alarms.json");
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	CU_ASSERT_EQUAL_FATAL(cp_eve_open(path, &e), 0);
	full_alarm(&a);
	a.id = 1;
	CU_ASSERT_EQUAL(cp_eve_alarm(e, &a, CP_ALC_RAISED, true), 0);
	CU_ASSERT_EQUAL_FATAL(rename(path, moved), 0);
	CU_ASSERT_EQUAL_FATAL(rmdir(dir), 0);
	CU_ASSERT_EQUAL(cp_eve_reopen(e), -ENOENT);
	a.id = 2;
	CU_ASSERT_EQUAL(cp_eve_alarm(e, &a, CP_ALC_ACKED, true), 0);

	/* read-only: root writes anyway, so only a user can see this one */
	if (geteuid() != 0) {
		CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
		CU_ASSERT_EQUAL_FATAL(chmod(dir, 0500), 0);
		CU_ASSERT_EQUAL(cp_eve_reopen(e), -EACCES);
		a.id = 3;
		CU_ASSERT_EQUAL(cp_eve_alarm(e, &a, CP_ALC_CLEARED, true), 0);
		chmod(dir, 0700);
		rmdir(dir);
	} else {
		a.id = 3;
		CU_ASSERT_EQUAL(cp_eve_alarm(e, &a, CP_ALC_CLEARED, true), 0);
	}
	cp_eve_counts(e, &lines, &failed);
	CU_ASSERT_EQUAL(lines, 3);
	CU_ASSERT_EQUAL(failed, 0);
	cp_eve_close(e);
	got = read_lines(moved);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_EQUAL(json_array_size(got), 3);
	assert_int(json_object_get(json_array_get(got, 2), "alarm"), "id", 3);
	json_decref(got);
}

/* Fill the file system at @p path (written in pieces down to single bytes). */
static int
fill(const char *path)
{
	static char block[4096];
	size_t piece = sizeof(block);
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -errno;
	while (piece > 0) {
		if (write(fd, block, piece) < (ssize_t)piece)
			piece /= 2;
	}
	close(fd);
	return 0;
}

/*
 * A full disk: writes fail with -ENOSPC and are counted, every line left in
 * the file is whole (a write the disk cut short is taken back), and once
 * there is room again lines are written again.
 */
static void
test_disk_full(void)
{
	char filler[800], path[800];
	struct cp_eve *e = NULL;
	uint64_t lines, failed;
	unsigned i, ok = 0, bad = 0;
	struct cp_alarm a;
	json_t *got;
	int rc = 0;

	if (mkdir(mnt, 0700) != 0 && errno != EEXIST) {
		CU_FAIL("mkdir of the mount point");
		return;
	}
	if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, FULL_TMPFS) != 0) {
		if (errno == EPERM) {
			printf("\n  disk full: not tested: mounting a tmpfs needs root (EPERM)\n");
			CU_PASS("disk full needs root");
		} else {
			fprintf(stderr, "mount tmpfs on %s: %s\n", mnt, strerror(errno));
			CU_FAIL("mount of a tmpfs failed (not for want of root)");
		}
		return;
	}
	mounted = true;
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	snprintf(path, sizeof(path), "%s/alarms.json", mnt);
	CU_ASSERT_EQUAL_FATAL(cp_eve_open(path, &e), 0);
	full_alarm(&a);
	a.id = 1;
	CU_ASSERT_EQUAL(cp_eve_alarm(e, &a, CP_ALC_RAISED, true), 0);
	CU_ASSERT_EQUAL(fill(filler), 0);

	/* lines fit in the log's last page until one crosses it: then every write fails */
	for (i = 0; i < 64; i++) {
		a.id = 100 + i;
		rc = cp_eve_alarm(e, &a, CP_ALC_RAISED, true);
		if (rc == 0) {
			CU_ASSERT_EQUAL(bad, 0);
			ok++;
		} else {
			CU_ASSERT_EQUAL(rc, -ENOSPC);
			bad++;
		}
	}
	CU_ASSERT_TRUE(bad > 0);
	cp_eve_counts(e, &lines, &failed);
	CU_ASSERT_EQUAL(lines, 1 + ok);
	CU_ASSERT_EQUAL(failed, bad);
	got = read_lines(path);
	CU_ASSERT_PTR_NOT_NULL(got);
	CU_ASSERT_EQUAL(json_array_size(got), 1 + ok);
	json_decref(got);

	/* room again */
	CU_ASSERT_EQUAL(unlink(filler), 0);
	a.id = 1000;
	CU_ASSERT_EQUAL(cp_eve_alarm(e, &a, CP_ALC_CLEARED, true), 0);
	cp_eve_counts(e, &lines, &failed);
	CU_ASSERT_EQUAL(lines, 2 + ok);
	CU_ASSERT_EQUAL(failed, bad);
	cp_eve_close(e);
	got = read_lines(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_EQUAL(json_array_size(got), 2 + ok);
	assert_int(json_object_get(json_array_get(got, json_array_size(got) - 1), "alarm"), "id",
		   1000);
	json_decref(got);
	unlink(path);
	CU_ASSERT_EQUAL(umount2(mnt, 0), 0);
	mounted = false;
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"every field, in order", test_fields},
		{"timestamp format", test_timestamp},
		{"unknowns are null", test_nulls},
		{"values", test_values},
		{"news2 lines", test_news2},
		{"texts from the wire", test_texts},
		{"change, state and source names", test_names},
		{"open: mode, append, errors", test_open},
		{"two writers, whole lines", test_two_writers},
		{"reopen after a rotation", test_reopen_rotated},
		{"reopen that fails keeps the old file", test_reopen_fails},
		{"disk full", test_disk_full},
	};
	CU_pSuite s;
	size_t i;

	s = CU_add_suite("eve", suite_init, suite_cleanup);
	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
