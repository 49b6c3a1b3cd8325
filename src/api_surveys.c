/* api_surveys.c - /healthz and the survey definitions. */
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/cxtime.h"
#include "cx/metrics.h"
#include "cx/routes.h"
#include "cx_version.h"

int cx_api_json_body(struct cx_req *req, json_t **out)
{
	json_error_t jerr;
	struct cx_error err;

	*out = json_loadb(req->body ? req->body : "", req->body_len,
			  JSON_REJECT_DUPLICATES, &jerr);
	if (*out)
		return 0;
	cx_error_set(&err, 400, "invalid_json", NULL, "the body is not valid JSON: %s "
		     "(line %d, column %d)", jerr.text, jerr.line, jerr.column);
	cx_reply_error(req, &err);
	return -1;
}

int cx_api_path_survey(struct cx_req *req, struct cx_survey *out)
{
	struct cx_error err;

	if (cx_store_survey_get(req->app->store, req->params[0], out) == 0)
		return 0;
	cx_error_set(&err, 404, "unknown_survey", NULL, "no survey '%.64s'", req->params[0]);
	cx_reply_error(req, &err);
	return -1;
}

struct known {
	const char *const *names;
	size_t n;
	struct cx_error *err;
};

static int known_param(void *ctx, const char *key, const char *value)
{
	struct known *k = ctx;
	char list[256] = "";
	size_t used = 0;

	for (size_t i = 0; i < k->n; i++)
		if (strcmp(key, k->names[i]) == 0)
			return 0;
	for (size_t i = 0; i < k->n && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
					 k->names[i]);
	return cx_error_set(k->err, 422, "unknown_parameter", key, "unknown query parameter "
			    "'%.60s'; known: %s", key, list);
}

int cx_api_known_params(struct cx_req *req, const char *const *names, size_t n,
			struct cx_error *err)
{
	struct known k = { names, n, err };

	return cx_req_query_each(req, known_param, &k) ? -1 : 0;
}

int cx_api_label_param(struct cx_req *req, const char *name, const char **out,
		       struct cx_error *err)
{
	*out = cx_req_query(req, name);
	if (*out && !cx_valid_label(*out, strlen(*out), CX_LABEL_MAX))
		return cx_error_set(err, 422, "invalid_label", name, "%s must be 1-%d characters "
				    "of A-Z a-z 0-9 and space _ . : / @ + -", name, CX_LABEL_MAX);
	return 0;
}

enum cx_handled cx_api_metrics(struct cx_req *req)
{
	char *text = cx_metrics_render(req->app);

	cx_reply_html(req, text ? 200 : 503, text ? text : "out of memory\n");
	req->reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
	free(text);
	return CX_DONE;
}

enum cx_handled cx_api_health(struct cx_req *req)
{
	struct cx_app *app = req->app;

	cx_reply_json_take(req, 200, json_pack("{s:s, s:s, s:i, s:I, s:I}", "status", "ok",
		"version", CX_VERSION, "schema_version", cx_store_schema_version(app->store),
		"write_queue", (json_int_t)cx_writer_depth(app->writer),
		"uptime_s", (json_int_t)(cx_time_now() - app->started_at)));
	return CX_DONE;
}

static enum cx_handled define(struct cx_req *req, const char *path_id, int replace)
{
	struct cx_survey s, stored;
	struct cx_error err;
	json_t *body;
	int created = 0;

	if (cx_api_json_body(req, &body))
		return CX_DONE;
	if (cx_survey_from_json(body, path_id, &s, &err)) {
		json_decref(body);
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	json_decref(body);
	if (cx_store_survey_put(req->app->store, &s, replace, &created, &err)) {
		cx_survey_release(&s);
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	if (cx_store_survey_get(req->app->store, s.id, &stored) == 0) {
		cx_reply_json_take(req, created ? 201 : 200, cx_survey_to_json(&stored));
		cx_survey_release(&stored);
	}
	cx_survey_release(&s);
	return CX_DONE;
}

enum cx_handled cx_api_survey_create(struct cx_req *req)
{
	return define(req, NULL, 0);
}

enum cx_handled cx_api_survey_put(struct cx_req *req)
{
	struct cx_error err;

	if (!cx_survey_valid_id(req->params[0])) {
		cx_error_set(&err, 422, "invalid_id", "id",
			     "id must be 1-%d characters of A-Z a-z 0-9 _ . -", CX_ID_MAX);
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	return define(req, req->params[0], 1);
}

enum cx_handled cx_api_survey_list(struct cx_req *req)
{
	cx_reply_json_take(req, 200, json_pack("{s:o}", "surveys",
					       cx_store_survey_list(req->app->store)));
	return CX_DONE;
}

enum cx_handled cx_api_survey_get(struct cx_req *req)
{
	struct cx_survey s;

	if (cx_api_path_survey(req, &s))
		return CX_DONE;
	cx_reply_json_take(req, 200, cx_survey_to_json(&s));
	cx_survey_release(&s);
	return CX_DONE;
}
