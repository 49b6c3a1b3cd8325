/* Unit tests for case.c (the rules and figures of follow-up cases) and store_cases.c (on a
 * real SQLite file in a temporary directory): cases opened by a rule in the response's
 * transaction, worked, closed, reopened, erased. */
#include <check.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cx/auth.h"
#include "cx/case.h"
#include "cx/store.h"
#include "check_main.h"
#include "store_fixture.h"

CX_STORE_FIXTURE("/tmp/cx-case-test")

/* --- case.c --- */

START_TEST(statuses)
{
	ck_assert_int_eq(cx_case_status_parse("open"), CX_CASE_OPEN);
	ck_assert_int_eq(cx_case_status_parse("closed"), CX_CASE_CLOSED);
	ck_assert_int_eq(cx_case_status_parse("Closed"), -1);
	ck_assert_int_eq(cx_case_status_parse(NULL), -1);
	ck_assert_str_eq(cx_case_status_name(CX_CASE_CONTACTED), "contacted");
}
END_TEST

static const char *change_code(const char *text)
{
	static char code[64];
	struct cx_case_change ch;
	struct cx_error err;
	json_t *j = json_loads(text, 0, NULL);

	ck_assert_ptr_nonnull(j);
	code[0] = '\0';
	if (cx_case_change_from_json(j, &ch, &err))
		snprintf(code, sizeof(code), "%s", err.code);
	json_decref(j);
	return code;
}

START_TEST(changes_checked)
{
	struct cx_case_change ch;
	struct cx_error err;
	json_t *j = json_pack("{s:s, s:n, s:s}", "status", "resolved", "assignee",
			      "root_cause", "late-delivery");

	ck_assert_int_eq(cx_case_change_from_json(j, &ch, &err), 0);
	ck_assert_int_eq(ch.status, CX_CASE_RESOLVED);
	ck_assert_int_eq(ch.set_assignee, 1);
	ck_assert_ptr_null(ch.assignee);
	ck_assert_str_eq(ch.root_cause, "late-delivery");
	json_decref(j);
	ck_assert_str_eq(change_code("{}"), "");
	ck_assert_str_eq(change_code("{\"state\": \"open\"}"), "unknown_field");
	ck_assert_str_eq(change_code("{\"status\": \"reopened\"}"), "invalid_status");
	ck_assert_str_eq(change_code("{\"status\": null}"), "invalid_status");
	ck_assert_str_eq(change_code("{\"assignee\": \"\"}"), "invalid_assignee");
	ck_assert_str_eq(change_code("{\"assignee\": 7}"), "invalid_assignee");
	ck_assert_str_eq(change_code("{\"assignee\": \"a\\nb\"}"), "invalid_assignee");
	ck_assert_str_eq(change_code("{\"root_cause\": [\"x\"]}"), "invalid_root_cause");
	ck_assert_str_eq(change_code("[]"), "invalid_case_change");
}
END_TEST

START_TEST(notes_checked)
{
	struct cx_error err;
	const char *text;
	char *big = malloc(3 * 4001 + 1);
	json_t *j;

	/* 4000 three-byte characters pass; 4001 do not; bytes are not characters */
	for (int i = 0; i < 4001; i++)
		memcpy(big + 3 * i, "\xe2\x82\xac", 3);
	big[3 * 4000] = '\0';
	j = json_pack("{s:s}", "text", big);
	ck_assert_int_eq(cx_case_note_from_json(j, &text, &err), 0);
	json_decref(j);
	big[3 * 4000] = '\xe2';
	big[3 * 4001] = '\0';
	j = json_pack("{s:s}", "text", big);
	ck_assert_int_eq(cx_case_note_from_json(j, &text, &err), -1);
	ck_assert_str_eq(err.code, "invalid_note");
	json_decref(j);
	j = json_pack("{s:s}", "text", "");
	ck_assert_int_eq(cx_case_note_from_json(j, &text, &err), -1);
	json_decref(j);
	j = json_pack("{s:s, s:i}", "text", "called", "at", 1);
	ck_assert_int_eq(cx_case_note_from_json(j, &text, &err), -1);
	ck_assert_str_eq(err.code, "unknown_field");
	json_decref(j);
	free(big);
}
END_TEST

START_TEST(nearest_rank)
{
	const int64_t v[] = { 10, 20, 30, 40, 50, 60, 70, 80, 90, 100 };

	ck_assert_int_eq(cx_case_nearest_rank(v, 10, 50), 50);
	ck_assert_int_eq(cx_case_nearest_rank(v, 10, 90), 90);
	ck_assert_int_eq(cx_case_nearest_rank(v, 10, 91), 100);
	ck_assert_int_eq(cx_case_nearest_rank(v, 9, 50), 50);   /* ceil(4.5) = 5 */
	ck_assert_int_eq(cx_case_nearest_rank(v, 1, 90), 10);
	ck_assert_int_eq(cx_case_nearest_rank(v, 2, 50), 10);
}
END_TEST

static struct cx_case_fact fact(const char *customer, int status, int64_t opened,
				int64_t contact, int64_t closed, int later)
{
	struct cx_case_fact f = { .stage = "purchase", .touchpoint = "checkout",
				  .customer = customer, .status = status, .opened_at = opened,
				  .first_contact_at = contact, .closed_at = closed,
				  .later_nps = later };
	return f;
}

START_TEST(figures)
{
	struct cx_case_stats st = { 0 }, stage = { 0 };
	struct cx_case_fact f[] = {
		fact("a", CX_CASE_CLOSED, 1000, 1100, 1300, 3),    /* older case of a: ignored */
		fact("a", CX_CASE_CLOSED, 2000, 2060, 2600, 9),    /* a: recovered */
		fact("b", CX_CASE_CLOSED, 1000, 1030, 1100, 6),    /* b: not */
		fact("c", CX_CASE_CLOSED, 1000, 0, 1200, -1),      /* c: did not answer again */
		fact(NULL, CX_CASE_CLOSED, 1000, 1010, 5000, -1),  /* anonymous: no recovery */
		fact("d", CX_CASE_CONTACTED, 1000, 1500, 0, -1),
		fact("e", CX_CASE_OPEN, 1000, 0, 0, -1),
	};
	json_t *j, *t;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		ck_assert_int_eq(cx_case_stats_add(&st, &f[i]), 0);
	ck_assert_int_eq(cx_case_stats_merge(&stage, &st), 0);
	j = cx_case_stats_json(&st);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "opened")), 7);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "contacted")), 5);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "closed")), 5);
	/* to contact: 100 60 30 10 500 -> sorted 10 30 60 100 500: median rank 3, p90 rank 5 */
	t = json_object_get(j, "time_to_first_contact_s");
	ck_assert_int_eq(json_integer_value(json_object_get(t, "n")), 5);
	ck_assert_int_eq(json_integer_value(json_object_get(t, "median")), 60);
	ck_assert_int_eq(json_integer_value(json_object_get(t, "p90")), 500);
	/* to close: 300 600 100 200 4000 -> 100 200 300 600 4000 */
	t = json_object_get(j, "time_to_close_s");
	ck_assert_int_eq(json_integer_value(json_object_get(t, "median")), 300);
	ck_assert_int_eq(json_integer_value(json_object_get(t, "p90")), 4000);
	t = json_object_get(j, "recovery");
	ck_assert_int_eq(json_integer_value(json_object_get(t, "n")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(t, "recovered")), 1);
	ck_assert(json_real_value(json_object_get(t, "share")) == 50.0);
	/* Wilson 95% for 1 of 2: 9.45% .. 90.55% */
	ck_assert(fabs(json_real_value(json_array_get(json_object_get(t, "ci95"), 0)) - 9.45) < 0.01);
	ck_assert(fabs(json_real_value(json_array_get(json_object_get(t, "ci95"), 1)) - 90.55) < 0.01);
	json_decref(j);
	j = cx_case_stats_json(&stage);   /* the merged copy says the same */
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "recovery"), "n")), 2);
	json_decref(j);
	cx_case_stats_release(&st);
	cx_case_stats_release(&stage);
	j = cx_case_stats_json(&st);      /* empty: nulls, not zeros */
	ck_assert(json_is_null(json_object_get(json_object_get(j, "time_to_close_s"), "median")));
	ck_assert(json_is_null(json_object_get(json_object_get(j, "recovery"), "share")));
	json_decref(j);
}
END_TEST

/* --- the agent role (auth.c) --- */

START_TEST(agent_role)
{
	static const enum cx_role keys[] = { CX_ROLE_NONE, CX_ROLE_INGEST, CX_ROLE_READ,
					     CX_ROLE_AGENT, CX_ROLE_ADMIN };
	static const enum cx_role routes[] = { CX_ROLE_PUBLIC, CX_ROLE_FORM, CX_ROLE_INGEST,
					       CX_ROLE_READ, CX_ROLE_AGENT, CX_ROLE_ADMIN,
					       CX_ROLE_ANY_KEY };
	/* rows: keys; columns: routes */
	static const int allowed[5][7] = {
		{ 1, 0, 0, 0, 0, 0, 0 },   /* no key: public routes only (FORM: the handler decides) */
		{ 1, 1, 1, 0, 0, 0, 1 },   /* ingest */
		{ 1, 0, 0, 1, 0, 0, 1 },   /* read */
		{ 1, 0, 0, 1, 1, 0, 1 },   /* agent: read + cases */
		{ 1, 1, 1, 1, 1, 1, 1 },   /* admin: everything */
	};

	/* stored roles keep their numbers: the enum is only appended to */
	ck_assert_int_eq(CX_ROLE_INGEST, 1);
	ck_assert_int_eq(CX_ROLE_READ, 2);
	ck_assert_int_eq(CX_ROLE_ADMIN, 3);
	ck_assert_int_eq(cx_role_parse("agent"), CX_ROLE_AGENT);
	ck_assert_str_eq(cx_role_name(CX_ROLE_AGENT), "agent");
	ck_assert_int_eq(cx_role_parse("admin"), CX_ROLE_ADMIN);
	ck_assert_int_eq(cx_role_parse("none"), CX_ROLE_NONE);
	for (int k = 0; k < 5; k++)
		for (int r = 0; r < 7; r++)
			ck_assert_msg(cx_auth_role_allows(keys[k], routes[r]) == allowed[k][r],
				      "key %s on route role %d", cx_role_name(keys[k]), (int)routes[r]);
}
END_TEST

/* --- store_cases.c --- */

static struct cx_store *open_store(void)
{
	struct cx_store *st;
	struct cx_error err;

	ck_assert_msg(cx_store_open(&st, path, 2, &err) == 0, "%s", err.message);
	return st;
}

static void define(struct cx_store *st, const char *json, int replace)
{
	struct cx_survey s;
	struct cx_error err;
	int created;
	json_t *j = json_loads(json, 0, NULL);

	ck_assert_ptr_nonnull(j);
	ck_assert_msg(cx_survey_from_json(j, NULL, &s, &err) == 0, "%s", err.message);
	ck_assert_msg(cx_store_survey_put(st, &s, replace, &created, &err) == 0, "%s",
		      err.message);
	cx_survey_release(&s);
	json_decref(j);
}

/* Run sql on the file with a connection of the test's own; the first column of the first
 * row as a number (0 if none). */
static long long sql1(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	long long v = 0;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK, "%s",
		      sqlite3_errmsg(db));
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

/* A response by customer, appended and put through a rule's case action in one
 * transaction, as the writer does; *opened says whether a case was opened. */
static int64_t respond(struct cx_store *st, const char *customer, int nps, int64_t t,
		       int *opened, int64_t *response_id)
{
	struct cx_response r = { .nps = nps, .csat = -1, .ces = -1, .submitted_at = t };
	struct cx_error err;
	int64_t id, case_id;
	int replayed;

	snprintf(r.survey, sizeof(r.survey), "checkout");
	r.stage = (char *)"purchase";
	r.touchpoint = (char *)"pay";
	r.channel = (char *)"web";
	r.customer = (char *)customer;
	r.comment = (char *)"too slow";
	r.learn = 1;   /* as validation marks a keyed client's new touchpoint */
	ck_assert_int_eq(cx_store_begin(st, &err), 0);
	ck_assert_int_eq(cx_store_job_begin(st, 0, &err), 0);
	ck_assert_msg(cx_store_append(st, &r, NULL, &id, &replayed, &err) == 0, "%s", err.message);
	cx_store_job_end(st, 1);
	ck_assert_msg(cx_store_case_open(st, &r, id, "detractor", "payments", &case_id, opened,
					 &err) == 0, "%s", err.message);
	ck_assert_int_eq(cx_store_commit(st, &err), 0);
	if (response_id)
		*response_id = id;
	return case_id;
}

static json_t *patch(struct cx_store *st, int64_t id, const char *json, struct cx_error *err)
{
	struct cx_case_change ch;
	json_t *body = json_loads(json, 0, NULL), *out = NULL;

	ck_assert_ptr_nonnull(body);
	ck_assert_int_eq(cx_case_change_from_json(body, &ch, err), 0);
	if (cx_store_case_update(st, id, &ch, "agentkey0001", &out, err))
		out = NULL;
	json_decref(body);
	return out;
}

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static long long num(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

START_TEST(opened_by_rule_once_per_customer)
{
	struct cx_store *st = open_store();
	struct cx_error err;
	int opened;
	int64_t c1, c2, c3, rid, rid2;
	json_t *c, *h;

	define(st, "{\"id\": \"checkout\", \"title\": \"T\"}", 0);
	/* an endpoint subscribed to case events gets case.opened in the same transaction */
	ck_assert_int_eq(sql1("INSERT INTO endpoints(id, url, events, secret, created_at, "
			      "updated_at) VALUES ('desk', 'https://desk.example/h', "
			      "'[\"case.opened\", \"case.closed\"]', 'whsec_x', 1, 1)"), 0);
	c1 = respond(st, "cust-1", 2, 1795392000, &opened, &rid);
	ck_assert_int_eq(opened, 1);
	ck_assert_int_gt(c1, 0);
	c2 = respond(st, "cust-1", 3, 1795392100, &opened, &rid2);
	ck_assert_int_eq(opened, 0);       /* the open case takes note of the new response */
	ck_assert_int_eq(c2, c1);
	c3 = respond(st, NULL, 1, 1795392200, &opened, NULL);
	ck_assert_int_eq(opened, 1);       /* no customer: a case each time */
	ck_assert_int_ne(c3, c1);
	ck_assert_int_eq(sql1("SELECT count(*) FROM deliveries WHERE type = 'case.opened'"), 2);
	ck_assert_int_eq(sql1("SELECT count(*) FROM deliveries WHERE type = 'case.opened' AND "
			      "json_extract(payload, '$.data.case.customer') = 'cust-1' AND "
			      "json_extract(payload, '$.data.response.comment') = 'too slow' AND "
			      "json_extract(payload, '$.data.case.assignee') = 'payments'"), 1);

	ck_assert_int_eq(cx_store_case_get(st, c1, &c, &err), 0);
	ck_assert_str_eq(str(c, "status"), "open");
	ck_assert_str_eq(str(c, "rule"), "detractor");
	ck_assert_str_eq(str(c, "stage"), "purchase");
	ck_assert_str_eq(str(c, "touchpoint"), "pay");
	ck_assert_str_eq(str(c, "channel"), "web");
	ck_assert_int_eq(num(c, "response_id"), rid);
	ck_assert_int_eq(num(json_object_get(c, "response"), "nps"), 2);
	h = json_object_get(c, "history");
	ck_assert_int_eq(json_array_size(h), 2);
	ck_assert_str_eq(str(json_array_get(h, 0), "kind"), "opened");
	ck_assert_str_eq(str(json_array_get(h, 0), "actor"), "rule:detractor");
	ck_assert_str_eq(str(json_array_get(h, 1), "kind"), "response");
	ck_assert_int_eq(atoll(str(json_array_get(h, 1), "to")), rid2);
	json_decref(c);
	ck_assert_int_eq(cx_store_case_get(st, 999999, &c, &err), -1);
	ck_assert_int_eq(err.status, 404);
	cx_store_close(st);
}
END_TEST

START_TEST(worked_closed_reopened)
{
	struct cx_store *st = open_store();
	struct cx_error err;
	int opened;
	int64_t c1, c2;
	json_t *c;

	define(st, "{\"id\": \"checkout\", \"title\": \"T\", \"root_causes\": [\"late-delivery\", "
	       "\"card-declined\"]}", 0);
	ck_assert_int_eq(sql1("INSERT INTO endpoints(id, url, events, secret, created_at, "
			      "updated_at) VALUES ('desk', 'https://desk.example/h', "
			      "'[\"case.closed\"]', 'whsec_x', 1, 1)"), 0);
	c1 = respond(st, "cust-1", 2, 1795392000, &opened, NULL);

	c = patch(st, c1, "{\"status\": \"contacted\", \"assignee\": \"ana\"}", &err);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(str(c, "status"), "contacted");
	ck_assert_str_eq(str(c, "assignee"), "ana");
	ck_assert_int_gt(num(c, "first_contact_at"), 0);
	ck_assert(json_is_null(json_object_get(c, "closed_at")));
	json_decref(c);

	ck_assert_ptr_null(patch(st, c1, "{\"root_cause\": \"weather\"}", &err));
	ck_assert_int_eq(err.status, 422);
	ck_assert_str_eq(err.code, "unknown_root_cause");
	c = patch(st, c1, "{\"root_cause\": \"card-declined\", \"status\": \"closed\"}", &err);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(str(c, "root_cause"), "card-declined");
	ck_assert_int_gt(num(c, "closed_at"), 0);
	ck_assert(json_is_null(json_object_get(c, "resolved_at")));   /* never resolved */
	json_decref(c);
	ck_assert_int_eq(sql1("SELECT count(*) FROM deliveries WHERE type = 'case.closed' AND "
			      "json_extract(payload, '$.data.case.status') = 'closed'"), 1);
	/* closing again changes nothing and sends nothing */
	json_decref(patch(st, c1, "{\"status\": \"closed\"}", &err));
	ck_assert_int_eq(sql1("SELECT count(*) FROM deliveries WHERE type = 'case.closed'"), 1);

	/* closed: the next detractor answer opens a new case */
	c2 = respond(st, "cust-1", 1, 1795393000, &opened, NULL);
	ck_assert_int_eq(opened, 1);
	ck_assert_int_ne(c2, c1);
	/* and the old one cannot be reopened while it is open */
	ck_assert_ptr_null(patch(st, c1, "{\"status\": \"open\"}", &err));
	ck_assert_int_eq(err.status, 409);
	ck_assert_str_eq(err.code, "case_conflict");
	json_decref(patch(st, c2, "{\"status\": \"resolved\"}", &err));
	json_decref(patch(st, c2, "{\"status\": \"closed\"}", &err));
	c = patch(st, c1, "{\"status\": \"resolved\"}", &err);   /* now it can */
	ck_assert_ptr_nonnull(c);
	ck_assert(json_is_null(json_object_get(c, "closed_at")));  /* cleared on reopening */
	ck_assert_int_gt(num(c, "resolved_at"), 0);
	json_decref(c);

	/* every change is history, with the key as actor */
	ck_assert_int_eq(sql1("SELECT count(*) FROM case_events WHERE case_id = 1 AND actor = "
			      "'agentkey0001'"), 5);   /* status, assignee; root_cause, status; status */
	ck_assert_int_eq(cx_store_case_note(st, c1, "called back", "agentkey0001", &c, &err), 0);
	json_decref(c);
	ck_assert_int_eq(cx_store_case_get(st, c1, &c, &err), 0);
	ck_assert_int_eq(json_array_size(json_object_get(c, "notes")), 1);
	ck_assert_str_eq(str(json_array_get(json_object_get(c, "notes"), 0), "text"),
			 "called back");
	json_decref(c);
	ck_assert_int_eq(cx_store_case_note(st, 4242, "x", "k", &c, &err), -1);
	ck_assert_int_eq(err.status, 404);

	/* the survey's root causes survive a restart */
	cx_store_close(st);
	st = open_store();
	{
		struct cx_survey s;

		ck_assert_int_eq(cx_store_survey_get(st, "checkout", &s), 0);
		ck_assert_int_eq((int)s.nroot_causes, 2);
		ck_assert_str_eq(s.root_causes[1], "card-declined");
		cx_survey_release(&s);
	}
	/* erasure takes the customer's cases and their history */
	{
		int64_t n;

		ck_assert_int_eq(cx_store_begin(st, &err), 0);
		ck_assert_int_eq(cx_store_erase_customer(st, "cust-1", &n, &err), 0);
		ck_assert_int_eq(cx_store_commit(st, &err), 0);
	}
	ck_assert_int_eq(cx_store_case_get(st, c1, &c, &err), -1);
	ck_assert_int_eq(err.status, 404);
	ck_assert_int_eq(sql1("SELECT count(*) FROM case_events"), 0);
	cx_store_close(st);
}
END_TEST

START_TEST(metrics_and_facts)
{
	struct cx_store *st = open_store();
	struct cx_case_metrics m;
	struct cx_error err;
	int opened;

	define(st, "{\"id\": \"checkout\", \"title\": \"T\"}", 0);
	respond(st, "a", 2, 1795392000, &opened, NULL);
	respond(st, "b", 2, 1795392000, &opened, NULL);
	respond(st, "c", 2, 1795392000, &opened, NULL);
	ck_assert_int_eq(sql1("UPDATE cases SET status = 'closed', opened_at = "
			      "strftime('%s', 'now') - 100 * id, closed_at = strftime('%s', 'now') WHERE customer <> 'c'"), 0);
	ck_assert_int_eq(cx_store_case_metrics(st, 86400, &m, &err), 0);
	ck_assert_int_eq(m.not_closed[0], 1);
	ck_assert_int_eq(m.closed, 2);
	ck_assert_int_eq(m.window_n, 2);
	ck_assert_int_eq(m.q50, 100);
	ck_assert_int_eq(m.q90, 200);
	ck_assert_int_eq(m.closed_sum_s, 300);
	cx_store_close(st);
}
END_TEST

CX_CHECK_MAIN("case", setup, teardown, statuses, changes_checked, notes_checked,
	      nearest_rank, figures, agent_role, opened_by_rule_once_per_customer, worked_closed_reopened,
	      metrics_and_facts)
