/* store_answers.c - answers to personal links and the hosted page's second step, and a
 * link's first view (schema 013); see include/cx/store.h ("asking customers").
 *
 * Writer family: every function runs on the writer's connection inside the writer's
 * transaction (and the job's savepoint), so an answer, its invitation row and its rollups
 * commit together or not at all. A link's answer is keyed by its nonce twice over: the
 * invitations row (answered_at, response_id) says whether the link was answered, and the
 * response's idempotency key (scope "link") is the nonce.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_invite.h"
#include "store_rollups.h"

static const struct cx_idem_scope link_scope = { "link", 0 };

static void bind_opt(sqlite3_stmt *q, int i, const char *s)
{
	if (s && *s)
		sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, i);
}

static void bind_score(sqlite3_stmt *q, int i, int v)
{
	if (v >= 0)
		sqlite3_bind_int(q, i, v);
	else
		sqlite3_bind_null(q, i);
}

/* The invitation row of c, made from the claims when it is missing (an answer to a link
 * whose row is gone still counts). */
static int ensure_row(struct cx_store *st, sqlite3 *db, const struct cx_link_claims *c,
		      struct cx_error *err)
{
	return cx_invitestore_insert(st, db, c, 1, err);
}

/* The link's first answer: 1 with *answered_at and *response_id, 0 if not answered yet. */
static int answer_of(struct cx_store *st, sqlite3 *db, const char *nonce,
		     int64_t *answered_at, int64_t *response_id, struct cx_error *err)
{
	static const char sql[] = "SELECT answered_at, response_id FROM invitations "
				  "WHERE nonce = ?1 AND answered_at IS NOT NULL";
	sqlite3_stmt *q;
	int rc, owned;

	if (!(q = cx_store_stmt(st, db, sql, &owned)))
		return cx_store_db_fail(st, db, err, "invitation");
	sqlite3_bind_text(q, 1, nonce, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*answered_at = sqlite3_column_int64(q, 0);
		*response_id = sqlite3_column_int64(q, 1);
	}
	cx_store_stmt_done(q, owned);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "invitation");
}

static int mark_answered(struct cx_store *st, sqlite3 *db, const char *nonce, int64_t now,
			 int64_t id, int commented, struct cx_error *err)
{
	static const char sql[] = "UPDATE invitations SET answered_at = ?2, response_id = ?3, "
				  "commented = ?4 WHERE nonce = ?1";
	sqlite3_stmt *q;
	int rc, owned;

	if (!(q = cx_store_stmt(st, db, sql, &owned)))
		return cx_store_db_fail(st, db, err, "invitation");
	sqlite3_bind_text(q, 1, nonce, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	sqlite3_bind_int64(q, 3, id);
	sqlite3_bind_int(q, 4, commented);
	rc = sqlite3_step(q);
	cx_store_stmt_done(q, owned);
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "invitation");
}

static int mark_commented(struct cx_store *st, sqlite3 *db, int64_t id, struct cx_error *err)
{
	static const char sql[] = "UPDATE invitations SET commented = 1 WHERE response_id = ?1";
	sqlite3_stmt *q;
	int rc, owned;

	if (!(q = cx_store_stmt(st, db, sql, &owned)))
		return cx_store_db_fail(st, db, err, "invitation");
	sqlite3_bind_int64(q, 1, id);
	rc = sqlite3_step(q);
	cx_store_stmt_done(q, owned);
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "invitation");
}

int cx_store_link_answer(struct cx_store *st, const struct cx_response *r,
			 const struct cx_link_claims *c, int64_t window_s, int64_t now,
			 int64_t *id, enum cx_answer_outcome *outcome, struct cx_error *err)
{
	sqlite3 *db = cx_store_wdb(st);
	struct cx_fatigue_verdict v = { 0 };
	const char *scope = NULL;
	struct cx_survey s;
	int64_t answered_at = 0, first = 0;
	int rc, replayed;

	*id = 0;
	if ((rc = answer_of(st, db, c->nonce, &answered_at, &first, err)) < 0)
		return -1;
	if (rc == 1) {
		*id = first;
		if (now - answered_at > window_s) {
			*outcome = CX_ANSWER_CLOSED;
			return 0;
		}
		return cx_store_response_amend(st, first, r, window_s, now, outcome, err);
	}
	/* a first answer: the after-answer rule again (an answer elsewhere since the mint) */
	if (cx_store_survey_get(st, c->survey, &s) != 0)
		return cx_error_set(err, 404, "unknown_survey", NULL, "no such survey");
	rc = cx_invitestore_fatigue(st, db, &s, c->customer, now, 1, 0, &v, &scope, err);
	cx_survey_release(&s);
	if (rc)
		return -1;
	if (v.reason) {
		*outcome = CX_ANSWER_FATIGUED;
		return 0;
	}
	if (cx_store_append(st, r, &link_scope, id, &replayed, err) ||
	    ensure_row(st, db, c, err) ||
	    mark_answered(st, db, c->nonce, now, *id, r->comment && *r->comment, err))
		return -1;
	*outcome = CX_ANSWER_NEW;
	return 0;
}

/* A copy of a text column into the response's field (NULL for SQL NULL). */
static int column_dup(sqlite3_stmt *q, int col, char **out)
{
	const unsigned char *t = sqlite3_column_text(q, col);

	*out = NULL;
	if (!t)
		return 0;
	return (*out = strdup((const char *)t)) ? 0 : -1;
}

static int column_score(sqlite3_stmt *q, int col)
{
	return sqlite3_column_type(q, col) == SQLITE_NULL ? -1 : sqlite3_column_int(q, col);
}

/* The stored response id as the rollups know it (the key fields and the scores); 1 if
 * found, 0 if gone, -1 with err. *received_ms is when it was stored. */
static int read_response(struct cx_store *st, sqlite3 *db, int64_t id, struct cx_response *old,
			 int64_t *received_ms, struct cx_error *err)
{
	static const char sql[] = "SELECT survey, stage, touchpoint, channel, segment, nps, "
				  "csat, ces, submitted_at, received_at FROM responses "
				  "WHERE id = ?1";
	sqlite3_stmt *q;
	int rc, owned, oom = 0;

	memset(old, 0, sizeof(*old));
	if (!(q = cx_store_stmt(st, db, sql, &owned)))
		return cx_store_db_fail(st, db, err, "reading a response");
	sqlite3_bind_int64(q, 1, id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		const unsigned char *sv = sqlite3_column_text(q, 0);

		snprintf(old->survey, sizeof(old->survey), "%s", sv ? (const char *)sv : "");
		oom = column_dup(q, 1, &old->stage) || column_dup(q, 2, &old->touchpoint) ||
		      column_dup(q, 3, &old->channel) || column_dup(q, 4, &old->segment);
		old->nps = column_score(q, 5);
		old->csat = column_score(q, 6);
		old->ces = column_score(q, 7);
		old->submitted_at = sqlite3_column_int64(q, 8);
		*received_ms = sqlite3_column_int64(q, 9);
	}
	cx_store_stmt_done(q, owned);
	if (oom || (rc == SQLITE_ROW && (!old->stage || !old->touchpoint))) {
		cx_response_release(old);
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	}
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "reading a response");
}

static int update_scores(struct cx_store *st, sqlite3 *db, int64_t id,
			 const struct cx_response *r, struct cx_error *err)
{
	/* a second step without a comment keeps the first step's comment */
	static const char sql[] = "UPDATE responses SET nps = ?2, csat = ?3, ces = ?4, "
				  "comment = coalesce(?5, comment) WHERE id = ?1";
	sqlite3_stmt *q;
	int rc, owned;

	if (!(q = cx_store_stmt(st, db, sql, &owned)))
		return cx_store_db_fail(st, db, err, "amending a response");
	sqlite3_bind_int64(q, 1, id);
	bind_score(q, 2, r->nps);
	bind_score(q, 3, r->csat);
	bind_score(q, 4, r->ces);
	bind_opt(q, 5, r->comment);
	rc = sqlite3_step(q);
	cx_store_stmt_done(q, owned);
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "amending a response");
}

int cx_store_response_amend(struct cx_store *st, int64_t id, const struct cx_response *r,
			    int64_t window_s, int64_t now, enum cx_answer_outcome *outcome,
			    struct cx_error *err)
{
	sqlite3 *db = cx_store_wdb(st);
	struct cx_response old, new_;
	int64_t received_ms = 0;
	int rc;

	if ((rc = read_response(st, db, id, &old, &received_ms, err)) < 0)
		return -1;
	if (rc == 0 || now - received_ms / 1000 > window_s) {
		if (rc)
			cx_response_release(&old);
		*outcome = CX_ANSWER_CLOSED;
		return 0;
	}
	/* the new counts under the old key: only the scores change */
	new_ = old;
	new_.nps = r->nps;
	new_.csat = r->csat;
	new_.ces = r->ces;
	/* which rows the rollups count: the mark as committed (another process may move it) */
	if (cx_rollups_read_mark(st)) {
		cx_response_release(&old);
		return cx_store_db_fail(st, db, err, "reading the rollup mark");
	}
	rc = update_scores(st, db, id, r, err);
	if (rc == 0 && r->comment && *r->comment)
		rc = mark_commented(st, db, id, err);
	/* last, so nothing after it can fail and leave the rollups moved; a response above
	 * the mark is not counted yet, and will be with its new scores */
	if (rc == 0 && id <= cx_store_rollup_lag(st)->upto &&
	    (cx_store_rollup_count(st, &old, -1) || cx_store_rollup_count(st, &new_, 1)))
		rc = cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	cx_response_release(&old);
	if (rc)
		return -1;
	*outcome = CX_ANSWER_EDITED;
	return 0;
}

int cx_store_invitation_opened(struct cx_store *st, const struct cx_link_claims *c,
			       int64_t now, struct cx_error *err)
{
	static const char sql[] = "UPDATE invitations SET opened_at = ?2 "
				  "WHERE nonce = ?1 AND opened_at IS NULL";
	sqlite3 *db = cx_store_wdb(st);
	sqlite3_stmt *q;
	int rc, owned;

	/* no row is made here (an answer makes one): a link's row is gone only when its
	 * customer was erased, and a view (a mail scanner fetching the old mail again) must
	 * not write the erased customer back */
	if (!(q = cx_store_stmt(st, db, sql, &owned)))
		return cx_store_db_fail(st, db, err, "invitation");
	sqlite3_bind_text(q, 1, c->nonce, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	rc = sqlite3_step(q);
	cx_store_stmt_done(q, owned);
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "invitation");
}

int cx_store_link_answered(struct cx_store *st, const char *nonce, int64_t *answered_at,
			   struct cx_error *err)
{
	sqlite3 *db = cx_store_connect(st, 1, err);
	int64_t id;
	int rc;

	if (!db)
		return -1;
	rc = answer_of(st, db, nonce, answered_at, &id, err);
	sqlite3_close(db);
	return rc;
}
