/*
 * reload.c - rule reload: build the next ruleset aside, publish it, free the old one.
 *
 * A reload reads the configuration again as vigild did at start-up (the
 * defaults, the file, the --rules files in place of rules.files), loads and
 * compiles the rules aside while the workers go on with the running bundle,
 * wraps the set in a new bundle (version + 1) and publishes it and the
 * sender ACL with one pointer exchange each. The old bundle and ACL are
 * freed after a grace period, once every worker that is online has moved
 * to the new version (an idle worker is offline and takes the new one at its
 * next burst). Any error leaves the running ruleset in force and is reported
 * in full: a reload never says it succeeded when it did not, and never takes
 * every rule away (that would silence every alarm without anyone noticing).
 *
 * One reload at a time: an atomic flag, taken by compare-exchange, guards
 * both the synchronous and the threaded entry; a second request is told
 * -EBUSY and nothing is done. The reloading thread is never an online QSBR
 * reader while it waits for the grace period: the thread cp_reload_start
 * makes is not registered at all, and cp_reload_run takes a registered
 * caller offline for the duration.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <urcu/urcu-qsbr.h>

#include "controlplane.h"

#define WORKER_POLL_NS 50000L	    /* how often a reload looks at the workers */
#define WORKER_WAIT_NS 1000000000LL /* and for how long at most */

static const char no_rules_msg[] =
	"rules.files is empty: a reload never takes every rule away; to run without rules, "
	"restart vigild";

struct cp_reloader {
	struct dp_plane *dp;
	char *config_path; /* NULL: defaults only */
	unsigned n_rule_files;
	char **rule_files;
	uint64_t last_version; /* written only by the reload holding @busy */
	atomic_bool busy;
	_Atomic uint64_t good;
	_Atomic uint64_t refused;
	_Atomic int64_t published_ns; /* wall clock of the last publish */
	/* The threaded reload: started by cp_reload_start, joined by the next or by free. */
	pthread_t thread;
	bool has_thread;
	pthread_mutex_t lock; /* guards @result and @has_result */
	bool has_result;
	struct cp_reload_result result;
};

static int64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double
ms_since(int64_t t0)
{
	return (double)(mono_ns() - t0) / 1e6;
}

void
cp_reload_result_free(struct cp_reload_result *r)
{
	if (r == NULL)
		return;
	free(r->diags);
	memset(r, 0, sizeof(*r));
}

int
cp_reloader_new(struct dp_plane *dp, const char *config_path, const char *const *rule_files,
		unsigned n_rule_files, struct cp_reloader **out)
{
	struct cp_reloader *r;
	struct dp_ruleset *cur;
	int rc = -ENOMEM;

	*out = NULL;
	if (dp == NULL || (n_rule_files > 0 && rule_files == NULL) ||
	    n_rule_files > CP_MAX_RULE_FILES)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->dp = dp;
	if (config_path != NULL && (r->config_path = strdup(config_path)) == NULL)
		goto fail;
	if (n_rule_files > 0) {
		r->rule_files = calloc(n_rule_files, sizeof(*r->rule_files));
		if (r->rule_files == NULL)
			goto fail;
		for (unsigned i = 0; i < n_rule_files; i++) {
			r->rule_files[i] = strdup(rule_files[i]);
			if (r->rule_files[i] == NULL)
				goto fail;
			r->n_rule_files++;
		}
	}
	rc = pthread_mutex_init(&r->lock, NULL);
	if (rc != 0) {
		rc = -rc;
		goto fail;
	}
	/* Only the publisher writes the pointer, so it may be read here offline. */
	cur = dp_ruleset_current(dp);
	r->last_version = cur != NULL ? cur->version : 0;
	atomic_init(&r->busy, false);
	atomic_init(&r->good, 0);
	atomic_init(&r->refused, 0);
	atomic_init(&r->published_ns, 0);
	*out = r;
	return 0;

fail:
	for (unsigned i = 0; i < r->n_rule_files; i++)
		free(r->rule_files[i]);
	free(r->rule_files);
	free(r->config_path);
	free(r);
	return rc;
}

void
cp_reloader_free(struct cp_reloader *r)
{
	if (r == NULL)
		return;
	cp_reload_wait(r);
	if (r->has_result)
		cp_reload_result_free(&r->result);
	pthread_mutex_destroy(&r->lock);
	for (unsigned i = 0; i < r->n_rule_files; i++)
		free(r->rule_files[i]);
	free(r->rule_files);
	free(r->config_path);
	free(r);
}

/* What is in force: the current bundle (read as its only publisher). */
static void
describe_current(struct cp_reloader *r, struct cp_reload_result *res)
{
	const struct dp_ruleset *cur = dp_ruleset_current(r->dp);

	res->version = cur != NULL ? cur->version : 0;
	res->n_rules = cur != NULL ? cur->n_rules : 0;
	res->hash[0] = '\0';
	if (cur != NULL && cur->set != NULL)
		snprintf(res->hash, sizeof(res->hash), "%s", rule_set_info(cur->set)->hash);
}

/* Every diagnostic as rule_diags_print writes it, in a string of its own. */
static int
diags_text(const struct rule_diags *d, char **out)
{
	size_t len = 0;
	FILE *f;

	*out = NULL;
	if (d->n == 0)
		return 0;
	f = open_memstream(out, &len);
	if (f == NULL)
		return -ENOMEM;
	rule_diags_print(d, f);
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Build the configuration as vigild did at start-up; a failure is one line in res->diags. */
static int
build_config(struct cp_reloader *r, struct cp_config *cfg, struct cp_reload_result *res)
{
	char err[512];
	int rc;

	rc = cp_config_defaults(cfg);
	if (rc != 0)
		return rc;
	if (r->config_path != NULL) {
		rc = cp_config_load(cfg, r->config_path, err, sizeof(err));
		if (rc != 0) {
			res->n_errors = 1;
			if (asprintf(&res->diags, "%s\n", err) < 0)
				res->diags = NULL;
			return rc == -ENOMEM ? rc : -EINVAL;
		}
	}
	if (r->n_rule_files > 0) {
		rc = cp_config_set_rule_files(cfg, (const char *const *)r->rule_files,
					      r->n_rule_files);
		if (rc != 0)
			return rc;
	}
	if (cfg->n_rule_files == 0) {
		res->n_errors = 1;
		if (asprintf(&res->diags, "%s\n", no_rules_msg) < 0)
			res->diags = NULL;
		return -EINVAL;
	}
	return 0;
}

/* Wait (bounded) until every online worker evaluates with @p version or newer. */
static void
wait_workers(struct dp_plane *dp, uint64_t version)
{
	const struct timespec poll = {0, WORKER_POLL_NS};
	int64_t deadline = mono_ns() + WORKER_WAIT_NS;
	unsigned n = dp_n_workers(dp);

	for (;;) {
		unsigned behind = 0;

		for (unsigned w = 0; w < n; w++)
			if (dp_worker_online(dp, w) && dp_worker_ruleset_version(dp, w) < version)
				behind++;
		if (behind == 0 || mono_ns() >= deadline)
			return;
		nanosleep(&poll, NULL);
	}
}

/* The reload itself; the caller holds @busy and is not an online reader. */
static int
do_reload(struct cp_reloader *r, struct cp_reload_result *res)
{
	struct rule_var vars[CP_MAX_RULE_VARS];
	struct rule_diags diags = {0};
	struct rule_load_opts opts;
	struct rule_set *set = NULL;
	struct dp_ruleset *rs = NULL, *old_rs;
	struct dp_acl *acl = NULL, *old_acl;
	const struct rule_set_info *info;
	struct cp_config cfg = {0};
	int64_t t0 = mono_ns(), t_pub;
	uint64_t version;
	int rc;

	rc = build_config(r, &cfg, res);
	if (rc != 0)
		goto out;
	cp_config_rule_opts(&cfg, &opts, vars);
	rc = rule_set_load(&opts, &set, &diags);
	res->n_errors = diags.n_errors;
	res->n_warnings = diags.n_warnings;
	if (diags_text(&diags, &res->diags) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc != 0) {
		if (rc != -ENOMEM && res->n_errors == 0)
			res->n_errors = 1; /* a file that could not be read is in diags too */
		goto out;
	}
	info = rule_set_info(set);
	version = r->last_version + 1;
	rc = dp_ruleset_new(set, dp_n_workers(r->dp), version, &rs);
	if (rc != 0)
		goto out; /* set is still ours */
	res->n_rules = rs->n_rules;
	res->compile_ms = (double)info->total_ns / 1e6;
	snprintf(res->hash, sizeof(res->hash), "%s", info->hash);
	set = NULL; /* the bundle owns it now */
	rc = cp_config_acl(&cfg, &acl);
	if (rc != 0)
		goto out;

	t_pub = mono_ns();
	old_rs = dp_ruleset_publish(r->dp, rs);
	old_acl = dp_acl_publish(r->dp, acl);
	rs = NULL;
	acl = NULL;
	r->last_version = version;
	atomic_store(&r->published_ns, wall_ns());
	urcu_qsbr_synchronize_rcu();
	res->publish_ms = ms_since(t_pub);
	wait_workers(r->dp, version);
	dp_ruleset_free(old_rs);
	dp_acl_free(old_acl);
	res->version = version;
	rc = 0;

out:
	if (rc != 0)
		describe_current(r, res); /* what stays in force */
	res->rc = rc;
	dp_ruleset_free(rs);
	dp_acl_free(acl);
	rule_set_free(set);
	rule_diags_free(&diags);
	cp_config_free(&cfg); /* a zeroed one too */
	res->total_ms = ms_since(t0);
	atomic_fetch_add(rc == 0 ? &r->good : &r->refused, 1);
	return rc;
}

int
cp_reload_run(struct cp_reloader *r, struct cp_reload_result *result)
{
	bool expected = false;
	bool was_online;
	int rc;

	memset(result, 0, sizeof(*result));
	if (!atomic_compare_exchange_strong(&r->busy, &expected, true)) {
		/* Not the publisher now: the bundle in force may be freed under us. */
		result->rc = -EBUSY;
		return -EBUSY;
	}
	/* A registered caller that is online would wait for itself in the grace period. */
	was_online = urcu_qsbr_read_ongoing() != 0;
	if (was_online)
		urcu_qsbr_thread_offline();
	rc = do_reload(r, result);
	if (was_online)
		urcu_qsbr_thread_online();
	atomic_store(&r->busy, false);
	return rc;
}

static void
free_files(char **files, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(files[i]);
	free(files);
}

int
cp_reload_run_files(struct cp_reloader *r, const char *const *rule_files, unsigned n,
		    struct cp_reload_result *result)
{
	char **files, **old_files;
	unsigned old_n;
	bool expected = false;
	bool was_online;
	int rc;

	memset(result, 0, sizeof(*result));
	if (rule_files == NULL || n == 0 || n > CP_MAX_RULE_FILES) {
		result->rc = -EINVAL;
		return -EINVAL;
	}
	files = calloc(n, sizeof(*files));
	if (files == NULL) {
		result->rc = -ENOMEM;
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		files[i] = strdup(rule_files[i]);
		if (files[i] == NULL) {
			free_files(files, i);
			result->rc = -ENOMEM;
			return -ENOMEM;
		}
	}
	if (!atomic_compare_exchange_strong(&r->busy, &expected, true)) {
		free_files(files, n);
		result->rc = -EBUSY;
		return -EBUSY;
	}
	/* The list is read only by the reload holding @busy: swapped here. */
	old_files = r->rule_files;
	old_n = r->n_rule_files;
	r->rule_files = files;
	r->n_rule_files = n;
	was_online = urcu_qsbr_read_ongoing() != 0;
	if (was_online)
		urcu_qsbr_thread_offline();
	rc = do_reload(r, result);
	if (was_online)
		urcu_qsbr_thread_online();
	if (rc != 0) { /* refused: the list in force stays */
		r->rule_files = old_files;
		r->n_rule_files = old_n;
		old_files = files;
		old_n = n;
	}
	free_files(old_files, old_n);
	atomic_store(&r->busy, false);
	return rc;
}

int64_t
cp_reload_published_ns(const struct cp_reloader *r)
{
	return atomic_load(&((struct cp_reloader *)r)->published_ns);
}

static void *
reload_thread(void *arg)
{
	struct cp_reloader *r = arg;
	struct cp_reload_result res = {0};

	do_reload(r, &res);
	pthread_mutex_lock(&r->lock);
	if (r->has_result) /* the last one was never polled: this one replaces it */
		cp_reload_result_free(&r->result);
	r->result = res;
	r->has_result = true;
	pthread_mutex_unlock(&r->lock);
	atomic_store(&r->busy, false);
	return NULL;
}

int
cp_reload_start(struct cp_reloader *r)
{
	bool expected = false;
	sigset_t all, old;
	int rc;

	if (!atomic_compare_exchange_strong(&r->busy, &expected, true))
		return -EBUSY;
	/* The previous thread cleared @busy as its last act: joining it is quick. */
	if (r->has_thread) {
		pthread_join(r->thread, NULL);
		r->has_thread = false;
	}
	/* The reload thread takes no signal: they belong to the main loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&r->thread, NULL, reload_thread, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		atomic_store(&r->busy, false);
		return -rc;
	}
	r->has_thread = true;
	return 0;
}

bool
cp_reload_poll(struct cp_reloader *r, struct cp_reload_result *result)
{
	bool got = false;

	pthread_mutex_lock(&r->lock);
	if (r->has_result) {
		*result = r->result; /* the diags string goes with it */
		memset(&r->result, 0, sizeof(r->result));
		r->has_result = false;
		got = true;
	}
	pthread_mutex_unlock(&r->lock);
	return got;
}

void
cp_reload_wait(struct cp_reloader *r)
{
	if (r->has_thread) {
		pthread_join(r->thread, NULL);
		r->has_thread = false;
	}
}

void
cp_reload_counts(const struct cp_reloader *r, uint64_t *good, uint64_t *refused)
{
	*good = atomic_load(&((struct cp_reloader *)r)->good);
	*refused = atomic_load(&((struct cp_reloader *)r)->refused);
}

void
cp_reload_result_print(const struct cp_reload_result *r, FILE *out)
{
	if (r->rc == -EBUSY) {
		fprintf(out, "vigild: reload: one is already running; this request was not "
			     "carried out\n");
	} else if (r->rc == 0) {
		fprintf(out,
			"vigild: reload: ruleset version %" PRIu64 " in force: %u rules, compiled "
			"in %.1f ms, published in %.1f ms (hash %.16s)\n",
			r->version, r->n_rules, r->compile_ms, r->publish_ms, r->hash);
		if (r->n_warnings > 0)
			fprintf(out, "vigild: reload: %u warning%s:\n", r->n_warnings,
				r->n_warnings == 1 ? "" : "s");
	} else {
		if (r->n_errors > 0)
			fprintf(out, "vigild: reload refused: %u error%s; ", r->n_errors,
				r->n_errors == 1 ? "" : "s");
		else
			fprintf(out, "vigild: reload refused: %s; ", strerror(-r->rc));
		if (r->version > 0)
			fprintf(out, "version %" PRIu64 " stays in force\n", r->version);
		else
			fprintf(out, "vigild goes on without rules\n");
	}
	if (r->rc != -EBUSY && r->diags != NULL)
		fputs(r->diags, out);
	fflush(out);
}

int
cp_reload_result_print_json(const struct cp_reload_result *r, FILE *out)
{
	json_t *body, *root;
	int rc;

	body = json_pack("{s:b, s:i, s:I, s:i, s:i, s:i, s:f, s:f, s:f, s:s, s:s}", "ok",
			 r->rc == 0, "rc", r->rc, "version", (json_int_t)r->version, "rules",
			 (int)r->n_rules, "errors", (int)r->n_errors, "warnings",
			 (int)r->n_warnings, "compile_ms", r->compile_ms, "publish_ms",
			 r->publish_ms, "total_ms", r->total_ms, "hash", r->hash, "diagnostics",
			 r->diags != NULL ? r->diags : "");
	if (body == NULL)
		return -ENOMEM;
	if (r->rc != 0 &&
	    json_object_set_new(body, "error",
				json_string(r->rc == -EBUSY ? "busy" : strerror(-r->rc))) != 0) {
		json_decref(body);
		return -ENOMEM;
	}
	root = json_pack("{s:o}", "reload", body);
	if (root == NULL)
		return -ENOMEM;
	errno = 0;
	rc = json_dumpf(root, out, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
	json_decref(root);
	if (rc == 0)
		fputc('\n', out);
	if (fflush(out) != 0 || ferror(out))
		return errno ? -errno : -EIO;
	return 0;
}
