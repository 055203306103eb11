/*
 * test_rules_parse.c - unit tests of the rule language's parser
 * (rules/parse.c, rules/diag.c), through the public API: rule_set_load()
 * with in-memory sources (or files in a temporary directory) and
 * no_compile, then the loaded rules' fields and the diagnostics.
 *
 * A rule that parses into something other than what its writer meant is
 * an alarm that does not sound, so every keyword has a test that asserts
 * the field it sets; and a rule writer finds a mistake by its FILE:LINE:COL,
 * so every error message is asserted at its exact place. The place is
 * written into the rule text as an '@' (removed before loading): the
 * column is where the '@' was.
 *
 * Addresses and ports are checked on the ranges the parser made (struct
 * rule_int, rule_private.h), printed into text by a small helper here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "cunit_main.h"
#include "rule_private.h"
#include "rules.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Metrics and units (DOMAIN.md section 4). */
#define SPO2 150456u
#define HR 147842u
#define PULSE 149530u
#define NIBP_SYS 150021u

/* The header every option test shares: the options start at column 31. */
#define H "alert hl7 any any -> any any ("

/* ======================================================================== */
/* Loading                                                                  */
/* ======================================================================== */

struct loaded {
	struct rule_set *set;
	struct rule_diags d;
	int ret;
};

/* Where the '@' of a text was; the text without it. */
struct mark {
	unsigned line, col;
	bool found;
};

static char *
strip_mark(const char *text, struct mark *m)
{
	size_t n = strlen(text), k = 0;
	char *out = malloc(n + 1);
	unsigned line = 1, col = 1;

	CU_ASSERT_FATAL(out != NULL);
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '@' && !m->found) {
			m->line = line;
			m->col = col;
			m->found = true;
			continue;
		}
		out[k++] = text[i];
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	out[k] = '\0';
	return out;
}

static void
load_opts(const char *text, struct rule_load_opts *o, struct loaded *l)
{
	struct rule_source src = {.name = "t.rules", .text = text, .len = strlen(text)};

	memset(l, 0, sizeof(*l));
	o->sources = &src;
	o->n_sources = 1;
	o->no_compile = true;
	l->ret = rule_set_load(o, &l->set, &l->d);
	o->sources = NULL;
	o->n_sources = 0;
}

static void
load(const char *text, struct loaded *l)
{
	struct rule_load_opts o = {0};

	load_opts(text, &o, l);
}

static void
unload(struct loaded *l)
{
	rule_set_free(l->set);
	rule_diags_free(&l->d);
	memset(l, 0, sizeof(*l));
}

static void
dump_diags(const struct loaded *l, int caller)
{
	fprintf(stderr, "\n  (test line %d) ret %d, diagnostics:\n", caller, l->ret);
	rule_diags_print(&l->d, stderr);
}

/* The one rule of a text that must load cleanly (warnings allowed). */
static const struct rule *
load_one(const char *text, struct loaded *l, int caller)
{
	load(text, l);
	if (l->ret != 0 || l->set == NULL || rule_set_count(l->set) != 1) {
		dump_diags(l, caller);
		CU_FAIL("the rule did not load");
		return NULL;
	}
	return rule_set_rule(l->set, 0);
}

#define LOAD_ONE(text, l) load_one((text), (l), __LINE__)

static const struct rule_diag *
find_diag(const struct loaded *l, enum rule_severity sev, const char *msg)
{
	for (unsigned i = 0; i < l->d.n; i++)
		if (l->d.d[i].severity == sev && strstr(l->d.d[i].msg, msg) != NULL)
			return &l->d.d[i];
	return NULL;
}

/*
 * @p text must fail to load with an error containing @p msg at the '@',
 * and that error must be the first one.
 */
static void
expect_error(int caller, const char *text, const char *msg)
{
	struct loaded l;
	struct mark m;
	char *t = strip_mark(text, &m);
	const struct rule_diag *g;
	bool ok;

	CU_ASSERT_FATAL(m.found);
	load(t, &l);
	g = l.d.n > 0 ? &l.d.d[0] : NULL;
	ok = l.ret == -EINVAL && l.set == NULL && g != NULL && g->severity == RULE_DIAG_ERROR &&
	     strstr(g->msg, msg) != NULL && g->line == m.line && g->col == m.col &&
	     strcmp(g->file, "t.rules") == 0;
	if (!ok) {
		fprintf(stderr, "\n  want %u:%u: error: ...%s...", m.line, m.col, msg);
		dump_diags(&l, caller);
	}
	CU_ASSERT(ok);
	unload(&l);
	free(t);
}

#define EXPECT_ERROR(text, msg) expect_error(__LINE__, (text), (msg))

/* @p text loads with a warning containing @p msg at the '@'. */
static void
expect_warning(int caller, const char *text, const char *msg, bool disabled)
{
	struct loaded l;
	struct mark m;
	char *t = strip_mark(text, &m);
	const struct rule_diag *g;
	bool ok;

	load(t, &l);
	g = find_diag(&l, RULE_DIAG_WARNING, msg);
	ok = l.ret == 0 && l.set != NULL && rule_set_count(l.set) == 1 && g != NULL &&
	     g->line == m.line && g->col == m.col && l.d.n_errors == 0 && l.d.n_warnings == 1 &&
	     rule_set_rule(l.set, 0)->disabled == disabled &&
	     rule_set_info(l.set)->n_disabled == (disabled ? 1u : 0u);
	if (!ok) {
		fprintf(stderr, "\n  want %u:%u: warning: ...%s...", m.line, m.col, msg);
		dump_diags(&l, caller);
	}
	CU_ASSERT(ok);
	unload(&l);
	free(t);
}

#define EXPECT_WARNING(text, msg, disabled) expect_warning(__LINE__, (text), (msg), (disabled))

/* ======================================================================== */
/* Ranges as text (test-only view of struct rule_int)                       */
/* ======================================================================== */

static const struct rule_int *
rule_int_of(const struct loaded *l, unsigned i)
{
	return (const struct rule_int *)rule_set_rule(l->set, i);
}

/* "10.0.0.0-10.255.255.255 10.1.2.3 | fd00::-fdff:..." (v4, then v6). */
static void
addr_text(const struct rule_addrset *a, char *buf, size_t len)
{
	char lo[INET6_ADDRSTRLEN], hi[INET6_ADDRSTRLEN];
	size_t k = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < a->n4 && k < len; i++) {
		uint32_t l4 = htonl(a->v4[i].lo), h4 = htonl(a->v4[i].hi);

		inet_ntop(AF_INET, &l4, lo, sizeof(lo));
		inet_ntop(AF_INET, &h4, hi, sizeof(hi));
		k += (size_t)snprintf(buf + k, len - k, "%s%s%s%s", i ? " " : "", lo,
				      a->v4[i].lo == a->v4[i].hi ? "" : "-",
				      a->v4[i].lo == a->v4[i].hi ? "" : hi);
	}
	if (k < len)
		k += (size_t)snprintf(buf + k, len - k, "%s|", k ? " " : "");
	for (unsigned i = 0; i < a->n6 && k < len; i++) {
		bool one = memcmp(a->v6[i].lo, a->v6[i].hi, 16) == 0;

		inet_ntop(AF_INET6, a->v6[i].lo, lo, sizeof(lo));
		inet_ntop(AF_INET6, a->v6[i].hi, hi, sizeof(hi));
		k += (size_t)snprintf(buf + k, len - k, " %s%s%s", lo, one ? "" : "-",
				      one ? "" : hi);
	}
}

static void
port_text(const struct rule_portset *p, char *buf, size_t len)
{
	size_t k = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < p->n && k < len; i++) {
		if (p->r[i].lo == p->r[i].hi)
			k += (size_t)snprintf(buf + k, len - k, "%s%u", i ? " " : "", p->r[i].lo);
		else
			k += (size_t)snprintf(buf + k, len - k, "%s%u-%u", i ? " " : "", p->r[i].lo,
					      p->r[i].hi);
	}
}

#define ANY4 "0.0.0.0-255.255.255.255"
#define ANY6 "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
#define ANY ANY4 " | " ANY6

/* The source addresses of `alert hl7 SRC any -> any any (...)`. */
static void
expect_src(int caller, const char *src, const char *want)
{
	struct loaded l;
	char text[512], got[1024];

	snprintf(text, sizeof(text),
		 "var NET 10.0.0.0/8\nvar NETS [$NET, 192.168.0.0/16]\n"
		 "alert hl7 %s any -> any any (priority:low; sid:1;)\n",
		 src);
	if (LOAD_ONE(text, &l) == NULL) {
		unload(&l);
		return;
	}
	addr_text(&rule_int_of(&l, 0)->hdr.src, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fprintf(stderr, "\n  (test line %d) %s: got \"%s\", want \"%s\"\n", caller, src,
			got, want);
	CU_ASSERT_STRING_EQUAL(got, want);
	unload(&l);
}

#define EXPECT_SRC(src, want) expect_src(__LINE__, (src), (want))

static void
expect_dport(int caller, const char *dport, const char *want)
{
	struct loaded l;
	char text[512], got[1024];

	snprintf(text, sizeof(text),
		 "var HL7 2575\nvar HIGH 1024:\nalert hl7 any any -> any %s (priority:low; "
		 "sid:1;)\n",
		 dport);
	if (LOAD_ONE(text, &l) == NULL) {
		unload(&l);
		return;
	}
	port_text(&rule_int_of(&l, 0)->hdr.dport, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fprintf(stderr, "\n  (test line %d) %s: got \"%s\", want \"%s\"\n", caller, dport,
			got, want);
	CU_ASSERT_STRING_EQUAL(got, want);
	unload(&l);
}

#define EXPECT_DPORT(p, want) expect_dport(__LINE__, (p), (want))

/* ======================================================================== */
/* A whole rule, and the header                                             */
/* ======================================================================== */

static void
test_full_rule(void)
{
#define RULE                                                                                   \
	"alert hl7 $ICU_NET any -> any 2575 (msg:\"SpO2 below 85%\"; metric:SPO2; value:<85; " \
	"delay:15s; priority:high; sid:1000101; rev:2;)"
	static const char text[] = "# vigil rules\n"
				   "\n"
				   "   # an indented comment\n"
				   "var ICU_NET 10.20.0.0/16\n" RULE "\n";
	struct loaded l;
	const struct rule *r = LOAD_ONE(text, &l);
	const struct rule_set_info *info;

	if (r == NULL)
		goto out;
	CU_ASSERT_EQUAL(r->sid, 1000101);
	CU_ASSERT_EQUAL(r->rev, 2);
	CU_ASSERT_EQUAL(r->action, RULE_ACTION_ALERT);
	CU_ASSERT_EQUAL(r->proto, RULE_PROTO_HL7);
	CU_ASSERT_EQUAL(r->priority, RULE_PRIO_HIGH);
	CU_ASSERT_EQUAL(r->kind, RULE_KIND_PHYSIOLOGICAL);
	CU_ASSERT_EQUAL(r->valid, RULE_VALID_ONLY);
	CU_ASSERT_FALSE(r->bidirectional);
	CU_ASSERT_FALSE(r->latch);
	CU_ASSERT_FALSE(r->malformed);
	CU_ASSERT_EQUAL(r->acl, RULE_ACL_ANY);
	CU_ASSERT_FALSE(r->disabled);
	CU_ASSERT_STRING_EQUAL(r->msg, "SpO2 below 85%");
	CU_ASSERT_PTR_NULL(r->metadata);
	CU_ASSERT_PTR_NULL(r->classtype);
	CU_ASSERT_STRING_EQUAL(r->file, "t.rules");
	CU_ASSERT_EQUAL(r->line, 5);
	CU_ASSERT_EQUAL(rule_int_of(&l, 0)->col, 1);
	CU_ASSERT_STRING_EQUAL(r->text, RULE);
	CU_ASSERT_EQUAL(r->n_metrics, 1);
	CU_ASSERT_EQUAL(r->metric[0], SPO2);
	CU_ASSERT_EQUAL(r->value_cmp, RULE_CMP_LT);
	CU_ASSERT_DOUBLE_EQUAL(r->value_a, 85.0, 0);
	CU_ASSERT_EQUAL(r->delay_ms, 15000);
	CU_ASSERT_EQUAL(r->n_patterns, 0);
	CU_ASSERT_EQUAL(r->index, 0);
	CU_ASSERT_EQUAL(r->loc_part, RULE_LOC_NONE);
	CU_ASSERT_EQUAL(r->dsize_cmp, RULE_CMP_NONE);
	CU_ASSERT_EQUAL(r->threshold.type, RULE_THRESHOLD_NONE);
	CU_ASSERT_EQUAL(r->escalate.after_ms, 0);
	CU_ASSERT_PTR_EQUAL(rule_set_find(l.set, 1000101), r);
	CU_ASSERT_EQUAL(l.d.n, 0);
	info = rule_set_info(l.set);
	CU_ASSERT_EQUAL(info->n_rules, 1);
	CU_ASSERT_EQUAL(info->n_metric_rules, 1);
	CU_ASSERT_EQUAL(info->by_action[RULE_ACTION_ALERT], 1);
	CU_ASSERT_EQUAL(info->by_priority[RULE_PRIO_HIGH], 1);
	CU_ASSERT(info->parse_ns > 0);
out:
	unload(&l);
#undef RULE
}

static void
test_header(void)
{
	struct loaded l;
	const struct rule *r;

	r = LOAD_ONE("log vtp any any <> any any (sid:1;)", &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->action, RULE_ACTION_LOG);
		CU_ASSERT_EQUAL(r->proto, RULE_PROTO_VTP);
		CU_ASSERT_TRUE(r->bidirectional);
		CU_ASSERT_TRUE(rule_int_of(&l, 0)->hdr.bidirectional);
		CU_ASSERT_EQUAL(rule_int_of(&l, 0)->hdr.proto, RULE_PROTO_VTP);
		CU_ASSERT_EQUAL(r->priority, RULE_PRIO_NONE);
		CU_ASSERT_EQUAL(r->kind, RULE_KIND_TECHNICAL);
		CU_ASSERT_EQUAL(r->rev, 1);
		CU_ASSERT_STRING_EQUAL(r->msg, "");
	}
	unload(&l);
	r = LOAD_ONE("  pass udp any any -> any any(sid:2;)  ", &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->action, RULE_ACTION_PASS);
		CU_ASSERT_EQUAL(r->proto, RULE_PROTO_UDP);
		CU_ASSERT_EQUAL(rule_int_of(&l, 0)->col, 3);
		CU_ASSERT_STRING_EQUAL(r->text, "pass udp any any -> any any(sid:2;)");
	}
	unload(&l);
	r = LOAD_ONE("alert any any any -> any any (priority:low; sid:3;)\r\n", &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->proto, RULE_PROTO_ANY);
		CU_ASSERT_STRING_EQUAL(r->text,
				       "alert any any any -> any any (priority:low; sid:3;)");
	}
	unload(&l);
}

static void
test_header_errors(void)
{
	EXPECT_ERROR("@drop hl7 any any -> any any (sid:1;)", "action \"drop\" is Suricata's");
	EXPECT_ERROR(
		"@alrt hl7 any any -> any any (sid:1;)",
		"unknown action \"alrt\": a line is a rule (alert, log, pass), var or include; "
		"did you mean \"alert\"?");
	EXPECT_ERROR("@foo", "unknown action \"foo\"");
	EXPECT_ERROR("alert @tcp any any -> any any (sid:1;)",
		     "unknown protocol \"tcp\"; expected hl7, vtp, udp or any");
	EXPECT_ERROR("alert hl7 any any @<- any any (sid:1;)",
		     "expected \"->\" or \"<>\" between source and destination, found \"<-\"");
	EXPECT_ERROR("alert hl7 any any -> any @(sid:1;)",
		     "missing destination port: a rule is ACTION PROTO SRC SPORT -> DST DPORT");
	EXPECT_ERROR("alert @", "missing protocol");
	EXPECT_ERROR("alert hl7 any @", "missing source port");
	EXPECT_ERROR("alert hl7 any any -> any any @", "expected '(' to start the options");
	EXPECT_ERROR("alert hl7 any any -> any any @sid:1;", "expected '(' to start the options");
	EXPECT_ERROR("alert hl7 @[1.2.3.4, 5.6.7.8 any -> any any (sid:1;)", "unclosed '['");
	EXPECT_ERROR(H "priority:low; sid:1; @", "the rule does not end with ')'");
	EXPECT_ERROR(H "priority:low; sid:1@)", "missing ';' after the last option");
	EXPECT_ERROR(H "priority:low; sid:1;) @x", "unexpected text after the closing ')'");
	EXPECT_ERROR(H "msg:@\"abc; sid:1;)", "unterminated string: the closing quote is missing");
	EXPECT_ERROR(H "priority:low; @; sid:1;)", "empty option (a stray ';'?)");
	EXPECT_ERROR(H "@\"x\"; sid:1;)", "expected an option keyword");
	EXPECT_ERROR(H "sid @1;)", "expected ':' or ';' after \"sid\"");
	EXPECT_ERROR("@alert hl7 any any -> any any (priority:low;)", "the rule has no sid");
	EXPECT_ERROR("@alert hl7 any any -> any any (sid:1;)",
		     "alert rule needs a priority: high, medium or low");
}

/* A NUL byte (a binary file given as rules) is reported, not read past. */
static void
test_nul_byte(void)
{
	static const char text[] = "alert hl7 any any -> any any (sid:1;\0)\n";
	struct rule_source src = {.name = "t.rules", .text = text, .len = sizeof(text) - 1};
	struct rule_load_opts o = {.sources = &src, .n_sources = 1, .no_compile = true};
	struct rule_set *set = NULL;
	struct rule_diags d = {0};

	CU_ASSERT_EQUAL(rule_set_load(&o, &set, &d), -EINVAL);
	CU_ASSERT_PTR_NULL(set);
	CU_ASSERT_EQUAL_FATAL(d.n, 1);
	CU_ASSERT_STRING_EQUAL(d.d[0].msg, "NUL byte in a rule file");
	CU_ASSERT_EQUAL(d.d[0].line, 1);
	CU_ASSERT_EQUAL(d.d[0].col, 37);
	rule_diags_free(&d);
}

/* ======================================================================== */
/* Options: msg, sid, rev, priority, kind, metadata, classtype, reference   */
/* ======================================================================== */

static void
test_basic_options(void)
{
	struct loaded l;
	const struct rule *r;

	r = LOAD_ONE(H "msg:\"a \\\"b\\\"; c\\\\d\"; sid:4294967295; rev:0; priority:medium; "
		       "kind:advisory; metadata:created 2024, by x; metadata: team icu ; "
		       "classtype:attempted-recon; reference:url,example.org; "
		       "reference:cve,2024-1;)",
		     &l);
	if (r != NULL) {
		CU_ASSERT_STRING_EQUAL(r->msg, "a \"b\"; c\\d");
		CU_ASSERT_EQUAL(r->sid, 4294967295u);
		CU_ASSERT_EQUAL(r->rev, 0);
		CU_ASSERT_EQUAL(r->priority, RULE_PRIO_MEDIUM);
		CU_ASSERT_EQUAL(r->kind, RULE_KIND_ADVISORY);
		CU_ASSERT_STRING_EQUAL(r->metadata, "created 2024, by x, team icu");
		CU_ASSERT_STRING_EQUAL(r->classtype, "attempted-recon");
	}
	unload(&l);
	r = LOAD_ONE(H "priority:low; kind:technical; metric:HR; sid:1;)", &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->priority, RULE_PRIO_LOW);
		CU_ASSERT_EQUAL(r->kind, RULE_KIND_TECHNICAL);
	}
	unload(&l);
	r = LOAD_ONE(H "kind:physiological; priority:high; sid:1;)", &l);
	if (r != NULL)
		CU_ASSERT_EQUAL(r->kind, RULE_KIND_PHYSIOLOGICAL);
	unload(&l);
}

static void
test_basic_option_errors(void)
{
	EXPECT_ERROR(H "msg:@x; sid:1;)", "msg must be a quoted string: msg:\"...\"");
	EXPECT_ERROR(H "msg:\"a@\\n\"; sid:1;)", "invalid escape in msg: only \\\", \\; and \\\\");
	EXPECT_ERROR(H "msg:\"a\"@b; sid:1;)", "unexpected text after the closing quote");
	EXPECT_ERROR(H "priority:low; sid:@0;)", "sid must be a number from 1 to 4294967295");
	EXPECT_ERROR(H "priority:low; sid:@4294967296;)", "sid must be a number");
	EXPECT_ERROR(H "priority:low; sid:@-1;)", "sid must be a number");
	EXPECT_ERROR(H "priority:low; sid:1; rev:@x;)",
		     "rev must be a number from 0 to 4294967295");
	EXPECT_ERROR(H "priority:@1; sid:1;)",
		     "numeric priority \"1\" is Suricata's: use high, medium or low");
	EXPECT_ERROR(H "priority:@hihg; sid:1;)",
		     "unknown priority \"hihg\"; expected high, medium or low; did you mean "
		     "\"high\"?");
	EXPECT_ERROR(H "priority:low; kind:@bogus; sid:1;)",
		     "unknown kind \"bogus\"; expected physiological, technical or advisory");
	EXPECT_ERROR(H "@priorty:high; sid:1;)", "unknown keyword \"priorty\"; did you mean "
						 "\"priority\"?");
	EXPECT_ERROR(H "@zzzzzz:1; sid:1;)", "unknown keyword \"zzzzzz\"");
	EXPECT_ERROR(H "@Msg:\"x\"; sid:1;)", "unknown keyword \"Msg\"; did you mean \"msg\"?");
	EXPECT_ERROR(H "content:\"a\"; @distance:2; sid:1;)",
		     "Suricata keyword \"distance\" is not supported");
	EXPECT_ERROR(H "@http.uri; sid:1;)", "Suricata keyword \"http.uri\" is not supported");
	EXPECT_ERROR(H "@flow:established; sid:1;)", "Suricata keyword \"flow\"");
	EXPECT_ERROR(H "@sid; priority:low;)", "\"sid\" needs a value");
	EXPECT_ERROR(H "sid:1; priority:low; latch@:yes;)", "\"latch\" takes no value");
	EXPECT_ERROR(H "sid:1; priority:low; @priority:high;)", "\"priority\" is given twice");
	EXPECT_ERROR(H "sid:1; priority:low; msg:\"a\"; @msg:\"b\";)", "\"msg\" is given twice");
}

/* The second of a repeated option is the error; a note points at the first. */
static void
test_repeated_option_note(void)
{
	struct loaded l;

	load(H "sid:1; priority:low; priority:high;)", &l);
	CU_ASSERT_EQUAL(l.ret, -EINVAL);
	CU_ASSERT_EQUAL_FATAL(l.d.n, 2);
	CU_ASSERT_EQUAL(l.d.d[0].col, 52);
	CU_ASSERT_EQUAL(l.d.d[1].severity, RULE_DIAG_NOTE);
	CU_ASSERT_STRING_EQUAL(l.d.d[1].msg, "\"priority\" first given here");
	CU_ASSERT_EQUAL(l.d.d[1].line, 1);
	CU_ASSERT_EQUAL(l.d.d[1].col, 38);
	unload(&l);
}

/* ======================================================================== */
/* content, nocase, offset, depth, pcre                                     */
/* ======================================================================== */

static const struct rule_pattern *
pattern(const struct loaded *l, unsigned rule, unsigned k)
{
	const struct rule_int *ri = rule_int_of(l, rule);

	CU_ASSERT_FATAL(k < ri->pub.n_patterns);
	return &l->set->patterns[ri->first_pattern + k];
}

static void
test_content(void)
{
	struct loaded l;
	const struct rule *r;
	const struct rule_pattern *p;

	r = LOAD_ONE(H "content:\"MDC_EVT|0D 0a|x\\\"\\;\\\\\\|\"; priority:high; sid:1;)", &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->n_patterns, 1);
		p = pattern(&l, 0, 0);
		CU_ASSERT_STRING_EQUAL(p->expr, "MDC\\x5fEVT\\x0d\\x0ax\\x22\\x3b\\x5c\\x7c");
		CU_ASSERT_EQUAL(p->flags, HS_FLAG_SINGLEMATCH);
		CU_ASSERT_EQUAL(p->min_offset, 0);
		CU_ASSERT_EQUAL(p->max_offset, 0);
		CU_ASSERT_FALSE(p->is_pcre);
		CU_ASSERT_EQUAL(p->rule, 0);
		CU_ASSERT_EQUAL(p->line, 1);
		CU_ASSERT_EQUAL(p->col, 39);
		CU_ASSERT_STRING_EQUAL(p->shown, "content:\"MDC_EVT|0D 0a|x\\\"\\;\\\\\\|\"");
	}
	unload(&l);

	/* Modifiers apply to the content just before them, in any order. */
	r = LOAD_ONE(H "content:\"ASYST\"; depth:20; nocase; offset:4; content:\"|00|\"; "
		       "offset:0; content:\"b\"; depth:1; priority:high; sid:1;)",
		     &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->n_patterns, 3);
		p = pattern(&l, 0, 0);
		CU_ASSERT_STRING_EQUAL(p->expr, "ASYST");
		CU_ASSERT_EQUAL(p->flags, HS_FLAG_SINGLEMATCH | HS_FLAG_CASELESS);
		CU_ASSERT_EQUAL(p->min_offset, 4 + 5);
		CU_ASSERT_EQUAL(p->max_offset, 4 + 20);
		CU_ASSERT_STRING_EQUAL(p->shown, "content:\"ASYST\"; depth:20; nocase; offset:4");
		p = pattern(&l, 0, 1);
		CU_ASSERT_STRING_EQUAL(p->expr, "\\x00");
		CU_ASSERT_EQUAL(p->flags, HS_FLAG_SINGLEMATCH);
		CU_ASSERT_EQUAL(p->min_offset, 1); /* offset:0 is given: 0 + 1 byte */
		CU_ASSERT_EQUAL(p->max_offset, 0);
		p = pattern(&l, 0, 2);
		CU_ASSERT_EQUAL(p->min_offset, 0);
		CU_ASSERT_EQUAL(p->max_offset, 1);
		CU_ASSERT_EQUAL(r->kind, RULE_KIND_TECHNICAL);
	}
	unload(&l);
}

static void
test_content_errors(void)
{
	EXPECT_ERROR(H "content:@!\"x\"; sid:1;)", "negated content is not supported");
	EXPECT_ERROR(H "content:@x; sid:1;)", "content must be a quoted string: content:\"...\"");
	EXPECT_ERROR(H "content:@\"\"; sid:1;)", "empty content");
	EXPECT_ERROR(H "content:@\"||\"; sid:1;)", "empty content");
	EXPECT_ERROR(H "content:\"a|0D @0|\"; sid:1;)", "hex digits must come in pairs");
	EXPECT_ERROR(H "content:\"a|0D @zz|\"; sid:1;)",
		     "invalid character 'z' between '|': hex bytes only");
	EXPECT_ERROR(H "content:\"a@|0D\"; sid:1;)", "unclosed '|' in content");
	EXPECT_ERROR(H "content:\"a@\\x\"; sid:1;)",
		     "invalid escape in content: only \\\", \\;, \\\\ and \\|");
	EXPECT_ERROR(H "content:\"a\"@b; sid:1;)", "unexpected text after the closing quote");
	EXPECT_ERROR(H "@nocase; content:\"a\"; sid:1;)",
		     "\"nocase\" must follow a content (it modifies the content just before it)");
	EXPECT_ERROR(H "content:\"a\"; pcre:\"/b/\"; @depth:3; sid:1;)",
		     "\"depth\" must follow a content");
	EXPECT_ERROR(H "@offset:3; sid:1;)", "\"offset\" must follow a content");
	EXPECT_ERROR(H "content:\"a\"; nocase; @nocase; sid:1;)",
		     "\"nocase\" is given twice for the same content");
	EXPECT_ERROR(H "content:\"a\"; offset:1; @offset:2; sid:1;)",
		     "\"offset\" is given twice for the same content");
	EXPECT_ERROR(H "content:\"a\"; depth:1; @depth:2; sid:1;)",
		     "\"depth\" is given twice for the same content");
	EXPECT_ERROR(H "content:\"a\"; offset:@65536; sid:1;)",
		     "offset must be a number from 0 to 65535");
	EXPECT_ERROR(H "content:\"a\"; depth:@0; sid:1;)",
		     "depth must be a number from 1 to 65535");
	EXPECT_ERROR(H "content:\"abcd\"; depth:@3; sid:1;)",
		     "depth 3 is shorter than the content (4 bytes)");
	EXPECT_ERROR(H "content:\"a\"; content:\"a\"; content:\"a\"; content:\"a\"; "
		       "content:\"a\"; content:\"a\"; content:\"a\"; content:\"a\"; "
		       "content:\"a\"; content:\"a\"; content:\"a\"; content:\"a\"; "
		       "content:\"a\"; content:\"a\"; content:\"a\"; pcre:\"/a/\"; "
		       "@content:\"a\"; sid:1;)",
		     "too many content and pcre options: at most 16 per rule");
}

static void
test_pcre(void)
{
	struct loaded l;
	const struct rule *r;
	const struct rule_pattern *p;

	r = LOAD_ONE(H "pcre:\"/OBX\\|[0-9]+\\|NM;x/ism\"; pcre:\"/a\\/b/\"; content:\"c\"; "
		       "priority:low; sid:1;)",
		     &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->n_patterns, 3);
		p = pattern(&l, 0, 0);
		CU_ASSERT_STRING_EQUAL(p->expr, "OBX\\|[0-9]+\\|NM;x");
		CU_ASSERT_EQUAL(p->flags, HS_FLAG_SINGLEMATCH | HS_FLAG_CASELESS | HS_FLAG_DOTALL |
						  HS_FLAG_MULTILINE);
		CU_ASSERT_TRUE(p->is_pcre);
		CU_ASSERT_EQUAL(p->col, 36);
		CU_ASSERT_STRING_EQUAL(p->shown, "pcre:\"/OBX\\|[0-9]+\\|NM;x/ism\"");
		p = pattern(&l, 0, 1);
		CU_ASSERT_STRING_EQUAL(p->expr, "a\\/b");
		CU_ASSERT_EQUAL(p->flags, HS_FLAG_SINGLEMATCH);
		CU_ASSERT_FALSE(pattern(&l, 0, 2)->is_pcre);
	}
	unload(&l);
}

static void
test_pcre_errors(void)
{
	EXPECT_ERROR(H "pcre:@/a/; sid:1;)", "pcre must be a quoted string: pcre:\"/regex/flags\"");
	EXPECT_ERROR(H "pcre:\"@a/\"; sid:1;)", "pcre must be \"/regex/flags\"");
	EXPECT_ERROR(H "pcre:\"@/abc\"; sid:1;)", "the closing '/' is missing");
	EXPECT_ERROR(H "pcre:\"/a/i@R\"; sid:1;)",
		     "pcre flag 'R' is Suricata's and is not supported");
	EXPECT_ERROR(H "pcre:\"/a/@x\"; sid:1;)", "pcre flag 'x' is not supported: use i, s or m");
	EXPECT_ERROR(H "pcre:\"@//\"; sid:1;)", "empty pcre");
	/* Hyperscan's "at index 3" is the regex's fourth character. */
	EXPECT_ERROR(H "pcre:\"/ab@(c/\"; sid:1;)", "invalid pcre: Missing close parenthesis");
	EXPECT_ERROR(H "pcre:\"/abc@)/\"; sid:1;)", "invalid pcre: Unmatched parentheses");
	EXPECT_ERROR(H "pcre:@\"/(a)\\1/\"; sid:1;)", "invalid pcre: Back-references");
	EXPECT_ERROR(H "pcre:@\"/x*/\"; sid:1;)",
		     "pcre can match an empty string: it would match every message");
	EXPECT_ERROR(H "pcre:\"/a/\"; @nocase; sid:2;)", "\"nocase\" must follow a content");
}

/* ======================================================================== */
/* metric, value, location                                                  */
/* ======================================================================== */

static void
test_metric(void)
{
	static const struct {
		const char *item;
		uint32_t code;
	} forms[] = {
		{"SPO2", SPO2},
		{"spo2", SPO2},
		{"MDC_PULS_OXIM_SAT_O2", SPO2},
		{"150456", SPO2},
		{"59408-5", SPO2},
		{"8867-4", HR},
		{"MDC_ECG_CARD_BEAT_RATE", HR},
		{"mdc_ecg_heart_rate", HR},
	};
	struct loaded l;
	const struct rule *r;
	char text[256];

	for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
		snprintf(text, sizeof(text), H "metric: %s ; priority:low; sid:1;)", forms[i].item);
		r = LOAD_ONE(text, &l);
		if (r != NULL) {
			CU_ASSERT_EQUAL(r->n_metrics, 1);
			CU_ASSERT_EQUAL(r->metric[0], forms[i].code);
			CU_ASSERT_EQUAL(r->kind, RULE_KIND_PHYSIOLOGICAL);
		}
		unload(&l);
	}
	r = LOAD_ONE(H "metric:HR, PULSE,149546 ; priority:low; sid:1;)", &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->n_metrics, 3);
		CU_ASSERT_EQUAL(r->metric[0], HR);
		CU_ASSERT_EQUAL(r->metric[1], PULSE);
		CU_ASSERT_EQUAL(r->metric[2], 149546);
	}
	unload(&l);
}

static void
test_metric_errors(void)
{
	EXPECT_ERROR(H "metric:HR, @SPO3; sid:1;)",
		     "unknown metric \"SPO3\"; did you mean \"SPO2\"?");
	EXPECT_ERROR(H "metric:@MDC_PULS_OXIM_SAT_02; sid:1;)",
		     "unknown metric \"MDC_PULS_OXIM_SAT_02\"; did you mean "
		     "\"MDC_PULS_OXIM_SAT_O2\"?");
	EXPECT_ERROR(H "metric:@150457; sid:1;)",
		     "metric code 150457 is not in the table of metrics");
	EXPECT_ERROR(H "metric:@99999-9; sid:1;)", "unknown metric \"99999-9\"");
	EXPECT_ERROR(H "metric:HR,@; sid:1;)", "empty metric name");
	EXPECT_ERROR(H "metric:HR, @147842; sid:1;)", "metric \"147842\" is listed twice");
	EXPECT_ERROR(H "metric:HR, @SPO2; sid:1;)",
		     "metric SPO2 is measured in % (MDC_DIM_PERCENT) but HR in /min "
		     "(MDC_DIM_BEAT_PER_MIN): a rule's metrics must share one unit");
	/* Beats and breaths per minute are both "/min", but not the same unit. */
	EXPECT_ERROR(H "metric:HR, @RR; sid:1;)", "must share one unit");
}

static void
expect_value(int caller, const char *v, uint8_t cmp, double a, double b)
{
	struct loaded l;
	char text[256];
	const struct rule *r;

	snprintf(text, sizeof(text), H "metric:SPO2; value:%s; priority:low; sid:1;)", v);
	r = load_one(text, &l, caller);
	if (r != NULL) {
		bool ok = r->value_cmp == cmp && r->value_a == a && r->value_b == b;

		if (!ok)
			fprintf(stderr, "\n  (test line %d) value:%s gave %u %g %g\n", caller, v,
				r->value_cmp, r->value_a, r->value_b);
		CU_ASSERT(ok);
	}
	unload(&l);
}

#define EXPECT_VALUE(v, cmp, a, b) expect_value(__LINE__, (v), (cmp), (a), (b))

static void
test_value(void)
{
	EXPECT_VALUE("<85", RULE_CMP_LT, 85, 0);
	EXPECT_VALUE("<= 85.5", RULE_CMP_LE, 85.5, 0);
	EXPECT_VALUE(">-3", RULE_CMP_GT, -3, 0);
	EXPECT_VALUE(">=+0.25", RULE_CMP_GE, 0.25, 0);
	EXPECT_VALUE("==100", RULE_CMP_EQ, 100, 0);
	EXPECT_VALUE("!=0", RULE_CMP_NE, 0, 0);
	EXPECT_VALUE("90..100", RULE_CMP_RANGE, 90, 100);
	EXPECT_VALUE("-1.5 .. 2", RULE_CMP_RANGE, -1.5, 2);
	EXPECT_VALUE("90..90", RULE_CMP_RANGE, 90, 90);
	EXPECT_VALUE("outside 40..120", RULE_CMP_OUTSIDE, 40, 120);
	EXPECT_VALUE("outside\t-5..5", RULE_CMP_OUTSIDE, -5, 5);
}

static void
test_value_errors(void)
{
	EXPECT_ERROR(H "metric:HR; value:@90..80; sid:1;)",
		     "empty range 90..80: the first bound is above the second");
	EXPECT_ERROR(H "metric:HR; value:outside @90..80; sid:1;)", "empty range 90..80");
	EXPECT_ERROR(
		H "metric:HR; value:@85; sid:1;)",
		"invalid value \"85\": value:<N, <=N, >N, >=N, ==N, !=N, a..b or outside a..b");
	EXPECT_ERROR(H "metric:HR; value:<@1e3; sid:1;)", "invalid number \"1e3\" in value");
	EXPECT_ERROR(H "metric:HR; value:<@nan; sid:1;)", "invalid number \"nan\" in value");
	EXPECT_ERROR(H "metric:HR; value:>= @5.; sid:1;)", "invalid number \"5.\" in value");
	EXPECT_ERROR(H "metric:HR; value:@.5..1; sid:1;)", "invalid number \".5\" in value");
	EXPECT_ERROR(H "metric:HR; value:1..@x; sid:1;)", "invalid number \"x\" in value");
	EXPECT_ERROR(H "metric:HR; value:outside @5; sid:1;)",
		     "outside needs a range: outside a..b");
}

static void
test_location(void)
{
	static const struct {
		const char *v;
		uint8_t part;
		const char *glob;
	} forms[] = {
		{"ICU*", RULE_LOC_WARD, "ICU*"},
		{"ward 4?", RULE_LOC_WARD, "4?"},
		{"room 12", RULE_LOC_ROOM, "12"},
		{"bed  B*", RULE_LOC_BED, "B*"},
		{"facility St Mary's", RULE_LOC_FACILITY, "St Mary's"},
		{"\"ICU 2\"", RULE_LOC_WARD, "ICU 2"},
		{"room \"A \\\"1\\\"\"", RULE_LOC_ROOM, "A \"1\""},
	};
	struct loaded l;
	char text[256];
	const struct rule *r;

	for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
		snprintf(text, sizeof(text), H "metric:HR; location:%s; priority:low; sid:1;)",
			 forms[i].v);
		r = LOAD_ONE(text, &l);
		if (r != NULL) {
			CU_ASSERT_EQUAL(r->loc_part, forms[i].part);
			CU_ASSERT_STRING_EQUAL(r->loc_glob, forms[i].glob);
		}
		unload(&l);
	}
	EXPECT_ERROR(H "metric:HR; location:@rom 12; sid:1;)",
		     "unknown location part \"rom\"; expected ward, room, bed or facility; did you "
		     "mean \"room\"?");
	EXPECT_ERROR(H "metric:HR; location:bed @\"\"; sid:1;)", "empty location");
	EXPECT_ERROR(H "metric:HR; location:@a\x01b; sid:1;)", "control character in location");
}

/* ======================================================================== */
/* delay, latch, threshold, escalate, valid, dsize, malformed               */
/* ======================================================================== */

static void
expect_delay(int caller, const char *v, uint32_t ms)
{
	struct loaded l;
	char text[256];
	const struct rule *r;

	snprintf(text, sizeof(text), H "delay:%s; priority:low; sid:1;)", v);
	r = load_one(text, &l, caller);
	if (r != NULL)
		CU_ASSERT_EQUAL(r->delay_ms, ms);
	unload(&l);
}

static void
test_durations(void)
{
	expect_delay(__LINE__, "15s", 15000);
	expect_delay(__LINE__, "2m", 120000);
	expect_delay(__LINE__, "500ms", 500);
	expect_delay(__LINE__, "1h", 3600000);
	expect_delay(__LINE__, "30", 30000);
	expect_delay(__LINE__, "0", 0);
	expect_delay(__LINE__, "24h", 86400000);
	expect_delay(__LINE__, "86400s", 86400000);
	EXPECT_ERROR(H "delay:@25h; sid:1;)", "delay is too long: at most 24h");
	EXPECT_ERROR(H "delay:@86400001ms; sid:1;)", "delay is too long");
	EXPECT_ERROR(H "delay:@15 s; sid:1;)",
		     "invalid duration \"15 s\" in delay: a number with ms, s, m or h (500ms, 15s, "
		     "2m, 1h)");
	EXPECT_ERROR(H "delay:@1.5s; sid:1;)", "invalid duration \"1.5s\"");
	EXPECT_ERROR(H "delay:@-1s; sid:1;)", "invalid duration");
	EXPECT_ERROR(H "delay:@99999999999; sid:1;)", "invalid duration");
	EXPECT_ERROR(H "delay:@s; sid:1;)", "invalid duration");
}

static void
test_flags_and_valid(void)
{
	struct loaded l;
	const struct rule *r;

	r = LOAD_ONE(H "latch; malformed; valid:test; priority:low; sid:1;)", &l);
	if (r != NULL) {
		CU_ASSERT_TRUE(r->latch);
		CU_ASSERT_TRUE(r->malformed);
		CU_ASSERT_EQUAL(r->valid, RULE_VALID_TEST);
	}
	unload(&l);
	r = LOAD_ONE(H "valid:any; priority:low; sid:1;)", &l);
	if (r != NULL)
		CU_ASSERT_EQUAL(r->valid, RULE_VALID_ANY);
	unload(&l);
	r = LOAD_ONE(H "valid:only; priority:low; sid:1;)", &l);
	if (r != NULL)
		CU_ASSERT_EQUAL(r->valid, RULE_VALID_ONLY);
	unload(&l);
	EXPECT_ERROR(H "valid:@tset; sid:1;)",
		     "unknown valid value \"tset\"; expected only, test or any; did you mean "
		     "\"test\"?");
	EXPECT_ERROR(H "valid:@all; sid:1;)", "unknown valid value \"all\"");
}

/* acl:denied, acl:allowed; nothing else, once, with a value. */
static void
test_acl(void)
{
	struct loaded l;
	const struct rule *r;

	r = LOAD_ONE("alert udp any any -> any any (acl:denied; kind:technical; priority:medium; "
		     "sid:1;)",
		     &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->acl, RULE_ACL_DENIED);
		CU_ASSERT_FALSE(r->disabled);
	}
	unload(&l);
	r = LOAD_ONE(H "acl: allowed ; content:\"ORU\"; priority:low; sid:1;)", &l);
	if (r != NULL)
		CU_ASSERT_EQUAL(r->acl, RULE_ACL_ALLOWED);
	unload(&l);
	/* with a metric: only allowed senders' observations (the default sees both) */
	r = LOAD_ONE(H "acl:allowed; metric:SPO2; value:<85; priority:high; sid:1;)", &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->acl, RULE_ACL_ALLOWED);
		CU_ASSERT_FALSE(r->disabled);
	}
	unload(&l);
	r = LOAD_ONE(H "priority:low; sid:1;)", &l);
	if (r != NULL)
		CU_ASSERT_EQUAL(r->acl, RULE_ACL_ANY);
	unload(&l);

	EXPECT_ERROR(H "acl:@denyed; sid:1;)",
		     "unknown acl value \"denyed\"; expected denied or allowed; did you mean "
		     "\"denied\"?");
	EXPECT_ERROR(H "acl:@alowed; sid:1;)", "did you mean \"allowed\"?");
	EXPECT_ERROR(H "acl:@any; sid:1;)",
		     "unknown acl value \"any\"; expected denied or allowed");
	EXPECT_ERROR(H "acl:@Denied; sid:1;)", "unknown acl value \"Denied\"");
	EXPECT_ERROR(H "acl:@denied,allowed; sid:1;)", "unknown acl value \"denied,allowed\"");
	EXPECT_ERROR(H "@acl; sid:1;)", "\"acl\" needs a value");
	EXPECT_ERROR(H "acl:@; sid:1;)", "\"acl\" needs a value");
	EXPECT_ERROR(H "acl:denied; @acl:allowed; sid:1;)", "\"acl\" is given twice");
	EXPECT_ERROR(H "@alc:denied; sid:1;)", "unknown keyword \"alc\"; did you mean \"acl\"?");

	/* A refused datagram is not decoded: with a metric or malformed it never fires. */
	EXPECT_WARNING(H "acl:denied; @metric:SPO2; priority:low; sid:1;)",
		       "rule can never fire: a datagram refused by telemetry.allow (acl:denied) is "
		       "not decoded, so it has no observations",
		       true);
	EXPECT_WARNING(H "acl:denied; @malformed; priority:low; sid:1;)",
		       "rule can never fire: a datagram refused by telemetry.allow (acl:denied) is "
		       "not decoded, so it is never malformed",
		       true);
	/* allowed with malformed is fine: an allowed sender's bad datagram */
	r = LOAD_ONE(H "acl:allowed; malformed; priority:low; sid:1;)", &l);
	if (r != NULL)
		CU_ASSERT_FALSE(r->disabled);
	unload(&l);
}

static void
test_threshold(void)
{
	struct loaded l;
	const struct rule *r;

	r = LOAD_ONE(H "threshold: type limit, track by_device, count 1, seconds 60; "
		       "priority:low; sid:1;)",
		     &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->threshold.type, RULE_THRESHOLD_LIMIT);
		CU_ASSERT_EQUAL(r->threshold.track, RULE_TRACK_DEVICE);
		CU_ASSERT_EQUAL(r->threshold.count, 1);
		CU_ASSERT_EQUAL(r->threshold.seconds, 60);
	}
	unload(&l);
	r = LOAD_ONE(H "threshold:seconds 5,count 3,track  by_bed,type threshold; priority:low; "
		       "sid:1;)",
		     &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->threshold.type, RULE_THRESHOLD_THRESHOLD);
		CU_ASSERT_EQUAL(r->threshold.track, RULE_TRACK_BED);
		CU_ASSERT_EQUAL(r->threshold.count, 3);
		CU_ASSERT_EQUAL(r->threshold.seconds, 5);
	}
	unload(&l);
	r = LOAD_ONE(H "threshold:type both,track by_rule,count 4294967295,seconds 1; "
		       "priority:low; sid:1;)",
		     &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->threshold.type, RULE_THRESHOLD_BOTH);
		CU_ASSERT_EQUAL(r->threshold.track, RULE_TRACK_RULE);
		CU_ASSERT_EQUAL(r->threshold.count, 4294967295u);
	}
	unload(&l);
}

static void
test_threshold_errors(void)
{
#define T "threshold:"
	EXPECT_ERROR(H T "type limit, track @by_src, count 1, seconds 60; sid:1;)",
		     "track by_src is Suricata's: use by_device");
	EXPECT_ERROR(H T "type limit, track @by_dst, count 1, seconds 60; sid:1;)",
		     "track by_dst is Suricata's: use by_device");
	EXPECT_ERROR(H T "type limit, track @by_devic, count 1, seconds 60; sid:1;)",
		     "unknown threshold track \"by_devic\"; expected by_device, by_bed or by_rule; "
		     "did you mean \"by_device\"?");
	EXPECT_ERROR(H T "type @limt, track by_rule, count 1, seconds 60; sid:1;)",
		     "unknown threshold type \"limt\"; expected limit, threshold or both; did you "
		     "mean \"limit\"?");
	EXPECT_ERROR(H T "type limit, track by_rule, @cnt 1, seconds 60; sid:1;)",
		     "unknown threshold part \"cnt\"; expected type, track, count or seconds");
	EXPECT_ERROR(H T "type limit, track by_rule, count 1, @count 2, seconds 60; sid:1;)",
		     "threshold's \"count\" is given twice");
	EXPECT_ERROR(H T "type limit, track by_rule, count @0, seconds 60; sid:1;)",
		     "threshold's count must be a number from 1 to 4294967295");
	EXPECT_ERROR(H T "type limit, track by_rule, count 1, seconds @x; sid:1;)",
		     "threshold's seconds must be a number");
	EXPECT_ERROR(H T "@type limit, track by_rule, count 1; sid:1;)",
		     "threshold needs type, track, count and seconds: \"seconds\" is missing");
	EXPECT_ERROR(H T "type limit, track by_rule, count@, seconds 1; sid:1;)",
		     "threshold's \"count\" needs a value");
	EXPECT_ERROR(H T "type limit,@, track by_rule; sid:1;)", "empty part in threshold");
#undef T
}

static void
test_escalate(void)
{
	struct loaded l;
	const struct rule *r;

	r = LOAD_ONE(H "escalate: 2m , high; priority:medium; sid:1;)", &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->escalate.after_ms, 120000);
		CU_ASSERT_EQUAL(r->escalate.priority, RULE_PRIO_HIGH);
	}
	unload(&l);
	r = LOAD_ONE("log hl7 any any -> any any (escalate:500ms,low; sid:1;)", &l);
	if (r != NULL) {
		CU_ASSERT_EQUAL(r->escalate.after_ms, 500);
		CU_ASSERT_EQUAL(r->escalate.priority, RULE_PRIO_LOW);
	}
	unload(&l);
	EXPECT_ERROR(H "escalate:2m,@medium; priority:high; sid:1;)",
		     "escalate must raise the priority: medium is not above the rule's high");
	EXPECT_ERROR(H "priority:high; escalate:2m,@high; sid:1;)",
		     "escalate must raise the priority: high is not above the rule's high");
	EXPECT_ERROR(H "escalate:@2m; priority:low; sid:1;)",
		     "escalate must be DURATION,PRIORITY (escalate:2m,high)");
	EXPECT_ERROR(H "escalate:@0s,high; priority:low; sid:1;)",
		     "escalate needs a delay above 0");
	EXPECT_ERROR(H "escalate:@2x,high; priority:low; sid:1;)",
		     "invalid duration \"2x\" in escalate");
	EXPECT_ERROR(H "escalate:2m,@2; priority:low; sid:1;)", "numeric priority \"2\"");
	EXPECT_ERROR(H "escalate:2m,@; priority:low; sid:1;)",
		     "escalate must be DURATION,PRIORITY");
}

static void
expect_dsize(int caller, const char *v, uint8_t cmp, uint32_t a, uint32_t b)
{
	struct loaded l;
	char text[256];
	const struct rule *r;

	snprintf(text, sizeof(text), H "dsize:%s; priority:low; sid:1;)", v);
	r = load_one(text, &l, caller);
	if (r != NULL) {
		bool ok = r->dsize_cmp == cmp && r->dsize_a == a && r->dsize_b == b;

		if (!ok)
			fprintf(stderr, "\n  (test line %d) dsize:%s gave %u %u %u\n", caller, v,
				r->dsize_cmp, r->dsize_a, r->dsize_b);
		CU_ASSERT(ok);
	}
	unload(&l);
}

#define EXPECT_DSIZE(v, cmp, a, b) expect_dsize(__LINE__, (v), (cmp), (a), (b))

static void
test_dsize(void)
{
	EXPECT_DSIZE(">1400", RULE_CMP_GT, 1400, 0);
	EXPECT_DSIZE("<10", RULE_CMP_LT, 10, 0);
	EXPECT_DSIZE(">=10", RULE_CMP_GE, 10, 0);
	EXPECT_DSIZE("<= 10", RULE_CMP_LE, 10, 0);
	EXPECT_DSIZE("!=0", RULE_CMP_NE, 0, 0);
	EXPECT_DSIZE("300", RULE_CMP_EQ, 300, 0);
	EXPECT_DSIZE("65535", RULE_CMP_EQ, 65535, 0);
	/* Suricata's N<>M is strictly between: the inclusive range N+1 .. M-1. */
	EXPECT_DSIZE("10<>20", RULE_CMP_RANGE, 11, 19);
	EXPECT_DSIZE("10 <> 12", RULE_CMP_RANGE, 11, 11);
	EXPECT_DSIZE("100..200", RULE_CMP_RANGE, 100, 200);
	EXPECT_DSIZE("outside 100..200", RULE_CMP_OUTSIDE, 100, 200);
	EXPECT_ERROR(H "dsize:@10<>11; sid:1;)",
		     "dsize 10<>11 matches nothing: no size is strictly between");
	EXPECT_ERROR(H "dsize:@20<>10; sid:1;)", "matches nothing");
	EXPECT_ERROR(H "dsize:@200..100; sid:1;)", "empty range 200..100");
	EXPECT_ERROR(H "dsize:@65536; sid:1;)", "dsize sizes are whole numbers from 0 to 65535");
	EXPECT_ERROR(H "dsize:@>1.5; sid:1;)", "dsize sizes are whole numbers");
	EXPECT_ERROR(H "dsize:@>-1; sid:1;)", "dsize sizes are whole numbers");
	EXPECT_ERROR(H "dsize:@big; sid:1;)",
		     "invalid dsize \"big\": dsize:>N, <N, >=N, <=N, !=N, N, N<>M, a..b or outside "
		     "a..b");
	EXPECT_ERROR(H "dsize:@x<>5; sid:1;)", "invalid number \"x\" in dsize");
	EXPECT_ERROR(H "dsize:@==5; sid:1;)", "invalid dsize \"==5\"");
}

/* ======================================================================== */
/* Several errors, max_errors, duplicate sids                               */
/* ======================================================================== */

static void
test_every_error_reported(void)
{
	static const char text[] =
		"alert hl7 any any -> any any (priorty:high; sid:1;)\n"
		"alert hl7 any any -> any any (priority:high; sid:2;)\n"
		"alert tcp any any -> any any (priority:high; sid:3;)\n"
		"alert hl7 any any -> any any (priority:high; sid:4; metric:X;)\n";
	struct loaded l;

	load(text, &l);
	CU_ASSERT_EQUAL(l.ret, -EINVAL);
	CU_ASSERT_PTR_NULL(l.set);
	CU_ASSERT_EQUAL(l.d.n_errors, 3);
	CU_ASSERT_EQUAL_FATAL(l.d.n, 3);
	CU_ASSERT_EQUAL(l.d.d[0].line, 1);
	CU_ASSERT_EQUAL(l.d.d[0].col, 31);
	CU_ASSERT_EQUAL(l.d.d[1].line, 3);
	CU_ASSERT_EQUAL(l.d.d[1].col, 7);
	CU_ASSERT_EQUAL(l.d.d[2].line, 4);
	CU_ASSERT_EQUAL(l.d.d[2].col, 60);
	CU_ASSERT_FALSE(l.d.truncated);
	unload(&l);
}

static void
test_max_errors(void)
{
	struct rule_load_opts o = {.max_errors = 3};
	struct loaded l;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;
	unsigned recorded = 0;

	load_opts("x1\nx2\nx3\nx4\nx5\nalert hl7 any any -> any any (priority:low; sid:1;)\n", &o,
		  &l);
	CU_ASSERT_EQUAL(l.ret, -EINVAL);
	CU_ASSERT_EQUAL(l.d.n_errors, 5);
	CU_ASSERT_TRUE(l.d.truncated);
	for (unsigned i = 0; i < l.d.n; i++)
		recorded += l.d.d[i].severity == RULE_DIAG_ERROR;
	CU_ASSERT_EQUAL(recorded, 3);
	CU_ASSERT_EQUAL(l.d.d[l.d.n - 1].line, 3);
	f = open_memstream(&out, &outlen);
	CU_ASSERT_FATAL(f != NULL);
	rule_diags_print(&l.d, f);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "too many errors"));
	CU_ASSERT_PTR_NULL(strstr(out, "x4"));
	free(out);
	unload(&l);

	/* 0 is the default, 20. */
	{
		struct rule_load_opts d = {0};
		char text[30 * 4];

		for (int i = 0; i < 30; i++)
			memcpy(text + i * 4, "xx\n\n", 4);
		text[sizeof(text) - 1] = '\0';
		load_opts(text, &d, &l);
		CU_ASSERT_EQUAL(l.d.n_errors, 30);
		CU_ASSERT_EQUAL(l.d.n, RULE_MAX_ERRORS_DEFAULT);
		CU_ASSERT_TRUE(l.d.truncated);
		unload(&l);
	}
}

/* The second sid is the error; the note points at the first rule's sid. */
static void
test_duplicate_sid(void)
{
	static const char text[] = "alert hl7 any any -> any any (priority:high; sid:7;)\n"
				   "log hl7 any any -> any any (msg:\"x\"; sid:8;)\n"
				   "log hl7 any any -> any any (msg:\"again\";\\\n"
				   "   sid:7;)\n";
	struct loaded l;

	load(text, &l);
	CU_ASSERT_EQUAL(l.ret, -EINVAL);
	CU_ASSERT_EQUAL_FATAL(l.d.n, 2);
	CU_ASSERT_EQUAL(l.d.d[0].severity, RULE_DIAG_ERROR);
	CU_ASSERT_STRING_EQUAL(l.d.d[0].msg, "duplicate sid 7");
	CU_ASSERT_EQUAL(l.d.d[0].line, 4);
	CU_ASSERT_EQUAL(l.d.d[0].col, 4);
	CU_ASSERT_STRING_EQUAL(l.d.d[0].source, "   sid:7;)");
	CU_ASSERT_EQUAL(l.d.d[1].severity, RULE_DIAG_NOTE);
	CU_ASSERT_STRING_EQUAL(l.d.d[1].msg, "sid 7 first used here");
	CU_ASSERT_STRING_EQUAL(l.d.d[1].file, "t.rules");
	CU_ASSERT_EQUAL(l.d.d[1].line, 1);
	CU_ASSERT_EQUAL(l.d.d[1].col, 46);
	unload(&l);

	/* Across two sources of one load. */
	{
		struct rule_source src[2] = {
			{"a.rules", "log hl7 any any -> any any (sid:9;)", 0},
			{"b.rules", "\nlog hl7 any any -> any any (sid:9;)", 0},
		};
		struct rule_load_opts o = {.sources = src, .n_sources = 2, .no_compile = true};
		struct rule_set *set = NULL;
		struct rule_diags d = {0};

		src[0].len = strlen(src[0].text);
		src[1].len = strlen(src[1].text);
		CU_ASSERT_EQUAL(rule_set_load(&o, &set, &d), -EINVAL);
		CU_ASSERT_EQUAL_FATAL(d.n, 2);
		CU_ASSERT_STRING_EQUAL(d.d[0].file, "b.rules");
		CU_ASSERT_EQUAL(d.d[0].line, 2);
		CU_ASSERT_STRING_EQUAL(d.d[1].file, "a.rules");
		CU_ASSERT_EQUAL(d.d[1].line, 1);
		CU_ASSERT_EQUAL(d.d[1].col, 29);
		rule_diags_free(&d);
	}
}

/* ======================================================================== */
/* Lines: comments, continuations, printing                                 */
/* ======================================================================== */

static void
test_continuation(void)
{
	static const char text[] = "log hl7 any any -> any any ( \\\n"
				   "\tmsg:\"a\"; \\\n"
				   "# not a comment here: it continues the rule\\\n"
				   "  sid:3;)\n"
				   "# a comment ends with a backslash, and joins nothing \\\n"
				   "log hl7 any any -> any any (sid:4;)\n";
	struct loaded l;

	load(text, &l);
	/* The "#" line belongs to the rule, so its words are an option error. */
	CU_ASSERT_EQUAL(l.ret, -EINVAL);
	CU_ASSERT_EQUAL_FATAL(l.d.n, 1);
	CU_ASSERT_EQUAL(l.d.d[0].line, 3);
	CU_ASSERT_EQUAL(l.d.d[0].col, 1);
	CU_ASSERT_STRING_EQUAL(l.d.d[0].source, "# not a comment here: it continues the rule\\");
	unload(&l);

	EXPECT_ERROR("log hl7 any any -> any any (msg:\"a\"; \\\n"
		     "\tsid:1; \\\n"
		     "    @priorty:low;)",
		     "unknown keyword \"priorty\"");
	EXPECT_ERROR("log hl7 any any -> \\\nany @x (sid:1;)", "invalid port \"x\"");

	{
		const struct rule *r = LOAD_ONE("log hl7 any any -> any any (msg:\"a\"; \\\n"
						"  sid:1;)\\",
						&l);

		if (r != NULL) {
			CU_ASSERT_STRING_EQUAL(r->text,
					       "log hl7 any any -> any any (msg:\"a\";   sid:1;)");
			CU_ASSERT_EQUAL(r->line, 1);
		}
		unload(&l);
	}
}

static void
test_diag_print(void)
{
	struct rule_diags d = {0};
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	CU_ASSERT_EQUAL(rule_diag_add(&d, 0, RULE_DIAG_ERROR, "a.rules", 3, 4, "\tab\tc", 5,
				      "bad %s", "thing"),
			0);
	CU_ASSERT_EQUAL(rule_diag_add(&d, 0, RULE_DIAG_WARNING, "a.rules", 4, 0, "whole", 5, "w"),
			0);
	CU_ASSERT_EQUAL(rule_diag_add(&d, 0, RULE_DIAG_NOTE, "b.rules", 1, 2, NULL, 0, "n"), 0);
	CU_ASSERT_EQUAL(rule_diag_add(&d, 0, RULE_DIAG_ERROR, "c.rules", 0, 0, NULL, 0, "gone"), 0);
	CU_ASSERT_EQUAL(d.n, 4);
	CU_ASSERT_EQUAL(d.n_errors, 2);
	CU_ASSERT_EQUAL(d.n_warnings, 1);
	f = open_memstream(&out, &outlen);
	CU_ASSERT_FATAL(f != NULL);
	rule_diags_print(&d, f);
	fclose(f);
	CU_ASSERT_STRING_EQUAL(out, "a.rules:3:4: error: bad thing\n"
				    " \tab\tc\n"
				    " \t  ^\n"
				    "a.rules:4:0: warning: w\n"
				    " whole\n"
				    "b.rules:1:2: note: n\n"
				    "c.rules: error: gone\n");
	free(out);
	rule_diags_free(&d);
	CU_ASSERT_EQUAL(d.n, 0);
	CU_ASSERT_PTR_NULL(d.d);

	/* Past max_errors: counted, not kept, and neither are their notes. */
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(rule_diag_add(&d, 2, RULE_DIAG_ERROR, "x", 1, 1, NULL, 0, "e%d", i),
				0);
		CU_ASSERT_EQUAL(rule_diag_add(&d, 2, RULE_DIAG_NOTE, "x", 1, 1, NULL, 0, "n%d", i),
				0);
	}
	CU_ASSERT_EQUAL(d.n_errors, 3);
	CU_ASSERT_EQUAL(d.n, 4);
	CU_ASSERT_TRUE(d.truncated);
	CU_ASSERT_STRING_EQUAL(d.d[3].msg, "n1");
	rule_diags_free(&d);
}

/* ======================================================================== */
/* Variables                                                                */
/* ======================================================================== */

static void
test_variables(void)
{
	struct rule_var cfg[] = {{"HOME_NET", "192.168.1.0/24"}, {"BAD", "300.1.1.1"}};
	struct rule_load_opts o = {.vars = cfg, .n_vars = 2};
	struct loaded l;
	char got[512];

	/* The config wins over a file's var of the same name, silently. */
	load_opts("var HOME_NET 10.0.0.0/8\n"
		  "var ICU $HOME_NET\n"
		  "var ALL [$ICU, !192.168.1.7]\n"
		  "log hl7 $ALL any -> any any (sid:1;)\n",
		  &o, &l);
	CU_ASSERT_EQUAL(l.ret, 0);
	CU_ASSERT_EQUAL(l.d.n, 0);
	if (l.set != NULL) {
		addr_text(&rule_int_of(&l, 0)->hdr.src, got, sizeof(got));
		CU_ASSERT_STRING_EQUAL(got, "192.168.1.0-192.168.1.6 192.168.1.8-192.168.1.255 |");
	}
	unload(&l);

	/* Hidden by the config or not, a second definition in files is an error. */
	load_opts("var HOME_NET 10.0.0.0/8\nvar  HOME_NET 10.0.0.0/8\n", &o, &l);
	CU_ASSERT_EQUAL(l.ret, -EINVAL);
	CU_ASSERT_EQUAL_FATAL(l.d.n, 2);
	CU_ASSERT_STRING_EQUAL(l.d.d[0].msg, "variable $HOME_NET is already defined");
	CU_ASSERT_EQUAL(l.d.d[0].line, 2);
	CU_ASSERT_EQUAL(l.d.d[0].col, 6);
	unload(&l);

	/* An error in a config variable is reported where the rule uses it. */
	o.vars = cfg;
	o.n_vars = 2;
	load_opts("log hl7 any any -> [1.2.3.4, $BAD] any (sid:1;)\n", &o, &l);
	CU_ASSERT_EQUAL(l.ret, -EINVAL);
	CU_ASSERT_EQUAL_FATAL(l.d.n, 1);
	CU_ASSERT_STRING_EQUAL(l.d.d[0].msg, "$BAD (config): invalid address \"300.1.1.1\"");
	CU_ASSERT_EQUAL(l.d.d[0].col, 30);
	unload(&l);

	EXPECT_ERROR("log hl7 @$NOPE any -> any any (sid:1;)", "undefined variable $NOPE");
	EXPECT_ERROR(
		"var A $B\nvar B [1.2.3.4, $A]\nlog hl7 any any -> [5.6.7.8, @$A] any (sid:1;)",
		"variable cycle: $A -> $B -> $A");
	EXPECT_ERROR("var A $A\nlog hl7 @$A any -> any any (sid:1;)", "variable cycle: $A -> $A");
	EXPECT_ERROR("var A 1.2.3.4\nvar @A 1.2.3.5\n", "variable $A is already defined");
	EXPECT_ERROR("var @9A 1.2.3.4\n", "invalid variable name \"9A\"");
	EXPECT_ERROR("var @$A 1.2.3.4\n", "write the variable's name without '$': var A");
	EXPECT_ERROR("var A@\n", "var needs a name and a value: var NAME VALUE");
	EXPECT_ERROR("log hl7 @$ any -> any any (sid:1;)", "invalid variable name \"$\"");
	EXPECT_ERROR("var P 80\nlog hl7 any any -> any @$P:90 (sid:1;)",
		     "invalid variable name \"$P:90\"");
	/* An error inside a file's variable: at the use, with a note at the definition. */
	EXPECT_ERROR("var NET 10.0.0.1/8\nvar NETS [$NET]\nlog hl7 @$NETS any -> any any (sid:1;)",
		     "$NETS -> $NET: 10.0.0.1/8 has host bits set: did you mean 10.0.0.0/8?");
	EXPECT_ERROR("var L 1.2.3.4, 5.6.7.8\nlog hl7 @$L any -> any any (sid:1;)",
		     "$L: a list needs brackets: [1.2.3.4, 5.6.7.8]");
	{
		struct loaded m;

		load("var A 1.2.3.4\nvar  A 1.2.3.5\n", &m);
		CU_ASSERT_EQUAL_FATAL(m.d.n, 2);
		CU_ASSERT_EQUAL(m.d.d[1].severity, RULE_DIAG_NOTE);
		CU_ASSERT_STRING_EQUAL(m.d.d[1].msg, "$A first defined here");
		CU_ASSERT_EQUAL(m.d.d[1].line, 1);
		CU_ASSERT_EQUAL(m.d.d[1].col, 5);
		unload(&m);
		load("var NET 10.0.0.1/8\nlog hl7 $NET any -> any any (sid:1;)", &m);
		CU_ASSERT_EQUAL_FATAL(m.d.n, 2);
		CU_ASSERT_STRING_EQUAL(m.d.d[1].msg, "$NET is defined here");
		CU_ASSERT_EQUAL(m.d.d[1].line, 1);
		CU_ASSERT_EQUAL(m.d.d[1].col, 5);
		unload(&m);
	}
}

/* A chain of 8 variables is fine, 9 is too deep, however it is reached. */
static void
test_variable_depth(void)
{
	char text[1024];
	size_t k = 0;
	struct loaded l;

	k += (size_t)snprintf(text + k, sizeof(text) - k, "var V1 2575\n");
	for (int i = 2; i <= 9; i++)
		k += (size_t)snprintf(text + k, sizeof(text) - k, "var V%d [$V%d]\n", i, i - 1);
	snprintf(text + k, sizeof(text) - k, "log hl7 any any -> any $V8 (sid:1;)\n");
	CU_ASSERT_PTR_NOT_NULL(LOAD_ONE(text, &l));
	unload(&l);
	snprintf(text + k, sizeof(text) - k, "log hl7 any any -> any $V9 (sid:1;)\n");
	load(text, &l);
	CU_ASSERT_EQUAL(l.ret, -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(find_diag(&l, RULE_DIAG_ERROR, "variables nested deeper than 8"));
	unload(&l);
	/* Resolved bottom-up first (memo), the top is still too deep. */
	snprintf(text + k, sizeof(text) - k,
		 "log hl7 any any -> any $V1 (sid:1;)\nlog hl7 any any -> any $V5 (sid:2;)\n"
		 "log hl7 any any -> any $V9 (sid:3;)\n");
	load(text, &l);
	CU_ASSERT_EQUAL(l.ret, -EINVAL);
	CU_ASSERT_EQUAL(l.d.n_errors, 1);
	CU_ASSERT_PTR_NOT_NULL(find_diag(&l, RULE_DIAG_ERROR, "variables nested deeper than 8"));
	unload(&l);
}

/* ======================================================================== */
/* Addresses and ports                                                      */
/* ======================================================================== */

static void
test_addresses(void)
{
	EXPECT_SRC("any", ANY);
	EXPECT_SRC("10.1.2.3", "10.1.2.3 |");
	EXPECT_SRC("10.0.0.0/8", "10.0.0.0-10.255.255.255 |");
	EXPECT_SRC("0.0.0.0/0", ANY4 " |");
	EXPECT_SRC("1.2.3.4/32", "1.2.3.4 |");
	EXPECT_SRC("fd00::/8", "| fd00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	EXPECT_SRC("::1", "| ::1");
	EXPECT_SRC("::/0", "| " ANY6);
	EXPECT_SRC(
		"[10.0.0.0/8, 192.168.1.1, fe80::/10]",
		"10.0.0.0-10.255.255.255 192.168.1.1 | fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:"
		"ffff");
	/* Overlapping and adjacent items merge. */
	EXPECT_SRC("[10.0.0.0/9, 10.128.0.0/9, 10.1.0.0/16]", "10.0.0.0-10.255.255.255 |");
	/* Positives minus negatives. */
	EXPECT_SRC("[10.0.0.0/8, !10.1.0.0/16]", "10.0.0.0-10.0.255.255 10.2.0.0-10.255.255.255 |");
	/* Only negations: everything (both families) minus them. */
	EXPECT_SRC("[!10.0.0.0/8, !fd00::/8]",
		   "0.0.0.0-9.255.255.255 11.0.0.0-255.255.255.255 | ::-fcff:ffff:ffff:ffff:ffff:"
		   "ffff:ffff:ffff fe00::-"
		   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	EXPECT_SRC("!1.2.3.4", "0.0.0.0-1.2.3.3 1.2.3.5-255.255.255.255 | " ANY6);
	/* A negated list is subtracted as a whole; nested lists. */
	EXPECT_SRC("[10.0.0.0/8, ![10.1.0.0/16, !10.1.2.0/24]]",
		   "10.0.0.0-10.0.255.255 10.1.2.0-10.1.2.255 10.2.0.0-10.255.255.255 |");
	EXPECT_SRC("[[[[[[[[1.1.1.1]]]]]]]]", "1.1.1.1 |");
	/* Variables inside lists, negated. */
	EXPECT_SRC("[$NETS, !10.0.0.0/9]",
		   "10.128.0.0-10.255.255.255 192.168.0.0-192.168.255.255 |");
	EXPECT_SRC("!$NET", "0.0.0.0-9.255.255.255 11.0.0.0-255.255.255.255 | " ANY6);
	EXPECT_SRC("[ any , !0.0.0.0/1 ]", "128.0.0.0-255.255.255.255 | " ANY6);
	EXPECT_SRC("!!1.2.3.4", "1.2.3.4 |");
}

static void
test_address_errors(void)
{
#define A(x) "alert hl7 " x " any -> any any (sid:1;)"
	EXPECT_ERROR(A("@10.0.0.1/8"), "10.0.0.1/8 has host bits set: did you mean 10.0.0.0/8?");
	EXPECT_ERROR(A("[1.1.1.1, @fd00::1/8]"),
		     "fd00::1/8 has host bits set: did you mean fd00::/8?");
	EXPECT_ERROR(A("@[1.2.3.4, !1.2.3.4]"), "address set is empty: everything is negated away");
	EXPECT_ERROR(A("@!any"), "address set is empty");
	EXPECT_ERROR(A("@10.0.0.256"), "invalid address \"10.0.0.256\"");
	EXPECT_ERROR(A("@010.0.0.1"), "invalid address \"010.0.0.1\"");
	EXPECT_ERROR(A("@fe80::1%eth0"), "invalid address");
	EXPECT_ERROR(A("10.0.0.0/@33"), "invalid prefix length \"/33\": 0 to 32");
	EXPECT_ERROR(A("fd00::/@129"), "invalid prefix length \"/129\": 0 to 128");
	EXPECT_ERROR(A("10.0.0.0/@"), "invalid prefix length");
	EXPECT_ERROR(A("@[]"), "empty list");
	EXPECT_ERROR(A("[1.1.1.1,@,2.2.2.2]"), "empty item in the list");
	EXPECT_ERROR(A("[1.1.1.1,@]"), "empty item in the list");
	EXPECT_ERROR(A("[1.1.1.1]@x"), "unexpected text after ']'");
	EXPECT_ERROR(A("@]"), "unexpected ']'");
	EXPECT_ERROR(A("[!@]"), "expected an address");
	EXPECT_ERROR(A("[[[[[[[[@[1.1.1.1]]]]]]]]]"), "lists nested deeper than 8");
	EXPECT_ERROR("alert hl7 @1.1.1.1,2.2.2.2 any -> any any (sid:1;)",
		     "a list needs brackets: [1.1.1.1,2.2.2.2]");
#undef A
}

static void
test_ports(void)
{
	EXPECT_DPORT("any", "0-65535");
	EXPECT_DPORT("2575", "2575");
	EXPECT_DPORT("0", "0");
	EXPECT_DPORT("1024:65535", "1024-65535");
	EXPECT_DPORT("1024:", "1024-65535");
	EXPECT_DPORT(":1023", "0-1023");
	EXPECT_DPORT("!2575", "0-2574 2576-65535");
	EXPECT_DPORT("[2575, 5000:5010, !5005]", "2575 5000-5004 5006-5010");
	EXPECT_DPORT("[!0, !65535]", "1-65534");
	EXPECT_DPORT("[$HL7, $HIGH, !$HL7]", "1024-2574 2576-65535");
	EXPECT_DPORT("[1:3,4:6]", "1-6");
#define P(x) "alert hl7 any any -> any " x " (sid:1;)"
	EXPECT_ERROR(P("@65536"), "port 65536 is out of range (0 to 65535)");
	EXPECT_ERROR(P("100:@70000"), "port 70000 is out of range (0 to 65535)");
	EXPECT_ERROR(P("@100:50"), "port range 100:50 is empty: 100 is above 50");
	EXPECT_ERROR(P("@http"), "invalid port \"http\"");
	EXPECT_ERROR(P("@:"), "invalid port \":\"");
	EXPECT_ERROR(P("1:@2:3"), "invalid port \"1:2:3\"");
	EXPECT_ERROR(P("@[0:65535, !any]"), "port set is empty: everything is negated away");
	EXPECT_ERROR(P("[1, @]"), "empty item in the list");
	EXPECT_ERROR(P("[1, !@]"), "expected a port");
#undef P
}

/* ======================================================================== */
/* Warnings                                                                 */
/* ======================================================================== */

static void
test_warnings(void)
{
	EXPECT_WARNING(H "@value:<5; priority:low; sid:1;)",
		       "rule can never fire: value without metric", true);
	EXPECT_WARNING(H "@location:ICU; priority:low; sid:1;)",
		       "rule can never fire: location without metric", true);
	EXPECT_WARNING("pass hl7 any any -> any any (@priority:high; sid:1;)",
		       "a pass rule's priority is ignored", false);
	EXPECT_WARNING("log hl7 any any -> any any (@delay:5s; sid:1;)",
		       "delay is ignored on a log rule", false);
	EXPECT_WARNING("pass hl7 any any -> any any (@delay:5s; sid:1;)",
		       "delay is ignored on a pass rule", false);
	{
		struct loaded l;

		load("pass hl7 any any -> any any (priority:high; delay:5s; sid:1;)\n"
		     "alert hl7 any any -> any any (priority:low; sid:2; value:1..2;)\n",
		     &l);
		CU_ASSERT_EQUAL(l.ret, 0);
		CU_ASSERT_EQUAL(l.d.n_warnings, 3);
		CU_ASSERT_EQUAL_FATAL(rule_set_count(l.set), 2);
		CU_ASSERT_EQUAL(rule_set_rule(l.set, 0)->priority, RULE_PRIO_NONE);
		CU_ASSERT_EQUAL(rule_set_rule(l.set, 0)->delay_ms, 0);
		CU_ASSERT_TRUE(rule_set_rule(l.set, 1)->disabled);
		CU_ASSERT_EQUAL(rule_set_info(l.set)->n_disabled, 1);
		CU_ASSERT_EQUAL(rule_set_info(l.set)->by_action[RULE_ACTION_PASS], 1);
		CU_ASSERT_EQUAL(rule_set_info(l.set)->by_priority[RULE_PRIO_NONE], 1);
		CU_ASSERT_EQUAL(rule_set_info(l.set)->by_priority[RULE_PRIO_LOW], 1);
		unload(&l);
	}
}

/* ======================================================================== */
/* include and files                                                        */
/* ======================================================================== */

static char tmpdir[64];

static void
write_file(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
}

static int
suite_init(void)
{
	char sub[128];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vigil-rules-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(sub, sizeof(sub), "%s/sub", tmpdir);
	return mkdir(sub, 0700);
}

static int
suite_clean(void)
{
	static const char *const files[] = {
		"main.rules",  "sub/a.rules",	    "other.rules", "loop1.rules",
		"loop2.rules", "missing-inc.rules", "self.rules",
	};
	char path[256];

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		unlink(path);
	}
	for (int i = 0; i <= 10; i++) {
		snprintf(path, sizeof(path), "%s/deep%d.rules", tmpdir, i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/sub", tmpdir);
	rmdir(path);
	return rmdir(tmpdir);
}

static int
load_file(const char *rel, struct loaded *l)
{
	char path[256];
	const char *files[1] = {path};
	struct rule_load_opts o = {.files = files, .n_files = 1, .no_compile = true};

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	memset(l, 0, sizeof(*l));
	l->ret = rule_set_load(&o, &l->set, &l->d);
	return l->ret;
}

static void
test_include(void)
{
	struct loaded l;
	char want[256];

	write_file("main.rules", "var NET 10.0.0.0/8\n"
				 "include \"sub/a.rules\"\n"
				 "log hl7 any any -> any any (sid:3;)\n");
	write_file("sub/a.rules", "log hl7 $NET any -> any any (sid:1;)\n"
				  "include ../other.rules\n");
	write_file("other.rules", "\n\nlog hl7 any any -> any any (sid:2;)\n");
	CU_ASSERT_EQUAL(load_file("main.rules", &l), 0);
	CU_ASSERT_EQUAL_FATAL(rule_set_count(l.set), 3);
	snprintf(want, sizeof(want), "%s/sub/a.rules", tmpdir);
	CU_ASSERT_STRING_EQUAL(rule_set_rule(l.set, 0)->file, want);
	CU_ASSERT_EQUAL(rule_set_rule(l.set, 0)->sid, 1);
	snprintf(want, sizeof(want), "%s/sub/../other.rules", tmpdir);
	CU_ASSERT_STRING_EQUAL(rule_set_rule(l.set, 1)->file, want);
	CU_ASSERT_EQUAL(rule_set_rule(l.set, 1)->line, 3);
	snprintf(want, sizeof(want), "%s/main.rules", tmpdir);
	CU_ASSERT_STRING_EQUAL(rule_set_rule(l.set, 2)->file, want);
	unload(&l);

	/* A missing include: an error naming the file, at the include's path. */
	write_file("missing-inc.rules", "log hl7 any any -> any any (sid:1;)\n"
					"include  \"nope.rules\"\n");
	CU_ASSERT_EQUAL(load_file("missing-inc.rules", &l), -ENOENT);
	CU_ASSERT_EQUAL_FATAL(l.d.n, 1);
	snprintf(want, sizeof(want), "cannot read \"%s/nope.rules\": No such file or directory",
		 tmpdir);
	CU_ASSERT_STRING_EQUAL(l.d.d[0].msg, want);
	CU_ASSERT_EQUAL(l.d.d[0].line, 2);
	CU_ASSERT_EQUAL(l.d.d[0].col, 11);
	unload(&l);

	/* A missing top-level file: the whole file is meant. */
	CU_ASSERT_EQUAL(load_file("absent.rules", &l), -ENOENT);
	CU_ASSERT_EQUAL_FATAL(l.d.n, 1);
	CU_ASSERT_EQUAL(l.d.d[0].line, 0);
	CU_ASSERT_EQUAL(l.d.d[0].col, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(l.d.d[0].msg, "absent.rules\": No such file"));
	unload(&l);

	/* A directory is not a rule file. */
	CU_ASSERT_EQUAL(load_file("sub", &l), -EIO);
	unload(&l);

	/* Only regular files: a device or a FIFO could block a load or never end. */
	load("include /dev/zero\n", &l);
	CU_ASSERT_EQUAL(l.ret, -EIO);
	CU_ASSERT_EQUAL_FATAL(l.d.n, 1);
	CU_ASSERT_STRING_EQUAL(l.d.d[0].msg, "cannot read \"/dev/zero\": not a regular file");
	CU_ASSERT_EQUAL(l.d.d[0].col, 9);
	unload(&l);

	/* Syntax. */
	EXPECT_ERROR("include@", "include needs a path: include \"FILE\"");
	EXPECT_ERROR("include @\"", "unterminated string");
	EXPECT_ERROR("include \"a\"@ b", "unexpected text after the include's path");
}

static void
test_include_cycle(void)
{
	struct loaded l;

	write_file("loop1.rules", "log hl7 any any -> any any (sid:1;)\ninclude loop2.rules\n");
	write_file("loop2.rules", "include loop1.rules\nlog hl7 any any -> any any (sid:2;)\n");
	CU_ASSERT_EQUAL(load_file("loop1.rules", &l), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(l.d.n, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(l.d.d[0].msg, "include cycle: \""));
	CU_ASSERT_PTR_NOT_NULL(strstr(l.d.d[0].msg, "loop1.rules\" is already being read"));
	CU_ASSERT_PTR_NOT_NULL(strstr(l.d.d[0].file, "loop2.rules"));
	CU_ASSERT_EQUAL(l.d.d[0].line, 1);
	CU_ASSERT_EQUAL(l.d.d[0].col, 9);
	unload(&l);
	write_file("self.rules", "include self.rules\n");
	CU_ASSERT_EQUAL(load_file("self.rules", &l), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(find_diag(&l, RULE_DIAG_ERROR, "include cycle"));
	unload(&l);
}

/* deep0 includes deep1 ... : 8 levels of include are allowed, a 9th is not. */
static void
test_include_depth(void)
{
	struct loaded l;
	char name[32], text[128];

	for (int i = 0; i <= 9; i++) {
		snprintf(name, sizeof(name), "deep%d.rules", i);
		snprintf(text, sizeof(text),
			 "log hl7 any any -> any any (sid:%d;)\ninclude deep%d.rules\n", 100 + i,
			 i + 1);
		write_file(name, i < 8 ? text : "log hl7 any any -> any any (sid:999;)\n");
	}
	CU_ASSERT_EQUAL(load_file("deep0.rules", &l), 0);
	CU_ASSERT_EQUAL(rule_set_count(l.set), 9);
	unload(&l);
	snprintf(text, sizeof(text), "include deep9.rules\n");
	write_file("deep8.rules", text);
	CU_ASSERT_EQUAL(load_file("deep0.rules", &l), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(find_diag(&l, RULE_DIAG_ERROR, "includes nested deeper than 8"));
	unload(&l);
}

/* ======================================================================== */
/* Registration                                                             */
/* ======================================================================== */

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"a full rule", test_full_rule},
		{"header", test_header},
		{"header errors", test_header_errors},
		{"NUL byte", test_nul_byte},
		{"msg sid rev priority kind metadata classtype reference", test_basic_options},
		{"errors of the basic options", test_basic_option_errors},
		{"repeated option: error and note", test_repeated_option_note},
		{"content nocase offset depth", test_content},
		{"content errors", test_content_errors},
		{"pcre", test_pcre},
		{"pcre errors", test_pcre_errors},
		{"metric by name refid code loinc", test_metric},
		{"metric errors", test_metric_errors},
		{"value forms", test_value},
		{"value errors", test_value_errors},
		{"location", test_location},
		{"durations", test_durations},
		{"latch malformed valid", test_flags_and_valid},
		{"acl", test_acl},
		{"threshold", test_threshold},
		{"threshold errors", test_threshold_errors},
		{"escalate", test_escalate},
		{"dsize", test_dsize},
		{"every error reported", test_every_error_reported},
		{"max_errors", test_max_errors},
		{"duplicate sid", test_duplicate_sid},
		{"continuation lines", test_continuation},
		{"diagnostics printed", test_diag_print},
		{"variables", test_variables},
		{"variable depth", test_variable_depth},
		{"addresses", test_addresses},
		{"address errors", test_address_errors},
		{"ports", test_ports},
		{"warnings", test_warnings},
		{"include", test_include},
		{"include cycle", test_include_cycle},
		{"include depth", test_include_depth},
	};
	CU_pSuite s = CU_add_suite("rules parse", suite_init, suite_clean);

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++)
		if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
