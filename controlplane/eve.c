/*
 * eve.c - the EVE-style alarm log: one JSON line per alarm change.
 *
 * Suricata's EVE log is what Filebeat, Vector and most SIEMs already know
 * how to ship: one compact JSON object per line, "timestamp" and
 * "event_type" first. vigil writes every alarm change (cp_alarms'
 * on_change, after the store) and every new NEWS2 score that way, so a
 * ward's alarms and scores reach the hospital's log pipeline without a
 * plug-in.
 *
 * A line is built whole in memory and handed to the kernel in one write(2)
 * on a descriptor opened with O_APPEND: the kernel appends it at the end
 * of the file as one piece, so a reader tailing the file, or a second
 * writer on the same file, never sees half a line. On a full disk a write
 * can still be cut short; the part that got through is truncated away
 * again when nothing was appended after it, and otherwise the next line
 * starts with a newline of its own, so only the cut line is lost.
 *
 * cp_eve_reopen (SIGHUP, after logrotate renamed the file) opens the path
 * again before letting go of the old descriptor: if the new file cannot be
 * opened, lines keep going to the old one rather than nowhere.
 *
 * The writer (the consumer's thread) and a reopen (the thread that took
 * the signal) may overlap: a mutex keeps a write off a descriptor being
 * closed. The counters are atomics so that reports read them from any
 * thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "controlplane.h"

#define EVE_MODE 0640
#define EVE_OPEN_FLAGS (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY)
/* 15 digits: a device's 36.6 stays 36.6 (17 would print 36.600000000000001). */
#define EVE_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

struct cp_eve {
	pthread_mutex_t lock; /* the descriptor and torn, against a reopen */
	int fd;
	bool torn; /* a cut line is left at the end of the file, with no newline */
	char *path;
	_Atomic uint64_t lines;
	_Atomic uint64_t failed;
};

/* ------------------------------------------------------------------------ */
/* Opening, reopening                                                        */
/* ------------------------------------------------------------------------ */

int
cp_eve_open(const char *path, struct cp_eve **out)
{
	struct cp_eve *e;
	int rc;

	if (path == NULL || path[0] == '\0' || out == NULL)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->fd = -1;
	e->path = strdup(path);
	if (e->path == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	e->fd = open(path, EVE_OPEN_FLAGS, EVE_MODE);
	if (e->fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = -pthread_mutex_init(&e->lock, NULL);
	if (rc < 0)
		goto fail;
	*out = e;
	return 0;
fail:
	if (e->fd >= 0)
		close(e->fd);
	free(e->path);
	free(e);
	return rc;
}

/* Do two descriptors name the same file? (Unknown counts as no.) */
static bool
same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int
cp_eve_reopen(struct cp_eve *e)
{
	int fd;

	if (e == NULL)
		return -EINVAL;
	fd = open(e->path, EVE_OPEN_FLAGS, EVE_MODE);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&e->lock);
	/* A reopen of the file in use (nothing rotated) still ends on a cut line. */
	if (!same_file(fd, e->fd))
		e->torn = false;
	close(e->fd);
	e->fd = fd;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

void
cp_eve_close(struct cp_eve *e)
{
	if (e == NULL)
		return;
	close(e->fd);
	pthread_mutex_destroy(&e->lock);
	free(e->path);
	free(e);
}

void
cp_eve_counts(const struct cp_eve *e, uint64_t *lines, uint64_t *failed)
{
	if (lines != NULL)
		*lines = e != NULL ? atomic_load_explicit(&e->lines, memory_order_relaxed) : 0;
	if (failed != NULL)
		*failed = e != NULL ? atomic_load_explicit(&e->failed, memory_order_relaxed) : 0;
}

/* ------------------------------------------------------------------------ */
/* The line                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * A time in UTC to the microsecond, ending in @p zone: "+0000" makes
 * Suricata's EVE timestamp ("2024-03-01T08:02:15.000000+0000"), "Z" plain
 * ISO 8601 for the alarm's own times.
 */
static json_t *
eve_time(int64_t ns, const char *zone)
{
	int64_t secs = ns / 1000000000, frac = ns % 1000000000;
	char buf[48];
	struct tm tm;
	time_t t;
	size_t n;

	if (frac < 0) {
		frac += 1000000000;
		secs--;
	}
	t = (time_t)secs;
	if (gmtime_r(&t, &tm) == NULL)
		return json_null();
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%06" PRId64 "%s", frac / 1000, zone);
	return json_string(buf);
}

/*
 * A text field of the alarm (at most @p size bytes, NUL or not). Patient
 * ids and messages come from the wire and may not be UTF-8, which JSON
 * requires: then every byte past ASCII becomes '?' rather than the line
 * being lost.
 */
static json_t *
text(const char *s, size_t size)
{
	size_t len = strnlen(s, size), i;
	json_t *v;
	char *copy;

	v = json_stringn(s, len);
	if (v != NULL)
		return v;
	copy = malloc(len + 1);
	if (copy == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	copy[len] = '\0';
	v = json_stringn(copy, len);
	free(copy);
	return v;
}

/* Empty texts are null, so that a query for "no patient" is one test. */
static json_t *
text_or_null(const char *s, size_t size)
{
	return size == 0 || s[0] == '\0' ? json_null() : text(s, size);
}

/* The metric's name, its MDC code when vigil does not know it, or null. */
static json_t *
metric(uint32_t code)
{
	const struct rule_metric *m;

	if (code == 0)
		return json_null();
	m = rule_metric_by_code(code);
	return m != NULL ? json_string(m->name) : json_integer(code);
}

/* Who made the last change: an operator, "device", or null for vigil itself. */
static json_t *
last_by(const struct cp_alarm *a)
{
	unsigned n = a->n_hist < CP_ALARM_HISTORY ? a->n_hist : CP_ALARM_HISTORY;

	if (n == 0)
		return json_null();
	return text_or_null(a->hist[n - 1].by, sizeof(a->hist[n - 1].by));
}

/* The device's EUI-64 as devices write it in their ids, or null. */
static json_t *
device(uint64_t eui64)
{
	char buf[17];

	if (eui64 == 0)
		return json_null();
	snprintf(buf, sizeof(buf), "%016" PRIX64, eui64);
	return json_string(buf);
}

/* Set @p key to @p v (a new reference; NULL when it could not be made). */
static int
set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
}

static json_t *
alarm_object(const struct cp_alarm *a, enum cp_alarm_change ch, bool stored)
{
	json_t *o;
	int rc = 0;

	o = json_object();
	if (o == NULL)
		return NULL;
	rc |= set(o, "id", json_integer((json_int_t)a->id));
	rc |= set(o, "sid", json_integer(a->sid));
	rc |= set(o, "rev", json_integer(a->rev));
	rc |= set(o, "msg", text(a->msg, sizeof(a->msg)));
	rc |= set(o, "priority", json_string(rule_priority_name(a->priority)));
	rc |= set(o, "base_priority", json_string(rule_priority_name(a->base_priority)));
	rc |= set(o, "kind", json_string(rule_kind_name(a->kind)));
	rc |= set(o, "state", json_string(cp_alarm_state_name(a->state)));
	rc |= set(o, "change", json_string(cp_alarm_change_name(ch)));
	rc |= set(o, "source", json_string(cp_alarm_source_name(a->source)));
	rc |= set(o, "subject", text(a->subject, sizeof(a->subject)));
	rc |= set(o, "device", device(a->device));
	rc |= set(o, "device_id", text_or_null(a->device_id, sizeof(a->device_id)));
	rc |= set(o, "patient", text_or_null(a->patient, sizeof(a->patient)));
	rc |= set(o, "location", text_or_null(a->location, sizeof(a->location)));
	rc |= set(o, "metric", metric(a->metric));
	rc |= set(o, "value", isfinite(a->value) ? json_real(a->value) : json_null());
	rc |= set(o, "by", last_by(a));
	rc |= set(o, "response",
		  a->response != NULL ? text(a->response, strlen(a->response)) : json_null());
	if (a->event_code != 0)
		rc |= set(o, "event_code", json_integer(a->event_code));
	rc |= set(o, "raised", a->raised_ns != 0 ? eve_time(a->raised_ns, "Z") : json_null());
	rc |= set(o, "stored", json_boolean(stored));
	if (rc != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * The EVE line of an event: "timestamp" (@p ns), "event_type" @p type,
 * then @p body under the same name; a newline at the end and room for one
 * at the start (*line points past it). Takes @p body's reference.
 * @return the buffer (malloc'd) or NULL.
 */
static char *
eve_line(int64_t ns, const char *type, json_t *body, char **line, size_t *len)
{
	char *buf = NULL;
	json_t *root;
	size_t n;
	int rc = 0;

	root = json_object();
	if (root == NULL || body == NULL) {
		json_decref(body);
		goto out;
	}
	rc |= set(root, "timestamp", eve_time(ns, "+0000"));
	rc |= set(root, "event_type", json_string(type));
	rc |= set(root, type, body);
	if (rc != 0)
		goto out;
	n = json_dumpb(root, NULL, 0, EVE_DUMP_FLAGS);
	if (n == 0)
		goto out;
	buf = malloc(n + 2);
	if (buf == NULL)
		goto out;
	buf[0] = '\n';
	if (json_dumpb(root, buf + 1, n, EVE_DUMP_FLAGS) != n) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n + 1] = '\n';
	*line = buf + 1;
	*len = n + 1;
out:
	json_decref(root);
	return buf;
}

/*
 * What the log says of a patient's NEWS2: who and where, then
 * cp_news2_json's fields as they are (one description of a score for the
 * log, the store and vigilctl).
 */
static json_t *
news2_object(const struct cp_patient *pt)
{
	json_t *o, *score;
	int rc = 0;

	o = json_object();
	score = cp_news2_object(pt);
	if (o == NULL || score == NULL)
		goto fail;
	/* A device that names no patient is keyed "device:<hex>": no patient. */
	rc |= set(o, "patient",
		  strncmp(pt->key, "device:", 7) == 0 ? json_null()
						      : text_or_null(pt->key, sizeof(pt->key)));
	rc |= set(o, "location", text_or_null(pt->location, sizeof(pt->location)));
	rc |= set(o, "device", device(pt->device));
	if (rc != 0 || json_object_update(o, score) != 0)
		goto fail;
	json_decref(score);
	return o;
fail:
	json_decref(score);
	json_decref(o);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * @p n bytes of @p len got through: take them back if they are still the
 * file's last bytes (nothing was appended after them), else leave them
 * for the next line to step over.
 */
static void
cut_short(struct cp_eve *e, size_t n)
{
	struct stat st;
	off_t end;

	end = lseek(e->fd, 0, SEEK_CUR);
	if (end >= (off_t)n && fstat(e->fd, &st) == 0 && st.st_size == end &&
	    ftruncate(e->fd, end - (off_t)n) == 0)
		return;
	e->torn = true;
}

/* Append one line (built by eve_line) as one write. */
static int
write_line(struct cp_eve *e, char *buf, char *line, size_t len)
{
	ssize_t n;
	int rc = 0;

	if (buf == NULL) {
		atomic_fetch_add_explicit(&e->failed, 1, memory_order_relaxed);
		return -ENOMEM;
	}
	pthread_mutex_lock(&e->lock);
	if (e->torn) { /* end the cut line first: this one stays whole */
		line--;
		len++;
	}
	do
		n = write(e->fd, line, len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		rc = -errno;
	} else if ((size_t)n < len) {
		/* Only a full disk (or a file size limit) cuts a regular file's write. */
		rc = -ENOSPC;
		cut_short(e, (size_t)n);
	} else {
		e->torn = false;
	}
	pthread_mutex_unlock(&e->lock);
	free(buf);
	atomic_fetch_add_explicit(rc == 0 ? &e->lines : &e->failed, 1, memory_order_relaxed);
	return rc;
}

char *
cp_eve_alarm_line(const struct cp_alarm *a, enum cp_alarm_change ch, bool stored, char **line,
		  size_t *len)
{
	char *buf;

	buf = eve_line(a->changed_ns, "alarm", alarm_object(a, ch, stored), line, len);
	if (buf != NULL)
		(*len)--; /* the newline is eve_line's, not the text's */
	return buf;
}

int
cp_eve_write(struct cp_eve *e, char *buf, char *line, size_t len)
{
	if (e == NULL) {
		free(buf);
		return -EINVAL;
	}
	return write_line(e, buf, line, len + 1);
}

int
cp_eve_alarm(struct cp_eve *e, const struct cp_alarm *a, enum cp_alarm_change ch, bool stored)
{
	char *buf, *line = NULL;
	size_t len = 0;

	if (e == NULL || a == NULL)
		return -EINVAL;
	buf = cp_eve_alarm_line(a, ch, stored, &line, &len);
	return cp_eve_write(e, buf, line, len);
}

int
cp_eve_news2(struct cp_eve *e, const struct cp_patient *pt)
{
	char *buf, *line = NULL;
	size_t len = 0;

	if (e == NULL || pt == NULL)
		return -EINVAL;
	buf = eve_line(pt->news2_ns, "news2", news2_object(pt), &line, &len);
	return write_line(e, buf, line, len);
}
