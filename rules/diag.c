/*
 * diag.c - the diagnostics of a rule load: recording them and printing them
 * the way a compiler does.
 *
 * Every stage of loading (parse.c, compile.c) reports through
 * rule_diag_add(), so a rule writer sees one format whatever found the
 * problem: FILE:LINE:COL, the line itself and a caret under the column.
 * A load keeps going after an error to report every error of the files,
 * but a file full of garbage must not produce an unbounded list: errors
 * past max_errors are only counted.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule_private.h"

/* ------------------------------------------------------------------------ */
/* Recording                                                                */
/* ------------------------------------------------------------------------ */

static char *
dup_len(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL)
		return NULL;
	if (n > 0)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int
rule_diag_add(struct rule_diags *d, unsigned max_errors, enum rule_severity sev, const char *file,
	      unsigned line, unsigned col, const char *source, size_t source_len, const char *fmt,
	      ...)
{
	struct rule_diag *nd, *grown;
	va_list ap;
	int n, ret = -ENOMEM;

	if (max_errors == 0)
		max_errors = RULE_MAX_ERRORS_DEFAULT;
	if (sev == RULE_DIAG_ERROR) {
		d->n_errors++;
		if (d->n_errors > max_errors) {
			d->truncated = true;
			return 0;
		}
	} else if (sev == RULE_DIAG_NOTE && d->truncated) {
		/*
		 * Once errors are being dropped, every later error is dropped, and
		 * the notes vigil emits all belong to errors: keep none of them,
		 * rather than attach one to the wrong diagnostic.
		 */
		return 0;
	} else if (sev == RULE_DIAG_WARNING) {
		d->n_warnings++;
	}

	grown = realloc(d->d, (d->n + 1) * sizeof(*d->d));
	if (grown == NULL)
		goto err;
	d->d = grown;
	nd = &d->d[d->n];
	memset(nd, 0, sizeof(*nd));
	nd->severity = sev;
	nd->line = line;
	nd->col = col;
	nd->file = dup_len(file != NULL ? file : "", file != NULL ? strlen(file) : 0);
	if (nd->file == NULL)
		goto err;
	if (source != NULL) {
		nd->source = dup_len(source, source_len);
		if (nd->source == NULL)
			goto err_file;
	}
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		ret = -EINVAL;
		goto err_source;
	}
	nd->msg = malloc((size_t)n + 1);
	if (nd->msg == NULL)
		goto err_source;
	va_start(ap, fmt);
	vsnprintf(nd->msg, (size_t)n + 1, fmt, ap);
	va_end(ap);
	d->n++;
	return 0;

err_source:
	free(nd->source);
err_file:
	free(nd->file);
err:
	/* Not recorded: take back what was counted for it. */
	if (sev == RULE_DIAG_WARNING)
		d->n_warnings--;
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Printing                                                                 */
/* ------------------------------------------------------------------------ */

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
	return "error";
}

/*
 * The caret line: the source's tabs are kept so the caret lines up however
 * the terminal sets its tab stops, every other byte before the column is a
 * space. UTF-8 continuation bytes take no room on screen, so they get none.
 */
static void
print_caret(const struct rule_diag *g, FILE *out)
{
	size_t len = strlen(g->source);

	fputc(' ', out);
	for (size_t i = 0; i + 1 < g->col; i++) {
		unsigned char c = i < len ? (unsigned char)g->source[i] : ' ';

		if (c == '\t')
			fputc('\t', out);
		else if ((c & 0xc0) != 0x80)
			fputc(' ', out);
	}
	fputs("^\n", out);
}

void
rule_diags_print(const struct rule_diags *diags, FILE *out)
{
	unsigned shown = 0;

	if (diags == NULL || out == NULL)
		return;
	for (unsigned i = 0; i < diags->n; i++) {
		const struct rule_diag *g = &diags->d[i];

		if (g->severity == RULE_DIAG_ERROR)
			shown++;
		if (g->line == 0)
			fprintf(out, "%s: %s: %s\n", g->file, severity_name(g->severity), g->msg);
		else
			fprintf(out, "%s:%u:%u: %s: %s\n", g->file, g->line, g->col,
				severity_name(g->severity), g->msg);
		if (g->source == NULL)
			continue;
		fprintf(out, " %s\n", g->source);
		if (g->col > 0)
			print_caret(g, out);
	}
	if (diags->truncated)
		fprintf(out, "error: too many errors (%u in all; the first %u are shown)\n",
			diags->n_errors, shown);
}

void
rule_diags_free(struct rule_diags *diags)
{
	if (diags == NULL)
		return;
	for (unsigned i = 0; i < diags->n; i++) {
		free(diags->d[i].file);
		free(diags->d[i].msg);
		free(diags->d[i].source);
	}
	free(diags->d);
	memset(diags, 0, sizeof(*diags));
}
