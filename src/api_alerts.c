/* api_alerts.c - the alerts over HTTP (admin): GET /v1/alerts lists what the check
 * emitted, newest first, paged by a keyset cursor; POST /v1/alerts/run runs the check now
 * (include/cx/alerts.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/alerts.h"
#include "cx/app.h"
#include "cx/cxtime.h"
#include "cx/routes.h"

#define DEFAULT_LIMIT 50
#define MAX_LIMIT 200
#define CURSOR_MAX 400

static const char *const params[] = { "survey", "type", "limit", "after" };

struct page {
	json_t *items;
	unsigned n, limit;
	int more;                /* the store had a row past the page (it is asked for one) */
	char next[CURSOR_MAX];   /* the cursor of the last row shown */
};

/* "<last_at>:<key>" of the last row of a page; keys hold no ':' before their type ends,
 * but may after, so only the first ':' splits. */
static int parse_cursor(const char *s, struct cx_alerts_query *q)
{
	char *end;
	long long at;

	errno = 0;
	at = strtoll(s, &end, 10);
	if (errno || end == s || *end != ':' || at < 0 || !end[1] || strlen(end + 1) >= CURSOR_MAX)
		return -1;
	q->after_at = at;
	q->after_key = end + 1;
	return 0;
}

static int parse(struct cx_req *req, struct cx_alerts_query *q, struct cx_error *err)
{
	const char *limit = cx_req_query(req, "limit"), *after = cx_req_query(req, "after");
	char *end;
	long n = DEFAULT_LIMIT;

	if (cx_api_known_params(req, params, sizeof(params) / sizeof(params[0]), err))
		return -1;
	q->survey = cx_req_query(req, "survey");
	if (q->survey && !cx_survey_valid_id(q->survey))
		return cx_error_set(err, 422, "invalid_survey", "survey", "survey must be a survey "
				    "id (1-64 characters of A-Z, a-z, 0-9, '.', '_', '-')");
	q->type = cx_req_query(req, "type");
	if (q->type && strcmp(q->type, CX_ALERT_DROPPED) && strcmp(q->type, CX_ALERT_PAIN))
		return cx_error_set(err, 422, "invalid_type", "type", "type must be %s or %s",
				    CX_ALERT_DROPPED, CX_ALERT_PAIN);
	if (limit && (!*limit || (n = strtol(limit, &end, 10)) < 1 || *end || n > MAX_LIMIT))
		return cx_error_set(err, 422, "invalid_limit", "limit",
				    "limit must be a whole number from 1 to %d", MAX_LIMIT);
	q->limit = (unsigned)n + 1;   /* one more: is there a next page? */
	if (after && parse_cursor(after, q))
		return cx_error_set(err, 422, "invalid_cursor", "after",
				    "after must be a `next` value from an earlier page");
	return 0;
}

static int on_alert(void *ctx, const struct cx_alert *a)
{
	struct page *p = ctx;

	if (p->n == p->limit) {
		p->more = 1;
		return 1;
	}
	json_array_append_new(p->items, json_pack("{s:s, s:s, s:s, s:I, s:I, s:O}", "key", a->key,
		"type", a->type, "survey", a->survey, "first_at", (json_int_t)a->first_at,
		"last_at", (json_int_t)a->last_at, "data", a->data));
	snprintf(p->next, sizeof(p->next), "%lld:%s", (long long)a->last_at, a->key);
	p->n++;
	return 0;
}

enum cx_handled cx_api_alerts_list(struct cx_req *req)
{
	struct cx_alerts_query q = { 0 };
	struct page p = { 0 };
	struct cx_error err = { 0 };

	if (parse(req, &q, &err)) {
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	p.items = json_array();
	p.limit = q.limit - 1;
	if (cx_store_alerts_list(req->app->store, &q, on_alert, &p, &err) < 0) {
		json_decref(p.items);
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	cx_reply_json_take(req, 200, json_pack("{s:o, s:s?}", "alerts", p.items, "next",
					       p.more ? p.next : NULL));
	return CX_DONE;
}

static int no_params(void *ctx, const char *key, const char *value)
{
	return cx_error_set(ctx, 422, "unknown_parameter", key, "POST /v1/alerts/run takes no "
			    "query parameters (got '%.64s')", key);
}

enum cx_handled cx_api_alerts_run(struct cx_req *req)
{
	struct cx_alerts_params p = cx_alerts_params_of(&req->app->cfg, cx_time_now());
	struct cx_error err = { 0 };
	json_t *out;

	if (cx_req_query_each(req, no_params, &err) ||
	    cx_alerts_run(req->app->store, &p, &out, &err)) {
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	cx_reply_json_take(req, 200, out);
	return CX_DONE;
}
