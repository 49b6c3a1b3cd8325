/* store_outbox.c - the outbox: webhook deliveries written in the transaction that caused
 * them (see include/cx/store.h, "outbox", and src/store_loop.h).
 *
 * Statements on the writer's connection are prepared once and kept; other connections
 * (a case changed over the API, an alert) prepare theirs per call: those paths are rare.
 */
#include <stdlib.h>
#include <string.h>

#include "cx/cxtime.h"
#include "cx/webhook_sign.h"
#include "store_loop.h"

enum { Q_ONE, Q_SUBSCRIBED, Q_INSERT, NQ };

static const char *const sql_of[NQ] = {
	[Q_ONE] = "SELECT id FROM endpoints WHERE id = ?1 AND state <> 'disabled'",
	/* every endpoint whose `events` lists the type, and whose `surveys` (if any) lists
	 * the survey */
	[Q_SUBSCRIBED] = "SELECT id FROM endpoints WHERE state <> 'disabled' "
			 "AND EXISTS (SELECT 1 FROM json_each(events) WHERE value = ?1) "
			 "AND (surveys IS NULL OR EXISTS (SELECT 1 FROM json_each(surveys) "
			 "WHERE value = ?2)) ORDER BY id",
	[Q_INSERT] = "INSERT INTO deliveries(msg_id, endpoint, type, survey, customer, "
		     "response_id, rule, case_id, payload, next_at, created_at) "
		     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
};

struct cx_outbox {
	struct cx_store *st;
	sqlite3_stmt *q[NQ];   /* on the writer's connection */
};

int cx_outbox_open(struct cx_store *st, struct cx_outbox **out, struct cx_error *err)
{
	struct cx_outbox *ob = calloc(1, sizeof(*ob));
	sqlite3 *db = cx_store_wdb(st);

	*out = NULL;
	if (!ob)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	ob->st = st;
	for (int i = 0; i < NQ; i++)
		if (sqlite3_prepare_v3(db, sql_of[i], -1, SQLITE_PREPARE_PERSISTENT, &ob->q[i],
				       NULL) != SQLITE_OK) {
			cx_store_db_fail(st, db, err, "preparing the outbox");
			cx_outbox_close(ob);
			return -1;
		}
	*out = ob;
	return 0;
}

void cx_outbox_close(struct cx_outbox *ob)
{
	if (!ob)
		return;
	for (int i = 0; i < NQ; i++)
		sqlite3_finalize(ob->q[i]);
	free(ob);
}

/* Statement i for db: the kept one on the writer's connection (reset), else a new one the
 * caller finalizes (*owned = 1). */
static sqlite3_stmt *stmt(struct cx_store *st, sqlite3 *db, int i, int *owned)
{
	struct cx_outbox *ob = cx_store_outbox(st);
	sqlite3_stmt *q = NULL;

	*owned = 0;
	if (db == cx_store_wdb(st) && ob) {
		sqlite3_reset(ob->q[i]);
		sqlite3_clear_bindings(ob->q[i]);
		return ob->q[i];
	}
	if (sqlite3_prepare_v2(db, sql_of[i], -1, &q, NULL) != SQLITE_OK)
		return NULL;
	*owned = 1;
	return q;
}

static void done(sqlite3_stmt *q, int owned)
{
	if (owned)
		sqlite3_finalize(q);
	else if (q)
		sqlite3_reset(q);
}

static void bind_text(sqlite3_stmt *q, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, i);
}

static void bind_id(sqlite3_stmt *q, int i, int64_t v)
{
	if (v)
		sqlite3_bind_int64(q, i, v);
	else
		sqlite3_bind_null(q, i);
}

/* Write one delivery of body to endpoint. */
static int insert_one(struct cx_store *st, sqlite3 *db, const struct cx_event *ev,
		      const char *endpoint, const char *body, int64_t now_ms,
		      struct cx_error *err)
{
	char msg_id[CX_WHSIG_MSG_ID_SIZE];
	int owned, rc;
	sqlite3_stmt *q = stmt(st, db, Q_INSERT, &owned);

	if (!q)
		return cx_store_db_fail(st, db, err, "queueing a webhook");
	if (cx_whsig_msg_id(msg_id)) {
		done(q, owned);
		return cx_error_set(err, 503, "storage_unavailable", NULL, "no random numbers for "
				    "a webhook id");
	}
	sqlite3_bind_text(q, 1, msg_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, endpoint, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, ev->type, -1, SQLITE_STATIC);
	bind_text(q, 4, ev->survey);
	bind_text(q, 5, ev->customer);
	bind_id(q, 6, ev->response_id);
	bind_text(q, 7, ev->rule);
	bind_id(q, 8, ev->case_id);
	sqlite3_bind_text(q, 9, body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 10, now_ms);
	rc = sqlite3_step(q);
	done(q, owned);
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "queueing a webhook");
}

static char *payload(const struct cx_event *ev)
{
	char ts[40];
	int64_t ms = ev->at_ms ? ev->at_ms : cx_time_now_ms();
	json_t *o;
	char *body;

	cx_time_format_rfc3339(ms / 1000, ts, sizeof(ts));
	/* "2026-11-26T16:00:00Z" -> with milliseconds */
	if (strlen(ts) == 20 && ts[19] == 'Z')
		snprintf(ts + 19, sizeof(ts) - 19, ".%03dZ", (int)(ms % 1000));
	o = json_pack("{s:s, s:s, s:O}", "type", ev->type, "timestamp", ts, "data",
		      ev->data ? ev->data : json_object());
	if (!o)
		return NULL;
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return body;
}

int cx_outbox_insert(struct cx_store *st, sqlite3 *db, const struct cx_event *ev,
		     const char *endpoint, int *queued, struct cx_error *err)
{
	int owned, step, n = 0, rc = 0;
	int64_t now = cx_time_now_ms();
	char *body = NULL;
	sqlite3_stmt *q = stmt(st, db, endpoint ? Q_ONE : Q_SUBSCRIBED, &owned);

	if (queued)
		*queued = 0;
	if (!q)
		return cx_store_db_fail(st, db, err, "finding webhook endpoints");
	if (endpoint) {
		sqlite3_bind_text(q, 1, endpoint, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_text(q, 1, ev->type, -1, SQLITE_STATIC);
		bind_text(q, 2, ev->survey ? ev->survey : "");
	}
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		if (!body && !(body = payload(ev))) {
			rc = cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
			break;
		}
		if ((rc = insert_one(st, db, ev, (const char *)sqlite3_column_text(q, 0), body, now,
				     err)))
			break;
		n++;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = cx_store_db_fail(st, db, err, "finding webhook endpoints");
	done(q, owned);
	free(body);
	if (queued)
		*queued = n;
	return rc;
}

int cx_store_emit(struct cx_store *st, const struct cx_event *ev, const char *endpoint,
		  int *queued, struct cx_error *err)
{
	return cx_outbox_insert(st, cx_store_wdb(st), ev, endpoint, queued, err);
}

static int wexec(struct cx_store *st, const char *sql, const char *text, int64_t num,
		 struct cx_error *err)
{
	sqlite3 *db = cx_store_wdb(st);
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return cx_store_db_fail(st, db, err, "preparing erasure");
	if (text)
		sqlite3_bind_text(q, 1, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(q, 1, num);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "erasure of deliveries");
}

int cx_outbox_erase_customer(struct cx_store *st, const char *customer, struct cx_error *err)
{
	/* attempts go with their delivery (ON DELETE CASCADE) */
	return wexec(st, "DELETE FROM deliveries WHERE customer = ?1", customer, 0, err);
}

int cx_outbox_redact_response(struct cx_store *st, int64_t response_id, struct cx_error *err)
{
	return wexec(st, "UPDATE deliveries SET payload = json_remove(payload, "
		     "'$.data.response.comment') WHERE response_id = ?1", NULL, response_id, err);
}
