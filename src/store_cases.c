/* store_cases.c - follow-up cases (stub: issue 12, the cases part fills it in). */
#include <stdlib.h>

#include "store_loop.h"

struct cx_casestore {
	struct cx_store *st;
};

int cx_casestore_open(struct cx_store *st, struct cx_casestore **out, struct cx_error *err)
{
	struct cx_casestore *cs = calloc(1, sizeof(*cs));

	*out = NULL;
	if (!cs)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	cs->st = st;
	*out = cs;
	return 0;
}

void cx_casestore_close(struct cx_casestore *cs)
{
	free(cs);
}

int cx_casestore_erase_customer(struct cx_store *st, const char *customer,
				struct cx_error *err)
{
	sqlite3 *db = cx_store_wdb(st);
	sqlite3_stmt *q;
	int rc;

	/* history goes with its case (ON DELETE CASCADE) */
	if (sqlite3_prepare_v2(db, "DELETE FROM cases WHERE customer = ?1", -1, &q, NULL) !=
	    SQLITE_OK)
		return cx_store_db_fail(st, db, err, "preparing erasure of cases");
	sqlite3_bind_text(q, 1, customer, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "erasure of cases");
}

int cx_store_case_open(struct cx_store *st, const struct cx_response *r, int64_t id,
		       const char *rule, const char *assignee, int64_t *case_id, int *opened,
		       struct cx_error *err)
{
	(void)st;
	(void)r;
	(void)id;
	(void)rule;
	(void)assignee;
	(void)err;
	*case_id = 0;
	*opened = 0;
	return 0;
}
