/* store_outbox.c - the outbox: webhook deliveries written in the transaction that caused
 * them (see include/cx/store.h, "outbox" and "webhook endpoints and deliveries", and
 * src/store_loop.h), and what the delivery worker reads and records. The endpoints and
 * deliveries over the API are in src/store_endpoints.c.
 *
 * On the writer's connection the insert is kept by the store (cx_store_stmt); other
 * connections (a case changed over the API, an alert) prepare theirs per use: rare.
 *
 * The subscriber lookup runs for every new response, so it reads an in-memory copy of the
 * endpoints (id, events, surveys), not the table. The copy is made
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
#include "store_outbox.h"

/* A delivery; nothing for an endpoint that is gone (an unknown id named by a rule, or one
 * the subscriber copy still lists a moment after a DELETE committed: the row would wait
 * for a new endpoint of that id). A paused or disabled endpoint's is parked. */
static const char sql_insert[] =
	"INSERT INTO deliveries(msg_id, endpoint, type, survey, customer, response_id, rule, "
	"case_id, payload, next_at, created_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
	"CASE WHEN state = 'active' THEN ?10 ELSE " PARKED_MS " END, ?10 FROM endpoints "
	"WHERE id = ?2";

struct sub {
	char *id;
	json_t *events;    /* array of strings */
	json_t *surveys;   /* array of strings, NULL = every survey */
};

struct cx_outbox {
	struct cx_store *st;
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

	*out = NULL;
	if (!ob)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	ob->st = st;
	pthread_mutex_init(&ob->mu, NULL);
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

void cx_outbox_endpoints_changed(struct cx_store *st)
{
	struct cx_outbox *ob = cx_store_outbox(st);

	if (ob)
		atomic_fetch_add(&ob->gen, 1);
}

void cx_outbox_close(struct cx_outbox *ob)
{
	if (!ob)
		return;
	subs_clear(ob);
	pthread_mutex_destroy(&ob->mu);
	free(ob);
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

/* Make the first 8 characters after "msg_" the time in ms, base 62 in ASCII order: ids
 * sort by creation. (They were made so for the msg_id UNIQUE index, where random ids
 * dirtied a random page per delivery; schema 017 dropped that index, no query used it.)
 * 16 random characters (95 bits) remain, which is what makes an id unique. */
static void time_ordered(char *msg_id, int64_t ms)
{
	static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	uint64_t v = ms > 0 ? (uint64_t)ms : 0;

	for (int i = 11; i >= 4; i--) {
		msg_id[i] = digits[v % 62];
		v /= 62;
	}
}

/* Write one delivery of body to endpoint; *added = 1, or 0 when there is no such
 * endpoint. */
static int insert_one(struct cx_store *st, sqlite3 *db, const struct cx_event *ev,
		      const char *endpoint, const char *body, int64_t now_ms, int *added,
		      struct cx_error *err)
{
	char msg_id[CX_WHSIG_MSG_ID_SIZE];
	int owned, rc;
	sqlite3_stmt *q = cx_store_stmt(st, db, sql_insert, &owned);

	if (!q)
		return cx_store_db_fail(st, db, err, "queueing a webhook");
	if (cx_whsig_msg_id(msg_id)) {
		cx_store_stmt_done(q, owned);
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
	*added = rc == SQLITE_DONE ? sqlite3_changes(db) : 0;
	cx_store_stmt_done(q, owned);
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "queueing a webhook");
}

char *cx_outbox_body(const struct cx_event *ev)
{
	char ts[40];
	int64_t ms = ev->at_ms ? ev->at_ms : cx_time_now_ms();
	json_t *o;
	char *body;

	cx_time_format_rfc3339(ms / 1000, ts, sizeof(ts));
	/* "2026-11-26T16:00:00Z" -> with milliseconds */
	if (strlen(ts) == 20 && ts[19] == 'Z')
		snprintf(ts + 19, sizeof(ts) - 19, ".%03dZ", (int)(ms % 1000));
	/* the bytes json_dumps prints for the object below, without printing data again (R,
	 * most of the body, was printed once for all of a response's events) */
	if (ev->data_text) {
		json_t *t = json_string(ev->type);
		char *type = t ? json_dumps(t, JSON_ENCODE_ANY) : NULL;   /* "..." escaped */
		size_t n = (type ? strlen(type) : 0) + strlen(ts) + strlen(ev->data_text) + 40;

		json_decref(t);
		if (type && (body = malloc(n)))
			snprintf(body, n, "{\"type\":%s,\"timestamp\":\"%s\",\"data\":%s}", type, ts,
				 ev->data_text);
		else
			body = NULL;
		free(type);
		return body;
	}
	o = json_pack("{s:s, s:s, s:O}", "type", ev->type, "timestamp", ts, "data",
		      ev->data ? ev->data : json_object());
	if (!o)
		return NULL;
	body = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));   /* as the API prints */
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
	if (sqlite3_prepare_v2(db, "SELECT id, events, surveys FROM endpoints ORDER BY id", -1, &q,
			       NULL) != SQLITE_OK)
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
 * *n of them; nothing allocated when none); with ids NULL, only how many (*n). */
static int subscribers(struct cx_store *st, sqlite3 *db, const struct cx_event *ev,
		       char ***ids, size_t *n)
{
	struct cx_outbox *ob = cx_store_outbox(st);
	int rc = 0;

	if (ids)
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
		if (!ids) {
			(*n)++;
			continue;
		}
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

int cx_store_emit_wanted(struct cx_store *st, const char *type, const char *survey)
{
	struct cx_event ev = { .type = type, .survey = survey };
	size_t n;

	return subscribers(st, cx_store_wdb(st), &ev, NULL, &n) != 0 || n > 0;   /* when in doubt, let cx_store_emit find out */
}

int cx_outbox_insert(struct cx_store *st, sqlite3 *db, const struct cx_event *ev,
		     const char *endpoint, int *queued, struct cx_error *err)
{
	int64_t now = cx_time_now_ms();
	char *body = NULL, **ids = NULL;
	const char *one[1] = { endpoint };
	const char *const *to = one;
	size_t nto = 1, nids = 0;
	int n = 0, rc = 0, added;

	if (queued)
		*queued = 0;
	if (!endpoint) {
		if (subscribers(st, db, ev, &ids, &nids)) {
			free_ids(ids, nids);
			return cx_store_db_fail(st, db, err, "finding webhook endpoints");
		}
		to = (const char *const *)ids;
		nto = nids;
	}
	for (size_t i = 0; rc == 0 && i < nto; i++) {
		if (!body && !(body = cx_outbox_body(ev)))
			rc = cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
		else if ((rc = insert_one(st, db, ev, to[i], body, now, &added, err)) == 0)
			n += added;
	}
	free_ids(ids, nids);
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
	/* R in response.* and case.* events, and the case's own copy in case.* events */
	return wexec(st, "UPDATE deliveries SET payload = json_remove(payload, "
		     "'$.data.response.comment', '$.data.case.response.comment') "
		     "WHERE response_id = ?1", NULL, response_id, err);
}

/* ---- the delivery worker's side ---- */

struct cx_outbox_worker {
	struct cx_store *st;
	sqlite3 *rdb, *wdb;
	sqlite3_stmt *due, *active, *attempt, *update, *disable, *park;
};

void cx_store_worker_close(struct cx_outbox_worker *w)
{
	if (!w)
		return;
	sqlite3_finalize(w->due);
	sqlite3_finalize(w->active);
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
	if (!(w->rdb = cx_store_connect(st, 1, err)) || !(w->wdb = cx_store_connect_worker(st, err)))
		goto fail;
	/* The worker's records (attempts, delivered, dead, an endpoint disabled by a 410) are
	 * acknowledged to nobody: losing the last of them to a power cut only means sending
	 * those deliveries again, with the same webhook-id, which at-least-once allows. So
	 * its commits do not wait for an fsync of their own (the writer's next commit, with
	 * synchronous=FULL, syncs the log they are in); under load they would otherwise hold
	 * the write lock through an fsync the responses' group commit then waits behind. */
	if (sqlite3_exec(w->wdb, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		cx_store_db_fail(st, w->wdb, err, "configuring the delivery worker");
		goto fail;
	}
	/* one endpoint's due deliveries (index deliveries_due_by_endpoint, schema 012) */
	if (sqlite3_prepare_v3(w->rdb, "SELECT d.id, d.msg_id, d.endpoint, d.payload, d.attempts, "
			       "d.budget_from, e.url, e.secret, e.prev_secret, e.prev_secret_until "
			       "FROM deliveries d JOIN endpoints e ON e.id = d.endpoint "
			       "WHERE d.endpoint = ?3 AND d.state = 'pending' AND d.next_at <= ?1 "
			       "AND e.state = 'active' ORDER BY d.next_at LIMIT ?2", -1,
			       SQLITE_PREPARE_PERSISTENT, &w->due, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(w->rdb, "SELECT id FROM endpoints WHERE state = 'active' ORDER BY id",
			       -1, SQLITE_PREPARE_PERSISTENT, &w->active, NULL) != SQLITE_OK ||
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

int cx_store_worker_active(struct cx_outbox_worker *w, char (*ids)[72], size_t max,
			   size_t *n, struct cx_error *err)
{
	sqlite3_stmt *q = w->active;
	int rc;

	*n = 0;
	sqlite3_reset(q);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && *n < max)
		copy_col(ids[(*n)++], sizeof(ids[0]), q, 0);
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return cx_store_db_fail(w->st, w->rdb, err, "listing active endpoints");
	return 0;
}

int cx_store_worker_due(struct cx_outbox_worker *w, int64_t now_ms, unsigned max_rows,
			const char *endpoint,
			int (*want)(void *ctx, int64_t id, const char *endpoint),
			int (*fn)(void *ctx, struct cx_due *d), void *ctx, struct cx_error *err)
{
	sqlite3_stmt *q = w->due;
	int rc, stop = 0;

	sqlite3_reset(q);
	sqlite3_bind_int64(q, 1, now_ms);
	sqlite3_bind_int64(q, 2, max_rows);
	sqlite3_bind_text(q, 3, endpoint, -1, SQLITE_TRANSIENT);
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

int cx_store_worker_purge(struct cx_outbox_worker *w, int64_t before_ms, unsigned max_rows,
			  int64_t *deleted, struct cx_error *err)
{
	sqlite3_stmt *q;
	int rc;

	*deleted = 0;
	/* rowid order is creation order: the old rows come first, so LIMIT stops early */
	if (sqlite3_prepare_v2(w->wdb, "DELETE FROM deliveries WHERE id IN (SELECT id FROM "
			       "deliveries WHERE state IN ('delivered', 'dead') AND "
			       "coalesce(delivered_at, last_at, created_at) < ?1 ORDER BY id LIMIT ?2)",
			       -1, &q, NULL) != SQLITE_OK)
		return cx_store_db_fail(w->st, w->wdb, err, "purging old deliveries");
	sqlite3_bind_int64(q, 1, before_ms);
	sqlite3_bind_int(q, 2, (int)max_rows);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return cx_store_db_fail(w->st, w->wdb, err, "purging old deliveries");
	*deleted = sqlite3_changes(w->wdb);
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
		cx_outbox_endpoints_changed(w->st);
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
