/* routes.h - the route table (src/routes.c) and the handlers it names (src/api_*.c).
 *
 * Matching happens twice per request: cx_routes_prepare() when the headers are in, so a
 * 404, 405, 415 or 413 is answered before any body is read, and cx_routes_dispatch() when
 * the body is complete.
 */
#ifndef CX_ROUTES_H
#define CX_ROUTES_H

#include "cx/http.h"

struct cx_store;
struct cx_survey;

typedef enum cx_handled (*cx_handler_fn)(struct cx_req *req);
/* Called for each line of an NDJSON body as it streams in (lineno from 1); line is NULL
 * when the line was longer than the single-body limit (its bytes are dropped). */
typedef void (*cx_line_fn)(struct cx_req *req, const char *line, size_t len, size_t lineno);

struct cx_route {
	enum cx_method method;
	const char *pattern;       /* "/v1/surveys/{}/scores": {} captures one segment */
	enum cx_role role;         /* the key role it needs (admin keys pass everywhere) */
	cx_handler_fn handler;
	unsigned bodies;           /* body kinds accepted: bits 1 << CX_BODY_* */
	int batch;                 /* JSON and NDJSON bodies may be batches: --batch-limit */
	cx_line_fn line;           /* NDJSON line handler */
	int cached;                /* answers kept in the read cache (read_cache.h) */
};

/* Route req by method and path; on a miss sets the 404/405 reply and returns -1. On a hit,
 * checks the Content-Type against what the route accepts (415 otherwise) and sets
 * req->body_kind. */
int cx_routes_prepare(struct cx_req *req, const char *content_type);
/* Run the handler chosen by cx_routes_prepare(). */
enum cx_handled cx_routes_dispatch(struct cx_req *req);
/* For metrics: how many routes, a route's index (-1 for none) and its label. */
int cx_routes_count(void);
int cx_routes_index(const struct cx_route *r);
const char *cx_routes_label(int i);
/* Hand one NDJSON line to the route's line handler. */
void cx_routes_line(struct cx_req *req, const char *line, size_t len, size_t lineno);

/* Handlers (src/api_*.c). */
enum cx_handled cx_api_health(struct cx_req *req);
enum cx_handled cx_api_metrics(struct cx_req *req);
enum cx_handled cx_api_dashboard(struct cx_req *req);
enum cx_handled cx_api_survey_create(struct cx_req *req);
enum cx_handled cx_api_survey_put(struct cx_req *req);
enum cx_handled cx_api_survey_list(struct cx_req *req);
enum cx_handled cx_api_survey_get(struct cx_req *req);
enum cx_handled cx_api_response_create(struct cx_req *req);
void cx_api_response_line(struct cx_req *req, const char *line, size_t len, size_t lineno);
enum cx_handled cx_api_scores(struct cx_req *req);
enum cx_handled cx_api_journey(struct cx_req *req);
enum cx_handled cx_api_comments(struct cx_req *req);
enum cx_handled cx_api_export(struct cx_req *req);
enum cx_handled cx_api_key_create(struct cx_req *req);
enum cx_handled cx_api_key_list(struct cx_req *req);
enum cx_handled cx_api_key_delete(struct cx_req *req);
enum cx_handled cx_api_erase_customer(struct cx_req *req);
enum cx_handled cx_api_redact_comment(struct cx_req *req);
enum cx_handled cx_api_alerts_list(struct cx_req *req);
enum cx_handled cx_api_alerts_run(struct cx_req *req);
enum cx_handled cx_api_case_list(struct cx_req *req);
enum cx_handled cx_api_case_get(struct cx_req *req);
enum cx_handled cx_api_case_patch(struct cx_req *req);
enum cx_handled cx_api_case_note(struct cx_req *req);
enum cx_handled cx_api_rule_list(struct cx_req *req);
enum cx_handled cx_api_rule_create(struct cx_req *req);
enum cx_handled cx_api_rule_get(struct cx_req *req);
enum cx_handled cx_api_rule_put(struct cx_req *req);
enum cx_handled cx_api_rule_delete(struct cx_req *req);
enum cx_handled cx_api_endpoint_create(struct cx_req *req);
enum cx_handled cx_api_endpoint_list(struct cx_req *req);
enum cx_handled cx_api_endpoint_get(struct cx_req *req);
enum cx_handled cx_api_endpoint_put(struct cx_req *req);
enum cx_handled cx_api_endpoint_delete(struct cx_req *req);
enum cx_handled cx_api_endpoint_pause(struct cx_req *req);
enum cx_handled cx_api_endpoint_resume(struct cx_req *req);
enum cx_handled cx_api_endpoint_rotate(struct cx_req *req);
/* asking customers (issue 13) */
enum cx_handled cx_api_invitations_create(struct cx_req *req);
enum cx_handled cx_api_link_keys_list(struct cx_req *req);
enum cx_handled cx_api_link_keys_rotate(struct cx_req *req);
enum cx_handled cx_api_link_keys_delete(struct cx_req *req);
enum cx_handled cx_api_fatigue_get(struct cx_req *req);
enum cx_handled cx_api_fatigue_put(struct cx_req *req);
enum cx_handled cx_api_page_link_get(struct cx_req *req);
enum cx_handled cx_api_page_link_post(struct cx_req *req);
enum cx_handled cx_api_page_survey_get(struct cx_req *req);
enum cx_handled cx_api_page_survey_post(struct cx_req *req);
/* The hosted page's errors as a page (a struct cx_req error_page hook; src/api_page.c). */
void cx_api_page_error(struct cx_req *req, const struct cx_error *err);
enum cx_handled cx_api_qr(struct cx_req *req);
enum cx_handled cx_api_widget(struct cx_req *req);
enum cx_handled cx_api_funnel(struct cx_req *req);
enum cx_handled cx_api_mail_list(struct cx_req *req);
enum cx_handled cx_api_mail_retry(struct cx_req *req);
enum cx_handled cx_api_endpoint_retry(struct cx_req *req);
enum cx_handled cx_api_endpoint_test(struct cx_req *req);
enum cx_handled cx_api_endpoint_deliveries(struct cx_req *req);
enum cx_handled cx_api_delivery_get(struct cx_req *req);
enum cx_handled cx_api_delivery_retry(struct cx_req *req);
/* GET /v1/keys/self: the caller's own key (cx_key_json: no secret, no hash), any role. */
enum cx_handled cx_api_key_self(struct cx_req *req);

/* Validate a key definition {role, surveys?, label?}, create and store it; the secret is
 * written to `secret` (shown once). Used by POST /v1/keys and `cxd keys create`. */
int cx_keys_create_from(struct cx_store *st, const json_t *body, struct cx_key *k,
			char *secret, size_t len, struct cx_error *err);

/* Shared by handlers: 0 if every query parameter of req is one of names[0..n), else -1
 * with a 422 `unknown_parameter` in err. */
int cx_api_known_params(struct cx_req *req, const char *const *names, size_t n,
			struct cx_error *err);

/* Shared by handlers: the label filter `name` (touchpoint, channel, segment) of req's query
 * into *out (NULL when absent; points into the request); -1 with a 422 `invalid_label` in
 * err when it is not a label. */
int cx_api_label_param(struct cx_req *req, const char *name, const char **out,
		       struct cx_error *err);

/* Shared by handlers: copy the survey named by the path's first capture into *out (release
 * it after); -1 with a 404 `unknown_survey` reply set when there is none. */
int cx_api_path_survey(struct cx_req *req, struct cx_survey *out);

/* Shared by handlers: a row id from a path segment or a paging cursor (decimal digits,
 * 1 .. INT64_MAX), or -1 when it is not one (src/api_endpoints.c). */
int64_t cx_api_parse_id(const char *s);

/* Shared by handlers (scores, funnel): the query's `tz`, a UTC offset such as +03:00,
 * -05:30 or Z in quarter hours of at most 14 hours, into *minutes (0 when tz is NULL);
 * -1 when it is not one (src/api_scores.c). */
int cx_api_parse_tz(const char *tz, int *minutes);

/* Shared by handlers: parse req's JSON body into *out (400 invalid_json on failure,
 * reply set). Returns 0 or -1. */
int cx_api_json_body(struct cx_req *req, json_t **out);

#endif
