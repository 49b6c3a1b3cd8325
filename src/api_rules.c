/* api_rules.c - /v1/surveys/{id}/rules: a survey's rules (admin writes; read may GET). */
#include <string.h>

#include "cx/app.h"
#include "cx/routes.h"
#include "cx/rule.h"

enum cx_handled cx_api_rule_list(struct cx_req *req)
{
	struct cx_survey s;
	const struct cx_ruleset *set;
	json_t *list;

	if (cx_api_path_survey(req, &s))
		return CX_DONE;
	cx_survey_release(&s);
	list = json_array();
	set = cx_store_rules_acquire(req->app->store, req->params[0]);
	for (size_t i = 0; set && list && i < set->n; i++)
		json_array_append_new(list, cx_rule_to_json(&set->rules[i]));
	cx_store_rules_release(req->app->store, set);
	cx_reply_json_take(req, 200, json_pack("{s:o}", "rules", list));
	return CX_DONE;
}

enum cx_handled cx_api_rule_get(struct cx_req *req)
{
	struct cx_survey s;
	struct cx_error err;
	const struct cx_ruleset *set;
	json_t *found = NULL;

	if (cx_api_path_survey(req, &s))
		return CX_DONE;
	cx_survey_release(&s);
	set = cx_store_rules_acquire(req->app->store, req->params[0]);
	for (size_t i = 0; set && i < set->n && !found; i++)
		if (strcmp(set->rules[i].id, req->params[1]) == 0)
			found = cx_rule_to_json(&set->rules[i]);
	cx_store_rules_release(req->app->store, set);
	if (found) {
		cx_reply_json_take(req, 200, found);
		return CX_DONE;
	}
	cx_error_set(&err, 404, "unknown_rule", NULL, "survey '%.64s' has no rule '%.64s'",
		     req->params[0], req->params[1]);
	cx_reply_error(req, &err);
	return CX_DONE;
}

/* POST (path_id NULL: a new rule) or PUT (create or replace rule path_id). */
static enum cx_handled define(struct cx_req *req, const char *path_id)
{
	struct cx_survey s;
	struct cx_rule r, stored;
	struct cx_error err;
	json_t *body = NULL;
	int created = 0;

	if (cx_api_path_survey(req, &s))
		return CX_DONE;
	if (cx_api_json_body(req, &body))
		goto out_survey;
	if (cx_rule_from_json(body, path_id, &s, &r, &err)) {
		cx_reply_error(req, &err);
		goto out_body;
	}
	if (cx_store_rule_put(req->app->store, s.id, &r, path_id == NULL, &created, &stored,
			      &err)) {
		cx_reply_error(req, &err);
	} else {
		cx_reply_json_take(req, created ? 201 : 200, cx_rule_to_json(&stored));
		cx_rule_release(&stored);
	}
	cx_rule_release(&r);
out_body:
	json_decref(body);
out_survey:
	cx_survey_release(&s);
	return CX_DONE;
}

enum cx_handled cx_api_rule_create(struct cx_req *req)
{
	return define(req, NULL);
}

enum cx_handled cx_api_rule_put(struct cx_req *req)
{
	struct cx_error err;

	if (!cx_survey_valid_id(req->params[1])) {
		cx_error_set(&err, 422, "invalid_id", "id",
			     "a rule id is 1-%d characters of A-Z a-z 0-9 _ . -", CX_ID_MAX);
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	return define(req, req->params[1]);
}

enum cx_handled cx_api_rule_delete(struct cx_req *req)
{
	struct cx_survey s;
	struct cx_error err;

	if (cx_api_path_survey(req, &s))
		return CX_DONE;
	cx_survey_release(&s);
	if (cx_store_rule_delete(req->app->store, req->params[0], req->params[1], &err)) {
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	cx_reply_json_take(req, 200, json_pack("{s:s, s:b}", "id", req->params[1], "deleted", 1));
	return CX_DONE;
}
