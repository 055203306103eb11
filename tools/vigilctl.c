/*
 * vigilctl.c - the operator's client of vigild's control socket.
 *
 *   vigilctl [--socket PATH] [--json] [--watch [SECONDS]] [--timeout S] COMMAND [ARGS]
 *
 * It speaks controlplane/CONTROL.md: newline-delimited JSON over a unix
 * stream socket, a hello first, then one request (with --watch, one every
 * few seconds; `alarms follow`: a stream), each reply matched to its
 * request by id. Results are printed for people by default: tables for
 * lists, sections for `status`, and "key: value" lines for any shape this
 * client does not know (so that a newer vigild never breaks an older
 * vigilctl); --json prints the result object as one JSON line for scripts.
 *
 * Paths given to `rules check`/`rules load` and `--dir` are made absolute
 * here: vigild reads them, from its own working directory.
 *
 * It links jansson and nothing of vigild or DPDK.
 *
 * Exit status: 0 done; 1 an error reply (its code and message on stderr; a
 * denial also names the role needed), rules with errors, a backup or an
 * audit chain that does not verify; 2 bad usage; 3 vigild could not be
 * reached, or the connection closed or timed out before the reply.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define PROG "vigilctl"
#define PROTOCOL 1 /* CONTROL.md's protocol version */
#define DEFAULT_SOCKET "/run/vigil/vigild.sock"
#define TIMEOUT_S 30.0
#define LONG_TIMEOUT_S 300.0   /* reloads, loads, checks and backups */
#define REPLY_MAX (512u << 20) /* longest reply line taken, bytes */
#define SOCKET_HINT "the socket is control.socket in vigil.yaml, or pass --socket PATH"

enum exit_status {
	EXIT_GOOD = 0,
	EXIT_BAD = 1,
	EXIT_USAGE = 2,
	EXIT_CONNECT = 3,
	EXIT_INTERRUPTED = 130,
};

/* The options a command may take (besides --socket, --json, --timeout). */
enum {
	O_ALL = 1u << 0,
	O_ACTION = 1u << 1,
	O_PRIORITY = 1u << 2,
	O_LIMIT = 1u << 3,
	O_FROM = 1u << 4,
	O_TO = 1u << 5,
	O_DIR = 1u << 6,
	O_WATCH = 1u << 7,
};

static const struct {
	const char *name;
	unsigned bit;
	bool value;
} cmd_options[] = {
	{"all", O_ALL, false},	  {"action", O_ACTION, true}, {"priority", O_PRIORITY, true},
	{"limit", O_LIMIT, true}, {"from", O_FROM, true},     {"to", O_TO, true},
	{"dir", O_DIR, true},
};

struct command;

/** One invocation: the options and words of the command line. */
struct inv {
	const char *socket;
	bool json;
	double watch_s;	    /* 0: no --watch */
	double timeout_s;   /* 0: the command's default */
	unsigned given;	    /* O_* seen */
	const char *opt[8]; /* the value of each valued O_* option, by bit index */
	const char **words; /* positional words, the command's first */
	int n_words;
	const struct command *cmd;
	int n_cmd_words; /* words naming the command (1 or 2) */
};

struct command {
	const char *group; /* "rules"; NULL: a command of one word */
	const char *name;
	const char *wire; /* the protocol's cmd; NULL: local (help) */
	const char *synopsis;
	const char *help;
	unsigned opts;
	int min_args, max_args; /* words after the command's name */
	bool slow;		/* 300 s by default */
	int (*args)(const struct inv *inv, json_t *args);
	int (*print)(const struct inv *inv, json_t *result, json_t *prev, double dt);
};

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The member at a dotted @p path of @p o ("ruleset.version"), or NULL. */
static json_t *
jpath(json_t *o, const char *path)
{
	char key[128];

	while (o != NULL && *path != '\0') {
		const char *dot = strchr(path, '.');
		size_t n = dot != NULL ? (size_t)(dot - path) : strlen(path);

		if (!json_is_object(o) || n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		o = json_object_get(o, key);
		path += n + (dot != NULL);
	}
	return o;
}

static bool
jnum(json_t *v, double *out)
{
	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return true;
}

/* A number at @p path, or @p dflt. */
static double
num(json_t *o, const char *path, double dflt)
{
	double d;

	return jnum(jpath(o, path), &d) ? d : dflt;
}

/* A string at @p path, or @p dflt. */
static const char *
str(json_t *o, const char *path, const char *dflt)
{
	json_t *v = jpath(o, path);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

/* The first of the NULL-ended keys with a non-empty string value, else "-". */
static const char *
first_str(json_t *o, ...)
{
	const char *key, *found = "-";
	va_list ap;

	va_start(ap, o);
	while ((key = va_arg(ap, const char *)) != NULL) {
		const char *s = str(o, key, NULL);

		if (s != NULL && *s != '\0') {
			found = s;
			break;
		}
	}
	va_end(ap);
	return found;
}

static bool
looks_iso(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";

	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (s[i] == '\0')
			return false;
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
			return false;
	}
	return true;
}

/* An ISO 8601 time cut to the second, "2024-03-01 08:02:31" (UTC); other text as is. */
static const char *
short_time(const char *s, char *buf, size_t n)
{
	if (s == NULL)
		return "-";
	if (!looks_iso(s) || n < 20)
		return s;
	memcpy(buf, s, 19);
	buf[10] = ' ';
	buf[19] = '\0';
	return buf;
}

/* "3d 04h 05m", "2h 03m 04s", "5m 06s", "7.2s". */
static const char *
duration(double s, char *buf, size_t n)
{
	unsigned long long t;

	if (!(s >= 0))
		return "-";
	if (s < 60) {
		snprintf(buf, n, "%.1fs", s);
		return buf;
	}
	t = (unsigned long long)s;
	if (t >= 86400)
		snprintf(buf, n, "%llud %02lluh %02llum", t / 86400, t % 86400 / 3600,
			 t % 3600 / 60);
	else if (t >= 3600)
		snprintf(buf, n, "%lluh %02llum %02llus", t / 3600, t % 3600 / 60, t % 60);
	else
		snprintf(buf, n, "%llum %02llus", t / 60, t % 60);
	return buf;
}

static const char *
bytes(double b, char *buf, size_t n)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	unsigned u = 0;

	while (b >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		b /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%.0f B", b);
	else
		snprintf(buf, n, "%.1f %s", b, unit[u]);
	return buf;
}

/* A number as people read it: integers whole, others with up to 6 significant digits. */
static const char *
number(double d, char *buf, size_t n)
{
	if (d > -1e15 && d < 1e15 && d == (double)(long long)d)
		snprintf(buf, n, "%.0f", d);
	else
		snprintf(buf, n, "%.6g", d);
	return buf;
}

/* A scalar as text ("-" for null or missing; objects and arrays as compact JSON in *dumped). */
static const char *
scalar(json_t *v, char *buf, size_t n, char **dumped)
{
	*dumped = NULL;
	if (v == NULL || json_is_null(v))
		return "-";
	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_string_value(v);
	case JSON_INTEGER:
		snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	case JSON_REAL:
		return number(json_real_value(v), buf, n);
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	default:
		*dumped = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		return *dumped != NULL ? *dumped : "?";
	}
}

/* Width on a terminal of UTF-8 text (code points; good enough for tables). */
static size_t
text_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		w += ((unsigned char)*s & 0xC0) != 0x80;
	return w;
}

/* ------------------------------------------------------------------------ */
/* Tables                                                                    */
/* ------------------------------------------------------------------------ */

struct table {
	unsigned ncols;
	char align[32]; /* 'l' or 'r' per column */
	char **cell;
	size_t n, cap;
};

static void
tbl_init(struct table *t, unsigned ncols, const char *align)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols < sizeof(t->align) ? ncols : sizeof(t->align) - 1;
	for (unsigned i = 0; i < t->ncols; i++)
		t->align[i] = align != NULL && i < strlen(align) ? align[i] : 'l';
}

__attribute__((format(printf, 2, 3))) static void
tbl_add(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		s = NULL;
	if (t->n == t->cap) {
		size_t cap = t->cap != 0 ? t->cap * 2 : 64;
		char **c = realloc(t->cell, cap * sizeof(*c));

		if (c == NULL) {
			free(s);
			fprintf(stderr, PROG ": out of memory\n");
			exit(EXIT_BAD);
		}
		t->cell = c;
		t->cap = cap;
	}
	t->cell[t->n++] = s;
}

/* A JSON value as one cell; @p times: ISO times cut to the second. */
static void
tbl_json(struct table *t, json_t *v, bool times)
{
	char buf[64], tb[32], *dumped;
	const char *s;

	if (json_is_true(v) || json_is_false(v)) {
		tbl_add(t, "%s", json_is_true(v) ? "yes" : "no");
		return;
	}
	s = scalar(v, buf, sizeof(buf), &dumped);
	if (times)
		s = short_time(s, tb, sizeof(tb));
	tbl_add(t, "%s", s);
	free(dumped);
}

/* Text that reads as a number ("12", "-3.5", "7.1/s", "12%"): right-aligned in 'n' columns. */
static bool
numeric_cell(const char *s)
{
	char *end;

	if (s == NULL || *s == '\0')
		return false;
	(void)strtod(s, &end);
	return end != s && (*end == '\0' || strcmp(end, "%") == 0 || strcmp(end, "/s") == 0);
}

/*
 * Columns: 'l' left-aligned, 'r' right-aligned, 'n' numbers right-aligned
 * and other text left-aligned, the column as wide as its numbers (longer
 * text runs over). No row ends in blanks.
 */
static void
tbl_print(struct table *t, const char *indent)
{
	size_t w[32] = {0};
	size_t rows = t->ncols != 0 ? (t->n + t->ncols - 1) / t->ncols : 0;

	for (size_t i = 0; i < t->n; i++) {
		size_t l = t->cell[i] != NULL ? text_width(t->cell[i]) : 1;

		if (t->align[i % t->ncols] == 'n' && !numeric_cell(t->cell[i]))
			continue;
		if (l > w[i % t->ncols])
			w[i % t->ncols] = l;
	}
	for (size_t r = 0; r < rows; r++) {
		unsigned last = t->ncols - 1;

		while (last > 0 &&
		       (r * t->ncols + last >= t->n || t->cell[r * t->ncols + last] == NULL ||
			t->cell[r * t->ncols + last][0] == '\0'))
			last--;
		fputs(indent, stdout);
		for (unsigned c = 0; c <= last; c++) {
			size_t i = r * t->ncols + c;
			const char *s = i < t->n && t->cell[i] != NULL ? t->cell[i] : "";
			size_t tw = text_width(s);
			size_t pad = w[c] > tw ? w[c] - tw : 0;
			bool right = t->align[c] == 'r' || (t->align[c] == 'n' && numeric_cell(s));

			if (c > 0)
				fputs("  ", stdout);
			if (right)
				printf("%*s%s", (int)pad, "", s);
			else if (c == last)
				fputs(s, stdout);
			else
				printf("%s%*s", s, (int)pad, "");
		}
		putchar('\n');
	}
}

static void
tbl_free(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->cell[i]);
	free(t->cell);
	memset(t, 0, sizeof(*t));
}

/* A header cell: the key upper-cased. */
static void
tbl_header(struct table *t, const char *key)
{
	char h[64];
	size_t i;

	for (i = 0; key[i] != '\0' && i < sizeof(h) - 1; i++)
		h[i] = key[i] >= 'a' && key[i] <= 'z' ? (char)(key[i] - 'a' + 'A') : key[i];
	h[i] = '\0';
	tbl_add(t, "%s", h);
}

/* "raised_ns" beside "raised": the same time twice; people need it once. */
static bool
redundant(json_t *o, const char *key)
{
	size_t n = strlen(key);
	char base[64];

	if (n < 4 || n >= sizeof(base) || strcmp(key + n - 3, "_ns") != 0)
		return false;
	memcpy(base, key, n - 3);
	base[n - 3] = '\0';
	return json_object_get(o, base) != NULL;
}

/*
 * An array of objects as a table: the columns @p cols (NULL-ended; those no
 * row has are left out), then, if @p rest, every other key in the order met.
 * Numbers are right-aligned; with @p times, ISO times are cut to the second.
 */
static void
print_rows(json_t *rows, const char *const *cols, bool rest, bool times, const char *indent)
{
	const char *keys[32];
	unsigned nk = 0;
	struct table t;
	char align[32];
	json_t *row, *v;
	const char *key;
	size_t i;

	for (const char *const *c = cols; c != NULL && *c != NULL && nk < 31; c++) {
		json_array_foreach(rows, i, row)
		{
			if (json_object_get(row, *c) != NULL) {
				keys[nk++] = *c;
				break;
			}
		}
	}
	if (rest) {
		json_array_foreach(rows, i, row)
		{
			json_object_foreach(row, key, v)
			{
				unsigned k;

				for (k = 0; k < nk && strcmp(keys[k], key) != 0; k++)
					;
				if (k == nk && nk < 31 && !redundant(row, key))
					keys[nk++] = key;
			}
		}
	}
	for (unsigned k = 0; k < nk; k++) {
		bool numeric = false, other = false;

		json_array_foreach(rows, i, row)
		{
			v = json_object_get(row, keys[k]);
			if (json_is_number(v))
				numeric = true;
			else if (v != NULL && !json_is_null(v))
				other = true;
		}
		align[k] = numeric && !other ? 'r' : 'l';
	}
	align[nk] = '\0';
	tbl_init(&t, nk, align);
	for (unsigned k = 0; k < nk; k++)
		tbl_header(&t, keys[k]);
	json_array_foreach(rows, i, row)
	{
		for (unsigned k = 0; k < nk; k++)
			tbl_json(&t, json_object_get(row, keys[k]), times);
	}
	tbl_print(&t, indent);
	tbl_free(&t);
}

/* ------------------------------------------------------------------------ */
/* Any result: "key: value" lines, nested objects indented, arrays of        */
/* objects as tables                                                         */
/* ------------------------------------------------------------------------ */

static bool
is_rows(json_t *v)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return false;
	json_array_foreach(v, i, e)
	{
		if (!json_is_object(e))
			return false;
	}
	return true;
}

static void
print_text_block(const char *s, int indent)
{
	while (*s != '\0') {
		const char *nl = strchr(s, '\n');
		int n = nl != NULL ? (int)(nl - s) : (int)strlen(s);

		printf("%*s%.*s\n", indent, "", n, s);
		s += n + (nl != NULL);
	}
}

static void
print_object(json_t *o, int indent)
{
	size_t w = 0, i;
	const char *key;
	json_t *v, *e;
	char pad[64];

	json_object_foreach(o, key, v)
	{
		if (!json_is_object(v) && !is_rows(v) && strlen(key) > w && !redundant(o, key))
			w = strlen(key);
	}
	snprintf(pad, sizeof(pad), "%*s", indent + 2, "");
	json_object_foreach(o, key, v)
	{
		char buf[64], *dumped;

		if (redundant(o, key))
			continue;
		if (json_is_object(v) && json_object_size(v) != 0) {
			printf("%*s%s:\n", indent, "", key);
			print_object(v, indent + 2);
		} else if (is_rows(v)) {
			printf("%*s%s:\n", indent, "", key);
			print_rows(v, NULL, true, false, pad);
		} else if (json_is_array(v)) {
			printf("%*s%s:%*s ", indent, "", key, (int)(w - strlen(key)), "");
			if (json_array_size(v) == 0)
				fputs("(none)", stdout);
			json_array_foreach(v, i, e)
			{
				printf("%s%s", i != 0 ? ", " : "",
				       scalar(e, buf, sizeof(buf), &dumped));
				free(dumped);
			}
			putchar('\n');
		} else if (json_is_string(v) && strchr(json_string_value(v), '\n') != NULL) {
			printf("%*s%s:\n", indent, "", key);
			print_text_block(json_string_value(v), indent + 2);
		} else {
			printf("%*s%s:%*s %s\n", indent, "", key, (int)(w - strlen(key)), "",
			       scalar(v, buf, sizeof(buf), &dumped));
			free(dumped);
		}
	}
}

static int
print_generic(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	(void)inv;
	(void)prev;
	(void)dt;
	if (json_is_object(r)) {
		print_object(r, 0);
	} else {
		char buf[64], *dumped;

		printf("%s\n", scalar(r, buf, sizeof(buf), &dumped));
		free(dumped);
	}
	return EXIT_GOOD;
}

/* ------------------------------------------------------------------------ */
/* The results of each command, for people                                   */
/* ------------------------------------------------------------------------ */

static int
print_version(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	printf("vigilctl %s (protocol %d)\n", VIGIL_VERSION, PROTOCOL);
	return print_generic(inv, r, prev, dt);
}

static int
print_uptime(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	char b[64], tb[32];

	(void)inv;
	(void)prev;
	(void)dt;
	printf("up %s, since %s UTC\n", duration(num(r, "uptime_s", -1), b, sizeof(b)),
	       short_time(str(r, "started", "-"), tb, sizeof(tb)));
	return EXIT_GOOD;
}

/* "k n, k n" of an object of numbers. */
static void
print_counts(json_t *o)
{
	const char *key;
	json_t *v;
	bool first = true;
	char buf[64];

	json_object_foreach(o, key, v)
	{
		double d = 0;

		jnum(v, &d);
		printf("%s%s %s", first ? "" : ", ", key, number(d, buf, sizeof(buf)));
		first = false;
	}
	if (first)
		fputs("-", stdout);
}

static void
status_ports(json_t *r)
{
	json_t *ports = json_object_get(r, "ports"), *p;
	struct table t;
	size_t i;
	char b[64];

	puts("Ports");
	if (json_array_size(ports) == 0) {
		puts("  (none)");
		return;
	}
	tbl_init(&t, 10, "llrrrrrrrr");
	tbl_add(&t, "NAME");
	tbl_add(&t, "LINK");
	tbl_add(&t, "SPEED");
	tbl_add(&t, "RX/S");
	tbl_add(&t, "IPACKETS");
	tbl_add(&t, "IMISSED");
	tbl_add(&t, "IERRORS");
	tbl_add(&t, "NOMBUF");
	tbl_add(&t, "OPACKETS");
	tbl_add(&t, "OERRORS");
	json_array_foreach(ports, i, p)
	{
		double speed = num(p, "speed_mbps", 0);

		tbl_add(&t, "%s", str(p, "name", "?"));
		tbl_add(&t, "%s", json_is_true(json_object_get(p, "link_up")) ? "up" : "down");
		if (speed >= 1000)
			tbl_add(&t, "%gG", speed / 1000);
		else if (speed > 0)
			tbl_add(&t, "%gM", speed);
		else
			tbl_add(&t, "-");
		tbl_add(&t, "%.0f", num(p, "rx_pps", 0));
		tbl_add(&t, "%s", number(num(p, "ipackets", 0), b, sizeof(b)));
		tbl_add(&t, "%s", number(num(p, "imissed", 0), b, sizeof(b)));
		tbl_add(&t, "%s", number(num(p, "ierrors", 0), b, sizeof(b)));
		tbl_add(&t, "%s", number(num(p, "rx_nombuf", 0), b, sizeof(b)));
		tbl_add(&t, "%s", number(num(p, "opackets", 0), b, sizeof(b)));
		tbl_add(&t, "%s", number(num(p, "oerrors", 0), b, sizeof(b)));
	}
	tbl_print(&t, "  ");
	tbl_free(&t);
}

static void
status_workers(json_t *r)
{
	json_t *workers = json_object_get(r, "workers"), *w;
	struct table t;
	size_t i;
	char b[64];

	puts("Workers");
	if (json_array_size(workers) == 0) {
		puts("  (none)");
		return;
	}
	tbl_init(&t, 9, "rrrrrrrrl");
	tbl_add(&t, "ID");
	tbl_add(&t, "BUSY");
	tbl_add(&t, "RX/S");
	tbl_add(&t, "MBIT/S");
	tbl_add(&t, "PACKETS");
	tbl_add(&t, "DROPS");
	tbl_add(&t, "RULESET");
	tbl_add(&t, "DECIDE P99");
	tbl_add(&t, "DROPPED BY REASON");
	json_array_foreach(workers, i, w)
	{
		json_t *drops = json_object_get(w, "drops"), *v;
		const char *key;
		char *why = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&why, &len);

		tbl_add(&t, "%.0f", num(w, "id", (double)i));
		tbl_add(&t, "%.1f%%", 100 * num(w, "busy", 0));
		tbl_add(&t, "%.0f", num(w, "rx_pps", 0));
		tbl_add(&t, "%.2f", num(w, "rx_mbps", 0));
		tbl_add(&t, "%s", number(num(w, "packets", 0), b, sizeof(b)));
		tbl_add(&t, "%s", number(num(w, "drops_total", 0), b, sizeof(b)));
		tbl_add(&t, "%s", number(num(w, "ruleset_version", 0), b, sizeof(b)));
		/* over the monitor's last second; "-" when it decided nothing */
		if (json_is_object(json_object_get(w, "decision_ns")))
			tbl_add(&t, "%.2f us",
				num(json_object_get(w, "decision_ns"), "p99", 0) / 1000.0);
		else
			tbl_add(&t, "-");
		if (f != NULL) {
			bool first = true;

			json_object_foreach(drops, key, v)
			{
				fprintf(f, "%s%s %s", first ? "" : ", ", key,
					number(json_number_value(v), b, sizeof(b)));
				first = false;
			}
			fclose(f);
		}
		tbl_add(&t, "%s", why != NULL ? why : "");
		free(why);
	}
	tbl_print(&t, "  ");
	tbl_free(&t);
}

static void
status_ruleset(json_t *r)
{
	json_t *rs = json_object_get(r, "ruleset");
	char b[64], tb[32];

	puts("Ruleset");
	if (!json_is_true(json_object_get(rs, "loaded"))) {
		puts("  no rules loaded");
		return;
	}
	printf("  version %s: %.0f rules (%.0f disabled), %.0f patterns\n",
	       number(num(rs, "version", 0), b, sizeof(b)), num(rs, "rules", 0),
	       num(rs, "disabled", 0), num(rs, "patterns", 0));
	printf("  loaded %s UTC, compiled in %.1f ms, hash %s\n",
	       short_time(str(rs, "loaded_at", "-"), tb, sizeof(tb)), num(rs, "compile_ms", 0),
	       str(rs, "hash", "-"));
	fputs("  by action: ", stdout);
	print_counts(json_object_get(rs, "by_action"));
	fputs("\n  by priority: ", stdout);
	print_counts(json_object_get(rs, "by_priority"));
	putchar('\n');
}

static void
status_rings(json_t *r)
{
	json_t *rings = json_object_get(r, "rings"), *g;
	struct table t;
	size_t i;

	puts("Rings");
	if (json_array_size(rings) == 0) {
		puts("  (none)");
		return;
	}
	tbl_init(&t, 6, "rlrrrr");
	tbl_add(&t, "WORKER");
	tbl_add(&t, "LANE");
	tbl_add(&t, "SIZE");
	tbl_add(&t, "COUNT");
	tbl_add(&t, "FILL");
	tbl_add(&t, "HIGH-WATER");
	json_array_foreach(rings, i, g)
	{
		double size = num(g, "size", 0), count = num(g, "count", 0);
		double hw = num(g, "high_water", 0);

		tbl_add(&t, "%.0f", num(g, "worker", 0));
		tbl_add(&t, "%s", str(g, "lane", "?"));
		tbl_add(&t, "%.0f", size);
		tbl_add(&t, "%.0f", count);
		tbl_add(&t, "%.1f%%", size > 0 ? 100 * count / size : 0.0);
		tbl_add(&t, "%.0f (%.1f%%)", hw, size > 0 ? 100 * hw / size : 0.0);
	}
	tbl_print(&t, "  ");
	tbl_free(&t);
}

static void
status_storage(json_t *r)
{
	json_t *s = json_object_get(r, "storage");
	char b[64];

	puts("Storage");
	if (!json_is_true(json_object_get(s, "on"))) {
		puts("  off (storage.dir is not set)");
		return;
	}
	printf("  %s: %s", str(s, "dir", "?"), bytes(num(s, "size_bytes", 0), b, sizeof(b)));
	if (json_is_object(json_object_get(s, "keys"))) {
		fputs("; keys ", stdout);
		print_counts(json_object_get(s, "keys"));
	}
	putchar('\n');
	printf("  %.1f observations/s, %.0f alarm records written, %.0f write errors, %.0f "
	       "no-space, %.0f queued\n",
	       num(s, "obs_per_s", 0), num(s, "alarms_written", 0), num(s, "write_errors", 0),
	       num(s, "no_space", 0), num(s, "queued", 0));
	if (json_is_true(json_object_get(s, "failing")))
		printf("  FAILING: %s\n", str(s, "last_error", "unknown error"));
}

static void
status_alarms(json_t *r)
{
	json_t *a = json_object_get(r, "alarms");

	puts("Alarms");
	if (json_is_false(json_object_get(a, "on"))) {
		puts("  off (the clinical pipeline does not run)");
		return;
	}
	printf("  %.0f open: high %.0f, medium %.0f, low %.0f\n", num(a, "total_open", 0),
	       num(a, "open.high", 0), num(a, "open.medium", 0), num(a, "open.low", 0));
}

static int
print_status(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	char b[64], tb[32], tb2[32];
	json_t *ev = json_object_get(r, "events");

	(void)inv;
	(void)prev;
	(void)dt;
	printf("vigild up %s (since %s UTC); sample %s UTC",
	       duration(num(r, "uptime_s", -1), b, sizeof(b)),
	       short_time(str(r, "started", "-"), tb, sizeof(tb)),
	       short_time(str(r, "time", "-"), tb2, sizeof(tb2)));
	if (num(r, "interval_s", 0) > 0)
		printf(", rates over %.1f s", num(r, "interval_s", 0));
	putchar('\n');
	status_ports(r);
	status_workers(r);
	status_ruleset(r);
	status_rings(r);
	status_storage(r);
	status_alarms(r);
	if (json_is_object(ev)) {
		puts("Events");
		printf("  alarm events %.0f (lost %.0f), telemetry events %.0f (lost %.0f)\n",
		       num(ev, "alarm_events", 0), num(ev, "alarm_lost", 0),
		       num(ev, "telemetry_events", 0), num(ev, "telemetry_lost", 0));
	}
	if (jpath(r, "registry.devices") != NULL || json_object_get(r, "patients") != NULL)
		printf("Devices %.0f, patients %.0f\n", num(r, "registry.devices", 0),
		       num(r, "patients", 0));
	return EXIT_GOOD;
}

/* Every leaf of @p v as a row PATH VALUE [RATE] (RATE: per second since @p prev). */
static void
flatten(struct table *t, json_t *v, json_t *prev, double dt, char *path, size_t len, size_t cap)
{
	if (json_is_object(v) && json_object_size(v) != 0) {
		const char *key;
		json_t *e;

		json_object_foreach(v, key, e)
		{
			int n = snprintf(path + len, cap - len, "%s%s", len != 0 ? "." : "", key);

			if (n < 0 || (size_t)n >= cap - len)
				continue;
			flatten(t, e, json_object_get(prev, key), dt, path, len + (size_t)n, cap);
			path[len] = '\0';
		}
	} else if (json_is_array(v) && json_array_size(v) != 0) {
		size_t i;
		json_t *e;

		json_array_foreach(v, i, e)
		{
			int n = snprintf(path + len, cap - len, "[%zu]", i);

			if (n < 0 || (size_t)n >= cap - len)
				continue;
			flatten(t, e, json_array_get(prev, i), dt, path, len + (size_t)n, cap);
			path[len] = '\0';
		}
	} else {
		tbl_add(t, "%s", path);
		tbl_json(t, v, false);
		if (json_is_integer(v) && json_is_integer(prev) && dt > 0 &&
		    json_integer_value(v) > json_integer_value(prev))
			tbl_add(t, "%.1f/s",
				(double)(json_integer_value(v) - json_integer_value(prev)) / dt);
		else
			tbl_add(t, "%s", "");
	}
}

static int
print_stats(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	struct table t;
	char path[512] = "";

	(void)inv;
	tbl_init(&t, 3, "lnn");
	flatten(&t, r, prev, dt, path, 0, sizeof(path));
	tbl_print(&t, "");
	tbl_free(&t);
	return EXIT_GOOD;
}

static int
print_rules_list(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	static const char *const cols[] = {"sid",  "rev",     "action", "priority",
					   "hits", "enabled", "msg",	NULL};
	json_t *rules = json_object_get(r, "rules");
	char b[64];

	(void)inv;
	(void)prev;
	(void)dt;
	printf("ruleset version %s: %zu rules\n", number(num(r, "version", 0), b, sizeof(b)),
	       json_array_size(rules));
	if (json_array_size(rules) != 0)
		print_rows(rules, cols, false, false, "");
	return EXIT_GOOD;
}

static int
print_rules_show(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	json_t *text = json_object_get(r, "text");

	json_incref(text);
	json_object_del(r, "text");
	print_generic(inv, r, prev, dt);
	if (json_is_string(text)) {
		puts("text:");
		print_text_block(json_string_value(text), 2);
	}
	json_decref(text);
	return EXIT_GOOD;
}

/* rules check, load and reload: the diagnostics, then one line. */
static int
print_rules_result(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	bool ok = !json_is_false(json_object_get(r, "ok"));
	const char *diag = str(r, "diagnostics", "");
	bool check = strcmp(inv->cmd->name, "check") == 0;
	char b[64];

	(void)prev;
	(void)dt;
	if (*diag != '\0') {
		fputs(diag, ok ? stdout : stderr);
		if (diag[strlen(diag) - 1] != '\n')
			fputc('\n', ok ? stdout : stderr);
	}
	if (!ok) {
		fprintf(stderr,
			PROG ": rules %s: %.0f errors, %.0f warnings; the ruleset in force is "
			     "unchanged\n",
			inv->cmd->name, num(r, "errors", 0), num(r, "warnings", 0));
		return EXIT_BAD;
	}
	if (check)
		printf("ok: %.0f rules, %.0f errors, %.0f warnings (nothing was loaded)\n",
		       num(r, "rules", 0), num(r, "errors", 0), num(r, "warnings", 0));
	else
		printf("ruleset version %s in force: %.0f rules, %.0f warnings; compiled in %.1f "
		       "ms, "
		       "published in %.1f ms; hash %s\n",
		       number(num(r, "version", 0), b, sizeof(b)), num(r, "rules", 0),
		       num(r, "warnings", 0), num(r, "compile_ms", 0), num(r, "publish_ms", 0),
		       str(r, "hash", "-"));
	return EXIT_GOOD;
}

static int
print_alarms_list(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	json_t *alarms = json_object_get(r, "alarms"), *a;
	struct table t;
	size_t i;
	char tb[32];

	(void)prev;
	(void)dt;
	if (json_array_size(alarms) == 0) {
		puts((inv->given & O_ALL) ? "no alarms" : "no open alarms");
		return EXIT_GOOD;
	}
	tbl_init(&t, 6, "rlllll");
	tbl_add(&t, "ID");
	tbl_add(&t, "PRIO");
	tbl_add(&t, "STATE");
	tbl_add(&t, "SINCE");
	tbl_add(&t, "PATIENT/DEVICE");
	tbl_add(&t, "MESSAGE");
	json_array_foreach(alarms, i, a)
	{
		tbl_json(&t, json_object_get(a, "id"), false);
		tbl_add(&t, "%s", str(a, "priority", "-"));
		tbl_add(&t, "%s", str(a, "state", "-"));
		tbl_add(&t, "%s",
			short_time(first_str(a, "raised", "onset", "changed", "time", NULL), tb,
				   sizeof(tb)));
		tbl_add(&t, "%s", first_str(a, "patient", "subject", "device_id", "device", NULL));
		tbl_add(&t, "%s", str(a, "msg", "-"));
	}
	tbl_print(&t, "");
	tbl_free(&t);
	return EXIT_GOOD;
}

/* One alarm: its fields, then its history as a table. */
static int
print_alarm(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	static const char *const cols[] = {"time", "change", "state", "priority", "by", NULL};
	json_t *hist = json_object_get(r, "history");

	(void)inv;
	(void)prev;
	(void)dt;
	json_incref(hist);
	json_object_del(r, "history");
	print_object(r, 0);
	if (is_rows(hist)) {
		puts("history:");
		print_rows(hist, cols, true, false, "  ");
	}
	json_decref(hist);
	return EXIT_GOOD;
}

/* ack, reset, silence: one line, the alarm after the change. */
static int
print_alarm_changed(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	json_t *hist = json_object_get(r, "history");
	json_t *last = json_array_get(hist, json_array_size(hist) - 1);
	char b[64], *dumped;
	const char *by = first_str(last, "by", NULL);

	(void)inv;
	(void)prev;
	(void)dt;
	printf("alarm %s: %s", scalar(json_object_get(r, "id"), b, sizeof(b), &dumped),
	       str(r, "state", "?"));
	free(dumped);
	if (strcmp(by, "-") != 0)
		printf(" (%s by %s)", str(last, "change", "changed"), by);
	if (json_is_string(json_object_get(r, "silenced_until")))
		printf(", silenced until %s", str(r, "silenced_until", ""));
	printf(": %s\n", str(r, "msg", ""));
	return EXIT_GOOD;
}

static int
print_devices_list(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	static const char *const cols[] = {"device",	"device_id", "patient",
					   "location",	"sender",    "first_seen",
					   "last_seen", "messages",  NULL};
	json_t *d = json_object_get(r, "devices");

	(void)inv;
	(void)prev;
	(void)dt;
	if (json_array_size(d) == 0)
		puts("no devices");
	else
		print_rows(d, cols, false, true, "");
	return EXIT_GOOD;
}

static int
print_patients_list(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	static const char *const cols[] = {"patient",  "location", "news2", "risk",
					   "complete", "updated",  NULL};
	json_t *p = json_object_get(r, "patients");

	(void)inv;
	(void)prev;
	(void)dt;
	if (json_array_size(p) == 0)
		puts("no patients");
	else
		print_rows(p, cols, false, true, "");
	return EXIT_GOOD;
}

static int
print_query(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	static const char *const cols[] = {"time", "metric", "code", "value",
					   "unit", "flags",  "seq",  NULL};
	json_t *o = json_object_get(r, "observations");

	(void)inv;
	(void)prev;
	(void)dt;
	if (json_array_size(o) == 0)
		puts("no observations");
	else
		print_rows(o, cols, true, false, "");
	if (json_is_true(json_object_get(r, "truncated")))
		printf("(truncated at %zu observations: --limit N or a narrower --from/--to for "
		       "more)\n",
		       json_array_size(o));
	return EXIT_GOOD;
}

static int
print_backup_create(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	char b[64], sb[64], *dumped;

	(void)inv;
	(void)prev;
	(void)dt;
	printf("backup %s made in %s: %s, %.0f files, %s\n",
	       scalar(json_object_get(r, "id"), b, sizeof(b), &dumped), str(r, "dir", "?"),
	       bytes(num(r, "size", 0), sb, sizeof(sb)), num(r, "files", 0), str(r, "time", "-"));
	free(dumped);
	return EXIT_GOOD;
}

static int
print_backup_list(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	static const char *const cols[] = {"id", "time", "size", "files", NULL};
	json_t *b = json_object_get(r, "backups");

	(void)inv;
	(void)prev;
	(void)dt;
	if (json_array_size(b) == 0)
		puts("no backups");
	else
		print_rows(b, cols, true, true, "");
	return EXIT_GOOD;
}

static int
print_backup_verify(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	char b[64], *dumped;
	const char *id = scalar(json_object_get(r, "id"), b, sizeof(b), &dumped);
	int rc = EXIT_GOOD;

	(void)inv;
	(void)prev;
	(void)dt;
	if (json_is_true(json_object_get(r, "ok"))) {
		printf("backup %s: ok\n", id);
	} else {
		fprintf(stderr, PROG ": backup %s does not verify: %s\n", id,
			first_str(r, "reason", "message", "error", NULL));
		rc = EXIT_BAD;
	}
	free(dumped);
	return rc;
}

static int
print_audit_list(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	static const char *const cols[] = {"seq",     "time",	"user",	  "uid", "role",
					   "command", "result", "detail", NULL};
	json_t *rec = json_object_get(r, "records");

	(void)inv;
	(void)prev;
	(void)dt;
	if (json_array_size(rec) == 0)
		puts("no audit records");
	else
		print_rows(rec, cols, false, true, "");
	return EXIT_GOOD;
}

static int
print_audit_verify(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	const char *reason = str(r, "reason", "");

	(void)inv;
	(void)prev;
	(void)dt;
	if (!json_is_true(json_object_get(r, "ok"))) {
		fprintf(stderr, PROG ": the audit chain is broken at record %.0f: %s\n",
			num(r, "bad_seq", 0), *reason != '\0' ? reason : "(no reason given)");
		return EXIT_BAD;
	}
	if (num(r, "records", 0) == 0)
		printf("audit chain ok: no records\n");
	else
		printf("audit chain ok: %.0f records, %.0f to %.0f\n", num(r, "records", 0),
		       num(r, "first", 0), num(r, "last", 0));
	if (*reason != '\0')
		printf("  %s\n", reason);
	return EXIT_GOOD;
}

static int
print_shutdown(const struct inv *inv, json_t *r, json_t *prev, double dt)
{
	(void)inv;
	(void)r;
	(void)prev;
	(void)dt;
	puts("vigild is stopping");
	return EXIT_GOOD;
}

/* ------------------------------------------------------------------------ */
/* Arguments of each command                                                 */
/* ------------------------------------------------------------------------ */

static const char *
opt_value(const struct inv *inv, unsigned bit)
{
	for (unsigned i = 0; i < 8; i++)
		if (bit == 1u << i)
			return inv->opt[i];
	return NULL;
}

static void usage_of(const struct command *c);

/* A non-negative integer word; a usage error (printed) otherwise. */
static int
whole(const struct inv *inv, const char *what, const char *s, json_int_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 ||
	    v > (unsigned long long)INT64_MAX) {
		fprintf(stderr, PROG ": %s: \"%s\" is not a whole number\n", what, s);
		usage_of(inv->cmd);
		return EXIT_USAGE;
	}
	*out = (json_int_t)v;
	return 0;
}

static int
set_whole(const struct inv *inv, json_t *args, const char *key, const char *what, const char *s)
{
	json_int_t v;
	int rc = whole(inv, what, s, &v);

	if (rc == 0 && json_object_set_new(args, key, json_integer(v)) != 0)
		rc = EXIT_BAD;
	return rc;
}

static int
set_text(json_t *args, const char *key, const char *s)
{
	return s == NULL || json_object_set_new(args, key, json_string(s)) == 0 ? 0 : EXIT_BAD;
}

/* A path made absolute (vigild reads it from elsewhere); realpath when it resolves. */
static char *
absolute(const char *p)
{
	char *r = realpath(p, NULL), *cwd;

	if (r != NULL || p[0] == '/')
		return r != NULL ? r : strdup(p);
	cwd = getcwd(NULL, 0);
	if (cwd == NULL || asprintf(&r, "%s/%s", cwd, p) < 0)
		r = NULL;
	free(cwd);
	return r;
}

static int
args_files(const struct inv *inv, json_t *args)
{
	json_t *files;
	int first = inv->n_cmd_words;

	if (inv->n_words == first)
		return 0; /* rules check: the configured files */
	files = json_array();
	if (files == NULL || json_object_set_new(args, "files", files) != 0)
		return EXIT_BAD;
	for (int i = first; i < inv->n_words; i++) {
		char *a = absolute(inv->words[i]);

		if (a == NULL || json_array_append_new(files, json_string(a)) != 0) {
			free(a);
			return EXIT_BAD;
		}
		free(a);
	}
	return 0;
}

static int
args_dir(const struct inv *inv, json_t *args)
{
	const char *d = opt_value(inv, O_DIR);
	char *a;
	int rc;

	if (d == NULL)
		return 0;
	a = absolute(d);
	rc = a != NULL ? set_text(args, "dir", a) : EXIT_BAD;
	free(a);
	return rc;
}

static int
args_limit(const struct inv *inv, json_t *args)
{
	const char *l = opt_value(inv, O_LIMIT);

	return l != NULL ? set_whole(inv, args, "limit", "--limit", l) : 0;
}

static int
args_rules_list(const struct inv *inv, json_t *args)
{
	int rc = set_text(args, "action", opt_value(inv, O_ACTION));

	return rc != 0 ? rc : set_text(args, "priority", opt_value(inv, O_PRIORITY));
}

static int
args_sid(const struct inv *inv, json_t *args)
{
	return set_whole(inv, args, "sid", "SID", inv->words[inv->n_cmd_words]);
}

static int
args_alarm_id(const struct inv *inv, json_t *args)
{
	return set_whole(inv, args, "id", "ID", inv->words[inv->n_cmd_words]);
}

static int
args_alarms_list(const struct inv *inv, json_t *args)
{
	int rc = 0;

	if (inv->given & O_ALL)
		rc = set_text(args, "state", "all");
	if (rc == 0)
		rc = set_text(args, "priority", opt_value(inv, O_PRIORITY));
	return rc != 0 ? rc : args_limit(inv, args);
}

static int
args_device(const struct inv *inv, json_t *args)
{
	return set_text(args, "device", inv->words[inv->n_cmd_words]);
}

static int
args_patient(const struct inv *inv, json_t *args)
{
	return set_text(args, "patient", inv->words[inv->n_cmd_words]);
}

/* A time: digits as epoch seconds (a number), anything else as text (ISO 8601). */
static int
set_time_arg(json_t *args, const char *key, const char *s)
{
	bool digits = s != NULL && *s != '\0' && strspn(s, "0123456789") == strlen(s);

	if (s == NULL)
		return 0;
	if (digits && strlen(s) < 19)
		return json_object_set_new(args, key, json_integer(strtoll(s, NULL, 10))) == 0
			       ? 0
			       : EXIT_BAD;
	return set_text(args, key, s);
}

static int
args_query(const struct inv *inv, json_t *args)
{
	int rc = args_device(inv, args);

	if (rc == 0)
		rc = set_time_arg(args, "from", opt_value(inv, O_FROM));
	if (rc == 0)
		rc = set_time_arg(args, "to", opt_value(inv, O_TO));
	return rc != 0 ? rc : args_limit(inv, args);
}

static int
args_backup_verify(const struct inv *inv, json_t *args)
{
	int rc = args_dir(inv, args);

	if (rc == 0 && inv->n_words > inv->n_cmd_words)
		rc = set_whole(inv, args, "id", "ID", inv->words[inv->n_cmd_words]);
	return rc;
}

static int
args_audit_list(const struct inv *inv, json_t *args)
{
	const char *from = opt_value(inv, O_FROM);
	int rc = from != NULL ? set_whole(inv, args, "from", "--from", from) : 0;

	return rc != 0 ? rc : args_limit(inv, args);
}

/* ------------------------------------------------------------------------ */
/* The commands                                                              */
/* ------------------------------------------------------------------------ */

static const struct command commands[] = {
	{NULL, "version", "version", "version", "vigild's version, DPDK's, Hyperscan's", 0, 0, 0,
	 false, NULL, print_version},
	{NULL, "uptime", "uptime", "uptime", "how long vigild has run", 0, 0, 0, false, NULL,
	 print_uptime},
	{NULL, "status", "status", "status [--watch [N]]",
	 "ports, workers, ruleset, rings, storage, open alarms", O_WATCH, 0, 0, false, NULL,
	 print_status},
	{NULL, "stats", "stats", "stats [--watch [N]]",
	 "every counter (--watch: with rates per second)", O_WATCH, 0, 0, false, NULL, print_stats},
	{"rules", "check", "rules.check", "rules check [FILE...]",
	 "check rule files (default: the configured ones); nothing changes", 0, 0, INT_MAX, true,
	 args_files, print_rules_result},
	{"rules", "load", "rules.load", "rules load FILE...",
	 "load these files; they stay the ruleset for later reloads", 0, 1, INT_MAX, true,
	 args_files, print_rules_result},
	{"rules", "reload", "rules.reload", "rules reload", "reload the rule files (as SIGHUP)", 0,
	 0, 0, true, NULL, print_rules_result},
	{"rules", "list", "rules.list", "rules list [--action A] [--priority P]",
	 "the ruleset in force, with hits", O_ACTION | O_PRIORITY, 0, 0, false, args_rules_list,
	 print_rules_list},
	{"rules", "show", "rules.show", "rules show SID", "one rule, with its text", 0, 1, 1, false,
	 args_sid, print_rules_show},
	{"alarms", "list", "alarms.list", "alarms list [--all] [--priority P] [--limit N]",
	 "open alarms, newest first (--all: closed ones too)", O_ALL | O_PRIORITY | O_LIMIT, 0, 0,
	 false, args_alarms_list, print_alarms_list},
	{"alarms", "show", "alarms.show", "alarms show ID", "one alarm with its history", 0, 1, 1,
	 false, args_alarm_id, print_alarm},
	{"alarms", "ack", "alarms.ack", "alarms ack ID", "acknowledge an alarm (operator)", 0, 1, 1,
	 false, args_alarm_id, print_alarm_changed},
	{"alarms", "reset", "alarms.reset", "alarms reset ID", "reset a latched alarm (operator)",
	 0, 1, 1, false, args_alarm_id, print_alarm_changed},
	{"alarms", "silence", "alarms.silence", "alarms silence ID",
	 "pause an alarm's audio for alarms.silence (operator)", 0, 1, 1, false, args_alarm_id,
	 print_alarm_changed},
	{"alarms", "follow", "alarms.follow", "alarms follow",
	 "every alarm change as it is announced, until Ctrl-C", 0, 0, 0, false, NULL, NULL},
	{"devices", "list", "devices.list", "devices list [--limit N]", "the device registry",
	 O_LIMIT, 0, 0, false, args_limit, print_devices_list},
	{"devices", "show", "devices.show", "devices show DEVICE",
	 "one device (its 0x... key or device id)", 0, 1, 1, false, args_device, print_generic},
	{"patients", "list", "patients.list", "patients list", "the latest NEWS2 of each patient",
	 0, 0, 0, false, NULL, print_patients_list},
	{"patients", "show", "patients.show", "patients show PATIENT",
	 "a patient's latest vital signs and NEWS2 breakdown", 0, 1, 1, false, args_patient,
	 print_generic},
	{NULL, "query", "query", "query DEVICE [--from T] [--to T] [--limit N]",
	 "a device's stored observations (T: ISO 8601 or epoch seconds)", O_FROM | O_TO | O_LIMIT,
	 1, 1, false, args_query, print_query},
	{"backup", "create", "backup.create", "backup create [--dir D]",
	 "back the store up (default into backup.dir)", O_DIR, 0, 0, true, args_dir,
	 print_backup_create},
	{"backup", "list", "backup.list", "backup list [--dir D]", "the backups", O_DIR, 0, 0,
	 false, args_dir, print_backup_list},
	{"backup", "verify", "backup.verify", "backup verify [ID] [--dir D]",
	 "check a backup (default the latest) against its checksums", O_DIR, 0, 1, true,
	 args_backup_verify, print_backup_verify},
	{"audit", "list", "audit.list", "audit list [--from SEQ] [--limit N]",
	 "who did what: the audit records", O_FROM | O_LIMIT, 0, 0, false, args_audit_list,
	 print_audit_list},
	{"audit", "verify", "audit.verify", "audit verify",
	 "walk the audit chain; names the first record modified, removed or reordered", 0, 0, 0,
	 false, NULL, print_audit_verify},
	{NULL, "shutdown", "shutdown", "shutdown", "stop vigild (as SIGTERM; admin)", 0, 0, 0,
	 false, NULL, print_shutdown},
	{NULL, "help", NULL, "help", "this text", 0, 0, 1, false, NULL, NULL},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char usage_line[] =
	"usage: vigilctl [--socket PATH] [--json] [--watch [SECONDS]] [--timeout S] COMMAND "
	"[ARGS]\n";

static void
help(FILE *f)
{
	fputs(usage_line, f);
	fputs("\nThe client of vigild's control socket (controlplane/CONTROL.md).\n\nCommands:\n",
	      f);
	for (size_t i = 0; i < N_COMMANDS; i++) {
		const char *h = commands[i].help;
		int col = fprintf(f, "  %-44s", commands[i].synopsis);

		/* The text from column 47, wrapped at 100. */
		if (col > 46) {
			fputc('\n', f);
			col = 0;
		}
		while (*h != '\0') {
			size_t n = strlen(h), room = 100 - 47;

			if (n > room) {
				n = room;
				while (n > 0 && h[n] != ' ')
					n--;
				if (n == 0)
					n = strcspn(h, " ");
			}
			fprintf(f, "%*s%.*s\n", 47 - col, "", (int)n, h);
			col = 0;
			h += n;
			while (*h == ' ')
				h++;
		}
	}
	fputs("\nOptions:\n"
	      "  --socket PATH    the control socket (default $VIGIL_SOCKET, else " DEFAULT_SOCKET
	      ")\n"
	      "  --json           the result as one JSON line (alarms follow: one line per "
	      "change)\n"
	      "  --watch [N]      status and stats: again every N seconds (default 1)\n"
	      "  --timeout S      seconds to wait for the reply (default 30; 300 for rules\n"
	      "                   check/load/reload and backup create/verify)\n"
	      "  -h, --help       this text\n"
	      "\nRoles (control.roles in vigil.yaml): a viewer reads; an operator also acks,\n"
	      "resets and silences alarms; an admin also checks, loads and reloads rules, makes\n"
	      "and verifies backups and shuts vigild down.\n"
	      "\nExit status: 0 done; 1 an error reply (rules with errors, a backup or audit\n"
	      "chain that does not verify); 2 bad usage; 3 vigild could not be reached or the\n"
	      "connection ended before the reply.\n",
	      f);
}

static void
usage_of(const struct command *c)
{
	if (c != NULL)
		fprintf(stderr, "usage: vigilctl %s (vigilctl --help for more)\n", c->synopsis);
	else
		fprintf(stderr, "%s(vigilctl --help lists the commands)\n", usage_line);
}

/* ------------------------------------------------------------------------ */
/* The command line                                                          */
/* ------------------------------------------------------------------------ */

static bool
positive_seconds(const char *s, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !(d > 0) || d > 86400 * 365)
		return false;
	*out = d;
	return true;
}

static int bad_usage(const struct command *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
bad_usage(const struct command *c, const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage_of(c);
	return EXIT_USAGE;
}

/* Which command the words name; a usage error (printed) when none. */
static int
find_command(struct inv *inv)
{
	const char *w0, *w1;
	bool group = false;

	if (inv->n_words == 0)
		return bad_usage(NULL, "no command");
	w0 = inv->words[0];
	w1 = inv->n_words > 1 ? inv->words[1] : NULL;
	for (size_t i = 0; i < N_COMMANDS; i++) {
		const struct command *c = &commands[i];

		if (c->group == NULL && strcmp(c->name, w0) == 0) {
			inv->cmd = c;
			inv->n_cmd_words = 1;
			return 0;
		}
		if (c->group != NULL && strcmp(c->group, w0) == 0) {
			group = true;
			if (w1 != NULL && strcmp(c->name, w1) == 0) {
				inv->cmd = c;
				inv->n_cmd_words = 2;
				return 0;
			}
		}
	}
	if (!group)
		return bad_usage(NULL, "unknown command \"%s\"", w0);
	if (w1 == NULL)
		fprintf(stderr, PROG ": \"%s\" needs a subcommand\n", w0);
	else
		fprintf(stderr, PROG ": no command \"%s %s\"\n", w0, w1);
	for (size_t i = 0, n = 0; i < N_COMMANDS; i++)
		if (commands[i].group != NULL && strcmp(commands[i].group, w0) == 0)
			fprintf(stderr, "%s vigilctl %s\n", n++ == 0 ? "usage:" : "      ",
				commands[i].synopsis);
	return EXIT_USAGE;
}

/* @return 0, EXIT_GOOD with *help set, or EXIT_USAGE (said). */
static int
parse(int argc, char **argv, struct inv *inv, bool *want_help)
{
	bool options = true;
	const char *env = getenv("VIGIL_SOCKET");
	unsigned options_given = 0;
	int rc;

	inv->socket = env != NULL && *env != '\0' ? env : DEFAULT_SOCKET;
	inv->words = calloc((size_t)argc + 1, sizeof(*inv->words));
	if (inv->words == NULL)
		return EXIT_BAD;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		char name[32];
		size_t n;
		bool found = false;

		if (!options || a[0] != '-' || a[1] == '\0') {
			inv->words[inv->n_words++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			options = false;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			*want_help = true;
			continue;
		}
		if (a[1] != '-')
			return bad_usage(NULL, "unknown option %s", a);
		eq = strchr(a + 2, '=');
		n = eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2);
		if (n >= sizeof(name))
			return bad_usage(NULL, "unknown option %s", a);
		memcpy(name, a + 2, n);
		name[n] = '\0';
		if (eq != NULL)
			val = eq + 1;
		if (strcmp(name, "json") == 0) {
			if (val != NULL)
				return bad_usage(NULL, "--json takes no value");
			inv->json = true;
			continue;
		}
		if (strcmp(name, "watch") == 0) {
			inv->watch_s = 1;
			options_given |= O_WATCH;
			if (val == NULL && i + 1 < argc &&
			    positive_seconds(argv[i + 1], &inv->watch_s))
				i++;
			else if (val != NULL && !positive_seconds(val, &inv->watch_s))
				return bad_usage(NULL,
						 "--watch: \"%s\" is not a number of seconds > 0",
						 val);
			continue;
		}
		if (strcmp(name, "socket") == 0 || strcmp(name, "timeout") == 0) {
			if (val == NULL && i + 1 >= argc)
				return bad_usage(NULL, "--%s needs a value", name);
			if (val == NULL)
				val = argv[++i];
			if (name[0] == 's') {
				if (*val == '\0')
					return bad_usage(NULL, "--socket: an empty path");
				inv->socket = val;
			} else if (!positive_seconds(val, &inv->timeout_s)) {
				return bad_usage(NULL,
						 "--timeout: \"%s\" is not a number of seconds > 0",
						 val);
			}
			continue;
		}
		for (size_t k = 0; k < sizeof(cmd_options) / sizeof(cmd_options[0]); k++) {
			if (strcmp(cmd_options[k].name, name) != 0)
				continue;
			found = true;
			options_given |= cmd_options[k].bit;
			if (!cmd_options[k].value) {
				if (val != NULL)
					return bad_usage(NULL, "--%s takes no value", name);
				break;
			}
			if (val == NULL && i + 1 >= argc)
				return bad_usage(NULL, "--%s needs a value", name);
			if (val == NULL)
				val = argv[++i];
			for (unsigned b = 0; b < 8; b++)
				if (cmd_options[k].bit == 1u << b)
					inv->opt[b] = val;
			break;
		}
		if (!found)
			return bad_usage(NULL, "unknown option --%s", name);
	}
	inv->given = options_given;
	if (*want_help && inv->n_words == 0)
		return 0;
	rc = find_command(inv);
	if (rc != 0)
		return rc;
	if (*want_help || inv->cmd->wire == NULL) {
		*want_help = true;
		return 0;
	}
	for (size_t k = 0; k < sizeof(cmd_options) / sizeof(cmd_options[0]); k++)
		if ((options_given & cmd_options[k].bit) && !(inv->cmd->opts & cmd_options[k].bit))
			return bad_usage(inv->cmd, "%s takes no --%s", inv->cmd->synopsis,
					 cmd_options[k].name);
	if ((options_given & O_WATCH) && !(inv->cmd->opts & O_WATCH))
		return bad_usage(inv->cmd, "--watch goes with status and stats only");
	if (inv->n_words - inv->n_cmd_words < inv->cmd->min_args)
		return bad_usage(inv->cmd, "%s: missing argument", inv->cmd->synopsis);
	if (inv->n_words - inv->n_cmd_words > inv->cmd->max_args)
		return bad_usage(inv->cmd, "%s: unexpected argument \"%s\"", inv->cmd->synopsis,
				 inv->words[inv->n_cmd_words + inv->cmd->max_args]);
	if (inv->timeout_s == 0)
		inv->timeout_s = inv->cmd->slow ? LONG_TIMEOUT_S : TIMEOUT_S;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The connection                                                            */
/* ------------------------------------------------------------------------ */

struct conn {
	int fd;
	const char *path;
	char *buf;
	size_t len, cap;
	size_t used; /* the line handed out last, dropped at the next read */
	json_int_t next_id;
};

static int
conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int err;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->path = path;
	c->next_id = 1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		err = ENAMETOOLONG;
		goto out;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		err = errno;
		goto out;
	}
	while (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (errno == EINTR && !interrupted)
			continue;
		err = errno;
		goto out;
	}
	return 0;
out:
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (err == EACCES || err == EPERM)
		fprintf(stderr,
			PROG
			": cannot connect to %s: %s (its mode and group are control.mode and "
			"control.group in vigil.yaml: vigilctl's user must be allowed to write "
			"it)\n",
			path, strerror(err));
	else
		fprintf(stderr,
			PROG ": cannot connect to %s: %s (is vigild running? " SOCKET_HINT ")\n",
			path, strerror(err));
	return EXIT_CONNECT;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Send one request; its id in *id. @return 0 or an exit status (said). */
static int
conn_send(struct conn *c, const char *cmd, json_t *args, json_int_t *id)
{
	json_t *req;
	char *text;
	size_t len, off = 0;
	int rc = 0;

	*id = c->next_id++;
	req = json_pack("{s:I, s:s, s:O}", "id", (json_int_t)*id, "cmd", cmd, "args", args);
	text = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (text == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return EXIT_BAD;
	}
	len = strlen(text);
	text[len++] = '\n'; /* over the NUL: the text is not used as a string again */
	while (off < len) {
		ssize_t n = send(c->fd, text + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR && !interrupted)
			continue;
		if (n < 0) {
			if (errno == EINTR)
				rc = EXIT_INTERRUPTED;
			else {
				fprintf(stderr, PROG ": sending to %s: %s (did vigild stop?)\n",
					c->path, strerror(errno));
				rc = EXIT_CONNECT;
			}
			break;
		}
		off += (size_t)n;
	}
	free(text);
	return rc;
}

/*
 * The next line from vigild (NUL-terminated in *line, valid until the next
 * call), waiting until @p deadline (monotonic s; <0: for ever).
 * @return 1, 0 at the end of the stream, -ETIMEDOUT, -EINTR, -EMSGSIZE or -errno.
 */
static int
conn_line(struct conn *c, double deadline, char **line)
{
	if (c->used != 0) {
		memmove(c->buf, c->buf + c->used, c->len - c->used);
		c->len -= c->used;
		c->used = 0;
	}
	for (size_t scanned = 0;;) {
		char *nl =
			c->len > scanned ? memchr(c->buf + scanned, '\n', c->len - scanned) : NULL;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int wait_ms = -1, pr;
		ssize_t n;

		if (nl != NULL) {
			*nl = '\0';
			*line = c->buf;
			c->used = (size_t)(nl - c->buf) + 1;
			return 1;
		}
		scanned = c->len;
		if (c->cap - c->len < 65536) {
			size_t cap = c->cap != 0 ? c->cap * 2 : 262144;
			char *b;

			if (cap > REPLY_MAX)
				return -EMSGSIZE;
			b = realloc(c->buf, cap);
			if (b == NULL)
				return -ENOMEM;
			c->buf = b;
			c->cap = cap;
		}
		if (interrupted)
			return -EINTR;
		if (deadline >= 0) {
			double left = deadline - now_s();

			if (left <= 0)
				return -ETIMEDOUT;
			wait_ms = (int)(left * 1000) + 1;
		}
		pr = poll(&pfd, 1, wait_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -errno;
		if (pr == 0)
			continue;
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return errno == ECONNRESET ? 0 : -errno;
		if (n == 0)
			return 0;
		c->len += (size_t)n;
	}
}

/* Say why no reply came; @return the exit status. */
static int
lost(const struct conn *c, const char *what, int rc, double timeout_s)
{
	if (rc == -EINTR)
		return EXIT_INTERRUPTED;
	if (rc == 0)
		fprintf(stderr,
			PROG ": %s: the connection to %s closed before the reply (did vigild "
			     "stop?)\n",
			what, c->path);
	else if (rc == -ETIMEDOUT)
		fprintf(stderr,
			PROG ": %s: no reply from vigild within %g s (--timeout S waits longer)\n",
			what, timeout_s);
	else
		fprintf(stderr, PROG ": %s: reading from %s: %s\n", what, c->path, strerror(-rc));
	return EXIT_CONNECT;
}

/*
 * Wait for the reply to request @p id. Lines for other ids (stream events)
 * are skipped; an error without an id (busy, malformed) is taken as ours.
 * @return 0 (*reply: the whole reply line's object), or an exit status (said).
 */
static int
conn_reply(struct conn *c, json_int_t id, const char *what, double timeout_s, json_t **reply)
{
	double deadline = now_s() + timeout_s;

	for (;;) {
		char *line;
		int rc = conn_line(c, deadline, &line);
		json_t *msg, *mid;
		json_error_t jerr;

		if (rc <= 0)
			return lost(c, what, rc, timeout_s);
		msg = json_loads(line, JSON_DECODE_ANY, &jerr);
		if (!json_is_object(msg)) {
			fprintf(stderr,
				PROG ": %s: vigild sent a line that is not a JSON object: %s\n",
				what, jerr.text);
			json_decref(msg);
			return EXIT_CONNECT;
		}
		mid = json_object_get(msg, "id");
		if (json_object_get(msg, "event") == NULL &&
		    ((json_is_integer(mid) && json_integer_value(mid) == id) ||
		     ((mid == NULL || json_is_null(mid)) &&
		      json_is_false(json_object_get(msg, "ok"))))) {
			*reply = msg;
			return 0;
		}
		json_decref(msg);
	}
}

static void
print_error(json_t *reply)
{
	json_t *e = json_object_get(reply, "error");
	const char *code = str(e, "code", "error");
	const char *msg = str(e, "message", "(vigild gave no message)");
	const char *role = str(e, "role_needed", NULL);

	if (role != NULL)
		fprintf(stderr, PROG ": %s: %s (role needed: %s)\n", code, msg, role);
	else
		fprintf(stderr, PROG ": %s: %s\n", code, msg);
}

/*
 * One request and its reply. @return 0 (*reply held, *result borrowed from
 * it), or an exit status (said): an error reply is EXIT_BAD.
 */
static int
call(struct conn *c, const char *cmd, json_t *args, double timeout_s, json_t **reply,
     json_t **result)
{
	json_int_t id;
	int rc = conn_send(c, cmd, args, &id);

	*reply = NULL;
	if (rc == 0)
		rc = conn_reply(c, id, cmd, timeout_s, reply);
	if (rc != 0)
		return rc;
	if (!json_is_true(json_object_get(*reply, "ok"))) {
		print_error(*reply);
		json_decref(*reply);
		*reply = NULL;
		return EXIT_BAD;
	}
	*result = json_object_get(*reply, "result");
	if (*result == NULL) {
		json_object_set_new(*reply, "result", json_object());
		*result = json_object_get(*reply, "result");
	}
	return 0;
}

static int
hello(struct conn *c, double timeout_s)
{
	json_t *args =
		json_pack("{s:i, s:s}", "protocol", PROTOCOL, "client", "vigilctl " VIGIL_VERSION);
	json_t *reply, *result;
	int rc;

	if (args == NULL)
		return EXIT_BAD;
	rc = call(c, "hello", args, timeout_s, &reply, &result);
	json_decref(args);
	json_decref(reply);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Running a command                                                         */
/* ------------------------------------------------------------------------ */

static void
print_json(json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (text != NULL)
		puts(text);
	free(text);
	fflush(stdout);
}

/* The exit status --json gives a result that says it failed (ok: false). */
static int
json_status(const struct command *cmd, json_t *result)
{
	bool checks = cmd->print == print_rules_result || cmd->print == print_backup_verify ||
		      cmd->print == print_audit_verify;

	return checks && json_is_false(json_object_get(result, "ok")) ? EXIT_BAD : EXIT_GOOD;
}

static int
run_once(struct conn *c, const struct inv *inv, json_t *args)
{
	json_t *reply, *result;
	int rc = call(c, inv->cmd->wire, args, inv->timeout_s, &reply, &result);

	if (rc != 0)
		return rc;
	if (inv->json) {
		print_json(result);
		rc = json_status(inv->cmd, result);
	} else {
		rc = inv->cmd->print(inv, result, NULL, 0);
	}
	json_decref(reply);
	return rc;
}

static int
run_watch(struct conn *c, const struct inv *inv, json_t *args)
{
	bool tty = isatty(STDOUT_FILENO);
	json_t *prev = NULL, *prev_reply = NULL;
	double prev_t = 0;
	int rc = 0;

	for (unsigned round = 0; !interrupted; round++) {
		json_t *reply, *result;
		double t;
		time_t wall = time(NULL);
		char when[32];

		rc = call(c, inv->cmd->wire, args, inv->timeout_s, &reply, &result);
		if (rc != 0)
			break;
		t = now_s();
		if (inv->json) {
			print_json(result);
		} else {
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&wall));
			if (tty)
				fputs("\033[H\033[2J", stdout);
			else if (round != 0)
				putchar('\n');
			printf("every %gs: vigilctl %s    %s\n\n", inv->watch_s, inv->cmd->name,
			       when);
			inv->cmd->print(inv, result, prev, prev != NULL ? t - prev_t : 0);
			fflush(stdout);
		}
		json_decref(prev_reply);
		prev_reply = reply;
		prev = result;
		prev_t = t;
		for (double until = now_s() + inv->watch_s; !interrupted;) {
			double left = until - now_s();

			if (left <= 0)
				break;
			poll(NULL, 0, (int)(left * 1000) + 1);
		}
	}
	json_decref(prev_reply);
	return rc == EXIT_INTERRUPTED || interrupted ? EXIT_GOOD : rc;
}

/* One alarm change, for people: time, id, change, priority, message, subject. */
static void
print_change(json_t *data)
{
	json_t *a = json_is_object(json_object_get(data, "alarm")) ? json_object_get(data, "alarm")
								   : data;
	char b[64], tb[32], *dumped;
	const char *when = first_str(data, "timestamp", "time", NULL);

	if (strcmp(when, "-") == 0)
		when = first_str(a, "changed", "raised", NULL);
	printf("%s  %6s  %-12s %-6s  %s  [%s]\n", short_time(when, tb, sizeof(tb)),
	       scalar(json_object_get(a, "id"), b, sizeof(b), &dumped), str(a, "change", "-"),
	       str(a, "priority", "-"), str(a, "msg", "-"),
	       first_str(a, "subject", "patient", "device_id", "device", NULL));
	free(dumped);
}

static int
run_follow(struct conn *c, const struct inv *inv, json_t *args)
{
	json_t *reply, *result;
	json_int_t id = c->next_id;
	int rc = call(c, inv->cmd->wire, args, inv->timeout_s, &reply, &result);

	if (rc != 0)
		return rc == EXIT_INTERRUPTED ? EXIT_GOOD : rc;
	json_decref(reply);
	if (!inv->json && isatty(STDERR_FILENO))
		fprintf(stderr, "following alarm changes (Ctrl-C to stop)\n");
	for (;;) {
		char *line;
		json_t *msg, *mid;

		rc = conn_line(c, -1, &line);
		if (rc == -EINTR)
			return EXIT_GOOD;
		if (rc == 0) {
			fprintf(stderr, PROG ": alarms follow: vigild closed the stream\n");
			return EXIT_GOOD;
		}
		if (rc < 0)
			return lost(c, "alarms follow", rc, 0);
		msg = json_loads(line, 0, NULL);
		mid = json_object_get(msg, "id");
		if (json_is_integer(mid) && json_integer_value(mid) != id) {
			json_decref(msg);
			continue;
		}
		if (json_object_get(msg, "event") != NULL) {
			json_t *data = json_object_get(msg, "data");

			if (inv->json)
				print_json(data != NULL ? data : json_null());
			else if (json_is_object(data))
				print_change(data);
			fflush(stdout);
		} else if (json_is_false(json_object_get(msg, "ok"))) {
			print_error(msg);
			json_decref(msg);
			return EXIT_BAD;
		}
		json_decref(msg);
	}
}

int
main(int argc, char **argv)
{
	struct inv inv = {0};
	struct conn c = {.fd = -1};
	struct sigaction sa = {.sa_handler = on_signal};
	bool want_help = false;
	json_t *args = NULL;
	int rc;

	rc = parse(argc, argv, &inv, &want_help);
	if (rc != 0 || want_help) {
		if (rc == 0)
			help(stdout);
		goto out;
	}
	args = json_object();
	if (args == NULL) {
		rc = EXIT_BAD;
		goto out;
	}
	if (inv.cmd->args != NULL) {
		rc = inv.cmd->args(&inv, args);
		if (rc != 0) {
			if (rc == EXIT_BAD)
				fprintf(stderr, PROG ": out of memory\n");
			goto out;
		}
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	rc = conn_open(&c, inv.socket);
	if (rc == 0)
		rc = hello(&c, inv.timeout_s);
	if (rc != 0)
		goto out;
	if (strcmp(inv.cmd->wire, "alarms.follow") == 0)
		rc = run_follow(&c, &inv, args);
	else if (inv.watch_s > 0)
		rc = run_watch(&c, &inv, args);
	else
		rc = run_once(&c, &inv, args);
out:
	if (rc == EXIT_INTERRUPTED)
		fprintf(stderr, PROG ": interrupted\n");
	conn_close(&c);
	json_decref(args);
	free(inv.words);
	if (fflush(stdout) != 0 && rc == 0)
		rc = EXIT_BAD;
	return rc;
}
