/* routes.c - every HTTP route cxd serves, in one table. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cx/app.h"
#include "cx/cxtime.h"
#include "cx/form_page.h"
#include "cx/policy.h"
#include "cx/read_cache.h"
#include "cx/routes.h"

#define JSON (1u << CX_BODY_JSON)
#define FORM (1u << CX_BODY_FORM)
#define NDJSON (1u << CX_BODY_NDJSON)

#define PUBLIC CX_ROLE_PUBLIC
#define INGEST CX_ROLE_INGEST
#define READ CX_ROLE_READ
#define ADMIN CX_ROLE_ADMIN
#define AGENT CX_ROLE_AGENT   /* agent (and admin) keys */
#define FORM_ CX_ROLE_FORM    /* an ingest key, or none for a public survey */
#define ANYKEY CX_ROLE_ANY_KEY /* any valid key, whatever its role */
#define CACHED 1              /* answers kept in the read cache until the next commit */

static const struct cx_route routes[] = {
	/* method      pattern                    role    handler                bodies, batch, line,
	 * cached */
	{ CX_GET,    "/",                         PUBLIC, cx_api_dashboard,       0, 0, NULL, 0 },
	{ CX_GET,    "/dashboard",                PUBLIC, cx_api_dashboard,       0, 0, NULL, 0 },
	{ CX_GET,    "/favicon.ico",              PUBLIC, cx_api_dashboard,       0, 0, NULL, 0 },
	{ CX_GET,    "/healthz",                  PUBLIC, cx_api_health,          0, 0, NULL, 0 },
	{ CX_GET,    "/metrics",                  READ,   cx_api_metrics,         0, 0, NULL, 0 },
	{ CX_GET,    "/v1/surveys",               READ,   cx_api_survey_list,     0, 0, NULL, 0 },
	{ CX_POST,   "/v1/surveys",               ADMIN,  cx_api_survey_create,   JSON, 0, NULL, 0 },
	{ CX_GET,    "/v1/surveys/{}",            READ,   cx_api_survey_get,      0, 0, NULL, 0 },
	{ CX_PUT,    "/v1/surveys/{}",            ADMIN,  cx_api_survey_put,      JSON, 0, NULL, 0 },
	{ CX_GET,    "/v1/surveys/{}/scores",     READ,   cx_api_scores,          0, 0, NULL, CACHED },
	{ CX_GET,    "/v1/surveys/{}/journey",    READ,   cx_api_journey,         0, 0, NULL, CACHED },
	{ CX_GET,    "/v1/surveys/{}/comments",   READ,   cx_api_comments,        0, 0, NULL, 0 },
	{ CX_GET,    "/v1/surveys/{}/responses",  READ,   cx_api_export,          0, 0, NULL, 0 },
	{ CX_POST,   "/v1/surveys/{}/responses",  FORM_,  cx_api_response_create, JSON | FORM | NDJSON,
	  1, cx_api_response_line, 0 },
	{ CX_POST,   "/v1/responses",             FORM_,  cx_api_response_create, JSON | FORM | NDJSON,
	  1, cx_api_response_line, 0 },
	{ CX_DELETE, "/v1/responses/{}/comment",  ADMIN,  cx_api_redact_comment,  0, 0, NULL, 0 },
	{ CX_DELETE, "/v1/customers/{}",          ADMIN,  cx_api_erase_customer,  0, 0, NULL, 0 },
	{ CX_POST,   "/v1/keys",                  ADMIN,  cx_api_key_create,      JSON, 0, NULL, 0 },
	{ CX_GET,    "/v1/keys",                  ADMIN,  cx_api_key_list,        0, 0, NULL, 0 },
	{ CX_DELETE, "/v1/keys/{}",               ADMIN,  cx_api_key_delete,      0, 0, NULL, 0 },
	{ CX_GET,    "/v1/keys/self",             ANYKEY, cx_api_key_self,        0, 0, NULL, 0 },
	{ CX_GET,    "/v1/alerts",                ADMIN,  cx_api_alerts_list,     0, 0, NULL, 0 },
	{ CX_POST,   "/v1/alerts/run",            ADMIN,  cx_api_alerts_run,      0, 0, NULL, 0 },
	{ CX_GET,    "/v1/cases",                 READ,   cx_api_case_list,       0, 0, NULL, 0 },
	{ CX_GET,    "/v1/cases/{}",              READ,   cx_api_case_get,        0, 0, NULL, 0 },
	{ CX_PATCH,  "/v1/cases/{}",              AGENT,  cx_api_case_patch,      JSON, 0, NULL, 0 },
	{ CX_POST,   "/v1/cases/{}/notes",        AGENT,  cx_api_case_note,       JSON, 0, NULL, 0 },
	{ CX_GET,    "/v1/surveys/{}/rules",      READ,   cx_api_rule_list,       0, 0, NULL, 0 },
	{ CX_POST,   "/v1/surveys/{}/rules",      ADMIN,  cx_api_rule_create,     JSON, 0, NULL, 0 },
	{ CX_GET,    "/v1/surveys/{}/rules/{}",   READ,   cx_api_rule_get,        0, 0, NULL, 0 },
	{ CX_PUT,    "/v1/surveys/{}/rules/{}",   ADMIN,  cx_api_rule_put,        JSON, 0, NULL, 0 },
	{ CX_DELETE, "/v1/surveys/{}/rules/{}",   ADMIN,  cx_api_rule_delete,     0, 0, NULL, 0 },
	{ CX_POST,   "/v1/endpoints",             ADMIN,  cx_api_endpoint_create, JSON, 0, NULL, 0 },
	{ CX_GET,    "/v1/endpoints",             ADMIN,  cx_api_endpoint_list,   0, 0, NULL, 0 },
	{ CX_GET,    "/v1/endpoints/{}",          ADMIN,  cx_api_endpoint_get,    0, 0, NULL, 0 },
	{ CX_PUT,    "/v1/endpoints/{}",          ADMIN,  cx_api_endpoint_put,    JSON, 0, NULL, 0 },
	{ CX_DELETE, "/v1/endpoints/{}",          ADMIN,  cx_api_endpoint_delete, 0, 0, NULL, 0 },
	{ CX_POST,   "/v1/endpoints/{}/pause",    ADMIN,  cx_api_endpoint_pause,  0, 0, NULL, 0 },
	{ CX_POST,   "/v1/endpoints/{}/resume",   ADMIN,  cx_api_endpoint_resume, 0, 0, NULL, 0 },
	{ CX_POST,   "/v1/endpoints/{}/rotate",   ADMIN,  cx_api_endpoint_rotate, JSON | 1u, 0, NULL, 0 },
	{ CX_POST,   "/v1/endpoints/{}/retry",    ADMIN,  cx_api_endpoint_retry,  0, 0, NULL, 0 },
	{ CX_POST,   "/v1/endpoints/{}/test",     ADMIN,  cx_api_endpoint_test,   0, 0, NULL, 0 },
	{ CX_GET,    "/v1/endpoints/{}/deliveries", ADMIN, cx_api_endpoint_deliveries, 0, 0, NULL, 0 },
	{ CX_GET,    "/v1/deliveries/{}",         ADMIN,  cx_api_delivery_get,    0, 0, NULL, 0 },
	{ CX_POST,   "/v1/deliveries/{}/retry",   ADMIN,  cx_api_delivery_retry,  0, 0, NULL, 0 },
	/* asking customers: invitations and links, the hosted page, QR codes, the widget */
	{ CX_POST,   "/v1/surveys/{}/invitations", INGEST, cx_api_invitations_create, JSON, 1, NULL, 0 },
	{ CX_GET,    "/v1/surveys/{}/funnel",     READ,   cx_api_funnel,          0, 0, NULL, CACHED },
	{ CX_GET,    "/v1/surveys/{}/qr",         ADMIN,  cx_api_qr,              0, 0, NULL, 0 },
	{ CX_GET,    "/v1/link-keys",             ADMIN,  cx_api_link_keys_list,  0, 0, NULL, 0 },
	{ CX_POST,   "/v1/link-keys",             ADMIN,  cx_api_link_keys_rotate, 0, 0, NULL, 0 },
	{ CX_DELETE, "/v1/link-keys/{}",          ADMIN,  cx_api_link_keys_delete, 0, 0, NULL, 0 },
	{ CX_GET,    "/v1/settings/fatigue",      ADMIN,  cx_api_fatigue_get,     0, 0, NULL, 0 },
	{ CX_PUT,    "/v1/settings/fatigue",      ADMIN,  cx_api_fatigue_put,     JSON, 0, NULL, 0 },
	{ CX_GET,    "/i/{}",                     PUBLIC, cx_api_page_link_get,   0, 0, NULL, 0 },
	{ CX_POST,   "/i/{}",                     PUBLIC, cx_api_page_link_post,  FORM, 0, NULL, 0 },
	{ CX_GET,    "/s/{}",                     PUBLIC, cx_api_page_survey_get, 0, 0, NULL, 0 },
	{ CX_POST,   "/s/{}",                     PUBLIC, cx_api_page_survey_post, FORM, 0, NULL, 0 },
	{ CX_GET,    "/widget.js",                PUBLIC, cx_api_widget,          0, 0, NULL, 0 },
	{ CX_GET,    "/v1/mail",                  ADMIN,  cx_api_mail_list,       0, 0, NULL, 0 },
	{ CX_POST,   "/v1/mail/{}/retry",         ADMIN,  cx_api_mail_retry,      0, 0, NULL, 0 },
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Match path against pattern; on success the captures are malloc'd into params. */
struct span {
	const char *at;
	size_t len;
};

/* 0 if path fits pattern, with each {} segment's place in caps (nothing allocated: most
 * patterns tried do not match). */
static int match(const char *pattern, const char *path, struct span *caps)
{
	size_t np = 0;

	while (*pattern && *path) {
		if (pattern[0] == '{' && pattern[1] == '}') {
			size_t len = strcspn(path, "/");

			if (len == 0 || np == CX_MAX_PARAMS)
				return -1;
			caps[np++] = (struct span){ path, len };
			pattern += 2;
			path += len;
		} else if (*pattern++ != *path++) {
			return -1;
		}
	}
	return (*pattern == '\0' && *path == '\0') ? 0 : -1;
}

/* The captures of the chosen route as decoded strings in params; -1 when out of memory. */
static int capture(const char *pattern, const char *path, char **params)
{
	struct span caps[CX_MAX_PARAMS] = { { 0 } };
	size_t np = 0;

	match(pattern, path, caps);
	for (const char *p = pattern; (p = strstr(p, "{}")); p += 2, np++) {
		if (!(params[np] = strndup(caps[np].at, caps[np].len)))
			return -1;
		cx_path_unescape(params[np]);   /* after the split: %2F stays inside */
	}
	return 0;
}

static const char *method_name(enum cx_method m)
{
	switch (m) {
	case CX_GET: return "GET, HEAD";
	case CX_POST: return "POST";
	case CX_PUT: return "PUT";
	case CX_DELETE: return "DELETE";
	case CX_PATCH: return "PATCH";
	default: return "";
	}
}

/* The media type of a Content-Type header, parameters checked: only UTF-8 is accepted. */
static enum cx_body_kind body_kind_of(const char *ct)
{
	static const struct { const char *type; enum cx_body_kind kind; } types[] = {
		{ "application/json", CX_BODY_JSON },
		{ "application/x-www-form-urlencoded", CX_BODY_FORM },
		{ "application/x-ndjson", CX_BODY_NDJSON },
	};
	const char *params;
	size_t len;

	if (!ct)
		return CX_BODY_NONE;
	len = strcspn(ct, ";");
	while (len && (ct[len - 1] == ' ' || ct[len - 1] == '\t'))
		len--;
	params = ct + strcspn(ct, ";");
	if (*params) {
		const char *cs = strcasestr(params, "charset=");

		if (cs) {
			cs += 8;
			if (*cs == '"')
				cs++;
			if (strncasecmp(cs, "utf-8", 5) != 0 && strncasecmp(cs, "utf8", 4) != 0)
				return CX_BODY_NONE;
		}
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i].type) == len && strncasecmp(ct, types[i].type, len) == 0)
			return types[i].kind;
	return CX_BODY_NONE;
}

static void reply_options(struct cx_req *req, const char *allow)
{
	cx_reply_html(req, 204, "");
	req->reply.content_type = NULL;
	snprintf(req->reply.allow, sizeof(req->reply.allow), "%s, OPTIONS", allow);
}

/* The caller's key must exist, match and carry the route's role: 401 or 403 otherwise. */
static int authenticate(struct cx_req *req)
{
	const char *h = cx_req_header(req, "Authorization");
	struct cx_error err;

	if (req->route->role == CX_ROLE_PUBLIC || (req->route->role == CX_ROLE_FORM && !h))
		return 0;   /* (an anonymous post: the handler checks the survey is public) */
	if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
		cx_error_set(&err, 401, "unauthorized", NULL, "send an API key: Authorization: Bearer "
			     "cxd_...");
		goto fail;
	}
	h += 7;
	while (*h == ' ')
		h++;
	if (cx_auth_key(req->app->store, h, &req->key, &err))
		goto fail;   /* one answer for unknown, revoked and wrong keys (auth.h) */
	if (!cx_auth_role_allows(req->key.role, req->route->role) &&
	    req->route->role == CX_ROLE_ANY_KEY) {   /* (a stored role this build does not know) */
		cx_error_set(&err, 403, "forbidden", NULL, "this key has no role this server knows");
		goto fail;
	}
	if (!cx_auth_role_allows(req->key.role, req->route->role)) {
		const char *needs = cx_role_name(req->route->role == CX_ROLE_FORM ? CX_ROLE_INGEST
										  : req->route->role);

		cx_error_set(&err, 403, "forbidden", NULL, "this %s key may not %s %.100s (needs "
			     "%s %s key)", cx_role_name(req->key.role), req->method_str, req->path,
			     strchr("aeiou", needs[0]) ? "an" : "a", needs);
		goto fail;
	}
	return 0;
fail:
	cx_reply_error(req, &err);
	return -1;
}

/* A CORS preflight: answered for the origins the policy allows (cx_policy_preflight_allowed);
 * anything else is refused with no CORS headers. */
static int preflight(struct cx_req *req, const char *origin, const char *allow)
{
	struct cx_error err;
	int ok = cx_policy_preflight_allowed(req, origin);

	if (!ok || strlen(origin) >= sizeof(req->cors_origin)) {
		cx_error_set(&err, 403, "cors_refused", NULL, "origin %.200s may not call %.200s",
			     origin, req->path);
		cx_reply_error(req, &err);
		return -1;
	}
	reply_options(req, allow);
	snprintf(req->cors_origin, sizeof(req->cors_origin), "%s", origin);
	req->cors_preflight = 1;
	return -1;
}

static int too_many(struct cx_req *req, unsigned wait, const char *who)
{
	struct cx_error err;

	cx_error_set(&err, 429, "rate_limited", NULL, "too many requests from this %s; retry in "
		     "%u s", who, wait);
	err.retry_after = wait;
	cx_reply_error(req, &err);
	return -1;
}

int cx_routes_prepare(struct cx_req *req, const char *content_type)
{
	char allow[48] = "";
	size_t used = 0;
	enum cx_method m = req->method == CX_HEAD ? CX_GET : req->method;
	struct cx_error err;
	double now = (double)cx_time_mono_us() / 1e6;
	unsigned wait;
	const char *origin = cx_req_header(req, "Origin");
	char who[64];   /* the address's bucket: an IPv6 client's /64 */

	cx_ratelimit_address_key(req->client, who, sizeof(who));

	if (req->method == CX_POST && body_kind_of(content_type) == CX_BODY_FORM && !req->wants_json)
		req->error_page = cx_form_error_page;   /* a browser's form: errors as a page */
	if (!cx_path_valid(req->path)) {   /* before matching: captures are decoded there */
		if ((wait = cx_ratelimit_take(req->app->per_ip, who, now)))
			return too_many(req, wait, "address");
		cx_error_set(&err, 400, "invalid_path", NULL, "the path holds a control character, "
			     "%%00 or a '%%' not followed by two hex digits");
		cx_reply_error(req, &err);
		return -1;
	}
	for (size_t i = 0; i < NROUTES; i++) {
		struct span caps[CX_MAX_PARAMS];

		if (match(routes[i].pattern, req->path, caps))
			continue;
		if (routes[i].method == m && !req->route) {
			req->route = &routes[i];
			if (capture(routes[i].pattern, req->path, req->params)) {
				cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
				cx_reply_error(req, &err);
				return -1;
			}
			break;   /* the methods allowed matter only when none fits */
		}
		used += (size_t)snprintf(allow + used, sizeof(allow) - used, "%s%s",
					 used ? ", " : "", method_name(routes[i].method));
	}
	if (req->route && cx_policy_page_route(req))   /* a person's browser: page refusals */
		req->error_page = cx_api_page_error;
	if (!cx_policy_rate_exempt(req) &&
	    (wait = cx_ratelimit_take(req->app->per_ip, who, now)))
		return too_many(req, wait, "address");
	if (!req->route && !used) {
		cx_error_set(&err, 404, "not_found", NULL, "no such resource: %.200s", req->path);
		cx_reply_error(req, &err);
		return -1;
	}
	if (!req->route && m == CX_OPTIONS) {
		if (origin && cx_req_header(req, "Access-Control-Request-Method"))
			return preflight(req, origin, allow);
		reply_options(req, allow);
		return -1;
	}
	if (!req->route) {
		cx_error_set(&err, 405, "method_not_allowed", NULL, "%s is not allowed on %.200s; "
			     "allowed: %s", req->method_str, req->path, allow);
		cx_reply_error(req, &err);
		snprintf(req->reply.allow, sizeof(req->reply.allow), "%s", allow);
		return -1;
	}
	if (authenticate(req))
		return -1;
	if (req->key.role != CX_ROLE_NONE &&
	    (wait = cx_ratelimit_take(req->app->per_key, req->key.id, now)))
		return too_many(req, wait, "key");
	if (req->route->bodies) {
		req->body_kind = body_kind_of(content_type);
		if (!((1u << req->body_kind) & req->route->bodies)) {
			cx_error_set(&err, 415, "unsupported_media_type", NULL,
				     "send %s (UTF-8)", req->route->bodies & FORM
				     ? "application/json, application/x-ndjson or "
				       "application/x-www-form-urlencoded"
				     : "application/json");
			cx_reply_error(req, &err);
			return -1;
		}
	}
	if (origin && cx_listed(req->app->cfg.cors_origins, origin))
		snprintf(req->cors_origin, sizeof(req->cors_origin), "%s", origin);
	if (cx_policy_admit(req, &err)) {   /* who may send this body, before any of it */
		cx_reply_error(req, &err);
		return -1;
	}
	return 0;
}

void cx_routes_line(struct cx_req *req, const char *line, size_t len, size_t lineno)
{
	if (req->route->line)
		req->route->line(req, line, len, lineno);
}

enum cx_handled cx_routes_dispatch(struct cx_req *req)
{
	struct cx_read_cache_ask ask;
	enum cx_handled h;

	if (!req->route->cached)
		return req->route->handler(req);
	if (cx_read_cache_serve(req, &ask))
		return CX_DONE;
	h = req->route->handler(req);
	if (h == CX_DONE)
		cx_read_cache_keep(req, &ask);
	return h;
}

int cx_routes_count(void)
{
	return (int)NROUTES;
}

int cx_routes_index(const struct cx_route *r)
{
	return r ? (int)(r - routes) : -1;
}

static char route_labels[NROUTES][80];
static pthread_once_t labels_once = PTHREAD_ONCE_INIT;

static void make_labels(void)
{
	static const char *const names[] = { [CX_GET] = "GET", [CX_POST] = "POST", [CX_PUT] = "PUT",
					     [CX_DELETE] = "DELETE", [CX_PATCH] = "PATCH" };

	for (size_t i = 0; i < NROUTES; i++)
		snprintf(route_labels[i], sizeof(route_labels[i]), "%s %s",
			 names[routes[i].method] ? names[routes[i].method] : "?", routes[i].pattern);
}

/* "GET /v1/surveys/{}/scores" */
const char *cx_routes_label(int i)
{
	pthread_once(&labels_once, make_labels);
	return (i >= 0 && i < (int)NROUTES) ? route_labels[i] : "none";
}
