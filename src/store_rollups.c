/* store_rollups.c - the all-time rollup level (rollups_total, schema 015) and the
 * deferred counts (rollup_mark, schema 019); see src/store_rollups.h. store.c keeps the
 * other three levels and calls in here from the writer's rollup upsert, the scores read
 * and `cxd check`.
 *
 * Why deferred: counting a response in its own commit writes four more pages (its
 * quarter-hour, day, month and all-time rows) beside the row and its two index entries,
 * and a lone client waits for all of them to reach the disk: at one connection that was
 * a quarter of the time of a POST. Counted later, in groups, the same pages are written
 * once for every few hundred responses, and without an fsync of their own (the counts can
 * be rebuilt from the rows up to the mark; a later durable commit syncs them anyway).
 */
#include <stdio.h>
#include <stdlib.h>

#include "cx/log.h"
#include "cx/metrics.h"
#include "store_loop.h"
#include "store_rollups.h"

char *cx_rollups_total_upsert_sql(void)
{
	static const struct { const char *col; int lo, hi; } m[] = {
		{ "nps", 0, 10 }, { "csat", 1, 5 }, { "ces", 1, 7 },
	};
	size_t cap = 8192, n = 0;
	char *s = malloc(cap);
	int param = 8;

	if (!s)
		return NULL;
	n += (size_t)snprintf(s + n, cap - n, "INSERT INTO rollups_total(survey, stage, "
			      "touchpoint, channel, segment, responses");
	for (size_t k = 0; k < 3; k++)
		for (int v = m[k].lo; v <= m[k].hi; v++)
			n += (size_t)snprintf(s + n, cap - n, ", %s%d", m[k].col, v);
	n += (size_t)snprintf(s + n, cap - n, ") VALUES (?1, ?3, ?4, ?5, ?6, ?7");
	for (size_t k = 0; k < 3; k++)
		for (int v = m[k].lo; v <= m[k].hi; v++)
			n += (size_t)snprintf(s + n, cap - n, ", ?%d", param++);
	n += (size_t)snprintf(s + n, cap - n, ") ON CONFLICT(survey, stage, touchpoint, channel, "
			      "segment) DO UPDATE SET responses = responses + excluded.responses");
	for (size_t k = 0; k < 3; k++)
		for (int v = m[k].lo; v <= m[k].hi; v++)
			n += (size_t)snprintf(s + n, cap - n, ", %s%d = %s%d + excluded.%s%d",
					      m[k].col, v, m[k].col, v, m[k].col, v);
	return s;
}

int cx_rollups_total_drop_empty(sqlite3 *db, const struct cx_rollup_key *k)
{
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, "DELETE FROM rollups_total WHERE survey = ?1 AND stage = ?2 "
			       "AND touchpoint = ?3 AND channel = ?4 AND segment = ?5 "
			       "AND responses = 0", -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, k->survey, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, k->stage, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, k->touchpoint, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, k->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, k->segment, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : -1;
}

int cx_rollups_total_serves(const struct cx_scores_query *q)
{
	return q->from_day == INT64_MIN && q->to_day == INT64_MAX &&
	       q->bucket == CX_BUCKET_NONE && q->tz_minutes == 0;
}


/* --- deferred counts --- */

/* Responses counted per transaction of a catch-up: bounds how long it holds the write
 * lock (about 3 ms in a release build) and so how long a POST that arrives meanwhile
 * waits, when the writer gives way between transactions (cx_store_rollups_catch_up_until). */
#define CATCH_UP_ROWS 2000

int cx_rollups_pending_select(char *buf, size_t len, const char *d, int ranged,
			      const char *filters)
{
	/* `+` keeps SQLite off responses_survey_time: the rows above the mark are a rowid
	 * range, a few hundred at most while cxd runs */
	return snprintf(buf, len,
			" UNION ALL SELECT %s AS d, stage, touchpoint, coalesce(channel, ''),"
			" coalesce(segment, ''), 1, nps IS 0, nps IS 1, nps IS 2, nps IS 3,"
			" nps IS 4, nps IS 5, nps IS 6, nps IS 7, nps IS 8, nps IS 9, nps IS 10,"
			" csat IS 1, csat IS 2, csat IS 3, csat IS 4, csat IS 5, ces IS 1, ces IS 2,"
			" ces IS 3, ces IS 4, ces IS 5, ces IS 6, ces IS 7 FROM responses"
			" WHERE id > (SELECT upto FROM rollup_mark) AND +survey = ?1%s%s", d,
			ranged ? " AND +submitted_at >= ?13 AND +submitted_at < ?14" : "", filters);
}

static int score(sqlite3_stmt *q, int col)
{
	return sqlite3_column_type(q, col) == SQLITE_NULL ? -1 : sqlite3_column_int(q, col);
}

int cx_rollups_read_mark(struct cx_store *st)
{
	static const char sql[] = "SELECT upto FROM rollup_mark";
	sqlite3 *db = cx_store_wdb(st);
	int owned, rc;
	sqlite3_stmt *q = cx_store_stmt(st, db, sql, &owned);

	if (!q)
		return -1;
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		cx_store_rollup_lag(st)->upto = sqlite3_column_int64(q, 0);
	cx_store_stmt_done(q, owned);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* One transaction: count up to CATCH_UP_ROWS responses above the mark and move it past
 * them, adding how many to *counted. 1 if more remain, 0 when caught up, -1 with err. */
static int catch_up_some(struct cx_store *st, int64_t *counted, struct cx_error *err)
{
	static const char rows_sql[] =
		"SELECT id, survey, stage, touchpoint, channel, segment, nps, csat, ces, "
		"submitted_at FROM responses WHERE id > ?1 ORDER BY id LIMIT ?2";
	static const char mark_sql[] = "UPDATE rollup_mark SET upto = ?1";
	struct cx_rollup_lag *lag = cx_store_rollup_lag(st);
	sqlite3 *db = cx_store_wdb(st);
	int64_t upto, n = 0;
	sqlite3_stmt *q;
	int owned, step = SQLITE_DONE;

	if (cx_store_begin(st, err))
		return -1;
	/* the mark as committed, not as this process last moved it: another process that
	 * opened the database as a server (cxd demo beside a serving cxd) may have moved it */
	if (cx_rollups_read_mark(st))
		goto fail;
	upto = lag->upto;
	if (!(q = cx_store_stmt(st, db, rows_sql, &owned)))
		goto fail;
	sqlite3_bind_int64(q, 1, upto);
	sqlite3_bind_int(q, 2, CATCH_UP_ROWS);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		/* the rollup key and the answers; the text stays valid until the next step */
		struct cx_response r = {
			.stage = (char *)sqlite3_column_text(q, 2),
			.touchpoint = (char *)sqlite3_column_text(q, 3),
			.channel = (char *)sqlite3_column_text(q, 4),
			.segment = (char *)sqlite3_column_text(q, 5),
			.nps = score(q, 6), .csat = score(q, 7), .ces = score(q, 8),
			.submitted_at = sqlite3_column_int64(q, 9),
		};

		snprintf(r.survey, sizeof(r.survey), "%s", (const char *)sqlite3_column_text(q, 1));
		if (!r.stage || !r.touchpoint || cx_store_rollup_count(st, &r, 1)) {
			cx_store_stmt_done(q, owned);
			cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
			goto undo;
		}
		upto = sqlite3_column_int64(q, 0);
		n++;
	}
	cx_store_stmt_done(q, owned);
	if (step != SQLITE_DONE)
		goto fail;
	if (n) {
		if (!(q = cx_store_stmt(st, db, mark_sql, &owned)))
			goto fail;
		sqlite3_bind_int64(q, 1, upto);
		step = sqlite3_step(q);
		cx_store_stmt_done(q, owned);
		if (step != SQLITE_DONE)
			goto fail;
	}
	if (cx_store_commit(st, err))   /* rolled back on failure */
		return -1;
	lag->upto = upto;
	*counted += n;
	return n == CATCH_UP_ROWS;
fail:
	cx_store_db_fail(st, db, err, "counting responses into the rollups");
undo:
	cx_store_rollback(st);
	return -1;
}

/* The writer's connection at synchronous `sql`; 0 or -1. Prepared once and kept (on the
 * writer's connection cx_store_stmt keeps it), so stepping it cannot fail on parsing. */
static int synchronous(struct cx_store *st, sqlite3 *db, const char *sql)
{
	int owned, rc;
	sqlite3_stmt *q = cx_store_stmt(st, db, sql, &owned);

	if (!q)
		return -1;
	rc = sqlite3_step(q);
	cx_store_stmt_done(q, owned);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* This process's appends left above the mark once n more are counted: at least one while
 * any remain (the count of appends is this process's; another's rows are counted too). */
static int64_t still_pending(const struct cx_rollup_lag *lag, int64_t n)
{
	return lag->pending > n ? lag->pending - n : 1;
}

int cx_store_rollups_catch_up(struct cx_store *st, int64_t *counted, struct cx_error *err)
{
	return cx_store_rollups_catch_up_until(st, NULL, NULL, counted, err);
}

int cx_store_rollups_catch_up_until(struct cx_store *st, int (*give_way)(void *ctx, int64_t left),
				    void *ctx, int64_t *counted, struct cx_error *err)
{
	static const char normal[] = "PRAGMA synchronous=NORMAL", full[] = "PRAGMA synchronous=FULL";
	struct cx_rollup_lag *lag = cx_store_rollup_lag(st);
	sqlite3 *db = cx_store_wdb(st);
	int64_t n = 0;
	int rc;

	if (counted)
		*counted = 0;
	/* no fsync of its own: the counts follow from the rows up to the mark, and the next
	 * durable commit (or checkpoint) syncs these frames with its own */
	if (synchronous(st, db, normal))
		return cx_store_db_fail(st, db, err, "counting responses into the rollups");
	lag->counting = 1;
	while ((rc = catch_up_some(st, &n, err)) > 0)
		if (give_way && give_way(ctx, still_pending(lag, n)))
			break;   /* more remain: the next catch-up counts them */
	lag->counting = 0;
	/* every commit after this one answers a 201: it must be durable again, or nothing */
	if (synchronous(st, db, full) && synchronous(st, db, full)) {
		cx_log_error("cannot set synchronous=FULL again after counting responses: %s; "
			     "stopping rather than answer 201 without an fsync", sqlite3_errmsg(db));
		abort();
	}
	if (counted)
		*counted = n;
	/* after a failure, the transactions before it did count theirs */
	lag->pending = rc == 0 ? 0 : still_pending(lag, n);
	return rc < 0 ? -1 : 0;
}

int64_t cx_store_rollups_pending(struct cx_store *st)
{
	return cx_store_rollup_lag(st)->pending;
}

int cx_rollups_open(struct cx_store *st, int count, struct cx_error *err)
{
	int64_t n = 0;

	if (cx_rollups_read_mark(st))
		return cx_store_db_fail(st, cx_store_wdb(st), err, "reading the rollup mark");
	if (!count)
		return 0;
	if (cx_store_rollups_catch_up(st, &n, err) == 0) {
		if (n > 0) {   /* what a crash left: in the metric the RUNBOOK points at */
			cx_metrics_counted((size_t)n);
			cx_log_info("counted %lld responses left above the rollup mark",
				    (long long)n);
		}
		return 0;
	}
	/* a full or failing disk: serve anyway (reads add the uncounted rows, as they would
	 * with none left over) and let the writer thread try again once it runs */
	cx_log_error("cannot count the responses left above the rollup mark yet, %s; the "
		     "writer will try again", err->message);
	if (cx_store_rollup_lag(st)->pending < 1)
		cx_store_rollup_lag(st)->pending = 1;
	return 0;
}
