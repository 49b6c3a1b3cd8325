/* store_endpoints.c - webhook endpoints and their deliveries over the API (the
 * cx_store_endpoint_* and cx_store_deliver* calls of include/cx/store.h, "webhook endpoints
 * and deliveries"). Any thread: each call opens a connection of its own (admin routes are
 * rare), and every committed change to an endpoint tells the outbox's subscriber cache
 * (cx_outbox_endpoints_changed).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/cxtime.h"
#include "cx/endpoint.h"
#include "store_loop.h"
#include "store_outbox.h"

static void bind_text(sqlite3_stmt *q, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, i);
}

static sqlite3 *api_db(struct cx_store *st, struct cx_error *err)
{
	return cx_store_connect(st, 0, err);
}

static sqlite3_stmt *prep(struct cx_store *st, sqlite3 *db, const char *sql,
			  struct cx_error *err)
{
	sqlite3_stmt *q = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		cx_store_db_fail(st, db, err, "webhook endpoints");
		return NULL;
	}
	return q;
}

static int exec(struct cx_store *st, sqlite3 *db, const char *sql, struct cx_error *err)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	return cx_store_db_fail(st, db, err, "webhook endpoints");
}

static int not_found(struct cx_error *err, const char *what, const char *id)
{
	return cx_error_set(err, 404, "not_found", NULL, "no %s '%.64s'", what, id);
}

static json_t *col_json_text(sqlite3_stmt *q, int i)
{
	const char *t = (const char *)sqlite3_column_text(q, i);

	return t ? json_loads(t, 0, NULL) : json_null();
}

static json_t *col_str(sqlite3_stmt *q, int i)
{
	const char *t = (const char *)sqlite3_column_text(q, i);

	return t ? json_string(t) : json_null();
}

static json_t *col_int(sqlite3_stmt *q, int i)
{
	return sqlite3_column_type(q, i) == SQLITE_NULL ? json_null()
		: json_integer(sqlite3_column_int64(q, i));
}

/* The health of endpoint id (contract: pending, delivered, dead, failing, last_*). */
static json_t *health(sqlite3 *db, const char *id)
{
	sqlite3_stmt *q = NULL;
	json_int_t counts[3] = { 0 }, oldest = 0;
	json_t *h = json_object();
	int64_t now = cx_time_now_ms();

	if (sqlite3_prepare_v2(db, "SELECT state, count(*), min(created_at) FROM deliveries "
			       "WHERE endpoint = ?1 GROUP BY state", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
		while (sqlite3_step(q) == SQLITE_ROW) {
			const char *s = (const char *)sqlite3_column_text(q, 0);
			int k = strcmp(s, "pending") == 0 ? 0 : strcmp(s, "delivered") == 0 ? 1 : 2;

			counts[k] = sqlite3_column_int64(q, 1);
			if (k == 0)
				oldest = sqlite3_column_int64(q, 2);
		}
	}
	sqlite3_finalize(q);
	json_object_set_new(h, "pending", json_integer(counts[0]));
	json_object_set_new(h, "delivered", json_integer(counts[1]));
	json_object_set_new(h, "dead", json_integer(counts[2]));
	json_object_set_new(h, "failing", json_false());
	json_object_set_new(h, "last_status", json_null());
	json_object_set_new(h, "last_error", json_null());
	json_object_set_new(h, "last_attempt_at", json_null());
	json_object_set_new(h, "oldest_pending_age_s", counts[0] ? json_integer(
				    now > oldest ? (now - oldest) / 1000 : 0) : json_null());
	q = NULL;
	if (sqlite3_prepare_v2(db, "SELECT last_status, last_error, last_at FROM deliveries "
			       "WHERE endpoint = ?1 AND last_at IS NOT NULL ORDER BY last_at DESC "
			       "LIMIT 1", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(q) == SQLITE_ROW) {
			int status = sqlite3_column_int(q, 0);

			json_object_set_new(h, "failing", json_boolean(status < 200 || status > 299));
			json_object_set_new(h, "last_status", col_int(q, 0));
			json_object_set_new(h, "last_error", col_str(q, 1));
			json_object_set_new(h, "last_attempt_at",
					    json_integer(sqlite3_column_int64(q, 2) / 1000));
		}
	}
	sqlite3_finalize(q);
	return h;
}

#define ENDPOINT_COLS "id, url, description, events, surveys, state, state_reason, " \
		      "created_at, updated_at, prev_secret_until FROM endpoints"

static json_t *endpoint_row(sqlite3 *db, sqlite3_stmt *q)
{
	int64_t until = sqlite3_column_int64(q, 9);
	const char *id = (const char *)sqlite3_column_text(q, 0);

	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:o}",
			 "id", id, "url", col_str(q, 1), "description", col_str(q, 2),
			 "events", col_json_text(q, 3), "surveys", col_json_text(q, 4),
			 "state", col_str(q, 5), "state_reason", col_str(q, 6),
			 "created_at", (json_int_t)sqlite3_column_int64(q, 7),
			 "updated_at", (json_int_t)sqlite3_column_int64(q, 8),
			 "secret_rotating_until", until > cx_time_now() ? json_integer(until)
									: json_null(),
			 "health", health(db, id));
}

static json_t *endpoint_get(struct cx_store *st, sqlite3 *db, const char *id,
			    struct cx_error *err)
{
	sqlite3_stmt *q = prep(st, db, "SELECT " ENDPOINT_COLS " WHERE id = ?1", err);
	json_t *out = NULL;
	int rc;

	if (!q)
		return NULL;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		out = endpoint_row(db, q);
	else if (rc == SQLITE_DONE)
		not_found(err, "endpoint", id);
	else
		cx_store_db_fail(st, db, err, "reading an endpoint");
	sqlite3_finalize(q);
	if (rc == SQLITE_ROW && !out)
		cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	return out;
}

json_t *cx_store_endpoint_get(struct cx_store *st, const char *id, struct cx_error *err)
{
	sqlite3 *db = api_db(st, err);
	json_t *out;

	if (!db)
		return NULL;
	out = endpoint_get(st, db, id, err);
	sqlite3_close(db);
	return out;
}

json_t *cx_store_endpoint_list(struct cx_store *st, struct cx_error *err)
{
	sqlite3 *db = api_db(st, err);
	sqlite3_stmt *q;
	json_t *arr = json_array();
	int rc;

	if (!db || !(q = prep(st, db, "SELECT " ENDPOINT_COLS " ORDER BY id", err))) {
		sqlite3_close(db);
		json_decref(arr);
		return NULL;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		json_array_append_new(arr, endpoint_row(db, q));
	if (rc != SQLITE_DONE) {
		cx_store_db_fail(st, db, err, "listing endpoints");
		json_decref(arr);
		arr = NULL;
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	return arr ? json_pack("{s:o}", "endpoints", arr) : NULL;
}

static char *dump(const json_t *v)
{
	return v && !json_is_null(v) ? json_dumps(v, JSON_COMPACT) : NULL;
}

/* Run one statement with text binds (NULL binds null); *changes = rows changed. */
static int run(struct cx_store *st, sqlite3 *db, const char *sql, const char *const *text,
	       int ntext, const int64_t *num, int nnum, int *changes, struct cx_error *err)
{
	sqlite3_stmt *q = prep(st, db, sql, err);
	int rc;

	if (!q)
		return -1;
	for (int i = 0; i < ntext; i++)
		bind_text(q, i + 1, text[i]);
	for (int i = 0; i < nnum; i++)
		sqlite3_bind_int64(q, ntext + i + 1, num[i]);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return cx_store_db_fail(st, db, err, "changing webhook endpoints");
	if (changes)
		*changes = sqlite3_changes(db);
	return 0;
}

static int endpoint_exists(struct cx_store *st, sqlite3 *db, const char *id)
{
	struct cx_error err;
	sqlite3_stmt *q = prep(st, db, "SELECT 1 FROM endpoints WHERE id = ?1", &err);
	int found;

	if (!q)
		return 1;   /* the 409 is the likelier answer */
	bind_text(q, 1, id);
	found = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	return found;
}

static int endpoint_write(struct cx_store *st, const json_t *def, const char *secret,
			  struct cx_error *err)
{
	sqlite3 *db = api_db(st, err);
	char *events = dump(json_object_get(def, "events")), *surveys =
		dump(json_object_get(def, "surveys"));
	const char *text[6] = { json_string_value(json_object_get(def, "id")),
				json_string_value(json_object_get(def, "url")),
				json_string_value(json_object_get(def, "description")),
				events ? events : "[]", surveys, secret };
	int64_t now = cx_time_now();
	int changes = 0, rc = -1;

	if (!db)
		goto out;
	if (secret) {
		int64_t num[2] = { now, CX_ENDPOINTS_MAX };

		/* one statement: two creates at once cannot both pass the cap */
		rc = run(st, db, "INSERT INTO endpoints(id, url, description, events, surveys, "
			 "secret, created_at, updated_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7 "
			 "WHERE (SELECT count(*) FROM endpoints) < ?8 "
			 "ON CONFLICT(id) DO NOTHING", text, 6, num, 2, &changes, err);
		if (rc == 0 && changes == 0 && endpoint_exists(st, db, text[0]))
			rc = cx_error_set(err, 409, "endpoint_exists", "id", "endpoint '%.64s' "
					  "exists: PUT /v1/endpoints/%.64s replaces it", text[0],
					  text[0]);
		else if (rc == 0 && changes == 0)
			rc = cx_error_set(err, 422, "too_many_endpoints", NULL, "at most %d webhook "
					  "endpoints: delete one first", CX_ENDPOINTS_MAX);
	} else {
		rc = run(st, db, "UPDATE endpoints SET url = ?2, description = ?3, events = ?4, "
			 "surveys = ?5, updated_at = ?6 WHERE id = ?1", text, 5, &now, 1, &changes,
			 err);
		if (rc == 0 && changes == 0)
			rc = not_found(err, "endpoint", text[0]);
	}
	if (rc == 0)
		cx_outbox_endpoints_changed(st);
out:
	sqlite3_close(db);
	free(events);
	free(surveys);
	return rc;
}

int cx_store_endpoint_create(struct cx_store *st, const json_t *def, const char *secret,
			     struct cx_error *err)
{
	return endpoint_write(st, def, secret, err);
}

int cx_store_endpoint_replace(struct cx_store *st, const json_t *def, struct cx_error *err)
{
	return endpoint_write(st, def, NULL, err);
}

int cx_store_endpoint_delete(struct cx_store *st, const char *id, struct cx_error *err)
{
	sqlite3 *db = api_db(st, err);
	sqlite3_stmt *q = NULL;
	char users[200] = "";
	size_t used = 0;
	int rc = -1, changes = 0, step, nusers = 0;

	if (!db)
		return -1;
	if (exec(st, db, "BEGIN IMMEDIATE", err))
		goto out;
	/* the rules whose webhook actions name it */
	if (!(q = prep(st, db, "SELECT DISTINCT r.survey, r.id FROM rules r, json_each(r.definition, "
		       "'$.actions') a WHERE json_extract(a.value, '$.type') = 'webhook' AND "
		       "json_extract(a.value, '$.endpoint') = ?1 ORDER BY 1, 2", err)))
		goto rollback;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		if (used < sizeof(users) - 1)
			used += (size_t)snprintf(users + used, sizeof(users) - used, "%s%s/%s",
						 nusers ? ", " : "", sqlite3_column_text(q, 0),
						 sqlite3_column_text(q, 1));
		nusers++;
	}
	sqlite3_finalize(q);
	if (step != SQLITE_DONE) {
		cx_store_db_fail(st, db, err, "finding the rules of an endpoint");
		goto rollback;
	}
	if (nusers) {
		cx_error_set(err, 409, "endpoint_in_use", NULL, "rules send to endpoint '%.64s' "
			     "(survey/rule): %s; change them first", id, users);
		goto rollback;
	}
	if (run(st, db, "DELETE FROM deliveries WHERE endpoint = ?1", &id, 1, NULL, 0, NULL, err) ||
	    run(st, db, "DELETE FROM endpoints WHERE id = ?1", &id, 1, NULL, 0, &changes, err))
		goto rollback;
	if (!changes) {
		not_found(err, "endpoint", id);
		goto rollback;
	}
	if (exec(st, db, "COMMIT", err))
		goto rollback;
	cx_outbox_endpoints_changed(st);
	rc = 0;
	goto out;
rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_close(db);
	return rc;
}

int cx_store_endpoint_set_state(struct cx_store *st, const char *id, const char *state,
				const char *reason, struct cx_error *err)
{
	sqlite3 *db = api_db(st, err);
	const char *text[3] = { id, state, reason };
	int64_t num[2] = { cx_time_now(), cx_time_now_ms() };
	int changes = 0, rc = -1;

	if (!db)
		return -1;
	if (exec(st, db, "BEGIN IMMEDIATE", err))
		goto out;
	if (run(st, db, "UPDATE endpoints SET state = ?2, state_reason = ?3, updated_at = ?4 "
		"WHERE id = ?1", text, 3, num, 1, &changes, err))
		goto rollback;
	if (!changes) {
		not_found(err, "endpoint", id);
		goto rollback;
	}
	/* resumed: what waited is due now; paused: parked */
	if (strcmp(state, "active") == 0 &&
	    run(st, db, "UPDATE deliveries SET next_at = ?2 WHERE endpoint = ?1 AND state = "
		"'pending' AND next_at > ?2", text, 1, num + 1, 1, NULL, err))
		goto rollback;
	if (strcmp(state, "active") != 0 &&
	    run(st, db, "UPDATE deliveries SET next_at = " PARKED_MS " WHERE endpoint = ?1 AND "
		"state = 'pending'", text, 1, NULL, 0, NULL, err))
		goto rollback;
	if (exec(st, db, "COMMIT", err))
		goto rollback;
	cx_outbox_endpoints_changed(st);
	rc = 0;
	goto out;
rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_close(db);
	return rc;
}

int cx_store_endpoint_rotate(struct cx_store *st, const char *id, const char *secret,
			     int64_t prev_until, struct cx_error *err)
{
	sqlite3 *db = api_db(st, err);
	const char *text[2] = { id, secret };
	int64_t num[2] = { prev_until, cx_time_now() };
	int changes = 0, rc = -1;

	if (!db)
		return -1;
	rc = run(st, db, "UPDATE endpoints SET prev_secret = secret, prev_secret_until = ?3, "
		 "secret = ?2, updated_at = ?4 WHERE id = ?1", text, 2, num, 2, &changes, err);
	if (rc == 0 && !changes)
		rc = not_found(err, "endpoint", id);
	sqlite3_close(db);
	return rc;
}

int cx_store_endpoint_retry_dead(struct cx_store *st, const char *id, int64_t *n,
				 struct cx_error *err)
{
	sqlite3 *db = api_db(st, err);
	int64_t now = cx_time_now_ms();
	int changes = 0, rc = -1;
	sqlite3_stmt *q;

	*n = 0;
	if (!db)
		return -1;
	if (!(q = prep(st, db, "SELECT 1 FROM endpoints WHERE id = ?1", err)))
		goto out;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW) {
		rc = rc == SQLITE_DONE ? not_found(err, "endpoint", id)
				       : cx_store_db_fail(st, db, err, "reading an endpoint");
		goto out;
	}
	rc = run(st, db, "UPDATE deliveries SET state = 'pending', next_at = " DUE("?2") ", "
		 "budget_from = attempts WHERE endpoint = ?1 AND state = 'dead'", &id, 1, &now, 1, &changes, err);
	*n = changes;
out:
	sqlite3_close(db);
	return rc;
}

#define DELIVERY_COLS "id, msg_id, endpoint, type, state, attempts, next_at, created_at, " \
		      "last_at, last_status, last_error, delivered_at, response_id, rule, case_id"

static json_t *delivery_row(sqlite3_stmt *q)
{
	int pending = strcmp((const char *)sqlite3_column_text(q, 4), "pending") == 0;

	return json_pack("{s:I, s:o, s:o, s:o, s:o, s:I, s:o, s:I, s:o, s:o, s:o, s:o, s:o, "
			 "s:o, s:o}",
			 "id", (json_int_t)sqlite3_column_int64(q, 0), "webhook_id", col_str(q, 1),
			 "endpoint", col_str(q, 2), "type", col_str(q, 3), "state", col_str(q, 4),
			 "attempts", (json_int_t)sqlite3_column_int64(q, 5),
			 "next_attempt_at_ms", pending && sqlite3_column_int64(q, 6) <
			 strtoll(PARKED_MS, NULL, 10) ? col_int(q, 6) : json_null(),
			 "created_at_ms", (json_int_t)sqlite3_column_int64(q, 7),
			 "last_attempt_at_ms", col_int(q, 8), "last_status", col_int(q, 9),
			 "last_error", col_str(q, 10), "delivered_at_ms", col_int(q, 11),
			 "response_id", col_int(q, 12), "rule", col_str(q, 13),
			 "case_id", col_int(q, 14));
}

json_t *cx_store_deliveries(struct cx_store *st, const char *endpoint, const char *state,
			    int64_t before, unsigned limit, struct cx_error *err)
{
	sqlite3 *db = cx_store_connect(st, 1, err);
	sqlite3_stmt *q = NULL;
	json_t *arr = json_array(), *out = NULL;
	int64_t last = 0;
	unsigned n = 0;
	int rc;

	if (!db)
		goto out;
	if (!(q = prep(st, db, "SELECT 1 FROM endpoints WHERE id = ?1", err)))
		goto out;
	sqlite3_bind_text(q, 1, endpoint, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	q = NULL;
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			not_found(err, "endpoint", endpoint);
		else
			cx_store_db_fail(st, db, err, "reading an endpoint");
		goto out;
	}
	if (!(q = prep(st, db, "SELECT " DELIVERY_COLS " FROM deliveries WHERE endpoint = ?1 AND "
		       "id < ?2 AND (?3 IS NULL OR state = ?3) ORDER BY id DESC LIMIT ?4", err)))
		goto out;
	sqlite3_bind_text(q, 1, endpoint, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, before);
	bind_text(q, 3, state);
	sqlite3_bind_int64(q, 4, limit);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		json_array_append_new(arr, delivery_row(q));
		last = sqlite3_column_int64(q, 0);
		n++;
	}
	if (rc != SQLITE_DONE) {
		cx_store_db_fail(st, db, err, "listing deliveries");
		goto out;
	}
	if (n == limit && n > 0) {
		char cur[24];

		snprintf(cur, sizeof(cur), "%lld", (long long)last);
		out = json_pack("{s:O, s:s}", "deliveries", arr, "next", cur);
	} else {
		out = json_pack("{s:O, s:n}", "deliveries", arr, "next");
	}
out:
	json_decref(arr);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return out;
}

static json_t *delivery_get(struct cx_store *st, sqlite3 *db, int64_t id, int full,
			    struct cx_error *err)
{
	sqlite3_stmt *q = prep(st, db, "SELECT " DELIVERY_COLS ", payload FROM deliveries "
			       "WHERE id = ?1", err);
	json_t *d = NULL, *atts;
	int rc;

	if (!q)
		return NULL;
	sqlite3_bind_int64(q, 1, id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		d = delivery_row(q);
		if (full)
			json_object_set_new(d, "payload", col_str(q, 15));
	} else if (rc == SQLITE_DONE) {
		cx_error_set(err, 404, "not_found", NULL, "no delivery %lld", (long long)id);
	} else {
		cx_store_db_fail(st, db, err, "reading a delivery");
	}
	sqlite3_finalize(q);
	if (!d || !full)
		return d;
	if (!(q = prep(st, db, "SELECT n, at, duration_ms, status, error FROM delivery_attempts "
		       "WHERE delivery = ?1 ORDER BY n", err))) {
		json_decref(d);
		return NULL;
	}
	atts = json_array();
	sqlite3_bind_int64(q, 1, id);
	while (sqlite3_step(q) == SQLITE_ROW)
		json_array_append_new(atts, json_pack("{s:I, s:I, s:o, s:o, s:o}",
			"n", (json_int_t)sqlite3_column_int64(q, 0),
			"at_ms", (json_int_t)sqlite3_column_int64(q, 1),
			"duration_ms", col_int(q, 2), "status", col_int(q, 3),
			"error", col_str(q, 4)));
	sqlite3_finalize(q);
	json_object_set_new(d, "attempts", atts);   /* the contract: the list here */
	return d;
}

json_t *cx_store_delivery_get(struct cx_store *st, int64_t id, struct cx_error *err)
{
	sqlite3 *db = cx_store_connect(st, 1, err);
	json_t *d;

	if (!db)
		return NULL;
	d = delivery_get(st, db, id, 1, err);
	sqlite3_close(db);
	return d;
}

json_t *cx_store_delivery_retry(struct cx_store *st, int64_t id, struct cx_error *err)
{
	sqlite3 *db = api_db(st, err);
	int64_t num[2] = { id, cx_time_now_ms() };
	json_t *d = NULL;
	int changes = 0;

	if (!db)
		return NULL;
	if (run(st, db, "UPDATE deliveries SET state = 'pending', next_at = " DUE("?2") ", "
		"budget_from = attempts, delivered_at = NULL WHERE id = ?1", NULL, 0, num, 2,
		&changes, err) == 0) {
		if (changes)
			d = delivery_get(st, db, id, 0, err);
		else
			cx_error_set(err, 404, "not_found", NULL, "no delivery %lld", (long long)id);
	}
	sqlite3_close(db);
	return d;
}

json_t *cx_store_endpoint_test(struct cx_store *st, const char *id, struct cx_error *err)
{
	sqlite3 *db = api_db(st, err);
	json_t *data = json_pack("{s:s, s:s}", "endpoint", id, "message", "a test event from cxd");
	struct cx_event ev = { .type = "webhook.test", .at_ms = cx_time_now_ms(), .data = data };
	json_t *d = NULL, *e;
	int queued = 0;

	if (!db || !data)
		goto out;
	if (!(e = endpoint_get(st, db, id, err)))
		goto out;
	/* (real events are held for a disabled endpoint; a test is of no use there) */
	if (strcmp(json_string_value(json_object_get(e, "state")) ?: "", "disabled") == 0) {
		json_decref(e);
		cx_error_set(err, 409, "endpoint_disabled", NULL, "endpoint '%.64s' is disabled: "
			     "resume it first", id);
		goto out;
	}
	json_decref(e);
	if (exec(st, db, "BEGIN IMMEDIATE", err))
		goto out;
	if (cx_outbox_insert(st, db, &ev, id, &queued, err)) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	if (!queued) {   /* deleted since it was read */
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		cx_error_set(err, 404, "not_found", NULL, "no endpoint '%.64s'", id);
		goto out;
	}
	if (exec(st, db, "COMMIT", err)) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	d = delivery_get(st, db, sqlite3_last_insert_rowid(db), 0, err);
out:
	json_decref(data);
	sqlite3_close(db);
	return d;
}

int cx_store_outbox_stats(struct cx_store *st, int64_t *pending, int64_t *oldest_ms,
			  int64_t by_state[3])
{
	struct cx_error err;
	sqlite3 *db = cx_store_connect(st, 1, &err);
	sqlite3_stmt *q = NULL;
	int rc = -1;

	*pending = *oldest_ms = 0;
	by_state[0] = by_state[1] = by_state[2] = 0;
	if (!db)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT count(*), coalesce(min(created_at), 0) FROM "
			       "deliveries WHERE state = 'pending'", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_ROW)
		goto out;
	*pending = sqlite3_column_int64(q, 0);
	*oldest_ms = sqlite3_column_int64(q, 1);
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(db, "SELECT state, count(*) FROM endpoints GROUP BY state", -1, &q,
			       NULL) != SQLITE_OK)
		goto out;
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(q, 0);

		by_state[strcmp(s, "active") == 0 ? 0 : strcmp(s, "paused") == 0 ? 1 : 2] =
			sqlite3_column_int64(q, 1);
	}
	rc = 0;
out:
	sqlite3_finalize(q);
	sqlite3_close(db);
	return rc;
}
