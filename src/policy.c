/* policy.c - who may do what, before the body; see include/cx/policy.h. */
#include <stdio.h>
#include <string.h>

#include "cx/app.h"
#include "cx/policy.h"
#include "cx/routes.h"

int cx_policy_anonymous(const struct cx_req *req)
{
	return req->key.role == CX_ROLE_NONE;
}

int cx_policy_rate_exempt(const struct cx_req *req)
{
	return req->route && req->route->handler == cx_api_health;
}

/* A keyed post to /v1/surveys/{id}/responses: the key must cover the survey, which must
 * exist (a keyed client may learn that). */
static int admit_keyed(struct cx_req *req, struct cx_error *err)
{
	const char *id = req->params[0];
	struct cx_survey s;

	if (id && !cx_key_allows_survey(&req->key, id))
		return cx_error_set(err, 403, "forbidden", NULL,
				    "this key may not post to that survey");
	if (id && cx_store_survey_get(req->app->store, id, &s) != 0)
		return cx_error_set(err, 404, "unknown_survey", NULL, "no such survey");
	if (id)
		cx_survey_release(&s);
	return 0;
}

/* An anonymous post: only single responses, only to a public survey named in the URL, and
 * only from an origin that survey allows (when a browser says where it posts from). The
 * 401s say nothing that depends on the survey: private and missing read the same. */
static int admit_anonymous(struct cx_req *req, struct cx_error *err)
{
	const char *id = req->params[0];
	const char *origin = cx_req_header(req, "Origin");
	struct cx_survey s;
	int found, public, allowed;

	if (!id)
		return cx_error_set(err, 401, "unauthorized", NULL,
				    "POST /v1/responses needs an API key (Authorization: Bearer "
				    "cxd_...); forms and widgets without a key post to a public "
				    "survey's /v1/surveys/{id}/responses");
	if (req->body_kind == CX_BODY_NDJSON)
		return cx_error_set(err, 401, "unauthorized", NULL,
				    "a batch (NDJSON or a JSON array) needs an API key");
	found = cx_store_survey_get(req->app->store, id, &s) == 0;
	public = found && s.is_public;
	allowed = public && origin && cx_survey_origin_allowed(&s, origin);
	if (found)
		cx_survey_release(&s);
	if (!public)
		return cx_error_set(err, 401, "unauthorized", NULL,
				    "this survey takes no responses without an API key");
	if (origin && !allowed)
		return cx_error_set(err, 403, "forbidden", NULL,
				    "origin %.200s may not post to this survey", origin);
	if (origin && strlen(origin) < sizeof(req->cors_origin))
		snprintf(req->cors_origin, sizeof(req->cors_origin), "%s", origin);
	return 0;
}

/* The hosted page (/i/TOKEN, /s/SURVEY; public routes, forms only, --body-limit): its
 * refusals are pages. A post to /s/ only for a public survey (unknown and private read the
 * same 404); a post to /i/ needs nothing more here: the link's signature is its
 * authorization, checked by the handler before anything is stored. */
static int admit_page(struct cx_req *req, struct cx_error *err)
{
	struct cx_survey s;
	int public = 0;

	req->error_page = cx_api_page_error;
	if (req->route->handler != cx_api_page_survey_post)
		return 0;
	if (req->params[0] && cx_store_survey_get(req->app->store, req->params[0], &s) == 0) {
		public = s.is_public;
		cx_survey_release(&s);
	}
	return public ? 0 : cx_error_set(err, 404, "not_found", NULL, "no such survey page");
}

int cx_policy_page_route(const struct cx_req *req)
{
	enum cx_handled (*h)(struct cx_req *) = req->route->handler;

	return h == cx_api_page_link_get || h == cx_api_page_link_post ||
	       h == cx_api_page_survey_get || h == cx_api_page_survey_post;
}

int cx_policy_admit(struct cx_req *req, struct cx_error *err)
{
	const struct cx_config *cfg = &req->app->cfg;
	int anonymous = cx_policy_anonymous(req);

	req->body_limit = cfg->body_limit;
	if (cx_policy_page_route(req))
		return admit_page(req, err);
	if (req->route->role == CX_ROLE_FORM &&
	    (anonymous ? admit_anonymous(req, err) : admit_keyed(req, err)))
		return -1;
	if (req->route->batch && req->body_kind != CX_BODY_FORM && !anonymous)
		req->body_limit = cfg->batch_limit;
	return 0;
}

void cx_policy_idem_scope(const struct cx_req *req, char *buf, size_t len)
{
	if (cx_policy_anonymous(req))
		snprintf(buf, len, "anon:%s", req->client);
	else
		snprintf(buf, len, "key:%s", req->key.id);
}

/* The survey id of a path /v1/surveys/{id}/responses, into id; 0 if path is one. */
static int responses_path(const char *path, char id[CX_ID_MAX + 1])
{
	static const char prefix[] = "/v1/surveys/";
	size_t len;

	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return -1;
	path += sizeof(prefix) - 1;
	len = strcspn(path, "/");
	if (len == 0 || len > CX_ID_MAX || strcmp(path + len, "/responses") != 0)
		return -1;
	memcpy(id, path, len);
	id[len] = '\0';
	return 0;
}

int cx_policy_preflight_allowed(struct cx_req *req, const char *origin)
{
	char id[CX_ID_MAX + 1];
	struct cx_survey s;
	int ok = 0;

	if (cx_listed(req->app->cfg.cors_origins, origin))
		return 1;
	if (strcmp(req->path, "/v1/responses") == 0)   /* keyed widgets on a shop's page */
		return cx_store_origin_public(req->app->store, origin);
	if (responses_path(req->path, id) == 0 && cx_store_survey_get(req->app->store, id, &s) == 0) {
		ok = s.is_public && cx_survey_origin_allowed(&s, origin);
		cx_survey_release(&s);
	}
	return ok;
}
