/*
 * vigil-rules.c - check a ruleset, and explain which rules match a message
 * or a capture and why the others do not.
 *
 *   vigil-rules check [--var NAME=VALUE]... [--cache-dir DIR] [--max-errors N]
 *                     [--json] FILE...
 *   vigil-rules explain --rules FILE [--rules FILE]... [--var NAME=VALUE]...
 *                     [--cache-dir DIR] [--hl7-port N]... [--vtp-port N]...
 *                     [--all] [--json] INPUT...
 *
 * A ruleset decides which alarms sound, so whoever edits one needs two
 * things before it goes live: every mistake in it, each pinned to its line
 * and column (check), and proof that the rules fire on the messages they are
 * meant for and on nothing else (explain). Both run the rules component's
 * own functions, and explain feeds it exactly what a worker would: the data
 * plane's decoders, dp_rule_input and the malformed-datagram pass of
 * dataplane/worker.c, so what it shows is what vigild would decide.
 *
 * check loads the files with rule_set_load (the config's variables given as
 * --var), prints every diagnostic on stderr (rule_diags_print), then, when
 * the set is valid, a summary on stdout: rules by action and by priority,
 * disabled ones, patterns, metric rules, header classes, timings, the cache
 * result, the database size and the set's hash. --json prints the summary
 * as one JSON object instead, valid or not, with the diagnostics in it.
 *
 * explain loads the --rules files, then reads each INPUT as vigil-decode
 * does (the kind is told by content, not by name):
 *   - a classic pcap (Ethernet): every frame through dp_classify with the
 *     telemetry ports 2575 (HL7) and 4575 (VTP) or those given, UDP
 *     checksums verified; each telemetry datagram as a worker takes it
 *     (dp_mllp_decode_bad or dp_vtp_decode, without a VTP sequence table);
 *   - an MLLP-framed file (first non-blank byte 0x0B): each frame, or run of
 *     bytes between frames, is taken as one datagram without addresses;
 *   - otherwise HL7 text: a message starts at every line beginning "MSH"
 *     (CR, LF or CRLF endings); each is taken as one datagram without
 *     addresses, its dsize the message's length.
 * Every message or frame that decoded is evaluated with in->first set for
 * the first of its datagram; a datagram with a part that did not decode (or
 * nothing decoded) is evaluated once more on its own with malformed set, as
 * the worker does. For each input rule_explain gives every rule's verdict
 * and rule_eval is run on the same input: if their hits differ, that is a
 * bug in the rules component and the tool says so and exits 3.
 *
 * Output per message: where it came from and its kind, the message-level
 * hits, then each observation with the rules that matched it and, for the
 * rules of that metric that did not, why not. --all adds every other
 * verdict. --json prints one JSON object per message per line instead.
 *
 * The input splitting is vigil-decode's to the letter (the same file must
 * mean the same messages to both tools): both take it from tools/input.c.
 *
 * Exit status: check: 0 valid (warnings allowed), 1 errors, 2 usage.
 * explain: 0 every input read and something in it decoded, 1 an input could
 * not be read or nothing in it decoded (or the rules did not load), 2 usage,
 * 3 explain and eval disagree.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <hs/hs.h>
#include <jansson.h>

#include "dataplane.h"
#include "input.h"
#include "rules.h"

#define PROG "vigil-rules"
#define DEFAULT_HL7_PORT 2575
#define DEFAULT_VTP_PORT 4575

enum exit_status {
	EXIT_GOOD = 0,
	EXIT_BAD = 1,
	EXIT_USAGE = 2,
	EXIT_INTERNAL = 3,
};

static const char usage_text[] =
	"usage: vigil-rules check [--var NAME=VALUE]... [--cache-dir DIR] [--max-errors N]\n"
	"                         [--json] FILE...\n"
	"       vigil-rules explain --rules FILE [--rules FILE]... [--var NAME=VALUE]...\n"
	"                         [--cache-dir DIR] [--hl7-port N]... [--vtp-port N]...\n"
	"                         [--all] [--json] INPUT...\n"
	"       vigil-rules --help | --version\n"
	"\n"
	"check: load a ruleset, print every error as FILE:LINE:COL on stderr and, when\n"
	"it is valid, a summary on stdout.\n"
	"explain: run the rules over HL7 messages (text or MLLP-framed) or a pcap\n"
	"capture and show, per message and observation, which rules match and why the\n"
	"others do not.\n"
	"\n"
	"  --var NAME=VALUE  a variable for addresses and ports, as the config gives it\n"
	"                    (wins over a file's `var NAME`; repeatable)\n"
	"  --cache-dir DIR   keep compiled databases in DIR (by hash)\n"
	"  --max-errors N    record at most N errors (default 20)\n"
	"  --rules FILE      explain: a rule file to load (repeatable, in order)\n"
	"  --hl7-port N      explain: UDP port of HL7/MLLP in a pcap (default 2575)\n"
	"  --vtp-port N      explain: UDP port of VTP in a pcap (default 4575)\n"
	"  --all             explain: every rule's verdict, not only the relevant ones\n"
	"  --json            check: one JSON object; explain: one JSON object per message\n"
	"  -h, --help        this text\n"
	"  --version         the version\n"
	"\n"
	"Exit status: 0 good; 1 rule errors, or an input that could not be read or\n"
	"decoded; 2 usage; 3 (explain) the evaluator and its explanation disagree.\n";

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

struct cli {
	struct rule_var *vars; /* names malloc'd; values point into argv */
	unsigned n_vars;
	const char **rules; /* explain's --rules */
	unsigned n_rules;
	const char *cache_dir;
	unsigned max_errors;
	bool json;
	bool all;
	struct dp_local local; /* explain: only the telemetry ports matter */
};

static void
cli_free(struct cli *c)
{
	for (unsigned i = 0; i < c->n_vars; i++)
		free((char *)c->vars[i].name);
	free(c->vars);
	free(c->rules);
}

static bool
is_name(const char *s, size_t n)
{
	if (n == 0 ||
	    !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static int
add_var(struct cli *c, const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct rule_var *bigger;
	char *name;

	if (!eq || !is_name(arg, (size_t)(eq - arg))) {
		fprintf(stderr,
			PROG ": --var '%s': expected NAME=VALUE, NAME as [A-Za-z_][A-Za-z0-9_]*\n",
			arg);
		return -EINVAL;
	}
	bigger = realloc(c->vars, (c->n_vars + 1) * sizeof(*c->vars));
	if (bigger)
		c->vars = bigger;
	name = bigger ? strndup(arg, (size_t)(eq - arg)) : NULL;
	if (!name) {
		fprintf(stderr, PROG ": out of memory\n");
		return -ENOMEM;
	}
	c->vars[c->n_vars].name = name;
	c->vars[c->n_vars].value = eq + 1;
	c->n_vars++;
	return 0;
}

static int
add_rules(struct cli *c, const char *path)
{
	const char **bigger = realloc(c->rules, (c->n_rules + 1) * sizeof(*c->rules));

	if (!bigger)
		return -ENOMEM;
	c->rules = bigger;
	c->rules[c->n_rules++] = path;
	return 0;
}

static int
parse_uint(const char *arg, const char *opt, unsigned long min, unsigned long max,
	   unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || arg[0] == '-' || v < min || v > max) {
		fprintf(stderr, PROG ": %s: '%s' is not a number from %lu to %lu\n", opt, arg, min,
			max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int
add_port(uint16_t *ports, uint8_t *n, const char *arg, const char *opt)
{
	unsigned long v;

	if (parse_uint(arg, opt, 1, UINT16_MAX, &v))
		return -EINVAL;
	if (*n == DP_MAX_TELEMETRY_PORTS) {
		fprintf(stderr, PROG ": %s: at most %d ports\n", opt, DP_MAX_TELEMETRY_PORTS);
		return -E2BIG;
	}
	ports[(*n)++] = (uint16_t)v;
	return 0;
}

/* Load the ruleset of @p files; diagnostics to stderr. 0 or a negative errno. */
static int
load_rules(const struct cli *c, const char *const *files, unsigned n_files, struct rule_set **set,
	   struct rule_diags *diags)
{
	struct rule_load_opts opts = {
		.files = files,
		.n_files = n_files,
		.vars = c->vars,
		.n_vars = c->n_vars,
		.cache_dir = c->cache_dir,
		.max_errors = c->max_errors,
	};

	return rule_set_load(&opts, set, diags);
}

static double
ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static const char *
cache_name(enum rule_cache_result r)
{
	switch (r) {
	case RULE_CACHE_OFF:
		return "off";
	case RULE_CACHE_HIT:
		return "hit";
	case RULE_CACHE_MISS:
		return "miss";
	case RULE_CACHE_REBUILT:
		return "rebuilt";
	}
	return "?";
}

static const char *
severity_name(enum rule_severity s)
{
	switch (s) {
	case RULE_DIAG_ERROR:
		return "error";
	case RULE_DIAG_WARNING:
		return "warning";
	case RULE_DIAG_NOTE:
		return "note";
	}
	return "?";
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

/* A JSON string that is always valid: bytes that are not UTF-8 become '?'. */
static json_t *
json_text(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	char *copy;

	if (j || !s)
		return j;
	copy = malloc(n + 1);
	if (!copy)
		return NULL;
	for (size_t i = 0; i < n; i++)
		copy[i] = (unsigned char)s[i] < 0x80 && s[i] != 0 ? s[i] : '?';
	j = json_stringn(copy, n);
	free(copy);
	return j;
}

static json_t *
json_str(const char *s)
{
	return s ? json_text(s, strlen(s)) : json_null();
}

/* Print @p obj as one line on stdout. 0, -ENOMEM or -EIO. */
static int
print_json(json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(15));
	int rc;

	if (!s)
		return -ENOMEM;
	rc = printf("%s\n", s) < 0 ? -EIO : 0;
	free(s);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* check                                                                     */
/* ------------------------------------------------------------------------ */

static json_t *
diags_json(const struct rule_diags *d)
{
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	for (unsigned i = 0; i < d->n; i++) {
		const struct rule_diag *g = &d->d[i];
		json_t *o = json_object();

		if (!put(arr, NULL, o) ||
		    !put(o, "severity", json_str(severity_name(g->severity))) ||
		    !put(o, "file", json_str(g->file)) || !put(o, "line", json_integer(g->line)) ||
		    !put(o, "col", json_integer(g->col)) || !put(o, "message", json_str(g->msg)) ||
		    !put(o, "source", json_str(g->source))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static int
check_json(char *const *files, unsigned n_files, const struct rule_set *set,
	   const struct rule_diags *diags)
{
	const struct rule_set_info *info = set ? rule_set_info(set) : NULL;
	json_t *o = json_object(), *arr = json_array(), *by = NULL;
	int rc = -ENOMEM;

	if (!o || !arr)
		goto out;
	for (unsigned i = 0; i < n_files; i++)
		if (!put(arr, NULL, json_str(files[i])))
			goto out;
	if (!put(o, "files", arr)) {
		arr = NULL;
		goto out;
	}
	arr = NULL;
	if (!put(o, "valid", json_boolean(set != NULL)) ||
	    !put(o, "errors", json_integer(diags->n_errors)) ||
	    !put(o, "warnings", json_integer(diags->n_warnings)) ||
	    !put(o, "truncated", json_boolean(diags->truncated)) ||
	    !put(o, "diagnostics", diags_json(diags)))
		goto out;
	if (info) {
		if (!put(o, "rules", json_integer(info->n_rules)) ||
		    !put(o, "disabled", json_integer(info->n_disabled)))
			goto out;
		/* Owned by o once put; filled in place. */
		by = json_object();
		if (!put(o, "by_action", by))
			goto out;
		for (unsigned a = 0; a < RULE_ACTION__COUNT; a++)
			if (!put(by, rule_action_name((enum rule_action)a),
				 json_integer(info->by_action[a])))
				goto out;
		by = json_object();
		if (!put(o, "by_priority", by))
			goto out;
		for (unsigned p = 0; p < RULE_PRIO__COUNT; p++)
			if (!put(by, rule_priority_name((enum rule_priority)p),
				 json_integer(info->by_priority[p])))
				goto out;
		if (!put(o, "patterns", json_integer(info->n_patterns)) ||
		    !put(o, "metric_rules", json_integer(info->n_metric_rules)) ||
		    !put(o, "header_classes", json_integer(info->n_header_classes)) ||
		    !put(o, "parse_ms", json_real(ms(info->parse_ns))) ||
		    !put(o, "compile_ms", json_real(ms(info->compile_ns))) ||
		    !put(o, "cache_load_ms", json_real(ms(info->cache_load_ns))) ||
		    !put(o, "total_ms", json_real(ms(info->total_ns))) ||
		    !put(o, "db_bytes", json_integer((json_int_t)info->db_bytes)) ||
		    !put(o, "scratch_bytes", json_integer((json_int_t)info->scratch_bytes)) ||
		    !put(o, "cache", json_str(cache_name(info->cache))) ||
		    !put(o, "cache_path",
			 info->cache_path[0] ? json_str(info->cache_path) : json_null()) ||
		    !put(o, "cache_note",
			 info->cache_note[0] ? json_str(info->cache_note) : json_null()) ||
		    !put(o, "hash", json_str(info->hash)))
			goto out;
	}
	rc = print_json(o);
out:
	json_decref(arr);
	json_decref(o);
	return rc;
}

static int
check_text(const struct rule_set *set, const struct rule_diags *diags)
{
	const struct rule_set_info *info = rule_set_info(set);
	const unsigned *a = info->by_action, *p = info->by_priority;
	int n;

	n = printf("rules           %u (alert %u, log %u, pass %u), %u disabled\n"
		   "priorities      high %u, medium %u, low %u, none %u\n"
		   "metric rules    %u\n"
		   "patterns        %u\n"
		   "header classes  %u\n"
		   "warnings        %u\n"
		   "time            parse %.3f ms, compile %.3f ms, cache load %.3f ms, total %.3f "
		   "ms\n",
		   info->n_rules, a[RULE_ACTION_ALERT], a[RULE_ACTION_LOG], a[RULE_ACTION_PASS],
		   info->n_disabled, p[RULE_PRIO_HIGH], p[RULE_PRIO_MEDIUM], p[RULE_PRIO_LOW],
		   p[RULE_PRIO_NONE], info->n_metric_rules, info->n_patterns,
		   info->n_header_classes, diags->n_warnings, ms(info->parse_ns),
		   ms(info->compile_ns), ms(info->cache_load_ns), ms(info->total_ns));
	if (n < 0)
		return -EIO;
	if (printf("cache           %s", cache_name(info->cache)) < 0 ||
	    (info->cache_path[0] && printf(" %s", info->cache_path) < 0) ||
	    (info->cache_note[0] && printf(" (%s)", info->cache_note) < 0) ||
	    printf("\ndatabase        %zu bytes, scratch %zu bytes per worker\n"
		   "hash            %s\n",
		   info->db_bytes, info->scratch_bytes, info->hash) < 0)
		return -EIO;
	return 0;
}

static int
cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"var", required_argument, NULL, 'v'},
		{"cache-dir", required_argument, NULL, 'c'},
		{"max-errors", required_argument, NULL, 'm'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli c = {0};
	struct rule_diags diags = {0};
	struct rule_set *set = NULL;
	int status = EXIT_USAGE, opt, rc;
	unsigned long v;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'v':
			if (add_var(&c, optarg))
				goto out;
			break;
		case 'c':
			c.cache_dir = optarg;
			break;
		case 'm':
			if (parse_uint(optarg, "--max-errors", 1, 100000, &v))
				goto out;
			c.max_errors = (unsigned)v;
			break;
		case 'j':
			c.json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			status = EXIT_GOOD;
			goto out;
		default:
			fputs(usage_text, stderr);
			goto out;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, PROG " check: no rule file\n%s", usage_text);
		goto out;
	}
	rc = load_rules(&c, (const char *const *)argv + optind, (unsigned)(argc - optind), &set,
			&diags);
	rule_diags_print(&diags, stderr);
	if (rc && diags.n_errors == 0)
		fprintf(stderr, PROG ": loading the rules failed: %s\n", strerror(-rc));
	if (c.json)
		rc = check_json(argv + optind, (unsigned)(argc - optind), set, &diags);
	else if (set)
		rc = check_text(set, &diags);
	else
		fprintf(stderr, PROG ": %u error%s%s\n", diags.n_errors,
			diags.n_errors == 1 ? "" : "s",
			diags.truncated ? " (raise --max-errors to see them all)" : "");
	status = set ? EXIT_GOOD : EXIT_BAD;
	if (c.json || set) {
		if (rc == 0 && fflush(stdout) != 0)
			rc = -errno;
		if (rc) {
			fprintf(stderr, PROG ": writing the summary: %s\n", strerror(-rc));
			status = EXIT_BAD;
		}
	}
out:
	rule_set_free(set);
	rule_diags_free(&diags);
	cli_free(&c);
	return status;
}

/* ------------------------------------------------------------------------ */
/* explain: state                                                            */
/* ------------------------------------------------------------------------ */

/* One call of rule_explain's callback. */
struct verdict {
	unsigned rule;
	uint16_t obs;
	uint8_t why;
	char *detail; /* malloc'd, or NULL when empty */
};

/* A hit as (rule index, observation), to compare explain with eval. */
struct hitkey {
	unsigned rule;
	uint16_t obs;
};

struct xplain {
	const struct cli *cli;
	const struct rule_set *set;
	struct rule_scratch *scratch;
	struct rule_hit *hits;
	unsigned max_hits;
	struct hitkey *keys_a, *keys_b; /* max_hits each */
	_Atomic uint64_t counters[RULE_CNT__COUNT];
	struct verdict *v;
	unsigned n_v, cap_v;
	int err; /* first failure inside the callback */

	/* Where the message at hand came from. */
	const char *file;
	unsigned long index;  /* 1-based: pcap frame, text message, MLLP piece */
	unsigned long msg_no; /* 1-based message within its datagram */
	bool from_pcap;

	/* Totals. */
	unsigned long long messages, datagrams_bad, hits_alert, hits_log;
	bool disagree;
};

/* A datagram's walk through its messages (as worker.c's msg_walk). */
struct walk {
	struct xplain *x;
	const uint8_t *frame;
	const struct dp_pkt *pkt;
	unsigned n_msgs;
	int err;
};

/* Large and reused: one message is explained at a time. */
static struct dp_decoded decoded;
static struct rule_input input;
static struct rule_obs obs_buf[RULE_MAX_OBS];

static void
verdicts_clear(struct xplain *x)
{
	for (unsigned i = 0; i < x->n_v; i++)
		free(x->v[i].detail);
	x->n_v = 0;
}

/* rule_explain_fn: keep every verdict. */
static void
on_verdict(void *arg, const struct rule *r, uint16_t obs, enum rule_why why, const char *detail)
{
	struct xplain *x = arg;
	struct verdict *v;

	if (x->err)
		return;
	if (x->n_v == x->cap_v) {
		unsigned cap = x->cap_v ? 2 * x->cap_v : 256;
		struct verdict *bigger = realloc(x->v, cap * sizeof(*x->v));

		if (!bigger) {
			x->err = -ENOMEM;
			return;
		}
		x->v = bigger;
		x->cap_v = cap;
	}
	v = &x->v[x->n_v];
	v->rule = r->index;
	v->obs = obs;
	v->why = (uint8_t)why;
	v->detail = NULL;
	if (detail && detail[0]) {
		v->detail = strdup(detail);
		if (!v->detail) {
			x->err = -ENOMEM;
			return;
		}
	}
	x->n_v++;
}

static int
cmp_key(const void *a, const void *b)
{
	const struct hitkey *p = a, *q = b;

	if (p->rule != q->rule)
		return p->rule < q->rule ? -1 : 1;
	return p->obs < q->obs ? -1 : p->obs > q->obs;
}

/* A rule's verdict in the scope its hits have: observations for a metric rule. */
static bool
in_scope_match(const struct xplain *x, const struct verdict *v)
{
	const struct rule *r = rule_set_rule(x->set, v->rule);

	if (v->why != RULE_WHY_match)
		return false;
	/* A metric rule hits observations; its message verdict is only the header's. */
	return r->n_metrics ? v->obs != RULE_HIT_MSG : v->obs == RULE_HIT_MSG;
}

/* A verdict that rule_eval must report as a hit (pass rules' hits are not reported). */
static bool
is_hit(const struct xplain *x, const struct verdict *v)
{
	return in_scope_match(x, v) && rule_set_rule(x->set, v->rule)->action != RULE_ACTION_PASS;
}

static void
source_text(const struct xplain *x, char *out, size_t room)
{
	if (x->msg_no > 1)
		snprintf(out, room, "%s#%lu.%lu", x->file, x->index, x->msg_no);
	else
		snprintf(out, room, "%s#%lu", x->file, x->index);
}

/*
 * The safety net: rule_eval and rule_explain must reach the same hits. On a
 * difference, say which and remember it (exit 3).
 */
static void
compare_eval(struct xplain *x, unsigned n_hits)
{
	unsigned na = 0, nb = 0;
	char src[512];

	for (unsigned i = 0; i < x->n_v && na < x->max_hits; i++)
		if (is_hit(x, &x->v[i]))
			x->keys_a[na++] = (struct hitkey){x->v[i].rule, x->v[i].obs};
	for (unsigned i = 0; i < n_hits; i++)
		x->keys_b[nb++] = (struct hitkey){x->hits[i].rule->index, x->hits[i].obs};
	qsort(x->keys_a, na, sizeof(*x->keys_a), cmp_key);
	qsort(x->keys_b, nb, sizeof(*x->keys_b), cmp_key);
	source_text(x, src, sizeof(src));
	if (dp_read(&x->counters[RULE_CNT_hits_overflow]) != 0) {
		x->disagree = true;
		fprintf(stderr, PROG ": internal: %s: more hits than the %u there is room for\n",
			src, x->max_hits);
		return;
	}
	if (na == nb && memcmp(x->keys_a, x->keys_b, na * sizeof(*x->keys_a)) == 0)
		return;
	x->disagree = true;
	fprintf(stderr, PROG ": internal: explain and eval disagree on %s\n", src);
	fprintf(stderr, PROG ":   explain:");
	for (unsigned i = 0; i < na; i++)
		fprintf(stderr, " %" PRIu32 "@%d", rule_set_rule(x->set, x->keys_a[i].rule)->sid,
			x->keys_a[i].obs == RULE_HIT_MSG ? -1 : (int)x->keys_a[i].obs);
	fprintf(stderr, "\n" PROG ":   eval:   ");
	for (unsigned i = 0; i < nb; i++)
		fprintf(stderr, " %" PRIu32 "@%d", rule_set_rule(x->set, x->keys_b[i].rule)->sid,
			x->keys_b[i].obs == RULE_HIT_MSG ? -1 : (int)x->keys_b[i].obs);
	fprintf(stderr, "\n");
}

/* ------------------------------------------------------------------------ */
/* explain: what to show                                                     */
/* ------------------------------------------------------------------------ */

static const char *
kind_name(const struct dp_decoded *d)
{
	if (!d)
		return "datagram";
	switch (d->kind) {
	case DP_MSG_ORU_R01:
		return "ORU^R01";
	case DP_MSG_ORU_R40:
		return "ORU^R40";
	case DP_MSG_VTP:
		return "VTP";
	case DP_MSG_OTHER:
		break;
	}
	return "other";
}

/*
 * Whether a verdict is worth a line without --all: every hit, every pass
 * rule's hit and every hit it suppressed; for observations, also the misses
 * of the rules that look at that observation's metric (why not is the
 * question).
 */
static bool
relevant(const struct xplain *x, const struct verdict *v)
{
	if (x->cli->all || in_scope_match(x, v) || v->why == RULE_WHY_passed)
		return true;
	return v->obs != RULE_HIT_MSG && v->why != RULE_WHY_match && v->why != RULE_WHY_metric &&
	       v->why != RULE_WHY_disabled;
}

/* The observation's unit as text: the table's UCUM, else OBX-6's first component. */
static void
unit_text(const struct dp_decoded *d, const struct dp_obs *o, char *out, size_t room)
{
	const struct rule_unit *u = o->unit ? rule_unit_by_code(o->unit) : NULL;
	size_t n = 0;

	out[0] = '\0';
	if (u && u->ucum) {
		snprintf(out, room, "%s", u->ucum);
		return;
	}
	if (!d->msg || o->unit_text.len == 0 || o->unit_text.off + o->unit_text.len > d->msg_len)
		return;
	for (size_t i = 0; i < o->unit_text.len && n + 1 < room; i++) {
		char ch = (char)d->msg[o->unit_text.off + i];

		if (ch == '^')
			break;
		out[n++] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
	}
	out[n] = '\0';
}

static void
flags_text(uint32_t flags, char *out, size_t room)
{
	size_t o = 0;

	out[0] = '\0';
	for (unsigned b = 0; b < DP_OBS_BIT__COUNT; b++) {
		int n;

		if (b == DP_OBS_BIT_INVALID || !(flags & (UINT32_C(1) << b)))
			continue;
		n = snprintf(out + o, room - o, "%s%s", o ? "," : "",
			     dp_obs_flag_name((enum dp_obs_bit)b));
		if (n < 0 || (size_t)n >= room - o)
			break;
		o += (size_t)n;
	}
}

static void
addr_text(const struct rule_input *in, const uint8_t *a, char *out, size_t room)
{
	if (in->ip_version != 4 && in->ip_version != 6) {
		snprintf(out, room, "-");
		return;
	}
	if (!inet_ntop(in->ip_version == 4 ? AF_INET : AF_INET6, a, out, (socklen_t)room))
		snprintf(out, room, "?");
}

static void
value_text(double v, char *out, size_t room)
{
	if (isnan(v))
		snprintf(out, room, "-");
	else
		snprintf(out, room, "%.15g", v);
}

/* The metric's name, or the code as a number. */
static void
metric_text(uint32_t code, char *out, size_t room)
{
	const struct rule_metric *m = rule_metric_by_code(code);

	if (m)
		snprintf(out, room, "%s", m->name);
	else
		snprintf(out, room, "%" PRIu32, code);
}

static int
print_verdict_text(const struct xplain *x, const struct verdict *v)
{
	const struct rule *r = rule_set_rule(x->set, v->rule);
	const char *tag;

	if (is_hit(x, v))
		tag = "HIT ";
	else if (in_scope_match(x, v))
		tag = "PASS";
	else if (v->why == RULE_WHY_passed)
		tag = "supp";
	else if (v->why == RULE_WHY_match)
		tag = "hdr ";
	else
		tag = "no  ";
	if (v->why == RULE_WHY_match && v->obs == RULE_HIT_MSG && r->n_metrics) {
		if (printf("    %s %-9" PRIu32
			   " header and patterns hold: judged per observation\n",
			   tag, r->sid) < 0)
			return -EIO;
		return 0;
	}
	if (v->why == RULE_WHY_match) {
		if (printf("    %s %-9" PRIu32 " %s %s %s  %s\n", tag, r->sid,
			   rule_action_name((enum rule_action)r->action),
			   rule_priority_name((enum rule_priority)r->priority),
			   rule_kind_name((enum rule_kind)r->kind), r->msg) < 0)
			return -EIO;
		return 0;
	}
	if (printf("    %s %-9" PRIu32 " %s: %s\n", tag, r->sid,
		   rule_why_name((enum rule_why)v->why),
		   v->detail ? v->detail : rule_why_desc((enum rule_why)v->why)) < 0)
		return -EIO;
	return 0;
}

/* Every relevant verdict about @p obs (RULE_HIT_MSG: the message), in rule order. */
static int
print_verdicts_text(const struct xplain *x, uint16_t obs)
{
	for (unsigned i = 0; i < x->n_v; i++) {
		const struct verdict *v = &x->v[i];

		if (v->obs != obs || !relevant(x, v))
			continue;
		if (print_verdict_text(x, v))
			return -EIO;
	}
	return 0;
}

static int
print_text(const struct xplain *x, const struct dp_decoded *d, const struct rule_input *in,
	   const char *undecoded, unsigned n_hits)
{
	char src[512], a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

	source_text(x, src, sizeof(src));
	if (printf("%s: %s %s, %" PRIu32 " bytes", src, rule_proto_name(in->proto), kind_name(d),
		   in->dsize) < 0)
		return -EIO;
	if (x->from_pcap) {
		addr_text(in, in->src, a, sizeof(a));
		addr_text(in, in->dst, b, sizeof(b));
		if (printf(in->ip_version == 6 ? ", [%s]:%u -> [%s]:%u" : ", %s:%u -> %s:%u", a,
			   in->sport, b, in->dport) < 0)
			return -EIO;
	}
	if (in->malformed && printf(", malformed") < 0)
		return -EIO;
	if (!in->first && printf(", not first in its datagram") < 0)
		return -EIO;
	if (printf(", %u hit%s\n", n_hits, n_hits == 1 ? "" : "s") < 0)
		return -EIO;
	if (undecoded && printf("  not decoded: %s\n", undecoded) < 0)
		return -EIO;
	for (unsigned i = 0; d && i < d->n_alarms && i < DP_MAX_DEV_ALARMS; i++) {
		const struct dp_dev_alarm *al = &d->alarm[i];
		const char *ev = rule_code_refid(al->event_code);
		char code[16];

		snprintf(code, sizeof(code), "%" PRIu32, al->event_code);
		if (printf("  device alarm %s, %s, %s, priority %s, %s\n", ev ? ev : code,
			   dp_alarm_phase_name(al->phase), dp_alarm_state_name(al->state),
			   dp_alarm_priority_name(al->priority), dp_alarm_type_name(al->type)) < 0)
			return -EIO;
	}
	if (printf("  message\n") < 0 || print_verdicts_text(x, RULE_HIT_MSG))
		return -EIO;
	for (unsigned i = 0; d && i < d->n_obs && i < RULE_MAX_OBS; i++) {
		const struct dp_obs *o = &d->obs[i];
		char name[32], val[40], unit[32], flags[512];

		metric_text(o->code, name, sizeof(name));
		value_text(o->value, val, sizeof(val));
		unit_text(d, o, unit, sizeof(unit));
		flags_text(o->flags, flags, sizeof(flags));
		if (printf("  obs %u: %s %s%s%s%s%s%s%s\n", i, name, val, unit[0] ? " " : "", unit,
			   flags[0] ? " [" : "", flags, flags[0] ? "]" : "",
			   (o->flags & DP_OBS(INVALID)) ? ", invalid" : "") < 0)
			return -EIO;
		if (print_verdicts_text(x, (uint16_t)i))
			return -EIO;
	}
	return 0;
}

static json_t *
rule_json(const struct rule *r)
{
	json_t *o = json_object();

	if (!put(o, "sid", json_integer(r->sid)) || !put(o, "rev", json_integer(r->rev)) ||
	    !put(o, "action", json_str(rule_action_name((enum rule_action)r->action))) ||
	    !put(o, "priority", json_str(rule_priority_name((enum rule_priority)r->priority))) ||
	    !put(o, "kind", json_str(rule_kind_name((enum rule_kind)r->kind))) ||
	    !put(o, "msg", json_str(r->msg))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* {"matches":[rule...], "verdicts":[{"sid","why","detail"}...]} of @p obs. */
static bool
verdicts_json(const struct xplain *x, uint16_t obs, json_t *into)
{
	json_t *m = json_array(), *v = json_array();

	if (!put(into, "matches", m)) {
		json_decref(v);
		return false;
	}
	if (!put(into, "verdicts", v))
		return false;
	for (unsigned i = 0; i < x->n_v; i++) {
		const struct verdict *vd = &x->v[i];
		const struct rule *r = rule_set_rule(x->set, vd->rule);
		json_t *o;

		if (vd->obs != obs)
			continue;
		if (is_hit(x, vd) && !put(m, NULL, rule_json(r)))
			return false;
		if (!relevant(x, vd) || is_hit(x, vd))
			continue;
		o = json_object();
		if (!put(v, NULL, o) || !put(o, "sid", json_integer(r->sid)) ||
		    !put(o, "why", json_str(rule_why_name((enum rule_why)vd->why))) ||
		    !put(o, "detail", json_str(vd->detail ? vd->detail : "")))
			return false;
	}
	return true;
}

static json_t *
value_json(double v)
{
	if (!isfinite(v))
		return json_null();
	if (v == floor(v) && fabs(v) < 9007199254740992.0)
		return json_integer((json_int_t)v);
	return json_real(v);
}

static int
print_json_msg(const struct xplain *x, const struct dp_decoded *d, const struct rule_input *in,
	       const char *undecoded, unsigned n_hits)
{
	char src[512], a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	json_t *o = json_object(), *arr = json_array();
	int rc = -ENOMEM;

	if (!o || !arr)
		goto out;
	source_text(x, src, sizeof(src));
	if (!put(o, "source", json_str(src)) || !put(o, "file", json_str(x->file)) ||
	    !put(o, "index", json_integer((json_int_t)x->index)) ||
	    !put(o, "message", json_integer((json_int_t)x->msg_no)) ||
	    !put(o, "proto", json_str(rule_proto_name(in->proto))) ||
	    !put(o, "kind", json_str(kind_name(d))) || !put(o, "dsize", json_integer(in->dsize)) ||
	    !put(o, "first", json_boolean(in->first)) ||
	    !put(o, "malformed", json_boolean(in->malformed)) ||
	    !put(o, "undecoded", undecoded ? json_str(undecoded) : json_null()))
		goto out;
	if (x->from_pcap) {
		addr_text(in, in->src, a, sizeof(a));
		addr_text(in, in->dst, b, sizeof(b));
		if (!put(o, "src", json_str(a)) || !put(o, "sport", json_integer(in->sport)) ||
		    !put(o, "dst", json_str(b)) || !put(o, "dport", json_integer(in->dport)))
			goto out;
	}
	if (!put(o, "hits", json_integer(n_hits)) || !verdicts_json(x, RULE_HIT_MSG, o))
		goto out;
	for (unsigned i = 0; d && i < d->n_alarms && i < DP_MAX_DEV_ALARMS; i++) {
		const struct dp_dev_alarm *al = &d->alarm[i];
		json_t *ja = json_object();

		if (!put(arr, NULL, ja) || !put(ja, "event", json_integer(al->event_code)) ||
		    !put(ja, "event_name", json_str(rule_code_refid(al->event_code))) ||
		    !put(ja, "phase", json_str(dp_alarm_phase_name(al->phase))) ||
		    !put(ja, "state", json_str(dp_alarm_state_name(al->state))) ||
		    !put(ja, "priority", json_str(dp_alarm_priority_name(al->priority))) ||
		    !put(ja, "alarm_type", json_str(dp_alarm_type_name(al->type))))
			goto out;
	}
	if (!put(o, "alarms", arr)) {
		arr = NULL;
		goto out;
	}
	arr = json_array();
	if (!arr)
		goto out;
	for (unsigned i = 0; d && i < d->n_obs && i < RULE_MAX_OBS; i++) {
		const struct dp_obs *ob = &d->obs[i];
		const struct rule_metric *m = rule_metric_by_code(ob->code);
		json_t *jo = json_object(), *fl;
		char unit[32];

		unit_text(d, ob, unit, sizeof(unit));
		if (!put(arr, NULL, jo) || !put(jo, "index", json_integer(i)) ||
		    !put(jo, "code", json_integer(ob->code)) ||
		    !put(jo, "name", m ? json_str(m->name) : json_null()) ||
		    !put(jo, "value", value_json(ob->value)) ||
		    !put(jo, "unit", unit[0] ? json_str(unit) : json_null()) ||
		    !put(jo, "valid", json_boolean(!(ob->flags & DP_OBS(INVALID)))))
			goto out;
		/* Owned by jo once put; filled in place. */
		fl = json_array();
		if (!put(jo, "flags", fl))
			goto out;
		for (unsigned bit = 0; bit < DP_OBS_BIT__COUNT; bit++)
			if (bit != DP_OBS_BIT_INVALID && (ob->flags & (UINT32_C(1) << bit)) &&
			    !put(fl, NULL, json_str(dp_obs_flag_name((enum dp_obs_bit)bit))))
				goto out;
		if (!verdicts_json(x, (uint16_t)i, jo))
			goto out;
	}
	if (!put(o, "observations", arr)) {
		arr = NULL;
		goto out;
	}
	arr = NULL;
	rc = print_json(o);
out:
	json_decref(arr);
	json_decref(o);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* explain: one message or datagram                                          */
/* ------------------------------------------------------------------------ */

/*
 * Explain @p in (from @p d, or NULL for a datagram that did not decode),
 * check eval against it, print it. 0, or a negative errno (fatal).
 */
static int
explain_one(struct xplain *x, const struct dp_decoded *d, const struct rule_input *in,
	    const char *undecoded)
{
	unsigned n_hits;
	int rc;

	verdicts_clear(x);
	x->err = 0;
	rc = rule_explain(x->set, x->scratch, in, on_verdict, x);
	if (rc == 0 && x->err)
		rc = x->err;
	if (rc) {
		fprintf(stderr, PROG ": %s#%lu: explaining failed: %s\n", x->file, x->index,
			strerror(-rc));
		return rc;
	}
	for (unsigned i = 0; i < RULE_CNT__COUNT; i++)
		atomic_store_explicit(&x->counters[i], 0, memory_order_relaxed);
	n_hits = rule_eval(x->set, x->scratch, in, x->hits, x->max_hits, x->counters);
	compare_eval(x, n_hits);
	for (unsigned i = 0; i < n_hits; i++) {
		if (x->hits[i].rule->action == RULE_ACTION_ALERT)
			x->hits_alert++;
		else
			x->hits_log++;
	}
	if (d)
		x->messages++;
	else
		x->datagrams_bad++;
	rc = x->cli->json ? print_json_msg(x, d, in, undecoded, n_hits)
			  : print_text(x, d, in, undecoded, n_hits);
	if (rc)
		fprintf(stderr, PROG ": writing to stdout: %s\n", strerror(-rc));
	return rc;
}

/*
 * Why a part of a datagram did not decode: the descriptions of the error
 * counters that moved in @p s (zeroed before the decode), "; "-separated.
 */
static void
why_bad(const struct dp_stats *s, char *out, size_t room)
{
	size_t o = 0;

	out[0] = '\0';
	for (unsigned c = 0; c < DP_HL7__COUNT; c++) {
		int n;

		if (c == DP_HL7_messages || c == DP_HL7_observations || c == DP_HL7_device_alarms ||
		    !dp_read(&s->hl7[c]))
			continue;
		n = snprintf(out + o, room - o, "%s%s", o ? "; " : "",
			     dp_hl7_counter_desc((enum dp_hl7_counter)c));
		if (n < 0 || (size_t)n >= room - o)
			return;
		o += (size_t)n;
	}
	for (unsigned c = 0; c < DP_VTP__COUNT; c++) {
		int n;

		if (c == DP_VTP_frames || c == DP_VTP_observations || !dp_read(&s->vtp[c]))
			continue;
		n = snprintf(out + o, room - o, "%s%s", o ? "; " : "",
			     dp_vtp_counter_desc((enum dp_vtp_counter)c));
		if (n < 0 || (size_t)n >= room - o)
			return;
		o += (size_t)n;
	}
	if (o == 0)
		snprintf(out, room, "nothing in it decoded");
}

/* dp_decoded_fn: one message of a datagram, as worker.c's on_message. */
static void
on_message(void *arg, const struct dp_decoded *d)
{
	struct walk *w = arg;

	if (w->err)
		return;
	dp_rule_input(d, w->frame, w->pkt, &input, obs_buf);
	input.first = w->n_msgs == 0;
	w->x->msg_no = w->n_msgs + 1;
	w->err = explain_one(w->x, d, &input, NULL);
	w->n_msgs++;
}

/*
 * One datagram as a worker takes it (worker.c decode_telemetry): its
 * messages, then, when a part did not decode or nothing did, the datagram
 * once more on its own. @p frame/@p pkt are NULL for a piece of a file, then
 * @p payload/@p len are the bytes and dsize their length.
 */
static int
explain_datagram(struct xplain *x, enum dp_verdict kind, const uint8_t *frame,
		 const struct dp_pkt *pkt, const uint8_t *payload, size_t len, unsigned *n_msgs)
{
	struct walk w = {.x = x, .frame = frame, .pkt = pkt};
	struct dp_stats stats;
	unsigned n_bad = 0;
	char reason[512];

	memset(&stats, 0, sizeof(stats));
	if (kind == DP_VERDICT_HL7) {
		dp_mllp_decode_bad(payload, len, &stats, &decoded, on_message, &w, &n_bad);
	} else {
		int rc;

		memset(&decoded, 0, sizeof(decoded));
		rc = dp_vtp_decode(payload, len, NULL, &stats, &decoded);
		if (rc == 0)
			on_message(&w, &decoded);
		else if (rc == -EBADMSG)
			n_bad = 1;
	}
	*n_msgs = w.n_msgs;
	if (w.err)
		return w.err;
	if (n_bad == 0 && w.n_msgs > 0)
		return 0;
	why_bad(&stats, reason, sizeof(reason));
	fprintf(stderr, PROG ": %s#%lu: %s\n", x->file, x->index, reason);
	dp_rule_input_datagram(kind, frame, pkt, &input);
	if (!frame || !pkt) {
		input.payload = payload;
		input.len = len;
		input.dsize = (uint32_t)len;
	}
	input.first = w.n_msgs == 0;
	input.malformed = n_bad > 0;
	x->msg_no = 0;
	return explain_one(x, NULL, &input, reason);
}

/* ------------------------------------------------------------------------ */
/* explain: inputs                                                           */
/* ------------------------------------------------------------------------ */

/* A capture: frames through dp_classify, telemetry as the worker takes it. */
static int
explain_pcap(struct xplain *x, const uint8_t *buf, size_t len, unsigned long *n_msgs)
{
	struct vi_pcap pc;
	struct vi_frame f;
	int rc;

	if (vi_pcap_open(&pc, buf, len, PROG, x->file))
		return -EINVAL;
	x->from_pcap = true;
	while ((rc = vi_pcap_next(&pc, &f)) > 0) {
		const uint8_t *frame = f.data;
		struct dp_pkt pkt;
		enum dp_verdict v;
		unsigned n = 0;
		int err;

		x->index = f.number;
		v = dp_classify(&x->cli->local, frame, f.caplen, 0, &pkt);
		if (v != DP_VERDICT_HL7 && v != DP_VERDICT_VTP)
			continue;
		err = explain_datagram(x, v, frame, &pkt, frame + pkt.payload_off, pkt.payload_len,
				       &n);
		*n_msgs += n;
		if (err)
			return err;
	}
	if (rc < 0) {
		x->index = f.number;
		fprintf(stderr, PROG ": %s: frame %lu: %s\n", x->file, f.number,
			rc == -ENODATA ? "pcap record header cut short"
				       : "pcap record runs past the end");
	}
	x->from_pcap = false;
	return 0;
}

/* An MLLP-framed file: each piece a datagram of its own, without addresses. */
static int
explain_mllp(struct xplain *x, const uint8_t *buf, size_t len, unsigned long *n_msgs)
{
	struct vi_piece p;
	size_t pos = 0;

	x->index = 0;
	while (vi_mllp_next(buf, len, &pos, &p)) {
		unsigned got = 0;
		int rc;

		x->index++;
		rc = explain_datagram(x, DP_VERDICT_HL7, NULL, NULL, buf + p.off, p.len, &got);
		*n_msgs += got;
		if (rc)
			return rc;
	}
	return 0;
}

/* One text message, taken as a datagram of its own. */
static int
explain_text_msg(struct xplain *x, const uint8_t *msg, size_t len, unsigned long *n_msgs)
{
	struct dp_stats stats;
	char reason[512];

	memset(&stats, 0, sizeof(stats));
	memset(&decoded, 0, sizeof(decoded));
	x->msg_no = 1;
	if (dp_hl7_decode(msg, len, &stats, &decoded) == 0) {
		dp_rule_input(&decoded, NULL, NULL, &input, obs_buf);
		input.first = true;
		(*n_msgs)++;
		return explain_one(x, &decoded, &input, NULL);
	}
	why_bad(&stats, reason, sizeof(reason));
	fprintf(stderr, PROG ": %s#%lu: %s\n", x->file, x->index, reason);
	dp_rule_input_datagram(DP_VERDICT_HL7, NULL, NULL, &input);
	input.payload = msg;
	input.len = len;
	input.dsize = (uint32_t)len;
	input.first = true;
	input.malformed = true;
	x->msg_no = 0;
	return explain_one(x, NULL, &input, reason);
}

/* HL7 text: a message at every line that starts with MSH. */
static int
explain_text(struct xplain *x, const uint8_t *buf, size_t len, unsigned long *n_msgs)
{
	struct vi_piece m;
	size_t pos = 0;

	x->index = 1;
	while (vi_text_next(buf, len, &pos, &m)) {
		int rc = explain_text_msg(x, buf + m.off, m.len, n_msgs);

		if (rc)
			return rc;
		x->index++;
	}
	return 0;
}

/*
 * One input file. Returns EXIT_GOOD, EXIT_BAD (unreadable, not a capture
 * this tool reads, or nothing in it decoded), or -errno when it is fatal.
 */
static int
explain_file(struct xplain *x, const char *path)
{
	unsigned long n_msgs = 0;
	struct vi_input in;
	int rc;

	x->file = path;
	x->from_pcap = false;
	rc = vi_input_read(path, &in);
	if (rc) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(-rc));
		return rc == -ENOMEM ? rc : EXIT_BAD;
	}
	switch (in.kind) {
	case VI_PCAP:
		rc = explain_pcap(x, in.buf, in.len, &n_msgs);
		break;
	case VI_MLLP:
		rc = explain_mllp(x, in.buf + in.start, in.len - in.start, &n_msgs);
		break;
	case VI_TEXT:
		rc = explain_text(x, in.buf, in.len, &n_msgs);
		break;
	}
	vi_input_free(&in);
	if (rc == -EINVAL)
		return EXIT_BAD;
	if (rc)
		return rc;
	if (n_msgs == 0) {
		fprintf(stderr, PROG ": %s: no message or frame in it decoded\n", path);
		return EXIT_BAD;
	}
	return EXIT_GOOD;
}

static int
cmd_explain(int argc, char **argv)
{
	enum { OPT_HL7_PORT = 256, OPT_VTP_PORT, OPT_ALL };
	static const struct option longopts[] = {
		{"rules", required_argument, NULL, 'r'},
		{"var", required_argument, NULL, 'v'},
		{"cache-dir", required_argument, NULL, 'c'},
		{"hl7-port", required_argument, NULL, OPT_HL7_PORT},
		{"vtp-port", required_argument, NULL, OPT_VTP_PORT},
		{"all", no_argument, NULL, OPT_ALL},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli c = {0};
	struct rule_diags diags = {0};
	struct rule_set *set = NULL;
	struct xplain *x = NULL;
	int status = EXIT_USAGE, opt, rc;

	c.local.udp_checksum = true; /* vigild's default */
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (add_rules(&c, optarg))
				goto oom;
			break;
		case 'v':
			if (add_var(&c, optarg))
				goto out;
			break;
		case 'c':
			c.cache_dir = optarg;
			break;
		case OPT_HL7_PORT:
			if (add_port(c.local.hl7_ports, &c.local.n_hl7_ports, optarg, "--hl7-port"))
				goto out;
			break;
		case OPT_VTP_PORT:
			if (add_port(c.local.vtp_ports, &c.local.n_vtp_ports, optarg, "--vtp-port"))
				goto out;
			break;
		case OPT_ALL:
			c.all = true;
			break;
		case 'j':
			c.json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			status = EXIT_GOOD;
			goto out;
		default:
			fputs(usage_text, stderr);
			goto out;
		}
	}
	if (c.n_rules == 0) {
		fprintf(stderr, PROG " explain: no --rules FILE\n%s", usage_text);
		goto out;
	}
	if (optind >= argc) {
		fprintf(stderr, PROG " explain: no input file\n%s", usage_text);
		goto out;
	}
	if (c.local.n_hl7_ports == 0)
		c.local.hl7_ports[c.local.n_hl7_ports++] = DEFAULT_HL7_PORT;
	if (c.local.n_vtp_ports == 0)
		c.local.vtp_ports[c.local.n_vtp_ports++] = DEFAULT_VTP_PORT;

	status = EXIT_BAD;
	rc = load_rules(&c, c.rules, c.n_rules, &set, &diags);
	rule_diags_print(&diags, stderr);
	if (rc) {
		if (diags.n_errors == 0)
			fprintf(stderr, PROG ": loading the rules failed: %s\n", strerror(-rc));
		else
			fprintf(stderr, PROG ": the rules have %u error%s: nothing explained\n",
				diags.n_errors, diags.n_errors == 1 ? "" : "s");
		goto out;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		goto oom;
	x->cli = &c;
	x->set = set;
	/* Each message rule once, each metric rule on every observation: eval never overflows. */
	{
		const struct rule_set_info *info = rule_set_info(set);
		size_t n = (size_t)(info->n_rules - info->n_metric_rules) +
			   (size_t)RULE_MAX_OBS * info->n_metric_rules + 1;

		if (n > UINT_MAX / 2)
			goto oom;
		x->max_hits = (unsigned)n;
	}
	x->hits = calloc(x->max_hits, sizeof(*x->hits));
	x->keys_a = calloc(x->max_hits, sizeof(*x->keys_a));
	x->keys_b = calloc(x->max_hits, sizeof(*x->keys_b));
	if (!x->hits || !x->keys_a || !x->keys_b || rule_scratch_new(set, &x->scratch))
		goto oom;
	status = EXIT_GOOD;
	for (int i = optind; i < argc; i++) {
		rc = explain_file(x, argv[i]);
		if (rc < 0) {
			status = EXIT_BAD;
			if (rc == -ENOMEM)
				goto oom;
			goto out;
		}
		if (rc > status)
			status = rc;
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, PROG ": writing to stdout: %s\n", strerror(errno));
		status = EXIT_BAD;
	}
	fprintf(stderr,
		PROG
		": %d input%s, %llu messages, %llu undecoded datagrams, %llu hits (alert %llu, "
		"log %llu)\n",
		argc - optind, argc - optind == 1 ? "" : "s", x->messages, x->datagrams_bad,
		x->hits_alert + x->hits_log, x->hits_alert, x->hits_log);
	if (x->disagree) {
		fprintf(stderr, PROG ": internal: explain and eval disagree (see above): a bug in "
				     "the rules component\n");
		status = EXIT_INTERNAL;
	}
	goto out;
oom:
	fprintf(stderr, PROG ": out of memory\n");
	status = EXIT_BAD;
out:
	if (x) {
		verdicts_clear(x);
		free(x->v);
		free(x->hits);
		free(x->keys_a);
		free(x->keys_b);
		rule_scratch_free(x->scratch);
		free(x);
	}
	rule_set_free(set);
	rule_diags_free(&diags);
	cli_free(&c);
	return status;
}

/* ------------------------------------------------------------------------ */
/* main                                                                      */
/* ------------------------------------------------------------------------ */

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, PROG ": no command\n%s", usage_text);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_text, stdout);
		return EXIT_GOOD;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf(PROG " %s (Hyperscan %s)\n", VIGIL_VERSION, hs_version());
		return EXIT_GOOD;
	}
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "explain") == 0)
		return cmd_explain(argc - 1, argv + 1);
	fprintf(stderr, PROG ": unknown command '%s' (check or explain)\n%s", argv[1], usage_text);
	return EXIT_USAGE;
}
