/* api_cases.c - follow-up cases over the API (issue 12): GET /v1/cases, GET|PATCH
 * /v1/cases/{id}, POST /v1/cases/{id}/notes. Read keys may GET; agent and admin keys may
 * change (the route table says who; auth.c decides). The rules are case.h's; the store
 * (store.h, "follow-up cases") does each change in one transaction of its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/case.h"
#include "cx/cxtime.h"
#include "cx/routes.h"

#define AGE_MAX_S (10 * 366 * 86400LL)

static const char *const list_params[] = {
	"status", "survey", "stage", "touchpoint", "assignee", "older_than_s", "newer_than_s",
	"limit", "after",
};

/* A whole number in [lo, hi] from text s into *v; -1 if it is not one. */
static int whole(const char *s, int64_t lo, int64_t hi, int64_t *v)
{
	char *end;
	long long x;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (*end || errno == ERANGE || x < lo || x > hi)   /* ERANGE: saturated, not s */
		return -1;
	*v = x;
	return 0;
}

/* "open,contacted" into bits of enum cx_case_status. */
static int parse_statuses(const char *s, unsigned *bits, struct cx_error *err)
{
	char buf[128];
	char *save = NULL, *tok;

	*bits = 0;
	if (!s)
		return 0;
	if (strlen(s) >= sizeof(buf) || !*s)
		goto bad;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int st = cx_case_status_parse(tok);

		if (st < 0)
			goto bad;
		*bits |= 1u << st;
	}
	if (*bits)
		return 0;
bad:
	return cx_error_set(err, 422, "invalid_status", "status", "status is a comma-separated "
			    "list of open, contacted, resolved, closed");
}

/* "<opened_at>.<id>" (the `next` of the previous page). */
static int parse_cursor(const char *s, int64_t *opened, int64_t *id)
{
	char buf[48];
	char *dot;

	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	if (!(dot = strchr(buf, '.')))
		return -1;
	*dot = '\0';
	return whole(buf, 0, INT64_MAX, opened) || whole(dot + 1, 1, INT64_MAX, id) ? -1 : 0;
}

static int parse_list(struct cx_req *req, struct cx_case_query *q, struct cx_error *err)
{
	const char *survey = cx_req_query(req, "survey"), *stage = cx_req_query(req, "stage");
	const char *older = cx_req_query(req, "older_than_s");
	const char *newer = cx_req_query(req, "newer_than_s");
	const char *limit = cx_req_query(req, "limit"), *after = cx_req_query(req, "after");
	int64_t now = cx_time_now(), v;

	memset(q, 0, sizeof(*q));
	q->limit = CX_CASE_LIST_DEFAULT;
	if (cx_api_known_params(req, list_params, sizeof(list_params) / sizeof(list_params[0]),
				err) ||
	    parse_statuses(cx_req_query(req, "status"), &q->statuses, err) ||
	    cx_api_label_param(req, "touchpoint", &q->touchpoint, err) ||
	    cx_api_label_param(req, "assignee", &q->assignee, err))
		return -1;
	if (survey && !cx_survey_valid_id(survey))
		return cx_error_set(err, 422, "invalid_id", "survey", "survey must be a survey id "
				    "(1-%d characters of A-Z a-z 0-9 _ . -)", CX_ID_MAX);
	if (stage && !cx_survey_valid_id(stage))
		return cx_error_set(err, 422, "invalid_stage", "stage", "stage must be 1-%d "
				    "characters of A-Z a-z 0-9 _ . -", CX_ID_MAX);
	q->survey = survey;
	q->stage = stage;
	if (older) {
		if (whole(older, 0, AGE_MAX_S, &v))
			return cx_error_set(err, 422, "invalid_age", "older_than_s", "older_than_s "
					    "must be a whole number of seconds, 0 to %lld",
					    (long long)AGE_MAX_S);
		q->opened_max = now - v;
	}
	if (newer) {
		if (whole(newer, 0, AGE_MAX_S, &v))
			return cx_error_set(err, 422, "invalid_age", "newer_than_s", "newer_than_s "
					    "must be a whole number of seconds, 0 to %lld",
					    (long long)AGE_MAX_S);
		q->opened_min = now - v;
	}
	if (limit) {
		if (whole(limit, 1, CX_CASE_LIST_MAX, &v))
			return cx_error_set(err, 422, "invalid_limit", "limit", "limit must be 1 to %d",
					    CX_CASE_LIST_MAX);
		q->limit = (unsigned)v;
	}
	if (after && parse_cursor(after, &q->after_opened, &q->after_id))
		return cx_error_set(err, 422, "invalid_cursor", "after", "after must be the `next` "
				    "of a previous page");
	return 0;
}

enum cx_handled cx_api_case_list(struct cx_req *req)
{
	struct cx_case_query q;
	struct cx_error err;
	json_t *cases, *next = json_null();
	int more;

	if (parse_list(req, &q, &err) ||
	    cx_store_cases_list(req->app->store, &q, &cases, &more, &err)) {
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	if (more && json_array_size(cases)) {
		json_t *last = json_array_get(cases, json_array_size(cases) - 1);
		char cursor[48];

		snprintf(cursor, sizeof(cursor), "%" JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(last, "opened_at")),
			 json_integer_value(json_object_get(last, "id")));
		json_decref(next);
		next = json_string(cursor);
	}
	cx_reply_json_take(req, 200, json_pack("{s:o, s:o}", "cases", cases, "next", next));
	return CX_DONE;
}

/* The case id of the path's first capture; -1 with a 404 reply when it is not one. */
static int path_case(struct cx_req *req, int64_t *id)
{
	struct cx_error err;

	if (whole(req->params[0], 1, INT64_MAX, id) == 0)
		return 0;
	cx_error_set(&err, 404, "not_found", NULL, "no case '%.40s'", req->params[0]);
	cx_reply_error(req, &err);
	return -1;
}

enum cx_handled cx_api_case_get(struct cx_req *req)
{
	struct cx_error err;
	json_t *c;
	int64_t id;

	if (path_case(req, &id))
		return CX_DONE;
	if (cx_api_known_params(req, NULL, 0, &err) ||
	    cx_store_case_get(req->app->store, id, &c, &err)) {
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	cx_reply_json_take(req, 200, c);
	return CX_DONE;
}

enum cx_handled cx_api_case_patch(struct cx_req *req)
{
	struct cx_case_change ch;
	struct cx_error err;
	json_t *body = NULL, *c;
	int64_t id;

	if (path_case(req, &id) || cx_api_json_body(req, &body))
		return CX_DONE;
	if (cx_case_change_from_json(body, &ch, &err) ||
	    cx_store_case_update(req->app->store, id, &ch, req->key.id, &c, &err))
		cx_reply_error(req, &err);
	else
		cx_reply_json_take(req, 200, c);
	json_decref(body);
	return CX_DONE;
}

enum cx_handled cx_api_case_note(struct cx_req *req)
{
	struct cx_error err;
	json_t *body = NULL, *note;
	const char *text;
	int64_t id;

	if (path_case(req, &id) || cx_api_json_body(req, &body))
		return CX_DONE;
	if (cx_case_note_from_json(body, &text, &err) ||
	    cx_store_case_note(req->app->store, id, text, req->key.id, &note, &err))
		cx_reply_error(req, &err);
	else
		cx_reply_json_take(req, 201, note);
	json_decref(body);
	return CX_DONE;
}
