/* api_comments.c - GET /v1/surveys/{id}/comments: verbatims for closing the loop, newest
 * first, paged by an opaque keyset cursor (stable while new comments arrive). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/cxtime.h"
#include "cx/routes.h"

#define DEFAULT_LIMIT 50
#define MAX_LIMIT 200

static const char *const params[] = {
	"stage", "touchpoint", "channel", "segment", "max_nps", "from", "to", "cursor", "limit",
};

struct page {
	json_t *items;
	int64_t last_time, last_id;
	unsigned n, limit;
	int more;               /* the store had a row past the page (it is asked for one) */
};

static int int_param(const char *v, long lo, long hi, long *out)
{
	char *end;

	if (!v)
		return 0;
	*out = strtol(v, &end, 10);
	return (!*v || *end || *out < lo || *out > hi) ? -1 : 0;
}

static int parse(struct cx_req *req, const struct cx_survey *s, struct cx_comments_query *q,
		 struct cx_error *err)
{
	const char *from = cx_req_query(req, "from"), *to = cx_req_query(req, "to");
	const char *cursor = cx_req_query(req, "cursor");
	long max_nps = -1, limit = DEFAULT_LIMIT;
	int64_t day;

	if (cx_api_known_params(req, params, sizeof(params) / sizeof(params[0]), err))
		return -1;
	q->survey = s->id;
	q->from_s = INT64_MIN;
	q->to_s = INT64_MAX;
	if (from) {
		if (cx_time_parse_day(from, &day))
			return cx_error_set(err, 422, "invalid_time", "from",
					    "from must be a date (2026-11-01)");
		q->from_s = day * 86400;
	}
	if (to) {
		if (cx_time_parse_day(to, &day))
			return cx_error_set(err, 422, "invalid_time", "to",
					    "to must be a date (2026-11-23)");
		q->to_s = day * 86400;
	}
	q->stage = cx_req_query(req, "stage");
	if (q->stage && cx_survey_stage_index(s, q->stage) < 0)
		return cx_error_set(err, 422, "invalid_stage", "stage",
				    "'%.64s' is not a stage of survey '%s'", q->stage, s->id);
	if (cx_api_label_param(req, "touchpoint", &q->touchpoint, err) ||
	    cx_api_label_param(req, "channel", &q->channel, err) ||
	    cx_api_label_param(req, "segment", &q->segment, err))
		return -1;
	if (int_param(cx_req_query(req, "max_nps"), 0, 10, &max_nps))
		return cx_error_set(err, 422, "invalid_max_nps", "max_nps",
				    "max_nps must be a whole number from 0 to 10");
	if (int_param(cx_req_query(req, "limit"), 1, MAX_LIMIT, &limit))
		return cx_error_set(err, 422, "invalid_limit", "limit",
				    "limit must be a whole number from 1 to %d", MAX_LIMIT);
	q->max_nps = (int)max_nps;
	q->limit = (unsigned)limit;
	q->after_time = INT64_MAX;
	q->after_id = INT64_MAX;
	if (cursor) {
		char tail;

		if (sscanf(cursor, "%" SCNx64 ".%" SCNx64 "%c", (uint64_t *)&q->after_time,
			   (uint64_t *)&q->after_id, &tail) != 2 || q->after_time < 0 || q->after_id < 0)
			return cx_error_set(err, 422, "invalid_cursor", "cursor",
					    "cursor must be a next_cursor value from an earlier page");
	}
	return 0;
}

static json_t *score_or_null(int v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

static int on_comment(void *ctx, const struct cx_comment *c)
{
	struct page *p = ctx;
	char when[32];

	if (p->n == p->limit) {
		p->more = 1;
		return 0;
	}
	cx_time_format_rfc3339(c->submitted_at, when, sizeof(when));
	json_array_append_new(p->items, json_pack("{s:I, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:o, s:o, s:o, s:s}",
		"id", (json_int_t)c->id, "submitted_at", when, "stage", c->stage,
		"touchpoint", c->touchpoint, "channel", c->channel, "segment", c->segment,
		"customer", c->customer, "nps", score_or_null(c->nps), "csat", score_or_null(c->csat),
		"ces", score_or_null(c->ces), "comment", c->comment));
	p->last_time = c->submitted_at;
	p->last_id = c->id;
	p->n++;
	return 0;
}

enum cx_handled cx_api_comments(struct cx_req *req)
{
	struct cx_survey s;
	struct cx_comments_query q = { 0 };
	struct page p = { 0 };
	struct cx_error err;
	char next[48];
	int failed;

	if (cx_api_path_survey(req, &s))
		return CX_DONE;
	p.items = json_array();
	failed = parse(req, &s, &q, &err);
	if (!failed) {
		p.limit = q.limit++;   /* one more than the page: is there a next one? */
		failed = cx_store_comments(req->app->store, &q, on_comment, &p, &err);
	}
	if (failed) {
		cx_reply_error(req, &err);
		json_decref(p.items);
		cx_survey_release(&s);
		return CX_DONE;
	}
	/* one row past the page was asked for: a next cursor only when there is a next page */
	snprintf(next, sizeof(next), "%" PRIx64 ".%" PRIx64, (uint64_t)p.last_time,
		 (uint64_t)p.last_id);
	cx_reply_json_take(req, 200, json_pack("{s:s, s:o, s:s?}", "survey", s.id,
		"comments", p.items, "next_cursor", p.more ? next : NULL));
	if (p.more)
		snprintf(req->reply.next_cursor, sizeof(req->reply.next_cursor), "%s", next);
	cx_survey_release(&s);
	return CX_DONE;
}
