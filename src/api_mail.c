/* api_mail.c - GET /v1/mail and POST /v1/mail/{id}/retry: the invitation mail cxd sends
 * (include/cx/mail.h), for an admin: what is waiting, what was sent, what died and why,
 * and sending a dead one again once its cause is fixed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/mail.h"
#include "cx/routes.h"

#define MAIL_LIMIT_DEFAULT 50
#define MAIL_LIMIT_MAX 500

static enum cx_handled fail(struct cx_req *req, const struct cx_error *err)
{
	cx_reply_error(req, err);
	return CX_DONE;
}

enum cx_handled cx_api_mail_list(struct cx_req *req)
{
	static const char *const names[] = { "state", "survey", "limit", "after" };
	const char *state = cx_req_query(req, "state"), *survey = cx_req_query(req, "survey"),
		   *limit = cx_req_query(req, "limit"), *after = cx_req_query(req, "after");
	struct cx_error err;
	int64_t before = INT64_MAX, lim = MAIL_LIMIT_DEFAULT;
	json_t *out;

	if (cx_api_known_params(req, names, 4, &err))
		return fail(req, &err);
	if (state && strcmp(state, "pending") && strcmp(state, "sent") && strcmp(state, "dead")) {
		cx_error_set(&err, 422, "invalid_state", "state", "state must be pending, sent or "
			     "dead");
		return fail(req, &err);
	}
	if (survey && !cx_survey_valid_id(survey)) {
		cx_error_set(&err, 422, "invalid_survey", "survey", "survey must be a survey id");
		return fail(req, &err);
	}
	if (limit && ((lim = cx_api_parse_id(limit)) < 1 || lim > MAIL_LIMIT_MAX)) {
		cx_error_set(&err, 422, "invalid_limit", "limit", "limit must be 1-%d",
			     MAIL_LIMIT_MAX);
		return fail(req, &err);
	}
	if (after && (before = cx_api_parse_id(after)) < 0) {
		cx_error_set(&err, 422, "invalid_cursor", "after", "after must be the \"next\" of "
			     "a previous page");
		return fail(req, &err);
	}
	if (!(out = cx_mail_list(req->app->store, state, survey, before, (unsigned)lim, &err)))
		return fail(req, &err);
	cx_reply_json_take(req, 200, out);
	return CX_DONE;
}

enum cx_handled cx_api_mail_retry(struct cx_req *req)
{
	struct cx_error err;
	int64_t id = cx_api_parse_id(req->params[0]);

	if (id < 0) {
		cx_error_set(&err, 404, "not_found", NULL, "no mail '%.30s'", req->params[0]);
		return fail(req, &err);
	}
	if (cx_mail_retry(req->app->store, id, &err))
		return fail(req, &err);
	cx_reply_json_take(req, 200, json_pack("{s:I, s:s}", "id", (json_int_t)id, "state",
					       "pending"));
	return CX_DONE;
}
