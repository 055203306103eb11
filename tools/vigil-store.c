/*
 * vigil-store.c - look into, back up and restore an appliance's store.
 *
 *   vigil-store [--dir DIR] [--secondary SECDIR] [--key-file F] COMMAND ...
 *
 *   stats [--json]                       keys, bytes and files per column family
 *   query obs --device ID [--from T] [--to T]
 *   query alarms [--from T] [--to T] | --id N
 *   query audit [--from SEQ] [--to SEQ]
 *   backup --to BACKUP_DIR [--json]      an incremental backup of DIR
 *   backups --backup-dir D [--json]      the backups in D
 *   verify --backup-dir D [--id N]       a backup against its checksums
 *   restore --backup-dir D [--id N] --to NEW_DIR
 *
 * The operator's window on what vigild stored. Queries print JSON lines
 * (one record per line) so that they can be piped into jq or a script;
 * times are read as integer nanoseconds since the epoch or ISO-8601
 * (2024-03-01, 2024-03-01T12:00:00Z, 2024-03-01T12:00:00.25+01:00), and a
 * range is half-open: --from included, --to not.
 *
 * The directory is opened read-only by default, which is right for a
 * stopped appliance; a running vigild holds RocksDB's lock, and then the
 * tool says to use --secondary SECDIR: a secondary instance follows the
 * live database and keeps its own small files in SECDIR. The tool never
 * writes the store and never enforces retention (that is vigild's work):
 * its retention options are all "keep".
 *
 * A record the store refuses to open (failed authentication, unknown key
 * id, unreadable header) is never printed; the query prints the rest, then
 * says how many were skipped and exits 1.
 *
 * `debug-fill --dir D [--obs N] [--alarms M] [--audit K] [--devices N]
 * [--start T] [--step NS] [--raw-alarm TEXT]...` writes synthetic records
 * into D (created if missing): it exists for the tests, which have no
 * other writer, and is not in --help. Observation i is of device
 * 0x1000 + i % devices, at start + (i / devices) * step, seq i / devices,
 * value 90 + i % 10; alarm j, with the next free id, at start + j * step;
 * audit record k at start + k * step. Each --raw-alarm stores one more
 * alarm whose record is TEXT as given (JSON or not), at start.
 *
 * Exit status: 0 done, 1 an error (one line on stderr naming what failed),
 * 2 usage.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define PROG "vigil-store"

enum exit_status {
	EXIT_GOOD = 0,
	EXIT_BAD = 1,
	EXIT_USAGE = 2,
};

static const char usage_text[] =
	"usage: vigil-store [--dir DIR] [--secondary SECDIR] [--key-file FILE] COMMAND ...\n"
	"\n"
	"  stats [--json]                       keys, bytes and files per column family\n"
	"  query obs --device ID [--from T] [--to T]\n"
	"                                       a device's observations, as JSON lines\n"
	"  query alarms [--from T] [--to T]     alarms by time, in id order, as JSON lines\n"
	"  query alarms --id N                  one alarm\n"
	"  query audit [--from SEQ] [--to SEQ]  audit records by sequence, as JSON lines\n"
	"  backup --to BACKUP_DIR [--json]      an incremental backup of DIR\n"
	"  backups --backup-dir D [--json]      the backups in D\n"
	"  verify --backup-dir D [--id N]       check a backup (default the latest) against\n"
	"                                       its checksums\n"
	"  restore --backup-dir D [--id N] --to NEW_DIR\n"
	"                                       restore a backup into a new directory\n"
	"\n"
	"  --dir DIR          the store's directory (vigild's storage.dir)\n"
	"  --secondary SECDIR open a LIVE appliance's store as a RocksDB secondary\n"
	"                     instance, keeping its own files in SECDIR; without it DIR is\n"
	"                     opened read-only, which needs the appliance stopped\n"
	"  --key-file FILE    the key file, when values are sealed (mode 0600 or 0400)\n"
	"  --device ID        a device key, 0x-prefixed hex or decimal\n"
	"  --from T, --to T   a range, --from included, --to excluded; times as integer\n"
	"                     ns since the epoch or ISO-8601 (2024-03-01T12:00:00Z)\n"
	"  --id N             an alarm id, or a backup id (default: the latest)\n"
	"  --json             stats, backup, backups: JSON instead of text\n"
	"  -h, --help         this text\n"
	"  --version          the version\n"
	"\n"
	"Exit status: 0 done; 1 an error (a line on stderr says what failed); 2 usage.\n";

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

enum opt_bit {
	O_DIR = 1 << 0,
	O_SECONDARY = 1 << 1,
	O_KEY_FILE = 1 << 2,
	O_DEVICE = 1 << 3,
	O_FROM = 1 << 4,
	O_TO = 1 << 5,
	O_ID = 1 << 6,
	O_JSON = 1 << 7,
	O_BACKUP_DIR = 1 << 8,
	O_OBS = 1 << 9,
	O_ALARMS = 1 << 10,
	O_AUDIT = 1 << 11,
	O_DEVICES = 1 << 12,
	O_START = 1 << 13,
	O_STEP = 1 << 14,
	O_RAW_ALARM = 1 << 15,
};

#define MAX_RAW_ALARMS 8

static const struct {
	enum opt_bit bit;
	const char *name;
} opt_names[] = {
	{O_DIR, "--dir"},
	{O_SECONDARY, "--secondary"},
	{O_KEY_FILE, "--key-file"},
	{O_DEVICE, "--device"},
	{O_FROM, "--from"},
	{O_TO, "--to"},
	{O_ID, "--id"},
	{O_JSON, "--json"},
	{O_BACKUP_DIR, "--backup-dir"},
	{O_OBS, "--obs"},
	{O_ALARMS, "--alarms"},
	{O_AUDIT, "--audit"},
	{O_DEVICES, "--devices"},
	{O_START, "--start"},
	{O_STEP, "--step"},
	{O_RAW_ALARM, "--raw-alarm"},
};

struct cli {
	unsigned given; /* enum opt_bit */
	const char *dir;
	const char *secondary;
	const char *key_file;
	const char *from; /* parsed per command: times or sequence numbers */
	const char *to;	  /* a time range end, or backup/restore's destination */
	const char *backup_dir;
	uint64_t device;
	uint64_t id;
	uint64_t n_obs, n_alarms, n_audit, n_devices;
	const char *raw_alarm[MAX_RAW_ALARMS];
	unsigned n_raw_alarms;
	int64_t start_ns, step_ns;
	bool json;
	char **words; /* the command and its words */
	int n_words;
};

/* An unsigned integer, 0x-prefixed hex or decimal, whole string. */
static int
parse_u64(const char *arg, const char *opt, uint64_t *out)
{
	const char *p = arg;
	char *end;
	int base = 10;
	unsigned long long v;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (!isxdigit((unsigned char)p[0]) || (base == 10 && !isdigit((unsigned char)p[0])))
		goto bad;
	errno = 0;
	v = strtoull(p, &end, base);
	if (errno != 0 || *end != '\0')
		goto bad;
	*out = v;
	return 0;
bad:
	fprintf(stderr, PROG ": %s '%s': expected an unsigned integer (decimal or 0x hex)\n", opt,
		arg);
	return -EINVAL;
}

/* A time: integer ns since the epoch (may be negative), or ISO-8601. */
static int
parse_time(const char *arg, const char *opt, int64_t *out)
{
	const char *p = arg[0] == '-' ? arg + 1 : arg;
	bool integer = *p != '\0';
	char *end;

	for (const char *q = p; *q; q++)
		if (!isdigit((unsigned char)*q))
			integer = false;
	if (integer) {
		long long v;

		errno = 0;
		v = strtoll(arg, &end, 10);
		if (errno == 0 && *end == '\0') {
			*out = v;
			return 0;
		}
	} else if (store_time_parse(arg, out) == 0) {
		return 0;
	}
	fprintf(stderr,
		PROG ": %s '%s': expected ns since the epoch or ISO-8601 "
		     "(2024-03-01T12:00:00Z, with a zone)\n",
		opt, arg);
	return -EINVAL;
}

/* Reject every option given that @p allowed does not list. */
static int
only(const struct cli *c, unsigned allowed, const char *command)
{
	unsigned extra = c->given & ~allowed;

	for (size_t i = 0; i < sizeof(opt_names) / sizeof(opt_names[0]); i++)
		if (extra & opt_names[i].bit) {
			fprintf(stderr, PROG ": %s does not take %s\n", command, opt_names[i].name);
			return -EINVAL;
		}
	return 0;
}

static int
need(const struct cli *c, unsigned bit, const char *command, const char *opt)
{
	if (c->given & bit)
		return 0;
	fprintf(stderr, PROG ": %s needs %s\n", command, opt);
	return -EINVAL;
}

/* Options anywhere on the line; the words left are the command. @return 0, 1 (done), -EINVAL. */
static int
parse_cli(int argc, char **argv, struct cli *c)
{
	enum {
		OPT_DIR = 256,
		OPT_SECONDARY,
		OPT_KEY_FILE,
		OPT_DEVICE,
		OPT_FROM,
		OPT_TO,
		OPT_ID,
		OPT_JSON,
		OPT_BACKUP_DIR,
		OPT_OBS,
		OPT_ALARMS,
		OPT_AUDIT,
		OPT_DEVICES,
		OPT_START,
		OPT_STEP,
		OPT_RAW_ALARM,
		OPT_VERSION,
	};
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, OPT_DIR},
		{"secondary", required_argument, NULL, OPT_SECONDARY},
		{"key-file", required_argument, NULL, OPT_KEY_FILE},
		{"device", required_argument, NULL, OPT_DEVICE},
		{"from", required_argument, NULL, OPT_FROM},
		{"to", required_argument, NULL, OPT_TO},
		{"id", required_argument, NULL, OPT_ID},
		{"json", no_argument, NULL, OPT_JSON},
		{"backup-dir", required_argument, NULL, OPT_BACKUP_DIR},
		{"obs", required_argument, NULL, OPT_OBS},
		{"alarms", required_argument, NULL, OPT_ALARMS},
		{"audit", required_argument, NULL, OPT_AUDIT},
		{"devices", required_argument, NULL, OPT_DEVICES},
		{"start", required_argument, NULL, OPT_START},
		{"step", required_argument, NULL, OPT_STEP},
		{"raw-alarm", required_argument, NULL, OPT_RAW_ALARM},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	uint64_t step;
	int opt;

	c->n_devices = 4;
	c->start_ns = INT64_C(1709294400) * 1000000000; /* 2024-03-01T12:00:00Z */
	c->step_ns = 1000000000;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		int rc = 0;

		switch (opt) {
		case OPT_DIR:
			c->dir = optarg;
			c->given |= O_DIR;
			break;
		case OPT_SECONDARY:
			c->secondary = optarg;
			c->given |= O_SECONDARY;
			break;
		case OPT_KEY_FILE:
			c->key_file = optarg;
			c->given |= O_KEY_FILE;
			break;
		case OPT_DEVICE:
			rc = parse_u64(optarg, "--device", &c->device);
			c->given |= O_DEVICE;
			break;
		case OPT_FROM:
			c->from = optarg;
			c->given |= O_FROM;
			break;
		case OPT_TO:
			c->to = optarg;
			c->given |= O_TO;
			break;
		case OPT_ID:
			rc = parse_u64(optarg, "--id", &c->id);
			c->given |= O_ID;
			break;
		case OPT_JSON:
			c->json = true;
			c->given |= O_JSON;
			break;
		case OPT_BACKUP_DIR:
			c->backup_dir = optarg;
			c->given |= O_BACKUP_DIR;
			break;
		case OPT_OBS:
			rc = parse_u64(optarg, "--obs", &c->n_obs);
			c->given |= O_OBS;
			break;
		case OPT_ALARMS:
			rc = parse_u64(optarg, "--alarms", &c->n_alarms);
			c->given |= O_ALARMS;
			break;
		case OPT_AUDIT:
			rc = parse_u64(optarg, "--audit", &c->n_audit);
			c->given |= O_AUDIT;
			break;
		case OPT_DEVICES:
			rc = parse_u64(optarg, "--devices", &c->n_devices);
			if (rc == 0 && c->n_devices == 0) {
				fprintf(stderr, PROG ": --devices must be at least 1\n");
				rc = -EINVAL;
			}
			c->given |= O_DEVICES;
			break;
		case OPT_START:
			rc = parse_time(optarg, "--start", &c->start_ns);
			c->given |= O_START;
			break;
		case OPT_STEP:
			rc = parse_u64(optarg, "--step", &step);
			if (rc == 0 && (step == 0 || step > INT64_MAX / 2)) {
				fprintf(stderr, PROG ": --step must be 1..2^62 ns\n");
				rc = -EINVAL;
			}
			c->step_ns = (int64_t)step;
			c->given |= O_STEP;
			break;
		case OPT_RAW_ALARM:
			if (c->n_raw_alarms == MAX_RAW_ALARMS) {
				fprintf(stderr, PROG ": at most %d --raw-alarm\n", MAX_RAW_ALARMS);
				rc = -EINVAL;
				break;
			}
			c->raw_alarm[c->n_raw_alarms++] = optarg;
			c->given |= O_RAW_ALARM;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		case OPT_VERSION:
			printf(PROG " %s\n", VIGIL_VERSION);
			return 1;
		case ':':
			fprintf(stderr, PROG ": %s needs a value\n", argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(stderr, PROG ": unknown option '%s'\n", argv[optind - 1]);
			return -EINVAL;
		}
		if (rc < 0)
			return rc;
	}
	c->words = argv + optind;
	c->n_words = argc - optind;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Opening the store                                                         */
/* ------------------------------------------------------------------------ */

static const char *
mode_name(enum store_mode m)
{
	switch (m) {
	case STORE_READ_WRITE:
		return "read-write";
	case STORE_READ_ONLY:
		return "read-only";
	case STORE_SECONDARY:
		return "secondary";
	}
	return "?";
}

/*
 * Whether a process holds RocksDB's lock on @p dir (a POSIX record lock on
 * DIR/LOCK, which RocksDB takes with fcntl): its pid, or 0. RocksDB's own
 * read-only open does not look, and would read a live database whose files
 * the appliance may delete under it.
 */
static pid_t
lock_holder(const char *dir)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char path[PATH_MAX];
	int fd, rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/LOCK", dir) >= sizeof(path))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	rc = fcntl(fd, F_GETLK, &fl);
	close(fd);
	return rc == 0 && fl.l_type != F_UNLCK ? fl.l_pid : 0;
}

static int
open_store(const struct cli *c, enum store_mode mode, struct store **s)
{
	struct store_opts o;
	char err[512] = "";
	pid_t pid;
	int rc;

	if (mode == STORE_READ_ONLY && (pid = lock_holder(c->dir)) != 0) {
		fprintf(stderr,
			PROG ": %s: the appliance is running (process %ld holds its lock): use "
			     "--secondary DIR\n",
			c->dir, (long)pid);
		return -EBUSY;
	}
	store_opts_defaults(&o);
	o.dir = c->dir;
	o.mode = mode;
	o.secondary_dir = c->secondary;
	o.key_file = c->key_file;
	o.block_cache_mb = 16;
	/* The tool never judges retention: that is the appliance's. */
	for (int cf = 0; cf < STORE_CF__COUNT; cf++)
		o.retain_s[cf] = 0;
	rc = store_open(&o, s, err, sizeof(err));
	if (rc == 0)
		return 0;
	if (rc == -EBUSY && mode == STORE_READ_ONLY)
		fprintf(stderr, PROG ": %s: the appliance is running: use --secondary DIR (%s)\n",
			c->dir, err[0] ? err : strerror(-rc));
	else if (err[0])
		fprintf(stderr, PROG ": %s open: %s\n", mode_name(mode), err);
	else
		fprintf(stderr, PROG ": %s open of %s: %s\n", mode_name(mode), c->dir,
			strerror(-rc));
	return rc;
}

/* The mode the common options ask for; a usage error if --dir is missing. */
static int
store_mode_of(const struct cli *c, const char *command, enum store_mode *mode)
{
	if (need(c, O_DIR, command, "--dir DIR") < 0)
		return -EINVAL;
	*mode = (c->given & O_SECONDARY) ? STORE_SECONDARY : STORE_READ_ONLY;
	return 0;
}

/* Values skipped by the queries of this run, from the counters. */
struct skipped {
	uint64_t before[STORE_CNT__COUNT];
};

static int
report_skipped(const struct cli *c, struct store *s, const struct skipped *sk)
{
	uint64_t now[STORE_CNT__COUNT];
	uint64_t auth, key, bad;

	store_counters(s, now);
	auth = now[STORE_CNT_unseal_failed] - sk->before[STORE_CNT_unseal_failed];
	key = now[STORE_CNT_unknown_key] - sk->before[STORE_CNT_unknown_key];
	bad = now[STORE_CNT_bad_values] - sk->before[STORE_CNT_bad_values];
	if (auth + key + bad == 0)
		return 0;
	fprintf(stderr,
		PROG ": %" PRIu64 " records could not be opened and were not printed (%" PRIu64
		     " failed authentication, %" PRIu64 " with an unknown key id%s, %" PRIu64
		     " unreadable)\n",
		auth + key + bad, auth, key,
		key && !(c->given & O_KEY_FILE) ? ": sealed, give --key-file" : "", bad);
	return -EBADMSG;
}

/* ------------------------------------------------------------------------ */
/* JSON output                                                               */
/* ------------------------------------------------------------------------ */

/* A JSON string, escaped. */
static void
put_json_string(FILE *out, const char *s, size_t len)
{
	fputc('"', out);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

/* ISO-8601 UTC with nanoseconds (as store_obs_json writes times). */
static void
put_time(FILE *out, int64_t ns)
{
	int64_t sec = ns / 1000000000, frac = ns % 1000000000;
	struct tm tm;
	time_t t;

	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm)) {
		fprintf(out, "%" PRId64, ns);
		return;
	}
	fprintf(out, "\"%04d-%02d-%02dT%02d:%02d:%02d.%09" PRId64 "Z\"", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/*
 * A strict JSON checker (RFC 8259), so that a stored record is embedded as
 * JSON only when it is JSON; anything else is printed as a string.
 */
struct jp {
	const char *p, *end;
	int depth;
};

static void
jp_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool jp_value(struct jp *j);

static bool
jp_lit(struct jp *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool
jp_string(struct jp *j)
{
	if (j->p >= j->end || *j->p != '"')
		return false;
	for (j->p++; j->p < j->end; j->p++) {
		unsigned char ch = (unsigned char)*j->p;

		if (ch == '"') {
			j->p++;
			return true;
		}
		if (ch < 0x20)
			return false;
		if (ch != '\\')
			continue;
		if (++j->p >= j->end)
			return false;
		if (*j->p == 'u') {
			for (int i = 0; i < 4; i++)
				if (++j->p >= j->end || !isxdigit((unsigned char)*j->p))
					return false;
		} else if (!strchr("\"\\/bfnrt", *j->p)) {
			return false;
		}
	}
	return false;
}

static bool
jp_digits(struct jp *j)
{
	const char *start = j->p;

	while (j->p < j->end && isdigit((unsigned char)*j->p))
		j->p++;
	return j->p > start;
}

static bool
jp_number(struct jp *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!jp_digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!jp_digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!jp_digits(j))
			return false;
	}
	return true;
}

static bool
jp_container(struct jp *j, char close)
{
	bool object = close == '}';

	if (++j->depth > 64)
		return false;
	j->p++;
	jp_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		if (object) {
			jp_ws(j);
			if (!jp_string(j))
				return false;
			jp_ws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return false;
		}
		if (!jp_value(j))
			return false;
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			j->depth--;
			return true;
		}
		return false;
	}
}

static bool
jp_value(struct jp *j)
{
	bool ok;

	jp_ws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '{':
		ok = jp_container(j, '}');
		break;
	case '[':
		ok = jp_container(j, ']');
		break;
	case '"':
		ok = jp_string(j);
		break;
	case 't':
		ok = jp_lit(j, "true");
		break;
	case 'f':
		ok = jp_lit(j, "false");
		break;
	case 'n':
		ok = jp_lit(j, "null");
		break;
	default:
		ok = jp_number(j);
	}
	jp_ws(j);
	return ok;
}

static bool
is_json(const char *s, size_t len)
{
	struct jp j = {s, s + len, 0};

	return jp_value(&j) && j.p == j.end;
}

/*
 * One record as a JSON line: {"id":N,"time":"ISO","record":{...}}, or
 * "record_text":"..." when the stored text is not JSON. Line breaks inside
 * valid JSON are whitespace, so they become spaces to keep one line.
 */
static void
put_record(FILE *out, const char *idname, uint64_t id, int64_t time_ns, const char *json,
	   size_t len)
{
	fprintf(out, "{\"%s\":%" PRIu64 ",\"time\":", idname, id);
	put_time(out, time_ns);
	if (is_json(json, len)) {
		fputs(",\"record\":", out);
		for (size_t i = 0; i < len; i++)
			fputc(json[i] == '\n' || json[i] == '\r' ? ' ' : json[i], out);
	} else {
		fputs(",\"record_text\":", out);
		put_json_string(out, json, len);
	}
	fputs("}\n", out);
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                  */
/* ------------------------------------------------------------------------ */

/* The schema version from meta (decimal text, as store.c writes it), or "?". */
static void
schema_text(struct store *s, char *buf, size_t room)
{
	char v[32];
	int n = store_meta_get(s, "schema_version", v, sizeof(v));

	if (n <= 0 || (size_t)n >= sizeof(v) || strspn(v, "0123456789") != (size_t)n) {
		snprintf(buf, room, "?");
		return;
	}
	snprintf(buf, room, "%s", v);
}

static int
cmd_stats(const struct cli *c)
{
	struct store_cf_stats st[STORE_CF__COUNT];
	enum store_mode mode;
	struct store *s = NULL;
	char schema[64];
	int rc;

	if (only(c, O_DIR | O_SECONDARY | O_KEY_FILE | O_JSON, "stats") < 0 ||
	    store_mode_of(c, "stats", &mode) < 0)
		return EXIT_USAGE;
	if (open_store(c, mode, &s) < 0)
		return EXIT_BAD;
	rc = store_stats(s, st);
	if (rc < 0) {
		fprintf(stderr, PROG ": %s: reading RocksDB's properties: %s\n", c->dir,
			strerror(-rc));
		store_close(s);
		return EXIT_BAD;
	}
	schema_text(s, schema, sizeof(schema));
	if (c->json) {
		printf("{\"dir\":");
		put_json_string(stdout, c->dir, strlen(c->dir));
		printf(",\"mode\":\"%s\",\"schema\":", mode_name(mode));
		if (strspn(schema, "0123456789") == strlen(schema) && schema[0])
			printf("%s", schema);
		else
			put_json_string(stdout, schema, strlen(schema));
		printf(",\"seal_key_id\":%u,\"cf\":{", store_seal_key_id(s));
		for (int cf = 0; cf < STORE_CF__COUNT; cf++)
			printf("%s\"%s\":{\"keys\":%" PRIu64 ",\"live_bytes\":%" PRIu64
			       ",\"sst_files\":%" PRIu64 "}",
			       cf ? "," : "", store_cf_name(cf), st[cf].keys, st[cf].live_bytes,
			       st[cf].sst_files);
		printf("}}\n");
	} else {
		printf("store %s (%s), schema version %s\n", c->dir, mode_name(mode), schema);
		printf("%-8s %14s %16s %10s\n", "cf", "keys (est.)", "sst bytes", "sst files");
		for (int cf = 0; cf < STORE_CF__COUNT; cf++)
			printf("%-8s %14" PRIu64 " %16" PRIu64 " %10" PRIu64 "\n",
			       store_cf_name(cf), st[cf].keys, st[cf].live_bytes, st[cf].sst_files);
	}
	store_close(s);
	return EXIT_GOOD;
}

static int
print_obs(void *arg, const struct store_obs *obs)
{
	int rc = store_obs_json(obs, stdout);

	(void)arg;
	return rc < 0 ? rc : 0;
}

static int
print_alarm(void *arg, uint64_t id, int64_t time_ns, const char *json, size_t len)
{
	(void)arg;
	put_record(stdout, "id", id, time_ns, json, len);
	return ferror(stdout) ? -EIO : 0;
}

static int
print_audit(void *arg, uint64_t seq, int64_t time_ns, const char *json, size_t len)
{
	(void)arg;
	put_record(stdout, "seq", seq, time_ns, json, len);
	return ferror(stdout) ? -EIO : 0;
}

static int
cmd_query(const struct cli *c)
{
	const char *what = c->n_words >= 2 ? c->words[1] : NULL;
	int64_t from = INT64_MIN, to = INT64_MAX;
	uint64_t sfrom = 1, sto = UINT64_MAX;
	enum store_mode mode;
	struct store *s = NULL;
	struct skipped sk;
	const unsigned common = O_DIR | O_SECONDARY | O_KEY_FILE;
	int rc;

	if (!what || c->n_words > 2) {
		fprintf(stderr, PROG ": query needs one of obs, alarms, audit\n");
		return EXIT_USAGE;
	}
	if (strcmp(what, "obs") == 0) {
		if (only(c, common | O_DEVICE | O_FROM | O_TO, "query obs") < 0 ||
		    need(c, O_DEVICE, "query obs", "--device ID") < 0)
			return EXIT_USAGE;
	} else if (strcmp(what, "alarms") == 0) {
		if (only(c, common | O_FROM | O_TO | O_ID, "query alarms") < 0)
			return EXIT_USAGE;
		if ((c->given & O_ID) && (c->given & (O_FROM | O_TO))) {
			fprintf(stderr,
				PROG ": query alarms takes --id or a time range, not both\n");
			return EXIT_USAGE;
		}
	} else if (strcmp(what, "audit") == 0) {
		if (only(c, common | O_FROM | O_TO, "query audit") < 0)
			return EXIT_USAGE;
	} else {
		fprintf(stderr, PROG ": query '%s': expected obs, alarms or audit\n", what);
		return EXIT_USAGE;
	}
	if (strcmp(what, "audit") == 0) {
		if ((c->from && parse_u64(c->from, "--from", &sfrom) < 0) ||
		    (c->to && parse_u64(c->to, "--to", &sto) < 0))
			return EXIT_USAGE;
	} else if ((c->from && parse_time(c->from, "--from", &from) < 0) ||
		   (c->to && parse_time(c->to, "--to", &to) < 0)) {
		return EXIT_USAGE;
	}
	if ((c->given & O_FROM) && (c->given & O_TO) &&
	    (strcmp(what, "audit") == 0 ? sto < sfrom : to < from)) {
		fprintf(stderr, PROG ": query %s: --to is before --from\n", what);
		return EXIT_USAGE;
	}
	if (store_mode_of(c, "query", &mode) < 0)
		return EXIT_USAGE;
	if (open_store(c, mode, &s) < 0)
		return EXIT_BAD;
	store_counters(s, sk.before);
	if (strcmp(what, "obs") == 0)
		rc = store_query_obs(s, c->device, from, to, print_obs, NULL);
	else if (strcmp(what, "audit") == 0)
		rc = store_query_audit(s, sfrom, sto, print_audit, NULL);
	else if (c->given & O_ID)
		rc = store_alarm_get(s, c->id, print_alarm, NULL);
	else
		rc = store_query_alarms(s, from, to, print_alarm, NULL);
	if (fflush(stdout) != 0 && rc == 0)
		rc = -EIO;
	if (rc == -ENOENT && (c->given & O_ID))
		fprintf(stderr, PROG ": %s: no alarm %" PRIu64 "\n", c->dir, c->id);
	else if (rc < 0)
		fprintf(stderr, PROG ": %s: query %s failed: %s\n", c->dir, what, strerror(-rc));
	if (report_skipped(c, s, &sk) < 0 && rc == 0)
		rc = -EBADMSG;
	store_close(s);
	return rc == 0 ? EXIT_GOOD : EXIT_BAD;
}

static void
put_backup(const struct store_backup_info *b, const char *dir, bool json)
{
	char when[32] = "?";
	time_t t = (time_t)b->time_s;
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (json) {
		printf("{\"id\":%" PRIu32 ",\"time\":\"%s\",\"size\":%" PRIu64 ",\"files\":%" PRIu32
		       ",\"backup_dir\":",
		       b->id, when, b->size, b->files);
		put_json_string(stdout, dir, strlen(dir));
		printf("}\n");
	} else {
		printf("backup %" PRIu32 " in %s: %s, %" PRIu64 " bytes, %" PRIu32 " files\n",
		       b->id, dir, when, b->size, b->files);
	}
}

static int
cmd_backup(const struct cli *c)
{
	struct store_backup_info info;
	enum store_mode mode;
	struct store *s = NULL;
	char err[512] = "";
	int rc;

	if (only(c, O_DIR | O_SECONDARY | O_KEY_FILE | O_TO | O_JSON, "backup") < 0 ||
	    need(c, O_TO, "backup", "--to BACKUP_DIR") < 0 || store_mode_of(c, "backup", &mode) < 0)
		return EXIT_USAGE;
	if (open_store(c, mode, &s) < 0)
		return EXIT_BAD;
	rc = store_backup(s, c->to, &info, err, sizeof(err));
	store_close(s);
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", err[0] ? err : strerror(-rc));
		return EXIT_BAD;
	}
	put_backup(&info, c->to, c->json);
	return EXIT_GOOD;
}

/* The backups of @p dir, newest last. @return how many, or -1 (said on stderr). */
static int
list_backups(const char *dir, struct store_backup_info **out)
{
	unsigned max = 64;
	char err[512] = "";

	for (;;) {
		struct store_backup_info *b = calloc(max, sizeof(*b));
		int n;

		if (!b) {
			fprintf(stderr, PROG ": out of memory\n");
			return -1;
		}
		n = store_backup_list(dir, b, max, err, sizeof(err));
		if (n < 0) {
			fprintf(stderr, PROG ": %s\n", err[0] ? err : strerror(-n));
			free(b);
			return -1;
		}
		if ((unsigned)n < max) {
			*out = b;
			return n;
		}
		free(b);
		max *= 4;
	}
}

static int
cmd_backups(const struct cli *c)
{
	struct store_backup_info *b = NULL;
	int n;

	if (only(c, O_BACKUP_DIR | O_JSON, "backups") < 0 ||
	    need(c, O_BACKUP_DIR, "backups", "--backup-dir D") < 0)
		return EXIT_USAGE;
	n = list_backups(c->backup_dir, &b);
	if (n < 0)
		return EXIT_BAD;
	for (int i = 0; i < n; i++)
		put_backup(&b[i], c->backup_dir, c->json);
	free(b);
	return EXIT_GOOD;
}

/* The id --id names, or the latest backup's; 0 when there is none (said). */
static uint32_t
backup_id(const struct cli *c)
{
	struct store_backup_info *b = NULL;
	uint32_t id = 0;
	int n;

	if (c->given & O_ID)
		return (uint32_t)c->id;
	n = list_backups(c->backup_dir, &b);
	if (n < 0)
		return 0;
	for (int i = 0; i < n; i++)
		if (b[i].id > id)
			id = b[i].id;
	if (n == 0)
		fprintf(stderr, PROG ": %s holds no backup\n", c->backup_dir);
	free(b);
	return id;
}

static int
check_backup_id(const struct cli *c, const char *command)
{
	if ((c->given & O_ID) && (c->id == 0 || c->id > UINT32_MAX)) {
		fprintf(stderr, PROG ": %s --id: a backup id is 1..%" PRIu32 "\n", command,
			UINT32_MAX);
		return -EINVAL;
	}
	return 0;
}

static int
cmd_verify(const struct cli *c)
{
	char err[512] = "";
	uint32_t id;
	int rc;

	if (only(c, O_BACKUP_DIR | O_ID, "verify") < 0 ||
	    need(c, O_BACKUP_DIR, "verify", "--backup-dir D") < 0 ||
	    check_backup_id(c, "verify") < 0)
		return EXIT_USAGE;
	id = backup_id(c);
	if (id == 0)
		return EXIT_BAD;
	rc = store_backup_verify(c->backup_dir, id, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", err[0] ? err : strerror(-rc));
		return EXIT_BAD;
	}
	printf("backup %" PRIu32 " in %s: verified\n", id, c->backup_dir);
	return EXIT_GOOD;
}

static int
cmd_restore(const struct cli *c)
{
	char err[512] = "";
	uint32_t id;
	int rc;

	if (only(c, O_BACKUP_DIR | O_ID | O_TO, "restore") < 0 ||
	    need(c, O_BACKUP_DIR, "restore", "--backup-dir D") < 0 ||
	    need(c, O_TO, "restore", "--to NEW_DIR") < 0 || check_backup_id(c, "restore") < 0)
		return EXIT_USAGE;
	id = backup_id(c);
	if (id == 0)
		return EXIT_BAD;
	rc = store_restore(c->backup_dir, id, c->to, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", err[0] ? err : strerror(-rc));
		return EXIT_BAD;
	}
	printf("backup %" PRIu32 " of %s restored into %s\n", id, c->backup_dir, c->to);
	return EXIT_GOOD;
}

/* For the tests: synthetic records (see the top of this file). */
static int
cmd_debug_fill(const struct cli *c)
{
	enum store_durability got;
	struct store *s = NULL;
	char rec[160];
	int rc = 0, n;

	if (only(c,
		 O_DIR | O_KEY_FILE | O_OBS | O_ALARMS | O_AUDIT | O_DEVICES | O_START | O_STEP |
			 O_RAW_ALARM,
		 "debug-fill") < 0 ||
	    need(c, O_DIR, "debug-fill", "--dir DIR") < 0)
		return EXIT_USAGE;
	if (open_store(c, STORE_READ_WRITE, &s) < 0)
		return EXIT_BAD;
	for (uint64_t i = 0; i < c->n_obs && rc == 0; i++) {
		struct store_obs o = {
			.device = 0x1000 + i % c->n_devices,
			.time_ns = c->start_ns + (int64_t)(i / c->n_devices) * c->step_ns,
			.seq = (uint32_t)(i / c->n_devices),
			.code = 150456, /* MDC_PULS_OXIM_SAT_O2 */
			.unit = 262688, /* MDC_DIM_PERCENT */
			.flags = 0,
			.value = 90.0 + (double)(i % 10),
		};

		rc = store_obs_add(s, &o, &got);
	}
	if (rc == 0)
		rc = store_flush(s);
	for (uint64_t j = 0; j < c->n_alarms && rc == 0; j++) {
		uint64_t id = store_alarm_next_id(s);

		n = snprintf(rec, sizeof(rec),
			     "{\"id\":%" PRIu64 ",\"rule\":\"debug-fill\",\"state\":\"active\"}",
			     id);
		rc = store_alarm_put(s, id, c->start_ns + (int64_t)j * c->step_ns, rec, (size_t)n,
				     &got);
	}
	for (unsigned r = 0; r < c->n_raw_alarms && rc == 0; r++)
		rc = store_alarm_put(s, store_alarm_next_id(s), c->start_ns, c->raw_alarm[r],
				     strlen(c->raw_alarm[r]), &got);
	for (uint64_t k = 0; k < c->n_audit && rc == 0; k++) {
		uint64_t seq;

		n = snprintf(rec, sizeof(rec),
			     "{\"who\":\"debug-fill\",\"what\":\"record %" PRIu64 "\"}", k);
		rc = store_audit_append(s, c->start_ns + (int64_t)k * c->step_ns, rec, (size_t)n,
					&seq, &got);
	}
	if (rc < 0)
		fprintf(stderr, PROG ": %s: writing synthetic records: %s\n", c->dir,
			strerror(-rc));
	store_close(s);
	if (rc < 0)
		return EXIT_BAD;
	printf("%s: %" PRIu64 " observations, %" PRIu64 " alarms, %" PRIu64 " audit records\n",
	       c->dir, c->n_obs, c->n_alarms + c->n_raw_alarms, c->n_audit);
	return EXIT_GOOD;
}

int
main(int argc, char **argv)
{
	struct cli c = {0};
	const char *cmd;
	int rc = parse_cli(argc, argv, &c);

	if (rc == 1)
		return EXIT_GOOD;
	if (rc < 0) {
		fprintf(stderr, "(vigil-store --help for usage)\n");
		return EXIT_USAGE;
	}
	if (c.n_words == 0) {
		fprintf(stderr, PROG ": no command\n%s", usage_text);
		return EXIT_USAGE;
	}
	cmd = c.words[0];
	if (strcmp(cmd, "query") != 0 && c.n_words > 1) {
		fprintf(stderr, PROG ": %s: unexpected '%s'\n", cmd, c.words[1]);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(&c);
	if (strcmp(cmd, "query") == 0)
		return cmd_query(&c);
	if (strcmp(cmd, "backup") == 0)
		return cmd_backup(&c);
	if (strcmp(cmd, "backups") == 0)
		return cmd_backups(&c);
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(&c);
	if (strcmp(cmd, "restore") == 0)
		return cmd_restore(&c);
	if (strcmp(cmd, "debug-fill") == 0)
		return cmd_debug_fill(&c);
	if (strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return EXIT_GOOD;
	}
	fprintf(stderr,
		PROG ": unknown command '%s' (stats, query, backup, backups, verify, restore)\n",
		cmd);
	return EXIT_USAGE;
}
