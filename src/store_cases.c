/* store_cases.c - follow-up cases (issue 12): opened by a rule's "case" action on the
 * writer's connection inside the response's transaction, worked over the API on
 * connections of their own (see include/cx/store.h, "follow-up cases", and case.h).
 *
 * Statements on the writer's connection (a rule opening a case, for every matching
 * response) are kept by the store (cx_store_stmt); the API's connections prepare
 * theirs per call: cases are worked by people, not on a hot path.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/case.h"
#include "cx/cxtime.h"
#include "store_loop.h"

#define HISTORY_MAX 2000

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

/* --- small helpers --- */

static void bind_text(sqlite3_stmt *q, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(q, i);
}

static void bind_time(sqlite3_stmt *q, int i, int64_t t)
{
	if (t)
		sqlite3_bind_int64(q, i, t);
	else
		sqlite3_bind_null(q, i);
}

static json_t *col_text(sqlite3_stmt *q, int i)
{
	const char *s = (const char *)sqlite3_column_text(q, i);

	return s ? json_string(s) : json_null();
}

static json_t *col_int(sqlite3_stmt *q, int i)
{
	return sqlite3_column_type(q, i) == SQLITE_NULL ? json_null()
		: json_integer(sqlite3_column_int64(q, i));
}

static char *dup_col(sqlite3_stmt *q, int i)
{
	const char *s = (const char *)sqlite3_column_text(q, i);

	return s ? strdup(s) : NULL;
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* --- a case as JSON --- */

#define CASE_COLS "c.id, c.survey, c.rule, c.response_id, c.customer, c.stage, c.touchpoint, " \
	"c.channel, c.segment, c.status, c.assignee, c.root_cause, c.opened_at, " \
	"c.first_contact_at, c.resolved_at, c.closed_at, c.updated_at, r.id, r.nps, r.csat, " \
	"r.ces, r.comment, r.submitted_at FROM cases c LEFT JOIN responses r ON r.id = " \
	"c.response_id "
enum { C_ID, C_SURVEY, C_RULE, C_RESPONSE, C_CUSTOMER, C_STAGE, C_TOUCHPOINT, C_CHANNEL,
       C_SEGMENT, C_STATUS, C_ASSIGNEE, C_ROOT, C_OPENED, C_CONTACT, C_RESOLVED, C_CLOSED,
       C_UPDATED, C_R_ID, C_R_NPS, C_R_CSAT, C_R_CES, C_R_COMMENT, C_R_AT };

/* The case on q's current row (selected with CASE_COLS); new reference. */
static json_t *case_json(sqlite3_stmt *q, int64_t now)
{
	static const char *const names[] = {
		"id", "survey", "rule", "response_id", "customer", "stage", "touchpoint",
		"channel", "segment", "status", "assignee", "root_cause", "opened_at",
		"first_contact_at", "resolved_at", "closed_at", "updated_at",
	};
	json_t *o = json_object(), *resp = json_null();
	int64_t opened = sqlite3_column_int64(q, C_OPENED), end = now;

	for (int i = C_ID; i <= C_UPDATED; i++) {
		int numeric = i == C_ID || i == C_RESPONSE || i >= C_OPENED;

		json_object_set_new(o, names[i], numeric ? col_int(q, i) : col_text(q, i));
	}
	if (sqlite3_column_type(q, C_CLOSED) != SQLITE_NULL)
		end = sqlite3_column_int64(q, C_CLOSED);
	json_object_set_new(o, "age_s", json_integer(end > opened ? end - opened : 0));
	if (sqlite3_column_type(q, C_R_ID) != SQLITE_NULL) {
		json_decref(resp);
		resp = json_pack("{s:o, s:o, s:o, s:o, s:o}", "nps", col_int(q, C_R_NPS),
				 "csat", col_int(q, C_R_CSAT), "ces", col_int(q, C_R_CES),
				 "comment", col_text(q, C_R_COMMENT),
				 "submitted_at", col_int(q, C_R_AT));
	}
	json_object_set_new(o, "response", resp);
	return o;
}

/* Case id as JSON on db into *out: 0, 1 when there is none, -1 (503) on failure. */
static int load_case(struct cx_store *st, sqlite3 *db, int64_t id, json_t **out,
		     struct cx_error *err)
{
	static const char sql[] = "SELECT " CASE_COLS "WHERE c.id = ?1";
	sqlite3_stmt *q;
	int rc, owned;

	*out = NULL;
	if (!(q = cx_store_stmt(st, db, sql, &owned)))
		return cx_store_db_fail(st, db, err, "reading a case");
	sqlite3_bind_int64(q, 1, id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*out = case_json(q, cx_time_now());
	cx_store_stmt_done(q, owned);
	if (rc == SQLITE_ROW)
		return *out ? 0 : cx_error_set(err, 503, "storage_unavailable", NULL,
					       "out of memory");
	return rc == SQLITE_DONE ? 1 : cx_store_db_fail(st, db, err, "reading a case");
}

/* The event payload's R (the contract's response object) of response id; JSON null when
 * the response is gone. */
static json_t *response_json(struct cx_store *st, sqlite3 *db, int64_t id)
{
	static const char sql[] = "SELECT id, survey, stage, touchpoint, channel, segment, "
				  "customer, nps, csat, ces, comment, attributes, submitted_at "
				  "FROM responses WHERE id = ?1";
	sqlite3_stmt *q;
	json_t *o = NULL;
	int owned;

	if (!(q = cx_store_stmt(st, db, sql, &owned)))
		return NULL;
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) == SQLITE_ROW) {
		const char *attrs = (const char *)sqlite3_column_text(q, 11);
		json_t *a = attrs ? json_loads(attrs, 0, NULL) : NULL;

		o = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			      "id", (json_int_t)id, "survey", col_text(q, 1), "stage", col_text(q, 2),
			      "touchpoint", col_text(q, 3), "channel", col_text(q, 4),
			      "segment", col_text(q, 5), "customer", col_text(q, 6),
			      "nps", col_int(q, 7), "csat", col_int(q, 8), "ces", col_int(q, 9),
			      "comment", col_text(q, 10), "attributes", a ? a : json_null(),
			      "submitted_at", col_int(q, 12));
	} else {
		o = json_null();
	}
	cx_store_stmt_done(q, owned);
	return o;
}

/* Queue event `type` ("case.opened", "case.closed") for case id on db, inside db's open
 * transaction: data = {"case": CASE, "response": R}. */
static int emit_case(struct cx_store *st, sqlite3 *db, const char *type, int64_t id,
		     struct cx_error *err)
{
	json_t *c = NULL, *data = NULL, *resp;
	struct cx_event ev = { .type = type, .case_id = id, .at_ms = cx_time_now_ms() };
	int rc;

	if ((rc = load_case(st, db, id, &c, err)))
		return rc < 0 ? -1 : cx_error_set(err, 503, "storage_unavailable", NULL,
						  "case %" PRId64 " vanished", id);
	ev.response_id = json_integer_value(json_object_get(c, "response_id"));
	resp = ev.response_id ? response_json(st, db, ev.response_id) : json_null();
	data = json_pack("{s:O, s:o}", "case", c, "response", resp ? resp : json_null());
	if (!data) {
		json_decref(c);
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	}
	ev.survey = json_string_value(json_object_get(c, "survey"));
	ev.customer = json_string_value(json_object_get(c, "customer"));
	ev.rule = json_string_value(json_object_get(c, "rule"));
	ev.data = data;
	rc = cx_outbox_insert(st, db, &ev, NULL, NULL, err);
	json_decref(data);
	json_decref(c);
	return rc;
}

/* Append an event to case id's history (seq = last + 1). */
static int add_event(struct cx_store *st, sqlite3 *db, int64_t id, int64_t at,
		     const char *actor, const char *kind, const char *from, const char *to,
		     const char *note, struct cx_error *err)
{
	static const char sql[] = "INSERT INTO case_events(case_id, seq, at, actor, kind, "
				  "from_value, to_value, note) VALUES (?1, (SELECT COALESCE(MAX(seq), "
				  "0) + 1 FROM case_events WHERE case_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7)";
	sqlite3_stmt *q;
	int rc, owned;

	if (!(q = cx_store_stmt(st, db, sql, &owned)))
		return cx_store_db_fail(st, db, err, "recording a case's history");
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int64(q, 2, at);
	bind_text(q, 3, actor);
	bind_text(q, 4, kind);
	bind_text(q, 5, from);
	bind_text(q, 6, to);
	bind_text(q, 7, note);
	rc = sqlite3_step(q);
	cx_store_stmt_done(q, owned);
	return rc == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "recording a case's history");
}

/* The id of customer's case of (survey, rule) that is not closed, other than `except`:
 * 0 none, -1 failure. */
static int64_t open_case_of(struct cx_store *st, sqlite3 *db, const char *survey,
			    const char *rule, const char *customer, int64_t except,
			    struct cx_error *err)
{
	static const char sql[] = "SELECT id FROM cases WHERE survey = ?1 AND rule = ?2 AND "
				  "customer = ?3 AND status <> 'closed' AND id <> ?4";
	sqlite3_stmt *q;
	int64_t id = 0;
	int rc, owned;

	if (!(q = cx_store_stmt(st, db, sql, &owned)))
		return cx_store_db_fail(st, db, err, "finding a customer's open case");
	bind_text(q, 1, survey);
	bind_text(q, 2, rule);
	bind_text(q, 3, customer);
	sqlite3_bind_int64(q, 4, except);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(q, 0);
	cx_store_stmt_done(q, owned);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return cx_store_db_fail(st, db, err, "finding a customer's open case");
	return id;
}

/* --- opened by a rule (the writer's transaction) --- */

int cx_store_case_open(struct cx_store *st, const struct cx_response *r, int64_t id,
		       const char *rule, const char *assignee, int64_t *case_id, int *opened,
		       struct cx_error *err)
{
	static const char sql[] = "INSERT INTO cases(survey, rule, response_id, customer, stage, "
				  "touchpoint, channel, segment, status, assignee, opened_at, "
				  "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open', ?9, ?10, "
				  "?10)";
	sqlite3 *db = cx_store_wdb(st);
	sqlite3_stmt *q;
	char actor[80], idtext[24];
	int64_t now = cx_time_now(), existing = 0;
	int rc, owned;

	*case_id = 0;
	*opened = 0;
	snprintf(actor, sizeof(actor), "rule:%s", rule);
	if (r->customer &&
	    (existing = open_case_of(st, db, r->survey, rule, r->customer, 0, err)) < 0)
		return -1;
	if (existing) {   /* one open case per customer and rule: note the new response */
		snprintf(idtext, sizeof(idtext), "%" PRId64, id);
		*case_id = existing;
		return add_event(st, db, existing, now, actor, "response", NULL, idtext, NULL, err);
	}
	if (!(q = cx_store_stmt(st, db, sql, &owned)))
		return cx_store_db_fail(st, db, err, "opening a case");
	bind_text(q, 1, r->survey);
	bind_text(q, 2, rule);
	sqlite3_bind_int64(q, 3, id);
	bind_text(q, 4, r->customer);
	bind_text(q, 5, r->stage);
	bind_text(q, 6, r->touchpoint);
	bind_text(q, 7, r->channel);
	bind_text(q, 8, r->segment);
	bind_text(q, 9, assignee);
	sqlite3_bind_int64(q, 10, now);
	rc = sqlite3_step(q);
	cx_store_stmt_done(q, owned);
	if (rc != SQLITE_DONE)
		return cx_store_db_fail(st, db, err, "opening a case");
	*case_id = sqlite3_last_insert_rowid(db);
	if (add_event(st, db, *case_id, now, actor, "opened", NULL, "open", NULL, err) ||
	    emit_case(st, db, "case.opened", *case_id, err))
		return -1;
	*opened = 1;
	return 0;
}

/* --- read over the API --- */

/* A read-only connection of our own for one call; NULL with a 503. */
static sqlite3 *reader(struct cx_store *st, struct cx_error *err)
{
	return cx_store_connect(st, 1, err);
}

int cx_store_cases_list(struct cx_store *st, const struct cx_case_query *q, json_t **cases,
			int *more, struct cx_error *err)
{
	char sql[1024];
	size_t n;
	sqlite3 *db;
	sqlite3_stmt *s = NULL;
	int64_t now = cx_time_now();
	unsigned rows = 0;
	int rc = -1, step;

	*cases = NULL;
	*more = 0;
	if (!(db = reader(st, err)))
		return -1;
	n = (size_t)snprintf(sql, sizeof(sql), "SELECT " CASE_COLS "WHERE 1");
	if (q->statuses) {
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, " AND c.status IN (");
		for (int i = 0, first = 1; i < CX_CASE_NSTATUS; i++)
			if (q->statuses & (1u << i)) {
				n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s'%s'",
						      first ? "" : ", ", cx_case_status_name(i));
				first = 0;
			}
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ")");
	}
	snprintf(sql + n, sizeof(sql) - n, "%s%s%s%s%s%s%s ORDER BY c.opened_at DESC, c.id DESC "
		 "LIMIT ?9",
		 q->survey ? " AND c.survey = ?1" : "", q->stage ? " AND c.stage = ?2" : "",
		 q->touchpoint ? " AND c.touchpoint = ?3" : "",
		 q->assignee ? " AND c.assignee = ?4" : "",
		 q->opened_max ? " AND c.opened_at <= ?5" : "",
		 q->opened_min ? " AND c.opened_at >= ?6" : "",
		 q->after_id ? " AND (c.opened_at < ?7 OR (c.opened_at = ?7 AND c.id < ?8))" : "");
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		cx_store_db_fail(st, db, err, "listing cases");
		goto out;
	}
	bind_text(s, 1, q->survey);
	bind_text(s, 2, q->stage);
	bind_text(s, 3, q->touchpoint);
	bind_text(s, 4, q->assignee);
	sqlite3_bind_int64(s, 5, q->opened_max);
	sqlite3_bind_int64(s, 6, q->opened_min);
	sqlite3_bind_int64(s, 7, q->after_opened);
	sqlite3_bind_int64(s, 8, q->after_id);
	sqlite3_bind_int64(s, 9, (int64_t)q->limit + 1);   /* one more: is there a next page? */
	*cases = json_array();
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if (rows++ == q->limit) {
			*more = 1;
			break;
		}
		json_array_append_new(*cases, case_json(s, now));
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		cx_store_db_fail(st, db, err, "listing cases");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	if (rc) {
		json_decref(*cases);
		*cases = NULL;
	}
	return rc;
}

/* Notes and history of case id into o. */
static int add_history(struct cx_store *st, sqlite3 *db, int64_t id, json_t *o,
		       struct cx_error *err)
{
	sqlite3_stmt *q;
	json_t *notes = json_array(), *history = json_array();
	int step;

	json_object_set_new(o, "notes", notes);
	json_object_set_new(o, "history", history);
	if (sqlite3_prepare_v2(db, "SELECT at, actor, kind, from_value, to_value, note FROM "
			       "case_events WHERE case_id = ?1 AND kind = 'note' ORDER BY seq",
			       -1, &q, NULL) != SQLITE_OK)
		return cx_store_db_fail(st, db, err, "reading a case's notes");
	sqlite3_bind_int64(q, 1, id);
	while ((step = sqlite3_step(q)) == SQLITE_ROW)
		json_array_append_new(notes, json_pack("{s:o, s:o, s:o}", "at", col_int(q, 0),
						       "author", col_text(q, 1),
						       "text", col_text(q, 5)));
	sqlite3_finalize(q);
	if (step != SQLITE_DONE)
		return cx_store_db_fail(st, db, err, "reading a case's notes");
	if (sqlite3_prepare_v2(db, "SELECT at, actor, kind, from_value, to_value FROM (SELECT * "
			       "FROM case_events WHERE case_id = ?1 ORDER BY seq DESC LIMIT ?2) "
			       "ORDER BY seq", -1, &q, NULL) != SQLITE_OK)
		return cx_store_db_fail(st, db, err, "reading a case's history");
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int(q, 2, HISTORY_MAX);
	while ((step = sqlite3_step(q)) == SQLITE_ROW)
		json_array_append_new(history, json_pack("{s:o, s:o, s:o, s:o, s:o}",
							 "at", col_int(q, 0), "actor", col_text(q, 1),
							 "kind", col_text(q, 2), "from", col_text(q, 3),
							 "to", col_text(q, 4)));
	sqlite3_finalize(q);
	return step == SQLITE_DONE ? 0 : cx_store_db_fail(st, db, err, "reading a case's history");
}

static int not_found(struct cx_error *err, int64_t id)
{
	return cx_error_set(err, 404, "not_found", NULL, "no case %" PRId64, id);
}

int cx_store_case_get(struct cx_store *st, int64_t id, json_t **out, struct cx_error *err)
{
	sqlite3 *db = reader(st, err);
	int rc;

	*out = NULL;
	if (!db)
		return -1;
	/* one snapshot for the case and its history */
	if (exec(db, "BEGIN")) {
		rc = cx_store_db_fail(st, db, err, "reading a case");
		goto out;
	}
	rc = load_case(st, db, id, out, err);
	if (rc == 1)
		rc = not_found(err, id);
	if (rc == 0)
		rc = add_history(st, db, id, *out, err);
	exec(db, "COMMIT");
out:
	sqlite3_close(db);
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/* --- worked over the API --- */

struct row {              /* what a change needs of the case as it is */
	char *survey, *rule, *customer, *assignee, *root_cause;
	int status;
	int64_t first_contact_at, resolved_at, closed_at;
};

static void row_release(struct row *r)
{
	free(r->survey);
	free(r->rule);
	free(r->customer);
	free(r->assignee);
	free(r->root_cause);
}

/* 0, 1 when there is no case id, -1 on failure. */
static int read_row(struct cx_store *st, sqlite3 *db, int64_t id, struct row *r,
		    struct cx_error *err)
{
	sqlite3_stmt *q;
	int rc;

	memset(r, 0, sizeof(*r));
	if (sqlite3_prepare_v2(db, "SELECT survey, rule, customer, assignee, root_cause, status, "
			       "first_contact_at, resolved_at, closed_at FROM cases WHERE id = ?1",
			       -1, &q, NULL) != SQLITE_OK)
		return cx_store_db_fail(st, db, err, "reading a case");
	sqlite3_bind_int64(q, 1, id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		r->survey = dup_col(q, 0);
		r->rule = dup_col(q, 1);
		r->customer = dup_col(q, 2);
		r->assignee = dup_col(q, 3);
		r->root_cause = dup_col(q, 4);
		r->status = cx_case_status_parse((const char *)sqlite3_column_text(q, 5));
		r->first_contact_at = sqlite3_column_int64(q, 6);
		r->resolved_at = sqlite3_column_int64(q, 7);
		r->closed_at = sqlite3_column_int64(q, 8);
	}
	sqlite3_finalize(q);
	if (rc == SQLITE_ROW)
		return r->survey && r->rule ? 0 : cx_error_set(err, 503, "storage_unavailable", NULL,
							       "out of memory");
	return rc == SQLITE_DONE ? 1 : cx_store_db_fail(st, db, err, "reading a case");
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The root cause must be one of the case's survey's root_causes. */
static int check_root_cause(struct cx_store *st, const char *survey, const char *cause,
			    struct cx_error *err)
{
	struct cx_survey s;
	char list[400] = "";
	size_t used = 0;
	int ok;

	if (cx_store_survey_get(st, survey, &s) != 0)
		return cx_error_set(err, 422, "unknown_root_cause", "root_cause", "the case's "
				    "survey '%s' no longer exists, so it lists no root causes", survey);
	ok = cx_survey_has_root_cause(&s, cause);
	for (size_t i = 0; i < s.nroot_causes && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
					 s.root_causes[i]);
	cx_survey_release(&s);
	if (ok)
		return 0;
	return cx_error_set(err, 422, "unknown_root_cause", "root_cause", "'%s' is not one of "
			    "survey %s's root_causes (%s)", cause, survey, used ? list : "none defined");
}

/* Write the change of r into case id, with its history; *closed when it closes the case. */
static int apply(struct cx_store *st, sqlite3 *db, int64_t id, struct row *r,
		 const struct cx_case_change *ch, const char *actor, int64_t now,
		 struct cx_error *err)
{
	int status = ch->status >= 0 ? ch->status : r->status;
	const char *assignee = ch->set_assignee ? ch->assignee : r->assignee;
	const char *cause = ch->set_root_cause ? ch->root_cause : r->root_cause;
	int64_t contact = r->first_contact_at, resolved = r->resolved_at, closed = r->closed_at;
	sqlite3_stmt *q;
	int rc;

	if (status == r->status && same(assignee, r->assignee) && same(cause, r->root_cause))
		return 0;   /* nothing changes: no history either */
	if (status != CX_CASE_OPEN && !contact)
		contact = now;
	if (status == CX_CASE_RESOLVED && !resolved)
		resolved = now;
	if (status == CX_CASE_CLOSED && r->status != CX_CASE_CLOSED)
		closed = now;
	if (status != CX_CASE_CLOSED)
		closed = 0;
	if (sqlite3_prepare_v2(db, "UPDATE cases SET status = ?2, assignee = ?3, root_cause = ?4, "
			       "first_contact_at = ?5, resolved_at = ?6, closed_at = ?7, "
			       "updated_at = ?8 WHERE id = ?1", -1, &q, NULL) != SQLITE_OK)
		return cx_store_db_fail(st, db, err, "changing a case");
	sqlite3_bind_int64(q, 1, id);
	bind_text(q, 2, cx_case_status_name(status));
	bind_text(q, 3, assignee);
	bind_text(q, 4, cause);
	bind_time(q, 5, contact);
	bind_time(q, 6, resolved);
	bind_time(q, 7, closed);
	sqlite3_bind_int64(q, 8, now);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return cx_store_db_fail(st, db, err, "changing a case");
	if (status != r->status &&
	    add_event(st, db, id, now, actor, "status", cx_case_status_name(r->status),
		      cx_case_status_name(status), NULL, err))
		return -1;
	if (!same(assignee, r->assignee) &&
	    add_event(st, db, id, now, actor, "assignee", r->assignee, assignee, NULL, err))
		return -1;
	if (!same(cause, r->root_cause) &&
	    add_event(st, db, id, now, actor, "root_cause", r->root_cause, cause, NULL, err))
		return -1;
	if (status == CX_CASE_CLOSED && r->status != CX_CASE_CLOSED)
		return emit_case(st, db, "case.closed", id, err);
	return 0;
}

int cx_store_case_update(struct cx_store *st, int64_t id, const struct cx_case_change *ch,
			 const char *actor, json_t **out, struct cx_error *err)
{
	sqlite3 *db = cx_store_connect(st, 0, err);
	struct row r = { 0 };
	int rc = -1, in_tx = 0, found;
	int64_t other;

	*out = NULL;
	if (!db)
		return -1;
	if (exec(db, "BEGIN IMMEDIATE")) {
		cx_store_db_fail(st, db, err, "changing a case");
		goto out;
	}
	in_tx = 1;
	if ((found = read_row(st, db, id, &r, err)) != 0) {
		if (found == 1)
			not_found(err, id);
		goto out;
	}
	if (ch->set_root_cause && ch->root_cause && !same(ch->root_cause, r.root_cause) &&
	    check_root_cause(st, r.survey, ch->root_cause, err))
		goto out;
	if (r.status == CX_CASE_CLOSED && ch->status >= 0 && ch->status != CX_CASE_CLOSED &&
	    r.customer) {
		if ((other = open_case_of(st, db, r.survey, r.rule, r.customer, id, err)) < 0)
			goto out;
		if (other) {
			cx_error_set(err, 409, "case_conflict", "status", "case %" PRId64 " cannot be "
				     "reopened: the customer has case %" PRId64 " of rule %s open",
				     id, other, r.rule);
			goto out;
		}
	}
	if (apply(st, db, id, &r, ch, actor, cx_time_now(), err))
		goto out;
	if (exec(db, "COMMIT")) {
		cx_store_db_fail(st, db, err, "changing a case");
		goto out;
	}
	in_tx = 0;
	if ((found = load_case(st, db, id, out, err)) != 0) {
		if (found == 1)
			not_found(err, id);   /* erased meanwhile */
		goto out;
	}
	rc = 0;
out:
	if (in_tx)
		exec(db, "ROLLBACK");
	row_release(&r);
	sqlite3_close(db);
	return rc;
}

int cx_store_case_note(struct cx_store *st, int64_t id, const char *text, const char *actor,
		       json_t **note, struct cx_error *err)
{
	sqlite3 *db = cx_store_connect(st, 0, err);
	sqlite3_stmt *q = NULL;
	int64_t now = cx_time_now(), notes = -1;
	int rc = -1, in_tx = 0, step;

	*note = NULL;
	if (!db)
		return -1;
	if (exec(db, "BEGIN IMMEDIATE")) {
		cx_store_db_fail(st, db, err, "noting a case");
		goto out;
	}
	in_tx = 1;
	if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM case_events WHERE case_id = ?1 "
			       "AND kind = 'note') FROM cases WHERE id = ?1", -1, &q, NULL) !=
	    SQLITE_OK) {
		cx_store_db_fail(st, db, err, "noting a case");
		goto out;
	}
	sqlite3_bind_int64(q, 1, id);
	if ((step = sqlite3_step(q)) == SQLITE_ROW)
		notes = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		cx_store_db_fail(st, db, err, "noting a case");
		goto out;
	}
	if (notes < 0) {
		not_found(err, id);
		goto out;
	}
	if (notes >= CX_CASE_NOTES_MAX) {
		cx_error_set(err, 422, "too_many_notes", NULL, "case %" PRId64 " has %d notes, the "
			     "most a case may have", id, CX_CASE_NOTES_MAX);
		goto out;
	}
	if (add_event(st, db, id, now, actor, "note", NULL, NULL, text, err))
		goto out;
	if (sqlite3_prepare_v2(db, "UPDATE cases SET updated_at = ?2 WHERE id = ?1", -1, &q,
			       NULL) != SQLITE_OK) {
		cx_store_db_fail(st, db, err, "noting a case");
		goto out;
	}
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int64(q, 2, now);
	step = sqlite3_step(q);
	sqlite3_finalize(q);
	if (step != SQLITE_DONE || exec(db, "COMMIT")) {
		cx_store_db_fail(st, db, err, "noting a case");
		goto out;
	}
	in_tx = 0;
	*note = json_pack("{s:I, s:s, s:s}", "at", (json_int_t)now, "author", actor, "text", text);
	rc = *note ? 0 : cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
out:
	if (in_tx)
		exec(db, "ROLLBACK");
	sqlite3_close(db);
	return rc;
}

/* --- the journey's figures and the metrics --- */

int cx_store_case_facts(struct cx_store *st, const char *survey, int64_t from_s,
			int64_t to_s, const char *channel, const char *segment,
			int (*fn)(void *ctx, const struct cx_case_fact *f), void *ctx,
			struct cx_error *err)
{
	/* recovery: the customer's first NPS answer to the survey strictly after closed_at */
	static const char sql[] =
		"SELECT c.stage, c.touchpoint, c.customer, c.status, c.opened_at, "
		"c.first_contact_at, c.closed_at, CASE WHEN c.status = 'closed' AND c.customer IS "
		"NOT NULL THEN (SELECT r.nps FROM responses r WHERE r.customer = c.customer AND "
		"r.survey = c.survey AND r.nps IS NOT NULL AND r.submitted_at > c.closed_at ORDER BY "
		"r.submitted_at, r.id LIMIT 1) END FROM cases c WHERE c.survey = ?1 AND "
		"c.opened_at >= ?2 AND c.opened_at < ?3 AND (?4 IS NULL OR c.channel = ?4) AND "
		"(?5 IS NULL OR c.segment = ?5)";
	sqlite3 *db = reader(st, err);
	sqlite3_stmt *q = NULL;
	int rc = 0, step;

	if (!db)
		return -1;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		rc = cx_store_db_fail(st, db, err, "reading cases");
		goto out;
	}
	bind_text(q, 1, survey);
	sqlite3_bind_int64(q, 2, from_s);
	sqlite3_bind_int64(q, 3, to_s);
	bind_text(q, 4, channel);
	bind_text(q, 5, segment);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct cx_case_fact f = {
			.stage = (const char *)sqlite3_column_text(q, 0),
			.touchpoint = (const char *)sqlite3_column_text(q, 1),
			.customer = (const char *)sqlite3_column_text(q, 2),
			.status = cx_case_status_parse((const char *)sqlite3_column_text(q, 3)),
			.opened_at = sqlite3_column_int64(q, 4),
			.first_contact_at = sqlite3_column_int64(q, 5),
			.closed_at = sqlite3_column_int64(q, 6),
			.later_nps = sqlite3_column_type(q, 7) == SQLITE_NULL ? -1
				: sqlite3_column_int(q, 7),
		};

		if (!f.stage || !f.touchpoint)
			continue;
		if ((rc = fn(ctx, &f)))
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = cx_store_db_fail(st, db, err, "reading cases");
out:
	sqlite3_finalize(q);
	sqlite3_close(db);
	return rc;
}

/* The first column of sql's first row (bound to a, b) into *v; 0 when no row. */
static int scalar(sqlite3 *db, const char *sql, int64_t a, int64_t b, int64_t *v)
{
	sqlite3_stmt *q;
	int rc;

	*v = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(q, 1, a);
	sqlite3_bind_int64(q, 2, b);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int cx_store_case_metrics(struct cx_store *st, int64_t window_s, struct cx_case_metrics *m,
			  struct cx_error *err)
{
	static const char *const live[] = { "open", "contacted", "resolved" };
	static const char q_close[] = "SELECT closed_at - opened_at AS d FROM cases WHERE "
		"status = 'closed' AND closed_at >= ?1 ORDER BY d LIMIT 1 OFFSET ?2";
	sqlite3 *db = reader(st, err);
	int64_t since = cx_time_now() - window_s;
	int64_t *qs[] = { &m->q50, &m->q90, &m->q99 };
	const double ps[] = { 50, 90, 99 };
	int bad = 0;

	memset(m, 0, sizeof(*m));
	if (!db)
		return -1;
	bad |= exec(db, "BEGIN");
	for (int i = 0; i < 3; i++) {
		char sql[96];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM cases WHERE status = '%s'", live[i]);
		bad |= scalar(db, sql, 0, 0, &m->not_closed[i]);
	}
	bad |= scalar(db, "SELECT count(*) FROM cases WHERE status = 'closed'", 0, 0, &m->closed);
	bad |= scalar(db, "SELECT COALESCE(sum(closed_at - opened_at), 0) FROM cases WHERE "
		      "status = 'closed'", 0, 0, &m->closed_sum_s);
	bad |= scalar(db, "SELECT count(*) FROM cases WHERE status = 'closed' AND closed_at >= ?1",
		      since, 0, &m->window_n);
	for (int i = 0; i < 3 && m->window_n; i++) {   /* nearest rank: ceil(p/100 n) */
		int64_t rank = (int64_t)((ps[i] * (double)m->window_n + 99.0) / 100.0);

		bad |= scalar(db, q_close, since, (rank < 1 ? 1 : rank) - 1, qs[i]);
	}
	exec(db, "COMMIT");
	if (bad)
		cx_store_db_fail(st, db, err, "reading case metrics");
	sqlite3_close(db);
	return bad ? -1 : 0;
}

/* --- the survey's root causes (schema 011) --- */

int cx_casestore_root_causes_load(sqlite3 *db, struct cx_survey *s, struct cx_error *err)
{
	sqlite3_stmt *q;
	json_t *list = NULL, *v;
	size_t i;
	int rc;

	for (i = 0; i < s->nroot_causes; i++)
		free(s->root_causes[i]);
	s->nroot_causes = 0;
	if (sqlite3_prepare_v2(db, "SELECT root_causes FROM surveys WHERE id = ?1", -1, &q, NULL)
	    != SQLITE_OK)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "loading root causes: %s",
				    sqlite3_errmsg(db));
	sqlite3_bind_text(q, 1, s->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
		list = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "loading root causes: %s",
				    sqlite3_errmsg(db));
	json_array_foreach(list, i, v)
		if (s->nroot_causes < CX_ROOT_CAUSES_MAX && json_is_string(v) &&
		    (s->root_causes[s->nroot_causes] = strdup(json_string_value(v))))
			s->nroot_causes++;
	json_decref(list);
	return 0;
}

int cx_casestore_root_causes_save(sqlite3 *db, const struct cx_survey *s,
				  struct cx_error *err)
{
	sqlite3_stmt *q;
	json_t *list = json_array();
	char *text;
	int rc;

	for (size_t i = 0; i < s->nroot_causes; i++)
		json_array_append_new(list, json_string(s->root_causes[i]));
	text = s->nroot_causes ? json_dumps(list, JSON_COMPACT) : NULL;
	json_decref(list);
	if (sqlite3_prepare_v2(db, "UPDATE surveys SET root_causes = ?2 WHERE id = ?1", -1, &q,
			       NULL) != SQLITE_OK) {
		free(text);
		return cx_error_set(err, 503, "storage_unavailable", NULL, "saving root causes: %s",
				    sqlite3_errmsg(db));
	}
	sqlite3_bind_text(q, 1, s->id, -1, SQLITE_STATIC);
	bind_text(q, 2, text);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	free(text);
	return rc == SQLITE_DONE ? 0 : cx_error_set(err, 503, "storage_unavailable", NULL,
						    "saving root causes: %s", sqlite3_errmsg(db));
}
