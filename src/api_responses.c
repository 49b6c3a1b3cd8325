/* api_responses.c - POST /v1/responses and POST /v1/surveys/{id}/responses: one response
 * (JSON object or HTML form) or a batch (JSON array or NDJSON, all-or-nothing), validated
 * here, committed by the writer, answered after the commit.
 *
 * Who may post what was decided at the headers (src/policy.c): an anonymous request reaches
 * here only for a public survey named in the URL, with a single body of at most
 * --body-limit bytes. Before an item is validated, its survey must be the URL's and one the
 * key may post to, so a 422 never describes a survey the client may not post to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/cxtime.h"
#include "cx/policy.h"
#include "cx/routes.h"

#define CX_BATCH_MAX_ITEMS 10000
#define CX_BATCH_MAX_ERRORS 100   /* item errors listed in a 422; the count is exact */

/* A survey looked up once and reused while the same id keeps coming (batches): the
 * store's cached definition, held (cx_store_survey_ref), not a copy. */
struct survey_cache {
	struct cx_store *store;
	const struct cx_survey *s;
};

/* One POST: lives from the first NDJSON line (or the handler) until the writer answered
 * or the request ended. Owned by req->stream_ctx. */
struct submission {
	struct cx_write_job job;   /* first: the writer hands it back */
	struct cx_req *req;
	struct survey_cache cache;
	struct cx_response *items;
	size_t n, cap;
	size_t seen;               /* batch items seen, valid or not */
	int64_t *ids;
	unsigned char *replayed;
	json_t *errors;            /* [{index, line?, code, field, message}] */
	size_t nerrors;
	int is_batch, from_form, too_many;
	int forbidden;             /* an item names a survey the key may not post to */
	char *thank_you_url;
	char scope[CX_IDEM_SCOPE_MAX]; /* the client's idempotency namespace */
};

static const char thanks_page[] =
	"<!doctype html><html lang=en><meta charset=utf-8>"
	"<meta name=viewport content=\"width=device-width,initial-scale=1\">"
	"<title>Thank you</title>"
	"<body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;"
	"padding:0 1rem;color:#1f2937\"><h1>Thank you</h1>"
	"<p>Your feedback was received.</p></body></html>\n";

static const struct cx_survey *lookup(void *ctx, const char *id)
{
	struct survey_cache *c = ctx;

	if (c->s && strcmp(c->s->id, id) == 0)
		return c->s;
	cx_store_survey_unref(c->s);
	return c->s = cx_store_survey_ref(c->store, id);
}

static void submission_free(void *p)
{
	struct submission *sub = p;

	for (size_t i = 0; i < sub->n; i++)
		cx_response_release(&sub->items[i]);
	free(sub->items);
	free(sub->ids);
	free(sub->replayed);
	json_decref(sub->errors);
	cx_store_survey_unref(sub->cache.s);
	free(sub->thank_you_url);
	free(sub);
}

static struct submission *submission_of(struct cx_req *req)
{
	struct submission *sub = req->stream_ctx;

	if (sub)
		return sub;
	if (!(sub = calloc(1, sizeof(*sub))))
		return NULL;
	sub->req = req;
	sub->cache.store = req->app->store;
	sub->errors = json_array();
	req->stream_ctx = sub;
	req->stream_free = submission_free;
	return sub;
}

static void item_error(struct submission *sub, size_t index, size_t lineno,
		       const struct cx_error *err)
{
	json_t *e;

	if (sub->nerrors++ >= CX_BATCH_MAX_ERRORS)
		return;
	e = json_pack("{s:I, s:s, s:s?, s:s}", "index", (json_int_t)index, "code", err->code,
		      "field", err->field[0] ? err->field : NULL, "message", err->message);
	if (lineno)
		json_object_set_new(e, "line", json_integer((json_int_t)lineno));
	json_array_append_new(sub->errors, e);
}

/* The item as it is validated: on /v1/surveys/{id}/responses an item may leave out its
 * survey (*copy then gets it from the URL) and may not name another; and an item must name
 * a survey the key may post to (else sub->forbidden). NULL with err when refused. */
static const json_t *scoped_item(struct submission *sub, const json_t *obj, json_t **copy,
				 struct cx_error *err)
{
	const char *url = sub->req->params[0];
	const json_t *sv = json_object_get(obj, "survey");
	const char *named = json_string_value(sv);

	*copy = NULL;
	if (url && json_is_object(obj) && !sv) {
		if (!(*copy = json_copy((json_t *)obj)) ||
		    json_object_set_new(*copy, "survey", json_string(url))) {
			cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
			return NULL;
		}
		return *copy;
	}
	if (url && sv && (!named || strcmp(named, url) != 0)) {
		cx_error_set(err, 422, "survey_mismatch", "survey", "survey must be the one in "
			     "the URL, or be left out");
		return NULL;
	}
	if (named && !cx_key_allows_survey(&sub->req->key, named)) {
		sub->forbidden = 1;
		cx_error_set(err, 403, "forbidden", "survey", "this key may not post to that "
			     "survey");
		return NULL;
	}
	return obj;
}

/* Validate one item into the submission (or record why not). */
static void add_item(struct submission *sub, const json_t *item, size_t lineno)
{
	struct cx_error err;
	size_t index = sub->seen++;
	json_t *copy;
	const json_t *obj = scoped_item(sub, item, &copy, &err);

	if (sub->n == sub->cap) {
		size_t cap = sub->cap ? sub->cap * 2 : 8;
		struct cx_response *p = realloc(sub->items, cap * sizeof(*p));

		if (!p) {
			cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
			goto fail;
		}
		sub->items = p;
		sub->cap = cap;
	}
	if (!obj || cx_validate_response(obj, sub->from_form, sub->req->key.role != CX_ROLE_NONE,
					 lookup, &sub->cache, cx_time_now(), &sub->items[sub->n], &err))
		goto fail;
	sub->items[sub->n++].received_ms = cx_time_now_ms();
	json_decref(copy);
	return;
fail:
	item_error(sub, index, lineno, &err);
	json_decref(copy);
}

static int blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

void cx_api_response_line(struct cx_req *req, const char *line, size_t len, size_t lineno)
{
	struct submission *sub = submission_of(req);
	struct cx_error err;
	json_error_t jerr;
	json_t *obj;

	if (!sub || (line && blank(line, len)))
		return;
	sub->is_batch = 1;
	if (sub->seen >= CX_BATCH_MAX_ITEMS) {
		sub->too_many = 1;
		return;
	}
	if (!line) {
		cx_error_set(&err, 413, "line_too_long", NULL, "line %zu is longer than the "
			     "single-response limit (--body-limit)", lineno);
		item_error(sub, sub->seen++, lineno, &err);
		return;
	}
	if (!(obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr))) {
		cx_error_set(&err, 400, "invalid_json", NULL, "line %zu is not valid JSON: %s",
			     lineno, jerr.text);
		item_error(sub, sub->seen++, lineno, &err);
		return;
	}
	add_item(sub, obj, lineno);
	json_decref(obj);
}

/* Runs on the writer thread once the commit is durable (or failed): as little as
 * possible here, the writer is the one serial stage. The reply is built by reply(). */
static void on_written(struct cx_write_job *job)
{
	struct submission *sub = (struct submission *)job;

	cx_req_finish(sub->req);
}

/* Runs on a worker thread after the writer finished with the job. */
static void reply(struct cx_req *req)
{
	struct submission *sub = req->stream_ctx;
	struct cx_write_job *job = &sub->job;

	if (!job->ok && sub->is_batch && job->err.status != 503) {
		json_t *body = cx_error_json(&job->err);

		item_error(sub, job->failed_index, 0, &job->err);
		json_object_set(body, "items", sub->errors);
		cx_reply_json_take(req, (unsigned)job->err.status, body);
	} else if (!job->ok) {
		cx_reply_error(req, &job->err);
	} else if (sub->is_batch) {
		json_t *ids = json_array();

		for (size_t i = 0; i < sub->n; i++)
			json_array_append_new(ids, json_integer(sub->ids[i]));
		cx_reply_json_take(req, job->nreplayed == sub->n ? 200 : 201,
				   json_pack("{s:I, s:I, s:o}", "count", (json_int_t)sub->n,
					     "replayed", (json_int_t)job->nreplayed, "ids", ids));
	} else if (sub->from_form && !req->wants_json && sub->thank_you_url) {
		cx_reply_redirect(req, sub->thank_you_url);   /* a double submit too */
	} else if (sub->from_form && !req->wants_json) {
		cx_reply_html(req, job->nreplayed ? 200 : 201, thanks_page);
	} else if (job->nreplayed && cx_policy_anonymous(req)) {
		/* the first post may have been another client's at the same address */
		cx_reply_json_take(req, 200, json_pack("{s:b}", "replayed", 1));
	} else if (job->nreplayed) {
		cx_reply_json_take(req, 200, json_pack("{s:I, s:b}", "id", (json_int_t)sub->ids[0],
						       "replayed", 1));
	} else {
		cx_reply_json_take(req, 201, json_pack("{s:I}", "id", (json_int_t)sub->ids[0]));
	}
	/* the submission is freed with the request (stream_free) */
}

/* Read a JSON body: one object, or an array of them (a batch). */
static int read_json(struct cx_req *req, struct submission *sub)
{
	struct cx_error err;
	json_t *body, *item;
	size_t i;

	if (cx_api_json_body(req, &body))
		return -1;
	if (json_is_array(body)) {
		sub->is_batch = 1;
		if (json_array_size(body) > CX_BATCH_MAX_ITEMS)
			sub->too_many = 1;
		else
			json_array_foreach(body, i, item)
				add_item(sub, item, 0);
	} else if (req->body_len > req->app->cfg.body_limit) {
		json_decref(body);
		cx_error_set(&err, 413, "body_too_large", NULL, "a single response may have at "
			     "most %zu bytes (batches: JSON array or NDJSON)",
			     req->app->cfg.body_limit);
		cx_reply_error(req, &err);
		return -1;
	} else {
		add_item(sub, body, 0);
	}
	json_decref(body);
	return 0;
}

/* Idempotency-Key: the key of a single response; for a batch, KEY#index per item (an
 * item's own response_id wins). */
static int apply_idempotency_key(struct cx_req *req, struct submission *sub)
{
	const char *key = cx_req_header(req, "Idempotency-Key");
	struct cx_error err;

	if (!key)
		return 0;
	if (!cx_valid_idem_key(key) || strlen(key) > CX_IDEM_KEY_MAX - 8) {
		cx_error_set(&err, 422, "invalid_idempotency_key", "Idempotency-Key",
			     "Idempotency-Key must be 1-%d characters of A-Z a-z 0-9 _ . : / @ + = -",
			     CX_IDEM_KEY_MAX - 8);
		cx_reply_error(req, &err);
		return -1;
	}
	for (size_t i = 0; i < sub->n; i++) {
		char k[CX_IDEM_KEY_MAX + 1];

		if (sub->is_batch && sub->items[i].idem_key)
			continue;
		if (sub->is_batch)
			snprintf(k, sizeof(k), "%s#%zu", key, i);
		else
			snprintf(k, sizeof(k), "%s", key);
		free(sub->items[i].idem_key);
		sub->items[i].idem_key = strdup(k);
	}
	return 0;
}

/* Without a key, every survey posted to must be public; a browser's Origin must be one
 * the survey allows (with a key too, the allowed origin gets CORS headers back). The
 * policy checked this at the headers; this sees the survey as it is now. */
static int check_public(struct cx_req *req, struct submission *sub)
{
	const char *origin = cx_req_header(req, "Origin");
	struct cx_error err;
	int all_allow = origin != NULL;

	for (size_t i = 0; i < sub->n; i++) {
		const struct cx_survey *s = lookup(&sub->cache, sub->items[i].survey);
		int allows = s && origin && cx_survey_origin_allowed(s, origin);

		if (req->key.role == CX_ROLE_NONE && (!s || !s->is_public)) {
			cx_error_set(&err, 401, "unauthorized", NULL, "this survey takes no "
				     "responses without an API key");
			goto fail;
		}
		if (req->key.role == CX_ROLE_NONE && origin && !allows) {
			cx_error_set(&err, 403, "forbidden", NULL, "origin %.200s may not post to "
				     "this survey", origin);
			goto fail;
		}
		all_allow &= allows;
	}
	if (all_allow && strlen(origin) < sizeof(req->cors_origin))
		snprintf(req->cors_origin, sizeof(req->cors_origin), "%s", origin);
	return 0;
fail:
	cx_reply_error(req, &err);
	return -1;
}

static enum cx_handled refuse(struct cx_req *req, int status, const char *code, const char *msg)
{
	struct cx_error err;

	cx_error_set(&err, status, code, NULL, "%s", msg);
	cx_reply_error(req, &err);
	return CX_DONE;
}

enum cx_handled cx_api_response_create(struct cx_req *req)
{
	struct submission *sub = submission_of(req);
	struct cx_error err;

	if (!sub)
		return refuse(req, 503, "out_of_memory", "out of memory");
	sub->from_form = req->body_kind == CX_BODY_FORM;
	if (req->body_kind == CX_BODY_JSON && cx_policy_anonymous(req) && req->body &&
	    req->body[strspn(req->body, " \t\r\n")] == '[')
		return refuse(req, 401, "unauthorized", "a batch (NDJSON or a JSON array) needs "
			      "an API key");   /* before parsing it */
	if (req->body_kind == CX_BODY_FORM)
		add_item(sub, req->form, 0);
	else if (req->body_kind == CX_BODY_JSON && read_json(req, sub))
		return CX_DONE;

	if (sub->too_many) {
		char msg[96];

		snprintf(msg, sizeof(msg), "a batch may hold at most %d responses",
			 CX_BATCH_MAX_ITEMS);
		return refuse(req, 413, "batch_too_large", msg);
	}
	if (sub->forbidden)
		return refuse(req, 403, "forbidden", "this key may not post to that survey");
	if (sub->nerrors && !sub->is_batch) {
		struct cx_error *e = &err;
		json_t *first = json_array_get(sub->errors, 0);

		cx_error_set(e, 422, json_string_value(json_object_get(first, "code")),
			     json_string_value(json_object_get(first, "field")), "%s",
			     json_string_value(json_object_get(first, "message")));
		/* the code points into sub->errors, which lives until the request ends */
		cx_reply_error(req, e);
		return CX_DONE;
	}
	if (sub->nerrors) {
		json_t *body;

		cx_error_set(&err, 422, "invalid_batch", NULL, "%zu of %zu items are invalid; "
			     "nothing was stored", sub->nerrors, sub->seen);
		body = cx_error_json(&err);
		json_object_set(body, "items", sub->errors);
		cx_reply_json_take(req, 422, body);
		return CX_DONE;
	}
	if (sub->n == 0)
		return refuse(req, 422, "empty_batch", "the batch holds no responses");
	if (check_public(req, sub))
		return CX_DONE;
	if (apply_idempotency_key(req, sub))
		return CX_DONE;

	if (sub->from_form) {
		const struct cx_survey *s = lookup(&sub->cache, sub->items[0].survey);

		if (s && s->thank_you_url)
			sub->thank_you_url = strdup(s->thank_you_url);
	}
	sub->ids = calloc(sub->n, sizeof(*sub->ids));
	sub->replayed = calloc(sub->n, 1);
	if (!sub->ids || !sub->replayed)
		return refuse(req, 503, "out_of_memory", "out of memory");
	sub->job.items = sub->items;
	sub->job.n = sub->n;
	sub->job.ids = sub->ids;
	sub->job.replayed = sub->replayed;
	cx_policy_idem_scope(req, sub->scope, sizeof(sub->scope));
	sub->job.idem_scope.name = sub->scope;
	sub->job.idem_scope.legacy = !cx_policy_anonymous(req);
	sub->job.done = on_written;
	req->on_resume = reply;
	if (cx_writer_submit(req->app->writer, &sub->job, &err)) {
		req->on_resume = NULL;
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	return CX_PENDING;
}
