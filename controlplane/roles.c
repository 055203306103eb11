/*
 * roles.c - control.roles: which role a control socket caller has.
 *
 * The caller is known by SO_PEERCRED (uid and primary gid). Each role's
 * list names user names, uids in digits, or groups ("@name", "@gid"); a
 * group names a caller whose primary gid (the socket's, or its user's) or
 * one of its user's supplementary groups (getgrouplist) is that group. The
 * highest role that names the caller is its role; root and vigild's own
 * user are always admin. A name the system does not know matches nobody.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controlplane.h"

#define ROLES_MAX_GROUPS 256 /* supplementary groups looked at per caller */

const char *
cp_role_name(enum cp_role r)
{
	static const char *const names[CP_ROLE__COUNT] = {"none", "viewer", "operator", "admin"};

	return (unsigned)r < CP_ROLE__COUNT ? names[r] : "?";
}

/* A whole decimal number that fits an id_t; false for anything else. */
static bool
parse_id(const char *s, unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT32_MAX - (unsigned long)(*s - '0')) / 10)
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	*out = v;
	return true;
}

/* The passwd entry of @p name, or of @p uid when @p name is NULL. @return 0 or -ENOENT. */
static int
passwd_of(uid_t uid, const char *name, struct passwd *pw, char *buf, size_t len)
{
	struct passwd *res = NULL;
	int rc = name != NULL ? getpwnam_r(name, pw, buf, len, &res)
			      : getpwuid_r(uid, pw, buf, len, &res);

	return rc == 0 && res != NULL ? 0 : -ENOENT;
}

void
cp_user_name(uid_t uid, char *out, size_t len)
{
	struct passwd pw;
	char buf[4096];

	if (passwd_of(uid, NULL, &pw, buf, sizeof(buf)) == 0 && strlen(pw.pw_name) < len)
		snprintf(out, len, "%s", pw.pw_name);
	else
		snprintf(out, len, "%u", (unsigned)uid);
}

/* The uid of user @p name. @return 0 or -ENOENT. */
static int
user_uid(const char *name, uid_t *out)
{
	struct passwd pw;
	char buf[4096];

	if (passwd_of(0, name, &pw, buf, sizeof(buf)) != 0)
		return -ENOENT;
	*out = pw.pw_uid;
	return 0;
}

int
cp_group_id(const char *group, gid_t *out)
{
	struct group gr, *res = NULL;
	size_t len = 4096;
	char *buf = NULL;
	unsigned long v;
	int rc;

	if (parse_id(group, &v)) {
		*out = (gid_t)v;
		return 0;
	}
	/* A group's entry lists its members: it may need a larger buffer. */
	for (;;) {
		char *nb = realloc(buf, len);

		if (nb == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		buf = nb;
		rc = getgrnam_r(group, &gr, buf, len, &res);
		if (rc != ERANGE || len >= 1 << 20)
			break;
		len *= 2;
	}
	if (rc != 0 || res == NULL) {
		rc = -ENOENT;
		goto out;
	}
	*out = gr.gr_gid;
	rc = 0;
out:
	free(buf);
	return rc;
}

/* The groups of one caller, looked up once, when a group entry needs them. */
struct caller_groups {
	bool looked_up;
	int n;
	gid_t gid[ROLES_MAX_GROUPS];
};

static void
lookup_groups(uid_t uid, struct caller_groups *g)
{
	struct passwd pw;
	char buf[4096];

	g->looked_up = true;
	g->n = 0;
	if (passwd_of(uid, NULL, &pw, buf, sizeof(buf)) != 0)
		return; /* no such user: only the socket's gid counts */
	g->n = ROLES_MAX_GROUPS;
	if (getgrouplist(pw.pw_name, pw.pw_gid, g->gid, &g->n) < 0)
		g->n = ROLES_MAX_GROUPS; /* more than we look at: the first ones */
	if (g->n < 0)
		g->n = 0;
}

static bool
names_caller(const char *entry, uid_t uid, gid_t gid, struct caller_groups *g)
{
	unsigned long v;

	if (entry == NULL || *entry == '\0')
		return false;
	if (entry[0] == '@') {
		gid_t want;

		if (cp_group_id(entry + 1, &want) != 0)
			return false;
		if (want == gid)
			return true;
		if (!g->looked_up)
			lookup_groups(uid, g);
		for (int i = 0; i < g->n; i++)
			if (g->gid[i] == want)
				return true;
		return false;
	}
	if (parse_id(entry, &v))
		return (uid_t)v == uid;

	uid_t named;

	return user_uid(entry, &named) == 0 && named == uid;
}

enum cp_role
cp_role_of(const struct cp_role_map *m, uid_t uid, gid_t gid, uid_t self_uid)
{
	struct caller_groups g = {.looked_up = false};

	if (uid == 0 || uid == self_uid)
		return CP_ROLE_ADMIN;
	if (m == NULL)
		return CP_ROLE_NONE;
	for (int r = CP_ROLE__COUNT - 1; r > CP_ROLE_NONE; r--) {
		unsigned n = m->n[r] < CP_MAX_ROLE_ENTRIES ? m->n[r] : CP_MAX_ROLE_ENTRIES;

		for (unsigned i = 0; i < n; i++)
			if (names_caller(m->entry[r][i], uid, gid, &g))
				return (enum cp_role)r;
	}
	return CP_ROLE_NONE;
}
