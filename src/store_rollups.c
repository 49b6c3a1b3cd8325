/* store_rollups.c - the all-time rollup level (rollups_total, schema 015); see
 * src/store_rollups.h. store.c keeps the other three levels and calls in here from the
 * writer's rollup upsert, the scores read and `cxd check`.
 */
#include <stdio.h>
#include <stdlib.h>

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

int cx_rollups_total_from(char *buf, size_t len, const char *filters)
{
	return snprintf(buf, len, " FROM rollups_total WHERE survey = ?1%s", filters);
}
