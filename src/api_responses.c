/* api_responses.c - POST /v1/responses: validate, hand to the writer, answer after commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/cxtime.h"
#include "cx/routes.h"

/* One pending write: lives from submit until the writer's done() has answered. */
struct pending {
	struct cx_write_job job;
	struct cx_req *req;
	struct cx_response resp;
	int64_t id;
	int from_form;
	char *thank_you_url;
};

static const char thanks_page[] =
	"<!doctype html><html lang=en><meta charset=utf-8>"
	"<meta name=viewport content=\"width=device-width,initial-scale=1\">"
	"<title>Thank you</title>"
	"<body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;"
	"padding:0 1rem;color:#1f2937\"><h1>Thank you</h1>"
	"<p>Your feedback was received.</p></body></html>\n";

static int lookup(void *ctx, const char *id, struct cx_survey *out)
{
	return cx_store_survey_get(ctx, id, out);
}

/* Runs on the writer thread once the commit is durable (or failed). */
static void on_written(struct cx_write_job *job)
{
	struct pending *p = (struct pending *)job;
	struct cx_req *req = p->req;

	if (!job->ok)
		cx_reply_error(req, &job->err);
	else if (p->from_form && !req->wants_json && p->thank_you_url)
		cx_reply_redirect(req, p->thank_you_url);
	else if (p->from_form && !req->wants_json)
		cx_reply_html(req, 201, thanks_page);
	else
		cx_reply_json_take(req, 201, json_pack("{s:I}", "id", (json_int_t)p->id));
	cx_response_release(&p->resp);
	free(p->thank_you_url);
	free(p);
	cx_req_finish(req);
}

enum cx_handled cx_api_response_create(struct cx_req *req)
{
	struct cx_app *app = req->app;
	struct pending *p = calloc(1, sizeof(*p));
	struct cx_error err;
	struct cx_survey s;
	json_t *body = NULL;
	int from_form = req->body_kind == CX_BODY_FORM;

	if (!p) {
		cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
		goto fail;
	}
	if (!from_form && cx_api_json_body(req, &body)) {
		free(p);
		return CX_DONE;
	}
	if (cx_validate_response(from_form ? req->form : body, from_form, lookup, app->store,
				 cx_time_now(), &p->resp, &err))
		goto fail;
	json_decref(body);
	body = NULL;
	p->resp.received_ms = cx_time_now_ms();
	p->req = req;
	p->from_form = from_form;
	if (from_form && cx_store_survey_get(app->store, p->resp.survey, &s) == 0) {
		p->thank_you_url = s.thank_you_url ? strdup(s.thank_you_url) : NULL;
		cx_survey_release(&s);
	}
	p->job.items = &p->resp;
	p->job.n = 1;
	p->job.ids = &p->id;
	p->job.done = on_written;
	if (cx_writer_submit(app->writer, &p->job, &err)) {
		cx_response_release(&p->resp);
		free(p->thank_you_url);
		goto fail;
	}
	return CX_PENDING;
fail:
	json_decref(body);
	free(p);
	cx_reply_error(req, &err);
	return CX_DONE;
}
