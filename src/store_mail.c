/* store_mail.c - the mail outbox (schema 014); see include/cx/mail.h and
 * src/store_invite.h. The mint queues on the writer's connection inside its transaction;
 * the mail worker reads and records on two connections of its own, one short statement
 * at a time, so no lock is ever held while a server is talked to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/cxtime.h"
#include "store_invite.h"
#include "store_loop.h"

static const char SQL_QUEUE[] =
	"INSERT INTO mail_outbox(nonce, survey, customer, to_addr, subject, text_body, "
	"html_body, state, attempts, next_at, created_at) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?8)";

static int too_long(const char *s, size_t max)
{
	return s && strlen(s) > max;
}

int cx_mailstore_queue(struct cx_store *st, sqlite3 *db, const struct cx_mail_msg *m,
		       struct cx_error *err)
{
	int64_t now = cx_time_now_ms();
	sqlite3_stmt *q;
	int owned, rc;

	if (!cx_mail_address_valid(m->to))
		return cx_error_set(err, 422, "invalid_email", "email", "not an address cxd sends "
				    "to (local@domain, ASCII, at most %d bytes)", CX_MAIL_ADDRESS_MAX);
	if (!m->subject || !m->text || !m->nonce || !m->survey || !m->customer ||
	    strpbrk(m->subject, "\r\n"))
		return cx_error_set(err, 422, "invalid_mail", "email", "a mail needs a one-line "
				    "subject, a text, its invitation, survey and customer");
	if (too_long(m->subject, CX_MAIL_SUBJECT_MAX) || too_long(m->text, CX_MAIL_TEXT_MAX) ||
	    too_long(m->html, CX_MAIL_HTML_MAX))
		return cx_error_set(err, 422, "mail_too_large", "email", "the rendered mail is "
				    "larger than cxd sends (subject %d, text %d, HTML %d bytes)",
				    CX_MAIL_SUBJECT_MAX, CX_MAIL_TEXT_MAX, CX_MAIL_HTML_MAX);
	if (!(q = cx_store_stmt(st, db, SQL_QUEUE, &owned)))
		return cx_store_db_fail(st, db, err, "queueing invitation mail");
	sqlite3_bind_text(q, 1, m->nonce, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, m->survey, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, m->customer, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, m->to, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, m->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, m->text, -1, SQLITE_STATIC);
	if (m->html)
		sqlite3_bind_text(q, 7, m->html, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, 7);
	sqlite3_bind_int64(q, 8, now);
	rc = sqlite3_step(q);
	cx_store_stmt_done(q, owned);
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "queueing invitation mail");
}

int cx_mailstore_erase_customer(struct cx_store *st, const char *customer,
				struct cx_error *err)
{
	sqlite3 *db = cx_store_wdb(st);
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, "DELETE FROM mail_outbox WHERE customer = ?1", -1, &q,
			       NULL) != SQLITE_OK)
		return cx_store_db_fail(st, db, err, "preparing erasure of mail");
	sqlite3_bind_text(q, 1, customer, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "erasure of mail");
}

int cx_mail_stats(struct cx_store *st, int64_t *pending, int64_t *dead)
{
	struct cx_error err;
	sqlite3 *db = cx_store_connect(st, 1, &err);
	sqlite3_stmt *q = NULL;
	int rc = -1;

	*pending = *dead = 0;
	if (!db)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM mail_outbox WHERE state = "
			       "'pending'), (SELECT count(*) FROM mail_outbox WHERE state = 'dead')",
			       -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
		*pending = sqlite3_column_int64(q, 0);
		*dead = sqlite3_column_int64(q, 1);
		rc = 0;
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	return rc;
}

/* ---- what an admin sees ---- */

static json_t *opt_text(sqlite3_stmt *q, int i)
{
	return sqlite3_column_type(q, i) == SQLITE_NULL ? json_null()
	       : json_string((const char *)sqlite3_column_text(q, i));
}

static json_t *opt_int(sqlite3_stmt *q, int i)
{
	return sqlite3_column_type(q, i) == SQLITE_NULL ? json_null()
	       : json_integer(sqlite3_column_int64(q, i));
}

json_t *cx_mail_list(struct cx_store *st, const char *state, const char *survey,
		     int64_t before_id, unsigned limit, struct cx_error *err)
{
	sqlite3 *db = cx_store_connect(st, 1, err);
	sqlite3_stmt *q = NULL;
	json_t *list = json_array(), *out = NULL;
	int64_t last = 0;
	unsigned n = 0;
	int rc;

	if (!db || !list)
		goto fail;
	if (sqlite3_prepare_v2(db, "SELECT id, nonce, survey, customer, to_addr, subject, state, "
			       "attempts, CASE WHEN state = 'pending' THEN next_at END, last_error, "
			       "created_at, sent_at FROM mail_outbox WHERE id < ?1 AND (?2 IS NULL "
			       "OR state = ?2) AND (?3 IS NULL OR survey = ?3) ORDER BY id DESC "
			       "LIMIT ?4", -1, &q, NULL) != SQLITE_OK) {
		cx_store_db_fail(st, db, err, "listing mail");
		goto fail;
	}
	sqlite3_bind_int64(q, 1, before_id);
	if (state)
		sqlite3_bind_text(q, 2, state, -1, SQLITE_STATIC);
	if (survey)
		sqlite3_bind_text(q, 3, survey, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, (sqlite3_int64)limit + 1);   /* one more: is there a next page */
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && n < limit) {
		json_t *m = json_object();

		last = sqlite3_column_int64(q, 0);
		json_object_set_new(m, "id", json_integer(last));
		json_object_set_new(m, "invitation", opt_text(q, 1));
		json_object_set_new(m, "survey", opt_text(q, 2));
		json_object_set_new(m, "customer", opt_text(q, 3));
		json_object_set_new(m, "to", opt_text(q, 4));
		json_object_set_new(m, "subject", opt_text(q, 5));
		json_object_set_new(m, "state", opt_text(q, 6));
		json_object_set_new(m, "attempts", opt_int(q, 7));
		json_object_set_new(m, "next_attempt_at_ms", opt_int(q, 8));
		json_object_set_new(m, "last_error", opt_text(q, 9));
		json_object_set_new(m, "created_at_ms", opt_int(q, 10));
		json_object_set_new(m, "sent_at_ms", opt_int(q, 11));
		json_array_append_new(list, m);
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		cx_store_db_fail(st, db, err, "listing mail");
		goto fail;
	}
	out = json_pack("{s:o, s:o}", "mail", list, "next",
			rc == SQLITE_ROW ? json_integer(last) : json_null());
	list = NULL;
fail:
	json_decref(list);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return out;
}

int cx_mail_retry(struct cx_store *st, int64_t id, struct cx_error *err)
{
	sqlite3 *db = cx_store_connect(st, 0, err);
	sqlite3_stmt *q = NULL;
	const char *state = NULL;
	int rc = -1;

	if (!db)
		return -1;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT state FROM mail_outbox WHERE id = ?1", -1, &q, NULL)
	    != SQLITE_OK) {
		cx_store_db_fail(st, db, err, "retrying a mail");
		goto out;
	}
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) == SQLITE_ROW)
		state = (const char *)sqlite3_column_text(q, 0);
	if (!state)
		cx_error_set(err, 404, "not_found", NULL, "no mail %lld", (long long)id);
	else if (strcmp(state, "dead") != 0)
		cx_error_set(err, 409, "mail_not_dead", NULL, "mail %lld is %s: only a dead mail "
			     "is sent again (a pending one is on its way; a sent one has no body "
			     "left: mint a new invitation)", (long long)id, state);
	else {
		sqlite3_finalize(q);
		q = NULL;
		if (sqlite3_prepare_v2(db, "UPDATE mail_outbox SET state = 'pending', attempts = 0, "
				       "next_at = ?2 WHERE id = ?1", -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(q, 1, id);
			sqlite3_bind_int64(q, 2, cx_time_now_ms());
			rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
		}
		if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			rc = -1;
		if (rc)
			cx_store_db_fail(st, db, err, "retrying a mail");
	}
out:
	sqlite3_finalize(q);
	if (rc)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/* ---- the mail worker's side ---- */

struct cx_mailq {
	struct cx_store *st;
	sqlite3 *rdb, *wdb;
	sqlite3_stmt *due, *record, *purge;
};

void cx_mailq_close(struct cx_mailq *q)
{
	if (!q)
		return;
	sqlite3_finalize(q->due);
	sqlite3_finalize(q->record);
	sqlite3_finalize(q->purge);
	sqlite3_close(q->rdb);
	sqlite3_close(q->wdb);
	free(q);
}

int cx_mailq_open(struct cx_store *st, struct cx_mailq **out, struct cx_error *err)
{
	struct cx_mailq *q = calloc(1, sizeof(*q));

	*out = NULL;
	if (!q)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	q->st = st;
	if (!(q->rdb = cx_store_connect(st, 1, err)) || !(q->wdb = cx_store_connect_worker(st, err)))
		goto fail;
	if (sqlite3_prepare_v3(q->rdb, "SELECT id, attempts, nonce, survey, to_addr, subject, "
			       "text_body, html_body FROM mail_outbox WHERE state = 'pending' AND "
			       "next_at <= ?1 ORDER BY next_at LIMIT ?2", -1,
			       SQLITE_PREPARE_PERSISTENT, &q->due, NULL) != SQLITE_OK ||
	    /* a sent mail's bodies hold the personal link: nothing needs them any more */
	    sqlite3_prepare_v3(q->wdb, "UPDATE mail_outbox SET attempts = attempts + 1, state = ?2, "
			       "next_at = ?3, last_error = ?4, sent_at = CASE WHEN ?2 = 'sent' THEN "
			       "?5 END, text_body = CASE WHEN ?2 = 'sent' THEN '' ELSE text_body END, "
			       "html_body = CASE WHEN ?2 = 'sent' THEN NULL ELSE html_body END "
			       "WHERE id = ?1 AND state = 'pending'", -1, SQLITE_PREPARE_PERSISTENT,
			       &q->record, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(q->wdb, "DELETE FROM mail_outbox WHERE id IN (SELECT id FROM "
			       "mail_outbox WHERE state IN ('sent', 'dead') AND created_at < ?1 "
			       "ORDER BY id LIMIT ?2)", -1, SQLITE_PREPARE_PERSISTENT, &q->purge,
			       NULL) != SQLITE_OK) {
		cx_store_db_fail(st, q->rdb, err, "preparing the mail worker");
		goto fail;
	}
	*out = q;
	return 0;
fail:
	cx_mailq_close(q);
	return -1;
}

static void copy_col(char *dst, size_t len, sqlite3_stmt *q, int i)
{
	const char *t = (const char *)sqlite3_column_text(q, i);

	snprintf(dst, len, "%s", t ? t : "");
}

static char *dup_col(sqlite3_stmt *q, int i)
{
	const char *t = (const char *)sqlite3_column_text(q, i);

	return t ? strdup(t) : NULL;
}

void cx_mail_due_release(struct cx_mail_due *d)
{
	free(d->subject);
	free(d->text);
	free(d->html);
	d->subject = d->text = d->html = NULL;
}

int cx_mailq_due(struct cx_mailq *q, int64_t now_ms, struct cx_mail_due *out, size_t max,
		 size_t *n, struct cx_error *err)
{
	sqlite3_stmt *s = q->due;
	int rc = SQLITE_DONE;

	*n = 0;
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	while (*n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct cx_mail_due *d = &out[*n];

		memset(d, 0, sizeof(*d));
		d->id = sqlite3_column_int64(s, 0);
		d->attempts = sqlite3_column_int(s, 1);
		copy_col(d->nonce, sizeof(d->nonce), s, 2);
		copy_col(d->survey, sizeof(d->survey), s, 3);
		copy_col(d->to, sizeof(d->to), s, 4);
		d->subject = dup_col(s, 5);
		d->text = dup_col(s, 6);
		d->html = dup_col(s, 7);
		if (!d->subject || !d->text || (!d->html && sqlite3_column_type(s, 7) != SQLITE_NULL)) {
			cx_mail_due_release(d);
			continue;   /* out of memory: looked at again next time */
		}
		(*n)++;
	}
	if (*n < max && rc != SQLITE_DONE) {
		sqlite3_reset(s);
		while (*n)
			cx_mail_due_release(&out[--*n]);
		return cx_store_db_fail(q->st, q->rdb, err, "finding due mail");
	}
	sqlite3_reset(s);   /* ends the read transaction */
	return 0;
}

int cx_mailq_record(struct cx_mailq *q, int64_t id, enum cx_mail_outcome o, int64_t at_ms,
		    int64_t next_at_ms, const char *error, struct cx_error *err)
{
	static const char *const states[CX_MAIL_OUT_N] = { "sent", "pending", "dead" };
	sqlite3_stmt *s = q->record;
	int rc;

	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, states[o], -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, next_at_ms);
	if (error)
		sqlite3_bind_text(s, 4, error, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 4);
	sqlite3_bind_int64(s, 5, at_ms);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(q->st, q->wdb, err, "recording mail");
}

int cx_mailq_purge(struct cx_mailq *q, int64_t before_ms, unsigned max, int64_t *deleted,
		   struct cx_error *err)
{
	sqlite3_stmt *s = q->purge;
	int rc;

	*deleted = 0;
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, before_ms);
	sqlite3_bind_int64(s, 2, max);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return cx_store_db_fail(q->st, q->wdb, err, "deleting old mail");
	*deleted = sqlite3_changes(q->wdb);
	return 0;
}
