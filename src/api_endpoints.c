/* api_endpoints.c - webhook endpoints and their deliveries (admin; README "Webhooks"). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/cxtime.h"
#include "cx/endpoint.h"
#include "cx/routes.h"
#include "cx/webhook_sign.h"

#define ROTATE_OVERLAP_DEFAULT 86400
#define ROTATE_OVERLAP_MAX (30 * 86400)
#define DELIVERIES_LIMIT_DEFAULT 50
#define DELIVERIES_LIMIT_MAX 500

static enum cx_handled reply(struct cx_req *req, unsigned status, json_t *out,
			     const struct cx_error *err)
{
	if (out)
		cx_reply_json_take(req, status, out);
	else
		cx_reply_error(req, err);
	return CX_DONE;
}

static enum cx_handled reply_endpoint(struct cx_req *req, unsigned status, const char *id)
{
	struct cx_error err;

	return reply(req, status, cx_store_endpoint_get(req->app->store, id, &err), &err);
}

static enum cx_handled put(struct cx_req *req, const char *path_id)
{
	struct cx_error err;
	char secret[CX_WHSIG_SECRET_SIZE] = "";
	json_t *body, *def = NULL, *out = NULL;
	int rc;

	if (cx_api_json_body(req, &body))
		return CX_DONE;
	rc = cx_endpoint_from_json(body, path_id, req->app->cfg.webhook_allow_http,
				   req->app->cfg.webhook_allow_private, &def, secret, &err);
	json_decref(body);
	if (rc == 0)
		rc = path_id ? cx_store_endpoint_replace(req->app->store, def, &err)
			     : cx_store_endpoint_create(req->app->store, def, secret, &err);
	if (rc == 0 && (out = cx_store_endpoint_get(req->app->store,
						    json_string_value(json_object_get(def, "id")),
						    &err)) && !path_id)
		json_object_set_new(out, "secret", json_string(secret));   /* shown this once */
	explicit_bzero(secret, sizeof(secret));
	json_decref(def);
	return reply(req, path_id ? 200 : 201, rc == 0 ? out : NULL, &err);
}

enum cx_handled cx_api_endpoint_create(struct cx_req *req)
{
	return put(req, NULL);
}

enum cx_handled cx_api_endpoint_put(struct cx_req *req)
{
	return put(req, req->params[0]);
}

enum cx_handled cx_api_endpoint_list(struct cx_req *req)
{
	struct cx_error err;

	return reply(req, 200, cx_store_endpoint_list(req->app->store, &err), &err);
}

enum cx_handled cx_api_endpoint_get(struct cx_req *req)
{
	return reply_endpoint(req, 200, req->params[0]);
}

enum cx_handled cx_api_endpoint_delete(struct cx_req *req)
{
	struct cx_error err;

	if (cx_store_endpoint_delete(req->app->store, req->params[0], &err))
		return reply(req, 0, NULL, &err);
	return reply(req, 200, json_pack("{s:s, s:b}", "id", req->params[0], "deleted", 1), &err);
}

static enum cx_handled set_state(struct cx_req *req, const char *state, const char *reason)
{
	struct cx_error err;

	if (cx_store_endpoint_set_state(req->app->store, req->params[0], state, reason, &err))
		return reply(req, 0, NULL, &err);
	return reply_endpoint(req, 200, req->params[0]);
}

enum cx_handled cx_api_endpoint_pause(struct cx_req *req)
{
	return set_state(req, "paused", "paused by an operator");
}

enum cx_handled cx_api_endpoint_resume(struct cx_req *req)
{
	return set_state(req, "active", NULL);
}

enum cx_handled cx_api_endpoint_rotate(struct cx_req *req)
{
	struct cx_error err;
	char secret[CX_WHSIG_SECRET_SIZE];
	json_int_t overlap = ROTATE_OVERLAP_DEFAULT;
	int64_t until;
	json_t *body = NULL, *v;

	if (req->body_len) {
		const char *key;

		if (cx_api_json_body(req, &body))
			return CX_DONE;
		if (!json_is_object(body)) {
			json_decref(body);
			cx_error_set(&err, 422, "invalid_rotation", NULL, "send {\"overlap_s\": N} or "
				     "nothing");
			return reply(req, 0, NULL, &err);
		}
		json_object_foreach(body, key, v)
			if (strcmp(key, "overlap_s")) {
				cx_error_set(&err, 422, "unknown_field", key, "unknown field '%.60s'",
					     key);
				json_decref(body);
				return reply(req, 0, NULL, &err);
			}
		v = json_object_get(body, "overlap_s");
		if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
			  json_integer_value(v) > ROTATE_OVERLAP_MAX)) {
			json_decref(body);
			cx_error_set(&err, 422, "invalid_overlap", "overlap_s", "overlap_s must be "
				     "0-%d seconds", ROTATE_OVERLAP_MAX);
			return reply(req, 0, NULL, &err);
		}
		if (v)
			overlap = json_integer_value(v);
		json_decref(body);
	}
	until = cx_time_now() + overlap;
	if (cx_whsig_secret_generate(secret, sizeof(secret), &err) ||
	    cx_store_endpoint_rotate(req->app->store, req->params[0], secret, until, &err))
		return reply(req, 0, NULL, &err);
	body = json_pack("{s:s, s:I}", "secret", secret, "previous_valid_until", (json_int_t)until);
	explicit_bzero(secret, sizeof(secret));
	return reply(req, 200, body, &err);
}

enum cx_handled cx_api_endpoint_retry(struct cx_req *req)
{
	struct cx_error err;
	int64_t n;

	if (cx_store_endpoint_retry_dead(req->app->store, req->params[0], &n, &err))
		return reply(req, 0, NULL, &err);
	return reply(req, 200, json_pack("{s:I}", "retried", (json_int_t)n), &err);
}

enum cx_handled cx_api_endpoint_test(struct cx_req *req)
{
	struct cx_error err;

	return reply(req, 201, cx_store_endpoint_test(req->app->store, req->params[0], &err), &err);
}

/* A positive decimal id, or -1. */
int64_t cx_api_parse_id(const char *s)
{
	char *end;
	long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno || *end || v <= 0 ? -1 : v;
}

enum cx_handled cx_api_endpoint_deliveries(struct cx_req *req)
{
	static const char *const names[] = { "state", "limit", "after" };
	const char *state = cx_req_query(req, "state"), *limit = cx_req_query(req, "limit"),
		   *after = cx_req_query(req, "after");
	struct cx_error err;
	int64_t before = INT64_MAX, lim = DELIVERIES_LIMIT_DEFAULT;

	if (cx_api_known_params(req, names, 3, &err))
		return reply(req, 0, NULL, &err);
	if (state && strcmp(state, "pending") && strcmp(state, "delivered") &&
	    strcmp(state, "dead")) {
		cx_error_set(&err, 422, "invalid_state", "state", "state must be pending, "
			     "delivered or dead");
		return reply(req, 0, NULL, &err);
	}
	if (limit && ((lim = cx_api_parse_id(limit)) < 1 || lim > DELIVERIES_LIMIT_MAX)) {
		cx_error_set(&err, 422, "invalid_limit", "limit", "limit must be 1-%d",
			     DELIVERIES_LIMIT_MAX);
		return reply(req, 0, NULL, &err);
	}
	if (after && (before = cx_api_parse_id(after)) < 0) {
		cx_error_set(&err, 422, "invalid_cursor", "after", "after must be the \"next\" of "
			     "a previous page");
		return reply(req, 0, NULL, &err);
	}
	return reply(req, 200, cx_store_deliveries(req->app->store, req->params[0], state, before,
						   (unsigned)lim, &err), &err);
}

static int path_delivery(struct cx_req *req, int64_t *id, struct cx_error *err)
{
	if ((*id = cx_api_parse_id(req->params[0])) > 0)
		return 0;
	return cx_error_set(err, 404, "not_found", NULL, "no delivery '%.30s'", req->params[0]);
}

enum cx_handled cx_api_delivery_get(struct cx_req *req)
{
	struct cx_error err;
	int64_t id;

	if (path_delivery(req, &id, &err))
		return reply(req, 0, NULL, &err);
	return reply(req, 200, cx_store_delivery_get(req->app->store, id, &err), &err);
}

enum cx_handled cx_api_delivery_retry(struct cx_req *req)
{
	struct cx_error err;
	int64_t id;

	if (path_delivery(req, &id, &err))
		return reply(req, 0, NULL, &err);
	return reply(req, 200, cx_store_delivery_retry(req->app->store, id, &err), &err);
}
