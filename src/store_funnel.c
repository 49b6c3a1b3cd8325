/* store_funnel.c - the response funnel from table invitations (schema 013); see
 * include/cx/store.h ("the response funnel") and include/cx/funnel.h.
 *
 * One GROUP BY over the survey's invitations minted in [from, to), read from index
 * invitations_funnel alone (schema 016: it covers every column used here). A funnel is asked for by a person looking at the
 * dashboard, not on every response, so each call opens a read-only connection of its own
 * (cx_store_connect, like the alerts and cases readers): WAL lets it read while the
 * writer writes, and the writer's connection is never touched.
 */
#include <stdio.h>

#include "store_loop.h"

/* Counts per group. `commented` counts only answered invitations, so the comment rate's
 * numerator never passes its denominator whatever a row holds. */
static const char SQL_HEAD[] =
	"SELECT %s, %s, %s, count(*), count(opened_at), count(answered_at), "
	"count(CASE WHEN commented <> 0 AND answered_at IS NOT NULL THEN 1 END) "
	"FROM invitations WHERE survey = ?1 AND minted_at >= ?2 AND minted_at < ?3 "
	"AND (?4 IS NULL OR stage = ?4) AND (?5 IS NULL OR touchpoint = ?5) "
	"AND (?6 IS NULL OR channel = ?6)";

static const char *const columns[] = { "stage", "touchpoint", "channel" };

/* The statement's text for q->dims: the grouped columns by name, the others NULL. */
static void funnel_sql(unsigned dims, char *sql, size_t len)
{
	char group[64] = "";
	size_t used = 0, n;

	for (unsigned i = 0; i < 3; i++)
		if (dims & (1u << i))
			used += (size_t)snprintf(group + used, sizeof(group) - used, "%s%s",
						 used ? ", " : "", columns[i]);
	n = (size_t)snprintf(sql, len, SQL_HEAD, dims & CX_DIM_STAGE ? "stage" : "NULL",
			     dims & CX_DIM_TOUCHPOINT ? "touchpoint" : "NULL",
			     dims & CX_DIM_CHANNEL ? "channel" : "NULL");
	if (used && n < len)
		snprintf(sql + n, len - n, " GROUP BY %s ORDER BY %s", group, group);
}

static void bind_opt(sqlite3_stmt *q, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, i);
}

int cx_store_funnel(struct cx_store *st, const struct cx_funnel_query *q,
		    int (*fn)(void *ctx, const struct cx_funnel_row *r), void *ctx,
		    struct cx_error *err)
{
	char sql[sizeof(SQL_HEAD) + 160];
	sqlite3 *db = cx_store_connect(st, 1, err);
	sqlite3_stmt *s = NULL;
	int rc = 0, step;

	if (!db)
		return -1;
	funnel_sql(q->dims, sql, sizeof(sql));
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		rc = cx_store_db_fail(st, db, err, "preparing the funnel");
		goto out;
	}
	sqlite3_bind_text(s, 1, q->survey, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, q->from_s);
	sqlite3_bind_int64(s, 3, q->to_s);
	bind_opt(s, 4, q->stage);
	bind_opt(s, 5, q->touchpoint);
	bind_opt(s, 6, q->channel);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		struct cx_funnel_row r = {
			.stage = (const char *)sqlite3_column_text(s, 0),
			.touchpoint = (const char *)sqlite3_column_text(s, 1),
			.channel = (const char *)sqlite3_column_text(s, 2),
			.minted = sqlite3_column_int64(s, 3),
			.opened = sqlite3_column_int64(s, 4),
			.answered = sqlite3_column_int64(s, 5),
			.commented = sqlite3_column_int64(s, 6),
		};

		if ((rc = fn(ctx, &r)) != 0)
			break;
	}
	if (!rc && step != SQLITE_DONE)
		rc = cx_store_db_fail(st, db, err, "reading the funnel");
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	return rc;
}
