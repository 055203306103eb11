/*
 * backup.c - backups of the store with RocksDB's BackupEngine: an
 * incremental backup of an open store, the list of a backup directory's
 * backups, their verification, and a restore into a new directory.
 *
 * A backup directory is RocksDB's: meta/ (one file per backup, listing its
 * files with their sizes and CRC32C checksums), shared_checksum/ (table
 * files, shared between backups: a backup copies only the tables the last
 * one does not have) and private/ (each backup's MANIFEST, CURRENT, OPTIONS
 * and WAL files). Backups are written with fsync (BackupEngineOptions.sync).
 *
 * Verification. RocksDB's VerifyBackup, as its C API calls it, checks only
 * that every file is there with its size: a flipped byte passes. So
 * store_backup_verify does that first and then reads every byte of the
 * backup's files against their checksums, by restoring the backup into a
 * scratch directory (which the restore does as it copies) that it removes
 * afterwards: the scratch directory is made inside the backup directory
 * (else under /tmp when that is read-only) and needs as much room as the
 * database.
 *
 * Only store_backup needs an open store. The other functions open the
 * backup directory alone and never create it: a missing directory, or one
 * without meta/, is -ENOENT with a message. One BackupEngine per backup
 * directory at a time: RocksDB does not lock it.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_private.h"

#define BACKUP_DIR_MODE 0700 /* backups hold what the store holds */

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* RocksDB's error string (or "unknown error"), freed by the caller. */
static const char *
reason(const char *rerr)
{
	return rerr != NULL ? rerr : "unknown error";
}

/* mkdir -p with @p mode for the directories it makes. */
static int
mkdir_p(const char *path, mode_t mode)
{
	char *copy = strdup(path);
	int rc = 0;

	if (copy == NULL)
		return -ENOMEM;
	for (char *p = copy + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) != 0 && errno != EEXIST) {
			rc = -errno;
			goto out;
		}
		*p = '/';
	}
	if (mkdir(copy, mode) != 0 && errno != EEXIST)
		rc = -errno;
out:
	free(copy);
	return rc;
}

/* 1: @p dir is a directory with something in it, 0: empty, or a negative errno. */
static int
dir_has_entries(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int rc = 0;

	if (d == NULL)
		return -errno;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			rc = 1;
			break;
		}
	}
	if (e == NULL && errno != 0)
		rc = -errno;
	closedir(d);
	return rc;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 ? -1 : 0;
}

/* rm -rf @p dir (a scratch directory this file made). */
static void
rm_tree(const char *dir)
{
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------------ */
/* Opening a backup directory                                                */
/* ------------------------------------------------------------------------ */

struct engine {
	rocksdb_backup_engine_options_t *bo;
	rocksdb_env_t *env;
	rocksdb_backup_engine_t *be;
};

static void
engine_close(struct engine *e)
{
	if (e->be != NULL)
		rocksdb_backup_engine_close(e->be);
	if (e->bo != NULL)
		rocksdb_backup_engine_options_destroy(e->bo);
	if (e->env != NULL)
		rocksdb_env_destroy(e->env);
	memset(e, 0, sizeof(*e));
}

/*
 * Open the BackupEngine of @p dir. @p create: make the directory if it is
 * missing (store_backup); else it must exist and hold meta/. @p sync: fsync
 * what the engine writes (backups, restores; not the scratch restore).
 */
static int
engine_open(const char *dir, bool create, bool sync, struct engine *e, char *err, size_t errlen)
{
	char *rerr = NULL, *meta = NULL;
	struct stat st;
	int rc = 0;

	memset(e, 0, sizeof(*e));
	if (dir == NULL || dir[0] == '\0') {
		set_err(err, errlen, "no backup directory given");
		return -EINVAL;
	}
	if (create) {
		rc = mkdir_p(dir, BACKUP_DIR_MODE);
		if (rc != 0) {
			set_err(err, errlen, "backup directory %s: cannot create it: %s", dir,
				strerror(-rc));
			return rc;
		}
	} else {
		if (stat(dir, &st) != 0) {
			rc = -errno;
			set_err(err, errlen, "backup directory %s: %s", dir, strerror(errno));
			return rc;
		}
		if (!S_ISDIR(st.st_mode)) {
			set_err(err, errlen, "backup directory %s: not a directory", dir);
			return -ENOTDIR;
		}
		if (asprintf(&meta, "%s/meta", dir) < 0)
			return -ENOMEM;
		if (stat(meta, &st) != 0 || !S_ISDIR(st.st_mode)) {
			set_err(err, errlen,
				"%s is not a backup directory (no meta/ in it): give the directory "
				"vigil-store backup wrote",
				dir);
			rc = -ENOENT;
			goto out;
		}
	}
	e->bo = rocksdb_backup_engine_options_create(dir);
	e->env = rocksdb_create_default_env();
	if (e->bo == NULL || e->env == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rocksdb_backup_engine_options_set_sync(e->bo, sync ? 1 : 0);
	rocksdb_backup_engine_options_set_share_table_files(e->bo, 1);
	e->be = rocksdb_backup_engine_open_opts(e->bo, e->env, &rerr);
	if (rerr != NULL || e->be == NULL) {
		rc = rerr != NULL ? store_rocksdb_errno(rerr) : -EIO;
		set_err(err, errlen, "backup directory %s: %s", dir, reason(rerr));
		e->be = NULL;
		goto out;
	}
out:
	free(rerr);
	free(meta);
	if (rc != 0)
		engine_close(e);
	return rc;
}

static void
info_at(const rocksdb_backup_engine_info_t *bi, int i, struct store_backup_info *out)
{
	out->id = rocksdb_backup_engine_info_backup_id(bi, i);
	out->time_s = rocksdb_backup_engine_info_timestamp(bi, i);
	out->size = rocksdb_backup_engine_info_size(bi, i);
	out->files = rocksdb_backup_engine_info_number_files(bi, i);
}

/*
 * Resolve @p id (0: the latest) against the backups of @p e: -ENOENT with
 * a message when there is none, or not that one.
 */
static int
engine_find(struct engine *e, const char *dir, uint32_t id, struct store_backup_info *out,
	    char *err, size_t errlen)
{
	const rocksdb_backup_engine_info_t *bi = rocksdb_backup_engine_get_backup_info(e->be);
	int n, rc = -ENOENT;

	if (bi == NULL)
		return -ENOMEM;
	n = rocksdb_backup_engine_info_count(bi);
	if (n <= 0) {
		set_err(err, errlen, "backup directory %s holds no backup", dir);
		goto out;
	}
	for (int i = n - 1; i >= 0; i--) {
		if (id == 0 || rocksdb_backup_engine_info_backup_id(bi, i) == id) {
			info_at(bi, i, out);
			rc = 0;
			goto out;
		}
	}
	set_err(err, errlen, "backup directory %s has no backup %u (its backups are %u to %u)", dir,
		id, rocksdb_backup_engine_info_backup_id(bi, 0),
		rocksdb_backup_engine_info_backup_id(bi, n - 1));
out:
	rocksdb_backup_engine_info_destroy(bi);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The API                                                                   */
/* ------------------------------------------------------------------------ */

static int
backup(struct store *s, const char *backup_dir, struct store_backup_info *info, bool batch,
       char *err, size_t errlen)
{
	const rocksdb_backup_engine_info_t *bi = NULL;
	bool writer = s != NULL && s->o.mode == STORE_READ_WRITE;
	struct engine e;
	char *rerr = NULL;
	int n, rc;

	if (s == NULL || s->db == NULL) {
		set_err(err, errlen, "no open store to back up");
		return -EINVAL;
	}
	/* The batch first, so that the backup holds every observation added so far. */
	if (writer && batch) {
		rc = store_flush(s);
		if (rc != 0) {
			set_err(err, errlen,
				"backup of %s: writing the observation batch first failed: %s",
				s->dir, strerror(-rc));
			return rc;
		}
	}
	rc = engine_open(backup_dir, true, true, &e, err, errlen);
	if (rc != 0)
		return rc;
	/* Flushing the memtables needs a writer; a read-only or secondary
	 * instance backs up its tables and the WAL as they are. */
	rocksdb_backup_engine_create_new_backup_flush(e.be, s->db, writer ? 1 : 0, &rerr);
	if (rerr != NULL) {
		rc = store_rocksdb_errno(rerr);
		set_err(err, errlen, "backup of %s into %s failed: %s", s->dir, backup_dir, rerr);
		goto out;
	}
	bi = rocksdb_backup_engine_get_backup_info(e.be);
	if (bi == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	n = rocksdb_backup_engine_info_count(bi);
	if (n <= 0) {
		rc = -EIO;
		set_err(err, errlen, "backup of %s into %s: RocksDB lists no backup after it",
			s->dir, backup_dir);
		goto out;
	}
	if (info != NULL)
		info_at(bi, n - 1, info);
out:
	if (bi != NULL)
		rocksdb_backup_engine_info_destroy(bi);
	free(rerr);
	engine_close(&e);
	return rc;
}

int
store_backup(struct store *s, const char *backup_dir, struct store_backup_info *info, char *err,
	     size_t errlen)
{
	return backup(s, backup_dir, info, true, err, errlen);
}

int
store_backup_live(struct store *s, const char *backup_dir, struct store_backup_info *info,
		  char *err, size_t errlen)
{
	return backup(s, backup_dir, info, false, err, errlen);
}

int
store_backup_list(const char *backup_dir, struct store_backup_info *out, unsigned max, char *err,
		  size_t errlen)
{
	const rocksdb_backup_engine_info_t *bi;
	struct engine e;
	int n, first, rc;

	rc = engine_open(backup_dir, false, false, &e, err, errlen);
	if (rc != 0)
		return rc;
	bi = rocksdb_backup_engine_get_backup_info(e.be);
	if (bi == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	n = rocksdb_backup_engine_info_count(bi);
	if (n < 0)
		n = 0;
	/* When there are more than @p max, the newest @p max, oldest first. */
	first = (unsigned)n > max ? n - (int)max : 0;
	for (int i = first; i < n; i++)
		info_at(bi, i, &out[i - first]);
	rc = n - first;
	rocksdb_backup_engine_info_destroy(bi);
out:
	engine_close(&e);
	return rc;
}

/*
 * Read every byte of backup @p id against its checksums: restore it into a
 * scratch directory (RocksDB compares each file's CRC32C as it copies it).
 * @p scratch receives that directory (NULL if none was made), which the
 * caller removes once the engine is closed: a restore that fails returns
 * while the engine's thread may still be copying the next files, and
 * closing the engine waits for it.
 */
static int
verify_checksums(struct engine *e, const char *backup_dir, uint32_t id, char **scratch_out,
		 char *err, size_t errlen)
{
	rocksdb_restore_options_t *ro = NULL;
	char *scratch = NULL, *rerr = NULL;
	int rc = 0;

	*scratch_out = NULL;
	if (asprintf(&scratch, "%s/.verify-XXXXXX", backup_dir) < 0)
		return -ENOMEM;
	if (mkdtemp(scratch) == NULL) {
		int e1 = errno;

		free(scratch);
		scratch = NULL;
		if (e1 != EROFS && e1 != EACCES && e1 != EPERM) {
			set_err(err, errlen,
				"verify of backup %u in %s: cannot make a scratch "
				"directory in it: %s",
				id, backup_dir, strerror(e1));
			return -e1;
		}
		/* A read-only backup directory: scratch room under the temporary directory. */
		if (asprintf(&scratch, "%s/vigil-verify-XXXXXX", P_tmpdir) < 0)
			return -ENOMEM;
		if (mkdtemp(scratch) == NULL) {
			rc = -errno;
			set_err(err, errlen,
				"verify of backup %u in %s: cannot make a scratch directory: %s",
				id, backup_dir, strerror(errno));
			goto out;
		}
	}
	ro = rocksdb_restore_options_create();
	if (ro == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rocksdb_backup_engine_restore_db_from_backup(e->be, scratch, scratch, ro, id, &rerr);
	if (rerr != NULL) {
		rc = store_rocksdb_errno(rerr);
		set_err(err, errlen, "backup %u in %s does not match its checksums: %s", id,
			backup_dir, rerr);
	}
out:
	*scratch_out = scratch;
	if (ro != NULL)
		rocksdb_restore_options_destroy(ro);
	free(rerr);
	return rc;
}

int
store_backup_verify(const char *backup_dir, uint32_t id, char *err, size_t errlen)
{
	char *rerr = NULL, *scratch = NULL;
	struct store_backup_info info;
	struct engine e;
	int rc;

	rc = engine_open(backup_dir, false, false, &e, err, errlen);
	if (rc != 0)
		return rc;
	rc = engine_find(&e, backup_dir, id, &info, err, errlen);
	if (rc != 0)
		goto out;
	/* Every file there, with its size ... */
	rocksdb_backup_engine_verify_backup(e.be, info.id, &rerr);
	if (rerr != NULL) {
		rc = store_rocksdb_errno(rerr);
		set_err(err, errlen, "backup %u in %s is damaged: %s", info.id, backup_dir, rerr);
		goto out;
	}
	/* ... and every byte. */
	rc = verify_checksums(&e, backup_dir, info.id, &scratch, err, errlen);
out:
	free(rerr);
	engine_close(&e);
	if (scratch != NULL) {
		rm_tree(scratch);
		free(scratch);
	}
	return rc;
}

int
store_restore(const char *backup_dir, uint32_t id, const char *new_dir, char *err, size_t errlen)
{
	rocksdb_restore_options_t *ro = NULL;
	struct store_backup_info info;
	bool created = false;
	char *rerr = NULL;
	struct engine e;
	struct stat st;
	int rc;

	if (new_dir == NULL || new_dir[0] == '\0') {
		set_err(err, errlen, "no directory to restore into");
		return -EINVAL;
	}
	rc = engine_open(backup_dir, false, true, &e, err, errlen);
	if (rc != 0)
		return rc;
	rc = engine_find(&e, backup_dir, id, &info, err, errlen);
	if (rc != 0)
		goto out;
	/* Never over anything: the directory must be new, or empty. */
	if (stat(new_dir, &st) != 0) {
		rc = mkdir_p(new_dir, BACKUP_DIR_MODE);
		if (rc != 0) {
			set_err(err, errlen, "restore into %s: cannot create it: %s", new_dir,
				strerror(-rc));
			goto out;
		}
		created = true;
	} else {
		rc = dir_has_entries(new_dir);
		if (rc < 0) {
			set_err(err, errlen, "restore into %s: %s", new_dir, strerror(-rc));
			goto out;
		}
		if (rc > 0) {
			set_err(err, errlen,
				"restore into %s refused: it is not empty (restore into a new "
				"directory, then point storage.dir at it)",
				new_dir);
			rc = -ENOTEMPTY;
			goto out;
		}
	}
	ro = rocksdb_restore_options_create();
	if (ro == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rocksdb_restore_options_set_keep_log_files(ro, 0);
	rocksdb_backup_engine_restore_db_from_backup(e.be, new_dir, new_dir, ro, info.id, &rerr);
	if (rerr != NULL) {
		rc = store_rocksdb_errno(rerr);
		set_err(err, errlen, "restore of backup %u from %s into %s failed: %s", info.id,
			backup_dir, new_dir, rerr);
		goto out;
	}
out:
	if (ro != NULL)
		rocksdb_restore_options_destroy(ro);
	free(rerr);
	/* Closing the engine waits for copies still running after a failure. */
	engine_close(&e);
	/* Leave no half-restored database behind. */
	if (rc != 0 && created)
		rm_tree(new_dir);
	return rc;
}
