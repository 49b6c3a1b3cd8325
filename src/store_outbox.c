/* store_outbox.c - the outbox: webhook deliveries written in the transaction that caused
 * them (see include/cx/store.h, "outbox" and "webhook endpoints and deliveries", and
 * src/store_loop.h); the endpoints; what the delivery worker reads and records.
 *
 * Statements on the writer's connection are prepared once and kept; other connections
 * (a case changed over the API, an alert) prepare theirs per call: those paths are rare.
 *
 * The subscriber lookup runs for every new response, so it reads an in-memory copy of the
 * endpoints (id, events, surveys; disabled ones left out), not the table. The copy is made
 * from the table on the caller's connection, inside its transaction, whenever the
 * generation number `gen` moved since it was made; every change to an endpoint bumps `gen`
 * after its commit (this file makes all of them). The copy is under `mu`; the matching ids
 * are copied out before any row is written, so no thread waits for SQLite holding `mu`.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/cxtime.h"
#include "cx/webhook_sign.h"
#include "store_loop.h"

/* A paused or disabled endpoint's pending deliveries are "parked": next_at is PARKED_MS, so
 * the worker's scan of the due index never walks them (a paused endpoint may hold a large
 * backlog); resuming makes them due now. Every write of next_at goes through DUE(x):
 * x if the delivery's endpoint is active, else PARKED_MS. */
#define PARKED_MS "9000000000000000"
#define DUE(x) "CASE WHEN (SELECT state FROM endpoints WHERE id = deliveries.endpoint) = " \
	       "'active' THEN " x " ELSE " PARKED_MS " END"

enum { Q_ONE, Q_INSERT, NQ };

static const char *const sql_of[NQ] = {
	[Q_ONE] = "SELECT id FROM endpoints WHERE id = ?1 AND state <> 'disabled'",
	[Q_INSERT] = "INSERT INTO deliveries(msg_id, endpoint, type, survey, customer, "
		     "response_id, rule, case_id, payload, next_at, created_at) "
		     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, coalesce((SELECT CASE WHEN "
		     "state = 'active' THEN ?10 ELSE " PARKED_MS " END FROM endpoints WHERE "
		     "id = ?2), ?10), ?10)",
};

struct sub {
	char *id;
	json_t *events;    /* array of strings */
	json_t *surveys;   /* array of strings, NULL = every survey */
};

struct cx_outbox {
	struct cx_store *st;
	sqlite3_stmt *q[NQ];   /* on the writer's connection */
	atomic_uint gen;       /* bumped after every committed change to an endpoint */
	pthread_mutex_t mu;    /* the copy of the endpoints: */
	int built;
	unsigned built_gen;
	struct sub *subs;
	size_t nsubs;
};

int cx_outbox_open(struct cx_store *st, struct cx_outbox **out, struct cx_error *err)
{
	struct cx_outbox *ob = calloc(1, sizeof(*ob));
	sqlite3 *db = cx_store_wdb(st);

	*out = NULL;
	if (!ob)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	ob->st = st;
	pthread_mutex_init(&ob->mu, NULL);
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

static void subs_clear(struct cx_outbox *ob)
{
	for (size_t i = 0; i < ob->nsubs; i++) {
		free(ob->subs[i].id);
		json_decref(ob->subs[i].events);
		json_decref(ob->subs[i].surveys);
	}
	free(ob->subs);
	ob->subs = NULL;
	ob->nsubs = 0;
	ob->built = 0;
}

/* After the commit of any change to the endpoints table. */
static void endpoints_changed(struct cx_store *st)
{
	struct cx_outbox *ob = cx_store_outbox(st);

	if (ob)
		atomic_fetch_add(&ob->gen, 1);
}

void cx_outbox_close(struct cx_outbox *ob)
{
	if (!ob)
		return;
	for (int i = 0; i < NQ; i++)
		sqlite3_finalize(ob->q[i]);
	subs_clear(ob);
	pthread_mutex_destroy(&ob->mu);
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

/* Make the first 8 characters after "msg_" the time in ms, base 62 in ASCII order, so that
 * new ids land at the end of the msg_id UNIQUE index: random ids dirtied a random index
 * page per delivery, and each group commit wrote them all (measured: about half the POST
 * rate with one delivery per response). 16 random characters (95 bits) remain. */
static void time_ordered(char *msg_id, int64_t ms)
{
	static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	uint64_t v = ms > 0 ? (uint64_t)ms : 0;

	for (int i = 11; i >= 4; i--) {
		msg_id[i] = digits[v % 62];
		v /= 62;
	}
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
	time_ordered(msg_id, now_ms);
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

/* Under ob->mu: make the copy of the endpoints from db. */
static int subs_build(struct cx_outbox *ob, sqlite3 *db)
{
	unsigned gen = atomic_load(&ob->gen);   /* read first: a change after it rebuilds */
	sqlite3_stmt *q;
	size_t cap = 0;
	int rc;

	subs_clear(ob);
	if (sqlite3_prepare_v2(db, "SELECT id, events, surveys FROM endpoints WHERE state <> "
			       "'disabled' ORDER BY id", -1, &q, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *sv = (const char *)sqlite3_column_text(q, 2);
		struct sub sb = { 0 };

		if (ob->nsubs == cap) {
			struct sub *n = realloc(ob->subs, (cap = cap ? 2 * cap : 8) * sizeof(*n));

			if (!n)
				break;
			ob->subs = n;
		}
		sb.id = strdup((const char *)sqlite3_column_text(q, 0));
		sb.events = json_loads((const char *)sqlite3_column_text(q, 1), 0, NULL);
		sb.surveys = sv ? json_loads(sv, 0, NULL) : NULL;
		if (!sb.id || !json_is_array(sb.events) || (sv && !json_is_array(sb.surveys))) {
			free(sb.id);
			json_decref(sb.events);
			json_decref(sb.surveys);
			break;
		}
		ob->subs[ob->nsubs++] = sb;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		subs_clear(ob);
		return -1;
	}
	ob->built = 1;
	ob->built_gen = gen;
	return 0;
}

static int listed(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

/* The ids of the endpoints subscribed to ev into *ids (malloc'd array of malloc'd strings,
 * *n of them; nothing allocated when none). */
static int subscribers(struct cx_store *st, sqlite3 *db, const struct cx_event *ev,
		       char ***ids, size_t *n)
{
	struct cx_outbox *ob = cx_store_outbox(st);
	int rc = 0;

	*ids = NULL;
	*n = 0;
	pthread_mutex_lock(&ob->mu);
	if (!ob->built || ob->built_gen != atomic_load(&ob->gen))
		rc = subs_build(ob, db);
	for (size_t i = 0; rc == 0 && i < ob->nsubs; i++) {
		const struct sub *sb = &ob->subs[i];
		char **more;

		if (!listed(sb->events, ev->type) ||
		    (sb->surveys && !listed(sb->surveys, ev->survey ? ev->survey : "")))
			continue;
		if (!(more = realloc(*ids, (*n + 1) * sizeof(*more))) ||
		    !(more[*n] = strdup(sb->id))) {
			if (more)
				*ids = more;
			rc = -1;
			break;
		}
		*ids = more;
		(*n)++;
	}
	pthread_mutex_unlock(&ob->mu);
	return rc;
}

static void free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

int cx_outbox_insert(struct cx_store *st, sqlite3 *db, const struct cx_event *ev,
		     const char *endpoint, int *queued, struct cx_error *err)
{
	int owned, step, n = 0, rc = 0;
	int64_t now = cx_time_now_ms();
	char *body = NULL, **ids = NULL;
	size_t nids = 0;
	sqlite3_stmt *q;

	if (queued)
		*queued = 0;
	if (!endpoint) {
		if (subscribers(st, db, ev, &ids, &nids)) {
			free_ids(ids, nids);
			return cx_store_db_fail(st, db, err, "finding webhook endpoints");
		}
		for (size_t i = 0; rc == 0 && i < nids; i++) {
			if (!body && !(body = payload(ev)))
				rc = cx_error_set(err, 503, "storage_unavailable", NULL,
						  "out of memory");
			else if ((rc = insert_one(st, db, ev, ids[i], body, now, err)) == 0)
				n++;
		}
		free_ids(ids, nids);
		free(body);
		if (queued)
			*queued = n;
		return rc;
	}
	if (!(q = stmt(st, db, Q_ONE, &owned)))
		return cx_store_db_fail(st, db, err, "finding webhook endpoints");
	sqlite3_bind_text(q, 1, endpoint, -1, SQLITE_STATIC);
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

/* ---- endpoints and deliveries over the API (any thread, a connection per call) ---- */

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
		rc = run(st, db, "INSERT INTO endpoints(id, url, description, events, surveys, "
			 "secret, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) "
			 "ON CONFLICT(id) DO NOTHING", text, 6, &now, 1, &changes, err);
		if (rc == 0 && changes == 0)
			rc = cx_error_set(err, 409, "endpoint_exists", "id", "endpoint '%.64s' "
					  "exists: PUT /v1/endpoints/%.64s replaces it", text[0],
					  text[0]);
	} else {
		rc = run(st, db, "UPDATE endpoints SET url = ?2, description = ?3, events = ?4, "
			 "surveys = ?5, updated_at = ?6 WHERE id = ?1", text, 5, &now, 1, &changes,
			 err);
		if (rc == 0 && changes == 0)
			rc = not_found(err, "endpoint", text[0]);
	}
	if (rc == 0)
		endpoints_changed(st);
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
	endpoints_changed(st);
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
	endpoints_changed(st);
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
		"budget_from = attempts WHERE id = ?1", NULL, 0, num, 2, &changes, err) == 0) {
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
	json_decref(e);
	if (exec(st, db, "BEGIN IMMEDIATE", err))
		goto out;
	if (cx_outbox_insert(st, db, &ev, id, &queued, err)) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	if (!queued) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		cx_error_set(err, 409, "endpoint_disabled", NULL, "endpoint '%.64s' is disabled: "
			     "resume it first", id);
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

/* ---- the delivery worker's side ---- */

struct cx_outbox_worker {
	struct cx_store *st;
	sqlite3 *rdb, *wdb;
	sqlite3_stmt *due, *attempt, *update, *disable, *park;
};

void cx_store_worker_close(struct cx_outbox_worker *w)
{
	if (!w)
		return;
	sqlite3_finalize(w->due);
	sqlite3_finalize(w->attempt);
	sqlite3_finalize(w->update);
	sqlite3_finalize(w->disable);
	sqlite3_finalize(w->park);
	sqlite3_close(w->rdb);
	sqlite3_close(w->wdb);
	free(w);
}

int cx_store_worker_open(struct cx_store *st, struct cx_outbox_worker **out,
			 struct cx_error *err)
{
	struct cx_outbox_worker *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	w->st = st;
	if (!(w->rdb = cx_store_connect(st, 1, err)) || !(w->wdb = cx_store_connect(st, 0, err)))
		goto fail;
	/* the due index, then the endpoint's row: only active endpoints' deliveries */
	if (sqlite3_prepare_v3(w->rdb, "SELECT d.id, d.msg_id, d.endpoint, d.payload, d.attempts, "
			       "d.budget_from, e.url, e.secret, e.prev_secret, e.prev_secret_until "
			       "FROM deliveries d JOIN endpoints e ON e.id = d.endpoint "
			       "WHERE d.state = 'pending' AND d.next_at <= ?1 AND e.state = 'active' "
			       "ORDER BY d.next_at LIMIT ?2", -1, SQLITE_PREPARE_PERSISTENT, &w->due,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(w->wdb, "INSERT OR REPLACE INTO delivery_attempts(delivery, n, at, "
			       "duration_ms, status, error) SELECT id, attempts + 1, ?2, ?3, ?4, ?5 "
			       "FROM deliveries WHERE id = ?1", -1, SQLITE_PREPARE_PERSISTENT,
			       &w->attempt, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(w->wdb, "UPDATE deliveries SET attempts = attempts + 1, last_at = ?2, "
			       "last_status = ?3, last_error = ?4, state = ?5, next_at = " DUE("?6") ", "
			       "delivered_at = coalesce(?7, delivered_at) WHERE id = ?1 AND state = "
			       "'pending'", -1, SQLITE_PREPARE_PERSISTENT, &w->update, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(w->wdb, "UPDATE endpoints SET state = 'disabled', state_reason = ?2, "
			       "updated_at = ?3 WHERE id = ?1 AND state = 'active'", -1,
			       SQLITE_PREPARE_PERSISTENT, &w->disable, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(w->wdb, "UPDATE deliveries SET next_at = " PARKED_MS " WHERE "
			       "endpoint = ?1 AND state = 'pending'", -1, SQLITE_PREPARE_PERSISTENT,
			       &w->park, NULL) != SQLITE_OK) {
		cx_store_db_fail(st, w->rdb, err, "preparing the delivery worker");
		goto fail;
	}
	*out = w;
	return 0;
fail:
	cx_store_worker_close(w);
	return -1;
}

static void copy_col(char *dst, size_t len, sqlite3_stmt *q, int i)
{
	const char *t = (const char *)sqlite3_column_text(q, i);

	snprintf(dst, len, "%s", t ? t : "");
}

int cx_store_worker_due(struct cx_outbox_worker *w, int64_t now_ms, unsigned max_rows,
			int (*want)(void *ctx, int64_t id, const char *endpoint),
			int (*fn)(void *ctx, struct cx_due *d), void *ctx, struct cx_error *err)
{
	sqlite3_stmt *q = w->due;
	int rc, stop = 0;

	sqlite3_reset(q);
	sqlite3_bind_int64(q, 1, now_ms);
	sqlite3_bind_int64(q, 2, max_rows);
	while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct cx_due d = { .id = sqlite3_column_int64(q, 0) };

		copy_col(d.endpoint, sizeof(d.endpoint), q, 2);
		if ((stop = want(ctx, d.id, d.endpoint)) != 1) {
			stop = stop < 0;
			continue;
		}
		stop = 0;
		copy_col(d.msg_id, sizeof(d.msg_id), q, 1);
		d.payload = strdup((const char *)sqlite3_column_text(q, 3));
		d.attempts = sqlite3_column_int(q, 4);
		d.budget_from = sqlite3_column_int(q, 5);
		d.url = strdup((const char *)sqlite3_column_text(q, 6));
		copy_col(d.secret, sizeof(d.secret), q, 7);
		copy_col(d.prev_secret, sizeof(d.prev_secret), q, 8);
		d.prev_until = sqlite3_column_int64(q, 9);
		if (d.payload && d.url)
			stop = fn(ctx, &d) < 0;
		free(d.payload);
		free(d.url);
		explicit_bzero(d.secret, sizeof(d.secret));
		explicit_bzero(d.prev_secret, sizeof(d.prev_secret));
	}
	if (!stop && rc != SQLITE_DONE) {
		sqlite3_reset(q);
		return cx_store_db_fail(w->st, w->rdb, err, "finding due deliveries");
	}
	sqlite3_reset(q);   /* ends the read transaction */
	return 0;
}

int cx_store_worker_record(struct cx_outbox_worker *w, const struct cx_attempt *a, size_t n,
			   struct cx_error *err)
{
	static const char *const states[] = {
		[CX_ATTEMPT_DELIVERED] = "delivered", [CX_ATTEMPT_RETRY] = "pending",
		[CX_ATTEMPT_GONE] = "pending", [CX_ATTEMPT_DEAD] = "dead",
	};
	int disabled = 0;

	if (sqlite3_exec(w->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return cx_store_db_fail(w->st, w->wdb, err, "recording webhook attempts");
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *q = w->attempt;

		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, a[i].id);
		sqlite3_bind_int64(q, 2, a[i].at_ms);
		sqlite3_bind_int64(q, 3, a[i].duration_ms);
		bind_id(q, 4, a[i].status);
		bind_text(q, 5, a[i].error);
		if (sqlite3_step(q) != SQLITE_DONE)
			goto fail;
		q = w->update;
		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, a[i].id);
		sqlite3_bind_int64(q, 2, a[i].at_ms);
		bind_id(q, 3, a[i].status);
		bind_text(q, 4, a[i].error);
		sqlite3_bind_text(q, 5, states[a[i].outcome], -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 6, a[i].next_at_ms);
		if (a[i].outcome == CX_ATTEMPT_DELIVERED)
			sqlite3_bind_int64(q, 7, a[i].at_ms + a[i].duration_ms);
		else
			sqlite3_bind_null(q, 7);
		if (sqlite3_step(q) != SQLITE_DONE)
			goto fail;
		if (a[i].outcome == CX_ATTEMPT_GONE) {
			char why[160];

			snprintf(why, sizeof(why), "disabled: the receiver answered 410 Gone at %lld "
				 "(resume to send again)", (long long)(a[i].at_ms / 1000));
			q = w->disable;
			sqlite3_reset(q);
			sqlite3_bind_text(q, 1, a[i].endpoint, -1, SQLITE_STATIC);
			sqlite3_bind_text(q, 2, why, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(q, 3, a[i].at_ms / 1000);
			if (sqlite3_step(q) != SQLITE_DONE)
				goto fail;
			q = w->park;
			sqlite3_reset(q);
			sqlite3_bind_text(q, 1, a[i].endpoint, -1, SQLITE_STATIC);
			if (sqlite3_step(q) != SQLITE_DONE)
				goto fail;
			disabled = 1;
		}
	}
	if (sqlite3_exec(w->wdb, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_reset(w->attempt);
	sqlite3_reset(w->update);
	sqlite3_reset(w->disable);
	sqlite3_reset(w->park);
	if (disabled)
		endpoints_changed(w->st);
	return 0;
fail:
	cx_store_db_fail(w->st, w->wdb, err, "recording webhook attempts");
	sqlite3_reset(w->attempt);
	sqlite3_reset(w->update);
	sqlite3_reset(w->disable);
	sqlite3_reset(w->park);
	sqlite3_exec(w->wdb, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
