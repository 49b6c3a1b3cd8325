/* store_alerts.c - the alerts' findings (table alert_findings, schema/010_loop.sql): the
 * cooldown bookkeeping, and a finding recorded in the same transaction as its event's
 * deliveries. See include/cx/store.h ("alerts").
 *
 * The check runs once an hour (or when an admin asks), so each call opens a connection of
 * its own (cx_store_connect) and prepares its statements: nothing is kept between calls,
 * and the writer's connection is never touched.
 */
#include <stdlib.h>
#include <string.h>

#include "store_loop.h"

static const char SQL_LAST[] = "SELECT first_at, last_at FROM alert_findings WHERE key = ?1";
static const char SQL_PUT[] =
	"INSERT INTO alert_findings(key, type, survey, detail, first_at, last_at) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT(key) DO UPDATE SET "
	"detail = excluded.detail, last_at = excluded.last_at";
/* newest first; the keyset cursor is (last_at, key) of the last row shown */
static const char SQL_LIST[] =
	"SELECT key, type, survey, detail, first_at, last_at FROM alert_findings "
	"WHERE (?1 IS NULL OR survey = ?1) AND (?2 IS NULL OR type = ?2) "
	"AND (?3 IS NULL OR last_at < ?4 OR (last_at = ?4 AND key > ?3)) "
	"ORDER BY last_at DESC, key ASC LIMIT ?5";

static void bind_opt(sqlite3_stmt *q, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, i);
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* One finding, inside the open transaction: skip it while it cools down, else record it
 * and queue its event. */
static int record_one(struct cx_store *st, sqlite3 *db, sqlite3_stmt *last, sqlite3_stmt *put,
		      struct cx_alert *a, int64_t now, int64_t cooldown_s, struct cx_error *err)
{
	struct cx_event ev = { .type = a->type, .survey = a->survey, .data = a->data };
	char *detail;
	int rc;

	a->emitted = a->queued = 0;
	a->first_at = a->last_at = now;
	sqlite3_reset(last);
	sqlite3_bind_text(last, 1, a->key, -1, SQLITE_STATIC);
	rc = sqlite3_step(last);
	if (rc == SQLITE_ROW) {
		a->first_at = sqlite3_column_int64(last, 0);
		a->last_at = sqlite3_column_int64(last, 1);
		if (now - a->last_at < cooldown_s)
			return 0;   /* emitted lately: not again yet */
		a->last_at = now;
	} else if (rc != SQLITE_DONE) {
		return cx_store_db_fail(st, db, err, "reading alert findings");
	}
	if (!(detail = json_dumps(a->data, JSON_COMPACT | JSON_REAL_PRECISION(12))))
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	sqlite3_reset(put);
	sqlite3_bind_text(put, 1, a->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(put, 2, a->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(put, 3, a->survey, -1, SQLITE_STATIC);
	sqlite3_bind_text(put, 4, detail, -1, SQLITE_STATIC);
	sqlite3_bind_int64(put, 5, now);
	rc = sqlite3_step(put);
	sqlite3_reset(put);
	free(detail);
	if (rc != SQLITE_DONE)
		return cx_store_db_fail(st, db, err, "recording an alert");
	if (cx_outbox_insert(st, db, &ev, NULL, &a->queued, err))
		return -1;
	a->emitted = 1;
	return 0;
}

int cx_store_alerts_record(struct cx_store *st, struct cx_alert *v, size_t n, int64_t now,
			   int64_t cooldown_s, struct cx_error *err)
{
	sqlite3 *db;
	sqlite3_stmt *last = NULL, *put = NULL;
	int rc = -1;

	if (n == 0)
		return 0;
	if (!(db = cx_store_connect(st, 0, err)))
		return -1;
	if (exec(db, "BEGIN IMMEDIATE")) {
		cx_store_db_fail(st, db, err, "recording alerts");
		goto out;
	}
	if (sqlite3_prepare_v2(db, SQL_LAST, -1, &last, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, SQL_PUT, -1, &put, NULL) != SQLITE_OK) {
		cx_store_db_fail(st, db, err, "preparing alerts");
		goto rollback;
	}
	for (size_t i = 0; i < n; i++)
		if (record_one(st, db, last, put, &v[i], now, cooldown_s, err))
			goto rollback;
	sqlite3_finalize(last);
	sqlite3_finalize(put);
	last = put = NULL;
	if (exec(db, "COMMIT")) {
		cx_store_db_fail(st, db, err, "committing alerts");
		goto rollback;
	}
	rc = 0;
	goto out;
rollback:
	sqlite3_finalize(last);
	sqlite3_finalize(put);
	exec(db, "ROLLBACK");
	for (size_t i = 0; i < n; i++)
		v[i].emitted = v[i].queued = 0;
out:
	sqlite3_close(db);
	return rc;
}

int cx_store_alerts_list(struct cx_store *st, const struct cx_alerts_query *q,
			 int (*fn)(void *ctx, const struct cx_alert *a), void *ctx,
			 struct cx_error *err)
{
	sqlite3 *db = cx_store_connect(st, 1, err);
	sqlite3_stmt *s = NULL;
	int rc = 0, step;

	if (!db)
		return -1;
	if (sqlite3_prepare_v2(db, SQL_LIST, -1, &s, NULL) != SQLITE_OK) {
		rc = cx_store_db_fail(st, db, err, "preparing the alerts list");
		goto out;
	}
	bind_opt(s, 1, q->survey);
	bind_opt(s, 2, q->type);
	bind_opt(s, 3, q->after_key);
	sqlite3_bind_int64(s, 4, q->after_at);
	sqlite3_bind_int64(s, 5, q->limit);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		struct cx_alert a = {
			.key = (const char *)sqlite3_column_text(s, 0),
			.type = (const char *)sqlite3_column_text(s, 1),
			.survey = (const char *)sqlite3_column_text(s, 2),
			.data = json_loads((const char *)sqlite3_column_text(s, 3), 0, NULL),
			.first_at = sqlite3_column_int64(s, 4),
			.last_at = sqlite3_column_int64(s, 5),
		};

		if (!a.data)
			a.data = json_null();
		rc = fn(ctx, &a);
		json_decref(a.data);
		if (rc)
			break;
	}
	if (!rc && step != SQLITE_DONE)
		rc = cx_store_db_fail(st, db, err, "reading alerts");
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	return rc;
}
