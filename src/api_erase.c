/* api_erase.c - privacy requests, through the writer like every write:
 *   DELETE /v1/customers/{customer}         every response of a customer, in every survey,
 *                                           taken out of the rollups in the same transaction
 *   DELETE /v1/responses/{id}/comment       remove one response's comment
 */
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/log.h"
#include "cx/routes.h"

struct erase {
	struct cx_write_job job;   /* first: the writer hands it back */
	struct cx_req *req;
	char *customer;
	int64_t id;
};

/* On the writer thread, after the commit: scrub the WAL before the client hears "erased",
 * and leave one `erasure` line in the journal, the record an operator replays after
 * restoring a backup taken before it (deploy/RUNBOOK.md). */
static void on_done(struct cx_write_job *job)
{
	struct erase *e = (struct erase *)job;

	if (job->ok && cx_store_scrub_wal(e->req->app->store, &job->err))
		job->ok = 0;
	if (job->ok && job->kind == CX_JOB_ERASE)
		cx_log_info("erasure: customer %s, %lld responses erased", e->customer,
			    (long long)job->count);
	else if (job->ok && job->count)
		cx_log_info("erasure: comment of response %lld redacted", (long long)e->id);
	cx_req_finish(e->req);
}

static void erase_free(void *p)
{
	struct erase *e = p;

	free(e->customer);
	free(e);
}

static void reply(struct cx_req *req)
{
	struct erase *e = req->stream_ctx;

	if (!e->job.ok)
		cx_reply_error(req, &e->job.err);
	else if (e->job.kind == CX_JOB_ERASE)
		cx_reply_json_take(req, 200, json_pack("{s:s, s:I}", "customer", e->customer,
						       "erased", (json_int_t)e->job.count));
	else if (e->job.count == 0) {
		struct cx_error err;

		cx_error_set(&err, 404, "not_found", NULL, "response %lld has no comment (or does "
			     "not exist)", (long long)e->id);
		cx_reply_error(req, &err);
	} else
		cx_reply_json_take(req, 200, json_pack("{s:I, s:b}", "id", (json_int_t)e->id,
						       "redacted", 1));
}

static enum cx_handled submit(struct cx_req *req, struct erase *e)
{
	struct cx_error err;

	e->req = req;
	e->job.n = 1;
	e->job.done = on_done;
	e->job.no_lead = 1;   /* on_done's checkpoint may wait for readers: not on a worker */
	req->stream_ctx = e;
	req->stream_free = erase_free;
	req->on_resume = reply;
	if (cx_writer_submit(req->app->writer, &e->job, &err)) {
		req->on_resume = NULL;
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	return CX_PENDING;
}

enum cx_handled cx_api_erase_customer(struct cx_req *req)
{
	const char *c = req->params[0];
	struct erase *e;
	struct cx_error err;

	if (!cx_valid_label(c, strlen(c), CX_CUSTOMER_MAX)) {
		cx_error_set(&err, 422, "invalid_label", "customer", "customer must be 1-%d label "
			     "characters", CX_CUSTOMER_MAX);
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	if (!(e = calloc(1, sizeof(*e))) || !(e->customer = strdup(c))) {
		free(e);
		cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	e->job.kind = CX_JOB_ERASE;
	e->job.customer = e->customer;
	return submit(req, e);
}

enum cx_handled cx_api_redact_comment(struct cx_req *req)
{
	char *end;
	long long id = strtoll(req->params[0], &end, 10);
	struct erase *e;
	struct cx_error err;

	if (*end || id < 1) {
		cx_error_set(&err, 404, "not_found", NULL, "no response '%.40s'", req->params[0]);
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	if (!(e = calloc(1, sizeof(*e)))) {
		cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	e->id = id;
	e->job.kind = CX_JOB_REDACT;
	e->job.target_id = id;
	return submit(req, e);
}
