/* Unit test for the invitations' indexes: the funnel's query (schema 016) reads index
 * invitations_funnel alone (covering: no look-up into the table per invitation), and the
 * index it replaced is gone; a comment's mark on its invitation (schema 018) finds it by
 * invitations_response, not by reading every invitation. The statement below is the funnel's (SQL_HEAD in
 * src/store_funnel.c with a grouping): keep them in step. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cx/store.h"
#include "check_main.h"
#include "store_fixture.h"

CX_STORE_FIXTURE("/tmp/cx-funnel-idx-test")

START_TEST(funnel_reads_its_covering_index)
{
	static const char plan[] =
		"EXPLAIN QUERY PLAN SELECT stage, NULL, NULL, count(*), count(opened_at), "
		"count(answered_at), "
		"count(CASE WHEN commented <> 0 AND answered_at IS NOT NULL THEN 1 END) "
		"FROM invitations WHERE survey = ?1 AND minted_at >= ?2 AND minted_at < ?3 "
		"AND (?4 IS NULL OR stage = ?4) AND (?5 IS NULL OR touchpoint = ?5) "
		"AND (?6 IS NULL OR channel = ?6) GROUP BY stage ORDER BY stage";
	struct cx_store *st;
	struct cx_error err;
	sqlite3 *db;
	sqlite3_stmt *q;
	char seen[1024] = "";
	size_t n = 0;

	ck_assert_msg(cx_store_open(&st, path, 1, &err) == 0, "%s", err.message);
	cx_store_close(st);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, plan, -1, &q, NULL), SQLITE_OK);
	while (sqlite3_step(q) == SQLITE_ROW)
		n += (size_t)snprintf(seen + n, sizeof(seen) - n, "%s\n", sqlite3_column_text(q, 3));
	sqlite3_finalize(q);
	ck_assert_msg(strstr(seen, "USING COVERING INDEX invitations_funnel (survey=? AND "
			  "minted_at>? AND minted_at<?)"), "%s", seen);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE "
					    "name = 'invitations_survey'", -1, &q, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(q, 0), 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
}
END_TEST

START_TEST(comment_mark_finds_its_invitation)
{
	struct cx_store *st;
	struct cx_error err;
	sqlite3 *db;
	sqlite3_stmt *q;
	char seen[1024] = "";
	size_t n = 0;

	ck_assert_msg(cx_store_open(&st, path, 1, &err) == 0, "%s", err.message);
	cx_store_close(st);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	/* the statement of src/store_answers.c */
	ck_assert_int_eq(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN UPDATE invitations SET "
					    "commented = 1 WHERE response_id = ?1", -1, &q, NULL),
			 SQLITE_OK);
	while (sqlite3_step(q) == SQLITE_ROW)
		n += (size_t)snprintf(seen + n, sizeof(seen) - n, "%s\n", sqlite3_column_text(q, 3));
	sqlite3_finalize(q);
	ck_assert_msg(strstr(seen, "INDEX invitations_response (response_id=?)"), "%s", seen);
	sqlite3_close(db);
}
END_TEST

CX_CHECK_MAIN("store_funnel", setup, teardown, funnel_reads_its_covering_index,
	      comment_mark_finds_its_invitation)
