/* store.c - the SQLite store; see include/cx/store.h for what it promises.
 *
 * Connections: one for the writer thread, one for survey definitions (admin, behind a
 * mutex), and a pool of read-only ones for scores. All run WAL with synchronous=FULL.
 * API keys live in src/store_keys.c, with connections of their own; journey maps in
 * src/store_map.c, on the connection they are given; how a connection waits for the write
 * lock in src/store_busy.c. Only the store's own files (src/store*) include sqlite3.h and
 * hold SQL.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "cx/cxtime.h"
#include "cx/log.h"
#include "cx/rollup.h"
#include "cx/store.h"
#include "store_busy.h"
#include "store_keys.h"
#include "store_loop.h"
#include "store_map.h"
#include "store_rollups.h"
#include "store_invite.h"

#define BUSY_TIMEOUT_MS 5000
/* dims bitmask x bucket kind x source (UTC days, local days or all time: rollups_total)
 * x whether the read adds responses above the rollup mark */
#define QUERY_SHAPES (16 * 4 * 3 * 2)

struct reader {
	sqlite3 *db;
	sqlite3_stmt *scores[QUERY_SHAPES];
	sqlite3_stmt *begin, *uncounted, *end;   /* one snapshot for a scores read */
	int busy;
};

struct cx_store {
	char *path;
	int schema_version;
	_Atomic uint64_t data_version;   /* moved on by every commit (on_commit) */
	struct cx_busy busy;   /* writing connections wait for the write lock here (store_busy.h) */

	/* writer thread */
	sqlite3 *wdb;
	sqlite3_stmt *insert_response, *upsert_rollup, *upsert_month, *upsert_quarter;
	sqlite3_stmt *upsert_total;   /* src/store_rollups.c's SQL */
	sqlite3_stmt *idem_get, *idem_put, *idem_purge;
	sqlite3_stmt *sp_begin, *sp_release, *sp_undo;
	sqlite3_stmt *tx_begin, *tx_commit, *tx_rollback;   /* parsed once, not per transaction */
	sqlite3_stmt *tx_version;    /* PRAGMA data_version */
	sqlite3_stmt *map_admit;     /* store_map.c's, prepared on first use */
	/* survey, stage and touchpoint triples admitted, the last 8 of them: kept from one
	 * transaction to the next while no other connection commits (admitted_version, the
	 * writer connection's data_version; a PUT commits on adb, so it moves it), and no PUT
	 * can commit while the writer holds its transaction. Any other commit clears them
	 * too (webhook records, cases): with the loop busy they rarely last. */
	char admitted[8][3 * (CX_ID_MAX + 1)];
	unsigned nadmitted;
	long long admitted_version;
	struct cx_rollup_acc *acc;   /* the transaction's rollup increments */
	struct cx_rollup_lag lag;    /* what the rollups do not count yet (store_rollups.c) */
	const struct cx_response **job_rows;  /* appended in the current job, for an undo */
	size_t njob_rows, job_rows_cap;
	int job_savepoint;
	char (*learned)[CX_ID_MAX + 1];   /* surveys whose map the transaction extended */
	size_t nlearned, learned_cap;

	/* survey definitions */
	pthread_mutex_t admin_mu;
	sqlite3 *adb;
	pthread_rwlock_t survey_lock;
	struct cached_survey **surveys;   /* sorted by id */
	size_t nsurveys, cap;

	/* API keys (src/store_keys.c: connections of their own) */
	struct cx_keystore *keys;
	int must_exist;   /* CX_STORE_MUST_EXIST: never create the file */

	/* closing the loop (src/store_loop.h: each part owns its struct) */
	struct cx_outbox *outbox;
	struct cx_rulestore *rules;
	struct cx_casestore *cases;
	struct cx_invitestore *invites;
	/* the writer-family statements those parts keep (cx_store_stmt), by their SQL's address */
	struct { const char *sql; sqlite3_stmt *q; } kept[16];
	unsigned nkept;   /* CX_STORE_MUST_EXIST: never create the file */

	/* readers */
	pthread_mutex_t reader_mu;
	pthread_cond_t reader_cv;
	struct reader *readers;
	unsigned nreaders;
};

/* A client's own row first, then (for scopes that may) one from before scopes existed. */
static const char SQL_IDEM_GET[] =
	"SELECT response_id, fingerprint, scope = '' FROM idempotency WHERE survey = ?1 AND key = ?2 "
	"AND (scope = ?3 OR (?4 AND scope = '')) ORDER BY scope = '' LIMIT 1";
static const char SQL_IDEM_PUT[] =
	"INSERT INTO idempotency(survey, scope, key, fingerprint, response_id, created_at) "
	"VALUES (?1, ?6, ?2, ?3, ?4, ?5)";
static const char SQL_IDEM_PURGE[] = "DELETE FROM idempotency WHERE created_at < ?1";

static const char SQL_INSERT_RESPONSE[] =
	"INSERT INTO responses(survey, stage, touchpoint, channel, segment, customer, nps, "
	"csat, ces, comment, attributes, submitted_at, received_at) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

/* --- connection helpers --- */

/* What a connection is for: reading; writing, woken for the write lock (src/store_busy.c);
 * or writing for a background worker that commits often, which waits in SQLite's own
 * sleeps and so takes the gaps (store_loop.h, cx_store_connect_worker, says why). */
enum conn { CONN_READ, CONN_WRITE, CONN_WORKER };

static sqlite3 *connect(struct cx_store *st, enum conn kind, struct cx_error *err);

/* The cause of a failed call in words an operator acts on, from SQLite's extended code and
 * the errno of the system call under it: "" when there is nothing more to say. SQLite's
 * own record of that errno (sqlite3_system_errno) is often 0 after a failed COMMIT, so the
 * thread's errno, read before anything else could change it, stands in for it. */
static const char *fail_cause(sqlite3 *db, int sys_errno, char *buf, size_t len)
{
	int rc = sqlite3_extended_errcode(db), prim = rc & 0xff;
	int io = prim == SQLITE_IOERR || prim == SQLITE_FULL || prim == SQLITE_CANTOPEN ||
		 prim == SQLITE_READONLY;
	int e = !io ? 0 : sqlite3_system_errno(db) ? sqlite3_system_errno(db) : sys_errno;
	const char *what = NULL;

	if (prim == SQLITE_FULL || e == ENOSPC || e == EFBIG || e == EDQUOT)
		what = "the disk holding the database is full";
	else if (prim == SQLITE_READONLY || e == EROFS || e == EACCES || e == EPERM)
		what = "the database is read-only";
	else if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
		what = "the database is locked by another process";
	else if (prim == SQLITE_IOERR || prim == SQLITE_CORRUPT)
		what = "the disk failed";
	if (!what)
		return "";
	if (e)
		snprintf(buf, len, "%s (%s); ", what, strerror(e));
	else
		snprintf(buf, len, "%s; ", what);
	return buf;
}

static int db_fail(struct cx_store *st, sqlite3 *db, struct cx_error *err, const char *what)
{
	int sys_errno = errno;
	char cause[96];

	if (!db)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	return cx_error_set(err, 503, "storage_unavailable", NULL, "%s%s: %s (database '%s')",
			    fail_cause(db, sys_errno, cause, sizeof(cause)), what, sqlite3_errmsg(db), st->path);
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* Every connection that writes reports its commits here (sqlite3_wal_hook: called after
 * the commit, with the write lock released, before the COMMIT's sqlite3_step returns): the
 * data version moves on, so a reader that reads the version before its query never keeps
 * an answer under a version newer than its data. The hook replaces SQLite's automatic
 * checkpoint, which it does as SQLite would: at 1000 frames, on the committing connection.
 * (A checkpoint thread beside the writer was measured and dropped: it chased a WAL that a
 * busy writer kept growing, never letting it restart, and its fsyncs queued in front of
 * the commits' own - bench/NOTES.md.) */
static int on_commit(void *ctx, sqlite3 *db, const char *name, int frames)
{
	struct cx_store *st = ctx;

	/* a catch-up changes no answer (reads added the uncounted rows before it): the read
	 * cache keeps what it holds. Read only for the writer's connection, on its thread. */
	if (!(db == st->wdb && st->lag.counting))
		atomic_fetch_add(&st->data_version, 1);
	cx_busy_ended(&st->busy);   /* the write lock is free: whoever waits for it tries */
	if (frames >= 1000)
		sqlite3_wal_checkpoint(db, name);
	return SQLITE_OK;
}

uint64_t cx_store_data_version(struct cx_store *st)
{
	return atomic_load(&st->data_version);
}

static sqlite3 *connect(struct cx_store *st, enum conn kind, struct cx_error *err)
{
	sqlite3 *db = NULL;
	int readonly = kind == CONN_READ;
	int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
		    (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
		    (readonly || st->must_exist ? 0 : SQLITE_OPEN_CREATE);

	if (sqlite3_open_v2(st->path, &db, flags, NULL) != SQLITE_OK)
		goto fail;
	if (!readonly && sqlite3_db_readonly(db, "main") == 1) {
		/* SQLite fell back to reading: the file or its file system is read-only */
		cx_error_set(err, 503, "storage_unavailable", NULL, "the database is read-only: "
			     "cannot open it for writing (database '%s')", st->path);
		sqlite3_close(db);
		return NULL;
	}
	if (kind == CONN_WRITE)
		cx_busy_wait_here(&st->busy, db);
	else
		sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	if (!readonly) {   /* its commits and rollbacks wake the waiters */
		sqlite3_wal_hook(db, on_commit, st);
		cx_busy_watch(&st->busy, db);
	}
	/* secure_delete: deleted and overwritten content (erasure, redaction) is zeroed in its
	 * pages, freelist and overflow pages included; set here, not left to how SQLite was
	 * built (Debian's default is ON, upstream's is OFF) */
	if (exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;"))
		goto fail;
	return db;
fail:
	if (db)
		db_fail(st, db, err, "cannot open the database");
	else
		cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	sqlite3_close(db);
	return NULL;
}

static void bind_opt_text(sqlite3_stmt *q, int i, const char *s, const char *absent)
{
	if (s)
		sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
	else if (absent)
		sqlite3_bind_text(q, i, absent, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, i);
}

static void bind_opt_int(sqlite3_stmt *q, int i, int v)
{
	if (v >= 0)
		sqlite3_bind_int(q, i, v);
	else
		sqlite3_bind_null(q, i);
}

/* --- migrations --- */

static int current_version(sqlite3 *db)
{
	sqlite3_stmt *q;
	int v = -1;

	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_migrations",
			       -1, &q, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* 0, or -1 with SQLite's reason in why (taken before the ROLLBACK, which clears it). */
static int apply_migration(sqlite3 *db, const struct cx_migration *m, char *why, size_t len)
{
	sqlite3_stmt *q = NULL;
	int ok;

	if (exec(db, "BEGIN IMMEDIATE")) {
		snprintf(why, len, "%s", sqlite3_errmsg(db));
		return -1;
	}
	ok = exec(db, m->sql) == 0 &&
	     sqlite3_prepare_v2(db, "INSERT INTO schema_migrations(version, name, applied_at) "
				    "VALUES (?1, ?2, ?3)", -1, &q, NULL) == SQLITE_OK &&
	     sqlite3_bind_int(q, 1, m->version) == SQLITE_OK &&
	     sqlite3_bind_text(q, 2, m->name, -1, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_bind_int64(q, 3, cx_time_now()) == SQLITE_OK &&
	     sqlite3_step(q) == SQLITE_DONE;
	sqlite3_finalize(q);
	if (ok && exec(db, "COMMIT") == 0)
		return 0;
	snprintf(why, len, "%s", sqlite3_errmsg(db));
	exec(db, "ROLLBACK");
	return -1;
}

static int migrate(struct cx_store *st, struct cx_error *err)
{
	sqlite3 *db = st->wdb;
	int v;

	if (exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
		     "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"))
		return cx_error_set(err, 503, "storage_unavailable", NULL,
				    "cannot open database '%s': %s", st->path, sqlite3_errmsg(db));
	v = current_version(db);
	if (v < 0)
		return db_fail(st, db, err, "reading schema version");
	if ((size_t)v > cx_migrations_count)
		return cx_error_set(err, 503, "storage_unavailable", NULL,
				    "database '%s' has schema version %d, newer than this cxd "
				    "knows (%zu): upgrade cxd", st->path, v, cx_migrations_count);
	for (size_t i = (size_t)v; i < cx_migrations_count; i++) {
		char why[256];

		if (apply_migration(db, &cx_migrations[i], why, sizeof(why)))
			return cx_error_set(err, 503, "storage_unavailable", NULL,
					    "database '%s': migration %03d_%s failed: %s", st->path,
					    cx_migrations[i].version, cx_migrations[i].name, why);
		cx_log_info("database %s: applied migration %03d_%s", st->path,
			    cx_migrations[i].version, cx_migrations[i].name);
	}
	st->schema_version = (int)cx_migrations_count;
	return 0;
}

/* --- writer statements --- */

/* The rollup upsert into `table` (rollups by day, rollups_month by month): ?1-?6 the key,
 * ?7 responses, ?8-?30 the 23 histogram cells (nps0-10, csat1-5, ces1-7), each added to
 * what the row holds. */
static char *rollup_sql(const char *table, const char *period)
{
	static const struct { const char *col; int lo, hi; } m[] = {
		{ "nps", 0, 10 }, { "csat", 1, 5 }, { "ces", 1, 7 },
	};
	size_t cap = 8192, n = 0;
	char *s = malloc(cap);
	int param = 8;

	if (!s)
		return NULL;
	n += (size_t)snprintf(s + n, cap - n, "INSERT INTO %s(survey, %s, stage, touchpoint, "
			      "channel, segment, responses", table, period);
	for (size_t k = 0; k < 3; k++)
		for (int v = m[k].lo; v <= m[k].hi; v++)
			n += (size_t)snprintf(s + n, cap - n, ", %s%d", m[k].col, v);
	n += (size_t)snprintf(s + n, cap - n, ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7");
	for (size_t k = 0; k < 3; k++)
		for (int v = m[k].lo; v <= m[k].hi; v++)
			n += (size_t)snprintf(s + n, cap - n, ", ?%d", param++);
	n += (size_t)snprintf(s + n, cap - n, ") ON CONFLICT(survey, %s, stage, touchpoint, "
			      "channel, segment) DO UPDATE SET responses = responses + "
			      "excluded.responses", period);
	for (size_t k = 0; k < 3; k++)
		for (int v = m[k].lo; v <= m[k].hi; v++)
			n += (size_t)snprintf(s + n, cap - n, ", %s%d = %s%d + excluded.%s%d",
					      m[k].col, v, m[k].col, v, m[k].col, v);
	return s;
}

/* The writer's statements whose SQL is a constant: prepared once when the store opens,
 * finalized when it closes (the rollup upserts, built from their tables' names, and
 * map_admit, prepared on first use, are handled beside this list). */
#define KEPT(field, sql, flags) { offsetof(struct cx_store, field), sql, flags }
static const struct {
	size_t field;   /* a sqlite3_stmt * of struct cx_store */
	const char *sql;
	unsigned flags;
} writer_sql[] = {
	KEPT(insert_response, SQL_INSERT_RESPONSE, SQLITE_PREPARE_PERSISTENT),
	KEPT(idem_get, SQL_IDEM_GET, SQLITE_PREPARE_PERSISTENT),
	KEPT(idem_put, SQL_IDEM_PUT, SQLITE_PREPARE_PERSISTENT),
	KEPT(idem_purge, SQL_IDEM_PURGE, 0),
	KEPT(sp_begin, "SAVEPOINT job", SQLITE_PREPARE_PERSISTENT),
	KEPT(sp_release, "RELEASE job", SQLITE_PREPARE_PERSISTENT),
	KEPT(sp_undo, "ROLLBACK TO job", SQLITE_PREPARE_PERSISTENT),
	KEPT(tx_begin, "BEGIN IMMEDIATE", SQLITE_PREPARE_PERSISTENT),
	KEPT(tx_commit, "COMMIT", SQLITE_PREPARE_PERSISTENT),
	KEPT(tx_rollback, "ROLLBACK", SQLITE_PREPARE_PERSISTENT),
	KEPT(tx_version, "PRAGMA data_version", SQLITE_PREPARE_PERSISTENT),
};
#undef KEPT

static sqlite3_stmt **writer_stmt(struct cx_store *st, size_t i)
{
	return (sqlite3_stmt **)((char *)st + writer_sql[i].field);
}

static int prepare_writer(struct cx_store *st, struct cx_error *err)
{
	char *sql = rollup_sql("rollups", "day");
	char *msql = rollup_sql("rollups_month", "month");
	char *qsql = rollup_sql("rollups_quarter", "quarter");
	char *tsql = cx_rollups_total_upsert_sql();
	int rc = SQLITE_OK;

	for (size_t i = 0; rc == SQLITE_OK && i < sizeof(writer_sql) / sizeof(writer_sql[0]); i++)
		rc = sqlite3_prepare_v3(st->wdb, writer_sql[i].sql, -1, writer_sql[i].flags,
					writer_stmt(st, i), NULL);
	if (rc == SQLITE_OK && sql && msql)
		rc = sqlite3_prepare_v3(st->wdb, sql, -1, SQLITE_PREPARE_PERSISTENT,
					&st->upsert_rollup, NULL);
	if (rc == SQLITE_OK && sql && msql)
		rc = sqlite3_prepare_v3(st->wdb, msql, -1, SQLITE_PREPARE_PERSISTENT,
					&st->upsert_month, NULL);
	if (rc == SQLITE_OK && qsql)
		rc = sqlite3_prepare_v3(st->wdb, qsql, -1, SQLITE_PREPARE_PERSISTENT,
					&st->upsert_quarter, NULL);
	if (rc == SQLITE_OK && tsql)
		rc = sqlite3_prepare_v3(st->wdb, tsql, -1, SQLITE_PREPARE_PERSISTENT,
					&st->upsert_total, NULL);
	st->admitted_version = -1;
	free(sql);
	free(msql);
	free(qsql);
	free(tsql);
	if (rc != SQLITE_OK || !sql || !msql || !qsql || !tsql)
		return db_fail(st, st->wdb, err, "preparing statements");
	if (!(st->acc = cx_rollup_new()))
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	return 0;
}

/* --- survey cache --- */

/* A cached definition never changes: a new one replaces it, and it is freed when the cache
 * and the last request holding it (cx_store_survey_ref) have let go. */
struct cached_survey {
	atomic_uint refs;
	struct cx_survey s;
};

static void survey_unref(struct cached_survey *c)
{
	if (atomic_fetch_sub(&c->refs, 1) == 1) {
		cx_survey_release(&c->s);
		free(c);
	}
}

static int cmp_survey(const void *a, const void *b)
{
	return strcmp((*(struct cached_survey *const *)a)->s.id,
		      (*(struct cached_survey *const *)b)->s.id);
}

static struct cached_survey **find_cached(struct cx_store *st, const char *id)
{
	struct cached_survey key, *k = &key;

	if (st->nsurveys == 0)
		return NULL;
	snprintf(key.s.id, sizeof(key.s.id), "%s", id);
	return bsearch(&k, st->surveys, st->nsurveys, sizeof(k), cmp_survey);
}

static struct cx_survey *find_survey(struct cx_store *st, const char *id)
{
	struct cached_survey **c = find_cached(st, id);

	return c ? &(*c)->s : NULL;
}

/* Put s (taken over) into the cache; caller holds the write lock. */
static int cache_survey(struct cx_store *st, struct cx_survey *s)
{
	struct cached_survey **old = find_cached(st, s->id), *c = malloc(sizeof(*c));

	if (!c)
		return -1;
	atomic_init(&c->refs, 1);   /* the cache's */
	c->s = *s;
	if (old) {
		survey_unref(*old);
		*old = c;
		return 0;
	}
	if (st->nsurveys == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 16;
		struct cached_survey **p = realloc(st->surveys, cap * sizeof(*p));

		if (!p) {
			free(c);
			return -1;
		}
		st->surveys = p;
		st->cap = cap;
	}
	st->surveys[st->nsurveys++] = c;
	qsort(st->surveys, st->nsurveys, sizeof(c), cmp_survey);
	return 0;
}

static int survey_from_row(sqlite3_stmt *q, struct cx_survey *s)
{
	json_t *stages = json_loads((const char *)sqlite3_column_text(q, 2), 0, NULL);
	size_t i;
	json_t *v;

	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", (const char *)sqlite3_column_text(q, 0));
	s->title = strdup((const char *)sqlite3_column_text(q, 1));
	json_array_foreach(stages, i, v)
		if (s->nstages < CX_STAGES_MAX && json_is_string(v))
			s->stages[s->nstages++] = strdup(json_string_value(v));
	json_decref(stages);
	if (sqlite3_column_type(q, 3) != SQLITE_NULL)
		s->thank_you_url = strdup((const char *)sqlite3_column_text(q, 3));
	s->created_at = sqlite3_column_int64(q, 4);
	s->updated_at = sqlite3_column_int64(q, 5);
	s->is_public = sqlite3_column_int(q, 6);
	if (sqlite3_column_type(q, 7) != SQLITE_NULL) {
		json_t *o = json_loads((const char *)sqlite3_column_text(q, 7), 0, NULL);

		json_array_foreach(o, i, v)
			if (s->norigins < CX_ORIGINS_MAX && json_is_string(v))
				s->origins[s->norigins++] = strdup(json_string_value(v));
		json_decref(o);
	}
	return 0;
}

static int load_surveys(struct cx_store *st, struct cx_error *err)
{
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(st->adb, "SELECT id, title, stages, thank_you_url, created_at, "
				       "updated_at, public, allowed_origins FROM surveys", -1, &q,
				       NULL) != SQLITE_OK)
		return db_fail(st, st->adb, err, "loading surveys");
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct cx_survey s;

		survey_from_row(q, &s);
		if (cx_store_map_load(st->adb, &s, err) ||
		    cx_casestore_root_causes_load(st->adb, &s, err) ||
		    cx_hosted_load(st->adb, &s, err)) {
			cx_survey_release(&s);
			sqlite3_finalize(q);
			return -1;
		}
		cache_survey(st, &s);
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : db_fail(st, st->adb, err, "loading surveys");
}

/* --- API keys: src/store_keys.c --- */

struct cx_keystore *cx_store_keystore(struct cx_store *st)
{
	return st->keys;
}

/* --- open / close --- */

/* A -wal beside path with something in it: path is a database whose pages are all still
 * in its log (its main file may then be empty). */
static int wal_holds_data(const char *path)
{
	char wal[4096];
	struct stat sb;

	if (snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal))
		return 1;   /* cannot tell: let SQLite decide */
	return stat(wal, &sb) == 0 && sb.st_size > 0;
}

/* SQLite's memory statistics take a global mutex on every malloc and free (3-4% of the
 * writer's time in an import); cxd reads none of them. Only possible before SQLite's first
 * use in the process: later it is refused, harmlessly. */
static void sqlite_config_once(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int cx_store_open(struct cx_store **out, const char *path, unsigned readers,
		  struct cx_error *err)
{
	return cx_store_open_flags(out, path, readers, 0, err);
}

int cx_store_open_flags(struct cx_store **out, const char *path, unsigned readers,
			unsigned flags, struct cx_error *err)
{
	static pthread_once_t config_once = PTHREAD_ONCE_INIT;
	struct cx_store *st;
	struct stat sb;

	*out = NULL;
	pthread_once(&config_once, sqlite_config_once);
	if ((flags & CX_STORE_MUST_EXIST) && stat(path, &sb) != 0)
		return cx_error_set(err, 404, "no_database", NULL, "no database at '%s' (%s): "
				    "only the server creates one; check --db or CXD_DB", path,
				    strerror(errno));
	if ((flags & CX_STORE_MUST_EXIST) && S_ISREG(sb.st_mode) && sb.st_size == 0 &&
	    !wal_holds_data(path))   /* SQLite would make a new database in an empty file */
		return cx_error_set(err, 404, "no_database", NULL, "no database at '%s' (an "
				    "empty file): only the server creates one; check --db or CXD_DB",
				    path);
	if (!(st = calloc(1, sizeof(*st))))
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	st->must_exist = (flags & CX_STORE_MUST_EXIST) != 0;
	st->path = strdup(path);
	if (cx_busy_init(&st->busy, BUSY_TIMEOUT_MS)) {
		free(st->path);
		free(st);
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	}
	pthread_mutex_init(&st->admin_mu, NULL);
	pthread_rwlock_init(&st->survey_lock, NULL);
	pthread_mutex_init(&st->reader_mu, NULL);
	pthread_cond_init(&st->reader_cv, NULL);
	if (!(st->wdb = connect(st, CONN_WRITE, err)))
		goto fail;
	if (exec(st->wdb, "PRAGMA journal_mode=WAL")) {
		db_fail(st, st->wdb, err, "cannot switch to WAL");
		snprintf(err->message, sizeof(err->message), "cannot open database '%s': %s",
			 path, sqlite3_errmsg(st->wdb));
		goto fail;
	}
	if (migrate(st, err) || prepare_writer(st, err) || cx_rollups_open(st, !st->must_exist, err))
		goto fail;
	if (!(st->adb = connect(st, CONN_WRITE, err)) || load_surveys(st, err) ||
	    cx_keystore_open(&st->keys, path, &st->busy, err) || cx_outbox_open(st, &st->outbox, err) ||
	    cx_rulestore_open(st, &st->rules, err) || cx_casestore_open(st, &st->cases, err) ||
	    cx_invitestore_open(st, &st->invites, err))
		goto fail;
	st->readers = calloc(readers ? readers : 1, sizeof(*st->readers));
	st->nreaders = readers ? readers : 1;
	for (unsigned i = 0; i < st->nreaders; i++)
		if (!(st->readers[i].db = connect(st, CONN_READ, err)))
			goto fail;
	*out = st;
	return 0;
fail:
	cx_store_close(st);
	return -1;
}

void cx_store_close(struct cx_store *st)
{
	if (!st)
		return;
	for (unsigned i = 0; st->readers && i < st->nreaders; i++) {
		for (int k = 0; k < QUERY_SHAPES; k++)
			sqlite3_finalize(st->readers[i].scores[k]);
		sqlite3_finalize(st->readers[i].begin);
		sqlite3_finalize(st->readers[i].uncounted);
		sqlite3_finalize(st->readers[i].end);
		sqlite3_close(st->readers[i].db);
	}
	free(st->readers);
	for (size_t i = 0; i < sizeof(writer_sql) / sizeof(writer_sql[0]); i++)
		sqlite3_finalize(*writer_stmt(st, i));
	sqlite3_finalize(st->upsert_rollup);
	sqlite3_finalize(st->upsert_month);
	sqlite3_finalize(st->upsert_quarter);
	sqlite3_finalize(st->upsert_total);
	sqlite3_finalize(st->map_admit);
	cx_rollup_free(st->acc);
	free(st->job_rows);
	cx_keystore_close(st->keys);
	cx_invitestore_close(st->invites);
	cx_casestore_close(st->cases);
	cx_rulestore_close(st->rules);
	cx_outbox_close(st->outbox);
	for (unsigned i = 0; i < st->nkept; i++)
		sqlite3_finalize(st->kept[i].q);
	free(st->learned);
	sqlite3_close(st->adb);
	sqlite3_close(st->wdb);   /* the last connection checkpoints and removes the WAL */
	for (size_t i = 0; i < st->nsurveys; i++)
		survey_unref(st->surveys[i]);
	free(st->surveys);
	pthread_mutex_destroy(&st->admin_mu);
	pthread_rwlock_destroy(&st->survey_lock);
	pthread_mutex_destroy(&st->reader_mu);
	pthread_cond_destroy(&st->reader_cv);
	cx_busy_destroy(&st->busy);
	free(st->path);
	free(st);
}

int cx_store_schema_version(struct cx_store *st)
{
	return st->schema_version;
}

/* --- surveys --- */

/* Re-read survey id (row and map) into the cache; caller holds admin_mu. */
static int reload_survey(struct cx_store *st, const char *id, struct cx_error *err)
{
	sqlite3_stmt *q;
	struct cx_survey s;
	int rc;

	if (sqlite3_prepare_v2(st->adb, "SELECT id, title, stages, thank_you_url, created_at, "
			       "updated_at, public, allowed_origins FROM surveys WHERE id = ?1", -1,
			       &q, NULL) != SQLITE_OK)
		return db_fail(st, st->adb, err, "loading a survey");
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(q);
		return rc == SQLITE_DONE ? 0 : db_fail(st, st->adb, err, "loading a survey");
	}
	survey_from_row(q, &s);
	sqlite3_finalize(q);
	if (cx_store_map_load(st->adb, &s, err) ||
	    cx_casestore_root_causes_load(st->adb, &s, err) ||
	    cx_hosted_load(st->adb, &s, err)) {
		cx_survey_release(&s);
		return -1;
	}
	pthread_rwlock_wrlock(&st->survey_lock);
	rc = cache_survey(st, &s);
	pthread_rwlock_unlock(&st->survey_lock);
	/* answers use the definition held here, which changes after the commit moved the
	 * version: a read between the two kept the old one under the new version */
	atomic_fetch_add(&st->data_version, 1);
	if (rc) {
		cx_survey_release(&s);
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	}
	return 0;
}

int cx_store_survey_put(struct cx_store *st, const struct cx_survey *s, int replace,
			int *created, struct cx_error *err)
{
	static const char sql[] =
		"INSERT INTO surveys(id, title, stages, thank_you_url, created_at, updated_at, public, "
		"allowed_origins) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?7, ?8) ON CONFLICT(id) DO UPDATE "
		"SET title = ?2, stages = ?3, thank_you_url = ?4, updated_at = ?5, public = ?7, "
		"allowed_origins = ?8 WHERE ?6 RETURNING created_at, updated_at";
	json_t *stages = json_array(), *origins = json_array();
	char *stages_text, *origins_text;
	sqlite3_stmt *q = NULL;
	int64_t now = cx_time_now();
	int rc = -1, step, in_tx = 0;

	for (size_t i = 0; i < s->nstages; i++)
		json_array_append_new(stages, json_string(s->stages[i]));
	stages_text = json_dumps(stages, JSON_COMPACT);
	json_decref(stages);
	for (size_t i = 0; i < s->norigins; i++)
		json_array_append_new(origins, json_string(s->origins[i]));
	origins_text = json_dumps(origins, JSON_COMPACT);
	json_decref(origins);

	pthread_mutex_lock(&st->admin_mu);
	if (exec(st->adb, "BEGIN IMMEDIATE")) {
		db_fail(st, st->adb, err, "defining a survey");
		goto out;
	}
	in_tx = 1;
	/* a replacement may not orphan stored responses (stage_in_use / touchpoint_in_use) */
	if (replace && cx_store_map_check(st->adb, s, err))
		goto out;
	if (sqlite3_prepare_v2(st->adb, sql, -1, &q, NULL) != SQLITE_OK) {
		db_fail(st, st->adb, err, "defining a survey");
		goto out;
	}
	sqlite3_bind_text(q, 1, s->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, s->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, stages_text, -1, SQLITE_STATIC);
	if (s->thank_you_url)
		sqlite3_bind_text(q, 4, s->thank_you_url, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, now);
	sqlite3_bind_int(q, 6, replace);
	sqlite3_bind_int(q, 7, s->is_public);
	sqlite3_bind_text(q, 8, origins_text, -1, SQLITE_STATIC);
	step = sqlite3_step(q);
	if (step == SQLITE_DONE) {   /* conflict and not replacing: nothing returned */
		cx_error_set(err, 409, "survey_exists", "id",
			     "survey '%s' exists; PUT /v1/surveys/%s replaces it", s->id, s->id);
		goto out;
	}
	if (step != SQLITE_ROW) {
		db_fail(st, st->adb, err, "defining a survey");
		goto out;
	}
	sqlite3_finalize(q);
	q = NULL;
	if (cx_store_map_save(st->adb, s, err) ||
	    cx_casestore_root_causes_save(st->adb, s, err) || cx_hosted_save(st->adb, s, err))
		goto out;
	if (exec(st->adb, "COMMIT")) {
		db_fail(st, st->adb, err, "defining a survey");
		goto out;
	}
	in_tx = 0;
	*created = !find_survey(st, s->id);   /* the cache only changes under admin_mu */
	rc = reload_survey(st, s->id, err);
out:
	sqlite3_finalize(q);
	if (in_tx)
		exec(st->adb, "ROLLBACK");
	pthread_mutex_unlock(&st->admin_mu);
	free(stages_text);
	free(origins_text);
	return rc;
}

int cx_store_survey_get(struct cx_store *st, const char *id, struct cx_survey *out)
{
	struct cx_survey *s;
	int rc = -1;

	pthread_rwlock_rdlock(&st->survey_lock);
	if ((s = find_survey(st, id)))
		rc = cx_survey_copy(out, s);
	pthread_rwlock_unlock(&st->survey_lock);
	return rc;
}

const struct cx_survey *cx_store_survey_ref(struct cx_store *st, const char *id)
{
	struct cached_survey **c;
	const struct cx_survey *s = NULL;

	pthread_rwlock_rdlock(&st->survey_lock);
	if ((c = find_cached(st, id))) {
		atomic_fetch_add(&(*c)->refs, 1);
		s = &(*c)->s;
	}
	pthread_rwlock_unlock(&st->survey_lock);
	return s;
}

void cx_store_survey_unref(const struct cx_survey *s)
{
	if (s)
		survey_unref((struct cached_survey *)((char *)s - offsetof(struct cached_survey, s)));
}

json_t *cx_store_survey_title(struct cx_store *st, const char *id)
{
	struct cx_survey *s;
	json_t *title = NULL;

	pthread_rwlock_rdlock(&st->survey_lock);
	if ((s = find_survey(st, id)) && s->title)
		title = json_string(s->title);
	pthread_rwlock_unlock(&st->survey_lock);
	return title;
}

int cx_store_origin_public(struct cx_store *st, const char *origin)
{
	int found = 0;

	pthread_rwlock_rdlock(&st->survey_lock);
	for (size_t i = 0; i < st->nsurveys && !found; i++)
		found = st->surveys[i]->s.is_public &&
			cx_survey_origin_allowed(&st->surveys[i]->s, origin);
	pthread_rwlock_unlock(&st->survey_lock);
	return found;
}

json_t *cx_store_survey_list(struct cx_store *st)
{
	json_t *list = json_array();

	pthread_rwlock_rdlock(&st->survey_lock);
	for (size_t i = 0; i < st->nsurveys; i++)
		json_array_append_new(list, cx_survey_to_json(&st->surveys[i]->s));
	pthread_rwlock_unlock(&st->survey_lock);
	return list;
}

/* --- writer family --- */

static int step_once(sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);

	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc;
}

int cx_store_begin(struct cx_store *st, struct cx_error *err)
{
	long long version = -1;

	cx_rollup_clear(st->acc);
	if (step_once(st->tx_begin) != SQLITE_DONE)
		return db_fail(st, st->wdb, err, "begin");
	/* read inside the transaction: nothing commits between this and the COMMIT */
	if (sqlite3_step(st->tx_version) == SQLITE_ROW)
		version = sqlite3_column_int64(st->tx_version, 0);
	sqlite3_reset(st->tx_version);
	if (version < 0 || version != st->admitted_version)
		st->nadmitted = 0;
	st->admitted_version = version;
	return 0;
}

int cx_store_job_begin(struct cx_store *st, int savepoint, struct cx_error *err)
{
	st->njob_rows = 0;
	st->job_savepoint = savepoint;
	if (savepoint && step_once(st->sp_begin) != SQLITE_DONE)
		return db_fail(st, st->wdb, err, "savepoint");
	return 0;
}

static int upsert_one(sqlite3_stmt *q, const struct cx_rollup_key *k, int64_t period,
		      const struct cx_hist *h)
{
	int p = 8;

	sqlite3_bind_text(q, 1, k->survey, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, period);
	sqlite3_bind_text(q, 3, k->stage, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, k->touchpoint, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, k->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, k->segment, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 7, h->responses);
	for (int v = 0; v < 11; v++)
		sqlite3_bind_int64(q, p++, h->nps[v]);
	for (int v = 0; v < 5; v++)
		sqlite3_bind_int64(q, p++, h->csat[v]);
	for (int v = 0; v < 7; v++)
		sqlite3_bind_int64(q, p++, h->ces[v]);
	return step_once(q) == SQLITE_DONE ? 0 : -1;
}

/* Rollup rows an erasure emptied are deleted, so the groups always match the rows. */
static int drop_empty(struct cx_store *st, const char *table, const char *period,
		      const struct cx_rollup_key *k, int64_t value)
{
	char sql[256];
	sqlite3_stmt *q;
	int rc;

	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE survey = ?1 AND %s = ?2 AND stage = ?3 "
		 "AND touchpoint = ?4 AND channel = ?5 AND segment = ?6 AND responses = 0",
		 table, period);
	if (sqlite3_prepare_v2(st->wdb, sql, -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, k->survey, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, value);
	sqlite3_bind_text(q, 3, k->stage, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, k->touchpoint, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, k->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, k->segment, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* One key's counts into its quarter-hour, day, month and all-time rows. */
static int upsert_rollup(void *ctx, const struct cx_rollup_key *k, const struct cx_hist *h)
{
	struct cx_store *st = ctx;
	int64_t month = cx_time_month_start(k->day);

	if (upsert_one(st->upsert_quarter, k, k->quarter, h) ||
	    upsert_one(st->upsert_rollup, k, k->day, h) ||
	    upsert_one(st->upsert_month, k, month, h) ||
	    upsert_one(st->upsert_total, k, 0, h))   /* ?2 unused: no period */
		return -1;
	if (h->responses < 0 &&   /* an erasure: rows may have gone to zero */
	    (drop_empty(st, "rollups_quarter", "quarter", k, k->quarter) ||
	     drop_empty(st, "rollups", "day", k, k->day) ||
	     drop_empty(st, "rollups_month", "month", k, month) ||
	     cx_rollups_total_drop_empty(st->wdb, k)))
		return -1;
	return 0;
}

void cx_store_job_end(struct cx_store *st, int keep)
{
	if (!keep) {
		/* take the job's rows back out of the rollup counts, then out of the tables */
		for (size_t i = 0; i < st->njob_rows; i++)
			cx_rollup_add(st->acc, st->job_rows[i], -1);
		if (st->job_savepoint)
			step_once(st->sp_undo);
		st->nadmitted = 0;   /* a touchpoint the job learned is gone again */
	}
	if (st->job_savepoint)
		step_once(st->sp_release);
	st->njob_rows = 0;
}


static const struct cx_idem_scope no_scope = { "", 0 };

/* 1 and *id if r's key was seen in scope with the same fingerprint, 0 if the key is new,
 * -1 with err (409 or 503) otherwise. A legacy row (scope '', client unknown) can make a
 * replay but never a conflict: with another fingerprint it may be a squatter's, so the key
 * is new in the client's own scope. The 409 names no response. */
static int idem_lookup(struct cx_store *st, const struct cx_response *r,
		       const struct cx_idem_scope *scope, int64_t *id, struct cx_error *err)
{
	sqlite3_stmt *q = st->idem_get;
	int rc;

	sqlite3_bind_text(q, 1, r->survey, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, r->idem_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, scope->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 4, scope->legacy);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(q, 0);
		rc = (uint64_t)sqlite3_column_int64(q, 1) == r->fingerprint ? 1
		     : sqlite3_column_int(q, 2) ? 0 : 2;
	} else {
		rc = rc == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc == 2)
		return cx_error_set(err, 409, "idempotency_conflict", "response_id",
				    "idempotency key '%.128s' was already used for a different "
				    "response", r->idem_key);
	return rc < 0 ? db_fail(st, st->wdb, err, "idempotency lookup") : rc;
}

static int idem_record(struct cx_store *st, const struct cx_response *r,
		       const struct cx_idem_scope *scope, int64_t id)
{
	sqlite3_stmt *q = st->idem_put;

	sqlite3_bind_text(q, 1, r->survey, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, r->idem_key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, (int64_t)r->fingerprint);
	sqlite3_bind_int64(q, 4, id);
	sqlite3_bind_int64(q, 5, r->received_ms / 1000);
	sqlite3_bind_text(q, 6, scope->name, -1, SQLITE_STATIC);
	return step_once(q) == SQLITE_DONE ? 0 : -1;
}

/* Remember that survey's map grew in this transaction (its cache is re-read at commit). */
static int note_learned(struct cx_store *st, const char *survey, struct cx_error *err)
{
	for (size_t i = 0; i < st->nlearned; i++)
		if (strcmp(st->learned[i], survey) == 0)
			return 0;
	if (st->nlearned == st->learned_cap) {
		size_t cap = st->learned_cap ? st->learned_cap * 2 : 4;
		char (*p)[CX_ID_MAX + 1] = realloc(st->learned, cap * sizeof(*p));

		if (!p)
			return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
		st->learned = p;
		st->learned_cap = cap;
	}
	snprintf(st->learned[st->nlearned++], CX_ID_MAX + 1, "%s", survey);
	return 0;
}

/* After a commit: the surveys whose map grew are re-read into the cache, under admin_mu so
 * that a concurrent PUT's cache update cannot be overtaken by an older view. */
static void reload_learned(struct cx_store *st)
{
	struct cx_error err;

	if (!st->nlearned)
		return;
	pthread_mutex_lock(&st->admin_mu);
	for (size_t i = 0; i < st->nlearned; i++)
		if (reload_survey(st, st->learned[i], &err))
			cx_log_error("re-reading survey %s's journey map: %s", st->learned[i],
				     err.message);
	pthread_mutex_unlock(&st->admin_mu);
	st->nlearned = 0;
}

/* Whether memo entry e ("survey\nstage\ntouchpoint") is r's triple, whose parts have
 * the lengths len[], summing to less than an entry: compared in place, as formatting the
 * triple for every row took 3-4% of the writer's time in a 10,000-row import. */
static int admitted_is(const char *e, const struct cx_response *r, const size_t len[3])
{
	const char *part[3] = { r->survey, r->stage, r->touchpoint };

	for (int k = 0; k < 3; k++) {
		if (memcmp(e, part[k], len[k]) != 0 || e[len[k]] != (k < 2 ? '\n' : '\0'))
			return 0;
		e += len[k] + 1;
	}
	return 1;
}

int cx_store_append(struct cx_store *st, const struct cx_response *r,
		    const struct cx_idem_scope *scope, int64_t *id, int *replayed,
		    struct cx_error *err)
{
	sqlite3_stmt *q = st->insert_response;
	unsigned memo = st->nadmitted < 8 ? st->nadmitted : 8, i;
	size_t len[3];
	int rc, fits;

	int have = 1;

	*replayed = 0;
	if (!scope || !scope->name)
		scope = &no_scope;
	if (r->idem_key) {
		rc = idem_lookup(st, r, scope, id, err);
		if (rc != 0) {
			*replayed = rc == 1;
			return rc == 1 ? 0 : -1;
		}
	}
	/* the stage and touchpoint under the definition in the file (a PUT may have dropped
	 * them since r was validated), and room under the cap for a new touchpoint: checked
	 * before anything is written, so a refusal writes nothing */
	len[0] = strlen(r->survey);
	len[1] = strlen(r->stage);
	len[2] = strlen(r->touchpoint);
	fits = len[0] + len[1] + len[2] + 3 <= sizeof(st->admitted[0]);   /* ids, labels: <= 64 */
	for (i = 0; fits && i < memo && !admitted_is(st->admitted[i], r, len); i++)
		;
	if (!fits || i == memo) {
		if ((have = cx_store_map_admit(st->wdb, &st->map_admit, r, err)) < 0)
			return -1;
		if (have && fits)
			snprintf(st->admitted[st->nadmitted++ % 8], sizeof(st->admitted[0]),
				 "%s\n%s\n%s", r->survey, r->stage, r->touchpoint);
	}
	sqlite3_bind_text(q, 1, r->survey, (int)len[0], SQLITE_STATIC);
	sqlite3_bind_text(q, 2, r->stage, (int)len[1], SQLITE_STATIC);
	sqlite3_bind_text(q, 3, r->touchpoint, (int)len[2], SQLITE_STATIC);
	bind_opt_text(q, 4, r->channel, NULL);
	bind_opt_text(q, 5, r->segment, NULL);
	bind_opt_text(q, 6, r->customer, NULL);
	bind_opt_int(q, 7, r->nps);
	bind_opt_int(q, 8, r->csat);
	bind_opt_int(q, 9, r->ces);
	bind_opt_text(q, 10, r->comment, NULL);
	bind_opt_text(q, 11, r->attributes, NULL);
	sqlite3_bind_int64(q, 12, r->submitted_at);
	sqlite3_bind_int64(q, 13, r->received_ms);
	rc = step_once(q);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return cx_error_set(err, 422, "rejected", NULL, "the database refused the "
				    "response: %s", sqlite3_errmsg(st->wdb));
	if (rc != SQLITE_DONE)
		return db_fail(st, st->wdb, err, "insert");
	*id = sqlite3_last_insert_rowid(st->wdb);
	if (r->idem_key && idem_record(st, r, scope, *id))
		return db_fail(st, st->wdb, err, "idempotency record");
	if (!have && (cx_store_map_learn(st->wdb, r, err) || note_learned(st, r->survey, err)))
		return -1;
	if (st->njob_rows == st->job_rows_cap) {
		size_t cap = st->job_rows_cap ? st->job_rows_cap * 2 : 64;
		const struct cx_response **p = realloc(st->job_rows, cap * sizeof(*p));

		if (!p)
			return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
		st->job_rows = p;
		st->job_rows_cap = cap;
	}
	if (*id > st->lag.upto) {   /* counted after the commit (src/store_rollups.c) */
		st->lag.pending++;
		return 0;
	}
	/* SQLite gives an erased highest id out again: a row at or under the mark is
	 * counted in this transaction, as the mark promises */
	if (cx_rollup_add(st->acc, r, 1))
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	st->job_rows[st->njob_rows++] = r;
	return 0;
}

int cx_store_purge_idempotency(struct cx_store *st, int64_t before_s)
{
	sqlite3_bind_int64(st->idem_purge, 1, before_s);
	if (step_once(st->idem_purge) != SQLITE_DONE)
		return -1;
	return sqlite3_changes(st->wdb);
}

int cx_store_commit(struct cx_store *st, struct cx_error *err)
{
	/* the rollups first, one upsert per key the transaction touched */
	if (cx_rollup_each(st->acc, upsert_rollup, st) == 0 &&
	    step_once(st->tx_commit) == SQLITE_DONE) {
		cx_rollup_clear(st->acc);
		reload_learned(st);
		return 0;
	}
	db_fail(st, st->wdb, err, "commit");
	cx_store_rollback(st);
	return -1;
}

void cx_store_rollback(struct cx_store *st)
{
	cx_rollup_clear(st->acc);
	st->nlearned = 0;
	st->nadmitted = 0;   /* touchpoints the transaction learned are gone again */
	if (!sqlite3_get_autocommit(st->wdb))
		step_once(st->tx_rollback);
}

/* --- scores --- */

static struct reader *reader_take(struct cx_store *st)
{
	struct reader *r = NULL;

	pthread_mutex_lock(&st->reader_mu);
	while (!r) {
		for (unsigned i = 0; i < st->nreaders && !r; i++)
			if (!st->readers[i].busy)
				r = &st->readers[i];
		if (!r)
			pthread_cond_wait(&st->reader_cv, &st->reader_mu);
	}
	r->busy = 1;
	pthread_mutex_unlock(&st->reader_mu);
	return r;
}

static void reader_give(struct cx_store *st, struct reader *r)
{
	pthread_mutex_lock(&st->reader_mu);
	r->busy = 0;
	pthread_cond_signal(&st->reader_cv);
	pthread_mutex_unlock(&st->reader_mu);
}

/* Result columns: 0-3 stage, touchpoint, channel, segment (NULL when not grouped on),
 * 4 bucket day, 5 responses, 6-16 nps0-10, 17-21 csat1-5, 22-28 ces1-7.
 * Rows come from the daily rollups for days in [?2, ?3) and [?4, ?5) and from the monthly
 * rollups for months in [?6, ?7) (see split_range); ?8-?11 filter stage, touchpoint,
 * channel, segment. `d` is the day (or the month's first day) a row stands for. An all-time
 * read (SRC_TOTAL, no bucket) reads rollups_total and ignores ?2-?7. With `uncounted`
 * the read adds the responses the rollups do not count yet, those above rollup_mark
 * (submitted in [?13, ?14) seconds): cx_store_scores asks for it when its snapshot holds
 * any, so the answer is exact whatever the lag (and costs nothing more when there is none:
 * the arm would make SQLite sort what it now groups in key order). */
enum scores_source { SRC_UTC, SRC_LOCAL, SRC_TOTAL };

static char *scores_sql(unsigned dims, enum cx_bucket bucket, enum scores_source src,
			int uncounted)
{
	static const char *const dim_cols[] = { "stage", "touchpoint", "channel", "segment" };
	static const char *const bucket_expr[] = {
		[CX_BUCKET_NONE] = "NULL",
		[CX_BUCKET_DAY] = "d",
		[CX_BUCKET_WEEK] = "d - (d + 3) % 7",   /* 1970-01-05 was a Monday */
		[CX_BUCKET_MONTH] = ("CAST(strftime('%s', d * 86400, 'unixepoch', "
				     "'start of month') AS INTEGER) / 86400"),
	};
	static const char cols[] =
		"stage, touchpoint, channel, segment, responses, nps0, nps1, nps2, nps3, nps4, "
		"nps5, nps6, nps7, nps8, nps9, nps10, csat1, csat2, csat3, csat4, csat5, ces1, "
		"ces2, ces3, ces4, ces5, ces6, ces7";
	static const char filters[] =
		" AND (?8 IS NULL OR stage = ?8) AND (?9 IS NULL OR touchpoint = ?9)"
		" AND (?10 IS NULL OR channel = ?10) AND (?11 IS NULL OR segment = ?11)";
	size_t cap = 8192, n = 0;
	char *s = malloc(cap), group[64] = "";
	size_t g = 0;

	if (!s)
		return NULL;
	n += (size_t)snprintf(s + n, cap - n, "SELECT ");
	for (unsigned i = 0; i < 4; i++) {
		int on = (dims >> i) & 1;

		n += (size_t)snprintf(s + n, cap - n, "%s, ", on ? dim_cols[i] : "NULL");
		if (on)
			g += (size_t)snprintf(group + g, sizeof(group) - g, "%s%u", g ? ", " : "", i + 1);
	}
	n += (size_t)snprintf(s + n, cap - n, "%s, sum(responses)", bucket_expr[bucket]);
	if (bucket != CX_BUCKET_NONE)
		g += (size_t)snprintf(group + g, sizeof(group) - g, "%s5", g ? ", " : "");
	for (int v = 0; v <= 10; v++)
		n += (size_t)snprintf(s + n, cap - n, ", sum(nps%d)", v);
	for (int v = 1; v <= 5; v++)
		n += (size_t)snprintf(s + n, cap - n, ", sum(csat%d)", v);
	for (int v = 1; v <= 7; v++)
		n += (size_t)snprintf(s + n, cap - n, ", sum(ces%d)", v);
	if (src == SRC_TOTAL)   /* one row per group */
		n += (size_t)snprintf(s + n, cap - n, " FROM (SELECT 0 AS d, %s FROM rollups_total"
				      " WHERE survey = ?1%s", cols, filters);
	else if (src == SRC_LOCAL)   /* local days from quarters: ?2-?3 quarters, ?12 the offset */
		n += (size_t)snprintf(s + n, cap - n,
				      " FROM (SELECT (quarter + ?12) / 96 AS d, %s FROM rollups_quarter"
				      " WHERE survey = ?1 AND quarter >= ?2 AND quarter < ?3%s", cols,
				      filters);
	else
		n += (size_t)snprintf(s + n, cap - n,
				      " FROM (SELECT day AS d, %s FROM rollups WHERE survey = ?1 AND"
				      " day >= ?2 AND day < ?3%s"
				      " UNION ALL SELECT day AS d, %s FROM rollups WHERE survey = ?1 AND"
				      " day >= ?4 AND day < ?5%s"   /* not an OR: each is an index range */
				      " UNION ALL SELECT month AS d, %s FROM rollups_month WHERE"
				      " survey = ?1 AND month >= ?6 AND month < ?7%s", cols, filters, cols,
				      filters, cols, filters);
	if (uncounted)
		n += (size_t)cx_rollups_pending_select(s + n, cap - n,
						       src == SRC_TOTAL ? "0"
						       : src == SRC_LOCAL ? "(submitted_at / 900 + ?12) / 96"
						       : "submitted_at / 86400", src != SRC_TOTAL, filters);
	n += (size_t)snprintf(s + n, cap - n, ")");
	if (g)
		snprintf(s + n, cap - n, " GROUP BY %s ORDER BY %s", group, group);
	return s;
}

/* Which days to read from the daily rollups and which months from the monthly ones, so
 * that [from, to) is covered exactly once: the whole months inside the range come from
 * rollups_month, the partial months at its edges from rollups (r[0..1] and r[2..3] are day
 * ranges, r[4..5] a range of month-first days). Day and week buckets need days. */
static void split_range(const struct cx_scores_query *q, int64_t r[6])
{
	int64_t m1, m2;

	if (q->bucket == CX_BUCKET_DAY || q->bucket == CX_BUCKET_WEEK)
		goto by_day;
	m1 = q->from_day == INT64_MIN ? INT64_MIN
	     : (cx_time_month_start(q->from_day) == q->from_day ? q->from_day
								  : cx_time_next_month(q->from_day));
	m2 = q->to_day == INT64_MAX ? INT64_MAX : cx_time_month_start(q->to_day);
	if (m1 >= m2)
		goto by_day;
	r[0] = q->from_day, r[1] = m1;   /* the days before the first whole month */
	r[2] = m2, r[3] = q->to_day;     /* the days after the last whole month */
	r[4] = m1, r[5] = m2;            /* the whole months */
	return;
by_day:
	r[0] = q->from_day, r[1] = q->to_day;
	r[2] = r[3] = r[4] = r[5] = 0;
}

static sqlite3_stmt *scores_stmt(struct reader *r, unsigned dims, enum cx_bucket bucket,
				  enum scores_source src, int uncounted)
{
	unsigned k = (((dims & 15u) * 4u + (unsigned)bucket) * 3u + (unsigned)src) * 2u +
		     (uncounted != 0);

	if (!r->scores[k]) {
		char *sql = scores_sql(dims & 15u, bucket, src, uncounted);

		if (sql)
			sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &r->scores[k],
					   NULL);
		free(sql);
	}
	return r->scores[k];
}

/* v periods of `unit` seconds, the open ends (INT64_MIN, INT64_MAX) kept open */
static int64_t to_seconds(int64_t v, int64_t unit)
{
	if (v == INT64_MIN || v == INT64_MAX)
		return v;
	if (v > INT64_MAX / unit)
		return INT64_MAX;
	return v < INT64_MIN / unit ? INT64_MIN : v * unit;
}

static const char *col_text(sqlite3_stmt *q, int i)
{
	const char *s = (const char *)sqlite3_column_text(q, i);

	return (s && s[0]) ? s : NULL;   /* '' is how rollups store "none" */
}

/* A step of one of the reader's kept statements (prepared on first use); 1 for a row
 * whose first column is true, 0 otherwise, -1 on failure. */
static int reader_step(struct reader *r, sqlite3_stmt **q, const char *sql)
{
	int rc;

	if (!*q && sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, q, NULL))
		return -1;
	rc = sqlite3_step(*q);
	rc = rc == SQLITE_ROW ? sqlite3_column_int(*q, 0) != 0 : rc == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(*q);
	return rc;
}

int cx_store_scores(struct cx_store *st, const struct cx_scores_query *qry, cx_group_fn fn,
		    void *ctx, struct cx_error *err)
{
	struct reader *r = reader_take(st);
	enum scores_source src = cx_rollups_total_serves(qry) ? SRC_TOTAL
				 : qry->tz_minutes ? SRC_LOCAL : SRC_UTC;
	sqlite3_stmt *q = NULL;
	int64_t range[6];
	int rc = 0, step, uncounted = -1;

	/* one snapshot: whether it holds responses above the rollup mark, then the read */
	if (reader_step(r, &r->begin, "BEGIN") == 0)
		uncounted = reader_step(r, &r->uncounted, "SELECT (SELECT upto FROM rollup_mark) < "
					"(SELECT coalesce(max(id), 0) FROM responses)");
	if (uncounted < 0 || !(q = scores_stmt(r, qry->dims, qry->bucket, src, uncounted))) {
		rc = db_fail(st, r->db, err, "preparing scores");
		goto out;
	}
	split_range(qry, range);
	if (qry->tz_minutes) {   /* local days [from, to) as quarter hours of UTC */
		int64_t shift = qry->tz_minutes / 15;

		range[0] = qry->from_day == INT64_MIN ? INT64_MIN : qry->from_day * 96 - shift;
		range[1] = qry->to_day == INT64_MAX ? INT64_MAX : qry->to_day * 96 - shift;
		range[2] = range[3] = range[4] = range[5] = 0;
		sqlite3_bind_int64(q, 12, shift);
	}
	sqlite3_bind_text(q, 1, qry->survey, -1, SQLITE_STATIC);
	for (int i = 0; i < 6; i++)
		sqlite3_bind_int64(q, 2 + i, range[i]);
	/* the uncounted responses' range in seconds: UTC days, or the local days' quarters */
	sqlite3_bind_int64(q, 13, to_seconds(qry->tz_minutes ? range[0] : qry->from_day,
					     qry->tz_minutes ? 900 : 86400));
	sqlite3_bind_int64(q, 14, to_seconds(qry->tz_minutes ? range[1] : qry->to_day,
					     qry->tz_minutes ? 900 : 86400));
	bind_opt_text(q, 8, qry->stage, NULL);
	bind_opt_text(q, 9, qry->touchpoint, NULL);
	bind_opt_text(q, 10, qry->channel, NULL);
	bind_opt_text(q, 11, qry->segment, NULL);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct cx_group_key key = {
			.stage = col_text(q, 0), .touchpoint = col_text(q, 1),
			.channel = col_text(q, 2), .segment = col_text(q, 3),
			.bucket_day = sqlite3_column_int64(q, 4),
		};
		struct cx_hist h;
		int c = 5;

		h.responses = sqlite3_column_int64(q, c++);
		for (int v = 0; v < 11; v++)
			h.nps[v] = sqlite3_column_int64(q, c++);
		for (int v = 0; v < 5; v++)
			h.csat[v] = sqlite3_column_int64(q, c++);
		for (int v = 0; v < 7; v++)
			h.ces[v] = sqlite3_column_int64(q, c++);
		if ((rc = fn(ctx, &key, &h)))
			break;
	}
	if (!rc && step != SQLITE_DONE)
		rc = db_fail(st, r->db, err, "reading scores");
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
out:
	if (!sqlite3_get_autocommit(r->db))
		reader_step(r, &r->end, "COMMIT");
	reader_give(st, r);
	return rc;
}

/* --- comments --- */

static const char SQL_COMMENTS[] =
	"SELECT id, submitted_at, stage, touchpoint, channel, segment, customer, nps, csat, ces, "
	"comment FROM responses WHERE survey = ?1 AND comment IS NOT NULL"
	" AND submitted_at >= ?2 AND submitted_at < ?3"
	" AND (?4 IS NULL OR stage = ?4) AND (?5 IS NULL OR touchpoint = ?5)"
	" AND (?6 IS NULL OR nps <= ?6)"
	" AND (?10 IS NULL OR channel = ?10) AND (?11 IS NULL OR segment = ?11)"
	" AND (submitted_at < ?7 OR (submitted_at = ?7 AND id < ?8))"
	" ORDER BY submitted_at DESC, id DESC LIMIT ?9";

static int col_int(sqlite3_stmt *q, int i)
{
	return sqlite3_column_type(q, i) == SQLITE_NULL ? -1 : sqlite3_column_int(q, i);
}

int cx_store_comments(struct cx_store *st, const struct cx_comments_query *cq,
		      int (*fn)(void *ctx, const struct cx_comment *c), void *ctx,
		      struct cx_error *err)
{
	struct reader *r = reader_take(st);
	sqlite3_stmt *q = NULL;
	int rc = 0, step = SQLITE_DONE;

	if (sqlite3_prepare_v2(r->db, SQL_COMMENTS, -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(st, r->db, err, "preparing comments");
		goto out;
	}
	sqlite3_bind_text(q, 1, cq->survey, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, cq->from_s);
	sqlite3_bind_int64(q, 3, cq->to_s);
	bind_opt_text(q, 4, cq->stage, NULL);
	bind_opt_text(q, 5, cq->touchpoint, NULL);
	bind_opt_int(q, 6, cq->max_nps);
	sqlite3_bind_int64(q, 7, cq->after_time);
	sqlite3_bind_int64(q, 8, cq->after_id);
	sqlite3_bind_int(q, 9, (int)cq->limit);
	bind_opt_text(q, 10, cq->channel, NULL);
	bind_opt_text(q, 11, cq->segment, NULL);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct cx_comment c = {
			.id = sqlite3_column_int64(q, 0), .submitted_at = sqlite3_column_int64(q, 1),
			.stage = (const char *)sqlite3_column_text(q, 2),
			.touchpoint = (const char *)sqlite3_column_text(q, 3),
			.channel = (const char *)sqlite3_column_text(q, 4),
			.segment = (const char *)sqlite3_column_text(q, 5),
			.customer = (const char *)sqlite3_column_text(q, 6),
			.nps = col_int(q, 7), .csat = col_int(q, 8), .ces = col_int(q, 9),
			.comment = (const char *)sqlite3_column_text(q, 10),
		};

		if ((rc = fn(ctx, &c)))
			break;
	}
	if (!rc && step != SQLITE_DONE)
		rc = db_fail(st, r->db, err, "reading comments");
out:
	sqlite3_finalize(q);
	reader_give(st, r);
	return rc;
}

/* --- export --- */

static const char SQL_EXPORT[] =
	"SELECT id, submitted_at, received_at, stage, touchpoint, channel, segment, customer, "
	/* NOT INDEXED: walk the table by rowid from the cursor. With the (survey, submitted_at)
	 * index SQLite read every row of the survey and sorted them for each chunk: 1M rows
	 * took 3.5 minutes instead of 4 seconds. */
	"nps, csat, ces, comment, attributes FROM responses NOT INDEXED"
	" WHERE survey = ?1 AND id > ?2"
	" AND submitted_at >= ?3 AND submitted_at < ?4"
	" AND (?5 IS NULL OR stage = ?5) AND (?6 IS NULL OR touchpoint = ?6)"
	" AND (?8 IS NULL OR channel = ?8) AND (?9 IS NULL OR segment = ?9)"
	" ORDER BY id LIMIT ?7";

int cx_store_export(struct cx_store *st, const struct cx_export_query *eq, int64_t after_id,
		    unsigned limit, int (*fn)(void *ctx, const struct cx_export_row *r), void *ctx,
		    struct cx_error *err)
{
	struct reader *r = reader_take(st);
	sqlite3_stmt *q = NULL;
	int rc = 0, step = SQLITE_DONE;

	if (sqlite3_prepare_v2(r->db, SQL_EXPORT, -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(st, r->db, err, "preparing export");
		goto out;
	}
	sqlite3_bind_text(q, 1, eq->survey, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, after_id);
	sqlite3_bind_int64(q, 3, eq->from_s);
	sqlite3_bind_int64(q, 4, eq->to_s);
	bind_opt_text(q, 5, eq->stage, NULL);
	bind_opt_text(q, 6, eq->touchpoint, NULL);
	sqlite3_bind_int(q, 7, (int)limit);
	bind_opt_text(q, 8, eq->channel, NULL);
	bind_opt_text(q, 9, eq->segment, NULL);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct cx_export_row row = {
			.id = sqlite3_column_int64(q, 0), .submitted_at = sqlite3_column_int64(q, 1),
			.received_ms = sqlite3_column_int64(q, 2),
			.stage = (const char *)sqlite3_column_text(q, 3),
			.touchpoint = (const char *)sqlite3_column_text(q, 4),
			.channel = (const char *)sqlite3_column_text(q, 5),
			.segment = (const char *)sqlite3_column_text(q, 6),
			.customer = (const char *)sqlite3_column_text(q, 7),
			.nps = col_int(q, 8), .csat = col_int(q, 9), .ces = col_int(q, 10),
			.comment = (const char *)sqlite3_column_text(q, 11),
			.attributes = (const char *)sqlite3_column_text(q, 12),
		};

		if ((rc = fn(ctx, &row)))
			break;
	}
	if (!rc && step != SQLITE_DONE)
		rc = db_fail(st, r->db, err, "reading responses");
out:
	sqlite3_finalize(q);
	reader_give(st, r);
	return rc;
}

/* --- erasure --- */

static int wexec_bound(struct cx_store *st, const char *sql, const char *text, int64_t num,
		       struct cx_error *err)
{
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(st->wdb, sql, -1, &q, NULL) != SQLITE_OK)
		return db_fail(st, st->wdb, err, "preparing erasure");
	if (text)
		sqlite3_bind_text(q, 1, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(q, 1, num);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : db_fail(st, st->wdb, err, "erasure");
}

int cx_store_erase_customer(struct cx_store *st, const char *customer, int64_t *count,
			    struct cx_error *err)
{
	sqlite3_stmt *q;
	int step;

	*count = 0;
	/* which rows the rollups count: the mark as committed (another process may move it) */
	if (cx_rollups_read_mark(st))
		return db_fail(st, st->wdb, err, "reading the rollup mark");
	if (sqlite3_prepare_v2(st->wdb, "SELECT survey, stage, touchpoint, channel, segment, nps, "
			       "csat, ces, submitted_at, id FROM responses WHERE customer = ?1", -1,
			       &q, NULL) != SQLITE_OK)
		return db_fail(st, st->wdb, err, "preparing erasure");
	sqlite3_bind_text(q, 1, customer, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct cx_response r = { 0 };   /* only the rollup key and answers are needed */

		snprintf(r.survey, sizeof(r.survey), "%s", (const char *)sqlite3_column_text(q, 0));
		r.stage = (char *)sqlite3_column_text(q, 1);
		r.touchpoint = (char *)sqlite3_column_text(q, 2);
		r.channel = (char *)sqlite3_column_text(q, 3);
		r.segment = (char *)sqlite3_column_text(q, 4);
		r.nps = col_int(q, 5);
		r.csat = col_int(q, 6);
		r.ces = col_int(q, 7);
		r.submitted_at = sqlite3_column_int64(q, 8);
		/* a row above the mark is not counted yet: nothing to take out */
		if (sqlite3_column_int64(q, 9) <= st->lag.upto && cx_rollup_add(st->acc, &r, -1)) {
			sqlite3_finalize(q);
			return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
		}
		(*count)++;
	}
	sqlite3_finalize(q);
	if (step != SQLITE_DONE)
		return db_fail(st, st->wdb, err, "erasure");
	if (cx_outbox_erase_customer(st, customer, err) ||
	    cx_casestore_erase_customer(st, customer, err) ||
	    cx_invitestore_erase_customer(st, customer, err) ||
	    cx_mailstore_erase_customer(st, customer, err) ||
	    wexec_bound(st, "DELETE FROM idempotency WHERE response_id IN "
			    "(SELECT id FROM responses WHERE customer = ?1)", customer, 0, err) ||
	    wexec_bound(st, "DELETE FROM responses WHERE customer = ?1", customer, 0, err))
		return -1;
	return 0;
}

int cx_store_redact_comment(struct cx_store *st, int64_t id, int64_t *count,
			    struct cx_error *err)
{
	if (wexec_bound(st, "UPDATE responses SET comment = NULL WHERE id = ?1 AND comment IS NOT "
			    "NULL", NULL, id, err))
		return -1;
	*count = sqlite3_changes(st->wdb);
	return cx_outbox_redact_response(st, id, err);
}

int cx_store_scrub_wal(struct cx_store *st, struct cx_error *err)
{
	int rc;

	rc = sqlite3_wal_checkpoint_v2(st->wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);

	if (rc == SQLITE_OK)
		return 0;
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
		cx_error_set(err, 503, "erasure_pending", NULL, "the data is deleted, but a copy "
			     "stays in the write-ahead log until a checkpoint can run (readers held "
			     "it for over %d s); repeat the request", BUSY_TIMEOUT_MS / 1000);
		err->retry_after = 1;
		return -1;
	}
	return db_fail(st, st->wdb, err, "checkpoint after erasure");
}

/* --- operations --- */

/* The rollups of one level recomputed from the rows: `period` is the SQL for the period key. */
static char *recompute_sql(const char *table, const char *col, const char *period)
{
	static const char hist[] =
		"count(*), sum(nps IS 0), sum(nps IS 1), sum(nps IS 2), sum(nps IS 3), sum(nps IS 4), "
		"sum(nps IS 5), sum(nps IS 6), sum(nps IS 7), sum(nps IS 8), sum(nps IS 9), "
		"sum(nps IS 10), sum(csat IS 1), sum(csat IS 2), sum(csat IS 3), sum(csat IS 4), "
		"sum(csat IS 5), sum(ces IS 1), sum(ces IS 2), sum(ces IS 3), sum(ces IS 4), "
		"sum(ces IS 5), sum(ces IS 6), sum(ces IS 7)";
	static const char cols[] =
		"responses, nps0, nps1, nps2, nps3, nps4, nps5, nps6, nps7, nps8, nps9, nps10, "
		"csat1, csat2, csat3, csat4, csat5, ces1, ces2, ces3, ces4, ces5, ces6, ces7";
	char *sql = malloc(4096);

	if (sql)
		snprintf(sql, 4096,
			 "WITH want AS (SELECT survey, %s AS p, stage, touchpoint, coalesce(channel, '') "
			 "AS channel, coalesce(segment, '') AS segment, %s FROM responses "
			 "WHERE id <= (SELECT upto FROM rollup_mark) GROUP BY 1, 2, 3, 4, 5, 6), have AS (SELECT survey, %s AS p, stage, touchpoint, "
			 "channel, segment, %s FROM %s) "
			 "SELECT (SELECT count(*) FROM (SELECT * FROM want EXCEPT SELECT * FROM have)), "
			 "(SELECT count(*) FROM (SELECT * FROM have EXCEPT SELECT * FROM want))",
			 period, hist, col, cols, table);
	return sql;
}

long cx_store_check(struct cx_store *st, json_t **report, struct cx_error *err)
{
	static const struct { const char *table, *col, *period; } levels[] = {
		{ "rollups_quarter", "quarter", "submitted_at / 900" },
		{ "rollups", "day", "submitted_at / 86400" },
		{ "rollups_month", "month", ("CAST(strftime('%s', submitted_at, 'unixepoch', "
					     "'start of month') AS INTEGER) / 86400") },
		{ "rollups_total", "0", "0" },   /* all time: one constant period */
	};
	struct reader *r = reader_take(st);
	long total = 0;

	*report = json_object();
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]) && total >= 0; i++) {
		char *sql = recompute_sql(levels[i].table, levels[i].col, levels[i].period);
		sqlite3_stmt *q = NULL;

		if (!sql || sqlite3_prepare_v2(r->db, sql, -1, &q, NULL) != SQLITE_OK ||
		    sqlite3_step(q) != SQLITE_ROW) {
			total = db_fail(st, r->db, err, "checking rollups");
		} else {
			long missing = sqlite3_column_int64(q, 0), wrong = sqlite3_column_int64(q, 1);

			json_object_set_new(*report, levels[i].table, json_pack("{s:I, s:I}",
				"rows_missing_or_different", (json_int_t)missing,
				"rows_not_from_responses", (json_int_t)wrong));
			total += missing + wrong;
		}
		sqlite3_finalize(q);
		free(sql);
	}
	reader_give(st, r);
	return total;
}

int cx_store_backup(struct cx_store *st, const char *dest, struct cx_error *err)
{
	char tmp[1100];
	sqlite3 *out = NULL;
	sqlite3_backup *b;
	struct reader *r;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.tmp", dest);
	unlink(tmp);
	if (sqlite3_open_v2(tmp, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		cx_error_set(err, 503, "backup_failed", NULL, "cannot create '%s': %s", tmp,
			     out ? sqlite3_errmsg(out) : "out of memory");
		sqlite3_close(out);
		return -1;
	}
	r = reader_take(st);
	b = sqlite3_backup_init(out, "main", r->db, "main");
	do {   /* a few pages at a time, so the writer is never held up for long */
		rc = b ? sqlite3_backup_step(b, 256) : SQLITE_ERROR;
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			sqlite3_sleep(5);
	} while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
	if (b)
		sqlite3_backup_finish(b);
	reader_give(st, r);
	if (rc == SQLITE_DONE)
		rc = sqlite3_exec(out, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_DONE) {
		cx_error_set(err, 503, "backup_failed", NULL, "backup to '%s' failed: %s", dest,
			     sqlite3_errmsg(out));
		sqlite3_close(out);
		unlink(tmp);
		return -1;
	}
	sqlite3_close(out);
	if (rename(tmp, dest)) {
		cx_error_set(err, 503, "backup_failed", NULL, "cannot rename to '%s'", dest);
		unlink(tmp);
		return -1;
	}
	return 0;
}

int64_t cx_store_size(struct cx_store *st)
{
	struct stat sb;
	char wal[1100];
	int64_t n = 0;

	if (stat(st->path, &sb) == 0)
		n += sb.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", st->path);
	if (stat(wal, &sb) == 0)
		n += sb.st_size;
	return n;
}

/* --- for the store's other files (src/store_loop.h) --- */

sqlite3 *cx_store_wdb(struct cx_store *st)
{
	return st->wdb;
}

sqlite3 *cx_store_connect(struct cx_store *st, int readonly, struct cx_error *err)
{
	return connect(st, readonly ? CONN_READ : CONN_WRITE, err);
}

sqlite3 *cx_store_connect_worker(struct cx_store *st, struct cx_error *err)
{
	return connect(st, CONN_WORKER, err);
}

sqlite3_stmt *cx_store_stmt(struct cx_store *st, sqlite3 *db, const char *sql, int *owned)
{
	sqlite3_stmt *q = NULL;
	unsigned i;

	*owned = 0;
	if (db == st->wdb) {   /* the writer thread's: no lock */
		for (i = 0; i < st->nkept; i++)
			if (st->kept[i].sql == sql)
				return st->kept[i].q;
		if (i < sizeof(st->kept) / sizeof(st->kept[0]) &&
		    sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q, NULL) == SQLITE_OK) {
			st->kept[i].sql = sql;
			st->kept[i].q = q;
			st->nkept++;
			return q;
		}
	}
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return NULL;
	*owned = 1;
	return q;
}

void cx_store_stmt_done(sqlite3_stmt *q, int owned)
{
	if (owned) {
		sqlite3_finalize(q);
	} else if (q) {
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
	}
}

int cx_store_db_fail(struct cx_store *st, sqlite3 *db, struct cx_error *err, const char *what)
{
	return db_fail(st, db, err, what);
}

struct cx_rollup_lag *cx_store_rollup_lag(struct cx_store *st)
{
	return &st->lag;
}

int cx_store_rollup_count(struct cx_store *st, const struct cx_response *r, int delta)
{
	return cx_rollup_add(st->acc, r, delta);
}

struct cx_invitestore *cx_store_invitestore(struct cx_store *st)
{
	return st->invites;
}

struct cx_outbox *cx_store_outbox(struct cx_store *st)
{
	return st->outbox;
}

struct cx_rulestore *cx_store_rulestore(struct cx_store *st)
{
	return st->rules;
}

struct cx_casestore *cx_store_casestore(struct cx_store *st)
{
	return st->cases;
}
