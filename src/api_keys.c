/* api_keys.c - POST/GET/DELETE /v1/keys (admin): the secret is shown once, on creation;
 * GET /v1/keys/self (any key): who am I. */
#include <stdio.h>
#include <string.h>

#include "cx/app.h"
#include "cx/cxtime.h"
#include "cx/routes.h"

int cx_keys_create_from(struct cx_store *st, const json_t *body, struct cx_key *k,
			char *secret, size_t len, struct cx_error *err)
{
	const char *key;
	json_t *v, *surveys, *label;
	enum cx_role role;
	size_t i;

	memset(k, 0, sizeof(*k));
	if (!json_is_object(body))
		return cx_error_set(err, 422, "invalid_key", NULL, "a key is a JSON object");
	json_object_foreach((json_t *)body, key, v)
		if (strcmp(key, "role") && strcmp(key, "surveys") && strcmp(key, "label"))
			return cx_error_set(err, 422, "unknown_field", key, "unknown field '%.60s'",
					    key);
	role = cx_role_parse(json_string_value(json_object_get(body, "role")));
	if (role == CX_ROLE_NONE)
		return cx_error_set(err, 422, "invalid_role", "role",
				    "role must be ingest, read, agent or admin");
	surveys = json_object_get(body, "surveys");
	if (surveys && !json_is_null(surveys)) {
		if (!json_is_array(surveys) || json_array_size(surveys) < 1 ||
		    json_array_size(surveys) > CX_KEY_SURVEYS_MAX || role != CX_ROLE_INGEST)
			return cx_error_set(err, 422, "invalid_surveys", "surveys", "surveys limits "
					    "an ingest key: a list of 1-%d survey ids",
					    CX_KEY_SURVEYS_MAX);
		json_array_foreach(surveys, i, v)
			if (!json_is_string(v) || !cx_survey_valid_id(json_string_value(v)))
				return cx_error_set(err, 422, "invalid_surveys", "surveys",
						    "surveys must be survey ids");
	} else {
		surveys = NULL;
	}
	label = json_object_get(body, "label");
	if (label && (!json_is_string(label) || json_string_length(label) > 200))
		return cx_error_set(err, 422, "invalid_label", "label",
				    "label must be a string of at most 200 bytes");
	if (cx_key_generate(k, role, secret, len))
		return cx_error_set(err, 503, "internal", NULL, "cannot make a key");
	k->surveys = surveys ? json_dumps(surveys, JSON_COMPACT) : NULL;
	k->label = label ? strdup(json_string_value(label)) : NULL;
	k->created_at = cx_time_now();
	if (cx_store_key_put(st, k, err)) {
		cx_key_release(k);
		return -1;
	}
	return 0;
}

enum cx_handled cx_api_key_create(struct cx_req *req)
{
	struct cx_key k;
	struct cx_error err;
	char secret[CX_KEY_SECRET_MAX + 1];
	json_t *body, *out;

	if (cx_api_json_body(req, &body))
		return CX_DONE;
	if (cx_keys_create_from(req->app->store, body, &k, secret, sizeof(secret), &err)) {
		json_decref(body);
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	json_decref(body);
	out = cx_key_json(&k);
	json_object_set_new(out, "secret", json_string(secret));   /* shown this once */
	cx_key_release(&k);
	cx_reply_json_take(req, 201, out);
	return CX_DONE;
}

enum cx_handled cx_api_key_list(struct cx_req *req)
{
	json_t *keys = cx_store_key_list(req->app->store);
	struct cx_error err;

	if (!keys) {
		cx_error_set(&err, 503, "storage_unavailable", NULL, "cannot list the keys");
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	cx_reply_json_take(req, 200, json_pack("{s:o}", "keys", keys));
	return CX_DONE;
}

enum cx_handled cx_api_key_delete(struct cx_req *req)
{
	struct cx_error err;
	int rc = cx_store_key_delete(req->app->store, req->params[0], &err);

	if (rc < 0) {
		cx_reply_error(req, &err);
	} else if (rc == 0) {
		cx_error_set(&err, 404, "not_found", NULL, "no key '%.20s'", req->params[0]);
		cx_reply_error(req, &err);
	} else {
		cx_reply_json_take(req, 200, json_pack("{s:s, s:b}", "id", req->params[0],
						       "deleted", 1));
	}
	return CX_DONE;
}

/* Any key may read itself: its id, role, surveys, label and created_at (what a client
 * needs to know what it may do), never its secret or hash. */
enum cx_handled cx_api_key_self(struct cx_req *req)
{
	cx_reply_json_take(req, 200, cx_key_json(&req->key));
	return CX_DONE;
}
